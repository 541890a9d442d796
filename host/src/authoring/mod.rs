//! `hpo plugin new`: writes a ready plugin project, a Rust crate (native and wasm from one
//! source) or a Python project (a componentize-py component), with a working example
//! algorithm, its README, and the plugin contract vendored in so that it builds outside
//! this repository.
//!
//! The templates live in `templates/` and the contract's sources in `plugin-api/`; both
//! are embedded in the binary, so a generated project matches the host that made it.

use std::path::{Path, PathBuf};

/// Which plugin role the project provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// A model with acquisitions (`MODEL/ACQ`).
    Arm,
    /// A bandit strategy choosing among arms.
    Strategy,
    /// Early termination: stops trials from their learning curves.
    Stopper,
    /// Multi-fidelity: gives trials budgets and promotes configurations.
    Scheduler,
}

/// The language of the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A Rust crate: a wasm component or a native library.
    Rust,
    /// A Python project built into a wasm component by componentize-py.
    Python,
}

/// Why a project could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AuthoringError {
    /// The input is wrong (exit code 2).
    #[error("{0}")]
    Input(String),
    /// Writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// A project to write.
#[derive(Debug, Clone)]
pub struct NewPlugin {
    /// The plugin's name (lowercase letters, digits and `-`).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its language.
    pub lang: Lang,
    /// Where to write it (must not exist, or be empty).
    pub dir: PathBuf,
}

/// The files of the contract a Rust project vendors, by path under `plugin-api/`.
const CONTRACT: &[(&str, &str)] = &[
    ("src/lib.rs", include_str!("../../../plugin-api/src/lib.rs")),
    (
        "src/conversions.rs",
        include_str!("../../../plugin-api/src/conversions.rs"),
    ),
    (
        "src/native.rs",
        include_str!("../../../plugin-api/src/native.rs"),
    ),
    ("src/sdk.rs", include_str!("../../../plugin-api/src/sdk.rs")),
    (
        "src/space.rs",
        include_str!("../../../plugin-api/src/space.rs"),
    ),
    (
        "src/types.rs",
        include_str!("../../../plugin-api/src/types.rs"),
    ),
    (
        "src/wasm.rs",
        include_str!("../../../plugin-api/src/wasm.rs"),
    ),
    (
        "wit/hpo.wit",
        include_str!("../../../plugin-api/wit/hpo.wit"),
    ),
];

const WIT: &str = include_str!("../../../plugin-api/wit/hpo.wit");
const PYTHON_SDK: &str = include_str!("../../../plugin-api/python/hpo_plugin/__init__.py");
const LOCKFILE: &str = include_str!("../../../Cargo.lock");

mod rust_templates {
    pub const CARGO: &str = include_str!("../../../templates/rust/Cargo.toml");
    pub const CARGO_CONFIG: &str = include_str!("../../../templates/rust/cargo-config.toml");
    pub const VENDOR_CARGO: &str = include_str!("../../../templates/rust/vendor-Cargo.toml");
    pub const README: &str = include_str!("../../../templates/rust/README.md");
    pub const ARM: &str = include_str!("../../../templates/rust/arm.rs");
    pub const STRATEGY: &str = include_str!("../../../templates/rust/strategy.rs");
    pub const STOPPER: &str = include_str!("../../../templates/rust/stopper.rs");
    pub const SCHEDULER: &str = include_str!("../../../templates/rust/scheduler.rs");
}

mod python_templates {
    pub const README: &str = include_str!("../../../templates/python/README.md");
    pub const BUILD: &str = include_str!("../../../templates/python/build.sh");
    pub const ARM: &str = include_str!("../../../templates/python/arm.py");
    pub const STRATEGY: &str = include_str!("../../../templates/python/strategy.py");
    pub const STOPPER: &str = include_str!("../../../templates/python/stopper.py");
    pub const SCHEDULER: &str = include_str!("../../../templates/python/scheduler.py");
}

/// Checks a plugin name: it becomes a package name and a file name.
pub fn check_name(name: &str) -> Result<(), AuthoringError> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(AuthoringError::Input(format!(
            "plugin name '{name}': use lowercase letters, digits and '-', starting with a letter \
             (it names the package and the artifact)"
        )))
    }
}

/// Writes the project; returns the files written, relative to `new.dir`.
pub fn create(new: &NewPlugin) -> Result<Vec<PathBuf>, AuthoringError> {
    check_name(&new.name)?;
    let files = match new.lang {
        Lang::Rust => rust_files(new),
        Lang::Python => python_files(new),
    };
    check_target(&new.dir)?;
    for (path, text) in &files {
        write(&new.dir.join(path), text)?;
    }
    #[cfg(unix)]
    if new.lang == Lang::Python {
        use std::os::unix::fs::PermissionsExt;
        let script = new.dir.join("build.sh");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).map_err(
            |source| AuthoringError::Io {
                path: script,
                source,
            },
        )?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

/// The directory must not exist, or be empty: nothing of the user's is overwritten.
fn check_target(dir: &Path) -> Result<(), AuthoringError> {
    match std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()) {
        Ok(false) => Err(AuthoringError::Input(format!(
            "{}: the directory exists and is not empty; choose another --dir",
            dir.display()
        ))),
        Ok(true) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(AuthoringError::Io {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

fn write(path: &Path, text: &str) -> Result<(), AuthoringError> {
    let io = |source| AuthoringError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, text).map_err(io)
}

/// The placeholders of the templates and their values for `new`.
fn substitutions(new: &NewPlugin) -> Vec<(&'static str, String)> {
    let model = new.name.to_ascii_uppercase();
    let crate_name = new.name.replace('-', "_");
    let (role, what) = match new.role {
        Role::Arm => (
            "arm",
            format!("the arm {model}/NEAREST, a local search near the incumbent"),
        ),
        Role::Strategy => (
            "strategy",
            format!("the strategy {model}, epsilon-greedy over the arms' rewards"),
        ),
        Role::Stopper => (
            "stopper",
            format!("the early-termination rule {model}, a quantile of the peers at each epoch"),
        ),
        Role::Scheduler => (
            "scheduler",
            format!(
                "the scheduler {model}, the best third of each batch of short trials trained fully"
            ),
        ),
    };
    let usage = match new.role {
        Role::Arm => format!(
            "hpo run --objective fn:branin -m {model} -s NEAREST      # the arm alone\n\
             # or beside others, in a run configuration's \"arms\": {{ \"model\": \"{model}\", \"acq_func\": \"NEAREST\" }}"
        ),
        Role::Strategy => format!(
            "hpo run --objective fn:branin -m DIV -s {model}         # over the default arms"
        ),
        Role::Stopper => format!(
            "hpo run -m DIV -s SEQ -etr {model}       # on the bundled table (per-epoch curves)"
        ),
        Role::Scheduler => format!(
            "hpo run -m DIV -s SEQ -etr {model}       # on the bundled table (budgets in epochs)"
        ),
    };
    vec![
        ("{{name}}", new.name.clone()),
        ("{{MODEL}}", model),
        ("{{crate}}", crate_name),
        ("{{role}}", role.to_string()),
        ("{{what}}", what),
        ("{{use}}", usage),
        ("{{api_version}}", hpo_plugin_api::API_VERSION.to_string()),
    ]
}

fn fill(template: &str, substitutions: &[(&'static str, String)]) -> String {
    substitutions
        .iter()
        .fold(template.to_string(), |text, (key, value)| {
            text.replace(key, value)
        })
}

fn rust_files(new: &NewPlugin) -> Vec<(PathBuf, String)> {
    use rust_templates as t;
    let subs = substitutions(new);
    let source = match new.role {
        Role::Arm => t::ARM,
        Role::Strategy => t::STRATEGY,
        Role::Stopper => t::STOPPER,
        Role::Scheduler => t::SCHEDULER,
    };
    let mut files = vec![
        ("Cargo.toml".into(), fill(t::CARGO, &subs)),
        (".cargo/config.toml".into(), t::CARGO_CONFIG.to_string()),
        ("src/lib.rs".into(), fill(source, &subs)),
        ("README.md".into(), fill(t::README, &subs)),
        // The versions this host's plugins were built and tested with; cargo drops what
        // the project does not use.
        ("Cargo.lock".into(), LOCKFILE.to_string()),
        (".gitignore".into(), "/target\n".to_string()),
        (
            "vendor/hpo-plugin-api/Cargo.toml".into(),
            fill(t::VENDOR_CARGO, &subs),
        ),
    ];
    for (path, text) in CONTRACT {
        files.push((
            Path::new("vendor/hpo-plugin-api").join(path),
            text.to_string(),
        ));
    }
    files
}

fn python_files(new: &NewPlugin) -> Vec<(PathBuf, String)> {
    use python_templates as t;
    let subs = substitutions(new);
    let source = match new.role {
        Role::Arm => t::ARM,
        Role::Strategy => t::STRATEGY,
        Role::Stopper => t::STOPPER,
        Role::Scheduler => t::SCHEDULER,
    };
    vec![
        ("app.py".into(), fill(source, &subs)),
        ("build.sh".into(), fill(t::BUILD, &subs)),
        ("README.md".into(), fill(t::README, &subs)),
        ("hpo_plugin/__init__.py".into(), PYTHON_SDK.to_string()),
        ("wit/hpo.wit".into(), WIT.to_string()),
        (".gitignore".into(), "*.wasm\n__pycache__/\n".to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_source_is_vendored() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-api/src");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| format!("src/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        on_disk.sort();
        let mut vendored: Vec<String> = CONTRACT
            .iter()
            .map(|(p, _)| p.to_string())
            .filter(|p| p.starts_with("src/"))
            .collect();
        vendored.sort();
        assert_eq!(on_disk, vendored, "add new plugin-api sources to CONTRACT");
    }

    #[test]
    fn the_vendored_manifest_pins_the_workspace_versions() {
        let workspace: toml::Table =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
                .unwrap()
                .parse()
                .unwrap();
        let deps = &workspace["workspace"]["dependencies"];
        let vendored: toml::Table = rust_templates::VENDOR_CARGO.parse().unwrap();
        let wasm = &vendored["target"]["cfg(target_family = \"wasm\")"]["dependencies"];
        assert_eq!(
            wasm["wit-bindgen"]["version"],
            deps["wit-bindgen"]["version"]
        );
        let native = &vendored["target"]["cfg(not(target_family = \"wasm\"))"]["dependencies"];
        assert_eq!(
            native["abi_stable"]["version"],
            deps["abi_stable"]["version"]
        );
    }

    #[test]
    fn names_become_packages_and_files() {
        assert!(check_name("my-search2").is_ok());
        for bad in ["", "My", "2x", "a_b", "a-", "a b", "a/b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_project_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keep"), "mine").unwrap();
        let new = NewPlugin {
            name: "x".into(),
            role: Role::Arm,
            lang: Lang::Python,
            dir: dir.path().to_path_buf(),
        };
        assert!(matches!(create(&new), Err(AuthoringError::Input(_))));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("keep")).unwrap(),
            "mine"
        );
    }

    #[test]
    fn the_rust_arm_and_scheduler_templates_are_at_most_fifty_lines_of_code() {
        for template in [rust_templates::ARM, rust_templates::SCHEDULER] {
            let code = template
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("//") && !l.starts_with("use "))
                .count();
            assert!(code <= 50, "{code} lines");
        }
    }
}
