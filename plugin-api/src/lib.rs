//! The hpo plugin contract: the one crate a plugin author depends on.
//!
//! - [`types`]: the data crossing the boundary (flat matrices, proposals, strategy stats).
//! - [`space`]: the search-space description arms receive.
//! - [`sdk`]: the traits an author implements once.
//! - [`export_plugin!`]: exports that implementation as an abi_stable root module on native
//!   targets and as component-model exports (WIT world `hpo-plugin`, `wit/hpo.wit`) on wasm.
//! - `native` (native targets): the stable-ABI types and glue the host loads.
//!
//! Errors are values on both backends: the native glue catches panics at the edge and turns
//! them into errors; on wasm a panic aborts the instance, which the host reports as a trap.

#[macro_use]
mod conversions;
pub mod sdk;
pub mod space;
pub mod types;

// abi_stable's `sabi_trait` expansion implements traits inside a generated const block.
#[allow(non_local_definitions)]
#[cfg(not(target_family = "wasm"))]
pub mod native;

#[cfg(target_family = "wasm")]
pub mod wasm;

/// The plugin API version (semver). The host accepts a plugin whose major equals its own
/// and whose minor is not newer.
///
/// - 1.1: a native call's error carries a typed poison flag
///   (`native::CallError`); plugins built against 1.0 still load.
/// - 1.2: a third role, stoppers (early-termination rules: `sdk::StopperSession`), in the
///   native root module's new prefix fields and the WIT world's `stopping` interface;
///   plugins built against 1.0 and 1.1 still load (with no stoppers).
pub const API_VERSION: &str = "1.2.0";

/// The API version as embedded in every plugin artifact, with a marker around it so that
/// tools (and tests) can find it in a binary.
#[doc(hidden)]
pub static API_VERSION_MARKER: &str = "hpo-plugin-api-version=1.2.0;";

/// The API version this plugin was built against, read from the embedded marker.
///
/// `black_box` keeps the whole marker in the artifact instead of a folded constant.
pub fn built_api_version() -> String {
    let marker = std::hint::black_box(API_VERSION_MARKER);
    marker
        .trim_start_matches("hpo-plugin-api-version=")
        .trim_end_matches(';')
        .to_string()
}

/// Builds the [`types::PluginInfo`] a plugin reports from its author's description.
pub fn plugin_info(description: types::PluginDescription) -> types::PluginInfo {
    types::PluginInfo {
        name: description.name,
        version: description.version,
        api_version: built_api_version(),
        description: description.description,
        arms: description.arms,
        strategies: description.strategies,
    }
}

/// Exports a [`sdk::Plugin`] implementation: an abi_stable root module on native targets,
/// component-model exports on wasm. Use it once, at the root of a `cdylib` crate.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(not(target_family = "wasm"))]
        $crate::__export_native!($plugin);
        #[cfg(target_family = "wasm")]
        $crate::__export_wasm!($plugin);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_carries_the_api_version() {
        assert_eq!(built_api_version(), API_VERSION);
    }
}
