//! What every model arm does before it has a model: the initial design, and random points.

use hpo_plugin_api::space::SpaceSpec;
use hpo_plugin_api::types::{ProposeRequest, Proposed};
use rand::{Rng, RngExt};

use crate::encoding::snap;

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
