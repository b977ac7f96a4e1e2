//! Observability of an AX = XB extrinsic from the excitation of the motion pairs.
//!
//! For an estimate `X = T_a_b` (see [`crate::handeye`] for the conventions) the linear systems
//! the classic solvers stack are examined:
//!
//! - **rotation stage** (Tsai–Lenz, Park–Martin): `α_k = R_X β_k` with `α = log R_A`,
//!   `β = log R_B`; a small rotation `δθ` of `R_X` changes the residual by `[α_k]× δθ`, so the
//!   stacked `[α_k]×` (3n × 3) decides which rotations are resolved. A rotation about a
//!   direction `d` is invisible when every `α_k` is parallel to `d`.
//! - **translation stage**: `(R_A,k − I) t_X = R_X t_B,k − t_A,k`; the stacked `R_A,k − I`
//!   (3n × 3) decides which translations are resolved. A shift along `d` is invisible when every
//!   `R_A,k` rotates about `d` (planar or single-axis motion).
//! - **joint** (Daniilidis, or any refinement of both together): the 6 × 6 information matrix of
//!   both equations linearised at `X`, each row whitened by the noise; it also sees a rotation
//!   that only the translations pin down (e.g. the yaw of a planar rig).
//!
//! # Noise
//!
//! The noise is measured from the pairs themselves, independently of the estimate, with two
//! invariants of AX = XB (`A` and `B` are conjugate): the rotation angles agree, `θ_A = θ_B`, and
//! so do the translations along the rotation axes, `n_A · t_A = n_B · t_B` (screw pitch). Their
//! RMS discrepancies estimate the per-component noise of the rotation equation (radians) and of
//! the translation equation (metres). The estimate's own residuals are then compared with them:
//! a residual more than [`ObservabilityConfig::max_fit_ratio`] times the noise means that the
//! estimate does not fit the data (a wrong root, an unobservable direction filled in with
//! something wrong, outliers) and is reported as a [`Stage::Fit`] finding.
//!
//! Each direction is judged by a physical quantity, not an eigenvalue ratio:
//!
//! - the **predicted standard deviation** of the estimate along the weakest direction:
//!   per-component noise `σ` / smallest singular value `s_min` of the stacked system,
//!   times an inflation factor `√(2 n_pairs / distinct_poses)` (≥ 1) because pairs that share
//!   poses share their noise (treating them as independent would understate the uncertainty;
//!   the factor is a heuristic). Untrusted above [`ObservabilityConfig::max_rotation_std_rad`]
//!   (0.2°) or [`ObservabilityConfig::max_translation_std_m`] (1 cm).
//! - the **excitation** along that direction, `s_min / √n`, i.e. the RMS over the pairs of
//!   `‖α_k × d‖` (rotation off the axis `d`, radians) or `‖(R_A,k − I) d‖` (chord of the rotation
//!   seen from `d`). Both are rotations, so they are compared with the rotation noise: below
//!   [`ObservabilityConfig::min_excitation_snr`] × σ_rot the direction is excited by noise only
//!   and is reported as **not observable** whatever its predicted deviation (noise makes a planar
//!   motion look slightly non-planar, which would otherwise fake a finite deviation).
//!
//! The noises are floored ([`ObservabilityConfig::min_rotation_noise_rad`],
//! [`ObservabilityConfig::min_translation_noise_m`]) so that noise-free data still gets a
//! meaningful verdict: a degenerate direction has zero excitation and an unbounded deviation.
//!
//! Directions are unit vectors in the frame of sensor a, named in words (`"z"`, or the
//! components when no axis is within 15°).

use std::fmt;

use nalgebra::{Isometry3, Matrix3, Matrix6, SymmetricEigen, Vector3};

use crate::handeye::{HandEyeMethod, MotionPairs};
use crate::se3::so3_log;

/// Thresholds of the observability check.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservabilityConfig {
    /// Largest trusted standard deviation of a rotation (radians); default 0.2°.
    pub max_rotation_std_rad: f64,
    /// Largest trusted standard deviation of a translation (metres); default 1 cm.
    pub max_translation_std_m: f64,
    /// Floor of the per-component rotation residual noise (radians); default 1e-3 (0.057°).
    pub min_rotation_noise_rad: f64,
    /// Floor of the per-component translation residual noise (metres); default 1 mm.
    pub min_translation_noise_m: f64,
    /// Excitation along a direction must reach this multiple of the rotation noise; default 3.
    pub min_excitation_snr: f64,
    /// The estimate's per-component residual may be at most this multiple of the measured
    /// noise; default 3.
    pub max_fit_ratio: f64,
}

impl Default for ObservabilityConfig {
    fn default() -> Self {
        ObservabilityConfig {
            max_rotation_std_rad: 0.2f64.to_radians(),
            max_translation_std_m: 0.01,
            min_rotation_noise_rad: 1e-3,
            min_translation_noise_m: 1e-3,
            min_excitation_snr: 3.0,
            max_fit_ratio: 3.0,
        }
    }
}

/// Which system a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The rotation-only system of the two-stage methods.
    RotationOnly,
    /// The translation system given the rotation.
    TranslationGivenRotation,
    /// Rotation and translation together.
    Joint,
    /// The estimate's residuals against the measured noise.
    Fit,
}

/// Which part of the extrinsic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quantity {
    /// A rotation about `axis`.
    Rotation,
    /// A translation along `axis`.
    Translation,
}

/// A weakly determined direction of the extrinsic.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The system it concerns.
    pub stage: Stage,
    /// Rotation or translation.
    pub quantity: Quantity,
    /// Unit direction in the frame of sensor a (`None` for [`Stage::Fit`]).
    pub axis: Option<Vector3<f64>>,
    /// Predicted standard deviation along `axis` (radians or metres); for [`Stage::Fit`], the
    /// estimate's per-component residual.
    pub predicted_std: f64,
    /// True when the direction is excited by noise only (not observable at all), false when it
    /// is excited but too weakly for the thresholds (and for [`Stage::Fit`]).
    pub unobservable: bool,
    /// The finding in words.
    pub message: String,
}

/// One stacked 3-parameter system (rotation stage or translation stage).
#[derive(Debug, Clone, PartialEq)]
pub struct SubsystemReport {
    /// Singular values of the stacked system, descending.
    pub singular_values: [f64; 3],
    /// Right singular vector of the smallest singular value (unit, frame of sensor a).
    pub weakest_direction: Vector3<f64>,
    /// Per-component noise used (measured from the pairs, floored): radians for the rotation
    /// stage, metres for the translation stage.
    pub noise: f64,
    /// The estimate's per-component residual of this stage's equation (same unit).
    pub residual: f64,
    /// RMS over the pairs of the system along the weakest direction, `s_min / √n` (radians).
    pub excitation_rms: f64,
    /// Predicted standard deviation along the weakest direction (radians or metres).
    pub predicted_std: f64,
}

/// The joint 6-parameter analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct JointReport {
    /// Singular values of the whitened 6-column Jacobian (dimensionless), descending.
    pub singular_values: [f64; 6],
    /// Largest marginal standard deviation of the rotation (radians) and its axis.
    pub rotation_std_rad: f64,
    /// Axis of `rotation_std_rad` (frame of sensor a).
    pub rotation_direction: Vector3<f64>,
    /// Largest marginal standard deviation of the translation (metres) and its direction.
    pub translation_std_m: f64,
    /// Direction of `translation_std_m` (frame of sensor a).
    pub translation_direction: Vector3<f64>,
    /// RMS of `‖(R_A − I) d‖` along `translation_direction` (radians).
    pub translation_excitation_rms: f64,
}

/// Result of [`analyze`].
#[derive(Debug, Clone, PartialEq)]
pub struct ObservabilityReport {
    /// Number of motion pairs.
    pub n_pairs: usize,
    /// Factor applied to every predicted deviation for pairs sharing poses (≥ 1).
    pub inflation: f64,
    /// Rotation stage.
    pub rotation: SubsystemReport,
    /// Translation stage.
    pub translation: SubsystemReport,
    /// Joint analysis.
    pub joint: JointReport,
    /// Weak directions, in words; empty when everything is within the thresholds.
    pub findings: Vec<Finding>,
}

impl ObservabilityReport {
    /// Whether nothing was flagged.
    pub fn is_trusted(&self) -> bool {
        self.findings.is_empty()
    }

    /// Whether an estimate of `method` can be trusted: two-stage methods need every stage to pass;
    /// Daniilidis (joint) ignores the rotation-only stage. A [`Stage::Fit`] finding fails all.
    pub fn is_trusted_for(&self, method: HandEyeMethod) -> bool {
        self.findings.iter().all(|f| !method.is_two_stage() && f.stage == Stage::RotationOnly)
    }

    /// Findings about `quantity` (any stage).
    pub fn findings_about(&self, quantity: Quantity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.quantity == quantity)
    }
}

impl fmt::Display for ObservabilityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} pairs; rotation stage: std {:.3}° about {}; translation stage: std {:.4} m along {}; \
             joint: rotation std {:.3}°, translation std {:.4} m",
            self.n_pairs,
            self.rotation.predicted_std.to_degrees(),
            axis_name(&self.rotation.weakest_direction),
            self.translation.predicted_std,
            axis_name(&self.translation.weakest_direction),
            self.joint.rotation_std_rad.to_degrees(),
            self.joint.translation_std_m,
        )?;
        if self.findings.is_empty() {
            writeln!(f, "all directions observable")?;
        }
        for finding in &self.findings {
            writeln!(f, "- {}", finding.message)?;
        }
        Ok(())
    }
}

/// Names a direction: `"x"`, `"y"` or `"z"` when within 15° of that axis (either sign), else its
/// components with the largest one positive.
pub fn axis_name(v: &Vector3<f64>) -> String {
    let v = v.normalize();
    let k = v.iamax();
    let v = if v[k] < 0.0 { -v } else { v };
    if v[k] >= 15f64.to_radians().cos() {
        ["x", "y", "z"][k].to_string()
    } else {
        format!("({:.2}, {:.2}, {:.2})", v.x, v.y, v.z)
    }
}

/// Eigenvalues (ascending) and eigenvectors of a symmetric 3 × 3 matrix.
fn sorted_eigen3(m: &Matrix3<f64>) -> ([f64; 3], [Vector3<f64>; 3]) {
    let e = SymmetricEigen::new(*m);
    let mut idx = [0usize, 1, 2];
    idx.sort_by(|&a, &b| e.eigenvalues[a].total_cmp(&e.eigenvalues[b]));
    (idx.map(|i| e.eigenvalues[i]), idx.map(|i| e.eigenvectors.column(i).into_owned()))
}

/// Per-component noise of the rotation and translation equations measured from the pairs alone:
/// RMS of `θ_A − θ_B` (radians) and of `n_A · t_A − n_B · t_B` (metres), not floored.
pub fn pair_consistency_noise(pairs: &MotionPairs) -> (f64, f64) {
    let n = pairs.len().max(1) as f64;
    let (mut r, mut t) = (0.0, 0.0);
    for p in &pairs.pairs {
        let (alpha, beta) = (so3_log(&p.a.rotation), so3_log(&p.b.rotation));
        let (ta, tb) = (alpha.norm(), beta.norm());
        r += (ta - tb).powi(2);
        if ta > 0.0 && tb > 0.0 {
            t += (alpha.dot(&p.a.translation.vector) / ta - beta.dot(&p.b.translation.vector) / tb).powi(2);
        }
    }
    ((r / n).sqrt(), (t / n).sqrt())
}

/// Builds the report of an estimate `x` from the motion pairs it was computed from.
pub fn analyze(pairs: &MotionPairs, x: &Isometry3<f64>, config: &ObservabilityConfig) -> ObservabilityReport {
    let n = pairs.len().max(1);
    let nf = n as f64;
    let inflation = (2.0 * pairs.len() as f64 / pairs.distinct_poses.max(1) as f64).max(1.0).sqrt();
    let r_x = x.rotation;

    // Noise measured from the pairs, and the estimate's residuals.
    let (noise_r, noise_t) = pair_consistency_noise(pairs);
    let sigma_r = noise_r.max(config.min_rotation_noise_rad);
    let sigma_t = noise_t.max(config.min_translation_noise_m);
    let mut g_rot = Matrix3::zeros();
    let mut g_tr = Matrix3::zeros();
    let (mut rot_ss, mut tr_ss) = (0.0, 0.0);
    for p in &pairs.pairs {
        let alpha = so3_log(&p.a.rotation);
        let beta = so3_log(&p.b.rotation);
        let s = alpha.cross_matrix();
        g_rot += s.transpose() * s;
        let ra_i = p.a.rotation.to_rotation_matrix().into_inner() - Matrix3::identity();
        g_tr += ra_i.transpose() * ra_i;
        rot_ss += (alpha - r_x * beta).norm_squared();
        let e = ra_i * x.translation.vector - r_x * p.b.translation.vector + p.a.translation.vector;
        tr_ss += e.norm_squared();
    }
    let fit_r = (rot_ss / (3.0 * nf)).sqrt();
    let fit_t = (tr_ss / (3.0 * nf)).sqrt();

    let subsystem = |g: &Matrix3<f64>, noise: f64, residual: f64| {
        let (ev, vecs) = sorted_eigen3(g);
        let sv = ev.map(|l| l.max(0.0).sqrt());
        let s_min = sv[0];
        SubsystemReport {
            singular_values: [sv[2], sv[1], sv[0]],
            weakest_direction: vecs[0],
            noise,
            residual,
            excitation_rms: s_min / nf.sqrt(),
            predicted_std: if s_min > 0.0 { noise * inflation / s_min } else { f64::INFINITY },
        }
    };
    let rotation = subsystem(&g_rot, sigma_r, fit_r);
    let translation = subsystem(&g_tr, sigma_t, fit_t);

    // Joint information matrix, rows whitened by the noise. Parameters: a rotation δθ applied on
    // the left of R_X and a shift δt of t_X.
    let mut h = Matrix6::zeros();
    for p in &pairs.pairs {
        let s_rot = so3_log(&p.a.rotation).cross_matrix() / sigma_r;
        let c = (r_x * p.b.translation.vector).cross_matrix() / sigma_t;
        let ra_i = (p.a.rotation.to_rotation_matrix().into_inner() - Matrix3::identity()) / sigma_t;
        let mut block = h.fixed_view_mut::<3, 3>(0, 0);
        block += s_rot.transpose() * s_rot + c.transpose() * c;
        let cross = c.transpose() * ra_i;
        let mut block = h.fixed_view_mut::<3, 3>(0, 3);
        block += cross;
        let mut block = h.fixed_view_mut::<3, 3>(3, 0);
        block += cross.transpose();
        let mut block = h.fixed_view_mut::<3, 3>(3, 3);
        block += ra_i.transpose() * ra_i;
    }
    let eig = SymmetricEigen::new(h);
    let lmax = eig.eigenvalues.max().max(f64::MIN_POSITIVE);
    let mut cov = Matrix6::zeros();
    for i in 0..6 {
        let l = eig.eigenvalues[i].max(lmax * 1e-24).max(f64::MIN_POSITIVE);
        let v = eig.eigenvectors.column(i);
        cov += v * v.transpose() / l;
    }
    cov *= inflation * inflation;
    let mut jsv: Vec<f64> = eig.eigenvalues.iter().map(|l| l.max(0.0).sqrt()).collect();
    jsv.sort_by(|a, b| b.total_cmp(a));
    let (rev, rvec) = sorted_eigen3(&cov.fixed_view::<3, 3>(0, 0).into_owned());
    let (tev, tvec) = sorted_eigen3(&cov.fixed_view::<3, 3>(3, 3).into_owned());
    let t_dir = tvec[2];
    let t_exc =
        (pairs.pairs.iter().map(|p| (p.a.rotation * t_dir - t_dir).norm_squared()).sum::<f64>() / nf).sqrt();
    let joint = JointReport {
        singular_values: [jsv[0], jsv[1], jsv[2], jsv[3], jsv[4], jsv[5]],
        rotation_std_rad: rev[2].max(0.0).sqrt(),
        rotation_direction: rvec[2],
        translation_std_m: tev[2].max(0.0).sqrt(),
        translation_direction: t_dir,
        translation_excitation_rms: t_exc,
    };

    let mut findings = Vec::new();
    let min_exc = config.min_excitation_snr * sigma_r;
    let deg = |r: f64| format!("{:.3}°", r.to_degrees());
    let cm = |m: f64| format!("{:.2} cm", m * 100.0);
    let max_r = config.max_rotation_std_rad;
    let max_t = config.max_translation_std_m;
    let verdict = |unobservable: bool| if unobservable { "not observable" } else { "poorly determined" };
    // The rotation axes of all pairs are (nearly) parallel: planar or single-axis motion.
    let single_axis = rotation.excitation_rms < min_exc;
    let planar_words = |d: &Vector3<f64>| {
        format!(
            "the motion is planar (every kept motion rotates about {} of sensor a: {} RMS rotation off \
             that axis, noise {})",
            axis_name(d),
            deg(rotation.excitation_rms),
            deg(sigma_r)
        )
    };
    let weak_words = |exc: f64| {
        format!(
            "its excitation ({} RMS over {n} pairs) is too weak for the noise ({})",
            deg(exc),
            deg(sigma_r)
        )
    };

    if rotation.excitation_rms < min_exc || rotation.predicted_std > max_r {
        let d = rotation.weakest_direction;
        let unobservable = rotation.excitation_rms < min_exc;
        let cause = if unobservable { planar_words(&d) } else { weak_words(rotation.excitation_rms) };
        findings.push(Finding {
            stage: Stage::RotationOnly,
            quantity: Quantity::Rotation,
            axis: Some(d),
            predicted_std: rotation.predicted_std,
            unobservable,
            message: format!(
                "rotation about {} of sensor a is {} from the rotations alone (Tsai-Lenz, Park-Martin): \
                 {cause}; predicted std {} > {}",
                axis_name(&d),
                verdict(unobservable),
                deg(rotation.predicted_std),
                deg(max_r)
            ),
        });
    }
    if translation.excitation_rms < min_exc || translation.predicted_std > max_t {
        let d = translation.weakest_direction;
        let unobservable = translation.excitation_rms < min_exc;
        let cause = if unobservable && single_axis && rotation.weakest_direction.dot(&d).abs() > 0.9 {
            planar_words(&d)
        } else if unobservable {
            format!("no kept motion rotates away from {} beyond the noise", axis_name(&d))
        } else {
            weak_words(translation.excitation_rms)
        };
        findings.push(Finding {
            stage: Stage::TranslationGivenRotation,
            quantity: Quantity::Translation,
            axis: Some(d),
            predicted_std: translation.predicted_std,
            unobservable,
            message: format!(
                "translation along {} of sensor a is {}: {cause}; predicted std {} > {}",
                axis_name(&d),
                verdict(unobservable),
                cm(translation.predicted_std),
                cm(max_t)
            ),
        });
    }
    if joint.rotation_std_rad > max_r {
        let d = joint.rotation_direction;
        let unobservable = joint.rotation_std_rad > 1e3 * max_r;
        findings.push(Finding {
            stage: Stage::Joint,
            quantity: Quantity::Rotation,
            axis: Some(d),
            predicted_std: joint.rotation_std_rad,
            unobservable,
            message: format!(
                "rotation about {} of sensor a is {} even with the translations (joint estimate): \
                 predicted std {} > {}",
                axis_name(&d),
                verdict(unobservable),
                deg(joint.rotation_std_rad),
                deg(max_r)
            ),
        });
    }
    if joint.translation_excitation_rms < min_exc || joint.translation_std_m > max_t {
        let d = joint.translation_direction;
        let unobservable =
            joint.translation_excitation_rms < min_exc || joint.translation_std_m > 1e3 * max_t;
        let cause = if unobservable && single_axis && rotation.weakest_direction.dot(&d).abs() > 0.9 {
            planar_words(&d)
        } else if unobservable {
            format!("no kept motion rotates away from {} beyond the noise", axis_name(&d))
        } else {
            weak_words(joint.translation_excitation_rms)
        };
        findings.push(Finding {
            stage: Stage::Joint,
            quantity: Quantity::Translation,
            axis: Some(d),
            predicted_std: joint.translation_std_m,
            unobservable,
            message: format!(
                "translation along {} of sensor a is {} (joint estimate): {cause}; predicted std {} > {}",
                axis_name(&d),
                verdict(unobservable),
                cm(joint.translation_std_m),
                cm(max_t)
            ),
        });
    }
    if fit_r > config.max_fit_ratio * sigma_r {
        findings.push(Finding {
            stage: Stage::Fit,
            quantity: Quantity::Rotation,
            axis: None,
            predicted_std: fit_r,
            unobservable: false,
            message: format!(
                "the estimate does not fit the rotations: residual {} per component, {:.1}× the noise \
                 measured from the pairs ({})",
                deg(fit_r),
                fit_r / sigma_r,
                deg(sigma_r)
            ),
        });
    }
    if fit_t > config.max_fit_ratio * sigma_t {
        findings.push(Finding {
            stage: Stage::Fit,
            quantity: Quantity::Translation,
            axis: None,
            predicted_std: fit_t,
            unobservable: false,
            message: format!(
                "the estimate does not fit the translations: residual {} per component, {:.1}× the \
                 noise measured from the pairs ({})",
                cm(fit_t),
                fit_t / sigma_t,
                cm(sigma_t)
            ),
        });
    }

    ObservabilityReport { n_pairs: pairs.len(), inflation, rotation, translation, joint, findings }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_names() {
        assert_eq!(axis_name(&Vector3::new(0.0, 0.1, -1.0)), "z");
        assert_eq!(axis_name(&Vector3::new(1.0, 1.0, 0.0)), "(0.71, 0.71, 0.00)");
    }
}
