//! Simulated IMU on a [`BodyTrajectory`]: gyroscope and accelerometer with white noise and bias
//! random walks.
//!
//! # Model
//!
//! The IMU is rigidly mounted at `T_body_imu = (R_bi, r)` (`r`: lever arm in the body frame). With
//! the body's exact state at body time `t` (`R = R_world_body`, body-frame `ω`, `ω̇`, world-frame
//! acceleration `a_body` of the body origin) and gravity `g` (world frame, default `(0, 0, −9.81)`):
//!
//! ```text
//! gyro  = R_biᵀ · ω                                              + b_g + n_g      (rad/s)
//! a_imu = a_body + R · (ω̇ × r + ω × (ω × r))                     (world frame)
//! accel = (R · R_bi)ᵀ · (a_imu − g)                              + b_a + n_a      (m/s²)
//! ```
//!
//! so an IMU at rest in a level frame reads `accel = (0, 0, +9.81)`, `gyro = 0`.
//!
//! # Noise (continuous-time parameters, Kalibr / EuRoC convention)
//!
//! With `Δt = 1 / rate` and independent standard normals `ξ`:
//!
//! ```text
//! n_g[k] = σ_g / √Δt · ξ        σ_g: gyro_noise_density        (rad/s/√Hz)
//! n_a[k] = σ_a / √Δt · ξ        σ_a: accel_noise_density       (m/s²/√Hz)
//! b_g[k] = b_g[k−1] + σ_bg·√Δt · ξ   σ_bg: gyro_bias_random_walk  (rad/s²/√Hz)
//! b_a[k] = b_a[k−1] + σ_ba·√Δt · ξ   σ_ba: accel_bias_random_walk (m/s³/√Hz)
//! ```
//!
//! `b[0]` is the initial bias. Per sample the draws are, in order: gyro bias step, accel bias step
//! (both skipped for `k = 0`), gyro noise, accel noise (three normals each), whatever the settings.
//!
//! # Clock
//!
//! As for pose sensors ([`super::sim`]): the IMU clock reads `t_imu = t_body + time_offset`; it
//! samples at `k / rate` on its own clock, keeping the stamps whose body time `stamp − time_offset`
//! lies in `[0, duration]`.

use nalgebra::{Isometry3, Vector3};

use super::sim::{
    BodyTrajectory, SimError, check_finite, check_isometry, check_non_negative, check_positive, clock_stamps,
    normal3,
};
use crate::env::EnvRng;

/// Standard gravity used by [`ImuConfig::default`] (m/s²); gravity points along −z in the world.
pub const STANDARD_GRAVITY: f64 = 9.81;

/// One IMU reading.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ImuSample {
    /// Stamp on the IMU clock (s).
    pub stamp: f64,
    /// Angular velocity in the IMU frame (rad/s).
    pub gyro: [f64; 3],
    /// Specific force in the IMU frame (m/s²): reads `(0, 0, +9.81)` at rest when level.
    pub accel: [f64; 3],
}

/// Settings of a simulated IMU; see the [module docs](self).
#[derive(Debug, Clone, PartialEq)]
pub struct ImuConfig {
    /// Mounting `T_body_imu`; its translation is the lever arm.
    pub t_body_imu: Isometry3<f64>,
    /// Sampling rate on the IMU clock (Hz).
    pub rate: f64,
    /// `τ` (s): the IMU clock reads `t_body + τ`.
    pub time_offset: f64,
    /// Gyroscope white-noise density (rad/s/√Hz).
    pub gyro_noise_density: f64,
    /// Accelerometer white-noise density (m/s²/√Hz).
    pub accel_noise_density: f64,
    /// Gyroscope bias random walk (rad/s²/√Hz).
    pub gyro_bias_random_walk: f64,
    /// Accelerometer bias random walk (m/s³/√Hz).
    pub accel_bias_random_walk: f64,
    /// Gyroscope bias at the first sample (rad/s, IMU frame).
    pub gyro_bias_initial: Vector3<f64>,
    /// Accelerometer bias at the first sample (m/s², IMU frame).
    pub accel_bias_initial: Vector3<f64>,
    /// Gravity in the world frame (m/s²).
    pub gravity: Vector3<f64>,
}

impl Default for ImuConfig {
    /// An ideal IMU at the body origin: 200 Hz, no offset, no noise, no bias, `g = (0, 0, −9.81)`.
    fn default() -> Self {
        ImuConfig {
            t_body_imu: Isometry3::identity(),
            rate: 200.0,
            time_offset: 0.0,
            gyro_noise_density: 0.0,
            accel_noise_density: 0.0,
            gyro_bias_random_walk: 0.0,
            accel_bias_random_walk: 0.0,
            gyro_bias_initial: Vector3::zeros(),
            accel_bias_initial: Vector3::zeros(),
            gravity: Vector3::new(0.0, 0.0, -STANDARD_GRAVITY),
        }
    }
}

impl ImuConfig {
    /// The noise levels of the EuRoC MAV dataset's ADIS16448 (as its Kalibr `imu.yaml` states):
    /// gyro 1.6968e-4 rad/s/√Hz, accel 2.0e-3 m/s²/√Hz, bias walks 1.9393e-5 rad/s²/√Hz and
    /// 3.0e-3 m/s³/√Hz. Other fields as [`Default`].
    pub fn euroc_like() -> Self {
        ImuConfig {
            gyro_noise_density: 1.6968e-4,
            accel_noise_density: 2.0e-3,
            gyro_bias_random_walk: 1.9393e-5,
            accel_bias_random_walk: 3.0e-3,
            ..ImuConfig::default()
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), SimError> {
        check_isometry("t_body_imu", &self.t_body_imu)?;
        check_positive("rate", self.rate)?;
        check_finite("time_offset", self.time_offset)?;
        check_non_negative("gyro_noise_density", self.gyro_noise_density)?;
        check_non_negative("accel_noise_density", self.accel_noise_density)?;
        check_non_negative("gyro_bias_random_walk", self.gyro_bias_random_walk)?;
        check_non_negative("accel_bias_random_walk", self.accel_bias_random_walk)?;
        for (field, v) in [
            ("gyro_bias_initial", &self.gyro_bias_initial),
            ("accel_bias_initial", &self.accel_bias_initial),
            ("gravity", &self.gravity),
        ] {
            if !v.iter().all(|x| x.is_finite()) {
                return Err(SimError::InvalidParameter {
                    field,
                    reason: format!("must be finite, got {v:?}"),
                });
            }
        }
        Ok(())
    }

    /// The IMU's stamps (IMU clock): `k / rate` with `k / rate − time_offset ∈ [0, body.duration()]`.
    pub fn stamps(&self, body: &BodyTrajectory) -> Vec<f64> {
        clock_stamps(self.rate, self.time_offset, body.duration())
    }

    /// The noise- and bias-free reading at IMU stamp `stamp` (body time `stamp − time_offset`).
    pub fn ideal_sample(&self, body: &BodyTrajectory, stamp: f64) -> ImuSample {
        let (gyro, accel) = self.ideal(body, stamp);
        ImuSample { stamp, gyro: gyro.into(), accel: accel.into() }
    }

    fn ideal(&self, body: &BodyTrajectory, stamp: f64) -> (Vector3<f64>, Vector3<f64>) {
        let s = body.state(stamp - self.time_offset);
        let r = &self.t_body_imu.translation.vector;
        let (w, dw) = (&s.angular_velocity, &s.angular_acceleration);
        let a_imu = s.acceleration + s.pose.rotation * (dw.cross(r) + w.cross(&w.cross(r)));
        let r_world_imu = s.pose.rotation * self.t_body_imu.rotation;
        let gyro = self.t_body_imu.rotation.inverse_transform_vector(w);
        let accel = r_world_imu.inverse_transform_vector(&(a_imu - self.gravity));
        (gyro, accel)
    }
}

/// What a simulated IMU recorded, with the true biases at each sample.
#[derive(Debug, Clone, PartialEq)]
pub struct ImuRecording {
    /// The readings (noise and bias included).
    pub samples: Vec<ImuSample>,
    /// Gyroscope bias `b_g[k]` at each sample (rad/s).
    pub gyro_bias: Vec<[f64; 3]>,
    /// Accelerometer bias `b_a[k]` at each sample (m/s²).
    pub accel_bias: Vec<[f64; 3]>,
}

/// Simulates an IMU on `body`; see the [module docs](self) for the model and discretisation.
pub fn simulate_imu(
    body: &BodyTrajectory,
    config: &ImuConfig,
    rng: &mut EnvRng,
) -> Result<ImuRecording, SimError> {
    config.validate()?;
    let n = body.duration() * config.rate;
    if n > 1e8 {
        return Err(SimError::InvalidParameter {
            field: "rate",
            reason: format!("would need {n:.3e} samples (limit 1e8)"),
        });
    }
    let stamps = config.stamps(body);
    if stamps.is_empty() {
        return Err(SimError::NoSamples { what: "imu", duration: body.duration() });
    }
    let dt = 1.0 / config.rate;
    let (white, walk) = (1.0 / dt.sqrt(), dt.sqrt());
    let mut b_g = config.gyro_bias_initial;
    let mut b_a = config.accel_bias_initial;
    let mut rec = ImuRecording {
        samples: Vec::with_capacity(stamps.len()),
        gyro_bias: Vec::with_capacity(stamps.len()),
        accel_bias: Vec::with_capacity(stamps.len()),
    };
    for (k, &stamp) in stamps.iter().enumerate() {
        if k > 0 {
            b_g += normal3(rng) * (config.gyro_bias_random_walk * walk);
            b_a += normal3(rng) * (config.accel_bias_random_walk * walk);
        }
        let n_g = normal3(rng) * (config.gyro_noise_density * white);
        let n_a = normal3(rng) * (config.accel_noise_density * white);
        let (gyro, accel) = config.ideal(body, stamp);
        rec.samples.push(ImuSample {
            stamp,
            gyro: (gyro + b_g + n_g).into(),
            accel: (accel + b_a + n_a).into(),
        });
        rec.gyro_bias.push(b_g.into());
        rec.accel_bias.push(b_a.into());
    }
    Ok(rec)
}
