//! Trajectory error metrics as `evo` computes them (evo 1.38.1; `tests/evo_parity.rs` checks the
//! numbers): the absolute pose error [`ape`] (ATE when on translations) and the relative pose error
//! [`rpe`], each with a [`PoseRelation`] and the [`Statistics`] evo reports.
//!
//! Notation (TUM RGB-D benchmark, Sturm et al. 2012): `Q_i = T_ref_frame(i)` the reference poses,
//! `P_i` the estimated poses (already aligned into the reference frame when an alignment was
//! applied, see [`crate::align`]).
//!
//! - APE: `E_i = P_i⁻¹ Q_i`; its translation part is taken as `|p_i − q_i|` (the positions'
//!   distance, as evo does), the other relations on `E_i`.
//! - RPE: `E_ij = (Q_i⁻¹ Q_j)⁻¹ (P_i⁻¹ P_j)` over index pairs `(i, j)` chosen by a [`Delta`].
//!
//! The reward of L2Calib (methods §6.1) is [`ate_rmse`]: association within 0.01 s, SE(3) Umeyama
//! alignment, RMSE of the translation APE.

use alignrl_envs::sensors::Trajectory;
use nalgebra::{Isometry3, Matrix3, Matrix4, UnitQuaternion};

use crate::align::{AlignError, Alignment, AssociateOptions, Associated, align, associate};

/// Why a metric could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// Reference and estimate differ in length.
    #[error("{reference} reference poses but {estimate} estimate poses")]
    LengthMismatch {
        /// Number of reference poses.
        reference: usize,
        /// Number of estimated poses.
        estimate: usize,
    },
    /// There is nothing to compute statistics of.
    #[error("no errors to compute statistics of (empty input)")]
    Empty,
    /// The delta is out of range (0 frames, a negative or non-finite value, an angle beyond π).
    #[error("invalid RPE delta {0:?}")]
    InvalidDelta(Delta),
    /// The delta selected no pair of poses.
    #[error("RPE delta {0:?} selected no pose pairs; try a smaller delta or a larger tolerance")]
    NoPairs(Delta),
    /// Association or alignment failed.
    #[error(transparent)]
    Align(#[from] AlignError),
}

/// Which part of an error pose `E` is measured (evo's `PoseRelation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoseRelation {
    /// `|t(E)|` in metres (for APE: `|p_i − q_i|`). The usual ATE / translational RPE.
    #[default]
    TranslationPart,
    /// `‖R(E) − I‖_F` (dimensionless).
    RotationPart,
    /// `‖E − I₄‖_F` on the 4×4 homogeneous matrix (dimensionless, mixes metres and radians).
    FullTransformation,
    /// The angle `θ = |log R(E)|` in radians.
    RotationAngleRad,
    /// The angle `θ = |log R(E)|` in degrees.
    RotationAngleDeg,
}

impl PoseRelation {
    /// The error of one error pose `E` under this relation.
    pub fn error(self, e: &Isometry3<f64>) -> f64 {
        match self {
            PoseRelation::TranslationPart => e.translation.vector.norm(),
            PoseRelation::RotationPart => {
                (e.rotation.to_rotation_matrix().matrix() - Matrix3::identity()).norm()
            }
            PoseRelation::FullTransformation => (e.to_homogeneous() - Matrix4::identity()).norm(),
            PoseRelation::RotationAngleRad => rotation_angle(&e.rotation),
            PoseRelation::RotationAngleDeg => rotation_angle(&e.rotation).to_degrees(),
        }
    }
}

/// The rotation angle `θ ∈ [0, π]` of a unit quaternion, `2 atan2(|v|, |w|)`: accurate for small
/// angles too (`2 acos(|w|)` loses half the digits there).
pub fn rotation_angle(q: &UnitQuaternion<f64>) -> f64 {
    2.0 * q.imag().norm().atan2(q.w.abs())
}

/// The statistics evo reports for an error series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Statistics {
    /// `sqrt(Σ e_i² / n)`.
    pub rmse: f64,
    /// `Σ e_i / n`.
    pub mean: f64,
    /// The middle value (mean of the two middle values for even n).
    pub median: f64,
    /// Population standard deviation `sqrt(Σ (e_i − mean)² / n)`.
    pub std: f64,
    /// Smallest error.
    pub min: f64,
    /// Largest error.
    pub max: f64,
    /// Sum of squared errors `Σ e_i²`.
    pub sse: f64,
}

impl Statistics {
    /// Statistics of a non-empty error series.
    pub fn from_errors(errors: &[f64]) -> Result<Statistics, MetricError> {
        if errors.is_empty() {
            return Err(MetricError::Empty);
        }
        let n = errors.len() as f64;
        let sse: f64 = errors.iter().map(|e| e * e).sum();
        let mean = errors.iter().sum::<f64>() / n;
        let var = errors.iter().map(|e| (e - mean) * (e - mean)).sum::<f64>() / n;
        let mut sorted = errors.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2.0 };
        Ok(Statistics {
            rmse: (sse / n).sqrt(),
            mean,
            median,
            std: var.sqrt(),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            sse,
        })
    }
}

/// An absolute pose error result.
#[derive(Debug, Clone, PartialEq)]
pub struct Ape {
    /// The relation measured.
    pub relation: PoseRelation,
    /// One error per pose pair.
    pub errors: Vec<f64>,
    /// Statistics of `errors`.
    pub statistics: Statistics,
}

/// APE of matched pairs (usually after [`align`]); see [`ape_poses`].
pub fn ape(pairs: &Associated, relation: PoseRelation) -> Result<Ape, MetricError> {
    ape_poses(pairs.reference(), pairs.estimate(), relation)
}

/// APE of index-matched poses `Q_i` (reference) and `P_i` (estimate): `E_i = P_i⁻¹ Q_i`, except
/// that [`PoseRelation::TranslationPart`] is `|p_i − q_i|` (evo's definition, the ATE).
pub fn ape_poses(
    reference: &[Isometry3<f64>],
    estimate: &[Isometry3<f64>],
    relation: PoseRelation,
) -> Result<Ape, MetricError> {
    if reference.len() != estimate.len() {
        return Err(MetricError::LengthMismatch { reference: reference.len(), estimate: estimate.len() });
    }
    let errors: Vec<f64> = reference
        .iter()
        .zip(estimate)
        .map(|(q, p)| match relation {
            PoseRelation::TranslationPart => (p.translation.vector - q.translation.vector).norm(),
            _ => relation.error(&(p.inverse() * q)),
        })
        .collect();
    let statistics = Statistics::from_errors(&errors)?;
    Ok(Ape { relation, errors, statistics })
}

/// The distance between the two poses of an RPE pair (evo's `delta` with its `delta_unit`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delta {
    /// `j − i` poses.
    Frames(usize),
    /// Travelled path length (metres) between `i` and `j`.
    Meters(f64),
    /// Elapsed time (seconds) between `i` and `j` (not in evo 1.38.1; mirrors `Meters`).
    Seconds(f64),
    /// Rotation angle (radians, in `[0, π]`): accumulated along the path for consecutive pairs,
    /// direct between `i` and `j` with `all_pairs`.
    Radians(f64),
    /// As `Radians`, in degrees (`[0, 180]`).
    Degrees(f64),
}

/// Settings of [`rpe`] (evo's `RPE` arguments).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RpeOptions {
    /// The relation measured on each `E_ij`.
    pub relation: PoseRelation,
    /// The pair distance.
    pub delta: Delta,
    /// With `all_pairs` (and for angles always), a pair is kept when its distance is within
    /// `delta · rel_delta_tol` of `delta`; evo's default 0.1.
    pub rel_delta_tol: f64,
    /// Every start index gets a pair (overlapping pairs) instead of consecutive, non-overlapping
    /// ones.
    pub all_pairs: bool,
    /// Select the pairs on the reference's poses (and stamps) instead of the estimate's.
    pub pairs_from_reference: bool,
}

impl Default for RpeOptions {
    fn default() -> Self {
        RpeOptions {
            relation: PoseRelation::TranslationPart,
            delta: Delta::Frames(1),
            rel_delta_tol: 0.1,
            all_pairs: false,
            pairs_from_reference: false,
        }
    }
}

/// A relative pose error result.
#[derive(Debug, Clone, PartialEq)]
pub struct Rpe {
    /// The settings used.
    pub options: RpeOptions,
    /// The index pairs `(i, j)` compared.
    pub pairs: Vec<(usize, usize)>,
    /// One error per pair.
    pub errors: Vec<f64>,
    /// Statistics of `errors`.
    pub statistics: Statistics,
}

/// The relative error pose `E_ij = (Q_i⁻¹ Q_j)⁻¹ (P_i⁻¹ P_j)` of reference poses `Q` and estimated
/// poses `P` (identity when the estimate moved exactly as the reference did).
pub fn relative_error(
    q_i: &Isometry3<f64>,
    q_j: &Isometry3<f64>,
    p_i: &Isometry3<f64>,
    p_j: &Isometry3<f64>,
) -> Isometry3<f64> {
    (q_i.inverse() * q_j).inverse() * (p_i.inverse() * p_j)
}

/// RPE of matched pairs: the index pairs come from [`delta_pairs`] on the estimate (or the
/// reference with `pairs_from_reference`), each gives [`relative_error`], measured by the
/// relation. A uniform alignment (SE(3)) leaves RPE unchanged; a scale correction does not.
pub fn rpe(pairs: &Associated, options: &RpeOptions) -> Result<Rpe, MetricError> {
    let (reference, estimate) = (pairs.reference(), pairs.estimate());
    let (poses, stamps) = if options.pairs_from_reference {
        (reference, pairs.reference_stamps())
    } else {
        (estimate, pairs.estimate_stamps())
    };
    let ids = delta_pairs(poses, stamps, options.delta, options.rel_delta_tol, options.all_pairs)?;
    let errors: Vec<f64> = ids
        .iter()
        .map(|&(i, j)| {
            options.relation.error(&relative_error(&reference[i], &reference[j], &estimate[i], &estimate[j]))
        })
        .collect();
    let statistics = Statistics::from_errors(&errors)?;
    Ok(Rpe { options: *options, pairs: ids, errors, statistics })
}

/// The index pairs `(i, j)`, `i < j`, at distance `delta` along `poses` (evo's
/// `id_pairs_from_delta`; `stamps` are only used by [`Delta::Seconds`]). With `tol = delta ·
/// rel_tol`:
///
/// - `Frames(d)`: consecutive `(0, d), (d, 2d), …`; all pairs `(i, i + d)` for every `i`.
/// - `Meters(d)` with cumulative path length `L_k = Σ_{m≤k} |p_m − p_{m−1}|`: consecutive pairs
///   start at 0 and end at the first pose where the path accumulated since the start reaches `d`
///   (the next pair starts there); all pairs: for every `i`, the `j > i` with `L_j − L_i` nearest
///   to `d` (the first on a tie), kept when within `tol`.
/// - `Seconds(d)`: as `Meters` with the stamps in place of `L` (consecutive: `t_j − t_i ≥ d`).
/// - `Radians(d)` / `Degrees(d)`: consecutive as `Meters` with the rotation angle between
///   successive poses accumulated; all pairs: every `j > i` whose direct angle `|log(R_iᵀ R_j)|` is
///   within `[d − tol, d + tol]` (all of them, O(n²)).
///
/// Errors when the delta is invalid or selects no pair.
pub fn delta_pairs(
    poses: &[Isometry3<f64>],
    stamps: &[f64],
    delta: Delta,
    rel_tol: f64,
    all_pairs: bool,
) -> Result<Vec<(usize, usize)>, MetricError> {
    let n = poses.len();
    let pairs = match delta {
        Delta::Frames(0) => return Err(MetricError::InvalidDelta(delta)),
        Delta::Frames(d) => {
            if all_pairs {
                (0..n.saturating_sub(d)).map(|i| (i, i + d)).collect()
            } else {
                let ids: Vec<usize> = (0..n).step_by(d).collect();
                ids.windows(2).map(|w| (w[0], w[1])).collect()
            }
        }
        Delta::Meters(d) | Delta::Seconds(d) if !(d.is_finite() && d >= 0.0) => {
            return Err(MetricError::InvalidDelta(delta));
        }
        Delta::Meters(d) => {
            let steps: Vec<f64> = poses
                .windows(2)
                .map(|w| (w[1].translation.vector - w[0].translation.vector).norm())
                .collect();
            if all_pairs {
                let mut cumulative = Vec::with_capacity(n);
                let mut total = 0.0;
                cumulative.push(total);
                for s in &steps {
                    total += s;
                    cumulative.push(total);
                }
                nearest_pairs(&cumulative, d, d * rel_tol)
            } else {
                accumulate_pairs(&steps, d)
            }
        }
        Delta::Seconds(d) => {
            if stamps.len() != n {
                return Err(MetricError::LengthMismatch { reference: stamps.len(), estimate: n });
            }
            if all_pairs {
                nearest_pairs(stamps, d, d * rel_tol)
            } else {
                let mut ids = vec![0];
                for (k, &t) in stamps.iter().enumerate().skip(1) {
                    if t - stamps[*ids.last().expect("starts with 0")] >= d {
                        ids.push(k);
                    }
                }
                ids.windows(2).map(|w| (w[0], w[1])).collect()
            }
        }
        Delta::Radians(_) | Delta::Degrees(_) => {
            let (d, tol) = match delta {
                Delta::Degrees(d) if (0.0..=180.0).contains(&d) => {
                    (d.to_radians(), (d * rel_tol).to_radians())
                }
                Delta::Radians(d) if (0.0..=std::f64::consts::PI).contains(&d) => (d, d * rel_tol),
                _ => return Err(MetricError::InvalidDelta(delta)),
            };
            if all_pairs {
                let (lower, upper) = (d - tol, d + tol);
                let mut pairs = Vec::new();
                for i in 0..n.saturating_sub(1) {
                    let inv = poses[i].rotation.inverse();
                    for (j, p) in poses.iter().enumerate().skip(i + 1) {
                        let angle = rotation_angle(&(inv * p.rotation));
                        if lower <= angle && angle <= upper {
                            pairs.push((i, j));
                        }
                    }
                }
                pairs
            } else {
                let steps: Vec<f64> = poses
                    .windows(2)
                    .map(|w| rotation_angle(&(w[0].rotation.inverse() * w[1].rotation)))
                    .collect();
                accumulate_pairs(&steps, d)
            }
        }
    };
    if pairs.is_empty() {
        return Err(MetricError::NoPairs(delta));
    }
    Ok(pairs)
}

/// Consecutive pairs from per-step increments: a pair ends at the first pose where the sum of the
/// increments since its start reaches `delta`; the next pair starts there.
fn accumulate_pairs(steps: &[f64], delta: f64) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    let (mut start, mut sum) = (0, 0.0);
    for (k, s) in steps.iter().enumerate() {
        sum += s;
        if sum >= delta {
            pairs.push((start, k + 1));
            start = k + 1;
            sum = 0.0;
        }
    }
    pairs
}

/// For each `i`, the first `j > i` minimising `|(c_j − c_i) − delta|` over a non-decreasing series
/// `c`, kept when that is `≤ tol`. `O(n log n)`: the differences are monotone in `j`, so their
/// distance to `delta` first falls, then rises.
fn nearest_pairs(c: &[f64], delta: f64, tol: f64) -> Vec<(usize, usize)> {
    let n = c.len();
    let mut pairs = Vec::new();
    for i in 0..n.saturating_sub(1) {
        let base = c[i];
        let dist = |j: usize| ((c[j] - base) - delta).abs();
        // First j > i with (c_j − c_i) − delta ≥ 0: the start of the rising branch.
        let k = i + 1 + c[i + 1..].partition_point(|&x| (x - base) - delta < 0.0);
        let best = if k > i + 1 && (k == n || dist(k - 1) <= dist(k)) {
            // The minimum lies on the falling branch [i+1, k): its first occurrence.
            let m = dist(k - 1);
            i + 1 + c[i + 1..k].partition_point(|&x| ((x - base) - delta).abs() > m)
        } else {
            k
        };
        if dist(best) <= tol {
            pairs.push((i, best));
        }
    }
    pairs
}

/// The reward error of L2Calib (methods §6.1): associate `estimate` with `reference` (nearest stamp
/// within 0.01 s), align it with SE(3) Umeyama on all pairs, and return the RMSE of the
/// translation APE (metres).
pub fn ate_rmse(reference: &Trajectory, estimate: &Trajectory) -> Result<f64, MetricError> {
    let pairs = associate(reference, estimate, &AssociateOptions::default())?;
    let (aligned, _) = align(&pairs, Alignment::SE3)?;
    Ok(ape(&aligned, PoseRelation::TranslationPart)?.statistics.rmse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Translation3, Vector3};
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    /// A pose at `(x, 0, 0)` rotated by `yaw` about z.
    fn pose(x: f64, yaw: f64) -> Isometry3<f64> {
        Isometry3::new(Vector3::new(x, 0.0, 0.0), Vector3::new(0.0, 0.0, yaw))
    }

    fn trajectory(poses: Vec<Isometry3<f64>>) -> Trajectory {
        Trajectory::new((0..poses.len()).map(|i| i as f64 * 0.1).collect(), poses).unwrap()
    }

    #[test]
    fn statistics_match_hand_values() {
        let s = Statistics::from_errors(&[3.0, 1.0, 4.0, 2.0]).unwrap();
        assert_eq!(s.mean, 2.5);
        assert_eq!(s.median, 2.5);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 4.0);
        assert_eq!(s.sse, 30.0);
        assert_eq!(s.rmse, 7.5f64.sqrt());
        assert_eq!(s.std, 1.25f64.sqrt());
        assert_eq!(Statistics::from_errors(&[5.0, 1.0, 2.0]).unwrap().median, 2.0);
        assert_eq!(Statistics::from_errors(&[]), Err(MetricError::Empty));
    }

    #[test]
    fn ate_of_a_trajectory_against_itself_is_zero() {
        let mut rng = Pcg64::seed_from_u64(11);
        let poses: Vec<_> = (0..50)
            .map(|i| {
                let t =
                    Vector3::new(rng.random_range(-3.0..3.0), rng.random_range(-3.0..3.0), 0.1 * i as f64);
                Isometry3::new(t, Vector3::new(0.0, 0.1 * i as f64, rng.random_range(-1.0..1.0)))
            })
            .collect();
        let t = trajectory(poses);
        assert!(ate_rmse(&t, &t).unwrap() < 1e-12);
        let pairs = Associated::by_index(&t, &t).unwrap();
        for relation in [
            PoseRelation::TranslationPart,
            PoseRelation::RotationPart,
            PoseRelation::FullTransformation,
            PoseRelation::RotationAngleRad,
            PoseRelation::RotationAngleDeg,
        ] {
            assert!(ape(&pairs, relation).unwrap().statistics.max < 1e-12, "{relation:?}");
            let options = RpeOptions { relation, ..Default::default() };
            assert!(rpe(&pairs, &options).unwrap().statistics.max < 1e-14, "{relation:?}");
        }
    }

    #[test]
    fn ape_relations_on_a_known_error() {
        // The estimate is off by 0.3 m along y and 0.2 rad about z.
        let q = Isometry3::new(Vector3::new(1.0, 2.0, 3.0), Vector3::new(0.0, 0.0, 0.5));
        let p = Isometry3::from_parts(
            Translation3::new(1.0, 2.3, 3.0),
            UnitQuaternion::from_euler_angles(0.0, 0.0, 0.7),
        );
        let a = |r| ape_poses(&[q], &[p], r).unwrap().errors[0];
        assert!((a(PoseRelation::TranslationPart) - 0.3).abs() < 1e-15);
        assert!((a(PoseRelation::RotationAngleRad) - 0.2).abs() < 1e-15);
        assert!((a(PoseRelation::RotationAngleDeg) - 0.2f64.to_degrees()).abs() < 1e-12);
        // ‖R(0.2) − I‖_F = sqrt(2 ((cos−1)² + sin²)) = sqrt(4 (1 − cos 0.2)).
        let rot = (4.0 * (1.0 - 0.2f64.cos())).sqrt();
        assert!((a(PoseRelation::RotationPart) - rot).abs() < 1e-15);
        // Full: the translation of P⁻¹Q has length 0.3 too.
        assert!((a(PoseRelation::FullTransformation) - (rot * rot + 0.09).sqrt()).abs() < 1e-15);
        assert!(matches!(
            ape_poses(&[q], &[], PoseRelation::TranslationPart),
            Err(MetricError::LengthMismatch { .. })
        ));
    }

    /// A reference driving along x in 1 m steps, turning 0.1 rad per step; the estimate has 10 %
    /// too long steps. Hand values: each 1-frame RPE translation error is 0.1 m.
    fn drive() -> (Vec<Isometry3<f64>>, Vec<Isometry3<f64>>) {
        let mut reference = vec![Isometry3::identity()];
        let mut estimate = vec![Isometry3::identity()];
        for k in 1..11 {
            let step = pose(1.0, 0.1);
            let long = pose(1.1, 0.1);
            reference.push(reference[k - 1] * step);
            estimate.push(estimate[k - 1] * long);
        }
        (reference, estimate)
    }

    #[test]
    fn rpe_frames_hand_computed() {
        let (reference, estimate) = drive();
        let t = |p: Vec<Isometry3<f64>>| trajectory(p);
        let pairs = Associated::by_index(&t(reference), &t(estimate)).unwrap();
        let r = rpe(&pairs, &RpeOptions::default()).unwrap();
        assert_eq!(r.pairs.len(), 10);
        for e in &r.errors {
            assert!((e - 0.1).abs() < 1e-12);
        }
        // Rotations agree exactly: no rotation error.
        let rot = RpeOptions { relation: PoseRelation::RotationAngleRad, ..Default::default() };
        assert!(rpe(&pairs, &rot).unwrap().statistics.max < 1e-12);
        // Delta 3 frames, consecutive: (0,3),(3,6),(6,9); all pairs: (0,3)..(7,10).
        let d3 = RpeOptions { delta: Delta::Frames(3), ..Default::default() };
        let r = rpe(&pairs, &d3).unwrap();
        assert_eq!(r.pairs, vec![(0, 3), (3, 6), (6, 9)]);
        // Over 3 steps: the estimate's relative translation is 1.1 × the reference's, whose length
        // is |1 + e^{0.1i} + e^{0.2i}| (a chord polygon in the plane).
        let chord = (1.0 + (0.1f64).cos() + (0.2f64).cos()).hypot((0.1f64).sin() + (0.2f64).sin());
        for e in &r.errors {
            assert!((e - 0.1 * chord).abs() < 1e-12, "{e} vs {}", 0.1 * chord);
        }
        let all = RpeOptions { all_pairs: true, ..d3 };
        assert_eq!(rpe(&pairs, &all).unwrap().pairs, (0..8).map(|i| (i, i + 3)).collect::<Vec<_>>());
        assert!(rpe(&pairs, &RpeOptions { delta: Delta::Frames(0), ..Default::default() }).is_err());
        assert!(matches!(
            rpe(&pairs, &RpeOptions { delta: Delta::Frames(11), ..Default::default() }),
            Err(MetricError::NoPairs(_))
        ));
    }

    #[test]
    fn delta_semantics_in_metres_seconds_and_angles() {
        // Steps along x of 0.4, 0.4, 0.4, 0.5, 0.3, 1.0 m (positions 0, .4, .8, 1.2, 1.7, 2.0, 3.0),
        // stamps 0, 1, 2, 4, 5, 6, 9 s; yaw increments 0.1, 0.1, 0.3, 0.0, 0.2, 0.1 rad.
        let x = [0.0, 0.4, 0.8, 1.2, 1.7, 2.0, 3.0];
        let yaw = [0.0, 0.1, 0.2, 0.5, 0.5, 0.7, 0.8];
        let stamps = [0.0, 1.0, 2.0, 4.0, 5.0, 6.0, 9.0];
        let poses: Vec<_> = x.iter().zip(&yaw).map(|(&x, &y)| pose(x, y)).collect();
        // A relative tolerance of 0.15 keeps every case below clear of its boundary.
        let pairs = |delta, all| delta_pairs(&poses, &stamps, delta, 0.15, all).unwrap();

        // 1 m consecutive: the path reaches ≥ 1 at x = 1.2 (index 3), then 0.5 + 0.3 + 1.0 ≥ 1 at 6.
        assert_eq!(pairs(Delta::Meters(1.0), false), vec![(0, 3), (3, 6)]);
        // 1 m all pairs, tol 0.15, nearest path length per start: from 0 → 0.8 or 1.2 (off 0.2,
        // dropped); 1 → 0.8 (dropped); 2 → 0.9 at index 4 (kept); 3 → 0.8 (dropped);
        // 4 → 1.3 (dropped); 5 → 1.0 at index 6 (kept).
        assert_eq!(pairs(Delta::Meters(1.0), true), vec![(2, 4), (5, 6)]);
        // 2 s consecutive: 0 → t=2 (index 2), → t=4 (3), → t=6 (5), → t=9 (6).
        assert_eq!(pairs(Delta::Seconds(2.0), false), vec![(0, 2), (2, 3), (3, 5), (5, 6)]);
        // 3 s all pairs, tol 0.45: from t=0 the nearest are 2 s and 4 s (dropped); t=1 → t=4;
        // t=2 → t=5; t=4 → 2 s (dropped); t=5 → 1 s or 4 s (dropped); t=6 → t=9.
        assert_eq!(pairs(Delta::Seconds(3.0), true), vec![(1, 3), (2, 4), (5, 6)]);
        // 0.25 rad consecutive, angles accumulated: 0.1 + 0.1 + 0.3 at index 3; 0 + 0.2 + 0.1 at 6.
        assert_eq!(pairs(Delta::Radians(0.25), false), vec![(0, 3), (3, 6)]);
        // 0.3 rad all pairs, direct angle within [0.255, 0.345]: |yaw_j − yaw_i| = 0.3 for
        // (2,3), (2,4), (3,6), (4,6) only.
        assert_eq!(pairs(Delta::Radians(0.3), true), vec![(2, 3), (2, 4), (3, 6), (4, 6)]);
        assert_eq!(pairs(Delta::Degrees(0.3f64.to_degrees()), true), vec![(2, 3), (2, 4), (3, 6), (4, 6)]);
        assert!(delta_pairs(&poses, &stamps, Delta::Degrees(181.0), 0.1, false).is_err());
        assert!(delta_pairs(&poses, &stamps, Delta::Meters(-1.0), 0.1, false).is_err());
        assert!(matches!(
            delta_pairs(&poses, &stamps, Delta::Meters(10.0), 0.1, false),
            Err(MetricError::NoPairs(_))
        ));
    }

    #[test]
    fn nearest_pairs_matches_a_brute_force_scan() {
        let mut rng = Pcg64::seed_from_u64(12);
        for _ in 0..50 {
            // Non-decreasing series with plateaus and repeated differences.
            let mut c: Vec<f64> = vec![0.0];
            for _ in 0..40 {
                let step = [0.0, 0.25, 0.5, 1.0][rng.random_range(0..4)];
                c.push(c[c.len() - 1] + step);
            }
            let delta: f64 = [0.5, 1.0, 1.25, 3.0][rng.random_range(0..4)];
            let tol = delta * 0.1;
            let mut brute = Vec::new();
            for i in 0..c.len() - 1 {
                let mut best = i + 1;
                for j in i + 1..c.len() {
                    if ((c[j] - c[i]) - delta).abs() < ((c[best] - c[i]) - delta).abs() {
                        best = j;
                    }
                }
                if ((c[best] - c[i]) - delta).abs() <= tol {
                    brute.push((i, best));
                }
            }
            assert_eq!(nearest_pairs(&c, delta, tol), brute);
        }
    }

    #[test]
    fn relative_error_is_identity_for_equal_motion() {
        let q_i = Isometry3::new(Vector3::new(1.0, 2.0, 3.0), Vector3::new(0.1, 0.2, 0.3));
        let q_j = Isometry3::new(Vector3::new(2.0, 2.0, 3.5), Vector3::new(0.2, 0.1, 0.3));
        // The estimate lives in another world frame: P = W Q.
        let w = Isometry3::new(Vector3::new(-5.0, 1.0, 0.0), Vector3::new(1.0, -0.5, 0.2));
        let e = relative_error(&q_i, &q_j, &(w * q_i), &(w * q_j));
        assert!((e.to_homogeneous() - Matrix4::identity()).abs().max() < 1e-14);
        // A small rotation angle keeps its relative precision.
        let tiny = UnitQuaternion::from_axis_angle(&Vector3::x_axis(), 1e-9);
        assert!((rotation_angle(&tiny) - 1e-9).abs() < 1e-24);
    }
}
