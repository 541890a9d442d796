//! Group flushes: commits made without waiting for the disk ([`Commit::Deferred`]) made
//! durable many at a time, outside the locks their transactions needed.
//!
//! A served experiment tells its trials one at a time (its run is one state machine); if
//! each tell waited for PostgreSQL's disk flush while the experiment is held, the flush
//! (≈ 0.5 ms) would bound the experiment's throughput. Instead a tell commits unflushed —
//! visible at once to every session — and its
//! caller, once it let go of the experiment, asks the [`Flusher`] to make it durable before
//! answering. The flusher writes one WAL record and commits it synchronously on a
//! connection of its own: PostgreSQL's WAL is one sequence, so that flush covers every
//! commit made before it, and every caller waiting meanwhile is served by the next one.
//!
//! SQLite's commits (WAL, `synchronous=NORMAL`) never wait for the disk: there a flush is
//! nothing to do.

use std::sync::{Condvar, Mutex, MutexGuard};

use super::StoreError;
use super::backend::{Conn, DbError, Location};

/// How a write transaction commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Waits for the disk before returning.
    Durable,
    /// Returns before PostgreSQL flushes it (`synchronous_commit` off for the
    /// transaction): visible at once to every session, durable once a [`Flusher::flush`]
    /// that started after it returns, or after three of the server's WAL-writer delays;
    /// a server crash before that forgets it. SQLite's commits (WAL, `synchronous=NORMAL`)
    /// wait for no flush either way.
    Deferred,
}

/// Makes deferred commits on one store durable (see the module's documentation).
pub struct Flusher {
    location: Location,
    /// The flushing connection, opened on the first flush (PostgreSQL only).
    conn: Mutex<Option<Conn>>,
    rounds: Mutex<Rounds>,
    flushed: Condvar,
}

/// Flushes asked for and done, counted: a flush that starts once `asked` reached `n`
/// serves every ask up to `n`.
#[derive(Default)]
struct Rounds {
    asked: u64,
    done: u64,
    flushing: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Flusher {
    /// The flusher of the store at `location`.
    pub fn new(location: &Location) -> Self {
        Flusher {
            location: location.clone(),
            conn: Mutex::new(None),
            rounds: Mutex::new(Rounds::default()),
            flushed: Condvar::new(),
        }
    }

    /// Returns once every commit made before the call is on disk: the caller flushes for
    /// every caller waiting, or waits for the flush under way and, if it started too early
    /// or failed, for the next.
    pub fn flush(&self) -> Result<(), StoreError> {
        if matches!(self.location, Location::Sqlite(_)) {
            return Ok(());
        }
        let mut rounds = lock(&self.rounds);
        rounds.asked += 1;
        let mine = rounds.asked;
        while rounds.done < mine {
            if rounds.flushing {
                rounds = self.flushed.wait(rounds).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            rounds.flushing = true;
            let covered = rounds.asked;
            drop(rounds);
            let result = self.write_barrier();
            rounds = lock(&self.rounds);
            rounds.flushing = false;
            if result.is_ok() {
                rounds.done = rounds.done.max(covered);
            }
            self.flushed.notify_all();
            result?;
        }
        Ok(())
    }

    /// One WAL record, committed synchronously: the flush of the WAL up to it.
    fn write_barrier(&self) -> Result<(), StoreError> {
        let wrap = |source| StoreError {
            path: self.location.label(),
            source,
        };
        let mut conn = lock(&self.conn);
        if conn.is_none() {
            *conn = Some(Conn::open(&self.location).map_err(wrap)?);
        }
        let written = conn.as_mut().map_or(Ok(()), Conn::flush_barrier);
        if written.is_err() {
            // A broken connection is opened again by the next flush.
            *conn = None;
        }
        written.map_err(wrap)
    }
}

impl Conn {
    /// PostgreSQL: a transactional WAL record (a logical-decoding message, which any role
    /// may write and decoders ignore unless asked for its prefix), committed with the
    /// session's synchronous commit, so the WAL is flushed up to it. SQLite: nothing.
    pub fn flush_barrier(&mut self) -> Result<(), DbError> {
        match self {
            Conn::Sqlite(_) => Ok(()),
            Conn::Postgres(_) => self
                .execute("SELECT pg_logical_emit_message(true, 'hpo', 'flush')", &[])
                .map(|_| ()),
        }
    }
}
