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
use diwan_crypto::canonical;
use diwan_crypto::cms::CmsSigner;
use diwan_pades::{Level, SignOptions};
use diwan_pdf::receipt::{Deadline, DocumentLine, ReceiptData};
use diwan_store::portal::Filing;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// Receipts produced by this process and the nanoseconds spent producing them (rendering,
/// sealing, time-stamping, signing the JSON).
static RECEIPTS: (AtomicU64, AtomicU64) = (AtomicU64::new(0), AtomicU64::new(0));

/// `(count, seconds)` of the receipts produced by this process.
pub fn receipt_stats() -> (u64, f64) {
    (
        RECEIPTS.0.load(Ordering::Relaxed),
        RECEIPTS.1.load(Ordering::Relaxed) as f64 / 1e9,
    )
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
        let hash = match kind {
            ReceiptKind::Pdf => filing.receipt_pdf,
            ReceiptKind::Json => filing.receipt_json,
        }
        .ok_or_else(|| AppError::Internal("receipt not stored".into()))?;
        let h =
            diwan_store::BlobHash::parse(&hash).map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(self.store.blobs().read(&h).await?)
    }

    /// Produces and stores the receipts of a filing (no-op if another request already did).
    pub async fn issue_receipts(&self, filing: &Filing) -> Result<(), AppError> {
        let (pdf, json) = self.produce_receipts(filing).await?;
        let blobs = self.store.blobs();
        let mut p = blobs.stage_bytes(&pdf).await?;
        let mut j = blobs.stage_bytes(&json).await?;
        // Both disk syncs at once.
        tokio::try_join!(blobs.promote(&mut p), blobs.promote(&mut j))?;
        self.store
            .set_receipts(
                filing.correspondence_id,
                &p.hash().to_hex(),
                &j.hash().to_hex(),
            )
            .await?;
        Ok(())
    }

    /// Builds the two receipts of a filing, and counts the time it takes.
    pub async fn produce_receipts(&self, filing: &Filing) -> Result<(Vec<u8>, Vec<u8>), AppError> {
        let started = std::time::Instant::now();
        let r = self.build_receipts(filing).await;
        if r.is_ok() {
            RECEIPTS.0.fetch_add(1, Ordering::Relaxed);
            RECEIPTS
                .1
                .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        r
    }

    async fn build_receipts(&self, filing: &Filing) -> Result<(Vec<u8>, Vec<u8>), AppError> {
        let inputs = self.receipt_inputs(filing).await?;
        tokio::task::spawn_blocking(move || inputs.seal())
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
    }

    /// Everything the receipts of a filing state, read from the store.
    pub async fn receipt_inputs(&self, filing: &Filing) -> Result<ReceiptInputs, AppError> {
        let admin = self.store.administration(filing.administration_id).await?;
        let tenant = self.store.tenant(admin.id);
        let c = tenant.correspondence(filing.correspondence_id).await?;
        let docs = tenant.documents(c.id).await?;
        let register = tenant.register(c.register_id).await?;
        let office = tenant.entity(register.entity_id).await?;
        let contact = match c.contact_id {
            Some(id) => Some(tenant.contact(id).await?),
            None => None,
        };
        let leaf = self.store.leaf(filing.leaf_index).await?;
        let sth = self
            .tree_head_covering(filing.leaf_index as u64 + 1)
            .await?;
        let proof = self
            .inclusion_proof(filing.leaf_index as u64, sth.tree_size)
            .await?;
        let seal = self.seal(admin.id).await?;
        let pki = self.pki();
        let b64 = base64::engine::general_purpose::STANDARD;
        let local = c.registered_at.to_offset(self.offset());
        let id_masked = contact
            .as_ref()
            .and_then(|k| k.id_number.as_deref())
            .map(diwan_core::text::mask);
        let verify_url = format!(
            "{}/verifier?n={}",
            self.config.public_url(),
            urlencode(&c.number)
        );
        let tracking_url = format!("{}/suivi", self.config.public_url());
        // The rule as it was applied when the filing was registered (the record carries it).
        let deadline = match (c.due_date, c.deadline_basis) {
            (Some(d), Some(b)) => {
                let days = c
                    .deadline_days
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or_else(|| builtin_days(b));
                Some((d, b, days, c.deadline_working, c.silence_means_acceptance))
            }
            _ => None,
        };
        let receipt = json!({
            "type": "diwan.receipt",
            "version": 1,
            "administration": { "code": admin.code, "name_fr": admin.names.fr, "name_ar": admin.names.ar, "name_zgh": admin.names.zgh },
            "registry_office": { "code": office.code, "name_fr": office.names.fr, "name_ar": office.names.ar },
            "number": c.number,
            "registered_at": c.registered_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "channel": "portal",
            "filer": {
                "kind": c.party_kind,
                "name": c.party_name,
                "id_number_masked": id_masked,
                "salt": filing.filer_salt,
            },
            "subject": c.subject,
            "documents": docs.iter().filter(|d| d.role != diwan_core::correspondence::DocumentRole::Receipt).map(|d| json!({ "name": d.file_name, "size": d.size, "sha256": d.sha256 })).collect::<Vec<_>>(),
            "deadline": deadline.map(|(d, b, days, working, silence)| json!({
                "due_date": d.to_string(), "legal_basis": b.as_str(), "days": days, "working_days": working,
                "procedure": c.procedure, "silence_means_acceptance": silence,
            })),
            "log": {
                "leaf_index": filing.leaf_index,
                "entry": leaf.entry,
                "leaf_hash": b64.encode(hex::decode(&leaf.leaf_hash).unwrap_or_default()),
                "tree_head": sth,
                "inclusion_proof": proof,
                "log_certificate": b64.encode(pki.log_cert.der()),
            },
            "verify_url": verify_url,
        });
        let (kind_fr, kind_ar) = kind_labels(c.party_kind);
        let data = ReceiptData {
            administration_fr: admin.names.fr.clone(),
            administration_ar: admin.names.ar.clone(),
            administration_zgh: admin.names.zgh.clone(),
            registry_office_fr: office.names.fr.clone(),
            registry_office_ar: office.names.ar.clone(),
            number: c.number.clone(),
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
            received_utc: c
                .registered_at
                .replace_nanosecond(0)
                .unwrap_or(c.registered_at)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            filer_name: c.party_name.clone(),
            filer_kind_fr: kind_fr.into(),
            filer_kind_ar: kind_ar.into(),
            filer_id_masked: id_masked.map(|m| {
                format!(
                    "{} {m}",
                    if c.party_kind == ContactKind::Company {
                        "ICE"
                    } else {
                        "CIN"
                    }
                )
            }),
            subject: c.subject.clone(),
            documents: docs
                .iter()
                .filter(|d| d.role != diwan_core::correspondence::DocumentRole::Receipt)
                .map(|d| DocumentLine {
                    name: d.file_name.clone(),
                    size: d.size as u64,
                    sha256: d.sha256.clone(),
                })
                .collect(),
            deadline: deadline.map(|(d, b, days, working, silence)| Deadline {
                date: format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year()),
                days,
                working_days: working,
                law_fr: b.label_fr().into(),
                law_ar: b.label_ar().into(),
                silence_means_acceptance: silence,
            }),
            tracking_url,
            verify_url,
            log_index: filing.leaf_index as u64,
            tree_size: sth.tree_size,
            log_root: hex::encode(b64.decode(&sth.root_hash).unwrap_or_default()),
            created_utc: c.registered_at,
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
    /// (PAdES B-T, time-stamped). Returns `(pdf, json)`.
    pub fn seal(mut self) -> Result<(Vec<u8>, Vec<u8>), AppError> {
        let seal = &self.seal;
        let signed = canonical::sign(&self.receipt, &seal.key, &[&seal.cert, &self.root])
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let json =
            serde_json::to_vec_pretty(&signed).map_err(|e| AppError::Internal(e.to_string()))?;
        self.data.receipt_json = Some(json);
        let pdf = diwan_pdf::receipt::render(&self.data)
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
        let pdf = diwan_pades::sign_bytes(&pdf, &signer, &opts)
            .map_err(|e| AppError::Internal(format!("sealing the receipt: {e}")))?;
        Ok((pdf, self.data.receipt_json.take().unwrap_or_default()))
    }
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
