//! Vector environments (synchronous and threaded) with next-step autoreset.
//!
//! A vector environment steps `N` copies of an environment at once. Observations and actions are
//! batched row-major in the packed layout: `actions.len() == N * single_action_space().packed_len()`
//! and the observations are `N` rows of `single_observation_space().packed_len()` slots. Results
//! live in buffers owned by the vector env, allocated once, and are returned by reference
//! ([`VecStep`]); stepping allocates nothing.
//!
//! - [`VecEnv`] steps the copies one after the other on the calling thread.
//! - [`ThreadedVecEnv`] splits them across persistent worker threads; results are bit-identical.
//!
//! Both implement [`VectorEnv`], for code generic over the two.
//!
//! # Seeding
//!
//! `reset(Some(seed))` resets sub-env `i` with seed `seed + i` (Gymnasium's rule); `reset(None)`
//! continues every sub-env's generator. [`VecEnv::reset_with_seeds`] takes one seed per sub-env.
//!
//! # Autoreset (Gymnasium 1.x, next step)
//!
//! Sub-envs are reset automatically, **one step late**:
//!
//! - when sub-env `i` ends an episode (terminated or truncated) at step `t`, the observation
//!   returned for it at `t` is the *final* observation of that episode, with that step's reward and
//!   flags;
//! - at step `t + 1`, sub-env `i` is *reset instead of stepped*: its action is ignored, and it
//!   returns the first observation of the new episode with reward `0.0` and
//!   `terminated == truncated == false` (its info is the reset's info).
//!
//! So `(obs[t], action[t+1], reward[t+1])` for such a sub-env is **not** a transition; learners
//! must skip the step after a `done` (e.g. mask it out of the rollout).
//!
//! Below, sub-env 0 ends its episodes after 2 steps and sub-env 1 after 3; the observation counts
//! the steps taken in the current episode and each step's reward is 1:
//!
//! ```
//! use alignrl_envs::vector::VecEnv;
//! use alignrl_envs::{DType, Env, EnvError, Info, Space, Step};
//!
//! /// Observation `[steps taken in this episode]`; terminates after `len` steps; reward 1.
//! struct Counter { len: u32, t: u32, obs: Space, act: Space }
//! impl Env for Counter {
//!     fn observation_space(&self) -> &Space { &self.obs }
//!     fn action_space(&self) -> &Space { &self.act }
//!     fn reset(&mut self, _seed: Option<u64>, obs: &mut [f64], _: &mut Info) -> Result<(), EnvError> {
//!         self.t = 0;
//!         obs[0] = 0.0;
//!         Ok(())
//!     }
//!     fn step(&mut self, _action: &[f64], obs: &mut [f64], _: &mut Info) -> Result<Step, EnvError> {
//!         self.t += 1;
//!         obs[0] = self.t as f64;
//!         Ok(Step { reward: 1.0, terminated: self.t == self.len, truncated: false })
//!     }
//!     fn name(&self) -> &str { "Counter" }
//! }
//!
//! let mut venv = VecEnv::from_fn(2, |i| Counter {
//!     len: 2 + i as u32, // sub-env 0: episodes of 2 steps; sub-env 1: 3 steps
//!     t: 0,
//!     obs: Space::uniform_box(0.0, 10.0, &[1], DType::F32),
//!     act: Space::discrete(2),
//! });
//! assert_eq!(venv.reset(Some(42))?, [0.0, 0.0]);
//!
//! let s = venv.step(&[1.0, 1.0])?; // t = 1
//! assert_eq!((s.observations, s.rewards, s.terminated), (&[1.0, 1.0][..], &[1.0, 1.0][..], &[false, false][..]));
//!
//! // t = 2: sub-env 0 terminates. Its row holds the episode's FINAL observation (2), not a reset one.
//! let s = venv.step(&[1.0, 1.0])?;
//! assert_eq!(s.observations, [2.0, 2.0]);
//! assert_eq!(s.rewards, [1.0, 1.0]);
//! assert_eq!(s.terminated, [true, false]);
//!
//! // t = 3: sub-env 0 is RESET instead of stepped: its action is ignored, it returns the first
//! // observation of the new episode (0) with reward 0 and no flags. Sub-env 1 terminates now.
//! let s = venv.step(&[1.0, 1.0])?;
//! assert_eq!(s.observations, [0.0, 3.0]);
//! assert_eq!(s.rewards, [0.0, 1.0]);
//! assert_eq!(s.terminated, [false, true]);
//!
//! // t = 4: sub-env 0 steps normally again; sub-env 1 is the one being reset.
//! let s = venv.step(&[1.0, 1.0])?;
//! assert_eq!(s.observations, [1.0, 0.0]);
//! assert_eq!(s.rewards, [1.0, 0.0]);
//! assert_eq!(s.terminated, [false, false]);
//! # Ok::<(), EnvError>(())
//! ```
//!
//! # Errors
//!
//! An error from a sub-env (or, in [`ThreadedVecEnv`], a panic in one) is returned as an
//! [`EnvError`]. Some sub-envs may already have been stepped by then, so the vector env must be
//! reset before it steps again; `step` returns [`EnvError::NeedsReset`] until then.

mod sync;
mod threaded;

pub use sync::VecEnv;
pub use threaded::ThreadedVecEnv;

use crate::env::{Env, EnvError, Info};
use crate::space::{BoxSpace, MultiBinary, MultiDiscrete, Space};

/// The results of one [`VectorEnv::step`], borrowed from the vector env's buffers.
#[derive(Debug, Clone, Copy)]
pub struct VecStep<'a> {
    /// `N` rows of packed observations, row-major (`N * single_observation_space().packed_len()`).
    pub observations: &'a [f64],
    /// Reward of each sub-env (0 for a sub-env that was autoreset this step).
    pub rewards: &'a [f64],
    /// Whether each sub-env reached a terminal state this step.
    pub terminated: &'a [bool],
    /// Whether each sub-env's episode was cut short this step.
    pub truncated: &'a [bool],
    /// Each sub-env's info (the reset's info for a sub-env that was autoreset this step).
    pub infos: &'a [Info],
}

impl<'a> VecStep<'a> {
    /// Number of sub-envs.
    pub fn num_envs(&self) -> usize {
        self.rewards.len()
    }
    /// The observation of sub-env `i`.
    pub fn observation(&self, i: usize) -> &'a [f64] {
        let n = self.observations.len() / self.rewards.len();
        &self.observations[i * n..(i + 1) * n]
    }
    /// Whether sub-env `i` ended its episode this step (it will be reset at the next step).
    pub fn done(&self, i: usize) -> bool {
        self.terminated[i] || self.truncated[i]
    }
}

/// What [`VecEnv`] and [`ThreadedVecEnv`] have in common, for code generic over both.
pub trait VectorEnv {
    /// Number of sub-envs `N`.
    fn num_envs(&self) -> usize;
    /// The space of one sub-env's observations.
    fn single_observation_space(&self) -> &Space;
    /// The space of one sub-env's actions.
    fn single_action_space(&self) -> &Space;
    /// The space of batched observations ([`batch_space`] of the single space).
    fn observation_space(&self) -> &Space;
    /// The space of batched actions ([`batch_space`] of the single space).
    fn action_space(&self) -> &Space;
    /// Resets every sub-env (sub-env `i` with `seed + i`) and returns the `N` observations.
    fn reset(&mut self, seed: Option<u64>) -> Result<&[f64], EnvError>;
    /// Resets sub-env `i` with `seeds[i]` and returns the `N` observations.
    fn reset_with_seeds(&mut self, seeds: &[Option<u64>]) -> Result<&[f64], EnvError>;
    /// Steps every sub-env with its row of `actions` (autoresetting those that ended last step).
    fn step(&mut self, actions: &[f64]) -> Result<VecStep<'_>, EnvError>;
    /// The observations returned by the last `reset` or `step`.
    fn observations(&self) -> &[f64];
    /// The infos of the last `reset` or `step`, one per sub-env.
    fn infos(&self) -> &[Info];
}

/// Gymnasium's `batch_space(space, n)`, for the packed layout: a space whose packed elements are
/// `n` packed elements of `space` one after the other (so `packed_len` is `n` times larger).
///
/// - `Box` of shape `s` → `Box` of shape `(n, *s)`, bounds repeated;
/// - `Discrete(k)` starting at 0 → `MultiDiscrete([k; n])`;
/// - `MultiDiscrete(v)` → `MultiDiscrete` of `v` repeated `n` times (flat);
/// - `MultiBinary(m)` → `MultiBinary(n * m)`;
/// - anything else (`Discrete` with a nonzero start, `Tuple`, `Dict`) → `Tuple` of `n` copies.
///   (Gymnasium batches a `Tuple`/`Dict` per component instead; that layout is not row-major.)
pub fn batch_space(space: &Space, n: usize) -> Space {
    match space {
        Space::Box(b) => {
            let mut shape = Vec::with_capacity(b.shape.len() + 1);
            shape.push(n);
            shape.extend_from_slice(&b.shape);
            Space::Box(BoxSpace { low: b.low.repeat(n), high: b.high.repeat(n), shape, dtype: b.dtype })
        }
        Space::Discrete(d) if d.start == 0 => Space::MultiDiscrete(MultiDiscrete { nvec: vec![d.n; n] }),
        Space::MultiDiscrete(m) => Space::MultiDiscrete(MultiDiscrete { nvec: m.nvec.repeat(n) }),
        Space::MultiBinary(m) => Space::MultiBinary(MultiBinary { n: m.n * n }),
        other => Space::Tuple { spaces: vec![other.clone(); n] },
    }
}

/// Single and batched spaces of a vector env.
#[derive(Debug, Clone)]
pub(crate) struct Spaces {
    pub(crate) single_obs: Space,
    pub(crate) single_act: Space,
    pub(crate) batch_obs: Space,
    pub(crate) batch_act: Space,
}

impl Spaces {
    /// The spaces of `envs`, which must be non-empty and agree.
    pub(crate) fn of<E: Env>(envs: &[E]) -> Result<Self, EnvError> {
        let first =
            envs.first().ok_or_else(|| EnvError::Other("a vector env needs at least one env".into()))?;
        let (obs, act) = (first.observation_space(), first.action_space());
        for (i, e) in envs.iter().enumerate().skip(1) {
            if e.observation_space() != obs || e.action_space() != act {
                return Err(EnvError::Other(format!(
                    "sub-env {i} has spaces ({}, {}) but sub-env 0 has ({obs}, {act})",
                    e.observation_space(),
                    e.action_space()
                )));
            }
        }
        Ok(Spaces {
            single_obs: obs.clone(),
            single_act: act.clone(),
            batch_obs: batch_space(obs, envs.len()),
            batch_act: batch_space(act, envs.len()),
        })
    }
}

/// Per-sub-env result buffers and the autoreset flags, for a contiguous run of sub-envs.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub(crate) obs_len: usize,
    pub(crate) act_len: usize,
    pub(crate) obs: Vec<f64>,
    pub(crate) rewards: Vec<f64>,
    pub(crate) terminated: Vec<bool>,
    pub(crate) truncated: Vec<bool>,
    pub(crate) infos: Vec<Info>,
    /// Sub-envs to reset at the next step (they ended at the last one).
    pub(crate) autoreset: Vec<bool>,
    /// Index of the sub-env being reset or stepped (to attribute a panic).
    pub(crate) cursor: usize,
}

impl Batch {
    pub(crate) fn new(n: usize, obs_len: usize, act_len: usize) -> Self {
        Batch {
            obs_len,
            act_len,
            obs: vec![0.0; n * obs_len],
            rewards: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            infos: vec![Info::new(); n],
            autoreset: vec![false; n],
            cursor: 0,
        }
    }

    /// Resets `envs[i]` with `seed(i)`, clearing rewards, flags and autoreset flags.
    pub(crate) fn reset<E: Env>(
        &mut self,
        envs: &mut [E],
        seed: impl Fn(usize) -> Option<u64>,
    ) -> Result<(), (usize, EnvError)> {
        let n = self.obs_len;
        self.rewards.fill(0.0);
        self.terminated.fill(false);
        self.truncated.fill(false);
        self.autoreset.fill(false);
        for (i, env) in envs.iter_mut().enumerate() {
            self.cursor = i;
            let info = &mut self.infos[i];
            info.clear();
            env.reset(seed(i), &mut self.obs[i * n..(i + 1) * n], info).map_err(|e| (i, e))?;
        }
        Ok(())
    }

    /// Steps `envs[i]` with its row of `actions`, or resets it if it ended at the last step.
    pub(crate) fn step<E: Env>(&mut self, envs: &mut [E], actions: &[f64]) -> Result<(), (usize, EnvError)> {
        let (n, m) = (self.obs_len, self.act_len);
        for (i, env) in envs.iter_mut().enumerate() {
            self.cursor = i;
            let info = &mut self.infos[i];
            info.clear();
            let obs = &mut self.obs[i * n..(i + 1) * n];
            if self.autoreset[i] {
                env.reset(None, obs, info).map_err(|e| (i, e))?;
                self.rewards[i] = 0.0;
                self.terminated[i] = false;
                self.truncated[i] = false;
            } else {
                let s = env.step(&actions[i * m..(i + 1) * m], obs, info).map_err(|e| (i, e))?;
                self.rewards[i] = s.reward;
                self.terminated[i] = s.terminated;
                self.truncated[i] = s.truncated;
            }
            self.autoreset[i] = self.terminated[i] || self.truncated[i];
        }
        Ok(())
    }

    /// Copies every row of `src` into this batch, starting at row `offset`. Allocation-free once
    /// the infos have grown to their steady size.
    pub(crate) fn copy_rows_from(&mut self, offset: usize, src: &Batch) {
        let k = src.rewards.len();
        let n = self.obs_len;
        self.obs[offset * n..(offset + k) * n].copy_from_slice(&src.obs);
        self.rewards[offset..offset + k].copy_from_slice(&src.rewards);
        self.terminated[offset..offset + k].copy_from_slice(&src.terminated);
        self.truncated[offset..offset + k].copy_from_slice(&src.truncated);
        self.autoreset[offset..offset + k].copy_from_slice(&src.autoreset);
        for (dst, s) in self.infos[offset..offset + k].iter_mut().zip(&src.infos) {
            dst.clear();
            for (key, v) in s.iter() {
                dst.set(key, v);
            }
        }
    }

    pub(crate) fn view(&self) -> VecStep<'_> {
        VecStep {
            observations: &self.obs,
            rewards: &self.rewards,
            terminated: &self.terminated,
            truncated: &self.truncated,
            infos: &self.infos,
        }
    }
}

/// Checks a per-env seed list's length.
pub(crate) fn check_seeds(seeds: &[Option<u64>], n: usize) -> Result<(), EnvError> {
    if seeds.len() == n {
        Ok(())
    } else {
        Err(EnvError::Other(format!("{} seeds given for {n} sub-envs", seeds.len())))
    }
}

const NEEDS_RESET: &str = "the vector env must be reset before stepping (never reset, or a sub-env failed)";

#[cfg(test)]
pub(crate) mod testing {
    //! A deterministic test env for the vector env tests.

    use crate::env::{Env, EnvError, EnvRandom, Info, Step, check_len};
    use crate::space::{DType, Space};
    use rand::Rng;

    /// Observation `[t, draw]`: `t` counts steps in the episode, `draw` is redrawn from the seeded
    /// generator at every reset and step. Terminates after `len` steps (truncates instead when
    /// `truncate` is set). Reward is `action + t`. Action `-1` is invalid (error), `-2` panics.
    /// Info: `"t"` on steps, `"reset"` (1) on resets.
    #[derive(Debug, Clone)]
    pub struct Counter {
        pub len: u32,
        pub truncate: bool,
        pub t: u32,
        obs: Space,
        act: Space,
        rng: EnvRandom,
    }

    impl Counter {
        pub fn new(len: u32) -> Self {
            Counter {
                len,
                truncate: false,
                t: 0,
                obs: Space::uniform_box(0.0, 1e6, &[2], DType::F64),
                act: Space::box_from_bounds(vec![-2.0], vec![10.0], DType::F64).unwrap(),
                rng: EnvRandom::default(),
            }
        }
    }

    impl Env for Counter {
        fn observation_space(&self) -> &Space {
            &self.obs
        }
        fn action_space(&self) -> &Space {
            &self.act
        }
        fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], info: &mut Info) -> Result<(), EnvError> {
            check_len("observation", obs, 2)?;
            self.t = 0;
            obs[0] = 0.0;
            obs[1] = self.rng.reseed(seed).random();
            info.set("reset", 1.0);
            Ok(())
        }
        fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
            check_len("observation", obs, 2)?;
            if action[0] == -1.0 {
                return Err(EnvError::InvalidAction { action: action.to_vec(), space: self.act.to_string() });
            }
            if action[0] == -2.0 {
                panic!("Counter told to panic");
            }
            self.t += 1;
            obs[0] = self.t as f64;
            obs[1] = self.rng.rng().random();
            info.set("t", self.t as f64);
            let end = self.t >= self.len;
            Ok(Step {
                reward: action[0] + self.t as f64,
                terminated: end && !self.truncate,
                truncated: end && self.truncate,
            })
        }
        fn name(&self) -> &str {
            "Counter"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{DType, Discrete};

    #[test]
    fn batch_space_repeats_the_packed_layout() {
        let b = Space::box_from_bounds(vec![-1.0, 0.0], vec![1.0, 2.0], DType::F32).unwrap();
        let bb = batch_space(&b, 3);
        let expected = Space::box_with_shape(
            vec![-1.0, 0.0, -1.0, 0.0, -1.0, 0.0],
            vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0],
            vec![3, 2],
            DType::F32,
        )
        .unwrap();
        assert_eq!(bb, expected);
        assert_eq!(
            batch_space(&Space::discrete(4), 2),
            Space::MultiDiscrete(MultiDiscrete { nvec: vec![4, 4] })
        );
        let shifted = Space::Discrete(Discrete { n: 3, start: -1 });
        assert_eq!(batch_space(&shifted, 2), Space::Tuple { spaces: vec![shifted.clone(), shifted.clone()] });
        assert_eq!(batch_space(&Space::MultiBinary(MultiBinary { n: 3 }), 2).packed_len(), 6);
        let md = Space::MultiDiscrete(MultiDiscrete { nvec: vec![2, 5] });
        assert_eq!(batch_space(&md, 2), Space::MultiDiscrete(MultiDiscrete { nvec: vec![2, 5, 2, 5] }));
        let tuple = Space::Tuple { spaces: vec![b.clone(), Space::discrete(2)] };
        let bt = batch_space(&tuple, 4);
        assert_eq!(bt.packed_len(), 4 * tuple.packed_len());
        // A packed batched element is N packed single elements.
        assert!(bb.contains_packed(&[0.0, 1.0, -1.0, 2.0, 1.0, 0.0]));
        assert!(!bb.contains_packed(&[0.0, 1.0, -1.0, 2.0, 1.0, 3.0]));
    }
}
