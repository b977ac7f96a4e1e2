//! Data selection (L2Calib §6.3, implemented correctly): split a recording into windows, score
//! each by its rotational excitation, keep the informative ones, and say which were dropped and why.
//!
//! # Score
//!
//! For each window, the body angular velocities `ω_k` (rad/s, body frame of the reference) are
//! stacked as rows `skew(ω_k)` of `J`; the information matrix is
//!
//! ```text
//! H = (1/m) Σ_k skew(ω_k)ᵀ skew(ω_k) = (1/m) Σ_k (‖ω_k‖² I − ω_k ω_kᵀ)        ((rad/s)², 3 × 3)
//! ```
//!
//! normalised by the sample count `m`, and the score is the second elementary symmetric
//! polynomial of its eigenvalues, `e₂ = λ₁λ₂ + λ₁λ₃ + λ₂λ₃` ((rad/s)⁴). For a constant angular
//! velocity `ω`, `H` has eigenvalues `(0, ‖ω‖², ‖ω‖²)` and `e₂ = ‖ω‖⁴`. The public L2Calib code
//! (`compute_eigen.hpp`) advances the row of its fixed-size Jacobian by 1 instead of 3 (overlapping
//! blocks), leaves unused rows uninitialised, and reads `subarray[3]` of runs shorter than 4; none
//! of that is copied here: every sample contributes one full 3 × 3 block, and nothing else does.
//!
//! Note what `e₂` measures: it vanishes only when the rig does not rotate at all (one zero
//! eigenvalue is allowed), so it separates rotating from non-rotating windows but does not detect
//! single-axis (planar) rotation; the smallest eigenvalue `λ₁` does, and is reported alongside.
//! Whether the extrinsic is observable is decided later by [`crate::refine`] from the predicted
//! standard deviations.
//!
//! # Angular velocity
//!
//! `ω_k = Log(R_kᵀ R_j) / (t_j − t_k)` with `j` the first pose at least
//! [`SelectionConfig::baseline_s`] after `k` (a baseline of a few samples keeps the
//! finite-difference noise of noisy poses from posing as excitation), stamped at the midpoint.

use std::ops::Range;

use nalgebra::{Isometry3, Matrix3, SymmetricEigen, Vector3};

use crate::se3::so3_log;

/// Why a selection cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SelectionError {
    /// Stamps and poses differ in length.
    #[error("{stamps} stamps but {poses} poses")]
    LengthMismatch {
        /// Stamps.
        stamps: usize,
        /// Poses.
        poses: usize,
    },
    /// Stamps must be finite and strictly increasing.
    #[error("stamps must be finite and strictly increasing (pose {0})")]
    BadStamps(usize),
    /// A setting is out of range.
    #[error("invalid selection setting: {0}")]
    InvalidConfig(&'static str),
}

/// Settings of [`select_windows`].
#[derive(Debug, Clone, PartialEq)]
pub struct SelectionConfig {
    /// Window length (seconds; default 15, as L2Calib). A last window shorter than half of it is
    /// merged into the previous one.
    pub window_s: f64,
    /// Smallest kept score `e₂` ((rad/s)⁴; default 1e-4, i.e. about 0.1 rad/s ≈ 5.7°/s of
    /// rotation).
    pub min_score: f64,
    /// Finite-difference baseline of the angular velocity (seconds; default 0.2).
    pub baseline_s: f64,
    /// A window needs at least this many angular-velocity samples (default 10).
    pub min_samples: usize,
}

impl Default for SelectionConfig {
    fn default() -> Self {
        SelectionConfig { window_s: 15.0, min_score: 1e-4, baseline_s: 0.2, min_samples: 10 }
    }
}

/// The score of one window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowScore {
    /// Start of the window (seconds, stamps' clock).
    pub start_s: f64,
    /// End of the window (seconds).
    pub end_s: f64,
    /// Indices of the poses whose stamps lie in the window.
    pub poses: Range<usize>,
    /// Angular-velocity samples scored.
    pub samples: usize,
    /// Eigenvalues of `H`, ascending ((rad/s)²).
    pub eigenvalues: [f64; 3],
    /// `e₂` ((rad/s)⁴).
    pub score: f64,
    /// RMS angular speed (rad/s).
    pub rms_rate_rad_s: f64,
    /// Whether the window is kept.
    pub kept: bool,
    /// Why it was dropped (`None` when kept).
    pub reason: Option<String>,
}

/// Result of [`select_windows`].
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Every window, in time order.
    pub windows: Vec<WindowScore>,
    /// The threshold used ((rad/s)⁴).
    pub min_score: f64,
    /// True when no window passed and all poses are kept anyway (the caller must say so; the
    /// observability check then decides whether the result can be trusted).
    pub fallback_all: bool,
}

impl Selection {
    /// Per pose: whether it lies in a kept window (all true on fallback).
    pub fn keep_mask(&self, n: usize) -> Vec<bool> {
        let mut mask = vec![self.fallback_all; n];
        for w in self.windows.iter().filter(|w| w.kept) {
            for m in &mut mask[w.poses.start.min(n)..w.poses.end.min(n)] {
                *m = true;
            }
        }
        mask
    }

    /// The dropped windows.
    pub fn dropped(&self) -> impl Iterator<Item = &WindowScore> {
        self.windows.iter().filter(|w| !w.kept)
    }

    /// Number of kept windows.
    pub fn kept_count(&self) -> usize {
        self.windows.iter().filter(|w| w.kept).count()
    }
}

/// Eigenvalues (ascending) of `H = (1/m) Σ skew(ω)ᵀ skew(ω)` and `e₂`; zeros for no samples.
pub fn excitation_score(omegas: &[Vector3<f64>]) -> ([f64; 3], f64) {
    if omegas.is_empty() {
        return ([0.0; 3], 0.0);
    }
    let mut h = Matrix3::zeros();
    for w in omegas {
        let s = w.cross_matrix();
        h += s.transpose() * s;
    }
    h /= omegas.len() as f64;
    let mut ev: Vec<f64> = SymmetricEigen::new(h).eigenvalues.iter().map(|l| l.max(0.0)).collect();
    ev.sort_by(f64::total_cmp);
    let e = [ev[0], ev[1], ev[2]];
    (e, e[0] * e[1] + e[0] * e[2] + e[1] * e[2])
}

/// Body angular velocities by finite differences over at least `baseline_s`: midpoint stamps and
/// `ω` (rad/s, body frame).
pub fn angular_velocities(
    stamps: &[f64],
    poses: &[Isometry3<f64>],
    baseline_s: f64,
) -> (Vec<f64>, Vec<Vector3<f64>>) {
    let n = stamps.len().min(poses.len());
    let (mut ts, mut ws) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut j = 0;
    for k in 0..n {
        j = j.max(k + 1);
        while j < n && stamps[j] - stamps[k] < baseline_s {
            j += 1;
        }
        if j >= n {
            break;
        }
        let dt = stamps[j] - stamps[k];
        ws.push(so3_log(&(poses[k].rotation.inverse() * poses[j].rotation)) / dt);
        ts.push(0.5 * (stamps[k] + stamps[j]));
    }
    (ts, ws)
}

/// Scores windows of the (reference) trajectory and keeps those with `e₂ ≥ min_score` (see the
/// module docs).
pub fn select_windows(
    stamps: &[f64],
    poses: &[Isometry3<f64>],
    config: &SelectionConfig,
) -> Result<Selection, SelectionError> {
    if stamps.len() != poses.len() {
        return Err(SelectionError::LengthMismatch { stamps: stamps.len(), poses: poses.len() });
    }
    for (i, t) in stamps.iter().enumerate() {
        if !t.is_finite() || (i > 0 && *t <= stamps[i - 1]) {
            return Err(SelectionError::BadStamps(i));
        }
    }
    let pos = |x: f64| x.is_finite() && x > 0.0;
    if !(pos(config.window_s)
        && pos(config.baseline_s)
        && config.min_score.is_finite()
        && config.min_score >= 0.0)
    {
        return Err(SelectionError::InvalidConfig(
            "window_s and baseline_s must be positive, min_score >= 0",
        ));
    }
    if stamps.is_empty() {
        return Ok(Selection { windows: Vec::new(), min_score: config.min_score, fallback_all: true });
    }
    let (t0, t1) = (stamps[0], stamps[stamps.len() - 1]);
    let span = t1 - t0;
    let mut count = (span / config.window_s).floor().max(1.0) as usize;
    if span - count as f64 * config.window_s >= 0.5 * config.window_s {
        count += 1;
    }
    let (ts, ws) = angular_velocities(stamps, poses, config.baseline_s);
    let mut windows = Vec::with_capacity(count);
    for w in 0..count {
        let start = t0 + w as f64 * config.window_s;
        let end = if w + 1 == count { t1 } else { start + config.window_s };
        let last = w + 1 == count;
        let in_window = |t: f64| t >= start && (t < end || (last && t <= end));
        let p0 = stamps.partition_point(|&t| t < start);
        let p1 = if last { stamps.len() } else { stamps.partition_point(|&t| t < end) };
        let omegas: Vec<Vector3<f64>> =
            ts.iter().zip(&ws).filter(|(t, _)| in_window(**t)).map(|(_, w)| *w).collect();
        let (eigenvalues, score) = excitation_score(&omegas);
        let rms = (omegas.iter().map(|w| w.norm_squared()).sum::<f64>() / omegas.len().max(1) as f64).sqrt();
        let reason = if omegas.len() < config.min_samples {
            Some(format!(
                "{} angular-velocity samples (at least {} needed): too few poses in this window",
                omegas.len(),
                config.min_samples
            ))
        } else if score < config.min_score {
            Some(format!(
                "rotational excitation e2 = {score:.3e} (rad/s)^4 < {:.1e}: the rig barely rotates here (RMS rate \
                 {:.1}°/s)",
                config.min_score,
                rms.to_degrees()
            ))
        } else {
            None
        };
        windows.push(WindowScore {
            start_s: start,
            end_s: end,
            poses: p0..p1,
            samples: omegas.len(),
            eigenvalues,
            score,
            rms_rate_rad_s: rms,
            kept: reason.is_none(),
            reason,
        });
    }
    let fallback_all = windows.iter().all(|w| !w.kept);
    Ok(Selection { windows, min_score: config.min_score, fallback_all })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::se3::so3_exp;
    use nalgebra::{Translation3, UnitQuaternion};

    /// Integrates piecewise-constant body angular velocities at 100 Hz.
    fn integrate(rates: &dyn Fn(f64) -> Vector3<f64>, secs: f64) -> (Vec<f64>, Vec<Isometry3<f64>>) {
        let dt = 0.01;
        let n = (secs / dt).round() as usize + 1;
        let mut q = UnitQuaternion::identity();
        let (mut ts, mut ps) = (Vec::new(), Vec::new());
        for k in 0..n {
            let t = k as f64 * dt;
            ts.push(t);
            ps.push(Isometry3::from_parts(Translation3::new(t, 0.0, 0.0), q));
            q *= so3_exp(&(rates(t) * dt));
        }
        (ts, ps)
    }

    #[test]
    fn score_closed_forms() {
        // Constant ω: eigenvalues (0, |ω|², |ω|²), e2 = |ω|⁴.
        let w = Vector3::new(0.3, -0.4, 1.2);
        let (ev, s) = excitation_score(&[w; 7]);
        let n2 = w.norm_squared();
        assert!(ev[0].abs() < 1e-12 && (ev[1] - n2).abs() < 1e-12 && (ev[2] - n2).abs() < 1e-12);
        assert!((s - n2 * n2).abs() < 1e-12);
        // Alternating w·x and w·y: H = diag(w²/2, w²/2, w²), e2 = 1.25 w⁴.
        let a = 0.7;
        let (_, s) = excitation_score(&[Vector3::new(a, 0.0, 0.0), Vector3::new(0.0, a, 0.0)]);
        assert!((s - 1.25 * a.powi(4)).abs() < 1e-12, "{s}");
        // Normalised by the sample count: repeating the data changes nothing.
        let (_, s2) = excitation_score(&[Vector3::new(a, 0.0, 0.0), Vector3::new(0.0, a, 0.0)].repeat(50));
        assert!((s - s2).abs() < 1e-12);
    }

    #[test]
    fn still_window_is_dropped_with_a_reason() {
        // 0–15 s: tumbling at ~0.5 rad/s about changing axes; 15–30 s: no rotation.
        let rates = |t: f64| {
            if t < 15.0 {
                Vector3::new((t * 1.3).sin(), (t * 0.7).cos(), 0.3) * 0.5
            } else {
                Vector3::zeros()
            }
        };
        let (ts, ps) = integrate(&rates, 30.0);
        let sel = select_windows(&ts, &ps, &SelectionConfig::default()).unwrap();
        assert_eq!(sel.windows.len(), 2);
        assert!(sel.windows[0].kept, "{:?}", sel.windows[0]);
        assert!(!sel.windows[1].kept);
        assert!(sel.windows[1].reason.as_ref().unwrap().contains("barely rotates"));
        assert!(!sel.fallback_all);
        let mask = sel.keep_mask(ts.len());
        assert!(mask[10] && !mask[ts.len() - 10]);
        // The score is the recovered angular velocity's: e2 of the true rates within 5 %.
        let truth: Vec<Vector3<f64>> = (0..1500).map(|k| rates(k as f64 * 0.01)).collect();
        let (_, s_true) = excitation_score(&truth);
        assert!((sel.windows[0].score / s_true - 1.0).abs() < 0.05, "{} vs {s_true}", sel.windows[0].score);
    }

    #[test]
    fn no_rotation_anywhere_falls_back_to_all() {
        let (ts, ps) = integrate(&|_| Vector3::zeros(), 40.0);
        let sel = select_windows(&ts, &ps, &SelectionConfig::default()).unwrap();
        assert!(sel.fallback_all);
        assert!(sel.keep_mask(ts.len()).iter().all(|&k| k));
        assert_eq!(sel.dropped().count(), sel.windows.len());
    }

    #[test]
    fn short_trailing_window_is_merged() {
        let (ts, ps) = integrate(&|_| Vector3::new(0.0, 0.0, 1.0), 37.0);
        let sel = select_windows(&ts, &ps, &SelectionConfig::default()).unwrap();
        // 37 s = 2 × 15 s + 7 s (< 7.5 s): two windows, the last one 22 s long.
        assert_eq!(sel.windows.len(), 2);
        assert_eq!(sel.windows[1].poses.end, ts.len());
        assert_eq!(sel.windows[0].poses.end, sel.windows[1].poses.start);
    }

    #[test]
    fn bad_input_is_an_error() {
        let p = vec![Isometry3::identity(); 3];
        assert!(matches!(
            select_windows(&[0.0, 1.0], &p, &SelectionConfig::default()),
            Err(SelectionError::LengthMismatch { .. })
        ));
        assert!(matches!(
            select_windows(&[0.0, 1.0, 1.0], &p, &SelectionConfig::default()),
            Err(SelectionError::BadStamps(2))
        ));
        let cfg = SelectionConfig { window_s: 0.0, ..SelectionConfig::default() };
        assert!(matches!(select_windows(&[0.0, 1.0, 2.0], &p, &cfg), Err(SelectionError::InvalidConfig(_))));
    }
}
