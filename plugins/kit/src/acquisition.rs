//! Acquisition functions for minimization, higher is better.
//!
//! With predictive mean μ, standard deviation σ = √variance and the incumbent `best` (the
//! smallest observed value, in the same transformed units as μ):
//! - EI = (best − μ − ξ)·Φ(u) + σ·φ(u), u = (best − μ − ξ)/σ; at σ = 0: max(best − μ − ξ, 0).
//! - PI = Φ(u); at σ = 0: 1 when best − μ − ξ > 0, else 0.
//! - UCB = −μ + κ·σ (a lower confidence bound on the value, negated).
//!
//! No NaN for any finite input: a negative variance (rounding in a model) counts as zero.

use crate::normal::{cdf, pdf};

/// Below this standard deviation the zero-variance limit is used.
const SIGMA_FLOOR: f64 = 1e-12;

/// An acquisition function with its parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Acquisition {
    /// Expected improvement with trade-off ξ.
    Ei {
        /// Trade-off ξ (0 in the seed).
        xi: f64,
    },
    /// Probability of improvement with trade-off ξ.
    Pi {
        /// Trade-off ξ.
        xi: f64,
    },
    /// Upper confidence bound on −value with weight κ.
    Ucb {
        /// Weight of σ (1 in the seed).
        kappa: f64,
    },
}

impl Acquisition {
    /// Parses `EI`, `PI`, `UCB` with default parameters (ξ = 0, κ = 1).
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "EI" => Ok(Acquisition::Ei { xi: 0.0 }),
            "PI" => Ok(Acquisition::Pi { xi: 0.0 }),
            "UCB" => Ok(Acquisition::Ucb { kappa: 1.0 }),
            other => Err(format!("unknown acquisition '{other}' (EI, PI, UCB)")),
        }
    }

    /// The acquisition value at a point with this mean and variance.
    pub fn value(&self, mean: f64, variance: f64, best: f64) -> f64 {
        let sigma = variance.max(0.0).sqrt();
        match *self {
            Acquisition::Ei { xi } => {
                let gain = best - mean - xi;
                if sigma < SIGMA_FLOOR {
                    gain.max(0.0)
                } else {
                    let u = gain / sigma;
                    gain * cdf(u) + sigma * pdf(u)
                }
            }
            Acquisition::Pi { xi } => {
                let gain = best - mean - xi;
                if sigma < SIGMA_FLOOR {
                    if gain > 0.0 { 1.0 } else { 0.0 }
                } else {
                    cdf(gain / sigma)
                }
            }
            Acquisition::Ucb { kappa } => -mean + kappa * sigma,
        }
    }
}

/// Below this u the EI and PI tails use their asymptotic series (φ(u) underflows near −38).
const TAIL: f64 = -25.0;

/// The smooth surrogate of an acquisition that gradient-based refinement maximizes, with its
/// partial derivatives: `(value, ∂/∂mean, ∂/∂sd)`.
///
/// It is log EI and log PI (EI and PI vanish far from the incumbent, their logarithms keep
/// a useful gradient: the LogEI argument of Ament et al., 2023) and UCB itself. Each is a
/// monotone function of [`Acquisition::value`] at the same point, so maximizing it
/// maximizes the acquisition. `sd` is floored at 1e−10.
impl Acquisition {
    /// See the type-level note above: the surrogate and its gradient in (mean, sd).
    pub fn smooth(&self, mean: f64, sd: f64, best: f64) -> (f64, f64, f64) {
        let sd_floored = sd < 1e-10;
        let s = if sd_floored { 1e-10 } else { sd };
        let zero_if_floored = |g: f64| if sd_floored { 0.0 } else { g };
        match *self {
            Acquisition::Ei { xi } => {
                let u = (best - mean - xi) / s;
                let (log_h, phi_over_h, cdf_over_h) = log_ei_core(u);
                (
                    s.ln() + log_h,
                    -cdf_over_h / s,
                    zero_if_floored(phi_over_h / s),
                )
            }
            Acquisition::Pi { xi } => {
                let u = (best - mean - xi) / s;
                let (log_cdf, pdf_over_cdf) = if u < TAIL {
                    let t = 1.0 / (u * u);
                    let series = 1.0 - t + 3.0 * t * t - 15.0 * t * t * t;
                    (log_pdf(u) - (-u).ln() + series.ln(), -u / series)
                } else {
                    (cdf(u).ln(), pdf(u) / cdf(u))
                };
                (
                    log_cdf,
                    -pdf_over_cdf / s,
                    zero_if_floored(-u * pdf_over_cdf / s),
                )
            }
            Acquisition::Ucb { kappa } => (-mean + kappa * s, -1.0, zero_if_floored(kappa)),
        }
    }
}

fn log_pdf(u: f64) -> f64 {
    -0.5 * u * u - 0.918_938_533_204_672_8
}

/// For h(u) = φ(u) + uΦ(u) (EI = σ·h(u)): (ln h, φ/h, Φ/h).
fn log_ei_core(u: f64) -> (f64, f64, f64) {
    if u < TAIL {
        // h = φ/u²·S and Φ = φ/|u|·T with the asymptotic series S and T.
        let t = 1.0 / (u * u);
        let big_s = 1.0 - 3.0 * t + 15.0 * t * t - 105.0 * t * t * t;
        let big_t = 1.0 - t + 3.0 * t * t - 15.0 * t * t * t;
        (
            log_pdf(u) + t.ln() + big_s.ln(),
            big_s.recip() / t,
            -u * big_t / big_s,
        )
    } else {
        let (p, c) = (pdf(u), cdf(u));
        let h = (p + u * c).max(f64::MIN_POSITIVE);
        (h.ln(), p / h, c / h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_values() {
        // μ = 0.5, σ = 0.2, best = 0.4: u = -0.5, Φ(u) = 0.30853753872598688,
        // φ(u) = 0.35206532676429952.
        let ei = Acquisition::Ei { xi: 0.0 }.value(0.5, 0.04, 0.4);
        let expected = -0.1 * 0.308_537_538_725_986_9 + 0.2 * 0.352_065_326_764_299_5;
        assert!((ei - expected).abs() < 1e-15, "{ei}");
        assert!((ei - 0.039_559_311_480_261_2).abs() < 1e-12);
        let pi = Acquisition::Pi { xi: 0.0 }.value(0.5, 0.04, 0.4);
        assert!((pi - 0.308_537_538_725_986_9).abs() < 1e-15);
        let ucb = Acquisition::Ucb { kappa: 1.0 }.value(0.5, 0.04, 0.4);
        assert!((ucb + 0.3).abs() < 1e-15);
        let ucb2 = Acquisition::Ucb { kappa: 2.0 }.value(0.5, 0.04, 0.4);
        assert!((ucb2 + 0.1).abs() < 1e-15);
        // ξ shifts the incumbent.
        let ei_xi = Acquisition::Ei { xi: 0.1 }.value(0.3, 0.04, 0.4);
        assert!((ei_xi - 0.2 * 0.398_942_280_401_432_7).abs() < 1e-15);
    }

    #[test]
    fn zero_variance_limits_have_no_nan() {
        for variance in [0.0, -1e-18, 1e-30] {
            assert_eq!(
                Acquisition::Ei { xi: 0.0 }.value(0.3, variance, 0.4),
                0.4 - 0.3
            );
            assert_eq!(Acquisition::Ei { xi: 0.0 }.value(0.5, variance, 0.4), 0.0);
            assert_eq!(Acquisition::Pi { xi: 0.0 }.value(0.3, variance, 0.4), 1.0);
            assert_eq!(Acquisition::Pi { xi: 0.0 }.value(0.5, variance, 0.4), 0.0);
            assert!(
                (Acquisition::Ucb { kappa: 1.0 }.value(0.3, variance, 0.4) + 0.3).abs() < 1e-12
            );
        }
        // EI tends continuously to its limit.
        let near = Acquisition::Ei { xi: 0.0 }.value(0.3, 1e-20, 0.4);
        assert!((near - 0.1).abs() < 1e-9);
    }

    #[test]
    fn ei_grows_with_uncertainty_and_with_a_lower_mean() {
        let ei = Acquisition::Ei { xi: 0.0 };
        assert!(ei.value(0.5, 0.09, 0.4) > ei.value(0.5, 0.04, 0.4));
        assert!(ei.value(0.45, 0.04, 0.4) > ei.value(0.5, 0.04, 0.4));
        assert!(Acquisition::parse("EI").is_ok() && Acquisition::parse("XX").is_err());
    }

    #[test]
    fn smooth_surrogates_are_the_logs_with_exact_gradients() {
        for acq in [
            Acquisition::Ei { xi: 0.0 },
            Acquisition::Pi { xi: 0.01 },
            Acquisition::Ucb { kappa: 1.5 },
        ] {
            for (mean, sd, best) in [
                (0.5, 0.2, 0.4),
                (0.1, 0.3, 0.4),
                (3.0, 0.1, 0.0),
                (9.0, 0.2, 0.0),
            ] {
                let (v, dm, ds) = acq.smooth(mean, sd, best);
                let exact = acq.value(mean, sd * sd, best);
                let expected = if matches!(acq, Acquisition::Ucb { .. }) {
                    exact
                } else {
                    exact.ln()
                };
                // The deep tail (u = −45) is beyond the direct formula; compare where it holds.
                if exact > 1e-280 {
                    assert!(
                        (v - expected).abs() < 1e-6 * (1.0 + expected.abs()),
                        "{acq:?} {mean} {sd}: {v} vs {expected}"
                    );
                }
                assert!(v.is_finite() && dm.is_finite() && ds.is_finite());
                let h = 1e-7;
                let fd_m = (acq.smooth(mean + h, sd, best).0 - acq.smooth(mean - h, sd, best).0)
                    / (2.0 * h);
                let fd_s = (acq.smooth(mean, sd + h, best).0 - acq.smooth(mean, sd - h, best).0)
                    / (2.0 * h);
                assert!(
                    (dm - fd_m).abs() < 1e-4 * (1.0 + fd_m.abs()),
                    "{acq:?} ∂μ {dm} vs {fd_m}"
                );
                assert!(
                    (ds - fd_s).abs() < 1e-4 * (1.0 + fd_s.abs()),
                    "{acq:?} ∂σ {ds} vs {fd_s}"
                );
            }
        }
        // Continuous across the switch to the asymptotic series.
        let ei = Acquisition::Ei { xi: 0.0 };
        let below = ei.smooth(25.0 + 1e-9, 1.0, 0.0).0;
        let above = ei.smooth(25.0 - 1e-9, 1.0, 0.0).0;
        assert!((below - above).abs() < 1e-6, "{below} vs {above}");
    }
}
