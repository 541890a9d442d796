//! The seed's multi-threshold rules, DecaTercet, PentaTercet and TetraTercet: "early drop,
//! late survive" with survive ratio s = 10 %, 20 %, 25 %.
//!
//! One definition serves replayed and live curves (the seed had two that disagreed):
//! - checkpoint 1 at c1 = ⌊E/2⌋ (early drop): a trial whose mean value over epochs
//!   1..=c1 is worse than all but the worst s of the earlier trials' means over the same
//!   window is stopped — the bottom s go;
//! - checkpoint 2 at c2 = ⌊(1 − s)E⌋ (late survive): a trial whose mean over c1..=c2 is
//!   not among the best s of the earlier trials' means over that window is stopped — only
//!   the top s train to the end.
//!
//! This is the seed's remote variant (the one that matches the names), with one change:
//! the trial is judged by its own window mean, the statistic its peers are ranked by (the
//! seed compared one epoch's value with window means, which lets an improving curve pass
//! more often than the percentile says). A checkpoint is judged on the first report at or
//! beyond it, so reports that skip epochs cannot skip a check (the seed's remote rule
//! could). Values are lower-is-better.

use hpo_plugin_api::types::{Curve, Decision};
use serde::Deserialize;

use crate::curves::{crossed, percentile, reached, window_mean};

/// The options of a tercet rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TercetOptions {
    /// Earlier trials needed at a checkpoint before it stops anything.
    #[serde(default = "default_min_curves")]
    pub min_curves: usize,
    /// The number of epochs a full trial trains (needed when the objective does not say:
    /// training commands).
    #[serde(default)]
    pub epochs: Option<u32>,
}

fn default_min_curves() -> usize {
    3
}

/// The two checkpoints (c1, c2) of a rule with survive ratio `survive_percent` % over a
/// horizon of `epochs`.
pub fn checkpoints(epochs: u32, survive_percent: u32) -> (u32, u32) {
    let late = u64::from(100 - survive_percent.min(100)) * u64::from(epochs) / 100;
    (epochs / 2, late as u32)
}

/// One run's tercet rule: its checkpoints and the curves of the trials that ended.
pub struct Tercet {
    survive_percent: u32,
    checkpoints: (u32, u32),
    min_curves: usize,
    history: Vec<Curve>,
}

impl Tercet {
    /// The rule with survive ratio `survive_percent` % for trials of `horizon` epochs
    /// (0: unknown, then the `epochs` option must say).
    pub fn new(survive_percent: u32, horizon: u32, options: TercetOptions) -> Result<Self, String> {
        let epochs = options.epochs.unwrap_or(horizon);
        if epochs < 2 {
            return Err(format!(
                "the rule needs the number of epochs of a full trial (at least 2): set the option \"epochs\" (got {epochs})"
            ));
        }
        if options.min_curves == 0 {
            return Err("options: min_curves must be at least 1".into());
        }
        Ok(Tercet {
            survive_percent,
            checkpoints: checkpoints(epochs, survive_percent),
            min_curves: options.min_curves,
            history: Vec::new(),
        })
    }

    /// Continue or stop the trial whose curve so far is `curve`.
    pub fn decide(&self, curve: &Curve) -> Decision {
        let (c1, c2) = self.checkpoints;
        let s = f64::from(self.survive_percent);
        // Early drop: worse than the (100 − s)-th percentile of the peers' values.
        if c1 >= 1 && crossed(curve, c1) && self.below(curve, (1, c1), 100.0 - s) {
            return Decision::Stop;
        }
        // Late survive: only those at or better than the s-th percentile continue.
        if c2 > c1 && crossed(curve, c2) && self.below(curve, (c1, c2), s) {
            return Decision::Stop;
        }
        Decision::Continue
    }

    /// Records an ended trial's curve.
    pub fn finish(&mut self, curve: Curve) {
        self.history.push(curve);
    }

    /// Whether the trial's mean over `window` is worse than the `q`-th percentile of the
    /// means of the earlier trials that reached the window's end.
    fn below(&self, curve: &Curve, (from, to): (u32, u32), q: f64) -> bool {
        let peers: Vec<f64> = self
            .history
            .iter()
            .filter(|c| reached(c, to))
            .filter_map(|c| window_mean(c, from, to))
            .collect();
        if peers.len() < self.min_curves {
            return false;
        }
        match (window_mean(curve, from, to), percentile(&peers, q)) {
            (Some(own), Some(threshold)) => own > threshold,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curves::examples::{flat, prefix};

    fn options() -> TercetOptions {
        TercetOptions {
            min_curves: 3,
            epochs: None,
        }
    }

    #[test]
    fn checkpoints_match_the_seed_table() {
        // seed-inventory 7.1: (c1, c2) for E = 15, 50, 100.
        let table = [
            (10, [(7, 13), (25, 45), (50, 90)]),
            (20, [(7, 12), (25, 40), (50, 80)]),
            (25, [(7, 11), (25, 37), (50, 75)]),
        ];
        for (s, rows) in table {
            for (e, want) in [15, 50, 100].into_iter().zip(rows) {
                assert_eq!(checkpoints(e, s), want, "s {s} E {e}");
            }
        }
    }

    #[test]
    fn early_drop_stops_the_bottom_and_late_survive_keeps_the_top() {
        // DecaTercet over 20 epochs: c1 = 10, c2 = 18. Ten peers with flat curves
        // 0.10, 0.11, ..., 0.19 (lower is better).
        let mut rule = Tercet::new(10, 20, options()).unwrap();
        for i in 0..10 {
            rule.finish(flat(0.10 + 0.01 * f64::from(i), 20));
        }
        // At c1 the 90th percentile of the peers is 0.181: 0.185 is dropped, 0.175 goes on.
        assert_eq!(rule.decide(&prefix(&flat(0.185, 20), 10)), Decision::Stop);
        assert_eq!(
            rule.decide(&prefix(&flat(0.175, 20), 10)),
            Decision::Continue
        );
        // Between checkpoints nothing is judged.
        assert_eq!(
            rule.decide(&prefix(&flat(0.185, 20), 11)),
            Decision::Continue
        );
        // At c2 only those at or below the 10th percentile (0.109) survive.
        assert_eq!(rule.decide(&prefix(&flat(0.175, 20), 18)), Decision::Stop);
        assert_eq!(
            rule.decide(&prefix(&flat(0.105, 20), 18)),
            Decision::Continue
        );
    }

    #[test]
    fn too_few_peers_stop_nothing_and_the_horizon_is_required() {
        let mut rule = Tercet::new(25, 8, options()).unwrap();
        rule.finish(flat(0.1, 8));
        rule.finish(flat(0.1, 8));
        assert_eq!(rule.decide(&prefix(&flat(0.9, 8), 4)), Decision::Continue);
        let e = Tercet::new(25, 0, options()).err().unwrap();
        assert!(e.contains("\"epochs\""), "{e}");
        let given = TercetOptions {
            epochs: Some(8),
            ..options()
        };
        assert!(Tercet::new(25, 0, given).is_ok());
    }

    #[test]
    fn a_skipped_checkpoint_is_still_judged() {
        let mut rule = Tercet::new(10, 20, options()).unwrap();
        for i in 0..10 {
            rule.finish(flat(0.10 + 0.01 * f64::from(i), 20));
        }
        // Reports at epochs 5 and 19 only: both checkpoints are crossed at once.
        let sparse = Curve::new(vec![5, 19], vec![0.3, 0.3], false);
        assert_eq!(rule.decide(&sparse), Decision::Stop);
    }
}
