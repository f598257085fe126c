//! Hash states of leading bytes that many documents share.
//!
//! A generator that embeds the same fonts in every document it makes (the acknowledgements of
//! receipt) writes the same first hundred kilobytes again and again. Signing hashes them each
//! time. Here the SHA-256 state after such a prefix is kept, with the prefix itself: a document
//! whose first bytes are equal to a kept prefix (compared byte for byte, which costs a fraction
//! of hashing them) starts from that state. The digest is the same either way.

use sha2::{Digest, Sha256};
use std::sync::{Arc, RwLock};

/// Prefixes kept at once; the oldest goes first. A generator has a few (one per set of fonts).
const KEPT: usize = 16;

struct Kept {
    bytes: Box<[u8]>,
    /// The state after `bytes`.
    hasher: Sha256,
}

static KEPT_PREFIXES: RwLock<Vec<Arc<Kept>>> = RwLock::new(Vec::new());

/// A hasher that has taken in `data[..shared]` (`shared` is clamped to the data's length): its
/// state is a kept one when those bytes were seen before; otherwise they are hashed and kept.
pub(crate) fn hasher_after(data: &[u8], shared: usize) -> Sha256 {
    let prefix = &data[..shared.min(data.len())];
    if prefix.is_empty() {
        return Sha256::new();
    }
    let known = KEPT_PREFIXES.read().ok().and_then(|kept| {
        kept.iter()
            .find(|k| *k.bytes == *prefix)
            .map(|k| k.hasher.clone())
    });
    if let Some(hasher) = known {
        return hasher;
    }
    let mut hasher = Sha256::new();
    hasher.update(prefix);
    if let Ok(mut kept) = KEPT_PREFIXES.write() {
        if !kept.iter().any(|k| *k.bytes == *prefix) {
            if kept.len() >= KEPT {
                kept.remove(0);
            }
            kept.push(Arc::new(Kept {
                bytes: prefix.into(),
                hasher: hasher.clone(),
            }));
        }
    }
    hasher
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state taken from a kept prefix gives the digest of hashing everything, for the same
    /// prefix seen again, for another prefix of the same length, and for one longer than the
    /// data.
    #[test]
    fn a_kept_state_gives_the_same_digest() {
        let whole = |d: &[u8]| Sha256::digest(d).to_vec();
        let from = |d: &[u8], n: usize| {
            let mut h = hasher_after(d, n);
            h.update(&d[n.min(d.len())..]);
            h.finalize().to_vec()
        };
        let a: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut b = a.clone();
        b[4000] ^= 1;
        let mut c = a.clone();
        c[10] ^= 1;
        for _ in 0..2 {
            assert_eq!(from(&a, 4097), whole(&a));
            assert_eq!(from(&b, 4097), whole(&b), "same prefix, other tail");
            assert_eq!(from(&c, 4097), whole(&c), "other prefix of the same length");
            assert_eq!(from(&a, 64), whole(&a));
            assert_eq!(from(&a, 0), whole(&a));
            assert_eq!(from(&a[..100], 4097), whole(&a[..100]));
        }
    }
}
