//! The wasm backend of the contract: the wit-bindgen bindings of `wit/hpo.wit` and the glue
//! that adapts an [`crate::sdk::Plugin`] to the component's exports.
//!
//! Only the `Guest` impl depends on the author's plugin type (the export macro writes it);
//! the session resources are trait objects adapted here once.

use std::cell::RefCell;

use crate::sdk;

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
use bindings::exports::hpo::plugin::stopping as ws;
use bindings::hpo::plugin::types as wt;

/// The guest's view of the `arm-session` resource.
pub use wit::{ArmSession as WitArmSession, StrategySession as WitStrategySession};
/// The guest's view of the `stopper-session` resource (API 1.2).
pub use ws::StopperSession as WitStopperSession;

// The WIT world's records (wit-bindgen's spelling) and the contract's, field by field.
wit_conversions!(wt);
stopping_conversions!(ws);

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

/// The `stopper-session` resource (API 1.2).
pub struct StopperSessionResource(RefCell<Box<dyn sdk::StopperSession>>);

impl StopperSessionResource {
    /// Wraps an author's session.
    pub fn new(session: Box<dyn sdk::StopperSession>) -> Self {
        StopperSessionResource(RefCell::new(session))
    }
}

impl ws::GuestStopperSession for StopperSessionResource {
    fn decide(&self, curve: ws::Curve) -> Result<ws::Decision, String> {
        self.0.borrow_mut().decide(curve.into()).map(Into::into)
    }
    fn finish(&self, curve: ws::Curve) -> Result<(), String> {
        self.0.borrow_mut().finish(curve.into())
    }
}

/// `stoppers` for plugin `P`.
pub fn stoppers<P: sdk::Plugin>() -> Vec<String> {
    P::describe().stoppers
}

/// `validate-stopper` for plugin `P`.
pub fn validate_stopper<P: sdk::Plugin>(name: String, options_json: String) -> Result<(), String> {
    P::validate_stopper(&name, &options_json)
}

/// `open-stopper` for plugin `P`.
pub fn open_stopper<P: sdk::Plugin>(config: ws::RuleConfig) -> Result<WitStopperSession, String> {
    P::open_stopper(config.into()).map(|s| WitStopperSession::new(StopperSessionResource::new(s)))
}

/// `schedulers` for plugin `P`.
pub fn schedulers<P: sdk::Plugin>() -> Vec<String> {
    P::describe().schedulers
}

/// `validate-scheduler` for plugin `P`.
pub fn validate_scheduler<P: sdk::Plugin>(
    name: String,
    options_json: String,
) -> Result<(), String> {
    P::validate_scheduler(&name, &options_json)
}

/// `schedule` for plugin `P`.
pub fn schedule<P: sdk::Plugin>(
    config: ws::RuleConfig,
    jobs: Vec<ws::Job>,
) -> Result<ws::Assignment, String> {
    let jobs = jobs.into_iter().map(Into::into).collect();
    P::schedule(config.into(), jobs).map(Into::into)
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

        impl $crate::wasm::bindings::exports::hpo::plugin::stopping::Guest for __HpoWasmExports {
            type StopperSession = $crate::wasm::StopperSessionResource;

            fn stoppers() -> ::std::vec::Vec<::std::string::String> {
                $crate::wasm::stoppers::<$plugin>()
            }
            fn validate_stopper(
                name: ::std::string::String,
                options_json: ::std::string::String,
            ) -> ::std::result::Result<(), ::std::string::String> {
                $crate::wasm::validate_stopper::<$plugin>(name, options_json)
            }
            fn open_stopper(
                config: $crate::wasm::bindings::exports::hpo::plugin::stopping::RuleConfig,
            ) -> ::std::result::Result<$crate::wasm::WitStopperSession, ::std::string::String>
            {
                $crate::wasm::open_stopper::<$plugin>(config)
            }
            fn schedulers() -> ::std::vec::Vec<::std::string::String> {
                $crate::wasm::schedulers::<$plugin>()
            }
            fn validate_scheduler(
                name: ::std::string::String,
                options_json: ::std::string::String,
            ) -> ::std::result::Result<(), ::std::string::String> {
                $crate::wasm::validate_scheduler::<$plugin>(name, options_json)
            }
            fn schedule(
                config: $crate::wasm::bindings::exports::hpo::plugin::stopping::RuleConfig,
                jobs: ::std::vec::Vec<$crate::wasm::bindings::exports::hpo::plugin::stopping::Job>,
            ) -> ::std::result::Result<
                $crate::wasm::bindings::exports::hpo::plugin::stopping::Assignment,
                ::std::string::String,
            > {
                $crate::wasm::schedule::<$plugin>(config, jobs)
            }
        }

        $crate::wasm::bindings::__hpo_wit_export!(__HpoWasmExports with_types_in $crate::wasm::bindings);
    };
}
