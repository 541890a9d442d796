//! The native backend: a shared library exporting an abi_stable root module.
//!
//! abi_stable checks the library's abi_stable version and the layout of every type reachable
//! from the root module before handing it out. The library is never unloaded (abi_stable
//! keeps it for the process's lifetime: code from it may still be referenced by vtables).

use std::path::Path;

use abi_stable::StableAbi;
use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
use abi_stable::library::{RawLibrary, RootModule, lib_header_from_path};
use abi_stable::std_types::{RResult, RStr, RString};
use hpo_plugin_api::native::{
    ArmSessionBox, CallError, FfiArmConfig, FfiComponentKind, FfiCurve, FfiJob, FfiRuleConfig,
    FfiStrategyConfig, PluginModRef, STOPPING_SYMBOL, StopperSessionBox, StoppingExport,
    StoppingModRef, StrategySessionBox,
};
use hpo_plugin_api::types::{
    ArmConfig, Assignment, ComponentKind, Curve, Decision, Feedback, Job, Matrix, Observations,
    PluginInfo, Prediction, ProposeRequest, Proposed, RuleConfig, SelectRequest, StrategyConfig,
};

use super::{
    ArmBackend, PluginBackend, PluginError, PluginResult, StopperBackend, StrategyBackend,
    no_stopping_module,
};

/// Loads a native plugin and reads its info.
pub(super) fn load(path: &Path) -> Result<(PluginInfo, Box<dyn PluginBackend>), PluginError> {
    let header = lib_header_from_path(path).map_err(|e| {
        PluginError::Load(format!(
            "{}: not a loadable hpo native plugin: {e}",
            path.display()
        ))
    })?;
    let module = header.init_root_module::<PluginModRef>().map_err(|e| {
        PluginError::Load(format!(
            "{}: incompatible plugin module ({}): {e}",
            path.display(),
            PluginModRef::NAME
        ))
    })?;
    let info: PluginInfo = into_result(module.info()())
        .map_err(|e| PluginError::Load(format!("{}: info failed: {e}", path.display())))?
        .into();
    let api_version = info.api_version.clone();
    let stopping = stopping_module(path)?;
    Ok((
        info,
        Box::new(NativePlugin {
            module,
            stopping,
            api_version,
        }),
    ))
}

/// The stoppers' module of a plugin built against API 1.2 or later (none before), its
/// layout checked against the host's.
fn stopping_module(path: &Path) -> Result<Option<StoppingModRef>, PluginError> {
    let library = RawLibrary::load_at(path).map_err(|e| {
        PluginError::Load(format!("{}: not a loadable library: {e}", path.display()))
    })?;
    // SAFETY: a plugin exports this symbol only through `export_plugin!`, with this
    // signature; its absence means a plugin built before API 1.2.
    let export = match unsafe { library.get::<extern "C" fn() -> StoppingExport>(STOPPING_SYMBOL) }
    {
        Ok(symbol) => *symbol,
        Err(_) => return Ok(None),
    };
    // The library stays loaded for the process, as abi_stable keeps the root module's.
    std::mem::forget(library);
    let export = export();
    check_layout_compatibility(<StoppingModRef as StableAbi>::LAYOUT, export.layout).map_err(
        |e| {
            PluginError::Load(format!(
                "{}: incompatible stoppers module: {e}",
                path.display()
            ))
        },
    )?;
    Ok(Some(export.module))
}

/// A plugin's panic arrives here as an error the glue flagged; it poisons the session (its
/// state may be half-updated), as a wasm trap does. A plugin built against API 1.0 sends
/// plain text, where only the glue's own words mark a panic.
fn into_result<T>(r: RResult<T, RString>) -> PluginResult<T> {
    let text = match r {
        RResult::ROk(v) => return Ok(v),
        RResult::RErr(text) => text,
    };
    match CallError::decode(&text) {
        Some(CallError {
            message,
            poisoned: true,
        }) => Err(PluginError::Poisoned(message)),
        Some(CallError { message, .. }) => Err(PluginError::Failed(message)),
        None if text.starts_with("plugin panicked") => Err(PluginError::Poisoned(text.into())),
        None => Err(PluginError::Failed(text.into())),
    }
}

struct NativePlugin {
    module: PluginModRef,
    stopping: Option<StoppingModRef>,
    api_version: String,
}

impl PluginBackend for NativePlugin {
    fn validate(
        &mut self,
        kind: ComponentKind,
        name: &str,
        options_json: &str,
    ) -> PluginResult<()> {
        into_result(self.module.validate()(
            FfiComponentKind::from(kind),
            RStr::from_str(name),
            RStr::from_str(options_json),
        ))
    }

    fn open_arm(&mut self, config: &ArmConfig) -> PluginResult<Box<dyn ArmBackend>> {
        let session = into_result(self.module.open_arm()(FfiArmConfig::from(config.clone())))?;
        Ok(Box::new(NativeArm(session)))
    }

    fn open_strategy(&mut self, config: &StrategyConfig) -> PluginResult<Box<dyn StrategyBackend>> {
        let session = into_result(self.module.open_strategy()(FfiStrategyConfig::from(
            config.clone(),
        )))?;
        Ok(Box::new(NativeStrategy(session)))
    }

    fn stoppers(&mut self) -> PluginResult<Vec<String>> {
        match self.stopping {
            Some(m) => {
                into_result(m.stoppers()()).map(|v| v.into_iter().map(String::from).collect())
            }
            None => Ok(Vec::new()),
        }
    }

    fn validate_stopper(&mut self, name: &str, options_json: &str) -> PluginResult<()> {
        let m = self
            .stopping
            .ok_or_else(|| no_stopping_module(&self.api_version))?;
        into_result(m.validate_stopper()(
            RStr::from_str(name),
            RStr::from_str(options_json),
        ))
    }

    fn open_stopper(&mut self, config: &RuleConfig) -> PluginResult<Box<dyn StopperBackend>> {
        let m = self
            .stopping
            .ok_or_else(|| no_stopping_module(&self.api_version))?;
        let session = into_result(m.open_stopper()(FfiRuleConfig::from(config.clone())))?;
        Ok(Box::new(NativeStopper(session)))
    }

    fn schedulers(&mut self) -> PluginResult<Vec<String>> {
        match self.stopping {
            Some(m) => {
                into_result(m.schedulers()()).map(|v| v.into_iter().map(String::from).collect())
            }
            None => Ok(Vec::new()),
        }
    }

    fn validate_scheduler(&mut self, name: &str, options_json: &str) -> PluginResult<()> {
        let m = self
            .stopping
            .ok_or_else(|| no_stopping_module(&self.api_version))?;
        into_result(m.validate_scheduler()(
            RStr::from_str(name),
            RStr::from_str(options_json),
        ))
    }

    fn schedule(&mut self, config: &RuleConfig, jobs: &[Job]) -> PluginResult<Assignment> {
        let m = self
            .stopping
            .ok_or_else(|| no_stopping_module(&self.api_version))?;
        let jobs = jobs.iter().cloned().map(FfiJob::from).collect();
        into_result(m.schedule()(FfiRuleConfig::from(config.clone()), jobs)).map(Into::into)
    }
}

struct NativeStopper(StopperSessionBox);

impl StopperBackend for NativeStopper {
    fn decide(&mut self, curve: &Curve) -> PluginResult<Decision> {
        into_result(self.0.decide(FfiCurve::from(curve.clone()))).map(Into::into)
    }
    fn finish(&mut self, curve: &Curve) -> PluginResult<()> {
        into_result(self.0.finish(FfiCurve::from(curve.clone())))
    }
}

struct NativeArm(ArmSessionBox);

impl ArmBackend for NativeArm {
    fn set_pool(&mut self, pool: &Matrix) -> PluginResult<()> {
        into_result(self.0.set_pool(pool.clone().into()))
    }
    fn tell(&mut self, observations: &Observations) -> PluginResult<()> {
        into_result(self.0.tell(observations.clone().into()))
    }
    fn propose(&mut self, request: &ProposeRequest) -> PluginResult<Vec<Proposed>> {
        into_result(self.0.propose(request.clone().into()))
            .map(|v| v.into_iter().map(Into::into).collect())
    }
    fn predict(&mut self, points: &Matrix) -> PluginResult<Prediction> {
        into_result(self.0.predict(points.clone().into())).map(Into::into)
    }
    fn snapshot(&mut self) -> PluginResult<Vec<u8>> {
        into_result(self.0.snapshot()).map(Into::into)
    }
    fn restore(&mut self, state: &[u8]) -> PluginResult<()> {
        into_result(self.0.restore(state.to_vec().into()))
    }
}

struct NativeStrategy(StrategySessionBox);

impl StrategyBackend for NativeStrategy {
    fn wants_nominations(&mut self) -> PluginResult<bool> {
        Ok(self.0.wants_nominations())
    }
    fn select(&mut self, request: &SelectRequest) -> PluginResult<Vec<u32>> {
        into_result(self.0.select(request.clone().into())).map(Into::into)
    }
    fn update(&mut self, feedback: &Feedback) -> PluginResult<()> {
        into_result(self.0.update(feedback.clone().into()))
    }
    fn snapshot(&mut self) -> PluginResult<Vec<u8>> {
        into_result(self.0.snapshot()).map(Into::into)
    }
    fn restore(&mut self, state: &[u8]) -> PluginResult<()> {
        into_result(self.0.restore(state.to_vec().into()))
    }
}
