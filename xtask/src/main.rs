//! `cargo xtask`: the project's build and test entry points.
//!
//! - `cargo xtask build [--release]`: the host, the first-party native plugins, the native
//!   test fixture, and every wasm plugin (always optimized: small artifacts compile to
//!   native code quickly at install). Artifacts land under the cargo target directory:
//!   `<target>/<profile>/hpo`, `<target>/<profile>/libhpo_*.so`, and
//!   `<target>/wasm32-wasip2/release/*.wasm`.
//! - `cargo xtask test`: `build`, then every test of the workspace. The Python plugin
//!   tests need componentize-py and the service's tests schemathesis: each is
//!   `$HPO_COMPONENTIZE_PY` / `$HPO_SCHEMATHESIS`, else one on the PATH of the pinned minor
//!   version, else it is installed from PyPI into a virtual environment under the target
//!   directory (kept between runs). The shared-store tests need a PostgreSQL server:
//!   `$HPO_TEST_POSTGRES`, else a throw-away one started from Debian's `postgresql`
//!   package for the run ([`postgres`]).
//! - `cargo xtask lint`: `cargo fmt --check` and clippy with warnings denied.
//! - `cargo xtask bench`: the criterion benchmarks (release).

mod postgres;

use std::process::{Command, ExitCode};

/// Wasm plugins built by `cargo xtask build`.
const WASM_PACKAGES: [&str; 8] = [
    "hpo-plugin-random",
    "hpo-plugin-rf",
    "hpo-plugin-gp",
    "hpo-plugin-tpe",
    "hpo-plugin-bandit",
    "hpo-plugin-stop",
    "example-local-search",
    "example-hostile",
];

/// The wasm target plugins are built for.
const WASM_TARGET: &str = "wasm32-wasip2";

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(command: &mut Command) -> Result<(), String> {
    eprintln!("xtask: {command:?}");
    let status = command
        .status()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed with {status}"))
    }
}

fn ensure_wasm_target() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(out) if String::from_utf8_lossy(&out.stdout).contains(WASM_TARGET) => Ok(()),
        Ok(_) => run(Command::new("rustup").args(["target", "add", WASM_TARGET])),
        // No rustup: assume the toolchain has the target (cargo says so clearly if not).
        Err(_) => Ok(()),
    }
}

/// A Python tool the tests need, pinned: `$ENV` when set, else `program` on the PATH at
/// the pinned minor version, else installed from PyPI into a virtual environment under the
/// target directory (kept between runs).
struct PythonTool {
    package: &'static str,
    version: &'static str,
    program: &'static str,
    env: &'static str,
}

/// The componentize-py the Python plugins are built with.
const COMPONENTIZE_PY: PythonTool = PythonTool {
    package: "componentize-py",
    version: "0.25.1",
    program: "componentize-py",
    env: "HPO_COMPONENTIZE_PY",
};

/// The API fuzzer run against `hpo serve`'s OpenAPI document.
const SCHEMATHESIS: PythonTool = PythonTool {
    package: "schemathesis",
    version: "4.32.5",
    program: "schemathesis",
    env: "HPO_SCHEMATHESIS",
};

impl PythonTool {
    /// The program to run (see the type's doc).
    fn locate(&self) -> Result<String, String> {
        if let Ok(program) = std::env::var(self.env) {
            return Ok(program);
        }
        let minor = &self.version[..self.version.rfind('.').unwrap_or(0)];
        let version = |program: &str| {
            Command::new(program)
                .arg("--version")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        if version(self.program).contains(&format!(" {minor}.")) {
            return Ok(self.program.into());
        }
        let target = target_dir();
        let venv = format!("{target}/{}-{}", self.package, self.version);
        let program = format!("{venv}/bin/{}", self.program);
        if !version(&program).contains(self.version) {
            run(Command::new("python3").args(["-m", "venv", &venv]))?;
            run(Command::new(format!("{venv}/bin/pip")).args([
                "install",
                "--quiet",
                &format!("{}=={}", self.package, self.version),
            ]))?;
        }
        Ok(program)
    }
}

fn test() -> Result<(), String> {
    build(false)?;
    let mut tests = cargo();
    tests.args(["test", "--workspace", "--exclude", "xtask"]);
    for tool in [COMPONENTIZE_PY, SCHEMATHESIS] {
        tests.env(tool.env, tool.locate()?);
    }
    let server = postgres::TestServer::start()?;
    tests.env(postgres::URL_ENV, &server.url);
    run(&mut tests)
}

/// The cargo target directory.
fn target_dir() -> String {
    std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| format!("{}/../target", env!("CARGO_MANIFEST_DIR")))
}

fn build(release: bool) -> Result<(), String> {
    ensure_wasm_target()?;
    let mut native = cargo();
    native.args([
        "build",
        "-p",
        "hpo",
        "-p",
        "hpo-plugin-random",
        "-p",
        "hpo-plugin-rf",
        "-p",
        "hpo-plugin-gp",
        "-p",
        "hpo-plugin-tpe",
        "-p",
        "hpo-plugin-bandit",
        "-p",
        "hpo-plugin-stop",
        "-p",
        "example-hostile",
    ]);
    if release {
        native.arg("--release");
    }
    run(&mut native)?;
    let mut wasm = cargo();
    wasm.args(["build", "--release", "--target", WASM_TARGET]);
    for p in WASM_PACKAGES {
        wasm.args(["-p", p]);
    }
    run(&mut wasm)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let release = args.iter().any(|a| a == "--release");
    let result = match args.first().map(String::as_str) {
        Some("build") => build(release),
        Some("test") => test(),
        Some("lint") => run(cargo().args(["fmt", "--all", "--", "--check"]))
            .and_then(|()| {
                run(cargo().args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ]))
            })
            .and_then(|()| {
                let mut wasm = cargo();
                wasm.args(["clippy", "--target", WASM_TARGET]);
                for p in WASM_PACKAGES {
                    wasm.args(["-p", p]);
                }
                run(wasm.args(["--", "-D", "warnings"]))
            }),
        Some("bench") => build(true).and_then(|()| run(cargo().args(["bench", "-p", "hpo"]))),
        _ => Err("usage: cargo xtask build [--release] | test | lint | bench".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
