//! Small filesystems for the disk-full tests: a tmpfs mounted for one test (the test process
//! must be allowed to mount; where it is not, the tests say so and skip), and ballast that
//! fills one up.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A filesystem of a few MiB mounted over a directory for one test, unmounted when dropped.
pub struct SmallFs {
    path: PathBuf,
    _fresh: Option<tempfile::TempDir>,
}

impl SmallFs {
    /// Over a fresh directory.
    pub fn mount(mib: u32) -> Result<SmallFs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        mount_tmpfs(dir.path(), mib)?;
        Ok(SmallFs { path: dir.path().to_owned(), _fresh: Some(dir) })
    }

    /// Over the existing directory `dir`, which keeps its files (copied onto the new
    /// filesystem).
    pub fn mount_keeping(dir: &Path, mib: u32) -> Result<SmallFs, String> {
        let saved = tempfile::tempdir().map_err(|e| e.to_string())?;
        copy_files(dir, saved.path())?;
        mount_tmpfs(dir, mib)?;
        let fs = SmallFs { path: dir.to_owned(), _fresh: None };
        copy_files(saved.path(), dir)?;
        Ok(fs)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn mount_tmpfs(at: &Path, mib: u32) -> Result<(), String> {
    let out = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
        .arg(at)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    Ok(())
}

/// The plain files directly in `from`, copied into `to`.
fn copy_files(from: &Path, to: &Path) -> Result<(), String> {
    for e in std::fs::read_dir(from).map_err(|e| e.to_string())? {
        let e = e.map_err(|e| e.to_string())?;
        if e.file_type().map_err(|e| e.to_string())?.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Free bytes on the filesystem holding `dir`.
pub fn free_bytes(dir: &Path) -> u64 {
    let st = rustix::fs::statvfs(dir).expect("statvfs");
    st.f_bavail * st.f_frsize
}

/// Fills the filesystem under `dir` with one file until a write fails for want of space;
/// returns its path.
pub fn fill(dir: &Path) -> PathBuf {
    fill_leaving(dir, 0)
}

/// Fills the filesystem under `dir` with one file until at most `leave` bytes are free (or
/// a write fails for want of space); returns its path.
pub fn fill_leaving(dir: &Path, leave: u64) -> PathBuf {
    let path = dir.join("ballast");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x5a_u8; 64 * 1024];
    while free_bytes(dir) > leave {
        let want = (free_bytes(dir) - leave).min(chunk.len() as u64) as usize;
        match f.write(&chunk[..want.max(1)]) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    let _ = f.sync_all();
    path
}
