//! An example third-party plugin, built only for wasm: the `LOCAL/NEAREST` arm.
//!
//! It proposes the candidates nearest (Euclidean, in the encoded space) to the best final
//! observation so far, a simple local search; before any observation it picks at random.
//! Its model is one-nearest-neighbour: the mean at a point is the value observed at the
//! nearest observed point and the variance is the squared distance to it.
//!
//! This is the file a plugin author reads first: one `Plugin` impl, one session type, and
//! `export_plugin!`. Build it with `cargo build --target wasm32-wasip2 -p example-local-search`
//! and install the `.wasm` with `hpo plugin install`.

use hpo_plugin_api::sdk::{ArmSession, Plugin, SplitMix64, squared_distance};
use hpo_plugin_api::types::{
    ArmConfig, ComponentKind, Matrix, ObservationStatus, Observations, PluginDescription,
    Prediction, ProposeRequest, Proposed,
};
use serde::{Deserialize, Serialize};

/// The plugin type exported below.
pub struct LocalSearch;

impl Plugin for LocalSearch {
    fn describe() -> PluginDescription {
        PluginDescription {
            name: "local-search".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Example third-party arm: candidates nearest the incumbent".into(),
            arms: vec!["LOCAL/NEAREST".into()],
            strategies: vec![],
            stoppers: Vec::new(),
            schedulers: Vec::new(),
        }
    }

    fn validate(kind: ComponentKind, name: &str, options_json: &str) -> Result<(), String> {
        if kind != ComponentKind::Arm || name != "LOCAL" {
            return Err(format!("local-search has no {kind:?} named '{name}'"));
        }
        Options::parse(options_json).map(|_| ())
    }

    fn open_arm(config: ArmConfig) -> Result<Box<dyn ArmSession>, String> {
        if config.model != "LOCAL" {
            return Err(format!("local-search has no model '{}'", config.model));
        }
        let options = Options::parse(&config.options_json)?;
        Ok(Box::new(Nearest {
            options,
            seed: config.seed,
            pool: Matrix::default(),
            history: Observations::default(),
        }))
    }
}

/// Options of the arm.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    /// Half-width of the box around the incumbent that off-pool points are drawn from.
    #[serde(default = "default_radius")]
    radius: f64,
}

fn default_radius() -> f64 {
    0.1
}

impl Options {
    fn parse(json: &str) -> Result<Self, String> {
        let json = if json.trim().is_empty() { "{}" } else { json };
        let o: Options = serde_json::from_str(json).map_err(|e| format!("options: {e}"))?;
        if !(o.radius > 0.0 && o.radius <= 1.0) {
            return Err(format!("option 'radius' = {} must be in (0, 1]", o.radius));
        }
        Ok(o)
    }
}

struct Nearest {
    options: Options,
    seed: u64,
    pool: Matrix,
    history: Observations,
}

impl Nearest {
    fn incumbent(&self) -> Option<&[f64]> {
        self.history.best_final().map(|(_, x)| x)
    }

    /// (mean, variance) of the one-nearest-neighbour model at `point`.
    fn nearest_observed(&self, point: &[f64]) -> (f64, f64) {
        (0..self.history.len())
            .filter(|&i| self.history.status[i] != ObservationStatus::Failed)
            .map(|i| {
                (
                    self.history.y[i],
                    squared_distance(point, self.history.x.row(i)),
                )
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((f64::NAN, f64::NAN))
    }
}

impl ArmSession for Nearest {
    fn set_pool(&mut self, pool: Matrix) -> Result<(), String> {
        pool.check_shape()?;
        self.pool = pool;
        Ok(())
    }

    fn tell(&mut self, observations: Observations) -> Result<(), String> {
        observations.check_shape()?;
        self.history.extend(&observations);
        Ok(())
    }

    fn propose(&mut self, request: ProposeRequest) -> Result<Vec<Proposed>, String> {
        let mut rng = SplitMix64::new(self.seed ^ request.seed);
        let n = request.n as usize;
        let incumbent = self.incumbent().map(<[f64]>::to_vec);
        if !request.candidates.is_empty() {
            let mut scored: Vec<(f64, u32)> = request
                .candidates
                .iter()
                .map(|&i| {
                    if i as usize >= self.pool.rows() {
                        return Err(format!("candidate {i} is outside the pool"));
                    }
                    let score = match &incumbent {
                        Some(best) => -squared_distance(self.pool.row(i as usize), best),
                        None => rng.unit(),
                    };
                    Ok((score, i))
                })
                .collect::<Result<_, String>>()?;
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            return Ok(scored
                .into_iter()
                .take(n)
                .map(|(score, i)| {
                    let (mean, variance) = self.nearest_observed(self.pool.row(i as usize));
                    Proposed {
                        pool_index: Some(i),
                        point: Vec::new(),
                        acquisition: score,
                        mean,
                        variance,
                    }
                })
                .collect());
        }
        if !request.allow_off_pool {
            return Err("no candidates and off-pool points are not allowed".into());
        }
        let dims = request.pending.cols.max(self.history.x.cols) as usize;
        Ok((0..n)
            .map(|_| {
                let point: Vec<f64> = (0..dims)
                    .map(|d| {
                        let centre = incumbent.as_ref().map_or(0.5, |b| b[d]);
                        let r = self.options.radius;
                        (centre + (2.0 * rng.unit() - 1.0) * r).clamp(0.0, 1.0)
                    })
                    .collect();
                let (mean, variance) = self.nearest_observed(&point);
                Proposed {
                    pool_index: None,
                    acquisition: if variance.is_nan() { 0.0 } else { -variance },
                    point,
                    mean,
                    variance,
                }
            })
            .collect())
    }

    fn predict(&mut self, points: Matrix) -> Result<Prediction, String> {
        let (mean, variance) = points.iter_rows().map(|p| self.nearest_observed(p)).unzip();
        Ok(Prediction { mean, variance })
    }
}

hpo_plugin_api::export_plugin!(LocalSearch);
