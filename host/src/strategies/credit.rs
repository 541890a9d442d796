//! The strategies' credit: a trial's reward and a nominee's gain on one scale-free unit.

use hpo_kit::transform::ErrorScale;

/// The strategies' credit, scale-free: rewards and BO-HEDGE's gains are costs read as
/// error rates ([`ErrorScale`], as the LE/HLE transforms read them), negated. On error rates
/// (every value so far in [0, 1]) that is the negated value, the seed's reward; any other
/// objective is mapped onto (0, 1] by the history's floor and span, so a reward means the
/// same whether the values lie 1e-3 or 1e3 apart, and the log-error (`-LE`) strategies see
/// errors they can take the logarithm of.
#[derive(Default)]
pub struct Credit {
    /// The successful values so far.
    values: Vec<f64>,
}

impl Credit {
    /// Records an observation and returns its reward (higher is better); a failed trial
    /// earns the worst value's (0 before any success).
    pub fn reward(&mut self, value: f64) -> f64 {
        if value.is_finite() {
            self.values.push(value);
        }
        let scale = ErrorScale::of(&self.values);
        let credited = if value.is_finite() {
            Some(value)
        } else {
            self.values.iter().copied().reduce(f64::max)
        };
        credited.map_or(0.0, |v| -scale.error(v))
    }

    /// The gain of a predicted value, on the scale of the observations so far.
    pub fn gain(&self, predicted: f64) -> f64 {
        -ErrorScale::of(&self.values).error(predicted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_on_error_rates_is_the_negated_error() {
        let mut credit = Credit::default();
        assert_eq!(credit.reward(f64::NAN), 0.0, "a failure before any success");
        assert_eq!(credit.reward(0.2), -0.2);
        assert_eq!(credit.reward(0.5), -0.5);
        assert_eq!(
            credit.reward(f64::NAN),
            -0.5,
            "a failure earns the worst value's"
        );
        assert_eq!(credit.gain(0.1), -0.1);
    }

    #[test]
    fn credit_is_scale_free() {
        // The same values 1e-3 apart and 1e3 apart (and shifted) earn the same rewards.
        let base = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.0];
        let rewards = |scale: f64, shift: f64| {
            let mut credit = Credit::default();
            let r: Vec<f64> = base
                .iter()
                .map(|v| credit.reward(v * scale + shift))
                .collect();
            (r, credit.gain(2.0 * scale + shift))
        };
        let (small, small_gain) = rewards(1e-3, 5.0);
        let (large, large_gain) = rewards(1e3, -40.0);
        for (a, b) in small.iter().zip(&large) {
            assert!((a - b).abs() < 1e-6, "{small:?} vs {large:?}");
        }
        assert!((small_gain - large_gain).abs() < 1e-6);
        // Hand-computed for the full history: the sorted values [1, 1.5, 2.6, 3, 4, 5, 9]
        // have the median 3, so the floor is 1 - (3 - 1) = -1 and the span 9 + 1 = 10.
        let mut credit = Credit::default();
        for v in base {
            credit.reward(v);
        }
        assert!((credit.gain(5.0) + 0.6).abs() < 1e-12);
        assert!(
            credit.gain(1.0) > credit.gain(4.0),
            "lower values earn more"
        );
    }
}
