//! L2Calib: extrinsic calibration as a one-step (bandit) RL problem on SE(3) (Li et al., IROS 2025;
//! spec: `methods.md` §6).
//!
//! The action is a candidate extrinsic `X = T_ref_sensor` (translation in metres, rotation as a
//! w-first unit quaternion); the "environment" is a [`Scorer`] that turns a batch of candidates into
//! errors (reward `exp(−error/2)`, [`reward`]); the policy is a Gaussian over the translation and a
//! Bingham distribution over the rotation ([`policy`]), trained by bandit PPO after a random initial
//! search ([`trainer`]).
//!
//! - [`pose_scorer`]: pose–pose scorer (sensor trajectory × candidate⁻¹ vs the reference after an
//!   SE(3) alignment), batched burn tensor ops.
//! - [`imu_scorer`]: odometry–IMU scorer (gyro and accelerometer residuals with lever arm, biases and
//!   gravity solved in closed form), batched burn tensor ops.
//! - [`policy`]: the L2Calib policy, its exact log-density and entropy as differentiable tensors.
//! - [`trainer`]: initial search and bandit PPO.
//! - [`toy`]: the repository's toy target (§6.6); [`rig`]: a simulated two-sensor rig for sweeps.
//!
//! Convention (as everywhere in this crate): `T_wr(t) · X = Y · T_ws(t)`, with `T_wr` the reference
//! trajectory, `T_ws` the sensor trajectory and `Y` an unknown fixed world alignment.

pub mod imu_scorer;
pub mod policy;
pub mod pose_scorer;
pub mod rig;
pub mod toy;
pub mod trainer;

pub use imu_scorer::{OdomImuScorer, OdomImuScorerConfig};
pub use policy::{PolicyParams, PolicyTensors};
pub use pose_scorer::{PoseScorer, PoseScorerConfig};
pub use toy::{ToyScorer, ToyTarget};
pub use trainer::{EpisodeLog, TrainOutcome, TrainerConfig, train};

use nalgebra::{Isometry3, Translation3, UnitQuaternion, Vector4};

/// An extrinsic `X = T_ref_sensor` (metres, unit quaternion).
pub type Extrinsic = Isometry3<f64>;

/// Why an L2Calib component could not be built or run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum L2CalibError {
    /// Too few poses or samples for the scorer.
    #[error("{what}: need at least {needed}, got {got}")]
    TooFew {
        /// What was counted.
        what: &'static str,
        /// The minimum.
        needed: usize,
        /// What was given.
        got: usize,
    },
    /// Two inputs that must pair up differ in length.
    #[error("{what}: lengths differ ({a} vs {b})")]
    LengthMismatch {
        /// What was compared.
        what: &'static str,
        /// First length.
        a: usize,
        /// Second length.
        b: usize,
    },
    /// A NaN or infinity in the input data.
    #[error("non-finite value in {what} at index {index}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Where.
        index: usize,
    },
    /// A configuration value out of range.
    #[error("invalid setting `{field}`: {reason}")]
    InvalidConfig {
        /// The setting's name.
        field: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// Training produced a NaN or infinity.
    #[error("training diverged at episode {episode}: non-finite {quantity}")]
    NonFiniteTraining {
        /// The episode (1-based).
        episode: usize,
        /// What became non-finite.
        quantity: &'static str,
    },
}

/// The environment of the calibration bandit: maps a batch of candidate extrinsics
/// `X = T_ref_sensor` to non-negative errors (smaller is better; the reward is [`reward`]).
pub trait Scorer {
    /// Writes one error per candidate into `errors` (`errors.len() == candidates.len()`).
    fn errors(&mut self, candidates: &[Isometry3<f64>], errors: &mut [f64]);
}

/// L2Calib's reward `exp(−clip(error, 0, 300)/2)`.
pub fn reward(error: f64) -> f64 {
    let e = if error.is_nan() { 300.0 } else { error.clamp(0.0, 300.0) };
    (-e / 2.0).exp()
}

/// The isometry with translation `t` (metres) and w-first quaternion `q` (normalised here).
pub fn isometry_from_parts(t: [f64; 3], q: &Vector4<f64>) -> Isometry3<f64> {
    let q = UnitQuaternion::from_quaternion(nalgebra::Quaternion::new(q[0], q[1], q[2], q[3]));
    Isometry3::from_parts(Translation3::new(t[0], t[1], t[2]), q)
}

/// Checks that every isometry in `poses` is finite.
pub(crate) fn check_finite_poses(what: &'static str, poses: &[Isometry3<f64>]) -> Result<(), L2CalibError> {
    match poses
        .iter()
        .position(|p| !p.translation.vector.iter().chain(p.rotation.coords.iter()).all(|v| v.is_finite()))
    {
        Some(index) => Err(L2CalibError::NonFinite { what, index }),
        None => Ok(()),
    }
}
