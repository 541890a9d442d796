//! The native backend of the contract: stable-ABI mirrors of [`crate::types`], the root
//! module a native plugin exports, and the glue that adapts an [`crate::sdk::Plugin`].
//!
//! The root module is an abi_stable prefix type, so a later minor API version can append
//! functions without breaking plugins built against an older one; abi_stable checks the
//! layout of every type reachable from it when the host loads the library. Every glue
//! function catches panics: an author's panic becomes an error value, never an unwind
//! across the FFI boundary.

use std::panic::{AssertUnwindSafe, catch_unwind};

pub use abi_stable;
use abi_stable::{
    StableAbi, declare_root_module_statics,
    library::RootModule,
    package_version_strings,
    prefix_type::PrefixTypeTrait,
    sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, ROption, RResult, RStr, RString, RVec},
};

use crate::sdk;
use crate::types::{
    ArmConfig, ArmStat, ComponentKind, Feedback, Matrix, ObservationStatus, Observations,
    PluginInfo, Prediction, ProposeRequest, Proposed, SelectRequest, StrategyConfig,
};

/// Stable-ABI [`Matrix`].
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiMatrix {
    /// Number of columns.
    pub cols: u32,
    /// Row-major values.
    pub data: RVec<f64>,
}

/// Stable-ABI [`PluginInfo`].
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiPluginInfo {
    /// See [`PluginInfo::name`].
    pub name: RString,
    /// See [`PluginInfo::version`].
    pub version: RString,
    /// See [`PluginInfo::api_version`].
    pub api_version: RString,
    /// See [`PluginInfo::description`].
    pub description: RString,
    /// See [`PluginInfo::arms`].
    pub arms: RVec<RString>,
    /// See [`PluginInfo::strategies`].
    pub strategies: RVec<RString>,
}

/// Stable-ABI [`ComponentKind`].
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FfiComponentKind {
    /// [`ComponentKind::Arm`].
    Arm,
    /// [`ComponentKind::Strategy`].
    Strategy,
}

/// Stable-ABI [`ArmConfig`].
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiArmConfig {
    /// See [`ArmConfig::model`].
    pub model: RString,
    /// See [`ArmConfig::space_json`].
    pub space_json: RString,
    /// See [`ArmConfig::options_json`].
    pub options_json: RString,
    /// See [`ArmConfig::seed`].
    pub seed: u64,
}

/// Stable-ABI [`ObservationStatus`].
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FfiObservationStatus {
    /// [`ObservationStatus::Final`].
    Final,
    /// [`ObservationStatus::Interim`].
    Interim,
    /// [`ObservationStatus::Failed`].
    Failed,
}

/// Stable-ABI [`Observations`].
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiObservations {
    /// See [`Observations::x`].
    pub x: FfiMatrix,
    /// See [`Observations::y`].
    pub y: RVec<f64>,
    /// See [`Observations::cost`].
    pub cost: RVec<f64>,
    /// See [`Observations::status`].
    pub status: RVec<FfiObservationStatus>,
}

/// Stable-ABI [`ProposeRequest`].
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiProposeRequest {
    /// See [`ProposeRequest::acquisition`].
    pub acquisition: RString,
    /// See [`ProposeRequest::candidates`].
    pub candidates: RVec<u32>,
    /// See [`ProposeRequest::pending`].
    pub pending: FfiMatrix,
    /// See [`ProposeRequest::n`].
    pub n: u32,
    /// See [`ProposeRequest::seed`].
    pub seed: u64,
    /// See [`ProposeRequest::allow_off_pool`].
    pub allow_off_pool: bool,
}

/// Stable-ABI [`Proposed`].
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiProposed {
    /// See [`Proposed::pool_index`].
    pub pool_index: ROption<u32>,
    /// See [`Proposed::point`].
    pub point: RVec<f64>,
    /// See [`Proposed::acquisition`].
    pub acquisition: f64,
    /// See [`Proposed::mean`].
    pub mean: f64,
    /// See [`Proposed::variance`].
    pub variance: f64,
}

/// Stable-ABI [`Prediction`].
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiPrediction {
    /// See [`Prediction::mean`].
    pub mean: RVec<f64>,
    /// See [`Prediction::variance`].
    pub variance: RVec<f64>,
}

/// Stable-ABI [`StrategyConfig`].
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiStrategyConfig {
    /// See [`StrategyConfig::name`].
    pub name: RString,
    /// See [`StrategyConfig::arm_names`].
    pub arm_names: RVec<RString>,
    /// See [`StrategyConfig::options_json`].
    pub options_json: RString,
    /// See [`StrategyConfig::seed`].
    pub seed: u64,
}

/// Stable-ABI [`ArmStat`].
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiArmStat {
    /// See [`ArmStat::pulls`].
    pub pulls: u32,
    /// See [`ArmStat::failures`].
    pub failures: u32,
    /// See [`ArmStat::total_reward`].
    pub total_reward: f64,
    /// See [`ArmStat::suspended`].
    pub suspended: bool,
}

/// Stable-ABI [`SelectRequest`].
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiSelectRequest {
    /// See [`SelectRequest::iteration`].
    pub iteration: u32,
    /// See [`SelectRequest::elapsed`].
    pub elapsed: f64,
    /// See [`SelectRequest::stats`].
    pub stats: RVec<FfiArmStat>,
}

/// Stable-ABI [`Feedback`].
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiFeedback {
    /// See [`Feedback::chosen`].
    pub chosen: u32,
    /// See [`Feedback::reward`].
    pub reward: f64,
    /// See [`Feedback::gains`].
    pub gains: RVec<f64>,
    /// See [`Feedback::elapsed`].
    pub elapsed: f64,
}

fn strings_to_ffi(v: Vec<String>) -> RVec<RString> {
    v.into_iter().map(RString::from).collect()
}

fn strings_from_ffi(v: RVec<RString>) -> Vec<String> {
    v.into_iter().map(String::from).collect()
}

impl From<Matrix> for FfiMatrix {
    fn from(m: Matrix) -> Self {
        FfiMatrix {
            cols: m.cols,
            data: m.data.into(),
        }
    }
}

impl From<FfiMatrix> for Matrix {
    fn from(m: FfiMatrix) -> Self {
        Matrix {
            cols: m.cols,
            data: m.data.into(),
        }
    }
}

impl From<PluginInfo> for FfiPluginInfo {
    fn from(i: PluginInfo) -> Self {
        FfiPluginInfo {
            name: i.name.into(),
            version: i.version.into(),
            api_version: i.api_version.into(),
            description: i.description.into(),
            arms: strings_to_ffi(i.arms),
            strategies: strings_to_ffi(i.strategies),
        }
    }
}

impl From<FfiPluginInfo> for PluginInfo {
    fn from(i: FfiPluginInfo) -> Self {
        PluginInfo {
            name: i.name.into(),
            version: i.version.into(),
            api_version: i.api_version.into(),
            description: i.description.into(),
            arms: strings_from_ffi(i.arms),
            strategies: strings_from_ffi(i.strategies),
        }
    }
}

impl From<ComponentKind> for FfiComponentKind {
    fn from(k: ComponentKind) -> Self {
        match k {
            ComponentKind::Arm => FfiComponentKind::Arm,
            ComponentKind::Strategy => FfiComponentKind::Strategy,
        }
    }
}

impl From<FfiComponentKind> for ComponentKind {
    fn from(k: FfiComponentKind) -> Self {
        match k {
            FfiComponentKind::Arm => ComponentKind::Arm,
            FfiComponentKind::Strategy => ComponentKind::Strategy,
        }
    }
}

impl From<ArmConfig> for FfiArmConfig {
    fn from(c: ArmConfig) -> Self {
        FfiArmConfig {
            model: c.model.into(),
            space_json: c.space_json.into(),
            options_json: c.options_json.into(),
            seed: c.seed,
        }
    }
}

impl From<FfiArmConfig> for ArmConfig {
    fn from(c: FfiArmConfig) -> Self {
        ArmConfig {
            model: c.model.into(),
            space_json: c.space_json.into(),
            options_json: c.options_json.into(),
            seed: c.seed,
        }
    }
}

impl From<ObservationStatus> for FfiObservationStatus {
    fn from(s: ObservationStatus) -> Self {
        match s {
            ObservationStatus::Final => FfiObservationStatus::Final,
            ObservationStatus::Interim => FfiObservationStatus::Interim,
            ObservationStatus::Failed => FfiObservationStatus::Failed,
        }
    }
}

impl From<FfiObservationStatus> for ObservationStatus {
    fn from(s: FfiObservationStatus) -> Self {
        match s {
            FfiObservationStatus::Final => ObservationStatus::Final,
            FfiObservationStatus::Interim => ObservationStatus::Interim,
            FfiObservationStatus::Failed => ObservationStatus::Failed,
        }
    }
}

impl From<Observations> for FfiObservations {
    fn from(o: Observations) -> Self {
        FfiObservations {
            x: o.x.into(),
            y: o.y.into(),
            cost: o.cost.into(),
            status: o.status.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<FfiObservations> for Observations {
    fn from(o: FfiObservations) -> Self {
        Observations {
            x: o.x.into(),
            y: o.y.into(),
            cost: o.cost.into(),
            status: o.status.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<ProposeRequest> for FfiProposeRequest {
    fn from(r: ProposeRequest) -> Self {
        FfiProposeRequest {
            acquisition: r.acquisition.into(),
            candidates: r.candidates.into(),
            pending: r.pending.into(),
            n: r.n,
            seed: r.seed,
            allow_off_pool: r.allow_off_pool,
        }
    }
}

impl From<FfiProposeRequest> for ProposeRequest {
    fn from(r: FfiProposeRequest) -> Self {
        ProposeRequest {
            acquisition: r.acquisition.into(),
            candidates: r.candidates.into(),
            pending: r.pending.into(),
            n: r.n,
            seed: r.seed,
            allow_off_pool: r.allow_off_pool,
        }
    }
}

impl From<Proposed> for FfiProposed {
    fn from(p: Proposed) -> Self {
        FfiProposed {
            pool_index: p.pool_index.into(),
            point: p.point.into(),
            acquisition: p.acquisition,
            mean: p.mean,
            variance: p.variance,
        }
    }
}

impl From<FfiProposed> for Proposed {
    fn from(p: FfiProposed) -> Self {
        Proposed {
            pool_index: p.pool_index.into(),
            point: p.point.into(),
            acquisition: p.acquisition,
            mean: p.mean,
            variance: p.variance,
        }
    }
}

impl From<Prediction> for FfiPrediction {
    fn from(p: Prediction) -> Self {
        FfiPrediction {
            mean: p.mean.into(),
            variance: p.variance.into(),
        }
    }
}

impl From<FfiPrediction> for Prediction {
    fn from(p: FfiPrediction) -> Self {
        Prediction {
            mean: p.mean.into(),
            variance: p.variance.into(),
        }
    }
}

impl From<StrategyConfig> for FfiStrategyConfig {
    fn from(c: StrategyConfig) -> Self {
        FfiStrategyConfig {
            name: c.name.into(),
            arm_names: strings_to_ffi(c.arm_names),
            options_json: c.options_json.into(),
            seed: c.seed,
        }
    }
}

impl From<FfiStrategyConfig> for StrategyConfig {
    fn from(c: FfiStrategyConfig) -> Self {
        StrategyConfig {
            name: c.name.into(),
            arm_names: strings_from_ffi(c.arm_names),
            options_json: c.options_json.into(),
            seed: c.seed,
        }
    }
}

impl From<ArmStat> for FfiArmStat {
    fn from(s: ArmStat) -> Self {
        FfiArmStat {
            pulls: s.pulls,
            failures: s.failures,
            total_reward: s.total_reward,
            suspended: s.suspended,
        }
    }
}

impl From<FfiArmStat> for ArmStat {
    fn from(s: FfiArmStat) -> Self {
        ArmStat {
            pulls: s.pulls,
            failures: s.failures,
            total_reward: s.total_reward,
            suspended: s.suspended,
        }
    }
}

impl From<SelectRequest> for FfiSelectRequest {
    fn from(r: SelectRequest) -> Self {
        FfiSelectRequest {
            iteration: r.iteration,
            elapsed: r.elapsed,
            stats: r.stats.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<FfiSelectRequest> for SelectRequest {
    fn from(r: FfiSelectRequest) -> Self {
        SelectRequest {
            iteration: r.iteration,
            elapsed: r.elapsed,
            stats: r.stats.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<Feedback> for FfiFeedback {
    fn from(f: Feedback) -> Self {
        FfiFeedback {
            chosen: f.chosen,
            reward: f.reward,
            gains: f.gains.into(),
            elapsed: f.elapsed,
        }
    }
}

impl From<FfiFeedback> for Feedback {
    fn from(f: FfiFeedback) -> Self {
        Feedback {
            chosen: f.chosen,
            reward: f.reward,
            gains: f.gains.into(),
            elapsed: f.elapsed,
        }
    }
}

/// A model session behind the stable ABI.
#[sabi_trait]
pub trait FfiArmSession: Send {
    /// See [`sdk::ArmSession::set_pool`].
    fn set_pool(&mut self, pool: FfiMatrix) -> RResult<(), RString>;
    /// See [`sdk::ArmSession::tell`].
    fn tell(&mut self, observations: FfiObservations) -> RResult<(), RString>;
    /// See [`sdk::ArmSession::propose`].
    fn propose(&mut self, request: FfiProposeRequest) -> RResult<RVec<FfiProposed>, RString>;
    /// See [`sdk::ArmSession::predict`].
    fn predict(&mut self, points: FfiMatrix) -> RResult<FfiPrediction, RString>;
    /// See [`sdk::ArmSession::snapshot`].
    fn snapshot(&mut self) -> RResult<RVec<u8>, RString>;
    /// See [`sdk::ArmSession::restore`].
    #[sabi(last_prefix_field)]
    fn restore(&mut self, state: RVec<u8>) -> RResult<(), RString>;
}

/// A strategy session behind the stable ABI.
#[sabi_trait]
pub trait FfiStrategySession: Send {
    /// See [`sdk::StrategySession::wants_nominations`].
    fn wants_nominations(&self) -> bool;
    /// See [`sdk::StrategySession::select`].
    fn select(&mut self, request: FfiSelectRequest) -> RResult<RVec<u32>, RString>;
    /// See [`sdk::StrategySession::update`].
    fn update(&mut self, feedback: FfiFeedback) -> RResult<(), RString>;
    /// See [`sdk::StrategySession::snapshot`].
    fn snapshot(&mut self) -> RResult<RVec<u8>, RString>;
    /// See [`sdk::StrategySession::restore`].
    #[sabi(last_prefix_field)]
    fn restore(&mut self, state: RVec<u8>) -> RResult<(), RString>;
}

/// An owned model session handle (the plugin's object behind a stable vtable).
pub type ArmSessionBox = FfiArmSession_TO<'static, RBox<()>>;
/// An owned strategy session handle.
pub type StrategySessionBox = FfiStrategySession_TO<'static, RBox<()>>;

/// The root module every native plugin exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// See [`sdk::Plugin::describe`]; the glue adds the API version.
    pub info: extern "C" fn() -> RResult<FfiPluginInfo, RString>,
    /// See [`sdk::Plugin::validate`].
    pub validate: extern "C" fn(FfiComponentKind, RStr<'_>, RStr<'_>) -> RResult<(), RString>,
    /// See [`sdk::Plugin::open_arm`].
    pub open_arm: extern "C" fn(FfiArmConfig) -> RResult<ArmSessionBox, RString>,
    /// See [`sdk::Plugin::open_strategy`].
    #[sabi(last_prefix_field)]
    pub open_strategy: extern "C" fn(FfiStrategyConfig) -> RResult<StrategySessionBox, RString>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "hpo_plugin";
    const NAME: &'static str = "hpo_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// Runs `f`, turning a panic into an error value.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> RResult<T, RString> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => RResult::ROk(v),
        Ok(Err(e)) => RResult::RErr(e.into()),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_string());
            RResult::RErr(format!("plugin panicked in {what}: {message}").into())
        }
    }
}

/// Adapts an author's [`sdk::ArmSession`] to [`FfiArmSession`], catching panics.
struct ArmAdapter(Box<dyn sdk::ArmSession>);

impl FfiArmSession for ArmAdapter {
    fn set_pool(&mut self, pool: FfiMatrix) -> RResult<(), RString> {
        guarded("set_pool", || self.0.set_pool(pool.into()))
    }
    fn tell(&mut self, observations: FfiObservations) -> RResult<(), RString> {
        guarded("tell", || self.0.tell(observations.into()))
    }
    fn propose(&mut self, request: FfiProposeRequest) -> RResult<RVec<FfiProposed>, RString> {
        guarded("propose", || {
            self.0
                .propose(request.into())
                .map(|v| v.into_iter().map(Into::into).collect())
        })
    }
    fn predict(&mut self, points: FfiMatrix) -> RResult<FfiPrediction, RString> {
        guarded("predict", || self.0.predict(points.into()).map(Into::into))
    }
    fn snapshot(&mut self) -> RResult<RVec<u8>, RString> {
        guarded("snapshot", || self.0.snapshot().map(Into::into))
    }
    fn restore(&mut self, state: RVec<u8>) -> RResult<(), RString> {
        guarded("restore", || self.0.restore(&state))
    }
}

/// Adapts an author's [`sdk::StrategySession`] to [`FfiStrategySession`], catching panics.
struct StrategyAdapter(Box<dyn sdk::StrategySession>);

impl FfiStrategySession for StrategyAdapter {
    fn wants_nominations(&self) -> bool {
        catch_unwind(AssertUnwindSafe(|| self.0.wants_nominations())).unwrap_or(false)
    }
    fn select(&mut self, request: FfiSelectRequest) -> RResult<RVec<u32>, RString> {
        guarded("select", || self.0.select(request.into()).map(Into::into))
    }
    fn update(&mut self, feedback: FfiFeedback) -> RResult<(), RString> {
        guarded("update", || self.0.update(feedback.into()))
    }
    fn snapshot(&mut self) -> RResult<RVec<u8>, RString> {
        guarded("snapshot", || self.0.snapshot().map(Into::into))
    }
    fn restore(&mut self, state: RVec<u8>) -> RResult<(), RString> {
        guarded("restore", || self.0.restore(&state))
    }
}

extern "C" fn info_glue<P: sdk::Plugin>() -> RResult<FfiPluginInfo, RString> {
    guarded("info", || Ok(crate::plugin_info(P::describe()).into()))
}

extern "C" fn validate_glue<P: sdk::Plugin>(
    kind: FfiComponentKind,
    name: RStr<'_>,
    options_json: RStr<'_>,
) -> RResult<(), RString> {
    guarded("validate", || {
        P::validate(kind.into(), name.as_str(), options_json.as_str())
    })
}

extern "C" fn open_arm_glue<P: sdk::Plugin>(
    config: FfiArmConfig,
) -> RResult<ArmSessionBox, RString> {
    guarded("open_arm", || {
        P::open_arm(config.into()).map(|session| {
            FfiArmSession_TO::from_value(ArmAdapter(session), abi_stable::sabi_trait::TD_Opaque)
        })
    })
}

extern "C" fn open_strategy_glue<P: sdk::Plugin>(
    config: FfiStrategyConfig,
) -> RResult<StrategySessionBox, RString> {
    guarded("open_strategy", || {
        P::open_strategy(config.into()).map(|session| {
            FfiStrategySession_TO::from_value(
                StrategyAdapter(session),
                abi_stable::sabi_trait::TD_Opaque,
            )
        })
    })
}

/// The root module for plugin `P` (called by the code [`crate::export_plugin!`] generates).
pub fn root_module<P: sdk::Plugin>() -> PluginModRef {
    PluginMod {
        info: info_glue::<P>,
        validate: validate_glue::<P>,
        open_arm: open_arm_glue::<P>,
        open_strategy: open_strategy_glue::<P>,
    }
    .leak_into_prefix()
}

/// The native half of [`crate::export_plugin!`]. The plugin crate must depend on
/// `abi_stable` itself (its attribute macro names `::abi_stable` paths).
#[doc(hidden)]
#[macro_export]
macro_rules! __export_native {
    ($plugin:ty) => {
        /// The abi_stable root module of this plugin.
        #[::abi_stable::export_root_module]
        pub fn __hpo_plugin_root_module() -> $crate::native::PluginModRef {
            $crate::native::root_module::<$plugin>()
        }
    };
}
