//! Experiments: space + arms + strategy + objective + expiry + seed, run `--runs N` times.
//!
//! - [`plan`]: what one run does ([`RunPlan`], its [`Expiry`]), checked before anything is
//!   written.
//! - [`run`]: one run as an ask/tell core, with its bookkeeping in one place.
//! - [`drivers`]: the loops around the core: sequential, a pool of live workers (local or
//!   remote), a simulated cluster.
//! - [`runner`]: `hpo run`'s experiment: the plan from the request, the store (resume,
//!   rerun), the repeated runs, the results file and the summary.
//!
//! Invariants: every trial is committed to the store before the next starts; a refused
//! experiment writes nothing; a run is reproducible from the experiment's seed and a resumed
//! run continues bit for bit.

pub mod driven;
pub mod drivers;
mod expiry;
mod plan;
mod pool;
mod record;
mod results_file;
mod run;
mod runner;
mod seeds;

pub use crate::trial::{ArmFailures, Estimate, Timing, Trial};
pub use drivers::{Evaluators, Parallelism, drive};
pub use expiry::{Criterion, DEFAULT_EVALS, Expiry, ExpiryError, ExpiryFlags, GoalMetric};
pub use plan::{RunPlan, check_plan, plan_of};
pub use record::RunRecord;
pub use run::{Asked, Pending, Run, RunSink, RunState};
pub use runner::{DEFAULT_OBJECTIVE, RunRequest, RunSummary, Summary, run_experiment};
pub use seeds::run_seed;

use std::path::PathBuf;

use crate::arms::{ArmError, OptionsError};
use crate::config::RunConfigError;
use crate::loader::SessionError;
use crate::registry::{HostError, ProviderError};
use crate::space::SpaceError;
use crate::stoppers::StopperError;
use crate::store::StoreError;
use crate::strategies::StrategyError;

/// Errors that stop an experiment before or during a run.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// Loading a plugin failed.
    #[error(transparent)]
    Host(#[from] HostError),
    /// A session could not be opened or failed for good.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The run configuration is wrong.
    #[error(transparent)]
    Config(#[from] RunConfigError),
    /// The search space is wrong.
    #[error(transparent)]
    Space(#[from] SpaceError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The run configuration of a diversified run lists no arms.
    #[error("the run configuration lists no arms (field 'arms')")]
    NoArmsInConfig,
    /// A bench or regret entry of a DIV strategy over a configuration without arms.
    #[error("{0}: the run configuration lists no arms")]
    NoArmsFor(String),
    /// A bench or regret entry that is neither `DIV/<STRATEGY>` nor `MODEL/ACQ`.
    #[error("'{0}': expected DIV/<STRATEGY> or MODEL/ACQ")]
    BadEntry(String),
    /// An experiment of no runs.
    #[error("--runs must be at least 1")]
    NoRuns,
    /// A plan without arms.
    #[error("no arms to run")]
    NoArms,
    /// Several arms and no strategy.
    #[error("several arms need a strategy (e.g. -m DIV -s SEQ)")]
    NeedsStrategy,
    /// No plugin (or several) provides an arm or the strategy.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// A plugin refused the options of an arm or the strategy.
    #[error(transparent)]
    Options(#[from] OptionsError),
    /// The run's arms could not be opened.
    #[error(transparent)]
    Arms(#[from] ArmError),
    /// The run's strategy could not be opened.
    #[error(transparent)]
    Strategy(#[from] StrategyError),
    /// The run's early-termination rule cannot be opened.
    #[error(transparent)]
    Stopper(#[from] StopperError),
    /// An error in what a file says.
    #[error("{file}: {source}")]
    InFile {
        /// The file.
        file: String,
        /// The error.
        source: Box<ExperimentError>,
    },
    /// The `budgets` option in a run without a scheduler, which alone reads it.
    #[error(
        "budgets = {0}: only a run with a scheduler reads this option (early_term_rule Hyperband or SuccessiveHalving)"
    )]
    BudgetsWithoutScheduler(String),
    /// A run-wide option that none of the run's arms reads.
    #[error("{key} = {value}: no arm of this run reads this option (none of them)")]
    OptionNotRead {
        /// The option (`time_penalty` is the seed's `-tp`).
        key: &'static str,
        /// Its value.
        value: String,
    },
    /// A `plugins` section naming no installed plugin.
    #[error("plugins.{0}: no installed plugin has this name")]
    UnknownSection(String),
    /// `--space` with an objective that brings its own.
    #[error(
        "--space {} applies to cmd: objectives and remote workers (tables and test functions bring their own space)",
        .0.display()
    )]
    SpaceNotApplicable(PathBuf),
    /// The objective could not be set up.
    #[error(transparent)]
    Objective(#[from] crate::objectives::ObjectiveError),
    /// The objective could not evaluate a candidate.
    #[error("{label}: {source}")]
    Evaluation {
        /// The objective.
        label: String,
        /// Why.
        source: crate::objectives::EvaluationError,
    },
    /// The space cannot make a pool.
    #[error(transparent)]
    Pool(#[from] crate::space::pool::PoolError),
    /// `-r N` outside 1..runs.
    #[error(
        "-r {n}: extends an experiment of N runs to --runs {runs}; N must be between 1 and {}",
        .runs.saturating_sub(1)
    )]
    RerunRange {
        /// The N of `-r N`.
        n: usize,
        /// `--runs`.
        runs: usize,
    },
    /// No store where one must exist.
    #[error(
        "{}: no experiment store here (the results directory of an earlier `hpo run`)",
        .0.display()
    )]
    NoStore(PathBuf),
    /// `--resume` without a store.
    #[error("--resume: no interrupted experiment: {0}")]
    ResumeWithoutStore(Box<ExperimentError>),
    /// A trial of a shared run told here after another process told it or took it over.
    #[error("trial {0} is no longer in flight (told elsewhere, or handed out again)")]
    ToldElsewhere(usize),
    /// A shared store (`--store URL`) with what a shared run cannot do.
    #[error("--store: {0} cannot share an experiment between processes")]
    Shared(&'static str),
    /// `--resume` finds no unfinished experiment with these settings.
    #[error("--resume: no interrupted experiment with these settings in {}", .0.display())]
    NothingToResume(PathBuf),
    /// `-r N` finds no finished experiment of N runs with these settings.
    #[error("-r {n}: no finished experiment of {n} runs with these settings in {}", .store.display())]
    NothingToRerun {
        /// The N of `-r N`.
        n: usize,
        /// The store.
        store: PathBuf,
    },
    /// The results file could not be claimed.
    #[error("cannot write the results file under {}: {source}", .dir.display())]
    ResultsFile {
        /// The results directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The results file could not be written.
    #[error("cannot write {}: {source}", .path.display())]
    WriteResults {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A resumed run's stored trial names an arm the plan does not have.
    #[error("cannot resume: the stored run used the arm {0}, which this plan does not have")]
    UnknownStoredArm(String),
    /// A resumed run's stored trial does not fit the space.
    #[error("cannot resume: a stored trial does not match the space")]
    StoredTrialMismatch,
    /// A trial could not be committed.
    #[error("cannot record the trial, stopping: {0}")]
    Sink(String),
    /// A parallel setting that does not fit the rest of the request.
    #[error("{flag}: {reason}")]
    Parallel {
        /// The flag (or the mode) at fault.
        flag: &'static str,
        /// Why.
        reason: String,
    },
    /// A stored trial in flight that cannot be read back.
    #[error("cannot resume: a trial in flight in the store cannot be read: {0}")]
    StoredPending(String),
    /// A problem without a known optimum in `hpo regret`.
    #[error("{0} has no known optimum")]
    NoOptimum(String),
}
