//! One experiment shared by several `hpo run` processes through a store (`--store URL`):
//! on PostgreSQL (a fresh database on the throw-away server `cargo xtask test` starts,
//! `$HPO_TEST_POSTGRES`) and on one SQLite file. Three processes with two workers each
//! join one experiment, one is killed with SIGKILL mid-run: the experiment ends with
//! exactly the evaluations asked for, each ticket completed once, the killed process's
//! trials in flight evaluated again by the others after its lease, and every surviving
//! process's results file the same.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Home, Service, stderr, stdout, xy_space};
use hpo_host::store::{Commit, Location, Store};
use serde_json::json;

const EVALS: usize = 30;

/// A fresh, empty database on the test server: its URL.
fn postgres_database() -> String {
    let base = std::env::var("HPO_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "HPO_TEST_POSTGRES is not set: run the tests with `cargo xtask test` (which starts \
             a throw-away PostgreSQL server when Debian's postgresql is installed), or set it \
             to postgresql://USER@HOST:PORT/DB of a server where USER may create databases"
        )
    });
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("hpo_test_{}_{n}", std::process::id());
    let mut admin = postgres::Client::connect(&base, postgres::NoTls).expect("the test server");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let (server, _) = base.rsplit_once('/').expect("a URL ending in /DB");
    format!("{server}/{name}")
}

/// A training command that sleeps, logs `x y` and reports (x − 0.3)² + (y − 0.7)².
fn training(dir: &Path) -> (String, PathBuf, PathBuf) {
    let log = dir.join("evaluations.log");
    let script = dir.join("train.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nsleep 0.25\necho \"$1 $2\" >> {}\n\
             awk \"BEGIN{{printf \\\"{{\\\\\\\"value\\\\\\\": %.12f}}\\\\n\\\", ($1-0.3)^2 + ($2-0.7)^2}}\"\n",
            log.display()
        ),
    )
    .unwrap();
    let objective = format!("cmd:sh {} {{x}} {{y}}", script.display());
    (objective, xy_space(dir), log)
}

fn start(home: &Home, args: &[String]) -> Child {
    Command::new(common::hpo_bin())
        .args(args)
        .env("HPO_HOME", home.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn three_processes_one_killed(store_url: &str) {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let (objective, space, log) = training(dir.path());
    let args = |i: usize| -> Vec<String> {
        let out = dir.path().join(format!("out{i}"));
        [
            "run",
            "--json",
            "--out",
            out.to_str().unwrap(),
            "-m",
            "TPE",
            "-s",
            "EI",
            "--objective",
            &objective,
            "--space",
            space.to_str().unwrap(),
            "--workers",
            "2",
            "--evals",
            &EVALS.to_string(),
            "--store",
            store_url,
            "--trial-lease",
            "2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let mut killed = start(&home, &args(0));
    let location = Location::parse(store_url).unwrap();
    // The first process creates the experiment; the others join it.
    let store = wait_for(&location, 0);
    let others: Vec<Child> = (1..3).map(|i| start(&home, &args(i))).collect();
    wait_for(&location, 8);
    killed.kill().unwrap();
    killed.wait().unwrap();
    let outputs: Vec<_> = others
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for output in &outputs {
        assert!(output.status.success(), "{}", stderr(output));
    }
    let trials = store.trials(1, 0).unwrap();
    assert_eq!(trials.len(), EVALS, "exactly the evaluations asked for");
    assert!(store.pending(1, 0).unwrap().is_empty());
    let claims = store.claims(1, 0).unwrap();
    let tickets: BTreeSet<usize> = claims.iter().map(|(t, _)| t.unwrap()).collect();
    assert_eq!(
        tickets.len(),
        EVALS,
        "each ticket completed once: {claims:?}"
    );
    let owners: BTreeSet<&str> = claims.iter().map(|(_, o)| o.as_deref().unwrap()).collect();
    assert_eq!(
        owners.len(),
        3,
        "every process completed trials: {owners:?}"
    );
    assert!(
        trials.iter().any(|t| t.requeued),
        "the killed process's trials in flight were evaluated again"
    );
    let evaluated = std::fs::read_to_string(&log).unwrap().lines().count();
    assert!(evaluated >= EVALS, "{evaluated} evaluations logged");
    // The survivors agree: the same results file, from the store.
    let results: Vec<serde_json::Value> = outputs
        .iter()
        .map(|o| {
            let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(summary["runs"][0]["evals"], EVALS);
            let path = summary["results_file"].as_str().unwrap();
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        })
        .collect();
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0]["0"]["error"].as_array().unwrap().len(), EVALS);
}

/// Waits (a minute at most) until the shared store holds an experiment (`trials` 0) or
/// `trials` trials of experiment 1.
fn wait_for(location: &Location, trials: usize) -> Store {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(store) = Store::connect(location) {
            let ready = match trials {
                0 => store.experiments().is_ok_and(|e| !e.is_empty()),
                n => store.trials(1, 0).is_ok_and(|t| t.len() >= n),
            };
            if ready {
                return store;
            }
        }
        assert!(Instant::now() < deadline, "no {trials} trials in a minute");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_processes_share_one_experiment_on_postgresql_and_survive_a_kill() {
    three_processes_one_killed(&postgres_database());
}

#[test]
fn three_processes_share_one_experiment_on_one_sqlite_file_and_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("shared.sqlite").display());
    three_processes_one_killed(&url);
}

/// Four connections claim, record in flight and tell as fast as they can on one run of
/// 120 evaluations (claims and tells race without the run's lock on PostgreSQL): every
/// ticket is held once, the run ends with exactly 120 trials whose iterations are 0..120
/// with no gap, each ticket told once, and a second tell of a ticket is refused.
fn racing_connections(url: &str) {
    const LIMIT: usize = 120;
    let location = Location::parse(url).unwrap();
    let store = Store::connect(&location).unwrap();
    let e = store.create("race", "race.json").unwrap();
    store.start_run(e.id, 0, 7).unwrap();
    let trial = hpo_host::trial::Trial {
        row: None,
        params: vec![json!(0.5)],
        x: vec![0.5],
        value: 1.0,
        exec_time: 0.0,
        opt_time: 0.0,
        arm: "RANDOM/RANDOM".into(),
        epochs: None,
        interim: vec![],
        estimate: None,
        strategy_state: None,
        failure: None,
        arm_failures: vec![],
        timing: None,
        requeued: false,
        terminated: false,
        fidelity: None,
    };
    let told: Vec<(usize, usize)> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..4)
            .map(|i| {
                let (location, trial) = (location.clone(), trial.clone());
                scope.spawn(move || {
                    let store = Store::connect(&location).unwrap();
                    let owner = format!("racer-{i}");
                    let mut mine = Vec::new();
                    while let hpo_host::store::shared::Claim::Ticket(ticket) =
                        store.claim(e.id, 0, &owner, 60.0, LIMIT).unwrap()
                    {
                        store.record_pending(e.id, 0, ticket, "{}").unwrap();
                        let commit = [Commit::Durable, Commit::Deferred][ticket % 2];
                        let iteration = store
                            .record_trial(e.id, 0, &trial, ticket, Some(&owner), commit)
                            .unwrap();
                        store.flusher().flush().unwrap();
                        mine.push((ticket, iteration));
                    }
                    mine
                })
            })
            .collect();
        racers.into_iter().flat_map(|r| r.join().unwrap()).collect()
    });
    let tickets: BTreeSet<usize> = told.iter().map(|(t, _)| *t).collect();
    let iterations: BTreeSet<usize> = told.iter().map(|(_, i)| *i).collect();
    assert_eq!(told.len(), LIMIT, "every evaluation told once");
    assert_eq!(tickets, (0..LIMIT).collect(), "each ticket held once");
    assert_eq!(
        iterations,
        (0..LIMIT).collect(),
        "iterations 0..{LIMIT}, no gap"
    );
    let claims = store.claims(e.id, 0).unwrap();
    assert_eq!(claims.len(), LIMIT);
    let recorded: BTreeSet<usize> = claims.iter().filter_map(|(t, _)| *t).collect();
    assert_eq!(recorded, tickets);
    assert!(store.pending(e.id, 0).unwrap().is_empty());
    let again = store.record_trial(e.id, 0, &trial, 0, Some("racer-0"), Commit::Durable);
    assert!(
        again.is_err_and(|e| e.to_string().contains("no longer in flight")),
        "a second tell of one ticket is refused"
    );
}

#[test]
fn racing_claims_and_tells_on_postgresql_hold_each_ticket_once_with_no_gap() {
    racing_connections(&postgres_database());
}

#[test]
fn racing_claims_and_tells_on_one_sqlite_file_hold_each_ticket_once_with_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    racing_connections(&format!(
        "sqlite:{}",
        dir.path().join("race.sqlite").display()
    ));
}

#[test]
fn trials_round_trip_bit_for_bit_through_postgresql() {
    let location = Location::parse(&postgres_database()).unwrap();
    let store = Store::connect(&location).unwrap();
    let e = store.create("k", "r.json").unwrap();
    store.start_run(e.id, 0, u64::MAX).unwrap();
    let hard = [1.6341578960418701, 0.1 + 0.2, f64::MIN_POSITIVE, -0.0];
    let trial = hpo_host::trial::Trial {
        row: Some(3),
        params: hard.iter().map(|&v| serde_json::Value::from(v)).collect(),
        x: hard.to_vec(),
        value: 0.1 + 0.2,
        exec_time: 1.5,
        opt_time: 0.01,
        arm: "GP/EI".into(),
        epochs: Some(30),
        interim: vec![],
        estimate: None,
        strategy_state: Some(vec![0, 255, 7]),
        failure: None,
        arm_failures: vec![("RF/UCB".into(), "trap".into())],
        timing: None,
        requeued: true,
        terminated: false,
        fidelity: None,
    };
    let failed = hpo_host::trial::Trial {
        value: f64::NAN,
        failure: Some("exited with 1".into()),
        ..trial.clone()
    };
    store.record_pending(e.id, 0, 0, "{}").unwrap();
    assert_eq!(
        store
            .record_trial(e.id, 0, &trial, 0, Some("me"), Commit::Durable)
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .record_trial(e.id, 0, &failed, 1, None, Commit::Durable)
            .unwrap(),
        1
    );
    assert!(store.pending(e.id, 0).unwrap().is_empty());
    // A second connection reads what the first committed.
    let again = Store::connect(&location).unwrap();
    let back = again.trials(e.id, 0).unwrap();
    assert_eq!(back[0], trial);
    for (a, b) in hard.iter().zip(&back[0].x) {
        assert_eq!(a.to_bits(), b.to_bits());
    }
    assert!(back[1].value.is_nan() && back[1].failure.as_deref() == Some("exited with 1"));
    assert_eq!(again.runs(e.id).unwrap(), vec![(0, u64::MAX, None)]);
    assert_eq!(
        again.claims(e.id, 0).unwrap()[0],
        (Some(0), Some("me".into()))
    );
    let listed = again.experiments().unwrap();
    assert_eq!((listed[0].runs, listed[0].trials), (1, 2));
    assert_eq!(listed[0].created.len(), "2026-12-03 20:00:00".len());
}

#[test]
fn the_service_and_the_results_commands_work_on_postgresql() {
    let url = postgres_database();
    let home = Home::new();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let made = home.hpo(&["serve", "token", "create", "--out", dir, "--store", &url]);
    assert!(made.status.success(), "{}", stderr(&made));
    let token = stdout(&made).trim().to_string();
    let service = Service::start(&home, out.path(), &["--store", &url]);
    let t = Some(token.as_str());
    assert_eq!(service.call("GET", "/experiments", None, None).0, 401);
    let space = json!({"hyperparams": {
        "x": {"type": "float", "value_type": "continuous", "range": [0, 1]}}});
    let new = json!({"name": "pg", "space": space, "mode": "RANDOM", "evals": 6});
    let (status, created) = service.call("POST", "/experiments", t, Some(new));
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    for _ in 0..6 {
        let (status, answer) = service.call("POST", &format!("/experiments/{id}/ask"), t, None);
        assert_eq!(status, 200, "{answer}");
        let trial = &answer["trial"];
        let x = trial["params"]["x"].as_f64().unwrap();
        let path = format!("/experiments/{id}/trials/{}/tell", trial["trial"]);
        let told = service.call("POST", &path, t, Some(json!({"value": (x - 0.25).powi(2)})));
        assert_eq!(told.0, 200, "{}", told.1);
    }
    let (_, over) = service.call("POST", &format!("/experiments/{id}/ask"), t, None);
    assert!(over["trial"].is_null(), "{over}");
    drop(service);
    let listed = home.hpo(&["results", "list", "--store", &url]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let line = stdout(&listed).lines().nth(1).unwrap().to_string();
    assert!(
        line.contains("finished") && line.split_whitespace().nth(5) == Some("6"),
        "{line}"
    );
    let csv = home.hpo(&["results", "export", &id.to_string(), "--store", &url]);
    assert_eq!(stdout(&csv).lines().count(), 7, "{}", stderr(&csv));
}

#[test]
fn what_cannot_be_shared_is_refused_in_one_line_before_anything_is_written() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let store = format!("sqlite:{}", dir.path().join("s.sqlite").display());
    let refusals: [(&[&str], &str); 4] = [
        (&["--workers", "4", "--simulate"], "a simulated cluster"),
        (&["-etr", "Hyperband"], "a scheduler"),
        (&["--trial-lease", "0"], "--trial-lease"),
        (&["-r", "1", "--runs", "2"], "-r N"),
    ];
    for (flags, reason) in refusals {
        let mut args = vec!["run", "--evals", "5", "--out", out.to_str().unwrap()];
        args.extend(["--store", &store]);
        args.extend(flags);
        let refused = home.hpo(&args);
        let text = stderr(&refused);
        assert_eq!(refused.status.code(), Some(2), "{flags:?}: {text}");
        assert!(text.contains(reason) && text.lines().count() == 1, "{text}");
        assert!(!out.exists(), "{flags:?} wrote {}", out.display());
    }
    let bad = home.hpo(&[
        "run",
        "--store",
        "mysql://h/db",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("postgresql://USER@HOST/DB"));
}

#[test]
fn two_service_replicas_serve_one_experiment_through_postgresql() {
    let url = postgres_database();
    let home = Home::new();
    let (a_out, b_out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a_dir = a_out.path().to_str().unwrap();
    let made = home.hpo(&["serve", "token", "create", "--out", a_dir, "--store", &url]);
    let token = stdout(&made).trim().to_string();
    let t = Some(token.as_str());
    let replica = |out: &Path| Service::start(&home, out, &["--store", &url, "--trial-lease", "2"]);
    let a = replica(a_out.path());
    let b = replica(b_out.path());
    let space = json!({"hyperparams": {
        "x": {"type": "float", "value_type": "continuous", "range": [0, 1]}}});
    let new = json!({"name": "replicated", "space": space, "mode": "TPE", "spec": "EI",
        "evals": 12});
    let (status, created) = a.call("POST", "/experiments", t, Some(new.clone()));
    assert_eq!(status, 201, "{created}");
    // The name is taken for every replica.
    assert_eq!(b.call("POST", "/experiments", t, Some(new)).0, 409);
    let (_, listed) = b.call("GET", "/experiments", t, None);
    assert_eq!(listed[0]["name"], "replicated", "{listed}");
    let ask = |s: &Service| {
        let (status, answer) = s.call("POST", "/experiments/1/ask", t, None);
        assert_eq!(status, 200, "{answer}");
        answer["trial"].clone()
    };
    let tell = |s: &Service, trial: &serde_json::Value| {
        let x = trial["params"]["x"].as_f64().unwrap();
        let path = format!("/experiments/1/trials/{}/tell", trial["trial"]);
        s.call("POST", &path, t, Some(json!({"value": (x - 0.3).powi(2)})))
    };
    // Asked at one replica, told at the other.
    let mut tickets = BTreeSet::new();
    for i in 0..10 {
        let (asker, teller) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let trial = ask(asker);
        assert!(tickets.insert(trial["trial"].as_u64().unwrap()), "{trial}");
        let report = format!("/experiments/1/trials/{}/report", trial["trial"]);
        let (status, _) = teller.call("POST", &report, t, Some(json!({"epoch": 1, "value": 0.5})));
        assert_eq!(status, 200);
        assert_eq!(tell(teller, &trial).0, 200);
        // Told once: the other replica refuses it now.
        assert!([404, 409].contains(&tell(asker, &trial).0));
    }
    // A client that goes silent, and its replica killed.
    let silent = ask(&a);
    drop(a);
    let next = ask(&b);
    assert_ne!(next["trial"], silent["trial"]);
    assert_eq!(tell(&b, &next).0, 200);
    // After its lease the silent client's trial is handed out again, by the survivor.
    std::thread::sleep(Duration::from_millis(2500));
    let again = ask(&b);
    assert_eq!(again["trial"], silent["trial"], "{again}");
    assert_eq!(tell(&b, &again).0, 200);
    assert!(ask(&b).is_null(), "12 trials asked for, 12 told");
    let (_, info) = b.call("GET", "/experiments/1", t, None);
    assert_eq!(
        (info["finished"].as_bool(), info["trials"].as_u64()),
        (Some(true), Some(12)),
        "{info}"
    );
    let store = Store::connect(&Location::parse(&url).unwrap()).unwrap();
    let claims = store.claims(1, 0).unwrap();
    let distinct: BTreeSet<usize> = claims.iter().map(|(t, _)| t.unwrap()).collect();
    assert_eq!((claims.len(), distinct.len()), (12, 12), "{claims:?}");
}
