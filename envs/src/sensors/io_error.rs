//! The error, repair and report types shared by the trajectory readers ([`tum`](super::tum),
//! [`euroc`](super::euroc), [`kitti`](super::kitti), [`mcap_log`](super::mcap_log)).
//!
//! Every reader returns either a [`SensorIoError`] that names the file, the place in it (a line of
//! a text file, or a message index and topic of an MCAP log) and the field, or a [`ReadReport`]:
//! the data together with every [`Repair`] that was applied to it. Nothing is repaired silently.
//!
//! Policy, common to all readers:
//! - a value that is not a number, or is NaN or infinite, is an error;
//! - a quaternion (or rotation matrix) further than `1e-3` from unit norm (orthonormal) is an
//!   error; one between `1e-9` and `1e-3` away is normalised (orthonormalised) and reported as a
//!   repair; below `1e-9` it is normalised without a report (that is rounding in the file);
//! - a stamp earlier than the previous one is an error naming both places;
//! - a stamp *equal* to the previous kept one is a duplicate: the later entry is dropped (the
//!   first one wins) and reported as a repair. Real data sets contain these (TUM `fr2_desk`
//!   ground truth has one, the `V102` estimate four, with different poses).

use std::fmt;

use nalgebra::{Isometry3, Matrix3, Quaternion, Rotation3, Translation3, UnitQuaternion, Vector3};

use super::trajectory::{Trajectory, TrajectoryError};

/// How far a quaternion norm (or a rotation matrix from orthonormality) may be off before it is
/// an error.
pub const UNIT_ERROR_TOLERANCE: f64 = 1e-3;
/// How far a quaternion norm (or a rotation matrix from orthonormality) may be off before its
/// repair is reported.
pub const UNIT_REPORT_TOLERANCE: f64 = 1e-9;

/// A place in a source: the whole of it, a line of a text file or a message of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The source as a whole.
    Whole,
    /// A line of a text file, counted from 1.
    Line(usize),
    /// A message of an MCAP log: its index among the messages of `topic` (counted from 0, in
    /// file order).
    Message {
        /// Index among the messages of the topic, from 0.
        index: usize,
        /// The topic.
        topic: String,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Whole => f.write_str("the whole source"),
            Location::Line(line) => write!(f, "line {line}"),
            Location::Message { index, topic } => write!(f, "message {index} on {topic}"),
        }
    }
}

/// What went wrong (see [`SensorIoError`] for where).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SensorIoErrorKind {
    /// Reading or writing the file failed.
    #[error("{0}")]
    Io(#[source] std::io::Error),
    /// The line is not valid UTF-8.
    #[error("not valid UTF-8")]
    NotUtf8,
    /// The line has the wrong number of fields.
    #[error("expected {expected}, found {found}")]
    FieldCount {
        /// What was expected (e.g. `"8 fields"`, `"at least 8 fields"`).
        expected: String,
        /// How many were found.
        found: usize,
    },
    /// A field is not a number.
    #[error("field {field}: {text:?} is not a number")]
    NotANumber {
        /// The field's name.
        field: String,
        /// Its text.
        text: String,
    },
    /// A field is NaN or infinite.
    #[error("field {field}: {value} is not finite")]
    NonFinite {
        /// The field's name.
        field: String,
        /// Its value.
        value: f64,
    },
    /// A quaternion whose norm differs from 1 by more than [`UNIT_ERROR_TOLERANCE`].
    #[error("field {field}: quaternion norm {norm} differs from 1 by more than {UNIT_ERROR_TOLERANCE}")]
    QuaternionNorm {
        /// The quaternion's name.
        field: String,
        /// Its norm.
        norm: f64,
    },
    /// A 3×3 matrix that is not a rotation: further than [`UNIT_ERROR_TOLERANCE`] from
    /// orthonormal (max |RᵀR − I|), or a reflection.
    #[error("field {field}: not a rotation matrix (max |RᵀR - I| = {deviation:e}, det = {determinant})")]
    NotARotation {
        /// The matrix's name.
        field: String,
        /// max |RᵀR − I|.
        deviation: f64,
        /// Its determinant.
        determinant: f64,
    },
    /// A stamp earlier than the previous one.
    #[error("stamp {stamp} s is before stamp {previous} s at {previous_at}")]
    NonMonotonic {
        /// This stamp (seconds).
        stamp: f64,
        /// The previous stamp (seconds).
        previous: f64,
        /// Where the previous stamp is.
        previous_at: Location,
    },
    /// Two files that must have as many entries do not.
    #[error("{entries} entries but {other_entries} in {other}")]
    CountMismatch {
        /// Entries in this file.
        entries: usize,
        /// The other file.
        other: String,
        /// Entries in it.
        other_entries: usize,
    },
    /// A value to write cannot be represented in the format.
    #[error("field {field}: {value} cannot be written in this format")]
    Unwritable {
        /// The field's name.
        field: String,
        /// The value.
        value: f64,
    },
    /// The MCAP container is malformed.
    #[error("MCAP: {0}")]
    Mcap(String),
    /// The topic is not in the log.
    #[error("topic {topic} not found (topics: {available})")]
    TopicNotFound {
        /// The topic asked for.
        topic: String,
        /// The topics in the log, comma separated.
        available: String,
    },
    /// The topic's schema or message encoding is not one this reader decodes.
    #[error("unsupported schema {schema:?} with message encoding {encoding:?} (supported: {supported})")]
    UnsupportedSchema {
        /// The channel's schema name.
        schema: String,
        /// The channel's message encoding.
        encoding: String,
        /// What is supported.
        supported: String,
    },
    /// A CDR payload could not be decoded.
    #[error("CDR {0}")]
    Cdr(#[from] super::cdr::CdrError),
    /// The frame ids changed between messages of one topic.
    #[error("field {field}: frame {found:?} differs from {expected:?} of the first message")]
    FrameChanged {
        /// The field's name.
        field: String,
        /// The first message's frame.
        expected: String,
        /// This message's frame.
        found: String,
    },
    /// No transform between the two frames is in the log.
    #[error("no transform {parent} -> {child} (transforms: {available})")]
    TransformNotFound {
        /// Parent frame asked for.
        parent: String,
        /// Child frame asked for.
        child: String,
        /// The `parent -> child` pairs in the log, comma separated.
        available: String,
    },
    /// The poses do not form a valid [`Trajectory`] (should not happen after the checks above).
    #[error("{0}")]
    Trajectory(#[from] TrajectoryError),
}

/// The one error of the trajectory readers and writers: which source, where in it, and what.
///
/// Displayed as `fr2.txt:17: field qw: "abc" is not a number` for text files and as
/// `log.mcap: message 12 on /odom: CDR field pose.pose.position.x at payload byte 40: ...` for
/// MCAP logs. Boxed, so that `Result`s stay small.
#[derive(Debug)]
pub struct SensorIoError(Box<ErrorInner>);

#[derive(Debug)]
struct ErrorInner {
    source_name: String,
    location: Location,
    kind: SensorIoErrorKind,
}

impl fmt::Display for SensorIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ErrorInner { source_name, location, kind } = &*self.0;
        match location {
            Location::Whole => write!(f, "{source_name}: {kind}"),
            Location::Line(line) => write!(f, "{source_name}:{line}: {kind}"),
            Location::Message { index, topic } => {
                write!(f, "{source_name}: message {index} on {topic}: {kind}")
            }
        }
    }
}

impl std::error::Error for SensorIoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0.kind)
    }
}

impl SensorIoError {
    /// An error at `location` of `source_name`.
    pub fn new(source_name: impl Into<String>, location: Location, kind: SensorIoErrorKind) -> Self {
        SensorIoError(Box::new(ErrorInner { source_name: source_name.into(), location, kind }))
    }
    /// The file (as given to the reader) or the name given to a `parse_*` function.
    pub fn source_name(&self) -> &str {
        &self.0.source_name
    }
    /// Where in the source.
    pub fn location(&self) -> &Location {
        &self.0.location
    }
    /// What went wrong.
    pub fn kind(&self) -> &SensorIoErrorKind {
        &self.0.kind
    }
    /// Renames the source (e.g. from a buffer's name to the file it is written to).
    pub(crate) fn with_source_name(mut self, source_name: impl Into<String>) -> Self {
        self.0.source_name = source_name.into();
        self
    }
    /// An I/O error on the whole file.
    pub(crate) fn io(source_name: impl Into<String>, error: std::io::Error) -> Self {
        SensorIoError::new(source_name, Location::Whole, SensorIoErrorKind::Io(error))
    }
}

/// What a reader changed in the data it read.
#[derive(Debug, Clone, PartialEq)]
pub enum RepairKind {
    /// A quaternion with norm `norm` (|norm − 1| in `(1e-9, 1e-3]`) was normalised.
    NormalisedQuaternion {
        /// The norm before normalising.
        norm: f64,
    },
    /// A rotation matrix with max |RᵀR − I| = `deviation` (in `(1e-9, 1e-3]`) was replaced by the
    /// nearest rotation.
    OrthonormalisedRotation {
        /// max |RᵀR − I| before.
        deviation: f64,
    },
    /// An entry whose stamp equals that of the entry `kept` was dropped (the first one wins).
    DroppedDuplicateStamp {
        /// The stamp (seconds).
        stamp: f64,
        /// Where the entry that was kept is.
        kept: Location,
    },
}

/// One repair: where, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Repair {
    /// Where in the source (for KITTI: the line of the times file, which is also the pose's
    /// line when neither file has blank lines).
    pub location: Location,
    /// What was changed.
    pub kind: RepairKind,
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            RepairKind::NormalisedQuaternion { norm } => {
                write!(f, "{}: normalised a quaternion of norm {norm}", self.location)
            }
            RepairKind::OrthonormalisedRotation { deviation } => write!(
                f,
                "{}: replaced a rotation matrix (max |RᵀR - I| = {deviation:e}) by the nearest rotation",
                self.location
            ),
            RepairKind::DroppedDuplicateStamp { stamp, kept } => {
                write!(f, "{}: dropped: stamp {stamp} s repeats that of {kept}", self.location)
            }
        }
    }
}

/// What a reader returns: the data and every repair applied to it (empty when the source was
/// clean).
#[derive(Debug, Clone, PartialEq)]
pub struct ReadReport<T = Trajectory> {
    /// The data read.
    pub data: T,
    /// The repairs, in source order.
    pub repairs: Vec<Repair>,
}

impl<T> ReadReport<T> {
    /// Whether nothing was repaired.
    pub fn is_clean(&self) -> bool {
        self.repairs.is_empty()
    }
    /// Number of entries dropped as duplicates.
    pub fn dropped(&self) -> usize {
        self.repairs.iter().filter(|r| matches!(r.kind, RepairKind::DroppedDuplicateStamp { .. })).count()
    }
    /// The data, discarding the repairs.
    pub fn into_data(self) -> T {
        self.data
    }
}

// ---------------------------------------------------------------------------------------------
// Shared reader machinery (crate-private).

/// Decides, entry by entry, which stamps are kept: strictly increasing ones are, equal ones are
/// dropped (reported), decreasing ones are errors.
#[derive(Debug, Default)]
pub(crate) struct StampSequence {
    last: Option<(f64, Location)>,
}

impl StampSequence {
    /// `Ok(true)`: keep; `Ok(false)`: duplicate, dropped and reported in `repairs`.
    pub(crate) fn admit(
        &mut self,
        source: &str,
        stamp: f64,
        location: &Location,
        repairs: &mut Vec<Repair>,
    ) -> Result<bool, SensorIoError> {
        if !stamp.is_finite() {
            return Err(SensorIoError::new(
                source,
                location.clone(),
                SensorIoErrorKind::NonFinite { field: "stamp".into(), value: stamp },
            ));
        }
        if let Some((previous, previous_at)) = &self.last {
            if stamp == *previous {
                repairs.push(Repair {
                    location: location.clone(),
                    kind: RepairKind::DroppedDuplicateStamp { stamp, kept: previous_at.clone() },
                });
                return Ok(false);
            }
            if stamp < *previous {
                return Err(SensorIoError::new(
                    source,
                    location.clone(),
                    SensorIoErrorKind::NonMonotonic {
                        stamp,
                        previous: *previous,
                        previous_at: previous_at.clone(),
                    },
                ));
            }
        }
        self.last = Some((stamp, location.clone()));
        Ok(true)
    }
}

/// Collects poses with their stamps and repairs, then builds the [`Trajectory`].
#[derive(Debug)]
pub(crate) struct TrajectoryBuilder {
    pub(crate) source: String,
    stamps: Vec<f64>,
    poses: Vec<Isometry3<f64>>,
    sequence: StampSequence,
    pub(crate) repairs: Vec<Repair>,
}

impl TrajectoryBuilder {
    pub(crate) fn new(source: impl Into<String>) -> Self {
        TrajectoryBuilder {
            source: source.into(),
            stamps: Vec::new(),
            poses: Vec::new(),
            sequence: StampSequence::default(),
            repairs: Vec::new(),
        }
    }

    /// Adds a pose unless its stamp repeats the previous one (then it is dropped and reported).
    pub(crate) fn push(
        &mut self,
        stamp: f64,
        pose: Isometry3<f64>,
        location: &Location,
    ) -> Result<(), SensorIoError> {
        if self.sequence.admit(&self.source, stamp, location, &mut self.repairs)? {
            self.stamps.push(stamp);
            self.poses.push(pose);
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<ReadReport, SensorIoError> {
        let trajectory = Trajectory::new(self.stamps, self.poses)
            .map_err(|e| SensorIoError::new(&self.source, Location::Whole, e.into()))?;
        Ok(ReadReport { data: trajectory, repairs: self.repairs })
    }
}

/// Checks a quaternion `(x, y, z, w)` against the unit-norm policy (see the module doc).
pub(crate) fn unit_quaternion(
    q: Quaternion<f64>,
    field: &str,
    source: &str,
    location: &Location,
    repairs: &mut Vec<Repair>,
) -> Result<UnitQuaternion<f64>, SensorIoError> {
    let err = |kind| SensorIoError::new(source, location.clone(), kind);
    for (name, value) in [("x", q.i), ("y", q.j), ("z", q.k), ("w", q.w)] {
        if !value.is_finite() {
            return Err(err(SensorIoErrorKind::NonFinite { field: format!("{field}.{name}"), value }));
        }
    }
    let norm = q.norm();
    let off = (norm - 1.0).abs();
    if off.is_nan() || off > UNIT_ERROR_TOLERANCE {
        return Err(err(SensorIoErrorKind::QuaternionNorm { field: field.into(), norm }));
    }
    if off > UNIT_REPORT_TOLERANCE {
        repairs.push(Repair { location: location.clone(), kind: RepairKind::NormalisedQuaternion { norm } });
    }
    Ok(UnitQuaternion::new_unchecked(q / norm))
}

/// Checks a 3×3 matrix against the rotation policy (see the module doc) and returns it as a unit
/// quaternion.
pub(crate) fn rotation_matrix(
    m: Matrix3<f64>,
    field: &str,
    source: &str,
    location: &Location,
    repairs: &mut Vec<Repair>,
) -> Result<UnitQuaternion<f64>, SensorIoError> {
    let deviation = (m.transpose() * m - Matrix3::identity()).amax();
    let determinant = m.determinant();
    if deviation.is_nan() || deviation > UNIT_ERROR_TOLERANCE || determinant.is_nan() || determinant <= 0.0 {
        return Err(SensorIoError::new(
            source,
            location.clone(),
            SensorIoErrorKind::NotARotation { field: field.into(), deviation, determinant },
        ));
    }
    let m = if deviation > UNIT_REPORT_TOLERANCE {
        repairs.push(Repair {
            location: location.clone(),
            kind: RepairKind::OrthonormalisedRotation { deviation },
        });
        nearest_rotation(m)
    } else {
        m
    };
    let q = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(m));
    // Tidy the last bits so that the result is unit to rounding.
    Ok(UnitQuaternion::new_normalize(q.into_inner()))
}

/// The rotation nearest to `m` (Frobenius norm), for `m` close to a rotation: `U Vᵀ` from the
/// SVD `m = U Σ Vᵀ`.
fn nearest_rotation(m: Matrix3<f64>) -> Matrix3<f64> {
    let svd = m.svd(true, true);
    match (svd.u, svd.v_t) {
        (Some(u), Some(v_t)) => {
            let r = u * v_t;
            if r.determinant() > 0.0 {
                r
            } else {
                // Cannot happen for det(m) > 0 and m near orthonormal; kept for safety.
                let mut u = u;
                u.column_mut(2).neg_mut();
                u * v_t
            }
        }
        _ => m,
    }
}

/// A pose from a translation and a unit quaternion.
pub(crate) fn pose(t: Vector3<f64>, q: UnitQuaternion<f64>) -> Isometry3<f64> {
    Isometry3::from_parts(Translation3::from(t), q)
}

/// Parses a finite `f64` field.
pub(crate) fn parse_f64(
    text: &str,
    field: &str,
    source: &str,
    location: &Location,
) -> Result<f64, SensorIoError> {
    let err = |kind| SensorIoError::new(source, location.clone(), kind);
    let value: f64 = text
        .parse()
        .map_err(|_| err(SensorIoErrorKind::NotANumber { field: field.into(), text: text.into() }))?;
    if !value.is_finite() {
        return Err(err(SensorIoErrorKind::NonFinite { field: field.into(), value }));
    }
    Ok(value)
}

/// The lines of a text source as `(line number from 1, text)`, without `\r\n`/`\n`; a line that
/// is not UTF-8 is an error.
pub(crate) fn lines<'a>(
    bytes: &'a [u8],
    source: &'a str,
) -> impl Iterator<Item = Result<(usize, &'a str), SensorIoError>> + 'a {
    // A final newline does not start a line.
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let empty = bytes.is_empty();
    bytes.split(|&b| b == b'\n').enumerate().filter(move |_| !empty).map(move |(i, line)| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        std::str::from_utf8(line)
            .map(|text| (i + 1, text))
            .map_err(|_| SensorIoError::new(source, Location::Line(i + 1), SensorIoErrorKind::NotUtf8))
    })
}

/// Reads a whole file.
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>, SensorIoError> {
    std::fs::read(path).map_err(|e| SensorIoError::io(path.display().to_string(), e))
}

/// Writes a whole file atomically ([`crate::fsio::atomic_write`]).
pub(crate) fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), SensorIoError> {
    crate::fsio::atomic_write(path, bytes).map_err(|e| SensorIoError::io(path.display().to_string(), e))
}
