//! `hpo bench`: the seed's evaluation protocol, its report written as Markdown, CSV, JSON
//! and SVG.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use hpo_host::bench::success_rate::{self, BenchRequest};
use hpo_host::bench::target_value;
use hpo_host::config::{ConfigDefault, RunConfig};
use hpo_host::experiment::drivers::simulated::Cluster;
use hpo_host::objectives;

use super::values::{at_least_one, duration, seed};

/// `hpo bench`: the seed's evaluation protocol.
#[derive(clap::Args)]
#[command(allow_negative_numbers = true)]
pub struct BenchArgs {
    /// Strategies, comma-separated: DIV/<STRATEGY> (over --arms) or MODEL/ACQ.
    #[arg(long, value_delimiter = ',', required = true)]
    strategies: Vec<String>,
    /// What to evaluate: surrogate:NAME (a table) or fn:NAME (a test function).
    #[arg(long, default_value = "surrogate:digits-mlp")]
    objective: String,
    /// Directory of surrogate tables looked in first (seed: -hc); then ./data, then the
    /// bundled ones.
    #[arg(long = "hp-conf-dir", value_name = "DIR")]
    hp_conf_dir: Option<PathBuf>,
    /// Run configuration with the arms of DIV strategies.
    #[arg(long, value_name = "FILE")]
    arms: Option<PathBuf>,
    /// Runs per strategy.
    #[arg(long, default_value_t = 50, value_parser = at_least_one)]
    runs: usize,
    /// Time budget per run: seconds, or 30m, 2h, 1d.
    #[arg(long, default_value = "2h", value_parser = duration)]
    budget: f64,
    /// Target: topK (the K-th best value of the table) or a value (lower is better).
    #[arg(long, default_value = "top10")]
    target: String,
    /// Experiment seed.
    #[arg(long, default_value_t = 1, value_parser = seed)]
    seed: u64,
    /// Where bench.md, bench.csv, bench.json and bench.svg go.
    #[arg(long, default_value = "results/bench")]
    out: PathBuf,
    /// Run each run on a simulated cluster of N workers (the seed's BATCH: a table's
    /// recorded times, a modelled cost for fn:), ASYNC unless --sync.
    #[arg(long, value_parser = at_least_one)]
    workers: Option<usize>,
    /// With --workers: SYNC rounds (a round lasts its slowest job) instead of ASYNC.
    #[arg(long, requires = "workers")]
    sync: bool,
    /// Stop each run once it reaches the target (success rates and times to target are the
    /// same, faster; the median best values after that are those that reached it).
    #[arg(long = "stop-at-target")]
    stop_at_target: bool,
    /// Early-termination rule of every run (overrides the run configuration's
    /// early_term_rule): DecaTercet, PentaTercet, TetraTercet, Median, ASHA, Hyperband,
    /// SuccessiveHalving, any installed plugin's rule, or NONE.
    #[arg(long = "early-stop", value_name = "RULE")]
    early_stop: Option<String>,
}

/// Runs the protocol and writes its report.
pub fn command(args: BenchArgs, registry: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let table_dir = args.hp_conf_dir.clone().unwrap_or_else(|| "data".into());
    let objective = objectives::resolve(
        &args.objective,
        Some(&table_dir),
        None,
        Duration::from_secs(3600),
    )?;
    let target = target_value(&args.target, objective.as_ref())?;
    let mut config = RunConfig::load(args.arms.as_deref(), ConfigDefault::Seed)?;
    if let Some(rule) = &args.early_stop {
        config.early_term_rule = Some(rule.clone());
    }
    let request = BenchRequest {
        strategies: args.strategies.clone(),
        runs: args.runs,
        budget: args.budget,
        target,
        target_label: args.target.clone(),
        seed: args.seed,
        config,
        cluster: args.workers.map(|workers| Cluster {
            workers,
            sync: args.sync,
        }),
        stop_at_target: args.stop_at_target,
    };
    let host = super::open_host(registry)?;
    let report = success_rate::run(&host, &request, &objective.label(), &|| {
        objective.clone_box()
    })?;
    let markdown = success_rate::markdown(&report);
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(args.out.join("bench.md"), &markdown)?;
    std::fs::write(args.out.join("bench.csv"), success_rate::csv(&report))?;
    std::fs::write(
        args.out.join("bench.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(args.out.join("bench.svg"), success_rate::svg(&report)?)?;
    print!("{markdown}");
    println!("\nfiles: {}/bench.{{md,csv,json,svg}}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
