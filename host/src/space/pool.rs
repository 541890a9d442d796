//! Candidate pools: the finite set a trial chooses from. A table's rows, or N points
//! of an Owen-scrambled Sobol sequence (sobol_burley) with an explicit seed, mapped into the
//! space (uniform or log-uniform per parameter) and encoded.

use hpo_plugin_api::types::Matrix;

use super::Space;

/// Default pool size for spaces without a table.
pub const DEFAULT_POOL_SIZE: usize = 4096;

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
