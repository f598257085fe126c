//! Small documents kept in the database.
//!
//! A registration's documents of at most [`SMALL_BLOB_LIMIT`] bytes that arrived in memory (most
//! letters filed on the portal) are stored as rows of `small_blobs`, written by the
//! registration's own transaction, instead of being promoted to blob files before it. The
//! document is then durable exactly when its record is, by the same commit: no file to write,
//! sync and rename, no orphan should the transaction fail, and no file to create in a directory
//! holding thousands. Measured on the portal benchmark with 10 KB documents, side by side with
//! the files: 15 % less server CPU per filing (docs/BENCHMARKS.md, tenth pass).
//!
//! [`DatabaseFirst`] puts the table in front of the file store: every read looks for a row
//! first, then for a file, so that callers of [`crate::Store::blobs`] need not know where a blob
//! lives; listing, checking and garbage collection see both. Content stored both ways (the
//! same bytes kept by a registration and promoted by another path) is read from its row.

use crate::blob::{BlobError, BlobHash, BlobReader, BlobStatus, BlobStore, BlobWriter, StagedBlob};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use sqlx::{AnyPool, Row};
use std::sync::Arc;
use std::time::Duration;

/// Documents of a registration up to this size are kept in the database. SQLite reads and
/// writes blobs of this order faster from its own file than from separate files, and keeps
/// them in overflow pages that do not slow the table's other reads.
pub const SMALL_BLOB_LIMIT: u64 = 64 * 1024;

/// The store's blobs: rows of `small_blobs` first, then the files.
pub(crate) struct DatabaseFirst {
    read: AnyPool,
    write: AnyPool,
    files: Arc<dyn BlobStore>,
    /// Deletes a row only while no record references its hash, in one statement: a
    /// registration committing the same content meanwhile keeps it.
    remove_sql: String,
}

impl DatabaseFirst {
    pub(crate) fn new(read: AnyPool, write: AnyPool, files: Arc<dyn BlobStore>) -> Self {
        let unreferenced: Vec<String> = crate::BLOB_REFERENCES
            .iter()
            .map(|r| format!("NOT EXISTS ({})", r.any_sql()))
            .collect();
        Self {
            read,
            write,
            files,
            remove_sql: format!(
                "DELETE FROM small_blobs WHERE sha256 = $1 AND {}",
                unreferenced.join(" AND ")
            ),
        }
    }

    /// The bytes of a blob kept in the database, if it is.
    async fn row(&self, hash: &BlobHash) -> Result<Option<Vec<u8>>, BlobError> {
        let row = sqlx::query("SELECT bytes FROM small_blobs WHERE sha256 = $1")
            .bind(hash.to_hex())
            .fetch_optional(&self.read)
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get::<Vec<u8>, _>(0)?),
            None => None,
        })
    }
}

#[async_trait]
impl BlobStore for DatabaseFirst {
    async fn writer(&self, limit: u64) -> Result<BlobWriter, BlobError> {
        self.files.writer(limit).await
    }

    async fn promote_all(&self, staged: &mut [&mut StagedBlob]) -> Result<(), BlobError> {
        self.files.promote_all(staged).await
    }

    async fn open(&self, hash: &BlobHash) -> Result<BlobReader, BlobError> {
        match self.row(hash).await? {
            Some(bytes) => Ok(BlobReader::from_bytes(bytes)),
            None => self.files.open(hash).await,
        }
    }

    async fn read(&self, hash: &BlobHash) -> Result<Vec<u8>, BlobError> {
        match self.row(hash).await? {
            Some(bytes) => Ok(bytes),
            None => self.files.read(hash).await,
        }
    }

    async fn exists(&self, hash: &BlobHash) -> Result<bool, BlobError> {
        let kept = sqlx::query("SELECT 1 FROM small_blobs WHERE sha256 = $1")
            .bind(hash.to_hex())
            .fetch_optional(&self.read)
            .await?
            .is_some();
        Ok(kept || self.files.exists(hash).await?)
    }

    async fn check(&self, hash: &BlobHash) -> Result<BlobStatus, BlobError> {
        match self.row(hash).await? {
            Some(bytes) => {
                let actual = BlobHash::of(&bytes);
                Ok(if actual == *hash {
                    BlobStatus::Sound {
                        size: bytes.len() as u64,
                    }
                } else {
                    BlobStatus::Damaged { actual }
                })
            }
            None => self.files.check(hash).await,
        }
    }

    async fn list(&self) -> Result<Vec<BlobHash>, BlobError> {
        let mut out = self.files.list().await?;
        let mut rows = sqlx::query("SELECT sha256 FROM small_blobs").fetch(&self.read);
        while let Some(r) = rows.try_next().await? {
            out.push(BlobHash::parse(&r.try_get::<String, _>(0)?)?);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn sweep_staging(&self, age: Duration) -> Result<usize, BlobError> {
        self.files.sweep_staging(age).await
    }

    async fn remove(&self, hash: &BlobHash) -> Result<(), BlobError> {
        sqlx::query(&self.remove_sql)
            .bind(hash.to_hex())
            .execute(&self.write)
            .await?;
        self.files.remove(hash).await
    }
}
