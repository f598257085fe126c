//! Finding text in a PDF: where a placeholder tag (`#signature#`, `[[SIGN_DG]]`…) is drawn, so
//! a visible signature block can be placed on it.
//!
//! [`find_text`] interprets each page's content streams (ISO 32000-2 §8 and §9): the graphics
//! state stack and `cm`, the text state (`Tf`, `Tc`, `Tw`, `Tz`, `TL`, `Ts`), text positioning
//! (`Tm`, `Td`, `TD`, `T*`), the showing operators (`Tj`, `TJ` with its adjustments, `'`, `"`) and
//! form XObjects invoked with `Do`. Glyph widths come from the fonts (`/Widths` and `/FirstChar`
//! of simple fonts, `/W` and `/DW` of CID fonts, built-in metrics for the standard fonts
//! Helvetica, Times and Courier when `/Widths` is missing); text is decoded to Unicode through
//! `/ToUnicode` CMaps (`bfchar`, `bfrange`, `codespacerange`) or the simple fonts' encodings
//! (WinAnsi, Standard, MacRoman, with `/Differences`).
//!
//! The text of a page is the concatenation of its glyphs in content order, so a tag split over
//! several operators (as producers often do) is still found; a visible gap between glyphs counts
//! as a space and a change of line as a line break, and runs of white space in the tag match
//! any white space.
//!
//! Placing a signature block at a tag:
//!
//! ```no_run
//! # fn demo(pdf: &[u8]) -> diwan_pades::Result<()> {
//! use diwan_pades::{find_text, SignOptions, Level, Visible};
//! let hit = find_text(pdf, "#signature#")?
//!     .ok_or(diwan_pades::PdfError::Invalid("no #signature# tag".into()))?;
//! let mut opts = SignOptions::new(Level::BB);
//! // 200×70 points, top-left corner on the tag's top-left, kept inside the page.
//! opts.visible = Some(Visible::at_tag(&hit, 200.0, 70.0, vec!["Signé par …".into()]));
//! # Ok(()) }
//! ```

use crate::object::{Dict, Obj, Parser};
use crate::reader::{Reader, Source};
use crate::{PdfError, Result};
use std::collections::HashMap;
use std::rc::Rc;

/// Where a text was found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextHit {
    /// 1-based page number.
    pub page: usize,
    /// Bounding box of the text `[x1, y1, x2, y2]` in the page's default user space (points,
    /// `x1 < x2`, `y1 < y2`), from the fonts' descent to their ascent.
    pub rect: [f32; 4],
    /// The page's visible area `[x1, y1, x2, y2]` (its CropBox within its MediaBox).
    pub page_box: [f32; 4],
    /// How the page is turned when displayed: its `/Rotate`, 0, 90, 180 or 270 degrees
    /// clockwise. "Top", "left" and "down" as a reader sees them depend on it.
    pub rotate: u16,
}

impl TextHit {
    /// The page the text is on, as displayed.
    pub fn view(&self) -> PageView {
        PageView {
            page_box: self.page_box,
            rotate: self.rotate,
        }
    }

    /// The same text moved `by` points down the page as displayed (for a block below another).
    pub fn moved_down(&self, by: f32) -> TextHit {
        let view = self.view();
        let [x1, y1, x2, y2] = view.to_displayed(self.rect);
        TextHit {
            rect: view.to_user([x1, y1 - by, x2, y2 - by]),
            ..*self
        }
    }
}

/// A page as a reader sees it: its visible area in user space and how it is turned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageView {
    /// The visible area `[x1, y1, x2, y2]` (CropBox within MediaBox), in user space.
    pub page_box: [f32; 4],
    /// The page's `/Rotate`: 0, 90, 180 or 270 degrees clockwise.
    pub rotate: u16,
}

impl PageView {
    /// Every page of a document, in order.
    pub fn all(pdf: &[u8]) -> Result<Vec<PageView>> {
        let reader = Reader::open(Box::<[u8]>::from(pdf))?;
        reader
            .pages()?
            .iter()
            .map(|(_, page)| PageView::of(&reader, page))
            .collect()
    }

    /// A page of an opened document (its dictionary with inherited attributes filled in).
    pub(crate) fn of<S: Source + ?Sized>(reader: &Reader<S>, page: &Dict) -> Result<PageView> {
        Ok(PageView {
            page_box: page_box(reader, page)?,
            rotate: page_rotation(reader, page),
        })
    }

    /// The page's width and height as displayed.
    pub fn displayed_size(&self) -> (f32, f32) {
        let [bx1, by1, bx2, by2] = self.page_box;
        match self.rotate {
            90 | 270 => (by2 - by1, bx2 - bx1),
            _ => (bx2 - bx1, by2 - by1),
        }
    }

    /// A rectangle of user space as a reader sees the page: from its displayed bottom-left
    /// corner, x to the right and y up. The inverse of [`PageView::to_user`].
    pub fn to_displayed(&self, r: [f32; 4]) -> [f32; 4] {
        let [bx1, by1, bx2, by2] = self.page_box;
        let point = |x: f32, y: f32| match self.rotate {
            90 => (y - by1, bx2 - x),
            180 => (bx2 - x, by2 - y),
            270 => (by2 - y, x - bx1),
            _ => (x - bx1, y - by1),
        };
        corners(point(r[0], r[1]), point(r[2], r[3]))
    }

    /// A rectangle given as a reader sees the page — from its displayed bottom-left corner, x
    /// to the right and y up — in user space, where signature blocks and annotations are placed.
    pub fn to_user(&self, r: [f32; 4]) -> [f32; 4] {
        let [bx1, by1, bx2, by2] = self.page_box;
        let point = |dx: f32, dy: f32| match self.rotate {
            90 => (bx2 - dy, by1 + dx),
            180 => (bx2 - dx, by2 - dy),
            270 => (bx1 + dy, by2 - dx),
            _ => (bx1 + dx, by1 + dy),
        };
        corners(point(r[0], r[1]), point(r[2], r[3]))
    }
}

/// The rectangle two opposite corners span.
fn corners((ax, ay): (f32, f32), (bx, by): (f32, f32)) -> [f32; 4] {
    [ax.min(bx), ay.min(by), ax.max(bx), ay.max(by)]
}

/// A signature field's widget as placed on a page.
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureWidget {
    /// The field's name (`/T`).
    pub field: String,
    /// 1-based page number.
    pub page: usize,
    /// `[x1, y1, x2, y2]` in the page's user space; all zero for an invisible signature.
    pub rect: [f32; 4],
}

/// The signature widgets of a document: page by page, on each page in the order of its
/// annotations (the order the signatures were added).
pub fn signature_widgets(pdf: &[u8]) -> Result<Vec<SignatureWidget>> {
    let reader = Reader::open(Box::<[u8]>::from(pdf))?;
    let mut out = Vec::new();
    for (i, (_, page)) in reader.pages()?.iter().enumerate() {
        let Some(annots) = page.get(b"Annots") else {
            continue;
        };
        for a in reader.resolve(annots)?.as_array().into_iter().flatten() {
            let a = reader.resolve(a)?;
            let Some(d) = a.as_dict() else { continue };
            let is_sig = |d: &Dict| d.get(b"FT").and_then(Obj::as_name) == Some(&b"Sig"[..]);
            // The field may be the widget itself or its parent.
            let parent = match d.get(b"Parent") {
                Some(p) => reader.resolve(p)?.as_dict().cloned(),
                None => None,
            };
            let field = if is_sig(d) {
                d
            } else {
                match parent.as_ref() {
                    Some(p) if is_sig(p) => p,
                    _ => continue,
                }
            };
            let name = match field.get(b"T") {
                Some(Obj::Str(t)) => crate::object::decode_text(t),
                _ => String::new(),
            };
            out.push(SignatureWidget {
                field: name,
                page: i + 1,
                rect: rect_of(&reader, d.get(b"Rect"))?.unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// A page's `/Rotate` (inherited attributes filled in by the reader), as 0, 90, 180 or 270; a
/// value that is not a multiple of 90 is ignored, as readers do.
fn page_rotation<S: Source + ?Sized>(reader: &Reader<S>, page: &Dict) -> u16 {
    let r = page
        .get(b"Rotate")
        .and_then(|o| reader.resolve(o).ok())
        .and_then(|o| o.as_int())
        .unwrap_or(0);
    match r.rem_euclid(360) {
        d @ (90 | 180 | 270) => d as u16,
        _ => 0,
    }
}

/// The first occurrence of `needle` in the document, in page order.
pub fn find_text(pdf: &[u8], needle: &str) -> Result<Option<TextHit>> {
    let reader = Reader::open(Box::<[u8]>::from(pdf))?;
    find_text_in(&reader, needle)
}

/// Like [`find_text`], on an opened document (e.g. a [`crate::reader::FileSource`]).
pub fn find_text_in<S: Source + ?Sized>(
    reader: &Reader<S>,
    needle: &str,
) -> Result<Option<TextHit>> {
    if reader.is_encrypted() {
        return Err(PdfError::Encrypted);
    }
    let needle = normalise_needle(needle);
    if needle.is_empty() {
        return Err(PdfError::Invalid("the text to find is empty".into()));
    }
    let mut fonts = FontCache::default();
    for (i, (_, page)) in reader.pages()?.iter().enumerate() {
        let glyphs = page_glyphs(reader, page, &mut fonts)?;
        if let Some(rect) = search(&glyphs, &needle) {
            let view = PageView::of(reader, page)?;
            return Ok(Some(TextHit {
                page: i + 1,
                rect,
                page_box: view.page_box,
                rotate: view.rotate,
            }));
        }
    }
    Ok(None)
}

/// The text of a page in content order (for diagnostics and tests).
pub fn page_text<S: Source + ?Sized>(reader: &Reader<S>, page: usize) -> Result<String> {
    if reader.is_encrypted() {
        return Err(PdfError::Encrypted);
    }
    let pages = reader.pages()?;
    let (_, p) = pages
        .get(page.wrapping_sub(1))
        .ok_or_else(|| PdfError::Invalid(format!("page {page} does not exist")))?;
    let glyphs = page_glyphs(reader, p, &mut FontCache::default())?;
    Ok(glyphs.iter().map(|g| g.ch).collect())
}

fn rect_of<S: Source + ?Sized>(reader: &Reader<S>, o: Option<&Obj>) -> Result<Option<[f32; 4]>> {
    let Some(o) = o else { return Ok(None) };
    let o = reader.resolve(o)?;
    let v: Vec<f64> = o
        .as_array()
        .map(|a| a.iter().filter_map(Obj::as_f64).collect())
        .unwrap_or_default();
    let [a, b, c, d] = v[..] else { return Ok(None) };
    Ok(Some([
        a.min(c) as f32,
        b.min(d) as f32,
        a.max(c) as f32,
        b.max(d) as f32,
    ]))
}

fn page_box<S: Source + ?Sized>(reader: &Reader<S>, page: &Dict) -> Result<[f32; 4]> {
    let media = rect_of(reader, page.get(b"MediaBox"))?.unwrap_or([0.0, 0.0, 612.0, 792.0]);
    Ok(match rect_of(reader, page.get(b"CropBox"))? {
        Some(c) => {
            let r = [
                c[0].max(media[0]),
                c[1].max(media[1]),
                c[2].min(media[2]),
                c[3].min(media[3]),
            ];
            if r[0] < r[2] && r[1] < r[3] {
                r
            } else {
                media
            }
        }
        None => media,
    })
}

// ---------------------------------------------------------------------------------------------
// Matching

/// One character shown on a page, with its box (none for the spaces and line breaks we infer).
#[derive(Debug, Clone, Copy)]
struct Glyph {
    ch: char,
    bbox: Option<[f32; 4]>,
}

fn normalise_needle(s: &str) -> Vec<char> {
    let mut out = Vec::new();
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(w.chars());
    }
    out
}

/// The box of the first occurrence of `needle` (white space normalised) in `glyphs`.
fn search(glyphs: &[Glyph], needle: &[char]) -> Option<[f32; 4]> {
    'start: for start in 0..glyphs.len() {
        if glyphs[start].ch.is_whitespace() {
            continue;
        }
        let mut i = start;
        let mut bbox: Option<[f32; 4]> = None;
        for &n in needle {
            if n == ' ' {
                if !glyphs.get(i).is_some_and(|g| g.ch.is_whitespace()) {
                    continue 'start;
                }
                while glyphs.get(i).is_some_and(|g| g.ch.is_whitespace()) {
                    i += 1;
                }
                continue;
            }
            match glyphs.get(i) {
                Some(g) if g.ch == n => {
                    if let Some(b) = g.bbox {
                        bbox = Some(match bbox {
                            None => b,
                            Some(a) => [
                                a[0].min(b[0]),
                                a[1].min(b[1]),
                                a[2].max(b[2]),
                                a[3].max(b[3]),
                            ],
                        });
                    }
                    i += 1;
                }
                _ => continue 'start,
            }
        }
        if bbox.is_some() {
            return bbox;
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Content streams

type Matrix = [f64; 6];
const IDENTITY: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

/// `a × b` (PDF row-vector convention: `a` applies first).
fn mul(a: &Matrix, b: &Matrix) -> Matrix {
    [
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
        a[4] * b[0] + a[5] * b[2] + b[4],
        a[4] * b[1] + a[5] * b[3] + b[5],
    ]
}

fn apply(m: &Matrix, x: f64, y: f64) -> (f64, f64) {
    (x * m[0] + y * m[2] + m[4], x * m[1] + y * m[3] + m[5])
}

fn translate(tx: f64, ty: f64) -> Matrix {
    [1.0, 0.0, 0.0, 1.0, tx, ty]
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Operand(Obj),
    Op(Vec<u8>),
}

/// Content stream tokens (ISO 32000-2 §7.8.2), inline images skipped. Stops at a syntax error
/// (as viewers do, keeping what came before).
struct Lexer<'a> {
    p: Parser<'a>,
}

impl<'a> Lexer<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self {
            p: Parser::new(data, 0),
        }
    }

    fn next_token(&mut self) -> Option<Token> {
        loop {
            self.p.skip_ws();
            let b = self.p.peek()?;
            match b {
                b'/' | b'(' | b'<' | b'[' | b'0'..=b'9' | b'+' | b'-' | b'.' => {
                    return self.p.object(0).ok().map(Token::Operand);
                }
                b']' | b')' | b'>' | b'{' | b'}' => self.p.pos += 1,
                _ => {
                    let t = self.p.token();
                    if t.is_empty() {
                        self.p.pos += 1;
                        continue;
                    }
                    return Some(match t {
                        b"true" => Token::Operand(Obj::Bool(true)),
                        b"false" => Token::Operand(Obj::Bool(false)),
                        b"null" => Token::Operand(Obj::Null),
                        b"BI" => {
                            self.skip_inline_image();
                            continue;
                        }
                        _ => Token::Op(t.to_vec()),
                    });
                }
            }
        }
    }

    /// After `BI`: the image dictionary, `ID`, the data, `EI`.
    fn skip_inline_image(&mut self) {
        let data = self.p.data;
        let Some(id) = data[self.p.pos..]
            .windows(2)
            .position(|w| w == b"ID")
            .map(|i| self.p.pos + i + 3)
        else {
            self.p.pos = data.len();
            return;
        };
        let ws = |b: Option<&u8>| b.is_none_or(|b| b.is_ascii_whitespace());
        let mut i = id.min(data.len());
        while i + 2 <= data.len() {
            if &data[i..i + 2] == b"EI" && ws(data.get(i.wrapping_sub(1))) && ws(data.get(i + 2)) {
                self.p.pos = i + 2;
                return;
            }
            i += 1;
        }
        self.p.pos = data.len();
    }
}

#[derive(Clone)]
struct GState {
    ctm: Matrix,
    font: Option<Rc<Font>>,
    size: f64,
    char_spacing: f64,
    word_spacing: f64,
    scale: f64,
    leading: f64,
    rise: f64,
}

struct Interp<'r, S: Source + ?Sized> {
    reader: &'r Reader<S>,
    fonts: &'r mut FontCache,
    out: Vec<Glyph>,
    /// The text rendering matrix where the previous glyph ended, to infer spaces.
    last: Option<Matrix>,
    ops: usize,
}

const MAX_OPS: usize = 5_000_000;
/// Cap on the entries of a width table or a CMap (a CID font has at most 65,536 glyphs).
const MAX_MAP_ENTRIES: usize = 1 << 20;
const MAX_FORM_DEPTH: usize = 8;

fn page_glyphs<S: Source + ?Sized>(
    reader: &Reader<S>,
    page: &Dict,
    fonts: &mut FontCache,
) -> Result<Vec<Glyph>> {
    let mut content = Vec::new();
    let contents = match page.get(b"Contents") {
        Some(c) => reader.resolve(c)?,
        None => Obj::Null,
    };
    let streams: Vec<Obj> = match contents {
        Obj::Array(a) => a,
        Obj::Null => vec![],
        o => vec![o],
    };
    for s in streams {
        let s = reader.resolve(&s)?;
        if matches!(s, Obj::Stream(..)) {
            content.extend(decode(reader, &s)?);
            content.push(b'\n');
        }
    }
    let resources = match page.get(b"Resources") {
        Some(r) => reader.resolve(r)?.as_dict().cloned().unwrap_or_default(),
        None => Dict::default(),
    };
    let mut it = Interp {
        reader,
        fonts,
        out: Vec::new(),
        last: None,
        ops: 0,
    };
    let gs = GState {
        ctm: IDENTITY,
        font: None,
        size: 0.0,
        char_spacing: 0.0,
        word_spacing: 0.0,
        scale: 1.0,
        leading: 0.0,
        rise: 0.0,
    };
    it.run(&content, &resources, gs, 0)?;
    Ok(it.out)
}

fn num(o: Option<&Obj>) -> f64 {
    o.and_then(Obj::as_f64)
        .filter(|v| v.is_finite())
        .unwrap_or(0.0)
}

impl<S: Source + ?Sized> Interp<'_, S> {
    fn run(&mut self, content: &[u8], resources: &Dict, gs: GState, depth: usize) -> Result<()> {
        let mut lex = Lexer::new(content);
        let mut stack: Vec<GState> = Vec::new();
        let mut gs = gs;
        let mut operands: Vec<Obj> = Vec::new();
        let mut tm = IDENTITY;
        let mut tlm = IDENTITY;
        while let Some(tok) = lex.next_token() {
            let op = match tok {
                Token::Operand(o) => {
                    if operands.len() < 64 {
                        operands.push(o);
                    }
                    continue;
                }
                Token::Op(op) => op,
            };
            self.ops += 1;
            if self.ops > MAX_OPS {
                return Err(PdfError::Unsupported(
                    "a page with too many content operators".into(),
                ));
            }
            let n = |i: usize| num(operands.get(i));
            let six = || -> Option<Matrix> {
                (operands.len() >= 6).then(|| {
                    let k = operands.len() - 6;
                    [n(k), n(k + 1), n(k + 2), n(k + 3), n(k + 4), n(k + 5)]
                })
            };
            match op.as_slice() {
                b"q" if stack.len() < 256 => stack.push(gs.clone()),
                b"Q" => {
                    if let Some(g) = stack.pop() {
                        gs = g;
                    }
                }
                b"cm" => {
                    if let Some(m) = six() {
                        gs.ctm = mul(&m, &gs.ctm);
                    }
                }
                b"BT" => {
                    tm = IDENTITY;
                    tlm = IDENTITY;
                }
                b"Tf" => {
                    if let (Some(Obj::Name(name)), Some(size)) = (operands.first(), operands.get(1))
                    {
                        gs.font = self.font(resources, name)?;
                        gs.size = size.as_f64().unwrap_or(0.0);
                    }
                }
                b"Tc" => gs.char_spacing = n(0),
                b"Tw" => gs.word_spacing = n(0),
                b"Tz" => gs.scale = n(0) / 100.0,
                b"TL" => gs.leading = n(0),
                b"Ts" => gs.rise = n(0),
                b"Td" | b"TD" => {
                    if op == b"TD" {
                        gs.leading = -n(1);
                    }
                    tlm = mul(&translate(n(0), n(1)), &tlm);
                    tm = tlm;
                }
                b"Tm" => {
                    if let Some(m) = six() {
                        tlm = m;
                        tm = m;
                    }
                }
                b"T*" => {
                    tlm = mul(&translate(0.0, -gs.leading), &tlm);
                    tm = tlm;
                }
                b"Tj" | b"'" | b"\"" => {
                    if op == b"\"" {
                        gs.word_spacing = n(0);
                        gs.char_spacing = n(1);
                    }
                    if op != b"Tj" {
                        tlm = mul(&translate(0.0, -gs.leading), &tlm);
                        tm = tlm;
                    }
                    if let Some(Obj::Str(s)) = operands.last() {
                        self.show(s, &gs, &mut tm);
                    }
                }
                b"TJ" => {
                    if let Some(Obj::Array(a)) = operands.last() {
                        for e in a {
                            match e {
                                Obj::Str(s) => self.show(s, &gs, &mut tm),
                                o => {
                                    let adj = num(Some(o));
                                    let tx = -adj / 1000.0 * gs.size * gs.scale;
                                    tm = mul(&translate(tx, 0.0), &tm);
                                }
                            }
                        }
                    }
                }
                b"Do" => {
                    if let Some(Obj::Name(name)) = operands.first() {
                        self.form(resources, name, &gs, depth)?;
                    }
                }
                _ => {}
            }
            operands.clear();
        }
        Ok(())
    }

    fn resource(&self, resources: &Dict, kind: &[u8], name: &[u8]) -> Result<Option<Obj>> {
        let Some(cat) = resources.get(kind) else {
            return Ok(None);
        };
        let cat = self.reader.resolve(cat)?;
        Ok(cat.as_dict().and_then(|d| d.get(name)).cloned())
    }

    fn font(&mut self, resources: &Dict, name: &[u8]) -> Result<Option<Rc<Font>>> {
        let Some(f) = self.resource(resources, b"Font", name)? else {
            return Ok(None);
        };
        if let Some(r) = f.as_ref() {
            if let Some(font) = self.fonts.0.get(&r) {
                return Ok(Some(font.clone()));
            }
        }
        let dict = self.reader.resolve(&f)?;
        let Some(dict) = dict.as_dict() else {
            return Ok(None);
        };
        let font = Rc::new(Font::load(self.reader, dict)?);
        if let Some(r) = f.as_ref() {
            self.fonts.0.insert(r, font.clone());
        }
        Ok(Some(font))
    }

    fn form(&mut self, resources: &Dict, name: &[u8], gs: &GState, depth: usize) -> Result<()> {
        if depth >= MAX_FORM_DEPTH {
            return Ok(());
        }
        let Some(xref) = self.resource(resources, b"XObject", name)? else {
            return Ok(());
        };
        let x = self.reader.resolve(&xref)?;
        let Some(d) = x.as_dict() else { return Ok(()) };
        if d.name(b"Subtype") != Some(b"Form") {
            return Ok(());
        }
        let data = match xref.as_ref().and_then(|r| self.fonts.1.get(&r)) {
            Some(data) => data.clone(),
            None => {
                let data = Rc::new(decode(self.reader, &x)?);
                if let Some(r) = xref.as_ref() {
                    self.fonts.1.insert(r, data.clone());
                }
                data
            }
        };
        let matrix = d
            .get(b"Matrix")
            .and_then(Obj::as_array)
            .map(|a| a.iter().map(|o| num(Some(o))).collect::<Vec<_>>())
            .and_then(|v| <[f64; 6]>::try_from(v).ok())
            .unwrap_or(IDENTITY);
        let own = match d.get(b"Resources") {
            Some(r) => self.reader.resolve(r)?.as_dict().cloned(),
            None => None,
        };
        let mut inner = gs.clone();
        inner.ctm = mul(&matrix, &gs.ctm);
        self.run(&data, own.as_ref().unwrap_or(resources), inner, depth + 1)
    }

    fn push_virtual(&mut self, ch: char) {
        if self.out.last().is_some_and(|g| g.ch.is_whitespace()) || self.out.is_empty() {
            return;
        }
        self.out.push(Glyph { ch, bbox: None });
    }

    /// Shows a string: one glyph per character code, advancing the text matrix.
    fn show(&mut self, s: &[u8], gs: &GState, tm: &mut Matrix) {
        let Some(font) = gs.font.clone() else { return };
        let mut i = 0;
        while i < s.len() {
            let (code, len) = font.next_code(&s[i..]);
            i += len;
            let w0 = font.width(code, len);
            let trm = mul(
                &mul(&[gs.size * gs.scale, 0.0, 0.0, gs.size, 0.0, gs.rise], tm),
                &gs.ctm,
            );
            self.gap_before(&trm);
            let corners = [
                apply(&trm, 0.0, font.descent),
                apply(&trm, w0, font.descent),
                apply(&trm, 0.0, font.ascent),
                apply(&trm, w0, font.ascent),
            ];
            let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
            for (x, y) in corners {
                b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
            }
            let bbox = [b[0] as f32, b[1] as f32, b[2] as f32, b[3] as f32];
            let text = font.unicode(code, len);
            for ch in text.chars() {
                self.out.push(Glyph {
                    ch,
                    bbox: Some(bbox),
                });
            }
            let word = if len == 1 && code == 32 {
                gs.word_spacing
            } else {
                0.0
            };
            let tx = (w0 * gs.size + gs.char_spacing + word) * gs.scale;
            *tm = mul(&translate(tx, 0.0), tm);
            let end = mul(
                &mul(&[gs.size * gs.scale, 0.0, 0.0, gs.size, 0.0, gs.rise], tm),
                &gs.ctm,
            );
            self.last = Some(end);
        }
    }

    /// Infers a space or a line break between the previous glyph and one starting at `trm`.
    fn gap_before(&mut self, trm: &Matrix) {
        let Some(last) = self.last else { return };
        // The new origin in the previous glyph's text rendering space (ems).
        let Some(inv) = invert(&last) else { return };
        let (dx, dy) = apply(&inv, trm[4], trm[5]);
        if dy.abs() > 0.5 || dx < -1.0 {
            self.push_virtual('\n');
        } else if !(-0.5..=0.15).contains(&dx) {
            self.push_virtual(' ');
        }
    }
}

fn invert(m: &Matrix) -> Option<Matrix> {
    let det = m[0] * m[3] - m[1] * m[2];
    if det.abs() < 1e-12 || !det.is_finite() {
        return None;
    }
    let a = m[3] / det;
    let b = -m[1] / det;
    let c = -m[2] / det;
    let d = m[0] / det;
    Some([a, b, c, d, -(m[4] * a + m[5] * c), -(m[4] * b + m[5] * d)])
}

// ---------------------------------------------------------------------------------------------
// Stream filters

/// Decoded data cap, against decompression bombs.
const MAX_DECODED: usize = 512 << 20;

/// A stream's data through its filters: Flate (with predictors), ASCII85, ASCIIHex, RunLength
/// and LZW, which producers use for content streams (ReportLab: ASCII85 then Flate).
fn decode<S: Source + ?Sized>(reader: &Reader<S>, obj: &Obj) -> Result<Vec<u8>> {
    let dict = obj.as_dict().ok_or(PdfError::Broken("not a stream"))?;
    let one = |o: Option<&Obj>| -> Result<Vec<Obj>> {
        Ok(match o {
            None => vec![],
            Some(o) => match reader.resolve(o)? {
                Obj::Array(a) => a,
                o => vec![o],
            },
        })
    };
    let filters = one(dict.get(b"Filter"))?;
    let parms = one(dict.get(b"DecodeParms"))?;
    let mut data = reader.raw_stream(obj)?;
    for (i, f) in filters.iter().enumerate() {
        let parms = match parms.get(i) {
            Some(p) => reader.resolve(p)?.as_dict().cloned(),
            None => None,
        };
        let name = f.as_name().ok_or(PdfError::Broken("bad /Filter"))?;
        data = match name {
            b"FlateDecode" | b"Fl" => {
                use std::io::Read;
                let mut out = Vec::new();
                flate2::read::ZlibDecoder::new(&data[..])
                    .take(MAX_DECODED as u64)
                    .read_to_end(&mut out)
                    .map_err(|_| PdfError::Broken("a compressed stream cannot be decompressed"))?;
                predict(out, parms.as_ref())?
            }
            b"LZWDecode" | b"LZW" => {
                let early = parms
                    .as_ref()
                    .and_then(|p| p.int(b"EarlyChange"))
                    .unwrap_or(1);
                predict(lzw(&data, early != 0)?, parms.as_ref())?
            }
            b"ASCII85Decode" | b"A85" => ascii85(&data)?,
            b"ASCIIHexDecode" | b"AHx" => ascii_hex(&data)?,
            b"RunLengthDecode" | b"RL" => run_length(&data),
            other => {
                return Err(PdfError::Unsupported(format!(
                    "stream filter {}",
                    String::from_utf8_lossy(other)
                )))
            }
        };
    }
    Ok(data)
}

fn predict(data: Vec<u8>, parms: Option<&Dict>) -> Result<Vec<u8>> {
    match parms {
        Some(p) if p.int(b"Predictor").is_some_and(|v| v > 1) => crate::predictor::decode(&data, p),
        _ => Ok(data),
    }
}

fn ascii85(data: &[u8]) -> Result<Vec<u8>> {
    let bad = || PdfError::Broken("bad ASCII85 data");
    let mut out = Vec::with_capacity(data.len() * 4 / 5);
    let mut group = [0u8; 5];
    let mut n = 0;
    let flush = |group: &[u8; 5], n: usize, out: &mut Vec<u8>| {
        let mut v: u64 = 0;
        for (i, c) in group.iter().enumerate() {
            v = v * 85 + u64::from(if i < n { *c } else { 84 });
        }
        let bytes = (v as u32).to_be_bytes();
        out.extend_from_slice(&bytes[..n - 1]);
    };
    let data = data.strip_prefix(b"<~").unwrap_or(data);
    for &b in data {
        match b {
            b'~' => break,
            b'z' if n == 0 => out.extend_from_slice(&[0; 4]),
            b'!'..=b'u' => {
                group[n] = b - b'!';
                n += 1;
                if n == 5 {
                    flush(&group, 5, &mut out);
                    n = 0;
                }
            }
            b if b.is_ascii_whitespace() || b == 0 => {}
            _ => return Err(bad()),
        }
    }
    match n {
        0 => {}
        1 => return Err(bad()),
        n => flush(&group, n, &mut out),
    }
    Ok(out)
}

fn ascii_hex(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() / 2);
    let mut hi: Option<u8> = None;
    for &b in data {
        let v = match b {
            b'>' => break,
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            b if b.is_ascii_whitespace() || b == 0 => continue,
            _ => return Err(PdfError::Broken("bad ASCIIHex data")),
        };
        match hi.take() {
            Some(h) => out.push(h << 4 | v),
            None => hi = Some(v),
        }
    }
    if let Some(h) = hi {
        out.push(h << 4);
    }
    Ok(out)
}

fn run_length(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&len) = data.get(i) {
        i += 1;
        match len {
            128 => break,
            0..=127 => {
                let end = (i + usize::from(len) + 1).min(data.len());
                out.extend_from_slice(&data[i..end]);
                i = end;
            }
            _ => {
                if let Some(&b) = data.get(i) {
                    out.extend(std::iter::repeat_n(b, 257 - usize::from(len)));
                }
                i += 1;
            }
        }
        if out.len() > MAX_DECODED {
            break;
        }
    }
    out
}

fn lzw(data: &[u8], early: bool) -> Result<Vec<u8>> {
    let mut table: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    table.push(vec![]);
    table.push(vec![]);
    let mut out = Vec::new();
    let (mut acc, mut bits, mut width) = (0u32, 0u32, 9u32);
    let mut prev: Option<Vec<u8>> = None;
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= width {
            let code = ((acc >> (bits - width)) & ((1 << width) - 1)) as usize;
            bits -= width;
            acc &= (1 << bits) - 1;
            if code == 256 {
                table.truncate(258);
                width = 9;
                prev = None;
                continue;
            }
            if code == 257 {
                return Ok(out);
            }
            let entry = match (table.get(code), &prev) {
                (Some(e), _) => e.clone(),
                (None, Some(p)) if code == table.len() && !p.is_empty() => {
                    let mut e = p.clone();
                    e.push(p[0]);
                    e
                }
                _ => return Err(PdfError::Broken("bad LZW data")),
            };
            out.extend_from_slice(&entry);
            if out.len() > MAX_DECODED {
                return Err(PdfError::Broken("a compressed stream is too large"));
            }
            if let (Some(mut p), Some(&first)) = (prev.take(), entry.first()) {
                if table.len() < 4096 {
                    p.push(first);
                    table.push(p);
                }
            }
            prev = Some(entry);
            let next = table.len() + usize::from(early);
            width = match next {
                0..=511 => 9,
                512..=1023 => 10,
                1024..=2047 => 11,
                _ => 12,
            };
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Fonts

/// Fonts and decoded form XObjects, by object, across the pages.
#[derive(Default)]
struct FontCache(
    HashMap<(u32, u16), Rc<Font>>,
    HashMap<(u32, u16), Rc<Vec<u8>>>,
);

/// A byte range of a codespace (`codespacerange`).
#[derive(Debug, Clone, PartialEq)]
struct CodeRange {
    lo: Vec<u8>,
    hi: Vec<u8>,
}

/// What a CMap says (ToUnicode or an embedded encoding CMap).
#[derive(Debug, Default, Clone, PartialEq)]
struct CMap {
    codespace: Vec<CodeRange>,
    /// (code length, code) → text.
    unicode: HashMap<(usize, u32), String>,
    /// (code length, first, last, first CID).
    cid_ranges: Vec<(usize, u32, u32, u32)>,
}

fn be(b: &[u8]) -> u32 {
    b.iter().take(4).fold(0u32, |a, &x| (a << 8) | u32::from(x))
}

fn utf16(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks(2)
        .map(|c| (u16::from(c[0]) << 8) | u16::from(*c.get(1).unwrap_or(&0)))
        .collect();
    String::from_utf16_lossy(&units)
}

impl CMap {
    fn parse(data: &[u8]) -> CMap {
        let mut m = CMap::default();
        let mut lex = Lexer::new(data);
        let mut operands: Vec<Obj> = Vec::new();
        while let Some(t) = lex.next_token() {
            match t {
                Token::Operand(o) => {
                    operands.push(o);
                    if operands.len() > 100_000 {
                        break;
                    }
                }
                Token::Op(op) => {
                    match op.as_slice() {
                        b"endcodespacerange" => {
                            for p in operands.chunks(2) {
                                if let [Obj::Str(lo), Obj::Str(hi)] = p {
                                    if !lo.is_empty() && lo.len() == hi.len() && lo.len() <= 4 {
                                        m.codespace.push(CodeRange {
                                            lo: lo.clone(),
                                            hi: hi.clone(),
                                        });
                                    }
                                }
                            }
                        }
                        b"endbfchar" => {
                            for p in operands.chunks(2) {
                                match p {
                                    [Obj::Str(src), Obj::Str(dst)] if src.len() <= 4 => {
                                        m.unicode.insert((src.len(), be(src)), utf16(dst));
                                    }
                                    [Obj::Str(src), Obj::Name(n)] if src.len() <= 4 => {
                                        if let Some(c) = glyph_name_char(n) {
                                            m.unicode.insert((src.len(), be(src)), c.to_string());
                                        }
                                    }
                                    _ => {}
                                }
                            }
                        }
                        b"endbfrange" => {
                            for p in operands.chunks(3) {
                                if m.unicode.len() >= MAX_MAP_ENTRIES {
                                    break;
                                }
                                let [Obj::Str(lo), Obj::Str(hi), dst] = p else {
                                    continue;
                                };
                                if lo.len() > 4 || lo.is_empty() {
                                    continue;
                                }
                                let (a, b) = (be(lo), be(hi));
                                if b < a || b - a > 0xffff {
                                    continue;
                                }
                                for (i, code) in (a..=b).enumerate() {
                                    let text = match dst {
                                        Obj::Str(d) if d.len() >= 2 => {
                                            let mut units: Vec<u16> = d
                                                .chunks(2)
                                                .map(|c| {
                                                    (u16::from(c[0]) << 8)
                                                        | u16::from(*c.get(1).unwrap_or(&0))
                                                })
                                                .collect();
                                            if let Some(last) = units.last_mut() {
                                                *last = last.wrapping_add(i as u16);
                                            }
                                            String::from_utf16_lossy(&units)
                                        }
                                        Obj::Array(a) => match a.get(i) {
                                            Some(Obj::Str(d)) => utf16(d),
                                            _ => continue,
                                        },
                                        _ => continue,
                                    };
                                    m.unicode.insert((lo.len(), code), text);
                                }
                            }
                        }
                        b"endcidrange" => {
                            for p in operands.chunks(3) {
                                if let [Obj::Str(lo), Obj::Str(hi), cid] = p {
                                    if let Some(cid) =
                                        cid.as_int().and_then(|c| u32::try_from(c).ok())
                                    {
                                        if !lo.is_empty() && lo.len() <= 4 {
                                            m.cid_ranges.push((lo.len(), be(lo), be(hi), cid));
                                        }
                                    }
                                }
                            }
                        }
                        b"endcidchar" => {
                            for p in operands.chunks(2) {
                                if let [Obj::Str(c), cid] = p {
                                    if let Some(cid) =
                                        cid.as_int().and_then(|c| u32::try_from(c).ok())
                                    {
                                        if !c.is_empty() && c.len() <= 4 {
                                            m.cid_ranges.push((c.len(), be(c), be(c), cid));
                                        }
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                    operands.clear();
                }
            }
        }
        m
    }

    /// Splits the next code off `s` by the codespace ranges (`default` bytes when none match).
    fn split(&self, s: &[u8], default: usize) -> usize {
        for n in 1..=4 {
            if s.len() < n {
                break;
            }
            let fits = self.codespace.iter().any(|r| {
                r.lo.len() == n
                    && s[..n]
                        .iter()
                        .zip(r.lo.iter().zip(&r.hi))
                        .all(|(b, (lo, hi))| lo <= b && b <= hi)
            });
            if fits {
                return n;
            }
        }
        let shortest = self.codespace.iter().map(|r| r.lo.len()).min();
        shortest.unwrap_or(default).clamp(1, s.len().max(1))
    }
}

#[derive(Debug)]
enum Widths {
    /// Simple font: `/FirstChar`, `/Widths` (glyph space units, already scaled to text space
    /// /1000 or by the Type 3 `/FontMatrix`), `/MissingWidth`.
    Simple {
        first: u32,
        widths: Vec<f64>,
        missing: f64,
    },
    /// A standard font without `/Widths`: built-in metrics by Unicode character.
    Builtin(Standard),
    /// CID font: CID → width, `/DW`.
    Cid { widths: HashMap<u32, f64>, dw: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Standard {
    Helvetica,
    HelveticaBold,
    Times,
    TimesBold,
    Courier,
    Other,
}

#[derive(Debug)]
struct Font {
    /// Type0 fonts (multi-byte codes).
    composite: bool,
    /// The encoding CMap of a Type0 font (none for Identity-H/V: 2-byte codes, CID = code).
    encoding_cmap: Option<CMap>,
    to_unicode: Option<CMap>,
    /// Simple fonts: code → character by the font's encoding.
    encoding: Option<Box<[Option<char>; 256]>>,
    widths: Widths,
    /// Ascent and descent in text space units (fractions of the font size).
    ascent: f64,
    descent: f64,
}

fn base_name(d: &Dict) -> Vec<u8> {
    let n = d.name(b"BaseFont").unwrap_or_default();
    match n.iter().position(|&b| b == b'+') {
        Some(6) => n[7..].to_vec(),
        _ => n.to_vec(),
    }
}

fn standard_of(name: &[u8]) -> Standard {
    let s = String::from_utf8_lossy(name).to_ascii_lowercase();
    let bold = s.contains("bold");
    if s.starts_with("helvetica") || s.starts_with("arial") {
        if bold {
            Standard::HelveticaBold
        } else {
            Standard::Helvetica
        }
    } else if s.starts_with("times") {
        if bold {
            Standard::TimesBold
        } else {
            Standard::Times
        }
    } else if s.starts_with("courier") {
        Standard::Courier
    } else {
        Standard::Other
    }
}

impl Font {
    fn load<S: Source + ?Sized>(reader: &Reader<S>, d: &Dict) -> Result<Font> {
        let resolve_dict = |o: Option<&Obj>| -> Result<Option<Dict>> {
            match o {
                Some(o) => Ok(reader.resolve(o)?.as_dict().cloned()),
                None => Ok(None),
            }
        };
        let to_unicode = match d.get(b"ToUnicode") {
            Some(o) => {
                let s = reader.resolve(o)?;
                if matches!(s, Obj::Stream(..)) {
                    Some(CMap::parse(&decode(reader, &s)?))
                } else {
                    None
                }
            }
            None => None,
        };
        let subtype = d.name(b"Subtype").unwrap_or_default();
        if subtype == b"Type0" {
            let desc = match d.get(b"DescendantFonts").map(|o| reader.resolve(o)) {
                Some(Ok(Obj::Array(a))) => resolve_dict(a.first())?.unwrap_or_default(),
                Some(Err(e)) => return Err(e),
                _ => Dict::default(),
            };
            let encoding_cmap = match d.get(b"Encoding").map(|o| reader.resolve(o)) {
                Some(Ok(s @ Obj::Stream(..))) => Some(CMap::parse(&decode(reader, &s)?)),
                Some(Err(e)) => return Err(e),
                _ => None,
            };
            let dw = desc.get(b"DW").and_then(Obj::as_f64).unwrap_or(1000.0) / 1000.0;
            let mut widths = HashMap::new();
            if let Some(w) = desc.get(b"W") {
                let w = reader.resolve(w)?;
                let a = w.as_array().cloned().unwrap_or_default();
                let mut i = 0;
                while i < a.len() {
                    let first = a[i].as_int().unwrap_or(0).max(0) as u32;
                    match (a.get(i + 1), a.get(i + 2)) {
                        (Some(Obj::Array(list)), _) => {
                            for (k, v) in list.iter().enumerate() {
                                widths
                                    .insert(first.saturating_add(k as u32), num(Some(v)) / 1000.0);
                            }
                            i += 2;
                        }
                        (Some(Obj::Ref(..)), _) => {
                            let list = reader.resolve(&a[i + 1])?;
                            for (k, v) in list.as_array().into_iter().flatten().enumerate() {
                                widths
                                    .insert(first.saturating_add(k as u32), num(Some(v)) / 1000.0);
                            }
                            i += 2;
                        }
                        (Some(last), Some(w)) => {
                            let last = last.as_int().unwrap_or(0).max(0) as u32;
                            if last >= first
                                && last - first <= 0x1_0000
                                && widths.len() < MAX_MAP_ENTRIES
                            {
                                for c in first..=last {
                                    widths.insert(c, num(Some(w)) / 1000.0);
                                }
                            }
                            i += 3;
                        }
                        _ => break,
                    }
                }
            }
            let fd = resolve_dict(desc.get(b"FontDescriptor"))?;
            let (ascent, descent) = metrics(fd.as_ref(), Standard::Other);
            return Ok(Font {
                composite: true,
                encoding_cmap,
                to_unicode,
                encoding: None,
                widths: Widths::Cid { widths, dw },
                ascent,
                descent,
            });
        }

        // Simple fonts: Type1, MMType1, TrueType, Type3.
        let standard = standard_of(&base_name(d));
        let fd = resolve_dict(d.get(b"FontDescriptor"))?;
        let (mut ascent, mut descent) = metrics(fd.as_ref(), standard);
        let mut scale = 1.0 / 1000.0;
        if subtype == b"Type3" {
            let fm: Vec<f64> = match d.get(b"FontMatrix") {
                Some(o) => reader
                    .resolve(o)?
                    .as_array()
                    .map(|a| a.iter().map(|x| num(Some(x))).collect())
                    .unwrap_or_default(),
                None => vec![],
            };
            if let [a, _, _, dd, ..] = fm[..] {
                scale = a;
                if let Some(bb) = d.get(b"FontBBox") {
                    let bb: Vec<f64> = reader
                        .resolve(bb)?
                        .as_array()
                        .map(|a| a.iter().map(|x| num(Some(x))).collect())
                        .unwrap_or_default();
                    if let [_, y1, _, y2] = bb[..] {
                        if y2 > y1 {
                            ascent = y2 * dd;
                            descent = y1 * dd;
                        }
                    }
                }
            }
        }
        let widths = match d.get(b"Widths") {
            Some(w) => {
                let w = reader.resolve(w)?;
                let mut ws = Vec::new();
                for x in w.as_array().into_iter().flatten() {
                    let x = reader.resolve(x)?;
                    ws.push(num(Some(&x)) * scale);
                }
                Widths::Simple {
                    first: d.int(b"FirstChar").unwrap_or(0).clamp(0, 255) as u32,
                    widths: ws,
                    missing: fd
                        .as_ref()
                        .and_then(|f| f.get(b"MissingWidth"))
                        .and_then(Obj::as_f64)
                        .unwrap_or(0.0)
                        * scale,
                }
            }
            None => Widths::Builtin(standard),
        };
        let symbolic = fd
            .as_ref()
            .and_then(|f| f.int(b"Flags"))
            .is_some_and(|f| f & 4 != 0 && f & 32 == 0);
        let encoding = simple_encoding(reader, d, subtype, symbolic)?;
        Ok(Font {
            composite: false,
            encoding_cmap: None,
            to_unicode,
            encoding: Some(encoding),
            widths,
            ascent,
            descent,
        })
    }

    /// The next character code of `s` and its length in bytes.
    fn next_code(&self, s: &[u8]) -> (u32, usize) {
        if !self.composite {
            return (u32::from(s[0]), 1);
        }
        let n = match (&self.encoding_cmap, &self.to_unicode) {
            (Some(c), _) if !c.codespace.is_empty() => c.split(s, 2),
            (None, Some(t)) if !t.codespace.is_empty() => t.split(s, 2),
            _ => 2.min(s.len()),
        };
        let n = n.clamp(1, s.len());
        (be(&s[..n]), n)
    }

    fn cid(&self, code: u32, len: usize) -> u32 {
        if let Some(c) = &self.encoding_cmap {
            for &(l, lo, hi, cid) in &c.cid_ranges {
                if l == len && lo <= code && code <= hi {
                    return cid.saturating_add(code - lo);
                }
            }
        }
        code
    }

    /// The glyph's horizontal advance in text space units (fraction of the font size).
    fn width(&self, code: u32, len: usize) -> f64 {
        match &self.widths {
            Widths::Simple {
                first,
                widths,
                missing,
            } => code
                .checked_sub(*first)
                .and_then(|i| widths.get(i as usize))
                .copied()
                .unwrap_or(*missing),
            Widths::Builtin(std) => {
                let ch = self
                    .encoding
                    .as_ref()
                    .and_then(|e| e.get(code as usize).copied().flatten());
                builtin_width(*std, ch)
            }
            Widths::Cid { widths, dw } => {
                let cid = self.cid(code, len);
                widths.get(&cid).copied().unwrap_or(*dw)
            }
        }
    }

    fn unicode(&self, code: u32, len: usize) -> String {
        if let Some(t) = &self.to_unicode {
            if let Some(s) = t.unicode.get(&(len, code)) {
                return s.clone();
            }
            if let Some(s) = (1..=4).find_map(|l| t.unicode.get(&(l, code))) {
                return s.clone();
            }
        }
        if let Some(e) = &self.encoding {
            if let Some(Some(c)) = e.get(code as usize) {
                return c.to_string();
            }
        }
        '\u{FFFD}'.to_string()
    }
}

fn metrics(fd: Option<&Dict>, std: Standard) -> (f64, f64) {
    let (da, dd) = match std {
        Standard::Helvetica | Standard::HelveticaBold => (0.718, -0.207),
        Standard::Times | Standard::TimesBold => (0.683, -0.217),
        Standard::Courier => (0.629, -0.157),
        Standard::Other => (0.9, -0.2),
    };
    let get = |k: &[u8]| {
        fd.and_then(|f| f.get(k))
            .and_then(Obj::as_f64)
            .filter(|v| v.is_finite() && *v != 0.0)
            .map(|v| v / 1000.0)
    };
    let a = get(b"Ascent")
        .filter(|a| *a > 0.0 && *a < 3.0)
        .unwrap_or(da);
    let d = get(b"Descent")
        .filter(|d| *d < 0.0 && *d > -3.0)
        .unwrap_or(dd);
    (a, d)
}

fn simple_encoding<S: Source + ?Sized>(
    reader: &Reader<S>,
    d: &Dict,
    subtype: &[u8],
    symbolic: bool,
) -> Result<Box<[Option<char>; 256]>> {
    let enc = match d.get(b"Encoding") {
        Some(o) => Some(reader.resolve(o)?),
        None => None,
    };
    let (base, diffs) = match &enc {
        Some(Obj::Name(n)) => (Some(n.clone()), None),
        Some(o) => match o.as_dict() {
            Some(ed) => (
                ed.name(b"BaseEncoding").map(<[u8]>::to_vec),
                ed.get(b"Differences").cloned(),
            ),
            None => (None, None),
        },
        None => (None, None),
    };
    let base = base.unwrap_or_else(|| {
        if subtype == b"TrueType" && !symbolic {
            b"WinAnsiEncoding".to_vec()
        } else {
            b"StandardEncoding".to_vec()
        }
    });
    let mut table: Box<[Option<char>; 256]> = Box::new([None; 256]);
    for (code, slot) in table.iter_mut().enumerate() {
        *slot = base_char(&base, code as u8);
    }
    if let Some(diffs) = diffs {
        let diffs = reader.resolve(&diffs)?;
        let mut code: i64 = 0;
        for o in diffs.as_array().into_iter().flatten() {
            match o {
                Obj::Int(i) => code = *i,
                Obj::Name(n) => {
                    if let Ok(c) = usize::try_from(code) {
                        if let Some(slot) = table.get_mut(c) {
                            *slot = glyph_name_char(n);
                        }
                    }
                    code += 1;
                }
                _ => {}
            }
        }
    }
    Ok(table)
}

/// The character of `code` in a base encoding (ISO 32000-2 Annex D).
fn base_char(base: &[u8], code: u8) -> Option<char> {
    match base {
        b"MacRomanEncoding" => match code {
            0x20..=0x7e => Some(char::from(code)),
            0x80..=0xff => MAC_ROMAN.chars().nth(usize::from(code - 0x80)),
            _ => None,
        },
        b"WinAnsiEncoding" => match code {
            0x20..=0x7e => Some(char::from(code)),
            0x80..=0x9f => WIN_ANSI_80
                .chars()
                .nth(usize::from(code - 0x80))
                .filter(|c| *c != '\u{FFFD}'),
            0xa0 => Some(' '),
            0xad => Some('-'),
            0xa1..=0xff => Some(char::from(code)),
            _ => None,
        },
        // StandardEncoding (also the default for Type 1 fonts).
        _ => match code {
            0x27 => Some('\u{2019}'),
            0x60 => Some('\u{2018}'),
            0x20..=0x7e => Some(char::from(code)),
            0xa1..=0xfb => STANDARD_HIGH
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, ch)| *ch),
            _ => None,
        },
    }
}

/// A glyph name's character: the names of Latin letters, digits and punctuation, `uniXXXX` and
/// `uXXXX[XX]`.
fn glyph_name_char(name: &[u8]) -> Option<char> {
    let name = std::str::from_utf8(name).ok()?;
    // `a.sc`, `f_i` (ligatures are left aside: first component).
    let name = name.split('.').next().unwrap_or(name);
    if let Some(hex) = name.strip_prefix("uni") {
        if hex.len() >= 4 {
            return u32::from_str_radix(&hex[..4], 16)
                .ok()
                .and_then(char::from_u32);
        }
    }
    if let Some(hex) = name.strip_prefix('u') {
        if (4..=6).contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
        }
    }
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if c.is_ascii_alphabetic() {
            return Some(c);
        }
    }
    GLYPH_NAMES
        .iter()
        .chain(ACCENTED)
        .find(|(n, _)| *n == name)
        .map(|(_, c)| *c)
}

fn builtin_width(std: Standard, ch: Option<char>) -> f64 {
    let Some(ch) = ch else { return 0.5 };
    if std == Standard::Courier {
        return 0.6;
    }
    let table = match std {
        Standard::Helvetica => &HELVETICA,
        Standard::HelveticaBold => &HELVETICA_BOLD,
        Standard::Times => &TIMES,
        Standard::TimesBold => &TIMES_BOLD,
        _ => return 0.5,
    };
    // Accented Latin letters take their base letter's width.
    let base = ACCENTED
        .iter()
        .find(|(_, c)| *c == ch)
        .and_then(|(n, _)| n.chars().next())
        .unwrap_or(match ch {
            '\u{2019}' => '\'',
            '\u{2018}' => '`',
            '\u{a0}' => ' ',
            c => c,
        });
    match u32::from(base) {
        c @ 0x20..=0x7e => f64::from(table[(c - 0x20) as usize]) / 1000.0,
        _ => 0.5,
    }
}

// Adobe's Core 14 font metrics (AFM), characters 0x20..0x7E.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667,
    611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556,
    278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];
const TIMES: [u16; 95] = [
    250, 333, 408, 500, 500, 833, 778, 180, 333, 333, 500, 564, 250, 333, 250, 278, 500, 500, 500,
    500, 500, 500, 500, 500, 500, 500, 278, 278, 564, 564, 564, 444, 921, 722, 667, 667, 722, 611,
    556, 722, 722, 333, 389, 722, 611, 889, 722, 722, 556, 722, 667, 556, 611, 722, 722, 944, 722,
    722, 611, 333, 278, 333, 469, 500, 333, 444, 500, 444, 500, 444, 333, 500, 500, 278, 278, 500,
    278, 778, 500, 500, 500, 500, 333, 389, 278, 500, 500, 722, 500, 500, 444, 480, 200, 480, 541,
];
const TIMES_BOLD: [u16; 95] = [
    250, 333, 555, 500, 500, 1000, 833, 278, 333, 333, 500, 570, 250, 333, 250, 278, 500, 500, 500,
    500, 500, 500, 500, 500, 500, 500, 333, 333, 570, 570, 570, 500, 930, 722, 667, 722, 722, 667,
    611, 778, 778, 389, 500, 778, 667, 944, 722, 778, 611, 778, 722, 556, 667, 722, 722, 1000, 722,
    722, 667, 333, 278, 333, 581, 500, 333, 500, 556, 444, 556, 444, 333, 500, 556, 278, 333, 556,
    278, 833, 556, 500, 556, 556, 444, 389, 333, 556, 500, 722, 500, 500, 444, 394, 220, 394, 520,
];

/// MacRomanEncoding, codes 0x80..0xFF.
const MAC_ROMAN: &str = "ÄÅÇÉÑÖÜáàâäãåçéèêëíìîïñóòôöõúùûü†°¢£§•¶ß®©™´¨≠ÆØ∞±≤≥¥µ∂∑∏π∫ªºΩæø¿¡¬√ƒ≈∆«»…\u{a0}ÀÃÕŒœ–—“”‘’÷◊ÿŸ⁄€‹›ﬁﬂ‡·‚„‰ÂÊÁËÈÍÎÏÌÓÔ\u{f8ff}ÒÚÛÙıˆ˜¯˘˙˚¸˝˛ˇ";

/// WinAnsiEncoding, codes 0x80..0x9F (U+FFFD: undefined).
const WIN_ANSI_80: &str = "€\u{fffd}‚ƒ„…†‡ˆ‰Š‹Œ\u{fffd}Ž\u{fffd}\u{fffd}‘’“”•–—˜™š›œ\u{fffd}žŸ";

/// StandardEncoding above 0x7F.
#[rustfmt::skip]
const STANDARD_HIGH: &[(u8, char)] = &[
    (0xa1, '¡'), (0xa2, '¢'), (0xa3, '£'), (0xa4, '⁄'), (0xa5, '¥'), (0xa6, 'ƒ'), (0xa7, '§'),
    (0xa8, '¤'), (0xa9, '\''), (0xaa, '“'), (0xab, '«'), (0xac, '‹'), (0xad, '›'), (0xae, 'ﬁ'),
    (0xaf, 'ﬂ'), (0xb1, '–'), (0xb2, '†'), (0xb3, '‡'), (0xb4, '·'), (0xb6, '¶'), (0xb7, '•'),
    (0xb8, '‚'), (0xb9, '„'), (0xba, '”'), (0xbb, '»'), (0xbc, '…'), (0xbd, '‰'), (0xbf, '¿'),
    (0xc1, '`'), (0xc2, '´'), (0xc3, 'ˆ'), (0xc4, '˜'), (0xc5, '¯'), (0xc6, '˘'), (0xc7, '˙'),
    (0xc8, '¨'), (0xca, '˚'), (0xcb, '¸'), (0xcd, '˝'), (0xce, '˛'), (0xcf, 'ˇ'), (0xd0, '—'),
    (0xe1, 'Æ'), (0xe3, 'ª'), (0xe8, 'Ł'), (0xe9, 'Ø'), (0xea, 'Œ'), (0xeb, 'º'), (0xf1, 'æ'),
    (0xf5, 'ı'), (0xf8, 'ł'), (0xf9, 'ø'), (0xfa, 'œ'), (0xfb, 'ß'),
];

/// Glyph names of digits, punctuation and symbols (Adobe Glyph List).
#[rustfmt::skip]
const GLYPH_NAMES: &[(&str, char)] = &[
    ("space", ' '), ("exclam", '!'), ("quotedbl", '"'), ("numbersign", '#'), ("dollar", '$'),
    ("percent", '%'), ("ampersand", '&'), ("quotesingle", '\''), ("quoteright", '’'),
    ("parenleft", '('), ("parenright", ')'), ("asterisk", '*'), ("plus", '+'), ("comma", ','),
    ("hyphen", '-'), ("minus", '−'), ("period", '.'), ("slash", '/'), ("zero", '0'), ("one", '1'),
    ("two", '2'), ("three", '3'), ("four", '4'), ("five", '5'), ("six", '6'), ("seven", '7'),
    ("eight", '8'), ("nine", '9'), ("colon", ':'), ("semicolon", ';'), ("less", '<'),
    ("equal", '='), ("greater", '>'), ("question", '?'), ("at", '@'), ("bracketleft", '['),
    ("backslash", '\\'), ("bracketright", ']'), ("asciicircum", '^'), ("underscore", '_'),
    ("grave", '`'), ("quoteleft", '‘'), ("braceleft", '{'), ("bar", '|'), ("braceright", '}'),
    ("asciitilde", '~'), ("exclamdown", '¡'), ("cent", '¢'), ("sterling", '£'), ("currency", '¤'),
    ("yen", '¥'), ("brokenbar", '¦'), ("section", '§'), ("dieresis", '¨'), ("copyright", '©'),
    ("ordfeminine", 'ª'), ("guillemotleft", '«'), ("logicalnot", '¬'), ("registered", '®'),
    ("macron", '¯'), ("degree", '°'), ("plusminus", '±'), ("twosuperior", '²'),
    ("threesuperior", '³'), ("acute", '´'), ("mu", 'µ'), ("paragraph", '¶'),
    ("periodcentered", '·'), ("cedilla", '¸'), ("onesuperior", '¹'), ("ordmasculine", 'º'),
    ("guillemotright", '»'), ("onequarter", '¼'), ("onehalf", '½'), ("threequarters", '¾'),
    ("questiondown", '¿'), ("AE", 'Æ'), ("Eth", 'Ð'), ("multiply", '×'), ("Oslash", 'Ø'),
    ("Thorn", 'Þ'), ("germandbls", 'ß'), ("ae", 'æ'), ("eth", 'ð'), ("divide", '÷'),
    ("oslash", 'ø'), ("thorn", 'þ'), ("Euro", '€'), ("quotesinglbase", '‚'), ("florin", 'ƒ'),
    ("quotedblbase", '„'), ("ellipsis", '…'), ("dagger", '†'), ("daggerdbl", '‡'),
    ("circumflex", 'ˆ'), ("perthousand", '‰'), ("guilsinglleft", '‹'), ("OE", 'Œ'),
    ("quotedblleft", '“'), ("quotedblright", '”'), ("bullet", '•'), ("endash", '–'),
    ("emdash", '—'), ("tilde", '˜'), ("trademark", '™'), ("guilsinglright", '›'), ("oe", 'œ'),
    ("fi", 'ﬁ'), ("fl", 'ﬂ'), ("dotlessi", 'ı'), ("Lslash", 'Ł'), ("lslash", 'ł'),
    ("fraction", '⁄'), ("nbspace", '\u{a0}'), ("sfthyphen", '\u{ad}'),
];

/// Accented Latin letters: name (base letter first) and character.
#[rustfmt::skip]
const ACCENTED: &[(&str, char)] = &[
    ("Agrave", 'À'), ("Aacute", 'Á'), ("Acircumflex", 'Â'), ("Atilde", 'Ã'), ("Adieresis", 'Ä'),
    ("Aring", 'Å'), ("Ccedilla", 'Ç'), ("Egrave", 'È'), ("Eacute", 'É'), ("Ecircumflex", 'Ê'),
    ("Edieresis", 'Ë'), ("Igrave", 'Ì'), ("Iacute", 'Í'), ("Icircumflex", 'Î'), ("Idieresis", 'Ï'),
    ("Ntilde", 'Ñ'), ("Ograve", 'Ò'), ("Oacute", 'Ó'), ("Ocircumflex", 'Ô'), ("Otilde", 'Õ'),
    ("Odieresis", 'Ö'), ("Ugrave", 'Ù'), ("Uacute", 'Ú'), ("Ucircumflex", 'Û'), ("Udieresis", 'Ü'),
    ("Yacute", 'Ý'), ("agrave", 'à'), ("aacute", 'á'), ("acircumflex", 'â'), ("atilde", 'ã'),
    ("adieresis", 'ä'), ("aring", 'å'), ("ccedilla", 'ç'), ("egrave", 'è'), ("eacute", 'é'),
    ("ecircumflex", 'ê'), ("edieresis", 'ë'), ("igrave", 'ì'), ("iacute", 'í'),
    ("icircumflex", 'î'), ("idieresis", 'ï'), ("ntilde", 'ñ'), ("ograve", 'ò'), ("oacute", 'ó'),
    ("ocircumflex", 'ô'), ("otilde", 'õ'), ("odieresis", 'ö'), ("ugrave", 'ù'), ("uacute", 'ú'),
    ("ucircumflex", 'û'), ("udieresis", 'ü'), ("yacute", 'ý'), ("ydieresis", 'ÿ'), ("Scaron", 'Š'),
    ("scaron", 'š'), ("Zcaron", 'Ž'), ("zcaron", 'ž'), ("Ydieresis", 'Ÿ'),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-page PDF: `objs` are objects 4 and up; the page's `/Resources` and content are
    /// given. Object 3 is the content stream.
    fn pdf_with(pages_extra: &str, page_extra: &str, content: &[u8], objs: &[String]) -> Vec<u8> {
        let mut all: Vec<Vec<u8>> = vec![
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            format!("<< /Type /Pages /Kids [5 0 R] /Count 1 {pages_extra} >>").into_bytes(),
        ];
        all.push(stream_obj("", content));
        all.push(
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
                .to_vec(),
        );
        all.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R {page_extra} >>"
            )
            .into_bytes(),
        );
        all.extend(objs.iter().map(|o| o.clone().into_bytes()));
        let mut out = b"%PDF-1.7\n".to_vec();
        let mut offs = Vec::new();
        for (i, o) in all.iter().enumerate() {
            offs.push(out.len());
            out.extend(format!("{} 0 obj\n", i + 1).bytes());
            out.extend(o);
            out.extend(b"\nendobj\n");
        }
        let x = out.len();
        out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", all.len() + 1).bytes());
        for o in offs {
            out.extend(format!("{o:010} 00000 n \n").bytes());
        }
        out.extend(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{x}\n%%EOF\n",
                all.len() + 1
            )
            .bytes(),
        );
        out
    }

    fn stream_obj(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut o = format!("<< /Length {} {dict} >>\nstream\n", data.len()).into_bytes();
        o.extend(data);
        o.extend(b"\nendstream");
        o
    }

    /// Object 4 (Helvetica, no /Widths) as /F1 of the page.
    fn helv(content: &str) -> Vec<u8> {
        pdf_with(
            "",
            "/Resources << /Font << /F1 4 0 R >> >>",
            content.as_bytes(),
            &[],
        )
    }

    fn helv_width(s: &str) -> f32 {
        s.bytes()
            .map(|b| f32::from(HELVETICA[usize::from(b - 0x20)]) / 1000.0)
            .sum()
    }

    fn close(a: [f32; 4], b: [f32; 4]) {
        for i in 0..4 {
            assert!((a[i] - b[i]).abs() < 0.01, "{a:?} != {b:?}");
        }
    }

    fn find(pdf: &[u8], needle: &str) -> TextHit {
        find_text(pdf, needle).unwrap().expect(needle)
    }

    #[test]
    fn tj_kerning_and_split_operators() {
        let pdf = helv("BT /F1 10 Tf 100 700 Td (Vu: ) Tj [(#sig) -20 (na) 30 (ture#)] TJ ET");
        let h = find(&pdf, "#signature#");
        let x1 = 100.0 + helv_width("Vu: ") * 10.0;
        let x2 = x1 + helv_width("#signature#") * 10.0 + 0.2 - 0.3;
        close(h.rect, [x1, 700.0 - 2.07, x2, 700.0 + 7.18]);
        assert_eq!(h.page, 1);
        assert_eq!(h.page_box, [0.0, 0.0, 595.0, 842.0]);
        // Split over Tj operators and text objects.
        let pdf = helv(&format!(
            "BT /F1 10 Tf 100 700 Td (#sig) Tj (na) Tj ET BT /F1 10 Tf 100 700 Td {} 0 Td (ture#) Tj ET",
            helv_width("#signa") * 10.0
        ));
        let h = find(&pdf, "#signature#");
        close(
            h.rect,
            [
                100.0,
                697.93,
                100.0 + helv_width("#signature#") * 10.0,
                707.18,
            ],
        );
    }

    #[test]
    fn a_wide_gap_is_a_space() {
        let pdf = helv("BT /F1 10 Tf 100 700 Td [(#sig) -400 (nature#)] TJ ET");
        assert!(find_text(&pdf, "#signature#").unwrap().is_none());
        let h = find(&pdf, "#sig  nature#");
        let x2 = 100.0 + helv_width("#signature#") * 10.0 + 4.0;
        close(h.rect, [100.0, 697.93, x2, 707.18]);
    }

    #[test]
    fn td_leading_and_t_star() {
        let pdf = helv(
            "BT /F1 12 Tf 14 TL 50 800 Td (Le Directeur) Tj T* (Sign\\351:) Tj 0 -20 Td ([[SIGN_DG]]) ' ET",
        );
        // ' moves to the next line (TL 14) after Td: baseline 800 - 14 - 20 - 14.
        let h = find(&pdf, "[[SIGN_DG]]");
        let y = 800.0 - 14.0 - 20.0 - 14.0;
        close(
            h.rect,
            [
                50.0,
                y - 12.0 * 0.207,
                50.0 + helv_width("[[SIGN_DG]]") * 12.0,
                y + 12.0 * 0.718,
            ],
        );
        assert!(find_text(&pdf, "Signé:").unwrap().is_some());
        // TD sets the leading.
        let pdf = helv("BT /F1 10 Tf 50 800 Td (a) Tj 0 -30 TD (b) Tj T* (#t#) Tj ET");
        let h = find(&pdf, "#t#");
        assert!((h.rect[1] - (740.0 - 2.07)).abs() < 0.01, "{h:?}");
        // Tm, Tc, Tw, Tz, Ts.
        let pdf = helv("BT /F1 10 Tf 1 Tc 2 Tw 50 Tz 3 Ts 1 0 0 1 200 300 Tm (a b#t#) Tj ET");
        let h = find(&pdf, "#t#");
        let x1 = 200.0 + ((helv_width("a b") * 10.0) + 3.0 + 2.0) * 0.5;
        let x2 = x1 + (helv_width("#t#") * 10.0 + 2.0) * 0.5;
        close(h.rect, [x1, 303.0 - 2.07, x2, 303.0 + 7.18]);
    }

    #[test]
    fn cm_scaling_and_graphics_state() {
        let pdf = helv(
            "q 2 0 0 2 10 20 cm BT /F1 10 Tf 5 5 Td (X#t#) Tj ET Q BT /F1 10 Tf 0 0 Td (#u#) Tj ET",
        );
        let h = find(&pdf, "#t#");
        let x1 = 10.0 + 2.0 * (5.0 + helv_width("X") * 10.0);
        let x2 = x1 + 2.0 * helv_width("#t#") * 10.0;
        close(
            h.rect,
            [x1, 20.0 + 2.0 * (5.0 - 2.07), x2, 20.0 + 2.0 * (5.0 + 7.18)],
        );
        // After Q the CTM is the identity again.
        let h = find(&pdf, "#u#");
        close(h.rect, [0.0, -2.07, helv_width("#u#") * 10.0, 7.18]);
        // A rotated CTM: the box is the rotated glyphs' bounding box.
        let pdf = helv("0 1 -1 0 300 100 cm BT /F1 10 Tf (#r#) Tj ET");
        let h = find(&pdf, "#r#");
        close(
            h.rect,
            [
                300.0 - 7.18,
                100.0,
                302.07,
                100.0 + helv_width("#r#") * 10.0,
            ],
        );
    }

    #[test]
    fn type0_identity_with_to_unicode_bfrange() {
        let cmap = "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n\
            1 begincodespacerange <0000> <FFFF> endcodespacerange\n\
            1 beginbfchar <0001> <0023> endbfchar\n\
            2 beginbfrange <0003> <0004> <0061> <0010> <0011> [<00E9> <0066006C>] endbfrange\n\
            endcmap CMapName currentdict /CMap defineresource pop end end";
        let objs = vec![
            "<< /Type /Font /Subtype /Type0 /BaseFont /ABCDEF+Noto /Encoding /Identity-H \
             /DescendantFonts [7 0 R] /ToUnicode 8 0 R >>"
                .to_string(),
            "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /ABCDEF+Noto /DW 1000 \
             /W [1 [600 700 500 500] 16 17 400] /FontDescriptor 9 0 R \
             /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> >>"
                .to_string(),
            String::from_utf8(stream_obj("", cmap.as_bytes())).unwrap(),
            "<< /Type /FontDescriptor /FontName /ABCDEF+Noto /Ascent 1000 /Descent -300 /Flags 4 >>"
                .to_string(),
        ];
        let content = b"BT /F2 20 Tf 100 400 Td <0010 0011> Tj <00010003000400030001> Tj ET";
        let pdf = pdf_with("", "/Resources << /Font << /F2 6 0 R >> >>", content, &objs);
        let r = Reader::open(Box::<[u8]>::from(&pdf[..])).unwrap();
        assert_eq!(page_text(&r, 1).unwrap(), "\u{e9}fl#aba#");
        let h = find(&pdf, "#aba#");
        let x1 = 100.0 + 0.8 * 20.0;
        close(
            h.rect,
            [x1, 394.0, x1 + (0.6 + 0.5 + 0.5 + 0.5 + 0.6) * 20.0, 420.0],
        );
        // The ligature's two letters share its box.
        let h = find(&pdf, "fl");
        close(h.rect, [108.0, 394.0, 116.0, 420.0]);
    }

    #[test]
    fn simple_font_widths_and_differences() {
        let objs = vec![
            "<< /Type /Font /Subtype /TrueType /BaseFont /Arial,Bold /FirstChar 32 \
             /Widths [250 0 0 500 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 \
             600 700] /Encoding << /BaseEncoding /MacRomanEncoding /Differences [65 /eacute /uni0628] >> \
             /FontDescriptor << /Ascent 900 /Descent -100 /Flags 32 /MissingWidth 300 >> >>"
                .to_string(),
        ];
        // 0x23 '#' is 500, 'A' (é) 600, 'B' (U+0628) 700, others MissingWidth 300; \x8e is é in
        // MacRoman.
        let content = b"BT /F3 10 Tf 10 10 Td (#AB#\x8e) Tj ET";
        let pdf = pdf_with("", "/Resources << /Font << /F3 6 0 R >> >>", content, &objs);
        let h = find(&pdf, "#\u{e9}\u{628}#");
        close(h.rect, [10.0, 9.0, 10.0 + 5.0 + 6.0 + 7.0 + 5.0, 19.0]);
        let h = find(&pdf, "\u{628}#\u{e9}");
        close(h.rect, [21.0, 9.0, 36.0, 19.0]);
    }

    #[test]
    fn winansi_without_widths_and_inherited_resources() {
        let pdf = pdf_with(
            "/Resources << /Font << /F1 4 0 R >> >>",
            "",
            b"BT /F1 10 Tf 72 72 Td (D\xe9cision \x93sign\xe9e\x94) Tj ET",
            &[],
        );
        let h = find(&pdf, "\u{201c}signée\u{201d}");
        let x1 = 72.0 + helv_width("Decision ") * 10.0;
        // é takes e's width; the quotes fall back to 0.5 em.
        let x2 = x1 + 5.0 + helv_width("signee") * 10.0 + 5.0;
        close(h.rect, [x1, 72.0 - 2.07, x2, 72.0 + 7.18]);
    }

    #[test]
    fn form_xobjects_and_content_arrays() {
        let form = String::from_utf8(stream_obj(
            "/Type /XObject /Subtype /Form /BBox [0 0 100 100] /Matrix [1 0 0 1 50 60] \
             /Resources << /Font << /F9 4 0 R >> >>",
            b"BT /F9 10 Tf 1 2 Td (#form#) Tj ET /Fx Do",
        ))
        .unwrap();
        let second = String::from_utf8(stream_obj("", b"q 1 0 0 1 100 200 cm /Fx Do Q")).unwrap();
        let pdf = pdf_with(
            "",
            "/Resources << /XObject << /Fx 6 0 R >> >> /Contents [3 0 R 7 0 R]",
            b"% nothing here\n",
            &[form, second],
        );
        let h = find(&pdf, "#form#");
        // A form that draws itself: bounded.
        let looping = String::from_utf8(stream_obj(
            "/Type /XObject /Subtype /Form /BBox [0 0 9 9] /Resources << /XObject << /Fx 6 0 R >> >>",
            b"/Fx Do /Fx Do /Fx Do",
        ))
        .unwrap();
        let pdf2 = pdf_with(
            "",
            "/Resources << /XObject << /Fx 6 0 R >> >>",
            b"/Fx Do",
            &[looping],
        );
        assert!(find_text(&pdf2, "#form#").is_ok());
        close(
            h.rect,
            [
                151.0,
                262.0 - 2.07,
                151.0 + helv_width("#form#") * 10.0,
                262.0 + 7.18,
            ],
        );
    }

    #[test]
    fn inline_images_and_odd_syntax_are_skipped() {
        let pdf = helv(
            "BI /W 2 /H 2 /BPC 8 /CS /G ID \x00EI)(\x7f\n EI /P <</MCID 0>> BDC BT /F1 10 Tf 5 5 Td (#x#) Tj ET EMC",
        );
        assert!(find_text(&pdf, "#x#").unwrap().is_some());
        // Unbalanced operators, missing operands, unknown fonts: no panic.
        for c in [
            "Q Q Q ET ET Tj TJ ' \" cm Tm Td",
            "BT /Nope 10 Tf (x) Tj ET",
            "BT (x) Tj",
            "[(a",
            "<zz> Tj",
        ] {
            assert!(find_text(&helv(c), "#x#").unwrap().is_none(), "{c}");
        }
    }

    #[test]
    fn errors() {
        assert!(find_text(b"not a pdf at all, really", "#x#").is_err());
        let pdf = helv("BT /F1 10 Tf (#x#) Tj ET");
        assert!(find_text(&pdf, "  ").is_err());
        for cut in [pdf.len() / 3, pdf.len() / 2, pdf.len() - 10] {
            let _ = find_text(&pdf[..cut], "#x#");
        }
        let enc =
            String::from_utf8_lossy(&pdf).replace("/Root 1 0 R", "/Root 1 0 R /Encrypt 4 0 R");
        assert!(matches!(
            find_text(enc.as_bytes(), "#x#"),
            Err(PdfError::Encrypted)
        ));
    }

    #[test]
    fn block_at_tag_stays_on_the_page() {
        let hit = TextHit {
            page: 2,
            rect: [100.0, 500.0, 160.0, 512.0],
            page_box: [0.0, 0.0, 595.0, 842.0],
            rotate: 0,
        };
        let v = crate::Visible::at_tag(&hit, 200.0, 70.0, vec![]);
        assert_eq!((v.page, v.rect), (2, [100.0, 442.0, 300.0, 512.0]));
        // Near the bottom-right corner: moved up and left.
        let corner = TextHit {
            rect: [500.0, 20.0, 560.0, 32.0],
            ..hit
        };
        let v = crate::Visible::at_tag(&corner, 200.0, 70.0, vec![]);
        assert_eq!(v.rect, [395.0, 0.0, 595.0, 70.0]);
        // Larger than a cropped page: the page's visible area.
        let small = TextHit {
            page_box: [10.0, 10.0, 110.0, 60.0],
            ..hit
        };
        let v = crate::Visible::at_tag(&small, 200.0, 70.0, vec![]);
        assert_eq!(v.rect, [10.0, 10.0, 110.0, 60.0]);
    }

    #[test]
    fn displayed_rectangles_in_user_space() {
        let view = |rotate| PageView {
            page_box: [0.0, 0.0, 595.0, 842.0],
            rotate,
        };
        // 30 points from the displayed left and bottom edges, 172×84 as displayed.
        let foot = [30.0, 30.0, 202.0, 114.0];
        assert_eq!(view(0).to_user(foot), foot);
        // Turned a quarter clockwise, the displayed bottom edge is the highest x.
        assert_eq!(view(90).to_user(foot), [481.0, 30.0, 565.0, 202.0]);
        assert_eq!(view(180).to_user(foot), [393.0, 728.0, 565.0, 812.0]);
        assert_eq!(view(270).to_user(foot), [30.0, 640.0, 114.0, 812.0]);
        for rotate in [0, 90, 180, 270] {
            let v = view(rotate);
            assert_eq!(v.to_displayed(v.to_user(foot)), foot, "{rotate}");
        }
        assert_eq!(view(90).displayed_size(), (842.0, 595.0));
    }

    #[test]
    fn block_at_tag_on_turned_pages() {
        let hit = |rotate, rect| TextHit {
            page: 1,
            rect,
            page_box: [0.0, 0.0, 595.0, 842.0],
            rotate,
        };
        let at =
            |rotate, rect| crate::Visible::at_tag(&hit(rotate, rect), 200.0, 70.0, vec![]).rect;
        let tag = [300.0, 500.0, 312.0, 560.0];
        assert_eq!(at(0, tag), [300.0, 490.0, 500.0, 560.0]);
        // Turned a quarter clockwise: the displayed top-left is the lowest x and y; the block
        // runs up the page (across the display) and right (down the display).
        assert_eq!(at(90, tag), [300.0, 500.0, 370.0, 700.0]);
        // Upside down: the displayed top-left is the highest x and the lowest y.
        assert_eq!(at(180, tag), [112.0, 500.0, 312.0, 570.0]);
        // A quarter counter-clockwise: the highest x and y.
        assert_eq!(at(270, tag), [242.0, 360.0, 312.0, 560.0]);
        // Kept on the page, here near the displayed bottom-left corner of a page turned 90°.
        assert_eq!(
            at(90, [560.0, 800.0, 572.0, 840.0]),
            [525.0, 642.0, 595.0, 842.0]
        );
        // "Down" as displayed.
        let below = |rotate| hit(rotate, tag).moved_down(10.0).rect;
        assert_eq!(below(0), [300.0, 490.0, 312.0, 550.0]);
        assert_eq!(below(90), [310.0, 500.0, 322.0, 560.0]);
        assert_eq!(below(180), [300.0, 510.0, 312.0, 570.0]);
        assert_eq!(below(270), [290.0, 500.0, 302.0, 560.0]);
    }

    #[test]
    fn filters() {
        // ISO 32000-2 §7.4.4.2's example.
        let lzw_data = [0x80, 0x0b, 0x60, 0x50, 0x22, 0x0c, 0x0c, 0x85, 0x01];
        assert_eq!(lzw(&lzw_data, true).unwrap(), b"-----A---B");
        assert_eq!(
            ascii85(b"<~6<#'U,BIR3.3MT)+@T6:~>").unwrap(),
            b"BT (#sig) Tj ET\n"
        );
        assert_eq!(ascii85(b"z!!~>").unwrap(), [0, 0, 0, 0, 0]);
        assert!(ascii85(b"ab{").is_err());
        assert_eq!(ascii_hex(b"41 42 4>").unwrap(), b"AB@");
        assert_eq!(
            run_length(&[2, b'a', b'b', b'c', 254, b'x', 128]),
            b"abcxxx"
        );
        // A content stream through ASCIIHex then Flate (decoded in that order); the page's
        // second /Contents wins.
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut z, b"BT /F1 10 Tf 5 5 Td (#z#) Tj ET").unwrap();
        let hex: String = z
            .finish()
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let content = format!("{hex}>");
        let objs = vec![String::from_utf8(stream_obj(
            "/Filter [/AHx /FlateDecode]",
            content.as_bytes(),
        ))
        .unwrap()];
        let pdf = pdf_with(
            "",
            "/Resources << /Font << /F1 4 0 R >> >> /Contents 6 0 R",
            b"",
            &objs,
        );
        assert!(find_text(&pdf, "#z#").unwrap().is_some());
    }

    #[test]
    fn cmap_code_splitting() {
        let m = CMap::parse(b"2 begincodespacerange <00> <80> <8140> <FFFF> endcodespacerange");
        assert_eq!(m.split(b"\x41\x81\x40", 2), 1);
        assert_eq!(m.split(b"\x81\x40", 2), 2);
        assert_eq!(CMap::default().split(b"\x81", 2), 1);
    }
}
