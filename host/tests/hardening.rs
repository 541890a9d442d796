//! The hardening invariants, end to end against the `hpo` binary: a resumed run continues
//! bit for bit (every arm kind, test functions and the table), a rebuilt run reads like the
//! fresh one, two runs never share a results file, a hard kill takes the training command
//! along, a trial is bounded by its timeout whatever its children do, a command's output is
//! read as bytes and its stderr kept bounded, and the worker serves everyone while a
//! stranger stalls.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Home, WorkerProcess, results_file, run_json, stderr, stdout, x_space};
use serde_json::Value;

/// Turns a finished experiment's store into the state a `kill -9` after trial `keep` of
/// run 0 leaves: the later trials gone, the run and the experiment unfinished.
fn interrupt_after(store: &Path, keep: usize) {
    let conn = rusqlite::Connection::open(store).unwrap();
    conn.execute_batch(&format!(
        "DELETE FROM trials WHERE run > 0 OR iteration >= {keep};
         DELETE FROM runs WHERE run > 0;
         UPDATE runs SET stop_reason = NULL, failures = NULL;
         UPDATE experiments SET finished = 0;"
    ))
    .unwrap();
}

/// The per-trial arrays a resumed run must reproduce exactly (timings are measured, so
/// they are not compared).
const REPRODUCED: [&str; 5] = ["model_idx", "error", "params", "select_trace", "interim"];

/// Runs `args` to the end, interrupts a copy after `keep` trials, resumes it, and checks
/// the resumed run equals the uninterrupted one bit for bit.
fn assert_resume_is_bit_identical(args: &[&str], keep: usize) {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let clean = run_json(&home, &out, args);
    let reference = results_file(&clean);
    interrupt_after(&out.join(hpo_host::store::STORE_FILE), keep);
    let mut resume = args.to_vec();
    resume.push("--resume");
    let resumed = results_file(&run_json(&home, &out, &resume));
    for key in REPRODUCED {
        let (a, b) = (&resumed["0"][key], &reference["0"][key]);
        assert_eq!(
            a, b,
            "{args:?}: '{key}' differs after resuming at trial {keep}"
        );
    }
    for key in ["count_arr", "mean_arr", "failures", "stop_reason"] {
        assert_eq!(resumed["0"][key], reference["0"][key], "{args:?}: {key}");
    }
}

#[test]
fn a_resumed_gp_tpe_or_rf_run_on_a_test_function_continues_bit_for_bit() {
    // Killed right after the initial design, in the middle of the model's steps, and (GP)
    // between two hyperparameter refits (every second step from 40 observations on).
    for (arm, problem, evals, kills) in [
        (
            ["-m", "GP", "-s", "EI"],
            "fn:hartmann3",
            "48",
            &[11, 43][..],
        ),
        (["-m", "TPE", "-s", "MV"], "fn:branin", "22", &[11, 17]),
        (["-m", "RF", "-s", "EI"], "fn:branin", "22", &[11, 17]),
    ] {
        let mut args = arm.to_vec();
        args.extend(["--objective", problem, "--evals", evals, "--seed", "3"]);
        for &keep in kills {
            assert_resume_is_bit_identical(&args, keep);
        }
    }
}

#[test]
fn a_resumed_diversified_run_continues_bit_for_bit_on_a_function_and_on_the_table() {
    let tpe_conf = concat!(env!("CARGO_MANIFEST_DIR"), "/../run_conf/arms-tpe.json");
    assert_resume_is_bit_identical(
        &[
            "-m",
            "DIV",
            "-s",
            "SEQ",
            "--objective",
            "fn:branin",
            "--evals",
            "20",
        ],
        13,
    );
    assert_resume_is_bit_identical(
        &[
            "--arms",
            tpe_conf,
            "--objective",
            "fn:hartmann3",
            "--evals",
            "18",
        ],
        12,
    );
    assert_resume_is_bit_identical(&["--arms", tpe_conf, "--evals", "18", "--seed", "4"], 12);
}

/// A training script that fails (exit 1) when x > 0.5, else reports x.
fn failing_half(dir: &Path) -> (PathBuf, String) {
    let space = x_space(dir);
    let script = dir.join("half.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nif awk \"BEGIN{exit !($1 > 0.5)}\"; then echo 'too large' >&2; exit 1; fi\n\
         echo \"{\\\"value\\\": $1}\"\n",
    )
    .unwrap();
    (space, format!("cmd:sh {} {{x}}", script.display()))
}

#[test]
fn a_run_rebuilt_from_the_store_reads_like_the_fresh_run() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let (space, objective) = failing_half(dir.path());
    let out = dir.path().join("out");
    let base = [
        "-m",
        "RANDOM",
        "--objective",
        &objective,
        "--space",
        space.to_str().unwrap(),
        "--evals",
        "12",
    ];
    let fresh = results_file(&run_json(&home, &out, &base));
    let mut extended = base.to_vec();
    extended.extend(["-r", "1", "--runs", "2"]);
    let rebuilt = results_file(&run_json(&home, &out, &extended));
    assert!(
        fresh["0"]["error"]
            .as_array()
            .unwrap()
            .iter()
            .any(Value::is_null),
        "some trials failed"
    );
    for key in [
        "failures",
        "count_arr",
        "mean_arr",
        "error",
        "params",
        "stop_reason",
    ] {
        assert_eq!(rebuilt["0"][key], fresh["0"][key], "{key}");
    }
    assert_eq!(rebuilt["0"]["failures"], serde_json::json!({}));
}

#[test]
fn two_runs_into_one_results_directory_keep_both_results() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let spawn = || {
        Command::new(common::hpo_bin())
            .args(["run", "--json", "--out", out.to_str().unwrap()])
            .args(["-m", "RANDOM", "--objective", "fn:branin", "--evals", "40"])
            .env("HPO_HOME", home.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children: Vec<_> = (0..4).map(|_| spawn()).collect();
    let summaries: Vec<Value> = children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "{}", stderr(&output));
            serde_json::from_str(&stdout(&output)).unwrap()
        })
        .collect();
    let files: std::collections::HashSet<&str> = summaries
        .iter()
        .map(|s| s["results_file"].as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 4, "each run has its own results file");
    for summary in &summaries {
        let run = &results_file(summary)["0"];
        assert_eq!(run["error"].as_array().unwrap().len(), 40);
    }
    let listed = home.hpo(&["results", "--out", out.to_str().unwrap(), "list"]);
    assert_eq!(stdout(&listed).matches("finished").count(), 4);
}

fn alive(pid: u32) -> bool {
    // A zombie (killed, not reaped yet) no longer runs.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        })
        .unwrap_or(false)
}

#[test]
fn a_hard_kill_of_hpo_takes_its_training_command_along() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let space = x_space(dir.path());
    let pids = dir.path().join("pids");
    let script = dir.path().join("long.sh");
    // The command and a child of its own: both must go.
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nsleep 60 &\necho $$ $! > {}\nwait\n",
            pids.display()
        ),
    )
    .unwrap();
    let mut hpo = Command::new(common::hpo_bin())
        .args(["run", "--out", dir.path().join("out").to_str().unwrap()])
        .args([
            "-m",
            "RANDOM",
            "--evals",
            "1",
            "--space",
            space.to_str().unwrap(),
        ])
        .arg(format!("--objective=cmd:sh {}", script.display()))
        .env("HPO_HOME", home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        match std::fs::read_to_string(&pids) {
            Ok(t) if t.split_whitespace().count() == 2 => break t,
            _ if Instant::now() > deadline => panic!("the command never started"),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let running: Vec<u32> = text
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(running.iter().all(|&p| alive(p)));
    hpo.kill().unwrap(); // SIGKILL: no handler runs
    hpo.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while running.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        running.iter().all(|&p| !alive(p)),
        "the training command outlived a kill -9 of hpo"
    );
}

/// A run of a one-parameter `cmd:` objective given as a shell script's text.
fn command_run(home: &Home, dir: &Path, body: &str, extra: &[&str]) -> std::process::Output {
    let space = x_space(dir);
    let script = dir.join("train.sh");
    std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
    let out = dir.join("out");
    let objective = format!("--objective=cmd:sh {}", script.display());
    let mut args = vec![
        "run",
        "--json",
        "--out",
        out.to_str().unwrap(),
        "-m",
        "RANDOM",
        "--space",
        space.to_str().unwrap(),
        &objective,
    ];
    args.extend_from_slice(extra);
    home.hpo(&args)
}

fn summary_of(output: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(output))
        .unwrap_or_else(|e| panic!("{e}: {} / {}", stdout(output), stderr(output)))
}

#[test]
fn a_trial_is_bounded_by_its_timeout_even_when_a_detached_child_holds_stdout() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    // A grandchild in a session of its own keeps stdout open for 20 s; the command itself
    // would take 20 s too. Each trial must end at the 1 s timeout.
    let started = Instant::now();
    let output = command_run(
        &home,
        dir.path(),
        "setsid sleep 20 &\nsleep 20\necho '{\"value\": 1}'",
        &["--evals", "2", "--trial-timeout", "1"],
    );
    let elapsed = started.elapsed();
    assert_eq!(
        output.status.code(),
        Some(1),
        "every trial failed: {}",
        stderr(&output)
    );
    let summary = summary_of(&output);
    let run = &results_file(&summary)["0"];
    let times: Vec<f64> = run["exec_time"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap())
        .collect();
    assert_eq!(times.len(), 2);
    assert!(times.iter().all(|&t| t < 5.0), "trial times {times:?}");
    assert!(elapsed < Duration::from_secs(18), "took {elapsed:?}");
}

#[test]
fn command_output_is_read_as_bytes_and_stderr_is_kept_bounded() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    // Invalid UTF-8 before the report: the report still counts.
    let output = command_run(
        &home,
        dir.path(),
        "printf 'caf\\351 \\377\\376\\n'\necho '{\"value\": 0.25}'",
        &["--evals", "2"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let run = &results_file(&summary_of(&output))["0"];
    assert_eq!(run["error"], serde_json::json!([0.25, 0.25]));

    // A 20 MB stdout line before the report: dropped as it is read, the report counts.
    let dir = tempfile::tempdir().unwrap();
    let output = command_run(
        &home,
        dir.path(),
        "head -c 20000000 /dev/zero | tr '\\0' x\necho\necho '{\"value\": 0.75}'",
        &["--evals", "1"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let run = &results_file(&summary_of(&output))["0"];
    assert_eq!(run["error"], serde_json::json!([0.75]));

    // A 10 MB stderr line: the stored reason is a few KB; no trial succeeds: exit 1.
    let dir = tempfile::tempdir().unwrap();
    let output = command_run(
        &home,
        dir.path(),
        "head -c 10000000 /dev/zero | tr '\\0' e >&2\nexit 1",
        &["--evals", "2"],
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("no trial succeeded"), "{err}");
    assert!(err.len() < 10_000, "{} bytes of stderr", err.len());
    let results = PathBuf::from(summary_of(&output)["results_file"].as_str().unwrap());
    let size = std::fs::metadata(&results).unwrap().len();
    assert!(size < 40_000, "results file of {size} bytes");
    let store =
        rusqlite::Connection::open(dir.path().join("out").join(hpo_host::store::STORE_FILE))
            .unwrap();
    let longest: i64 = store
        .query_row("SELECT MAX(LENGTH(failure)) FROM trials", [], |r| r.get(0))
        .unwrap();
    assert!(longest < 6000, "stored failure of {longest} bytes");
}

/// Sends raw bytes to `address`, returns the status line of the answer (empty if the
/// connection closed without one).
fn raw(address: &str, request: &[u8]) -> String {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// `GET /` with these `Authorization` values; the status line.
fn get(address: &str, authorization: &[&str]) -> String {
    let mut request = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".to_string();
    for value in authorization {
        request.push_str(&format!("Authorization: {value}\r\n"));
    }
    request.push_str("\r\n");
    raw(address, request.as_bytes())
}

fn branin_worker(home: &Home, credential: Option<&str>) -> (WorkerProcess, String) {
    let worker = WorkerProcess::start(home, &["--objective", "fn:branin"], credential);
    let address = worker.address();
    (worker, address)
}

#[test]
fn a_stranger_cannot_stall_or_bloat_the_worker() {
    let home = Home::new();
    let (_worker, address) = branin_worker(&home, Some("s3cret"));
    // A client that announces a body and sends 10 bytes of it, then waits.
    let mut stalled = std::net::TcpStream::connect(&address).unwrap();
    stalled
        .write_all(b"POST /jobs/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789")
        .unwrap();
    // Everyone else is served meanwhile.
    let started = Instant::now();
    let good = hpo_host::service::protocol::basic_auth("s3cret");
    assert!(
        get(&address, &[&good]).contains("200"),
        "served while a client stalls"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // The stalled client itself was refused before its body was read.
    stalled
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut answer = [0u8; 12];
    let _ = stalled.read(&mut answer);
    assert!(String::from_utf8_lossy(&answer).contains("401"));
    // An authenticated body beyond the limit: 413, before it is all read.
    let mut big = format!(
        "POST /jobs/ HTTP/1.1\r\nHost: x\r\nAuthorization: {good}\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    big.extend(std::iter::repeat_n(b'a', 2_000_000));
    assert!(raw(&address, &big).contains("413"));
    // 300 KB of header: refused, and the worker still answers.
    let mut huge = b"GET / HTTP/1.1\r\nHost: x\r\nX-Junk: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 300_000));
    huge.extend(b"\r\n\r\n");
    let answer = raw(&address, &huge);
    assert!(!answer.contains("200"), "{answer:?}");
    assert!(get(&address, &[&good]).contains("200"));
}

#[test]
fn the_worker_checks_its_credential_as_rfc_7617_says() {
    let home = Home::new();
    let (_worker, address) = branin_worker(&home, Some("s3cret"));
    let good = hpo_host::service::protocol::basic_auth("s3cret");
    let token = good.strip_prefix("Basic ").unwrap();
    assert!(get(&address, &[&good]).contains("200"));
    assert!(get(&address, &[&format!("basic {token}")]).contains("200"));
    assert!(get(&address, &[&format!("BASIC {token}")]).contains("200"));
    assert!(get(&address, &[]).contains("401"));
    assert!(get(&address, &["Basic d3Jvbmc="]).contains("401"));
    assert!(get(&address, &["Bearer s3cret"]).contains("401"));
    assert!(get(&address, &[&good, &good]).contains("400"));
}

#[test]
fn the_worker_refuses_to_listen_beyond_the_loopback_without_a_credential() {
    let home = Home::new();
    let refused = Command::new(common::hpo_bin())
        .args([
            "worker",
            "--objective",
            "fn:branin",
            "--listen",
            "0.0.0.0:0",
        ])
        .env("HPO_HOME", home.path())
        .env_remove("HPO_WORKER_CREDENTIAL")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let err = stderr(&refused);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("HPO_WORKER_CREDENTIAL") && err.contains("--insecure"),
        "{err}"
    );
    // Loopback needs no credential; --insecure is the explicit way beyond it.
    let (_open, address) = branin_worker(&home, None);
    assert!(get(&address, &[]).contains("200"));
}

#[test]
fn a_store_that_cannot_be_read_refuses_the_run_and_leaves_no_results_file() {
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let store = out.path().join(hpo_host::store::STORE_FILE);
    std::fs::write(&store, vec![b'z'; 4096]).unwrap();
    let result = home.hpo(&[
        "run",
        "--out",
        out.path().to_str().unwrap(),
        "-m",
        "RANDOM",
        "--evals",
        "2",
    ]);
    assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
    assert!(
        stderr(&result).contains("hpo-store.sqlite"),
        "{}",
        stderr(&result)
    );
    let left: Vec<_> = walk(out.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Every file below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
