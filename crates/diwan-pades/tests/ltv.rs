//! B-LT and B-LTA: validation data in a /DSS and a document time-stamp, checked by pyHanko.

mod common;
use common::*;
use diwan_crypto::cms::CmsSigner;
use diwan_crypto::pki::{self, Profile, Revoked};
use diwan_crypto::{KeyAlgorithm, PrivateKey, TrustStore};
use diwan_pades::{sign_bytes, verify_bytes, Indication, Level, SignOptions, ValidationData};
use time::{Duration, OffsetDateTime};

#[test]
fn lt_and_lta_validate() {
    if !tool("pyhanko") || !tool("qpdf") {
        return;
    }
    let p = pki();
    // A signer whose certificate declares a CRL distribution point.
    let k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let cert = pki::issue(
        &spec("Signataire LTV", Profile::PersonSignature, true),
        &k.public_key_der().unwrap(),
        Some(&p.root),
        &p.root_key,
    )
    .unwrap();
    let now = OffsetDateTime::now_utc();
    let crl = pki::build_crl(
        &p.root,
        &p.root_key,
        &[],
        now - Duration::minutes(1),
        now + Duration::days(7),
        1,
    )
    .unwrap();
    let signer = CmsSigner {
        key: &k,
        cert: &cert,
        chain: &[],
    };
    for level in [Level::BLT, Level::BLTA] {
        let mut opts = SignOptions::new(level);
        opts.tsa = Some(&p.tsa);
        opts.validation_data = Some(ValidationData {
            certificates: vec![cert.clone(), p.root.clone(), p.tsa_cert.clone()],
            crls: vec![crl.clone()],
            ocsps: vec![],
        });
        let signed = sign_bytes(&simple_pdf(1), &signer, &opts).unwrap();
        assert!(qpdf_check(&signed).0);
        let (ok, out) = pyhanko_ades(&p.root, &signed);
        assert!(ok, "{level:?}:\n{out}");
        println!("{out}");
        let report = verify_bytes(&signed, &TrustStore::new(vec![p.root.clone()]), now).unwrap();
        let sig = report
            .signatures
            .iter()
            .find(|s| s.kind == "signature")
            .unwrap();
        assert_eq!(sig.indication, Indication::TotalPassed, "{sig:?}");
        assert_eq!(
            sig.level,
            if level == Level::BLT { "B-LT" } else { "B-LTA" }
        );
        if level == Level::BLTA {
            let ts = report
                .signatures
                .iter()
                .find(|s| s.kind == "document-timestamp")
                .unwrap();
            assert_eq!(ts.indication, Indication::TotalPassed, "{ts:?}");
        }
    }
    // A revoked signer: the CRL in the DSS says so.
    let crl = pki::build_crl(
        &p.root,
        &p.root_key,
        &[Revoked {
            serial: hex::decode(cert.serial_hex()).unwrap(),
            at: now - Duration::hours(1),
        }],
        now - Duration::minutes(1),
        now + Duration::days(7),
        2,
    )
    .unwrap();
    let mut opts = SignOptions::new(Level::BLT);
    opts.tsa = Some(&p.tsa);
    opts.validation_data = Some(ValidationData {
        certificates: vec![cert.clone()],
        crls: vec![crl],
        ocsps: vec![],
    });
    let signed = sign_bytes(&simple_pdf(1), &signer, &opts).unwrap();
    let report = verify_bytes(&signed, &TrustStore::new(vec![p.root.clone()]), now).unwrap();
    let sig = &report.signatures[0];
    assert_eq!(
        (sig.indication, sig.sub_indication),
        (
            Indication::TotalFailed,
            Some(diwan_pades::SubIndication::Revoked)
        ),
        "{sig:?}"
    );
}

/// pyHanko's AdES validation (`sign adesverify`) with online fetching disabled, so that only the
/// document's validation data answers (see tests/scripts/pyhanko_offline_ades.py).
fn pyhanko_offline(root: &diwan_crypto::Certificate, pdf: &[u8]) -> (bool, String) {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("root.pem"), root.to_pem()).unwrap();
    std::fs::write(d.path().join("f.pdf"), pdf).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/scripts/pyhanko_offline_ades.py"
    );
    let o = std::process::Command::new("python3")
        .args([script, "root.pem", "f.pdf"])
        .current_dir(d.path())
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success() && out.contains("judged VALID"), out)
}

/// B-LT with OCSP responses instead of CRLs: pyHanko's AdES validation, offline, accepts it
/// (good answers for the signer and the time-stamping unit) and refuses a revoked answer, as
/// `verify_bytes` does.
#[test]
fn lt_with_embedded_ocsp() {
    use diwan_crypto::ocsp::{self, CertStatus, Responder};
    if !tool("pyhanko") {
        return;
    }
    let p = pki();
    let now = OffsetDateTime::now_utc();
    let mut sp = spec("Signataire OCSP", Profile::PersonSignature, false);
    // Nobody listens there: validators must use the embedded responses.
    sp.urls.ocsp = Some("http://127.0.0.1:9/pki/ocsp".into());
    let k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let cert = pki::issue(
        &sp,
        &k.public_key_der().unwrap(),
        Some(&p.root),
        &p.root_key,
    )
    .unwrap();
    let responder = Responder {
        issuer: &p.root,
        key: &p.root_key,
    };
    let answer = |c: &diwan_crypto::Certificate, status: CertStatus| {
        let req = ocsp::parse_request(&ocsp::build_request(c, &p.root, false).unwrap()).unwrap();
        responder
            .respond(
                &req,
                &|_| status,
                now - Duration::minutes(1),
                now + Duration::days(1),
            )
            .unwrap()
    };
    let signer = CmsSigner {
        key: &k,
        cert: &cert,
        chain: &[],
    };
    let mut opts = SignOptions::new(Level::BLT);
    opts.tsa = Some(&p.tsa);
    opts.validation_data = Some(ValidationData {
        certificates: vec![cert.clone(), p.root.clone(), p.tsa_cert.clone()],
        crls: vec![],
        ocsps: vec![
            answer(&cert, CertStatus::Good),
            answer(&p.tsa_cert, CertStatus::Good),
        ],
    });
    let signed = sign_bytes(&simple_pdf(1), &signer, &opts).unwrap();
    let (ok, out) = pyhanko_offline(&p.root, &signed);
    assert!(
        ok,
        "pyHanko AdES validation with embedded OCSP only:\n{out}"
    );
    let trust = TrustStore::new(vec![p.root.clone()]);
    let report = verify_bytes(&signed, &trust, now).unwrap();
    let sig = &report.signatures[0];
    assert_eq!(sig.indication, Indication::TotalPassed, "{sig:?}");
    assert_eq!(sig.level, "B-LT");

    // Revoked an hour before signing, by OCSP alone.
    opts.validation_data = Some(ValidationData {
        certificates: vec![cert.clone()],
        crls: vec![],
        ocsps: vec![answer(
            &cert,
            CertStatus::Revoked {
                at: now - Duration::hours(1),
                reason: ocsp::reason_from_name("keyCompromise"),
            },
        )],
    });
    let signed = sign_bytes(&simple_pdf(1), &signer, &opts).unwrap();
    let report = verify_bytes(&signed, &trust, now).unwrap();
    let sig = &report.signatures[0];
    assert_eq!(
        (sig.indication, sig.sub_indication),
        (
            Indication::TotalFailed,
            Some(diwan_pades::SubIndication::Revoked)
        ),
        "{sig:?}"
    );
    assert!(sig.reasons.iter().any(|r| r.contains("OCSP")), "{sig:?}");
    let (ok, out) = pyhanko_offline(&p.root, &signed);
    assert!(!ok, "pyHanko accepted a revoked signer:\n{out}");
    assert!(out.contains("revoked"), "{out}");
}
