//! Time-penalized acquisition (the seed's `-tp`): rank candidates by acquisition *and* by
//! their estimated evaluation time, so that a cheap, promising configuration goes before an
//! expensive one of the same promise.
//!
//! The evaluation time is estimated by [`TimeModel`], a ridge regression of log seconds on
//! the encoded point, fitted on the completed observations' costs once there are
//! [`MIN_OBSERVATIONS`] of them (before that no penalty applies). The penalties are the
//! seed's, with its top-k indexing bug fixed:
//!
//! - `ET_L<rate>` (e.g. `ET_L0.1`): both acquisition and time scaled to [0, 1] over the
//!   candidates, score = a − rate · t;
//! - `ET_T<k>` (e.g. `ET_T10`): the fastest of the k best candidates by acquisition goes first;
//! - `ET_PS`: per second, a / (t + 10);
//! - `ET_PLS`: per log second, a / ln(t + 10);
//! - `NONE`: no penalty.
//!
//! Per-second scores shift the acquisition to be non-negative first (UCB can be negative).

use faer::linalg::solvers::Solve;
use faer::{Mat, Side};
use hpo_plugin_api::types::{ObservationStatus, Observations};

/// Completed observations with a cost needed before the time model is fitted.
pub const MIN_OBSERVATIONS: usize = 10;
/// Ridge penalty of the time model (on standardized log seconds, encoded inputs in [0, 1]).
const RIDGE: f64 = 1e-3;
/// The seed's offset of the per-second penalties, in seconds.
const SECONDS_OFFSET: f64 = 10.0;

/// A time penalty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Penalty {
    /// `ET_L<rate>`: a − rate · t, both scaled to [0, 1].
    Linear(f64),
    /// `ET_T<k>`: the fastest of the k best candidates first.
    TopK(usize),
    /// `ET_PS`: a / (t + 10).
    PerSecond,
    /// `ET_PLS`: a / ln(t + 10).
    PerLogSecond,
}

/// The accepted spellings, for error messages.
pub const SPELLINGS: &str = "NONE, ET_PS, ET_PLS, ET_L<rate> (e.g. ET_L0.1), ET_T<k> (e.g. ET_T10)";

impl Penalty {
    /// Parses a penalty name; `NONE` (any case) is no penalty.
    pub fn parse(name: &str) -> Result<Option<Penalty>, String> {
        let upper = name.trim().to_ascii_uppercase();
        let bad = || format!("unknown time penalty '{name}' (known: {SPELLINGS})");
        Ok(Some(match upper.as_str() {
            "NONE" => return Ok(None),
            "ET_PS" => Penalty::PerSecond,
            "ET_PLS" => Penalty::PerLogSecond,
            _ => {
                if let Some(rate) = upper.strip_prefix("ET_L") {
                    let rate: f64 = rate.parse().map_err(|_| bad())?;
                    if !(rate > 0.0 && rate.is_finite()) {
                        return Err(format!("time penalty '{name}': the rate must be positive"));
                    }
                    Penalty::Linear(rate)
                } else if let Some(k) = upper.strip_prefix("ET_T") {
                    let k: usize = k.parse().map_err(|_| bad())?;
                    if k == 0 {
                        return Err(format!("time penalty '{name}': k must be at least 1"));
                    }
                    Penalty::TopK(k)
                } else {
                    return Err(bad());
                }
            }
        }))
    }

    /// The order (indices, best first) of candidates with acquisition values `acquisition`
    /// (higher is better) and estimated times `seconds`. Ties keep the given order.
    pub fn order(&self, acquisition: &[f64], seconds: &[f64]) -> Vec<usize> {
        assert_eq!(acquisition.len(), seconds.len());
        let n = acquisition.len();
        let mut order: Vec<usize> = (0..n).collect();
        let low = acquisition.iter().copied().fold(f64::INFINITY, f64::min);
        let high = acquisition
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let score: Vec<f64> = match *self {
            Penalty::TopK(k) => {
                order.sort_by(|&a, &b| acquisition[b].total_cmp(&acquisition[a]));
                let top = k.min(n);
                order[..top].sort_by(|&a, &b| seconds[a].total_cmp(&seconds[b]));
                return order;
            }
            Penalty::Linear(rate) => {
                let span = high - low;
                let longest = seconds.iter().copied().fold(0.0, f64::max);
                (0..n)
                    .map(|i| {
                        let a = if span > 0.0 {
                            (acquisition[i] - low) / span
                        } else {
                            0.0
                        };
                        let t = if longest > 0.0 {
                            seconds[i] / longest
                        } else {
                            0.0
                        };
                        a - rate * t
                    })
                    .collect()
            }
            Penalty::PerSecond => (0..n)
                .map(|i| (acquisition[i] - low) / (seconds[i] + SECONDS_OFFSET))
                .collect(),
            Penalty::PerLogSecond => (0..n)
                .map(|i| (acquisition[i] - low) / (seconds[i] + SECONDS_OFFSET).ln())
                .collect(),
        };
        order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
        order
    }
}

/// Parses a plugin's `time_penalty` option (absent or `NONE`: no penalty); the error
/// names the plugin and the option.
pub fn parse_option(plugin: &str, name: Option<&str>) -> Result<Option<Penalty>, String> {
    match name {
        Some(name) => {
            Penalty::parse(name).map_err(|e| format!("{plugin} option 'time_penalty': {e}"))
        }
        None => Ok(None),
    }
}

/// Ridge regression of log evaluation seconds on the encoded point.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeModel {
    /// Weights of the encoded coordinates.
    weights: Vec<f64>,
    /// Intercept (log seconds).
    intercept: f64,
}

impl TimeModel {
    /// Fits the model to points `x` (row-major, `dims` columns) and their `seconds` (all
    /// positive); `None` with fewer than [`MIN_OBSERVATIONS`] points.
    pub fn fit(x: &[f64], dims: usize, seconds: &[f64]) -> Option<TimeModel> {
        let n = seconds.len();
        if n < MIN_OBSERVATIONS || x.len() != n * dims {
            return None;
        }
        let log_t: Vec<f64> = seconds.iter().map(|s| s.ln()).collect();
        let mean_t = log_t.iter().sum::<f64>() / n as f64;
        let mean_x: Vec<f64> = (0..dims)
            .map(|j| (0..n).map(|i| x[i * dims + j]).sum::<f64>() / n as f64)
            .collect();
        // Centered normal equations (XᵀX + λI) w = Xᵀy; the intercept follows from the means.
        let centered = |i: usize, j: usize| x[i * dims + j] - mean_x[j];
        let gram = Mat::<f64>::from_fn(dims, dims, |a, b| {
            let dot: f64 = (0..n).map(|i| centered(i, a) * centered(i, b)).sum();
            dot + if a == b { RIDGE * n as f64 } else { 0.0 }
        });
        let rhs = Mat::<f64>::from_fn(dims, 1, |a, _| {
            (0..n).map(|i| centered(i, a) * (log_t[i] - mean_t)).sum()
        });
        let weights_mat = gram.llt(Side::Lower).ok()?.solve(&rhs);
        let weights: Vec<f64> = (0..dims).map(|j| weights_mat[(j, 0)]).collect();
        let intercept = mean_t - weights.iter().zip(&mean_x).map(|(w, m)| w * m).sum::<f64>();
        Some(TimeModel { weights, intercept })
    }

    /// The estimated seconds at an encoded point.
    pub fn seconds(&self, point: &[f64]) -> f64 {
        let log_t = self.intercept
            + self
                .weights
                .iter()
                .zip(point)
                .map(|(w, x)| w * x)
                .sum::<f64>();
        log_t.exp()
    }
}

/// What an arm keeps for its time penalty: the penalty, the costs observed so far and the
/// time model fitted to them.
#[derive(Debug, Clone)]
pub struct TimeAware {
    penalty: Option<Penalty>,
    dims: usize,
    x: Vec<f64>,
    seconds: Vec<f64>,
    model: Option<TimeModel>,
}

impl TimeAware {
    /// A time penalty for points of `dims` encoded coordinates (`None`: off).
    pub fn new(penalty: Option<Penalty>, dims: usize) -> Self {
        TimeAware {
            penalty,
            dims,
            x: Vec::new(),
            seconds: Vec::new(),
            model: None,
        }
    }

    /// Parses the `time_penalty` option of `plugin` (absent or `NONE`: off).
    pub fn from_option(plugin: &str, name: Option<&str>, dims: usize) -> Result<Self, String> {
        Ok(TimeAware::new(parse_option(plugin, name)?, dims))
    }

    /// Whether a penalty was asked for.
    pub fn is_on(&self) -> bool {
        self.penalty.is_some()
    }

    /// Records the costs of completed observations (failed ones and non-positive costs
    /// tell nothing about the time of a configuration).
    pub fn observe(&mut self, observations: &Observations) {
        if self.penalty.is_none() || observations.x.cols as usize != self.dims {
            return;
        }
        let before = self.seconds.len();
        for i in 0..observations.len() {
            let cost = observations.cost[i];
            if observations.status[i] == ObservationStatus::Final && cost > 0.0 && cost.is_finite()
            {
                self.x.extend_from_slice(observations.x.row(i));
                self.seconds.push(cost);
            }
        }
        if self.seconds.len() != before {
            self.model = TimeModel::fit(&self.x, self.dims, &self.seconds);
        }
    }

    /// The penalized order (indices, best first) of candidates given as (acquisition,
    /// encoded point), or `None` when there is nothing to penalize: the penalty is off or
    /// the time model not fitted yet.
    pub fn order<'p>(
        &self,
        candidates: impl IntoIterator<Item = (f64, &'p [f64])>,
    ) -> Option<Vec<usize>> {
        let (Some(penalty), Some(model)) = (self.penalty, &self.model) else {
            return None;
        };
        let (values, seconds): (Vec<f64>, Vec<f64>) = candidates
            .into_iter()
            .map(|(a, p)| (a, model.seconds(p)))
            .unzip();
        Some(penalty.order(&values, &seconds))
    }
}

/// Puts `items` in `order` (a permutation of their indices).
pub fn permute<T>(items: &mut Vec<T>, order: &[usize]) {
    assert_eq!(items.len(), order.len(), "a permutation of the items");
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(
        order
            .iter()
            .map(|&i| slots[i].take().expect("a permutation")),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpo_plugin_api::types::Matrix;

    #[test]
    fn names_parse_and_bad_names_list_the_known_ones() {
        assert_eq!(Penalty::parse("none").unwrap(), None);
        assert_eq!(Penalty::parse("ET_PS").unwrap(), Some(Penalty::PerSecond));
        assert_eq!(
            Penalty::parse("et_pls").unwrap(),
            Some(Penalty::PerLogSecond)
        );
        assert_eq!(
            Penalty::parse("ET_L0.4").unwrap(),
            Some(Penalty::Linear(0.4))
        );
        assert_eq!(Penalty::parse("ET_T20").unwrap(), Some(Penalty::TopK(20)));
        for bad in ["ET_X", "ET_L", "ET_L-1", "ET_T0", "fast"] {
            assert!(Penalty::parse(bad).is_err(), "{bad}");
        }
        assert!(Penalty::parse("fast").unwrap_err().contains("ET_PS"));
    }

    #[test]
    fn penalties_order_hand_computed_examples() {
        let a = [1.0, 0.8, 0.5, 0.0];
        let t = [100.0, 10.0, 1.0, 0.0];
        // Per second: 1/110 = 0.0091, 0.8/20 = 0.04, 0.5/11 = 0.045, 0/10 = 0.
        assert_eq!(Penalty::PerSecond.order(&a, &t), [2, 1, 0, 3]);
        // Per log second: 1/4.70 = 0.213, 0.8/3.00 = 0.267, 0.5/2.40 = 0.209, 0.
        assert_eq!(Penalty::PerLogSecond.order(&a, &t), [1, 0, 2, 3]);
        // Linear 0.4: 1 − 0.4 = 0.6, 0.8 − 0.04 = 0.76, 0.5 − 0.004 = 0.496, 0.
        assert_eq!(Penalty::Linear(0.4).order(&a, &t), [1, 0, 2, 3]);
        // Linear 2: −1, 0.6, 0.48, 0.
        assert_eq!(Penalty::Linear(2.0).order(&a, &t), [1, 2, 3, 0]);
        // Top 3: of rows 0, 1, 2 the fastest is 2, then 1, then 0; row 3 stays last.
        assert_eq!(Penalty::TopK(3).order(&a, &t), [2, 1, 0, 3]);
        assert_eq!(Penalty::TopK(1).order(&a, &t), [0, 1, 2, 3]);
        // A negative acquisition (UCB) is shifted before dividing by time.
        assert_eq!(Penalty::PerSecond.order(&[-1.0, -2.0], &[0.0, 0.0]), [0, 1]);
    }

    #[test]
    fn the_time_model_recovers_an_exact_log_linear_law() {
        // seconds = exp(1 + 3 x0 − 2 x1) on a grid of 16 points.
        let (mut x, mut s) = (Vec::new(), Vec::new());
        for i in 0..4 {
            for j in 0..4 {
                let (a, b) = (i as f64 / 3.0, j as f64 / 3.0);
                x.extend([a, b]);
                s.push((1.0 + 3.0 * a - 2.0 * b).exp());
            }
        }
        let model = TimeModel::fit(&x, 2, &s).unwrap();
        let at = |a: f64, b: f64| model.seconds(&[a, b]).ln();
        // The ridge term shrinks the weights a little (λ = 1e-3 per point).
        assert!((at(0.5, 0.5) - 1.5).abs() < 1e-2, "{}", at(0.5, 0.5));
        assert!((at(1.0, 0.0) - 4.0).abs() < 3e-2, "{}", at(1.0, 0.0));
        assert!(TimeModel::fit(&x[..18], 2, &s[..9]).is_none());
    }

    #[test]
    fn an_arm_reorders_only_once_its_time_model_is_fitted() {
        let mut time = TimeAware::new(Some(Penalty::TopK(2)), 1);
        let mut items = vec![(0.9, [0.9]), (0.8, [0.1]), (0.1, [0.0])];
        let candidates = |items: &[(f64, [f64; 1])]| -> Vec<(f64, Vec<f64>)> {
            items.iter().map(|i| (i.0, i.1.to_vec())).collect()
        };
        let listed = candidates(&items);
        assert!(
            time.order(listed.iter().map(|(a, p)| (*a, p.as_slice())))
                .is_none()
        );
        let x: Vec<f64> = (0..10).map(|i| i as f64 / 9.0).collect();
        time.observe(&Observations {
            x: Matrix {
                cols: 1,
                data: x.clone(),
            },
            y: vec![0.0; 10],
            cost: x.iter().map(|v| (5.0 * v).exp()).collect(),
            status: vec![ObservationStatus::Final; 10],
        });
        let order = time
            .order(listed.iter().map(|(a, p)| (*a, p.as_slice())))
            .unwrap();
        permute(&mut items, &order);
        assert_eq!(items[0].1, [0.1]);
        assert_eq!(items[1].1, [0.9]);
    }
}
