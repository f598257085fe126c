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
