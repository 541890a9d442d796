//! The experiment store: experiments, runs and trials, in an embedded SQLite file (WAL; the
//! default, one per results directory) or a PostgreSQL database (`--store postgresql://…`,
//! shared by the processes of many hosts).
//!
//! Invariants: every completed trial is committed before the next trial starts (one
//! transaction, durable against a killed process); the store is the source of truth for
//! `--resume` and for the processes sharing a run (plugin state is a cache rebuilt from
//! it); an experiment is found again by its key, the canonical JSON of everything that
//! determines its runs. One schema and one set of statements serve both engines
//! ([`backend`]).

pub mod backend;
pub mod flush;
pub mod importance;
pub mod listing;
pub mod plots;
pub mod shared;
pub mod tokens;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use backend::{Conn, Row, Sql};
pub use backend::{DbError, Location};
pub use flush::{Commit, Flusher};

use crate::trial::{ArmFailures, Trial};

/// File name of the experiment store inside a results directory.
pub const STORE_FILE: &str = "hpo-store.sqlite";

/// A store error, naming the store (its file, or its URL without the password).
#[derive(Debug, thiserror::Error)]
#[error("store {path}: {source}")]
pub struct StoreError {
    /// The database file or URL.
    pub path: String,
    /// The cause.
    #[source]
    pub source: DbError,
}

/// An experiment in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredExperiment {
    /// Row id.
    pub id: i64,
    /// The results file it writes.
    pub results_file: String,
    /// Whether every run finished.
    pub finished: bool,
}

/// One experiment in a listing.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExperimentListing {
    /// Row id.
    pub id: i64,
    /// When it was created (UTC).
    pub created: String,
    /// Its results file.
    pub results_file: String,
    /// Whether every run finished.
    pub finished: bool,
    /// Runs started.
    pub runs: i64,
    /// Trials recorded.
    pub trials: i64,
    /// The experiment's key (its settings, as JSON).
    pub key: String,
}

/// The store: one connection, shared by the threads of a process.
pub struct Store {
    conn: Mutex<Conn>,
    location: Location,
    flusher: Arc<Flusher>,
}

/// The schema, in both engines' types ([`Conn::dialect`]).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS experiments (
    id {id},
    key TEXT NOT NULL,
    results_file TEXT NOT NULL,
    finished {int} NOT NULL DEFAULT 0,
    created TEXT NOT NULL DEFAULT {now}
);
CREATE TABLE IF NOT EXISTS runs (
    experiment {int} NOT NULL REFERENCES experiments(id),
    run {int} NOT NULL,
    seed {int} NOT NULL,
    stop_reason TEXT,
    failures TEXT,
    PRIMARY KEY (experiment, run)
);
CREATE TABLE IF NOT EXISTS trials (
    experiment {int} NOT NULL REFERENCES experiments(id),
    run {int} NOT NULL,
    iteration {int} NOT NULL,
    row_index {int},
    params TEXT NOT NULL,
    x TEXT NOT NULL,
    value {real},
    exec_time {real} NOT NULL,
    opt_time {real} NOT NULL,
    arm TEXT NOT NULL,
    epochs {int},
    failure TEXT,
    strategy_state {blob},
    interim TEXT NOT NULL DEFAULT '[]',
    estimate TEXT,
    arm_failures TEXT NOT NULL DEFAULT '[]',
    timing TEXT,
    requeued {int} NOT NULL DEFAULT 0,
    terminated {int} NOT NULL DEFAULT 0,
    fidelity TEXT,
    ticket {int},
    owner TEXT,
    PRIMARY KEY (experiment, run, iteration)
);
CREATE TABLE IF NOT EXISTS tokens (
    id {id},
    label TEXT NOT NULL,
    digest {blob} NOT NULL,
    created TEXT NOT NULL DEFAULT {now},
    revoked {int} NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS served (
    name TEXT PRIMARY KEY,
    request TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (
    experiment {int} NOT NULL REFERENCES experiments(id),
    run {int} NOT NULL,
    ticket {int} NOT NULL,
    trial TEXT NOT NULL,
    owner TEXT,
    lease_until {real},
    PRIMARY KEY (experiment, run, ticket)
);
-- Every ticket given out in a shared run, told or not: its key makes a claim atomic.
CREATE TABLE IF NOT EXISTS tickets (
    experiment {int} NOT NULL REFERENCES experiments(id),
    run {int} NOT NULL,
    ticket {int} NOT NULL,
    PRIMARY KEY (experiment, run, ticket)
);
";

/// Columns added after the first release, with their tables and definitions: a store
/// written by an older hpo gains them when opened (its old rows get the defaults).
const ADDED_COLUMNS: [(&str, &str, &str); 12] = [
    ("trials", "interim", "TEXT NOT NULL DEFAULT '[]'"),
    ("trials", "estimate", "TEXT"),
    ("trials", "arm_failures", "TEXT NOT NULL DEFAULT '[]'"),
    ("runs", "failures", "TEXT"),
    ("trials", "timing", "TEXT"),
    ("trials", "requeued", "{int} NOT NULL DEFAULT 0"),
    ("trials", "terminated", "{int} NOT NULL DEFAULT 0"),
    ("trials", "fidelity", "TEXT"),
    ("trials", "ticket", "{int}"),
    ("trials", "owner", "TEXT"),
    ("pending", "owner", "TEXT"),
    ("pending", "lease_until", "{real}"),
];

/// Indexes beyond the primary keys, made once their columns exist: a shared run's next
/// ticket is the largest given out (in flight or completed) plus one, read off an index
/// instead of the run's every trial.
const INDEXES: [&str; 1] =
    ["CREATE INDEX IF NOT EXISTS trials_by_ticket ON trials (experiment, run, ticket)"];

/// The advisory lock that serializes schema changes and experiment creation across the
/// processes of a PostgreSQL store.
const SCHEMA_LOCK: i64 = 0x6870_6f5f_7363_6865;

/// The columns of a trial, in the order [`trial_of`] reads them.
const TRIAL_COLUMNS: &str = "row_index, params, x, value, exec_time, opt_time, arm, epochs, \
    failure, strategy_state, interim, estimate, arm_failures, timing, requeued, terminated, \
    fidelity";

impl Store {
    /// Opens (creating) the SQLite store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::connect(&Location::Sqlite(path.to_path_buf()))
    }

    /// Connects to the store at `location`, creating its tables (and an SQLite file) when
    /// missing and adding the columns an older store lacks.
    pub fn connect(location: &Location) -> Result<Self, StoreError> {
        let wrap = |source| StoreError {
            path: location.label(),
            source,
        };
        let mut conn = Conn::open(location).map_err(wrap)?;
        conn.write(migrate).map_err(wrap)?;
        Ok(Store {
            conn: Mutex::new(conn),
            location: location.clone(),
            flusher: Arc::new(Flusher::new(location)),
        })
    }

    /// Where the store is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// What makes this store's deferred commits durable ([`Commit::Deferred`]).
    pub fn flusher(&self) -> Arc<Flusher> {
        self.flusher.clone()
    }

    /// `f` on the connection; its error names the store.
    fn db<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T, DbError>) -> Result<T, StoreError> {
        f(&mut self.conn()).map_err(|source| StoreError {
            path: self.location.label(),
            source,
        })
    }

    fn conn(&self) -> MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `f` in one write transaction on run `run`, its row locked first ([`Conn::write_run`]).
    fn write_run<T>(
        &self,
        commit: Commit,
        experiment: i64,
        run: usize,
        f: impl FnOnce(&mut Conn) -> Result<T, DbError>,
    ) -> Result<T, StoreError> {
        self.db(|c| c.write_run(commit, experiment, run, f))
    }

    /// `f` in one write transaction ([`Conn::write`]).
    fn write<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T, DbError>) -> Result<T, StoreError> {
        self.db(|c| c.write(f))
    }

    /// The rows `sql` answers, each read by `read`.
    fn rows<T>(
        &self,
        sql: &str,
        params: &[Sql],
        read: impl Fn(&Row) -> Result<T, DbError>,
    ) -> Result<Vec<T>, StoreError> {
        self.db(|c| c.query(sql, params)?.iter().map(read).collect())
    }

    /// The first row `sql` answers, read by `read`, if any.
    fn row<T>(
        &self,
        sql: &str,
        params: &[Sql],
        read: impl Fn(&Row) -> Result<T, DbError>,
    ) -> Result<Option<T>, StoreError> {
        self.db(|c| c.query_opt(sql, params)?.as_ref().map(read).transpose())
    }
}

/// Creates the schema, and adds the columns an older store lacks (inside the write
/// transaction [`Store::connect`] opens).
fn migrate(conn: &mut Conn) -> Result<(), DbError> {
    conn.lock_store(SCHEMA_LOCK)?;
    conn.batch(&conn.dialect(SCHEMA))?;
    for (table, column, definition) in ADDED_COLUMNS {
        if !conn.columns(table)?.iter().any(|c| c == column) {
            let definition = conn.dialect(definition);
            conn.batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {column} {definition}"
            ))?;
        }
    }
    for index in INDEXES {
        conn.batch(index)?;
    }
    Ok(())
}

/// A trial read back from [`TRIAL_COLUMNS`].
fn trial_of(r: &Row) -> Result<Trial, DbError> {
    Ok(Trial {
        row: r.opt_int(0)?.map(|v| v as usize),
        params: r.json(1)?,
        x: r.json(2)?,
        value: r.opt_real(3)?.unwrap_or(f64::NAN),
        exec_time: r.real(4)?,
        opt_time: r.real(5)?,
        arm: r.text(6)?,
        epochs: r.opt_int(7)?.map(|v| v as usize),
        failure: r.opt_text(8)?,
        strategy_state: r.opt_blob(9)?,
        interim: r.json(10)?,
        estimate: r.opt_json(11)?,
        arm_failures: r.json(12)?,
        timing: r.opt_json(13)?,
        requeued: r.flag(14)?,
        terminated: r.flag(15)?,
        fidelity: r.opt_json(16)?,
    })
}

/// JSON text of a value the store writes (every such value serializes).
fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("the store's values serialize")
}

impl Store {
    /// The newest unfinished experiment with this key.
    pub fn unfinished(&self, key: &str) -> Result<Option<StoredExperiment>, StoreError> {
        self.latest(key, false)
    }

    /// The newest finished experiment with this key.
    pub fn finished(&self, key: &str) -> Result<Option<StoredExperiment>, StoreError> {
        self.latest(key, true)
    }

    fn latest(&self, key: &str, finished: bool) -> Result<Option<StoredExperiment>, StoreError> {
        self.row(
            "SELECT id, results_file FROM experiments WHERE key = $1 AND finished = $2 \
             ORDER BY id DESC LIMIT 1",
            &[key.into(), finished.into()],
            |r| {
                Ok(StoredExperiment {
                    id: r.int(0)?,
                    results_file: r.text(1)?,
                    finished,
                })
            },
        )
    }

    /// Records a new experiment.
    pub fn create(&self, key: &str, results_file: &str) -> Result<StoredExperiment, StoreError> {
        let id = self.write(|c| insert_experiment(c, key, results_file))?;
        Ok(StoredExperiment {
            id,
            results_file: results_file.to_string(),
            finished: false,
        })
    }

    /// The unfinished experiment with this key, else a new one writing `results_file`: the
    /// processes that share a store and start with the same settings join one experiment
    /// (the lookup and the creation are one transaction under the store-wide lock).
    pub fn join(&self, key: &str, results_file: &str) -> Result<StoredExperiment, StoreError> {
        self.write(|c| {
            c.lock_store(SCHEMA_LOCK)?;
            let found = c.query_opt(
                "SELECT id, results_file FROM experiments WHERE key = $1 AND finished = 0 \
                 ORDER BY id DESC LIMIT 1",
                &[key.into()],
            )?;
            Ok(match found {
                Some(r) => StoredExperiment {
                    id: r.int(0)?,
                    results_file: r.text(1)?,
                    finished: false,
                },
                None => StoredExperiment {
                    id: insert_experiment(c, key, results_file)?,
                    results_file: results_file.to_string(),
                    finished: false,
                },
            })
        })
    }

    /// Records that run `run` started with `seed` (idempotent).
    pub fn start_run(&self, experiment: i64, run: usize, seed: u64) -> Result<(), StoreError> {
        self.write(|c| {
            c.execute(
                "INSERT INTO runs (experiment, run, seed) VALUES ($1, $2, $3) \
                 ON CONFLICT (experiment, run) DO NOTHING",
                &[experiment.into(), run.into(), (seed as i64).into()],
            )
            .map(|_| ())
        })
    }

    /// Why run `run` stopped, when it finished.
    pub fn run_stop_reason(
        &self,
        experiment: i64,
        run: usize,
    ) -> Result<Option<String>, StoreError> {
        self.row(
            "SELECT stop_reason FROM runs WHERE experiment = $1 AND run = $2",
            &[experiment.into(), run.into()],
            |r| r.opt_text(0),
        )
        .map(Option::flatten)
    }

    /// Records trial `ticket` of run `run` in flight (`trial`: what the run needs to
    /// evaluate it again), replacing an earlier record of it. Unlike a completed trial's,
    /// this commit does not wait for PostgreSQL's flush (as a [`Commit::Deferred`] one).
    pub fn record_pending(
        &self,
        experiment: i64,
        run: usize,
        ticket: usize,
        trial: &str,
    ) -> Result<(), StoreError> {
        // A record of a trial in flight is not a completed trial: PostgreSQL may commit it
        // without waiting for the disk (visible at once to every session; only a server
        // crash in the next ~0.6 s forgets it, and then the trial is asked anew).
        let record = |c: &mut Conn| {
            let unflushed = c.unflushed();
            c.execute(
                &format!(
                    "INSERT INTO pending (experiment, run, ticket, trial) \
                     SELECT $1, $2, $3, $4 {unflushed} WHERE true \
                     ON CONFLICT (experiment, run, ticket) DO UPDATE SET trial = excluded.trial"
                ),
                &[experiment.into(), run.into(), ticket.into(), trial.into()],
            )
            .map(|_| ())
        };
        self.db(|c| match c {
            // One statement, its own transaction ([`Conn::unflushed`]): one round trip.
            Conn::Postgres(_) => record(c),
            // In an explicit transaction: the next write is faster (measured: the trial's
            // append 0.04 ms slower after an autocommitted record).
            Conn::Sqlite(_) => c.write(record),
        })
    }

    /// The trials of run `run` in flight when it stopped, in ticket order.
    pub fn pending(&self, experiment: i64, run: usize) -> Result<Vec<String>, StoreError> {
        self.rows(
            "SELECT trial FROM pending WHERE experiment = $1 AND run = $2 AND trial <> '' \
             ORDER BY ticket",
            &[experiment.into(), run.into()],
            |r| r.text(0),
        )
    }

    /// Commits one completed trial, which completes the trial in flight `ticket` (one
    /// transaction): it becomes the run's next iteration, which is returned. `owner` names
    /// the process of a shared run; there, a trial no longer in flight (told by another
    /// process, or taken over after its lease) is refused ([`DbError::NotInFlight`]). A
    /// [`Commit::Deferred`] trial is not completed until the store's [`Flusher`] flushed.
    pub fn record_trial(
        &self,
        experiment: i64,
        run: usize,
        trial: &Trial,
        ticket: usize,
        owner: Option<&str>,
        commit: Commit,
    ) -> Result<usize, StoreError> {
        let values = trial_params(experiment, run, trial, ticket, owner);
        self.db(|c| match c {
            Conn::Postgres(_) => loop {
                match insert_trial_at_once(c, &values, ticket, commit) {
                    // Another process committed this iteration first: count again.
                    Err(e) if e.is_unique_violation() => continue,
                    told => return told,
                }
            },
            Conn::Sqlite(_) => c.write(|c| insert_trial(c, &values, ticket, owner.is_some())),
        })
    }

    /// The trials of a run, in order.
    pub fn trials(&self, experiment: i64, run: usize) -> Result<Vec<Trial>, StoreError> {
        self.rows(
            &format!(
                "SELECT {TRIAL_COLUMNS} FROM trials WHERE experiment = $1 AND run = $2 \
                 ORDER BY iteration"
            ),
            &[experiment.into(), run.into()],
            trial_of,
        )
    }

    /// Marks run `run` finished, with its arms' failures (count and last reason per arm).
    pub fn finish_run(
        &self,
        experiment: i64,
        run: usize,
        stop_reason: &str,
        failures: &ArmFailures,
    ) -> Result<(), StoreError> {
        self.write(|c| {
            c.execute(
                "UPDATE runs SET stop_reason = $3, failures = $4 WHERE experiment = $1 AND run = $2",
                &[
                    experiment.into(),
                    run.into(),
                    stop_reason.into(),
                    json_text(failures).into(),
                ],
            )
            .map(|_| ())
        })
    }

    /// The arms' failures of a finished run, as recorded when it finished (`None`: the run
    /// is unfinished, or was written by an hpo that did not record them).
    pub fn run_failures(
        &self,
        experiment: i64,
        run: usize,
    ) -> Result<Option<ArmFailures>, StoreError> {
        self.row(
            "SELECT failures FROM runs WHERE experiment = $1 AND run = $2",
            &[experiment.into(), run.into()],
            |r| r.opt_json(0),
        )
        .map(Option::flatten)
    }

    /// Copies every run of experiment `from` (seeds, trials, stop reasons, failures) into
    /// experiment `to`, in one transaction: the seed's `-r N` extension.
    pub fn copy_runs(&self, from: i64, to: i64) -> Result<(), StoreError> {
        self.write(|c| {
            c.execute(
                "INSERT INTO runs (experiment, run, seed, stop_reason, failures) \
                 SELECT $2, run, seed, stop_reason, failures FROM runs WHERE experiment = $1",
                &[from.into(), to.into()],
            )?;
            c.execute(
                "INSERT INTO trials (experiment, run, iteration, row_index, params, x, value, \
                 exec_time, opt_time, arm, epochs, failure, strategy_state, interim, estimate, \
                 arm_failures, timing, requeued, terminated, fidelity, ticket, owner) \
                 SELECT $2, run, iteration, row_index, params, x, value, exec_time, opt_time, \
                 arm, epochs, failure, strategy_state, interim, estimate, arm_failures, timing, \
                 requeued, terminated, fidelity, ticket, owner FROM trials WHERE experiment = $1",
                &[from.into(), to.into()],
            )
            .map(|_| ())
        })
    }

    /// Every experiment, oldest first.
    pub fn experiments(&self) -> Result<Vec<ExperimentListing>, StoreError> {
        self.rows(
            "SELECT e.id, e.created, e.results_file, e.finished, e.key, \
             (SELECT COUNT(*) FROM runs r WHERE r.experiment = e.id), \
             (SELECT COUNT(*) FROM trials t WHERE t.experiment = e.id) \
             FROM experiments e ORDER BY e.id",
            &[],
            |r| {
                Ok(ExperimentListing {
                    id: r.int(0)?,
                    created: r.text(1)?,
                    results_file: r.text(2)?,
                    finished: r.flag(3)?,
                    key: r.text(4)?,
                    runs: r.int(5)?,
                    trials: r.int(6)?,
                })
            },
        )
    }

    /// The runs of an experiment: (run index, seed, stop reason if finished).
    pub fn runs(&self, experiment: i64) -> Result<Vec<(usize, u64, Option<String>)>, StoreError> {
        self.rows(
            "SELECT run, seed, stop_reason FROM runs WHERE experiment = $1 ORDER BY run",
            &[experiment.into()],
            |r| Ok((r.int(0)? as usize, r.int(1)? as u64, r.opt_text(2)?)),
        )
    }

    /// What changes as experiments progress: experiments, finished ones, trials and trials
    /// in flight, counted (a watcher compares two readings).
    pub fn activity(&self) -> Result<[i64; 4], StoreError> {
        let row = self.row(
            "SELECT (SELECT COUNT(*) FROM experiments), \
             (SELECT COUNT(*) FROM experiments WHERE finished = 1), \
             (SELECT COUNT(*) FROM trials), (SELECT COUNT(*) FROM pending)",
            &[],
            |r| Ok([r.int(0)?, r.int(1)?, r.int(2)?, r.int(3)?]),
        )?;
        Ok(row.unwrap_or_default())
    }

    /// Marks the experiment finished.
    pub fn finish(&self, experiment: i64) -> Result<(), StoreError> {
        self.write(|c| {
            c.execute(
                "UPDATE experiments SET finished = 1 WHERE id = $1",
                &[experiment.into()],
            )
            .map(|_| ())
        })
    }
}

fn insert_experiment(c: &mut Conn, key: &str, results_file: &str) -> Result<i64, DbError> {
    c.query_opt(
        "INSERT INTO experiments (key, results_file) VALUES ($1, $2) RETURNING id",
        &[key.into(), results_file.into()],
    )?
    .ok_or(DbError::Column {
        index: 0,
        reason: "no id returned".to_string(),
    })?
    .int(0)
}

/// The `INSERT` of a completed trial, up to its values ([`TRIAL_VALUES`]).
const INSERT_TRIAL: &str = "INSERT INTO trials (experiment, run, iteration, row_index, params, \
     x, value, exec_time, opt_time, arm, epochs, failure, strategy_state, interim, estimate, \
     arm_failures, timing, requeued, terminated, fidelity, ticket, owner)";

/// A completed trial's values (the placeholders of [`trial_params`]). The next iteration
/// is found by the statement itself: iterations are 0, 1, 2, … with no gap, so the last
/// one plus one, read off the primary key, is the trial count.
const TRIAL_VALUES: &str = "$1, $2, \
     (SELECT COALESCE(MAX(iteration), -1) + 1 FROM trials WHERE experiment = $1 AND run = $2), \
     $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21";

/// [`Store::record_trial`] on PostgreSQL: one statement, its own transaction (no lock,
/// one round trip). The trial in flight is deleted and, in a shared run (an owner named),
/// the trial is inserted only if it was still in flight: a trial is told once, by whoever
/// holds it. Two processes that count the same iteration both try to insert it: the
/// primary key refuses the later one, whose statement fails whole (its deletion too), and
/// [`Store::record_trial`] tries again; so an iteration is committed only after every
/// earlier one, and readers never see a gap.
fn insert_trial_at_once(
    c: &mut Conn,
    values: &[Sql],
    ticket: usize,
    commit: Commit,
) -> Result<usize, DbError> {
    let unflushed = match commit {
        Commit::Deferred => c.unflushed(),
        Commit::Durable => "",
    };
    let inserted = c.query_opt(
        &format!(
            "WITH removed AS (DELETE FROM pending \
             WHERE experiment = $1 AND run = $2 AND ticket = $20 RETURNING ticket) \
             {INSERT_TRIAL} SELECT {TRIAL_VALUES} {unflushed} \
             WHERE $21::text IS NULL OR EXISTS (SELECT 1 FROM removed) RETURNING iteration"
        ),
        values,
    )?;
    match inserted {
        Some(row) => Ok(row.int(0)? as usize),
        None => Err(DbError::NotInFlight(ticket)),
    }
}

/// [`Store::record_trial`] on SQLite, in a transaction that holds the file's write lock:
/// the trial in flight deleted, then (in a shared run, only if it was in flight) the
/// trial inserted.
fn insert_trial(
    c: &mut Conn,
    values: &[Sql],
    ticket: usize,
    shared: bool,
) -> Result<usize, DbError> {
    let removed = c.execute(
        "DELETE FROM pending WHERE experiment = $1 AND run = $2 AND ticket = $3",
        &[values[0].clone(), values[1].clone(), ticket.into()],
    )?;
    if shared && removed == 0 {
        return Err(DbError::NotInFlight(ticket));
    }
    let inserted = c.query_opt(
        &format!("{INSERT_TRIAL} VALUES ({TRIAL_VALUES}) RETURNING iteration"),
        values,
    )?;
    Ok(inserted.ok_or_else(no_iteration)?.int(0)? as usize)
}

fn no_iteration() -> DbError {
    DbError::Column {
        index: 0,
        reason: "no iteration returned".to_string(),
    }
}

/// The values of a trial's row, in the order of [`TRIAL_VALUES`]' placeholders.
fn trial_params(
    experiment: i64,
    run: usize,
    it: &Trial,
    ticket: usize,
    owner: Option<&str>,
) -> Vec<Sql> {
    vec![
        experiment.into(),
        run.into(),
        it.row.into(),
        Value::from(it.params.clone()).to_string().into(),
        Value::from(it.x.clone()).to_string().into(),
        it.value.is_finite().then_some(it.value).into(),
        it.exec_time.into(),
        it.opt_time.into(),
        it.arm.as_str().into(),
        it.epochs.into(),
        it.failure.clone().into(),
        it.strategy_state.clone().into(),
        json_text(&it.interim).into(),
        it.estimate.map(|e| json_text(&e)).into(),
        json_text(&it.arm_failures).into(),
        it.timing.map(|t| json_text(&t)).into(),
        it.requeued.into(),
        it.terminated.into(),
        it.fidelity.map(|f| json_text(&f)).into(),
        ticket.into(),
        owner.into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objectives::Interim;
    use crate::trial::Estimate;

    fn trial(i: usize) -> Trial {
        Trial {
            row: Some(i),
            params: vec![Value::from(i), Value::from("relu")],
            value: if i == 1 { f64::NAN } else { i as f64 / 10.0 },
            exec_time: 1.5,
            opt_time: 0.01,
            arm: "RANDOM/RANDOM".into(),
            epochs: Some(30),
            interim: vec![Interim {
                epoch: 1,
                value: 0.5,
                time: 2.0,
            }],
            estimate: Some(Estimate {
                mean: 0.2,
                variance: 0.01,
                acquisition: 0.3,
            }),
            x: vec![0.25, 1.0],
            strategy_state: Some(vec![i as u8]),
            failure: (i == 1).then(|| "exited with 1".to_string()),
            arm_failures: if i == 2 {
                vec![("GP/EI".into(), "trap: unreachable".into())]
            } else {
                vec![]
            },
            timing: (i == 2).then_some(crate::trial::Timing {
                worker: 3,
                start: 1.5,
                end: 4.25,
            }),
            requeued: i == 2,
            terminated: i == 1,
            fidelity: (i == 2).then_some(crate::trial::Fidelity {
                ticket: 5,
                parent: Some(1),
                budget: crate::objectives::Budget {
                    epochs: 9,
                    from: 3,
                    lineage: 1,
                },
            }),
        }
    }

    #[test]
    fn a_trial_in_flight_is_kept_until_its_completion_is_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.sqlite")).unwrap();
        let e = store.create("k", "r.json").unwrap();
        store.start_run(e.id, 0, 1).unwrap();
        store.record_pending(e.id, 0, 1, "{\"b\": 1}").unwrap();
        store.record_pending(e.id, 0, 0, "{\"a\": 0}").unwrap();
        store.record_pending(e.id, 0, 1, "{\"b\": 2}").unwrap();
        assert_eq!(
            store.pending(e.id, 0).unwrap(),
            ["{\"a\": 0}", "{\"b\": 2}"]
        );
        store
            .record_trial(e.id, 0, &trial(0), 1, None, Commit::Durable)
            .unwrap();
        assert_eq!(store.pending(e.id, 0).unwrap(), ["{\"a\": 0}"]);
        assert!(store.pending(e.id, 1).unwrap().is_empty());
    }

    #[test]
    fn trials_round_trip_and_experiments_are_found_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.unfinished("k").unwrap(), None);
        let e = store.create("k", "results/x.json").unwrap();
        store.start_run(e.id, 0, 99).unwrap();
        for i in 0..3 {
            store
                .record_trial(e.id, 0, &trial(i), i, None, Commit::Durable)
                .unwrap();
        }
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.unfinished("k").unwrap().unwrap().id, e.id);
        let got = store.trials(e.id, 0).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[2], trial(2));
        assert!(got[1].value.is_nan());
        assert_eq!(got[1].failure.as_deref(), Some("exited with 1"));
        let failures =
            std::collections::BTreeMap::from([("GP/EI".to_string(), (2, "trap".to_string()))]);
        assert_eq!(store.run_failures(e.id, 0).unwrap(), None);
        store.finish_run(e.id, 0, "done", &failures).unwrap();
        assert_eq!(store.run_failures(e.id, 0).unwrap(), Some(failures));
        let copy = store.create("k2", "results/y.json").unwrap();
        store.copy_runs(e.id, copy.id).unwrap();
        let copied = store.trials(copy.id, 0).unwrap();
        assert_eq!(
            (copied.len(), &copied[0], &copied[2]),
            (3, &got[0], &got[2])
        );
        assert_eq!(copied[1].failure, got[1].failure);
        assert_eq!(
            store.run_stop_reason(copy.id, 0).unwrap().as_deref(),
            Some("done")
        );
        assert_eq!(
            store.run_stop_reason(e.id, 0).unwrap().as_deref(),
            Some("done")
        );
        store.finish(e.id).unwrap();
        assert_eq!(store.unfinished("k").unwrap(), None);
    }

    #[test]
    fn a_store_of_the_first_schema_gains_the_new_columns_and_keeps_its_trials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        let old_schema = SCHEMA
            .replace("{id}", "INTEGER PRIMARY KEY")
            .replace("{int}", "INTEGER")
            .replace("{real}", "REAL")
            .replace("{blob}", "BLOB")
            .replace("{now}", "(datetime('now'))")
            .replace("    ticket INTEGER,\n    owner TEXT,\n    PRIMARY KEY (experiment, run, iteration)", "    PRIMARY KEY (experiment, run, iteration)")
            .replace("    owner TEXT,\n    lease_until REAL,\n", "")
            .replace("    interim TEXT NOT NULL DEFAULT '[]',\n", "")
            .replace("    estimate TEXT,\n", "")
            .replace("    arm_failures TEXT NOT NULL DEFAULT '[]',\n", "")
            .replace("    failures TEXT,\n", "")
            .replace("    timing TEXT,\n", "")
            .replace("    requeued INTEGER NOT NULL DEFAULT 0,\n", "")
            .replace("    terminated INTEGER NOT NULL DEFAULT 0,\n", "")
            .replace("    fidelity TEXT,\n", "");
        assert!(!old_schema.contains("interim") && !old_schema.contains("owner"));
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(&old_schema).unwrap();
            conn.execute_batch(
                "INSERT INTO experiments (id, key, results_file) VALUES (1, 'k', 'r.json');
                 INSERT INTO runs (experiment, run, seed) VALUES (1, 0, 7);
                 INSERT INTO trials (experiment, run, iteration, row_index, params, x, value,
                   exec_time, opt_time, arm, epochs) VALUES (1, 0, 0, 3, '[1]', '[0.5]', 0.25,
                   1.0, 0.01, 'RANDOM/RANDOM', 30);",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let old = store.trials(1, 0).unwrap();
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].value, 0.25);
        assert!(old[0].interim.is_empty() && old[0].estimate.is_none());
        store
            .record_trial(1, 0, &trial(2), 1, None, Commit::Durable)
            .unwrap();
        assert_eq!(store.trials(1, 0).unwrap()[1], trial(2));
    }

    #[test]
    fn floats_read_back_bit_for_bit_and_bad_json_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.sqlite")).unwrap();
        let e = store.create("k", "r.json").unwrap();
        store.start_run(e.id, 0, 1).unwrap();
        let mut t = trial(0);
        // Values whose shortest decimal text needs all 17 digits.
        let hard = [
            1.6341578960418701,
            0.1 + 0.2,
            f64::MIN_POSITIVE,
            1.0 - f64::EPSILON / 2.0,
        ];
        t.x = hard.to_vec();
        t.params = hard.iter().map(|&v| Value::from(v)).collect();
        store
            .record_trial(e.id, 0, &t, 0, None, Commit::Durable)
            .unwrap();
        let back = &store.trials(e.id, 0).unwrap()[0];
        for (a, b) in hard.iter().zip(&back.x) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        for (a, b) in hard.iter().zip(&back.params) {
            assert_eq!(a.to_bits(), b.as_f64().unwrap().to_bits());
        }
        store
            .conn()
            .execute("UPDATE trials SET x = 'not json'", &[])
            .unwrap();
        let err = store.trials(e.id, 0).unwrap_err().to_string();
        assert!(err.contains("s.sqlite"), "{err}");
    }
}
