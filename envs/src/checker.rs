//! `check_env`: the checks of Gymnasium's `check_env`, returning readable failures.
//!
//! What is checked (each failure names its check):
//! - `spaces`: both spaces are internally valid; a `Box` action space is bounded.
//! - `reset`: reset neither panics nor errors, writes every observation slot, and the observation
//!   is finite and inside the observation space.
//! - `step`: the same for a rollout of random actions; rewards and info values are finite.
//! - `seed_determinism`: the same seed and actions give a bit-identical trajectory.
//! - `step_determinism`: replaying the recorded actions after re-seeding reproduces every step.
//! - `seed_effect` (warning): different seeds all gave the same trajectory (fine for an env with
//!   deterministic start and dynamics, suspicious otherwise).
//! - `invalid_action`: an action outside the space gives `Err`, not a panic (a silent `Ok` is a
//!   warning, as Gymnasium's own envs assert instead).
//! - `buffer_length`: a wrongly sized observation buffer gives `Err`, not a panic (warning).

use std::panic::{AssertUnwindSafe, catch_unwind};

use rand::SeedableRng;

use crate::env::{Env, EnvRng, Info, Step};
use crate::space::Space;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The environment breaks the API contract.
    Error,
    /// Suspicious but allowed.
    Warning,
}

/// One problem found by [`check_env`].
#[derive(Debug, Clone, PartialEq)]
pub struct CheckFailure {
    /// Which check failed (see the module docs).
    pub check: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, readable.
    pub message: String,
}

impl std::fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev} [{}]: {}", self.check, self.message)
    }
}

/// Settings of [`check_env_with`].
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Steps per checked rollout.
    pub steps: usize,
    /// Seed of the checker's own action sampler.
    pub action_seed: u64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions { steps: 200, action_seed: 0 }
    }
}

/// Runs every check with default settings. An env passes when no failure has
/// [`Severity::Error`] (see [`errors_only`]).
pub fn check_env(env: &mut dyn Env) -> Vec<CheckFailure> {
    check_env_with(env, &CheckOptions::default())
}

/// Keeps the errors of a check report.
pub fn errors_only(report: &[CheckFailure]) -> Vec<&CheckFailure> {
    report.iter().filter(|f| f.severity == Severity::Error).collect()
}

#[derive(Debug, Clone, PartialEq)]
struct Record {
    obs: Vec<u64>,
    steps: Vec<(u64, bool, bool)>,
}

struct Checker<'a> {
    env: &'a mut dyn Env,
    out: Vec<CheckFailure>,
    obs_space: Space,
    act_space: Space,
}

impl Checker<'_> {
    fn fail(&mut self, check: &'static str, message: String) {
        self.out.push(CheckFailure { check, severity: Severity::Error, message });
    }
    fn warn(&mut self, check: &'static str, message: String) {
        self.out.push(CheckFailure { check, severity: Severity::Warning, message });
    }

    /// Checks one observation; returns false (after reporting) when it is bad.
    fn check_obs(&mut self, check: &'static str, when: &str, obs: &[f64]) -> bool {
        if let Some(i) = obs.iter().position(|x| x.is_nan()) {
            self.fail(
                check,
                format!(
                    "{when}: observation slot {i} is NaN or was never written (the observation space \
                     {} has {} slots; does the env write fewer?)",
                    self.obs_space,
                    obs.len()
                ),
            );
            return false;
        }
        if let Some(i) = obs.iter().position(|x| !x.is_finite()) {
            self.fail(check, format!("{when}: observation slot {i} is {}", obs[i]));
            return false;
        }
        if !self.obs_space.contains_packed(obs) {
            self.fail(
                check,
                format!("{when}: observation {obs:?} is not in the observation space {}", self.obs_space),
            );
            return false;
        }
        true
    }

    fn check_info(&mut self, check: &'static str, when: &str, info: &Info) {
        let bad: Vec<String> =
            info.iter().filter(|(_, v)| !v.is_finite()).map(|(k, v)| format!("{k} = {v}")).collect();
        if !bad.is_empty() {
            self.fail(check, format!("{when}: info has non-finite values: {}", bad.join(", ")));
        }
    }

    /// Resets with `seed` and runs `actions`; `None` when a call failed (already reported).
    fn rollout(&mut self, seed: u64, actions: &[Vec<f64>], check: &'static str) -> Option<Record> {
        let n = self.obs_space.packed_len();
        let mut obs = vec![f64::NAN; n];
        let mut info = Info::new();
        let mut rec = Record { obs: Vec::new(), steps: Vec::new() };
        match guarded(|| self.env.reset(Some(seed), &mut obs, &mut info)) {
            Err(p) => {
                self.fail(check, format!("reset(seed={seed}) panicked: {p}"));
                return None;
            }
            Ok(Err(e)) => {
                self.fail(check, format!("reset(seed={seed}) returned an error: {e}"));
                return None;
            }
            Ok(Ok(())) => {}
        }
        if !self.check_obs(check, &format!("reset(seed={seed})"), &obs) {
            return None;
        }
        self.check_info(check, &format!("reset(seed={seed})"), &info);
        rec.obs.extend(obs.iter().map(|x| x.to_bits()));
        for (t, a) in actions.iter().enumerate() {
            obs.fill(f64::NAN);
            info.clear();
            let res = guarded(|| self.env.step(a, &mut obs, &mut info));
            let when = format!("step {t} after reset(seed={seed}), action {a:?}");
            let s: Step = match res {
                Err(p) => {
                    self.fail(check, format!("{when} panicked: {p}"));
                    return None;
                }
                Ok(Err(e)) => {
                    self.fail(check, format!("{when} returned an error for a valid action: {e}"));
                    return None;
                }
                Ok(Ok(s)) => s,
            };
            if !self.check_obs(check, &when, &obs) {
                return None;
            }
            if !s.reward.is_finite() {
                self.fail(check, format!("{when}: reward is {}", s.reward));
                return None;
            }
            self.check_info(check, &when, &info);
            rec.obs.extend(obs.iter().map(|x| x.to_bits()));
            rec.steps.push((s.reward.to_bits(), s.terminated, s.truncated));
            if s.done() {
                break;
            }
        }
        Some(rec)
    }
}

/// Runs every check with explicit settings.
pub fn check_env_with(env: &mut dyn Env, opts: &CheckOptions) -> Vec<CheckFailure> {
    let obs_space = env.observation_space().clone();
    let act_space = env.action_space().clone();
    let mut c = Checker { env, out: Vec::new(), obs_space, act_space };

    // spaces
    if let Err(e) = c.obs_space.validate() {
        c.fail("spaces", format!("observation space {}: {e}", c.obs_space));
    }
    if let Err(e) = c.act_space.validate() {
        c.fail("spaces", format!("action space {}: {e}", c.act_space));
    }
    if matches!(c.act_space, Space::Box(_)) && !c.act_space.is_bounded() {
        c.fail("spaces", format!("the Box action space {} must be bounded", c.act_space));
    }
    if c.out.iter().any(|f| f.severity == Severity::Error) {
        return c.out;
    }

    // Actions from the checker's own generator, identical for every rollout.
    let mut rng = EnvRng::seed_from_u64(opts.action_seed);
    let actions: Vec<Vec<f64>> = (0..opts.steps)
        .map(|_| {
            let mut a = vec![0.0; c.act_space.packed_len()];
            c.act_space.sample_packed(&mut rng, &mut a);
            a
        })
        .collect();

    let Some(first) = c.rollout(123, &actions, "step") else {
        return c.out;
    };
    let Some(again) = c.rollout(123, &actions, "seed_determinism") else {
        return c.out;
    };
    if first != again {
        let t = first.steps.iter().zip(&again.steps).position(|(a, b)| a != b);
        let obs_diff = first.obs.iter().zip(&again.obs).position(|(a, b)| a != b);
        c.fail(
            "seed_determinism",
            format!(
                "reset(seed=123) twice with the same actions gave different trajectories \
                 (first differing observation slot {obs_diff:?}, first differing step {t:?}, lengths {} vs {}): \
                 the env's randomness is not fully derived from the seed",
                first.steps.len(),
                again.steps.len()
            ),
        );
    }
    // Step determinism: the same seed reproduces every step of the recorded rollout even after
    // another episode has run in between.
    let _ = c.rollout(7, &actions, "step");
    if let Some(third) = c.rollout(123, &actions, "step_determinism")
        && third != first
    {
        c.fail(
            "step_determinism",
            "re-seeding with 123 after another episode did not reproduce the first rollout: state leaks \
             across episodes or `step` is not deterministic given state and action"
                .into(),
        );
    }
    let mut all_same = true;
    for seed in [1u64, 2, 3, 4, 5] {
        match c.rollout(seed, &actions, "step") {
            Some(r) if r != first => {
                all_same = false;
                break;
            }
            Some(_) => {}
            None => return c.out,
        }
    }
    if all_same {
        c.warn(
            "seed_effect",
            "six different seeds gave identical trajectories: fine if the env's start and dynamics are \
             deterministic, otherwise the seed is ignored"
                .into(),
        );
    }

    // Invalid action.
    if let Some(bad) = invalid_action(&c.act_space) {
        let n = c.obs_space.packed_len();
        let mut obs = vec![0.0; n];
        let mut info = Info::new();
        let _ = guarded(|| c.env.reset(Some(0), &mut obs, &mut info));
        match guarded(|| c.env.step(&bad, &mut obs, &mut info)) {
            Err(p) => c.fail("invalid_action", format!("step with the invalid action {bad:?} panicked: {p}")),
            Ok(Ok(_)) => c.warn(
                "invalid_action",
                format!("step accepted {bad:?}, which is not in the action space {}", c.act_space),
            ),
            Ok(Err(_)) => {}
        }
    }

    // Wrong buffer length.
    let n = c.obs_space.packed_len();
    let mut short = vec![0.0; n + 1];
    let mut info = Info::new();
    if let Err(p) = guarded(|| c.env.reset(Some(0), &mut short, &mut info)) {
        c.warn(
            "buffer_length",
            format!("reset with a buffer of {} slots (expected {n}) panicked: {p}", n + 1),
        );
    }

    // render must not panic.
    if let Err(p) = guarded(|| c.env.render()) {
        c.fail("render", format!("render panicked: {p}"));
    }
    c.out
}

/// An action just outside the space, if one exists.
fn invalid_action(space: &Space) -> Option<Vec<f64>> {
    let mut a = vec![0.0; space.packed_len()];
    let mut rng = EnvRng::seed_from_u64(0);
    space.sample_packed(&mut rng, &mut a);
    match space {
        Space::Box(b) => {
            let i = b.high.iter().position(|h| h.is_finite())?;
            a[i] = b.high[i] + 1.0 + b.high[i].abs();
        }
        Space::Discrete(d) => a[0] = (d.start + d.n as i64) as f64,
        Space::MultiDiscrete(m) => a[0] = *m.nvec.first()? as f64,
        Space::MultiBinary(_) => a[0] = 2.0,
        _ => a[0] = f64::NAN,
    }
    Some(a)
}

/// Runs `f`, turning a panic into its message (the default panic output is silenced meanwhile).
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(prev);
    r.map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{EnvError, EnvRandom, check_len};
    use crate::space::DType;
    use rand::Rng;

    /// A 1-D random walk; `bug` plants one defect.
    struct Walk {
        obs_space: Space,
        act_space: Space,
        x: f64,
        t: u32,
        rng: EnvRandom,
        bug: Bug,
        unseeded: u64,
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Bug {
        None,
        WrongObsShape,
        IgnoresSeed,
        OutOfBounds,
        NanReward,
        PanicsOnBadAction,
    }
    impl Walk {
        fn new(bug: Bug) -> Self {
            Walk {
                obs_space: Space::box_from_bounds(vec![-10.0, 0.0], vec![10.0, 100.0], DType::F64).unwrap(),
                act_space: Space::discrete(2),
                x: 0.0,
                t: 0,
                rng: EnvRandom::default(),
                bug,
                unseeded: 0,
            }
        }
        fn write(&self, obs: &mut [f64]) {
            if self.bug == Bug::WrongObsShape {
                obs[..1].copy_from_slice(&[self.x]); // forgets the time slot
                obs[2] = 0.0; // and writes past the declared shape
            } else {
                obs.copy_from_slice(&[self.x, self.t as f64]);
            }
        }
    }
    impl Env for Walk {
        fn observation_space(&self) -> &Space {
            &self.obs_space
        }
        fn action_space(&self) -> &Space {
            &self.act_space
        }
        fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], _info: &mut Info) -> Result<(), EnvError> {
            if self.bug != Bug::WrongObsShape {
                check_len("observation", obs, 2)?;
            }
            let rng = self.rng.reseed(seed);
            self.x = rng.random_range(-1.0..1.0);
            if self.bug == Bug::IgnoresSeed {
                // Draws from a stream the seed does not control.
                self.unseeded =
                    self.unseeded.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                self.x = (self.unseeded >> 11) as f64 / (1u64 << 53) as f64;
            }
            self.t = 0;
            self.write(obs);
            Ok(())
        }
        fn step(&mut self, action: &[f64], obs: &mut [f64], _info: &mut Info) -> Result<Step, EnvError> {
            if !self.act_space.contains_packed(action) {
                if self.bug == Bug::PanicsOnBadAction {
                    panic!("bad action");
                }
                return Err(EnvError::InvalidAction {
                    action: action.to_vec(),
                    space: self.act_space.to_string(),
                });
            }
            let noise: f64 = self.rng.rng().random_range(-0.1..0.1);
            self.x += if action[0] == 1.0 { 0.5 } else { -0.5 } + noise;
            self.t += 1;
            if self.bug == Bug::OutOfBounds {
                self.x *= 10.0;
            }
            self.write(obs);
            let reward = if self.bug == Bug::NanReward && self.t == 3 { f64::NAN } else { -self.x.abs() };
            Ok(Step { reward, terminated: self.x.abs() > 5.0, truncated: self.t >= 50 })
        }
        fn name(&self) -> &str {
            "Walk"
        }
    }

    fn errors(bug: Bug) -> Vec<CheckFailure> {
        check_env(&mut Walk::new(bug)).into_iter().filter(|f| f.severity == Severity::Error).collect()
    }

    #[test]
    fn a_correct_env_passes() {
        let report = check_env(&mut Walk::new(Bug::None));
        assert!(report.is_empty(), "{report:?}");
    }

    #[test]
    fn wrong_observation_shape_is_named() {
        let e = errors(Bug::WrongObsShape);
        assert!(!e.is_empty());
        assert!(e[0].message.contains("panicked") || e[0].message.contains("never written"), "{}", e[0]);
    }

    #[test]
    fn seed_that_does_not_control_randomness_is_named() {
        let e = errors(Bug::IgnoresSeed);
        assert!(e.iter().any(|f| f.check == "seed_determinism"), "{e:?}");
    }

    #[test]
    fn observation_outside_space_and_nan_reward_and_panics_are_named() {
        let e = errors(Bug::OutOfBounds);
        assert!(e.iter().any(|f| f.message.contains("not in the observation space")), "{e:?}");
        let e = errors(Bug::NanReward);
        assert!(e.iter().any(|f| f.message.contains("reward is NaN")), "{e:?}");
        let e = errors(Bug::PanicsOnBadAction);
        assert!(e.iter().any(|f| f.check == "invalid_action"), "{e:?}");
    }
}
