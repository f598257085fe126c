//! Validation of signed PDFs, ours or any other tool's, with the indications of ETSI EN 319 102-1.
//!
//! For each signature (and document time-stamp): the byte range must cover the whole revision
//! except exactly the `/Contents` string; the digest, the CMS signature and the
//! signing-certificate attribute are checked; the signer's certificate path is validated against
//! the trust anchors at the time proven by a valid signature time-stamp (else now); revocation is
//! checked with the CRLs and OCSP responses found in the document's `/DSS`; and every revision appended after the
//! signature is examined: only new signatures, their fields and appearances, validation data and
//! document time-stamps are allowed.

use crate::object::{decode_text, Dict, Obj};
use crate::reader::{Entry, FileSource, Reader, Source};
use crate::{PdfError, Result};
use diwan_crypto::pki::{self, TrustStore, Usage};
use diwan_crypto::{cms, tsa, Certificate, DigestAlg};
use serde::Serialize;
use std::collections::HashMap;
use time::OffsetDateTime;

/// Main indication (ETSI EN 319 102-1 §5.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Indication {
    #[serde(rename = "TOTAL-PASSED")]
    TotalPassed,
    #[serde(rename = "INDETERMINATE")]
    Indeterminate,
    #[serde(rename = "TOTAL-FAILED")]
    TotalFailed,
}

impl std::fmt::Display for Indication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Indication::TotalPassed => "TOTAL-PASSED",
            Indication::Indeterminate => "INDETERMINATE",
            Indication::TotalFailed => "TOTAL-FAILED",
        })
    }
}

/// Sub-indication (ETSI EN 319 102-1 §5.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubIndication {
    FormatFailure,
    HashFailure,
    SigCryptoFailure,
    Revoked,
    RevokedNoPoe,
    NoCertificateChainFound,
    OutOfBoundsNoPoe,
    NotYetValid,
    SigConstraintsFailure,
    ChainConstraintsFailure,
    NoSigningCertificateFound,
}

impl std::fmt::Display for SubIndication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        f.write_str(&s)
    }
}

/// Changes made after a signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "details")]
pub enum Modifications {
    /// The signature covers the whole file.
    None,
    /// Later revisions only add signatures, time-stamps, their fields and validation data.
    Allowed(Vec<String>),
    /// Later revisions change the signed content.
    Disallowed(Vec<String>),
}

/// The validation of one signature.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureReport {
    pub field: String,
    /// `signature` or `document-timestamp`.
    pub kind: &'static str,
    pub sub_filter: String,
    pub indication: Indication,
    pub sub_indication: Option<SubIndication>,
    /// Why, in words.
    pub reasons: Vec<String>,
    pub signer: Option<String>,
    pub signer_organization: Option<String>,
    /// The time claimed in the PDF (`/M`), not proven.
    #[serde(with = "time::serde::rfc3339::option")]
    pub claimed_time: Option<OffsetDateTime>,
    /// The time proven by a signature time-stamp.
    #[serde(with = "time::serde::rfc3339::option")]
    pub timestamp_time: Option<OffsetDateTime>,
    pub reason: Option<String>,
    pub name: Option<String>,
    /// B-B, B-T, B-LT or B-LTA (as far as the file shows).
    pub level: String,
    pub byte_range: Vec<u64>,
    pub covers_whole_document: bool,
    pub modifications: Modifications,
    /// The certification path, signer first.
    pub chain: Vec<String>,
    #[serde(skip)]
    pub contents: Vec<u8>,
}

/// The validation of a document.
#[derive(Debug, Clone, Serialize)]
pub struct PdfReport {
    pub signatures: Vec<SignatureReport>,
}

impl PdfReport {
    /// Every signature passed (and there is at least one).
    pub fn all_passed(&self) -> bool {
        !self.signatures.is_empty()
            && self
                .signatures
                .iter()
                .all(|s| s.indication == Indication::TotalPassed)
    }
}

fn pdf_date(b: &[u8]) -> Option<OffsetDateTime> {
    let s = std::str::from_utf8(b).ok()?.trim_start_matches("D:");
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
    let y = num(0..4)? as i32;
    let date = time::Date::from_calendar_date(
        y,
        time::Month::try_from(num(4..6).unwrap_or(1) as u8).ok()?,
        num(6..8).unwrap_or(1) as u8,
    )
    .ok()?;
    let t = time::Time::from_hms(
        num(8..10).unwrap_or(0) as u8,
        num(10..12).unwrap_or(0) as u8,
        num(12..14).unwrap_or(0) as u8,
    )
    .ok()?;
    let rest = s.get(14..).unwrap_or("Z");
    let offset = match rest.chars().next() {
        Some(c @ ('+' | '-')) => {
            let h = rest
                .get(1..3)
                .and_then(|x| x.parse::<i8>().ok())
                .unwrap_or(0);
            let m = rest
                .get(4..6)
                .and_then(|x| x.parse::<i8>().ok())
                .unwrap_or(0);
            let sign = if c == '-' { -1 } else { 1 };
            time::UtcOffset::from_hms(sign * h, sign * m, 0).ok()?
        }
        _ => time::UtcOffset::UTC,
    };
    Some(time::PrimitiveDateTime::new(date, t).assume_offset(offset))
}

/// Digest of the byte ranges of a signature, read from the source in chunks.
fn range_digest<S: Source + ?Sized>(
    src: &S,
    ranges: &[(u64, u64)],
    alg: DigestAlg,
) -> Result<Vec<u8>> {
    let mut h = alg.hasher();
    let mut buf = vec![0u8; 1 << 20];
    for (start, len) in ranges {
        let mut off = *start;
        let end = start + len;
        while off < end {
            let want = ((end - off) as usize).min(buf.len());
            let n = src.read_at(off, &mut buf[..want])?;
            if n == 0 {
                return Err(PdfError::Broken("byte range beyond the end of the file"));
            }
            h.update(&buf[..n]);
            off += n as u64;
        }
    }
    Ok(h.finalize())
}

/// Strips the zero padding after a DER value.
fn der_prefix(b: &[u8]) -> Option<&[u8]> {
    if b.len() < 2 || b[0] != 0x30 {
        return None;
    }
    let (len, hl) = if b[1] < 0x80 {
        (b[1] as usize, 2)
    } else {
        let n = (b[1] & 0x7f) as usize;
        if n == 0 || n > 4 || b.len() < 2 + n {
            return None;
        }
        (
            b[2..2 + n]
                .iter()
                .fold(0usize, |a, x| (a << 8) | *x as usize),
            2 + n,
        )
    };
    b.get(..hl + len)
}

struct Field {
    name: String,
    sig: u32,
}

fn collect_fields<S: Source + ?Sized>(
    r: &Reader<S>,
    node: &Obj,
    parent_name: &str,
    inherited_ft: Option<Vec<u8>>,
    out: &mut Vec<Field>,
    depth: usize,
) -> Result<()> {
    if depth > 32 {
        return Ok(());
    }
    let d = match r.resolve(node)? {
        Obj::Dict(d) => d,
        _ => return Ok(()),
    };
    let partial = d.get(b"T").and_then(Obj::as_str).map(decode_text);
    let name = match (&partial, parent_name.is_empty()) {
        (Some(p), true) => p.clone(),
        (Some(p), false) => format!("{parent_name}.{p}"),
        (None, _) => parent_name.to_string(),
    };
    let ft = d.name(b"FT").map(<[u8]>::to_vec).or(inherited_ft);
    if let Some(kids) = d.get(b"Kids") {
        for k in r.resolve(kids)?.as_array().cloned().unwrap_or_default() {
            collect_fields(r, &k, &name, ft.clone(), out, depth + 1)?;
        }
    }
    if ft.as_deref() == Some(b"Sig") {
        if let Some((n, _)) = d.get(b"V").and_then(Obj::as_ref) {
            if !out.iter().any(|f| f.sig == n) {
                out.push(Field { name, sig: n });
            }
        }
    }
    Ok(())
}

/// The object map as it was at the end of the revision ending at `end`.
fn xref_at<S: Source + ?Sized>(r: &Reader<S>, end: u64) -> HashMap<u32, Entry> {
    let mut m = HashMap::new();
    for s in r.sections.iter().filter(|s| s.offset < end) {
        for (n, e) in &s.entries {
            m.entry(*n).or_insert(*e);
        }
    }
    m
}

fn get_with<S: Source + ?Sized>(r: &Reader<S>, map: &HashMap<u32, Entry>, n: u32) -> Obj {
    match map.get(&n) {
        Some(Entry::InFile { offset, .. }) => r.get_at(*offset, n).unwrap_or(Obj::Null),
        Some(Entry::InStream { .. }) => {
            // Objects in object streams: read through the newest map when unchanged.
            if r.xref.get(&n) == map.get(&n) {
                r.get(n).unwrap_or(Obj::Null)
            } else {
                Obj::Null
            }
        }
        _ => Obj::Null,
    }
}

fn is_sig_value(d: &Dict) -> bool {
    d.is_type(b"Sig") || d.is_type(b"DocTimeStamp") || d.get(b"ByteRange").is_some()
}

fn refs_of(o: &Obj) -> Vec<u32> {
    o.as_array()
        .map(|a| a.iter().filter_map(|x| x.as_ref().map(|r| r.0)).collect())
        .unwrap_or_default()
}

/// Classifies the changes made after the revision ending at `end`.
fn modifications<S: Source + ?Sized>(r: &Reader<S>, end: u64) -> Result<Modifications> {
    let later: Vec<_> = r.sections.iter().filter(|s| s.offset >= end).collect();
    if later.is_empty() {
        return Ok(Modifications::None);
    }
    let old = xref_at(r, end);
    let mut changed: Vec<u32> = later
        .iter()
        .flat_map(|s| s.entries.iter().map(|(n, _)| *n))
        .collect();
    changed.sort_unstable();
    changed.dedup();
    let mut allowed = Vec::new();
    let mut bad = Vec::new();
    let new_obj = |n: u32| r.get(n).unwrap_or(Obj::Null);
    let (cat_ref, _) = r.catalog()?;
    for n in changed {
        let new = new_obj(n);
        let was = get_with(r, &old, n);
        if was == new {
            continue;
        }
        let nd = new.as_dict();
        let label = |d: Option<&Dict>| {
            d.and_then(|d| d.name(b"Type").or(d.name(b"Subtype")))
                .map(|t| String::from_utf8_lossy(t).into_owned())
                .unwrap_or_else(|| "object".into())
        };
        if matches!(was, Obj::Null) {
            // A new object: only what signing adds.
            let ok = match (&new, nd) {
                (_, Some(d)) if is_sig_value(d) => true,
                (_, Some(d))
                    if d.name(b"Subtype") == Some(b"Widget") || d.name(b"FT") == Some(b"Sig") =>
                {
                    d.name(b"FT").is_none_or(|f| f == b"Sig") || d.get(b"Parent").is_some()
                }
                (_, Some(d))
                    if d.is_type(b"DSS")
                        || d.get(b"VRI").is_some()
                        || d.get(b"Certs").is_some() =>
                {
                    true
                }
                (_, Some(d))
                    if d.is_type(b"XRef")
                        || d.is_type(b"ObjStm")
                        || d.is_type(b"Font")
                        || d.is_type(b"FontDescriptor")
                        || d.is_type(b"XObject") =>
                {
                    true
                }
                (Obj::Stream(d, _), _)
                    if d.0.iter().all(|(k, _)| {
                        matches!(
                            k.as_slice(),
                            b"Length"
                                | b"Filter"
                                | b"DecodeParms"
                                | b"Subtype"
                                | b"Length1"
                                | b"Type"
                                | b"BBox"
                                | b"Resources"
                                | b"Matrix"
                                | b"FormType"
                        )
                    }) =>
                {
                    true
                }
                (Obj::Dict(d), _) if d.get(b"Fields").is_some() || d.get(b"SigFlags").is_some() => {
                    true
                }
                (Obj::Dict(_), _) | (Obj::Array(_), _) => true, // resources of appearances, VRI entries, arrays of refs
                _ => false,
            };
            if ok {
                allowed.push(format!("object {n} added ({})", label(nd)));
            } else {
                bad.push(format!("object {n} added ({})", label(nd)));
            }
            continue;
        }
        // A changed object: only the additions signing makes.
        let ok = match (&was, &new) {
            (Obj::Dict(a), Obj::Dict(b)) => {
                let keys: Vec<&Vec<u8>> =
                    a.0.iter()
                        .map(|(k, _)| k)
                        .chain(b.0.iter().map(|(k, _)| k))
                        .collect();
                keys.iter().all(|k| {
                    let (va, vb) = (a.get(k), b.get(k));
                    if va == vb {
                        return true;
                    }
                    match k.as_slice() {
                        b"AcroForm" | b"DSS" | b"Extensions" if n == cat_ref.0 => true,
                        b"Fields" | b"Annots" => {
                            let (ra, rb) = (
                                va.map(refs_of).unwrap_or_default(),
                                vb.map(refs_of).unwrap_or_default(),
                            );
                            ra.iter().all(|x| rb.contains(x))
                        }
                        b"SigFlags" | b"DR" | b"DA" | b"NeedAppearances" => true,
                        b"V" | b"AP" if a.name(b"FT") == Some(b"Sig") && va.is_none() => true,
                        b"Certs" | b"CRLs" | b"OCSPs" | b"VRI"
                            if a.is_type(b"DSS") || a.get(b"VRI").is_some() =>
                        {
                            true
                        }
                        _ => false,
                    }
                })
            }
            (Obj::Array(a), Obj::Array(b)) => {
                let (ra, rb) = (
                    refs_of(&Obj::Array(a.clone())),
                    refs_of(&Obj::Array(b.clone())),
                );
                ra.len() == a.len() && ra.iter().all(|x| rb.contains(x))
            }
            _ => false,
        };
        if ok {
            allowed.push(format!("object {n} updated ({})", label(was.as_dict())));
        } else {
            bad.push(format!("object {n} ({}) was changed", label(was.as_dict())));
        }
    }
    Ok(if bad.is_empty() {
        Modifications::Allowed(allowed)
    } else {
        Modifications::Disallowed(bad)
    })
}

/// Validates every signature of a PDF.
pub fn verify_reader<S: Source + ?Sized>(
    r: &Reader<S>,
    trust: &TrustStore,
    now: OffsetDateTime,
) -> Result<PdfReport> {
    if r.is_encrypted() {
        return Err(PdfError::Encrypted);
    }
    let (_, catalog) = r.catalog()?;
    let mut fields = Vec::new();
    if let Some(acro) = catalog.get(b"AcroForm") {
        if let Some(f) = r
            .resolve(acro)?
            .as_dict()
            .and_then(|d| d.get(b"Fields"))
            .cloned()
        {
            for k in r.resolve(&f)?.as_array().cloned().unwrap_or_default() {
                collect_fields(r, &k, "", None, &mut fields, 0)?;
            }
        }
    }
    // Validation data from the DSS.
    let mut dss_certs = Vec::new();
    let mut dss_crls = Vec::new();
    let mut dss_ocsps = Vec::new();
    if let Some(dss) = catalog.get(b"DSS") {
        if let Some(d) = r.resolve(dss)?.as_dict() {
            for (key, sink) in [(&b"Certs"[..], 0), (b"CRLs", 1), (b"OCSPs", 2)] {
                if let Some(arr) = d.get(key) {
                    for s in r.resolve(arr)?.as_array().cloned().unwrap_or_default() {
                        if let Ok(obj) = r.resolve(&s) {
                            if let Ok(bytes) = r.decode_stream(&obj) {
                                if sink == 0 {
                                    if let Ok(c) = Certificate::from_der(&bytes) {
                                        dss_certs.push(c);
                                    }
                                } else if sink == 1 {
                                    dss_crls.push(bytes);
                                } else {
                                    dss_ocsps.push(bytes);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let has_dss = !dss_certs.is_empty() || !dss_crls.is_empty() || !dss_ocsps.is_empty();
    let revocation = Revocation {
        crls: &dss_crls,
        ocsps: &dss_ocsps,
    };
    let len = r.len();
    let mut reports = Vec::new();
    for f in &fields {
        reports.push(verify_one(r, f, trust, now, &dss_certs, &revocation, len)?);
    }
    // Levels: B-LT when validation data follows a B-T signature; B-LTA when a document
    // time-stamp follows that.
    let doc_ts_ends: Vec<u64> = reports
        .iter()
        .filter(|s| s.kind == "document-timestamp" && s.indication == Indication::TotalPassed)
        .map(|s| s.byte_range.get(1).copied().unwrap_or(0))
        .collect();
    for s in reports.iter_mut().filter(|s| s.kind == "signature") {
        if s.level == "B-T" && has_dss {
            s.level = "B-LT".into();
            let end = s
                .byte_range
                .get(2)
                .zip(s.byte_range.get(3))
                .map(|(a, b)| a + b)
                .unwrap_or(0);
            if doc_ts_ends.iter().any(|e| *e > end) {
                s.level = "B-LTA".into();
            }
        }
    }
    reports.sort_by_key(|s| s.byte_range.get(1).copied().unwrap_or(0));
    Ok(PdfReport {
        signatures: reports,
    })
}

#[allow(clippy::too_many_arguments)]
fn verify_one<S: Source + ?Sized>(
    r: &Reader<S>,
    f: &Field,
    trust: &TrustStore,
    now: OffsetDateTime,
    dss_certs: &[Certificate],
    revocation: &Revocation<'_>,
    len: u64,
) -> Result<SignatureReport> {
    let mut rep = SignatureReport {
        field: f.name.clone(),
        kind: "signature",
        sub_filter: String::new(),
        indication: Indication::Indeterminate,
        sub_indication: Some(SubIndication::FormatFailure),
        reasons: Vec::new(),
        signer: None,
        signer_organization: None,
        claimed_time: None,
        timestamp_time: None,
        reason: None,
        name: None,
        level: "B-B".into(),
        byte_range: Vec::new(),
        covers_whole_document: false,
        modifications: Modifications::None,
        chain: Vec::new(),
        contents: Vec::new(),
    };
    let (obj, span) = match r.xref.get(&f.sig) {
        Some(Entry::InFile { offset, .. }) => r.get_at_with_contents(*offset, f.sig)?,
        _ => {
            rep.reasons.push(
                "the signature dictionary is not stored where its byte range can be checked".into(),
            );
            return Ok(rep);
        }
    };
    let Some(d) = obj.as_dict() else {
        rep.reasons
            .push("the signature value is not a dictionary".into());
        return Ok(rep);
    };
    rep.sub_filter = d
        .name(b"SubFilter")
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .unwrap_or_default();
    if d.is_type(b"DocTimeStamp") || rep.sub_filter == "ETSI.RFC3161" {
        rep.kind = "document-timestamp";
    }
    rep.claimed_time = d.get(b"M").and_then(Obj::as_str).and_then(pdf_date);
    rep.reason = d.get(b"Reason").and_then(Obj::as_str).map(decode_text);
    rep.name = d.get(b"Name").and_then(Obj::as_str).map(decode_text);
    let br: Vec<u64> = d
        .get(b"ByteRange")
        .and_then(Obj::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_int().and_then(|v| u64::try_from(v).ok()))
                .collect()
        })
        .unwrap_or_default();
    rep.byte_range = br.clone();
    let Some((cs, ce)) = span else {
        rep.reasons
            .push("the signature has no /Contents string".into());
        return Ok(rep);
    };
    if br.len() != 4 || br[0] != 0 || br[1] != cs || br[2] != ce || br[2] + br[3] > len {
        rep.reasons.push(format!("the byte range {br:?} does not cover the file exactly around the signature (contents at {cs}..{ce})"));
        return Ok(rep);
    }
    let signed_end = br[2] + br[3];
    rep.covers_whole_document = signed_end == len;
    if !rep.covers_whole_document {
        // The signed part must end where a revision ends.
        if !r.revision_ends()?.contains(&signed_end) {
            rep.reasons
                .push("the byte range ends inside a revision".into());
            return Ok(rep);
        }
    }
    let Some(contents) = d.get(b"Contents").and_then(Obj::as_str) else {
        rep.reasons.push("no /Contents".into());
        return Ok(rep);
    };
    rep.contents = contents.to_vec();
    let Some(der) = der_prefix(contents) else {
        rep.reasons
            .push("/Contents does not hold a DER-encoded CMS".into());
        return Ok(rep);
    };
    let ranges = [(0u64, br[1]), (br[2], br[3])];
    let src = r.source();
    let mut store = trust.clone();
    for c in dss_certs {
        store.add_intermediate(c.clone());
    }

    if rep.kind == "document-timestamp" {
        match tsa::verify_token_digest(der, &mut |alg| {
            range_digest(src, &ranges, alg).unwrap_or_default()
        }) {
            Ok(info) => {
                rep.timestamp_time = Some(info.gen_time);
                rep.signer = info.tsa.as_ref().map(Certificate::subject);
                rep.level = "document time-stamp".into();
                match info.tsa.as_ref().map(|c| {
                    store.validate(
                        c,
                        &info.certificates,
                        info.gen_time.min(now),
                        Usage::TimeStamping,
                    )
                }) {
                    Some(Ok(path)) => {
                        rep.chain = path.iter().map(Certificate::subject).collect();
                        rep.indication = Indication::TotalPassed;
                        rep.sub_indication = None;
                    }
                    Some(Err(e)) => {
                        rep.reasons.push(format!("time-stamping unit: {e}"));
                        rep.sub_indication = Some(SubIndication::NoCertificateChainFound);
                    }
                    None => rep
                        .reasons
                        .push("the time-stamp names no certificate".into()),
                }
            }
            Err(diwan_crypto::CryptoError::Timestamp(m)) => {
                rep.indication = Indication::TotalFailed;
                rep.sub_indication = Some(SubIndication::HashFailure);
                rep.reasons.push(m);
            }
            Err(e) => {
                rep.indication = Indication::TotalFailed;
                rep.sub_indication = Some(SubIndication::SigCryptoFailure);
                rep.reasons.push(e.to_string());
            }
        }
        rep.modifications = modifications(r, signed_end)?;
        return Ok(finish_modifications(rep));
    }

    if !matches!(
        rep.sub_filter.as_str(),
        "ETSI.CAdES.detached" | "adbe.pkcs7.detached"
    ) {
        rep.reasons
            .push(format!("unsupported /SubFilter {}", rep.sub_filter));
        return Ok(rep);
    }
    let v = match cms::verify(der, &mut |alg| {
        range_digest(src, &ranges, alg).map_err(|e| diwan_crypto::CryptoError::malformed("PDF", e))
    }) {
        Ok(v) => v,
        Err(e) => {
            rep.reasons.push(format!("the CMS cannot be read: {e}"));
            return Ok(rep);
        }
    };
    let Some(s) = v.signers.first() else {
        rep.reasons.push("the CMS has no signer".into());
        return Ok(rep);
    };
    rep.signer = s.signer.as_ref().map(Certificate::subject);
    rep.signer_organization = s.signer.as_ref().and_then(Certificate::organization);
    if !s.digest_ok {
        rep.indication = Indication::TotalFailed;
        rep.sub_indication = Some(SubIndication::HashFailure);
        rep.reasons
            .push("the signed bytes were changed (digest mismatch)".into());
        return Ok(rep);
    }
    let Some(signer) = s.signer.clone() else {
        rep.sub_indication = Some(SubIndication::NoSigningCertificateFound);
        rep.reasons
            .push("the signer's certificate is not in the signature".into());
        return Ok(rep);
    };
    if !s.signature_ok {
        rep.indication = Indication::TotalFailed;
        rep.sub_indication = Some(SubIndication::SigCryptoFailure);
        rep.reasons
            .push("the signature value does not verify with the signer's key".into());
        return Ok(rep);
    }
    if s.signing_certificate_ok == Some(false) {
        rep.sub_indication = Some(SubIndication::NoSigningCertificateFound);
        rep.reasons.push(
            "the signing-certificate attribute does not match the signer's certificate".into(),
        );
        return Ok(rep);
    }
    // Proof of existence from the signature time-stamp.
    let mut poe: Option<OffsetDateTime> = None;
    match &s.timestamp {
        Some(Ok(info)) => match info.tsa.as_ref().map(|c| {
            store.validate(
                c,
                &info.certificates,
                info.gen_time.min(now),
                Usage::TimeStamping,
            )
        }) {
            Some(Ok(_)) => {
                poe = Some(info.gen_time);
                rep.timestamp_time = Some(info.gen_time);
                rep.level = "B-T".into();
            }
            Some(Err(e)) => rep
                .reasons
                .push(format!("the signature time-stamp is not trusted: {e}")),
            None => rep
                .reasons
                .push("the signature time-stamp names no certificate".into()),
        },
        Some(Err(e)) => rep
            .reasons
            .push(format!("the signature time-stamp is invalid: {e}")),
        None => {}
    }
    let at = poe.unwrap_or(now);
    match store.validate(&signer, &v.certificates, at, Usage::Signing) {
        Ok(path) => {
            rep.chain = path.iter().map(Certificate::subject).collect();
            // Revocation: CRLs and OCSP responses from the DSS, from the signer's issuer.
            if let Some(issuer) = path.get(1) {
                for (when, source) in revocation.revoked(&signer, issuer, &mut rep.reasons) {
                    if poe.is_some_and(|t| t < when) {
                        rep.reasons.push(format!(
                            "the certificate was revoked on {when}, after the proven signing time"
                        ));
                    } else {
                        rep.indication = if poe.is_some() {
                            Indication::TotalFailed
                        } else {
                            Indication::Indeterminate
                        };
                        rep.sub_indication = Some(if poe.is_some() {
                            SubIndication::Revoked
                        } else {
                            SubIndication::RevokedNoPoe
                        });
                        rep.reasons.push(format!(
                            "the signer's certificate was revoked on {when} ({source})"
                        ));
                        return Ok(rep);
                    }
                }
            }
            rep.indication = Indication::TotalPassed;
            rep.sub_indication = None;
        }
        Err(e) => {
            rep.indication = Indication::Indeterminate;
            rep.sub_indication = Some(match e {
                diwan_crypto::pki::PathError::Expired { .. } => SubIndication::OutOfBoundsNoPoe,
                diwan_crypto::pki::PathError::NotYetValid { .. } => SubIndication::NotYetValid,
                diwan_crypto::pki::PathError::KeyUsage(_)
                | diwan_crypto::pki::PathError::NotCa(_)
                | diwan_crypto::pki::PathError::PathTooLong(_) => {
                    SubIndication::ChainConstraintsFailure
                }
                _ => SubIndication::NoCertificateChainFound,
            });
            rep.reasons.push(e.to_string());
            return Ok(rep);
        }
    }
    rep.modifications = modifications(r, signed_end)?;
    Ok(finish_modifications(rep))
}

/// Revocation data found in the document.
struct Revocation<'a> {
    crls: &'a [Vec<u8>],
    ocsps: &'a [Vec<u8>],
}

impl Revocation<'_> {
    /// When, and by which source, `cert` (issued by `issuer`) is said to be revoked: every CRL
    /// the issuer signed that lists it, and every OCSP response (signed by the issuer or its
    /// delegated responder) answering `revoked`. An OCSP `unknown` is noted in `notes`.
    fn revoked(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        notes: &mut Vec<String>,
    ) -> Vec<(OffsetDateTime, &'static str)> {
        let serial = hex::decode(cert.serial_hex()).unwrap_or_default();
        let mut out = Vec::new();
        for crl in self.crls {
            if let Ok(Some(when)) = pki::crl_revokes(crl, issuer, &serial) {
                out.push((when, "CRL"));
            }
        }
        for resp in self.ocsps {
            match diwan_crypto::ocsp::verify_response(resp, cert, issuer).map(|a| a.status) {
                Ok(diwan_crypto::ocsp::CertStatus::Revoked { at, .. }) => {
                    out.push((at, "OCSP response"))
                }
                Ok(diwan_crypto::ocsp::CertStatus::Unknown) => notes.push(format!(
                    "an OCSP response says the status of {} is unknown",
                    cert.common_name()
                )),
                _ => {}
            }
        }
        out
    }
}

fn finish_modifications(mut rep: SignatureReport) -> SignatureReport {
    if let Modifications::Disallowed(list) = &rep.modifications {
        if rep.indication == Indication::TotalPassed {
            rep.indication = Indication::TotalFailed;
            rep.sub_indication = Some(SubIndication::SigConstraintsFailure);
        }
        rep.reasons.push(format!(
            "the document was modified after signing: {}",
            list.join("; ")
        ));
    }
    rep
}

/// Validates a PDF in memory.
pub fn verify_bytes(pdf: &[u8], trust: &TrustStore, now: OffsetDateTime) -> Result<PdfReport> {
    let r = Reader::open(Box::<[u8]>::from(pdf))?;
    verify_reader(&r, trust, now)
}

/// Validates a PDF file (read lazily).
pub fn verify_file(
    path: &std::path::Path,
    trust: &TrustStore,
    now: OffsetDateTime,
) -> Result<PdfReport> {
    let r = Reader::open(Box::new(FileSource::open(path)?))?;
    verify_reader(&r, trust, now)
}
