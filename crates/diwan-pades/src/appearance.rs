//! Appearance streams of visible signatures: a framed box with lines of text, written as a Form
//! XObject. Latin text uses the standard Helvetica font (WinAnsi); lines in other scripts are
//! rendered by `diwan-pdf`'s layout as an embedded page fragment (not yet: see `build`).

use crate::object::{Dict, Obj, StreamData};
use crate::update::Update;
use crate::Result;

fn winansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            'é' => 0xE9,
            'è' => 0xE8,
            'ê' => 0xEA,
            'à' => 0xE0,
            'â' => 0xE2,
            'ç' => 0xE7,
            'ô' => 0xF4,
            'î' => 0xEE,
            'û' => 0xFB,
            'ù' => 0xF9,
            'É' => 0xC9,
            '—' => 0x97,
            '–' => 0x96,
            '’' => 0x92,
            c if c.is_ascii() && !c.is_control() => c as u8,
            _ => b'?',
        })
        .collect()
}

/// Adds the appearance stream (and its font) to the update; returns its object number.
pub fn build(up: &mut Update, w: f32, h: f32, lines: &[String]) -> Result<u32> {
    let font = up.alloc();
    let mut fd = Dict::default();
    fd.set(b"Type", Obj::Name(b"Font".to_vec()));
    fd.set(b"Subtype", Obj::Name(b"Type1".to_vec()));
    fd.set(b"BaseFont", Obj::Name(b"Helvetica".to_vec()));
    fd.set(b"Encoding", Obj::Name(b"WinAnsiEncoding".to_vec()));
    up.put(font, 0, &Obj::Dict(fd));
    let n = lines.len().max(1) as f32;
    let size = ((h - 8.0) / (n * 1.25)).clamp(5.0, 11.0);
    let mut content = Vec::new();
    content.extend_from_slice(
        format!(
            "q 0.043 0.365 0.231 RG 1 w 0.5 0.5 {:.2} {:.2} re S Q\n",
            w - 1.0,
            h - 1.0
        )
        .as_bytes(),
    );
    content.extend_from_slice(
        format!(
            "BT /F1 {size:.2} Tf 0.106 0.141 0.188 rg {:.2} TL 5 {:.2} Td\n",
            size * 1.25,
            h - 4.0 - size
        )
        .as_bytes(),
    );
    for l in lines {
        let mut s = Vec::new();
        crate::object::write_obj(&Obj::Str(winansi(l)), &mut s);
        content.extend_from_slice(&s);
        content.extend_from_slice(b" Tj T*\n");
    }
    content.extend_from_slice(b"ET\n");
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
    let mut fonts = Dict::default();
    fonts.set(b"F1", Obj::Ref(font, 0));
    let mut res = Dict::default();
    res.set(b"Font", Obj::Dict(fonts));
    d.set(b"Resources", Obj::Dict(res));
    up.put(ap, 0, &Obj::Stream(d, StreamData::Bytes(content)));
    Ok(ap)
}
