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

criterion_group!(benches, sign);
criterion_main!(benches);
