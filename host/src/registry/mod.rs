//! The host side of the plugin registry: where it lives ([`home`]), installing, removing,
//! verifying and loading plugins by name ([`PluginHost`]), which plugin provides an arm or a
//! strategy ([`resolve_arms`], [`resolve_strategy`]), the first-party plugins next to
//! the executable registered on first use ([`bundled`]), and the plugins one run has loaded
//! ([`Loaded`]).
//!
//! Invariant: a plugin is loaded only from an artifact whose checksum matches its registry
//! entry; nothing here knows native from wasm beyond the loader's options.

pub mod bundled;
pub mod home;
mod host;
mod providers;

pub use host::{HostError, InstallOptions, PluginHost, VerifyReport};
pub use providers::{
    ProviderError, RuleKind, RuleRef, resolve_arms, resolve_rule, resolve_strategy,
};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::loader::{SharedPlugin, WasmRuntime, share};

impl PluginHost {
    /// The host over the registry at `registry` (else [`home::registry_path`]'s), with the
    /// first-party plugins next to the executable registered; also returns the names of the
    /// plugins whose registration changed.
    pub fn open_with_bundled(
        registry: Option<PathBuf>,
    ) -> Result<(PluginHost, Vec<String>), HostError> {
        let path = home::registry_path(registry)?;
        let mut host = PluginHost::open(path, Arc::new(WasmRuntime::new()))?;
        let changed = match bundled::executable_dir() {
            Some(dir) => bundled::register_bundled(&mut host, &dir)?,
            None => Vec::new(),
        };
        Ok((host, changed))
    }
}

/// The plugins one run has loaded, each once, shared by the sessions opened from it.
pub struct Loaded<'h> {
    host: &'h PluginHost,
    plugins: BTreeMap<String, SharedPlugin>,
}

impl<'h> Loaded<'h> {
    /// None loaded yet.
    pub fn new(host: &'h PluginHost) -> Self {
        Loaded {
            host,
            plugins: BTreeMap::new(),
        }
    }

    /// The host plugins are loaded from.
    pub fn host(&self) -> &'h PluginHost {
        self.host
    }

    /// Plugin `name`, loaded on first use.
    pub fn get(&mut self, name: &str) -> Result<SharedPlugin, HostError> {
        if let Some(p) = self.plugins.get(name) {
            return Ok(p.clone());
        }
        let p = share(self.host.load(name)?);
        self.plugins.insert(name.to_string(), p.clone());
        Ok(p)
    }
}
