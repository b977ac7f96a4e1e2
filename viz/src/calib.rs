//! Rerun recordings (`.rrd`) of an extrinsic calibration: the reference and sensor trajectories
//! before and after calibration, and the reference / sensor frames over time.
//!
//! Conventions (those of `alignrl-calibrate`): the reference gives `A_i = T_wr(t_i)` (the reference
//! frame in its world), the sensor gives `B_i = T_ws(t_i)` (the sensor in its own world), and the
//! extrinsic `X = T_ref_sensor` and world alignment `Y = T_wr_ws` satisfy `A_i · X ≈ Y · B_i`.
//! Poses are [`Pose`]s: a translation in metres and a unit quaternion `[x, y, z, w]` (the child
//! frame's rotation into the parent frame).
//!
//! Layout of a recording (application id `alignrl`, timeline [`TIMELINE`] in seconds of the
//! reference clock; every position in metres):
//! - `world`: static view coordinates, right-handed, z up.
//! - [`BEFORE_REFERENCE`], [`BEFORE_SENSOR`]: static line strips of the reference positions and of
//!   the raw sensor positions, each in its own world as recorded (no alignment, no extrinsic).
//! - [`AFTER_REFERENCE`], [`AFTER_SENSOR`]: static line strips in the reference world of the
//!   reference positions and of the sensor trajectory mapped through the calibration,
//!   `Y · B_i · X⁻¹` (where the sensor says the reference frame is; it overlays the reference
//!   when the calibration is right).
//! - [`REFERENCE_FRAME`]: the reference frame `A_i` as a transform with axes at each logged instant;
//!   [`SENSOR_FRAME`] (its child): the extrinsic `X` (static) with axes, i.e. where the calibration
//!   puts the sensor on the rig.
//! - [`MEASURED_SENSOR_FRAME`]: the measured sensor frame mapped into the reference world,
//!   `Y · B_i`, with axes at each logged instant (it coincides with [`SENSOR_FRAME`] when the
//!   calibration is right).
//!
//! At most [`CalibrationScene::max_frames`] instants (evenly spaced) are logged as moving frames;
//! the line strips hold every pose. The recording is built in memory and written atomically
//! ([`alignrl_envs::fsio::atomic_write`]).

use std::path::Path;

use rerun::{
    Color, LineStrips3D, Points3D, Quaternion, RecordingStreamBuilder, Transform3D, TransformAxes3D,
    ViewCoordinates,
};

use crate::record::RecordError;

/// The timeline of the moving frames (seconds, reference clock).
pub const TIMELINE: &str = "time";
/// Reference positions before calibration.
pub const BEFORE_REFERENCE: &str = "world/before/reference";
/// Raw sensor positions (in the sensor's own world) before calibration.
pub const BEFORE_SENSOR: &str = "world/before/sensor";
/// Reference positions after calibration (same as before: the reference world is the target).
pub const AFTER_REFERENCE: &str = "world/after/reference";
/// Sensor trajectory mapped through the calibration, `Y · B_i · X⁻¹`.
pub const AFTER_SENSOR: &str = "world/after/sensor";
/// The moving reference frame `A_i`.
pub const REFERENCE_FRAME: &str = "world/rig";
/// The sensor frame on the rig: [`REFERENCE_FRAME`] composed with the extrinsic `X`.
pub const SENSOR_FRAME: &str = "world/rig/sensor";
/// The measured sensor frame in the reference world, `Y · B_i`.
pub const MEASURED_SENSOR_FRAME: &str = "world/measured_sensor";

/// A rigid transform: translation (metres) and unit quaternion `[x, y, z, w]`.
pub type Pose = ([f64; 3], [f64; 4]);

/// What [`write_calibration_rrd`] records; all pose lists are associated (same length as
/// `stamps`, pose `i` at `stamps[i]`).
#[derive(Debug, Clone, Copy)]
pub struct CalibrationScene<'a> {
    /// Recording name shown by the viewer.
    pub name: &'a str,
    /// Stamps of the associated poses (seconds, reference clock, increasing).
    pub stamps: &'a [f64],
    /// `A_i = T_wr(t_i)`.
    pub reference: &'a [Pose],
    /// `B_i = T_ws(t_i)`, as recorded (sensor world).
    pub sensor: &'a [Pose],
    /// `X = T_ref_sensor`.
    pub extrinsic: Pose,
    /// `Y = T_wr_ws` (one alignment; for a piecewise alignment pass per-pose values through
    /// `alignment_per_pose`).
    pub alignment: Pose,
    /// Optional per-pose world alignment `Y_i` (overrides `alignment` when given; same length as
    /// `stamps`).
    pub alignment_per_pose: Option<&'a [Pose]>,
    /// Axis length of the drawn frames (metres).
    pub axis_length: f64,
    /// At most this many instants get moving frames (≥ 1).
    pub max_frames: usize,
}

/// Why [`write_calibration_rrd`] failed (bad input, or the recorder's errors).
#[derive(Debug, thiserror::Error)]
pub enum CalibRecordError {
    /// The pose lists do not match the stamps.
    #[error("{what}: {got} poses for {stamps} stamps")]
    Length {
        /// Which list.
        what: &'static str,
        /// Its length.
        got: usize,
        /// Number of stamps.
        stamps: usize,
    },
    /// No poses at all.
    #[error("no poses to record")]
    Empty,
    /// A stamp or pose value is NaN or infinite.
    #[error("non-finite value in {0}")]
    NonFinite(&'static str),
    /// The recorder failed.
    #[error(transparent)]
    Record(#[from] RecordError),
}

pub(crate) fn rerun_err(e: impl std::fmt::Display) -> RecordError {
    RecordError::Rerun(e.to_string())
}

/// Quaternion product `a · b` with `[x, y, z, w]` coefficients.
fn qmul(a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
    let [ax, ay, az, aw] = a;
    let [bx, by, bz, bw] = b;
    [
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    ]
}

/// Rotates `v` by the unit quaternion `q` (`[x, y, z, w]`).
fn qrot(q: [f64; 4], v: [f64; 3]) -> [f64; 3] {
    let [x, y, z, _] = qmul(qmul(q, [v[0], v[1], v[2], 0.0]), [-q[0], -q[1], -q[2], q[3]]);
    [x, y, z]
}

/// `a · b` for transforms.
pub fn compose(a: &Pose, b: &Pose) -> Pose {
    let r = qrot(a.1, b.0);
    ([a.0[0] + r[0], a.0[1] + r[1], a.0[2] + r[2]], qmul(a.1, b.1))
}

/// `a⁻¹`.
pub fn inverse(a: &Pose) -> Pose {
    let qi = [-a.1[0], -a.1[1], -a.1[2], a.1[3]];
    let t = qrot(qi, a.0);
    ([-t[0], -t[1], -t[2]], qi)
}

fn finite(p: &Pose) -> bool {
    p.0.iter().chain(&p.1).all(|v| v.is_finite())
}

fn f32s(p: [f64; 3]) -> [f32; 3] {
    [p[0] as f32, p[1] as f32, p[2] as f32]
}

pub(crate) fn transform(p: &Pose) -> Transform3D {
    let q = [p.1[0] as f32, p.1[1] as f32, p.1[2] as f32, p.1[3] as f32];
    Transform3D::from_translation_rotation(f32s(p.0), Quaternion::from_xyzw(q))
}

/// Writes the calibration recording of `scene` (see the [module docs](self)) to `path`
/// atomically; returns the number of bytes written.
pub fn write_calibration_rrd(path: &Path, scene: &CalibrationScene) -> Result<usize, CalibRecordError> {
    let n = scene.stamps.len();
    if n == 0 {
        return Err(CalibRecordError::Empty);
    }
    let lists: [(&'static str, Option<&[Pose]>); 3] = [
        ("reference", Some(scene.reference)),
        ("sensor", Some(scene.sensor)),
        ("alignment_per_pose", scene.alignment_per_pose),
    ];
    for (what, list) in lists {
        if let Some(list) = list {
            if list.len() != n {
                return Err(CalibRecordError::Length { what, got: list.len(), stamps: n });
            }
            if !list.iter().all(finite) {
                return Err(CalibRecordError::NonFinite(what));
            }
        }
    }
    if !scene.stamps.iter().all(|t| t.is_finite()) {
        return Err(CalibRecordError::NonFinite("stamps"));
    }
    if !finite(&scene.extrinsic) || !finite(&scene.alignment) || !scene.axis_length.is_finite() {
        return Err(CalibRecordError::NonFinite("extrinsic, alignment or axis length"));
    }

    let (rec, storage) =
        RecordingStreamBuilder::new("alignrl").recording_name(scene.name).memory().map_err(rerun_err)?;
    rec.log_static("world", &ViewCoordinates::RIGHT_HAND_Z_UP()).map_err(rerun_err)?;
    let x_inv = inverse(&scene.extrinsic);
    let y_at = |i: usize| scene.alignment_per_pose.map_or(scene.alignment, |ys| ys[i]);
    // The measured sensor frame in the reference world, Y_i B_i, and the reference frame it implies,
    // Y_i B_i X⁻¹.
    let measured: Vec<Pose> = (0..n).map(|i| compose(&y_at(i), &scene.sensor[i])).collect();
    let mapped: Vec<[f32; 3]> = measured.iter().map(|m| f32s(compose(m, &x_inv).0)).collect();
    let reference: Vec<[f32; 3]> = scene.reference.iter().map(|p| f32s(p.0)).collect();
    let raw: Vec<[f32; 3]> = scene.sensor.iter().map(|p| f32s(p.0)).collect();
    let (ref_color, sensor_color) = (Color::from_rgb(60, 120, 230), Color::from_rgb(235, 120, 40));
    let strips: [(&str, &[[f32; 3]], Color, &str); 4] = [
        (BEFORE_REFERENCE, &reference, ref_color, "reference T_wr"),
        (BEFORE_SENSOR, &raw, sensor_color, "sensor T_ws (own world, uncalibrated)"),
        (AFTER_REFERENCE, &reference, ref_color, "reference T_wr"),
        (AFTER_SENSOR, &mapped, sensor_color, "sensor mapped: Y T_ws X^-1"),
    ];
    for (entity, points, color, label) in strips {
        let strip = LineStrips3D::new([points.iter().copied()])
            .with_colors([color])
            .with_radii([0.004])
            .with_labels([label]);
        rec.log_static(entity, &strip).map_err(rerun_err)?;
    }
    let axes = TransformAxes3D::new(scene.axis_length as f32);
    rec.log_static(SENSOR_FRAME, &transform(&scene.extrinsic)).map_err(rerun_err)?;
    rec.log_static(SENSOR_FRAME, &axes).map_err(rerun_err)?;
    rec.log_static(
        SENSOR_FRAME,
        &Points3D::new([[0.0f32; 3]]).with_labels(["sensor (X)"]).with_colors([sensor_color]),
    )
    .map_err(rerun_err)?;
    let stride = n.div_ceil(scene.max_frames.max(1)).max(1);
    for i in (0..n).step_by(stride) {
        rec.set_duration_secs(TIMELINE, scene.stamps[i]);
        rec.log(REFERENCE_FRAME, &transform(&scene.reference[i])).map_err(rerun_err)?;
        rec.log(MEASURED_SENSOR_FRAME, &transform(&measured[i])).map_err(rerun_err)?;
    }
    rec.log_static(REFERENCE_FRAME, &TransformAxes3D::new(scene.axis_length as f32)).map_err(rerun_err)?;
    rec.log_static(MEASURED_SENSOR_FRAME, &TransformAxes3D::new(0.6 * scene.axis_length as f32))
        .map_err(rerun_err)?;
    Ok(crate::record::write_storage(&storage, path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &Pose, b: &Pose) -> bool {
        let dq = a.1.iter().zip(&b.1).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        let dq_neg = a.1.iter().zip(&b.1).map(|(x, y)| (x + y).abs()).fold(0.0, f64::max);
        a.0.iter().zip(&b.0).all(|(x, y)| (x - y).abs() < 1e-12) && dq.min(dq_neg) < 1e-12
    }

    #[test]
    fn compose_and_inverse_are_consistent() {
        let s = (0.5f64).sin() / (1.0 + 0.04 + 0.09f64).sqrt();
        let q = [s, 0.2 * s, -0.3 * s, (0.5f64).cos()];
        let a: Pose = ([1.0, -2.0, 0.5], q);
        let b: Pose = ([0.1, 0.3, -0.7], [0.0, 0.0, (0.2f64).sin(), (0.2f64).cos()]);
        let id: Pose = ([0.0; 3], [0.0, 0.0, 0.0, 1.0]);
        assert!(close(&compose(&a, &inverse(&a)), &id));
        assert!(close(&compose(&inverse(&a), &a), &id));
        // (a b)⁻¹ = b⁻¹ a⁻¹
        assert!(close(&inverse(&compose(&a, &b)), &compose(&inverse(&b), &inverse(&a))));
        // A rotation of +90° about z maps x onto y.
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let r = qrot([0.0, 0.0, h, h], [1.0, 0.0, 0.0]);
        assert!((r[0]).abs() < 1e-12 && (r[1] - 1.0).abs() < 1e-12 && r[2].abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_an_error() {
        let p: Pose = ([0.0; 3], [0.0, 0.0, 0.0, 1.0]);
        let stamps = [0.0, 1.0];
        let scene = CalibrationScene {
            name: "t",
            stamps: &stamps,
            reference: &[p, p],
            sensor: &[p],
            extrinsic: p,
            alignment: p,
            alignment_per_pose: None,
            axis_length: 0.1,
            max_frames: 10,
        };
        let path = std::env::temp_dir().join("alignrl-viz-calib-never-written.rrd");
        assert!(matches!(
            write_calibration_rrd(&path, &scene),
            Err(CalibRecordError::Length { what: "sensor", got: 1, stamps: 2 })
        ));
        assert!(!path.exists());
    }
}
