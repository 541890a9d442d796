//! Where the registry lives: `--registry PATH`, else `$HPO_HOME/registry.toml`, else the
//! per-user data directory (`~/.local/share/hpo/registry.toml` on Linux).

use std::path::PathBuf;

/// File name of the registry inside `HPO_HOME`.
pub const REGISTRY_FILE: &str = "registry.toml";

/// No place for the registry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot find a per-user data directory: set HPO_HOME or pass --registry")]
pub struct NoHome;

/// The registry path to use, given an explicit `--registry` value.
pub fn registry_path(explicit: Option<PathBuf>) -> Result<PathBuf, NoHome> {
    if let Some(path) = explicit {
        return Ok(path);
    }
    if let Some(home) = std::env::var_os("HPO_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home).join(REGISTRY_FILE));
    }
    dirs::data_dir()
        .map(|d| d.join("hpo").join(REGISTRY_FILE))
        .ok_or(NoHome)
}
