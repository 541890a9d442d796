//! Median stopping (Golovin et al. 2017, "Google Vizier", section 3.2.2): a trial is
//! stopped at step s when its best value so far is strictly worse than the median of the
//! running averages, up to s, of the completed trials' curves. Values are lower-is-better;
//! trials that were themselves stopped are not "completed" and do not count (as in
//! Vizier and Optuna's `MedianPruner`).

use hpo_plugin_api::types::{Curve, Decision};
use serde::Deserialize;

use crate::curves::{best_until, median, reached, window_mean};

/// The options of median stopping.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MedianOptions {
    /// Completed trials needed before anything is stopped.
    #[serde(default = "default_min_curves")]
    pub min_curves: usize,
    /// Epochs during which no trial is stopped.
    #[serde(default)]
    pub warmup: u32,
}

fn default_min_curves() -> usize {
    5
}

/// One run's median stopping rule.
pub struct MedianStop {
    options: MedianOptions,
    completed: Vec<Curve>,
}

impl MedianStop {
    /// The rule with `options`.
    pub fn new(options: MedianOptions) -> Result<Self, String> {
        if options.min_curves == 0 {
            return Err("options: min_curves must be at least 1".into());
        }
        Ok(MedianStop {
            options,
            completed: Vec::new(),
        })
    }

    /// Continue or stop the trial whose curve so far is `curve`.
    pub fn decide(&self, curve: &Curve) -> Decision {
        let Some(&step) = curve.epochs.last() else {
            return Decision::Continue;
        };
        if step <= self.options.warmup {
            return Decision::Continue;
        }
        let averages: Vec<f64> = self
            .completed
            .iter()
            .filter(|c| reached(c, step))
            .filter_map(|c| window_mean(c, 1, step))
            .collect();
        if averages.len() < self.options.min_curves {
            return Decision::Continue;
        }
        match (best_until(curve, step), median(&averages)) {
            (Some(best), Some(threshold)) if best > threshold => Decision::Stop,
            _ => Decision::Continue,
        }
    }

    /// Records an ended trial's curve (only completed ones count).
    pub fn finish(&mut self, curve: Curve) {
        if !curve.terminated {
            self.completed.push(curve);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(values: &[f64], terminated: bool) -> Curve {
        Curve::new(
            (1..=values.len() as u32).collect(),
            values.to_vec(),
            terminated,
        )
    }

    #[test]
    fn stops_what_is_worse_than_the_median_running_average() {
        let options = MedianOptions {
            min_curves: 3,
            warmup: 1,
        };
        let mut rule = MedianStop::new(options).unwrap();
        // Running averages at step 2: 0.5, 0.3, 0.7 (median 0.5).
        rule.finish(curve(&[0.6, 0.4, 0.2], false));
        rule.finish(curve(&[0.4, 0.2, 0.1], false));
        rule.finish(curve(&[0.8, 0.6, 0.5], false));
        // A stopped trial does not count.
        rule.finish(curve(&[0.0, 0.0], true));
        assert_eq!(rule.decide(&curve(&[0.9, 0.55], false)), Decision::Stop);
        assert_eq!(rule.decide(&curve(&[0.9, 0.5], false)), Decision::Continue);
        // Its best so far counts, not its last value.
        assert_eq!(rule.decide(&curve(&[0.45, 0.9], false)), Decision::Continue);
        // Warm-up: step 1 is never judged.
        assert_eq!(rule.decide(&curve(&[0.99], false)), Decision::Continue);
    }

    #[test]
    fn needs_enough_completed_trials() {
        let mut rule = MedianStop::new(MedianOptions {
            min_curves: 2,
            warmup: 0,
        })
        .unwrap();
        rule.finish(curve(&[0.1, 0.1], false));
        assert_eq!(rule.decide(&curve(&[0.9, 0.9], false)), Decision::Continue);
    }
}
