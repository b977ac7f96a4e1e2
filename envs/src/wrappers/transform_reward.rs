//! [`TransformReward`]: applies a function to every reward.

use std::fmt;

use crate::env::{Env, EnvError, Info, Step};
use crate::space::Space;

/// Gymnasium's `TransformReward`: replaces each step's reward `r` with `f(r)`.
///
/// `F` is any `Fn(f64) -> f64 + Send`: a closure, a function, or a
/// `Box<dyn Fn(f64) -> f64 + Send>` when the type must be nameable.
///
/// ```
/// use alignrl_envs::wrappers::TransformReward;
/// # use alignrl_envs::{Env, EnvError, Info, Space, Step};
/// # struct Const(Space);
/// # impl Env for Const {
/// #     fn observation_space(&self) -> &Space { &self.0 }
/// #     fn action_space(&self) -> &Space { &self.0 }
/// #     fn reset(&mut self, _: Option<u64>, o: &mut [f64], _: &mut Info) -> Result<(), EnvError> { o[0] = 0.0; Ok(()) }
/// #     fn step(&mut self, _: &[f64], _: &mut [f64], _: &mut Info) -> Result<Step, EnvError> {
/// #         Ok(Step { reward: 3.0, ..Step::default() })
/// #     }
/// #     fn name(&self) -> &str { "Const" }
/// # }
/// # let my_env = Const(Space::discrete(2));
/// let mut env = TransformReward::new(my_env, |r: f64| r.clamp(-1.0, 1.0));
/// let (mut obs, mut info) = ([0.0], Info::new());
/// env.reset(Some(0), &mut obs, &mut info)?;
/// assert_eq!(env.step(&[0.0], &mut obs, &mut info)?.reward, 1.0);
/// # Ok::<(), EnvError>(())
/// ```
#[derive(Clone)]
pub struct TransformReward<E, F> {
    env: E,
    f: F,
}

impl<E: Env, F: Fn(f64) -> f64 + Send> TransformReward<E, F> {
    /// Wraps `env`, transforming rewards with `f`.
    pub fn new(env: E, f: F) -> Self {
        TransformReward { env, f }
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
}

impl<E: fmt::Debug, F> fmt::Debug for TransformReward<E, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransformReward").field("env", &self.env).finish_non_exhaustive()
    }
}

impl<E: Env, F: Fn(f64) -> f64 + Send> Env for TransformReward<E, F> {
    fn observation_space(&self) -> &Space {
        self.env.observation_space()
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], info: &mut Info) -> Result<(), EnvError> {
        self.env.reset(seed, obs, info)
    }
    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        let mut s = self.env.step(action, obs, info)?;
        s.reward = (self.f)(s.reward);
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
    fn rewards_are_transformed_and_the_rest_passes_through() {
        let mut env = TransformReward::new(ScriptEnv::new(&[1], 1, 2), |r: f64| 10.0 * r - 1.0);
        let (mut obs, mut info) = ([0.0], Info::new());
        env.reset(Some(0), &mut obs, &mut info).unwrap();
        let s1 = env.step(&[0.0], &mut obs, &mut info).unwrap();
        let s2 = env.step(&[0.0], &mut obs, &mut info).unwrap();
        assert_eq!((s1.reward, s2.reward), (9.0, 19.0));
        assert!(s2.terminated && !s1.terminated);
        assert_eq!(env.name(), "ScriptEnv");
        assert!(format!("{env:?}").starts_with("TransformReward"));

        let boxed: Box<dyn Fn(f64) -> f64 + Send> = Box::new(|r| -r);
        let mut env: Box<dyn Env> = Box::new(TransformReward::new(ScriptEnv::new(&[1], 1, 2), boxed));
        env.reset(Some(0), &mut obs, &mut info).unwrap();
        assert_eq!(env.step(&[0.0], &mut obs, &mut info).unwrap().reward, -1.0);
    }
}
