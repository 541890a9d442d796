//! `hpo results plot ID --kind KIND`: an experiment's trials drawn as SVG (plotters).
//!
//! - `convergence`: the best value so far over evaluations, one thin line per run and the
//!   median across runs bold; a logarithmic value axis when the values are positive and
//!   span more than two decades.
//! - `curves`: every trial's learning curve (its interim reports over epochs); trials an
//!   early-termination rule stopped are drawn in red and end in a cross.
//! - `arms`: which arm proposed each trial of each run (a dot per trial at its evaluation
//!   and arm, a colour per arm, one dot per pixel), each arm's share of the trials in the
//!   legend.
//! - `workers`: a Gantt chart of a parallel run (run 0): one bar per trial on its worker's
//!   row, from its start to its end on the run's clock, stopped trials in red.
//! - `parallel`: parallel coordinates, one axis per parameter (numbers scaled to their
//!   range, or their logarithms' when they look log-uniform; other values spread by rank),
//!   one line per successful trial coloured by its value's rank (blue best, red worst; the
//!   best drawn last, on top); beyond 2,000 trials the best 1,000 and 1,000 of the others
//!   evenly spaced by rank, said on the axis.
//! - `importance`: each parameter's first-order importance ([`super::importance`]), one
//!   bar per parameter.

use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::listing::{ResultsError, find, open};
use super::{Location, Store};
use crate::trial::Trial;

/// What to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotKind {
    /// Best value so far over evaluations.
    Convergence,
    /// Learning curves, stopped trials marked.
    Curves,
    /// Which arm proposed each trial.
    Arms,
    /// Trials per worker over time (parallel runs).
    Workers,
    /// Parallel coordinates of the parameters, coloured by value.
    Parallel,
    /// Each parameter's importance.
    Importance,
}

impl std::str::FromStr for PlotKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "convergence" => Ok(PlotKind::Convergence),
            "curves" => Ok(PlotKind::Curves),
            "arms" => Ok(PlotKind::Arms),
            "workers" => Ok(PlotKind::Workers),
            "parallel" => Ok(PlotKind::Parallel),
            "importance" => Ok(PlotKind::Importance),
            other => Err(format!(
                "--kind {other}: expected convergence, curves, arms, workers, parallel or importance"
            )),
        }
    }
}

/// The SVG of experiment `id` in the store at `store`.
pub fn plot(store: &Location, id: i64, kind: PlotKind) -> Result<String, ResultsError> {
    plot_of(&open(store)?, id, kind)
}

/// The SVG of experiment `id` in an open store.
pub fn plot_of(store: &Store, id: i64, kind: PlotKind) -> Result<String, ResultsError> {
    let experiment = find(store, id)?;
    let mut runs = Vec::new();
    for (run, _, _) in store.runs(id)? {
        runs.push(store.trials(id, run)?);
    }
    if runs.iter().all(Vec::is_empty) {
        return Err(ResultsError::Input(format!(
            "experiment {id} has no trials yet"
        )));
    }
    let title = format!("experiment {id}: {}", experiment.results_file);
    let names = param_names(&experiment.key, &runs);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 560)).into_drawing_area();
        let drawn = match kind {
            PlotKind::Convergence => convergence(&root, &title, &runs),
            PlotKind::Curves => curves(&root, &title, &runs),
            PlotKind::Arms => arms(&root, &title, &runs),
            PlotKind::Workers => workers(&root, &title, &runs[0]),
            PlotKind::Parallel => parallel(&root, &title, &runs, &names),
            PlotKind::Importance => importance(&root, &title, &runs, &names),
        };
        drawn
            .and_then(|()| root.present().map_err(|e| e.to_string()))
            .map_err(|e| ResultsError::Input(format!("plot: {e}")))?;
    }
    Ok(svg)
}

/// A plot's SVG rasterized to PNG (resvg), its text set in the system's fonts; an error
/// when there is none (the text would be missing).
pub fn png(svg: &str) -> Result<Vec<u8>, String> {
    use resvg::{tiny_skia, usvg};
    let mut options = usvg::Options::default();
    options.fontdb_mut().load_system_fonts();
    // The plots ask for "sans-serif": the first of the usual sans families installed,
    // else any family there is.
    let families: Vec<String> = options
        .fontdb
        .faces()
        .flat_map(|face| face.families.iter().map(|(name, _)| name.clone()))
        .collect();
    let preferred = ["DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial"];
    let Some(family) = preferred
        .iter()
        .map(|f| f.to_string())
        .find(|f| families.contains(f))
        .or_else(|| families.first().cloned())
    else {
        return Err(
            "PNG needs a font for its text and this system has none (Debian: fonts-dejavu-core)"
                .into(),
        );
    };
    options.fontdb_mut().set_sans_serif_family(family.clone());
    options.font_family = family;
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| format!("the plot's SVG: {e}"))?;
    let size = tree.size().to_int_size();
    let mut pixmap =
        tiny_skia::Pixmap::new(size.width(), size.height()).ok_or("the plot has no area")?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| format!("PNG: {e}"))
}

/// The best value so far after each trial (failed trials keep the previous best).
pub fn best_so_far(trials: &[Trial]) -> Vec<f64> {
    let mut best = f64::INFINITY;
    trials
        .iter()
        .map(|t| {
            if t.value.is_finite() {
                best = best.min(t.value);
            }
            best
        })
        .collect()
}

/// The median of the runs' best values at each evaluation every run reached.
fn median_curve(curves: &[Vec<f64>]) -> Vec<f64> {
    let len = curves.iter().map(Vec::len).min().unwrap_or(0);
    (0..len)
        .map(|i| {
            let mut at: Vec<f64> = curves.iter().map(|c| c[i]).collect();
            at.sort_by(f64::total_cmp);
            let mid = at.len() / 2;
            if at.len() % 2 == 1 {
                at[mid]
            } else {
                (at[mid - 1] + at[mid]) / 2.0
            }
        })
        .collect()
}

/// The range of `values` (finite ones), and whether it needs a log axis.
fn value_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64, bool)> {
    let finite: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    let lo = finite.iter().copied().reduce(f64::min)?;
    let hi = finite.iter().copied().reduce(f64::max)?;
    let log = lo > 0.0 && hi / lo > 100.0;
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1.0) * 0.05
    };
    Some(if log {
        (lo * 0.9, hi * 1.1, true)
    } else {
        (lo - pad, hi + pad, false)
    })
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

fn convergence(root: &Area<'_>, title: &str, runs: &[Vec<Trial>]) -> Result<(), String> {
    let curves: Vec<Vec<f64>> = runs.iter().map(|r| best_so_far(r)).collect();
    let (lo, hi, log) = value_range(curves.iter().flatten().copied()).ok_or("no finite value")?;
    let evals = curves.iter().map(Vec::len).max().unwrap_or(1).max(2);
    let lines: Vec<(Vec<(f64, f64)>, ShapeStyle)> = curves
        .iter()
        .map(|c| (points(c), BLUE.mix(0.25).stroke_width(1)))
        .chain(std::iter::once((
            points(&median_curve(&curves)),
            BLUE.stroke_width(3),
        )))
        .collect();
    let x = (1.0, evals as f64);
    let labels = ("evaluation", "best value so far (lower is better)");
    draw_lines(root, title, x, (lo, hi), log, labels, &lines, &[])
}

fn curves(root: &Area<'_>, title: &str, runs: &[Vec<Trial>]) -> Result<(), String> {
    let trials: Vec<&Trial> = runs
        .iter()
        .flatten()
        .filter(|t| !t.interim.is_empty())
        .collect();
    if trials.is_empty() {
        return Err("no trial reported interim values (learning curves)".into());
    }
    let values = trials
        .iter()
        .flat_map(|t| t.interim.iter().map(|r| r.value));
    let (lo, hi, log) = value_range(values).ok_or("no finite value")?;
    let epochs = trials
        .iter()
        .flat_map(|t| t.interim.iter().map(|r| r.epoch))
        .max()
        .unwrap_or(1)
        .max(2);
    let mut lines = Vec::new();
    let mut stops = Vec::new();
    for t in &trials {
        let line: Vec<(f64, f64)> = t
            .interim
            .iter()
            .map(|r| (r.epoch as f64, r.value))
            .collect();
        let style = if t.terminated {
            stops.extend(line.last().copied());
            RED.mix(0.5).stroke_width(1)
        } else {
            BLUE.mix(0.4).stroke_width(1)
        };
        lines.push((line, style));
    }
    let labels = ("epoch", "value (lower is better); red: stopped early");
    draw_lines(
        root,
        title,
        (1.0, epochs as f64),
        (lo, hi),
        log,
        labels,
        &lines,
        &stops,
    )
}

/// The arms of `runs` in order of first use, and each one's trials as (evaluation, run).
fn arm_trials(runs: &[Vec<Trial>]) -> Vec<(String, Vec<(usize, usize)>)> {
    let mut arms: Vec<(String, Vec<(usize, usize)>)> = Vec::new();
    for (run, trials) in runs.iter().enumerate() {
        for (i, t) in trials.iter().enumerate() {
            match arms.iter_mut().find(|(name, _)| *name == t.arm) {
                Some((_, at)) => at.push((i + 1, run)),
                None => arms.push((t.arm.clone(), vec![(i + 1, run)])),
            }
        }
    }
    arms
}

fn arms(root: &Area<'_>, title: &str, runs: &[Vec<Trial>]) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<std::io::Error>| e.to_string();
    let arms = arm_trials(runs);
    let total: usize = arms.iter().map(|(_, at)| at.len()).sum();
    let evals = runs.iter().map(Vec::len).max().unwrap_or(1).max(2);
    let rows = arms.len() as f64;
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(120)
        .build_cartesian_2d(0.5..evals as f64 + 0.5, -0.5..rows - 0.5)
        .map_err(e)?;
    let label = label_of(arms.iter().map(|(name, _)| name.clone()).collect());
    chart
        .configure_mesh()
        .x_desc("evaluation")
        .y_desc("arm")
        .y_labels(arms.len() * 2 + 1)
        .y_label_formatter(&label)
        .disable_y_mesh()
        .draw()
        .map_err(e)?;
    for (k, (name, at)) in arms.iter().enumerate() {
        let colour = Palette99::pick(k).to_rgba();
        // Runs are spread a little around the arm's row, so their dots do not hide each other.
        let spread = |run: usize| {
            if runs.len() > 1 {
                (run as f64 / runs.len() as f64 - 0.5) * 0.5
            } else {
                0.0
            }
        };
        let share = 100.0 * at.len() as f64 / total.max(1) as f64;
        let dots = at
            .iter()
            .map(|&(eval, run)| (eval as f64, k as f64 + spread(run)));
        let dots = one_per_pixel(dots, |p| chart.backend_coord(p));
        chart
            .draw_series(dots.into_iter().map(|p| Circle::new(p, 3, colour.filled())))
            .map_err(e)?
            .label(format!("{name} ({share:.0} %)"))
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, colour.filled()));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(e)?;
    Ok(())
}

/// `points` less those that land on the pixel of an earlier one (`pixel` maps a point to
/// the backend's pixel): dots of one colour and size drawn there again would change no
/// pixel, and a long experiment's plot would carry thousands of them.
fn one_per_pixel(
    points: impl Iterator<Item = (f64, f64)>,
    pixel: impl Fn(&(f64, f64)) -> (i32, i32),
) -> Vec<(f64, f64)> {
    let mut seen = std::collections::HashSet::new();
    points.filter(|p| seen.insert(pixel(p))).collect()
}

fn workers(root: &Area<'_>, title: &str, trials: &[Trial]) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<std::io::Error>| e.to_string();
    let timed: Vec<(&Trial, crate::trial::Timing)> = trials
        .iter()
        .filter_map(|t| t.timing.map(|at| (t, at)))
        .collect();
    if timed.is_empty() {
        return Err("run 0 is not a parallel run: its trials have no worker and times".into());
    }
    let slots = timed.iter().map(|(_, at)| at.worker).max().unwrap_or(0) + 1;
    let end = timed
        .iter()
        .map(|(_, at)| at.end)
        .fold(0.0, f64::max)
        .max(1e-9);
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..end * 1.02, -0.5..slots as f64 - 0.5)
        .map_err(e)?;
    let label = |y: &f64| {
        let i = y.round();
        if (y - i).abs() < 1e-6 && i >= 0.0 {
            format!("worker {i}")
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_desc("time on the run's clock (s); red: stopped early")
        .y_labels(slots * 2 + 1)
        .y_label_formatter(&label)
        .disable_y_mesh()
        .draw()
        .map_err(e)?;
    chart
        .draw_series(timed.iter().map(|(t, at)| {
            let row = at.worker as f64;
            let colour = if t.terminated {
                RED.mix(0.6)
            } else {
                BLUE.mix(0.6)
            };
            Rectangle::new(
                [(at.start, row - 0.35), (at.end, row + 0.35)],
                colour.filled(),
            )
        }))
        .map_err(e)?;
    Ok(())
}

/// The name at each whole coordinate 0, 1, … of an axis of `names` (none in between):
/// a label formatter for an axis drawn with `2 · names + 1` labels.
fn label_of(names: Vec<String>) -> impl Fn(&f64) -> String {
    move |v: &f64| {
        let i = v.round();
        let near = (v - i).abs() < 1e-6 && i >= 0.0;
        names
            .get(i as usize)
            .filter(|_| near)
            .cloned()
            .unwrap_or_default()
    }
}

/// The parameters' names from the experiment's key (its settings), else `p1`, `p2`, ….
pub fn param_names(key: &str, runs: &[Vec<Trial>]) -> Vec<String> {
    let count = runs
        .iter()
        .flatten()
        .map(|t| t.params.len())
        .max()
        .unwrap_or(0);
    let from_key = serde_json::from_str::<serde_json::Value>(key)
        .ok()
        .and_then(|k| serde_json::from_value::<Vec<String>>(k.get("space")?.clone()).ok())
        .filter(|names| names.len() == count);
    from_key.unwrap_or_else(|| (1..=count).map(|i| format!("p{i}")).collect())
}

/// The successful trials of every run.
fn successful(runs: &[Vec<Trial>]) -> Vec<&Trial> {
    runs.iter()
        .flatten()
        .filter(|t| t.value.is_finite() && t.failure.is_none())
        .collect()
}

/// Whether a parameter's values were drawn on a logarithmic scale, as far as they tell
/// (the store keeps no space): positive, spanning more than two decades, and with their
/// median in the lowest tenth of their range, as log-uniform values are (a uniform
/// parameter's median sits mid-range, though its smallest value of many falls far below
/// a hundredth of its largest).
fn log_spread(numbers: &[f64]) -> bool {
    let Some((lo, hi, true)) = value_range(numbers.iter().copied()) else {
        return false;
    };
    let mut sorted = numbers.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    (median - lo) < 0.1 * (hi - lo)
}

/// Each trial's position on parameter `p`'s axis, in [0, 1]: numbers by their range (of
/// their logarithms when they look log-uniform, as a learning rate does: [`log_spread`]),
/// other values by the rank of their text among the distinct ones.
fn axis_positions(trials: &[&Trial], p: usize) -> Vec<f64> {
    let values: Vec<&serde_json::Value> = trials.iter().map(|t| &t.params[p]).collect();
    if values.iter().all(|v| v.is_number()) {
        let mut numbers: Vec<f64> = values.iter().map(|v| v.as_f64().unwrap_or(0.0)).collect();
        if log_spread(&numbers) {
            numbers.iter_mut().for_each(|v| *v = v.log10());
        }
        let (lo, hi) = numbers
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let span = if hi > lo { hi - lo } else { 1.0 };
        return numbers.iter().map(|v| (v - lo) / span).collect();
    }
    let mut distinct: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    distinct.sort();
    distinct.dedup();
    let last = (distinct.len().max(2) - 1) as f64;
    values
        .iter()
        .map(|v| distinct.binary_search(&v.to_string()).unwrap_or(0) as f64 / last)
        .collect()
}

fn parallel(
    root: &Area<'_>,
    title: &str,
    runs: &[Vec<Trial>],
    names: &[String],
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<std::io::Error>| e.to_string();
    let mut trials = successful(runs);
    // Worst first, so that the best lines are drawn on top.
    trials.sort_by(|a, b| b.value.total_cmp(&a.value));
    let axes: Vec<Vec<f64>> = (0..names.len())
        .map(|p| axis_positions(&trials, p))
        .collect();
    let n = names.len().max(1) as f64;
    let y_desc = "position in the parameter's range (0 lowest)";
    let drawn = drawn_lines(trials.len());
    let x_desc = if drawn.len() < trials.len() {
        format!(
            "parameter ({} of {} trials drawn: the best {BEST_LINES}, the others sampled evenly by rank)",
            drawn.len(),
            trials.len()
        )
    } else {
        "parameter".to_string()
    };
    let descs = (x_desc.as_str(), y_desc);
    let mut chart = named_chart(root, title, names, (-0.25, n - 0.75), (0.0, 1.0), descs)?;
    let last = trials.len().max(2) - 1;
    for k in drawn {
        // k = 0 is the worst trial (red), the last the best (blue).
        let hue = 0.66 * k as f64 / last as f64;
        let line: Vec<(f64, f64)> = axes
            .iter()
            .enumerate()
            .map(|(p, a)| (p as f64, a[k]))
            .collect();
        chart
            .draw_series(LineSeries::new(
                line,
                HSLColor(hue, 0.9, 0.45).stroke_width(1),
            ))
            .map_err(e)?;
    }
    Ok(())
}

/// The most lines a parallel-coordinates plot draws, and how many of them are the best
/// trials': beyond that the lines hide each other and the SVG grows by ~100 kB per 1,000.
const MOST_LINES: usize = 2000;
const BEST_LINES: usize = 1000;

/// Which of `count` trials, ranked worst (0) to best, a parallel-coordinates plot draws,
/// worst first: all of them up to [`MOST_LINES`], else the best [`BEST_LINES`] and the
/// others' ranks evenly spaced (so the colours, which follow the rank, keep their spread).
fn drawn_lines(count: usize) -> Vec<usize> {
    if count <= MOST_LINES {
        return (0..count).collect();
    }
    let rest = count - BEST_LINES;
    let sampled = MOST_LINES - BEST_LINES;
    (0..sampled)
        .map(|i| i * rest / sampled)
        .chain(rest..count)
        .collect()
}

/// A chart over `x` and `y` whose x axis names `names` at 0, 1, … (one per parameter),
/// its axes described by `x_desc` and `y_desc`.
fn named_chart<'a, 'b>(
    root: &'a Area<'b>,
    title: &str,
    names: &[String],
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    (x_desc, y_desc): (&str, &str),
) -> Result<ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>, String> {
    let e = |e: DrawingAreaErrorKind<std::io::Error>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels(2 * names.len() + 1)
        .x_label_formatter(&label_of(names.to_vec()))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .disable_x_mesh()
        .draw()
        .map_err(e)?;
    Ok(chart)
}

/// The colour of the importance bars.
const BAR: RGBColor = RGBColor(70, 130, 180);

fn importance(
    root: &Area<'_>,
    title: &str,
    runs: &[Vec<Trial>],
    names: &[String],
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<std::io::Error>| e.to_string();
    let trials: Vec<&Trial> = runs.iter().flatten().collect();
    let columns: Vec<Vec<serde_json::Value>> = (0..names.len())
        .map(|p| trials.iter().map(|t| t.params[p].clone()).collect())
        .collect();
    let values: Vec<f64> = trials.iter().map(|t| t.value).collect();
    let effects = super::importance::main_effects(&columns, &values);
    let top = effects.iter().copied().fold(0.0, f64::max).max(0.05) * 1.1;
    let n = names.len().max(1) as f64;
    let y_desc = "share of the value ranks' variance explained alone (ε²)";
    let descs = ("parameter", y_desc);
    let mut chart = named_chart(root, title, names, (-0.5, n - 0.5), (0.0, top), descs)?;
    chart
        .draw_series(effects.iter().enumerate().map(|(p, &effect)| {
            let x = p as f64;
            Rectangle::new([(x - 0.35, 0.0), (x + 0.35, effect)], BAR.filled())
        }))
        .map_err(e)?;
    Ok(())
}

/// Points (1, v0), (2, v1), … of a per-evaluation series, finite values only.
fn points(series: &[f64]) -> Vec<(f64, f64)> {
    series
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(i, v)| ((i + 1) as f64, *v))
        .collect()
}

/// Draws `lines` (and a cross at each of `marks`) on linear x and linear or log y axes.
#[allow(clippy::too_many_arguments)]
fn draw_lines(
    root: &Area<'_>,
    title: &str,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    log: bool,
    (x_desc, y_desc): (&str, &str),
    lines: &[(Vec<(f64, f64)>, ShapeStyle)],
    marks: &[(f64, f64)],
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<std::io::Error>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(title, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70);
    let series = Series {
        descs: (x_desc, y_desc),
        lines,
        marks,
    };
    if log {
        let chart = builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale());
        series.draw(chart.map_err(e)?)
    } else {
        series.draw(builder.build_cartesian_2d(x0..x1, y0..y1).map_err(e)?)
    }
}

/// What [`draw_lines`] draws on a chart, whichever its value axis (linear or log).
struct Series<'s> {
    descs: (&'s str, &'s str),
    lines: &'s [(Vec<(f64, f64)>, ShapeStyle)],
    marks: &'s [(f64, f64)],
}

impl Series<'_> {
    fn draw<'b, Y>(
        &self,
        mut chart: ChartContext<'_, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y>>,
    ) -> Result<(), String>
    where
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let e = |e: DrawingAreaErrorKind<std::io::Error>| e.to_string();
        chart
            .configure_mesh()
            .x_desc(self.descs.0)
            .y_desc(self.descs.1)
            .draw()
            .map_err(e)?;
        for (line, style) in self.lines {
            chart
                .draw_series(LineSeries::new(line.clone(), *style))
                .map_err(e)?;
        }
        let cross = |p: &(f64, f64)| Cross::new(*p, 4, RED.stroke_width(2));
        chart.draw_series(self.marks.iter().map(cross)).map_err(e)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_so_far_skips_failures_and_the_median_is_per_evaluation() {
        let trial = |value| Trial {
            value,
            ..Trial::from_outcome(crate::objectives::Outcome::failed(
                vec![],
                0.0,
                None,
                String::new(),
            ))
        };
        let run = [trial(3.0), trial(f64::NAN), trial(1.0), trial(2.0)];
        assert_eq!(best_so_far(&run), vec![3.0, 3.0, 1.0, 1.0]);
        let m = median_curve(&[vec![3.0, 1.0], vec![5.0, 2.0, 0.5], vec![4.0, 4.0]]);
        assert_eq!(m, vec![4.0, 2.0]);
        assert!(value_range([0.01, 10.0].into_iter()).unwrap().2);
        assert!(!value_range([-5.0, 10.0].into_iter()).unwrap().2);
        let arm = |name: &str| Trial {
            arm: name.into(),
            ..trial(1.0)
        };
        let runs = vec![
            vec![arm("A/EI"), arm("B/EI"), arm("A/EI")],
            vec![arm("B/EI")],
        ];
        let by_arm = arm_trials(&runs);
        assert_eq!(by_arm[0], ("A/EI".to_string(), vec![(1, 0), (3, 0)]));
        assert_eq!(by_arm[1], ("B/EI".to_string(), vec![(2, 0), (1, 1)]));
    }

    #[test]
    fn a_log_axis_for_log_uniform_values_only() {
        // 10,000 values evenly spread: the smallest is 1e-4 of the largest.
        let uniform: Vec<f64> = (1..=10_000).map(|i| i as f64 / 10_000.0).collect();
        assert!(!log_spread(&uniform));
        // Evenly spread over four decades of logarithms, like a learning rate.
        let log_uniform: Vec<f64> = (0..=400)
            .map(|i| 10f64.powf(-5.0 + i as f64 / 100.0))
            .collect();
        assert!(log_spread(&log_uniform));
        assert!(!log_spread(&[-1.0, 0.001, 1.0]));
        assert!(!log_spread(&[0.5, 1.0, 2.0]));
    }

    #[test]
    fn dots_on_one_pixel_are_drawn_once() {
        let points = [(1.0, 0.0), (1.4, 0.0), (2.0, 0.0), (1.2, 1.0), (2.2, 0.1)];
        let pixel = |p: &(f64, f64)| (p.0.round() as i32, (p.1 * 2.0).round() as i32);
        let kept = one_per_pixel(points.into_iter(), pixel);
        assert_eq!(kept, vec![(1.0, 0.0), (2.0, 0.0), (1.2, 1.0)]);
    }

    #[test]
    fn parallel_coordinates_keep_the_best_lines_and_sample_the_rest_by_rank() {
        assert_eq!(drawn_lines(3), vec![0, 1, 2]);
        assert_eq!(drawn_lines(MOST_LINES).len(), MOST_LINES);
        let drawn = drawn_lines(10_000);
        assert_eq!(drawn.len(), MOST_LINES);
        // Worst first, each once, the worst and the best 1,000 among them.
        assert!(drawn.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(drawn[0], 0);
        assert_eq!(
            drawn[MOST_LINES - BEST_LINES..],
            (9_000..10_000).collect::<Vec<_>>()
        );
        // The others evenly spaced: every 9th of the 9,000 below the best.
        assert_eq!(drawn[1], 9);
        assert_eq!(drawn[MOST_LINES - BEST_LINES - 1], 8_991);
    }
}
