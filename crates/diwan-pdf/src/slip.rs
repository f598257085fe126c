//! The dispatch slip (bordereau d'envoi, جدول الإرسال) that goes with outgoing paper mail: who
//! sends, to whom, under which number and date, every piece sent (the letter, its enclosures,
//! with their SHA-256 so the electronic record and the paper can be matched), the copies sent
//! for information, and boxes for the sender's signature and the recipient's acknowledgement.
//! One A4 page, French and Arabic, written with [`crate::canvas`].

use crate::canvas::{Canvas, Info};
use crate::layout::{self, direction_of, Align, Direction, Style};
use crate::Result;

const W: f32 = 595.0;
const H: f32 = 842.0;
const M: f32 = 42.0;
const BRAND: (u8, u8, u8) = (0x0b, 0x5d, 0x3b);
const MUTED: (u8, u8, u8) = (0x5b, 0x67, 0x76);
const LINE: (u8, u8, u8) = (0xd9, 0xde, 0xe5);
/// Rows that fit on the page; further pieces are summed up in one line.
const MAX_ROWS: usize = 18;

/// One piece sent.
#[derive(Debug, Clone)]
pub struct Piece {
    pub designation: String,
    /// How many copies of it are sent.
    pub count: u32,
    pub note: String,
}

/// What a dispatch slip states.
#[derive(Debug, Clone)]
pub struct SlipData {
    pub administration_fr: String,
    pub administration_ar: String,
    pub sender_fr: String,
    pub sender_ar: String,
    pub number: String,
    /// Place and date line, e.g. `Rabat, le 28/11/2026`.
    pub date_line: String,
    /// The addressee, one line per element (name, address).
    pub recipient: Vec<String>,
    pub subject: String,
    pub pieces: Vec<Piece>,
    /// Who gets a copy for information.
    pub copies: Vec<String>,
    pub created: time::OffsetDateTime,
}

/// Renders the slip.
pub fn render(d: &SlipData) -> Result<Vec<u8>> {
    layout::check_fonts()?;
    let mut c = Canvas::new(W, H);
    let half = (W - 2.0 * M) / 2.0;
    let head = Style::new(9.0).bold();
    let sub = Style::new(9.0);
    c.rect(0.0, 0.0, W, 6.0, BRAND);
    c.bilingual(
        "ROYAUME DU MAROC",
        "المملكة المغربية",
        head,
        M,
        34.0,
        W - 2.0 * M,
    );
    let mut yl = 48.0;
    for t in [&d.administration_fr, &d.sender_fr] {
        yl = c.paragraph(
            &layout::wrap(t, sub, Direction::Ltr, half - 10.0),
            M,
            yl,
            half - 10.0,
            Align::Start,
            11.0,
        );
    }
    let mut yr = 48.0;
    for t in [&d.administration_ar, &d.sender_ar] {
        yr = c.paragraph(
            &layout::wrap(t, sub, Direction::Rtl, half - 10.0),
            M + half + 10.0,
            yr,
            half - 10.0,
            Align::Start,
            12.0,
        );
    }
    let mut y = yl.max(yr) + 4.0;
    c.hline(M, W - M, y, BRAND, 1.2);
    y += 28.0;
    let title = Style::new(16.0).bold().color(BRAND.0, BRAND.1, BRAND.2);
    c.bilingual("BORDEREAU D'ENVOI", "جدول الإرسال", title, M, y, W - 2.0 * M);
    y += 22.0;

    let label = Style::new(8.0).color(MUTED.0, MUTED.1, MUTED.2);
    let value = Style::new(10.0);
    let fact = |c: &mut Canvas, y: f32, fr: &str, ar: &str, v: &str| -> f32 {
        c.text(
            &layout::shape(fr, label, Direction::Ltr),
            M,
            y + 10.0,
            110.0,
            Align::Start,
        );
        c.text(
            &layout::shape(ar, label.bold(), Direction::Rtl),
            W - M - 110.0,
            y + 10.0,
            110.0,
            Align::Start,
        );
        let vw = W - 2.0 * M - 230.0;
        let end = c.paragraph(
            &layout::wrap(v, value, direction_of(v), vw),
            M + 115.0,
            y + 10.0,
            vw,
            Align::Center,
            12.0,
        );
        end + 4.0
    };
    y = fact(&mut c, y, "Numéro", "الرقم", &d.number);
    y = fact(&mut c, y, "Date", "التاريخ", &d.date_line);
    y = fact(
        &mut c,
        y,
        "Destinataire",
        "المرسل إليه",
        &d.recipient.join(" — "),
    );
    y = fact(&mut c, y, "Objet", "الموضوع", &d.subject);
    y += 10.0;

    // The table of pieces.
    let cols = [30.0, W - 2.0 * M - 30.0 - 60.0 - 130.0, 60.0, 130.0];
    let heads = [
        ("N°", "رقم"),
        ("Désignation des pièces", "بيان الوثائق"),
        ("Nombre", "العدد"),
        ("Observations", "ملاحظات"),
    ];
    c.rect(M, y, W - 2.0 * M, 30.0, (0xee, 0xf4, 0xf0));
    let mut x = M;
    let th = Style::new(8.0).bold();
    for (w, (fr, ar)) in cols.iter().zip(heads) {
        c.text(
            &layout::shape(fr, th, Direction::Ltr),
            x + 3.0,
            y + 12.0,
            w - 6.0,
            Align::Center,
        );
        c.text(
            &layout::shape(ar, th, Direction::Rtl),
            x + 3.0,
            y + 25.0,
            w - 6.0,
            Align::Center,
        );
        x += w;
    }
    y += 30.0;
    let cell = Style::new(8.5);
    let shown = d.pieces.len().min(MAX_ROWS);
    for (i, p) in d.pieces.iter().take(shown).enumerate() {
        let lines: Vec<_> = layout::wrap(
            &p.designation,
            cell,
            direction_of(&p.designation),
            cols[1] - 8.0,
        )
        .into_iter()
        .take(2)
        .collect();
        let notes: Vec<_> = layout::wrap(&p.note, Style::new(7.0), Direction::Ltr, cols[3] - 8.0)
            .into_iter()
            .take(2)
            .collect();
        let h = 8.0 + 11.0 * lines.len().max(notes.len()).max(1) as f32;
        let base = y + 12.0;
        c.text(
            &layout::shape(&(i + 1).to_string(), cell, Direction::Ltr),
            M,
            base,
            cols[0],
            Align::Center,
        );
        c.paragraph(
            &lines,
            M + cols[0] + 4.0,
            base,
            cols[1] - 8.0,
            Align::Start,
            11.0,
        );
        c.text(
            &layout::shape(&p.count.to_string(), cell, Direction::Ltr),
            M + cols[0] + cols[1],
            base,
            cols[2],
            Align::Center,
        );
        c.paragraph(
            &notes,
            M + cols[0] + cols[1] + cols[2] + 4.0,
            base,
            cols[3] - 8.0,
            Align::Start,
            11.0,
        );
        y += h;
        c.hline(M, W - M, y, LINE, 0.5);
    }
    if d.pieces.len() > shown {
        y += 12.0;
        let more = format!(
            "… et {} autres pièces (voir le dossier électronique)",
            d.pieces.len() - shown
        );
        c.text(
            &layout::shape(&more, cell, Direction::Ltr),
            M + 4.0,
            y,
            W - 2.0 * M,
            Align::Start,
        );
        y += 4.0;
    }
    let total: u32 = d.pieces.iter().map(|p| p.count).sum();
    y += 14.0;
    let totals = format!("Total des pièces : {total} — مجموع الوثائق: {total}");
    c.text(
        &layout::shape(&totals, Style::new(9.0).bold(), Direction::Ltr),
        M,
        y,
        W - 2.0 * M,
        Align::End,
    );
    y += 22.0;

    if !d.copies.is_empty() {
        c.text(
            &layout::shape(
                "Copie pour information — نسخة للإخبار",
                Style::new(9.0).bold(),
                Direction::Ltr,
            ),
            M,
            y,
            W - 2.0 * M,
            Align::Start,
        );
        y += 13.0;
        for copy in d.copies.iter().take(8) {
            c.text(
                &layout::shape(&format!("• {copy}"), cell, direction_of(copy)),
                M + 10.0,
                y,
                W - 2.0 * M - 10.0,
                Align::Start,
            );
            y += 12.0;
        }
        y += 8.0;
    }

    // Signature and acknowledgement boxes.
    let box_y = y.max(H - 230.0);
    let bw = (W - 2.0 * M - 20.0) / 2.0;
    for (i, (fr, ar)) in [
        (
            "L'expéditeur (cachet et signature)",
            "المرسل (الخاتم والتوقيع)",
        ),
        ("Reçu par le destinataire, le", "توصل به المرسل إليه بتاريخ"),
    ]
    .iter()
    .enumerate()
    {
        let bx = M + i as f32 * (bw + 20.0);
        c.rect(bx, box_y, bw, 1.0, LINE);
        c.rect(bx, box_y + 110.0, bw, 1.0, LINE);
        c.rect(bx, box_y, 1.0, 110.0, LINE);
        c.rect(bx + bw - 1.0, box_y, 1.0, 110.0, LINE);
        c.text(
            &layout::shape(fr, Style::new(8.0), Direction::Ltr),
            bx + 6.0,
            box_y + 14.0,
            bw - 12.0,
            Align::Start,
        );
        c.text(
            &layout::shape(ar, Style::new(8.0).bold(), Direction::Rtl),
            bx + 6.0,
            box_y + 28.0,
            bw - 12.0,
            Align::Start,
        );
    }
    let foot = Style::new(7.0).color(MUTED.0, MUTED.1, MUTED.2);
    c.hline(M, W - M, H - 50.0, BRAND, 0.8);
    c.text(
        &layout::shape(
            "Les empreintes SHA-256 permettent de rapprocher chaque pièce papier de son original électronique dans Diwan.",
            foot,
            Direction::Ltr,
        ),
        M,
        H - 38.0,
        W - 2.0 * M,
        Align::Start,
    );
    let title = format!("Bordereau d'envoi {}", d.number);
    c.finish(
        &Info {
            title: &title,
            creator: "Diwan",
            lang: "fr",
            created: d.created,
        },
        None,
    )
}

/// A realistic sample, for tests and previews.
pub fn sample() -> SlipData {
    SlipData {
        administration_fr:
            "Ministère de la Transition numérique et de la Réforme de l'administration".into(),
        administration_ar: "وزارة الانتقال الرقمي وإصلاح الإدارة".into(),
        sender_fr: "Division du développement".into(),
        sender_ar: "قسم التطوير".into(),
        number: "BO-CENTRAL/D/2026/000017".into(),
        date_line: "Rabat, le 28/11/2026".into(),
        recipient: vec![
            "Société Atlas Numérique SARL".into(),
            "12, avenue Hassan II, Casablanca".into(),
        ],
        subject: "Réponse à votre réclamation relative au marché n° 14/2026".into(),
        pieces: vec![
            Piece {
                designation: "Lettre n° BO-CENTRAL/D/2026/000017".into(),
                count: 1,
                note: "Original signé".into(),
            },
            Piece {
                designation: "Procès-verbal de réception.pdf".into(),
                count: 2,
                note: "SHA-256 9f86d081884c7d65".into(),
            },
            Piece {
                designation: "محضر الاجتماع.pdf".into(),
                count: 1,
                note: "SHA-256 60303ae22b998861".into(),
            },
        ],
        copies: vec![
            "Direction des systèmes d'information".into(),
            "Secrétariat général".into(),
        ],
        created: time::OffsetDateTime::UNIX_EPOCH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_slip_even_with_many_pieces() {
        let pdf = render(&sample()).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let mut many = sample();
        many.pieces = (0..40)
            .map(|i| Piece {
                designation: format!("Annexe {i}"),
                count: 1,
                note: String::new(),
            })
            .collect();
        many.copies.clear();
        assert!(render(&many).unwrap().starts_with(b"%PDF-"));
    }
}
