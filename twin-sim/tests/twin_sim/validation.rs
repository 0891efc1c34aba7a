//! Every check of `CLINICAL-VALIDATION.md` that `twin-sim validate` runs is a test here: a
//! check passes, or it is on `validation::NOT_YET_MET` with its reason and its test asserts
//! that it still fails (so meeting one means taking it off the list, and a regression of a
//! met one fails CI). P5 reads the Schnider study table from `../shared/data`; without it P5
//! fails, and its test says so loudly.

use twin_sim::case::{Stage, StageData};
use twin_sim::validation::{self, Data, NOT_YET_MET};

const SCHNIDER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/schnider-1998-propofol/data.csv");

fn check(id: &str) {
    let table = std::fs::read_to_string(SCHNIDER).ok();
    if id == "P5" && table.is_none() {
        panic!("P5 cannot pass: the Schnider study table {SCHNIDER} is absent (the project's data is missing)");
    }
    let record = crate::load("mimicdb-037", "03700181.hea");
    let stage = StageData::from_record(Stage::Surgery, &record).unwrap();
    let data = Data { schnider_table: table.as_deref(), mimic_03700181: Some(&stage) };
    let result = validation::find(id).unwrap_or_else(|| panic!("no check {id}")).run(&data);
    eprintln!("{}", result.line());
    match NOT_YET_MET.iter().find(|(known, _)| *known == id) {
        None => assert!(result.pass(), "{}", result.line()),
        Some((_, why)) => assert!(
            !result.pass(),
            "{id} now passes: take it off validation::NOT_YET_MET (it was there because: {why})"
        ),
    }
}

macro_rules! checks {
    ($($name:ident => $id:literal),* $(,)?) => {
        $(#[test] fn $name() { check($id); })*
        /// The tests above cover the catalogue exactly.
        const TESTED: &[&str] = &[$($id),*];
    };
}

checks! {
    r1 => "R1", r2 => "R2",
    h1 => "H1", h2 => "H2", h4 => "H4", h5 => "H5", h6 => "H6",
    f1 => "F1", f2 => "F2", f3 => "F3",
    o1 => "O1", o2 => "O2", o4 => "O4", o5 => "O5", o6 => "O6",
    c1 => "C1", c2 => "C2", x1 => "X1",
    p1 => "P1", p2 => "P2", p3 => "P3", p4 => "P4", p5 => "P5", p6 => "P6",
    a1 => "A1", a2 => "A2", a3 => "A3", a4 => "A4", a5 => "A5", a7 => "A7", a8 => "A8",
    n1 => "N1", n2 => "N2", n3 => "N3", n4 => "N4",
}

#[test]
fn every_check_has_its_test_and_every_known_gap_is_a_check() {
    let ids: Vec<&str> = validation::catalogue().iter().map(|c| c.id).collect();
    assert_eq!(ids, TESTED, "a check without its test, or a test without its check");
    for (id, why) in NOT_YET_MET {
        assert!(ids.contains(id), "{id} ({why}) is not a check");
    }
}

/// A failing metric is marked, a missing one says why, and the table ends with the count.
#[test]
fn results_read_as_the_file_and_count_honestly() {
    let data = Data::default();
    let p5 = validation::find("P5").unwrap().run(&data);
    assert!(!p5.pass() && p5.value().contains("absent"), "{}", p5.line());
    let n3 = validation::find("n3").unwrap().run(&data);
    assert!(!n3.pass() && n3.value().contains("03700181 is absent"), "{}", n3.line());
    let n1 = validation::find("N1").unwrap().run(&data);
    let md = validation::markdown(&[p5, n3, n1]);
    assert!(md.contains("| N3 | **fail** |") && md.contains("| N1 | pass |"), "{md}");
    assert!(md.trim_end().ends_with("validation passed=1 total=3"), "{md}");
}
