//! An outgoing letter (a reply): A4, the administration and the issuing entity in French and
//! Arabic at the top, then number, date, addressee, subject and reference, the body (each
//! paragraph laid out left to right or right to left by its first strong character) and the
//! signature block. Long bodies continue on further pages.

use crate::layout::{self, direction_of, rect, Align, Direction, Style};
use crate::{PdfError, Result};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::Document;

const W: f32 = 595.0;
const H: f32 = 842.0;
const M: f32 = 56.0;
const BOTTOM: f32 = H - 60.0;
const BRAND: (u8, u8, u8) = (0x0b, 0x5d, 0x3b);

/// What a letter states.
#[derive(Debug, Clone)]
pub struct LetterData {
    pub administration_fr: String,
    pub administration_ar: String,
    pub entity_fr: String,
    pub entity_ar: String,
    pub number: String,
    /// Place and date line, e.g. `Rabat, le 28/11/2026`.
    pub date_line: String,
    /// The addressee, one line per element (name, address).
    pub recipient: Vec<String>,
    pub subject: String,
    /// `V/courrier n° … du …` — the letter answered.
    pub reference: Option<String>,
    pub body: String,
    /// Who signs, e.g. "Le Chef de la Division des affaires juridiques".
    pub signer: String,
}

/// Renders the letter PDF.
pub fn render(d: &LetterData) -> Result<Vec<u8>> {
    layout::check_fonts()?;
    let mut doc = Document::new();
    let size = PageSettings::from_wh(W, H).ok_or_else(|| PdfError::Write("page size".into()))?;
    let text_w = W - 2.0 * M;
    let half = text_w / 2.0;
    let body = Style::new(10.5);
    let bold = Style::new(10.5).bold();
    let head = Style::new(9.0).bold();

    // Every line of the letter after the header, with its style, direction and spacing before.
    let mut lines: Vec<(layout::Line, Align, f32)> = Vec::new();
    let mut push = |text: &str, style: Style, align: Align, gap: f32| {
        let dir = direction_of(text);
        for (i, l) in layout::wrap(text, style, dir, text_w)
            .into_iter()
            .enumerate()
        {
            lines.push((l, align, if i == 0 { gap } else { 0.0 }));
        }
    };
    push(&d.date_line, body, Align::End, 0.0);
    push(&format!("N° {}", d.number), bold, Align::Start, 0.0);
    let mut first = true;
    for r in &d.recipient {
        push(r, body, Align::End, if first { 18.0 } else { 0.0 });
        first = false;
    }
    push(&format!("Objet : {}", d.subject), bold, Align::Start, 22.0);
    if let Some(r) = &d.reference {
        push(&format!("Réf. : {r}"), body, Align::Start, 0.0);
    }
    let mut gap = 22.0;
    for para in d.body.split('\n') {
        let para = para.trim_end();
        if para.is_empty() {
            gap = 8.0;
            continue;
        }
        push(para, body, Align::Start, gap);
        gap = 4.0;
    }
    push(&d.signer, bold, Align::End, 36.0);

    let mut idx = 0;
    let mut page_no = 0;
    while idx < lines.len() || page_no == 0 {
        page_no += 1;
        let mut page = doc.start_page_with(size.clone());
        let mut s = page.surface();
        rect(&mut s, 0.0, 0.0, W, 6.0, BRAND);
        let mut y = 40.0;
        if page_no == 1 {
            layout::draw(
                &mut s,
                &layout::shape("ROYAUME DU MAROC", head, Direction::Ltr),
                M,
                y,
                half,
                Align::Start,
            );
            layout::draw(
                &mut s,
                &layout::shape("المملكة المغربية", head, Direction::Rtl),
                M + half,
                y,
                half,
                Align::Start,
            );
            let sub = Style::new(9.0);
            let mut yl = y + 14.0;
            for t in [&d.administration_fr, &d.entity_fr] {
                yl = layout::draw_paragraph(
                    &mut s,
                    &layout::wrap(t, sub, Direction::Ltr, half - 10.0),
                    M,
                    yl,
                    half - 10.0,
                    Align::Start,
                    11.0,
                );
            }
            let mut yr = y + 14.0;
            for t in [&d.administration_ar, &d.entity_ar] {
                yr = layout::draw_paragraph(
                    &mut s,
                    &layout::wrap(t, sub, Direction::Rtl, half - 10.0),
                    M + half + 10.0,
                    yr,
                    half - 10.0,
                    Align::Start,
                    12.0,
                );
            }
            y = yl.max(yr) + 24.0;
        } else {
            layout::draw(
                &mut s,
                &layout::shape(
                    &format!("N° {} — {page_no}", d.number),
                    Style::new(8.0),
                    Direction::Ltr,
                ),
                M,
                y,
                text_w,
                Align::End,
            );
            y += 24.0;
        }
        let start = idx;
        while idx < lines.len() {
            let (l, align, gap) = &lines[idx];
            let yy = y + if idx == start { 0.0 } else { *gap };
            if yy > BOTTOM && idx > start {
                break;
            }
            layout::draw(&mut s, l, M, yy, text_w, *align);
            y = yy + 14.0;
            idx += 1;
        }
        s.finish();
        page.finish();
    }
    doc.set_metadata(
        Metadata::new()
            .title(format!("{} — {}", d.number, d.subject))
            .producer("Diwan".into())
            .creator("Diwan".into()),
    );
    doc.finish().map_err(|e| PdfError::Write(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(body: String) -> LetterData {
        LetterData {
            administration_fr: "Ministère de l'Équipement".into(),
            administration_ar: "وزارة التجهيز".into(),
            entity_fr: "Division des affaires juridiques".into(),
            entity_ar: "قسم الشؤون القانونية".into(),
            number: "MEQ/BO/D/2026/000007".into(),
            date_line: "Rabat, le 28/11/2026".into(),
            recipient: vec![
                "M. Ahmed Benali".into(),
                "12 rue des Orangers, Rabat".into(),
            ],
            subject: "Réponse à votre demande".into(),
            reference: Some("V/courrier n° MEQ/BO/A/2026/000042 du 20/11/2026".into()),
            body,
            signer: "Le Chef de la Division".into(),
        }
    }

    #[test]
    fn renders_french_and_arabic_paragraphs_over_pages() {
        let pdf = render(&sample(
            "Monsieur,\n\nSuite à votre demande, j'ai l'honneur de vous informer…\n\nتحية طيبة، وبعد،\nيشرفني أن أخبركم بأن طلبكم قد قبل."
                .into(),
        ))
        .unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let long = "Une ligne de texte assez longue pour remplir la page. ".repeat(400);
        let pdf2 = render(&sample(long)).unwrap();
        let count_of = crate::tests::page_count;
        assert_eq!(count_of(&pdf), Some(1));
        assert!(count_of(&pdf2).unwrap_or(0) > 2, "{:?}", count_of(&pdf2));
    }
}
