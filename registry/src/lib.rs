//! The hpo plugin registry: a TOML file listing installed plugins.
//!
//! ```toml
//! [[plugin]]
//! name = "gp"
//! version = "0.3.1"
//! api = "1.0.0"
//! kind = "native"
//! path = "plugins/libhpo_gp.so"   # relative to the registry file, or absolute
//! sha256 = "…"
//! arms = ["GP/EI"]
//! strategies = []
//! [plugin.limits]                  # wasm only, optional
//! timeout_ms = 10000
//! memory_mib = 512
//! ```
//!
//! Invariants: a write goes to a temporary file in the same directory which then replaces
//! the registry (a crash never leaves half a file); a plugin whose file no longer matches its
//! recorded sha256 is refused; this crate knows nothing of loading plugins.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Everything that can go wrong with the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The registry file is not valid TOML for the registry schema.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The registry file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A field holds a value the registry does not accept.
    #[error("{path}: plugin '{plugin}', field '{field}': {reason}")]
    Invalid {
        /// The registry file.
        path: PathBuf,
        /// The plugin entry.
        plugin: String,
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A plugin of that name is installed already.
    #[error("a plugin named '{0}' is installed already (use --force to replace it)")]
    Duplicate(String),
    /// No plugin of that name is installed.
    #[error("no plugin named '{name}' is installed (installed: {installed})")]
    NotFound {
        /// The name asked for.
        name: String,
        /// The installed names, comma-separated.
        installed: String,
    },
    /// The plugin file changed since it was installed.
    #[error(
        "plugin '{name}': checksum mismatch for {path} (recorded {expected}, file has {actual}); \
         the file was modified after install: reinstall it with `hpo plugin install --force`"
    )]
    Checksum {
        /// The plugin.
        name: String,
        /// The file.
        path: PathBuf,
        /// The recorded sha256.
        expected: String,
        /// The file's sha256.
        actual: String,
    },
    /// The plugin was built against an API version this host cannot load.
    #[error("{0}")]
    Api(#[from] ApiMismatch),
}

/// A plugin API version this host cannot load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin API {plugin} is incompatible with the host's API {host}: {reason}")]
pub struct ApiMismatch {
    /// The host's API version.
    pub host: String,
    /// The plugin's API version.
    pub plugin: String,
    /// Why.
    pub reason: String,
}

/// Checks that a plugin built against API `plugin` can be loaded by a host at API `host`:
/// same major version, and the plugin's minor version is not newer than the host's.
pub fn check_api_compatible(host: &str, plugin: &str) -> Result<(), ApiMismatch> {
    let mismatch = |reason: String| ApiMismatch {
        host: host.to_string(),
        plugin: plugin.to_string(),
        reason,
    };
    let h = semver::Version::parse(host).map_err(|e| mismatch(format!("host version: {e}")))?;
    let p = semver::Version::parse(plugin)
        .map_err(|e| mismatch(format!("not a semver version: {e}")))?;
    if h.major != p.major {
        return Err(mismatch(format!(
            "major versions differ ({} vs {})",
            p.major, h.major
        )));
    }
    if p.minor > h.minor {
        return Err(mismatch(format!(
            "the plugin needs API minor {} but this host has {}: upgrade hpo",
            p.minor, h.minor
        )));
    }
    Ok(())
}

/// How a plugin is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// A shared library with an abi_stable root module (runs unsandboxed).
    Native,
    /// A WebAssembly component (sandboxed).
    Wasm,
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PluginKind::Native => "native",
            PluginKind::Wasm => "wasm",
        })
    }
}

/// Where an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Installed by `hpo plugin install` (a copy under the registry directory).
    #[default]
    Installed,
    /// A first-party plugin next to the `hpo` executable, registered automatically and
    /// refreshed when the build changes it.
    Bundled,
}

/// Per-call limits of a wasm plugin; unset fields take the host's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock deadline of one call, in milliseconds (default 10 000).
    pub timeout_ms: Option<u64>,
    /// Memory cap of the instance, in MiB (default 512).
    pub memory_mib: Option<u64>,
    /// Fuel per call (deterministic instruction budget); off by default.
    pub fuel: Option<u64>,
}

/// A precompiled (native code) artifact of a wasm component that the host wrote itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Precompiled {
    /// Path of the `.cwasm`, relative to the registry file.
    pub path: String,
    /// Its sha256.
    pub sha256: String,
    /// The engine it was compiled for (wasmtime version and settings).
    pub engine: String,
}

/// One installed plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginEntry {
    /// Unique name.
    pub name: String,
    /// Semver of the plugin.
    pub version: String,
    /// Plugin API version it was built against.
    pub api: String,
    /// Native or wasm.
    pub kind: PluginKind,
    /// The artifact, relative to the registry file or absolute.
    pub path: String,
    /// sha256 of the artifact, hex.
    pub sha256: String,
    /// Arms it provides.
    #[serde(default)]
    pub arms: Vec<String>,
    /// Strategies it provides.
    #[serde(default)]
    pub strategies: Vec<String>,
    /// Stoppers (early-termination rules) it provides (API 1.2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stoppers: Vec<String>,
    /// Schedulers (multi-fidelity rules) it provides (API 1.2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedulers: Vec<String>,
    /// One line of description.
    #[serde(default)]
    pub description: String,
    /// Installed or bundled.
    #[serde(default)]
    pub origin: Origin,
    /// Wasm limits overriding the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// The precompiled component, for wasm plugins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precompiled: Option<Precompiled>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default, rename = "plugin")]
    plugins: Vec<PluginEntry>,
}

/// The registry file and its entries.
#[derive(Debug)]
pub struct Registry {
    path: PathBuf,
    plugins: Vec<PluginEntry>,
}

impl Registry {
    /// Opens the registry at `path`; a missing file is an empty registry.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, RegistryError> {
        let path = path.into();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(RegistryError::Io { path, source }),
        };
        let file: RegistryFile = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].lines().count().max(1))
                .unwrap_or(1);
            RegistryError::Parse {
                path: path.clone(),
                line,
                message: e.message().to_string(),
            }
        })?;
        let registry = Registry {
            path,
            plugins: file.plugins,
        };
        registry.validate()?;
        Ok(registry)
    }

    fn validate(&self) -> Result<(), RegistryError> {
        let invalid = |plugin: &str, field: &str, reason: String| RegistryError::Invalid {
            path: self.path.clone(),
            plugin: plugin.to_string(),
            field: field.to_string(),
            reason,
        };
        for (i, p) in self.plugins.iter().enumerate() {
            if p.name.trim().is_empty() {
                return Err(invalid(&format!("#{}", i + 1), "name", "is empty".into()));
            }
            if self.plugins[..i].iter().any(|q| q.name == p.name) {
                return Err(invalid(&p.name, "name", "appears twice".into()));
            }
            semver::Version::parse(&p.version)
                .map_err(|e| invalid(&p.name, "version", format!("not semver: {e}")))?;
            semver::Version::parse(&p.api)
                .map_err(|e| invalid(&p.name, "api", format!("not semver: {e}")))?;
            if p.sha256.len() != 64 || !p.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(&p.name, "sha256", "must be 64 hex digits".into()));
            }
            if p.limits.is_some() && p.kind == PluginKind::Native {
                return Err(invalid(
                    &p.name,
                    "limits",
                    "limits apply to wasm plugins only".into(),
                ));
            }
        }
        Ok(())
    }

    /// The registry file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory the registry file lives in (relative paths start here).
    pub fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// All entries, in file order.
    pub fn plugins(&self) -> &[PluginEntry] {
        &self.plugins
    }

    /// The entry named `name`.
    pub fn get(&self, name: &str) -> Result<&PluginEntry, RegistryError> {
        self.plugins
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| RegistryError::NotFound {
                name: name.to_string(),
                installed: self.installed_names(),
            })
    }

    /// Installed names, comma-separated (or "none").
    pub fn installed_names(&self) -> String {
        if self.plugins.is_empty() {
            "none".to_string()
        } else {
            self.plugins
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    }

    /// Adds an entry; replaces one of the same name only when `force`.
    pub fn insert(&mut self, entry: PluginEntry, force: bool) -> Result<(), RegistryError> {
        match self.plugins.iter().position(|p| p.name == entry.name) {
            Some(_) if !force => Err(RegistryError::Duplicate(entry.name)),
            Some(i) => {
                self.plugins[i] = entry;
                Ok(())
            }
            None => {
                self.plugins.push(entry);
                Ok(())
            }
        }
    }

    /// Removes and returns the entry named `name`.
    pub fn remove(&mut self, name: &str) -> Result<PluginEntry, RegistryError> {
        let i = self
            .plugins
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| RegistryError::NotFound {
                name: name.to_string(),
                installed: self.installed_names(),
            })?;
        Ok(self.plugins.remove(i))
    }

    /// Resolves a path recorded in the registry (relative to the registry file).
    pub fn resolve(&self, recorded: &str) -> PathBuf {
        let p = Path::new(recorded);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir().join(p)
        }
    }

    /// The artifact of `entry`, after checking that its sha256 is the recorded one.
    pub fn verified_artifact(&self, entry: &PluginEntry) -> Result<PathBuf, RegistryError> {
        let path = self.resolve(&entry.path);
        let actual = sha256_file(&path)?;
        if actual != entry.sha256 {
            return Err(RegistryError::Checksum {
                name: entry.name.clone(),
                path,
                expected: entry.sha256.clone(),
                actual,
            });
        }
        Ok(path)
    }

    /// Writes the registry: a temporary file in the same directory, then a rename.
    pub fn save(&self) -> Result<(), RegistryError> {
        let dir = self.dir();
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RegistryError::Io { path, source }
        };
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let mut text =
            String::from("# hpo plugin registry: written by `hpo plugin`; edit with care.\n\n");
        let body = toml::to_string_pretty(&RegistryFile {
            plugins: self.plugins.clone(),
        })
        .map_err(|e| RegistryError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        let _ = write!(text, "{body}");
        write_atomically(&self.path, text.as_bytes()).map_err(io(&self.path))
    }
}

/// Writes `bytes` to `dest` so that a crash never leaves half of it: a temporary file in the
/// same directory (created if needed), flushed to disk, then renamed over the destination.
pub fn write_atomically(dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(dest).map(|_| ()).map_err(|e| e.error)
}

/// The sha256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, RegistryError> {
    let mut file = fs::File::open(path).map_err(|source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|source| RegistryError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// The sha256 of bytes, as lowercase hex.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, path: &str, sha: &str) -> PluginEntry {
        PluginEntry {
            name: name.into(),
            version: "0.1.0".into(),
            api: "1.0.0".into(),
            kind: PluginKind::Wasm,
            path: path.into(),
            sha256: sha.into(),
            arms: vec!["X/EI".into()],
            strategies: vec![],
            stoppers: vec![],
            schedulers: vec![],
            description: String::new(),
            origin: Origin::Installed,
            limits: Some(Limits {
                timeout_ms: Some(500),
                memory_mib: None,
                fuel: None,
            }),
            precompiled: None,
        }
    }

    #[test]
    fn api_compatibility_follows_semver_rules() {
        assert!(check_api_compatible("1.2.0", "1.2.5").is_ok());
        assert!(check_api_compatible("1.2.0", "1.0.0").is_ok());
        let newer = check_api_compatible("1.2.0", "1.3.0").unwrap_err();
        assert!(newer.to_string().contains("1.3.0") && newer.to_string().contains("1.2.0"));
        let major = check_api_compatible("1.2.0", "2.0.0").unwrap_err();
        assert!(major.reason.contains("major"));
        assert!(check_api_compatible("1.0.0", "one").is_err());
    }

    #[test]
    fn round_trips_through_an_atomic_save() {
        let dir = tempfile::tempdir().unwrap();
        let artifact = dir.path().join("p.wasm");
        fs::write(&artifact, b"hello").unwrap();
        let sha = sha256_file(&artifact).unwrap();
        let mut reg = Registry::open(dir.path().join("registry.toml")).unwrap();
        assert!(reg.plugins().is_empty());
        reg.insert(entry("p", "p.wasm", &sha), false).unwrap();
        reg.save().unwrap();
        let reopened = Registry::open(dir.path().join("registry.toml")).unwrap();
        assert_eq!(reopened.plugins(), reg.plugins());
        assert_eq!(
            reopened.verified_artifact(&reopened.plugins()[0]).unwrap(),
            artifact
        );
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn duplicate_needs_force_and_remove_needs_a_known_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path().join("r.toml")).unwrap();
        let sha = "0".repeat(64);
        reg.insert(entry("p", "p.wasm", &sha), false).unwrap();
        assert!(matches!(
            reg.insert(entry("p", "q.wasm", &sha), false),
            Err(RegistryError::Duplicate(_))
        ));
        reg.insert(entry("p", "q.wasm", &sha), true).unwrap();
        assert_eq!(reg.get("p").unwrap().path, "q.wasm");
        let err = reg.remove("nope").unwrap_err().to_string();
        assert!(
            err.contains("nope") && err.contains("installed: p"),
            "{err}"
        );
    }

    #[test]
    fn tampered_artifact_fails_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let artifact = dir.path().join("p.wasm");
        fs::write(&artifact, b"hello").unwrap();
        let mut reg = Registry::open(dir.path().join("r.toml")).unwrap();
        reg.insert(
            entry("p", "p.wasm", &sha256_file(&artifact).unwrap()),
            false,
        )
        .unwrap();
        fs::write(&artifact, b"hellO").unwrap();
        let err = reg.verified_artifact(&reg.plugins()[0]).unwrap_err();
        assert!(matches!(err, RegistryError::Checksum { .. }), "{err}");
    }

    #[test]
    fn corrupt_toml_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.toml");
        fs::write(&path, "[[plugin]]\nname = \"p\"\nversion = = 1\n").unwrap();
        let err = Registry::open(&path).unwrap_err();
        match err {
            RegistryError::Parse { line, .. } => assert_eq!(line, 3),
            other => panic!("expected a parse error, got {other}"),
        }
    }

    #[test]
    fn bad_fields_name_plugin_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.toml");
        fs::write(
            &path,
            "[[plugin]]\nname = \"p\"\nversion = \"x\"\napi = \"1.0.0\"\nkind = \"wasm\"\n\
             path = \"p.wasm\"\nsha256 = \"00\"\n",
        )
        .unwrap();
        let err = Registry::open(&path).unwrap_err().to_string();
        assert!(
            err.contains("plugin 'p'") && err.contains("'version'"),
            "{err}"
        );
    }
}
