//! The acknowledgement of receipt (accusé de réception, إشعار بالتوصل) of a filing: one A4 page,
//! French on the left, Arabic on the right, Amazigh in Tifinagh where the administration has a
//! name in it, with the registration number, the time of receipt, the filer, the documents and
//! their SHA-256, the legal deadline, how to follow up, a QR code to the verification page and
//! the transparency-log position. The PDF is then sealed by the caller (PAdES).

use crate::canvas::{Attachment, Canvas, Info, Rendered};
use crate::layout::{self, direction_of, Align, Direction, Line, Style};
use crate::Result;

/// One document of the filing.
#[derive(Debug, Clone)]
pub struct DocumentLine {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// The legal processing deadline.
#[derive(Debug, Clone)]
pub struct Deadline {
    /// Due date, `DD/MM/YYYY`.
    pub date: String,
    pub days: u32,
    pub working_days: bool,
    pub law_fr: String,
    pub law_ar: String,
    /// Silence past the deadline counts as acceptance.
    pub silence_means_acceptance: bool,
}

/// Everything a receipt states.
#[derive(Debug, Clone)]
pub struct ReceiptData {
    pub administration_fr: String,
    pub administration_ar: String,
    pub administration_zgh: Option<String>,
    pub registry_office_fr: String,
    pub registry_office_ar: String,
    pub number: String,
    /// Local date and time of receipt, e.g. `24/11/2026 à 23:45 (UTC+01:00)`.
    pub received_local: String,
    /// The same instant in UTC (RFC 3339).
    pub received_utc: String,
    pub filer_name: String,
    pub filer_kind_fr: String,
    pub filer_kind_ar: String,
    /// Identity number with all but its last characters hidden.
    pub filer_id_masked: Option<String>,
    pub subject: String,
    pub documents: Vec<DocumentLine>,
    pub deadline: Option<Deadline>,
    /// Where to follow the filing (number + tracking code).
    pub tracking_url: String,
    /// Where to verify this receipt (encoded in the QR code).
    pub verify_url: String,
    pub log_index: u64,
    pub tree_size: u64,
    /// Hex root hash of the signed tree head the receipt's proof refers to.
    pub log_root: String,
    pub created_utc: time::OffsetDateTime,
    /// The machine-readable receipt, embedded in the PDF as `receipt.json`.
    pub receipt_json: Option<Vec<u8>>,
}

const W: f32 = 595.0;
const H: f32 = 842.0;
const M: f32 = 42.0;
const MUTED: (u8, u8, u8) = (0x5b, 0x67, 0x76);
const BRAND: (u8, u8, u8) = (0x0b, 0x5d, 0x3b);

fn human_size(n: u64) -> String {
    if n < 1024 {
        format!("{n} o")
    } else if n < 1024 * 1024 {
        format!("{:.1} Ko", n as f64 / 1024.0)
    } else {
        format!("{:.1} Mo", n as f64 / (1024.0 * 1024.0))
    }
}

/// A bilingual row: French label on the left, Arabic label on the right, values in between
/// (one paragraph each, in its own direction). Returns the y after the row.
fn fact(c: &mut Canvas, y: f32, fr: &str, ar: &str, values: &[(&str, Direction)]) -> f32 {
    let label = Style::new(8.0).color(MUTED.0, MUTED.1, MUTED.2);
    let val = Style::new(10.5);
    let col = 120.0;
    c.text(
        &layout::shape(fr, label, Direction::Ltr),
        M,
        y + 10.0,
        col,
        Align::Start,
    );
    c.text(
        &layout::shape(ar, label.bold(), Direction::Rtl),
        W - M - col,
        y + 10.0,
        col,
        Align::Start,
    );
    let vw = W - 2.0 * M - 2.0 * col - 10.0;
    let mut end = y + 10.0;
    for (text, dir) in values {
        let lines = layout::wrap(text, val, *dir, vw);
        end = c.paragraph(&lines, M + col + 5.0, end, vw, Align::Center, 13.0);
    }
    let bottom = (end - 13.0 + 8.0).max(y + 18.0);
    c.hline(M, W - M, bottom, (0xd9, 0xde, 0xe5), 0.5);
    bottom + 4.0
}

/// The name of the machine-readable receipt the PDF embeds.
pub const JSON_ATTACHMENT: &str = "receipt.json";

/// Renders the receipt PDF (unsealed).
pub fn render(d: &ReceiptData) -> Result<Vec<u8>> {
    render_sharing(d).map(|r| r.pdf)
}

/// [`render`], saying how many of the PDF's first bytes (its fonts) every such receipt shares,
/// for the seal's hash (`diwan_pades::SignOptions::shared_prefix`).
pub fn render_sharing(d: &ReceiptData) -> Result<Rendered> {
    let c = draw(d)?;
    let title = format!("Accusé de réception {}", d.number);
    c.finish_sharing(
        &Info {
            title: &title,
            creator: "Diwan",
            lang: "fr",
            created: d.created_utc,
        },
        d.receipt_json
            .as_deref()
            .map(|json| Attachment {
                name: JSON_ATTACHMENT,
                mime: "application/json",
                description: "Accusé de réception lisible par machine / إشعار بالتوصل",
                data: json,
            })
            .as_ref(),
    )
}

/// Draws the receipt's page.
fn draw(d: &ReceiptData) -> Result<Canvas> {
    layout::check_fonts()?;
    let mut c = Canvas::new(W, H);

    // Header band: the state and the administration, in the three scripts.
    c.rect(0.0, 0.0, W, 6.0, BRAND);
    let half = (W - 2.0 * M) / 2.0;
    let head = Style::new(9.0).bold();
    let sub = Style::new(8.5);
    c.bilingual(
        "ROYAUME DU MAROC",
        "المملكة المغربية",
        head,
        M,
        34.0,
        W - 2.0 * M,
    );
    c.text(
        &layout::shape("ⵜⴰⴳⵍⴷⵉⵜ ⵏ ⵍⵎⵖⵔⵉⴱ", sub, Direction::Ltr),
        M,
        50.0,
        W - 2.0 * M,
        Align::Center,
    );
    let fr = layout::wrap(&d.administration_fr, sub, Direction::Ltr, half - 10.0);
    let mut yl = c.paragraph(&fr, M, 66.0, half - 10.0, Align::Start, 11.0);
    yl = c.paragraph(
        &layout::wrap(&d.registry_office_fr, sub, Direction::Ltr, half - 10.0),
        M,
        yl,
        half - 10.0,
        Align::Start,
        11.0,
    );
    let ar = layout::wrap(&d.administration_ar, sub, Direction::Rtl, half - 10.0);
    let mut yr = c.paragraph(&ar, M + half + 10.0, 66.0, half - 10.0, Align::Start, 12.0);
    yr = c.paragraph(
        &layout::wrap(&d.registry_office_ar, sub, Direction::Rtl, half - 10.0),
        M + half + 10.0,
        yr,
        half - 10.0,
        Align::Start,
        12.0,
    );
    let mut y = yl.max(yr);
    if let Some(z) = &d.administration_zgh {
        c.text(
            &layout::shape(z, sub, Direction::Ltr),
            M,
            y + 2.0,
            W - 2.0 * M,
            Align::Center,
        );
        y += 14.0;
    }
    c.hline(M, W - M, y + 4.0, BRAND, 1.2);
    y += 30.0;

    // Title and number.
    let title = Style::new(17.0).bold().color(BRAND.0, BRAND.1, BRAND.2);
    c.bilingual(
        "ACCUSÉ DE RÉCEPTION",
        "إشعار بالتوصل",
        title,
        M,
        y,
        W - 2.0 * M,
    );
    y += 14.0;
    c.rect(M, y, W - 2.0 * M, 50.0, (0xee, 0xf4, 0xf0));
    let small = Style::new(8.0).color(MUTED.0, MUTED.1, MUTED.2);
    c.text(
        &layout::shape("Numéro d'ordre", small, Direction::Ltr),
        M + 10.0,
        y + 16.0,
        half,
        Align::Start,
    );
    c.text(
        &layout::shape("رقم الترتيب", small.bold(), Direction::Rtl),
        M + half - 10.0,
        y + 16.0,
        half,
        Align::Start,
    );
    c.text(
        &layout::shape(&d.number, Style::new(18.0).bold(), Direction::Ltr),
        M,
        y + 40.0,
        W - 2.0 * M,
        Align::Center,
    );
    y += 62.0;

    // Facts.
    let when = format!("{} — {} UTC", d.received_local, d.received_utc);
    y = fact(
        &mut c,
        y,
        "Reçu le",
        "تاريخ وساعة التوصل",
        &[(&when, Direction::Ltr)],
    );
    y = fact(
        &mut c,
        y,
        "Canal",
        "قناة الإيداع",
        &[
            ("Bureau d'ordre digital", Direction::Ltr),
            ("مكتب الضبط الرقمي", Direction::Rtl),
        ],
    );
    let who = match &d.filer_id_masked {
        Some(id) => format!("{} — {} — {id}", d.filer_name, d.filer_kind_fr),
        None => format!("{} — {}", d.filer_name, d.filer_kind_fr),
    };
    y = fact(
        &mut c,
        y,
        "Déposant",
        "المودع",
        &[
            (&who, direction_of(&d.filer_name)),
            (&d.filer_kind_ar, Direction::Rtl),
        ],
    );
    y = fact(
        &mut c,
        y,
        "Objet",
        "الموضوع",
        &[(&d.subject, direction_of(&d.subject))],
    );
    if let Some(dl) = &d.deadline {
        let unit = if dl.working_days {
            "jours ouvrables"
        } else {
            "jours"
        };
        let unit_ar = if dl.working_days {
            "يوم عمل"
        } else {
            "يوما"
        };
        let mut fr = format!(
            "{} {unit}, au plus tard le {} ({})",
            dl.days, dl.date, dl.law_fr
        );
        let mut ar = format!(
            "{} {unit_ar}، في أجل أقصاه {} ({})",
            dl.days, dl.date, dl.law_ar
        );
        if dl.silence_means_acceptance {
            fr.push_str(" — le silence de l'administration vaut acceptation");
            ar.push_str(" — سكوت الإدارة يعتبر موافقة");
        }
        y = fact(
            &mut c,
            y,
            "Délai légal de traitement",
            "الأجل القانوني للمعالجة",
            &[(&fr, Direction::Ltr), (&ar, Direction::Rtl)],
        );
    }

    // Documents.
    y += 10.0;
    let h2 = Style::new(10.0).bold();
    c.bilingual(
        "Documents déposés",
        "الوثائق المودعة",
        h2,
        M,
        y,
        W - 2.0 * M,
    );
    y += 8.0;
    let cell = Style::new(8.5);
    let mono = Style::new(7.5).color(MUTED.0, MUTED.1, MUTED.2);
    if d.documents.is_empty() {
        y += 12.0;
        c.text(
            &layout::shape(
                "Message seul, sans pièce jointe — رسالة بدون مرفقات",
                cell,
                Direction::Ltr,
            ),
            M,
            y,
            W - 2.0 * M,
            Align::Start,
        );
        y += 6.0;
    }
    for (i, doc) in d.documents.iter().enumerate() {
        if y > H - 230.0 {
            c.text(
                &layout::shape(
                    &format!("… et {} autres documents", d.documents.len() - i),
                    cell,
                    Direction::Ltr,
                ),
                M,
                y + 12.0,
                W,
                Align::Start,
            );
            y += 18.0;
            break;
        }
        y += 12.0;
        let name = format!("{}. {} — {}", i + 1, doc.name, human_size(doc.size));
        let lines: Vec<Line> = layout::wrap(&name, cell, Direction::Ltr, W - 2.0 * M)
            .into_iter()
            .take(2)
            .collect();
        y = c.paragraph(&lines, M, y, W - 2.0 * M, Align::Start, 11.0) - 1.0;
        c.text(
            &layout::shape(&format!("SHA-256 {}", doc.sha256), mono, Direction::Ltr),
            M + 10.0,
            y,
            W - 2.0 * M,
            Align::Start,
        );
        y += 4.0;
    }
    c.hline(M, W - M, y + 6.0, (0xd9, 0xde, 0xe5), 0.5);
    y += 18.0;

    // Follow-up and verification, with the QR code on the right.
    let qr = 92.0;
    let text_w = W - 2.0 * M - qr - 14.0;
    let body = Style::new(8.5);
    let mut ty = y + 10.0;
    for (text, dir) in [
        (format!("Suivi du traitement : {} — avec ce numéro d'ordre et le code de suivi remis lors du dépôt.", d.tracking_url), Direction::Ltr),
        ("تتبع المعالجة عبر الرابط أعلاه برقم الترتيب ورمز التتبع المسلم عند الإيداع.".to_string(), Direction::Rtl),
        (format!("Vérification : {} — ou hors ligne : diwan verify accuse.pdf --trust racine.pem", d.verify_url), Direction::Ltr),
        ("يمكن التحقق من هذا الإشعار عبر الرابط أو رمز الاستجابة السريعة دون الحاجة إلى الثقة في الخادم.".to_string(), Direction::Rtl),
        (format!("Journal de transparence : entrée n° {} (arbre de {} entrées, racine {}…).", d.log_index, d.tree_size, d.log_root.get(..16).unwrap_or(&d.log_root)), Direction::Ltr),
    ] {
        let lines = layout::wrap(&text, body, dir, text_w);
        ty = c.paragraph(&lines, M, ty, text_w, Align::Start, 11.5) + 3.0;
    }
    crate::qr::draw_on(&mut c, &d.verify_url, W - M - qr, y - 4.0, qr)?;

    // Footer.
    let foot = Style::new(7.5).color(MUTED.0, MUTED.1, MUTED.2);
    c.hline(M, W - M, H - 62.0, BRAND, 0.8);
    let fy = c.paragraph(
        &layout::wrap(
            &format!(
                "Document scellé électroniquement par {} (cachet électronique PAdES, horodaté) et inscrit au journal de transparence de la plateforme. Toute modification invalide le cachet.",
                d.administration_fr
            ),
            foot,
            Direction::Ltr,
            W - 2.0 * M,
        ),
        M,
        H - 50.0,
        W - 2.0 * M,
        Align::Start,
        10.0,
    );
    c.paragraph(
        &layout::wrap("وثيقة مختومة إلكترونيا ومؤرخة زمنيا ومقيدة في سجل الشفافية للمنصة. أي تغيير يبطل الختم.", foot, Direction::Rtl, W - 2.0 * M),
        M,
        fy,
        W - 2.0 * M,
        Align::Start,
        10.0,
    );
    Ok(c)
}

/// A realistic sample, for tests, benchmarks and previews.
pub fn sample() -> ReceiptData {
    ReceiptData {
        administration_fr:
            "Ministère de la Transition numérique et de la Réforme de l'administration".into(),
        administration_ar: "وزارة الانتقال الرقمي وإصلاح الإدارة".into(),
        administration_zgh: Some("ⵜⴰⵎⴰⵡⴰⵙⵜ ⵏ ⵓⵎⵓⵏⵏⵉ ⴰⵏⵓⵎⵉⵏ".into()),
        registry_office_fr: "Bureau d'ordre central".into(),
        registry_office_ar: "مكتب الضبط المركزي".into(),
        number: "BO-CENTRAL/A/2026/000042".into(),
        received_local: "24/11/2026 à 23:45 (UTC+01:00)".into(),
        received_utc: "2026-11-24T22:45:12Z".into(),
        filer_name: "Fatima Zahra El Alaoui".into(),
        filer_kind_fr: "personne physique".into(),
        filer_kind_ar: "شخص ذاتي".into(),
        filer_id_masked: Some("CIN ••••••56".into()),
        subject: "Demande de certificat administratif — طلب شهادة إدارية رقم 12".into(),
        documents: vec![
            DocumentLine {
                name: "demande.pdf".into(),
                size: 48213,
                sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            },
            DocumentLine {
                name: "بطاقة التعريف.jpg".into(),
                size: 1_203_331,
                sha256: "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752".into(),
            },
        ],
        deadline: Some(Deadline {
            date: "20/02/2027".into(),
            days: 60,
            working_days: true,
            law_fr: "Loi n° 55-19".into(),
            law_ar: "القانون رقم 55.19".into(),
            silence_means_acceptance: false,
        }),
        tracking_url: "https://courrier.example.ma/suivi".into(),
        verify_url: "https://courrier.example.ma/verifier?n=BO-CENTRAL%2FA%2F2026%2F000042".into(),
        log_index: 1234,
        tree_size: 1235,
        log_root: "b6f8c2a1d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5061728394a5b6c7d8e9".into(),
        created_utc: time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000),
        receipt_json: Some(br#"{"number":"BO-CENTRAL/A/2026/000042"}"#.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_receipts_share_the_prepared_font_subsets() {
        let c = draw(&sample()).unwrap();
        assert!(c.uses_only_shared_subsets());
    }

    /// Two receipts that state different things start with the same bytes, as many as
    /// `shared_prefix` says: the header and the embedded fonts, ToUnicode maps included. A
    /// receipt with a subset of its own shares nothing.
    #[test]
    fn ordinary_receipts_share_their_fonts_byte_for_byte() {
        let a = render_sharing(&sample()).unwrap();
        let mut other = sample();
        other.number = "BO-CENTRAL/A/2026/000043".into();
        other.filer_name = "Youssef Benjelloun — يوسف بنجلون".into();
        other.subject = "Réclamation concernant une facture d'eau".into();
        let b = render_sharing(&other).unwrap();
        assert!(a.shared_prefix > 50_000, "{}", a.shared_prefix);
        assert_eq!(a.shared_prefix, b.shared_prefix);
        assert_eq!(a.pdf[..a.shared_prefix], b.pdf[..b.shared_prefix]);
        assert_ne!(a.pdf[a.shared_prefix..], b.pdf[b.shared_prefix..]);
        let prefix = String::from_utf8_lossy(&a.pdf[..a.shared_prefix]);
        assert_eq!(prefix.matches("/ToUnicode").count(), 5, "five faces");
        assert!(prefix.ends_with("endobj\n"));
        // Room was left for the seal.
        assert!(a.pdf.capacity() >= a.pdf.len() + 16 * 1024);

        let mut rare = sample();
        rare.filer_name = "Łukasz Ǆurić".into();
        assert_eq!(render_sharing(&rare).unwrap().shared_prefix, 0);
    }

    /// The QR code drawn on the page, read back from the content stream by a decoder we did
    /// not write, gives the verification address.
    #[test]
    fn the_qr_code_on_the_page_reads_as_the_verification_address() {
        let d = sample();
        let c = draw(&d).unwrap();
        let content = String::from_utf8_lossy(c.content()).into_owned();
        let start = content.find(" cm\n").expect("the QR code's grid") + 4;
        let end = start + content[start..].find("f Q").expect("its end");
        let runs: Vec<[usize; 3]> = content[start..end]
            .lines()
            .map(|l| {
                let v: Vec<usize> = l
                    .strip_suffix(" 1 re")
                    .expect("a run")
                    .split(' ')
                    .map(|n| n.parse().unwrap())
                    .collect();
                [v[0], v[1], v[2]]
            })
            .collect();
        let width = runs.iter().map(|r| r[0] + r[2]).max().unwrap();
        // Four pixels a module, with a quiet zone of four modules.
        let (scale, quiet) = (4, 4);
        let side = (width + 2 * quiet) * scale;
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(side, side, |x, y| {
            let (col, row) = (x / scale, y / scale);
            let dark = col >= quiet
                && row >= quiet
                && runs
                    .iter()
                    .any(|r| r[1] == row - quiet && (r[0]..r[0] + r[2]).contains(&(col - quiet)));
            if dark {
                0
            } else {
                255
            }
        });
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, text) = grids[0].decode().unwrap();
        assert_eq!(text, d.verify_url);
    }

    #[test]
    fn renders_a_pdf() {
        let pdf = render(&sample()).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(
            pdf.len() < 200_000,
            "subset fonts keep it small: {}",
            pdf.len()
        );
    }
}
