//! Tolerance-style reward terms, as in the DeepMind Control Suite's `rewards.tolerance`.
//!
//! `tolerance(x, lower, upper, margin, sigmoid, value_at_margin)` is 1 inside `[lower, upper]`;
//! outside, with `d = distance to the nearest bound / margin`, it is `sigmoid(d)`, a function
//! that falls from 1 at `d = 0` to `value_at_margin` at `d = 1`:
//!
//! | sigmoid | value at `d` (with `s` chosen so that `d = 1` gives `value_at_margin = v`) |
//! |---|---|
//! | [`Sigmoid::Gaussian`] | `exp(−(d s)² / 2)`, `s = √(−2 ln v)` |
//! | [`Sigmoid::LongTail`] | `1 / ((d s)² + 1)`, `s = √(1/v − 1)` |
//! | [`Sigmoid::Quadratic`] | `1 − (d s)²` for `|d s| < 1`, else 0; `s = √(1 − v)` |
//! | [`Sigmoid::Linear`] | `1 − d s` for `|d s| < 1`, else 0; `s = 1 − v` |
//!
//! With `margin = 0` the term is the indicator of `[lower, upper]`.

/// The shape of a tolerance term's fall-off outside its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sigmoid {
    /// Gaussian bump.
    Gaussian,
    /// Cauchy-like heavy tail.
    LongTail,
    /// Inverted parabola, exactly 0 beyond the margin (with `value_at_margin = 0`).
    Quadratic,
    /// Linear ramp, exactly 0 beyond the margin (with `value_at_margin = 0`).
    Linear,
}

/// The DM Control tolerance term (see the module docs). `value_at_margin` must lie in `(0, 1)`
/// for the Gaussian and long-tail shapes and in `[0, 1)` for the others.
pub fn tolerance(x: f64, lower: f64, upper: f64, margin: f64, sigmoid: Sigmoid, value_at_margin: f64) -> f64 {
    if (lower..=upper).contains(&x) {
        return 1.0;
    }
    if margin <= 0.0 {
        return 0.0;
    }
    let d = if x < lower { lower - x } else { x - upper } / margin;
    let v = value_at_margin;
    match sigmoid {
        Sigmoid::Gaussian => {
            let s = (-2.0 * v.ln()).sqrt();
            (-0.5 * (d * s) * (d * s)).exp()
        }
        Sigmoid::LongTail => {
            let s = (1.0 / v - 1.0).sqrt();
            1.0 / ((d * s) * (d * s) + 1.0)
        }
        Sigmoid::Quadratic => {
            let ds = d * (1.0 - v).sqrt();
            if ds.abs() < 1.0 { 1.0 - ds * ds } else { 0.0 }
        }
        Sigmoid::Linear => {
            let ds = d * (1.0 - v);
            if ds.abs() < 1.0 { 1.0 - ds } else { 0.0 }
        }
    }
}

/// DM Control's control-cost factor, `(4 + tolerance(u, 0, 0, 1, quadratic, 0)) / 5` averaged over
/// the action components `u ∈ [−1, 1]`: 1 for zero action, 0.8 at full action.
pub fn small_control(action: &[f64]) -> f64 {
    if action.is_empty() {
        return 1.0;
    }
    let mean = action.iter().map(|&u| tolerance(u, 0.0, 0.0, 1.0, Sigmoid::Quadratic, 0.0)).sum::<f64>()
        / action.len() as f64;
    (4.0 + mean) / 5.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_bounds_is_one_and_margin_gives_value_at_margin() {
        for s in [Sigmoid::Gaussian, Sigmoid::LongTail, Sigmoid::Quadratic, Sigmoid::Linear] {
            assert_eq!(tolerance(0.5, 0.0, 1.0, 2.0, s, 0.1), 1.0);
            assert_eq!(tolerance(1.0, 0.0, 1.0, 2.0, s, 0.1), 1.0);
            // One margin beyond either bound: value_at_margin.
            assert!((tolerance(3.0, 0.0, 1.0, 2.0, s, 0.1) - 0.1).abs() < 1e-12, "{s:?}");
            assert!((tolerance(-2.0, 0.0, 1.0, 2.0, s, 0.1) - 0.1).abs() < 1e-12, "{s:?}");
            // Monotone outside.
            assert!(tolerance(1.5, 0.0, 1.0, 2.0, s, 0.1) > tolerance(2.5, 0.0, 1.0, 2.0, s, 0.1));
        }
        assert_eq!(tolerance(1.5, 0.0, 1.0, 0.0, Sigmoid::Gaussian, 0.1), 0.0);
    }

    #[test]
    fn closed_forms() {
        // Gaussian with v = e^{-1/2}: s = 1, so d = 0.5 gives exp(-1/8).
        let v = (-0.5f64).exp();
        assert!((tolerance(1.5, 0.0, 1.0, 1.0, Sigmoid::Gaussian, v) - (-0.125f64).exp()).abs() < 1e-12);
        // Quadratic with v = 0: 1 - d², zero beyond the margin.
        assert!((tolerance(0.5, 0.0, 0.0, 1.0, Sigmoid::Quadratic, 0.0) - 0.75).abs() < 1e-12);
        assert_eq!(tolerance(1.5, 0.0, 0.0, 1.0, Sigmoid::Quadratic, 0.0), 0.0);
        assert!((small_control(&[1.0, 0.0]) - (4.0 + 0.5) / 5.0).abs() < 1e-12);
        assert_eq!(small_control(&[0.0]), 1.0);
    }
}
