use criterion::{criterion_group, criterion_main, Criterion};

fn receipt(c: &mut Criterion) {
    let data = diwan_pdf::receipt::sample();
    let _ = diwan_pdf::receipt::render(&data);
    c.bench_function("render receipt", |b| {
        b.iter(|| diwan_pdf::receipt::render(&data).unwrap())
    });
    // As in production: every receipt has its own number, times, filer, subject and hashes, so
    // only the fixed labels come from the shaping cache.
    let mut n = 0u64;
    c.bench_function("render receipt, fields of each filing", |b| {
        b.iter(|| {
            n += 1;
            let mut d = data.clone();
            d.number = format!("BO-CENTRAL/A/2026/{n:06}");
            d.received_local = format!("24/11/2026 à {:02}:{:02} (UTC+01:00)", n / 60 % 24, n % 60);
            d.received_utc = format!(
                "2026-11-24T{:02}:{:02}:{:02}Z",
                n / 3600 % 24,
                n / 60 % 60,
                n % 60
            );
            d.filer_name = format!("Filer {n} El Amrani");
            d.subject = format!("Demande numéro {n} d'autorisation");
            for (i, doc) in d.documents.iter_mut().enumerate() {
                doc.sha256 = format!("{:064x}", u128::from(n) * 7919 + i as u128);
                doc.size = 10_000 + n;
            }
            d.log_index = n;
            d.tree_size = n + 1;
            d.log_root = format!("{:064x}", u128::from(n) * 104_729);
            diwan_pdf::receipt::render(&d).unwrap()
        })
    });
}

criterion_group!(benches, receipt);
criterion_main!(benches);
