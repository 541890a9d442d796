//! Helpers shared by the end-to-end tests: where the built artifacts are, a private
//! `HPO_HOME` per test, and running the `hpo` binary.
//!
//! The artifacts come from `cargo xtask build` (the README's test command runs it first).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `hpo` binary under test.
pub fn hpo_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hpo"))
}

/// The cargo target directory the binary was built in.
pub fn target_dir() -> PathBuf {
    hpo_bin()
        .parent()
        .and_then(Path::parent)
        .expect("the binary lives in <target>/<profile>/")
        .to_path_buf()
}

fn must_exist(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: build the plugins first with `cargo xtask build` \
         (or run the tests with `cargo xtask test`)",
        path.display()
    );
    path
}

/// A wasm plugin built by `cargo xtask build`, e.g. `example_hostile`.
pub fn wasm(name: &str) -> PathBuf {
    must_exist(
        target_dir()
            .join("wasm32-wasip2")
            .join("release")
            .join(format!("{name}.wasm")),
    )
}

/// A native plugin library next to the binary, e.g. `hpo_random`.
pub fn native(name: &str) -> PathBuf {
    let bin = hpo_bin();
    let dir = bin.parent().expect("binary has a directory");
    must_exist(dir.join(format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )))
}

/// Copies `src` to `dest` with the embedded plugin API version replaced by `version`
/// (same length as the real one), to make an incompatible plugin out of a real one.
pub fn with_api_version(src: &Path, dest: &Path, version: &str) {
    let marker = hpo_plugin_api::API_VERSION_MARKER.as_bytes();
    let replacement = format!("hpo-plugin-api-version={version};");
    assert_eq!(
        replacement.len(),
        marker.len(),
        "version must keep the length"
    );
    let mut bytes = std::fs::read(src).unwrap();
    let mut patched = 0;
    let mut i = 0;
    while i + marker.len() <= bytes.len() {
        if &bytes[i..i + marker.len()] == marker {
            bytes[i..i + marker.len()].copy_from_slice(replacement.as_bytes());
            patched += 1;
            i += marker.len();
        } else {
            i += 1;
        }
    }
    assert!(
        patched > 0,
        "{} carries no API version marker",
        src.display()
    );
    std::fs::write(dest, bytes).unwrap();
}

/// A private `HPO_HOME` for one test.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Self {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn registry(&self) -> PathBuf {
        self.path().join("registry.toml")
    }

    /// The registry file's bytes (empty when it does not exist).
    pub fn registry_bytes(&self) -> Vec<u8> {
        std::fs::read(self.registry()).unwrap_or_default()
    }

    /// Runs `hpo` with this home.
    pub fn hpo(&self, args: &[&str]) -> Output {
        Command::new(hpo_bin())
            .args(args)
            .env("HPO_HOME", self.path())
            .env_remove("RUST_LOG")
            .output()
            .expect("hpo runs")
    }
}

/// Standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
