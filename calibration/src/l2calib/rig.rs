//! A simulated two-sensor rig for calibration sweeps and tests: a random body trajectory carrying
//! a reference pose sensor at the body origin and a second pose sensor at a random extrinsic.

use alignrl_envs::env::EnvRng;
use alignrl_envs::sensors::{
    BodyMotionConfig, BodyTrajectory, ExcitationProfile, RigidSensorConfig, SimError, simulate_sensor,
};
use nalgebra::{Isometry3, Quaternion, Translation3, Unit, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};

use super::policy::uniform_quaternion;

/// Settings of [`simulate_rig`].
#[derive(Debug, Clone, PartialEq)]
pub struct RigConfig {
    /// Which degrees of freedom the body motion excites.
    pub profile: ExcitationProfile,
    /// Recording length (s).
    pub duration: f64,
    /// Pose rate of both sensors (Hz).
    pub rate: f64,
    /// Per-axis rotation noise of both sensors (rad).
    pub rotation_noise: f64,
    /// Per-axis translation noise of both sensors (m).
    pub translation_noise: f64,
    /// Largest lever arm `|t|` of the random extrinsic (m).
    pub max_lever_arm: f64,
}

impl Default for RigConfig {
    /// `full`, 60 s at 100 Hz, 0.5° and 1 cm noise, |t| ≤ 0.5 m.
    fn default() -> Self {
        RigConfig {
            profile: ExcitationProfile::Full,
            duration: 60.0,
            rate: 100.0,
            rotation_noise: 0.5f64.to_radians(),
            translation_noise: 0.01,
            max_lever_arm: 0.5,
        }
    }
}

/// A simulated recording: paired poses at common stamps and the true extrinsic.
#[derive(Debug, Clone, PartialEq)]
pub struct Rig {
    /// Stamps (s).
    pub stamps: Vec<f64>,
    /// Reference poses `T_wr` (measured).
    pub reference: Vec<Isometry3<f64>>,
    /// Sensor poses `T_ws` (measured, in the sensor's own random world frame).
    pub sensor: Vec<Isometry3<f64>>,
    /// The true `X = T_ref_sensor`.
    pub truth: Isometry3<f64>,
}

/// A uniformly random rotation.
pub fn random_rotation<R: Rng + ?Sized>(rng: &mut R) -> UnitQuaternion<f64> {
    let q = uniform_quaternion(rng);
    UnitQuaternion::from_quaternion(Quaternion::new(q[0], q[1], q[2], q[3]))
}

/// Simulates a rig with a random extrinsic (`|t| ≤ max_lever_arm`, rotation uniform), a random
/// sensor world frame and the body motion of `config`, all from `seed`.
pub fn simulate_rig(config: &RigConfig, seed: u64) -> Result<Rig, SimError> {
    let mut rng = EnvRng::seed_from_u64(seed);
    let body = BodyTrajectory::generate(
        &BodyMotionConfig {
            profile: config.profile,
            duration: config.duration,
            rate: config.rate,
            ..Default::default()
        },
        &mut rng,
    )?;
    let t = loop {
        let v = Vector3::from_fn(|_, _| 2.0 * rng.random::<f64>() - 1.0);
        if v.norm() <= 1.0 {
            break v * config.max_lever_arm;
        }
    };
    let truth = Isometry3::from_parts(Translation3::from(t), random_rotation(&mut rng));
    let world = Isometry3::from_parts(
        Translation3::from(Vector3::from_fn(|_, _| 10.0 * (rng.random::<f64>() - 0.5))),
        random_rotation(&mut rng),
    );
    let sensor_config = |x: Isometry3<f64>, w: Isometry3<f64>| RigidSensorConfig {
        t_body_sensor: x,
        t_sensorworld_world: w,
        rate: config.rate,
        rotation_noise: config.rotation_noise,
        translation_noise: config.translation_noise,
        ..Default::default()
    };
    let reference =
        simulate_sensor(&body, &sensor_config(Isometry3::identity(), Isometry3::identity()), &mut rng)?;
    let sensor = simulate_sensor(&body, &sensor_config(truth, world), &mut rng)?;
    let (stamps, reference) = reference.measured.into_parts();
    let sensor = sensor.measured.poses().to_vec();
    Ok(Rig { stamps, reference, sensor, truth })
}

/// Rotation error (degrees) and translation error (centimetres) of `estimate` against `truth`.
pub fn extrinsic_errors(estimate: &Isometry3<f64>, truth: &Isometry3<f64>) -> (f64, f64) {
    (
        estimate.rotation.angle_to(&truth.rotation).to_degrees(),
        (estimate.translation.vector - truth.translation.vector).norm() * 100.0,
    )
}

/// An initial guess `(t = 0, R_truth · Exp(angle · u))` with a random unit axis `u` from `seed`:
/// its rotation is exactly `angle_deg` degrees off.
pub fn rotated_guess(truth: &Isometry3<f64>, angle_deg: f64, seed: u64) -> Isometry3<f64> {
    let mut rng = EnvRng::seed_from_u64(seed);
    let axis = loop {
        let v = Vector3::from_fn(|_, _| 2.0 * rng.random::<f64>() - 1.0);
        if v.norm() > 0.1 && v.norm() <= 1.0 {
            break Unit::new_normalize(v);
        }
    };
    Isometry3::from_parts(
        Translation3::identity(),
        truth.rotation * UnitQuaternion::from_axis_angle(&axis, angle_deg.to_radians()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rig_satisfies_the_calibration_equation_without_noise() {
        let config =
            RigConfig { duration: 5.0, rotation_noise: 0.0, translation_noise: 0.0, ..Default::default() };
        let rig = simulate_rig(&config, 4).unwrap();
        assert!(rig.truth.translation.vector.norm() <= 0.5);
        // A_i X B_i⁻¹ is the same world alignment Y for every i.
        let y0 = rig.reference[0] * rig.truth * rig.sensor[0].inverse();
        for (a, b) in rig.reference.iter().zip(&rig.sensor) {
            let y = a * rig.truth * b.inverse();
            assert!((y.translation.vector - y0.translation.vector).norm() < 1e-9);
            assert!(y.rotation.angle_to(&y0.rotation) < 1e-9);
        }
        let g = rotated_guess(&rig.truth, 135.0, 1);
        assert!((extrinsic_errors(&g, &rig.truth).0 - 135.0).abs() < 1e-9);
    }
}
