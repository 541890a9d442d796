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
