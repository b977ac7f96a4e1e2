//! Simulated sensor rigs with ground-truth extrinsics: a smooth random body trajectory
//! ([`BodyTrajectory`]) with an [`ExcitationProfile`], and rigidly mounted pose sensors
//! ([`simulate_sensor`]) with noise, drift, a time offset and their own world frame. The IMU is in
//! [`super::imu`].
//!
//! # Body motion
//!
//! Position is a uniform cubic B-spline in R³ and orientation a cumulative uniform cubic B-spline on
//! SO(3) (see [`super::spline`]): rotation and translation are splined separately (R³ × SO(3), not
//! SE(3)), so the world-frame linear acceleration is exactly the second derivative of the position
//! spline and the body-frame angular velocity follows the exact SO(3) recursion. Both are C².
//!
//! Control points sit every `knot_interval` seconds; there are `⌈duration / knot_interval⌉ + 3` of
//! them, so the curve is defined on (at least) `[0, duration]`. With amplitudes `a_r` (rad) and
//! `a_t` (m), `U` uniform on `[−1, 1]`:
//!
//! | profile | control positions | control rotations |
//! |---|---|---|
//! | `full` | `a_t·(U, U, U)` | `Exp(a_r·(U, U, U))` |
//! | `planar` | `a_t·(U, U, 0)` | `Exp(a_r·(0, 0, U))`: yaw only |
//! | `yaw-only` | all zero: the body spins in place | `Exp(a_r·(0, 0, U))` |
//! | `straight-line` | `s_k·d`, fixed random unit `d`, `s_k − s_{k−1} ∈ a_t·[0.5, 1.5]` | identity |
//!
//! In `planar` the z translation, roll and pitch are exactly zero at every time (not just small); in
//! `straight-line` the rotation is exactly the identity and the speed along `d` is strictly
//! positive (about `a_t / knot_interval`).
//!
//! # Rigid sensors
//!
//! A sensor rigidly mounted with ground truth `T_body_sensor` reports, at its own stamps `s_k`:
//!
//! ```text
//! T_meas(s_k) = D_k · noise( T_sensorworld_world · T_world_body(s_k − τ) · T_body_sensor )
//! ```
//!
//! - **Time offset `τ`** (`time_offset`, seconds): the sensor clock reads `t_sensor = t_body + τ`.
//!   A pose physically taken at body time `t` is stamped `t + τ`, so the pose stamped `s` is the body
//!   pose at `s − τ`. Positive `τ`: the sensor's stamps are late. To align, subtract `τ` from the
//!   sensor stamps (equivalently add `τ` to the body stamps).
//! - **Stamps**: the sensor samples on its own clock's grid `s_k = k / rate` (integer `k`), keeping
//!   every `k` with `s_k − τ ∈ [0, duration]`.
//! - **Noise** (per pose, independent): `R ← R·Exp(n_r)` with `n_r ~ N(0, σ_r² I₃)` (per-axis std
//!   `rotation_noise`, rad, in the sensor frame) and `t ← t + n_t` with `n_t ~ N(0, σ_t² I₃)`
//!   (per-axis std `translation_noise`, m, in the sensor's world frame).
//! - **Drift**: a random walk on the pose in the sensor's world frame, `D_0 = I`,
//!   `D_k = D_{k−1} · (Exp(w_r), w_t)` with `w_r ~ N(0, σ_rd²·Δt I₃)`, `w_t ~ N(0, σ_td²·Δt I₃)`,
//!   `Δt = s_k − s_{k−1}`: `rotation_drift` (rad/√s) and `translation_drift` (m/√s) are the per-axis
//!   std of the drift increment over one second.
//! - **World frame**: `T_sensorworld_world` maps the simulation world into the sensor's own world
//!   frame (odometry starting elsewhere, as in hand-eye problems); identity by default.
//!
//! Everything random comes from the caller's [`EnvRng`]: the same seed gives bit-identical data.

use std::fmt;
use std::str::FromStr;

use nalgebra::{Isometry3, Translation3, UnitQuaternion, Vector3};
use rand::Rng;

use super::spline::{CubicBSpline, CumulativeSo3Spline};
use super::trajectory::Trajectory;
use crate::env::EnvRng;

/// Why a simulation could not be set up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// A parameter is out of range.
    #[error("invalid {field}: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An excitation profile name that is not known.
    #[error("unknown excitation profile {0:?} (expected full, planar, yaw-only or straight-line)")]
    UnknownProfile(String),
    /// No sample stamp falls inside the body trajectory (a sampling period longer than the duration).
    #[error("{what}: no sample stamp falls inside the body trajectory's [0, {duration}] s")]
    NoSamples {
        /// Which sensor.
        what: &'static str,
        /// The body trajectory's duration (s).
        duration: f64,
    },
}

/// Which degrees of freedom the body motion excites; see the [module docs](self) for the exact
/// construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExcitationProfile {
    /// Rotation about all axes and translation along all axes.
    #[default]
    Full,
    /// x-y translation and yaw only (z, roll, pitch exactly zero).
    Planar,
    /// Rotation about the world z axis only, no translation (spinning in place).
    YawOnly,
    /// Translation along one fixed direction, no rotation.
    StraightLine,
}

impl ExcitationProfile {
    /// All profiles.
    pub const ALL: [ExcitationProfile; 4] = [
        ExcitationProfile::Full,
        ExcitationProfile::Planar,
        ExcitationProfile::YawOnly,
        ExcitationProfile::StraightLine,
    ];

    /// The profile's name: `full`, `planar`, `yaw-only` or `straight-line`.
    pub fn name(self) -> &'static str {
        match self {
            ExcitationProfile::Full => "full",
            ExcitationProfile::Planar => "planar",
            ExcitationProfile::YawOnly => "yaw-only",
            ExcitationProfile::StraightLine => "straight-line",
        }
    }
}

impl fmt::Display for ExcitationProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ExcitationProfile {
    type Err = SimError;
    fn from_str(s: &str) -> Result<Self, SimError> {
        ExcitationProfile::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| SimError::UnknownProfile(s.to_string()))
    }
}

/// Settings of a random body trajectory.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyMotionConfig {
    /// Which degrees of freedom move.
    pub profile: ExcitationProfile,
    /// Length of the trajectory (s); body time runs over `[0, duration]`.
    pub duration: f64,
    /// Rate at which [`BodyTrajectory::sample`] samples the body poses (Hz).
    pub rate: f64,
    /// Rotation amplitude `a_r` (rad): control rotation-vector components are uniform in `[−a_r, a_r]`.
    pub rotation_amplitude: f64,
    /// Translation amplitude `a_t` (m): control position components are uniform in `[−a_t, a_t]`
    /// (straight line: control spacing uniform in `[0.5 a_t, 1.5 a_t]`).
    pub translation_amplitude: f64,
    /// Time between spline control points (s); smaller means faster, more aggressive motion.
    pub knot_interval: f64,
}

impl Default for BodyMotionConfig {
    /// `full`, 60 s at 100 Hz, 0.5 rad, 1 m, one control point per second.
    fn default() -> Self {
        BodyMotionConfig {
            profile: ExcitationProfile::Full,
            duration: 60.0,
            rate: 100.0,
            rotation_amplitude: 0.5,
            translation_amplitude: 1.0,
            knot_interval: 1.0,
        }
    }
}

pub(crate) fn check_positive(field: &'static str, x: f64) -> Result<(), SimError> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(SimError::InvalidParameter { field, reason: format!("must be positive and finite, got {x}") })
    }
}

pub(crate) fn check_non_negative(field: &'static str, x: f64) -> Result<(), SimError> {
    if x.is_finite() && x >= 0.0 {
        Ok(())
    } else {
        Err(SimError::InvalidParameter { field, reason: format!("must be non-negative and finite, got {x}") })
    }
}

pub(crate) fn check_finite(field: &'static str, x: f64) -> Result<(), SimError> {
    if x.is_finite() {
        Ok(())
    } else {
        Err(SimError::InvalidParameter { field, reason: format!("must be finite, got {x}") })
    }
}

pub(crate) fn check_isometry(field: &'static str, t: &Isometry3<f64>) -> Result<(), SimError> {
    let finite = t.translation.vector.iter().chain(t.rotation.coords.iter()).all(|x| x.is_finite());
    if finite && (t.rotation.coords.norm() - 1.0).abs() < 1e-9 {
        Ok(())
    } else {
        Err(SimError::InvalidParameter { field, reason: format!("not a finite rigid transform: {t:?}") })
    }
}

impl BodyMotionConfig {
    /// Checks that every setting is in range (positive duration, rate, knot interval; finite,
    /// non-negative amplitudes; at most 10⁸ body samples or control points).
    pub fn validate(&self) -> Result<(), SimError> {
        check_positive("duration", self.duration)?;
        check_positive("rate", self.rate)?;
        check_positive("knot_interval", self.knot_interval)?;
        check_non_negative("rotation_amplitude", self.rotation_amplitude)?;
        check_non_negative("translation_amplitude", self.translation_amplitude)?;
        check_sample_count("rate", self.duration * self.rate)?;
        check_sample_count("knot_interval", self.duration / self.knot_interval)
    }
}

fn check_sample_count(field: &'static str, n: f64) -> Result<(), SimError> {
    if n <= 1e8 {
        Ok(())
    } else {
        Err(SimError::InvalidParameter { field, reason: format!("would need {n:.3e} samples (limit 1e8)") })
    }
}

/// One standard normal draw (Box-Muller; one draw per call keeps the stream layout simple).
pub(crate) fn standard_normal(rng: &mut EnvRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Three independent standard normal draws.
pub(crate) fn normal3(rng: &mut EnvRng) -> Vector3<f64> {
    let x = standard_normal(rng);
    let y = standard_normal(rng);
    let z = standard_normal(rng);
    Vector3::new(x, y, z)
}

fn uniform_pm1(rng: &mut EnvRng) -> f64 {
    2.0 * rng.random::<f64>() - 1.0
}

/// Stamps `k / rate` on a sensor clock with offset `τ` (`t_sensor = t_body + τ`), for every integer
/// `k` whose body time `k / rate − τ` lies in `[0, duration]` (with a 1e-9 s tolerance).
pub(crate) fn clock_stamps(rate: f64, time_offset: f64, duration: f64) -> Vec<f64> {
    const TOL: f64 = 1e-9;
    let first = ((time_offset - TOL) * rate).ceil() as i64;
    let last = ((duration + time_offset + TOL) * rate).floor() as i64;
    (first..=last)
        .map(|k| k as f64 / rate)
        .filter(|s| {
            let tb = s - time_offset;
            (-TOL..=duration + TOL).contains(&tb)
        })
        .collect()
}

/// The body's full kinematic state at one time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BodyState {
    /// `T_world_body`.
    pub pose: Isometry3<f64>,
    /// Angular velocity in the body frame (rad/s): `R_world_bodyᵀ · Ṙ_world_body = [ω]×`.
    pub angular_velocity: Vector3<f64>,
    /// Time derivative of `angular_velocity` (rad/s², body frame).
    pub angular_acceleration: Vector3<f64>,
    /// Velocity of the body origin in the world frame (m/s).
    pub velocity: Vector3<f64>,
    /// Acceleration of the body origin in the world frame (m/s², gravity not included).
    pub acceleration: Vector3<f64>,
}

/// A smooth body trajectory `T_world_body(t)` for `t ∈ [0, duration]`, with exact derivatives.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyTrajectory {
    position: CubicBSpline,
    rotation: CumulativeSo3Spline,
    duration: f64,
    rate: f64,
    profile: Option<ExcitationProfile>,
}

impl BodyTrajectory {
    /// A random trajectory with the given profile, drawn from `rng` (see the [module docs](self)).
    pub fn generate(config: &BodyMotionConfig, rng: &mut EnvRng) -> Result<Self, SimError> {
        config.validate()?;
        let dt = config.knot_interval;
        let n = (config.duration / dt - 1e-9).ceil().max(1.0) as usize + 3;
        let (a_r, a_t) = (config.rotation_amplitude, config.translation_amplitude);
        let mut positions = Vec::with_capacity(n);
        let mut rotations = Vec::with_capacity(n);
        match config.profile {
            ExcitationProfile::Full => {
                for _ in 0..n {
                    let p = Vector3::new(uniform_pm1(rng), uniform_pm1(rng), uniform_pm1(rng)) * a_t;
                    let r = Vector3::new(uniform_pm1(rng), uniform_pm1(rng), uniform_pm1(rng)) * a_r;
                    positions.push(p);
                    rotations.push(UnitQuaternion::from_scaled_axis(r));
                }
            }
            ExcitationProfile::Planar | ExcitationProfile::YawOnly => {
                let planar = config.profile == ExcitationProfile::Planar;
                for _ in 0..n {
                    let p = if planar {
                        Vector3::new(uniform_pm1(rng) * a_t, uniform_pm1(rng) * a_t, 0.0)
                    } else {
                        Vector3::zeros()
                    };
                    let yaw = uniform_pm1(rng) * a_r;
                    positions.push(p);
                    rotations.push(UnitQuaternion::from_axis_angle(&Vector3::z_axis(), yaw));
                }
            }
            ExcitationProfile::StraightLine => {
                let direction = loop {
                    let d = normal3(rng);
                    let norm = d.norm();
                    if norm > 1e-6 {
                        break d / norm;
                    }
                };
                let mut s = 0.0;
                for _ in 0..n {
                    positions.push(direction * s);
                    rotations.push(UnitQuaternion::identity());
                    s += a_t * (1.0 + 0.5 * uniform_pm1(rng));
                }
            }
        }
        let position = CubicBSpline::new(0.0, dt, positions);
        let rotation = CumulativeSo3Spline::new(0.0, dt, rotations);
        Ok(BodyTrajectory {
            position,
            rotation,
            duration: config.duration,
            rate: config.rate,
            profile: Some(config.profile),
        })
    }

    /// A trajectory from given splines (custom motion, e.g. a body at rest). The splines must be
    /// defined on `[0, duration]`; `rate` is the sampling rate of [`sample`](Self::sample).
    pub fn from_splines(
        position: CubicBSpline,
        rotation: CumulativeSo3Spline,
        duration: f64,
        rate: f64,
    ) -> Result<Self, SimError> {
        check_positive("duration", duration)?;
        check_positive("rate", rate)?;
        check_sample_count("rate", duration * rate)?;
        for (name, start, end) in [
            ("position", position.start_time(), position.end_time()),
            ("rotation", rotation.start_time(), rotation.end_time()),
        ] {
            if start > 1e-9 || end < duration - 1e-9 {
                return Err(SimError::InvalidParameter {
                    field: "duration",
                    reason: format!("the {name} spline covers [{start}, {end}] s, not [0, {duration}] s"),
                });
            }
        }
        Ok(BodyTrajectory { position, rotation, duration, rate, profile: None })
    }

    /// Duration (s); body time runs over `[0, duration]`.
    pub fn duration(&self) -> f64 {
        self.duration
    }
    /// Sampling rate of [`sample`](Self::sample) (Hz).
    pub fn rate(&self) -> f64 {
        self.rate
    }
    /// The profile it was generated with (`None` for [`from_splines`](Self::from_splines)).
    pub fn profile(&self) -> Option<ExcitationProfile> {
        self.profile
    }
    /// The position spline (world frame, metres).
    pub fn position_spline(&self) -> &CubicBSpline {
        &self.position
    }
    /// The rotation spline (`R_world_body`).
    pub fn rotation_spline(&self) -> &CumulativeSo3Spline {
        &self.rotation
    }

    /// Pose, angular velocity / acceleration (body frame) and linear velocity / acceleration (world
    /// frame) at body time `t`, all exact.
    pub fn state(&self, t: f64) -> BodyState {
        let p = self.position.evaluate(t);
        let r = self.rotation.evaluate(t);
        BodyState {
            pose: Isometry3::from_parts(Translation3::from(p.value), r.rotation),
            angular_velocity: r.angular_velocity,
            angular_acceleration: r.angular_acceleration,
            velocity: p.first,
            acceleration: p.second,
        }
    }
    /// `T_world_body` at body time `t`.
    pub fn pose(&self, t: f64) -> Isometry3<f64> {
        Isometry3::from_parts(Translation3::from(self.position.value(t)), self.rotation.rotation(t))
    }
    /// Angular velocity in the body frame at body time `t` (rad/s).
    pub fn angular_velocity(&self, t: f64) -> Vector3<f64> {
        self.rotation.evaluate(t).angular_velocity
    }
    /// Linear acceleration of the body origin in the world frame at body time `t` (m/s²).
    pub fn acceleration(&self, t: f64) -> Vector3<f64> {
        self.position.evaluate(t).second
    }

    /// Body stamps `k / rate`, `k = 0, 1, …` up to `duration`.
    pub fn stamps(&self) -> Vec<f64> {
        clock_stamps(self.rate, 0.0, self.duration)
    }
    /// The body poses `T_world_body` at [`stamps`](Self::stamps).
    pub fn sample(&self) -> Trajectory {
        let stamps = self.stamps();
        let poses = stamps.iter().map(|&t| self.pose(t)).collect();
        Trajectory::new(stamps, poses).expect("stamps increase and spline poses are finite")
    }
}

/// A pose sensor rigidly mounted on the body; see the [module docs](self) for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct RigidSensorConfig {
    /// Ground-truth extrinsic `T_body_sensor`.
    pub t_body_sensor: Isometry3<f64>,
    /// `T_sensorworld_world`: the sensor's own world frame (identity: it shares the body's world).
    pub t_sensorworld_world: Isometry3<f64>,
    /// Sampling rate on the sensor clock (Hz).
    pub rate: f64,
    /// `τ` (s): the sensor clock reads `t_body + τ`; the pose stamped `s` is the body pose at `s − τ`.
    pub time_offset: f64,
    /// Per-axis std of the rotation noise (rad), applied per pose on the right (sensor frame).
    pub rotation_noise: f64,
    /// Per-axis std of the translation noise (m), added per pose in the sensor's world frame.
    pub translation_noise: f64,
    /// Per-axis std of the rotation drift after one second (rad/√s); random walk.
    pub rotation_drift: f64,
    /// Per-axis std of the translation drift after one second (m/√s); random walk.
    pub translation_drift: f64,
}

impl Default for RigidSensorConfig {
    /// Identity extrinsic and world frame, 10 Hz, no time offset, no noise, no drift.
    fn default() -> Self {
        RigidSensorConfig {
            t_body_sensor: Isometry3::identity(),
            t_sensorworld_world: Isometry3::identity(),
            rate: 10.0,
            time_offset: 0.0,
            rotation_noise: 0.0,
            translation_noise: 0.0,
            rotation_drift: 0.0,
            translation_drift: 0.0,
        }
    }
}

impl RigidSensorConfig {
    /// Checks the settings (rigid transforms with unit quaternions, positive rate, finite offset,
    /// non-negative noise and drift).
    pub fn validate(&self) -> Result<(), SimError> {
        check_isometry("t_body_sensor", &self.t_body_sensor)?;
        check_isometry("t_sensorworld_world", &self.t_sensorworld_world)?;
        check_positive("rate", self.rate)?;
        check_finite("time_offset", self.time_offset)?;
        check_non_negative("rotation_noise", self.rotation_noise)?;
        check_non_negative("translation_noise", self.translation_noise)?;
        check_non_negative("rotation_drift", self.rotation_drift)?;
        check_non_negative("translation_drift", self.translation_drift)
    }
    /// The sensor's stamps (sensor clock): `k / rate` for every integer `k` with
    /// `k / rate − time_offset ∈ [0, body.duration()]`.
    pub fn stamps(&self, body: &BodyTrajectory) -> Vec<f64> {
        clock_stamps(self.rate, self.time_offset, body.duration())
    }
    /// The noise- and drift-free measurement at sensor stamp `stamp`:
    /// `T_sensorworld_world · T_world_body(stamp − time_offset) · T_body_sensor`.
    pub fn true_pose(&self, body: &BodyTrajectory, stamp: f64) -> Isometry3<f64> {
        self.t_sensorworld_world * (body.pose(stamp - self.time_offset) * self.t_body_sensor)
    }
}

/// What a simulated pose sensor recorded, with the truth at the same stamps.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorRecording {
    /// The measured poses `T_sensorworld_sensor` at the sensor's stamps (sensor clock).
    pub measured: Trajectory,
    /// The noise- and drift-free poses at the same stamps ([`RigidSensorConfig::true_pose`]).
    pub truth: Trajectory,
}

/// Simulates a rigidly mounted pose sensor on `body`; see the [module docs](self) for the model.
///
/// Draws, per pose, six normals for the drift increment (not for the first pose) and then six for
/// the noise, whatever the noise settings, so the same seed gives the same underlying draws for
/// different noise levels.
pub fn simulate_sensor(
    body: &BodyTrajectory,
    config: &RigidSensorConfig,
    rng: &mut EnvRng,
) -> Result<SensorRecording, SimError> {
    config.validate()?;
    check_sample_count("rate", body.duration() * config.rate)?;
    let stamps = config.stamps(body);
    if stamps.is_empty() {
        return Err(SimError::NoSamples { what: "sensor", duration: body.duration() });
    }
    let mut truth = Vec::with_capacity(stamps.len());
    let mut measured = Vec::with_capacity(stamps.len());
    let mut drift = Isometry3::identity();
    let drifting = config.rotation_drift > 0.0 || config.translation_drift > 0.0;
    for (k, &s) in stamps.iter().enumerate() {
        if k > 0 {
            let sqrt_dt = (s - stamps[k - 1]).sqrt();
            let w_r = normal3(rng) * (config.rotation_drift * sqrt_dt);
            let w_t = normal3(rng) * (config.translation_drift * sqrt_dt);
            if drifting {
                drift *=
                    Isometry3::from_parts(Translation3::from(w_t), UnitQuaternion::from_scaled_axis(w_r));
            }
        }
        let n_r = normal3(rng) * config.rotation_noise;
        let n_t = normal3(rng) * config.translation_noise;
        let t = config.true_pose(body, s);
        let mut m = t;
        if config.rotation_noise > 0.0 {
            m.rotation *= UnitQuaternion::from_scaled_axis(n_r);
        }
        if config.translation_noise > 0.0 {
            m.translation.vector += n_t;
        }
        if drifting {
            m = drift * m;
        }
        truth.push(t);
        measured.push(m);
    }
    let measured = Trajectory::new(stamps.clone(), measured).expect("increasing stamps, finite poses");
    let truth = Trajectory::new(stamps, truth).expect("increasing stamps, finite poses");
    Ok(SensorRecording { measured, truth })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_stamps_respect_the_offset_sign() {
        assert_eq!(clock_stamps(10.0, 0.0, 0.3), vec![0.0, 0.1, 0.2, 0.3]);
        // Sensor clock ahead by 0.05 s: stamps 0.1, 0.2, 0.3 ↔ body times 0.05, 0.15, 0.25.
        assert_eq!(clock_stamps(10.0, 0.05, 0.3), vec![0.1, 0.2, 0.3]);
        assert_eq!(clock_stamps(10.0, -0.05, 0.3), vec![0.0, 0.1, 0.2]);
        assert_eq!(clock_stamps(10.0, 1.0, 0.3), vec![1.0, 1.1, 1.2, 1.3]);
        // A 100 s period on a 20 s trajectory, shifted so that no grid point falls inside.
        assert!(clock_stamps(0.01, 50.0, 20.0).is_empty());
    }

    #[test]
    fn profile_names_round_trip() {
        for p in ExcitationProfile::ALL {
            assert_eq!(p.name().parse::<ExcitationProfile>(), Ok(p));
        }
        assert!(matches!("circle".parse::<ExcitationProfile>(), Err(SimError::UnknownProfile(_))));
    }
}
