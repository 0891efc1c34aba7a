//! The native viewer draws a real case: MIMIC record 03700181's surgery (ECG, ABP, RESP),
//! run under a virtual X display with Mesa's software Vulkan, saved as a PNG and checked
//! for the patient, the monitor's traces and its numbers' colours. Needs `xvfb-run` and
//! Mesa's Vulkan driver (`cargo xtask setup` installs them); built with `--features render`.
#![cfg(feature = "render")]

use std::path::Path;
use std::process::Command;

use twin_sim::case::{Case, Stage, StageData};

fn surgical_case() -> Case {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/physionet/mimicdb-037");
    let read = |name: &str| std::fs::read(format!("{dir}/{name}")).expect("twin-sim's PhysioNet data");
    let header = twin_sim::parse_header("03700181.hea", &read("03700181.hea")).expect("header");
    let dat = read("03700181.dat");
    let record = twin_sim::decode_record(&header, |_| Some(dat.as_slice())).expect("decodes");
    Case { id: "03700181".into(), stages: vec![StageData::from_record(Stage::Surgery, &record).expect("stage")] }
}

/// Pixels as RGB triples.
fn read_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).expect("screenshot written")));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("decodes");
    let step = info.color_type.samples();
    let px = buf[..info.buffer_size()].chunks(step).map(|c| [c[0], c[1], c[2]]).collect();
    (info.width, info.height, px)
}

#[test]
fn the_viewer_draws_a_surgical_case_under_a_virtual_display() {
    let dir = std::env::temp_dir().join(format!("twin-viewer-shot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let case_path = dir.join("case.json");
    std::fs::write(&case_path, twin_sim::casefile::write_case(&surgical_case()).unwrap()).unwrap();
    let shot = dir.join("viewer.png");
    let out = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24"])
        .arg(env!("CARGO_BIN_EXE_twin-viewer"))
        .arg(&case_path)
        .args(["--seek", "120", "--screenshot"])
        .arg(&shot)
        .env("XDG_RUNTIME_DIR", &dir)
        .output()
        .expect("xvfb-run is installed (cargo xtask setup)");
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the viewer failed: {log}");
    let (w, h, px) = read_png(&shot);
    assert!(w >= 800 && h >= 500, "{w}×{h}");
    // Not blank: many colours, and the things the scene must show.
    let mut colours: Vec<[u8; 3]> = px.clone();
    colours.sort();
    colours.dedup();
    assert!(colours.len() > 500, "only {} colours: is anything drawn?", colours.len());
    let count = |f: &dyn Fn(&[u8; 3]) -> bool| px.iter().filter(|p| f(p)).count();
    let ecg_green = count(&|p| p[1] > 180 && p[0] < 140 && p[2] < 160);
    let abp_red = count(&|p| p[0] > 200 && p[1] < 110 && p[2] < 110);
    let magenta = count(&|p| p[0] > 230 && p[2] > 230 && p[1] < 40);
    assert!(ecg_green > 500, "no green ECG trace or numbers: {ecg_green} px");
    // The ABP trace and this hypotensive, tachycardic patient's alarmed numbers are red.
    assert!(abp_red > 500, "no red ABP trace or alarm: {abp_red} px");
    assert!(magenta < 100, "{magenta} px of the missing-material colour: a material failed");
    println!("screenshot {} ({w}×{h}, {} colours)", shot.display(), colours.len());
}

/// Runs `twin-viewer` under a virtual display with `args`; its exit success and its output.
fn viewer_under_xvfb(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24"])
        .arg(env!("CARGO_BIN_EXE_twin-viewer"))
        .args(args)
        .env("XDG_RUNTIME_DIR", dir)
        .output()
        .expect("xvfb-run is installed (cargo xtask setup)");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_native_viewer_runs_a_training_scenario() {
    let dir = std::env::temp_dir().join(format!("twin-viewer-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join("training.png");
    let actions = dir.join("actions.toml");
    std::fs::write(&actions, "[[action]]\nat_min = 0.5\nkind = \"fio2\"\nvalue = 1.0\n").unwrap();
    let (ok, log) = viewer_under_xvfb(
        &dir,
        &[
            "--train",
            "opioid-induced-apnoea",
            "--actions",
            actions.to_str().unwrap(),
            "--speed",
            "16",
            "--play",
            "--screenshot",
            shot.to_str().unwrap(),
        ],
    );
    assert!(ok, "the viewer failed: {log}");
    // The keys for the scenario's actions are printed, and the scripted action was taken.
    assert!(log.contains("keys: space play/pause") && log.contains("  1: "), "{log}");
    assert!(log.contains("FiO2") || log.contains("fio2"), "the scripted FiO2 should be reported: {log}");
    let (w, h, px) = read_png(&shot);
    assert!(w >= 800 && h >= 500, "{w}×{h}");
    // The model's ECG is drawn (the training monitor's green trace and numbers).
    let ecg_green = px.iter().filter(|p| p[1] > 180 && p[0] < 140 && p[2] < 160).count();
    assert!(ecg_green > 500, "no green ECG trace from the model: {ecg_green} px");
    // An unknown scenario is refused in words, listing the ones there are.
    let (ok, log) = viewer_under_xvfb(&dir, &["--train", "no-such-scenario"]);
    assert!(!ok && log.contains("not a built-in scenario") && log.contains("surgical-hemorrhage"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
