//! Multi-fidelity end to end against the `hpo` binary: Hyperband and successive halving
//! from the `stop` plugin give each trial a budget and promote the best configurations —
//! on the bundled table (each trial charged and valued at its budget, a promotion resuming
//! from its parent's epochs), through a training command and `hpo worker` (`HPO_BUDGET`,
//! `{budget}`, `HPO_TRIAL_ID`, `HPO_RESUME`), on simulated workers, resumed, in wasm, and
//! with a scheduler that panics.

mod common;

use std::path::Path;

use common::{Home, WorkerProcess, floats, install, results_file, run_json, stderr, x_space};
use hpo_host::objectives::surrogate::SurrogateTable;
use hpo_host::objectives::{Candidate, Objective, TableObjective};
use serde_json::Value;

fn column<T>(run: &Value, key: &str, f: impl Fn(&Value) -> T) -> Vec<T> {
    run[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} array"))
        .iter()
        .map(f)
        .collect()
}

/// Budgets, parents (`promoted_from`) and statuses of a scheduled run.
fn schedule_of(run: &Value) -> (Vec<u32>, Vec<Option<usize>>, Vec<String>) {
    (
        column(run, "budget", |b| b.as_u64().unwrap() as u32),
        column(run, "promoted_from", |p| p.as_u64().map(|p| p as usize)),
        column(run, "status", |s| s.as_str().unwrap().to_string()),
    )
}

/// Checks the promotions of a run: a promoted trial evaluates its parent's configuration
/// to a larger budget, and exactly the trials some later trial continues are `promoted`.
fn check_lineage(run: &Value, params_key: &str) {
    let (budgets, parents, statuses) = schedule_of(run);
    for (i, parent) in parents.iter().enumerate() {
        if let Some(p) = *parent {
            assert!(p < i, "trial {i} continues a later trial {p}");
            assert!(budgets[p] < budgets[i], "trial {i}: budget {budgets:?}");
            assert_eq!(run[params_key][i], run[params_key][p], "trial {i}");
        }
        let continued = parents.contains(&Some(i));
        assert_eq!(statuses[i] == "promoted", continued, "trial {i}");
    }
}

#[test]
fn hyperband_on_the_table_trains_each_trial_to_its_budget_and_promotes_the_best() {
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let args = [
        "-m",
        "DIV",
        "-s",
        "SEQ",
        "-etr",
        "Hyperband",
        "--evals",
        "60",
    ];
    let run = results_file(&run_json(&home, out.path(), &args))["0"].clone();
    let (budgets, parents, statuses) = schedule_of(&run);
    let mut table = TableObjective::new(SurrogateTable::embedded_default().unwrap());
    assert_eq!(table.horizon(), Some(30));
    // R = 30, η = 3: the first bracket is 27 × 1 epoch → 9 × 3 → 3 × 10 → 1 × 30.
    assert_eq!(&budgets[..27], &[1; 27]);
    assert_eq!(&budgets[27..36], &[3; 9]);
    assert_eq!(&budgets[36..39], &[10; 3]);
    assert_eq!(budgets[39], 30);
    check_lineage(&run, "model_idx");
    let (errors, costs) = (floats(&run["error"]), floats(&run["exec_time"]));
    for i in 0..60 {
        let row = run["model_idx"][i].as_u64().unwrap() as usize;
        let full = table.evaluate(&Candidate::Row(row)).unwrap();
        let to = budgets[i] as usize;
        let from = parents[i].map_or(0, |p| budgets[p] as usize);
        let before = if from == 0 {
            0.0
        } else {
            full.interim[from - 1].time
        };
        // Valued at its budget's epoch, charged the epochs it trained past its parent's.
        assert_eq!(errors[i], full.interim[to - 1].value, "trial {i}");
        assert_eq!(costs[i], full.interim[to - 1].time - before, "trial {i}");
        assert_eq!(run["train_epoch"][i], to, "trial {i}");
        assert_eq!(run["interim"][i].as_array().unwrap().len(), to - from);
    }
    // The nine promoted from the first rung are its nine best.
    let mut first: Vec<usize> = (0..27).collect();
    first.sort_by(|&a, &b| errors[a].total_cmp(&errors[b]).then(a.cmp(&b)));
    let mut promoted: Vec<usize> = parents[27..36].iter().map(|p| p.unwrap()).collect();
    promoted.sort();
    let mut best: Vec<usize> = first[..9].to_vec();
    best.sort();
    assert_eq!(promoted, best);
    // A promotion is no pull of the strategy: only new configurations are counted.
    let pulls: u64 = column(&run, "count_arr", |c| c.as_u64().unwrap())
        .iter()
        .sum();
    assert_eq!(
        pulls as usize,
        parents.iter().filter(|p| p.is_none()).count()
    );
    // The CSV export lists the statuses and budgets.
    let o = out.path().to_str().unwrap();
    let export = common::stdout(&home.hpo(&["results", "--out", o, "export", "1"]));
    let promoted_lines = export.lines().filter(|l| l.contains(",promoted,")).count();
    let promoted_count = statuses.iter().filter(|s| *s == "promoted").count();
    assert_eq!(promoted_lines, promoted_count, "{export}");
    assert!(promoted_count > 0);
    assert!(export.starts_with(
        "experiment,run,iteration,arm,value,exec_time,opt_time,row,epochs,status,budget,"
    ));
    let first_line: Vec<&str> = export.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(first_line[10], "1", "trial 0's budget: {export}");
}

#[test]
fn a_scheduler_is_refused_where_it_cannot_run_in_one_line_with_nothing_written() {
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let refused = |args: &[&str], words: &[&str]| {
        let mut full = vec!["run", "--out", o];
        full.extend_from_slice(args);
        let result = home.hpo(&full);
        assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
        let text = stderr(&result);
        assert_eq!(text.trim().lines().count(), 1, "{text}");
        for word in words {
            assert!(text.contains(word), "{word} missing: {text}");
        }
    };
    // A test function has no epochs to budget.
    refused(
        &[
            "-m",
            "RANDOM",
            "--objective",
            "fn:branin",
            "-etr",
            "Hyperband",
        ],
        &["Hyperband", "fn:branin", "budget"],
    );
    // Options are the scheduler's own.
    let conf = out.path().join("conf.json");
    std::fs::write(
        &conf,
        r#"{"early_term_rule": "SuccessiveHalving", "plugins": {"stop": {"eta": 1}}}"#,
    )
    .unwrap();
    refused(
        &["-m", "RANDOM", "--arms", conf.to_str().unwrap()],
        &["eta"],
    );
    // `budgets` is read only by a scheduled run.
    std::fs::write(&conf, r#"{"budgets": "all"}"#).unwrap();
    refused(
        &["-m", "RANDOM", "--arms", conf.to_str().unwrap()],
        &["budgets", "scheduler"],
    );
    let written: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
    assert_eq!(written.len(), 1, "only the configuration: {written:?}");
}

/// A training command whose value falls with its budget, and which logs what it was told:
/// `HPO_TRIAL_ID HPO_BUDGET HPO_RESUME {budget}` per evaluation.
struct Training {
    dir: tempfile::TempDir,
    objective: String,
    space: std::path::PathBuf,
}

impl Training {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("train.sh");
        let log = dir.path().join("log");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n\
                 echo \"$HPO_TRIAL_ID $HPO_BUDGET $HPO_RESUME $2\" >> {log}\n\
                 awk -v x=\"$1\" -v b=\"$HPO_BUDGET\" 'BEGIN{{printf \"{{\\\"value\\\": %.9f, \\\"epoch\\\": %d}}\\n\", (x-0.3)^2 + 1/b, b}}'\n",
                log = log.display()
            ),
        )
        .unwrap();
        let space = x_space(dir.path());
        let objective = format!("cmd:sh {} {{x}} {{budget}}", script.display());
        Training {
            dir,
            objective,
            space,
        }
    }

    /// Successive halving over 9 epochs (9 × 1 → 3 × 3 → 1 × 9: 13 trials) of random
    /// configurations; `args` say where the command runs.
    fn run(&self, home: &Home, args: &[&str]) -> Value {
        let conf = self.dir.path().join("conf.json");
        let text =
            r#"{"early_term_rule": "SuccessiveHalving", "plugins": {"stop": {"epochs": 9}}}"#;
        std::fs::write(&conf, text).unwrap();
        let mut full = vec!["-m", "RANDOM", "--evals", "13"];
        full.extend(["--arms", conf.to_str().unwrap()]);
        full.extend(["--space", self.space.to_str().unwrap()]);
        full.extend_from_slice(args);
        let summary = run_json(home, &self.dir.path().join("out"), &full);
        results_file(&summary)["0"].clone()
    }

    /// Checks the command learned each trial's budget, lineage and resumption.
    fn check(&self, run: &Value) {
        let (budgets, parents, _) = schedule_of(run);
        assert_eq!(budgets, [vec![1; 9], vec![3; 3], vec![9]].concat());
        check_lineage(run, "params");
        let log = std::fs::read_to_string(self.dir.path().join("log")).unwrap();
        let lines: Vec<Vec<&str>> = log.lines().map(|l| l.split(' ').collect()).collect();
        assert_eq!(lines.len(), 13, "{log}");
        // The id of a configuration is its first trial's, the same after a promotion.
        let root = |mut i: usize| {
            while let Some(p) = parents[i] {
                i = p;
            }
            i
        };
        for (i, words) in lines.iter().enumerate() {
            let budget = budgets[i].to_string();
            let resumed = if parents[i].is_some() { "1" } else { "0" };
            let id = root(i).to_string();
            assert_eq!(
                words,
                &[id.as_str(), &budget, resumed, &budget],
                "trial {i}: {log}"
            );
        }
        // The promoted three are the best of the first nine.
        let errors = floats(&run["error"]);
        let mut first: Vec<usize> = (0..9).collect();
        first.sort_by(|&a, &b| errors[a].total_cmp(&errors[b]));
        let promoted: Vec<usize> = parents[9..12].iter().map(|p| p.unwrap()).collect();
        assert_eq!(promoted, first[..3].to_vec());
        assert_eq!(parents[12], Some(9));
    }
}

#[test]
fn a_training_command_learns_its_budget_and_whether_it_resumes() {
    let home = Home::new();
    let training = Training::new();
    let run = training.run(&home, &["--objective", &training.objective]);
    training.check(&run);
}

#[test]
fn a_remote_job_carries_its_budget_through_hpo_worker() {
    let home = Home::new();
    let training = Training::new();
    let space = training.space.to_str().unwrap();
    let args = ["--objective", &training.objective, "--space", space];
    let worker = WorkerProcess::start(&home, &args, None);
    let run = training.run(&home, &["--objective", "cmd:remote", "-w", &worker.url]);
    training.check(&run);
}

/// A Hyperband run of 50 DIV/SEQ trials under run configuration `conf`, killed after 31
/// (mid-bracket, after promotions began) and resumed: identical to the uninterrupted one.
/// Returns its rows.
fn resumed_as_uninterrupted(home: &Home, dir: &Path, conf: &str) -> Value {
    let out = dir.join("out");
    let conf_file = dir.join("conf.json");
    std::fs::write(&conf_file, conf).unwrap();
    let conf_arg = conf_file.to_str().unwrap();
    let args = [
        "-m",
        "DIV",
        "-s",
        "SEQ",
        "-etr",
        "Hyperband",
        "--evals",
        "50",
        "--arms",
        conf_arg,
    ];
    let reference = results_file(&run_json(home, &out, &args));
    // What a kill -9 after trial 31 leaves: the later trials gone, the run unfinished.
    let store = rusqlite::Connection::open(out.join(hpo_host::store::STORE_FILE)).unwrap();
    store
        .execute_batch(
            "DELETE FROM trials WHERE iteration >= 31;
             UPDATE runs SET stop_reason = NULL, failures = NULL;
             UPDATE experiments SET finished = 0;",
        )
        .unwrap();
    let mut resume = args.to_vec();
    resume.push("--resume");
    let resumed = results_file(&run_json(home, &out, &resume));
    for key in [
        "model_idx",
        "error",
        "exec_time",
        "budget",
        "promoted_from",
        "status",
        "select_trace",
    ] {
        assert_eq!(resumed["0"][key], reference["0"][key], "{key}");
    }
    reference["0"]["model_idx"].clone()
}

#[test]
fn a_resumed_scheduled_run_continues_as_the_uninterrupted_one() {
    let home = Home::new();
    let arms = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../run_conf/arms.json"),
    )
    .unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Models told every trial (the default), then BOHB's rule: refitted on the highest
    // budget with enough trials, which the replay reaches the same way.
    let all = resumed_as_uninterrupted(&home, a.path(), &arms);
    let mut highest: Value = serde_json::from_str(&arms).unwrap();
    highest["budgets"] = "highest".into();
    let bohb = resumed_as_uninterrupted(&home, b.path(), &highest.to_string());
    assert_eq!(all[0], bohb[0]);
    assert_ne!(all, bohb, "what the models learn changes the proposals");
}

#[test]
fn the_wasm_scheduler_schedules_as_the_native_one_and_a_panicking_one_fails_nothing() {
    let (native_home, wasm_home) = (Home::new(), Home::new());
    install(&wasm_home, &common::wasm("hpo_stop"));
    let info = common::stdout(&wasm_home.hpo(&["plugin", "info", "stop"]));
    assert!(
        info.contains("schedulers:  Hyperband, SuccessiveHalving"),
        "{info}"
    );
    let args = ["-m", "GP", "-s", "EI", "-etr", "hyperband", "--evals", "45"];
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let native = results_file(&run_json(&native_home, a.path(), &args));
    let wasm = results_file(&run_json(&wasm_home, b.path(), &args));
    for key in ["model_idx", "error", "budget", "promoted_from", "status"] {
        assert_eq!(native["0"][key], wasm["0"][key], "{key}");
    }
    // The hostile scheduler panics from its fourth call: the run goes on, each later
    // trial trained fully.
    install(&wasm_home, &common::wasm("example_hostile"));
    let c = tempfile::tempdir().unwrap();
    let o = c.path().to_str().unwrap();
    let result = wasm_home.hpo(&[
        "run",
        "--json",
        "--out",
        o,
        "-m",
        "RANDOM",
        "-etr",
        "PANIC-SCHEDULE",
        "--evals",
        "6",
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    assert!(
        stderr(&result).contains("trains fully"),
        "{}",
        stderr(&result)
    );
    let summary: Value = serde_json::from_str(&common::stdout(&result)).unwrap();
    let run = &results_file(&summary)["0"];
    let budgets: Vec<u64> = column(run, "budget", |b| b.as_u64().unwrap());
    assert_eq!(budgets, [1, 1, 1, 30, 30, 30]);
}

#[test]
fn simulated_workers_run_brackets_side_by_side_and_promote_only_ended_trials() {
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
        "Hyperband",
        "--evals",
        "60",
    ];
    let run = results_file(&run_json(&home, out.path(), &args))["0"].clone();
    check_lineage(&run, "model_idx");
    let (_, parents, _) = schedule_of(&run);
    let (starts, ends) = (floats(&run["start_time"]), floats(&run["end_time"]));
    for (i, parent) in parents.iter().enumerate() {
        if let Some(p) = *parent {
            assert!(
                starts[i] >= ends[p],
                "trial {i} started before its parent {p} ended"
            );
        }
    }
    assert!(parents.iter().any(Option::is_some), "nothing promoted");
}
