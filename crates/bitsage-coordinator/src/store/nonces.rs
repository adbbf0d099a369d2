//! Seen nonces: what makes a signed request impossible to replay, across restarts and replicas.

use std::sync::atomic::{AtomicBool, Ordering};

use bitsage_sql as sql;

use super::{JobStore, Result, StoreError, Tx};

/// A signed request's nonce on its way to `coord_nonces_by_time`. It is stored with the
/// request's first commit ([`JobStore::nonce_in`]), or alone when the request ends without one
/// ([`JobStore::store_nonce`]); a request that finds it stored already was a replay, and what it
/// wrote in that transaction is rolled back.
#[derive(Debug)]
pub struct Nonce {
    signer: String,
    nonce: String,
    /// Unix seconds the request was signed at; old nonces are pruned by it.
    signed_at: i64,
    stored: AtomicBool,
}

impl Nonce {
    pub fn new(signer: String, nonce: String, signed_at: i64) -> Self {
        Self {
            signer,
            nonce,
            signed_at,
            stored: AtomicBool::new(false),
        }
    }

    pub fn is_stored(&self) -> bool {
        self.stored.load(Ordering::Acquire)
    }
}

impl JobStore {
    /// Inserts `nonce` in `tx` unless an earlier commit stored it. A nonce already in the table
    /// is [`StoreError::ReplayedNonce`]: drop `tx` then.
    pub async fn nonce_in(&self, tx: &mut Tx, nonce: &Nonce) -> Result<()> {
        if nonce.is_stored() {
            return Ok(());
        }
        let done = sql::query(
            "INSERT INTO coord_nonces_by_time (signer, nonce, signed_at) VALUES ($1, $2, $3)
             ON CONFLICT (signed_at, signer, nonce) DO NOTHING",
        )
        .bind(nonce.signer.as_str())
        .bind(nonce.nonce.as_str())
        .bind(nonce.signed_at)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::ReplayedNonce(nonce.nonce.clone()));
        }
        Ok(())
    }

    /// Commits `tx`; `nonce`, inserted in it with [`JobStore::nonce_in`], is stored from now on.
    pub async fn commit(&self, tx: Tx, nonce: &Nonce) -> Result<()> {
        tx.commit().await?;
        nonce.stored.store(true, Ordering::Release);
        Ok(())
    }

    /// Stores `nonce` on its own, unless it is stored already.
    pub async fn store_nonce(&self, nonce: &Nonce) -> Result<()> {
        if nonce.is_stored() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        self.nonce_in(&mut tx, nonce).await?;
        self.commit(tx, nonce).await
    }

    /// Forgets nonces signed before `before` (unix seconds): their timestamps are outside the
    /// window, so a replay is refused as stale anyway.
    pub async fn prune_nonces(&self, before: i64) -> Result<u64> {
        let done = sql::query("DELETE FROM coord_nonces_by_time WHERE signed_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
