//! Incremental updates (ISO 32000-2 §7.5.6): new and changed objects appended after the original
//! bytes, with a cross-reference section of the same kind as the file's last one.

use crate::object::{write_obj, Dict, Obj};
use crate::reader::{Reader, Source};
use crate::Result;

/// Objects of one incremental update, with their final numbers.
pub struct Update {
    next: u32,
    objects: Vec<(u32, u16, Vec<u8>)>,
}

/// The bytes of an update and where things are in them.
pub struct Built {
    pub bytes: Vec<u8>,
    /// Offsets of the objects (relative to the start of `bytes`).
    pub offsets: Vec<(u32, usize)>,
}

impl Update {
    /// Starts an update of `reader`'s file: new objects are numbered from its `/Size`.
    pub fn new<S: Source + ?Sized>(reader: &Reader<S>) -> Self {
        let size = reader.trailer.int(b"Size").unwrap_or(0).max(1) as u32;
        let max_known = reader.xref.keys().max().copied().unwrap_or(0) + 1;
        Self {
            next: size.max(max_known),
            objects: Vec::new(),
        }
    }

    /// Reserves a new object number.
    pub fn alloc(&mut self) -> u32 {
        let n = self.next;
        self.next += 1;
        n
    }

    /// Adds (or replaces) object `num` with generation `gen`.
    pub fn put(&mut self, num: u32, gen: u16, obj: &Obj) {
        let mut body = Vec::new();
        write_obj(obj, &mut body);
        self.put_raw(num, gen, body);
    }

    /// Adds object `num` with an already serialised body.
    pub fn put_raw(&mut self, num: u32, gen: u16, body: Vec<u8>) {
        self.objects.retain(|(n, _, _)| *n != num);
        self.objects.push((num, gen, body));
    }

    /// Serialises the update. `prefix_newline` when the original does not end with an EOL;
    /// `base` is the original length (offsets in the xref are absolute).
    pub fn build<S: Source + ?Sized>(mut self, reader: &Reader<S>, base: u64) -> Result<Built> {
        let mut out = Vec::with_capacity(4096);
        let tail = reader.bytes(base.saturating_sub(1), 1)?;
        if !matches!(tail.first(), Some(b'\n') | Some(b'\r')) {
            out.push(b'\n');
        }
        self.objects.sort_by_key(|(n, _, _)| *n);
        let mut offsets = Vec::new();
        let mut gens = Vec::new();
        for (n, g, body) in &self.objects {
            offsets.push((*n, out.len()));
            gens.push(*g);
            out.extend_from_slice(format!("{n} {g} obj\n").as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        let newest_is_stream = reader.sections.first().is_some_and(|s| s.is_stream);
        let mut trailer = Dict::default();
        for k in [&b"Root"[..], b"Info", b"ID", b"Encrypt"] {
            if let Some(v) = reader.trailer.get(k) {
                trailer.set(k, v.clone());
            }
        }
        trailer.set(b"Prev", Obj::Int(reader.startxref as i64));
        let xref_offset;
        if newest_is_stream {
            // A cross-reference stream, uncompressed: W = [1 off 2].
            let xnum = self.next;
            self.next += 1;
            xref_offset = out.len();
            let mut rows: Vec<(u32, u64, u16)> = offsets
                .iter()
                .zip(&gens)
                .map(|((n, o), g)| (*n, base + *o as u64, *g))
                .collect();
            rows.push((xnum, base + xref_offset as u64, 0));
            rows.sort_by_key(|r| r.0);
            let max_off = rows.iter().map(|r| r.1).max().unwrap_or(0);
            let w = (((64 - max_off.leading_zeros()) as usize).div_ceil(8)).max(1);
            let mut index = Vec::new();
            let mut data = Vec::new();
            let mut i = 0;
            while i < rows.len() {
                let start = rows[i].0;
                let mut j = i;
                while j + 1 < rows.len() && rows[j + 1].0 == rows[j].0 + 1 {
                    j += 1;
                }
                index.push(Obj::Int(i64::from(start)));
                index.push(Obj::Int((j - i + 1) as i64));
                for r in &rows[i..=j] {
                    data.push(1u8);
                    data.extend_from_slice(&r.1.to_be_bytes()[8 - w..]);
                    data.extend_from_slice(&r.2.to_be_bytes());
                }
                i = j + 1;
            }
            trailer.set(b"Type", Obj::Name(b"XRef".to_vec()));
            trailer.set(b"Size", Obj::Int(i64::from(self.next)));
            trailer.set(
                b"W",
                Obj::Array(vec![Obj::Int(1), Obj::Int(w as i64), Obj::Int(2)]),
            );
            trailer.set(b"Index", Obj::Array(index));
            let mut body = Vec::new();
            write_obj(
                &Obj::Stream(trailer, crate::object::StreamData::Bytes(data)),
                &mut body,
            );
            out.extend_from_slice(format!("{xnum} 0 obj\n").as_bytes());
            out.extend_from_slice(&body);
            out.extend_from_slice(b"\nendobj\n");
        } else {
            xref_offset = out.len();
            out.extend_from_slice(b"xref\n");
            let rows: Vec<(u32, u64, u16)> = offsets
                .iter()
                .zip(&gens)
                .map(|((n, o), g)| (*n, base + *o as u64, *g))
                .collect();
            let mut i = 0;
            while i < rows.len() {
                let mut j = i;
                while j + 1 < rows.len() && rows[j + 1].0 == rows[j].0 + 1 {
                    j += 1;
                }
                out.extend_from_slice(format!("{} {}\n", rows[i].0, j - i + 1).as_bytes());
                for r in &rows[i..=j] {
                    out.extend_from_slice(format!("{:010} {:05} n\r\n", r.1, r.2).as_bytes());
                }
                i = j + 1;
            }
            trailer.set(b"Size", Obj::Int(i64::from(self.next)));
            out.extend_from_slice(b"trailer\n");
            write_obj(&Obj::Dict(trailer), &mut out);
            out.push(b'\n');
        }
        out.extend_from_slice(
            format!("startxref\n{}\n%%EOF\n", base + xref_offset as u64).as_bytes(),
        );
        Ok(Built {
            bytes: out,
            offsets,
        })
    }
}
