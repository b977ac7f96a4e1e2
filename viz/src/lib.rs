//! Visualisation: PNG plots ([`plot`]) and rerun recordings ([`record`], [`calib`], [`imu_calib`]).

pub mod calib;
pub mod imu_calib;
pub mod plot;
pub mod record;
