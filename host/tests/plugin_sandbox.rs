//! Containment and recovery at the plugin boundary, against real plugins: the hostile wasm
//! fixture is stopped by its deadline, memory cap and fuel; traps and native panics are
//! contained and the session is reopened with its history; malformed outputs are refused;
//! the sandbox hides the host; and one source behaves the same natively and as wasm.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::{native, wasm};
use hpo_host::arms::ArmSession;
use hpo_host::loader::{LoadOptions, PluginError, WasmLimits, WasmRuntime, load_plugin};
use hpo_host::loader::{SharedPlugin, share};
use hpo_host::strategies::StrategySession;
use hpo_plugin_api::space::{ParamKind, ParamSpec, SpaceSpec};
use hpo_plugin_api::types::{
    ArmConfig, Matrix, ObservationStatus, Observations, ProposeRequest, SelectRequest,
    StrategyConfig,
};
use hpo_registry::{Limits, PluginKind};

fn runtime() -> &'static WasmRuntime {
    static RUNTIME: OnceLock<WasmRuntime> = OnceLock::new();
    RUNTIME.get_or_init(WasmRuntime::new)
}

/// Compiles a wasm plugin once per test process (as `hpo plugin install` does) and returns
/// the precompiled file.
fn precompiled(name: &'static str, fuel: bool) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap().keep());
    let path = dir.join(format!("{name}-{fuel}.cwasm"));
    let _guard = LOCK.lock().unwrap();
    if !path.exists() {
        let limits = WasmLimits {
            fuel: fuel.then_some(1),
            ..WasmLimits::default()
        };
        let code = runtime()
            .precompile(&std::fs::read(wasm(name)).unwrap(), limits)
            .unwrap();
        std::fs::write(&path, code).unwrap();
    }
    path
}

fn load_wasm(name: &'static str, limits: Limits) -> SharedPlugin {
    let cwasm = precompiled(name, limits.fuel.is_some());
    let plugin = load_plugin(
        &wasm(name),
        LoadOptions {
            kind: PluginKind::Wasm,
            limits: Some(limits),
            precompiled: Some(&cwasm),
        },
        runtime(),
    )
    .unwrap();
    share(plugin)
}

fn load_native(name: &str) -> SharedPlugin {
    let plugin = load_plugin(
        &native(name),
        LoadOptions {
            kind: PluginKind::Native,
            limits: None,
            precompiled: None,
        },
        runtime(),
    )
    .unwrap();
    share(plugin)
}

fn quick_limits() -> Limits {
    Limits {
        timeout_ms: Some(300),
        memory_mib: Some(64),
        fuel: None,
    }
}

fn space() -> SpaceSpec {
    let param = |name: &str, offset| ParamSpec {
        name: name.into(),
        kind: ParamKind::Continuous,
        offset,
        width: 1,
        log: false,
        lower: 0.0,
        upper: 1.0,
        options: vec![],
    };
    SpaceSpec {
        params: vec![param("x", 0), param("y", 1)],
    }
}

fn open_arm(plugin: &SharedPlugin, model: &str) -> ArmSession {
    let config = ArmConfig {
        model: model.into(),
        space_json: serde_json::to_string(&space()).unwrap(),
        options_json: "{}".into(),
        seed: 5,
    };
    let mut session = ArmSession::open(plugin, config, 2).unwrap();
    let pool: Vec<f64> = (0..20).map(|i| (i as f64) / 20.0).collect();
    session.set_pool(Matrix::new(2, pool).unwrap()).unwrap();
    session
}

fn request(acquisition: &str, seed: u64) -> ProposeRequest {
    ProposeRequest {
        acquisition: acquisition.into(),
        candidates: (0..10).collect(),
        pending: Matrix::empty(2),
        n: 1,
        seed,
        allow_off_pool: false,
    }
}

fn observations(n: usize) -> Observations {
    Observations {
        x: Matrix::new(2, (0..2 * n).map(|i| i as f64 / (2 * n) as f64).collect()).unwrap(),
        y: (0..n).map(|i| i as f64).collect(),
        cost: vec![1.0; n],
        status: vec![ObservationStatus::Final; n],
    }
}

#[test]
fn an_infinite_loop_is_stopped_at_the_deadline_and_the_plugin_goes_on() {
    let plugin = load_wasm("example_hostile", quick_limits());
    let mut spin = open_arm(&plugin, "LOOP");
    let err = spin.propose(&request("SPIN", 1)).unwrap_err();
    assert!(err.source.is_poisoning(), "{err}");
    let text = err.to_string();
    assert!(text.contains("plugin 'hostile', arm 'LOOP'"), "{text}");
    assert!(text.contains("deadline of 300 ms exceeded"), "{text}");
    // A fresh instance serves the next session.
    let mut fine = open_arm(&plugin, "TRAP");
    assert!(fine.propose(&request("PANIC", 1)).is_ok());
}

#[test]
fn unbounded_allocation_hits_the_memory_cap() {
    let plugin = load_wasm("example_hostile", quick_limits());
    let mut grow = open_arm(&plugin, "ALLOC");
    let err = grow.propose(&request("GROW", 1)).unwrap_err();
    assert!(err.source.is_poisoning(), "{err}");
    assert!(
        err.to_string().contains("memory limit of 64 MiB exceeded"),
        "{err}"
    );
    let mut fine = open_arm(&plugin, "TRAP");
    assert!(fine.propose(&request("PANIC", 1)).is_ok());
}

#[test]
fn fuel_bounds_work_deterministically_when_asked_for() {
    let plugin = load_wasm(
        "example_hostile",
        Limits {
            timeout_ms: Some(60_000),
            memory_mib: None,
            fuel: Some(5_000_000),
        },
    );
    let mut spin = open_arm(&plugin, "LOOP");
    let err = spin.propose(&request("SPIN", 1)).unwrap_err();
    assert!(
        err.to_string().contains("fuel budget of 5000000 exhausted"),
        "{err}"
    );
}

/// A trap (wasm) or a panic (native) kills the session; the next call reopens it and
/// re-sends the history: the fixture answers with the number of observations it knows.
fn recovers_after_a_crash(plugin: SharedPlugin) {
    let mut arm = open_arm(&plugin, "TRAP");
    arm.tell(&observations(3)).unwrap();
    let ok = arm.propose(&request("PANIC", 1)).unwrap();
    assert_eq!(ok[0].acquisition, 3.0);
    let err = arm.propose(&request("PANIC", 13)).unwrap_err();
    assert!(err.source.is_poisoning(), "{err}");
    assert!(
        err.to_string().contains("plugin 'hostile', arm 'TRAP'"),
        "{err}"
    );
    arm.tell(&observations(2)).unwrap();
    let again = arm.propose(&request("PANIC", 1)).unwrap();
    assert_eq!(
        again[0].acquisition, 5.0,
        "the reopened session knows all 5 observations"
    );
    assert_eq!(again[0].pool_index, Some(0));
    assert_eq!(arm.reopened(), 1);
}

#[test]
fn a_wasm_trap_is_contained_and_the_session_replayed() {
    recovers_after_a_crash(load_wasm("example_hostile", quick_limits()));
}

#[test]
fn a_native_panic_never_crosses_the_boundary() {
    recovers_after_a_crash(load_native("example_hostile"));
}

/// An author's error is an error, whatever its text: only the glue's typed flag (a panic)
/// poisons a native session.
#[test]
fn an_error_imitating_a_panic_does_not_poison_a_native_session() {
    let plugin = load_native("example_hostile");
    let mut arm = open_arm(&plugin, "BAD");
    let err = arm.propose(&request("FORGE", 1)).unwrap_err();
    assert!(matches!(err.source, PluginError::Failed(_)), "{err}");
    assert!(err.to_string().contains("forged by the author"), "{err}");
    arm.propose(&request("FORGE", 1)).unwrap_err();
    assert_eq!(arm.reopened(), 0, "the session was never discarded");
}

#[test]
fn malformed_proposals_are_refused() {
    for plugin in [
        load_wasm("example_hostile", quick_limits()),
        load_native("example_hostile"),
    ] {
        for (acquisition, expected) in [
            ("LENGTH", "off the pool"),
            ("NAN", "NaN"),
            ("INDEX", "not among the 10 candidates"),
            ("COUNT", "asked for 1 proposals, got 4"),
        ] {
            let mut arm = open_arm(&plugin, "BAD");
            let err = arm.propose(&request(acquisition, 1)).unwrap_err();
            assert!(
                matches!(err.source, PluginError::Malformed(_)),
                "{acquisition}: {err}"
            );
            assert!(err.to_string().contains(expected), "{acquisition}: {err}");
        }
        // With off-pool points allowed, the wrong length is what gets caught.
        let mut arm = open_arm(&plugin, "BAD");
        let mut off_pool = request("LENGTH", 1);
        off_pool.allow_off_pool = true;
        let err = arm.propose(&off_pool).unwrap_err();
        assert!(
            err.to_string()
                .contains("1000 coordinates, the space has 2"),
            "{err}"
        );
    }
}

#[test]
fn a_strategy_ranking_a_missing_arm_is_refused() {
    let plugin = load_wasm("example_hostile", quick_limits());
    let mut strategy = StrategySession::open(
        &plugin,
        StrategyConfig {
            name: "BAD-RANK".into(),
            arm_names: vec!["A/EI".into(), "B/EI".into()],
            options_json: "{}".into(),
            seed: 1,
        },
    )
    .unwrap();
    let err = strategy.select(&SelectRequest::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("select returned arm 7, but there are 2 arms"),
        "{err}"
    );
}

#[test]
fn the_sandbox_shows_no_environment_filesystem_or_clock() {
    let probe = |plugin: &SharedPlugin| {
        open_arm(plugin, "PROBE")
            .propose(&request("SANDBOX", 1))
            .unwrap()[0]
            .acquisition
    };
    assert_eq!(probe(&load_wasm("example_hostile", quick_limits())), 0.0);
    // The same probe, run natively, does see the host: the probe itself works.
    assert!(probe(&load_native("example_hostile")) > 0.0);
}

#[test]
fn one_source_behaves_the_same_natively_and_as_wasm() {
    let picks = |plugin: SharedPlugin| -> Vec<Option<u32>> {
        let mut arm = open_arm(&plugin, "RANDOM");
        arm.tell(&observations(4)).unwrap();
        (0..5)
            .map(|seed| arm.propose(&request("RANDOM", seed)).unwrap()[0].pool_index)
            .collect()
    };
    let native_picks = picks(load_native("hpo_random"));
    let wasm_picks = picks(load_wasm("hpo_random", Limits::default()));
    assert_eq!(native_picks, wasm_picks);
    assert!(native_picks.iter().all(Option::is_some));
}

#[test]
fn strategies_work_through_the_wasm_backend_and_keep_their_state() {
    let plugin = load_wasm("hpo_bandit", Limits::default());
    let config = StrategyConfig {
        name: "SEQ".into(),
        arm_names: vec!["A/EI".into(), "B/EI".into(), "C/EI".into()],
        options_json: "{}".into(),
        seed: 1,
    };
    let mut seq = StrategySession::open(&plugin, config.clone()).unwrap();
    assert!(!seq.wants_nominations());
    let mut chosen = vec![];
    for _ in 0..4 {
        let arm = seq.select(&SelectRequest::default()).unwrap()[0];
        seq.update(&hpo_plugin_api::types::Feedback {
            chosen: arm,
            ..Default::default()
        })
        .unwrap();
        chosen.push(arm);
    }
    assert_eq!(chosen, vec![0, 1, 2, 0]);
    let state = seq.snapshot().unwrap();
    let mut resumed = StrategySession::open(&plugin, config).unwrap();
    resumed.restore(&state).unwrap();
    assert_eq!(resumed.select(&SelectRequest::default()).unwrap()[0], 1);
}

#[test]
fn a_trap_in_one_arm_costs_its_healthy_siblings_nothing() {
    // Two sessions of one wasm plugin share its instance. One traps; the other's next call
    // finds a new instance: it is reopened with its history and answers, uncharged.
    let plugin = load_wasm("example_hostile", quick_limits());
    let mut crashing = open_arm(&plugin, "TRAP");
    let mut sibling = open_arm(&plugin, "TRAP");
    sibling.tell(&observations(2)).unwrap();
    let err = crashing.propose(&request("PANIC", 13)).unwrap_err();
    assert!(err.source.is_poisoning(), "{err}");
    let answer = sibling
        .propose(&request("PANIC", 1))
        .expect("a sibling of a trapped session is reopened, not failed");
    assert_eq!(answer[0].acquisition, 2.0, "its history was re-sent");
    assert_eq!(sibling.reopened(), 1);
    // The session that trapped recovers on its own next call too.
    assert!(crashing.propose(&request("PANIC", 1)).is_ok());
}

/// A history of `n` observations of a smooth function at scattered points.
fn scattered(n: usize) -> Observations {
    let mut state = 7u64;
    let mut unit = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let x: Vec<f64> = (0..2 * n).map(|_| unit()).collect();
    let y = x
        .chunks(2)
        .map(|p| (p[0] - 0.3).powi(2) + (p[1] - 0.6).powi(2))
        .collect();
    Observations {
        x: Matrix::new(2, x).unwrap(),
        y,
        cost: vec![1.0; n],
        status: vec![ObservationStatus::Final; n],
    }
}

/// Fuel per call (deterministic, unlike a deadline): more than any call of a chunked
/// replay of `scattered(1000)` costs the GP (measured: under 1.5e11; its costliest call is
/// one full hyperparameter refit near n = 200), less than the whole replay in one call
/// (over 3e11).
const REPLAY_FUEL: u64 = 200_000_000_000;

/// A resumed run tells a long history at once. The GP walks its refit schedule as it is
/// told; the host tells a long history in chunks, so each call does bounded work. In one
/// call the same work exceeds the budget that every chunked call stays within.
#[test]
fn a_long_history_is_replayed_in_calls_of_bounded_work() {
    let limits = Limits {
        timeout_ms: Some(600_000),
        memory_mib: None,
        fuel: Some(REPLAY_FUEL),
    };
    let history = scattered(1000);
    let plugin = load_wasm("hpo_gp", limits);
    let config = ArmConfig {
        model: "GP".into(),
        space_json: serde_json::to_string(&space()).unwrap(),
        options_json: "{}".into(),
        seed: 5,
    };
    let mut whole = hpo_host::loader::lock(&plugin)
        .backend
        .open_arm(&config)
        .unwrap();
    let pool = Matrix::new(2, (0..20).map(|i| (i as f64) / 20.0).collect()).unwrap();
    whole.set_pool(&pool).unwrap();
    let err = whole.tell(&history).unwrap_err();
    assert!(err.to_string().contains("fuel budget"), "{err}");
    drop(whole);

    let mut chunked = open_arm(&plugin, "GP");
    chunked.tell(&history).unwrap();
    chunked.propose(&request("EI", 1)).unwrap();
}
