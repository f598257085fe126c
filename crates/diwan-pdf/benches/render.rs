use criterion::{criterion_group, criterion_main, Criterion};

fn receipt(c: &mut Criterion) {
    let data = diwan_pdf::receipt::sample();
    let _ = diwan_pdf::receipt::render(&data);
    c.bench_function("render receipt", |b| {
        b.iter(|| diwan_pdf::receipt::render(&data).unwrap())
    });
}

criterion_group!(benches, receipt);
criterion_main!(benches);
