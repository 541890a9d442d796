//! The experiment store: an embedded SQLite database (WAL) of experiments, runs and trials.
//!
//! Invariants: every completed trial is committed before the next trial starts (an
//! autocommit insert, durable against a killed process in WAL mode); the store is the source
//! of truth for `--resume` (plugin state is a cache rebuilt from it); an experiment is found
//! again by its key, the canonical JSON of everything that determines its runs.

pub mod importance;
pub mod listing;
pub mod plots;
pub mod tokens;

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::trial::{ArmFailures, Trial};

/// File name of the experiment store inside a results directory.
pub const STORE_FILE: &str = "hpo-store.sqlite";

/// A store error, naming the database file.
#[derive(Debug, thiserror::Error)]
#[error("store {path}: {source}")]
pub struct StoreError {
    /// The database file.
    pub path: String,
    /// The cause.
    #[source]
    pub source: rusqlite::Error,
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

/// The store.
pub struct Store {
    conn: Connection,
    path: String,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS experiments (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    results_file TEXT NOT NULL,
    finished INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE IF NOT EXISTS runs (
    experiment INTEGER NOT NULL REFERENCES experiments(id),
    run INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    stop_reason TEXT,
    failures TEXT,
    PRIMARY KEY (experiment, run)
);
CREATE TABLE IF NOT EXISTS trials (
    experiment INTEGER NOT NULL REFERENCES experiments(id),
    run INTEGER NOT NULL,
    iteration INTEGER NOT NULL,
    row_index INTEGER,
    params TEXT NOT NULL,
    x TEXT NOT NULL,
    value REAL,
    exec_time REAL NOT NULL,
    opt_time REAL NOT NULL,
    arm TEXT NOT NULL,
    epochs INTEGER,
    failure TEXT,
    strategy_state BLOB,
    interim TEXT NOT NULL DEFAULT '[]',
    estimate TEXT,
    arm_failures TEXT NOT NULL DEFAULT '[]',
    timing TEXT,
    requeued INTEGER NOT NULL DEFAULT 0,
    terminated INTEGER NOT NULL DEFAULT 0,
    fidelity TEXT,
    PRIMARY KEY (experiment, run, iteration)
);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    digest BLOB NOT NULL,
    created TEXT NOT NULL DEFAULT (datetime('now')),
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS pending (
    experiment INTEGER NOT NULL REFERENCES experiments(id),
    run INTEGER NOT NULL,
    ticket INTEGER NOT NULL,
    trial TEXT NOT NULL,
    PRIMARY KEY (experiment, run, ticket)
);
";

/// Columns added after the first release, with their tables and definitions: a store
/// written by an older hpo gains them when opened (its old rows get the defaults).
const ADDED_COLUMNS: [(&str, &str, &str); 8] = [
    ("trials", "interim", "TEXT NOT NULL DEFAULT '[]'"),
    ("trials", "estimate", "TEXT"),
    ("trials", "arm_failures", "TEXT NOT NULL DEFAULT '[]'"),
    ("runs", "failures", "TEXT"),
    ("trials", "timing", "TEXT"),
    ("trials", "requeued", "INTEGER NOT NULL DEFAULT 0"),
    ("trials", "terminated", "INTEGER NOT NULL DEFAULT 0"),
    ("trials", "fidelity", "TEXT"),
];

/// How long a write waits for another hpo process holding the store's lock.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A JSON column read back: text that does not parse is an error naming the column, never
/// a silently invented default.
fn json_column<T: serde::de::DeserializeOwned>(
    row: &rusqlite::Row,
    index: usize,
) -> rusqlite::Result<T> {
    parse_json(&row.get::<_, String>(index)?, index)
}

/// A JSON column that may be NULL, read back as [`json_column`] reads it.
fn optional_json_column<T: serde::de::DeserializeOwned>(
    row: &rusqlite::Row,
    index: usize,
) -> rusqlite::Result<Option<T>> {
    row.get::<_, Option<String>>(index)?
        .map(|text| parse_json(&text, index))
        .transpose()
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, index: usize) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    })
}

impl Store {
    /// Opens (creating) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let label = path.display().to_string();
        let wrap = |source| StoreError {
            path: label.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(wrap)?;
        // First: every statement below may meet another hpo process's lock.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(wrap)?;
        // Switching to WAL takes an exclusive lock without asking the busy handler: retry.
        let started = std::time::Instant::now();
        while let Err(e) = conn.pragma_update(None, "journal_mode", "WAL") {
            if !is_busy(&e) || started.elapsed() > BUSY_TIMEOUT {
                return Err(wrap(e));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(wrap)?;
        immediate(&conn, migrate).map_err(wrap)?;
        Ok(Store { conn, path: label })
    }

    fn wrap(&self, source: rusqlite::Error) -> StoreError {
        StoreError {
            path: self.path.clone(),
            source,
        }
    }

    /// Runs `f` in a write transaction taken up front, so that another process's writes
    /// make it wait (the busy handler) instead of failing at a lock upgrade.
    fn write<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        immediate(&self.conn, f).map_err(|e| self.wrap(e))
    }
}

/// Whether an error is another connection's lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// `f` inside `BEGIN IMMEDIATE … COMMIT` (rolled back on an error).
fn immediate<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match f(conn) {
        Ok(value) => {
            conn.execute_batch("COMMIT")?;
            Ok(value)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Creates the schema, and adds the columns an older store lacks.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)?;
    for (table, column, definition) in ADDED_COLUMNS {
        let existing: Vec<String> = conn
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .and_then(|mut s| {
                s.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })?;
        if !existing.iter().any(|c| c == column) {
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {column} {definition}"
            ))?;
        }
    }
    Ok(())
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
        self.conn
            .query_row(
                "SELECT id, results_file FROM experiments WHERE key = ?1 AND finished = ?2 \
                 ORDER BY id DESC LIMIT 1",
                params![key, finished as i64],
                |r| {
                    Ok(StoredExperiment {
                        id: r.get(0)?,
                        results_file: r.get(1)?,
                        finished,
                    })
                },
            )
            .optional()
            .map_err(|e| self.wrap(e))
    }

    /// Records a new experiment.
    pub fn create(&self, key: &str, results_file: &str) -> Result<StoredExperiment, StoreError> {
        let id = self.write(|c| {
            c.execute(
                "INSERT INTO experiments (key, results_file) VALUES (?1, ?2)",
                params![key, results_file],
            )?;
            Ok(c.last_insert_rowid())
        })?;
        Ok(StoredExperiment {
            id,
            results_file: results_file.to_string(),
            finished: false,
        })
    }

    /// Records that run `run` started with `seed` (idempotent).
    pub fn start_run(&self, experiment: i64, run: usize, seed: u64) -> Result<(), StoreError> {
        self.write(|c| {
            c.execute(
                "INSERT OR IGNORE INTO runs (experiment, run, seed) VALUES (?1, ?2, ?3)",
                params![experiment, run as i64, seed as i64],
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
        self.conn
            .query_row(
                "SELECT stop_reason FROM runs WHERE experiment = ?1 AND run = ?2",
                params![experiment, run as i64],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.wrap(e))
    }

    /// Records trial `ticket` of run `run` in flight (`trial`: what the run needs to
    /// evaluate it again), replacing an earlier record of it.
    pub fn record_pending(
        &self,
        experiment: i64,
        run: usize,
        ticket: usize,
        trial: &str,
    ) -> Result<(), StoreError> {
        self.write(|c| {
            c.execute(
                "INSERT OR REPLACE INTO pending (experiment, run, ticket, trial) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![experiment, run as i64, ticket as i64, trial],
            )
            .map(|_| ())
        })
    }

    /// The trials of run `run` in flight when it stopped, in ticket order.
    pub fn pending(&self, experiment: i64, run: usize) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT trial FROM pending WHERE experiment = ?1 AND run = ?2 ORDER BY ticket")
            .map_err(|e| self.wrap(e))?;
        let rows = stmt
            .query_map(params![experiment, run as i64], |r| r.get::<_, String>(0))
            .map_err(|e| self.wrap(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.wrap(e))
    }

    /// Commits one completed trial, the `index`-th of its run, which completes the trial in
    /// flight `ticket` (one transaction).
    pub fn record_trial(
        &self,
        experiment: i64,
        run: usize,
        index: usize,
        trial: &Trial,
        ticket: usize,
    ) -> Result<(), StoreError> {
        let it = trial;
        self.write(|c| {
            c.execute(
                "DELETE FROM pending WHERE experiment = ?1 AND run = ?2 AND ticket = ?3",
                params![experiment, run as i64, ticket as i64],
            )?;
            c.execute(
                "INSERT INTO trials (experiment, run, iteration, row_index, params, x, value, \
                 exec_time, opt_time, arm, epochs, failure, strategy_state, interim, estimate, \
                 arm_failures, timing, requeued, terminated, fidelity) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
                 ?17, ?18, ?19, ?20)",
                params![
                    experiment,
                    run as i64,
                    index as i64,
                    it.row.map(|r| r as i64),
                    Value::from(it.params.clone()).to_string(),
                    Value::from(trial.x.clone()).to_string(),
                    it.value.is_finite().then_some(it.value),
                    it.exec_time,
                    it.opt_time,
                    it.arm,
                    it.epochs.map(|e| e as i64),
                    trial.failure,
                    trial.strategy_state,
                    serde_json::to_string(&it.interim).expect("interim reports serialize"),
                    it.estimate
                        .map(|e| serde_json::to_string(&e).expect("estimates serialize")),
                    serde_json::to_string(&trial.arm_failures).expect("failures serialize"),
                    it.timing
                        .map(|t| serde_json::to_string(&t).expect("timings serialize")),
                    it.requeued,
                    it.terminated,
                    it.fidelity
                        .map(|f| serde_json::to_string(&f).expect("fidelities serialize")),
                ],
            )
            .map(|_| ())
        })
    }

    /// The trials of a run, in order.
    pub fn trials(&self, experiment: i64, run: usize) -> Result<Vec<Trial>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT row_index, params, x, value, exec_time, opt_time, arm, epochs, failure, \
                 strategy_state, interim, estimate, arm_failures, timing, requeued, terminated, \
                 fidelity \
                 FROM trials \
                 WHERE experiment = ?1 AND run = ?2 ORDER BY iteration",
            )
            .map_err(|e| self.wrap(e))?;
        let rows = stmt
            .query_map(params![experiment, run as i64], |r| {
                Ok(Trial {
                    row: r.get::<_, Option<i64>>(0)?.map(|v| v as usize),
                    params: json_column(r, 1)?,
                    value: r.get::<_, Option<f64>>(3)?.unwrap_or(f64::NAN),
                    exec_time: r.get(4)?,
                    opt_time: r.get(5)?,
                    arm: r.get(6)?,
                    epochs: r.get::<_, Option<i64>>(7)?.map(|v| v as usize),
                    interim: json_column(r, 10)?,
                    estimate: optional_json_column(r, 11)?,
                    x: json_column(r, 2)?,
                    failure: r.get(8)?,
                    strategy_state: r.get(9)?,
                    arm_failures: json_column(r, 12)?,
                    timing: optional_json_column(r, 13)?,
                    requeued: r.get(14)?,
                    terminated: r.get(15)?,
                    fidelity: optional_json_column(r, 16)?,
                })
            })
            .map_err(|e| self.wrap(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.wrap(e))
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
                "UPDATE runs SET stop_reason = ?3, failures = ?4 WHERE experiment = ?1 AND run = ?2",
                params![
                    experiment,
                    run as i64,
                    stop_reason,
                    serde_json::to_string(failures).expect("failures serialize")
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
        self.conn
            .query_row(
                "SELECT failures FROM runs WHERE experiment = ?1 AND run = ?2",
                params![experiment, run as i64],
                |r| optional_json_column(r, 0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.wrap(e))
    }

    /// Copies every run of experiment `from` (seeds, trials, stop reasons, failures) into
    /// experiment `to`, in one transaction: the seed's `-r N` extension.
    pub fn copy_runs(&self, from: i64, to: i64) -> Result<(), StoreError> {
        self.write(|c| {
            c.execute_batch(&format!(
                "INSERT INTO runs (experiment, run, seed, stop_reason, failures)
                   SELECT {to}, run, seed, stop_reason, failures FROM runs WHERE experiment = {from};
                 INSERT INTO trials (experiment, run, iteration, row_index, params, x, value,
                   exec_time, opt_time, arm, epochs, failure, strategy_state, interim, estimate,
                   arm_failures, timing, requeued, terminated, fidelity)
                   SELECT {to}, run, iteration, row_index, params, x, value, exec_time, opt_time,
                   arm, epochs, failure, strategy_state, interim, estimate, arm_failures, timing,
                   requeued, terminated, fidelity
                   FROM trials WHERE experiment = {from};"
            ))
        })
    }

    /// Every experiment, oldest first.
    pub fn experiments(&self) -> Result<Vec<ExperimentListing>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT e.id, e.created, e.results_file, e.finished, e.key, \
                 (SELECT COUNT(*) FROM runs r WHERE r.experiment = e.id), \
                 (SELECT COUNT(*) FROM trials t WHERE t.experiment = e.id) \
                 FROM experiments e ORDER BY e.id",
            )
            .map_err(|e| self.wrap(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ExperimentListing {
                    id: r.get(0)?,
                    created: r.get(1)?,
                    results_file: r.get(2)?,
                    finished: r.get::<_, i64>(3)? != 0,
                    key: r.get(4)?,
                    runs: r.get(5)?,
                    trials: r.get(6)?,
                })
            })
            .map_err(|e| self.wrap(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.wrap(e))
    }

    /// The runs of an experiment: (run index, seed, stop reason if finished).
    pub fn runs(&self, experiment: i64) -> Result<Vec<(usize, u64, Option<String>)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT run, seed, stop_reason FROM runs WHERE experiment = ?1 ORDER BY run")
            .map_err(|e| self.wrap(e))?;
        let rows = stmt
            .query_map(params![experiment], |r| {
                Ok((
                    r.get::<_, i64>(0)? as usize,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, Option<String>>(2)?,
                ))
            })
            .map_err(|e| self.wrap(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.wrap(e))
    }

    /// Marks the experiment finished.
    pub fn finish(&self, experiment: i64) -> Result<(), StoreError> {
        self.write(|c| {
            c.execute(
                "UPDATE experiments SET finished = 1 WHERE id = ?1",
                params![experiment],
            )
            .map(|_| ())
        })
    }
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
        store.record_trial(e.id, 0, 0, &trial(0), 1).unwrap();
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
            store.record_trial(e.id, 0, i, &trial(i), i).unwrap();
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
            .replace("    interim TEXT NOT NULL DEFAULT '[]',\n", "")
            .replace("    estimate TEXT,\n", "")
            .replace("    arm_failures TEXT NOT NULL DEFAULT '[]',\n", "")
            .replace("    failures TEXT,\n", "")
            .replace("    timing TEXT,\n", "")
            .replace("    requeued INTEGER NOT NULL DEFAULT 0,\n", "")
            .replace("    terminated INTEGER NOT NULL DEFAULT 0,\n", "")
            .replace("    fidelity TEXT,\n", "");
        assert!(!old_schema.contains("interim"));
        {
            let conn = Connection::open(&path).unwrap();
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
        store.record_trial(1, 0, 1, &trial(2), 1).unwrap();
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
        store.record_trial(e.id, 0, 0, &t, 0).unwrap();
        let back = &store.trials(e.id, 0).unwrap()[0];
        for (a, b) in hard.iter().zip(&back.x) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        for (a, b) in hard.iter().zip(&back.params) {
            assert_eq!(a.to_bits(), b.as_f64().unwrap().to_bits());
        }
        store
            .conn
            .execute("UPDATE trials SET x = 'not json'", [])
            .unwrap();
        let err = store.trials(e.id, 0).unwrap_err().to_string();
        assert!(err.contains("s.sqlite"), "{err}");
    }
}
