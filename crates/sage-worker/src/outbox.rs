//! Finished proofs wait here until the coordinator acknowledges them, so a crash or an absent
//! coordinator never loses one. One file per job, written atomically.

use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::home::{write_atomic, Home};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub job_id: String,
    pub lease_id: String,
    /// Base64 of the binary proof.
    pub proof: String,
}

#[derive(Clone, Debug)]
pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    pub fn new(home: &Home) -> Self {
        Self { dir: home.outbox() }
    }

    fn path(&self, job_id: &str) -> PathBuf {
        let safe: String = job_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        self.dir.join(format!("{safe}.json"))
    }

    pub fn save(&self, pending: &Pending) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let bytes = serde_json::to_vec(pending)?;
        write_atomic(&self.path(&pending.job_id), &bytes)
    }

    pub fn remove(&self, job_id: &str) {
        let _ = std::fs::remove_file(self.path(job_id));
    }

    /// Every proof still waiting, oldest file first.
    pub fn pending(&self) -> anyhow::Result<Vec<Pending>> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(Vec::new());
        };
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort_by_key(|e| e.metadata().and_then(|m| m.modified()).ok());
        // One unreadable entry (damaged, foreign, or removed meanwhile) must not hold back the
        // others.
        let read = |path: &std::path::Path| -> anyhow::Result<Pending> {
            let text = std::fs::read(path)?;
            serde_json::from_slice(&text).with_context(|| format!("{}", path.display()))
        };
        Ok(files
            .into_iter()
            .filter_map(|e| match read(&e.path()) {
                Ok(pending) => Some(pending),
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "skipping an outbox entry");
                    None
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_entry_does_not_hold_back_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox {
            dir: dir.path().to_path_buf(),
        };
        let kept = Pending {
            job_id: "0xab".into(),
            lease_id: "l".into(),
            proof: "cHJvb2Y=".into(),
        };
        std::fs::write(dir.path().join("damaged.json"), b"{ not json").unwrap();
        outbox.save(&kept).unwrap();
        assert_eq!(outbox.pending().unwrap(), vec![kept]);
    }
}
