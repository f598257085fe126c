//! Content-addressed blob store.
//!
//! Documents are streamed to a staging file while their SHA-256 is computed, then synced. Once the
//! request is validated, and *before* the database transaction that references them, they are
//! *promoted* to their final place `sha256/ab/cd/abcd…` (an atomic rename followed by a sync of
//! the directory), so a committed record never points at a blob that a crash could lose. Identical
//! content is stored once.
//!
//! Bad input is detected before promotion: its staging files are removed when the
//! [`StagedBlob`] is dropped, so a refused request leaves no blob. A transaction that fails after
//! promotion (a database fault, not bad input) can leave a blob no record references; such
//! orphans are reported by `diwan fsck` and removed by its `--gc` sweep. Staging files left by a
//! crash are removed by [`BlobStore::sweep_staging`].

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncWriteExt, BufWriter};

/// Errors of the blob store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("blob {0} is missing")]
    Missing(BlobHash),
    #[error("not a SHA-256 hex digest: {0:?}")]
    BadHash(String),
    #[error("blob store I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// A SHA-256 digest naming a blob.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash(pub [u8; 32]);

impl BlobHash {
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
    pub fn parse(s: &str) -> Result<Self, BlobError> {
        let mut out = [0u8; 32];
        if s.len() != 64 || hex::decode_to_slice(s, &mut out).is_err() {
            return Err(BlobError::BadHash(s.chars().take(80).collect()));
        }
        Ok(Self(out))
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobHash({})", self.to_hex())
    }
}

/// How many leading bytes a writer keeps to recognise the media type.
const HEAD_LEN: usize = diwan_core::media::SNIFF_LEN;

/// Blobs up to this size are kept in memory until promoted, then written to their final place
/// in one step; larger ones spill to a staging file as they arrive.
const SPILL_AT: usize = 256 * 1024;

enum Sink {
    Memory(Vec<u8>),
    File {
        out: BufWriter<tokio::fs::File>,
        path: PathBuf,
    },
    Done,
}

/// Streams one blob, hashing on the way: small blobs stay in memory, large ones go to a staging
/// file. Dropping it unfinished removes the staging file.
pub struct BlobWriter {
    sink: Sink,
    staging: PathBuf,
    hasher: Sha256,
    size: u64,
    limit: u64,
    head: Vec<u8>,
}

impl BlobWriter {
    fn new(staging: PathBuf, limit: u64) -> Self {
        Self {
            sink: Sink::Memory(Vec::new()),
            staging,
            hasher: Sha256::new(),
            size: 0,
            limit,
            head: Vec::new(),
        }
    }

    /// Appends a chunk. Fails (and the blob is abandoned) past the size limit.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        let new_size = self.size + chunk.len() as u64;
        if new_size > self.limit {
            return Err(BlobError::TooLarge { limit: self.limit });
        }
        if self.head.len() < HEAD_LEN {
            let take = (HEAD_LEN - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.hasher.update(chunk);
        if let Sink::Memory(buf) = &mut self.sink {
            if buf.len() + chunk.len() > SPILL_AT {
                let pending = std::mem::take(buf);
                let path = self
                    .staging
                    .join(format!("{}.part", uuid::Uuid::new_v4().simple()));
                let file = tokio::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .await?;
                // From here on the file exists and Drop removes it if anything fails.
                self.sink = Sink::File {
                    out: BufWriter::with_capacity(256 * 1024, file),
                    path,
                };
                if let Sink::File { out, .. } = &mut self.sink {
                    out.write_all(&pending).await?;
                }
            }
        }
        match &mut self.sink {
            Sink::Memory(buf) => buf.extend_from_slice(chunk),
            Sink::File { out, .. } => out.write_all(chunk).await?,
            Sink::Done => return Err(std::io::Error::other("writer already finished").into()),
        }
        self.size = new_size;
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The first bytes written (up to 4 KiB), to sniff the media type.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Completes the blob (syncing its staging file, if any) and returns it staged.
    pub async fn finish(mut self) -> Result<StagedBlob, BlobError> {
        let content = match std::mem::replace(&mut self.sink, Sink::Done) {
            Sink::Memory(buf) => Staged::Memory(buf),
            Sink::File { mut out, path } => {
                // Until the file is handed to the StagedBlob, removing it on error is ours to do.
                let synced = async {
                    out.flush().await?;
                    out.get_ref().sync_all().await
                }
                .await;
                if let Err(e) = synced {
                    let _ = tokio::fs::remove_file(&path).await;
                    return Err(e.into());
                }
                Staged::File(path)
            }
            Sink::Done => return Err(std::io::Error::other("writer already finished").into()),
        };
        let hash = BlobHash(std::mem::take(&mut self.hasher).finalize().into());
        Ok(StagedBlob {
            hash,
            size: self.size,
            head: std::mem::take(&mut self.head),
            content,
        })
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if let Sink::File { path, .. } = &self.sink {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[derive(Debug)]
enum Staged {
    Memory(Vec<u8>),
    File(PathBuf),
    Promoted,
}

/// A complete blob waiting for its database transaction (in memory or in a staging file).
#[derive(Debug)]
pub struct StagedBlob {
    hash: BlobHash,
    size: u64,
    head: Vec<u8>,
    content: Staged,
}

impl StagedBlob {
    pub fn hash(&self) -> BlobHash {
        self.hash
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn head(&self) -> &[u8] {
        &self.head
    }
}

impl Drop for StagedBlob {
    fn drop(&mut self) {
        if let Staged::File(p) = &self.content {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// What a check of a stored blob found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobStatus {
    Sound { size: u64 },
    Missing,
    Damaged { actual: BlobHash },
}

/// A place where blobs live. Writers always stage locally; backends differ in where promoted
/// blobs go (local disk now, S3-compatible object storage later).
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Starts a new blob of at most `limit` bytes.
    async fn writer(&self, limit: u64) -> Result<BlobWriter, BlobError>;
    /// Moves a staged blob to its final place (no-op if the content is already stored), durably.
    async fn promote(&self, staged: &mut StagedBlob) -> Result<(), BlobError>;
    /// Opens a stored blob for reading.
    async fn open(&self, hash: &BlobHash) -> Result<tokio::fs::File, BlobError>;
    /// Reads a whole (small) blob.
    async fn read(&self, hash: &BlobHash) -> Result<Vec<u8>, BlobError>;
    /// Whether a blob is stored.
    async fn exists(&self, hash: &BlobHash) -> Result<bool, BlobError>;
    /// Re-reads a blob and recomputes its hash.
    async fn check(&self, hash: &BlobHash) -> Result<BlobStatus, BlobError>;
    /// Every stored blob.
    async fn list(&self) -> Result<Vec<BlobHash>, BlobError>;
    /// Removes staging files older than `age` (left by a crash or an interrupted upload).
    async fn sweep_staging(&self, age: Duration) -> Result<usize, BlobError>;
    /// Deletes a stored blob (garbage collection of orphans only).
    async fn remove(&self, hash: &BlobHash) -> Result<(), BlobError>;

    /// Stages bytes already in memory.
    async fn stage_bytes(&self, bytes: &[u8]) -> Result<StagedBlob, BlobError> {
        let mut w = self.writer(u64::MAX).await?;
        w.write(bytes).await?;
        w.finish().await
    }
}

/// Blobs on the local file system under `ROOT/sha256/ab/cd/<hex>`, staging under `ROOT/staging`.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
    staging: PathBuf,
}

impl LocalBlobStore {
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        let staging = root.join("staging");
        tokio::fs::create_dir_all(root.join("sha256")).await?;
        tokio::fs::create_dir_all(&staging).await?;
        Ok(Self { root, staging })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives.
    pub fn path_of(&self, hash: &BlobHash) -> PathBuf {
        let h = hash.to_hex();
        self.root
            .join("sha256")
            .join(&h[0..2])
            .join(&h[2..4])
            .join(h)
    }
}

/// Puts staged content at `dst` durably: written (or renamed) under a temporary name in the
/// final directory, synced, renamed, and the directory synced. Existing content is kept as is.
fn place(content: &Staged, dst: &Path) -> std::io::Result<()> {
    if dst.exists() {
        return Ok(());
    }
    let dir = dst
        .parent()
        .ok_or_else(|| std::io::Error::other("blob path has no parent"))?;
    if !dir.exists() {
        // Create the two shard levels and make their entries durable too.
        let top = dir
            .parent()
            .ok_or_else(|| std::io::Error::other("blob path has no shard"))?;
        let top_new = !top.exists();
        std::fs::create_dir_all(dir)?;
        if top_new {
            if let Some(base) = top.parent() {
                sync_dir(base)?;
            }
        }
        sync_dir(top)?;
    }
    match content {
        Staged::Memory(bytes) => {
            use std::io::Write;
            let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
            let written = (|| {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&tmp)?;
                f.write_all(bytes)?;
                f.sync_all()?;
                std::fs::rename(&tmp, dst)
            })();
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            written?;
        }
        Staged::File(src) => std::fs::rename(src, dst)?,
        Staged::Promoted => return Ok(()),
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn hash_file(path: &Path) -> std::io::Result<(BlobHash, u64)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let r = f.read(&mut buf)?;
        if r == 0 {
            break;
        }
        h.update(&buf[..r]);
        n += r as u64;
    }
    Ok((BlobHash(h.finalize().into()), n))
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn writer(&self, limit: u64) -> Result<BlobWriter, BlobError> {
        Ok(BlobWriter::new(self.staging.clone(), limit))
    }

    async fn promote(&self, staged: &mut StagedBlob) -> Result<(), BlobError> {
        let content = std::mem::replace(&mut staged.content, Staged::Promoted);
        let dst = self.path_of(&staged.hash);
        let result = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let outcome = place(&content, &dst);
            if let Staged::File(src) = &content {
                // Whether it was moved, deduplicated or failed, the staging file must go.
                if outcome.is_err() || src.exists() {
                    let _ = std::fs::remove_file(src);
                }
            }
            outcome
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
        result.map_err(BlobError::Io)
    }

    async fn open(&self, hash: &BlobHash) -> Result<tokio::fs::File, BlobError> {
        match tokio::fs::File::open(self.path_of(hash)).await {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BlobError::Missing(*hash)),
            Err(e) => Err(e.into()),
        }
    }

    async fn read(&self, hash: &BlobHash) -> Result<Vec<u8>, BlobError> {
        match tokio::fs::read(self.path_of(hash)).await {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BlobError::Missing(*hash)),
            Err(e) => Err(e.into()),
        }
    }

    async fn exists(&self, hash: &BlobHash) -> Result<bool, BlobError> {
        Ok(tokio::fs::try_exists(self.path_of(hash)).await?)
    }

    async fn check(&self, hash: &BlobHash) -> Result<BlobStatus, BlobError> {
        let path = self.path_of(hash);
        let expected = *hash;
        tokio::task::spawn_blocking(move || match hash_file(&path) {
            Ok((actual, size)) if actual == expected => Ok(BlobStatus::Sound { size }),
            Ok((actual, _)) => Ok(BlobStatus::Damaged { actual }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BlobStatus::Missing),
            Err(e) => Err(BlobError::Io(e)),
        })
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())))?
    }

    async fn list(&self) -> Result<Vec<BlobHash>, BlobError> {
        let base = self.root.join("sha256");
        tokio::task::spawn_blocking(move || -> Result<Vec<BlobHash>, BlobError> {
            let mut out = Vec::new();
            for a in std::fs::read_dir(&base)? {
                let a = a?.path();
                if !a.is_dir() {
                    continue;
                }
                for b in std::fs::read_dir(&a)? {
                    let b = b?.path();
                    if !b.is_dir() {
                        continue;
                    }
                    for f in std::fs::read_dir(&b)? {
                        let name = f?.file_name();
                        if let Some(h) = name.to_str().and_then(|n| BlobHash::parse(n).ok()) {
                            out.push(h);
                        }
                    }
                }
            }
            out.sort();
            Ok(out)
        })
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())))?
    }

    async fn sweep_staging(&self, age: Duration) -> Result<usize, BlobError> {
        let mut n = 0;
        let mut rd = tokio::fs::read_dir(&self.staging).await?;
        let now = SystemTime::now();
        while let Some(e) = rd.next_entry().await? {
            let old = e
                .metadata()
                .await
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|a| a >= age);
            if old && tokio::fs::remove_file(e.path()).await.is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    async fn remove(&self, hash: &BlobHash) -> Result<(), BlobError> {
        match tokio::fs::remove_file(self.path_of(hash)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stage_promote_dedupe() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).await.unwrap();
        let mut w = store.writer(1 << 20).await.unwrap();
        w.write(b"%PDF-1.7 hello").await.unwrap();
        w.write(b" world").await.unwrap();
        let mut staged = w.finish().await.unwrap();
        assert_eq!(staged.hash(), BlobHash::of(b"%PDF-1.7 hello world"));
        assert_eq!(staged.head(), b"%PDF-1.7 hello world");
        assert!(!store.exists(&staged.hash()).await.unwrap());
        store.promote(&mut staged).await.unwrap();
        assert!(store.exists(&staged.hash()).await.unwrap());
        let p = store.path_of(&staged.hash());
        let h = staged.hash().to_hex();
        assert!(p.ends_with(format!("sha256/{}/{}/{}", &h[0..2], &h[2..4], h)));
        // Same content again: deduplicated, staging emptied.
        let mut again = store.stage_bytes(b"%PDF-1.7 hello world").await.unwrap();
        store.promote(&mut again).await.unwrap();
        assert_eq!(store.list().await.unwrap(), vec![staged.hash()]);
        assert_eq!(
            std::fs::read_dir(dir.path().join("staging"))
                .unwrap()
                .count(),
            0
        );
        assert_eq!(
            store.check(&staged.hash()).await.unwrap(),
            BlobStatus::Sound { size: 20 }
        );
    }

    #[tokio::test]
    async fn abandoned_blobs_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).await.unwrap();
        {
            let mut w = store.writer(4).await.unwrap();
            assert!(matches!(
                w.write(b"12345").await,
                Err(BlobError::TooLarge { limit: 4 })
            ));
        }
        {
            let _staged = store.stage_bytes(b"abc").await.unwrap();
        }
        assert_eq!(
            std::fs::read_dir(dir.path().join("staging"))
                .unwrap()
                .count(),
            0
        );
        assert!(store.list().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn large_blobs_spill_to_staging_and_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).await.unwrap();
        let staging = || {
            std::fs::read_dir(dir.path().join("staging"))
                .unwrap()
                .count()
        };
        let chunk = vec![7u8; 100 * 1024];
        {
            let mut w = store.writer(10 << 20).await.unwrap();
            for _ in 0..4 {
                w.write(&chunk).await.unwrap();
            }
            assert_eq!(staging(), 1, "spilled to a staging file");
        }
        assert_eq!(staging(), 0, "dropped writer removed its file");
        let mut w = store.writer(10 << 20).await.unwrap();
        for _ in 0..4 {
            w.write(&chunk).await.unwrap();
        }
        let mut staged = w.finish().await.unwrap();
        assert_eq!(staged.size(), 400 * 1024);
        store.promote(&mut staged).await.unwrap();
        assert_eq!(staging(), 0);
        assert_eq!(
            store.read(&staged.hash()).await.unwrap(),
            vec![7u8; 400 * 1024]
        );
        assert_eq!(staged.hash(), BlobHash::of(&vec![7u8; 400 * 1024]));
    }

    #[tokio::test]
    async fn detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).await.unwrap();
        let mut s = store.stage_bytes(b"content").await.unwrap();
        store.promote(&mut s).await.unwrap();
        std::fs::write(store.path_of(&s.hash()), b"c0ntent").unwrap();
        assert!(matches!(
            store.check(&s.hash()).await.unwrap(),
            BlobStatus::Damaged { .. }
        ));
        std::fs::remove_file(store.path_of(&s.hash())).unwrap();
        assert_eq!(store.check(&s.hash()).await.unwrap(), BlobStatus::Missing);
    }
}
