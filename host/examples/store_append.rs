//! Durable trial appends on a store: the latency of `record_trial` (one committed
//! transaction: the trial in flight deleted, the trial inserted) over N trials.
//!
//! `cargo run --release -p hpo --example store_append -- STORE_URL N`, where STORE_URL is
//! `sqlite:PATH` or `postgresql://USER@HOST/DB` (use an empty database). Prints p50, p99
//! and appends per second.

use std::time::Instant;

use hpo_host::store::{Commit, Location, Store};
use hpo_host::trial::Trial;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, n] = args.as_slice() else {
        return Err("usage: store_append STORE_URL N".into());
    };
    let n: usize = n.parse()?;
    let store = Store::connect(&Location::parse(url)?)?;
    let experiment = store.create("store_append", "store_append.json")?;
    store.start_run(experiment.id, 0, 1)?;
    let mut latencies = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let trial = trial(i);
        store.record_pending(experiment.id, 0, i, "{}")?;
        let t = Instant::now();
        store.record_trial(experiment.id, 0, &trial, i, None, Commit::Durable)?;
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let total = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((n - 1) as f64 * q).round() as usize];
    println!(
        "{url}: {n} appends, p50 {:.3} ms, p99 {:.3} ms, {:.0} appends/s (with the in-flight record)",
        at(0.5),
        at(0.99),
        n as f64 / total
    );
    Ok(())
}

/// A trial of a 6-parameter space, as `hpo run` records one.
fn trial(i: usize) -> Trial {
    let x: Vec<f64> = (0..6)
        .map(|d| ((i * 7 + d * 13) % 101) as f64 / 100.0)
        .collect();
    Trial {
        row: None,
        params: x.iter().map(|&v| serde_json::Value::from(v)).collect(),
        value: x.iter().map(|v| (v - 0.3) * (v - 0.3)).sum(),
        exec_time: 0.5,
        opt_time: 0.01,
        arm: "TPE/EI".into(),
        epochs: None,
        interim: Vec::new(),
        estimate: None,
        x,
        strategy_state: Some(vec![0; 64]),
        failure: None,
        arm_failures: Vec::new(),
        timing: None,
        requeued: false,
        terminated: false,
        fidelity: None,
    }
}
