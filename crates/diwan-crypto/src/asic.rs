//! ASiC-E containers with CAdES signatures (ETSI EN 319 162-1 §4.4.3): a ZIP whose first entry is
//! `mimetype` (stored, `application/vnd.etsi.asic-e+zip`), the data files, an
//! `META-INF/ASiCManifest.xml` listing every data file with its SHA-256 digest, and
//! `META-INF/signature001.p7s`, a detached CAdES signature over the manifest's bytes.
//!
//! Reading accepts any number of manifests and signatures (`META-INF/ASiCManifest*.xml`, each
//! naming its signature with `SigReference`), and says which data files no manifest covers.

use crate::cms::{self, CmsSigner};
use crate::digest::DigestAlg;
use crate::tsa::TimestampSource;
use crate::{CryptoError, Result};
use base64::Engine;
use std::io::{Cursor, Read, Write};
use time::OffsetDateTime;

/// The container's media type, the content of its `mimetype` entry.
pub const MIMETYPE: &str = "application/vnd.etsi.asic-e+zip";
/// Where our manifest and signature go.
pub const MANIFEST_NAME: &str = "META-INF/ASiCManifest.xml";
pub const SIGNATURE_NAME: &str = "META-INF/signature001.p7s";

/// Largest entry and largest whole content read from a container (against ZIP bombs).
const MAX_ENTRY: u64 = 512 << 20;
const MAX_TOTAL: u64 = 1 << 30;

fn bad(detail: impl std::fmt::Display) -> CryptoError {
    CryptoError::malformed("ASiC-E container", detail)
}

/// A media type for a data file, from its extension.
pub fn media_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "xml" => "application/xml",
        "json" => "application/json",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "tif" | "tiff" => "image/tiff",
        "odt" => "application/vnd.oasis.opendocument.text",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Percent-encodes a relative file name as a URI reference (path separators kept).
fn uri_encode(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn uri_decode(uri: &str) -> String {
    let bytes = uri.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn digest_uri(alg: DigestAlg) -> &'static str {
    match alg {
        DigestAlg::Sha1 => "http://www.w3.org/2000/09/xmldsig#sha1",
        DigestAlg::Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
        DigestAlg::Sha384 => "http://www.w3.org/2001/04/xmldsig-more#sha384",
        DigestAlg::Sha512 => "http://www.w3.org/2001/04/xmlenc#sha512",
    }
}

fn digest_from_uri(uri: &str) -> Option<DigestAlg> {
    [
        DigestAlg::Sha1,
        DigestAlg::Sha256,
        DigestAlg::Sha384,
        DigestAlg::Sha512,
    ]
    .into_iter()
    .find(|a| digest_uri(*a) == uri)
}

/// The `ASiCManifest` of data files (name, SHA-256) signed by `signature_name`.
pub fn manifest(files: &[(String, [u8; 32])], signature_name: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n\
         <asic:ASiCManifest xmlns:asic=\"http://uri.etsi.org/02918/v1.2.1#\" \
         xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\n",
    );
    x.push_str(&format!(
        "  <asic:SigReference URI=\"{}\" MimeType=\"application/x-pkcs7-signature\"/>\n",
        xml_escape(&uri_encode(signature_name))
    ));
    for (name, digest) in files {
        x.push_str(&format!(
            "  <asic:DataObjectReference URI=\"{}\" MimeType=\"{}\">\n    \
             <ds:DigestMethod Algorithm=\"{}\"/>\n    \
             <ds:DigestValue>{}</ds:DigestValue>\n  </asic:DataObjectReference>\n",
            xml_escape(&uri_encode(name)),
            media_type(name),
            digest_uri(DigestAlg::Sha256),
            b64.encode(digest)
        ));
    }
    x.push_str("</asic:ASiCManifest>\n");
    x
}

/// Whether a data file name may go in a container: relative, no `..`, not in META-INF.
fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.starts_with('/')
        || name.contains('\\')
        || name
            .split('/')
            .any(|p| p == ".." || p == "." || p.is_empty())
        || name == "mimetype"
        || name.starts_with("META-INF/")
    {
        return Err(bad(format!("{name:?} cannot be a data file's name")));
    }
    Ok(())
}

/// Builds an ASiC-E container of `files` (name, content), signed with a detached CAdES
/// signature over the manifest (B-T with `timestamp`, else B-B).
pub fn build(
    files: &[(String, Vec<u8>)],
    signer: &CmsSigner<'_>,
    signing_time: OffsetDateTime,
    timestamp: Option<&dyn TimestampSource>,
) -> Result<Vec<u8>> {
    if files.is_empty() {
        return Err(bad("no data file"));
    }
    let mut listed = Vec::new();
    for (name, bytes) in files {
        check_name(name)?;
        if listed.iter().any(|(n, _)| n == name) {
            return Err(bad(format!("{name:?} is given twice")));
        }
        let d: [u8; 32] =
            sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(bytes)).into();
        listed.push((name.clone(), d));
    }
    let manifest = manifest(&listed, SIGNATURE_NAME);
    let md: [u8; 32] = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(
        manifest.as_bytes(),
    ))
    .into();
    let signature = cms::sign_cades_detached(signer, &md, signing_time, timestamp)?;
    let zip_err = |e: zip::result::ZipError| bad(e);
    let io_err = |e: std::io::Error| bad(e);
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file("mimetype", stored).map_err(zip_err)?;
    w.write_all(MIMETYPE.as_bytes()).map_err(io_err)?;
    for (name, bytes) in files {
        w.start_file(name.as_str(), deflated).map_err(zip_err)?;
        w.write_all(bytes).map_err(io_err)?;
    }
    w.start_file(MANIFEST_NAME, deflated).map_err(zip_err)?;
    w.write_all(manifest.as_bytes()).map_err(io_err)?;
    w.start_file(SIGNATURE_NAME, stored).map_err(zip_err)?;
    w.write_all(&signature).map_err(io_err)?;
    Ok(w.finish().map_err(zip_err)?.into_inner())
}

/// A data object a manifest lists.
#[derive(Debug, Clone)]
pub struct Reference {
    pub name: String,
    pub digest_alg: Option<DigestAlg>,
    pub digest: Vec<u8>,
}

/// A manifest and the signature over it.
#[derive(Debug, Clone)]
pub struct SignedManifest {
    pub manifest_name: String,
    pub manifest: Vec<u8>,
    pub signature_name: String,
    /// `None` when the manifest names a signature that is not in the container.
    pub signature: Option<Vec<u8>>,
    pub references: Vec<Reference>,
}

/// What a container holds.
#[derive(Debug, Clone, Default)]
pub struct Container {
    /// Whether the first entry is a stored `mimetype` with the ASiC-E media type.
    pub mimetype_ok: bool,
    /// Data files (outside META-INF), in order.
    pub files: Vec<(String, Vec<u8>)>,
    pub manifests: Vec<SignedManifest>,
}

/// Every element named `local` (any namespace prefix): its attributes text and its content.
fn elements<'a>(xml: &'a str, local: &str) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let Some(end) = rest.find('>') else { break };
        let tag = &rest[..end];
        let name = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        let name_local = name.rsplit(':').next().unwrap_or(name);
        if name_local == local && !tag.starts_with('/') {
            let attrs = &tag[name.len()..];
            if tag.ends_with('/') {
                out.push((attrs.trim_end_matches('/'), ""));
            } else {
                let body = &rest[end + 1..];
                let close = body.find(&format!("</{name}>")).unwrap_or(body.len());
                out.push((attrs, &body[..close]));
            }
        }
        rest = &rest[end..];
    }
    out
}

fn attribute(attrs: &str, name: &str) -> Option<String> {
    let mut rest = attrs;
    while let Some(i) = rest.find(name) {
        let before_ok = i == 0 || rest[..i].chars().last().is_some_and(|c| c.is_whitespace());
        let after = rest[i + name.len()..].trim_start();
        if before_ok {
            if let Some(v) = after.strip_prefix('=') {
                let v = v.trim_start();
                let q = v.chars().next()?;
                if q == '"' || q == '\'' {
                    let v = &v[1..];
                    return v.find(q).map(|e| xml_unescape(&v[..e]));
                }
            }
        }
        rest = &rest[i + name.len()..];
    }
    None
}

/// Reads the data objects and signature reference of an `ASiCManifest`.
pub fn parse_manifest(xml: &str) -> Result<(String, Vec<Reference>)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let sig = elements(xml, "SigReference")
        .first()
        .and_then(|(a, _)| attribute(a, "URI"))
        .map(|u| uri_decode(&u))
        .ok_or_else(|| bad("the manifest has no SigReference"))?;
    let mut refs = Vec::new();
    for (attrs, body) in elements(xml, "DataObjectReference") {
        let uri = attribute(attrs, "URI").ok_or_else(|| bad("a DataObjectReference has no URI"))?;
        let alg = elements(body, "DigestMethod")
            .first()
            .and_then(|(a, _)| attribute(a, "Algorithm"))
            .and_then(|u| digest_from_uri(&u));
        let value = elements(body, "DigestValue")
            .first()
            .map(|(_, v)| v.chars().filter(|c| !c.is_whitespace()).collect::<String>())
            .and_then(|v| b64.decode(v).ok())
            .ok_or_else(|| bad(format!("no readable digest for {uri}")))?;
        refs.push(Reference {
            name: uri_decode(&uri),
            digest_alg: alg,
            digest: value,
        });
    }
    if refs.is_empty() {
        return Err(bad("the manifest lists no data object"));
    }
    Ok((sig, refs))
}

/// Opens an ASiC-E container.
pub fn open(bytes: &[u8]) -> Result<Container> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).map_err(bad)?;
    let mut c = Container::default();
    let mut total = 0u64;
    let mut meta: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).map_err(bad)?;
        if f.is_dir() {
            continue;
        }
        let name = f.name().to_string();
        let mut data = Vec::new();
        (&mut f)
            .take(MAX_ENTRY + 1)
            .read_to_end(&mut data)
            .map_err(bad)?;
        total += data.len() as u64;
        if data.len() as u64 > MAX_ENTRY || total > MAX_TOTAL {
            return Err(bad("the container's content is too large"));
        }
        if i == 0 && name == "mimetype" {
            c.mimetype_ok =
                f.compression() == zip::CompressionMethod::Stored && data == MIMETYPE.as_bytes();
            continue;
        }
        if name == "mimetype" {
            continue;
        }
        if name.starts_with("META-INF/") {
            meta.push((name, data));
        } else {
            c.files.push((name, data));
        }
    }
    for (name, data) in &meta {
        let file = name.trim_start_matches("META-INF/");
        if !(file.starts_with("ASiCManifest") && file.ends_with(".xml")) {
            continue;
        }
        let text = std::str::from_utf8(data).map_err(|_| bad(format!("{name} is not UTF-8")))?;
        let (sig_name, references) = parse_manifest(text)?;
        let signature = meta
            .iter()
            .find(|(n, _)| *n == sig_name)
            .map(|(_, d)| d.clone());
        c.manifests.push(SignedManifest {
            manifest_name: name.clone(),
            manifest: data.clone(),
            signature_name: sig_name,
            signature,
            references,
        });
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::tests::chain;

    #[test]
    fn build_open_and_check() {
        let (_, _, ica, _, seal, sk) = chain();
        let signer = CmsSigner {
            key: &sk,
            cert: &seal,
            chain: std::slice::from_ref(&ica),
        };
        let files = vec![
            ("lettre.txt".to_string(), b"Bonjour".to_vec()),
            (
                "annexes/rapport final & co.pdf".to_string(),
                b"%PDF-1.7 ...".to_vec(),
            ),
        ];
        let z = build(&files, &signer, OffsetDateTime::now_utc(), None).unwrap();
        // mimetype first, stored, at offset 30 of the file (ETSI EN 319 162-1 A.1).
        assert_eq!(&z[30..38], b"mimetype");
        assert_eq!(&z[38..38 + MIMETYPE.len()], MIMETYPE.as_bytes());
        let c = open(&z).unwrap();
        assert!(c.mimetype_ok);
        assert_eq!(c.files, files);
        assert_eq!(c.manifests.len(), 1);
        let m = &c.manifests[0];
        assert_eq!(m.signature_name, SIGNATURE_NAME);
        assert_eq!(m.references.len(), 2);
        assert_eq!(m.references[1].name, "annexes/rapport final & co.pdf");
        assert_eq!(m.references[1].digest_alg, Some(DigestAlg::Sha256));
        assert_eq!(m.references[0].digest, DigestAlg::Sha256.digest(b"Bonjour"));
        let v = cms::verify_detached_data(m.signature.as_ref().unwrap(), &m.manifest).unwrap();
        assert!(v.signers[0].digest_ok && v.signers[0].signature_ok);
        // Bad names are refused.
        for name in ["../x", "/etc/passwd", "META-INF/x", "mimetype", "a//b"] {
            assert!(
                build(
                    &[(name.to_string(), vec![1])],
                    &signer,
                    OffsetDateTime::now_utc(),
                    None
                )
                .is_err(),
                "{name}"
            );
        }
        assert!(open(b"not a zip").is_err());
    }

    #[test]
    fn foreign_manifest() {
        // Another producer: default namespace, single quotes, SHA-512, an escaped name.
        let xml = "<?xml version='1.0'?><ASiCManifest xmlns='http://uri.etsi.org/02918/v1.2.1#'>\
            <SigReference URI='META-INF/signature2.p7s' MimeType='application/pkcs7-signature'/>\
            <DataObjectReference URI='dossier/lettre%20sign%C3%A9e.pdf'>\
            <DigestMethod xmlns='http://www.w3.org/2000/09/xmldsig#' \
             Algorithm='http://www.w3.org/2001/04/xmlenc#sha512'/>\
            <DigestValue xmlns='http://www.w3.org/2000/09/xmldsig#'>AAEC\nAw==</DigestValue>\
            </DataObjectReference></ASiCManifest>";
        let (sig, refs) = parse_manifest(xml).unwrap();
        assert_eq!(sig, "META-INF/signature2.p7s");
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].name, "dossier/lettre signée.pdf");
        assert_eq!(refs[0].digest_alg, Some(DigestAlg::Sha512));
        assert_eq!(refs[0].digest, vec![0, 1, 2, 3]);
        assert!(parse_manifest("<ASiCManifest/>").is_err());
        assert_eq!(uri_decode(&uri_encode("a b/é&%.txt")), "a b/é&%.txt");
    }
}
