//! The TPE arm's hot path (issue: first-party model plugins): one proposal at n = 1000,
//! d = 8, off the pool (24 candidates drawn from l and ranked by l/g), univariate (TPE/EI)
//! and multivariate (TPE/MV). Target ≤ 1 ms. Run with `cargo bench -p hpo-plugin-tpe`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hpo_plugin_api::sdk::ArmSession;
use hpo_plugin_api::space::SpaceSpec;
use hpo_plugin_api::types::{ArmConfig, Matrix, ObservationStatus, Observations, ProposeRequest};
use hpo_tpe::TpeSession;

const D: usize = 8;

fn propose(c: &mut Criterion) {
    let n = 1000;
    let x: Vec<f64> = (0..n * D)
        .map(|i| ((i as u64 * 2_654_435_761) % 10_007) as f64 / 10_007.0)
        .collect();
    let y: Vec<f64> = x
        .chunks(D)
        .map(|p| {
            p.iter()
                .enumerate()
                .map(|(j, v)| (v - 0.1 * j as f64).powi(2))
                .sum()
        })
        .collect();
    let space = SpaceSpec::unit_cube(D);
    let mut session = TpeSession::open(ArmConfig {
        model: "TPE".into(),
        space_json: serde_json::to_string(&space).unwrap(),
        options_json: "{}".into(),
        seed: 1,
    })
    .unwrap();
    session
        .tell(Observations {
            x: Matrix::new(D as u32, x).unwrap(),
            y,
            cost: vec![0.0; n],
            status: vec![ObservationStatus::Final; n],
        })
        .unwrap();
    let mut group = c.benchmark_group("tpe_propose_n1000_d8");
    // Sequential, and a parallel run's proposal with 16 points in flight (liars in g).
    let in_flight = Matrix::new(
        D as u32,
        (0..16 * D)
            .map(|i| ((i as u64 * 40_503) % 10_007) as f64 / 10_007.0)
            .collect(),
    )
    .unwrap();
    for (acquisition, pending) in [
        ("EI", Matrix::empty(D as u32)),
        ("MV", Matrix::empty(D as u32)),
        ("MV_16_pending", in_flight),
    ] {
        let mut seed = 0;
        let name = acquisition;
        let acquisition = &acquisition[..2];
        group.bench_function(name, |b| {
            b.iter(|| {
                seed += 1;
                black_box(
                    session
                        .propose(ProposeRequest {
                            acquisition: acquisition.into(),
                            candidates: vec![],
                            pending: pending.clone(),
                            n: 1,
                            seed,
                            allow_off_pool: true,
                        })
                        .unwrap(),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, propose);
criterion_main!(benches);
