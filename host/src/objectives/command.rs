//! The user's training command (`cmd:PROGRAM ARGS`) as an objective.
//!
//! Each evaluation runs the command once: the hyperparameters arrive in the environment as
//! a JSON object (`HPO_PARAMS`) and as `{name}` placeholders in the arguments. Every stdout
//! line that is a JSON object with a numeric `value` (optionally `epoch`) is a report; the
//! last one is the result. Other lines go to the log. A non-zero exit, a timeout or no
//! report is a failed trial carrying the tail of stderr; the experiment goes on.
//!
//! The command runs in its own process group: a timeout or a stop kills the whole tree
//! (a shell wrapper and the training process under it, data-loader workers), and so does
//! [`kill_running_commands`] when hpo itself is interrupted.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hpo_plugin_api::types::Matrix;
use serde_json::Value;

use super::{Candidate, Evaluation, Interim, Objective, Watch};
use crate::space::Space;

/// Lines of stderr kept with a failed trial.
const STDERR_TAIL_LINES: usize = 20;

/// Process groups of the commands running now.
static RUNNING: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// Kills every training command running now, with its whole process tree (called when
/// hpo is interrupted, so that no training outlives it).
pub fn kill_running_commands() {
    let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    for &group in running.iter() {
        kill_group(group);
    }
}

#[cfg(unix)]
fn kill_group(group: u32) {
    // SAFETY: kill(2) with a negative pid signals the process group; it touches no memory.
    unsafe {
        libc::kill(-(group as libc::pid_t), libc::SIGKILL);
    }
}

#[cfg(not(unix))]
fn kill_group(_group: u32) {}

/// A spawned command's process group, registered while it runs and killed when dropped
/// (stragglers of a finished command go too).
struct ProcessGroup(u32);

impl ProcessGroup {
    fn register(id: u32) -> Self {
        RUNNING.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        ProcessGroup(id)
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        kill_group(self.0);
        RUNNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|g| *g != self.0);
    }
}

/// A training command.
#[derive(Clone)]
pub struct CommandObjective {
    program: String,
    args: Vec<String>,
    space: Space,
    timeout: Duration,
}

impl CommandObjective {
    /// Parses `PROGRAM ARGS` (shell-like quoting) for `space`, with a per-trial timeout.
    pub fn new(command: &str, space: Space, timeout: Duration) -> Result<Self, String> {
        let mut words = shlex::split(command)
            .ok_or_else(|| format!("cmd:{command}: unbalanced quotes"))?
            .into_iter();
        let program = words
            .next()
            .ok_or_else(|| "cmd: needs a program to run".to_string())?;
        Ok(CommandObjective {
            program,
            args: words.collect(),
            space,
            timeout,
        })
    }

    fn command_line(&self, params: &serde_json::Map<String, Value>) -> Vec<String> {
        self.args
            .iter()
            .map(|arg| {
                params.iter().fold(arg.clone(), |acc, (name, value)| {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    acc.replace(&format!("{{{name}}}"), &text)
                })
            })
            .collect()
    }
}

/// A report line: `{"value": v}` or `{"value": v, "epoch": e}`.
fn report(line: &str) -> Option<(f64, Option<usize>)> {
    let v: Value = serde_json::from_str(line.trim()).ok()?;
    let value = v.as_object()?.get("value")?.as_f64()?;
    let epoch = v.get("epoch").and_then(Value::as_u64).map(|e| e as usize);
    Some((value, epoch))
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n")
}

impl Objective for CommandObjective {
    fn clone_box(&self) -> Box<dyn Objective> {
        Box::new(self.clone())
    }

    fn label(&self) -> String {
        format!("cmd:{}", self.program)
    }

    fn space(&self) -> &Space {
        &self.space
    }

    fn pool(&self) -> Option<Matrix> {
        None
    }

    fn evaluate(&mut self, candidate: &Candidate) -> Result<Evaluation, String> {
        self.evaluate_watched(candidate, &Watch::default())
    }

    fn evaluate_watched(
        &mut self,
        candidate: &Candidate,
        watch: &Watch,
    ) -> Result<Evaluation, String> {
        let Candidate::Point(x) = candidate else {
            return Err("a command evaluates points, not rows".into());
        };
        let params = self.space.decode(x);
        let object = self.space.to_object(&params);
        let started = Instant::now();
        let failed = |why: String, epochs| Evaluation {
            value: f64::NAN,
            interim: Vec::new(),
            params: params.clone(),
            cost: started.elapsed().as_secs_f64(),
            epochs,
            failure: Some(why),
        };
        let mut command = Command::new(&self.program);
        command
            .args(self.command_line(&object))
            .env("HPO_PARAMS", Value::Object(object.clone()).to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = match command.spawn() {
            Ok(c) => c,
            Err(e) => {
                return Ok(failed(
                    format!("cannot start '{}': {e}", self.program),
                    None,
                ));
            }
        };
        let group = ProcessGroup::register(child.id());
        let stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let watcher = watch.clone();
        let reader = std::thread::spawn(move || {
            let mut reports = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match report(&line) {
                    Some((value, epoch)) => {
                        let time = started.elapsed().as_secs_f64();
                        reports.push((value, epoch, time));
                        watcher.report(Interim {
                            epoch: epoch.unwrap_or(reports.len()),
                            value,
                            time,
                        });
                    }
                    None => tracing::info!(target: "hpo::cmd", "{line}"),
                }
            }
            reports
        });
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let deadline = started + self.timeout;
        let mut stopped = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline || watch.stopped() => {
                    stopped = watch.stopped();
                    kill_group(group.0);
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Ok(failed(format!("waiting for the command: {e}"), None)),
            }
        };
        // The whole tree goes, so that nothing keeps the output pipes open.
        drop(group);
        let reports = reader.join().unwrap_or_default();
        let last = reports.last().map(|&(value, epoch, _)| (value, epoch));
        // Every report but the last is interim; the last is the final value.
        let interim: Vec<Interim> = reports
            .iter()
            .take(reports.len().saturating_sub(1))
            .enumerate()
            .map(|(i, &(value, epoch, time))| Interim {
                epoch: epoch.unwrap_or(i + 1),
                value,
                time,
            })
            .collect();
        let stderr_text = errors.join().unwrap_or_default();
        let epochs = last.and_then(|(_, e)| e);
        match (status, last) {
            (None, _) if stopped => Ok(failed("stopped before it finished".into(), epochs)),
            (None, _) => Ok(failed(
                format!(
                    "timed out after {} s; stderr: {}",
                    self.timeout.as_secs_f64(),
                    tail(&stderr_text)
                ),
                epochs,
            )),
            (Some(s), _) if !s.success() => Ok(failed(
                format!("exited with {s}; stderr: {}", tail(&stderr_text)),
                epochs,
            )),
            (Some(_), None) => Ok(failed(
                format!(
                    "reported no value (print a JSON line like {{\"value\": 0.12}}); stderr: {}",
                    tail(&stderr_text)
                ),
                None,
            )),
            (Some(_), Some((value, epoch))) if value.is_finite() => Ok(Evaluation {
                value,
                interim,
                params,
                cost: started.elapsed().as_secs_f64(),
                epochs: epoch,
                failure: None,
            }),
            (Some(_), Some((value, _))) => Ok(failed(
                format!("reported a non-finite value {value}"),
                epochs,
            )),
        }
    }

    fn optimum(&self) -> Option<f64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_are_json_objects_with_a_value() {
        assert_eq!(report(r#"{"value": 0.5}"#), Some((0.5, None)));
        assert_eq!(
            report(r#" {"value": 1, "epoch": 3} "#),
            Some((1.0, Some(3)))
        );
        assert_eq!(report("value: 0.5"), None);
        assert_eq!(report(r#"{"loss": 0.5}"#), None);
        assert_eq!(report("[1]"), None);
    }
}
