//! `cargo xtask fuzz [target] [--seconds N] [--jobs J]`: coverage-guided fuzzing of every decoder of
//! untrusted input with AFL++ through cargo-afl (installed at the version Cargo.lock pins for
//! the `afl` crate when missing; it works with the stable toolchain). Each target (see
//! `fuzz/src/lib.rs`) starts from seeds made from the project's vectors and data, runs for
//! N seconds (default 60; J targets at a time, default 1), and reports its executions; any crash fails the run with the
//! file that reproduces it, to be fixed and kept in `fuzz/regressions/<target>/`.

use crate::cmd::{abs, cargo, locked_version, output, quiet, sh, target_dir};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// cargo-afl, at the Cargo.lock version of the `afl` crate (its AFL++ is built on install).
pub fn setup() -> Result<()> {
    let want = locked_version("afl")?;
    let have = output(cargo().args(["afl", "--version"])).unwrap_or_default();
    if !have.contains(&want) {
        eprintln!("setup: installing cargo-afl {want} (a few minutes, once)");
        quiet(cargo().args(["install", "--quiet", "--locked", "cargo-afl", "--version", &want]))?;
    }
    // A fresh install builds AFL++ for this rustc; one made for another rustc needs a build
    // (quick to ask: it says so when it is already built).
    let o = cargo().args(["afl", "config", "--build"]).output().context("running cargo afl config")?;
    if !o.status.success() && !String::from_utf8_lossy(&o.stderr).contains("already built") {
        eprintln!("{}", String::from_utf8_lossy(&o.stderr));
        bail!("cargo-afl could not build AFL++ for this toolchain (see above)");
    }
    Ok(())
}

/// What one target's run did.
struct Run {
    name: String,
    execs: u64,
    seconds: u64,
    crashes: Vec<PathBuf>,
}

pub fn fuzz(args: &[String]) -> Result<()> {
    let mut seconds = 60u64;
    let mut jobs = 1usize;
    let mut only = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|s| *s > 0)
                    .context("--seconds takes a whole number of seconds above 0")?;
            }
            "--jobs" => {
                jobs = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|j| *j > 0)
                    .context("--jobs takes how many targets to fuzz at once (1 or more)")?;
            }
            t if !t.starts_with('-') && only.is_none() => only = Some(t.to_owned()),
            other => bail!("cargo xtask fuzz [target] [--seconds N] [--jobs J]: unknown argument {other:?}"),
        }
    }
    setup()?;
    let build = target_dir().join("fuzz");
    eprintln!("== fuzz: building the AFL++ harness (instrumented, release)");
    sh(cargo()
        .args(["afl", "build", "--quiet", "--release", "-p", "fuzz-targets", "--features", "afl", "--bin", "fuzz"])
        .env("CARGO_TARGET_DIR", &build))?;
    let bin = abs(build.join("release/fuzz"))?;
    let listed = output(Command::new(&bin).arg("--list")).context("the harness does not list its targets")?;
    let names: Vec<String> = listed.lines().filter_map(|l| l.split('\t').next()).map(str::to_owned).collect();
    let chosen: Vec<String> = match &only {
        Some(t) if names.contains(t) => vec![t.clone()],
        Some(t) => bail!("no fuzz target {t:?}; there are: {}", names.join(", ")),
        None => names,
    };
    let repo = std::env::current_dir()?;
    let mut runs = Vec::new();
    for group in chosen.chunks(jobs) {
        let started: Vec<Started> =
            group.iter().map(|name| start(&bin, &build, &repo, name, seconds)).collect::<Result<_>>()?;
        for s in started {
            runs.push(finish(s)?);
        }
    }
    let total: u64 = runs.iter().map(|r| r.execs).sum();
    for r in &runs {
        println!(
            "fuzz target={} execs={} seconds={} execs_per_s={} crashes={}",
            r.name,
            r.execs,
            r.seconds,
            r.execs / r.seconds.max(1),
            r.crashes.len()
        );
    }
    println!("fuzz total_execs={total} targets={}", runs.len());
    let crashed: Vec<&Run> = runs.iter().filter(|r| !r.crashes.is_empty()).collect();
    if !crashed.is_empty() {
        for r in &crashed {
            for c in &r.crashes {
                eprintln!("crash in {}: {} (reproduce: {} {} < that file)", r.name, c.display(), bin.display(), r.name);
            }
        }
        bail!(
            "the fuzzer found crashes; fix each and keep its input in fuzz/regressions/<target>/ named after what it found"
        );
    }
    Ok(())
}

/// A target's afl-fuzz, started.
struct Started {
    name: String,
    child: std::process::Child,
    out: PathBuf,
    log: PathBuf,
}

/// Writes `name`'s seeds and starts afl-fuzz on it for `seconds`, its output in a log file.
fn start(bin: &Path, build: &Path, repo: &Path, name: &str, seconds: u64) -> Result<Started> {
    let seeds = build.join("in").join(name);
    let out = build.join("out").join(name);
    let _ = std::fs::remove_dir_all(&seeds);
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(build.join("out"))?;
    let log = build.join(format!("afl-{name}.log"));
    let made = output(Command::new(bin).arg("--seeds").arg(name).arg(&seeds).arg(repo)).unwrap_or_default();
    if made.trim().parse::<u64>().unwrap_or(0) == 0 {
        bail!("fuzz target {name} has no seeds (is ../shared/data there?)");
    }
    eprintln!("== fuzz {name}: {seconds} s (log: {})", log.display());
    let file = std::fs::File::create(&log)?;
    let child = cargo()
        .args(["afl", "fuzz", "-i"])
        .arg(&seeds)
        .arg("-o")
        .arg(&out)
        .args(["-V", &seconds.to_string(), "--"])
        .arg(bin)
        .arg(name)
        // A log instead of the full-screen view; no checks of how the kernel writes core
        // dumps or scales CPU frequency (CI machines are not set up for fuzzing); no CPU
        // pinning, so that several run side by side.
        .env("AFL_NO_UI", "1")
        .env("AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES", "1")
        .env("AFL_SKIP_CPUFREQ", "1")
        .env("AFL_NO_AFFINITY", "1")
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .context("starting afl-fuzz")?;
    Ok(Started { name: name.to_owned(), child, out, log })
}

/// Waits for a started afl-fuzz and reads what it did from its statistics.
fn finish(mut s: Started) -> Result<Run> {
    let status = s.child.wait()?;
    if !status.success() {
        bail!("afl-fuzz for {} failed ({status}); its log is {}", s.name, s.log.display());
    }
    let stats = std::fs::read_to_string(s.out.join("default/fuzzer_stats"))
        .with_context(|| format!("afl-fuzz for {} left no statistics in {}", s.name, s.out.display()))?;
    let stat = |key: &str| -> u64 {
        stats
            .lines()
            .find_map(|l| {
                l.split_once(':').filter(|(k, _)| k.trim() == key).map(|(_, v)| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0)
    };
    let crashes = std::fs::read_dir(s.out.join("default/crashes"))
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| !p.ends_with("README.txt")).collect())
        .unwrap_or_default();
    Ok(Run { name: s.name, execs: stat("execs_done"), seconds: stat("run_time").max(1), crashes })
}
