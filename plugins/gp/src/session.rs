//! One GP arm session: options, the history, the refit schedule, proposals and predictions.

use hpo_kit::acquisition::Acquisition;
use hpo_kit::checks::{bad_option, check_request, checked_pool, final_observations, parse_options};
use hpo_kit::design::{designed, initial_design, random_point, standard_normal};
use hpo_kit::encoding::snap;
use hpo_kit::liar::Liar;
use hpo_kit::log_scale::LogScale;
use hpo_kit::time_penalty::{self, TimeAware, permute};
use hpo_kit::transform::{DEFAULT_ALPHA, Transform};
use hpo_plugin_api::sdk::ArmSession;
use hpo_plugin_api::space::SpaceSpec;
use hpo_plugin_api::types::{
    ArmConfig, Matrix, Observations, Prediction, ProposeRequest, Proposed,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::hyper::{Data, Hyper, Noise, neg_log_posterior};
use crate::model::Gp;
use crate::optimize::minimize;
use crate::pool_cache::{Appended, PoolCache};
use crate::refine::refine;

/// Random points scored when the pool is empty and points off it are allowed.
const OFF_POOL_SAMPLES: usize = 2048;
/// Default of the `fit_subset` option.
const DEFAULT_FIT_SUBSET: usize = 200;
/// L-BFGS iterations of one hyperparameter start.
const FIT_ITERS: u64 = 100;
/// L-BFGS iterations of a warm-started fit beyond [`RESTART_LIMIT`] (the previous
/// estimate is close: a few observations were added).
const WARM_FIT_ITERS: u64 = 30;
/// Beyond this many observations, fits start only from the previous hyperparameters.
const RESTART_LIMIT: usize = 200;
/// Up to this many observations, each refit compares the warped and the plain targets.
const AUTO_WARP_LIMIT: usize = 200;
/// Up to this many observations every refit is full: both target warpings compared, from
/// the previous estimate, the prior's mode and prior draws.
const FULL_REFIT_LIMIT: usize = 40;
/// Beyond [`FULL_REFIT_LIMIT`], the first refit in each block of this many observations is
/// full; the others refine the previous estimate of the previous warping only (measured:
/// the same regret, a fifth of the refit time).
const FULL_REFIT_BLOCK: usize = 20;
/// Beyond this many observations, refinement defaults to fewer, shorter local searches.
const LARGE_HISTORY: usize = 300;

/// The run configuration's `gp` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Observations before the model is used (the initial design); default 10.
    pub initial_design: Option<usize>,
    /// Random restarts (prior draws) of each hyperparameter fit, besides the previous
    /// estimate and the prior's mode; default 2 (none beyond 200 observations).
    pub restarts: Option<usize>,
    /// Most observations one hyperparameter fit looks at (a seeded random subset beyond);
    /// default 200. The posterior always uses every observation.
    pub fit_subset: Option<usize>,
    /// Candidates refined continuously when points off the pool are allowed, besides the
    /// incumbent's neighbourhood; default 5; beyond 300 observations, by default, only the
    /// more promising of the best candidate and the incumbent's neighbourhood (0 turns
    /// refinement off).
    pub refine_starts: Option<usize>,
    /// L-BFGS iterations of one refinement; default 40, 10 beyond 300 observations.
    pub refine_iters: Option<u64>,
    /// HLE threshold.
    pub alpha: Option<f64>,
    /// UCB's weight of σ (default 1).
    pub kappa: Option<f64>,
    /// EI/PI trade-off, in the model's output units (default 0).
    pub xi: Option<f64>,
    /// Model SMAC's log-scaled costs (an output warping, see [`hpo_kit::log_scale`]): true
    /// or false; by default the GP picks, at each refit up to 200 observations, whichever
    /// explains the costs better (the higher evidence).
    pub log_scaled: Option<bool>,
    /// Time penalty of the acquisition (`ET_PS`, `ET_PLS`, `ET_L<rate>`, `ET_T<k>`, `NONE`;
    /// see [`hpo_kit::time_penalty`]); default none.
    pub time_penalty: Option<String>,
    /// What a point being evaluated (a parallel run's pending trial) is taken to have
    /// observed: `mean` (the kriging believer, the default) or `incumbent` (the constant
    /// liar at the best value so far); see [`hpo_kit::liar`].
    pub liar: Option<String>,
}

impl Options {
    /// Parses and checks the `gp` section (JSON); the error names the option.
    pub fn parse(json: &str) -> Result<Self, String> {
        let o: Options = parse_options("gp", json)?;
        let bad = |name: &str, why: &str| bad_option("gp", name, why);
        if o.initial_design == Some(0) {
            return bad("initial_design", "must be at least 1");
        }
        if o.fit_subset.is_some_and(|s| s < 10) {
            return bad("fit_subset", "must be at least 10");
        }
        if o.refine_iters == Some(0) {
            return bad("refine_iters", "must be at least 1");
        }
        if o.alpha.is_some_and(|a| !(a > 0.0 && a < 1.0)) {
            return bad("alpha", "must be in (0, 1)");
        }
        if o.kappa.is_some_and(|k| !(k >= 0.0 && k.is_finite())) {
            return bad("kappa", "must be a non-negative number");
        }
        if o.xi.is_some_and(|x| !x.is_finite()) {
            return bad("xi", "must be a finite number");
        }
        time_penalty::parse_option("gp", o.time_penalty.as_deref())?;
        Liar::parse_option("gp", o.liar.as_deref())?;
        Ok(o)
    }

    fn initial_design(&self) -> usize {
        self.initial_design.unwrap_or(10).max(2)
    }

    fn acquisition(&self, name: &str, scale: f64) -> Result<Acquisition, String> {
        let xi = self.xi.unwrap_or(0.0) / scale;
        Ok(match Acquisition::parse(name)? {
            Acquisition::Ei { .. } => Acquisition::Ei { xi },
            Acquisition::Pi { .. } => Acquisition::Pi { xi },
            Acquisition::Ucb { .. } => Acquisition::Ucb {
                kappa: self.kappa.unwrap_or(1.0),
            },
        })
    }
}

/// The next history length at which hyperparameters are refitted after a fit at `n`:
/// every observation up to 20, then every n/20 (5 at 100, 50 at 1000).
pub fn next_refit(n: usize) -> usize {
    n + (n / 20).max(1)
}

/// One hyperparameter fit of the refit schedule.
#[derive(Clone)]
struct Refit {
    /// History length it was fitted on.
    at: usize,
    hyper: Hyper,
    /// Whether the targets are warped (log-scaled).
    warp: bool,
}

/// The model of the current history.
#[derive(Clone)]
struct Fitted {
    /// History length of the last hyperparameter fit.
    fitted_at: usize,
    gp: Gp,
    cache: Option<PoolCache>,
    outputs: Outputs,
}

/// How observed costs become the GP's targets: optionally warped (log-scaled), then
/// standardized; and back.
#[derive(Debug, Clone, Copy)]
struct Outputs {
    warp: Option<LogScale>,
    mean: f64,
    scale: f64,
}

impl Outputs {
    /// The targets of `costs` and the mapping that made them.
    fn of(costs: &[f64], warp: bool) -> (Vec<f64>, Outputs) {
        let warp = warp.then(|| LogScale::of(costs));
        let warped: Vec<f64> = match &warp {
            Some(w) => costs.iter().map(|c| w.encode(*c)).collect(),
            None => costs.to_vec(),
        };
        let n = warped.len() as f64;
        let mean = warped.iter().sum::<f64>() / n;
        let var = warped.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let scale = if var.sqrt() > 1e-12 { var.sqrt() } else { 1.0 };
        let outputs = Outputs { warp, mean, scale };
        (warped.iter().map(|v| (v - mean) / scale).collect(), outputs)
    }

    /// A cost as a target.
    fn encode(&self, cost: f64) -> f64 {
        let warped = self.warp.map_or(cost, |w| w.encode(cost));
        (warped - self.mean) / self.scale
    }

    /// Mean and variance in cost units of a prediction in target units.
    fn decode(&self, m: f64, v: f64) -> (f64, f64) {
        let (m, v) = (self.mean + self.scale * m, self.scale * self.scale * v);
        match &self.warp {
            Some(w) => w.decode_moments(m, v),
            None => (m, v),
        }
    }
}

/// A GP arm session.
#[derive(Clone)]
pub struct GpSession {
    space: SpaceSpec,
    dims: usize,
    options: Options,
    transform: Transform,
    noise: Noise,
    seed: u64,
    pool: Matrix,
    /// Encoded points of the successful observations, row-major.
    x: Vec<f64>,
    /// Their costs as observed.
    costs: Vec<f64>,
    /// The costs transformed (LE, HLE) as the whole history reads them.
    y: Vec<f64>,
    /// The last hyperparameter fit of the refit schedule.
    schedule: Option<Refit>,
    fitted: Option<Fitted>,
    /// Observed evaluation times and the time penalty of the acquisition.
    time: TimeAware,
}

impl GpSession {
    /// Opens a session for `config.model`.
    pub fn open(config: ArmConfig) -> Result<Self, String> {
        let options = Options::parse(&config.options_json)?;
        let space = SpaceSpec::from_json(&config.space_json)?;
        let dims = space.encoded_dims();
        Ok(GpSession {
            time: TimeAware::from_option("gp", options.time_penalty.as_deref(), dims)?,
            dims,
            space,
            transform: Transform::of_model(&config.model, options.alpha.unwrap_or(DEFAULT_ALPHA)),
            noise: if config.model == "GP-NM" {
                Noise::Noiseless
            } else {
                Noise::Fitted
            },
            options,
            seed: config.seed,
            pool: Matrix::default(),
            x: Vec::new(),
            costs: Vec::new(),
            y: Vec::new(),
            schedule: None,
            fitted: None,
        })
    }

    /// History length of the last hyperparameter fit, if any.
    pub fn last_fit(&self) -> Option<usize> {
        self.fitted.as_ref().map(|f| f.fitted_at)
    }

    /// The MAP hyperparameters for the first `n` observations, starting from `previous`.
    /// MAP hyperparameters for the first `n` observations, and whether their targets are
    /// warped (log-scaled). Unless the `log_scaled` option decides, both are fitted while
    /// n ≤ [`AUTO_WARP_LIMIT`] and the one whose evidence for the costs themselves is higher
    /// wins: the negative log posterior of the targets plus the log Jacobian of the map from
    /// costs to targets (n·ln s, plus Σ ln(yᵢ − floor) when warped). Beyond, the last choice
    /// stays.
    ///
    /// A refit that is not `full` only refines the previous estimate under the previous
    /// choice.
    fn fit_hyper(
        &self,
        n: usize,
        previous: Option<Hyper>,
        previous_warp: bool,
        full: bool,
    ) -> (Hyper, bool) {
        let choices: &[bool] = match self.options.log_scaled {
            Some(true) => &[true],
            Some(false) => &[false],
            None if n <= AUTO_WARP_LIMIT && full => &[false, true],
            None => {
                if previous_warp {
                    &[true]
                } else {
                    &[false]
                }
            }
        };
        // The transform as the first n observations read it: a fit depends on its history
        // only, so a replayed refit schedule reproduces the live one.
        let transformed = self.transform.apply_all(&self.costs[..n]);
        let mut best: Option<(f64, Hyper, bool)> = None;
        for &warp in choices {
            let (y, outputs) = Outputs::of(&transformed, warp);
            let (nlp, hyper) = self.fit_hyper_to(n, y, previous.clone(), full);
            let jacobian = n as f64 * outputs.scale.ln()
                + outputs.warp.map_or(0.0, |w| {
                    transformed
                        .iter()
                        .map(|c| w.log_slope_inverse(*c))
                        .sum::<f64>()
                });
            let score = nlp + jacobian;
            if best.as_ref().is_none_or(|(b, _, _)| score < *b) {
                best = Some((score, hyper, warp));
            }
        }
        let (_, hyper, warp) = best.expect("at least one choice");
        (hyper, warp)
    }

    /// MAP hyperparameters for the first `n` observations with targets `y`, and the
    /// negative log posterior they reach.
    fn fit_hyper_to(
        &self,
        n: usize,
        y: Vec<f64>,
        previous: Option<Hyper>,
        full: bool,
    ) -> (f64, Hyper) {
        let mut rng =
            ChaCha8Rng::seed_from_u64(self.seed ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let limit = self.options.fit_subset.unwrap_or(DEFAULT_FIT_SUBSET);
        let (xs, ys): (Vec<f64>, Vec<f64>) = if n > limit {
            let mut picked = rand::seq::index::sample(&mut rng, n, limit).into_vec();
            picked.sort_unstable();
            (
                picked
                    .iter()
                    .flat_map(|&i| self.x[i * self.dims..(i + 1) * self.dims].iter().copied())
                    .collect(),
                picked.iter().map(|&i| y[i]).collect(),
            )
        } else {
            (self.x[..n * self.dims].to_vec(), y)
        };
        let data = Data {
            x: &xs,
            y: &ys,
            dims: self.dims,
        };
        let mut starts: Vec<Hyper> = previous.into_iter().collect();
        let thorough = full && n <= RESTART_LIMIT;
        if thorough || starts.is_empty() {
            starts.push(Hyper::prior_mode(self.dims));
            for _ in 0..self.options.restarts.unwrap_or(2) {
                let z: Vec<f64> = (0..self.dims + 3)
                    .map(|_| standard_normal(&mut rng))
                    .collect();
                starts.push(Hyper::from_prior_draw(self.dims, &z));
            }
        }
        let noise = self.noise;
        let mut best: Option<(f64, Hyper)> = None;
        for start in starts {
            let found = minimize(
                |v| neg_log_posterior(v, data, noise),
                start.to_vec(noise),
                if thorough { FIT_ITERS } else { WARM_FIT_ITERS },
            );
            if let Some(m) = found
                && best.as_ref().is_none_or(|(b, _)| m.value < *b)
            {
                best = Some((m.value, Hyper::from_vec(&m.x, self.dims, noise)));
            }
        }
        best.unwrap_or_else(|| (f64::INFINITY, Hyper::prior_mode(self.dims)))
    }

    /// Walks the refit schedule up to the current history, each hyperparameter fit
    /// warm-started from the previous one. Only the hyperparameters: the factor is built
    /// when a proposal or a prediction needs it ([`GpSession::update_model`]).
    fn walk_schedule(&mut self, pending: usize) {
        let n = self.y.len();
        if !designed(n, pending, self.options.initial_design()) {
            return;
        }
        let mut last = self.schedule.take();
        loop {
            let next = last.as_ref().map_or(2, |r| next_refit(r.at));
            if next > n {
                break;
            }
            let previous_warp = last.as_ref().is_some_and(|r| r.warp);
            let full = last.as_ref().is_none_or(|r| {
                next <= FULL_REFIT_LIMIT || r.at / FULL_REFIT_BLOCK != next / FULL_REFIT_BLOCK
            });
            let (hyper, warp) = self.fit_hyper(next, last.map(|r| r.hyper), previous_warp, full);
            last = Some(Refit {
                at: next,
                hyper,
                warp,
            });
        }
        self.schedule = last;
    }

    /// Brings the model up to the current history; false during the initial design (with
    /// `pending` points in flight besides it).
    fn update_model(&mut self, pending: usize) -> Result<bool, String> {
        let n = self.y.len();
        if !designed(n, pending, self.options.initial_design()) {
            return Ok(false);
        }
        self.walk_schedule(pending);
        let Refit {
            at: fitted_at,
            hyper,
            warp,
        } = self.schedule.clone().expect("n ≥ 2 fits at least once");
        let refitted = self
            .fitted
            .as_ref()
            .is_none_or(|f| f.fitted_at != fitted_at);
        let (y, outputs) = Outputs::of(&self.y[..n], warp);
        if refitted {
            // The factor is built on the observations of the refit and grown row by row
            // from there, whenever this call comes: the model is a function of the history
            // alone, so a resumed run (one call after a replay of many observations)
            // continues bit for bit.
            let data = Data {
                x: &self.x[..fitted_at * self.dims],
                y: &y[..fitted_at],
                dims: self.dims,
            };
            let gp = Gp::new(data, hyper, self.noise)
                .ok_or("the covariance is not positive definite even with jitter")?;
            let cache = (self.pool.rows() > 0).then(|| PoolCache::build(&gp, &self.pool));
            self.fitted = Some(Fitted {
                fitted_at,
                gp,
                cache,
                outputs,
            });
        }
        let f = self.fitted.as_mut().expect("fitted above");
        for i in f.gp.len()..n {
            f.gp.append(&self.x[i * self.dims..(i + 1) * self.dims]);
            if let Some(cache) = f.cache.as_mut() {
                cache.extend(&f.gp, &self.pool);
            }
        }
        f.outputs = outputs;
        f.gp.set_targets(&y);
        Ok(true)
    }
}

/// The pool's predictions a proposal reads: the model's cache, or the cache and the rows of
/// the pending points appended to a copy of the model.
enum Cache<'a> {
    Base(&'a PoolCache),
    Appended(Appended<'a>),
}

/// A scored point: pool row or free point, acquisition value, standardized mean/variance.
#[derive(Debug, Clone)]
struct Scored {
    pool_index: Option<u32>,
    point: Vec<f64>,
    acquisition: f64,
    mean: f64,
    variance: f64,
}

impl ArmSession for GpSession {
    fn set_pool(&mut self, pool: Matrix) -> Result<(), String> {
        self.pool = checked_pool(pool, self.dims)?;
        self.schedule = None;
        self.fitted = None;
        Ok(())
    }

    fn tell(&mut self, observations: Observations) -> Result<(), String> {
        for (x, value) in final_observations(&observations, self.dims)? {
            self.x.extend_from_slice(x);
            self.costs.push(value);
        }
        self.y = self.transform.apply_all(&self.costs);
        self.time.observe(&observations);
        // Fit the hyperparameters now rather than at the next proposal: they are a function
        // of the history alone, so the result is the same, and a long replayed history told
        // in bounded chunks (as the host does) costs a bounded time per call instead of the
        // whole refit schedule in one proposal (which exceeded the wasm deadline at n = 1000).
        self.walk_schedule(0);
        Ok(())
    }

    fn propose(&mut self, request: ProposeRequest) -> Result<Vec<Proposed>, String> {
        check_request(&request, self.pool.rows())?;
        Acquisition::parse(&request.acquisition)?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ request.seed.rotate_left(17));
        let n = request.n as usize;
        // One refinement step costs O(n²) (two triangular solves): keep the whole
        // refinement near a fixed cost as the history grows.
        let large = self.y.len() > LARGE_HISTORY;
        let refine_starts = self
            .options
            .refine_starts
            .unwrap_or(if large { 1 } else { 5 });
        let refine_iters = self
            .options
            .refine_iters
            .unwrap_or(if large { 10 } else { 40 });
        let dims = self.dims;
        let pending_rows = request.pending.rows();
        let observed_min = self.y.iter().copied().fold(f64::INFINITY, f64::min);
        if !self.update_model(pending_rows)? {
            return Ok(initial_design(&request, &self.space, &mut rng));
        }
        let fitted = self.fitted.as_ref().expect("the model is up to date");
        let (options, space) = (&self.options, &self.space);
        let acquisition = options.acquisition(&request.acquisition, fitted.outputs.scale)?;
        let best = fitted.outputs.encode(observed_min);

        // Pending points are observed at the model's prediction (the kriging believer) or at
        // the incumbent's value (the constant liar), and the incumbent counts those values
        // as observed ones (Ginsbourger et al., 2010): a believed improvement at a pending
        // point is then no longer an improvement to seek again beside it.
        let fantasy;
        let (gp, cache, best) = if pending_rows > 0 && request.pending.cols as usize == dims {
            let mut gp = fitted.gp.clone();
            for p in request.pending.iter_rows() {
                gp.append(p);
            }
            let liar = Liar::parse_option("gp", options.liar.as_deref())?;
            let lies: Vec<f64> = request
                .pending
                .iter_rows()
                .map(|p| liar.value(fitted.gp.predict(p).0, best))
                .collect();
            let mut targets: Vec<f64> = self.y.iter().map(|v| fitted.outputs.encode(*v)).collect();
            targets.extend(&lies);
            gp.set_targets(&targets);
            fantasy = gp;
            let appended = fitted
                .cache
                .as_ref()
                .map(|c| Cache::Appended(c.with_appended(&fantasy, &self.pool)));
            (&fantasy, appended, Liar::incumbent(best, &lies))
        } else {
            (&fitted.gp, fitted.cache.as_ref().map(Cache::Base), best)
        };

        let score = |pool_index: Option<u32>, point: Vec<f64>, mean: f64, variance: f64| Scored {
            pool_index,
            acquisition: acquisition.value(mean, variance, best),
            point,
            mean,
            variance,
        };
        let mut scored: Vec<Scored> = if request.candidates.is_empty() {
            (0..OFF_POOL_SAMPLES)
                .map(|_| {
                    let p = random_point(space, &mut rng);
                    let (m, v) = gp.predict(&p);
                    score(None, p, m, v)
                })
                .collect()
        } else {
            request
                .candidates
                .iter()
                .map(|&c| {
                    let (m, v) = match &cache {
                        Some(Cache::Base(cache)) => cache.predict(gp, c as usize),
                        Some(Cache::Appended(cache)) => cache.predict(gp, c as usize),
                        None => gp.predict(self.pool.row(c as usize)),
                    };
                    score(Some(c), Vec::new(), m, v)
                })
                .collect()
        };
        scored.sort_by(|a, b| {
            b.acquisition
                .total_cmp(&a.acquisition)
                .then(a.pool_index.cmp(&b.pool_index))
        });
        let pool = &self.pool;
        // With a time penalty, refinement polishes the penalized winner only: a local move
        // hardly changes the estimated time, a jump to another start could.
        let penalty_order = self.time.order(scored.iter().map(|s| {
            let point = match s.pool_index {
                Some(c) => pool.row(c as usize),
                None => s.point.as_slice(),
            };
            (s.acquisition, point)
        }));
        let penalized = penalty_order.is_some();
        if let Some(order) = penalty_order {
            permute(&mut scored, &order);
        }
        let refine_starts = if penalized {
            refine_starts.min(1)
        } else {
            refine_starts
        };

        if request.allow_off_pool && refine_starts > 0 && !scored.is_empty() {
            // Refine the best candidates and the incumbent's neighbourhood.
            let mut starts: Vec<Vec<f64>> = scored
                .iter()
                .take(refine_starts)
                .map(|s| match s.pool_index {
                    Some(c) => self.pool.row(c as usize).to_vec(),
                    None => s.point.clone(),
                })
                .collect();
            if let Some(i) = self
                .y
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i)
                .filter(|_| !penalized)
            {
                starts.push(
                    self.x[i * dims..(i + 1) * dims]
                        .iter()
                        .map(|v| (v + 1e-3 * standard_normal(&mut rng)).clamp(0.0, 1.0))
                        .collect(),
                );
            }
            if large && self.options.refine_starts.is_none() && starts.len() > 1 {
                // Beyond LARGE_HISTORY one refinement costs ~20 ms at n ≈ 1000: refine only
                // the more promising of the best candidate and the incumbent's neighbour.
                let promise = |p: &Vec<f64>| {
                    let (m, v) = gp.predict(p);
                    acquisition.value(m, v, best)
                };
                let keep = starts
                    .iter()
                    .map(promise)
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map_or(0, |(i, _)| i);
                starts = vec![starts.swap_remove(keep)];
            }
            let mut refined: Vec<Scored> = starts
                .iter()
                .filter_map(|s| refine(gp, &acquisition, best, s, refine_iters))
                .map(|r| {
                    let mut p = r.x;
                    snap(space, &mut p);
                    let (m, v) = gp.predict(&p);
                    score(None, p, m, v)
                })
                .filter(|s| s.acquisition.is_finite())
                .collect();
            refined.sort_by(|a, b| b.acquisition.total_cmp(&a.acquisition));
            if let Some(r) = refined.into_iter().next()
                && r.acquisition > scored[0].acquisition
            {
                scored.insert(0, r);
            }
        }
        let outputs = fitted.outputs;
        Ok(scored
            .into_iter()
            .take(n)
            .map(|s| {
                let (mean, variance) = outputs.decode(s.mean, s.variance);
                Proposed {
                    pool_index: s.pool_index,
                    point: s.point,
                    acquisition: s.acquisition,
                    mean,
                    variance,
                }
            })
            .collect())
    }

    fn predict(&mut self, points: Matrix) -> Result<Prediction, String> {
        points.check_shape()?;
        if !self.update_model(0)? {
            return Err("the GP needs its initial design before it predicts".into());
        }
        let fitted = self.fitted.as_ref().expect("the model is up to date");
        // In cost units: the targets' units, then back through LE/HLE.
        let transform = self.transform.fit(&self.costs);
        let (mean, variance) = points
            .iter_rows()
            .map(|p| {
                let (m, v) = fitted.gp.predict(p);
                let (m, v) = fitted.outputs.decode(m, v);
                transform.invert_moments(m, v)
            })
            .unzip();
        Ok(Prediction { mean, variance })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GpPlugin;
    use hpo_plugin_api::sdk::Plugin;
    use hpo_plugin_api::types::ComponentKind;
    use hpo_plugin_api::types::ObservationStatus;

    fn open(model: &str, options: &str) -> GpSession {
        let space = SpaceSpec::unit_cube(1);
        GpSession::open(ArmConfig {
            model: model.into(),
            space_json: serde_json::to_string(&space).unwrap(),
            options_json: options.into(),
            seed: 4,
        })
        .unwrap()
    }

    fn request(acq: &str, candidates: Vec<u32>, seed: u64, off_pool: bool) -> ProposeRequest {
        ProposeRequest {
            acquisition: acq.into(),
            candidates,
            pending: Matrix::empty(1),
            n: 1,
            seed,
            allow_off_pool: off_pool,
        }
    }

    /// A 1-d problem with its minimum at x = 0.8 (value 0.05), 11 observations on a grid.
    fn with_history(model: &str) -> (GpSession, Vec<u32>) {
        with_minimum_at(model, 0.8)
    }

    /// [`with_history`] with the minimum at `minimum`: the pool is 0, 0.01, …, 1 and the
    /// candidates are its rows not observed.
    fn with_minimum_at(model: &str, minimum: f64) -> (GpSession, Vec<u32>) {
        let mut s = open(model, "{}");
        let pool: Vec<f64> = (0..101).map(|i| i as f64 / 100.0).collect();
        s.set_pool(Matrix::new(1, pool).unwrap()).unwrap();
        let xs: Vec<f64> = (0..11).map(|i| i as f64 / 10.0).collect();
        let ys: Vec<f64> = xs
            .iter()
            .map(|x| 0.05 + (x - minimum) * (x - minimum))
            .collect();
        s.tell(Observations {
            x: Matrix::new(1, xs).unwrap(),
            y: ys,
            cost: vec![1.0; 11],
            status: vec![ObservationStatus::Final; 11],
        })
        .unwrap();
        let observed: Vec<u32> = (0..11).map(|i| i * 10).collect();
        (s, (0..101).filter(|c| !observed.contains(c)).collect())
    }

    #[test]
    fn every_model_and_acquisition_proposes_near_the_minimum() {
        for model in crate::MODELS {
            for acq in crate::ACQUISITIONS {
                let (mut s, candidates) = with_history(model);
                let p = s
                    .propose(request(acq, candidates.clone(), 1, false))
                    .unwrap();
                let x = p[0].pool_index.unwrap() as f64 / 100.0;
                assert!((0.6..=1.0).contains(&x), "{model}/{acq} proposed {x}");
                assert!(
                    p[0].variance >= 0.0 && p[0].mean.is_finite() && p[0].acquisition.is_finite()
                );
                // Off the pool, refinement lands close to the minimizer itself.
                let q = s.propose(request(acq, candidates, 1, true)).unwrap();
                let x = q[0]
                    .pool_index
                    .map_or_else(|| q[0].point[0], |c| c as f64 / 100.0);
                assert!((x - 0.8).abs() < 0.15, "{model}/{acq} refined to {x}");
            }
        }
    }

    #[test]
    fn same_seed_and_history_give_the_same_proposal() {
        let (mut a, candidates) = with_history("GP-HLE");
        let (mut b, _) = with_history("GP-HLE");
        let pa = a
            .propose(request("EI", candidates.clone(), 3, true))
            .unwrap();
        let pb = b.propose(request("EI", candidates, 3, true)).unwrap();
        assert_eq!(pa[0].pool_index, pb[0].pool_index);
        assert_eq!(pa[0].point, pb[0].point);
        assert_eq!(pa[0].acquisition, pb[0].acquisition);
    }

    #[test]
    fn initial_design_takes_sobol_rows_in_order_then_the_model_predicts() {
        let mut s = open("GP", "{}");
        s.set_pool(Matrix::new(1, vec![0.1, 0.2, 0.3, 0.4]).unwrap())
            .unwrap();
        let p = s.propose(request("EI", vec![1, 2, 3], 1, true)).unwrap();
        assert_eq!(p[0].pool_index, Some(1), "the first remaining Sobol row");
        assert!(p[0].mean.is_nan());
        assert!(s.predict(Matrix::new(1, vec![0.5]).unwrap()).is_err());
        let (mut s, _) = with_history("GP");
        let pred = s.predict(Matrix::new(1, vec![0.8, 0.0]).unwrap()).unwrap();
        assert!(pred.mean[0] < pred.mean[1]);
        // The GP interpolates its observations (values in the caller's units).
        let at = s.predict(Matrix::new(1, vec![0.5]).unwrap()).unwrap();
        assert!((at.mean[0] - (0.05 + 0.09)).abs() < 1e-3, "{}", at.mean[0]);
    }

    #[test]
    fn a_top_k_time_penalty_takes_the_fastest_of_the_k_best() {
        // The same history, evaluation time growing with x: ET_T5 must propose the
        // smallest x of the five candidates the unpenalized ranking puts first.
        let history = |options: &str| {
            let (plain, candidates) = with_history("GP");
            let mut s = open("GP", options);
            s.set_pool(plain.pool.clone()).unwrap();
            let xs: Vec<f64> = (0..11).map(|i| i as f64 / 10.0).collect();
            s.tell(Observations {
                y: xs.iter().map(|x| 0.05 + (x - 0.8) * (x - 0.8)).collect(),
                cost: xs.iter().map(|x| (3.0 * x).exp()).collect(),
                x: Matrix::new(1, xs).unwrap(),
                status: vec![ObservationStatus::Final; 11],
            })
            .unwrap();
            (s, candidates)
        };
        let (mut plain, candidates) = history("{}");
        let mut top5 = request("EI", candidates.clone(), 1, false);
        top5.n = 5;
        let best5: Vec<u32> = plain
            .propose(top5)
            .unwrap()
            .iter()
            .map(|p| p.pool_index.unwrap())
            .collect();
        let (mut penalized, _) = history(r#"{"time_penalty": "ET_T5"}"#);
        let p = penalized
            .propose(request("EI", candidates, 1, false))
            .unwrap();
        assert_eq!(p[0].pool_index, best5.iter().min().copied(), "{best5:?}");
        assert!(
            GpSession::open(ArmConfig {
                options_json: r#"{"time_penalty": "ET_FAST"}"#.into(),
                ..Default::default()
            })
            .err()
            .unwrap()
            .contains("time_penalty")
        );
    }

    #[test]
    fn a_pending_point_pushes_the_next_proposal_away() {
        let (mut s, candidates) = with_history("GP");
        let first = s
            .propose(request("EI", candidates.clone(), 1, false))
            .unwrap();
        let row = first[0].pool_index.unwrap();
        let mut req = request(
            "EI",
            candidates.into_iter().filter(|c| *c != row).collect(),
            1,
            false,
        );
        req.pending = Matrix::new(1, vec![row as f64 / 100.0]).unwrap();
        let second = s.propose(req).unwrap();
        let gap = (second[0].pool_index.unwrap() as f64 - row as f64).abs();
        assert!(
            gap >= 2.0,
            "the liar at {row} should keep the next proposal off its neighbours"
        );
    }

    /// The minimum (x = 0.75) lies between two observations, so the model believes in an
    /// improvement there. Once 0.75 is in flight, the believed value counts as observed:
    /// beside it (0.74) little improvement is left to expect, where an incumbent blind to
    /// the believed value kept promising nearly the whole believed improvement (and with 8
    /// workers on fn:hartmann6 the proposals crowded around one point).
    #[test]
    fn beside_a_point_in_flight_its_believed_improvement_is_not_expected_again() {
        let (mut s, _) = with_minimum_at("GP", 0.75);
        let alone = s.propose(request("EI", vec![74], 1, false)).unwrap()[0].acquisition;
        let mut req = request("EI", vec![74], 1, false);
        req.pending = Matrix::new(1, vec![0.75]).unwrap();
        let beside = s.propose(req).unwrap()[0].acquisition;
        assert!(alone > 0.0, "an improvement is expected at 0.74: {alone}");
        assert!(
            beside < 0.1 * alone,
            "beside 0.75 in flight, EI at 0.74 is {beside} (alone {alone})"
        );
    }

    /// A design of ten, three points observed: with six in flight the design goes on (no
    /// model figures); with seven the ten are asked for and the model proposes.
    #[test]
    fn points_in_flight_count_towards_the_initial_design() {
        let mut s = open("GP", "{}");
        let pool: Vec<f64> = (0..101).map(|i| i as f64 / 100.0).collect();
        s.set_pool(Matrix::new(1, pool).unwrap()).unwrap();
        s.tell(Observations {
            x: Matrix::new(1, vec![0.1, 0.5, 0.9]).unwrap(),
            y: vec![0.3, 0.1, 0.4],
            cost: vec![1.0; 3],
            status: vec![ObservationStatus::Final; 3],
        })
        .unwrap();
        let with_pending = |s: &mut GpSession, k: usize| {
            let mut req = request("EI", (20..40).collect(), 1, false);
            req.pending = Matrix::new(1, (0..k).map(|i| 0.6 + i as f64 / 100.0).collect()).unwrap();
            s.propose(req).unwrap()[0].mean
        };
        assert!(with_pending(&mut s, 6).is_nan(), "still the design");
        assert!(with_pending(&mut s, 7).is_finite(), "the model proposes");
    }

    #[test]
    fn options_are_typed_and_checked() {
        let check = |opts: &str| GpPlugin::validate(ComponentKind::Arm, "GP", opts);
        assert!(
            check(r#"{"initial_design": 0}"#)
                .unwrap_err()
                .contains("initial_design")
        );
        assert!(
            check(r#"{"lengthscale": 1}"#)
                .unwrap_err()
                .contains("lengthscale")
        );
        assert!(check(r#"{"kappa": -1}"#).unwrap_err().contains("kappa"));
        assert!(check(r#"{"alpha": 0.2, "restarts": 4, "refine_starts": 0}"#).is_ok());
        assert!(GpPlugin::validate(ComponentKind::Arm, "RF", "{}").is_err());
    }

    #[test]
    fn refits_follow_the_schedule() {
        assert_eq!(next_refit(2), 3);
        assert_eq!(next_refit(19), 20);
        assert_eq!(next_refit(100), 105);
        assert_eq!(next_refit(1000), 1050);
        let (mut s, candidates) = with_history("GP");
        s.propose(request("EI", candidates, 1, false)).unwrap();
        assert_eq!(s.last_fit(), Some(11));
    }
}
