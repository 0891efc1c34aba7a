//! The `twin-sim` binary itself: the validation report writes its Markdown and PNG plots.

use std::path::{Path, PathBuf};
use std::process::Command;

const SCHNIDER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/schnider-1998-propofol/data.csv");

fn twin_sim(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_twin-sim")).args(args).output().expect("the twin-sim binary runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "twin-sim {args:?} failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

/// A PNG's width and height, after checking its signature.
fn png_size(path: &Path, with_text: bool) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is not a PNG", path.display());
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    // A blank plot of this size compresses to 2–3 KB; points, bars and text make it far larger.
    let least = if with_text { 20_000 } else { 4_000 };
    assert!(bytes.len() > least, "{} is only {} bytes: nothing drawn?", path.display(), bytes.len());
    (be(16), be(20))
}

/// `twin-sim validate`: a line per check of the validation file, the Markdown table with the
/// details, one plot per family, and the count on the last line.
#[test]
fn validate_prints_every_check_and_writes_the_table_and_plots() {
    let dir = std::env::temp_dir().join(format!("twin-sim-validate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_s = dir.to_string_lossy().into_owned();
    let record = concat!(env!("CARGO_MANIFEST_DIR"), "/data/physionet/mimicdb-037/03700181.hea");
    let printed = twin_sim(&["validate", "--data", SCHNIDER, "--resp-record", record, "--out", &dir_s]);
    let checks = twin_sim::validation::catalogue();
    for c in &checks {
        let line = printed.lines().find(|l| l.starts_with(&format!("{:<3} ", c.id)));
        let line = line.unwrap_or_else(|| panic!("no line for {}: {printed}", c.id));
        assert!(line.contains(" pass ") || line.contains(" FAIL "), "{line}");
    }
    let last = printed.lines().last().unwrap_or_default();
    assert!(last.starts_with("validation passed=") && last.ends_with(&format!("total={}", checks.len())), "{last}");
    let md = std::fs::read_to_string(dir.join("validation.md")).expect("validation.md written");
    assert!(md.contains("| R2 | pass |") && md.contains("| F2 | **fail** |") && md.contains(last), "{md}");
    let mut expected: Vec<PathBuf> = ["hemorrhage", "oxygen", "co2", "drugs"]
        .iter()
        .map(|f| dir.join(format!("validation-{f}.png")))
        .chain([dir.join("physiology-resting-deviation.png")])
        .collect();
    if Path::new(SCHNIDER).exists() {
        assert!(md.contains("MDAPE") && md.contains("**All (pooled)**"), "{md}");
        expected.push(dir.join("schnider-predicted-vs-measured.png"));
        expected.push(dir.join("schnider-performance-error.png"));
    } else {
        eprintln!("the Schnider study table is absent: P5 fails and the report says so");
        assert!(md.contains("data file is absent"), "{md}");
    }
    for p in &expected {
        let (w, h) = png_size(p, md.contains("Plots drawn with the font"));
        assert!(w >= 800 && h >= 300, "{}: {w}×{h}", p.display());
        let name = p.file_name().unwrap().to_string_lossy();
        assert!(md.contains(&format!("]({name})")), "validation.md does not show {name}");
        assert!(printed.contains(&*name), "{printed}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn validate_without_the_study_table_fails_p5_and_says_why() {
    let printed = twin_sim(&["validate", "--data", "/nonexistent/schnider.csv"]);
    let p5 = printed.lines().find(|l| l.starts_with("P5 ")).unwrap_or_default();
    assert!(p5.contains("FAIL") && p5.contains("absent"), "{printed}");
    assert!(printed.contains("`--out <folder>`"), "{printed}");
    let one = twin_sim(&["validate", "--only", "n1"]);
    assert!(one.contains("N1  pass") && one.trim_end().ends_with("validation passed=1 total=1"), "{one}");
}

/// `twin-sim import` builds a stage the way the portal's case page does (`import::files`):
/// a WFDB header with the signal files read from beside it and a CSV together make one
/// stage; a file it cannot use is refused by name and nothing is written.
#[test]
fn import_makes_one_stage_from_a_record_and_a_csv() {
    let record = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/physionet/mitdb-100/100.hea");
    if !Path::new(record).exists() {
        eprintln!("skipped: no data ({record} is missing)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("twin-sim-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("vitals.csv");
    std::fs::write(&csv, "time_s,HR\n0,72\n60,75\n120,80\n").unwrap();
    let out = dir.join("case.json");
    let said =
        twin_sim(&["import", record, csv.to_str().unwrap(), "--stage", "surgery", "--out", out.to_str().unwrap()]);
    assert!(said.contains("100.hea: record 100, 2 waveforms") && said.contains("vitals.csv: 1 tracks"), "{said}");
    let case = twin_sim::casefile::read_case("case.json", &std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(case.stages.len(), 1);
    assert_eq!((case.stages[0].waveforms.len(), case.stages[0].tracks.len()), (2, 1));

    let junk = dir.join("notes.txt");
    std::fs::write(&junk, "not a record").unwrap();
    let bad = dir.join("bad.json");
    let run = Command::new(env!("CARGO_BIN_EXE_twin-sim"))
        .args(["import", junk.to_str().unwrap(), "--stage", "surgery", "--out", bad.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && err.contains("notes.txt: is a .txt file"), "{err}");
    assert!(!bad.exists(), "nothing is written for a refused file");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn import_reads_vitaldb_and_flac_wfdb_files() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
    let dir = std::env::temp_dir().join(format!("twin-sim-import-vital-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("case.json");
    let vital = format!("{data}/vitaldb/case.vital");
    let said = twin_sim(&["import", &vital, "--stage", "surgery", "--out", out.to_str().unwrap()]);
    assert!(said.contains("case.vital: VitalDB file, 2 waveforms, 3 tracks and 2 events"), "{said}");
    // A FLAC-format WFDB record, its signal file found beside its header.
    let flac = format!("{data}/wfdb-formats/fmt516.hea");
    let said = twin_sim(&[
        "import",
        &flac,
        "--stage",
        "diagnosis",
        "--into",
        out.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(said.contains("fmt516.hea: record fmt516, 2 waveforms"), "{said}");
    let case = twin_sim::casefile::read_case("case.json", &std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(case.stages.len(), 2);
    // A damaged .vital is refused by name, and nothing is written.
    let bad = dir.join("bad.vital");
    std::fs::write(&bad, b"\x1f\x8b\x08\x00garbage").unwrap();
    let none = dir.join("none.json");
    let run = Command::new(env!("CARGO_BIN_EXE_twin-sim"))
        .args(["import", bad.to_str().unwrap(), "--stage", "surgery", "--out", none.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && err.contains("bad.vital: not a gzip stream or damaged"), "{err}");
    assert!(!none.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
