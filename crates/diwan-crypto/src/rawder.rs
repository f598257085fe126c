//! A minimal reader of DER/BER definite-length TLVs, to get at the exact bytes of signed
//! attributes as they were signed (re-encoding parsed structures can change them).

use crate::{CryptoError, Result};

/// One tag-length-value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    /// Header and content.
    pub full: &'a [u8],
}

/// Reads the TLV at the start of `data`; returns it and what follows.
pub(crate) fn read(data: &[u8]) -> Result<(Tlv<'_>, &[u8])> {
    let bad = |d: &str| CryptoError::malformed("DER", d.to_string());
    let tag = *data.first().ok_or_else(|| bad("empty"))?;
    if tag & 0x1f == 0x1f {
        return Err(bad("multi-byte tags are not supported here"));
    }
    let first = *data.get(1).ok_or_else(|| bad("truncated length"))?;
    let (len, hlen) = if first < 0x80 {
        (first as usize, 2)
    } else if first == 0x80 {
        return Err(bad("indefinite lengths are not supported"));
    } else {
        let n = (first & 0x7f) as usize;
        if n > 4 {
            return Err(bad("length too large"));
        }
        let bytes = data.get(2..2 + n).ok_or_else(|| bad("truncated length"))?;
        (
            bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize),
            2 + n,
        )
    };
    let end = hlen
        .checked_add(len)
        .ok_or_else(|| bad("length overflow"))?;
    let full = data.get(..end).ok_or_else(|| bad("truncated value"))?;
    Ok((
        Tlv {
            tag,
            content: &full[hlen..],
            full,
        },
        &data[end..],
    ))
}

/// The TLVs contained in `content`, in order.
pub(crate) fn children(mut content: &[u8]) -> Result<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (t, rest) = read(content)?;
        out.push(t);
        content = rest;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_and_refuses() {
        let (t, rest) = super::read(&[0x30, 0x03, 0x02, 0x01, 0x05, 0xff]).unwrap();
        assert_eq!(
            (t.tag, t.content, rest),
            (0x30, &[0x02, 0x01, 0x05][..], &[0xff][..])
        );
        assert!(super::read(&[0x30, 0x05, 0x01]).is_err());
        assert!(super::read(&[0x30, 0x80]).is_err());
        assert!(super::read(&[]).is_err());
        let long = [vec![0x04, 0x81, 0x80], vec![7u8; 128]].concat();
        assert_eq!(super::read(&long).unwrap().0.content.len(), 128);
    }
}
