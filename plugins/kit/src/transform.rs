//! Output transforms ("response shaping") applied to observed errors before a model sees
//! them. The incumbent of EI/PI is the minimum of the transformed values.
//!
//! - LE (log error): y = (max(log10 e, −5) + 5) / 5, errors in [1e−5, 1] onto [0, 1].
//! - HLE (hybrid log error, the seed's ALE), threshold α (default 0.3), β = α − log10 α:
//!   y = e for e > α, else log10(max(e, 1e−5)) + β. Continuous at α and monotone: large errors
//!   stay linear, small ones spread out logarithmically.

/// The smallest error the log transforms distinguish.
pub const LOG_FLOOR: f64 = 1e-5;
/// The seed's default HLE threshold.
pub const DEFAULT_ALPHA: f64 = 0.3;

/// An output transform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transform {
    /// The value as observed.
    Identity,
    /// Log error.
    LogError,
    /// Hybrid log error with threshold α.
    HybridLogError {
        /// Threshold α in (0, 1).
        alpha: f64,
    },
}

impl Transform {
    /// The transform of a model name's suffix: `GP-LE` → LE, `GP-HLE` and the seed's
    /// `GP-ALE` → HLE(α), anything else → identity.
    pub fn of_model(model: &str, alpha: f64) -> Self {
        if model.ends_with("-HLE") || model.ends_with("-ALE") {
            Transform::HybridLogError { alpha }
        } else if model.ends_with("-LE") {
            Transform::LogError
        } else {
            Transform::Identity
        }
    }

    /// Applies the transform to a value.
    pub fn apply(&self, e: f64) -> f64 {
        match *self {
            Transform::Identity => e,
            Transform::LogError => (e.max(LOG_FLOOR).log10().max(-5.0) + 5.0) / 5.0,
            Transform::HybridLogError { alpha } => {
                if e > alpha {
                    e
                } else {
                    e.max(LOG_FLOOR).log10() + alpha - alpha.log10()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_error_matches_its_definition() {
        let le = Transform::LogError;
        assert!((le.apply(0.01) - 0.6).abs() < 1e-12);
        assert!((le.apply(0.001) - 0.4).abs() < 1e-12);
        assert!((le.apply(1.0) - 1.0).abs() < 1e-12);
        assert_eq!(le.apply(1e-9), 0.0);
    }

    #[test]
    fn hybrid_log_error_matches_the_seeds_figures() {
        let hle = Transform::HybridLogError { alpha: 0.3 };
        for (e, y) in [
            (0.1, -0.177),
            (0.05, -0.478),
            (0.01, -1.177),
            (0.001, -2.177),
        ] {
            assert!((hle.apply(e) - y).abs() < 1e-3, "{e}: {}", hle.apply(e));
        }
        assert_eq!(hle.apply(0.5), 0.5);
        // Continuous at α.
        assert!((hle.apply(0.3) - 0.3).abs() < 1e-12);
        assert!((hle.apply(0.300_000_001) - hle.apply(0.3)).abs() < 1e-8);
    }

    #[test]
    fn transforms_are_monotone() {
        for t in [
            Transform::Identity,
            Transform::LogError,
            Transform::HybridLogError { alpha: 0.3 },
            Transform::HybridLogError { alpha: 0.1 },
        ] {
            let ys: Vec<f64> = (1..=1000).map(|i| t.apply(i as f64 / 1000.0)).collect();
            assert!(ys.windows(2).all(|w| w[0] < w[1]), "{t:?}");
        }
        assert_eq!(
            Transform::of_model("GP-ALE", 0.3),
            Transform::HybridLogError { alpha: 0.3 }
        );
        assert_eq!(Transform::of_model("RF-LE", 0.3), Transform::LogError);
        assert_eq!(Transform::of_model("GP", 0.3), Transform::Identity);
    }
}
