//! The plugin boundary's cost, native vs wasm (issue: plugin platform).
//!
//! - `noop`: the cheapest call (a strategy's `wants_nominations`), each way.
//! - `tell_1000x20`: sending a 1000×20 history (the data-transfer cost).
//! - `propose_4096x20`: `propose` of the random arm over a 4096×20 pool with a 1000×20
//!   history already told (the session shape: history crosses once).
//! - `load`: a wasm plugin compiled from its `.wasm` (cold) vs from install-time `.cwasm`.
//!
//! Run with `cargo xtask bench` (builds the plugins first); figures go to
//! docs/PERFORMANCE.md.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use hpo_host::loader::{
    ArmBackend, LoadOptions, Plugin, StrategyBackend, WasmLimits, WasmRuntime, load_plugin,
};
use hpo_plugin_api::space::SpaceSpec;
use hpo_plugin_api::types::{
    ArmConfig, Matrix, ObservationStatus, Observations, ProposeRequest, StrategyConfig,
};
use hpo_registry::PluginKind;

const DIMS: usize = 20;

fn target_dir() -> PathBuf {
    // <target>/release/deps/plugin_boundary-<hash>
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

fn artifact(kind: PluginKind, name: &str) -> PathBuf {
    let path = match kind {
        PluginKind::Native => target_dir().join("release").join(format!(
            "{}{name}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        )),
        PluginKind::Wasm => target_dir()
            .join("wasm32-wasip2")
            .join("release")
            .join(format!("{name}.wasm")),
    };
    assert!(
        path.exists(),
        "{} missing: run `cargo xtask bench`",
        path.display()
    );
    path
}

fn load(runtime: &WasmRuntime, kind: PluginKind, name: &str, cwasm: Option<&Path>) -> Plugin {
    load_plugin(
        &artifact(kind, name),
        LoadOptions {
            kind,
            limits: None,
            precompiled: cwasm,
        },
        runtime,
    )
    .unwrap()
}

fn space_json() -> String {
    serde_json::to_string(&SpaceSpec::unit_cube(DIMS)).unwrap()
}

fn matrix(rows: usize) -> Matrix {
    Matrix::new(
        DIMS as u32,
        (0..rows * DIMS).map(|i| (i % 997) as f64 / 997.0).collect(),
    )
    .unwrap()
}

fn history(rows: usize) -> Observations {
    Observations {
        x: matrix(rows),
        y: (0..rows).map(|i| i as f64).collect(),
        cost: vec![1.0; rows],
        status: vec![ObservationStatus::Final; rows],
    }
}

fn open_random(plugin: &mut Plugin) -> Box<dyn ArmBackend> {
    plugin
        .backend
        .open_arm(&ArmConfig {
            model: "RANDOM".into(),
            space_json: space_json(),
            options_json: "{}".into(),
            seed: 1,
        })
        .unwrap()
}

fn open_seq(plugin: &mut Plugin) -> Box<dyn StrategyBackend> {
    plugin
        .backend
        .open_strategy(&StrategyConfig {
            name: "SEQ".into(),
            arm_names: vec!["A/EI".into(), "B/EI".into()],
            options_json: "{}".into(),
            seed: 1,
        })
        .unwrap()
}

fn boundary(c: &mut Criterion) {
    let runtime = WasmRuntime::new();
    let cwasm_dir = tempfile::tempdir().unwrap();
    let cwasm = |name: &str| {
        let path = cwasm_dir.path().join(format!("{name}.cwasm"));
        let bytes = std::fs::read(artifact(PluginKind::Wasm, name)).unwrap();
        std::fs::write(
            &path,
            runtime.precompile(&bytes, WasmLimits::default()).unwrap(),
        )
        .unwrap();
        path
    };
    let random_cwasm = cwasm("hpo_random");
    let bandit_cwasm = cwasm("hpo_bandit");

    for kind in [PluginKind::Native, PluginKind::Wasm] {
        let label = kind.to_string();
        let mut bandit = load(&runtime, kind, "hpo_bandit", Some(&bandit_cwasm));
        let mut seq = open_seq(&mut bandit);
        c.bench_function(&format!("noop/{label}"), |b| {
            b.iter(|| black_box(seq.wants_nominations().unwrap()))
        });

        let mut random = load(&runtime, kind, "hpo_random", Some(&random_cwasm));
        let mut arm = open_random(&mut random);
        arm.set_pool(&matrix(4096)).unwrap();
        let told = history(1000);
        c.bench_function(&format!("tell_1000x20/{label}"), |b| {
            b.iter(|| arm.tell(black_box(&told)).unwrap())
        });
        let request = ProposeRequest {
            acquisition: "RANDOM".into(),
            candidates: (0..4096).collect(),
            pending: Matrix::empty(DIMS as u32),
            n: 1,
            seed: 3,
            allow_off_pool: false,
        };
        c.bench_function(&format!("propose_4096x20/{label}"), |b| {
            b.iter(|| black_box(arm.propose(black_box(&request)).unwrap()))
        });
        c.bench_function(&format!("set_pool_4096x20/{label}"), |b| {
            let pool = matrix(4096);
            b.iter(|| arm.set_pool(black_box(&pool)).unwrap())
        });
    }

    // Real models through both backends, so the wasm overhead of numeric code shows: the
    // RF arm's propose (a new observation each call forces its refit, as in a run), the GP
    // arm's propose at a fixed history (acquisition over the pool and continuous
    // refinement; and the pool alone, which locates the refinement's share), the TPE arm's
    // (draws from l ranked by l/g).
    let y: Vec<f64> = (0..1000).map(|i| ((i * 37) % 101) as f64 / 101.0).collect();
    let history_1000 = Observations { y, ..history(1000) };
    let history_100 = Observations {
        x: Matrix::new(DIMS as u32, history_1000.x.data[..100 * DIMS].to_vec()).unwrap(),
        y: history_1000.y[..100].to_vec(),
        cost: vec![1.0; 100],
        status: vec![ObservationStatus::Final; 100],
    };
    let models = [
        (
            "rf_propose_n1000_pool4096",
            "hpo_rf",
            "RF",
            "EI",
            &history_1000,
            true,
            false,
        ),
        (
            "gp_propose_n100_pool4096_refined",
            "hpo_gp",
            "GP",
            "EI",
            &history_100,
            false,
            true,
        ),
        (
            "gp_propose_n100_pool4096_poolonly",
            "hpo_gp",
            "GP",
            "EI",
            &history_100,
            false,
            false,
        ),
        (
            "tpe_propose_n1000",
            "hpo_tpe",
            "TPE",
            "MV",
            &history_1000,
            false,
            true,
        ),
    ];
    for (group_name, file, model, acquisition, told, grow, off_pool) in models {
        let cwasm_file = cwasm(file);
        let mut group = c.benchmark_group(group_name);
        group.sample_size(10);
        for kind in [PluginKind::Native, PluginKind::Wasm] {
            let mut plugin = load(&runtime, kind, file, Some(&cwasm_file));
            let mut arm = plugin
                .backend
                .open_arm(&ArmConfig {
                    model: model.into(),
                    space_json: space_json(),
                    options_json: "{}".into(),
                    seed: 1,
                })
                .unwrap();
            arm.set_pool(&matrix(4096)).unwrap();
            arm.tell(told).unwrap();
            let mut seed = 0;
            group.bench_function(kind.to_string(), |b| {
                b.iter(|| {
                    seed += 1;
                    if grow {
                        let one = Observations {
                            x: matrix(1),
                            y: vec![0.5],
                            cost: vec![1.0],
                            status: vec![ObservationStatus::Final],
                        };
                        arm.tell(&one).unwrap();
                    }
                    let request = ProposeRequest {
                        acquisition: acquisition.into(),
                        candidates: (0..4096).collect(),
                        pending: Matrix::empty(DIMS as u32),
                        n: 1,
                        seed,
                        allow_off_pool: off_pool,
                    };
                    black_box(arm.propose(&request).unwrap())
                })
            });
        }
        group.finish();
    }

    let mut group = c.benchmark_group("load_wasm");
    group.sample_size(10);
    group.bench_function("cold_compile", |b| {
        b.iter(|| black_box(load(&runtime, PluginKind::Wasm, "hpo_random", None)))
    });
    group.bench_function("cached_cwasm", |b| {
        b.iter(|| {
            black_box(load(
                &runtime,
                PluginKind::Wasm,
                "hpo_random",
                Some(&random_cwasm),
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, boundary);
criterion_main!(benches);
