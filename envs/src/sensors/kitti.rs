//! KITTI odometry poses: one pose per line, the 12 numbers of the 3×4 matrix `[R | t]` row-major
//! (`T_world_camera`, metres), whitespace separated; and the times file of the sequence: one time
//! in seconds per line. Both must have the same number of (non-blank) lines.
//!
//! Each `R` must be a rotation: further than `1e-3` from orthonormal (max |RᵀR − I|) or with
//! det ≤ 0 is an error; between `1e-9` and `1e-3` it is replaced by the nearest rotation and
//! reported (the published ground truth has 7 significant digits, so nearly every line is).
//! Fields are named `r00 r01 r02 tx r10 r11 r12 ty r20 r21 r22 tz` in errors, times `t`. Errors
//! about stamps name the times file and its line, errors about poses the poses file and its line.

use std::fmt::Write as _;
use std::path::Path;

use nalgebra::{Matrix3, Vector3};

use super::io_error::{
    Location, ReadReport, SensorIoError, SensorIoErrorKind, TrajectoryBuilder, lines, parse_f64, pose,
    read_file, rotation_matrix, write_file,
};
use super::trajectory::Trajectory;

/// The field names of a KITTI pose line, in order.
pub const KITTI_FIELDS: [&str; 12] =
    ["r00", "r01", "r02", "tx", "r10", "r11", "r12", "ty", "r20", "r21", "r22", "tz"];

/// Reads a KITTI poses file and its times file.
pub fn read_kitti(
    poses_path: impl AsRef<Path>,
    times_path: impl AsRef<Path>,
) -> Result<ReadReport, SensorIoError> {
    let (poses_path, times_path) = (poses_path.as_ref(), times_path.as_ref());
    let poses = read_file(poses_path)?;
    let times = read_file(times_path)?;
    parse_kitti(&poses, &poses_path.display().to_string(), &times, &times_path.display().to_string())
}

/// Parses KITTI poses text and times text; the sources name them in errors.
pub fn parse_kitti(
    poses: impl AsRef<[u8]>,
    poses_source: &str,
    times: impl AsRef<[u8]>,
    times_source: &str,
) -> Result<ReadReport, SensorIoError> {
    // Times first: (line, seconds).
    let mut stamps = Vec::new();
    for line in lines(times.as_ref(), times_source) {
        let (number, line) = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let location = Location::Line(number);
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != 1 {
            return Err(SensorIoError::new(
                times_source,
                location,
                SensorIoErrorKind::FieldCount { expected: "1 field".into(), found: fields.len() },
            ));
        }
        stamps.push((number, parse_f64(fields[0], "t", times_source, &location)?));
    }

    let mut builder = TrajectoryBuilder::new(times_source);
    let mut pose_repairs = Vec::new();
    let mut count = 0;
    for line in lines(poses.as_ref(), poses_source) {
        let (number, line) = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let location = Location::Line(number);
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != KITTI_FIELDS.len() {
            return Err(SensorIoError::new(
                poses_source,
                location,
                SensorIoErrorKind::FieldCount { expected: "12 fields".into(), found: fields.len() },
            ));
        }
        let mut v = [0.0; 12];
        for ((value, text), name) in v.iter_mut().zip(&fields).zip(KITTI_FIELDS) {
            *value = parse_f64(text, name, poses_source, &location)?;
        }
        let r = Matrix3::new(v[0], v[1], v[2], v[4], v[5], v[6], v[8], v[9], v[10]);
        let q = rotation_matrix(r, "R", poses_source, &location, &mut pose_repairs)?;
        let Some(&(time_line, stamp)) = stamps.get(count) else {
            // More poses than times: counted in full below.
            count += 1;
            continue;
        };
        // Rotation repairs are reported at the pose's line: move them to the stamp's line so that
        // all repairs refer to the times file (see `Repair::location`).
        for mut repair in pose_repairs.drain(..) {
            repair.location = Location::Line(time_line);
            builder.repairs.push(repair);
        }
        builder.push(stamp, pose(Vector3::new(v[3], v[7], v[11]), q), &Location::Line(time_line))?;
        count += 1;
    }
    if count != stamps.len() {
        return Err(SensorIoError::new(
            poses_source,
            Location::Whole,
            SensorIoErrorKind::CountMismatch {
                entries: count,
                other: times_source.into(),
                other_entries: stamps.len(),
            },
        ));
    }
    builder.finish()
}

/// Formats a trajectory as KITTI poses text and times text (every number in Rust's shortest
/// round-trip form).
pub fn to_kitti_strings(trajectory: &Trajectory) -> (String, String) {
    let mut poses = String::new();
    let mut times = String::new();
    for (t, p) in trajectory.stamps().iter().zip(trajectory.poses()) {
        let r = p.rotation.to_rotation_matrix();
        let r = r.matrix();
        let v = p.translation.vector;
        // Writing into a String cannot fail.
        let _ = writeln!(
            poses,
            "{} {} {} {} {} {} {} {} {} {} {} {}",
            r[(0, 0)],
            r[(0, 1)],
            r[(0, 2)],
            v.x,
            r[(1, 0)],
            r[(1, 1)],
            r[(1, 2)],
            v.y,
            r[(2, 0)],
            r[(2, 1)],
            r[(2, 2)],
            v.z
        );
        let _ = writeln!(times, "{t}");
    }
    (poses, times)
}

/// Writes a trajectory to a KITTI poses file and a times file.
pub fn write_kitti(
    poses_path: impl AsRef<Path>,
    times_path: impl AsRef<Path>,
    trajectory: &Trajectory,
) -> Result<(), SensorIoError> {
    let (poses, times) = to_kitti_strings(trajectory);
    write_file(poses_path.as_ref(), poses.as_bytes())?;
    write_file(times_path.as_ref(), times.as_bytes())
}
