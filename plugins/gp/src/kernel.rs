//! The Matérn 5/2 kernel with automatic relevance determination (one lengthscale per
//! encoded column):
//!
//! k(x, x') = σ²·(1 + √5·r + 5r²/3)·exp(−√5·r),  r² = Σⱼ ((xⱼ − x'ⱼ)/ℓⱼ)².
//!
//! Every derivative is written in a form without r in a denominator, so it is exact at r = 0.

use crate::lanes::{sub_scaled_differences, weighted_sq_distance};

/// √5.
const SQRT5: f64 = 2.236_067_977_499_79;

/// The kernel's shape: lengthscales and signal variance.
#[derive(Debug, Clone, PartialEq)]
pub struct Matern52 {
    /// Inverse squared lengthscales 1/ℓⱼ², one per encoded column.
    pub inv_sq_lengthscales: Vec<f64>,
    /// Signal variance σ².
    pub signal: f64,
}

impl Matern52 {
    /// A kernel from log lengthscales and log signal variance.
    pub fn from_logs(log_lengthscales: &[f64], log_signal: f64) -> Self {
        Matern52 {
            inv_sq_lengthscales: log_lengthscales.iter().map(|l| (-2.0 * l).exp()).collect(),
            signal: log_signal.exp(),
        }
    }

    /// The point with each column divided by its lengthscale: r² between two scaled points
    /// is their plain squared distance.
    pub fn scaled(&self, x: &[f64]) -> Vec<f64> {
        x.iter()
            .zip(&self.inv_sq_lengthscales)
            .map(|(v, w)| v * w.sqrt())
            .collect()
    }

    /// The scaled squared distance r².
    pub fn sq_distance(&self, a: &[f64], b: &[f64]) -> f64 {
        weighted_sq_distance(a, b, &self.inv_sq_lengthscales)
    }

    /// k(a, b).
    pub fn value(&self, a: &[f64], b: &[f64]) -> f64 {
        self.of_sq_distance(self.sq_distance(a, b))
    }

    /// k as a function of r².
    pub fn of_sq_distance(&self, r2: f64) -> f64 {
        let r = r2.max(0.0).sqrt();
        self.signal * (1.0 + SQRT5 * r + 5.0 / 3.0 * r2) * (-SQRT5 * r).exp()
    }

    /// k at r² and its slope −2·∂k/∂(r²) = σ²·(5/3)·(1 + √5·r)·exp(−√5·r) (the factor shared
    /// by the derivatives with respect to inputs and lengthscales), sharing one square root
    /// and one exponential.
    pub fn value_and_slope(&self, r2: f64) -> (f64, f64) {
        let r = r2.max(0.0).sqrt();
        let e = self.signal * (-SQRT5 * r).exp();
        (
            e * (1.0 + SQRT5 * r + 5.0 / 3.0 * r2),
            e * 5.0 / 3.0 * (1.0 + SQRT5 * r),
        )
    }

    /// ∂k(a, b)/∂a = −slope·(a − b)/ℓ², added to two outputs with their own weights (the
    /// GP's mean and variance gradients share every difference); `slope` is the second
    /// value of [`Matern52::value_and_slope`] at r²(a, b).
    pub fn add_gradients_in_a(
        &self,
        slope: f64,
        a: &[f64],
        b: &[f64],
        weights: [f64; 2],
        out: [&mut [f64]; 2],
    ) {
        sub_scaled_differences(
            out,
            [weights[0] * slope, weights[1] * slope],
            a,
            b,
            &self.inv_sq_lengthscales,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lanes::sq_euclidean;

    #[test]
    fn matches_the_closed_form_and_its_derivatives() {
        let k = Matern52::from_logs(&[0.3f64.ln(), 2.0f64.ln()], 1.5f64.ln());
        let (a, b) = ([0.2, 0.9], [0.5, 0.1]);
        let r = ((0.3f64 / 0.3).powi(2) + (0.8f64 / 2.0).powi(2)).sqrt();
        let expected =
            1.5 * (1.0 + 5f64.sqrt() * r + 5.0 * r * r / 3.0) * (-(5f64.sqrt()) * r).exp();
        assert!((k.value(&a, &b) - expected).abs() < 1e-14);
        assert!((k.value(&a, &a) - 1.5).abs() < 1e-15);
        let r2 = sq_euclidean(&k.scaled(&a), &k.scaled(&b));
        assert!((k.of_sq_distance(r2) - expected).abs() < 1e-14);
        // Gradient in a against central differences.
        let (mut g, mut g_twice) = ([0.0; 2], [0.0; 2]);
        let (_, slope) = k.value_and_slope(k.sq_distance(&a, &b));
        k.add_gradients_in_a(slope, &a, &b, [1.0, 2.0], [&mut g, &mut g_twice]);
        assert_eq!(g_twice, [2.0 * g[0], 2.0 * g[1]]);
        for j in 0..2 {
            let h = 1e-6;
            let (mut up, mut down) = (a, a);
            up[j] += h;
            down[j] -= h;
            let fd = (k.value(&up, &b) - k.value(&down, &b)) / (2.0 * h);
            assert!((g[j] - fd).abs() < 1e-8, "{j}: {} vs {fd}", g[j]);
        }
        // Zero gradient at coincident points.
        let (mut g0, mut g1) = ([0.0; 2], [0.0; 2]);
        let (_, slope) = k.value_and_slope(0.0);
        k.add_gradients_in_a(slope, &a, &a, [1.0, 1.0], [&mut g0, &mut g1]);
        assert_eq!(g0, [0.0, 0.0]);
    }
}
