//! Signing and validating files on disk (streaming).

mod common;
use common::*;
use diwan_crypto::cms::CmsSigner;
use diwan_crypto::{KeyAlgorithm, TrustStore};
use diwan_pades::{
    sign_file, sign_vec, verify_bytes, verify_file, Indication, Level, PdfReport, SignOptions,
    ValidationData,
};
use sha2::Digest;
use time::OffsetDateTime;

/// A PDF with a large (incompressible) stream, to sign as a file.
pub fn big_pdf(mb: usize) -> Vec<u8> {
    let mut pdf = simple_pdf(1);
    let text = String::from_utf8_lossy(&pdf).into_owned();
    let prev = text[text.rfind("startxref").unwrap() + 10..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    // Append an incremental update holding a large unreferenced stream.
    let x = pdf.len();
    let mut junk = vec![0u8; mb << 20];
    let mut s: u32 = 12345;
    for b in junk.iter_mut() {
        s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (s >> 16) as u8;
    }
    let obj = format!("100 0 obj\n<< /Length {} >>\nstream\n", junk.len());
    pdf.extend_from_slice(obj.as_bytes());
    pdf.extend_from_slice(&junk);
    pdf.extend_from_slice(b"\nendstream\nendobj\n");
    let xref = pdf.len();
    pdf.extend(format!("xref\n100 1\n{x:010} 00000 n \ntrailer\n<< /Size 101 /Root 1 0 R /Prev {prev} >>\nstartxref\n{xref}\n%%EOF\n").into_bytes());
    pdf
}

#[test]
fn sign_and_verify_files_at_every_level() {
    let p = pki();
    let (cert, key) = p.signer("Fichier", KeyAlgorithm::EcdsaP256);
    let signer = CmsSigner {
        key: &key,
        cert: &cert,
        chain: &[],
    };
    let d = tempfile::tempdir().unwrap();
    let input = write(d.path(), "in.pdf", &big_pdf(3));
    for level in [Level::BB, Level::BT, Level::BLT, Level::BLTA] {
        let out = d.path().join(format!("out-{level:?}.pdf"));
        let mut opts = SignOptions::new(level);
        opts.tsa = Some(&p.tsa);
        opts.validation_data = Some(ValidationData {
            certificates: vec![cert.clone(), p.root.clone()],
            crls: vec![],
            ocsps: vec![],
        });
        let s = sign_file(&input, &out, &signer, &opts).unwrap();
        assert!(s.byte_range[1] > 3 << 20);
        // The whole file's hash, carried on from the state before /Contents while signing: that
        // of the bytes written by this revision, and that of the bytes sign_vec gives.
        let sha256 = |b: &[u8]| -> [u8; 32] { sha2::Sha256::digest(b).into() };
        if matches!(level, Level::BB | Level::BT) {
            assert_eq!(s.file_sha256, sha256(&std::fs::read(&out).unwrap()));
        }
        let signed = sign_vec(std::fs::read(&input).unwrap(), &signer, &opts).unwrap();
        assert_eq!(signed.sha256, sha256(&signed.pdf), "{level:?}");
        // The first 64 KiB declared shared, twice: hashed and kept, then taken from the kept
        // state. The hashes still match and the signature verifies.
        let trust = TrustStore::new(vec![p.root.clone()]);
        let passes = |r: PdfReport, what: String| {
            let sig = r.signatures.iter().find(|s| s.kind == "signature").unwrap();
            assert_eq!(sig.indication, Indication::TotalPassed, "{what}: {sig:?}");
        };
        opts.shared_prefix = 64 * 1024;
        for _ in 0..2 {
            let signed = sign_vec(std::fs::read(&input).unwrap(), &signer, &opts).unwrap();
            assert_eq!(signed.sha256, sha256(&signed.pdf), "{level:?}, shared");
            let r = verify_bytes(&signed.pdf, &trust, OffsetDateTime::now_utc()).unwrap();
            passes(r, format!("{level:?}, shared"));
        }
        opts.shared_prefix = 0;
        let r = verify_file(&out, &trust, OffsetDateTime::now_utc()).unwrap();
        passes(r, format!("{level:?}"));
        if tool("qpdf") {
            assert!(qpdf_check(&std::fs::read(&out).unwrap()).0);
        }
        if level == Level::BT && tool("pyhanko") {
            assert!(pyhanko_validate(&p.root, &std::fs::read(&out).unwrap(), &[]).0);
        }
    }
    // A failed signing leaves no output behind.
    let mut opts = SignOptions::new(Level::BT);
    opts.tsa = None;
    let out = d.path().join("never.pdf");
    assert!(sign_file(&input, &out, &signer, &opts).is_err());
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(d.path())
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("diwan-tmp"))
            .count(),
        0
    );
}
