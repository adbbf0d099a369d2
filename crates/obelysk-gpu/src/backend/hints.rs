//! Read hints: the rows recently read from any column, numbered in the order they came. A
//! decommitment reads every column of a tree at the same queries (folded down for shorter
//! columns and for Merkle layers and FRI layers), so the rows one column was read at say which
//! rows the others will be: a group's fetch brings those (see `column::ReadGroup`). The
//! queries themselves are hinted before the first read (see `queries`).

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use super::u32_of;

/// Recent reads as (log2 of the column's length, row), oldest first, each with its number in
/// the sequence of all hints.
static READ_HINTS: Mutex<Hints> = Mutex::new(Hints {
    queue: VecDeque::new(),
    next: 1,
});

struct Hints {
    queue: VecDeque<(u32, u32, u64)>,
    next: u64,
}

/// Hints kept: a few proofs' worth of queries.
const MAX_READ_HINTS: usize = 2048;
/// The pair of rows a hint at row `i` of a column of 2^l values points at in a column of 2^log
/// (l ≥ log): the pair containing `i >> (l − log)`, which is where both stwo's lift and a
/// Merkle path read.
pub(super) fn hinted_pair(l: u32, i: u32, log: u32) -> Option<[u32; 2]> {
    if l < log {
        return None;
    }
    let pair = (i >> (l - log + 1)) << 1;
    ((pair as usize) < (1usize << log)).then_some([pair, pair | 1])
}

/// The rows of a column of 2^log values that the hints numbered `after + 1 ..= upto` point at,
/// sorted.
pub(super) fn hinted_rows_between(log: u32, after: u64, upto: u64) -> Vec<u32> {
    let hints = READ_HINTS.lock().unwrap_or_else(PoisonError::into_inner);
    let mut rows: Vec<u32> = hints
        .queue
        .iter()
        .filter(|&&(l, _, n)| n > after && n <= upto && l >= log)
        .filter_map(|&(l, i, _)| hinted_pair(l, i, log))
        .flatten()
        .collect();
    rows.sort_unstable();
    rows.dedup();
    rows
}

/// The rows of a column of 2^log values that the hints point at.
pub(super) fn hinted_rows(log: u32) -> Vec<u32> {
    hinted_rows_between(log, 0, u64::MAX)
}

/// The number of the newest hint (0 before any).
pub(super) fn newest_hint() -> u64 {
    READ_HINTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .next
        - 1
}

/// Adds a hint: row `row` of a column of 2^log values was (or will be) read.
pub(super) fn hint(log: u32, row: usize) {
    let mut hints = READ_HINTS.lock().unwrap_or_else(PoisonError::into_inner);
    if hints.queue.len() == MAX_READ_HINTS {
        hints.queue.pop_front();
    }
    let n = hints.next;
    hints.next += 1;
    hints.queue.push_back((log, u32_of(row), n));
}
