//! Acknowledgements of receipt: the sealed PDF and the signed machine-readable JSON of a filing.
//!
//! Both are produced from the committed filing (right after it, or later if the process stopped
//! in between): nothing in them depends on the moment they are made but the seal's signature
//! time and the signed tree head, which only ever grows. They are produced once and stored.

use crate::context::App;
use crate::error::AppError;
use base64::Engine;
use diwan_core::calendar::LegalBasis;
use diwan_core::correspondence::ContactKind;
use diwan_core::CorrespondenceId;
use diwan_crypto::canonical;
use diwan_crypto::cms::CmsSigner;
use diwan_pades::{Level, SignOptions};
use diwan_pdf::receipt::{Deadline, DocumentLine, ReceiptData};
use diwan_store::portal::{Filing, ReceiptParts};
use diwan_store::StagedBlob;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// Receipts produced by this process and the nanoseconds spent producing them (rendering,
/// sealing, time-stamping, signing the JSON).
static RECEIPTS: (AtomicU64, AtomicU64) = (AtomicU64::new(0), AtomicU64::new(0));

/// Processor time spent sealing receipts (the rendering and signing, without the reads), in
/// nanoseconds: what a filing costs in computation, apart from waiting.
static SEALING_CPU: AtomicU64 = AtomicU64::new(0);

/// Receipts produced by this process so far.
#[derive(Debug, Clone, Copy)]
pub struct ReceiptStats {
    pub count: u64,
    /// Time to produce them, reads included.
    pub seconds: f64,
    /// Processor time spent sealing them.
    pub sealing_cpu_seconds: f64,
}

/// The receipts produced by this process so far.
pub fn receipt_stats() -> ReceiptStats {
    ReceiptStats {
        count: RECEIPTS.0.load(Ordering::Relaxed),
        seconds: RECEIPTS.1.load(Ordering::Relaxed) as f64 / 1e9,
        sealing_cpu_seconds: SEALING_CPU.load(Ordering::Relaxed) as f64 / 1e9,
    }
}

/// The processor time the calling thread has used, in nanoseconds (0 where unknown).
fn thread_cpu_nanos() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given, which lives on this stack frame.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    if rc != 0 {
        return 0;
    }
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}

/// Which receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptKind {
    Pdf,
    Json,
}

fn kind_labels(k: ContactKind) -> (&'static str, &'static str) {
    match k {
        ContactKind::Person => ("personne physique", "شخص ذاتي"),
        ContactKind::Company => ("personne morale", "شخص اعتباري"),
        ContactKind::Administration => ("administration", "إدارة"),
    }
}

/// The length of the built-in rule of a legal basis, for records registered before the rule
/// applied was stored with them.
fn builtin_days(b: LegalBasis) -> u32 {
    use diwan_core::calendar::DeadlineRule;
    match b {
        LegalBasis::Law55_19 => DeadlineRule::GENERAL.days,
        LegalBasis::Law55_19Investment => DeadlineRule::INVESTMENT.days,
        LegalBasis::Law31_13 => DeadlineRule::ACCESS_TO_INFORMATION.days,
        LegalBasis::Internal => 0,
    }
}

impl App {
    /// Produces the receipts of filings committed without them (the process stopped between the
    /// filing's commit and its receipts), at start and then every 30 seconds, until `stop`.
    pub async fn run_receipt_repair(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            match self.store.filings_without_receipt(100).await {
                Ok(list) => {
                    for f in list {
                        match self.issue_receipts(&f).await {
                            Ok(()) => {
                                tracing::info!(filing = %f.correspondence_id, "receipt produced after restart")
                            }
                            Err(e) => {
                                tracing::error!(filing = %f.correspondence_id, error = %e, "receipt not produced")
                            }
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot list filings without receipt"),
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// The receipts of a filing: stored ones, or produced now.
    pub async fn receipt(&self, token: &str, kind: ReceiptKind) -> Result<Vec<u8>, AppError> {
        let filing = self
            .store
            .filing_by_receipt_token(token)
            .await?
            .ok_or_else(|| AppError::NotFound("receipt".into()))?;
        let filing = if filing.receipt_pdf.is_none() || filing.receipt_json.is_none() {
            self.issue_receipts(&filing).await?;
            self.store
                .filing_of(filing.correspondence_id)
                .await?
                .ok_or_else(|| AppError::NotFound("receipt".into()))?
        } else {
            filing
        };
        let parse = |hash: &str| {
            diwan_store::BlobHash::parse(hash).map_err(|e| AppError::Internal(e.to_string()))
        };
        let stored = |hash: Option<String>| {
            parse(&hash.ok_or_else(|| AppError::Internal("receipt not stored".into()))?)
        };
        let pdf_hash = stored(filing.receipt_pdf)?;
        let blobs = self.store.blobs();
        let pdf = match &filing.receipt_parts {
            None => blobs.read(&pdf_hash).await?,
            Some(parts) => {
                let mut pdf = blobs.read(&parse(&parts.prefix)?).await?;
                match self.store.receipt_tail(filing.correspondence_id).await? {
                    Some(tail) => pdf.extend(tail),
                    None => pdf.extend(blobs.read(&parse(&parts.tail)?).await?),
                }
                if diwan_store::BlobHash::of(&pdf) != pdf_hash {
                    return Err(AppError::Internal(format!(
                        "the stored receipt's two parts do not make the receipt {pdf_hash} (run diwan fsck)"
                    )));
                }
                pdf
            }
        };
        match kind {
            ReceiptKind::Pdf => Ok(pdf),
            ReceiptKind::Json => embedded_json(pdf, &stored(filing.receipt_json)?),
        }
    }

    /// Produces and stores the receipts of a filing (no-op if another request already did).
    pub async fn issue_receipts(&self, filing: &Filing) -> Result<(), AppError> {
        let facts = self.receipt_facts(filing).await?;
        self.issue_receipts_from(filing.correspondence_id, facts)
            .await
    }

    /// Produces and stores the receipts of a filing from what they state.
    pub(crate) async fn issue_receipts_from(
        &self,
        filing: CorrespondenceId,
        facts: ReceiptFacts,
    ) -> Result<(), AppError> {
        let r = self.produce_receipts_from(facts).await?;
        // The JSON is stored inside the PDF only (see `embedded_json`): its hash is recorded.
        let json_hash = diwan_store::BlobHash::of(&r.json);
        let pdf_hash = diwan_store::BlobHash(r.pdf_sha256);
        let (parts, new_prefix) = self
            .store_receipt_pdf(r.pdf, r.pdf_sha256, r.shared_prefix)
            .await?;
        let (parts, tail) = parts.unzip();
        self.store
            .set_receipts(
                filing,
                &pdf_hash.to_hex(),
                &json_hash.to_hex(),
                parts.as_ref(),
                tail,
            )
            .await?;
        if let Some(stored) = new_prefix {
            // A garbage collection running between the prefix's storing and its first
            // reference would have taken it: now referenced, it is put back if so.
            let (bytes, hash) = stored.as_ref();
            if !self.store.blobs().exists(hash).await? {
                self.store
                    .blobs()
                    .promote(&mut StagedBlob::from_vec(bytes.clone()))
                    .await?;
            }
        }
        Ok(())
    }

    /// Stores a sealed receipt PDF whose first `shared` bytes (header and fonts) are the same
    /// in every receipt: those once for all as a blob of their own, which saves about 99 KB of
    /// disk (and of writing) per filing; the rest (about 37 KB) is answered with the parts, to
    /// be kept in the filing's row by the transaction that records the receipt, which spares a
    /// file's creation, rename and sync per filing. A receipt without such a prefix is stored
    /// whole (no parts). Also answers the prefix when this receipt was the one to store it
    /// (this process had not stored it before).
    async fn store_receipt_pdf(
        &self,
        mut pdf: Vec<u8>,
        sha256: [u8; 32],
        shared: usize,
    ) -> Result<StoredReceipt, AppError> {
        if shared < MIN_SHARED_PREFIX || shared >= pdf.len() {
            // Taken over without a copy; the PDF's hash is the one its sealing computed.
            let mut whole = StagedBlob::from_vec_hashed(pdf, sha256);
            self.store.blobs().promote(&mut whole).await?;
            return Ok((None, None));
        }
        let (prefix, new_prefix) = match self.receipt_prefix.known(&pdf[..shared]) {
            Some(hash) => (hash, None),
            None => {
                let mut blob = StagedBlob::from_vec(pdf[..shared].to_vec());
                self.store.blobs().promote(&mut blob).await?;
                let stored = self
                    .receipt_prefix
                    .remember(pdf[..shared].to_vec(), blob.hash());
                (blob.hash(), Some(stored))
            }
        };
        let tail = pdf.split_off(shared);
        let parts = ReceiptParts {
            prefix: prefix.to_hex(),
            tail: diwan_store::BlobHash::of(&tail).to_hex(),
        };
        Ok((Some((parts, tail)), new_prefix))
    }

    /// Builds the two receipts of a filing, and counts the time it takes.
    pub async fn produce_receipts(&self, filing: &Filing) -> Result<Receipts, AppError> {
        let facts = self.receipt_facts(filing).await?;
        self.produce_receipts_from(facts).await
    }

    async fn produce_receipts_from(&self, facts: ReceiptFacts) -> Result<Receipts, AppError> {
        let started = std::time::Instant::now();
        let r = self.build_receipts(facts).await;
        if r.is_ok() {
            RECEIPTS.0.fetch_add(1, Ordering::Relaxed);
            RECEIPTS
                .1
                .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        r
    }

    async fn build_receipts(&self, facts: ReceiptFacts) -> Result<Receipts, AppError> {
        let inputs = self.inputs_from(facts).await?;
        // Sealed on this thread: under a millisecond of computation, for which the hand-over to
        // a blocking thread and back cost more than it spared the runtime. The runtime has a
        // thread per core, so as many receipts are sealed at once as there are cores.
        let before = thread_cpu_nanos();
        let sealed = inputs.seal();
        SEALING_CPU.fetch_add(thread_cpu_nanos().saturating_sub(before), Ordering::Relaxed);
        sealed
    }

    /// Everything the receipts of a filing state, read from the store.
    pub async fn receipt_inputs(&self, filing: &Filing) -> Result<ReceiptInputs, AppError> {
        let facts = self.receipt_facts(filing).await?;
        self.inputs_from(facts).await
    }

    /// What a filing's receipts state about it, read back from the store.
    async fn receipt_facts(&self, filing: &Filing) -> Result<ReceiptFacts, AppError> {
        let admin = self.store.administration(filing.administration_id).await?;
        let tenant = self.store.tenant(admin.id);
        let c = tenant.correspondence(filing.correspondence_id).await?;
        let docs = tenant.documents(c.id).await?;
        let register = tenant.register(c.register_id).await?;
        let office = tenant.entity(register.entity_id).await?;
        let id_number = match c.contact_id {
            Some(id) => tenant.contact(id).await?.id_number,
            None => None,
        };
        let leaf = self.store.leaf(filing.leaf_index).await?;
        // The rule as it was applied when the filing was registered (the record carries it).
        let deadline = match (c.due_date, c.deadline_basis) {
            (Some(date), Some(basis)) => Some(AppliedDeadline {
                date,
                basis,
                days: c
                    .deadline_days
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or_else(|| builtin_days(basis)),
                working: c.deadline_working,
                silence_means_acceptance: c.silence_means_acceptance,
            }),
            _ => None,
        };
        Ok(ReceiptFacts {
            administration: admin,
            office,
            number: c.number,
            registered_at: c.registered_at,
            party_kind: c.party_kind,
            party_name: c.party_name,
            id_number,
            subject: c.subject,
            documents: docs
                .into_iter()
                .filter(|d| d.role != diwan_core::correspondence::DocumentRole::Receipt)
                .map(|d| DocumentLine {
                    name: d.file_name,
                    size: d.size as u64,
                    sha256: d.sha256,
                })
                .collect(),
            deadline,
            procedure: c.procedure,
            leaf_index: filing.leaf_index,
            log_entry: leaf.entry,
            filer_salt: filing.filer_salt.clone(),
        })
    }

    /// The receipts' inputs from what they state: adds the signed tree head covering the
    /// filing's leaf, its inclusion proof and the administration's seal.
    pub(crate) async fn inputs_from(&self, f: ReceiptFacts) -> Result<ReceiptInputs, AppError> {
        let (sth, proof) = self.tree_head_and_proof(f.leaf_index as u64).await?;
        let admin = &f.administration;
        let office = &f.office;
        let seal = self.seal(admin.id).await?;
        let pki = self.pki();
        let b64 = base64::engine::general_purpose::STANDARD;
        let local = f.registered_at.to_offset(self.offset());
        let id_masked = f.id_number.as_deref().map(diwan_core::text::mask);
        let verify_url = format!(
            "{}/verifier?n={}",
            self.config.public_url(),
            urlencode(&f.number)
        );
        let tracking_url = format!("{}/suivi", self.config.public_url());
        let leaf_hash = diwan_crypto::merkle::leaf_hash(f.log_entry.as_bytes());
        let receipt = json!({
            "type": "diwan.receipt",
            "version": 1,
            "administration": { "code": admin.code, "name_fr": admin.names.fr, "name_ar": admin.names.ar, "name_zgh": admin.names.zgh },
            "registry_office": { "code": office.code, "name_fr": office.names.fr, "name_ar": office.names.ar },
            "number": f.number,
            "registered_at": f.registered_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "channel": "portal",
            "filer": {
                "kind": f.party_kind,
                "name": f.party_name,
                "id_number_masked": id_masked,
                "salt": f.filer_salt,
            },
            "subject": f.subject,
            "documents": f.documents.iter().map(|d| json!({ "name": d.name, "size": d.size, "sha256": d.sha256 })).collect::<Vec<_>>(),
            "deadline": f.deadline.as_ref().map(|d| json!({
                "due_date": d.date.to_string(), "legal_basis": d.basis.as_str(), "days": d.days, "working_days": d.working,
                "procedure": f.procedure, "silence_means_acceptance": d.silence_means_acceptance,
            })),
            "log": {
                "leaf_index": f.leaf_index,
                "entry": f.log_entry,
                "leaf_hash": b64.encode(leaf_hash),
                "tree_head": sth,
                "inclusion_proof": proof,
                "log_certificate": b64.encode(pki.log_cert.der()),
            },
            "verify_url": verify_url,
        });
        let (kind_fr, kind_ar) = kind_labels(f.party_kind);
        let data = ReceiptData {
            administration_fr: admin.names.fr.clone(),
            administration_ar: admin.names.ar.clone(),
            administration_zgh: admin.names.zgh.clone(),
            registry_office_fr: office.names.fr.clone(),
            registry_office_ar: office.names.ar.clone(),
            number: f.number.clone(),
            received_local: format!(
                "{:02}/{:02}/{} à {:02}:{:02}:{:02} (UTC{})",
                local.day(),
                u8::from(local.month()),
                local.year(),
                local.hour(),
                local.minute(),
                local.second(),
                offset_text(self.offset())
            ),
            received_utc: f
                .registered_at
                .replace_nanosecond(0)
                .unwrap_or(f.registered_at)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            filer_name: f.party_name.clone(),
            filer_kind_fr: kind_fr.into(),
            filer_kind_ar: kind_ar.into(),
            filer_id_masked: id_masked.map(|m| {
                format!(
                    "{} {m}",
                    if f.party_kind == ContactKind::Company {
                        "ICE"
                    } else {
                        "CIN"
                    }
                )
            }),
            subject: f.subject.clone(),
            documents: f.documents.clone(),
            deadline: f.deadline.as_ref().map(|d| Deadline {
                date: format!(
                    "{:02}/{:02}/{}",
                    d.date.day(),
                    u8::from(d.date.month()),
                    d.date.year()
                ),
                days: d.days,
                working_days: d.working,
                law_fr: d.basis.label_fr().into(),
                law_ar: d.basis.label_ar().into(),
                silence_means_acceptance: d.silence_means_acceptance,
            }),
            tracking_url,
            verify_url,
            log_index: f.leaf_index as u64,
            tree_size: sth.tree_size,
            log_root: hex::encode(b64.decode(&sth.root_hash).unwrap_or_default()),
            created_utc: f.registered_at,
            receipt_json: None,
        };
        Ok(ReceiptInputs {
            receipt,
            data,
            seal,
            root: pki.root.clone(),
            tsa: pki.timestamps.clone(),
            sealed_by: admin.names.fr.clone(),
        })
    }
}

/// What a filing's receipts state about it: taken from the registration as it is committed
/// (no need to read it back), or read from the store for a filing whose receipts are made later.
#[derive(Debug, Clone)]
pub struct ReceiptFacts {
    pub administration: diwan_store::org::Administration,
    pub office: diwan_store::org::Entity,
    pub number: String,
    pub registered_at: time::OffsetDateTime,
    pub party_kind: ContactKind,
    pub party_name: String,
    pub id_number: Option<String>,
    pub subject: String,
    pub documents: Vec<DocumentLine>,
    pub deadline: Option<AppliedDeadline>,
    pub procedure: Option<String>,
    pub leaf_index: i64,
    /// The filing's leaf in the transparency log, as logged.
    pub log_entry: String,
    /// Salt of the filer's data in the log entry.
    pub filer_salt: String,
}

/// The processing deadline as applied when the filing was registered.
#[derive(Debug, Clone)]
pub struct AppliedDeadline {
    pub date: time::Date,
    pub basis: LegalBasis,
    pub days: u32,
    pub working: bool,
    pub silence_means_acceptance: bool,
}

/// What the receipts of a filing are made of: the statement, the page's contents and the keys
/// that seal them. Producing the receipts from it is pure computation.
pub struct ReceiptInputs {
    receipt: Value,
    data: ReceiptData,
    seal: std::sync::Arc<crate::pki::Seal>,
    root: diwan_crypto::Certificate,
    tsa: std::sync::Arc<dyn diwan_crypto::tsa::TimestampSource>,
    sealed_by: String,
}

impl ReceiptInputs {
    /// Signs the machine-readable receipt, renders the PDF with it attached, and seals the PDF
    /// (PAdES B-T, time-stamped).
    pub fn seal(mut self) -> Result<Receipts, AppError> {
        let seal = &self.seal;
        let signed = canonical::sign(&self.receipt, &seal.key, &[&seal.cert, &self.root])
            .map_err(|e| AppError::Internal(e.to_string()))?;
        // Compact: a machine-readable receipt, a fifth smaller than indented.
        let json = serde_json::to_vec(&signed).map_err(|e| AppError::Internal(e.to_string()))?;
        self.data.receipt_json = Some(json);
        let rendered = diwan_pdf::receipt::render_sharing(&self.data)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let chain = [self.root.clone()];
        let signer = CmsSigner {
            key: &seal.key,
            cert: &seal.cert,
            chain: &chain,
        };
        let mut opts = SignOptions::new(Level::BT);
        opts.tsa = Some(self.tsa.as_ref());
        opts.signing_time = time::OffsetDateTime::now_utc();
        opts.reason = Some("Accusé de réception — إشعار بالتوصل".into());
        opts.name = Some(self.sealed_by.clone());
        opts.field_name = Some("Cachet".into());
        // The fonts every receipt embeds: their hash is kept from one receipt to the next.
        opts.shared_prefix = rendered.shared_prefix;
        let sealed = diwan_pades::sign_vec(rendered.pdf, &signer, &opts)
            .map_err(|e| AppError::Internal(format!("sealing the receipt: {e}")))?;
        Ok(Receipts {
            pdf: sealed.pdf,
            pdf_sha256: sealed.sha256,
            shared_prefix: rendered.shared_prefix,
            json: self.data.receipt_json.take().unwrap_or_default(),
        })
    }
}

/// A shared prefix's bytes and the blob holding them.
type NewPrefix = (Vec<u8>, diwan_store::BlobHash);

/// A receipt PDF as stored: its two parts with the tail's bytes (None: stored whole), and the
/// prefix when this receipt stored it.
type StoredReceipt = (
    Option<(ReceiptParts, Vec<u8>)>,
    Option<std::sync::Arc<NewPrefix>>,
);

/// Shorter shared beginnings are not worth a blob of their own.
const MIN_SHARED_PREFIX: usize = 16 * 1024;

/// The bytes every receipt starts with, once stored as a blob: later receipts that start with
/// the same bytes (compared in full) refer to it instead of storing them again.
#[derive(Default)]
pub(crate) struct StoredPrefix {
    known: std::sync::Mutex<Option<std::sync::Arc<NewPrefix>>>,
}

impl StoredPrefix {
    /// The blob holding exactly `bytes`, when it is the one stored last.
    fn known(&self, bytes: &[u8]) -> Option<diwan_store::BlobHash> {
        let known = self.known.lock().ok()?.clone()?;
        (known.0 == bytes).then_some(known.1)
    }

    /// Remembers the blob just stored with these bytes (filings are never deleted, so once a
    /// receipt refers to it, it stays), and hands them back.
    fn remember(&self, bytes: Vec<u8>, hash: diwan_store::BlobHash) -> std::sync::Arc<NewPrefix> {
        let stored = std::sync::Arc::new((bytes, hash));
        if let Ok(mut known) = self.known.lock() {
            *known = Some(std::sync::Arc::clone(&stored));
        }
        stored
    }
}

/// The two receipts of a filing, as sealed.
#[derive(Debug)]
pub struct Receipts {
    /// The PDF, sealed (PAdES B-T).
    pub pdf: Vec<u8>,
    /// The PDF's SHA-256, computed while it was sealed.
    pub pdf_sha256: [u8; 32],
    /// How many of the PDF's first bytes (header and fonts) every ordinary receipt shares.
    pub shared_prefix: usize,
    /// The signed machine-readable receipt (also attached to the PDF).
    pub json: Vec<u8>,
}

/// The machine-readable receipt, taken out of the sealed PDF that embeds it: it is stored
/// there only, which saves a file per filing. It must be the one whose hash was recorded.
fn embedded_json(pdf: Vec<u8>, recorded: &diwan_store::BlobHash) -> Result<Vec<u8>, AppError> {
    let json = diwan_pades::reader::Reader::open(Box::new(pdf))
        .and_then(|r| receipt_json_in(&r))
        .map_err(|e| AppError::Internal(format!("reading the stored receipt: {e}")))?
        .ok_or_else(|| AppError::Internal("the stored receipt embeds no receipt.json".into()))?;
    if diwan_store::BlobHash::of(&json) != *recorded {
        return Err(AppError::Internal(
            "the stored receipt's receipt.json is not the one recorded".into(),
        ));
    }
    Ok(json)
}

/// The machine-readable receipt a PDF embeds, if it embeds one.
pub(crate) fn receipt_json_in<S: diwan_pades::reader::Source + ?Sized>(
    pdf: &diwan_pades::reader::Reader<S>,
) -> Result<Option<Vec<u8>>, diwan_pades::PdfError> {
    Ok(pdf
        .embedded_files()?
        .into_iter()
        .find_map(|(name, data)| (name == diwan_pdf::receipt::JSON_ATTACHMENT).then_some(data)))
}

fn offset_text(o: time::UtcOffset) -> String {
    let (h, m, _) = o.as_hms();
    format!(
        "{}{:02}:{:02}",
        if h < 0 || m < 0 { '-' } else { '+' },
        h.abs(),
        m.abs()
    )
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The receipt JSON's value for a key path, for callers that only display it.
pub fn field<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |acc, k| acc.get(*k))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON receipt is taken out of the PDF that embeds it, and only when it is the one whose
    /// hash was recorded.
    #[test]
    fn the_json_receipt_comes_out_of_the_pdf_as_recorded() {
        let data = diwan_pdf::receipt::sample();
        let json = data.receipt_json.clone().expect("json");
        let pdf = diwan_pdf::receipt::render(&data).expect("pdf");
        let recorded = diwan_store::BlobHash::of(&json);
        assert_eq!(embedded_json(pdf.clone(), &recorded).expect("json"), json);
        let other = diwan_store::BlobHash::of(b"{}");
        assert!(matches!(
            embedded_json(pdf, &other),
            Err(AppError::Internal(_))
        ));
        assert!(embedded_json(b"not a pdf".to_vec(), &recorded).is_err());
    }

    /// The receipts made at filing time from the registration in memory state exactly what the
    /// same filing's receipts state when read back from the store (the path of receipts made
    /// later, after a restart).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn receipts_from_the_registration_match_the_stored_filing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let overrides = [("data_dir", dir.path().display().to_string())];
        let mut config = crate::config::Config::load(None, &overrides).expect("config");
        config.portal.challenge = false;
        let app = App::open(config).await.expect("open");
        app.create_demo().await.expect("demo");
        let request: crate::portal::FilingRequest = serde_json::from_value(json!({
            "administration": "MTNRA",
            "filer": {"kind": "company", "name": "  Atlas   Conseil SARL ", "id_number": "001525846000057", "email": "contact@atlas.ma"},
            "subject": "Dossier d'investissement — ملف استثمار",
            "procedure": "investment",
        }))
        .expect("request");
        let mut files = Vec::new();
        for (name, text) in [("demande.pdf", "Demande"), ("annexe.pdf", "Annexe")] {
            let blob = app
                .store
                .blobs()
                .stage_bytes(&crate::demo::simple_pdf(&[text]))
                .await
                .expect("stage");
            files.push(crate::upload::AcceptedFile {
                name: diwan_core::text::FileName::parse(name).expect("name"),
                media_type: diwan_core::media::MediaType::Pdf,
                blob,
            });
        }
        let filed = app.file(request, files).await.expect("filed");
        let stored: Value = serde_json::from_slice(
            &app.receipt(&filed.receipt_token, ReceiptKind::Json)
                .await
                .expect("receipt made at filing time"),
        )
        .expect("json");
        let filing = app
            .store
            .filing_of(filed.id)
            .await
            .expect("read")
            .expect("filing");
        let again = app.receipt_inputs(&filing).await.expect("inputs");
        let fields = again.receipt.as_object().expect("object");
        assert!(fields.contains_key("deadline") && fields["deadline"].is_object());
        for (k, v) in fields {
            assert_eq!(&stored[k], v, "receipt field {k}");
        }
        assert_eq!(stored["documents"].as_array().map(Vec::len), Some(2));
    }
}
