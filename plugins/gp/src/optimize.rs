//! Local minimization with L-BFGS (argmin's solver with a Moré–Thuente line search), used
//! for the hyperparameters and for refining the acquisition off the pool.
//!
//! The objective returns its value and gradient together (they share the expensive part),
//! or `None` where it is undefined; the best point ever evaluated is returned whatever the
//! solver's outcome, so a failed line search never loses progress.

use std::cell::RefCell;

use argmin::core::{CostFunction, Error, Executor, Gradient};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

/// L-BFGS memory.
const MEMORY: usize = 7;

/// The best point found and its value.
#[derive(Debug, Clone)]
pub struct Minimum {
    /// Argument.
    pub x: Vec<f64>,
    /// Value.
    pub value: f64,
    /// Objective evaluations spent.
    pub evaluations: usize,
}

/// The last point evaluated, with its value and gradient (the solver asks for the cost and
/// the gradient of one point in two calls).
struct Evaluated {
    x: Vec<f64>,
    value: f64,
    gradient: Vec<f64>,
}

struct Problem<F> {
    f: F,
    last: RefCell<Option<Evaluated>>,
    best: RefCell<Option<(Vec<f64>, f64)>>,
    evaluations: RefCell<usize>,
}

impl<F: Fn(&[f64]) -> Option<(f64, Vec<f64>)>> Problem<F> {
    fn eval(&self, x: &[f64]) -> Result<(f64, Vec<f64>), Error> {
        if let Some(last) = self.last.borrow().as_ref()
            && last.x.as_slice() == x
        {
            return Ok((last.value, last.gradient.clone()));
        }
        *self.evaluations.borrow_mut() += 1;
        let (value, grad) = (self.f)(x)
            .filter(|(v, g)| v.is_finite() && g.iter().all(|g| g.is_finite()))
            .ok_or_else(|| Error::msg("objective undefined here"))?;
        if self.best.borrow().as_ref().is_none_or(|(_, b)| value < *b) {
            *self.best.borrow_mut() = Some((x.to_vec(), value));
        }
        *self.last.borrow_mut() = Some(Evaluated {
            x: x.to_vec(),
            value,
            gradient: grad.clone(),
        });
        Ok((value, grad))
    }
}

/// The solver's handle on a [`Problem`] that stays readable after the run.
struct Borrowed<'a, F>(&'a Problem<F>);

impl<F: Fn(&[f64]) -> Option<(f64, Vec<f64>)>> CostFunction for Borrowed<'_, F> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, x: &Self::Param) -> Result<Self::Output, Error> {
        self.0.eval(x).map(|(v, _)| v)
    }
}

impl<F: Fn(&[f64]) -> Option<(f64, Vec<f64>)>> Gradient for Borrowed<'_, F> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, x: &Self::Param) -> Result<Self::Gradient, Error> {
        self.0.eval(x).map(|(_, g)| g)
    }
}

/// Minimizes `f` from `start` with at most `max_iters` L-BFGS iterations; `None` when `f`
/// is undefined at the start.
pub fn minimize<F>(f: F, start: Vec<f64>, max_iters: u64) -> Option<Minimum>
where
    F: Fn(&[f64]) -> Option<(f64, Vec<f64>)>,
{
    let problem = Problem {
        f,
        last: RefCell::new(None),
        best: RefCell::new(None),
        evaluations: RefCell::new(0),
    };
    problem.eval(&start).ok()?;
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), MEMORY)
        .with_tolerance_grad(1e-6)
        .and_then(|s| s.with_tolerance_cost(1e-7));
    if let Ok(solver) = solver {
        // The outcome is read from `best`: a line search that fails still leaves its
        // evaluations there.
        let _ = Executor::new(Borrowed(&problem), solver)
            .configure(|state| state.param(start).max_iters(max_iters))
            .timer(false)
            .run();
    }
    let evaluations = *problem.evaluations.borrow();
    problem.best.into_inner().map(|(x, value)| Minimum {
        x,
        value,
        evaluations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_rosenbrock() {
        let rosen = |x: &[f64]| {
            let (a, b) = (x[0], x[1]);
            Some((
                (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2),
                vec![
                    -2.0 * (1.0 - a) - 400.0 * a * (b - a * a),
                    200.0 * (b - a * a),
                ],
            ))
        };
        let m = minimize(rosen, vec![-1.2, 1.0], 200).unwrap();
        assert!(
            (m.x[0] - 1.0).abs() < 1e-4 && (m.x[1] - 1.0).abs() < 1e-4,
            "{m:?}"
        );
    }

    #[test]
    fn undefined_start_is_none_and_undefined_regions_are_avoided() {
        assert!(minimize(|_| None, vec![0.0], 10).is_none());
        // Defined only for x > 0.5: the first full step from 3 lands outside, and the best
        // point evaluated so far is still returned.
        let f = |x: &[f64]| (x[0] > 0.5).then(|| ((x[0] - 1.0).powi(2), vec![2.0 * (x[0] - 1.0)]));
        let m = minimize(f, vec![3.0], 50).unwrap();
        assert!(m.x[0] > 0.5 && m.value <= 4.0, "{m:?}");
    }
}
