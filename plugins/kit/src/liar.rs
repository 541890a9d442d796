//! What a model takes a pending point (a parallel run's trial in flight) to have observed,
//! so that the next proposal goes elsewhere: the `liar` option of the GP and RF arms.
//!
//! - `mean` (the default): the kriging believer, the model's own prediction there. The mean
//!   does not move; the uncertainty at and around the point collapses, so an acquisition
//!   that pays for uncertainty looks elsewhere.
//! - `incumbent`: the constant liar at the best value so far (CL-min). It makes the
//!   neighbourhood of every pending point look as good as the best: measured on the bundled
//!   table with 8 simulated workers, GP-HLE/EI then needed a median of 399 evaluations to
//!   the top-10 value against 60 for the believer and 102 for no liar at all
//!   (docs/PERFORMANCE.md), so it is kept for comparison only.

/// A liar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Liar {
    /// The model's prediction at the pending point.
    #[default]
    Mean,
    /// The best value observed so far.
    Incumbent,
}

impl Liar {
    /// The `liar` option of `plugin` (`mean`, `incumbent`; none: the default).
    pub fn parse_option(plugin: &str, value: Option<&str>) -> Result<Self, String> {
        match value {
            None | Some("mean") => Ok(Liar::Mean),
            Some("incumbent") => Ok(Liar::Incumbent),
            Some(other) => Err(format!(
                "{plugin} option 'liar' must be mean or incumbent, not '{other}'"
            )),
        }
    }

    /// The incumbent of a model that took `lies` to be observed besides its observations
    /// (whose best is `best`): the best of both, as the kriging believer of Ginsbourger et
    /// al. (2010) has it. Otherwise a believed improvement at a pending point stays an
    /// improvement to seek beside it, and the workers' proposals crowd around one point
    /// (measured: near-duplicates in a row on fn:hartmann6 with 8 workers).
    pub fn incumbent(best: f64, lies: &[f64]) -> f64 {
        lies.iter().fold(best, |b, &l| b.min(l))
    }

    /// The value a pending point is taken to have observed, given the model's prediction
    /// there and the incumbent (both in the model's units).
    pub fn value(self, predicted: f64, incumbent: f64) -> f64 {
        match self {
            Liar::Mean => predicted,
            Liar::Incumbent => incumbent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_believer_is_the_default_and_unknown_liars_are_named() {
        assert_eq!(Liar::parse_option("gp", None).unwrap(), Liar::Mean);
        assert_eq!(
            Liar::parse_option("rf", Some("incumbent")).unwrap(),
            Liar::Incumbent
        );
        let e = Liar::parse_option("gp", Some("max")).unwrap_err();
        assert!(e.contains("gp option 'liar'") && e.contains("max"), "{e}");
        assert_eq!(Liar::Mean.value(0.3, 0.1), 0.3);
        assert_eq!(Liar::Incumbent.value(0.3, 0.1), 0.1);
    }

    #[test]
    fn the_incumbent_counts_the_believed_values() {
        assert_eq!(Liar::incumbent(0.5, &[]), 0.5);
        assert_eq!(Liar::incumbent(0.5, &[0.7, 0.2, 0.4]), 0.2);
        assert_eq!(Liar::incumbent(-1.0, &[0.7, -0.5]), -1.0);
    }
}
