//! Appearance streams of visible signatures: a framed box with lines of text, written as a Form
//! XObject. A block whose text the standard Helvetica font can show (WinAnsi: French and the
//! rest of Latin-1) uses it, and embeds nothing. Any other block (Arabic, Tifinagh, mixed) is
//! drawn by `diwan-pdf`'s layout: shaped, each line in its own direction (Arabic right to left and
//! right-aligned, French on the left), with subsets of the vendored Noto fonts holding only the
//! glyphs drawn, ToUnicode maps keeping the text extractable.

use crate::object::{Dict, Obj, StreamData};
use crate::update::Update;
use crate::{PdfError, Result};
use diwan_pdf::form::{self, ObjectSink, TextBox};
use diwan_pdf::layout::Style;

/// The WinAnsi code of a character Helvetica shows, if any.
fn winansi_char(c: char) -> Option<u8> {
    Some(match c {
        '—' => 0x97,
        '–' => 0x96,
        '’' => 0x92,
        '‘' => 0x91,
        '“' => 0x93,
        '”' => 0x94,
        '…' => 0x85,
        '€' => 0x80,
        'œ' => 0x9C,
        'Œ' => 0x8C,
        // Latin-1: the same codes.
        c if matches!(c, ' '..='~' | '\u{a0}'..='\u{ff}') => c as u8,
        _ => return None,
    })
}

/// The text colour and the frame's.
const TEXT: (u8, u8, u8) = (0x1b, 0x24, 0x30);
const FRAME: &[u8] = b"0.043 0.365 0.231 RG";

/// Objects of `diwan-pdf`'s fonts, written into the update.
struct Objects<'a>(&'a mut Update);

impl ObjectSink for Objects<'_> {
    fn reserve(&mut self) -> usize {
        self.0.alloc() as usize
    }
    fn object(&mut self, n: usize, body: &[u8]) {
        self.0.put_raw(n as u32, 0, body.to_vec());
    }
    fn stream(&mut self, n: usize, dict: &str, data: &[u8]) {
        let mut body = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
        body.extend_from_slice(data);
        body.extend_from_slice(b"\nendstream");
        self.0.put_raw(n as u32, 0, body);
    }
}

/// Adds the appearance stream (and its fonts) to the update; returns its object number. `w`×`h`
/// is the block as displayed, on a page turned by `rotate` degrees (its `/Rotate`).
pub fn build(up: &mut Update, w: f32, h: f32, rotate: u16, lines: &[String]) -> Result<u32> {
    let mut content = Vec::new();
    content.extend_from_slice(b"q ");
    content.extend_from_slice(FRAME);
    content.extend_from_slice(
        format!(" 1 w 0.5 0.5 {:.2} {:.2} re S Q\n", w - 1.0, h - 1.0).as_bytes(),
    );
    let latin = lines
        .iter()
        .all(|l| l.chars().all(|c| winansi_char(c).is_some()));
    let fonts = if latin {
        helvetica(up, &mut content, h, lines)
    } else {
        let frame = TextBox {
            width: w,
            height: h,
            padding: 4.0,
            max_size: 11.0,
            min_size: 4.0,
            leading: 1.25,
        };
        let style = Style::new(10.0).color(TEXT.0, TEXT.1, TEXT.2);
        let f = form::text_box(&mut Objects(up), frame, lines, style)
            .map_err(|e| PdfError::Invalid(format!("signature appearance: {e}")))?;
        content.extend_from_slice(&f.content);
        let mut fonts = Dict::default();
        for (name, n) in f.fonts {
            fonts.set(name.as_bytes(), Obj::Ref(n as u32, 0));
        }
        fonts
    };
    let ap = up.alloc();
    let mut d = Dict::default();
    d.set(b"Type", Obj::Name(b"XObject".to_vec()));
    d.set(b"Subtype", Obj::Name(b"Form".to_vec()));
    d.set(
        b"BBox",
        Obj::Array(vec![
            Obj::Int(0),
            Obj::Int(0),
            Obj::Real(f64::from(w)),
            Obj::Real(f64::from(h)),
        ]),
    );
    if rotate != 0 {
        // Turned counter-clockwise by the page's rotation, so that the page's clockwise turn on
        // display leaves it upright; the viewer fits the turned box to the widget's rectangle
        // (ISO 32000-2 §12.5.5).
        let (sin, cos) = match rotate {
            90 => (1, 0),
            180 => (0, -1),
            _ => (-1, 0),
        };
        d.set(
            b"Matrix",
            Obj::Array(
                [cos, sin, -sin, cos, 0, 0]
                    .into_iter()
                    .map(Obj::Int)
                    .collect(),
            ),
        );
    }
    let mut res = Dict::default();
    res.set(b"Font", Obj::Dict(fonts));
    d.set(b"Resources", Obj::Dict(res));
    up.put(ap, 0, &Obj::Stream(d, StreamData::Bytes(content)));
    Ok(ap)
}

/// Lines in Helvetica (WinAnsi), left-aligned; returns the font resources.
fn helvetica(up: &mut Update, content: &mut Vec<u8>, h: f32, lines: &[String]) -> Dict {
    let font = up.alloc();
    let mut fd = Dict::default();
    fd.set(b"Type", Obj::Name(b"Font".to_vec()));
    fd.set(b"Subtype", Obj::Name(b"Type1".to_vec()));
    fd.set(b"BaseFont", Obj::Name(b"Helvetica".to_vec()));
    fd.set(b"Encoding", Obj::Name(b"WinAnsiEncoding".to_vec()));
    up.put(font, 0, &Obj::Dict(fd));
    let n = lines.len().max(1) as f32;
    let size = ((h - 8.0) / (n * 1.25)).clamp(5.0, 11.0);
    content.extend_from_slice(
        format!(
            "BT /F1 {size:.2} Tf 0.106 0.141 0.188 rg {:.2} TL 5 {:.2} Td\n",
            size * 1.25,
            h - 4.0 - size
        )
        .as_bytes(),
    );
    for l in lines {
        let text: Vec<u8> = l.chars().filter_map(winansi_char).collect();
        crate::object::write_obj(&Obj::Str(text), content);
        content.extend_from_slice(b" Tj T*\n");
    }
    content.extend_from_slice(b"ET\n");
    let mut fonts = Dict::default();
    fonts.set(b"F1", Obj::Ref(font, 0));
    fonts
}

#[cfg(test)]
mod tests {
    use super::winansi_char;

    #[test]
    fn helvetica_only_for_what_winansi_encodes() {
        let encodes = |s: &str| s.chars().all(|c| winansi_char(c).is_some());
        assert!(encodes("Signé par Éloïse Lefèvre — « Visa » 12,50 €"));
        assert_eq!(winansi_char('é'), Some(0xE9));
        assert_eq!(winansi_char('—'), Some(0x97));
        assert!(!encodes("وقع من طرف سلمى"));
        assert!(!encodes("ⵜⴰⵎⴰⵣⵉⵖⵜ"));
        assert!(!encodes("Łukasz"));
        assert!(!encodes("tab\there"));
    }
}
