//! Simulated sensor rigs: spline body trajectories, rigidly mounted pose sensors and IMUs.
//!
//! Tolerances: spline continuity at knots 1e-12 (both sides are the same blend up to rounding);
//! analytic derivatives vs central finite differences 1e-6 (step 1e-4 s for first derivatives,
//! 1e-3 s for second ones, away from knots, where the cubic position is differenced exactly);
//! IMU vs finite differences of the lever-arm trajectory 1e-5; noise standard deviations within 5 %
//! of the setting (≥ 6000 samples per axis: the relative standard error of a sample std is
//! 1/√(2N) < 1 %, so 5 % is over five standard errors).

use alignrl_envs::EnvRng;
use alignrl_envs::sensors::{
    BodyMotionConfig, BodyTrajectory, CubicBSpline, CumulativeSo3Spline, ExcitationProfile, ImuConfig,
    ImuSample, RigidSensorConfig, SimError, Trajectory, simulate_imu, simulate_sensor,
};
use nalgebra::{Isometry3, Translation3, UnitQuaternion, Vector3};
use rand::SeedableRng;

fn rng(seed: u64) -> EnvRng {
    EnvRng::seed_from_u64(seed)
}

fn body(profile: ExcitationProfile, seed: u64) -> BodyTrajectory {
    let config = BodyMotionConfig { profile, duration: 20.0, ..BodyMotionConfig::default() };
    BodyTrajectory::generate(&config, &mut rng(seed)).unwrap()
}

fn extrinsic() -> Isometry3<f64> {
    Isometry3::from_parts(
        Translation3::new(0.12, -0.07, 0.31),
        UnitQuaternion::from_euler_angles(0.3, -0.2, 1.1),
    )
}

/// Mean and sample standard deviation.
fn mean_std(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

fn assert_std(name: &str, x: &[f64], sigma: f64) {
    let (mean, std) = mean_std(x);
    assert!(
        (std / sigma - 1.0).abs() < 0.05,
        "{name}: sample std {std} vs setting {sigma} ({} samples)",
        x.len()
    );
    let se = sigma / (x.len() as f64).sqrt();
    assert!(mean.abs() < 5.0 * se, "{name}: mean {mean} vs standard error {se}");
}

/// Times inside segments, away from the knots (knot interval 1 s).
fn interior_times(duration: f64) -> impl Iterator<Item = f64> {
    (0..duration as usize).flat_map(|k| [0.13, 0.5, 0.87].map(|u| k as f64 + u))
}

fn so3_log(q: UnitQuaternion<f64>) -> Vector3<f64> {
    q.scaled_axis()
}

#[test]
fn splines_are_c2_continuous_at_knots() {
    for profile in ExcitationProfile::ALL {
        let b = body(profile, 3);
        let (p, r) = (b.position_spline(), b.rotation_spline());
        assert!(p.start_time() <= 0.0 && p.end_time() >= b.duration());
        for i in 0..p.segment_count() - 1 {
            let (a, c) = (p.evaluate_segment(i, 1.0), p.evaluate_segment(i + 1, 0.0));
            assert!((a.value - c.value).norm() < 1e-12, "{profile}: position jumps at knot {}", i + 1);
            assert!((a.first - c.first).norm() < 1e-12, "{profile}: velocity jumps at knot {}", i + 1);
            assert!((a.second - c.second).norm() < 1e-12, "{profile}: acceleration jumps at knot {}", i + 1);
            let (a, c) = (r.evaluate_segment(i, 1.0), r.evaluate_segment(i + 1, 0.0));
            assert!(a.rotation.angle_to(&c.rotation) < 1e-12, "{profile}: rotation jumps at knot {}", i + 1);
            assert!((a.angular_velocity - c.angular_velocity).norm() < 1e-12, "{profile}: ω jumps");
            assert!((a.angular_acceleration - c.angular_acceleration).norm() < 1e-12, "{profile}: ω̇ jumps");
        }
    }
}

#[test]
fn analytic_derivatives_match_finite_differences_of_the_poses() {
    for profile in ExcitationProfile::ALL {
        let b = body(profile, 11);
        let mut max = [0.0f64; 4];
        for t in interior_times(b.duration()) {
            let s = b.state(t);
            assert_eq!(s.pose, b.pose(t));
            // Angular velocity (body frame) from the relative rotation over ±h.
            let h = 1e-4;
            let (r0, r1) = (b.pose(t - h).rotation, b.pose(t + h).rotation);
            let w_fd = so3_log(r0.inverse() * r1) / (2.0 * h);
            let dw_fd = (b.angular_velocity(t + h) - b.angular_velocity(t - h)) / (2.0 * h);
            let v_fd = (b.pose(t + h).translation.vector - b.pose(t - h).translation.vector) / (2.0 * h);
            // Linear acceleration (world frame) by the second central difference.
            let h = 1e-3;
            let p = |t: f64| b.pose(t).translation.vector;
            let a_fd = (p(t + h) - 2.0 * p(t) + p(t - h)) / (h * h);
            for (m, e) in max.iter_mut().zip([
                (s.angular_velocity - w_fd).norm(),
                (s.angular_acceleration - dw_fd).norm(),
                (s.velocity - v_fd).norm(),
                (s.acceleration - a_fd).norm(),
            ]) {
                *m = m.max(e);
            }
        }
        assert!(max.iter().all(|e| *e < 1e-6), "{profile}: max errors [ω, ω̇, v, a] = {max:?}");
    }
    // The motion is not trivially slow: rates of order amplitude / knot interval.
    let b = body(ExcitationProfile::Full, 11);
    let peak = interior_times(b.duration()).map(|t| b.angular_velocity(t).norm()).fold(0.0, f64::max);
    assert!(peak > 0.3, "peak angular rate {peak}");
}

#[test]
fn sampled_trajectory_uses_the_body_rate() {
    let b = body(ExcitationProfile::Full, 5);
    let traj = b.sample();
    assert_eq!(traj.len(), 2001);
    assert_eq!(traj.stamps()[0], 0.0);
    assert_eq!(*traj.stamps().last().unwrap(), 20.0);
    for (t, p) in traj.stamps().iter().zip(traj.poses()) {
        assert_eq!(*p, b.pose(*t));
    }
}

#[test]
fn degenerate_profiles_are_exactly_degenerate() {
    for seed in 0..3 {
        // Planar: z, roll and pitch are exactly zero; yaw and x, y move.
        let b = body(ExcitationProfile::Planar, seed);
        let traj = b.sample();
        let mut yaw_range = (f64::MAX, f64::MIN);
        for (t, p) in traj.stamps().iter().zip(traj.poses()) {
            assert_eq!(p.translation.z, 0.0, "planar z at {t}");
            let (roll, pitch, yaw) = p.rotation.euler_angles();
            assert_eq!((roll, pitch), (0.0, 0.0), "planar roll/pitch at {t}");
            assert_eq!((p.rotation.i, p.rotation.j), (0.0, 0.0));
            let s = b.state(*t);
            assert_eq!((s.angular_velocity.x, s.angular_velocity.y, s.acceleration.z), (0.0, 0.0, 0.0));
            yaw_range = (yaw_range.0.min(yaw), yaw_range.1.max(yaw));
        }
        assert!(yaw_range.1 - yaw_range.0 > 0.3, "planar yaw hardly moves: {yaw_range:?}");
        let (_, sx) = mean_std(&traj.positions().map(|p| p.x).collect::<Vec<_>>());
        assert!(sx > 0.1, "planar x hardly moves");

        // Yaw-only: no translation at all, rotation about z only.
        let traj = body(ExcitationProfile::YawOnly, seed).sample();
        for (t, p) in traj.stamps().iter().zip(traj.poses()) {
            assert_eq!(p.translation.vector, Vector3::zeros(), "yaw-only translation at {t}");
            assert_eq!((p.rotation.i, p.rotation.j), (0.0, 0.0), "yaw-only tilt at {t}");
        }

        // Straight line: identity rotation, zero angular velocity, collinear positions moving
        // forward along one direction.
        let b = body(ExcitationProfile::StraightLine, seed);
        let traj = b.sample();
        let p0 = traj.poses()[0].translation.vector;
        let d = (traj.poses().last().unwrap().translation.vector - p0).normalize();
        let mut previous = f64::MIN;
        for (t, p) in traj.stamps().iter().zip(traj.poses()) {
            assert_eq!(p.rotation, UnitQuaternion::identity(), "straight-line rotation at {t}");
            assert_eq!(b.angular_velocity(*t), Vector3::zeros());
            let r = p.translation.vector - p0;
            assert!(r.cross(&d).norm() <= 1e-12 * (1.0 + r.norm()), "off the line at {t}");
            let along = r.dot(&d);
            assert!(along > previous, "straight line does not advance at {t}");
            previous = along;
            assert!(b.state(*t).velocity.dot(&d) > 0.0);
        }
    }
    // Full: all six degrees of freedom move.
    let traj = body(ExcitationProfile::Full, 0).sample();
    let components: [Vec<f64>; 6] = std::array::from_fn(|i| {
        traj.poses()
            .iter()
            .map(|p| if i < 3 { p.translation.vector[i] } else { p.rotation.scaled_axis()[i - 3] })
            .collect()
    });
    for (i, c) in components.iter().enumerate() {
        assert!(mean_std(c).1 > 0.05, "full profile: component {i} hardly moves");
    }
}

#[test]
fn noiseless_sensor_is_exactly_the_composed_pose() {
    let b = body(ExcitationProfile::Full, 21);
    let config = RigidSensorConfig { t_body_sensor: extrinsic(), rate: 30.0, ..RigidSensorConfig::default() };
    let rec = simulate_sensor(&b, &config, &mut rng(1)).unwrap();
    assert_eq!(rec.measured, rec.truth);
    assert_eq!(rec.measured.len(), 601);
    for (t, p) in rec.measured.stamps().iter().zip(rec.measured.poses()) {
        assert_eq!(*p, b.pose(*t) * extrinsic(), "at {t}");
    }

    // Own world frame and a time offset: still exact, and the sign convention holds.
    let t_sw_w = Isometry3::from_parts(
        Translation3::new(5.0, -3.0, 1.0),
        UnitQuaternion::from_euler_angles(0.0, 0.1, -2.0),
    );
    let tau = 0.05;
    let config = RigidSensorConfig { t_sensorworld_world: t_sw_w, time_offset: tau, rate: 10.0, ..config };
    let rec = simulate_sensor(&b, &config, &mut rng(1)).unwrap();
    let stamps = rec.measured.stamps();
    // Stamps on the sensor's own grid whose body time s − τ lies in [0, 20]: 0.1 … 20.0.
    assert_eq!((stamps[0], *stamps.last().unwrap(), stamps.len()), (0.1, 20.0, 200));
    for (s, p) in stamps.iter().zip(rec.measured.poses()) {
        assert_eq!(*p, t_sw_w * (b.pose(s - tau) * extrinsic()), "at {s}");
    }
    // The pose stamped 1.0 s on the sensor clock is the body pose at 0.95 s.
    let k = stamps.iter().position(|s| *s == 1.0).unwrap();
    let expected = t_sw_w * b.pose(0.95) * extrinsic();
    let got = rec.measured.poses()[k];
    assert!((got.translation.vector - expected.translation.vector).norm() < 1e-12);
    assert!(got.rotation.angle_to(&expected.rotation) < 1e-12);
}

#[test]
fn sensor_noise_and_drift_have_the_set_statistics() {
    let b = body(ExcitationProfile::Full, 8);
    let (sr, st) = (0.01, 0.02);
    let config = RigidSensorConfig {
        t_body_sensor: extrinsic(),
        rate: 300.0,
        rotation_noise: sr,
        translation_noise: st,
        ..RigidSensorConfig::default()
    };
    let rec = simulate_sensor(&b, &config, &mut rng(2)).unwrap();
    assert_eq!(rec.measured.len(), 6001);
    let pairs = || rec.truth.poses().iter().zip(rec.measured.poses());
    let rot: Vec<Vector3<f64>> = pairs().map(|(t, m)| so3_log(t.rotation.inverse() * m.rotation)).collect();
    let trans: Vec<Vector3<f64>> =
        pairs().map(|(t, m)| m.translation.vector - t.translation.vector).collect();
    for axis in 0..3 {
        assert_std("rotation noise", &rot.iter().map(|v| v[axis]).collect::<Vec<_>>(), sr);
        assert_std("translation noise", &trans.iter().map(|v| v[axis]).collect::<Vec<_>>(), st);
    }

    // Drift only: the increments of D_k = T_meas · T_true⁻¹ have std σ·√Δt per axis.
    let (dr, dt) = (0.002, 0.01);
    let config =
        RigidSensorConfig { rotation_drift: dr, translation_drift: dt, ..RigidSensorConfig::default() };
    let config = RigidSensorConfig { t_body_sensor: extrinsic(), rate: 300.0, ..config };
    let rec = simulate_sensor(&b, &config, &mut rng(3)).unwrap();
    let drift: Vec<Isometry3<f64>> =
        rec.truth.poses().iter().zip(rec.measured.poses()).map(|(t, m)| m * t.inverse()).collect();
    assert!(drift[0].translation.vector.norm() < 1e-12 && drift[0].rotation.angle() < 1e-12);
    let inc: Vec<Isometry3<f64>> = drift.windows(2).map(|w| w[0].inverse() * w[1]).collect();
    let sqrt_dt = (1.0f64 / 300.0).sqrt();
    for axis in 0..3 {
        let r: Vec<f64> = inc.iter().map(|i| i.rotation.scaled_axis()[axis]).collect();
        let t: Vec<f64> = inc.iter().map(|i| i.translation.vector[axis]).collect();
        assert_std("rotation drift increment", &r, dr * sqrt_dt);
        assert_std("translation drift increment", &t, dt * sqrt_dt);
    }
}

fn at_rest(rotation: UnitQuaternion<f64>) -> BodyTrajectory {
    let p = CubicBSpline::new(0.0, 1.0, vec![Vector3::new(1.0, 2.0, 3.0); 5]);
    let r = CumulativeSo3Spline::new(0.0, 1.0, vec![rotation; 5]);
    BodyTrajectory::from_splines(p, r, 2.0, 100.0).unwrap()
}

fn assert_close(a: [f64; 3], b: [f64; 3], tol: f64, what: &str) {
    let e = (Vector3::from(a) - Vector3::from(b)).norm();
    assert!(e < tol, "{what}: {a:?} vs {b:?} (error {e})");
}

#[test]
fn imu_at_rest_measures_plus_g_up_and_no_rotation() {
    let level =
        simulate_imu(&at_rest(UnitQuaternion::identity()), &ImuConfig::default(), &mut rng(0)).unwrap();
    assert_eq!(level.samples.len(), 401);
    for s in &level.samples {
        assert_eq!(s.gyro, [0.0; 3]);
        assert_close(s.accel, [0.0, 0.0, 9.81], 1e-12, "level at rest");
    }
    // Upside down (rolled by π): the specific force points along −z of the IMU.
    let flipped = at_rest(UnitQuaternion::from_euler_angles(std::f64::consts::PI, 0.0, 0.0));
    let rec = simulate_imu(&flipped, &ImuConfig::default(), &mut rng(0)).unwrap();
    assert_close(rec.samples[7].accel, [0.0, 0.0, -9.81], 1e-12, "upside down");
    // IMU mounted rolled by +90° about body x (its y axis points up) with a lever arm: +g shows on
    // its y axis.
    let config = ImuConfig {
        t_body_imu: Isometry3::from_parts(
            Translation3::new(0.3, 0.2, -0.1),
            UnitQuaternion::from_euler_angles(std::f64::consts::FRAC_PI_2, 0.0, 0.0),
        ),
        ..ImuConfig::default()
    };
    let rec = simulate_imu(&at_rest(UnitQuaternion::identity()), &config, &mut rng(0)).unwrap();
    assert_close(rec.samples[3].accel, [0.0, 9.81, 0.0], 1e-12, "mounted rolled");
    assert_close(rec.samples[3].gyro, [0.0; 3], 1e-15, "mounted rolled gyro");
}

#[test]
fn imu_spinning_at_constant_rate_feels_the_centripetal_acceleration() {
    // Yaw control points in equal steps: the cumulative spline rotates at exactly w rad/s.
    let w = 2.0;
    let rot = (0..6).map(|k| UnitQuaternion::from_axis_angle(&Vector3::z_axis(), w * k as f64)).collect();
    let b = BodyTrajectory::from_splines(
        CubicBSpline::new(0.0, 1.0, vec![Vector3::zeros(); 6]),
        CumulativeSo3Spline::new(0.0, 1.0, rot),
        3.0,
        100.0,
    )
    .unwrap();
    let config = ImuConfig { t_body_imu: Isometry3::translation(1.0, 0.0, 0.0), ..ImuConfig::default() };
    let rec = simulate_imu(&b, &config, &mut rng(0)).unwrap();
    for s in &rec.samples {
        assert_close(s.gyro, [0.0, 0.0, w], 1e-12, "spinning gyro");
        assert_close(s.accel, [-w * w, 0.0, 9.81], 1e-11, "spinning accel");
    }
}

#[test]
fn imu_matches_finite_differences_of_the_lever_arm_trajectory() {
    let b = body(ExcitationProfile::Full, 4);
    let t_body_imu = Isometry3::from_parts(
        Translation3::new(0.3, -0.2, 0.5),
        UnitQuaternion::from_euler_angles(0.4, 0.7, -1.2),
    );
    let config = ImuConfig { t_body_imu, ..ImuConfig::default() };
    let g = Vector3::new(0.0, 0.0, -9.81);
    let world_imu = |t: f64| b.pose(t) * t_body_imu;
    let (mut gyro_err, mut accel_err) = (0.0f64, 0.0f64);
    for t in interior_times(b.duration()) {
        let s = config.ideal_sample(&b, t);
        let h = 1e-4;
        let w_fd = so3_log(world_imu(t - h).rotation.inverse() * world_imu(t + h).rotation) / (2.0 * h);
        let h = 1e-3;
        let p = |t: f64| world_imu(t).translation.vector;
        let a_fd = (p(t + h) - 2.0 * p(t) + p(t - h)) / (h * h);
        let f_fd = world_imu(t).rotation.inverse() * (a_fd - g);
        gyro_err = gyro_err.max((Vector3::from(s.gyro) - w_fd).norm());
        accel_err = accel_err.max((Vector3::from(s.accel) - f_fd).norm());
    }
    assert!(gyro_err < 1e-5 && accel_err < 1e-5, "max errors: gyro {gyro_err}, accel {accel_err}");

    // The recorded samples are the ideal ones when noise and bias are zero, and a time offset
    // τ shifts the stamps: the sample stamped s is the body state at s − τ.
    let rec = simulate_imu(&b, &config, &mut rng(0)).unwrap();
    for s in rec.samples.iter().step_by(97) {
        assert_eq!(*s, config.ideal_sample(&b, s.stamp));
    }
    let tau = -0.013;
    let shifted = ImuConfig { time_offset: tau, ..config.clone() };
    let rec = simulate_imu(&b, &shifted, &mut rng(0)).unwrap();
    assert!(rec.samples[0].stamp - tau >= 0.0 && rec.samples.last().unwrap().stamp - tau <= b.duration());
    for s in rec.samples.iter().step_by(97) {
        let unshifted = config.ideal_sample(&b, s.stamp - tau);
        assert_eq!((s.gyro, s.accel), (unshifted.gyro, unshifted.accel));
    }
}

#[test]
fn imu_noise_and_bias_walk_follow_the_discretisation() {
    let b = body(ExcitationProfile::Full, 9);
    let rate = 400.0;
    let config = ImuConfig {
        rate,
        gyro_noise_density: 0.01,
        accel_noise_density: 0.1,
        gyro_bias_random_walk: 0.001,
        accel_bias_random_walk: 0.02,
        gyro_bias_initial: Vector3::new(0.01, -0.02, 0.03),
        accel_bias_initial: Vector3::new(0.1, 0.2, -0.3),
        ..ImuConfig::default()
    };
    let rec = simulate_imu(&b, &config, &mut rng(5)).unwrap();
    assert_eq!(rec.samples.len(), 8001);
    assert_eq!(rec.gyro_bias[0], [0.01, -0.02, 0.03]);
    assert_eq!(rec.accel_bias[0], [0.1, 0.2, -0.3]);
    let dt: f64 = 1.0 / rate;
    for axis in 0..3 {
        let mut ng = Vec::new();
        let mut na = Vec::new();
        for (k, s) in rec.samples.iter().enumerate() {
            let ideal = config.ideal_sample(&b, s.stamp);
            ng.push(s.gyro[axis] - ideal.gyro[axis] - rec.gyro_bias[k][axis]);
            na.push(s.accel[axis] - ideal.accel[axis] - rec.accel_bias[k][axis]);
        }
        assert_std("gyro white noise", &ng, 0.01 / dt.sqrt());
        assert_std("accel white noise", &na, 0.1 / dt.sqrt());
        let bg: Vec<f64> = rec.gyro_bias.windows(2).map(|w| w[1][axis] - w[0][axis]).collect();
        let ba: Vec<f64> = rec.accel_bias.windows(2).map(|w| w[1][axis] - w[0][axis]).collect();
        assert_std("gyro bias step", &bg, 0.001 * dt.sqrt());
        assert_std("accel bias step", &ba, 0.02 * dt.sqrt());
    }
}

fn bits_of_trajectory(t: &Trajectory) -> Vec<u64> {
    let mut out: Vec<u64> = t.stamps().iter().map(|x| x.to_bits()).collect();
    for p in t.poses() {
        out.extend(p.translation.vector.iter().chain(p.rotation.coords.iter()).map(|x| x.to_bits()));
    }
    out
}

fn bits_of_imu(samples: &[ImuSample]) -> Vec<u64> {
    samples
        .iter()
        .flat_map(|s| [s.stamp].into_iter().chain(s.gyro).chain(s.accel))
        .map(f64::to_bits)
        .collect()
}

fn simulate_all(seed: u64) -> (Vec<u64>, Vec<u64>, Vec<u64>) {
    let mut r = rng(seed);
    let config = BodyMotionConfig { duration: 10.0, ..BodyMotionConfig::default() };
    let b = BodyTrajectory::generate(&config, &mut r).unwrap();
    let sensor = RigidSensorConfig {
        t_body_sensor: extrinsic(),
        rotation_noise: 0.01,
        translation_noise: 0.01,
        rotation_drift: 0.001,
        translation_drift: 0.001,
        time_offset: 0.02,
        ..RigidSensorConfig::default()
    };
    let rec = simulate_sensor(&b, &sensor, &mut r).unwrap();
    let imu = simulate_imu(&b, &ImuConfig::euroc_like(), &mut r).unwrap();
    (bits_of_trajectory(&b.sample()), bits_of_trajectory(&rec.measured), bits_of_imu(&imu.samples))
}

#[test]
fn same_seed_gives_bit_identical_data() {
    let a = simulate_all(42);
    assert_eq!(a, simulate_all(42));
    let c = simulate_all(43);
    assert_ne!(a.0, c.0);
    assert_ne!(a.1, c.1);
    assert_ne!(a.2, c.2);
}

#[test]
fn bad_settings_are_errors_not_panics() {
    let bad = |c: BodyMotionConfig| BodyTrajectory::generate(&c, &mut rng(0));
    for c in [
        BodyMotionConfig { duration: 0.0, ..BodyMotionConfig::default() },
        BodyMotionConfig { duration: f64::NAN, ..BodyMotionConfig::default() },
        BodyMotionConfig { rate: -1.0, ..BodyMotionConfig::default() },
        BodyMotionConfig { knot_interval: 0.0, ..BodyMotionConfig::default() },
        BodyMotionConfig { rotation_amplitude: -0.1, ..BodyMotionConfig::default() },
        BodyMotionConfig { rate: 1e12, ..BodyMotionConfig::default() },
    ] {
        assert!(matches!(bad(c), Err(SimError::InvalidParameter { .. })));
    }
    let b = body(ExcitationProfile::Planar, 0);
    // A 100 s sampling period on a 20 s trajectory, shifted so that no grid point falls inside.
    let late = RigidSensorConfig { rate: 0.01, time_offset: 50.0, ..RigidSensorConfig::default() };
    assert!(matches!(simulate_sensor(&b, &late, &mut rng(0)), Err(SimError::NoSamples { .. })));
    let noisy = RigidSensorConfig { rotation_noise: -1.0, ..RigidSensorConfig::default() };
    assert!(matches!(simulate_sensor(&b, &noisy, &mut rng(0)), Err(SimError::InvalidParameter { .. })));
    let imu = ImuConfig { rate: 0.0, ..ImuConfig::default() };
    assert!(matches!(simulate_imu(&b, &imu, &mut rng(0)), Err(SimError::InvalidParameter { .. })));
    // A spline that does not cover [0, duration] is rejected.
    let p = CubicBSpline::new(0.0, 1.0, vec![Vector3::zeros(); 4]);
    let r = CumulativeSo3Spline::new(0.0, 1.0, vec![UnitQuaternion::identity(); 4]);
    assert!(BodyTrajectory::from_splines(p, r, 2.0, 10.0).is_err());
}
