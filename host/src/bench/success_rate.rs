//! `hpo bench`: the seed's evaluation protocol. Repeated independent runs of several
//! strategies on one objective (in parallel across cores, each run single-threaded and
//! seeded), then, per strategy: the success rate over time of reaching a target (the k-th
//! best value of a table, or an explicit goal), the failure rate FR@t = 1 − success, the
//! mean and spread of the time to target, and the median best value so far at fixed budgets.

use std::fmt::Write as _;

use serde::Serialize;

use super::{median, run_grid};
use crate::config::RunConfig;
use crate::experiment::drivers::simulated::Cluster;
use crate::experiment::{self, ExperimentError, Expiry, RunRecord};
use crate::objectives::Objective;
use crate::registry::PluginHost;

/// Budget checkpoints reported, as fractions of the budget.
pub const CHECKPOINTS: [f64; 8] = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.85, 1.0];

/// What to compare.
#[derive(Debug, Clone)]
pub struct BenchRequest {
    /// Strategies: `DIV/<STRATEGY>` (over the run configuration's arms) or `MODEL/ACQ`.
    pub strategies: Vec<String>,
    /// Runs per strategy.
    pub runs: usize,
    /// Time budget per run (Σexec + Σopt), seconds.
    pub budget: f64,
    /// The value a run must reach (lower is better).
    pub target: f64,
    /// How the target was given, for the report (`top10`, `0.02`).
    pub target_label: String,
    /// Experiment seed.
    pub seed: u64,
    /// Arms and options of `DIV/…` strategies.
    pub config: RunConfig,
    /// A simulated cluster the runs use (`--workers N`), else one trial at a time.
    pub cluster: Option<Cluster>,
    /// Whether a run stops once it reaches the target (its success and time to target are
    /// the same; its best values after that are the value that reached it).
    pub stop_at_target: bool,
}

/// One strategy's figures.
#[derive(Debug, Clone, Serialize)]
pub struct StrategyReport {
    /// `DIV/SEQ`, `RANDOM/RANDOM`, ...
    pub strategy: String,
    /// Runs done.
    pub runs: usize,
    /// Success rate at each checkpoint.
    pub success: Vec<f64>,
    /// Median best value at each checkpoint.
    pub median_best: Vec<f64>,
    /// Mean time to target over the runs that reached it (NaN when none did).
    pub mean_time_to_target: f64,
    /// Standard deviation of the time to target.
    pub std_time_to_target: f64,
    /// Runs that reached the target within the budget.
    pub reached: usize,
    /// Times to target of each run (None when not reached).
    pub times_to_target: Vec<Option<f64>>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// The objective.
    pub objective: String,
    /// The target value.
    pub target: f64,
    /// How it was given.
    pub target_label: String,
    /// Budget per run, seconds.
    pub budget: f64,
    /// Checkpoint times, seconds.
    pub checkpoints: Vec<f64>,
    /// Per strategy.
    pub strategies: Vec<StrategyReport>,
}

/// Each trial's end on the run's time: a parallel run's clock, else Σexec + Σopt so far;
/// with its value. Increasing: trials are recorded as they end.
fn ends(record: &RunRecord) -> impl Iterator<Item = (f64, f64)> + '_ {
    let mut elapsed = 0.0;
    record.trials.iter().map(move |it| {
        elapsed += it.exec_time + it.opt_time;
        (it.timing.map_or(elapsed, |t| t.end), it.value)
    })
}

/// The first time at which the best value reached `target`.
fn time_to_target(record: &RunRecord, target: f64) -> Option<f64> {
    ends(record).find(|(_, v)| *v <= target).map(|(t, _)| t)
}

/// The best value reached by time `t` (infinity before the first evaluation ends).
fn best_by(record: &RunRecord, t: f64) -> f64 {
    ends(record)
        .take_while(|(end, _)| *end <= t)
        .map(|(_, v)| v)
        .filter(|v| v.is_finite())
        .fold(f64::INFINITY, f64::min)
}

/// The plot could not be drawn (plotters' error, as text).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot draw the plot: {0}")]
pub struct PlotError(String);

impl PlotError {
    fn of(error: impl std::fmt::Display) -> Self {
        PlotError(error.to_string())
    }
}

/// Runs the comparison. `make_objective` gives each run its own objective.
pub fn run(
    host: &PluginHost,
    request: &BenchRequest,
    objective_label: &str,
    make_objective: &(dyn Fn() -> Box<dyn Objective> + Sync),
) -> Result<BenchReport, ExperimentError> {
    let plans = request
        .strategies
        .iter()
        .map(|s| {
            experiment::plan_of(
                s,
                &request.config,
                Expiry {
                    evals: None,
                    time: Some(request.budget),
                    goal: request.stop_at_target.then_some(request.target),
                },
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let by_strategy = run_grid(
        host,
        &plans,
        request.runs,
        request.seed,
        request.cluster,
        make_objective,
    )?;
    let checkpoints: Vec<f64> = CHECKPOINTS.iter().map(|f| f * request.budget).collect();
    let strategies = request
        .strategies
        .iter()
        .zip(by_strategy)
        .map(|(name, records)| {
            let times: Vec<Option<f64>> = records
                .iter()
                .map(|r| time_to_target(r, request.target))
                .collect();
            let reached: Vec<f64> = times.iter().flatten().copied().collect();
            let mean = reached.iter().sum::<f64>() / reached.len() as f64;
            let var = reached.iter().map(|t| (t - mean).powi(2)).sum::<f64>()
                / (reached.len().max(2) - 1) as f64;
            StrategyReport {
                strategy: name.clone(),
                runs: records.len(),
                success: checkpoints
                    .iter()
                    .map(|&c| {
                        times.iter().filter(|t| t.is_some_and(|t| t <= c)).count() as f64
                            / records.len() as f64
                    })
                    .collect(),
                median_best: checkpoints
                    .iter()
                    .map(|&c| median(records.iter().map(|r| best_by(r, c)).collect()))
                    .collect(),
                mean_time_to_target: if reached.is_empty() { f64::NAN } else { mean },
                std_time_to_target: if reached.len() < 2 {
                    f64::NAN
                } else {
                    var.sqrt()
                },
                reached: reached.len(),
                times_to_target: times,
            }
        })
        .collect();
    Ok(BenchReport {
        objective: objective_label.to_string(),
        target: request.target,
        target_label: request.target_label.clone(),
        budget: request.budget,
        checkpoints,
        strategies,
    })
}

fn seconds(t: f64) -> String {
    if t >= 3600.0 {
        format!("{:.2}h", t / 3600.0)
    } else if t >= 60.0 {
        format!("{:.1}m", t / 60.0)
    } else {
        format!("{t:.0}s")
    }
}

/// The report as Markdown: success rates (and FR@t), times to target, median best values.
pub fn markdown(report: &BenchReport) -> String {
    let mut out = format!(
        "## {} — target {} ({}), budget {} per run\n\n",
        report.objective,
        report.target_label,
        report.target,
        seconds(report.budget)
    );
    let header: Vec<String> = report.checkpoints.iter().map(|&c| seconds(c)).collect();
    let _ = writeln!(
        out,
        "Success rate (FR@t = 1 − success) by time:\n\n| strategy | runs | {} |",
        header.join(" | ")
    );
    let _ = writeln!(out, "|---|---|{}", "---|".repeat(header.len()));
    for s in &report.strategies {
        let cells: Vec<String> = s
            .success
            .iter()
            .map(|v| format!("{:.0}%", v * 100.0))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            s.strategy,
            s.runs,
            cells.join(" | ")
        );
    }
    let _ = writeln!(
        out,
        "\nTime to target (runs that reached it):\n\n| strategy | reached | mean | std |\n|---|---|---|---|"
    );
    for s in &report.strategies {
        let _ = writeln!(
            out,
            "| {} | {}/{} | {} | {} |",
            s.strategy,
            s.reached,
            s.runs,
            if s.mean_time_to_target.is_nan() {
                "–".into()
            } else {
                seconds(s.mean_time_to_target)
            },
            if s.std_time_to_target.is_nan() {
                "–".into()
            } else {
                seconds(s.std_time_to_target)
            },
        );
    }
    let _ = writeln!(
        out,
        "\nMedian best value by time:\n\n| strategy | {} |\n|---|{}",
        header.join(" | "),
        "---|".repeat(header.len())
    );
    for s in &report.strategies {
        let cells: Vec<String> = s
            .median_best
            .iter()
            .map(|v| {
                if v.is_finite() {
                    format!("{v:.5}")
                } else {
                    "–".into()
                }
            })
            .collect();
        let _ = writeln!(out, "| {} | {} |", s.strategy, cells.join(" | "));
    }
    out
}

/// The success rates as CSV: strategy, time, success, failure rate, median best.
pub fn csv(report: &BenchReport) -> String {
    let mut out = String::from("strategy,time,success_rate,failure_rate,median_best\n");
    for s in &report.strategies {
        for (i, t) in report.checkpoints.iter().enumerate() {
            let _ = writeln!(
                out,
                "{},{},{},{},{}",
                s.strategy,
                t,
                s.success[i],
                1.0 - s.success[i],
                s.median_best[i]
            );
        }
    }
    out
}

/// An SVG plot of the success rate over time, one line per strategy.
pub fn svg(report: &BenchReport) -> Result<String, PlotError> {
    use plotters::prelude::*;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(PlotError::of)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "{}: success rate to reach {}",
                    report.objective, report.target_label
                ),
                ("sans-serif", 20),
            )
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..report.budget, 0.0..1.0)
            .map_err(PlotError::of)?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc("success rate")
            .draw()
            .map_err(PlotError::of)?;
        for (i, s) in report.strategies.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            // The exact empirical curve: a step up at every run's time to target.
            let mut reached: Vec<f64> = s.times_to_target.iter().flatten().copied().collect();
            reached.sort_by(f64::total_cmp);
            let n = s.runs.max(1) as f64;
            let mut points = vec![(0.0, 0.0)];
            for (k, t) in reached.iter().enumerate() {
                points.push((*t, k as f64 / n));
                points.push((*t, (k + 1) as f64 / n));
            }
            points.push((report.budget, reached.len() as f64 / n));
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(PlotError::of)?
                .label(s.strategy.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(PlotError::of)?;
        root.present().map_err(PlotError::of)?;
    }
    Ok(svg)
}
