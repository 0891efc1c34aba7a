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
    /// Print a record's signals, rates, units, duration and checksum status.
    Summary {
        /// The record's header file (`.hea`).
        header: PathBuf,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Qrs { header, reference, signal } => qrs(&header, reference.as_deref(), signal),
        Command::Summary { header } => summary(&header),
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
