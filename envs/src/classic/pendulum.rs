//! Pendulum-v1.

use std::f64::consts::PI;

use crate::env::{Env, EnvError, EnvRandom, Info, Step, check_len};
use crate::space::{DType, Space};

use super::{continuous_action, f32r, np_pow2, np_pow2_f32, py_mod, uniform};

const MAX_SPEED: f64 = 8.0;
const MAX_TORQUE: f32 = 2.0;
const DT: f64 = 0.05;
const M: f64 = 1.0;
const L: f64 = 1.0;

/// The inverted pendulum swing-up, following Gymnasium 1.4.0's `PendulumEnv` (`Pendulum-v1`).
///
/// State `[theta, theta_dot]`: angle in radians from upright (not wrapped) and angular velocity
/// in rad/s, clipped to ±8 rad/s. The action is a torque in N·m, clipped to ±2 N·m; the pendulum
/// (mass 1 kg, length 1 m) advances 0.05 s per step under gravity `g` (default 10 m/s²). The
/// observation is `[cos theta, sin theta, theta_dot]`.
///
/// Reward: `-(angle² + 0.1 theta_dot² + 0.001 torque²)` with the angle normalised to `[-π, π)`.
/// The episode never terminates; the registry's time limit truncates it at 200 steps. Initial
/// state: theta uniform in `[-π, π)`, theta_dot uniform in `[-1, 1)`.
///
/// Actions are taken as float32 (the action space's dtype) and the torque terms are computed in
/// float32, as numpy does for a float32 action.
#[derive(Debug, Clone)]
pub struct Pendulum {
    state: [f64; 2],
    has_state: bool,
    g: f64,
    last_u: Option<f32>,
    random: EnvRandom,
    observation_space: Space,
    action_space: Space,
}

impl Default for Pendulum {
    fn default() -> Self {
        Pendulum::new(10.0)
    }
}

impl Pendulum {
    /// A pendulum under gravitational acceleration `g` in m/s² (Gymnasium's default is 10).
    pub fn new(g: f64) -> Self {
        let high = vec![1.0, 1.0, MAX_SPEED];
        Pendulum {
            state: [0.0; 2],
            has_state: false,
            g,
            last_u: None,
            random: EnvRandom::default(),
            observation_space: Space::box_from_bounds(high.iter().map(|h| -h).collect(), high, DType::F32)
                .expect("valid bounds"),
            action_space: Space::uniform_box(-MAX_TORQUE as f64, MAX_TORQUE as f64, &[1], DType::F32),
        }
    }

    /// The internal state `[theta, theta_dot]` (float64).
    pub fn state(&self) -> [f64; 2] {
        self.state
    }

    /// Replaces the internal state, as assigning Gymnasium's `env.unwrapped.state` does.
    pub fn set_state(&mut self, state: [f64; 2]) {
        self.state = state;
        self.has_state = true;
    }

    fn write_obs(&self, obs: &mut [f64]) {
        let [theta, theta_dot] = self.state;
        obs[0] = f32r(theta.cos());
        obs[1] = f32r(theta.sin());
        obs[2] = f32r(theta_dot);
    }
}

/// Gymnasium's `angle_normalize`: maps to `[-π, π)`.
fn angle_normalize(x: f64) -> f64 {
    py_mod(x + PI, 2.0 * PI) - PI
}

impl Env for Pendulum {
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], _info: &mut Info) -> Result<(), EnvError> {
        check_len("observation", obs, 3)?;
        let rng = self.random.reseed(seed);
        self.state[0] = uniform(rng, -PI, PI);
        self.state[1] = uniform(rng, -1.0, 1.0);
        self.last_u = None;
        self.has_state = true;
        self.write_obs(obs);
        Ok(())
    }

    fn step(&mut self, action: &[f64], obs: &mut [f64], _info: &mut Info) -> Result<Step, EnvError> {
        let a = continuous_action(action, &self.action_space)?;
        check_len("observation", obs, 3)?;
        if !self.has_state {
            return Err(EnvError::NeedsReset("Pendulum: call reset before step"));
        }
        let [th, thdot] = self.state;
        let u = a.clamp(-MAX_TORQUE, MAX_TORQUE);
        self.last_u = Some(u);
        // `0.001 * (u ** 2)` and `3.0 / (m * l**2) * u` are float32 operations in numpy.
        let costs = np_pow2(angle_normalize(th)) + 0.1 * np_pow2(thdot) + (0.001f32 * np_pow2_f32(u)) as f64;
        let torque_term = ((3.0 / (M * (L * L))) as f32 * u) as f64;
        let newthdot = thdot + (3.0 * self.g / (2.0 * L) * th.sin() + torque_term) * DT;
        let newthdot = newthdot.clamp(-MAX_SPEED, MAX_SPEED);
        let newth = th + newthdot * DT;
        self.state = [newth, newthdot];
        self.write_obs(obs);
        Ok(Step { reward: -costs, terminated: false, truncated: false })
    }

    fn render(&self) -> Option<String> {
        let [theta, theta_dot] = self.state;
        let u = self.last_u.map_or("-".to_string(), |u| format!("{u:+.3} N·m"));
        Some(format!(
            "Pendulum theta={:+.3} rad (from upright) theta_dot={theta_dot:+.3} rad/s torque={u}",
            angle_normalize(theta)
        ))
    }

    fn name(&self) -> &str {
        "Pendulum"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic::test_util::{assert_rejects, assert_seeding, reset_obs, step};

    #[test]
    fn seeding_follows_gymnasium() {
        assert_seeding(&mut Pendulum::default());
    }

    #[test]
    fn initial_state_in_range() {
        let mut env = Pendulum::default();
        for seed in 0..200 {
            let obs = reset_obs(&mut env, Some(seed));
            let [th, thdot] = env.state();
            assert!((-PI..PI).contains(&th) && (-1.0..1.0).contains(&thdot), "seed {seed}");
            assert!(env.observation_space().contains_packed(&obs));
        }
    }

    #[test]
    fn invalid_actions_are_errors() {
        assert_rejects(Box::new(Pendulum::default()), &[f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
    }

    #[test]
    fn torque_is_clipped_but_accepted() {
        let mut a = Pendulum::default();
        let mut b = Pendulum::default();
        for env in [&mut a, &mut b] {
            reset_obs(env, Some(0));
            env.set_state([0.3, -0.2]);
        }
        let (oa, sa) = step(&mut a, &[2.0]).unwrap();
        let (ob, sb) = step(&mut b, &[7.5]).unwrap();
        assert_eq!((oa, sa), (ob, sb));
        assert_eq!(a.state(), b.state());
    }

    #[test]
    fn upright_and_still_costs_nothing() {
        let mut env = Pendulum::default();
        reset_obs(&mut env, Some(0));
        env.set_state([2.0 * PI, 0.0]);
        let (obs, s) = step(&mut env, &[0.0]).unwrap();
        assert!(s.reward.abs() < 1e-20, "{}", s.reward);
        assert_eq!(obs[0], 1.0);
    }

    #[test]
    fn speed_is_clipped() {
        let mut env = Pendulum::new(10.0);
        reset_obs(&mut env, Some(0));
        env.set_state([PI / 2.0, 7.99]);
        let (obs, _) = step(&mut env, &[2.0]).unwrap();
        assert_eq!(obs[2], 8.0);
        assert_eq!(env.state()[1], 8.0);
    }
}
