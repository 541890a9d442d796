//! Pieces every strategy uses: the active arms, seeded draws, softmax, reward transforms.

use hpo_plugin_api::types::SelectRequest;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Arms not suspended, in index order.
pub fn active_arms(request: &SelectRequest, arms: usize) -> Vec<u32> {
    (0..arms as u32)
        .filter(|&i| request.stats.get(i as usize).is_none_or(|s| !s.suspended))
        .collect()
}

/// The generator for draw number `draw` of a session seeded with `seed`: the state of a
/// strategy's randomness is just its draw count.
pub fn draw_rng(seed: u64, draw: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(draw);
    rng
}

/// Softmax of `eta * scores` over the arms in `active` (others get 0), computed stably
/// (the maximum is subtracted before exponentiating).
pub fn softmax(scores: &[f64], eta: f64, active: &[u32]) -> Vec<f64> {
    let mut p = vec![0.0; scores.len()];
    let max = active
        .iter()
        .map(|&i| eta * scores[i as usize])
        .fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        for &i in active {
            p[i as usize] = 1.0 / active.len() as f64;
        }
        return p;
    }
    let mut total = 0.0;
    for &i in active {
        let w = (eta * scores[i as usize] - max).exp();
        p[i as usize] = w;
        total += w;
    }
    for v in &mut p {
        *v /= total;
    }
    p
}

/// Draws an index from the distribution `p` with a uniform `u` in [0, 1).
pub fn sample(p: &[f64], u: f64) -> usize {
    let mut acc = 0.0;
    let mut last = 0;
    for (i, &pi) in p.iter().enumerate() {
        if pi > 0.0 {
            acc += pi;
            last = i;
            if u < acc {
                return i;
            }
        }
    }
    last
}

/// `first`, then the other `active` arms by `score`, highest first (ties by index).
pub fn ranking(first: u32, active: &[u32], score: &[f64]) -> Vec<u32> {
    let mut rest: Vec<u32> = active.iter().copied().filter(|&i| i != first).collect();
    rest.sort_by(|&a, &b| {
        score[b as usize]
            .total_cmp(&score[a as usize])
            .then(a.cmp(&b))
    });
    std::iter::once(first).chain(rest).collect()
}

/// A strategy's state as bytes for `snapshot`.
pub fn save_state<T: serde::Serialize>(state: &T) -> Result<Vec<u8>, String> {
    serde_json::to_vec(state).map_err(|e| e.to_string())
}

/// A strategy's state back from `restore`'s bytes; `what` names the strategy in errors.
pub fn load_state<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("{what} state: {e}"))
}

/// Bounds of the log-error transform: errors are clipped into [1e-5, 1 - 1e-5].
const LE_CLIP: f64 = 1e-5;

/// The log-error ("LE") reward of a host reward (the negated error): |log10(error)|,
/// larger for smaller errors. Meant for errors in (0, 1).
pub fn log_error_reward(reward: f64) -> f64 {
    let error = (-reward).clamp(LE_CLIP, 1.0 - LE_CLIP);
    -error.log10()
}

/// Running minimum and maximum of rewards, to map them into [0, 1] for importance weighting.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Normalizer {
    min: Option<f64>,
    max: Option<f64>,
}

impl Normalizer {
    /// Records `r` and returns it scaled into [0, 1] by the range seen so far (0.5 while the
    /// range is empty).
    pub fn observe(&mut self, r: f64) -> f64 {
        let min = self.min.map_or(r, |m| m.min(r));
        let max = self.max.map_or(r, |m| m.max(r));
        self.min = Some(min);
        self.max = Some(max);
        if max > min {
            (r - min) / (max - min)
        } else {
            0.5
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_stable_and_normalized() {
        let p = softmax(&[1000.0, 999.0, 0.0], 1.0, &[0, 1, 2]);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let e = std::f64::consts::E;
        assert!((p[0] - e / (e + 1.0)).abs() < 1e-12);
        assert_eq!(p[2], 0.0f64.max(p[2]));
        let q = softmax(&[5.0, 1.0, 3.0], 2.0, &[1, 2]);
        assert_eq!(q[0], 0.0);
        assert!((q[2] - (4f64).exp() / ((4f64).exp() + 1.0)).abs() < 1e-12);
    }

    #[test]
    fn log_error_rewards_grow_as_the_error_shrinks() {
        assert!((log_error_reward(-0.01) - 2.0).abs() < 1e-12);
        assert!((log_error_reward(-0.1) - 1.0).abs() < 1e-12);
        assert!(log_error_reward(-0.001) > log_error_reward(-0.01));
        assert!(
            (log_error_reward(0.0) - 5.0).abs() < 1e-9,
            "clipped at 1e-5"
        );
    }

    #[test]
    fn sampling_follows_the_cumulative_distribution() {
        let p = [0.2, 0.0, 0.5, 0.3];
        assert_eq!(sample(&p, 0.1), 0);
        assert_eq!(sample(&p, 0.2), 2);
        assert_eq!(sample(&p, 0.69), 2);
        assert_eq!(sample(&p, 0.7), 3);
        assert_eq!(sample(&p, 0.999_999), 3);
    }
}
