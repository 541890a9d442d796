//! SMAC's encoding of costs for its models (the HPO facade's log-scaled run-history
//! encoder): costs scaled into (0, 1] by their range, from a floor a little below the
//! smallest, then logged. Any sign works (test functions go negative), the best costs get
//! the resolution, and a few huge costs no longer flatten the rest.

/// SMAC's `VERY_SMALL_NUMBER`, keeping the smallest cost off the floor.
const VERY_SMALL: f64 = 1e-10;

/// The encoding fitted to one history's costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogScale {
    /// The floor: the smallest cost minus its distance to the 5th percentile.
    floor: f64,
    /// The largest cost minus the floor.
    span: f64,
}

impl LogScale {
    /// The encoding of `costs` (not empty).
    pub fn of(costs: &[f64]) -> Self {
        let mut sorted = costs.to_vec();
        sorted.sort_by(f64::total_cmp);
        let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
        let floor = min - (percentile(&sorted, 5.0) - min) - VERY_SMALL;
        let span = if max > floor { max - floor } else { 1.0 };
        LogScale { floor, span }
    }

    /// The encoded cost.
    pub fn encode(&self, cost: f64) -> f64 {
        ((cost - self.floor) / self.span)
            .max(f64::MIN_POSITIVE)
            .ln()
    }

    /// ln(cost − floor): minus the log of the encoding's slope at `cost` (the log Jacobian
    /// a model's evidence for the costs themselves needs).
    pub fn log_slope_inverse(&self, cost: f64) -> f64 {
        (cost - self.floor).max(f64::MIN_POSITIVE).ln()
    }

    /// Mean and variance in cost units of an encoded prediction with mean `m` and
    /// variance `v` (read as a log-normal).
    ///
    /// Exponents are capped where `exp` would overflow: a model unsure enough to predict
    /// beyond that gets the largest finite moments, never infinities.
    pub fn decode_moments(&self, m: f64, v: f64) -> (f64, f64) {
        let mean = self.floor + self.span * (m + 0.5 * v).exp();
        let variance = self.span * self.span * v.exp_m1() * (2.0 * m + v).exp();
        if mean.is_finite() && variance.is_finite() {
            return (mean, variance);
        }
        // The same moments through their logarithms, capped below f64::MAX.
        const MAX_LOG: f64 = 709.0;
        let mean = self.floor + (self.span.ln() + m + 0.5 * v).min(MAX_LOG).exp();
        let log_expm1 = if v > 30.0 { v } else { v.exp_m1().ln() };
        let log_variance = 2.0 * self.span.ln() + log_expm1 + 2.0 * m + v;
        let variance = if v > 0.0 {
            log_variance.min(MAX_LOG).exp()
        } else {
            0.0
        };
        (mean.min(f64::MAX), variance)
    }
}

/// numpy's default (linear) percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = q / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_map_to_logs_of_their_scaled_distance_from_the_floor() {
        // 21 costs 0..=20: the 5th percentile is 1, the floor −1 − 1e-10, the span 21.
        let costs: Vec<f64> = (0..=20).map(f64::from).collect();
        let scale = LogScale::of(&costs);
        assert!((scale.floor + 1.0).abs() < 1e-9 && (scale.span - 21.0).abs() < 1e-9);
        assert!((scale.encode(20.0) - 0.0).abs() < 1e-9);
        assert!((scale.encode(0.0) - (1.0f64 / 21.0).ln()).abs() < 1e-9);
        // Negative costs (hartmann) encode too, and the order is kept.
        let neg = LogScale::of(&[-3.86, -1.0, 0.5, 2.0]);
        assert!(neg.encode(-3.86) < neg.encode(-1.0) && neg.encode(-1.0) < neg.encode(2.0));
        assert!(neg.encode(-3.86).is_finite());
        // A zero-variance prediction decodes to the cost it encodes.
        let (m, v) = scale.decode_moments(scale.encode(7.0), 0.0);
        assert!((m - 7.0).abs() < 1e-9 && v == 0.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 50.0), 3.0);
    }

    #[test]
    fn decoding_never_overflows() {
        let scale = LogScale::of(&[-5.0, 1.0, 300.0]);
        for (m, v) in [(800.0, 1.0), (0.0, 1500.0), (-3.0, 0.5), (10.0, 0.0)] {
            let (mean, variance) = scale.decode_moments(m, v);
            assert!(
                mean.is_finite() && variance.is_finite() && variance >= 0.0,
                "{m} {v}"
            );
        }
        let (mean, variance) = scale.decode_moments(-2.0, 0.1);
        let exact_mean = scale.floor + scale.span * (-2.0f64 + 0.05).exp();
        assert!((mean - exact_mean).abs() < 1e-12 * exact_mean.abs().max(1.0));
        let exact_var = scale.span.powi(2) * 0.1f64.exp_m1() * (-4.0f64 + 0.1).exp();
        assert!((variance - exact_var).abs() < 1e-9 * exact_var);
    }
}
