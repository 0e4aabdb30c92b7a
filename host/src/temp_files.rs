//! Temporary files written before an atomic rename, and the ones a killed
//! writer leaves behind. A temporary name begins with the writer's process id;
//! a file is an orphan when that process is gone *and* the file has not changed
//! for [`ORPHAN_AFTER`]. Both, so that a live writer is never touched: not this
//! process's, not another's, and not one on another machine that shares the folder
//! (its process id means nothing here, but it keeps writing).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// How long an orphan's file must have been left unchanged before it is removed.
pub const ORPHAN_AFTER: Duration = Duration::from_secs(60 * 60);

/// A name no other temporary file of this or another process has: `<pid>-<n>-<random>`.
pub fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{n}-{:x}", std::process::id(), rand::random::<u64>())
}

/// Removes the orphans among the files of `dir` named `<prefix><unique name>`;
/// returns how many. Anything it cannot read or remove is left alone.
pub fn remove_orphans(dir: &Path, prefix: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(prefix)).and_then(writer_pid) else { continue };
        let unchanged_for = entry.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| SystemTime::now().duration_since(t).ok());
        let stale = unchanged_for.is_some_and(|d| d >= ORPHAN_AFTER);
        if stale && pid != std::process::id() && !process_exists(pid) && std::fs::remove_file(entry.path()).is_ok() {
            tracing::info!("removed {}, left by process {pid}, which is gone", entry.path().display());
            removed += 1;
        }
    }
    removed
}

/// The process id a [`unique_name`] begins with.
fn writer_pid(name: &str) -> Option<u32> {
    let (pid, rest) = name.split_once('-')?;
    rest.contains('-').then_some(())?;
    pid.parse().ok()
}

#[cfg(unix)]
fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    // EPERM: it exists but belongs to someone else.
    alive || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Without a way to ask, every writer is assumed alive and nothing is removed.
#[cfg(not(unix))]
fn process_exists(_pid: u32) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use super::*;

    /// Above Linux's largest process id (2^22), so no process has it.
    const GONE: u32 = 999_999_999;

    fn file(dir: &Path, name: &str, age: Duration) {
        let file = File::create(dir.join(name)).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
    }

    #[test]
    fn only_old_files_of_gone_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let old = ORPHAN_AFTER + Duration::from_secs(60);
        let me = std::process::id();
        file(dir.path(), &format!("{GONE}-0-ab"), old); // an orphan
        file(dir.path(), &format!(".tmp-{GONE}-1-cd"), old); // another prefix: not asked for
        file(dir.path(), &format!("{GONE}-2-ef"), Duration::ZERO); // still being written, perhaps from another machine
        file(dir.path(), &format!("{me}-3-01"), old); // this process's own
        file(dir.path(), "1-notes", old); // not a temporary name
        file(dir.path(), "readme", old);
        assert_eq!(remove_orphans(dir.path(), ""), 1);
        let mut left: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        let mut expected = vec![format!("{GONE}-2-ef"), format!("{me}-3-01"), format!(".tmp-{GONE}-1-cd"), "1-notes".into(), "readme".into()];
        expected.sort();
        assert_eq!(left, expected);
        assert_eq!(remove_orphans(dir.path(), ".tmp-"), 1);
    }

    #[test]
    fn unique_names_name_this_process() {
        let (a, b) = (unique_name(), unique_name());
        assert_ne!(a, b);
        assert_eq!(writer_pid(&a), Some(std::process::id()));
        assert!(process_exists(std::process::id()));
        assert!(!process_exists(GONE));
    }
}
