//! MountainCarContinuous-v0.

use crate::env::{Env, EnvError, EnvRandom, Info, Step, check_len};
use crate::space::{DType, Space};

use super::mountain_car::{MAX_POSITION, MAX_SPEED, MIN_POSITION};
use super::{continuous_action, f32r, np_pow2, uniform};

const MIN_ACTION: f64 = -1.0;
const MAX_ACTION: f64 = 1.0;
const GOAL_POSITION: f64 = 0.45;
const POWER: f64 = 0.0015;

/// The mountain car with a continuous force, following Gymnasium 1.4.0's
/// `Continuous_MountainCarEnv` (`MountainCarContinuous-v0`).
///
/// State `[position, velocity]` in the same unitless track coordinates as [`super::MountainCar`]
/// (left wall -1.2, goal 0.45; velocity in track units per step, clipped to ±0.07). The action is
/// a force in `[-1, 1]` (larger values are clipped), scaled by 0.0015.
///
/// Reward: `-0.1 action²` per step (of the unclipped action), plus 100 on reaching the goal
/// (`position >= 0.45` and `velocity >= goal_velocity`), which terminates the episode; the
/// registry's time limit truncates it at 999 steps. Initial state: position uniform in
/// `[-0.6, -0.4)`, velocity 0.
///
/// Like Gymnasium, the state is float64 after `reset` and is stored as float32 after every step;
/// the float32/float64 mix of Gymnasium's arithmetic (numpy's NEP 50 promotion with a float32
/// action) is reproduced so that trajectories agree to the bit.
#[derive(Debug, Clone)]
pub struct ContinuousMountainCar {
    state: [f64; 2],
    /// Whether Gymnasium would hold the state as a float32 array (after a step) rather than a
    /// float64 one (after reset).
    state_is_f32: bool,
    has_state: bool,
    goal_velocity: f64,
    random: EnvRandom,
    observation_space: Space,
    action_space: Space,
}

impl Default for ContinuousMountainCar {
    fn default() -> Self {
        ContinuousMountainCar::new(0.0)
    }
}

impl ContinuousMountainCar {
    /// A continuous mountain car whose goal also requires `velocity >= goal_velocity`
    /// (Gymnasium's default 0).
    pub fn new(goal_velocity: f64) -> Self {
        ContinuousMountainCar {
            state: [0.0; 2],
            state_is_f32: false,
            has_state: false,
            goal_velocity,
            random: EnvRandom::default(),
            observation_space: Space::box_from_bounds(
                vec![f32r(MIN_POSITION), f32r(-MAX_SPEED)],
                vec![f32r(MAX_POSITION), f32r(MAX_SPEED)],
                DType::F32,
            )
            .expect("valid bounds"),
            action_space: Space::uniform_box(MIN_ACTION, MAX_ACTION, &[1], DType::F32),
        }
    }

    /// The internal state `[position, velocity]`.
    pub fn state(&self) -> [f64; 2] {
        self.state
    }

    /// Replaces the internal state, held as float64 as right after `reset` (like assigning a
    /// float64 array to Gymnasium's `env.unwrapped.state`).
    pub fn set_state(&mut self, state: [f64; 2]) {
        self.state = state;
        self.state_is_f32 = false;
        self.has_state = true;
    }

    fn write_obs(&self, obs: &mut [f64]) {
        obs[0] = f32r(self.state[0]);
        obs[1] = f32r(self.state[1]);
    }
}

/// A scalar as Gymnasium's Python code holds it, for numpy's promotion rules (NEP 50): a Python
/// float is "weak" and takes a numpy scalar's type; float32 with float64 gives float64.
#[derive(Debug, Clone, Copy)]
enum Num {
    Py(f64),
    F64(f64),
    F32(f32),
}

impl Num {
    fn value(self) -> f64 {
        match self {
            Num::Py(x) | Num::F64(x) => x,
            Num::F32(x) => x as f64,
        }
    }

    /// Both operands in the common type: `Ok` for float32, `Err` for float64 (`is_py` when both
    /// are Python floats).
    fn promote(self, other: Num) -> Result<(f32, f32), (f64, f64, bool)> {
        match (self, other) {
            (Num::F32(a), Num::F32(b)) => Ok((a, b)),
            (Num::F32(a), Num::Py(b)) => Ok((a, b as f32)),
            (Num::Py(a), Num::F32(b)) => Ok((a as f32, b)),
            (Num::Py(a), Num::Py(b)) => Err((a, b, true)),
            (a, b) => Err((a.value(), b.value(), false)),
        }
    }

    fn arith(self, other: Num, f64_op: fn(f64, f64) -> f64, f32_op: fn(f32, f32) -> f32) -> Num {
        match self.promote(other) {
            Ok((a, b)) => Num::F32(f32_op(a, b)),
            Err((a, b, true)) => Num::Py(f64_op(a, b)),
            Err((a, b, false)) => Num::F64(f64_op(a, b)),
        }
    }

    fn add(self, other: Num) -> Num {
        self.arith(other, |a, b| a + b, |a, b| a + b)
    }

    fn sub(self, other: Num) -> Num {
        self.arith(other, |a, b| a - b, |a, b| a - b)
    }

    fn mul(self, other: Num) -> Num {
        self.arith(other, |a, b| a * b, |a, b| a * b)
    }

    fn cmp(self, other: Num) -> Option<std::cmp::Ordering> {
        match self.promote(other) {
            Ok((a, b)) => a.partial_cmp(&b),
            Err((a, b, _)) => a.partial_cmp(&b),
        }
    }

    fn gt(self, other: Num) -> bool {
        self.cmp(other).is_some_and(|o| o.is_gt())
    }

    fn lt(self, other: Num) -> bool {
        self.cmp(other).is_some_and(|o| o.is_lt())
    }

    fn ge(self, other: Num) -> bool {
        self.cmp(other).is_some_and(|o| o.is_ge())
    }

    fn eq(self, other: Num) -> bool {
        self.cmp(other).is_some_and(|o| o.is_eq())
    }
}

impl Env for ContinuousMountainCar {
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
        self.state_is_f32 = false;
        self.has_state = true;
        self.write_obs(obs);
        Ok(())
    }

    fn step(&mut self, action: &[f64], obs: &mut [f64], _info: &mut Info) -> Result<Step, EnvError> {
        let a = continuous_action(action, &self.action_space)?;
        check_len("observation", obs, 2)?;
        if !self.has_state {
            return Err(EnvError::NeedsReset("MountainCarContinuous: call reset before step"));
        }
        let (mut position, mut velocity) = if self.state_is_f32 {
            (Num::F32(self.state[0] as f32), Num::F32(self.state[1] as f32))
        } else {
            (Num::F64(self.state[0]), Num::F64(self.state[1]))
        };
        // Python's min(max(a, -1.0), 1.0) keeps the float32 action unless it is out of bounds.
        let force = if (a as f64) < MIN_ACTION {
            Num::Py(MIN_ACTION)
        } else if (a as f64) > MAX_ACTION {
            Num::Py(MAX_ACTION)
        } else {
            Num::F32(a)
        };
        let slope = Num::Py(0.0025 * Num::Py(3.0).mul(position).value().cos());
        velocity = velocity.add(force.mul(Num::Py(POWER)).sub(slope));
        if velocity.gt(Num::Py(MAX_SPEED)) {
            velocity = Num::Py(MAX_SPEED);
        }
        if velocity.lt(Num::Py(-MAX_SPEED)) {
            velocity = Num::Py(-MAX_SPEED);
        }
        position = position.add(velocity);
        if position.gt(Num::Py(MAX_POSITION)) {
            position = Num::Py(MAX_POSITION);
        }
        if position.lt(Num::Py(MIN_POSITION)) {
            position = Num::Py(MIN_POSITION);
        }
        if position.eq(Num::Py(MIN_POSITION)) && velocity.lt(Num::Py(0.0)) {
            velocity = Num::Py(0.0);
        }
        let terminated = position.ge(Num::Py(GOAL_POSITION)) && velocity.ge(Num::Py(self.goal_velocity));
        let reward = if terminated { 100.0 } else { 0.0 } - np_pow2(a as f64) * 0.1;
        self.state = [f32r(position.value()), f32r(velocity.value())];
        self.state_is_f32 = true;
        self.write_obs(obs);
        Ok(Step { reward, terminated, truncated: false })
    }

    fn render(&self) -> Option<String> {
        let [position, velocity] = self.state;
        Some(format!("MountainCarContinuous position={position:+.4} (goal 0.45) velocity={velocity:+.5}"))
    }

    fn name(&self) -> &str {
        "MountainCarContinuous"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic::test_util::{assert_rejects, assert_seeding, reset_obs, step};

    #[test]
    fn seeding_follows_gymnasium() {
        assert_seeding(&mut ContinuousMountainCar::default());
    }

    #[test]
    fn initial_state_in_range() {
        let mut env = ContinuousMountainCar::default();
        for seed in 0..200 {
            let obs = reset_obs(&mut env, Some(seed));
            let [p, v] = env.state();
            assert!((-0.6..-0.4).contains(&p) && v == 0.0, "seed {seed}: {p} {v}");
            assert!(env.observation_space().contains_packed(&obs));
        }
    }

    #[test]
    fn invalid_actions_are_errors() {
        assert_rejects(
            Box::new(ContinuousMountainCar::default()),
            &[f64::NAN, f64::INFINITY, f64::NEG_INFINITY],
        );
    }

    #[test]
    fn force_is_clipped_but_effort_is_not() {
        let mut a = ContinuousMountainCar::default();
        let mut b = ContinuousMountainCar::default();
        for env in [&mut a, &mut b] {
            reset_obs(env, Some(0));
            env.set_state([-0.5, 0.01]);
        }
        let (oa, sa) = step(&mut a, &[-1.0]).unwrap();
        let (ob, sb) = step(&mut b, &[-3.0]).unwrap();
        // Equal up to float32 rounding: an in-bounds force is scaled in float32, a clipped one
        // in float64, as in Gymnasium.
        for (x, y) in oa.iter().zip(&ob) {
            assert!((x - y).abs() < 1e-9, "{oa:?} {ob:?}");
        }
        assert_eq!(sa.reward, -0.1);
        assert_eq!(sb.reward, -(9.0 * 0.1));
    }

    #[test]
    fn state_becomes_float32_after_a_step() {
        let mut env = ContinuousMountainCar::default();
        reset_obs(&mut env, Some(5));
        for _ in 0..3 {
            let (obs, _) = step(&mut env, &[0.3]).unwrap();
            assert_eq!(env.state().to_vec(), obs);
        }
    }

    #[test]
    fn speed_is_clipped_and_goal_pays() {
        let mut env = ContinuousMountainCar::default();
        reset_obs(&mut env, Some(0));
        env.set_state([0.4, 0.0695]);
        let (obs, s) = step(&mut env, &[1.0]).unwrap();
        assert_eq!(obs[1], f32r(MAX_SPEED));
        assert!(s.terminated);
        assert_eq!(s.reward, 100.0 - 0.1);
    }
}
