//! The conformance kit (`hpo plugin test`) on the first-party plugins, which all conform,
//! and on the hostile fixture, whose every defect it must name.

mod common;

use common::{Home, native, stderr, stdout, wasm};

fn report(home: &Home, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut full = vec!["plugin", "test", "--json"];
    full.extend_from_slice(args);
    let out = home.hpo(&full);
    let report = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    (out.status.code(), report)
}

fn failures(report: &serde_json::Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "fail")
        .map(|c| format!("{} / {}: {}", c["subject"], c["check"], c["detail"]))
        .collect()
}

/// The outcome and detail of `subject`'s `check`.
fn check<'a>(report: &'a serde_json::Value, subject: &str, check: &str) -> (&'a str, &'a str) {
    let c = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == subject && c["check"].as_str().unwrap().starts_with(check))
        .unwrap_or_else(|| panic!("no check '{check}' of {subject}"));
    (
        c["outcome"].as_str().unwrap(),
        c["detail"].as_str().unwrap(),
    )
}

#[test]
fn every_bundled_plugin_conforms() {
    let home = Home::new();
    // The sanity runs once (random search against itself is the cheapest model); the
    // others skip them to keep the suite short.
    let (code, random) = report(&home, &["random"]);
    assert_eq!(code, Some(0), "{:?}", failures(&random));
    let (outcome, _) = check(&random, "model RANDOM", "sanity on fn:branin");
    assert_eq!(outcome, "pass");
    // The GP's latency at 1000 observations is in docs/PERFORMANCE.md, and its replay in
    // bounded calls is tested in plugin_sandbox.rs (a_long_history_…).
    for name in ["gp", "rf", "tpe", "bandit", "stop"] {
        let (code, r) = report(&home, &[name, "--no-sanity", "--latency-sizes", "10,100"]);
        assert_eq!(code, Some(0), "{name}: {:?}", failures(&r));
        assert_eq!(r["kind"], "native");
    }
    let (_, stop) = report(&home, &["stop", "--no-sanity"]);
    for rule in ["DecaTercet", "PentaTercet", "TetraTercet", "Median", "ASHA"] {
        for what in ["options", "decisions", "determinism", "edge inputs"] {
            let subject = format!("stopper {rule}");
            assert_eq!(check(&stop, &subject, what).0, "pass", "{subject} {what}");
        }
    }
}

#[test]
fn wasm_builds_conform_too() {
    let home = Home::new();
    // The wasm GP passes too (`hpo plugin test …/hpo_gp.wasm --no-sanity`, 2 minutes in a
    // debug host); its one defect found by the kit is pinned in plugin_sandbox.rs.
    for name in [
        "example_local_search",
        "hpo_random",
        "hpo_rf",
        "hpo_tpe",
        "hpo_bandit",
        "hpo_stop",
    ] {
        let path = wasm(name);
        let (code, r) = report(&home, &[path.to_str().unwrap(), "--no-sanity"]);
        assert_eq!(code, Some(0), "{name}: {:?}", failures(&r));
        assert_eq!(r["kind"], "wasm");
    }
}

#[test]
fn the_hostile_fixture_fails_with_the_right_reasons() {
    let home = Home::new();
    let path = wasm("example_hostile");
    let (code, r) = report(&home, &[path.to_str().unwrap(), "--no-sanity"]);
    assert_eq!(code, Some(1), "a required check failed");
    assert_eq!(r["passed"], false);
    let table = "proposals on a table pool";
    let expect = [
        ("arm LOOP/SPIN", table, "deadline"),
        ("arm ALLOC/GROW", table, "memory limit"),
        ("arm BAD/LENGTH", table, "asked for 4 proposals, got 1"),
        (
            "arm BAD/LENGTH",
            "edge: one observation",
            "a point off the pool",
        ),
        (
            "arm BAD/NAN",
            "edge: one observation",
            "acquisition value is NaN",
        ),
        ("arm BAD/INDEX", "edge: one observation", "is not among"),
        (
            "arm BAD/COUNT",
            "edge: one observation",
            "asked for 1 proposals, got 4",
        ),
        ("model LOOP", "options", "hpo_conformance_unknown_option"),
        ("strategy BAD-RANK", "selections", "select returned arm"),
    ];
    for (subject, name, why) in expect {
        let (outcome, detail) = check(&r, subject, name);
        assert_eq!(outcome, "fail", "{subject} / {name}: {detail}");
        assert!(detail.contains(why), "{subject} / {name}: {detail}");
    }
    // A trapped arm's remaining checks are skipped, not run again into the deadline.
    assert_eq!(check(&r, "arm LOOP/SPIN", "determinism").0, "skip");
    // Another arm's session, opened before the traps, was not charged for them.
    let isolation = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"].as_str().unwrap().starts_with("isolation"))
        .unwrap();
    assert_eq!(isolation["outcome"], "pass", "{isolation}");
    assert!(
        isolation["check"]
            .as_str()
            .unwrap()
            .contains("LOOP/SPIN, ALLOC/GROW")
    );
}

#[test]
fn install_check_refuses_a_plugin_that_fails_the_kit() {
    let home = Home::new();
    let hostile = wasm("example_hostile");
    let out = home.hpo(&["plugin", "install", "--check", hostile.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not installed"), "{}", stderr(&out));
    let list = stdout(&home.hpo(&["plugin", "list"]));
    assert!(!list.contains("hostile"), "{list}");
    // A native artifact needs the same consent as for install.
    let out = home.hpo(&["plugin", "test", native("hpo_random").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
