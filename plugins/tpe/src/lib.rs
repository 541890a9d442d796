//! The `tpe` plugin: arms `TPE/EI` (the seed's name; univariate, each column chosen on its
//! own as in hyperopt and Optuna's default) and `TPE/MV` (multivariate: joint samples and a
//! joint density ratio).
//!
//! The history is kept sorted by value as it arrives (one insertion per observation), so a
//! proposal only slices it: the best ⌈γ·n⌉ (at most 25) observations make l(x), the rest
//! g(x) ([`parzen`]). Candidates are drawn from l and ranked by log l − log g; on a table,
//! each draw is moved to its nearest remaining row before ranking. Pending points join g
//! (a constant liar: they are presumed bad until they report). Until `n_startup` points
//! are observed or in flight (and two observed: `hpo_kit::design::designed`), the initial
//! design of `hpo-kit`.
//!
//! TPE has no predictive distribution of its own; `predict` and the proposals' mean and
//! variance come from a Nadaraya–Watson estimate with the multivariate kernels, so
//! strategies that score nominees by a model (BO-HEDGE) can use TPE arms too.

pub mod parzen;

use hpo_kit::checks::{bad_option, check_request, checked_pool, final_observations, parse_options};
use hpo_kit::design::{designed, initial_design};
use hpo_kit::encoding::snap;
use hpo_kit::time_penalty::{self, TimeAware, permute};
use hpo_plugin_api::sdk::{ArmSession, Plugin};
use hpo_plugin_api::space::{ParamKind, SpaceSpec};
use hpo_plugin_api::types::{
    ArmConfig, ComponentKind, Matrix, Observations, PluginDescription, Prediction, ProposeRequest,
    Proposed,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use parzen::{Bandwidth, Parzen, Shape, Split, log_sum_exp};

/// The plugin type exported below.
pub struct TpePlugin;

/// Arms of this plugin (model/acquisition).
pub const ARMS: [&str; 2] = ["TPE/EI", "TPE/MV"];

/// The run configuration's `tpe` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Observations before the estimators are used (the initial design); default 10.
    pub n_startup: Option<usize>,
    /// Candidates drawn from l(x) per proposal; default 24.
    pub n_candidates: Option<usize>,
    /// Fraction of observations in the good group; default 0.1 (at most 25 of them).
    pub gamma: Option<f64>,
    /// Weight of the prior component relative to one observation; default 1 (TPE/EI), 0.5
    /// (TPE/MV).
    pub prior_weight: Option<f64>,
    /// Scott's factor b of TPE/MV's bandwidth b·k^(−1/(d+4)); default 0.07.
    pub bandwidth_factor: Option<f64>,
    /// The smallest bandwidth is this factor / min(100, k + 1); default 0.3.
    pub min_bandwidth_factor: Option<f64>,
    /// Time penalty of the acquisition (`ET_PS`, `ET_PLS`, `ET_L<rate>`, `ET_T<k>`, `NONE`;
    /// see [`hpo_kit::time_penalty`]); default none.
    pub time_penalty: Option<String>,
}

impl Options {
    /// Parses and checks the `tpe` section (JSON); the error names the option.
    pub fn parse(json: &str) -> Result<Self, String> {
        let o: Options = parse_options("tpe", json)?;
        let bad = |name: &str, why: &str| bad_option("tpe", name, why);
        if o.n_startup == Some(0) {
            return bad("n_startup", "must be at least 1");
        }
        if o.n_candidates == Some(0) {
            return bad("n_candidates", "must be at least 1");
        }
        if o.gamma.is_some_and(|g| !(g > 0.0 && g < 1.0)) {
            return bad("gamma", "must be in (0, 1)");
        }
        if o.prior_weight.is_some_and(|w| !(w > 0.0 && w.is_finite())) {
            return bad("prior_weight", "must be a positive number");
        }
        for (name, v) in [
            ("bandwidth_factor", o.bandwidth_factor),
            ("min_bandwidth_factor", o.min_bandwidth_factor),
        ] {
            if v.is_some_and(|v| !(v > 0.0 && v <= 1.0)) {
                return bad(name, "must be in (0, 1]");
            }
        }
        time_penalty::parse_option("tpe", o.time_penalty.as_deref())?;
        Ok(o)
    }
}

impl Plugin for TpePlugin {
    fn describe() -> PluginDescription {
        PluginDescription {
            name: "tpe".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "Tree-structured Parzen estimators: univariate (TPE/EI) and multivariate (TPE/MV)"
                    .into(),
            arms: ARMS.iter().map(|a| a.to_string()).collect(),
            strategies: vec![],
            stoppers: Vec::new(),
            schedulers: Vec::new(),
        }
    }

    fn validate(kind: ComponentKind, name: &str, options_json: &str) -> Result<(), String> {
        if kind != ComponentKind::Arm || name != "TPE" {
            return Err(format!("the tpe plugin has no {kind:?} named '{name}'"));
        }
        Options::parse(options_json).map(|_| ())
    }

    fn open_arm(config: ArmConfig) -> Result<Box<dyn ArmSession>, String> {
        if config.model != "TPE" {
            return Err(format!("the tpe plugin has no model '{}'", config.model));
        }
        Ok(Box::new(TpeSession::open(config)?))
    }
}

/// Where each parameter lives in the encoding.
#[derive(Debug, Clone)]
struct Layout {
    /// Encoded column of each numeric parameter.
    numeric: Vec<usize>,
    /// (offset, options) of each categorical parameter.
    categorical: Vec<(usize, usize)>,
}

impl Layout {
    fn of(space: &SpaceSpec) -> Self {
        let mut layout = Layout {
            numeric: Vec::new(),
            categorical: Vec::new(),
        };
        for p in &space.params {
            match p.kind {
                ParamKind::Categorical => layout
                    .categorical
                    .push((p.offset as usize, p.width as usize)),
                _ => layout.numeric.push(p.offset as usize),
            }
        }
        layout
    }

    fn split(&self, x: &[f64]) -> Split {
        Split {
            numeric: self.numeric.iter().map(|&c| x[c].clamp(0.0, 1.0)).collect(),
            categorical: self
                .categorical
                .iter()
                .map(|&(at, w)| {
                    (0..w)
                        .max_by(|a, b| x[at + a].total_cmp(&x[at + b]).then(b.cmp(a)))
                        .unwrap_or(0) as u32
                })
                .collect(),
        }
    }

    fn join(&self, s: &Split, dims: usize) -> Vec<f64> {
        let mut x = vec![0.0; dims];
        for (&c, v) in self.numeric.iter().zip(&s.numeric) {
            x[c] = *v;
        }
        for (&(at, _), o) in self.categorical.iter().zip(&s.categorical) {
            x[at + *o as usize] = 1.0;
        }
        x
    }

    fn option_counts(&self) -> Vec<usize> {
        self.categorical.iter().map(|&(_, w)| w).collect()
    }
}

/// A TPE arm session.
#[derive(Clone)]
pub struct TpeSession {
    space: SpaceSpec,
    dims: usize,
    layout: Layout,
    multivariate: bool,
    options: Options,
    seed: u64,
    pool: Matrix,
    /// Observations sorted by value (ascending), split by kind.
    sorted: Vec<Split>,
    /// Arrival index of each sorted observation.
    arrival: Vec<usize>,
    /// Their values, ascending.
    values: Vec<f64>,
    /// Per numeric column, (value, arrival index) of every observation in increasing order
    /// of the column's value (ties by arrival): the univariate bandwidths need each
    /// column sorted, and keeping it sorted as observations arrive saves a sort per call.
    by_column: Vec<Vec<(f64, usize)>>,
    /// l and g of the last proposal, whose storage the next one reuses.
    estimators: (Parzen, Parzen),
    /// Observed evaluation times and the time penalty of the acquisition.
    time: TimeAware,
}

impl TpeSession {
    /// Opens a session; the acquisition (`EI` or `MV`) is given per proposal.
    pub fn open(config: ArmConfig) -> Result<Self, String> {
        let options = Options::parse(&config.options_json)?;
        let space = SpaceSpec::from_json(&config.space_json)?;
        let dims = space.encoded_dims();
        Ok(TpeSession {
            time: TimeAware::from_option("tpe", options.time_penalty.as_deref(), dims)?,
            dims,
            layout: Layout::of(&space),
            space,
            multivariate: false,
            options,
            seed: config.seed,
            pool: Matrix::default(),
            sorted: Vec::new(),
            arrival: Vec::new(),
            values: Vec::new(),
            by_column: Vec::new(),
            estimators: Default::default(),
        })
    }

    /// Refits l (the good points) and g (the rest and the pending points) into `l`, `g`.
    fn fit_estimators(&self, pending: &Matrix, l: &mut Parzen, g: &mut Parzen) {
        let n = self.values.len();
        let gamma = self.options.gamma.unwrap_or(0.1);
        let below = ((gamma * n as f64).ceil() as usize).clamp(1, 25).min(n - 1);
        let defaults = Shape::new(if self.multivariate {
            Bandwidth::Scott
        } else {
            Bandwidth::Neighbours
        });
        let shape = Shape {
            bandwidth_factor: self
                .options
                .bandwidth_factor
                .unwrap_or(defaults.bandwidth_factor),
            min_bandwidth_factor: self
                .options
                .min_bandwidth_factor
                .unwrap_or(defaults.min_bandwidth_factor),
            prior_weight: self.options.prior_weight.unwrap_or(defaults.prior_weight),
            ..defaults
        };
        let counts = self.layout.option_counts();
        let good: Vec<&Split> = self.sorted[..below].iter().collect();
        let liars: Vec<Split> = pending.iter_rows().map(|p| self.layout.split(p)).collect();
        let bad: Vec<&Split> = self.sorted[below..].iter().chain(&liars).collect();
        let mut bad_arrival = self.arrival[below..].to_vec();
        bad_arrival.extend((0..liars.len()).map(|i| n + i));
        let (good_orders, bad_orders) = if self.multivariate {
            (None, None)
        } else {
            let (g, b) = self.column_orders(below, &good, &bad);
            (Some(g), Some(b))
        };
        l.refit(
            &good,
            &recency_weights(&self.arrival[..below]),
            &counts,
            &shape,
            good_orders,
        );
        g.refit(
            &bad,
            &recency_weights(&bad_arrival),
            &counts,
            &shape,
            bad_orders,
        );
    }

    /// For each numeric column, the order of the good (the `below` best) and of the bad
    /// points (the rest, then the liars) by that column's value, ties by index: what a sort
    /// of each group would give, read off the kept column orders in O(n).
    fn column_orders(
        &self,
        below: usize,
        good: &[&Split],
        bad: &[&Split],
    ) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
        let mut rank_of = vec![0; self.arrival.len()];
        for (rank, &a) in self.arrival.iter().enumerate() {
            rank_of[a] = rank;
        }
        let observed_bad = self.values.len() - below;
        let mut good_orders = Vec::with_capacity(self.by_column.len());
        let mut bad_orders = Vec::with_capacity(self.by_column.len());
        for (j, column) in self.by_column.iter().enumerate() {
            let mut good_order = Vec::with_capacity(below);
            let mut bad_order = Vec::with_capacity(bad.len());
            for &(_, a) in column {
                let rank = rank_of[a];
                if rank < below {
                    good_order.push(rank);
                } else {
                    bad_order.push(rank - below);
                }
            }
            // Liars go after the observations of equal value (their indices are larger).
            for (t, liar) in bad[observed_bad..].iter().enumerate() {
                let v = liar.numeric[j];
                let at = bad_order.partition_point(|&i| bad[i].numeric[j] <= v);
                bad_order.insert(at, observed_bad + t);
            }
            ties_by_index(&mut good_order, |i| good[i].numeric[j]);
            ties_by_index(&mut bad_order, |i| bad[i].numeric[j]);
            good_orders.push(good_order);
            bad_orders.push(bad_order);
        }
        (good_orders, bad_orders)
    }

    /// Draws candidates from l: joint draws (MV), or the best value of each column on its
    /// own (univariate, one assembled point per draw round).
    fn draw(&self, l: &Parzen, g: &Parzen, rng: &mut ChaCha8Rng) -> Vec<Split> {
        let k = self.options.n_candidates.unwrap_or(24);
        if self.multivariate {
            return (0..k).map(|_| l.sample_joint(rng)).collect();
        }
        let numeric = (0..self.layout.numeric.len())
            .map(|j| {
                (0..k)
                    .map(|_| l.sample_numeric_column(j, rng))
                    .map(|x| (l.log_density_numeric(j, x) - g.log_density_numeric(j, x), x))
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .map_or(0.5, |(_, x)| x)
            })
            .collect();
        let categorical = (0..self.layout.categorical.len())
            .map(|c| {
                (0..k)
                    .map(|_| l.sample_categorical_column(c, rng))
                    .map(|o| {
                        (
                            l.log_density_categorical(c, o) - g.log_density_categorical(c, o),
                            o,
                        )
                    })
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .map_or(0, |(_, o)| o)
            })
            .collect();
        vec![Split {
            numeric,
            categorical,
        }]
    }

    fn score(&self, l: &Parzen, g: &Parzen, s: &Split) -> f64 {
        if self.multivariate {
            l.log_density(s) - g.log_density(s)
        } else {
            (0..s.numeric.len())
                .map(|j| {
                    l.log_density_numeric(j, s.numeric[j]) - g.log_density_numeric(j, s.numeric[j])
                })
                .sum::<f64>()
                + (0..s.categorical.len())
                    .map(|c| {
                        l.log_density_categorical(c, s.categorical[c])
                            - g.log_density_categorical(c, s.categorical[c])
                    })
                    .sum::<f64>()
        }
    }

    /// Nadaraya–Watson mean and variance of the values at `x`, with the multivariate kernel.
    fn regress(&self, x: &Split) -> (f64, f64) {
        let n = self.values.len();
        let scott =
            0.2 * (n.max(1) as f64).powf(-1.0 / (x.numeric.len() + x.categorical.len() + 4) as f64);
        let logs: Vec<f64> = self
            .sorted
            .iter()
            .map(|s| {
                -0.5 * s
                    .numeric
                    .iter()
                    .zip(&x.numeric)
                    .map(|(a, b)| ((a - b) / scott).powi(2))
                    .sum::<f64>()
                    + s.categorical
                        .iter()
                        .zip(&x.categorical)
                        .map(|(a, b)| {
                            if a == b {
                                0.0
                            } else {
                                (1.0 - parzen::CATEGORICAL_KEEP).ln()
                            }
                        })
                        .sum::<f64>()
            })
            .collect();
        let total = log_sum_exp(logs.iter().copied());
        let w: Vec<f64> = logs.iter().map(|l| (l - total).exp()).collect();
        let mean: f64 = w.iter().zip(&self.values).map(|(w, y)| w * y).sum();
        let var: f64 = w
            .iter()
            .zip(&self.values)
            .map(|(w, y)| w * (y - mean).powi(2))
            .sum();
        (mean, var)
    }

    fn nearest_candidate(&self, point: &[f64], candidates: &[u32]) -> u32 {
        candidates
            .iter()
            .copied()
            .min_by(|a, b| {
                let da = sq_dist(self.pool.row(*a as usize), point);
                let db = sq_dist(self.pool.row(*b as usize), point);
                da.total_cmp(&db).then(a.cmp(b))
            })
            .expect("candidates are not empty")
    }
}

/// Optuna's weights of a group, from its members' arrival indices: the newest 25 weigh 1,
/// older ones ramp linearly from 1/k (oldest) towards 1, so the estimators follow the
/// search as it moves.
fn recency_weights(arrival: &[usize]) -> Vec<f64> {
    let k = arrival.len();
    if k <= 25 {
        return vec![1.0; k];
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by_key(|&i| arrival[i]);
    let ramped = k - 25;
    let mut w = vec![1.0; k];
    for (rank, &i) in order.iter().take(ramped).enumerate() {
        w[i] = if ramped == 1 {
            1.0 / k as f64
        } else {
            1.0 / k as f64 + (1.0 - 1.0 / k as f64) * rank as f64 / (ramped - 1) as f64
        };
    }
    w
}

/// Sorts each run of equal values in `order` by index (runs are rare and short).
fn ties_by_index(order: &mut [usize], value: impl Fn(usize) -> f64) {
    let mut start = 0;
    while start < order.len() {
        let v = value(order[start]);
        let mut end = start + 1;
        while end < order.len() && value(order[end]) == v {
            end += 1;
        }
        if end - start > 1 {
            order[start..end].sort_unstable();
        }
        start = end;
    }
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

impl ArmSession for TpeSession {
    fn set_pool(&mut self, pool: Matrix) -> Result<(), String> {
        self.pool = checked_pool(pool, self.dims)?;
        Ok(())
    }

    fn tell(&mut self, observations: Observations) -> Result<(), String> {
        for (x, value) in final_observations(&observations, self.dims)? {
            // TPE only ranks values: a monotone transform (LE, HLE) would change nothing.
            // Stable: equal values keep their arrival order.
            let at = self.values.partition_point(|v| *v <= value);
            self.values.insert(at, value);
            let split = self.layout.split(x);
            let arrival = self.arrival.len();
            self.by_column.resize_with(split.numeric.len(), Vec::new);
            for (column, &v) in self.by_column.iter_mut().zip(&split.numeric) {
                let place = column.partition_point(|&(w, _)| w <= v);
                column.insert(place, (v, arrival));
            }
            self.sorted.insert(at, split);
            self.arrival.insert(at, self.arrival.len());
        }
        self.time.observe(&observations);
        Ok(())
    }

    fn propose(&mut self, request: ProposeRequest) -> Result<Vec<Proposed>, String> {
        self.multivariate = match request.acquisition.as_str() {
            "EI" => false,
            "MV" => true,
            other => return Err(format!("unknown TPE acquisition '{other}' (EI, MV)")),
        };
        check_request(&request, self.pool.rows())?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ request.seed.rotate_left(17));
        let startup = self.options.n_startup.unwrap_or(10).max(2);
        if !designed(self.values.len(), request.pending.rows(), startup) {
            return Ok(initial_design(&request, &self.space, &mut rng));
        }
        let pending = if request.pending.cols as usize == self.dims {
            request.pending.clone()
        } else {
            Matrix::empty(self.dims as u32)
        };
        let (mut l, mut g) = std::mem::take(&mut self.estimators);
        self.fit_estimators(&pending, &mut l, &mut g);
        let out = self.propose_from(&request, &l, &g, &mut rng);
        self.estimators = (l, g);
        Ok(out)
    }

    fn predict(&mut self, points: Matrix) -> Result<Prediction, String> {
        points.check_shape()?;
        if self.values.is_empty() {
            return Err("TPE needs observations before it predicts".into());
        }
        let (mean, variance) = points
            .iter_rows()
            .map(|p| self.regress(&self.layout.split(p)))
            .unzip();
        Ok(Prediction { mean, variance })
    }
}

impl TpeSession {
    /// Up to `request.n` proposals from the fitted l and g.
    fn propose_from(
        &self,
        request: &ProposeRequest,
        l: &Parzen,
        g: &Parzen,
        rng: &mut ChaCha8Rng,
    ) -> Vec<Proposed> {
        let mut remaining = request.candidates.clone();
        let mut out = Vec::new();
        for _ in 0..request.n {
            let draws = self.draw(l, g, rng);
            let mut scored: Vec<(f64, Option<u32>, Vec<f64>)> = draws
                .into_iter()
                .filter_map(|s| {
                    let mut x = self.layout.join(&s, self.dims);
                    snap(&self.space, &mut x);
                    if request.allow_off_pool {
                        return Some((self.score(l, g, &self.layout.split(&x)), None, x));
                    }
                    if remaining.is_empty() {
                        return None;
                    }
                    let c = self.nearest_candidate(&x, &remaining);
                    let row = self.pool.row(c as usize).to_vec();
                    Some((self.score(l, g, &self.layout.split(&row)), Some(c), row))
                })
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            if let Some(order) = self
                .time
                .order(scored.iter().map(|s| (s.0, s.2.as_slice())))
            {
                permute(&mut scored, &order);
            }
            let Some((acquisition, index, x)) = scored.into_iter().next() else {
                break;
            };
            remaining.retain(|c| Some(*c) != index);
            let (mean, variance) = self.regress(&self.layout.split(&x));
            out.push(Proposed {
                pool_index: index,
                point: if index.is_some() { Vec::new() } else { x },
                acquisition,
                mean,
                variance,
            });
        }
        out
    }
}

hpo_plugin_api::export_plugin!(TpePlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use hpo_plugin_api::types::ObservationStatus;

    fn space_1d() -> SpaceSpec {
        SpaceSpec::unit_cube(1)
    }

    fn open(space: &SpaceSpec, options: &str) -> TpeSession {
        TpeSession::open(ArmConfig {
            model: "TPE".into(),
            space_json: serde_json::to_string(space).unwrap(),
            options_json: options.into(),
            seed: 5,
        })
        .unwrap()
    }

    fn request(acq: &str, seed: u64) -> ProposeRequest {
        ProposeRequest {
            acquisition: acq.into(),
            candidates: vec![],
            pending: Matrix::empty(1),
            n: 1,
            seed,
            allow_off_pool: true,
        }
    }

    #[test]
    fn kept_column_orders_equal_a_fresh_sort_with_ties_and_liars() {
        let mut s = open(&space_1d(), "{}");
        // Values on a coarse grid (many ties in x), costs in arrival order.
        let xs: Vec<f64> = (0..60).map(|i| ((i * 7) % 11) as f64 / 10.0).collect();
        let ys: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| (x - 0.3).abs() + (i % 4) as f64 * 0.01)
            .collect();
        s.tell(Observations {
            x: Matrix::new(1, xs.clone()).unwrap(),
            y: ys,
            cost: vec![1.0; 60],
            status: vec![ObservationStatus::Final; 60],
        })
        .unwrap();
        let below = 6;
        let liars = [s.layout.split(&[0.4]), s.layout.split(&[0.0])];
        let good: Vec<&Split> = s.sorted[..below].iter().collect();
        let bad: Vec<&Split> = s.sorted[below..].iter().chain(&liars).collect();
        let (g, b) = s.column_orders(below, &good, &bad);
        let values = |group: &[&Split]| group.iter().map(|p| p.numeric[0]).collect::<Vec<_>>();
        assert_eq!(g[0], parzen::sorted_order(&values(&good)));
        assert_eq!(b[0], parzen::sorted_order(&values(&bad)));
    }

    /// 1-d, good region around 0.8: after 40 spread observations, proposals concentrate.
    #[test]
    fn proposals_concentrate_in_the_good_region() {
        for acq in ["EI", "MV"] {
            let mut s = open(&space_1d(), "{}");
            let xs: Vec<f64> = (0..40).map(|i| (i as f64 * 0.618_034) % 1.0).collect();
            let ys: Vec<f64> = xs.iter().map(|x| (x - 0.8) * (x - 0.8)).collect();
            s.tell(Observations {
                x: Matrix::new(1, xs).unwrap(),
                y: ys,
                cost: vec![0.0; 40],
                status: vec![ObservationStatus::Final; 40],
            })
            .unwrap();
            let near = (0..100)
                .filter(|&seed| {
                    let p = s.propose(request(acq, seed)).unwrap();
                    (p[0].point[0] - 0.8).abs() < 0.1
                })
                .count();
            assert!(
                near >= 80,
                "{acq}: {near}/100 proposals within 0.1 of the optimum"
            );
        }
    }
}
