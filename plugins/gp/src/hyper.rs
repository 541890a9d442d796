//! The GP's hyperparameters, their weak priors, and the negative log posterior (type-II
//! maximum a posteriori objective) with its exact gradient.
//!
//! Outputs are standardized before fitting, inputs live in [0, 1]ᵈ, so one set of priors
//! serves every problem:
//! - log ℓⱼ ~ N(0, √3): lengthscales around the unit box's side. (The dimension-scaled
//!   prior of Hvarfner et al., 2024, centred at √2 + ½·ln d, was measured and rejected: with
//!   MAP estimates and ≤ 100 points it over-smooths, hartmann6's median regret after 50
//!   evaluations was 0.54 with it and 1e−5 with this one; `hpo regret`, docs/PERFORMANCE.md);
//! - log σ² ~ N(0, 2) (signal variance of standardized outputs);
//! - log(σₙ² − floor) ~ N(−16, 4) with a floor of 1e−10 (noise; deterministic objectives
//!   need a tiny floor to resolve the last digits near the optimum: with a 1e−6 floor
//!   branin's median regret after 50 evaluations was 4e−5, with 1e−10 it is 5e−7; a noisy
//!   objective's likelihood still raises the noise). The `-NM` model has no noise parameter,
//!   only a fixed jitter;
//! - the constant mean c ~ N(0, 1).
//!
//! Far outside plausible ranges a quadratic wall keeps the optimizer away from degenerate
//! kernels (lengthscales below 0.005 or above 100, say).

use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};

use crate::kernel::Matern52;
use crate::lanes::sq_euclidean;

/// Noise variance floor of the noisy model (standardized units).
pub const NOISE_FLOOR: f64 = 1e-10;
/// Fixed noise variance of the noiseless (`-NM`) model: a jitter for numerical stability.
pub const NOISELESS_JITTER: f64 = 1e-10;

const LOG_SIGNAL_PRIOR: (f64, f64) = (0.0, 2.0);
const LOG_NOISE_PRIOR: (f64, f64) = (-16.0, 4.0);
const MEAN_PRIOR: (f64, f64) = (0.0, 1.0);
/// Ranges outside which the wall applies: log ℓ, log σ², log noise excess.
const LOG_LENGTHSCALE_RANGE: (f64, f64) = (-5.3, 4.6);
const LOG_SIGNAL_RANGE: (f64, f64) = (-9.0, 9.0);
const LOG_NOISE_RANGE: (f64, f64) = (-25.0, 2.0);
const WALL: f64 = 100.0;

/// Hyperparameters, as the optimizer sees them (log scales, unconstrained).
#[derive(Debug, Clone, PartialEq)]
pub struct Hyper {
    /// log ℓⱼ.
    pub log_lengthscales: Vec<f64>,
    /// log σ².
    pub log_signal: f64,
    /// log(σₙ² − floor); unused by the noiseless model.
    pub log_noise: f64,
    /// Constant prior mean c.
    pub mean: f64,
}

/// Which noise model a GP uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noise {
    /// Fitted noise above [`NOISE_FLOOR`].
    Fitted,
    /// Fixed [`NOISELESS_JITTER`].
    Noiseless,
}

impl Hyper {
    /// The prior's mode for `dims` columns.
    pub fn prior_mode(dims: usize) -> Self {
        Hyper {
            log_lengthscales: vec![lengthscale_prior(dims).0; dims],
            log_signal: LOG_SIGNAL_PRIOR.0,
            log_noise: LOG_NOISE_PRIOR.0,
            mean: MEAN_PRIOR.0,
        }
    }

    /// A draw from the prior, from standard normal variates `z` (dims + 3 of them).
    pub fn from_prior_draw(dims: usize, z: &[f64]) -> Self {
        let (m, s) = lengthscale_prior(dims);
        Hyper {
            log_lengthscales: z[..dims].iter().map(|z| m + s * z).collect(),
            log_signal: LOG_SIGNAL_PRIOR.0 + LOG_SIGNAL_PRIOR.1 * z[dims],
            log_noise: LOG_NOISE_PRIOR.0 + LOG_NOISE_PRIOR.1 * z[dims + 1],
            mean: MEAN_PRIOR.0 + MEAN_PRIOR.1 * z[dims + 2],
        }
    }

    /// The kernel of these hyperparameters.
    pub fn kernel(&self) -> Matern52 {
        Matern52::from_logs(&self.log_lengthscales, self.log_signal)
    }

    /// The noise variance.
    pub fn noise(&self, noise: Noise) -> f64 {
        match noise {
            Noise::Fitted => NOISE_FLOOR + self.log_noise.exp(),
            Noise::Noiseless => NOISELESS_JITTER,
        }
    }

    /// The optimizer's vector: lengthscales, signal, [noise,] mean.
    pub fn to_vec(&self, noise: Noise) -> Vec<f64> {
        let mut v = self.log_lengthscales.clone();
        v.push(self.log_signal);
        if noise == Noise::Fitted {
            v.push(self.log_noise);
        }
        v.push(self.mean);
        v
    }

    /// The inverse of [`Hyper::to_vec`].
    pub fn from_vec(v: &[f64], dims: usize, noise: Noise) -> Self {
        let fitted = noise == Noise::Fitted;
        Hyper {
            log_lengthscales: v[..dims].to_vec(),
            log_signal: v[dims],
            log_noise: if fitted {
                v[dims + 1]
            } else {
                LOG_NOISE_PRIOR.0
            },
            mean: v[dims + 1 + usize::from(fitted)],
        }
    }
}

fn lengthscale_prior(_dims: usize) -> (f64, f64) {
    (0.0, 3f64.sqrt())
}

/// −log N(v; m, s) up to a constant, plus the wall outside `range`; returns (value, d/dv).
fn prior_term(v: f64, (m, s): (f64, f64), (lo, hi): (f64, f64)) -> (f64, f64) {
    let z = (v - m) / s;
    let (mut f, mut g) = (0.5 * z * z, z / s);
    if v < lo {
        f += WALL * (lo - v) * (lo - v);
        g -= 2.0 * WALL * (lo - v);
    } else if v > hi {
        f += WALL * (v - hi) * (v - hi);
        g += 2.0 * WALL * (v - hi);
    }
    (f, g)
}

/// Training data: `n` points of `dims` columns (row-major) and their standardized values.
#[derive(Debug, Clone, Copy)]
pub struct Data<'a> {
    /// Points, row-major.
    pub x: &'a [f64],
    /// Values.
    pub y: &'a [f64],
    /// Columns per point.
    pub dims: usize,
}

impl Data<'_> {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Point `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.dims..(i + 1) * self.dims]
    }
}

/// The covariance matrix K + σₙ²I of `data` under `hyper`.
pub fn covariance(data: Data<'_>, kernel: &Matern52, noise: f64) -> Mat<f64> {
    let n = data.len();
    let d = data.dims;
    let xs: Vec<f64> = (0..n).flat_map(|i| kernel.scaled(data.row(i))).collect();
    let mut k = Mat::<f64>::zeros(n, n);
    for a in 0..n {
        k[(a, a)] = kernel.signal + noise;
        for b in 0..a {
            let v = kernel.of_sq_distance(sq_euclidean(
                &xs[a * d..(a + 1) * d],
                &xs[b * d..(b + 1) * d],
            ));
            k[(a, b)] = v;
            k[(b, a)] = v;
        }
    }
    k
}

/// The negative log posterior of the hyperparameter vector `v` (see [`Hyper::to_vec`]) and
/// its gradient; `None` when the covariance is not positive definite.
pub fn neg_log_posterior(v: &[f64], data: Data<'_>, noise: Noise) -> Option<(f64, Vec<f64>)> {
    let dims = data.dims;
    let n = data.len();
    let hyper = Hyper::from_vec(v, dims, noise);
    let kernel = hyper.kernel();
    // Extreme hyperparameters (long lengthscales, tiny noise) can make K numerically
    // singular: retry with a growing jitter rather than leave the optimizer without a value.
    let llt = [0.0, 1e-10, 1e-8, 1e-6].iter().find_map(|j| {
        covariance(data, &kernel, hyper.noise(noise) + j * kernel.signal)
            .llt(Side::Lower)
            .ok()
    })?;
    let l = llt.L();
    let centered = Mat::<f64>::from_fn(n, 1, |i, _| data.y[i] - hyper.mean);
    let alpha = faer::prelude::Solve::solve(&llt, &centered);
    let log_det: f64 = (0..n).map(|i| l[(i, i)].ln()).sum::<f64>() * 2.0;
    let quad: f64 = (0..n).map(|i| centered[(i, 0)] * alpha[(i, 0)]).sum();
    let nll = 0.5 * quad + 0.5 * log_det + 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();

    // W = ααᵀ − K⁻¹; ∂(−log p)/∂θ = −½ tr(W ∂K/∂θ).
    let inv = llt.inverse();
    let w = |a: usize, b: usize| alpha[(a, 0)] * alpha[(b, 0)] - inv[(a, b)];
    let mut grad_ls = vec![0.0; dims];
    let mut grad_signal = 0.0;
    let xs: Vec<f64> = (0..n).flat_map(|i| kernel.scaled(data.row(i))).collect();
    for a in 0..n {
        grad_signal += 0.5 * w(a, a) * kernel.signal;
        let xa = &xs[a * dims..(a + 1) * dims];
        for b in 0..a {
            let xb = &xs[b * dims..(b + 1) * dims];
            let wab = w(a, b);
            let (k_ab, slope) = kernel.value_and_slope(sq_euclidean(xa, xb));
            grad_signal += wab * k_ab;
            // ∂k/∂log ℓⱼ = slope·(Δⱼ/ℓⱼ)²; the pair counts twice in the trace, halved by ½.
            let s = wab * slope;
            for ((g, p), q) in grad_ls.iter_mut().zip(xa).zip(xb) {
                *g += s * (p - q) * (p - q);
            }
        }
    }
    let mut value = nll;
    let mut grad: Vec<f64> = grad_ls.iter().map(|g| -g).collect();
    grad.push(-grad_signal);
    if noise == Noise::Fitted {
        let trace_w: f64 = (0..n).map(|a| w(a, a)).sum();
        grad.push(-0.5 * hyper.log_noise.exp() * trace_w);
    }
    let sum_alpha: f64 = (0..n).map(|i| alpha[(i, 0)]).sum();
    grad.push(-sum_alpha);

    // Priors and walls.
    let ls_prior = lengthscale_prior(dims);
    for j in 0..dims {
        let (f, g) = prior_term(v[j], ls_prior, LOG_LENGTHSCALE_RANGE);
        value += f;
        grad[j] += g;
    }
    let (f, g) = prior_term(v[dims], LOG_SIGNAL_PRIOR, LOG_SIGNAL_RANGE);
    value += f;
    grad[dims] += g;
    let mut at = dims + 1;
    if noise == Noise::Fitted {
        let (f, g) = prior_term(v[at], LOG_NOISE_PRIOR, LOG_NOISE_RANGE);
        value += f;
        grad[at] += g;
        at += 1;
    }
    let (f, g) = prior_term(v[at], MEAN_PRIOR, (-1e3, 1e3));
    value += f;
    grad[at] += g;
    value.is_finite().then_some((value, grad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> (Vec<f64>, Vec<f64>) {
        let x: Vec<f64> = (0..12)
            .flat_map(|i| {
                let t = i as f64 / 11.0;
                [t, (3.7 * t).fract()]
            })
            .collect();
        let y: Vec<f64> = x
            .chunks(2)
            .map(|p| (6.0 * p[0]).sin() + 0.5 * p[1] * p[1] - 0.3)
            .collect();
        (x, y)
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (x, y) = data();
        let d = Data {
            x: &x,
            y: &y,
            dims: 2,
        };
        for noise in [Noise::Fitted, Noise::Noiseless] {
            let hyper = Hyper {
                log_lengthscales: vec![-1.2, 0.4],
                log_signal: 0.3,
                log_noise: -4.0,
                mean: 0.1,
            };
            let v = hyper.to_vec(noise);
            let (_, grad) = neg_log_posterior(&v, d, noise).unwrap();
            for i in 0..v.len() {
                let h = 1e-5;
                let (mut up, mut down) = (v.clone(), v.clone());
                up[i] += h;
                down[i] -= h;
                let fd = (neg_log_posterior(&up, d, noise).unwrap().0
                    - neg_log_posterior(&down, d, noise).unwrap().0)
                    / (2.0 * h);
                assert!(
                    (grad[i] - fd).abs() < 1e-5 * (1.0 + fd.abs()),
                    "{noise:?} θ{i}: analytic {} vs finite differences {fd}",
                    grad[i]
                );
            }
        }
    }

    #[test]
    fn vector_round_trips() {
        let h = Hyper {
            log_lengthscales: vec![0.1, 0.2, 0.3],
            log_signal: 0.4,
            log_noise: -5.0,
            mean: 0.6,
        };
        assert_eq!(
            Hyper::from_vec(&h.to_vec(Noise::Fitted), 3, Noise::Fitted),
            h
        );
        let nm = Hyper::from_vec(&h.to_vec(Noise::Noiseless), 3, Noise::Noiseless);
        assert_eq!(nm.mean, 0.6);
        assert_eq!(nm.noise(Noise::Noiseless), NOISELESS_JITTER);
    }
}
