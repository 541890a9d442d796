//! What every rule reads from learning curves: the value reached by an epoch, window
//! means, percentiles, and which checkpoints a report crossed.

use hpo_plugin_api::types::Curve;

/// The mean of the curve's values reported at epochs `from..=to`; `None` when no report
/// falls in the window.
pub fn window_mean(curve: &Curve, from: u32, to: u32) -> Option<f64> {
    let values: Vec<f64> = reports(curve)
        .filter(|(e, _)| (from..=to).contains(e))
        .map(|(_, v)| v)
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The best (lowest) value reported up to epoch `to`.
pub fn best_until(curve: &Curve, to: u32) -> Option<f64> {
    reports(curve)
        .filter(|(e, _)| *e <= to)
        .map(|(_, v)| v)
        .min_by(f64::total_cmp)
}

/// Whether the curve has a report at epoch `epoch` or later.
pub fn reached(curve: &Curve, epoch: u32) -> bool {
    curve.epochs.last().is_some_and(|&e| e >= epoch)
}

/// Whether the curve's latest report is the first at or beyond `epoch`: the checkpoint
/// at `epoch` is judged exactly once per trial, even when reports skip epochs.
pub fn crossed(curve: &Curve, epoch: u32) -> bool {
    let n = curve.epochs.len();
    match n {
        0 => false,
        1 => curve.epochs[0] >= epoch,
        _ => curve.epochs[n - 2] < epoch && curve.epochs[n - 1] >= epoch,
    }
}

/// The `q`-th percentile (0–100) of `values` with linear interpolation between order
/// statistics (numpy's default, which the seed used); `None` for no values.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = q.clamp(0.0, 100.0) / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64))
}

/// The median of `values`.
pub fn median(values: &[f64]) -> Option<f64> {
    percentile(values, 50.0)
}

fn reports(curve: &Curve) -> impl Iterator<Item = (u32, f64)> + '_ {
    curve
        .epochs
        .iter()
        .copied()
        .zip(curve.values.iter().copied())
        .filter(|(_, v)| v.is_finite())
}

/// Curves the rules' tests are written with.
#[cfg(test)]
pub(crate) mod examples {
    use hpo_plugin_api::types::Curve;

    /// A curve of `epochs` reports of `value`.
    pub fn flat(value: f64, epochs: u32) -> Curve {
        Curve::new((1..=epochs).collect(), vec![value; epochs as usize], false)
    }

    /// The first `epochs` reports of `curve`.
    pub fn prefix(curve: &Curve, epochs: u32) -> Curve {
        let n = epochs as usize;
        Curve::new(
            curve.epochs[..n].to_vec(),
            curve.values[..n].to_vec(),
            false,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(values: &[f64]) -> Curve {
        Curve::new((1..=values.len() as u32).collect(), values.to_vec(), false)
    }

    #[test]
    fn percentiles_match_numpy() {
        // numpy.percentile([1, 2, 3, 4], q) for q = 0, 10, 50, 90, 100.
        let v = [4.0, 1.0, 3.0, 2.0];
        for (q, want) in [
            (0.0, 1.0),
            (10.0, 1.3),
            (50.0, 2.5),
            (90.0, 3.7),
            (100.0, 4.0),
        ] {
            let got = percentile(&v, q).unwrap();
            assert!((got - want).abs() < 1e-12, "q {q}: {got} != {want}");
        }
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(median(&[5.0]), Some(5.0));
    }

    #[test]
    fn windows_and_crossings() {
        let c = curve(&[0.9, 0.7, 0.5, 0.6]);
        assert_eq!(window_mean(&c, 1, 2), Some(0.8));
        assert_eq!(window_mean(&c, 5, 9), None);
        assert_eq!(best_until(&c, 4), Some(0.5));
        assert!(reached(&c, 4) && !reached(&c, 5));
        assert!(crossed(&c, 4) && !crossed(&c, 3));
        let skipping = Curve::new(vec![2, 9], vec![0.5, 0.4], false);
        assert!(crossed(&skipping, 5) && crossed(&skipping, 9) && !crossed(&skipping, 2));
    }
}
