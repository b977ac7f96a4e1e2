//! The [`Env`] trait: Gymnasium's environment API with caller-owned buffers.
//!
//! Gymnasium's `reset(seed) -> (obs, info)` and `step(action) -> (obs, reward, terminated,
//! truncated, info)` become methods that write the observation into a caller-owned `&mut [f64]`
//! (the packed layout of [`crate::Space`]) and append to a caller-owned [`Info`], so that the hot
//! loop allocates nothing per step. [`EnvExt`] adds an owned-value layer on top for convenience.
//!
//! Seeding follows Gymnasium: `reset(Some(seed))` reseeds the environment's generator,
//! `reset(None)` continues its stream, and the first `reset(None)` seeds from OS entropy.

use rand::SeedableRng;
use rand_pcg::Pcg64;

use crate::space::{Space, Value};

/// The random generator every environment uses (PCG-64, reproducible across platforms).
pub type EnvRng = Pcg64;

/// Outcome of one step, besides the observation and info.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Step {
    /// Reward for the transition.
    pub reward: f64,
    /// The episode reached a terminal state of the MDP (no bootstrapping past it).
    pub terminated: bool,
    /// The episode was cut short (time limit, out of data); bootstrapping is still valid.
    pub truncated: bool,
}

impl Step {
    /// `terminated || truncated`.
    pub fn done(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// Gymnasium's `info` dict, restricted to numeric values with static keys so that it can be
/// reused without allocation. Environments and wrappers *append* entries; whoever calls `reset`
/// or `step` clears it first (the owned layer, [`crate::vector::VecEnv`] and the CLI do).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Info {
    entries: Vec<(&'static str, f64)>,
}

impl Info {
    /// An empty info with room for a few entries.
    pub fn new() -> Self {
        Info { entries: Vec::with_capacity(8) }
    }
    /// Removes every entry, keeping capacity.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
    /// Sets `key` to `value`, replacing an existing entry.
    pub fn set(&mut self, key: &'static str, value: f64) {
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(e) => e.1 = value,
            None => self.entries.push((key, value)),
        }
    }
    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.entries.iter().find(|(k, _)| *k == key).map(|e| e.1)
    }
    /// Entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        self.entries.iter().copied()
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Errors an environment reports instead of panicking.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnvError {
    /// The action is not an element of the action space.
    #[error("action {action:?} is not in the action space {space}")]
    InvalidAction {
        /// The packed action.
        action: Vec<f64>,
        /// The action space, displayed.
        space: String,
    },
    /// A caller-owned buffer has the wrong length.
    #[error("{what} buffer has length {got}, expected {expected}")]
    BufferLength {
        /// Which buffer.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// `step` was called before `reset`, or after the episode ended without a reset.
    #[error("{0}")]
    NeedsReset(&'static str),
    /// Anything else, with a readable message.
    #[error("{0}")]
    Other(String),
}

/// A Gymnasium environment.
///
/// Observations and actions use the packed layout of their [`Space`]s (see [`crate::space`]).
/// Implementations must not allocate in `step`.
pub trait Env: Send {
    /// The space of observations.
    fn observation_space(&self) -> &Space;
    /// The space of actions.
    fn action_space(&self) -> &Space;
    /// Starts a new episode, writing the first observation into `obs`
    /// (`obs.len() == observation_space().packed_len()`) and appending to `info`.
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], info: &mut Info) -> Result<(), EnvError>;
    /// Advances one step with `action` (packed), writing the next observation into `obs`.
    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError>;
    /// A human-readable frame (text), if the environment can render one.
    fn render(&self) -> Option<String> {
        None
    }
    /// A short name of the innermost environment (wrappers forward it).
    fn name(&self) -> &str;
    /// The 3-D scene, for recordings, if the environment has one (wrappers forward it).
    fn scene(&self) -> Option<&dyn crate::scene::SceneView> {
        None
    }
}

impl<E: Env + ?Sized> Env for Box<E> {
    fn observation_space(&self) -> &Space {
        (**self).observation_space()
    }
    fn action_space(&self) -> &Space {
        (**self).action_space()
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], info: &mut Info) -> Result<(), EnvError> {
        (**self).reset(seed, obs, info)
    }
    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        (**self).step(action, obs, info)
    }
    fn render(&self) -> Option<String> {
        (**self).render()
    }
    fn name(&self) -> &str {
        (**self).name()
    }
    fn scene(&self) -> Option<&dyn crate::scene::SceneView> {
        (**self).scene()
    }
}

/// Gymnasium's `np_random` handling: holds the generator and applies the seeding rules.
#[derive(Debug, Clone, Default)]
pub struct EnvRandom {
    rng: Option<EnvRng>,
}

impl EnvRandom {
    /// Applies `reset(seed)` semantics and returns the generator: a seed reseeds, `None`
    /// continues (or seeds from OS entropy the first time).
    pub fn reseed(&mut self, seed: Option<u64>) -> &mut EnvRng {
        match seed {
            Some(s) => self.rng = Some(EnvRng::seed_from_u64(s)),
            None if self.rng.is_none() => self.rng = Some(EnvRng::from_os_rng()),
            None => {}
        }
        self.rng.as_mut().expect("seeded above")
    }
    /// The generator (seeded from OS entropy if never seeded).
    pub fn rng(&mut self) -> &mut EnvRng {
        self.reseed(None)
    }
}

/// Checks a caller-owned buffer's length.
pub fn check_len(what: &'static str, buf: &[f64], expected: usize) -> Result<(), EnvError> {
    if buf.len() == expected {
        Ok(())
    } else {
        Err(EnvError::BufferLength { what, expected, got: buf.len() })
    }
}

/// One owned transition from [`EnvExt::step_owned`].
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// Next observation (packed).
    pub obs: Vec<f64>,
    /// Reward.
    pub reward: f64,
    /// Terminal state reached.
    pub terminated: bool,
    /// Episode cut short.
    pub truncated: bool,
    /// Info entries.
    pub info: Info,
}

/// Owned-value convenience layer over any [`Env`]; allocates per call.
pub trait EnvExt: Env {
    /// `reset` returning a fresh observation vector and info.
    fn reset_owned(&mut self, seed: Option<u64>) -> Result<(Vec<f64>, Info), EnvError> {
        let mut obs = vec![0.0; self.observation_space().packed_len()];
        let mut info = Info::new();
        self.reset(seed, &mut obs, &mut info)?;
        Ok((obs, info))
    }
    /// `step` returning an owned [`Transition`].
    fn step_owned(&mut self, action: &[f64]) -> Result<Transition, EnvError> {
        let mut obs = vec![0.0; self.observation_space().packed_len()];
        let mut info = Info::new();
        let s = self.step(action, &mut obs, &mut info)?;
        Ok(Transition { obs, reward: s.reward, terminated: s.terminated, truncated: s.truncated, info })
    }
    /// `step` with a structured action [`Value`]; the observation is returned as a `Value` too.
    fn step_value(&mut self, action: &Value) -> Result<(Value, Step, Info), EnvError> {
        let space = self.action_space();
        let mut packed = vec![0.0; space.packed_len()];
        space.pack(action, &mut packed).map_err(|e| EnvError::Other(e.to_string()))?;
        let t = self.step_owned(&packed)?;
        let obs = self.observation_space().unpack(&t.obs).map_err(|e| EnvError::Other(e.to_string()))?;
        Ok((obs, Step { reward: t.reward, terminated: t.terminated, truncated: t.truncated }, t.info))
    }
}

impl<E: Env + ?Sized> EnvExt for E {}
