//! PAdES signing by incremental update.
//!
//! The original bytes are copied unchanged (hashed on the way), then one revision is appended
//! with the signature dictionary, its field and widget, and the updated AcroForm, page and
//! catalog. `/ByteRange` covers everything but the `/Contents` placeholder; the CMS is computed
//! over those bytes and written into the placeholder. B-LT adds a revision with a `/DSS`
//! (certificates and revocation data), B-LTA a document time-stamp after it.

use crate::appearance;
use crate::object::{text_string, Dict, Obj};
use crate::reader::{FileSource, Reader, Source};
use crate::update::Update;
use crate::{PdfError, Result};
use diwan_crypto::cms::{self, CmsSigner};
use diwan_crypto::tsa::TimestampSource;
use diwan_crypto::Certificate;
use sha2::{Digest, Sha256};
use std::io::Write;
use time::OffsetDateTime;

/// PAdES baseline level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Level {
    /// Signature only.
    #[serde(rename = "b-b")]
    BB,
    /// With a signature time-stamp.
    #[serde(rename = "b-t")]
    BT,
    /// Plus validation data (certificates, CRLs, OCSP responses) in a `/DSS`.
    #[serde(rename = "b-lt")]
    BLT,
    /// Plus a document time-stamp protecting the validation data.
    #[serde(rename = "b-lta")]
    BLTA,
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "b-b" | "bb" => Ok(Level::BB),
            "b-t" | "bt" => Ok(Level::BT),
            "b-lt" | "blt" => Ok(Level::BLT),
            "b-lta" | "blta" => Ok(Level::BLTA),
            other => Err(format!("unknown level {other:?}: b-b, b-t, b-lt or b-lta")),
        }
    }
}

/// A visible signature block.
#[derive(Debug, Clone)]
pub struct Visible {
    /// 1-based page number.
    pub page: usize,
    /// `[x1, y1, x2, y2]` in PDF user space (points from the bottom-left corner).
    pub rect: [f32; 4],
    /// Lines of text (name, role, date, "on behalf of"), any script.
    pub lines: Vec<String>,
}

impl Visible {
    /// A `width`×`height` block (points) placed at a text found with [`crate::find_text`]:
    /// its top-left corner on the text's top-left corner, moved inside the page's visible area
    /// when it would overflow it (and shrunk to that area when larger). The block is drawn over
    /// the text.
    ///
    /// On a page displayed turned (`/Rotate`), "top-left", the width and the height are those a
    /// reader sees: the block covers `width` across the displayed page, and the signer draws its
    /// text upright on the display.
    pub fn at_tag(hit: &crate::TextHit, width: f32, height: f32, lines: Vec<String>) -> Self {
        // Placed on the page as displayed, then taken back to user space.
        let view = hit.view();
        let (page_w, page_h) = view.displayed_size();
        let [tx1, _, _, ty2] = view.to_displayed(hit.rect);
        let w = width.abs().min(page_w).max(1.0);
        let h = height.abs().min(page_h).max(1.0);
        let x1 = tx1.min(page_w - w).max(0.0);
        let y2 = ty2.max(h).min(page_h);
        Visible {
            page: hit.page,
            rect: view.to_user([x1, y2 - h, x1 + w, y2]),
            lines,
        }
    }
}

/// Validation data for B-LT.
#[derive(Debug, Clone, Default)]
pub struct ValidationData {
    pub certificates: Vec<Certificate>,
    pub crls: Vec<Vec<u8>>,
    pub ocsps: Vec<Vec<u8>>,
}

/// How to sign.
pub struct SignOptions<'a> {
    pub level: Level,
    pub reason: Option<String>,
    pub location: Option<String>,
    pub contact_info: Option<String>,
    /// Signer's name as shown by readers (defaults to the certificate's common name).
    pub name: Option<String>,
    pub signing_time: OffsetDateTime,
    pub field_name: Option<String>,
    pub visible: Option<Visible>,
    /// Required for B-T and above.
    pub tsa: Option<&'a dyn TimestampSource>,
    /// Required for B-LT and above (the signer's and the TSA's chains' revocation data).
    pub validation_data: Option<ValidationData>,
    /// For [`sign_vec`]: how many leading bytes of the PDF are the same in many documents this
    /// process signs (a generator's embedded fonts). Their hash state is kept and reused when
    /// the same bytes come again; the signature does not change. 0: none.
    pub shared_prefix: usize,
}

impl<'a> SignOptions<'a> {
    pub fn new(level: Level) -> Self {
        Self {
            level,
            reason: None,
            location: None,
            contact_info: None,
            name: None,
            signing_time: OffsetDateTime::now_utc(),
            field_name: None,
            visible: None,
            tsa: None,
            validation_data: None,
            shared_prefix: 0,
        }
    }
}

/// What was produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignatureSummary {
    pub field: String,
    pub byte_range: [u64; 4],
    pub cms_len: usize,
    pub output_len: u64,
    /// SHA-256 of the whole file as this revision left it, computed on the way.
    #[serde(skip)]
    pub file_sha256: [u8; 32],
}

/// A PDF signed in memory, with the SHA-256 of its bytes.
#[derive(Debug, Clone)]
pub struct Signed {
    pub pdf: Vec<u8>,
    pub sha256: [u8; 32],
}

/// What kind of signature dictionary to write.
enum Kind<'a> {
    Signature {
        signer: &'a CmsSigner<'a>,
        opts: &'a SignOptions<'a>,
    },
    DocTimeStamp {
        tsa: &'a dyn TimestampSource,
    },
}

fn pdf_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "D:{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Output sink: a file or memory, written sequentially.
pub trait Sink: Write {}
impl<W: Write> Sink for W {}

/// Appends one signature revision to `reader`'s bytes, writing the whole result to `out`.
fn append_signature<S: Source + ?Sized>(
    reader: &Reader<S>,
    out: &mut dyn Write,
    kind: Kind<'_>,
) -> Result<SignatureSummary> {
    let (update, summary) = new_revision(reader, Original::CopyTo(out), kind)?;
    out.write_all(&update)?;
    out.flush()?;
    Ok(summary)
}

/// Where the original revision goes while it is hashed.
enum Original<'o> {
    /// Copied to this output, ahead of the new revision.
    CopyTo(&'o mut dyn Write),
    /// Left where it is, in memory: the caller appends the new revision to it. Its first
    /// `shared` bytes are common to many documents (`SignOptions::shared_prefix`).
    InPlace { shared: usize },
}

/// Builds the revision that adds a signature (or a document time-stamp): hashes the original
/// on the way (copying it to `original`'s output, if any), signs, and returns the new
/// revision's bytes.
fn new_revision<S: Source + ?Sized>(
    reader: &Reader<S>,
    original: Original<'_>,
    kind: Kind<'_>,
) -> Result<(Vec<u8>, SignatureSummary)> {
    if reader.is_encrypted() {
        return Err(PdfError::Encrypted);
    }
    let base = reader.len();
    let mut up = Update::new(reader);
    let (cat_ref, mut catalog) = reader.catalog()?;
    let pages = reader.pages()?;
    let (page_no, visible) = match &kind {
        Kind::Signature { opts, .. } => match &opts.visible {
            Some(v) => (v.page, Some(v)),
            None => (1, None),
        },
        Kind::DocTimeStamp { .. } => (1, None),
    };
    let (page_ref, mut page) =
        pages
            .get(page_no.wrapping_sub(1))
            .cloned()
            .ok_or(PdfError::Invalid(format!(
                "the document has {} pages; page {page_no} does not exist",
                pages.len()
            )))?;

    // Existing fields, to name ours uniquely.
    let acro_obj = catalog.get(b"AcroForm").cloned();
    let (acro_ref, mut acro) = match &acro_obj {
        Some(Obj::Ref(n, g)) => (
            Some((*n, *g)),
            reader.get(*n)?.as_dict().cloned().unwrap_or_default(),
        ),
        Some(Obj::Dict(d)) => (None, d.clone()),
        _ => (None, Dict::default()),
    };
    let fields_obj = acro.get(b"Fields").cloned();
    let (fields_ref, mut fields) = match &fields_obj {
        Some(Obj::Ref(n, g)) => (
            Some((*n, *g)),
            reader.get(*n)?.as_array().cloned().unwrap_or_default(),
        ),
        Some(Obj::Array(a)) => (None, a.clone()),
        _ => (None, Vec::new()),
    };
    let field_name = match &kind {
        Kind::Signature { opts, .. } => opts.field_name.clone(),
        Kind::DocTimeStamp { .. } => None,
    }
    .unwrap_or_else(|| {
        let prefix = if matches!(kind, Kind::DocTimeStamp { .. }) {
            "DocTimeStamp"
        } else {
            "Signature"
        };
        format!("{prefix}{}", fields.len() + 1)
    });

    let sig_num = up.alloc();
    let widget_num = up.alloc();

    // The signature dictionary, with placeholders patched below.
    let (reserve, header) = match &kind {
        Kind::Signature { signer, opts } => {
            let reserve = cms::estimate_pades_size(
                signer,
                if opts.level == Level::BB {
                    None
                } else {
                    opts.tsa
                },
            ) + 512;
            let mut h =
                String::from("<</Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached");
            let mut extra = Dict::default();
            extra.set(b"M", Obj::Str(pdf_date(opts.signing_time).into_bytes()));
            let name = opts
                .name
                .clone()
                .unwrap_or_else(|| signer.cert.common_name());
            extra.set(b"Name", text_string(&name));
            if let Some(r) = &opts.reason {
                extra.set(b"Reason", text_string(r));
            }
            if let Some(l) = &opts.location {
                extra.set(b"Location", text_string(l));
            }
            if let Some(c) = &opts.contact_info {
                extra.set(b"ContactInfo", text_string(c));
            }
            let mut tail = Vec::new();
            for (k, v) in &extra.0 {
                tail.push(b' ');
                crate::object::write_obj(&Obj::Name(k.clone()), &mut tail);
                tail.push(b' ');
                crate::object::write_obj(v, &mut tail);
            }
            h.push_str(&String::from_utf8_lossy(&tail));
            (reserve, h)
        }
        Kind::DocTimeStamp { tsa } => (
            tsa.max_token_size() + 512,
            String::from("<</Type /DocTimeStamp /Filter /Adobe.PPKLite /SubFilter /ETSI.RFC3161"),
        ),
    };
    let placeholder_br = "/ByteRange [0 0000000000 0000000000 0000000000]";
    let mut sig_body = header.into_bytes();
    sig_body.extend_from_slice(b" ");
    sig_body.extend_from_slice(placeholder_br.as_bytes());
    sig_body.extend_from_slice(b" /Contents <");
    sig_body.extend(std::iter::repeat_n(b'0', 2 * reserve));
    sig_body.extend_from_slice(b">>>");
    up.put_raw(sig_num, 0, sig_body);

    // The field and its widget.
    let mut widget = Dict::default();
    widget.set(b"Type", Obj::Name(b"Annot".to_vec()));
    widget.set(b"Subtype", Obj::Name(b"Widget".to_vec()));
    widget.set(b"FT", Obj::Name(b"Sig".to_vec()));
    widget.set(b"T", text_string(&field_name));
    widget.set(b"V", Obj::Ref(sig_num, 0));
    widget.set(b"F", Obj::Int(132)); // Print + Locked
    widget.set(b"P", Obj::Ref(page_ref.0, page_ref.1));
    match visible {
        Some(v) => {
            let [x1, y1, x2, y2] = v.rect;
            widget.set(
                b"Rect",
                Obj::Array(vec![
                    Obj::Real(f64::from(x1)),
                    Obj::Real(f64::from(y1)),
                    Obj::Real(f64::from(x2)),
                    Obj::Real(f64::from(y2)),
                ]),
            );
            // On a page displayed turned, the block is drawn turned back, upright to a reader,
            // at its size as displayed.
            let view = crate::PageView::of(reader, &page)?;
            let [dx1, dy1, dx2, dy2] = view.to_displayed(v.rect);
            let ap = appearance::build(&mut up, dx2 - dx1, dy2 - dy1, view.rotate, &v.lines)?;
            let mut apd = Dict::default();
            apd.set(b"N", Obj::Ref(ap, 0));
            widget.set(b"AP", Obj::Dict(apd));
        }
        None => widget.set(
            b"Rect",
            Obj::Array(vec![Obj::Int(0), Obj::Int(0), Obj::Int(0), Obj::Int(0)]),
        ),
    }
    up.put(widget_num, 0, &Obj::Dict(widget));

    // The page's annotations.
    let annots = page.get(b"Annots").cloned();
    match annots {
        Some(Obj::Ref(n, g)) => {
            let mut a = reader.get(n)?.as_array().cloned().unwrap_or_default();
            a.push(Obj::Ref(widget_num, 0));
            up.put(n, g, &Obj::Array(a));
        }
        other => {
            let mut a = other
                .and_then(|o| o.as_array().cloned())
                .unwrap_or_default();
            a.push(Obj::Ref(widget_num, 0));
            // Write the page as stored (without inherited attributes we filled in).
            let mut stored = reader
                .get(page_ref.0)?
                .as_dict()
                .cloned()
                .ok_or(PdfError::Broken("the page is not a dictionary"))?;
            stored.set(b"Annots", Obj::Array(a.clone()));
            page.set(b"Annots", Obj::Array(a));
            up.put(page_ref.0, page_ref.1, &Obj::Dict(stored));
        }
    }

    // The form's fields.
    fields.push(Obj::Ref(widget_num, 0));
    match fields_ref {
        Some((n, g)) => up.put(n, g, &Obj::Array(fields)),
        None => acro.set(b"Fields", Obj::Array(fields)),
    }
    acro.set(b"SigFlags", Obj::Int(3));
    match acro_ref {
        Some((n, g)) => up.put(n, g, &Obj::Dict(acro)),
        None => {
            let n = up.alloc();
            up.put(n, 0, &Obj::Dict(acro));
            catalog.set(b"AcroForm", Obj::Ref(n, 0));
            up.put(cat_ref.0, cat_ref.1, &Obj::Dict(catalog));
        }
    }

    let built = up.build(reader, base)?;
    let mut bytes = built.bytes;
    let sig_off = built
        .offsets
        .iter()
        .find(|(n, _)| *n == sig_num)
        .map(|(_, o)| *o)
        .ok_or(PdfError::Broken("signature object lost"))?;
    let rel_br = find_from(&bytes, sig_off, placeholder_br.as_bytes())
        .ok_or(PdfError::Broken("placeholder lost"))?;
    let rel_contents = find_from(&bytes, sig_off, b"/Contents <")
        .ok_or(PdfError::Broken("placeholder lost"))?
        + 10;
    let contents_start = base + rel_contents as u64;
    let contents_end = contents_start + 2 * reserve as u64 + 2;
    let total = base + bytes.len() as u64;
    let br = [0, contents_start, contents_end, total - contents_end];
    let br_text = format!("/ByteRange [0 {} {} {}]", br[1], br[2], br[3]);
    if br_text.len() > placeholder_br.len() {
        return Err(PdfError::Invalid(
            "the file is too large for a signature (over 9.9 GB)".into(),
        ));
    }
    let padded = format!("{br_text:<width$}", width = placeholder_br.len());
    bytes[rel_br..rel_br + padded.len()].copy_from_slice(padded.as_bytes());

    // Hash: the original (copied to the output on the way) and the update without /Contents.
    let mut h = match original {
        Original::CopyTo(out) => {
            let mut h = Sha256::new();
            copy_hashing(reader, out, &mut h)?;
            h
        }
        Original::InPlace { shared } => {
            let all = reader.source().as_bytes().ok_or(PdfError::Invalid(
                "signing in place needs the document in memory".into(),
            ))?;
            let mut h = crate::prefix::hasher_after(all, shared);
            h.update(all.get(shared..).unwrap_or_default());
            h
        }
    };
    h.update(&bytes[..rel_contents]);
    // The whole file's hash shares everything before /Contents with this one.
    let mut whole = h.clone();
    let after = rel_contents + 2 * reserve + 2;
    h.update(&bytes[after..]);
    let digest: [u8; 32] = h.finalize().into();
    let cms_der = match kind {
        Kind::Signature { signer, opts } => {
            let ts = if opts.level == Level::BB {
                None
            } else {
                Some(opts.tsa.ok_or(PdfError::Invalid(
                    "B-T and above need a time-stamping service".into(),
                ))?)
            };
            cms::sign_pades(signer, &digest, ts)?
        }
        Kind::DocTimeStamp { tsa } => tsa.timestamp(&digest)?,
    };
    if cms_der.len() > reserve {
        return Err(PdfError::Broken(
            "the signature is larger than the room reserved for it",
        ));
    }
    hex_upper_into(&mut bytes[rel_contents + 1..], &cms_der);
    whole.update(&bytes[rel_contents..]);
    let summary = SignatureSummary {
        field: field_name,
        byte_range: br,
        cms_len: cms_der.len(),
        output_len: total,
        file_sha256: whole.finalize().into(),
    };
    Ok((bytes, summary))
}

/// Writes `src` in upper-case hexadecimal at the start of `dst` (which must have room for it).
fn hex_upper_into(dst: &mut [u8], src: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for (pair, b) in dst.chunks_exact_mut(2).zip(src) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0xf)];
    }
}

fn find_from(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Copies the whole source to `out`, hashing it.
fn copy_hashing<S: Source + ?Sized>(
    reader: &Reader<S>,
    out: &mut dyn Write,
    h: &mut Sha256,
) -> Result<()> {
    let len = reader.len();
    // No larger than the file: a receipt is a few dozen kilobytes, and zeroing a whole
    // mebibyte for each one showed in profiles.
    let mut buf = vec![0u8; len.min(1 << 20) as usize];
    let mut off = 0u64;
    while off < len {
        let n = reader.source().read_at(off, &mut buf)?;
        if n == 0 {
            return Err(PdfError::Io(std::io::Error::other(
                "the file shrank while being signed",
            )));
        }
        h.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        off += n as u64;
    }
    Ok(())
}

/// Appends a `/DSS` revision with validation data, keyed (`/VRI`) to the last signature.
fn append_dss<S: Source + ?Sized>(
    reader: &Reader<S>,
    out: &mut dyn Write,
    data: &ValidationData,
    vri_for: &[u8],
) -> Result<()> {
    let base = reader.len();
    let mut up = Update::new(reader);
    let (cat_ref, mut catalog) = reader.catalog()?;
    let add_streams = |items: Vec<Vec<u8>>, up: &mut Update| -> Vec<Obj> {
        items
            .into_iter()
            .map(|der| {
                let n = up.alloc();
                up.put(
                    n,
                    0,
                    &Obj::Stream(Dict::default(), crate::object::StreamData::Bytes(der)),
                );
                Obj::Ref(n, 0)
            })
            .collect()
    };
    let certs = add_streams(
        data.certificates.iter().map(|c| c.der().to_vec()).collect(),
        &mut up,
    );
    let crls = add_streams(data.crls.clone(), &mut up);
    let ocsps = add_streams(data.ocsps.clone(), &mut up);
    // Merge with an existing DSS.
    let mut dss = match catalog.get(b"DSS") {
        Some(o) => reader.resolve(o)?.as_dict().cloned().unwrap_or_default(),
        None => Dict::default(),
    };
    let merge = |key: &[u8], new: &[Obj], dss: &mut Dict| -> Result<()> {
        let mut arr = match dss.get(key) {
            Some(o) => reader.resolve(o)?.as_array().cloned().unwrap_or_default(),
            None => vec![],
        };
        arr.extend_from_slice(new);
        if !arr.is_empty() {
            dss.set(key, Obj::Array(arr));
        }
        Ok(())
    };
    merge(b"Certs", &certs, &mut dss)?;
    merge(b"CRLs", &crls, &mut dss)?;
    merge(b"OCSPs", &ocsps, &mut dss)?;
    let mut vri_entry = Dict::default();
    if !certs.is_empty() {
        vri_entry.set(b"Cert", Obj::Array(certs));
    }
    if !crls.is_empty() {
        vri_entry.set(b"CRL", Obj::Array(crls));
    }
    if !ocsps.is_empty() {
        vri_entry.set(b"OCSP", Obj::Array(ocsps));
    }
    let mut vri = match dss.get(b"VRI") {
        Some(o) => reader.resolve(o)?.as_dict().cloned().unwrap_or_default(),
        None => Dict::default(),
    };
    let key = hex::encode_upper(<sha1::Sha1 as sha2::Digest>::digest(vri_for));
    vri.set(key.as_bytes(), Obj::Dict(vri_entry));
    dss.set(b"VRI", Obj::Dict(vri));
    dss.set(b"Type", Obj::Name(b"DSS".to_vec()));
    let dss_num = up.alloc();
    up.put(dss_num, 0, &Obj::Dict(dss));
    catalog.set(b"DSS", Obj::Ref(dss_num, 0));
    up.put(cat_ref.0, cat_ref.1, &Obj::Dict(catalog));
    let built = up.build(reader, base)?;
    let mut h = Sha256::new();
    copy_hashing(reader, out, &mut h)?;
    out.write_all(&built.bytes)?;
    out.flush()?;
    Ok(())
}

/// Signs a PDF held in memory; returns the signed PDF.
pub fn sign_bytes(pdf: &[u8], signer: &CmsSigner<'_>, opts: &SignOptions<'_>) -> Result<Vec<u8>> {
    Ok(sign_vec(pdf.to_vec(), signer, opts)?.pdf)
}

/// Signs a PDF held in memory, taking it over; returns the signed PDF and its SHA-256.
/// The new revision is appended to the vector itself: nothing is copied when the vector has
/// room for it (about 2 × the signature's size plus 2 KiB).
pub fn sign_vec(pdf: Vec<u8>, signer: &CmsSigner<'_>, opts: &SignOptions<'_>) -> Result<Signed> {
    let reader = Reader::open(Box::new(pdf))?;
    let (update, summary) = new_revision(
        &reader,
        Original::InPlace {
            shared: opts.shared_prefix,
        },
        Kind::Signature { signer, opts },
    )?;
    let mut out = *reader.into_source();
    out.extend_from_slice(&update);
    if !matches!(opts.level, Level::BLT | Level::BLTA) {
        return Ok(Signed {
            pdf: out,
            sha256: summary.file_sha256,
        });
    }
    let contents = signature_contents(&out, &summary)?;
    let data = opts.validation_data.clone().ok_or(PdfError::Invalid(
        "B-LT needs validation data (certificates, CRLs or OCSP responses)".into(),
    ))?;
    let reader = Reader::open(Box::<[u8]>::from(out.as_slice()))?;
    let mut next = Vec::with_capacity(out.len() + 16 * 1024);
    append_dss(&reader, &mut next, &data, &contents)?;
    out = next;
    if opts.level == Level::BLTA {
        let tsa = opts.tsa.ok_or(PdfError::Invalid(
            "B-LTA needs a time-stamping service".into(),
        ))?;
        let reader = Reader::open(Box::<[u8]>::from(out.as_slice()))?;
        let mut next = Vec::with_capacity(out.len() + 16 * 1024);
        append_signature(&reader, &mut next, Kind::DocTimeStamp { tsa })?;
        out = next;
    }
    let sha256 = Sha256::digest(&out).into();
    Ok(Signed { pdf: out, sha256 })
}

/// The bytes of a signature's `/Contents` (for the DSS VRI key).
fn signature_contents(pdf: &[u8], s: &SignatureSummary) -> Result<Vec<u8>> {
    let start = usize::try_from(s.byte_range[1]).map_err(|_| PdfError::Broken("offset"))? + 1;
    let end = usize::try_from(s.byte_range[2]).map_err(|_| PdfError::Broken("offset"))? - 1;
    hex::decode(pdf.get(start..end).ok_or(PdfError::Broken("contents"))?)
        .map_err(|_| PdfError::Broken("contents are not hexadecimal"))
}

/// Adds a document time-stamp (`/ETSI.RFC3161`) to a PDF in memory.
pub fn timestamp_bytes(pdf: &[u8], tsa: &dyn TimestampSource) -> Result<Vec<u8>> {
    let reader = Reader::open(Box::<[u8]>::from(pdf))?;
    let mut out = Vec::with_capacity(pdf.len() + 8 * 1024);
    append_signature(&reader, &mut out, Kind::DocTimeStamp { tsa })?;
    Ok(out)
}

/// Signs a file into another, streaming: memory does not grow with the file's size. Levels above
/// B-T append their revisions to the output file in further passes.
pub fn sign_file(
    input: &std::path::Path,
    output: &std::path::Path,
    signer: &CmsSigner<'_>,
    opts: &SignOptions<'_>,
) -> Result<SignatureSummary> {
    let reader = Reader::open(Box::new(FileSource::open(input)?))?;
    let tmp = output.with_extension("diwan-tmp");
    let result = (|| {
        let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
        let summary = append_signature(&reader, &mut f, Kind::Signature { signer, opts })?;
        f.into_inner()
            .map_err(|e| PdfError::Io(e.into_error()))?
            .sync_all()?;
        if matches!(opts.level, Level::BLT | Level::BLTA) {
            let data = opts
                .validation_data
                .clone()
                .ok_or(PdfError::Invalid("B-LT needs validation data".into()))?;
            let src = FileSource::open(&tmp)?;
            let mut contents_hex =
                vec![0u8; (summary.byte_range[2] - summary.byte_range[1] - 2) as usize];
            src.read_at(summary.byte_range[1] + 1, &mut contents_hex)?;
            let contents = hex::decode(&contents_hex).map_err(|_| PdfError::Broken("contents"))?;
            let reader = Reader::open(Box::new(src))?;
            let tmp2 = output.with_extension("diwan-tmp2");
            let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp2)?);
            append_dss(&reader, &mut f, &data, &contents)?;
            f.into_inner()
                .map_err(|e| PdfError::Io(e.into_error()))?
                .sync_all()?;
            std::fs::rename(&tmp2, &tmp)?;
            if opts.level == Level::BLTA {
                let tsa = opts.tsa.ok_or(PdfError::Invalid(
                    "B-LTA needs a time-stamping service".into(),
                ))?;
                let reader = Reader::open(Box::new(FileSource::open(&tmp)?))?;
                let mut f =
                    std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp2)?);
                append_signature(&reader, &mut f, Kind::DocTimeStamp { tsa })?;
                f.into_inner()
                    .map_err(|e| PdfError::Io(e.into_error()))?
                    .sync_all()?;
                std::fs::rename(&tmp2, &tmp)?;
            }
        }
        Ok(summary)
    })();
    match result {
        Ok(s) => {
            std::fs::rename(&tmp, output)?;
            Ok(s)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}
