//! Content-addressed blob store.
//!
//! Documents are streamed while their SHA-256 is computed (kept in memory up to 256 KiB, else in
//! a staging file), with nothing synced yet. Once the request is validated, and *before* the
//! database transaction that references them, they are *promoted* to their final place
//! `sha256/ab/abcd…`, so that a committed record never points at a blob a crash could lose.
//! Identical content is stored once.
//!
//! - Bytes held in memory (a filing's document, a receipt) are written beside their final place
//!   as `sha256/ab/.<hash>.<id>.pending`, made durable, and renamed into place. That rename is not
//!   waited for: should the system go down before it reaches the disk, the durable file is still
//!   pending, and opening the store moves every pending file whose content matches its name into
//!   place (those older than [`PENDING_RECOVERY_AGE`], so as not to race a running server's
//!   promotions).
//! - A staging file (a large upload) is made durable, renamed into place, and the rename made
//!   durable before the promotion returns: an interrupted upload's staging file cannot be told
//!   from a complete one.
//!
//! Durability is grouped: instead of syncing each file and its directory (two disk flushes per
//! blob, and under load a queue of them), a promotion waits for a `syncfs` of the blob file
//! system that started after its writes; every promotion waiting at that moment shares it.
//!
//! Bad input is detected before promotion: its staging files are removed when the
//! [`StagedBlob`] is dropped, so a refused request leaves no blob. A transaction that fails after
//! promotion (a database fault, not bad input) can leave a blob no record references; such
//! orphans are reported by `diwan fsck` and removed by its `--gc` sweep. Staging files left by a
//! crash are removed by [`BlobStore::sweep_staging`], which opening the store runs for those older
//! than [`STAGING_SWEEP_AGE`].

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
    /// Reading or removing a blob kept in the database (see [`crate::small_blobs`]).
    #[error("blob store database error: {0}")]
    Database(#[from] sqlx::Error),
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

    /// Completes the blob and returns it staged. A staging file is flushed to the file system;
    /// its promotion makes it durable.
    pub async fn finish(mut self) -> Result<StagedBlob, BlobError> {
        let content = match std::mem::replace(&mut self.sink, Sink::Done) {
            Sink::Memory(buf) => Staged::Memory(buf),
            Sink::File { mut out, path } => {
                // Until the file is handed to the StagedBlob, removing it on error is ours to do.
                if let Err(e) = out.flush().await {
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
    /// Stages bytes already in memory, taking them over (no copy). They stay in memory until
    /// promoted, however large: for large content that need not stay, `stage_bytes` (which
    /// spills past 256 KiB to a staging file) keeps memory down instead.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        let hash = BlobHash::of(&bytes);
        Self::in_memory(bytes, hash)
    }

    /// Like [`from_vec`](Self::from_vec), for bytes whose SHA-256 the caller computed on the
    /// way (a signed PDF's is, while it is signed): hashing them again would be their largest
    /// cost. Checked in debug builds.
    pub fn from_vec_hashed(bytes: Vec<u8>, sha256: [u8; 32]) -> Self {
        let hash = BlobHash(sha256);
        debug_assert_eq!(
            hash,
            BlobHash::of(&bytes),
            "the bytes' hash is not the one given"
        );
        Self::in_memory(bytes, hash)
    }

    fn in_memory(bytes: Vec<u8>, hash: BlobHash) -> Self {
        Self {
            hash,
            size: bytes.len() as u64,
            head: bytes[..bytes.len().min(HEAD_LEN)].to_vec(),
            content: Staged::Memory(bytes),
        }
    }

    pub fn hash(&self) -> BlobHash {
        self.hash
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Takes the content over when it is held in memory and is at most `limit` bytes, for the
    /// caller to store it elsewhere than in a file (a registration keeps small documents in
    /// its own transaction), who then answers for storing it: promoting it afterwards does
    /// nothing. None leaves it untouched.
    pub(crate) fn take_small(&mut self, limit: u64) -> Option<Vec<u8>> {
        match &self.content {
            Staged::Memory(_) if self.size <= limit => {
                match std::mem::replace(&mut self.content, Staged::Promoted) {
                    Staged::Memory(bytes) => Some(bytes),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

impl Drop for StagedBlob {
    fn drop(&mut self) {
        if let Staged::File(p) = &self.content {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A stored blob opened for reading: a file, or bytes the database held.
#[derive(Debug)]
pub enum BlobReader {
    File(tokio::fs::File),
    Bytes(std::io::Cursor<Vec<u8>>),
}

impl BlobReader {
    /// Reads the bytes held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        BlobReader::Bytes(std::io::Cursor::new(bytes))
    }
}

impl tokio::io::AsyncRead for BlobReader {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            BlobReader::File(f) => std::pin::Pin::new(f).poll_read(cx, buf),
            BlobReader::Bytes(c) => std::pin::Pin::new(c).poll_read(cx, buf),
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
    async fn promote(&self, staged: &mut StagedBlob) -> Result<(), BlobError> {
        self.promote_all(&mut [staged]).await
    }
    /// Promotes several blobs together: their writes, their renames and the syncs between are
    /// done once for all. On failure none of them is referenced yet, so any may or may not
    /// have been stored.
    async fn promote_all(&self, staged: &mut [&mut StagedBlob]) -> Result<(), BlobError>;
    /// Opens a stored blob for reading.
    async fn open(&self, hash: &BlobHash) -> Result<BlobReader, BlobError>;
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

/// Pending files at least this old when the store is opened are recovered: a running server's
/// promotions take milliseconds, and a system that went down takes longer than this to restart.
pub const PENDING_RECOVERY_AGE: Duration = Duration::from_secs(10);
/// Staging files at least this old when the store is opened are removed: an upload still
/// streaming after an hour has been abandoned.
pub const STAGING_SWEEP_AGE: Duration = Duration::from_secs(3600);

/// Blobs on the local file system under `ROOT/sha256/ab/<hex>`, staging under `ROOT/staging`.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
    staging: PathBuf,
    sync: GroupSync,
}

impl LocalBlobStore {
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        let staging = root.join("staging");
        tokio::fs::create_dir_all(&staging).await?;
        let base = root.join("sha256");
        tokio::task::spawn_blocking({
            let base = base.clone();
            move || {
                prepare_shards(&base)?;
                recover_pending(&base, PENDING_RECOVERY_AGE).map(|_| ())
            }
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
        let sync = GroupSync::start(&root)?;
        let store = Self {
            root,
            staging,
            sync,
        };
        store.sweep_staging(STAGING_SWEEP_AGE).await?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives.
    pub fn path_of(&self, hash: &BlobHash) -> PathBuf {
        let h = hash.to_hex();
        self.root.join("sha256").join(&h[0..2]).join(h)
    }
}

/// The name of a promotion's file before its rename: hidden from [`BlobStore::list`].
fn pending_name(hash: &BlobHash) -> String {
    format!(".{hash}.{}.pending", uuid::Uuid::new_v4().simple())
}

/// Moves each pending file (`.<hash>.<id>.pending`) at least `age` old whose content matches
/// its name to its place, unless a blob is there already, and removes the others (written only
/// in part when the system went down) and the temporary files of earlier versions
/// (`.<id>.tmp`); then makes the moves durable. Returns how many files were moved into place.
/// Reads every shard's directory: a fraction of a second for a million blobs.
fn recover_pending(base: &Path, age: Duration) -> std::io::Result<usize> {
    let now = SystemTime::now();
    let mut moved = 0;
    for shard in 0..=255u8 {
        moved += recover_shard(&base.join(hex::encode([shard])), now, age)?;
    }
    if moved > 0 {
        sync_all_of(base)?;
    }
    Ok(moved)
}

fn recover_shard(shard: &Path, now: SystemTime, age: Duration) -> std::io::Result<usize> {
    let mut moved = 0;
    for entry in std::fs::read_dir(shard)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str().and_then(|n| n.strip_prefix('.')) else {
            continue;
        };
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|a| a >= age);
        if !old {
            continue;
        }
        let path = entry.path();
        let named = name
            .strip_suffix(".pending")
            .and_then(|n| n.split_once('.'))
            .and_then(|(h, _)| BlobHash::parse(h).ok());
        let sound = match named {
            Some(hash) => match hash_file(&path) {
                Ok((actual, _)) => (actual == hash).then_some(hash),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            },
            None => None,
        };
        // Whether this process moved or removed the file: one gone meanwhile was finished by
        // the process that wrote it.
        let done_here = |r: std::io::Result<()>| match r {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            r => r.map(|()| true),
        };
        match sound {
            Some(hash) if !shard.join(hash.to_hex()).exists() => {
                if done_here(std::fs::rename(&path, shard.join(hash.to_hex())))? {
                    moved += 1;
                }
            }
            _ => {
                done_here(std::fs::remove_file(&path))?;
            }
        }
    }
    Ok(moved)
}

/// Creates the 256 shard directories once (so that storing a blob never creates one), and
/// moves blobs of the earlier two-level layout (`ab/cd/<hex>`) to their one-level place.
fn prepare_shards(base: &Path) -> std::io::Result<()> {
    let marker = base.join(".layout-1");
    if marker.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(base)?;
    for i in 0..=255u8 {
        let shard = base.join(hex::encode([i]));
        match std::fs::create_dir(&shard) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        for sub in std::fs::read_dir(&shard)? {
            let sub = sub?.path();
            if !sub.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&sub)? {
                let f = f?;
                let name = f.file_name();
                if name.to_str().is_some_and(|n| BlobHash::parse(n).is_ok()) {
                    std::fs::rename(f.path(), shard.join(&name))?;
                } else {
                    // An interrupted promotion's temporary file.
                    std::fs::remove_file(f.path())?;
                }
            }
            std::fs::remove_dir(&sub)?;
        }
    }
    sync_all_of(base)?;
    std::fs::File::create(&marker)?;
    sync_all_of(base)
}

/// Makes everything written so far under `dir`'s file system durable.
fn sync_all_of(dir: &Path) -> std::io::Result<()> {
    let f = std::fs::File::open(dir)?;
    syncfs(&f)
}

#[cfg(target_os = "linux")]
fn syncfs(f: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `syncfs` only reads the descriptor, which `f` keeps open for the call.
    if unsafe { libc::syncfs(f.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn syncfs(f: &std::fs::File) -> std::io::Result<()> {
    // Without a per-file-system sync: flush everything, then the directory itself.
    // SAFETY: `sync` takes no arguments and cannot fail.
    unsafe { libc::sync() };
    f.sync_all()
}

type SyncReply = tokio::sync::oneshot::Sender<Result<(), String>>;

/// Group durability: callers wait for a `syncfs` that starts after they ask; one thread runs
/// them back to back, each answering every caller that was waiting when it started.
#[derive(Debug, Clone)]
struct GroupSync {
    tx: std::sync::mpsc::Sender<SyncReply>,
}

impl GroupSync {
    fn start(root: &Path) -> std::io::Result<GroupSync> {
        let dir = std::fs::File::open(root)?;
        let (tx, rx) = std::sync::mpsc::channel::<SyncReply>();
        std::thread::Builder::new()
            .name("diwan-blob-sync".into())
            .spawn(move || {
                // Ends when every handle to the store is dropped.
                while let Ok(first) = rx.recv() {
                    let mut waiting = vec![first];
                    waiting.extend(rx.try_iter());
                    let outcome = syncfs(&dir).map_err(|e| e.to_string());
                    for w in waiting {
                        let _ = w.send(outcome.clone());
                    }
                }
            })?;
        Ok(GroupSync { tx })
    }

    /// Returns once everything written before the call is durable.
    async fn sync(&self) -> std::io::Result<()> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.tx
            .send(reply)
            .map_err(|_| std::io::Error::other("the blob sync thread has stopped"))?;
        answer
            .await
            .map_err(|_| std::io::Error::other("the blob sync thread has stopped"))?
            .map_err(|e| std::io::Error::other(format!("syncing blobs: {e}")))
    }
}

/// In-memory promotions up to this many bytes in all make their system calls on the calling
/// thread; larger ones, and staged files, on a blocking thread.
const INLINE_PROMOTION: usize = 512 * 1024;

/// Runs `f` here when `inline`, else on a blocking thread.
async fn blocking<T: Send + 'static>(
    inline: bool,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<T> {
    if inline {
        return Ok(f());
    }
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Where a promotion stands after its first step.
enum Placed {
    /// The content is already stored under its name.
    Present,
    /// Written (or staged) at `from`, to be renamed to the final name once durable.
    Pending { from: PathBuf },
}

/// First step of a promotion: bytes in memory written to a pending file beside the blob's place
/// (or a staging file, already on the same file system).
///
/// Bytes in memory are written without first asking whether the blob is stored: nearly always
/// new (a receipt never repeats), and when not, the rename replaces the blob with the same
/// bytes. A staged file already written is dropped instead when its content is stored.
fn write_pending(content: &Staged, hash: &BlobHash, dst: &Path) -> std::io::Result<Placed> {
    if !matches!(content, Staged::Memory(_)) && dst.exists() {
        return Ok(Placed::Present);
    }
    match content {
        Staged::Memory(bytes) => {
            use std::io::Write;
            // In the blob's own directory: a rename within one directory is the cheapest.
            let tmp = dst
                .parent()
                .ok_or_else(|| std::io::Error::other("blob path has no parent"))?
                .join(pending_name(hash));
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .and_then(|mut f| f.write_all(bytes));
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            Ok(Placed::Pending { from: tmp })
        }
        Staged::File(src) => Ok(Placed::Pending { from: src.clone() }),
        Staged::Promoted => Ok(Placed::Present),
    }
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

    async fn promote_all(&self, staged: &mut [&mut StagedBlob]) -> Result<(), BlobError> {
        // (content, hash, final path) of each; staging files, which are not ours to remove on a
        // failed rename but must go in the end whatever happens.
        let jobs: Vec<(Staged, BlobHash, PathBuf)> = staged
            .iter_mut()
            .map(|s| {
                let content = std::mem::replace(&mut s.content, Staged::Promoted);
                (content, s.hash, self.path_of(&s.hash))
            })
            .collect();
        let staging_files: Vec<PathBuf> = jobs
            .iter()
            .filter_map(|(c, ..)| match c {
                Staged::File(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        // Small blobs in memory (a filing's document, a receipt) take a few short system calls:
        // made here, they cost less than the hand-over to a blocking thread and back.
        let inline = jobs.iter().all(|(c, ..)| !matches!(c, Staged::File(_)))
            && jobs
                .iter()
                .map(|(c, ..)| match c {
                    Staged::Memory(b) => b.len(),
                    _ => 0,
                })
                .sum::<usize>()
                <= INLINE_PROMOTION;
        let outcome = async {
            let placed = blocking(inline, move || {
                jobs.iter()
                    .map(|(content, hash, dst)| {
                        let ours = matches!(content, Staged::Memory(_));
                        write_pending(content, hash, dst).map(|p| (p, dst.clone(), ours))
                    })
                    .collect::<Vec<_>>()
            })
            .await?;
            // Written under temporary names: (from, to, whether the temporary file is ours).
            let mut pending = Vec::new();
            let mut failed = None;
            for p in placed {
                match p {
                    Ok((Placed::Pending { from }, dst, ours)) => pending.push((from, dst, ours)),
                    Ok((Placed::Present, ..)) => {}
                    Err(e) => failed = failed.or(Some(e)),
                }
            }
            let remove_ours = |pending: &[(PathBuf, PathBuf, bool)]| {
                for (from, _, ours) in pending {
                    if *ours {
                        let _ = std::fs::remove_file(from);
                    }
                }
            };
            if let Some(e) = failed {
                remove_ours(&pending);
                return Err(e);
            }
            // The contents durable first (or, for those stored already, perhaps by a promotion
            // whose rename is not durable yet, that rename), then their names.
            if let Err(e) = self.sync.sync().await {
                remove_ours(&pending);
                return Err(e);
            }
            if pending.is_empty() {
                return Ok(());
            }
            // Renames of pending files need not be waited for (the store's opening completes
            // any the system lost); those of staging files must.
            let staged_files = pending.iter().any(|(_, _, ours)| !*ours);
            blocking(inline, move || {
                let mut outcome = Ok(());
                for (from, dst, ours) in &pending {
                    if let Err(e) = std::fs::rename(from, dst) {
                        // A temporary file of ours that did not become the blob goes.
                        if *ours {
                            let _ = std::fs::remove_file(from);
                        }
                        outcome = outcome.and(Err(e));
                    }
                }
                outcome
            })
            .await??;
            if staged_files {
                self.sync.sync().await?;
            }
            Ok(())
        }
        .await;
        for src in staging_files {
            // Whether it was moved, deduplicated or failed, the staging file must go.
            if outcome.is_err() || src.exists() {
                let _ = std::fs::remove_file(&src);
            }
        }
        outcome.map_err(BlobError::Io)
    }

    async fn open(&self, hash: &BlobHash) -> Result<BlobReader, BlobError> {
        match tokio::fs::File::open(self.path_of(hash)).await {
            Ok(f) => Ok(BlobReader::File(f)),
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
                for f in std::fs::read_dir(&a)? {
                    let name = f?.file_name();
                    if let Some(h) = name.to_str().and_then(|n| BlobHash::parse(n).ok()) {
                        out.push(h);
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
        assert!(p.ends_with(format!("sha256/{}/{}", &h[0..2], h)));
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
        let shard = p.parent().unwrap();
        assert_eq!(
            std::fs::read_dir(shard).unwrap().count(),
            1,
            "no pending file"
        );
    }

    /// Only content held in memory and within the limit is taken; a taken blob keeps its hash
    /// and size, and promoting it afterwards writes nothing.
    #[tokio::test]
    async fn only_small_blobs_in_memory_are_taken() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).await.unwrap();
        let mut small = store.stage_bytes(b"%PDF-1.7 small").await.unwrap();
        assert_eq!(small.take_small(13), None, "over the limit: left as it was");
        let hash = small.hash();
        assert_eq!(
            small.take_small(14).as_deref(),
            Some(&b"%PDF-1.7 small"[..])
        );
        assert_eq!((small.hash(), small.size()), (hash, 14));
        assert_eq!(small.take_small(14), None, "taken once");
        store.promote(&mut small).await.unwrap();
        assert!(!store.exists(&hash).await.unwrap());
        // Spilled to a staging file: never taken, whatever the limit.
        let big = vec![7u8; SPILL_AT + 1];
        let mut spilled = store.stage_bytes(&big).await.unwrap();
        assert_eq!(spilled.take_small(u64::MAX), None);
        store.promote(&mut spilled).await.unwrap();
        assert_eq!(store.read(&spilled.hash()).await.unwrap(), big);
    }

    /// What a system that went down between a promotion's durable write and its durable
    /// rename leaves in `pending/` is put in place when the store opens; the rest is removed.
    #[tokio::test]
    async fn pending_files_are_recovered_when_the_store_opens() {
        let dir = tempfile::tempdir().unwrap();
        let stored = StagedBlob::from_vec(b"stored already".to_vec()).hash();
        {
            let store = LocalBlobStore::open(dir.path()).await.unwrap();
            store
                .promote(&mut StagedBlob::from_vec(b"stored already".to_vec()))
                .await
                .unwrap();
        }
        let long_ago = SystemTime::now() - Duration::from_secs(2 * 3600);
        let put = |sub: String, name: String, bytes: &[u8], modified: SystemTime| {
            let path = dir.path().join(sub).join(name);
            std::fs::write(&path, bytes).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(modified)
                .unwrap();
            path
        };
        let shard = |h: &BlobHash| format!("sha256/{}", &h.to_hex()[..2]);
        let lost = BlobHash::of(b"a receipt whose rename was lost");
        put(
            shard(&lost),
            format!(".{lost}.1.pending"),
            b"a receipt whose rename was lost",
            long_ago,
        );
        let torn = BlobHash::of(b"a document written in full");
        put(
            shard(&torn),
            format!(".{torn}.2.pending"),
            b"a document wr",
            long_ago,
        );
        put(
            shard(&stored),
            format!(".{stored}.3.pending"),
            b"stored already",
            long_ago,
        );
        let earlier = put("sha256/00".into(), ".0123.tmp".into(), b"?", long_ago);
        let young = BlobHash::of(b"a promotion under way");
        let in_flight = put(
            shard(&young),
            format!(".{young}.4.pending"),
            b"a promotion under way",
            SystemTime::now(),
        );
        let abandoned = put(
            "staging".into(),
            "upload-1".into(),
            b"half an upload",
            long_ago,
        );
        let streaming = put(
            "staging".into(),
            "upload-2".into(),
            b"an upload",
            SystemTime::now(),
        );

        let store = LocalBlobStore::open(dir.path()).await.unwrap();
        assert_eq!(
            store.check(&lost).await.unwrap(),
            BlobStatus::Sound { size: 31 }
        );
        assert_eq!(
            store.list().await.unwrap().len(),
            2,
            "torn content stays out"
        );
        assert!(store.exists(&stored).await.unwrap());
        let mut left: Vec<PathBuf> = std::fs::read_dir(dir.path().join("sha256"))
            .unwrap()
            .flat_map(|s| std::fs::read_dir(s.unwrap().path()).into_iter().flatten())
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with('.'))
            .collect();
        left.sort();
        assert_eq!(left, vec![in_flight], "only the young promotion is left");
        assert!(!earlier.exists());
        assert!(!abandoned.exists());
        assert!(streaming.exists());
    }

    #[tokio::test]
    async fn promoted_together_all_land_and_staging_empties() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).await.unwrap();
        // Stored already: deduplicated.
        let mut first = StagedBlob::from_vec(b"%PDF-1.7 stored before".to_vec());
        store.promote(&mut first).await.unwrap();
        let mut again = StagedBlob::from_vec(b"%PDF-1.7 stored before".to_vec());
        // In memory, with its hash given.
        let json = b"{\"receipt\":1}".to_vec();
        let mut hashed = StagedBlob::from_vec_hashed(json.clone(), BlobHash::of(&json).0);
        assert_eq!(hashed.head(), &json[..]);
        // Spilled to a staging file.
        let mut w = store.writer(10 << 20).await.unwrap();
        w.write(&vec![9u8; SPILL_AT + 1]).await.unwrap();
        let mut spilled = w.finish().await.unwrap();
        store
            .promote_all(&mut [&mut again, &mut hashed, &mut spilled])
            .await
            .unwrap();
        let mut listed = store.list().await.unwrap();
        listed.sort_by_key(|h| h.to_hex());
        let mut expected = vec![first.hash(), hashed.hash(), spilled.hash()];
        expected.sort_by_key(|h| h.to_hex());
        assert_eq!(listed, expected);
        assert_eq!(store.read(&hashed.hash()).await.unwrap(), json);
        assert_eq!(
            store.check(&spilled.hash()).await.unwrap(),
            BlobStatus::Sound {
                size: SPILL_AT as u64 + 1
            }
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("staging"))
                .unwrap()
                .count(),
            0
        );
        // No temporary file is left in the shards.
        for shard in std::fs::read_dir(dir.path().join("sha256")).unwrap() {
            let shard = shard.unwrap().path();
            if !shard.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(shard).unwrap() {
                let name = f.unwrap().file_name();
                assert!(!name.to_string_lossy().starts_with('.'), "{name:?}");
            }
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "the bytes' hash is not the one given")]
    fn a_wrong_hash_given_is_caught_in_debug_builds() {
        let _ = StagedBlob::from_vec_hashed(b"abc".to_vec(), [0u8; 32]);
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
    async fn blobs_of_the_two_level_layout_move_to_one_level() {
        let dir = tempfile::tempdir().unwrap();
        let hash = BlobHash::of(b"older");
        let h = hash.to_hex();
        let legacy = dir.path().join("sha256").join(&h[0..2]).join(&h[2..4]);
        std::fs::create_dir_all(&legacy).unwrap();
        std::fs::write(legacy.join(&h), b"older").unwrap();
        std::fs::write(legacy.join(".0123.tmp"), b"interrupted").unwrap();
        let store = LocalBlobStore::open(dir.path()).await.unwrap();
        assert_eq!(store.list().await.unwrap(), vec![hash]);
        assert_eq!(store.read(&hash).await.unwrap(), b"older");
        assert!(!legacy.exists());
        assert_eq!(
            std::fs::read_dir(dir.path().join("sha256"))
                .unwrap()
                .count(),
            257,
            "256 shards and the layout marker"
        );
        // Opening again changes nothing.
        drop(store);
        let store = LocalBlobStore::open(dir.path()).await.unwrap();
        assert_eq!(
            store.check(&hash).await.unwrap(),
            BlobStatus::Sound { size: 5 }
        );
    }

    #[tokio::test]
    async fn concurrent_promotions_share_durability_and_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..64u32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                // Half of them the same content: deduplicated while others are in flight.
                let body = if i % 2 == 0 {
                    i.to_be_bytes().to_vec()
                } else {
                    b"same".to_vec()
                };
                let mut s = store.stage_bytes(&body).await.unwrap();
                store.promote(&mut s).await.unwrap();
                (s.hash(), body)
            }));
        }
        for t in tasks {
            let (hash, body) = t.await.unwrap();
            assert_eq!(store.read(&hash).await.unwrap(), body);
        }
        assert_eq!(store.list().await.unwrap().len(), 33);
        let leftovers = std::fs::read_dir(dir.path().join("sha256"))
            .unwrap()
            .filter_map(|d| d.ok())
            .filter(|d| d.path().is_dir())
            .flat_map(|d| std::fs::read_dir(d.path()).unwrap())
            .filter(|f| {
                f.as_ref()
                    .map(|f| f.file_name().to_string_lossy().ends_with(".tmp"))
                    .unwrap_or(false)
            })
            .count();
        assert_eq!(leftovers, 0);
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
