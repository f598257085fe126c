//! A small PDF writer for the documents produced on every request (the acknowledgement of
//! receipt), built for speed: one page, rectangles, lines and shaped text, with fonts embedded
//! from subsets prepared once per process.
//!
//! Why not krilla here: krilla subsets and compresses every font again for every document, which
//! is most of the time a receipt takes. A receipt's glyphs are nearly always drawn from the same
//! small repertoire (French, Arabic letters in all their joining forms, digits, Tifinagh), so each
//! face is subset once to that repertoire, compressed once, and copied into each document. A
//! document that uses a glyph outside the repertoire (a rare letter in a name) gets a subset of
//! its own for that face, the repertoire plus the extra glyphs, made on the spot: the same
//! output, slower. Text stays extractable: each font has a ToUnicode map built from the shaped
//! clusters the document actually drew.
//!
//! Coordinates are in points from the top-left corner, like the krilla surfaces used elsewhere.

use crate::form::ObjectSink;
use crate::layout::{self, Align, Direction, Family, Line, Style, FACES};
use crate::{PdfError, Result};
use rustybuzz::ttf_parser;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;
use subsetter::GlyphRemapper;

/// An RGB colour, 0–255 per channel.
pub type Rgb = (u8, u8, u8);

/// One page being drawn.
pub struct Canvas {
    width: f32,
    height: f32,
    content: Vec<u8>,
    /// Per face: whether anything was drawn with it.
    drawn: [bool; FACES],
    /// Per face: original glyph id → the text it stands for (first cluster seen), for the
    /// glyphs outside the shared subset (the shared subset's glyphs have a fixed map).
    used: [BTreeMap<u16, String>; FACES],
    /// Per face: glyphs outside the shared subset, in order of first use. Their character ids
    /// follow the shared subset's, so the content stream can be written as the page is drawn.
    extras: [Vec<u16>; FACES],
    /// No shared subsets: each face is subset to exactly the glyphs drawn (all in `extras`).
    compact: bool,
}

/// The document information dictionary.
pub struct Info<'a> {
    pub title: &'a str,
    pub creator: &'a str,
    pub lang: &'a str,
    pub created: time::OffsetDateTime,
}

/// A file embedded in the document (an associated file, PDF/A-3 style).
pub struct Attachment<'a> {
    pub name: &'a str,
    pub mime: &'a str,
    pub description: &'a str,
    pub data: &'a [u8],
}

/// Writes a non-negative integer.
fn int(out: &mut Vec<u8>, v: u64) {
    let (mut buf, mut i, mut v) = ([0u8; 20], 20, v);
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Writes a number with at most three decimals, without a trailing zero or point.
fn num(out: &mut Vec<u8>, v: f32) {
    let milli = if v.is_finite() {
        (f64::from(v) * 1000.0).round() as i64
    } else {
        0
    };
    if milli < 0 {
        out.push(b'-');
    }
    let m = milli.unsigned_abs();
    int(out, m / 1000);
    let frac = m % 1000;
    if frac != 0 {
        out.push(b'.');
        let f = [
            (frac / 100) as u8,
            (frac / 10 % 10) as u8,
            (frac % 10) as u8,
        ];
        let keep = if f[2] != 0 {
            3
        } else if f[1] != 0 {
            2
        } else {
            1
        };
        out.extend(f[..keep].iter().map(|d| b'0' + d));
    }
}

/// Writes a two-byte character code in hexadecimal into a `TJ` array, continuing the string
/// left open (`*open`) by the code before it: `<00330030>` rather than `<0033><0030>`, a third
/// fewer bytes for the page's text. [`close_hex`] ends the string.
fn hex_code(out: &mut Vec<u8>, open: &mut bool, code: u16) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    if !*open {
        out.push(b'<');
        *open = true;
    }
    for shift in [12, 8, 4, 0] {
        out.push(HEX[usize::from((code >> shift) & 0xf)]);
    }
}

/// Ends a string of codes [`hex_code`] left open, before anything else is written.
fn close_hex(out: &mut Vec<u8>, open: &mut bool) {
    if *open {
        out.push(b'>');
        *open = false;
    }
}

fn color(out: &mut Vec<u8>, c: Rgb) {
    for ch in [c.0, c.1, c.2] {
        num(out, f32::from(ch) / 255.0);
        out.push(b' ');
    }
}

impl Canvas {
    pub fn new(width: f32, height: f32) -> Self {
        Self {
            width,
            height,
            content: Vec::with_capacity(32 * 1024),
            drawn: [false; FACES],
            used: Default::default(),
            extras: Default::default(),
            compact: false,
        }
    }

    /// A canvas whose fonts hold only the glyphs drawn on it, for small standalone fragments
    /// (a signature's appearance) where copying the shared repertoires would weigh too much.
    pub fn compact(width: f32, height: f32) -> Self {
        Self {
            compact: true,
            content: Vec::with_capacity(2048),
            ..Self::new(width, height)
        }
    }

    /// The shared subset of a face, or `None` for a compact canvas (only .notdef is shared).
    /// `Err(())` when the face cannot be loaded.
    fn base(&self, face: usize) -> std::result::Result<Option<&'static Subset>, ()> {
        if self.compact {
            return Ok(None);
        }
        base_subset(face).map(Some).ok_or(())
    }

    /// The character id in this document's font of an original glyph outside the shared
    /// subset.
    fn cid(&mut self, face: usize, base: Option<&Subset>, gid: u16) -> u16 {
        if base.is_none() && gid == 0 {
            return 0;
        }
        let extras = &mut self.extras[face];
        let i = match extras.iter().position(|g| *g == gid) {
            Some(i) => i,
            None => {
                extras.push(gid);
                extras.len() - 1
            }
        };
        base.map_or(1, |b| b.remapper.num_gids())
            .saturating_add(i as u16)
    }

    /// Records the text a glyph outside the shared subset stands for (the first seen).
    fn name_glyph(&mut self, face: usize, gid: u16, text: &str) {
        if !text.is_empty() {
            self.used[face]
                .entry(gid)
                .or_insert_with(|| text.to_string());
        }
    }

    fn nums(&mut self, vals: &[f32]) {
        for v in vals {
            num(&mut self.content, *v);
            self.content.push(b' ');
        }
    }

    /// True when every glyph drawn is in the shared subsets (the fast path).
    pub fn uses_only_shared_subsets(&self) -> bool {
        self.extras.iter().all(Vec::is_empty)
    }

    /// A filled rectangle; `(x, y)` is its top-left corner.
    pub fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, fill: Rgb) {
        color(&mut self.content, fill);
        self.content.extend_from_slice(b"rg ");
        self.nums(&[x, self.height - y - h, w, h]);
        self.content.extend_from_slice(b"re f\n");
    }

    /// Filled runs of a grid of square modules (a QR code's dark ones): `(column, row, length)`
    /// each, in modules, the grid's top-left corner at `(x, y)` and rows going down. Drawn in
    /// the grid's own coordinates, so that a run is four small integers rather than four
    /// fractional positions on the page: a third of the bytes, and no decimals to format.
    pub fn module_runs(
        &mut self,
        x: f32,
        y: f32,
        module: f32,
        runs: &[(u16, u16, u16)],
        fill: Rgb,
    ) {
        if runs.is_empty() {
            return;
        }
        self.content.extend_from_slice(b"q ");
        color(&mut self.content, fill);
        self.content.extend_from_slice(b"rg ");
        self.nums(&[module, 0.0, 0.0, -module, x, self.height - y]);
        self.content.extend_from_slice(b"cm\n");
        for &(col, row, len) in runs {
            for v in [col, row, len] {
                int(&mut self.content, u64::from(v));
                self.content.push(b' ');
            }
            self.content.extend_from_slice(b"1 re\n");
        }
        self.content.extend_from_slice(b"f Q\n");
    }

    /// A horizontal line.
    pub fn hline(&mut self, x1: f32, x2: f32, y: f32, stroke: Rgb, width: f32) {
        color(&mut self.content, stroke);
        self.content.extend_from_slice(b"RG ");
        self.nums(&[width]);
        self.content.extend_from_slice(b"w ");
        let y = self.height - y;
        self.nums(&[x1, y]);
        self.content.extend_from_slice(b"m ");
        self.nums(&[x2, y]);
        self.content.extend_from_slice(b"l S\n");
    }

    /// Draws a shaped line with its baseline at `y`, aligned in the box `[x, x + box_width]`.
    pub fn text(&mut self, line: &Line, x: f32, y: f32, box_width: f32, align: Align) {
        let size = line.style.size;
        let mut pen = line.start_x(x, box_width, align);
        let baseline = self.height - y;
        color(&mut self.content, line.style.color);
        self.content.extend_from_slice(b"rg BT\n");
        for run in line.runs.iter() {
            let face = layout::face_index(run.family, run.bold);
            let Ok(base) = self.base(face) else {
                continue;
            };
            self.drawn[face] = true;
            let _ = write!(self.content, "/F{face} ");
            self.nums(&[size]);
            self.content.extend_from_slice(b"Tf 1 0 0 1 ");
            self.nums(&[pen, baseline]);
            self.content.extend_from_slice(b"Tm\n[");
            let mut open = false;
            for (i, g) in run.glyphs.iter().enumerate() {
                let gid = g.glyph_id.to_u32() as u16;
                let (cid, w) = match base.and_then(|b| b.glyph(gid)) {
                    Some(shared) => shared,
                    None => {
                        // Outside the shared subset: the text it stands for goes into this
                        // document's own map. The first glyph of a cluster carries its text.
                        let first = i == 0 || run.glyphs[i - 1].text_range != g.text_range;
                        let text = if first {
                            run.text.get(g.text_range.clone()).unwrap_or("")
                        } else {
                            ""
                        };
                        self.name_glyph(face, gid, text);
                        (self.cid(face, base, gid), face_advance(face, gid))
                    }
                };
                if g.y_offset != 0.0 || g.x_offset != 0.0 {
                    close_hex(&mut self.content, &mut open);
                }
                if g.y_offset != 0.0 {
                    // A raised or lowered glyph (Arabic marks): its own rise.
                    self.content.extend_from_slice(b"] TJ ");
                    self.nums(&[g.y_offset * size]);
                    self.content.extend_from_slice(b"Ts [");
                }
                if g.x_offset != 0.0 {
                    num(&mut self.content, -g.x_offset * 1000.0);
                    self.content.push(b' ');
                }
                hex_code(&mut self.content, &mut open, cid);
                // Move from where the font's own width left the pen to where shaping puts it.
                let adjust = w + g.x_offset * 1000.0 - g.x_advance * 1000.0;
                if adjust.abs() > 0.05 {
                    close_hex(&mut self.content, &mut open);
                    self.content.push(b' ');
                    num(&mut self.content, adjust);
                    self.content.push(b' ');
                }
                if g.y_offset != 0.0 {
                    close_hex(&mut self.content, &mut open);
                    self.content.extend_from_slice(b"] TJ 0 Ts [");
                }
            }
            close_hex(&mut self.content, &mut open);
            self.content.extend_from_slice(b"] TJ\n");
            pen += run.width_em * size;
        }
        self.content.extend_from_slice(b"ET\n");
    }

    /// A French heading at the start of `[x, x + width]`'s left half and its Arabic counterpart
    /// at the start (right) of its right half, on one baseline.
    pub fn bilingual(&mut self, fr: &str, ar: &str, style: Style, x: f32, y: f32, width: f32) {
        let half = width / 2.0;
        self.text(
            &layout::shape(fr, style, Direction::Ltr),
            x,
            y,
            half,
            Align::Start,
        );
        self.text(
            &layout::shape(ar, style, Direction::Rtl),
            x + half,
            y,
            half,
            Align::Start,
        );
    }

    /// Draws wrapped lines from `y` (first baseline) down; returns the y after the last line.
    pub fn paragraph(
        &mut self,
        lines: &[Line],
        x: f32,
        y: f32,
        box_width: f32,
        align: Align,
        leading: f32,
    ) -> f32 {
        layout::each_line(lines, y, leading, |l, y| {
            self.text(l, x, y, box_width, align)
        })
    }

    /// Writes the fonts drawn with; returns their resource names and Type 0 fonts' object
    /// numbers. Fonts: the shared subset when it covers the glyphs drawn, else one of its own
    /// (always one of its own on a compact canvas).
    pub(crate) fn write_fonts(&self, w: &mut impl ObjectSink) -> Result<Vec<(String, usize)>> {
        let mut fonts = Vec::new();
        for (face, used) in self.used.iter().enumerate() {
            if !self.drawn[face] {
                continue;
            }
            let Ok(base) = self.base(face) else {
                continue;
            };
            let font = match base {
                // The shared subset, with its fixed map: the same bytes in every document.
                Some(base) if self.extras[face].is_empty() => {
                    base.write(w, &base.to_unicode, "/Filter /FlateDecode")?
                }
                Some(base) => {
                    let own = Subset::build(face, self.extras[face].iter().copied())?;
                    let texts = base.unicode.iter().chain(used);
                    own.write(w, &to_unicode_cmap(&own.remapper, texts), "")?
                }
                None => {
                    let own = Subset::build_with_level(face, self.extras[face].clone(), 6)?;
                    own.write(w, &to_unicode_cmap(&own.remapper, used.iter()), "")?
                }
            };
            fonts.push((format!("F{face}"), font));
        }
        Ok(fonts)
    }

    /// [`Canvas::write_fonts`] when every face drawn has its shared subset: the same bytes at
    /// the same place in every document drawn with those faces, so written once per set of
    /// faces and copied afterwards (their formatting was some 45,000 instructions a receipt).
    fn write_shared_fonts(&self, w: &mut Writer) -> Result<Vec<(String, usize)>> {
        let start = (w.out.len(), w.offsets.len());
        // Entries are pushed whole: one left by a panicking writer is still sound.
        let mut written = SHARED_FONT_OBJECTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(hit) = written
            .iter()
            .find(|o| o.drawn == self.drawn && o.start == start)
        {
            w.out.extend_from_slice(&hit.bytes);
            w.offsets.extend_from_slice(&hit.offsets);
            return Ok(hit.fonts.clone());
        }
        let fonts = self.write_fonts(w)?;
        written.push(SharedFontObjects {
            drawn: self.drawn,
            start,
            bytes: w.out[start.0..].to_vec(),
            offsets: w.offsets[start.1..].to_vec(),
            fonts: fonts.clone(),
        });
        Ok(fonts)
    }

    /// The content stream drawn so far.
    pub(crate) fn content(&self) -> &[u8] {
        &self.content
    }

    /// Writes the document: this page, its fonts, the information dictionary and an optional
    /// attached file.
    pub fn finish(self, info: &Info<'_>, attachment: Option<&Attachment<'_>>) -> Result<Vec<u8>> {
        self.finish_sharing(info, attachment).map(|r| r.pdf)
    }

    /// [`Canvas::finish`], saying how many of the document's first bytes it shares with every
    /// document drawn with the same faces (see [`Rendered`]). The vector has room for a
    /// signature to be appended in place.
    pub fn finish_sharing(
        self,
        info: &Info<'_>,
        attachment: Option<&Attachment<'_>>,
    ) -> Result<Rendered> {
        let fonts_len: usize = (0..FACES)
            .filter(|&f| self.drawn[f])
            .filter_map(|f| self.base(f).ok().flatten())
            .map(|b| b.program.len() + b.to_unicode.len() + b.widths.len() + 1024)
            .sum();
        let mut w = Writer::with_capacity(
            fonts_len
                + self.content.len()
                + attachment.map_or(0, |a| a.data.len())
                + 4096
                + SIGNATURE_ROOM,
        );
        let catalog = w.reserve();
        let pages = w.reserve();
        let page = w.reserve();
        let contents = w.reserve();
        let info_ref = w.reserve();

        let mut font_refs = String::new();
        let fonts = if !self.compact && self.uses_only_shared_subsets() {
            self.write_shared_fonts(&mut w)?
        } else {
            self.write_fonts(&mut w)?
        };
        for (name, r) in fonts {
            let _ = write!(font_refs, "/{name} {r} 0 R ");
        }
        // The header and the fonts come first; with the shared subsets only, they are the same
        // bytes in every document drawn with these faces.
        let shared_prefix = if !self.compact && self.uses_only_shared_subsets() {
            w.out.len()
        } else {
            0
        };

        let mut catalog_extra = String::new();
        if let Some(a) = attachment {
            // Small attachments (a receipt's JSON) are stored as they are: compressing a few
            // kilobytes saved little and cost a fortieth of a filing's processor time.
            let (data, filter) = if a.data.len() < ATTACHMENT_DEFLATE_MIN {
                (std::borrow::Cow::Borrowed(a.data), "")
            } else {
                (
                    std::borrow::Cow::Owned(deflate(a.data, 6)?),
                    " /Filter /FlateDecode",
                )
            };
            let stream = w.reserve();
            w.stream(
                stream,
                &format!(
                    "/Type /EmbeddedFile /Subtype /{} /Params << /Size {} >>{filter}",
                    name_escape(a.mime),
                    a.data.len()
                ),
                &data,
            );
            let spec = w.reserve();
            w.object(
                spec,
                format!(
                    "<< /Type /Filespec /F {} /UF {} /Desc {} /AFRelationship /Data /EF << /F {stream} 0 R /UF {stream} 0 R >> >>",
                    text_string(a.name),
                    text_string(a.name),
                    text_string(a.description)
                )
                .as_bytes(),
            );
            let _ = write!(
                catalog_extra,
                "/Names << /EmbeddedFiles << /Names [{} {spec} 0 R] >> >> /AF [{spec} 0 R] ",
                text_string(a.name)
            );
        }

        w.stream(contents, "", &self.content);
        sha2::Digest::update(&mut w.id_hasher, &self.content);
        w.object(
            page,
            format!(
                "<< /Type /Page /Parent {pages} 0 R /MediaBox [0 0 {} {}] /Resources << /Font << {font_refs}>> >> /Contents {contents} 0 R >>",
                self.width, self.height
            )
            .as_bytes(),
        );
        w.object(
            pages,
            format!("<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>").as_bytes(),
        );
        w.object(
            catalog,
            format!(
                "<< /Type /Catalog /Pages {pages} 0 R /Lang {} {catalog_extra}>>",
                text_string(info.lang)
            )
            .as_bytes(),
        );
        let t = info.created;
        let date = format!(
            "(D:{:04}{:02}{:02}{:02}{:02}{:02}Z)",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        w.object(
            info_ref,
            format!(
                "<< /Title {} /Creator {} /Producer (Diwan) /CreationDate {date} >>",
                text_string(info.title),
                text_string(info.creator)
            )
            .as_bytes(),
        );
        sha2::Digest::update(&mut w.id_hasher, info.title.as_bytes());
        sha2::Digest::update(&mut w.id_hasher, date.as_bytes());
        Ok(Rendered {
            pdf: w.finish(catalog, info_ref),
            shared_prefix,
        })
    }
}

/// Room left at the end of a finished document for a signature appended in place (a receipt's
/// seal with its time-stamp takes about 12 KiB).
const SIGNATURE_ROOM: usize = 32 * 1024;

/// A finished document.
pub struct Rendered {
    pub pdf: Vec<u8>,
    /// How many of its first bytes (the header and the embedded fonts) are the same in every
    /// document drawn with the same faces from the shared subsets: a signer may keep their
    /// hash (`diwan_pades::SignOptions::shared_prefix`). 0 when a face has a subset of its own.
    pub shared_prefix: usize,
}

/// A face subset: which original glyphs it holds (in the order of their new ids) and the
/// compressed font program.
struct Subset {
    face: usize,
    remapper: GlyphRemapper,
    program: Vec<u8>,
    program_len: usize,
    /// Advance widths in thousandths of an em, by new glyph id, as the `/W` array's entries
    /// (written once per subset, not once per document).
    widths: String,
    /// By original glyph id: its character id in the subset (`u16::MAX` when not in it) and
    /// its advance. Dense, because it is read for every glyph drawn.
    by_gid: Vec<(u16, f32)>,
    tag: String,
    /// For the shared subset: the text each of its glyphs stands for, fixed once from the
    /// repertoire (empty for a document's own subset).
    unicode: BTreeMap<u16, String>,
    /// For the shared subset: its ToUnicode CMap, from `unicode`, compressed once (empty
    /// otherwise). It maps the whole repertoire, a few times the size of a document's own map.
    to_unicode: Vec<u8>,
}

/// Attachments smaller than this are not compressed.
const ATTACHMENT_DEFLATE_MIN: usize = 32 * 1024;

fn deflate(data: &[u8], level: u32) -> Result<Vec<u8>> {
    let mut e = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(data.len() / 2),
        flate2::Compression::new(level),
    );
    e.write_all(data)
        .and_then(|_| e.finish())
        .map_err(|e| PdfError::Write(e.to_string()))
}

/// The characters of the shared repertoire, by family.
fn repertoire(family: Family) -> Vec<String> {
    let mut out = Vec::new();
    match family {
        Family::Sans => {
            let mut s: String = (0x20u8..0x7f)
                .map(char::from)
                .chain((0xa0u32..=0xff).filter_map(char::from_u32))
                .collect();
            s.push_str("ŒœŸ‘’‚“”„–—…€«»•°№‹›·−×÷ ");
            out.push(s);
            out.extend(["fi", "fl", "ff", "ffi", "ffl"].map(String::from));
        }
        Family::Naskh => {
            let letters: Vec<char> = (0x0621u32..=0x063a)
                .chain(0x0641..=0x064a)
                .chain([0x0671, 0x067e, 0x0686, 0x06a4, 0x06a9, 0x06af, 0x06cc])
                .filter_map(char::from_u32)
                .collect();
            let marks: String = (0x064bu32..=0x0652)
                .chain([0x0670])
                .filter_map(char::from_u32)
                .collect();
            let singles = format!("٠١٢٣٤٥٦٧٨٩،؛؟ـ ()[]:.,-/0123456789«»{marks}");
            out.push(singles);
            for &a in &letters {
                // Isolated, initial, medial and final forms.
                out.push(format!("{a}"));
                out.push(format!("ـ{a}"));
                out.push(format!("{a}ـ"));
                out.push(format!("ـ{a}ـ"));
                // Two-letter ligatures in every joining context, and the marks on a letter.
                for &b in &letters {
                    out.push(format!("{a}{b}"));
                    out.push(format!("ـ{a}{b}"));
                    out.push(format!("{a}{b}ـ"));
                    out.push(format!("ـ{a}{b}ـ"));
                }
                out.push(format!("ب{a}{marks}"));
            }
        }
        Family::Tifinagh => {
            let letters: Vec<char> = (0x2d30u32..=0x2d7f).filter_map(char::from_u32).collect();
            let mut all: String = letters.iter().collect();
            all.push_str(" .,-:()");
            out.push(all);
            // Doubled letters and other pairs have forms of their own.
            for &a in &letters {
                for &b in &letters {
                    out.push(format!("{a}{b}"));
                }
            }
        }
    }
    out
}

fn face_family(face: usize) -> (Family, bool) {
    match face {
        0 => (Family::Sans, false),
        1 => (Family::Sans, true),
        2 => (Family::Naskh, false),
        3 => (Family::Naskh, true),
        _ => (Family::Tifinagh, false),
    }
}

/// The shared subset of a face, built on first use.
fn base_subset(face: usize) -> Option<&'static Subset> {
    static BASES: [OnceLock<Option<Subset>>; FACES] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    BASES
        .get(face)?
        .get_or_init(|| {
            let (family, bold) = face_family(face);
            let rtl = family == Family::Naskh;
            let texts = repertoire(family);
            let shaped: Vec<(u16, String)> = texts
                .iter()
                .flat_map(|t| layout::glyph_clusters(t, family, bold, rtl))
                .collect();
            let mut glyphs: Vec<u16> = shaped.iter().map(|(g, _)| *g).collect();
            glyphs.sort_unstable();
            glyphs.dedup();
            let mut subset = Subset::build_with_level(face, glyphs, 9).ok()?;
            let chars = texts.iter().flat_map(|t| t.chars());
            subset.unicode = fixed_texts(face, &subset.remapper, shaped, chars);
            let cmap = to_unicode_cmap(&subset.remapper, subset.unicode.iter());
            subset.to_unicode = deflate(&cmap, 9).ok()?;
            Some(subset)
        })
        .as_ref()
}

impl Subset {
    /// The shared subset of the face plus `extra` glyphs.
    fn build(face: usize, extra: impl Iterator<Item = u16>) -> Result<Self> {
        let base = base_subset(face).ok_or(PdfError::Fonts)?;
        let glyphs: Vec<u16> = base.remapper.remapped_gids().chain(extra).collect();
        Self::build_with_level(face, glyphs, 6)
    }

    fn build_with_level(face: usize, glyphs: Vec<u16>, level: u32) -> Result<Self> {
        let (data, _, parsed) = layout::face_program(face).ok_or(PdfError::Fonts)?;
        let remapper = GlyphRemapper::new_from_glyphs(&glyphs);
        let program = subsetter::subset(data, 0, &remapper)
            .map_err(|e| PdfError::Write(format!("font subset: {e}")))?;
        let upem = parsed.units_per_em() as f32;
        let advance = |g: u16| {
            (f32::from(
                parsed
                    .glyph_hor_advance(ttf_parser::GlyphId(g))
                    .unwrap_or(0),
            ) * 1000.0
                / upem)
                .round()
        };
        let widths = remapper.remapped_gids().fold(String::new(), |mut out, g| {
            let _ = write!(out, "{} ", advance(g) as i32);
            out
        });
        let mut by_gid =
            vec![(u16::MAX, 0.0); remapper.remapped_gids().max().map_or(0, usize::from) + 1];
        for g in remapper.remapped_gids() {
            if let Some(cid) = remapper.get(g) {
                by_gid[usize::from(g)] = (cid, advance(g));
            }
        }
        // A subset tag (six capitals) that depends on the glyphs it holds.
        let digest = <sha2::Sha256 as sha2::Digest>::digest(
            remapper
                .remapped_gids()
                .flat_map(u16::to_be_bytes)
                .collect::<Vec<u8>>(),
        );
        let tag: String = digest
            .iter()
            .take(6)
            .map(|b| char::from(b'A' + b % 26))
            .collect();
        Ok(Self {
            face,
            remapper,
            program_len: program.len(),
            program: deflate(&program, level)?,
            widths,
            by_gid,
            tag,
            unicode: BTreeMap::new(),
            to_unicode: Vec::new(),
        })
    }

    /// The character id and the advance of an original glyph, when the subset holds it.
    fn glyph(&self, gid: u16) -> Option<(u16, f32)> {
        self.by_gid
            .get(usize::from(gid))
            .copied()
            .filter(|&(cid, _)| cid != u16::MAX)
    }

    /// Writes the font's objects, with `to_unicode` as its ToUnicode CMap (`filter`: the
    /// stream's `/Filter` entry, or nothing); returns the Type 0 font's object number.
    fn write(&self, w: &mut impl ObjectSink, to_unicode: &[u8], filter: &str) -> Result<usize> {
        let (_, ps_name, parsed) = layout::face_program(self.face).ok_or(PdfError::Fonts)?;
        let upem = parsed.units_per_em() as f32;
        let scale = |v: i16| (f32::from(v) * 1000.0 / upem).round() as i32;
        let bbox = parsed.global_bounding_box();
        let name = format!("{}+{ps_name}", self.tag);

        let file = w.reserve();
        w.stream(
            file,
            &format!("/Length1 {} /Filter /FlateDecode", self.program_len),
            &self.program,
        );
        let descriptor = w.reserve();
        w.object(
            descriptor,
            format!(
                "<< /Type /FontDescriptor /FontName /{name} /Flags 4 /FontBBox [{} {} {} {}] /ItalicAngle 0 /Ascent {} /Descent {} /CapHeight {} /StemV 80 /FontFile2 {file} 0 R >>",
                scale(bbox.x_min),
                scale(bbox.y_min),
                scale(bbox.x_max),
                scale(bbox.y_max),
                scale(parsed.ascender()),
                scale(parsed.descender()),
                scale(parsed.capital_height().unwrap_or(parsed.ascender())),
            )
            .as_bytes(),
        );
        let widths = &self.widths;
        let cid = w.reserve();
        w.object(
            cid,
            format!(
                "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{name} /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor {descriptor} 0 R /W [0 [{widths}]] /CIDToGIDMap /Identity >>"
            )
            .as_bytes(),
        );
        let cmap = w.reserve();
        w.stream(cmap, filter, to_unicode);
        let font = w.reserve();
        w.object(
            font,
            format!(
                "<< /Type /Font /Subtype /Type0 /BaseFont /{name} /Encoding /Identity-H /DescendantFonts [{cid} 0 R] /ToUnicode {cmap} 0 R >>"
            )
            .as_bytes(),
        );
        Ok(font)
    }
}

/// A ToUnicode CMap: what each glyph stands for, by its character id in `remapper`'s subset
/// (glyphs the subset does not hold are left out).
fn to_unicode_cmap<'t>(
    remapper: &GlyphRemapper,
    texts: impl Iterator<Item = (&'t u16, &'t String)>,
) -> Vec<u8> {
    let mut map: Vec<(u16, &str)> = texts
        .filter(|(_, t)| !t.is_empty())
        .filter_map(|(g, t)| Some((remapper.get(*g)?, t.as_str())))
        .collect();
    map.sort_unstable_by_key(|(cid, _)| *cid);
    map.dedup_by_key(|(cid, _)| *cid);
    let mut cmap = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    for chunk in map.chunks(100) {
        let _ = writeln!(cmap, "{} beginbfchar", chunk.len());
        for (cid, text) in chunk {
            let _ = write!(cmap, "<{cid:04X}> <");
            for u in text.encode_utf16() {
                let _ = write!(cmap, "{u:04X}");
            }
            cmap.push_str(">\n");
        }
        cmap.push_str("endbfchar\n");
    }
    cmap.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    cmap.into_bytes()
}

/// The text each glyph of a shared subset stands for, fixed once for every document:
/// 1. a glyph the font maps a character of the repertoire to stands for it (the lowest one when
///    several map to it: a space, not a no-break space). This covers the combining marks, drawn
///    inside their letter's cluster, and the mirrored brackets and quotes of right-to-left
///    text, which shaping draws with each other's glyphs;
/// 2. else, the shortest cluster it begins (a letter's joining forms; a ligature such as
///    "fi"), the lowest of equals.
fn fixed_texts(
    face: usize,
    remapper: &GlyphRemapper,
    shaped: Vec<(u16, String)>,
    chars: impl Iterator<Item = char>,
) -> BTreeMap<u16, String> {
    let mut shortest: BTreeMap<u16, (usize, String)> = BTreeMap::new();
    for (g, text) in shaped.into_iter().filter(|(_, t)| !t.is_empty()) {
        let key = (text.chars().count(), text);
        match shortest.entry(g) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(key);
            }
            std::collections::btree_map::Entry::Occupied(mut e) => {
                if key < *e.get() {
                    e.insert(key);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Some((_, _, parsed)) = layout::face_program(face) {
        let mut chars: Vec<char> = chars.collect();
        chars.sort_unstable();
        chars.dedup();
        for c in chars {
            if let Some(g) = parsed.glyph_index(c) {
                if remapper.get(g.0).is_some() {
                    out.entry(g.0).or_insert_with(|| c.to_string());
                }
            }
        }
    }
    for (g, (_, t)) in shortest {
        out.entry(g).or_insert(t);
    }
    out
}

/// The advance of an original glyph of a face, in thousandths of an em (0 if unknown).
fn face_advance(face: usize, gid: u16) -> f32 {
    layout::face_program(face)
        .map(|(_, _, p)| {
            (f32::from(p.glyph_hor_advance(ttf_parser::GlyphId(gid)).unwrap_or(0)) * 1000.0
                / p.units_per_em() as f32)
                .round()
        })
        .unwrap_or(0.0)
}

/// A PDF text string: literal for printable ASCII, UTF-16BE with a byte-order mark otherwise.
fn text_string(s: &str) -> String {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('(');
        for c in s.chars() {
            if matches!(c, '(' | ')' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push(')');
        out
    } else {
        let mut out = String::from("<FEFF");
        for u in s.encode_utf16() {
            let _ = write!(out, "{u:04X}");
        }
        out.push('>');
        out
    }
}

/// A PDF name's characters (`#xx` for anything but regular characters).
fn name_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "#{b:02X}");
        }
    }
    out
}

/// The objects of the shared subsets of one set of faces, as written after the document's
/// first objects (at byte `start.0`, from object `start.1` on): byte offsets included, they are
/// the same in every document drawn with those faces. At most one per set of faces (32).
struct SharedFontObjects {
    drawn: [bool; FACES],
    start: (usize, usize),
    bytes: Vec<u8>,
    offsets: Vec<usize>,
    fonts: Vec<(String, usize)>,
}

static SHARED_FONT_OBJECTS: std::sync::Mutex<Vec<SharedFontObjects>> =
    std::sync::Mutex::new(Vec::new());

/// Objects written in sequence, with a classic cross-reference table.
struct Writer {
    out: Vec<u8>,
    offsets: Vec<usize>,
    /// The hash the document's identifier is derived from (its page content and information),
    /// fed as they are written rather than copied.
    id_hasher: sha2::Sha256,
}

impl Writer {
    fn with_capacity(capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity);
        out.extend_from_slice(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n");
        Self {
            out,
            offsets: vec![0],
            id_hasher: <sha2::Sha256 as sha2::Digest>::new(),
        }
    }

    fn finish(mut self, root: usize, info: usize) -> Vec<u8> {
        let xref = self.out.len();
        let _ = write!(
            self.out,
            "xref\n0 {}\n0000000000 65535 f\r\n",
            self.offsets.len()
        );
        for off in &self.offsets[1..] {
            let _ = write!(self.out, "{off:010} 00000 n\r\n");
        }
        let id = sha2::Digest::finalize(self.id_hasher);
        let id: String = id.iter().take(16).fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
        let _ = write!(
            self.out,
            "trailer\n<< /Size {} /Root {root} 0 R /Info {info} 0 R /ID [<{id}> <{id}>] >>\nstartxref\n{xref}\n%%EOF\n",
            self.offsets.len()
        );
        self.out
    }
}

impl ObjectSink for Writer {
    fn reserve(&mut self) -> usize {
        self.offsets.push(0);
        self.offsets.len() - 1
    }

    fn object(&mut self, n: usize, body: &[u8]) {
        self.offsets[n] = self.out.len();
        let _ = writeln!(self.out, "{n} 0 obj");
        self.out.extend_from_slice(body);
        self.out.extend_from_slice(b"\nendobj\n");
    }

    fn stream(&mut self, n: usize, dict: &str, data: &[u8]) {
        self.offsets[n] = self.out.len();
        let _ = write!(
            self.out,
            "{n} 0 obj\n<< {dict} /Length {} >>\nstream\n",
            data.len()
        );
        self.out.extend_from_slice(data);
        self.out.extend_from_slice(b"\nendstream\nendobj\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_compactly() {
        let w = |v: f32| {
            let mut out = Vec::new();
            num(&mut out, v);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(w(0.0), "0");
        assert_eq!(w(42.0), "42");
        assert_eq!(w(-3.5), "-3.5");
        assert_eq!(w(0.0049), "0.005");
        assert_eq!(w(595.276), "595.276");
        assert_eq!(w(-0.0001), "0");
        assert_eq!(w(f32::NAN), "0");
        assert_eq!(w(12.10), "12.1");
    }

    /// The fixed text of the shared subsets' glyphs: a space is a space (not a no-break space),
    /// a ligature stands for its letters, a mark drawn in its letter's cluster for itself,
    /// quotes for themselves although right-to-left text draws each with the other's glyph,
    /// and joining forms for their letter.
    #[test]
    fn shared_subsets_glyphs_stand_for_their_text() {
        let texts = |face: usize, text: &str| {
            let (family, bold) = face_family(face);
            let base = base_subset(face).expect("subset");
            let mut out: Vec<String> =
                layout::glyph_clusters(text, family, bold, family == Family::Naskh)
                    .into_iter()
                    .map(|(g, _)| base.unicode.get(&g).cloned().unwrap_or_default())
                    .collect();
            out.sort();
            out
        };
        assert_eq!(
            texts(0, "a b"),
            ["a", "b", " "].map(String::from).to_vec().tap_sort()
        );
        assert_eq!(texts(0, "fi"), ["fi"]);
        assert_eq!(texts(1, "«»"), ["«", "»"]);
        assert_eq!(texts(2, "«»"), ["«", "»"]);
        // Noto Naskh draws lam-alef as two glyphs of their own forms.
        assert_eq!(texts(2, "لا"), ["ا", "ل"]);
        assert_eq!(
            texts(2, "في"),
            ["ف", "ي"].map(String::from).to_vec().tap_sort()
        );
        assert_eq!(
            texts(3, "بَ"),
            ["ب", "\u{64e}"].map(String::from).to_vec().tap_sort()
        );
        assert_eq!(
            texts(4, "ⵜⴰ"),
            ["ⴰ", "ⵜ"].map(String::from).to_vec().tap_sort()
        );
    }

    trait TapSort {
        fn tap_sort(self) -> Self;
    }
    impl TapSort for Vec<String> {
        fn tap_sort(mut self) -> Self {
            self.sort();
            self
        }
    }

    /// The shared subsets' objects copied from the first document drawn with the same faces are
    /// the ones writing them gives, offsets included.
    #[test]
    fn shared_font_objects_copied_are_the_ones_written() {
        let mut c = Canvas::new(595.0, 842.0);
        let style = Style::new(10.0);
        c.text(
            &layout::shape("Reçu le", style, Direction::Ltr),
            40.0,
            60.0,
            200.0,
            Align::Start,
        );
        c.text(
            &layout::shape("تاريخ", style, Direction::Rtl),
            300.0,
            60.0,
            200.0,
            Align::Start,
        );
        assert!(c.uses_only_shared_subsets());
        let fresh = || {
            let mut w = Writer::with_capacity(1024);
            for _ in 0..5 {
                w.reserve();
            }
            w
        };
        let mut written = fresh();
        let fonts = c.write_fonts(&mut written).unwrap();
        for _ in 0..2 {
            let mut copied = fresh();
            assert_eq!(c.write_shared_fonts(&mut copied).unwrap(), fonts);
            assert_eq!(copied.out, written.out);
            assert_eq!(copied.offsets, written.offsets);
        }
    }

    #[test]
    fn shared_subsets_cover_ordinary_text() {
        for (text, dir) in [
            (
                "Accusé de réception — numéro 42, « reçu » à 10:30",
                Direction::Ltr,
            ),
            (
                "إشعار بالتوصل من وزارة الانتقال الرقمي وإصلاح الإدارة",
                Direction::Rtl,
            ),
            ("ⵜⴰⴳⵍⴷⵉⵜ ⵏ ⵍⵎⵖⵔⵉⴱ", Direction::Ltr),
        ] {
            for bold in [false, true] {
                let style = if bold {
                    Style::new(10.0).bold()
                } else {
                    Style::new(10.0)
                };
                let line = layout::shape(text, style, dir);
                for run in line.runs.iter() {
                    let face = layout::face_index(run.family, run.bold);
                    let base = base_subset(face).expect("subset");
                    for g in &run.glyphs {
                        let gid = g.glyph_id.to_u32() as u16;
                        assert!(
                            base.remapper.get(gid).is_some(),
                            "{text:?}: glyph {gid} of face {face}"
                        );
                    }
                }
            }
        }
    }

    /// The dense by-glyph table read for every glyph drawn says what the subset's remapper and
    /// the font say, for every glyph id of every face (and past the last one).
    #[test]
    fn the_dense_glyph_table_agrees_with_the_remapper() {
        for face in 0..layout::FACES {
            let Some(base) = base_subset(face) else {
                continue;
            };
            let (_, _, parsed) = layout::face_program(face).expect("face");
            for gid in 0..=parsed.number_of_glyphs().saturating_add(10) {
                let glyph = base.glyph(gid);
                assert_eq!(
                    glyph.map(|(cid, _)| cid),
                    base.remapper.get(gid),
                    "face {face}, glyph {gid}"
                );
                if let Some((_, advance)) = glyph {
                    assert_eq!(advance, face_advance(face, gid), "face {face}, glyph {gid}");
                }
            }
        }
    }

    /// Codes drawn one after the other share one hexadecimal string, which closes before any
    /// adjustment, offset or rise; poppler reads the same text back.
    #[test]
    fn consecutive_codes_share_one_string() {
        let mut c = Canvas::new(595.0, 842.0);
        let lines = [
            "AVATAR verifier l'office 0123",
            "إشعار بالتوصل",
            "Numéro d'ordre — ⵜⴰⵎⴰⵣⵉⵖⵜ",
        ];
        for (i, text) in lines.iter().enumerate() {
            let line = layout::shape(text, Style::new(12.0), layout::direction_of(text));
            c.text(&line, 10.0, 80.0 + 20.0 * i as f32, 500.0, Align::Start);
        }
        let content = String::from_utf8(c.content.clone()).unwrap();
        assert!(!content.contains("><"), "{content}");
        // Every string holds whole two-byte codes, and kerning ("AV") sits between strings.
        let strings: Vec<&str> = content
            .split('<')
            .skip(1)
            .map(|s| s.split('>').next().unwrap())
            .collect();
        assert!(strings.iter().all(|s| s.len() % 4 == 0 && !s.is_empty()));
        assert!(strings.iter().any(|s| s.len() >= 16), "{content}");
        assert!(content.contains("> -") || content.contains("> 1") || content.contains("> 2"));
        let pdf = c
            .finish(
                &Info {
                    title: "t",
                    creator: "Diwan",
                    lang: "fr",
                    created: time::OffsetDateTime::UNIX_EPOCH,
                },
                None,
            )
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("page.pdf");
        std::fs::write(&path, &pdf).unwrap();
        let Ok(out) = std::process::Command::new("pdftotext")
            .arg(&path)
            .arg("-")
            .output()
        else {
            eprintln!("pdftotext missing: text extraction not checked");
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        for needle in ["AVATAR verifier l'office 0123", "Numéro d'ordre"] {
            assert!(text.contains(needle), "{needle:?} missing from {text}");
        }
        assert!(text.contains("بالتوصل"), "{text}");
    }

    #[test]
    fn writes_a_page_with_text_and_an_attachment() {
        let mut c = Canvas::new(595.0, 842.0);
        c.rect(10.0, 10.0, 100.0, 20.0, (10, 90, 60));
        c.hline(10.0, 200.0, 40.0, (0, 0, 0), 0.5);
        let line = layout::shape("Bonjour ⵣ سلام Ǳ", Style::new(12.0), Direction::Ltr);
        c.text(&line, 10.0, 80.0, 500.0, Align::Start);
        let pdf = c
            .finish(
                &Info {
                    title: "Test é",
                    creator: "Diwan",
                    lang: "fr",
                    created: time::OffsetDateTime::UNIX_EPOCH,
                },
                Some(&Attachment {
                    name: "a.json",
                    mime: "application/json",
                    description: "données",
                    data: b"{}",
                }),
            )
            .unwrap();
        assert!(pdf.starts_with(b"%PDF-1.7"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/EmbeddedFiles"));
        assert!(text.contains("/ToUnicode"));
        assert_eq!(text.matches("/CIDFontType2").count(), 3);
        // A letter outside the shared repertoire gets a subset of its own; the others share.
        let own = |face: usize, name: &str| {
            !text.contains(&format!("{}+{name}", base_subset(face).unwrap().tag))
        };
        assert!(own(0, "NotoSans-Regular"));
        assert!(!own(2, "NotoNaskhArabic-Regular"));
    }
}
