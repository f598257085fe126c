//! Text for PDF files written by other code (a signature's appearance, added to a document by an
//! incremental update): the content stream of a box of lines, shaped like the rest of Diwan's
//! text (Arabic joined and right to left, bidi-correct mixed lines, Tifinagh), and the font
//! objects it needs, handed to the caller's object writer through [`ObjectSink`].
//!
//! Fonts are Type 0 / CIDFontType2 subsets holding only the glyphs drawn, each with a ToUnicode
//! map, so the text stays extractable and the fragment stays small.

use crate::canvas::Canvas;
use crate::layout::{self, Align, Style};
use crate::Result;

/// Where objects go: the caller numbers them and writes them into its file.
pub trait ObjectSink {
    /// A new object number, written later.
    fn reserve(&mut self) -> usize;
    /// Writes object `n` with a serialised body (a dictionary, an array, ...).
    fn object(&mut self, n: usize, body: &[u8]);
    /// Writes object `n` as a stream; `dict` holds its dictionary's entries except `/Length`.
    fn stream(&mut self, n: usize, dict: &str, data: &[u8]);
}

/// A content stream and the fonts it draws with.
#[derive(Debug, Clone)]
pub struct Form {
    /// The content stream (uncompressed), in the box's coordinates: points from its bottom-left
    /// corner.
    pub content: Vec<u8>,
    /// Font resources: the name the content uses (without the slash) and the object number of
    /// its Type 0 font, already written to the sink.
    pub fonts: Vec<(String, usize)>,
}

/// How lines fill a box.
#[derive(Debug, Clone, Copy)]
pub struct TextBox {
    pub width: f32,
    pub height: f32,
    /// Space kept free on each side, in points.
    pub padding: f32,
    /// The largest font size; smaller when the lines would not fit.
    pub max_size: f32,
    /// The smallest font size (text may then overflow, clipped by the form's bounding box).
    pub min_size: f32,
    /// Baseline-to-baseline distance, as a multiple of the font size.
    pub leading: f32,
}

impl TextBox {
    /// The font size at which `n` lines fit the box's height.
    fn size_for(&self, n: usize) -> f32 {
        let by_height = (self.height - 2.0 * self.padding) / (n.max(1) as f32 * self.leading);
        by_height.min(self.max_size).max(self.min_size)
    }

    /// The size of a line `width_em` wide at size 1: `size`, or less when the line would not
    /// fit the box's width.
    fn line_size(&self, size: f32, width_em: f32) -> f32 {
        if width_em <= 0.0 {
            return size;
        }
        let by_width = (self.width - 2.0 * self.padding) / width_em;
        size.min(by_width).max(self.min_size.min(size))
    }
}

/// Draws `lines` from the top of the box down, each in its own direction (right to left when its
/// first letter is Arabic) and aligned at its start: French on the left, Arabic on the right.
/// One size for all lines, the largest at which they fit the height; a line too wide for the
/// box is drawn smaller. Writes the fonts to `sink`.
pub fn text_box(
    sink: &mut impl ObjectSink,
    frame: TextBox,
    lines: &[String],
    style: Style,
) -> Result<Form> {
    let size = frame.size_for(lines.len());
    let mut canvas = Canvas::compact(frame.width, frame.height);
    let inner = frame.width - 2.0 * frame.padding;
    let mut y = frame.padding + size;
    for text in lines {
        let mut line = layout::shape(
            text,
            Style { size: 1.0, ..style },
            layout::direction_of(text),
        );
        line.style = Style {
            size: frame.line_size(size, line.width()),
            ..style
        };
        canvas.text(&line, frame.padding, y, inner, Align::Start);
        y += size * frame.leading;
    }
    let fonts = canvas.write_fonts(sink)?;
    Ok(Form {
        content: canvas.content().to_vec(),
        fonts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Objects kept in memory, numbered from 1.
    #[derive(Default)]
    struct Objects(Vec<(usize, Vec<u8>)>, usize);

    impl ObjectSink for Objects {
        fn reserve(&mut self) -> usize {
            self.1 += 1;
            self.1
        }
        fn object(&mut self, n: usize, body: &[u8]) {
            self.0.push((n, body.to_vec()));
        }
        fn stream(&mut self, n: usize, dict: &str, data: &[u8]) {
            let mut body = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
            body.extend_from_slice(data);
            self.0.push((n, body));
        }
    }

    #[test]
    fn arabic_and_latin_lines_get_compact_fonts_with_their_text() {
        let mut sink = Objects::default();
        let frame = TextBox {
            width: 172.0,
            height: 64.0,
            padding: 4.0,
            max_size: 11.0,
            min_size: 4.0,
            leading: 1.25,
        };
        let lines = ["Signé par Salma".to_string(), "وقع من طرف سلمى".to_string()];
        let form = text_box(&mut sink, frame, &lines, Style::new(10.0)).unwrap();
        // Two faces: Noto Sans and Noto Naskh Arabic.
        assert_eq!(form.fonts.len(), 2);
        let text = String::from_utf8_lossy(&form.content).into_owned();
        assert!(text.contains("/F0 ") && text.contains("/F2 "), "{text}");
        let all: Vec<u8> = sink.0.iter().flat_map(|(_, b)| b.clone()).collect();
        let all = String::from_utf8_lossy(&all);
        // The Arabic font's ToUnicode maps glyphs back to letters (س is U+0633).
        assert!(all.contains("0633"), "no ToUnicode entry for sin");
        assert!(all.contains("/ToUnicode"));
        // Subsets of the glyphs drawn only: a few kilobytes, not the shared repertoires.
        assert!(all.len() < 40_000, "{} bytes", all.len());
        // The Arabic line is right-aligned: its text matrix starts right of the middle.
        let arabic_x = text
            .split("/F2 ")
            .nth(1)
            .and_then(|r| r.split(" 1 0 0 1 ").nth(1))
            .and_then(|r| r.split(' ').next())
            .and_then(|x| x.parse::<f32>().ok())
            .unwrap();
        assert!(arabic_x > 60.0, "{arabic_x}");
    }

    #[test]
    fn lines_fit_the_height_and_long_ones_the_width() {
        let frame = TextBox {
            width: 100.0,
            height: 58.0,
            padding: 4.0,
            max_size: 11.0,
            min_size: 4.0,
            leading: 1.25,
        };
        assert_eq!(frame.size_for(2), 11.0);
        assert!((frame.size_for(6) - 50.0 / 7.5).abs() < 0.01);
        assert_eq!(frame.size_for(100), 4.0);
        assert_eq!(frame.line_size(11.0, 5.0), 11.0);
        assert!((frame.line_size(11.0, 23.0) - 4.0).abs() < 0.01);
        assert_eq!(frame.line_size(11.0, 1000.0), 4.0);
        assert_eq!(frame.line_size(3.0, 1000.0), 3.0);
    }
}
