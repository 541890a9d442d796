//! Candidate pools: the finite set a trial chooses from. A table's rows, or N points
//! of an Owen-scrambled Sobol sequence (sobol_burley) with an explicit seed, mapped into the
//! space (uniform or log-uniform per parameter) and encoded.

use hpo_plugin_api::types::Matrix;

use super::Space;

/// Default pool size for spaces without a table.
pub const DEFAULT_POOL_SIZE: usize = 4096;

/// The largest pool a run configuration may ask for (`num_samples`): 2^20 rows, which
/// every session holds a copy of.
pub const MAX_POOL_SIZE: usize = 1 << 20;

/// The most encoded cells (rows × columns) a pool may hold: 2^27 floats, 1 GiB.
pub const MAX_POOL_CELLS: usize = 1 << 27;

/// A pool that cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PoolError {
    /// More cells than [`MAX_POOL_CELLS`].
    #[error(
        "a pool of {rows} rows of the space '{space}' ({columns} encoded columns) holds {cells} numbers, more than {MAX_POOL_CELLS}: ask for fewer rows (grid.num_samples) or use fewer options"
    )]
    TooLarge {
        /// The space.
        space: String,
        /// Rows asked for.
        rows: usize,
        /// Encoded columns.
        columns: usize,
        /// Rows × columns.
        cells: usize,
    },
    /// A point of the unit cube maps outside the space.
    #[error("space '{space}': the unit-cube point {u} maps outside the space: {reason}")]
    OutsideSpace {
        /// The space.
        space: String,
        /// The point's coordinate (every coordinate).
        u: f64,
        /// Why its values do not encode.
        reason: String,
    },
}

/// Checks that a pool of `rows` rows of `space` fits in [`MAX_POOL_CELLS`].
pub fn check_size(space: &Space, rows: usize) -> Result<(), PoolError> {
    let columns = space.encoded_dims();
    let cells = rows.saturating_mul(columns);
    if cells > MAX_POOL_CELLS {
        return Err(PoolError::TooLarge {
            space: space.name.clone(),
            rows,
            columns,
            cells,
        });
    }
    Ok(())
}

/// Checks that every point of the unit cube maps to values of `space` that encode (the
/// pool's construction relies on it): the corners, the centre and points next to them.
pub fn check_space(space: &Space) -> Result<(), PoolError> {
    let dims = space.params.len();
    for u in [0.0, 1e-12, 0.5, 1.0 - 1e-16, 1.0] {
        let values = space.from_unit(&vec![u; dims]);
        space
            .encode(&values)
            .map_err(|reason| PoolError::OutsideSpace {
                space: space.name.clone(),
                u,
                reason,
            })?;
    }
    Ok(())
}

/// `n` scrambled Sobol points of `space`, encoded. Spaces of more than 256 parameters
/// continue the sequence under the next seed for every further 256 dimensions.
pub fn sobol_pool(space: &Space, n: usize, seed: u64) -> Matrix {
    let dims = space.params.len();
    let mut data = Vec::with_capacity(n * space.encoded_dims());
    let mut unit = vec![0.0; dims];
    for i in 0..n {
        for (d, u) in unit.iter_mut().enumerate() {
            let block = (d / sobol_burley::NUM_DIMENSIONS as usize) as u64;
            let dim = (d % sobol_burley::NUM_DIMENSIONS as usize) as u32;
            let s = (seed.wrapping_add(block) ^ (seed >> 32)) as u32;
            *u = sobol_burley::sample(i as u32, dim, s) as f64;
        }
        let values = space.from_unit(&unit);
        data.extend(
            space
                .encode(&values)
                .expect("from_unit yields values of the space"),
        );
    }
    Matrix {
        cols: space.encoded_dims() as u32,
        data,
    }
}

use hpo_plugin_api::types::Proposed;
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::config::PoolSettings;
use crate::objectives::{Candidate, Objective};

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
        let candidate = if self.off_pool {
            Candidate::Point(x.clone())
        } else {
            Candidate::Row(row)
        };
        (candidate, x, Some(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space() -> Space {
        Space::parse(
            "t",
            "t",
            r#"{"hyperparams": {"a": {"type": "float", "value_type": "continuous", "range": [0, 1]},
                "b": {"type": "str", "value_type": "categorical", "range": ["x", "y"]}}}"#,
        )
        .unwrap()
    }

    #[test]
    fn pools_are_seeded_balanced_and_encoded() {
        let s = space();
        let a = sobol_pool(&s, 256, 7);
        assert_eq!(a, sobol_pool(&s, 256, 7));
        assert_ne!(a, sobol_pool(&s, 256, 8));
        assert_eq!(a.rows(), 256);
        assert_eq!(a.cols, 3);
        // Each half of [0, 1) holds half of a power-of-two Sobol prefix.
        let low = a.iter_rows().filter(|r| r[0] < 0.5).count();
        assert_eq!(low, 128);
        let ys = a.iter_rows().filter(|r| r[2] == 1.0).count();
        assert_eq!(ys, 128);
    }
}
