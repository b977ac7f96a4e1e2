//! Acrobot-v1.

use std::f64::consts::PI;

use crate::env::{Env, EnvError, EnvRandom, Info, Step, check_len};
use crate::space::{DType, Space};

use super::{discrete_action, f32r, np_pow2, uniform};

const DT: f64 = 0.2;
const LINK_LENGTH_1: f64 = 1.0;
const LINK_MASS_1: f64 = 1.0;
const LINK_MASS_2: f64 = 1.0;
const LINK_COM_POS_1: f64 = 0.5;
const LINK_COM_POS_2: f64 = 0.5;
const LINK_MOI: f64 = 1.0;
const MAX_VEL_1: f64 = 4.0 * PI;
const MAX_VEL_2: f64 = 9.0 * PI;
const AVAIL_TORQUE: [f64; 3] = [-1.0, 0.0, 1.0];
const G: f64 = 9.8;

/// The acrobot of Sutton and Barto's book (section 11.3), following Gymnasium 1.4.0's
/// `AcrobotEnv` (`Acrobot-v1`, "book" dynamics, no torque noise).
///
/// Two links of 1 m and 1 kg (centres of mass at 0.5 m, moments of inertia 1 kg·m²) hang from a
/// fixed joint; only the joint between them is actuated, with a torque of -1, 0 or +1 N·m
/// (actions 0, 1, 2). State `[theta1, theta2, dtheta1, dtheta2]`: the first link's angle from
/// hanging down and the second's relative to the first, in radians wrapped to `[-π, π]`, and
/// their angular velocities in rad/s, bounded to ±4π and ±9π. Each step integrates 0.2 s with one
/// classical Runge-Kutta (RK4) step, as Gymnasium's `rk4` does. The observation is
/// `[cos theta1, sin theta1, cos theta2, sin theta2, dtheta1, dtheta2]`.
///
/// Reward -1 per step and 0 on the step that terminates, when the free end rises more than one
/// link length above the fixed joint (`-cos theta1 - cos(theta1 + theta2) > 1`); the registry's
/// time limit truncates episodes at 500 steps. Initial state: each component uniform in
/// `[-0.1, 0.1)`, rounded to float32 as Gymnasium does.
#[derive(Debug, Clone)]
pub struct Acrobot {
    state: [f64; 4],
    has_state: bool,
    random: EnvRandom,
    observation_space: Space,
    action_space: Space,
}

impl Default for Acrobot {
    fn default() -> Self {
        Acrobot::new()
    }
}

impl Acrobot {
    /// An acrobot.
    pub fn new() -> Self {
        let high = vec![1.0, 1.0, 1.0, 1.0, f32r(MAX_VEL_1), f32r(MAX_VEL_2)];
        Acrobot {
            state: [0.0; 4],
            has_state: false,
            random: EnvRandom::default(),
            observation_space: Space::box_from_bounds(high.iter().map(|h| -h).collect(), high, DType::F32)
                .expect("valid bounds"),
            action_space: Space::discrete(3),
        }
    }

    /// The internal state `[theta1, theta2, dtheta1, dtheta2]` (float64).
    pub fn state(&self) -> [f64; 4] {
        self.state
    }

    /// Replaces the internal state, as assigning Gymnasium's `env.unwrapped.state` does.
    pub fn set_state(&mut self, state: [f64; 4]) {
        self.state = state;
        self.has_state = true;
    }

    fn write_obs(&self, obs: &mut [f64]) {
        let [t1, t2, d1, d2] = self.state;
        obs[0] = f32r(t1.cos());
        obs[1] = f32r(t1.sin());
        obs[2] = f32r(t2.cos());
        obs[3] = f32r(t2.sin());
        obs[4] = f32r(d1);
        obs[5] = f32r(d2);
    }

    fn terminal(&self) -> bool {
        let [t1, t2, ..] = self.state;
        -t1.cos() - (t2 + t1).cos() > 1.0
    }
}

/// Gymnasium's `_dsdt` ("book" variant): the time derivative of `[theta1, theta2, dtheta1,
/// dtheta2, torque]`.
fn dsdt(s: &[f64; 5]) -> [f64; 5] {
    let (m1, m2, l1, lc1, lc2, i1, i2) =
        (LINK_MASS_1, LINK_MASS_2, LINK_LENGTH_1, LINK_COM_POS_1, LINK_COM_POS_2, LINK_MOI, LINK_MOI);
    let [theta1, theta2, dtheta1, dtheta2, a] = *s;
    // Python's `lc1**2` etc. on these constants are exact squares.
    let d1 = m1 * (lc1 * lc1) + m2 * (l1 * l1 + lc2 * lc2 + 2.0 * l1 * lc2 * theta2.cos()) + i1 + i2;
    let d2 = m2 * (lc2 * lc2 + l1 * lc2 * theta2.cos()) + i2;
    let phi2 = m2 * lc2 * G * (theta1 + theta2 - PI / 2.0).cos();
    let phi1 = -m2 * l1 * lc2 * np_pow2(dtheta2) * theta2.sin()
        - 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * theta2.sin()
        + (m1 * lc1 + m2 * l1) * G * (theta1 - PI / 2.0).cos()
        + phi2;
    let ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * np_pow2(dtheta1) * theta2.sin() - phi2)
        / (m2 * (lc2 * lc2) + i2 - np_pow2(d2) / d1);
    let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    [dtheta1, dtheta2, ddtheta1, ddtheta2, 0.0]
}

/// One step of Gymnasium's `rk4(derivs, y0, [0, dt])`, element by element in numpy's order.
fn rk4(y0: &[f64; 5], dt: f64) -> [f64; 5] {
    let dt2 = dt / 2.0;
    let along = |k: &[f64; 5], h: f64| -> [f64; 5] { std::array::from_fn(|i| y0[i] + h * k[i]) };
    let k1 = dsdt(y0);
    let k2 = dsdt(&along(&k1, dt2));
    let k3 = dsdt(&along(&k2, dt2));
    let k4 = dsdt(&along(&k3, dt));
    let h = dt / 6.0;
    std::array::from_fn(|i| y0[i] + h * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
}

/// Gymnasium's `wrap`: shifts `x` by multiples of `M - m` into `[m, M]`.
fn wrap(mut x: f64, m: f64, big_m: f64) -> f64 {
    let diff = big_m - m;
    while x > big_m {
        x -= diff;
    }
    while x < m {
        x += diff;
    }
    x
}

/// Gymnasium's `bound`: Python's `min(max(x, m), M)`.
fn bound(x: f64, m: f64, big_m: f64) -> f64 {
    let lo = if m > x { m } else { x };
    if big_m < lo { big_m } else { lo }
}

impl Env for Acrobot {
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], _info: &mut Info) -> Result<(), EnvError> {
        check_len("observation", obs, 6)?;
        let rng = self.random.reseed(seed);
        for s in &mut self.state {
            *s = f32r(uniform(rng, -0.1, 0.1));
        }
        self.has_state = true;
        self.write_obs(obs);
        Ok(())
    }

    fn step(&mut self, action: &[f64], obs: &mut [f64], _info: &mut Info) -> Result<Step, EnvError> {
        let action = discrete_action(action, &self.action_space)?;
        check_len("observation", obs, 6)?;
        if !self.has_state {
            return Err(EnvError::NeedsReset("Acrobot: call reset before step"));
        }
        let [t1, t2, d1, d2] = self.state;
        let ns = rk4(&[t1, t2, d1, d2, AVAIL_TORQUE[action]], DT);
        self.state = [
            wrap(ns[0], -PI, PI),
            wrap(ns[1], -PI, PI),
            bound(ns[2], -MAX_VEL_1, MAX_VEL_1),
            bound(ns[3], -MAX_VEL_2, MAX_VEL_2),
        ];
        let terminated = self.terminal();
        self.write_obs(obs);
        Ok(Step { reward: if terminated { 0.0 } else { -1.0 }, terminated, truncated: false })
    }

    fn render(&self) -> Option<String> {
        let [t1, t2, d1, d2] = self.state;
        let tip = -t1.cos() - (t2 + t1).cos();
        Some(format!(
            "Acrobot theta1={t1:+.3} rad theta2={t2:+.3} rad dtheta1={d1:+.3} rad/s dtheta2={d2:+.3} rad/s \
             tip height={tip:+.3} m (goal > 1)"
        ))
    }

    fn name(&self) -> &str {
        "Acrobot"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic::test_util::{assert_rejects, assert_seeding, reset_obs, step};

    #[test]
    fn seeding_follows_gymnasium() {
        assert_seeding(&mut Acrobot::default());
    }

    #[test]
    fn initial_state_in_range_and_float32() {
        let mut env = Acrobot::default();
        for seed in 0..200 {
            let obs = reset_obs(&mut env, Some(seed));
            for s in env.state() {
                assert!((-0.1..=0.1).contains(&s), "seed {seed}: {s}");
                assert_eq!(s, f32r(s));
            }
            assert!(env.observation_space().contains_packed(&obs));
        }
    }

    #[test]
    fn invalid_actions_are_errors() {
        assert_rejects(Box::new(Acrobot::default()), &[3.0, -1.0, 0.5, f64::NAN]);
    }

    #[test]
    fn rest_is_an_equilibrium_and_angles_wrap() {
        let mut env = Acrobot::default();
        reset_obs(&mut env, Some(0));
        env.set_state([0.0; 4]);
        let (obs, s) = step(&mut env, &[1.0]).unwrap();
        // cos(-π/2) is 6e-17, not 0, so the rest state drifts by rounding errors only.
        for (o, e) in obs.iter().zip([1.0, 0.0, 1.0, 0.0, 0.0, 0.0]) {
            assert!((o - e).abs() < 1e-12, "{obs:?}");
        }
        assert_eq!((s.reward, s.terminated), (-1.0, false));
        assert_eq!(wrap(3.5, -PI, PI), 3.5 - 2.0 * PI);
        assert_eq!(wrap(-13.0, -PI, PI), -13.0 + 2.0 * PI + 2.0 * PI);
        assert_eq!(bound(100.0, -MAX_VEL_1, MAX_VEL_1), MAX_VEL_1);
    }

    #[test]
    fn upright_tip_terminates_with_zero_reward() {
        let mut env = Acrobot::default();
        reset_obs(&mut env, Some(0));
        env.set_state([PI - 0.01, 0.0, 0.0, 0.0]);
        let (_, s) = step(&mut env, &[1.0]).unwrap();
        assert_eq!((s.reward, s.terminated), (0.0, true));
    }
}
