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
        files
            .into_iter()
            .map(|e| {
                let text = std::fs::read(e.path())?;
                serde_json::from_slice(&text).with_context(|| format!("{}", e.path().display()))
            })
            .collect()
    }
}
