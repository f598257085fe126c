//! Shared fixtures: a test PKI, a local time-stamping authority, input PDFs from several producers.
#![allow(dead_code)]

use diwan_crypto::pki::{self, CertificateSpec, DistinguishedName, PkiUrls, Profile};
use diwan_crypto::tsa::TimestampAuthority;
use diwan_crypto::{Certificate, KeyAlgorithm, PrivateKey};
use std::path::Path;
use std::process::Command;
use time::{Duration, OffsetDateTime};

pub struct Pki {
    pub root: Certificate,
    pub root_key: PrivateKey,
    pub tsa: TimestampAuthority,
    pub tsa_cert: Certificate,
}

pub fn spec(cn: &str, profile: Profile, crl: bool) -> CertificateSpec {
    let now = OffsetDateTime::now_utc();
    CertificateSpec {
        subject: DistinguishedName {
            common_name: cn.into(),
            organization: Some("Royaume du Maroc".into()),
            country: Some("MA".into()),
            ..Default::default()
        },
        profile,
        not_before: now - Duration::days(1),
        not_after: now + Duration::days(3650),
        urls: PkiUrls {
            crl: crl.then(|| "http://127.0.0.1:9/pki/crl".to_string()),
            ocsp: None,
            ca_issuers: None,
        },
    }
}

pub fn pki() -> Pki {
    let root_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let root = pki::issue(
        &spec("Diwan Test Root", Profile::RootCa, false),
        &root_key.public_key_der().unwrap(),
        None,
        &root_key,
    )
    .unwrap();
    let tk = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let tsa_cert = pki::issue(
        &spec("Diwan TSA", Profile::TimeStamping, false),
        &tk.public_key_der().unwrap(),
        Some(&root),
        &root_key,
    )
    .unwrap();
    Pki {
        tsa: TimestampAuthority::new(tk, tsa_cert.clone(), vec![]),
        tsa_cert,
        root,
        root_key,
    }
}

impl Pki {
    pub fn signer(&self, cn: &str, alg: KeyAlgorithm) -> (Certificate, PrivateKey) {
        let k = PrivateKey::generate(alg).unwrap();
        let c = pki::issue(
            &spec(cn, Profile::PersonSignature, false),
            &k.public_key_der().unwrap(),
            Some(&self.root),
            &self.root_key,
        )
        .unwrap();
        (c, k)
    }
}

pub fn tool(name: &str) -> bool {
    tool_answering(name, "--version")
}

/// Whether `name` runs and answers `arg` (poppler's tools answer `-v`, not `--version`);
/// missing tools fail the test when DIWAN_REQUIRE_TOOLS is set.
pub fn tool_answering(name: &str, arg: &str) -> bool {
    let ok = Command::new(name)
        .arg(arg)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok && std::env::var("DIWAN_REQUIRE_TOOLS").is_ok() {
        panic!("{name} is required");
    }
    if !ok {
        eprintln!("{name} not available: skipping");
    }
    ok
}

/// `pyhanko sign validate --trust root --trust-replace FILE` plus `extra` options.
pub fn pyhanko_validate(root: &Certificate, pdf: &[u8], extra: &[&str]) -> (bool, String) {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("root.pem"), root.to_pem()).unwrap();
    std::fs::write(d.path().join("f.pdf"), pdf).unwrap();
    let o = Command::new("pyhanko")
        .args(["sign", "validate", "--trust", "root.pem", "--trust-replace"])
        .args(extra)
        .arg("f.pdf")
        .current_dir(d.path())
        .output()
        .unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// `pyhanko sign adesverify` (AdES validation, using the /DSS for B-LT and B-LTA).
pub fn pyhanko_ades(root: &Certificate, pdf: &[u8]) -> (bool, String) {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("root.pem"), root.to_pem()).unwrap();
    std::fs::write(d.path().join("f.pdf"), pdf).unwrap();
    let o = Command::new("pyhanko")
        .args([
            "sign",
            "adesverify",
            "--trust",
            "root.pem",
            "--trust-replace",
            "--pretty-print",
            "f.pdf",
        ])
        .current_dir(d.path())
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (
        o.status.success() && !out.contains("INDETERMINATE") && !out.contains("FAILED"),
        out,
    )
}

pub fn qpdf_check(pdf: &[u8]) -> (bool, String) {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("f.pdf"), pdf).unwrap();
    let o = Command::new("qpdf")
        .arg("--check")
        .arg("f.pdf")
        .current_dir(d.path())
        .output()
        .unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// A simple classic-xref PDF with `pages` pages.
pub fn simple_pdf(pages: usize) -> Vec<u8> {
    let mut objs: Vec<String> = vec!["<< /Type /Catalog /Pages 2 0 R >>".into()];
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    objs.push(format!(
        "<< /Type /Pages /Kids [{}] /Count {pages} >>",
        kids.join(" ")
    ));
    objs.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into());
    for i in 0..pages {
        objs.push(format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>", 5 + 2 * i));
        let content = format!(
            "BT /F1 24 Tf 72 720 Td (Page {} - lettre {{sig:1}}) Tj ET",
            i + 1
        );
        objs.push(format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offs = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offs.push(out.len());
        out.extend(format!("{} 0 obj\n{o}\nendobj\n", i + 1).into_bytes());
    }
    let x = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).into_bytes());
    for o in offs {
        out.extend(format!("{o:010} 00000 n \n").into_bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{x}\n%%EOF\n",
            objs.len() + 1
        )
        .into_bytes(),
    );
    out
}

/// Runs qpdf with `args` on `pdf` and returns the output file.
pub fn qpdf_transform(pdf: &[u8], args: &[&str]) -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("in.pdf"), pdf).unwrap();
    let o = Command::new("qpdf")
        .args(args)
        .arg("in.pdf")
        .arg("out.pdf")
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(
        o.status.code().is_some_and(|c| c == 0 || c == 3),
        "qpdf {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read(d.path().join("out.pdf")).unwrap()
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}
