//! ECDSA P-256 signing with a precomputed table for the nonce point k·G.
//!
//! Used where only a digest is held (`PrivateKey::sign_prehashed_sha256`, remote-signing
//! backends' fallback) and when `ring` refuses a key; messages signed whole go through `ring`
//! (see `keys::P256Key`), about 2.4 times faster still.
//!
//! Every receipt carries three P-256 signatures (the seal's CMS, the time-stamp token and the
//! signed JSON), and with the `p256` crate's generic variable-base multiplication the point k·G
//! was most of their cost: 256 doublings and 64 additions per signature. The generator is
//! fixed, so its multiples can be computed once: with the table `T[i][j] = j·16^i·G`, k·G is
//! the sum over the 64 nibbles `k_i` of `T[i][k_i]`, that is 64 mixed additions and no
//! doubling. Each row is read in constant time (every entry is visited and the wanted one kept
//! with `conditional_assign`), so the memory access pattern does not depend on the nonce.
//!
//! Everything else is the `ecdsa` crate's algorithm, step for step: the same RFC 6979 nonce
//! (`rfc6979::generate_k` with SHA-256 and no extra data), r = x(k·G) mod n,
//! s = k⁻¹(z + r·d) mod n, no low-s normalisation. Signatures are therefore byte for byte the
//! ones `p256::ecdsa::SigningKey::sign_prehash` gives, which the tests check.

use crate::{CryptoError, Result};
use p256::elliptic_curve::bigint::U256;
use p256::elliptic_curve::group::Curve as _;
use p256::elliptic_curve::ops::Reduce;
use p256::elliptic_curve::point::AffineCoordinates;
use p256::elliptic_curve::subtle::{ConditionallySelectable, ConstantTimeEq};
use p256::elliptic_curve::{Curve, Field, FieldBytesEncoding, PrimeField};
use p256::{AffinePoint, FieldBytes, NistP256, ProjectivePoint, Scalar};
use std::sync::OnceLock;

/// 4-bit windows in a 256-bit scalar.
const WINDOWS: usize = 64;

/// `rows[i][j] = j·16^i·G` (entry 0 is the identity).
struct Comb {
    rows: [[AffinePoint; 16]; WINDOWS],
}

fn comb() -> &'static Comb {
    static TABLE: OnceLock<Box<Comb>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = Box::new(Comb {
            rows: [[AffinePoint::IDENTITY; 16]; WINDOWS],
        });
        let mut base = ProjectivePoint::GENERATOR;
        for row in table.rows.iter_mut() {
            let mut multiples = [ProjectivePoint::IDENTITY; 16];
            for j in 1..16 {
                multiples[j] = multiples[j - 1] + base;
            }
            ProjectivePoint::batch_normalize(&multiples, row);
            base = multiples[15] + base;
        }
        table
    })
}

/// k·G, in constant time with respect to `k`.
pub(crate) fn mul_generator(k: &Scalar) -> ProjectivePoint {
    let bytes = k.to_repr();
    let mut acc = ProjectivePoint::IDENTITY;
    for (i, row) in comb().rows.iter().enumerate() {
        let byte = bytes[31 - i / 2];
        let digit = if i % 2 == 0 { byte & 0x0f } else { byte >> 4 };
        let mut chosen = AffinePoint::IDENTITY;
        for (j, point) in row.iter().enumerate().skip(1) {
            chosen.conditional_assign(point, (j as u8).ct_eq(&digit));
        }
        acc += chosen;
    }
    acc
}

/// k⁻¹ mod n for a secret nonce, by the variable-time binary algorithm on a blinded value.
///
/// The constant-time inversion (Fermat, about 300 multiplications mod n) was a tenth of a
/// signature's cost. Stein's algorithm is several times faster but its running time depends on
/// its input, so it is given k·b for a fresh random b, never k itself, and the result multiplied
/// by b again: (k·b)⁻¹·b = k⁻¹. The timing then tells nothing about k. (The same blinding as
/// BoringSSL's and OpenSSL's ECDSA.)
fn invert_blinded(k: &Scalar) -> Option<Scalar> {
    use p256::elliptic_curve::ops::Invert;
    let b = *p256::NonZeroScalar::random(&mut rand::thread_rng());
    Option::from((*k * b).invert_vartime()).map(|inv: Scalar| inv * b)
}

/// Signs a SHA-256 digest with a deterministic nonce (RFC 6979).
pub(crate) fn sign_prehash(
    key: &p256::ecdsa::SigningKey,
    digest: &[u8; 32],
) -> Result<p256::ecdsa::Signature> {
    let failed = || CryptoError::Key("ECDSA signing failed".into());
    let d: &Scalar = key.as_nonzero_scalar().as_ref();
    let z_bytes = FieldBytes::clone_from_slice(digest);
    let k_bytes = rfc6979::generate_k::<sha2::Sha256, _>(
        &d.to_repr(),
        &NistP256::ORDER.encode_field_bytes(),
        &z_bytes,
        &[],
    );
    let k = Option::<Scalar>::from(Scalar::from_repr(k_bytes)).ok_or_else(failed)?;
    if bool::from(k.is_zero()) {
        return Err(failed());
    }
    let k_inv = invert_blinded(&k).ok_or_else(failed)?;
    let big_r = mul_generator(&k).to_affine();
    let r = <Scalar as Reduce<U256>>::reduce_bytes(&big_r.x());
    let z = <Scalar as Reduce<U256>>::reduce_bytes(&z_bytes);
    let s = k_inv * (z + r * d);
    // `from_scalars` refuses r = 0 and s = 0.
    p256::ecdsa::Signature::from_scalars(r, s).map_err(|_| failed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::ops::MulByGenerator;
    use rand::RngCore;
    use signature::hazmat::PrehashSigner;

    #[test]
    fn the_table_gives_the_generators_multiples() {
        let minus_one = -Scalar::ONE;
        let mut scalars = vec![
            Scalar::ZERO,
            Scalar::ONE,
            Scalar::from(2u64),
            Scalar::from(15u64),
            Scalar::from(16u64),
            Scalar::from(0x1000_0000_0000_0000u64),
            minus_one,
        ];
        for _ in 0..64 {
            scalars.push(Scalar::random(&mut rand::rngs::OsRng));
        }
        for k in scalars {
            assert_eq!(
                mul_generator(&k).to_affine(),
                ProjectivePoint::mul_by_generator(&k).to_affine()
            );
        }
    }

    #[test]
    fn blinded_inversion_is_the_inverse() {
        let mut scalars = vec![Scalar::ONE, Scalar::from(2u64), -Scalar::ONE];
        for _ in 0..256 {
            scalars.push(Scalar::random(&mut rand::rngs::OsRng));
        }
        for k in scalars {
            let inv = invert_blinded(&k).expect("non-zero");
            assert_eq!(inv, k.invert().unwrap());
            assert_eq!(inv * k, Scalar::ONE);
        }
        assert!(invert_blinded(&Scalar::ZERO).is_none());
    }

    #[test]
    fn signatures_are_those_of_the_p256_crate() {
        let mut rng = rand::rngs::OsRng;
        for _ in 0..64 {
            let key = p256::ecdsa::SigningKey::random(&mut rng);
            let mut digest = [0u8; 32];
            rng.fill_bytes(&mut digest);
            let ours = sign_prehash(&key, &digest).expect("sign");
            let theirs: p256::ecdsa::Signature = key.sign_prehash(&digest).expect("sign");
            assert_eq!(ours, theirs);
            use signature::hazmat::PrehashVerifier;
            key.verifying_key()
                .verify_prehash(&digest, &ours)
                .expect("verifies");
        }
    }
}
