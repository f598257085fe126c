//! The cost of one P-256 signature: a sealed receipt carries three (its CMS, its time-stamp
//! token and its signed JSON).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use diwan_crypto::{KeyAlgorithm, PrivateKey};

fn sign(c: &mut Criterion) {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).expect("key");
    let mut digest = [7u8; 32];
    c.bench_function("ECDSA P-256 signature of a digest", |b| {
        b.iter(|| {
            digest[0] = digest[0].wrapping_add(1);
            black_box(key.sign_prehashed_sha256(black_box(&digest)).expect("sign"))
        })
    });
}

/// The same with `ring`'s assembly-backed P-256 (it hashes the message itself): a receipt's
/// three signatures are over short messages (signed attributes, canonical JSON).
fn sign_ring(c: &mut Criterion) {
    use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("key");
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
        .expect("key");
    let mut message = [7u8; 200];
    c.bench_function("ECDSA P-256 signature of a 200-byte message (ring)", |b| {
        b.iter(|| {
            message[0] = message[0].wrapping_add(1);
            black_box(key.sign(&rng, black_box(&message)).expect("sign"))
        })
    });
}

criterion_group!(benches, sign, sign_ring);
criterion_main!(benches);
