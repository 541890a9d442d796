//! The native backend: a shared library exporting an abi_stable root module.
//!
//! abi_stable checks the library's abi_stable version and the layout of every type reachable
//! from the root module before handing it out. The library is never unloaded (abi_stable
//! keeps it for the process's lifetime: code from it may still be referenced by vtables).

use std::path::Path;

use abi_stable::library::{RootModule, lib_header_from_path};
use abi_stable::std_types::{RResult, RStr, RString};
use hpo_plugin_api::native::{
    ArmSessionBox, CallError, FfiArmConfig, FfiComponentKind, FfiStrategyConfig, PluginModRef,
    StrategySessionBox,
};
use hpo_plugin_api::types::{
    ArmConfig, ComponentKind, Feedback, Matrix, Observations, PluginInfo, Prediction,
    ProposeRequest, Proposed, SelectRequest, StrategyConfig,
};

use super::{ArmBackend, PluginBackend, PluginError, PluginResult, StrategyBackend};

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
    Ok((info, Box::new(NativePlugin { module })))
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
