//! IMU–odometry rotation and time offset on simulated rigs.
//!
//! Rig: a body trajectory; an IMU at `T_body_imu` (gyro `R_biᵀ ω_body`, clock `t_body + τ_imu`)
//! and an odometry pose sensor at `T_body_odom` (clock `t_body + τ_odom`). Ground truth:
//! `R_imu_odom = R_biᵀ R_bo` and `δ = t_imu − t_odom = τ_imu − τ_odom`.

use alignrl_calibration::imu_odom::{self, ImuOdomConfig};
use alignrl_calibration::se3::rotation_distance;
use alignrl_envs::EnvRng;
use alignrl_envs::sensors::{
    BodyMotionConfig, BodyTrajectory, ExcitationProfile, ImuConfig, RigidSensorConfig, Trajectory,
    simulate_imu, simulate_sensor,
};
use nalgebra::{Isometry3, UnitQuaternion, Vector3};
use rand::SeedableRng;

struct Setup {
    profile: ExcitationProfile,
    tau_imu: f64,
    tau_odom: f64,
    odom_rate: f64,
    odom_rot_noise: f64,
    noisy_imu: bool,
}

struct Data {
    stamps: Vec<f64>,
    gyro: Vec<Vector3<f64>>,
    odom: Trajectory,
    r_imu_odom: UnitQuaternion<f64>,
    offset: f64,
    bias: Vector3<f64>,
}

fn simulate(seed: u64, s: &Setup) -> Data {
    let mut rng = EnvRng::seed_from_u64(seed);
    let body = BodyTrajectory::generate(
        &BodyMotionConfig { profile: s.profile, duration: 60.0, rate: 100.0, ..BodyMotionConfig::default() },
        &mut rng,
    )
    .unwrap();
    let t_body_imu = Isometry3::new(Vector3::new(0.05, 0.02, -0.1), Vector3::new(0.3, -1.1, 0.6));
    let t_body_odom = Isometry3::new(Vector3::new(0.2, 0.0, 0.3), Vector3::new(-0.7, 0.2, 1.9));
    let bias = if s.noisy_imu { Vector3::new(0.01, -0.02, 0.015) } else { Vector3::zeros() };
    let base = if s.noisy_imu { ImuConfig::euroc_like() } else { ImuConfig::default() };
    let imu = simulate_imu(
        &body,
        &ImuConfig { t_body_imu, time_offset: s.tau_imu, gyro_bias_initial: bias, ..base },
        &mut rng,
    )
    .unwrap();
    let odom = simulate_sensor(
        &body,
        &RigidSensorConfig {
            t_body_sensor: t_body_odom,
            t_sensorworld_world: Isometry3::new(Vector3::new(3.0, -1.0, 0.5), Vector3::new(0.0, 0.0, 1.0)),
            rate: s.odom_rate,
            time_offset: s.tau_odom,
            rotation_noise: s.odom_rot_noise,
            translation_noise: if s.odom_rot_noise > 0.0 { 0.005 } else { 0.0 },
            ..RigidSensorConfig::default()
        },
        &mut rng,
    )
    .unwrap()
    .measured;
    Data {
        stamps: imu.samples.iter().map(|x| x.stamp).collect(),
        gyro: imu.samples.iter().map(|x| Vector3::from(x.gyro)).collect(),
        odom,
        r_imu_odom: t_body_imu.rotation.inverse() * t_body_odom.rotation,
        offset: s.tau_imu - s.tau_odom,
        bias,
    }
}

/// Noise-free gyro and 100 Hz odometry: rotation within 0.01°, offset within 0.2 ms.
#[test]
fn noise_free_recovers_rotation_and_37ms_offset() {
    let d = simulate(
        1,
        &Setup {
            profile: ExcitationProfile::Full,
            tau_imu: 0.037,
            tau_odom: 0.0,
            odom_rate: 100.0,
            odom_rot_noise: 0.0,
            noisy_imu: false,
        },
    );
    let c = imu_odom::calibrate(&d.stamps, &d.gyro, &d.odom, &ImuOdomConfig::default()).unwrap();
    let rot_err = rotation_distance(&c.r_imu_odom, &d.r_imu_odom).to_degrees();
    let dt_err = (c.time_offset_s - d.offset).abs();
    println!(
        "noise-free: rotation error {rot_err:.5}°, offset {:.5} s (correlation only {:.5} s), bias {:?}",
        c.time_offset_s, c.correlation.offset_s, c.gyro_bias
    );
    assert!(rot_err < 0.01, "rotation error {rot_err}°");
    assert!(dt_err < 2e-4, "offset {} vs {}", c.time_offset_s, d.offset);
    assert!((c.correlation.offset_s - d.offset).abs() < 2e-3, "correlation stage {}", c.correlation.offset_s);
    assert!(c.gyro_bias.norm() < 1e-3);
    assert!(c.is_trusted(), "{:?}", c.warnings);
}

/// Realistic: EuRoC-like gyro noise with a bias, 30 Hz odometry with 0.1° / 5 mm pose noise.
/// Rotation within 0.2°, offset within 2 ms, bias within 2 mrad/s.
#[test]
fn noisy_recovers_rotation_offset_and_bias() {
    for (seed, tau_imu, tau_odom) in [(2u64, 0.037, 0.0), (3, 0.0, 0.052), (4, 0.011, 0.2)] {
        let d = simulate(
            seed,
            &Setup {
                profile: ExcitationProfile::Full,
                tau_imu,
                tau_odom,
                odom_rate: 30.0,
                odom_rot_noise: 0.1f64.to_radians(),
                noisy_imu: true,
            },
        );
        let c = imu_odom::calibrate(&d.stamps, &d.gyro, &d.odom, &ImuOdomConfig::default()).unwrap();
        let rot_err = rotation_distance(&c.r_imu_odom, &d.r_imu_odom).to_degrees();
        let dt_err = (c.time_offset_s - d.offset).abs();
        let bias_err = (c.gyro_bias - d.bias).norm();
        println!(
            "seed {seed}: true offset {:.4} s, estimate {:.5} s (correlation {:.5} s, peak {:.3}); rotation \
             error {rot_err:.4}°, bias error {bias_err:.5} rad/s, predicted rotation std {:.4}°",
            d.offset,
            c.time_offset_s,
            c.correlation.offset_s,
            c.correlation.peak_correlation,
            c.rotation_std_rad.to_degrees()
        );
        assert!(rot_err < 0.2, "rotation error {rot_err}°");
        assert!(dt_err < 2e-3, "offset {} vs {}", c.time_offset_s, d.offset);
        assert!(bias_err < 2e-3, "bias {:?} vs {:?}", c.gyro_bias, d.bias);
        assert!(c.is_trusted(), "{:?}", c.warnings);
    }
}

/// A body that only yaws: the rotation about the yaw axis (seen in the IMU frame) is flagged.
#[test]
fn yaw_only_motion_is_flagged() {
    let d = simulate(
        5,
        &Setup {
            profile: ExcitationProfile::YawOnly,
            tau_imu: 0.02,
            tau_odom: 0.0,
            odom_rate: 30.0,
            odom_rot_noise: 0.0,
            noisy_imu: false,
        },
    );
    let c = imu_odom::calibrate(&d.stamps, &d.gyro, &d.odom, &ImuOdomConfig::default()).unwrap();
    assert!(!c.is_trusted());
    let yaw_in_imu = Isometry3::<f64>::new(Vector3::zeros(), Vector3::new(0.3, -1.1, 0.6)).rotation.inverse()
        * Vector3::z();
    assert!(c.weakest_axis.dot(&yaw_in_imu).abs() > 0.99, "{:?}", c.weakest_axis);
    println!("{:?}", c.warnings);
    // The time offset still comes out: the angular speed varies.
    assert!((c.time_offset_s - d.offset).abs() < 2e-3, "{}", c.time_offset_s);
}

/// An offset outside the search window is reported, not silently clipped.
#[test]
fn offset_beyond_the_window_is_flagged() {
    let d = simulate(
        6,
        &Setup {
            profile: ExcitationProfile::Full,
            tau_imu: 0.3,
            tau_odom: 0.0,
            odom_rate: 30.0,
            odom_rot_noise: 0.0,
            noisy_imu: false,
        },
    );
    let config = ImuOdomConfig { max_time_offset_s: 0.1, ..ImuOdomConfig::default() };
    let c = imu_odom::calibrate(&d.stamps, &d.gyro, &d.odom, &config).unwrap();
    assert!(c.correlation.at_window_edge);
    assert!(!c.is_trusted());
}

#[test]
fn input_errors() {
    let d = simulate(
        7,
        &Setup {
            profile: ExcitationProfile::Full,
            tau_imu: 0.0,
            tau_odom: 0.0,
            odom_rate: 30.0,
            odom_rot_noise: 0.0,
            noisy_imu: false,
        },
    );
    let cfg = ImuOdomConfig::default();
    assert!(imu_odom::calibrate(&d.stamps[1..], &d.gyro, &d.odom, &cfg).is_err());
    let mut bad = d.stamps.clone();
    bad.swap(3, 4);
    assert!(imu_odom::calibrate(&bad, &d.gyro, &d.odom, &cfg).is_err());
    let (w_t, w) = imu_odom::angular_velocity(&d.odom);
    assert_eq!(w_t.len(), d.odom.len() - 1);
    assert_eq!(w.len(), w_t.len());
}
