//! Proofs of a SQLite store, kept as files beside the database (`PATH.proofs/`).
//!
//! A proof is about 160 KiB. In SQLite it went to the WAL at commit and into the database again
//! at the next checkpoint, which also fsyncs: over a third of the coordinator's SQLite time per
//! job (profiled with `bitsage-coordinator bench`). A file is written once, and the database
//! keeps only its name. PostgreSQL replicas need not share a disk, so they keep proofs in rows.
//!
//! A file is named by the BLAKE3 hash of its bytes, under a folder of the hash's first two hex
//! digits, and appears by an atomic rename, so a name always holds the whole proof it names and
//! writing the same proof twice is harmless. It is written (and, with `power-loss` durability,
//! fsynced with its folder) before the transaction that records its name commits: a crash
//! between the two leaves an unreferenced file, never a reference to a missing one. Reading
//! checks the hash.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bitsage_sql::Durability;

#[derive(Debug)]
pub struct ProofFiles {
    dir: PathBuf,
    sync: bool,
    next_temporary: AtomicU64,
}

const TEMPORARY_SUFFIX: &str = ".partial";

impl ProofFiles {
    /// The folder beside the database file `db`, with its 256 shard folders, created if
    /// missing (and fsynced, for `power-loss`, so that no write has to create a folder). Files a
    /// crash left half written are removed.
    pub fn beside(db: &Path, durability: Durability) -> io::Result<Self> {
        let mut dir = db.as_os_str().to_owned();
        dir.push(".proofs");
        let files = Self {
            dir: PathBuf::from(dir),
            sync: durability == Durability::PowerLoss,
            next_temporary: AtomicU64::new(0),
        };
        for shard in 0..=255u8 {
            fs::create_dir_all(files.dir.join(format!("{shard:02x}")))?;
        }
        if files.sync {
            File::open(&files.dir)?.sync_all()?;
            let parent = match files.dir.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            File::open(parent)?.sync_all()?;
        }
        files.remove_partial_files()?;
        Ok(files)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn remove_partial_files(&self) -> io::Result<()> {
        for shard in fs::read_dir(&self.dir)? {
            let shard = shard?.path();
            if !shard.is_dir() {
                continue;
            }
            for file in fs::read_dir(&shard)? {
                let file = file?.path();
                if file.to_string_lossy().ends_with(TEMPORARY_SUFFIX) {
                    fs::remove_file(&file)?;
                }
            }
        }
        Ok(())
    }

    fn path_of(&self, name: &str) -> io::Result<PathBuf> {
        if name.len() != 64 || !name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("`{name}` is not a proof file name"),
            ));
        }
        Ok(self.dir.join(&name[..2]).join(name))
    }

    /// Stores `proof` and returns its name. Blocking: call it off the async runtime.
    pub fn write(&self, proof: &[u8]) -> io::Result<String> {
        let name = blake3::hash(proof).to_hex().to_string();
        let path = self.path_of(&name)?;
        if path.exists() {
            return Ok(name);
        }
        let shard = path.parent().expect("a shard folder");
        let temporary = shard.join(format!(
            "{name}.{}.{}{TEMPORARY_SUFFIX}",
            std::process::id(),
            self.next_temporary.fetch_add(1, Ordering::Relaxed)
        ));
        let mut file = File::create(&temporary)?;
        file.write_all(proof)?;
        if self.sync {
            file.sync_all()?;
        }
        drop(file);
        fs::rename(&temporary, &path)?;
        if self.sync {
            File::open(shard)?.sync_all()?;
        }
        Ok(name)
    }

    /// The proof stored under `name`, checked against it.
    pub fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let path = self.path_of(name)?;
        let proof = fs::read(&path)?;
        if blake3::hash(&proof).to_hex().as_str() != name {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} does not hash to its name", path.display()),
            ));
        }
        Ok(proof)
    }

    /// Deletes a file no row refers to. A missing file is no error.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        match fs::remove_file(self.path_of(name)?) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_round_trips_and_a_damaged_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        for durability in [Durability::Process, Durability::PowerLoss] {
            let files = ProofFiles::beside(&db, durability).unwrap();
            let proof: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
            let name = files.write(&proof).unwrap();
            assert_eq!(files.write(&proof).unwrap(), name, "same bytes, same name");
            assert_eq!(files.read(&name).unwrap(), proof);
            let path = files.path_of(&name).unwrap();
            assert!(path.starts_with(dir.path().join("c.db.proofs")));
            fs::write(&path, &proof[1..]).unwrap();
            assert!(
                files.read(&name).is_err(),
                "a damaged file must not be served"
            );
            files.remove(&name).unwrap();
            files.remove(&name).unwrap();
            assert!(files.read(&name).is_err());
        }
    }

    #[test]
    fn names_are_checked_and_partial_files_swept() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        let files = ProofFiles::beside(&db, Durability::Process).unwrap();
        assert!(files.read("../../etc/passwd").is_err());
        let name = files.write(b"proof").unwrap();
        let shard = files.path_of(&name).unwrap().parent().unwrap().to_owned();
        let partial = shard.join(format!("{name}.1.0{TEMPORARY_SUFFIX}"));
        fs::write(&partial, b"pro").unwrap();
        drop(files);
        let files = ProofFiles::beside(&db, Durability::Process).unwrap();
        assert!(!partial.exists());
        assert_eq!(files.read(&name).unwrap(), b"proof");
    }
}
