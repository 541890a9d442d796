//! Load on `hpo serve`: CLIENTS threads on loopback, each asking and telling until the
//! experiment's TRIALS are told; prints the ask+tell round trip's p50/p99 and the
//! throughput (asks per second).
//!
//! ```sh
//! cargo run --release -p hpo --example serve_load -- URL TOKEN CLIENTS TRIALS MODE
//! ```

use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn call(agent: &ureq::Agent, method: &str, url: &str, token: &str, body: Option<Value>) -> Value {
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .body(body.map(|b| b.to_string()).unwrap_or_default())
        .unwrap();
    let mut answer = agent.run(request).expect("the service answers");
    serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap_or(Value::Null)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, token) = (args[0].trim_end_matches('/').to_string(), args[1].clone());
    let clients: usize = args[2].parse().unwrap();
    let trials: usize = args[3].parse().unwrap();
    let mode = args.get(4).cloned().unwrap_or_else(|| "RANDOM".into());
    // The experiment is made on a connection of its own, closed before the clients start.
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let name = format!(
        "load-{}-{clients}-{}",
        mode.to_lowercase(),
        std::process::id()
    );
    let space = json!({"hyperparams": {
        "x": {"type": "float", "value_type": "continuous", "range": [0, 1]},
        "y": {"type": "float", "value_type": "continuous", "range": [0, 1]}}});
    let spec = if mode == "TPE" { "MV" } else { "RANDOM" };
    let created = call(
        &agent,
        "POST",
        &format!("{url}/experiments"),
        &token,
        Some(json!({"name": name, "space": space, "mode": mode, "spec": spec, "evals": trials})),
    );
    let id = created["id"].as_i64().expect("created");
    drop(agent);
    let started = Instant::now();
    let rounds: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                let (url, token) = (url.clone(), token.clone());
                scope.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
                    let mut mine = Vec::new();
                    loop {
                        let t0 = Instant::now();
                        let answer = call(
                            &agent,
                            "POST",
                            &format!("{url}/experiments/{id}/ask"),
                            &token,
                            None,
                        );
                        let Some(trial) = answer["trial"].as_object() else {
                            return mine;
                        };
                        let x = trial["params"]["x"].as_f64().unwrap();
                        let path = format!("{url}/experiments/{id}/trials/{}/tell", trial["trial"]);
                        call(
                            &agent,
                            "POST",
                            &path,
                            &token,
                            Some(json!({"value": (x - 0.3).powi(2)})),
                        );
                        mine.push(t0.elapsed());
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let wall = started.elapsed().as_secs_f64();
    let mut ms: Vec<f64> = rounds.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let q = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    println!(
        "{mode} clients {clients}: {} ask+tell, p50 {:.2} ms, p99 {:.2} ms, {:.0} asks/s",
        ms.len(),
        q(0.5),
        q(0.99),
        ms.len() as f64 / wall
    );
}
