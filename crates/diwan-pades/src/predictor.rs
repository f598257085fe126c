//! PNG and TIFF predictors of Flate streams (xref streams use PNG Up).

use crate::object::Dict;
use crate::{PdfError, Result};

pub fn decode(data: &[u8], parms: &Dict) -> Result<Vec<u8>> {
    let predictor = parms.int(b"Predictor").unwrap_or(1);
    if predictor < 10 {
        return Ok(data.to_vec());
    }
    let colors = parms.int(b"Colors").unwrap_or(1).clamp(1, 32) as usize;
    let bpc = parms.int(b"BitsPerComponent").unwrap_or(8).clamp(1, 16) as usize;
    let columns = parms.int(b"Columns").unwrap_or(1).clamp(1, 1 << 20) as usize;
    let bpp = (colors * bpc).div_ceil(8).max(1);
    let row_len = (colors * bpc * columns).div_ceil(8);
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; row_len];
    for chunk in data.chunks(row_len + 1) {
        if chunk.len() < row_len + 1 {
            break;
        }
        let (t, row) = (chunk[0], &chunk[1..]);
        let mut cur = row.to_vec();
        for i in 0..row_len {
            let left = if i >= bpp { cur[i - bpp] } else { 0 };
            let up = prev[i];
            let ul = if i >= bpp { prev[i - bpp] } else { 0 };
            cur[i] = match t {
                0 => cur[i],
                1 => cur[i].wrapping_add(left),
                2 => cur[i].wrapping_add(up),
                3 => cur[i].wrapping_add(((u16::from(left) + u16::from(up)) / 2) as u8),
                4 => {
                    let p = i16::from(left) + i16::from(up) - i16::from(ul);
                    let (pa, pb, pc) = (
                        (p - i16::from(left)).abs(),
                        (p - i16::from(up)).abs(),
                        (p - i16::from(ul)).abs(),
                    );
                    let pred = if pa <= pb && pa <= pc {
                        left
                    } else if pb <= pc {
                        up
                    } else {
                        ul
                    };
                    cur[i].wrapping_add(pred)
                }
                _ => return Err(PdfError::Broken("unknown PNG predictor")),
            };
        }
        out.extend_from_slice(&cur);
        prev = cur;
    }
    Ok(out)
}
