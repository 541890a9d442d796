//! `cargo xtask`: the project's build and test entry points.
//!
//! - `cargo xtask build [--release]`: the host, the first-party native plugins, the native
//!   test fixture, and every wasm plugin (always optimized: small artifacts compile to
//!   native code quickly at install). Artifacts land under the cargo target directory:
//!   `<target>/<profile>/hpo`, `<target>/<profile>/libhpo_*.so`, and
//!   `<target>/wasm32-wasip2/release/*.wasm`.
//! - `cargo xtask test`: `build`, then every test of the workspace.
//! - `cargo xtask lint`: `cargo fmt --check` and clippy with warnings denied.
//! - `cargo xtask bench`: the criterion benchmarks (release).

use std::process::{Command, ExitCode};

/// Wasm plugins built by `cargo xtask build`.
const WASM_PACKAGES: [&str; 7] = [
    "hpo-plugin-random",
    "hpo-plugin-rf",
    "hpo-plugin-gp",
    "hpo-plugin-tpe",
    "hpo-plugin-bandit",
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
        Some("test") => build(false)
            .and_then(|()| run(cargo().args(["test", "--workspace", "--exclude", "xtask"]))),
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
