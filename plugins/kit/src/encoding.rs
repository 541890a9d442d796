//! Snapping encoded points onto the space's grid, for arms that refine candidates
//! continuously: a one-hot group keeps only its largest column, an integer lands on an
//! integer, a preordered parameter on one of its options; everything is clamped to [0, 1].

use hpo_plugin_api::space::{ParamKind, SpaceSpec};

/// Snaps `point` (encoded, `space.encoded_dims()` long) in place.
pub fn snap(space: &SpaceSpec, point: &mut [f64]) {
    for p in &space.params {
        let at = p.offset as usize;
        let w = p.width as usize;
        match p.kind {
            ParamKind::Continuous => point[at] = point[at].clamp(0.0, 1.0),
            ParamKind::Integer => {
                let u = point[at].clamp(0.0, 1.0);
                point[at] = if p.log {
                    let (lo, hi) = (p.lower.ln(), p.upper.ln());
                    let v = (lo + u * (hi - lo)).exp().round().clamp(p.lower, p.upper);
                    if hi > lo {
                        (v.ln() - lo) / (hi - lo)
                    } else {
                        0.0
                    }
                } else {
                    let steps = (p.upper - p.lower).max(0.0);
                    if steps == 0.0 {
                        0.0
                    } else {
                        (u * steps).round() / steps
                    }
                };
            }
            ParamKind::Categorical => {
                let group = &mut point[at..at + w];
                let k = group
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                    .map_or(0, |(i, _)| i);
                for (i, v) in group.iter_mut().enumerate() {
                    *v = if i == k { 1.0 } else { 0.0 };
                }
            }
            ParamKind::Preordered => {
                let k = p.options.len().max(1);
                point[at] = if k == 1 {
                    0.0
                } else {
                    (point[at].clamp(0.0, 1.0) * (k - 1) as f64).round() / (k - 1) as f64
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpo_plugin_api::space::ParamSpec;

    fn param(
        kind: ParamKind,
        offset: u32,
        width: u32,
        lower: f64,
        upper: f64,
        log: bool,
        options: usize,
    ) -> ParamSpec {
        ParamSpec {
            name: format!("p{offset}"),
            kind,
            offset,
            width,
            log,
            lower,
            upper,
            options: (0..options).map(|i| i.to_string()).collect(),
        }
    }

    #[test]
    fn snaps_every_kind_onto_its_grid() {
        let space = SpaceSpec {
            params: vec![
                param(ParamKind::Continuous, 0, 1, 0.0, 1.0, false, 0),
                param(ParamKind::Integer, 1, 1, 1.0, 3.0, false, 0),
                param(ParamKind::Categorical, 2, 3, 0.0, 0.0, false, 3),
                param(ParamKind::Preordered, 5, 1, 0.0, 0.0, false, 5),
                param(ParamKind::Integer, 6, 1, 8.0, 256.0, true, 0),
            ],
        };
        let mut x = vec![1.3, 0.3, 0.2, 0.7, 0.1, 0.6, 0.5];
        snap(&space, &mut x);
        assert_eq!(&x[..6], &[1.0, 0.5, 0.0, 1.0, 0.0, 0.5]);
        // 8·32^0.5 = 45.25… rounds to 45: encoded (ln 45 − ln 8)/(ln 256 − ln 8).
        let expect = (45f64.ln() - 8f64.ln()) / (256f64.ln() - 8f64.ln());
        assert!((x[6] - expect).abs() < 1e-12);
        let again = x.clone();
        snap(&space, &mut x);
        assert_eq!(x, again, "snapping is idempotent");
    }
}
