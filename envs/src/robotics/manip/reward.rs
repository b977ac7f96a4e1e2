//! Tolerance-style reward terms (after the DeepMind Control Suite's `rewards.tolerance`).

/// Value of [`tolerance`] at distance `margin` outside the bounds.
pub const VALUE_AT_MARGIN: f32 = 0.1;

/// `1` when `lower <= x <= upper`; outside, a long-tailed falloff of the distance `d` to the
/// nearer bound: `1 / ((d / margin · s)² + 1)` with `s = sqrt(1 / 0.1 − 1) = 3`, so the value is
/// [`VALUE_AT_MARGIN`] at `d = margin` and stays positive (a gradient everywhere). Either bound may
/// be infinite. A non-positive `margin` gives `0` outside the bounds.
pub fn tolerance(x: f32, lower: f32, upper: f32, margin: f32) -> f32 {
    if (lower..=upper).contains(&x) {
        return 1.0;
    }
    if margin <= 0.0 || !x.is_finite() {
        return 0.0;
    }
    let d = if x < lower { lower - x } else { x - upper } / margin;
    let s = (1.0 / VALUE_AT_MARGIN - 1.0).sqrt();
    1.0 / ((d * s) * (d * s) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_inside_tenth_at_margin_and_monotone_outside() {
        assert_eq!(tolerance(0.3, 0.0, 0.5, 1.0), 1.0);
        assert_eq!(tolerance(2.0, 1.0, f32::INFINITY, 0.5), 1.0);
        assert!((tolerance(1.5, 0.0, 0.5, 1.0) - 0.1).abs() < 1e-6);
        assert!((tolerance(-2.0, -1.0, 0.0, 1.0) - 0.1).abs() < 1e-6);
        let mut last = 1.0;
        for i in 1..50 {
            let v = tolerance(0.5 + i as f32 * 0.1, 0.0, 0.5, 1.0);
            assert!(v < last && v > 0.0);
            last = v;
        }
        assert_eq!(tolerance(2.0, 0.0, 1.0, 0.0), 0.0);
        assert_eq!(tolerance(f32::NAN, 0.0, 1.0, 1.0), 0.0);
    }
}
