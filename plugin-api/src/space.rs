//! The search space as arms see it: the parameters in encoding order and how each one is
//! encoded, so a model can treat one-hot groups, integers and log scales correctly.
//!
//! The host sends it as JSON in [`crate::types::ArmConfig::space_json`].

use serde::{Deserialize, Serialize};

/// How a parameter is encoded into the unit hypercube.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// A real number, one column in `[0, 1]` (after the log transform when `log`).
    Continuous,
    /// An integer with inclusive bounds, one column in `[0, 1]`.
    Integer,
    /// Unordered options, one-hot over `options.len()` columns.
    Categorical,
    /// Ordered options, one column `index / (K - 1)`.
    Preordered,
}

/// One parameter of the space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// Parameter name.
    pub name: String,
    /// Encoding kind.
    pub kind: ParamKind,
    /// First encoded column of this parameter.
    pub offset: u32,
    /// Number of encoded columns (1, or the option count for categoricals).
    pub width: u32,
    /// Whether the parameter is encoded on a log scale.
    #[serde(default)]
    pub log: bool,
    /// Lower bound of numeric parameters (raw units).
    #[serde(default)]
    pub lower: f64,
    /// Upper bound of numeric parameters (raw units).
    #[serde(default)]
    pub upper: f64,
    /// Option labels of categorical and preordered parameters.
    #[serde(default)]
    pub options: Vec<String>,
}

/// The whole space, in encoding order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SpaceSpec {
    /// Parameters in encoding order.
    pub params: Vec<ParamSpec>,
}

impl SpaceSpec {
    /// `dims` continuous parameters `x0`, `x1`, … on [0, 1], linear: the unit cube (tests,
    /// benchmarks and test functions of plugins use it).
    pub fn unit_cube(dims: usize) -> Self {
        SpaceSpec {
            params: (0..dims)
                .map(|j| ParamSpec {
                    name: format!("x{j}"),
                    kind: ParamKind::Continuous,
                    offset: j as u32,
                    width: 1,
                    log: false,
                    lower: 0.0,
                    upper: 1.0,
                    options: vec![],
                })
                .collect(),
        }
    }

    /// Total number of encoded columns.
    pub fn encoded_dims(&self) -> usize {
        self.params.iter().map(|p| p.width as usize).sum()
    }

    /// Parses the JSON the host sends; the error says what is wrong.
    pub fn from_json(json: &str) -> Result<Self, String> {
        serde_json::from_str(json).map_err(|e| format!("space description: {e}"))
    }
}
