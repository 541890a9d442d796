//! The inputs the kit feeds a plugin: the bundled table (a finite pool) and `fn:branin` on
//! a Sobol pool (a continuous space, points off the pool allowed), with histories made of
//! their real values, and the edge histories a plugin meets in real runs.

use hpo_plugin_api::types::{Matrix, ObservationStatus, Observations};

use crate::objectives::{self, Candidate, Objective};
use crate::space::pool::sobol_pool;

/// The seed of every session and request the kit opens.
pub const SEED: u64 = 20_261_202;

/// A space, its pool, and the objective's value at every pool row.
pub struct Fixture {
    /// `table` or `continuous`.
    pub name: &'static str,
    /// The space as sessions get it (`ArmConfig::space_json`).
    pub space_json: String,
    /// Encoded columns.
    pub dims: usize,
    /// The pool.
    pub pool: Matrix,
    /// The objective's value at each pool row.
    pub values: Vec<f64>,
    /// Whether points off the pool are acceptable (not on a table).
    pub off_pool: bool,
}

impl Fixture {
    /// The bundled surrogate table.
    pub fn table() -> Self {
        let objective = objectives::resolve(
            "surrogate:digits-mlp",
            None,
            None,
            std::time::Duration::from_secs(1),
        )
        .expect("the bundled table is embedded");
        let pool = objective.pool().expect("a table has a pool");
        Self::of("table", objective, pool)
    }

    /// `fn:branin` on a Sobol pool of `rows` points.
    pub fn continuous(rows: usize) -> Self {
        let objective =
            objectives::resolve("fn:branin", None, None, std::time::Duration::from_secs(1))
                .expect("branin is built in");
        let pool = sobol_pool(objective.space(), rows, SEED);
        Self::of("continuous", objective, pool)
    }

    fn of(name: &'static str, mut objective: Box<dyn Objective>, pool: Matrix) -> Self {
        let off_pool = objective.pool().is_none();
        let values = (0..pool.rows())
            .map(|r| {
                let candidate = if off_pool {
                    Candidate::Point(pool.row(r).to_vec())
                } else {
                    Candidate::Row(r)
                };
                objective.evaluate(&candidate).map_or(f64::NAN, |o| o.value)
            })
            .collect();
        Fixture {
            name,
            space_json: serde_json::to_string(&objective.space().spec())
                .expect("space spec serializes"),
            dims: objective.space().encoded_dims(),
            pool,
            values,
            off_pool,
        }
    }

    /// Final observations of the first `n` pool rows, at their real values.
    pub fn history(&self, n: usize) -> Observations {
        self.observations(0..n, |r| self.values[r], ObservationStatus::Final)
    }

    /// Observations of rows `rows`, valued by `value`, all with `status`.
    pub fn observations(
        &self,
        rows: std::ops::Range<usize>,
        value: impl Fn(usize) -> f64,
        status: ObservationStatus,
    ) -> Observations {
        let rows: Vec<usize> = rows.collect();
        Observations {
            x: Matrix {
                cols: self.dims as u32,
                data: rows
                    .iter()
                    .flat_map(|&r| self.pool.row(r).to_vec())
                    .collect(),
            },
            y: rows.iter().map(|&r| value(r)).collect(),
            cost: rows.iter().map(|r| 10.0 + (*r % 7) as f64).collect(),
            status: vec![status; rows.len()],
        }
    }

    /// Pool positions from `first` on: the candidates once the rows before are tried.
    pub fn candidates_from(&self, first: usize) -> Vec<u32> {
        (first as u32..self.pool.rows() as u32).collect()
    }

    /// Rows `rows` as points in flight.
    pub fn pending(&self, rows: std::ops::Range<usize>) -> Matrix {
        Matrix {
            cols: self.dims as u32,
            data: rows.flat_map(|r| self.pool.row(r).to_vec()).collect(),
        }
    }

    /// A pool of its first row alone.
    pub fn pool_of_one(&self) -> Matrix {
        Matrix {
            cols: self.dims as u32,
            data: self.pool.row(0).to_vec(),
        }
    }
}

/// The edge histories of the kit, by name: what real runs send sooner or later.
pub fn edge_histories(f: &Fixture) -> Vec<(&'static str, Observations)> {
    let final_ = ObservationStatus::Final;
    let mut failed = f.history(10);
    for i in (0..10).step_by(2) {
        failed.y[i] = f64::NAN;
        failed.status[i] = ObservationStatus::Failed;
    }
    vec![
        ("empty history", f.history(0)),
        ("one observation", f.history(1)),
        ("all values equal", f.observations(0..20, |_| 0.5, final_)),
        ("failed trials", failed),
        (
            "only failed trials",
            f.observations(0..5, |_| f64::NAN, ObservationStatus::Failed),
        ),
        (
            "huge values (1e100)",
            f.observations(0..20, |r| f.values[r] * 1e100, final_),
        ),
        (
            "tiny values (1e-100)",
            f.observations(0..20, |r| f.values[r] * 1e-100, final_),
        ),
        (
            "negative values",
            f.observations(0..20, |r| -1e6 - f.values[r], final_),
        ),
        (
            "interim values",
            f.observations(0..6, |r| f.values[r], ObservationStatus::Interim),
        ),
    ]
}
