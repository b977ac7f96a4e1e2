//! MountainCar-v0.

use crate::env::{Env, EnvError, EnvRandom, Info, Step, check_len};
use crate::space::{DType, Space};

use super::{discrete_action, f32r, uniform};

pub(crate) const MIN_POSITION: f64 = -1.2;
pub(crate) const MAX_POSITION: f64 = 0.6;
pub(crate) const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.5;
const FORCE: f64 = 0.001;
const GRAVITY: f64 = 0.0025;

/// The mountain car of Moore (1990), following Gymnasium 1.4.0's `MountainCarEnv`
/// (`MountainCar-v0`).
///
/// State `[position, velocity]`: position along the track in Gymnasium's unitless track
/// coordinate (the valley floor is near -0.52, the left wall at -1.2, the goal at 0.5), velocity
/// in track units per step (the time step is 1, there are no seconds), clipped to ±0.07. The hill
/// height is `sin(3 position)`. Actions: 0 push left, 1 no push, 2 push right. Hitting the left
/// wall stops the car.
///
/// Reward -1 per step. The episode terminates when `position >= 0.5` and
/// `velocity >= goal_velocity`; the registry's time limit truncates it at 200 steps. Initial
/// state: position uniform in `[-0.6, -0.4)`, velocity 0.
#[derive(Debug, Clone)]
pub struct MountainCar {
    state: [f64; 2],
    has_state: bool,
    goal_velocity: f64,
    random: EnvRandom,
    observation_space: Space,
    action_space: Space,
}

impl Default for MountainCar {
    fn default() -> Self {
        MountainCar::new(0.0)
    }
}

impl MountainCar {
    /// A mountain car whose goal also requires `velocity >= goal_velocity` (Gymnasium's default 0).
    pub fn new(goal_velocity: f64) -> Self {
        MountainCar {
            state: [0.0; 2],
            has_state: false,
            goal_velocity,
            random: EnvRandom::default(),
            observation_space: Space::box_from_bounds(
                vec![f32r(MIN_POSITION), f32r(-MAX_SPEED)],
                vec![f32r(MAX_POSITION), f32r(MAX_SPEED)],
                DType::F32,
            )
            .expect("valid bounds"),
            action_space: Space::discrete(3),
        }
    }

    /// The internal state `[position, velocity]` (float64).
    pub fn state(&self) -> [f64; 2] {
        self.state
    }

    /// Replaces the internal state, as assigning Gymnasium's `env.unwrapped.state` does.
    pub fn set_state(&mut self, state: [f64; 2]) {
        self.state = state;
        self.has_state = true;
    }

    fn write_obs(&self, obs: &mut [f64]) {
        obs[0] = f32r(self.state[0]);
        obs[1] = f32r(self.state[1]);
    }
}

impl Env for MountainCar {
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], _info: &mut Info) -> Result<(), EnvError> {
        check_len("observation", obs, 2)?;
        let rng = self.random.reseed(seed);
        self.state = [uniform(rng, -0.6, -0.4), 0.0];
        self.has_state = true;
        self.write_obs(obs);
        Ok(())
    }

    fn step(&mut self, action: &[f64], obs: &mut [f64], _info: &mut Info) -> Result<Step, EnvError> {
        let action = discrete_action(action, &self.action_space)?;
        check_len("observation", obs, 2)?;
        if !self.has_state {
            return Err(EnvError::NeedsReset("MountainCar: call reset before step"));
        }
        let [mut position, mut velocity] = self.state;
        velocity += (action as f64 - 1.0) * FORCE + (3.0 * position).cos() * (-GRAVITY);
        velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED);
        position += velocity;
        position = position.clamp(MIN_POSITION, MAX_POSITION);
        if position == MIN_POSITION && velocity < 0.0 {
            velocity = 0.0;
        }
        let terminated = position >= GOAL_POSITION && velocity >= self.goal_velocity;
        self.state = [position, velocity];
        self.write_obs(obs);
        Ok(Step { reward: -1.0, terminated, truncated: false })
    }

    fn render(&self) -> Option<String> {
        let [position, velocity] = self.state;
        Some(format!("MountainCar position={position:+.4} (goal 0.5) velocity={velocity:+.5}"))
    }

    fn name(&self) -> &str {
        "MountainCar"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic::test_util::{assert_rejects, assert_seeding, reset_obs, step};

    #[test]
    fn seeding_follows_gymnasium() {
        assert_seeding(&mut MountainCar::default());
    }

    #[test]
    fn initial_state_in_range() {
        let mut env = MountainCar::default();
        for seed in 0..200 {
            let obs = reset_obs(&mut env, Some(seed));
            let [p, v] = env.state();
            assert!((-0.6..-0.4).contains(&p) && v == 0.0, "seed {seed}: {p} {v}");
            assert!(env.observation_space().contains_packed(&obs));
        }
    }

    #[test]
    fn invalid_actions_are_errors() {
        assert_rejects(Box::new(MountainCar::default()), &[3.0, -1.0, 1.5, f64::NAN]);
    }

    #[test]
    fn left_wall_stops_the_car() {
        let mut env = MountainCar::default();
        reset_obs(&mut env, Some(0));
        env.set_state([-1.19, -0.05]);
        let (obs, s) = step(&mut env, &[0.0]).unwrap();
        assert_eq!(env.state(), [MIN_POSITION, 0.0]);
        assert_eq!(obs, vec![f32r(MIN_POSITION), 0.0]);
        assert_eq!((s.reward, s.terminated), (-1.0, false));
    }

    #[test]
    fn goal_needs_goal_velocity() {
        for (goal_velocity, terminated) in [(0.0, true), (0.06, false)] {
            let mut env = MountainCar::new(goal_velocity);
            reset_obs(&mut env, Some(0));
            env.set_state([0.49, 0.05]);
            let (_, s) = step(&mut env, &[2.0]).unwrap();
            assert_eq!(s.terminated, terminated);
        }
    }
}
