//! The `hpo` command line: parses arguments and dispatches to the host library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use hpo_host::bundled;
use hpo_host::experiment::Expiry;
use hpo_host::home;
use hpo_host::loader::WasmRuntime;
use hpo_host::plugins::{InstallOptions, PluginHost};
use hpo_host::results_cmd;
use hpo_host::runner::{self, RunRequest};

mod progress;
use hpo_registry::PluginEntry;

/// hpo: hyperparameter optimization with pluggable, diversified optimizers.
#[derive(Parser)]
#[command(name = "hpo", version, about, long_about = None)]
struct Cli {
    /// The plugin registry file (default: $HPO_HOME/registry.toml, else the user data dir).
    #[arg(long, global = true, value_name = "PATH")]
    registry: Option<PathBuf>,
    /// Log level: error, warn, info, debug, trace (RUST_LOG overrides).
    #[arg(short = 'l', long = "log-level", global = true, default_value = "warn")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage optimizer plugins (arms and strategies).
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Run an experiment (default: a diversified run on the bundled surrogate table).
    Run(Box<RunArgs>),
    /// Compare strategies: repeated runs, success rate over time to reach a target.
    Bench(Box<BenchArgs>),
    /// Model quality: median simple regret of arms on test functions with known optima.
    Regret(Box<RegretArgs>),
    /// Serve an objective as a remote training worker (the seed's training node), for
    /// `hpo run -w URL`; clients must send $HPO_WORKER_CREDENTIAL when it is set.
    Worker(Box<WorkerArgs>),
    /// Read the experiment store: list, show, export.
    Results {
        /// The results directory `hpo run` wrote to.
        #[arg(long, default_value = "results", global = true)]
        out: PathBuf,
        #[command(subcommand)]
        command: ResultsCommand,
    },
}

/// `hpo worker`: a training node.
#[derive(clap::Args)]
#[command(allow_negative_numbers = true)]
struct WorkerArgs {
    /// What the worker evaluates: cmd:PROGRAM ARGS, surrogate:NAME or fn:NAME.
    #[arg(long)]
    objective: String,
    /// Search space of a cmd: objective (hp_conf schema).
    #[arg(long, value_name = "FILE")]
    space: Option<PathBuf>,
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:6000")]
    listen: String,
    /// Per-trial timeout of a cmd: objective: seconds, or 30m, 2h.
    #[arg(long = "trial-timeout", default_value = "1h", value_parser = duration)]
    trial_timeout: f64,
    /// Directory of surrogate tables.
    #[arg(long, default_value = "data")]
    table_dir: PathBuf,
    /// Serve without a credential on an address beyond the loopback (anyone who can reach
    /// it may run jobs).
    #[arg(long)]
    insecure: bool,
    // The credential clients must send comes from $HPO_WORKER_CREDENTIAL (not a flag: a
    // flag shows in the process list).
}

/// `hpo regret`: the model-quality protocol.
#[derive(clap::Args)]
#[command(allow_negative_numbers = true)]
struct RegretArgs {
    /// Arms, comma-separated, as MODEL/ACQ, and portfolios as DIV/<STRATEGY> (over the
    /// arms of --arms-file).
    #[arg(long, value_delimiter = ',', required = true)]
    arms: Vec<String>,
    /// Run configuration of the DIV/<STRATEGY> entries: their arms and options (default:
    /// ./run_conf/arms.json, else the built-in one).
    #[arg(long = "arms-file", value_name = "FILE")]
    arms_file: Option<PathBuf>,
    /// Problems, comma-separated: test functions (fn: names, the prefix optional; any-
    /// dimension ones as NAME-D, e.g. levy-4, rosenbrock-4, ackley-5, styblinski-tang-5,
    /// griewank-3) or tables (surrogate:NAME, the regret against the table's best value).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "branin,six-hump-camel,hartmann3,hartmann6,levy-4,rosenbrock-4,ackley-5,styblinski-tang-5"
    )]
    problems: Vec<String>,
    /// Runs (seeds) per arm and problem.
    #[arg(long, default_value_t = 10, value_parser = at_least_one)]
    runs: usize,
    /// Evaluation checkpoints, comma-separated; the last is the budget.
    #[arg(long, value_delimiter = ',', default_value = "50,100")]
    evals: Vec<usize>,
    /// Run configuration with the plugins' options (gp, rf, tpe sections).
    #[arg(long, value_name = "FILE")]
    conf: Option<PathBuf>,
    /// Directory of surrogate tables looked in first (seed: -hc); then ./data, then the
    /// bundled ones.
    #[arg(long = "hp-conf-dir", value_name = "DIR")]
    hp_conf_dir: Option<PathBuf>,
    /// Experiment seed.
    #[arg(long, default_value_t = 1, value_parser = seed)]
    seed: u64,
}

/// `hpo bench`: the seed's evaluation protocol.
#[derive(clap::Args)]
#[command(allow_negative_numbers = true)]
struct BenchArgs {
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
}

#[derive(Subcommand)]
enum ResultsCommand {
    /// List the experiments in the store.
    List,
    /// Show one experiment: settings and, per run, the best value.
    Show {
        /// The experiment's id (see `hpo results list`).
        id: i64,
    },
    /// Export every trial of an experiment as CSV on stdout.
    Export {
        /// The experiment's id.
        id: i64,
    },
}

/// `hpo run`: the seed's flags (`-m -s -e -eg -et -c -rc -hc -w -r -p -tp`, with `=` or a
/// space) next to long forms.
#[derive(clap::Args)]
#[command(
    allow_negative_numbers = true,
    after_help = "Seed spellings: -eg = --goal, -et = --time, -rc = --run-conf-dir, \
-hc = --hp-conf-dir, -tp = --time-penalty; `-m=GP` works like `-m GP`."
)]
struct RunArgs {
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
    /// Remote training worker URL (seed: -w): evaluations run there as jobs (see `hpo
    /// worker`); the worker's credential is $HPO_WORKER_CREDENTIAL, else the run
    /// configuration's `credential`.
    #[arg(short = 'w', long = "worker-url", value_name = "URL")]
    worker_url: Option<String>,
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
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Install a plugin artifact (.wasm component or native library), or all in a directory.
    Install {
        /// The artifact or a directory of artifacts.
        path: PathBuf,
        /// Replace an installed plugin of the same name.
        #[arg(long)]
        force: bool,
        /// Accept a native plugin: it runs unsandboxed with your permissions.
        #[arg(long)]
        allow_native: bool,
    },
    /// List installed plugins.
    List,
    /// Show one plugin's registry entry.
    Info {
        /// The plugin's name.
        name: String,
    },
    /// Remove an installed plugin.
    Remove {
        /// The plugin's name.
        name: String,
    },
    /// Check every plugin: checksums, loadability, API compatibility.
    Verify,
}

/// A duration flag's value: seconds, or 30m, 2h, 1d.
fn duration(text: &str) -> Result<f64, String> {
    runner::parse_duration(text)
}

/// A count flag's value: a whole number of at least 1.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{text}' must be a whole number of at least 1")),
    }
}

/// A seed: a whole number from 0 to 2^64 - 1.
fn seed(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<u64>()
        .map_err(|_| format!("'{text}' must be a whole number from 0 to 18446744073709551615"))
}

fn init_logging(level: &str) {
    // The seed's `-l log` is the info level.
    let level = if level == "log" { "info" } else { level };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: not in a pipe or a log file.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// Rewrites the seed's multi-letter short flags and `-x=value` into what clap parses.
fn translate_seed_flags(args: impl Iterator<Item = String>) -> Vec<String> {
    const LONG: [(&str, &str); 5] = [
        ("-eg", "--goal"),
        ("-et", "--time"),
        ("-rc", "--run-conf-dir"),
        ("-hc", "--hp-conf-dir"),
        ("-tp", "--time-penalty"),
    ];
    let mut out = Vec::new();
    for arg in args {
        let (flag, value) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with('-') && !f.starts_with("--") => {
                (f.to_string(), Some(v.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let flag = LONG
            .iter()
            .find(|(short, _)| *short == flag)
            .map(|(_, long)| long.to_string())
            .unwrap_or(flag);
        out.push(flag);
        out.extend(value);
    }
    out
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(translate_seed_flags(std::env::args())) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    init_logging(&cli.log_level);
    // Training commands run in their own process groups: take them along on Ctrl-C or
    // SIGTERM. Completed trials are already committed; `--resume` continues.
    if let Err(e) = ctrlc::set_handler(|| {
        hpo_host::objectives::command::kill_running_commands();
        std::process::exit(130);
    }) {
        tracing::warn!("no interrupt handler: {e}");
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // One line, whatever the source error's own formatting; a cause that an outer
            // message already quotes is not repeated.
            let mut message = String::new();
            for cause in e.chain().map(|c| c.to_string()) {
                if !message.contains(&cause) {
                    if !message.is_empty() {
                        message.push_str(": ");
                    }
                    message.push_str(&cause);
                }
            }
            eprintln!(
                "error: {}",
                message.split_whitespace().collect::<Vec<_>>().join(" ")
            );
            ExitCode::from(2)
        }
    }
}

/// Help and version go to stdout as clap prints them; a usage error is its first line (which
/// names the flag and what is wrong), exit code 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.render().to_string();
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("error");
    eprintln!("{}", line.trim_end());
    ExitCode::from(2)
}

fn open_host(registry: Option<PathBuf>) -> anyhow::Result<PluginHost> {
    let path = home::registry_path(registry).map_err(anyhow::Error::msg)?;
    let mut host = PluginHost::open(path, Arc::new(WasmRuntime::new()))?;
    if let Some(dir) = bundled::executable_dir() {
        let changed = bundled::register_bundled(&mut host, &dir)?;
        if !changed.is_empty() {
            tracing::info!("bundled plugins registered: {}", changed.join(", "));
        }
    }
    Ok(host)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Plugin(command) => plugin_command(command, cli.registry),
        Command::Run(args) => run_command(*args, cli.registry),
        Command::Bench(args) => bench_command(*args, cli.registry),
        Command::Regret(args) => regret_command(*args, cli.registry),
        Command::Worker(args) => worker_command(*args),
        Command::Results { out, command } => {
            let store = out.join(runner::STORE_FILE);
            let text = match command {
                ResultsCommand::List => results_cmd::list(&store)?,
                ResultsCommand::Show { id } => results_cmd::show(&store, id)?,
                ResultsCommand::Export { id } => results_cmd::export_csv(&store, id)?,
            };
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run_command(args: RunArgs, registry: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let time = args.time;
    // Errors and accuracies live in [0, 1]; a test function's or a command's values are any
    // finite number.
    let objective = match (&args.config_name, &args.objective) {
        (Some(name), _) => format!("surrogate:{name}"),
        (None, Some(objective)) => objective.clone(),
        (None, None) => DEFAULT_OBJECTIVE.to_string(),
    };
    let bounded = objective.starts_with("surrogate:") || args.goal_metric == "accuracy";
    let goal = match (args.goal, args.goal_metric.as_str()) {
        (Some(g), _) if !g.is_finite() || (bounded && !(0.0..=1.0).contains(&g)) => {
            anyhow::bail!("--goal {g} is outside the metric's range [0, 1]")
        }
        (Some(g), "accuracy") => Some(1.0 - g),
        (g, _) => g,
    };
    let mut expiry = Expiry {
        evals: args.evals,
        time,
        goal,
    };
    match args.exp_crt.as_deref() {
        Some("GOAL") if expiry.goal.is_none() => {
            anyhow::bail!("-e GOAL needs a goal (--goal or -eg)")
        }
        Some("TIME") if expiry.time.is_none() => expiry.time = Some(86_400.0),
        _ => {}
    }
    if expiry.evals.is_none() && expiry.time.is_none() && expiry.goal.is_none() {
        expiry.evals = Some(DEFAULT_EVALS);
    }
    let run_conf = args
        .arms
        .clone()
        .or_else(|| args.conf.as_ref().map(|c| args.run_conf_dir.join(c)));
    let request = RunRequest {
        run_conf,
        mode: args.mode.clone(),
        spec: args.spec.clone(),
        objective,
        table_dir: args
            .hp_conf_dir
            .clone()
            .or_else(|| Some(PathBuf::from("data"))),
        runs: args.runs.or(args.num_trials).unwrap_or(1),
        expiry,
        seed: args.seed,
        out: args.out.clone(),
        space: args.space.clone(),
        trial_timeout: std::time::Duration::from_secs_f64(args.trial_timeout),
        resume: args.resume,
        rerun: args.rerun,
        save_internal: match args.save_internal.as_deref() {
            None => false,
            Some(v) => parse_bool(v).ok_or_else(|| {
                anyhow::anyhow!("--save-internal (-p) {v}: expected true or false")
            })?,
        },
        time_penalty: args.time_penalty.clone(),
        worker_url: args.worker_url.clone(),
    };
    let host = open_host(registry)?;
    let progress = progress::Progress::new(request.runs, expiry.evals);
    let summary = runner::run(&host, &request, |run, it| progress.iteration(run, it))?;
    progress.finish();
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("{}", summary_text(&summary));
    }
    // A run without one successful trial produced no result: say so, exit non-zero (the
    // trials and their failure reasons are in the results file and the store).
    let empty: Vec<&runner::RunSummary> = summary
        .runs
        .iter()
        .filter(|r| r.best_value.is_none())
        .collect();
    if !empty.is_empty() {
        let runs: Vec<String> = empty.iter().map(|r| r.run.to_string()).collect();
        eprintln!(
            "error: no trial succeeded in run {} ({}); see {}",
            runs.join(", "),
            empty[0].stop_reason,
            summary.results_file.display()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn worker_command(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let space = args
        .space
        .as_deref()
        .map(hpo_host::space::Space::from_file)
        .transpose()?;
    let timeout = args.trial_timeout;
    let credential = std::env::var("HPO_WORKER_CREDENTIAL")
        .ok()
        .filter(|c| !c.is_empty());
    hpo_host::worker::check_exposure(&args.listen, credential.is_some(), args.insecure)
        .map_err(anyhow::Error::msg)?;
    let objective = hpo_host::objectives::resolve(
        &args.objective,
        Some(&args.table_dir),
        space,
        std::time::Duration::from_secs_f64(timeout),
    )
    .map_err(anyhow::Error::msg)?;
    let worker = hpo_host::worker::Worker::bind(&args.listen, objective, credential.as_deref())
        .map_err(anyhow::Error::msg)?;
    let address = worker
        .address()
        .map_or_else(|| args.listen.clone(), |a| a.to_string());
    // Scripts read the URL from this line.
    println!("worker listening on http://{address}/");
    use std::io::Write;
    std::io::stdout().flush()?;
    worker.serve().map_err(anyhow::Error::msg)?;
    Ok(ExitCode::SUCCESS)
}

fn bench_command(args: BenchArgs, registry: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let budget = args.budget;
    let objective = hpo_host::objectives::resolve(
        &args.objective,
        Some(
            args.hp_conf_dir
                .as_deref()
                .unwrap_or(std::path::Path::new("data")),
        ),
        None,
        std::time::Duration::from_secs(3600),
    )
    .map_err(anyhow::Error::msg)?;
    let target = match args.target.strip_prefix("top") {
        Some(k) => {
            let no_table = || {
                anyhow::anyhow!(
                    "--target {}: only a table knows its K-th best value; give a value",
                    args.target
                )
            };
            let rows = objective.pool().map(|p| p.rows()).ok_or_else(no_table)?;
            let k: usize = k
                .parse()
                .ok()
                .filter(|k| (1..=rows).contains(k))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "--target {}: expected topK with K from 1 to the table's {rows} rows, or a value",
                        args.target
                    )
                })?;
            objective.kth_best(k).ok_or_else(no_table)?
        }
        None => args
            .target
            .parse::<f64>()
            .map_err(|_| anyhow::anyhow!("--target {}: expected topK or a value", args.target))?,
    };
    let config = hpo_host::run_config::RunConfig::load_or_default(args.arms.as_deref())?;
    let request = hpo_host::benchmark::BenchRequest {
        strategies: args.strategies.clone(),
        runs: args.runs,
        budget,
        target,
        target_label: args.target.clone(),
        seed: args.seed,
        config,
    };
    let host = open_host(registry)?;
    let label = objective.label();
    let report = hpo_host::benchmark::run(&host, &request, &label, &|| objective.clone_box())?;
    let markdown = hpo_host::benchmark::markdown(&report);
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(args.out.join("bench.md"), &markdown)?;
    std::fs::write(
        args.out.join("bench.csv"),
        hpo_host::benchmark::csv(&report),
    )?;
    std::fs::write(
        args.out.join("bench.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(
        args.out.join("bench.svg"),
        hpo_host::benchmark::svg(&report).map_err(anyhow::Error::msg)?,
    )?;
    print!("{markdown}");
    println!("\nfiles: {}/bench.{{md,csv,json,svg}}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

fn regret_command(args: RegretArgs, registry: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    if args.evals.is_empty() || args.evals.windows(2).any(|w| w[0] >= w[1]) || args.evals[0] == 0 {
        anyhow::bail!("--evals must be positive and increasing, e.g. 50,100");
    }
    let config = hpo_host::run_config::RunConfig::load_or_default(args.conf.as_deref())?;
    let portfolio = hpo_host::run_config::RunConfig::load_or_default(args.arms_file.as_deref())?;
    let request = hpo_host::regret::RegretRequest {
        arms: args.arms.clone(),
        runs: args.runs,
        checkpoints: args.evals.clone(),
        seed: args.seed,
        config,
        portfolio,
    };
    let host = open_host(registry)?;
    let mut cells = Vec::new();
    for problem in &args.problems {
        let spec = match problem.split_once(':') {
            Some(("fn" | "surrogate", _)) => problem.clone(),
            Some(_) => anyhow::bail!(
                "--problems {problem}: regret needs a known optimum: fn:NAME or surrogate:NAME"
            ),
            None => format!("fn:{problem}"),
        };
        let objective = hpo_host::objectives::resolve(
            &spec,
            Some(
                args.hp_conf_dir
                    .as_deref()
                    .unwrap_or(std::path::Path::new("data")),
            ),
            None,
            std::time::Duration::from_secs(60),
        )
        .map_err(anyhow::Error::msg)?;
        cells.extend(hpo_host::regret::measure(
            &host,
            &request,
            objective.as_ref(),
        )?);
    }
    print!("{}", hpo_host::regret::markdown(&request, &cells));
    Ok(ExitCode::SUCCESS)
}

/// A boolean flag value: true/false, yes/no, on/off, 1/0 (the seed took any non-empty
/// value, even "False", as true).
fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Evaluations per run when no expiry is given.
const DEFAULT_EVALS: usize = 100;

/// What `hpo run` evaluates when neither a table name nor --objective is given.
const DEFAULT_OBJECTIVE: &str = "surrogate:digits-mlp";

fn summary_text(summary: &runner::Summary) -> String {
    let mut out = format!("{} on {}\n", summary.mode, summary.objective);
    // A table's times are the recorded training times it replays; anything else ran.
    let time_kind = if summary.objective.starts_with("surrogate:") {
        "simulated time"
    } else {
        "evaluation time"
    };
    for r in &summary.runs {
        out.push_str(&format!(
            "run {}: best {} after {} evaluations ({}); {time_kind} {:.1} s, optimizer time {:.3} s\n",
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

fn plugin_command(command: PluginCommand, registry: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let mut host = open_host(registry)?;
    match command {
        PluginCommand::Install {
            path,
            force,
            allow_native,
        } => {
            let installed = host.install(
                &path,
                InstallOptions {
                    force,
                    allow_native,
                },
            )?;
            for entry in installed {
                println!(
                    "installed {} {} ({}, api {}): {}",
                    entry.name,
                    entry.version,
                    entry.kind,
                    entry.api,
                    provides(&entry)
                );
            }
        }
        PluginCommand::List => print!("{}", list_table(host.registry().plugins())),
        PluginCommand::Info { name } => {
            let entry = host.registry().get(&name)?;
            print!(
                "{}",
                info_text(entry, &host.registry().resolve(&entry.path))
            );
        }
        PluginCommand::Remove { name } => {
            let entry = host.remove(&name)?;
            println!("removed {} {}", entry.name, entry.version);
        }
        PluginCommand::Verify => {
            let reports = host.verify();
            let failed = reports.iter().filter(|r| !r.problems.is_empty()).count();
            for report in &reports {
                if report.problems.is_empty() {
                    println!("ok      {}", report.name);
                } else {
                    println!("FAILED  {}: {}", report.name, report.problems.join("; "));
                }
            }
            println!("{} plugins checked, {failed} failed", reports.len());
            if failed > 0 {
                return Ok(ExitCode::from(2));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn provides(entry: &PluginEntry) -> String {
    let mut parts = Vec::new();
    if !entry.arms.is_empty() {
        parts.push(format!("arms {}", entry.arms.join(", ")));
    }
    if !entry.strategies.is_empty() {
        parts.push(format!("strategies {}", entry.strategies.join(", ")));
    }
    if parts.is_empty() {
        "nothing".to_string()
    } else {
        parts.join("; ")
    }
}

fn list_table(entries: &[PluginEntry]) -> String {
    if entries.is_empty() {
        return "no plugins installed\n".to_string();
    }
    let header = ["NAME", "VERSION", "KIND", "API", "ORIGIN", "PROVIDES"];
    let rows: Vec<[String; 6]> = entries
        .iter()
        .map(|e| {
            [
                e.name.clone(),
                e.version.clone(),
                e.kind.to_string(),
                e.api.clone(),
                format!("{:?}", e.origin).to_lowercase(),
                provides(e),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(header.to_vec());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn info_text(entry: &PluginEntry, artifact: &std::path::Path) -> String {
    let mut out = format!(
        "name:        {}\nversion:     {}\nkind:        {}\napi:         {}\norigin:      {}\n\
         description: {}\nartifact:    {}\nsha256:      {}\narms:        {}\nstrategies:  {}\n",
        entry.name,
        entry.version,
        entry.kind,
        entry.api,
        format!("{:?}", entry.origin).to_lowercase(),
        entry.description,
        artifact.display(),
        entry.sha256,
        entry.arms.join(", "),
        entry.strategies.join(", "),
    );
    if let Some(limits) = &entry.limits {
        out.push_str(&format!(
            "limits:      timeout_ms={:?} memory_mib={:?} fuel={:?}\n",
            limits.timeout_ms, limits.memory_mib, limits.fuel
        ));
    }
    if let Some(pre) = &entry.precompiled {
        out.push_str(&format!("precompiled: {} ({})\n", pre.path, pre.engine));
    }
    out
}
