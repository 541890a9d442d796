//! The training node's protocol (the seed's REST resources), typed once for the server
//! (`hpo worker`, [`super::worker`]) and the client (`hpo run -w URL`,
//! [`super::client`]): the node's description and configuration, a job request
//! and the job document, and the credential header.
//!
//! Reading is lenient where the seed's own nodes differ (every field of a job document has a
//! default; an unknown status is [`JobStatus::Other`]), so the client also drives them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The node type a worker reports on `GET /`.
pub const NODE_TYPE: &str = "Training Node";

/// The `Authorization` value a client sends for a worker's credential (RFC 7617 Basic).
pub fn basic_auth(credential: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credential)
    )
}

/// What a job is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Created, not started.
    #[default]
    Created,
    /// Running.
    Processing,
    /// Finished with a value.
    Done,
    /// Finished without one.
    Failed,
    /// Stopped (`DELETE`).
    Terminated,
    /// A status this version does not know (read only).
    #[serde(other)]
    Other,
}

impl JobStatus {
    /// The status as the protocol spells it (`done`, `failed`, ...).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// Whether the job has ended.
    pub fn ended(self) -> bool {
        matches!(
            self,
            JobStatus::Done | JobStatus::Failed | JobStatus::Terminated
        )
    }
}

/// `POST /jobs/`: the configuration to train and, for a table, its row.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobRequest {
    /// Parameter values by name.
    #[serde(default)]
    pub hyperparams: Map<String, Value>,
    /// `cand_index`: the table row, when the objective is a table.
    #[serde(default)]
    pub config: Map<String, Value>,
}

/// A job document (`GET /jobs/<id>/`): the seed's fields plus `epochs`, `value` and
/// `error`. `lr` is the curve (the value after each report), `times` its seconds since the
/// start, `epochs` their epochs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct JobDocument {
    /// The job's id.
    pub job_id: String,
    /// When it was created (seconds since the epoch).
    pub created: f64,
    /// What it is doing.
    pub status: JobStatus,
    /// The last reported value.
    pub cur_loss: Option<f64>,
    /// The last reported epoch.
    pub cur_iter: usize,
    /// The unit of `cur_iter`.
    pub iter_unit: String,
    /// The values reported so far (once done: the interim reports, then the final value).
    pub lr: Vec<f64>,
    /// Their epochs.
    pub epochs: Vec<usize>,
    /// Their seconds since the start.
    pub times: Vec<f64>,
    /// The job's run time, seconds.
    pub run_time: Option<f64>,
    /// The final value, once done.
    pub value: Option<f64>,
    /// Why it failed.
    pub error: Option<String>,
    /// The parameters it trains.
    pub hyperparams: Map<String, Value>,
    /// Its configuration (`cand_index`).
    pub config: Map<String, Value>,
}

/// `GET /config/`: what the node evaluates.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeConfig {
    /// The objective.
    pub run_config: RunConfigDoc,
    /// The space's name and free-form configuration.
    pub hp_config: Value,
}

/// The `run_config` of [`NodeConfig`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunConfigDoc {
    /// The objective's label.
    pub target_func: String,
    /// Its parameters, in order.
    pub param_order: Vec<String>,
    /// The rows of its table, if it replays one.
    pub pool_rows: Option<usize>,
}
