//! TUM RGB-D trajectory files: one pose per line, `t x y z qx qy qz qw`, whitespace separated;
//! `t` in seconds, the pose `T_world_frame` (translation in metres, then the quaternion with `w`
//! last). Lines starting with `#` are comments; blank lines are skipped.
//!
//! Repairs and errors follow the policy of [`io_error`](super::io_error): unnormalised
//! quaternions, duplicate stamps (dropped, first wins) are reported; anything else is an error
//! naming the line and the field (`t`, `x`, `y`, `z`, `qx`, `qy`, `qz`, `qw`).

use std::fmt::Write as _;
use std::path::Path;

use nalgebra::{Quaternion, Vector3};

use super::io_error::{
    Location, ReadReport, SensorIoError, SensorIoErrorKind, TrajectoryBuilder, lines, parse_f64, pose,
    read_file, unit_quaternion, write_file,
};
use super::trajectory::Trajectory;

/// The field names of a TUM line, in order.
pub const TUM_FIELDS: [&str; 8] = ["t", "x", "y", "z", "qx", "qy", "qz", "qw"];

/// Reads a TUM file.
pub fn read_tum(path: impl AsRef<Path>) -> Result<ReadReport, SensorIoError> {
    let path = path.as_ref();
    parse_tum(&read_file(path)?, &path.display().to_string())
}

/// Parses TUM text; `source` names it in errors (e.g. the file name).
pub fn parse_tum(text: impl AsRef<[u8]>, source: &str) -> Result<ReadReport, SensorIoError> {
    let mut builder = TrajectoryBuilder::new(source);
    for line in lines(text.as_ref(), source) {
        let (number, line) = line?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let location = Location::Line(number);
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != TUM_FIELDS.len() {
            return Err(SensorIoError::new(
                source,
                location,
                SensorIoErrorKind::FieldCount { expected: "8 fields".into(), found: fields.len() },
            ));
        }
        let mut v = [0.0; 8];
        for ((value, text), name) in v.iter_mut().zip(&fields).zip(TUM_FIELDS) {
            *value = parse_f64(text, name, source, &location)?;
        }
        let q = unit_quaternion(
            Quaternion::new(v[7], v[4], v[5], v[6]),
            "q",
            source,
            &location,
            &mut builder.repairs,
        )?;
        builder.push(v[0], pose(Vector3::new(v[1], v[2], v[3]), q), &location)?;
    }
    builder.finish()
}

/// Formats a trajectory as TUM text: a `#` header line, then one pose per line with every number
/// in Rust's shortest round-trip form, so that [`parse_tum`] gives back the same values.
pub fn to_tum_string(trajectory: &Trajectory) -> String {
    let mut out = String::from("# t x y z qx qy qz qw\n");
    for (t, p) in trajectory.stamps().iter().zip(trajectory.poses()) {
        let v = p.translation.vector;
        let q = p.rotation.coords; // [x, y, z, w]
        // Writing into a String cannot fail.
        let _ = writeln!(out, "{t} {} {} {} {} {} {} {}", v.x, v.y, v.z, q[0], q[1], q[2], q[3]);
    }
    out
}

/// Writes a trajectory to a TUM file (see [`to_tum_string`]).
pub fn write_tum(path: impl AsRef<Path>, trajectory: &Trajectory) -> Result<(), SensorIoError> {
    write_file(path.as_ref(), to_tum_string(trajectory).as_bytes())
}
