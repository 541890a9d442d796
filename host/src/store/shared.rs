//! The store's side of a run shared by several processes (`--store URL`): each trial is
//! claimed in a transaction (a ticket no other process holds, within the run's evaluation
//! budget), held under a lease its process renews, and taken over by another process once
//! the lease expired (its process died). Times are the database's clock, so hosts whose
//! clocks disagree still agree on leases.

use super::backend::{Conn, DbError, Sql};
use super::{Commit, Store, StoreError, TRIAL_COLUMNS, trial_of};
use crate::trial::Trial;

/// What [`Store::claim`] hands a process.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// A new trial, with its ticket: the process proposes it and records it in flight.
    Ticket(usize),
    /// A trial in flight whose process's lease expired: its ticket and its record, to be
    /// evaluated again here.
    Adopt(usize, String),
    /// Every evaluation of the run is done or in flight.
    Full,
}

/// What happened in a shared run since a process last looked.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The other processes' trials completed since, in iteration order.
    pub trials: Vec<Trial>,
    /// The next iteration to look from.
    pub next: usize,
    /// The other processes' trials in flight (their records).
    pub in_flight: Vec<String>,
}

/// A run's trials in flight, as a process waiting for the others sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    /// Trials in flight, every process's.
    pub running: usize,
    /// Of those, the ones whose lease expired.
    pub expired: usize,
}

/// Who completed a trial: its ticket and its process (`None` for a trial of a private
/// run, or of an older store).
pub type Completion = (Option<usize>, Option<String>);

/// The database's clock, in seconds since the Unix epoch.
fn now(c: &Conn) -> &'static str {
    match c {
        Conn::Sqlite(_) => "((julianday('now') - 2440587.5) * 86400.0)",
        Conn::Postgres(_) => "(extract(epoch FROM clock_timestamp())::float8)",
    }
}

impl Store {
    /// Claims the next trial of run `run` for process `owner`, leased for `lease` seconds:
    /// first a trial in flight whose lease expired, else a new ticket while fewer than
    /// `limit` trials are done or in flight, else [`Claim::Full`]. The common case is one
    /// statement; the others one transaction after the run's row lock. No ticket is given
    /// out twice (the primary key of the tickets given out), and no two processes take
    /// over one expired trial (the lock).
    pub fn claim(
        &self,
        experiment: i64,
        run: usize,
        owner: &str,
        lease: f64,
        limit: usize,
    ) -> Result<Claim, StoreError> {
        let key = [Sql::from(experiment), run.into()];
        // A claim is not a completed trial: if a server crash forgets it and its ticket is
        // claimed again, the first of the two to be told is recorded and the other refused
        // (`record_trial`), so no trial is recorded twice.
        //
        // The common case first, without the run's lock: one statement takes the next
        // ticket, or takes nothing when a trial expired, the run is full, or another
        // process took that ticket meanwhile (the primary key refuses it a second time).
        let claimed = self.db(|c| match c {
            Conn::Postgres(_) => new_ticket(c, experiment, run, owner, lease, limit),
            Conn::Sqlite(_) => c.write(|c| new_ticket(c, experiment, run, owner, lease, limit)),
        })?;
        if let Some(ticket) = claimed {
            return Ok(Claim::Ticket(ticket));
        }
        self.write_run(Commit::Deferred, experiment, run, |c| {
            loop {
                if let Some(ticket) = new_ticket(c, experiment, run, owner, lease, limit)? {
                    return Ok(Claim::Ticket(ticket));
                }
                let now = now(c);
                let expired = c.query_opt(
                    &format!(
                        "SELECT ticket FROM pending WHERE experiment = $1 AND run = $2 \
                         AND COALESCE(lease_until, 0) < {now} ORDER BY ticket LIMIT 1"
                    ),
                    &key,
                )?;
                let Some(ticket) = expired.map(|row| row.int(0)).transpose()? else {
                    if claimed_all(c, &key, limit)? {
                        return Ok(Claim::Full);
                    }
                    // A process claiming without the lock took the ticket: the next one.
                    continue;
                };
                if let Some(trial) = take_expired(c, &key, ticket, owner, lease)? {
                    return Ok(Claim::Adopt(ticket as usize, trial));
                }
                // Claimed by a process that died before it proposed (it held nothing), or
                // told by its late process meanwhile.
            }
        })
    }

    /// Gives back a claimed ticket that was never proposed: its place in the run is free
    /// again (its number stays given out).
    pub fn release(&self, experiment: i64, run: usize, ticket: usize) -> Result<(), StoreError> {
        self.write(|c| {
            c.execute(
                "DELETE FROM pending WHERE experiment = $1 AND run = $2 AND ticket = $3 \
                 AND trial = ''",
                &[experiment.into(), run.into(), ticket.into()],
            )
            .map(|_| ())
        })
    }

    /// Extends the leases of every trial `owner` has in flight by `lease` seconds from now;
    /// how many it holds.
    pub fn renew(&self, owner: &str, lease: f64) -> Result<u64, StoreError> {
        self.write(|c| {
            let now = now(c);
            c.execute(
                &format!("UPDATE pending SET lease_until = {now} + $2 WHERE owner = $1"),
                &[owner.into(), lease.into()],
            )
        })
    }

    /// What the other processes of run `run` did since iteration `since`, as `owner` sees
    /// it.
    pub fn progress(
        &self,
        experiment: i64,
        run: usize,
        since: usize,
        owner: &str,
    ) -> Result<Progress, StoreError> {
        let key = [Sql::from(experiment), run.into()];
        self.db(|c| {
            let mut progress = Progress {
                next: since,
                ..Progress::default()
            };
            let rows = c.query(
                &format!(
                    "SELECT iteration, COALESCE(owner, ''), {TRIAL_COLUMNS} FROM trials \
                     WHERE experiment = $1 AND run = $2 AND iteration >= $3 ORDER BY iteration"
                ),
                &[experiment.into(), run.into(), since.into()],
            )?;
            for row in &rows {
                progress.next = row.int(0)? as usize + 1;
                if row.text(1)? != owner {
                    progress.trials.push(trial_of(&row.skip(2))?);
                }
            }
            let pending = c.query(
                "SELECT trial, COALESCE(owner, '') FROM pending \
                 WHERE experiment = $1 AND run = $2",
                &key,
            )?;
            for row in &pending {
                let trial = row.text(0)?;
                if row.text(1)? != owner && !trial.is_empty() {
                    progress.in_flight.push(trial);
                }
            }
            Ok(progress)
        })
    }

    /// Takes trial `ticket` of run `run` in flight into `owner`'s hands for `lease` seconds
    /// (a service replica that is told or sent a report of a trial another handed out):
    /// its record, or `None` when it is not in flight.
    pub fn take_over(
        &self,
        experiment: i64,
        run: usize,
        ticket: usize,
        owner: &str,
        lease: f64,
    ) -> Result<Option<String>, StoreError> {
        let key = [Sql::from(experiment), run.into()];
        self.write(|c| {
            let found = c.query_opt(
                "SELECT trial FROM pending WHERE experiment = $1 AND run = $2 AND ticket = $3 \
                 AND trial <> ''",
                &[experiment.into(), run.into(), ticket.into()],
            )?;
            let Some(row) = found else {
                return Ok(None);
            };
            Ok(hold(c, &key, ticket as i64, owner, lease)?.then_some(row.text(0)?))
        })
    }

    /// Extends trial `ticket`'s lease to `lease` seconds from now (a client's heartbeat).
    pub fn renew_trial(
        &self,
        experiment: i64,
        run: usize,
        ticket: usize,
        lease: f64,
    ) -> Result<(), StoreError> {
        self.write(|c| {
            let now = now(c);
            c.execute(
                &format!(
                    "UPDATE pending SET lease_until = {now} + $4 \
                     WHERE experiment = $1 AND run = $2 AND ticket = $3"
                ),
                &[experiment.into(), run.into(), ticket.into(), lease.into()],
            )
            .map(|_| ())
        })
    }

    /// Drops every trial of run `run` in flight (an experiment stopped by a client).
    pub fn drop_in_flight(&self, experiment: i64, run: usize) -> Result<(), StoreError> {
        self.write(|c| {
            c.execute(
                "DELETE FROM pending WHERE experiment = $1 AND run = $2",
                &[experiment.into(), run.into()],
            )
            .map(|_| ())
        })
    }

    /// Claims name `name` for a served experiment whose inputs are `request` (JSON): false
    /// when the name is taken (by this service or another on the same store).
    pub fn claim_name(&self, name: &str, request: &str) -> Result<bool, StoreError> {
        self.write(|c| {
            Ok(c.execute(
                "INSERT INTO served (name, request) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[name.into(), request.into()],
            )? == 1)
        })
    }

    /// Gives back a name claimed for an experiment that was refused.
    pub fn release_name(&self, name: &str) -> Result<(), StoreError> {
        self.write(|c| {
            c.execute("DELETE FROM served WHERE name = $1", &[name.into()])
                .map(|_| ())
        })
    }

    /// The inputs of served experiment `name`, as JSON, if the store keeps them.
    pub fn served_request(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.row(
            "SELECT request FROM served WHERE name = $1",
            &[name.into()],
            |r| r.text(0),
        )
    }

    /// Who completed each trial of run `run`, in iteration order: its ticket and its
    /// process (`None` for a trial of a private run, or of an older store).
    pub fn claims(&self, experiment: i64, run: usize) -> Result<Vec<Completion>, StoreError> {
        self.rows(
            "SELECT ticket, owner FROM trials WHERE experiment = $1 AND run = $2 \
             ORDER BY iteration",
            &[experiment.into(), run.into()],
            |r| Ok((r.opt_int(0)?.map(|t| t as usize), r.opt_text(1)?)),
        )
    }

    /// Run `run`'s trials in flight (every process's), and how many of them expired.
    pub fn in_flight(&self, experiment: i64, run: usize) -> Result<InFlight, StoreError> {
        self.db(|c| {
            let now = now(c);
            let row = c
                .query_opt(
                    &format!(
                        "SELECT COUNT(*), COUNT(CASE WHEN COALESCE(lease_until, 0) < {now} \
                         THEN 1 END) FROM pending WHERE experiment = $1 AND run = $2"
                    ),
                    &[experiment.into(), run.into()],
                )?
                .ok_or_else(no_row)?;
            Ok(InFlight {
                running: row.int(0)? as usize,
                expired: row.int(1)? as usize,
            })
        })
    }
}

/// Puts trial `ticket` in `owner`'s hands for `lease` seconds: false when it is no longer
/// in flight (told meanwhile).
fn hold(
    c: &mut Conn,
    key: &[Sql; 2],
    ticket: i64,
    owner: &str,
    lease: f64,
) -> Result<bool, DbError> {
    let now = now(c);
    c.execute(
        &format!(
            "UPDATE pending SET owner = $4, lease_until = {now} + $5 \
             WHERE experiment = $1 AND run = $2 AND ticket = $3"
        ),
        &[
            key[0].clone(),
            key[1].clone(),
            ticket.into(),
            owner.into(),
            lease.into(),
        ],
    )
    .map(|held| held == 1)
}

/// The next ticket of a run and the conditions to give it out, as one `SELECT` of a
/// statement whose parameters are the experiment (`$1`), the run (`$2`) and the limit
/// (`$5`): the ticket follows every ticket given out and the run's last iteration (a
/// private run's trials keep no ticket), and it is given only while fewer than `limit`
/// trials are done or in flight and no trial in flight expired (it goes first). Each
/// maximum is read off an index; iterations have no gaps, so the last one plus one counts
/// the trials done.
fn next_ticket(now: &str, unflushed: &str) -> String {
    format!(
        "SELECT $1, $2, (SELECT COALESCE(MAX(taken), -1) + 1 FROM ( \
             SELECT MAX(ticket) AS taken FROM tickets WHERE experiment = $1 AND run = $2 \
             UNION ALL SELECT MAX(ticket) FROM trials WHERE experiment = $1 AND run = $2 \
             UNION ALL SELECT MAX(ticket) FROM pending WHERE experiment = $1 AND run = $2 \
             UNION ALL SELECT MAX(iteration) FROM trials WHERE experiment = $1 AND run = $2 \
           ) AS given) {unflushed} \
         WHERE (SELECT COALESCE(MAX(iteration), -1) + 1 FROM trials \
               WHERE experiment = $1 AND run = $2) \
             + (SELECT COUNT(*) FROM pending WHERE experiment = $1 AND run = $2) < $5 \
           AND NOT EXISTS (SELECT 1 FROM pending WHERE experiment = $1 AND run = $2 \
             AND COALESCE(lease_until, 0) < {now}) \
         ON CONFLICT DO NOTHING RETURNING ticket"
    )
}

/// A new ticket for `owner` ([`next_ticket`]), or `None` when none is due or another
/// process took that ticket in the meantime. The ticket is entered in `tickets`, whose
/// primary key refuses a ticket given out before, told or not: a claim that read the run
/// before another process claimed and told its ticket takes nothing (the trials in flight
/// alone would not refuse it: that ticket is no longer there). On PostgreSQL one
/// statement, committed without waiting for the flush (inside [`Store::claim`]'s
/// transaction, or its own); on SQLite two, inside the caller's transaction.
fn new_ticket(
    c: &mut Conn,
    experiment: i64,
    run: usize,
    owner: &str,
    lease: f64,
    limit: usize,
) -> Result<Option<usize>, DbError> {
    let (now, unflushed) = (now(c), c.unflushed());
    let params: [Sql; 5] = [
        experiment.into(),
        run.into(),
        owner.into(),
        lease.into(),
        limit.into(),
    ];
    let give = format!(
        "INSERT INTO tickets (experiment, run, ticket) {}",
        next_ticket(now, unflushed)
    );
    let ticket = match c {
        Conn::Postgres(_) => c.query_opt(
            &format!(
                "WITH given AS ({give}) \
                 INSERT INTO pending (experiment, run, ticket, trial, owner, lease_until) \
                 SELECT $1, $2, ticket, '', $3, {now} + $4 FROM given RETURNING ticket"
            ),
            &params,
        )?,
        Conn::Sqlite(_) => {
            let given = c.query_opt(&give, &params)?;
            if let Some(row) = &given {
                let mut params = params.to_vec();
                params.push(row.int(0)?.into());
                c.execute(
                    &format!(
                        "INSERT INTO pending (experiment, run, ticket, trial, owner, \
                         lease_until) VALUES ($1, $2, $6, '', $3, {now} + $4)"
                    ),
                    &params,
                )?;
            }
            given
        }
    };
    Ok(ticket.map(|r| r.int(0)).transpose()?.map(|t| t as usize))
}

/// Whether `limit` trials of the run are done or in flight.
fn claimed_all(c: &mut Conn, key: &[Sql; 2], limit: usize) -> Result<bool, DbError> {
    let row = c
        .query_opt(
            "SELECT (SELECT COALESCE(MAX(iteration), -1) + 1 FROM trials \
              WHERE experiment = $1 AND run = $2) \
             + (SELECT COUNT(*) FROM pending WHERE experiment = $1 AND run = $2)",
            key,
        )?
        .ok_or_else(no_row)?;
    Ok(row.int(0)? as usize >= limit)
}

/// Takes expired trial `ticket` into `owner`'s hands: its record, or `None` when it held
/// no record (its claim is then dropped) or was told meanwhile.
fn take_expired(
    c: &mut Conn,
    key: &[Sql; 2],
    ticket: i64,
    owner: &str,
    lease: f64,
) -> Result<Option<String>, DbError> {
    let found = c.query_opt(
        "SELECT trial FROM pending WHERE experiment = $1 AND run = $2 AND ticket = $3",
        &[key[0].clone(), key[1].clone(), ticket.into()],
    )?;
    let Some(trial) = found.map(|row| row.text(0)).transpose()? else {
        return Ok(None);
    };
    if trial.is_empty() {
        c.execute(
            "DELETE FROM pending WHERE experiment = $1 AND run = $2 AND ticket = $3",
            &[key[0].clone(), key[1].clone(), ticket.into()],
        )?;
        return Ok(None);
    }
    Ok(hold(c, key, ticket, owner, lease)?.then_some(trial))
}

fn no_row() -> DbError {
    DbError::Column {
        index: 0,
        reason: "an aggregate answered no row".to_string(),
    }
}
