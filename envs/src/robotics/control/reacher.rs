//! `Reacher3D-v0`: a planar two-link arm on rapier3d multibody joints reaching a random target.

use std::f32::consts::FRAC_PI_2;

use rand::Rng;
use rapier3d::prelude::*;

use crate::env::{Env, EnvError, EnvRandom, Info, Step, check_len};
use crate::scene::{SceneView, ShapeKind};
use crate::space::{DType, Space};

use super::reward::{Sigmoid, small_control, tolerance};
use super::world::{Contact, SimWorld, revolute};
use super::{ANG_X, SUCCESS, clipped_action, read_joint, set_chain_state};

/// Length of the upper link, shoulder to elbow (metres).
pub const LINK1_LENGTH: f32 = 0.1;
/// Length of the lower link, elbow to fingertip centre (metres).
pub const LINK2_LENGTH: f32 = 0.11;
/// Radius of the link capsules (metres).
const LINK_RADIUS: f32 = 0.01;
/// Radius of the fingertip ball (metres).
const FINGER_RADIUS: f32 = 0.01;
/// Height of the arm's plane above the floor (metres).
const ARM_HEIGHT: f32 = 0.01;
/// Link density (kg/m³, water).
const DENSITY: f32 = 1000.0;
/// Torque at action ±1 (N·m).
pub const MAX_TORQUE: f32 = 0.5;
/// Reflected rotor inertia of each joint (kg·m²; MuJoCo's `armature`).
const ARMATURE: f32 = 0.01;
/// Viscous joint damping (N·m·s/rad).
const DAMPING: f32 = 0.05;
/// Elbow limits (radians), as Gymnasium's Reacher.
const ELBOW_LIMIT: f32 = 3.0;
/// Physics time step (seconds) and rapier steps per env step: 0.02 s per env step.
const DT: f32 = 0.01;
const SUBSTEPS: usize = 2;
/// Targets are uniform in the disc of this radius around the shoulder (metres).
const TARGET_RANGE: f64 = 0.2;
/// The fingertip counts as on the target within this distance (metres): target + finger radii.
pub const TARGET_TOLERANCE: f64 = 0.02;
/// Distance over which the dense reward falls to 0.1 (metres).
const REWARD_MARGIN: f64 = 0.2;

/// Info key: fingertip-to-target distance (metres).
pub const DISTANCE: &str = "distance";

/// A planar two-link arm (ours, in the spirit of Gymnasium's `Reacher-v5` and DM Control's
/// `reacher`), simulated with rapier3d reduced-coordinate (multibody) revolute joints about +z.
///
/// - **Bodies**: shoulder fixed at the origin, 0.01 m above the floor; upper link 0.1 m, lower
///   link 0.11 m to the fingertip centre, capsules of radius 0.01 m (water density); each joint
///   has armature 0.01 kg·m² and damping 0.05 N·m·s/rad; the elbow is limited to ±3 rad.
/// - **Action** `[u1, u2] ∈ [−1, 1]²`: joint torques `τ_i = 0.5 u_i` N·m (shoulder, elbow), held
///   for 0.02 s (two rapier steps of 0.01 s).
/// - **Observation** (10, Gymnasium `Reacher-v5` layout): `[cos q1, cos q2, sin q1, sin q2,
///   target_x, target_y, q̇1, q̇2, tip_x − target_x, tip_y − target_y]`; angles in radians,
///   q2 relative to the upper link, velocities in rad/s, positions in metres, world frame.
/// - **Reward** (DM Control tolerance style, in `[0, 1]`): with `d` the fingertip-to-target
///   distance, `r = tolerance(d, 0, 0.02, margin 0.2, long_tail, 0.1) · small_control(u)`, where
///   `small_control(u) = (4 + mean_i tolerance(u_i, 0, 0, 1, quadratic, 0)) / 5`.
/// - **Info**: `success` (d ≤ 0.02 m), `distance` (m).
/// - **Reset**: joint angles uniform in `[−0.1, 0.1]` rad, velocities in `[−0.005, 0.005]`
///   rad/s; target uniform in the disc of radius 0.2 m. No termination; the registry truncates
///   at 200 steps (4 s).
#[derive(Debug)]
pub struct Reacher {
    sim: SimWorld,
    link1: RigidBodyHandle,
    link2: RigidBodyHandle,
    joints: [MultibodyJointHandle; 2],
    target: [f64; 2],
    has_state: bool,
    random: EnvRandom,
    observation_space: Space,
    action_space: Space,
}

impl Default for Reacher {
    fn default() -> Self {
        Reacher::new()
    }
}

impl Reacher {
    /// A reacher; call `reset` before stepping.
    pub fn new() -> Self {
        let (sim, [link1, link2], joints) = build();
        Reacher {
            sim,
            link1,
            link2,
            joints,
            target: [0.0, 0.0],
            has_state: false,
            random: EnvRandom::default(),
            observation_space: Space::uniform_box(f64::NEG_INFINITY, f64::INFINITY, &[10], DType::F64),
            action_space: Space::uniform_box(-1.0, 1.0, &[2], DType::F32),
        }
    }

    /// Joint angles `[q1, q2]` (radians) and velocities `[q̇1, q̇2]` (rad/s).
    pub fn joints(&self) -> ([f64; 2], [f64; 2]) {
        let (q1, v1) = read_joint(&self.sim.world, self.joints[0], ANG_X);
        let (q2, v2) = read_joint(&self.sim.world, self.joints[1], ANG_X);
        ([q1, q2], [v1, v2])
    }

    /// Fingertip centre in the world frame (metres).
    pub fn fingertip(&self) -> [f64; 3] {
        let p = self.sim.body(self.link2).position() * Vector::new(LINK2_LENGTH, 0.0, 0.0);
        [p.x as f64, p.y as f64, p.z as f64]
    }

    /// The target `[x, y]` (metres, world frame, in the arm's plane).
    pub fn target(&self) -> [f64; 2] {
        self.target
    }

    fn distance(&self) -> f64 {
        let tip = self.fingertip();
        (tip[0] - self.target[0]).hypot(tip[1] - self.target[1])
    }

    fn write_obs(&self, obs: &mut [f64]) {
        let (q, v) = self.joints();
        let tip = self.fingertip();
        obs[0] = q[0].cos();
        obs[1] = q[1].cos();
        obs[2] = q[0].sin();
        obs[3] = q[1].sin();
        obs[4] = self.target[0];
        obs[5] = self.target[1];
        obs[6] = v[0];
        obs[7] = v[1];
        obs[8] = tip[0] - self.target[0];
        obs[9] = tip[1] - self.target[1];
    }
}

/// Builds the world: floor, shoulder, two links on revolute multibody joints.
fn build() -> (SimWorld, [RigidBodyHandle; 2], [MultibodyJointHandle; 2]) {
    let mut sim = SimWorld::new(DT, 1.0, 4);
    sim.add_shape(
        "floor",
        ShapeKind::Cuboid { half_extents: [0.3, 0.3, 0.005] },
        [200, 200, 210],
        None,
        [0.0, 0.0, -0.005],
        [0.0; 3],
        0.0,
        Contact::Ghost,
    );
    let base =
        sim.world.bodies.insert(RigidBodyBuilder::fixed().translation(Vector::new(0.0, 0.0, ARM_HEIGHT)));
    let link1 =
        sim.world.bodies.insert(RigidBodyBuilder::dynamic().translation(Vector::new(0.0, 0.0, ARM_HEIGHT)));
    let link2 = sim.world.bodies.insert(RigidBodyBuilder::dynamic().translation(Vector::new(
        LINK1_LENGTH,
        0.0,
        ARM_HEIGHT,
    )));
    // Capsules along the link's +x: the capsule's y axis turned by −90° about z.
    let along_x = [0.0, 0.0, -FRAC_PI_2];
    sim.add_shape(
        "arm/upper",
        ShapeKind::Capsule { half_height: LINK1_LENGTH / 2.0, radius: LINK_RADIUS },
        [80, 120, 200],
        Some(link1),
        [LINK1_LENGTH / 2.0, 0.0, 0.0],
        along_x,
        DENSITY,
        Contact::Ghost,
    );
    sim.add_shape(
        "arm/lower",
        ShapeKind::Capsule { half_height: LINK2_LENGTH / 2.0, radius: LINK_RADIUS },
        [80, 160, 220],
        Some(link2),
        [LINK2_LENGTH / 2.0, 0.0, 0.0],
        along_x,
        DENSITY,
        Contact::Ghost,
    );
    sim.add_shape(
        "arm/fingertip",
        ShapeKind::Ball { radius: FINGER_RADIUS },
        [230, 120, 60],
        Some(link2),
        [LINK2_LENGTH, 0.0, 0.0],
        [0.0; 3],
        DENSITY,
        Contact::Ghost,
    );
    let shoulder = revolute(Vector::Z, Vector::ZERO, Vector::ZERO);
    let elbow = revolute(Vector::Z, Vector::new(LINK1_LENGTH, 0.0, 0.0), Vector::ZERO)
        .limits([-ELBOW_LIMIT, ELBOW_LIMIT]);
    let j1 = sim.world.multibody_joints.insert(base, link1, shoulder, true).expect("a tree");
    let j2 = sim.world.multibody_joints.insert(link1, link2, elbow, true).expect("a tree");
    let (mb, _) = sim.world.multibody_joints.get_mut(j1).expect("inserted");
    mb.set_self_contacts_enabled(false);
    mb.forward_kinematics(&sim.world.bodies, true);
    mb.damping_mut().fill(DAMPING);
    mb.armature_mut().fill(ARMATURE);
    (sim, [link1, link2], [j1, j2])
}

impl Env for Reacher {
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], _info: &mut Info) -> Result<(), EnvError> {
        check_len("observation", obs, 10)?;
        let rng = self.random.reseed(seed);
        let q = [rng.random_range(-0.1f32..0.1), rng.random_range(-0.1f32..0.1)];
        let v = [rng.random_range(-0.005f32..0.005), rng.random_range(-0.005f32..0.005)];
        self.target = loop {
            let t = [
                rng.random_range(-TARGET_RANGE..TARGET_RANGE),
                rng.random_range(-TARGET_RANGE..TARGET_RANGE),
            ];
            if t[0].hypot(t[1]) < TARGET_RANGE {
                break t;
            }
        };
        // A fresh world: no solver warm-start or contact state survives from the last episode,
        // so a seed alone fixes the trajectory.
        let (sim, [link1, link2], joints) = build();
        (self.sim, self.link1, self.link2, self.joints) = (sim, link1, link2, joints);
        set_chain_state(&mut self.sim.world, joints[0], &q, &v);
        self.sim.goal = Some([self.target[0] as f32, self.target[1] as f32, ARM_HEIGHT]);
        self.has_state = true;
        self.write_obs(obs);
        Ok(())
    }

    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        let action: [f64; 2] = clipped_action(action, &self.action_space)?;
        check_len("observation", obs, 10)?;
        if !self.has_state {
            return Err(EnvError::NeedsReset("Reacher3D: call reset before step"));
        }
        let tau1 = MAX_TORQUE * action[0] as f32;
        let tau2 = MAX_TORQUE * action[1] as f32;
        // Joint torques as body torques: τ1 on the upper link (reaction on the fixed shoulder);
        // τ2 on the lower link with its reaction −τ2 on the upper link.
        self.sim.set_body_wrench(self.link1, Vector::ZERO, Vector::new(0.0, 0.0, tau1 - tau2));
        self.sim.set_body_wrench(self.link2, Vector::ZERO, Vector::new(0.0, 0.0, tau2));
        self.sim.step(SUBSTEPS);
        let d = self.distance();
        let reward = tolerance(d, 0.0, TARGET_TOLERANCE, REWARD_MARGIN, Sigmoid::LongTail, 0.1)
            * small_control(&action);
        info.set(SUCCESS, f64::from(u8::from(d <= TARGET_TOLERANCE)));
        info.set(DISTANCE, d);
        self.write_obs(obs);
        Ok(Step { reward, terminated: false, truncated: false })
    }

    fn render(&self) -> Option<String> {
        let (q, _) = self.joints();
        Some(format!(
            "Reacher3D q=({:+.3}, {:+.3}) rad target=({:+.3}, {:+.3}) m distance {:.4} m",
            q[0],
            q[1],
            self.target[0],
            self.target[1],
            self.distance()
        ))
    }

    fn name(&self) -> &str {
        "Reacher3D"
    }

    fn scene(&self) -> Option<&dyn SceneView> {
        Some(&self.sim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EnvExt;

    #[test]
    fn fingertip_follows_forward_kinematics() {
        let mut env = Reacher::new();
        env.reset_owned(Some(3)).unwrap();
        for t in 0..40 {
            let a = [if t < 20 { 1.0 } else { -0.5 }, 0.7];
            env.step_owned(&a).unwrap();
            let ([q1, q2], _) = env.joints();
            let (l1, l2) = (LINK1_LENGTH as f64, LINK2_LENGTH as f64);
            let x = l1 * q1.cos() + l2 * (q1 + q2).cos();
            let y = l1 * q1.sin() + l2 * (q1 + q2).sin();
            let tip = env.fingertip();
            assert!((tip[0] - x).abs() < 1e-4 && (tip[1] - y).abs() < 1e-4, "t={t}: {tip:?} vs ({x}, {y})");
            assert!((tip[2] - ARM_HEIGHT as f64).abs() < 1e-5);
        }
    }

    #[test]
    fn torque_turns_the_shoulder_and_damping_bounds_speed() {
        let mut env = Reacher::new();
        env.reset_owned(Some(0)).unwrap();
        let ([q0, _], _) = env.joints();
        for _ in 0..100 {
            env.step_owned(&[1.0, 0.0]).unwrap();
        }
        let ([q1, _], [v1, _]) = env.joints();
        assert!(q1 > q0 + 1.0, "{q0} -> {q1}");
        // Terminal speed τ / damping = 10 rad/s (the arm's own inertia and the elbow slow it).
        assert!(v1 > 0.0 && v1 < 10.5, "{v1}");
    }

    #[test]
    fn elbow_respects_its_limit() {
        let mut env = Reacher::new();
        env.reset_owned(Some(1)).unwrap();
        for _ in 0..150 {
            env.step_owned(&[0.0, 1.0]).unwrap();
        }
        let ([_, q2], _) = env.joints();
        assert!(q2 < ELBOW_LIMIT as f64 + 0.05 && q2 > 2.5, "{q2}");
    }
}
