//! Distractor wrappers: uncontrollable AR(1) noise dimensions ([`Ar1Distractors`]) and additive
//! observation noise ([`ObservationNoise`]).
//!
//! These are the state-based stand-in for RePo's video-background distractors (Zhu et al., 2023,
//! "RePo: Resilient Model-Based RL by Regularizing Posterior Predictability", which evaluates on
//! DM Control with natural videos playing behind the agent). A video background is a
//! high-dimensional, temporally correlated signal that the agent's actions cannot influence and
//! that carries no reward information; [`Ar1Distractors`] appends exactly that to a state
//! observation: `count` extra slots following independent stationary AR(1) processes. A
//! representation that predicts the observation must model them; one that predicts reward and
//! dynamics should learn to ignore them. [`ObservationNoise`] adds white sensor noise to the
//! task's own slots instead.
//!
//! Both draw from their own PCG-64 stream, seeded from the seed given to `reset` (mixed with a
//! per-wrapper constant so that stacking them, or the inner env's stream, gives independent
//! noise): the same seed gives the same noise, whatever the actions. Neither allocates in `step`.

use crate::env::{Env, EnvError, EnvRandom, EnvRng, Info, Step, check_len};
use crate::space::{BoxSpace, Space};

use super::require_box;

/// Settings of [`Ar1Distractors`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ar1Config {
    /// Number of appended noise slots.
    pub count: usize,
    /// AR(1) coefficient ρ in `[0, 1)`: the lag-one autocorrelation (0 = white noise, near 1 =
    /// slowly drifting, like a video background).
    pub coefficient: f64,
    /// Stationary standard deviation σ ≥ 0 of each slot (observation units).
    pub scale: f64,
}

impl Default for Ar1Config {
    /// Eight slots, ρ = 0.95, σ = 1.
    fn default() -> Self {
        Ar1Config { count: 8, coefficient: 0.95, scale: 1.0 }
    }
}

/// Appends `count` uncontrollable AR(1) noise slots to a flat `Box` observation.
///
/// Each slot follows `z_{t+1} = ρ z_t + σ √(1 − ρ²) ε_t`, `ε_t ~ N(0, 1)` i.i.d., started from
/// its stationary law `z_0 ~ N(0, σ²)` at every reset, so that every `z_t ~ N(0, σ²)` and
/// `corr(z_t, z_{t+1}) = ρ`. The observation becomes `[inner observation, z_1 … z_count]`; the
/// space grows accordingly, with unbounded slots of the inner dtype.
#[derive(Debug, Clone)]
pub struct Ar1Distractors<E> {
    env: E,
    config: Ar1Config,
    innovation: f64,
    inner_len: usize,
    state: Vec<f64>,
    space: Space,
    random: EnvRandom,
}

/// Salt of [`Ar1Distractors`]' seed (any fixed odd constant; distinct per wrapper).
const AR1_SALT: u64 = 0xA5_1D15_7AC7_0001;
/// Salt of [`ObservationNoise`]' seed.
const NOISE_SALT: u64 = 0x0B5E_2BAD_5EED_0003;

/// The wrapper's own seed for reset seed `seed` (SplitMix64 finaliser of `seed ^ salt`).
fn mix(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Applies `reset(seed)` semantics to a wrapper's generator with its salt.
fn reseed(random: &mut EnvRandom, seed: Option<u64>, salt: u64) -> &mut EnvRng {
    random.reseed(seed.map(|s| mix(s, salt)))
}

/// One standard normal draw (Box-Muller, one draw per call).
fn standard_normal(rng: &mut EnvRng) -> f64 {
    use rand::Rng;
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl<E: Env> Ar1Distractors<E> {
    /// Wraps `env`. Errors unless the observation space is a 1-D `Box`, `0 ≤ ρ < 1` and
    /// `σ ≥ 0` (both finite).
    pub fn new(env: E, config: Ar1Config) -> Result<Self, EnvError> {
        let inner = require_box(env.observation_space(), "Ar1Distractors", "observation")?;
        if inner.shape.len() != 1 {
            return Err(EnvError::Other(format!(
                "Ar1Distractors requires a 1-D Box observation space, got shape {:?}",
                inner.shape
            )));
        }
        let Ar1Config { count, coefficient: rho, scale } = config;
        if !(0.0..1.0).contains(&rho) {
            return Err(EnvError::Other(format!("Ar1Distractors: coefficient {rho} is not in [0, 1)")));
        }
        if !(scale.is_finite() && scale >= 0.0) {
            return Err(EnvError::Other(format!("Ar1Distractors: scale {scale} is not a finite number ≥ 0")));
        }
        let inner_len = inner.low.len();
        let mut low = inner.low.clone();
        let mut high = inner.high.clone();
        low.resize(inner_len + count, f64::NEG_INFINITY);
        high.resize(inner_len + count, f64::INFINITY);
        let space = Space::Box(BoxSpace { low, high, shape: vec![inner_len + count], dtype: inner.dtype });
        Ok(Ar1Distractors {
            env,
            config,
            innovation: scale * (1.0 - rho * rho).sqrt(),
            inner_len,
            state: vec![0.0; count],
            space,
            random: EnvRandom::default(),
        })
    }
    /// The settings.
    pub fn config(&self) -> Ar1Config {
        self.config
    }
    /// The current noise values `z`.
    pub fn noise(&self) -> &[f64] {
        &self.state
    }
    /// The wrapped environment.
    pub fn inner(&self) -> &E {
        &self.env
    }
    /// The wrapped environment, mutably.
    pub fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }
    /// Unwraps.
    pub fn into_inner(self) -> E {
        self.env
    }
}

impl<E: Env> Env for Ar1Distractors<E> {
    fn observation_space(&self) -> &Space {
        &self.space
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], info: &mut Info) -> Result<(), EnvError> {
        check_len("observation", obs, self.inner_len + self.state.len())?;
        self.env.reset(seed, &mut obs[..self.inner_len], info)?;
        let rng = reseed(&mut self.random, seed, AR1_SALT);
        for z in &mut self.state {
            *z = self.config.scale * standard_normal(rng);
        }
        obs[self.inner_len..].copy_from_slice(&self.state);
        Ok(())
    }
    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        check_len("observation", obs, self.inner_len + self.state.len())?;
        let s = self.env.step(action, &mut obs[..self.inner_len], info)?;
        let rng = self.random.rng();
        let rho = self.config.coefficient;
        for z in &mut self.state {
            *z = rho * *z + self.innovation * standard_normal(rng);
        }
        obs[self.inner_len..].copy_from_slice(&self.state);
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

/// Adds white Gaussian noise `N(0, σ²)` to every slot of a `Box` observation, independently at
/// every reset and step. The observation space becomes unbounded (same shape and dtype) when
/// `σ > 0`, since noisy observations may leave the inner bounds.
#[derive(Debug, Clone)]
pub struct ObservationNoise<E> {
    env: E,
    scale: f64,
    space: Space,
    random: EnvRandom,
}

impl<E: Env> ObservationNoise<E> {
    /// Wraps `env` with noise of standard deviation `scale` (observation units). Errors unless the
    /// observation space is a `Box` and `scale` is finite and ≥ 0.
    pub fn new(env: E, scale: f64) -> Result<Self, EnvError> {
        let inner = require_box(env.observation_space(), "ObservationNoise", "observation")?;
        if !(scale.is_finite() && scale >= 0.0) {
            return Err(EnvError::Other(format!(
                "ObservationNoise: scale {scale} is not a finite number ≥ 0"
            )));
        }
        let mut b = inner.clone();
        if scale > 0.0 {
            b.low.fill(f64::NEG_INFINITY);
            b.high.fill(f64::INFINITY);
        }
        Ok(ObservationNoise { env, scale, space: Space::Box(b), random: EnvRandom::default() })
    }
    /// The noise standard deviation.
    pub fn scale(&self) -> f64 {
        self.scale
    }
    /// The wrapped environment.
    pub fn inner(&self) -> &E {
        &self.env
    }
    /// The wrapped environment, mutably.
    pub fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }
    /// Unwraps.
    pub fn into_inner(self) -> E {
        self.env
    }
    fn add_noise(&mut self, obs: &mut [f64]) {
        let rng = self.random.rng();
        for o in obs {
            *o += self.scale * standard_normal(rng);
        }
    }
}

impl<E: Env> Env for ObservationNoise<E> {
    fn observation_space(&self) -> &Space {
        &self.space
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], info: &mut Info) -> Result<(), EnvError> {
        self.env.reset(seed, obs, info)?;
        reseed(&mut self.random, seed, NOISE_SALT);
        self.add_noise(obs);
        Ok(())
    }
    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        let s = self.env.step(action, obs, info)?;
        self.add_noise(obs);
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

/// A generator seeded like the wrappers' (for tests that rebuild the expected stream).
#[cfg(test)]
fn wrapper_rng(seed: u64, salt: u64) -> EnvRng {
    use rand::SeedableRng;
    EnvRng::seed_from_u64(mix(seed, salt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::{check_env, errors_only};
    use crate::wrappers::testing::ScriptEnv;
    use crate::{DType, EnvExt};

    #[test]
    fn space_grows_and_inner_slots_are_untouched() {
        let cfg = Ar1Config { count: 3, coefficient: 0.9, scale: 2.0 };
        let mut env = Ar1Distractors::new(ScriptEnv::new(&[4], 2, 50), cfg).unwrap();
        let mut plain = ScriptEnv::new(&[4], 2, 50);
        let Space::Box(b) = env.observation_space() else { panic!() };
        assert_eq!(b.shape, vec![7]);
        assert_eq!(b.dtype, DType::F64);
        assert!(b.low[4..].iter().all(|l| *l == f64::NEG_INFINITY));
        let (o, _) = env.reset_owned(Some(3)).unwrap();
        let (p, _) = plain.reset_owned(Some(3)).unwrap();
        assert_eq!(&o[..4], &p[..]);
        // The first noise values are σ times the wrapper stream's first normals.
        let mut rng = wrapper_rng(3, AR1_SALT);
        for z in &o[4..] {
            assert_eq!(*z, 2.0 * standard_normal(&mut rng));
        }
        let t = env.step_owned(&[0.5, 0.5]).unwrap();
        let q = plain.step_owned(&[0.5, 0.5]).unwrap();
        assert_eq!(&t.obs[..4], &q.obs[..]);
        for (k, z) in t.obs[4..].iter().enumerate() {
            let expected = 0.9 * o[4 + k] + 2.0 * (1.0f64 - 0.81).sqrt() * standard_normal(&mut rng);
            assert_eq!(*z, expected);
        }
    }

    #[test]
    fn noise_is_seeded_by_reset_and_independent_of_actions() {
        let cfg = Ar1Config::default();
        let run = |seed: u64, action: f64| {
            let mut env = Ar1Distractors::new(ScriptEnv::new(&[2], 1, 1000), cfg).unwrap();
            let (mut all, _) = env.reset_owned(Some(seed)).unwrap();
            for _ in 0..20 {
                all.extend(env.step_owned(&[action]).unwrap().obs);
            }
            all.chunks(10).map(|c| c[2..].to_vec()).collect::<Vec<_>>()
        };
        assert_eq!(run(1, 0.0), run(1, 1.5));
        assert_ne!(run(1, 0.0), run(2, 0.0));
    }

    #[test]
    fn ar1_has_the_stationary_variance_and_lag_one_correlation() {
        let (rho, sigma) = (0.8, 1.5);
        let cfg = Ar1Config { count: 4, coefficient: rho, scale: sigma };
        let mut env = Ar1Distractors::new(ScriptEnv::new(&[1], 1, u64::MAX), cfg).unwrap();
        let mut obs = [0.0; 5];
        let mut info = Info::new();
        env.reset(Some(11), &mut obs, &mut info).unwrap();
        let n = 50_000;
        let (mut s2, mut s11) = (0.0, 0.0);
        let mut prev = obs;
        for _ in 0..n {
            env.step(&[0.0], &mut obs, &mut info).unwrap();
            for k in 1..5 {
                s2 += obs[k] * obs[k];
                s11 += obs[k] * prev[k];
            }
            prev = obs;
        }
        let m = (4 * n) as f64;
        let var = s2 / m;
        let corr = s11 / s2;
        // Effective sample size ≈ m (1 − ρ)/(1 + ρ) ≈ 22k: var's standard error ≈ σ² √(2/22k) ≈ 2%.
        assert!((var / (sigma * sigma) - 1.0).abs() < 0.08, "variance {var}");
        assert!((corr - rho).abs() < 0.02, "lag-one correlation {corr}");
    }

    #[test]
    fn observation_noise_has_the_given_scale_and_is_reproducible() {
        let mut env = ObservationNoise::new(ScriptEnv::new(&[3], 1, u64::MAX), 0.1).unwrap();
        let mut plain = ScriptEnv::new(&[3], 1, u64::MAX);
        let Space::Box(b) = env.observation_space() else { panic!() };
        assert!(b.high.iter().all(|h| *h == f64::INFINITY));
        let (a, _) = env.reset_owned(Some(9)).unwrap();
        plain.reset_owned(Some(9)).unwrap();
        let (mut s, mut s2, mut n) = (0.0, 0.0, 0.0);
        for _ in 0..20_000 {
            let t = env.step_owned(&[0.0]).unwrap();
            let p = plain.step_owned(&[0.0]).unwrap();
            for (x, y) in t.obs.iter().zip(&p.obs) {
                let e = x - y;
                s += e;
                s2 += e * e;
                n += 1.0;
            }
        }
        let (mean, std) = (s / n, (s2 / n - (s / n).powi(2)).sqrt());
        assert!(mean.abs() < 0.002 && (std - 0.1).abs() < 0.002, "mean {mean} std {std}");
        let (b_obs, _) = env.reset_owned(Some(9)).unwrap();
        assert_eq!(a, b_obs);
        // A zero scale is the identity and keeps the bounds.
        let mut id = ObservationNoise::new(ScriptEnv::new(&[3], 1, 5), 0.0).unwrap();
        assert_eq!(id.reset_owned(Some(1)).unwrap().0, plain.reset_owned(Some(1)).unwrap().0);
    }

    #[test]
    fn bad_settings_are_errors_and_wrapped_envs_pass_check_env() {
        let bad = |cfg| Ar1Distractors::new(ScriptEnv::new(&[2], 1, 10), cfg).is_err();
        assert!(bad(Ar1Config { coefficient: 1.0, ..Default::default() }));
        assert!(bad(Ar1Config { coefficient: -0.1, ..Default::default() }));
        assert!(bad(Ar1Config { scale: f64::NAN, ..Default::default() }));
        assert!(Ar1Distractors::new(ScriptEnv::new(&[2, 2], 1, 10), Ar1Config::default()).is_err());
        assert!(
            Ar1Distractors::new(ScriptEnv::new(&[2], 1, 10).discrete_obs(3), Ar1Config::default()).is_err()
        );
        assert!(ObservationNoise::new(ScriptEnv::new(&[2], 1, 10), -1.0).is_err());
        let mut a = Ar1Distractors::new(ScriptEnv::new(&[2], 1, 30), Ar1Config::default()).unwrap();
        assert!(errors_only(&check_env(&mut a)).is_empty());
        let mut b = ObservationNoise::new(ScriptEnv::new(&[2], 1, 30), 0.5).unwrap();
        assert!(errors_only(&check_env(&mut b)).is_empty());
    }
}
