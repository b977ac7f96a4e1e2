//! Proximal Policy Optimisation (Schulman et al. 2017) for discrete and continuous action spaces, in
//! the shape of CleanRL's `ppo.py`: one training loop, read top to bottom, with the sections "annealing",
//! "rollout", "bootstrap value" and "optimise".
//!
//! - [`PpoConfig`]: the hyperparameters, with CleanRL's CartPole defaults.
//! - [`train_ppo`]: trains a [`PpoAgent`] on a [`VectorEnv`] (Gymnasium next-step autoreset),
//!   calling back with [`UpdateStats`] after every update.
//! - [`PpoAgent`]: separate actor (logits or Gaussian mean, orthogonal gain 0.01) and critic
//!   (value, gain 1) MLPs, as in CleanRL; [`PpoAgent::act_greedy`] for evaluation.
//!
//! The pieces come from [`crate::rl`]: [`RolloutBuffer`] (storage, reset-row masking, GAE,
//! minibatches), [`ppo_loss()`] and [`clip_grad_norm`].
//!
//! Two engines compute the networks ([`PpoConfig::engine`]): by default [`FusedPpo`], a CPU engine
//! with hand-written forward/backward passes, loss, clipping and Adam on flat `f32` buffers (about
//! 10× faster than burn's autodiff for 64-64 networks and minibatches of 256, where burn's
//! per-operation overhead dominates), whose parameters are written back into the burn
//! [`ActorCritic`] after every update; or burn's autodiff on the run's backend
//! ([`PpoEngine::Burn`], for `--device cuda`). Both follow the same loop and the same random
//! streams, and agree to float rounding. All randomness (initialisation, action
//! sampling, minibatch shuffling) is drawn from `Pcg64` streams derived from [`PpoConfig::seed`],
//! and the environments are reset with that seed, so on the CPU backend the same seed gives
//! bit-identical losses.
//!
//! Action spaces: `Discrete` (a [`Categorical`] policy) and one-dimensional-shape `Box` (a
//! [`DiagGaussian`] with a state-independent, learned log standard deviation initialised to 0, as
//! CleanRL's `ppo_continuous_action.py`; the sampled, unclipped action is stored and the env gets it
//! clipped to the box).
//!
//! Optional normalisation ([`PpoConfig::norm_obs`], [`PpoConfig::norm_reward`]) follows SB3's
//! `VecNormalize` ([`VecNormalize`]): statistics shared by all sub-envs, rebuilt exactly when a
//! resumed run replays its actions, and the observation statistics kept by the [`PpoAgent`]
//! ([`PpoAgent::obs_normalization`]) for greedy evaluation. Reported episode returns are always
//! the raw ones.

use std::ops::ControlFlow;
use std::time::Instant;

use alignrl_envs::vector::VectorEnv;
use alignrl_envs::{EnvError, Space};
use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer};
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor, TensorData};
use rand::{RngCore, SeedableRng};
use rand_pcg::Pcg64;

use crate::distributions::{Categorical, DiagGaussian, tensor_from_f64, tensor_to_f64};
use crate::nn::{Activation, Mlp, MlpConfig, POLICY_GAIN, VALUE_GAIN};
use crate::rl::{
    FusedAdam, FusedPpo, Minibatch, ObsNormalization, PpoBatch, PpoLossConfig, RlError, RolloutBuffer,
    RolloutStep, VecNormalize, clip_grad_norm, fused::FUSED_ADAM_MAGIC, ppo_loss,
};

/// PPO hyperparameters. [`Default`] gives CleanRL's `ppo.py` defaults for CartPole-v1.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PpoConfig {
    /// Number of parallel sub-envs `N` (must match the vector env).
    pub num_envs: usize,
    /// Steps per sub-env per rollout `T` (a rollout holds `N · T` rows).
    pub num_steps: usize,
    /// Adam learning rate (the initial one when annealing).
    pub learning_rate: f64,
    /// Anneal the learning rate linearly from `learning_rate` towards 0 over the updates.
    pub anneal_lr: bool,
    /// Discount factor `γ`.
    pub gamma: f64,
    /// GAE parameter `λ`.
    pub gae_lambda: f64,
    /// Minibatches per epoch (the minibatch size is `N · T / num_minibatches`).
    pub num_minibatches: usize,
    /// Epochs over each rollout.
    pub update_epochs: usize,
    /// Standardise the advantages within each minibatch.
    pub norm_adv: bool,
    /// Surrogate clipping coefficient `ε` (the initial one when annealing).
    pub clip_coef: f64,
    /// Anneal the clipping coefficient linearly towards 0 over the updates, as rl-zoo's
    /// `clip_range: lin_0.2` (the value-loss clip follows it).
    pub anneal_clip: bool,
    /// Clip the value loss around the old values with `±clip_coef` (CleanRL's `clip_vloss`).
    pub clip_vloss: bool,
    /// Entropy bonus coefficient.
    pub ent_coef: f64,
    /// Value loss coefficient.
    pub vf_coef: f64,
    /// Global gradient-norm clipping threshold.
    pub max_grad_norm: f64,
    /// Stop the epochs of an update early once a minibatch's approximate KL exceeds this.
    pub target_kl: Option<f64>,
    /// Widths of the hidden layers of both the actor and the critic.
    pub hidden: Vec<usize>,
    /// Nonlinearity after each hidden layer.
    pub activation: Activation,
    /// Seed of the initialisation, action sampling, shuffling and environment resets.
    pub seed: u64,
    /// Normalise observations by running statistics shared across sub-envs (SB3's
    /// `VecNormalize(norm_obs=True)`; rl-zoo's `normalize: true`).
    pub norm_obs: bool,
    /// Scale rewards by the running standard deviation of the discounted return (SB3's
    /// `VecNormalize(norm_reward=True)`, with this config's `gamma`).
    pub norm_reward: bool,
    /// Normalised observations are clipped to `±clip_obs` (SB3: 10).
    pub clip_obs: f64,
    /// Normalised rewards are clipped to `±clip_reward` (SB3: 10).
    pub clip_reward: f64,
    /// Which code computes the networks during training: `"fused"` (the default: the CPU engine
    /// [`FusedPpo`], hand-written passes on flat `f32` buffers, several times faster for small
    /// networks) or `"burn"` (burn's autodiff on the run's backend; what `--device cuda` uses).
    /// Checkpoints of one engine resume only with the same engine.
    pub engine: PpoEngine,
}

/// The engine that computes PPO's rollout inference and gradient steps ([`PpoConfig::engine`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PpoEngine {
    /// [`FusedPpo`] on the CPU, whatever the backend; the networks are written back into the burn
    /// [`ActorCritic`] after every update (for callbacks, checkpoints and the returned agent).
    #[default]
    Fused,
    /// burn's autodiff and Adam on the run's backend (CPU or CUDA).
    Burn,
}

impl Default for PpoConfig {
    fn default() -> Self {
        Self {
            num_envs: 4,
            num_steps: 128,
            learning_rate: 2.5e-4,
            anneal_lr: true,
            gamma: 0.99,
            gae_lambda: 0.95,
            num_minibatches: 4,
            update_epochs: 4,
            norm_adv: true,
            clip_coef: 0.2,
            anneal_clip: false,
            clip_vloss: true,
            ent_coef: 0.01,
            vf_coef: 0.5,
            max_grad_norm: 0.5,
            target_kl: None,
            hidden: vec![64, 64],
            activation: Activation::Tanh,
            seed: 1,
            norm_obs: false,
            norm_reward: false,
            clip_obs: 10.0,
            clip_reward: 10.0,
            engine: PpoEngine::Fused,
        }
    }
}

impl PpoConfig {
    /// Rows per rollout, `N · T`.
    pub fn batch_size(&self) -> usize {
        self.num_envs * self.num_steps
    }

    /// Rows per minibatch, `N · T / num_minibatches`.
    pub fn minibatch_size(&self) -> usize {
        self.batch_size() / self.num_minibatches.max(1)
    }

    /// The tuned hyperparameters of rl-baselines3-zoo (`hyperparams/ppo.yml`) for a classic env,
    /// with the env steps rl-zoo trains for, or `None` for an env rl-zoo does not tune.
    ///
    /// Translated to CleanRL's names: `n_envs` → `num_envs`, `n_steps` → `num_steps`,
    /// `batch_size` → `num_minibatches = n_envs · n_steps / batch_size` (SB3's default 64),
    /// `n_epochs` → `update_epochs`, `lin_x` schedules → `anneal_lr` / `anneal_clip`. SB3 does
    /// not clip the value loss by default (`clip_vloss = false`), uses no entropy bonus unless
    /// tuned, and orthogonal initialisation with 64-64 tanh networks, as here. rl-zoo's
    /// `normalize: true` (MountainCar, Acrobot) becomes `norm_obs` and `norm_reward`.
    pub fn zoo(env_id: &str) -> Option<(Self, u64)> {
        let base = Self { clip_vloss: false, ent_coef: 0.0, anneal_lr: false, ..Self::default() };
        let id = env_id.split('-').next().unwrap_or(env_id);
        let (cfg, steps) = match id {
            "CartPole" => (
                Self {
                    num_envs: 8,
                    num_steps: 32,
                    num_minibatches: 1,
                    gae_lambda: 0.8,
                    gamma: 0.98,
                    update_epochs: 20,
                    learning_rate: 1e-3,
                    anneal_lr: true,
                    anneal_clip: true,
                    ..base
                },
                100_000,
            ),
            "MountainCar" => (
                Self {
                    num_envs: 16,
                    num_steps: 16,
                    num_minibatches: 4,
                    gae_lambda: 0.98,
                    update_epochs: 4,
                    norm_obs: true,
                    norm_reward: true,
                    ..base
                },
                1_000_000,
            ),
            "Acrobot" => (
                Self {
                    num_envs: 16,
                    num_steps: 256,
                    num_minibatches: 64,
                    gae_lambda: 0.94,
                    update_epochs: 4,
                    norm_obs: true,
                    norm_reward: true,
                    ..base
                },
                1_000_000,
            ),
            "Pendulum" => (
                Self {
                    num_envs: 4,
                    num_steps: 1024,
                    num_minibatches: 64,
                    gae_lambda: 0.95,
                    gamma: 0.9,
                    update_epochs: 10,
                    learning_rate: 1e-3,
                    ..base
                },
                100_000,
            ),
            "MountainCarContinuous" => (
                Self {
                    num_envs: 1,
                    num_steps: 8,
                    num_minibatches: 1,
                    gamma: 0.9999,
                    learning_rate: 7.77e-5,
                    ent_coef: 0.00429,
                    clip_coef: 0.1,
                    update_epochs: 10,
                    gae_lambda: 0.9,
                    max_grad_norm: 5.0,
                    vf_coef: 0.19,
                    ..base
                },
                20_000,
            ),
            _ => return None,
        };
        Some((cfg, steps))
    }

    /// Tuned settings for an env: rl-zoo's ([`Self::zoo`]) where rl-zoo has them, else ours for the
    /// rapier3d tasks we have tuned (with the env steps they were measured at), else `None`.
    ///
    /// Ours: `Reach-v0`, 8 envs × 256 steps, 10 epochs × 8 minibatches, lr 3e-4 linearly
    /// annealed, γ 0.99, λ 0.95, no entropy bonus, no value clipping, 64-64 tanh, 1M steps: 100%
    /// greedy success on 5/5 seeds (`benchmarks/ppo_reach.sh`, docs/benchmarks.md).
    pub fn tuned(env_id: &str) -> Option<(Self, u64)> {
        if let Some(found) = Self::zoo(env_id) {
            return Some(found);
        }
        match env_id.split('-').next().unwrap_or(env_id) {
            "Reach" => Some((
                Self {
                    num_envs: 8,
                    num_steps: 256,
                    num_minibatches: 8,
                    update_epochs: 10,
                    learning_rate: 3e-4,
                    ent_coef: 0.0,
                    clip_vloss: false,
                    ..Self::default()
                },
                1_000_000,
            )),
            _ => None,
        }
    }
}

/// What one PPO update did, passed to the `on_update` callback of [`train_ppo`].
///
/// The losses and diagnostics are means over all minibatches of the update.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateStats {
    /// Update index, from 1.
    pub update: usize,
    /// Environment steps taken so far (all sub-envs, reset steps included), as CleanRL counts.
    pub global_step: u64,
    /// Learning rate used in this update.
    pub learning_rate: f64,
    /// Episodes that finished during this update's rollout.
    pub episodes: usize,
    /// Mean undiscounted return of those episodes (`None` when none finished).
    pub mean_return: Option<f64>,
    /// Mean length of those episodes (`None` when none finished).
    pub mean_length: Option<f64>,
    /// Return of each of those episodes, in the order they ended.
    pub episode_returns: Vec<f64>,
    /// Length of each of those episodes.
    pub episode_lengths: Vec<u64>,
    /// Clipped surrogate loss.
    pub policy_loss: f64,
    /// Value loss (with the ½).
    pub value_loss: f64,
    /// Mean policy entropy (nats).
    pub entropy: f64,
    /// Approximate KL(π_old ‖ π_new), the "k3" estimator.
    pub approx_kl: f64,
    /// Fraction of rows whose ratio was clipped.
    pub clip_frac: f64,
    /// `1 − Var(R − V_old) / Var(R)` over the rollout's transitions.
    pub explained_variance: f64,
    /// Environment steps per second since training started (wall clock; not deterministic).
    pub sps: f64,
}

/// Why [`train_ppo`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum PpoError {
    /// A loss or diagnostic became NaN or infinite.
    #[error("non-finite {quantity} at global step {step}")]
    NonFinite {
        /// The global step of the update.
        step: u64,
        /// Which quantity (e.g. `"policy_loss"`).
        quantity: &'static str,
    },
    /// The action space is not supported (only `Discrete` and `Box` are).
    #[error("unsupported action space {0}: PPO here supports Discrete and Box action spaces")]
    UnsupportedActionSpace(String),
    /// An inconsistent configuration.
    #[error("invalid PPO configuration: {0}")]
    Config(String),
    /// The environment failed.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// The rollout buffer rejected its inputs.
    #[error(transparent)]
    Rl(#[from] RlError),
    /// A checkpoint could not be encoded, or does not fit the run it should resume.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}

/// Separate actor and critic networks, optimised together (as CleanRL's `Agent`).
#[derive(Module, Debug)]
pub struct ActorCritic<B: Backend> {
    /// `obs → logits` (discrete) or `obs → mean` (continuous).
    pub actor: Mlp<B>,
    /// `obs → V(obs)`, `[N, 1]`.
    pub critic: Mlp<B>,
    /// The state-independent log standard deviation `[D]` of a continuous policy (`None` for a
    /// discrete one).
    pub log_std: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> ActorCritic<B> {
    /// The policy at observations `x` `[N, obs_dim]`.
    fn policy(&self, x: Tensor<B, 2>) -> Policy<B> {
        let out = self.actor.forward(x);
        match &self.log_std {
            None => Policy::Categorical(Categorical::new(out)),
            Some(log_std) => Policy::Gaussian(DiagGaussian::with_shared_log_std(out, log_std.val())),
        }
    }
}

/// The action distribution of either kind; actions are `[N, act_dim]` float tensors (a discrete
/// action is its index, `act_dim = 1`).
enum Policy<B: Backend> {
    Categorical(Categorical<B>),
    Gaussian(DiagGaussian<B>),
}

impl<B: Backend> Policy<B> {
    fn sample(&self, rng: &mut Pcg64) -> Tensor<B, 2> {
        match self {
            Policy::Categorical(d) => d.sample(rng).unsqueeze_dim::<2>(1).float(),
            Policy::Gaussian(d) => d.sample(rng),
        }
    }

    fn mode(&self) -> Tensor<B, 2> {
        match self {
            Policy::Categorical(d) => d.mode().unsqueeze_dim::<2>(1).float(),
            Policy::Gaussian(d) => d.mode(),
        }
    }

    fn log_prob(&self, actions: Tensor<B, 2>) -> Tensor<B, 1> {
        match self {
            Policy::Categorical(d) => {
                let [m, _] = actions.dims();
                d.log_prob(actions.reshape([m]).int())
            }
            Policy::Gaussian(d) => d.log_prob(actions),
        }
    }

    fn entropy(&self) -> Tensor<B, 1> {
        match self {
            Policy::Categorical(d) => d.entropy(),
            Policy::Gaussian(d) => d.entropy(),
        }
    }
}

/// How sampled actions map to the env's packed actions.
#[derive(Debug, Clone, PartialEq)]
enum ActionMap {
    /// `Discrete(n, start)`: env action `start + index`.
    Discrete { n: usize, start: i64 },
    /// `Box`: env action clipped to `[low, high]`.
    Box { low: Vec<f64>, high: Vec<f64> },
}

impl ActionMap {
    fn of(space: &Space) -> Result<Self, PpoError> {
        match space {
            Space::Discrete(d) => Ok(ActionMap::Discrete { n: d.n as usize, start: d.start }),
            Space::Box(b) if b.shape.len() == 1 => {
                Ok(ActionMap::Box { low: b.low.clone(), high: b.high.clone() })
            }
            other => Err(PpoError::UnsupportedActionSpace(format!("{other:?}"))),
        }
    }

    /// Values per action: 1 for `Discrete`, `D` for a `Box`.
    fn act_dim(&self) -> usize {
        match self {
            ActionMap::Discrete { .. } => 1,
            ActionMap::Box { low, .. } => low.len(),
        }
    }

    /// Writes the env's packed action for sampled action `a` (`act_dim` values) into `out`.
    fn to_env(&self, a: &[f64], out: &mut [f64]) {
        match self {
            ActionMap::Discrete { start, .. } => out[0] = a[0] + *start as f64,
            ActionMap::Box { low, high } => {
                for (j, o) in out.iter_mut().enumerate() {
                    *o = a[j].clamp(low[j], high[j]);
                }
            }
        }
    }
}

/// A trained PPO agent.
#[derive(Debug, Clone)]
pub struct PpoAgent<B: AutodiffBackend> {
    /// The trained networks.
    pub model: ActorCritic<B>,
    inference: ActorCritic<B::InnerBackend>,
    obs_dim: usize,
    action_map: ActionMap,
    obs_norm: Option<ObsNormalization>,
}

impl<B: AutodiffBackend> PpoAgent<B> {
    /// The policy's mode for one observation (packed, `obs_dim` values), as the env's packed
    /// action: `[start + argmax_k logits_k]` for `Discrete`, the mean clipped to the box for `Box`.
    ///
    /// # Panics
    ///
    /// When `obs` does not have `obs_dim` values.
    pub fn act_greedy(&self, obs: &[f64]) -> Vec<f64> {
        assert_eq!(obs.len(), self.obs_dim, "act_greedy: observation length");
        let device = self.inference.actor.output.weight.val().device();
        let obs = self.normalized(obs);
        let x = tensor_from_f64::<B::InnerBackend, 2>(&obs, [1, self.obs_dim], &device);
        let a = tensor_to_f64(self.inference.policy(x).mode());
        let mut out = vec![0.0; self.action_map.act_dim()];
        self.action_map.to_env(&a, &mut out);
        out
    }

    /// The critic's value of one observation (in normalised-reward units when
    /// [`PpoConfig::norm_reward`] was on).
    pub fn value(&self, obs: &[f64]) -> f64 {
        let device = self.inference.critic.output.weight.val().device();
        let obs = self.normalized(obs);
        let x = tensor_from_f64::<B::InnerBackend, 2>(&obs, [1, self.obs_dim], &device);
        self.inference.critic.forward(x).into_scalar().elem::<f64>()
    }

    /// The observation statistics the networks were trained with ([`PpoConfig::norm_obs`]);
    /// save them with the model: the policy expects normalised inputs.
    pub fn obs_normalization(&self) -> Option<&ObsNormalization> {
        self.obs_norm.as_ref()
    }

    fn normalized(&self, obs: &[f64]) -> Vec<f64> {
        match &self.obs_norm {
            Some(norm) => {
                let mut out = vec![0.0; obs.len()];
                norm.apply(obs, &mut out);
                out
            }
            None => obs.to_vec(),
        }
    }
}

/// Trains PPO on `venv` for `total_steps / (N · T)` updates (CleanRL's `num_iterations`),
/// calling `on_update` after each with the statistics and the networks as they are after that
/// update (every loss of the update was finite), so that callers can checkpoint them.
///
/// # Errors
///
/// [`PpoError::NonFinite`] when a loss turns NaN/inf; [`PpoError::UnsupportedActionSpace`] for a
/// non-`Discrete` action space; [`PpoError::Config`] for a configuration that does not fit `venv`
/// or gives no update; environment and buffer errors otherwise.
pub fn train_ppo<B: AutodiffBackend>(
    venv: &mut impl VectorEnv,
    cfg: &PpoConfig,
    total_steps: u64,
    device: &B::Device,
    mut on_update: impl FnMut(&UpdateStats, &ActorCritic<B>),
) -> Result<PpoAgent<B>, PpoError> {
    train_ppo_with(venv, cfg, total_steps, device, None, |s, p| {
        on_update(s, p.model);
        ControlFlow::Continue(())
    })
}

/// Counters and random-number streams of a PPO run after an update: with the networks, the
/// optimiser state and the action log they are everything a run needs to continue.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PpoResumeState {
    /// Updates completed.
    pub update: usize,
    /// Environment steps taken (all sub-envs).
    pub global_step: u64,
    /// The action-sampling stream.
    pub action_rng: Pcg64,
    /// The minibatch-shuffling stream.
    pub shuffle_rng: Pcg64,
}

/// A resumable PPO checkpoint: networks (burn named MessagePack, full precision) and Adam state
/// (burn's record for [`PpoEngine::Burn`], [`FusedAdam::to_bytes`] for [`PpoEngine::Fused`]),
/// [`PpoResumeState`], and every packed vector action sent to the environments since the seeded
/// reset (`global_step · act_dim` values). Environments cannot be serialised in general, so
/// resuming replays the actions from the seeded reset: environments are deterministic given their
/// seed and actions (`check_env` verifies it), which restores them, episode statistics included,
/// exactly, and the continued run is bit-identical to one that never stopped (on the CPU backend).
#[derive(Debug, Clone, PartialEq)]
pub struct PpoCheckpoint {
    /// Counters and RNG streams.
    pub state: PpoResumeState,
    /// The [`ActorCritic`] record.
    pub model: Vec<u8>,
    /// The optimiser state: burn's record (burn engine) or [`FusedAdam::to_bytes`] (fused engine).
    pub optimizer: Vec<u8>,
    /// The action log, packed, `global_step · act_dim` values.
    pub actions: Vec<f64>,
}

type PpoOptim<B> = OptimizerAdaptor<Adam, ActorCritic<B>, B>;

/// The optimiser state of either engine.
enum OptimRef<'a, B: AutodiffBackend> {
    Burn(&'a PpoOptim<B>),
    Fused(&'a FusedAdam),
}

/// What [`train_ppo_with`]'s callback sees after an update.
pub struct PpoProgress<'a, B: AutodiffBackend> {
    /// The networks after the update.
    pub model: &'a ActorCritic<B>,
    optim: OptimRef<'a, B>,
    state: PpoResumeState,
    actions: &'a [f64],
    /// The observation statistics the networks expect ([`PpoConfig::norm_obs`]), as after this
    /// update's rollout.
    pub obs_normalization: Option<&'a ObsNormalization>,
}

impl<B: AutodiffBackend> PpoProgress<'_, B> {
    /// Encodes a resumable checkpoint of the run as it is now.
    ///
    /// # Errors
    ///
    /// [`PpoError::Checkpoint`] when burn's recorder fails.
    pub fn checkpoint(&self) -> Result<PpoCheckpoint, PpoError> {
        let rec = NamedMpkBytesRecorder::<FullPrecisionSettings>::default();
        let err = |e: burn::record::RecorderError| PpoError::Checkpoint(e.to_string());
        let ck = PpoCheckpoint {
            state: self.state.clone(),
            model: rec.record(self.model.clone().into_record(), ()).map_err(err)?,
            optimizer: match &self.optim {
                OptimRef::Burn(optim) => rec.record(optim.to_record(), ()).map_err(err)?,
                OptimRef::Fused(adam) => adam.to_bytes(),
            },
            actions: self.actions.to_vec(),
        };
        Ok(ck)
    }
}

/// Whether every float parameter of `module` is finite.
pub fn params_finite<B: Backend, M: Module<B>>(module: &M) -> bool {
    struct Finite(bool);
    impl<B: Backend> ModuleVisitor<B> for Finite {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if self.0 {
                let sum: f64 = param.val().abs().sum().into_scalar().elem();
                self.0 = sum.is_finite();
            }
        }
    }
    let mut v = Finite(true);
    module.visit(&mut v);
    v.0
}

/// [`train_ppo`] with resuming and early stopping: starts from `resume` when given (replaying its
/// action log through `venv`, see [`PpoCheckpoint`]), and stops after any update for which
/// `on_update` returns [`ControlFlow::Break`]. The callback receives a [`PpoProgress`] that can
/// encode a checkpoint. The returned agent holds the networks after the last update run.
///
/// # Errors
///
/// As [`train_ppo`], plus [`PpoError::Checkpoint`] for a checkpoint that does not fit the
/// configuration or the environments, and [`PpoError::NonFinite`] with quantity `parameters`
/// when an update leaves a non-finite network parameter.
pub fn train_ppo_with<B: AutodiffBackend>(
    venv: &mut impl VectorEnv,
    cfg: &PpoConfig,
    total_steps: u64,
    device: &B::Device,
    resume: Option<&PpoCheckpoint>,
    mut on_update: impl FnMut(&UpdateStats, &PpoProgress<'_, B>) -> ControlFlow<()>,
) -> Result<PpoAgent<B>, PpoError> {
    // ---- setup: spaces, sizes, seeds, networks, optimiser ----
    let n = venv.num_envs();
    if n != cfg.num_envs {
        return Err(PpoError::Config(format!("num_envs = {} but the vector env has {n}", cfg.num_envs)));
    }
    let action_map = ActionMap::of(venv.single_action_space())?;
    let act_dim = action_map.act_dim();
    let d_actor = match action_map {
        ActionMap::Discrete { n, .. } => n,
        ActionMap::Box { .. } => act_dim,
    };
    let obs_dim = venv.single_observation_space().packed_len();
    let batch_size = cfg.batch_size() as u64;
    let minibatch_size = cfg.minibatch_size();
    if batch_size == 0 || minibatch_size == 0 {
        return Err(PpoError::Config("num_steps, num_envs and minibatch size must be positive".into()));
    }
    let num_iterations = total_steps / batch_size;
    if num_iterations == 0 {
        return Err(PpoError::Config(format!("total_steps {total_steps} < one rollout ({batch_size})")));
    }

    let mut seeds = Pcg64::seed_from_u64(cfg.seed);
    let mut init_rng = Pcg64::seed_from_u64(seeds.next_u64());
    let mut action_rng = Pcg64::seed_from_u64(seeds.next_u64());
    let mut shuffle_rng = Pcg64::seed_from_u64(seeds.next_u64());

    let net = |d_output, gain| {
        MlpConfig::new(obs_dim, cfg.hidden.clone(), d_output)
            .with_activation(cfg.activation)
            .with_output_gain(gain)
    };
    let mut model = ActorCritic::<B> {
        critic: net(1, VALUE_GAIN).init_with_rng(&mut init_rng, device),
        actor: net(d_actor, POLICY_GAIN).init_with_rng(&mut init_rng, device),
        log_std: matches!(action_map, ActionMap::Box { .. })
            .then(|| Param::from_tensor(Tensor::zeros([act_dim], device))),
    };
    let mut optim = AdamConfig::new().with_epsilon(1e-5).init::<B, ActorCritic<B>>();
    let loss_cfg = PpoLossConfig {
        clip_coef: cfg.clip_coef,
        value_clip: cfg.clip_vloss.then_some(cfg.clip_coef),
        vf_coef: cfg.vf_coef,
        ent_coef: cfg.ent_coef,
    };

    let mut action_log: Vec<f64> = Vec::with_capacity(
        usize::try_from(num_iterations * batch_size).unwrap_or(0).saturating_mul(act_dim).min(1 << 27),
    );
    let mut buf = RolloutBuffer::new(cfg.num_steps, n, obs_dim, act_dim);
    let mut batch = Minibatch::new(minibatch_size, obs_dim, act_dim);
    let mut norm = VecNormalize::new(
        n,
        obs_dim,
        cfg.norm_obs,
        cfg.norm_reward,
        cfg.clip_obs,
        cfg.clip_reward,
        cfg.gamma,
    );
    let mut obs: Vec<f64> = norm.observations(venv.reset(Some(cfg.seed))?).to_vec();
    let mut dones = vec![false; n];
    // Episode bookkeeping (next-step autoreset: the step after a `done` is a reset step).
    let mut ep_return = vec![0.0f64; n];
    let mut ep_length = vec![0u64; n];
    let mut prev_done = vec![false; n];
    let mut env_actions = vec![0.0f64; n * act_dim];
    // Per-step policy outputs (sampled actions, their log-probabilities, values), reused.
    let mut actions = vec![0.0f64; n * act_dim];
    let mut log_probs = vec![0.0f64; n];
    let mut values = vec![0.0f64; n];
    let mut last_values = vec![0.0f32; n];
    let mut engine = match cfg.engine {
        PpoEngine::Fused => Some(FusedPpo::from_model(&model, minibatch_size.max(n))?),
        PpoEngine::Burn => None,
    };

    let mut global_step = 0u64;
    let mut first_update = 1usize;
    if let Some(ck) = resume {
        // ---- resume: networks, optimiser, streams, then replay the actions through the envs ----
        let rec = NamedMpkBytesRecorder::<FullPrecisionSettings>::default();
        let err = |what: &str, e: burn::record::RecorderError| {
            PpoError::Checkpoint(format!("{what} does not fit this configuration: {e}"))
        };
        let model_rec = rec.load(ck.model.clone(), device).map_err(|e| err("the model", e))?;
        model = model.load_record(model_rec);
        match engine.as_mut() {
            Some(e) => {
                e.params = e.layout().read(&model)?;
                e.adam = FusedAdam::from_bytes(&ck.optimizer, e.layout().len).map_err(|e| {
                    PpoError::Checkpoint(format!(
                        "{e}; this run uses engine = \"fused\", a burn-engine checkpoint resumes only \
                         with engine = \"burn\""
                    ))
                })?;
            }
            None => {
                if ck.optimizer.starts_with(FUSED_ADAM_MAGIC) {
                    return Err(PpoError::Checkpoint(
                        "the optimiser state was written by the fused engine (engine = \"fused\"); this run \
                         uses engine = \"burn\", which cannot resume it"
                            .into(),
                    ));
                }
                let optim_rec =
                    rec.load(ck.optimizer.clone(), device).map_err(|e| err("the optimiser state", e))?;
                optim = optim.load_record(optim_rec);
            }
        }
        action_rng = ck.state.action_rng.clone();
        shuffle_rng = ck.state.shuffle_rng.clone();
        let expected = ck.state.global_step as usize * act_dim;
        if ck.actions.len() != expected || ck.state.global_step != ck.state.update as u64 * batch_size {
            return Err(PpoError::Checkpoint(format!(
                "the action log holds {} values; update {} at step {} with {act_dim} action value(s) \
                 per step needs {expected}",
                ck.actions.len(),
                ck.state.update,
                ck.state.global_step
            )));
        }
        for chunk in ck.actions.chunks(n * act_dim) {
            let step = venv.step(chunk)?;
            for (i, d) in dones.iter_mut().enumerate() {
                *d = step.done(i);
            }
            norm.rewards(step.rewards, &prev_done, &dones);
            for i in 0..n {
                if prev_done[i] {
                    ep_return[i] = 0.0;
                    ep_length[i] = 0;
                    prev_done[i] = false;
                    continue;
                }
                ep_return[i] += step.rewards[i];
                ep_length[i] += 1;
                prev_done[i] = step.done(i);
            }
            obs.clear();
            obs.extend_from_slice(norm.observations(step.observations));
        }
        // The buffer marks the first row after a `done` as a reset row, across rollouts.
        buf.set_prev_done(&prev_done);
        action_log.extend_from_slice(&ck.actions);
        global_step = ck.state.global_step;
        first_update = ck.state.update + 1;
    }

    let start = Instant::now();
    let start_step = global_step;
    let mut last_update = first_update.saturating_sub(1);
    for update in first_update..=num_iterations as usize {
        // ---- annealing ----
        let frac = 1.0 - (update as f64 - 1.0) / num_iterations as f64;
        let lr = if cfg.anneal_lr { frac * cfg.learning_rate } else { cfg.learning_rate };
        let clip = if cfg.anneal_clip { frac * cfg.clip_coef } else { cfg.clip_coef };
        let loss_cfg =
            PpoLossConfig { clip_coef: clip, value_clip: cfg.clip_vloss.then_some(clip), ..loss_cfg };

        // ---- rollout ----
        let policy = engine.is_none().then(|| model.valid());
        let mut finished: Vec<(f64, u64)> = Vec::new();
        buf.clear();
        for _ in 0..cfg.num_steps {
            global_step += n as u64;
            if let Some(e) = engine.as_mut() {
                e.act(&obs, &mut action_rng, &mut actions, &mut log_probs, &mut values)?;
            } else {
                let policy = policy.as_ref().expect("the burn engine has an inference model");
                let x = tensor_from_f64::<B::InnerBackend, 2>(&obs, [n, obs_dim], device);
                let dist = policy.policy(x.clone());
                let action = dist.sample(&mut action_rng);
                log_probs.copy_from_slice(&tensor_to_f64(dist.log_prob(action.clone())));
                values.copy_from_slice(&tensor_to_f64(policy.critic.forward(x).reshape([n])));
                actions.copy_from_slice(&tensor_to_f64(action));
            }
            for (a, out) in actions.chunks(act_dim).zip(env_actions.chunks_mut(act_dim)) {
                action_map.to_env(a, out);
            }

            let step = venv.step(&env_actions)?;
            action_log.extend_from_slice(&env_actions);
            for (i, d) in dones.iter_mut().enumerate() {
                *d = step.done(i);
            }
            let rewards = norm.rewards(step.rewards, &prev_done, &dones);
            buf.push(&RolloutStep {
                obs: &obs,
                actions: &actions,
                log_probs: &log_probs,
                values: &values,
                rewards,
                terminated: step.terminated,
                truncated: step.truncated,
            })?;
            for i in 0..n {
                if prev_done[i] {
                    // A reset step: a new episode starts; reward and flags carry nothing.
                    ep_return[i] = 0.0;
                    ep_length[i] = 0;
                    prev_done[i] = false;
                    continue;
                }
                ep_return[i] += step.rewards[i];
                ep_length[i] += 1;
                if step.done(i) {
                    finished.push((ep_return[i], ep_length[i]));
                    prev_done[i] = true;
                }
            }
            obs.clear();
            obs.extend_from_slice(norm.observations(step.observations));
        }

        // ---- bootstrap value ----
        if let Some(e) = engine.as_mut() {
            e.values_into(&obs, &mut values)?;
        } else {
            let policy = policy.as_ref().expect("the burn engine has an inference model");
            let x = tensor_from_f64::<B::InnerBackend, 2>(&obs, [n, obs_dim], device);
            values.copy_from_slice(&tensor_to_f64(policy.critic.forward(x).reshape([n])));
        }
        last_values.iter_mut().zip(&values).for_each(|(l, &v)| *l = v as f32);
        buf.compute_advantages(&last_values, cfg.gamma, cfg.gae_lambda)?;

        // ---- optimise ----
        // Sums of policy loss, value loss, entropy, approx KL, clip fraction over minibatches.
        let mut sums = [0.0f64; 5];
        let mut minibatches = 0usize;
        'epochs: for _ in 0..cfg.update_epochs {
            buf.shuffle(&mut shuffle_rng);
            for mb in 0..buf.num_minibatches(minibatch_size) {
                buf.gather(buf.minibatch_indices(mb, minibatch_size), cfg.norm_adv, &mut batch);
                // Loss parts (policy, value, entropy, approx KL, clip fraction, total), and for the
                // burn engine the loss to differentiate.
                let mut burn_total = None;
                let parts: [f64; 6] = if let Some(e) = engine.as_mut() {
                    let l = e.loss_and_grad(&batch, &loss_cfg)?;
                    [l.policy_loss, l.value_loss, l.entropy, l.approx_kl, l.clip_frac, l.total]
                } else {
                    let m = batch.len;
                    let x =
                        Tensor::<B, 2>::from_data(TensorData::new(batch.obs.clone(), [m, obs_dim]), device);
                    let act = Tensor::<B, 2>::from_data(
                        TensorData::new(batch.actions.clone(), [m, act_dim]),
                        device,
                    );
                    let vec1 =
                        |v: &[f32]| Tensor::<B, 1>::from_data(TensorData::new(v.to_vec(), [m]), device);

                    let dist = model.policy(x.clone());
                    let loss = ppo_loss(
                        PpoBatch {
                            new_log_probs: dist.log_prob(act),
                            old_log_probs: vec1(&batch.log_probs),
                            advantages: vec1(&batch.advantages),
                            new_values: model.critic.forward(x).reshape([m]),
                            old_values: vec1(&batch.values),
                            returns: vec1(&batch.returns),
                            entropy: dist.entropy(),
                        },
                        &loss_cfg,
                    );

                    // One host read for all diagnostics, checked before stepping.
                    let parts = Tensor::cat(
                        vec![
                            loss.policy_loss.clone().detach(),
                            loss.value_loss.clone().detach(),
                            loss.entropy.clone().detach(),
                            loss.approx_kl.clone(),
                            loss.clip_fraction.clone(),
                            loss.total.clone().detach(),
                        ],
                        0,
                    );
                    burn_total = Some(loss.total);
                    tensor_to_f64(parts).try_into().expect("six loss parts")
                };
                const NAMES: [&str; 6] =
                    ["policy_loss", "value_loss", "entropy", "approx_kl", "clip_frac", "total_loss"];
                if let Some(k) = parts.iter().position(|v| !v.is_finite()) {
                    return Err(PpoError::NonFinite { step: global_step, quantity: NAMES[k] });
                }
                for (s, v) in sums.iter_mut().zip(&parts) {
                    *s += v;
                }
                minibatches += 1;

                if let Some(e) = engine.as_mut() {
                    let grad_norm = e.clip_grad_norm(cfg.max_grad_norm);
                    if !grad_norm.is_finite() {
                        return Err(PpoError::NonFinite { step: global_step, quantity: "grad_norm" });
                    }
                    e.adam_step(lr);
                } else if let Some(total) = burn_total {
                    let mut grads = GradientsParams::from_grads(total.backward(), &model);
                    let grad_norm = clip_grad_norm(&model, &mut grads, cfg.max_grad_norm);
                    if !grad_norm.is_finite() {
                        return Err(PpoError::NonFinite { step: global_step, quantity: "grad_norm" });
                    }
                    model = optim.step(lr, model, grads);
                }

                if cfg.target_kl.is_some_and(|t| parts[3] > t) {
                    break 'epochs;
                }
            }
        }

        // ---- report ----
        let mean = |s: f64| if minibatches > 0 { s / minibatches as f64 } else { 0.0 };
        let episodes = finished.len();
        let avg = |f: &dyn Fn(&(f64, u64)) -> f64| {
            (episodes > 0).then(|| finished.iter().map(f).sum::<f64>() / episodes as f64)
        };
        let stats = UpdateStats {
            update,
            global_step,
            learning_rate: lr,
            episodes,
            mean_return: avg(&|e| e.0),
            mean_length: avg(&|e| e.1 as f64),
            episode_returns: finished.iter().map(|e| e.0).collect(),
            episode_lengths: finished.iter().map(|e| e.1).collect(),
            policy_loss: mean(sums[0]),
            value_loss: mean(sums[1]),
            entropy: mean(sums[2]),
            approx_kl: mean(sums[3]),
            clip_frac: mean(sums[4]),
            explained_variance: explained_variance(&buf),
            sps: (global_step - start_step) as f64 / start.elapsed().as_secs_f64().max(1e-9),
        };
        match &engine {
            Some(e) => {
                if !e.params_finite() {
                    return Err(PpoError::NonFinite { step: global_step, quantity: "parameters" });
                }
                // The callback, checkpoints and the returned agent see the burn networks.
                model = e.write_into(model)?;
            }
            None => {
                if !params_finite(&model) {
                    return Err(PpoError::NonFinite { step: global_step, quantity: "parameters" });
                }
            }
        }
        last_update = update;
        let progress = PpoProgress {
            model: &model,
            optim: match &engine {
                Some(e) => OptimRef::Fused(&e.adam),
                None => OptimRef::Burn(&optim),
            },
            state: PpoResumeState {
                update,
                global_step,
                action_rng: action_rng.clone(),
                shuffle_rng: shuffle_rng.clone(),
            },
            actions: &action_log,
            obs_normalization: norm.obs_normalization(),
        };
        if on_update(&stats, &progress).is_break() {
            break;
        }
    }
    if last_update == 0 {
        return Err(PpoError::Config(format!(
            "nothing to do: the checkpoint is at update {} of {num_iterations}",
            first_update - 1
        )));
    }

    let inference = model.valid();
    let obs_norm = norm.obs_normalization().cloned();
    Ok(PpoAgent { model, inference, obs_dim, action_map, obs_norm })
}

/// `1 − Var(R − V) / Var(R)` over the rollout's transitions (NaN when `Var(R) = 0`, as CleanRL).
fn explained_variance(buf: &RolloutBuffer) -> f64 {
    let rows: Vec<(f64, f64)> = (0..buf.reset.len())
        .filter(|&k| !buf.reset[k])
        .map(|k| (buf.returns[k] as f64, buf.values[k] as f64))
        .collect();
    let var = |xs: &mut dyn Iterator<Item = f64>| {
        let v: Vec<f64> = xs.collect();
        let m = v.iter().sum::<f64>() / v.len().max(1) as f64;
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len().max(1) as f64
    };
    let var_r = var(&mut rows.iter().map(|r| r.0));
    if var_r == 0.0 {
        return f64::NAN;
    }
    1.0 - var(&mut rows.iter().map(|r| r.0 - r.1)) / var_r
}

/// What [`probe_update`] measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UpdateProbe {
    /// Rows of the synthetic minibatch.
    pub batch_size: usize,
    /// Policy loss, value loss, entropy and total loss of the first step, before any update.
    pub losses: [f64; 4],
    /// L2 norm of each parameter's gradient of the first step, in module order.
    pub grad_norms: Vec<f64>,
    /// Timed full steps (loss, backward, clipping, Adam) after one warm-up step.
    pub iters: usize,
    /// Seconds per full step.
    pub secs_per_update: f64,
}

/// One PPO gradient step on a seeded synthetic CartPole-shaped minibatch (4 observation values, 2
/// actions, [`PpoConfig`]'s networks), then `iters` timed steps: for checking one backend against
/// another (same seed ⇒ same weights and batch on every backend, since initialisation and data come
/// from our `Pcg64` streams) and for timing large-batch updates.
///
/// # Errors
///
/// [`PpoError::NonFinite`] when a loss or gradient is not finite.
pub fn probe_update<B: AutodiffBackend>(
    cfg: &PpoConfig,
    batch_size: usize,
    iters: usize,
    device: &B::Device,
) -> Result<UpdateProbe, PpoError> {
    use rand::Rng;
    const OBS: usize = 4;
    let mut rng = Pcg64::seed_from_u64(cfg.seed);
    let mut init_rng = Pcg64::seed_from_u64(rng.next_u64());
    let net = |d_output, gain| {
        MlpConfig::new(OBS, cfg.hidden.clone(), d_output)
            .with_activation(cfg.activation)
            .with_output_gain(gain)
    };
    let mut model = ActorCritic::<B> {
        critic: net(1, VALUE_GAIN).init_with_rng(&mut init_rng, device),
        actor: net(2, POLICY_GAIN).init_with_rng(&mut init_rng, device),
        log_std: None,
    };
    let m = batch_size.max(1);
    let normal = |rng: &mut Pcg64| {
        // Box-Muller: deterministic across platforms.
        let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    };
    let obs: Vec<f32> = (0..m * OBS).map(|_| normal(&mut rng)).collect();
    let actions: Vec<f32> = (0..m).map(|_| f32::from(rng.random::<bool>())).collect();
    let old_log_probs: Vec<f32> = (0..m).map(|_| (0.5f32).ln() + 0.1 * normal(&mut rng)).collect();
    let advantages: Vec<f32> = (0..m).map(|_| normal(&mut rng)).collect();
    let old_values: Vec<f32> = (0..m).map(|_| normal(&mut rng)).collect();
    let returns: Vec<f32> = (0..m).map(|_| normal(&mut rng)).collect();
    let loss_cfg = PpoLossConfig {
        clip_coef: cfg.clip_coef,
        value_clip: cfg.clip_vloss.then_some(cfg.clip_coef),
        vf_coef: cfg.vf_coef,
        ent_coef: cfg.ent_coef,
    };
    let mut optim = AdamConfig::new().with_epsilon(1e-5).init::<B, ActorCritic<B>>();
    // Losses and per-parameter gradient norms of a probed step.
    type Probed = ([f64; 4], Vec<f64>);

    let mut step =
        |model: ActorCritic<B>, probe: bool| -> Result<(ActorCritic<B>, Option<Probed>), PpoError> {
            let x = Tensor::<B, 2>::from_data(TensorData::new(obs.clone(), [m, OBS]), device);
            let act = Tensor::<B, 2>::from_data(TensorData::new(actions.clone(), [m, 1]), device);
            let vec1 = |v: &[f32]| Tensor::<B, 1>::from_data(TensorData::new(v.to_vec(), [m]), device);
            let dist = model.policy(x.clone());
            let loss = ppo_loss(
                PpoBatch {
                    new_log_probs: dist.log_prob(act),
                    old_log_probs: vec1(&old_log_probs),
                    advantages: vec1(&advantages),
                    new_values: model.critic.forward(x).reshape([m]),
                    old_values: vec1(&old_values),
                    returns: vec1(&returns),
                    entropy: dist.entropy(),
                },
                &loss_cfg,
            );
            let parts = tensor_to_f64(Tensor::cat(
                vec![
                    loss.policy_loss.clone().detach(),
                    loss.value_loss.clone().detach(),
                    loss.entropy.clone().detach(),
                    loss.total.clone().detach(),
                ],
                0,
            ));
            if parts.iter().any(|v| !v.is_finite()) {
                return Err(PpoError::NonFinite { step: 0, quantity: "total_loss" });
            }
            let mut grads = GradientsParams::from_grads(loss.total.backward(), &model);
            let report = probe.then(|| {
                struct Norms<'a> {
                    grads: &'a GradientsParams,
                    out: Vec<f64>,
                }
                impl<B: AutodiffBackend> ModuleVisitor<B> for Norms<'_> {
                    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
                        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
                            self.out.push(g.square().sum().into_scalar().elem::<f64>().sqrt());
                        }
                    }
                }
                let mut v = Norms { grads: &grads, out: Vec::new() };
                model.visit(&mut v);
                ([parts[0], parts[1], parts[2], parts[3]], v.out)
            });
            clip_grad_norm(&model, &mut grads, cfg.max_grad_norm);
            Ok((optim.step(cfg.learning_rate, model, grads), report))
        };
    let (next, report) = step(model, true)?;
    model = next;
    let (losses, grad_norms) = report.expect("probed");
    if grad_norms.iter().any(|g| !g.is_finite()) {
        return Err(PpoError::NonFinite { step: 0, quantity: "grad_norm" });
    }
    let t0 = Instant::now();
    for _ in 0..iters {
        model = step(model, false)?.0;
    }
    // Make sure the work is done before reading the clock (GPU backends are asynchronous).
    let _: f64 = model.critic.output.weight.val().sum().into_scalar().elem();
    let secs = t0.elapsed().as_secs_f64() / iters.max(1) as f64;
    Ok(UpdateProbe { batch_size: m, losses, grad_norms, iters, secs_per_update: secs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuAutodiff;
    use alignrl_envs::vector::VecEnv;
    use alignrl_envs::{Env, make};

    fn venv(id: &str, n: usize) -> VecEnv<Box<dyn Env>> {
        VecEnv::from_fn(n, |_| make(id).expect("registered"))
    }

    /// Runs `cfg` on `id`, stopping after update `stop` with a checkpoint when given.
    fn run(
        id: &str,
        cfg: &PpoConfig,
        total: u64,
        resume: Option<&PpoCheckpoint>,
        stop: Option<usize>,
    ) -> Result<(Vec<UpdateStats>, Option<PpoCheckpoint>), PpoError> {
        let mut stats = Vec::new();
        let mut ck = None;
        train_ppo_with::<CpuAutodiff>(
            &mut venv(id, cfg.num_envs),
            cfg,
            total,
            &Default::default(),
            resume,
            |s, p| {
                stats.push(s.clone());
                if stop == Some(s.update) {
                    ck = Some(p.checkpoint().expect("encodes"));
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            },
        )?;
        Ok((stats, ck))
    }

    fn losses(s: &UpdateStats) -> [f64; 5] {
        [s.policy_loss, s.value_loss, s.entropy, s.approx_kl, s.explained_variance]
    }

    #[test]
    fn fused_and_burn_engines_agree_on_the_first_update() {
        // Same seed: the first rollout uses the same initial networks and action stream, so both
        // engines see the same data, and their losses agree to float rounding.
        for (id, base) in [
            ("CartPole-v1", PpoConfig { num_envs: 4, num_steps: 32, seed: 4, ..PpoConfig::default() }),
            ("Pendulum-v1", PpoConfig { num_envs: 2, num_steps: 64, seed: 4, ..PpoConfig::default() }),
        ] {
            let total = base.batch_size() as u64;
            let (fused, _) = run(id, &base, total, None, None).unwrap();
            let burn_cfg = PpoConfig { engine: PpoEngine::Burn, ..base.clone() };
            let (burn, _) = run(id, &burn_cfg, total, None, None).unwrap();
            assert_eq!(fused[0].episode_returns, burn[0].episode_returns, "{id}: same rollout");
            for (f, b) in losses(&fused[0]).into_iter().zip(losses(&burn[0])) {
                assert!((f - b).abs() <= 1e-3 * b.abs() + 1e-5, "{id}: {:?} vs {:?}", fused[0], burn[0]);
            }
        }
    }

    #[test]
    fn burn_engine_resumes_bit_identically_and_engines_do_not_mix() {
        let fused = PpoConfig { num_envs: 2, num_steps: 32, seed: 6, ..PpoConfig::default() };
        let burn = PpoConfig { engine: PpoEngine::Burn, ..fused.clone() };
        let total = 3 * fused.batch_size() as u64;
        let bits = |s: &[UpdateStats]| s.iter().map(|s| losses(s).map(f64::to_bits)).collect::<Vec<_>>();
        let (straight, _) = run("CartPole-v1", &burn, total, None, None).unwrap();
        let (first, ck_burn) = run("CartPole-v1", &burn, total, None, Some(1)).unwrap();
        let ck_burn = ck_burn.unwrap();
        let (rest, _) = run("CartPole-v1", &burn, total, Some(&ck_burn), None).unwrap();
        assert_eq!(bits(&[first, rest].concat()), bits(&straight));

        let (_, ck_fused) = run("CartPole-v1", &fused, total, None, Some(1)).unwrap();
        let ck_fused = ck_fused.unwrap();
        for (cfg, ck, says) in
            [(&burn, &ck_fused, "written by the fused engine"), (&fused, &ck_burn, "burn engine")]
        {
            match run("CartPole-v1", cfg, total, Some(ck), None) {
                Err(PpoError::Checkpoint(msg)) => assert!(msg.contains(says), "{msg}"),
                other => panic!("expected a checkpoint error, got {:?}", other.map(|r| r.0.len())),
            }
        }
    }

    #[test]
    fn engine_is_a_lowercase_config_value() {
        assert_eq!(PpoConfig::default().engine, PpoEngine::Fused);
        let json = serde_json::to_string(&PpoEngine::Burn).unwrap();
        assert_eq!(json, "\"burn\"");
        let cfg: PpoConfig = serde_json::from_str(r#"{"engine": "fused"}"#).unwrap();
        assert_eq!(cfg.engine, PpoEngine::Fused);
        assert!(serde_json::from_str::<PpoConfig>(r#"{"engine": "gpu"}"#).is_err());
    }
}
