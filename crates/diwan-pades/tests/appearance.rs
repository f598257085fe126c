//! Visible signature blocks in French and Arabic (and Tifinagh): drawn by an independent renderer
//! (poppler), extractable as text, and still valid for pyHanko, qpdf and our own validation.

mod common;
use common::*;
use diwan_crypto::cms::CmsSigner;
use diwan_crypto::{KeyAlgorithm, TrustStore};
use diwan_pades::verify::Modifications;
use diwan_pades::{sign_bytes, verify_bytes, Level, SignOptions, Visible};
use std::process::Command;
use time::OffsetDateTime;

/// The widget's rectangle on the 595×842 page of `simple_pdf`.
const RECT: [f32; 4] = [30.0, 30.0, 202.0, 94.0];

fn sign(pdf: &[u8], p: &Pki, cn: &str, rect: [f32; 4], lines: &[&str]) -> Vec<u8> {
    let (cert, key) = p.signer(cn, KeyAlgorithm::EcdsaP256);
    let signer = CmsSigner {
        key: &key,
        cert: &cert,
        chain: &[],
    };
    let mut opts = SignOptions::new(Level::BB);
    opts.visible = Some(Visible {
        page: 1,
        rect,
        lines: lines.iter().map(|l| l.to_string()).collect(),
    });
    sign_bytes(pdf, &signer, &opts).unwrap()
}

/// A poppler tool (they answer `-v`, not `--version`).
fn poppler(name: &str) -> bool {
    tool_answering(name, "-v")
}

/// The bytes an incremental update appended.
fn appended(before: &[u8], after: &[u8]) -> String {
    String::from_utf8_lossy(&after[before.len()..]).into_owned()
}

#[test]
fn latin_blocks_use_helvetica_and_others_embed_subsets_with_tounicode() {
    let p = pki();
    let base = simple_pdf(1);
    let latin = sign(
        &base,
        &p,
        "Salma Alaoui",
        RECT,
        &["Signé par Salma", "Le 28/11/2026"],
    );
    let tail = appended(&base, &latin);
    assert!(tail.contains("/Helvetica"), "{tail}");
    assert!(!tail.contains("/FontFile2"));

    let arabic = sign(
        &base,
        &p,
        "Salma Alaoui",
        RECT,
        &["Signé par Salma", "وقع من طرف سلمى"],
    );
    let tail = appended(&base, &arabic);
    assert!(!tail.contains("/Helvetica"));
    assert_eq!(tail.matches("/FontFile2").count(), 2, "Noto Sans and Naskh");
    assert_eq!(tail.matches("/ToUnicode").count(), 2);
    assert!(tail.contains("/CIDFontType2") && tail.contains("/Identity-H"));
    // Subsets of the glyphs drawn: the whole update stays small.
    assert!(
        arabic.len() - base.len() < 40_000,
        "{} bytes appended",
        arabic.len() - base.len()
    );
}

#[test]
fn arabic_blocks_are_extractable_and_valid_after_a_second_signature() {
    let p = pki();
    let base = simple_pdf(1);
    let once = sign(
        &base,
        &p,
        "Salma Alaoui",
        RECT,
        &[
            "Signé par Salma Alaoui",
            "وقع من طرف سلمى العلوي",
            "Signature — توقيع",
            "Le 28/11/2026 à 23:50",
        ],
    );
    let twice = sign(
        &once,
        &p,
        "Karim Idrissi",
        [210.0, 30.0, 382.0, 94.0],
        &[
            "Pour Mohammed Bennani, par délégation",
            "نيابة عن محمد بناني",
            "ⵜⴰⵎⴰⵣⵉⵖⵜ",
        ],
    );
    let report = verify_bytes(
        &twice,
        &TrustStore::new(vec![p.root.clone()]),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    assert_eq!(report.signatures.len(), 2);
    assert!(report.all_passed(), "{:#?}", report.signatures);
    assert!(matches!(
        report.signatures[0].modifications,
        Modifications::Allowed(_)
    ));
    if tool("pyhanko") {
        let (ok, out) = pyhanko_validate(&p.root, &twice, &[]);
        assert!(ok, "pyHanko refused the signatures:\n{out}");
    }
    if tool("qpdf") {
        let (ok, out) = qpdf_check(&twice);
        assert!(ok, "{out}");
    }
    if poppler("pdftotext") {
        let d = tempfile::tempdir().unwrap();
        let f = write(d.path(), "f.pdf", &twice);
        let o = Command::new("pdftotext").arg(&f).arg("-").output().unwrap();
        assert!(o.status.success());
        let text = String::from_utf8_lossy(&o.stdout);
        for words in [
            "Signé par Salma Alaoui",
            "وقع من طرف سلمى العلوي",
            "توقيع",
            "Pour Mohammed Bennani, par délégation",
            "نيابة عن محمد بناني",
            "ⵜⴰⵎⴰⵣⵉⵖⵜ",
        ] {
            assert!(text.contains(words), "{words:?} not in:\n{text}");
        }
    }
}

/// A greyscale raster (PGM, as written by `pdftoppm -gray`).
struct Gray {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Gray {
    fn parse(data: &[u8]) -> Self {
        // "P5" width height maxval, each followed by one whitespace byte, then the pixels.
        let mut fields = Vec::new();
        let mut i = 0;
        while fields.len() < 4 {
            while data[i].is_ascii_whitespace() {
                i += 1;
            }
            let start = i;
            while !data[i].is_ascii_whitespace() {
                i += 1;
            }
            fields.push(String::from_utf8_lossy(&data[start..i]).into_owned());
        }
        assert_eq!(fields[0], "P5");
        let (width, height) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
        let pixels = data[i + 1..].to_vec();
        assert_eq!(pixels.len(), width * height);
        Self {
            width,
            height,
            pixels,
        }
    }

    /// Dark pixels in rows `rows` and columns `cols`.
    fn ink(&self, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>) -> usize {
        rows.flat_map(|y| cols.clone().map(move |x| (x, y)))
            .filter(|&(x, y)| x < self.width && y < self.height)
            .filter(|&(x, y)| self.pixels[y * self.width + x] < 128)
            .count()
    }
}

#[test]
fn poppler_draws_french_on_the_left_and_arabic_on_the_right() {
    if !poppler("pdftoppm") {
        return;
    }
    let p = pki();
    let signed = sign(
        &simple_pdf(1),
        &p,
        "Salma Alaoui",
        RECT,
        &["Signé par Salma", "وقع من طرف سلمى"],
    );
    // The widget's area at 72 dpi: one pixel per point, rows from the top of the page.
    let d = tempfile::tempdir().unwrap();
    let f = write(d.path(), "f.pdf", &signed);
    let [x1, y1, x2, y2] = RECT;
    let o = Command::new("pdftoppm")
        .args(["-r", "72", "-gray", "-singlefile", "-f", "1", "-l", "1"])
        .args(["-x", &x1.to_string(), "-y", &(842.0 - y2).to_string()])
        .args(["-W", &(x2 - x1).to_string(), "-H", &(y2 - y1).to_string()])
        .arg(&f)
        .arg(d.path().join("box"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = Gray::parse(&std::fs::read(d.path().join("box.pgm")).unwrap());
    assert_eq!((img.width, img.height), (172, 64));
    // Two lines at 11 pt from the top: the first baseline 15 points down, the second 13.75
    // lower. Columns by thirds, inside the frame.
    let (first, second) = (5..17, 21..33);
    let (left, right) = (3..57, 115..169);
    assert!(
        img.ink(first.clone(), left.clone()) > 20,
        "French line not drawn"
    );
    assert_eq!(
        img.ink(first, right.clone()),
        0,
        "French line not left-aligned"
    );
    assert!(
        img.ink(second.clone(), right) > 20,
        "Arabic line not drawn on the right"
    );
    assert_eq!(img.ink(second, left), 0, "Arabic line not right-aligned");
}
