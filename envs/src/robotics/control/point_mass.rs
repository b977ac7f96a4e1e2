//! `PointMass-v0`: push a planar point mass to a random goal inside a walled arena on rapier3d.

use rand::Rng;
use rapier3d::prelude::*;

use crate::env::{Env, EnvError, EnvRandom, Info, Step, check_len};
use crate::scene::{SceneView, ShapeKind};
use crate::space::{DType, Space};

use super::reward::{Sigmoid, small_control, tolerance};
use super::world::{Contact, SimWorld, density_for_mass};
use super::{SUCCESS, clipped_action};

/// Mass (kg) and radius (metres) of the point mass.
const MASS: f32 = 0.3;
const RADIUS: f32 = 0.01;
/// Force at action ±1 per axis (N).
pub const MAX_FORCE: f32 = 1.0;
/// Viscous damping (N·s/m), applied as rapier's linear damping `c = DAMPING / MASS` (1/s).
const DAMPING: f32 = 1.0;
/// Inner half width of the square arena (metres); walls are solid colliders.
pub const ARENA: f32 = 0.3;
/// Start and goal positions are uniform in `[−SPAWN, SPAWN]²` (metres).
const SPAWN: f64 = 0.25;
/// The mass counts as at the goal within this distance (metres).
pub const GOAL_TOLERANCE: f64 = 0.02;
/// Distance over which the dense reward falls to 0.1 (metres).
const REWARD_MARGIN: f64 = 0.3;
/// Height of the plane of motion (metres).
const HEIGHT: f32 = RADIUS;
/// Physics time step (seconds) and rapier steps per env step: 0.02 s per env step.
const DT: f32 = 0.01;
const SUBSTEPS: usize = 2;

/// A planar point mass pushed towards a random goal (ours, after DM Control's `point_mass`).
///
/// - **Bodies**: a ball of radius 0.01 m and mass 0.3 kg moving in the plane z = 0.01 m
///   (z translation and all rotations locked, no gravity in the plane), viscous damping
///   1 N·s/m, inside a square arena of half width 0.3 m bounded by solid walls.
/// - **Action** `u ∈ [−1, 1]²`: a force `F = R(φ) u` N in the world xy plane, held for 0.02 s
///   (two rapier steps of 0.01 s), where `R(φ)` is the rotation by the env's
///   `action_rotation` φ (radians, about +z; 0 by default). Tasks that differ only in φ have the
///   same dynamics and reward in different action frames, for cross-task transfer tests.
/// - **Observation** (6): `[x, y, ẋ, ẏ, goal_x, goal_y]` (m, m/s, world frame).
/// - **Reward** (tolerance style, in `[0, 1]`): with `d` the distance to the goal,
///   `r = tolerance(d, 0, 0.02, margin 0.3, gaussian, 0.1) · small_control(u)`, with
///   `small_control(u) = (4 + mean_i tolerance(u_i, 0, 0, 1, quadratic, 0))/5`.
/// - **Info**: `success` (d ≤ 0.02 m), `distance` (m).
/// - **Reset**: start and goal uniform in `[−0.25, 0.25]²` m, at rest. No termination; the
///   registry truncates at 500 steps (10 s).
#[derive(Debug)]
pub struct PointMass {
    sim: SimWorld,
    ball: RigidBodyHandle,
    goal: [f64; 2],
    rotation: [f64; 2],
    action_rotation: f64,
    has_state: bool,
    random: EnvRandom,
    observation_space: Space,
    action_space: Space,
}

/// Info key: distance from the mass to the goal (metres).
pub const DISTANCE: &str = "distance";

impl Default for PointMass {
    fn default() -> Self {
        PointMass::new()
    }
}

impl PointMass {
    /// A point mass with the action frame aligned with the world frame.
    pub fn new() -> Self {
        PointMass::with_action_rotation(0.0)
    }

    /// A point mass whose action frame is rotated by `angle` radians about +z.
    pub fn with_action_rotation(angle: f64) -> Self {
        let (sim, ball) = build([0.0, 0.0]);
        PointMass {
            sim,
            ball,
            goal: [0.0, 0.0],
            rotation: [angle.cos(), angle.sin()],
            action_rotation: angle,
            has_state: false,
            random: EnvRandom::default(),
            observation_space: Space::uniform_box(f64::NEG_INFINITY, f64::INFINITY, &[6], DType::F64),
            action_space: Space::uniform_box(-1.0, 1.0, &[2], DType::F32),
        }
    }

    /// The action frame's rotation about +z (radians).
    pub fn action_rotation(&self) -> f64 {
        self.action_rotation
    }

    /// `[x, y]` (m) and `[ẋ, ẏ]` (m/s) of the mass.
    pub fn state(&self) -> ([f64; 2], [f64; 2]) {
        let b = self.sim.body(self.ball);
        let (p, v) = (b.translation(), b.linvel());
        ([p.x as f64, p.y as f64], [v.x as f64, v.y as f64])
    }

    /// The goal `[x, y]` (m).
    pub fn goal(&self) -> [f64; 2] {
        self.goal
    }

    fn distance(&self) -> f64 {
        let (p, _) = self.state();
        (p[0] - self.goal[0]).hypot(p[1] - self.goal[1])
    }

    fn write_obs(&self, obs: &mut [f64]) {
        let (p, v) = self.state();
        obs.copy_from_slice(&[p[0], p[1], v[0], v[1], self.goal[0], self.goal[1]]);
    }
}

/// Builds the world: floor, four walls and the mass at `start` (m).
fn build(start: [f32; 2]) -> (SimWorld, RigidBodyHandle) {
    let mut sim = SimWorld::new(DT, 0.0, 4);
    sim.add_shape(
        "floor",
        ShapeKind::Cuboid { half_extents: [ARENA + 0.02, ARENA + 0.02, 0.005] },
        [200, 200, 210],
        None,
        [0.0, 0.0, -0.005],
        [0.0; 3],
        0.0,
        Contact::Ghost,
    );
    let wall_half = 0.01;
    let long = ShapeKind::Cuboid { half_extents: [ARENA + 2.0 * wall_half, wall_half, 0.02] };
    let side = ShapeKind::Cuboid { half_extents: [wall_half, ARENA, 0.02] };
    let off = ARENA + wall_half;
    for (name, kind, at) in [
        ("wall/north", long, [0.0, off]),
        ("wall/south", long, [0.0, -off]),
        ("wall/east", side, [off, 0.0]),
        ("wall/west", side, [-off, 0.0]),
    ] {
        sim.add_shape(name, kind, [110, 110, 120], None, [at[0], at[1], 0.02], [0.0; 3], 0.0, Contact::Solid);
    }
    let ball = sim.world.bodies.insert(
        RigidBodyBuilder::dynamic()
            .translation(Vector::new(start[0], start[1], HEIGHT))
            .enabled_translations(true, true, false)
            .lock_rotations()
            .linear_damping(DAMPING / MASS)
            .can_sleep(false),
    );
    let shape = ShapeKind::Ball { radius: RADIUS };
    sim.add_shape(
        "mass",
        shape,
        [230, 120, 60],
        Some(ball),
        [0.0; 3],
        [0.0; 3],
        density_for_mass(shape, MASS),
        Contact::Solid,
    );
    (sim, ball)
}

impl Env for PointMass {
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], _info: &mut Info) -> Result<(), EnvError> {
        check_len("observation", obs, 6)?;
        let rng = self.random.reseed(seed);
        let mut u = || rng.random_range(-SPAWN..SPAWN);
        let start = [u() as f32, u() as f32];
        self.goal = [u(), u()];
        let (sim, ball) = build(start);
        (self.sim, self.ball) = (sim, ball);
        self.sim.goal = Some([self.goal[0] as f32, self.goal[1] as f32, HEIGHT]);
        self.has_state = true;
        self.write_obs(obs);
        Ok(())
    }

    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        let action: [f64; 2] = clipped_action(action, &self.action_space)?;
        check_len("observation", obs, 6)?;
        if !self.has_state {
            return Err(EnvError::NeedsReset("PointMass: call reset before step"));
        }
        let [c, s] = self.rotation;
        let fx = MAX_FORCE as f64 * (c * action[0] - s * action[1]);
        let fy = MAX_FORCE as f64 * (s * action[0] + c * action[1]);
        self.sim.set_body_wrench(self.ball, Vector::new(fx as f32, fy as f32, 0.0), Vector::ZERO);
        self.sim.step(SUBSTEPS);
        let d = self.distance();
        let reward =
            tolerance(d, 0.0, GOAL_TOLERANCE, REWARD_MARGIN, Sigmoid::Gaussian, 0.1) * small_control(&action);
        info.set(SUCCESS, f64::from(u8::from(d <= GOAL_TOLERANCE)));
        info.set(DISTANCE, d);
        self.write_obs(obs);
        Ok(Step { reward, terminated: false, truncated: false })
    }

    fn render(&self) -> Option<String> {
        let (p, v) = self.state();
        Some(format!(
            "PointMass p=({:+.3}, {:+.3}) m v=({:+.3}, {:+.3}) m/s goal=({:+.3}, {:+.3}) m",
            p[0], p[1], v[0], v[1], self.goal[0], self.goal[1]
        ))
    }

    fn name(&self) -> &str {
        "PointMass"
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
    fn constant_force_approaches_terminal_velocity() {
        // m v̇ = F − b v: from rest, v(t) = (F/b)(1 − exp(−b t / m)); check at t = 0.2 s.
        let mut env = PointMass::new();
        env.reset_owned(Some(0)).unwrap();
        let (p0, _) = env.state();
        // Push away from the nearer wall along x.
        let dir = if p0[0] > 0.0 { -1.0 } else { 1.0 };
        for _ in 0..10 {
            env.step_owned(&[dir, 0.0]).unwrap();
        }
        let (_, v) = env.state();
        let (f, b, m) = (MAX_FORCE as f64, DAMPING as f64, MASS as f64);
        let expected = f / b * (1.0 - (-b * 0.2 / m).exp());
        assert!((v[0].abs() - expected).abs() / expected < 0.03, "{} vs {expected}", v[0]);
        assert!(v[1].abs() < 1e-6);
    }

    #[test]
    fn walls_keep_the_mass_in_the_arena() {
        let mut env = PointMass::new();
        env.reset_owned(Some(4)).unwrap();
        for _ in 0..300 {
            env.step_owned(&[1.0, 1.0]).unwrap();
        }
        let (p, _) = env.state();
        let lim = (ARENA - RADIUS) as f64 + 0.005;
        assert!(p[0] > 0.25 && p[0] < lim && p[1] > 0.25 && p[1] < lim, "{p:?}");
    }

    #[test]
    fn rotated_action_frame_rotates_the_force() {
        let angle = std::f64::consts::FRAC_PI_2;
        let mut a = PointMass::new();
        let mut b = PointMass::with_action_rotation(angle);
        a.reset_owned(Some(7)).unwrap();
        b.reset_owned(Some(7)).unwrap();
        for _ in 0..5 {
            // A +x push in b's frame is a +y push in the world: a's [0, 1].
            let ta = a.step_owned(&[0.0, 1.0]).unwrap();
            let tb = b.step_owned(&[1.0, 0.0]).unwrap();
            for (x, y) in ta.obs.iter().zip(&tb.obs) {
                assert!((x - y).abs() < 1e-6, "{:?} vs {:?}", ta.obs, tb.obs);
            }
            assert!((ta.reward - tb.reward).abs() < 1e-12);
        }
    }
}
