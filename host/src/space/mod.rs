//! Search spaces from `hp_conf/*.json` (the seed's schema plus `"log": true`), and their
//! encoding for models.
//!
//! Kinds: continuous float, discrete int (inclusive bounds), categorical (unordered
//! options), preordered (ordered options). Log scale via `"log": true`, or the seed's
//! `power_of` (the range then holds exponents). Encoding: a numeric parameter becomes one
//! column in `[0, 1]` *after* the log transform; a categorical one one-hot column per option;
//! a preordered one `index / (K - 1)`. [`Space::decode`] is the exact inverse of
//! [`Space::encode`] on valid values.
//!
//! Parameter order: `param_order` when given, else the order of the file (the seed sorted
//! names alphabetically when `param_order` was missing; file order is what a reader sees).

pub mod pool;

use std::path::Path;

use hpo_plugin_api::space::{ParamKind, ParamSpec, SpaceSpec};
use serde::Deserialize;
use serde_json::{Map, Value};

/// An error in a space file, naming the file, the parameter or field, and the reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {field}: {reason}")]
pub struct SpaceError {
    /// The file (or a label for embedded spaces).
    pub file: String,
    /// The offending field, e.g. `hyperparams.alpha.range`.
    pub field: String,
    /// What is wrong and what was expected.
    pub reason: String,
}

/// The declared type of a parameter's values (`type`: `int`, `float`, `str` or the seed's
/// `unicode`, `bool`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// Integers.
    Int,
    /// Floating-point numbers.
    Float,
    /// Strings.
    #[serde(alias = "unicode")]
    Str,
    /// Booleans.
    Bool,
}

/// The domain of one parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Domain {
    /// A real interval; `log` means log-uniform.
    Continuous {
        /// Lower bound (raw units).
        lower: f64,
        /// Upper bound (raw units).
        upper: f64,
        /// Log scale.
        log: bool,
    },
    /// An inclusive integer range; `log` means log scale.
    Integer {
        /// Lower bound.
        lower: i64,
        /// Upper bound (inclusive).
        upper: i64,
        /// Log scale.
        log: bool,
    },
    /// Unordered options.
    Categorical(Vec<Value>),
    /// Ordered options.
    Preordered(Vec<Value>),
}

/// One parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// The type of its values.
    pub value_type: ValueType,
    /// Its domain.
    pub domain: Domain,
    /// Its default value, if the file gives one.
    pub default: Option<Value>,
}

impl Param {
    /// Number of encoded columns.
    pub fn width(&self) -> usize {
        match &self.domain {
            Domain::Categorical(options) => options.len(),
            _ => 1,
        }
    }
}

/// A parsed search space.
#[derive(Debug, Clone, PartialEq)]
pub struct Space {
    /// The space's name (the file stem).
    pub name: String,
    /// Parameters in encoding order.
    pub params: Vec<Param>,
    /// The free-form `config` section.
    pub config: Map<String, Value>,
}

const SPACE_KEYS: [&str; 7] = [
    "hyperparams",
    "param_order",
    "config",
    "dataset",
    "model",
    "metric",
    "num_epoch",
];

impl Space {
    /// Reads and parses a space file.
    pub fn from_file(path: &Path) -> Result<Self, SpaceError> {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SpaceError {
            file: label.clone(),
            field: "(file)".into(),
            reason: e.to_string(),
        })?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("space")
            .to_string();
        Self::parse(&label, &name, &text)
    }

    /// Parses space JSON; `file` labels errors, `name` names the space.
    pub fn parse(file: &str, name: &str, text: &str) -> Result<Self, SpaceError> {
        let err = |field: &str, reason: String| SpaceError {
            file: file.to_string(),
            field: field.to_string(),
            reason,
        };
        let at = |e: &serde_json::Error| format!("line {} column {}", e.line(), e.column());
        crate::config::strict_json::check_no_duplicate_keys(text)
            .map_err(|e| err(&at(&e), e.to_string()))?;
        let root: Value =
            serde_json::from_str(text).map_err(|e| err(&at(&e), format!("not valid JSON: {e}")))?;
        let root = root
            .as_object()
            .ok_or_else(|| err("(top level)", "expected a JSON object".into()))?;
        for key in root.keys() {
            if !SPACE_KEYS.contains(&key.as_str()) {
                return Err(err(
                    key,
                    format!("unknown key (expected one of {})", SPACE_KEYS.join(", ")),
                ));
            }
        }
        let hyperparams = root
            .get("hyperparams")
            .ok_or_else(|| err("hyperparams", "missing".into()))?
            .as_object()
            .ok_or_else(|| err("hyperparams", "expected an object of parameters".into()))?;
        if hyperparams.is_empty() {
            return Err(err("hyperparams", "no parameters".into()));
        }
        let order: Vec<String> = match root.get("param_order") {
            None | Some(Value::Null) => hyperparams.keys().cloned().collect(),
            Some(Value::Array(names)) => {
                let mut order = Vec::new();
                for (i, n) in names.iter().enumerate() {
                    let n = n.as_str().ok_or_else(|| {
                        err(
                            &format!("param_order[{i}]"),
                            "expected a parameter name".into(),
                        )
                    })?;
                    if !hyperparams.contains_key(n) {
                        return Err(err(
                            &format!("param_order[{i}]"),
                            format!("'{n}' is not in hyperparams"),
                        ));
                    }
                    if order.iter().any(|o| o == n) {
                        return Err(err(&format!("param_order[{i}]"), format!("'{n}' twice")));
                    }
                    order.push(n.to_string());
                }
                if let Some(missing) = hyperparams.keys().find(|k| !order.contains(k)) {
                    return Err(err(
                        "param_order",
                        format!("does not list the parameter '{missing}'"),
                    ));
                }
                order
            }
            Some(_) => return Err(err("param_order", "expected a list of names".into())),
        };
        let params = order
            .iter()
            .map(|n| parse_param(n, &hyperparams[n]).map_err(|(f, r)| err(&f, r)))
            .collect::<Result<Vec<_>, _>>()?;
        let config = match root.get("config") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(err("config", "expected an object".into())),
        };
        Ok(Space {
            name: name.to_string(),
            params,
            config,
        })
    }

    /// Total number of encoded columns.
    pub fn encoded_dims(&self) -> usize {
        self.params.iter().map(Param::width).sum()
    }

    /// The description arms receive.
    pub fn spec(&self) -> SpaceSpec {
        let mut offset = 0;
        let params = self
            .params
            .iter()
            .map(|p| {
                let (kind, log, lower, upper, options) = match &p.domain {
                    Domain::Continuous { lower, upper, log } => {
                        (ParamKind::Continuous, *log, *lower, *upper, vec![])
                    }
                    Domain::Integer { lower, upper, log } => (
                        ParamKind::Integer,
                        *log,
                        *lower as f64,
                        *upper as f64,
                        vec![],
                    ),
                    Domain::Categorical(o) => (ParamKind::Categorical, false, 0.0, 0.0, labels(o)),
                    Domain::Preordered(o) => (ParamKind::Preordered, false, 0.0, 0.0, labels(o)),
                };
                let spec = ParamSpec {
                    name: p.name.clone(),
                    kind,
                    offset,
                    width: p.width() as u32,
                    log,
                    lower,
                    upper,
                    options,
                };
                offset += p.width() as u32;
                spec
            })
            .collect();
        SpaceSpec { params }
    }

    /// Maps one point of the unit cube (one coordinate per parameter) to values: the
    /// uniform (or log-uniform) measure on each domain.
    pub fn from_unit(&self, u: &[f64]) -> Vec<Value> {
        self.params
            .iter()
            .zip(u)
            .map(|(p, &u)| {
                let u = u.clamp(0.0, 1.0);
                match &p.domain {
                    Domain::Continuous { lower, upper, log } => typed(
                        p.value_type,
                        unscale(u, *lower, *upper, *log).clamp(*lower, *upper),
                    ),
                    Domain::Integer { lower, upper, log } => {
                        let v = if *log {
                            // Log-uniform over [lower - 0.5, upper + 0.5], then rounded.
                            let lo = (*lower as f64 - 0.5).max(0.5);
                            let hi = *upper as f64 + 0.5;
                            unscale(u, lo, hi, true).round()
                        } else {
                            (*lower as f64 + (u * (upper - lower + 1) as f64).floor())
                                .min(*upper as f64)
                        };
                        Value::from((v as i64).clamp(*lower, *upper))
                    }
                    Domain::Categorical(o) | Domain::Preordered(o) => {
                        o[((u * o.len() as f64) as usize).min(o.len() - 1)].clone()
                    }
                }
            })
            .collect()
    }

    /// Encodes values (one per parameter, in order) into the unit cube.
    pub fn encode(&self, values: &[Value]) -> Result<Vec<f64>, String> {
        if values.len() != self.params.len() {
            return Err(format!(
                "{} values for {} parameters",
                values.len(),
                self.params.len()
            ));
        }
        let mut out = Vec::with_capacity(self.encoded_dims());
        for (p, v) in self.params.iter().zip(values) {
            let bad = || format!("parameter '{}': value {v} is not in its domain", p.name);
            match &p.domain {
                Domain::Continuous { lower, upper, log } => {
                    let x = v.as_f64().ok_or_else(bad)?;
                    if x < *lower - 1e-12 * lower.abs() || x > *upper + 1e-12 * upper.abs() {
                        return Err(bad());
                    }
                    out.push(scale(x, *lower, *upper, *log));
                }
                Domain::Integer { lower, upper, log } => {
                    let x = v.as_f64().ok_or_else(bad)?;
                    if x.fract() != 0.0 || x < *lower as f64 || x > *upper as f64 {
                        return Err(bad());
                    }
                    out.push(scale(x, *lower as f64, *upper as f64, *log));
                }
                Domain::Categorical(options) => {
                    let k = position(options, v).ok_or_else(bad)?;
                    out.extend((0..options.len()).map(|i| if i == k { 1.0 } else { 0.0 }));
                }
                Domain::Preordered(options) => {
                    let k = position(options, v).ok_or_else(bad)?;
                    out.push(if options.len() > 1 {
                        k as f64 / (options.len() - 1) as f64
                    } else {
                        0.0
                    });
                }
            }
        }
        Ok(out)
    }

    /// Decodes an encoded point (clamped to the cube; integers rounded; the largest one-hot
    /// column wins) into values.
    pub fn decode(&self, x: &[f64]) -> Vec<Value> {
        let mut at = 0;
        self.params
            .iter()
            .map(|p| {
                let w = p.width();
                let cols = &x[at..at + w];
                at += w;
                let u = cols[0].clamp(0.0, 1.0);
                match &p.domain {
                    Domain::Continuous { lower, upper, log } => typed(
                        p.value_type,
                        unscale(u, *lower, *upper, *log).clamp(*lower, *upper),
                    ),
                    Domain::Integer { lower, upper, log } => {
                        let v = unscale(u, *lower as f64, *upper as f64, *log).round() as i64;
                        Value::from(v.clamp(*lower, *upper))
                    }
                    Domain::Categorical(options) => {
                        let k = cols
                            .iter()
                            .enumerate()
                            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                            .map_or(0, |(i, _)| i);
                        options[k].clone()
                    }
                    Domain::Preordered(options) => {
                        let k = (u * (options.len() - 1) as f64).round() as usize;
                        options[k.min(options.len() - 1)].clone()
                    }
                }
            })
            .collect()
    }

    /// Values as a JSON object keyed by parameter name.
    pub fn to_object(&self, values: &[Value]) -> Map<String, Value> {
        self.params
            .iter()
            .zip(values)
            .map(|(p, v)| (p.name.clone(), v.clone()))
            .collect()
    }
}

fn labels(options: &[Value]) -> Vec<String> {
    options
        .iter()
        .map(|o| match o {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

fn position(options: &[Value], v: &Value) -> Option<usize> {
    options
        .iter()
        .position(|o| o == v || matches!((o.as_f64(), v.as_f64()), (Some(a), Some(b)) if a == b))
}

fn scale(x: f64, lower: f64, upper: f64, log: bool) -> f64 {
    if upper == lower {
        return 0.0;
    }
    let u = if log {
        (x.ln() - lower.ln()) / (upper.ln() - lower.ln())
    } else {
        (x - lower) / (upper - lower)
    };
    u.clamp(0.0, 1.0)
}

fn unscale(u: f64, lower: f64, upper: f64, log: bool) -> f64 {
    if log {
        (lower.ln() + u * (upper.ln() - lower.ln())).exp()
    } else {
        lower + u * (upper - lower)
    }
}

fn typed(value_type: ValueType, v: f64) -> Value {
    match value_type {
        ValueType::Int => Value::from(v.round() as i64),
        _ => Value::from(v),
    }
}

/// Integer bounds beyond ±2^53 are not exactly representable in the encoding's floats.
const MAX_INTEGER_BOUND: f64 = 9_007_199_254_740_992.0;

/// A parameter's domain kind, as the file spells it (`value_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Continuous,
    Discrete,
    Categorical,
    Preordered,
}

/// One parameter as the file writes it: the seed's keys plus `log`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamFile {
    #[serde(rename = "type")]
    value_type: ValueType,
    #[serde(rename = "value_type")]
    kind: Kind,
    range: Vec<Value>,
    #[serde(default)]
    power_of: Option<f64>,
    #[serde(default)]
    default: Option<Value>,
    #[serde(default)]
    log: Option<bool>,
}

/// A field's path and what is wrong with it.
type FieldError = (String, String);

/// Parses parameter `name` of a space: its shape by serde (unknown keys, types), then its
/// domain and default.
fn parse_param(name: &str, spec: &Value) -> Result<Param, FieldError> {
    if name.trim().is_empty() {
        return Err((
            format!("hyperparams.\"{name}\""),
            "a parameter needs a name".into(),
        ));
    }
    let field = |f: &str| format!("hyperparams.{name}.{f}");
    let file: ParamFile = serde_path_to_error::deserialize(spec).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            format!("hyperparams.{name}")
        } else {
            field(&path)
        };
        (at, e.into_inner().to_string())
    })?;
    let power_of = match file.power_of {
        Some(b) if !(b > 0.0 && b != 1.0) => {
            return Err((
                field("power_of"),
                "expected a positive base other than 1".into(),
            ));
        }
        b => b,
    };
    let log = file.log.unwrap_or(false);
    let domain = match file.kind {
        Kind::Continuous | Kind::Discrete => {
            numeric_domain(&file, log, power_of).map_err(|(f, why)| (field(f), why))?
        }
        Kind::Categorical | Kind::Preordered => {
            if log || power_of.is_some() {
                return Err((field("log"), "options have no log scale".into()));
            }
            option_domain(&file).map_err(|(f, why)| (field(&f), why))?
        }
    };
    let param = Param {
        name: name.to_string(),
        value_type: file.value_type,
        domain,
        default: file.default,
    };
    check_default(&param).map_err(|why| (field("default"), why))?;
    Ok(param)
}

/// The interval of a continuous or discrete parameter: `[min, max]`, exponents of
/// `power_of` when given, finite and in order, positive on a log scale, integers within
/// ±2^53 for a discrete one. Errors name the key (`range` or `type`).
fn numeric_domain(
    file: &ParamFile,
    log: bool,
    power_of: Option<f64>,
) -> Result<Domain, (&'static str, String)> {
    let range = &file.range;
    if range.len() != 2 {
        return Err((
            "range",
            format!("expected [min, max], got {} values", range.len()),
        ));
    }
    let (Some(mut lo), Some(mut hi)) = (range[0].as_f64(), range[1].as_f64()) else {
        return Err(("range", "expected two numbers".into()));
    };
    if !(lo.is_finite() && hi.is_finite()) {
        return Err(("range", "bounds must be finite".into()));
    }
    if lo > hi {
        return Err(("range", format!("min {lo} is greater than max {hi}")));
    }
    if let Some(base) = power_of {
        (lo, hi) = (base.powf(lo), base.powf(hi));
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0) {
            return Err((
                "range",
                format!(
                    "{base} to the power of the range's bounds is outside the floating-point range"
                ),
            ));
        }
        if lo > hi {
            (lo, hi) = (hi, lo);
        }
    }
    if !(hi - lo).is_finite() {
        return Err((
            "range",
            format!("the range [{lo}, {hi}] is wider than the floating-point range"),
        ));
    }
    let log = log || power_of.is_some();
    if log && lo <= 0.0 {
        return Err((
            "range",
            format!("a log-scale range must be positive, min is {lo}"),
        ));
    }
    if file.kind == Kind::Continuous {
        if file.value_type != ValueType::Float {
            return Err(("type", "a continuous parameter must be \"float\"".into()));
        }
        return Ok(Domain::Continuous {
            lower: lo,
            upper: hi,
            log,
        });
    }
    if file.value_type != ValueType::Int {
        return Err(("type", "a discrete parameter must be \"int\"".into()));
    }
    if lo.fract() != 0.0 || hi.fract() != 0.0 {
        return Err((
            "range",
            format!("integer bounds expected, got [{lo}, {hi}]"),
        ));
    }
    if lo.abs() > MAX_INTEGER_BOUND || hi.abs() > MAX_INTEGER_BOUND {
        return Err((
            "range",
            "integer bounds must be within ±2^53 (9007199254740992)".into(),
        ));
    }
    Ok(Domain::Integer {
        lower: lo as i64,
        upper: hi as i64,
        log,
    })
}

/// The options of a categorical or preordered parameter: at least one, each of the declared
/// type, none twice. Errors name the key (`range` or `range[i]`).
fn option_domain(file: &ParamFile) -> Result<Domain, (String, String)> {
    let range = &file.range;
    if range.is_empty() {
        return Err((
            "range".into(),
            "a categorical parameter needs at least one option".into(),
        ));
    }
    for (i, o) in range.iter().enumerate() {
        let ok = match file.value_type {
            ValueType::Int => o.as_i64().is_some(),
            ValueType::Float => o.as_f64().is_some(),
            ValueType::Str => o.is_string(),
            ValueType::Bool => o.is_boolean(),
        };
        if !ok {
            return Err((
                format!("range[{i}]"),
                format!("{o} is not of type {:?}", file.value_type),
            ));
        }
        if range[..i].contains(o) {
            return Err((format!("range[{i}]"), format!("option {o} appears twice")));
        }
    }
    Ok(if file.kind == Kind::Categorical {
        Domain::Categorical(range.clone())
    } else {
        Domain::Preordered(range.clone())
    })
}

/// A parameter's default, when given, must be a value of its domain.
fn check_default(param: &Param) -> Result<(), String> {
    let Some(default) = &param.default else {
        return Ok(());
    };
    let probe = Space {
        name: String::new(),
        params: vec![param.clone()],
        config: Map::new(),
    };
    probe
        .encode(std::slice::from_ref(default))
        .map(|_| ())
        .map_err(|_| format!("{default} is not in the range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGITS: &str = include_str!("../../../hp_conf/digits-mlp.json");

    fn digits() -> Space {
        Space::parse("hp_conf/digits-mlp.json", "digits-mlp", DIGITS).unwrap()
    }

    #[test]
    fn parses_the_bundled_space_in_file_order() {
        let s = digits();
        let names: Vec<&str> = s.params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "n_layers",
                "units",
                "activation",
                "alpha",
                "learning_rate_init",
                "batch_size",
                "beta_1"
            ]
        );
        assert_eq!(s.encoded_dims(), 9);
        let spec = s.spec();
        assert_eq!(spec.encoded_dims(), 9);
        assert_eq!(spec.params[3].offset, 5);
        assert!(spec.params[3].log);
    }

    #[test]
    fn encoding_is_log_scaled_one_hot_and_index_based() {
        let s = digits();
        let values: Vec<Value> =
            serde_json::from_str(r#"[2, 16, "tanh", 0.0001, 0.3, 64, 0.99]"#).unwrap();
        let x = s.encode(&values).unwrap();
        let expect_units = (16f64.ln() - 8f64.ln()) / (256f64.ln() - 8f64.ln());
        let expect_alpha = ((1e-4f64).ln() - (1e-6f64).ln()) / ((0.1f64).ln() - (1e-6f64).ln());
        assert!((x[0] - 0.5).abs() < 1e-12);
        assert!((x[1] - expect_units).abs() < 1e-12);
        assert_eq!(&x[2..5], &[0.0, 1.0, 0.0]);
        assert!((x[5] - expect_alpha).abs() < 1e-12);
        assert!((x[6] - 1.0).abs() < 1e-12);
        assert_eq!(x[7], 0.5);
        assert!((x[8] - 1.0).abs() < 1e-12);
        let back = s.decode(&x);
        for (a, b) in values.iter().zip(&back) {
            match (a.as_f64(), b.as_f64()) {
                (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-12 * a.abs(), "{a} vs {b}"),
                _ => assert_eq!(a, b),
            }
        }
    }

    #[test]
    fn decode_inverts_encode_over_the_unit_cube() {
        let s = digits();
        for i in 0..200 {
            let u: Vec<f64> = (0..7)
                .map(|d| ((i * 7 + d * 13) % 101) as f64 / 100.0)
                .collect();
            let values = s.from_unit(&u);
            let x = s.encode(&values).unwrap();
            let back = s.decode(&x);
            for (a, b) in values.iter().zip(&back) {
                match (a.as_f64(), b.as_f64()) {
                    (Some(a), Some(b)) => {
                        assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{a} vs {b}")
                    }
                    _ => assert_eq!(a, b),
                }
            }
        }
    }

    #[test]
    fn power_of_is_a_log_scale_over_exponents() {
        let s = Space::parse(
            "t.json",
            "t",
            r#"{"hyperparams": {"lr": {"type": "float", "value_type": "continuous", "range": [-4, -1], "power_of": 10}}}"#,
        )
        .unwrap();
        let x = s.encode(&[Value::from(1e-3)]).unwrap();
        assert!((x[0] - 1.0 / 3.0).abs() < 1e-12);
        assert!((s.decode(&[2.0 / 3.0])[0].as_f64().unwrap() - 1e-2).abs() < 1e-15);
    }

    #[test]
    fn integer_bounds_are_inclusive_when_sampling() {
        let s = Space::parse(
            "t.json",
            "t",
            r#"{"hyperparams": {"k": {"type": "int", "value_type": "discrete", "range": [2, 3]}}}"#,
        )
        .unwrap();
        let seen: Vec<i64> = (0..10)
            .map(|i| s.from_unit(&[i as f64 / 10.0])[0].as_i64().unwrap())
            .collect();
        assert!(seen.contains(&2) && seen.contains(&3), "{seen:?}");
    }

    fn error_of(json: &str) -> SpaceError {
        Space::parse("hp_conf/bad.json", "bad", json).unwrap_err()
    }

    #[test]
    fn bad_spaces_name_file_field_and_reason() {
        let e = error_of(
            r#"{"hyperparams": {"a": {"type": "float", "value_type": "continuous", "range": [2, 1]}}}"#,
        );
        assert_eq!(e.file, "hp_conf/bad.json");
        assert_eq!(e.field, "hyperparams.a.range");
        assert!(e.reason.contains("greater than max"), "{e}");
        let e = error_of(
            r#"{"hyperparams": {"c": {"type": "str", "value_type": "categorical", "range": []}}}"#,
        );
        assert!(
            e.field == "hyperparams.c.range" && e.reason.contains("at least one option"),
            "{e}"
        );
        let e = error_of(
            r#"{"hyperparams": {"a": {"type": "float", "value_type": "continuous", "range": [0, 1], "scale": 2}}}"#,
        );
        assert_eq!(e.field, "hyperparams.a.scale");
        let e = error_of(r#"{"hyperparams": {}, "extra": 1}"#);
        assert_eq!(e.field, "extra");
        let e = error_of("{ not json");
        assert!(e.field.starts_with("line 1"), "{e}");
        let e = error_of(
            r#"{"hyperparams": {"a": {"type": "float", "value_type": "continuous", "range": [0, 1], "log": true}}}"#,
        );
        assert!(e.reason.contains("positive"), "{e}");
        let e = error_of(
            r#"{"hyperparams": {"a": {"type": "int", "value_type": "discrete", "range": [0, 5], "default": 9}}}"#,
        );
        assert_eq!(e.field, "hyperparams.a.default");
    }

    #[test]
    fn duplicate_and_empty_names_are_errors() {
        let p = r#"{"type": "float", "value_type": "continuous", "range": [0, 1]}"#;
        let e = error_of(&format!(
            r#"{{"hyperparams": {{"a": {p}, "b": {p}, "a": {p}}}}}"#
        ));
        assert!(e.reason.contains("\"a\" appears twice"), "{e}");
        assert!(e.field.starts_with("line 1"), "{e}");
        let e = error_of(&format!(r#"{{"hyperparams": {{"": {p}}}}}"#));
        assert!(e.reason.contains("needs a name"), "{e}");
        let e = error_of(&format!(r#"{{"hyperparams": {{" ": {p}}}}}"#));
        assert!(e.reason.contains("needs a name"), "{e}");
    }

    #[test]
    fn ranges_that_overflow_are_errors_and_accepted_ones_map_inside() {
        let one = |spec: &str| format!(r#"{{"hyperparams": {{"a": {spec}}}}}"#);
        let e = error_of(&one(
            r#"{"type": "float", "value_type": "continuous", "range": [-1e308, 1e308]}"#,
        ));
        assert!(
            e.field == "hyperparams.a.range" && e.reason.contains("wider"),
            "{e}"
        );
        let e = error_of(&one(
            r#"{"type": "float", "value_type": "continuous", "range": [1, 400], "power_of": 10}"#,
        ));
        assert!(e.reason.contains("floating-point range"), "{e}");
        let e = error_of(&one(
            r#"{"type": "float", "value_type": "continuous", "range": [-400, 1], "power_of": 10}"#,
        ));
        assert!(e.reason.contains("floating-point range"), "{e}");
        let e = error_of(&one(
            r#"{"type": "int", "value_type": "discrete", "range": [0, 1e19]}"#,
        ));
        assert!(e.reason.contains("2^53"), "{e}");
        let e = error_of(&one(
            r#"{"type": "int", "value_type": "discrete", "range": [-9223372036854775807, 5]}"#,
        ));
        assert!(e.reason.contains("2^53"), "{e}");
        // The widest accepted ranges sample and encode everywhere, ends included.
        for spec in [
            r#"{"type": "float", "value_type": "continuous", "range": [-1e307, 1e307]}"#,
            r#"{"type": "int", "value_type": "discrete", "range": [-9007199254740992, 9007199254740992]}"#,
            r#"{"type": "float", "value_type": "continuous", "range": [-300, 300], "power_of": 10}"#,
            r#"{"type": "float", "value_type": "continuous", "range": [1, 3], "power_of": 0.5}"#,
        ] {
            let s = Space::parse("t.json", "t", &one(spec)).unwrap();
            let seen: std::collections::HashSet<String> = [0.0, 1e-9, 0.5, 1.0 - 1e-16, 1.0]
                .iter()
                .map(|&u| {
                    let v = s.from_unit(&[u]);
                    s.encode(&v)
                        .unwrap_or_else(|e| panic!("{spec} at {u}: {e}"));
                    v[0].to_string()
                })
                .collect();
            assert!(seen.len() >= 3, "{spec}: {seen:?}");
        }
    }
}
