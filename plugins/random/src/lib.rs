//! The `random` plugin: the `RANDOM/RANDOM` arm, uniform over the remaining pool or, when
//! the pool is empty, over the encoded space (one-hot groups get one hot column, integers
//! and preordered options land on their grid).
//!
//! Built both as a native cdylib and as a wasm component from this one source.

use hpo_plugin_api::sdk::{ArmSession, Plugin};
use hpo_plugin_api::space::{ParamKind, SpaceSpec};
use hpo_plugin_api::types::{
    ArmConfig, ComponentKind, Matrix, Observations, PluginDescription, ProposeRequest, Proposed,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The plugin type exported below.
pub struct RandomPlugin;

/// The model name of the arm.
pub const MODEL: &str = "RANDOM";

impl Plugin for RandomPlugin {
    fn describe() -> PluginDescription {
        PluginDescription {
            name: "random".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Random search: uniform over the remaining pool or the space".into(),
            arms: vec![format!("{MODEL}/RANDOM")],
            strategies: vec![],
            stoppers: Vec::new(),
            schedulers: Vec::new(),
        }
    }

    fn validate(kind: ComponentKind, name: &str, options_json: &str) -> Result<(), String> {
        if kind != ComponentKind::Arm || name != MODEL {
            return Err(format!("the random plugin has no {kind:?} named '{name}'"));
        }
        parse_options(options_json).map(|_| ())
    }

    fn open_arm(config: ArmConfig) -> Result<Box<dyn ArmSession>, String> {
        if config.model != MODEL {
            return Err(format!("the random plugin has no model '{}'", config.model));
        }
        parse_options(&config.options_json)?;
        let space = SpaceSpec::from_json(&config.space_json)?;
        Ok(Box::new(RandomSession {
            space,
            seed: config.seed,
            pool_rows: 0,
            observed: 0,
        }))
    }
}

/// The random arm takes no options; an empty object (or nothing) is accepted.
fn parse_options(options_json: &str) -> Result<(), String> {
    if options_json.trim().is_empty() {
        return Ok(());
    }
    let value: serde_json::Value =
        serde_json::from_str(options_json).map_err(|e| format!("options: {e}"))?;
    match value.as_object() {
        Some(map) if map.is_empty() => Ok(()),
        Some(map) => Err(format!(
            "unknown option '{}' (the random arm takes none)",
            map.keys().next().map(String::as_str).unwrap_or_default()
        )),
        None if value.is_null() => Ok(()),
        None => Err("options must be a JSON object".into()),
    }
}

struct RandomSession {
    space: SpaceSpec,
    seed: u64,
    pool_rows: usize,
    observed: usize,
}

#[derive(Serialize, Deserialize)]
struct RandomState {
    observed: usize,
}

impl RandomSession {
    fn random_point(&self, rng: &mut ChaCha8Rng) -> Vec<f64> {
        let mut point = vec![0.0; self.space.encoded_dims()];
        for p in &self.space.params {
            let at = p.offset as usize;
            match p.kind {
                ParamKind::Continuous => point[at] = rng.random::<f64>(),
                ParamKind::Integer => {
                    let steps = (p.upper - p.lower).round().max(0.0) as u64;
                    point[at] = if steps == 0 || p.log {
                        rng.random::<f64>()
                    } else {
                        rng.random_range(0..=steps) as f64 / steps as f64
                    };
                }
                ParamKind::Categorical => {
                    let k = p.width.max(1) as usize;
                    point[at + rng.random_range(0..k)] = 1.0;
                }
                ParamKind::Preordered => {
                    let k = p.options.len().max(1);
                    point[at] = if k == 1 {
                        0.0
                    } else {
                        rng.random_range(0..k) as f64 / (k - 1) as f64
                    };
                }
            }
        }
        point
    }
}

impl ArmSession for RandomSession {
    fn set_pool(&mut self, pool: Matrix) -> Result<(), String> {
        pool.check_shape()?;
        self.pool_rows = pool.rows();
        Ok(())
    }

    fn tell(&mut self, observations: Observations) -> Result<(), String> {
        observations.check_shape()?;
        self.observed += observations.len();
        Ok(())
    }

    fn propose(&mut self, request: ProposeRequest) -> Result<Vec<Proposed>, String> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ request.seed.rotate_left(32));
        let n = request.n as usize;
        if !request.candidates.is_empty() {
            if let Some(bad) = request
                .candidates
                .iter()
                .find(|&&i| i as usize >= self.pool_rows)
            {
                return Err(format!(
                    "candidate {bad} is outside the pool of {} rows",
                    self.pool_rows
                ));
            }
            let picks = rand::seq::index::sample(
                &mut rng,
                request.candidates.len(),
                n.min(request.candidates.len()),
            );
            return Ok(picks
                .into_iter()
                .map(|i| Proposed {
                    pool_index: Some(request.candidates[i]),
                    point: Vec::new(),
                    acquisition: 0.0,
                    mean: f64::NAN,
                    variance: f64::NAN,
                })
                .collect());
        }
        if !request.allow_off_pool {
            return Err(
                "no candidates left in the pool and off-pool points are not allowed".into(),
            );
        }
        Ok((0..n)
            .map(|_| Proposed {
                pool_index: None,
                point: self.random_point(&mut rng),
                acquisition: 0.0,
                mean: f64::NAN,
                variance: f64::NAN,
            })
            .collect())
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, String> {
        serde_json::to_vec(&RandomState {
            observed: self.observed,
        })
        .map_err(|e| e.to_string())
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let state: RandomState =
            serde_json::from_slice(state).map_err(|e| format!("random state: {e}"))?;
        self.observed = state.observed;
        Ok(())
    }
}

hpo_plugin_api::export_plugin!(RandomPlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use hpo_plugin_api::space::ParamSpec;

    fn space() -> SpaceSpec {
        SpaceSpec {
            params: vec![
                ParamSpec {
                    name: "x".into(),
                    kind: ParamKind::Continuous,
                    offset: 0,
                    width: 1,
                    log: false,
                    lower: 0.0,
                    upper: 1.0,
                    options: vec![],
                },
                ParamSpec {
                    name: "c".into(),
                    kind: ParamKind::Categorical,
                    offset: 1,
                    width: 3,
                    log: false,
                    lower: 0.0,
                    upper: 0.0,
                    options: vec!["a".into(), "b".into(), "c".into()],
                },
            ],
        }
    }

    fn open(seed: u64) -> Box<dyn ArmSession> {
        RandomPlugin::open_arm(ArmConfig {
            model: MODEL.into(),
            space_json: serde_json::to_string(&space()).unwrap(),
            options_json: "{}".into(),
            seed,
        })
        .unwrap()
    }

    fn request(candidates: Vec<u32>, n: u32, seed: u64) -> ProposeRequest {
        ProposeRequest {
            acquisition: "RANDOM".into(),
            candidates,
            pending: Matrix::empty(4),
            n,
            seed,
            allow_off_pool: true,
        }
    }

    #[test]
    fn proposes_distinct_candidates_from_the_pool() {
        let mut s = open(7);
        s.set_pool(Matrix::new(4, vec![0.0; 40]).unwrap()).unwrap();
        let got = s.propose(request(vec![1, 3, 5, 7], 3, 1)).unwrap();
        let mut idx: Vec<u32> = got.iter().map(|p| p.pool_index.unwrap()).collect();
        idx.sort();
        idx.dedup();
        assert_eq!(idx.len(), 3);
        assert!(idx.iter().all(|i| [1, 3, 5, 7].contains(i)));
    }

    #[test]
    fn same_seed_same_proposal() {
        let mut a = open(11);
        let mut b = open(11);
        for s in [&mut a, &mut b] {
            s.set_pool(Matrix::new(4, vec![0.0; 400]).unwrap()).unwrap();
        }
        let cands: Vec<u32> = (0..100).collect();
        let picks = |s: &mut Box<dyn ArmSession>, seed| -> Vec<Option<u32>> {
            let got = s.propose(request(cands.clone(), 2, seed)).unwrap();
            got.iter().map(|p| p.pool_index).collect()
        };
        assert_eq!(picks(&mut a, 5), picks(&mut b, 5));
        assert_ne!(picks(&mut a, 5), picks(&mut a, 6));
    }

    #[test]
    fn off_pool_points_respect_the_encoding() {
        let mut s = open(3);
        for p in s.propose(request(vec![], 20, 9)).unwrap() {
            assert_eq!(p.point.len(), 4);
            assert!((0.0..=1.0).contains(&p.point[0]));
            assert_eq!(p.point[1..].iter().sum::<f64>(), 1.0);
        }
    }

    #[test]
    fn candidates_outside_the_pool_are_an_error() {
        let mut s = open(3);
        s.set_pool(Matrix::new(4, vec![0.0; 8]).unwrap()).unwrap();
        assert!(s.propose(request(vec![5], 1, 0)).is_err());
    }

    #[test]
    fn unknown_options_are_rejected() {
        let err = RandomPlugin::validate(ComponentKind::Arm, MODEL, r#"{"kappa": 2}"#).unwrap_err();
        assert!(err.contains("kappa"), "{err}");
    }
}
