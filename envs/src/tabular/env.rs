//! [`TabularEnv`]: any [`TabularMdp`] as an [`Env`].
//!
//! - Observation space `Discrete(n_states)`: one packed slot holding the state index.
//! - Action space `Discrete(n_actions)`.
//! - `reset` samples `s_0 ~ μ` with the env's [`EnvRandom`] (Gymnasium seeding rules).
//! - `step(a)` gives reward `r(s, a) = φ(s, a) · w` (for stochastic dynamics this is the expected
//!   reward of the step, see [`super::mdp`]), samples `s' ~ P(· | s, a)`, and sets
//!   `terminated` when `s'` is terminal. A step after termination, or before the first reset, is
//!   [`EnvError::NeedsReset`]. An action outside the space is [`EnvError::InvalidAction`].
//! - Optional info entries: for each `(key, i)` registered with
//!   [`TabularEnv::with_info_feature`], `step` sets `info[key] = φ_i(s, a)` (e.g. `"aux_reward"` in
//!   the trap world).
//!
//! `step` does not allocate (on the success path).

use std::sync::Arc;

use super::gridworld::GridLayout;
use super::mdp::TabularMdp;
use crate::env::{Env, EnvError, EnvRandom, Info, Step, check_len};
use crate::space::Space;

/// A tabular MDP as a Gymnasium environment (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct TabularEnv {
    mdp: Arc<TabularMdp>,
    layout: Option<Arc<GridLayout>>,
    name: String,
    obs_space: Space,
    act_space: Space,
    info_features: Vec<(&'static str, usize)>,
    rng: EnvRandom,
    state: Option<usize>,
    done: bool,
}

impl TabularEnv {
    /// Wraps `mdp` (shared, so that copies of the env share one model) under `name`.
    pub fn new(mdp: impl Into<Arc<TabularMdp>>, name: impl Into<String>) -> Self {
        let mdp = mdp.into();
        let obs_space = Space::discrete(mdp.n_states() as u64);
        let act_space = Space::discrete(mdp.n_actions() as u64);
        TabularEnv {
            mdp,
            layout: None,
            name: name.into(),
            obs_space,
            act_space,
            info_features: Vec::new(),
            rng: EnvRandom::default(),
            state: None,
            done: false,
        }
    }

    /// Adds a grid layout, used by `render`. Its number of states must match the MDP's.
    ///
    /// # Panics
    /// If the layout has a different number of states.
    pub fn with_layout(mut self, layout: impl Into<Arc<GridLayout>>) -> Self {
        let layout = layout.into();
        assert_eq!(layout.n_states(), self.mdp.n_states(), "layout and MDP have different numbers of states");
        self.layout = Some(layout);
        self
    }

    /// Reports feature `feature` of every step as `info[key]`.
    ///
    /// # Panics
    /// If `feature` is not a feature index of the MDP.
    pub fn with_info_feature(mut self, key: &'static str, feature: usize) -> Self {
        assert!(feature < self.mdp.n_features(), "feature {feature} out of range");
        self.info_features.push((key, feature));
        self
    }

    /// The MDP.
    pub fn mdp(&self) -> &TabularMdp {
        &self.mdp
    }
    /// The shared MDP.
    pub fn mdp_arc(&self) -> &Arc<TabularMdp> {
        &self.mdp
    }
    /// The layout, if any.
    pub fn layout(&self) -> Option<&GridLayout> {
        self.layout.as_deref()
    }
    /// The current state (`None` before the first reset).
    pub fn state(&self) -> Option<usize> {
        self.state
    }
    /// Puts the agent in state `s` and starts an episode from there (without touching the
    /// generator), writing the observation. Errors if `s` is out of range; a terminal `s` gives an
    /// episode that needs a reset before stepping.
    pub fn set_state(&mut self, s: usize, obs: &mut [f64]) -> Result<(), EnvError> {
        check_len("observation", obs, 1)?;
        if s >= self.mdp.n_states() {
            return Err(EnvError::Other(format!(
                "state {s} out of range (n_states = {})",
                self.mdp.n_states()
            )));
        }
        self.state = Some(s);
        self.done = self.mdp.is_terminal(s);
        obs[0] = s as f64;
        Ok(())
    }
}

impl Env for TabularEnv {
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.act_space
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], _info: &mut Info) -> Result<(), EnvError> {
        check_len("observation", obs, 1)?;
        let s = self.mdp.sample_start(self.rng.reseed(seed));
        self.state = Some(s);
        self.done = false;
        obs[0] = s as f64;
        Ok(())
    }
    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        if !self.act_space.contains_packed(action) {
            return Err(EnvError::InvalidAction {
                action: action.to_vec(),
                space: self.act_space.to_string(),
            });
        }
        check_len("observation", obs, 1)?;
        let s = match self.state {
            Some(s) if !self.done => s,
            Some(_) => return Err(EnvError::NeedsReset("the episode has terminated: call reset")),
            None => return Err(EnvError::NeedsReset("call reset before step")),
        };
        let a = action[0] as usize;
        let reward = self.mdp.reward(s, a);
        for &(key, i) in &self.info_features {
            info.set(key, self.mdp.feature(s, a)[i]);
        }
        let next = self.mdp.sample_next(s, a, self.rng.rng());
        let terminated = self.mdp.is_terminal(next);
        self.state = Some(next);
        self.done = terminated;
        obs[0] = next as f64;
        Ok(Step { reward, terminated, truncated: false })
    }
    fn render(&self) -> Option<String> {
        match (&self.layout, self.state) {
            (Some(l), s) => Some(l.render(s)),
            (None, Some(s)) => Some(format!("state {s}")),
            (None, None) => None,
        }
    }
    fn name(&self) -> &str {
        &self.name
    }
}
