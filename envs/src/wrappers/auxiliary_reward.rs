//! [`AuxiliaryReward`]: a second reward channel, reported in `info`, for bilevel reward design.

use std::fmt;

use crate::env::{Env, EnvError, Info, Step, check_len};
use crate::space::Space;

/// Info key: the auxiliary reward of this step.
pub const AUX_REWARD: &str = "aux_reward";
/// Info key: the undiscounted sum of auxiliary rewards of the episode that just ended (set only on
/// the step that ends it).
pub const AUX_EPISODE_RETURN: &str = "aux_episode_return";

/// Computes an auxiliary reward `f(obs, action, next_obs, step)` on every step and reports it in
/// `info` under [`AUX_REWARD`], leaving the step's reward (the primary reward) untouched.
///
/// Bilevel reward design (e.g. BARFI, Gupta et al. 2023) trains the agent on a learned mix of the
/// primary reward and an auxiliary (shaping) reward, while the outer level judges the agent by the
/// primary reward alone: both must be observed separately, and this wrapper provides that. On the
/// step that ends an episode it also reports the episode's auxiliary return under
/// [`AUX_EPISODE_RETURN`].
///
/// `obs` is the observation the action was taken in (kept in a buffer allocated once), `action`
/// the packed action, `next_obs` the observation returned by the step, and `step` its
/// [`Step`] (primary reward and episode-end flags), all in the inner environment's packed layout.
///
/// ```
/// use alignrl_envs::wrappers::{AUX_REWARD, AuxiliaryReward};
/// use alignrl_envs::{DType, Env, EnvError, Info, Space, Step};
///
/// /// A point on a line: the action moves it; the primary reward is 1 on reaching 3.
/// struct Line { x: f64, obs: Space, act: Space }
/// impl Env for Line {
///     fn observation_space(&self) -> &Space { &self.obs }
///     fn action_space(&self) -> &Space { &self.act }
///     fn reset(&mut self, _: Option<u64>, obs: &mut [f64], _: &mut Info) -> Result<(), EnvError> {
///         self.x = 0.0;
///         obs[0] = self.x;
///         Ok(())
///     }
///     fn step(&mut self, a: &[f64], obs: &mut [f64], _: &mut Info) -> Result<Step, EnvError> {
///         self.x += a[0];
///         obs[0] = self.x;
///         let done = self.x >= 3.0;
///         Ok(Step { reward: if done { 1.0 } else { 0.0 }, terminated: done, truncated: false })
///     }
///     fn name(&self) -> &str { "Line" }
/// }
/// let line = Line {
///     x: 0.0,
///     obs: Space::uniform_box(-10.0, 10.0, &[1], DType::F64),
///     act: Space::uniform_box(-1.0, 1.0, &[1], DType::F64),
/// };
///
/// // Potential-based shaping F = gamma * phi(s') - phi(s) with phi(s) = s[0] (progress).
/// let gamma = 0.99;
/// let mut env = AuxiliaryReward::new(line, move |obs: &[f64], _action: &[f64], next: &[f64], step: &Step| {
///     let phi_next = if step.terminated { 0.0 } else { next[0] };
///     gamma * phi_next - obs[0]
/// });
///
/// let (mut obs, mut info) = ([0.0], Info::new());
/// env.reset(Some(0), &mut obs, &mut info)?;
/// info.clear();
/// let step = env.step(&[1.0], &mut obs, &mut info)?;
/// assert_eq!(step.reward, 0.0); // primary reward, unchanged
/// assert_eq!(info.get(AUX_REWARD), Some(0.99 * 1.0 - 0.0)); // auxiliary reward, in info
/// # Ok::<(), EnvError>(())
/// ```
#[derive(Clone)]
pub struct AuxiliaryReward<E, F> {
    env: E,
    f: F,
    prev_obs: Vec<f64>,
    has_obs: bool,
    episode_aux_return: f64,
}

impl<E, F> AuxiliaryReward<E, F>
where
    E: Env,
    F: Fn(&[f64], &[f64], &[f64], &Step) -> f64 + Send,
{
    /// Wraps `env`, computing the auxiliary reward with `f(obs, action, next_obs, step)`.
    pub fn new(env: E, f: F) -> Self {
        let n = env.observation_space().packed_len();
        AuxiliaryReward { env, f, prev_obs: vec![0.0; n], has_obs: false, episode_aux_return: 0.0 }
    }
    /// The wrapped environment.
    pub fn inner(&self) -> &E {
        &self.env
    }
    /// The wrapped environment, mutably.
    pub fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }
    /// Unwraps the environment.
    pub fn into_inner(self) -> E {
        self.env
    }
    /// Sum of the auxiliary rewards of the current episode so far.
    pub fn episode_aux_return(&self) -> f64 {
        self.episode_aux_return
    }
}

impl<E: fmt::Debug, F> fmt::Debug for AuxiliaryReward<E, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuxiliaryReward")
            .field("env", &self.env)
            .field("prev_obs", &self.prev_obs)
            .field("episode_aux_return", &self.episode_aux_return)
            .finish_non_exhaustive()
    }
}

impl<E, F> Env for AuxiliaryReward<E, F>
where
    E: Env,
    F: Fn(&[f64], &[f64], &[f64], &Step) -> f64 + Send,
{
    fn observation_space(&self) -> &Space {
        self.env.observation_space()
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], info: &mut Info) -> Result<(), EnvError> {
        check_len("observation", obs, self.prev_obs.len())?;
        self.has_obs = false;
        self.env.reset(seed, obs, info)?;
        self.prev_obs.copy_from_slice(obs);
        self.has_obs = true;
        self.episode_aux_return = 0.0;
        Ok(())
    }
    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        check_len("observation", obs, self.prev_obs.len())?;
        if !self.has_obs {
            return Err(EnvError::NeedsReset("AuxiliaryReward: step called before reset"));
        }
        let s = self.env.step(action, obs, info)?;
        let aux = (self.f)(&self.prev_obs, action, obs, &s);
        self.episode_aux_return += aux;
        info.set(AUX_REWARD, aux);
        if s.done() {
            info.set(AUX_EPISODE_RETURN, self.episode_aux_return);
        }
        self.prev_obs.copy_from_slice(obs);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wrappers::testing::ScriptEnv;

    #[test]
    fn aux_reward_sees_previous_observation_action_and_step() {
        // aux = next[0] - obs[0] + 100 * action[0] + 1000 * terminated
        let f = |o: &[f64], a: &[f64], n: &[f64], s: &Step| {
            n[0] - o[0] + 100.0 * a[0] + if s.terminated { 1000.0 } else { 0.0 }
        };
        let mut env = AuxiliaryReward::new(ScriptEnv::new(&[2], 1, 3), f);
        let (mut obs, mut info) = ([0.0; 2], Info::new());
        env.reset(Some(0), &mut obs, &mut info).unwrap();
        let mut auxes = vec![];
        let mut rewards = vec![];
        for a in [0.5, -1.0, 0.25] {
            info.clear();
            let s = env.step(&[a], &mut obs, &mut info).unwrap();
            rewards.push(s.reward);
            auxes.push(info.get(AUX_REWARD).unwrap());
            assert_eq!(info.get("t"), Some(rewards.len() as f64), "inner info kept");
            if !s.done() {
                assert_eq!(info.get(AUX_EPISODE_RETURN), None);
            }
        }
        assert_eq!(rewards, vec![1.0, 2.0, 3.0], "primary reward untouched");
        assert_eq!(auxes, vec![51.0, -99.0, 1026.0]);
        assert_eq!(info.get(AUX_EPISODE_RETURN), Some(978.0));
        assert_eq!(env.episode_aux_return(), 978.0);
        env.reset(None, &mut obs, &mut info).unwrap();
        assert_eq!(env.episode_aux_return(), 0.0);
        assert!(format!("{env:?}").contains("AuxiliaryReward"));
    }

    #[test]
    fn step_before_reset_is_an_error() {
        let mut env =
            AuxiliaryReward::new(ScriptEnv::new(&[1], 1, 3), |_: &[f64], _: &[f64], _: &[f64], _: &Step| 0.0);
        let (mut obs, mut info) = ([0.0], Info::new());
        assert!(matches!(env.step(&[0.0], &mut obs, &mut info), Err(EnvError::NeedsReset(_))));
        assert!(env.step(&[0.0], &mut [0.0, 0.0], &mut info).is_err());
        env.reset(Some(0), &mut obs, &mut info).unwrap();
        assert!(env.step(&[0.0], &mut obs, &mut info).is_ok());
        assert_eq!(env.name(), "ScriptEnv");
    }
}
