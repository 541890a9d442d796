//! Asynchronous successive halving (ASHA, Li et al. 2020, "A System for Massively Parallel
//! Hyperparameter Tuning"), in its stopping form (as Ray Tune's `AsyncHyperBandScheduler`
//! runs it): rungs at epochs r, rη, rη², … below the full training length; a trial that
//! reaches a rung goes on only if its value there is among the best 1/η of the values the
//! ended trials had at that rung. Values are lower-is-better.
//!
//! Rung values are recorded from the curves of ended trials (the host tells them in order,
//! again after a resume), so a resumed run decides as the uninterrupted one. A stopped
//! trial's value at the rungs it reached counts, as in ASHA, where every trial that reaches
//! a rung is recorded there.

use hpo_plugin_api::types::{Curve, Decision};
use serde::Deserialize;

use crate::curves::{crossed, percentile};

/// The options of ASHA.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AshaOptions {
    /// The first rung's epoch (r, the minimum resource).
    #[serde(default = "default_min_epochs")]
    pub min_epochs: u32,
    /// The reduction factor η: 1/η of a rung's trials go on.
    #[serde(default = "default_eta")]
    pub eta: u32,
    /// The number of epochs of a full trial (needed when the objective does not say).
    #[serde(default)]
    pub epochs: Option<u32>,
}

fn default_min_epochs() -> u32 {
    1
}

fn default_eta() -> u32 {
    3
}

/// The rung epochs r, rη, rη², … strictly below `epochs`.
pub fn rungs(min_epochs: u32, eta: u32, epochs: u32) -> Vec<u32> {
    let mut rungs = Vec::new();
    let mut rung = u64::from(min_epochs);
    while rung < u64::from(epochs) {
        rungs.push(rung as u32);
        rung *= u64::from(eta);
    }
    rungs
}

/// One run's ASHA rule: its rungs and the values recorded at each.
pub struct Asha {
    eta: u32,
    rungs: Vec<u32>,
    recorded: Vec<Vec<f64>>,
}

impl Asha {
    /// The rule for trials of `horizon` epochs (0: unknown, then the `epochs` option must
    /// say).
    pub fn new(horizon: u32, options: AshaOptions) -> Result<Self, String> {
        let epochs = options.epochs.unwrap_or(horizon);
        if epochs < 2 {
            return Err(format!(
                "ASHA needs the number of epochs of a full trial (at least 2): set the option \"epochs\" (got {epochs})"
            ));
        }
        if options.eta < 2 {
            return Err(format!(
                "options: eta must be at least 2 (got {})",
                options.eta
            ));
        }
        if options.min_epochs == 0 {
            return Err("options: min_epochs must be at least 1".into());
        }
        let rungs = rungs(options.min_epochs, options.eta, epochs);
        Ok(Asha {
            eta: options.eta,
            recorded: vec![Vec::new(); rungs.len()],
            rungs,
        })
    }

    /// Continue or stop the trial whose curve so far is `curve`: judged at each rung its
    /// latest report reached.
    pub fn decide(&self, curve: &Curve) -> Decision {
        let Some(&value) = curve.values.last() else {
            return Decision::Continue;
        };
        for (rung, recorded) in self.rungs.iter().zip(&self.recorded) {
            if !crossed(curve, *rung) {
                continue;
            }
            let best = 100.0 / f64::from(self.eta);
            if let Some(cutoff) = percentile(recorded, best)
                && value > cutoff
            {
                return Decision::Stop;
            }
        }
        Decision::Continue
    }

    /// Records an ended trial's value at every rung it reached.
    pub fn finish(&mut self, curve: &Curve) {
        for (rung, recorded) in self.rungs.iter().zip(self.recorded.iter_mut()) {
            // The first report at or beyond the rung, as `decide` judged it.
            let at = curve.epochs.iter().position(|e| e >= rung);
            if let Some(i) = at {
                recorded.push(curve.values[i]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curves::examples::{flat, prefix};

    fn options(min_epochs: u32, eta: u32) -> AshaOptions {
        AshaOptions {
            min_epochs,
            eta,
            epochs: None,
        }
    }

    #[test]
    fn rungs_are_geometric_below_the_full_length() {
        // Li et al.'s example grid: r = 1, η = 3, R = 27 → rungs 1, 3, 9 (27 is the end).
        assert_eq!(rungs(1, 3, 27), vec![1, 3, 9]);
        assert_eq!(rungs(1, 3, 30), vec![1, 3, 9, 27]);
        assert_eq!(rungs(2, 2, 16), vec![2, 4, 8]);
        assert_eq!(rungs(5, 3, 5), Vec::<u32>::new());
    }

    #[test]
    fn a_trial_goes_on_only_in_the_best_third_of_its_rung() {
        let mut rule = Asha::new(27, options(1, 3)).unwrap();
        // The first trial to reach a rung always goes on (nothing recorded there).
        assert_eq!(rule.decide(&prefix(&flat(0.9, 27), 1)), Decision::Continue);
        // Nine ended trials with values 0.1 … 0.9 at every rung: the cutoff is the 33.3rd
        // percentile, 0.1 + 8 × 0.1 / 3 = 0.3667.
        for i in 1..=9 {
            rule.finish(&flat(0.1 * f64::from(i), 27));
        }
        assert_eq!(rule.decide(&prefix(&flat(0.35, 27), 1)), Decision::Continue);
        assert_eq!(rule.decide(&prefix(&flat(0.40, 27), 1)), Decision::Stop);
        // Between rungs nothing is judged; at rung 3 and rung 9 again.
        assert_eq!(rule.decide(&prefix(&flat(0.40, 27), 2)), Decision::Continue);
        assert_eq!(rule.decide(&prefix(&flat(0.40, 27), 3)), Decision::Stop);
        assert_eq!(rule.decide(&prefix(&flat(0.40, 27), 9)), Decision::Stop);
        assert_eq!(
            rule.decide(&prefix(&flat(0.40, 27), 10)),
            Decision::Continue
        );
    }

    #[test]
    fn stopped_trials_count_at_the_rungs_they_reached() {
        let mut rule = Asha::new(9, options(1, 3)).unwrap();
        let stopped = Curve::new(vec![1, 2, 3], vec![0.5, 0.4, 0.3], true);
        rule.finish(&stopped);
        assert_eq!(rule.recorded, vec![vec![0.5], vec![0.3]]);
        assert!(Asha::new(0, options(1, 3)).is_err());
        assert!(Asha::new(9, options(1, 1)).is_err());
    }
}
