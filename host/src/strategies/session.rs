//! A strategy's session: one bandit plugin's session for one run, its rankings checked, its
//! state kept at every snapshot (after each choice and each update) so a reopened instance
//! (or a resumed run) continues.

use std::collections::HashSet;

use hpo_plugin_api::types::{Feedback, SelectRequest, StrategyConfig};

use crate::loader::{PluginError, Recovering, SessionError, SharedPlugin, StrategyBackend, lock};

/// A strategy session of one plugin for one run.
pub struct StrategySession {
    plugin: SharedPlugin,
    plugin_name: String,
    config: StrategyConfig,
    backend: Option<Box<dyn StrategyBackend>>,
    last_state: Option<Vec<u8>>,
    wants_nominations: bool,
}

impl StrategySession {
    /// Opens `config.name` on `plugin`.
    pub fn open(plugin: &SharedPlugin, config: StrategyConfig) -> Result<Self, SessionError> {
        let plugin_name = lock(plugin).info.name.clone();
        let mut session = StrategySession {
            plugin: plugin.clone(),
            plugin_name,
            config,
            backend: None,
            last_state: None,
            wants_nominations: false,
        };
        let mut backend = session.open_backend()?;
        session.wants_nominations = backend.wants_nominations().map_err(|e| session.error(e))?;
        session.backend = Some(backend);
        Ok(session)
    }

    fn open_backend(&self) -> Result<Box<dyn StrategyBackend>, SessionError> {
        lock(&self.plugin)
            .backend
            .open_strategy(&self.config)
            .map_err(|e| self.error(e))
    }

    /// Whether the strategy wants every arm's nominee and per-arm gains (BO-HEDGE).
    pub fn wants_nominations(&self) -> bool {
        self.wants_nominations
    }

    /// Arm indices, best first: checked to be distinct arms of this run.
    pub fn select(&mut self, request: &SelectRequest) -> Result<Vec<u32>, SessionError> {
        let ranking = self.with_backend(|b| b.select(request))?;
        let arms = self.config.arm_names.len();
        let mut seen = HashSet::new();
        for &i in &ranking {
            if i as usize >= arms {
                return Err(self.error(PluginError::Malformed(format!(
                    "select returned arm {i}, but there are {arms} arms"
                ))));
            }
            if !seen.insert(i) {
                return Err(self.error(PluginError::Malformed(format!(
                    "select returned arm {i} twice"
                ))));
            }
        }
        if ranking.is_empty() && arms > 0 {
            return Err(self.error(PluginError::Malformed("select returned no arm".into())));
        }
        Ok(ranking)
    }

    /// Reports the outcome of a selection; [`StrategySession::snapshot`] then keeps the
    /// strategy's new state (the run takes one after every update).
    pub fn update(&mut self, feedback: &Feedback) -> Result<(), SessionError> {
        self.with_backend(|b| b.update(feedback))
    }

    /// The strategy's state now (a selection may have changed it since the last update:
    /// a draw); kept, so that a reopened instance continues from it.
    pub fn snapshot(&mut self) -> Result<Vec<u8>, SessionError> {
        let state = self.with_backend(|b| b.snapshot())?;
        self.last_state = Some(state.clone());
        Ok(state)
    }

    /// Restores a state written by [`StrategySession::snapshot`].
    pub fn restore(&mut self, state: &[u8]) -> Result<(), SessionError> {
        self.with_backend(|b| b.restore(state))?;
        self.last_state = Some(state.to_vec());
        Ok(())
    }
}

impl Recovering for StrategySession {
    type Backend = dyn StrategyBackend;

    fn slot(&mut self) -> &mut Option<Box<dyn StrategyBackend>> {
        &mut self.backend
    }

    fn reopen(&mut self) -> Result<Box<dyn StrategyBackend>, SessionError> {
        let mut fresh = self.open_backend()?;
        if let Some(state) = &self.last_state {
            fresh.restore(state).map_err(|e| self.error(e))?;
        }
        Ok(fresh)
    }

    fn error(&self, source: PluginError) -> SessionError {
        SessionError {
            plugin: self.plugin_name.clone(),
            what: "strategy",
            name: self.config.name.clone(),
            source,
        }
    }
}
