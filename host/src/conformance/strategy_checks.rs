//! The kit's checks of a plugin's strategies: options, valid selections over a simulated
//! run, determinism, snapshot/restore, and edge inputs (one arm, suspended arms, rewards
//! that are zero, huge or negative).

use hpo_plugin_api::types::{
    ArmStat, ComponentKind, Feedback, PluginInfo, SelectRequest, StrategyConfig,
};

use super::fixtures::SEED;
use super::{Checks, Outcome, options_check, why};
use crate::loader::{PluginError, SessionError, SharedPlugin};
use crate::strategies::StrategySession;

/// The arms of the simulated runs, with their mean rewards.
const ARMS: [(&str, f64); 4] = [("A/EI", 0.1), ("B/EI", 0.5), ("C/EI", 0.2), ("D/EI", 0.9)];
/// Selections of one simulated run.
const ITERATIONS: usize = 30;

/// One check: the detail of a pass, or the session error.
type Case<'a> = Box<dyn Fn() -> Result<String, SessionError> + 'a>;

/// Runs every strategy check of the plugin.
pub(super) fn run(plugin: &SharedPlugin, info: &PluginInfo, checks: &mut Checks) {
    for name in &info.strategies {
        let subject = format!("strategy {name}");
        checks.verdict(
            &subject,
            "options",
            options_check(plugin, ComponentKind::Strategy, name),
        );
        let probe = Probe { plugin, name };
        let cases: Vec<(&str, Case<'_>)> = vec![
            ("selections", Box::new(|| probe.selections())),
            ("determinism", Box::new(|| probe.deterministic())),
            ("snapshot/restore", Box::new(|| probe.round_trip())),
            ("edge: one arm", Box::new(|| probe.edge(1, &Sim::default()))),
            (
                "edge: all arms but one suspended",
                Box::new(|| {
                    probe.edge(
                        4,
                        &Sim {
                            suspended: vec![0, 1, 2],
                            ..Sim::default()
                        },
                    )
                }),
            ),
            (
                "edge: zero rewards",
                Box::new(|| {
                    probe.edge(
                        4,
                        &Sim {
                            scale: 0.0,
                            ..Sim::default()
                        },
                    )
                }),
            ),
            (
                "edge: huge rewards (1e100)",
                Box::new(|| {
                    probe.edge(
                        4,
                        &Sim {
                            scale: 1e100,
                            ..Sim::default()
                        },
                    )
                }),
            ),
            (
                "edge: negative rewards",
                Box::new(|| {
                    probe.edge(
                        4,
                        &Sim {
                            scale: -1e6,
                            ..Sim::default()
                        },
                    )
                }),
            ),
            (
                "edge: failing arms",
                Box::new(|| {
                    probe.edge(
                        4,
                        &Sim {
                            failing: true,
                            ..Sim::default()
                        },
                    )
                }),
            ),
        ];
        let mut trapped: Option<&str> = None;
        for (check, case) in cases {
            if let Some(first) = trapped {
                checks.push(
                    &subject,
                    check,
                    Outcome::Skip,
                    format!("the strategy trapped in '{first}'"),
                );
                continue;
            }
            match case() {
                Ok(detail) => checks.push(&subject, check, Outcome::Pass, detail),
                Err(e) => {
                    if matches!(e.source, PluginError::Poisoned(_)) {
                        trapped = Some(check);
                    }
                    checks.push(&subject, check, Outcome::Fail, why(&e));
                }
            }
        }
    }
}

/// How a simulated run treats its arms.
#[derive(Clone)]
struct Sim {
    /// Multiplies every reward.
    scale: f64,
    /// Arms marked suspended in every request.
    suspended: Vec<usize>,
    /// Every other pull fails (counted in the stats, reward 0).
    failing: bool,
}

impl Default for Sim {
    fn default() -> Self {
        Sim {
            scale: 1.0,
            suspended: Vec::new(),
            failing: false,
        }
    }
}

struct Probe<'a> {
    plugin: &'a SharedPlugin,
    name: &'a str,
}

/// A simulated run in progress: the stats the host would keep.
struct Run {
    stats: Vec<ArmStat>,
    iteration: usize,
    rankings: Vec<Vec<u32>>,
}

impl Run {
    /// A run of `arms` arms that has not started.
    fn new(arms: usize) -> Self {
        Run {
            stats: vec![ArmStat::default(); arms],
            iteration: 0,
            rankings: Vec::new(),
        }
    }

    /// The same run from here on, with no rankings recorded yet.
    fn continued(&self) -> Self {
        Run {
            stats: self.stats.clone(),
            iteration: self.iteration,
            rankings: Vec::new(),
        }
    }

    /// The first selection at which two runs ranked differently.
    fn first_difference(&self, other: &Run) -> Option<usize> {
        self.rankings
            .iter()
            .zip(&other.rankings)
            .position(|(a, b)| a != b)
    }
}

impl Probe<'_> {
    fn open(&self, arms: usize) -> Result<StrategySession, SessionError> {
        StrategySession::open(
            self.plugin,
            StrategyConfig {
                name: self.name.to_string(),
                arm_names: ARMS[..arms].iter().map(|(a, _)| a.to_string()).collect(),
                options_json: "{}".into(),
                seed: SEED,
            },
        )
    }

    /// `iterations` selections and updates, as a run makes them.
    fn drive(
        &self,
        session: &mut StrategySession,
        run: &mut Run,
        iterations: usize,
        sim: &Sim,
    ) -> Result<(), SessionError> {
        for _ in 0..iterations {
            let i = run.iteration;
            for &s in &sim.suspended {
                if let Some(stat) = run.stats.get_mut(s) {
                    stat.suspended = true;
                }
            }
            let ranking = session.select(&SelectRequest {
                iteration: i as u32,
                elapsed: 10.0 * i as f64,
                stats: run.stats.clone(),
            })?;
            let chosen = ranking[0] as usize;
            let failed = sim.failing && i % 2 == 1;
            // A deterministic wobble around the arm's mean reward.
            let wobble = ((i * 7 + chosen * 3) % 11) as f64 / 50.0 - 0.1;
            let reward = if failed {
                0.0
            } else {
                sim.scale * (ARMS[chosen].1 + wobble)
            };
            let gains = if session.wants_nominations() {
                (0..run.stats.len())
                    .map(|a| sim.scale * ARMS[a].1)
                    .collect()
            } else {
                Vec::new()
            };
            let stat = &mut run.stats[chosen];
            stat.pulls += 1;
            stat.failures += u32::from(failed);
            stat.total_reward += reward;
            session.update(&Feedback {
                chosen: chosen as u32,
                reward,
                gains,
                elapsed: 10.0 * (i + 1) as f64,
            })?;
            session.snapshot()?;
            run.rankings.push(ranking);
            run.iteration += 1;
        }
        Ok(())
    }

    fn simulate(&self, arms: usize, sim: &Sim) -> Result<Run, SessionError> {
        let mut session = self.open(arms)?;
        let mut run = Run::new(arms);
        self.drive(&mut session, &mut run, ITERATIONS, sim)?;
        Ok(run)
    }

    fn selections(&self) -> Result<String, SessionError> {
        let run = self.simulate(ARMS.len(), &Sim::default())?;
        let pulls: Vec<String> = ARMS
            .iter()
            .zip(&run.stats)
            .map(|((a, _), s)| format!("{a} {}", s.pulls))
            .collect();
        Ok(format!(
            "{ITERATIONS} valid selections; pulls: {}",
            pulls.join(", ")
        ))
    }

    fn deterministic(&self) -> Result<String, SessionError> {
        let first = self.simulate(ARMS.len(), &Sim::default())?;
        let again = self.simulate(ARMS.len(), &Sim::default())?;
        match first.first_difference(&again) {
            None => Ok(format!("same seed and rewards, same {ITERATIONS} rankings")),
            Some(i) => Err(self.error(format!(
                "same seed and rewards, different rankings at selection {i}: {:?} vs {:?}",
                first.rankings[i], again.rankings[i]
            ))),
        }
    }

    fn round_trip(&self) -> Result<String, SessionError> {
        let sim = Sim::default();
        let mut original = self.open(ARMS.len())?;
        let mut run = Run::new(ARMS.len());
        self.drive(&mut original, &mut run, ITERATIONS / 2, &sim)?;
        let state = original.snapshot()?;
        let mut restored = self.open(ARMS.len())?;
        restored.restore(&state)?;
        let mut copy = run.continued();
        run.rankings.clear();
        self.drive(&mut original, &mut run, ITERATIONS / 2, &sim)?;
        self.drive(&mut restored, &mut copy, ITERATIONS / 2, &sim)?;
        match run.first_difference(&copy) {
            None => Ok(format!("a {}-byte snapshot restored continues identically", state.len())),
            Some(i) => Err(self.error(format!(
                "the restored session ranks differently {i} selections after the restore: {:?} vs {:?}",
                run.rankings[i], copy.rankings[i]
            ))),
        }
    }

    fn edge(&self, arms: usize, sim: &Sim) -> Result<String, SessionError> {
        let run = self.simulate(arms, sim)?;
        let chose_suspended = run
            .rankings
            .iter()
            .filter(|r| sim.suspended.contains(&(r[0] as usize)))
            .count();
        Ok(if sim.suspended.is_empty() {
            format!("{ITERATIONS} valid selections")
        } else {
            format!("{ITERATIONS} valid selections, {chose_suspended} of a suspended arm")
        })
    }

    fn error(&self, why: String) -> SessionError {
        SessionError {
            plugin: String::new(),
            what: "strategy",
            name: self.name.to_string(),
            source: PluginError::Failed(why),
        }
    }
}
