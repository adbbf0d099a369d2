//! The decommitment's rows, predicted: stwo draws the FRI queries from the channel right after
//! the proof of work, so the backend can draw the same ones first and hint them (see
//! [`super::hints`]). Without the prediction, a proof whose queries differ from
//! the last one's (every new job) learnt them one read at a time: about 600 round trips for a
//! proof of 2^16 rows, against 41 when the queries were already hinted.
//!
//! A wrong prediction costs only rows fetched for nothing: every value read is still fetched
//! from the device.

use std::cell::Cell;

use stwo::core::channel::{Blake2sChannel, Channel};
use stwo::core::queries::draw_queries;

use super::hints::hint;

thread_local! {
    /// The proof on this thread: the number of FRI queries it draws
    /// (`ProverBackend::expect_queries`) and the log size of FRI's first layer (its circle
    /// fold). stwo's `prove` runs the FRI commitment, the proof of work and the decommitment on
    /// the thread that called it.
    static PLAN: Cell<(Option<usize>, Option<u32>)> = const { Cell::new((None, None)) };
}

/// The coming proof draws `n_queries` queries.
pub(super) fn expect_queries(n_queries: usize) {
    PLAN.set((Some(n_queries), None));
}

/// FRI's first layer, the one the queries index, has 2^log_size values.
pub(super) fn fri_first_layer(log_size: u32) {
    let (n_queries, _) = PLAN.get();
    PLAN.set((n_queries, Some(log_size)));
}

/// Hints the queries stwo draws next, once the proof of work `nonce` is mixed into `channel`
/// (`CommitmentSchemeProver::prove_values`, then `FriProver::decommit`). Does nothing unless
/// both halves of the plan are known; the plan is used once.
pub(super) fn predict(channel: &Blake2sChannel, nonce: u64) {
    let (Some(n_queries), Some(log_size)) = PLAN.replace((None, None)) else {
        return;
    };
    let mut channel = channel.clone();
    channel.mix_u64(nonce);
    for query in draw_queries(&mut channel, log_size, n_queries) {
        hint(log_size, query);
    }
}
