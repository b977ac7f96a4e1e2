//! [`TimeLimit`]: truncates episodes after a fixed number of steps.

use crate::env::{Env, EnvError, Info, Step};
use crate::space::Space;

/// Gymnasium's `TimeLimit`: sets `truncated = true` on the step that reaches
/// `max_episode_steps` (unless the episode terminated on that step, in which case both may be set,
/// as in Gymnasium).
#[derive(Debug, Clone)]
pub struct TimeLimit<E> {
    env: E,
    max_episode_steps: u64,
    elapsed: u64,
}

impl<E: Env> TimeLimit<E> {
    /// Wraps `env` with a limit of `max_episode_steps` steps per episode.
    pub fn new(env: E, max_episode_steps: u64) -> Self {
        TimeLimit { env, max_episode_steps, elapsed: 0 }
    }
    /// The wrapped environment.
    pub fn inner(&self) -> &E {
        &self.env
    }
    /// The wrapped environment, mutably.
    pub fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }
    /// Steps taken in the current episode.
    pub fn elapsed_steps(&self) -> u64 {
        self.elapsed
    }
    /// The limit.
    pub fn max_episode_steps(&self) -> u64 {
        self.max_episode_steps
    }
}

impl<E: Env> Env for TimeLimit<E> {
    fn observation_space(&self) -> &Space {
        self.env.observation_space()
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], info: &mut Info) -> Result<(), EnvError> {
        self.elapsed = 0;
        self.env.reset(seed, obs, info)
    }
    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        let mut s = self.env.step(action, obs, info)?;
        self.elapsed += 1;
        if self.elapsed >= self.max_episode_steps {
            s.truncated = true;
        }
        Ok(s)
    }
    fn render(&self) -> Option<String> {
        self.env.render()
    }
    fn name(&self) -> &str {
        self.env.name()
    }
    fn scene(&self) -> Option<&dyn crate::scene::SceneView> {
        self.env.scene()
    }
}
