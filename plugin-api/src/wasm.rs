//! The wasm backend of the contract: the wit-bindgen bindings of `wit/hpo.wit` and the glue
//! that adapts an [`crate::sdk::Plugin`] to the component's exports.
//!
//! Only the `Guest` impl depends on the author's plugin type (the export macro writes it);
//! the session resources are trait objects adapted here once.

use std::cell::RefCell;

use crate::sdk;
use crate::types::{
    ArmConfig, ArmStat, ComponentKind, Feedback, Matrix, ObservationStatus, Observations,
    PluginInfo, Prediction, ProposeRequest, Proposed, SelectRequest, StrategyConfig,
};

/// The generated bindings (guest side) of the `hpo-plugin` world.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "hpo-plugin",
        pub_export_macro: true,
        export_macro_name: "__hpo_wit_export",
        default_bindings_module: "::hpo_plugin_api::wasm::bindings",
    });
}

use bindings::exports::hpo::plugin::plugin as wit;
use bindings::hpo::plugin::types as wt;

/// The guest's view of the `arm-session` resource.
pub use wit::{ArmSession as WitArmSession, StrategySession as WitStrategySession};

impl From<wt::Matrix> for Matrix {
    fn from(m: wt::Matrix) -> Self {
        Matrix {
            cols: m.cols,
            data: m.data,
        }
    }
}

impl From<PluginInfo> for wt::PluginInfo {
    fn from(i: PluginInfo) -> Self {
        wt::PluginInfo {
            name: i.name,
            version: i.version,
            api_version: i.api_version,
            description: i.description,
            arms: i.arms,
            strategies: i.strategies,
        }
    }
}

impl From<wt::ComponentKind> for ComponentKind {
    fn from(k: wt::ComponentKind) -> Self {
        match k {
            wt::ComponentKind::Arm => ComponentKind::Arm,
            wt::ComponentKind::Strategy => ComponentKind::Strategy,
        }
    }
}

impl From<wt::ArmConfig> for ArmConfig {
    fn from(c: wt::ArmConfig) -> Self {
        ArmConfig {
            model: c.model,
            space_json: c.space_json,
            options_json: c.options_json,
            seed: c.seed,
        }
    }
}

impl From<wt::ObservationStatus> for ObservationStatus {
    fn from(s: wt::ObservationStatus) -> Self {
        match s {
            wt::ObservationStatus::Final => ObservationStatus::Final,
            wt::ObservationStatus::Interim => ObservationStatus::Interim,
            wt::ObservationStatus::Failed => ObservationStatus::Failed,
        }
    }
}

impl From<wt::Observations> for Observations {
    fn from(o: wt::Observations) -> Self {
        Observations {
            x: o.x.into(),
            y: o.y,
            cost: o.cost,
            status: o.status.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<wt::ProposeRequest> for ProposeRequest {
    fn from(r: wt::ProposeRequest) -> Self {
        ProposeRequest {
            acquisition: r.acquisition,
            candidates: r.candidates,
            pending: r.pending.into(),
            n: r.n,
            seed: r.seed,
            allow_off_pool: r.allow_off_pool,
        }
    }
}

impl From<Proposed> for wt::Proposed {
    fn from(p: Proposed) -> Self {
        wt::Proposed {
            pool_index: p.pool_index,
            point: p.point,
            acquisition: p.acquisition,
            mean: p.mean,
            variance: p.variance,
        }
    }
}

impl From<Prediction> for wt::Prediction {
    fn from(p: Prediction) -> Self {
        wt::Prediction {
            mean: p.mean,
            variance: p.variance,
        }
    }
}

impl From<wt::StrategyConfig> for StrategyConfig {
    fn from(c: wt::StrategyConfig) -> Self {
        StrategyConfig {
            name: c.name,
            arm_names: c.arm_names,
            options_json: c.options_json,
            seed: c.seed,
        }
    }
}

impl From<wt::ArmStat> for ArmStat {
    fn from(s: wt::ArmStat) -> Self {
        ArmStat {
            pulls: s.pulls,
            failures: s.failures,
            total_reward: s.total_reward,
            suspended: s.suspended,
        }
    }
}

impl From<wt::SelectRequest> for SelectRequest {
    fn from(r: wt::SelectRequest) -> Self {
        SelectRequest {
            iteration: r.iteration,
            elapsed: r.elapsed,
            stats: r.stats.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<wt::Feedback> for Feedback {
    fn from(f: wt::Feedback) -> Self {
        Feedback {
            chosen: f.chosen,
            reward: f.reward,
            gains: f.gains,
            elapsed: f.elapsed,
        }
    }
}

/// The `arm-session` resource: an author's session behind a `RefCell` (resources are
/// called through `&self`; a component instance is single-threaded).
pub struct ArmSessionResource(RefCell<Box<dyn sdk::ArmSession>>);

impl ArmSessionResource {
    /// Wraps an author's session.
    pub fn new(session: Box<dyn sdk::ArmSession>) -> Self {
        ArmSessionResource(RefCell::new(session))
    }
}

impl wit::GuestArmSession for ArmSessionResource {
    fn set_pool(&self, pool: wt::Matrix) -> Result<(), String> {
        self.0.borrow_mut().set_pool(pool.into())
    }
    fn tell(&self, observations: wt::Observations) -> Result<(), String> {
        self.0.borrow_mut().tell(observations.into())
    }
    fn propose(&self, request: wt::ProposeRequest) -> Result<Vec<wt::Proposed>, String> {
        self.0
            .borrow_mut()
            .propose(request.into())
            .map(|v| v.into_iter().map(Into::into).collect())
    }
    fn predict(&self, points: wt::Matrix) -> Result<wt::Prediction, String> {
        self.0.borrow_mut().predict(points.into()).map(Into::into)
    }
    fn snapshot(&self) -> Result<Vec<u8>, String> {
        self.0.borrow_mut().snapshot()
    }
    fn restore(&self, state: Vec<u8>) -> Result<(), String> {
        self.0.borrow_mut().restore(&state)
    }
}

/// The `strategy-session` resource.
pub struct StrategySessionResource(RefCell<Box<dyn sdk::StrategySession>>);

impl StrategySessionResource {
    /// Wraps an author's session.
    pub fn new(session: Box<dyn sdk::StrategySession>) -> Self {
        StrategySessionResource(RefCell::new(session))
    }
}

impl wit::GuestStrategySession for StrategySessionResource {
    fn wants_nominations(&self) -> bool {
        self.0.borrow().wants_nominations()
    }
    fn select(&self, request: wt::SelectRequest) -> Result<Vec<u32>, String> {
        self.0.borrow_mut().select(request.into())
    }
    fn update(&self, feedback: wt::Feedback) -> Result<(), String> {
        self.0.borrow_mut().update(feedback.into())
    }
    fn snapshot(&self) -> Result<Vec<u8>, String> {
        self.0.borrow_mut().snapshot()
    }
    fn restore(&self, state: Vec<u8>) -> Result<(), String> {
        self.0.borrow_mut().restore(&state)
    }
}

/// `info` for plugin `P`.
pub fn info<P: sdk::Plugin>() -> wt::PluginInfo {
    crate::plugin_info(P::describe()).into()
}

/// `validate` for plugin `P`.
pub fn validate<P: sdk::Plugin>(
    kind: wt::ComponentKind,
    name: String,
    options_json: String,
) -> Result<(), String> {
    P::validate(kind.into(), &name, &options_json)
}

/// `open-arm` for plugin `P`.
pub fn open_arm<P: sdk::Plugin>(config: wt::ArmConfig) -> Result<WitArmSession, String> {
    P::open_arm(config.into()).map(|s| WitArmSession::new(ArmSessionResource::new(s)))
}

/// `open-strategy` for plugin `P`.
pub fn open_strategy<P: sdk::Plugin>(
    config: wt::StrategyConfig,
) -> Result<WitStrategySession, String> {
    P::open_strategy(config.into())
        .map(|s| WitStrategySession::new(StrategySessionResource::new(s)))
}

/// The wasm half of [`crate::export_plugin!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __export_wasm {
    ($plugin:ty) => {
        struct __HpoWasmExports;

        impl $crate::wasm::bindings::exports::hpo::plugin::plugin::Guest for __HpoWasmExports {
            type ArmSession = $crate::wasm::ArmSessionResource;
            type StrategySession = $crate::wasm::StrategySessionResource;

            fn info() -> $crate::wasm::bindings::hpo::plugin::types::PluginInfo {
                $crate::wasm::info::<$plugin>()
            }
            fn validate(
                kind: $crate::wasm::bindings::hpo::plugin::types::ComponentKind,
                name: ::std::string::String,
                options_json: ::std::string::String,
            ) -> ::std::result::Result<(), ::std::string::String> {
                $crate::wasm::validate::<$plugin>(kind, name, options_json)
            }
            fn open_arm(
                config: $crate::wasm::bindings::hpo::plugin::types::ArmConfig,
            ) -> ::std::result::Result<$crate::wasm::WitArmSession, ::std::string::String> {
                $crate::wasm::open_arm::<$plugin>(config)
            }
            fn open_strategy(
                config: $crate::wasm::bindings::hpo::plugin::types::StrategyConfig,
            ) -> ::std::result::Result<$crate::wasm::WitStrategySession, ::std::string::String>
            {
                $crate::wasm::open_strategy::<$plugin>(config)
            }
        }

        $crate::wasm::bindings::__hpo_wit_export!(__HpoWasmExports with_types_in $crate::wasm::bindings);
    };
}
