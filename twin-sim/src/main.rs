//! The `twin-sim` command line: reads files and prints; all the work is in the library.

use std::path::{Path, PathBuf};

/// `println!` that ends the program quietly when stdout is closed (`twin-sim replay … |
/// head`) instead of panicking; any other write error still panics with its message.
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            panic!("cannot write to stdout: {e}");
        }
    }};
}

mod cli;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use twin_sim::{
    QrsConfig, QrsDetector, Record, decode_multi_segment, evaluate_beats, heart_rate_bpm, parse_annotations,
};

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
    /// Forecast each numeric track of a record ahead, scored against what came, and against
    /// persistence (the last reading).
    Forecast {
        /// The record's header file (`.hea`) with numeric tracks (e.g. minute trends).
        header: PathBuf,
        /// How far ahead, in minutes.
        #[arg(long, default_value_t = 5)]
        horizon_min: u64,
    },
    /// Print a record's signals, rates, units, duration and checksum status.
    Summary {
        /// The record's header file (`.hea`).
        header: PathBuf,
    },
    /// Runs every check of the clinical validation file the model can express: one line per
    /// check (id, pass or FAIL, the model's values against their ranges, the reference, the
    /// source), then `validation passed=<n> total=<m>`. With `--out`, also writes
    /// `validation.md` (the table, then the resting values, the responses and the Schnider
    /// comparison in detail) and one PNG plot per family.
    Validate {
        /// The Schnider 1998 study table (ID,TIME,DV,AMT,RATE,EVID,AGE,WT,HT,M1F2,...).
        #[arg(long, default_value = "../shared/data/schnider-1998-propofol/data.csv")]
        data: PathBuf,
        /// Folder to write `validation.md` and the plots into.
        #[arg(long)]
        out: Option<PathBuf>,
        /// MIMIC record 03700181's header (its RESP waveform is counted for check N3).
        #[arg(long, default_value = "twin-sim/data/physionet/mimicdb-037/03700181.hea")]
        resp_record: PathBuf,
        /// Run only this check (for example `H1`).
        #[arg(long)]
        only: Option<String>,
    },
    /// Import WFDB records (`.hea`), FHIR R4 resources (`.ndjson`, `.json`) and CSV tracks
    /// (`.csv`) as one stage of a case file, as the portal's case page does.
    Import {
        /// The input files; a WFDB header's signal files and segment headers are read from
        /// beside it.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// The stage the data belongs to: pre-hospital, diagnosis or surgery.
        #[arg(long, value_parser = parse_stage)]
        stage: twin_sim::case::Stage,
        /// The case file to write.
        #[arg(long)]
        out: PathBuf,
        /// An existing case file to add the stage to (it is not changed unless it is `--out`).
        #[arg(long)]
        into: Option<PathBuf>,
    },
    /// Print a case file's summary: stages, streams, durations, events and Merkle roots.
    Case {
        /// The case file.
        case: PathBuf,
    },
    /// Replay a case stage to stdout: one line of values per tick and a line per event, in
    /// case time. Deterministic; it only waits between ticks with `--realtime`.
    Replay {
        /// The case file.
        case: PathBuf,
        /// The stage to replay (default: the first the case has).
        #[arg(long, value_parser = parse_stage)]
        stage: Option<twin_sim::case::Stage>,
        /// Case time to start at, in seconds.
        #[arg(long, default_value_t = 0.0)]
        from: f64,
        /// How many seconds of case time to replay (default: to the end).
        #[arg(long)]
        seconds: Option<f64>,
        /// Playback speed, 0.25 to 64: case time per tick is the tick times the speed.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Wall-clock milliseconds per printed tick.
        #[arg(long, default_value_t = 1000)]
        tick_ms: u64,
        /// Wait a tick of real time between lines.
        #[arg(long)]
        realtime: bool,
    },
    /// Run a training scenario headless with a scripted list of actions; print the score,
    /// the debrief timeline and `trajectory=<hex>`.
    Scenario {
        /// The scenario file (TOML, for example `twin-sim/scenarios/surgical-hemorrhage.toml`).
        file: PathBuf,
        /// The scripted student actions (TOML `[[action]]` tables); none when absent.
        #[arg(long)]
        actions: Option<PathBuf>,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Qrs { header, reference, signal } => qrs(&header, reference.as_deref(), signal),
        Command::Alarms { header } => alarms(&header),
        Command::Forecast { header, horizon_min } => forecast(&header, horizon_min),
        Command::Summary { header } => summary(&header),
        Command::Validate { data, out, resp_record, only } => {
            validate(&data, &resp_record, out.as_deref(), only.as_deref())
        }
        Command::Import { inputs, stage, out, into } => import(&inputs, stage, &out, into.as_deref()),
        Command::Case { case } => case_summary(&case),
        Command::Replay { case, stage, from, seconds, speed, tick_ms, realtime } => {
            replay(&case, stage, from, seconds, speed, tick_ms, realtime)
        }
        Command::Scenario { file, actions } => scenario(&file, actions.as_deref()),
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Loads a record from its header: a single-segment record from the signal files beside it, or
/// a multi-segment record from the segment headers (`NAME.hea`) and their signal files there.
fn load(header_path: &Path) -> Result<Record> {
    let name = header_path.display().to_string();
    let progress = cli::progress::Progress::spinner(&format!("reading {name}"));
    let header = twin_sim::parse_header(&name, &read(header_path)?)?;
    let dir = header_path.parent().unwrap_or(Path::new("."));
    let mut headers: Vec<(String, twin_sim::Header)> = Vec::new();
    for segment in header.segments.iter().filter(|s| !s.is_null()) {
        if headers.iter().any(|(n, _)| *n == segment.name) {
            continue;
        }
        let file = format!("{}.hea", segment.name);
        let parsed = twin_sim::parse_header(&file, &read(&dir.join(&file))?)?;
        headers.push((segment.name.clone(), parsed));
    }
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for spec in header.signals.iter().chain(headers.iter().flat_map(|(_, h)| &h.signals)) {
        // Layout segments name no real file (`~`); segments without data read nothing.
        if spec.file_name != "~" && !files.iter().any(|(n, _)| *n == spec.file_name) {
            files.push((spec.file_name.clone(), read(&dir.join(&spec.file_name))?));
        }
    }
    progress.say(&format!("decoding {name}"));
    let record = decode_multi_segment(
        &header,
        |n| headers.iter().find(|(name, _)| name == n).map(|(_, h)| h.clone()),
        |n| files.iter().find(|(name, _)| name == n).map(|(_, bytes)| bytes.as_slice()),
    )?;
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
    let progress = cli::progress::Progress::spinner("detecting beats");
    let beats: Vec<u64> = detector.detect(&ecg.physical_or_nan()).into_iter().map(|i| i as u64).collect();
    drop(progress);
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

fn forecast(header_path: &Path, horizon_min: u64) -> Result<()> {
    use twin_sim::case::{Stage, StageData};
    use twin_sim::forecast::{Holt, evaluate};
    let record = load(header_path)?;
    let stage = StageData::from_record(Stage::PreHospital, &record)?;
    if stage.tracks.is_empty() {
        anyhow::bail!("{} has no numeric tracks to forecast", header_path.display());
    }
    let holt = Holt::default();
    for t in &stage.tracks {
        match evaluate(t, horizon_min * 60_000, &holt) {
            Some(e) => println!(
                "{:<10} {:>5} forecasts {} min ahead: MAE {:.2} {} (persistence {:.2}), RMSE {:.2} (persistence {:.2})",
                t.name, e.n, horizon_min, e.mae, t.unit, e.mae_persistence, e.rmse, e.rmse_persistence
            ),
            None => println!("{:<10} too few readings to forecast", t.name),
        }
    }
    Ok(())
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

fn validate(data: &Path, resp_record: &Path, out: Option<&Path>, only: Option<&str>) -> Result<()> {
    use twin_sim::case::{Stage, StageData};
    use twin_sim::validation;
    let table = std::fs::read_to_string(data);
    if let Err(e) = &table {
        eprintln!("note: the Schnider study table {} is absent ({e}): check P5 fails without it", data.display());
    }
    let mimic = load(resp_record).and_then(|r| Ok(StageData::from_record(Stage::Surgery, &r)?));
    if let Err(e) = &mimic {
        eprintln!("note: the record {} could not be read ({e:#}): check N3 fails without it", resp_record.display());
    }
    let inputs = validation::Data { schnider_table: table.as_deref().ok(), mimic_03700181: mimic.as_ref().ok() };
    let checks = match only {
        Some(id) => vec![validation::find(id).with_context(|| format!("there is no check {id:?}"))?],
        None => validation::catalogue(),
    };
    let results: Vec<validation::CheckResult> = {
        let progress = cli::progress::Progress::bar(checks.len() as u64, "validation checks");
        checks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let r = c.run(&inputs);
                progress.set(i as u64 + 1);
                r
            })
            .collect()
    };
    for r in &results {
        println!("{}", r.line());
    }
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let (md, plots) = validation_report(dir, &results, table.as_deref().ok(), data)?;
        let path = dir.join("validation.md");
        std::fs::write(&path, md).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
        for p in plots {
            println!("wrote {}", p.display());
        }
    } else {
        println!("(`--out <folder>` writes validation.md and the plots)");
    }
    println!("{}", validation::summary_line(&results));
    Ok(())
}

/// validation.md and its plots: the checks' table, then the resting values, the responses
/// and the Schnider comparison in detail.
fn validation_report(
    dir: &Path,
    results: &[twin_sim::validation::CheckResult],
    table: Option<&str>,
    data: &Path,
) -> Result<(String, Vec<PathBuf>)> {
    use twin_sim::validation::Family;
    // Plots go beside validation.md; text in them needs a font.
    let font = cli::plots::register_font();
    let mut md = String::from(
        "# twin-sim clinical validation

",
    );
    match &font {
        Some(f) => md.push_str(&format!(
            "Plots drawn with the font `{}`.

",
            f.display()
        )),
        None => md.push_str(
            "No TrueType font was found (set `TWIN_SIM_FONT` to one): the plots are drawn without text.

",
        ),
    }
    md.push_str(
        "Each check of `CLINICAL-VALIDATION.md` the model can express, run as the file describes. \
         A value out of its range is marked ✗; a quantity the model does not have yet fails.\n\n",
    );
    md.push_str(&twin_sim::validation::markdown(results));
    let mut plots = Vec::new();
    for family in Family::ALL {
        let traces: Vec<_> = results
            .iter()
            .filter(|r| r.check.family == family)
            .filter_map(|r| r.outcome.as_ref().ok().map(|o| (r.check.id, &o.traces)))
            .flat_map(|(id, traces)| traces.iter().map(move |t| (id, t)))
            .collect();
        if traces.is_empty() {
            continue;
        }
        let file = cli::plots::family(dir, family, &traces, font.is_some())?;
        md.push_str(&format!("\n## {}\n\n", family.name()));
        md.push_str(&images(std::slice::from_ref(&file), family.name()));
        plots.push(file);
    }
    md.push_str("\n## Physiology model in detail\n\n");
    md.push_str(&twin_sim::physiology::report_markdown()?);
    let files = cli::plots::resting(dir, &twin_sim::physiology::resting_checks()?, font.is_some())?;
    md.push_str(&images(&files, "Resting values against normals"));
    plots.extend(files);
    md.push_str("\n## Schnider propofol model against measured plasma concentrations\n\n");
    match table {
        Some(text) => {
            let subjects = twin_sim::pk_validation::parse_table(text).with_context(|| format!("{}", data.display()))?;
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
            let files = cli::plots::schnider(dir, &r, font.is_some())?;
            md.push('\n');
            md.push_str(&images(&files, "Schnider model against the measured concentrations"));
            plots.extend(files);
        }
        None => md.push_str(&format!(
            "**The Schnider 1998 data file is absent** (`{}`); this part was not computed and check P5 fails. \
             Pass its path with `--data`. (It has no stated licence and is never copied into the project.)\n",
            data.display()
        )),
    }
    Ok((md, plots))
}

/// Markdown image lines for plots written beside the report.
fn images(files: &[PathBuf], alt: &str) -> String {
    files.iter().filter_map(|f| f.file_name()).map(|name| format!("![{alt}]({})\n\n", name.to_string_lossy())).collect()
}

fn scenario(file: &Path, actions: Option<&Path>) -> Result<()> {
    use twin_sim::scenario::{parse_actions, parse_scenario, run};
    let text = |p: &Path| std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()));
    let scenario = parse_scenario(&text(file)?).with_context(|| format!("{}", file.display()))?;
    let actions = match actions {
        Some(p) => parse_actions(&text(p)?).with_context(|| format!("{}", p.display()))?,
        None => Vec::new(),
    };
    let progress = cli::progress::Progress::spinner(&format!("running {}", file.display()));
    let report = run(&scenario, &actions)?;
    drop(progress);
    print!("{}", report.to_text(&scenario));
    Ok(())
}

fn parse_stage(s: &str) -> std::result::Result<twin_sim::case::Stage, String> {
    use twin_sim::case::Stage;
    match s {
        "pre-hospital" | "prehospital" | "pre_hospital" => Ok(Stage::PreHospital),
        "diagnosis" => Ok(Stage::Diagnosis),
        "surgery" => Ok(Stage::Surgery),
        other => Err(format!("{other:?} is not a stage (pre-hospital, diagnosis or surgery)")),
    }
}

/// The files a WFDB header names (its signal files, its segments' headers and theirs), to be
/// read from beside it.
fn wfdb_companions(header_path: &Path) -> Result<Vec<String>> {
    let dir = header_path.parent().unwrap_or(Path::new("."));
    let header = twin_sim::parse_header(&header_path.display().to_string(), &read(header_path)?)?;
    let mut names: Vec<String> = header.signals.iter().map(|s| s.file_name.clone()).collect();
    for segment in header.segments.iter().filter(|s| !s.is_null()) {
        let file = format!("{}.hea", segment.name);
        let h = twin_sim::parse_header(&file, &read(&dir.join(&file))?)?;
        names.extend(h.signals.iter().map(|s| s.file_name.clone()));
        names.push(file);
    }
    names.retain(|n| n != "~");
    names.dedup();
    Ok(names)
}

fn read_case_file(path: &Path) -> Result<twin_sim::case::Case> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(twin_sim::casefile::read_case(&path.display().to_string(), &text)?)
}

fn import(inputs: &[PathBuf], stage: twin_sim::case::Stage, out: &Path, into: Option<&Path>) -> Result<()> {
    use twin_sim::case::Case;
    use twin_sim::import::files::{InputFile, stage_from_files};
    use twin_sim::import::merge_stage;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |path: &Path| -> Result<()> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !files.iter().any(|(n, _)| *n == name) {
            files.push((name, read(path)?));
        }
        Ok(())
    };
    for input in inputs {
        add(input)?;
        if input.extension().is_some_and(|e| e.eq_ignore_ascii_case("hea")) {
            let dir = input.parent().unwrap_or(Path::new("."));
            for name in wfdb_companions(input)? {
                add(&dir.join(name))?;
            }
        }
    }
    let chosen: Vec<InputFile> = files.iter().map(|(name, bytes)| InputFile { name, bytes }).collect();
    let got = stage_from_files(stage, &chosen)?;
    for line in &got.said {
        println!("{line}");
    }
    let stem = inputs[0].file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut case = match into {
        Some(path) => read_case_file(path)?,
        None => Case { id: stem, stages: Vec::new() },
    };
    let mut data = got.stage;
    data.salt = cli::random_salt()?;
    merge_stage(&mut case, data)?;
    let progress = cli::progress::Progress::spinner("hashing segments and encoding the case");
    let text = twin_sim::casefile::write_case(&case)?;
    drop(progress);
    std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?;
    println!("wrote {} ({} stages)", out.display(), case.stages.len());
    Ok(())
}

fn millis_clock(ms: u64) -> String {
    format!("{}.{:03}", clock((ms / 1000) as f64), ms % 1000)
}

fn case_summary(path: &Path) -> Result<()> {
    use twin_sim::casefile::{kind_key, segment_ms_for};
    let case = read_case_file(path)?;
    println!("case {} : {} stages", case.id, case.stages.len());
    for s in &case.stages {
        println!();
        println!("stage {} : duration {}", s.stage.human(), millis_clock(s.duration_ms()));
        if let Some(o) = s.origin {
            let date = o.date.map(|d| format!("{}-{:02}-{:02}", d.year, d.month, d.day)).unwrap_or_default();
            let time = o.time.map(|t| format!(" {:02}:{:02}:{:02}.{:03}", t.hours, t.minutes, t.seconds, t.millis));
            println!("  origin {date}{}", time.unwrap_or_default());
        }
        for w in &s.waveforms {
            let gaps = w.samples.iter().filter(|&&v| v == twin_sim::case::GAP).count();
            println!(
                "  waveform {:<10} {:>8} Hz {:<6} samples {} gaps {} duration {}",
                w.name,
                w.rate_hz,
                w.unit,
                w.samples.len(),
                gaps,
                millis_clock(w.duration_ms())
            );
        }
        for t in &s.tracks {
            let gaps = t.values.iter().filter(|v| v.is_none()).count();
            println!(
                "  track    {:<10} {:<8} points {} gaps {} until {}",
                t.name,
                t.unit,
                t.values.len(),
                gaps,
                millis_clock(t.end_ms())
            );
        }
        let mut kinds: Vec<(&str, usize)> = Vec::new();
        for e in &s.events {
            match kinds.iter_mut().find(|(k, _)| *k == kind_key(e.kind)) {
                Some((_, n)) => *n += 1,
                None => kinds.push((kind_key(e.kind), 1)),
            }
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!("  events {} ({})", s.events.len(), kinds.join(", "));
        for e in s.events.iter().take(10) {
            println!(
                "    {} {} {}{}",
                millis_clock(e.time_ms),
                e.kind.name(),
                e.label,
                e.code.as_ref().map(|c| format!(" [{c}]")).unwrap_or_default()
            );
        }
        if s.events.len() > 10 {
            println!("    ... {} more", s.events.len() - 10);
        }
        let segment_ms = segment_ms_for(s);
        println!("  merkle roots (segments of {segment_ms} ms):");
        for h in s.stream_hashes(segment_ms)? {
            println!("    {:<12} {} ({} segments)", h.stream, h.root.to_hex(), h.segments.len());
        }
    }
    Ok(())
}

fn replay(
    path: &Path,
    stage: Option<twin_sim::case::Stage>,
    from: f64,
    seconds: Option<f64>,
    speed: f64,
    tick_ms: u64,
    realtime: bool,
) -> Result<()> {
    use twin_sim::replay::{Clock, snapshot};
    let case = read_case_file(path)?;
    let data = match stage {
        Some(st) => case.stage(st).with_context(|| format!("the case has no {} stage", st.human()))?,
        None => case.stages.first().context("the case has no stages")?,
    };
    if !(from.is_finite() && from >= 0.0) || seconds.is_some_and(|s| !(s.is_finite() && s >= 0.0)) {
        bail!("--from and --seconds must be non-negative numbers of seconds");
    }
    if tick_ms == 0 {
        bail!("--tick-ms must be at least 1");
    }
    let duration_us = data.duration_ms().saturating_mul(1000);
    let start_us = ((from * 1e6).round() as u64).min(duration_us);
    let end_us = match seconds {
        Some(s) => start_us.saturating_add((s * 1e6).round() as u64).min(duration_us),
        None => duration_us,
    };
    let mut clock = Clock::new(duration_us);
    clock.seek(start_us);
    let speed = clock.set_speed(speed);
    clock.play();
    println!(
        "replay {} stage {} from {} to {} at {speed}x",
        case.id,
        data.stage.human(),
        millis_clock(start_us / 1000),
        millis_clock(end_us / 1000)
    );
    let mut events: Vec<&twin_sim::case::Event> = data.events.iter().collect();
    events.sort_by_key(|e| e.time_ms);
    let mut next_event = events.partition_point(|e| e.time_ms.saturating_mul(1000) < start_us);
    let has_streams = !(data.waveforms.is_empty() && data.tracks.is_empty());
    let tick = std::time::Duration::from_millis(tick_ms);
    let mut now = clock.position_us();
    loop {
        while let Some(e) = events.get(next_event).filter(|e| e.time_ms.saturating_mul(1000) <= now) {
            let code = e.code.as_ref().map(|c| format!(" [{c}]")).unwrap_or_default();
            println!("{} event {}: {}{code}", millis_clock(e.time_ms), e.kind.name(), e.label);
            next_event += 1;
        }
        if has_streams {
            let snap = snapshot(data, now);
            let mut line = millis_clock(now / 1000);
            for (track, (name, v)) in data.tracks.iter().zip(&snap.tracks) {
                match v {
                    Some(v) => line.push_str(&format!(" {name}={v}{}", track.unit)),
                    None => line.push_str(&format!(" {name}=-")),
                }
            }
            for (wave, (name, _, v)) in data.waveforms.iter().zip(&snap.waveforms) {
                match v {
                    Some(v) => line.push_str(&format!(" {name}={v:.3}{}", wave.unit)),
                    None => line.push_str(&format!(" {name}=-")),
                }
            }
            println!("{line}");
        } else if events.get(next_event).is_none_or(|e| e.time_ms.saturating_mul(1000) > end_us) {
            break;
        }
        if now >= end_us {
            break;
        }
        if !has_streams {
            // Nothing to sample: jump to the next event instead of ticking through years.
            let t = events.get(next_event).map_or(end_us, |e| e.time_ms.saturating_mul(1000));
            clock.seek(t.min(end_us));
        } else {
            if realtime {
                std::thread::sleep(tick);
            }
            clock.advance(tick);
            clock.seek(clock.position_us().min(end_us));
        }
        now = clock.position_us();
    }
    Ok(())
}
