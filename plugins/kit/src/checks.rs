//! The input checks every model arm makes, worded the same everywhere: options, the pool,
//! observations, proposal requests.

use hpo_plugin_api::types::{Matrix, ObservationStatus, Observations, ProposeRequest};
use serde::de::DeserializeOwned;

/// Parses a plugin's options section (JSON; empty means `{}`); unknown or mistyped options
/// are errors naming the plugin and the option.
pub fn parse_options<T: DeserializeOwned>(plugin: &str, json: &str) -> Result<T, String> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    serde_json::from_str(json).map_err(|e| format!("{plugin} options: {e}"))
}

/// The error of an option with a value out of range.
pub fn bad_option<T>(plugin: &str, name: &str, why: &str) -> Result<T, String> {
    Err(format!("{plugin} option '{name}' {why}"))
}

/// The pool, once its shape matches the space's `dims` encoded columns.
pub fn checked_pool(pool: Matrix, dims: usize) -> Result<Matrix, String> {
    pool.check_shape()?;
    if pool.rows() > 0 && pool.cols as usize != dims {
        return Err(format!("pool has {} columns, the space {dims}", pool.cols));
    }
    Ok(pool)
}

/// The successful final observations (point, value) of a batch, once its shape matches.
/// Failed and interim observations are left out: the models learn from final values.
pub fn final_observations(
    observations: &Observations,
    dims: usize,
) -> Result<Vec<(&[f64], f64)>, String> {
    observations.check_shape()?;
    if !observations.is_empty() && observations.x.cols as usize != dims {
        return Err(format!(
            "observations have {} columns, the space {dims}",
            observations.x.cols
        ));
    }
    Ok((0..observations.len())
        .filter(|&i| {
            observations.status[i] == ObservationStatus::Final && observations.y[i].is_finite()
        })
        .map(|i| (observations.x.row(i), observations.y[i]))
        .collect())
}

/// Checks that every candidate is a row of a pool of `pool_rows`, and that there is
/// something to propose.
pub fn check_request(request: &ProposeRequest, pool_rows: usize) -> Result<(), String> {
    if let Some(bad) = request
        .candidates
        .iter()
        .find(|&&c| c as usize >= pool_rows)
    {
        return Err(format!(
            "candidate {bad} is outside the pool of {pool_rows} rows"
        ));
    }
    if request.candidates.is_empty() && !request.allow_off_pool {
        return Err("no candidates and points off the pool are not allowed".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_is_named() {
        assert!(checked_pool(Matrix::new(2, vec![0.0; 4]).unwrap(), 3).is_err());
        assert!(checked_pool(Matrix::empty(3), 3).is_ok());
        let obs = Observations {
            x: Matrix::new(1, vec![0.1, 0.2, 0.3]).unwrap(),
            y: vec![1.0, f64::NAN, 2.0],
            cost: vec![0.0; 3],
            status: vec![
                ObservationStatus::Final,
                ObservationStatus::Failed,
                ObservationStatus::Interim,
            ],
        };
        assert_eq!(
            final_observations(&obs, 1).unwrap(),
            vec![(&[0.1][..], 1.0)]
        );
        assert!(final_observations(&obs, 2).unwrap_err().contains("columns"));
        let request = ProposeRequest {
            acquisition: "EI".into(),
            candidates: vec![5],
            pending: Matrix::empty(1),
            n: 1,
            seed: 0,
            allow_off_pool: false,
        };
        assert!(
            check_request(&request, 3)
                .unwrap_err()
                .contains("candidate 5")
        );
        let none = ProposeRequest {
            candidates: vec![],
            ..request
        };
        assert!(
            check_request(&none, 3)
                .unwrap_err()
                .contains("no candidates")
        );
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct O {
            #[allow(dead_code)]
            a: Option<u32>,
        }
        assert!(parse_options::<O>("x", "").is_ok());
        assert!(
            parse_options::<O>("x", r#"{"b": 1}"#)
                .unwrap_err()
                .contains("x options")
        );
    }
}
