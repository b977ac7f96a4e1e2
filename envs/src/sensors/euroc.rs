//! EuRoC MAV ground-truth CSV (`state_groundtruth_estimate0/data.csv`, `vicon0/data.csv`):
//! a `#` header line, then comma separated rows `timestamp [ns], p_RS_R_x, p_RS_R_y, p_RS_R_z,
//! q_RS_w, q_RS_x, q_RS_y, q_RS_z`, optionally followed by velocity and bias columns, which are
//! checked for count but not read. The pose is `T_R_S` (body/IMU frame `S` in the Vicon world
//! frame `R`); note the quaternion is `w` first.
//!
//! The header is the first `#` line with commas before the data; other `#` lines are comments.
//! When the header names the pose columns (`p_RS_R_x`, …, `q_RS_z`, units in brackets allowed),
//! they are found by name; otherwise the first eight columns are used in the order above. When
//! there is a header, every row must have as many columns as it.
//!
//! Stamps are integer nanoseconds. They are converted to seconds by splitting them into whole
//! seconds and nanoseconds, `s as f64 + ns as f64 * 1e-9`, which gives the `f64` nearest to the
//! stamp to within rounding of the sum (dividing the whole count, a ~1.4e18 integer, would first
//! round it to a multiple of 256 ns).

use std::fmt::Write as _;
use std::path::Path;

use nalgebra::{Quaternion, Vector3};

use super::io_error::{
    Location, ReadReport, SensorIoError, SensorIoErrorKind, TrajectoryBuilder, lines, parse_f64, pose,
    read_file, unit_quaternion, write_file,
};
use super::trajectory::Trajectory;

/// The pose column names, in their default order (`timestamp` first).
pub const EUROC_FIELDS: [&str; 8] =
    ["timestamp", "p_RS_R_x", "p_RS_R_y", "p_RS_R_z", "q_RS_w", "q_RS_x", "q_RS_y", "q_RS_z"];

/// Converts an integer nanosecond stamp to seconds without first rounding the count to `f64`.
pub fn ns_to_seconds(ns: i64) -> f64 {
    let seconds = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    seconds as f64 + nanos as f64 * 1e-9
}

/// Converts seconds to the nearest integer nanosecond stamp (`None` outside the `i64` range or
/// when not finite). For stamps of about 1e9 s, `ns_to_seconds(seconds_to_ns(t)) == t`.
pub fn seconds_to_ns(t: f64) -> Option<i64> {
    if !t.is_finite() {
        return None;
    }
    let whole = t.floor();
    // Exact: `t` and `floor(t)` share the exponent range, so the difference is representable.
    let fraction = t - whole;
    let mut nanos = (fraction * 1e9).round() as i64;
    let mut whole = whole;
    if nanos >= 1_000_000_000 {
        nanos -= 1_000_000_000;
        whole += 1.0;
    }
    // i64 covers ±9.22e9 s; stay well inside so the product cannot overflow.
    if !(-9.2e9..=9.2e9).contains(&whole) {
        return None;
    }
    (whole as i64).checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Reads a EuRoC ground-truth CSV file.
pub fn read_euroc(path: impl AsRef<Path>) -> Result<ReadReport, SensorIoError> {
    let path = path.as_ref();
    parse_euroc(&read_file(path)?, &path.display().to_string())
}

/// The column name without `#`, surrounding blanks and a trailing `[unit]`.
fn column_name(header_field: &str) -> &str {
    let name = header_field.trim().trim_start_matches('#').trim();
    match name.find('[') {
        Some(i) => name[..i].trim(),
        None => name,
    }
}

/// Parses EuRoC CSV text; `source` names it in errors.
pub fn parse_euroc(text: impl AsRef<[u8]>, source: &str) -> Result<ReadReport, SensorIoError> {
    let mut builder = TrajectoryBuilder::new(source);
    let mut columns: [usize; 8] = [0, 1, 2, 3, 4, 5, 6, 7];
    let mut header_columns: Option<usize> = None;
    let mut seen_data = false;
    for line in lines(text.as_ref(), source) {
        let (number, line) = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let location = Location::Line(number);
        if line.starts_with('#') {
            // The first comment line with commas before any data is the header; other ones are
            // comments.
            if !seen_data && header_columns.is_none() && line.contains(',') {
                let names: Vec<&str> = line.split(',').map(column_name).collect();
                header_columns = Some(names.len());
                let found: Vec<Option<usize>> = EUROC_FIELDS
                    .iter()
                    .enumerate()
                    .map(|(k, want)| if k == 0 { Some(0) } else { names.iter().position(|n| n == want) })
                    .collect();
                if found.iter().all(Option::is_some) {
                    for (c, f) in columns.iter_mut().zip(found) {
                        *c = f.unwrap_or(0);
                    }
                }
                if names.len() < 8 {
                    return Err(SensorIoError::new(
                        source,
                        location,
                        SensorIoErrorKind::FieldCount {
                            expected: "at least 8 fields".into(),
                            found: names.len(),
                        },
                    ));
                }
            }
            continue;
        }
        seen_data = true;
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let count_ok = match header_columns {
            Some(n) => fields.len() == n,
            None => fields.len() >= 8,
        };
        if !count_ok {
            let expected = match header_columns {
                Some(n) => format!("{n} fields as in the header"),
                None => "at least 8 fields".into(),
            };
            return Err(SensorIoError::new(
                source,
                location,
                SensorIoErrorKind::FieldCount { expected, found: fields.len() },
            ));
        }
        let stamp_text = fields[columns[0]];
        let ns: i64 = stamp_text.parse().map_err(|_| {
            SensorIoError::new(
                source,
                location.clone(),
                SensorIoErrorKind::NotANumber { field: "timestamp [ns]".into(), text: stamp_text.into() },
            )
        })?;
        let mut v = [0.0; 8];
        for k in 1..8 {
            v[k] = parse_f64(fields[columns[k]], EUROC_FIELDS[k], source, &location)?;
        }
        let q = unit_quaternion(
            Quaternion::new(v[4], v[5], v[6], v[7]),
            "q_RS",
            source,
            &location,
            &mut builder.repairs,
        )?;
        builder.push(ns_to_seconds(ns), pose(Vector3::new(v[1], v[2], v[3]), q), &location)?;
    }
    builder.finish()
}

/// Formats a trajectory as EuRoC CSV (header and the eight pose columns; stamps rounded to whole
/// nanoseconds). Fails for stamps outside ±9.2e9 s.
pub fn to_euroc_string(trajectory: &Trajectory) -> Result<String, SensorIoError> {
    let mut out = String::from(
        "#timestamp [ns],p_RS_R_x [m],p_RS_R_y [m],p_RS_R_z [m],q_RS_w [],q_RS_x [],q_RS_y [],q_RS_z []\n",
    );
    for (i, (t, p)) in trajectory.stamps().iter().zip(trajectory.poses()).enumerate() {
        let ns = seconds_to_ns(*t).ok_or_else(|| {
            SensorIoError::new(
                "EuRoC output",
                Location::Line(i + 2),
                SensorIoErrorKind::Unwritable { field: "timestamp [ns]".into(), value: *t },
            )
        })?;
        let v = p.translation.vector;
        let q = p.rotation.coords; // [x, y, z, w]
        // Writing into a String cannot fail.
        let _ = writeln!(out, "{ns},{},{},{},{},{},{},{}", v.x, v.y, v.z, q[3], q[0], q[1], q[2]);
    }
    Ok(out)
}

/// Writes a trajectory to a EuRoC CSV file (see [`to_euroc_string`]).
pub fn write_euroc(path: impl AsRef<Path>, trajectory: &Trajectory) -> Result<(), SensorIoError> {
    let path = path.as_ref();
    let text = to_euroc_string(trajectory).map_err(|e| e.with_source_name(path.display().to_string()))?;
    write_file(path, text.as_bytes())
}
