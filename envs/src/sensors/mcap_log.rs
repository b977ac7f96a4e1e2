//! Trajectories and IMU series from ROS 2 recordings in MCAP files (CDR-encoded messages).
//!
//! The `mcap` crate walks the file's records (decompressing chunks, checking their CRCs before
//! reading them) up to the end of the data section; the payloads are decoded by
//! [`ros2`](super::ros2). Messages are taken in file order. Records and chunks larger than
//! max(256 MiB, 64 × the file size) uncompressed are rejected as corrupt.
//!
//! **Stamps are the messages' `header.stamp`**, the time the data refers to, not the MCAP log
//! time (when the recorder received the message) nor the publish time.
//!
//! Errors name the file, the message (its index among the messages of its topic, from 0, in file
//! order) and topic, and the field. The repair policy is that of [`io_error`](super::io_error):
//! quaternions off unit norm by more than 1e-3 are errors, by more than 1e-9 normalised and
//! reported; a stamp equal to the previous one is dropped and reported; an earlier stamp is an
//! error. Within one pose topic, `header.frame_id` (and `child_frame_id` for odometry) must not
//! change.
//!
//! A malformed file never panics the caller: container errors come back as
//! [`SensorIoErrorKind::Mcap`]; should the `mcap` crate itself panic on a corrupt file, the panic
//! is caught and reported the same way.

use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use ::mcap::records::Record;
use ::mcap::sans_io::{LinearReadEvent, LinearReader, LinearReaderOptions};
use nalgebra::{Isometry3, Quaternion, Translation3, Vector3};

use super::cdr::CdrError;
use super::imu::ImuSample;
use super::io_error::{
    Location, ReadReport, Repair, SensorIoError, SensorIoErrorKind, StampSequence, TrajectoryBuilder,
    read_file, unit_quaternion,
};
use super::ros2::{
    Header, Imu, Odometry, Pose, PoseStamped, PoseWithCovarianceStamped, Ros2Message, TfMessage,
};

/// A topic of an MCAP file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// The topic, e.g. `/odom`.
    pub topic: String,
    /// The schema name, e.g. `nav_msgs/msg/Odometry` (empty when the channel has no schema).
    pub schema_name: String,
    /// The message encoding, e.g. `cdr`.
    pub message_encoding: String,
    /// Number of messages on the topic.
    pub message_count: usize,
}

/// A `parent -> child` transform found in `tf2_msgs/msg/TFMessage` messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TfEdge {
    /// The topic it was published on (`/tf`, `/tf_static`, ...).
    pub topic: String,
    /// `header.frame_id` (a leading `/` removed).
    pub parent: String,
    /// `child_frame_id` (a leading `/` removed).
    pub child: String,
    /// Number of transforms between the two on that topic.
    pub count: usize,
}

/// The schemas [`McapLog::poses`] reads.
pub const POSE_SCHEMAS: [&str; 3] =
    [Odometry::SCHEMA_NAME, PoseStamped::SCHEMA_NAME, PoseWithCovarianceStamped::SCHEMA_NAME];

/// Records and chunks may be this large (uncompressed) whatever the file size; beyond that, up to
/// 64 times the file size.
const MAX_RECORD_FLOOR: usize = 256 << 20;

/// An MCAP file held in memory.
#[derive(Debug, Clone)]
pub struct McapLog {
    name: String,
    bytes: Vec<u8>,
}

/// One message as the readers see it.
struct Msg<'a> {
    topic: &'a str,
    schema: &'a str,
    encoding: &'a str,
    index: usize,
    data: &'a [u8],
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

fn frame(name: &str) -> &str {
    name.strip_prefix('/').unwrap_or(name)
}

impl McapLog {
    /// Reads a file into memory.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SensorIoError> {
        let path = path.as_ref();
        Ok(McapLog { name: path.display().to_string(), bytes: read_file(path)? })
    }

    /// Wraps bytes already in memory; `name` names them in errors.
    pub fn from_bytes(bytes: Vec<u8>, name: impl Into<String>) -> Self {
        McapLog { name: name.into(), bytes }
    }

    /// The name used in errors.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn error(&self, location: Location, kind: SensorIoErrorKind) -> SensorIoError {
        SensorIoError::new(&self.name, location, kind)
    }

    /// Calls `f` on every message in file order; stops at the first error.
    fn for_each(
        &self,
        mut f: impl FnMut(&Msg<'_>) -> Result<(), SensorIoError>,
    ) -> Result<(), SensorIoError> {
        let run = || -> Result<(), SensorIoError> {
            let mcap_error = |what: String| self.error(Location::Whole, SensorIoErrorKind::Mcap(what));
            // The sans-io reader with a length limit on every record and on every chunk's
            // uncompressed size (checked before decompressing it): `MessageStream` sets none for
            // chunk contents, so a corrupt length in a chunk could ask for exabytes and abort.
            let limit = self.bytes.len().saturating_mul(64).max(MAX_RECORD_FLOOR);
            let mut reader = LinearReader::new_with_options(
                LinearReaderOptions::default()
                    .with_validate_chunk_crcs(true)
                    .with_prevalidate_chunk_crcs(true)
                    .with_record_length_limit(limit),
            );
            let mut rest: &[u8] = &self.bytes;
            let mut schemas: HashMap<u16, String> = HashMap::new();
            let mut channels: HashMap<u16, (String, String, String)> = HashMap::new();
            let mut counts: HashMap<String, usize> = HashMap::new();
            let mut total = 0usize;
            while let Some(event) = reader.next_event() {
                let event = event.map_err(|e| mcap_error(format!("{e} (after {total} messages)")))?;
                let (opcode, data) = match event {
                    LinearReadEvent::ReadRequest(need) => {
                        let n = need.min(rest.len());
                        reader.insert(n).copy_from_slice(&rest[..n]);
                        reader.notify_read(n);
                        rest = &rest[n..];
                        continue;
                    }
                    LinearReadEvent::Record { opcode, data } => (opcode, data),
                };
                let record = ::mcap::parse_record(opcode, data)
                    .map_err(|e| mcap_error(format!("{e} (after {total} messages)")))?;
                match record {
                    Record::Schema { header, .. } => {
                        schemas.insert(header.id, header.name);
                    }
                    Record::Channel(c) => {
                        let schema = match c.schema_id {
                            0 => String::new(),
                            id => schemas.get(&id).cloned().ok_or_else(|| {
                                mcap_error(format!("channel {} refers to unknown schema {id}", c.topic))
                            })?,
                        };
                        channels.insert(c.id, (c.topic, schema, c.message_encoding));
                    }
                    Record::Message { header, data } => {
                        let Some((topic, schema, encoding)) = channels.get(&header.channel_id) else {
                            return Err(mcap_error(format!(
                                "message {total} refers to unknown channel {}",
                                header.channel_id
                            )));
                        };
                        total += 1;
                        let count = counts.entry(topic.clone()).or_insert(0);
                        let index = *count;
                        *count += 1;
                        f(&Msg { topic, schema, encoding, index, data: &data })?;
                    }
                    // Messages only live in the data section.
                    Record::DataEnd(_) => break,
                    _ => {}
                }
            }
            Ok(())
        };
        match catch_unwind(AssertUnwindSafe(run)) {
            Ok(result) => result,
            Err(payload) => Err(self.error(
                Location::Whole,
                SensorIoErrorKind::Mcap(format!(
                    "reader panicked on malformed data: {}",
                    panic_text(&*payload)
                )),
            )),
        }
    }

    /// The topics with at least one message, sorted by name, with their schema and message count
    /// (counted by reading every message, not taken from the summary).
    pub fn topics(&self) -> Result<Vec<TopicInfo>, SensorIoError> {
        let mut topics: BTreeMap<String, TopicInfo> = BTreeMap::new();
        self.for_each(|m| {
            topics
                .entry(m.topic.to_owned())
                .or_insert_with(|| TopicInfo {
                    topic: m.topic.to_owned(),
                    schema_name: m.schema.to_owned(),
                    message_encoding: m.encoding.to_owned(),
                    message_count: 0,
                })
                .message_count += 1;
            Ok(())
        })?;
        Ok(topics.into_values().collect())
    }

    fn topic_not_found(&self, topic: &str) -> SensorIoError {
        let available = match self.topics() {
            Ok(t) => t.iter().map(|t| t.topic.as_str()).collect::<Vec<_>>().join(", "),
            Err(_) => String::from("unknown"),
        };
        self.error(Location::Whole, SensorIoErrorKind::TopicNotFound { topic: topic.into(), available })
    }

    fn check_schema(&self, m: &Msg<'_>, supported: &[&str]) -> Result<(), SensorIoError> {
        if m.encoding == "cdr" && supported.contains(&m.schema) {
            Ok(())
        } else {
            Err(self.error(
                Location::Message { index: m.index, topic: m.topic.to_owned() },
                SensorIoErrorKind::UnsupportedSchema {
                    schema: m.schema.to_owned(),
                    encoding: m.encoding.to_owned(),
                    supported: supported.join(", ") + " (encoding cdr)",
                },
            ))
        }
    }

    /// Decodes every message of `topic` as `M` (whose schema the channel must have).
    pub fn messages<M: Ros2Message>(&self, topic: &str) -> Result<Vec<M>, SensorIoError> {
        let mut out = Vec::new();
        let mut found = false;
        self.for_each(|m| {
            if m.topic != topic {
                return Ok(());
            }
            found = true;
            self.check_schema(m, &[M::SCHEMA_NAME])?;
            let location = Location::Message { index: m.index, topic: m.topic.to_owned() };
            out.push(M::from_cdr(m.data).map_err(|e| self.error(location, e.into()))?);
            Ok(())
        })?;
        if !found {
            return Err(self.topic_not_found(topic));
        }
        Ok(out)
    }

    /// The pose trajectory of a topic of type `nav_msgs/msg/Odometry` (`pose.pose`: the child
    /// frame in `header.frame_id`), `geometry_msgs/msg/PoseStamped` or
    /// `geometry_msgs/msg/PoseWithCovarianceStamped` (chosen by the channel's schema name), at
    /// the header stamps.
    pub fn poses(&self, topic: &str) -> Result<ReadReport, SensorIoError> {
        let mut builder = TrajectoryBuilder::new(&self.name);
        let mut found = false;
        let mut frames: Option<(String, String)> = None;
        self.for_each(|m| {
            if m.topic != topic {
                return Ok(());
            }
            found = true;
            self.check_schema(m, &POSE_SCHEMAS)?;
            let location = Location::Message { index: m.index, topic: m.topic.to_owned() };
            let decoded: Result<(Header, String, Pose, &str), CdrError> = match m.schema {
                s if s == Odometry::SCHEMA_NAME => {
                    Odometry::from_cdr(m.data).map(|o| (o.header, o.child_frame_id, o.pose.pose, "pose.pose"))
                }
                s if s == PoseStamped::SCHEMA_NAME => {
                    PoseStamped::from_cdr(m.data).map(|p| (p.header, String::new(), p.pose, "pose"))
                }
                _ => PoseWithCovarianceStamped::from_cdr(m.data)
                    .map(|p| (p.header, String::new(), p.pose.pose, "pose.pose")),
            };
            let (header, child, pose, prefix) =
                decoded.map_err(|e| self.error(location.clone(), e.into()))?;
            match &frames {
                None => frames = Some((header.frame_id.clone(), child.clone())),
                Some((parent0, child0)) => {
                    for (field, expected, found) in
                        [("header.frame_id", parent0, &header.frame_id), ("child_frame_id", child0, &child)]
                    {
                        if expected != found {
                            return Err(self.error(
                                location,
                                SensorIoErrorKind::FrameChanged {
                                    field: field.into(),
                                    expected: expected.clone(),
                                    found: found.clone(),
                                },
                            ));
                        }
                    }
                }
            }
            let isometry =
                self.checked_pose(pose.position, pose.orientation, prefix, &location, &mut builder.repairs)?;
            builder.push(header.stamp.seconds(), isometry, &location)
        })?;
        if !found {
            return Err(self.topic_not_found(topic));
        }
        builder.finish()
    }

    fn checked_pose(
        &self,
        position: Vector3<f64>,
        orientation: Quaternion<f64>,
        prefix: &str,
        location: &Location,
        repairs: &mut Vec<Repair>,
    ) -> Result<Isometry3<f64>, SensorIoError> {
        let (position_name, orientation_name) = if prefix.starts_with("transform") {
            ("translation", "rotation")
        } else {
            ("position", "orientation")
        };
        self.check_finite(&position, &format!("{prefix}.{position_name}"), location)?;
        let q = unit_quaternion(
            orientation,
            &format!("{prefix}.{orientation_name}"),
            &self.name,
            location,
            repairs,
        )?;
        Ok(Isometry3::from_parts(Translation3::from(position), q))
    }

    fn check_finite(&self, v: &Vector3<f64>, prefix: &str, location: &Location) -> Result<(), SensorIoError> {
        for (name, value) in [("x", v.x), ("y", v.y), ("z", v.z)] {
            if !value.is_finite() {
                return Err(self.error(
                    location.clone(),
                    SensorIoErrorKind::NonFinite { field: format!("{prefix}.{name}"), value },
                ));
            }
        }
        Ok(())
    }

    /// The `parent -> child` transforms in all `tf2_msgs/msg/TFMessage` topics (`/tf`,
    /// `/tf_static`, namespaced ones), sorted by topic, parent, child.
    pub fn tf_edges(&self) -> Result<Vec<TfEdge>, SensorIoError> {
        let mut edges: BTreeMap<(String, String, String), usize> = BTreeMap::new();
        self.for_each(|m| {
            if m.schema != TfMessage::SCHEMA_NAME {
                return Ok(());
            }
            self.check_schema(m, &[TfMessage::SCHEMA_NAME])?;
            let location = Location::Message { index: m.index, topic: m.topic.to_owned() };
            let tf = TfMessage::from_cdr(m.data).map_err(|e| self.error(location, e.into()))?;
            for t in tf.transforms {
                let key = (
                    m.topic.to_owned(),
                    frame(&t.header.frame_id).to_owned(),
                    frame(&t.child_frame_id).to_owned(),
                );
                *edges.entry(key).or_insert(0) += 1;
            }
            Ok(())
        })?;
        Ok(edges
            .into_iter()
            .map(|((topic, parent, child), count)| TfEdge { topic, parent, child, count })
            .collect())
    }

    /// The trajectory `T_parent_child` from the transforms between exactly these two frames
    /// (a leading `/` ignored) in all `tf2_msgs/msg/TFMessage` topics, both `/tf` and
    /// `/tf_static` (merged in file order), at their header stamps. Only the direct edge is read: chains (e.g.
    /// `map -> odom -> base_footprint`) are not composed.
    pub fn transforms(&self, parent: &str, child: &str) -> Result<ReadReport, SensorIoError> {
        let (parent, child) = (frame(parent), frame(child));
        let mut builder = TrajectoryBuilder::new(&self.name);
        let mut found = false;
        self.for_each(|m| {
            if m.schema != TfMessage::SCHEMA_NAME {
                return Ok(());
            }
            self.check_schema(m, &[TfMessage::SCHEMA_NAME])?;
            let location = Location::Message { index: m.index, topic: m.topic.to_owned() };
            let tf = TfMessage::from_cdr(m.data).map_err(|e| self.error(location.clone(), e.into()))?;
            for (i, t) in tf.transforms.iter().enumerate() {
                if frame(&t.header.frame_id) != parent || frame(&t.child_frame_id) != child {
                    continue;
                }
                found = true;
                let pose = self.checked_pose(
                    t.translation,
                    t.rotation,
                    &format!("transforms[{i}].transform"),
                    &location,
                    &mut builder.repairs,
                )?;
                builder.push(t.header.stamp.seconds(), pose, &location)?;
            }
            Ok(())
        })?;
        if !found {
            let available = self
                .tf_edges()?
                .iter()
                .map(|e| format!("{} -> {} on {}", e.parent, e.child, e.topic))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(self.error(
                Location::Whole,
                SensorIoErrorKind::TransformNotFound {
                    parent: parent.into(),
                    child: child.into(),
                    available,
                },
            ));
        }
        builder.finish()
    }

    /// The gyro and accelerometer readings of a `sensor_msgs/msg/Imu` topic, at the header
    /// stamps (the orientation field is not read; see [`McapLog::messages`] for it).
    pub fn imu(&self, topic: &str) -> Result<ReadReport<Vec<ImuSample>>, SensorIoError> {
        let mut samples = Vec::new();
        let mut repairs = Vec::new();
        let mut sequence = StampSequence::default();
        let mut found = false;
        self.for_each(|m| {
            if m.topic != topic {
                return Ok(());
            }
            found = true;
            self.check_schema(m, &[Imu::SCHEMA_NAME])?;
            let location = Location::Message { index: m.index, topic: m.topic.to_owned() };
            let imu = Imu::from_cdr(m.data).map_err(|e| self.error(location.clone(), e.into()))?;
            self.check_finite(&imu.angular_velocity, "angular_velocity", &location)?;
            self.check_finite(&imu.linear_acceleration, "linear_acceleration", &location)?;
            let stamp = imu.header.stamp.seconds();
            if sequence.admit(&self.name, stamp, &location, &mut repairs)? {
                samples.push(ImuSample {
                    stamp,
                    gyro: imu.angular_velocity.into(),
                    accel: imu.linear_acceleration.into(),
                });
            }
            Ok(())
        })?;
        if !found {
            return Err(self.topic_not_found(topic));
        }
        Ok(ReadReport { data: samples, repairs })
    }
}

/// The topics of an MCAP file with schema name and message count (see [`McapLog::topics`]).
pub fn list_mcap_topics(path: impl AsRef<Path>) -> Result<Vec<TopicInfo>, SensorIoError> {
    McapLog::open(path)?.topics()
}

/// The pose trajectory of an odometry or pose topic (see [`McapLog::poses`]); header stamps.
pub fn read_mcap_poses(path: impl AsRef<Path>, topic: &str) -> Result<ReadReport, SensorIoError> {
    McapLog::open(path)?.poses(topic)
}

/// `T_parent_child` from `/tf` and `/tf_static` (see [`McapLog::transforms`]); header stamps.
pub fn read_mcap_tf(path: impl AsRef<Path>, parent: &str, child: &str) -> Result<ReadReport, SensorIoError> {
    McapLog::open(path)?.transforms(parent, child)
}

/// The transforms present in an MCAP file (see [`McapLog::tf_edges`]).
pub fn list_mcap_tf_frames(path: impl AsRef<Path>) -> Result<Vec<TfEdge>, SensorIoError> {
    McapLog::open(path)?.tf_edges()
}

/// IMU samples of a `sensor_msgs/msg/Imu` topic (see [`McapLog::imu`]); header stamps.
pub fn read_mcap_imu(
    path: impl AsRef<Path>,
    topic: &str,
) -> Result<ReadReport<Vec<ImuSample>>, SensorIoError> {
    McapLog::open(path)?.imu(topic)
}

/// Every message of a topic decoded as `M` (see [`McapLog::messages`]).
pub fn read_mcap_messages<M: Ros2Message>(
    path: impl AsRef<Path>,
    topic: &str,
) -> Result<Vec<M>, SensorIoError> {
    McapLog::open(path)?.messages(topic)
}
