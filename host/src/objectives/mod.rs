//! What evaluates a configuration, behind one trait: surrogate lookup tables
//! (`surrogate:NAME`), built-in test functions with known optima (`fn:NAME`), and the user's
//! training command (`cmd:PROGRAM ARGS`); any of them can also be evaluated on a remote
//! training worker (`-w URL`, [`crate::service::client`]).

pub mod client;
pub mod command;
pub mod functions;
pub mod surrogate;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hpo_plugin_api::types::Matrix;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::space::Space;
use functions::TestFunction;
use surrogate::{Direction, SurrogateTable};

/// What to evaluate: a row of the objective's own pool, or an encoded point.
#[derive(Debug, Clone, PartialEq)]
pub enum Candidate {
    /// Row of the pool.
    Row(usize),
    /// An encoded point in the unit cube.
    Point(Vec<f64>),
}

/// The training budget a scheduler gave a trial (multi-fidelity): train to `epochs`,
/// continuing from `from` epochs a promoted configuration already trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// Epochs to train to (`HPO_BUDGET`, `{budget}`).
    pub epochs: u32,
    /// Epochs the configuration already trained in the trial it continues (0: from
    /// scratch; else `HPO_RESUME=1`).
    pub from: u32,
    /// The configuration's id, the same across its promotions (`HPO_TRIAL_ID`): the ticket
    /// of its first trial.
    pub lineage: usize,
}

/// One interim report of a trial.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interim {
    /// Epoch (1-based), or the report's position when the objective has no epochs.
    pub epoch: usize,
    /// The value at that point (lower is better).
    pub value: f64,
    /// Seconds since the trial started (simulated for tables: the cumulative training time).
    pub time: f64,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The final value (lower is better).
    pub value: f64,
    /// Interim reports before the final value, in order (per-epoch values of a table, a
    /// training command's `{"value": v, "epoch": e}` lines); empty when there are none.
    pub interim: Vec<Interim>,
    /// The parameter values evaluated.
    pub params: Vec<Value>,
    /// Cost in seconds (simulated for tables).
    pub cost: f64,
    /// Epochs trained, when the objective has epochs.
    pub epochs: Option<usize>,
    /// Why the trial failed (its value is then NaN, not a measurement).
    pub failure: Option<String>,
    /// Whether a stopper ended the trial early: its value is then the best it reported up
    /// to the stop, never one it would have reached later.
    pub terminated: bool,
}

impl Outcome {
    /// A failed evaluation of `params` after `cost` seconds: no value (NaN), no interim
    /// reports, and why.
    pub fn failed(params: Vec<Value>, cost: f64, epochs: Option<usize>, why: String) -> Self {
        Outcome {
            value: f64::NAN,
            interim: Vec::new(),
            params,
            cost,
            epochs,
            failure: Some(why),
            terminated: false,
        }
    }

    /// A trial stopped early after reporting `interim`, having cost `cost` seconds: its
    /// value is the best reported (lower is better) and its epochs those it trained.
    /// `None` when it reported no finite value (then it is a failed trial).
    pub fn terminated(params: Vec<Value>, interim: Vec<Interim>, cost: f64) -> Option<Self> {
        let value = interim
            .iter()
            .map(|r| r.value)
            .filter(|v| v.is_finite())
            .min_by(f64::total_cmp)?;
        Some(Outcome {
            value,
            epochs: interim.last().map(|r| r.epoch),
            interim,
            params,
            cost,
            failure: None,
            terminated: true,
        })
    }
}

/// Why an objective could not evaluate a candidate at all (a trial that ran and failed is
/// an [`Outcome`] with its `failure`, not an error).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvaluationError {
    /// A candidate this objective cannot evaluate: a row of an objective without rows, a
    /// point of a table.
    #[error("{0}")]
    Candidate(String),
    /// The training worker could not be reached, or answered outside the protocol.
    #[error("{0}")]
    Worker(String),
}

/// Something that evaluates configurations.
pub trait Objective: Send + Sync {
    /// A fresh copy (each parallel run evaluates its own).
    fn clone_box(&self) -> Box<dyn Objective>;
    /// A copy for worker `worker` (from 0) of a run with several: a training command
    /// learns which one runs it (`HPO_WORKER`, `{worker}`); other objectives are the same
    /// everywhere.
    fn for_worker(&self, worker: usize) -> Box<dyn Objective> {
        let _ = worker;
        self.clone_box()
    }
    /// The k-th best value reachable (k = 1 is the best), when known (tables).
    fn kth_best(&self, k: usize) -> Option<f64> {
        let _ = k;
        None
    }
    /// A label for results and logs, e.g. `surrogate:digits-mlp`.
    fn label(&self) -> String;
    /// The epochs of a full trial, when the objective knows them (a table's).
    fn horizon(&self) -> Option<usize> {
        None
    }
    /// Whether a trial can be given a [`Budget`] (tables, training commands); a scheduler
    /// refuses the others.
    fn budgets(&self) -> bool {
        false
    }
    /// The search space.
    fn space(&self) -> &Space;
    /// The objective's own finite pool (a table's rows), if it has one.
    fn pool(&self) -> Option<Matrix>;
    /// Evaluates one candidate.
    fn evaluate(&mut self, candidate: &Candidate) -> Result<Outcome, EvaluationError>;
    /// Evaluates one candidate under `watch`, trained to `budget` when a scheduler gave one
    /// (only asked of objectives whose [`Objective::budgets`] is true): interim reports are
    /// passed on as they come and the evaluation gives up (a failed trial) once the watcher
    /// asks it to stop. Objectives that evaluate at once (tables, test functions) report
    /// afterwards.
    fn evaluate_watched(
        &mut self,
        candidate: &Candidate,
        budget: Option<&Budget>,
        watch: &Watch,
    ) -> Result<Outcome, EvaluationError> {
        debug_assert!(budget.is_none(), "{} takes no budget", self.label());
        let evaluation = self.evaluate(candidate)?;
        for report in &evaluation.interim {
            watch.report(*report);
        }
        Ok(evaluation)
    }
    /// The best value reachable, when known (test functions, tables).
    fn optimum(&self) -> Option<f64>;
}

/// Who watches an evaluation in progress (a training worker serving a job): where interim
/// reports go, and a flag that asks the evaluation to stop.
#[derive(Clone, Default)]
pub struct Watch {
    stop: Arc<AtomicBool>,
    on_report: Option<Arc<dyn Fn(Interim) + Send + Sync>>,
}

impl Watch {
    /// A watch that passes reports to `on_report` and stops the evaluation once `stop` is
    /// set.
    pub fn new(stop: Arc<AtomicBool>, on_report: impl Fn(Interim) + Send + Sync + 'static) -> Self {
        Watch {
            stop,
            on_report: Some(Arc::new(on_report)),
        }
    }

    /// Whether the evaluation was asked to stop.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Passes an interim report on.
    pub fn report(&self, report: Interim) {
        if let Some(f) = &self.on_report {
            f(report);
        }
    }
}

/// A table's full evaluation cut to `budget`: the epochs `from+1 ..= epochs` as interim
/// reports, charged the table's time between them (a promoted trial resumes from its
/// parent's checkpoint), valued at epoch `epochs` — the metric of the model trained that
/// far, as a full trial is valued at its last epoch; nothing after it leaks.
fn budgeted(full: Outcome, budget: &Budget) -> Outcome {
    let last = full.interim.len();
    let to = (budget.epochs as usize).clamp(1, last);
    let from = (budget.from as usize).min(to - 1);
    let before = if from == 0 {
        0.0
    } else {
        full.interim[from - 1].time
    };
    let reports: Vec<Interim> = full.interim[from..to]
        .iter()
        .map(|r| Interim {
            time: r.time - before,
            ..*r
        })
        .collect();
    Outcome {
        value: full.interim[to - 1].value,
        cost: full.interim[to - 1].time - before,
        epochs: Some(to),
        interim: reports,
        ..full
    }
}

/// A surrogate table replayed as an objective: the final epoch's metric, its cumulative
/// time as the cost. Only rows can be evaluated.
#[derive(Clone)]
pub struct TableObjective {
    table: SurrogateTable,
}

impl TableObjective {
    /// Wraps a loaded table (minimized: a maximized metric is negated).
    pub fn new(table: SurrogateTable) -> Self {
        TableObjective { table }
    }

    /// The table.
    pub fn table(&self) -> &SurrogateTable {
        &self.table
    }

    fn signed(&self, v: f64) -> f64 {
        match self.table.direction {
            Direction::Minimize => v,
            Direction::Maximize => -v,
        }
    }
}

impl Objective for TableObjective {
    fn clone_box(&self) -> Box<dyn Objective> {
        Box::new(self.clone())
    }

    fn kth_best(&self, k: usize) -> Option<f64> {
        Some(self.signed(self.table.kth_best(k)))
    }

    fn label(&self) -> String {
        format!("surrogate:{}", self.table.name)
    }

    fn horizon(&self) -> Option<usize> {
        Some(self.table.epochs)
    }

    fn budgets(&self) -> bool {
        true
    }

    fn space(&self) -> &Space {
        &self.table.space
    }

    fn pool(&self) -> Option<Matrix> {
        Some(Matrix {
            cols: self.table.space.encoded_dims() as u32,
            data: self.table.encoded().to_vec(),
        })
    }

    fn evaluate(&mut self, candidate: &Candidate) -> Result<Outcome, EvaluationError> {
        let row = match candidate {
            Candidate::Row(r) if *r < self.table.rows() => *r,
            Candidate::Row(r) => {
                return Err(EvaluationError::Candidate(format!(
                    "row {r} is outside the table"
                )));
            }
            Candidate::Point(_) => {
                return Err(EvaluationError::Candidate(
                    "a surrogate table evaluates only its own rows".into(),
                ));
            }
        };
        let epochs = self.table.epochs;
        let interim = self
            .table
            .curve(row)
            .iter()
            .zip(self.table.times(row))
            .enumerate()
            .map(|(e, (value, time))| Interim {
                epoch: e + 1,
                value: self.signed(*value),
                time: *time,
            })
            .collect();
        Ok(Outcome {
            value: self.signed(self.table.final_value(row)),
            interim,
            params: self.table.params(row).to_vec(),
            cost: self.table.times(row)[epochs - 1],
            epochs: Some(epochs),
            failure: None,
            terminated: false,
        })
    }

    /// Replays the row's curve epoch by epoch; when the watcher stops it at epoch k, the
    /// trial is charged the table's cumulative time at k and reports the best value of
    /// epochs 1..=k — nothing the table records after k. With a budget, only the epochs
    /// `from+1 ..= epochs` are replayed ([`TableObjective::budgeted`]).
    fn evaluate_watched(
        &mut self,
        candidate: &Candidate,
        budget: Option<&Budget>,
        watch: &Watch,
    ) -> Result<Outcome, EvaluationError> {
        let mut full = self.evaluate(candidate)?;
        if let Some(budget) = budget {
            full = budgeted(full, budget);
        }
        let last = full.interim.len();
        for (k, report) in full.interim.iter().enumerate() {
            watch.report(*report);
            if watch.stopped() && k + 1 < last {
                let seen = full.interim[..=k].to_vec();
                let cost = report.time;
                return Ok(Outcome::terminated(full.params, seen, cost)
                    .expect("a table's curve has finite values"));
            }
        }
        Ok(full)
    }

    fn optimum(&self) -> Option<f64> {
        Some(self.signed(self.table.kth_best(1)))
    }
}

/// A test function as an objective over its box (continuous parameters `x0`, `x1`, ...).
#[derive(Clone)]
pub struct FunctionObjective {
    function: TestFunction,
    space: Space,
}

impl FunctionObjective {
    /// Wraps a test function.
    pub fn new(function: TestFunction) -> Self {
        let hyperparams: serde_json::Map<String, Value> = function
            .bounds
            .iter()
            .enumerate()
            .map(|(i, (lo, hi))| {
                (
                    format!("x{i}"),
                    serde_json::json!({"type": "float", "value_type": "continuous", "range": [lo, hi]}),
                )
            })
            .collect();
        let json = serde_json::json!({ "hyperparams": hyperparams }).to_string();
        let space = Space::parse(&function.name, &function.name, &json)
            .expect("a test function's box is a valid space");
        FunctionObjective { function, space }
    }
}

impl Objective for FunctionObjective {
    fn clone_box(&self) -> Box<dyn Objective> {
        Box::new(self.clone())
    }

    fn label(&self) -> String {
        format!("fn:{}", self.function.name)
    }

    fn space(&self) -> &Space {
        &self.space
    }

    fn pool(&self) -> Option<Matrix> {
        None
    }

    fn evaluate(&mut self, candidate: &Candidate) -> Result<Outcome, EvaluationError> {
        let Candidate::Point(x) = candidate else {
            return Err(EvaluationError::Candidate(
                "a test function evaluates points, not rows".into(),
            ));
        };
        let params = self.space.decode(x);
        let raw: Vec<f64> = params
            .iter()
            .map(|v| v.as_f64().unwrap_or(f64::NAN))
            .collect();
        Ok(Outcome {
            interim: Vec::new(),
            value: self.function.value(&raw),
            params,
            cost: 0.0,
            epochs: None,
            failure: None,
            terminated: false,
        })
    }

    fn optimum(&self) -> Option<f64> {
        Some(self.function.optimum)
    }
}

/// Why an objective cannot be set up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ObjectiveError {
    /// A training command (or a served experiment) without a search space.
    #[error("a cmd: or client: objective needs a search space: pass --space hp_conf/NAME.json")]
    NeedsSpace,
    /// The training command cannot run.
    #[error("{0}")]
    Command(String),
    /// A table that cannot be read.
    #[error("{0}")]
    Table(String),
    /// A table that does not exist.
    #[error("unknown surrogate '{name}' (known: {default}{where_})")]
    UnknownTable {
        /// The name asked for.
        name: String,
        /// The embedded table's name.
        default: &'static str,
        /// Where else tables are looked for.
        where_: String,
    },
    /// An unknown test function.
    #[error("{0}")]
    Function(String),
    /// The training worker cannot be used.
    #[error("{0}")]
    Worker(String),
    /// Not an objective's spelling.
    #[error("objective '{0}': expected surrogate:NAME, fn:NAME, cmd:PROGRAM ARGS or client:NAME")]
    BadSpec(String),
}

/// Resolves `surrogate:NAME` (the embedded default, or a table in `table_dir`), `fn:NAME`,
/// `cmd:PROGRAM ARGS` or `client:NAME` (an experiment of `hpo serve`; both need `space`);
/// the error lists what exists.
pub fn resolve(
    spec: &str,
    table_dir: Option<&std::path::Path>,
    space: Option<Space>,
    timeout: std::time::Duration,
) -> Result<Box<dyn Objective>, ObjectiveError> {
    match spec.split_once(':') {
        Some(("cmd", command)) => {
            let space = space.ok_or(ObjectiveError::NeedsSpace)?;
            Ok(Box::new(
                command::CommandObjective::new(command, space, timeout)
                    .map_err(ObjectiveError::Command)?,
            ))
        }
        Some(("client", name)) if !name.is_empty() => {
            let space = space.ok_or(ObjectiveError::NeedsSpace)?;
            Ok(Box::new(client::ClientObjective::new(name, space)))
        }
        Some(("surrogate", name)) => {
            if let Some(dir) = table_dir {
                let csv = dir.join(format!("{name}.csv"));
                let gz = dir.join(format!("{name}.csv.gz"));
                if csv.exists() || gz.exists() {
                    let table = SurrogateTable::load(dir, name)
                        .map_err(|e| ObjectiveError::Table(e.to_string()))?;
                    return Ok(Box::new(TableObjective::new(table)));
                }
            }
            if name == surrogate::DEFAULT_TABLE {
                let table = SurrogateTable::embedded_default()
                    .map_err(|e| ObjectiveError::Table(e.to_string()))?;
                return Ok(Box::new(TableObjective::new(table)));
            }
            Err(ObjectiveError::UnknownTable {
                name: name.to_string(),
                default: surrogate::DEFAULT_TABLE,
                where_: table_dir
                    .map(|d| format!(", or a <name>.csv[.gz] with <name>.json in {}", d.display()))
                    .unwrap_or_default(),
            })
        }
        Some(("fn", name)) => Ok(Box::new(FunctionObjective::new(
            TestFunction::by_name(name).map_err(ObjectiveError::Function)?,
        ))),
        _ => Err(ObjectiveError::BadSpec(spec.to_string())),
    }
}
