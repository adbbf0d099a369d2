//! The allocator for processes that prove.
//!
//! A 2^20-step proof allocates and frees a few GiB in phases of a few hundred MiB. Returned to
//! the kernel between phases, every page comes back zeroed on its next first touch: on the 2-core
//! development machine that was 5–7 s of system time per 2^20-step proof, more than the proof
//! itself. mimalloc with purging turned off keeps freed memory mapped and reuses it, so a
//! proving process holds on to its peak (about 2.8 GiB at 2^20 steps) instead of faulting it
//! in again for every phase and every job.
//!
//! ```no_run
//! #[global_allocator]
//! static GLOBAL: bitsage_alloc::Allocator = bitsage_alloc::Allocator;
//!
//! fn main() {
//!     bitsage_alloc::keep_freed_memory();
//! }
//! ```

use libmimalloc_sys::{mi_option_set, mi_option_t};

pub use mimalloc::MiMalloc as Allocator;

// Indices into `mi_option_e` of mimalloc v3 (`c_src/mimalloc/v3/include/mimalloc.h`), which the
// Rust bindings do not name. The `defaults_match_mimalloc_v3` test catches a renumbering.
const ARENA_EAGER_COMMIT: mi_option_t = 4;
const PURGE_DELAY: mi_option_t = 15;

/// Tells mimalloc never to hand freed memory back to the kernel and to commit its arenas up
/// front. Call first thing in `main`; the options apply from then on.
pub fn keep_freed_memory() {
    // SAFETY: setting an option is a plain store into mimalloc's option table; any value is
    // valid for these two options (-1 means "never purge").
    unsafe {
        mi_option_set(PURGE_DELAY, -1);
        mi_option_set(ARENA_EAGER_COMMIT, 1);
    }
}

#[cfg(test)]
mod tests {
    use libmimalloc_sys::mi_option_get;

    use super::*;

    #[test]
    fn defaults_match_mimalloc_v3() {
        if std::env::vars().any(|(k, _)| k.starts_with("MIMALLOC_")) {
            eprintln!("skipped: a MIMALLOC_* variable overrides the defaults this test checks");
            return;
        }
        // SAFETY: reading an option has no preconditions.
        let (eager, delay) = unsafe {
            (
                mi_option_get(ARENA_EAGER_COMMIT),
                mi_option_get(PURGE_DELAY),
            )
        };
        assert_eq!(
            (eager, delay),
            (2, 1000),
            "mimalloc's option numbering changed"
        );
        keep_freed_memory();
        // SAFETY: as above.
        let (eager, delay) = unsafe {
            (
                mi_option_get(ARENA_EAGER_COMMIT),
                mi_option_get(PURGE_DELAY),
            )
        };
        assert_eq!((eager, delay), (1, -1));
    }
}
