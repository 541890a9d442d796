//! The dashboard of `hpo serve` in a real browser: Debian's Chromium, headless, loads the
//! page from a running service (the experiments list, one experiment's trial table and its
//! plots, the order a link asks for, the token form) and takes a screenshot, written under
//! the target directory as a CI artifact.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Home, Service, stderr, stdout, target_dir};
use serde_json::json;

/// Chromium, headless, with the flags this network needs, on `url` for `action`
/// (`--dump-dom`, `--screenshot=...`): its standard output.
fn browse(profile: &Path, url: &str, action: &str) -> String {
    let result = Command::new(common::external_tool(
        "HPO_CHROMIUM",
        "chromium",
        "install Debian's chromium (.ci/run does)",
    ))
    .args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
    ])
    .args([
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args([
        "--virtual-time-budget=8000",
        "--window-size=1280,1400",
        action,
        url,
    ])
    .output()
    .expect("chromium runs");
    assert!(result.status.success(), "{}", stderr(&result));
    stdout(&result)
}

/// The text of the cells of `table`'s body rows in `dom`, row by row.
fn rows(dom: &str, table: &str) -> Vec<Vec<String>> {
    let start = dom.find(&format!("<table id=\"{table}\"")).unwrap();
    let body = &dom[start..];
    let body = &body[body.find("<tbody>").unwrap() + 7..body.find("</tbody>").unwrap()];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|c| {
                    let c = &c[c.find('>').unwrap() + 1..];
                    let c = &c[..c.find("</td>").unwrap()];
                    // A linked name: the link's text.
                    match c.find("\">") {
                        Some(i) if c.starts_with("<a") => c[i + 2..c.find("</a>").unwrap()].into(),
                        _ => c.to_string(),
                    }
                })
                .collect()
        })
        .collect()
}

#[test]
fn the_dashboard_lists_experiments_shows_trials_and_plots_in_chromium() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let secret = common::serve_token(&home, &out);
    let service = Service::start(&home, &out, &[]);
    let t = Some(secret.as_str());
    let space = json!({"hyperparams": {
        "x": {"type": "float", "value_type": "continuous", "range": [0, 1]},
        "lr": {"type": "float", "value_type": "continuous", "range": [0.0001, 0.1]}}});
    // One experiment finished, one running, one with more trials than the table draws.
    for (name, evals, told) in [
        ("finished-one", 12, 12),
        ("running-one", 50, 5),
        ("long-one", 520, 520),
    ] {
        let new = json!({"name": name, "space": space, "mode": "RANDOM", "evals": evals});
        let (_, created) = service.call("POST", "/experiments", t, Some(new));
        let id = created["id"].as_i64().unwrap();
        for _ in 0..told {
            let (_, answer) = service.call("POST", &format!("/experiments/{id}/ask"), t, None);
            let trial = &answer["trial"];
            let value = (trial["params"]["x"].as_f64().unwrap() - 0.3).powi(2);
            let path = format!("/experiments/{id}/trials/{}/tell", trial["trial"]);
            service.call("POST", &path, t, Some(json!({"value": value})));
        }
        service.call("POST", &format!("/experiments/{id}/ask"), t, None);
    }
    let profile = dir.path().join("profile");
    // The list: both experiments with their status and counts.
    let dom = browse(
        &profile,
        &format!("{}/#token={secret}", service.url),
        "--dump-dom",
    );
    let list = rows(&dom, "experiments");
    assert_eq!(list.len(), 3, "{dom}");
    assert_eq!(list[0][1..4], ["finished-one", "finished", "12"]);
    assert_eq!(list[1][1..4], ["running-one", "running", "5"]);
    // One experiment: its trials in the order the link asks for, and the four plots.
    let url = format!("{}/#token={secret}&exp=1&sort=value", service.url);
    let dom = browse(&profile, &url, "--dump-dom");
    let trials = rows(&dom, "trials");
    assert_eq!(trials.len(), 12, "{dom}");
    let values: Vec<f64> = trials.iter().map(|r| r[1].parse().unwrap()).collect();
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "sorted by value: {values:?}"
    );
    assert_eq!(dom.matches("<svg").count(), 4, "four plots drawn");
    for kind in ["convergence", "arms", "parallel", "importance"] {
        assert!(
            dom.contains(&format!("<figcaption>{kind}</figcaption>")),
            "{kind}"
        );
    }
    // Descending on request.
    let url = format!("{}/#token={secret}&exp=1&sort=value&desc=1", service.url);
    let values: Vec<f64> = rows(&browse(&profile, &url, "--dump-dom"), "trials")
        .iter()
        .map(|r| r[1].parse().unwrap())
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] >= w[1]),
        "descending: {values:?}"
    );
    // A long experiment: the first 500 rows, and a button to draw them all.
    let dom = browse(
        &profile,
        &format!("{}/#token={secret}&exp=3", service.url),
        "--dump-dom",
    );
    assert_eq!(rows(&dom, "trials").len(), 500);
    assert!(dom.contains("Showing 500 of 520 trials."), "{dom}");
    // Without a token (a fresh profile), the page asks for one.
    let dom = browse(
        &dir.path().join("fresh"),
        &format!("{}/", service.url),
        "--dump-dom",
    );
    assert!(dom.contains("<form id=\"login\" class=\"\">"), "{dom}");
    assert!(dom.contains("the service needs a token"), "{dom}");
    // A screenshot of the experiment page, kept as a CI artifact.
    let shots: PathBuf = target_dir().join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("dashboard.png");
    let url = format!("{}/#token={secret}&exp=1", service.url);
    browse(&profile, &url, &format!("--screenshot={}", shot.display()));
    let image = resvg::tiny_skia::Pixmap::load_png(&shot).unwrap();
    assert_eq!((image.width(), image.height()), (1280, 1400));
}

/// A WebDriver session: Debian's chromedriver (package chromium-driver) driving headless
/// Chromium with the flags this network needs; the page stays open while the test acts.
struct Driver {
    child: std::process::Child,
    base: String,
    session: String,
}

impl Driver {
    fn start(profile: &Path) -> Self {
        let program = common::external_tool(
            "HPO_CHROMEDRIVER",
            "chromedriver",
            "install Debian's chromium-driver (.ci/run does)",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while ureq::get(&format!("{base}/status")).call().is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "chromedriver never answered"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let chromium = common::external_tool("HPO_CHROMIUM", "chromium", "install chromium");
        // chromedriver wants a path, not a name to look up.
        let chromium = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|dir| dir.join(&chromium))
            .find(|path| path.is_file())
            .unwrap_or(chromium);
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": chromium, "args": args}}}});
        let mut driver = Driver {
            child,
            base,
            session: String::new(),
        };
        let created = driver.send("POST", "/session", capabilities);
        driver.session = created["sessionId"].as_str().unwrap().to_string();
        driver
    }

    fn send(&self, method: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
        let url = format!("{}{path}", self.base);
        let request = common::http_request(method, &url)
            .body(body.to_string())
            .unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let text = agent
            .run(request)
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            answer["value"]["error"].is_null(),
            "{method} {path}: {answer}"
        );
        answer["value"].clone()
    }

    fn open(&self, url: &str) {
        self.send(
            "POST",
            &format!("/session/{}/url", self.session),
            json!({"url": url}),
        );
    }

    /// `script` (a function body) run on the open page: what it returns.
    fn run(&self, script: &str) -> serde_json::Value {
        self.send(
            "POST",
            &format!("/session/{}/execute/sync", self.session),
            json!({"script": script, "args": []}),
        )
    }

    /// Waits up to `seconds` until `script` returns `want`; the seconds it took.
    fn until(&self, script: &str, want: serde_json::Value, seconds: f64) -> f64 {
        let started = std::time::Instant::now();
        loop {
            let got = self.run(script);
            if got == want {
                return started.elapsed().as_secs_f64();
            }
            assert!(
                started.elapsed().as_secs_f64() < seconds,
                "{script}: {got} after {seconds} s, not {want}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = common::http_request("DELETE", &format!("{}{path}", self.base))
                .body(String::new())
                .map(|r| ureq::Agent::new_with_defaults().run(r));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_trial_told_through_the_api_appears_on_the_open_page_within_seconds() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let secret = common::serve_token(&home, &out);
    let service = Service::start(&home, &out, &[]);
    let t = Some(secret.as_str());
    let space = json!({"hyperparams": {
        "x": {"type": "float", "value_type": "continuous", "range": [0, 1]}}});
    let new = json!({"name": "live", "space": space, "mode": "RANDOM", "evals": 20});
    assert_eq!(service.call("POST", "/experiments", t, Some(new)).0, 201);
    let tell_one = || {
        let (_, answer) = service.call("POST", "/experiments/1/ask", t, None);
        let trial = &answer["trial"];
        let path = format!("/experiments/1/trials/{}/tell", trial["trial"]);
        let x = trial["params"]["x"].as_f64().unwrap();
        assert_eq!(
            service.call("POST", &path, t, Some(json!({"value": x}))).0,
            200
        );
    };
    for _ in 0..3 {
        tell_one();
    }
    let driver = Driver::start(&dir.path().join("profile"));
    driver.open(&format!("{}/#token={secret}&exp=1", service.url));
    let rows = "return document.querySelectorAll('#trials tbody tr').length";
    driver.until(rows, json!(3), 20.0);
    // The page polls only every 30 s: a row within 5 s is the events stream's doing.
    tell_one();
    let took = driver.until(rows, json!(4), 5.0);
    let progress = driver.run("return document.getElementById('progress').textContent");
    assert!(
        progress.as_str().unwrap().contains("4 trials told"),
        "{progress}"
    );
    eprintln!("the told trial appeared after {took:.2} s");
    // A trial asked (in flight) shows in the progress line too.
    service.call("POST", "/experiments/1/ask", t, None);
    driver.until(
        "return document.getElementById('progress').textContent.includes('1 in flight')",
        json!(true),
        5.0,
    );
}

#[test]
fn hpo_dashboard_shows_the_runs_of_a_results_directory_read_only_and_live() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let run = |seed: &str| {
        let ran = home.hpo(&[
            "run", "-m", "RANDOM", "--evals", "8", "--seed", seed, "--out", o,
        ]);
        assert!(ran.status.success(), "{}", stderr(&ran));
    };
    run("1");
    let mut child = Command::new(common::hpo_bin())
        .args(["dashboard", "--listen", "127.0.0.1:0", "--out", o])
        .env("HPO_HOME", home.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = line
        .trim()
        .strip_prefix("serving on ")
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    // Read-only: nothing can be created or asked.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |path: &str| {
        let request = common::http_request("POST", &format!("{url}{path}"))
            .body("{}".to_string())
            .unwrap();
        agent.run(request).unwrap().status().as_u16()
    };
    assert_eq!(post("/experiments"), 405);
    assert_eq!(post("/experiments/1/ask"), 404);
    // Its OpenAPI document lists the reading routes only.
    let document: serde_json::Value = agent
        .run(
            common::http_request("GET", &format!("{url}/openapi.json"))
                .body(String::new())
                .unwrap(),
        )
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.contains_key("/experiments/{id}/trials"), "{paths:?}");
    assert!(!paths.contains_key("/experiments/{id}/ask"), "{paths:?}");
    for (path, item) in paths {
        let methods: Vec<&String> = item.as_object().unwrap().keys().collect();
        assert_eq!(methods, ["get"], "{path}");
    }
    let driver = Driver::start(&dir.path().join("profile"));
    driver.open(&format!("{url}/#exp=1"));
    let trials = "return document.querySelectorAll('#trials tbody tr').length";
    driver.until(trials, json!(8), 20.0);
    let experiments = "return document.querySelectorAll('#experiments tbody tr').length";
    driver.until(experiments, json!(1), 5.0);
    // Another run in the same directory appears on the open page (the store is watched).
    run("2");
    driver.until(experiments, json!(2), 10.0);
    drop(driver);
    let _ = child.kill();
    let _ = child.wait();
}
