//! An arm's session: one model plugin's session for one run, with every output checked
//! against the contract before anything uses it, and the history kept so a dead instance is
//! reopened and brought up to date.

use std::collections::HashSet;

use hpo_plugin_api::types::{
    ArmConfig, Matrix, Observations, Prediction, ProposeRequest, Proposed,
};

use crate::loader::{ArmBackend, PluginError, Recovering, SessionError, SharedPlugin, lock};

/// Upper bound of an encoded coordinate's distance outside `[0, 1]` that still counts as
/// inside (rounding in a plugin's own transforms).
const UNIT_SLACK: f64 = 1e-9;

/// A model session of one plugin for one run.
pub struct ArmSession {
    plugin: SharedPlugin,
    plugin_name: String,
    config: ArmConfig,
    dims: usize,
    pool: Matrix,
    history: Observations,
    backend: Option<Box<dyn ArmBackend>>,
    reopened: u32,
}

impl ArmSession {
    /// Opens a session of `config.model` on `plugin`, for points of `dims` encoded columns.
    pub fn open(
        plugin: &SharedPlugin,
        config: ArmConfig,
        dims: usize,
    ) -> Result<Self, SessionError> {
        let plugin_name = lock(plugin).info.name.clone();
        let mut session = ArmSession {
            plugin: plugin.clone(),
            plugin_name,
            config,
            dims,
            pool: Matrix::empty(dims as u32),
            history: Observations {
                x: Matrix::empty(dims as u32),
                ..Observations::default()
            },
            backend: None,
            reopened: 0,
        };
        session.backend = Some(session.open_backend()?);
        Ok(session)
    }

    fn open_backend(&self) -> Result<Box<dyn ArmBackend>, SessionError> {
        lock(&self.plugin)
            .backend
            .open_arm(&self.config)
            .map_err(|e| self.error(e))
    }

    /// How often the session was reopened after its instance died.
    pub fn reopened(&self) -> u32 {
        self.reopened
    }

    /// Encoded columns of the points this session takes.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The model name.
    pub fn model(&self) -> &str {
        &self.config.model
    }

    /// The plugin's name.
    pub fn plugin_name(&self) -> &str {
        &self.plugin_name
    }

    /// Gives the candidate pool (encoded, `dims` columns).
    pub fn set_pool(&mut self, pool: Matrix) -> Result<(), SessionError> {
        if pool.cols as usize != self.dims || pool.check_shape().is_err() {
            return Err(self.error(PluginError::Failed(format!(
                "pool has {} columns, the space has {}",
                pool.cols, self.dims
            ))));
        }
        self.pool = pool;
        let pool = self.pool.clone();
        self.with_backend(|b| b.set_pool(&pool))
    }

    /// Appends observations. They are kept even when the call fails, so a reopened session
    /// learns them too.
    pub fn tell(&mut self, observations: &Observations) -> Result<(), SessionError> {
        observations
            .check_shape()
            .map_err(|e| self.error(PluginError::Failed(e)))?;
        if observations.x.cols as usize != self.dims && !observations.is_empty() {
            return Err(self.error(PluginError::Failed(format!(
                "observations have {} columns, the space has {}",
                observations.x.cols, self.dims
            ))));
        }
        self.history.extend(observations);
        if self.backend.is_none() {
            // The replay on the next call includes these observations.
            return Ok(());
        }
        for chunk in chunks(observations) {
            self.with_backend(|b| b.tell(&chunk))?;
        }
        Ok(())
    }

    /// Starts the model afresh (a new backend session with the same settings and pool) and
    /// tells it `history` alone.
    pub fn refit(&mut self, history: &Observations) -> Result<(), SessionError> {
        self.history = Observations {
            x: Matrix::empty(self.dims as u32),
            ..Observations::default()
        };
        self.backend = Some(self.open_backend()?);
        let pool = self.pool.clone();
        self.with_backend(|b| b.set_pool(&pool))?;
        self.tell(history)
    }

    /// Asks for proposals and checks them against the request.
    pub fn propose(&mut self, request: &ProposeRequest) -> Result<Vec<Proposed>, SessionError> {
        let proposed = self.with_backend(|b| b.propose(request))?;
        check_proposals(&proposed, request, self.dims).map_err(|e| self.error(e))?;
        Ok(proposed)
    }

    /// The model's prediction at `points`, checked.
    pub fn predict(&mut self, points: &Matrix) -> Result<Prediction, SessionError> {
        let prediction = self.with_backend(|b| b.predict(points))?;
        let n = points.rows();
        if prediction.mean.len() != n || prediction.variance.len() != n {
            return Err(self.error(PluginError::Malformed(format!(
                "predict returned {} means and {} variances for {n} points",
                prediction.mean.len(),
                prediction.variance.len()
            ))));
        }
        if let Some(v) = prediction
            .variance
            .iter()
            .chain(&prediction.mean)
            .find(|v| !v.is_finite())
        {
            return Err(self.error(PluginError::Malformed(format!(
                "predict returned a non-finite value ({v})"
            ))));
        }
        if let Some(v) = prediction.variance.iter().find(|v| **v < 0.0) {
            return Err(self.error(PluginError::Malformed(format!(
                "predict returned a negative variance ({v})"
            ))));
        }
        Ok(prediction)
    }

    /// The plugin's state, for `--resume`.
    pub fn snapshot(&mut self) -> Result<Vec<u8>, SessionError> {
        self.with_backend(|b| b.snapshot())
    }

    /// Restores a state written by [`ArmSession::snapshot`].
    pub fn restore(&mut self, state: &[u8]) -> Result<(), SessionError> {
        self.with_backend(|b| b.restore(state))
    }
}

impl Recovering for ArmSession {
    type Backend = dyn ArmBackend;

    fn slot(&mut self) -> &mut Option<Box<dyn ArmBackend>> {
        &mut self.backend
    }

    fn reopen(&mut self) -> Result<Box<dyn ArmBackend>, SessionError> {
        let mut fresh = self.open_backend()?;
        if self.pool.rows() > 0 {
            fresh.set_pool(&self.pool).map_err(|e| self.error(e))?;
        }
        for chunk in chunks(&self.history) {
            fresh.tell(&chunk).map_err(|e| self.error(e))?;
        }
        self.reopened += 1;
        tracing::info!(
            plugin = %self.plugin_name,
            arm = %self.config.model,
            observations = self.history.len(),
            "session reopened and history re-sent"
        );
        Ok(fresh)
    }

    fn error(&self, source: PluginError) -> SessionError {
        SessionError {
            plugin: self.plugin_name.clone(),
            what: "arm",
            name: self.config.model.clone(),
            source,
        }
    }
}

/// Most observations one `tell` carries. A replayed history (a resumed run, a reopened
/// session) goes in calls of this size, so that a model which learns as it is told (the GP
/// refits on its schedule) does bounded work per call, inside the sandbox's deadline.
pub const TELL_CHUNK: usize = 16;

/// `observations` in pieces of at most [`TELL_CHUNK`] (none when empty).
fn chunks(observations: &Observations) -> Vec<Observations> {
    let cols = observations.x.cols as usize;
    (0..observations.len())
        .step_by(TELL_CHUNK)
        .map(|start| {
            let end = (start + TELL_CHUNK).min(observations.len());
            Observations {
                x: Matrix {
                    cols: observations.x.cols,
                    data: observations.x.data[start * cols..end * cols].to_vec(),
                },
                y: observations.y[start..end].to_vec(),
                cost: observations.cost[start..end].to_vec(),
                status: observations.status[start..end].to_vec(),
            }
        })
        .collect()
}

/// Checks proposals against the contract: the number asked for (fewer only when the pool
/// runs out), pool indices among the candidates and not repeated, points of the right
/// length inside the unit cube and only when allowed, finite acquisition values, and
/// non-negative variances.
pub fn check_proposals(
    proposed: &[Proposed],
    request: &ProposeRequest,
    dims: usize,
) -> Result<(), PluginError> {
    let bad = |m: String| Err(PluginError::Malformed(m));
    let n = request.n as usize;
    let max_possible = if request.allow_off_pool {
        n
    } else {
        n.min(request.candidates.len())
    };
    if proposed.len() > n || proposed.len() < max_possible || proposed.is_empty() && n > 0 {
        return bad(format!("asked for {n} proposals, got {}", proposed.len()));
    }
    let candidates: HashSet<u32> = request.candidates.iter().copied().collect();
    let mut seen = HashSet::new();
    for (i, p) in proposed.iter().enumerate() {
        match p.pool_index {
            Some(index) => {
                if !candidates.contains(&index) {
                    return bad(format!(
                        "proposal {i}: pool index {index} is not among the {} candidates",
                        candidates.len()
                    ));
                }
                if !seen.insert(index) {
                    return bad(format!("proposal {i}: pool index {index} proposed twice"));
                }
            }
            None => {
                if !request.allow_off_pool {
                    return bad(format!(
                        "proposal {i}: a point off the pool, which this objective does not accept"
                    ));
                }
                if p.point.len() != dims {
                    return bad(format!(
                        "proposal {i}: point has {} coordinates, the space has {dims}",
                        p.point.len()
                    ));
                }
                if let Some(v) = p.point.iter().find(|v| !v.is_finite()) {
                    return bad(format!(
                        "proposal {i}: point has a non-finite coordinate ({v})"
                    ));
                }
                if let Some(v) = p
                    .point
                    .iter()
                    .find(|v| **v < -UNIT_SLACK || **v > 1.0 + UNIT_SLACK)
                {
                    return bad(format!("proposal {i}: coordinate {v} is outside [0, 1]"));
                }
            }
        }
        if p.acquisition.is_nan() {
            return bad(format!("proposal {i}: acquisition value is NaN"));
        }
        if p.variance < 0.0 || p.variance.is_infinite() || p.mean.is_infinite() {
            return bad(format!(
                "proposal {i}: invalid mean/variance ({}, {})",
                p.mean, p.variance
            ));
        }
    }
    Ok(())
}
