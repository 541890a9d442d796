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
    ArmConfig, ArmStat, Assignment, ComponentKind, Curve, Decision, Feedback, Job, JobState,
    Matrix, ObservationStatus, Observations, PluginInfo, Prediction, ProposeRequest, Proposed,
    RuleConfig, SelectRequest, StrategyConfig,
};

/// Declares the stable-ABI mirror of each record and its conversions ([`record_conversions!`]),
/// so a record's fields are written once here (and once in `types.rs` and the WIT world). A
/// field marked `[each]` is a list whose elements convert one by one.
macro_rules! ffi_records {
    ($(
        $rust:ident => $ffi:ident {
            $( $field:ident : $ty:ty $([$each:ident])? ),* $(,)?
        }
    )*) => {$(
        #[doc = concat!("Stable-ABI [`", stringify!($rust), "`].")]
        #[repr(C)]
        #[derive(StableAbi, Debug, Clone)]
        pub struct $ffi {
            $(
                #[doc = concat!("See [`", stringify!($rust), "::", stringify!($field), "`].")]
                pub $field: $ty,
            )*
        }

        record_conversions! { $rust => $ffi { $( $field $([$each])? ),* } }
    )*};
}

/// Declares the stable-ABI mirror of each field-less enum and its conversions.
macro_rules! ffi_enums {
    ($( $rust:ident => $ffi:ident { $( $variant:ident ),* $(,)? } )*) => {$(
        #[doc = concat!("Stable-ABI [`", stringify!($rust), "`].")]
        #[repr(u8)]
        #[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $ffi {
            $(
                #[doc = concat!("[`", stringify!($rust), "::", stringify!($variant), "`].")]
                $variant,
            )*
        }

        enum_conversions! { $rust => $ffi { $( $variant ),* } }
    )*};
}

ffi_enums! {
    ComponentKind => FfiComponentKind { Arm, Strategy }
    ObservationStatus => FfiObservationStatus { Final, Interim, Failed }
    Decision => FfiDecision { Continue, Stop }
    JobState => FfiJobState { Pending, Complete, Failed }
}

// Field names, types and order are the ABI: plugins built against 1.0 are checked against
// them at load (host/tests/fixtures/api-1.0).
ffi_records! {
    Matrix => FfiMatrix { cols: u32, data: RVec<f64> }
    PluginInfo => FfiPluginInfo {
        name: RString,
        version: RString,
        api_version: RString,
        description: RString,
        arms: RVec<RString> [each],
        strategies: RVec<RString> [each],
    }
    ArmConfig => FfiArmConfig {
        model: RString,
        space_json: RString,
        options_json: RString,
        seed: u64,
    }
    Observations => FfiObservations {
        x: FfiMatrix,
        y: RVec<f64>,
        cost: RVec<f64>,
        status: RVec<FfiObservationStatus> [each],
    }
    ProposeRequest => FfiProposeRequest {
        acquisition: RString,
        candidates: RVec<u32>,
        pending: FfiMatrix,
        n: u32,
        seed: u64,
        allow_off_pool: bool,
    }
    Proposed => FfiProposed {
        pool_index: ROption<u32>,
        point: RVec<f64>,
        acquisition: f64,
        mean: f64,
        variance: f64,
    }
    Prediction => FfiPrediction { mean: RVec<f64>, variance: RVec<f64> }
    StrategyConfig => FfiStrategyConfig {
        name: RString,
        arm_names: RVec<RString> [each],
        options_json: RString,
        seed: u64,
    }
    ArmStat => FfiArmStat {
        pulls: u32,
        failures: u32,
        total_reward: f64,
        suspended: bool,
    }
    SelectRequest => FfiSelectRequest {
        iteration: u32,
        elapsed: f64,
        stats: RVec<FfiArmStat> [each],
    }
    Feedback => FfiFeedback {
        chosen: u32,
        reward: f64,
        gains: RVec<f64>,
        elapsed: f64,
    }
    RuleConfig => FfiRuleConfig {
        name: RString,
        options_json: RString,
        seed: u64,
        horizon: u32,
    }
    Curve => FfiCurve { epochs: RVec<u32>, values: RVec<f64>, terminated: bool }
    Job => FfiJob {
        trial: u64,
        parent: ROption<u64>,
        budget: u32,
        state: FfiJobState,
        value: f64,
    }
    Assignment => FfiAssignment { promote: ROption<u64>, budget: u32 }
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

/// A stopper session behind the stable ABI (API 1.2).
#[sabi_trait]
pub trait FfiStopperSession: Send {
    /// See [`sdk::StopperSession::decide`].
    fn decide(&mut self, curve: FfiCurve) -> RResult<FfiDecision, RString>;
    /// See [`sdk::StopperSession::finish`].
    #[sabi(last_prefix_field)]
    fn finish(&mut self, curve: FfiCurve) -> RResult<(), RString>;
}

/// An owned model session handle (the plugin's object behind a stable vtable).
pub type ArmSessionBox = FfiArmSession_TO<'static, RBox<()>>;
/// An owned strategy session handle.
pub type StrategySessionBox = FfiStrategySession_TO<'static, RBox<()>>;
/// An owned stopper session handle (API 1.2).
pub type StopperSessionBox = FfiStopperSession_TO<'static, RBox<()>>;

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

/// The early-termination module (API 1.2: stoppers and schedulers), exported beside the
/// root module under [`STOPPING_SYMBOL`]: abi_stable checks a prefix type only against one
/// at least as long as the host's, so appending these functions to [`PluginMod`] would make
/// every plugin built before 1.2 fail to load. A plugin without the symbol has neither.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = StoppingModRef)))]
#[sabi(missing_field(panic))]
pub struct StoppingMod {
    /// The stoppers the plugin offers.
    pub stoppers: extern "C" fn() -> RResult<RVec<RString>, RString>,
    /// See [`sdk::Plugin::validate_stopper`].
    pub validate_stopper: extern "C" fn(RStr<'_>, RStr<'_>) -> RResult<(), RString>,
    /// See [`sdk::Plugin::open_stopper`].
    pub open_stopper: extern "C" fn(FfiRuleConfig) -> RResult<StopperSessionBox, RString>,
    /// The schedulers the plugin offers.
    pub schedulers: extern "C" fn() -> RResult<RVec<RString>, RString>,
    /// See [`sdk::Plugin::validate_scheduler`].
    pub validate_scheduler: extern "C" fn(RStr<'_>, RStr<'_>) -> RResult<(), RString>,
    /// See [`sdk::Plugin::schedule`].
    #[sabi(last_prefix_field)]
    pub schedule: extern "C" fn(FfiRuleConfig, RVec<FfiJob>) -> RResult<FfiAssignment, RString>,
}

/// The symbol under which a plugin built against API 1.2 or later exports its
/// [`StoppingExport`].
pub const STOPPING_SYMBOL: &[u8] = b"hpo_plugin_stopping\0";

/// What the [`STOPPING_SYMBOL`] function returns: the stoppers' module and its layout as the
/// plugin was built, which the host checks against its own before any call.
#[repr(C)]
pub struct StoppingExport {
    /// The layout of [`StoppingModRef`] in the plugin.
    pub layout: &'static abi_stable::type_layout::TypeLayout,
    /// The module.
    pub module: StoppingModRef,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "hpo_plugin";
    const NAME: &'static str = "hpo_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// The error of a native call (API 1.1): the message, and whether the call left the
/// plugin's state unusable (it panicked), so the host discards the session. The glue writes
/// every error this way, the author's own text as `message`, so no author text can pass for
/// a panic. It travels as JSON in the `RString` of the 1.0 layout (`{"hpo_call_error":
/// {...}}`): plugins built against 1.0, whose errors are plain text, still load.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallError {
    /// What went wrong.
    pub message: String,
    /// Whether the plugin panicked (its session must be discarded).
    pub poisoned: bool,
}

/// The JSON form of a [`CallError`].
#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope {
    hpo_call_error: CallError,
}

impl CallError {
    /// The error as the glue sends it.
    pub fn encode(self) -> RString {
        serde_json::to_string(&Envelope {
            hpo_call_error: self,
        })
        .expect("a call error serializes")
        .into()
    }

    /// The error a plugin built against API 1.1 or later sent; `None` for a 1.0 plugin's
    /// plain text.
    pub fn decode(text: &str) -> Option<Self> {
        serde_json::from_str::<Envelope>(text)
            .ok()
            .map(|e| e.hpo_call_error)
    }
}

/// Runs `f`, turning its error and a panic into a [`CallError`].
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> RResult<T, RString> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => RResult::ROk(v),
        Ok(Err(message)) => RResult::RErr(
            CallError {
                message,
                poisoned: false,
            }
            .encode(),
        ),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_string());
            RResult::RErr(
                CallError {
                    message: format!("plugin panicked in {what}: {message}"),
                    poisoned: true,
                }
                .encode(),
            )
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

/// Adapts an author's [`sdk::StopperSession`] to [`FfiStopperSession`], catching panics.
struct StopperAdapter(Box<dyn sdk::StopperSession>);

impl FfiStopperSession for StopperAdapter {
    fn decide(&mut self, curve: FfiCurve) -> RResult<FfiDecision, RString> {
        guarded("decide", || self.0.decide(curve.into()).map(Into::into))
    }
    fn finish(&mut self, curve: FfiCurve) -> RResult<(), RString> {
        guarded("finish", || self.0.finish(curve.into()))
    }
}

extern "C" fn stoppers_glue<P: sdk::Plugin>() -> RResult<RVec<RString>, RString> {
    guarded("stoppers", || {
        Ok(P::describe().stoppers.into_iter().map(Into::into).collect())
    })
}

extern "C" fn validate_stopper_glue<P: sdk::Plugin>(
    name: RStr<'_>,
    options_json: RStr<'_>,
) -> RResult<(), RString> {
    guarded("validate_stopper", || {
        P::validate_stopper(name.as_str(), options_json.as_str())
    })
}

extern "C" fn open_stopper_glue<P: sdk::Plugin>(
    config: FfiRuleConfig,
) -> RResult<StopperSessionBox, RString> {
    guarded("open_stopper", || {
        P::open_stopper(config.into()).map(|session| {
            FfiStopperSession_TO::from_value(
                StopperAdapter(session),
                abi_stable::sabi_trait::TD_Opaque,
            )
        })
    })
}

extern "C" fn schedulers_glue<P: sdk::Plugin>() -> RResult<RVec<RString>, RString> {
    guarded("schedulers", || {
        Ok(P::describe()
            .schedulers
            .into_iter()
            .map(Into::into)
            .collect())
    })
}

extern "C" fn validate_scheduler_glue<P: sdk::Plugin>(
    name: RStr<'_>,
    options_json: RStr<'_>,
) -> RResult<(), RString> {
    guarded("validate_scheduler", || {
        P::validate_scheduler(name.as_str(), options_json.as_str())
    })
}

extern "C" fn schedule_glue<P: sdk::Plugin>(
    config: FfiRuleConfig,
    jobs: RVec<FfiJob>,
) -> RResult<FfiAssignment, RString> {
    guarded("schedule", || {
        let jobs = jobs.into_iter().map(Into::into).collect();
        P::schedule(config.into(), jobs).map(Into::into)
    })
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

/// The early-termination module for plugin `P`, with its layout (called by the code
/// [`crate::export_plugin!`] generates).
pub fn stopping_export<P: sdk::Plugin>() -> StoppingExport {
    StoppingExport {
        layout: <StoppingModRef as StableAbi>::LAYOUT,
        module: StoppingMod {
            stoppers: stoppers_glue::<P>,
            validate_stopper: validate_stopper_glue::<P>,
            open_stopper: open_stopper_glue::<P>,
            schedulers: schedulers_glue::<P>,
            validate_scheduler: validate_scheduler_glue::<P>,
            schedule: schedule_glue::<P>,
        }
        .leak_into_prefix(),
    }
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

        /// The early-termination module of this plugin (API 1.2), with its layout.
        #[unsafe(no_mangle)]
        #[allow(improper_ctypes_definitions)]
        pub extern "C" fn hpo_plugin_stopping() -> $crate::native::StoppingExport {
            $crate::native::stopping_export::<$plugin>()
        }
    };
}
