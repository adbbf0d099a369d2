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
pub fn write_atomic(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}
