//! Parallel and asynchronous runs, end to end against the `hpo` binary: local workers
//! (`--workers N`), a pool of remote workers with several slots, one of which dies, the
//! seed's simulated BATCH SYNC/ASYNC reproduced bit for bit, and interrupted parallel runs
//! resumed with their trials in flight evaluated again.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Home, WorkerProcess, floats, results_file, run_json, stderr, stdout, xy_space};
use serde_json::Value;

/// A training command in a temporary directory: it appends `$HPO_WORKER {worker} start
/// end` to a log, sleeps, and reports (x − 0.3)² + (y − 0.7)².
struct Training {
    dir: tempfile::TempDir,
    log: PathBuf,
    /// `cmd:sh train.sh {x} {y} {worker}`.
    objective: String,
    space: PathBuf,
}

impl Training {
    fn new(sleep: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("workers.log");
        let script = dir.path().join("train.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n\
                 start=$(date +%s.%N)\n\
                 sleep {sleep}\n\
                 echo \"$HPO_WORKER $3 $start $(date +%s.%N)\" >> {log}\n\
                 awk \"BEGIN{{printf \\\"{{\\\\\\\"value\\\\\\\": %.12f}}\\\\n\\\", ($1-0.3)^2 + ($2-0.7)^2}}\"\n",
                log = log.display()
            ),
        )
        .unwrap();
        let objective = format!("cmd:sh {} {{x}} {{y}} {{worker}}", script.display());
        let space = xy_space(dir.path());
        Training {
            dir,
            log,
            objective,
            space,
        }
    }

    fn space(&self) -> &str {
        self.space.to_str().unwrap()
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// The logged evaluations: (HPO_WORKER, {worker}, start, end).
    fn evaluations(&self) -> Vec<(String, String, f64, f64)> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                (
                    f[0].to_string(),
                    f[1].to_string(),
                    f[2].parse().unwrap(),
                    f[3].parse().unwrap(),
                )
            })
            .collect()
    }

    /// The most commands that ran at one instant.
    fn most_at_once(&self) -> usize {
        let intervals: Vec<(f64, f64)> = self.evaluations().iter().map(|e| (e.2, e.3)).collect();
        most_at_once(&intervals)
    }
}

/// The most intervals `[start, end]` that overlap at one instant.
fn most_at_once(intervals: &[(f64, f64)]) -> usize {
    let mut events: Vec<(f64, i32)> = intervals
        .iter()
        .flat_map(|&(s, e)| [(s, 1), (e, -1)])
        .collect();
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut now = 0;
    let mut most = 0;
    for (_, step) in events {
        now += step;
        most = most.max(now);
    }
    most as usize
}

/// Every successful trial's value is the script's function of its parameters.
fn assert_values_match_params(run: &Value) {
    for (value, params) in run["error"]
        .as_array()
        .unwrap()
        .iter()
        .zip(run["params"].as_array().unwrap())
    {
        let (x, y) = (params["x"].as_f64().unwrap(), params["y"].as_f64().unwrap());
        let expected = (x - 0.3).powi(2) + (y - 0.7).powi(2);
        assert!(
            (value.as_f64().unwrap() - expected).abs() < 1e-9,
            "{value} at {params}"
        );
    }
}

#[test]
fn local_workers_run_commands_at_once_each_told_its_worker() {
    let home = Home::new();
    let training = Training::new("0.3");
    let summary = run_json(
        &home,
        &training.out(),
        &[
            "-m",
            "GP",
            "--objective",
            &training.objective,
            "--space",
            training.space(),
            "--workers",
            "4",
            "--evals",
            "16",
        ],
    );
    assert_eq!(
        summary["parallelism"],
        serde_json::json!({"driver": "local", "workers": 4})
    );
    let run = &results_file(&summary)["0"];
    assert_eq!(run["error"].as_array().unwrap().len(), 16);
    assert_values_match_params(run);
    // Each command saw its worker in the environment and as {worker}, from 0 to 3.
    let evaluations = training.evaluations();
    assert_eq!(evaluations.len(), 16);
    for (env, placeholder, _, _) in &evaluations {
        assert_eq!(env, placeholder, "HPO_WORKER and {{worker}}");
        assert!(["0", "1", "2", "3"].contains(&env.as_str()), "{env}");
    }
    assert!(
        training.most_at_once() >= 2,
        "commands ran one at a time: {evaluations:?}"
    );
    // The results file says which worker ran each trial and when, on the run's clock.
    let workers: std::collections::BTreeSet<u64> = run["worker"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_u64().unwrap())
        .collect();
    assert!(
        workers.len() >= 2 && workers.iter().all(|w| *w < 4),
        "{workers:?}"
    );
    let (starts, ends) = (floats(&run["start_time"]), floats(&run["end_time"]));
    assert!(starts.iter().zip(&ends).all(|(s, e)| s <= e));
    assert!(
        ends.windows(2).all(|w| w[0] <= w[1]),
        "recorded as they end"
    );
    let clock = summary["runs"][0]["clock_time"].as_f64().unwrap();
    let exec: f64 = floats(&run["exec_time"]).iter().sum();
    assert!(clock < exec, "clock {clock} s, Σexec {exec} s");
    assert!(
        summary["results_file"]
            .as_str()
            .unwrap()
            .contains("GP-EI.M4"),
        "{summary}"
    );
}

#[test]
fn a_remote_pool_survives_a_worker_that_dies_mid_run() {
    let home = Home::new();
    let training = Training::new("0.2");
    let worker_args = [
        "--objective",
        &training.objective,
        "--space",
        training.space(),
        "--slots",
        "2",
    ];
    let staying = WorkerProcess::start(&home, &worker_args, None);
    let mut leaving = WorkerProcess::start(&home, &worker_args, None);
    let out = training.out();
    let run = std::process::Command::new(common::hpo_bin())
        .args([
            "run",
            "--json",
            "--out",
            out.to_str().unwrap(),
            "-m",
            "RANDOM",
        ])
        .args(["--objective", "cmd:remote", "--space", training.space()])
        .args(["-w", &staying.url, "-w", &leaving.url, "--evals", "24"])
        .env("HPO_HOME", home.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kill one worker once a few trials are done (its jobs are in flight then).
    let store = out.join(hpo_host::store::STORE_FILE);
    let deadline = Instant::now() + Duration::from_secs(60);
    while completed(&store) < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    leaving.child.kill().unwrap();
    leaving.child.wait().unwrap();
    let output = run.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("is gone"), "{}", stderr(&output));
    let summary: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let run = &results_file(&summary)["0"];
    assert_eq!(run["error"].as_array().unwrap().len(), 24, "no trial lost");
    assert_values_match_params(run);
    // Both workers' two slots served at once; the survivor's slots finished the run.
    assert!(training.most_at_once() >= 3, "{:?}", training.evaluations());
    drop(staying);
}

/// Trials completed in run 0 of experiment 1 of the store at `path`.
fn completed(path: &Path) -> usize {
    hpo_host::store::Store::open(path)
        .and_then(|s| s.trials(1, 0))
        .map_or(0, |t| t.len())
}

/// Per-trial arrays a simulated run reproduces (everything but measured optimizer times).
const SIMULATED: [&str; 10] = [
    "model_idx",
    "error",
    "params",
    "select_trace",
    "exec_time",
    "worker",
    "start_time",
    "end_time",
    "count_arr",
    "mean_arr",
];

#[test]
fn batch_sync_and_async_on_the_table_are_reproduced_bit_for_bit() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    for spec in ["SYNC", "ASYNC"] {
        let args = [
            "-m",
            "BATCH",
            "-s",
            spec,
            "--workers",
            "4",
            "--evals",
            "30",
            "--seed",
            "3",
        ];
        let first = run_json(&home, &dir.path().join(format!("{spec}-1")), &args);
        let again = run_json(&home, &dir.path().join(format!("{spec}-2")), &args);
        let name = format!("{spec}-BATCH.M4");
        assert!(
            first["results_file"].as_str().unwrap().contains(&name),
            "{first}"
        );
        let (a, b) = (&results_file(&first)["0"], &results_file(&again)["0"]);
        for key in SIMULATED {
            assert_eq!(a[key], b[key], "{spec}: {key}");
        }
        let (workers, starts, ends) = (
            a["worker"].as_array().unwrap(),
            floats(&a["start_time"]),
            floats(&a["end_time"]),
        );
        assert_eq!(starts.len(), 30);
        // A job lasts its row's recorded time on the simulated clock.
        for ((s, e), cost) in starts.iter().zip(&ends).zip(floats(&a["exec_time"])) {
            assert!((e - s - cost).abs() < 1e-9);
        }
        assert!(
            ends.windows(2).all(|w| w[0] <= w[1]),
            "{spec}: told as they end"
        );
        let mut rounds: Vec<f64> = starts.clone();
        rounds.dedup();
        if spec == "SYNC" {
            // Rounds of four jobs: a round starts when the slowest of the last one ends.
            let mut sorted = starts.clone();
            sorted.sort_by(f64::total_cmp);
            sorted.dedup();
            assert!(sorted.len() <= 30 / 4 + 1, "{sorted:?}");
            for chunk in starts.chunks(4) {
                assert!(chunk.iter().all(|s| *s == chunk[0]), "{starts:?}");
            }
        } else {
            // A worker's next job starts when its previous one ends.
            for w in 0..4u64 {
                let mine: Vec<usize> = (0..30).filter(|&i| workers[i] == w).collect();
                let mut by_start = mine.clone();
                by_start.sort_by(|&i, &j| starts[i].total_cmp(&starts[j]));
                for pair in by_start.windows(2) {
                    assert_eq!(starts[pair[1]], ends[pair[0]], "worker {w}");
                }
            }
            assert!(
                rounds.len() > 30 / 4 + 1,
                "ASYNC is not in rounds: {starts:?}"
            );
        }
    }
}

/// Makes the store at `path` refuse a completed trial beyond the first `keep` of a run: the
/// run stops there as if killed, with its trials in flight still recorded.
fn interrupt_at(path: &Path, keep: usize) {
    drop(hpo_host::store::Store::open(path).unwrap());
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(&format!(
            "CREATE TRIGGER interrupt BEFORE INSERT ON trials
             WHEN (SELECT COUNT(*) FROM trials) >= {keep}
             BEGIN SELECT RAISE(ABORT, 'interrupted by the test'); END;"
        ))
        .unwrap();
}

#[test]
fn an_interrupted_simulated_run_resumes_its_jobs_in_flight_bit_for_bit() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    for (args, keep) in [
        (
            &[
                "-m",
                "BATCH",
                "-s",
                "ASYNC",
                "--workers",
                "4",
                "--evals",
                "30",
            ][..],
            13,
        ),
        (
            &[
                "-m",
                "BATCH",
                "-s",
                "SYNC",
                "--workers",
                "3",
                "--evals",
                "24",
            ],
            10,
        ),
        (
            &[
                "-m",
                "DIV",
                "-s",
                "BO-HEDGE",
                "--simulate",
                "--workers",
                "3",
                "--objective",
                "fn:branin",
                "--evals",
                "24",
            ],
            11,
        ),
    ] {
        let clean = results_file(&run_json(&home, &dir.path().join("clean"), args));
        let out = dir.path().join("interrupted");
        let _ = std::fs::remove_dir_all(&out);
        interrupt_at(&out.join(hpo_host::store::STORE_FILE), keep);
        let mut full = vec!["run", "--json", "--out", out.to_str().unwrap()];
        full.extend_from_slice(args);
        let stopped = home.hpo(&full);
        assert!(!stopped.status.success(), "{args:?}");
        assert!(stderr(&stopped).contains("interrupted by the test"));
        let store = hpo_host::store::Store::open(&out.join(hpo_host::store::STORE_FILE)).unwrap();
        let in_flight = store.pending(1, 0).unwrap().len();
        assert!(in_flight >= 2, "{args:?}: {in_flight} trials in flight");
        drop(store);
        rusqlite::Connection::open(out.join(hpo_host::store::STORE_FILE))
            .unwrap()
            .execute_batch("DROP TRIGGER interrupt")
            .unwrap();
        full.push("--resume");
        let resumed = home.hpo(&full);
        assert!(resumed.status.success(), "{}", stderr(&resumed));
        let summary: Value = serde_json::from_str(&stdout(&resumed)).unwrap();
        let resumed = results_file(&summary);
        for key in SIMULATED {
            assert_eq!(resumed["0"][key], clean["0"][key], "{args:?}: {key}");
        }
        // The jobs in flight at the interruption were evaluated again, and say so.
        let requeued = resumed["0"]["requeued"].as_array().unwrap();
        assert_eq!(requeued.len(), in_flight, "{args:?}");
        assert_eq!(requeued[0], keep, "{args:?}");
    }
}

#[test]
fn a_parallel_run_killed_mid_way_resumes_with_its_trials_in_flight_evaluated_again() {
    let home = Home::new();
    let training = Training::new("0.2");
    let out = training.out();
    let args: Vec<String> = [
        "run",
        "--json",
        "--out",
        out.to_str().unwrap(),
        "-m",
        "TPE",
        "-s",
        "EI",
        "--objective",
        &training.objective,
        "--space",
        training.space(),
        "--workers",
        "3",
        "--evals",
        "24",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut child = std::process::Command::new(common::hpo_bin())
        .args(&args)
        .env("HPO_HOME", home.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let store_path = out.join(hpo_host::store::STORE_FILE);
    let deadline = Instant::now() + Duration::from_secs(60);
    while completed(&store_path) < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let store = hpo_host::store::Store::open(&store_path).unwrap();
    let before = store.trials(1, 0).unwrap();
    let in_flight = store.pending(1, 0).unwrap().len();
    drop(store);
    assert!((5..24).contains(&before.len()), "{} trials", before.len());
    let mut resume: Vec<&str> = args.iter().map(String::as_str).collect();
    resume.push("--resume");
    let resumed = home.hpo(&resume);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let summary: Value = serde_json::from_str(&stdout(&resumed)).unwrap();
    let run = &results_file(&summary)["0"];
    assert_eq!(run["error"].as_array().unwrap().len(), 24);
    assert_values_match_params(run);
    // No completed trial lost or changed; those in flight evaluated again, marked.
    for (i, trial) in before.iter().enumerate() {
        assert_eq!(
            run["params"][i],
            serde_json::json!({"x": trial.params[0], "y": trial.params[1]})
        );
        assert_eq!(
            run["error"][i].as_f64().unwrap().to_bits(),
            trial.value.to_bits()
        );
    }
    let requeued = run
        .get("requeued")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    assert_eq!(requeued, in_flight);
    // The clock goes on from where the interrupted run stopped.
    let starts = floats(&run["start_time"]);
    assert!(
        starts[before.len()..]
            .iter()
            .all(|s| *s >= starts[before.len() - 1])
    );
}
