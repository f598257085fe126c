//! Lazy PDF reading: cross-reference tables and streams (with `/Prev` chains and hybrid files),
//! object streams, and objects on demand. Only what is asked for is read, so memory does not grow
//! with the file.

use crate::object::{Dict, Obj, Parser, StreamData, NEED_MORE};
use crate::{PdfError, Result};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Random access to the bytes of a PDF.
pub trait Source {
    fn len(&self) -> u64;
    /// Reads up to `buf.len()` bytes at `offset`; returns how many.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// All the bytes, when they are in memory.
    fn as_bytes(&self) -> Option<&[u8]> {
        None
    }
}

impl Source for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(<[u8]>::len(self));
        let n = buf.len().min(<[u8]>::len(self) - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
    fn as_bytes(&self) -> Option<&[u8]> {
        Some(self)
    }
}

/// Bytes in memory that stay a vector, with its spare capacity: a signature appended to them
/// moves nothing when room was left for it.
impl Source for Vec<u8> {
    fn len(&self) -> u64 {
        Source::len(self.as_slice())
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        self.as_slice().read_at(offset, buf)
    }
    fn as_bytes(&self) -> Option<&[u8]> {
        Some(self)
    }
}

/// A file read with positional reads (no shared cursor).
pub struct FileSource {
    file: std::fs::File,
    len: u64,
}

impl FileSource {
    pub fn open(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Self { file, len })
    }
    pub fn from_file(file: std::fs::File) -> std::io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self { file, len })
    }
}

impl Source for FileSource {
    fn len(&self) -> u64 {
        self.len
    }
    #[cfg(unix)]
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            let n = self.file.read_at(&mut buf[done..], offset + done as u64)?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }
    #[cfg(not(unix))]
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = &self.file;
        f.seek(SeekFrom::Start(offset))?;
        let mut done = 0;
        while done < buf.len() {
            let n = f.read(&mut buf[done..])?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }
}

/// Where an object lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Free,
    InFile { offset: u64, gen: u16 },
    InStream { stream: u32, index: u32 },
}

/// One cross-reference section (one revision of the file).
#[derive(Debug, Clone)]
pub struct Section {
    /// Offset of the section (the `xref` keyword or the xref stream object).
    pub offset: u64,
    pub is_stream: bool,
    pub trailer: Dict,
    pub entries: Vec<(u32, Entry)>,
}

struct ObjStm {
    data: Vec<u8>,
    first: usize,
    offsets: Vec<(u32, usize)>,
}

/// A PDF opened for reading.
pub struct Reader<S: Source + ?Sized> {
    src: Box<S>,
    /// Offset of `%PDF-` (junk before it shifts nothing in well-formed files, but is tolerated).
    pub header_offset: u64,
    /// The newest entry of every object.
    pub xref: HashMap<u32, Entry>,
    /// The newest trailer.
    pub trailer: Dict,
    /// Sections, newest first.
    pub sections: Vec<Section>,
    /// Offset of the newest section.
    pub startxref: u64,
    objstm: RefCell<HashMap<u32, Rc<ObjStm>>>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

impl<S: Source + ?Sized> Reader<S> {
    pub fn open(src: Box<S>) -> Result<Self> {
        let len = src.len();
        if len < 16 {
            return Err(PdfError::NotPdf);
        }
        let mut head = vec![0u8; 1024.min(len as usize)];
        src.read_at(0, &mut head)?;
        let header_offset = find(&head, b"%PDF-").ok_or(PdfError::NotPdf)? as u64;
        let tail_len = 2048.min(len) as usize;
        let mut tail = vec![0u8; tail_len];
        src.read_at(len - tail_len as u64, &mut tail)?;
        let sx = rfind(&tail, b"startxref").ok_or(PdfError::Broken(
            "no startxref at the end: the file is truncated",
        ))?;
        let mut p = Parser::new(&tail[sx + 9..], 0);
        let startxref = u64::try_from(
            crate::object::parse_int(p.token())
                .ok_or(PdfError::Broken("startxref is not a number"))?,
        )
        .map_err(|_| PdfError::Broken("negative startxref"))?;
        let mut r = Reader {
            src,
            header_offset,
            xref: HashMap::new(),
            trailer: Dict::default(),
            sections: Vec::new(),
            startxref,
            objstm: RefCell::new(HashMap::new()),
        };
        let mut offset = Some(startxref);
        let mut seen = Vec::new();
        while let Some(off) = offset {
            if seen.contains(&off) || seen.len() > 1000 {
                return Err(PdfError::Broken("the cross-reference sections loop"));
            }
            seen.push(off);
            let section = r.read_section(off).or_else(|e| {
                // Offsets counted from `%PDF-` rather than from the first byte.
                if r.header_offset > 0 {
                    r.read_section(off + r.header_offset)
                } else {
                    Err(e)
                }
            })?;
            offset = section
                .trailer
                .int(b"Prev")
                .and_then(|p| u64::try_from(p).ok());
            for (n, e) in &section.entries {
                r.xref.entry(*n).or_insert(*e);
            }
            r.sections.push(section);
        }
        r.trailer = r
            .sections
            .first()
            .map(|s| s.trailer.clone())
            .unwrap_or_default();
        if r.trailer.get(b"Root").is_none() {
            return Err(PdfError::Broken("the trailer has no /Root"));
        }
        Ok(r)
    }

    pub fn len(&self) -> u64 {
        self.src.len()
    }

    pub fn is_empty(&self) -> bool {
        self.src.len() == 0
    }

    pub fn source(&self) -> &S {
        &self.src
    }

    /// Gives the source back.
    pub fn into_source(self) -> Box<S> {
        self.src
    }

    /// Reads `len` bytes at `offset`.
    pub fn bytes(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let n = self.src.read_at(offset, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Parses with a window that grows until the object fits.
    fn parse_at<T>(&self, offset: u64, f: impl Fn(&mut Parser) -> Result<T>) -> Result<T> {
        if offset >= self.len() {
            return Err(PdfError::Syntax {
                offset,
                what: "offset beyond the end of the file".into(),
            });
        }
        let mut window = 4096usize;
        loop {
            let buf = self.bytes(offset, window)?;
            let full = (offset + buf.len() as u64) >= self.len();
            let mut p = Parser::new(&buf, offset);
            match f(&mut p) {
                Ok(v) => return Ok(v),
                Err(PdfError::Syntax { what, .. })
                    if what == NEED_MORE && !full && window < (64 << 20) =>
                {
                    window *= 4
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn read_section(&self, offset: u64) -> Result<Section> {
        let probe = self.bytes(offset, 32)?;
        let trimmed = probe
            .iter()
            .position(|b| !b" \r\n\t".contains(b))
            .unwrap_or(0);
        if probe[trimmed..].starts_with(b"xref") {
            let mut section = self.parse_at(offset + trimmed as u64, |p| {
                p.expect(b"xref")?;
                let mut entries = Vec::new();
                loop {
                    let save = p.pos;
                    let t = p.token();
                    if t == b"trailer" {
                        let trailer = match p.object(0)? {
                            Obj::Dict(d) => d,
                            _ => return Err(PdfError::Broken("the trailer is not a dictionary")),
                        };
                        return Ok(Section {
                            offset,
                            is_stream: false,
                            trailer,
                            entries,
                        });
                    }
                    if t.is_empty() {
                        p.pos = save;
                        p.object(0)?; // produces the precise error
                        return Err(PdfError::Broken("malformed cross-reference table"));
                    }
                    let start = crate::object::parse_int(t)
                        .ok_or(PdfError::Broken("malformed cross-reference subsection"))?;
                    let count = crate::object::parse_int(p.token())
                        .ok_or(PdfError::Broken("malformed cross-reference subsection"))?;
                    if !(0..=10_000_000).contains(&count) || start < 0 {
                        return Err(PdfError::Broken("implausible cross-reference subsection"));
                    }
                    for i in 0..count {
                        let off = p.token();
                        let gen = p.token();
                        let kind = p.token();
                        if kind.is_empty() && p.peek().is_none() {
                            return Err(PdfError::Syntax {
                                offset,
                                what: NEED_MORE.into(),
                            });
                        }
                        let (Some(off), Some(gen)) =
                            (crate::object::parse_int(off), crate::object::parse_int(gen))
                        else {
                            return Err(PdfError::Broken("malformed cross-reference entry"));
                        };
                        let n = u32::try_from(start + i)
                            .map_err(|_| PdfError::Broken("object number too large"))?;
                        let e = match kind {
                            b"n" => Entry::InFile {
                                offset: u64::try_from(off).unwrap_or(0),
                                gen: u16::try_from(gen).unwrap_or(0),
                            },
                            b"f" => Entry::Free,
                            _ => return Err(PdfError::Broken("malformed cross-reference entry")),
                        };
                        entries.push((n, e));
                    }
                }
            })?;
            // Hybrid file: the xref stream lists the objects kept in object streams.
            if let Some(stm) = section
                .trailer
                .int(b"XRefStm")
                .and_then(|o| u64::try_from(o).ok())
            {
                if let Ok(extra) = self.read_xref_stream(stm) {
                    for (n, e) in extra.entries {
                        match section.entries.iter().position(|(m, _)| *m == n) {
                            Some(i) if section.entries[i].1 == Entry::Free => {
                                section.entries[i] = (n, e)
                            }
                            Some(_) => {}
                            None => section.entries.push((n, e)),
                        }
                    }
                }
            }
            Ok(section)
        } else {
            self.read_xref_stream(offset)
        }
    }

    fn read_xref_stream(&self, offset: u64) -> Result<Section> {
        let (_, obj) = self.parse_at(offset, |p| p.indirect())?;
        let Obj::Stream(dict, _) = &obj else {
            return Err(PdfError::Broken(
                "startxref does not point at a cross-reference table or stream",
            ));
        };
        if !dict.is_type(b"XRef") {
            return Err(PdfError::Broken(
                "startxref does not point at a cross-reference stream",
            ));
        }
        let data = self.decode_stream(&obj)?;
        let w: Vec<usize> = dict
            .get(b"W")
            .and_then(Obj::as_array)
            .ok_or(PdfError::Broken("xref stream without /W"))?
            .iter()
            .map(|x| {
                x.as_int()
                    .and_then(|v| usize::try_from(v).ok())
                    .unwrap_or(0)
            })
            .collect();
        if w.len() != 3 || w.iter().any(|x| *x > 8) {
            return Err(PdfError::Broken("xref stream with a bad /W"));
        }
        let size = dict.int(b"Size").unwrap_or(0);
        let index: Vec<i64> = match dict.get(b"Index").and_then(Obj::as_array) {
            Some(a) => a.iter().filter_map(Obj::as_int).collect(),
            None => vec![0, size],
        };
        let row = w[0] + w[1] + w[2];
        if row == 0 {
            return Err(PdfError::Broken("xref stream with empty rows"));
        }
        let field = |r: &[u8], i: usize, start: usize| -> u64 {
            r[start..start + w[i]]
                .iter()
                .fold(0u64, |a, b| (a << 8) | u64::from(*b))
        };
        let mut entries = Vec::new();
        let mut pos = 0;
        for pair in index.chunks(2) {
            let [start, count] = pair else { break };
            for i in 0..*count {
                let Some(r) = data.get(pos..pos + row) else {
                    return Err(PdfError::Broken("xref stream shorter than its /Index"));
                };
                pos += row;
                let t = if w[0] == 0 { 1 } else { field(r, 0, 0) };
                let a = field(r, 1, w[0]);
                let b = field(r, 2, w[0] + w[1]);
                let n = u32::try_from(start + i)
                    .map_err(|_| PdfError::Broken("object number too large"))?;
                let e = match t {
                    0 => Entry::Free,
                    1 => Entry::InFile {
                        offset: a,
                        gen: u16::try_from(b).unwrap_or(0),
                    },
                    2 => Entry::InStream {
                        stream: u32::try_from(a).unwrap_or(0),
                        index: u32::try_from(b).unwrap_or(0),
                    },
                    _ => continue,
                };
                entries.push((n, e));
            }
        }
        Ok(Section {
            offset,
            is_stream: true,
            trailer: dict.clone(),
            entries,
        })
    }

    /// The object numbered `num` (newest revision), with stream data located.
    pub fn get(&self, num: u32) -> Result<Obj> {
        match self.xref.get(&num) {
            None | Some(Entry::Free) => Ok(Obj::Null),
            Some(Entry::InFile { offset, .. }) => self.get_at(*offset, num),
            Some(Entry::InStream { stream, index }) => self.get_in_stream(*stream, *index, num),
        }
    }

    /// The object at `offset` (any revision), checking its number.
    pub fn get_at(&self, offset: u64, num: u32) -> Result<Obj> {
        let ((n, _), obj) = self.parse_at(offset, |p| p.indirect())?;
        if n != num {
            return Err(PdfError::Syntax {
                offset,
                what: format!("expected object {num}, found object {n}"),
            });
        }
        self.fix_length(obj)
    }

    /// Like [`Self::get_at`], also returning the span of a `/Contents` string (signatures).
    pub fn get_at_with_contents(&self, offset: u64, num: u32) -> Result<(Obj, Option<(u64, u64)>)> {
        let (((n, _), obj), span) = self.parse_at(offset, |p| {
            let r = p.indirect()?;
            Ok((r, p.contents_span))
        })?;
        if n != num {
            return Err(PdfError::Syntax {
                offset,
                what: format!("expected object {num}, found object {n}"),
            });
        }
        Ok((self.fix_length(obj)?, span))
    }

    fn fix_length(&self, obj: Obj) -> Result<Obj> {
        match obj {
            Obj::Stream(d, StreamData::InFile(start, u64::MAX)) => {
                let len = match d.get(b"Length") {
                    Some(r @ Obj::Ref(..)) => self.resolve(r)?.as_int(),
                    Some(o) => o.as_int(),
                    None => None,
                }
                .and_then(|l| u64::try_from(l).ok())
                .ok_or(PdfError::Broken("stream without a usable /Length"))?;
                Ok(Obj::Stream(d, StreamData::InFile(start, len)))
            }
            o => Ok(o),
        }
    }

    fn get_in_stream(&self, stream: u32, index: u32, num: u32) -> Result<Obj> {
        let cached = self.objstm.borrow().get(&stream).cloned();
        let os = match cached {
            Some(os) => os,
            None => {
                let obj = match self.xref.get(&stream) {
                    Some(Entry::InFile { offset, .. }) => self.get_at(*offset, stream)?,
                    _ => return Err(PdfError::Broken("object stream not found")),
                };
                let dict = obj
                    .as_dict()
                    .ok_or(PdfError::Broken("object stream is not a stream"))?
                    .clone();
                let data = self.decode_stream(&obj)?;
                let n = dict.int(b"N").unwrap_or(0).max(0) as usize;
                let first = dict.int(b"First").unwrap_or(0).max(0) as usize;
                let mut p = Parser::new(&data, 0);
                let mut offsets = Vec::with_capacity(n);
                for _ in 0..n.min(1_000_000) {
                    let a = crate::object::parse_int(p.token());
                    let b = crate::object::parse_int(p.token());
                    match (a, b) {
                        (Some(a), Some(b)) => offsets.push((a as u32, b as usize)),
                        _ => return Err(PdfError::Broken("malformed object stream header")),
                    }
                }
                let os = Rc::new(ObjStm {
                    data,
                    first,
                    offsets,
                });
                self.objstm.borrow_mut().insert(stream, os.clone());
                os
            }
        };
        let (n, off) = *os
            .offsets
            .get(index as usize)
            .ok_or(PdfError::Broken("object index beyond its object stream"))?;
        if n != num {
            return Err(PdfError::Broken(
                "object stream does not hold the expected object",
            ));
        }
        let start = os.first + off;
        let data = os
            .data
            .get(start..)
            .ok_or(PdfError::Broken("object offset beyond its object stream"))?;
        let mut p = Parser::new(data, 0);
        p.object(0)
    }

    /// Follows references (at most 32 deep).
    pub fn resolve(&self, o: &Obj) -> Result<Obj> {
        let mut cur = o.clone();
        for _ in 0..32 {
            match cur {
                Obj::Ref(n, _) => cur = self.get(n)?,
                other => return Ok(other),
            }
        }
        Err(PdfError::Broken("reference chain too long"))
    }

    /// The raw (still encoded) bytes of a stream.
    pub fn raw_stream(&self, obj: &Obj) -> Result<Vec<u8>> {
        match obj {
            Obj::Stream(_, StreamData::Bytes(b)) => Ok(b.clone()),
            Obj::Stream(_, StreamData::InFile(off, len)) => {
                if *len > (256 << 20) || off.saturating_add(*len) > self.len() {
                    return Err(PdfError::Broken("stream length beyond the end of the file"));
                }
                self.bytes(*off, *len as usize)
            }
            _ => Err(PdfError::Broken("not a stream")),
        }
    }

    /// The decoded bytes of a stream (FlateDecode with PNG predictors; no filter).
    pub fn decode_stream(&self, obj: &Obj) -> Result<Vec<u8>> {
        let dict = obj.as_dict().ok_or(PdfError::Broken("not a stream"))?;
        let raw = self.raw_stream(obj)?;
        let filters: Vec<Vec<u8>> = match dict.get(b"Filter") {
            None => vec![],
            Some(Obj::Name(n)) => vec![n.clone()],
            Some(Obj::Array(a)) => a
                .iter()
                .filter_map(|f| f.as_name().map(<[u8]>::to_vec))
                .collect(),
            Some(_) => return Err(PdfError::Broken("bad /Filter")),
        };
        let parms = match dict.get(b"DecodeParms") {
            Some(Obj::Dict(d)) => Some(d.clone()),
            Some(Obj::Array(a)) => a.first().and_then(Obj::as_dict).cloned(),
            _ => None,
        };
        let mut data = raw;
        for f in &filters {
            match f.as_slice() {
                b"FlateDecode" | b"Fl" => {
                    use std::io::Read;
                    let mut out = Vec::new();
                    flate2::read::ZlibDecoder::new(&data[..])
                        .take(512 << 20)
                        .read_to_end(&mut out)
                        .map_err(|_| {
                            PdfError::Broken("a compressed stream cannot be decompressed")
                        })?;
                    data = out;
                    if let Some(p) = &parms {
                        data = crate::predictor::decode(&data, p)?;
                    }
                }
                other => {
                    return Err(PdfError::Unsupported(format!(
                        "stream filter {}",
                        String::from_utf8_lossy(other)
                    )))
                }
            }
        }
        Ok(data)
    }

    /// The catalog's reference and dictionary.
    pub fn catalog(&self) -> Result<((u32, u16), Dict)> {
        let r = self
            .trailer
            .get(b"Root")
            .and_then(Obj::as_ref)
            .ok_or(PdfError::Broken("/Root is not a reference"))?;
        let d = self
            .get(r.0)?
            .as_dict()
            .cloned()
            .ok_or(PdfError::Broken("the catalog is not a dictionary"))?;
        Ok((r, d))
    }

    /// Whether the file is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.trailer.get(b"Encrypt").is_some()
    }

    /// Every page, in order: reference and dictionary with inherited attributes filled in.
    pub fn pages(&self) -> Result<Vec<((u32, u16), Dict)>> {
        let (_, cat) = self.catalog()?;
        let root = cat
            .get(b"Pages")
            .and_then(Obj::as_ref)
            .ok_or(PdfError::Broken("the catalog has no /Pages"))?;
        let mut out = Vec::new();
        self.walk_pages(root, &Dict::default(), &mut out, 0)?;
        Ok(out)
    }

    fn walk_pages(
        &self,
        node: (u32, u16),
        inherited: &Dict,
        out: &mut Vec<((u32, u16), Dict)>,
        depth: usize,
    ) -> Result<()> {
        if depth > 64 || out.len() > 1_000_000 {
            return Err(PdfError::Broken("page tree too deep"));
        }
        let d = self
            .get(node.0)?
            .as_dict()
            .cloned()
            .ok_or(PdfError::Broken("page tree node is not a dictionary"))?;
        let mut inh = inherited.clone();
        for k in [&b"Resources"[..], b"MediaBox", b"CropBox", b"Rotate"] {
            if let Some(v) = d.get(k) {
                inh.set(k, v.clone());
            }
        }
        if d.is_type(b"Pages") || d.get(b"Kids").is_some() {
            let kids = match d.get(b"Kids") {
                Some(k) => self.resolve(k)?,
                None => Obj::Array(vec![]),
            };
            for k in kids.as_array().cloned().unwrap_or_default() {
                if let Some(r) = k.as_ref() {
                    self.walk_pages(r, &inh, out, depth + 1)?;
                }
            }
        } else {
            let mut page = d;
            for (k, v) in inh.0 {
                if page.get(&k).is_none() {
                    page.set(&k, v);
                }
            }
            out.push((node, page));
        }
        Ok(())
    }

    /// The file offsets where revisions end (just after each `%%EOF`), in order.
    pub fn revision_ends(&self) -> Result<Vec<u64>> {
        let mut ends = Vec::new();
        let len = self.len();
        let chunk = 1 << 20;
        let mut off = 0u64;
        let mut prev_tail: Vec<u8> = Vec::new();
        while off < len {
            let buf = self.bytes(off, chunk)?;
            let mut hay = prev_tail.clone();
            hay.extend_from_slice(&buf);
            let base = off - prev_tail.len() as u64;
            let mut i = 0;
            while let Some(p) = find(&hay[i..], b"%%EOF") {
                let mut e = base + (i + p + 5) as u64;
                // Include the end-of-line after %%EOF.
                let after = &hay[i + p + 5..];
                if after.starts_with(b"\r\n") {
                    e += 2;
                } else if after.starts_with(b"\n") || after.starts_with(b"\r") {
                    e += 1;
                }
                if !ends.contains(&e) {
                    ends.push(e);
                }
                i += p + 5;
            }
            prev_tail = hay[hay.len().saturating_sub(6)..].to_vec();
            off += buf.len() as u64;
            if buf.is_empty() {
                break;
            }
        }
        Ok(ends)
    }
}

impl<S: Source + ?Sized> Reader<S> {
    /// Files embedded in the document (`/Names /EmbeddedFiles`): (name, decoded bytes).
    pub fn embedded_files(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let (_, cat) = self.catalog()?;
        let mut out = Vec::new();
        let Some(names) = cat.get(b"Names") else {
            return Ok(out);
        };
        let Some(tree) = self
            .resolve(names)?
            .as_dict()
            .and_then(|d| d.get(b"EmbeddedFiles"))
            .cloned()
        else {
            return Ok(out);
        };
        self.walk_name_tree(&tree, &mut out, 0)?;
        Ok(out)
    }

    fn walk_name_tree(
        &self,
        node: &Obj,
        out: &mut Vec<(String, Vec<u8>)>,
        depth: usize,
    ) -> Result<()> {
        if depth > 16 || out.len() > 1000 {
            return Ok(());
        }
        let d = match self.resolve(node)? {
            Obj::Dict(d) => d,
            _ => return Ok(()),
        };
        if let Some(kids) = d.get(b"Kids") {
            for k in self.resolve(kids)?.as_array().cloned().unwrap_or_default() {
                self.walk_name_tree(&k, out, depth + 1)?;
            }
        }
        if let Some(names) = d.get(b"Names") {
            let arr = self.resolve(names)?.as_array().cloned().unwrap_or_default();
            for pair in arr.chunks(2) {
                let [name, spec] = pair else { continue };
                let name = name
                    .as_str()
                    .map(crate::object::decode_text)
                    .unwrap_or_default();
                let Some(spec) = self.resolve(spec)?.as_dict().cloned() else {
                    continue;
                };
                let Some(ef) = spec.get(b"EF") else { continue };
                let Some(f) = self
                    .resolve(ef)?
                    .as_dict()
                    .and_then(|e| e.get(b"F").or(e.get(b"UF")))
                    .cloned()
                else {
                    continue;
                };
                let stream = self.resolve(&f)?;
                if let Ok(bytes) = self.decode_stream(&stream) {
                    out.push((name, bytes));
                }
            }
        }
        Ok(())
    }
}
