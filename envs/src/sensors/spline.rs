//! Uniform cubic B-splines for smooth body motion: [`CubicBSpline`] in R³ and
//! [`CumulativeSo3Spline`] on SO(3).
//!
//! Both splines share the knot layout: control point `k` belongs to knot time `t0 + k·Δt`, and with
//! `n ≥ 4` control points the spline is defined on `[t0, t0 + (n − 3)·Δt]`, split into `n − 3`
//! segments. In segment `i` (times `[t0 + i·Δt, t0 + (i + 1)·Δt]`, local parameter
//! `u = (t − t0)/Δt − i ∈ [0, 1]`) the curve depends on control points `i..=i + 3`. Both curves
//! are C² (value, first and second derivative continuous); the third derivative jumps at knots.
//!
//! Rotation uses the *cumulative* B-spline on SO(3) (Kim, Kim & Shin 1995; Sommer et al.,
//! "Efficient derivative computation for cumulative B-splines on Lie groups", CVPR 2020):
//!
//! ```text
//! R(t) = R_i · Exp(λ₁(u)·d₁) · Exp(λ₂(u)·d₂) · Exp(λ₃(u)·d₃),   d_j = Log(R_{i+j−1}ᵀ · R_{i+j})
//! λ₁ = (5 + 3u − 3u² + u³)/6,  λ₂ = (1 + 3u + 3u² − 2u³)/6,  λ₃ = u³/6
//! ```
//!
//! The body angular velocity (`Rᵀ·Ṙ = [ω]×`) and its derivative follow exactly by the recursion
//! `ω⁽ʲ⁾ = A_jᵀ ω⁽ʲ⁻¹⁾ + λ̇_j d_j`, `ω̇⁽ʲ⁾ = A_jᵀ ω̇⁽ʲ⁻¹⁾ + λ̈_j d_j + λ̇_j ω⁽ʲ⁾ × d_j` with
//! `A_j = Exp(λ_j d_j)`, `ω⁽⁰⁾ = ω̇⁽⁰⁾ = 0`; no finite differences are involved.
//!
//! Outside the defined interval the first or last segment's polynomial in `u` is continued (`u < 0`
//! or `u > 1`); the curves stay smooth but are no longer B-spline blends.

use nalgebra::{UnitQuaternion, Vector3};

/// Uniform cubic B-spline basis `b_k(u)`, `k = 0..4`, and its first and second derivatives in `u`.
fn basis(u: f64) -> ([f64; 4], [f64; 4], [f64; 4]) {
    let (u2, u3) = (u * u, u * u * u);
    let v = 1.0 - u;
    let b = [
        v * v * v / 6.0,
        (3.0 * u3 - 6.0 * u2 + 4.0) / 6.0,
        (-3.0 * u3 + 3.0 * u2 + 3.0 * u + 1.0) / 6.0,
        u3 / 6.0,
    ];
    let db = [-v * v / 2.0, (3.0 * u2 - 4.0 * u) / 2.0, (-3.0 * u2 + 2.0 * u + 1.0) / 2.0, u2 / 2.0];
    let ddb = [v, 3.0 * u - 2.0, -3.0 * u + 1.0, u];
    (b, db, ddb)
}

/// Cumulative basis `λ_j(u) = Σ_{k ≥ j} b_k(u)` for `j = 1..=3`, with first and second derivatives.
fn cumulative_basis(u: f64) -> ([f64; 3], [f64; 3], [f64; 3]) {
    let (u2, u3) = (u * u, u * u * u);
    let v = 1.0 - u;
    let l = [(5.0 + 3.0 * u - 3.0 * u2 + u3) / 6.0, (1.0 + 3.0 * u + 3.0 * u2 - 2.0 * u3) / 6.0, u3 / 6.0];
    let dl = [v * v / 2.0, (1.0 + 2.0 * u - 2.0 * u2) / 2.0, u2 / 2.0];
    let ddl = [u - 1.0, 1.0 - 2.0 * u, u];
    (l, dl, ddl)
}

/// Knot layout shared by both spline kinds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Knots {
    t0: f64,
    dt: f64,
    segments: usize,
}

impl Knots {
    fn new(t0: f64, dt: f64, control_points: usize) -> Self {
        assert!(dt.is_finite() && dt > 0.0, "knot interval must be positive and finite, got {dt}");
        assert!(t0.is_finite(), "start time must be finite, got {t0}");
        assert!(
            control_points >= 4,
            "a cubic B-spline needs at least 4 control points, got {control_points}"
        );
        Knots { t0, dt, segments: control_points - 3 }
    }
    /// Segment index (clamped to the defined segments) and local parameter `u` (not clamped).
    fn locate(&self, t: f64) -> (usize, f64) {
        let s = (t - self.t0) / self.dt;
        let i = if s <= 0.0 { 0 } else { (s.floor() as usize).min(self.segments - 1) };
        (i, s - i as f64)
    }
    fn end(&self) -> f64 {
        self.t0 + self.segments as f64 * self.dt
    }
}

/// Value, first and second time derivative of a spline at one time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplineSample {
    /// Value `p(t)`.
    pub value: Vector3<f64>,
    /// First time derivative `ṗ(t)`.
    pub first: Vector3<f64>,
    /// Second time derivative `p̈(t)`.
    pub second: Vector3<f64>,
}

/// Uniform cubic B-spline in R³ (positions in metres, say); see the [module docs](self).
#[derive(Debug, Clone, PartialEq)]
pub struct CubicBSpline {
    knots: Knots,
    points: Vec<Vector3<f64>>,
}

impl CubicBSpline {
    /// Spline with control point `k` at knot time `t0 + k·knot_interval`.
    ///
    /// # Panics
    /// With fewer than 4 control points, or a non-positive or non-finite knot interval.
    pub fn new(t0: f64, knot_interval: f64, points: Vec<Vector3<f64>>) -> Self {
        CubicBSpline { knots: Knots::new(t0, knot_interval, points.len()), points }
    }
    /// Control points.
    pub fn control_points(&self) -> &[Vector3<f64>] {
        &self.points
    }
    /// Knot interval `Δt` (seconds).
    pub fn knot_interval(&self) -> f64 {
        self.knots.dt
    }
    /// Start of the defined interval.
    pub fn start_time(&self) -> f64 {
        self.knots.t0
    }
    /// End of the defined interval, `t0 + (n − 3)·Δt`.
    pub fn end_time(&self) -> f64 {
        self.knots.end()
    }
    /// Number of segments, `n − 3`.
    pub fn segment_count(&self) -> usize {
        self.knots.segments
    }
    /// Value and exact time derivatives at time `t`.
    pub fn evaluate(&self, t: f64) -> SplineSample {
        let (i, u) = self.knots.locate(t);
        self.evaluate_segment(i, u)
    }
    /// Value and exact time derivatives in segment `i` at local parameter `u`.
    ///
    /// # Panics
    /// If `i >= segment_count()`.
    pub fn evaluate_segment(&self, i: usize, u: f64) -> SplineSample {
        assert!(i < self.knots.segments, "segment {i} out of range ({} segments)", self.knots.segments);
        let (b, db, ddb) = basis(u);
        let inv = 1.0 / self.knots.dt;
        let mut out =
            SplineSample { value: Vector3::zeros(), first: Vector3::zeros(), second: Vector3::zeros() };
        for k in 0..4 {
            let c = &self.points[i + k];
            out.value += c * b[k];
            out.first += c * (db[k] * inv);
            out.second += c * (ddb[k] * inv * inv);
        }
        out
    }
    /// Value at time `t`.
    pub fn value(&self, t: f64) -> Vector3<f64> {
        self.evaluate(t).value
    }
}

/// Rotation, body angular velocity and body angular acceleration at one time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotationSample {
    /// `R(t)` (e.g. `R_world_body`).
    pub rotation: UnitQuaternion<f64>,
    /// Body-frame angular velocity `ω` with `Rᵀ·Ṙ = [ω]×` (rad/s).
    pub angular_velocity: Vector3<f64>,
    /// Its time derivative `ω̇` (rad/s², body frame).
    pub angular_acceleration: Vector3<f64>,
}

/// Cumulative uniform cubic B-spline on SO(3); see the [module docs](self).
#[derive(Debug, Clone, PartialEq)]
pub struct CumulativeSo3Spline {
    knots: Knots,
    rotations: Vec<UnitQuaternion<f64>>,
    /// `deltas[k] = Log(R_kᵀ R_{k+1})`, `k = 0..n − 1`.
    deltas: Vec<Vector3<f64>>,
}

impl CumulativeSo3Spline {
    /// Spline with control rotation `k` at knot time `t0 + k·knot_interval`. Consecutive control
    /// rotations should differ by less than π (the relative rotation is taken through `Log`).
    ///
    /// # Panics
    /// With fewer than 4 control rotations, or a non-positive or non-finite knot interval.
    pub fn new(t0: f64, knot_interval: f64, rotations: Vec<UnitQuaternion<f64>>) -> Self {
        let knots = Knots::new(t0, knot_interval, rotations.len());
        let deltas = rotations.windows(2).map(|w| (w[0].inverse() * w[1]).scaled_axis()).collect();
        CumulativeSo3Spline { knots, rotations, deltas }
    }
    /// Control rotations.
    pub fn control_rotations(&self) -> &[UnitQuaternion<f64>] {
        &self.rotations
    }
    /// Knot interval `Δt` (seconds).
    pub fn knot_interval(&self) -> f64 {
        self.knots.dt
    }
    /// Start of the defined interval.
    pub fn start_time(&self) -> f64 {
        self.knots.t0
    }
    /// End of the defined interval, `t0 + (n − 3)·Δt`.
    pub fn end_time(&self) -> f64 {
        self.knots.end()
    }
    /// Number of segments, `n − 3`.
    pub fn segment_count(&self) -> usize {
        self.knots.segments
    }
    /// Rotation and exact body angular velocity / acceleration at time `t`.
    pub fn evaluate(&self, t: f64) -> RotationSample {
        let (i, u) = self.knots.locate(t);
        self.evaluate_segment(i, u)
    }
    /// Rotation and exact body angular velocity / acceleration in segment `i` at parameter `u`.
    ///
    /// # Panics
    /// If `i >= segment_count()`.
    pub fn evaluate_segment(&self, i: usize, u: f64) -> RotationSample {
        assert!(i < self.knots.segments, "segment {i} out of range ({} segments)", self.knots.segments);
        let (l, dl, ddl) = cumulative_basis(u);
        let inv = 1.0 / self.knots.dt;
        let mut rotation = self.rotations[i];
        let mut omega = Vector3::zeros();
        let mut alpha = Vector3::zeros();
        for j in 0..3 {
            let d = &self.deltas[i + j];
            let a = UnitQuaternion::from_scaled_axis(d * l[j]);
            let a_inv = a.inverse();
            rotation *= a;
            let ldot = dl[j] * inv;
            let lddot = ddl[j] * inv * inv;
            omega = a_inv * omega + d * ldot;
            alpha = a_inv * alpha + d * lddot + omega.cross(d) * ldot;
        }
        RotationSample { rotation, angular_velocity: omega, angular_acceleration: alpha }
    }
    /// Rotation at time `t`.
    pub fn rotation(&self, t: f64) -> UnitQuaternion<f64> {
        self.evaluate(t).rotation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basis_partitions_unity_and_cumulative_matches() {
        for k in 0..=10 {
            let u = k as f64 / 10.0;
            let (b, db, ddb) = basis(u);
            assert!((b.iter().sum::<f64>() - 1.0).abs() < 1e-15);
            assert!(db.iter().sum::<f64>().abs() < 1e-15);
            assert!(ddb.iter().sum::<f64>().abs() < 1e-15);
            let (l, dl, ddl) = cumulative_basis(u);
            for j in 1..4 {
                let s: f64 = b[j..].iter().sum();
                let ds: f64 = db[j..].iter().sum();
                let dds: f64 = ddb[j..].iter().sum();
                assert!((l[j - 1] - s).abs() < 1e-15);
                assert!((dl[j - 1] - ds).abs() < 1e-15);
                assert!((ddl[j - 1] - dds).abs() < 1e-15);
            }
        }
    }

    #[test]
    fn constant_control_points_give_a_constant_curve() {
        let p = Vector3::new(1.0, -2.0, 3.0);
        let s = CubicBSpline::new(0.0, 0.5, vec![p; 6]);
        let e = s.evaluate(0.7);
        assert!((e.value - p).norm() < 1e-15 && e.first.norm() < 1e-14 && e.second.norm() < 1e-13);
        let q = UnitQuaternion::from_euler_angles(0.1, 0.2, 0.3);
        let r = CumulativeSo3Spline::new(0.0, 0.5, vec![q; 6]);
        let e = r.evaluate(0.7);
        assert!(e.rotation.angle_to(&q) < 1e-14 && e.angular_velocity.norm() < 1e-14);
    }
}
