//! The RF arm's hot path: fitting the forest at n = 1000, d = 8, then predicting a 4096-row
//! pool (target ≤ 30 ms single-threaded, issue: first-party model plugins).
//! Run with `cargo bench -p hpo-plugin-rf`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hpo_rf::forest::{Forest, ForestParams};

fn data(rows: usize, dims: usize, salt: u64) -> Vec<f64> {
    (0..rows * dims)
        .map(|i| (((i as u64 + salt) * 2_654_435_761) % 10_007) as f64 / 10_007.0)
        .collect()
}

fn forest(c: &mut Criterion) {
    let (n, d) = (1000, 8);
    let x = data(n, d, 1);
    let y: Vec<f64> = x
        .chunks(d)
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(j, v)| (v - 0.3 * j as f64 / d as f64).powi(2))
                .sum()
        })
        .collect();
    let pool = data(4096, d, 7);
    let params = ForestParams::default();
    let mut group = c.benchmark_group("rf");
    group.sample_size(20);
    group.bench_function("fit_n1000_d8", |b| {
        b.iter(|| black_box(Forest::fit(&x, d, &y, params, 3)))
    });
    let fitted = Forest::fit(&x, d, &y, params, 3);
    group.bench_function("predict_pool4096", |b| {
        b.iter(|| pool.chunks(d).map(|p| fitted.predict(p).0).sum::<f64>())
    });
    group.bench_function("fit_and_predict", |b| {
        b.iter(|| {
            let f = Forest::fit(&x, d, &y, params, 3);
            black_box(pool.chunks(d).map(|p| f.predict(p).0).sum::<f64>())
        })
    });
    group.finish();
}

criterion_group!(benches, forest);
criterion_main!(benches);
