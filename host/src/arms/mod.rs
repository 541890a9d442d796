//! Arms: a model plugin's session and an acquisition, as a run uses them. The options an
//! arm's plugin receives ([`arm_options`]), the sessions of a run's arms with one fitted
//! model per (plugin, model) ([`Arms`]), and their health: failures counted, an arm
//! suspended after [`SUSPEND_AFTER`] in a row ([`ArmHealth`]).
//!
//! Invariant: a proposal reaches the run only after its session checked it against the
//! contract; an arm's failure is charged to that arm alone.

mod health;
mod options;
mod session;

pub use health::{ArmHealth, SUSPEND_AFTER};
pub use options::{ArmOptions, OptionsError, arm_options};
pub use session::{ArmSession, check_proposals};

use hpo_plugin_api::types::{ArmConfig, Matrix, Observations, ProposeRequest, Proposed};

use crate::config::{ArmRef, RunConfig};
use crate::loader::SessionError;
use crate::registry::{HostError, Loaded, ProviderError, resolve_arms};
use crate::space::Space;

/// Why a run's arms cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum ArmError {
    /// No plugin (or several) serves an arm.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// A plugin could not be loaded.
    #[error(transparent)]
    Host(#[from] HostError),
    /// A session could not be opened.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A plugin refused its options.
    #[error(transparent)]
    Options(#[from] OptionsError),
}

/// The arms of one run: their sessions, one per (plugin, model), so that arms of one model
/// share its fitted model.
pub struct Arms {
    refs: Vec<ArmRef>,
    names: Vec<String>,
    sessions: Vec<ArmSession>,
    /// The session of each arm.
    session_of: Vec<usize>,
}

impl Arms {
    /// Opens the sessions of `arms` over `space` with the options of `config`, each given
    /// the pool as the arms see it (`shown`).
    pub fn open(
        loaded: &mut Loaded<'_>,
        arms: &[ArmRef],
        config: &RunConfig,
        space: &Space,
        shown: &Matrix,
        seed: u64,
    ) -> Result<Self, ArmError> {
        let providers = resolve_arms(loaded.host(), arms)?;
        let space_json = serde_json::to_string(&space.spec()).expect("space spec serializes");
        let dims = space.encoded_dims();
        let mut sessions: Vec<ArmSession> = Vec::new();
        let mut keys: Vec<(String, String)> = Vec::new();
        let mut session_of = Vec::new();
        for (arm, plugin_name) in arms.iter().zip(&providers) {
            let key = (plugin_name.clone(), arm.model.clone());
            let index = match keys.iter().position(|k| *k == key) {
                Some(i) => i,
                None => {
                    let plugin = loaded.get(plugin_name)?;
                    let options = {
                        let mut plugin = crate::loader::lock(&plugin);
                        arm_options(plugin.backend.as_mut(), plugin_name, arm, config)?
                    };
                    let mut session = ArmSession::open(
                        &plugin,
                        ArmConfig {
                            model: arm.model.clone(),
                            space_json: space_json.clone(),
                            options_json: options.json,
                            seed,
                        },
                        dims,
                    )?;
                    session.set_pool(shown.clone())?;
                    sessions.push(session);
                    keys.push(key);
                    sessions.len() - 1
                }
            };
            session_of.push(index);
        }
        Ok(Arms {
            refs: arms.to_vec(),
            names: arms.iter().map(ArmRef::name).collect(),
            sessions,
            session_of,
        })
    }

    /// The arms' names (`MODEL/ACQ`), in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Arm `a`'s one proposal among `candidates` (pool positions), or off the pool when
    /// allowed, knowing that the `pending` points are being evaluated.
    pub fn propose(
        &mut self,
        a: usize,
        candidates: &[u32],
        pending: &Matrix,
        seed: u64,
        allow_off_pool: bool,
    ) -> Result<Proposed, SessionError> {
        let session = &mut self.sessions[self.session_of[a]];
        let request = ProposeRequest {
            acquisition: self.refs[a].acq_func.clone(),
            candidates: candidates.to_vec(),
            pending: pending.clone(),
            n: 1,
            seed,
            allow_off_pool,
        };
        let mut proposed = session.propose(&request)?;
        // check_proposals guarantees one proposal when one was asked for and any can be made.
        Ok(proposed.swap_remove(0))
    }

    /// Tells every model a new observation; a model that fails is logged and learns it on
    /// its next reopening (the session keeps its history).
    pub fn tell(&mut self, observed: &Observations) {
        for session in &mut self.sessions {
            if let Err(e) = session.tell(observed) {
                tracing::warn!("{e}");
            }
        }
    }

    /// Refits every model on `history` alone (fresh sessions, the same pool): a scheduled
    /// run whose models move to another budget's trials. A failure stops the run.
    pub fn refit(&mut self, history: &Observations) -> Result<(), SessionError> {
        self.sessions.iter_mut().try_for_each(|s| s.refit(history))
    }

    /// Tells every model the replayed history of a resumed run; a failure stops the run.
    pub fn replay(&mut self, history: &Observations) -> Result<(), SessionError> {
        self.sessions.iter_mut().try_for_each(|s| s.tell(history))
    }

    /// The first model that predicts at `points`, in cost units (BO-HEDGE's reference).
    pub fn predict_first(&mut self, points: &Matrix) -> Option<Vec<f64>> {
        self.sessions
            .iter_mut()
            .find_map(|s| s.predict(points).ok())
            .map(|p| p.mean)
    }
}
