//! Gymnasium's wrappers over any [`crate::Env`].
//!
//! Every wrapper implements [`crate::Env`] itself, forwards `name()`, `render()` and `scene()` to the
//! environment it wraps, gives access to it through `inner()` / `inner_mut()` / `into_inner()`, and
//! allocates nothing in `step` (buffers it needs are allocated once, in the constructor).
//! Wrappers that add entries to [`crate::Info`] use the keys exported here as constants.
//!
//! | Wrapper | Gymnasium 1.x counterpart |
//! |---|---|
//! | [`TimeLimit`] | `TimeLimit` |
//! | [`RecordEpisodeStatistics`] | `RecordEpisodeStatistics` |
//! | [`NormalizeObservation`] | `NormalizeObservation` |
//! | [`NormalizeReward`] | `NormalizeReward` |
//! | [`ClipAction`] | `ClipAction` |
//! | [`RescaleAction`] | `RescaleAction` |
//! | [`TransformReward`] | `TransformReward` |
//! | [`FrameStack`] | `FrameStackObservation` |
//! | [`AuxiliaryReward`] | — (second reward channel for bilevel reward design) |
//! | [`Ar1Distractors`], [`ObservationNoise`] | — (state-based distractors, RePo's stand-in; see [`distractors`]) |
//!
//! Wrappers that need a particular space (a `Box`) check it in their constructor and return
//! [`crate::EnvError::Other`] otherwise.

mod action;
mod auxiliary_reward;
pub mod distractors;
mod frame_stack;
mod normalize;
mod record_episode_statistics;
mod time_limit;
mod transform_reward;

pub use action::{ClipAction, RescaleAction};
pub use auxiliary_reward::{AUX_EPISODE_RETURN, AUX_REWARD, AuxiliaryReward};
pub use distractors::{Ar1Config, Ar1Distractors, ObservationNoise};
pub use frame_stack::{FrameStack, FrameStackObservation, Padding};
pub use normalize::{NormalizeObservation, NormalizeReward, ReturnReset, RunningMeanStd};
pub use record_episode_statistics::{
    EPISODE_LENGTH, EPISODE_RETURN, EPISODE_TIME_S, RecentQueue, RecordEpisodeStatistics,
};
pub use time_limit::TimeLimit;
pub use transform_reward::TransformReward;

use crate::env::EnvError;
use crate::space::{BoxSpace, Space};

/// The `Box` inside `space`, or an error naming the wrapper that needs one.
fn require_box<'a>(space: &'a Space, wrapper: &str, which: &str) -> Result<&'a BoxSpace, EnvError> {
    match space {
        Space::Box(b) => Ok(b),
        other => Err(EnvError::Other(format!("{wrapper} requires a Box {which} space, got {other}"))),
    }
}

/// Small deterministic environments for the wrapper tests.
#[cfg(test)]
pub(crate) mod testing {
    use crate::env::{Env, EnvError, EnvRandom, Info, Step, check_len};
    use crate::space::{DType, Space};
    use rand::Rng;

    /// Observation `obs[j] = base + t + j / 10`, where `base` is drawn in `[0, 1)` from the seeded
    /// generator at reset and `t` counts steps. Reward is `rewards[t - 1]` (cycled) or `t`.
    /// The episode ends after `episode_len` steps (terminated or truncated, as configured).
    /// The last action is recorded. Info gets `"t"` on every step and `"reset"` on reset.
    #[derive(Debug, Clone)]
    pub struct ScriptEnv {
        obs_space: Space,
        act_space: Space,
        pub t: u64,
        pub base: f64,
        pub episode_len: u64,
        pub truncate_instead: bool,
        pub rewards: Vec<f64>,
        pub last_action: Vec<f64>,
        pub resets: u64,
        rng: EnvRandom,
    }

    impl ScriptEnv {
        /// Observation box of `obs_shape` (f64), action box `[-2, 2]^act_dim` (f32).
        pub fn new(obs_shape: &[usize], act_dim: usize, episode_len: u64) -> Self {
            ScriptEnv {
                obs_space: Space::uniform_box(f64::NEG_INFINITY, f64::INFINITY, obs_shape, DType::F64),
                act_space: Space::uniform_box(-2.0, 2.0, &[act_dim], DType::F32),
                t: 0,
                base: 0.0,
                episode_len,
                truncate_instead: false,
                rewards: Vec::new(),
                last_action: vec![0.0; act_dim],
                resets: 0,
                rng: EnvRandom::default(),
            }
        }
        /// Same env with a discrete action space of `n` actions.
        pub fn discrete_actions(mut self, n: u64) -> Self {
            self.act_space = Space::discrete(n);
            self.last_action = vec![0.0];
            self
        }
        /// Same env with a discrete observation space (observation `t mod n`).
        pub fn discrete_obs(mut self, n: u64) -> Self {
            self.obs_space = Space::discrete(n);
            self
        }
        /// Same env with a scripted reward sequence (cycled).
        pub fn with_rewards(mut self, rewards: &[f64]) -> Self {
            self.rewards = rewards.to_vec();
            self
        }
        fn write_obs(&self, obs: &mut [f64]) {
            match &self.obs_space {
                Space::Discrete(d) => obs[0] = (self.t % d.n) as f64,
                _ => {
                    for (j, o) in obs.iter_mut().enumerate() {
                        *o = self.base + self.t as f64 + j as f64 / 10.0;
                    }
                }
            }
        }
    }

    impl Env for ScriptEnv {
        fn observation_space(&self) -> &Space {
            &self.obs_space
        }
        fn action_space(&self) -> &Space {
            &self.act_space
        }
        fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], info: &mut Info) -> Result<(), EnvError> {
            check_len("observation", obs, self.obs_space.packed_len())?;
            self.base = self.rng.reseed(seed).random::<f64>();
            self.t = 0;
            self.resets += 1;
            self.write_obs(obs);
            info.set("reset", self.resets as f64);
            Ok(())
        }
        fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
            check_len("observation", obs, self.obs_space.packed_len())?;
            if !self.act_space.contains_packed(action) {
                return Err(EnvError::InvalidAction {
                    action: action.to_vec(),
                    space: self.act_space.to_string(),
                });
            }
            self.last_action.copy_from_slice(action);
            self.t += 1;
            self.write_obs(obs);
            info.set("t", self.t as f64);
            let reward = if self.rewards.is_empty() {
                self.t as f64
            } else {
                self.rewards[(self.t as usize - 1) % self.rewards.len()]
            };
            let end = self.t >= self.episode_len;
            Ok(Step {
                reward,
                terminated: end && !self.truncate_instead,
                truncated: end && self.truncate_instead,
            })
        }
        fn render(&self) -> Option<String> {
            Some(format!("t={}", self.t))
        }
        fn name(&self) -> &str {
            "ScriptEnv"
        }
    }
}
