//! The running daemon's claim on its directory: an exclusive `flock` on `worker.pid`, held for
//! the daemon's life and released by the kernel however the daemon ends.
//!
//! The lock, not the pid written in the file, says whether a daemon runs and which: a file left
//! by one that crashed, or from before a reboot, names a pid that may now be another process's,
//! and `stop` must never signal that. The file stays when the daemon ends: removing it would let
//! a second daemon lock the removed file while a third locks a new one.

use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::home::Home;

#[derive(Debug)]
pub struct PidFile {
    _lock: std::fs::File,
}

impl PidFile {
    pub fn claim(home: &Home) -> anyhow::Result<Self> {
        let path = home.pid();
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // Where the kernel's lock table cannot be read, `running` probes with a shared lock of a
        // few microseconds: a claim that meets one tries again.
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock)
                    if started.elapsed() < Duration::from_secs(1) =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    let pid = running(home).map_or("pid unknown".into(), |p| format!("pid {p}"));
                    bail!(
                        "a worker already runs from {} ({pid}): `sage-worker stop` first",
                        home.root().display()
                    );
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking {}", path.display()))
                }
            }
        }
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(std::process::id().to_string().as_bytes())?;
        file.sync_all()?;
        Ok(Self { _lock: file })
    }
}

/// The pid of the daemon that holds `worker.pid`'s lock, if one does.
///
/// The kernel's table of locks names the holder, so the answer never comes from a stale file,
/// nor from the moment between a new daemon's lock and its write of its pid. Where that table
/// cannot be read, or names the file by another device than `stat` does (btrfs subvolumes,
/// some overlays), this probes the lock, reads the file, and believes the pid only if that
/// process has the file open.
pub fn running(home: &Home) -> Option<u32> {
    let path = home.pid();
    std::fs::read_to_string("/proc/locks")
        .ok()
        .and_then(|table| flock_holder(&path, &table))
        .or_else(|| probe(&path).filter(|&pid| has_open(pid, &path)))
}

/// Whether process `pid` has `path` open.
fn has_open(pid: u32, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(want) = std::fs::metadata(path) else {
        return false;
    };
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::metadata(fd.path()).is_ok_and(|m| m.dev() == want.dev() && m.ino() == want.ino())
    })
}

/// The pid of the exclusive `flock` on `path` in `table` (the format of `/proc/locks`:
/// `1: FLOCK  ADVISORY  WRITE 2411 fe:00:10010639 0 EOF`, device as hex major:minor, then the
/// inode; a waiter's line has a `->` field and is skipped).
fn flock_holder(path: &Path, table: &str) -> Option<u32> {
    let file = lock_table_id(path)?;
    table.lines().find_map(
        |line| match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            [_, "FLOCK", _, "WRITE", pid, id, ..] if *id == file => pid.parse().ok(),
            _ => None,
        },
    )
}

/// How `/proc/locks` names `path`: `major:minor:inode`, the device numbers in hex.
fn lock_table_id(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let dev = meta.dev();
    // glibc's `major` and `minor` of a `dev_t`.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000);
    let minor = (dev & 0xff) | ((dev >> 12) & 0xffff_ff00);
    Some(format!("{major:02x}:{minor:02x}:{}", meta.ino()))
}

fn probe(path: &Path) -> Option<u32> {
    let mut file = std::fs::File::open(path).ok()?;
    match file.try_lock_shared() {
        // Nobody holds it; the shared lock goes with `file`.
        Ok(()) => None,
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            file.read_to_string(&mut text).ok()?;
            text.trim().parse().ok()
        }
        Err(std::fs::TryLockError::Error(_)) => None,
    }
}

pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_comes_from_the_lock_table_not_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        // A stale file naming a live process (init) and no lock: nobody runs.
        std::fs::write(home.pid(), "1").unwrap();
        assert_eq!(running(&home), None);
        assert_eq!(probe(&home.pid()), None);

        let claimed = PidFile::claim(&home).unwrap();
        assert_eq!(running(&home), Some(std::process::id()));
        assert_eq!(probe(&home.pid()), Some(std::process::id()));
        assert!(has_open(std::process::id(), &home.pid()));
        assert!(!has_open(1, &home.pid()), "init does not hold it");
        // The table names the holder even when the file says otherwise.
        std::fs::write(home.pid(), "1").unwrap();
        assert_eq!(running(&home), Some(std::process::id()));
        // Without the table, the file's word is checked against who has the file open.
        assert_eq!(probe(&home.pid()), Some(1));
        assert!(!has_open(1, &home.pid()));
        assert!(PidFile::claim(&home).is_err(), "a second claim");
        drop(claimed);
        assert_eq!(running(&home), None);
        let _again = PidFile::claim(&home).unwrap();
    }

    #[test]
    fn lock_table_lines_are_read_by_device_and_inode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.pid");
        std::fs::write(&path, "").unwrap();
        // The id itself is checked against the kernel's table in the test above.
        let id = lock_table_id(&path).unwrap();
        let table = format!(
            "1: FLOCK  ADVISORY  READ  7 {id} 0 EOF\n\
             2: FLOCK  ADVISORY  WRITE 8 00:00:1 0 EOF\n\
             3: -> FLOCK  ADVISORY  WRITE 9 {id} 0 EOF\n\
             4: FLOCK  ADVISORY  WRITE 42 {id} 0 EOF\n"
        );
        assert_eq!(flock_holder(&path, &table), Some(42));
        assert_eq!(
            flock_holder(&path, "1: POSIX  ADVISORY  WRITE 5 00:00:1 0 EOF"),
            None
        );
    }
}
