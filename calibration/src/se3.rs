//! SO(3) and SE(3) helpers over nalgebra: exponential and logarithm maps, geodesic distances,
//! interpolation, rotation averaging and conversions with explicit conventions.
//!
//! # Conventions
//!
//! - Units: radians for angles, metres for translations (any consistent length unit works; nothing
//!   here assumes metres except the docs).
//! - Frames: `T_a_b: Isometry3<f64>` maps coordinates in frame `b` to coordinates in frame `a`,
//!   `p_a = T_a_b * p_b`, so poses compose as `T_world_sensor = T_world_body * T_body_sensor`. A body
//!   pose is `T_world_body`, an extrinsic is `T_body_sensor`.
//! - Rotations are [`UnitQuaternion<f64>`]; `q` and `-q` are the same rotation and every function
//!   here treats them identically (distances, logarithms, interpolation and averages are
//!   antipodal-safe).
//! - Tangent vectors: `phi ∈ R³` is a rotation vector (axis times angle, radians). An SE(3) twist is
//!   the 6-vector `xi = [rho; phi]`, translation part first, and
//!   `exp(xi) = (exp(phi), V(phi) rho)` with `V` the left Jacobian of SO(3) ([`so3_left_jacobian`]).
//! - Quaternion coefficient order is always in the name: [`quat_wxyz`] / [`from_quat_wxyz`]
//!   (scalar first; Hamilton, Eigen's constructor, the Bingham module) and [`quat_xyzw`] /
//!   [`from_quat_xyzw`] (scalar last; ROS messages, Eigen's `coeffs()`, SciPy).
//! - Roll-pitch-yaw: `R = Rz(yaw) · Ry(pitch) · Rx(roll)` (ZYX intrinsic, equivalently XYZ
//!   extrinsic; the ROS/nalgebra convention), see [`rpy`].

use nalgebra::{
    Isometry3, Matrix3, Matrix4, Quaternion, Rotation3, SymmetricEigen, Translation3, Unit, UnitQuaternion,
    Vector3, Vector4, Vector6,
};

/// Angles below this use series expansions instead of closed forms with cancellation.
const SERIES_ANGLE: f64 = 0.5;

/// Why a conversion or an average could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Se3Error {
    /// An input contained NaN or an infinity.
    #[error("input contains a non-finite value")]
    NonFinite,
    /// A quaternion of (near) zero norm cannot be normalised.
    #[error("quaternion has zero norm")]
    ZeroNorm,
    /// A 3×3 block with a non-positive determinant is a reflection, not a rotation.
    #[error("matrix is not a rotation (determinant {0} <= 0)")]
    NotARotation(f64),
    /// A 4×4 matrix whose last row is not `[0, 0, 0, 1]` (within 1e-9).
    #[error("matrix is not a homogeneous rigid transform (last row {0:?})")]
    NotHomogeneous([f64; 4]),
    /// Averaging needs at least one rotation.
    #[error("cannot average an empty set of rotations")]
    Empty,
    /// Weights must match the rotations in number, be finite, non-negative and not all zero.
    #[error("invalid weights: {0}")]
    InvalidWeights(&'static str),
}

/// The skew-symmetric (cross-product) matrix `[v]×` with `[v]× w = v × w`.
pub fn skew(v: &Vector3<f64>) -> Matrix3<f64> {
    Matrix3::new(0.0, -v.z, v.y, v.z, 0.0, -v.x, -v.y, v.x, 0.0)
}

/// The inverse of [`skew`]: the vector of the skew-symmetric part of `m`, `(m - mᵀ)/2`.
pub fn vee(m: &Matrix3<f64>) -> Vector3<f64> {
    Vector3::new(m[(2, 1)] - m[(1, 2)], m[(0, 2)] - m[(2, 0)], m[(1, 0)] - m[(0, 1)]) * 0.5
}

/// SO(3) exponential: the rotation by `|phi|` radians about `phi/|phi|` (Rodrigues), exact at 0.
pub fn so3_exp(phi: &Vector3<f64>) -> UnitQuaternion<f64> {
    let theta = phi.norm();
    // sin(θ/2)/θ, with its Taylor series near 0 (θ=0 would divide by zero).
    let k = if theta < 1e-3 {
        let t2 = theta * theta;
        0.5 - t2 / 48.0 + t2 * t2 / 3840.0
    } else {
        (0.5 * theta).sin() / theta
    };
    UnitQuaternion::new_unchecked(Quaternion::new((0.5 * theta).cos(), k * phi.x, k * phi.y, k * phi.z))
}

/// SO(3) logarithm: the rotation vector `phi` with `|phi| ∈ [0, π]` and `so3_exp(phi) = q`.
///
/// `q` and `-q` give the same result. At exactly π the two opposite vectors are both valid; the
/// one along the quaternion's vector part (after making `w ≥ 0`) is returned.
pub fn so3_log(q: &UnitQuaternion<f64>) -> Vector3<f64> {
    let (w, v) = (q.w, q.imag());
    // Pick the representative with w >= 0 so the angle is in [0, π].
    let (w, v) = if w < 0.0 { (-w, -v) } else { (w, v) };
    let n = v.norm();
    // phi = θ v/|v| with θ = 2 atan2(|v|, w); series of 2 atan2(n, w)/n for small n.
    let k = if n < 1e-8 { 2.0 / w * (1.0 - n * n / (3.0 * w * w)) } else { 2.0 * n.atan2(w) / n };
    v * k
}

/// The left Jacobian `V(phi)` of SO(3), which maps a twist's `rho` to the translation of
/// [`se3_exp`]: `V = I + (1−cos θ)/θ² K + (θ−sin θ)/θ³ K²`, `K = [phi]×`, `θ = |phi|`.
pub fn so3_left_jacobian(phi: &Vector3<f64>) -> Matrix3<f64> {
    let theta = phi.norm();
    let (a, b) =
        if theta < SERIES_ANGLE { jacobian_coeffs_series(theta) } else { jacobian_coeffs_closed(theta) };
    let k = skew(phi);
    Matrix3::identity() + k * a + k * k * b
}

/// `((1 − cos θ)/θ², (θ − sin θ)/θ³)` by their Taylor series
/// `Σ (−1)^k θ^{2k}/(2k+2)!` and `Σ (−1)^k θ^{2k}/(2k+3)!` (7 terms: below 1e-19 at θ = 0.5).
fn jacobian_coeffs_series(theta: f64) -> (f64, f64) {
    let t2 = theta * theta;
    let a = alternating_series(t2, &[2.0, 24.0, 720.0, 40320.0, 3628800.0, 479001600.0, 87178291200.0]);
    let b =
        alternating_series(t2, &[6.0, 120.0, 5040.0, 362880.0, 39916800.0, 6227020800.0, 1307674368000.0]);
    (a, b)
}

/// The closed forms of [`jacobian_coeffs_series`] (`1 − cos θ = 2 sin²(θ/2)` avoids one
/// cancellation; `θ − sin θ` cancels, hence the series below [`SERIES_ANGLE`]).
fn jacobian_coeffs_closed(theta: f64) -> (f64, f64) {
    let h = (0.5 * theta).sin();
    (2.0 * h * h / (theta * theta), (theta - theta.sin()) / (theta * theta * theta))
}

/// The inverse of [`so3_left_jacobian`]: `V⁻¹ = I − K/2 + (1 − (θ/2) cot(θ/2))/θ² K²`; finite for
/// `|phi| < 2π` (the logarithm only produces `|phi| ≤ π`).
pub fn so3_left_jacobian_inv(phi: &Vector3<f64>) -> Matrix3<f64> {
    let theta = phi.norm();
    let c = if theta < SERIES_ANGLE { inverse_coeff_series(theta) } else { inverse_coeff_closed(theta) };
    let k = skew(phi);
    Matrix3::identity() - k * 0.5 + k * k * c
}

/// `(1 − (θ/2) cot(θ/2))/θ² = Σ_{n≥1} |B_2n| θ^{2n−2}/(2n)!` (B the Bernoulli numbers, from the
/// series of `x cot x`), 8 terms: the next is below 1e-19 at θ = 0.5.
fn inverse_coeff_series(theta: f64) -> f64 {
    const C: [f64; 8] = [
        1.0 / 12.0,
        1.0 / 720.0,
        1.0 / 30240.0,
        1.0 / 1209600.0,
        1.0 / 47900160.0,
        691.0 / 1307674368000.0,
        1.0 / 74724249600.0,
        3617.0 / 10670622842880000.0,
    ];
    let t2 = theta * theta;
    C.iter().rev().fold(0.0, |acc, c| acc * t2 + c)
}

/// The closed form of [`inverse_coeff_series`].
fn inverse_coeff_closed(theta: f64) -> f64 {
    let half = 0.5 * theta;
    (1.0 - half * half.cos() / half.sin()) / (theta * theta)
}

/// `Σ_k (−1)^k x^k / d_k` for the given denominators.
fn alternating_series(x: f64, denominators: &[f64]) -> f64 {
    denominators.iter().rev().fold(0.0, |acc, d| 1.0 / d - x * acc)
}

/// SE(3) exponential of the twist `xi = [rho; phi]` (metres, radians): `T = (exp(phi), V(phi) rho)`.
pub fn se3_exp(xi: &Vector6<f64>) -> Isometry3<f64> {
    let rho = xi.fixed_rows::<3>(0).into_owned();
    let phi = xi.fixed_rows::<3>(3).into_owned();
    Isometry3::from_parts(Translation3::from(so3_left_jacobian(&phi) * rho), so3_exp(&phi))
}

/// SE(3) logarithm: the twist `[rho; phi]` with `|phi| ≤ π` and `se3_exp(se3_log(T)) = T`.
pub fn se3_log(t: &Isometry3<f64>) -> Vector6<f64> {
    let phi = so3_log(&t.rotation);
    let rho = so3_left_jacobian_inv(&phi) * t.translation.vector;
    Vector6::new(rho.x, rho.y, rho.z, phi.x, phi.y, phi.z)
}

/// The rotation angle of `q` in radians, in `[0, π]` (same for `q` and `-q`).
pub fn rotation_angle(q: &UnitQuaternion<f64>) -> f64 {
    2.0 * q.imag().norm().atan2(q.w.abs())
}

/// Geodesic distance on SO(3) in radians, in `[0, π]`: the angle of `a⁻¹ b`. Antipodal-safe
/// (`d(a, b) = d(a, -b)`) and accurate near 0 and π (uses `atan2`, not `acos`).
pub fn rotation_distance(a: &UnitQuaternion<f64>, b: &UnitQuaternion<f64>) -> f64 {
    rotation_angle(&(a.inverse() * b))
}

/// Spherical linear interpolation along the shortest geodesic: `a · exp(s · log(a⁻¹ b))`;
/// `s = 0` gives `a`, `s = 1` gives `b` (up to sign), other `s` extrapolate.
pub fn slerp(a: &UnitQuaternion<f64>, b: &UnitQuaternion<f64>, s: f64) -> UnitQuaternion<f64> {
    a * so3_exp(&(so3_log(&(a.inverse() * b)) * s))
}

/// Interpolates poses `T_world_a`, `T_world_b` (same frames): rotation by [`slerp`], translation
/// linearly, `t = (1 − s) t_a + s t_b`.
pub fn interpolate(a: &Isometry3<f64>, b: &Isometry3<f64>, s: f64) -> Isometry3<f64> {
    let t = a.translation.vector * (1.0 - s) + b.translation.vector * s;
    Isometry3::from_parts(Translation3::from(t), slerp(&a.rotation, &b.rotation, s))
}

/// Checks weights and returns them normalised to sum 1 (uniform when `None`).
fn normalised_weights(n: usize, weights: Option<&[f64]>) -> Result<Vec<f64>, Se3Error> {
    if n == 0 {
        return Err(Se3Error::Empty);
    }
    let w = match weights {
        None => vec![1.0; n],
        Some(w) if w.len() != n => return Err(Se3Error::InvalidWeights("length differs from rotations")),
        Some(w) if w.iter().any(|x| !x.is_finite() || *x < 0.0) => {
            return Err(Se3Error::InvalidWeights("weights must be finite and non-negative"));
        }
        Some(w) => w.to_vec(),
    };
    let s: f64 = w.iter().sum();
    if s <= 0.0 {
        return Err(Se3Error::InvalidWeights("weights sum to zero"));
    }
    Ok(w.into_iter().map(|x| x / s).collect())
}

/// Chordal L2 mean of rotations (Markley et al. 2007): the rotation minimising
/// `Σ w_i ‖R − R_i‖²_F`, found as the eigenvector of the largest eigenvalue of `Σ w_i q_i q_iᵀ`
/// (4×4, quaternions in any sign). Weights default to uniform.
pub fn chordal_mean(
    rotations: &[UnitQuaternion<f64>],
    weights: Option<&[f64]>,
) -> Result<UnitQuaternion<f64>, Se3Error> {
    let w = normalised_weights(rotations.len(), weights)?;
    let mut acc = Matrix4::<f64>::zeros();
    for (q, wi) in rotations.iter().zip(&w) {
        let v = Vector4::new(q.w, q.i, q.j, q.k);
        if !v.iter().all(|x| x.is_finite()) {
            return Err(Se3Error::NonFinite);
        }
        acc += v * v.transpose() * *wi;
    }
    let eig = SymmetricEigen::new(acc);
    let best = eig.eigenvalues.imax();
    let v = eig.eigenvectors.column(best);
    Ok(UnitQuaternion::new_normalize(Quaternion::new(v[0], v[1], v[2], v[3])))
}

/// Result of [`karcher_mean`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KarcherMean {
    /// The geodesic (Karcher / Fréchet) mean.
    pub rotation: UnitQuaternion<f64>,
    /// Gauss–Newton iterations run.
    pub iterations: usize,
    /// Norm (radians) of the last update step; below `tol` when converged.
    pub last_step: f64,
    /// Whether `last_step < tol` was reached within `max_iters`.
    pub converged: bool,
}

/// Geodesic L2 (Karcher) mean: minimises `Σ w_i d(R, R_i)²` with `d` the geodesic angle, by the
/// fixed-point iteration `R ← R · exp(Σ w_i log(R⁻¹ R_i))` started at the [`chordal_mean`].
/// Stops when the step is below `tol` radians or after `max_iters` iterations. The mean is unique
/// when all rotations lie within a geodesic ball of radius π/2.
pub fn karcher_mean(
    rotations: &[UnitQuaternion<f64>],
    weights: Option<&[f64]>,
    tol: f64,
    max_iters: usize,
) -> Result<KarcherMean, Se3Error> {
    let w = normalised_weights(rotations.len(), weights)?;
    let mut mean = chordal_mean(rotations, Some(&w))?;
    let mut last_step = f64::INFINITY;
    for it in 0..max_iters {
        let inv = mean.inverse();
        let step: Vector3<f64> = rotations.iter().zip(&w).map(|(q, wi)| so3_log(&(inv * q)) * *wi).sum();
        last_step = step.norm();
        mean *= so3_exp(&step);
        mean.renormalize();
        if last_step < tol {
            return Ok(KarcherMean { rotation: mean, iterations: it + 1, last_step, converged: true });
        }
    }
    Ok(KarcherMean { rotation: mean, iterations: max_iters, last_step, converged: false })
}

/// The 3×3 rotation matrix of `q`.
pub fn rotation_matrix(q: &UnitQuaternion<f64>) -> Matrix3<f64> {
    q.to_rotation_matrix().into_inner()
}

/// The rotation closest to `m` in Frobenius norm (SVD projection `U Vᵀ`), so slightly
/// non-orthogonal input (e.g. parsed from text) is accepted. Errors on non-finite input or a
/// reflection (`det m ≤ 0`).
pub fn from_rotation_matrix(m: &Matrix3<f64>) -> Result<UnitQuaternion<f64>, Se3Error> {
    if !m.iter().all(|x| x.is_finite()) {
        return Err(Se3Error::NonFinite);
    }
    let det = m.determinant();
    if det <= 0.0 {
        return Err(Se3Error::NotARotation(det));
    }
    let svd = m.svd(true, true);
    let (u, v_t) = (svd.u.expect("u requested"), svd.v_t.expect("v_t requested"));
    let mut r = u * v_t;
    if r.determinant() < 0.0 {
        // Only possible for nearly singular input: flip the least significant direction.
        let mut d = Matrix3::identity();
        let smallest = svd.singular_values.imin();
        d[(smallest, smallest)] = -1.0;
        r = u * d * v_t;
    }
    Ok(UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(r)))
}

/// The homogeneous 4×4 matrix `[R t; 0 1]` of `T_a_b` (maps homogeneous points of `b` to `a`).
pub fn to_matrix4(t: &Isometry3<f64>) -> Matrix4<f64> {
    t.to_homogeneous()
}

/// The rigid transform of a homogeneous 4×4 matrix `[R t; 0 1]`; the rotation block goes through
/// [`from_rotation_matrix`]. The last row must be `[0, 0, 0, 1]` within 1e-9.
pub fn from_matrix4(m: &Matrix4<f64>) -> Result<Isometry3<f64>, Se3Error> {
    if !m.iter().all(|x| x.is_finite()) {
        return Err(Se3Error::NonFinite);
    }
    let last = [m[(3, 0)], m[(3, 1)], m[(3, 2)], m[(3, 3)]];
    if last.iter().zip([0.0, 0.0, 0.0, 1.0]).any(|(a, b)| (a - b).abs() > 1e-9) {
        return Err(Se3Error::NotHomogeneous(last));
    }
    let r = from_rotation_matrix(&m.fixed_view::<3, 3>(0, 0).into_owned())?;
    let t = Vector3::new(m[(0, 3)], m[(1, 3)], m[(2, 3)]);
    Ok(Isometry3::from_parts(Translation3::from(t), r))
}

/// Quaternion coefficients in scalar-first order `[w, x, y, z]`.
pub fn quat_wxyz(q: &UnitQuaternion<f64>) -> [f64; 4] {
    [q.w, q.i, q.j, q.k]
}

/// Quaternion coefficients in scalar-last order `[x, y, z, w]` (ROS, Eigen `coeffs()`, SciPy).
pub fn quat_xyzw(q: &UnitQuaternion<f64>) -> [f64; 4] {
    [q.i, q.j, q.k, q.w]
}

/// The rotation of scalar-first coefficients `[w, x, y, z]`, normalised. Errors on non-finite
/// input or a norm below 1e-12.
pub fn from_quat_wxyz(c: [f64; 4]) -> Result<UnitQuaternion<f64>, Se3Error> {
    let [w, x, y, z] = c;
    checked_unit(Quaternion::new(w, x, y, z))
}

/// The rotation of scalar-last coefficients `[x, y, z, w]`, normalised. Errors on non-finite
/// input or a norm below 1e-12.
pub fn from_quat_xyzw(c: [f64; 4]) -> Result<UnitQuaternion<f64>, Se3Error> {
    let [x, y, z, w] = c;
    checked_unit(Quaternion::new(w, x, y, z))
}

fn checked_unit(q: Quaternion<f64>) -> Result<UnitQuaternion<f64>, Se3Error> {
    if !q.coords.iter().all(|x| x.is_finite()) {
        return Err(Se3Error::NonFinite);
    }
    if q.norm() < 1e-12 {
        return Err(Se3Error::ZeroNorm);
    }
    Ok(UnitQuaternion::new_normalize(q))
}

/// Roll-pitch-yaw `[roll, pitch, yaw]` in radians with `R = Rz(yaw) · Ry(pitch) · Rx(roll)`
/// (ZYX intrinsic). Ranges: roll, yaw ∈ (−π, π], pitch ∈ [−π/2, π/2]. At gimbal lock
/// (`|pitch| = π/2`) only `yaw ∓ roll` is determined; roll is set to 0 there.
pub fn rpy(q: &UnitQuaternion<f64>) -> [f64; 3] {
    let r = rotation_matrix(q);
    // R[2,0] = −sin(pitch), R[1,0] = sin(yaw) cos(pitch), R[0,0] = cos(yaw) cos(pitch).
    let cp = r[(0, 0)].hypot(r[(1, 0)]);
    let pitch = (-r[(2, 0)]).atan2(cp);
    if cp > 1e-12 {
        let yaw = r[(1, 0)].atan2(r[(0, 0)]);
        // Roll from Rz(−yaw) R = Ry(pitch) Rx(roll), whose row 1 is (0, cos roll, −sin roll): entries
        // of size 1, so roll stays accurate near gimbal lock and absorbs any error of yaw there
        // (atan2 of R[2,1], R[2,2] would divide rounding errors by cos(pitch)).
        let (sy, cy) = yaw.sin_cos();
        let roll = (sy * r[(0, 2)] - cy * r[(1, 2)]).atan2(cy * r[(1, 1)] - sy * r[(0, 1)]);
        [roll, pitch, yaw]
    } else {
        // cos(pitch) = 0: R[0,1] = −sin(yaw ∓ roll), R[1,1] = cos(yaw ∓ roll); take roll = 0.
        [0.0, pitch, (-r[(0, 1)]).atan2(r[(1, 1)])]
    }
}

/// The rotation `Rz(yaw) · Ry(pitch) · Rx(roll)` (radians), the inverse of [`rpy`].
pub fn from_rpy(roll: f64, pitch: f64, yaw: f64) -> UnitQuaternion<f64> {
    let rz = so3_exp(&(Vector3::z() * yaw));
    let ry = so3_exp(&(Vector3::y() * pitch));
    let rx = so3_exp(&(Vector3::x() * roll));
    rz * ry * rx
}

/// Axis and angle (radians, in `[0, π]`) of `q`; the axis is `+x` for the identity.
pub fn axis_angle(q: &UnitQuaternion<f64>) -> (Unit<Vector3<f64>>, f64) {
    let phi = so3_log(q);
    let angle = phi.norm();
    if angle > 0.0 { (Unit::new_unchecked(phi / angle), angle) } else { (Vector3::x_axis(), 0.0) }
}

/// The rotation by `angle` radians about `axis` (right-handed).
pub fn from_axis_angle(axis: &Unit<Vector3<f64>>, angle: f64) -> UnitQuaternion<f64> {
    so3_exp(&(axis.into_inner() * angle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::f64::consts::{FRAC_PI_2, PI};

    /// Unit axes from a cube, rejecting near-zero vectors.
    fn axis() -> impl Strategy<Value = Unit<Vector3<f64>>> {
        (-1.0..1.0f64, -1.0..1.0f64, -1.0..1.0f64)
            .prop_filter("non-degenerate axis", |(x, y, z)| x * x + y * y + z * z > 1e-3)
            .prop_map(|(x, y, z)| Unit::new_normalize(Vector3::new(x, y, z)))
    }

    /// Angles in [0, π] with extra weight at the hard ends: exactly 0, tiny, near and at π.
    fn angle() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(0.0),
            0.0..1e-6f64,
            1e-6..1e-2f64,
            0.0..PI,
            (PI - 1e-3)..PI,
            (0.0..1e-7f64).prop_map(|e| PI - e),
            Just(PI),
        ]
    }

    fn rotation() -> impl Strategy<Value = UnitQuaternion<f64>> {
        (axis(), angle(), any::<bool>()).prop_map(|(a, t, flip)| {
            let q = UnitQuaternion::from_axis_angle(&a, t);
            // Either sign of the quaternion must be handled.
            if flip { UnitQuaternion::new_unchecked(-q.into_inner()) } else { q }
        })
    }

    fn pose() -> impl Strategy<Value = Isometry3<f64>> {
        (rotation(), -100.0..100.0f64, -100.0..100.0f64, -100.0..100.0f64)
            .prop_map(|(r, x, y, z)| Isometry3::from_parts(Translation3::new(x, y, z), r))
    }

    fn same_rotation(a: &UnitQuaternion<f64>, b: &UnitQuaternion<f64>, tol: f64) -> bool {
        rotation_distance(a, b) <= tol
    }

    fn same_pose(a: &Isometry3<f64>, b: &Isometry3<f64>, tol: f64) -> bool {
        let scale = 1.0 + a.translation.vector.norm();
        same_rotation(&a.rotation, &b.rotation, tol)
            && (a.translation.vector - b.translation.vector).norm() <= tol * scale
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn so3_exp_of_log_is_identity(q in rotation()) {
            let phi = so3_log(&q);
            prop_assert!(phi.norm() <= PI + 1e-12);
            prop_assert!(same_rotation(&so3_exp(&phi), &q, 1e-12));
            // Matches nalgebra's own axis-angle construction.
            let qa = UnitQuaternion::from_scaled_axis(phi);
            prop_assert!(same_rotation(&qa, &q, 1e-12));
        }

        #[test]
        fn so3_log_of_exp_is_identity_below_pi(a in axis(), t in angle()) {
            // Unique inverse only for angles strictly below π.
            let t = t.min(PI - 1e-6);
            let phi = a.into_inner() * t;
            prop_assert!((so3_log(&so3_exp(&phi)) - phi).norm() <= 1e-12 * (1.0 + t));
        }

        #[test]
        fn se3_exp_of_log_is_identity(t in pose()) {
            let xi = se3_log(&t);
            prop_assert!(same_pose(&se3_exp(&xi), &t, 1e-10));
        }

        #[test]
        fn se3_log_of_exp_is_identity_below_pi(
            a in axis(), t in angle(), r in (-50.0..50.0f64, -50.0..50.0f64, -50.0..50.0f64)
        ) {
            let t = t.min(PI - 1e-3);
            let phi = a.into_inner() * t;
            let xi = Vector6::new(r.0, r.1, r.2, phi.x, phi.y, phi.z);
            let back = se3_log(&se3_exp(&xi));
            prop_assert!((back - xi).norm() <= 1e-9 * (1.0 + xi.norm()), "{back} vs {xi}");
        }

        #[test]
        fn left_jacobian_inverse_is_inverse(a in axis(), t in angle()) {
            let phi = a.into_inner() * t;
            let p = so3_left_jacobian(&phi) * so3_left_jacobian_inv(&phi);
            prop_assert!((p - Matrix3::identity()).norm() < 1e-12);
        }

        #[test]
        fn distance_is_antipodal_safe_and_symmetric(a in rotation(), b in rotation()) {
            let d = rotation_distance(&a, &b);
            prop_assert!((0.0..=PI + 1e-12).contains(&d));
            let neg_b = UnitQuaternion::new_unchecked(-b.into_inner());
            prop_assert!((rotation_distance(&a, &neg_b) - d).abs() < 1e-12);
            prop_assert!((rotation_distance(&b, &a) - d).abs() < 1e-12);
            // Against the angle of the relative rotation matrix, acos((tr − 1)/2), away from its
            // ill-conditioned ends.
            let tr = (rotation_matrix(&a).transpose() * rotation_matrix(&b)).trace();
            let d_acos = ((tr - 1.0) / 2.0).clamp(-1.0, 1.0).acos();
            if d > 1e-3 && d < PI - 1e-3 {
                prop_assert!((d_acos - d).abs() < 1e-9);
            }
        }

        #[test]
        fn interpolation_hits_endpoints_and_is_geodesic(a in pose(), b in pose(), s in 0.0..1.0f64) {
            prop_assert!(same_pose(&interpolate(&a, &b, 0.0), &a, 1e-10));
            let d = rotation_distance(&a.rotation, &b.rotation);
            let m = interpolate(&a, &b, s);
            if d < PI - 1e-6 {
                // At exactly π the shortest path is not unique, so only check below it.
                prop_assert!(same_pose(&interpolate(&a, &b, 1.0), &b, 1e-9));
                prop_assert!((rotation_distance(&a.rotation, &m.rotation) - s * d).abs() < 1e-9);
                prop_assert!((rotation_distance(&m.rotation, &b.rotation) - (1.0 - s) * d).abs() < 1e-9);
            }
            let t = a.translation.vector * (1.0 - s) + b.translation.vector * s;
            prop_assert!((m.translation.vector - t).norm() < 1e-9);
        }

        #[test]
        fn quaternion_conventions_round_trip(q in rotation()) {
            let wxyz = quat_wxyz(&q);
            let xyzw = quat_xyzw(&q);
            prop_assert_eq!([xyzw[3], xyzw[0], xyzw[1], xyzw[2]], wxyz);
            prop_assert!(same_rotation(&from_quat_wxyz(wxyz).unwrap(), &q, 1e-12));
            prop_assert!(same_rotation(&from_quat_xyzw(xyzw).unwrap(), &q, 1e-12));
        }

        #[test]
        fn matrix_conversions_round_trip(t in pose()) {
            let m = to_matrix4(&t);
            prop_assert!(same_pose(&from_matrix4(&m).unwrap(), &t, 1e-12));
            let r = rotation_matrix(&t.rotation);
            prop_assert!(same_rotation(&from_rotation_matrix(&r).unwrap(), &t.rotation, 1e-12));
            // p_a = T_a_b p_b agrees between the matrix and the isometry.
            let p = nalgebra::Point3::new(0.3, -1.2, 2.0);
            let ph = m * p.to_homogeneous();
            prop_assert!(((t * p).coords - ph.xyz()).norm() < 1e-9);
        }

        #[test]
        fn rpy_round_trips_and_matches_nalgebra(
            r in -PI..PI, p in -FRAC_PI_2..FRAC_PI_2, y in -PI..PI
        ) {
            let q = from_rpy(r, p, y);
            let na = UnitQuaternion::from_euler_angles(r, p, y);
            prop_assert!(same_rotation(&q, &na, 1e-12));
            let [r2, p2, y2] = rpy(&q);
            prop_assert!(same_rotation(&from_rpy(r2, p2, y2), &q, 1e-12));
            if p.abs() < FRAC_PI_2 - 1e-3 {
                prop_assert!((r2 - r).abs() < 1e-9 && (p2 - p).abs() < 1e-9 && (y2 - y).abs() < 1e-9);
            }
        }

        #[test]
        fn axis_angle_round_trips(q in rotation()) {
            let (axis, angle) = axis_angle(&q);
            prop_assert!((0.0..=PI + 1e-12).contains(&angle));
            prop_assert!(same_rotation(&from_axis_angle(&axis, angle), &q, 1e-12));
        }
    }

    #[test]
    fn rpy_hand_computed_cases() {
        // roll = 90°, yaw = 90°: Rz(90°) Rx(90°) = [[0,0,1],[1,0,0],[0,1,0]] (worked out by hand:
        // Rx(90°) sends y→z, z→−y; Rz(90°) sends x→y, y→−x).
        let q = from_rpy(FRAC_PI_2, 0.0, FRAC_PI_2);
        let expected = Matrix3::new(0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0);
        assert!((rotation_matrix(&q) - expected).norm() < 1e-15);
        let [r, p, y] = rpy(&q);
        assert!((r - FRAC_PI_2).abs() < 1e-15 && p.abs() < 1e-15 && (y - FRAC_PI_2).abs() < 1e-15);

        // roll = 0.1, pitch = 0.2, yaw = 0.3 from the closed form
        // R = [[cy cp, cy sp sr − sy cr, cy sp cr + sy sr],
        //      [sy cp, sy sp sr + cy cr, sy sp cr − cy sr],
        //      [−sp,   cp sr,            cp cr]].
        let (sr, cr) = 0.1f64.sin_cos();
        let (sp, cp) = 0.2f64.sin_cos();
        let (sy, cy) = 0.3f64.sin_cos();
        let expected = Matrix3::new(
            cy * cp,
            cy * sp * sr - sy * cr,
            cy * sp * cr + sy * sr,
            sy * cp,
            sy * sp * sr + cy * cr,
            sy * sp * cr - cy * sr,
            -sp,
            cp * sr,
            cp * cr,
        );
        let q = from_rpy(0.1, 0.2, 0.3);
        assert!((rotation_matrix(&q) - expected).norm() < 1e-15);
        // Numbers, to 1e-9: first row and last row.
        let m = rotation_matrix(&q);
        for (got, want) in [(m[(0, 0)], 0.936_293_363_584_199), (m[(2, 0)], -0.198_669_330_795_061)] {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        let [r, p, y] = rpy(&q);
        assert!((r - 0.1).abs() < 1e-14 && (p - 0.2).abs() < 1e-14 && (y - 0.3).abs() < 1e-14);

        // Near gimbal lock the angles are ill-conditioned but the rotation must round-trip to
        // rounding (first case found by proptest: roll from R[2,1], R[2,2] lost 1e-10 here).
        for (r, p, y) in [(0.0, -1.5707928958747885, 0.831950400886618), (0.3, FRAC_PI_2 - 1e-9, -2.0)] {
            let q = from_rpy(r, p, y);
            let [r2, p2, y2] = rpy(&q);
            assert!(same_rotation(&from_rpy(r2, p2, y2), &q, 1e-14), "{r2} {p2} {y2}");
        }

        // Gimbal lock: pitch = 90°, the rotation survives the round trip.
        let q = from_rpy(0.4, FRAC_PI_2, -0.7);
        let [r, p, y] = rpy(&q);
        assert_eq!(r, 0.0);
        assert!((p - FRAC_PI_2).abs() < 1e-7);
        assert!(same_rotation(&from_rpy(r, p, y), &q, 1e-7));
    }

    #[test]
    fn se3_exp_hand_computed_case() {
        // Pure rotation of π/2 about z with rho = (1, 0, 0): t = V rho, with
        // V = I + (1 − cos θ)/θ² K + (θ − sin θ)/θ³ K², θ = π/2, K = skew(z θ):
        // V (1,0,0) = (sin θ/θ, (1 − cos θ)/θ, 0) = (2/π, 2/π, 0).
        let xi = Vector6::new(1.0, 0.0, 0.0, 0.0, 0.0, FRAC_PI_2);
        let t = se3_exp(&xi);
        let expected = Vector3::new(2.0 / PI, 2.0 / PI, 0.0);
        assert!((t.translation.vector - expected).norm() < 1e-15);
        assert!((rotation_angle(&t.rotation) - FRAC_PI_2).abs() < 1e-15);
        // Pure translation: exp is the translation itself.
        let t = se3_exp(&Vector6::new(1.0, -2.0, 3.0, 0.0, 0.0, 0.0));
        assert_eq!(t.translation.vector, Vector3::new(1.0, -2.0, 3.0));
        assert_eq!(t.rotation, UnitQuaternion::identity());
    }

    #[test]
    fn series_and_closed_forms_agree_at_the_switch() {
        // Both branches at the same angles around the switch (the closed forms lose at most a few
        // ulps to cancellation there; a missing series term would show as ~1e-12).
        for theta in [0.35, 0.45, SERIES_ANGLE, 0.6] {
            let (a, b) = jacobian_coeffs_series(theta);
            let (ac, bc) = jacobian_coeffs_closed(theta);
            let (c, cc) = (inverse_coeff_series(theta), inverse_coeff_closed(theta));
            for (x, y) in [(a, ac), (b, bc), (c, cc)] {
                assert!((x - y).abs() <= 2e-14 * y.abs(), "θ = {theta}: {x} vs {y}");
            }
        }
        for theta in [SERIES_ANGLE * (1.0 - 1e-12), SERIES_ANGLE * (1.0 + 1e-12)] {
            let phi = Vector3::new(0.6, -0.8, 0.0) * theta;
            let p = so3_left_jacobian(&phi) * so3_left_jacobian_inv(&phi);
            assert!((p - Matrix3::identity()).norm() < 1e-15);
        }
        // Tiny angles: V ≈ I + K/2.
        let phi = Vector3::new(1e-9, 2e-9, -1e-9);
        assert!((so3_left_jacobian(&phi) - (Matrix3::identity() + skew(&phi) * 0.5)).norm() < 1e-18);
        assert_eq!(jacobian_coeffs_series(0.0), (0.5, 1.0 / 6.0));
        assert_eq!(inverse_coeff_series(0.0), 1.0 / 12.0);
    }

    #[test]
    fn conversions_reject_bad_input() {
        assert_eq!(from_quat_wxyz([0.0; 4]), Err(Se3Error::ZeroNorm));
        assert_eq!(from_quat_xyzw([f64::NAN, 0.0, 0.0, 1.0]), Err(Se3Error::NonFinite));
        let reflection = Matrix3::from_diagonal(&Vector3::new(1.0, 1.0, -1.0));
        assert!(matches!(from_rotation_matrix(&reflection), Err(Se3Error::NotARotation(_))));
        let mut m = Matrix4::identity();
        m[(3, 0)] = 0.5;
        assert!(matches!(from_matrix4(&m), Err(Se3Error::NotHomogeneous(_))));
        // A slightly perturbed rotation is projected back onto SO(3).
        let r = rotation_matrix(&from_rpy(0.3, -0.2, 1.0));
        let q = from_rotation_matrix(&(r + Matrix3::repeat(1e-6))).unwrap();
        assert!(rotation_distance(&q, &from_rpy(0.3, -0.2, 1.0)) < 1e-5);
        assert_eq!(chordal_mean(&[], None), Err(Se3Error::Empty));
        let q1 = [UnitQuaternion::identity()];
        assert!(matches!(chordal_mean(&q1, Some(&[1.0, 2.0])), Err(Se3Error::InvalidWeights(_))));
        assert!(matches!(chordal_mean(&q1, Some(&[0.0])), Err(Se3Error::InvalidWeights(_))));
    }

    /// A standard normal draw (Box–Muller) from a seeded PCG.
    fn normal(rng: &mut rand_pcg::Pcg64) -> f64 {
        use rand::Rng;
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }

    #[test]
    fn averaging_recovers_a_known_rotation_from_noisy_samples() {
        use rand::SeedableRng;
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let truth = from_rpy(0.7, -1.1, 2.5);
        let sigma = 0.1; // radians per axis
        let n = 2000;
        let samples: Vec<UnitQuaternion<f64>> = (0..n)
            .map(|i| {
                let noise = Vector3::new(normal(&mut rng), normal(&mut rng), normal(&mut rng)) * sigma;
                let q = truth * so3_exp(&noise);
                // Random signs must not matter.
                if i % 2 == 0 { UnitQuaternion::new_unchecked(-q.into_inner()) } else { q }
            })
            .collect();
        // Isotropic noise: both means are unbiased; the error of the mean is about
        // σ·sqrt(3/n) ≈ 3.9e-3 rad, so 0.015 rad is about 4 standard errors.
        let chordal = chordal_mean(&samples, None).unwrap();
        let karcher = karcher_mean(&samples, None, 1e-12, 50).unwrap();
        assert!(karcher.converged, "{karcher:?}");
        assert!(rotation_distance(&chordal, &truth) < 0.015);
        assert!(rotation_distance(&karcher.rotation, &truth) < 0.015);
        // The Karcher mean is a zero of the mean log map.
        let inv = karcher.rotation.inverse();
        let g: Vector3<f64> = samples.iter().map(|q| so3_log(&(inv * q))).sum::<Vector3<f64>>() / n as f64;
        assert!(g.norm() < 1e-10);

        // Noise-free samples symmetric about the truth average exactly to it.
        let e = Vector3::new(0.3, 0.0, 0.0);
        let pair = [truth * so3_exp(&e), truth * so3_exp(&(-e))];
        assert!(rotation_distance(&chordal_mean(&pair, None).unwrap(), &truth) < 1e-12);
        assert!(rotation_distance(&karcher_mean(&pair, None, 1e-14, 20).unwrap().rotation, &truth) < 1e-12);

        // Weights: all the weight on one sample returns it.
        let w = [0.0, 1.0];
        assert!(rotation_distance(&chordal_mean(&pair, Some(&w)).unwrap(), &pair[1]) < 1e-12);
        assert!(
            rotation_distance(&karcher_mean(&pair, Some(&w), 1e-14, 20).unwrap().rotation, &pair[1]) < 1e-12
        );
    }
}
