//! The user's training command (`cmd:PROGRAM ARGS`) as an objective.
//!
//! Each evaluation runs the command once: the hyperparameters arrive in the environment as
//! a JSON object (`HPO_PARAMS`) and as `{name}` placeholders in the arguments; the worker
//! running it (from 0; several run at once under `--workers N`) as `HPO_WORKER` and the
//! `{worker}` placeholder, so a command can pin a device (`CUDA_VISIBLE_DEVICES={worker}`).
//! Every stdout
//! line that is a JSON object with a numeric `value` (optionally `epoch`) is a report; the
//! last one is the result. Other lines go to the log. A non-zero exit, a timeout or no
//! report is a failed trial carrying the tail of stderr; the experiment goes on.
//!
//! The command runs in its own process group: a timeout or a stop kills the whole tree
//! (a shell wrapper and the training process under it, data-loader workers), and so does
//! [`kill_running_commands`] when hpo itself is interrupted.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hpo_plugin_api::types::Matrix;
use serde_json::Value;

use super::{Budget, Candidate, EvaluationError, Interim, Objective, Outcome, Watch};
use crate::space::Space;

/// Lines of stderr kept with a failed trial.
const STDERR_TAIL_LINES: usize = 20;
/// Bytes of stderr kept with a failed trial (a single huge line is cut to its end).
pub const STDERR_TAIL_BYTES: usize = 4096;
/// How long stdout and stderr may stay open after the command exited (a background process
/// that inherited them): what is still in the pipes is read, then hpo stops waiting.
const STDOUT_GRACE: Duration = Duration::from_millis(500);
/// Longest stdout line logged (reports are parsed whole).
const LOG_LINE_BYTES: usize = 1024;
/// Longest stdout line kept (a report is a few dozen bytes; the rest of a longer line is
/// dropped as it is read).
const MAX_LINE_BYTES: usize = 64 * 1024;

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
///
/// A guard process outlives a hard kill of hpo (`kill -9` runs no handler): it waits on a
/// pipe whose only writer is hpo, and when the kernel closes that pipe, whatever the way
/// hpo ended, it kills the group. So no training command runs on unnoticed.
struct ProcessGroup {
    id: u32,
    guard: Option<Child>,
}

impl ProcessGroup {
    fn register(id: u32) -> Self {
        RUNNING.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        ProcessGroup {
            id,
            guard: spawn_guard(id),
        }
    }
}

/// The guard of process group `group`: `sh` blocked reading a pipe from hpo; on end of
/// file (hpo exited or was killed) it kills the group.
#[cfg(unix)]
fn spawn_guard(group: u32) -> Option<Child> {
    let mut command = Command::new("/bin/sh");
    command
        .args([
            "-c",
            "read _ignored; kill -9 -\"$0\" 2>/dev/null",
            &group.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Its own group: a Ctrl-C at the terminal must not take the guard before hpo's handler
    // has taken the command.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    match command.spawn() {
        Ok(child) => Some(child),
        Err(e) => {
            tracing::warn!("no guard for the training command's process group: {e}");
            None
        }
    }
}

#[cfg(not(unix))]
fn spawn_guard(_group: u32) -> Option<Child> {
    None
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        kill_group(self.id);
        RUNNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|g| *g != self.id);
        if let Some(mut guard) = self.guard.take() {
            // The group is gone already: end the guard without letting it signal (the
            // group id could be reused), then reap it.
            let _ = guard.kill();
            let _ = guard.wait();
        }
    }
}

/// A training command.
#[derive(Clone)]
pub struct CommandObjective {
    program: String,
    args: Vec<String>,
    space: Space,
    timeout: Duration,
    /// The worker this copy runs for.
    worker: usize,
}

impl CommandObjective {
    /// Parses `PROGRAM ARGS` (shell-like quoting) for `space`, with a per-trial timeout.
    /// The program must exist and be executable (checked once, before any trial).
    pub fn new(command: &str, space: Space, timeout: Duration) -> Result<Self, String> {
        let mut words = shlex::split(command)
            .ok_or_else(|| format!("cmd:{command}: unbalanced quotes"))?
            .into_iter();
        let program = words
            .next()
            .ok_or_else(|| "cmd: needs a program to run".to_string())?;
        find_program(&program).map_err(|why| format!("cmd:{command}: {why}"))?;
        Ok(CommandObjective {
            program,
            args: words.collect(),
            space,
            timeout,
            worker: 0,
        })
    }

    /// The arguments with the placeholders filled: the parameters' `{name}`, then
    /// `{worker}` and `{budget}` (the scheduler's epochs; empty without one).
    fn command_line(
        &self,
        params: &serde_json::Map<String, Value>,
        budget: Option<&Budget>,
    ) -> Vec<String> {
        let budget = budget.map_or_else(String::new, |b| b.epochs.to_string());
        self.args
            .iter()
            .map(|arg| {
                params
                    .iter()
                    .fold(arg.clone(), |acc, (name, value)| {
                        let text = match value {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        acc.replace(&format!("{{{name}}}"), &text)
                    })
                    .replace("{worker}", &self.worker.to_string())
                    .replace("{budget}", &budget)
            })
            .collect()
    }
}

/// Where `program` is: a path (with a `/`) as given, else the first match in `$PATH`; an
/// error says why it cannot be started.
fn find_program(program: &str) -> Result<PathBuf, String> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return if is_executable(&path) {
            Ok(path)
        } else if path.exists() {
            Err(format!("'{program}' is not an executable file"))
        } else {
            Err(format!("'{program}' does not exist"))
        };
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
        .ok_or_else(|| format!("'{program}' is not found in PATH"))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// A report line: `{"value": v}` or `{"value": v, "epoch": e}`.
fn report(line: &str) -> Option<(f64, Option<usize>)> {
    let v: Value = serde_json::from_str(line.trim()).ok()?;
    let value = v.as_object()?.get("value")?.as_f64()?;
    let epoch = v.get("epoch").and_then(Value::as_u64).map(|e| e as usize);
    Some((value, epoch))
}

/// The last [`STDERR_TAIL_LINES`] lines of at most the last [`STDERR_TAIL_BYTES`] bytes,
/// decoded lossily (a cut through a UTF-8 sequence or invalid bytes become U+FFFD).
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(STDERR_TAIL_BYTES)..]);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n")
}

/// The end of a stream, at most `cap` bytes, filled by a reader thread.
#[derive(Clone, Default)]
struct TailBuffer(Arc<Mutex<Vec<u8>>>);

impl TailBuffer {
    fn append(&self, chunk: &[u8], cap: usize) {
        let mut buffer = self.0.lock().unwrap_or_else(|e| e.into_inner());
        buffer.extend_from_slice(chunk);
        let excess = buffer.len().saturating_sub(cap);
        buffer.drain(..excess);
    }

    fn contents(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What the stdout reader sends: a report, or the end of the stream.
enum StdoutEvent {
    Report(f64, Option<usize>, f64),
    Closed,
}

/// Reads stdout as bytes, line by line: reports go to `events` (and to the watcher as
/// they come); other lines to the log, decoded lossily. Invalid UTF-8 never stops it.
fn read_stdout(
    stdout: impl Read,
    started: Instant,
    watch: Watch,
    events: mpsc::Sender<StdoutEvent>,
) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    let mut count = 0;
    while read_line_bounded(&mut reader, &mut line) {
        let text = String::from_utf8_lossy(&line);
        match report(&text) {
            Some((value, epoch)) => {
                count += 1;
                let time = started.elapsed().as_secs_f64();
                watch.report(Interim {
                    epoch: epoch.unwrap_or(count),
                    value,
                    time,
                });
                let _ = events.send(StdoutEvent::Report(value, epoch, time));
            }
            None => {
                let end = text.len().min(LOG_LINE_BYTES);
                let end = (0..=end)
                    .rev()
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(0);
                tracing::info!(target: "hpo::cmd", "{}", text[..end].trim_end());
            }
        }
    }
    let _ = events.send(StdoutEvent::Closed);
}

/// Reads the next line into `line` (cleared first), keeping at most [`MAX_LINE_BYTES`] of
/// it: the rest of a longer line is read and dropped, so no output holds unbounded memory.
/// False at the end of the stream.
fn read_line_bounded(reader: &mut impl BufRead, line: &mut Vec<u8>) -> bool {
    line.clear();
    let mut read_any = false;
    loop {
        let chunk = match reader.fill_buf() {
            Ok([]) => return read_any,
            Ok(chunk) => chunk,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return read_any,
        };
        read_any = true;
        let (taken, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = MAX_LINE_BYTES.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..taken.min(room)]);
        reader.consume(taken);
        if done {
            return true;
        }
    }
}

/// Keeps the last [`STDERR_TAIL_BYTES`] of stderr.
fn read_stderr(mut stderr: impl Read, tail: TailBuffer) {
    let mut chunk = [0u8; 8192];
    while let Ok(n) = stderr.read(&mut chunk) {
        if n == 0 {
            break;
        }
        tail.append(&chunk[..n], STDERR_TAIL_BYTES);
    }
}

/// The reports received so far, and whether stdout closed.
#[derive(Default)]
struct Reports {
    values: Vec<(f64, Option<usize>, f64)>,
    closed: bool,
}

impl Reports {
    /// Takes what `events` holds, waiting at most `wait` for the first event.
    fn receive(&mut self, events: &Receiver<StdoutEvent>, wait: Duration) {
        match events.recv_timeout(wait) {
            Ok(event) => self.take(event),
            Err(RecvTimeoutError::Timeout) => return,
            Err(RecvTimeoutError::Disconnected) => {
                self.closed = true;
                return;
            }
        }
        for event in events.try_iter() {
            self.take(event);
        }
    }

    /// Reads what is still in the pipe once the command ended, until `grace`; warns when
    /// stdout stays open (a background process holds it).
    fn drain(&mut self, events: &Receiver<StdoutEvent>, grace: Instant, label: &str) {
        while !self.closed && Instant::now() < grace {
            self.receive(events, Duration::from_millis(5));
        }
        if !self.closed {
            tracing::warn!(
                "{label}: stdout stayed open after the command ended (a background process holds it); later reports are ignored"
            );
        }
    }

    fn take(&mut self, event: StdoutEvent) {
        match event {
            StdoutEvent::Report(v, e, t) => self.values.push((v, e, t)),
            StdoutEvent::Closed => self.closed = true,
        }
    }
}

/// How a command's run ended.
enum Ending {
    Exited(std::process::ExitStatus),
    TimedOut,
    Stopped,
}

impl Objective for CommandObjective {
    fn clone_box(&self) -> Box<dyn Objective> {
        Box::new(self.clone())
    }

    fn for_worker(&self, worker: usize) -> Box<dyn Objective> {
        Box::new(CommandObjective {
            worker,
            ..self.clone()
        })
    }

    /// `cmd:` and the command line as the user wrote it (words with spaces or quotes
    /// quoted, placeholders as they are).
    fn label(&self) -> String {
        let words: Vec<String> = std::iter::once(&self.program)
            .chain(&self.args)
            .map(|w| {
                let plain = !w.is_empty()
                    && !w.contains(|c: char| c.is_whitespace() || "'\"\\".contains(c));
                if plain {
                    w.clone()
                } else {
                    shlex::try_quote(w).map_or_else(|_| w.clone(), |q| q.into_owned())
                }
            })
            .collect();
        format!("cmd:{}", words.join(" "))
    }

    fn space(&self) -> &Space {
        &self.space
    }

    fn pool(&self) -> Option<Matrix> {
        None
    }

    fn evaluate(&mut self, candidate: &Candidate) -> Result<Outcome, EvaluationError> {
        self.evaluate_watched(candidate, None, &Watch::default())
    }

    fn budgets(&self) -> bool {
        true
    }

    /// Runs the command; with a budget it learns it as `HPO_BUDGET` and `{budget}`, its
    /// configuration's id as `HPO_TRIAL_ID`, and `HPO_RESUME=1` when it continues a
    /// promoted configuration (the command may restart from its own checkpoint).
    fn evaluate_watched(
        &mut self,
        candidate: &Candidate,
        budget: Option<&Budget>,
        watch: &Watch,
    ) -> Result<Outcome, EvaluationError> {
        let Candidate::Point(x) = candidate else {
            return Err(EvaluationError::Candidate(
                "a command evaluates points, not rows".into(),
            ));
        };
        let params = self.space.decode(x);
        let object = self.space.to_object(&params);
        let started = Instant::now();
        let failed = |why: String, epochs| {
            Outcome::failed(params.clone(), started.elapsed().as_secs_f64(), epochs, why)
        };
        let mut command = Command::new(&self.program);
        command
            .args(self.command_line(&object, budget))
            .env("HPO_PARAMS", Value::Object(object.clone()).to_string())
            .env("HPO_WORKER", self.worker.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(budget) = budget {
            command
                .env("HPO_BUDGET", budget.epochs.to_string())
                .env("HPO_TRIAL_ID", budget.lineage.to_string())
                .env("HPO_RESUME", if budget.from > 0 { "1" } else { "0" });
        }
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
        let stderr = child.stderr.take().expect("piped");
        let (sender, events) = mpsc::channel();
        let watcher = watch.clone();
        // Neither reader is ever joined: a background process of the command may hold the
        // pipes open long after the command ended, and the trial must not wait for it.
        std::thread::spawn(move || read_stdout(stdout, started, watcher, sender));
        let stderr_tail = TailBuffer::default();
        let tail_writer = stderr_tail.clone();
        // The reader drops its end at the end of stderr: `stderr_read` then disconnects.
        let (stderr_reading, stderr_read) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            read_stderr(stderr, tail_writer);
            drop(stderr_reading);
        });

        let deadline = started + self.timeout;
        let mut reports = Reports::default();
        let ending = match wait_for(&mut child, group.id, watch, &events, deadline, &mut reports) {
            Ok(ending) => ending,
            Err(e) => return Ok(failed(format!("waiting for the command: {e}"), None)),
        };
        // The whole tree goes, so that nothing keeps the output pipes open; what is still
        // in the pipe is read for a moment, never past the deadline by more than that.
        drop(group);
        let grace = Instant::now() + STDOUT_GRACE;
        reports.drain(&events, grace, &self.label());
        // stderr too is read to its end (within the same grace), so a failed trial keeps the
        // command's last words however the two readers were scheduled.
        let _ = stderr_read.recv_timeout(grace.saturating_duration_since(Instant::now()));
        let stderr_text = tail(&stderr_tail.contents());
        Ok(self.conclude(ending, reports.values, &stderr_text, params, started))
    }

    fn optimum(&self) -> Option<f64> {
        None
    }
}

impl CommandObjective {
    /// The outcome of a command that ended as `ending` after printing `reports`: every
    /// report but the last is interim, the last is the final value; a stop, a timeout, a
    /// failed exit, no report or a non-finite value is a failed trial saying why.
    fn conclude(
        &self,
        ending: Ending,
        reports: Vec<(f64, Option<usize>, f64)>,
        stderr_text: &str,
        params: Vec<Value>,
        started: Instant,
    ) -> Outcome {
        let last = reports.last().map(|&(value, epoch, _)| (value, epoch));
        let epochs = last.and_then(|(_, e)| e);
        let failed = |why: String, epochs| {
            Outcome::failed(params.clone(), started.elapsed().as_secs_f64(), epochs, why)
        };
        match (ending, last) {
            // Stopped early: every report so far is interim, the best of them its value.
            (Ending::Stopped, _) => Outcome::terminated(
                params.clone(),
                all_reports(&reports),
                started.elapsed().as_secs_f64(),
            )
            .unwrap_or_else(|| failed("stopped before it reported a value".into(), epochs)),
            (Ending::TimedOut, _) => failed(
                format!(
                    "timed out after {} s; stderr: {stderr_text}",
                    self.timeout.as_secs_f64(),
                ),
                epochs,
            ),
            (Ending::Exited(s), _) if !s.success() => {
                failed(format!("exited with {s}; stderr: {stderr_text}"), epochs)
            }
            (Ending::Exited(_), None) => failed(
                format!(
                    "reported no value (print a JSON line like {{\"value\": 0.12}}); stderr: {stderr_text}"
                ),
                None,
            ),
            (Ending::Exited(_), Some((value, epoch))) if value.is_finite() => Outcome {
                value,
                interim: interim_reports(&reports),
                params,
                cost: started.elapsed().as_secs_f64(),
                epochs: epoch,
                failure: None,
                terminated: false,
            },
            (Ending::Exited(_), Some((value, _))) => {
                failed(format!("reported a non-finite value {value}"), epochs)
            }
        }
    }
}

/// Every report but the last, as interim reports (numbered by position when a report has
/// no epoch).
fn interim_reports(reports: &[(f64, Option<usize>, f64)]) -> Vec<Interim> {
    let mut interim = all_reports(reports);
    interim.pop();
    interim
}

/// Every report, as interim reports (numbered by position when a report has no epoch).
fn all_reports(reports: &[(f64, Option<usize>, f64)]) -> Vec<Interim> {
    reports
        .iter()
        .enumerate()
        .map(|(i, &(value, epoch, time))| Interim {
            epoch: epoch.unwrap_or(i + 1),
            value,
            time,
        })
        .collect()
}

/// Waits for the command to exit, reading its reports meanwhile; at the deadline, or when
/// the watcher asks it to stop, kills its process group.
fn wait_for(
    child: &mut Child,
    group: u32,
    watch: &Watch,
    events: &Receiver<StdoutEvent>,
    deadline: Instant,
    reports: &mut Reports,
) -> std::io::Result<Ending> {
    loop {
        match child.try_wait()? {
            Some(status) => return Ok(Ending::Exited(status)),
            None if watch.stopped() || Instant::now() >= deadline => {
                let stopped = watch.stopped();
                kill_group(group);
                let _ = child.kill();
                let _ = child.wait();
                return Ok(if stopped {
                    Ending::Stopped
                } else {
                    Ending::TimedOut
                });
            }
            None => {}
        }
        let left = deadline.saturating_duration_since(Instant::now());
        reports.receive(events, left.min(Duration::from_millis(5)));
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

    #[test]
    fn the_stderr_tail_is_bounded_in_bytes_and_lines() {
        let huge = vec![b'x'; 10 * 1024 * 1024];
        assert_eq!(tail(&huge).len(), STDERR_TAIL_BYTES);
        let lines: Vec<u8> = (0..100)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let t = tail(&lines);
        assert_eq!(t.lines().count(), STDERR_TAIL_LINES);
        assert!(t.ends_with("line 99"));
        // Invalid UTF-8 and a cut through a multi-byte character decode lossily.
        assert_eq!(tail(b"ok \xff\xfe end"), "ok \u{fffd}\u{fffd} end");
        let buffer = TailBuffer::default();
        for _ in 0..10 {
            buffer.append(&[b'a'; 1000], 2500);
        }
        assert_eq!(buffer.contents().len(), 2500);
    }

    #[test]
    fn stdout_lines_are_bounded_and_a_report_after_a_huge_line_counts() {
        let mut text = vec![b'x'; 10 * MAX_LINE_BYTES];
        text.extend_from_slice(b"\n{\"value\": 0.5}\nlast without newline");
        let mut reader = BufReader::with_capacity(1000, text.as_slice());
        let mut line = Vec::new();
        assert!(read_line_bounded(&mut reader, &mut line));
        assert_eq!(line.len(), MAX_LINE_BYTES);
        assert!(read_line_bounded(&mut reader, &mut line));
        assert_eq!(report(&String::from_utf8_lossy(&line)), Some((0.5, None)));
        assert!(read_line_bounded(&mut reader, &mut line));
        assert_eq!(line, b"last without newline");
        assert!(!read_line_bounded(&mut reader, &mut line));
    }

    #[test]
    fn a_program_that_cannot_start_is_an_error_before_any_trial() {
        assert!(find_program("sh").is_ok());
        assert!(
            find_program("no-such-program-hpo")
                .unwrap_err()
                .contains("not found in PATH")
        );
        assert!(
            find_program("/no/such/file")
                .unwrap_err()
                .contains("does not exist")
        );
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("data.txt");
        std::fs::write(&plain, "x").unwrap();
        assert!(
            find_program(plain.to_str().unwrap())
                .unwrap_err()
                .contains("not an executable")
        );
    }
}
