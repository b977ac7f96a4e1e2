//! alignrl-calibration: SE(3) extrinsic calibration.
//!
//! - [`se3`]: SE(3)/SO(3) helpers over nalgebra (exp/log, distances, interpolation, averaging,
//!   conversions with explicit quaternion conventions).
//! - [`bingham`]: the Bingham distribution on S³ with the exact normalising constant, its
//!   gradient, entropy and an exact sampler; [`bingham_burn`] is the batched tensor version.
//! - [`align`]: timestamp association, Umeyama / SE(3) alignment; [`metrics`]: ATE and RPE as `evo`
//!   computes them.
//! - [`handeye`]: classic AX = XB / AX = YB baselines and motion-pair selection; [`imu_odom`]: the
//!   IMU–odometry rotation solver and time-offset estimate; [`lever_arm`]: the IMU lever arm from
//!   the accelerometer; [`observability`]: degenerate-motion checks.

pub mod align;
pub mod bingham;
pub mod bingham_burn;
pub mod handeye;
pub mod imu_odom;
pub mod l2calib;
pub mod lever_arm;
pub mod metrics;
pub mod observability;
pub mod refine;
pub mod report;
pub mod se3;
pub mod selection;
