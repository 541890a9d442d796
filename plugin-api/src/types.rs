//! The data that crosses the plugin boundary, as plain Rust types.
//!
//! These mirror the records of `plugin-api/wit/hpo.wit` one for one. Matrices are flat
//! (row-major `f64` plus a column count): nested lists cost several times more to copy
//! across the wasm boundary.

use serde::{Deserialize, Serialize};

/// A row-major matrix of `f64`: `data.len() == rows * cols`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Matrix {
    /// Number of columns (the encoded dimension for point sets).
    pub cols: u32,
    /// Row-major values.
    pub data: Vec<f64>,
}

impl Matrix {
    /// A matrix with `cols` columns and the given row-major data.
    ///
    /// Returns an error when `data.len()` is not a multiple of `cols`.
    pub fn new(cols: u32, data: Vec<f64>) -> Result<Self, String> {
        let matrix = Matrix { cols, data };
        matrix.check_shape()?;
        Ok(matrix)
    }

    /// An empty matrix (no rows) with `cols` columns.
    pub fn empty(cols: u32) -> Self {
        Matrix {
            cols,
            data: Vec::new(),
        }
    }

    /// A matrix from rows of equal length; `cols` is used when there are no rows.
    pub fn from_rows(cols: u32, rows: &[Vec<f64>]) -> Result<Self, String> {
        let mut data = Vec::with_capacity(rows.len() * cols as usize);
        for (i, row) in rows.iter().enumerate() {
            if row.len() != cols as usize {
                return Err(format!("row {i} has {} values, expected {cols}", row.len()));
            }
            data.extend_from_slice(row);
        }
        Ok(Matrix { cols, data })
    }

    /// Checks that the data length is a multiple of the column count.
    pub fn check_shape(&self) -> Result<(), String> {
        if self.cols == 0 {
            if self.data.is_empty() {
                return Ok(());
            }
            return Err(format!(
                "matrix has 0 columns but {} values",
                self.data.len()
            ));
        }
        if !self.data.len().is_multiple_of(self.cols as usize) {
            return Err(format!(
                "matrix has {} values, not a multiple of its {} columns",
                self.data.len(),
                self.cols
            ));
        }
        Ok(())
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        if self.cols == 0 {
            0
        } else {
            self.data.len() / self.cols as usize
        }
    }

    /// Row `i` as a slice. Panics when `i` is out of range.
    pub fn row(&self, i: usize) -> &[f64] {
        let c = self.cols as usize;
        &self.data[i * c..(i + 1) * c]
    }

    /// Iterates over the rows.
    pub fn iter_rows(&self) -> impl Iterator<Item = &[f64]> {
        self.data.chunks_exact(self.cols.max(1) as usize)
    }
}

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PluginInfo {
    /// Unique plugin name, e.g. `gp`.
    pub name: String,
    /// Semver of the plugin itself.
    pub version: String,
    /// Semver of the plugin API the plugin was built against.
    pub api_version: String,
    /// One line for `hpo plugin list`.
    pub description: String,
    /// Arm names, `MODEL/ACQUISITION`, e.g. `GP-HLE/EI`.
    pub arms: Vec<String>,
    /// Strategy names, e.g. `SEQ`.
    pub strategies: Vec<String>,
}

/// What a plugin author declares; the export glue adds the API version.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PluginDescription {
    /// Unique plugin name, e.g. `gp`.
    pub name: String,
    /// Semver of the plugin itself (usually `env!("CARGO_PKG_VERSION")`).
    pub version: String,
    /// One line for `hpo plugin list`.
    pub description: String,
    /// Arm names, `MODEL/ACQUISITION`.
    pub arms: Vec<String>,
    /// Strategy names.
    pub strategies: Vec<String>,
    /// Stopper names (early-termination rules, API 1.2), e.g. `DecaTercet`.
    pub stoppers: Vec<String>,
    /// Scheduler names (multi-fidelity rules that set budgets, API 1.2), e.g. `Hyperband`.
    pub schedulers: Vec<String>,
}

impl PluginDescription {
    /// A plugin offering the arms `arms` (`MODEL/ACQUISITION`) and the strategies
    /// `strategies`.
    pub fn new(
        name: &str,
        version: &str,
        description: &str,
        arms: &[&str],
        strategies: &[&str],
    ) -> Self {
        let owned = |names: &[&str]| names.iter().map(|s| s.to_string()).collect();
        PluginDescription {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            arms: owned(arms),
            strategies: owned(strategies),
            stoppers: Vec::new(),
            schedulers: Vec::new(),
        }
    }

    /// The same description, offering the stoppers `stoppers` too (API 1.2).
    pub fn with_stoppers(mut self, stoppers: &[&str]) -> Self {
        self.stoppers = stoppers.iter().map(|s| s.to_string()).collect();
        self
    }

    /// The same description, offering the schedulers `schedulers` too (API 1.2).
    pub fn with_schedulers(mut self, schedulers: &[&str]) -> Self {
        self.schedulers = schedulers.iter().map(|s| s.to_string()).collect();
        self
    }
}

/// Which kind of component `validate` is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ComponentKind {
    /// A model (the part of an arm name before the slash).
    Arm,
    /// A bandit strategy.
    Strategy,
}

/// Opens a model session: one per (plugin, model) and run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ArmConfig {
    /// The model part of the arm name, e.g. `GP-HLE`.
    pub model: String,
    /// The search space as JSON (see [`crate::space::SpaceSpec`]).
    pub space_json: String,
    /// The plugin's options from the run configuration, as JSON.
    pub options_json: String,
    /// Seed for everything random in the session.
    pub seed: u64,
}

/// Status of one observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObservationStatus {
    /// The final value of a completed trial.
    Final,
    /// An interim value (a learning-curve point) of a trial still running.
    Interim,
    /// A failed trial: its value is not a measurement.
    Failed,
}

/// New observations, appended to what a session already knows.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Observations {
    /// Encoded points, one row each.
    pub x: Matrix,
    /// Observed values (lower is better).
    pub y: Vec<f64>,
    /// Evaluation cost of each point, in seconds.
    pub cost: Vec<f64>,
    /// Status of each observation.
    pub status: Vec<ObservationStatus>,
}

impl Observations {
    /// Number of observations.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no observations.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Checks that every column has one entry per row of `x`.
    pub fn check_shape(&self) -> Result<(), String> {
        self.x.check_shape()?;
        let n = self.x.rows();
        if self.y.len() != n || self.cost.len() != n || self.status.len() != n {
            return Err(format!(
                "observations: {n} points but {} values, {} costs, {} statuses",
                self.y.len(),
                self.cost.len(),
                self.status.len()
            ));
        }
        Ok(())
    }

    /// Appends `other` to these observations (columns must agree).
    pub fn extend(&mut self, other: &Observations) {
        if self.x.data.is_empty() {
            self.x.cols = other.x.cols;
        }
        self.x.data.extend_from_slice(&other.x.data);
        self.y.extend_from_slice(&other.y);
        self.cost.extend_from_slice(&other.cost);
        self.status.extend_from_slice(&other.status);
    }

    /// The best (lowest) final observation: its value and point.
    pub fn best_final(&self) -> Option<(f64, &[f64])> {
        (0..self.len())
            .filter(|&i| self.status[i] == ObservationStatus::Final)
            .min_by(|&a, &b| self.y[a].total_cmp(&self.y[b]))
            .map(|i| (self.y[i], self.x.row(i)))
    }
}

/// One proposal request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProposeRequest {
    /// The acquisition part of the arm name, e.g. `EI`.
    pub acquisition: String,
    /// Indices of the pool rows still available (the pool was given by `set_pool`).
    pub candidates: Vec<u32>,
    /// Encoded points being evaluated right now.
    pub pending: Matrix,
    /// How many points to propose.
    pub n: u32,
    /// Seed for this call.
    pub seed: u64,
    /// Whether points off the pool are acceptable.
    pub allow_off_pool: bool,
}

/// One proposed point.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Proposed {
    /// The pool row proposed, or `None` for a point off the pool.
    pub pool_index: Option<u32>,
    /// The encoded point (empty when `pool_index` is given).
    pub point: Vec<f64>,
    /// The acquisition value at the point (higher is better).
    pub acquisition: f64,
    /// The model's predicted mean at the point (NaN when the model has none).
    pub mean: f64,
    /// The model's predicted variance at the point (NaN when the model has none).
    pub variance: f64,
}

impl Proposed {
    /// Pool row `pool_index`, from a model without mean and variance (NaN).
    pub fn row(pool_index: u32, acquisition: f64) -> Self {
        Proposed {
            pool_index: Some(pool_index),
            point: Vec::new(),
            acquisition,
            mean: f64::NAN,
            variance: f64::NAN,
        }
    }

    /// An encoded point off the pool, from a model without mean and variance (NaN).
    pub fn point(point: Vec<f64>, acquisition: f64) -> Self {
        Proposed {
            pool_index: None,
            point,
            acquisition,
            mean: f64::NAN,
            variance: f64::NAN,
        }
    }
}

/// A model's prediction at some points.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Prediction {
    /// Predicted means, one per point.
    pub mean: Vec<f64>,
    /// Predicted variances, one per point.
    pub variance: Vec<f64>,
}

/// Opens a strategy session: one per run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StrategyConfig {
    /// Strategy name, e.g. `SEQ`.
    pub name: String,
    /// The arms it chooses between, in order.
    pub arm_names: Vec<String>,
    /// The strategy's options from the run configuration, as JSON.
    pub options_json: String,
    /// Seed for everything random in the session.
    pub seed: u64,
}

/// What the host knows about one arm.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ArmStat {
    /// How often the arm was chosen and evaluated.
    pub pulls: u32,
    /// How often the arm failed to propose.
    pub failures: u32,
    /// Sum of the rewards this arm received (higher is better).
    pub total_reward: f64,
    /// Whether the host suspended the arm for the rest of the run.
    pub suspended: bool,
}

/// One selection request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SelectRequest {
    /// Iteration number, from 0.
    pub iteration: u32,
    /// Elapsed experiment time, in the run configuration's time unit.
    pub elapsed: f64,
    /// One entry per arm, in the order of [`StrategyConfig::arm_names`].
    pub stats: Vec<ArmStat>,
}

/// What happened after a selection.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Feedback {
    /// The arm that was evaluated.
    pub chosen: u32,
    /// The chosen arm's reward (higher is better).
    pub reward: f64,
    /// Per-arm gains (BO-HEDGE); empty unless the strategy wants nominations.
    pub gains: Vec<f64>,
    /// Elapsed experiment time, in the run configuration's time unit.
    pub elapsed: f64,
}

/// An early-termination rule's settings for one run: a stopper's session, or each call to
/// a scheduler (API 1.2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RuleConfig {
    /// The rule's name, e.g. `DecaTercet`.
    pub name: String,
    /// The plugin's options from the run configuration, as JSON.
    pub options_json: String,
    /// Seed for everything random in the session.
    pub seed: u64,
    /// Epochs of a full trial when the objective knows them (a table's), else 0.
    pub horizon: u32,
}

/// A trial's learning curve: its interim reports in order (API 1.2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Curve {
    /// The epoch of each report (1-based, increasing; a command may skip epochs).
    pub epochs: Vec<u32>,
    /// The value of each report (lower is better).
    pub values: Vec<f64>,
    /// Whether the trial was stopped early (only for curves of ended trials).
    pub terminated: bool,
}

impl Curve {
    /// A curve of the reports `values` at `epochs`.
    pub fn new(epochs: Vec<u32>, values: Vec<f64>, terminated: bool) -> Self {
        Curve {
            epochs,
            values,
            terminated,
        }
    }

    /// Checks that every report has an epoch, and that epochs increase.
    pub fn check_shape(&self) -> Result<(), String> {
        if self.epochs.len() != self.values.len() {
            return Err(format!(
                "curve: {} epochs but {} values",
                self.epochs.len(),
                self.values.len()
            ));
        }
        if self.epochs.windows(2).any(|w| w[0] >= w[1]) {
            return Err("curve: epochs do not increase".into());
        }
        Ok(())
    }
}

/// A stopper's answer to an interim report (API 1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    /// Let the trial go on.
    Continue,
    /// Stop the trial now.
    Stop,
}

/// Where a scheduler's job stands (API 1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// Being evaluated.
    Pending,
    /// Evaluated: `value` holds the result at the job's budget.
    Complete,
    /// The evaluation failed (ranks below every completed job).
    Failed,
}

/// One evaluation a scheduler assigned: a configuration trained to a budget (API 1.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The trial id of this evaluation.
    pub trial: u64,
    /// The trial this one continues (a promotion of its configuration), if any.
    pub parent: Option<u64>,
    /// The budget the job trains to, in epochs.
    pub budget: u32,
    /// Where the job stands.
    pub state: JobState,
    /// The value reached within the budget (lower is better); meaningful when complete.
    pub value: f64,
}

/// A scheduler's answer to "what does the next free worker run" (API 1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The completed trial whose configuration goes on to `budget` (a promotion), or `None`
    /// for a new configuration proposed by the arms.
    pub promote: Option<u64>,
    /// The budget to train to, in epochs (1 ..= the horizon).
    pub budget: u32,
}

impl Assignment {
    /// A new configuration, trained to `budget`.
    pub fn new_configuration(budget: u32) -> Self {
        Assignment {
            promote: None,
            budget,
        }
    }

    /// The configuration of trial `trial`, promoted to `budget`.
    pub fn promotion(trial: u64, budget: u32) -> Self {
        Assignment {
            promote: Some(trial),
            budget,
        }
    }
}
