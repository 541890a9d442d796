//! The wasm backend: a WebAssembly component run by wasmtime in a sandbox.
//!
//! The sandbox: WASI preview 2 with no preopened directories, no environment, no arguments,
//! no network, stdio discarded, clocks frozen at zero and the random sources seeded with a
//! constant (randomness comes in as a seed in the request). Each call runs under an epoch
//! deadline (default 10 s), a memory cap (default 512 MiB) and, when the registry entry asks
//! for it, a fuel budget. A trap of any kind kills the instance: it is dropped, the error
//! says why, and the next call instantiates a fresh one (its sessions must be reopened,
//! which [`Recovering`](super::Recovering) does).

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use hpo_plugin_api::types::{
    ArmConfig, Assignment, ComponentKind, Curve, Decision, Feedback, Job, Matrix, Observations,
    PluginInfo, Prediction, ProposeRequest, Proposed, RuleConfig, SelectRequest, StrategyConfig,
};
use hpo_registry::Limits;
use rand::SeedableRng;
use wasmtime::component::{Component, InstancePre, Linker, ResourceAny, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::{
    ArmBackend, PluginBackend, PluginError, PluginResult, StopperBackend, StrategyBackend,
    no_stopping_module,
};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../plugin-api/wit",
        world: "hpo-plugin",
    });
}

use bindings::exports::hpo::plugin::{plugin as wp, stopping as ws};
use bindings::hpo::plugin::types as wt;

/// Where a component's exports are: the `plugin` interface every plugin has, and the
/// `stopping` interface of plugins built against API 1.2 or later.
struct ExportIndices {
    plugin: wp::GuestIndices,
    stopping: Option<ws::GuestIndices>,
}

impl ExportIndices {
    fn new(pre: &InstancePre<HostState>, label: &str) -> Result<Self, PluginError> {
        let plugin = wp::GuestIndices::new(pre).map_err(|e| {
            PluginError::Load(format!(
                "{label}: not an hpo plugin component (world hpo-plugin): {e:#}"
            ))
        })?;
        let stopping = match ws::GuestIndices::new(pre) {
            Ok(indices) => Some(indices),
            Err(e) if e.to_string().starts_with("no exported instance") => None,
            Err(e) => {
                return Err(PluginError::Load(format!(
                    "{label}: its stopping interface does not match the contract: {e:#}"
                )));
            }
        };
        Ok(ExportIndices { plugin, stopping })
    }
}

/// One instance's exports.
struct Exports {
    plugin: wp::Guest,
    stopping: Option<ws::Guest>,
}

/// How often the epoch advances; deadlines are rounded up to it.
const EPOCH_TICK: Duration = Duration::from_millis(5);
/// Default per-call deadline.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default memory cap.
pub const DEFAULT_MEMORY_MIB: u64 = 512;

/// Per-call limits of a wasm plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WasmLimits {
    /// Wall-clock deadline of one call.
    pub timeout: Duration,
    /// Memory cap of the instance, in bytes.
    pub memory_bytes: usize,
    /// Fuel per call, when fuel metering is on.
    pub fuel: Option<u64>,
}

impl Default for WasmLimits {
    fn default() -> Self {
        WasmLimits {
            timeout: DEFAULT_TIMEOUT,
            memory_bytes: (DEFAULT_MEMORY_MIB as usize) << 20,
            fuel: None,
        }
    }
}

impl WasmLimits {
    /// The limits of a registry entry, defaults where it sets none.
    pub fn from_registry(limits: Option<Limits>) -> Self {
        let d = WasmLimits::default();
        let Some(l) = limits else { return d };
        WasmLimits {
            timeout: l.timeout_ms.map(Duration::from_millis).unwrap_or(d.timeout),
            memory_bytes: l
                .memory_mib
                .map(|m| (m as usize) << 20)
                .unwrap_or(d.memory_bytes),
            fuel: l.fuel,
        }
    }

    fn deadline_ticks(&self) -> u64 {
        (self.timeout.as_micros() / EPOCH_TICK.as_micros()) as u64 + 1
    }
}

/// One wasmtime engine with its linker and the thread that advances its epoch.
struct EngineSlot {
    engine: Engine,
    linker: Linker<HostState>,
    key: String,
}

impl EngineSlot {
    fn new(fuel: bool, stop: Arc<AtomicBool>) -> Result<Self, PluginError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.consume_fuel(fuel);
        config.wasm_component_model(true);
        let engine = Engine::new(&config)
            .map_err(|e| PluginError::Load(format!("cannot start wasmtime: {e}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| PluginError::Load(format!("cannot link WASI: {e}")))?;
        let ticker = engine.clone();
        std::thread::Builder::new()
            .name("hpo-wasm-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker.increment_epoch();
                }
            })
            .map_err(|e| PluginError::Load(format!("cannot start the epoch thread: {e}")))?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let key = format!(
            "wasmtime-{}-{}-{:016x}",
            WASMTIME_VERSION,
            if fuel { "fuel" } else { "epoch" },
            hasher.finish()
        );
        Ok(EngineSlot {
            engine,
            linker,
            key,
        })
    }
}

/// The wasmtime version this host embeds (part of the precompiled-code cache key).
pub const WASMTIME_VERSION: &str = "48.0.8";

/// The wasm runtime: engines (one with fuel metering, made when first needed), their
/// linkers and epoch threads. Create one per process and share it.
pub struct WasmRuntime {
    epoch: OnceLock<Result<EngineSlot, PluginError>>,
    fuel: OnceLock<Result<EngineSlot, PluginError>>,
    stop: Arc<AtomicBool>,
}

impl Default for WasmRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for WasmRuntime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl WasmRuntime {
    /// A runtime; engines start lazily, on the first wasm plugin.
    pub fn new() -> Self {
        WasmRuntime {
            epoch: OnceLock::new(),
            fuel: OnceLock::new(),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    fn slot(&self, fuel: bool) -> Result<&EngineSlot, PluginError> {
        let cell = if fuel { &self.fuel } else { &self.epoch };
        cell.get_or_init(|| EngineSlot::new(fuel, self.stop.clone()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The cache key of precompiled code for plugins with these limits: a `.cwasm` made
    /// under another key must not be loaded.
    pub fn engine_key(&self, limits: WasmLimits) -> Result<String, PluginError> {
        Ok(self.slot(limits.fuel.is_some())?.key.clone())
    }

    /// Compiles a component to native code for later [`WasmRuntime::load`] calls.
    pub fn precompile(&self, wasm: &[u8], limits: WasmLimits) -> Result<Vec<u8>, PluginError> {
        self.slot(limits.fuel.is_some())?
            .engine
            .precompile_component(wasm)
            .map_err(|e| PluginError::Load(format!("not a valid wasm component: {e:#}")))
    }

    /// Loads a component (from `precompiled` when given and usable), instantiates it and
    /// reads its info.
    pub(super) fn load(
        &self,
        path: &Path,
        precompiled: Option<&Path>,
        limits: WasmLimits,
    ) -> Result<(PluginInfo, Box<dyn PluginBackend>), PluginError> {
        let slot = self.slot(limits.fuel.is_some())?;
        let component = match precompiled {
            // SAFETY: the registry only records a `.cwasm` that the host compiled itself,
            // under the current engine key, and its sha256 was verified by the caller.
            Some(cwasm) => match unsafe { Component::deserialize_file(&slot.engine, cwasm) } {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(
                        "{}: precompiled code unusable ({e}); compiling again",
                        cwasm.display()
                    );
                    compile(&slot.engine, path)?
                }
            },
            None => compile(&slot.engine, path)?,
        };
        let instance_pre = slot.linker.instantiate_pre(&component).map_err(|e| {
            PluginError::Load(format!(
                "{}: the component needs imports the sandbox does not give: {e:#}",
                path.display()
            ))
        })?;
        let label = path.display().to_string();
        let indices = ExportIndices::new(&instance_pre, &label)?;
        let shared = Arc::new(Mutex::new(Shared {
            label,
            engine: slot.engine.clone(),
            pre: instance_pre,
            indices,
            limits,
            live: None,
            generation: 0,
        }));
        let info = lock(&shared)
            .call("info", |store, plugin| {
                plugin.plugin.call_info(store).map(Ok)
            })
            .map_err(|e| PluginError::Load(format!("{}: info failed: {e}", path.display())))?;
        let info = PluginInfo::from(info);
        lock(&shared).label = info.name.clone();
        let api_version = info.api_version.clone();
        Ok((
            info,
            Box::new(WasmPlugin {
                shared,
                api_version,
            }),
        ))
    }
}

fn compile(engine: &Engine, path: &Path) -> Result<Component, PluginError> {
    Component::from_file(engine, path).map_err(|e| {
        PluginError::Load(format!(
            "{}: not a valid wasm component: {e:#}",
            path.display()
        ))
    })
}

/// A frozen clock: plugins see no time from the host.
struct FrozenClock;

impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// The memory cap: refusing growth traps the instance with a clear message.
struct MemoryCap {
    max_bytes: usize,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            wasmtime::bail!(
                "memory limit of {} MiB exceeded (the plugin asked for {} MiB)",
                self.max_bytes >> 20,
                desired >> 20
            );
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// The state of one store: the sandboxed WASI context and the memory cap.
struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    cap: MemoryCap,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn sandbox() -> WasiCtx {
    WasiCtxBuilder::new()
        .wall_clock(FrozenClock)
        .monotonic_clock(FrozenClock)
        .secure_random(rand_chacha::ChaCha8Rng::seed_from_u64(0))
        .insecure_random(rand_chacha::ChaCha8Rng::seed_from_u64(1))
        .insecure_random_seed(0)
        .allow_ip_name_lookup(false)
        .allow_tcp(false)
        .allow_udp(false)
        .build()
}

struct LiveInstance {
    store: Store<HostState>,
    exports: Exports,
}

/// What a plugin and its sessions share: the instance, recreated after a trap.
struct Shared {
    label: String,
    engine: Engine,
    pre: InstancePre<HostState>,
    indices: ExportIndices,
    limits: WasmLimits,
    live: Option<LiveInstance>,
    /// Bumped on every instantiation; sessions of an older generation are dead.
    generation: u64,
}

fn lock(shared: &Arc<Mutex<Shared>>) -> MutexGuard<'_, Shared> {
    // A poisoned mutex means a host panic mid-call; the instance state is dropped below
    // on the next failure anyway, so keep going with the data.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn instantiate(&mut self) -> Result<(), PluginError> {
        let mut store = Store::new(
            &self.engine,
            HostState {
                wasi: sandbox(),
                table: ResourceTable::new(),
                cap: MemoryCap {
                    max_bytes: self.limits.memory_bytes,
                },
            },
        );
        store.limiter(|s| &mut s.cap);
        store.set_epoch_deadline(self.limits.deadline_ticks());
        if let Some(fuel) = self.limits.fuel {
            store
                .set_fuel(fuel)
                .map_err(|e| PluginError::Load(format!("{}: {e}", self.label)))?;
        }
        let failed = |e: wasmtime::Error| {
            PluginError::Poisoned(format!(
                "{}: instantiation failed: {}",
                self.label,
                cause(&e, &self.limits)
            ))
        };
        let instance = self.pre.instantiate(&mut store).map_err(failed)?;
        let plugin = self
            .indices
            .plugin
            .load(&mut store, &instance)
            .map_err(failed)?;
        let stopping = match &self.indices.stopping {
            Some(indices) => Some(indices.load(&mut store, &instance).map_err(failed)?),
            None => None,
        };
        self.generation += 1;
        self.live = Some(LiveInstance {
            store,
            exports: Exports { plugin, stopping },
        });
        Ok(())
    }

    /// Runs one call under the limits. `Ok(Err(_))` from the guest is a plugin error; a
    /// trap drops the instance.
    fn call<R>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Store<HostState>, &Exports) -> wasmtime::Result<Result<R, String>>,
    ) -> PluginResult<R> {
        if self.live.is_none() {
            self.instantiate()?;
        }
        let live = self.live.as_mut().expect("instantiated above");
        live.store.set_epoch_deadline(self.limits.deadline_ticks());
        if let Some(fuel) = self.limits.fuel {
            let _ = live.store.set_fuel(fuel);
        }
        match f(&mut live.store, &live.exports) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(message)) => Err(PluginError::Failed(message)),
            Err(e) => {
                let why = cause(&e, &self.limits);
                tracing::warn!(plugin = %self.label, call = what, "wasm instance stopped: {why}");
                self.live = None;
                Err(PluginError::Poisoned(format!("{what}: {why}")))
            }
        }
    }

    /// Like [`Shared::call`], for a session opened in instance generation `generation`.
    fn call_session<R>(
        &mut self,
        generation: u64,
        what: &str,
        f: impl FnOnce(&mut Store<HostState>, &Exports) -> wasmtime::Result<Result<R, String>>,
    ) -> PluginResult<R> {
        if self.live.is_none() || self.generation != generation {
            return Err(PluginError::Stale(format!(
                "{what}: the instance was restarted after another session's failure; the session must be reopened"
            )));
        }
        self.call(what, f)
    }
}

/// Says why a call stopped, in the user's terms.
fn cause(e: &wasmtime::Error, limits: &WasmLimits) -> String {
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => format!(
            "deadline of {} ms exceeded (the plugin ran too long)",
            limits.timeout.as_millis()
        ),
        Some(Trap::OutOfFuel) => format!(
            "fuel budget of {} exhausted",
            limits.fuel.unwrap_or_default()
        ),
        Some(trap) => format!("trap: {trap}"),
        // Our own limits (the memory cap) end the call with an error whose context is the
        // guest's backtrace: the cause alone is what the user needs.
        None => e.root_cause().to_string(),
    }
}

struct WasmPlugin {
    shared: Arc<Mutex<Shared>>,
    /// The API version the component reported at load.
    api_version: String,
}

impl WasmPlugin {
    /// The shared instance, refusing stopper calls to a component built before API 1.2.
    fn with_stopping(&self) -> PluginResult<MutexGuard<'_, Shared>> {
        let shared = lock(&self.shared);
        if shared.indices.stopping.is_none() {
            return Err(no_stopping_module(&self.api_version));
        }
        Ok(shared)
    }
}

// The WIT world's records (wasmtime's spelling) and the contract's, field by field.
hpo_plugin_api::wit_conversions!(wt);
hpo_plugin_api::stopping_conversions!(ws);

impl PluginBackend for WasmPlugin {
    fn validate(
        &mut self,
        kind: ComponentKind,
        name: &str,
        options_json: &str,
    ) -> PluginResult<()> {
        lock(&self.shared).call("validate", |store, p| {
            p.plugin
                .call_validate(store, kind.into(), name, options_json)
        })
    }

    fn open_arm(&mut self, config: &ArmConfig) -> PluginResult<Box<dyn ArmBackend>> {
        let mut shared = lock(&self.shared);
        let wit_config = wt::ArmConfig::from(config.clone());
        let resource = shared.call("open-arm", |store, p| {
            p.plugin.call_open_arm(store, &wit_config)
        })?;
        Ok(Box::new(WasmArm {
            session: Session {
                shared: self.shared.clone(),
                resource,
                generation: shared.generation,
            },
        }))
    }

    fn open_strategy(&mut self, config: &StrategyConfig) -> PluginResult<Box<dyn StrategyBackend>> {
        let mut shared = lock(&self.shared);
        let wit_config = wt::StrategyConfig::from(config.clone());
        let resource = shared.call("open-strategy", |store, p| {
            p.plugin.call_open_strategy(store, &wit_config)
        })?;
        Ok(Box::new(WasmStrategy {
            session: Session {
                shared: self.shared.clone(),
                resource,
                generation: shared.generation,
            },
        }))
    }

    fn stoppers(&mut self) -> PluginResult<Vec<String>> {
        let mut shared = lock(&self.shared);
        if shared.indices.stopping.is_none() {
            return Ok(Vec::new());
        }
        shared.call("stoppers", |store, p| {
            stopping(p)?.call_stoppers(store).map(Ok)
        })
    }

    fn validate_stopper(&mut self, name: &str, options_json: &str) -> PluginResult<()> {
        let mut shared = self.with_stopping()?;
        shared.call("validate-stopper", |store, p| {
            stopping(p)?.call_validate_stopper(store, name, options_json)
        })
    }

    fn open_stopper(&mut self, config: &RuleConfig) -> PluginResult<Box<dyn StopperBackend>> {
        let mut shared = self.with_stopping()?;
        let wit_config = ws::RuleConfig::from(config.clone());
        let resource = shared.call("open-stopper", |store, p| {
            stopping(p)?.call_open_stopper(store, &wit_config)
        })?;
        Ok(Box::new(WasmStopper {
            session: Session {
                shared: self.shared.clone(),
                resource,
                generation: shared.generation,
            },
        }))
    }

    fn schedulers(&mut self) -> PluginResult<Vec<String>> {
        let mut shared = lock(&self.shared);
        if shared.indices.stopping.is_none() {
            return Ok(Vec::new());
        }
        shared.call("schedulers", |store, p| {
            stopping(p)?.call_schedulers(store).map(Ok)
        })
    }

    fn validate_scheduler(&mut self, name: &str, options_json: &str) -> PluginResult<()> {
        let mut shared = self.with_stopping()?;
        shared.call("validate-scheduler", |store, p| {
            stopping(p)?.call_validate_scheduler(store, name, options_json)
        })
    }

    fn schedule(&mut self, config: &RuleConfig, jobs: &[Job]) -> PluginResult<Assignment> {
        let mut shared = self.with_stopping()?;
        let wit_config = ws::RuleConfig::from(config.clone());
        let jobs: Vec<ws::Job> = jobs.iter().cloned().map(Into::into).collect();
        let assignment = shared.call("schedule", |store, p| {
            stopping(p)?.call_schedule(store, &wit_config, &jobs)
        })?;
        Ok(assignment.into())
    }
}

/// The `stopping` exports of an instance whose component has them (checked before).
fn stopping(exports: &Exports) -> wasmtime::Result<&ws::Guest> {
    exports
        .stopping
        .as_ref()
        .ok_or_else(|| wasmtime::format_err!("the component has no stopping interface"))
}

struct WasmStopper {
    session: Session,
}

impl StopperBackend for WasmStopper {
    fn decide(&mut self, curve: &Curve) -> PluginResult<Decision> {
        let curve = ws::Curve::from(curve.clone());
        let decision = self.session.call("decide", |store, p, r| {
            stopping(p)?.stopper_session().call_decide(store, r, &curve)
        })?;
        Ok(decision.into())
    }

    fn finish(&mut self, curve: &Curve) -> PluginResult<()> {
        let curve = ws::Curve::from(curve.clone());
        self.session.call("finish", |store, p, r| {
            stopping(p)?.stopper_session().call_finish(store, r, &curve)
        })
    }
}

/// A resource handle in one instance generation; dropped with the guest's resource.
struct Session {
    shared: Arc<Mutex<Shared>>,
    resource: ResourceAny,
    generation: u64,
}

impl Session {
    fn call<R>(
        &self,
        what: &str,
        f: impl FnOnce(
            &mut Store<HostState>,
            &Exports,
            ResourceAny,
        ) -> wasmtime::Result<Result<R, String>>,
    ) -> PluginResult<R> {
        let resource = self.resource;
        lock(&self.shared).call_session(self.generation, what, |store, p| f(store, p, resource))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let mut shared = lock(&self.shared);
        if shared.generation == self.generation
            && let Some(live) = shared.live.as_mut()
        {
            let _ = self.resource.resource_drop(&mut live.store);
        }
    }
}

struct WasmArm {
    session: Session,
}

impl ArmBackend for WasmArm {
    fn set_pool(&mut self, pool: &Matrix) -> PluginResult<()> {
        let pool = wt::Matrix::from(pool.clone());
        self.session.call("set-pool", |store, p, r| {
            p.plugin.arm_session().call_set_pool(store, r, &pool)
        })
    }

    fn tell(&mut self, observations: &Observations) -> PluginResult<()> {
        let obs = wt::Observations::from(observations.clone());
        self.session.call("tell", |store, p, r| {
            p.plugin.arm_session().call_tell(store, r, &obs)
        })
    }

    fn propose(&mut self, request: &ProposeRequest) -> PluginResult<Vec<Proposed>> {
        let req = wt::ProposeRequest::from(request.clone());
        let proposed = self.session.call("propose", |store, p, r| {
            p.plugin.arm_session().call_propose(store, r, &req)
        })?;
        Ok(proposed.into_iter().map(Proposed::from).collect())
    }

    fn predict(&mut self, points: &Matrix) -> PluginResult<Prediction> {
        let points = wt::Matrix::from(points.clone());
        let pred = self.session.call("predict", |store, p, r| {
            p.plugin.arm_session().call_predict(store, r, &points)
        })?;
        Ok(pred.into())
    }

    fn snapshot(&mut self) -> PluginResult<Vec<u8>> {
        self.session.call("snapshot", |store, p, r| {
            p.plugin.arm_session().call_snapshot(store, r)
        })
    }

    fn restore(&mut self, state: &[u8]) -> PluginResult<()> {
        self.session.call("restore", |store, p, r| {
            p.plugin.arm_session().call_restore(store, r, state)
        })
    }
}

struct WasmStrategy {
    session: Session,
}

impl StrategyBackend for WasmStrategy {
    fn wants_nominations(&mut self) -> PluginResult<bool> {
        self.session.call("wants-nominations", |store, p, r| {
            p.plugin
                .strategy_session()
                .call_wants_nominations(store, r)
                .map(Ok)
        })
    }

    fn select(&mut self, request: &SelectRequest) -> PluginResult<Vec<u32>> {
        let req = wt::SelectRequest::from(request.clone());
        self.session.call("select", |store, p, r| {
            p.plugin.strategy_session().call_select(store, r, &req)
        })
    }

    fn update(&mut self, feedback: &Feedback) -> PluginResult<()> {
        let fb = wt::Feedback::from(feedback.clone());
        self.session.call("update", |store, p, r| {
            p.plugin.strategy_session().call_update(store, r, &fb)
        })
    }

    fn snapshot(&mut self) -> PluginResult<Vec<u8>> {
        self.session.call("snapshot", |store, p, r| {
            p.plugin.strategy_session().call_snapshot(store, r)
        })
    }

    fn restore(&mut self, state: &[u8]) -> PluginResult<()> {
        self.session.call("restore", |store, p, r| {
            p.plugin.strategy_session().call_restore(store, r, state)
        })
    }
}
