//! [`NormalizeObservation`] and [`NormalizeReward`], with the running statistics
//! ([`RunningMeanStd`]) exposed so that checkpoints can save and restore them.

use serde::{Deserialize, Serialize};

use crate::env::{Env, EnvError, Info, Step};
use crate::space::{BoxSpace, DType, Space};

/// Gymnasium's `RunningMeanStd`: per-dimension running mean and (population) variance, merged with
/// the parallel algorithm of Chan et al. The count starts at `1e-4` (Gymnasium's `epsilon`) with
/// mean 0 and variance 1, so the first sample does not divide by zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningMeanStd {
    /// Running mean, one entry per dimension.
    pub mean: Vec<f64>,
    /// Running variance, one entry per dimension.
    pub var: Vec<f64>,
    /// Number of samples seen (plus the initial `1e-4`).
    pub count: f64,
}

impl RunningMeanStd {
    /// Gymnasium's initial count.
    pub const INITIAL_COUNT: f64 = 1e-4;

    /// Fresh statistics for `dim` dimensions.
    pub fn new(dim: usize) -> Self {
        RunningMeanStd { mean: vec![0.0; dim], var: vec![1.0; dim], count: Self::INITIAL_COUNT }
    }
    /// Number of dimensions.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }
    /// Adds one sample (`x.len() == dim()`). Allocation-free.
    ///
    /// # Panics
    /// If `x` has the wrong length.
    pub fn update(&mut self, x: &[f64]) {
        assert_eq!(x.len(), self.dim(), "RunningMeanStd::update: sample has the wrong dimension");
        let tot = self.count + 1.0;
        for ((m, v), &xi) in self.mean.iter_mut().zip(&mut self.var).zip(x) {
            let delta = xi - *m;
            *m += delta / tot;
            *v = (*v * self.count + delta * delta * self.count / tot) / tot;
        }
        self.count = tot;
    }
    /// Merges a batch summarised by its per-dimension mean, (population) variance and size.
    ///
    /// # Panics
    /// If the slices have the wrong length.
    pub fn update_from_moments(&mut self, batch_mean: &[f64], batch_var: &[f64], batch_count: f64) {
        assert!(batch_mean.len() == self.dim() && batch_var.len() == self.dim(), "wrong dimension");
        let tot = self.count + batch_count;
        for (((m, v), &bm), &bv) in self.mean.iter_mut().zip(&mut self.var).zip(batch_mean).zip(batch_var) {
            let delta = bm - *m;
            *m += delta * batch_count / tot;
            *v = (*v * self.count + bv * batch_count + delta * delta * self.count * batch_count / tot) / tot;
        }
        self.count = tot;
    }
    fn check_dim(&self, dim: usize, what: &str) -> Result<(), EnvError> {
        if self.mean.len() == dim && self.var.len() == dim && self.count > 0.0 {
            Ok(())
        } else {
            Err(EnvError::Other(format!(
                "{what}: statistics have mean of length {}, var of length {} and count {}; expected \
                 length {dim} and a positive count",
                self.mean.len(),
                self.var.len(),
                self.count
            )))
        }
    }
}

fn check_epsilon(epsilon: f64) -> Result<(), EnvError> {
    if epsilon > 0.0 && epsilon.is_finite() {
        Ok(())
    } else {
        Err(EnvError::Other(format!("epsilon should be strictly positive, got {epsilon}")))
    }
}

/// Gymnasium's `NormalizeObservation`: each observation (from `reset` and `step`) is first added
/// to the running statistics (unless updating is switched off, e.g. for evaluation) and then
/// replaced by `(obs - mean) / sqrt(var + epsilon)`, rounded to `f32`.
///
/// As in Gymnasium 1.x the observation space becomes `Box(-inf, inf, shape, float32)`. The inner
/// space must have a shape: a `Box`, `Discrete`, `MultiDiscrete` or `MultiBinary` (normalised
/// slot by slot in the packed layout); `Tuple` and `Dict` are rejected.
#[derive(Debug, Clone)]
pub struct NormalizeObservation<E> {
    env: E,
    space: Space,
    rms: RunningMeanStd,
    epsilon: f64,
    update: bool,
}

impl<E: Env> NormalizeObservation<E> {
    /// Gymnasium's default epsilon.
    pub const DEFAULT_EPSILON: f64 = 1e-8;

    /// Wraps `env` with epsilon `1e-8`.
    pub fn new(env: E) -> Result<Self, EnvError> {
        Self::with_epsilon(env, Self::DEFAULT_EPSILON)
    }
    /// Wraps `env`; errors if `epsilon <= 0` or the observation space has no shape.
    pub fn with_epsilon(env: E, epsilon: f64) -> Result<Self, EnvError> {
        check_epsilon(epsilon)?;
        let inner = env.observation_space();
        let shape = match inner {
            Space::Box(b) => b.shape.clone(),
            Space::Discrete(_) => vec![],
            Space::MultiDiscrete(_) | Space::MultiBinary(_) => vec![inner.packed_len()],
            other => {
                return Err(EnvError::Other(format!(
                    "NormalizeObservation requires an observation space with a shape, got {other}"
                )));
            }
        };
        let n = inner.packed_len();
        let space = Space::Box(BoxSpace {
            low: vec![f64::NEG_INFINITY; n],
            high: vec![f64::INFINITY; n],
            shape,
            dtype: DType::F32,
        });
        Ok(NormalizeObservation { env, space, rms: RunningMeanStd::new(n), epsilon, update: true })
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
    /// The running statistics of the observations.
    pub fn stats(&self) -> &RunningMeanStd {
        &self.rms
    }
    /// Replaces the running statistics (e.g. from a checkpoint). Errors on a dimension mismatch or
    /// a non-positive count.
    pub fn set_stats(&mut self, stats: RunningMeanStd) -> Result<(), EnvError> {
        stats.check_dim(self.space.packed_len(), "NormalizeObservation::set_stats")?;
        self.rms = stats;
        Ok(())
    }
    /// Whether observations update the statistics (Gymnasium's `update_running_mean`).
    pub fn update_running_mean(&self) -> bool {
        self.update
    }
    /// Freezes (`false`) or resumes (`true`) updating the statistics.
    pub fn set_update_running_mean(&mut self, update: bool) {
        self.update = update;
    }
    /// The epsilon added to the variance.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    fn normalize(&mut self, obs: &mut [f64]) {
        if self.update {
            self.rms.update(obs);
        }
        for ((o, m), v) in obs.iter_mut().zip(&self.rms.mean).zip(&self.rms.var) {
            *o = ((*o - m) / (v + self.epsilon).sqrt()) as f32 as f64;
        }
    }
}

impl<E: Env> Env for NormalizeObservation<E> {
    fn observation_space(&self) -> &Space {
        &self.space
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], info: &mut Info) -> Result<(), EnvError> {
        self.env.reset(seed, obs, info)?;
        self.normalize(obs);
        Ok(())
    }
    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        let s = self.env.step(action, obs, info)?;
        self.normalize(obs);
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

/// When [`NormalizeReward`] restarts its discounted return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ReturnReset {
    /// Gymnasium 1.x exactly: `G <- G * gamma * (1 - terminated) + r`. The terminal step zeroes
    /// the accumulated return before adding its reward; truncation and `reset` do not touch it.
    #[default]
    Gymnasium,
    /// `G <- G * gamma + r`, then `G <- 0` after any step that ends the episode (terminated or
    /// truncated) and on `reset` (the rule of Baselines' `VecNormalize`).
    EpisodeEnd,
}

/// Gymnasium's `NormalizeReward`: keeps a discounted return `G <- G * gamma * (1 - terminated) + r`,
/// adds each `G` to running statistics (unless updating is switched off), and returns the reward
/// scaled as `r / sqrt(var(G) + epsilon)` (the mean is not subtracted). [`ReturnReset`] selects
/// when `G` restarts; the default is Gymnasium's rule.
#[derive(Debug, Clone)]
pub struct NormalizeReward<E> {
    env: E,
    rms: RunningMeanStd,
    discounted_return: f64,
    gamma: f64,
    epsilon: f64,
    update: bool,
    reset_rule: ReturnReset,
}

impl<E: Env> NormalizeReward<E> {
    /// Gymnasium's default discount.
    pub const DEFAULT_GAMMA: f64 = 0.99;
    /// Gymnasium's default epsilon.
    pub const DEFAULT_EPSILON: f64 = 1e-8;

    /// Wraps `env` with gamma 0.99 and epsilon 1e-8.
    pub fn new(env: E) -> Self {
        Self::with_params(env, Self::DEFAULT_GAMMA, Self::DEFAULT_EPSILON).expect("defaults are valid")
    }
    /// Wraps `env`; errors unless `0 <= gamma <= 1` and `epsilon > 0`.
    pub fn with_params(env: E, gamma: f64, epsilon: f64) -> Result<Self, EnvError> {
        if !(0.0..=1.0).contains(&gamma) {
            return Err(EnvError::Other(format!("gamma should be in [0, 1], got {gamma}")));
        }
        check_epsilon(epsilon)?;
        Ok(NormalizeReward {
            env,
            rms: RunningMeanStd::new(1),
            discounted_return: 0.0,
            gamma,
            epsilon,
            update: true,
            reset_rule: ReturnReset::Gymnasium,
        })
    }
    /// Selects when the discounted return restarts (builder style).
    pub fn with_return_reset(mut self, rule: ReturnReset) -> Self {
        self.reset_rule = rule;
        self
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
    /// The running statistics of the discounted return (one dimension).
    pub fn stats(&self) -> &RunningMeanStd {
        &self.rms
    }
    /// Replaces the running statistics (e.g. from a checkpoint). Errors unless one-dimensional
    /// with a positive count.
    pub fn set_stats(&mut self, stats: RunningMeanStd) -> Result<(), EnvError> {
        stats.check_dim(1, "NormalizeReward::set_stats")?;
        self.rms = stats;
        Ok(())
    }
    /// The current discounted return `G`.
    pub fn discounted_return(&self) -> f64 {
        self.discounted_return
    }
    /// Whether rewards update the statistics (Gymnasium's `update_running_mean`).
    pub fn update_running_mean(&self) -> bool {
        self.update
    }
    /// Freezes (`false`) or resumes (`true`) updating the statistics.
    pub fn set_update_running_mean(&mut self, update: bool) {
        self.update = update;
    }
    /// The discount.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }
    /// The epsilon added to the variance.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }
    /// When the discounted return restarts.
    pub fn return_reset(&self) -> ReturnReset {
        self.reset_rule
    }
}

impl<E: Env> Env for NormalizeReward<E> {
    fn observation_space(&self) -> &Space {
        self.env.observation_space()
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], info: &mut Info) -> Result<(), EnvError> {
        if self.reset_rule == ReturnReset::EpisodeEnd {
            self.discounted_return = 0.0;
        }
        self.env.reset(seed, obs, info)
    }
    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        let mut s = self.env.step(action, obs, info)?;
        let keep = match self.reset_rule {
            ReturnReset::Gymnasium if s.terminated => 0.0,
            _ => self.gamma,
        };
        self.discounted_return = self.discounted_return * keep + s.reward;
        if self.update {
            self.rms.update(&[self.discounted_return]);
        }
        s.reward /= (self.rms.var[0] + self.epsilon).sqrt();
        if self.reset_rule == ReturnReset::EpisodeEnd && s.done() {
            self.discounted_return = 0.0;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wrappers::testing::ScriptEnv;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    #[test]
    fn running_mean_std_matches_batch_moments() {
        let xs = [[1.0, -3.0], [2.5, 0.0], [-4.0, 8.0], [0.5, 0.5]];
        let mut a = RunningMeanStd::new(2);
        xs.iter().for_each(|x| a.update(x));
        let mut b = RunningMeanStd::new(2);
        b.update_from_moments(&[2.0, -2.0], &[0.0, 0.0], 0.0);
        b.update(&xs[0]);
        b.update_from_moments(&[-0.75, 4.0], &[10.5625, 16.0], 2.0); // xs[1..3]
        b.update(&xs[3]);
        for d in 0..2 {
            let col: Vec<f64> = xs.iter().map(|x| x[d]).collect();
            let mean = col.iter().sum::<f64>() / 4.0;
            let var = col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 4.0;
            assert!(close(a.mean[d], mean, 1e-4) && close(a.var[d], var, 1e-4), "{a:?}");
            assert!(close(a.mean[d], b.mean[d], 1e-12) && close(a.var[d], b.var[d], 1e-12), "{b:?}");
        }
        assert!(close(a.count, 4.0001, 1e-15));
    }

    #[test]
    fn normalize_reward_matches_gymnasium() {
        // Reference: gymnasium 1.4 NormalizeReward(gamma=0.99) over rewards [1, -0.5, 2, 0.25]
        // (indexed by the step within the episode), episodes terminating after 3 steps.
        let expected = [
            70.71421321062337,
            -1.9596619562052393,
            3.188609125961765,
            1.0460535364811832,
            -0.544875682030713,
            2.3765742904433935,
            1.1382787876777607,
        ];
        let inner = ScriptEnv::new(&[2], 1, 3).with_rewards(&[1.0, -0.5, 2.0, 0.25]);
        let mut env = NormalizeReward::new(inner);
        let mut obs = [0.0; 2];
        let mut info = Info::new();
        env.reset(Some(0), &mut obs, &mut info).unwrap();
        let mut k = 0;
        for (i, want) in expected.iter().enumerate() {
            let s = env.step(&[0.0], &mut obs, &mut info).unwrap();
            assert!(close(s.reward, *want, 1e-12), "step {i}: {} vs {want}", s.reward);
            k += 1;
            if s.terminated {
                env.reset(None, &mut obs, &mut info).unwrap();
            }
        }
        assert_eq!(k, 7);
        let st = env.stats();
        assert!(close(st.mean[0], 1.985714489793003, 1e-12));
        assert!(close(st.var[0], 0.7717963299066157, 1e-12));
        assert!(close(st.count, 7.0001, 1e-15));
    }

    #[test]
    fn normalize_reward_episode_end_rule_restarts_after_truncation() {
        let mut inner = ScriptEnv::new(&[1], 1, 2).with_rewards(&[1.0]);
        inner.truncate_instead = true;
        let mut env = NormalizeReward::new(inner.clone()).with_return_reset(ReturnReset::EpisodeEnd);
        let mut gym = NormalizeReward::new(inner);
        let (mut obs, mut info) = ([0.0], Info::new());
        for e in [&mut env, &mut gym] {
            e.reset(Some(0), &mut obs, &mut info).unwrap();
            e.step(&[0.0], &mut obs, &mut info).unwrap();
            e.step(&[0.0], &mut obs, &mut info).unwrap();
            e.reset(None, &mut obs, &mut info).unwrap();
        }
        assert_eq!(env.discounted_return(), 0.0);
        assert!(close(gym.discounted_return(), 1.99, 1e-15), "truncation keeps G in Gymnasium");
        assert_eq!(env.return_reset(), ReturnReset::EpisodeEnd);
    }

    #[test]
    fn normalize_reward_freeze_and_restore_stats() {
        let mut env = NormalizeReward::with_params(ScriptEnv::new(&[1], 1, 100), 0.9, 1e-8).unwrap();
        let (mut obs, mut info) = ([0.0], Info::new());
        env.reset(Some(0), &mut obs, &mut info).unwrap();
        for _ in 0..10 {
            env.step(&[0.0], &mut obs, &mut info).unwrap();
        }
        let saved = env.stats().clone();
        env.set_update_running_mean(false);
        let s = env.step(&[0.0], &mut obs, &mut info).unwrap();
        assert_eq!(env.stats(), &saved);
        assert!(close(s.reward, 11.0 / (saved.var[0] + 1e-8).sqrt(), 1e-14));
        let json = serde_json::to_string(&saved).unwrap();
        let mut fresh = NormalizeReward::new(ScriptEnv::new(&[1], 1, 100));
        fresh.set_stats(serde_json::from_str(&json).unwrap()).unwrap();
        assert_eq!(fresh.stats(), &saved);
        assert!(fresh.set_stats(RunningMeanStd::new(2)).is_err());
        assert!(NormalizeReward::with_params(ScriptEnv::new(&[1], 1, 1), 1.5, 1e-8).is_err());
        assert!(NormalizeReward::with_params(ScriptEnv::new(&[1], 1, 1), 0.9, 0.0).is_err());
    }

    #[test]
    fn normalize_observation_matches_gymnasium() {
        // Reference: gymnasium 1.4 NormalizeObservation over a float64 Box env whose observations
        // are [0, 0.1] at reset and [t^1.5, 0.1 - 2t] at step t, episodes of 3 steps.
        struct Curve(ScriptEnv);
        impl Env for Curve {
            fn observation_space(&self) -> &Space {
                self.0.observation_space()
            }
            fn action_space(&self) -> &Space {
                self.0.action_space()
            }
            fn reset(&mut self, s: Option<u64>, o: &mut [f64], i: &mut Info) -> Result<(), EnvError> {
                self.0.reset(s, o, i)?;
                o.copy_from_slice(&[0.0, 0.1]);
                Ok(())
            }
            fn step(&mut self, a: &[f64], o: &mut [f64], i: &mut Info) -> Result<Step, EnvError> {
                let s = self.0.step(a, o, i)?;
                let t = self.0.t as f64;
                o.copy_from_slice(&[t.powf(1.5), 0.1 - 2.0 * t]);
                Ok(s)
            }
            fn name(&self) -> &str {
                "Curve"
            }
        }
        let expected: [[f64; 2]; 6] = [
            [0.0, 0.0009949386585503817],
            [0.9999499917030334, -1.0000247955322266],
            [1.3255159854888916, -1.2247687578201294],
            [1.4868799448013306, -1.3416584730148315],
            [-0.90902179479599, 1.0289701223373413],
            [-0.365090012550354, 0.15615591406822205],
        ];
        let mut env = NormalizeObservation::new(Curve(ScriptEnv::new(&[2], 1, 3))).unwrap();
        let unbounded = Space::uniform_box(f64::NEG_INFINITY, f64::INFINITY, &[2], DType::F32);
        assert_eq!(env.observation_space(), &unbounded);
        let (mut obs, mut info) = ([0.0; 2], Info::new());
        env.reset(Some(0), &mut obs, &mut info).unwrap();
        let mut got = vec![obs];
        for _ in 0..4 {
            let s = env.step(&[0.0], &mut obs, &mut info).unwrap();
            got.push(obs);
            if s.terminated {
                env.reset(None, &mut obs, &mut info).unwrap();
                got.push(obs);
            }
        }
        assert_eq!(got, expected, "outputs are f32-rounded like Gymnasium's");
        let st = env.stats();
        assert!(close(st.mean[0], 1.67073541, 1e-8) && close(st.mean[1], -2.23329611, 1e-8));
        assert!(close(st.var[0], 3.37522374, 1e-8) && close(st.var[1], 4.55557942, 1e-8));
    }

    #[test]
    fn normalize_observation_freeze_restore_and_space_checks() {
        let mut env = NormalizeObservation::new(ScriptEnv::new(&[2, 3], 1, 50)).unwrap();
        match env.observation_space() {
            Space::Box(b) => assert_eq!(b.shape, vec![2, 3]),
            s => panic!("{s}"),
        }
        let (mut obs, mut info) = ([0.0; 6], Info::new());
        env.reset(Some(3), &mut obs, &mut info).unwrap();
        for _ in 0..5 {
            env.step(&[0.0], &mut obs, &mut info).unwrap();
        }
        let saved = env.stats().clone();
        env.set_update_running_mean(false);
        assert!(!env.update_running_mean());
        env.step(&[0.0], &mut obs, &mut info).unwrap();
        assert_eq!(env.stats(), &saved);
        let raw = env.inner().base + 6.0 + 0.2;
        assert_eq!(obs[2], ((raw - saved.mean[2]) / (saved.var[2] + 1e-8).sqrt()) as f32 as f64);
        assert!(env.set_stats(RunningMeanStd::new(5)).is_err());
        env.set_stats(RunningMeanStd::new(6)).unwrap();
        assert_eq!(env.stats().count, RunningMeanStd::INITIAL_COUNT);
        assert!(NormalizeObservation::with_epsilon(ScriptEnv::new(&[1], 1, 1), -1.0).is_err());

        let disc = NormalizeObservation::new(ScriptEnv::new(&[1], 1, 1).discrete_obs(4)).unwrap();
        assert_eq!(disc.observation_space().packed_len(), 1);
        struct TupleObs(Space);
        impl Env for TupleObs {
            fn observation_space(&self) -> &Space {
                &self.0
            }
            fn action_space(&self) -> &Space {
                &self.0
            }
            fn reset(&mut self, _: Option<u64>, _: &mut [f64], _: &mut Info) -> Result<(), EnvError> {
                Ok(())
            }
            fn step(&mut self, _: &[f64], _: &mut [f64], _: &mut Info) -> Result<Step, EnvError> {
                Ok(Step::default())
            }
            fn name(&self) -> &str {
                "TupleObs"
            }
        }
        let t = TupleObs(Space::Tuple { spaces: vec![Space::discrete(2)] });
        assert!(NormalizeObservation::new(t).is_err());
    }
}
