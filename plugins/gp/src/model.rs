//! The GP posterior for fixed hyperparameters: a Cholesky factor L of K + σₙ²I that grows by
//! one row per observation (O(n²) instead of a fresh O(n³) factorization), and predictions
//! with their gradients for the acquisition's refinement.
//!
//! With β = L⁻¹(y − c), α = L⁻ᵀβ and v = L⁻¹k(x):
//! μ(x) = c + vᵀβ, σ²(x) = k(x, x) − vᵀv, ∇μ = Σᵢ αᵢ∇k(x, xᵢ), ∇σ² = −2 Σᵢ wᵢ∇k(x, xᵢ) with
//! w = L⁻ᵀv.

use faer::{Mat, Side};

use crate::hyper::{Data, Hyper, Noise, covariance};
use crate::kernel::Matern52;
use crate::lanes::{dot, sub_scaled};

/// Relative jitter tried, in turn, when a factorization is not positive definite.
const JITTERS: [f64; 5] = [0.0, 1e-10, 1e-8, 1e-6, 1e-4];
/// The smallest squared pivot accepted when a row is appended, relative to σ².
const PIVOT_FLOOR: f64 = 1e-12;

/// A GP conditioned on its observations.
#[derive(Debug, Clone)]
pub struct Gp {
    dims: usize,
    /// The hyperparameters it was built with.
    pub hyper: Hyper,
    kernel: Matern52,
    noise: f64,
    x: Vec<f64>,
    l: Mat<f64>,
    beta: Vec<f64>,
    alpha: Vec<f64>,
}

impl Gp {
    /// Conditions on `data` (values standardized), adding jitter if the covariance is not
    /// numerically positive definite; `None` if even the largest jitter fails.
    pub fn new(data: Data<'_>, hyper: Hyper, noise: Noise) -> Option<Self> {
        let kernel = hyper.kernel();
        let base_noise = hyper.noise(noise);
        for jitter in JITTERS {
            let noise = base_noise + jitter * kernel.signal;
            let k = covariance(data, &kernel, noise);
            if let Ok(llt) = k.llt(Side::Lower) {
                let mut gp = Gp {
                    dims: data.dims,
                    hyper: hyper.clone(),
                    kernel,
                    noise,
                    x: data.x.to_vec(),
                    l: llt.L().to_owned(),
                    beta: Vec::new(),
                    alpha: Vec::new(),
                };
                gp.set_targets(data.y);
                return Some(gp);
            }
        }
        None
    }

    /// Number of observations conditioned on.
    pub fn len(&self) -> usize {
        self.l.nrows()
    }

    /// Whether there are no observations.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kernel.
    pub fn kernel(&self) -> &Matern52 {
        &self.kernel
    }

    /// The Cholesky factor.
    pub fn factor(&self) -> &Mat<f64> {
        &self.l
    }

    /// The prior mean c.
    pub fn prior_mean(&self) -> f64 {
        self.hyper.mean
    }

    /// β = L⁻¹(y − c).
    pub fn beta(&self) -> &[f64] {
        &self.beta
    }

    /// Observation `i`.
    pub fn point(&self, i: usize) -> &[f64] {
        &self.x[i * self.dims..(i + 1) * self.dims]
    }

    /// Appends one observation's point, extending the factor by one row; the values must
    /// then be given again with [`Gp::set_targets`].
    pub fn append(&mut self, point: &[f64]) {
        let n = self.len();
        let k = self.cross(point);
        let l_row = self.solve_lower(k);
        let pivot_sq = (self.kernel.signal + self.noise - l_row.iter().map(|v| v * v).sum::<f64>())
            .max(PIVOT_FLOOR * self.kernel.signal);
        self.l.resize_with(n + 1, n + 1, |_, _| 0.0);
        for (j, v) in l_row.iter().enumerate() {
            self.l[(n, j)] = *v;
        }
        self.l[(n, n)] = pivot_sq.sqrt();
        self.x.extend_from_slice(point);
    }

    /// Sets the (standardized) values of the observations, one per point.
    pub fn set_targets(&mut self, y: &[f64]) {
        assert_eq!(y.len(), self.len(), "one value per observation");
        let c = self.hyper.mean;
        self.beta = self.solve_lower(y.iter().map(|v| v - c).collect());
        self.alpha = self.solve_upper(self.beta.clone());
    }

    /// k(p, xᵢ) for every observation.
    pub fn cross(&self, p: &[f64]) -> Vec<f64> {
        (0..self.len())
            .map(|i| self.kernel.value(p, self.point(i)))
            .collect()
    }

    /// L⁻¹b.
    ///
    /// One right-hand side, by column-oriented forward substitution over L's contiguous
    /// columns: in the refinement loop (hundreds of calls per proposal at small n) this is
    /// 2–3× faster than going through faer's general triangular solve, which allocates a
    /// matrix per call. Many right-hand sides (the pool cache) go through faer's blocked
    /// solve.
    pub fn solve_lower(&self, mut b: Vec<f64>) -> Vec<f64> {
        let n = b.len();
        for j in 0..n {
            let col = self.l.col_as_slice(j);
            let xj = b[j] / col[j];
            b[j] = xj;
            sub_scaled(&mut b[j + 1..], xj, &col[j + 1..]);
        }
        b
    }

    /// L⁻ᵀb, by back substitution with dot products over L's columns.
    fn solve_upper(&self, mut b: Vec<f64>) -> Vec<f64> {
        let n = b.len();
        for j in (0..n).rev() {
            let col = self.l.col_as_slice(j);
            b[j] = (b[j] - dot(&col[j + 1..], &b[j + 1..])) / col[j];
        }
        b
    }

    /// Posterior mean and variance of the latent function at `p`.
    pub fn predict(&self, p: &[f64]) -> (f64, f64) {
        let v = self.solve_lower(self.cross(p));
        let mean = self.hyper.mean + dot(&v, &self.beta);
        (mean, (self.kernel.signal - dot(&v, &v)).max(0.0))
    }

    /// Mean, variance and their gradients at `p`.
    pub fn predict_with_gradient(&self, p: &[f64]) -> Prediction {
        let n = self.len();
        let mut k = Vec::with_capacity(n);
        let mut slopes = Vec::with_capacity(n);
        for i in 0..n {
            let (value, slope) = self
                .kernel
                .value_and_slope(self.kernel.sq_distance(p, self.point(i)));
            k.push(value);
            slopes.push(slope);
        }
        let v = self.solve_lower(k);
        let mean = self.hyper.mean + dot(&v, &self.beta);
        let variance = (self.kernel.signal - dot(&v, &v)).max(0.0);
        let w = self.solve_upper(v);
        let mut mean_gradient = vec![0.0; self.dims];
        let mut variance_gradient = vec![0.0; self.dims];
        for (i, &slope) in slopes.iter().enumerate() {
            let xi = self.point(i);
            self.kernel.add_gradients_in_a(
                slope,
                p,
                xi,
                [self.alpha[i], -2.0 * w[i]],
                [&mut mean_gradient, &mut variance_gradient],
            );
        }
        Prediction {
            mean,
            variance,
            mean_gradient,
            variance_gradient,
        }
    }
}

/// A prediction with gradients with respect to the point.
#[derive(Debug, Clone)]
pub struct Prediction {
    /// μ(x).
    pub mean: f64,
    /// σ²(x).
    pub variance: f64,
    /// ∇μ(x).
    pub mean_gradient: Vec<f64>,
    /// ∇σ²(x).
    pub variance_gradient: Vec<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hyper::NOISE_FLOOR;

    fn hyper(mean: f64, log_noise: f64) -> Hyper {
        Hyper {
            log_lengthscales: vec![0.5f64.ln()],
            log_signal: 0.0,
            log_noise,
            mean,
        }
    }

    /// Two observations in 1-d, by hand: K = [[1+s, ρ], [ρ, 1+s]] with ρ = k(0, 1).
    #[test]
    fn posterior_equals_the_closed_form() {
        let (x, y) = (vec![0.0, 1.0], vec![1.0, -0.5]);
        let h = hyper(0.2, (0.01f64 - NOISE_FLOOR).ln());
        let gp = Gp::new(
            Data {
                x: &x,
                y: &y,
                dims: 1,
            },
            h.clone(),
            Noise::Fitted,
        )
        .unwrap();
        let m52 = |r: f64| (1.0 + 5f64.sqrt() * r + 5.0 * r * r / 3.0) * (-(5f64.sqrt()) * r).exp();
        let s = 0.01;
        let rho = m52(2.0);
        let det = (1.0 + s) * (1.0 + s) - rho * rho;
        let inv = [[(1.0 + s) / det, -rho / det], [-rho / det, (1.0 + s) / det]];
        let p = 0.3;
        let k = [m52(0.6), m52(1.4)];
        let r = [y[0] - 0.2, y[1] - 0.2];
        let kinv_r = [
            inv[0][0] * r[0] + inv[0][1] * r[1],
            inv[1][0] * r[0] + inv[1][1] * r[1],
        ];
        let mean = 0.2 + k[0] * kinv_r[0] + k[1] * kinv_r[1];
        let kinv_k = [
            inv[0][0] * k[0] + inv[0][1] * k[1],
            inv[1][0] * k[0] + inv[1][1] * k[1],
        ];
        let var = 1.0 - (k[0] * kinv_k[0] + k[1] * kinv_k[1]);
        let (m, v) = gp.predict(&[p]);
        assert!((m - mean).abs() < 1e-9, "{m} vs {mean}");
        assert!((v - var).abs() < 1e-9, "{v} vs {var}");
        let g = gp.predict_with_gradient(&[p]);
        assert!((g.mean - mean).abs() < 1e-9 && (g.variance - var).abs() < 1e-9);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x: Vec<f64> = (0..8)
            .flat_map(|i| [i as f64 / 7.0, (i * 3 % 8) as f64 / 7.0])
            .collect();
        let y: Vec<f64> = x.chunks(2).map(|p| (4.0 * p[0]).sin() * p[1]).collect();
        let h = Hyper {
            log_lengthscales: vec![-1.0, -0.5],
            log_signal: 0.2,
            log_noise: -8.0,
            mean: 0.0,
        };
        let gp = Gp::new(
            Data {
                x: &x,
                y: &y,
                dims: 2,
            },
            h,
            Noise::Fitted,
        )
        .unwrap();
        let p = [0.33, 0.61];
        let g = gp.predict_with_gradient(&p);
        for j in 0..2 {
            let eps = 1e-6;
            let (mut up, mut down) = (p, p);
            up[j] += eps;
            down[j] -= eps;
            let (mu_up, var_up) = gp.predict(&up);
            let (mu_down, var_down) = gp.predict(&down);
            assert!((g.mean_gradient[j] - (mu_up - mu_down) / (2.0 * eps)).abs() < 1e-6);
            assert!((g.variance_gradient[j] - (var_up - var_down) / (2.0 * eps)).abs() < 1e-6);
        }
    }

    #[test]
    fn appending_equals_a_fresh_factorization() {
        let x: Vec<f64> = (0..30).map(|i| ((i * 7) % 30) as f64 / 29.0).collect();
        let y: Vec<f64> = x.iter().map(|v| (5.0 * v).cos()).collect();
        let h = hyper(0.1, -6.0);
        let data = |n: usize| Data {
            x: &x[..n],
            y: &y[..n],
            dims: 1,
        };
        let mut grown = Gp::new(data(10), h.clone(), Noise::Fitted).unwrap();
        for i in 10..30 {
            grown.append(&x[i..i + 1]);
        }
        grown.set_targets(&y);
        let fresh = Gp::new(data(30), h, Noise::Fitted).unwrap();
        for i in 0..30 {
            for j in 0..=i {
                let (a, b) = (grown.factor()[(i, j)], fresh.factor()[(i, j)]);
                assert!((a - b).abs() < 1e-10, "L[{i},{j}]: {a} vs {b}");
            }
        }
        let (ma, va) = grown.predict(&[0.42]);
        let (mb, vb) = fresh.predict(&[0.42]);
        assert!((ma - mb).abs() < 1e-10 && (va - vb).abs() < 1e-10);
    }
}
