//! Archive packages of closed files: the finished correspondences of a register's year as a
//! BagIt bag (RFC 8493), streamed as a tar file.
//!
//! ```text
//! <bag>/bagit.txt
//! <bag>/data/<number>/metadata.json     the record, its assignments, notes, replies, documents
//! <bag>/data/<number>/history.json      its audit events
//! <bag>/data/<number>/documents/<file>  its documents, from the blob store
//! <bag>/manifest-sha256.txt
//! <bag>/bag-info.txt                    Source-Organization, Bagging-Date, Payload-Oxum, …
//! <bag>/tagmanifest-sha256.txt
//! ```
//!
//! The tar is written entry by entry while it is sent: documents are read from the blob store
//! in chunks and hashed on the way (a document whose bytes no longer match its recorded
//! SHA-256 stops the export: an archive is never silently wrong), and the tag files, which need
//! every payload hash and the payload's size, come last. Memory holds one chunk and the
//! manifest's lines. If anything fails midway the stream ends with an error, so the client gets
//! a truncated download, never a complete-looking bad one.

use crate::access::Principal;
use crate::error::AppError;
use crate::reports::{RegisterYear, YearEntry, YearUse};
use crate::App;
use diwan_core::RegisterId;
use diwan_store::org::Administration;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// Bytes sent to the client at a time.
const CHUNK: usize = 64 * 1024;
const BLOCK: u64 = 512;

/// A piece of the tar stream, or the error that ended it.
pub type ArchiveChunk = Result<Vec<u8>, std::io::Error>;

/// An archive package being produced.
pub struct ArchiveExport {
    /// The file name to offer, e.g. `MTNRA-Registre_arrivee-2026.tar`.
    pub file_name: String,
    /// The tar stream, produced as it is read.
    pub body: mpsc::Receiver<ArchiveChunk>,
}

/// A path element safe on every file system and in a tar header: letters, digits, `-`, `_`
/// and `.` (anything else becomes `-` for slashes, `_` otherwise), not starting with a dot, at
/// most `max` bytes (an extension is kept when the name is shortened).
pub fn sanitize(name: &str, max: usize) -> String {
    let clean: String = name
        .trim()
        .chars()
        .map(|c| match c {
            '/' | '\\' => '-',
            c if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') => c,
            _ => '_',
        })
        .collect();
    let clean = clean.trim_start_matches('.');
    let cut = |s: &str, n: usize| -> String {
        let mut end = n.min(s.len());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s[..end].to_string()
    };
    let out = if clean.len() <= max {
        clean.to_string()
    } else {
        match clean.rfind('.') {
            Some(dot) if clean.len() - dot <= 10 && dot > 0 => {
                let ext = &clean[dot..];
                cut(&clean[..dot], max - ext.len()) + ext
            }
            _ => cut(clean, max),
        }
    };
    if out.is_empty() {
        "_".into()
    } else {
        out
    }
}

/// A path in a manifest: `%`, CR and LF percent-encoded (RFC 8493, section 2.1.3).
fn manifest_path(path: &str) -> String {
    path.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A tag value on one line.
fn one_line(v: &str) -> String {
    v.replace(['\r', '\n'], " ")
}

/// The tar stream: ustar entries written into chunks sent to the client.
struct TarOut {
    tx: mpsc::Sender<ArchiveChunk>,
    buf: Vec<u8>,
    mtime: u64,
}

impl TarOut {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), AppError> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), AppError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK + BLOCK as usize));
        self.tx
            .send(Ok(chunk))
            .await
            .map_err(|_| AppError::Internal("the archive's reader went away".into()))
    }

    /// Starts an entry of `size` bytes (a directory when `path` ends with `/`).
    async fn start(&mut self, path: &str, size: u64) -> Result<(), AppError> {
        let mut h = tar::Header::new_ustar();
        h.set_path(path)
            .map_err(|e| AppError::Internal(format!("archive path {path:?}: {e}")))?;
        if path.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
        }
        h.set_size(size);
        h.set_mtime(self.mtime);
        h.set_cksum();
        self.write(h.as_bytes()).await
    }

    /// Pads the entry's data to a whole block.
    async fn end(&mut self, size: u64) -> Result<(), AppError> {
        let pad = (BLOCK - size % BLOCK) % BLOCK;
        self.write(&vec![0u8; pad as usize]).await
    }

    async fn file(&mut self, path: &str, data: &[u8]) -> Result<(), AppError> {
        self.start(path, data.len() as u64).await?;
        self.write(data).await?;
        self.end(data.len() as u64).await
    }

    /// Two zero blocks end the archive.
    async fn finish(mut self) -> Result<(), AppError> {
        self.write(&[0u8; 2 * BLOCK as usize]).await?;
        self.flush().await
    }
}

/// A bag being written: its payload manifest and Payload-Oxum grow as files are added.
struct Bag {
    out: TarOut,
    root: String,
    manifest: String,
    bytes: u64,
    files: u64,
    tags: Vec<(String, String)>,
}

impl Bag {
    async fn tag_file(&mut self, name: &str, text: &str) -> Result<(), AppError> {
        let path = format!("{}/{name}", self.root);
        self.out.file(&path, text.as_bytes()).await?;
        self.tags
            .push((hex::encode(Sha256::digest(text.as_bytes())), name.into()));
        Ok(())
    }

    fn record(&mut self, rel: &str, sha256: &str, size: u64) {
        self.manifest.push_str(sha256);
        self.manifest.push_str("  ");
        self.manifest
            .push_str(&manifest_path(&format!("data/{rel}")));
        self.manifest.push('\n');
        self.bytes += size;
        self.files += 1;
    }

    async fn payload(&mut self, rel: &str, data: &[u8]) -> Result<(), AppError> {
        let path = format!("{}/data/{rel}", self.root);
        self.out.file(&path, data).await?;
        self.record(rel, &hex::encode(Sha256::digest(data)), data.len() as u64);
        Ok(())
    }

    /// A document from the blob store, read in chunks and checked against its SHA-256.
    async fn document(
        &mut self,
        rel: &str,
        mut file: diwan_store::BlobReader,
        size: u64,
        sha256: &str,
    ) -> Result<(), AppError> {
        let path = format!("{}/data/{rel}", self.root);
        self.out.start(&path, size).await?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut seen = 0u64;
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(|e| AppError::Internal(format!("reading {rel}: {e}")))?;
            if n == 0 {
                break;
            }
            seen += n as u64;
            if seen > size {
                break;
            }
            hasher.update(&buf[..n]);
            self.out.write(&buf[..n]).await?;
        }
        let actual = hex::encode(hasher.finalize());
        if seen != size || actual != sha256 {
            return Err(AppError::Internal(format!(
                "the stored bytes of {rel} do not match its recorded size and SHA-256: export stopped"
            )));
        }
        self.out.end(size).await?;
        self.record(rel, sha256, size);
        Ok(())
    }
}

impl App {
    /// The closed files (finished correspondences: closed, closed without follow-up, answered,
    /// sent) of a register's year as a BagIt bag in a tar stream, with what the caller may see.
    /// For the register's registry office and administrators.
    pub async fn archive_export(
        &self,
        who: &Principal,
        register: RegisterId,
        year: i32,
    ) -> Result<ArchiveExport, AppError> {
        let book = self
            .register_year(who, register, year, YearUse::Archive)
            .await?;
        let admin = book.tenant.administration().await?;
        // The bag's directory, also the download's name: ASCII for the Content-Disposition.
        let root: String = sanitize(&format!("{}-{}-{year}", admin.code, book.register.name), 60)
            .chars()
            .map(|c| if c.is_ascii() { c } else { '_' })
            .collect();
        let now = time::OffsetDateTime::now_utc();
        let (tx, rx) = mpsc::channel(4);
        let bag = Bag {
            out: TarOut {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK + BLOCK as usize),
                mtime: now.unix_timestamp().max(0) as u64,
            },
            root: root.clone(),
            manifest: String::new(),
            bytes: 0,
            files: 0,
            tags: Vec::new(),
        };
        let bagging_date = self.today().to_string();
        let app = self.clone();
        tokio::spawn(async move {
            if let Err(e) = write_bag(&app, book, admin, bag, &bagging_date).await {
                if tx.is_closed() {
                    tracing::debug!("archive export abandoned by its reader");
                } else {
                    tracing::warn!(error = %e, "archive export stopped");
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                }
            }
        });
        Ok(ArchiveExport {
            file_name: format!("{root}.tar"),
            body: rx,
        })
    }
}

async fn write_bag(
    app: &App,
    mut book: RegisterYear,
    admin: Administration,
    mut bag: Bag,
    bagging_date: &str,
) -> Result<(), AppError> {
    bag.tag_file(
        "bagit.txt",
        "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
    )
    .await?;
    let data_dir = format!("{}/data/", bag.root);
    bag.out.start(&data_dir, 0).await?;
    let mut closed = 0u64;
    loop {
        let page = book.next_page().await?;
        if page.is_empty() {
            break;
        }
        for entry in page.iter().filter(|e| e.c.status.is_final()) {
            closed += 1;
            write_file(app, &book, &mut bag, entry).await?;
        }
    }
    let manifest = std::mem::take(&mut bag.manifest);
    bag.tag_file("manifest-sha256.txt", &manifest).await?;
    let info = [
        ("Source-Organization", admin.names.fr.clone()),
        // Repeatable (RFC 8493, section 2.2.2): the administration in French and in Arabic.
        ("Source-Organization", admin.names.ar.clone()),
        (
            "External-Identifier",
            format!("{}/{}/{}", admin.code, book.register.id, book.year),
        ),
        (
            "External-Description",
            format!(
                "Dossiers clos du registre « {} », année {} ({closed} courriers)",
                book.register.name, book.year
            ),
        ),
        ("Internal-Sender-Identifier", book.register.id.to_string()),
        ("Bagging-Date", bagging_date.to_string()),
        ("Bag-Count", "1 of 1".into()),
        (
            "Bag-Software-Agent",
            format!("Diwan {}", env!("CARGO_PKG_VERSION")),
        ),
        ("Payload-Oxum", format!("{}.{}", bag.bytes, bag.files)),
    ];
    let info: String = info
        .iter()
        .map(|(k, v)| format!("{k}: {}\n", one_line(v)))
        .collect();
    bag.tag_file("bag-info.txt", &info).await?;
    let tagmanifest: String = bag
        .tags
        .iter()
        .map(|(hash, name)| format!("{hash}  {}\n", manifest_path(name)))
        .collect();
    let path = format!("{}/tagmanifest-sha256.txt", bag.root);
    bag.out.file(&path, tagmanifest.as_bytes()).await?;
    bag.out.finish().await
}

/// One closed file: its metadata, its history and its documents.
async fn write_file(
    app: &App,
    book: &RegisterYear,
    bag: &mut Bag,
    YearEntry { c, state }: &YearEntry,
) -> Result<(), AppError> {
    let tenant = &book.tenant;
    let dir = sanitize(&c.number, 60);
    let entity = |id| {
        book.entity(id)
            .map(|e| json!({ "id": e.id, "code": e.code, "name_fr": e.names.fr, "name_ar": e.names.ar }))
            .unwrap_or(Value::Null)
    };
    let docs = tenant.documents(c.id).await?;
    let mut names: Vec<String> = Vec::with_capacity(docs.len());
    for d in &docs {
        let mut name = sanitize(&d.file_name, 80);
        if names.contains(&name) {
            name = sanitize(&format!("{}-{name}", d.position), 80);
        }
        names.push(name);
    }
    let assignments: Vec<Value> = tenant
        .assignments(c.id)
        .await?
        .into_iter()
        .map(|a| {
            let mut v = json!(a);
            v["to_entity"] = entity(Some(a.to_entity_id));
            v["from_entity"] = entity(a.from_entity_id);
            v
        })
        .collect();
    let notes: Vec<Value> = tenant
        .notes(c.id)
        .await?
        .into_iter()
        .filter(|n| !n.restricted)
        .map(|n| json!(n))
        .collect();
    let replies: Vec<Value> = tenant
        .replies(c.id)
        .await?
        .iter()
        .map(|r| json!({ "id": r.id, "number": r.number, "subject": r.subject, "status": r.status, "registered_at": r.registered_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default() }))
        .collect();
    let in_reply_to = match state.in_reply_to {
        Some(id) => {
            let r = tenant.correspondence(id).await?;
            json!({ "id": r.id, "number": r.number })
        }
        None => Value::Null,
    };
    let metadata = json!({
        "correspondence": c,
        "register": { "id": book.register.id, "name": book.register.name, "direction": book.register.direction },
        "handling_entity": entity(state.handling_entity),
        "outcome": state.outcome,
        "in_reply_to": in_reply_to,
        "replies": replies,
        "assignments": assignments,
        "notes": notes,
        "documents": docs.iter().zip(&names).map(|(d, name)| json!({
            "path": format!("documents/{name}"), "file_name": d.file_name, "role": d.role,
            "media_type": d.media_type, "size": d.size, "sha256": d.sha256,
        })).collect::<Vec<_>>(),
    });
    let history = json!({ "items": tenant.audit_of(&c.id.to_string()).await? });
    let pretty =
        |v: &Value| serde_json::to_vec_pretty(v).map_err(|e| AppError::Internal(e.to_string()));
    bag.payload(&format!("{dir}/metadata.json"), &pretty(&metadata)?)
        .await?;
    bag.payload(&format!("{dir}/history.json"), &pretty(&history)?)
        .await?;
    for (d, name) in docs.iter().zip(&names) {
        let hash = diwan_store::BlobHash::parse(&d.sha256)?;
        let file = app.store.blobs().open(&hash).await?;
        bag.document(
            &format!("{dir}/documents/{name}"),
            file,
            d.size.max(0) as u64,
            &d.sha256,
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_path_elements() {
        assert_eq!(
            sanitize("BO-CENTRAL/A/2026/000042", 60),
            "BO-CENTRAL-A-2026-000042"
        );
        assert_eq!(sanitize("../../etc/passwd", 60), "-..-etc-passwd");
        assert_eq!(sanitize("..", 60), "_");
        assert_eq!(sanitize("بطاقة التعريف.jpg", 80), "بطاقة_التعريف.jpg");
        let long = format!("{}.pdf", "é".repeat(100));
        let s = sanitize(&long, 80);
        assert!(s.len() <= 80 && s.ends_with(".pdf"), "{s}");
        assert_eq!(manifest_path("data/a%b\nc"), "data/a%25b%0Ac");
    }

    #[tokio::test]
    async fn tar_entries_are_whole_blocks() {
        let (tx, mut rx) = mpsc::channel(16);
        let mut out = TarOut {
            tx,
            buf: Vec::new(),
            mtime: 0,
        };
        out.file("bag/data/x.txt", b"hello").await.unwrap();
        out.finish().await.unwrap();
        let mut all = Vec::new();
        while let Some(c) = rx.recv().await {
            all.extend(c.unwrap());
        }
        assert_eq!(all.len(), 512 + 512 + 1024);
        let mut ar = tar::Archive::new(&all[..]);
        let mut entries = ar.entries().unwrap();
        let mut e = entries.next().unwrap().unwrap();
        assert_eq!(e.path().unwrap().to_str(), Some("bag/data/x.txt"));
        let mut s = String::new();
        std::io::Read::read_to_string(&mut e, &mut s).unwrap();
        assert_eq!(s, "hello");
    }
}
