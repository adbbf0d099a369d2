//! A SQLite VFS over the default one (`unix`) that writes each WAL commit in one system call.
//!
//! SQLite writes a commit to its write-ahead log frame by frame, two `pwrite`s per page (the
//! 24-byte frame header, then the page). The coordinator commits about ten pages per request,
//! so its WAL cost twenty system calls and twenty trips through the file system per commit,
//! more CPU than the bytes themselves (docs/benchmarks.md has the figures;
//! `tests/one_write_per_commit.rs` counts the calls). This VFS keeps the log's consecutive writes
//! in a buffer and hands them to the default VFS as one write (in pieces of up to 124 KiB, the
//! most the default VFS writes at once) when SQLite syncs the log at the end of the commit,
//! before the commit counts: what a commit wrote is in the file (the page cache) before SQLite
//! reports it done, as with plain SQLite.
//!
//! What a sync then does is the [`CommitSync`] the VFS was registered for:
//! - [`CommitSync::Flush`]: a commit's sync only writes the buffer out. Commits survive a crash or
//!   `kill -9` of the process, not a power loss: SQLite's `synchronous = NORMAL` in WAL mode.
//! - [`CommitSync::Fsync`]: every sync writes the buffer out and syncs the file:
//!   `synchronous = FULL`.
//!
//! For SQLite to sync the log at every commit at all, a connection opened with this VFS runs
//! [`REQUIRED_PRAGMAS`]: `synchronous = FULL` and `checkpoint_fullfsync = ON`. The second marks
//! the syncs that order a checkpoint (the log before the database is overwritten, the log's
//! header after it restarts) with `SQLITE_SYNC_FULL`, where a commit's sync carries
//! `SQLITE_SYNC_NORMAL` (`sqlite3PagerSetFlags`, `WAL_SYNC_FLAGS` and `CKPT_SYNC_FLAGS` in
//! SQLite's source). Those always reach the disk, so a checkpoint cut by a power loss is replayed
//! from a log that is on disk, as with `synchronous = NORMAL`.
//!
//! Only the log goes through the buffer; the database file and every other file are the default
//! VFS's own. The log's writes are buffered only while they follow each other; any other write,
//! and every read, truncation, size query, sync and close, writes the buffer out first, so SQLite
//! always reads what it wrote, in the order it wrote it. A failed write-out fails the call that
//! caused it: at a commit, the commit's sync, which SQLite treats as a failed commit.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::mem::size_of;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use rusqlite::ffi;

/// What [`register`] needs on every connection opened with its VFS, run right after opening.
pub const REQUIRED_PRAGMAS: &str = "PRAGMA synchronous = FULL; PRAGMA checkpoint_fullfsync = ON;";

/// A buffered run of log writes is written out when it would pass this many bytes: a commit of a
/// thousand pages still costs one call per 4 MiB, and a huge transaction does not hold its whole
/// log in memory.
const MAX_PENDING: usize = 4 << 20;

/// The most the unix VFS writes in one call: it masks a write's length to 17 bits
/// (`seekAndWriteFd`), as SQLite itself never writes more than a page. A multiple of 4 KiB.
const MAX_WRITE: usize = 0x1f000;

/// What a commit's sync of the log does, beyond writing the buffered frames out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitSync {
    /// Nothing more: the commit is in the page cache, safe from a process crash.
    Flush,
    /// `fsync` (`fdatasync`) the log: the commit is on disk.
    Fsync,
}

impl CommitSync {
    /// The name to open a connection with (`Connection::open_with_flags_and_vfs`), once
    /// [`register`]ed.
    pub fn vfs_name(self) -> &'static str {
        match self {
            CommitSync::Flush => "bitsage-wal-flush",
            CommitSync::Fsync => "bitsage-wal-fsync",
        }
    }

    fn c_name(self) -> &'static CStr {
        match self {
            CommitSync::Flush => c"bitsage-wal-flush",
            CommitSync::Fsync => c"bitsage-wal-fsync",
        }
    }
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    #[error("SQLite has no default VFS to build on")]
    NoDefaultVfs,
    #[error("registering the SQLite VFS {name}: SQLite error {code}")]
    Register { name: &'static str, code: c_int },
}

/// Registers both VFSes with SQLite (once per process; later calls only look the result up)
/// and returns `mode`'s name.
pub fn register(mode: CommitSync) -> Result<&'static str, Error> {
    static REGISTERED: OnceLock<Result<(), Error>> = OnceLock::new();
    REGISTERED
        .get_or_init(register_both)
        .clone()
        .map(|()| mode.vfs_name())
}

/// Writes and syncs that this process's buffered logs handed to the default VFS, for tests and
/// diagnostics. Counted over every connection of the process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Calls to SQLite's log write that were buffered.
    pub buffered: u64,
    /// Writes handed to the default VFS.
    pub writes: u64,
    /// Syncs handed to the default VFS.
    pub syncs: u64,
}

pub fn counters() -> Counters {
    Counters {
        buffered: BUFFERED.load(Ordering::Relaxed),
        writes: WRITES.load(Ordering::Relaxed),
        syncs: SYNCS.load(Ordering::Relaxed),
    }
}

static BUFFERED: AtomicU64 = AtomicU64::new(0);
static WRITES: AtomicU64 = AtomicU64::new(0);
static SYNCS: AtomicU64 = AtomicU64::new(0);

/// One registered VFS: SQLite's struct first, so that the `sqlite3_vfs*` SQLite hands back is
/// this struct's address.
#[repr(C)]
struct Shim {
    vfs: ffi::sqlite3_vfs,
    base: *mut ffi::sqlite3_vfs,
    mode: CommitSync,
}

fn register_both() -> Result<(), Error> {
    // SAFETY: `sqlite3_vfs_find(NULL)` returns the default VFS, which SQLite never frees.
    let base = unsafe { ffi::sqlite3_vfs_find(ptr::null()) };
    if base.is_null() {
        return Err(Error::NoDefaultVfs);
    }
    for mode in [CommitSync::Flush, CommitSync::Fsync] {
        // SAFETY: `base` is a live VFS; its struct is plain data and function pointers.
        let mut vfs = unsafe { ptr::read(base) };
        // The default VFS's own methods stay, and are called with this struct: they read only
        // `pAppData` (the unix VFS keeps its lock-style finder there) and `mxPathname`, which
        // are copied.
        vfs.pNext = ptr::null_mut();
        vfs.zName = mode.c_name().as_ptr();
        vfs.szOsFile = vfs.szOsFile.max(size_of::<LogFile>() as c_int);
        vfs.xOpen = Some(open);
        let shim = Box::leak(Box::new(Shim { vfs, base, mode }));
        // SAFETY: `shim` lives for the rest of the process, as SQLite requires of a VFS.
        let code = unsafe { ffi::sqlite3_vfs_register(&mut shim.vfs, 0) };
        if code != ffi::SQLITE_OK {
            return Err(Error::Register {
                name: mode.vfs_name(),
                code,
            });
        }
    }
    Ok(())
}

/// A log file: SQLite's struct first (its methods are [`LOG_METHODS`]), then the default VFS's
/// file, which this one wraps.
#[repr(C)]
struct LogFile {
    file: ffi::sqlite3_file,
    inner: *mut ffi::sqlite3_file,
    mode: CommitSync,
    pending: Pending,
}

/// Log bytes written by SQLite and not yet handed on: `bytes` belong at `offset` onwards.
struct Pending {
    offset: i64,
    bytes: Vec<u8>,
}

unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let shim = &*(vfs as *const Shim);
    let base = &*shim.base;
    let base_open = base.xOpen.expect("a VFS has xOpen");
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        // Everything but the log is the default VFS's own file, opened in place: `szOsFile`
        // covers the larger of the two structs.
        return base_open(shim.base, name, file, flags, out_flags);
    }
    (*file).pMethods = ptr::null();
    let inner = ffi::sqlite3_malloc(base.szOsFile) as *mut ffi::sqlite3_file;
    if inner.is_null() {
        return ffi::SQLITE_NOMEM;
    }
    ptr::write_bytes(inner as *mut u8, 0, base.szOsFile as usize);
    let rc = base_open(shim.base, name, inner, flags, out_flags);
    if rc != ffi::SQLITE_OK {
        // As SQLite itself does: a file whose open failed is closed if it has methods.
        if let Some(close) = (*inner).pMethods.as_ref().and_then(|m| m.xClose) {
            close(inner);
        }
        ffi::sqlite3_free(inner as *mut c_void);
        return rc;
    }
    ptr::write(
        file as *mut LogFile,
        LogFile {
            file: ffi::sqlite3_file {
                pMethods: &LOG_METHODS,
            },
            inner,
            mode: shim.mode,
            pending: Pending {
                offset: 0,
                bytes: Vec::new(),
            },
        },
    );
    ffi::SQLITE_OK
}

/// Version 1: a log file has no shared memory and is never memory-mapped (SQLite asks those of
/// the database file).
static LOG_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(log_close),
    xRead: Some(log_read),
    xWrite: Some(log_write),
    xTruncate: Some(log_truncate),
    xSync: Some(log_sync),
    xFileSize: Some(log_file_size),
    xLock: Some(log_lock),
    xUnlock: Some(log_unlock),
    xCheckReservedLock: Some(log_check_reserved_lock),
    xFileControl: Some(log_file_control),
    xSectorSize: Some(log_sector_size),
    xDeviceCharacteristics: Some(log_device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

/// The log file behind SQLite's pointer. SQLite calls a file's methods from one thread at a
/// time (the connection's), so the `&mut` is unique.
unsafe fn log<'a>(file: *mut ffi::sqlite3_file) -> &'a mut LogFile {
    &mut *(file as *mut LogFile)
}

unsafe fn inner(log: &LogFile) -> &ffi::sqlite3_io_methods {
    &*(*log.inner).pMethods
}

/// Hands the buffered bytes to the default VFS, in one write per [`MAX_WRITE`] bytes.
unsafe fn write_out(log: &mut LogFile) -> c_int {
    let write = inner(log).xWrite.expect("a file has xWrite");
    let mut rc = ffi::SQLITE_OK;
    let mut offset = log.pending.offset;
    for chunk in log.pending.bytes.chunks(MAX_WRITE) {
        rc = write(
            log.inner,
            chunk.as_ptr() as *const c_void,
            chunk.len() as c_int,
            offset,
        );
        WRITES.fetch_add(1, Ordering::Relaxed);
        if rc != ffi::SQLITE_OK {
            break;
        }
        offset += chunk.len() as i64;
    }
    // Kept or not, the bytes are SQLite's to write again: a failed commit is rolled back and
    // its frames are rewritten by the next one.
    log.pending.bytes.clear();
    rc
}

unsafe extern "C" fn log_close(file: *mut ffi::sqlite3_file) -> c_int {
    let log = log(file);
    let written = write_out(log);
    let closed = inner(log)
        .xClose
        .map_or(ffi::SQLITE_OK, |close| close(log.inner));
    ffi::sqlite3_free(log.inner as *mut c_void);
    ptr::drop_in_place(&mut log.pending);
    log.file.pMethods = ptr::null();
    if written != ffi::SQLITE_OK {
        written
    } else {
        closed
    }
}

unsafe extern "C" fn log_read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let log = log(file);
    let rc = write_out(log);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    inner(log).xRead.expect("a file has xRead")(log.inner, buf, amount, offset)
}

unsafe extern "C" fn log_write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let log = log(file);
    let Ok(len) = usize::try_from(amount) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    let pending = &log.pending;
    let follows = !pending.bytes.is_empty()
        && offset == pending.offset + pending.bytes.len() as i64
        && pending.bytes.len() + len <= MAX_PENDING;
    if !follows {
        let rc = write_out(log);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        log.pending.offset = offset;
    }
    log.pending
        .bytes
        .extend_from_slice(std::slice::from_raw_parts(buf as *const u8, len));
    BUFFERED.fetch_add(1, Ordering::Relaxed);
    ffi::SQLITE_OK
}

unsafe extern "C" fn log_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    let log = log(file);
    let rc = write_out(log);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    inner(log).xTruncate.expect("a file has xTruncate")(log.inner, size)
}

unsafe extern "C" fn log_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    let log = log(file);
    let rc = write_out(log);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    // A checkpoint's syncs carry SQLITE_SYNC_FULL (`checkpoint_fullfsync`), a commit's
    // SQLITE_SYNC_NORMAL.
    let ordering_checkpoint = flags & 0x0f == ffi::SQLITE_SYNC_FULL;
    if log.mode == CommitSync::Flush && !ordering_checkpoint {
        return ffi::SQLITE_OK;
    }
    SYNCS.fetch_add(1, Ordering::Relaxed);
    inner(log).xSync.expect("a file has xSync")(log.inner, flags)
}

unsafe extern "C" fn log_file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    let log = log(file);
    let rc = write_out(log);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    inner(log).xFileSize.expect("a file has xFileSize")(log.inner, size)
}

unsafe extern "C" fn log_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    let log = log(file);
    inner(log).xLock.expect("a file has xLock")(log.inner, level)
}

unsafe extern "C" fn log_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    let log = log(file);
    inner(log).xUnlock.expect("a file has xUnlock")(log.inner, level)
}

unsafe extern "C" fn log_check_reserved_lock(
    file: *mut ffi::sqlite3_file,
    out: *mut c_int,
) -> c_int {
    let log = log(file);
    inner(log)
        .xCheckReservedLock
        .expect("a file has xCheckReservedLock")(log.inner, out)
}

unsafe extern "C" fn log_file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    let log = log(file);
    match inner(log).xFileControl {
        Some(control) => control(log.inner, op, arg),
        None => ffi::SQLITE_NOTFOUND,
    }
}

unsafe extern "C" fn log_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    let log = log(file);
    inner(log).xSectorSize.map_or(4096, |f| f(log.inner))
}

unsafe extern "C" fn log_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    let log = log(file);
    inner(log)
        .xDeviceCharacteristics
        .map_or(0, |f| f(log.inner))
}
