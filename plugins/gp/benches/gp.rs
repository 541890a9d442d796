//! The GP arm's hot path (issue: first-party model plugins): a proposal over a 4096-point
//! pool with continuous refinement, at n ≈ 100 (d = 6) and n ≈ 1000 (d = 6), on the
//! incremental path (one observation appended, hyperparameters kept) and on a step that
//! refits the hyperparameters, and with 16 points in flight (a parallel run). Targets:
//! n = 100 ≤ 15 ms; n = 1000 ≤ 50 ms incremental, ≤ 500 ms with a refit. Run with `cargo bench -p hpo-plugin-gp`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hpo_gp::GpSession;
use hpo_gp::session::next_refit;
use hpo_plugin_api::sdk::ArmSession;
use hpo_plugin_api::space::SpaceSpec;
use hpo_plugin_api::types::{ArmConfig, Matrix, ObservationStatus, Observations, ProposeRequest};

const D: usize = 6;

fn unit(i: usize, salt: usize) -> f64 {
    (((i + salt) as u64 * 2_654_435_761) % 10_007) as f64 / 10_007.0
}

fn points(rows: usize, salt: usize) -> Vec<f64> {
    (0..rows * D).map(|i| unit(i, salt)).collect()
}

fn value(p: &[f64]) -> f64 {
    p.iter()
        .enumerate()
        .map(|(j, v)| (v - 0.1 * j as f64).powi(2) + 0.1 * (7.0 * v).sin())
        .sum()
}

fn observations(x: &[f64]) -> Observations {
    let n = x.len() / D;
    Observations {
        x: Matrix::new(D as u32, x.to_vec()).unwrap(),
        y: x.chunks(D).map(value).collect(),
        cost: vec![0.0; n],
        status: vec![ObservationStatus::Final; n],
    }
}

fn request() -> ProposeRequest {
    ProposeRequest {
        acquisition: "EI".into(),
        candidates: (0..4096).collect(),
        pending: Matrix::empty(D as u32),
        n: 1,
        seed: 9,
        allow_off_pool: true,
    }
}

/// A session told `n` observations whose model is up to date.
fn session(n: usize, history: &[f64]) -> GpSession {
    let space = SpaceSpec::unit_cube(D);
    let mut s = GpSession::open(ArmConfig {
        model: "GP".into(),
        space_json: serde_json::to_string(&space).unwrap(),
        options_json: std::env::var("GP_BENCH_OPTIONS").unwrap_or_else(|_| "{}".into()),
        seed: 1,
    })
    .unwrap();
    s.set_pool(Matrix::new(D as u32, points(4096, 77)).unwrap())
        .unwrap();
    s.tell(observations(&history[..n * D])).unwrap();
    s.propose(request()).unwrap();
    s
}

/// The last refit point at or below `n` and the one after it.
fn schedule_around(n: usize) -> (usize, usize) {
    let mut s = 2;
    while next_refit(s) <= n {
        s = next_refit(s);
    }
    (s, next_refit(s))
}

fn propose(c: &mut Criterion) {
    let history = points(1100, 3);
    let mut group = c.benchmark_group("gp_propose_pool4096_d6");
    group.sample_size(10);
    for target in [100, 1000] {
        let (fitted_at, next) = schedule_around(target);
        // Incremental: fitted at `fitted_at`, one more observation keeps the hyperparameters.
        let base = session(fitted_at, &history);
        assert_eq!(base.last_fit(), Some(fitted_at));
        let one = observations(&history[fitted_at * D..(fitted_at + 1) * D]);
        group.bench_function(format!("n{}_incremental", fitted_at + 1), |b| {
            b.iter_batched(
                || base.clone(),
                |mut s| {
                    s.tell(one.clone()).unwrap();
                    black_box(s.propose(request()).unwrap())
                },
                BatchSize::LargeInput,
            )
        });
        // A parallel run's proposal: 16 points in flight, observed at the incumbent (the
        // constant liar).
        let pending = Matrix::new(D as u32, points(16, 500)).unwrap();
        group.bench_function(format!("n{}_incremental_16_pending", fitted_at + 1), |b| {
            b.iter_batched(
                || base.clone(),
                |mut s| {
                    s.tell(one.clone()).unwrap();
                    black_box(
                        s.propose(ProposeRequest {
                            pending: pending.clone(),
                            ..request()
                        })
                        .unwrap(),
                    )
                },
                BatchSize::LargeInput,
            )
        });
        // Refit: the next observation reaches the schedule's next point.
        let base = session(next - 1, &history);
        let one = observations(&history[(next - 1) * D..next * D]);
        group.bench_function(format!("n{next}_refit"), |b| {
            b.iter_batched(
                || base.clone(),
                |mut s| {
                    s.tell(one.clone()).unwrap();
                    let p = s.propose(request()).unwrap();
                    assert_eq!(s.last_fit(), Some(next));
                    black_box(p)
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, propose);
criterion_main!(benches);
