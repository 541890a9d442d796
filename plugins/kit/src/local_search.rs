//! Derivative-free refinement of an acquisition off the pool, for models whose predictions
//! have no gradient (the forest's are piecewise constant): a coordinate pattern search with
//! shrinking steps, in the spirit of SMAC's local search over one-exchange neighbourhoods.
//!
//! From a start, each round tries, for every encoded column, a step up and a step down of
//! the current size (snapped onto the space's grid); the best improving neighbour is taken,
//! and when none improves the step halves. It stops below the smallest step or after a
//! bounded number of evaluations.

use hpo_plugin_api::space::SpaceSpec;

use crate::encoding::snap;

/// Step sizes, in the unit cube: the first and the smallest tried.
const FIRST_STEP: f64 = 0.1;
const SMALLEST_STEP: f64 = 1e-4;

/// The best point found from `start` and its score (higher is better), spending at most
/// `budget` evaluations of `score`.
pub fn pattern_search(
    space: &SpaceSpec,
    start: &[f64],
    budget: usize,
    mut score: impl FnMut(&[f64]) -> f64,
) -> (Vec<f64>, f64) {
    let mut best = start.to_vec();
    snap(space, &mut best);
    let mut best_score = score(&best);
    let mut spent = 1;
    let mut step = FIRST_STEP;
    while step >= SMALLEST_STEP && spent < budget {
        let mut round_best: Option<(Vec<f64>, f64)> = None;
        for j in 0..best.len() {
            for sign in [1.0, -1.0] {
                if spent >= budget {
                    break;
                }
                let mut p = best.clone();
                p[j] = (p[j] + sign * step).clamp(0.0, 1.0);
                snap(space, &mut p);
                if p == best {
                    continue;
                }
                let s = score(&p);
                spent += 1;
                if s > best_score && round_best.as_ref().is_none_or(|(_, b)| s > *b) {
                    round_best = Some((p, s));
                }
            }
        }
        match round_best {
            Some((p, s)) => {
                best = p;
                best_score = s;
            }
            None => step /= 2.0,
        }
    }
    (best, best_score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_maximum_of_a_smooth_function_to_fine_precision() {
        let space = SpaceSpec::unit_cube(3);
        let target = [0.31, 0.77, 0.05];
        let f = |p: &[f64]| {
            -p.iter()
                .zip(&target)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
        };
        let (p, s) = pattern_search(&space, &[0.5, 0.5, 0.5], 2000, f);
        for (a, b) in p.iter().zip(&target) {
            assert!((a - b).abs() < 1e-3, "{p:?}");
        }
        assert!(s > -1e-5);
        // The budget bounds the evaluations.
        let mut calls = 0;
        pattern_search(&space, &[0.5; 3], 10, |_| {
            calls += 1;
            0.0
        });
        assert!(calls <= 10);
    }
}
