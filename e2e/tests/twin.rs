//! The surgeon's twin review, end to end: the demo node holds a three-stage twin case (an
//! encrypted record) whose segments the surgeon anchored. The surgeon opens it from the
//! portal; the viewer loads only then, and every segment verifies; the surgeon signs an
//! annotation, which becomes a record of the patient, and moves on to a training scenario
//! in the same viewer. Then someone who holds
//! the record key changes one ABP sample in the blob store (re-encrypting it so that it
//! still opens) while the node is down: the portal says the file was changed and the
//! viewer names the one tampered segment.
//!
//! A student then runs the surgical hemorrhage scenario from the portal at 64×, pauses once
//! the bleed has started, gives crystalloid and blood with the page's buttons, plays on,
//! and sees a score: the one the pure twin core gives for the same actions at that time.
//! The run is saved on the ledger, and running the scenario again with the saved actions
//! gives the saved trajectory hash.
//!
//! The surgeon then makes a new case in the portal from a WFDB record that is not in the
//! demo (MIT-BIH 100 from `../shared/data`), built and encrypted in the browser; a header
//! chosen without its signal file is refused by name; the new case opens with every
//! segment verified.
//!
//! Needs the built node and the release portal with the web viewer in `dist/viewer-<hash>/`
//! (`cargo xtask test` builds them).

use anyhow::{Context, Result, ensure};
use e2e::browser::{Browser, Chromedriver, Shots};
use e2e::canvas::{LANE_BACKGROUND, TREND_BACKGROUND, band, check_rows, coverage, save, wait_mirrored};
use e2e::ledger::str_of;
use e2e::node::Node;
use e2e::restore;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use twin_sim::case::Stage;

/// Loading a 1 MB case, the viewer module, and checking 676 segments.
const OPEN: Duration = Duration::from_secs(180);
/// The stage time of the changed ABP sample: inside the 0:05:00–0:06:00 segment.
const CHANGED_AT_S: usize = 330;
/// The surgeon's annotation.
const NOTE: &str = "Arterial line trace damped around here; NIBP cross-check advised.";
/// The trend canvas's stage band, marker and note strips (CSS px), as the viewer draws them.
const STAGE_H: f64 = 18.0;
const MARK_H: f64 = 14.0;
const NOTE_H: f64 = 16.0;

#[tokio::test]
async fn a_surgeon_reviews_the_demo_case_and_a_tampered_segment_is_flagged() {
    if let Err(e) = journey().await {
        panic!("{e:#}");
    }
}

/// Resource URLs the page has fetched so far.
async fn fetched(b: &Browser) -> Result<Vec<String>> {
    let v = b.script("return performance.getEntriesByType('resource').map(e => e.name);").await?;
    Ok(v.as_array().into_iter().flatten().filter_map(|n| n.as_str().map(str::to_owned)).collect())
}

/// From an unlocked portal page, goes to the twin cases (the wallet stays unlocked only
/// within the app, so by its links), opens the one case, and waits for the verdict.
async fn open_case(b: &Browser) -> Result<String> {
    b.click("a[href='/twin']").await?;
    b.wait("#twin-cases a").await?;
    b.click("#twin-cases a").await?;
    let el = b.wait_within("#twin-verification, #twin-error", OPEN).await?;
    let text = el.text().await?;
    ensure!(el.attr("id").await?.as_deref() == Some("twin-verification"), "opening the case failed: {text}");
    Ok(text)
}

async fn journey() -> Result<()> {
    let _turn = e2e::one_at_a_time().await;
    let dist = e2e::portal_dist()?;
    let installed = std::fs::read_dir(&dist)?.filter_map(|e| e.ok()).any(|e| {
        e.file_name().to_string_lossy().starts_with("viewer-") && e.path().join("twin_viewer_bg.wasm").is_file()
    });
    ensure!(installed, "no web viewer in {}/viewer-*: run `cargo xtask test`, which builds it", dist.display());
    let bin = e2e::node_bin()?;
    let dir = e2e::target_dir()?.join("e2e-screenshots/twin");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let log = dir.join("node.log");
    let node = Node::start(&bin, &dist, &log).await?;
    let driver = Chromedriver::start(&dir.join("chromedriver.log")).await?;
    let shots = Arc::new(Shots::new(dir.clone()));
    let surgeon = node.identity("surgeon")?.clone();
    let patient = node.identity("patient")?.clone();

    // The case on the ledger: one twin-data record and its anchored segments.
    let ledger = node.ledger()?;
    let records = ledger.records(&patient.address).await?;
    let record = records.iter().find(|r| r["class"] == "twin_data").context("the demo patient has no twin case")?;
    let case = str_of(record, "id")?.to_owned();
    let blob = str_of(record, "blob")?.to_owned();
    let wrapped = str_of(&record["keys"][&surgeon.address], "wrapped")?.to_owned();
    let anchors = ledger.get(&format!("/v1/records/{case}/segments")).await?;
    let anchored = anchors.as_array().map_or(0, Vec::len);
    ensure!(anchored > 100, "the demo case should have its segments anchored, found {anchored}");

    // The surgeon's first page does not download the viewer; opening the case does.
    let b = driver.session("surgeon", &node.url, shots.clone()).await?;
    restore(&b, &surgeon.recovery_phrase, "/provider").await?;
    let early = fetched(&b).await?;
    ensure!(!early.iter().any(|n| n.contains("/viewer-")), "the viewer was downloaded before it was needed: {early:?}");
    let verdict = open_case(&b).await?;
    ensure!(
        verdict == format!("all {anchored} segments verified against the ledger"),
        "every anchored segment should verify, the page says {verdict:?}"
    );
    ensure!(b.count("#twin-altered").await? == 0, "an untouched case is reported as changed");
    ensure!(
        fetched(&b).await?.iter().any(|n| n.contains("/viewer-") && n.ends_with("/twin_viewer_bg.wasm")),
        "opening the case should load the viewer module"
    );
    // The viewer draws and its monitor carries the same verdict.
    let monitor = b
        .poll("the viewer's monitor", OPEN, async |c: &fantoccini::Client| {
            let v = c.execute("return document.getElementById('twin').dataset.monitor || null;", vec![]).await?;
            Ok(v.as_str().map(str::to_owned))
        })
        .await?;
    ensure!(monitor.contains("segments verified against the ledger"), "the monitor shows {monitor:?}");
    b.shot("case-verified").await?;
    case_at_a_glance(&b).await?;
    let (stage, at_ms) = surgery_on_the_monitor(&b).await?;
    // The surgeon signs an annotation at the playhead; it becomes a record of the patient.
    let before = ledger.records(&patient.address).await?.len();
    b.fill("#twin-note", NOTE).await?;
    b.click("#twin-annotate").await?;
    let said = b.sign("sign-annotation", e2e::LONG).await?;
    // The surgeon's ledger view names the patient by their ID only (the name is sealed).
    let label = format!("Patient {}", &patient.address[..10]);
    ensure!(
        said.iter().any(|s| s.contains(&label)),
        "the confirmation should name the patient as the surgeon knows them, it said {said:?}"
    );
    let noted = b.wait("#twin-noted").await?.text().await?;
    ensure!(noted.contains("signed and anchored"), "after signing, the page says {noted:?}");
    // The signed annotation appears on the trend at its place, with its author.
    let trend = wait_mirrored(&b, "twin-trend", "trend", OPEN, |t| {
        t["notes"].as_array().is_some_and(|n| n.iter().any(|n| n["text"] == NOTE))
    })
    .await?;
    let drawn = trend["notes"].as_array().into_iter().flatten().find(|n| n["text"] == NOTE).context("the note")?;
    ensure!(
        drawn["author"] == surgeon.name.as_str()
            && drawn["stage"] == stage.as_str()
            && drawn["at_ms"].as_u64() == Some(at_ms / 1000 * 1000),
        "the annotation should be drawn by {} at {stage} {at_ms} ms: {drawn}",
        surgeon.name
    );
    let x = drawn["x"].as_f64().context("the note's place")?;
    let flag = band(&b, "twin-trend", (x, x + 6.0), (STAGE_H + MARK_H, NOTE_H), "#ff5cf0", TREND_BACKGROUND).await?;
    ensure!(coverage(&flag) > 0.5, "the annotation's flag is not on the canvas at x {x}");
    save(&b, "twin-trend", "trend-annotated").await?;
    let records = ledger.records(&patient.address).await?;
    ensure!(
        records.len() == before + 1
            && records.iter().any(|r| r["class"] == "twin_data" && r["author"] == surgeon.address.as_str()),
        "the annotation should be a new twin-data record by the surgeon"
    );
    // The node recorded the surgeon's read of the case in the patient's audit trail.
    let audit = ledger.audit(&patient.address).await?;
    ensure!(
        audit["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["record"] == case.as_str() && e["reader"] == surgeon.address.as_str()),
        "the surgeon's read of the case is not in the patient's audit trail: {audit}"
    );
    // The page's one viewer app moves on to a training scenario (the case is replaced).
    b.click("a[href='/twin']").await?;
    b.click("a[href='/twin/train']").await?;
    b.wait_within("#training-start", OPEN).await?;
    b.click("#training-start").await?;
    b.click("#training-play").await?;
    let t = b
        .poll("the scenario to run in the same viewer", OPEN, async |c: &fantoccini::Client| {
            let v = c.execute("return document.getElementById('twin').dataset.timeS || null;", vec![]).await?;
            Ok(v.as_str().and_then(|t| t.parse::<f64>().ok()).filter(|t| *t > 0.0))
        })
        .await?;
    let error = b.script("return document.getElementById('twin').dataset.error || null;").await?;
    ensure!(error.is_null(), "the viewer failed on its second content: {error}");
    ensure!(b.count("#twin-frame canvas#twin").await? == 1, "the viewer canvas should be on the training page");
    b.shot("then-training").await?;
    println!("the same viewer then ran a scenario (t = {t} s)");
    b.close().await;

    // Someone with the record key changes one ABP sample in the stored blob while the node
    // is down, re-encrypting it so that it still decrypts.
    let node = node.restart(&bin, &dist, &log, |data| tamper(data, &blob, &wrapped, &surgeon.recovery_phrase)).await?;
    let b = driver.session("surgeon-after", &node.url, shots).await?;
    restore(&b, &surgeon.recovery_phrase, "/provider").await?;
    let verdict = open_case(&b).await?;
    ensure!(
        verdict.contains(&format!("{} of {anchored} segments verified; 1 tampered", anchored - 1)),
        "one tampered segment should be found, the page says {verdict:?}"
    );
    ensure!(b.count("#twin-altered").await? == 1, "the changed file should be reported");
    let problems = b.texts("#twin-problems li").await?;
    ensure!(
        problems.len() == 1 && problems[0].starts_with("surgery ABP from 0:05:00 to 0:06:00: TAMPERED"),
        "the tampered segment should be named, the page lists {problems:?}"
    );
    b.shot("case-tampered").await?;
    // On the case at a glance, the tampered minute is marked on the ABP lane, there only.
    b.click("#twin-stage-3").await?;
    let trend = wait_mirrored(&b, "twin-trend", "trend", OPEN, |t| {
        t["stages"].as_array().is_some_and(|s| s.len() == 1 && s[0]["stage"] == "surgical procedure")
    })
    .await?;
    save(&b, "twin-trend", "trend-tampered").await?;
    let marked: Vec<&Value> = trend["lanes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["failed"].as_array().is_some_and(|f| !f.is_empty()))
        .collect();
    ensure!(
        marked.len() == 1 && marked[0]["name"].as_str().is_some_and(|n| n.starts_with("ABP")),
        "only the ABP lane should carry the failed segment: {marked:?}"
    );
    let lane = marked[0];
    let (v0, v1) = (trend["view_s"][0].as_f64().context("view")?, trend["view_s"][1].as_f64().context("view")?);
    let (a, b_) = (lane["failed"][0][0].as_f64().context("from")?, lane["failed"][0][1].as_f64().context("to")?);
    let minute = |f: f64| f * (v1 - v0);
    ensure!(
        (minute(a) - 300.0).abs() < 1.0 && (minute(b_) - 360.0).abs() < 1.0,
        "the failed stretch should be 0:05:00-0:06:00 of the surgery: {:.1}-{:.1} s",
        minute(a),
        minute(b_)
    );
    let (p0, p1) = (trend["plot"][0].as_f64().context("plot")?, trend["plot"][1].as_f64().context("plot")?);
    let x = |f: f64| p0 + f * (p1 - p0);
    let (top, height) = (lane["top"].as_f64().context("top")?, lane["height"].as_f64().context("height")?);
    // Translucent red over the whole height of the lane there (a trace covers only a few rows).
    let red = band(&b, "twin-trend", (x(a) + 1.0, x(b_) - 1.0), (top, height), "#ff2828", LANE_BACKGROUND).await?;
    let tinted = red.iter().filter(|c| c.is_some_and(|(hi, lo)| lo - hi >= height * 0.8)).count();
    ensure!(
        tinted * 10 >= red.len() * 8,
        "the failed stretch is not red on the canvas ({tinted} of {} columns)",
        red.len()
    );
    println!("twin review: {anchored} segments verified; the changed ABP segment was flagged");
    surgeon_creates_a_case_from_files(&b, &node.ledger()?, &patient.address).await?;
    b.close().await;
    Ok(())
}

/// The demo case as the seed builds it, from the same public records.
fn demo_case() -> Result<twin_sim::case::Case> {
    let root = e2e::workspace_root();
    let read = |p: &str| std::fs::read(root.join(p)).with_context(|| format!("reading {p}"));
    let physionet = "twin-sim/data/physionet";
    let numerics_header = read(&format!("{physionet}/mimic-numerics-s00001/s00001-2896-10-10-00-31n.hea"))?;
    let numerics_signals = read(&format!("{physionet}/mimic-numerics-s00001/3975656n.dat"))?;
    let surgery_header = read(&format!("{physionet}/mimicdb-037/03700181.hea"))?;
    let surgery_signals = read(&format!("{physionet}/mimicdb-037/03700181.dat"))?;
    let synthea = String::from_utf8(read("static/demo/synthea-patient-a4a401d1.ndjson")?)?;
    Ok(twin_sim::demo::demo_case(&twin_sim::demo::DemoSources {
        numerics_header: &numerics_header,
        numerics_signals: &numerics_signals,
        surgery_header: &surgery_header,
        surgery_signals: &surgery_signals,
        synthea: &synthea,
    })?)
}

/// The case at a glance as it opens (the whole case in view): a lane for every stream of
/// every stage and every event of the case marked. Then each stage shown whole from its
/// button: every stream recorded in it has pixels in its lane.
async fn case_at_a_glance(b: &Browser) -> Result<()> {
    let case = demo_case()?;
    let mut streams: Vec<String> = Vec::new();
    let mut events: Vec<String> = Vec::new();
    for s in &case.stages {
        for name in s.waveforms.iter().map(|w| &w.name).chain(s.tracks.iter().map(|t| &t.name)) {
            if !streams.contains(name) {
                streams.push(name.clone());
            }
        }
        events.extend(s.events.iter().map(|e| e.label.clone()));
    }
    let trend =
        wait_mirrored(b, "twin-trend", "trend", OPEN, |t| t["lanes"].as_array().is_some_and(|l| !l.is_empty())).await?;
    save(b, "twin-trend", "trend-whole-case").await?;
    let mut names: Vec<String> =
        trend["lanes"].as_array().into_iter().flatten().filter_map(|l| l["name"].as_str().map(str::to_owned)).collect();
    names.sort();
    streams.sort();
    ensure!(names == streams, "a lane per stream of the demo case: lanes {names:?}, streams {streams:?}");
    let mut marked: Vec<String> = trend["markers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["label"].as_str().map(str::to_owned))
        .collect();
    marked.sort();
    events.sort();
    ensure!(marked == events, "every event of the case marked: {marked:?}, events {events:?}");
    for (button, stage) in [(1, Stage::PreHospital), (2, Stage::Diagnosis), (3, Stage::Surgery)] {
        let data = case.stage(stage).context("the demo case has all three stages")?;
        b.click(&format!("#twin-stage-{button}")).await?;
        let trend = wait_mirrored(b, "twin-trend", "trend", OPEN, |t| {
            t["stages"].as_array().is_some_and(|s| s.len() == 1 && s[0]["stage"] == stage.human())
        })
        .await?;
        save(b, "twin-trend", &format!("trend-{}", stage.human().replace(' ', "-"))).await?;
        let plot = (trend["plot"][0].as_f64().context("plot")?, trend["plot"][1].as_f64().context("plot")?);
        // Streams with a reading in this stage (a track may be all gaps there).
        let tracks = data.tracks.iter().filter(|t| t.values.iter().any(Option::is_some)).map(|t| t.name.as_str());
        let recorded: Vec<&str> = data.waveforms.iter().map(|w| w.name.as_str()).chain(tracks).collect();
        for l in trend["lanes"].as_array().into_iter().flatten() {
            let name = l["name"].as_str().unwrap_or_default();
            if !recorded.contains(&name) {
                continue;
            }
            let (top, height) = (l["top"].as_f64().context("top")?, l["height"].as_f64().context("height")?);
            let colour = l["colour"].as_str().context("colour")?;
            let drawn = band(b, "twin-trend", plot, (top + 1.0, height - 2.0), colour, LANE_BACKGROUND).await?;
            ensure!(coverage(&drawn) > 0.0, "{}: lane {name} has nothing on the canvas", stage.human());
        }
        println!("case at a glance, {}: {} streams drawn", stage.human(), recorded.len());
    }
    println!("case at a glance: {} lanes, {} events marked", names.len(), marked.len());
    Ok(())
}

/// Shows the surgery whole from its button, clicks the middle of the trend to seek there, and checks the monitor: a row per wave with its label and numeric, each drawn
/// across its sweep, the ECG's beats on the canvas at the monitor's heart rate. Returns the
/// playhead (stage, ms into it).
async fn surgery_on_the_monitor(b: &Browser) -> Result<(String, u64)> {
    b.click("#twin-stage-3").await?;
    let trend = wait_mirrored(b, "twin-trend", "trend", OPEN, |t| {
        t["stages"].as_array().is_some_and(|s| s.len() == 1 && s[0]["stage"] == "surgical procedure")
    })
    .await?;
    let (v0, v1) = (trend["view_s"][0].as_f64().context("view")?, trend["view_s"][1].as_f64().context("view")?);
    b.click("#twin-trend").await?;
    let attr = async |name: &str| -> Result<String> {
        let v = b.script(&format!("return document.getElementById('twin').getAttribute('{name}') || '';")).await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    };
    // WebDriver clicks the canvas's centre: that point of the plot, in the surgery.
    let (p0, p1) = (trend["plot"][0].as_f64().context("plot")?, trend["plot"][1].as_f64().context("plot")?);
    let width =
        b.script("return document.getElementById('twin-trend').clientWidth;").await?.as_f64().context("width")?;
    let want_ms = (width / 2.0 - p0) / (p1 - p0) * (v1 - v0) * 1000.0;
    let start = std::time::Instant::now();
    let at_ms = loop {
        let at: f64 = attr("data-time-ms").await?.parse().unwrap_or(0.0);
        if (at - want_ms).abs() < (v1 - v0) * 1000.0 * 0.01 {
            break at as u64;
        }
        ensure!(
            start.elapsed() < OPEN,
            "a click on the trend's middle should seek to {want_ms} ms; the playhead is at {at}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let stage = attr("data-stage").await?;
    ensure!(stage == "surgical procedure", "the click should land in the surgery, it is in {stage:?}");
    let screen = wait_mirrored(b, "twin-monitor", "screen", OPEN, |s| {
        s["channels"].as_array().is_some_and(|c| c.len() == 3 && c.iter().all(|r| r["drawn"].as_u64() > Some(300)))
    })
    .await?;
    save(b, "twin-monitor", "monitor-surgery").await?;
    let monitor = attr("data-monitor").await?;
    for r in screen["channels"].as_array().context("channels")? {
        let numeric = &r["numeric"];
        let (label, value) =
            (numeric["label"].as_str().unwrap_or_default(), numeric["value"].as_str().unwrap_or_default());
        ensure!(!label.is_empty() && !value.is_empty(), "row {} has no numeric: {r}", r["label"]);
        if label == "HR" || label == "RR" {
            ensure!(
                monitor.contains(&format!("{label} {value} ")),
                "{label} {value} on the canvas, {monitor:?} in the monitor"
            );
        }
    }
    check_rows(b, &screen).await?.context("the surgery has an ECG row")?;
    let labels: Vec<&str> =
        screen["channels"].as_array().into_iter().flatten().filter_map(|r| r["label"].as_str()).collect();
    ensure!(labels[1..] == ["ART", "RESP"], "the surgery's rows: ECG, ART, RESP; the monitor has {labels:?}");
    Ok((stage, at_ms))
}

/// The MIT-BIH record 100 in `../shared/data` (PhysioNet, ODC-By 1.0): not in the demo.
fn mitdb_100() -> Option<Vec<std::path::PathBuf>> {
    let dir = e2e::workspace_root().parent()?.join("shared/data/physionet/mitdb-100");
    let files: Vec<_> = ["100.hea", "100.dat", "100.atr"].iter().map(|f| dir.join(f)).collect();
    files.iter().all(|f| f.is_file()).then_some(files)
}

/// A surgeon makes a case in the portal from a WFDB record that is not in the demo (built
/// and encrypted in the browser, its segments anchored); it opens with every segment
/// verified. A bad file is named first.
async fn surgeon_creates_a_case_from_files(b: &Browser, ledger: &e2e::ledger::Ledger, patient: &str) -> Result<()> {
    let Some(files) = mitdb_100() else {
        println!("SKIPPED: no data: ../shared/data/physionet/mitdb-100 is missing, so no case is made from files");
        return Ok(());
    };
    let before: Vec<String> = ledger
        .records(patient)
        .await?
        .iter()
        .filter(|r| r["class"] == "twin_data")
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect();
    b.click("a[href='/twin']").await?;
    b.click("#twin-new").await?;
    b.wait("#case-submit").await?;
    // A header without its signal file is refused, naming both.
    b.fill("#case-title", "MIT-BIH 100 review").await?;
    b.upload("#case-files-surgery", &files[0]).await?;
    b.click("#case-submit").await?;
    let error = b.wait_within("#case-error", OPEN).await?.text().await?;
    ensure!(error.contains("100.hea") && error.contains("100.dat"), "the page should name the missing file: {error:?}");
    b.shot("case-missing-file").await?;
    b.upload_many("#case-files-surgery", &files).await?;
    b.click("#case-submit").await?;
    let said = b.sign("sign-case", OPEN).await?;
    ensure!(said.len() == 1 && said[0].contains("Digital twin data"), "the case's sheet said {said:?}");
    b.wait_within("#case-anchor", OPEN).await?;
    b.click("#case-anchor").await?;
    let said = b.sign("sign-segments", OPEN).await?;
    ensure!(said.len() > 10, "the segments' sheet lists {} anchors", said.len());
    let result = b.wait_within("#case-result", OPEN).await?.text().await?;
    ensure!(result.contains(&format!("{} segment hashes", said.len())), "the page says {result:?}");
    b.shot("case-created").await?;
    let id = ledger
        .records(patient)
        .await?
        .iter()
        .filter(|r| r["class"] == "twin_data")
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .find(|id| !before.contains(id))
        .context("the new case is not on the ledger")?;
    let anchors = ledger.get(&format!("/v1/records/{id}/segments")).await?;
    let anchored = anchors.as_array().map_or(0, Vec::len);
    ensure!(anchored == said.len(), "{anchored} segments anchored, {} signed", said.len());
    b.click("#case-open").await?;
    let el = b.wait_within("#twin-verification, #twin-error", OPEN).await?;
    let verdict = el.text().await?;
    ensure!(
        verdict == format!("all {anchored} segments verified against the ledger"),
        "the new case should verify whole, the page says {verdict:?}"
    );
    b.shot("case-from-files-verified").await?;
    println!("a case made in the browser from MIT-BIH 100: {anchored} segments verified");
    Ok(())
}

/// Changes the ABP sample at [`CHANGED_AT_S`] in the case stored under `blob`, as someone
/// holding the record key could, and writes it back under the same blob id.
fn tamper(data: &Path, blob: &str, wrapped: &str, phrase: &str) -> Result<()> {
    use redb::{Database, TableDefinition};
    const BLOBS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blobs");
    let id = hex::decode(blob)?;
    let db = Database::open(data.join("ledger.redb")).context("opening the node's database")?;
    let sealed = {
        let read = db.begin_read()?;
        let table = read.open_table(BLOBS)?;
        table.get(id.as_slice())?.context("the case's blob is not in the store")?.value().to_vec()
    };
    let identity = wallet::Mnemonic::parse(phrase)?.identity()?;
    let key = wallet::unwrap_key(&identity, &hex::decode(wrapped)?)?;
    let text = String::from_utf8(wallet::open(&key, &sealed)?)?;
    let mut case = twin_sim::casefile::read_case("case", &text)?;
    let surgery = case.stages.iter_mut().find(|s| s.stage == twin_sim::case::Stage::Surgery).context("no surgery")?;
    let abp = surgery.waveforms.iter_mut().find(|w| w.name == "ABP").context("no ABP waveform")?;
    let i = (CHANGED_AT_S as f64 * abp.rate_hz) as usize;
    abp.samples[i] = abp.samples[i].saturating_add(40);
    let changed = twin_sim::casefile::write_case(&case)?;
    let resealed = wallet::seal_with(&key, changed.as_bytes(), &mut rand_core::OsRng)?;
    let write = db.begin_write()?;
    write.open_table(BLOBS)?.insert(id.as_slice(), resealed.as_slice())?;
    write.commit()?;
    Ok(())
}

/// Takes `viewer.json` out of the portal's folder until dropped (journeys run one at a time,
/// so no other page is waiting on it meanwhile).
struct HeldViewer(std::path::PathBuf);

impl HeldViewer {
    fn hold(dist: &Path) -> Result<Self> {
        let path = dist.join("viewer.json");
        std::fs::rename(&path, dist.join("viewer.json.held")).with_context(|| {
            format!("{} is missing: run `cargo xtask test`, which installs the viewer", path.display())
        })?;
        Ok(Self(dist.to_owned()))
    }
}

impl Drop for HeldViewer {
    fn drop(&mut self) {
        let _ = std::fs::rename(self.0.join("viewer.json.held"), self.0.join("viewer.json"));
    }
}

#[tokio::test]
async fn a_student_runs_a_scenario_with_scripted_actions_and_sees_a_score() {
    e2e::run("training", training_journey).await;
}

/// What the student gives once the bleed has started: crystalloid and blood.
const STUDENT_ACTIONS: [(&str, f64); 2] = [("crystalloid", 0.15), ("blood", 0.1)];

/// The scenario time the page reports, in seconds.
async fn scenario_time(b: &Browser) -> Result<f64> {
    let v = b.script("return document.getElementById('twin').dataset.timeS || '0';").await?;
    Ok(v.as_str().unwrap_or("0").parse()?)
}

/// The training monitor while paused: the model's ECG, arterial pressure, pleth and
/// capnogram each in its row with its numeric, drawn across the sweep, the ECG's beats on
/// the canvas at the model's heart rate.
async fn training_monitor(b: &Browser) -> Result<()> {
    let screen = wait_mirrored(b, "twin-monitor", "screen", OPEN, |s| {
        s["channels"].as_array().is_some_and(|c| c.len() == 4 && c.iter().all(|r| r["drawn"].as_u64() > Some(300)))
    })
    .await?;
    save(b, "twin-monitor", "training-monitor").await?;
    let rows = screen["channels"].as_array().context("channels")?;
    let labels: Vec<&str> = rows.iter().filter_map(|r| r["label"].as_str()).collect();
    ensure!(labels == ["II", "ART", "PLETH", "CO2"], "the training monitor's rows: {labels:?}");
    for r in rows {
        let value = r["numeric"]["value"].as_str().unwrap_or_default();
        ensure!(value.parse::<f64>().is_ok() || value.contains('/'), "row {} shows no number: {r}", r["label"]);
    }
    let seen = check_rows(b, &screen).await?.context("the training monitor has an ECG row")?;
    println!("training ECG: {seen:.0} beats/min counted on the canvas, as the model's HR");
    Ok(())
}

async fn training_journey(j: &e2e::Journey) -> Result<()> {
    use twin_sim::scenario::{BUILT_IN, parse_actions, parse_scenario, run};
    let (index, (_, text, _)) = BUILT_IN
        .iter()
        .enumerate()
        .find(|(_, (id, _, _))| *id == "surgical-hemorrhage")
        .context("no hemorrhage scenario")?;
    let student = j.demo("student")?.clone();
    let b = j.browser("student").await?;
    restore(&b, &student.recovery_phrase, "/provider").await?;
    b.click("a[href='/twin']").await?;
    // As on a first `cargo xtask run`, whose viewer is still building: no `viewer.json` yet.
    // The page says so, and loads the viewer by itself once the server names it.
    let held = HeldViewer::hold(&e2e::portal_dist()?)?;
    b.click("a[href='/twin/train']").await?;
    let waiting = b.wait_within("#viewer-building", OPEN).await?.text().await?;
    ensure!(waiting.contains("still being built"), "the training page should say the viewer is building: {waiting:?}");
    b.shot("viewer-building").await?;
    drop(held);
    b.wait_within("#scenario", OPEN).await?;
    ensure!(
        fetched(&b).await?.iter().any(|n| n.contains("/viewer-") && n.ends_with("/twin_viewer_bg.wasm")),
        "the training page should load the viewer module"
    );
    b.select("#scenario", &index.to_string()).await?;
    let description = b.text("#scenario-description").await?;
    ensure!(description.contains("bleeds"), "the hemorrhage scenario should be described, got {description:?}");
    b.click("#training-start").await?;
    b.wait("#training-play").await?;
    b.shot("scenario-started").await?;
    // Run at 64× until the bleed has started (minute 3), then pause and act.
    b.select("#training-speed", "64").await?;
    b.click("#training-play").await?;
    let started = std::time::Instant::now();
    while scenario_time(&b).await? < 200.0 {
        ensure!(started.elapsed() < OPEN, "the scenario clock did not reach 3:20 within {OPEN:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.click("#training-play").await?;
    b.poll("the scenario to pause", OPEN, async |c: &fantoccini::Client| {
        let v = c.execute("return document.getElementById('twin').dataset.playing || '';", vec![]).await?;
        Ok((v.as_str() == Some("false")).then_some(()))
    })
    .await?;
    let at_s = scenario_time(&b).await?;
    for (kind, value) in STUDENT_ACTIONS {
        b.fill(&format!("#act-value-{kind}"), &value.to_string()).await?;
        b.click(&format!("#act-{kind}")).await?;
        let wanted = kind.to_owned();
        b.poll(&format!("the {kind} to be taken"), OPEN, async |c: &fantoccini::Client| {
            let v = c.execute("return document.getElementById('twin').dataset.feedback || '';", vec![]).await?;
            Ok(v.as_str().filter(|f| f.contains(&wanted)).map(str::to_owned))
        })
        .await?;
    }
    b.shot("acted").await?;
    training_monitor(&b).await?;
    b.click("#training-play").await?;
    let score = b.wait_within("#training-score pre", Duration::from_secs(600)).await?.text().await?;
    // The pure twin core, given the same actions at the same time, scores the same.
    let script: String = STUDENT_ACTIONS
        .iter()
        .map(|(kind, value)| format!("[[action]]\nat_min = {}\nkind = \"{kind}\"\nvalue = {value}\n\n", at_s / 60.0))
        .collect();
    let expected = run(&parse_scenario(text)?, &parse_actions(&script)?)?;
    let expected = format!("{:.1} / {:.1}", expected.score.total, expected.score.max);
    b.shot("scored").await?;
    ensure!(
        score.starts_with(&expected),
        "the score should be the twin core's for the same actions ({expected}), the page shows {score:?}"
    );
    ensure!(!score.contains("never taken"), "acting after the bleed began should count as a response: {score:?}");
    // The debrief's plot: the model's vitals over the whole run, the student's actions marked.
    let plot = wait_mirrored(&b, "twin-trend", "trend", OPEN, |t| {
        t["markers"].as_array().is_some_and(|m| {
            m.iter().filter(|m| m["label"].as_str().is_some_and(|l| l.starts_with("you: "))).count() == 2
        })
    })
    .await?;
    let lanes: Vec<&str> = plot["lanes"].as_array().into_iter().flatten().filter_map(|l| l["name"].as_str()).collect();
    ensure!(lanes.starts_with(&["HR", "ABP sys", "MAP", "SpO2"]), "the debrief should plot the vitals: {lanes:?}");
    ensure!(
        plot["lanes"].as_array().into_iter().flatten().all(|l| l["drawn"].as_u64() > Some(100)),
        "every vital plotted over the run: {plot}"
    );
    save(&b, "twin-trend", "debrief-plot").await?;
    let debrief = b.texts("#training-debrief li").await?;
    ensure!(
        debrief.iter().any(|l| l.to_lowercase().contains("hemorrhage"))
            && debrief.iter().any(|l| l.to_lowercase().contains("crystalloid")),
        "the debrief should list the bleed and the student's actions, got {debrief:?}"
    );
    // The student saves the run on the ledger; running the scenario again with the saved
    // actions gives the saved trajectory hash.
    b.click("#training-save").await?;
    let said = b.sign("sign-training-run", e2e::LONG).await?;
    ensure!(
        said.iter().any(|s| s.contains("surgical-hemorrhage")),
        "the confirmation should name the scenario: {said:?}"
    );
    b.wait("#training-saved").await?;
    let runs = j.ledger.get(&format!("/v1/accounts/{}/training-runs", student.address)).await?;
    let saved = runs.as_array().and_then(|r| r.first()).context("no training run saved on the ledger")?;
    let again = run(&parse_scenario(text)?, &parse_actions(str_of(saved, "actions")?)?)?;
    ensure!(
        str_of(saved, "trajectory_hash")? == again.trajectory_hash.to_hex()
            && saved["score_tenths"].as_u64() == Some((again.score.total * 10.0).round() as u64),
        "the saved run should reproduce: saved {saved}, rerun hash {}",
        again.trajectory_hash.to_hex()
    );
    println!("training: scored {score:?}; saved run reproduces trajectory {}", again.trajectory_hash.to_hex());
    Ok(())
}
