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
    pub fn decode_moments(&self, m: f64, v: f64) -> (f64, f64) {
        let mean = self.floor + self.span * (m + 0.5 * v).exp();
        let variance = self.span * self.span * v.exp_m1() * (2.0 * m + v).exp();
        (mean, variance)
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
}
