//! A run's pool: the candidates its arms choose from, as they are shown (in a seeded order
//! under the seed's `grid.order: shuffle`), and which of them are still untried.

use hpo_plugin_api::types::{Matrix, Proposed};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::config::PoolSettings;
use crate::objectives::{Candidate, Objective};
use crate::space::pool::{DEFAULT_POOL_SIZE, sobol_pool};

/// Mixed into the seed of the pool's shuffled order, so that it differs from the run's
/// other random streams.
const SHUFFLE_SALT: u64 = 0x005E_ED0F_0DE2;

/// The candidates of one run.
pub struct Pool {
    /// The pool's rows as the objective numbers them.
    rows: Matrix,
    /// `order[i]` is the row shown at position `i`.
    order: Vec<usize>,
    /// The rows in the order the arms see them.
    shown: Matrix,
    /// Positions not tried yet.
    candidates: Vec<u32>,
    /// Whether points off the pool may be evaluated (anything but a table).
    off_pool: bool,
}

impl Pool {
    /// The objective's own pool (a table's rows), else a scrambled Sobol pool of the
    /// configured size and seed (the run's seed by default).
    pub fn of(objective: &dyn Objective, settings: &PoolSettings, seed: u64) -> Self {
        let own = objective.pool();
        let off_pool = own.is_none();
        let rows = own.unwrap_or_else(|| {
            sobol_pool(
                objective.space(),
                settings.num_samples.unwrap_or(DEFAULT_POOL_SIZE),
                settings.seed.or(settings.grid_seed).unwrap_or(seed),
            )
        });
        let mut order: Vec<usize> = (0..rows.rows()).collect();
        if settings.order.as_deref() == Some("shuffle") {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
                settings.grid_seed.or(settings.seed).unwrap_or(seed) ^ SHUFFLE_SALT,
            );
            order.shuffle(&mut rng);
        }
        let shown = Matrix {
            cols: rows.cols,
            data: order
                .iter()
                .flat_map(|&r| rows.row(r).iter().copied())
                .collect(),
        };
        Pool {
            candidates: (0..rows.rows() as u32).collect(),
            rows,
            order,
            shown,
            off_pool,
        }
    }

    /// Encoded columns.
    pub fn dims(&self) -> usize {
        self.rows.cols as usize
    }

    /// The rows in the order the arms see them.
    pub fn shown(&self) -> &Matrix {
        &self.shown
    }

    /// The positions (in [`Pool::shown`]) not tried yet.
    pub fn candidates(&self) -> &[u32] {
        &self.candidates
    }

    /// Whether arms may propose points off the pool.
    pub fn allows_off_pool(&self) -> bool {
        self.off_pool
    }

    /// Whether nothing is left to try.
    pub fn exhausted(&self) -> bool {
        self.candidates.is_empty() && !self.off_pool
    }

    /// Marks row `row` (as the objective numbers it) tried: a replayed trial.
    pub fn remove_row(&mut self, row: usize) {
        let order = &self.order;
        self.candidates.retain(|&c| order[c as usize] != row);
    }

    /// What to evaluate for `proposal`, its encoded point and its row: a pool position is
    /// taken out of the candidates.
    pub fn take(&mut self, proposal: &Proposed) -> (Candidate, Vec<f64>, Option<usize>) {
        let Some(index) = proposal.pool_index else {
            let point = proposal.point.clone();
            return (Candidate::Point(point.clone()), point, None);
        };
        self.candidates.retain(|&c| c != index);
        let row = self.order[index as usize];
        let x = self.rows.row(row).to_vec();
        (self.candidate_of(Some(row), &x), x, Some(row))
    }

    /// What to evaluate for the encoded point `x` of row `row` (if it is one): the row of an
    /// objective with its own pool (a table), else the point.
    pub fn candidate_of(&self, row: Option<usize>, x: &[f64]) -> Candidate {
        match row {
            Some(row) if !self.off_pool => Candidate::Row(row),
            _ => Candidate::Point(x.to_vec()),
        }
    }
}
