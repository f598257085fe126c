//! Our PAdES signatures validated by pyHanko and qpdf, on PDFs from several producers.

mod common;
use common::*;
use diwan_crypto::cms::CmsSigner;
use diwan_crypto::{KeyAlgorithm, TrustStore};
use diwan_pades::{sign_bytes, verify_bytes, Indication, Level, SignOptions, Visible};
use time::OffsetDateTime;

fn producers() -> Vec<(&'static str, Vec<u8>)> {
    let base = simple_pdf(2);
    let mut v = vec![("classic xref", base.clone())];
    if tool("qpdf") {
        v.push((
            "object streams",
            qpdf_transform(&base, &["--object-streams=generate"]),
        ));
        v.push(("linearized", qpdf_transform(&base, &["--linearize"])));
        v.push(("PDF 2.0", qpdf_transform(&base, &["--force-version=2.0"])));
        v.push((
            "qdf",
            qpdf_transform(&base, &["--qdf", "--object-streams=disable"]),
        ));
    }
    v
}

#[test]
fn one_signature_every_level_and_producer() {
    if !tool("pyhanko") || !tool("qpdf") {
        return;
    }
    let p = pki();
    for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Rsa2048] {
        let (cert, key) = p.signer("Amina Berrada", alg);
        let signer = CmsSigner {
            key: &key,
            cert: &cert,
            chain: &[],
        };
        for (producer, pdf) in producers() {
            for level in [Level::BB, Level::BT] {
                let mut opts = SignOptions::new(level);
                opts.tsa = Some(&p.tsa);
                opts.reason = Some("Approbation — موافقة".into());
                let signed = sign_bytes(&pdf, &signer, &opts)
                    .unwrap_or_else(|e| panic!("{producer} {level:?}: {e}"));
                let (ok, out) = pyhanko_validate(&p.root, &signed, &[]);
                assert!(ok, "pyHanko refused {producer} {level:?} {alg:?}:\n{out}");
                let (ok, out) = qpdf_check(&signed);
                assert!(ok, "qpdf refused {producer} {level:?}:\n{out}");
                let report = verify_bytes(
                    &signed,
                    &TrustStore::new(vec![p.root.clone()]),
                    OffsetDateTime::now_utc(),
                )
                .unwrap();
                assert_eq!(report.signatures.len(), 1);
                let s = &report.signatures[0];
                assert_eq!(
                    s.indication,
                    Indication::TotalPassed,
                    "{producer} {level:?}: {s:?}"
                );
                assert_eq!(s.level, if level == Level::BB { "B-B" } else { "B-T" });
                assert!(s.covers_whole_document);
            }
        }
    }
}

#[test]
fn three_signatures_each_still_valid() {
    if !tool("pyhanko") || !tool("qpdf") {
        return;
    }
    let p = pki();
    for (producer, pdf) in producers() {
        let mut doc = pdf;
        for (i, name) in [
            "Premier signataire",
            "Deuxième signataire",
            "Troisième signataire",
        ]
        .iter()
        .enumerate()
        {
            let (cert, key) = p.signer(
                name,
                if i == 1 {
                    KeyAlgorithm::Rsa2048
                } else {
                    KeyAlgorithm::EcdsaP256
                },
            );
            let signer = CmsSigner {
                key: &key,
                cert: &cert,
                chain: &[],
            };
            let mut opts = SignOptions::new(Level::BT);
            opts.tsa = Some(&p.tsa);
            opts.visible = Some(Visible {
                page: 1,
                rect: [
                    40.0 + 180.0 * i as f32,
                    40.0,
                    210.0 + 180.0 * i as f32,
                    100.0,
                ],
                lines: vec![
                    name.to_string(),
                    "Chef de service".into(),
                    "24/11/2026".into(),
                ],
            });
            doc = sign_bytes(&doc, &signer, &opts).unwrap();
        }
        let (ok, out) = pyhanko_validate(&p.root, &doc, &[]);
        assert!(ok, "pyHanko refused three signatures on {producer}:\n{out}");
        assert!(qpdf_check(&doc).0);
        let report = verify_bytes(
            &doc,
            &TrustStore::new(vec![p.root.clone()]),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        assert_eq!(report.signatures.len(), 3);
        assert!(report.all_passed(), "{producer}: {:#?}", report.signatures);
        assert!(report.signatures[..2]
            .iter()
            .all(|s| !s.covers_whole_document
                && matches!(
                    s.modifications,
                    diwan_pades::verify::Modifications::Allowed(_)
                )));
    }
}
