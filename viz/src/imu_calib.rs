//! Rerun recordings (`.rrd`) of an odometry–IMU calibration (`alignrl-calibrate imu --rrd`): the
//! odometry trajectory with the IMU frame on the rig, and the gyroscope readings against the
//! angular velocity the odometry predicts, before and after calibration.
//!
//! Conventions (those of `alignrl-calibrate imu`): the odometry gives `T_world_odom(t)`; the
//! extrinsic is `T_odom_imu` (the IMU frame in the odometry frame); the IMU clock reads odometry
//! time + `δ`. The gyroscope prediction at IMU stamp `t` is `R_imu_odom · ω_odom(t − δ) + b`
//! (rad/s, IMU frame), with `ω_odom` the body angular velocity of the odometry (odometry frame) and
//! `b` the gyroscope bias; "before" calibration it is `ω_odom(t)` (identity rotation, no bias, no
//! offset), "after" it uses the estimated `R_imu_odom`, `b` and `δ`.
//!
//! Layout of a recording (application id `alignrl`, timeline [`TIMELINE`] in seconds of the IMU
//! clock; positions in metres):
//! - `world`: static view coordinates, right-handed, z up.
//! - [`ODOMETRY_PATH`]: a static line strip of the odometry positions.
//! - [`ODOMETRY_FRAME`]: the odometry frame `T_world_odom` with axes at each logged instant;
//!   [`IMU_FRAME`] (its child): the extrinsic `T_odom_imu` (static) with smaller axes.
//! - [`GYRO_MEASURED`], [`GYRO_BEFORE`], [`GYRO_AFTER`] `/x|y|z`: scalar series (rad/s, IMU
//!   frame); [`RESIDUAL_BEFORE`], [`RESIDUAL_AFTER`]: the norm of measured − predicted (rad/s).
//!   Samples without a prediction (outside the odometry's time span) have no predicted or
//!   residual scalar.
//!
//! At most [`ImuCalibrationScene::max_frames`] odometry instants and
//! [`ImuCalibrationScene::max_samples`] IMU samples (evenly spaced) are logged; the line strip holds
//! every pose. The recording is built in memory and written atomically.

use std::path::Path;

use rerun::{
    Color, LineStrips3D, Points3D, RecordingStreamBuilder, Scalars, TransformAxes3D, ViewCoordinates,
};

use crate::calib::{Pose, rerun_err, transform};
use crate::record::RecordError;

/// The timeline of every time series and moving frame (seconds, IMU clock).
pub const TIMELINE: &str = "time";
/// Odometry positions.
pub const ODOMETRY_PATH: &str = "world/odometry";
/// The moving odometry frame `T_world_odom`.
pub const ODOMETRY_FRAME: &str = "world/rig";
/// The IMU frame on the rig: [`ODOMETRY_FRAME`] composed with `T_odom_imu`.
pub const IMU_FRAME: &str = "world/rig/imu";
/// Measured gyroscope rates (`/x`, `/y`, `/z`; rad/s, IMU frame).
pub const GYRO_MEASURED: &str = "gyro/measured";
/// Predicted rates before calibration, `ω_odom(t)`.
pub const GYRO_BEFORE: &str = "gyro/predicted_before";
/// Predicted rates after calibration, `R_imu_odom ω_odom(t − δ) + b`.
pub const GYRO_AFTER: &str = "gyro/predicted_after";
/// `|measured − predicted before|` (rad/s).
pub const RESIDUAL_BEFORE: &str = "gyro/residual_before";
/// `|measured − predicted after|` (rad/s).
pub const RESIDUAL_AFTER: &str = "gyro/residual_after";

/// What [`write_imu_calibration_rrd`] records.
#[derive(Debug, Clone, Copy)]
pub struct ImuCalibrationScene<'a> {
    /// Recording name shown by the viewer.
    pub name: &'a str,
    /// Odometry stamps (seconds, odometry clock, increasing).
    pub odometry_stamps: &'a [f64],
    /// `T_world_odom` at `odometry_stamps`.
    pub odometry: &'a [Pose],
    /// The extrinsic `T_odom_imu`.
    pub extrinsic: Pose,
    /// The estimated time offset `δ` (seconds; IMU clock = odometry clock + `δ`): odometry poses
    /// are logged at IMU time `t_odom + δ`.
    pub time_offset_s: f64,
    /// IMU stamps (seconds, IMU clock, increasing).
    pub imu_stamps: &'a [f64],
    /// Measured gyroscope rates at `imu_stamps` (rad/s, IMU frame).
    pub gyro: &'a [[f64; 3]],
    /// Predicted rates before calibration, `None` where the odometry does not cover the stamp.
    pub predicted_before: &'a [Option<[f64; 3]>],
    /// Predicted rates after calibration, `None` where the odometry does not cover the stamp.
    pub predicted_after: &'a [Option<[f64; 3]>],
    /// Axis length of the drawn frames (metres).
    pub axis_length: f64,
    /// At most this many odometry instants get moving frames (≥ 1).
    pub max_frames: usize,
    /// At most this many IMU samples are logged as scalars (≥ 1).
    pub max_samples: usize,
}

/// Why [`write_imu_calibration_rrd`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ImuRecordError {
    /// A list does not match its stamps.
    #[error("{what}: {got} values for {stamps} stamps")]
    Length {
        /// Which list.
        what: &'static str,
        /// Its length.
        got: usize,
        /// Number of stamps.
        stamps: usize,
    },
    /// No odometry poses or no IMU samples.
    #[error("nothing to record: {0}")]
    Empty(&'static str),
    /// A stamp, pose or rate is NaN or infinite.
    #[error("non-finite value in {0}")]
    NonFinite(&'static str),
    /// The recorder failed.
    #[error(transparent)]
    Record(#[from] RecordError),
}

fn all_finite<'a>(mut values: impl Iterator<Item = &'a f64>) -> bool {
    values.all(|v| v.is_finite())
}

/// Writes the recording of `scene` (see the [module docs](self)) to `path` atomically; returns
/// the number of bytes written.
pub fn write_imu_calibration_rrd(path: &Path, scene: &ImuCalibrationScene) -> Result<usize, ImuRecordError> {
    let (n, m) = (scene.odometry_stamps.len(), scene.imu_stamps.len());
    if n == 0 {
        return Err(ImuRecordError::Empty("no odometry poses"));
    }
    if m == 0 {
        return Err(ImuRecordError::Empty("no IMU samples"));
    }
    if scene.odometry.len() != n {
        return Err(ImuRecordError::Length { what: "odometry", got: scene.odometry.len(), stamps: n });
    }
    for (what, got) in [
        ("gyro", scene.gyro.len()),
        ("predicted_before", scene.predicted_before.len()),
        ("predicted_after", scene.predicted_after.len()),
    ] {
        if got != m {
            return Err(ImuRecordError::Length { what, got, stamps: m });
        }
    }
    let pose_ok = |p: &Pose| all_finite(p.0.iter().chain(&p.1));
    if !all_finite(scene.odometry_stamps.iter()) || !scene.odometry.iter().all(pose_ok) {
        return Err(ImuRecordError::NonFinite("odometry"));
    }
    if !all_finite(scene.imu_stamps.iter()) || !all_finite(scene.gyro.iter().flatten()) {
        return Err(ImuRecordError::NonFinite("gyro"));
    }
    let predicted = scene.predicted_before.iter().chain(scene.predicted_after).flatten();
    if !all_finite(predicted.flatten()) {
        return Err(ImuRecordError::NonFinite("predicted rates"));
    }
    if !pose_ok(&scene.extrinsic) || !scene.axis_length.is_finite() || !scene.time_offset_s.is_finite() {
        return Err(ImuRecordError::NonFinite("extrinsic, time offset or axis length"));
    }

    let (rec, storage) =
        RecordingStreamBuilder::new("alignrl").recording_name(scene.name).memory().map_err(rerun_err)?;
    rec.log_static("world", &ViewCoordinates::RIGHT_HAND_Z_UP()).map_err(rerun_err)?;
    let path_points: Vec<[f32; 3]> =
        scene.odometry.iter().map(|p| [p.0[0] as f32, p.0[1] as f32, p.0[2] as f32]).collect();
    let strip = LineStrips3D::new([path_points])
        .with_colors([Color::from_rgb(60, 120, 230)])
        .with_radii([0.004])
        .with_labels(["odometry T_world_odom"]);
    rec.log_static(ODOMETRY_PATH, &strip).map_err(rerun_err)?;
    rec.log_static(IMU_FRAME, &transform(&scene.extrinsic)).map_err(rerun_err)?;
    rec.log_static(IMU_FRAME, &TransformAxes3D::new(0.6 * scene.axis_length as f32)).map_err(rerun_err)?;
    rec.log_static(
        IMU_FRAME,
        &Points3D::new([[0.0f32; 3]])
            .with_labels(["IMU (T_odom_imu)"])
            .with_colors([Color::from_rgb(235, 120, 40)]),
    )
    .map_err(rerun_err)?;
    rec.log_static(ODOMETRY_FRAME, &TransformAxes3D::new(scene.axis_length as f32)).map_err(rerun_err)?;
    for i in (0..n).step_by(n.div_ceil(scene.max_frames.max(1)).max(1)) {
        rec.set_duration_secs(TIMELINE, scene.odometry_stamps[i] + scene.time_offset_s);
        rec.log(ODOMETRY_FRAME, &transform(&scene.odometry[i])).map_err(rerun_err)?;
    }

    const AXES: [&str; 3] = ["x", "y", "z"];
    let entities = |base: &str| AXES.map(|a| format!("{base}/{a}"));
    let (measured, before, after) = (entities(GYRO_MEASURED), entities(GYRO_BEFORE), entities(GYRO_AFTER));
    let residual = |w: &[f64; 3], p: &[f64; 3]| {
        ((w[0] - p[0]).powi(2) + (w[1] - p[1]).powi(2) + (w[2] - p[2]).powi(2)).sqrt()
    };
    for k in (0..m).step_by(m.div_ceil(scene.max_samples.max(1)).max(1)) {
        rec.set_duration_secs(TIMELINE, scene.imu_stamps[k]);
        let w = &scene.gyro[k];
        for (c, entity) in measured.iter().enumerate() {
            rec.log(entity.as_str(), &Scalars::new([w[c]])).map_err(rerun_err)?;
        }
        for (pred, names, res) in [
            (&scene.predicted_before[k], &before, RESIDUAL_BEFORE),
            (&scene.predicted_after[k], &after, RESIDUAL_AFTER),
        ] {
            if let Some(p) = pred {
                for (c, entity) in names.iter().enumerate() {
                    rec.log(entity.as_str(), &Scalars::new([p[c]])).map_err(rerun_err)?;
                }
                rec.log(res, &Scalars::new([residual(w, p)])).map_err(rerun_err)?;
            }
        }
    }
    Ok(crate::record::write_storage(&storage, path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_is_an_error_and_writes_nothing() {
        let p: Pose = ([0.0; 3], [0.0, 0.0, 0.0, 1.0]);
        let base = ImuCalibrationScene {
            name: "t",
            odometry_stamps: &[0.0, 1.0],
            odometry: &[p, p],
            extrinsic: p,
            time_offset_s: 0.0,
            imu_stamps: &[0.0, 0.5],
            gyro: &[[0.0; 3], [0.1; 3]],
            predicted_before: &[None, Some([0.0; 3])],
            predicted_after: &[None, Some([0.0; 3])],
            axis_length: 0.1,
            max_frames: 10,
            max_samples: 10,
        };
        let path = std::env::temp_dir().join("alignrl-viz-imu-never-written.rrd");
        let short = ImuCalibrationScene { gyro: &[[0.0; 3]], ..base };
        assert!(matches!(
            write_imu_calibration_rrd(&path, &short),
            Err(ImuRecordError::Length { what: "gyro", got: 1, stamps: 2 })
        ));
        let nan = ImuCalibrationScene { predicted_after: &[None, Some([f64::NAN, 0.0, 0.0])], ..base };
        assert!(matches!(write_imu_calibration_rrd(&path, &nan), Err(ImuRecordError::NonFinite(_))));
        let empty = ImuCalibrationScene { imu_stamps: &[], gyro: &[], predicted_before: &[], ..base };
        assert!(matches!(write_imu_calibration_rrd(&path, &empty), Err(ImuRecordError::Empty(_))));
        assert!(!path.exists());
    }
}
