//! End-to-end tests of `hpo run`: the modern and the seed's command lines, expiry by
//! evaluations, goal and time, the results file, reproducibility, a diversified run over a
//! bundled arm and an installed third-party wasm arm, and bad input.

mod common;

use common::{
    Home, WorkerProcess, floats, native, results_file, run_json, stderr, stdout, wasm, xy_space,
};
use serde_json::Value;

/// A home with the example wasm arm `LOCAL/NEAREST` installed.
fn home_with_local_search() -> Home {
    let home = Home::new();
    let installed = home.hpo(&[
        "plugin",
        "install",
        wasm("example_local_search").to_str().unwrap(),
    ]);
    assert!(installed.status.success(), "{}", stderr(&installed));
    home
}

/// The arm chosen at each iteration of a results-file run.
fn select_trace(run: &Value) -> Vec<&str> {
    run["select_trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

#[test]
fn a_random_run_on_the_bundled_table_writes_the_seed_results_file() {
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let summary = run_json(
        &home,
        out.path(),
        &["-m", "RANDOM", "--evals", "25", "--runs", "2"],
    );
    let runs = summary["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let path = summary["results_file"].as_str().unwrap();
    assert!(
        path.ends_with("digits-mlp/E25/RANDOM-RANDOM.random(2).json")
            || path.contains("E25/RANDOM-RANDOM"),
        "{path}"
    );
    let file = results_file(&summary);
    for (i, run) in runs.iter().enumerate() {
        let r = &file[i.to_string()];
        let errors = floats(&r["error"]);
        assert_eq!(errors.len(), 25);
        for key in [
            "model_idx",
            "exec_time",
            "opt_time",
            "cum_exec_time",
            "cum_opt_time",
            "select_trace",
            "train_epoch",
        ] {
            assert_eq!(r[key].as_array().unwrap().len(), 25, "{key}");
        }
        let best = errors.iter().cloned().fold(f64::INFINITY, f64::min);
        assert_eq!(run["best_value"].as_f64().unwrap(), best);
        assert_eq!(run["evals"], 25);
        let exec = floats(&r["exec_time"]).iter().sum::<f64>();
        assert!((run["exec_time"].as_f64().unwrap() - exec).abs() < 1e-9);
        assert!(run["best_params"]["activation"].is_string());
        // Every row is distinct: the pool shrinks as it is used.
        let mut rows: Vec<u64> = r["model_idx"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        rows.sort();
        rows.dedup();
        assert_eq!(rows.len(), 25);
    }
    assert_ne!(
        runs[0]["seed"], runs[1]["seed"],
        "each run has its own seed"
    );
}

#[test]
fn the_same_seed_reproduces_the_run_and_results_are_never_overwritten() {
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let a = run_json(
        &home,
        out.path(),
        &["-m", "RANDOM", "--evals", "15", "--seed", "7"],
    );
    let b = run_json(
        &home,
        out.path(),
        &["-m", "RANDOM", "--evals", "15", "--seed", "7"],
    );
    assert_ne!(
        a["results_file"], b["results_file"],
        "the second run gets a new file"
    );
    let (fa, fb) = (results_file(&a), results_file(&b));
    assert_eq!(fa["0"]["model_idx"], fb["0"]["model_idx"]);
    assert_eq!(fa["0"]["error"], fb["0"]["error"]);
    let c = run_json(
        &home,
        out.path(),
        &["-m", "RANDOM", "--evals", "15", "--seed", "8"],
    );
    assert_ne!(fa["0"]["model_idx"], results_file(&c)["0"]["model_idx"]);
}

#[test]
fn the_seed_command_line_works_with_goal_expiry() {
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let summary = run_json(
        &home,
        out.path(),
        &[
            "digits-mlp",
            "2",
            "-m=RANDOM",
            "-s=RANDOM",
            "-e=GOAL",
            "-eg=0.95",
            "--goal-metric",
            "accuracy",
        ],
    );
    let file = results_file(&summary);
    for i in 0..2 {
        let errors = floats(&file[i.to_string()]["error"]);
        let goal = 1.0 - 0.95;
        assert!(
            *errors.last().unwrap() <= goal + 1e-12,
            "the run ends on the goal"
        );
        assert!(
            errors[..errors.len() - 1].iter().all(|e| *e > goal),
            "and not before"
        );
    }
    assert!(summary["results_file"].as_str().unwrap().contains("/G0.05"));
}

#[test]
fn time_expiry_stops_once_the_budget_is_spent() {
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let summary = run_json(
        &home,
        out.path(),
        &["-m", "RANDOM", "-e", "TIME", "-et", "30"],
    );
    let run = &results_file(&summary)["0"];
    let cum_exec = floats(&run["cum_exec_time"]);
    let cum_opt = floats(&run["cum_opt_time"]);
    let n = cum_exec.len();
    assert!(cum_exec[n - 1] + cum_opt[n - 1] >= 30.0);
    assert!(cum_exec[n - 2] + cum_opt[n - 2] < 30.0);
    assert!(summary["results_file"].as_str().unwrap().contains("/T30S/"));
}

#[test]
fn test_functions_are_objectives() {
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let summary = run_json(
        &home,
        out.path(),
        &["-m", "RANDOM", "--objective", "fn:branin", "--evals", "40"],
    );
    let best = summary["runs"][0]["best_value"].as_f64().unwrap();
    assert!((0.397_887..20.0).contains(&best), "{best}");
    let params = &summary["runs"][0]["best_params"];
    assert!((-5.0..=10.0).contains(&params["x0"].as_f64().unwrap()));
}

#[test]
fn a_diversified_run_uses_a_bundled_arm_and_an_installed_wasm_arm() {
    let home = home_with_local_search();
    let conf = home.path().join("div.json");
    std::fs::write(
        &conf,
        r#"{"title": "mix", "arms": [{"model": "RANDOM", "acq_func": "RANDOM"},
            {"model": "LOCAL", "acq_func": "NEAREST", "plugin": "local-search"}]}"#,
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let summary = run_json(
        &home,
        out.path(),
        &[
            "--arms",
            conf.to_str().unwrap(),
            "-m",
            "DIV",
            "-s",
            "SEQ",
            "--evals",
            "10",
        ],
    );
    let run = &results_file(&summary)["0"];
    let trace = select_trace(run);
    assert_eq!(trace, ["RANDOM/RANDOM", "LOCAL/NEAREST"].repeat(5));
    assert_eq!(run["count_arr"], serde_json::json!([5, 5]));
    assert!(
        summary["results_file"]
            .as_str()
            .unwrap()
            .ends_with("DIV-SEQ.mix(1).json")
    );
}

fn assert_run_refused(args: &[&str], expected: &[&str]) {
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let mut full = vec!["run", "--out", out.path().to_str().unwrap()];
    full.extend_from_slice(args);
    let result = home.hpo(&full);
    let err = stderr(&result);
    assert_eq!(result.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    for piece in expected {
        assert!(
            err.contains(piece),
            "{args:?}: {err:?} should mention {piece:?}"
        );
    }
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn bad_input_is_one_clear_line_and_writes_nothing() {
    assert_run_refused(
        &["-m", "NOPE", "-s", "EI"],
        &["NOPE/EI", "installed arms", "RANDOM/RANDOM"],
    );
    let run_conf = concat!(env!("CARGO_MANIFEST_DIR"), "/../run_conf");
    assert_run_refused(
        &[
            "-m",
            "DIV",
            "-s",
            "NOPE",
            "-rc",
            run_conf,
            "-c",
            "random.json",
        ],
        &["strategy NOPE", "SEQ"],
    );
    assert_run_refused(
        &["--objective", "surrogate:nope", "-m", "RANDOM"],
        &["unknown surrogate 'nope'", "digits-mlp"],
    );
    assert_run_refused(
        &["--objective", "fn:nope", "-m", "RANDOM"],
        &["unknown test function"],
    );
    assert_run_refused(&["-m", "RANDOM", "--time=-5"], &["must be positive"]);
    assert_run_refused(
        &["-m", "RANDOM", "--goal", "1.5"],
        &["outside the metric's range"],
    );
    assert_run_refused(&["-m", "RANDOM", "-e", "GOAL"], &["needs a goal"]);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"arms": [{"model": "RANDOM", "acq_func": "RANDOM", "kappa": 1}]}"#,
    )
    .unwrap();
    assert_run_refused(
        &["--arms", bad.to_str().unwrap()],
        &["bad.json", "arms[0]", "kappa"],
    );
    std::fs::write(&bad, r#"{"arms": []}"#).unwrap();
    assert_run_refused(
        &["--arms", bad.to_str().unwrap(), "-m", "DIV"],
        &["no arms"],
    );
    std::fs::write(&bad, "{ not json").unwrap();
    assert_run_refused(&["--arms", bad.to_str().unwrap()], &["bad.json", "line 1"]);
    // Plugin options are checked by the plugin before anything is written.
    std::fs::write(
        &bad,
        r#"{"arms": [{"model": "GP", "acq_func": "EI"}], "gp": {"restart": 3}}"#,
    )
    .unwrap();
    assert_run_refused(
        &["--arms", bad.to_str().unwrap()],
        &["plugin 'gp'", "GP/EI", "restart"],
    );
    assert_run_refused(
        &["-m", "GP", "-s", "EI", "-tp=ET_FAST"],
        &["time_penalty", "ET_FAST", "ET_PS"],
    );
}

#[test]
fn a_time_penalty_spends_less_simulated_time_on_the_same_evaluations() {
    // The seed's -tp: the same arm, seed and number of evaluations on the bundled table;
    // penalized by estimated time, the run spends much less simulated training time.
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let spent = |penalty: &str| -> f64 {
        let summary = run_json(
            &home,
            &out.path().join(penalty),
            &[
                "-m", "GP-HLE", "-s", "EI", "--evals", "40", "--runs", "2", "--seed", "1", "-tp",
                penalty,
            ],
        );
        summary["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["exec_time"].as_f64().unwrap())
            .sum()
    };
    let (plain, fastest_of_10) = (spent("NONE"), spent("ET_T10"));
    assert!(
        fastest_of_10 < 0.8 * plain,
        "ET_T10 spent {fastest_of_10} s, no penalty {plain} s"
    );
}

/// A training script: prints a log line, then the value (x - 0.3)² + (y - 0.7)² as JSON;
/// fails (exit 1, message on stderr) when x > 0.8; checks HPO_PARAMS is set.
fn script(dir: &std::path::Path, sleep: &str) -> std::path::PathBuf {
    let path = dir.join("train.sh");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\n\
             [ -n \"$HPO_PARAMS\" ] || exit 3\n\
             sleep {sleep}\n\
             echo \"training with $HPO_PARAMS\"\n\
             echo '{{\"value\": 7.5, \"epoch\": 0}}'\n\
             if awk \"BEGIN{{exit !($1 > 0.8)}}\"; then echo 'diverged: x too large' >&2; exit 1; fi\n\
             awk \"BEGIN{{printf \\\"{{\\\\\\\"value\\\\\\\": %.12f, \\\\\\\"epoch\\\\\\\": 1}}\\\\n\\\", ($1-0.3)^2 + ($2-0.7)^2}}\"\n"
        ),
    )
    .unwrap();
    path
}

/// Checks a run of `script`: `evals` trials recorded, each successful one with the value
/// (x − 0.3)² + (y − 0.7)² and the earlier report line as its interim report, the failed
/// ones (some) exactly those with x > 0.8.
fn assert_script_trials(run: &Value, evals: usize) {
    let errors = run["error"].as_array().unwrap();
    assert_eq!(
        errors.len(),
        evals,
        "failed trials are recorded, the run goes on"
    );
    let params = run["params"].as_array().unwrap();
    let interim = run["interim"].as_array().unwrap();
    let mut failed = 0;
    for ((e, p), reports) in errors.iter().zip(params).zip(interim) {
        let (x, y) = (p["x"].as_f64().unwrap(), p["y"].as_f64().unwrap());
        match e.as_f64() {
            Some(v) => {
                assert!((v - ((x - 0.3).powi(2) + (y - 0.7).powi(2))).abs() < 1e-9);
                // The earlier report line is the trial's interim report.
                let r = reports.as_array().unwrap();
                assert_eq!(r.len(), 1, "{reports}");
                assert_eq!((r[0][0].as_u64(), r[0][1].as_f64()), (Some(0), Some(7.5)));
            }
            None => {
                failed += 1;
                assert!(x > 0.8, "only x > 0.8 fails");
            }
        }
    }
    assert!(failed > 0, "some trials had x > 0.8");
}

#[test]
fn a_training_command_is_an_objective_and_its_failures_are_recorded() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let space = xy_space(dir.path());
    let train = script(dir.path(), "0");
    let objective = format!("cmd:sh {} {{x}} {{y}}", train.display());
    let summary = run_json(
        &home,
        &dir.path().join("out"),
        &[
            "-m",
            "RANDOM",
            "--objective",
            &objective,
            "--space",
            space.to_str().unwrap(),
            "--evals",
            "30",
        ],
    );
    let run = &results_file(&summary)["0"];
    assert_script_trials(run, 30);
    let failures = &run["failures"];
    assert!(failures.is_object());
    let best = summary["runs"][0]["best_value"].as_f64().unwrap();
    assert!(best.is_finite());
}

#[test]
fn a_run_killed_mid_way_resumes_without_losing_a_trial() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let space = xy_space(dir.path());
    let train = script(dir.path(), "0.05");
    let objective = format!("cmd:sh {} {{x}} {{y}}", train.display());
    let out = dir.path().join("out");
    let args = |out: &std::path::Path| -> Vec<String> {
        [
            "run",
            "--json",
            "--out",
            out.to_str().unwrap(),
            "-m",
            "RANDOM",
            "--objective",
            &objective,
            "--space",
            space.to_str().unwrap(),
            "--evals",
            "40",
            "--seed",
            "5",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    // Interrupt a run with SIGKILL once a few trials are in the store.
    let mut child = std::process::Command::new(common::hpo_bin())
        .args(args(&out))
        .env("HPO_HOME", home.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let store_path = out.join(hpo_host::store::STORE_FILE);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let completed_before_kill = loop {
        let done = hpo_host::store::Store::open(&store_path)
            .and_then(|s| s.trials(1, 0))
            .map(|t| t.len())
            .unwrap_or(0);
        if done >= 5 || std::time::Instant::now() > deadline {
            break done;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        (5..40).contains(&completed_before_kill),
        "killed mid-run after {completed_before_kill} trials"
    );
    let mut resume = args(&out);
    resume.push("--resume".into());
    let resumed = home.hpo(&resume.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let resumed: Value = serde_json::from_str(&stdout(&resumed)).unwrap();
    // The same experiment without interruption.
    let clean_out = dir.path().join("clean");
    let clean = home.hpo(
        &args(&clean_out)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(clean.status.success(), "{}", stderr(&clean));
    let clean: Value = serde_json::from_str(&stdout(&clean)).unwrap();
    let (a, b) = (results_file(&resumed), results_file(&clean));
    assert_eq!(a["0"]["model_idx"].as_array().unwrap().len(), 40);
    assert_eq!(
        a["0"]["model_idx"], b["0"]["model_idx"],
        "no trial lost, repeated or changed"
    );
    assert_eq!(a["0"]["error"], b["0"]["error"]);
    // Nothing left to resume now.
    let again = home.hpo(&resume.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("no interrupted experiment"));
}

#[test]
fn results_can_be_listed_shown_and_exported() {
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    run_json(
        &home,
        out.path(),
        &["-m", "RANDOM", "--evals", "12", "--runs", "2"],
    );
    let o = out.path().to_str().unwrap();
    let list = home.hpo(&["results", "--out", o, "list"]);
    assert!(list.status.success(), "{}", stderr(&list));
    let text = stdout(&list);
    assert!(text.contains("finished") && text.contains("24"), "{text}");
    let show = stdout(&home.hpo(&["results", "--out", o, "show", "1"]));
    assert!(
        show.contains("run 0") && show.contains("run 1") && show.contains("12 trials"),
        "{show}"
    );
    let export = stdout(&home.hpo(&["results", "--out", o, "export", "1"]));
    assert_eq!(export.lines().count(), 1 + 24, "{export}");
    assert!(export.starts_with("experiment,run,iteration,arm,value"));
    let missing = home.hpo(&["results", "--out", o, "show", "9"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("no experiment 9"));
}

#[test]
fn every_strategy_runs_end_to_end_over_a_bundled_and_a_wasm_arm() {
    let home = home_with_local_search();
    let conf = home.path().join("div.json");
    std::fs::write(
        &conf,
        r#"{"title": "mix", "eta": 1.0, "init_eps": 0.5, "decay_factor": 2, "time_unit": "M",
            "arms": [{"model": "RANDOM", "acq_func": "RANDOM"}, {"model": "LOCAL", "acq_func": "NEAREST"}]}"#,
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    for strategy in [
        "SEQ",
        "RANDOM",
        "HEDGE",
        "BO-HEDGE",
        "BO-HEDGE-T",
        "BO-HEDGE-LE",
        "BO-HEDGE-LET",
        "EG",
        "EG-LE",
        "GT",
        "GT-LE",
        "SKO",
    ] {
        let summary = run_json(
            &home,
            out.path(),
            &[
                "--arms",
                conf.to_str().unwrap(),
                "-m",
                "DIV",
                "-s",
                strategy,
                "--evals",
                "24",
            ],
        );
        let run = &results_file(&summary)["0"];
        let trace = run["select_trace"].as_array().unwrap();
        assert_eq!(trace.len(), 24, "{strategy}");
        let counts: Vec<u64> = run["count_arr"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .collect();
        assert_eq!(counts.iter().sum::<u64>(), 24, "{strategy}");
        assert!(
            counts.iter().all(|&c| c > 0),
            "{strategy}: every arm is tried: {counts:?}"
        );
        assert!(
            run["failures"].as_object().unwrap().is_empty(),
            "{strategy}: {}",
            run["failures"]
        );
        assert!(
            summary["results_file"]
                .as_str()
                .unwrap()
                .contains(&format!("DIV-{strategy}.mix"))
        );
    }
}

#[test]
fn bench_reports_success_rates_as_markdown_csv_json_and_svg() {
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let arms = concat!(env!("CARGO_MANIFEST_DIR"), "/../run_conf/random.json");
    let o = out.path().to_str().unwrap();
    let result = home.hpo(&[
        "bench",
        "--strategies",
        "DIV/SEQ,RANDOM/RANDOM",
        "--arms",
        arms,
        "--runs",
        "4",
        "--budget",
        "5m",
        "--target",
        "top100",
        "--out",
        o,
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    let text = stdout(&result);
    assert!(
        text.contains("| DIV/SEQ | 4 |") && text.contains("| RANDOM/RANDOM | 4 |"),
        "{text}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("bench.json")).unwrap())
            .unwrap();
    for s in report["strategies"].as_array().unwrap() {
        let success = floats(&s["success"]);
        assert!(
            success.windows(2).all(|w| w[0] <= w[1]),
            "success only grows with time"
        );
        let reached = s["reached"].as_u64().unwrap() as f64;
        assert_eq!(*success.last().unwrap(), reached / 4.0);
    }
    // SEQ over a single random arm is random search: the same seeds give the same runs (times
    // differ only by the measured optimizer time).
    let times = |i: usize| -> Vec<f64> {
        report["strategies"][i]["times_to_target"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_f64().unwrap_or(f64::INFINITY))
            .collect()
    };
    for (a, b) in times(0).iter().zip(times(1)) {
        assert!(a == &b || (a - b).abs() < 1.0, "{a} vs {b}");
    }
    let csv = std::fs::read_to_string(out.path().join("bench.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 8);
    let svg = std::fs::read_to_string(out.path().join("bench.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("RANDOM/RANDOM"));
    let bad = home.hpo(&[
        "bench",
        "--strategies",
        "RANDOM/RANDOM",
        "--objective",
        "fn:branin",
        "--out",
        o,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("only a table knows"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn the_rf_div_configuration_diversifies_over_the_bundled_forest_arms() {
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let run_conf = concat!(env!("CARGO_MANIFEST_DIR"), "/../run_conf");
    let summary = run_json(
        &home,
        out.path(),
        &["-rc", run_conf, "-c", "rf-div.json", "--evals", "24"],
    );
    let run = &results_file(&summary)["0"];
    let trace = select_trace(run);
    assert_eq!(
        trace,
        ["RF-HLE/EI", "RF-HLE/PI", "RF-HLE/UCB", "RF-LE/EI"].repeat(6)
    );
    assert!(
        run["failures"].as_object().unwrap().is_empty(),
        "{}",
        run["failures"]
    );
    assert!(
        summary["results_file"]
            .as_str()
            .unwrap()
            .ends_with("DIV-SEQ.rf-div(1).json")
    );
}

#[test]
fn the_default_run_diversifies_over_the_gp_and_rf_arms() {
    // The README's first command: no arms, space or objective, so the embedded
    // run_conf/arms.json on the bundled table.
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let summary = run_json(&home, out.path(), &["--evals", "18"]);
    let run = &results_file(&summary)["0"];
    let trace = select_trace(run);
    assert_eq!(
        trace,
        [
            "GP-HLE/EI",
            "GP-HLE/PI",
            "GP-HLE/UCB",
            "RF-HLE/EI",
            "RF-HLE/PI",
            "RF-HLE/UCB"
        ]
        .repeat(3)
    );
    assert!(
        run["failures"].as_object().unwrap().is_empty(),
        "{}",
        run["failures"]
    );
    let errors = floats(&run["error"]);
    assert_eq!(errors.len(), 18);
    assert!(errors.iter().all(|e| e.is_finite() && *e > 0.0));
    assert!(
        summary["results_file"]
            .as_str()
            .unwrap()
            .ends_with("DIV-SEQ.default(1).json")
    );
}

#[test]
fn gp_and_tpe_arms_refine_off_the_pool_on_test_functions() {
    let home = Home::new();
    // branin's minimum is 0.397887; random search's median best after 50 evaluations is
    // 1.04 (`hpo regret`). Each run is seeded: these are fixed outcomes, not flaky draws.
    for (mode, spec, bound) in [("GP", "EI", 0.41), ("TPE", "MV", 1.04), ("TPE", "EI", 1.04)] {
        let out = tempfile::tempdir().unwrap();
        let summary = run_json(
            &home,
            out.path(),
            &[
                "-m",
                mode,
                "-s",
                spec,
                "--objective",
                "fn:branin",
                "--evals",
                "40",
                "--seed",
                "3",
            ],
        );
        let run = &results_file(&summary)["0"];
        let rows = run["model_idx"].as_array().unwrap();
        // The initial design is the Sobol pool's first rows; the model's proposals are
        // points off the pool (no row).
        assert!(
            rows[..10].iter().all(|r| r.is_u64()),
            "{mode}/{spec}: {rows:?}"
        );
        assert!(
            rows[10..].iter().any(|r| r.is_null()),
            "{mode}/{spec}: {rows:?}"
        );
        let best = summary["runs"][0]["best_value"].as_f64().unwrap();
        assert!(best < bound, "{mode}/{spec}: best {best}");
    }
}

#[test]
fn results_carry_each_trials_epochs_and_with_p_the_models_estimates() {
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let summary = run_json(
        &home,
        out.path(),
        &["-m", "RF", "-s", "EI", "--evals", "12", "-p"],
    );
    let run = &results_file(&summary)["0"];
    let errors = floats(&run["error"]);
    let exec = floats(&run["exec_time"]);
    for (i, curve) in run["interim"].as_array().unwrap().iter().enumerate() {
        let curve = curve.as_array().unwrap();
        assert_eq!(curve.len(), 30, "the table has 30 epochs");
        let last = curve.last().unwrap().as_array().unwrap();
        assert_eq!(last[0].as_u64(), Some(30));
        assert_eq!(
            last[1].as_f64(),
            Some(errors[i]),
            "the last epoch is the final value"
        );
        assert_eq!(
            last[2].as_f64(),
            Some(exec[i]),
            "its time is the trial's cost"
        );
        let times: Vec<f64> = curve.iter().map(|e| e[2].as_f64().unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "cumulative times");
    }
    let estimates = run["estimates"].as_array().unwrap();
    assert_eq!(estimates.len(), 12);
    assert!(
        estimates[..10].iter().all(Value::is_null),
        "the initial design has no model"
    );
    for e in &estimates[10..] {
        assert!(e["mean"].as_f64().unwrap().is_finite());
        assert!(e["variance"].as_f64().unwrap() >= 0.0);
    }
    let out = tempfile::tempdir().unwrap();
    let plain = run_json(
        &home,
        out.path(),
        &["-m", "RF", "-s", "EI", "--evals", "3", "-p", "false"],
    );
    assert!(results_file(&plain)["0"].get("estimates").is_none());
    assert_run_refused(&["-p", "maybe"], &["--save-internal", "maybe"]);
}

#[test]
fn grid_order_shuffle_changes_which_rows_the_arms_see_first() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let conf = |name: &str, extra: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(r#"{{"arms": [{{"model": "GP", "acq_func": "EI"}}]{extra}}}"#),
        )
        .unwrap();
        path
    };
    let plain = conf("plain.json", "");
    let shuffled = conf("shuffled.json", r#", "grid": {"order": "shuffle"}"#);
    let rows = |path: &std::path::Path| {
        let out = tempfile::tempdir().unwrap();
        let summary = run_json(
            &home,
            out.path(),
            &[
                "--arms",
                path.to_str().unwrap(),
                "--evals",
                "12",
                "--seed",
                "5",
            ],
        );
        results_file(&summary)["0"]["model_idx"].clone()
    };
    let (a, b) = (rows(&plain), rows(&shuffled));
    assert_ne!(a, b, "the same seed over a shuffled pool picks other rows");
    assert_eq!(rows(&shuffled), b, "the shuffle is seeded");
    assert!(
        b.as_array()
            .unwrap()
            .iter()
            .all(|r| r.as_u64().unwrap() < 4096)
    );
    let bad = conf("bad.json", r#", "grid": {"order": "sorted"}"#);
    assert_run_refused(
        &["--arms", bad.to_str().unwrap()],
        &["bad.json", "grid.order", "sorted"],
    );
}

#[test]
fn rerun_extends_a_finished_experiment_to_more_runs() {
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let base = ["-m", "RANDOM", "--evals", "10", "--seed", "3"];
    let first = run_json(&home, out.path(), &[&base[..], &["--runs", "2"]].concat());
    let extended = run_json(
        &home,
        out.path(),
        &[&base[..], &["--runs", "4", "-r", "2"]].concat(),
    );
    let (a, b) = (results_file(&first), results_file(&extended));
    for run in ["0", "1"] {
        assert_eq!(
            a[run]["model_idx"], b[run]["model_idx"],
            "run {run} is taken over"
        );
        assert_eq!(
            a[run]["opt_time"], b[run]["opt_time"],
            "as stored, not run again"
        );
    }
    assert_eq!(b["3"]["model_idx"].as_array().unwrap().len(), 10);
    assert_ne!(b["2"]["model_idx"], b["0"]["model_idx"]);
    assert!(
        extended["results_file"]
            .as_str()
            .unwrap()
            .ends_with("(4).json")
    );
    let o = out.path().to_str().unwrap();
    let missing =
        home.hpo(&[&["run", "--out", o], &base[..], &["--runs", "5", "-r", "3"]].concat());
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("no finished experiment of 3 runs"),
        "{}",
        stderr(&missing)
    );
    let too_many =
        home.hpo(&[&["run", "--out", o], &base[..], &["--runs", "4", "-r", "4"]].concat());
    assert_eq!(too_many.status.code(), Some(2));
}

#[test]
fn a_remote_worker_replays_the_table_exactly_as_a_local_run_and_checks_the_credential() {
    let home = Home::new();
    let worker = WorkerProcess::start(
        &home,
        &["--objective", "surrogate:digits-mlp"],
        Some("s3cret"),
    );
    let out = tempfile::tempdir().unwrap();
    let args = |dir: &str| -> Vec<String> {
        [
            "run",
            "--json",
            "--out",
            dir,
            "digits-mlp",
            "1",
            "-m",
            "GP-HLE",
            "-s",
            "EI",
            "--evals",
            "15",
            "--seed",
            "3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    // Without the credential the worker refuses, before anything is written.
    let refused_dir = out.path().join("refused");
    let mut refused_args = args(refused_dir.to_str().unwrap());
    refused_args.extend(["-w".to_string(), worker.url.clone()]);
    let refused = std::process::Command::new(common::hpo_bin())
        .args(&refused_args)
        .env("HPO_HOME", home.path())
        .env_remove("HPO_WORKER_CREDENTIAL")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("credential"),
        "{}",
        stderr(&refused)
    );
    assert!(!refused_dir.exists(), "nothing written");

    let remote_dir = out.path().join("remote");
    let mut remote_args = args(remote_dir.to_str().unwrap());
    remote_args.extend(["-w".to_string(), worker.url.clone()]);
    let remote = std::process::Command::new(common::hpo_bin())
        .args(&remote_args)
        .env("HPO_HOME", home.path())
        .env("HPO_WORKER_CREDENTIAL", "s3cret")
        .output()
        .unwrap();
    assert!(remote.status.success(), "{}", stderr(&remote));
    let remote: Value = serde_json::from_str(&stdout(&remote)).unwrap();
    let local_dir = out.path().join("local");
    let local_args = args(local_dir.to_str().unwrap());
    let local_args: Vec<&str> = local_args.iter().map(String::as_str).collect();
    let local = home.hpo(&local_args);
    assert!(local.status.success(), "{}", stderr(&local));
    let local: Value = serde_json::from_str(&stdout(&local)).unwrap();
    let (r, l) = (&results_file(&remote)["0"], &results_file(&local)["0"]);
    for key in ["model_idx", "error", "exec_time", "train_epoch", "interim"] {
        assert_eq!(
            r[key], l[key],
            "{key} differs between the worker and a local run"
        );
    }
}

#[test]
fn a_remote_training_command_streams_reports_and_its_failures_are_recorded() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let space = xy_space(dir.path());
    let train = script(dir.path(), "0");
    let objective = format!("cmd:sh {} {{x}} {{y}}", train.display());
    let worker = WorkerProcess::start(
        &home,
        &[
            "--objective",
            &objective,
            "--space",
            space.to_str().unwrap(),
        ],
        None,
    );
    let summary = run_json(
        &home,
        &dir.path().join("out"),
        &[
            "-m",
            "RANDOM",
            "-w",
            &worker.url,
            "--space",
            space.to_str().unwrap(),
            "--evals",
            "12",
        ],
    );
    let run = &results_file(&summary)["0"];
    assert_script_trials(run, 12);
    let export = home.hpo(&[
        "results",
        "export",
        "1",
        "--out",
        dir.path().join("out").to_str().unwrap(),
    ]);
    assert!(
        stdout(&export).contains("diverged: x too large"),
        "the worker's stderr tail comes back with the failed trial: {}",
        stdout(&export)
    );

    // A worker whose parameters are not the space's is refused by name.
    let other = dir.path().join("other.json");
    std::fs::write(
        &other,
        r#"{"hyperparams": {"lr": {"type": "float", "value_type": "continuous", "range": [0, 1]}}}"#,
    )
    .unwrap();
    let refused = home.hpo(&[
        "run",
        "-m",
        "RANDOM",
        "-w",
        &worker.url,
        "--space",
        other.to_str().unwrap(),
        "--out",
        dir.path().join("refused").to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("[x, y]"), "{}", stderr(&refused));
    // A trial past its timeout is stopped on the worker (the command is killed) and
    // recorded as failed; the next job starts.
    std::fs::create_dir_all(dir.path().join("slow")).unwrap();
    let slow_train = script(&dir.path().join("slow"), "30");
    let slow = WorkerProcess::start(
        &home,
        &[
            "--objective",
            &format!("cmd:sh {} {{x}} {{y}}", slow_train.display()),
            "--space",
            space.to_str().unwrap(),
        ],
        None,
    );
    let out_slow = dir.path().join("slow-out");
    let timed_out = home.hpo(&[
        "run",
        "--json",
        "--out",
        out_slow.to_str().unwrap(),
        "-m",
        "RANDOM",
        "-w",
        &slow.url,
        "--space",
        space.to_str().unwrap(),
        "--evals",
        "2",
        "--trial-timeout",
        "1",
    ]);
    // Every trial failed: the run says so and exits 1, its trials recorded.
    assert_eq!(timed_out.status.code(), Some(1), "{}", stderr(&timed_out));
    assert!(stderr(&timed_out).contains("no trial succeeded"));
    let timed_out: Value = serde_json::from_str(&stdout(&timed_out)).unwrap();
    assert_eq!(timed_out["runs"][0]["evals"], 2);
    let export = home.hpo(&[
        "results",
        "export",
        "1",
        "--out",
        out_slow.to_str().unwrap(),
    ]);
    assert_eq!(
        stdout(&export)
            .matches("timed out after 1 s on the worker")
            .count(),
        2,
        "{}",
        stdout(&export)
    );
    // A worker that is gone: a clear error, no results.
    drop(worker);
    let gone = home.hpo(&[
        "run",
        "-m",
        "RANDOM",
        "-w",
        "http://127.0.0.1:9/",
        "--space",
        space.to_str().unwrap(),
        "--out",
        dir.path().join("gone").to_str().unwrap(),
    ]);
    assert_eq!(gone.status.code(), Some(2));
    assert!(
        stderr(&gone).contains("worker http://127.0.0.1:9"),
        "{}",
        stderr(&gone)
    );
}

#[test]
fn values_conflicts_and_seed_keys_are_refused_with_one_line_that_names_them() {
    for (args, expected) in [
        (
            &["--evals", "-5"][..],
            &["--evals", "'-5'", "at least 1"][..],
        ),
        (&["--evals", "0"], &["--evals", "at least 1"]),
        (&["-et", "-5"], &["--time", "must be positive"]),
        (&["-et=-5"], &["--time", "must be positive"]),
        (&["--seed", "-1"], &["--seed", "'-1'", "whole number"]),
        (&["--runs", "0"], &["--runs", "at least 1"]),
        (&["--goal", "-inf"], &["--goal -inf"]),
        (&["-et", "-inf"], &["--time", "must be positive"]),
        (
            &["-m", "RANDOM", "-tp", "ET_PS"],
            &["time_penalty", "none of them"],
        ),
        (
            &["--trial-timeout", "1e20"],
            &["--trial-timeout", "100 years"],
        ),
        (
            &["--trial-timeout", "1e300d"],
            &["--trial-timeout", "100 years"],
        ),
        (
            &["digits-mlp", "--objective", "fn:branin"],
            &["cannot be used with", "--objective"],
        ),
        (
            &["digits-mlp", "3", "--runs", "2"],
            &["cannot be used with", "--runs"],
        ),
        (
            &["--arms", "a.json", "-c", "b.json"],
            &["cannot be used with", "--conf"],
        ),
        (
            &["--resume", "-m", "RANDOM"],
            &["--resume", "no interrupted experiment"],
        ),
        (
            &["-m", "BATCH", "-s", "EI", "--workers", "2"],
            &["-m BATCH", "SYNC or ASYNC"],
        ),
        (&["-m", "BATCH", "-s", "SYNC"], &["-m BATCH", "--workers N"]),
        (
            &["--simulate", "--workers", "2", "-w", "http://127.0.0.1:9/"],
            &["--simulate", "a table or a test function"],
        ),
        (
            &["--workers", "2", "-w", "http://127.0.0.1:9/"],
            &["--workers", "--slots K"],
        ),
        (&["--simulate", "FAST"], &["--simulate", "FAST"]),
        (
            &["-r", "1", "--runs", "2", "-m", "RANDOM"],
            &["-r 1", "no finished experiment"],
        ),
        (
            &[
                "--objective",
                "cmd:no-such-trainer --lr {lr}",
                "--space",
                "x.json",
            ],
            &["x.json"],
        ),
    ] {
        assert_run_refused(args, expected);
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf.json");
    let space = dir.path().join("space.json");
    let p = r#"{"type": "float", "value_type": "continuous", "range": [0, 1]}"#;
    std::fs::write(&space, format!(r#"{{"hyperparams": {{"lr": {p}}}}}"#)).unwrap();
    assert_run_refused(
        &[
            "--objective",
            "cmd:no-such-trainer {lr}",
            "--space",
            space.to_str().unwrap(),
        ],
        &["no-such-trainer", "not found in PATH"],
    );
    for (text, field) in [
        (
            r#"{"arms": [{"model": "RANDOM", "acq_func": "RANDOM"}], "early_term_rule": ""}"#,
            "early_term_rule",
        ),
        (
            r#"{"arms": [{"model": "RANDOM", "acq_func": "RANDOM"}], "bandits": [{"mode": "BATCH", "spec": "SYNC"}]}"#,
            "bandits[0].mode",
        ),
        (
            r#"{"arms": [{"model": "RANDOM", "acq_func": "RANDOM"}], "response_shaping": "log_err"}"#,
            "response_shaping",
        ),
        (
            r#"{"arms": [{"model": "RANDOM", "acq_func": "RANDOM"}], "pending": "sometimes"}"#,
            "pending",
        ),
        (
            r#"{"arms": [{"model": "RANDOM", "acq_func": "RANDOM"}], "bandits": [{"mode": "DIV", "spec": "SEQ"}, {"mode": "DIV", "spec": "EG"}]}"#,
            "bandits[1].spec",
        ),
        (
            r#"{"arms": [{"model": "RANDOM", "acq_func": "RANDOM"}], "grid": {"num_samples": 0}}"#,
            "grid.num_samples",
        ),
        (
            r#"{"arms": [{"model": "RANDOM", "acq_func": "RANDOM"}], "grid": {"one_hot": false}}"#,
            "grid.one_hot",
        ),
        (
            r#"{"arms": [{"model": "RANDOM", "acq_func": "RANDOM"}], "alpha": 0.2}"#,
            "alpha",
        ),
        // Values are checked by the plugin that reads them, the strategy's too.
        (
            r#"{"arms": [{"model": "RANDOM", "acq_func": "RANDOM"}, {"model": "GP", "acq_func": "EI"}], "eta": -1}"#,
            "strategy 'SEQ': strategy option 'eta'",
        ),
        (
            r#"{"arms": [{"model": "RANDOM", "acq_func": "RANDOM"}, {"model": "GP", "acq_func": "EI"}], "alpha": 1.5}"#,
            "arm 'GP/EI'",
        ),
    ] {
        std::fs::write(&conf, text).unwrap();
        assert_run_refused(&["--arms", conf.to_str().unwrap()], &["conf.json", field]);
    }
    for (text, expected) in [
        (format!(r#"{{"hyperparams": {{"lr": {p}, "lr": {p}}}}}"#), "appears twice"),
        (format!(r#"{{"hyperparams": {{"": {p}}}}}"#), "needs a name"),
        (
            r#"{"hyperparams": {"w": {"type": "float", "value_type": "continuous", "range": [-1e308, 1e308]}}}"#.to_string(),
            "hyperparams.w.range",
        ),
        (
            r#"{"hyperparams": {"w": {"type": "float", "value_type": "continuous", "range": [0, 400], "power_of": 10}}}"#.to_string(),
            "hyperparams.w.range",
        ),
        (
            r#"{"hyperparams": {"k": {"type": "int", "value_type": "discrete", "range": [0, 1e19]}}}"#.to_string(),
            "2^53",
        ),
    ] {
        std::fs::write(&space, text).unwrap();
        assert_run_refused(
            &["-m", "RANDOM", "--objective", "cmd:sh -c true", "--space", space.to_str().unwrap()],
            &["space.json", expected],
        );
    }
    // A pool too large to hold: 4096 rows of 40 000 one-hot columns.
    let options: Vec<String> = (0..40_000).map(|i| format!("\"o{i}\"")).collect();
    std::fs::write(
        &space,
        format!(
            r#"{{"hyperparams": {{"c": {{"type": "str", "value_type": "categorical", "range": [{}]}}}}}}"#,
            options.join(",")
        ),
    )
    .unwrap();
    assert_run_refused(
        &[
            "-m",
            "RANDOM",
            "--objective",
            "cmd:sh -c true",
            "--space",
            space.to_str().unwrap(),
        ],
        &["pool of 4096 rows", "40000 encoded columns"],
    );
}

#[test]
fn summaries_help_and_logs_speak_the_objectives_language() {
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let help = home.hpo(&["run", "--help"]);
    assert!(
        stdout(&help).contains("cmd:PROGRAM ARGS"),
        "{}",
        stdout(&help)
    );
    // A test function's time is not simulated; a log written to a pipe has no colours.
    let result = home.hpo(&[
        "-l",
        "info",
        "run",
        "--out",
        out.path().to_str().unwrap(),
        "-m",
        "RANDOM",
        "--objective",
        "fn:branin",
        "--evals",
        "3",
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    let text = stdout(&result);
    assert!(
        text.contains("evaluation time") && !text.contains("simulated"),
        "{text}"
    );
    assert!(!stderr(&result).contains('\u{1b}'), "{}", stderr(&result));
    let table = home.hpo(&[
        "run",
        "--out",
        out.path().to_str().unwrap(),
        "-m",
        "RANDOM",
        "--evals",
        "3",
    ]);
    assert!(stdout(&table).contains("simulated time"));
    // A command is named in full.
    let dir = tempfile::tempdir().unwrap();
    let space = xy_space(dir.path());
    let train = script(dir.path(), "0");
    let objective = format!("cmd:sh {} {{x}} {{y}}", train.display());
    let summary = run_json(
        &home,
        out.path(),
        &[
            "-m",
            "RANDOM",
            "--objective",
            &objective,
            "--space",
            space.to_str().unwrap(),
            "--evals",
            "2",
        ],
    );
    let label = summary["objective"].as_str().unwrap();
    assert!(
        label.starts_with("cmd:sh ") && label.ends_with("{x} {y}"),
        "{label}"
    );
    // bench finds a table where run does (--hp-conf-dir, seed: -hc).
    std::fs::write(
        dir.path().join("tiny.json"),
        r#"{"name": "tiny", "direction": "minimize",
            "hyperparams": {"x": {"type": "float", "value_type": "continuous", "range": [0, 1]}},
            "val_columns": ["v1"], "time_columns": ["t1"]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tiny.csv"),
        "x,v1,t1\n0.1,0.5,1\n0.5,0.2,2\n0.9,0.4,3\n",
    )
    .unwrap();
    let bench = home.hpo(&[
        "bench",
        "--strategies",
        "RANDOM/RANDOM",
        "--runs",
        "2",
        "--budget",
        "100",
        "--target",
        "0.3",
        "--objective",
        "surrogate:tiny",
        "-hc",
        dir.path().to_str().unwrap(),
        "--out",
        dir.path().join("bench").to_str().unwrap(),
    ]);
    assert!(bench.status.success(), "{}", stderr(&bench));
    // regret too, against the table's best value.
    let regret = home.hpo(&[
        "regret",
        "--arms",
        "RANDOM/RANDOM",
        "--problems",
        "surrogate:tiny",
        "-hc",
        dir.path().to_str().unwrap(),
        "--runs",
        "2",
        "--evals",
        "2,3",
    ]);
    assert!(regret.status.success(), "{}", stderr(&regret));
    assert!(stdout(&regret).contains("| surrogate:tiny | RANDOM/RANDOM | "));
    for target in ["top0", "top4"] {
        let refused = home.hpo(&[
            "bench",
            "--strategies",
            "RANDOM/RANDOM",
            "--runs",
            "1",
            "--target",
            target,
            "--objective",
            "surrogate:tiny",
            "-hc",
            dir.path().to_str().unwrap(),
        ]);
        assert_eq!(refused.status.code(), Some(2), "{target}");
        assert!(stderr(&refused).contains("3 rows"), "{}", stderr(&refused));
    }
}

#[test]
fn regret_measures_portfolios_beside_single_arms() {
    let home = Home::new();
    let arms = concat!(env!("CARGO_MANIFEST_DIR"), "/../run_conf/rf-div.json");
    let result = home.hpo(&[
        "regret",
        "--arms",
        "DIV/SEQ,RF-HLE/EI,RANDOM/RANDOM",
        "--arms-file",
        arms,
        "--problems",
        "rosenbrock-3,styblinski-tang-2",
        "--runs",
        "2",
        "--evals",
        "12,15",
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    let table = stdout(&result);
    for row in [
        "| fn:rosenbrock-3 | DIV/SEQ |",
        "| fn:rosenbrock-3 | RF-HLE/EI |",
        "| fn:styblinski-tang-2 | RANDOM/RANDOM |",
    ] {
        assert!(table.contains(row), "{table}");
    }
    // Regrets are non-negative numbers, and nothing failed (no NaN).
    assert!(!table.contains("NaN"), "{table}");
    let refused = home.hpo(&["regret", "--arms", "DIV/", "--problems", "branin"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("expected DIV/<STRATEGY> or MODEL/ACQ"));
}

#[test]
fn functions_and_commands_default_to_bo_hedge_over_gp_rf_and_tpe() {
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let summary = run_json(
        &home,
        out.path(),
        &["--objective", "fn:styblinski-tang-3", "--evals", "14"],
    );
    assert_eq!(summary["mode"], "DIV-BO-HEDGE");
    let run = &results_file(&summary)["0"];
    let arms: Vec<&str> = run["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        arms.contains(&"TPE/MV") && arms.contains(&"GP-HLE/EI"),
        "{arms:?}"
    );
    // A table keeps the seed's default.
    let table = run_json(&home, out.path(), &["--evals", "3"]);
    assert_eq!(table["mode"], "DIV-SEQ");
}

/// The run loop's fallback and suspension: an arm whose proposals break the contract (the
/// hostile fixture's `BAD/NAN`) fails, the trial falls back to the next arm of the strategy's
/// ranking, the failure is counted with its reason, and after three failures in a row the
/// arm is suspended for the rest of the run (SEQ would otherwise rank it first every other
/// trial: five failures in ten trials).
#[test]
fn a_failing_arm_falls_back_down_the_ranking_and_is_suspended_after_three_failures() {
    let home = Home::new();
    let hostile = native("example_hostile");
    let installed = home.hpo(&[
        "plugin",
        "install",
        "--allow-native",
        hostile.to_str().unwrap(),
    ]);
    assert!(installed.status.success(), "{}", stderr(&installed));
    let arms = home.path().join("arms.json");
    std::fs::write(
        &arms,
        r#"{"arms": [{"model": "BAD", "acq_func": "NAN"}, {"model": "RANDOM", "acq_func": "RANDOM"}]}"#,
    )
    .unwrap();
    let out = home.path().join("out");
    let summary = run_json(
        &home,
        &out,
        &[
            "--arms",
            arms.to_str().unwrap(),
            "-m",
            "DIV",
            "-s",
            "SEQ",
            "--objective",
            "fn:branin",
            "--evals",
            "10",
        ],
    );
    let results = results_file(&summary);
    let run = &results["0"];
    let trace: Vec<&str> = run["select_trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(trace, vec!["RANDOM/RANDOM"; 10], "every trial fell back");
    assert_eq!(run["count_arr"], serde_json::json!([0, 10]));
    let failures = &run["failures"]["BAD/NAN"];
    assert_eq!(failures["count"], 3, "suspended after three: {run}");
    let reason = failures["last_reason"].as_str().unwrap();
    assert!(
        reason.contains("plugin 'hostile'") && reason.contains("NaN"),
        "{reason}"
    );
}

/// Any plugin's options come from its section under `plugins` (the seed's files have
/// sections for its model families only); a bad value is refused by the plugin and names
/// the file, and a section for a plugin that is not installed is refused, never ignored.
#[test]
fn a_third_party_plugin_gets_its_section_of_the_run_configuration() {
    let home = home_with_local_search();
    let conf = home.path().join("conf.json");
    let with = |section: &str| {
        format!(
            r#"{{"arms": [{{"model": "LOCAL", "acq_func": "NEAREST"}}], "plugins": {section}}}"#
        )
    };
    let run = |text: String| {
        std::fs::write(&conf, text).unwrap();
        let out = home.path().join("out");
        home.hpo(&[
            "run",
            "--arms",
            conf.to_str().unwrap(),
            "-m",
            "LOCAL",
            "-s",
            "NEAREST",
            "--objective",
            "fn:branin",
            "--evals",
            "5",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let ok = run(with(r#"{"local-search": {"radius": 0.05}}"#));
    assert!(ok.status.success(), "{}", stderr(&ok));
    let bad = run(with(r#"{"local-search": {"radius": 2}}"#));
    assert_eq!(bad.status.code(), Some(2));
    let text = stderr(&bad);
    assert!(
        text.contains("conf.json") && text.contains("local-search") && text.contains("radius"),
        "{text}"
    );
    let unknown = run(with(r#"{"nope": {}}"#));
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("plugins.nope"),
        "{}",
        stderr(&unknown)
    );
}
