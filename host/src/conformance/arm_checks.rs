//! The kit's checks of a plugin's arms: options, valid proposals on a table pool and on a
//! continuous space (with points in flight), determinism, snapshot/restore, edge inputs,
//! containment of a trap, and the latency of `propose` as observations grow.

use std::time::{Duration, Instant};

use hpo_plugin_api::types::{
    ArmConfig, ComponentKind, Matrix, PluginInfo, ProposeRequest, Proposed,
};

use super::fixtures::{Fixture, SEED, edge_histories};
use super::{Checks, KitOptions, Outcome, options_check, why};
use crate::arms::ArmSession;
use crate::loader::{PluginError, SessionError, SharedPlugin};

/// Proposals asked for in the validity checks.
const BATCH: u32 = 4;
/// Observations in the validity checks' histories.
const HISTORY: usize = 20;

/// Runs every arm check of the plugin.
pub(super) fn run(
    plugin: &SharedPlugin,
    info: &PluginInfo,
    options: &KitOptions,
    checks: &mut Checks,
) {
    if info.arms.is_empty() {
        return;
    }
    let table = Fixture::table();
    let continuous = Fixture::continuous(256);
    let mut models: Vec<&str> = Vec::new();
    for arm in &info.arms {
        let model = arm.split_once('/').map_or(arm.as_str(), |(m, _)| m);
        if !models.contains(&model) {
            models.push(model);
            checks.verdict(
                &format!("model {model}"),
                "options",
                options_check(plugin, ComponentKind::Arm, model),
            );
        }
    }
    let mut siblings = Siblings::open(plugin, info, &table);
    let (mut traps, mut good) = (Vec::new(), Vec::new());
    for arm in &info.arms {
        let (model, acquisition) = arm.split_once('/').unwrap_or((arm, ""));
        let probe = Probe {
            plugin,
            model,
            acquisition,
        };
        let first = checks.len();
        match probe.all(&table, &continuous, &format!("arm {arm}"), checks) {
            Some(check) => traps.push((arm.clone(), check)),
            // An arm that answers single proposals well can stand as the sibling.
            None if checks
                .since(first)
                .iter()
                .all(|c| !c.check.starts_with("edge:") || c.outcome == Outcome::Pass) =>
            {
                good.push(arm.clone())
            }
            None => {}
        }
    }
    siblings.check(&traps, &good, checks);
    let largest = options.latency_sizes.iter().copied().max().unwrap_or(0);
    let large = Fixture::continuous(largest + 256);
    for model in models {
        let arm = info
            .arms
            .iter()
            .find(|a| a.starts_with(&format!("{model}/")))
            .expect("listed");
        if let Some((trapped, _)) = traps
            .iter()
            .find(|(a, _)| a.starts_with(&format!("{model}/")))
        {
            let why = format!("{trapped} trapped");
            checks.push(&format!("model {model}"), "latency", Outcome::Skip, why);
            continue;
        }
        let acquisition = arm.split_once('/').map_or("", |(_, a)| a);
        let probe = Probe {
            plugin,
            model,
            acquisition,
        };
        latency(&probe, &large, options, checks);
    }
}

/// One arm under test.
struct Probe<'a> {
    plugin: &'a SharedPlugin,
    model: &'a str,
    acquisition: &'a str,
}

/// What a check found: the detail of a pass, or why it failed, and whether the instance
/// trapped (which ends the arm's checks).
enum Found {
    Pass(String),
    Fail(String),
    Trap(String),
}

impl From<SessionError> for Found {
    fn from(e: SessionError) -> Self {
        if matches!(e.source, PluginError::Poisoned(_)) {
            Found::Trap(why(&e))
        } else {
            Found::Fail(why(&e))
        }
    }
}

impl Probe<'_> {
    /// Every per-arm check in order; the name of the check in which the arm trapped, if any.
    fn all(
        &self,
        table: &Fixture,
        continuous: &Fixture,
        subject: &str,
        checks: &mut Checks,
    ) -> Option<String> {
        let mut cases: Vec<(String, Box<dyn Fn() -> Found + '_>)> = vec![
            (
                "proposals on a table pool".into(),
                Box::new(|| self.valid(table)),
            ),
            (
                "proposals on a continuous space".into(),
                Box::new(|| self.valid(continuous)),
            ),
            (
                "determinism".into(),
                Box::new(|| self.deterministic(table, continuous)),
            ),
            (
                "snapshot/restore".into(),
                Box::new(|| self.round_trip(continuous)),
            ),
        ];
        for (name, history) in edge_histories(table) {
            cases.push((
                format!("edge: {name}"),
                Box::new(move || self.edge(table, &history)),
            ));
        }
        cases.push((
            "edge: a pool of one".into(),
            Box::new(|| self.pool_of_one(table)),
        ));
        let mut trapped: Option<String> = None;
        for (name, case) in cases {
            if let Some(first) = &trapped {
                checks.push(
                    subject,
                    &name,
                    Outcome::Skip,
                    format!("the arm trapped in '{first}'"),
                );
                continue;
            }
            match case() {
                Found::Pass(detail) => checks.push(subject, &name, Outcome::Pass, detail),
                Found::Fail(why) => checks.push(subject, &name, Outcome::Fail, why),
                Found::Trap(why) => {
                    checks.push(subject, &name, Outcome::Fail, why);
                    trapped = Some(name);
                }
            }
        }
        trapped
    }

    fn open(&self, fixture: &Fixture, pool: Matrix) -> Result<ArmSession, SessionError> {
        let config = ArmConfig {
            model: self.model.to_string(),
            space_json: fixture.space_json.clone(),
            options_json: "{}".into(),
            seed: SEED,
        };
        let mut session = ArmSession::open(self.plugin, config, fixture.dims)?;
        session.set_pool(pool)?;
        Ok(session)
    }

    fn request(
        &self,
        fixture: &Fixture,
        candidates: Vec<u32>,
        pending: Matrix,
        n: u32,
    ) -> ProposeRequest {
        ProposeRequest {
            acquisition: self.acquisition.to_string(),
            candidates,
            pending,
            n,
            seed: SEED ^ 0x5EED,
            allow_off_pool: fixture.off_pool,
        }
    }

    /// `BATCH` proposals after `HISTORY` observations with two points in flight.
    fn proposals(&self, fixture: &Fixture) -> Result<Vec<Proposed>, SessionError> {
        let mut session = self.open(fixture, fixture.pool.clone())?;
        session.tell(&fixture.history(HISTORY))?;
        let request = self.request(
            fixture,
            fixture.candidates_from(HISTORY + 2),
            fixture.pending(HISTORY..HISTORY + 2),
            BATCH,
        );
        session.propose(&request)
    }

    fn valid(&self, fixture: &Fixture) -> Found {
        match self.proposals(fixture) {
            Ok(p) => Found::Pass(format!(
                "{} valid proposals after {HISTORY} observations, 2 in flight ({})",
                p.len(),
                describe(&p)
            )),
            Err(e) => e.into(),
        }
    }

    fn deterministic(&self, table: &Fixture, continuous: &Fixture) -> Found {
        for fixture in [table, continuous] {
            let first = match self.proposals(fixture) {
                Ok(p) => p,
                Err(e) => return e.into(),
            };
            let again = match self.proposals(fixture) {
                Ok(p) => p,
                Err(e) => return e.into(),
            };
            if let Some(diff) = difference(&first, &again) {
                return Found::Fail(format!(
                    "same seed and history, different proposals on the {} fixture: {diff}",
                    fixture.name
                ));
            }
        }
        Found::Pass(
            "same seed and history, same proposals bit for bit (table and continuous)".into(),
        )
    }

    /// A session restored from a snapshot (after the history is replayed, as on resume)
    /// continues as the original does.
    fn round_trip(&self, fixture: &Fixture) -> Found {
        let result = (|| {
            let mut original = self.open(fixture, fixture.pool.clone())?;
            original.tell(&fixture.history(10))?;
            let state = original.snapshot()?;
            let mut restored = self.open(fixture, fixture.pool.clone())?;
            restored.tell(&fixture.history(10))?;
            restored.restore(&state)?;
            let more = fixture.observations(
                10..HISTORY,
                |r| fixture.values[r],
                hpo_plugin_api::types::ObservationStatus::Final,
            );
            let request = self.request(
                fixture,
                fixture.candidates_from(HISTORY),
                Matrix::empty(fixture.dims as u32),
                BATCH,
            );
            let mut answers = Vec::new();
            for session in [&mut original, &mut restored] {
                session.tell(&more)?;
                answers.push(session.propose(&request)?);
            }
            Ok::<_, SessionError>((state.len(), answers))
        })();
        match result {
            Ok((bytes, answers)) => match difference(&answers[0], &answers[1]) {
                None => Found::Pass(format!(
                    "a {bytes}-byte snapshot restored continues identically"
                )),
                Some(diff) => Found::Fail(format!(
                    "the restored session continues differently: {diff}"
                )),
            },
            Err(e) => e.into(),
        }
    }

    fn edge(&self, fixture: &Fixture, history: &hpo_plugin_api::types::Observations) -> Found {
        let result = (|| {
            let mut session = self.open(fixture, fixture.pool.clone())?;
            session.tell(history)?;
            let request = self.request(
                fixture,
                fixture.candidates_from(history.len()),
                Matrix::empty(fixture.dims as u32),
                1,
            );
            session.propose(&request)
        })();
        answered(result)
    }

    fn pool_of_one(&self, fixture: &Fixture) -> Found {
        let result = (|| {
            let mut session = self.open(fixture, fixture.pool_of_one())?;
            let request = ProposeRequest {
                allow_off_pool: false,
                ..self.request(fixture, vec![0], Matrix::empty(fixture.dims as u32), 1)
            };
            session.propose(&request)
        })();
        answered(result)
    }
}

/// An edge case passes when answered: a valid proposal, or a clean error (reported), but
/// not a trap or a malformed answer.
fn answered(result: Result<Vec<Proposed>, SessionError>) -> Found {
    match result {
        Ok(p) => Found::Pass(format!("answered: {}", describe(&p))),
        Err(e) if matches!(e.source, PluginError::Failed(_)) => {
            Found::Pass(format!("answered with an error: {}", why(&e)))
        }
        Err(e) => e.into(),
    }
}

/// A short account of proposals: pool rows or points.
fn describe(proposed: &[Proposed]) -> String {
    let parts: Vec<String> = proposed
        .iter()
        .map(|p| match p.pool_index {
            Some(i) => format!("row {i}"),
            None => "a point".to_string(),
        })
        .collect();
    parts.join(", ")
}

/// Where two answers differ, bit for bit (NaN equals NaN of the same bits).
fn difference(a: &[Proposed], b: &[Proposed]) -> Option<String> {
    if a.len() != b.len() {
        return Some(format!("{} vs {} proposals", a.len(), b.len()));
    }
    for (i, (p, q)) in a.iter().zip(b).enumerate() {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let figures = |p: &Proposed| [p.acquisition, p.mean, p.variance];
        if p.pool_index != q.pool_index || bits(&p.point) != bits(&q.point) {
            return Some(format!(
                "proposal {i}: {:?} vs {:?}",
                p.pool_index
                    .map_or_else(|| format!("{:?}", p.point), |r| format!("row {r}")),
                q.pool_index
                    .map_or_else(|| format!("{:?}", q.point), |r| format!("row {r}"))
            ));
        }
        if bits(&figures(p)) != bits(&figures(q)) {
            return Some(format!(
                "proposal {i}: (acquisition, mean, variance) {:?} vs {:?}",
                figures(p),
                figures(q)
            ));
        }
    }
    None
}

/// A session of every arm, opened before any check: when an arm's instance traps, an arm
/// that passed all its checks must still answer on its old session (reopened on a fresh
/// instance with its history re-sent), not pay for the trap.
struct Siblings {
    sessions: Vec<(String, ArmSession)>,
}

impl Siblings {
    fn open(plugin: &SharedPlugin, info: &PluginInfo, table: &Fixture) -> Self {
        let sessions = info
            .arms
            .iter()
            .filter_map(|arm| {
                let (model, _) = arm.split_once('/')?;
                let probe = Probe {
                    plugin,
                    model,
                    acquisition: "",
                };
                let mut s = probe.open(table, table.pool.clone()).ok()?;
                s.tell(&table.history(5)).ok()?;
                Some((arm.clone(), s))
            })
            .collect();
        Siblings { sessions }
    }

    /// The isolation check, once every arm was checked.
    fn check(&mut self, traps: &[(String, String)], good: &[String], checks: &mut Checks) {
        if traps.is_empty() {
            let why = "no arm trapped, so no sibling had to be protected from a trap";
            checks.push("plugin", "isolation", Outcome::Skip, why.into());
            return;
        }
        let trapped: Vec<&str> = traps.iter().map(|(a, _)| a.as_str()).collect();
        let Some((arm, session)) = self.sessions.iter_mut().find(|(a, _)| good.contains(a)) else {
            let why = "arms trapped, but no other arm answered its edge cases well enough to serve as the sibling";
            checks.push("plugin", "isolation", Outcome::Skip, why.into());
            return;
        };
        let request = ProposeRequest {
            acquisition: arm.split_once('/').map_or("", |(_, a)| a).to_string(),
            candidates: (5..20).collect(),
            pending: Matrix::empty(session.dims() as u32),
            n: 1,
            seed: SEED,
            allow_off_pool: false,
        };
        let subject = format!("arm {arm}");
        let name = format!("isolation: after {} trapped", trapped.join(", "));
        match session.propose(&request) {
            Ok(_) => checks.push(
                &subject,
                &name,
                Outcome::Pass,
                format!(
                    "this arm's session, opened before the traps, answered without being \
                     charged (reopened {} time(s), history re-sent)",
                    session.reopened()
                ),
            ),
            Err(e) => checks.push(
                &subject,
                &name,
                Outcome::Fail,
                format!("this arm paid for another arm's trap: {}", why(&e)),
            ),
        }
    }
}

/// The time of `tell` + `propose` at growing histories, against the budget at the largest.
fn latency(probe: &Probe<'_>, fixture: &Fixture, options: &KitOptions, checks: &mut Checks) {
    let subject = format!("model {}", probe.model);
    let mut parts = Vec::new();
    let mut slowest = Duration::ZERO;
    for &n in &options.latency_sizes {
        let result = (|| {
            let mut session = probe.open(fixture, fixture.pool.clone())?;
            let opened = Instant::now();
            session.tell(&fixture.history(n))?;
            session.propose(&probe.request(
                fixture,
                fixture.candidates_from(n),
                Matrix::empty(fixture.dims as u32),
                1,
            ))?;
            Ok::<_, SessionError>(opened.elapsed())
        })();
        match result {
            Ok(took) => {
                slowest = slowest.max(took);
                parts.push(format!("n={n}: {:.1} ms", took.as_secs_f64() * 1e3));
            }
            Err(e) => {
                checks.push(
                    &subject,
                    "latency",
                    Outcome::Fail,
                    format!("at n={n}: {}", why(&e)),
                );
                return;
            }
        }
    }
    let budget = options.latency_budget;
    let outcome = if slowest <= budget {
        Outcome::Pass
    } else {
        Outcome::Warn
    };
    checks.push(
        &subject,
        "latency",
        outcome,
        format!(
            "tell + propose {} (budget {} ms at n={})",
            parts.join(", "),
            budget.as_millis(),
            options.latency_sizes.last().copied().unwrap_or(0)
        ),
    );
}
