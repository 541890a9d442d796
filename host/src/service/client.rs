//! Outcome on a remote training worker (the seed's `-w URL`): the search space and the
//! pool stay those of the local objective; each evaluation becomes a job on the worker's
//! training-node REST protocol (see [`super::protocol`]): created, started, polled until it
//! ends, and stopped when the trial timeout passes.
//!
//! A worker that cannot be reached is an error (the run stops and resumes later with no
//! completed trial lost); a job that fails on the worker is a failed trial and the
//! experiment goes on.

use std::time::{Duration, Instant};

use hpo_plugin_api::types::Matrix;
use serde_json::{Value, json};

use super::protocol::{JobDocument, JobRequest, JobStatus, NodeConfig, basic_auth};
use crate::objectives::{
    Budget, Candidate, EvaluationError, Interim, Objective, ObjectiveError, Outcome, Watch,
};
use crate::space::Space;

/// Timeout of one HTTP request to the worker.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Polling interval bounds: fast while the job reports, slower while it is quiet.
const POLL_FASTEST: Duration = Duration::from_millis(10);
const POLL_SLOWEST: Duration = Duration::from_secs(2);
/// Most job slots used on one worker (a worker claiming more is taken at this word).
const MAX_SLOTS: usize = 256;
/// How long a start waits for another job on the worker to end.
const BUSY_WAIT: Duration = Duration::from_secs(600);

/// A local objective (or just a search space) whose evaluations run on a training worker.
#[derive(Clone)]
pub struct RemoteObjective {
    /// The local objective, when there is one (its optimum and best values are known).
    local: Option<std::sync::Arc<dyn Objective>>,
    space: Space,
    pool: Option<Matrix>,
    url: String,
    agent: ureq::Agent,
    auth: Option<String>,
    timeout: Duration,
    /// Jobs the worker runs at once (its `spec.slots`; 1 for the seed's nodes).
    slots: usize,
}

/// A worker's answer: status and JSON body.
struct Answer {
    status: u16,
    body: Value,
}

impl RemoteObjective {
    /// Connects to the worker at `url` and checks that it evaluates `local`'s space: the
    /// worker's `param_order` must be the space's parameters. `credential` is sent as
    /// `Authorization: Basic`; `timeout` bounds each trial.
    pub fn connect(
        url: &str,
        local: Box<dyn Objective>,
        credential: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, ObjectiveError> {
        let (space, pool) = (local.space().clone(), local.pool());
        Self::open(url, space, pool, Some(local.into()), credential, timeout)
            .map_err(ObjectiveError::Worker)
    }

    /// Connects to the worker at `url` for points of `space` (a training command on the
    /// worker: there is no local objective).
    pub fn connect_space(
        url: &str,
        space: Space,
        credential: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, ObjectiveError> {
        Self::open(url, space, None, None, credential, timeout).map_err(ObjectiveError::Worker)
    }

    fn open(
        url: &str,
        space: Space,
        pool: Option<Matrix>,
        local: Option<std::sync::Arc<dyn Objective>>,
        credential: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let url = url.trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "--worker-url {url}: expected an http:// URL of a training worker"
            ));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        let remote = RemoteObjective {
            space,
            pool,
            local,
            url,
            agent,
            auth: credential.map(basic_auth),
            timeout,
            slots: 1,
        };
        remote.check_worker()
    }

    /// The worker's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Jobs the worker runs at once.
    pub fn slots(&self) -> usize {
        self.slots
    }

    fn check_worker(mut self) -> Result<Self, String> {
        let node = self.expect(self.call("GET", "/", None)?, 200, "GET /")?;
        let node_type = node["spec"]["node_type"].as_str().unwrap_or("(unknown)");
        // The seed's nodes run one job at a time and do not say.
        self.slots = node["spec"]["slots"]
            .as_u64()
            .map_or(1, |k| k.clamp(1, MAX_SLOTS as u64) as usize);
        tracing::info!("worker {}: {node_type}, {} slots", self.url, self.slots);
        let config = self.expect(self.call("GET", "/config/", None)?, 200, "GET /config/")?;
        let config: NodeConfig = serde_json::from_value(config)
            .map_err(|e| format!("worker {}: GET /config/: {e}", self.url))?;
        let theirs: Vec<&str> = config
            .run_config
            .param_order
            .iter()
            .map(String::as_str)
            .collect();
        let ours: Vec<&str> = self.space.params.iter().map(|p| p.name.as_str()).collect();
        if theirs != ours {
            return Err(format!(
                "worker {}: its hyperparameters [{}] are not the space's [{}]",
                self.url,
                theirs.join(", "),
                ours.join(", ")
            ));
        }
        let their_rows = config.run_config.pool_rows;
        let our_rows = self.pool.as_ref().map(|p| p.rows());
        if their_rows.is_some() && their_rows != our_rows {
            return Err(format!(
                "worker {}: it replays a table of {} rows, the local objective has {}",
                self.url,
                their_rows.unwrap_or_default(),
                our_rows.map_or("no table".to_string(), |r| format!("{r} rows"))
            ));
        }
        Ok(self)
    }

    /// One request; a network failure is an error naming the worker.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Answer, String> {
        let url = format!("{}{path}", self.url);
        let response = match (method, body) {
            ("POST", Some(body)) => self.with_auth(self.agent.post(&url)).send_json(body),
            ("PUT", _) => self.with_auth(self.agent.put(&url)).send_empty(),
            ("DELETE", _) => self.with_auth(self.agent.delete(&url)).call(),
            _ => self.with_auth(self.agent.get(&url)).call(),
        };
        let mut response =
            response.map_err(|e| format!("worker {}: {method} {path}: {e}", self.url))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer { status, body })
    }

    fn with_auth<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        // One connection per request: a kept-alive connection to a node that does not set
        // TCP_NODELAY (tiny_http, Flask) meets delayed ACKs, 40 ms per request.
        let request = request
            .header("Accept", "application/json")
            .header("Connection", "close");
        match &self.auth {
            Some(auth) => request.header("Authorization", auth),
            None => request,
        }
    }

    /// The body of an answer with the `expected` status, or an error saying what came.
    fn expect(&self, answer: Answer, expected: u16, what: &str) -> Result<Value, String> {
        if answer.status == expected {
            return Ok(answer.body);
        }
        let why = match answer.status {
            401 => "the worker refused the credential (set `credential` in the run configuration)"
                .to_string(),
            status => format!(
                "status {status}: {}",
                answer.body["error"]
                    .as_str()
                    .map_or_else(|| answer.body.to_string(), str::to_string)
            ),
        };
        Err(format!("worker {}: {what}: {why}", self.url))
    }

    /// The job document at `path`.
    fn poll(&self, path: &str) -> Result<JobDocument, String> {
        let job = self.expect(self.call("GET", path, None)?, 200, &format!("GET {path}"))?;
        serde_json::from_value(job).map_err(|e| format!("worker {}: GET {path}: {e}", self.url))
    }

    /// Creates and starts the job of `candidate`; returns its id.
    fn submit(
        &self,
        candidate: &Candidate,
        budget: Option<&Budget>,
        params: &[Value],
    ) -> Result<String, String> {
        let mut request = JobRequest {
            hyperparams: self.space.to_object(params),
            ..JobRequest::default()
        };
        if let Candidate::Row(row) = candidate {
            request.config.insert("cand_index".into(), json!(row));
        }
        if let Some(budget) = budget {
            request.config.insert("budget".into(), json!(budget));
        }
        let created = self.call("POST", "/jobs/", Some(&json!(request)))?;
        let job = self.expect(created, 201, "POST /jobs/")?;
        let id = job["job_id"]
            .as_str()
            .ok_or_else(|| format!("worker {}: POST /jobs/ gave no job_id", self.url))?
            .to_string();
        let path = format!("/jobs/{id}/?control=start");
        let waiting_since = Instant::now();
        loop {
            let answer = self.call("PUT", &path, None)?;
            // Another job is running there: wait for it, as the seed's connector retried.
            if answer.status == 400 && waiting_since.elapsed() < BUSY_WAIT {
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            self.expect(answer, 202, &format!("PUT {path}"))?;
            return Ok(id);
        }
    }
}

impl Objective for RemoteObjective {
    fn clone_box(&self) -> Box<dyn Objective> {
        Box::new(self.clone())
    }

    fn kth_best(&self, k: usize) -> Option<f64> {
        self.local.as_ref()?.kth_best(k)
    }

    fn label(&self) -> String {
        match &self.local {
            Some(local) => local.label(),
            None => format!("remote:{}", self.url),
        }
    }

    fn space(&self) -> &Space {
        &self.space
    }

    fn pool(&self) -> Option<Matrix> {
        self.pool.clone()
    }

    fn evaluate(&mut self, candidate: &Candidate) -> Result<Outcome, EvaluationError> {
        self.evaluate_watched(candidate, None, &Watch::default())
    }

    /// The node decides: a table or a training command there takes a budget, a test
    /// function refuses the job.
    fn budgets(&self) -> bool {
        true
    }

    /// Polls the job, passing its new reports to `watch`; when the watcher stops the trial,
    /// the job is deleted (the worker kills it) and the trial ends terminated with the
    /// reports seen. A budget travels in the job's `config.budget`.
    fn evaluate_watched(
        &mut self,
        candidate: &Candidate,
        budget: Option<&Budget>,
        watch: &Watch,
    ) -> Result<Outcome, EvaluationError> {
        let params = match candidate {
            Candidate::Point(x) => self.space.decode(x),
            Candidate::Row(row) => {
                let pool = self.pool.as_ref().ok_or_else(|| {
                    EvaluationError::Candidate(
                        "a row was proposed for an objective without rows".into(),
                    )
                })?;
                self.space.decode(pool.row(*row))
            }
        };
        let started = Instant::now();
        let id = self
            .submit(candidate, budget, &params)
            .map_err(EvaluationError::Worker)?;
        let path = format!("/jobs/{id}/");
        let mut poll = POLL_FASTEST;
        let mut seen = 0;
        let document = loop {
            let job = self.poll(&path).map_err(EvaluationError::Worker)?;
            if job.status.ended() {
                break job;
            }
            let curve = reports_of(&job);
            for report in &curve[seen.min(curve.len())..] {
                watch.report(*report);
            }
            if watch.stopped() {
                let _ = self.call("DELETE", &path, None);
                let cost = started.elapsed().as_secs_f64();
                return Ok(
                    Outcome::terminated(params.clone(), curve, cost).unwrap_or_else(|| {
                        failed(params, started, "stopped before it reported a value".into())
                    }),
                );
            }
            if started.elapsed() >= self.timeout {
                let _ = self.call("DELETE", &path, None);
                return Ok(failed(
                    params,
                    started,
                    format!(
                        "timed out after {} s on the worker",
                        self.timeout.as_secs_f64()
                    ),
                ));
            }
            let reported = job.lr.len();
            poll = if reported > seen {
                POLL_FASTEST
            } else {
                (poll * 2).min(POLL_SLOWEST)
            };
            seen = reported;
            std::thread::sleep(poll);
        };
        Ok(evaluation_of(&document, params, started))
    }

    fn optimum(&self) -> Option<f64> {
        self.local.as_ref()?.optimum()
    }
}

/// The curve a job document shows, as reports (numbered by position where it has no epochs).
fn reports_of(job: &JobDocument) -> Vec<Interim> {
    (0..job.lr.len())
        .map(|i| Interim {
            epoch: job.epochs.get(i).copied().unwrap_or(i + 1),
            value: job.lr[i],
            time: job.times.get(i).copied().unwrap_or(0.0),
        })
        .collect()
}

fn failed(params: Vec<Value>, started: Instant, why: String) -> Outcome {
    Outcome::failed(params, started.elapsed().as_secs_f64(), None, why)
}

/// The evaluation a finished job document describes: its final `value` (or, from a seed
/// node, the best loss of its curve), the curve before it as interim reports, and its run
/// time (the wall-clock time when the node gives none).
fn evaluation_of(job: &JobDocument, params: Vec<Value>, started: Instant) -> Outcome {
    if job.status != JobStatus::Done {
        let why = job
            .error
            .clone()
            .unwrap_or_else(|| format!("the job ended {}", job.status.name()));
        return failed(params, started, format!("on the worker: {why}"));
    }
    let value = job
        .value
        .or_else(|| job.lr.iter().copied().reduce(f64::min));
    let Some(value) = value.filter(|v| v.is_finite()) else {
        return failed(params, started, "the worker reported no value".into());
    };
    let mut interim = reports_of(job);
    interim.pop();
    Outcome {
        value,
        interim,
        params,
        cost: job
            .run_time
            .unwrap_or_else(|| started.elapsed().as_secs_f64()),
        epochs: job
            .epochs
            .last()
            .copied()
            .or(Some(job.cur_iter).filter(|&e| e > 0)),
        failure: None,
        terminated: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(json: Value) -> JobDocument {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_finished_job_document_becomes_an_evaluation() {
        let started = Instant::now();
        // An hpo worker's document: the final value given, the curve before it interim.
        let ours = json!({"status": "done", "value": 0.2, "lr": [0.5, 0.3, 0.2],
            "epochs": [1, 2, 3], "times": [1.0, 2.0, 3.0], "run_time": 3.0});
        let e = evaluation_of(&document(ours), vec![], started);
        assert_eq!((e.value, e.cost, e.epochs), (0.2, 3.0, Some(3)));
        assert_eq!(e.interim.len(), 2);
        assert_eq!((e.interim[1].epoch, e.interim[1].value), (2, 0.3));
        // A seed node's document: no `value`, the best loss of the curve is the result.
        let seed = json!({"status": "done", "lr": [0.5, 0.3, 0.4], "cur_iter": 3});
        let e = evaluation_of(&document(seed), vec![], started);
        assert_eq!((e.value, e.epochs), (0.3, Some(3)));
        assert!(e.failure.is_none());
        // A failed job carries the worker's reason.
        let failed = json!({"status": "failed", "error": "exited with 1"});
        let e = evaluation_of(&document(failed), vec![], started);
        assert!(e.value.is_nan());
        assert_eq!(e.failure.as_deref(), Some("on the worker: exited with 1"));
        let empty = json!({"status": "done", "lr": []});
        assert!(
            evaluation_of(&document(empty), vec![], started)
                .failure
                .is_some()
        );
    }
}
