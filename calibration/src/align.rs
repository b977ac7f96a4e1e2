//! Timestamp association and alignment of an estimated trajectory onto a reference, with the
//! semantics of the `evo` package (evo 1.38.1; `tests/evo_parity.rs` checks the numbers).
//!
//! # Frames
//! The reference's poses are `T_ref_frame` (the reference's world frame `ref`), the estimate's are
//! `T_est_frame` (the estimate's own world frame `est`, e.g. a SLAM map starting at identity). An
//! alignment is a similarity [`Sim3`] `S_ref_est = (R, t, s)` that maps points of the estimate's
//! world into the reference's world,
//!
//! ```text
//! p_ref = s · R · p_est + t,
//! ```
//!
//! and it is applied to an estimated pose `T_est_frame = (R_i, t_i)` as evo does it:
//! `T_ref_frame = (R · R_i, s · R · t_i + t)`. Frames keep unit scale: only positions are scaled.
//!
//! # Pipeline
//! 1. [`associate`]: match the two trajectories in time ([`Associated`]), or [`Associated::by_index`]
//!    for sequences that are already index-aligned (evo's KITTI mode).
//! 2. [`align`]: Umeyama SE(3) / Sim(3) on all or the first n pairs, scale only, or the first pose
//!    ([`Alignment`]); [`umeyama`] is the bare point-set solver.
//! 3. [`crate::metrics`]: APE / ATE and RPE on the aligned pairs.

use alignrl_envs::sensors::Trajectory;
use nalgebra::{
    DMatrix, Isometry3, Matrix3, Matrix4, Point3, Quaternion, Rotation3, Translation3, UnitQuaternion,
    Vector3, Vector4,
};

/// evo's default maximal time difference for associating two stamps (seconds).
pub const DEFAULT_MAX_DIFF: f64 = 0.01;

/// [`umeyama`] rejects point sets whose covariance has `σ₂ ≤ DEGENERACY_RATIO · σ₁` (singular values
/// in descending order): the points are (numerically) collinear or coincide, and the rotation about
/// their line is undetermined. Rounding leaves `σ₂/σ₁ ≈ 1e-16` on exactly collinear points.
pub const DEGENERACY_RATIO: f64 = 1e-12;

/// A borrowed view of stamped poses `T_world_frame(t_k)`: stamps in seconds, sorted ascending.
///
/// Unlike [`Trajectory`] it allows repeated stamps, as evo does: real files have them (the
/// shared `fr2_desk` ground truth and the `V102` estimate repeat stamps with different poses),
/// and evo associates each of the repeated poses. Every function here that takes poses takes
/// `impl Into<StampedPoses>`, so a `&Trajectory` can be passed directly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StampedPoses<'a> {
    stamps: &'a [f64],
    poses: &'a [Isometry3<f64>],
}

impl<'a> StampedPoses<'a> {
    /// Checks equal lengths and finite, non-decreasing stamps.
    pub fn new(stamps: &'a [f64], poses: &'a [Isometry3<f64>]) -> Result<Self, AlignError> {
        if stamps.len() != poses.len() {
            return Err(AlignError::StampCount { stamps: stamps.len(), poses: poses.len() });
        }
        if let Some(i) =
            (0..stamps.len()).find(|&i| !stamps[i].is_finite() || (i > 0 && stamps[i] < stamps[i - 1]))
        {
            return Err(AlignError::UnsortedStamps(i));
        }
        Ok(StampedPoses { stamps, poses })
    }
    /// Stamps (seconds).
    pub fn stamps(&self) -> &'a [f64] {
        self.stamps
    }
    /// Poses `T_world_frame`.
    pub fn poses(&self) -> &'a [Isometry3<f64>] {
        self.poses
    }
    /// Number of poses.
    pub fn len(&self) -> usize {
        self.poses.len()
    }
    /// Whether there are no poses.
    pub fn is_empty(&self) -> bool {
        self.poses.is_empty()
    }
}

impl<'a> From<&'a Trajectory> for StampedPoses<'a> {
    fn from(trajectory: &'a Trajectory) -> Self {
        StampedPoses { stamps: trajectory.stamps(), poses: trajectory.poses() }
    }
}

/// Why association or alignment failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlignError {
    /// No stamp of one trajectory lies within `max_diff` of a stamp of the other.
    #[error("no matching stamps within {max_diff} s (time offset of the estimate {offset} s)")]
    NoMatches {
        /// The maximal time difference (seconds).
        max_diff: f64,
        /// The offset added to the estimate's stamps (seconds).
        offset: f64,
    },
    /// `max_diff` is negative or not finite, or `offset` is not finite.
    #[error("invalid association settings: max_diff {max_diff} s, offset {offset} s")]
    InvalidSettings {
        /// The maximal time difference (seconds).
        max_diff: f64,
        /// The offset (seconds).
        offset: f64,
    },
    /// Stamps and poses differ in length.
    #[error("{stamps} stamps but {poses} poses")]
    StampCount {
        /// Number of stamps.
        stamps: usize,
        /// Number of poses.
        poses: usize,
    },
    /// A stamp is not finite or smaller than the one before it.
    #[error("stamp {0} is not finite or not in ascending order")]
    UnsortedStamps(usize),
    /// The two sequences differ in length where they must be matched index by index.
    #[error("{reference} reference poses but {estimate} estimate poses")]
    LengthMismatch {
        /// Number of reference poses or points.
        reference: usize,
        /// Number of estimate poses or points.
        estimate: usize,
    },
    /// Interpolation needs at least two poses.
    #[error("cannot interpolate a trajectory of {0} poses (need at least 2)")]
    TooShortToInterpolate(usize),
    /// Umeyama alignment needs at least three point pairs.
    #[error("Umeyama alignment needs at least 3 point pairs, got {0}")]
    TooFewPoints(usize),
    /// A point is NaN or infinite.
    #[error("point {0} is not finite")]
    NonFinite(usize),
    /// The points are collinear or coincide: the alignment is not unique.
    #[error("degenerate point set (collinear or coincident): covariance singular values {singular_values:?}")]
    Degenerate {
        /// The singular values of the cross-covariance, descending.
        singular_values: [f64; 3],
    },
}

/// How the poses of the denser trajectory are taken at the matched stamps (evo's `SyncMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMethod {
    /// The pose with the nearest stamp.
    #[default]
    NearestTime,
    /// Linear interpolation of the position and SLERP of the orientation at the sparser
    /// trajectory's matched stamps.
    Interpolation,
}

/// Settings of [`associate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AssociateOptions {
    /// Maximal absolute time difference of a matched pair (seconds); evo's default 0.01.
    pub max_diff: f64,
    /// Added to the estimate's stamps before matching (seconds): `t_ref ≈ t_est + offset`.
    pub offset: f64,
    /// Nearest pose or interpolation.
    pub method: SyncMethod,
}

impl Default for AssociateOptions {
    fn default() -> Self {
        AssociateOptions { max_diff: DEFAULT_MAX_DIFF, offset: 0.0, method: SyncMethod::NearestTime }
    }
}

/// A reference and an estimate matched pair by pair: `reference()[k]` and `estimate()[k]` are the
/// poses `T_ref_frame` and `T_est_frame` at (about) the same time. Each side keeps its own stamps
/// (in its own clock), and the index of the pose it was taken from in its original trajectory.
///
/// As in evo, a pose of the denser trajectory can appear in two pairs (when two stamps of the
/// sparser one are both nearest to it), so a side is a plain list rather than a [`Trajectory`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Associated {
    reference_stamps: Vec<f64>,
    reference: Vec<Isometry3<f64>>,
    reference_ids: Vec<usize>,
    estimate_stamps: Vec<f64>,
    estimate: Vec<Isometry3<f64>>,
    estimate_ids: Vec<usize>,
}

impl Associated {
    /// Pairs two trajectories of equal length index by index, without looking at the stamps
    /// (evo's KITTI mode).
    pub fn by_index<'r, 'e>(
        reference: impl Into<StampedPoses<'r>>,
        estimate: impl Into<StampedPoses<'e>>,
    ) -> Result<Associated, AlignError> {
        let (reference, estimate) = (reference.into(), estimate.into());
        if reference.len() != estimate.len() {
            return Err(AlignError::LengthMismatch { reference: reference.len(), estimate: estimate.len() });
        }
        let ids: Vec<usize> = (0..reference.len()).collect();
        Ok(Associated {
            reference_stamps: reference.stamps().to_vec(),
            reference: reference.poses().to_vec(),
            reference_ids: ids.clone(),
            estimate_stamps: estimate.stamps().to_vec(),
            estimate: estimate.poses().to_vec(),
            estimate_ids: ids,
        })
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.reference.len()
    }
    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.reference.is_empty()
    }
    /// Reference poses `T_ref_frame`.
    pub fn reference(&self) -> &[Isometry3<f64>] {
        &self.reference
    }
    /// Estimated poses `T_est_frame` (after [`align`]: `T_ref_frame` as the estimate has it).
    pub fn estimate(&self) -> &[Isometry3<f64>] {
        &self.estimate
    }
    /// Stamps of the reference poses (seconds, the reference's clock; interpolated poses carry the
    /// stamp they were interpolated at).
    pub fn reference_stamps(&self) -> &[f64] {
        &self.reference_stamps
    }
    /// Stamps of the estimated poses (seconds, the estimate's clock).
    pub fn estimate_stamps(&self) -> &[f64] {
        &self.estimate_stamps
    }
    /// Index of each reference pose in the original reference trajectory (for an interpolated side:
    /// the pose with the nearest stamp).
    pub fn reference_ids(&self) -> &[usize] {
        &self.reference_ids
    }
    /// Index of each estimated pose in the original estimate (for an interpolated side: the pose
    /// with the nearest stamp).
    pub fn estimate_ids(&self) -> &[usize] {
        &self.estimate_ids
    }
    /// Positions of the reference poses (metres, reference world frame).
    pub fn reference_positions(&self) -> Vec<Point3<f64>> {
        self.reference.iter().map(|p| Point3::from(p.translation.vector)).collect()
    }
    /// Positions of the estimated poses (metres).
    pub fn estimate_positions(&self) -> Vec<Point3<f64>> {
        self.estimate.iter().map(|p| Point3::from(p.translation.vector)).collect()
    }
    /// The same pairs with every estimated pose replaced by `f(pose)`.
    pub fn map_estimate(&self, f: impl Fn(&Isometry3<f64>) -> Isometry3<f64>) -> Associated {
        Associated { estimate: self.estimate.iter().map(f).collect(), ..self.clone() }
    }
}

/// evo's `matching_time_indices` on sorted stamps: for each stamp `a` of `stamps_1`, the stamp
/// `b = stamps_2[j] + offset_2` nearest to it, kept when `|a − b| ≤ max_diff`. Returns the matched
/// indices `(ids_1, ids_2)`, in the order of `stamps_1`.
///
/// Ties between the stamps just below and just above `a` go to the one below. Each stamp of
/// `stamps_1` is used at most once; a stamp of `stamps_2` may be matched twice. `stamps_2` must
/// be sorted ascending.
pub fn match_stamps(
    stamps_1: &[f64],
    stamps_2: &[f64],
    max_diff: f64,
    offset_2: f64,
) -> (Vec<usize>, Vec<usize>) {
    let (mut ids_1, mut ids_2) = (Vec::new(), Vec::new());
    if stamps_2.is_empty() {
        return (ids_1, ids_2);
    }
    let shifted: Vec<f64> = stamps_2.iter().map(|t| t + offset_2).collect();
    let (first, last) = (shifted[0], shifted[shifted.len() - 1]);
    for (i, &a) in stamps_1.iter().enumerate() {
        if a < first - max_diff || a > last + max_diff {
            continue;
        }
        // First stamp strictly after `a` (numpy's searchsorted, side="right"), clamped to the end.
        let upper = shifted.partition_point(|&b| b <= a).min(shifted.len() - 1);
        let diff_upper = shifted[upper] - a;
        let diff_lower = if upper > 0 { a - shifted[upper - 1] } else { f64::INFINITY };
        let best = if diff_upper <= max_diff && diff_upper < diff_lower {
            upper
        } else if diff_lower <= max_diff && diff_lower <= diff_upper {
            upper - 1
        } else {
            continue;
        };
        ids_1.push(i);
        ids_2.push(best);
    }
    (ids_1, ids_2)
}

/// Associates an estimate with a reference in time, as evo's `associate_trajectories(ref, est)`.
///
/// The sparser trajectory (the estimate when both have as many poses) is walked stamp by stamp
/// and each stamp is matched with [`match_stamps`] against the denser one, whose stamps are
/// shifted into the sparser one's clock (`t_est + offset` against `t_ref`). With
/// [`SyncMethod::Interpolation`] the denser trajectory is then resampled ([`interpolate`]) at the
/// matched stamps of the sparser one, converted back into its own clock.
pub fn associate<'r, 'e>(
    reference: impl Into<StampedPoses<'r>>,
    estimate: impl Into<StampedPoses<'e>>,
    options: &AssociateOptions,
) -> Result<Associated, AlignError> {
    let (reference, estimate) = (reference.into(), estimate.into());
    let AssociateOptions { max_diff, offset, method } = *options;
    if !(max_diff >= 0.0 && max_diff.is_finite() && offset.is_finite()) {
        return Err(AlignError::InvalidSettings { max_diff, offset });
    }
    let estimate_denser = estimate.len() > reference.len();
    let (sparse, dense, dense_offset) =
        if estimate_denser { (reference, estimate, offset) } else { (estimate, reference, -offset) };
    let (sparse_ids, dense_ids) = match_stamps(sparse.stamps(), dense.stamps(), max_diff, dense_offset);
    if sparse_ids.is_empty() {
        return Err(AlignError::NoMatches { max_diff, offset });
    }

    let sparse_stamps: Vec<f64> = sparse_ids.iter().map(|&i| sparse.stamps()[i]).collect();
    let sparse_poses: Vec<Isometry3<f64>> = sparse_ids.iter().map(|&i| sparse.poses()[i]).collect();
    let (dense_stamps, dense_poses) = match method {
        SyncMethod::NearestTime => (
            dense_ids.iter().map(|&i| dense.stamps()[i]).collect(),
            dense_ids.iter().map(|&i| dense.poses()[i]).collect(),
        ),
        SyncMethod::Interpolation => {
            // Back into the dense trajectory's clock (`a + (−b)`, as evo computes it).
            let stamps: Vec<f64> = sparse_stamps.iter().map(|t| t + -dense_offset).collect();
            let poses = interpolate(dense, &stamps)?;
            (stamps, poses)
        }
    };

    Ok(if estimate_denser {
        Associated {
            reference_stamps: sparse_stamps,
            reference: sparse_poses,
            reference_ids: sparse_ids,
            estimate_stamps: dense_stamps,
            estimate: dense_poses,
            estimate_ids: dense_ids,
        }
    } else {
        Associated {
            reference_stamps: dense_stamps,
            reference: dense_poses,
            reference_ids: dense_ids,
            estimate_stamps: sparse_stamps,
            estimate: sparse_poses,
            estimate_ids: sparse_ids,
        }
    })
}

/// Poses of `trajectory` at `stamps`, as evo's `PoseTrajectory3D.interpolate` (no extrapolation).
///
/// For a stamp `t` with neighbours `t_a ≤ t ≤ t_b` (the first stamp `≥ t` and the one before it),
/// `f = (t − t_a)/(t_b − t_a)` clamped to `[0, 1]`; the position is `p_a + f (p_b − p_a)` and the
/// orientation is the shortest-path SLERP `q_a (q_a⁻¹ q_b)^f`. Stamps outside the trajectory get its
/// first or last pose; `f = 0` on a repeated stamp.
pub fn interpolate<'a>(
    trajectory: impl Into<StampedPoses<'a>>,
    stamps: &[f64],
) -> Result<Vec<Isometry3<f64>>, AlignError> {
    let trajectory = trajectory.into();
    let n = trajectory.len();
    if n < 2 {
        return Err(AlignError::TooShortToInterpolate(n));
    }
    let (times, poses) = (trajectory.stamps(), trajectory.poses());
    Ok(stamps
        .iter()
        .map(|&t| {
            let b = times.partition_point(|&s| s < t).clamp(1, n - 1);
            let a = b - 1;
            // A repeated stamp (zero interval) gives the earlier pose.
            let dt = times[b] - times[a];
            let f = if dt > 0.0 { ((t - times[a]) / dt).clamp(0.0, 1.0) } else { 0.0 };
            let (pa, pb) = (poses[a].translation.vector, poses[b].translation.vector);
            let position = pa + (pb - pa) * f;
            let rotation = slerp(&poses[a].rotation, &poses[b].rotation, f);
            Isometry3::from_parts(Translation3::from(position), rotation)
        })
        .collect())
}

/// Shortest-path SLERP from `q0` (`f = 0`) to `q1` (`f = 1`):
/// `q = q0 sin((1−f)θ)/sin θ + q1' sin(fθ)/sin θ`, with `cos θ = |⟨q0, q1⟩|` and `q1' = ±q1` on the
/// same hemisphere as `q0`. Nearly equal quaternions (`|1 − |⟨q0, q1⟩|| < 4ε`) give `q0`, as in
/// evo's `quaternion_slerp`.
fn slerp(q0: &UnitQuaternion<f64>, q1: &UnitQuaternion<f64>, f: f64) -> UnitQuaternion<f64> {
    if f == 0.0 {
        return *q0;
    }
    if f == 1.0 {
        return *q1;
    }
    const EPS: f64 = 4.0 * f64::EPSILON;
    let (a, mut b): (Vector4<f64>, Vector4<f64>) = (q0.coords, q1.coords);
    let mut d = a.dot(&b);
    if (d.abs() - 1.0).abs() < EPS {
        return *q0;
    }
    if d < 0.0 {
        d = -d;
        b = -b;
    }
    let angle = d.acos();
    if angle.abs() < EPS {
        return *q0;
    }
    let inv_sin = 1.0 / angle.sin();
    let c = a * ((1.0 - f) * angle).sin() * inv_sin + b * (f * angle).sin() * inv_sin;
    UnitQuaternion::new_normalize(Quaternion::from(c))
}

/// A similarity `S_ref_est = (R, t, s)`: `p_ref = s R p_est + t` (see the module docs for how it
/// acts on poses).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sim3 {
    /// `R`: rotation from the estimate's world frame to the reference's.
    pub rotation: UnitQuaternion<f64>,
    /// `t`: translation in the reference frame (metres).
    pub translation: Vector3<f64>,
    /// `s > 0`: scale of the estimate's positions (1 for a rigid alignment).
    pub scale: f64,
}

impl Default for Sim3 {
    fn default() -> Self {
        Sim3::identity()
    }
}

impl Sim3 {
    /// `(I, 0, 1)`.
    pub fn identity() -> Sim3 {
        Sim3 { rotation: UnitQuaternion::identity(), translation: Vector3::zeros(), scale: 1.0 }
    }

    /// The rigid transform `T_ref_est` as a similarity of scale 1.
    pub fn from_isometry(t_ref_est: &Isometry3<f64>) -> Sim3 {
        Sim3 { rotation: t_ref_est.rotation, translation: t_ref_est.translation.vector, scale: 1.0 }
    }

    /// A pure scaling `(I, 0, s)`.
    pub fn from_scale(scale: f64) -> Sim3 {
        Sim3 { scale, ..Sim3::identity() }
    }

    /// `R` as a 3×3 matrix.
    pub fn rotation_matrix(&self) -> Matrix3<f64> {
        self.rotation.to_rotation_matrix().into_inner()
    }

    /// The rigid part `(R, t)` as `T_ref_est` (ignores the scale).
    pub fn isometry(&self) -> Isometry3<f64> {
        Isometry3::from_parts(Translation3::from(self.translation), self.rotation)
    }

    /// The 4×4 matrix `[[s R, t], [0, 1]]` (evo's `lie.sim3(R, t, s)`).
    pub fn to_homogeneous(&self) -> Matrix4<f64> {
        let mut m = Matrix4::identity();
        m.fixed_view_mut::<3, 3>(0, 0).copy_from(&(self.rotation_matrix() * self.scale));
        m.fixed_view_mut::<3, 1>(0, 3).copy_from(&self.translation);
        m
    }

    /// The inverse `S_est_ref = (Rᵀ, −Rᵀ t / s, 1/s)`.
    pub fn inverse(&self) -> Sim3 {
        let rotation = self.rotation.inverse();
        Sim3 { rotation, translation: -(rotation * self.translation) / self.scale, scale: 1.0 / self.scale }
    }

    /// `p_ref = s R p_est + t`.
    pub fn transform_point(&self, p_est: &Point3<f64>) -> Point3<f64> {
        Point3::from(self.rotation * (p_est.coords * self.scale) + self.translation)
    }

    /// `T_ref_frame = (R R_i, s R t_i + t)` for `T_est_frame = (R_i, t_i)`.
    pub fn transform_pose(&self, t_est_frame: &Isometry3<f64>) -> Isometry3<f64> {
        let position = self.rotation * (t_est_frame.translation.vector * self.scale) + self.translation;
        Isometry3::from_parts(Translation3::from(position), self.rotation * t_est_frame.rotation)
    }

    /// Applies [`Sim3::transform_pose`] to every pose.
    pub fn apply_poses(&self, poses: &[Isometry3<f64>]) -> Vec<Isometry3<f64>> {
        poses.iter().map(|p| self.transform_pose(p)).collect()
    }

    /// Applies [`Sim3::transform_pose`] to every pose of a trajectory (stamps unchanged).
    pub fn apply(&self, trajectory: &Trajectory) -> Trajectory {
        trajectory.map_poses(|p| self.transform_pose(p))
    }
}

/// Umeyama's least-squares similarity (IEEE PAMI 13(4), 1991) from `src` (estimate positions
/// `x_i`) onto `dst` (reference positions `y_i`): the `(R, t, s)` minimising
/// `Σ |y_i − (s R x_i + t)|²`, i.e. `S_ref_est`. With `with_scale = false`, `s = 1` (SE(3)).
///
/// With means `μx, μy`, variance `σx² = (1/n) Σ |x_i − μx|²` and cross-covariance
/// `Σxy = (1/n) Σ (y_i − μy)(x_i − μx)ᵀ = U D Vᵀ` (singular values descending):
///
/// ```text
/// S = diag(1, 1, det(U) det(V) < 0 ? −1 : 1)     (never a reflection)
/// R = U S Vᵀ,   s = tr(D S) / σx²,   t = μy − s R μx
/// ```
///
/// Errors: fewer than 3 pairs, non-finite points, or a degenerate set (collinear or coincident
/// points, see [`DEGENERACY_RATIO`]).
pub fn umeyama(src: &[Point3<f64>], dst: &[Point3<f64>], with_scale: bool) -> Result<Sim3, AlignError> {
    let (r, translation, scale) = umeyama_parts(src, dst, with_scale)?;
    let rotation = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(r));
    Ok(Sim3 { rotation, translation, scale })
}

/// [`umeyama`] with `R` as the matrix `U S Vᵀ`.
fn umeyama_parts(
    src: &[Point3<f64>],
    dst: &[Point3<f64>],
    with_scale: bool,
) -> Result<(Matrix3<f64>, Vector3<f64>, f64), AlignError> {
    if src.len() != dst.len() {
        return Err(AlignError::LengthMismatch { reference: dst.len(), estimate: src.len() });
    }
    let n = src.len();
    if n < 3 {
        return Err(AlignError::TooFewPoints(n));
    }
    if let Some(i) =
        (0..n).find(|&i| !(src[i].coords.iter().chain(dst[i].coords.iter()).all(|v| v.is_finite())))
    {
        return Err(AlignError::NonFinite(i));
    }
    let (mean_x, mean_y) = (mean(src), mean(dst));
    let inv_n = 1.0 / n as f64;
    let mut sigma_x = 0.0;
    let mut cov = Matrix3::zeros();
    for (x, y) in src.iter().zip(dst) {
        let (dx, dy) = (x.coords - mean_x, y.coords - mean_y);
        sigma_x += dx.norm_squared();
        cov += dy * dx.transpose();
    }
    sigma_x *= inv_n;
    cov *= inv_n;

    let (u, d, v_t) = svd3(&cov);
    if !d[0].is_finite() || d[0] <= 0.0 || d[1] <= DEGENERACY_RATIO * d[0] {
        return Err(AlignError::Degenerate { singular_values: d.into() });
    }
    let mut s = Vector3::new(1.0, 1.0, 1.0);
    if u.determinant() * v_t.determinant() < 0.0 {
        s[2] = -1.0;
    }
    let r = u * Matrix3::from_diagonal(&s) * v_t;
    let scale = if with_scale { d.dot(&s) / sigma_x } else { 1.0 };
    let translation = mean_y - r * mean_x * scale;
    Ok((r, translation, scale))
}

/// The mean of points, with one correction pass (`μ += (1/n) Σ (x_i − μ)`) so that large
/// coordinates (e.g. UTM) keep their precision.
fn mean(points: &[Point3<f64>]) -> Vector3<f64> {
    let n = points.len() as f64;
    let m = points.iter().fold(Vector3::zeros(), |acc, p| acc + p.coords) / n;
    m + points.iter().fold(Vector3::zeros(), |acc, p| acc + (p.coords - m)) / n
}

/// SVD `m = U diag(d) Vᵀ` with `d` descending, through nalgebra's general (bidiagonal, implicit
/// shift) algorithm: its special 3×3 path squares the condition number (eigenvectors of `mᵀm`),
/// which loses the smaller singular directions of near-planar trajectories.
fn svd3(m: &Matrix3<f64>) -> (Matrix3<f64>, Vector3<f64>, Matrix3<f64>) {
    let svd = DMatrix::from_column_slice(3, 3, m.as_slice()).svd(true, true);
    let (u, v_t) = (svd.u.expect("U was requested"), svd.v_t.expect("Vᵀ was requested"));
    let mut order = [0usize, 1, 2];
    order.sort_by(|&a, &b| svd.singular_values[b].total_cmp(&svd.singular_values[a]));
    let mut u3 = Matrix3::zeros();
    let mut v3 = Matrix3::zeros();
    let mut d = Vector3::zeros();
    for (k, &j) in order.iter().enumerate() {
        d[k] = svd.singular_values[j];
        for r in 0..3 {
            u3[(r, k)] = u[(r, j)];
            v3[(k, r)] = v_t[(j, r)];
        }
    }
    (u3, d, v3)
}

/// How to align the estimate onto the reference (evo's `--align`, `--correct_scale`, `--n_to_align`,
/// `--align_origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Alignment {
    /// Leave the estimate as it is.
    #[default]
    None,
    /// [`umeyama`] on the positions of the first `first_n` pairs (all when `None`; more than there
    /// are means all), applied to every estimated pose: SE(3) or, `with_scale`, Sim(3).
    Umeyama {
        /// Also estimate the scale (Sim(3)).
        with_scale: bool,
        /// Only use the first n pairs.
        first_n: Option<usize>,
    },
    /// Only correct the scale: `s` from a Sim(3) Umeyama fit (on the first `first_n` pairs),
    /// applied as `t_i → s t_i`; the returned [`Sim3`] is `(I, 0, s)`.
    ScaleOnly {
        /// Only use the first n pairs.
        first_n: Option<usize>,
    },
    /// Move the first estimated pose onto the first reference pose:
    /// `T_ref_est = T_ref_frame(0) · T_est_frame(0)⁻¹`, applied to every estimated pose.
    Origin,
}

impl Alignment {
    /// SE(3) Umeyama on all pairs (evo's `-a`).
    pub const SE3: Alignment = Alignment::Umeyama { with_scale: false, first_n: None };
    /// Sim(3) Umeyama on all pairs (evo's `-as`).
    pub const SIM3: Alignment = Alignment::Umeyama { with_scale: true, first_n: None };
}

/// Aligns the estimate of `pairs` onto its reference; returns the aligned pairs and the transform
/// `S_ref_est` that was applied (identity for [`Alignment::None`]).
pub fn align(pairs: &Associated, how: Alignment) -> Result<(Associated, Sim3), AlignError> {
    let fit = |first_n: Option<usize>, with_scale: bool| {
        let k = first_n.unwrap_or(pairs.len()).min(pairs.len());
        umeyama(&pairs.estimate_positions()[..k], &pairs.reference_positions()[..k], with_scale)
    };
    let sim3 = match how {
        Alignment::None => return Ok((pairs.clone(), Sim3::identity())),
        Alignment::Umeyama { with_scale, first_n } => fit(first_n, with_scale)?,
        Alignment::ScaleOnly { first_n } => Sim3::from_scale(fit(first_n, true)?.scale),
        Alignment::Origin => {
            let (Some(r0), Some(e0)) = (pairs.reference.first(), pairs.estimate.first()) else {
                return Err(AlignError::TooFewPoints(0));
            };
            Sim3::from_isometry(&(r0 * e0.inverse()))
        }
    };
    let aligned = Associated { estimate: sim3.apply_poses(&pairs.estimate), ..pairs.clone() };
    Ok((aligned, sim3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    fn random_points(rng: &mut Pcg64, n: usize) -> Vec<Point3<f64>> {
        (0..n)
            .map(|_| {
                Point3::new(
                    rng.random_range(-5.0..5.0),
                    rng.random_range(-5.0..5.0),
                    rng.random_range(-2.0..2.0),
                )
            })
            .collect()
    }

    fn known_sim3(scale: f64) -> Sim3 {
        Sim3 {
            rotation: UnitQuaternion::from_euler_angles(0.3, -1.1, 2.4),
            translation: Vector3::new(1.5, -20.0, 0.25),
            scale,
        }
    }

    fn assert_sim3_close(a: &Sim3, b: &Sim3, tol: f64) {
        assert!((a.rotation_matrix() - b.rotation_matrix()).abs().max() < tol, "{a:?} vs {b:?}");
        assert!((a.translation - b.translation).abs().max() < tol, "{a:?} vs {b:?}");
        assert!((a.scale - b.scale).abs() < tol, "{a:?} vs {b:?}");
    }

    fn traj(stamps: &[f64]) -> Trajectory {
        let poses = stamps.iter().map(|&t| Isometry3::translation(t, 0.0, 0.0)).collect();
        Trajectory::new(stamps.to_vec(), poses).unwrap()
    }

    #[test]
    fn umeyama_recovers_a_rigid_transform_exactly() {
        let mut rng = Pcg64::seed_from_u64(1);
        let x = random_points(&mut rng, 50);
        let truth = known_sim3(1.0);
        let y: Vec<_> = x.iter().map(|p| truth.transform_point(p)).collect();
        let fit = umeyama(&x, &y, false).unwrap();
        assert_sim3_close(&fit, &truth, 1e-12);
        assert!((umeyama_parts(&x, &y, false).unwrap().0.determinant() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn umeyama_recovers_a_similarity_with_scale() {
        let mut rng = Pcg64::seed_from_u64(2);
        let x = random_points(&mut rng, 30);
        let truth = known_sim3(0.37);
        let y: Vec<_> = x.iter().map(|p| truth.transform_point(p)).collect();
        assert_sim3_close(&umeyama(&x, &y, true).unwrap(), &truth, 1e-12);
        // Without scale the rotation is still right (the optimum is independent of s), t is not.
        let rigid = umeyama(&x, &y, false).unwrap();
        assert!((rigid.rotation_matrix() - truth.rotation_matrix()).abs().max() < 1e-12);
        assert_eq!(rigid.scale, 1.0);
    }

    #[test]
    fn umeyama_on_coplanar_points_is_a_proper_rotation() {
        // Coplanar points: rank-2 covariance, the third singular vectors' signs are arbitrary
        // and the sign matrix must make det R = +1.
        let mut rng = Pcg64::seed_from_u64(3);
        let x: Vec<_> = (0..20)
            .map(|_| Point3::new(rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0), 0.0))
            .collect();
        for seed in 0..8 {
            let truth = Sim3 {
                rotation: UnitQuaternion::from_euler_angles(0.4 * seed as f64, 1.0 - 0.3 * seed as f64, -0.7),
                translation: Vector3::new(0.1, 0.2, 0.3 * seed as f64),
                scale: 2.0,
            };
            let y: Vec<_> = x.iter().map(|p| truth.transform_point(p)).collect();
            let fit = umeyama(&x, &y, true).unwrap();
            assert_sim3_close(&fit, &truth, 1e-12);
        }
    }

    #[test]
    fn umeyama_never_returns_a_reflection() {
        // The destination is a mirror image of the source: the best orthogonal matrix is a
        // reflection, the best rotation has det +1 and leaves a residual.
        let mut rng = Pcg64::seed_from_u64(4);
        let x = random_points(&mut rng, 40);
        let y: Vec<_> = x.iter().map(|p| Point3::new(p.x, p.y, -p.z)).collect();
        for with_scale in [false, true] {
            let fit = umeyama(&x, &y, with_scale).unwrap();
            let r = umeyama_parts(&x, &y, with_scale).unwrap().0;
            assert!((r.determinant() - 1.0).abs() < 1e-12, "det {}", r.determinant());
            assert!((r.transpose() * r - Matrix3::identity()).abs().max() < 1e-12);
            assert!(fit.scale > 0.0);
            // It is the best rotation: no rotation about a random axis does better.
            let cost = |s: &Sim3| {
                x.iter().zip(&y).map(|(a, b)| (s.transform_point(a) - b).norm_squared()).sum::<f64>()
            };
            let best = cost(&fit);
            let (mean_x, mean_y) = (mean(&x), mean(&y));
            for k in 0..20 {
                let axis = Vector3::new((k as f64).sin(), (k as f64 * 1.3).cos(), 0.5);
                let rotation = UnitQuaternion::new(axis * 1e-3) * fit.rotation;
                // The best translation for that rotation.
                let translation = mean_y - rotation * mean_x * fit.scale;
                let nudged = Sim3 { rotation, translation, scale: fit.scale };
                assert!(cost(&nudged) >= best - 1e-9);
            }
        }
    }

    #[test]
    fn umeyama_rejects_degenerate_inputs() {
        let p = |x: f64, y: f64, z: f64| Point3::new(x, y, z);
        assert_eq!(umeyama(&[], &[], false), Err(AlignError::TooFewPoints(0)));
        let two = [p(0.0, 0.0, 0.0), p(1.0, 0.0, 0.0)];
        assert_eq!(umeyama(&two, &two, true), Err(AlignError::TooFewPoints(2)));
        let line: Vec<_> =
            (0..10).map(|i| p(0.1 * i as f64, 0.2 * i as f64 + 1.0, -0.3 * i as f64)).collect();
        assert!(matches!(umeyama(&line, &line, false), Err(AlignError::Degenerate { .. })));
        assert!(matches!(umeyama(&line, &line, true), Err(AlignError::Degenerate { .. })));
        let same = vec![p(1.0, 2.0, 3.0); 5];
        assert!(matches!(umeyama(&same, &same, true), Err(AlignError::Degenerate { .. })));
        let mut bad = random_points(&mut Pcg64::seed_from_u64(5), 5);
        bad[3].y = f64::NAN;
        assert_eq!(umeyama(&bad, &bad, false), Err(AlignError::NonFinite(3)));
        assert!(matches!(umeyama(&bad[..4], &bad, false), Err(AlignError::LengthMismatch { .. })));
    }

    #[test]
    fn umeyama_keeps_precision_on_utm_coordinates() {
        let mut rng = Pcg64::seed_from_u64(6);
        let offset = Vector3::new(4.6e5, 5.4e6, 300.0);
        let x: Vec<_> = random_points(&mut rng, 200).into_iter().map(|p| p + offset).collect();
        let truth = Sim3 {
            rotation: UnitQuaternion::from_euler_angles(0.0, 0.0, 0.01),
            translation: Vector3::new(0.5, -0.2, 0.1),
            scale: 1.0,
        };
        let y: Vec<_> = x.iter().map(|p| truth.transform_point(p)).collect();
        let fit = umeyama(&x, &y, false).unwrap();
        let worst = x.iter().zip(&y).map(|(a, b)| (fit.transform_point(a) - b).norm()).fold(0.0, f64::max);
        assert!(worst < 1e-6, "residual {worst} m");
    }

    #[test]
    fn sim3_acts_on_poses_like_evo() {
        let s = known_sim3(2.0);
        let pose = Isometry3::new(Vector3::new(1.0, 2.0, 3.0), Vector3::new(0.1, 0.2, 0.3));
        let out = s.transform_pose(&pose);
        // Rotation: R R_i; translation: s R t_i + t; and the 4×4 form agrees on the position.
        assert!(
            (out.rotation.to_rotation_matrix().matrix()
                - s.rotation_matrix() * pose.rotation.to_rotation_matrix().matrix())
            .abs()
            .max()
                < 1e-14
        );
        let h = s.to_homogeneous() * pose.translation.vector.push(1.0);
        assert!((out.translation.vector - h.xyz()).abs().max() < 1e-13);
        let back = s.inverse().transform_pose(&out);
        assert!((back.to_homogeneous() - pose.to_homogeneous()).abs().max() < 1e-13);
    }

    #[test]
    fn matching_follows_evo() {
        // Sparse stamps against dense ones: nearest within max_diff, ties to the earlier stamp,
        // stamps beyond the ends (± max_diff) skipped.
        let sparse = [0.0, 0.1049, 0.2, 0.3049, 0.5, 0.62];
        let dense: Vec<f64> = (0..=60).map(|i| i as f64 * 0.01).collect();
        let (a, b) = match_stamps(&sparse, &dense, 0.01, 0.0);
        assert_eq!(a, vec![0, 1, 2, 3, 4]);
        assert_eq!(b, vec![0, 10, 20, 30, 50]);
        // An exact tie goes to the earlier stamp; a difference of exactly max_diff is kept.
        let (a, b) = match_stamps(&[0.25], &[0.0, 0.5, 1.0], 0.25, 0.0);
        assert_eq!((a, b), (vec![0], vec![0]));
        let (a, b) = match_stamps(&[1.25], &[0.0, 0.5, 1.0], 0.25, 0.0);
        assert_eq!((a, b), (vec![0], vec![2]));
        // A dense stamp may serve two sparse ones.
        let (a, b) = match_stamps(&[1.0, 1.004], &[0.9, 1.002, 1.1], 0.01, 0.0);
        assert_eq!((a, b), (vec![0, 1], vec![1, 1]));
        // The offset shifts the second list.
        let (a, b) = match_stamps(&[1.0, 2.0], &[0.5, 1.5], 0.01, 0.5);
        assert_eq!((a, b), (vec![0, 1], vec![0, 1]));
    }

    #[test]
    fn association_walks_the_sparser_trajectory() {
        let reference = traj(&(0..100).map(|i| i as f64 * 0.01).collect::<Vec<_>>());
        let estimate = traj(&[0.0015, 0.3333, 0.5, 0.999, 2.0]);
        let pairs = associate(&reference, &estimate, &AssociateOptions::default()).unwrap();
        assert_eq!(pairs.estimate_ids(), &[0, 1, 2, 3]);
        assert_eq!(pairs.reference_ids(), &[0, 33, 50, 99]);
        assert_eq!(pairs.reference_stamps()[1], 0.33);
        // With an offset: t_ref ≈ t_est + offset.
        let shifted = traj(&[0.0, 0.1, 0.2]);
        let options = AssociateOptions { offset: 0.5, ..Default::default() };
        let pairs = associate(&reference, &shifted, &options).unwrap();
        assert_eq!(pairs.reference_ids(), &[50, 60, 70]);
        let far = traj(&[10.0, 11.0]);
        assert!(matches!(
            associate(&reference, &far, &AssociateOptions::default()),
            Err(AlignError::NoMatches { .. })
        ));
        let bad = AssociateOptions { max_diff: -1.0, ..Default::default() };
        assert!(matches!(associate(&reference, &estimate, &bad), Err(AlignError::InvalidSettings { .. })));
    }

    #[test]
    fn repeated_stamps_are_associated_as_evo_does() {
        let ref_stamps = [0.0, 0.05, 0.1, 0.1, 0.15, 0.2];
        let ref_poses: Vec<_> = (0..6).map(|i| Isometry3::translation(i as f64, 0.0, 0.0)).collect();
        let est_stamps = [0.1, 0.1, 0.2];
        let est_poses = vec![Isometry3::identity(); 3];
        let reference = StampedPoses::new(&ref_stamps, &ref_poses).unwrap();
        let estimate = StampedPoses::new(&est_stamps, &est_poses).unwrap();
        let pairs = associate(reference, estimate, &AssociateOptions::default()).unwrap();
        // Both repeated estimate stamps are kept; the later of two equal reference stamps wins.
        assert_eq!(pairs.estimate_ids(), &[0, 1, 2]);
        assert_eq!(pairs.reference_ids(), &[3, 3, 5]);
        // Interpolation takes the first stamp ≥ t as the upper neighbour: f = 1 on index 2.
        let poses = interpolate(reference, &[0.1, 0.125]).unwrap();
        assert_eq!(poses[0].translation.x, 2.0);
        assert!((poses[1].translation.x - 3.5).abs() < 1e-12);
        assert_eq!(
            StampedPoses::new(&[0.0, 1.0], &ref_poses[..1]),
            Err(AlignError::StampCount { stamps: 2, poses: 1 })
        );
        assert_eq!(StampedPoses::new(&[1.0, 0.0], &ref_poses[..2]), Err(AlignError::UnsortedStamps(1)));
        assert_eq!(StampedPoses::new(&[0.0, f64::NAN], &ref_poses[..2]), Err(AlignError::UnsortedStamps(1)));
    }

    #[test]
    fn interpolation_is_linear_and_slerp() {
        let q0 = UnitQuaternion::from_axis_angle(&Vector3::z_axis(), 0.2);
        let q1 = UnitQuaternion::from_axis_angle(&Vector3::z_axis(), 1.0);
        let reference = Trajectory::new(
            vec![0.0, 1.0, 2.0],
            vec![
                Isometry3::from_parts(Translation3::new(0.0, 0.0, 0.0), q0),
                Isometry3::from_parts(Translation3::new(2.0, 4.0, 0.0), q1),
                Isometry3::from_parts(Translation3::new(2.0, 4.0, 1.0), q1),
            ],
        )
        .unwrap();
        let poses = interpolate(&reference, &[0.25, -1.0, 1.5, 3.0]).unwrap();
        assert!((poses[0].translation.vector - Vector3::new(0.5, 1.0, 0.0)).norm() < 1e-15);
        assert!((poses[0].rotation.angle() - 0.4).abs() < 1e-12);
        assert_eq!(poses[1], reference.poses()[0]);
        assert!((poses[2].translation.vector - Vector3::new(2.0, 4.0, 0.5)).norm() < 1e-15);
        assert_eq!(poses[3], reference.poses()[2]);
        // Antipodal quaternions take the short way.
        let r = slerp(&q0, &UnitQuaternion::new_unchecked(-q1.into_inner()), 0.5);
        assert!((r.angle() - 0.6).abs() < 1e-12);

        // The sparse estimate's stamps resample the dense reference.
        let estimate = traj(&[0.5, 1.004]);
        let dense = Trajectory::new(
            (0..300).map(|i| i as f64 * 0.01).collect(),
            (0..300).map(|i| Isometry3::translation(i as f64, 0.0, 0.0)).collect(),
        )
        .unwrap();
        let options = AssociateOptions { method: SyncMethod::Interpolation, ..Default::default() };
        let pairs = associate(&dense, &estimate, &options).unwrap();
        assert_eq!(pairs.reference_stamps(), &[0.5, 1.004]);
        assert!((pairs.reference()[1].translation.x - 100.4).abs() < 1e-9);
        assert!(interpolate(&traj(&[1.0]), &[1.0]).is_err());
    }

    #[test]
    fn alignment_modes() {
        let mut rng = Pcg64::seed_from_u64(7);
        let x = random_points(&mut rng, 20);
        let stamps: Vec<f64> = (0..20).map(|i| i as f64).collect();
        let est_poses: Vec<_> = x
            .iter()
            .enumerate()
            .map(|(i, p)| Isometry3::new(p.coords, Vector3::new(0.01 * i as f64, 0.2, -0.1)))
            .collect();
        let truth = known_sim3(1.7);
        let ref_poses = truth.apply_poses(&est_poses);
        let reference = Trajectory::new(stamps.clone(), ref_poses).unwrap();
        let estimate = Trajectory::new(stamps, est_poses).unwrap();
        let pairs = Associated::by_index(&reference, &estimate).unwrap();

        let (aligned, s) = align(&pairs, Alignment::SIM3).unwrap();
        assert_sim3_close(&s, &truth, 1e-12);
        for (a, b) in aligned.estimate().iter().zip(aligned.reference()) {
            assert!((a.to_homogeneous() - b.to_homogeneous()).abs().max() < 1e-12);
        }
        let (_, s) = align(&pairs, Alignment::Umeyama { with_scale: true, first_n: Some(5) }).unwrap();
        assert_sim3_close(&s, &truth, 1e-12);
        assert_eq!(
            align(&pairs, Alignment::Umeyama { with_scale: true, first_n: Some(2) }).unwrap_err(),
            AlignError::TooFewPoints(2)
        );
        let (_, s) = align(&pairs, Alignment::ScaleOnly { first_n: None }).unwrap();
        assert!((s.scale - 1.7).abs() < 1e-12 && s.rotation == UnitQuaternion::identity());
        let (aligned, _) = align(&pairs, Alignment::Origin).unwrap();
        assert!(
            (aligned.estimate()[0].to_homogeneous() - aligned.reference()[0].to_homogeneous()).abs().max()
                < 1e-12
        );
        let (same, s) = align(&pairs, Alignment::None).unwrap();
        assert_eq!((same, s), (pairs.clone(), Sim3::identity()));
        // Applied to a whole trajectory.
        let moved = truth.apply(&estimate);
        assert!(
            (moved.poses()[3].translation.vector - reference.poses()[3].translation.vector).norm() < 1e-12
        );
    }
}
