//! The register book of a year (registre, سجل): landscape A4, one row per correspondence in
//! number order — number, date registered, the other party (sender or recipient), subject,
//! handling entity, status and outcome, due date — under a header repeated on every page (the
//! administration in French and Arabic, the register, the year, "page N / M"), with the totals at
//! the end. Cells are laid out in their own direction (an Arabic subject is shaped right to left
//! and aligned right in its cell).
//!
//! Laid out in two passes, each linear in the number of rows: the first measures every row
//! (wrapping its cells) to break pages and learn the page count M; the second wraps again the
//! rows of one page at a time and draws them. Only row heights are kept between the passes, so
//! memory does not grow with shaped text of thousands of rows.

use crate::layout::{self, direction_of, rect, Align, Direction, Line, Style};
use crate::{PdfError, Result};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::surface::Surface;
use krilla::Document;

/// Landscape A4.
const W: f32 = 842.0;
const H: f32 = 595.0;
const M: f32 = 28.0;
const BRAND: (u8, u8, u8) = (0x0b, 0x5d, 0x3b);
const MUTED: (u8, u8, u8) = (0x5b, 0x67, 0x76);
const RULE: (u8, u8, u8) = (0xd9, 0xde, 0xe5);
const STRIPE: (u8, u8, u8) = (0xf4, 0xf6, 0xf8);
const LATE: (u8, u8, u8) = (0xb4, 0x23, 0x18);
/// Where the table's header starts, below the page header.
const TABLE_HEAD: f32 = 80.0;
const TABLE_HEAD_H: f32 = 26.0;
const TABLE_TOP: f32 = TABLE_HEAD + TABLE_HEAD_H;
const BOTTOM: f32 = H - M;
const LEAD: f32 = 9.5;
const PAD: f32 = 3.0;
/// A cell shows at most this many lines (the last one ends with "…"), so a row always fits on a
/// page.
const MAX_LINES: usize = 8;
const TOTAL_LEAD: f32 = 13.0;

/// The kind of register, which names the party column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Incoming,
    Outgoing,
    Internal,
}

impl Kind {
    fn title_fr(self) -> &'static str {
        match self {
            Kind::Incoming => "REGISTRE DU COURRIER ARRIVÉE",
            Kind::Outgoing => "REGISTRE DU COURRIER DÉPART",
            Kind::Internal => "REGISTRE DU COURRIER INTERNE",
        }
    }
    fn title_ar(self) -> &'static str {
        match self {
            Kind::Incoming => "سجل البريد الوارد",
            Kind::Outgoing => "سجل البريد الصادر",
            Kind::Internal => "سجل البريد الداخلي",
        }
    }
    fn party(self) -> (&'static str, &'static str) {
        match self {
            Kind::Incoming => ("Expéditeur", "المرسل"),
            Kind::Outgoing => ("Destinataire", "المرسل إليه"),
            Kind::Internal => ("Correspondant", "المراسل"),
        }
    }
}

/// One correspondence of the register.
#[derive(Debug, Clone)]
pub struct RegisterRow {
    pub number: String,
    /// Local date (and time) of registration, e.g. `24/11/2026 09:12`.
    pub registered: String,
    /// The sender (incoming) or recipient (outgoing).
    pub party: String,
    pub subject: String,
    /// The entity handling it (or that handled it last), empty when none.
    pub handling: String,
    /// The status as readers know it, e.g. `Clos`.
    pub status: String,
    /// How it was settled, or why it needs no follow-up.
    pub outcome: Option<String>,
    /// Due date, `DD/MM/YYYY`, empty when none.
    pub due: String,
    /// Past its due date and not finished.
    pub late: bool,
}

/// Everything the register book states.
#[derive(Debug, Clone)]
pub struct RegisterData {
    pub administration_fr: String,
    pub administration_ar: String,
    pub register_name: String,
    pub kind: Kind,
    pub year: i32,
    /// When the book was produced, e.g. `28/11/2026 10:12`.
    pub printed: String,
    /// In number order.
    pub rows: Vec<RegisterRow>,
}

/// The columns: French and Arabic headings, width.
fn columns(kind: Kind) -> [(&'static str, &'static str, f32); 7] {
    let (party_fr, party_ar) = kind.party();
    [
        ("N° d'ordre", "رقم الترتيب", 128.0),
        ("Enregistré le", "تاريخ التسجيل", 66.0),
        (party_fr, party_ar, 118.0),
        ("Objet", "الموضوع", 226.0),
        ("Entité chargée", "الوحدة المكلفة", 108.0),
        ("Statut", "الوضعية", 88.0),
        ("Échéance", "الأجل", 52.0),
    ]
}

fn cell_style() -> Style {
    Style::new(7.5)
}

/// Wraps `text` in its own direction to `width`, appending to `out`.
fn push_wrapped(out: &mut Vec<Line>, text: &str, style: Style, width: f32) {
    if text.trim().is_empty() {
        return;
    }
    out.extend(layout::wrap(text, style, direction_of(text), width));
}

/// The lines of each cell of a row, at most [`MAX_LINES`] each.
fn cells(kind: Kind, r: &RegisterRow) -> Vec<Vec<Line>> {
    let s = cell_style();
    let muted = s.color(MUTED.0, MUTED.1, MUTED.2);
    let late = s.bold().color(LATE.0, LATE.1, LATE.2);
    let cols = columns(kind);
    let inner = |i: usize| cols[i].2 - 2.0 * PAD;
    let mut out: Vec<Vec<Line>> = Vec::with_capacity(cols.len());
    for (i, text) in [&r.number, &r.registered, &r.party, &r.subject, &r.handling]
        .into_iter()
        .enumerate()
    {
        let mut lines = Vec::new();
        push_wrapped(
            &mut lines,
            text,
            if i == 0 { s.bold() } else { s },
            inner(i),
        );
        out.push(lines);
    }
    let mut status = Vec::new();
    push_wrapped(&mut status, &r.status, s, inner(5));
    if let Some(o) = &r.outcome {
        push_wrapped(&mut status, o, muted, inner(5));
    }
    out.push(status);
    let mut due = Vec::new();
    push_wrapped(&mut due, &r.due, if r.late { late } else { s }, inner(6));
    if r.late {
        push_wrapped(&mut due, "En retard", late, inner(6));
    }
    out.push(due);
    for (i, lines) in out.iter_mut().enumerate() {
        if lines.len() > MAX_LINES {
            let style = lines[MAX_LINES - 1].style;
            lines.truncate(MAX_LINES - 1);
            let dir = lines.last().map_or(Direction::Ltr, |l| l.direction);
            lines.push(layout::shape("…", style, dir));
        }
        // An empty cell shows a dash.
        if lines.is_empty() && i != 5 {
            lines.push(layout::shape("—", muted, Direction::Ltr));
        }
    }
    out
}

fn row_height(cells: &[Vec<Line>]) -> f32 {
    let lines = cells.iter().map(Vec::len).max().unwrap_or(1).max(1);
    lines as f32 * LEAD + 2.0 * PAD
}

/// The totals block: (line, is heading).
fn totals(d: &RegisterData) -> Vec<(String, String)> {
    let mut by_status: Vec<(&str, usize)> = Vec::new();
    for r in &d.rows {
        match by_status.iter_mut().find(|(s, _)| *s == r.status) {
            Some((_, n)) => *n += 1,
            None => by_status.push((&r.status, 1)),
        }
    }
    let mut out = vec![(
        format!("Nombre de courriers enregistrés en {}", d.year),
        d.rows.len().to_string(),
    )];
    out.extend(
        by_status
            .into_iter()
            .map(|(s, n)| (s.to_string(), n.to_string())),
    );
    out.push((
        "En retard".into(),
        d.rows.iter().filter(|r| r.late).count().to_string(),
    ));
    out
}

fn totals_height(d: &RegisterData) -> f32 {
    12.0 + (totals(d).len() as f32 + 1.0) * TOTAL_LEAD
}

/// Draws the header of page `n` of `m`.
fn header(s: &mut Surface<'_>, d: &RegisterData, n: usize, m: usize) {
    rect(s, 0.0, 0.0, W, 6.0, BRAND);
    let side = 250.0;
    let middle = W - 2.0 * M - 2.0 * side;
    let head = Style::new(8.5).bold();
    let sub = Style::new(8.0);
    layout::draw(
        s,
        &layout::shape("ROYAUME DU MAROC", head, Direction::Ltr),
        M,
        22.0,
        side,
        Align::Start,
    );
    layout::draw(
        s,
        &layout::shape("المملكة المغربية", head, Direction::Rtl),
        W - M - side,
        22.0,
        side,
        Align::Start,
    );
    let fr = layout::wrap(&d.administration_fr, sub, Direction::Ltr, side);
    layout::draw_paragraph(s, &fr[..fr.len().min(2)], M, 34.0, side, Align::Start, 10.0);
    let ar = layout::wrap(&d.administration_ar, sub, Direction::Rtl, side);
    layout::draw_paragraph(
        s,
        &ar[..ar.len().min(2)],
        W - M - side,
        34.0,
        side,
        Align::Start,
        11.0,
    );
    let x = M + side;
    layout::draw(
        s,
        &layout::shape(d.kind.title_fr(), Style::new(11.0).bold(), Direction::Ltr),
        x,
        22.0,
        middle,
        Align::Center,
    );
    let name = format!("{} — année {}", d.register_name, d.year);
    let name_lines = layout::wrap(&name, sub.bold(), direction_of(&name), middle);
    layout::draw(s, &name_lines[0], x, 35.0, middle, Align::Center);
    layout::draw(
        s,
        &layout::shape(
            &format!("{} — سنة {}", d.kind.title_ar(), d.year),
            sub.bold(),
            Direction::Rtl,
        ),
        x,
        48.0,
        middle,
        Align::Center,
    );
    let muted = Style::new(7.5).color(MUTED.0, MUTED.1, MUTED.2);
    layout::draw(
        s,
        &layout::shape(
            &format!("Édité le {} par Diwan", d.printed),
            muted,
            Direction::Ltr,
        ),
        M,
        68.0,
        W - 2.0 * M,
        Align::Start,
    );
    let page_ar = layout::shape(
        &format!("الصفحة {n} من {m}"),
        Style::new(8.0).bold(),
        Direction::Rtl,
    );
    let page_fr = layout::shape(
        &format!("Page {n} / {m} —"),
        Style::new(8.0).bold(),
        Direction::Ltr,
    );
    let ar_w = page_ar.width() + 4.0;
    layout::draw(s, &page_ar, W - M - ar_w, 68.0, ar_w, Align::End);
    layout::draw(s, &page_fr, M, 68.0, W - 2.0 * M - ar_w, Align::End);
    rect(s, M, 72.0, W - 2.0 * M, 0.6, BRAND);
}

/// Draws the table's column headings.
fn table_head(s: &mut Surface<'_>, kind: Kind) {
    rect(
        s,
        M,
        TABLE_HEAD,
        W - 2.0 * M,
        TABLE_HEAD_H,
        (0xe6, 0xef, 0xea),
    );
    let mut x = M;
    for (fr, ar, w) in columns(kind) {
        let inner = w - 2.0 * PAD;
        layout::draw(
            s,
            &layout::shape(fr, Style::new(7.5).bold(), Direction::Ltr),
            x + PAD,
            TABLE_HEAD + 10.0,
            inner,
            Align::Start,
        );
        layout::draw(
            s,
            &layout::shape(ar, Style::new(7.5).bold(), Direction::Rtl),
            x + PAD,
            TABLE_HEAD + 21.0,
            inner,
            Align::End,
        );
        x += w;
    }
}

/// Draws one row from `y`; returns its height.
fn draw_row(s: &mut Surface<'_>, kind: Kind, cells: &[Vec<Line>], y: f32, stripe: bool) -> f32 {
    let h = row_height(cells);
    if stripe {
        rect(s, M, y, W - 2.0 * M, h, STRIPE);
    }
    let mut x = M;
    for ((_, _, w), lines) in columns(kind).iter().zip(cells) {
        let inner = w - 2.0 * PAD;
        layout::draw_paragraph(s, lines, x + PAD, y + PAD + 7.0, inner, Align::Start, LEAD);
        x += w;
    }
    rect(s, M, y + h - 0.4, W - 2.0 * M, 0.4, RULE);
    h
}

fn draw_totals(s: &mut Surface<'_>, d: &RegisterData, y: f32) {
    let mut y = y + 12.0 + 10.0;
    layout::draw(
        s,
        &layout::shape("Totaux — المجموع", Style::new(9.5).bold(), Direction::Ltr),
        M,
        y,
        300.0,
        Align::Start,
    );
    for (label, value) in totals(d) {
        y += TOTAL_LEAD;
        layout::draw(
            s,
            &layout::shape(&label, Style::new(8.5), direction_of(&label)),
            M,
            y,
            260.0,
            Align::Start,
        );
        layout::draw(
            s,
            &layout::shape(&value, Style::new(8.5).bold(), Direction::Ltr),
            M + 260.0,
            y,
            60.0,
            Align::End,
        );
    }
}

/// Renders the register book.
pub fn render(d: &RegisterData) -> Result<Vec<u8>> {
    layout::check_fonts()?;
    // Pass 1: row heights, page breaks and the page count.
    let mut pages: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    let mut y = TABLE_TOP;
    for (i, r) in d.rows.iter().enumerate() {
        let h = row_height(&cells(d.kind, r));
        if y + h > BOTTOM && i > start {
            pages.push(start..i);
            start = i;
            y = TABLE_TOP;
        }
        y += h;
    }
    pages.push(start..d.rows.len());
    let totals_apart = y + totals_height(d) > BOTTOM;
    let m = pages.len() + usize::from(totals_apart);

    // Pass 2: draw page by page.
    let mut doc = Document::new();
    let size = PageSettings::from_wh(W, H).ok_or_else(|| PdfError::Write("page size".into()))?;
    for (p, range) in pages.iter().enumerate() {
        let mut page = doc.start_page_with(size.clone());
        let mut s = page.surface();
        header(&mut s, d, p + 1, m);
        table_head(&mut s, d.kind);
        let mut y = TABLE_TOP;
        for i in range.clone() {
            y += draw_row(&mut s, d.kind, &cells(d.kind, &d.rows[i]), y, i % 2 == 1);
        }
        if d.rows.is_empty() {
            layout::draw(
                &mut s,
                &layout::shape(
                    "Aucun courrier enregistré — لا توجد مراسلات مسجلة",
                    Style::new(9.0).color(MUTED.0, MUTED.1, MUTED.2),
                    Direction::Ltr,
                ),
                M,
                y + 16.0,
                W - 2.0 * M,
                Align::Center,
            );
            y += 20.0;
        }
        if p + 1 == pages.len() && !totals_apart {
            draw_totals(&mut s, d, y);
        }
        s.finish();
        page.finish();
    }
    if totals_apart {
        let mut page = doc.start_page_with(size);
        let mut s = page.surface();
        header(&mut s, d, m, m);
        draw_totals(&mut s, d, TABLE_HEAD - 12.0);
        s.finish();
        page.finish();
    }
    doc.set_metadata(
        Metadata::new()
            .title(format!("{} — {}", d.register_name, d.year))
            .producer("Diwan".into())
            .creator("Diwan".into())
            .language("fr".into()),
    );
    doc.finish().map_err(|e| PdfError::Write(format!("{e:?}")))
}

/// A realistic sample of `n` rows, for tests, benchmarks and previews.
pub fn sample_of(n: usize) -> RegisterData {
    let subjects = [
        "Demande d'autorisation d'exploitation d'un établissement touristique",
        "طلب الحصول على شهادة إدارية",
        "Réclamation concernant la décision n° 2026/114 relative au marché de travaux d'entretien des routes provinciales",
        "Invitation à la réunion régionale",
    ];
    let parties = [
        "Fatima Zahra El Alaoui",
        "شركة الأطلس للخدمات",
        "Atlas Numérique SARL",
    ];
    let statuses = [
        ("Clos", Some("Traité par téléphone avec le demandeur")),
        ("Imputé", None),
        ("Répondu", None),
        (
            "Classé sans suite",
            Some("Doublon d'un courrier déjà traité"),
        ),
    ];
    let rows = (1..=n)
        .map(|i| {
            let (status, outcome) = statuses[i % statuses.len()];
            RegisterRow {
                number: format!("BO-CENTRAL/A/2026/{i:06}"),
                registered: format!("{:02}/{:02}/2026 09:{:02}", i % 28 + 1, i % 12 + 1, i % 60),
                party: parties[i % parties.len()].into(),
                subject: format!("{} {i}", subjects[i % subjects.len()]),
                handling: if i % 3 == 0 {
                    "قسم الشؤون القانونية".into()
                } else {
                    "Direction des systèmes d'information".into()
                },
                status: status.into(),
                outcome: outcome.map(String::from),
                due: format!("{:02}/{:02}/2027", i % 28 + 1, i % 12 + 1),
                late: i % 7 == 0,
            }
        })
        .collect();
    RegisterData {
        administration_fr:
            "Ministère de la Transition numérique et de la Réforme de l'administration".into(),
        administration_ar: "وزارة الانتقال الرقمي وإصلاح الإدارة".into(),
        register_name: "Bureau d'ordre central — arrivée".into(),
        kind: Kind::Incoming,
        year: 2026,
        printed: "28/11/2026 10:12".into(),
        rows,
    }
}

/// A realistic sample, for tests, benchmarks and previews.
pub fn sample() -> RegisterData {
    sample_of(40)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::page_count;

    #[test]
    fn renders_a_multi_page_book_with_totals() {
        let d = sample();
        let pdf = render(&d).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(page_count(&pdf).unwrap_or(0) >= 2);
        let t = totals(&d);
        assert_eq!(t[0].1, "40");
        assert_eq!(t.last().unwrap().1, (40 / 7).to_string());
        let sum: usize = t[1..t.len() - 1]
            .iter()
            .map(|(_, n)| n.parse::<usize>().unwrap())
            .sum();
        assert_eq!(sum, 40, "every row counted under one status: {t:?}");
    }

    #[test]
    fn thousands_of_rows_make_many_pages() {
        let pdf = render(&sample_of(3000)).unwrap();
        let pages = page_count(&pdf).unwrap_or(0);
        assert!(pages > 100, "{pages} pages");
        // The page count is stable across renders.
        assert_eq!(page_count(&render(&sample_of(3000)).unwrap()), Some(pages));
    }

    #[test]
    fn empty_register_and_overlong_cells() {
        let mut d = sample_of(0);
        let pdf = render(&d).unwrap();
        assert_eq!(page_count(&pdf), Some(1));
        d.rows = sample_of(3).rows;
        d.rows[1].subject = "Un objet démesuré ".repeat(400);
        d.rows[2].number = "X".repeat(200);
        let c = cells(d.kind, &d.rows[1]);
        assert_eq!(c[3].len(), MAX_LINES);
        assert!(row_height(&c) < BOTTOM - TABLE_TOP);
        assert!(render(&d).is_ok());
    }
}
