//! Control tasks on rapier3d: reacher, cartpole-swingup, point-mass.
//!
//! Our own tasks in the spirit of the DeepMind Control Suite (and Gymnasium's MuJoCo `Reacher`),
//! simulated with rapier3d rather than MuJoCo, so not ports: the same kind of body, observation
//! and tolerance-style reward ([`reward`]), with our own constants (documented on each env).
//!
//! | Id | Env | Obs | Action | Steps |
//! |---|---|---|---|---|
//! | `Reacher3D-v0` | [`Reacher`]: two-link arm, random target | 10 | 2 torques | 200 |
//! | `CartpoleSwingup-v0` | [`CartpoleSwingup`]: prismatic cart + revolute pole, pole starts down | 5 | 1 force | 1000 |
//! | `PointMass-v0` | [`PointMass`]: planar point mass to a random goal; optional rotated action frame | 4+2 | 2 forces | 500 |
//!
//! Each env implements [`crate::scene::SceneView`] (through [`SimWorld`]) and overrides
//! [`crate::Env::scene`], so `alignrl rollout --rrd` can record it. A reset rebuilds the rapier
//! world from scratch, so a seed alone fixes a trajectory bit for bit (rapier is deterministic on
//! one machine); a step allocates nothing in our code.
//!
//! Actions outside `[−1, 1]` are clipped (as MuJoCo clamps `ctrlrange`); NaN, infinities and
//! wrong lengths are errors.

pub mod reward;
pub mod world;

mod cartpole_swingup;
mod point_mass;
mod reacher;

pub use cartpole_swingup::CartpoleSwingup;
pub use point_mass::PointMass;
pub use reacher::Reacher;
pub use world::{Contact, SimWorld};

use rapier3d::prelude::*;

use crate::env::{Env, EnvError};
use crate::registry::{EnvSpec, MakeError, OptionSpec, OptionValue, Options, Registry};
use crate::space::Space;

/// Info key set by every control task: 1.0 when the task's goal condition holds this step.
pub const SUCCESS: &str = "success";

/// Index of the linear x coordinate in a multibody joint's coordinates (prismatic joints).
pub(crate) const LIN_X: usize = 0;
/// Index of the angular x coordinate in a multibody joint's coordinates (revolute joints).
pub(crate) const ANG_X: usize = 3;

/// Registers the control tasks.
pub fn register(registry: &mut Registry) {
    let specs = [
        EnvSpec {
            id: "Reacher3D-v0",
            description: "Two-link arm on rapier3d revolute joints reaching a random target (ours)",
            max_episode_steps: Some(200),
            reward_threshold: None,
            options: vec![],
            entry_point: |_| Ok(Box::new(Reacher::new())),
        },
        EnvSpec {
            id: "CartpoleSwingup-v0",
            description: "Swing a pole up from hanging and balance it; rapier3d prismatic + revolute joints (ours)",
            max_episode_steps: Some(1000),
            reward_threshold: None,
            options: vec![],
            entry_point: |_| Ok(Box::new(CartpoleSwingup::new())),
        },
        EnvSpec {
            id: "PointMass-v0",
            description: "Push a planar point mass to a random goal on rapier3d (ours)",
            max_episode_steps: Some(500),
            reward_threshold: None,
            options: vec![OptionSpec {
                name: "action_rotation",
                default: OptionValue::Float(0.0),
                doc: "rotate the action (force) frame by this angle in radians about +z (transfer tests)",
            }],
            entry_point: make_point_mass,
        },
    ];
    for spec in specs {
        registry.register(spec).expect("control ids are unique");
    }
}

fn make_point_mass(o: &Options) -> Result<Box<dyn Env>, MakeError> {
    let angle = o.float("action_rotation");
    if !angle.is_finite() {
        return Err(MakeError::BadOption {
            env: "PointMass-v0".into(),
            option: "action_rotation".into(),
            value: angle.to_string(),
            expected: "a finite angle in radians".into(),
        });
    }
    Ok(Box::new(PointMass::with_action_rotation(angle)))
}

/// Validates a continuous action of `N` components and clips it to `[−1, 1]`: NaN, infinities
/// and a wrong length are errors.
pub(crate) fn clipped_action<const N: usize>(action: &[f64], space: &Space) -> Result<[f64; N], EnvError> {
    if action.len() != N || action.iter().any(|a| !a.is_finite()) {
        return Err(EnvError::InvalidAction { action: action.to_vec(), space: space.to_string() });
    }
    Ok(std::array::from_fn(|i| action[i].clamp(-1.0, 1.0)))
}

/// Position and velocity of coordinate `coord` ([`LIN_X`] or [`ANG_X`]) of the one-dof multibody
/// `joint` (metres or radians, m/s or rad/s).
pub(crate) fn read_joint(world: &PhysicsWorld, joint: MultibodyJointHandle, coord: usize) -> (f64, f64) {
    let (mb, id) = world.multibody_joints.get(joint).expect("the env's joint exists");
    let link = mb.link(id).expect("the joint's link exists");
    let q = link.joint().coords()[coord];
    let v = mb.joint_velocity(link)[0];
    (q as f64, v as f64)
}

/// Sets the generalised coordinates `q` and velocities `v` of a freshly built multibody (all
/// coordinates still zero) containing `joint` (one entry per dof, in assembly order; the root
/// must be fixed) and moves its bodies there.
pub(crate) fn set_chain_state(world: &mut PhysicsWorld, joint: MultibodyJointHandle, q: &[f32], v: &[f32]) {
    let (mb, _) = world.multibody_joints.get_mut(joint).expect("the env's joint exists");
    mb.forward_kinematics(&world.bodies, true);
    assert_eq!(mb.ndofs(), q.len(), "one coordinate per dof");
    mb.apply_displacements(q);
    mb.generalized_velocity_mut().copy_from_slice(v);
    mb.forward_kinematics(&world.bodies, false);
    mb.update_rigid_bodies(&mut world.bodies, true);
}
