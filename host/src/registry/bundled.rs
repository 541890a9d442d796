//! First-party plugins next to the `hpo` executable are registered automatically, so
//! `cargo build` then `hpo plugin list` works with no install step.
//!
//! They are found by name (`libhpo_*.so` on Linux, the platform's library prefix and
//! suffix elsewhere), trusted as part of the installation, recorded with `origin =
//! "bundled"` and an absolute path, refreshed whenever a rebuild changes their checksum, and
//! dropped when their file disappears. A plugin the user installed under the same name wins.

use std::path::{Path, PathBuf};

use hpo_registry::{Origin, PluginKind, sha256_file};

use super::host::entry_of;
use super::{HostError, PluginHost};
use crate::loader::{self, LoadOptions};

/// File-name prefix of first-party plugin libraries (after the platform's library prefix).
pub const BUNDLED_PREFIX: &str = "hpo_";

/// The directory bundled plugins are looked for in: the running executable's.
pub fn executable_dir() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok())
        .and_then(|p| p.parent().map(Path::to_path_buf))
}

fn bundled_libraries(dir: &Path) -> Vec<PathBuf> {
    let prefix = format!("{}{}", std::env::consts::DLL_PREFIX, BUNDLED_PREFIX);
    let suffix = std::env::consts::DLL_SUFFIX;
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(suffix))
        })
        .collect();
    found.sort();
    found
}

/// Registers or refreshes the bundled plugins found in `dir`; returns the names changed.
pub fn register_bundled(host: &mut PluginHost, dir: &Path) -> Result<Vec<String>, HostError> {
    let mut fresh = Vec::new();
    let mut seen = Vec::new();
    for library in bundled_libraries(dir) {
        let sha256 = sha256_file(&library)?;
        let path = library.to_string_lossy().into_owned();
        let current = host
            .registry()
            .plugins()
            .iter()
            .find(|e| e.origin == Origin::Bundled && e.path == path);
        if let Some(entry) = current {
            seen.push(entry.name.clone());
            if entry.sha256 == sha256 {
                continue;
            }
        }
        let plugin = match loader::load_plugin(
            &library,
            LoadOptions {
                kind: PluginKind::Native,
                limits: None,
                precompiled: None,
            },
            host.runtime(),
        ) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("bundled plugin {} not registered: {e}", library.display());
                continue;
            }
        };
        let (info, rules) = (plugin.info, (plugin.stoppers, plugin.schedulers));
        if let Ok(existing) = host.registry().get(&info.name)
            && existing.origin == Origin::Installed
        {
            tracing::debug!(
                "bundled plugin '{}' shadowed by an installed plugin of that name",
                info.name
            );
            continue;
        }
        seen.push(info.name.clone());
        fresh.push(entry_of(
            info,
            rules,
            PluginKind::Native,
            path,
            sha256,
            Origin::Bundled,
        ));
    }
    let stale: Vec<String> = host
        .registry()
        .plugins()
        .iter()
        .filter(|e| {
            e.origin == Origin::Bundled
                && !seen.contains(&e.name)
                && !fresh.iter().any(|f| f.name == e.name)
                && (Path::new(&e.path).starts_with(dir) || !Path::new(&e.path).exists())
        })
        .map(|e| e.name.clone())
        .collect();
    if fresh.is_empty() && stale.is_empty() {
        return Ok(Vec::new());
    }
    let changed: Vec<String> = fresh
        .iter()
        .map(|e| e.name.clone())
        .chain(stale.iter().cloned())
        .collect();
    host.upsert_bundled(fresh, stale)?;
    Ok(changed)
}
