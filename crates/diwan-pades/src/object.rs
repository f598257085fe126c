//! PDF objects and their parser (ISO 32000-2 §7.3), tolerant of the usual producer quirks.

use crate::{PdfError, Result};

/// A PDF object.
#[derive(Debug, Clone, PartialEq)]
pub enum Obj {
    Null,
    Bool(bool),
    Int(i64),
    Real(f64),
    Name(Vec<u8>),
    /// A string's decoded bytes (literal or hexadecimal).
    Str(Vec<u8>),
    Array(Vec<Obj>),
    Dict(Dict),
    Ref(u32, u16),
    /// A stream: its dictionary and the absolute file offset and length of its data.
    Stream(Dict, StreamData),
}

/// Where a stream's data is.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamData {
    /// In the file at (offset, length).
    InFile(u64, u64),
    /// Already in memory (decoded object streams, or streams we create).
    Bytes(Vec<u8>),
}

/// A dictionary, keys in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dict(pub Vec<(Vec<u8>, Obj)>);

impl Dict {
    pub fn get(&self, key: &[u8]) -> Option<&Obj> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn set(&mut self, key: &[u8], value: Obj) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key.to_vec(), value)),
        }
    }
    pub fn remove(&mut self, key: &[u8]) {
        self.0.retain(|(k, _)| k != key);
    }
    pub fn name(&self, key: &[u8]) -> Option<&[u8]> {
        match self.get(key) {
            Some(Obj::Name(n)) => Some(n),
            _ => None,
        }
    }
    pub fn int(&self, key: &[u8]) -> Option<i64> {
        match self.get(key) {
            Some(Obj::Int(i)) => Some(*i),
            _ => None,
        }
    }
    pub fn is_type(&self, t: &[u8]) -> bool {
        self.name(b"Type") == Some(t)
    }
}

impl Obj {
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Obj::Dict(d) | Obj::Stream(d, _) => Some(d),
            _ => None,
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Obj::Int(i) => Some(*i),
            Obj::Real(r) if r.fract() == 0.0 => Some(*r as i64),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Obj::Int(i) => Some(*i as f64),
            Obj::Real(r) => Some(*r),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&Vec<Obj>> {
        match self {
            Obj::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_ref(&self) -> Option<(u32, u16)> {
        match self {
            Obj::Ref(n, g) => Some((*n, *g)),
            _ => None,
        }
    }
    pub fn as_name(&self) -> Option<&[u8]> {
        match self {
            Obj::Name(n) => Some(n),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&[u8]> {
        match self {
            Obj::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Parser over a byte slice whose first byte is at absolute file offset `base`.
pub struct Parser<'a> {
    pub data: &'a [u8],
    pub pos: usize,
    pub base: u64,
    /// When set, the absolute (start, end) of the last string token parsed as the value of a
    /// `/Contents` key (signature dictionaries).
    pub contents_span: Option<(u64, u64)>,
}

/// The input ended inside the object: read more and try again.
pub(crate) const NEED_MORE: &str = "truncated";

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | b'\x0c' | b'\0')
}

fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

impl<'a> Parser<'a> {
    pub fn new(data: &'a [u8], base: u64) -> Self {
        Self {
            data,
            pos: 0,
            base,
            contents_span: None,
        }
    }

    fn err(&self, what: &str) -> PdfError {
        if self.pos >= self.data.len() {
            PdfError::Syntax {
                offset: self.base + self.pos as u64,
                what: NEED_MORE.into(),
            }
        } else {
            PdfError::Syntax {
                offset: self.base + self.pos as u64,
                what: what.into(),
            }
        }
    }

    pub fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    pub fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            if is_ws(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(c) = self.peek() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// A bare keyword or number token.
    pub fn token(&mut self) -> &'a [u8] {
        self.skip_ws();
        let start = self.pos;
        while let Some(b) = self.peek() {
            if is_ws(b) || is_delim(b) {
                break;
            }
            self.pos += 1;
        }
        &self.data[start..self.pos]
    }

    pub fn expect(&mut self, kw: &[u8]) -> Result<()> {
        let t = self.token();
        if t == kw {
            Ok(())
        } else {
            Err(self.err(&format!("expected {}", String::from_utf8_lossy(kw))))
        }
    }

    /// Parses `N G obj … endobj` and returns ((N, G), object).
    pub fn indirect(&mut self) -> Result<((u32, u16), Obj)> {
        let n = parse_int(self.token()).ok_or_else(|| self.err("object number"))?;
        let g = parse_int(self.token()).ok_or_else(|| self.err("generation number"))?;
        self.expect(b"obj")?;
        let obj = self.object(0)?;
        let obj = self.maybe_stream(obj)?;
        // `endobj` is sometimes missing; don't insist.
        Ok((
            (
                u32::try_from(n).map_err(|_| self.err("object number"))?,
                u16::try_from(g).map_err(|_| self.err("generation"))?,
            ),
            obj,
        ))
    }

    fn maybe_stream(&mut self, obj: Obj) -> Result<Obj> {
        let Obj::Dict(d) = obj else { return Ok(obj) };
        let save = self.pos;
        self.skip_ws();
        if !self.data[self.pos..].starts_with(b"stream") {
            self.pos = save;
            return Ok(Obj::Dict(d));
        }
        self.pos += 6;
        // EOL after `stream`: CRLF or LF (a lone CR is tolerated).
        if self.data[self.pos..].starts_with(b"\r\n") {
            self.pos += 2;
        } else if matches!(self.peek(), Some(b'\n') | Some(b'\r')) {
            self.pos += 1;
        }
        let start = self.base + self.pos as u64;
        // The length may be indirect: the reader resolves it; here we only know direct ones.
        let len = match d.get(b"Length") {
            Some(Obj::Int(l)) if *l >= 0 => Some(*l as u64),
            _ => None,
        };
        match len {
            Some(l) => Ok(Obj::Stream(d, StreamData::InFile(start, l))),
            None => Ok(Obj::Stream(d, StreamData::InFile(start, u64::MAX))),
        }
    }

    /// Parses one direct object (refs `N G R` recognised).
    pub fn object(&mut self, depth: usize) -> Result<Obj> {
        if depth > 64 {
            return Err(self.err("objects nested too deeply"));
        }
        self.skip_ws();
        let b = self.peek().ok_or_else(|| self.err("object"))?;
        match b {
            b'/' => {
                self.pos += 1;
                Ok(Obj::Name(self.name_body()))
            }
            b'(' => self.literal_string().map(Obj::Str),
            b'<' => {
                if self.data.get(self.pos + 1) == Some(&b'<') {
                    self.pos += 2;
                    let mut d = Dict::default();
                    loop {
                        self.skip_ws();
                        match self.peek() {
                            Some(b'>') => {
                                if self.data.get(self.pos + 1) == Some(&b'>') {
                                    self.pos += 2;
                                    return Ok(Obj::Dict(d));
                                }
                                return Err(self.err("'>>'"));
                            }
                            Some(b'/') => {
                                self.pos += 1;
                                let key = self.name_body();
                                let value_start = {
                                    self.skip_ws();
                                    self.pos
                                };
                                let v = self.object(depth + 1)?;
                                if key == b"Contents" && matches!(v, Obj::Str(_)) {
                                    self.contents_span = Some((
                                        self.base + value_start as u64,
                                        self.base + self.pos as u64,
                                    ));
                                }
                                d.0.push((key, v));
                            }
                            None => return Err(self.err("dictionary")),
                            Some(_) => return Err(self.err("a name as dictionary key")),
                        }
                    }
                }
                self.hex_string().map(Obj::Str)
            }
            b'[' => {
                self.pos += 1;
                let mut a = Vec::new();
                loop {
                    self.skip_ws();
                    match self.peek() {
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Obj::Array(a));
                        }
                        None => return Err(self.err("array")),
                        _ => a.push(self.object(depth + 1)?),
                    }
                }
            }
            _ => {
                let start = self.pos;
                let t = self.token();
                match t {
                    b"true" => Ok(Obj::Bool(true)),
                    b"false" => Ok(Obj::Bool(false)),
                    b"null" => Ok(Obj::Null),
                    _ => {
                        if let Some(n) = parse_int(t) {
                            // `N G R`?
                            let save = self.pos;
                            let g = self.token();
                            if let Some(g) = parse_int(g) {
                                let r = self.token();
                                if r == b"R" {
                                    if let (Ok(n), Ok(g)) = (u32::try_from(n), u16::try_from(g)) {
                                        return Ok(Obj::Ref(n, g));
                                    }
                                }
                            }
                            self.pos = save;
                            Ok(Obj::Int(n))
                        } else if let Some(r) = std::str::from_utf8(t)
                            .ok()
                            .and_then(|s| s.parse::<f64>().ok())
                        {
                            Ok(Obj::Real(r))
                        } else {
                            self.pos = start;
                            Err(self.err("an object"))
                        }
                    }
                }
            }
        }
    }

    fn name_body(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            if is_ws(b) || is_delim(b) {
                break;
            }
            if b == b'#' {
                if let Some(h) = self
                    .data
                    .get(self.pos + 1..self.pos + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    out.push(h);
                    self.pos += 3;
                    continue;
                }
            }
            out.push(b);
            self.pos += 1;
        }
        out
    }

    fn literal_string(&mut self) -> Result<Vec<u8>> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut depth = 1;
        loop {
            let b = self.peek().ok_or_else(|| self.err("string"))?;
            self.pos += 1;
            match b {
                b'\\' => {
                    let c = self.peek().ok_or_else(|| self.err("string"))?;
                    self.pos += 1;
                    match c {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        b'0'..=b'7' => {
                            let mut v = u32::from(c - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xff) as u8);
                        }
                        other => out.push(other),
                    }
                }
                b'(' => {
                    depth += 1;
                    out.push(b);
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(out);
                    }
                    out.push(b);
                }
                _ => out.push(b),
            }
        }
    }

    fn hex_string(&mut self) -> Result<Vec<u8>> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut hi: Option<u8> = None;
        loop {
            let b = self.peek().ok_or_else(|| self.err("hex string"))?;
            self.pos += 1;
            let v = match b {
                b'>' => {
                    if let Some(h) = hi {
                        out.push(h << 4);
                    }
                    return Ok(out);
                }
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                b if is_ws(b) => continue,
                _ => return Err(self.err("hex digit")),
            };
            match hi.take() {
                Some(h) => out.push(h << 4 | v),
                None => hi = Some(v),
            }
        }
    }
}

pub(crate) fn parse_int(t: &[u8]) -> Option<i64> {
    if t.is_empty() || t.len() > 20 {
        return None;
    }
    let (neg, digits) = match t[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v: i64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// Serialises an object (as written in our updates).
pub fn write_obj(o: &Obj, out: &mut Vec<u8>) {
    match o {
        Obj::Null => out.extend_from_slice(b"null"),
        Obj::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Obj::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Obj::Real(r) => {
            let s = format!("{r:.4}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            out.extend_from_slice(if s.is_empty() || s == "-" {
                b"0"
            } else {
                s.as_bytes()
            });
        }
        Obj::Name(n) => {
            out.push(b'/');
            for b in n {
                if b.is_ascii_alphanumeric()
                    || matches!(
                        b,
                        b'-' | b'_'
                            | b'.'
                            | b'+'
                            | b'*'
                            | b','
                            | b':'
                            | b';'
                            | b'!'
                            | b'@'
                            | b'='
                            | b'?'
                            | b'&'
                            | b'\''
                            | b'"'
                            | b'^'
                            | b'`'
                            | b'|'
                            | b'~'
                            | b'$'
                    )
                {
                    out.push(*b);
                } else {
                    out.extend_from_slice(format!("#{b:02X}").as_bytes());
                }
            }
        }
        Obj::Str(s) => {
            out.push(b'(');
            for b in s {
                match b {
                    b'(' | b')' | b'\\' => {
                        out.push(b'\\');
                        out.push(*b);
                    }
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    _ => out.push(*b),
                }
            }
            out.push(b')');
        }
        Obj::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_obj(x, out);
            }
            out.push(b']');
        }
        Obj::Dict(d) => write_dict(d, out),
        Obj::Ref(n, g) => out.extend_from_slice(format!("{n} {g} R").as_bytes()),
        Obj::Stream(d, data) => {
            let bytes = match data {
                StreamData::Bytes(b) => b.as_slice(),
                StreamData::InFile(..) => &[],
            };
            let mut d = d.clone();
            d.set(b"Length", Obj::Int(bytes.len() as i64));
            write_dict(&d, out);
            out.extend_from_slice(b"\nstream\n");
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\nendstream");
        }
    }
}

fn write_dict(d: &Dict, out: &mut Vec<u8>) {
    out.extend_from_slice(b"<<");
    for (k, v) in &d.0 {
        write_obj(&Obj::Name(k.clone()), out);
        out.push(b' ');
        write_obj(v, out);
    }
    out.extend_from_slice(b">>");
}

/// A text string for PDF (`/Reason`, `/Name`, …): PDFDocEncoding when ASCII, else UTF-16BE with BOM.
pub fn text_string(s: &str) -> Obj {
    if s.is_ascii() {
        Obj::Str(s.as_bytes().to_vec())
    } else {
        let mut v = vec![0xFE, 0xFF];
        for u in s.encode_utf16() {
            v.extend_from_slice(&u.to_be_bytes());
        }
        Obj::Str(v)
    }
}

/// Decodes a PDF text string.
pub fn decode_text(b: &[u8]) -> String {
    if b.starts_with(&[0xFE, 0xFF]) {
        let units: Vec<u16> = b[2..]
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else if b.starts_with(&[0xEF, 0xBB, 0xBF]) {
        String::from_utf8_lossy(&b[3..]).into_owned()
    } else {
        b.iter().map(|c| *c as char).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_objects() {
        let mut p = Parser::new(b"12 0 obj << /Type /Sig /Contents <0A0b> /ByteRange [0 10 20 30] /T (a\\(b\\)) /R 3 0 R /X 1.5 /N /A#20B >> endobj", 100);
        let ((n, g), o) = p.indirect().unwrap();
        assert_eq!((n, g), (12, 0));
        let d = o.as_dict().unwrap();
        assert!(d.is_type(b"Sig"));
        assert_eq!(d.get(b"Contents"), Some(&Obj::Str(vec![0x0a, 0x0b])));
        assert_eq!(d.get(b"T"), Some(&Obj::Str(b"a(b)".to_vec())));
        assert_eq!(d.get(b"R"), Some(&Obj::Ref(3, 0)));
        assert_eq!(d.get(b"X"), Some(&Obj::Real(1.5)));
        assert_eq!(d.name(b"N"), Some(&b"A B"[..]));
        let (s, e) = p.contents_span.unwrap();
        assert_eq!(
            &b"12 0 obj << /Type /Sig /Contents <0A0b>"[(s - 100) as usize..(e - 100) as usize],
            b"<0A0b>"
        );
    }

    #[test]
    fn truncation_and_garbage_are_errors() {
        for input in [
            &b"1 0 obj << /A [1 2"[..],
            b"1 0 obj (abc",
            b"xx",
            b"1 0 obj <</A 1>",
            b"",
            b"1 0 obj <zz>",
        ] {
            assert!(
                Parser::new(input, 0).indirect().is_err(),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn writes_round_trip() {
        let mut d = Dict::default();
        d.set(b"Type", Obj::Name(b"Annot".to_vec()));
        d.set(b"T", text_string("Signature — توقيع"));
        d.set(
            b"Rect",
            Obj::Array(vec![Obj::Int(0), Obj::Real(10.25), Obj::Ref(4, 0)]),
        );
        let mut out = b"1 0 obj\n".to_vec();
        write_obj(&Obj::Dict(d.clone()), &mut out);
        out.extend_from_slice(b"\nendobj");
        let (_, back) = Parser::new(&out, 0).indirect().unwrap();
        assert_eq!(back, Obj::Dict(d));
        assert_eq!(
            decode_text(back.as_dict().unwrap().get(b"T").unwrap().as_str().unwrap()),
            "Signature — توقيع"
        );
    }
}
