//! Storage of the transparency log (RFC 9162 Merkle tree).
//!
//! Leaves are appended inside the transaction of the record they prove: taking the next index
//! with `UPDATE log_state SET size = size + 1 RETURNING size` locks the state row until commit, so
//! indices are gapless and in commit order, across processes and servers. The leaf hash is
//! `SHA-256(0x00 ‖ entry)` over the exact entry bytes stored. Entries hold no personal data in
//! clear, only salted hashes (law 09-08): deleting a record's salt makes its leaf unlinkable.
//!
//! The tree itself (roots, proofs) and the signing of tree heads are computed above the store,
//! from the leaf hashes read here.

use crate::exec::{args, Exec};
use crate::{micros, Result, Store, StoreError};
use futures_util::TryStreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// The leaf hash of an entry: `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(entry: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// Appends a leaf inside the caller's transaction; returns its index.
pub(crate) async fn append_leaf<E: Exec + ?Sized>(
    tx: &mut E,
    entry: &[u8],
    kind: &str,
    admin: &str,
    object_id: &str,
) -> Result<i64> {
    let size = tx
        .fetch_one(
            "UPDATE log_state SET size = size + 1 WHERE id = 1 RETURNING size",
            args![],
        )
        .await?
        .int(0)?;
    let idx = size - 1;
    let text = std::str::from_utf8(entry)
        .map_err(|_| StoreError::Invalid("log entries are UTF-8 JSON".into()))?;
    tx.execute(
        "INSERT INTO log_leaves (idx, leaf_hash, entry, kind, administration_id, object_id, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7)",
        args![
            idx,
            hex::encode(leaf_hash(entry)),
            text,
            kind,
            admin,
            object_id,
            micros(time::OffsetDateTime::now_utc()),
        ],
    )
    .await?;
    Ok(idx)
}

/// A stored leaf.
#[derive(Debug, Clone, Serialize)]
pub struct Leaf {
    pub index: i64,
    pub leaf_hash: String,
    pub entry: String,
    pub kind: String,
    pub object_id: String,
}

/// A signed tree head as stored.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StoredTreeHead {
    pub tree_size: i64,
    /// Hex.
    pub root_hash: String,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// Base64 signature over the tree head encoding (see `diwan-crypto`).
    pub signature: String,
}

fn decode(h: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(h, &mut out)
        .map_err(|_| StoreError::Corrupt(format!("bad leaf hash {h:?}")))?;
    Ok(out)
}

impl Store {
    /// Number of leaves committed.
    pub async fn log_size(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT size FROM log_state WHERE id = 1")
            .fetch_one(self.read())
            .await?
            .try_get(0)?)
    }

    /// Leaf hashes with index in `[from, to)`, in order.
    pub async fn leaf_hashes(&self, from: i64, to: i64) -> Result<Vec<[u8; 32]>> {
        let mut out = Vec::with_capacity((to - from).max(0) as usize);
        let mut rows = sqlx::query(
            "SELECT idx, leaf_hash FROM log_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx",
        )
        .bind(from)
        .bind(to)
        .fetch(self.read());
        let mut expected = from;
        while let Some(r) = rows.try_next().await? {
            let idx: i64 = r.try_get(0)?;
            if idx != expected {
                return Err(StoreError::Corrupt(format!(
                    "log leaf {expected} is missing"
                )));
            }
            out.push(decode(&r.try_get::<String, _>(1)?)?);
            expected += 1;
        }
        Ok(out)
    }

    /// One leaf.
    pub async fn leaf(&self, index: i64) -> Result<Leaf> {
        let r = sqlx::query(
            "SELECT idx, leaf_hash, entry, kind, object_id FROM log_leaves WHERE idx = $1",
        )
        .bind(index)
        .fetch_optional(self.read())
        .await?
        .ok_or(StoreError::NotFound("log leaf"))?;
        Ok(Leaf {
            index: r.try_get(0)?,
            leaf_hash: r.try_get(1)?,
            entry: r.try_get(2)?,
            kind: r.try_get(3)?,
            object_id: r.try_get(4)?,
        })
    }

    /// Queues a signed tree head to the writer (kept as is if one of that size exists) without
    /// waiting for it to be durable: whatever is queued after it (a receipt quoting it) commits
    /// with it or after it. [`crate::QueuedWrite::wait`] waits for it.
    pub async fn queue_tree_head(&self, sth: StoredTreeHead) -> Result<crate::QueuedWrite> {
        self.queue_tree_head_batched(sth).await
    }

    /// The tree head of a given size, if one was signed.
    pub async fn tree_head(&self, size: i64) -> Result<Option<StoredTreeHead>> {
        let r = sqlx::query(
            "SELECT tree_size, root_hash, timestamp, signature FROM log_heads WHERE tree_size = $1",
        )
        .bind(size)
        .fetch_optional(self.read())
        .await?;
        r.map(|r| sth_from_row(&r)).transpose()
    }

    /// The largest signed tree head.
    pub async fn latest_tree_head(&self) -> Result<Option<StoredTreeHead>> {
        let r = sqlx::query(
            "SELECT tree_size, root_hash, timestamp, signature FROM log_heads ORDER BY tree_size DESC LIMIT 1",
        )
        .fetch_optional(self.read())
        .await?;
        r.map(|r| sth_from_row(&r)).transpose()
    }

    /// Checks every leaf hash against its entry and the continuity of indices.
    pub async fn verify_log_leaves(&self) -> Result<Result<i64, String>> {
        let size = self.log_size().await?;
        let mut rows = sqlx::query("SELECT idx, leaf_hash, entry FROM log_leaves ORDER BY idx")
            .fetch(self.read());
        let mut expected = 0i64;
        while let Some(r) = rows.try_next().await? {
            let idx: i64 = r.try_get(0)?;
            if idx != expected {
                return Ok(Err(format!("log leaf {expected} is missing")));
            }
            let stored: String = r.try_get(1)?;
            let entry: String = r.try_get(2)?;
            if stored != hex::encode(leaf_hash(entry.as_bytes())) {
                return Ok(Err(format!(
                    "log leaf {idx} was altered (its hash does not match its entry)"
                )));
            }
            expected += 1;
        }
        if expected != size {
            return Ok(Err(format!(
                "the log says {size} leaves but holds {expected}"
            )));
        }
        Ok(Ok(size))
    }
}

fn sth_from_row(r: &sqlx::any::AnyRow) -> Result<StoredTreeHead> {
    Ok(StoredTreeHead {
        tree_size: r.try_get(0)?,
        root_hash: r.try_get(1)?,
        timestamp: r.try_get(2)?,
        signature: r.try_get(3)?,
    })
}

/// Inserts a signed tree head (kept as is if one of that size exists); returns the rows added.
pub(crate) async fn insert_tree_head<E: Exec + ?Sized>(
    tx: &mut E,
    sth: &StoredTreeHead,
) -> Result<u64> {
    tx.execute(
        "INSERT INTO log_heads (tree_size, root_hash, timestamp, signature) VALUES ($1,$2,$3,$4) \
         ON CONFLICT (tree_size) DO NOTHING",
        args![sth.tree_size, &sth.root_hash, sth.timestamp, &sth.signature],
    )
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn leaf_hash_is_rfc9162() {
        // SHA-256(0x00) for the empty entry.
        assert_eq!(
            hex::encode(super::leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }
}
