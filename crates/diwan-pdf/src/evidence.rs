//! The signature certificate of a folder (bordereau de signature, شهادة التوقيع): what was signed
//! (every document with its original and final SHA-256), and every step of the circuit — who
//! acted, for whom when by delegation, when, what they did, with which certificate and which
//! document hashes before and after. French and Arabic, A4 portrait, as many pages as needed
//! (page N / M on each). The platform seals it with the administration's seal.

use crate::layout::{self, direction_of, rect, Align, Direction, Line, Style};
use crate::{PdfError, Result};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::surface::Surface;
use krilla::Document;

const W: f32 = 595.0;
const H: f32 = 842.0;
const M: f32 = 40.0;
const BRAND: (u8, u8, u8) = (0x0b, 0x5d, 0x3b);
const MUTED: (u8, u8, u8) = (0x5b, 0x67, 0x76);
const RULE: (u8, u8, u8) = (0xd9, 0xde, 0xe5);
const BOTTOM: f32 = H - 50.0;

/// A document of the folder.
#[derive(Debug, Clone)]
pub struct EvidenceDocument {
    pub name: String,
    /// `Document principal` or `Annexe`.
    pub role: String,
    pub original_sha256: String,
    pub final_sha256: String,
}

/// One entry of the history.
#[derive(Debug, Clone)]
pub struct EvidenceEntry {
    /// `Étape 2 — Signature / توقيع`, or empty for actions outside steps.
    pub step: String,
    pub action_fr: String,
    pub action_ar: String,
    pub actor: String,
    /// The delegator, when the actor acted by delegation.
    pub on_behalf_of: Option<String>,
    /// Date and time, local.
    pub at: String,
    /// The certificate that signed.
    pub signer: Option<String>,
    pub comment: Option<String>,
    pub hash_before: Option<String>,
    pub hash_after: Option<String>,
}

/// What the certificate states.
#[derive(Debug, Clone)]
pub struct EvidenceData {
    pub administration_fr: String,
    pub administration_ar: String,
    pub folder_id: String,
    pub title: String,
    pub document_type: String,
    pub author: String,
    pub created: String,
    pub completed: String,
    pub documents: Vec<EvidenceDocument>,
    pub entries: Vec<EvidenceEntry>,
    pub generated: time::OffsetDateTime,
}

/// One block of lines drawn together (never split across pages).
struct Block {
    lines: Vec<(Line, f32)>,
    height: f32,
    rule: bool,
}

const LEAD: f32 = 11.0;

fn block(items: Vec<(Line, f32)>, rule: bool) -> Block {
    let height = LEAD * items.len() as f32 + 8.0;
    Block {
        lines: items,
        height,
        rule,
    }
}

fn wrapped(text: &str, style: Style, indent: f32) -> Vec<(Line, f32)> {
    layout::wrap(text, style, direction_of(text), W - 2.0 * M - indent)
        .into_iter()
        .map(|l| (l, indent))
        .collect()
}

fn header(s: &mut Surface<'_>, d: &EvidenceData, page: usize, pages: usize) -> f32 {
    rect(s, 0.0, 0.0, W, 6.0, BRAND);
    let head = Style::new(9.0).bold();
    let half = (W - 2.0 * M) / 2.0;
    layout::draw(
        s,
        &layout::shape("ROYAUME DU MAROC", head, Direction::Ltr),
        M,
        30.0,
        half,
        Align::Start,
    );
    layout::draw(
        s,
        &layout::shape("المملكة المغربية", head, Direction::Rtl),
        M + half,
        30.0,
        half,
        Align::Start,
    );
    let sub = Style::new(8.5);
    let yl = layout::draw_paragraph(
        s,
        &layout::wrap(&d.administration_fr, sub, Direction::Ltr, half - 10.0),
        M,
        44.0,
        half - 10.0,
        Align::Start,
        11.0,
    );
    let yr = layout::draw_paragraph(
        s,
        &layout::wrap(&d.administration_ar, sub, Direction::Rtl, half - 10.0),
        M + half + 10.0,
        44.0,
        half - 10.0,
        Align::Start,
        12.0,
    );
    let mut y = yl.max(yr) + 2.0;
    rect(s, M, y, W - 2.0 * M, 1.2, BRAND);
    y += 24.0;
    let title = Style::new(15.0).bold().color(BRAND.0, BRAND.1, BRAND.2);
    layout::draw(
        s,
        &layout::shape("BORDEREAU DE SIGNATURE", title, Direction::Ltr),
        M,
        y,
        W - 2.0 * M,
        Align::Start,
    );
    layout::draw(
        s,
        &layout::shape("شهادة التوقيع", title, Direction::Rtl),
        M,
        y,
        W - 2.0 * M,
        Align::Start,
    );
    let foot = Style::new(7.0).color(MUTED.0, MUTED.1, MUTED.2);
    rect(s, M, H - 40.0, W - 2.0 * M, 0.8, BRAND);
    layout::draw(
        s,
        &layout::shape(
            &format!("Dossier {} — page {page} / {pages}", d.folder_id),
            foot,
            Direction::Ltr,
        ),
        M,
        H - 28.0,
        W - 2.0 * M,
        Align::Start,
    );
    layout::draw(
        s,
        &layout::shape(
            "Document scellé électroniquement — وثيقة مختومة إلكترونيا",
            foot,
            Direction::Ltr,
        ),
        M,
        H - 28.0,
        W - 2.0 * M,
        Align::End,
    );
    y + 14.0
}

fn blocks(d: &EvidenceData) -> Vec<Block> {
    let label = Style::new(8.0).color(MUTED.0, MUTED.1, MUTED.2);
    let value = Style::new(9.5);
    let bold = Style::new(9.5).bold();
    let small = Style::new(7.5);
    let section = Style::new(10.5).bold().color(BRAND.0, BRAND.1, BRAND.2);
    let mut out = Vec::new();
    for (fr, ar, v) in [
        ("Objet", "الموضوع", &d.title),
        ("Type de document", "نوع الوثيقة", &d.document_type),
        ("Auteur", "المحرر", &d.author),
        ("Créé le", "تاريخ الإنشاء", &d.created),
        ("Achevé le", "تاريخ الإتمام", &d.completed),
    ] {
        let mut items = vec![(
            layout::shape(&format!("{fr} — {ar}"), label, Direction::Ltr),
            0.0,
        )];
        items.extend(wrapped(v, value, 10.0));
        out.push(block(items, false));
    }
    out.push(block(
        vec![(
            layout::shape("Documents — الوثائق", section, Direction::Ltr),
            0.0,
        )],
        false,
    ));
    for doc in &d.documents {
        let mut items = wrapped(&format!("{} ({})", doc.name, doc.role), bold, 0.0);
        items.push((
            layout::shape(
                &format!("SHA-256 initial : {}", doc.original_sha256),
                small,
                Direction::Ltr,
            ),
            10.0,
        ));
        items.push((
            layout::shape(
                &format!("SHA-256 final : {}", doc.final_sha256),
                small,
                Direction::Ltr,
            ),
            10.0,
        ));
        out.push(block(items, true));
    }
    out.push(block(
        vec![(
            layout::shape(
                "Circuit et actions — المسار والإجراءات",
                section,
                Direction::Ltr,
            ),
            0.0,
        )],
        false,
    ));
    for e in &d.entries {
        let head = if e.step.is_empty() {
            format!("{} — {}", e.action_fr, e.action_ar)
        } else {
            format!("{} · {} — {}", e.step, e.action_fr, e.action_ar)
        };
        let mut items = wrapped(&head, bold, 0.0);
        items.extend(wrapped(&format!("{} — {}", e.actor, e.at), value, 10.0));
        if let Some(b) = &e.on_behalf_of {
            items.extend(wrapped(
                &format!("Par délégation de {b} (on behalf of {b}) — بالنيابة عن {b}"),
                value,
                10.0,
            ));
        }
        if let Some(sig) = &e.signer {
            items.extend(wrapped(&format!("Certificat : {sig}"), small, 10.0));
        }
        if let Some(c) = &e.comment {
            items.extend(wrapped(&format!("« {c} »"), value, 10.0));
        }
        if let Some(h) = &e.hash_before {
            items.push((
                layout::shape(&format!("Avant : {h}"), small, Direction::Ltr),
                10.0,
            ));
        }
        if let Some(h) = &e.hash_after {
            items.push((
                layout::shape(&format!("Après : {h}"), small, Direction::Ltr),
                10.0,
            ));
        }
        out.push(block(items, true));
    }
    out
}

/// Renders the certificate.
pub fn render(d: &EvidenceData) -> Result<Vec<u8>> {
    layout::check_fonts()?;
    let all = blocks(d);
    let top = 118.0;
    // Pass 1: page breaks.
    let mut pages: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    let mut y = top;
    for (i, b) in all.iter().enumerate() {
        if y + b.height > BOTTOM && i > start {
            pages.push(start..i);
            start = i;
            y = top;
        }
        y += b.height;
    }
    pages.push(start..all.len());
    let m = pages.len();
    let mut doc = Document::new();
    let size = PageSettings::from_wh(W, H).ok_or_else(|| PdfError::Write("page size".into()))?;
    for (p, range) in pages.iter().enumerate() {
        let mut page = doc.start_page_with(size.clone());
        let mut s = page.surface();
        let mut y = header(&mut s, d, p + 1, m).max(top);
        for b in &all[range.clone()] {
            let mut ly = y + LEAD;
            for (l, indent) in &b.lines {
                layout::draw(
                    &mut s,
                    l,
                    M + indent,
                    ly,
                    W - 2.0 * M - indent,
                    Align::Start,
                );
                ly += LEAD;
            }
            y += b.height;
            if b.rule {
                rect(&mut s, M, y - 3.0, W - 2.0 * M, 0.5, RULE);
            }
        }
        s.finish();
        page.finish();
    }
    doc.set_metadata(
        Metadata::new()
            .title(format!("Bordereau de signature — {}", d.title))
            .producer("Diwan".into())
            .creator("Diwan".into())
            .language("fr".into()),
    );
    doc.finish().map_err(|e| PdfError::Write(format!("{e:?}")))
}

/// A realistic sample, for tests and previews.
pub fn sample() -> EvidenceData {
    let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_string();
    EvidenceData {
        administration_fr:
            "Ministère de la Transition numérique et de la Réforme de l'administration".into(),
        administration_ar: "وزارة الانتقال الرقمي وإصلاح الإدارة".into(),
        folder_id: "0190b8b4-0000-7000-8000-000000000000".into(),
        title: "Décision portant délégation de signature".into(),
        document_type: "decision".into(),
        author: "Omar Tazi".into(),
        created: "28/11/2026 10:02".into(),
        completed: "28/11/2026 16:40".into(),
        documents: vec![EvidenceDocument {
            name: "decision.pdf".into(),
            role: "Document principal".into(),
            original_sha256: hash.clone(),
            final_sha256: hash.clone(),
        }],
        entries: (0..14)
            .map(|i| EvidenceEntry {
                step: format!("Étape {}", i / 2 + 1),
                action_fr: "Signature".into(),
                action_ar: "توقيع".into(),
                actor: "Nadia El Fassi".into(),
                on_behalf_of: (i == 3).then(|| "Mohammed Bennani".into()),
                at: "28/11/2026 12:00".into(),
                signer: Some("CN=Nadia El Fassi, O=MTNRA".into()),
                comment: (i == 1).then(|| "Vu, bon pour signature — اطلعت عليه".into()),
                hash_before: Some(hash.clone()),
                hash_after: Some(hash.clone()),
            })
            .collect(),
        generated: time::OffsetDateTime::UNIX_EPOCH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_several_pages() {
        let pdf = render(&sample()).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(crate::tests::page_count(&pdf).unwrap() >= 2);
        let mut short = sample();
        short.entries.truncate(1);
        assert_eq!(crate::tests::page_count(&render(&short).unwrap()), Some(1));
    }
}
