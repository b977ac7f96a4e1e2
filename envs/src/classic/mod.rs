//! Classic control environments with Gymnasium 1.x dynamics: CartPole, Pendulum, MountainCar,
//! MountainCarContinuous and Acrobot.
//!
//! Each port follows Gymnasium 1.4.0's Python source operation by operation, so that the same
//! initial state and actions give the same trajectory (checked against recorded Gymnasium
//! trajectories in `envs/tests/gym_parity.rs`). Internal states are kept as Gymnasium keeps them
//! (float64, except where Gymnasium itself stores float32) and observations are rounded through
//! `f32` where Gymnasium returns float32 arrays.
//!
//! Two numpy details matter for bit-for-bit agreement:
//! - numpy evaluates `x ** 2` on a scalar with the C library's `pow` (`powf` for float32), which is
//!   not always the correctly rounded `x * x`; [`np_pow2`] and [`np_pow2_f32`] call `pow` too.
//! - with NumPy 2's promotion rules (NEP 50) an operation between a float32 scalar and a Python
//!   float is done in float32. Continuous actions are therefore taken as float32 (the action
//!   spaces' dtype), and the float32 arithmetic Gymnasium performs on them is reproduced.
//!
//! Randomness differs from Gymnasium's (PCG-64 instead of numpy's PCG-64 DXSM stream): initial
//! states have Gymnasium's distributions, not its exact samples.

mod acrobot;
mod cartpole;
mod continuous_mountain_car;
mod mountain_car;
mod pendulum;

pub use acrobot::Acrobot;
pub use cartpole::CartPole;
pub use continuous_mountain_car::ContinuousMountainCar;
pub use mountain_car::MountainCar;
pub use pendulum::Pendulum;

use rand::Rng;

use crate::env::{Env, EnvError, EnvRng};
use crate::registry::{EnvSpec, MakeError, OptionSpec, OptionValue, Options, Registry};
use crate::space::Space;

/// The Gymnasium release the ports follow.
pub const GYMNASIUM_VERSION: &str = "1.4.0";

/// Registers the classic control environments.
pub fn register(registry: &mut Registry) {
    let specs = [
        EnvSpec {
            id: "CartPole-v1",
            description: "Balance a pole on a cart by pushing it left or right (Barto, Sutton & Anderson)",
            max_episode_steps: Some(500),
            reward_threshold: Some(475.0),
            options: vec![OptionSpec {
                name: "sutton_barto_reward",
                default: OptionValue::Bool(false),
                doc: "reward 0 per step and -1 on termination instead of +1 per step",
            }],
            entry_point: make_cartpole,
        },
        EnvSpec {
            id: "Pendulum-v1",
            description: "Swing a pendulum up and keep it upright with a bounded torque",
            max_episode_steps: Some(200),
            reward_threshold: None,
            options: vec![OptionSpec {
                name: "g",
                default: OptionValue::Float(10.0),
                doc: "gravitational acceleration in m/s^2",
            }],
            entry_point: make_pendulum,
        },
        EnvSpec {
            id: "MountainCar-v0",
            description: "Drive an underpowered car up a hill by rocking it (discrete push left/none/right)",
            max_episode_steps: Some(200),
            reward_threshold: Some(-110.0),
            options: vec![OptionSpec {
                name: "goal_velocity",
                default: OptionValue::Float(0.0),
                doc: "minimum velocity at the goal position for the episode to terminate",
            }],
            entry_point: make_mountain_car,
        },
        EnvSpec {
            id: "MountainCarContinuous-v0",
            description: "Drive an underpowered car up a hill with a continuous force, paying for effort",
            max_episode_steps: Some(999),
            reward_threshold: Some(90.0),
            options: vec![OptionSpec {
                name: "goal_velocity",
                default: OptionValue::Float(0.0),
                doc: "minimum velocity at the goal position for the episode to terminate",
            }],
            entry_point: make_continuous_mountain_car,
        },
        EnvSpec {
            id: "Acrobot-v1",
            description: "Swing the tip of a two-link pendulum, actuated at the middle joint, above a line",
            max_episode_steps: Some(500),
            reward_threshold: Some(-100.0),
            options: vec![],
            entry_point: make_acrobot,
        },
    ];
    for spec in specs {
        registry.register(spec).expect("builtin ids are valid");
    }
}

fn make_cartpole(o: &Options) -> Result<Box<dyn Env>, MakeError> {
    Ok(Box::new(CartPole::new(o.bool("sutton_barto_reward"))))
}

fn make_pendulum(o: &Options) -> Result<Box<dyn Env>, MakeError> {
    Ok(Box::new(Pendulum::new(finite_option("Pendulum-v1", "g", o.float("g"))?)))
}

fn make_mountain_car(o: &Options) -> Result<Box<dyn Env>, MakeError> {
    let goal = finite_option("MountainCar-v0", "goal_velocity", o.float("goal_velocity"))?;
    Ok(Box::new(MountainCar::new(goal)))
}

fn make_continuous_mountain_car(o: &Options) -> Result<Box<dyn Env>, MakeError> {
    let goal = finite_option("MountainCarContinuous-v0", "goal_velocity", o.float("goal_velocity"))?;
    Ok(Box::new(ContinuousMountainCar::new(goal)))
}

fn make_acrobot(_: &Options) -> Result<Box<dyn Env>, MakeError> {
    Ok(Box::new(Acrobot::new()))
}

fn finite_option(env: &str, option: &str, value: f64) -> Result<f64, MakeError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(MakeError::BadOption {
            env: env.into(),
            option: option.into(),
            value: value.to_string(),
            expected: "a finite float".into(),
        })
    }
}

/// numpy's `uniform(low, high)`: `low + (high - low) * u` with `u` uniform in `[0, 1)`.
pub(crate) fn uniform(rng: &mut EnvRng, low: f64, high: f64) -> f64 {
    low + (high - low) * rng.random::<f64>()
}

/// numpy's `x ** 2` on a float64 scalar, which calls the C library's `pow(x, 2.0)`.
///
/// The exponent goes through [`std::hint::black_box`] so that the compiler cannot rewrite the
/// call into `x * x` (glibc's `pow` differs from the correctly rounded `x * x` by one ulp for
/// about one argument in a thousand).
#[inline]
pub(crate) fn np_pow2(x: f64) -> f64 {
    x.powf(std::hint::black_box(2.0))
}

/// numpy's `x ** 2` on a float32 scalar, which calls the C library's `powf(x, 2.0f)`.
#[inline]
pub(crate) fn np_pow2_f32(x: f32) -> f32 {
    x.powf(std::hint::black_box(2.0))
}

/// Python's and numpy's floating-point `a % b`: the result has the sign of `b`.
#[inline]
pub(crate) fn py_mod(a: f64, b: f64) -> f64 {
    let m = a % b;
    if m != 0.0 { if (b < 0.0) != (m < 0.0) { m + b } else { m } } else { 0.0f64.copysign(b) }
}

/// Rounds to float32, as `np.array(..., dtype=np.float32)` does.
#[inline]
pub(crate) fn f32r(x: f64) -> f64 {
    x as f32 as f64
}

/// The error for an action outside `space` (allocates, but only on this error path).
pub(crate) fn invalid_action(action: &[f64], space: &Space) -> EnvError {
    EnvError::InvalidAction { action: action.to_vec(), space: space.to_string() }
}

/// Validates a one-dimensional continuous action and returns it as float32, the action space's
/// dtype. Out-of-bounds values are accepted (the environments clip them as Gymnasium does); NaN
/// and infinities are not.
pub(crate) fn continuous_action(action: &[f64], space: &Space) -> Result<f32, EnvError> {
    crate::env::check_len("action", action, 1)?;
    let a = action[0];
    if a.is_finite() { Ok(a as f32) } else { Err(invalid_action(action, space)) }
}

/// Validates a `Discrete` action and returns it as an index.
pub(crate) fn discrete_action(action: &[f64], space: &Space) -> Result<usize, EnvError> {
    crate::env::check_len("action", action, 1)?;
    if space.contains_packed(action) { Ok(action[0] as usize) } else { Err(invalid_action(action, space)) }
}

#[cfg(test)]
pub(crate) mod test_util {
    use crate::env::{Env, EnvError, Info};

    /// The observation after `reset(seed)`.
    pub fn reset_obs(env: &mut dyn Env, seed: Option<u64>) -> Vec<f64> {
        let mut obs = vec![0.0; env.observation_space().packed_len()];
        env.reset(seed, &mut obs, &mut Info::new()).expect("reset succeeds");
        obs
    }

    /// The result of one step on a fresh buffer.
    pub fn step(env: &mut dyn Env, action: &[f64]) -> Result<(Vec<f64>, crate::Step), EnvError> {
        let mut obs = vec![0.0; env.observation_space().packed_len()];
        let s = env.step(action, &mut obs, &mut Info::new())?;
        Ok((obs, s))
    }

    /// Asserts that every action in `bad` is rejected with `InvalidAction` and a wrong-length
    /// action with `BufferLength`, and that stepping before `reset` is refused.
    pub fn assert_rejects(mut fresh: Box<dyn Env>, bad: &[f64]) {
        assert!(matches!(step(fresh.as_mut(), &[0.0]), Err(EnvError::NeedsReset(_))));
        reset_obs(fresh.as_mut(), Some(0));
        for &a in bad {
            match step(fresh.as_mut(), &[a]) {
                Err(EnvError::InvalidAction { action, .. }) => assert!(action[0].total_cmp(&a).is_eq()),
                other => panic!("{}: action {a} gave {other:?}", fresh.name()),
            }
        }
        assert!(matches!(step(fresh.as_mut(), &[0.0, 0.0]), Err(EnvError::BufferLength { .. })));
        let mut short = vec![0.0; fresh.observation_space().packed_len() - 1];
        assert!(matches!(
            fresh.step(&[0.0], &mut short, &mut Info::new()),
            Err(EnvError::BufferLength { .. })
        ));
    }

    /// Same seed, same initial observation; different seeds, different ones.
    pub fn assert_seeding(env: &mut dyn Env) {
        let a = reset_obs(env, Some(42));
        let b = reset_obs(env, Some(42));
        let c = reset_obs(env, Some(43));
        assert_eq!(a, b, "{}: same seed", env.name());
        assert_ne!(a, c, "{}: different seeds", env.name());
        // `reset(None)` continues the stream instead of repeating the seeded sample.
        reset_obs(env, Some(42));
        let d = reset_obs(env, None);
        assert_ne!(a, d, "{}: reset(None) after a seed", env.name());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_with_gymnasium_limits_and_thresholds() {
        let mut r = Registry::new();
        register(&mut r);
        let expect = [
            ("Acrobot-v1", 500, Some(-100.0)),
            ("CartPole-v1", 500, Some(475.0)),
            ("MountainCar-v0", 200, Some(-110.0)),
            ("MountainCarContinuous-v0", 999, Some(90.0)),
            ("Pendulum-v1", 200, None),
        ];
        assert_eq!(r.specs().len(), expect.len());
        for (spec, (id, steps, threshold)) in r.specs().iter().zip(expect) {
            assert_eq!(spec.id, id);
            assert_eq!(spec.max_episode_steps, Some(steps));
            assert_eq!(spec.reward_threshold, threshold);
            let env = r.make_with(id, &[]).unwrap();
            assert!(env.observation_space().validate().is_ok());
        }
    }

    #[test]
    fn options_are_typed_and_checked() {
        let mut r = Registry::new();
        register(&mut r);
        assert!(r.make_with("Pendulum-v1", &[("g", OptionValue::Int(9))]).is_ok());
        assert!(r.make_with("Pendulum-v1", &[("g", OptionValue::Float(f64::NAN))]).is_err());
        assert!(r.make_with("CartPole-v1", &[("sutton_barto_reward", OptionValue::Bool(true))]).is_ok());
        assert!(r.make_with("CartPole-v1", &[("sutton_barto_reward", OptionValue::Float(1.0))]).is_err());
        assert!(r.make_with("Acrobot-v1", &[("g", OptionValue::Float(1.0))]).is_err());
    }

    #[test]
    fn numpy_helpers() {
        assert_eq!(py_mod(-1.0, 3.0), 2.0);
        assert_eq!(py_mod(1.0, -3.0), -2.0);
        assert_eq!(py_mod(7.5, 2.5).to_bits(), 0.0f64.to_bits());
        assert_eq!(py_mod(-7.5, 2.5).to_bits(), 0.0f64.to_bits());
        for x in [0.5, -3.0, 1e-3, 123.456] {
            assert!((np_pow2(x) - x * x).abs() <= f64::EPSILON * x * x);
            assert!((np_pow2_f32(x as f32) - (x * x) as f32).abs() <= f32::EPSILON * (x * x) as f32);
        }
    }
}
