//! Scenario files and the headless runner: every shipped scenario parses, scripted responses
//! are scored in the right order, runs are reproducible, bad files are rejected with lines.

use twin_sim::scenario::{BUILT_IN, ScenarioError, parse_actions, parse_scenario, run};

const HYPOTENSION: &str = include_str!("../../scenarios/propofol-induction-hypotension.toml");
const HEMORRHAGE: &str = include_str!("../../scenarios/surgical-hemorrhage.toml");
const HYPOXIA: &str = include_str!("../../scenarios/hypoxia-during-anesthesia.toml");
const APNOEA: &str = include_str!("../../scenarios/opioid-induced-apnoea.toml");
const ARREST: &str = include_str!("../../scenarios/cardiac-arrest-in-hemorrhage.toml");

fn score(scenario: &str, actions: &str) -> f64 {
    let s = parse_scenario(scenario).unwrap();
    run(&s, &parse_actions(actions).unwrap()).unwrap().score.total
}

fn good(id: &str) -> &'static str {
    match id {
        "hypotension" => include_str!("../../scenarios/propofol-induction-hypotension.good.actions.toml"),
        "hemorrhage" => include_str!("../../scenarios/surgical-hemorrhage.good.actions.toml"),
        "apnoea" => include_str!("../../scenarios/opioid-induced-apnoea.good.actions.toml"),
        "arrest" => include_str!("../../scenarios/cardiac-arrest-in-hemorrhage.good.actions.toml"),
        _ => include_str!("../../scenarios/hypoxia-during-anesthesia.good.actions.toml"),
    }
}

#[test]
fn every_shipped_scenario_parses_with_its_rules() {
    for (id, text, _) in BUILT_IN {
        let s = parse_scenario(text).unwrap();
        assert_eq!(s.id, id);
        assert!(!s.events.is_empty() && !s.allowed.is_empty() && !s.targets.is_empty(), "{id}");
        assert!(!s.first_actions.is_empty() && !s.harms.is_empty() && !s.debrief.is_empty(), "{id}");
    }
}

const OVERDOSE: &str = "[[action]]\nat_min = 2.5\nkind = \"propofol_bolus\"\nvalue = 100\n\
                        [[action]]\nat_min = 3.0\nkind = \"propofol_infusion\"\nvalue = 20\n";

#[test]
fn a_good_response_beats_no_response_and_a_harmful_one() {
    let cases = [
        (HYPOTENSION, good("hypotension"), OVERDOSE),
        (HEMORRHAGE, good("hemorrhage"), OVERDOSE),
        (HYPOXIA, good("hypoxia"), "[[action]]\nat_min = 2.5\nkind = \"fio2\"\nvalue = 0.21\n"),
    ];
    for (scenario, good, harmful) in cases {
        let (g, n, h) = (score(scenario, good), score(scenario, ""), score(scenario, harmful));
        assert!(g > n + 10.0 && n > h, "good {g} none {n} harmful {h}");
    }
}

#[test]
fn two_runs_give_the_same_hash_and_a_different_script_another() {
    let s = parse_scenario(HEMORRHAGE).unwrap();
    let a = parse_actions(good("hemorrhage")).unwrap();
    let (r1, r2) = (run(&s, &a).unwrap(), run(&s, &a).unwrap());
    assert_eq!(r1, r2);
    let text = r1.to_text(&s);
    assert!(text.contains(&format!("trajectory={}", r1.trajectory_hash.to_hex())), "{text}");
    assert!(text.contains("class II hemorrhage") && text.contains("action: blood"), "{text}");
    assert_ne!(run(&s, &[]).unwrap().trajectory_hash, r1.trajectory_hash);
    // 20 min sampled every 5 s, plus the start.
    assert_eq!(r1.samples.len(), 241);
}

#[test]
fn malformed_files_are_rejected_with_their_line() {
    // A type error on line 9.
    let bad = HYPOXIA.replacen("duration_min = 12.0", "duration_min = \"twelve\"", 1);
    let line = bad.lines().position(|l| l.contains("twelve")).unwrap() as u32 + 1;
    match parse_scenario(&bad) {
        Err(ScenarioError::Syntax { line: l, message, .. }) => assert_eq!(l, line, "{message}"),
        other => panic!("{other:?}"),
    }
    // An unknown action kind names its line.
    let bad = HYPOXIA.replacen("kind = \"ventilator_rate\"", "kind = \"morphine\"", 1);
    let line = bad.lines().position(|l| l.contains("morphine")).unwrap() as u32 + 1;
    match parse_scenario(&bad) {
        Err(ScenarioError::Syntax { line: l, message, .. }) => {
            assert_eq!(l, line);
            assert!(message.contains("morphine"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // A value out of range names the field and the table's line.
    let bad = HEMORRHAGE.replacen("value = 0.2", "value = 5.0", 1);
    let err = parse_scenario(&bad).unwrap_err();
    let ScenarioError::Invalid { line, field, .. } = &err else { panic!("{err:?}") };
    assert_eq!(field, "events[0].value");
    assert_eq!(bad.lines().nth(*line as usize - 1).unwrap(), "[[events]]", "{err}");
    // An excess rule counts fluids only.
    let bad =
        HEMORRHAGE.replacen("kinds = [\"crystalloid\"]\nabove_ml_per_kg", "kinds = [\"fio2\"]\nabove_ml_per_kg", 1);
    let err = parse_scenario(&bad).unwrap_err();
    assert!(matches!(&err, ScenarioError::Invalid { field, .. } if field == "scoring.excess[0].kinds"), "{err:?}");
    // Not TOML at all.
    assert!(matches!(parse_scenario("[scenario\nid = 1"), Err(ScenarioError::Syntax { line: 1, .. })));
    assert!(matches!(parse_actions("[[action]]\nat_min = 1\nkind = \"fio2\"\n"), Err(ScenarioError::Syntax { .. })));
}

#[test]
fn actions_outside_the_allowed_set_are_refused() {
    let s = parse_scenario(HYPOXIA).unwrap();
    let not_allowed = parse_actions("[[action]]\nat_min = 3\nkind = \"blood\"\nvalue = 0.1\n").unwrap();
    let err = run(&s, &not_allowed).unwrap_err();
    assert!(matches!(err, ScenarioError::ActionRefused { index: 0, kind: "blood", line: 1, .. }), "{err}");
    assert!(err.to_string().contains("allows only: fio2"), "{err}");
    let too_big = parse_actions("[[action]]\nat_min = 3\nkind = \"tidal_volume\"\nvalue = 1.5\n").unwrap();
    assert!(run(&s, &too_big).unwrap_err().to_string().contains("outside the allowed range 0.2..=1.2"));
    let too_late = parse_actions("[[action]]\nat_min = 30\nkind = \"fio2\"\nvalue = 1.0\n").unwrap();
    assert!(matches!(run(&s, &too_late), Err(ScenarioError::ActionRefused { .. })));
    let events_only = parse_actions("[[action]]\nat_min = 3\nkind = \"hemorrhage\"\nvalue = 0.1\n").unwrap();
    assert!(matches!(run(&s, &events_only), Err(ScenarioError::ActionRefused { .. })));
}

#[test]
fn the_untreated_hemorrhage_is_tachycardia_first_then_hypotension_not_collapse() {
    let s = parse_scenario(HEMORRHAGE).unwrap();
    let r = run(&s, &[]).unwrap();
    let at = |min: u64| r.samples.iter().find(|x| x.t_ms == min * 60_000).unwrap().outputs;
    let (start, early, end) = (at(3), at(6), at(10));
    // 0.45 L lost: the heart rate has risen while the pressure has fallen less. Propofol
    // blunts the baroreflex (at BIS about 63 here), so both move less than awake.
    assert!(early.hr_per_min > start.hr_per_min + 8.0 && early.map_mmhg > start.map_mmhg - 15.0, "{early:?}");
    // 1.05 L lost (class II, under anaesthesia): tachycardia and hypotension, not a collapse.
    assert!(end.hr_per_min > 90.0 && (50.0..65.0).contains(&end.map_mmhg), "{end:?}");
    assert!(r.samples.iter().all(|x| x.outputs.map_mmhg > 50.0), "the pressure never falls below 50 mmHg");
}

/// The trajectory of the hemorrhage scenario under its good script, as computed natively.
/// `tests/web.rs` checks that WebAssembly in a browser computes the very same hash.
pub const HEMORRHAGE_GOOD_TRAJECTORY: &str = "49d54baea6abc44673ab40510f1eeb408c53d57d564275dcd553eb908a032d86";

#[test]
fn the_hemorrhage_trajectory_matches_the_golden_hash() {
    let s = parse_scenario(HEMORRHAGE).unwrap();
    let r = run(&s, &parse_actions(good("hemorrhage")).unwrap()).unwrap();
    assert_eq!(r.trajectory_hash.to_hex(), HEMORRHAGE_GOOD_TRAJECTORY);
}

/// S1 of the validation file on every built-in scenario: doing nothing scores at most 30 %,
/// every harmful strategy at most 50 % and below doing nothing, the good script at least
/// 85 %, a partial response between. (Before: nothing 47 %, phenylephrine alone 65 % and 4 L
/// of blood for a 1 L loss 100 % in the hemorrhage; 5 L of crystalloid 98 % in the
/// induction.)
#[test]
fn s1_scores_reward_outcomes_not_any_action() {
    let pct = |scenario: &str, actions: &str| {
        let s = parse_scenario(scenario).unwrap();
        let r = run(&s, &parse_actions(actions).unwrap()).unwrap();
        100.0 * r.score.total / r.score.max
    };
    let action = |at: f64, kind: &str, value: f64, minutes: Option<f64>| {
        let d = minutes.map_or(String::new(), |m| format!("duration_min = {m}\n"));
        format!("[[action]]\nat_min = {at}\nkind = \"{kind}\"\nvalue = {value}\n{d}")
    };
    // Per scenario: its id, its text, a partial response, and harmful strategies by name.
    type Case<'a> = (&'a str, &'a str, String, Vec<(&'a str, String)>);
    let cases: [Case; 5] = [
        (
            "hemorrhage",
            HEMORRHAGE,
            action(4.5, "crystalloid", 0.1, Some(6.0)),
            vec![
                ("phenylephrine alone", action(3.5, "phenylephrine_infusion", 100.0, None)),
                ("5 L of crystalloid", action(3.5, "crystalloid", 0.5, Some(10.0))),
                ("3.2 L of blood for a 1 L loss", action(3.5, "blood", 0.2, Some(16.0))),
                ("more propofol", OVERDOSE.to_owned()),
                ("the hypnotic stopped during surgery", action(4.0, "propofol_infusion", 0.0, None)),
            ],
        ),
        (
            "hypotension",
            HYPOTENSION,
            action(4.0, "phenylephrine_bolus", 100.0, None),
            vec![
                ("5 L of crystalloid", action(3.5, "crystalloid", 0.5, Some(10.0))),
                ("more propofol", OVERDOSE.to_owned()),
                ("the hypnotic stopped during surgery", action(4.0, "propofol_infusion", 0.0, None)),
            ],
        ),
        (
            "hypoxia",
            HYPOXIA,
            action(4.0, "fio2", 0.6, None),
            vec![
                ("oxygen turned down", action(2.5, "fio2", 0.21, None)),
                ("the hypnotic stopped during surgery", action(2.5, "propofol_infusion", 0.0, None)),
            ],
        ),
        (
            "apnoea",
            APNOEA,
            action(1.5, "fio2", 1.0, None),
            vec![
                ("more propofol", action(2.0, "propofol_infusion", 8.0, None)),
                ("more opioid", action(2.0, "remifentanil_bolus", 50.0, None)),
            ],
        ),
        (
            "arrest",
            ARREST,
            action(3.1, "cpr", 1.0, None),
            vec![
                ("atropine instead of a shock", action(3.5, "atropine_bolus", 1.0, None)),
                ("more propofol", action(3.5, "propofol_infusion", 10.0, None)),
            ],
        ),
    ];
    for (id, scenario, partial, harmful) in cases {
        let (g, p, n) = (pct(scenario, good(id)), pct(scenario, &partial), pct(scenario, ""));
        eprintln!("S1 {id}: good {g:.1} %, partial {p:.1} %, nothing {n:.1} %");
        assert!(g >= 85.0 && g > p && p > n && n <= 30.0, "{id}: good {g:.1}, partial {p:.1}, nothing {n:.1}");
        for (what, script) in harmful {
            let h = pct(scenario, &script);
            eprintln!("S1 {id}: {what} {h:.1} %");
            assert!(h <= 50.0 && h < n, "{id}: {what} scores {h:.1} % (nothing {n:.1} %)");
        }
    }
}
