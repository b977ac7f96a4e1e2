//! [`VecEnv`]: `N` environments stepped one after the other on the calling thread.

use crate::env::{Env, EnvError, Info, check_len};
use crate::space::Space;
use crate::vector::{Batch, NEEDS_RESET, Spaces, VecStep, VectorEnv, check_seeds};

/// Gymnasium's `SyncVectorEnv` with next-step autoreset (see the [module docs](crate::vector) for
/// the semantics and a step-by-step example).
///
/// ```
/// # use alignrl_envs::{DType, Env, EnvError, Info, Space, Step};
/// # struct Coin(Space, Space);
/// # impl Env for Coin {
/// #     fn observation_space(&self) -> &Space { &self.0 }
/// #     fn action_space(&self) -> &Space { &self.1 }
/// #     fn reset(&mut self, _: Option<u64>, o: &mut [f64], _: &mut Info) -> Result<(), EnvError> { o[0] = 0.0; Ok(()) }
/// #     fn step(&mut self, a: &[f64], o: &mut [f64], _: &mut Info) -> Result<Step, EnvError> {
/// #         o[0] = a[0]; Ok(Step { reward: a[0], terminated: true, truncated: false })
/// #     }
/// #     fn name(&self) -> &str { "Coin" }
/// # }
/// # fn make_coin() -> Coin { Coin(Space::uniform_box(0.0, 1.0, &[1], DType::F32), Space::discrete(2)) }
/// use alignrl_envs::vector::VecEnv;
///
/// let mut venv = VecEnv::from_fn(4, |_| make_coin());
/// assert_eq!(venv.observation_space(), &Space::uniform_box(0.0, 1.0, &[4, 1], DType::F32));
/// venv.reset(Some(0))?;
/// let step = venv.step(&[1.0, 0.0, 1.0, 1.0])?; // one action per sub-env, row-major
/// assert_eq!(step.rewards, [1.0, 0.0, 1.0, 1.0]);
/// # Ok::<(), EnvError>(())
/// ```
#[derive(Debug, Clone)]
pub struct VecEnv<E> {
    envs: Vec<E>,
    batch: Batch,
    spaces: Spaces,
    needs_reset: bool,
}

impl<E: Env> VecEnv<E> {
    /// A vector env over `envs`. Errors if `envs` is empty or their spaces differ.
    pub fn new(envs: Vec<E>) -> Result<Self, EnvError> {
        let spaces = Spaces::of(&envs)?;
        let batch = Batch::new(envs.len(), spaces.single_obs.packed_len(), spaces.single_act.packed_len());
        Ok(VecEnv { envs, batch, spaces, needs_reset: true })
    }

    /// A vector env over `make(0), ..., make(n - 1)`.
    ///
    /// # Panics
    /// If `n == 0` or the environments' spaces differ; use [`VecEnv::new`] to get an error instead.
    pub fn from_fn(n: usize, make: impl FnMut(usize) -> E) -> Self {
        match Self::new((0..n).map(make).collect()) {
            Ok(v) => v,
            Err(e) => panic!("VecEnv::from_fn: {e}"),
        }
    }

    /// Number of sub-envs.
    pub fn num_envs(&self) -> usize {
        self.envs.len()
    }
    /// The space of one sub-env's observations.
    pub fn single_observation_space(&self) -> &Space {
        &self.spaces.single_obs
    }
    /// The space of one sub-env's actions.
    pub fn single_action_space(&self) -> &Space {
        &self.spaces.single_act
    }
    /// The space of batched observations ([`crate::vector::batch_space`]).
    pub fn observation_space(&self) -> &Space {
        &self.spaces.batch_obs
    }
    /// The space of batched actions ([`crate::vector::batch_space`]).
    pub fn action_space(&self) -> &Space {
        &self.spaces.batch_act
    }
    /// The sub-envs' name.
    pub fn name(&self) -> &str {
        self.envs[0].name()
    }
    /// The sub-envs.
    pub fn envs(&self) -> &[E] {
        &self.envs
    }
    /// The sub-envs, mutably (e.g. to restore wrapper statistics). Changing an env's state
    /// between steps is the caller's responsibility.
    pub fn envs_mut(&mut self) -> &mut [E] {
        &mut self.envs
    }
    /// Unwraps the sub-envs.
    pub fn into_envs(self) -> Vec<E> {
        self.envs
    }

    /// Resets every sub-env, sub-env `i` with `seed + i` (`None`: continue every generator), and
    /// returns the `N` first observations (row-major). Infos are in [`VecEnv::infos`].
    pub fn reset(&mut self, seed: Option<u64>) -> Result<&[f64], EnvError> {
        self.reset_impl(|i| seed.map(|s| s.wrapping_add(i as u64)))
    }

    /// Resets sub-env `i` with `seeds[i]` and returns the `N` first observations.
    pub fn reset_with_seeds(&mut self, seeds: &[Option<u64>]) -> Result<&[f64], EnvError> {
        check_seeds(seeds, self.envs.len())?;
        self.reset_impl(|i| seeds[i])
    }

    fn reset_impl(&mut self, seed: impl Fn(usize) -> Option<u64>) -> Result<&[f64], EnvError> {
        self.needs_reset = true;
        self.batch.reset(&mut self.envs, seed).map_err(|(_, e)| e)?;
        self.needs_reset = false;
        Ok(&self.batch.obs)
    }

    /// Steps every sub-env with its row of `actions` (`N * single_action_space().packed_len()`
    /// values); a sub-env that ended at the previous step is reset instead and its action ignored.
    /// Allocation-free.
    pub fn step(&mut self, actions: &[f64]) -> Result<VecStep<'_>, EnvError> {
        if self.needs_reset {
            return Err(EnvError::NeedsReset(NEEDS_RESET));
        }
        check_len("actions", actions, self.envs.len() * self.batch.act_len)?;
        if let Err((_, e)) = self.batch.step(&mut self.envs, actions) {
            self.needs_reset = true;
            return Err(e);
        }
        Ok(self.batch.view())
    }

    /// The observations returned by the last `reset` or `step` (row-major).
    pub fn observations(&self) -> &[f64] {
        &self.batch.obs
    }
    /// The infos of the last `reset` or `step`, one per sub-env.
    pub fn infos(&self) -> &[Info] {
        &self.batch.infos
    }
}

impl<E: Env> VectorEnv for VecEnv<E> {
    fn num_envs(&self) -> usize {
        VecEnv::num_envs(self)
    }
    fn single_observation_space(&self) -> &Space {
        VecEnv::single_observation_space(self)
    }
    fn single_action_space(&self) -> &Space {
        VecEnv::single_action_space(self)
    }
    fn observation_space(&self) -> &Space {
        VecEnv::observation_space(self)
    }
    fn action_space(&self) -> &Space {
        VecEnv::action_space(self)
    }
    fn reset(&mut self, seed: Option<u64>) -> Result<&[f64], EnvError> {
        VecEnv::reset(self, seed)
    }
    fn reset_with_seeds(&mut self, seeds: &[Option<u64>]) -> Result<&[f64], EnvError> {
        VecEnv::reset_with_seeds(self, seeds)
    }
    fn step(&mut self, actions: &[f64]) -> Result<VecStep<'_>, EnvError> {
        VecEnv::step(self, actions)
    }
    fn observations(&self) -> &[f64] {
        VecEnv::observations(self)
    }
    fn infos(&self) -> &[Info] {
        VecEnv::infos(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::EnvExt;
    use crate::vector::testing::Counter;

    fn row(obs: &[f64], i: usize) -> [f64; 2] {
        [obs[2 * i], obs[2 * i + 1]]
    }

    #[test]
    fn reset_seeds_env_i_with_seed_plus_i() {
        let mut venv = VecEnv::from_fn(3, |_| Counter::new(5));
        let obs = venv.reset(Some(10)).unwrap().to_vec();
        for i in 0..3 {
            let (single, info) = Counter::new(5).reset_owned(Some(10 + i as u64)).unwrap();
            assert_eq!(row(&obs, i), [single[0], single[1]]);
            assert_eq!(venv.infos()[i], info);
        }
        let explicit = venv.reset_with_seeds(&[Some(10), Some(11), Some(12)]).unwrap();
        assert_eq!(explicit, obs);
        assert!(venv.reset_with_seeds(&[Some(1)]).is_err());
        let other = venv.reset(Some(11)).unwrap();
        assert_eq!(row(other, 0), row(&obs, 1));
    }

    #[test]
    fn step_needs_reset_and_checks_action_length() {
        let mut venv = VecEnv::from_fn(2, |_| Counter::new(5));
        assert!(matches!(venv.step(&[0.0, 0.0]), Err(EnvError::NeedsReset(_))));
        venv.reset(Some(0)).unwrap();
        assert!(matches!(
            venv.step(&[0.0]),
            Err(EnvError::BufferLength { what: "actions", expected: 2, got: 1 })
        ));
        assert!(venv.step(&[0.0, 0.0]).is_ok());
    }

    #[test]
    fn an_env_error_requires_a_reset() {
        let mut venv = VecEnv::from_fn(2, |_| Counter::new(5));
        venv.reset(Some(0)).unwrap();
        assert!(matches!(venv.step(&[0.0, -1.0]), Err(EnvError::InvalidAction { .. })));
        assert!(matches!(venv.step(&[0.0, 0.0]), Err(EnvError::NeedsReset(_))));
        venv.reset(None).unwrap();
        assert!(venv.step(&[0.0, 0.0]).is_ok());
    }

    #[test]
    fn construction_checks_spaces() {
        assert!(VecEnv::<Counter>::new(vec![]).is_err());
        let two = VecEnv::new(vec![Counter::new(2), Counter::new(7)]).unwrap();
        assert_eq!(two.into_envs()[1].len, 7, "same spaces, different episode lengths");
        let boxed: Vec<Box<dyn Env>> = vec![
            Box::new(Counter::new(2)),
            Box::new(crate::wrappers::ClipAction::new(Counter::new(2)).unwrap()),
        ];
        assert!(VecEnv::new(boxed).is_err(), "different action spaces");
        let mut venv = VecEnv::from_fn(3, |_| Counter::new(2));
        let dynamic: &mut dyn VectorEnv = &mut venv; // the trait is object-safe
        assert_eq!(dynamic.reset(Some(0)).unwrap().len(), 6);
        assert_eq!(venv.name(), "Counter");
        assert_eq!(venv.num_envs(), 3);
        assert_eq!(venv.envs().len(), 3);
        assert_eq!(venv.action_space().packed_len(), 3);
        assert_eq!(venv.single_observation_space().packed_len(), 2);
    }

    #[test]
    #[should_panic(expected = "at least one env")]
    fn from_fn_with_zero_envs_panics() {
        VecEnv::from_fn(0, |_| Counter::new(2));
    }
}
