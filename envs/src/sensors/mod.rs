//! Sensor rigs: pose trajectories from files and logs (TUM, EuRoC, KITTI, MCAP), and simulated
//! rigs with ground-truth extrinsics (body trajectories, rigidly mounted sensors, IMUs).
//!
//! Frames are named in identifiers: `T_world_body` maps body coordinates into the world frame.
//! Units: metres, radians, seconds.

pub mod trajectory;

pub use trajectory::{Trajectory, TrajectoryError};

pub mod imu;
pub mod sim;
pub mod spline;

pub use imu::{ImuConfig, ImuRecording, ImuSample, STANDARD_GRAVITY, simulate_imu};
pub use sim::{
    BodyMotionConfig, BodyState, BodyTrajectory, ExcitationProfile, RigidSensorConfig, SensorRecording,
    SimError, simulate_sensor,
};
pub use spline::{CubicBSpline, CumulativeSo3Spline, RotationSample, SplineSample};

// Trajectory readers and writers (TUM, EuRoC, KITTI, MCAP/ROS 2).
pub mod cdr;
pub mod euroc;
pub mod io_error;
pub mod kitti;
pub mod mcap_log;
pub mod ros2;
pub mod tum;

pub use euroc::{parse_euroc, read_euroc, to_euroc_string, write_euroc};
pub use io_error::{Location, ReadReport, Repair, RepairKind, SensorIoError, SensorIoErrorKind};
pub use kitti::{parse_kitti, read_kitti, to_kitti_strings, write_kitti};
pub use mcap_log::{
    McapLog, TfEdge, TopicInfo, list_mcap_tf_frames, list_mcap_topics, read_mcap_imu, read_mcap_messages,
    read_mcap_poses, read_mcap_tf,
};
pub use tum::{parse_tum, read_tum, to_tum_string, write_tum};
