//! Predictions over the whole candidate pool, kept up to date incrementally.
//!
//! The pool is fixed for a run, so V = L⁻¹K(X, P) (n × m) is cached: a new observation adds
//! one row, vₙ = (k(xₙ, P) − lᵀV)/lₙₙ, in O(n·m), and the variance of every pool point is
//! σ² − Σᵢ Vᵢⱼ² from running column sums. Only a refit of the hyperparameters rebuilds V,
//! with one blocked triangular solve (O(n²·m)).

use faer::linalg::triangular_solve::solve_lower_triangular_in_place;
use faer::{Mat, Par};
use hpo_plugin_api::types::Matrix;

use crate::lanes::{dot, sq_euclidean};
use crate::model::Gp;

/// V and its column sums of squares for one pool.
#[derive(Debug, Clone)]
pub struct PoolCache {
    v: Mat<f64>,
    sq: Vec<f64>,
}

impl PoolCache {
    /// Builds the cache of `gp` over `pool`.
    pub fn build(gp: &Gp, pool: &Matrix) -> Self {
        let (n, m) = (gp.len(), pool.rows());
        let kernel = gp.kernel();
        // Pre-scaled points make each kernel value a plain squared distance (the n·m kernel
        // values are a third of the rebuild's time).
        let xs: Vec<f64> = (0..n).flat_map(|i| kernel.scaled(gp.point(i))).collect();
        let ps: Vec<f64> = pool.iter_rows().flat_map(|p| kernel.scaled(p)).collect();
        let d = pool.cols as usize;
        let mut v = Mat::from_fn(n, m, |i, j| {
            kernel.of_sq_distance(sq_euclidean(
                &xs[i * d..(i + 1) * d],
                &ps[j * d..(j + 1) * d],
            ))
        });
        solve_lower_triangular_in_place(gp.factor().as_ref(), v.as_mut(), Par::Seq);
        let sq = (0..m)
            .map(|j| v.col_as_slice(j).iter().map(|x| x * x).sum())
            .collect();
        PoolCache { v, sq }
    }

    /// Number of observations the cache covers.
    pub fn len(&self) -> usize {
        self.v.nrows()
    }

    /// Whether the cache covers no observation.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds the row of the observation `gp` appended last.
    pub fn extend(&mut self, gp: &Gp, pool: &Matrix) {
        let n = self.len();
        debug_assert_eq!(gp.len(), n + 1);
        let l = gp.factor();
        let l_row: Vec<f64> = (0..n).map(|j| l[(n, j)]).collect();
        let pivot = l[(n, n)];
        let kernel = gp.kernel();
        let x_new = gp.point(n);
        let row: Vec<f64> = (0..pool.rows())
            .map(|j| {
                (kernel.value(x_new, pool.row(j)) - dot(&l_row, self.v.col_as_slice(j))) / pivot
            })
            .collect();
        self.v.resize_with(n + 1, pool.rows(), |_, j| row[j]);
        for (s, r) in self.sq.iter_mut().zip(&row) {
            *s += r * r;
        }
    }

    /// Mean and variance of pool row `j`.
    pub fn predict(&self, gp: &Gp, j: usize) -> (f64, f64) {
        let mean = gp.prior_mean() + dot(self.v.col_as_slice(j), gp.beta());
        (mean, (gp.kernel().signal - self.sq[j]).max(0.0))
    }

    /// The cache of `gp`, this cache's GP with points appended (a parallel run's pending
    /// points, observed at made-up values), without copying V: the appended rows alone,
    /// each in O(n·m).
    pub fn with_appended<'a>(&'a self, gp: &Gp, pool: &Matrix) -> Appended<'a> {
        let n = self.len();
        let l = gp.factor();
        let kernel = gp.kernel();
        let mut rows: Vec<Vec<f64>> = Vec::with_capacity(gp.len() - n);
        for r in n..gp.len() {
            let x_new = gp.point(r);
            let pivot = l[(r, r)];
            let l_row: Vec<f64> = (0..n).map(|i| l[(r, i)]).collect();
            let l_added: Vec<f64> = (n..r).map(|i| l[(r, i)]).collect();
            let row = (0..pool.rows())
                .map(|j| {
                    let base = dot(&l_row, self.v.col_as_slice(j));
                    let added: f64 = l_added.iter().zip(&rows).map(|(l, v)| l * v[j]).sum();
                    (kernel.value(x_new, pool.row(j)) - base - added) / pivot
                })
                .collect();
            rows.push(row);
        }
        Appended { base: self, rows }
    }
}

/// A [`PoolCache`] and the rows of the points appended to its GP since.
pub struct Appended<'a> {
    base: &'a PoolCache,
    rows: Vec<Vec<f64>>,
}

impl Appended<'_> {
    /// Mean and variance of pool row `j` under the GP with the appended points.
    pub fn predict(&self, gp: &Gp, j: usize) -> (f64, f64) {
        let n = self.base.len();
        let beta = gp.beta();
        let mut mean = gp.prior_mean() + dot(self.base.v.col_as_slice(j), &beta[..n]);
        let mut sq = self.base.sq[j];
        for (k, row) in self.rows.iter().enumerate() {
            mean += row[j] * beta[n + k];
            sq += row[j] * row[j];
        }
        (mean, (gp.kernel().signal - sq).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hyper::{Data, Hyper, Noise};

    #[test]
    fn incremental_cache_agrees_with_direct_prediction() {
        let x: Vec<f64> = (0..20)
            .flat_map(|i| [((i * 7) % 20) as f64 / 19.0, (i as f64 / 19.0).powi(2)])
            .collect();
        let y: Vec<f64> = x
            .chunks(2)
            .map(|p| p[0] * p[1] - (3.0 * p[0]).sin())
            .collect();
        let pool = Matrix::new(
            2,
            (0..50)
                .flat_map(|j| [j as f64 / 49.0, 1.0 - j as f64 / 49.0])
                .collect(),
        )
        .unwrap();
        let h = Hyper {
            log_lengthscales: vec![-1.0, -0.7],
            log_signal: 0.0,
            log_noise: -7.0,
            mean: 0.1,
        };
        let mut gp = Gp::new(
            Data {
                x: &x[..20],
                y: &y[..10],
                dims: 2,
            },
            h,
            Noise::Fitted,
        )
        .unwrap();
        let mut cache = PoolCache::build(&gp, &pool);
        for i in 10..20 {
            gp.append(&x[2 * i..2 * i + 2]);
            cache.extend(&gp, &pool);
        }
        gp.set_targets(&y);
        for j in 0..pool.rows() {
            let (m1, v1) = cache.predict(&gp, j);
            let (m2, v2) = gp.predict(pool.row(j));
            assert!((m1 - m2).abs() < 1e-10 && (v1 - v2).abs() < 1e-10, "{j}");
        }
        // Pending points appended to a copy, at made-up values: the overlay agrees with
        // the direct prediction of the copy, and the cache itself is untouched.
        let before: Vec<(f64, f64)> = (0..pool.rows()).map(|j| cache.predict(&gp, j)).collect();
        let mut fantasy = gp.clone();
        let pending = [0.31, 0.62, 0.9, 0.05, 0.5, 0.5];
        for p in pending.chunks(2) {
            fantasy.append(p);
        }
        let mut targets = y.clone();
        targets.extend([-0.4, 0.2, 0.0]);
        fantasy.set_targets(&targets);
        let appended = cache.with_appended(&fantasy, &pool);
        for (j, unchanged) in before.iter().enumerate() {
            let (m1, v1) = appended.predict(&fantasy, j);
            let (m2, v2) = fantasy.predict(pool.row(j));
            assert!((m1 - m2).abs() < 1e-10 && (v1 - v2).abs() < 1e-10, "{j}");
            assert_eq!(cache.predict(&gp, j), *unchanged);
        }
    }
}
