//! Diwan's PDF documents: the acknowledgement of receipt (and, for the correspondence service and
//! the signature book, registers, cover slips and signature certificates), written with
//! [krilla](https://docs.rs/krilla) on top of our own multilingual text layout ([`layout`]): French,
//! Arabic (shaped, right to left, bidi-correct with numbers and Latin) and Amazigh in Tifinagh.
//!
//! Why krilla plus our own layout: krilla writes compact, valid PDF with font subsetting and
//! ToUnicode maps (text stays searchable and extractable), and lets us place shaped glyphs
//! ourselves; shaping is rustybuzz (HarfBuzz's algorithm), bidi is `unicode-bidi` (UAX #9).
//! The receipt, produced with every filing, is written by [`canvas`] instead: the same layout,
//! with font subsets prepared once per process rather than once per document.

pub mod canvas;
pub mod evidence;
pub mod form;
pub mod layout;
pub mod letter;
pub mod qr;
pub mod receipt;
pub mod register;
pub mod slip;

/// Errors of PDF generation.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the vendored fonts could not be loaded")]
    Fonts,
    #[error("PDF writing failed: {0}")]
    Write(String),
    #[error("QR code: {0}")]
    Qr(String),
}

pub type Result<T, E = PdfError> = std::result::Result<T, E>;

#[cfg(test)]
pub(crate) mod tests {
    /// The page count of a krilla PDF (its page tree's count is written uncompressed).
    pub fn page_count(pdf: &[u8]) -> Option<u32> {
        let t = String::from_utf8_lossy(pdf);
        t.split("/Count ").nth(1).and_then(|r| {
            r.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u32>()
                .ok()
        })
    }
}
