//! Experiment-side costs (issue: experiments end to end).
//!
//! - `load_default_table`: parsing the embedded digits-mlp table (target < 100 ms).
//! - `sobol_pool_4096`: a 4096-point scrambled Sobol pool of the digits-mlp space.
//!
//! The 100-iteration random run's wall time is measured on the binary (see
//! docs/PERFORMANCE.md for the command).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hpo_host::objectives::surrogate::SurrogateTable;
use hpo_host::space::pool::sobol_pool;

fn experiment(c: &mut Criterion) {
    let mut group = c.benchmark_group("experiment");
    group.sample_size(20);
    group.bench_function("load_default_table", |b| {
        b.iter(|| black_box(SurrogateTable::embedded_default().unwrap()))
    });
    let table = SurrogateTable::embedded_default().unwrap();
    group.bench_function("sobol_pool_4096", |b| {
        b.iter(|| black_box(sobol_pool(&table.space, 4096, 1)))
    });
    group.finish();
}

criterion_group!(benches, experiment);
criterion_main!(benches);
