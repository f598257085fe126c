//! Offline verification of receipts, signed PDFs and detached CMS signatures, trusting only the
//! roots given (`diwan verify --trust ROOT.pem …`, and the public verification page).

use base64::Engine;
use diwan_crypto::merkle;
use diwan_crypto::pki::{TrustStore, Usage};
use diwan_crypto::sth::SignedTreeHead;
use diwan_crypto::{canonical, Certificate};
use diwan_pades::{Indication, PdfReport};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The outcome for one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileOutcome {
    pub file: String,
    /// `receipt`, `evidence`, `signed-pdf`, `cms`, `document`.
    pub kind: &'static str,
    pub ok: bool,
    /// What was checked, in order, and what failed.
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdf: Option<PdfReport>,
    /// For receipts: the registration number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub ok: bool,
    pub what: String,
}

impl FileOutcome {
    fn new(file: &str, kind: &'static str) -> Self {
        Self {
            file: file.into(),
            kind,
            ok: true,
            checks: Vec::new(),
            pdf: None,
            number: None,
        }
    }
    fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.ok = false;
        }
        self.checks.push(Check {
            ok,
            what: what.into(),
        });
    }
}

/// What a receipt lists, to check documents against.
#[derive(Debug, Clone, Default)]
pub struct ListedDocuments {
    pub number: String,
    pub sha256: Vec<(String, String)>,
}

fn b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// Checks a machine-readable receipt: its seal, its tree head and its log inclusion.
pub fn check_receipt_json(
    doc: &Value,
    trust: &TrustStore,
    now: OffsetDateTime,
    out: &mut FileOutcome,
) -> Option<ListedDocuments> {
    if doc.get("type").and_then(Value::as_str) != Some("diwan.receipt") {
        out.check(false, "not a Diwan receipt (type is not diwan.receipt)");
        return None;
    }
    let number = doc
        .get("number")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    out.number = Some(number.clone());
    match canonical::verify(doc) {
        Ok(certs) => {
            let signer = &certs[0];
            out.check(
                true,
                format!(
                    "the receipt's seal is intact (sealed by {})",
                    signer.common_name()
                ),
            );
            match trust.validate(signer, &certs, now, Usage::Signing) {
                Ok(_) => out.check(true, "the seal's certificate chains to a trusted root"),
                Err(e) => out.check(false, format!("the seal's certificate is not trusted: {e}")),
            }
        }
        Err(e) => out.check(false, format!("the receipt's seal is broken: {e}")),
    }
    // The transparency log.
    let log = &doc["log"];
    let entry = log["entry"].as_str().unwrap_or_default();
    let leaf = merkle::leaf_hash(entry.as_bytes());
    out.check(
        b64(log["leaf_hash"].as_str().unwrap_or_default()).as_deref() == Some(&leaf[..]),
        "the log entry hashes to the leaf hash",
    );
    let entry_json: Value = serde_json::from_str(entry).unwrap_or(Value::Null);
    out.check(
        entry_json["number"].as_str() == Some(number.as_str()),
        "the log entry records this registration number",
    );
    let listed: Vec<String> = doc["documents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d["sha256"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let logged: Vec<String> = entry_json["documents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d["sha256"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    out.check(listed == logged, "the log entry records these documents");
    let sth: Option<SignedTreeHead> = serde_json::from_value(log["tree_head"].clone()).ok();
    let log_cert = log["log_certificate"]
        .as_str()
        .and_then(b64)
        .and_then(|d| Certificate::from_der(&d).ok());
    match (sth, log_cert) {
        (Some(sth), Some(cert)) => {
            let sig_ok = cert
                .public_key()
                .map(|k| sth.verify(&k).is_ok())
                .unwrap_or(false);
            out.check(
                sig_ok,
                format!(
                    "the signed tree head (size {}) is signed by the log key",
                    sth.tree_size
                ),
            );
            match trust.validate(&cert, &[], now, Usage::Signing) {
                Ok(_) => out.check(true, "the log key's certificate chains to a trusted root"),
                Err(e) => out.check(false, format!("the log key is not trusted: {e}")),
            }
            let index = log["leaf_index"].as_u64().unwrap_or(u64::MAX);
            let proof: Vec<merkle::Hash> = log["inclusion_proof"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|h| h.as_str().and_then(b64))
                        .filter_map(|v| <[u8; 32]>::try_from(v).ok())
                        .collect()
                })
                .unwrap_or_default();
            let root = sth.root().ok();
            let included = root
                .is_some_and(|r| merkle::verify_inclusion(&leaf, index, sth.tree_size, &proof, &r));
            out.check(
                included,
                format!(
                    "the entry is leaf {index} of the log (inclusion proof against the tree head)"
                ),
            );
        }
        _ => out.check(
            false,
            "the receipt carries no usable tree head or log certificate",
        ),
    }
    let docs = doc["documents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| {
                    Some((
                        d["name"].as_str()?.to_string(),
                        d["sha256"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(ListedDocuments {
        number,
        sha256: docs,
    })
}

/// Checks a sealed evidence event of a delivery between administrations: its seal, the seal's
/// certificate path, and the RFC 3161 time-stamp over the signature value.
pub fn check_evidence_json(
    doc: &Value,
    trust: &TrustStore,
    now: OffsetDateTime,
    out: &mut FileOutcome,
) {
    let event = doc["event"].as_str().unwrap_or("?");
    out.number = doc["recipient"]["number"]
        .as_str()
        .or_else(|| doc["sender"]["number"].as_str())
        .map(String::from);
    let mut at = now;
    let token = doc["signature"]["timestamp"].as_str().and_then(b64);
    let value = doc["signature"]["value"].as_str().and_then(b64);
    match (token, value) {
        (Some(token), Some(value)) => match diwan_crypto::tsa::verify_token(&token, &value) {
            Ok(info) => {
                at = info.gen_time;
                out.check(
                    true,
                    format!("the time-stamp covers the seal (time {})", info.gen_time),
                );
                match info.tsa.as_ref() {
                    Some(tsa) => match trust.validate(
                        tsa,
                        &info.certificates,
                        info.gen_time,
                        Usage::TimeStamping,
                    ) {
                        Ok(_) => out.check(true, "the time-stamping unit chains to a trusted root"),
                        Err(e) => {
                            out.check(false, format!("the time-stamping unit is not trusted: {e}"))
                        }
                    },
                    None => out.check(false, "the time-stamp names no time-stamping unit"),
                }
            }
            Err(e) => out.check(false, format!("the time-stamp is not valid: {e}")),
        },
        _ => out.check(false, "the evidence carries no time-stamp"),
    }
    match canonical::verify(doc) {
        Ok(certs) => {
            let signer = &certs[0];
            out.check(
                true,
                format!(
                    "the {event} evidence's seal is intact (sealed by {})",
                    signer.common_name()
                ),
            );
            match trust.validate(signer, &certs, at, Usage::Signing) {
                Ok(_) => out.check(true, "the seal's certificate chains to a trusted root"),
                Err(e) => out.check(false, format!("the seal's certificate is not trusted: {e}")),
            }
        }
        Err(e) => out.check(false, format!("the evidence's seal is broken: {e}")),
    }
}

fn pdf_checks(report: &PdfReport, out: &mut FileOutcome) {
    if report.signatures.is_empty() {
        out.check(false, "the PDF has no signature");
    }
    for s in &report.signatures {
        let who = s.signer.clone().unwrap_or_else(|| "unknown signer".into());
        let mut what = format!("{} \"{}\" by {who}: {}", s.kind, s.field, s.indication);
        if let Some(sub) = s.sub_indication {
            what.push_str(&format!(" / {sub}"));
        }
        if let Some(t) = s.timestamp_time {
            what.push_str(&format!(", time-stamped {t}"));
        }
        if !s.reasons.is_empty() {
            what.push_str(&format!(" — {}", s.reasons.join("; ")));
        }
        out.check(s.indication == Indication::TotalPassed, what);
    }
}

/// Verifies files: receipts (PDF or JSON), signed PDFs, detached CMS (`.p7s` next to its data),
/// ASiC-E containers, and plain documents (matched against the receipts among the files).
pub fn verify_files(
    files: &[(String, Vec<u8>)],
    trust: &TrustStore,
    now: OffsetDateTime,
) -> Vec<FileOutcome> {
    let mut outcomes = Vec::new();
    let mut listed: Vec<ListedDocuments> = Vec::new();
    let mut plain: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, bytes) in files {
        if bytes.windows(5).take(1024).any(|w| w == b"%PDF-") && !is_asice(name, bytes) {
            let mut out = FileOutcome::new(name, "signed-pdf");
            // A receipt carries its machine-readable twin.
            let embedded_receipt =
                diwan_pades::reader::Reader::open(Box::<[u8]>::from(bytes.as_slice()))
                    .ok()
                    .and_then(|r| crate::receipt::receipt_json_in(&r).ok().flatten());
            match diwan_pades::verify_bytes(bytes, trust, now) {
                // An unsigned PDF that is not a receipt is a document to match.
                Ok(report) if report.signatures.is_empty() && embedded_receipt.is_none() => {
                    plain.push((name.clone(), bytes.clone()));
                    continue;
                }
                Ok(report) => {
                    pdf_checks(&report, &mut out);
                    out.pdf = Some(report);
                    if let Some(json) = &embedded_receipt {
                        out.kind = "receipt";
                        match serde_json::from_slice::<Value>(json) {
                            Ok(doc) => {
                                if let Some(l) = check_receipt_json(&doc, trust, now, &mut out) {
                                    listed.push(l);
                                }
                            }
                            Err(e) => out.check(
                                false,
                                format!("the embedded receipt.json is not JSON: {e}"),
                            ),
                        }
                    }
                }
                Err(e) => out.check(false, format!("cannot read the PDF: {e}")),
            }
            outcomes.push(out);
        } else if let Some(doc) = serde_json::from_slice::<Value>(bytes)
            .ok()
            .filter(|d| d.get("type").and_then(Value::as_str) == Some("diwan.evidence"))
        {
            let mut out = FileOutcome::new(name, "evidence");
            check_evidence_json(&doc, trust, now, &mut out);
            outcomes.push(out);
        } else if let Ok(doc) = serde_json::from_slice::<Value>(bytes) {
            let mut out = FileOutcome::new(name, "receipt");
            if let Some(l) = check_receipt_json(&doc, trust, now, &mut out) {
                listed.push(l);
            }
            outcomes.push(out);
        } else if is_asice(name, bytes) {
            let mut out = FileOutcome::new(name, "asic-e");
            check_asice(bytes, trust, now, &mut out);
            outcomes.push(out);
        } else if name.ends_with(".p7s") || name.ends_with(".p7m") {
            let mut out = FileOutcome::new(name, "cms");
            let data_name = name.trim_end_matches(".p7s").trim_end_matches(".p7m");
            let data = files
                .iter()
                .find(|(n, _)| n == data_name)
                .map(|(_, b)| b.clone());
            match data {
                None => out.check(false, format!("give the signed file {data_name} too")),
                Some(data) => check_cades(bytes, &data, trust, now, &mut out),
            }
            outcomes.push(out);
        } else {
            plain.push((name.clone(), bytes.clone()));
        }
    }
    for (name, bytes) in plain {
        let mut out = FileOutcome::new(&name, "document");
        if files.iter().any(|(n, _)| n == &format!("{name}.p7s")) {
            continue;
        }
        let h = hex::encode(Sha256::digest(&bytes));
        match listed
            .iter()
            .find_map(|l| l.sha256.iter().position(|(_, s)| *s == h).map(|i| (l, i)))
        {
            Some((l, i)) => out.check(
                true,
                format!(
                    "matches document {} ({}) of receipt {}",
                    i + 1,
                    l.sha256[i].0,
                    l.number
                ),
            ),
            None => out.check(
                false,
                format!("SHA-256 {h} is not listed in any receipt given"),
            ),
        }
        outcomes.push(out);
    }
    outcomes
}

/// Whether a file is an ASiC-E container: by its extension, or a ZIP whose first entry is the
/// ASiC-E `mimetype`.
fn is_asice(name: &str, bytes: &[u8]) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".asice")
        || lower.ends_with(".sce")
        || (bytes.starts_with(b"PK\x03\x04")
            && bytes.get(30..38) == Some(b"mimetype")
            && bytes
                .get(38..38 + diwan_crypto::asic::MIMETYPE.len())
                .is_some_and(|m| m == diwan_crypto::asic::MIMETYPE.as_bytes()))
}

/// The ETSI EN 319 102-1 indication of a detached CAdES signature over `data` (B-B or B-T):
/// digest and signature value, signing-certificate attribute, signature time-stamp, and the
/// signer's path to a trusted root at the time the time-stamp proves (else now). One check per
/// signer, saying the indication and why.
fn check_cades(
    sig: &[u8],
    data: &[u8],
    trust: &TrustStore,
    now: OffsetDateTime,
    out: &mut FileOutcome,
) {
    use diwan_crypto::pki::PathError;
    let v = match diwan_crypto::cms::verify_detached_data(sig, data) {
        Ok(v) => v,
        Err(e) => {
            out.check(
                false,
                format!("not a readable CMS signature: {e} (INDETERMINATE / FORMAT_FAILURE)"),
            );
            return;
        }
    };
    if v.signers.is_empty() {
        out.check(
            false,
            "the CMS has no signer (INDETERMINATE / FORMAT_FAILURE)",
        );
    }
    for s in &v.signers {
        let who = s
            .signer
            .as_ref()
            .map(|c| c.common_name())
            .unwrap_or_else(|| "unknown signer".into());
        let mut reasons = Vec::new();
        let mut level = "B-B";
        let mut poe = None;
        match &s.timestamp {
            Some(Ok(info)) => match info.tsa.as_ref().map(|c| {
                trust.validate(
                    c,
                    &info.certificates,
                    info.gen_time.min(now),
                    Usage::TimeStamping,
                )
            }) {
                Some(Ok(_)) => {
                    poe = Some(info.gen_time);
                    level = "B-T";
                }
                Some(Err(e)) => reasons.push(format!("the time-stamp is not trusted: {e}")),
                None => reasons.push("the time-stamp names no certificate".into()),
            },
            Some(Err(e)) => reasons.push(format!("the time-stamp is invalid: {e}")),
            None => {}
        }
        let (indication, sub) = match &s.signer {
            _ if !s.digest_ok => {
                reasons.push("the signed data do not match the signature".into());
                (Indication::TotalFailed, Some("HASH_FAILURE"))
            }
            None => {
                reasons.push("the signer's certificate is not in the signature".into());
                (
                    Indication::Indeterminate,
                    Some("NO_SIGNING_CERTIFICATE_FOUND"),
                )
            }
            Some(_) if !s.signature_ok => {
                reasons.push("the signature value does not verify".into());
                (Indication::TotalFailed, Some("SIG_CRYPTO_FAILURE"))
            }
            Some(_) if s.signing_certificate_ok == Some(false) => {
                reasons.push("the signing-certificate attribute does not match".into());
                (
                    Indication::Indeterminate,
                    Some("NO_SIGNING_CERTIFICATE_FOUND"),
                )
            }
            Some(c) => match trust.validate(c, &v.certificates, poe.unwrap_or(now), Usage::Signing)
            {
                Ok(path) => {
                    reasons.push(format!(
                        "chains to {}",
                        path.last().map(|a| a.common_name()).unwrap_or_default()
                    ));
                    (Indication::TotalPassed, None)
                }
                Err(e) => {
                    let sub = match &e {
                        PathError::Expired { .. } => "OUT_OF_BOUNDS_NO_POE",
                        PathError::NotYetValid { .. } => "NOT_YET_VALID",
                        PathError::KeyUsage(_)
                        | PathError::NotCa(_)
                        | PathError::PathTooLong(_) => "CHAIN_CONSTRAINTS_FAILURE",
                        _ => "NO_CERTIFICATE_CHAIN_FOUND",
                    };
                    reasons.push(e.to_string());
                    (Indication::Indeterminate, Some(sub))
                }
            },
        };
        let mut what = format!("CAdES {level} signature by {who}: {indication}");
        if let Some(sub) = sub {
            what.push_str(&format!(" / {sub}"));
        }
        if let Some(t) = poe {
            what.push_str(&format!(", time-stamped {t}"));
        }
        if !reasons.is_empty() {
            what.push_str(&format!(" — {}", reasons.join("; ")));
        }
        out.check(indication == Indication::TotalPassed, what);
    }
}

/// Checks an ASiC-E container: its `mimetype`, every manifest's CAdES signature (as
/// [`check_cades`]), every listed data file's digest, and that every data file is covered.
fn check_asice(bytes: &[u8], trust: &TrustStore, now: OffsetDateTime, out: &mut FileOutcome) {
    let c = match diwan_crypto::asic::open(bytes) {
        Ok(c) => c,
        Err(e) => {
            out.check(false, format!("not a readable ASiC-E container: {e}"));
            return;
        }
    };
    out.check(
        c.mimetype_ok,
        "the first entry is the stored mimetype application/vnd.etsi.asic-e+zip",
    );
    if c.manifests.is_empty() {
        out.check(
            false,
            "the container has no signed manifest (META-INF/ASiCManifest*.xml)",
        );
    }
    let mut covered: Vec<&str> = Vec::new();
    for m in &c.manifests {
        match &m.signature {
            Some(sig) => check_cades(sig, &m.manifest, trust, now, out),
            None => out.check(
                false,
                format!(
                    "{} names {}, which is missing",
                    m.manifest_name, m.signature_name
                ),
            ),
        }
        for r in &m.references {
            covered.push(&r.name);
            match (c.files.iter().find(|(n, _)| *n == r.name), r.digest_alg) {
                (None, _) => out.check(false, format!("{} is listed but missing", r.name)),
                (Some(_), None) => {
                    out.check(false, format!("{}: unsupported digest algorithm", r.name))
                }
                (Some((_, data)), Some(alg)) => {
                    let ok = alg.digest(data) == r.digest;
                    out.check(
                        ok,
                        if ok {
                            format!(
                                "{} matches its {} digest in the manifest",
                                r.name,
                                alg.name()
                            )
                        } else {
                            format!(
                                "{} was changed: its digest differs from the manifest",
                                r.name
                            )
                        },
                    );
                }
            }
        }
    }
    for (name, _) in &c.files {
        if !covered.contains(&name.as_str()) {
            out.check(
                false,
                format!("{name} is in the container but no signature covers it"),
            );
        }
    }
}
