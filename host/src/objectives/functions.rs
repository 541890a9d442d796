//! Built-in test functions (`fn:NAME`), with their domains and known optima, for checking
//! optimizers against known results. Values are minimized.
//!
//! Fixed-dimension functions: `branin`, `six-hump-camel`, `hartmann3`, `hartmann6`.
//! Any dimension (`NAME` or `NAME-D`, e.g. `levy-4`; default d = 2): `rosenbrock`,
//! `ackley`, `levy`, `styblinski-tang`, `griewank`.
//! Constants are the standard ones (Surjanovic & Bingham's Virtual Library of Simulation
//! Experiments, and Dixon & Szegő for Hartmann).

/// A test function with its box domain and known minimum.
#[derive(Debug, Clone, PartialEq)]
pub struct TestFunction {
    /// Canonical name, with the dimension for the any-dimension ones (`levy-4`).
    pub name: String,
    /// Which function.
    kind: Kind,
    /// Lower and upper bound of each coordinate.
    pub bounds: Vec<(f64, f64)>,
    /// The global minimum's value.
    pub optimum: f64,
    /// One global minimizer.
    pub argmin: Vec<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Branin,
    SixHumpCamel,
    Hartmann3,
    Hartmann6,
    Rosenbrock,
    Ackley,
    Levy,
    StyblinskiTang,
    Griewank,
}

/// Names `fn:` accepts (any-dimension ones take a `-D` suffix).
pub const NAMES: [&str; 9] = [
    "branin",
    "six-hump-camel",
    "hartmann3",
    "hartmann6",
    "rosenbrock",
    "ackley",
    "levy",
    "styblinski-tang",
    "griewank",
];

/// The minimum of Styblinski-Tang per dimension, at x = -2.903534...
const STYBLINSKI_TANG_MIN: f64 = -39.166_165_703_771_41;
const STYBLINSKI_TANG_ARGMIN: f64 = -2.903_534_027_771_178;

impl TestFunction {
    /// Looks a function up by name (`branin`, `levy-4`, ...); the error lists the names.
    pub fn by_name(name: &str) -> Result<Self, String> {
        let unknown = || {
            format!(
                "unknown test function '{name}' (known: {}; any-dimension ones take -D, e.g. levy-4)",
                NAMES.join(", ")
            )
        };
        let (base, dims) = match name.rsplit_once('-') {
            Some((b, d)) if d.chars().all(|c| c.is_ascii_digit()) && !d.is_empty() => {
                let d: usize = d.parse().map_err(|_| unknown())?;
                (b, Some(d))
            }
            _ => (name, None),
        };
        let any_d = |kind: Kind, lo: f64, hi: f64, optimum_per_dim: f64, argmin: f64| {
            let d = dims.unwrap_or(2);
            if d == 0 || d > 1000 {
                return Err(format!(
                    "test function '{name}': dimension must be 1..=1000"
                ));
            }
            Ok(TestFunction {
                name: format!("{base}-{d}"),
                kind,
                bounds: vec![(lo, hi); d],
                optimum: optimum_per_dim * d as f64,
                argmin: vec![argmin; d],
            })
        };
        let fixed = |kind: Kind, bounds: Vec<(f64, f64)>, optimum: f64, argmin: Vec<f64>| {
            if dims.is_some() {
                return Err(format!("test function '{base}' has a fixed dimension"));
            }
            Ok(TestFunction {
                name: base.to_string(),
                kind,
                bounds,
                optimum,
                argmin,
            })
        };
        match base {
            "branin" => fixed(
                Kind::Branin,
                vec![(-5.0, 10.0), (0.0, 15.0)],
                0.397_887_357_729_738_1,
                vec![std::f64::consts::PI, 2.275],
            ),
            "six-hump-camel" => fixed(
                Kind::SixHumpCamel,
                vec![(-3.0, 3.0), (-2.0, 2.0)],
                -1.031_628_453_489_877,
                vec![0.089_842_013_683_013_31, -0.712_656_403_270_413_5],
            ),
            "hartmann3" => fixed(
                Kind::Hartmann3,
                vec![(0.0, 1.0); 3],
                // The published table (P₄₁ = 381·10⁻⁴), its minimum located by Newton's
                // method on it: the published −3.86278 at (0.114614, 0.555649, 0.852547).
                -3.862_779_787_332_662,
                vec![
                    0.114_588_875_425_951,
                    0.555_648_894_622_508,
                    0.852_546_984_686_067,
                ],
            ),
            "hartmann6" => fixed(
                Kind::Hartmann6,
                vec![(0.0, 1.0); 6],
                -3.322_368_011_415_51,
                vec![
                    0.201_69, 0.150_011, 0.476_874, 0.275_332, 0.311_652, 0.657_3,
                ],
            ),
            "rosenbrock" => any_d(Kind::Rosenbrock, -5.0, 10.0, 0.0, 1.0),
            "ackley" => any_d(Kind::Ackley, -32.768, 32.768, 0.0, 0.0),
            "levy" => any_d(Kind::Levy, -10.0, 10.0, 0.0, 1.0),
            "styblinski-tang" => any_d(
                Kind::StyblinskiTang,
                -5.0,
                5.0,
                STYBLINSKI_TANG_MIN,
                STYBLINSKI_TANG_ARGMIN,
            ),
            "griewank" => any_d(Kind::Griewank, -600.0, 600.0, 0.0, 0.0),
            _ => Err(unknown()),
        }
    }

    /// Number of coordinates.
    pub fn dims(&self) -> usize {
        self.bounds.len()
    }

    /// The value at `x` (raw coordinates, inside the bounds).
    pub fn value(&self, x: &[f64]) -> f64 {
        assert_eq!(x.len(), self.dims(), "{}: wrong dimension", self.name);
        match self.kind {
            Kind::Branin => branin(x),
            Kind::SixHumpCamel => six_hump_camel(x),
            Kind::Hartmann3 => hartmann(x, &HARTMANN3_A, &HARTMANN3_P),
            Kind::Hartmann6 => hartmann(x, &HARTMANN6_A, &HARTMANN6_P),
            Kind::Rosenbrock => x
                .windows(2)
                .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
                .sum(),
            Kind::Ackley => ackley(x),
            Kind::Levy => levy(x),
            Kind::StyblinskiTang => x
                .iter()
                .map(|v| (v.powi(4) - 16.0 * v * v + 5.0 * v) / 2.0)
                .sum(),
            Kind::Griewank => {
                let sum: f64 = x.iter().map(|v| v * v / 4000.0).sum();
                let prod: f64 = x
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (v / ((i + 1) as f64).sqrt()).cos())
                    .product();
                sum - prod + 1.0
            }
        }
    }
}

fn branin(x: &[f64]) -> f64 {
    use std::f64::consts::PI;
    let (a, b, c) = (1.0, 5.1 / (4.0 * PI * PI), 5.0 / PI);
    let (r, s, t) = (6.0, 10.0, 1.0 / (8.0 * PI));
    a * (x[1] - b * x[0] * x[0] + c * x[0] - r).powi(2) + s * (1.0 - t) * x[0].cos() + s
}

fn six_hump_camel(x: &[f64]) -> f64 {
    let (a, b) = (x[0], x[1]);
    (4.0 - 2.1 * a * a + a.powi(4) / 3.0) * a * a + a * b + (-4.0 + 4.0 * b * b) * b * b
}

const HARTMANN_ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
const HARTMANN3_A: [[f64; 3]; 4] = [
    [3.0, 10.0, 30.0],
    [0.1, 10.0, 35.0],
    [3.0, 10.0, 30.0],
    [0.1, 10.0, 35.0],
];
const HARTMANN3_P: [[f64; 3]; 4] = [
    [0.3689, 0.1170, 0.2673],
    [0.4699, 0.4387, 0.7470],
    [0.1091, 0.8732, 0.5547],
    [0.0381, 0.5743, 0.8828],
];
const HARTMANN6_A: [[f64; 6]; 4] = [
    [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
    [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
    [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
    [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
];
const HARTMANN6_P: [[f64; 6]; 4] = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
];

fn hartmann<const D: usize>(x: &[f64], a: &[[f64; D]; 4], p: &[[f64; D]; 4]) -> f64 {
    -(0..4)
        .map(|i| {
            let inner: f64 = (0..D).map(|j| a[i][j] * (x[j] - p[i][j]).powi(2)).sum();
            HARTMANN_ALPHA[i] * (-inner).exp()
        })
        .sum::<f64>()
}

fn ackley(x: &[f64]) -> f64 {
    use std::f64::consts::{E, PI};
    let d = x.len() as f64;
    let sq: f64 = x.iter().map(|v| v * v).sum::<f64>() / d;
    let cos: f64 = x.iter().map(|v| (2.0 * PI * v).cos()).sum::<f64>() / d;
    -20.0 * (-0.2 * sq.sqrt()).exp() - cos.exp() + 20.0 + E
}

fn levy(x: &[f64]) -> f64 {
    use std::f64::consts::PI;
    let w: Vec<f64> = x.iter().map(|v| 1.0 + (v - 1.0) / 4.0).collect();
    let d = w.len();
    let first = (PI * w[0]).sin().powi(2);
    let middle: f64 = w[..d - 1]
        .iter()
        .map(|wi| (wi - 1.0).powi(2) * (1.0 + 10.0 * (PI * wi + 1.0).sin().powi(2)))
        .sum();
    let last = (w[d - 1] - 1.0).powi(2) * (1.0 + (2.0 * PI * w[d - 1]).sin().powi(2));
    first + middle + last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_optimum_is_reached_at_its_known_argmin() {
        for name in [
            "branin",
            "six-hump-camel",
            "hartmann3",
            "hartmann6",
            "rosenbrock-5",
            "ackley-3",
            "levy-4",
            "styblinski-tang-3",
            "griewank-2",
        ] {
            let f = TestFunction::by_name(name).unwrap();
            // Published minimizers carry six digits for Hartmann: the value is then within
            // 1e-8 of the minimum (the gradient vanishes there), and never below it.
            let at = f.value(&f.argmin);
            assert!(
                (at - f.optimum).abs() < 1e-8 && at >= f.optimum - 1e-12,
                "{name}: f(argmin) = {at}, optimum {}",
                f.optimum
            );
            for (x, (lo, hi)) in f.argmin.iter().zip(&f.bounds) {
                assert!(lo <= x && x <= hi, "{name}: argmin outside the domain");
            }
        }
    }

    #[test]
    fn the_optimum_is_a_minimum_on_a_grid() {
        for name in [
            "branin",
            "six-hump-camel",
            "levy-2",
            "styblinski-tang-2",
            "ackley-2",
        ] {
            let f = TestFunction::by_name(name).unwrap();
            let (lo0, hi0) = f.bounds[0];
            let (lo1, hi1) = f.bounds[1];
            for i in 0..=60 {
                for j in 0..=60 {
                    let x = [
                        lo0 + (hi0 - lo0) * i as f64 / 60.0,
                        lo1 + (hi1 - lo1) * j as f64 / 60.0,
                    ];
                    assert!(f.value(&x) >= f.optimum - 1e-9, "{name} at {x:?}");
                }
            }
        }
    }

    #[test]
    fn hartmann_functions_use_the_published_tables() {
        // Surjanovic & Bingham's tables: P = 10⁻⁴ × integers (Hartmann-3's last row starts
        // with 381); the published minimizers reach the published minima to their digits.
        for p in HARTMANN3_P
            .iter()
            .flatten()
            .chain(HARTMANN6_P.iter().flatten())
        {
            assert!((p * 1e4 - (p * 1e4).round()).abs() < 1e-9, "{p}");
        }
        assert_eq!(HARTMANN3_P[3][0], 0.0381);
        let h3 = TestFunction::by_name("hartmann3").unwrap();
        assert!((h3.value(&[0.114614, 0.555649, 0.852547]) + 3.86278).abs() < 5e-6);
        let h6 = TestFunction::by_name("hartmann6").unwrap();
        let published = [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573];
        assert!((h6.value(&published) + 3.32237).abs() < 5e-6);
        // The stated optima are local minima: no neighbour is lower.
        for f in [h3, h6] {
            for d in 0..f.dims() {
                for step in [-1e-4, 1e-4] {
                    let mut x = f.argmin.clone();
                    x[d] += step;
                    assert!(f.value(&x) > f.optimum, "{} moved along {d}", f.name);
                }
            }
        }
    }

    #[test]
    fn branin_has_three_minimizers() {
        let f = TestFunction::by_name("branin").unwrap();
        for x in [[-std::f64::consts::PI, 12.275], [9.42478, 2.475]] {
            assert!((f.value(&x) - f.optimum).abs() < 1e-5);
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(
            TestFunction::by_name("nope")
                .unwrap_err()
                .contains("known: branin")
        );
        assert!(TestFunction::by_name("branin-3").is_err());
        assert_eq!(TestFunction::by_name("levy").unwrap().dims(), 2);
        assert_eq!(TestFunction::by_name("levy-4").unwrap().name, "levy-4");
    }
}
