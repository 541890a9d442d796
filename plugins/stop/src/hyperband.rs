//! Successive halving (Jamieson & Talwalkar 2016) and Hyperband (Li et al. 2018, "Hyperband:
//! A Novel Bandit-Based Approach to Hyperparameter Optimization") as schedulers: they decide
//! each trial's budget and which configurations are promoted. The arms propose the new
//! configurations, so Hyperband with model arms is the BOHB-style combination.
//!
//! A bracket `s` starts `n_s = ⌈(s_max+1)/(s+1) · η^s⌉` configurations at `R·η^-s` epochs;
//! after each rung the best `⌊n_i/η⌋` go on with η times the budget, up to `R`. Hyperband
//! cycles through the brackets `s_max, …, 0`; successive halving repeats the most
//! aggressive one. The schedule is a pure function of the jobs so far: brackets are
//! rebuilt from them on every call (new configurations fill the newest bracket in trial
//! order, a promotion joins its parent's bracket one rung up), so a resumed run schedules
//! exactly as the uninterrupted one. With several workers, a free worker gets the best
//! pending promotion of the oldest bracket, else a new configuration, opening the next
//! bracket when the newest is full (as BOHB runs brackets in parallel).

use std::collections::HashMap;

use hpo_plugin_api::types::{Assignment, Job, JobState};
use serde::Deserialize;

/// The options of both schedulers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HyperbandOptions {
    /// The smallest budget, in epochs (r).
    #[serde(default = "default_min_epochs")]
    pub min_epochs: u32,
    /// The reduction factor η: the best 1/η of a rung are promoted.
    #[serde(default = "default_eta")]
    pub eta: u32,
    /// The number of epochs of a full trial, R (needed when the objective does not say).
    #[serde(default)]
    pub epochs: Option<u32>,
}

fn default_min_epochs() -> u32 {
    1
}

fn default_eta() -> u32 {
    3
}

/// One bracket's shape: its rungs' sizes and budgets, the base rung first.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Configurations per rung.
    pub sizes: Vec<usize>,
    /// Budget per rung, in epochs; the last is the full length.
    pub budgets: Vec<u32>,
}

/// The shapes a scheduler cycles through.
pub struct Schedule {
    shapes: Vec<Shape>,
}

impl Schedule {
    /// Hyperband (`all_brackets`) or successive halving (its most aggressive bracket only)
    /// for trials of `horizon` epochs (0: unknown, then the `epochs` option must say).
    pub fn new(
        horizon: u32,
        options: HyperbandOptions,
        all_brackets: bool,
    ) -> Result<Self, String> {
        let epochs = options.epochs.unwrap_or(horizon);
        if options.eta < 2 {
            return Err(format!(
                "options: eta must be at least 2 (got {})",
                options.eta
            ));
        }
        if options.min_epochs == 0 {
            return Err("options: min_epochs must be at least 1".into());
        }
        if epochs <= options.min_epochs {
            return Err(format!(
                "needs a full trial longer than min_epochs ({}): set the option \"epochs\" (got {epochs})",
                options.min_epochs
            ));
        }
        let s_max = s_max(epochs, options.min_epochs, options.eta);
        let brackets: Vec<u32> = if all_brackets {
            (0..=s_max).rev().collect()
        } else {
            vec![s_max]
        };
        let shapes = brackets
            .into_iter()
            .map(|s| shape(s, s_max, options.eta, epochs))
            .collect();
        Ok(Schedule { shapes })
    }

    /// The shapes, in the order brackets open.
    pub fn shapes(&self) -> &[Shape] {
        &self.shapes
    }

    /// What the next free worker runs, given every job so far in trial order.
    pub fn assign(&self, jobs: &[Job]) -> Result<Assignment, String> {
        let brackets = self.rebuild(jobs)?;
        for bracket in &brackets {
            if let Some(assignment) = bracket.promotion() {
                return Ok(assignment);
            }
        }
        let shape = match brackets.last() {
            Some(last) if last.rungs[0].len() < last.shape.sizes[0] => last.shape,
            _ => &self.shapes[brackets.len() % self.shapes.len()],
        };
        Ok(Assignment::new_configuration(shape.budgets[0]))
    }

    /// The brackets the jobs form.
    fn rebuild<'a>(&'a self, jobs: &'a [Job]) -> Result<Vec<Bracket<'a>>, String> {
        let mut brackets: Vec<Bracket<'a>> = Vec::new();
        // Where each trial sits: (bracket, rung).
        let mut seat: HashMap<u64, (usize, usize)> = HashMap::new();
        for job in jobs {
            let (b, rung) = match job.parent {
                None => {
                    let has_room = brackets
                        .last()
                        .is_some_and(|b| b.rungs[0].len() < b.shape.sizes[0]);
                    if !has_room {
                        let shape = &self.shapes[brackets.len() % self.shapes.len()];
                        brackets.push(Bracket::new(shape));
                    }
                    (brackets.len() - 1, 0)
                }
                Some(parent) => {
                    let &(b, rung) = seat.get(&parent).ok_or_else(|| {
                        format!(
                            "job {}: its parent {parent} is not an earlier job",
                            job.trial
                        )
                    })?;
                    if rung + 1 >= brackets[b].rungs.len() {
                        return Err(format!(
                            "job {}: its parent {parent} is already at the last rung",
                            job.trial
                        ));
                    }
                    (b, rung + 1)
                }
            };
            brackets[b].rungs[rung].push(job);
            seat.insert(job.trial, (b, rung));
        }
        Ok(brackets)
    }
}

/// ⌊log_η(epochs / min_epochs)⌋, in integers.
fn s_max(epochs: u32, min_epochs: u32, eta: u32) -> u32 {
    let mut s = 0;
    let mut budget = u64::from(min_epochs) * u64::from(eta);
    while budget <= u64::from(epochs) {
        s += 1;
        budget *= u64::from(eta);
    }
    s
}

/// Bracket `s` of Hyperband with `s_max` for trials of `epochs` epochs.
fn shape(s: u32, s_max: u32, eta: u32, epochs: u32) -> Shape {
    let eta_f = f64::from(eta);
    let n = (f64::from(s_max + 1) / f64::from(s + 1) * eta_f.powi(s as i32)).ceil();
    let sizes = (0..=s)
        .map(|i| (n / eta_f.powi(i as i32)).floor().max(1.0) as usize)
        .collect();
    let budgets = (0..=s)
        .map(|i| {
            let budget = f64::from(epochs) * eta_f.powi(i as i32 - s as i32);
            (budget.round() as u32).clamp(1, epochs)
        })
        .collect();
    Shape { sizes, budgets }
}

/// One bracket rebuilt from the jobs: the jobs at each rung, in trial order.
struct Bracket<'a> {
    shape: &'a Shape,
    rungs: Vec<Vec<&'a Job>>,
}

impl<'a> Bracket<'a> {
    fn new(shape: &'a Shape) -> Self {
        Bracket {
            shape,
            rungs: vec![Vec::new(); shape.sizes.len()],
        }
    }

    /// The promotion this bracket owes, the deepest rung first: a rung whose jobs have all
    /// ended promotes its best `sizes[k+1]` completed configurations, one per call.
    fn promotion(&self) -> Option<Assignment> {
        for k in (0..self.rungs.len() - 1).rev() {
            let rung = &self.rungs[k];
            let ended = rung.iter().all(|j| j.state != JobState::Pending);
            if rung.len() < self.shape.sizes[k] || !ended {
                continue;
            }
            let promoted: Vec<u64> = self.rungs[k + 1].iter().filter_map(|j| j.parent).collect();
            let mut ranked: Vec<&Job> = rung
                .iter()
                .copied()
                .filter(|j| j.state == JobState::Complete && !j.value.is_nan())
                .collect();
            ranked.sort_by(|a, b| a.value.total_cmp(&b.value).then(a.trial.cmp(&b.trial)));
            let next = ranked
                .iter()
                .take(self.shape.sizes[k + 1])
                .find(|j| !promoted.contains(&j.trial));
            if let Some(job) = next {
                return Some(Assignment::promotion(job.trial, self.shape.budgets[k + 1]));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(min_epochs: u32, eta: u32) -> HyperbandOptions {
        HyperbandOptions {
            min_epochs,
            eta,
            epochs: None,
        }
    }

    fn job(trial: u64, parent: Option<u64>, budget: u32, value: Option<f64>) -> Job {
        Job {
            trial,
            parent,
            budget,
            state: if value.is_some() {
                JobState::Complete
            } else {
                JobState::Pending
            },
            value: value.unwrap_or(0.0),
        }
    }

    #[test]
    fn brackets_match_the_hyperband_papers_table_for_r_81_eta_3() {
        // Li et al. 2018, Table 1: R = 81, η = 3.
        let schedule = Schedule::new(81, options(1, 3), true).unwrap();
        let sizes: Vec<Vec<usize>> = schedule.shapes().iter().map(|s| s.sizes.clone()).collect();
        let budgets: Vec<Vec<u32>> = schedule
            .shapes()
            .iter()
            .map(|s| s.budgets.clone())
            .collect();
        assert_eq!(
            sizes,
            vec![
                vec![81, 27, 9, 3, 1],
                vec![34, 11, 3, 1],
                vec![15, 5, 1],
                vec![8, 2],
                vec![5],
            ]
        );
        assert_eq!(
            budgets,
            vec![
                vec![1, 3, 9, 27, 81],
                vec![3, 9, 27, 81],
                vec![9, 27, 81],
                vec![27, 81],
                vec![81],
            ]
        );
        let halving = Schedule::new(81, options(1, 3), false).unwrap();
        assert_eq!(halving.shapes(), &schedule.shapes()[..1]);
    }

    #[test]
    fn budgets_round_when_the_length_is_not_a_power_of_eta() {
        // R = 15 epochs, η = 3: s_max = 2; bracket 2 starts 9 configurations at 15/9 epochs.
        let schedule = Schedule::new(15, options(1, 3), true).unwrap();
        assert_eq!(schedule.shapes()[0].sizes, vec![9, 3, 1]);
        assert_eq!(schedule.shapes()[0].budgets, vec![2, 5, 15]);
        assert_eq!(schedule.shapes()[2].budgets, vec![15]);
    }

    #[test]
    fn a_sequential_bracket_fills_then_promotes_the_best_then_opens_the_next() {
        // R = 9, η = 3: bracket 2 is 9 × 1 epoch → 3 × 3 → 1 × 9.
        let schedule = Schedule::new(9, options(1, 3), true).unwrap();
        let mut jobs = Vec::new();
        for t in 0..9u64 {
            assert_eq!(
                schedule.assign(&jobs).unwrap(),
                Assignment::new_configuration(1)
            );
            // Values 0.9, 0.8, … so the last three are best.
            jobs.push(job(t, None, 1, Some(0.9 - 0.1 * t as f64)));
        }
        // The best three of rung 0 are trials 8, 7, 6, best first.
        for (t, parent) in [(9u64, 8u64), (10, 7), (11, 6)] {
            assert_eq!(
                schedule.assign(&jobs).unwrap(),
                Assignment::promotion(parent, 3)
            );
            jobs.push(job(t, Some(parent), 3, Some(0.05 * (t - 8) as f64)));
        }
        // Rung 1's best is trial 9 (0.05).
        assert_eq!(schedule.assign(&jobs).unwrap(), Assignment::promotion(9, 9));
        jobs.push(job(12, Some(9), 9, Some(0.01)));
        // The bracket is done: the next one (s = 1) starts at 3 epochs.
        assert_eq!(
            schedule.assign(&jobs).unwrap(),
            Assignment::new_configuration(3)
        );
    }

    #[test]
    fn a_pending_job_holds_its_rung_and_free_workers_open_the_next_bracket() {
        let schedule = Schedule::new(9, options(1, 3), false).unwrap();
        let mut jobs: Vec<Job> = (0..9u64).map(|t| job(t, None, 1, Some(t as f64))).collect();
        jobs[4].state = JobState::Pending;
        // Rung 0 is not over: the next worker starts bracket 2's successor.
        assert_eq!(
            schedule.assign(&jobs).unwrap(),
            Assignment::new_configuration(1)
        );
        jobs.push(job(9, None, 1, None));
        // Once trial 4 ends, the first bracket promotes before the second is filled.
        jobs[4].state = JobState::Complete;
        assert_eq!(schedule.assign(&jobs).unwrap(), Assignment::promotion(0, 3));
    }

    #[test]
    fn failed_jobs_are_never_promoted_and_bad_histories_are_errors() {
        let schedule = Schedule::new(9, options(1, 3), false).unwrap();
        let mut jobs: Vec<Job> = (0..9u64).map(|t| job(t, None, 1, Some(t as f64))).collect();
        jobs[0].state = JobState::Failed;
        assert_eq!(schedule.assign(&jobs).unwrap(), Assignment::promotion(1, 3));
        let orphan = vec![job(0, Some(7), 3, None)];
        assert!(schedule.assign(&orphan).unwrap_err().contains("parent 7"));
        assert!(Schedule::new(1, options(1, 3), true).is_err());
        assert!(Schedule::new(9, options(1, 1), true).is_err());
    }
}
