//! Surrogate lookup tables (`surrogate:NAME`): configurations actually trained, with the
//! metric after every epoch and the cumulative training time, replayed instead of training.
//!
//! A table is a CSV (optionally gzip) plus a JSON sidecar naming the space (`hyperparams`,
//! the hp_conf schema), the metric's `direction`, and the columns: `val_columns` (metric per
//! epoch), `time_columns` (cumulative seconds per epoch), `test_column`, `id_column`.
//! Columns are found by header name, never by position. The bundled default `digits-mlp`
//! is embedded in the binary (provenance in `data/README.md`).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::space::{Domain, Space, ValueType};

/// The bundled table's CSV (gzip).
const DEFAULT_CSV_GZ: &[u8] = include_bytes!("../../../data/digits-mlp.csv.gz");
/// The bundled table's sidecar.
const DEFAULT_SIDECAR: &str = include_str!("../../../data/digits-mlp.json");
/// Name of the bundled table.
pub const DEFAULT_TABLE: &str = "digits-mlp";

/// An error in a table, naming the file, the field (column, row) and the reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {field}: {reason}")]
pub struct TableError {
    /// The table or sidecar file.
    pub file: String,
    /// Column, row or sidecar field.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

/// Whether lower or higher metric values are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Lower is better (an error).
    Minimize,
    /// Higher is better (an accuracy).
    Maximize,
}

#[derive(Deserialize)]
struct Sidecar {
    name: String,
    hyperparams: serde_json::Map<String, Value>,
    #[serde(default)]
    param_order: Option<Vec<String>>,
    direction: Direction,
    #[serde(default = "default_metric")]
    metric: String,
    val_columns: Vec<String>,
    time_columns: Vec<String>,
    #[serde(default)]
    test_column: Option<String>,
}

fn default_metric() -> String {
    "error".into()
}

/// Reads a table's sidecar: its columns (as many time columns as metric columns, at least
/// one epoch) and its search space. Errors name the sidecar and the field.
fn read_sidecar(label: &str, json: &str) -> Result<(Sidecar, Space), TableError> {
    let err = |field: &str, reason: String| TableError {
        file: label.to_string(),
        field: field.to_string(),
        reason,
    };
    crate::config::strict_json::check_no_duplicate_keys(json)
        .map_err(|e| err(&format!("line {}", e.line()), e.to_string()))?;
    let sidecar: Sidecar =
        serde_json::from_str(json).map_err(|e| err("(sidecar)", format!("{e}")))?;
    if sidecar.val_columns.is_empty() {
        return Err(err("val_columns", "no epochs".into()));
    }
    if sidecar.val_columns.len() != sidecar.time_columns.len() {
        return Err(err(
            "time_columns",
            format!(
                "{} time columns for {} metric columns",
                sidecar.time_columns.len(),
                sidecar.val_columns.len()
            ),
        ));
    }
    let mut space_json = serde_json::Map::new();
    space_json.insert(
        "hyperparams".into(),
        Value::Object(sidecar.hyperparams.clone()),
    );
    if let Some(order) = &sidecar.param_order {
        space_json.insert(
            "param_order".into(),
            serde_json::to_value(order).unwrap_or_default(),
        );
    }
    let space = Space::parse(label, &sidecar.name, &Value::Object(space_json).to_string())
        .map_err(|e| err(&e.field, e.reason))?;
    Ok((sidecar, space))
}

/// Where a table's fields are in its CSV: one column per parameter (in the space's order),
/// per epoch's metric and cumulative time, and the test metric if any.
struct Columns {
    params: Vec<usize>,
    values: Vec<usize>,
    times: Vec<usize>,
    test: Option<usize>,
}

impl Columns {
    /// Finds the columns by header name; a missing one is an error naming it.
    fn find(
        headers: &csv::StringRecord,
        space: &Space,
        sidecar: &Sidecar,
    ) -> Result<Self, (String, String)> {
        let index: HashMap<&str, usize> = headers.iter().enumerate().map(|(i, h)| (h, i)).collect();
        let column = |name: &str| {
            index.get(name).copied().ok_or_else(|| {
                (
                    format!("column '{name}'"),
                    "missing (the sidecar or the space names it)".to_string(),
                )
            })
        };
        let all = |names: &mut dyn Iterator<Item = &str>| {
            names.map(column).collect::<Result<Vec<_>, _>>()
        };
        Ok(Columns {
            params: all(&mut space.params.iter().map(|p| p.name.as_str()))?,
            values: all(&mut sidecar.val_columns.iter().map(String::as_str))?,
            times: all(&mut sidecar.time_columns.iter().map(String::as_str))?,
            test: sidecar.test_column.as_deref().map(column).transpose()?,
        })
    }
}

/// A loaded table.
#[derive(Debug, Clone)]
pub struct SurrogateTable {
    /// Table name.
    pub name: String,
    /// Its search space.
    pub space: Space,
    /// Metric name (e.g. `error`).
    pub metric: String,
    /// Metric direction.
    pub direction: Direction,
    /// Epochs per configuration.
    pub epochs: usize,
    values: Vec<Vec<Value>>,
    encoded: Vec<f64>,
    curves: Vec<f64>,
    times: Vec<f64>,
    test: Vec<f64>,
}

impl SurrogateTable {
    /// The bundled default table.
    pub fn embedded_default() -> Result<Self, TableError> {
        Self::from_parts(
            &format!("(embedded) {DEFAULT_TABLE}.csv.gz"),
            DEFAULT_CSV_GZ,
            &format!("(embedded) {DEFAULT_TABLE}.json"),
            DEFAULT_SIDECAR,
        )
    }

    /// Loads `<dir>/<name>.csv[.gz]` with its sidecar `<dir>/<name>.json`.
    pub fn load(dir: &Path, name: &str) -> Result<Self, TableError> {
        let sidecar_path = dir.join(format!("{name}.json"));
        let csv_path = [format!("{name}.csv.gz"), format!("{name}.csv")]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.exists())
            .ok_or_else(|| TableError {
                file: dir.join(format!("{name}.csv")).display().to_string(),
                field: "(file)".into(),
                reason: "no such table (.csv or .csv.gz)".into(),
            })?;
        let read_err = |p: &Path| {
            let file = p.display().to_string();
            move |e: std::io::Error| TableError {
                file,
                field: "(file)".into(),
                reason: e.to_string(),
            }
        };
        let csv = std::fs::read(&csv_path).map_err(read_err(&csv_path))?;
        let sidecar = std::fs::read_to_string(&sidecar_path).map_err(read_err(&sidecar_path))?;
        Self::from_parts(
            &csv_path.display().to_string(),
            &csv,
            &sidecar_path.display().to_string(),
            &sidecar,
        )
    }

    /// Builds a table from CSV bytes (gzip detected by its magic) and sidecar JSON.
    pub fn from_parts(
        csv_label: &str,
        csv_bytes: &[u8],
        sidecar_label: &str,
        sidecar_json: &str,
    ) -> Result<Self, TableError> {
        let (sidecar, space) = read_sidecar(sidecar_label, sidecar_json)?;
        let csv_err = |field: String, reason: String| TableError {
            file: csv_label.to_string(),
            field,
            reason,
        };
        let text = decompress(csv_bytes).map_err(|reason| csv_err("(file)".into(), reason))?;
        let mut reader = csv::ReaderBuilder::new().from_reader(text.as_slice());
        let headers = reader
            .headers()
            .map_err(|e| csv_err("(header)".into(), e.to_string()))?
            .clone();
        let columns = Columns::find(&headers, &space, &sidecar).map_err(|(f, r)| csv_err(f, r))?;
        let mut table = SurrogateTable {
            name: sidecar.name.clone(),
            metric: sidecar.metric.clone(),
            direction: sidecar.direction,
            epochs: columns.values.len(),
            values: Vec::new(),
            encoded: Vec::new(),
            curves: Vec::new(),
            times: Vec::new(),
            test: Vec::new(),
            space,
        };
        let mut record = csv::StringRecord::new();
        let mut row = 0usize;
        loop {
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => return Err(csv_err(format!("row {}", row + 1), e.to_string())),
            }
            row += 1;
            table
                .push_row(&record, row, &headers, &columns)
                .map_err(|(f, r)| csv_err(f, r))?;
        }
        if table.values.is_empty() {
            return Err(csv_err("(rows)".into(), "the table has no rows".into()));
        }
        Ok(table)
    }

    /// Appends CSV row number `row`: its parameter values (checked against the space and
    /// encoded), its metric per epoch, its cumulative times (non-negative, never
    /// decreasing) and its test metric. Errors name the row and column.
    fn push_row(
        &mut self,
        record: &csv::StringRecord,
        row: usize,
        headers: &csv::StringRecord,
        columns: &Columns,
    ) -> Result<(), (String, String)> {
        let number = |col: usize, what: &str| -> Result<f64, (String, String)> {
            let cell = record.get(col).unwrap_or("");
            match cell.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err((
                    format!("row {row}, column '{}'", &headers[col]),
                    format!("'{cell}' is not a finite number ({what})"),
                )),
            }
        };
        let mut values = Vec::with_capacity(columns.params.len());
        for (p, &col) in self.space.params.iter().zip(&columns.params) {
            let cell = record.get(col).unwrap_or("");
            values.push(cell_value(p.value_type, &p.domain, cell).ok_or_else(|| {
                (
                    format!("row {row}, column '{}'", p.name),
                    format!("'{cell}' is not a value of this parameter"),
                )
            })?);
        }
        let x = self.space.encode(&values).map_err(|reason| {
            (
                format!("row {row}"),
                format!("does not match the space: {reason}"),
            )
        })?;
        for &c in &columns.values {
            self.curves.push(number(c, "metric")?);
        }
        let mut last = 0.0;
        for &c in &columns.times {
            let t = number(c, "cumulative time")?;
            let at = || format!("row {row}, column '{}'", &headers[c]);
            if t < 0.0 {
                return Err((at(), format!("negative time {t}")));
            }
            if t < last {
                return Err((
                    at(),
                    format!("cumulative time decreases ({t} after {last})"),
                ));
            }
            last = t;
            self.times.push(t);
        }
        self.test.push(match columns.test {
            Some(c) => number(c, "test metric")?,
            None => f64::NAN,
        });
        self.encoded.extend_from_slice(&x);
        self.values.push(values);
        Ok(())
    }

    /// Number of configurations.
    pub fn rows(&self) -> usize {
        self.values.len()
    }

    /// The parameter values of `row`.
    pub fn params(&self, row: usize) -> &[Value] {
        &self.values[row]
    }

    /// The encoded configurations, row-major.
    pub fn encoded(&self) -> &[f64] {
        &self.encoded
    }

    /// The metric after each epoch of `row`.
    pub fn curve(&self, row: usize) -> &[f64] {
        &self.curves[row * self.epochs..(row + 1) * self.epochs]
    }

    /// Cumulative training seconds after each epoch of `row`.
    pub fn times(&self, row: usize) -> &[f64] {
        &self.times[row * self.epochs..(row + 1) * self.epochs]
    }

    /// The metric after the last epoch of `row`.
    pub fn final_value(&self, row: usize) -> f64 {
        self.curve(row)[self.epochs - 1]
    }

    /// The test metric of `row` (NaN when the table has none).
    pub fn test_value(&self, row: usize) -> f64 {
        self.test[row]
    }

    /// The final metric of the k-th best configuration (k = 1 is the best).
    pub fn kth_best(&self, k: usize) -> f64 {
        let mut finals: Vec<f64> = (0..self.rows()).map(|r| self.final_value(r)).collect();
        finals.sort_by(|a, b| match self.direction {
            Direction::Minimize => a.total_cmp(b),
            Direction::Maximize => b.total_cmp(a),
        });
        finals[k.clamp(1, finals.len()) - 1]
    }
}

fn decompress(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(bytes.len() * 4);
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| format!("not a valid gzip file: {e}"))?;
        Ok(out)
    } else {
        Ok(bytes.to_vec())
    }
}

/// Parses a cell as a value of a parameter of type `value_type`.
fn cell_value(value_type: ValueType, domain: &Domain, cell: &str) -> Option<Value> {
    let cell = cell.trim();
    match (value_type, domain) {
        (ValueType::Str, _) => Some(Value::from(cell)),
        (ValueType::Bool, _) => match cell.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(Value::from(true)),
            "false" | "0" => Some(Value::from(false)),
            _ => None,
        },
        (ValueType::Int, _) => {
            let v: f64 = cell.parse().ok()?;
            (v.fract() == 0.0).then(|| Value::from(v as i64))
        }
        (ValueType::Float, _) => cell.parse::<f64>().ok().map(Value::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_table_loads_with_its_documented_figures() {
        let t = SurrogateTable::embedded_default().unwrap();
        assert_eq!(t.rows(), 4096);
        assert_eq!(t.epochs, 30);
        assert_eq!(t.space.encoded_dims(), 9);
        assert_eq!(t.direction, Direction::Minimize);
        // data/README.md: best 0.01667 (3 configurations), worst 0.903.
        assert!(
            (t.kth_best(1) - 0.016_666).abs() < 1e-4,
            "{}",
            t.kth_best(1)
        );
        assert_eq!(t.kth_best(3), t.kth_best(1));
        assert!(t.kth_best(4) > t.kth_best(1));
        let worst = (0..t.rows())
            .map(|r| t.final_value(r))
            .fold(f64::MIN, f64::max);
        assert!((worst - 0.903).abs() < 1e-3, "{worst}");
        for r in [0, 100, 4095] {
            assert!(t.times(r).windows(2).all(|w| w[0] <= w[1]));
            assert_eq!(t.curve(r).len(), 30);
        }
        // Total training represented: 2130 CPU seconds.
        let total: f64 = (0..t.rows()).map(|r| t.times(r)[29]).sum();
        assert!((total - 2130.0).abs() < 5.0, "{total}");
    }

    #[test]
    fn columns_are_matched_by_name_not_position() {
        let sidecar = r#"{"name": "t", "direction": "minimize",
            "hyperparams": {"x": {"type": "float", "value_type": "continuous", "range": [0, 1]}},
            "val_columns": ["v1", "v2"], "time_columns": ["t1", "t2"]}"#;
        let csv = "t2,v2,id,x,t1,v1\n2.0,0.3,0,0.5,1.0,0.4\n";
        let t = SurrogateTable::from_parts("t.csv", csv.as_bytes(), "t.json", sidecar).unwrap();
        assert_eq!(t.curve(0), &[0.4, 0.3]);
        assert_eq!(t.times(0), &[1.0, 2.0]);
        assert_eq!(t.params(0), &[Value::from(0.5)]);
    }

    #[test]
    fn a_table_that_does_not_match_its_space_is_an_error() {
        let sidecar = r#"{"name": "t", "direction": "minimize",
            "hyperparams": {"x": {"type": "float", "value_type": "continuous", "range": [0, 1]}},
            "val_columns": ["v1"], "time_columns": ["t1"]}"#;
        let missing =
            SurrogateTable::from_parts("t.csv", b"y,v1,t1\n0.5,0.1,1\n", "t.json", sidecar)
                .unwrap_err();
        assert_eq!(missing.field, "column 'x'");
        let outside =
            SurrogateTable::from_parts("t.csv", b"x,v1,t1\n1.5,0.1,1\n", "t.json", sidecar)
                .unwrap_err();
        assert!(
            outside.field == "row 1" && outside.reason.contains("does not match"),
            "{outside}"
        );
        let text = SurrogateTable::from_parts("t.csv", b"x,v1,t1\n0.5,abc,1\n", "t.json", sidecar)
            .unwrap_err();
        assert!(
            text.field.contains("'v1'") && text.reason.contains("not a finite number"),
            "{text}"
        );
        for (csv, column) in [
            ("x,v1,t1\n0.5,nan,1\n", "'v1'"),
            ("x,v1,t1\n0.5,0.1,inf\n", "'t1'"),
            ("x,v1,t1\n0.5,-inf,1\n", "'v1'"),
            ("x,v1,t1\n0.5,0.1,-1\n", "'t1'"),
        ] {
            let e =
                SurrogateTable::from_parts("t.csv", csv.as_bytes(), "t.json", sidecar).unwrap_err();
            assert!(
                e.field.contains(column) && e.field.starts_with("row 1"),
                "{csv}: {e}"
            );
        }
        let twice = sidecar.replace(
            r#""val_columns": ["v1"],"#,
            r#""val_columns": ["v1"], "val_columns": ["v1"],"#,
        );
        let e = SurrogateTable::from_parts("t.csv", b"x,v1,t1\n0.5,0.1,1\n", "t.json", &twice)
            .unwrap_err();
        assert!(e.reason.contains("appears twice"), "{e}");
    }
}
