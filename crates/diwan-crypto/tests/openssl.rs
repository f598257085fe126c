//! Our certificates, CMS signatures, time-stamps and CRLs checked by OpenSSL, and OpenSSL's
//! signatures checked by us.

use diwan_crypto::cms::{self, CmsSigner};
use diwan_crypto::pki::{
    self, CertificateSpec, DistinguishedName, PkiUrls, Profile, Revoked, TrustStore, Usage,
};
use diwan_crypto::tsa::{self, TimestampAuthority, TimestampSource};
use diwan_crypto::{Certificate, DigestAlg, KeyAlgorithm, PrivateKey};
use std::path::Path;
use std::process::Command;
use time::{Duration, OffsetDateTime};

fn openssl_available() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok && std::env::var("DIWAN_REQUIRE_TOOLS").is_ok() {
        panic!("openssl is required");
    }
    if !ok {
        eprintln!("openssl not found: skipping");
    }
    ok
}

fn openssl(args: &[&str], dir: &Path) -> (bool, String) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
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

fn spec(cn: &str, profile: Profile) -> CertificateSpec {
    let now = OffsetDateTime::now_utc();
    CertificateSpec {
        subject: DistinguishedName {
            common_name: cn.into(),
            organization: Some("Royaume du Maroc".into()),
            country: Some("MA".into()),
            ..Default::default()
        },
        profile,
        not_before: now - Duration::hours(1),
        not_after: now + Duration::days(3650),
        urls: PkiUrls {
            crl: Some("http://127.0.0.1:8080/pki/crl".into()),
            ocsp: None,
            ca_issuers: None,
        },
    }
}

struct Pki {
    root: Certificate,
    root_key: PrivateKey,
    tsa: TimestampAuthority,
    tsa_cert: Certificate,
    seal: Certificate,
    seal_key: PrivateKey,
}

fn pki(alg: KeyAlgorithm) -> Pki {
    let root_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let root = pki::issue(
        &spec("Diwan Test Root", Profile::RootCa),
        &root_key.public_key_der().unwrap(),
        None,
        &root_key,
    )
    .unwrap();
    let tk = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let tsa_cert = pki::issue(
        &spec("Diwan TSA", Profile::TimeStamping),
        &tk.public_key_der().unwrap(),
        Some(&root),
        &root_key,
    )
    .unwrap();
    let seal_key = PrivateKey::generate(alg).unwrap();
    let seal = pki::issue(
        &spec("وزارة العدل — Cachet", Profile::Seal),
        &seal_key.public_key_der().unwrap(),
        Some(&root),
        &root_key,
    )
    .unwrap();
    Pki {
        tsa: TimestampAuthority::new(tk, tsa_cert.clone(), vec![]),
        tsa_cert,
        root,
        root_key,
        seal,
        seal_key,
    }
}

#[test]
fn certificates_verify_with_openssl() {
    if !openssl_available() {
        return;
    }
    let p = pki(KeyAlgorithm::EcdsaP256);
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("root.pem"), p.root.to_pem()).unwrap();
    std::fs::write(d.path().join("seal.pem"), p.seal.to_pem()).unwrap();
    std::fs::write(d.path().join("tsa.pem"), p.tsa_cert.to_pem()).unwrap();
    let (ok, out) = openssl(
        &["verify", "-CAfile", "root.pem", "seal.pem", "tsa.pem"],
        d.path(),
    );
    assert!(ok, "{out}");
    let (ok, out) = openssl(&["x509", "-in", "tsa.pem", "-noout", "-text"], d.path());
    assert!(
        ok && out.contains("Time Stamping") && out.contains("critical"),
        "{out}"
    );
    let (ok, out) = openssl(
        &[
            "x509", "-in", "seal.pem", "-noout", "-text", "-nameopt", "utf8",
        ],
        d.path(),
    );
    assert!(
        ok && out.contains("Non Repudiation") && out.contains("وزارة العدل"),
        "{out}"
    );
}

#[test]
fn cades_detached_verifies_with_openssl_rsa_and_ec() {
    if !openssl_available() {
        return;
    }
    for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Rsa2048] {
        let p = pki(alg);
        let d = tempfile::tempdir().unwrap();
        let data = "Accusé de réception — إشعار بالتوصل\n".repeat(50);
        std::fs::write(d.path().join("data.txt"), &data).unwrap();
        std::fs::write(d.path().join("root.pem"), p.root.to_pem()).unwrap();
        let digest: [u8; 32] = DigestAlg::Sha256
            .digest(data.as_bytes())
            .try_into()
            .unwrap();
        let signer = CmsSigner {
            key: &p.seal_key,
            cert: &p.seal,
            chain: &[],
        };
        let sig =
            cms::sign_cades_detached(&signer, &digest, OffsetDateTime::now_utc(), Some(&p.tsa))
                .unwrap();
        assert!(
            sig.len() <= cms::estimate_pades_size(&signer, Some(&p.tsa)) + 64,
            "estimate is an upper bound"
        );
        std::fs::write(d.path().join("sig.p7s"), &sig).unwrap();
        let (ok, out) = openssl(
            &[
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                "sig.p7s",
                "-content",
                "data.txt",
                "-CAfile",
                "root.pem",
                "-purpose",
                "any",
                "-out",
                "/dev/null",
            ],
            d.path(),
        );
        assert!(
            ok && out.contains("Verification successful"),
            "{alg:?}: {out}"
        );
        // One changed byte: refused by OpenSSL and by us.
        let mut tampered = data.clone().into_bytes();
        tampered[3] ^= 1;
        std::fs::write(d.path().join("data.txt"), &tampered).unwrap();
        let (ok, _) = openssl(
            &[
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                "sig.p7s",
                "-content",
                "data.txt",
                "-CAfile",
                "root.pem",
                "-purpose",
                "any",
                "-out",
                "/dev/null",
            ],
            d.path(),
        );
        assert!(!ok);
        let v = cms::verify_detached_data(&sig, &tampered).unwrap();
        assert!(!v.signers[0].digest_ok);
        let v = cms::verify_detached_data(&sig, data.as_bytes()).unwrap();
        let s = &v.signers[0];
        assert!(
            s.digest_ok && s.signature_ok && s.signing_certificate_ok == Some(true),
            "{s:?}"
        );
        let ts = s.timestamp.clone().unwrap().unwrap();
        assert!(ts.signature_ok);
        let store = TrustStore::new(vec![p.root.clone()]);
        store
            .validate(
                s.signer.as_ref().unwrap(),
                &v.certificates,
                OffsetDateTime::now_utc(),
                Usage::Signing,
            )
            .unwrap();
        store
            .validate(
                ts.tsa.as_ref().unwrap(),
                &ts.certificates,
                ts.gen_time,
                Usage::TimeStamping,
            )
            .unwrap();
    }
}

#[test]
fn openssl_signatures_verify_with_us() {
    if !openssl_available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("data.txt"), b"signed by openssl").unwrap();
    for (keygen, md) in [
        (
            vec![
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "k.pem",
            ],
            "sha256",
        ),
        (
            vec![
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                "k.pem",
            ],
            "sha384",
        ),
        (
            vec![
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-out",
                "k.pem",
            ],
            "sha512",
        ),
    ] {
        assert!(openssl(&keygen, d.path()).0);
        let (ok, out) = openssl(
            &[
                "req",
                "-new",
                "-x509",
                "-key",
                "k.pem",
                "-subj",
                "/CN=OpenSSL Signer/O=Test",
                "-days",
                "30",
                "-out",
                "c.pem",
            ],
            d.path(),
        );
        assert!(ok, "{out}");
        let (ok, out) = openssl(
            &[
                "cms",
                "-sign",
                "-binary",
                "-in",
                "data.txt",
                "-signer",
                "c.pem",
                "-inkey",
                "k.pem",
                "-md",
                md,
                "-outform",
                "DER",
                "-out",
                "s.der",
                "-nodetach",
            ],
            d.path(),
        );
        assert!(ok, "{out}");
        let sig = std::fs::read(d.path().join("s.der")).unwrap();
        let v = cms::verify_detached_data(&sig, b"signed by openssl").unwrap();
        let s = &v.signers[0];
        assert!(s.digest_ok && s.signature_ok, "{md}: {s:?}");
        assert!(s.signing_time.is_some());
        let cert = Certificate::from_pem(&std::fs::read_to_string(d.path().join("c.pem")).unwrap())
            .unwrap();
        assert_eq!(s.signer.as_ref().unwrap(), &cert);
        let v = cms::verify_detached_data(&sig, b"signed by someone else").unwrap();
        assert!(!v.signers[0].digest_ok);
    }
}

#[test]
fn timestamps_verify_with_openssl() {
    if !openssl_available() {
        return;
    }
    let p = pki(KeyAlgorithm::EcdsaP256);
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("root.pem"), p.root.to_pem()).unwrap();
    std::fs::write(d.path().join("tsa.pem"), p.tsa_cert.to_pem()).unwrap();
    std::fs::write(d.path().join("data.bin"), b"receipt bytes").unwrap();
    // A request made by OpenSSL, answered by us.
    let (ok, out) = openssl(
        &[
            "ts", "-query", "-data", "data.bin", "-sha256", "-cert", "-out", "req.tsq",
        ],
        d.path(),
    );
    assert!(ok, "{out}");
    let resp = p
        .tsa
        .respond(&std::fs::read(d.path().join("req.tsq")).unwrap());
    std::fs::write(d.path().join("resp.tsr"), &resp).unwrap();
    let (ok, out) = openssl(&["ts", "-reply", "-in", "resp.tsr", "-text"], d.path());
    assert!(
        ok && out.contains("Status: Granted") && out.contains("Nonce"),
        "{out}"
    );
    let (ok, out) = openssl(
        &[
            "ts",
            "-verify",
            "-in",
            "resp.tsr",
            "-queryfile",
            "req.tsq",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "tsa.pem",
        ],
        d.path(),
    );
    assert!(ok && out.contains("Verification: OK"), "{out}");
    let (ok, out) = openssl(
        &[
            "ts",
            "-verify",
            "-in",
            "resp.tsr",
            "-data",
            "data.bin",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "tsa.pem",
        ],
        d.path(),
    );
    assert!(ok, "{out}");
    std::fs::write(d.path().join("other.bin"), b"other bytes").unwrap();
    let (ok, _) = openssl(
        &[
            "ts",
            "-verify",
            "-in",
            "resp.tsr",
            "-data",
            "other.bin",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "tsa.pem",
        ],
        d.path(),
    );
    assert!(!ok, "a token for other data is refused");
    // Our client side: our request, our token, our verification.
    let digest: [u8; 32] = DigestAlg::Sha256
        .digest(b"receipt bytes")
        .try_into()
        .unwrap();
    let (req, nonce) = tsa::request(&digest).unwrap();
    let token = tsa::token_from_response(&p.tsa.respond(&req), Some(&nonce)).unwrap();
    let info = tsa::verify_token(&token, b"receipt bytes").unwrap();
    assert!((info.gen_time - OffsetDateTime::now_utc()).abs() < Duration::seconds(5));
    assert!(tsa::verify_token(&token, b"tampered").is_err());
    // Garbage requests are rejected properly.
    let (ok, out) = {
        std::fs::write(d.path().join("bad.tsr"), p.tsa.respond(b"garbage")).unwrap();
        openssl(&["ts", "-reply", "-in", "bad.tsr", "-text"], d.path())
    };
    assert!(
        ok && out.contains("Rejected") && out.contains("wrong format"),
        "{out}"
    );
    assert!(p.tsa.timestamp(&digest).unwrap().len() <= p.tsa.max_token_size());
}

#[test]
fn crl_verifies_with_openssl() {
    if !openssl_available() {
        return;
    }
    let p = pki(KeyAlgorithm::EcdsaP256);
    let d = tempfile::tempdir().unwrap();
    let now = OffsetDateTime::now_utc();
    let serial = hex::decode(p.seal.serial_hex()).unwrap();
    let crl = pki::build_crl(
        &p.root,
        &p.root_key,
        &[Revoked { serial, at: now }],
        now,
        now + Duration::days(7),
        42,
    )
    .unwrap();
    std::fs::write(d.path().join("crl.der"), &crl).unwrap();
    std::fs::write(d.path().join("root.pem"), p.root.to_pem()).unwrap();
    let (ok, out) = openssl(
        &[
            "crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "root.pem", "-noout", "-text",
        ],
        d.path(),
    );
    assert!(
        ok && out.contains("verify OK") && out.contains(&p.seal.serial_hex().to_uppercase()),
        "{out}"
    );
}

#[test]
fn garbage_cms_never_panics() {
    let p = pki(KeyAlgorithm::EcdsaP256);
    let signer = CmsSigner {
        key: &p.seal_key,
        cert: &p.seal,
        chain: &[],
    };
    let sig = cms::sign_pades(&signer, &[1u8; 32], None).unwrap();
    for cut in (0..sig.len()).step_by(7) {
        let _ = cms::verify_detached_data(&sig[..cut], b"x");
        let mut flipped = sig.clone();
        flipped[cut] ^= 0x55;
        let _ = cms::verify_detached_data(&flipped, b"x");
        let _ = tsa::verify_token(&sig[..cut], b"x");
    }
}
