//! The `twin-sim` command line: reads files and prints; all the work is in the library.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use twin_sim::{QrsConfig, QrsDetector, Record, decode_record, evaluate_beats, heart_rate_bpm, parse_annotations};

/// Tools for the patient digital twin's data.
#[derive(Debug, Parser)]
#[command(name = "twin-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Detect QRS complexes in a WFDB record's first ECG signal; compare with a reference.
    Qrs {
        /// The record's header file (`.hea`); signal files are read from the same folder.
        header: PathBuf,
        /// MIT annotation file with reference beats (for example `100.atr`).
        #[arg(long)]
        reference: Option<PathBuf>,
        /// Index of the signal to analyse (default: the first ECG-looking signal).
        #[arg(long)]
        signal: Option<usize>,
    },
    /// Print the alarms a record raises (one a line, with time and kind) and its NEWS2.
    Alarms {
        /// The record's header file (`.hea`); waveforms or minute numerics.
        header: PathBuf,
    },
    /// Print a record's signals, rates, units, duration and checksum status.
    Summary {
        /// The record's header file (`.hea`).
        header: PathBuf,
    },
    /// Validation report: the physiology model's resting values against published normals,
    /// and the Schnider propofol model against the measured concentrations of its study.
    Report {
        /// The Schnider 1998 study table (ID,TIME,DV,AMT,RATE,EVID,AGE,WT,HT,M1F2,...).
        #[arg(long, default_value = "../shared/data/schnider-1998-propofol/data.csv")]
        data: PathBuf,
        /// Folder to write `validation.md` into (printed to stdout when absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Qrs { header, reference, signal } => qrs(&header, reference.as_deref(), signal),
        Command::Alarms { header } => alarms(&header),
        Command::Summary { header } => summary(&header),
        Command::Report { data, out } => report(&data, out.as_deref()),
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn load(header_path: &Path) -> Result<Record> {
    let name = header_path.display().to_string();
    let header = twin_sim::parse_header(&name, &read(header_path)?)?;
    let dir = header_path.parent().unwrap_or(Path::new("."));
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for spec in &header.signals {
        if !files.iter().any(|(n, _)| *n == spec.file_name) {
            files.push((spec.file_name.clone(), read(&dir.join(&spec.file_name))?));
        }
    }
    let record =
        decode_record(&header, |n| files.iter().find(|(name, _)| name == n).map(|(_, bytes)| bytes.as_slice()))?;
    Ok(record)
}

fn qrs(header_path: &Path, reference: Option<&Path>, signal: Option<usize>) -> Result<()> {
    let record = load(header_path)?;
    let index = match signal {
        Some(i) if i < record.signals.len() => i,
        Some(i) => bail!("the record has {} signals; there is no signal {i}", record.signals.len()),
        None => record
            .signals
            .iter()
            .position(|s| looks_like_ecg(&s.spec.description))
            .context("no ECG signal in the record; choose one with --signal")?,
    };
    let ecg = &record.signals[index];
    let detector = QrsDetector::new(ecg.frequency, QrsConfig::default())?;
    let beats: Vec<u64> = detector.detect(&ecg.physical_or_nan()).into_iter().map(|i| i as u64).collect();
    let rates = heart_rate_bpm(&beats, ecg.frequency);
    println!("signal {index} ({}) at {} Hz", ecg.spec.description, ecg.frequency);
    println!("beats {}", beats.len());
    if !rates.is_empty() {
        let mean = rates.iter().map(|(_, r)| r).sum::<f64>() / rates.len() as f64;
        println!("mean heart rate {mean:.1} bpm");
    }
    if let Some(path) = reference {
        let annotations = parse_annotations(&path.display().to_string(), &read(path)?)?;
        // Annotation times count frames; a signal with several samples per frame is finer.
        let spf = u64::from(ecg.spec.samples_per_frame);
        let reference: Vec<u64> = annotations.iter().filter(|a| a.code.is_beat()).map(|a| a.sample * spf).collect();
        let tolerance = (0.150 * ecg.frequency).round() as u64;
        let m = evaluate_beats(&reference, &beats, tolerance);
        println!(
            "reference beats {}: tp={} fn={} fp={}",
            reference.len(),
            m.true_positives,
            m.false_negatives,
            m.false_positives
        );
        println!("qrs beats={} se={:.2} ppv={:.2}", beats.len(), m.sensitivity(), m.positive_predictivity());
    }
    Ok(())
}

fn looks_like_ecg(description: &str) -> bool {
    let d = description.to_ascii_uppercase();
    ["ECG", "MLII", "MLI", "MCL", "V1", "V2", "V3", "V4", "V5", "V6", "II", "I", "III", "AVR", "AVL", "AVF"]
        .iter()
        .any(|k| d == *k || d.starts_with(k))
}

fn summary(header_path: &Path) -> Result<()> {
    let record = load(header_path)?;
    let r = &record.header.record;
    println!("record {} : {} signals, {} frames at {} Hz", r.name, record.signals.len(), record.frames, r.frequency);
    let seconds = record.duration_seconds();
    println!("duration {seconds:.3} s ({})", clock(seconds));
    if let Some(t) = r.base_time {
        let date = r.base_date.map(|d| format!(" {:02}/{:02}/{}", d.day, d.month, d.year)).unwrap_or_default();
        println!("start {:02}:{:02}:{:02}.{:03}{date}", t.hours, t.minutes, t.seconds, t.millis);
    }
    let mut all_ok = true;
    for (i, s) in record.signals.iter().enumerate() {
        let check = match s.checksum_matches() {
            Some(true) => "checksum ok",
            Some(false) => {
                all_ok = false;
                "CHECKSUM MISMATCH"
            }
            None => "no checksum",
        };
        let valid: Vec<f64> = s.physical().into_iter().flatten().collect();
        let (lo, hi) = valid.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(*v), h.max(*v)));
        let range = if valid.is_empty() { "no valid samples".to_owned() } else { format!("range {lo:.3}..{hi:.3}") };
        println!(
            "signal {i} {:<8} {:>8} Hz  {:<5} format {}x{} gain {}{} samples {} gaps {}  {range}  {check}",
            s.spec.description,
            s.frequency,
            s.spec.units,
            s.spec.format.number(),
            s.spec.samples_per_frame,
            s.spec.gain(),
            if s.spec.is_calibrated() { "" } else { " (uncalibrated)" },
            s.samples.len(),
            s.gap_count(),
        );
    }
    println!("checksums {}", if all_ok { "ok" } else { "MISMATCH" });
    Ok(())
}

fn clock(seconds: f64) -> String {
    let total = seconds.round() as u64;
    format!("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60)
}

fn alarms(header_path: &Path) -> Result<()> {
    use twin_sim::alarms::{Check, evaluate, frames, news2_series};
    use twin_sim::case::{Stage, StageData};
    let record = load(header_path)?;
    let stage = StageData::from_record(Stage::Surgery, &record)?;
    let report = evaluate(&stage);
    let hms = |ms: u64| clock(ms as f64 / 1000.0);
    let describe = |check: &Check| match check {
        Check::Confirmed(s) => format!("confirmed: {s}"),
        Check::Unconfirmable(s) => format!("UNCONFIRMED: {s}"),
        Check::Refuted(s) => format!("suppressed: {s}"),
    };
    for a in &report.alarms {
        println!(
            "alarm {} {} (from {} to {}, worst {:.1}; {})",
            hms(a.fired_ms.min(a.end_ms)),
            a.kind.name(),
            hms(a.onset_ms),
            hms(a.end_ms),
            a.worst,
            describe(&a.check)
        );
    }
    if report.alarms.is_empty() {
        println!("no alarms in {}", record.header.record.name);
    }
    for a in &report.suppressed {
        println!(
            "not raised {} {} (from {} to {}, worst {:.1}; {})",
            hms(a.onset_ms),
            a.kind.name(),
            hms(a.onset_ms),
            hms(a.end_ms),
            a.worst,
            describe(&a.check)
        );
    }
    let series = news2_series(&frames(&stage));
    let scored = series.iter().filter(|(_, n)| !n.parts.is_empty());
    if let Some((t, worst)) = scored.max_by_key(|(t, n)| (n.total, std::cmp::Reverse(*t))) {
        let parts: Vec<String> = worst.parts.iter().map(|(p, s)| format!("{} {s}", p.name())).collect();
        let missing: Vec<&str> = worst.not_scored.iter().map(|p| p.name()).collect();
        println!(
            "news2 highest {} ({:?}) at {}: {}; not scored (absent, so the total is a lower bound): {}",
            worst.total,
            worst.risk,
            hms(*t),
            parts.join(", "),
            missing.join(", ")
        );
    } else {
        println!("news2 not scored: the record has none of its parameters");
    }
    Ok(())
}

fn report(data: &Path, out: Option<&Path>) -> Result<()> {
    let mut md = String::from("# twin-sim validation report\n\n## Physiology model\n\n");
    md.push_str(&twin_sim::physiology::report_markdown()?);
    md.push_str("\n## Schnider propofol model against measured plasma concentrations\n\n");
    match std::fs::read_to_string(data) {
        Ok(text) => {
            let subjects =
                twin_sim::pk_validation::parse_table(&text).with_context(|| format!("{}", data.display()))?;
            let r = twin_sim::pk_validation::validate(&subjects)?;
            md.push_str(&format!(
                "Data: `{}` ({} subjects, {} measured concentrations). PE = (measured − predicted) / predicted; \
                 MDPE = median PE, MDAPE = median |PE| (Varvel et al. 1992). Predictions: Schnider 1998 \
                 population parameters from each subject's covariates, no fitting.\n\n",
                data.display(),
                r.subjects.len(),
                r.samples
            ));
            md.push_str(&r.to_markdown());
        }
        Err(e) => {
            md.push_str(&format!(
                "**The Schnider 1998 data file is absent** (`{}`: {e}); this part of the report was not computed. \
                 Pass its path with `--data`. (It has no stated licence and is never copied into the project.)\n",
                data.display()
            ));
            eprintln!("note: {} is absent; the report has no Schnider comparison", data.display());
        }
    }
    match out {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let path = dir.join("validation.md");
            std::fs::write(&path, &md).with_context(|| format!("cannot write {}", path.display()))?;
            println!("wrote {}", path.display());
        }
        None => print!("{md}"),
    }
    Ok(())
}
