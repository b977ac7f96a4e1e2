//! Parity with Python Gymnasium: replays trajectories recorded by `scripts/gen_gym_fixtures.py`
//! (fixtures in `tests/fixtures/gymnasium/<id>.json`) through the Rust ports.
//!
//! Each episode starts from Gymnasium's exact internal state after `reset` (our generator differs
//! from numpy's, so it is set with `set_state`), replays the recorded actions through
//! [`TimeLimit`] with the registry's limit, and requires at every step:
//! - every observation component within 1e-5 (absolute) of Gymnasium's,
//! - the same `terminated` and `truncated` flags,
//! - the same reward: bit-for-bit (`to_bits` equality) for CartPole, MountainCar and Acrobot
//!   (constants) and for MountainCarContinuous (a function of the float32 action and the
//!   termination flag only); within 1e-12 for Pendulum, whose cost is computed from the state
//!   with `sin` and `pow`, so that a different C math library (fixtures recorded with one libm,
//!   test run with another) may change its last bits. Where the fixtures were recorded
//!   (glibc 2.36, x86-64) it is exact too.
//!
//! Floats in the fixtures are strings (Python's shortest round-trip repr) so that they parse
//! exactly. Run with `--nocapture` to see the largest deviations per environment.

use std::fmt::Write as _;

use alignrl_envs::classic::{Acrobot, CartPole, ContinuousMountainCar, MountainCar, Pendulum};
use alignrl_envs::wrappers::TimeLimit;
use alignrl_envs::{Env, Info, Registry};
use serde_json::{Map, Value};

const OBS_TOLERANCE: f64 = 1e-5;
const MIN_STEPS: usize = 1000;

/// A port that can be rebuilt from Gymnasium's keyword arguments and put into a recorded state.
trait Replayable: Env + Sized {
    fn build(kwargs: &Map<String, Value>) -> Self;
    fn load_state(&mut self, state: &[f64]);
}

fn kwarg_f64(kwargs: &Map<String, Value>, name: &str, default: f64) -> f64 {
    kwargs.get(name).map_or(default, |v| v.as_f64().expect("numeric kwarg"))
}

fn only_kwargs(kwargs: &Map<String, Value>, known: &[&str]) {
    for k in kwargs.keys() {
        assert!(known.contains(&k.as_str()), "fixture uses kwarg {k:?} that the test does not know");
    }
}

impl Replayable for CartPole {
    fn build(kwargs: &Map<String, Value>) -> Self {
        only_kwargs(kwargs, &["sutton_barto_reward"]);
        CartPole::new(kwargs.get("sutton_barto_reward").is_some_and(|v| v.as_bool().expect("bool kwarg")))
    }
    fn load_state(&mut self, s: &[f64]) {
        self.set_state(s.try_into().expect("CartPole state has 4 values"));
    }
}

impl Replayable for Pendulum {
    fn build(kwargs: &Map<String, Value>) -> Self {
        only_kwargs(kwargs, &["g"]);
        Pendulum::new(kwarg_f64(kwargs, "g", 10.0))
    }
    fn load_state(&mut self, s: &[f64]) {
        self.set_state(s.try_into().expect("Pendulum state has 2 values"));
    }
}

impl Replayable for MountainCar {
    fn build(kwargs: &Map<String, Value>) -> Self {
        only_kwargs(kwargs, &["goal_velocity"]);
        MountainCar::new(kwarg_f64(kwargs, "goal_velocity", 0.0))
    }
    fn load_state(&mut self, s: &[f64]) {
        self.set_state(s.try_into().expect("MountainCar state has 2 values"));
    }
}

impl Replayable for ContinuousMountainCar {
    fn build(kwargs: &Map<String, Value>) -> Self {
        only_kwargs(kwargs, &["goal_velocity"]);
        ContinuousMountainCar::new(kwarg_f64(kwargs, "goal_velocity", 0.0))
    }
    fn load_state(&mut self, s: &[f64]) {
        self.set_state(s.try_into().expect("MountainCarContinuous state has 2 values"));
    }
}

impl Replayable for Acrobot {
    fn build(kwargs: &Map<String, Value>) -> Self {
        only_kwargs(kwargs, &[]);
        Acrobot::new()
    }
    fn load_state(&mut self, s: &[f64]) {
        self.set_state(s.try_into().expect("Acrobot state has 4 values"));
    }
}

/// How rewards are compared.
#[derive(Clone, Copy)]
enum RewardCheck {
    Exact,
    Within(f64),
}

fn floats(v: &Value, what: &str) -> Vec<f64> {
    v.as_array().unwrap_or_else(|| panic!("{what} is not an array")).iter().map(|x| float(x, what)).collect()
}

/// A float written as a string (the fixtures' exact encoding: serde_json's default number parser
/// can be one ulp off, `str::parse` is correctly rounded); integers are accepted as numbers.
fn float(x: &Value, what: &str) -> f64 {
    match x {
        Value::String(s) => s.parse().unwrap_or_else(|e| panic!("{what}: {s:?}: {e}")),
        Value::Number(n) if n.is_i64() => n.as_i64().expect("integer") as f64,
        other => panic!("{what}: expected a float string or an integer, got {other}"),
    }
}

fn bools(v: &Value, what: &str) -> Vec<bool> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what} is not an array"))
        .iter()
        .map(|x| x.as_bool().unwrap_or_else(|| panic!("{what} holds a non-bool")))
        .collect()
}

/// Replays every episode of the fixture for `id`; returns a summary line.
fn replay<E: Replayable>(id: &str, rewards: RewardCheck) -> String {
    let path = format!("{}/tests/fixtures/gymnasium/{id}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let data: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(data["id"], id);
    assert_eq!(
        data["gymnasium_version"].as_str(),
        Some(alignrl_envs::classic::GYMNASIUM_VERSION),
        "{id}: fixture recorded with another Gymnasium than the ports follow"
    );
    let limit = Registry::builtin().spec(id).expect("registered").max_episode_steps.expect("has a limit");
    assert_eq!(data["max_episode_steps"].as_u64(), Some(limit), "{id}: time limit differs from Gymnasium's");

    let episodes = data["episodes"].as_array().expect("episodes");
    let (mut steps, mut identical, mut max_obs_err, mut max_reward_err) = (0usize, 0usize, 0.0f64, 0.0f64);
    let mut worst = String::new();
    let mut info = Info::new();
    for (ei, ep) in episodes.iter().enumerate() {
        let kwargs = ep["kwargs"].as_object().expect("kwargs");
        let policy = ep["policy"].as_str().unwrap_or("?");
        let mut env = TimeLimit::new(E::build(kwargs), limit);
        let mut obs = vec![0.0; env.observation_space().packed_len()];
        env.reset(Some(ei as u64), &mut obs, &mut info).expect("reset");
        env.inner_mut().load_state(&floats(&ep["initial_state"], "initial_state"));

        let actions = ep["actions"].as_array().expect("actions");
        let want_obs = ep["obs"].as_array().expect("obs");
        let want_rewards = floats(&ep["rewards"], "rewards");
        let want_term = bools(&ep["terminated"], "terminated");
        let want_trunc = bools(&ep["truncated"], "truncated");
        assert!(
            [want_obs.len(), want_rewards.len(), want_term.len(), want_trunc.len()]
                .iter()
                .all(|&n| n == actions.len()),
            "{id} episode {ei}: per-step arrays differ in length"
        );
        for (t, action) in actions.iter().enumerate() {
            let at = || format!("{id} episode {ei} ({policy}, kwargs {kwargs:?}) step {t}");
            let a = float(action, "action");
            info.clear();
            let s =
                env.step(&[a], &mut obs, &mut info).unwrap_or_else(|e| panic!("{}: step failed: {e}", at()));
            let want = floats(&want_obs[t], "obs");
            assert_eq!(want.len(), obs.len(), "{}: observation length", at());
            identical += usize::from(obs.iter().zip(&want).all(|(g, e)| g.to_bits() == e.to_bits()));
            for (j, (&got, &exp)) in obs.iter().zip(&want).enumerate() {
                let err = (got - exp).abs();
                assert!(
                    err <= OBS_TOLERANCE,
                    "{}: observation[{j}] = {got:e}, Gymnasium {exp:e} (|diff| {err:e} > {OBS_TOLERANCE:e})",
                    at()
                );
                if err > max_obs_err {
                    max_obs_err = err;
                    worst = format!("episode {ei} step {t} observation[{j}]");
                }
            }
            let r_err = (s.reward - want_rewards[t]).abs();
            max_reward_err = max_reward_err.max(r_err);
            match rewards {
                RewardCheck::Exact => assert!(
                    s.reward.to_bits() == want_rewards[t].to_bits(),
                    "{}: reward {:e}, Gymnasium {:e}",
                    at(),
                    s.reward,
                    want_rewards[t]
                ),
                RewardCheck::Within(tol) => assert!(
                    r_err <= tol,
                    "{}: reward {:e}, Gymnasium {:e} (|diff| {r_err:e} > {tol:e})",
                    at(),
                    s.reward,
                    want_rewards[t]
                ),
            }
            assert_eq!(s.terminated, want_term[t], "{}: terminated", at());
            assert_eq!(s.truncated, want_trunc[t], "{}: truncated", at());
            steps += 1;
        }
    }
    assert!(steps >= MIN_STEPS, "{id}: only {steps} steps checked, want at least {MIN_STEPS}");
    let mut line = String::new();
    write!(
        line,
        "{id}: {} episodes, {steps} steps ({identical} with bit-identical observations); \
         max |obs error| {max_obs_err:e}{}; max |reward error| {max_reward_err:e}",
        episodes.len(),
        if worst.is_empty() { String::new() } else { format!(" ({worst})") },
    )
    .unwrap();
    println!("{line}");
    line
}

#[test]
fn cartpole_matches_gymnasium() {
    replay::<CartPole>("CartPole-v1", RewardCheck::Exact);
}

#[test]
fn pendulum_matches_gymnasium() {
    replay::<Pendulum>("Pendulum-v1", RewardCheck::Within(1e-12));
}

#[test]
fn mountain_car_matches_gymnasium() {
    replay::<MountainCar>("MountainCar-v0", RewardCheck::Exact);
}

#[test]
fn continuous_mountain_car_matches_gymnasium() {
    replay::<ContinuousMountainCar>("MountainCarContinuous-v0", RewardCheck::Exact);
}

#[test]
fn acrobot_matches_gymnasium() {
    replay::<Acrobot>("Acrobot-v1", RewardCheck::Exact);
}

#[test]
fn registry_builds_every_fixture_env() {
    for id in ["CartPole-v1", "Pendulum-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Acrobot-v1"] {
        let env = alignrl_envs::make(id).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert!(!env.name().is_empty());
    }
}
