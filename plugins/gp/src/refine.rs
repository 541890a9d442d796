//! Continuous refinement of the acquisition's best candidates, for objectives that accept
//! points off the pool: L-BFGS on the smooth surrogate of the acquisition (log EI, log PI,
//! UCB; see `hpo_kit::acquisition::Acquisition::smooth`) inside the unit box.
//!
//! The box is removed by the smooth reparametrization x = (1 − cos πz)/2, so the
//! unconstrained solver can be used and every iterate is feasible.

use std::f64::consts::PI;

use hpo_kit::acquisition::Acquisition;

use crate::model::Gp;
use crate::optimize::minimize;

/// A refined point and its surrogate value (higher is better).
#[derive(Debug, Clone)]
pub struct Refined {
    /// The point, in the unit box.
    pub x: Vec<f64>,
    /// The acquisition surrogate at `x`.
    pub value: f64,
}

/// The acquisition surrogate at `x` and its gradient in x.
pub fn surrogate_with_gradient(
    gp: &Gp,
    acquisition: &Acquisition,
    best: f64,
    x: &[f64],
) -> (f64, Vec<f64>) {
    let p = gp.predict_with_gradient(x);
    let sd = p.variance.sqrt();
    let (value, d_mean, d_sd) = acquisition.smooth(p.mean, sd, best);
    let d_sd_d_var = if sd > 1e-10 { 0.5 / sd } else { 0.0 };
    let gradient = p
        .mean_gradient
        .iter()
        .zip(&p.variance_gradient)
        .map(|(gm, gv)| d_mean * gm + d_sd * d_sd_d_var * gv)
        .collect();
    (value, gradient)
}

/// Refines `start` with at most `max_iters` L-BFGS iterations; `None` if the surrogate is
/// undefined there.
pub fn refine(
    gp: &Gp,
    acquisition: &Acquisition,
    best: f64,
    start: &[f64],
    max_iters: u64,
) -> Option<Refined> {
    let to_x = |z: &[f64]| -> Vec<f64> { z.iter().map(|z| 0.5 - 0.5 * (PI * z).cos()).collect() };
    let z0: Vec<f64> = start
        .iter()
        .map(|x| (1.0 - 2.0 * x.clamp(0.0, 1.0)).acos() / PI)
        .collect();
    let objective = |z: &[f64]| {
        let x = to_x(z);
        let (value, grad_x) = surrogate_with_gradient(gp, acquisition, best, &x);
        let grad_z = grad_x
            .iter()
            .zip(z)
            .map(|(g, z)| -g * 0.5 * PI * (PI * z).sin())
            .collect();
        Some((-value, grad_z))
    };
    let m = minimize(objective, z0, max_iters)?;
    Some(Refined {
        x: to_x(&m.x),
        value: -m.value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hyper::{Data, Hyper, Noise};

    #[test]
    fn surrogate_gradient_matches_finite_differences_and_refinement_improves() {
        let x: Vec<f64> = (0..10)
            .flat_map(|i| [i as f64 / 9.0, ((i * 4) % 10) as f64 / 9.0])
            .collect();
        let y: Vec<f64> = x
            .chunks(2)
            .map(|p| (p[0] - 0.37).powi(2) + (p[1] - 0.61).powi(2))
            .collect();
        let h = Hyper {
            log_lengthscales: vec![-0.7, -0.7],
            log_signal: 0.0,
            log_noise: -10.0,
            mean: 0.0,
        };
        let gp = Gp::new(
            Data {
                x: &x,
                y: &y,
                dims: 2,
            },
            h,
            Noise::Fitted,
        )
        .unwrap();
        let best = y.iter().copied().fold(f64::INFINITY, f64::min);
        for acq in [
            Acquisition::Ei { xi: 0.0 },
            Acquisition::Pi { xi: 0.0 },
            Acquisition::Ucb { kappa: 1.0 },
        ] {
            let p = [0.3, 0.5];
            let (v, g) = surrogate_with_gradient(&gp, &acq, best, &p);
            for j in 0..2 {
                let e = 1e-6;
                let (mut up, mut down) = (p, p);
                up[j] += e;
                down[j] -= e;
                let fd = (surrogate_with_gradient(&gp, &acq, best, &up).0
                    - surrogate_with_gradient(&gp, &acq, best, &down).0)
                    / (2.0 * e);
                assert!(
                    (g[j] - fd).abs() < 1e-4 * (1.0 + fd.abs()),
                    "{acq:?} {j}: {} vs {fd}",
                    g[j]
                );
            }
            let r = refine(&gp, &acq, best, &p, 50).unwrap();
            assert!(r.value >= v, "{acq:?}: refinement lost ground");
            assert!(r.x.iter().all(|x| (0.0..=1.0).contains(x)));
        }
    }
}
