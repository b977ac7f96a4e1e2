//! ROS 2 messages used for trajectories and IMU data, decoded from (and encoded to) CDR with the
//! small codec in [`cdr`](super::cdr): `nav_msgs/msg/Odometry`, `geometry_msgs/msg/PoseStamped`,
//! `geometry_msgs/msg/PoseWithCovarianceStamped`, `geometry_msgs/msg/TransformStamped`,
//! `tf2_msgs/msg/TFMessage` and `sensor_msgs/msg/Imu`.
//!
//! Values are kept as in the message (quaternions are not normalised here; the MCAP readers in
//! [`mcap_log`](super::mcap_log) apply the repair policy). Covariances are row-major.

use nalgebra::{Isometry3, Quaternion, Translation3, UnitQuaternion, Vector3};

use super::cdr::{CdrError, CdrProblem, CdrReader, CdrWriter, Endianness};

/// A ROS 2 message type with a CDR codec.
pub trait Ros2Message: Sized {
    /// The schema name as it appears in MCAP files, e.g. `nav_msgs/msg/Odometry`.
    const SCHEMA_NAME: &'static str;
    /// Decodes the fields (after the encapsulation header).
    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, CdrError>;
    /// Encodes the fields.
    fn write_cdr(&self, w: &mut CdrWriter);
    /// Decodes a whole serialized message (4-byte encapsulation header first). Never panics.
    fn from_cdr(message: &[u8]) -> Result<Self, CdrError> {
        let mut r = CdrReader::new(message)?;
        Self::read_cdr(&mut r)
    }
    /// Encodes a whole serialized message (CDR with its encapsulation header).
    fn to_cdr(&self, endianness: Endianness) -> Vec<u8> {
        let mut w = CdrWriter::new(endianness);
        self.write_cdr(&mut w);
        w.finish()
    }
}

/// `builtin_interfaces/msg/Time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Time {
    /// Seconds (since the Unix epoch for wall-clock stamps).
    pub sec: i32,
    /// Nanoseconds, below 1e9.
    pub nanosec: u32,
}

impl Time {
    /// The time in seconds (`sec + nanosec·1e-9`, summed from the two parts).
    pub fn seconds(&self) -> f64 {
        f64::from(self.sec) + f64::from(self.nanosec) * 1e-9
    }
}

/// `std_msgs/msg/Header`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// The stamp.
    pub stamp: Time,
    /// The frame the data is expressed in.
    pub frame_id: String,
}

/// `geometry_msgs/msg/Pose` (position, orientation as stored: `Quaternion::new(w, x, y, z)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    /// Position (metres).
    pub position: Vector3<f64>,
    /// Orientation, not necessarily normalised.
    pub orientation: Quaternion<f64>,
}

impl Default for Pose {
    fn default() -> Self {
        Pose { position: Vector3::zeros(), orientation: Quaternion::identity() }
    }
}

impl Pose {
    /// As an isometry, normalising the quaternion (no checks; see the MCAP readers for those).
    pub fn to_isometry(&self) -> Isometry3<f64> {
        Isometry3::from_parts(
            Translation3::from(self.position),
            UnitQuaternion::new_normalize(self.orientation),
        )
    }
}

/// `geometry_msgs/msg/PoseWithCovariance`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoseWithCovariance {
    /// The pose.
    pub pose: Pose,
    /// Row-major 6×6 covariance of (x, y, z, rotation about x, y, z).
    pub covariance: [f64; 36],
}

impl Default for PoseWithCovariance {
    fn default() -> Self {
        PoseWithCovariance { pose: Pose::default(), covariance: [0.0; 36] }
    }
}

/// `geometry_msgs/msg/Twist`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Twist {
    /// Linear velocity (m/s).
    pub linear: Vector3<f64>,
    /// Angular velocity (rad/s).
    pub angular: Vector3<f64>,
}

/// `geometry_msgs/msg/TwistWithCovariance`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TwistWithCovariance {
    /// The twist.
    pub twist: Twist,
    /// Row-major 6×6 covariance.
    pub covariance: [f64; 36],
}

impl Default for TwistWithCovariance {
    fn default() -> Self {
        TwistWithCovariance { twist: Twist::default(), covariance: [0.0; 36] }
    }
}

/// `nav_msgs/msg/Odometry`: the pose of `child_frame_id` in `header.frame_id`, the twist in
/// `child_frame_id`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Odometry {
    /// Stamp and parent frame.
    pub header: Header,
    /// The moving frame.
    pub child_frame_id: String,
    /// `T_parent_child` with covariance.
    pub pose: PoseWithCovariance,
    /// Velocity in the child frame with covariance.
    pub twist: TwistWithCovariance,
}

/// `geometry_msgs/msg/PoseStamped`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PoseStamped {
    /// Stamp and frame.
    pub header: Header,
    /// The pose.
    pub pose: Pose,
}

/// `geometry_msgs/msg/PoseWithCovarianceStamped`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PoseWithCovarianceStamped {
    /// Stamp and frame.
    pub header: Header,
    /// The pose with covariance.
    pub pose: PoseWithCovariance,
}

/// `geometry_msgs/msg/TransformStamped`: `T_parent_child`, parent = `header.frame_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformStamped {
    /// Stamp and parent frame.
    pub header: Header,
    /// The child frame.
    pub child_frame_id: String,
    /// Translation (metres).
    pub translation: Vector3<f64>,
    /// Rotation as stored.
    pub rotation: Quaternion<f64>,
}

impl Default for TransformStamped {
    fn default() -> Self {
        TransformStamped {
            header: Header::default(),
            child_frame_id: String::new(),
            translation: Vector3::zeros(),
            rotation: Quaternion::identity(),
        }
    }
}

/// `tf2_msgs/msg/TFMessage`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TfMessage {
    /// The transforms.
    pub transforms: Vec<TransformStamped>,
}

/// `sensor_msgs/msg/Imu`.
#[derive(Debug, Clone, PartialEq)]
pub struct Imu {
    /// Stamp and sensor frame.
    pub header: Header,
    /// Orientation estimate (all zero, with `orientation_covariance[0] = -1`, when absent).
    pub orientation: Quaternion<f64>,
    /// Row-major 3×3.
    pub orientation_covariance: [f64; 9],
    /// rad/s.
    pub angular_velocity: Vector3<f64>,
    /// Row-major 3×3.
    pub angular_velocity_covariance: [f64; 9],
    /// m/s².
    pub linear_acceleration: Vector3<f64>,
    /// Row-major 3×3.
    pub linear_acceleration_covariance: [f64; 9],
}

impl Default for Imu {
    fn default() -> Self {
        Imu {
            header: Header::default(),
            orientation: Quaternion::identity(),
            orientation_covariance: [0.0; 9],
            angular_velocity: Vector3::zeros(),
            angular_velocity_covariance: [0.0; 9],
            linear_acceleration: Vector3::zeros(),
            linear_acceleration_covariance: [0.0; 9],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Field codecs.

fn read_time(r: &mut CdrReader<'_>) -> Result<Time, CdrError> {
    let sec = r.read_i32("sec")?;
    let nanosec = r.read_u32("nanosec")?;
    if nanosec >= 1_000_000_000 {
        return Err(r.invalid("nanosec", CdrProblem::NanosecOutOfRange { nanosec }));
    }
    Ok(Time { sec, nanosec })
}

fn read_header(r: &mut CdrReader<'_>) -> Result<Header, CdrError> {
    let stamp = r.nested("stamp", read_time)?;
    let frame_id = r.read_string("frame_id")?;
    Ok(Header { stamp, frame_id })
}

fn write_header(w: &mut CdrWriter, h: &Header) {
    w.write_i32(h.stamp.sec);
    w.write_u32(h.stamp.nanosec);
    w.write_string(&h.frame_id);
}

fn read_vector3(r: &mut CdrReader<'_>) -> Result<Vector3<f64>, CdrError> {
    Ok(Vector3::new(r.read_f64("x")?, r.read_f64("y")?, r.read_f64("z")?))
}

fn write_vector3(w: &mut CdrWriter, v: &Vector3<f64>) {
    w.write_f64s(&[v.x, v.y, v.z]);
}

fn read_quaternion(r: &mut CdrReader<'_>) -> Result<Quaternion<f64>, CdrError> {
    let (x, y, z, w) = (r.read_f64("x")?, r.read_f64("y")?, r.read_f64("z")?, r.read_f64("w")?);
    Ok(Quaternion::new(w, x, y, z))
}

fn write_quaternion(w: &mut CdrWriter, q: &Quaternion<f64>) {
    w.write_f64s(&[q.i, q.j, q.k, q.w]);
}

fn read_pose(r: &mut CdrReader<'_>) -> Result<Pose, CdrError> {
    let position = r.nested("position", read_vector3)?;
    let orientation = r.nested("orientation", read_quaternion)?;
    Ok(Pose { position, orientation })
}

fn write_pose(w: &mut CdrWriter, p: &Pose) {
    write_vector3(w, &p.position);
    write_quaternion(w, &p.orientation);
}

fn read_pose_with_covariance(r: &mut CdrReader<'_>) -> Result<PoseWithCovariance, CdrError> {
    let pose = r.nested("pose", read_pose)?;
    let covariance = r.read_f64_array::<36>("covariance")?;
    Ok(PoseWithCovariance { pose, covariance })
}

fn write_pose_with_covariance(w: &mut CdrWriter, p: &PoseWithCovariance) {
    write_pose(w, &p.pose);
    w.write_f64s(&p.covariance);
}

fn read_twist_with_covariance(r: &mut CdrReader<'_>) -> Result<TwistWithCovariance, CdrError> {
    let twist = r.nested("twist", |r| {
        let linear = r.nested("linear", read_vector3)?;
        let angular = r.nested("angular", read_vector3)?;
        Ok(Twist { linear, angular })
    })?;
    let covariance = r.read_f64_array::<36>("covariance")?;
    Ok(TwistWithCovariance { twist, covariance })
}

fn write_twist_with_covariance(w: &mut CdrWriter, t: &TwistWithCovariance) {
    write_vector3(w, &t.twist.linear);
    write_vector3(w, &t.twist.angular);
    w.write_f64s(&t.covariance);
}

// ---------------------------------------------------------------------------------------------
// Messages.

impl Ros2Message for Odometry {
    const SCHEMA_NAME: &'static str = "nav_msgs/msg/Odometry";
    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        let header = r.nested("header", read_header)?;
        let child_frame_id = r.read_string("child_frame_id")?;
        let pose = r.nested("pose", read_pose_with_covariance)?;
        let twist = r.nested("twist", read_twist_with_covariance)?;
        Ok(Odometry { header, child_frame_id, pose, twist })
    }
    fn write_cdr(&self, w: &mut CdrWriter) {
        write_header(w, &self.header);
        w.write_string(&self.child_frame_id);
        write_pose_with_covariance(w, &self.pose);
        write_twist_with_covariance(w, &self.twist);
    }
}

impl Ros2Message for PoseStamped {
    const SCHEMA_NAME: &'static str = "geometry_msgs/msg/PoseStamped";
    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        let header = r.nested("header", read_header)?;
        let pose = r.nested("pose", read_pose)?;
        Ok(PoseStamped { header, pose })
    }
    fn write_cdr(&self, w: &mut CdrWriter) {
        write_header(w, &self.header);
        write_pose(w, &self.pose);
    }
}

impl Ros2Message for PoseWithCovarianceStamped {
    const SCHEMA_NAME: &'static str = "geometry_msgs/msg/PoseWithCovarianceStamped";
    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        let header = r.nested("header", read_header)?;
        let pose = r.nested("pose", read_pose_with_covariance)?;
        Ok(PoseWithCovarianceStamped { header, pose })
    }
    fn write_cdr(&self, w: &mut CdrWriter) {
        write_header(w, &self.header);
        write_pose_with_covariance(w, &self.pose);
    }
}

impl Ros2Message for TransformStamped {
    const SCHEMA_NAME: &'static str = "geometry_msgs/msg/TransformStamped";
    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        let header = r.nested("header", read_header)?;
        let child_frame_id = r.read_string("child_frame_id")?;
        let (translation, rotation) = r.nested("transform", |r| {
            Ok((r.nested("translation", read_vector3)?, r.nested("rotation", read_quaternion)?))
        })?;
        Ok(TransformStamped { header, child_frame_id, translation, rotation })
    }
    fn write_cdr(&self, w: &mut CdrWriter) {
        write_header(w, &self.header);
        w.write_string(&self.child_frame_id);
        write_vector3(w, &self.translation);
        write_quaternion(w, &self.rotation);
    }
}

/// Smallest CDR size of a `TransformStamped` (two empty strings, seven doubles), used to bound
/// sequence lengths.
const MIN_TRANSFORM_STAMPED_SIZE: usize = 4 + 4 + 4 + 4 + 7 * 8;

impl Ros2Message for TfMessage {
    const SCHEMA_NAME: &'static str = "tf2_msgs/msg/TFMessage";
    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        let len = r.read_sequence_len("transforms", MIN_TRANSFORM_STAMPED_SIZE)?;
        let mut transforms = Vec::with_capacity(len);
        for i in 0..len {
            transforms.push(r.nested("transforms", |r| r.element(i, TransformStamped::read_cdr))?);
        }
        Ok(TfMessage { transforms })
    }
    fn write_cdr(&self, w: &mut CdrWriter) {
        w.write_u32(u32::try_from(self.transforms.len()).unwrap_or(u32::MAX));
        for t in self.transforms.iter().take(u32::MAX as usize) {
            t.write_cdr(w);
        }
    }
}

impl Ros2Message for Imu {
    const SCHEMA_NAME: &'static str = "sensor_msgs/msg/Imu";
    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        let header = r.nested("header", read_header)?;
        let orientation = r.nested("orientation", read_quaternion)?;
        let orientation_covariance = r.read_f64_array::<9>("orientation_covariance")?;
        let angular_velocity = r.nested("angular_velocity", read_vector3)?;
        let angular_velocity_covariance = r.read_f64_array::<9>("angular_velocity_covariance")?;
        let linear_acceleration = r.nested("linear_acceleration", read_vector3)?;
        let linear_acceleration_covariance = r.read_f64_array::<9>("linear_acceleration_covariance")?;
        Ok(Imu {
            header,
            orientation,
            orientation_covariance,
            angular_velocity,
            angular_velocity_covariance,
            linear_acceleration,
            linear_acceleration_covariance,
        })
    }
    fn write_cdr(&self, w: &mut CdrWriter) {
        write_header(w, &self.header);
        write_quaternion(w, &self.orientation);
        w.write_f64s(&self.orientation_covariance);
        write_vector3(w, &self.angular_velocity);
        w.write_f64s(&self.angular_velocity_covariance);
        write_vector3(w, &self.linear_acceleration);
        w.write_f64s(&self.linear_acceleration_covariance);
    }
}
