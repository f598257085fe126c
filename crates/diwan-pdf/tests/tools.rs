//! Generated PDFs checked with tools we did not write: qpdf and poppler's pdftotext.

use std::process::Command;

fn tool(name: &str) -> bool {
    let ok = Command::new(name)
        .arg("--version")
        .output()
        .map(|o| o.status.success() || !o.stderr.is_empty())
        .unwrap_or(false);
    if !ok && std::env::var("DIWAN_REQUIRE_TOOLS").is_ok() {
        panic!("{name} is required");
    }
    ok
}

/// Writes `pdf`, checks it with `qpdf --check` and returns the text `pdftotext` extracts.
fn checked_text(pdf: &[u8]) -> String {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("doc.pdf");
    std::fs::write(&path, pdf).unwrap();
    let q = Command::new("qpdf")
        .arg("--check")
        .arg(&path)
        .output()
        .unwrap();
    assert!(q.status.success(), "{}", String::from_utf8_lossy(&q.stdout));
    let t = Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .unwrap();
    String::from_utf8_lossy(&t.stdout).into_owned()
}

#[test]
fn receipt_is_valid_and_its_text_extractable() {
    if !tool("qpdf") || !tool("pdftotext") {
        return;
    }
    let text = checked_text(&diwan_pdf::receipt::render(&diwan_pdf::receipt::sample()).unwrap());
    for needle in [
        "ACCUSÉ DE RÉCEPTION",
        "BO-CENTRAL/A/2026/000042",
        "Fatima Zahra El Alaoui",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "ⵜⴰⴳⵍⴷⵉⵜ ⵏ ⵍⵎⵖⵔⵉⴱ",
        "Loi n°",
        "55-19",
        "https://courrier.example.ma/suivi",
        "entrée n° 1234",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    // Arabic comes out in logical order (poppler reorders right-to-left runs).
    for needle in [
        "إشعار بالتوصل",
        "المملكة المغربية",
        "وزارة الانتقال الرقمي وإصلاح الإدارة",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    // The full identity number never appears.
    assert!(!text.contains("AB123456"));
}

#[test]
fn dispatch_slip_is_valid_and_its_text_extractable() {
    if !tool("qpdf") || !tool("pdftotext") {
        return;
    }
    let text = checked_text(&diwan_pdf::slip::render(&diwan_pdf::slip::sample()).unwrap());
    for needle in [
        "BORDEREAU D'ENVOI",
        "جدول الإرسال",
        "BO-CENTRAL/D/2026/000017",
        "Procès-verbal de réception.pdf",
        "محضر الاجتماع",
        "Total des pièces : 4",
        "Direction des systèmes d'information",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

/// A filer's name with letters outside the prepared font subsets: the receipt gets subsets of its
/// own for those faces, and stays valid and extractable.
#[test]
fn receipt_with_rare_letters_is_valid_and_extractable() {
    if !tool("qpdf") || !tool("pdftotext") {
        return;
    }
    let mut data = diwan_pdf::receipt::sample();
    data.filer_name = "Łukasz Ǆurić Østergård".into();
    data.subject = "Demande — ڨ ڭ".into();
    let text = checked_text(&diwan_pdf::receipt::render(&data).unwrap());
    for needle in [
        "Łukasz Ǆurić Østergård",
        "ACCUSÉ DE RÉCEPTION",
        "إشعار بالتوصل",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}
