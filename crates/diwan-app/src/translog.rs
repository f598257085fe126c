//! The transparency log as a service: the Merkle tree of every leaf the store holds, kept in
//! memory and caught up from the database when needed (other servers may append too), signed
//! tree heads, and inclusion and consistency proofs.

use crate::context::App;
use crate::error::AppError;
use base64::Engine;
use diwan_crypto::merkle::{Hash, MerkleTree};
use diwan_crypto::sth::SignedTreeHead;
use diwan_store::log::StoredTreeHead;

fn b64(h: &Hash) -> String {
    base64::engine::general_purpose::STANDARD.encode(h)
}

/// The log as this process holds it: the Merkle tree of the leaves read so far, and the newest
/// signed head it knows.
pub(crate) struct LogState {
    tree: MerkleTree,
    head: Option<SignedTreeHead>,
}

impl LogState {
    pub(crate) fn new() -> LogState {
        LogState {
            tree: MerkleTree::new(),
            head: None,
        }
    }

    fn remember(&mut self, head: &SignedTreeHead) {
        if self
            .head
            .as_ref()
            .is_none_or(|h| h.tree_size < head.tree_size)
        {
            self.head = Some(head.clone());
        }
    }
}

impl App {
    /// Brings the in-memory tree up to the database's size; returns the size.
    async fn log_sync(&self, tree: &mut MerkleTree) -> Result<u64, AppError> {
        let size = self.store.log_size().await? as u64;
        let have = tree.len();
        if size > have {
            for chunk_start in (have..size).step_by(50_000) {
                let end = (chunk_start + 50_000).min(size);
                for h in self
                    .store
                    .leaf_hashes(chunk_start as i64, end as i64)
                    .await?
                {
                    tree.push(h);
                }
            }
        }
        Ok(tree.len())
    }

    /// The newest signed tree head, signing a new one if leaves were added since (and waiting
    /// until it is saved).
    pub async fn tree_head(&self) -> Result<SignedTreeHead, AppError> {
        let mut log = self.log_tree.lock().await;
        let (head, saved) = self.head_covering(&mut log, 0).await?;
        drop(log);
        if let Some(saved) = saved {
            saved.wait().await?;
        }
        Ok(head)
    }

    /// A signed tree head covering leaf `index`, and the leaf's audit path in that tree (base64
    /// hashes): what a receipt quotes.
    pub async fn tree_head_and_proof(
        &self,
        index: u64,
    ) -> Result<(SignedTreeHead, Vec<String>), AppError> {
        let mut log = self.log_tree.lock().await;
        let (head, saved) = self.head_covering(&mut log, index + 1).await?;
        if log.tree.len() < head.tree_size {
            self.log_sync(&mut log.tree).await?;
        }
        let p = log
            .tree
            .inclusion_proof(index, head.tree_size)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        drop(log);
        // The receipt is recorded through the same writer after the head was queued, so it
        // commits with the head or after it; nobody waits for the head itself, and the lock is
        // not held across a commit.
        if let Some(saved) = saved {
            tokio::spawn(async move {
                if let Err(e) = saved.wait().await {
                    tracing::error!(error = %e, "signed tree head not saved");
                }
            });
        }
        Ok((head, p.iter().map(b64).collect()))
    }

    /// A head covering `min_size` leaves: the newest known if it does (with `min_size > 0`:
    /// under load one head serves a whole batch of receipts), else a new one over every leaf,
    /// signed, remembered and queued to be saved (the returned write). `min_size = 0` asks for
    /// the newest leaves.
    async fn head_covering(
        &self,
        log: &mut LogState,
        min_size: u64,
    ) -> Result<(SignedTreeHead, Option<diwan_store::QueuedWrite>), AppError> {
        if min_size > 0 {
            if let Some(h) = log.head.as_ref().filter(|h| h.tree_size >= min_size) {
                return Ok((h.clone(), None));
            }
        }
        let size = self.log_sync(&mut log.tree).await?;
        if size < min_size {
            return Err(AppError::Internal(format!(
                "the log has {size} leaves, fewer than {min_size}"
            )));
        }
        if let Some(h) = log.head.as_ref().filter(|h| h.tree_size == size) {
            return Ok((h.clone(), None));
        }
        // Another server may have signed this size already.
        if let Some(latest) = self.store.latest_tree_head().await? {
            if latest.tree_size as u64 == size {
                let h = stored_to_sth(latest);
                log.remember(&h);
                return Ok((h, None));
            }
        }
        let root = log
            .tree
            .root(size)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let now = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as u64;
        let sth = SignedTreeHead::sign(&self.pki().log_key, size, &root, now)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let saved = self
            .store
            .queue_tree_head(StoredTreeHead {
                tree_size: size as i64,
                root_hash: hex::encode(root),
                timestamp: now as i64,
                signature: sth.signature.clone(),
            })
            .await?;
        log.remember(&sth);
        Ok((sth, Some(saved)))
    }

    /// The audit path of leaf `index` in the tree of `size` leaves (base64 hashes).
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<String>, AppError> {
        let mut log = self.log_tree.lock().await;
        self.log_sync(&mut log.tree).await?;
        let p = log
            .tree
            .inclusion_proof(index, size)
            .map_err(|e| AppError::field("index", e.to_string()))?;
        Ok(p.iter().map(b64).collect())
    }

    /// The consistency proof between two tree sizes (base64 hashes).
    pub async fn consistency_proof(
        &self,
        first: u64,
        second: u64,
    ) -> Result<Vec<String>, AppError> {
        let mut log = self.log_tree.lock().await;
        self.log_sync(&mut log.tree).await?;
        let p = log
            .tree
            .consistency_proof(first, second)
            .map_err(|e| AppError::field("first", e.to_string()))?;
        Ok(p.iter().map(b64).collect())
    }

    /// The root of the tree of `size` leaves (base64).
    pub async fn tree_root(&self, size: u64) -> Result<String, AppError> {
        let mut log = self.log_tree.lock().await;
        self.log_sync(&mut log.tree).await?;
        Ok(b64(&log
            .tree
            .root(size)
            .map_err(|e| AppError::field("size", e.to_string()))?))
    }
}

fn stored_to_sth(latest: StoredTreeHead) -> SignedTreeHead {
    SignedTreeHead {
        tree_size: latest.tree_size as u64,
        root_hash: base64::engine::general_purpose::STANDARD
            .encode(hex::decode(&latest.root_hash).unwrap_or_default()),
        timestamp: latest.timestamp as u64,
        signature: latest.signature,
    }
}
