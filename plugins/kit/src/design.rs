//! What every model arm does before it has a model: the initial design, and random points.

use hpo_plugin_api::space::SpaceSpec;
use hpo_plugin_api::types::{ProposeRequest, Proposed};
use rand::{Rng, RngExt};

use crate::encoding::snap;

/// Whether a model arm proposes from its model with `observed` observations and `pending`
/// points in flight, given an initial design of `initial` points: once the whole design
/// has been asked for (its points observed or in flight) and two points are observed. A
/// parallel run then spends no more evaluations on the design than a sequential one (with
/// 8 workers it spent 17 of 100 on a design of 10 before), and a sequential run, with
/// nothing in flight, is unchanged.
pub fn designed(observed: usize, pending: usize, initial: usize) -> bool {
    observed >= 2 && observed + pending >= initial
}

/// A uniformly random point of the space, snapped onto its grid.
pub fn random_point(space: &SpaceSpec, rng: &mut impl Rng) -> Vec<f64> {
    let mut p: Vec<f64> = (0..space.encoded_dims())
        .map(|_| rng.random::<f64>())
        .collect();
    snap(space, &mut p);
    p
}

/// A standard normal variate (Box–Muller).
pub fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `request.n` proposals of the initial design, without model figures (NaN mean and
/// variance). The host's own pool (points off it allowed) is a scrambled Sobol sequence, so
/// its first remaining rows are a space-filling design; a table's rows have no such order
/// and are sampled; with no candidates at all, random points.
pub fn initial_design(
    request: &ProposeRequest,
    space: &SpaceSpec,
    rng: &mut impl Rng,
) -> Vec<Proposed> {
    let n = request.n as usize;
    let proposed = |pool_index: Option<u32>, point: Vec<f64>| Proposed {
        pool_index,
        point,
        acquisition: 0.0,
        mean: f64::NAN,
        variance: f64::NAN,
    };
    if request.candidates.is_empty() {
        (0..n)
            .map(|_| proposed(None, random_point(space, rng)))
            .collect()
    } else if request.allow_off_pool {
        request
            .candidates
            .iter()
            .take(n)
            .map(|&c| proposed(Some(c), Vec::new()))
            .collect()
    } else {
        let k = n.min(request.candidates.len());
        rand::seq::index::sample(rng, request.candidates.len(), k)
            .into_iter()
            .map(|i| proposed(Some(request.candidates[i]), Vec::new()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::designed;

    #[test]
    fn the_design_ends_once_asked_for_whole_with_two_points_observed() {
        // Sequential: the tenth observation ends a design of ten.
        assert!(!designed(9, 0, 10));
        assert!(designed(10, 0, 10));
        // Eight workers: three observed and seven in flight make the ten asked for.
        assert!(!designed(2, 7, 10));
        assert!(designed(3, 7, 10));
        // No model from fewer than two observations, however many are in flight.
        assert!(!designed(1, 15, 10));
        assert!(designed(2, 15, 10));
    }
}
