//! Finding signature tags in PDFs from independent producers (ReportLab with standard and
//! embedded TrueType fonts, krilla's CID fonts, a hand-written file; each also rewritten by qpdf
//! with object streams, linearized and uncompressed), compared with where poppler's
//! `pdftotext -bbox` sees the same words.

mod common;
use common::*;
use diwan_pades::reader::Reader;
use diwan_pades::{find_text, find_text_in, locate, sign_bytes, Level, SignOptions, Visible};
use std::process::Command;

/// A word as poppler sees it: 1-based page and box in PDF user space (bottom-left origin; for
/// unturned pages), and as displayed (top-left origin, the page's `/Rotate` applied).
#[derive(Debug)]
struct Word {
    page: usize,
    rect: [f32; 4],
    shown: [f32; 4],
    text: String,
}

/// Whether poppler's pdftotext is here (it has no `--version`: `-v`).
fn pdftotext() -> bool {
    let ok = Command::new("pdftotext")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var("DIWAN_REQUIRE_TOOLS").is_ok() {
        panic!("pdftotext is required");
    }
    if !ok {
        eprintln!("pdftotext not available: skipping");
    }
    ok
}

fn attr(line: &str, name: &str) -> Option<f32> {
    let start = line.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + line[start..].find('"')?;
    line[start..end].parse().ok()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// `pdftotext -bbox`: words in top-left-origin coordinates, turned into PDF user space.
fn pdftotext_words(pdf: &[u8]) -> Vec<Word> {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("f.pdf"), pdf).unwrap();
    let o = Command::new("pdftotext")
        .args(["-bbox", "f.pdf", "-"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut words = Vec::new();
    let (mut page, mut height) = (0, 0.0);
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let line = line.trim();
        if line.starts_with("<page ") {
            page += 1;
            height = attr(line, "height").unwrap();
        } else if line.starts_with("<word ") {
            let (x1, y1, x2, y2) = (
                attr(line, "xMin").unwrap(),
                attr(line, "yMin").unwrap(),
                attr(line, "xMax").unwrap(),
                attr(line, "yMax").unwrap(),
            );
            let text =
                line[line.find('>').unwrap() + 1..line.rfind("</word>").unwrap()].to_string();
            words.push(Word {
                page,
                rect: [x1, height - y2, x2, height - y1],
                shown: [x1, y1, x2, y2],
                text: unescape(&text),
            });
        }
    }
    words
}

/// `tag` is found where poppler sees it (within 2 points).
fn agrees(pdf: &[u8], tag: &str, what: &str) {
    let hit = find_text(pdf, tag)
        .unwrap()
        .unwrap_or_else(|| panic!("{what}: {tag} not found"));
    let words = pdftotext_words(pdf);
    let word = words
        .iter()
        .find(|w| w.text == tag)
        .unwrap_or_else(|| panic!("{what}: pdftotext does not see {tag}: {words:?}"));
    assert_eq!(hit.page, word.page, "{what}: {tag}");
    for i in 0..4 {
        assert!(
            (hit.rect[i] - word.rect[i]).abs() <= 2.0,
            "{what}: {tag}: ours {:?}, pdftotext {:?}",
            hit.rect,
            word.rect
        );
    }
}

/// The same file from qpdf: with object streams, linearized, uncompressed.
fn variants(pdf: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("original", pdf.to_vec()),
        (
            "object streams",
            qpdf_transform(pdf, &["--object-streams=generate"]),
        ),
        ("linearized", qpdf_transform(pdf, &["--linearize"])),
        (
            "uncompressed",
            qpdf_transform(
                pdf,
                &["--stream-data=uncompress", "--object-streams=disable"],
            ),
        ),
    ]
}

const REPORTLAB: &str = r#"
import sys
from reportlab.pdfgen import canvas
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
pdfmetrics.registerFont(TTFont('Sans', sys.argv[2]))
c = canvas.Canvas(sys.argv[1], pagesize=(595.27, 841.89))
c.setFont('Helvetica', 11)
c.drawString(72, 760, 'Rabat, le 28 novembre 2026 - page une')
c.showPage()
c.setFont('Times-Roman', 12)
c.drawString(72, 700, 'Objet : convention de partenariat #times#')
t = c.beginText(90, 600)
t.setFont('Helvetica-Bold', 14)
t.setCharSpace(0.5)
t.textLine('Le Directeur général')
t.setFont('Sans', 10)
t.setCharSpace(0)
t.textOut('Signature : ')
t.textOut('#signa')
t.textOut('ture#')
t.textLine(' fin')
c.drawText(t)
c.saveState()
c.translate(300, 200)
c.scale(1.5, 1.5)
c.setFont('Sans', 9)
c.drawString(10, 10, 'Visa : [[VISA_SG]] déjà')
c.restoreState()
c.setFont('Courier', 10)
c.drawRightString(520, 100, 'Réf. {{SIGN_DG}}')
c.setFont('Helvetica', 10)
c.drawString(72, 60, 'Cachet : «SCEAU» posé')
c.save()
"#;

fn reportlab_pdf() -> Option<Vec<u8>> {
    // The platform's vendored Noto Sans, embedded by ReportLab as a TrueType subset.
    let font = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../assets/fonts/NotoSans-Regular.ttf"
    );
    let has = Command::new("python3")
        .args(["-c", "import reportlab"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has || !std::path::Path::new(font).exists() {
        assert!(
            std::env::var("DIWAN_REQUIRE_TOOLS").is_err(),
            "python3 with reportlab is required (DIWAN_REQUIRE_TOOLS is set)"
        );
        eprintln!("python3 with reportlab not available: skipping");
        return None;
    }
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("gen.py"), REPORTLAB).unwrap();
    let o = Command::new("python3")
        .args(["gen.py", "out.pdf", font])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    Some(std::fs::read(d.path().join("out.pdf")).unwrap())
}

#[test]
fn reportlab_standard_and_truetype_fonts() {
    if !pdftotext() || !tool("qpdf") {
        return;
    }
    let Some(pdf) = reportlab_pdf() else { return };
    for (what, pdf) in variants(&pdf) {
        // Times without /Widths; a tag split over three Tj in an embedded TrueType subset;
        // scaled by cm; Courier right-aligned.
        for tag in [
            "#times#",
            "#signature#",
            "[[VISA_SG]]",
            "{{SIGN_DG}}",
            "«SCEAU»",
        ] {
            agrees(&pdf, tag, what);
        }
        let hit = find_text(&pdf, "#signature#").unwrap().unwrap();
        assert_eq!(hit.page, 2);
        assert!(find_text(&pdf, "#absent#").unwrap().is_none());
        let r = Reader::open(Box::<[u8]>::from(&pdf[..])).unwrap();
        assert!(locate::page_text(&r, 2)
            .unwrap()
            .contains("Visa : [[VISA_SG]] déjà"));
    }
}

fn sample_letter() -> diwan_pdf::letter::LetterData {
    diwan_pdf::letter::LetterData {
        administration_fr: "Royaume du Maroc — Ministère de l'Intérieur".into(),
        administration_ar: "المملكة المغربية — وزارة الداخلية".into(),
        entity_fr: "Direction des affaires juridiques".into(),
        entity_ar: "مديرية الشؤون القانونية".into(),
        number: "2026/DAJ/0142".into(),
        date_line: "Rabat, le 28/11/2026".into(),
        recipient: vec!["Monsieur le Président".into(), "Conseil régional".into()],
        subject: "Convention de partenariat".into(),
        reference: None,
        body: "Suite à votre courrier, j'ai l'honneur de vous faire connaître mon accord.\n\n\
               Veuillez agréer l'expression de ma considération distinguée.\n\n[[SIGN_DG]]"
            .into(),
        signer: "Le Directeur #signature#".into(),
    }
}

#[test]
fn krilla_letter_with_cid_fonts() {
    if !pdftotext() || !tool("qpdf") {
        return;
    }
    let pdf = diwan_pdf::letter::render(&sample_letter()).unwrap();
    for (what, pdf) in variants(&pdf) {
        for tag in ["[[SIGN_DG]]", "#signature#", "2026/DAJ/0142"] {
            agrees(&pdf, tag, what);
        }
    }
}

#[test]
fn hand_written_file_and_signing_at_the_tag() {
    if !pdftotext() {
        return;
    }
    let pdf = simple_pdf(3);
    agrees(&pdf, "{sig:1}", "simple");
    let hit = find_text(&pdf, "{sig:1}").unwrap().unwrap();
    assert_eq!(hit.page, 1);
    // From a file, without reading it into memory.
    let d = tempfile::tempdir().unwrap();
    let path = write(d.path(), "in.pdf", &pdf);
    let r = Reader::open(Box::new(
        diwan_pades::reader::FileSource::open(&path).unwrap(),
    ))
    .unwrap();
    assert_eq!(find_text_in(&r, "{sig:1}").unwrap(), Some(hit));

    // A signature block at the tag: the widget's /Rect starts at the tag's top-left.
    let signed = sign_at_tag(&pdf, &hit, &["Signé par Fatima Zahra"]);
    let [x1, _, _, y2] = hit.rect;
    let want = [x1, y2 - 70.0, x1 + 200.0, y2];
    let widgets = diwan_pades::signature_widgets(&signed).unwrap();
    assert_eq!(widgets.len(), 1, "{widgets:?}");
    assert!(!widgets[0].field.is_empty(), "{widgets:?}");
    let got = widget_rect(&signed, 1);
    assert!(
        (0..4).all(|i| (got[i] - want[i]).abs() < 0.01),
        "{got:?} != {want:?}"
    );
    if tool("qpdf") {
        let (ok, out) = qpdf_check(&signed);
        assert!(ok, "{out}");
    }
}

/// On pages displayed turned (`/Rotate`, set here by qpdf), the block goes at the tag's top-left
/// corner as a reader sees it, covers 200×70 points across and down the display, and its text
/// reads upright: poppler sees its words horizontal, starting inside the block.
#[test]
fn signature_blocks_at_tags_on_turned_pages() {
    if !pdftotext() || !tool("qpdf") {
        return;
    }
    for rotate in [0u16, 90, 180, 270] {
        let pdf = qpdf_transform(&simple_pdf(1), &[&format!("--rotate=+{rotate}")]);
        let hit = find_text(&pdf, "{sig:1}").unwrap().unwrap();
        assert_eq!(hit.rotate, rotate);
        let signed = sign_at_tag(&pdf, &hit, &["SIGNATAIRE", "Fatima Zahra"]);
        let (ok, out) = qpdf_check(&signed);
        assert!(ok, "{rotate}: {out}");
        let r = widget_rect(&signed, 1);
        let (uw, uh) = (r[2] - r[0], r[3] - r[1]);
        let want = if rotate % 180 == 0 {
            (200.0, 70.0)
        } else {
            (70.0, 200.0)
        };
        assert!(
            (uw - want.0).abs() < 0.01 && (uh - want.1).abs() < 0.01,
            "{rotate}: {r:?}"
        );
        let words = pdftotext_words(&signed);
        let find = |t: &str| {
            words
                .iter()
                .find(|w| w.text == t)
                .unwrap_or_else(|| panic!("{rotate}: no {t} in {words:?}"))
                .shown
        };
        let (tag, block) = (find("{sig:1}"), find("SIGNATAIRE"));
        assert!(
            block[2] - block[0] > 3.0 * (block[3] - block[1]),
            "{rotate}: the block's text is not upright: {block:?}"
        );
        // Its first word starts just inside the block's top-left corner: the tag's, moved left
        // or up when the block would overflow the page as displayed.
        let (shown_w, shown_h) = if rotate % 180 == 0 {
            (595.0, 842.0)
        } else {
            (842.0, 595.0)
        };
        let corner = [tag[0].min(shown_w - 200.0), tag[1].min(shown_h - 70.0)];
        let (dx, dy) = (block[0] - corner[0], block[1] - corner[1]);
        assert!(
            (0.0..=12.0).contains(&dx) && (0.0..=25.0).contains(&dy),
            "{rotate}: tag at {tag:?}, block's first word at {block:?}"
        );
    }
}

/// `pdf` signed (B-B) with a 200×70 block of `lines` at a tag found in it.
fn sign_at_tag(pdf: &[u8], hit: &diwan_pades::TextHit, lines: &[&str]) -> Vec<u8> {
    let p = pki();
    let (cert, key) = p.signer("Fatima Zahra", diwan_crypto::KeyAlgorithm::EcdsaP256);
    let signer = diwan_crypto::cms::CmsSigner {
        key: &key,
        cert: &cert,
        chain: &[],
    };
    let mut opts = SignOptions::new(Level::BB);
    let lines = lines.iter().map(|l| l.to_string()).collect();
    opts.visible = Some(Visible::at_tag(hit, 200.0, 70.0, lines));
    sign_bytes(pdf, &signer, &opts).unwrap()
}

/// The `/Rect` of the last signature widget of `page`.
fn widget_rect(pdf: &[u8], page: usize) -> [f32; 4] {
    let widgets = diwan_pades::signature_widgets(pdf).unwrap();
    widgets
        .iter()
        .rev()
        .find(|w| w.page == page)
        .unwrap_or_else(|| panic!("no signature on page {page}: {widgets:?}"))
        .rect
}

#[test]
fn broken_and_encrypted_inputs_are_errors() {
    let pdf = simple_pdf(1);
    for cut in (0..pdf.len()).step_by(37) {
        let _ = find_text(&pdf[..cut], "{sig:1}");
    }
    let mut garbled = pdf.clone();
    for i in (40..garbled.len()).step_by(11) {
        garbled[i] = b'(';
    }
    let _ = find_text(&garbled, "{sig:1}");
    if !tool("qpdf") {
        return;
    }
    // Random damage in an uncompressed letter (CID fonts, CMaps, width arrays): no panic.
    let letter = qpdf_transform(
        &diwan_pdf::letter::render(&sample_letter()).unwrap(),
        &["--stream-data=uncompress", "--object-streams=disable"],
    );
    const DAMAGE: &[u8] = b"()<>[]/ 0-9.Tj\\n";
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..300 {
        let mut bad = letter.clone();
        for _ in 0..8 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = (seed % bad.len() as u64) as usize;
            bad[i] = DAMAGE[(seed >> 32) as usize % DAMAGE.len()];
        }
        let _ = find_text(&bad, "[[SIGN_DG]]");
    }
    let enc = qpdf_transform(&pdf, &["--encrypt", "u", "o", "256", "--"]);
    assert!(matches!(
        find_text(&enc, "{sig:1}"),
        Err(diwan_pades::PdfError::Encrypted)
    ));
}
