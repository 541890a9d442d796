//! The `hpo plugin` commands' logic: install, remove, verify, and loading a registered
//! plugin by name. Library code: it returns data and errors, the CLI prints them.
//!
//! Invariants: an install that fails leaves the registry and its directory as they were;
//! every load verifies the artifact's sha256 (and the precompiled code's) first; a
//! third-party native plugin needs an explicit `allow_native`, because loading it runs its
//! code unsandboxed.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hpo_registry::{
    Origin, PluginEntry, PluginKind, Precompiled, Registry, RegistryError, sha256_bytes,
    sha256_file,
};

use hpo_plugin_api::types::PluginInfo;

use crate::loader::{self, LoadOptions, Plugin, PluginError, WasmLimits, WasmRuntime};

/// Errors of the plugin commands.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The registry refused.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A plugin could not be loaded.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The command's input is wrong.
    #[error("{0}")]
    Input(String),
    /// No place for the registry.
    #[error(transparent)]
    Home(#[from] super::home::NoHome),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> HostError + '_ {
    move |source| HostError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Options of `hpo plugin install`.
#[derive(Debug, Clone, Copy, Default)]
pub struct InstallOptions {
    /// Replace an installed plugin of the same name.
    pub force: bool,
    /// Accept native (unsandboxed) plugins.
    pub allow_native: bool,
}

/// The outcome of verifying one entry.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// The plugin.
    pub name: String,
    /// Empty when the entry is fine; otherwise what is wrong.
    pub problems: Vec<String>,
}

/// The registry plus the runtime that loads what it lists.
pub struct PluginHost {
    registry: Registry,
    runtime: Arc<WasmRuntime>,
}

impl PluginHost {
    /// Opens the registry at `path` (it need not exist yet).
    pub fn open(path: impl Into<PathBuf>, runtime: Arc<WasmRuntime>) -> Result<Self, HostError> {
        Ok(PluginHost {
            registry: Registry::open(path)?,
            runtime,
        })
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The wasm runtime.
    pub fn runtime(&self) -> &Arc<WasmRuntime> {
        &self.runtime
    }

    /// Where installed artifacts are copied.
    fn plugins_dir(&self) -> PathBuf {
        self.registry.dir().join("plugins")
    }

    /// Where precompiled wasm code is kept.
    fn cache_dir(&self) -> PathBuf {
        self.registry.dir().join("cache")
    }

    /// Loads the plugin registered as `name`, after verifying its checksums.
    pub fn load(&self, name: &str) -> Result<Plugin, HostError> {
        let entry = self.registry.get(name)?;
        let plugin = self.load_entry(entry)?;
        if plugin.info.name != entry.name {
            return Err(HostError::Input(format!(
                "plugin '{}' in the registry reports the name '{}': reinstall it",
                entry.name, plugin.info.name
            )));
        }
        Ok(plugin)
    }

    fn load_entry(&self, entry: &PluginEntry) -> Result<Plugin, HostError> {
        let artifact = self.registry.verified_artifact(entry)?;
        let precompiled = self.usable_precompiled(entry)?;
        Ok(loader::load_plugin(
            &artifact,
            LoadOptions {
                kind: entry.kind,
                limits: entry.limits,
                precompiled: precompiled.as_deref(),
            },
            &self.runtime,
        )?)
    }

    /// The entry's `.cwasm` when it was made under this engine and is unmodified.
    fn usable_precompiled(&self, entry: &PluginEntry) -> Result<Option<PathBuf>, HostError> {
        let Some(pre) = &entry.precompiled else {
            return Ok(None);
        };
        let key = self
            .runtime
            .engine_key(WasmLimits::from_registry(entry.limits))?;
        if pre.engine != key {
            tracing::info!(
                plugin = %entry.name,
                "precompiled code is for another engine ({}); compiling instead",
                pre.engine
            );
            return Ok(None);
        }
        let path = self.registry.resolve(&pre.path);
        match sha256_file(&path) {
            Ok(sha) if sha == pre.sha256 => Ok(Some(path)),
            Ok(_) => Err(HostError::Input(format!(
                "plugin '{}': precompiled code {} was modified after install; \
                 reinstall the plugin with `hpo plugin install --force`",
                entry.name,
                path.display()
            ))),
            Err(e) => {
                tracing::warn!("{e}; compiling instead");
                Ok(None)
            }
        }
    }

    /// Installs the plugin at `path`, or every plugin artifact in the directory `path`.
    pub fn install(
        &mut self,
        path: &Path,
        options: InstallOptions,
    ) -> Result<Vec<PluginEntry>, HostError> {
        let artifacts = artifacts_at(path)?;
        let mut staged = Vec::new();
        for artifact in &artifacts {
            match self.stage(artifact, options) {
                Ok(s) => staged.push(s),
                Err(e) => {
                    staged.iter().for_each(Staged::discard);
                    return Err(e);
                }
            }
        }
        for s in &staged {
            if let Err(e) = self.registry.insert(s.entry.clone(), options.force) {
                staged.iter().for_each(Staged::discard);
                self.registry = Registry::open(self.registry.path())?;
                return Err(e.into());
            }
        }
        if let Err(e) = self.registry.save() {
            staged.iter().for_each(Staged::discard);
            return Err(e.into());
        }
        Ok(staged.into_iter().map(|s| s.entry).collect())
    }

    /// Checks one artifact and copies it (and its precompiled code) under the registry.
    fn stage(&self, artifact: &Path, options: InstallOptions) -> Result<Staged, HostError> {
        let kind = loader::kind_of(artifact).ok_or_else(|| {
            HostError::Input(format!(
                "{}: not a plugin (expected a .wasm component or a native library)",
                artifact.display()
            ))
        })?;
        if kind == PluginKind::Native && !options.allow_native {
            return Err(HostError::Input(format!(
                "{}: a native plugin runs unsandboxed with your permissions; \
                 install it only if you trust it, with --allow-native",
                artifact.display()
            )));
        }
        let bytes = fs::read(artifact).map_err(io_error(artifact))?;
        let mut written = Vec::new();
        match self.stage_files(artifact, kind, &bytes, options, &mut written) {
            Ok(entry) => Ok(Staged { entry, written }),
            Err(e) => {
                remove_all(&written);
                Err(e)
            }
        }
    }

    /// Writes the precompiled code (wasm) and the artifact's copy under the registry,
    /// recording in `written` every file it created (files that existed before, the same
    /// artifact installed already, are not); returns the registry entry.
    fn stage_files(
        &self,
        artifact: &Path,
        kind: PluginKind,
        bytes: &[u8],
        options: InstallOptions,
        written: &mut Vec<PathBuf>,
    ) -> Result<PluginEntry, HostError> {
        let sha256 = sha256_bytes(bytes);
        // Wasm is compiled once, to the precompiled cache, and loaded from there.
        let precompiled = match kind {
            PluginKind::Wasm => Some(self.precompile(artifact, bytes, &sha256, written)?),
            PluginKind::Native => None,
        };
        let plugin = loader::load_plugin(
            artifact,
            LoadOptions {
                kind,
                limits: None,
                precompiled: precompiled.as_ref().map(|(path, _)| path.as_path()),
            },
            &self.runtime,
        )?;
        let (info, rules) = (plugin.info, (plugin.stoppers, plugin.schedulers));
        self.check_new(&info, artifact, options)?;
        let dest = self.plugins_dir().join(format!(
            "{}-{}.{}",
            info.name,
            info.version,
            artifact
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("bin")
        ));
        let existed = dest.exists();
        write_atomically(&dest, bytes)?;
        if !existed {
            written.push(dest.clone());
        }
        let mut entry = entry_of(
            info,
            rules,
            kind,
            relative_to(&dest, &self.registry.dir()),
            sha256,
            Origin::Installed,
        );
        entry.precompiled = precompiled.map(|(_, p)| p);
        Ok(entry)
    }

    /// Compiles a wasm component into the precompiled cache (`<sha256>-<engine>.cwasm`).
    fn precompile(
        &self,
        artifact: &Path,
        bytes: &[u8],
        sha256: &str,
        written: &mut Vec<PathBuf>,
    ) -> Result<(PathBuf, Precompiled), HostError> {
        let limits = WasmLimits::default();
        let code = self
            .runtime
            .precompile(bytes, limits)
            .map_err(|e| HostError::Input(format!("{}: {e}", artifact.display())))?;
        let engine = self.runtime.engine_key(limits)?;
        let cwasm = self.cache_dir().join(format!("{sha256}-{engine}.cwasm"));
        let existed = cwasm.exists();
        write_atomically(&cwasm, &code)?;
        if !existed {
            written.push(cwasm.clone());
        }
        let precompiled = Precompiled {
            path: relative_to(&cwasm, &self.registry.dir()),
            sha256: sha256_bytes(&code),
            engine,
        };
        Ok((cwasm, precompiled))
    }

    /// Checks a new plugin's info against the registry before anything is written.
    fn check_new(
        &self,
        info: &hpo_plugin_api::types::PluginInfo,
        artifact: &Path,
        options: InstallOptions,
    ) -> Result<(), HostError> {
        if !options.force && self.registry.get(&info.name).is_ok() {
            return Err(RegistryError::Duplicate(info.name.clone()).into());
        }
        semver::Version::parse(&info.version).map_err(|e| {
            HostError::Input(format!(
                "{}: plugin version '{}' is not semver: {e}",
                artifact.display(),
                info.version
            ))
        })?;
        Ok(())
    }

    /// Removes the plugin `name` and the files install copied for it.
    pub fn remove(&mut self, name: &str) -> Result<PluginEntry, HostError> {
        let entry = self.registry.get(name)?.clone();
        if entry.origin == Origin::Bundled {
            return Err(HostError::Input(format!(
                "plugin '{name}' is bundled with hpo (registered from the executable's directory) \
                 and cannot be removed"
            )));
        }
        self.registry.remove(name)?;
        self.registry.save()?;
        let owned = self.registry.dir();
        for recorded in
            std::iter::once(&entry.path).chain(entry.precompiled.as_ref().map(|p| &p.path))
        {
            let path = self.registry.resolve(recorded);
            if path.starts_with(&owned) {
                let _ = fs::remove_file(&path);
            }
        }
        Ok(entry)
    }

    /// Checks every entry: checksums, loadability, API compatibility, and that the plugin
    /// still says what the registry recorded.
    pub fn verify(&self) -> Vec<VerifyReport> {
        self.registry
            .plugins()
            .iter()
            .map(|entry| {
                let mut problems = Vec::new();
                match self.load_entry(entry) {
                    Ok(plugin) => {
                        let info = &plugin.info;
                        if info.name != entry.name {
                            problems.push(format!("reports the name '{}'", info.name));
                        }
                        if info.version != entry.version {
                            problems.push(format!(
                                "reports version {} (registry: {})",
                                info.version, entry.version
                            ));
                        }
                        if info.arms != entry.arms
                            || info.strategies != entry.strategies
                            || plugin.stoppers != entry.stoppers
                            || plugin.schedulers != entry.schedulers
                        {
                            problems.push(
                                "its arms, strategies, stoppers or schedulers differ from the \
                                 registry's"
                                    .into(),
                            );
                        }
                    }
                    Err(e) => problems.push(e.to_string()),
                }
                VerifyReport {
                    name: entry.name.clone(),
                    problems,
                }
            })
            .collect()
    }

    /// Adds or refreshes an entry without copying (bundled plugins), and saves.
    pub(crate) fn upsert_bundled(
        &mut self,
        entries: Vec<PluginEntry>,
        stale: Vec<String>,
    ) -> Result<(), HostError> {
        for name in stale {
            self.registry.remove(&name)?;
        }
        for entry in entries {
            self.registry.insert(entry, true)?;
        }
        self.registry.save()?;
        Ok(())
    }
}

struct Staged {
    entry: PluginEntry,
    written: Vec<PathBuf>,
}

impl Staged {
    fn discard(&self) {
        remove_all(&self.written);
    }
}

/// Removes the files an install wrote before it failed.
fn remove_all(written: &[PathBuf]) {
    for p in written {
        let _ = fs::remove_file(p);
    }
}

/// The artifacts at `path`: the file itself, or the plugin files in the directory.
fn artifacts_at(path: &Path) -> Result<Vec<PathBuf>, HostError> {
    let meta =
        fs::metadata(path).map_err(|e| HostError::Input(format!("{}: {e}", path.display())))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut found: Vec<PathBuf> = fs::read_dir(path)
        .map_err(io_error(path))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && loader::kind_of(p).is_some())
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(HostError::Input(format!(
            "{}: no plugin artifacts (.wasm components or native libraries) in this directory",
            path.display()
        )));
    }
    Ok(found)
}

/// The registry entry of a loaded plugin's `info`, for the artifact at `path` (relative to
/// the registry's directory, or absolute) with checksum `sha256`.
pub(super) fn entry_of(
    info: PluginInfo,
    (stoppers, schedulers): (Vec<String>, Vec<String>),
    kind: PluginKind,
    path: String,
    sha256: String,
    origin: Origin,
) -> PluginEntry {
    PluginEntry {
        name: info.name,
        version: info.version,
        api: info.api_version,
        kind,
        path,
        sha256,
        arms: info.arms,
        strategies: info.strategies,
        stoppers,
        schedulers,
        description: info.description,
        origin,
        limits: None,
        precompiled: None,
    }
}

/// Writes `bytes` to `dest` atomically (see [`hpo_registry::write_atomically`]).
fn write_atomically(dest: &Path, bytes: &[u8]) -> Result<(), HostError> {
    hpo_registry::write_atomically(dest, bytes).map_err(io_error(dest))
}

/// `path` relative to `base` when it lies inside it, else absolute.
fn relative_to(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}
