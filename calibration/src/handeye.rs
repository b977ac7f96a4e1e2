//! Classic extrinsic calibration baselines: motion pairs, AX = XB (Tsai–Lenz, Park–Martin,
//! Daniilidis) and AX = YB (Shah's Kronecker closed form).
//!
//! # Conventions
//!
//! Two sensors `a` and `b` are rigidly attached. Their trajectories are known as
//! `T_wa_a(t)` and `T_wb_b(t)` ([`Trajectory`] poses), each in its own world frame (`wa`, `wb`).
//! The unknown extrinsic is
//!
//! ```text
//! X = T_a_b   (maps sensor-b coordinates into sensor-a coordinates; the pose of b in a)
//! ```
//!
//! **AX = XB.** For two instants i < j the relative motions are
//!
//! ```text
//! A = T_wa_a(i)⁻¹ · T_wa_a(j)        B = T_wb_b(i)⁻¹ · T_wb_b(j)
//! ```
//!
//! and rigidity (`T_wb_b = T_wb_wa · T_wa_a · X`) gives `A · X = X · B`, whatever the
//! world-to-world transform. [`MotionPairs`] builds the pairs; [`solve`] solves for `X`.
//!
//! **AX = YB.** With absolute poses `A_i = T_wa_a(i)`, `B_i = T_wb_b(i)` rigidity reads
//! `A_i · X = Y · B_i` with `Y = T_wa_wb` (the pose of world b in world a): [`solve_ax_yb`]
//! returns both `X` and `Y`.
//!
//! Translations are in metres, angles in radians.
//!
//! # Motion pairs
//!
//! [`MotionPairs`] takes two pose sequences already associated in time (pose `k` of both at the
//! same instant; see [`crate::align::associate`] and [`MotionPairs::from_associated`]) and forms
//! candidate pairs `(i, j)` with a [`PairStrategy`]: every `i < j` among at most `max_poses`
//! evenly spaced poses, optionally at most `max_gap_s` apart (default: 3000 poses, no gap limit),
//! or `(i, i + stride)`. A candidate is kept when the rotation angles of both `A` and `B` lie in
//! `[min_angle_rad, max_angle_rad]` (default [10°, 170°]); at most `max_pairs` (default 2000) are
//! kept, evenly spaced in candidate order. The counts (candidates, in the angle window, kept,
//! distinct poses) are reported.
//!
//! # Methods
//!
//! - [`HandEyeMethod::TsaiLenz`] (Tsai & Lenz 1989): the rotation axes of A and B, scaled as
//!   `p = 2 sin(θ/2) n`, satisfy `p_a = R_X p_b`; with the Cayley/Rodrigues vector
//!   `g = tan(φ/2) u` of `R_X` this becomes the linear system `[p_a + p_b]× g = p_b − p_a`, solved
//!   in least squares. Cannot represent `R_X` with a rotation angle of exactly 180°.
//! - [`HandEyeMethod::ParkMartin`] (Park & Martin 1994): with `α = log R_A`, `β = log R_B`,
//!   `α = R_X β`; `R_X` minimises `Σ ‖α − R_X β‖²` (orthogonal Procrustes, computed with an SVD,
//!   identical to Park–Martin's `(MᵀM)^(-1/2) Mᵀ` when `M = Σ β αᵀ` has full rank).
//! - [`HandEyeMethod::Daniilidis`] (Daniilidis 1999): dual quaternions `ǎ x̌ = x̌ b̌`, a stacked
//!   `6n × 8` linear system, its two right singular vectors of smallest singular value, and the
//!   two quadratic constraints `qᵀq = 1`, `qᵀq' = 0`, whose two roots are told apart by the
//!   algebraic residual. Solves rotation and translation jointly. All screw axes parallel
//!   (planar motion) leaves a 3-dimensional null space: the result is then arbitrary along it
//!   and flagged.
//!
//! The two-stage methods (Tsai–Lenz, Park–Martin) then solve the translation from
//! `(R_A − I) t_X = R_X t_B − t_A` in least squares.
//!
//! Every solution carries an [`ObservabilityReport`]: an extrinsic along a direction the
//! motion does not excite is flagged (see [`HandEyeSolution::is_trusted`]), never returned
//! silently.

use std::fmt;

use alignrl_envs::sensors::Trajectory;
use nalgebra::{
    DMatrix, DVector, Isometry3, Matrix3, Quaternion, Rotation3, SMatrix, Translation3, UnitQuaternion,
    Vector3, Vector4,
};

use crate::align::Associated;
use crate::observability::{self, ObservabilityConfig, ObservabilityReport};
use crate::se3::{rotation_angle, so3_log};

/// Why a hand-eye problem cannot be solved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HandEyeError {
    /// The two pose sequences differ in length (they must be associated in time first).
    #[error("sensor a has {a} poses but sensor b has {b}: associate them in time first")]
    LengthMismatch {
        /// Poses of sensor a.
        a: usize,
        /// Poses of sensor b.
        b: usize,
    },
    /// Too few motion pairs (or poses) to solve.
    #[error("{kept} motion pairs (or poses) left after selection, at least {required} needed")]
    TooFewPairs {
        /// How many there are.
        kept: usize,
        /// How many the solver needs.
        required: usize,
    },
    /// A selection parameter is out of range.
    #[error("invalid pair selection: {0}")]
    InvalidSelection(&'static str),
    /// A linear solve failed (non-finite input).
    #[error("numerical failure: {0}")]
    Numerical(&'static str),
}

/// Which relative motions are formed from the associated poses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PairStrategy {
    /// `(i, i + stride)` for every pose `i`: short-baseline motions, best for drifting odometry.
    Consecutive {
        /// Index step between the two poses of a pair (≥ 1).
        stride: usize,
    },
    /// Every pair `i < j` among at most `max_poses` evenly spaced poses (all poses when there are
    /// fewer), optionally only pairs at most `max_gap_s` seconds apart. Best for drift-free
    /// trajectories (ground truth, motion capture).
    AllPairs {
        /// At most this many evenly spaced poses take part (≥ 2).
        max_poses: usize,
        /// Largest time gap of a pair in seconds; `None` for no limit.
        max_gap_s: Option<f64>,
    },
}

/// How motion pairs are chosen: strategy, rotation-angle window and a cap on the count.
///
/// A pair is kept when the rotation angles of both `A` and `B` lie in
/// `[min_angle_rad, max_angle_rad]`. The lower bound removes motions whose rotation axis is
/// drowned in noise; the upper bound removes motions near 180°, where the rotation axis (and
/// the sign of the unit quaternion that Daniilidis's method relies on) is ambiguous. When more
/// than `max_pairs` pairs pass, `max_pairs` of them are taken evenly spaced in the candidate
/// order (deterministic).
#[derive(Debug, Clone, PartialEq)]
pub struct PairSelection {
    /// Which pairs are candidates.
    pub strategy: PairStrategy,
    /// Smallest rotation angle of a kept pair (radians).
    pub min_angle_rad: f64,
    /// Largest rotation angle of a kept pair (radians).
    pub max_angle_rad: f64,
    /// Cap on the number of kept pairs; `None` keeps all.
    pub max_pairs: Option<usize>,
}

impl Default for PairSelection {
    /// All pairs among (at most) 3000 evenly spaced poses, rotation angle in [10°, 170°], at most
    /// 2000 pairs. Spreading the pairs over many distinct poses matters more than their number:
    /// pairs that share poses share their noise.
    fn default() -> Self {
        PairSelection {
            strategy: PairStrategy::AllPairs { max_poses: 3000, max_gap_s: None },
            min_angle_rad: 10f64.to_radians(),
            max_angle_rad: 170f64.to_radians(),
            max_pairs: Some(2000),
        }
    }
}

/// One relative motion pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotionPair {
    /// Index of the first pose (into the associated pose sequences).
    pub i: usize,
    /// Index of the second pose.
    pub j: usize,
    /// `A = T_wa_a(i)⁻¹ T_wa_a(j)`.
    pub a: Isometry3<f64>,
    /// `B = T_wb_b(i)⁻¹ T_wb_b(j)`.
    pub b: Isometry3<f64>,
}

/// Relative motion pairs `(A_k, B_k)` with `A_k X = X B_k`, and how they were selected.
#[derive(Debug, Clone, PartialEq)]
pub struct MotionPairs {
    /// The kept pairs.
    pub pairs: Vec<MotionPair>,
    /// Candidate pairs considered by the strategy.
    pub candidates: usize,
    /// Candidates whose rotation angles were in the window (before the `max_pairs` cap).
    pub in_angle_window: usize,
    /// Distinct poses used by the kept pairs (pairs sharing poses share their noise; the
    /// observability check accounts for it).
    pub distinct_poses: usize,
}

impl MotionPairs {
    /// Pairs from two trajectories already associated in time (same length, pose `k` of `a`
    /// taken at the same instant as pose `k` of `b`). The time gaps use the stamps of `a`.
    pub fn from_trajectories(
        a: &Trajectory,
        b: &Trajectory,
        selection: &PairSelection,
    ) -> Result<Self, HandEyeError> {
        Self::from_poses(a.stamps(), a.poses(), b.poses(), selection)
    }

    /// Pairs from an [`Associated`] (see [`crate::align::associate`]): its reference is sensor a,
    /// its estimate sensor b; the time gaps use the reference stamps.
    pub fn from_associated(associated: &Associated, selection: &PairSelection) -> Result<Self, HandEyeError> {
        Self::from_poses(
            associated.reference_stamps(),
            associated.reference(),
            associated.estimate(),
            selection,
        )
    }

    /// Pairs from associated pose sequences `T_wa_a` and `T_wb_b` with their stamps (seconds).
    pub fn from_poses(
        stamps: &[f64],
        a: &[Isometry3<f64>],
        b: &[Isometry3<f64>],
        selection: &PairSelection,
    ) -> Result<Self, HandEyeError> {
        if a.len() != b.len() {
            return Err(HandEyeError::LengthMismatch { a: a.len(), b: b.len() });
        }
        if stamps.len() != a.len() {
            return Err(HandEyeError::InvalidSelection("stamps and poses differ in length"));
        }
        if !(selection.min_angle_rad >= 0.0 && selection.min_angle_rad <= selection.max_angle_rad) {
            return Err(HandEyeError::InvalidSelection("need 0 <= min_angle_rad <= max_angle_rad"));
        }
        let n = a.len();
        match selection.strategy {
            PairStrategy::Consecutive { stride: 0 } => {
                return Err(HandEyeError::InvalidSelection("stride must be at least 1"));
            }
            PairStrategy::AllPairs { max_poses, .. } if max_poses < 2 => {
                return Err(HandEyeError::InvalidSelection("max_poses must be at least 2"));
            }
            _ => {}
        }
        // The rotation angle of q_i⁻¹ q_j is 2 acos|⟨q_i, q_j⟩|: candidates are screened with a
        // dot product, and only the kept pairs are composed.
        let cos_min = (0.5 * selection.min_angle_rad).min(std::f64::consts::FRAC_PI_2).cos();
        let cos_max = (0.5 * selection.max_angle_rad).min(std::f64::consts::FRAC_PI_2).cos();
        let in_window = |i: usize, j: usize| {
            let ca = a[i].rotation.coords.dot(&a[j].rotation.coords).abs().min(1.0);
            let cb = b[i].rotation.coords.dot(&b[j].rotation.coords).abs().min(1.0);
            ca.max(cb) <= cos_min && ca.min(cb) >= cos_max
        };
        let for_each_candidate = |f: &mut dyn FnMut(usize, usize)| match selection.strategy {
            PairStrategy::Consecutive { stride } => {
                for i in 0..n.saturating_sub(stride) {
                    f(i, i + stride);
                }
            }
            PairStrategy::AllPairs { max_poses, max_gap_s } => {
                let idx = evenly_spaced(n, max_poses);
                for (p, &i) in idx.iter().enumerate() {
                    for &j in &idx[p + 1..] {
                        if let Some(gap) = max_gap_s
                            && stamps[j] - stamps[i] > gap
                        {
                            break;
                        }
                        f(i, j);
                    }
                }
            }
        };
        // Pass 1: count; pass 2: keep the passing pairs whose rank is among the evenly spaced picks.
        let (mut candidates, mut passing) = (0usize, 0usize);
        for_each_candidate(&mut |i, j| {
            candidates += 1;
            passing += usize::from(in_window(i, j));
        });
        let picks = match selection.max_pairs {
            Some(cap) if passing > cap => evenly_spaced(passing, cap),
            _ => (0..passing).collect(),
        };
        let mut kept: Vec<MotionPair> = Vec::with_capacity(picks.len());
        let (mut rank, mut next) = (0usize, 0usize);
        for_each_candidate(&mut |i, j| {
            if next < picks.len() && in_window(i, j) {
                if picks[next] == rank {
                    kept.push(MotionPair { i, j, a: a[i].inverse() * a[j], b: b[i].inverse() * b[j] });
                    next += 1;
                }
                rank += 1;
            }
        });
        let mut used: Vec<usize> = kept.iter().flat_map(|p| [p.i, p.j]).collect();
        used.sort_unstable();
        used.dedup();
        Ok(MotionPairs { pairs: kept, candidates, in_angle_window: passing, distinct_poses: used.len() })
    }

    /// Pairs given directly as relative motions (no selection; the pairs are taken to share no
    /// poses).
    pub fn from_motions(a: Vec<Isometry3<f64>>, b: Vec<Isometry3<f64>>) -> Result<Self, HandEyeError> {
        if a.len() != b.len() {
            return Err(HandEyeError::LengthMismatch { a: a.len(), b: b.len() });
        }
        let pairs: Vec<MotionPair> = a
            .into_iter()
            .zip(b)
            .enumerate()
            .map(|(k, (a, b))| MotionPair { i: 2 * k, j: 2 * k + 1, a, b })
            .collect();
        let n = pairs.len();
        Ok(MotionPairs { pairs, candidates: n, in_angle_window: n, distinct_poses: 2 * n })
    }

    /// Number of kept pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no pair was kept.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// `count` indices spread evenly over `0..n` (all of them when `n <= count`), first and last
/// included.
fn evenly_spaced(n: usize, count: usize) -> Vec<usize> {
    if n <= count {
        return (0..n).collect();
    }
    if count == 1 {
        return vec![0];
    }
    (0..count).map(|k| ((k as f64) * ((n - 1) as f64) / ((count - 1) as f64)).round() as usize).collect()
}

/// The AX = XB solvers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandEyeMethod {
    /// Tsai & Lenz 1989 (two-stage, Rodrigues vectors).
    TsaiLenz,
    /// Park & Martin 1994 (two-stage, log map + Procrustes).
    ParkMartin,
    /// Daniilidis 1999 (joint, dual quaternions).
    Daniilidis,
}

impl HandEyeMethod {
    /// All methods.
    pub const ALL: [HandEyeMethod; 3] =
        [HandEyeMethod::TsaiLenz, HandEyeMethod::ParkMartin, HandEyeMethod::Daniilidis];

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            HandEyeMethod::TsaiLenz => "Tsai-Lenz",
            HandEyeMethod::ParkMartin => "Park-Martin",
            HandEyeMethod::Daniilidis => "Daniilidis",
        }
    }

    /// Whether the method solves rotation first and then translation given the rotation.
    pub fn is_two_stage(self) -> bool {
        !matches!(self, HandEyeMethod::Daniilidis)
    }
}

impl fmt::Display for HandEyeMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Residual of one equation: the rotation angle (radians) and translation norm (metres) of
/// `(A X)⁻¹ (X B)` for AX = XB, or `(A X)⁻¹ (Y B)` for AX = YB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairResidual {
    /// Rotation angle in radians.
    pub rotation_rad: f64,
    /// Translation norm in metres.
    pub translation_m: f64,
}

/// Residual summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Residuals {
    /// Root mean square of the rotation angles (radians).
    pub rotation_rms_rad: f64,
    /// Root mean square of the translation norms (metres).
    pub translation_rms_m: f64,
    /// Largest rotation angle (radians).
    pub rotation_max_rad: f64,
    /// Largest translation norm (metres).
    pub translation_max_m: f64,
    /// One entry per pair (or pose for AX = YB), in order.
    pub per_pair: Vec<PairResidual>,
}

impl Residuals {
    fn from_errors(errors: impl Iterator<Item = Isometry3<f64>>) -> Self {
        let per_pair: Vec<PairResidual> = errors
            .map(|e| PairResidual {
                rotation_rad: rotation_angle(&e.rotation),
                translation_m: e.translation.vector.norm(),
            })
            .collect();
        let n = per_pair.len().max(1) as f64;
        let rms =
            |f: fn(&PairResidual) -> f64| (per_pair.iter().map(|r| f(r).powi(2)).sum::<f64>() / n).sqrt();
        let max = |f: fn(&PairResidual) -> f64| per_pair.iter().map(f).fold(0.0, f64::max);
        Residuals {
            rotation_rms_rad: rms(|r| r.rotation_rad),
            translation_rms_m: rms(|r| r.translation_m),
            rotation_max_rad: max(|r| r.rotation_rad),
            translation_max_m: max(|r| r.translation_m),
            per_pair,
        }
    }
}

/// An AX = XB solution with its residuals and observability report.
#[derive(Debug, Clone, PartialEq)]
pub struct HandEyeSolution {
    /// The method that produced it.
    pub method: HandEyeMethod,
    /// `X = T_a_b`.
    pub x: Isometry3<f64>,
    /// Residuals of `A_k X = X B_k` over the pairs used.
    pub residuals: Residuals,
    /// Excitation and predicted uncertainty of `X`.
    pub observability: ObservabilityReport,
}

impl HandEyeSolution {
    /// Whether the observability check trusts this estimate for its method: every direction
    /// of `X` that the method relies on has a predicted standard deviation within the
    /// thresholds (default 0.2°, 1 cm) and is excited above the noise. When false,
    /// [`ObservabilityReport::findings`] say which direction is weak, in words.
    pub fn is_trusted(&self) -> bool {
        self.observability.is_trusted_for(self.method)
    }
}

/// Solves AX = XB with `method` and the default observability thresholds.
pub fn solve(pairs: &MotionPairs, method: HandEyeMethod) -> Result<HandEyeSolution, HandEyeError> {
    solve_with(pairs, method, &ObservabilityConfig::default())
}

/// Solves AX = XB with `method`; the observability check uses `config`.
pub fn solve_with(
    pairs: &MotionPairs,
    method: HandEyeMethod,
    config: &ObservabilityConfig,
) -> Result<HandEyeSolution, HandEyeError> {
    let x = match method {
        HandEyeMethod::TsaiLenz => tsai_lenz(pairs)?,
        HandEyeMethod::ParkMartin => park_martin(pairs)?,
        HandEyeMethod::Daniilidis => daniilidis(pairs)?,
    };
    let residuals = ax_xb_residuals(pairs, &x);
    let observability = observability::analyze(pairs, &x, config);
    Ok(HandEyeSolution { method, x, residuals, observability })
}

/// Residuals `(A_k X)⁻¹ (X B_k)` of an AX = XB estimate.
pub fn ax_xb_residuals(pairs: &MotionPairs, x: &Isometry3<f64>) -> Residuals {
    Residuals::from_errors(pairs.pairs.iter().map(|p| (p.a * x).inverse() * (x * p.b)))
}

fn require_pairs(pairs: &MotionPairs, required: usize) -> Result<(), HandEyeError> {
    if pairs.len() < required {
        return Err(HandEyeError::TooFewPairs { kept: pairs.len(), required });
    }
    Ok(())
}

/// Unit quaternion with a non-negative scalar part (rotation angle in [0, π]).
fn canonical(q: &UnitQuaternion<f64>) -> Quaternion<f64> {
    let q = *q.quaternion();
    if q.w < 0.0 { -q } else { q }
}

/// Least squares `min ‖M x − r‖` (M tall): Householder QR, then back substitution on the
/// triangular factor when it has full rank; when its singular values fall below 1e-13 of the
/// largest (rank deficient), the minimum-norm solution from an SVD of the factor. Returns the
/// solution and the singular values of `M` (descending).
///
/// (nalgebra's SVD solve is only accurate to about 1e-9 relative, which is why it is not used
/// for well-posed systems.)
fn lstsq(m: DMatrix<f64>, r: DVector<f64>) -> Result<(DVector<f64>, Vec<f64>), HandEyeError> {
    if !m.iter().chain(r.iter()).all(|v| v.is_finite()) {
        return Err(HandEyeError::Numerical("non-finite entries in a linear system"));
    }
    let n = m.ncols();
    if m.nrows() < n {
        return Err(HandEyeError::Numerical("under-determined linear system"));
    }
    let qr = m.qr();
    let mut qtr = r;
    qr.q_tr_mul(&mut qtr);
    let c = qtr.rows(0, n).into_owned();
    let rfac = qr.unpack_r();
    let svd = rfac.clone().svd(true, true);
    let sv: Vec<f64> = svd.singular_values.iter().copied().collect();
    let eps = sv[0] * 1e-13;
    let full_rank = sv[n - 1] > eps;
    let x = match full_rank.then(|| rfac.solve_upper_triangular(&c)).flatten() {
        Some(x) => x,
        None => svd.solve(&c, eps).map_err(|_| HandEyeError::Numerical("least-squares solve failed"))?,
    };
    Ok((x, sv))
}

/// Translation of `X` given its rotation: least squares of `(R_A − I) t = R_X t_B − t_A`.
pub fn translation_given_rotation(
    pairs: &MotionPairs,
    r_x: &UnitQuaternion<f64>,
) -> Result<Vector3<f64>, HandEyeError> {
    require_pairs(pairs, 2)?;
    let n = pairs.len();
    let mut m = DMatrix::zeros(3 * n, 3);
    let mut r = DVector::zeros(3 * n);
    for (k, p) in pairs.pairs.iter().enumerate() {
        let ra = p.a.rotation.to_rotation_matrix().into_inner() - Matrix3::identity();
        m.fixed_view_mut::<3, 3>(3 * k, 0).copy_from(&ra);
        let rhs = r_x * p.b.translation.vector - p.a.translation.vector;
        r.fixed_rows_mut::<3>(3 * k).copy_from(&rhs);
    }
    let (t, _) = lstsq(m, r)?;
    Ok(Vector3::new(t[0], t[1], t[2]))
}

/// Tsai–Lenz: rotation from `[p_a + p_b]× g = p_b − p_a` (`p = 2 sin(θ/2) n`, `g = tan(φ/2) u`),
/// then the translation in least squares. Needs at least two pairs with non-parallel axes.
pub fn tsai_lenz(pairs: &MotionPairs) -> Result<Isometry3<f64>, HandEyeError> {
    require_pairs(pairs, 2)?;
    let n = pairs.len();
    let mut m = DMatrix::zeros(3 * n, 3);
    let mut r = DVector::zeros(3 * n);
    for (k, p) in pairs.pairs.iter().enumerate() {
        // The vector part of a unit quaternion with w ≥ 0 is sin(θ/2) n.
        let pa = 2.0 * canonical(&p.a.rotation).imag();
        let pb = 2.0 * canonical(&p.b.rotation).imag();
        m.fixed_view_mut::<3, 3>(3 * k, 0).copy_from(&(pa + pb).cross_matrix());
        r.fixed_rows_mut::<3>(3 * k).copy_from(&(pb - pa));
    }
    let (g, _) = lstsq(m, r)?;
    let g = Vector3::new(g[0], g[1], g[2]);
    let norm = g.norm();
    let rotation = if norm > 0.0 {
        UnitQuaternion::from_axis_angle(&nalgebra::Unit::new_unchecked(g / norm), 2.0 * norm.atan())
    } else {
        UnitQuaternion::identity()
    };
    let t = translation_given_rotation(pairs, &rotation)?;
    Ok(Isometry3::from_parts(Translation3::from(t), rotation))
}

/// Orthogonal Procrustes: the rotation `R` maximising `Σ w_k yₖᵀ R xₖ` given `h = Σ yₖ xₖᵀ`.
pub(crate) fn procrustes(h: &Matrix3<f64>) -> Rotation3<f64> {
    let svd = h.svd(true, true);
    let (u, v_t) = (svd.u.expect("u"), svd.v_t.expect("v_t"));
    let d = (u * v_t).determinant().signum();
    let r = u * Matrix3::from_diagonal(&Vector3::new(1.0, 1.0, d)) * v_t;
    Rotation3::from_matrix_unchecked(r)
}

/// Park–Martin: `R_X = argmin Σ ‖log R_A − R_X log R_B‖²`, then the translation in least squares.
pub fn park_martin(pairs: &MotionPairs) -> Result<Isometry3<f64>, HandEyeError> {
    require_pairs(pairs, 2)?;
    let h: Matrix3<f64> =
        pairs.pairs.iter().map(|p| so3_log(&p.a.rotation) * so3_log(&p.b.rotation).transpose()).sum();
    if !h.iter().all(|v| v.is_finite()) {
        return Err(HandEyeError::Numerical("non-finite rotations"));
    }
    let rotation = UnitQuaternion::from_rotation_matrix(&procrustes(&h));
    let t = translation_given_rotation(pairs, &rotation)?;
    Ok(Isometry3::from_parts(Translation3::from(t), rotation))
}

/// Dual quaternion `(real, dual)` of a rigid motion, real part with w ≥ 0.
fn dual_quaternion(m: &Isometry3<f64>) -> (Quaternion<f64>, Quaternion<f64>) {
    let q = canonical(&m.rotation);
    let t = m.translation.vector;
    let dual = Quaternion::new(0.0, t.x, t.y, t.z) * q * 0.5;
    (q, dual)
}

/// Daniilidis: SVD of the stacked `6n × 8` dual-quaternion system, then the combination of
/// the two smallest right singular vectors satisfying `qᵀq = 1`, `qᵀq' = 0`.
pub fn daniilidis(pairs: &MotionPairs) -> Result<Isometry3<f64>, HandEyeError> {
    require_pairs(pairs, 2)?;
    let n = pairs.len();
    let mut t = DMatrix::zeros(6 * n, 8);
    for (k, p) in pairs.pairs.iter().enumerate() {
        let (a, ad) = dual_quaternion(&p.a);
        let (b, bd) = dual_quaternion(&p.b);
        let (av, adv, bv, bdv) = (a.imag(), ad.imag(), b.imag(), bd.imag());
        // Unknowns (q.w, q.xyz, q'.w, q'.xyz):
        // [ a−b    [a+b]×    0      0     ]
        // [ a'−b'  [a'+b']×  a−b    [a+b]× ]
        let r0 = 6 * k;
        t.fixed_view_mut::<3, 1>(r0, 0).copy_from(&(av - bv));
        t.fixed_view_mut::<3, 3>(r0, 1).copy_from(&(av + bv).cross_matrix());
        t.fixed_view_mut::<3, 1>(r0 + 3, 0).copy_from(&(adv - bdv));
        t.fixed_view_mut::<3, 3>(r0 + 3, 1).copy_from(&(adv + bdv).cross_matrix());
        t.fixed_view_mut::<3, 1>(r0 + 3, 4).copy_from(&(av - bv));
        t.fixed_view_mut::<3, 3>(r0 + 3, 5).copy_from(&(av + bv).cross_matrix());
    }
    if !t.iter().all(|v| v.is_finite()) {
        return Err(HandEyeError::Numerical("non-finite motions"));
    }
    // QR first: the 8 × 8 triangular factor has the same singular values and right vectors.
    let svd = t.qr().unpack_r().svd(false, true);
    let v_t = svd.v_t.ok_or(HandEyeError::Numerical("SVD failed"))?;
    // Singular values are sorted in descending order: rows 6 and 7 of Vᵀ span the null space.
    let v7: SMatrix<f64, 8, 1> = v_t.row(6).transpose().fixed_rows::<8>(0).into_owned();
    let v8: SMatrix<f64, 8, 1> = v_t.row(7).transpose().fixed_rows::<8>(0).into_owned();
    let (u1, w1) = (v7.fixed_rows::<4>(0).into_owned(), v7.fixed_rows::<4>(4).into_owned());
    let (u2, w2) = (v8.fixed_rows::<4>(0).into_owned(), v8.fixed_rows::<4>(4).into_owned());
    let sv = &svd.singular_values;
    let (l1, l2) = dual_quaternion_combination((&u1, &w1, sv[6]), (&u2, &w2, sv[7]));
    let x = v7 * l1 + v8 * l2;
    let q = Quaternion::new(x[0], x[1], x[2], x[3]);
    let qd = Quaternion::new(x[4], x[5], x[6], x[7]);
    let rotation = UnitQuaternion::try_new(q, 1e-12).ok_or(HandEyeError::Numerical("zero rotation part"))?;
    // The dual part is q' = ½ t q, so t = 2 q' q* (with q normalised).
    let qn = rotation.into_inner();
    let tq = qd / q.norm() * qn.conjugate() * 2.0;
    Ok(Isometry3::from_parts(Translation3::from(tq.imag()), rotation))
}

/// Scalars `(λ1, λ2)` such that `x = λ1 v7 + λ2 v8` has a unit real part orthogonal to its
/// dual part (`v7 = (u1, w1)`, `v8 = (u2, w2)`, singular values `s7`, `s8`).
///
/// The constraint `qᵀq' = 0` has two roots. One is the motion; the other approaches the
/// direction `(0, q)`, which always satisfies the linear system (its real part is zero, so the
/// normalisation blows it up). The root with the smaller algebraic residual
/// `‖T x‖² = λ1² s7² + λ2² s8²` is kept; ties (noise-free data, both residuals zero) go to the
/// root with the smaller `λ1² + λ2²`, i.e. away from the blown-up direction.
fn dual_quaternion_combination(
    (u1, w1, s7): (&Vector4<f64>, &Vector4<f64>, f64),
    (u2, w2, s8): (&Vector4<f64>, &Vector4<f64>, f64),
) -> (f64, f64) {
    let a = u1.dot(w1);
    let b = u1.dot(w2) + u2.dot(w1);
    let c = u2.dot(w2);
    let roots = |qa: f64, qb: f64, qc: f64| -> [f64; 2] {
        if qa == 0.0 {
            // Linear (or trivial): the only finite root.
            let r = if qb != 0.0 { -qc / qb } else { 0.0 };
            return [r, r];
        }
        // Numerically stable pair of roots; a slightly negative discriminant (noise) is clamped.
        let disc = (qb * qb - 4.0 * qa * qc).max(0.0).sqrt();
        let s = -0.5 * (qb + qb.signum() * disc);
        if s == 0.0 { [0.0, 0.0] } else { [s / qa, qc / s] }
    };
    let (uu11, uu12, uu22) = (u1.dot(u1), u1.dot(u2), u2.dot(u2));
    let mut candidates = Vec::with_capacity(2);
    if a.abs() >= c.abs() {
        // s = λ1 / λ2 solves a s² + b s + c = 0; ‖λ1 u1 + λ2 u2‖ = 1 fixes λ2.
        for s in roots(a, b, c) {
            let val = s * s * uu11 + 2.0 * s * uu12 + uu22;
            if val > 0.0 {
                let l2 = 1.0 / val.sqrt();
                candidates.push((s * l2, l2));
            }
        }
    } else {
        // t = λ2 / λ1 solves c t² + b t + a = 0.
        for t in roots(c, b, a) {
            let val = uu11 + 2.0 * t * uu12 + t * t * uu22;
            if val > 0.0 {
                let l1 = 1.0 / val.sqrt();
                candidates.push((l1, t * l1));
            }
        }
    }
    let cost = |&(l1, l2): &(f64, f64)| ((l1 * s7).powi(2) + (l2 * s8).powi(2), l1 * l1 + l2 * l2);
    candidates
        .into_iter()
        .min_by(|p, q| {
            let (cp, cq) = (cost(p), cost(q));
            let scale = cp.0.max(cq.0);
            if (cp.0 - cq.0).abs() <= 1e-12 * scale.max(f64::MIN_POSITIVE) || scale < 1e-24 {
                cp.1.total_cmp(&cq.1)
            } else {
                cp.0.total_cmp(&cq.0)
            }
        })
        .unwrap_or((1.0, 0.0))
}

/// An AX = YB solution: `A_i X = Y B_i` with `X = T_a_b`, `Y = T_wa_wb`.
#[derive(Debug, Clone, PartialEq)]
pub struct AxYbSolution {
    /// `X = T_a_b`.
    pub x: Isometry3<f64>,
    /// `Y = T_wa_wb`.
    pub y: Isometry3<f64>,
    /// Residuals `(A_i X)⁻¹ (Y B_i)` per pose.
    pub residuals: Residuals,
    /// Singular values of `K = Σ R_Bi ⊗ R_Ai` (descending). The largest equals the number of
    /// poses for noise-free data; the gap to the second decides whether the rotations are unique.
    pub rotation_singular_values: Vec<f64>,
    /// Predicted standard deviation (radians) of the rotations: per-component rotation residual
    /// (floored at the config's noise floor) × √n / (σ₁ − σ₂), first-order perturbation of the
    /// leading singular vectors of `K`.
    pub rotation_std_rad: f64,
    /// Singular values of the stacked translation system `[R_A  −I] (t_X, t_Y) = R_Y t_B − t_A`
    /// (descending).
    pub translation_singular_values: Vec<f64>,
    /// Predicted standard deviation (metres) of `(t_X, t_Y)` along the weakest direction:
    /// per-component translation residual (floored) / smallest singular value.
    pub translation_std_m: f64,
    /// Human-readable warnings; empty when both predicted deviations are within the thresholds.
    pub warnings: Vec<String>,
}

impl AxYbSolution {
    /// Whether both predicted standard deviations are within the thresholds.
    pub fn is_trusted(&self) -> bool {
        self.warnings.is_empty()
    }
}

/// Solves `A_i X = Y B_i` from associated absolute poses `A_i = T_wa_a(i)`, `B_i = T_wb_b(i)`
/// with the default thresholds.
pub fn solve_ax_yb(a: &[Isometry3<f64>], b: &[Isometry3<f64>]) -> Result<AxYbSolution, HandEyeError> {
    solve_ax_yb_with(a, b, &ObservabilityConfig::default())
}

/// Solves `A_i X = Y B_i` (Shah 2013 style closed form).
///
/// Rotation: `R_A R_X R_Bᵀ = R_Y` gives `(R_B ⊗ R_A) vec(R_X) = vec(R_Y)` (column-major vec).
/// Summing, `K = Σ R_Bi ⊗ R_Ai` has `vec(R_X)` and `vec(R_Y)` as its leading right and left
/// singular vectors (singular value n); they are rescaled, their common sign fixed by
/// `det > 0`, and projected onto SO(3). Translation: least squares of
/// `R_A t_X − t_Y = R_Y t_B − t_A`.
pub fn solve_ax_yb_with(
    a: &[Isometry3<f64>],
    b: &[Isometry3<f64>],
    config: &ObservabilityConfig,
) -> Result<AxYbSolution, HandEyeError> {
    if a.len() != b.len() {
        return Err(HandEyeError::LengthMismatch { a: a.len(), b: b.len() });
    }
    let n = a.len();
    if n < 3 {
        return Err(HandEyeError::TooFewPairs { kept: n, required: 3 });
    }
    let mut k = SMatrix::<f64, 9, 9>::zeros();
    for (pa, pb) in a.iter().zip(b) {
        let ra = pa.rotation.to_rotation_matrix().into_inner();
        let rb = pb.rotation.to_rotation_matrix().into_inner();
        for (i, j) in (0..3).flat_map(|i| (0..3).map(move |j| (i, j))) {
            let mut block = k.fixed_view_mut::<3, 3>(3 * i, 3 * j);
            block += ra * rb[(i, j)];
        }
    }
    if !k.iter().all(|v| v.is_finite()) {
        return Err(HandEyeError::Numerical("non-finite rotations"));
    }
    let svd = k.svd(true, true);
    let (u, v_t) = (svd.u.expect("u"), svd.v_t.expect("v_t"));
    let sv = svd.singular_values;
    let vx = Matrix3::from_column_slice(v_t.row(0).transpose().as_slice());
    let uy = Matrix3::from_column_slice(u.column(0).as_slice());
    let sign = if vx.determinant() < 0.0 { -1.0 } else { 1.0 };
    let r_x = UnitQuaternion::from_rotation_matrix(&nearest_rotation(&(vx * sign)));
    let r_y = UnitQuaternion::from_rotation_matrix(&nearest_rotation(&(uy * sign)));

    let mut m = DMatrix::zeros(3 * n, 6);
    let mut r = DVector::zeros(3 * n);
    for (i, (pa, pb)) in a.iter().zip(b).enumerate() {
        m.fixed_view_mut::<3, 3>(3 * i, 0).copy_from(&pa.rotation.to_rotation_matrix().into_inner());
        m.fixed_view_mut::<3, 3>(3 * i, 3).copy_from(&(-Matrix3::identity()));
        r.fixed_rows_mut::<3>(3 * i).copy_from(&(r_y * pb.translation.vector - pa.translation.vector));
    }
    let (t, t_sv) = lstsq(m, r)?;
    let x = Isometry3::from_parts(Translation3::new(t[0], t[1], t[2]), r_x);
    let y = Isometry3::from_parts(Translation3::new(t[3], t[4], t[5]), r_y);

    // Per-component residual noise of the rotation and translation equations.
    let (mut rot_ss, mut tr_ss) = (0.0, 0.0);
    for (pa, pb) in a.iter().zip(b) {
        rot_ss += so3_log(&((pa.rotation * r_x).inverse() * (r_y * pb.rotation))).norm_squared();
        let e = pa.rotation * x.translation.vector + pa.translation.vector
            - (r_y * pb.translation.vector + y.translation.vector);
        tr_ss += e.norm_squared();
    }
    let sigma_r = (rot_ss / (3 * n) as f64).sqrt().max(config.min_rotation_noise_rad);
    let sigma_t = (tr_ss / (3 * n) as f64).sqrt().max(config.min_translation_noise_m);
    let gap = (sv[0] - sv[1]).max(f64::MIN_POSITIVE);
    let rotation_std_rad = sigma_r * (n as f64).sqrt() / gap;
    let t_min = t_sv.iter().copied().fold(f64::INFINITY, f64::min).max(f64::MIN_POSITIVE);
    let translation_std_m = sigma_t / t_min;
    let mut warnings = Vec::new();
    if rotation_std_rad > config.max_rotation_std_rad {
        warnings.push(format!(
            "the rotations of X and Y are not well determined: the rotations of the poses are too \
             alike (singular-value gap {:.3} of {n}); predicted std {:.3}° > {:.3}°",
            gap,
            rotation_std_rad.to_degrees(),
            config.max_rotation_std_rad.to_degrees()
        ));
    }
    if translation_std_m > config.max_translation_std_m {
        warnings.push(format!(
            "the translations of X and Y are not well determined: the orientations of sensor a do \
             not vary enough; predicted std {:.4} m > {:.4} m",
            translation_std_m, config.max_translation_std_m
        ));
    }
    let residuals = Residuals::from_errors(a.iter().zip(b).map(|(pa, pb)| (pa * x).inverse() * (y * pb)));
    Ok(AxYbSolution {
        x,
        y,
        residuals,
        rotation_singular_values: sv.iter().copied().collect(),
        rotation_std_rad,
        translation_singular_values: t_sv,
        translation_std_m,
        warnings,
    })
}

/// The rotation nearest to `m` in the Frobenius norm (`det m > 0` assumed).
fn nearest_rotation(m: &Matrix3<f64>) -> Rotation3<f64> {
    procrustes(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(t: [f64; 3], r: [f64; 3]) -> Isometry3<f64> {
        Isometry3::new(Vector3::from(t), Vector3::from(r))
    }

    #[test]
    fn evenly_spaced_covers_the_ends() {
        assert_eq!(evenly_spaced(10, 3), vec![0, 5, 9]);
        assert_eq!(evenly_spaced(3, 10), vec![0, 1, 2]);
    }

    #[test]
    fn three_methods_on_exact_motions() {
        let x = iso([0.1, -0.2, 0.3], [0.4, -0.5, 0.6]);
        let motions = [
            iso([0.5, 0.1, 0.0], [0.9, 0.1, -0.2]),
            iso([-0.2, 0.4, 0.3], [0.1, 1.1, 0.3]),
            iso([0.0, -0.3, 0.6], [-0.3, 0.2, 0.8]),
        ];
        let b: Vec<_> = motions.iter().map(|a| x.inverse() * a * x).collect();
        let pairs = MotionPairs::from_motions(motions.to_vec(), b).unwrap();
        for method in HandEyeMethod::ALL {
            let s = solve(&pairs, method).unwrap();
            let e = s.x.inverse() * x;
            assert!(
                rotation_angle(&e.rotation) < 1e-10 && e.translation.vector.norm() < 1e-10,
                "{method}: {e}"
            );
            assert!(s.residuals.translation_max_m < 1e-10);
        }
    }
}
