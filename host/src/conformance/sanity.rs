//! The kit's sanity runs: each model (with its first acquisition) and each strategy (over
//! the default arms) against random search on `fn:branin` and the bundled table, 50
//! evaluations, the median best value over a few seeds. A warning only: a small-sample
//! comparison is a hint, not a verdict.

use std::time::Duration;

use hpo_plugin_api::types::PluginInfo;

use super::{Checks, KitOptions, Outcome};
use crate::experiment::{Expiry, RunRequest, run_experiment};
use crate::registry::PluginHost;

/// Evaluations of each sanity run.
const EVALS: usize = 50;
/// The objectives compared on.
const OBJECTIVES: [&str; 2] = ["fn:branin", "surrogate:digits-mlp"];

/// Runs the sanity comparisons of every model and strategy of the plugin.
pub(super) fn run(host: &PluginHost, info: &PluginInfo, options: &KitOptions, checks: &mut Checks) {
    let out = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            checks.push(
                "plugin",
                "sanity",
                Outcome::Warn,
                format!("no temporary directory: {e}"),
            );
            return;
        }
    };
    let mut subjects: Vec<(String, String, String)> = Vec::new();
    for arm in &info.arms {
        let (model, acq) = arm.split_once('/').unwrap_or((arm, ""));
        if !subjects.iter().any(|(_, m, _)| m == model) {
            subjects.push((format!("model {model}"), model.to_string(), acq.to_string()));
        }
    }
    for strategy in &info.strategies {
        subjects.push((
            format!("strategy {strategy}"),
            "DIV".to_string(),
            strategy.clone(),
        ));
    }
    for objective in OBJECTIVES {
        let baseline = median_best(host, objective, "RANDOM", "RANDOM", options, out.path());
        for (subject, mode, spec) in &subjects {
            let check = format!("sanity on {objective}");
            let mine = median_best(host, objective, mode, spec, options, out.path());
            let (outcome, detail) = match (&mine, &baseline) {
                (Ok(m), Ok(r)) if m <= r => (
                    Outcome::Pass,
                    format!(
                        "median best after {EVALS} evaluations {m:.6} ≤ random search's {r:.6} ({} seeds)",
                        options.sanity_seeds
                    ),
                ),
                (Ok(m), Ok(r)) => (
                    Outcome::Warn,
                    format!(
                        "median best after {EVALS} evaluations {m:.6} > random search's {r:.6} ({} seeds)",
                        options.sanity_seeds
                    ),
                ),
                (Err(e), _) => (Outcome::Warn, format!("the run failed: {e}")),
                (_, Err(e)) => (Outcome::Warn, format!("random search's run failed: {e}")),
            };
            checks.push(subject, &check, outcome, detail);
        }
    }
}

/// The median best value of `sanity_seeds` runs of `mode`/`spec` on `objective`.
fn median_best(
    host: &PluginHost,
    objective: &str,
    mode: &str,
    spec: &str,
    options: &KitOptions,
    out: &std::path::Path,
) -> Result<f64, String> {
    let request = RunRequest {
        run_conf: None,
        mode: Some(mode.to_string()),
        spec: Some(spec.to_string()),
        objective: objective.to_string(),
        table_dir: None,
        runs: options.sanity_seeds,
        expiry: Expiry {
            evals: Some(EVALS),
            time: None,
            goal: None,
        },
        seed: 1,
        out: out.join(format!("{mode}-{spec}-{}", objective.replace(':', "-"))),
        space: None,
        trial_timeout: Duration::from_secs(60),
        resume: false,
        rerun: None,
        save_internal: false,
        time_penalty: None,
        early_stop: None,
        worker_urls: Vec::new(),
        workers: None,
        simulate: None,
        store: None,
        shared: false,
        trial_lease: Duration::from_secs(60),
    };
    let summary = run_experiment(host, &request, |_, _, _| {}).map_err(|e| e.to_string())?;
    let mut best: Vec<f64> = summary.runs.iter().filter_map(|r| r.best_value).collect();
    if best.is_empty() {
        return Err("no run found a value".into());
    }
    best.sort_by(f64::total_cmp);
    let mid = best.len() / 2;
    Ok(if best.len() % 2 == 1 {
        best[mid]
    } else {
        (best[mid - 1] + best[mid]) / 2.0
    })
}
