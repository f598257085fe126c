//! Multilingual text layout: bidirectional reordering (UAX #9), font choice by script, Arabic
//! shaping (rustybuzz, a port of HarfBuzz), measuring and line breaking, and drawing into krilla
//! surfaces with the text kept extractable (each glyph maps back to its characters).
//!
//! Fonts are the vendored Noto families: Noto Sans (Latin and the rest), Noto Naskh Arabic,
//! Noto Sans Tifinagh. They are parsed once per process.

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::num::NormalizedF32;
use krilla::paint::{Fill, FillRule};
use krilla::surface::Surface;
use krilla::text::{Font, GlyphId, KrillaGlyph};
use std::sync::{Arc, OnceLock};
use unicode_bidi::{BidiInfo, Level};

static SANS: &[u8] = include_bytes!("../../../assets/fonts/NotoSans-Regular.ttf");
static SANS_BOLD: &[u8] = include_bytes!("../../../assets/fonts/NotoSans-Bold.ttf");
static NASKH: &[u8] = include_bytes!("../../../assets/fonts/NotoNaskhArabic-Regular.ttf");
static NASKH_BOLD: &[u8] = include_bytes!("../../../assets/fonts/NotoNaskhArabic-Bold.ttf");
static TIFINAGH: &[u8] = include_bytes!("../../../assets/fonts/NotoSansTifinagh-Regular.ttf");

/// A font family of the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Sans,
    Naskh,
    Tifinagh,
}

struct Face {
    krilla: Font,
    shaper: rustybuzz::Face<'static>,
    upem: f32,
    script: rustybuzz::Script,
    /// Shaping plans, left-to-right and right-to-left, compiled once.
    plans: [OnceLock<rustybuzz::ShapePlan>; 2],
}

struct Faces {
    faces: [Face; FACES],
}

fn load(data: &'static [u8], script: rustybuzz::Script) -> Option<Face> {
    let shaper = rustybuzz::Face::from_slice(data, 0)?;
    let upem = shaper.units_per_em() as f32;
    Some(Face {
        krilla: Font::new(krilla::Data::from(data), 0)?,
        shaper,
        upem,
        script,
        plans: [OnceLock::new(), OnceLock::new()],
    })
}

fn faces() -> Option<&'static Faces> {
    static F: OnceLock<Option<Faces>> = OnceLock::new();
    F.get_or_init(|| {
        use rustybuzz::script::{ARABIC, LATIN, TIFINAGH as TFNG};
        Some(Faces {
            faces: [
                load(SANS, LATIN)?,
                load(SANS_BOLD, LATIN)?,
                load(NASKH, ARABIC)?,
                load(NASKH_BOLD, ARABIC)?,
                load(TIFINAGH, TFNG)?,
            ],
        })
    })
    .as_ref()
}

/// The number of font faces: regular and bold Sans and Naskh, and Tifinagh.
pub(crate) const FACES: usize = 5;

/// The index of a family's face (0..FACES).
pub(crate) fn face_index(family: Family, bold: bool) -> usize {
    match (family, bold) {
        (Family::Sans, false) => 0,
        (Family::Sans, true) => 1,
        (Family::Naskh, false) => 2,
        (Family::Naskh, true) => 3,
        (Family::Tifinagh, _) => 4,
    }
}

fn face(family: Family, bold: bool) -> Option<&'static Face> {
    Some(&faces()?.faces[face_index(family, bold)])
}

/// A face's font program, its PostScript name and its parsed tables, for writers that embed
/// fonts themselves.
pub(crate) fn face_program(
    index: usize,
) -> Option<(
    &'static [u8],
    &'static str,
    &'static rustybuzz::Face<'static>,
)> {
    const NAMES: [&str; FACES] = [
        "NotoSans-Regular",
        "NotoSans-Bold",
        "NotoNaskhArabic-Regular",
        "NotoNaskhArabic-Bold",
        "NotoSansTifinagh-Regular",
    ];
    const DATA: [&[u8]; FACES] = [SANS, SANS_BOLD, NASKH, NASKH_BOLD, TIFINAGH];
    let f = faces()?.faces.get(index)?;
    Some((DATA[index], NAMES[index], &f.shaper))
}

/// How text looks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    pub size: f32,
    pub bold: bool,
    pub color: (u8, u8, u8),
}

impl Style {
    pub const fn new(size: f32) -> Self {
        Self {
            size,
            bold: false,
            color: (0x1b, 0x24, 0x30),
        }
    }
    pub const fn bold(mut self) -> Self {
        self.bold = true;
        self
    }
    pub const fn color(mut self, r: u8, g: u8, b: u8) -> Self {
        self.color = (r, g, b);
        self
    }
}

/// Paragraph direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Ltr,
    Rtl,
}

/// Where a line sits in its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Left for left-to-right paragraphs, right for right-to-left ones.
    Start,
    End,
    Center,
}

/// A shaped run of one font and direction, glyphs in visual order.
#[derive(Debug, Clone)]
pub struct Run {
    pub(crate) family: Family,
    pub(crate) bold: bool,
    pub(crate) text: String,
    pub(crate) glyphs: Vec<KrillaGlyph>,
    /// Width at size 1.
    pub(crate) width_em: f32,
}

/// A shaped line: runs in visual (left-to-right) order.
#[derive(Debug, Clone)]
pub struct Line {
    /// Shared with the shaping cache: a line drawn again costs a reference count, not a copy.
    pub runs: Arc<[Run]>,
    pub style: Style,
    pub direction: Direction,
}

impl Line {
    /// Width in points.
    pub fn width(&self) -> f32 {
        self.runs.iter().map(|r| r.width_em).sum::<f32>() * self.style.size
    }

    /// Where the line starts when aligned in the box `[x, x + box_width]`.
    pub(crate) fn start_x(&self, x: f32, box_width: f32, align: Align) -> f32 {
        let w = self.width();
        match (align, self.direction) {
            (Align::Center, _) => x + (box_width - w) / 2.0,
            (Align::Start, Direction::Ltr) | (Align::End, Direction::Rtl) => x,
            (Align::Start, Direction::Rtl) | (Align::End, Direction::Ltr) => x + box_width - w,
        }
    }
}

fn is_arabic(c: char) -> bool {
    matches!(c as u32, 0x0600..=0x06FF | 0x0750..=0x077F | 0x08A0..=0x08FF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF)
}

fn is_tifinagh(c: char) -> bool {
    matches!(c as u32, 0x2D30..=0x2D7F)
}

fn preferred(c: char) -> Option<Family> {
    if is_arabic(c) {
        Some(Family::Naskh)
    } else if is_tifinagh(c) {
        Some(Family::Tifinagh)
    } else if c.is_alphabetic() {
        Some(Family::Sans)
    } else {
        None // digits, spaces, punctuation: follow their neighbours
    }
}

fn has_glyph(family: Family, c: char) -> bool {
    face(family, false).is_some_and(|f| f.shaper.glyph_index(c).is_some())
}

/// Splits a directional run into font segments (byte ranges), in logical order.
fn font_segments(text: &str) -> Vec<(Family, std::ops::Range<usize>)> {
    let mut segs: Vec<(Family, std::ops::Range<usize>)> = Vec::new();
    // The family of the first strong character decides for leading neutrals.
    let first_strong = text.chars().find_map(preferred).unwrap_or(Family::Sans);
    for (i, c) in text.char_indices() {
        let end = i + c.len_utf8();
        let fam = match preferred(c) {
            Some(f) if has_glyph(f, c) => f,
            Some(_) => Family::Sans,
            None => {
                let current = segs.last().map(|s| s.0).unwrap_or(first_strong);
                if has_glyph(current, c) {
                    current
                } else {
                    [Family::Sans, Family::Naskh, Family::Tifinagh]
                        .into_iter()
                        .find(|f| has_glyph(*f, c))
                        .unwrap_or(Family::Sans)
                }
            }
        };
        match segs.last_mut() {
            Some((f, r)) if *f == fam => r.end = end,
            _ => segs.push((fam, i..end)),
        }
    }
    segs
}

/// The glyphs shaping `text` in one family gives, each with the text of its cluster when it is
/// the cluster's first glyph (empty otherwise). Not memoized: for building font subsets.
pub(crate) fn glyph_clusters(
    text: &str,
    family: Family,
    bold: bool,
    rtl: bool,
) -> Vec<(u16, String)> {
    let Some(run) = shape_segment(text, family, bold, rtl) else {
        return Vec::new();
    };
    run.glyphs
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let first = i == 0 || run.glyphs[i - 1].text_range != g.text_range;
            let cluster = if first {
                run.text.get(g.text_range.clone()).unwrap_or("")
            } else {
                ""
            };
            (g.glyph_id.to_u32() as u16, cluster.to_string())
        })
        .collect()
}

fn shape_segment(text: &str, family: Family, bold: bool, rtl: bool) -> Option<Run> {
    let f = face(family, bold)?;
    let direction = if rtl {
        rustybuzz::Direction::RightToLeft
    } else {
        rustybuzz::Direction::LeftToRight
    };
    let mut buf = rustybuzz::UnicodeBuffer::new();
    buf.push_str(text);
    // The family decides the script, so one compiled plan per face and direction serves all.
    buf.set_script(f.script);
    buf.set_direction(direction);
    let plan = f.plans[usize::from(rtl)]
        .get_or_init(|| rustybuzz::ShapePlan::new(&f.shaper, direction, Some(f.script), None, &[]));
    let out = rustybuzz::shape_with_plan(&f.shaper, plan, buf);
    let infos = out.glyph_infos();
    let positions = out.glyph_positions();
    // Cluster starts, to map each glyph to the characters it renders.
    let mut starts: Vec<usize> = infos.iter().map(|i| i.cluster as usize).collect();
    starts.sort_unstable();
    starts.dedup();
    let mut glyphs = Vec::with_capacity(infos.len());
    let mut width = 0.0;
    for (info, pos) in infos.iter().zip(positions) {
        let start = info.cluster as usize;
        let end = starts
            .iter()
            .find(|s| **s > start)
            .copied()
            .unwrap_or(text.len());
        let adv = pos.x_advance as f32 / f.upem;
        width += adv;
        glyphs.push(KrillaGlyph::new(
            GlyphId::new(info.glyph_id),
            adv,
            pos.x_offset as f32 / f.upem,
            pos.y_offset as f32 / f.upem,
            pos.y_advance as f32 / f.upem,
            start..end,
            None,
        ));
    }
    Some(Run {
        family,
        bold,
        text: text.to_string(),
        glyphs,
        width_em: width,
    })
}

/// Shaped lines, memoized: every receipt or letter repeats the same labels and words, and
/// shaping (bidi analysis, font choice, OpenType substitution and positioning) is the costliest
/// step of laying out text. Runs do not depend on the size or colour, only on the text, the
/// weight and the paragraph direction.
/// Hashed with foldhash rather than SipHash: a receipt looks up some three hundred short texts.
/// Its seed is random per process, so filers cannot choose texts that collide.
type ShapedMap = std::collections::HashMap<String, Arc<[Run]>, foldhash::fast::RandomState>;

/// Bounded, in two generations: a lookup tries the young one, then the old one (moving what it
/// finds to the young one); when the young one is full, it becomes the old one and the old one
/// is dropped. Texts met on every page (labels, words) so stay however many met once (names,
/// numbers, subjects) pass through, where clearing a full cache made every receipt's labels
/// shaped again after every few hundred filings.
#[derive(Default)]
struct ShapedCache {
    /// One map per weight and direction, so that a lookup borrows the text.
    young: [ShapedMap; 4],
    old: [ShapedMap; 4],
}

/// Texts in the young generation when it is replaced.
const SHAPED_GENERATION: usize = 2048;

impl ShapedCache {
    fn get(&mut self, slot: usize, text: &str) -> Option<Arc<[Run]>> {
        if let Some(runs) = self.young[slot].get(text) {
            return Some(Arc::clone(runs));
        }
        let (text, runs) = self.old[slot].remove_entry(text)?;
        self.insert(slot, text, Arc::clone(&runs));
        Some(runs)
    }

    fn insert(&mut self, slot: usize, text: String, runs: Arc<[Run]>) {
        if self.young.iter().map(ShapedMap::len).sum::<usize>() >= SHAPED_GENERATION {
            self.old = std::mem::take(&mut self.young);
        }
        self.young[slot].insert(text, runs);
    }
}

static SHAPED: std::sync::Mutex<Option<ShapedCache>> = std::sync::Mutex::new(None);

/// Shapes one line of text (no line breaks inside).
pub fn shape(text: &str, style: Style, direction: Direction) -> Line {
    let slot = usize::from(style.bold) * 2 + usize::from(direction == Direction::Rtl);
    let cached = SHAPED
        .lock()
        .ok()
        .and_then(|mut c| c.as_mut().and_then(|c| c.get(slot, text)));
    let runs = match cached {
        Some(runs) => runs,
        None => {
            let composed = by_words(text, style, direction)
                .or_else(|| by_characters(text, style.bold, direction));
            let runs: Arc<[Run]> = match composed {
                Some(run) => Arc::new([run]),
                None => shape_runs(text, style.bold, direction).into(),
            };
            if let Ok(mut cache) = SHAPED.lock() {
                cache.get_or_insert_with(Default::default).insert(
                    slot,
                    text.to_string(),
                    Arc::clone(&runs),
                );
            }
            runs
        }
    };
    Line {
        runs,
        style,
        direction,
    }
}

/// Whether `c` may be in a line composed by words: left-to-right or neutral, in the Latin font.
fn simple_for_words(c: char) -> bool {
    use unicode_bidi::BidiClass::*;
    matches!(
        unicode_bidi::bidi_class(c),
        L | EN | ES | ET | CS | ON | WS | NSM | BN
    ) && !is_arabic(c)
        && !is_tifinagh(c)
        && has_glyph(Family::Sans, c)
}

/// [`simple_for_words`] of each ASCII character, worked out once: most lines are ASCII, and
/// the two lookups per character (a binary search, the font's map) were a tenth of a line's
/// composition.
static SIMPLE_ASCII: std::sync::LazyLock<[bool; 128]> = std::sync::LazyLock::new(|| {
    let mut t = [false; 128];
    for (i, known) in t.iter_mut().enumerate() {
        *known = char::from_u32(i as u32).is_some_and(simple_for_words);
    }
    t
});

/// A left-to-right line of the Latin font alone, laid out from its words' cached runs: a space
/// ends every lookup of that font (ligatures, kerning), so the words shaped apart give the glyphs
/// and advances of the line shaped whole (a test compares both). A receipt's lines are new
/// (numbers, names, hashes), but their words mostly are not. None for any other line.
fn by_words(text: &str, style: Style, direction: Direction) -> Option<Run> {
    // A single word, or spaces alone (whose words would be the line itself), is shaped whole.
    if direction != Direction::Ltr
        || !text.contains(' ')
        || text.trim_matches(' ').is_empty()
        || !text.chars().all(|c| match SIMPLE_ASCII.get(c as usize) {
            Some(known) => *known,
            None => simple_for_words(c),
        })
    {
        return None;
    }
    let mut line = Run {
        family: Family::Sans,
        bold: style.bold,
        text: text.to_string(),
        glyphs: Vec::with_capacity(text.len()),
        width_em: 0.0,
    };
    let space = shape(" ", style, direction);
    let mut at = 0;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            append(&mut line, &space, at)?;
            at += 1;
        }
        if !word.is_empty() {
            append(&mut line, &shape(word, style, direction), at)?;
            at += word.len();
        }
    }
    Some(line)
}

/// The characters `by_characters` composes: printable ASCII, then the letters of French and
/// the typographic signs a receipt's lines use.
const EXTRA_CHARS: [char; 28] = [
    'à', 'â', 'ä', 'ç', 'é', 'è', 'ê', 'ë', 'î', 'ï', 'ô', 'ö', 'ù', 'û', 'ü', 'ÿ', 'À', 'Â', 'Ç',
    'É', 'È', 'Ê', '—', '–', '…', '«', '»', '°',
];
const COMPOSED: usize = 95 + EXTRA_CHARS.len();

/// Where `c` sits in the tables of [`ComposedShapes`].
fn composed_index(c: char) -> Option<usize> {
    match c {
        ' '..='~' => Some(c as usize - 0x20),
        _ => EXTRA_CHARS.iter().position(|e| *e == c).map(|i| 95 + i),
    }
}

/// A pair's verdict not known yet, or known not to compose.
const PAIR_UNKNOWN: u32 = 0;
const PAIR_SHAPED: u32 = 1;
/// Otherwise the pair composes, and the value is `KERNED | (kerning in font units + 2^16)`.
const KERNED: u32 = 1 << 31;
const KERN_BIAS: i32 = 1 << 16;

/// For one weight of the Latin font: each composable character shaped alone (its glyph and
/// advance in font units, when it is one plain glyph), and for each pair whether it shapes as
/// those two glyphs side by side, the first one's advance changed by kerning at most (no
/// ligature, mark or other substitution, nothing moved up or down). Filled as characters and
/// pairs are first met, by the shaper itself.
struct ComposedShapes {
    single: [OnceLock<Option<(GlyphId, i32)>>; COMPOSED],
    pairs: [std::sync::atomic::AtomicU32; COMPOSED * COMPOSED],
}

impl ComposedShapes {
    const fn new() -> Self {
        Self {
            single: [const { OnceLock::new() }; COMPOSED],
            pairs: [const { std::sync::atomic::AtomicU32::new(PAIR_UNKNOWN) }; COMPOSED * COMPOSED],
        }
    }

    fn single(&self, c: char, i: usize, bold: bool, upem: f32) -> Option<(GlyphId, i32)> {
        *self.single[i].get_or_init(|| {
            let mut buf = [0u8; 4];
            let run = shape_segment(c.encode_utf8(&mut buf), Family::Sans, bold, false)?;
            match run.glyphs.as_slice() {
                [g] if unmoved(g) => Some((g.glyph_id, (g.x_advance * upem).round() as i32)),
                _ => None,
            }
        })
    }

    /// The kerning between `a` and `b` (font units, added to `a`'s advance) when the pair
    /// composes.
    fn pair(&self, a: (char, usize), b: (char, usize), bold: bool, upem: f32) -> Option<i32> {
        use std::sync::atomic::Ordering::Relaxed;
        let slot = &self.pairs[a.1 * COMPOSED + b.1];
        match slot.load(Relaxed) {
            PAIR_UNKNOWN => {}
            PAIR_SHAPED => return None,
            v => return Some((v & !KERNED) as i32 - KERN_BIAS),
        }
        // Kerning beyond ±2^16 units cannot be stored (nor occurs): shaped, then.
        let kern = self
            .shape_pair(a, b, bold, upem)
            .filter(|k| k.abs() < KERN_BIAS);
        slot.store(
            kern.map_or(PAIR_SHAPED, |k| KERNED | (k + KERN_BIAS) as u32),
            Relaxed,
        );
        kern
    }

    fn shape_pair(&self, a: (char, usize), b: (char, usize), bold: bool, upem: f32) -> Option<i32> {
        let ga = self.single(a.0, a.1, bold, upem)?;
        let gb = self.single(b.0, b.1, bold, upem)?;
        let text: String = [a.0, b.0].iter().collect();
        let run = shape_segment(&text, Family::Sans, bold, false)?;
        let [x, y] = run.glyphs.as_slice() else {
            return None;
        };
        let units = |g: &KrillaGlyph| (g.x_advance * upem).round() as i32;
        (x.glyph_id == ga.0 && y.glyph_id == gb.0 && units(y) == gb.1 && unmoved(x) && unmoved(y))
            .then(|| units(x) - ga.1)
    }
}

/// Whether shaping left a glyph where its advance puts it (no offset, no vertical advance).
fn unmoved(g: &KrillaGlyph) -> bool {
    g.x_offset == 0.0 && g.y_offset == 0.0 && g.y_advance == 0.0
}

static COMPOSED_SHAPES: [ComposedShapes; 2] = [ComposedShapes::new(), ComposedShapes::new()];

/// A left-to-right word or line of printable ASCII and French letters, laid out character by
/// character: the new words of each receipt (numbers, times, hashes, codes, addresses) without
/// running the shaper over them. Where every pair of neighbours shapes as the two glyphs side by
/// side, kerned at most, the characters are composed from their glyphs and the pairs' kerning;
/// a group of neighbours that does not compose so (a ligature such as "fi") is shaped on its
/// own with one composed character of context on each side, whose glyphs must come out plain.
/// Kerning between neighbours adds up along a line, and the font's other lookups that could
/// join or move glyphs act on neighbours too; a test compares the result with the shaper on
/// thousands of strings. None for any other text, and for groups too close to compose around.
fn by_characters(text: &str, bold: bool, direction: Direction) -> Option<Run> {
    if direction != Direction::Ltr || text.len() < 2 {
        return None;
    }
    let chars = text
        .char_indices()
        .map(|(at, c)| composed_index(c).map(|i| (at, c, i)))
        .collect::<Option<Vec<_>>>()?;
    if chars.len() < 2 {
        return None;
    }
    let table = &COMPOSED_SHAPES[usize::from(bold)];
    let upem = face(Family::Sans, bold)?.upem;
    // The kerning of each pair of neighbours that composes.
    let kerns: Vec<Option<i32>> = chars
        .windows(2)
        .map(|w| table.pair((w[0].1, w[0].2), (w[1].1, w[1].2), bold, upem))
        .collect();
    let single = |k: usize| {
        let (_, c, i) = chars[k];
        table.single(c, i, bold, upem)
    };
    let end_of = |k: usize| chars[k].0 + chars[k].1.len_utf8();
    let mut line = Run {
        family: Family::Sans,
        bold,
        text: text.to_string(),
        glyphs: Vec::with_capacity(chars.len()),
        width_em: 0.0,
    };
    // Whether the character before the current one was composed on its own.
    let mut alone_before = false;
    let mut k = 0;
    while k < chars.len() {
        // The group starting at `k`: neighbours joined by pairs that do not compose.
        let mut e = k;
        while e + 1 < chars.len() && kerns[e].is_none() {
            e += 1;
        }
        if e == k {
            if let Some((id, units)) = single(k) {
                let kern = kerns.get(k).copied().flatten().unwrap_or(0);
                // As the shaper computes it: font units over units per em.
                let advance = (units + kern) as f32 / upem;
                line.glyphs.push(KrillaGlyph::new(
                    id,
                    advance,
                    0.0,
                    0.0,
                    0.0,
                    chars[k].0..end_of(k),
                    None,
                ));
                line.width_em += advance;
                alone_before = true;
                k += 1;
                continue;
            }
        }
        // Shaped with its neighbours, which must stand alone on their other side.
        let left = k > 0;
        let right = e + 1 < chars.len();
        if (left && !alone_before)
            || (right && (single(e + 1).is_none() || kerns.get(e + 1) == Some(&None)))
        {
            return None;
        }
        let from = if left { k - 1 } else { k };
        let to = if right { e + 1 } else { e };
        let base = chars[from].0;
        let window = shape_segment(&text[base..end_of(to)], Family::Sans, bold, false)?;
        let mut glyphs = window.glyphs.as_slice();
        // Is `g` (and it alone) the plain glyph of character `c`, at its place in the window?
        let plain = |g: &KrillaGlyph, c: usize, alone: bool| {
            alone
                && g.text_range == (chars[c].0 - base..end_of(c) - base)
                && single(c).is_some_and(|(id, _)| id == g.glyph_id)
                && unmoved(g)
        };
        if left {
            let (first, rest) = glyphs.split_first()?;
            let alone = rest
                .first()
                .is_some_and(|g| g.text_range != first.text_range);
            if !plain(first, k - 1, alone) {
                return None;
            }
            // The context's advance, kerned against what the group became.
            let composed = line.glyphs.last_mut()?;
            line.width_em += first.x_advance - composed.x_advance;
            composed.x_advance = first.x_advance;
            glyphs = rest;
        }
        if right {
            let (last, rest) = glyphs.split_last()?;
            let alone = rest.last().is_some_and(|g| g.text_range != last.text_range);
            if !plain(last, e + 1, alone) {
                return None;
            }
            glyphs = rest;
        }
        for g in glyphs {
            line.glyphs.push(KrillaGlyph {
                text_range: g.text_range.start + base..g.text_range.end + base,
                ..g.clone()
            });
            line.width_em += g.x_advance;
        }
        // The right-hand context comes next, composed on its own.
        alone_before = false;
        k = e + 1;
    }
    Some(line)
}

/// Appends the single Latin run of `part` (at byte `at` of the line) to `line`.
fn append(line: &mut Run, part: &Line, at: usize) -> Option<()> {
    let [run] = &part.runs[..] else { return None };
    if run.family != Family::Sans {
        return None;
    }
    line.glyphs.extend(run.glyphs.iter().map(|g| KrillaGlyph {
        text_range: g.text_range.start + at..g.text_range.end + at,
        ..g.clone()
    }));
    line.width_em += run.width_em;
    Some(())
}

fn shape_runs(text: &str, bold: bool, direction: Direction) -> Vec<Run> {
    let level = match direction {
        Direction::Ltr => Level::ltr(),
        Direction::Rtl => Level::rtl(),
    };
    let mut runs = Vec::new();
    if !text.is_empty() {
        let bidi = BidiInfo::new(text, Some(level));
        for para in &bidi.paragraphs {
            let (levels, level_runs) = bidi.visual_runs(para, para.range.clone());
            for r in level_runs {
                let rtl = levels[r.start].is_rtl();
                let sub = &text[r.clone()];
                let mut segs: Vec<Run> = font_segments(sub)
                    .into_iter()
                    .filter_map(|(fam, range)| shape_segment(&sub[range], fam, bold, rtl))
                    .collect();
                if rtl {
                    segs.reverse();
                }
                runs.extend(segs);
            }
        }
    }
    runs
}

/// Breaks `text` into lines no wider than `max_width` points (at spaces; a single word longer
/// than the width is cut by characters). Explicit newlines are kept. A paragraph is first shaped
/// whole, and kept as one line when it fits (most do: one lookup for a paragraph shaped
/// before). Otherwise words are measured once each, and only the final lines shaped whole.
pub fn wrap(text: &str, style: Style, direction: Direction, max_width: f32) -> Vec<Line> {
    let space = shape(" ", style, direction).width();
    let mut lines = Vec::new();
    for para in text.split('\n') {
        // The line the words would make: single spaces between them, none around.
        if !para.starts_with(' ') && !para.ends_with(' ') && !para.contains("  ") {
            let whole = shape(para, style, direction);
            if whole.width() <= max_width {
                lines.push(whole);
                continue;
            }
        }
        let mut current = String::new();
        let mut width = 0.0f32;
        for word in para.split(' ').filter(|w| !w.is_empty()) {
            let w = shape(word, style, direction).width();
            let needed = if current.is_empty() {
                w
            } else {
                width + space + w
            };
            if needed <= max_width {
                if !current.is_empty() {
                    current.push(' ');
                }
                current.push_str(word);
                width = needed;
                continue;
            }
            if !current.is_empty() {
                lines.push(shape(&current, style, direction));
                current.clear();
            }
            if w <= max_width {
                current.push_str(word);
                width = w;
            } else {
                // Cut an overlong word (hashes, URLs) by characters, measured one by one.
                let mut piece = String::new();
                let mut pw = 0.0f32;
                for c in word.chars() {
                    let mut buf = [0u8; 4];
                    let cw = shape(c.encode_utf8(&mut buf), style, direction).width();
                    if pw + cw > max_width && !piece.is_empty() {
                        lines.push(shape(&piece, style, direction));
                        piece.clear();
                        pw = 0.0;
                    }
                    piece.push(c);
                    pw += cw;
                }
                current = piece;
                width = pw;
            }
        }
        lines.push(shape(&current, style, direction));
    }
    lines
}

/// Draws a line with its baseline at `y`, aligned in the box `[x, x + box_width]`.
pub fn draw(surface: &mut Surface<'_>, line: &Line, x: f32, y: f32, box_width: f32, align: Align) {
    let start_x = line.start_x(x, box_width, align);
    fill(surface, line.style.color);
    let mut pen = start_x;
    for run in line.runs.iter() {
        let Some(f) = face(run.family, run.bold) else {
            continue;
        };
        surface.draw_glyphs(
            Point::from_xy(pen, y),
            &run.glyphs,
            f.krilla.clone(),
            &run.text,
            line.style.size,
            false,
        );
        pen += run.width_em * line.style.size;
    }
}

/// Right to left when the first letter is Arabic.
pub(crate) fn direction_of(text: &str) -> Direction {
    match text.chars().find(|c| c.is_alphabetic()) {
        Some(c) if ('\u{0600}'..='\u{06FF}').contains(&c) => Direction::Rtl,
        _ => Direction::Ltr,
    }
}

/// Sets a solid fill colour on a krilla surface.
fn fill(s: &mut Surface<'_>, c: (u8, u8, u8)) {
    s.set_fill(Some(Fill {
        paint: rgb::Color::new(c.0, c.1, c.2).into(),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    }));
}

/// Fills a rectangle on a krilla surface; `(x, y)` is its top-left corner.
pub(crate) fn rect(s: &mut Surface<'_>, x: f32, y: f32, w: f32, h: f32, color: (u8, u8, u8)) {
    let mut pb = PathBuilder::new();
    if let Some(r) = Rect::from_xywh(x, y, w, h) {
        pb.push_rect(r);
    }
    if let Some(p) = pb.finish() {
        fill(s, color);
        s.set_stroke(None);
        s.draw_path(&p);
    }
}

/// Fails when the vendored fonts cannot be loaded (nothing could be drawn).
pub fn check_fonts() -> crate::Result<()> {
    if shape("x", Style::new(10.0), Direction::Ltr).runs.is_empty() {
        return Err(crate::PdfError::Fonts);
    }
    Ok(())
}

/// Draws wrapped lines from `y` (first baseline) down; returns the y after the last line.
pub fn draw_paragraph(
    surface: &mut Surface<'_>,
    lines: &[Line],
    x: f32,
    y: f32,
    box_width: f32,
    align: Align,
    leading: f32,
) -> f32 {
    each_line(lines, y, leading, |l, y| {
        draw(surface, l, x, y, box_width, align)
    })
}

/// Calls `draw` with each line and its baseline, from `y` down by `leading`; returns the y
/// after the last line.
pub(crate) fn each_line(
    lines: &[Line],
    y: f32,
    leading: f32,
    mut draw: impl FnMut(&Line, f32),
) -> f32 {
    let mut y = y;
    for l in lines {
        draw(l, y);
        y += leading;
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts looked up again and again stay in the cache however many others pass through;
    /// one not met again leaves it after two generations; its size stays bounded.
    #[test]
    fn the_shaping_cache_keeps_what_is_used() {
        let mut cache = ShapedCache::default();
        let runs: Arc<[Run]> = Arc::from(Vec::new());
        cache.insert(0, "Numéro d'ordre".into(), Arc::clone(&runs));
        cache.insert(1, "once".into(), Arc::clone(&runs));
        for i in 0..5 * SHAPED_GENERATION {
            cache.insert(0, format!("BO/{i}"), Arc::clone(&runs));
            if i % 100 == 0 {
                assert!(cache.get(0, "Numéro d'ordre").is_some(), "lost after {i}");
            }
        }
        assert!(cache.get(0, "Numéro d'ordre").is_some());
        assert!(cache.get(1, "once").is_none());
        assert!(cache.get(0, "BO/0").is_none());
        assert!(cache
            .get(0, &format!("BO/{}", 5 * SHAPED_GENERATION - 1))
            .is_some());
        let held: usize = cache
            .young
            .iter()
            .chain(&cache.old)
            .map(ShapedMap::len)
            .sum();
        assert!(held <= 2 * SHAPED_GENERATION, "{held}");
    }

    #[test]
    fn scripts_get_their_fonts() {
        let segs = font_segments("رقم 42 ⵜⴰⵎⴰⵣⵉⵖⵜ abc");
        let fams: Vec<Family> = segs.iter().map(|s| s.0).collect();
        assert_eq!(fams.first(), Some(&Family::Naskh));
        assert!(fams.contains(&Family::Tifinagh));
        assert_eq!(fams.last(), Some(&Family::Sans));
    }

    #[test]
    fn bidi_puts_arabic_right_to_left() {
        // A French line with an Arabic word: the Arabic run is shaped right to left.
        let l = shape("Objet : طلب شهادة — 2026", Style::new(10.0), Direction::Ltr);
        assert!(l.runs.iter().any(|r| r.family == Family::Naskh));
        assert!(l.width() > 0.0);
        // In an Arabic paragraph, digits keep their left-to-right order inside.
        let l = shape("رقم الترتيب 000042", Style::new(10.0), Direction::Rtl);
        let digits = l.runs.iter().find(|r| r.text.contains("000042"));
        assert!(
            digits.is_some(),
            "{:?}",
            l.runs.iter().map(|r| &r.text).collect::<Vec<_>>()
        );
        // Arabic letters are joined: fewer glyphs than characters is not guaranteed, but shaping
        // must pick contextual forms (glyph ids differ from isolated forms).
        let joined = shape("بب", Style::new(10.0), Direction::Rtl);
        let isolated = shape("ب ب", Style::new(10.0), Direction::Rtl);
        let g = |l: &Line| {
            l.runs
                .iter()
                .flat_map(|r| r.glyphs.iter().map(|g| g.glyph_id))
                .collect::<Vec<_>>()
        };
        assert_ne!(g(&joined)[0], g(&isolated)[0]);
    }

    /// Lines laid out from their words are glyph for glyph the lines shaped whole.
    #[test]
    fn lines_by_words_are_the_lines_shaped_whole() {
        let corpus = [
            "24/11/2026 à 23:46 (UTC+01:00) —",
            "Ahmed Bennani — personne physique — CIN ••••••56",
            "Demande de certificat administratif pour mon café",
            "1. demande.pdf — 10.0 Ko",
            "SHA-256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "Vérification : https://courrier.example.ma/verifier?n=BO-CENTRAL%2FA%2F2026%2F000043 — ou",
            "Journal de transparence : entrée n° 1235 (arbre de 1236 entrées, racine c6f8c2a1d4e5f607…).",
            "AV To LT Ty Va We Yo fi fl ff ffi « guillemets » l'État",
            "AVA  WAVE. TYPO, \"quoted\" [brackets] {braces} 50 % 3 × 4 = 12 € ½",
            "Ministère de la Transition numérique et de la Réforme de l'administration",
            " leading and trailing spaces ",
            "A T A Y A L T V A W A P , r . f ) ( j Y o T y « A » F .",
        ];
        for text in corpus {
            for bold in [false, true] {
                let style = if bold {
                    Style::new(10.0).bold()
                } else {
                    Style::new(10.0)
                };
                let composed = by_words(text, style, Direction::Ltr)
                    .unwrap_or_else(|| panic!("not composable: {text:?}"));
                assert_is_the_shapers(&composed, text, bold);
            }
        }
        // Other scripts and right-to-left lines are shaped whole.
        let style = Style::new(10.0);
        assert!(by_words("طلب شهادة", style, Direction::Ltr).is_none());
        assert!(by_words("Demande — طلب", style, Direction::Ltr).is_none());
        assert!(by_words("ⵜⴰⵎⴰⵡⴰⵙⵜ ⵏ", style, Direction::Ltr).is_none());
        assert!(by_words("plain words", style, Direction::Rtl).is_none());
    }

    /// A composed left-to-right line has the glyphs, advances, offsets and text ranges the
    /// shaper gives the whole line.
    fn assert_is_the_shapers(composed: &Run, text: &str, bold: bool) {
        let whole = shape_runs(text, bold, Direction::Ltr);
        assert_eq!(whole.len(), 1, "{text:?}");
        let whole = &whole[0];
        assert_eq!(composed.glyphs.len(), whole.glyphs.len(), "{text:?}");
        let key = |g: &KrillaGlyph| {
            (
                g.glyph_id,
                g.text_range.clone(),
                g.x_advance,
                g.x_offset,
                g.y_offset,
            )
        };
        for (a, b) in composed.glyphs.iter().zip(&whole.glyphs) {
            assert_eq!(key(a), key(b), "{text:?} (bold {bold})");
        }
        assert!(
            (composed.width_em - whole.width_em).abs() < 1e-4,
            "{text:?}"
        );
    }

    #[test]
    fn words_composed_by_characters_are_what_the_shaper_gives() {
        // Receipts' own words, pairs the Latin font kerns or joins, and many random strings of
        // the composable characters: wherever characters are composed, the glyphs, advances and
        // text ranges are the shaper's, kerning included.
        let mut corpus: Vec<String> = [
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "BO-CENTRAL/A/2026/000043",
            "2026-11-24T17:23:45Z",
            "17:23:45",
            "(UTC+01:00)",
            "https://courrier.example.ma/verifier?n=BO-CENTRAL%2FA%2F2026%2F000043",
            "c6f8c2a1d4e5f607…).",
            "AVAWAYTo",
            "Numéro",
            "«Été»",
            "office",
            "L'Ty.",
            "TéléVAT—AYA…",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Random strings: `count` of 2 to `max_len` + 1 characters, each picked from the
        // string's random word and the character's position.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = |count: usize, max_len: u64, pick: &dyn Fn(u64, usize) -> char| {
            (0..count)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let len = 2 + (seed % max_len) as usize;
                    (0..len).map(|i| pick(seed, i)).collect::<String>()
                })
                .collect::<Vec<_>>()
        };
        corpus.extend(random(4000, 24, &|seed, i| {
            let k =
                (((seed >> (i % 8 * 8)) as u8 ^ (i as u8).wrapping_mul(37)) as usize) % COMPOSED;
            if k < 95 {
                char::from(b' ' + k as u8)
            } else {
                EXTRA_CHARS[k - 95]
            }
        }));
        // Strings dense in the letters the font joins into ligatures (ff, fi, fl, ffi, ffl),
        // next to one another, to kerned capitals and to punctuation.
        const DENSE: &[u8] = b"fffilfjtAVTY.,'-/ o";
        corpus.extend(random(3000, 12, &|seed, i| {
            char::from(DENSE[((seed >> (i % 10 * 6)) as usize ^ i) % DENSE.len()])
        }));
        let (mut composed_count, mut around_ligatures) = (0, 0);
        for text in &corpus {
            for bold in [false, true] {
                let Some(composed) = by_characters(text, bold, Direction::Ltr) else {
                    continue;
                };
                composed_count += 1;
                if composed.glyphs.len() < text.chars().count() {
                    around_ligatures += 1;
                }
                assert_is_the_shapers(&composed, text, bold);
            }
        }
        // The receipts' new words are composed, in both weights, kerned ones too, and the
        // address around its ligature ("fi" in "verifier").
        for text in corpus[..11].iter() {
            for bold in [false, true] {
                assert!(
                    by_characters(text, bold, Direction::Ltr).is_some(),
                    "{text:?} (bold {bold})"
                );
            }
        }
        let address = by_characters(&corpus[5], false, Direction::Ltr).unwrap();
        assert!(address.glyphs.len() < corpus[5].chars().count());
        assert!(around_ligatures > 1500, "{around_ligatures}");
        // Kerning is there: composed, "AV" is narrower than its two glyphs alone.
        let av = by_characters("AV", false, Direction::Ltr).unwrap();
        let alone = by_characters("A ", false, Direction::Ltr).unwrap().glyphs[0].x_advance;
        assert!(av.glyphs[0].x_advance < alone);
        // Other scripts and right-to-left text are left to the shaper.
        assert!(by_characters("طلب", false, Direction::Ltr).is_none());
        assert!(by_characters("abc", false, Direction::Rtl).is_none());
        assert!(by_characters("a", false, Direction::Ltr).is_none());
        assert!(composed_count > 13000, "{composed_count}");
    }

    #[test]
    fn wrapping_and_edge_cases() {
        let s = Style::new(10.0);
        let lines = wrap(
            "un deux trois quatre cinq six sept huit neuf dix",
            s,
            Direction::Ltr,
            60.0,
        );
        assert!(lines.len() > 2);
        assert!(lines.iter().all(|l| l.width() <= 60.0 + 0.01));
        let hash = "a".repeat(64);
        let lines = wrap(&hash, s, Direction::Ltr, 100.0);
        assert!(lines.len() > 1 && lines.iter().all(|l| l.width() <= 100.0 + 0.01));
        assert_eq!(shape("", s, Direction::Ltr).width(), 0.0);
        // A character no font has: drawn as .notdef, no panic.
        let l = shape("\u{10FFFD}x", s, Direction::Ltr);
        assert!(l.width() > 0.0);
    }
}
