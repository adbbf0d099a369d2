//! Where the worker keeps its files: `~/.bitsage` unless `BITSAGE_HOME` says otherwise.

use std::path::{Path, PathBuf};

use anyhow::Context;

#[derive(Clone, Debug)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// `BITSAGE_HOME`, else `$HOME/.bitsage`.
    pub fn locate() -> anyhow::Result<Self> {
        let root = match std::env::var_os("BITSAGE_HOME") {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(std::env::var_os("HOME").context(
                "neither BITSAGE_HOME nor HOME is set: set BITSAGE_HOME to a directory for the worker's files",
            )?)
            .join(".bitsage"),
        };
        Ok(Self { root })
    }

    #[cfg(test)]
    pub fn at(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn config(&self) -> PathBuf {
        self.root.join("worker.toml")
    }
    pub fn keys(&self) -> PathBuf {
        self.root.join("keys")
    }
    pub fn starknet_keystore(&self) -> PathBuf {
        self.keys().join("starknet.json")
    }
    pub fn elgamal_keystore(&self) -> PathBuf {
        self.keys().join("elgamal.json")
    }
    /// Password of a `local` network's keystores when none was given: local keys hold only
    /// faucet money, and `start --network local` must work without a prompt.
    pub fn local_password(&self) -> PathBuf {
        self.keys().join("local.password")
    }
    /// Finished proofs the coordinator has not acknowledged yet.
    pub fn outbox(&self) -> PathBuf {
        self.root.join("outbox")
    }
    pub fn log(&self) -> PathBuf {
        self.root.join("logs").join("worker.log")
    }
    pub fn pid(&self) -> PathBuf {
        self.root.join("worker.pid")
    }
    /// What the running daemon reports to `status`.
    pub fn state(&self) -> PathBuf {
        self.root.join("state.json")
    }
    pub fn bench(&self) -> PathBuf {
        self.root.join("bench.json")
    }
    /// The embedded coordinator's database on the local network.
    pub fn local_database(&self) -> PathBuf {
        self.root.join("coordinator.db")
    }

    /// Removes the temporaries of [`write_atomic`] that a process which has since ended left
    /// behind (a crash between the write and the rename): one may hold a secret.
    pub fn sweep_temporaries(&self) {
        for dir in [self.root.clone(), self.keys(), self.outbox()] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let writer = name
                    .strip_prefix('.')
                    .and_then(|n| n.strip_suffix(".tmp"))
                    .and_then(|n| n.rsplit_once('.'))
                    .and_then(|(_, id)| id.split_once('-'))
                    .and_then(|(pid, _)| pid.parse::<u32>().ok());
                if let Some(pid) = writer {
                    if !crate::pidfile::alive(pid) {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
        }
    }

    pub fn create_dirs(&self) -> anyhow::Result<()> {
        for dir in [
            self.root.clone(),
            self.keys(),
            self.outbox(),
            self.root.join("logs"),
        ] {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        restrict(&self.keys())?;
        Ok(())
    }
}

/// Owner-only permissions on a secret file or directory.
pub fn restrict(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if path.is_dir() { 0o700 } else { 0o600 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    Ok(())
}

/// Writes `contents` to `path` atomically (a temporary file renamed over it), so a crash
/// leaves the old file or the new one, never half of one.
///
/// The temporary file's name is unique to this call, so two writers of one path (the daemon's
/// state and a command's) never write into each other's file; it is created owner-only, so a
/// secret is never readable by others for a moment; and the directory is synced after the
/// rename, without which a power cut may bring back the old file.
pub fn write_atomic(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);

    let name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?;
    let tmp = path.with_file_name(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    });
    if let Err(error) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(error).with_context(|| format!("writing {}", path.display()));
    }
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        // Some filesystems (9p, some FUSE) cannot sync a directory; the rename stands there.
        match std::fs::File::open(dir).and_then(|d| d.sync_all()) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported
                ) => {}
            other => other.with_context(|| format!("syncing {}", dir.display()))?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_file_owner_only_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
    }

    #[test]
    fn concurrent_atomic_writes_of_one_path_never_mix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::thread::scope(|s| {
            for writer in 0..4u8 {
                let path = &path;
                s.spawn(move || {
                    let contents = vec![b'a' + writer; 64 * 1024];
                    for _ in 0..50 {
                        write_atomic(path, &contents).unwrap();
                        let read = std::fs::read(path).unwrap();
                        assert_eq!(read.len(), contents.len());
                        assert!(read.iter().all(|&b| b == read[0]), "two writes mixed");
                    }
                });
            }
        });
    }

    #[test]
    fn temporaries_of_ended_writers_are_swept_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        home.create_dirs().unwrap();
        // No process has pid 2^31 - 2 (Linux pids stop at 2^22); this process writes the other.
        let dead = home.keys().join(".local.password.2147483646-0.tmp");
        let live = home
            .root()
            .join(format!(".state.json.{}-3.tmp", std::process::id()));
        let other = home.root().join(".hidden.tmp");
        for path in [&dead, &live, &other] {
            std::fs::write(path, "x").unwrap();
        }
        home.sweep_temporaries();
        assert!(!dead.exists());
        assert!(live.exists() && other.exists());
    }

    #[test]
    fn a_failed_atomic_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should go: the rename fails.
        let path = dir.path().join("taken");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), "x").unwrap();
        assert!(write_atomic(&path, b"new").is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["taken"]);
    }
}
