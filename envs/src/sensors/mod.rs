//! Sensor rigs: pose trajectories from files and logs (TUM, EuRoC, KITTI, MCAP), and simulated
//! rigs with ground-truth extrinsics (body trajectories, rigidly mounted sensors, IMUs).
//!
//! Frames are named in identifiers: `T_world_body` maps body coordinates into the world frame.
//! Units: metres, radians, seconds.

pub mod trajectory;

pub use trajectory::{Trajectory, TrajectoryError};
