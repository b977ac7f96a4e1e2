//! `CartpoleSwingup-v0`: swing a pole up from hanging on a rapier3d prismatic + revolute chain.

use std::f32::consts::{FRAC_PI_2, PI};

use rand::Rng;
use rapier3d::prelude::*;

use crate::env::{Env, EnvError, EnvRandom, Info, Step, check_len};
use crate::scene::{SceneView, ShapeKind};
use crate::space::{DType, Space};

use super::reward::{Sigmoid, small_control, tolerance};
use super::world::{Contact, SimWorld, density_for_mass, revolute};
use super::{ANG_X, LIN_X, SUCCESS, clipped_action, read_joint, set_chain_state};

/// Height of the rail (the cart's centre) above the floor (metres).
const RAIL_HEIGHT: f32 = 1.0;
/// Cart half extents (metres) and mass (kg).
const CART_HALF: [f32; 3] = [0.2, 0.15, 0.1];
const CART_MASS: f32 = 1.0;
/// Pole: capsule from the hinge 1 m up (metres), radius 0.045 m, mass 0.1 kg.
pub const POLE_LENGTH: f32 = 1.0;
const POLE_RADIUS: f32 = 0.045;
const POLE_MASS: f32 = 0.1;
/// Slider limits (metres).
pub const RAIL_LIMIT: f32 = 1.8;
/// Force on the cart at action ±1 (N).
pub const MAX_FORCE: f32 = 10.0;
/// Viscous damping of the slider (N·s/m) and of the hinge (N·m·s/rad).
const SLIDER_DAMPING: f32 = 5e-4;
const HINGE_DAMPING: f32 = 2e-6;
/// Physics time step = control step (seconds).
const DT: f32 = 0.01;

/// Swing a pole up and balance it (ours, after DM Control's `cartpole.swingup`, on rapier3d
/// reduced-coordinate joints rather than an analytic model).
///
/// - **Bodies** (DM Control's sizes): a 1 kg cart (box 0.4 × 0.3 × 0.2 m) on a prismatic joint
///   along world x at 1 m height, limited to ±1.8 m; a 0.1 kg pole (capsule of length 1 m,
///   radius 0.045 m) on a revolute joint about world y at the cart's centre. Damping 5e-4 N·s/m
///   (slider) and 2e-6 N·m·s/rad (hinge); gravity 9.81 m/s² along −z.
/// - **Action** `u ∈ [−1, 1]`: force `10 u` N on the cart along x, held for one 0.01 s step.
/// - **Observation** (5): `[x, cos θ, sin θ, ẋ, θ̇]`: cart position (m), pole angle θ from
///   upright (rad, positive tipping towards +x), velocities (m/s, rad/s).
/// - **Reward** (DM Control's smooth swing-up reward, in `[0, 1]`):
///   `r = (1 + cos θ)/2 · (1 + tolerance(x, 0, 0, 2, gaussian, 0.1))/2 · small_control(u)
///   · (1 + tolerance(θ̇, 0, 0, 5, gaussian, 0.1))/2`, with
///   `small_control(u) = (4 + tolerance(u, 0, 0, 1, quadratic, 0))/5`.
/// - **Info**: `success` when `cos θ > 0.95` (within about 18° of upright).
/// - **Reset**: θ = π + U(−0.01, 0.01) (hanging down), x = U(−0.01, 0.01) m, velocities
///   U(−0.01, 0.01). No termination; the registry truncates at 1000 steps (10 s).
#[derive(Debug)]
pub struct CartpoleSwingup {
    sim: SimWorld,
    cart: RigidBodyHandle,
    joints: [MultibodyJointHandle; 2],
    has_state: bool,
    random: EnvRandom,
    observation_space: Space,
    action_space: Space,
}

impl Default for CartpoleSwingup {
    fn default() -> Self {
        CartpoleSwingup::new()
    }
}

impl CartpoleSwingup {
    /// A cart-pole; call `reset` before stepping.
    pub fn new() -> Self {
        let (sim, cart, joints) = build();
        CartpoleSwingup {
            sim,
            cart,
            joints,
            has_state: false,
            random: EnvRandom::default(),
            observation_space: Space::uniform_box(f64::NEG_INFINITY, f64::INFINITY, &[5], DType::F64),
            action_space: Space::uniform_box(-1.0, 1.0, &[1], DType::F32),
        }
    }

    /// `[x, θ, ẋ, θ̇]`: cart position (m), pole angle from upright (rad), velocities.
    pub fn state(&self) -> [f64; 4] {
        let (x, xd) = read_joint(&self.sim.world, self.joints[0], LIN_X);
        let (th, thd) = read_joint(&self.sim.world, self.joints[1], ANG_X);
        [x, th, xd, thd]
    }

    /// The world position of the pole's tip (metres).
    pub fn pole_tip(&self) -> [f64; 3] {
        let pole = self.sim.world.multibody_joints.get(self.joints[1]).expect("exists");
        let link = pole.0.link(pole.1).expect("exists");
        let p = self.sim.body(link.rigid_body_handle()).position() * Vector::new(0.0, 0.0, POLE_LENGTH);
        [p.x as f64, p.y as f64, p.z as f64]
    }

    fn write_obs(&self, obs: &mut [f64]) {
        let [x, th, xd, thd] = self.state();
        obs.copy_from_slice(&[x, th.cos(), th.sin(), xd, thd]);
    }
}

/// Builds the world: floor, rail, cart on a prismatic joint, pole on a revolute joint.
fn build() -> (SimWorld, RigidBodyHandle, [MultibodyJointHandle; 2]) {
    let mut sim = SimWorld::new(DT, 1.0, 4);
    sim.add_shape(
        "floor",
        ShapeKind::Cuboid { half_extents: [3.0, 1.0, 0.01] },
        [200, 200, 210],
        None,
        [0.0, 0.0, -0.01],
        [0.0; 3],
        0.0,
        Contact::Ghost,
    );
    sim.add_shape(
        "rail",
        ShapeKind::Cuboid { half_extents: [RAIL_LIMIT + CART_HALF[0], 0.01, 0.01] },
        [120, 120, 120],
        None,
        [0.0, -CART_HALF[1] - 0.01, RAIL_HEIGHT],
        [0.0; 3],
        0.0,
        Contact::Ghost,
    );
    let at_rail = Vector::new(0.0, 0.0, RAIL_HEIGHT);
    let base = sim.world.bodies.insert(RigidBodyBuilder::fixed().translation(at_rail));
    let cart = sim.world.bodies.insert(RigidBodyBuilder::dynamic().translation(at_rail));
    let pole = sim.world.bodies.insert(RigidBodyBuilder::dynamic().translation(at_rail));
    let cart_shape = ShapeKind::Cuboid { half_extents: CART_HALF };
    sim.add_shape(
        "cart",
        cart_shape,
        [200, 140, 60],
        Some(cart),
        [0.0; 3],
        [0.0; 3],
        density_for_mass(cart_shape, CART_MASS),
        Contact::Ghost,
    );
    let pole_shape = ShapeKind::Capsule { half_height: POLE_LENGTH / 2.0, radius: POLE_RADIUS };
    // The capsule's y axis turned onto +z (90° about x), from the hinge up.
    sim.add_shape(
        "pole",
        pole_shape,
        [80, 120, 200],
        Some(pole),
        [0.0, 0.0, POLE_LENGTH / 2.0],
        [FRAC_PI_2, 0.0, 0.0],
        density_for_mass(pole_shape, POLE_MASS),
        Contact::Ghost,
    );
    let slider =
        PrismaticJointBuilder::new(Vector::X).contacts_enabled(false).limits([-RAIL_LIMIT, RAIL_LIMIT]);
    let hinge = revolute(Vector::Y, Vector::ZERO, Vector::ZERO);
    let j1 = sim.world.multibody_joints.insert(base, cart, slider, true).expect("a tree");
    let j2 = sim.world.multibody_joints.insert(cart, pole, hinge, true).expect("a tree");
    let (mb, _) = sim.world.multibody_joints.get_mut(j1).expect("inserted");
    mb.set_self_contacts_enabled(false);
    mb.forward_kinematics(&sim.world.bodies, true);
    mb.damping_mut().copy_from_slice(&[SLIDER_DAMPING, HINGE_DAMPING]);
    (sim, cart, [j1, j2])
}

impl Env for CartpoleSwingup {
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], _info: &mut Info) -> Result<(), EnvError> {
        check_len("observation", obs, 5)?;
        let rng = self.random.reseed(seed);
        let mut u = || rng.random_range(-0.01f32..0.01);
        let q = [u(), PI + u()];
        let v = [u(), u()];
        let (sim, cart, joints) = build();
        (self.sim, self.cart, self.joints) = (sim, cart, joints);
        set_chain_state(&mut self.sim.world, joints[0], &q, &v);
        self.sim.goal = Some([0.0, 0.0, RAIL_HEIGHT + POLE_LENGTH]);
        self.has_state = true;
        self.write_obs(obs);
        Ok(())
    }

    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        let action: [f64; 1] = clipped_action(action, &self.action_space)?;
        check_len("observation", obs, 5)?;
        if !self.has_state {
            return Err(EnvError::NeedsReset("CartpoleSwingup: call reset before step"));
        }
        self.sim.set_body_wrench(
            self.cart,
            Vector::new(MAX_FORCE * action[0] as f32, 0.0, 0.0),
            Vector::ZERO,
        );
        self.sim.step(1);
        let [x, th, _, thd] = self.state();
        let upright = (th.cos() + 1.0) / 2.0;
        let centered = (1.0 + tolerance(x, 0.0, 0.0, 2.0, Sigmoid::Gaussian, 0.1)) / 2.0;
        let small_velocity = (1.0 + tolerance(thd, 0.0, 0.0, 5.0, Sigmoid::Gaussian, 0.1)) / 2.0;
        let reward = upright * centered * small_control(&action) * small_velocity;
        info.set(SUCCESS, f64::from(u8::from(th.cos() > 0.95)));
        self.write_obs(obs);
        Ok(Step { reward, terminated: false, truncated: false })
    }

    fn render(&self) -> Option<String> {
        let [x, th, xd, thd] = self.state();
        Some(format!(
            "CartpoleSwingup x={x:+.3} m theta={:+.1}° x_dot={xd:+.3} m/s theta_dot={thd:+.3} rad/s",
            th.to_degrees()
        ))
    }

    fn name(&self) -> &str {
        "CartpoleSwingup"
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
    fn pole_starts_down_and_tip_matches_the_angle() {
        let mut env = CartpoleSwingup::new();
        let (obs, _) = env.reset_owned(Some(5)).unwrap();
        assert!(obs[1] < -0.99, "cos θ = {}", obs[1]);
        for t in 0..50 {
            env.step_owned(&[if t < 25 { 1.0 } else { -1.0 }]).unwrap();
            let [x, th, _, _] = env.state();
            let tip = env.pole_tip();
            let (ex, ez) =
                (x + POLE_LENGTH as f64 * th.sin(), RAIL_HEIGHT as f64 + POLE_LENGTH as f64 * th.cos());
            assert!((tip[0] - ex).abs() < 1e-4 && (tip[2] - ez).abs() < 1e-4, "t={t}: {tip:?} vs {ex}, {ez}");
        }
    }

    #[test]
    fn hanging_pole_is_a_pendulum_with_the_compound_period() {
        // Small oscillations about the hanging position with the cart held still would have
        // period 2π √(I / (m g l)); with a free cart the effective inertia is reduced. Check the
        // free-cart closed form: ω² = m g l (M + m) / (I_h (M + m) − m² l²) about the hinge.
        let mut env = CartpoleSwingup::new();
        env.reset_owned(Some(0)).unwrap();
        let amp = 0.1f32;
        let (sim, cart, joints) = build();
        (env.sim, env.cart, env.joints) = (sim, cart, joints);
        set_chain_state(&mut env.sim.world, env.joints[0], &[0.0, PI + amp], &[0.0, 0.0]);
        // Count zero crossings of θ − π over 10 s.
        let mut prev = amp as f64;
        let mut crossings = Vec::new();
        for t in 0..1000 {
            env.step_owned(&[0.0]).unwrap();
            let th = env.state()[1] - std::f64::consts::PI;
            if prev > 0.0 && th <= 0.0 {
                crossings.push(t);
            }
            prev = th;
        }
        let period =
            (crossings[crossings.len() - 1] - crossings[0]) as f64 * DT as f64 / (crossings.len() - 1) as f64;
        // Mass properties of the pole as rapier computed them from the capsule.
        let (mb, id) = env.sim.world.multibody_joints.get(env.joints[1]).unwrap();
        let pole = &env.sim.world.bodies[mb.link(id).unwrap().rigid_body_handle()];
        let mp = pole.mass_properties().local_mprops;
        let (m, big_m, g) = (pole.mass() as f64, CART_MASS as f64, 9.81);
        assert!((m - POLE_MASS as f64).abs() < 1e-5);
        let l = mp.local_com.length() as f64;
        // Inertia about an axis across the capsule (the largest principal moment).
        let i_com = mp.principal_inertia().max_element() as f64;
        let i_h = i_com + m * l * l;
        let omega2 = m * g * l * (big_m + m) / (i_h * (big_m + m) - m * m * l * l);
        let expected = 2.0 * std::f64::consts::PI / omega2.sqrt();
        assert!((period - expected).abs() / expected < 0.01, "period {period} s, expected {expected} s");
    }

    #[test]
    fn slider_limit_holds_the_cart() {
        let mut env = CartpoleSwingup::new();
        env.reset_owned(Some(2)).unwrap();
        for _ in 0..300 {
            env.step_owned(&[1.0]).unwrap();
        }
        let x = env.state()[0];
        assert!(x > 1.6 && x < RAIL_LIMIT as f64 + 0.05, "{x}");
    }
}
