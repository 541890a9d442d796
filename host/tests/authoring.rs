//! Third-party authoring end to end: `hpo plugin new` projects built with their own
//! toolchains (cargo for Rust, componentize-py for Python), checked by `hpo plugin test`,
//! installed with `--check`, and used in diversified runs; the Python example arm chosen
//! by BO-HEDGE beside GP and TPE.
//!
//! The Python tests need componentize-py 0.25 (`pip install 'componentize-py==0.25.*'`, as
//! `.ci/run` does): on the PATH, or named by `$HPO_COMPONENTIZE_PY`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Home, run_json, stderr, stdout, target_dir};

/// The componentize-py command.
fn componentize_py() -> PathBuf {
    common::external_tool(
        "HPO_COMPONENTIZE_PY",
        "componentize-py",
        "install it with `pip install 'componentize-py==0.25.*'`",
    )
}

/// `hpo plugin new NAME ARGS` into `dir`/NAME; the project's directory.
fn generate(home: &Home, dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let project = dir.join(name);
    let mut full = vec!["plugin", "new", name, "--dir", project.to_str().unwrap()];
    full.extend_from_slice(args);
    let out = home.hpo(&full);
    assert!(out.status.success(), "{}", stderr(&out));
    project
}

/// Builds a generated Rust project for wasm; its component.
fn build_rust(project: &Path, crate_name: &str) -> PathBuf {
    // One target directory for every generated project, inside ours (kept between runs,
    // never shared with a workspace build).
    let target = target_dir().join("plugin-templates");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .current_dir(project)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "{}", stderr(&out));
    target.join(format!("wasm32-wasip2/release/{crate_name}.wasm"))
}

/// Builds a generated Python project with its own `build.sh`; its component.
fn build_python(project: &Path, name: &str) -> PathBuf {
    let tool = componentize_py();
    let dir = tool.parent().filter(|d| !d.as_os_str().is_empty());
    let path = match dir {
        Some(d) => format!(
            "{}:{}",
            d.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
        None => std::env::var("PATH").unwrap_or_default(),
    };
    let out = Command::new("sh")
        .arg("build.sh")
        .current_dir(project)
        .env("PATH", path)
        .output()
        .expect("sh runs");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    project.join(format!("{name}.wasm"))
}

/// `hpo plugin test ARTIFACT --no-sanity --json`, which must pass: the report.
fn conforms(home: &Home, artifact: &Path) -> serde_json::Value {
    let out = home.hpo(&[
        "plugin",
        "test",
        artifact.to_str().unwrap(),
        "--no-sanity",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    let failed: Vec<&serde_json::Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "fail")
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(out.status.success() && report["passed"] == true);
    report
}

/// Installs with `--check` (the kit first), which must succeed.
fn install_checked(home: &Home, artifact: &Path) {
    let out = home.hpo(&["plugin", "install", "--check", artifact.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("conforms"), "{}", stdout(&out));
}

/// A BO-HEDGE run over GP-HLE/EI, TPE/EI and `arm` on fn:branin: how often `arm` was
/// chosen.
fn chosen_beside_gp_and_tpe(home: &Home, dir: &Path, model: &str, acq: &str) -> usize {
    let conf = dir.join(format!("{model}.json"));
    let arms = format!(
        r#"{{"title": "third-party", "arms": [{{"model": "GP-HLE", "acq_func": "EI"}},
            {{"model": "TPE", "acq_func": "EI"}}, {{"model": "{model}", "acq_func": "{acq}"}}],
            "bandits": [{{"mode": "DIV", "spec": "BO-HEDGE"}}]}}"#
    );
    std::fs::write(&conf, arms).unwrap();
    let out = dir.join(format!("out-{model}"));
    let summary = run_json(
        home,
        &out,
        &[
            "--arms",
            conf.to_str().unwrap(),
            "--objective",
            "fn:branin",
            "--evals",
            "30",
        ],
    );
    let results = common::results_file(&summary);
    let arm = format!("{model}/{acq}");
    results["0"]["select_trace"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a.as_str() == Some(arm.as_str()))
        .count()
}

/// A 12-evaluation diversified run on fn:branin under `strategy` (the default arms).
fn runs_diversified(home: &Home, dir: &Path, strategy: &str) {
    let args = [
        "-m",
        "DIV",
        "-s",
        strategy,
        "--objective",
        "fn:branin",
        "--evals",
        "12",
    ];
    let summary = run_json(home, &dir.join(format!("out-{strategy}")), &args);
    assert_eq!(summary["runs"][0]["evals"], 12);
    assert_eq!(summary["mode"], format!("DIV-{strategy}"));
}

#[test]
fn a_rust_arm_project_builds_conforms_and_runs_diversified() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let project = generate(&home, dir.path(), "near-rs", &["--role", "arm"]);
    let artifact = build_rust(&project, "near_rs");
    let report = conforms(&home, &artifact);
    assert_eq!(report["plugin"], "near-rs");
    install_checked(&home, &artifact);
    assert!(chosen_beside_gp_and_tpe(&home, dir.path(), "NEAR-RS", "NEAREST") > 0);
}

#[test]
fn a_rust_strategy_project_builds_conforms_and_runs_diversified() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let project = generate(&home, dir.path(), "greedy-rs", &["--role", "strategy"]);
    let artifact = build_rust(&project, "greedy_rs");
    conforms(&home, &artifact);
    install_checked(&home, &artifact);
    runs_diversified(&home, dir.path(), "GREEDY-RS");
}

#[test]
fn python_arm_and_strategy_projects_build_conform_and_run() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let arm = generate(&home, dir.path(), "near-py", &["--lang", "python"]);
    let arm = build_python(&arm, "near-py");
    conforms(&home, &arm);
    install_checked(&home, &arm);
    assert!(chosen_beside_gp_and_tpe(&home, dir.path(), "NEAR-PY", "NEAREST") > 0);

    let strategy = generate(
        &home,
        dir.path(),
        "greedy-py",
        &["--lang", "python", "--role", "strategy"],
    );
    let strategy = build_python(&strategy, "greedy-py");
    conforms(&home, &strategy);
    install_checked(&home, &strategy);
    runs_diversified(&home, dir.path(), "GREEDY-PY");
}

/// A DIV/SEQ run of 30 evaluations on the bundled table under early-termination rule
/// `rule`: how many trials it stopped.
fn stops_trials(home: &Home, dir: &Path, rule: &str) -> usize {
    let args = ["-m", "DIV", "-s", "SEQ", "-etr", rule, "--evals", "30"];
    let summary = run_json(home, &dir.join(format!("out-{rule}")), &args);
    let results = common::results_file(&summary);
    results["0"]["status"]
        .as_array()
        .map_or(0, |s| s.iter().filter(|s| *s == "terminated").count())
}

#[test]
fn rust_and_python_stopper_projects_build_conform_and_stop_trials() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let project = generate(&home, dir.path(), "quant-rs", &["--role", "stopper"]);
    let artifact = build_rust(&project, "quant_rs");
    conforms(&home, &artifact);
    install_checked(&home, &artifact);
    assert!(stops_trials(&home, dir.path(), "QUANT-RS") > 0);

    let args = ["--lang", "python", "--role", "stopper"];
    let project = generate(&home, dir.path(), "quant-py", &args);
    let artifact = build_python(&project, "quant-py");
    conforms(&home, &artifact);
    install_checked(&home, &artifact);
    assert!(stops_trials(&home, dir.path(), "QUANT-PY") > 0);
}

/// A DIV/SEQ run of 24 evaluations on the bundled table under scheduler `rule`: the
/// iterations promoted from, checked to be the best third of each batch of six 1-epoch
/// trials and trained to the table's 30 epochs.
fn promotes_trials(home: &Home, dir: &Path, rule: &str) -> Vec<u64> {
    let args = ["-m", "DIV", "-s", "SEQ", "-etr", rule, "--evals", "24"];
    let summary = run_json(home, &dir.join(format!("out-{rule}")), &args);
    let run = common::results_file(&summary)["0"].clone();
    let parents: Vec<Option<u64>> = run["promoted_from"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64())
        .collect();
    let errors: Vec<f64> = run["error"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_f64().unwrap())
        .collect();
    let promoted: Vec<u64> = parents.iter().flatten().copied().collect();
    // Six 1-epoch trials, then the best two of them at 30 epochs, and so on.
    let mut first: Vec<usize> = (0..6).collect();
    first.sort_by(|&a, &b| errors[a].total_cmp(&errors[b]));
    assert_eq!(&promoted[..2], &[first[0] as u64, first[1] as u64], "{run}");
    for (i, parent) in parents.iter().enumerate() {
        let want = if parent.is_some() { 30 } else { 1 };
        assert_eq!(run["budget"][i], want, "trial {i}");
    }
    promoted
}

#[test]
fn rust_and_python_scheduler_projects_build_conform_and_promote_trials() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let project = generate(&home, dir.path(), "halve-rs", &["--role", "scheduler"]);
    let artifact = build_rust(&project, "halve_rs");
    conforms(&home, &artifact);
    install_checked(&home, &artifact);
    let rust = promotes_trials(&home, dir.path(), "HALVE-RS");

    let args = ["--lang", "python", "--role", "scheduler"];
    let project = generate(&home, dir.path(), "halve-py", &args);
    let artifact = build_python(&project, "halve-py");
    conforms(&home, &artifact);
    install_checked(&home, &artifact);
    // The same rule in both languages schedules the same run.
    assert_eq!(promotes_trials(&home, dir.path(), "HALVE-PY"), rust);
}

#[test]
fn the_python_example_arm_is_chosen_by_bo_hedge_beside_gp_and_tpe() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/examples/python-es");
    let artifact = dir.path().join("py-es.wasm");
    let tool = componentize_py();
    let api = example.join("../../../plugin-api");
    let out = Command::new(&tool)
        .args(["-d", api.join("wit").to_str().unwrap(), "-w", "hpo-plugin"])
        .args(["componentize", "app", "-p", example.to_str().unwrap()])
        .args([
            "-p",
            api.join("python").to_str().unwrap(),
            "-o",
            artifact.to_str().unwrap(),
        ])
        .output()
        .expect("componentize-py runs");
    assert!(out.status.success(), "{}", stderr(&out));
    conforms(&home, &artifact);
    install_checked(&home, &artifact);
    let chosen = chosen_beside_gp_and_tpe(&home, dir.path(), "ES", "ONE-FIFTH");
    assert!(chosen > 0, "BO-HEDGE never chose ES/ONE-FIFTH");
}

#[test]
fn new_refuses_bad_names_roles_and_occupied_directories() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let out = home.hpo(&[
        "plugin",
        "new",
        "Bad_Name",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("plugin name 'Bad_Name'"),
        "{}",
        stderr(&out)
    );

    std::fs::write(dir.path().join("mine.txt"), "keep").unwrap();
    let out = home.hpo(&["plugin", "new", "x", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing written"
    );
}

#[test]
fn python_plugins_import_in_plain_cpython_for_unit_tests() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/examples/python-es");
    let api = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-api/python");
    let script = r#"
import app, hpo_plugin as hp
s = app.Es.open_arm(hp.ArmConfig(model="ES", space={}, options={}, seed=1))
s.set_pool([[0.1, 0.2], [0.5, 0.5], [0.9, 0.9]])
s.tell(hp.Observations(x=[[0.5, 0.5]], y=[1.0], cost=[1.0], status=["final"]))
print([p.pool_index for p in s.propose(hp.ProposeRequest("ONE-FIFTH", [0, 2], [], 2, 7, False))])
try:
    app.Es.validate("arm", "ES", {"stepp": 0.1})
except hp.PluginError as e:
    print(e)
"#;
    let out = Command::new("python3")
        .args(["-B", "-c", script])
        .current_dir(&example)
        .env("PYTHONPATH", &api)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // Two distinct rows among the candidates, and the unknown option named.
    assert!(
        text.starts_with("[0, 2]") || text.starts_with("[2, 0]"),
        "{text}"
    );
    assert!(
        text.contains("unknown option 'stepp' (known: step)"),
        "{text}"
    );
}
