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
//! | `GET /jobs/<id>/` (or `active`) | the job document |
//! | `PUT /jobs/<id>/?control=start` | `202` job document; `400` while another job runs |
//! | `DELETE /jobs/<id>/` | stops the job: `200 {job_id}` |
//!
//! A job document carries the seed's fields (`job_id, created, status, cur_loss, lr,
//! times, cur_iter, iter_unit, run_time, hyperparams, config`) plus `value` (the final
//! value) and `error` (why a job failed). Statuses: `created`, `processing`, `done`,
//! `failed`, `terminated`. One job runs at a time, as on the seed's nodes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Map, Value, json};
use tiny_http::{Header, Method, Request, Response, Server};

use crate::objectives::{Candidate, Evaluation, Interim, Objective, Watch};
use crate::space::Space;

/// The node type a worker reports on `GET /`.
pub const NODE_TYPE: &str = "Training Node";

/// What a job is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Created,
    Processing,
    Done,
    Failed,
    Terminated,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Processing => "processing",
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Terminated => "terminated",
        }
    }
}

/// One training job.
struct Job {
    id: String,
    created: f64,
    status: Status,
    hyperparams: Map<String, Value>,
    config: Map<String, Value>,
    candidate: Candidate,
    curve: Vec<Interim>,
    evaluation: Option<Evaluation>,
    stop: Arc<AtomicBool>,
}

impl Job {
    fn document(&self) -> Value {
        // While the job runs, the reports streamed so far (the last of them may turn out to
        // be the final value); once it succeeded, its interim reports and then the final.
        let finished = self.evaluation.as_ref().filter(|e| e.failure.is_none());
        let reports = finished.map_or(self.curve.as_slice(), |e| e.interim.as_slice());
        let mut curve: Vec<(usize, f64, f64)> =
            reports.iter().map(|r| (r.epoch, r.value, r.time)).collect();
        if let Some(e) = finished {
            curve.push((e.epochs.unwrap_or(curve.len() + 1), e.value, e.cost));
        }
        let last = curve.last().copied();
        let evaluation = self.evaluation.as_ref();
        json!({
            "job_id": self.id,
            "created": self.created,
            "status": self.status.name(),
            "cur_loss": last.map(|c| c.1),
            "cur_iter": last.map_or(0, |c| c.0),
            "iter_unit": "epoch",
            "lr": curve.iter().map(|c| c.1).collect::<Vec<_>>(),
            "epochs": curve.iter().map(|c| c.0).collect::<Vec<_>>(),
            "times": curve.iter().map(|c| c.2).collect::<Vec<_>>(),
            "run_time": evaluation.map(|e| e.cost).or(last.map(|c| c.2)),
            "value": evaluation.filter(|e| e.failure.is_none()).map(|e| e.value),
            "error": evaluation.and_then(|e| e.failure.clone()),
            "hyperparams": self.hyperparams,
            "config": self.config,
        })
    }
}

/// The node's state, shared by the request loop and the job threads.
struct Node {
    id: String,
    /// The objective's label, space and number of rows (read without waiting for a job).
    label: String,
    space: Space,
    pool_rows: Option<usize>,
    /// Held by the running job.
    objective: Mutex<Box<dyn Objective>>,
    jobs: Mutex<BTreeMap<String, Job>>,
    next_job: Mutex<u64>,
    /// `Basic base64(credential)`, when the node has a credential.
    expected_auth: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The `Authorization` value of a credential.
pub fn basic_auth(credential: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credential)
    )
}

/// A running worker: its address, and a handle that stops it.
pub struct Worker {
    server: Arc<Server>,
    node: Arc<Node>,
}

impl Worker {
    /// Binds `listen` (e.g. `127.0.0.1:6000`; port 0 picks a free one) to serve `objective`.
    pub fn bind(
        listen: &str,
        objective: Box<dyn Objective>,
        credential: Option<&str>,
    ) -> Result<Self, String> {
        let server = Server::http(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let node = Node {
            id: format!("{}-{}", NODE_TYPE.replace(' ', "-"), std::process::id()),
            label: objective.label(),
            space: objective.space().clone(),
            pool_rows: objective.pool().map(|p| p.rows()),
            objective: Mutex::new(objective),
            jobs: Mutex::new(BTreeMap::new()),
            next_job: Mutex::new(0),
            expected_auth: credential.map(basic_auth),
        };
        Ok(Worker {
            server: Arc::new(server),
            node: Arc::new(node),
        })
    }

    /// The address the worker listens on.
    pub fn address(&self) -> Option<SocketAddr> {
        self.server.server_addr().to_ip()
    }

    /// Serves requests until the process ends.
    pub fn serve(&self) {
        for request in self.server.incoming_requests() {
            let node = self.node.clone();
            // Requests are short; the jobs run on their own threads.
            handle(&node, request);
        }
    }
}

/// An HTTP answer: status and JSON body.
type Answer = (u16, Value);

fn error(status: u16, message: impl Into<String>) -> Answer {
    (status, json!({ "error": message.into() }))
}

fn handle(node: &Arc<Node>, mut request: Request) {
    let answer = if !authorized(node, &request) {
        error(401, "missing or wrong credential (Authorization: Basic)")
    } else {
        let mut body = String::new();
        match request.as_reader().read_to_string(&mut body) {
            Ok(_) => route(node, request.method(), request.url(), &body),
            Err(e) => error(400, format!("unreadable request body: {e}")),
        }
    };
    let header =
        Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..]).expect("a valid header");
    let response = Response::from_string(answer.1.to_string())
        .with_status_code(answer.0)
        .with_header(header);
    if let Err(e) = request.respond(response) {
        tracing::warn!("worker: could not answer a request: {e}");
    }
}

fn authorized(node: &Node, request: &Request) -> bool {
    let Some(expected) = &node.expected_auth else {
        return true;
    };
    request
        .headers()
        .iter()
        .any(|h| h.field.equiv("Authorization") && h.value.as_str() == expected)
}

fn route(node: &Arc<Node>, method: &Method, url: &str, body: &str) -> Answer {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match (method, parts.as_slice()) {
        (Method::Get, []) => (200, describe(node)),
        (Method::Get, ["config"]) => (200, config(node)),
        (Method::Get, ["jobs"]) => (200, json!(lock(&node.jobs).keys().collect::<Vec<_>>())),
        (Method::Post, ["jobs"]) => create_job(node, body),
        (Method::Get, ["jobs", id]) => {
            let jobs = lock(&node.jobs);
            let job = if *id == "active" {
                match jobs.values().find(|j| j.status == Status::Processing) {
                    Some(j) => Some(j),
                    None => return (204, json!({})),
                }
            } else {
                jobs.get(*id)
            };
            match job {
                Some(j) => (200, j.document()),
                None => error(404, format!("no job '{id}'")),
            }
        }
        (Method::Put, ["jobs", id]) => {
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
        (Method::Delete, ["jobs", id]) => {
            let mut jobs = lock(&node.jobs);
            match jobs.get_mut(*id) {
                Some(job) => {
                    job.stop.store(true, Ordering::Relaxed);
                    if matches!(job.status, Status::Created | Status::Processing) {
                        job.status = Status::Terminated;
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
        "spec": { "node_type": NODE_TYPE, "id": node.id, "device_id": "cpu0" },
        "urls": [
            { "/": { "method": ["GET"] } },
            { "/config/": { "method": ["GET"] } },
            { "/jobs/": { "method": ["GET", "POST"] } },
            { "/jobs/<job_id>/": { "method": ["GET", "PUT", "DELETE"] } },
        ],
    })
}

fn config(node: &Node) -> Value {
    let space = &node.space;
    json!({
        "run_config": {
            "target_func": node.label,
            "param_order": space.params.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
            "pool_rows": node.pool_rows,
        },
        "hp_config": { "name": space.name, "config": space.config },
    })
}

fn create_job(node: &Arc<Node>, body: &str) -> Answer {
    let request: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return error(400, format!("invalid job request: {e}")),
    };
    let hyperparams = request
        .get("hyperparams")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let config = request
        .get("config")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let candidate = match candidate_of(node, &hyperparams, &config) {
        Ok(c) => c,
        Err(e) => return error(400, format!("invalid job request: {e}")),
    };
    let id = {
        let mut next = lock(&node.next_job);
        *next += 1;
        format!("{}-cpu0-{:06}", node.id, *next)
    };
    lock(&node.jobs).insert(
        id.clone(),
        Job {
            id: id.clone(),
            created: now(),
            status: Status::Created,
            hyperparams,
            config,
            candidate,
            curve: Vec::new(),
            evaluation: None,
            stop: Arc::default(),
        },
    );
    (201, json!({ "job_id": id }))
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
    if let Some(busy) = jobs
        .values()
        .find(|j| j.status == Status::Processing && j.id != id)
    {
        return error(
            400,
            format!("job '{}' is processing: one job at a time", busy.id),
        );
    }
    let Some(job) = jobs.get_mut(id) else {
        return error(404, format!("no job '{id}'"));
    };
    if job.status != Status::Created {
        return error(
            400,
            format!(
                "job '{id}' is {}: only a created job starts",
                job.status.name()
            ),
        );
    }
    job.status = Status::Processing;
    let candidate = job.candidate.clone();
    let document = job.document();
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
        let result = lock(&node.objective).evaluate_watched(&candidate, &watch);
        let mut jobs = lock(&node.jobs);
        if let Some(job) = jobs.get_mut(&job_id) {
            let evaluation = match result {
                Ok(e) => e,
                Err(e) => Evaluation {
                    value: f64::NAN,
                    interim: Vec::new(),
                    params: Vec::new(),
                    cost: 0.0,
                    epochs: None,
                    failure: Some(e),
                },
            };
            if job.status == Status::Processing {
                job.status = if evaluation.failure.is_some() {
                    Status::Failed
                } else {
                    Status::Done
                };
            }
            job.evaluation = Some(evaluation);
        }
    });
    (202, document)
}
