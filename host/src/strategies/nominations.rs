//! BO-HEDGE's nominations: every arm nominates a point before the strategy draws one, and
//! after the observation each nominee earns a gain predicted by one reference model.

use hpo_plugin_api::types::{Matrix, Proposed};
use serde::{Deserialize, Serialize};

use super::Credit;
use crate::arms::Arms;

/// Where an arm would have gone: a pool row, or a point off the pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nominee {
    /// The pool position proposed, if it is one.
    pub pool_index: Option<u32>,
    /// The encoded point, when off the pool.
    pub point: Vec<f64>,
}

impl From<&Proposed> for Nominee {
    fn from(p: &Proposed) -> Self {
        Nominee {
            pool_index: p.pool_index,
            point: p.point.clone(),
        }
    }
}

/// BO-HEDGE's gains: every nominee scored by one reference model after the observation
/// (the first model that predicts, in cost units), as GP-Hedge scores every acquisition's
/// nominee under its one GP: the gain is the predicted value's credit (see [`Credit`]);
/// arms without a nominee get NaN (no gain).
pub fn nomination_gains(
    arms: &mut Arms,
    nominees: &[Option<Nominee>],
    pool: &Matrix,
    credit: &Credit,
) -> Vec<f64> {
    let points: Vec<(usize, Vec<f64>)> = nominees
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            n.as_ref().map(|p| match p.pool_index {
                Some(row) => (i, pool.row(row as usize).to_vec()),
                None => (i, p.point.clone()),
            })
        })
        .collect();
    let mut gains = vec![f64::NAN; nominees.len()];
    if points.is_empty() {
        return gains;
    }
    let matrix = Matrix {
        cols: pool.cols,
        data: points.iter().flat_map(|(_, x)| x.iter().copied()).collect(),
    };
    if let Some(means) = arms.predict_first(&matrix) {
        for ((arm, _), mean) in points.iter().zip(means) {
            gains[*arm] = credit.gain(mean);
        }
    }
    gains
}
