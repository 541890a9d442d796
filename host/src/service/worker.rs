//! `hpo worker`: a training node serving any objective (a training command, a surrogate
//! table, a test function) over the seed's training-node REST protocol, so that `hpo run
//! -w URL` (or the seed's own runner) can delegate evaluations to another machine.
//!
//! Resources (all JSON; `Authorization: Basic base64(credential)` when the node has one):
//!
//! | method & path | answer |
//! |---|---|
//! | `GET /` | `{spec: {node_type, id, device_id}, urls}` |
//! | `GET /config/` | `{run_config: {target_func, param_order, pool_rows}, hp_config}` |
//! | `GET /jobs/` | `[job_id, ...]` |
//! | `POST /jobs/` | `{hyperparams: {name: value}, config: {cand_index?}}` → `201 {job_id}` |
//! | `GET /jobs/<id>/` (or `active`: the oldest job processing) | the job document |
//! | `PUT /jobs/<id>/?control=start` | `202` job document; `400` while every slot is busy |
//! | `DELETE /jobs/<id>/` | stops the job: `200 {job_id}` |
//!
//! A job document carries the seed's fields (`job_id, created, status, cur_loss, lr,
//! times, cur_iter, iter_unit, run_time, hyperparams, config`) plus `value` (the final
//! value) and `error` (why a job failed). Statuses: `created`, `processing`, `done`,
//! `failed`, `terminated`. A node runs as many jobs at once as it has slots (`hpo worker
//! --slots K`, reported as `spec.slots`; one by default, as on the seed's nodes); each slot
//! evaluates with its own copy of the objective (a training command learns its slot as
//! `HPO_WORKER` and `{worker}`).
//!
//! The node is exposed to its network, so it is served by the hardened shell of
//! [`super::http`] (bounded headers, bodies, time and connections), and:
//! - the credential is checked before a request's body is read; the comparison is
//!   constant-time (SHA-256 digests compared with `subtle`), the scheme is
//!   case-insensitive (RFC 7617), two `Authorization` headers are a 400;
//! - it refuses to listen beyond the loopback without a credential unless told
//!   `--insecure` ([`check_exposure`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::http;
use super::protocol::{JobDocument, JobRequest, JobStatus, NODE_TYPE, NodeConfig, RunConfigDoc};
use crate::objectives::{Budget, Candidate, Interim, Objective, Outcome, Watch};
use crate::space::Space;

/// One training job.
struct Job {
    id: String,
    created: f64,
    status: JobStatus,
    hyperparams: Map<String, Value>,
    config: Map<String, Value>,
    candidate: Candidate,
    /// The scheduler's budget, if any.
    budget: Option<Budget>,
    /// The slot it runs on, once started.
    slot: Option<usize>,
    curve: Vec<Interim>,
    evaluation: Option<Outcome>,
    stop: Arc<AtomicBool>,
}

impl Job {
    fn document(&self) -> JobDocument {
        // While the job runs, the reports streamed so far (the last of them may turn out to
        // be the final value); once it succeeded, its interim reports and then the final.
        let finished = self
            .evaluation
            .as_ref()
            .filter(|e| e.failure.is_none() && !e.terminated);
        let reports = finished.map_or(self.curve.as_slice(), |e| e.interim.as_slice());
        let mut curve: Vec<(usize, f64, f64)> =
            reports.iter().map(|r| (r.epoch, r.value, r.time)).collect();
        if let Some(e) = finished {
            curve.push((e.epochs.unwrap_or(curve.len() + 1), e.value, e.cost));
        }
        let last = curve.last().copied();
        let evaluation = self.evaluation.as_ref();
        JobDocument {
            job_id: self.id.clone(),
            created: self.created,
            status: self.status,
            cur_loss: last.map(|c| c.1),
            cur_iter: last.map_or(0, |c| c.0),
            iter_unit: "epoch".into(),
            lr: curve.iter().map(|c| c.1).collect(),
            epochs: curve.iter().map(|c| c.0).collect(),
            times: curve.iter().map(|c| c.2).collect(),
            run_time: evaluation.map(|e| e.cost).or(last.map(|c| c.2)),
            value: finished.map(|e| e.value),
            error: evaluation.and_then(|e| e.failure.clone()),
            hyperparams: self.hyperparams.clone(),
            config: self.config.clone(),
        }
    }
}

/// The node's state, shared by the request loop and the job threads.
struct Node {
    id: String,
    /// The objective's label, space and number of rows (read without waiting for a job).
    label: String,
    space: Space,
    pool_rows: Option<usize>,
    /// One objective per slot, each held by the job running on it.
    objectives: Vec<Mutex<Box<dyn Objective>>>,
    jobs: Mutex<BTreeMap<String, Job>>,
    next_job: Mutex<u64>,
    /// The SHA-256 digest of the credential, when the node has one.
    credential_digest: Option<[u8; 32]>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Jobs the node remembers: beyond, the oldest finished ones are forgotten, and a request
/// that would need more room than that is refused (503).
pub const MAX_JOBS: usize = 1000;

/// Refuses an address beyond the loopback for a node without a credential, unless the
/// user said `--insecure` (then it warns: anyone who can reach the node may run jobs).
pub fn check_exposure(
    listen: &str,
    has_credential: bool,
    insecure: bool,
) -> Result<(), WorkerError> {
    let exposed = http::exposed(listen).map_err(|source| WorkerError::Address {
        listen: listen.to_string(),
        source,
    })?;
    match (exposed, has_credential, insecure) {
        (true, false, false) => Err(WorkerError::Exposed(listen.to_string())),
        (true, false, true) => {
            tracing::warn!(
                "worker on {listen} without a credential (--insecure): anyone who can reach it can run jobs"
            );
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Why a worker cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// `--listen` is not an address.
    #[error("--listen {listen}: {source}")]
    Address {
        /// The address given.
        listen: String,
        /// Why.
        source: std::io::Error,
    },
    /// Beyond the loopback without a credential or `--insecure`.
    #[error(
        "--listen {0} is reachable beyond this machine and the worker has no credential: set HPO_WORKER_CREDENTIAL (clients send it too), or pass --insecure to accept jobs from anyone"
    )]
    Exposed(String),
    /// The address cannot be bound.
    #[error("cannot listen on {listen}: {source}")]
    Listen {
        /// The address.
        listen: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server's runtime cannot start.
    #[error("worker: cannot start the server: {0}")]
    Runtime(std::io::Error),
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A running worker: its address, and a handle that stops it.
pub struct Worker {
    listener: std::net::TcpListener,
    node: Arc<Node>,
}

impl Worker {
    /// Binds `listen` (e.g. `127.0.0.1:6000`; port 0 picks a free one) to serve `objective`
    /// with `slots` jobs at once.
    pub fn bind(
        listen: &str,
        objective: Box<dyn Objective>,
        slots: usize,
        credential: Option<&str>,
    ) -> Result<Self, WorkerError> {
        let cannot_listen = |source| WorkerError::Listen {
            listen: listen.to_string(),
            source,
        };
        let listener = std::net::TcpListener::bind(listen).map_err(cannot_listen)?;
        listener.set_nonblocking(true).map_err(cannot_listen)?;
        let node = Node {
            id: format!("{}-{}", NODE_TYPE.replace(' ', "-"), std::process::id()),
            label: objective.label(),
            space: objective.space().clone(),
            pool_rows: objective.pool().map(|p| p.rows()),
            objectives: (0..slots.max(1))
                .map(|slot| Mutex::new(objective.for_worker(slot)))
                .collect(),
            jobs: Mutex::new(BTreeMap::new()),
            next_job: Mutex::new(0),
            credential_digest: credential.map(|c| digest(c.as_bytes())),
        };
        Ok(Worker {
            listener,
            node: Arc::new(node),
        })
    }

    /// The address the worker listens on.
    pub fn address(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves requests until the process ends.
    pub fn serve(self) -> Result<(), WorkerError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(WorkerError::Runtime)?;
        runtime
            .block_on(http::serve(self.listener, app(self.node), "worker", None))
            .map_err(WorkerError::Runtime)
    }
}

/// The routes, behind the node's authentication and the shared limits.
fn app(node: Arc<Node>) -> axum::Router {
    let routes = axum::Router::new()
        .fallback(dispatch)
        // Runs before the body is read: an unauthenticated client never gets that far.
        .layer(axum::middleware::from_fn_with_state(
            node.clone(),
            authenticate,
        ))
        .with_state(node);
    http::limited(routes)
}

/// An HTTP answer: status and JSON body.
type Answer = (u16, Value);

fn error(status: u16, message: impl Into<String>) -> Answer {
    (status, json!({ "error": message.into() }))
}

fn respond((status, body): Answer) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::NO_CONTENT {
        return status.into_response();
    }
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Checks the credential (when the node has one) from the headers alone.
async fn authenticate(
    State(node): State<Arc<Node>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match authorized(&node, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(answer) => respond(answer),
    }
}

fn authorized(node: &Node, headers: &HeaderMap) -> Result<(), Answer> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (first, second) = (values.next(), values.next());
    if second.is_some() {
        return Err(error(400, "two Authorization headers"));
    }
    let Some(expected) = &node.credential_digest else {
        return Ok(());
    };
    let denied = || error(401, "missing or wrong credential (Authorization: Basic)");
    let value = first.and_then(|v| v.to_str().ok()).ok_or_else(denied)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(denied)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(denied());
    }
    let given = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| denied())?;
    if bool::from(digest(&given).ct_eq(expected)) {
        Ok(())
    } else {
        Err(denied())
    }
}

async fn dispatch(
    State(node): State<Arc<Node>>,
    method: Method,
    uri: Uri,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let answer = match body {
        Err(rejection) => error(rejection.status().as_u16(), rejection.body_text()),
        Ok(bytes) => match std::str::from_utf8(&bytes) {
            Ok(text) => {
                let url = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
                route(&node, &method, &url, text)
            }
            Err(_) => error(400, "the request body is not UTF-8"),
        },
    };
    respond(answer)
}

fn route(node: &Arc<Node>, method: &Method, url: &str, body: &str) -> Answer {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match (method, parts.as_slice()) {
        (&Method::GET, []) => (200, describe(node)),
        (&Method::GET, ["config"]) => (200, json!(config(node))),
        (&Method::GET, ["jobs"]) => (200, json!(lock(&node.jobs).keys().collect::<Vec<_>>())),
        (&Method::POST, ["jobs"]) => create_job(node, body),
        (&Method::GET, ["jobs", id]) => {
            let jobs = lock(&node.jobs);
            let job = if *id == "active" {
                match jobs.values().find(|j| j.status == JobStatus::Processing) {
                    Some(j) => Some(j),
                    None => return (204, json!({})),
                }
            } else {
                jobs.get(*id)
            };
            match job {
                Some(j) => (200, json!(j.document())),
                None => error(404, format!("no job '{id}'")),
            }
        }
        (&Method::PUT, ["jobs", id]) => {
            let control = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("control="))
                .unwrap_or("");
            match control {
                "start" => start_job(node, id),
                "pause" | "resume" => error(
                    400,
                    format!(
                        "control={control}: this node does not pause jobs (stop it with DELETE)"
                    ),
                ),
                other => error(400, format!("control='{other}': expected start")),
            }
        }
        (&Method::DELETE, ["jobs", id]) => {
            let mut jobs = lock(&node.jobs);
            match jobs.get_mut(*id) {
                Some(job) => {
                    job.stop.store(true, Ordering::Relaxed);
                    if matches!(job.status, JobStatus::Created | JobStatus::Processing) {
                        job.status = JobStatus::Terminated;
                    }
                    (200, json!({ "job_id": id }))
                }
                None => error(404, format!("no job '{id}'")),
            }
        }
        _ => error(
            405,
            format!("{method} {path} is not a resource of this node"),
        ),
    }
}

fn describe(node: &Node) -> Value {
    json!({
        "spec": {
            "node_type": NODE_TYPE,
            "id": node.id,
            "device_id": "cpu0",
            "slots": node.objectives.len(),
        },
        "urls": [
            { "/": { "method": ["GET"] } },
            { "/config/": { "method": ["GET"] } },
            { "/jobs/": { "method": ["GET", "POST"] } },
            { "/jobs/<job_id>/": { "method": ["GET", "PUT", "DELETE"] } },
        ],
    })
}

fn config(node: &Node) -> NodeConfig {
    let space = &node.space;
    NodeConfig {
        run_config: RunConfigDoc {
            target_func: node.label.clone(),
            param_order: space.params.iter().map(|p| p.name.clone()).collect(),
            pool_rows: node.pool_rows,
        },
        hp_config: json!({ "name": space.name, "config": space.config }),
    }
}

fn create_job(node: &Arc<Node>, body: &str) -> Answer {
    let JobRequest {
        hyperparams,
        config,
    } = match serde_json::from_str(body) {
        Ok(request) => request,
        Err(e) => return error(400, format!("invalid job request: {e}")),
    };
    let candidate = match candidate_of(node, &hyperparams, &config) {
        Ok(c) => c,
        Err(e) => return error(400, format!("invalid job request: {e}")),
    };
    let budget = match budget_of(node, &config) {
        Ok(b) => b,
        Err(e) => return error(400, format!("invalid job request: {e}")),
    };
    let id = {
        let mut next = lock(&node.next_job);
        *next += 1;
        format!("{}-cpu0-{:06}", node.id, *next)
    };
    let mut jobs = lock(&node.jobs);
    if !make_room(&mut jobs, MAX_JOBS) {
        return error(
            503,
            format!("{MAX_JOBS} jobs are waiting or running: start or delete some first"),
        );
    }
    jobs.insert(
        id.clone(),
        Job {
            id: id.clone(),
            created: now(),
            status: JobStatus::Created,
            hyperparams,
            config,
            candidate,
            budget,
            slot: None,
            curve: Vec::new(),
            evaluation: None,
            stop: Arc::default(),
        },
    );
    (201, json!({ "job_id": id }))
}

/// Forgets the oldest finished jobs until there is room for one more below `max`; false
/// when every remembered job is still waiting or running.
fn make_room(jobs: &mut BTreeMap<String, Job>, max: usize) -> bool {
    // Ids carry a zero-padded counter: the map's order is the order of creation.
    while jobs.len() >= max {
        let oldest_finished = jobs
            .iter()
            .find(|(_, j)| !matches!(j.status, JobStatus::Created | JobStatus::Processing))
            .map(|(id, _)| id.clone());
        match oldest_finished {
            Some(id) => {
                jobs.remove(&id);
            }
            None => return false,
        }
    }
    true
}

/// The budget of a job (`config.budget`: `{epochs, from, lineage}`), when a scheduler gave
/// one; refused when this node's objective takes none.
fn budget_of(node: &Node, config: &Map<String, Value>) -> Result<Option<Budget>, String> {
    let Some(value) = config.get("budget") else {
        return Ok(None);
    };
    let budget: Budget =
        serde_json::from_value(value.clone()).map_err(|e| format!("config.budget: {e}"))?;
    if !lock(&node.objectives[0]).budgets() {
        return Err("config.budget: this node's objective takes no budget".into());
    }
    if budget.epochs == 0 || budget.from >= budget.epochs {
        return Err(format!(
            "config.budget: needs 0 <= from < epochs (got from {} epochs {})",
            budget.from, budget.epochs
        ));
    }
    Ok(Some(budget))
}

/// The candidate of a job: a table row (`config.cand_index`) when the objective has rows,
/// else the hyperparameters encoded in the objective's space.
fn candidate_of(
    node: &Node,
    hyperparams: &Map<String, Value>,
    config: &Map<String, Value>,
) -> Result<Candidate, String> {
    if let Some(rows) = node.pool_rows {
        let index = config
            .get("cand_index")
            .and_then(Value::as_u64)
            .ok_or("this node replays a table: config.cand_index (a row) is required")?
            as usize;
        if index >= rows {
            return Err(format!("cand_index {index} is not a row (0..{rows})"));
        }
        return Ok(Candidate::Row(index));
    }
    let space = &node.space;
    let values = space
        .params
        .iter()
        .map(|p| {
            hyperparams
                .get(&p.name)
                .cloned()
                .ok_or_else(|| format!("hyperparams.{} is missing", p.name))
        })
        .collect::<Result<Vec<Value>, String>>()?;
    space.encode(&values).map(Candidate::Point)
}

fn start_job(node: &Arc<Node>, id: &str) -> Answer {
    let mut jobs = lock(&node.jobs);
    let Some(job) = jobs.get(id) else {
        return error(404, format!("no job '{id}'"));
    };
    let busy: Vec<usize> = jobs
        .values()
        .filter(|j| j.status == JobStatus::Processing)
        .filter_map(|j| j.slot)
        .collect();
    let free = (0..node.objectives.len()).find(|s| !busy.contains(s));
    let Some(slot) = free.filter(|_| job.status == JobStatus::Created) else {
        if job.status == JobStatus::Created {
            return error(
                400,
                format!(
                    "every slot is busy ({} jobs processing): start it when one ends",
                    busy.len()
                ),
            );
        }
        return error(
            400,
            format!(
                "job '{id}' is {}: only a created job starts",
                job.status.name()
            ),
        );
    };
    let job = jobs.get_mut(id).expect("looked up above");
    job.status = JobStatus::Processing;
    job.slot = Some(slot);
    let candidate = job.candidate.clone();
    let budget = job.budget;
    let document = json!(job.document());
    let stop = job.stop.clone();
    drop(jobs);

    let reporter = Arc::downgrade(node);
    let job_id = id.to_string();
    // DELETE sets the job's stop flag, which stops the evaluation.
    let watch = Watch::new(stop, move |report| {
        if let Some(node) = reporter.upgrade()
            && let Some(job) = lock(&node.jobs).get_mut(&job_id)
        {
            job.curve.push(report);
        }
    });
    let node = node.clone();
    let job_id = id.to_string();
    std::thread::spawn(move || {
        let result =
            lock(&node.objectives[slot]).evaluate_watched(&candidate, budget.as_ref(), &watch);
        let mut jobs = lock(&node.jobs);
        if let Some(job) = jobs.get_mut(&job_id) {
            let evaluation = match result {
                Ok(e) => e,
                Err(e) => Outcome::failed(Vec::new(), 0.0, None, e.to_string()),
            };
            if job.status == JobStatus::Processing {
                job.status = if evaluation.failure.is_some() {
                    JobStatus::Failed
                } else {
                    JobStatus::Done
                };
            }
            job.evaluation = Some(evaluation);
        }
    });
    (202, document)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: usize, status: JobStatus) -> (String, Job) {
        let id = format!("node-cpu0-{id:06}");
        let job = Job {
            id: id.clone(),
            created: 0.0,
            status,
            hyperparams: Map::new(),
            config: Map::new(),
            candidate: Candidate::Row(0),
            budget: None,
            slot: None,
            curve: Vec::new(),
            evaluation: None,
            stop: Arc::default(),
        };
        (id, job)
    }

    #[test]
    fn the_job_table_forgets_the_oldest_finished_jobs_and_refuses_beyond() {
        let mut jobs: BTreeMap<String, Job> = [
            job(1, JobStatus::Done),
            job(2, JobStatus::Created),
            job(3, JobStatus::Failed),
            job(4, JobStatus::Processing),
        ]
        .into_iter()
        .collect();
        assert!(make_room(&mut jobs, 4));
        assert_eq!(jobs.len(), 3);
        assert!(
            !jobs.contains_key("node-cpu0-000001"),
            "the oldest finished job went"
        );
        assert!(make_room(&mut jobs, 3));
        assert!(!jobs.contains_key("node-cpu0-000003"));
        // Only waiting and running jobs are left: no room is made.
        assert!(!make_room(&mut jobs, 2));
        assert_eq!(jobs.len(), 2);
    }
}
