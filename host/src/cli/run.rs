//! `hpo run`: the seed's flags next to long forms, turned into a run request; the summary
//! printed as text or JSON.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use hpo_host::experiment::{
    self, Criterion, Expiry, ExpiryFlags, GoalMetric, Parallelism, RunRequest, Summary,
};

use super::progress::Progress;
use super::values::{at_least_one, boolean, duration, seed};

/// `hpo run`: the seed's flags (`-m -s -e -eg -et -c -rc -hc -w -r -p -tp`, with `=` or a
/// space) next to long forms.
#[derive(clap::Args)]
#[command(
    allow_negative_numbers = true,
    after_help = "Seed spellings: -eg = --goal, -et = --time, -rc = --run-conf-dir, \
-hc = --hp-conf-dir, -tp = --time-penalty, -etr = --early-stop; `-m=GP` works like `-m GP`."
)]
pub struct RunArgs {
    /// Seed form: the surrogate table to run on (same as --objective surrogate:NAME).
    #[arg(conflicts_with = "objective")]
    config_name: Option<String>,
    /// Seed form: number of independent repeated runs (same as --runs).
    #[arg(conflicts_with = "runs", value_parser = at_least_one)]
    num_trials: Option<usize>,
    /// Run configuration file with the arms (default: on a table, ./run_conf/arms.json, else
    /// the built-in seed's default; on any other objective, the built-in
    /// run_conf/arms-tpe.json: BO-HEDGE over GP, RF and TPE arms).
    #[arg(long, value_name = "FILE", conflicts_with = "conf")]
    arms: Option<PathBuf>,
    /// Run configuration file name inside --run-conf-dir (seed: -c).
    #[arg(short = 'c', long = "conf", value_name = "FILE")]
    conf: Option<String>,
    /// Directory of run configurations (seed: -rc).
    #[arg(long = "run-conf-dir", value_name = "DIR", default_value = "run_conf")]
    run_conf_dir: PathBuf,
    /// Directory of surrogate tables looked in first (seed: -hc).
    #[arg(long = "hp-conf-dir", value_name = "DIR")]
    hp_conf_dir: Option<PathBuf>,
    /// Mode: DIV, or one model for a single-arm run (RANDOM, GP, RF, TPE, GP-HLE, ...).
    #[arg(short = 'm', long = "mode")]
    mode: Option<String>,
    /// Spec: the strategy of DIV (SEQ, RANDOM, ...) or the acquisition (EI, PI, UCB, RANDOM).
    #[arg(short = 's', long = "spec")]
    spec: Option<String>,
    /// What to evaluate: surrogate:NAME (a table; default surrogate:digits-mlp), fn:NAME (a
    /// test function, e.g. fn:branin) or cmd:PROGRAM ARGS (your training command, with
    /// --space). With -w the worker evaluates it.
    #[arg(long)]
    objective: Option<String>,
    /// Independent repeated runs.
    #[arg(long, value_parser = at_least_one)]
    runs: Option<usize>,
    /// At most this many evaluations per run.
    #[arg(long, value_parser = at_least_one)]
    evals: Option<usize>,
    /// Expiry criterion: TIME or GOAL (seed: -e).
    #[arg(short = 'e', long = "exp-crt", value_parser = ["TIME", "GOAL"])]
    exp_crt: Option<String>,
    /// Goal (seed: -eg), in the units of --goal-metric.
    #[arg(long, allow_hyphen_values = true)]
    goal: Option<f64>,
    /// Whether --goal is an error (reached when the best error is at most the goal) or an
    /// accuracy (reached when 1 - best error is at least the goal).
    #[arg(long = "goal-metric", default_value = "error", value_parser = ["error", "accuracy"])]
    goal_metric: String,
    /// Time budget per run: seconds, or 30m, 2h, 1d (seed: -et). Σexec + Σopt.
    #[arg(long, value_parser = duration, allow_hyphen_values = true)]
    time: Option<f64>,
    /// Experiment seed.
    #[arg(long, default_value_t = 1, value_parser = seed)]
    seed: u64,
    /// Results directory.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Continue the interrupted experiment with the same settings (no completed trial is lost).
    #[arg(long)]
    resume: bool,
    /// Search space of a cmd: objective (hp_conf schema).
    #[arg(long, value_name = "FILE")]
    space: Option<PathBuf>,
    /// Per-trial timeout of a cmd: objective: seconds, or 30m, 2h.
    #[arg(long = "trial-timeout", default_value = "1h", value_parser = duration)]
    trial_timeout: f64,
    /// Remote training worker URL (seed: -w), repeatable: evaluations run there as jobs
    /// (see `hpo worker`), as many at once as the workers have slots; a worker that goes
    /// away has its trials evaluated by the others. The workers' credential is
    /// $HPO_WORKER_CREDENTIAL, else the run configuration's `credential`.
    #[arg(short = 'w', long = "worker-url", value_name = "URL")]
    worker_url: Vec<String>,
    /// A file of remote worker URLs, one per line (# starts a comment), added to -w.
    #[arg(long = "worker-file", value_name = "FILE")]
    worker_file: Option<PathBuf>,
    /// Evaluations at once: local workers (a cmd: command runs as N concurrent process
    /// groups, each told its worker as $HPO_WORKER and {worker}), or with --simulate (and
    /// -m BATCH) the simulated workers.
    #[arg(long, value_parser = at_least_one)]
    workers: Option<usize>,
    /// Simulate --workers workers on a table or a test function (a discrete-event clock:
    /// a table's recorded times, a modelled cost for fn:): ASYNC (default: each worker asks
    /// as its job ends) or SYNC (rounds). The seed's form is -m BATCH -s SYNC|ASYNC.
    #[arg(long, value_name = "SYNC|ASYNC", num_args = 0..=1, default_missing_value = "ASYNC",
          value_parser = ["SYNC", "ASYNC"])]
    simulate: Option<String>,
    /// Extend the finished experiment of N runs with the same settings to --runs (seed: -r).
    #[arg(short = 'r', long = "rerun", value_parser = at_least_one)]
    rerun: Option<usize>,
    /// Write each proposal's model estimate (mean, variance, acquisition) into the results
    /// file (seed: -p): true/false, yes/no, 1/0; the flag alone means true.
    #[arg(short = 'p', long = "save-internal", num_args = 0..=1, default_missing_value = "true")]
    save_internal: Option<String>,
    /// Time penalty of the model arms' acquisition (seed: -tp): ET_PS (per second),
    /// ET_PLS (per log second), ET_L<rate> (linear, e.g. ET_L0.1), ET_T<k> (fastest of the k
    /// best, e.g. ET_T10) or NONE; evaluation times are estimated from the completed trials.
    #[arg(long = "time-penalty", value_name = "PENALTY")]
    time_penalty: Option<String>,
    /// Early-termination rule (seed: -etr; overrides the run configuration's
    /// early_term_rule): a stopper (DecaTercet, PentaTercet, TetraTercet, Median, ASHA), a
    /// scheduler giving budgets and promotions (Hyperband, SuccessiveHalving), any installed
    /// plugin's rule, or NONE. Its options come from the plugin's section of the run
    /// configuration ("plugins": {"stop": {...}}).
    #[arg(long = "early-stop", value_name = "RULE")]
    early_stop: Option<String>,
    /// A store shared by the processes of one experiment, on this host or many:
    /// postgresql://USER@HOST/DB (or sqlite:PATH on one host). Processes started with the
    /// same settings join its unfinished experiment: each claims trials in transactions
    /// and proposes with every process's completed and in-flight trials in view. Default:
    /// the SQLite file in --out, private to this run.
    #[arg(long, value_name = "URL", value_parser = super::values::store)]
    store: Option<hpo_host::store::Location>,
    /// With --store: how long this process's trials in flight stay its own without a
    /// heartbeat (sent every third of it); after it, another process evaluates them again.
    #[arg(long = "trial-lease", default_value = "60", value_parser = duration)]
    trial_lease: f64,
}

impl RunArgs {
    /// The run request these flags describe.
    fn request(&self) -> anyhow::Result<RunRequest> {
        let objective = match (&self.config_name, &self.objective) {
            (Some(name), _) => format!("surrogate:{name}"),
            (None, Some(objective)) => objective.clone(),
            (None, None) => experiment::DEFAULT_OBJECTIVE.to_string(),
        };
        let expiry = Expiry::from_flags(
            &ExpiryFlags {
                evals: self.evals,
                time: self.time,
                goal: self.goal,
                criterion: match self.exp_crt.as_deref() {
                    Some("TIME") => Some(Criterion::Time),
                    Some("GOAL") => Some(Criterion::Goal),
                    _ => None,
                },
                goal_metric: match self.goal_metric.as_str() {
                    "accuracy" => GoalMetric::Accuracy,
                    _ => GoalMetric::Error,
                },
            },
            &objective,
        )?;
        anyhow::ensure!(
            self.trial_lease > 0.0,
            "--trial-lease {}: must be longer than 0 s",
            self.trial_lease
        );
        let save_internal = match self.save_internal.as_deref() {
            None => false,
            Some(v) => boolean(v).ok_or_else(|| {
                anyhow::anyhow!("--save-internal (-p) {v}: expected true or false")
            })?,
        };
        Ok(RunRequest {
            run_conf: self
                .arms
                .clone()
                .or_else(|| self.conf.as_ref().map(|c| self.run_conf_dir.join(c))),
            mode: self.mode.clone(),
            spec: self.spec.clone(),
            objective,
            table_dir: Some(self.hp_conf_dir.clone().unwrap_or_else(|| "data".into())),
            runs: self.runs.or(self.num_trials).unwrap_or(1),
            expiry,
            seed: self.seed,
            out: self.out.clone(),
            space: self.space.clone(),
            trial_timeout: Duration::from_secs_f64(self.trial_timeout),
            resume: self.resume,
            rerun: self.rerun,
            save_internal,
            time_penalty: self.time_penalty.clone(),
            early_stop: self.early_stop.clone(),
            worker_urls: self.worker_urls()?,
            workers: self.workers,
            simulate: self.simulate.as_deref().map(|s| s == "SYNC"),
            shared: self.store.is_some(),
            store: self.store.clone(),
            trial_lease: Duration::from_secs_f64(self.trial_lease),
        })
    }

    /// The -w URLs, then those of --worker-file.
    fn worker_urls(&self) -> anyhow::Result<Vec<String>> {
        let mut urls = self.worker_url.clone();
        if let Some(file) = &self.worker_file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| anyhow::anyhow!("--worker-file {}: {e}", file.display()))?;
            urls.extend(
                text.lines()
                    .map(|l| l.split('#').next().unwrap_or_default().trim())
                    .filter(|l| !l.is_empty())
                    .map(str::to_string),
            );
            if urls.is_empty() {
                anyhow::bail!("--worker-file {}: lists no URL", file.display());
            }
        }
        Ok(urls)
    }
}

/// Runs the experiment, prints its summary; exit 1 when a run had no successful trial.
pub fn command(args: RunArgs, registry: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let request = args.request()?;
    let host = super::open_host(registry)?;
    let progress = Progress::new(request.runs, request.expiry.evals, request.workers);
    let summary = experiment::run_experiment(&host, &request, |run, trial, busy| {
        progress.trial(run, trial, busy)
    })?;
    progress.finish();
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("{}", summary_text(&summary));
    }
    // A run without one successful trial produced no result: say so, exit non-zero (the
    // trials and their failure reasons are in the results file and the store).
    let empty = summary.runs_without_result();
    if let Some(first) = empty.first() {
        let runs: Vec<String> = empty.iter().map(|r| r.run.to_string()).collect();
        eprintln!(
            "error: no trial succeeded in run {} ({}); see {}",
            runs.join(", "),
            first.stop_reason,
            summary.results_file.display()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The summary as lines of text: per run the best value, its configuration and the times.
fn summary_text(summary: &Summary) -> String {
    let mut out = format!("{} on {}\n", summary.mode, summary.objective);
    // A table's times are the recorded training times it replays; anything else ran.
    let time_kind = if summary.objective.starts_with("surrogate:") {
        "simulated time"
    } else {
        "evaluation time"
    };
    // A parallel run's own clock: simulated, or the wall clock of its workers.
    let clock_kind = match summary.parallelism {
        Parallelism::Simulated { .. } => "simulated clock",
        _ => "wall clock",
    };
    for r in &summary.runs {
        let clock = r
            .clock_time
            .map_or(String::new(), |t| format!(", {clock_kind} {t:.1} s"));
        out.push_str(&format!(
            "run {}: best {} after {} evaluations ({}); {time_kind} {:.1} s{clock}, optimizer time {:.3} s\n",
            r.run,
            r.best_value.map_or("none".to_string(), |v| format!("{v:.6}")),
            r.evals,
            r.stop_reason,
            r.exec_time,
            r.opt_time
        ));
        out.push_str(&format!(
            "  best configuration: {}\n",
            serde_json::Value::Object(r.best_params.clone())
        ));
    }
    out.push_str(&format!("results: {}\n", summary.results_file.display()));
    out
}
