//! The standard normal distribution.

/// 1/√(2π).
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// Density φ(z).
pub fn pdf(z: f64) -> f64 {
    INV_SQRT_2PI * (-0.5 * z * z).exp()
}

/// Distribution function Φ(z) = erfc(−z/√2)/2 (accurate in both tails).
pub fn cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_tabulated_values() {
        assert!((pdf(0.0) - 0.398_942_280_401_432_7).abs() < 1e-16);
        assert!((pdf(-0.5) - 0.352_065_326_764_299_5).abs() < 1e-15);
        assert!((cdf(0.0) - 0.5).abs() < 1e-16);
        assert!((cdf(-0.5) - 0.308_537_538_725_986_9).abs() < 1e-15);
        assert!((cdf(1.96) - 0.975_002_104_851_780_1).abs() < 1e-15);
        // The lower tail keeps its relative precision.
        assert!((cdf(-10.0) / 7.619_853_024_160_527e-24 - 1.0).abs() < 1e-12);
    }
}
