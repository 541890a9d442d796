//! Early termination end to end against the `hpo` binary: the seed's rules on the bundled
//! table (a stopped trial is charged its stop epoch and reports nothing it had not seen),
//! a real training command stopped mid-training (its process group killed), the same
//! through `hpo worker`, and the `stop` plugin's wasm build deciding as its native one.

mod common;

use std::path::PathBuf;

use common::{Home, WorkerProcess, floats, install, plot, results_file, run_json, stderr, x_space};
use hpo_host::objectives::surrogate::SurrogateTable;
use hpo_host::objectives::{Candidate, Objective, TableObjective};
use serde_json::Value;

fn statuses(run: &Value) -> Vec<String> {
    run["status"]
        .as_array()
        .unwrap_or_else(|| panic!("no status array: {run}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// How many `<tag>` elements of `svg` have `attribute` (stroke or fill) `colour`.
fn drawn(svg: &str, tag: &str, attribute: &str, colour: &str) -> usize {
    let (open, paint) = (format!("<{tag} "), format!("{attribute}=\"{colour}\""));
    svg.lines()
        .filter(|l| l.starts_with(&open) && l.contains(&paint))
        .count()
}

#[test]
fn a_stopped_table_trial_is_charged_its_stop_epoch_and_leaks_nothing() {
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let args = [
        "-m",
        "DIV",
        "-s",
        "SEQ",
        "-etr",
        "DecaTercet",
        "--evals",
        "60",
    ];
    let summary = run_json(&home, out.path(), &args);
    let run = &results_file(&summary)["0"];
    let status = statuses(run);
    let mut table = TableObjective::new(SurrogateTable::embedded_default().unwrap());
    let horizon = table.horizon().unwrap();
    let (errors, costs) = (floats(&run["error"]), floats(&run["exec_time"]));
    let (mut stopped, mut full_cost) = (0, 0.0);
    for (i, status) in status.iter().enumerate() {
        let row = run["model_idx"][i].as_u64().unwrap() as usize;
        let full = table.evaluate(&Candidate::Row(row)).unwrap();
        full_cost += full.cost;
        let epoch = run["train_epoch"][i].as_u64().unwrap() as usize;
        let reported = run["interim"][i].as_array().unwrap();
        match status.as_str() {
            "terminated" => {
                stopped += 1;
                assert!(epoch < horizon, "trial {i} stopped at {epoch} of {horizon}");
                // Charged the table's cumulative time at the stop epoch ...
                assert_eq!(costs[i], full.interim[epoch - 1].time, "trial {i}");
                // ... and the best value of the epochs it trained, nothing later.
                let seen = full.interim[..epoch].iter().map(|r| r.value);
                assert_eq!(errors[i], seen.fold(f64::INFINITY, f64::min), "trial {i}");
                assert_eq!(reported.len(), epoch, "trial {i}: only the epochs trained");
            }
            "complete" => {
                assert_eq!(epoch, horizon);
                assert_eq!((errors[i], costs[i]), (full.value, full.cost), "trial {i}");
            }
            other => panic!("trial {i}: {other}"),
        }
    }
    // DecaTercet drops the bottom tenth at half-way and keeps the top tenth at 90 %.
    assert!(stopped >= 20, "{stopped} of 60 stopped: {status:?}");
    // The store keeps the statuses: the CSV export lists them.
    let o = out.path().to_str().unwrap();
    let export = common::stdout(&home.hpo(&["results", "--out", o, "export", "1"]));
    let terminated = export
        .lines()
        .filter(|l| l.contains(",terminated,"))
        .count();
    assert_eq!(terminated, stopped, "{export}");
    // The curves plot draws each stopped trial's curve in red, the others in blue.
    let svg = plot(&home, out.path(), "curves");
    assert_eq!(
        drawn(&svg, "polyline", "stroke", "#FF0000"),
        stopped,
        "red: stopped"
    );
    assert_eq!(
        drawn(&svg, "polyline", "stroke", "#0000FF"),
        60 - stopped,
        "blue: completed"
    );
    // The arms plot: a dot per trial and one per arm in the legend, with its share.
    let svg = plot(&home, out.path(), "arms");
    let used: std::collections::BTreeSet<&str> = run["select_trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(svg.matches("<circle").count(), 60 + used.len());
    for arm in &used {
        let n = run["select_trace"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a == arm)
            .count();
        let share = format!("{arm} ({:.0} %)", 100.0 * n as f64 / 60.0);
        assert!(svg.contains(&share), "{share} missing");
    }
    // The trials cost less than training the same rows to the end.
    let spent: f64 = costs.iter().sum();
    assert!(spent < full_cost, "{spent} vs {full_cost}");
    // The same run without a rule trains every trial to the end.
    let out_none = tempfile::tempdir().unwrap();
    let plain = run_json(
        &home,
        out_none.path(),
        &["-m", "DIV", "-s", "SEQ", "-etr", "NONE", "--evals", "60"],
    );
    let plain_run = &results_file(&plain)["0"];
    assert!(plain_run.get("status").is_none());
    assert!(
        plain_run["train_epoch"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e == horizon)
    );
}

#[test]
fn a_rule_that_does_not_exist_or_bad_options_are_one_line_and_nothing_written() {
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let bad = home.hpo(&["run", "--out", o, "-m", "RANDOM", "-etr", "Decimate"]);
    assert_eq!(bad.status.code(), Some(2));
    let text = stderr(&bad);
    assert!(
        text.contains("Decimate") && text.contains("DecaTercet"),
        "{text}"
    );
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    let conf = out.path().join("conf.json");
    std::fs::write(
        &conf,
        r#"{"early_term_rule": "PentaTercet", "plugins": {"stop": {"warmup": 3}}}"#,
    )
    .unwrap();
    let bad = home.hpo(&[
        "run",
        "--out",
        o,
        "-m",
        "RANDOM",
        "--arms",
        conf.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("warmup"), "{}", stderr(&bad));
    let written: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
    assert_eq!(written.len(), 1, "only the configuration: {written:?}");
}

/// A training command that prints one `{"value", "epoch"}` line per epoch (10 epochs,
/// 50 ms each) and, when it trains to the end, leaves a marker file.
struct Training {
    dir: tempfile::TempDir,
    objective: String,
    space: PathBuf,
}

impl Training {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("train.sh");
        let done = dir.path().join("done");
        std::fs::create_dir(&done).unwrap();
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n\
                 for e in 1 2 3 4 5 6 7 8 9 10; do\n\
                 \x20 sleep 0.05\n\
                 \x20 awk -v x=\"$1\" -v e=\"$e\" 'BEGIN{{printf \"{{\\\"value\\\": %.9f, \\\"epoch\\\": %d}}\\n\", (x-0.3)^2 + 1/e, e}}'\n\
                 done\n\
                 touch {done}/$$\n",
                done = done.display()
            ),
        )
        .unwrap();
        let space = x_space(dir.path());
        let objective = format!("cmd:sh {} {{x}}", script.display());
        Training {
            dir,
            objective,
            space,
        }
    }

    fn finished(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("done"))
            .unwrap()
            .count()
    }

    /// Twelve random-search trials of the command under Median stopping (`args` say where
    /// it runs): the results of the run.
    fn run(&self, home: &Home, args: &[&str]) -> Value {
        let conf = self.dir.path().join("conf.json");
        let text = r#"{"early_term_rule": "Median", "plugins": {"stop": {"min_curves": 2}}}"#;
        std::fs::write(&conf, text).unwrap();
        let mut full = vec![
            "-m",
            "RANDOM",
            "--evals",
            "12",
            "--arms",
            conf.to_str().unwrap(),
        ];
        full.extend(["--space", self.space.to_str().unwrap()]);
        full.extend_from_slice(args);
        let summary = run_json(home, &self.dir.path().join("out"), &full);
        results_file(&summary)["0"].clone()
    }
}

/// Checks a run of the training command: some trials were stopped before their last
/// epoch, and only the others trained to the end (a stopped command was killed).
fn check_stopped_commands(run: &Value, training: &Training, evals: usize) {
    let status = statuses(run);
    assert_eq!(status.len(), evals);
    let stopped: Vec<usize> = (0..evals).filter(|&i| status[i] == "terminated").collect();
    assert!(!stopped.is_empty(), "nothing stopped: {status:?}");
    for &i in &stopped {
        let epoch = run["train_epoch"][i].as_u64().unwrap();
        assert!(epoch < 10, "trial {i} stopped at epoch {epoch}");
        let seen = floats(&Value::Array(
            run["interim"][i]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r[1].clone())
                .collect(),
        ));
        let best = seen.iter().copied().fold(f64::INFINITY, f64::min);
        assert_eq!(run["error"][i].as_f64().unwrap(), best, "trial {i}");
    }
    let complete = status.iter().filter(|s| *s == "complete").count();
    assert_eq!(training.finished(), complete, "{status:?}");
}

#[test]
fn a_training_command_is_stopped_mid_training() {
    let home = Home::new();
    let training = Training::new();
    let run = training.run(&home, &["--objective", &training.objective]);
    check_stopped_commands(&run, &training, 12);
}

#[test]
fn a_remote_job_is_stopped_through_hpo_worker() {
    let home = Home::new();
    let training = Training::new();
    let space = training.space.to_str().unwrap();
    let args = ["--objective", &training.objective, "--space", space];
    let worker = WorkerProcess::start(&home, &args, None);
    let run = training.run(&home, &["--objective", "cmd:remote", "-w", &worker.url]);
    // The worker kills a deleted job's process group; give it a moment to be reaped.
    std::thread::sleep(std::time::Duration::from_millis(300));
    check_stopped_commands(&run, &training, 12);
}

#[test]
fn the_wasm_stop_plugin_decides_as_the_native_one_and_older_plugins_load() {
    // The wasm build of `stop`, installed, shadows the bundled native one.
    let native_home = Home::new();
    let wasm_home = Home::new();
    install(&wasm_home, &common::wasm("hpo_stop"));
    let list = common::stdout(&wasm_home.hpo(&["plugin", "list"]));
    let line = list.lines().find(|l| l.starts_with("stop ")).unwrap();
    assert!(
        line.contains("wasm") && line.contains("stoppers DecaTercet"),
        "{list}"
    );
    let args = [
        "-m",
        "GP",
        "-s",
        "EI",
        "-etr",
        "PentaTercet",
        "--evals",
        "40",
    ];
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let native = results_file(&run_json(&native_home, a.path(), &args));
    let wasm = results_file(&run_json(&wasm_home, b.path(), &args));
    for key in ["model_idx", "error", "exec_time", "train_epoch", "status"] {
        assert_eq!(native["0"][key], wasm["0"][key], "{key}");
    }
    // A component built against API 1.1 (before stoppers) loads, offers none, and runs.
    let old =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/api-1.1/hpo_random.wasm");
    install(&wasm_home, &old);
    let info = common::stdout(&wasm_home.hpo(&["plugin", "info", "random"]));
    assert!(
        info.contains("api:         1.1.0") && info.contains("stoppers:    \n"),
        "{info}"
    );
    let c = tempfile::tempdir().unwrap();
    run_json(
        &wasm_home,
        c.path(),
        &["-m", "RANDOM", "-etr", "TetraTercet", "--evals", "12"],
    );
}

#[test]
fn a_stopper_that_traps_never_fails_the_run() {
    let home = Home::new();
    install(&home, &common::wasm("example_hostile"));
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let args = [
        "run",
        "--json",
        "--out",
        o,
        "-m",
        "RANDOM",
        "-etr",
        "PANIC-STOP",
        "--evals",
        "6",
    ];
    let result = home.hpo(&args);
    assert!(result.status.success(), "{}", stderr(&result));
    assert!(
        stderr(&result).contains("the trial goes on"),
        "{}",
        stderr(&result)
    );
    let summary: Value = serde_json::from_str(&common::stdout(&result)).unwrap();
    let run = &results_file(&summary)["0"];
    // Every trial trained to the end: a failed decision is "go on".
    assert!(run.get("status").is_none(), "{run}");
    assert_eq!(run["error"].as_array().unwrap().len(), 6);
}

#[test]
fn a_resumed_run_with_a_rule_decides_as_the_uninterrupted_one() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let args = [
        "-m",
        "DIV",
        "-s",
        "SEQ",
        "-etr",
        "DecaTercet",
        "--evals",
        "40",
    ];
    let reference = results_file(&run_json(&home, &out, &args));
    // What a kill -9 after trial 25 leaves: the later trials gone, the run unfinished.
    let store = rusqlite::Connection::open(out.join(hpo_host::store::STORE_FILE)).unwrap();
    store
        .execute_batch(
            "DELETE FROM trials WHERE iteration >= 25;
             UPDATE runs SET stop_reason = NULL, failures = NULL;
             UPDATE experiments SET finished = 0;",
        )
        .unwrap();
    let mut resume = args.to_vec();
    resume.push("--resume");
    let resumed = results_file(&run_json(&home, &out, &resume));
    for key in [
        "model_idx",
        "error",
        "exec_time",
        "train_epoch",
        "status",
        "interim",
    ] {
        assert_eq!(resumed["0"][key], reference["0"][key], "{key}");
    }
    assert!(statuses(&reference["0"]).iter().any(|s| s == "terminated"));
}

#[test]
fn models_learn_a_stopped_trial_unless_told_to_ignore_it() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("ignored.json");
    std::fs::write(&conf, r#"{"terminated": "ignored"}"#).unwrap();
    let args = [
        "-m",
        "GP",
        "-s",
        "EI",
        "-etr",
        "DecaTercet",
        "--evals",
        "30",
    ];
    let observed = results_file(&run_json(&home, &dir.path().join("a"), &args));
    let mut ignoring = args.to_vec();
    ignoring.extend(["--arms", conf.to_str().unwrap()]);
    let ignored = results_file(&run_json(&home, &dir.path().join("b"), &ignoring));
    // The same first trials, then different proposals once stopped trials were (not) fitted.
    let (a, b) = (&observed["0"]["model_idx"], &ignored["0"]["model_idx"]);
    assert_eq!(a[0], b[0]);
    assert_ne!(a, b);
}

#[test]
fn simulated_workers_stop_trials_and_the_workers_plot_shows_them() {
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let args = [
        "-m",
        "BATCH",
        "-s",
        "ASYNC",
        "--workers",
        "4",
        "-etr",
        "ASHA",
        "--evals",
        "24",
    ];
    let run = results_file(&run_json(&home, out.path(), &args))["0"].clone();
    let status = statuses(&run);
    let stopped = status.iter().filter(|s| *s == "terminated").count();
    assert!(stopped > 0, "{status:?}");
    // A stopped trial's job ends after its stop epoch's time on the simulated clock.
    let (starts, ends) = (floats(&run["start_time"]), floats(&run["end_time"]));
    let costs = floats(&run["exec_time"]);
    for i in 0..24 {
        assert!((ends[i] - starts[i] - costs[i]).abs() < 1e-9, "trial {i}");
    }
    let svg = plot(&home, out.path(), "workers");
    assert_eq!(
        drawn(&svg, "rect", "fill", "#FF0000"),
        stopped,
        "a red bar per stopped trial"
    );
    assert_eq!(
        drawn(&svg, "rect", "fill", "#0000FF"),
        24 - stopped,
        "a blue bar per completed trial"
    );
}
