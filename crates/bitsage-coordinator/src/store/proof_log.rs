//! Proofs of a SQLite store, appended to segment files beside the database (`PATH.proofs/`).
//!
//! A proof is about 160 KiB. In SQLite it went to the WAL at commit and into the database again
//! at the next checkpoint, which also fsyncs: over a third of the coordinator's SQLite time per
//! job (profiled with `bitsage-coordinator bench`). A file per proof was tried next: creating
//! an inode per proof cost about what it saved (ext4 without a journal checks free inodes
//! against their deletion time before reusing one). So proofs are appended to segment files of
//! up to [`SEGMENT_BYTES`], and the database keeps each proof's place: segment, offset, length
//! and BLAKE3 hash. PostgreSQL replicas need not share a disk, so they keep proofs in rows.
//!
//! Each writer reserves its range under a lock and writes it with `pwrite` outside it. A proof
//! is written (and, with `power-loss` durability, `fdatasync`ed) before the transaction that
//! records its place commits, so a crash leaves at worst bytes that nothing refers to, never a
//! reference to missing bytes: a restart appends after the segment's end. Reading checks the
//! hash. Bytes nothing refers to (a crash between write and commit, a result that lost its
//! lease meanwhile) are not reclaimed.
//!
//! Writes bypass the page cache (`O_DIRECT`) where the file system allows it. Through the cache,
//! every proof went into pages the kernel had just taken off its free list, never into pages it
//! had used before, and on this project's virtual machines the first touch of such a page is
//! slow and uneven: the copy was the coordinator's largest single cost per job outside
//! verification, from 0.09 to 0.37 ms in profiles of the same bench. A direct write sends the
//! proof from one reused, aligned buffer per thread; each proof starts on a 4 KiB boundary.

use std::cell::RefCell;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bitsage_sql::Durability;

/// A segment grows to about this size before the next one starts.
pub const SEGMENT_BYTES: u64 = 1 << 30;

/// Offsets, lengths and buffers of direct writes are multiples of this: the logical block size
/// of every disk in use, and the page size.
const BLOCK: u64 = 4096;

#[derive(Debug)]
pub struct ProofLog {
    dir: PathBuf,
    sync: bool,
    segment_bytes: u64,
    /// Whether appends write around the page cache; cleared for good if a direct write fails.
    direct: AtomicBool,
    tail: Mutex<Tail>,
}

/// The segment being appended to.
#[derive(Debug)]
struct Tail {
    index: u32,
    file: Arc<File>,
    /// The same file opened for direct writes, where the file system allows them.
    direct: Option<Arc<File>>,
    len: u64,
}

/// Where one proof lies; stored as `SEGMENT:OFFSET:LENGTH:HASH` (hex segment, decimal offset and
/// length, hex BLAKE3).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Place {
    segment: u32,
    offset: u64,
    len: u64,
    hash: String,
}

impl Place {
    fn to_name(&self) -> String {
        format!(
            "{:08x}:{}:{}:{}",
            self.segment, self.offset, self.len, self.hash
        )
    }

    fn parse(name: &str) -> io::Result<Self> {
        let bad = || {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("`{name}` is not a proof's place"),
            )
        };
        let mut parts = name.split(':');
        let mut next = || parts.next().ok_or_else(bad);
        let segment = u32::from_str_radix(next()?, 16).map_err(|_| bad())?;
        let offset = next()?.parse().map_err(|_| bad())?;
        let len = next()?.parse().map_err(|_| bad())?;
        let hash = next()?.to_string();
        let hex =
            |h: &str| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if parts.next().is_some() || !hex(&hash) {
            return Err(bad());
        }
        Ok(Self {
            segment,
            offset,
            len,
            hash,
        })
    }
}

fn segment_path(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("{index:08x}.seg"))
}

fn open_segment(dir: &Path, index: u32) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(segment_path(dir, index))
}

/// The segment, opened again for direct writes; `None` where the file system refuses them.
fn open_direct(dir: &Path, index: u32) -> io::Result<Option<File>> {
    let opened = OpenOptions::new()
        .write(true)
        .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
        .open(segment_path(dir, index));
    match opened {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            tracing::info!(
                error = %e,
                "the proof log's file system refuses O_DIRECT; writing through the page cache"
            );
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn round_up(n: u64) -> u64 {
    n.div_ceil(BLOCK) * BLOCK
}

thread_local! {
    /// Each appending thread's buffer for direct writes, kept so that its pages stay warm.
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// `proof` followed by zeros up to a multiple of [`BLOCK`], at an address inside `buffer` that
/// is a multiple of it too, as direct writes need; `None` if no such address can be had.
fn padded<'b>(buffer: &'b mut Vec<u8>, proof: &[u8]) -> Option<&'b [u8]> {
    let len = round_up(proof.len() as u64) as usize;
    let block = BLOCK as usize;
    if buffer.len() < len + block {
        *buffer = vec![0; (len + block).next_power_of_two()];
    }
    let start = buffer.as_ptr().align_offset(block);
    let out = buffer.get_mut(start..start + len)?;
    out[..proof.len()].copy_from_slice(proof);
    out[proof.len()..].fill(0);
    Some(out)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl ProofLog {
    /// The folder beside the database file `db`, created if missing; appending resumes at the
    /// end of its last segment.
    pub fn beside(db: &Path, durability: Durability) -> io::Result<Self> {
        Self::with_segment_bytes(db, durability, SEGMENT_BYTES)
    }

    fn with_segment_bytes(
        db: &Path,
        durability: Durability,
        segment_bytes: u64,
    ) -> io::Result<Self> {
        let mut dir = db.as_os_str().to_owned();
        dir.push(".proofs");
        let dir = PathBuf::from(dir);
        let sync = durability == Durability::PowerLoss;
        fs::create_dir_all(&dir)?;
        let mut last = 0;
        for entry in fs::read_dir(&dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(index) = name.strip_suffix(".seg") {
                if let Ok(index) = u32::from_str_radix(index, 16) {
                    last = last.max(index);
                }
            }
        }
        let file = open_segment(&dir, last)?;
        let direct = open_direct(&dir, last)?.map(Arc::new);
        let len = file.metadata()?.len();
        if sync {
            file.sync_all()?;
            sync_dir(&dir)?;
            let parent = match dir.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            sync_dir(parent)?;
        }
        Ok(Self {
            dir,
            sync,
            segment_bytes,
            direct: AtomicBool::new(direct.is_some()),
            tail: Mutex::new(Tail {
                index: last,
                file: Arc::new(file),
                direct,
                len,
            }),
        })
    }

    /// Appends `proof` and returns its place. Blocking: call it off the async runtime.
    pub fn append(&self, proof: &[u8]) -> io::Result<String> {
        self.append_hashed(proof, &blake3::hash(proof))
    }

    /// [`ProofLog::append`] of a proof whose BLAKE3 `hash` is known already (the signed upload's
    /// body hash): hashing a proof costs about as much as writing it.
    pub fn append_hashed(&self, proof: &[u8], hash: &blake3::Hash) -> io::Result<String> {
        let hash = hash.to_hex().to_string();
        let len = proof.len() as u64;
        let (file, direct, segment, offset) = {
            let mut tail = self.tail.lock().expect("proof log lock");
            let wants_direct = self.direct.load(Ordering::Relaxed);
            let reserved = if wants_direct { round_up(len) } else { len };
            if tail.len > 0 && tail.len + reserved > self.segment_bytes {
                let index = tail.index.checked_add(1).ok_or_else(|| {
                    io::Error::other("the proof log has used every segment number")
                })?;
                let file = open_segment(&self.dir, index)?;
                let direct = match wants_direct {
                    true => open_direct(&self.dir, index)?.map(Arc::new),
                    false => None,
                };
                if self.sync {
                    sync_dir(&self.dir)?;
                }
                *tail = Tail {
                    index,
                    file: Arc::new(file),
                    direct,
                    len: 0,
                };
            }
            let direct = tail.direct.clone().filter(|_| wants_direct);
            // A direct write starts on a block boundary: after bytes written through the cache
            // (by an older version, or after a failed direct write) the gap up to it is bytes
            // that nothing refers to.
            let offset = match direct {
                Some(_) => round_up(tail.len),
                None => tail.len,
            };
            tail.len = offset + reserved;
            (tail.file.clone(), direct, tail.index, offset)
        };
        let written = direct.map(|direct| {
            BUFFER.with_borrow_mut(|buffer| match padded(buffer, proof) {
                Some(bytes) => direct.write_all_at(bytes, offset),
                None => Err(io::Error::other("no aligned buffer")),
            })
        });
        match written {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                // Some file systems open with `O_DIRECT` and then refuse the writes. The range
                // is still this proof's, written through the cache.
                tracing::warn!(
                    error = %e,
                    "a direct write to the proof log failed; writing through the page cache"
                );
                self.direct.store(false, Ordering::Relaxed);
                file.write_all_at(proof, offset)?;
            }
            None => file.write_all_at(proof, offset)?,
        }
        if self.sync {
            file.sync_data()?;
        }
        Ok(Place {
            segment,
            offset,
            len,
            hash,
        }
        .to_name())
    }

    /// The proof at `place`, checked against its hash.
    pub fn read(&self, place: &str) -> io::Result<Vec<u8>> {
        let place = Place::parse(place)?;
        let path = segment_path(&self.dir, place.segment);
        let file = File::open(&path)?;
        let size = file.metadata()?.len();
        if place
            .offset
            .checked_add(place.len)
            .is_none_or(|end| end > size)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is shorter than the recorded proof", path.display()),
            ));
        }
        let mut proof = vec![0; usize::try_from(place.len).map_err(io::Error::other)?];
        file.read_exact_at(&mut proof, place.offset)?;
        if blake3::hash(&proof).to_hex().as_str() != place.hash {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} at {}: the bytes do not hash to the recorded proof",
                    path.display(),
                    place.offset
                ),
            ));
        }
        Ok(proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proof(seed: u32, len: u32) -> Vec<u8> {
        (0..len).map(|i| ((i * 7 + seed) % 251) as u8).collect()
    }

    #[test]
    fn proofs_round_trip_across_segments_and_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        for durability in [Durability::Process, Durability::PowerLoss] {
            let log = ProofLog::with_segment_bytes(&db, durability, 250_000).unwrap();
            let proofs: Vec<Vec<u8>> = (0..5).map(|i| proof(i, 100_000 + i)).collect();
            let places: Vec<String> = proofs.iter().map(|p| log.append(p).unwrap()).collect();
            for (p, place) in proofs.iter().zip(&places) {
                assert_eq!(&log.read(place).unwrap(), p);
            }
            let segments: Vec<u32> = places
                .iter()
                .map(|p| Place::parse(p).unwrap().segment)
                .collect();
            assert!(segments.windows(2).all(|w| w[0] <= w[1]));
            assert!(
                segments.last() > segments.first(),
                "{segments:?}: no roll-over"
            );
            drop(log);
            // Reopened, it appends after what is there and still reads the old places.
            let log = ProofLog::with_segment_bytes(&db, durability, 250_000).unwrap();
            let more = log.append(&proof(9, 1000)).unwrap();
            assert!(!places.contains(&more));
            for (p, place) in proofs.iter().zip(&places) {
                assert_eq!(&log.read(place).unwrap(), p);
            }
            assert_eq!(log.read(&more).unwrap(), proof(9, 1000));
        }
    }

    #[test]
    fn appends_after_a_segment_written_through_the_cache_start_on_a_block() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        let proofs_dir = dir.path().join("c.db.proofs");
        fs::create_dir_all(&proofs_dir).unwrap();
        // A segment as an older version left it: one proof of an unaligned length.
        let old = proof(3, 1000);
        fs::write(segment_path(&proofs_dir, 0), &old).unwrap();
        let old_place = Place {
            segment: 0,
            offset: 0,
            len: 1000,
            hash: blake3::hash(&old).to_hex().to_string(),
        }
        .to_name();

        let log = ProofLog::beside(&db, Durability::Process).unwrap();
        let new = proof(4, 5000);
        let place = Place::parse(&log.append(&new).unwrap()).unwrap();
        if log.direct.load(Ordering::Relaxed) {
            assert_eq!(
                place.offset, BLOCK,
                "after the old proof, on the next block"
            );
        } else {
            eprintln!("skipping the alignment check: this file system refuses O_DIRECT");
            assert_eq!(place.offset, 1000);
        }
        assert_eq!(log.read(&old_place).unwrap(), old);
        assert_eq!(log.read(&place.to_name()).unwrap(), new);
    }

    #[test]
    fn padding_is_zeros_after_the_proof_at_an_aligned_address() {
        let mut buffer = vec![7u8; 10];
        for len in [1, 4095, 4096, 4097, 150_000] {
            let p = proof(len as u32, len as u32);
            let out = padded(&mut buffer, &p).unwrap();
            assert_eq!(out.as_ptr() as usize % BLOCK as usize, 0);
            assert_eq!(out.len() as u64, round_up(len as u64));
            assert_eq!(&out[..len], &p[..]);
            assert!(out[len..].iter().all(|&b| b == 0), "{len}");
        }
    }

    #[test]
    fn damaged_bytes_and_bad_places_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        let log = ProofLog::beside(&db, Durability::Process).unwrap();
        let place = log.append(&proof(1, 5000)).unwrap();
        let parsed = Place::parse(&place).unwrap();
        let file = open_segment(&log.dir, parsed.segment).unwrap();
        file.write_all_at(b"x", parsed.offset + 10).unwrap();
        assert!(
            log.read(&place).is_err(),
            "damaged bytes must not be served"
        );
        for bad in [
            "",
            "0:0:10",
            "zz:0:1:00",
            "0:0:1:abc",
            &format!("{place}:1"),
        ] {
            assert!(log.read(bad).is_err(), "{bad:?}");
        }
        let mut wrong_len = parsed.clone();
        wrong_len.len -= 1;
        assert!(log.read(&wrong_len.to_name()).is_err());
        let mut past_the_end = parsed.clone();
        past_the_end.len = u64::MAX / 2;
        assert!(log.read(&past_the_end.to_name()).is_err());
    }

    #[test]
    fn concurrent_appends_get_their_own_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let log =
            Arc::new(ProofLog::beside(&dir.path().join("c.db"), Durability::Process).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    (0..20)
                        .map(|i| {
                            let p = proof(t * 100 + i, 3000 + i);
                            (log.append(&p).unwrap(), p)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for t in threads {
            for (place, p) in t.join().unwrap() {
                assert_eq!(log.read(&place).unwrap(), p);
            }
        }
    }
}
