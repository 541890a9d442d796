//! The `rf` plugin: arms `RF/{EI,PI,UCB}`, `RF-LE/*` and `RF-HLE/*` (the seed's `RF-ALE` is
//! `RF-HLE`): a SMAC-style random forest ([`forest`]) on the observed values, optionally
//! transformed (LE, HLE), with the acquisitions of `hpo-kit` over the remaining pool.
//!
//! One session per model serves its three acquisitions: the forest is refitted once per
//! history version and shared. Until `initial_design` points (default 10) are observed or
//! in flight (and two observed: `hpo_kit::design::designed`) the arm proposes `hpo-kit`'s
//! initial design (the first remaining rows of the host's Sobol pool, or random rows of a
//! table), with NaN mean and variance.

pub mod forest;

use hpo_kit::acquisition::Acquisition;
use hpo_kit::checks::{bad_option, check_request, checked_pool, final_observations, parse_options};
use hpo_kit::design::{designed, initial_design};
use hpo_kit::encoding::snap;
use hpo_kit::liar::Liar;
use hpo_kit::local_search::pattern_search;
use hpo_kit::time_penalty::{self, TimeAware, permute};
use hpo_kit::transform::{DEFAULT_ALPHA, Transform};
use hpo_plugin_api::sdk::{ArmSession, Plugin};
use hpo_plugin_api::space::SpaceSpec;
use hpo_plugin_api::types::{
    ArmConfig, ComponentKind, Matrix, Observations, PluginDescription, Prediction, ProposeRequest,
    Proposed,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use forest::{Forest, ForestParams};
use hpo_kit::log_scale::LogScale;

/// The plugin type exported below.
pub struct RfPlugin;

/// Models this plugin provides.
pub const MODELS: [&str; 4] = ["RF", "RF-LE", "RF-HLE", "RF-ALE"];
/// Acquisitions of every model.
pub const ACQUISITIONS: [&str; 3] = ["EI", "PI", "UCB"];
/// Acquisition evaluations of one local search.
const LOCAL_SEARCH_BUDGET: usize = 200;
/// Random points scored when the pool is empty and points off it are allowed.
const OFF_POOL_SAMPLES: usize = 2048;

/// The run configuration's `rf` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    /// Observations before the forest is used; default 10 (at least 2).
    initial_design: Option<usize>,
    /// Local searches on the acquisition when points off the pool are allowed (from the
    /// best candidates, plus the three best observations); default 10, 0 turns it off.
    local_search: Option<usize>,
    n_trees: Option<usize>,
    max_features: Option<f64>,
    min_samples_split: Option<usize>,
    min_samples_leaf: Option<usize>,
    max_depth: Option<usize>,
    bootstrap: Option<bool>,
    /// HLE threshold.
    alpha: Option<f64>,
    /// UCB's weight of σ.
    kappa: Option<f64>,
    /// EI/PI trade-off.
    xi: Option<f64>,
    /// Fit the forest to SMAC's log-scaled costs (see [`hpo_kit::log_scale`]); default true.
    log_scaled: Option<bool>,
    /// Probability that a proposal is a random configuration instead of the acquisition's
    /// best (SMAC interleaves 20 %); default 0.2.
    random_fraction: Option<f64>,
    /// Time penalty of the acquisition (`ET_PS`, `ET_PLS`, `ET_L<rate>`, `ET_T<k>`, `NONE`;
    /// see [`hpo_kit::time_penalty`]); default none.
    time_penalty: Option<String>,
    /// What a point being evaluated (a parallel run's pending trial) is taken to have
    /// observed: `mean` (the forest's prediction, the default) or `incumbent` (the best
    /// value so far); see [`hpo_kit::liar`].
    liar: Option<String>,
}

impl Options {
    fn parse(json: &str) -> Result<Self, String> {
        let o: Options = parse_options("rf", json)?;
        let bad = |name: &str, why: &str| bad_option("rf", name, why);
        if o.initial_design == Some(0) {
            return bad("initial_design", "must be at least 1");
        }
        if o.n_trees == Some(0) {
            return bad("n_trees", "must be at least 1");
        }
        if o.max_features.is_some_and(|f| !(f > 0.0 && f <= 1.0)) {
            return bad("max_features", "must be in (0, 1]");
        }
        if o.min_samples_leaf == Some(0) {
            return bad("min_samples_leaf", "must be at least 1");
        }
        if o.alpha.is_some_and(|a| !(a > 0.0 && a < 1.0)) {
            return bad("alpha", "must be in (0, 1)");
        }
        if o.kappa.is_some_and(|k| !(k >= 0.0 && k.is_finite())) {
            return bad("kappa", "must be a non-negative number");
        }
        if o.random_fraction.is_some_and(|p| !(0.0..1.0).contains(&p)) {
            return bad("random_fraction", "must be in [0, 1)");
        }
        time_penalty::parse_option("rf", o.time_penalty.as_deref())?;
        Liar::parse_option("rf", o.liar.as_deref())?;
        Ok(o)
    }

    fn forest(&self) -> ForestParams {
        let d = ForestParams::default();
        ForestParams {
            trees: self.n_trees.unwrap_or(d.trees),
            max_features: self.max_features.unwrap_or(d.max_features),
            min_samples_split: self.min_samples_split.unwrap_or(d.min_samples_split),
            min_samples_leaf: self.min_samples_leaf.unwrap_or(d.min_samples_leaf),
            max_depth: self.max_depth.unwrap_or(d.max_depth),
            bootstrap: self.bootstrap.unwrap_or(d.bootstrap),
        }
    }

    fn acquisition(&self, name: &str) -> Result<Acquisition, String> {
        Ok(match Acquisition::parse(name)? {
            Acquisition::Ei { .. } => Acquisition::Ei {
                xi: self.xi.unwrap_or(0.0),
            },
            Acquisition::Pi { .. } => Acquisition::Pi {
                xi: self.xi.unwrap_or(0.0),
            },
            Acquisition::Ucb { .. } => Acquisition::Ucb {
                kappa: self.kappa.unwrap_or(1.0),
            },
        })
    }
}

impl Plugin for RfPlugin {
    fn describe() -> PluginDescription {
        PluginDescription {
            name: "rf".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "SMAC-style random forest with EI/PI/UCB (raw, LE, HLE outputs)".into(),
            arms: MODELS
                .iter()
                .flat_map(|m| ACQUISITIONS.iter().map(move |a| format!("{m}/{a}")))
                .collect(),
            strategies: vec![],
            stoppers: Vec::new(),
            schedulers: Vec::new(),
        }
    }

    fn validate(kind: ComponentKind, name: &str, options_json: &str) -> Result<(), String> {
        if kind != ComponentKind::Arm || !MODELS.contains(&name) {
            return Err(format!("the rf plugin has no {kind:?} named '{name}'"));
        }
        Options::parse(options_json).map(|_| ())
    }

    fn open_arm(config: ArmConfig) -> Result<Box<dyn ArmSession>, String> {
        if !MODELS.contains(&config.model.as_str()) {
            return Err(format!("the rf plugin has no model '{}'", config.model));
        }
        let options = Options::parse(&config.options_json)?;
        let space = SpaceSpec::from_json(&config.space_json)?;
        let transform = Transform::of_model(&config.model, options.alpha.unwrap_or(DEFAULT_ALPHA));
        let dims = space.encoded_dims();
        Ok(Box::new(RfSession {
            time: TimeAware::from_option("rf", options.time_penalty.as_deref(), dims)?,
            dims,
            space,
            options,
            transform,
            seed: config.seed,
            pool: Matrix::default(),
            x: Vec::new(),
            costs: Vec::new(),
            y: Vec::new(),
            fitted: None,
        }))
    }
}

struct RfSession {
    space: SpaceSpec,
    dims: usize,
    options: Options,
    transform: Transform,
    seed: u64,
    pool: Matrix,
    /// Encoded points of the successful observations, row-major.
    x: Vec<f64>,
    /// Their costs as observed.
    costs: Vec<f64>,
    /// The costs transformed (LE, HLE) as the whole history reads them.
    y: Vec<f64>,
    /// The forest of the current history (refitted when the history grows), and the
    /// encoding of the costs it was fitted to.
    fitted: Option<Fitted>,
    /// Observed evaluation times and the time penalty of the acquisition.
    time: TimeAware,
}

/// A forest fitted to one history.
struct Fitted {
    /// History length it was fitted at.
    n: usize,
    forest: Forest,
    /// The cost encoding (`None`: the forest models the costs as they are).
    scale: Option<LogScale>,
}

impl Fitted {
    /// The forest's mean and variance at `x`, in its own (encoded) units.
    fn predict(&self, x: &[f64]) -> (f64, f64) {
        self.forest.predict(x)
    }

    /// Mean and variance at `x` in the caller's units.
    fn predict_costs(&self, x: &[f64]) -> (f64, f64) {
        self.to_costs(self.forest.predict(x))
    }

    fn to_costs(&self, (m, v): (f64, f64)) -> (f64, f64) {
        match &self.scale {
            Some(scale) => scale.decode_moments(m, v),
            None => (m, v),
        }
    }

    /// A cost in the forest's units.
    fn encode(&self, cost: f64) -> f64 {
        self.scale.map_or(cost, |s| s.encode(cost))
    }
}

impl RfSession {
    /// Refits the forest when the history grew; `None` during the initial design.
    fn fitted(&mut self) -> Option<&Fitted> {
        self.update_forest(0);
        self.fitted.as_ref()
    }

    /// Refits the forest when the history grew (not during the initial design, with
    /// `pending` points in flight besides it).
    fn update_forest(&mut self, pending: usize) {
        let initial = self.options.initial_design.unwrap_or(10).max(2);
        if !designed(self.y.len(), pending, initial) {
            return;
        }
        if self.fitted.as_ref().is_none_or(|f| f.n != self.y.len()) {
            let seed = self.seed ^ (self.y.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let scale = self
                .options
                .log_scaled
                .unwrap_or(true)
                .then(|| LogScale::of(&self.y));
            let targets: Vec<f64> = match &scale {
                Some(s) => self.y.iter().map(|v| s.encode(*v)).collect(),
                None => self.y.clone(),
            };
            let forest = Forest::fit(&self.x, self.dims, &targets, self.options.forest(), seed);
            self.fitted = Some(Fitted {
                n: self.y.len(),
                forest,
                scale,
            });
        }
    }

    /// A forest fitted as if the `pending` points (being evaluated) had been observed (at
    /// the forest's prediction, or at the incumbent's value: the `liar` option), so that the
    /// next proposal looks elsewhere, and the incumbent counting those values
    /// ([`Liar::incumbent`], in the forest's units); `None` when nothing is pending or the
    /// forest is not fitted yet.
    fn with_liars(&self, pending: &Matrix) -> Option<(Fitted, f64)> {
        let fitted = self.fitted.as_ref()?;
        if pending.rows() == 0 || pending.cols as usize != self.dims {
            return None;
        }
        let liar = Liar::parse_option("rf", self.options.liar.as_deref()).ok()?;
        let incumbent = fitted.encode(self.y.iter().copied().fold(f64::INFINITY, f64::min));
        let mut x = self.x.clone();
        x.extend_from_slice(&pending.data);
        let lies: Vec<f64> = pending
            .iter_rows()
            .map(|p| liar.value(fitted.predict(p).0, incumbent))
            .collect();
        let mut targets: Vec<f64> = self.y.iter().map(|v| fitted.encode(*v)).collect();
        targets.extend(&lies);
        let seed = self.seed ^ (targets.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let forest = Fitted {
            n: fitted.n,
            forest: Forest::fit(&x, self.dims, &targets, self.options.forest(), seed),
            scale: fitted.scale,
        };
        Some((forest, Liar::incumbent(incumbent, &lies)))
    }
}

impl ArmSession for RfSession {
    fn set_pool(&mut self, pool: Matrix) -> Result<(), String> {
        self.pool = checked_pool(pool, self.dims)?;
        Ok(())
    }

    fn tell(&mut self, observations: Observations) -> Result<(), String> {
        for (x, value) in final_observations(&observations, self.dims)? {
            self.x.extend_from_slice(x);
            self.costs.push(value);
        }
        self.y = self.transform.apply_all(&self.costs);
        self.time.observe(&observations);
        Ok(())
    }

    fn propose(&mut self, request: ProposeRequest) -> Result<Vec<Proposed>, String> {
        let acquisition = self.options.acquisition(&request.acquisition)?;
        let n = request.n as usize;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ request.seed.rotate_left(17));
        let best_cost = self.y.iter().copied().fold(f64::INFINITY, f64::min);
        check_request(&request, self.pool.rows())?;
        // Score the candidates, or random points off the pool when there are none.
        let points: Vec<(Option<u32>, Vec<f64>)> = if request.candidates.is_empty() {
            (0..OFF_POOL_SAMPLES)
                .map(|_| {
                    let mut p: Vec<f64> = (0..self.dims).map(|_| rng.random::<f64>()).collect();
                    snap(&self.space, &mut p);
                    (None, p)
                })
                .collect()
        } else {
            request
                .candidates
                .iter()
                .map(|&c| (Some(c), self.pool.row(c as usize).to_vec()))
                .collect()
        };
        // Local search starts besides the best candidates: the best observed points.
        let space = self.space.clone();
        let local_starts = self.options.local_search.unwrap_or(10);
        let mut by_value: Vec<usize> = (0..self.y.len()).collect();
        by_value.sort_by(|a, b| self.y[*a].total_cmp(&self.y[*b]));
        let incumbents: Vec<Vec<f64>> = by_value
            .iter()
            .take(3)
            .map(|&i| self.x[i * self.dims..(i + 1) * self.dims].to_vec())
            .collect();
        self.update_forest(request.pending.rows());
        let liars = self.with_liars(&request.pending);
        let fitted = self.fitted.as_ref().map(|f| (f, f.encode(best_cost)));
        let Some((forest, best)) = liars.as_ref().map(|(f, b)| (f, *b)).or(fitted) else {
            return Ok(initial_design(&request, &space, &mut rng));
        };
        // SMAC's interleaving: now and then a random configuration, so that the forest's
        // blind spots get looked at.
        let random_fraction = self.options.random_fraction.unwrap_or(0.2);
        if rng.random::<f64>() < random_fraction && !points.is_empty() {
            let pick = rng.random_range(0..points.len());
            let (mean, variance) = forest.predict(&points[pick].1);
            let acquisition_value = acquisition.value(mean, variance, best);
            let (mean, variance) = forest.to_costs((mean, variance));
            return Ok(vec![proposed(
                &points[pick],
                acquisition_value,
                mean,
                variance,
            )]);
        }
        let mut points = points;
        let mut scored: Vec<(f64, usize, f64, f64)> = points
            .iter()
            .enumerate()
            .map(|(i, (_, p))| {
                let (mean, variance) = forest.predict(p);
                (acquisition.value(mean, variance, best), i, mean, variance)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        // With a time penalty, the local search polishes the penalized winner only.
        let penalty_order = self
            .time
            .order(scored.iter().map(|s| (s.0, points[s.1].1.as_slice())));
        let penalized = penalty_order.is_some();
        if let Some(order) = penalty_order {
            permute(&mut scored, &order);
        }
        let (local_starts, incumbents) = if penalized {
            (local_starts.min(1), Vec::new())
        } else {
            (local_starts, incumbents)
        };
        if request.allow_off_pool && local_starts > 0 && !scored.is_empty() {
            // SMAC-style: the pool's spacing limits how close a candidate gets to the
            // optimum; a pattern search on the acquisition goes further.
            let starts: Vec<Vec<f64>> = scored
                .iter()
                .take(local_starts)
                .map(|s| points[s.1].1.clone())
                .chain(incumbents)
                .collect();
            let refined = starts
                .iter()
                .map(|s| {
                    pattern_search(&space, s, LOCAL_SEARCH_BUDGET, |p| {
                        let (mean, variance) = forest.predict(p);
                        acquisition.value(mean, variance, best)
                    })
                })
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((p, a)) = refined
                && a > scored[0].0
            {
                let (mean, variance) = forest.predict(&p);
                points.push((None, p));
                scored.insert(0, (a, points.len() - 1, mean, variance));
            }
        }
        Ok(scored
            .into_iter()
            .take(n)
            .map(|(a, i, mean, variance)| {
                let (mean, variance) = forest.to_costs((mean, variance));
                proposed(&points[i], a, mean, variance)
            })
            .collect())
    }

    fn predict(&mut self, points: Matrix) -> Result<Prediction, String> {
        let transform = self.transform.fit(&self.costs);
        let Some(forest) = self.fitted() else {
            return Err("the forest needs its initial design before it predicts".into());
        };
        // In cost units: the forest's units, then back through LE/HLE.
        let (mean, variance) = points
            .iter_rows()
            .map(|p| {
                let (m, v) = forest.predict_costs(p);
                transform.invert_moments(m, v)
            })
            .unzip();
        Ok(Prediction { mean, variance })
    }
}

fn proposed(
    point: &(Option<u32>, Vec<f64>),
    acquisition: f64,
    mean: f64,
    variance: f64,
) -> Proposed {
    Proposed {
        pool_index: point.0,
        point: if point.0.is_some() {
            Vec::new()
        } else {
            point.1.clone()
        },
        acquisition,
        mean,
        variance,
    }
}

hpo_plugin_api::export_plugin!(RfPlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use hpo_plugin_api::types::ObservationStatus;

    fn open(model: &str, options: &str) -> Box<dyn ArmSession> {
        let space = SpaceSpec::unit_cube(1);
        RfPlugin::open_arm(ArmConfig {
            model: model.into(),
            space_json: serde_json::to_string(&space).unwrap(),
            options_json: options.into(),
            seed: 4,
        })
        .unwrap()
    }

    fn request(acq: &str, candidates: Vec<u32>, seed: u64) -> ProposeRequest {
        ProposeRequest {
            acquisition: acq.into(),
            candidates,
            pending: Matrix::empty(1),
            n: 1,
            seed,
            allow_off_pool: false,
        }
    }

    #[test]
    fn pending_points_change_the_proposal() {
        let (mut s, candidates) = session_with_history("RF");
        let first = s.propose(request("EI", candidates.clone(), 1)).unwrap();
        let row = first[0].pool_index.unwrap();
        let mut lying = request(
            "EI",
            candidates.iter().copied().filter(|c| *c != row).collect(),
            1,
        );
        let blind = s.propose(lying.clone()).unwrap();
        lying.pending = Matrix::new(1, vec![row as f64 / 100.0]).unwrap();
        let aware = s.propose(lying).unwrap();
        // The forest is as sure at the pending point as at an observation: the next
        // proposal moves off it.
        let gap = |p: &[Proposed]| (p[0].pool_index.unwrap() as f64 - row as f64).abs();
        assert!(
            gap(&aware) >= gap(&blind) && aware != blind,
            "row {row}: blind {blind:?}, aware {aware:?}"
        );
    }

    /// A 1-d problem whose good region is x near 0.8.
    fn session_with_history(model: &str) -> (Box<dyn ArmSession>, Vec<u32>) {
        let mut s = open(
            model,
            r#"{"n_trees": 20, "min_samples_leaf": 1, "min_samples_split": 2}"#,
        );
        let pool: Vec<f64> = (0..101).map(|i| i as f64 / 100.0).collect();
        s.set_pool(Matrix::new(1, pool).unwrap()).unwrap();
        let xs: Vec<f64> = (0..11).map(|i| i as f64 / 10.0).collect();
        let ys: Vec<f64> = xs.iter().map(|x| 0.05 + (x - 0.8) * (x - 0.8)).collect();
        s.tell(Observations {
            x: Matrix::new(1, xs.clone()).unwrap(),
            y: ys,
            cost: vec![1.0; 11],
            status: vec![ObservationStatus::Final; 11],
        })
        .unwrap();
        let observed: Vec<u32> = (0..11).map(|i| i * 10).collect();
        let candidates = (0..101).filter(|c| !observed.contains(c)).collect();
        (s, candidates)
    }

    #[test]
    fn proposals_go_to_the_good_region_for_every_acquisition_and_transform() {
        for model in ["RF", "RF-LE", "RF-HLE"] {
            for acq in ACQUISITIONS {
                let (mut s, candidates) = session_with_history(model);
                let p = s.propose(request(acq, candidates, 1)).unwrap();
                let x = p[0].pool_index.unwrap() as f64 / 100.0;
                assert!((0.6..=1.0).contains(&x), "{model}/{acq} proposed {x}");
                assert!(
                    p[0].variance >= 0.0 && p[0].mean.is_finite() && p[0].acquisition.is_finite()
                );
            }
        }
    }

    #[test]
    fn same_seed_and_history_same_proposal() {
        let (mut a, candidates) = session_with_history("RF-HLE");
        let (mut b, _) = session_with_history("RF-HLE");
        let pa = a.propose(request("EI", candidates.clone(), 3)).unwrap();
        let pb = b.propose(request("EI", candidates, 3)).unwrap();
        assert_eq!(pa[0].pool_index, pb[0].pool_index);
        assert_eq!(pa[0].acquisition, pb[0].acquisition);
    }

    #[test]
    fn starts_with_a_random_candidate_and_predicts_once_it_can() {
        let mut s = open("RF", "{}");
        s.set_pool(Matrix::new(1, vec![0.1, 0.2, 0.3]).unwrap())
            .unwrap();
        let p = s.propose(request("EI", vec![0, 2], 1)).unwrap();
        assert!(matches!(p[0].pool_index, Some(0) | Some(2)));
        assert!(p[0].mean.is_nan());
        assert!(s.predict(Matrix::new(1, vec![0.5]).unwrap()).is_err());
        let (mut s, _) = session_with_history("RF");
        let pred = s.predict(Matrix::new(1, vec![0.8, 0.0]).unwrap()).unwrap();
        assert!(pred.mean[0] < pred.mean[1]);
        assert!(pred.variance.iter().all(|v| *v >= 0.0));
    }

    #[test]
    fn options_are_typed_and_checked() {
        assert!(
            RfPlugin::validate(ComponentKind::Arm, "RF", r#"{"n_trees": 0}"#)
                .unwrap_err()
                .contains("n_trees")
        );
        assert!(
            RfPlugin::validate(ComponentKind::Arm, "RF", r#"{"trees": 5}"#)
                .unwrap_err()
                .contains("trees")
        );
        assert!(
            RfPlugin::validate(
                ComponentKind::Arm,
                "RF-HLE",
                r#"{"alpha": 0.2, "kappa": 2}"#
            )
            .is_ok()
        );
        assert!(RfPlugin::validate(ComponentKind::Arm, "GP", "{}").is_err());
    }
}
