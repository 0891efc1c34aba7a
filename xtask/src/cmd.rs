//! Running commands (loudly, quietly, for their output) and the files and folders the jobs
//! share: the target and tools folders, copies and content hashes of build outputs.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs a command, streaming its output; fails with the command line if it fails.
pub(crate) fn sh(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("command failed ({status}): {cmd:?}");
    }
    Ok(())
}

/// Runs a command quietly; shows its output only if it fails.
pub(crate) fn quiet(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("cannot start {cmd:?}"))?;
    if !out.status.success() {
        eprintln!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        bail!("command failed ({}): {cmd:?}", out.status);
    }
    Ok(())
}

pub(crate) fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// The version of a package as pinned in Cargo.lock.
pub(crate) fn locked_version(package: &str) -> Result<String> {
    let lock = std::fs::read_to_string("Cargo.lock").context("reading Cargo.lock")?;
    let needle = format!("name = \"{package}\"\nversion = \"");
    let start = lock.find(&needle).with_context(|| format!("{package} is not in Cargo.lock"))? + needle.len();
    let end = lock[start..].find('"').context("Cargo.lock is malformed")?;
    Ok(lock[start..start + end].to_owned())
}

pub(crate) fn step(name: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("== {name}");
    sh(cmd).with_context(|| format!("step '{name}' failed"))
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target"))
}

pub(crate) fn tools_dir() -> Result<PathBuf> {
    let t = target_dir();
    let t = if t.is_absolute() { t } else { std::env::current_dir()?.join(t) };
    Ok(t.join("tools"))
}

pub(crate) fn abs(p: PathBuf) -> Result<PathBuf> {
    Ok(if p.is_absolute() { p } else { std::env::current_dir()?.join(p) })
}

/// Every file under a folder, sorted.
pub(crate) fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = entry?.path();
        if p.is_dir() {
            out.extend(files_under(&p)?);
        } else {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for p in files_under(from)? {
        let dest = to.join(p.strip_prefix(from)?);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&p, &dest).with_context(|| format!("copying {}", p.display()))?;
    }
    Ok(())
}

/// A hash of a folder's file names and contents (names the app module's folder, so a
/// browser never pairs a start page with an app module cached from another build).
pub(crate) fn tree_hash(dir: &Path) -> Result<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    for p in files_under(dir)? {
        p.strip_prefix(dir)?.hash(&mut h);
        std::fs::read(&p)?.hash(&mut h);
    }
    Ok(h.finish())
}

/// A hash of one file's contents.
pub(crate) fn file_hash(path: &Path) -> Result<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?.hash(&mut h);
    Ok(h.finish())
}
