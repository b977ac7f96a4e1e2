//! imu_odom (in progress).
