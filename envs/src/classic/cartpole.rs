//! CartPole-v1.

use crate::env::{Env, EnvError, EnvRandom, Info, Step, check_len};
use crate::space::{DType, Space};

use super::{discrete_action, f32r, uniform};

const GRAVITY: f64 = 9.8;
const MASSCART: f64 = 1.0;
const MASSPOLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASSPOLE + MASSCART;
const LENGTH: f64 = 0.5;
const POLEMASS_LENGTH: f64 = MASSPOLE * LENGTH;
const FORCE_MAG: f64 = 10.0;
const TAU: f64 = 0.02;
const THETA_THRESHOLD_RADIANS: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
const X_THRESHOLD: f64 = 2.4;

/// The cart-pole of Barto, Sutton and Anderson (1983), following Gymnasium 1.4.0's `CartPoleEnv`
/// (`CartPole-v1`).
///
/// State `[x, x_dot, theta, theta_dot]`: cart position in metres, cart velocity in m/s, pole
/// angle in radians from upright and its angular velocity in rad/s. Each
/// step applies a force of 10 N to the left (action 0) or right (action 1) and advances 0.02 s
/// with explicit Euler. The episode terminates when `|x| > 2.4` m or `|theta| > 12°`; the
/// registry's time limit truncates it at 500 steps.
///
/// Rewards: +1 per step including the terminating one; steps after termination (which Gymnasium
/// allows, with a warning) give 0. With `sutton_barto_reward`, 0 per step and -1 from termination
/// on. Initial state: each component uniform in `[-0.05, 0.05)`.
#[derive(Debug, Clone)]
pub struct CartPole {
    state: [f64; 4],
    has_state: bool,
    steps_beyond_terminated: Option<u64>,
    sutton_barto_reward: bool,
    random: EnvRandom,
    observation_space: Space,
    action_space: Space,
}

impl Default for CartPole {
    fn default() -> Self {
        CartPole::new(false)
    }
}

impl CartPole {
    /// A cart-pole; `sutton_barto_reward` selects the original reward (0 per step, -1 at the end).
    pub fn new(sutton_barto_reward: bool) -> Self {
        let high =
            [f32r(X_THRESHOLD * 2.0), f64::INFINITY, f32r(THETA_THRESHOLD_RADIANS * 2.0), f64::INFINITY];
        CartPole {
            state: [0.0; 4],
            has_state: false,
            steps_beyond_terminated: None,
            sutton_barto_reward,
            random: EnvRandom::default(),
            observation_space: Space::box_from_bounds(high.map(|h| -h).to_vec(), high.to_vec(), DType::F32)
                .expect("valid bounds"),
            action_space: Space::discrete(2),
        }
    }

    /// The internal state `[x, x_dot, theta, theta_dot]` (float64, unrounded).
    pub fn state(&self) -> [f64; 4] {
        self.state
    }

    /// Replaces the internal state, as assigning Gymnasium's `env.unwrapped.state` does (the
    /// termination bookkeeping is kept). Also allows `step` without a prior `reset`.
    pub fn set_state(&mut self, state: [f64; 4]) {
        self.state = state;
        self.has_state = true;
    }

    fn write_obs(&self, obs: &mut [f64]) {
        for (o, &s) in obs.iter_mut().zip(&self.state) {
            *o = f32r(s);
        }
    }
}

impl Env for CartPole {
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], _info: &mut Info) -> Result<(), EnvError> {
        check_len("observation", obs, 4)?;
        let rng = self.random.reseed(seed);
        for s in &mut self.state {
            *s = uniform(rng, -0.05, 0.05);
        }
        self.steps_beyond_terminated = None;
        self.has_state = true;
        self.write_obs(obs);
        Ok(())
    }

    fn step(&mut self, action: &[f64], obs: &mut [f64], _info: &mut Info) -> Result<Step, EnvError> {
        let action = discrete_action(action, &self.action_space)?;
        check_len("observation", obs, 4)?;
        if !self.has_state {
            return Err(EnvError::NeedsReset("CartPole: call reset before step"));
        }
        let [mut x, mut x_dot, mut theta, mut theta_dot] = self.state;
        let force = if action == 1 { FORCE_MAG } else { -FORCE_MAG };
        let costheta = theta.cos();
        let sintheta = theta.sin();
        let temp = (force + POLEMASS_LENGTH * (theta_dot * theta_dot) * sintheta) / TOTAL_MASS;
        let thetaacc = (GRAVITY * sintheta - costheta * temp)
            / (LENGTH * (4.0 / 3.0 - MASSPOLE * (costheta * costheta) / TOTAL_MASS));
        let xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS;
        x += TAU * x_dot;
        x_dot += TAU * xacc;
        theta += TAU * theta_dot;
        theta_dot += TAU * thetaacc;
        self.state = [x, x_dot, theta, theta_dot];

        // Gymnasium's four comparisons, kept literally (a NaN state does not terminate).
        #[allow(clippy::manual_range_contains)]
        let terminated = x < -X_THRESHOLD
            || x > X_THRESHOLD
            || theta < -THETA_THRESHOLD_RADIANS
            || theta > THETA_THRESHOLD_RADIANS;
        let sb = self.sutton_barto_reward;
        let reward = if !terminated {
            if sb { 0.0 } else { 1.0 }
        } else if let Some(n) = self.steps_beyond_terminated.as_mut() {
            *n += 1;
            if sb { -1.0 } else { 0.0 }
        } else {
            self.steps_beyond_terminated = Some(0);
            if sb { -1.0 } else { 1.0 }
        };
        self.write_obs(obs);
        Ok(Step { reward, terminated, truncated: false })
    }

    fn render(&self) -> Option<String> {
        let [x, x_dot, theta, theta_dot] = self.state;
        Some(format!(
            "CartPole x={x:+.3} m x_dot={x_dot:+.3} m/s theta={:+.2}° theta_dot={theta_dot:+.3} rad/s",
            theta.to_degrees()
        ))
    }

    fn name(&self) -> &str {
        "CartPole"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic::test_util::{assert_rejects, assert_seeding, reset_obs, step};

    #[test]
    fn seeding_follows_gymnasium() {
        assert_seeding(&mut CartPole::default());
    }

    #[test]
    fn initial_state_in_range() {
        let mut env = CartPole::default();
        for seed in 0..200 {
            let obs = reset_obs(&mut env, Some(seed));
            for (s, o) in env.state().iter().zip(&obs) {
                assert!((-0.05..0.05).contains(s), "seed {seed}: {s}");
                assert_eq!(*o, f32r(*s));
            }
            assert!(env.observation_space().contains_packed(&obs));
        }
    }

    #[test]
    fn invalid_actions_are_errors() {
        assert_rejects(Box::new(CartPole::default()), &[2.0, -1.0, 0.5, f64::NAN, f64::INFINITY]);
    }

    #[test]
    fn stepping_past_termination_gives_zero_reward() {
        for (sb, first, after) in [(false, 1.0, 0.0), (true, -1.0, -1.0)] {
            let mut env = CartPole::new(sb);
            reset_obs(&mut env, Some(0));
            env.set_state([2.39, 1.0, 0.0, 0.0]);
            let (_, s) = step(&mut env, &[1.0]).unwrap();
            assert!(s.terminated);
            assert_eq!(s.reward, first);
            for _ in 0..3 {
                let (_, s) = step(&mut env, &[1.0]).unwrap();
                assert!(s.terminated);
                assert_eq!(s.reward, after);
            }
            // A new episode starts the bookkeeping afresh.
            reset_obs(&mut env, Some(1));
            let (_, s) = step(&mut env, &[0.0]).unwrap();
            assert!(!s.terminated);
            assert_eq!(s.reward, if sb { 0.0 } else { 1.0 });
        }
    }

    #[test]
    fn pushes_move_the_cart() {
        let mut env = CartPole::default();
        reset_obs(&mut env, Some(3));
        env.set_state([0.0; 4]);
        let (obs, _) = step(&mut env, &[1.0]).unwrap();
        assert_eq!(obs[0], 0.0);
        assert!(obs[1] > 0.0 && obs[3] < 0.0, "{obs:?}");
    }
}
