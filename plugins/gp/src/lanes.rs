//! The GP's inner loops (dot products, squared distances, scaled updates) in interleaved
//! lanes: four or eight elements per loop iteration.
//!
//! A plain `iter().sum()` is one chain of dependent additions: the compiler may not
//! reorder floating-point additions, so it can neither vectorize nor overlap them, and each
//! costs a full add latency. Independent lanes (added pairwise at the end) vectorize
//! into SIMD registers natively and in wasm (simd128), and a quarter or an eighth of the
//! loop back-edges remain, which matters in wasm where every back-edge also checks the engine's
//! deadline. The order of the additions is fixed, so native and wasm builds give the same
//! bits. Hand-written because the sizes here (a few to a few hundred terms, called millions
//! of times per proposal) are below what a BLAS call amortizes.

/// Σᵢ term(aᵢ, bᵢ, cᵢ) over the common length, in `W` lanes (a power of two) added
/// pairwise at the end.
#[inline(always)]
fn lane_sum<const W: usize>(
    a: &[f64],
    b: &[f64],
    c: &[f64],
    term: impl Fn(f64, f64, f64) -> f64,
) -> f64 {
    let n = a.len().min(b.len()).min(c.len());
    let (a, b, c) = (&a[..n], &b[..n], &c[..n]);
    let mut lanes = [0.0; W];
    let (aw, bw, cw) = (a.chunks_exact(W), b.chunks_exact(W), c.chunks_exact(W));
    let (a_rest, b_rest, c_rest) = (aw.remainder(), bw.remainder(), cw.remainder());
    for ((x, y), z) in aw.zip(bw).zip(cw) {
        for k in 0..W {
            lanes[k] += term(x[k], y[k], z[k]);
        }
    }
    let mut rest = 0.0;
    for ((x, y), z) in a_rest.iter().zip(b_rest).zip(c_rest) {
        rest += term(*x, *y, *z);
    }
    let mut width = W;
    while width > 1 {
        width /= 2;
        for k in 0..width {
            lanes[k] += lanes[k + width];
        }
    }
    lanes[0] + rest
}

/// Σ aᵢbᵢ, in eight lanes (the long sums: over the observations).
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    lane_sum::<8>(a, b, b, |x, y, _| x * y)
}

/// Σ (aᵢ − bᵢ)².
pub fn sq_euclidean(a: &[f64], b: &[f64]) -> f64 {
    lane_sum::<4>(a, b, b, |x, y, _| (x - y) * (x - y))
}

/// Σ (aᵢ − bᵢ)²·wᵢ.
pub fn weighted_sq_distance(a: &[f64], b: &[f64], w: &[f64]) -> f64 {
    lane_sum::<4>(a, b, w, |x, y, w| (x - y) * (x - y) * w)
}

/// y ← y − a·x over the common length, eight elements per loop iteration.
pub fn sub_scaled(y: &mut [f64], a: f64, x: &[f64]) {
    let n = y.len().min(x.len());
    let (y, x) = (&mut y[..n], &x[..n]);
    let x_rest = x.chunks_exact(8).remainder();
    let mut y4 = y.chunks_exact_mut(8);
    for (yc, xc) in (&mut y4).zip(x.chunks_exact(8)) {
        for k in 0..8 {
            yc[k] -= a * xc[k];
        }
    }
    for (yv, xv) in y4.into_remainder().iter_mut().zip(x_rest) {
        *yv -= a * xv;
    }
}

/// out₀ ← out₀ − s₀·(a − b)∘w and out₁ ← out₁ − s₁·(a − b)∘w over the common length, four
/// elements per loop iteration (the GP's mean and variance gradients share the differences).
pub fn sub_scaled_differences(
    out: [&mut [f64]; 2],
    scales: [f64; 2],
    a: &[f64],
    b: &[f64],
    w: &[f64],
) {
    let [out0, out1] = out;
    let n = out0
        .len()
        .min(out1.len())
        .min(a.len())
        .min(b.len())
        .min(w.len());
    let (out0, out1, a, b, w) = (&mut out0[..n], &mut out1[..n], &a[..n], &b[..n], &w[..n]);
    let [s0, s1] = scales;
    let update = |o0: &mut [f64], o1: &mut [f64], a: &[f64], b: &[f64], w: &[f64]| {
        for k in 0..o0.len() {
            let d = (a[k] - b[k]) * w[k];
            o0[k] -= s0 * d;
            o1[k] -= s1 * d;
        }
    };
    let whole = n / 4 * 4;
    let (head0, tail0) = out0.split_at_mut(whole);
    let (head1, tail1) = out1.split_at_mut(whole);
    for ((((o0, o1), a), b), w) in head0
        .chunks_exact_mut(4)
        .zip(head1.chunks_exact_mut(4))
        .zip(a.chunks_exact(4))
        .zip(b.chunks_exact(4))
        .zip(w.chunks_exact(4))
    {
        update(o0, o1, a, b, w);
    }
    update(tail0, tail1, &a[whole..], &b[whole..], &w[whole..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_equal_the_plain_sums_at_every_length() {
        for n in 0..23 {
            let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos() - 0.3).collect();
            let plain_dot: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            let plain_sq: f64 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
            let plain_weighted: f64 = a
                .iter()
                .zip(&b)
                .enumerate()
                .map(|(i, (x, y))| (x - y) * (x - y) * (1.0 + i as f64))
                .sum();
            let w: Vec<f64> = (0..n).map(|i| 1.0 + i as f64).collect();
            assert!(
                (weighted_sq_distance(&a, &b, &w) - plain_weighted).abs()
                    <= 1e-14 * plain_weighted.max(1.0)
            );
            assert!((dot(&a, &b) - plain_dot).abs() <= 1e-14 * plain_dot.abs().max(1.0));
            assert!((sq_euclidean(&a, &b) - plain_sq).abs() <= 1e-14 * plain_sq.max(1.0));
        }
        // Unequal lengths: the common prefix.
        let mut y: Vec<f64> = (0..11).map(|i| i as f64).collect();
        sub_scaled(&mut y, 2.0, &[1.0; 9]);
        assert_eq!(
            y,
            [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 9.0, 10.0]
        );
        let (mut g0, mut g1) = (vec![0.0; 6], vec![1.0; 6]);
        let (a, b, w) = ([1.0; 6], [0.5; 6], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        sub_scaled_differences([&mut g0, &mut g1], [2.0, -1.0], &a, &b, &w);
        assert_eq!(g0, [-1.0, -2.0, -3.0, -4.0, -5.0, -6.0]);
        assert_eq!(g1, [1.5, 2.0, 2.5, 3.0, 3.5, 4.0]);
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[4.0, 5.0]), 14.0);
    }
}
