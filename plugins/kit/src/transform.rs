//! Output transforms ("response shaping") applied to observed costs before a model sees
//! them. The incumbent of EI/PI is the minimum of the transformed values.
//!
//! On error rates (every cost of the history in [0, 1]) they are the seed's:
//! - LE (log error): y = (max(log10 e, −5) + 5) / 5, errors in [1e−5, 1] onto [0, 1].
//! - HLE (hybrid log error, the seed's ALE), threshold α (default 0.3), β = α − log10 α:
//!   y = e for e > α, else log10(max(e, 1e−5)) + β. Continuous at α and monotone: large errors
//!   stay linear, small ones spread out logarithmically.
//!
//! Any other history (negative costs, losses above 1, rewards) is first read as error rates:
//! each cost c becomes e = (c − floor) / span, where the floor lies below the best cost by
//! the best cost's distance to the median cost, and the span reaches the worst cost. The best
//! cost then sits where a good error rate sits on a table, well above the log's zero (the
//! median's e is twice the best's), and e ≤ 1. The same formulas then apply, without the
//! 1e−5 floor: that floor is a resolution of error rates (an error below 1e−5 is noise),
//! while e's resolution comes from the history itself, and a fixed floor would flatten every
//! cost within 1e−5 of the span above the best (on branin, every value within 3e−3 of the
//! optimum). A floor just below the best (SMAC's log-scaling floor, the best minus its
//! distance to the 5th percentile) was measured and rejected: the log then falls steeply into
//! a funnel at the incumbent, which the GP's stationary kernel models badly (GP-HLE/EI, 5
//! seeds, @100: branin 7.7e-6, hartmann3 8.0e-5, against 8.9e-8 and 4.8e-9 with the median
//! floor). floor and span are refitted to each history, so the map is a function of the
//! history; for one history it is continuous and strictly increasing.

/// The smallest error the log transforms distinguish.
pub const LOG_FLOOR: f64 = 1e-5;
/// The seed's default HLE threshold.
pub const DEFAULT_ALPHA: f64 = 0.3;

/// An output transform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transform {
    /// The value as observed.
    Identity,
    /// Log error.
    LogError,
    /// Hybrid log error with threshold α.
    HybridLogError {
        /// Threshold α in (0, 1).
        alpha: f64,
    },
}

/// How a history's costs are read as error rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ErrorScale {
    /// Every cost is in [0, 1]: they are error rates, taken as they are.
    Rates,
    /// Costs mapped onto (0, 1]: (cost − floor) / span.
    Mapped {
        /// The reference zero: the best cost minus its distance to the median.
        floor: f64,
        /// The largest cost minus the floor.
        span: f64,
    },
}

impl ErrorScale {
    /// The scale of a history's (finite) costs.
    pub fn of(costs: &[f64]) -> Self {
        let finite: Vec<f64> = costs.iter().copied().filter(|c| c.is_finite()).collect();
        if finite.is_empty() || finite.iter().all(|c| (0.0..=1.0).contains(c)) {
            return ErrorScale::Rates;
        }
        let mut sorted = finite;
        sorted.sort_by(f64::total_cmp);
        let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
        let median = sorted[sorted.len() / 2];
        let reach = if median > min {
            median - min
        } else if max > min {
            // Half the history ties at the best: a thousandth of the spread.
            (max - min) * 1e-3
        } else {
            // One value (or all equal): any unit will do.
            1.0
        };
        // Far from zero, a reach below the cost's resolution would put the floor on it.
        let floor = min - reach.max(min.abs() * 1e-12);
        ErrorScale::Mapped {
            floor,
            span: max - floor,
        }
    }

    /// A cost as an error rate.
    pub fn error(&self, cost: f64) -> f64 {
        match self {
            ErrorScale::Rates => cost,
            ErrorScale::Mapped { floor, span } => (cost - floor) / span,
        }
    }

    /// The cost of an error rate, and d cost / d error.
    fn cost(&self, error: f64) -> (f64, f64) {
        match self {
            ErrorScale::Rates => (error, 1.0),
            ErrorScale::Mapped { floor, span } => (floor + span * error, *span),
        }
    }

    /// The smallest error the log transforms distinguish on this scale.
    fn floor(&self) -> f64 {
        match self {
            ErrorScale::Rates => LOG_FLOOR,
            ErrorScale::Mapped { .. } => f64::MIN_POSITIVE,
        }
    }
}

/// A transform fitted to a history: it maps that history's costs, and inverts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fitted {
    transform: Transform,
    scale: ErrorScale,
}

impl Fitted {
    /// The transformed cost.
    pub fn apply(&self, cost: f64) -> f64 {
        match self.transform {
            Transform::Identity => cost,
            t => t.shape(self.scale.error(cost), self.scale.floor()),
        }
    }

    /// The cost whose transform is `y` (for `y` in the transform's range), and the slope
    /// d cost / d y there.
    pub fn invert(&self, y: f64) -> (f64, f64) {
        let ln10 = std::f64::consts::LN_10;
        let (error, slope) = match self.transform {
            Transform::Identity => return (y, 1.0),
            Transform::LogError => {
                let e = 10f64.powf(5.0 * y - 5.0);
                (e, 5.0 * ln10 * e)
            }
            Transform::HybridLogError { alpha } => {
                if y > alpha {
                    (y, 1.0)
                } else {
                    let e = 10f64.powf(y - (alpha - alpha.log10()));
                    (e, ln10 * e)
                }
            }
        };
        let (cost, dcost) = self.scale.cost(error);
        (cost, slope * dcost)
    }

    /// A prediction's mean and variance in transformed units back in cost units: the
    /// inverse at the mean, the variance through the slope there (the delta method).
    pub fn invert_moments(&self, mean: f64, variance: f64) -> (f64, f64) {
        let (cost, slope) = self.invert(mean);
        let variance = slope * slope * variance;
        (
            cost.clamp(-f64::MAX, f64::MAX),
            if variance.is_finite() {
                variance
            } else {
                f64::MAX
            },
        )
    }
}

impl Transform {
    /// The transform of a model name's suffix: `GP-LE` → LE, `GP-HLE` and the seed's
    /// `GP-ALE` → HLE(α), anything else → identity.
    pub fn of_model(model: &str, alpha: f64) -> Self {
        if model.ends_with("-HLE") || model.ends_with("-ALE") {
            Transform::HybridLogError { alpha }
        } else if model.ends_with("-LE") {
            Transform::LogError
        } else {
            Transform::Identity
        }
    }

    /// The transform fitted to a history's costs.
    pub fn fit(&self, costs: &[f64]) -> Fitted {
        Fitted {
            transform: *self,
            scale: match self {
                Transform::Identity => ErrorScale::Rates,
                _ => ErrorScale::of(costs),
            },
        }
    }

    /// The transformed values of a history's costs.
    pub fn apply_all(&self, costs: &[f64]) -> Vec<f64> {
        let fitted = self.fit(costs);
        costs.iter().map(|&c| fitted.apply(c)).collect()
    }

    /// Applies the transform to an error rate (the seed's formulas, with its 1e−5 floor).
    pub fn apply(&self, e: f64) -> f64 {
        match *self {
            Transform::Identity => e,
            t => t.shape(e, LOG_FLOOR),
        }
    }

    /// LE or HLE of an error `e`, with the logarithm's floor.
    fn shape(&self, e: f64, floor: f64) -> f64 {
        match *self {
            Transform::Identity => e,
            Transform::LogError => (e.max(floor).log10().max(floor.log10()) + 5.0) / 5.0,
            Transform::HybridLogError { alpha } => {
                if e > alpha {
                    e
                } else {
                    e.max(floor).log10() + alpha - alpha.log10()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_error_matches_its_definition() {
        let le = Transform::LogError;
        assert!((le.apply(0.01) - 0.6).abs() < 1e-12);
        assert!((le.apply(0.001) - 0.4).abs() < 1e-12);
        assert!((le.apply(1.0) - 1.0).abs() < 1e-12);
        assert_eq!(le.apply(1e-9), 0.0);
    }

    #[test]
    fn hybrid_log_error_matches_the_seeds_figures() {
        let hle = Transform::HybridLogError { alpha: 0.3 };
        for (e, y) in [
            (0.1, -0.177),
            (0.05, -0.478),
            (0.01, -1.177),
            (0.001, -2.177),
        ] {
            assert!((hle.apply(e) - y).abs() < 1e-3, "{e}: {}", hle.apply(e));
        }
        assert_eq!(hle.apply(0.5), 0.5);
        // Continuous at α.
        assert!((hle.apply(0.3) - 0.3).abs() < 1e-12);
        assert!((hle.apply(0.300_000_001) - hle.apply(0.3)).abs() < 1e-8);
    }

    #[test]
    fn transforms_are_monotone() {
        for t in [
            Transform::Identity,
            Transform::LogError,
            Transform::HybridLogError { alpha: 0.3 },
            Transform::HybridLogError { alpha: 0.1 },
        ] {
            let ys: Vec<f64> = (1..=1000).map(|i| t.apply(i as f64 / 1000.0)).collect();
            assert!(ys.windows(2).all(|w| w[0] < w[1]), "{t:?}");
        }
        assert_eq!(
            Transform::of_model("GP-ALE", 0.3),
            Transform::HybridLogError { alpha: 0.3 }
        );
        assert_eq!(Transform::of_model("RF-LE", 0.3), Transform::LogError);
        assert_eq!(Transform::of_model("GP", 0.3), Transform::Identity);
    }

    #[test]
    fn on_error_rates_the_fitted_transforms_are_the_seeds() {
        let rates = [0.9, 0.2, 0.05, 0.011, 1e-7, 0.0, 1.0];
        for t in [
            Transform::LogError,
            Transform::HybridLogError { alpha: 0.3 },
            Transform::Identity,
        ] {
            let all = t.apply_all(&rates);
            for (e, y) in rates.iter().zip(&all) {
                assert_eq!(y.to_bits(), t.apply(*e).to_bits(), "{t:?} at {e}");
            }
        }
    }

    #[test]
    fn other_costs_are_read_as_error_rates_from_the_floor_up() {
        // Hand-computed: costs -3, -1, 0, 5: the median (the upper one of an even count)
        // is 0, so floor = -3 - 3 = -6 and span = 5 + 6 = 11; HLE with α = 0.3.
        let costs = [-3.0, -1.0, 0.0, 5.0];
        let hle = Transform::HybridLogError { alpha: 0.3 };
        let fitted = hle.fit(&costs);
        let beta = 0.3 - 0.3f64.log10();
        for (c, e) in [
            (-3.0, 3.0 / 11.0),
            (-1.0, 5.0 / 11.0),
            (0.0, 6.0 / 11.0),
            (5.0, 1.0),
        ] {
            let expect = if e > 0.3 { e } else { f64::log10(e) + beta };
            assert!((fitted.apply(c) - expect).abs() < 1e-12, "{c}");
        }
        assert_eq!(
            ErrorScale::of(&costs),
            ErrorScale::Mapped {
                floor: -6.0,
                span: 11.0
            }
        );
        // Monotone, continuous (at α too), and invertible, on negative and large costs.
        for costs in [vec![-3.32, -1.0, -0.2, 0.0], vec![1.0, 30.0, 1e4, 3e5]] {
            for t in [Transform::LogError, hle] {
                let f = t.fit(&costs);
                let (lo, hi) = (costs[0], costs[costs.len() - 1]);
                let grid: Vec<f64> = (0..=2000)
                    .map(|i| lo + (hi - lo) * i as f64 / 2000.0)
                    .collect();
                let ys: Vec<f64> = grid.iter().map(|&c| f.apply(c)).collect();
                assert!(ys.windows(2).all(|w| w[0] < w[1]), "{t:?} on {costs:?}");
                assert!(ys.iter().all(|y| y.is_finite()));
                // Continuous where HLE switches from logarithmic to linear (e = α).
                let at_alpha = f.invert(0.3).0;
                let step = 1e-9 * (hi - lo);
                let gap = f.apply(at_alpha + step) - f.apply(at_alpha - step);
                assert!(gap > 0.0 && gap < 1e-6, "{t:?}: a gap of {gap} at e = 0.3");
                for &c in &grid[1..] {
                    let (back, slope) = f.invert(f.apply(c));
                    assert!(
                        (back - c).abs() <= 1e-9 * c.abs().max(1.0),
                        "{t:?}: {c} -> {back}"
                    );
                    assert!(slope > 0.0);
                }
            }
        }
        // Costs within 1e-5 of the span above the best stay apart (no fixed floor).
        let near = [0.397887, 0.3978871, 0.397888, 50.0, 300.0];
        let ys = hle.apply_all(&near);
        assert!(ys[0] < ys[1] && ys[1] < ys[2], "{ys:?}");
    }

    #[test]
    fn ties_single_values_and_huge_costs_map_to_finite_errors() {
        let hle = Transform::HybridLogError { alpha: 0.3 };
        for costs in [
            vec![7.0],
            vec![-2.0, -2.0, -2.0],
            vec![-2.0, -2.0, -2.0, 5.0],
            vec![1e20, 1e20 + 1e5, 3e20],
            vec![-1e300, 1e300],
        ] {
            let ys = hle.apply_all(&costs);
            assert!(ys.iter().all(|y| y.is_finite()), "{costs:?}: {ys:?}");
            assert!(ys.windows(2).all(|w| w[0] <= w[1]), "{costs:?}: {ys:?}");
        }
    }

    #[test]
    fn inverted_moments_stay_finite() {
        let f = Transform::HybridLogError { alpha: 0.3 }.fit(&[-39.0 * 5.0, 0.0, 250.0]);
        for (m, v) in [(-400.0, 1e3), (1e300, 1e300), (0.1, 0.0)] {
            let (c, var) = f.invert_moments(m, v);
            assert!(
                c.is_finite() && var.is_finite() && var >= 0.0,
                "{m} {v}: {c} {var}"
            );
        }
    }
}
