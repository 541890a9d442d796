//! `hpo serve` end to end: a real server process on loopback, driven over HTTP by Rust
//! (ureq) and by the stdlib Python client: tokens, ask/report/tell, leases, concurrent
//! clients, a restart, and the schemathesis fuzzer against the OpenAPI document.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Home, Service, http_request, serve_token, stderr, stdout};
use serde_json::{Value, json};

fn space() -> Value {
    json!({"hyperparams": {
        "x": {"type": "float", "value_type": "continuous", "range": [0, 1]},
        "y": {"type": "float", "value_type": "continuous", "range": [-5, 5]}}})
}

/// The value a client computes for a trial's parameters.
fn quadratic(params: &Value) -> f64 {
    let (x, y) = (params["x"].as_f64().unwrap(), params["y"].as_f64().unwrap());
    (x - 0.3).powi(2) + y * y / 100.0
}

#[test]
fn a_client_with_a_token_asks_and_tells_until_the_experiment_is_over() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let secret = serve_token(&home, &out);
    let service = Service::start(&home, &out, &[]);
    let t = Some(secret.as_str());
    // Without the token, or with another, nothing but the health check answers.
    assert_eq!(service.call("GET", "/health", None, None).0, 200);
    assert_eq!(service.call("GET", "/experiments", None, None).0, 401);
    assert_eq!(
        service
            .call("GET", "/experiments", Some("hpo_wrong"), None)
            .0,
        401
    );
    let new = json!({"name": "quad", "space": space(), "mode": "GP", "spec": "EI", "evals": 14});
    let (status, created) = service.call("POST", "/experiments", t, Some(new.clone()));
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    // The same name again is a conflict; a bad space is refused naming the key.
    assert_eq!(service.call("POST", "/experiments", t, Some(new)).0, 409);
    let bad = json!({"name": "bad", "space": {"hyperparams": {"x": {"type": "float"}}}});
    let (status, refused) = service.call("POST", "/experiments", t, Some(bad));
    assert_eq!(status, 422, "{refused}");
    assert!(
        !out.join("served/bad").exists(),
        "a refused experiment leaves nothing"
    );
    let mut told = 0;
    loop {
        let (status, answer) = service.call("POST", &format!("/experiments/{id}/ask"), t, None);
        assert_eq!(status, 200, "{answer}");
        let Some(trial) = answer["trial"].as_object() else {
            assert!(
                answer["reason"]
                    .as_str()
                    .unwrap()
                    .contains("14 evaluations"),
                "{answer}"
            );
            break;
        };
        let value = quadratic(&trial["params"]);
        let path = format!("/experiments/{id}/trials/{}/tell", trial["trial"]);
        // A tell with neither a value nor a failure is refused and leaves the trial out.
        assert_eq!(service.call("POST", &path, t, Some(json!({}))).0, 400);
        let (status, _) = service.call("POST", &path, t, Some(json!({"value": value})));
        assert_eq!(status, 200);
        // Told once: a second tell finds no such trial in flight.
        assert_eq!(
            service
                .call("POST", &path, t, Some(json!({"value": value})))
                .0,
            404
        );
        told += 1;
    }
    assert_eq!(told, 14);
    let (_, info) = service.call("GET", &format!("/experiments/{id}"), t, None);
    assert_eq!(
        (info["finished"].as_bool(), info["trials"].as_u64()),
        (Some(true), Some(14))
    );
    // GP/EI finds the quadratic's bowl within 14 trials (10 of them the initial design).
    assert!(info["best_value"].as_f64().unwrap() < 0.05, "{info}");
    let (_, trials) = service.call("GET", &format!("/experiments/{id}/trials"), t, None);
    assert_eq!(trials.as_array().unwrap().len(), 14);
    // The store is the CLI's: `hpo results export` lists the same trials.
    let export = stdout(&home.hpo(&[
        "results",
        "--out",
        out.to_str().unwrap(),
        "export",
        &id.to_string(),
    ]));
    assert_eq!(export.lines().count(), 15, "{export}");
    // The OpenAPI document lists every operation.
    let (status, doc) = service.call("GET", "/openapi.json", None, None);
    assert_eq!(status, 200);
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(operations, 12, "{doc}");
    // The plots of `hpo results plot`, as SVG.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let request = http_request(
        "GET",
        &format!("{}/experiments/{id}/plots/convergence", service.url),
    )
    .header("Authorization", &format!("Bearer {secret}"))
    .body(String::new())
    .unwrap();
    let mut answer = agent.run(request).unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(answer.headers()["content-type"], "image/svg+xml");
    assert!(
        answer
            .body_mut()
            .read_to_string()
            .unwrap()
            .starts_with("<svg")
    );
    let (status, refused) = service.call("GET", &format!("/experiments/{id}/plots/pie"), t, None);
    assert_eq!(status, 400, "{refused}");
}

#[test]
fn the_python_client_runs_an_experiment_with_a_report_loop() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let secret = serve_token(&home, &out);
    let service = Service::start(&home, &out, &[]);
    let client = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../clients/python");
    // Median stopping: the later half of the trials, worse from the first report, are
    // told to stop.
    let script = format!(
        r#"
import sys
sys.path.insert(0, {client:?})
from hpo_client import Client, HpoError
c = Client({url:?}, token={secret:?})
try:
    Client({url:?}).experiments()
    raise SystemExit("no token accepted")
except HpoError as e:
    assert e.status == 401, e
space = {{"hyperparams": {{"x": {{"type": "float", "value_type": "continuous", "range": [0, 1]}}}}}}
exp = c.create_experiment("curves", space, mode="RANDOM", evals=16, early_stop="Median",
                          config={{"plugins": {{"stop": {{"min_curves": 3}}}}}})
stopped = 0
for n, trial in enumerate(c.trials_to_run(exp)):
    level = 0.1 if n < 8 else 1.0
    for epoch in range(1, 6):
        value = level + 1.0 / epoch
        if c.report(exp, trial["trial"], epoch, value):
            stopped += 1
            break
    c.tell(exp, trial["trial"], value=value)
info = c.experiment(exp)
assert c.plot(exp, "curves").startswith("<svg")
print(stopped, info["trials"], info["finished"])
"#,
        client = client.to_str().unwrap(),
        url = service.url,
    );
    let result = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let words: Vec<String> = stdout(&result)
        .split_whitespace()
        .map(String::from)
        .collect();
    let stopped: usize = words[0].parse().unwrap();
    assert!(stopped >= 4, "{words:?}");
    assert_eq!(words[1..], ["16", "True"]);
    let (_, trials) = service.call("GET", "/experiments/1/trials", Some(&secret), None);
    let terminated = trials
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "terminated")
        .count();
    assert_eq!(terminated, stopped);
}

#[test]
fn a_trial_whose_lease_runs_out_is_handed_out_again_and_a_restart_loses_nothing() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let new = json!({"name": "lease", "space": space(), "mode": "RANDOM", "evals": 6});
    let ask = |s: &Service| {
        let (status, answer) = s.call("POST", "/experiments/1/ask", None, None);
        assert_eq!(status, 200, "{answer}");
        answer["trial"].clone()
    };
    let tell = |s: &Service, trial: &Value| {
        let path = format!("/experiments/1/trials/{}/tell", trial["trial"]);
        let value = quadratic(&trial["params"]);
        assert_eq!(
            s.call("POST", &path, None, Some(json!({"value": value}))).0,
            200
        );
    };
    let abandoned = {
        let service = Service::start(&home, &out, &["--trial-lease", "1"]);
        assert_eq!(service.call("POST", "/experiments", None, Some(new)).0, 201);
        let first = ask(&service);
        // Its client goes silent: after the lease the same trial is handed out again.
        std::thread::sleep(std::time::Duration::from_millis(1300));
        let again = ask(&service);
        assert_eq!(
            (&again["trial"], &again["params"]),
            (&first["trial"], &first["params"])
        );
        tell(&service, &again);
        let second = ask(&service);
        tell(&service, &ask(&service));
        second
        // The service is killed here with `second` in flight.
    };
    let service = Service::start(&home, &out, &[]);
    // After the restart, the trial in flight is handed out first.
    let resumed = ask(&service);
    assert_eq!(
        (&resumed["trial"], &resumed["params"]),
        (&abandoned["trial"], &abandoned["params"])
    );
    tell(&service, &resumed);
    while let trial @ Value::Object(_) = ask(&service) {
        tell(&service, &trial);
    }
    let (_, info) = service.call("GET", "/experiments/1", None, None);
    assert_eq!(
        (info["trials"].as_u64(), info["finished"].as_bool()),
        (Some(6), Some(true))
    );
}

#[test]
fn concurrent_clients_share_one_experiment_without_losing_or_doubling_a_trial() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let service = Service::start(&home, &out, &[]);
    let new = json!({"name": "many", "space": space(), "mode": "TPE", "spec": "EI", "evals": 48});
    assert_eq!(service.call("POST", "/experiments", None, Some(new)).0, 201);
    let told: Vec<u64> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let (_, answer) = service.call("POST", "/experiments/1/ask", None, None);
                        let Some(trial) = answer["trial"].as_object() else {
                            let (_, info) = service.call("GET", "/experiments/1", None, None);
                            if info["finished"] == true {
                                return mine;
                            }
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            continue;
                        };
                        let path = format!("/experiments/1/trials/{}/tell", trial["trial"]);
                        let value = quadratic(&trial["params"]);
                        let (status, _) =
                            service.call("POST", &path, None, Some(json!({"value": value})));
                        assert_eq!(status, 200);
                        mine.push(trial["trial"].as_u64().unwrap());
                    }
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });
    let mut sorted = told.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        (0..48).collect::<Vec<u64>>(),
        "each trial told exactly once"
    );
    let (_, trials) = service.call("GET", "/experiments/1/trials", None, None);
    assert_eq!(trials.as_array().unwrap().len(), 48);
}

#[test]
fn a_scheduled_experiment_hands_out_budgets_and_promotions() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let service = Service::start(&home, &out, &[]);
    // Successive halving over 9 epochs: 9 trials at 1 epoch, the best 3 at 3, the best at 9.
    let new = json!({"name": "halving", "space": space(), "mode": "RANDOM", "evals": 13,
        "early_stop": "SuccessiveHalving", "config": {"plugins": {"stop": {"epochs": 9}}}});
    let (status, created) = service.call("POST", "/experiments", None, Some(new));
    assert_eq!(status, 201, "{created}");
    let mut seen: Vec<(u64, u64, u64, f64)> = Vec::new();
    loop {
        let (_, answer) = service.call("POST", "/experiments/1/ask", None, None);
        let Some(trial) = answer["trial"].as_object() else {
            break;
        };
        let budget = trial["budget"].as_u64().unwrap();
        let from = trial["resume_from"].as_u64().unwrap();
        let configuration = trial["configuration"].as_u64().unwrap();
        // A promotion brings back the configuration's own parameters.
        if let Some(first) = seen.iter().find(|s| s.0 == configuration) {
            let (_, info) = service.call("GET", "/experiments/1/trials", None, None);
            let earlier = &info.as_array().unwrap()[first.0 as usize]["params"];
            assert_eq!(&trial["params"], earlier);
        }
        let value = quadratic(&trial["params"]) + 1.0 / budget as f64;
        let path = format!("/experiments/1/trials/{}/tell", trial["trial"]);
        assert_eq!(
            service
                .call("POST", &path, None, Some(json!({"value": value})))
                .0,
            200
        );
        seen.push((configuration, budget, from, value));
    }
    let budgets: Vec<u64> = seen.iter().map(|s| s.1).collect();
    assert_eq!(budgets, [vec![1; 9], vec![3; 3], vec![9]].concat());
    // The three promoted are the best three of the first nine, resuming from epoch 1.
    let mut first: Vec<&(u64, u64, u64, f64)> = seen[..9].iter().collect();
    first.sort_by(|a, b| a.3.total_cmp(&b.3));
    let promoted: Vec<u64> = seen[9..12].iter().map(|s| s.0).collect();
    assert_eq!(promoted, first[..3].iter().map(|s| s.0).collect::<Vec<_>>());
    assert!(
        seen[9..12].iter().all(|s| s.2 == 1) && seen[12].2 == 3,
        "{seen:?}"
    );
    let (_, trials) = service.call("GET", "/experiments/1/trials", None, None);
    let promoted_status = trials
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "promoted")
        .count();
    assert_eq!(
        promoted_status, 4,
        "three from the first rung, one from the second"
    );
}

#[test]
fn beyond_the_loopback_the_service_needs_a_token() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let refused = home.hpo(&["serve", "--listen", "0.0.0.0:0", "--out", o]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("hpo serve token create"),
        "{}",
        stderr(&refused)
    );
    // Revoked tokens stop working at once.
    let secret = serve_token(&home, &out);
    let service = Service::start(&home, &out, &[]);
    assert_eq!(
        service.call("GET", "/experiments", Some(&secret), None).0,
        200
    );
    let list = stdout(&home.hpo(&["serve", "token", "list", "--out", o]));
    assert!(list.starts_with("1\tactive"), "{list}");
    assert!(
        home.hpo(&["serve", "token", "revoke", "1", "--out", o])
            .status
            .success()
    );
    assert_eq!(
        service.call("GET", "/experiments", Some(&secret), None).0,
        401
    );
}

#[test]
fn with_a_certificate_the_service_speaks_https_only() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .args([
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ])
        .output()
        .expect("openssl makes a test certificate (.ci/run installs it)");
    assert!(made.status.success(), "{}", stderr(&made));
    let out = dir.path().join("out");
    let tls = [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    let service = Service::start(&home, &out, &tls);
    assert!(service.url.starts_with("https://"), "{}", service.url);
    // A client that trusts the certificate gets answers; plain HTTP gets none.
    let script = format!(
        "import ssl, urllib.request\n\
         c = ssl.create_default_context(cafile={cert:?})\n\
         print(urllib.request.urlopen({url:?} + '/health', context=c).read().decode())\n\
         try:\n    urllib.request.urlopen({plain:?} + '/health', timeout=5)\n    print('plain answered')\n\
         except Exception:\n    print('plain refused')\n",
        cert = cert.to_str().unwrap(),
        url = service.url,
        plain = service.url.replacen("https", "http", 1),
    );
    let result = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", stderr(&result));
    assert_eq!(stdout(&result), "{\"status\":\"ok\"}\nplain refused\n");
    // A key that is no certificate is one line, exit 2.
    let bad = home.hpo(&[
        "serve",
        "--out",
        out.to_str().unwrap(),
        "--tls-cert",
        key.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("no certificate"), "{}", stderr(&bad));
}

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_outside_the_schema() {
    let program = common::external_tool(
        "HPO_SCHEMATHESIS",
        "schemathesis",
        "`cargo xtask test` installs it",
    );
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let secret = serve_token(&home, &out);
    let service = Service::start(&home, &out, &[]);
    // One experiment with a trial in flight, so that the fuzzer meets real ids too.
    let t = Some(secret.as_str());
    let new = json!({"name": "fuzzed", "space": space(), "mode": "RANDOM", "evals": 1000});
    assert_eq!(service.call("POST", "/experiments", t, Some(new)).0, 201);
    service.call("POST", "/experiments/1/ask", t, None);
    // Every check but positive_data_acceptance, which expects any schema-valid body to be
    // accepted: a space or run configuration is checked beyond what a JSON schema says
    // (422 with the reason). Every operation but the events stream, which answers for 100 s
    // (the dashboard's test reads it in a browser).
    let result = Command::new(program)
        .args(["run", &format!("{}/openapi.json", service.url)])
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--exclude-path", "/events"])
        .args(["--header", &format!("Authorization: Bearer {secret}")])
        .args(["--max-examples", "40", "--workers", "1", "--seed", "1"])
        .env("SCHEMATHESIS_TELEMETRY", "false")
        // Its cache (`.schemathesis/`) goes in the test's directory, not the checkout.
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}{}",
        stdout(&result),
        stderr(&result)
    );
}
