//! Soft Actor-Critic (Haarnoja et al. 2018, with the automatic temperature of the "SAC algorithms
//! and applications" paper) for one-dimensional-shape `Box` action spaces, in the shape of CleanRL's
//! `sac_continuous_action.py`: one training loop, read top to bottom, with the sections "act",
//! "store", "critic update", "actor and temperature update" and "target update".
//!
//! - [`SacConfig`]: the hyperparameters (CleanRL / rl-zoo-style settings for Pendulum-v1).
//! - [`train_sac`]: trains a [`SacAgent`] on a [`VectorEnv`] (Gymnasium next-step autoreset),
//!   calling back with [`SacStats`] every [`SacConfig::log_interval`] environment steps.
//! - [`SacAgent`]: a tanh-Gaussian actor squashed onto the action box, twin Q networks and their
//!   Polyak-averaged targets; [`SacAgent::act_deterministic`] for evaluation.
//!
//! The pieces come from [`crate::rl`] ([`ReplayBuffer`], [`polyak_update`]) and
//! [`crate::distributions`] ([`TanhGaussian::rsample_with_log_prob`], `with_bounds`). All
//! randomness (initialisation, exploration, reparameterisation noise, replay sampling) is drawn
//! from `Pcg64` streams derived from [`SacConfig::seed`], and the environments are reset with that
//! seed, so on the CPU backend the same seed gives bit-identical statistics.
//!
//! Transitions follow Gymnasium's next-step autoreset: the step after a `done` is a reset step and
//! is not stored; the stored done flag is `terminated` only (a truncated transition bootstraps from
//! its final observation, which is the observation the step returned).
//!
//! Two engines compute the updates and the exploration policy ([`SacConfig::engine`]): by default
//! [`FusedSac`], a CPU engine with hand-written passes on flat `f32` buffers (the twin critics,
//! and the halves of the actor's large layers, on two threads; the same bits with one thread),
//! about 2.4× as many updates per second as burn on Pendulum-v1's 256-256 networks; or burn's
//! autodiff on the run's backend ([`SacEngine::Burn`], for `--device cuda`). Both follow the same
//! loop, the same loss definitions and the same random streams; with the fused engine the burn
//! modules are refreshed from the flat parameters at every log point (for callbacks and
//! checkpoints) and at the end.
//!
//! One gradient update (critic, then actor and temperature) is taken per vector-env step once
//! `learning_starts` environment steps have been taken (with `N` sub-envs that is one update per
//! `N` environment steps, as CleanRL).

use std::ops::ControlFlow;
use std::time::Instant;

use alignrl_envs::vector::VectorEnv;
use alignrl_envs::{EnvError, Space};
use burn::module::{AutodiffModule, Module, Param};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer};
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor, TensorData};
use rand::{Rng, RngCore, SeedableRng};
use rand_pcg::Pcg64;

use crate::distributions::{TanhGaussian, tensor_from_f64, tensor_to_f64};
use crate::nn::{Activation, Mlp, MlpConfig, POLICY_GAIN, VALUE_GAIN};
use crate::rl::fused::FUSED_ADAM_MAGIC;
use crate::rl::fused_sac::{read_module, write_module};
use crate::rl::{FusedAdam, FusedSac, ReplayBatch, ReplayBuffer, RlError, SacLayout, polyak_update};

/// Which code computes SAC's gradient updates and exploration ([`SacConfig::engine`]): the same
/// type and config values (`"fused"`, `"burn"`) as PPO's.
pub use crate::ppo::PpoEngine as SacEngine;

/// Lower bound of the actor's log standard deviation (CleanRL's `LOG_STD_MIN`).
pub const LOG_STD_MIN: f64 = -5.0;
/// Upper bound of the actor's log standard deviation (CleanRL's `LOG_STD_MAX`).
pub const LOG_STD_MAX: f64 = 2.0;

/// SAC hyperparameters. [`Default`] gives CleanRL's `sac_continuous_action.py` settings with two
/// changes that suit short Pendulum-v1 runs: `learning_starts = 1000` (CleanRL: 5000; SB3 and
/// rl-zoo: 100) and `policy_frequency = 1` (the original SAC and SB3: one actor step per critic
/// step; CleanRL takes 2 actor steps every 2nd step, the same number of actor updates).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SacConfig {
    /// Replay buffer capacity in transitions (capped at the run's `total_steps`).
    pub buffer_size: usize,
    /// Environment steps taken with uniformly random actions before learning starts; gradient
    /// updates begin once this many steps have been taken.
    pub learning_starts: u64,
    /// Transitions per gradient update.
    pub batch_size: usize,
    /// Discount factor `γ`.
    pub gamma: f64,
    /// Polyak coefficient `τ` of the target update `θ' ← τ θ + (1 − τ) θ'`.
    pub tau: f64,
    /// Adam learning rate of the actor (and of the temperature).
    pub policy_lr: f64,
    /// Adam learning rate of the twin Q networks.
    pub q_lr: f64,
    /// Delayed actor updates: every `policy_frequency`-th update takes `policy_frequency` actor
    /// (and temperature) steps, as CleanRL (1: one actor step per critic step).
    pub policy_frequency: u64,
    /// Polyak-update the target Q networks every `target_network_frequency`-th update.
    pub target_network_frequency: u64,
    /// Tune the temperature `α = exp(log α)` towards `target_entropy` (otherwise `α` is fixed).
    pub autotune: bool,
    /// The initial (or, without `autotune`, fixed) temperature `α`.
    pub alpha: f64,
    /// The entropy target of the tuned temperature (`None`: `−|A|`, the action dimension).
    pub target_entropy: Option<f64>,
    /// Widths of the hidden layers of the actor and of each Q network.
    pub hidden: Vec<usize>,
    /// Nonlinearity after each hidden layer.
    pub activation: Activation,
    /// Adam `ε` (PyTorch's default `1e-8`, as CleanRL).
    pub adam_epsilon: f64,
    /// Report [`SacStats`] every this many environment steps (and once at the end).
    pub log_interval: u64,
    /// Seed of the initialisation, exploration, noise, replay sampling and environment resets.
    pub seed: u64,
    /// Which code computes the updates and the exploration policy: `"fused"` (the default: the
    /// CPU engine [`FusedSac`], hand-written passes on flat `f32` buffers with the twin critics on
    /// two threads) or `"burn"` (burn's autodiff on the run's backend; what `--device cuda`
    /// uses). Both follow the same loop and consume the same random streams; checkpoints of one
    /// engine resume only with the same engine.
    pub engine: SacEngine,
}

impl Default for SacConfig {
    fn default() -> Self {
        Self {
            buffer_size: 1_000_000,
            learning_starts: 1000,
            batch_size: 256,
            gamma: 0.99,
            tau: 0.005,
            policy_lr: 3e-4,
            q_lr: 1e-3,
            policy_frequency: 1,
            target_network_frequency: 1,
            autotune: true,
            alpha: 1.0,
            target_entropy: None,
            hidden: vec![256, 256],
            activation: Activation::Relu,
            adam_epsilon: 1e-8,
            log_interval: 1000,
            seed: 1,
            engine: SacEngine::Fused,
        }
    }
}

impl SacConfig {
    /// The tuned hyperparameters of rl-baselines3-zoo (`hyperparams/sac.yml`, on top of SB3's SAC
    /// defaults: `learning_starts = 100`, `batch_size = 256`, `tau = 0.005`, `gamma = 0.99`, one
    /// actor and critic step per env step, automatic `α` starting at 1, 256-256 ReLU networks) for
    /// a classic env, with the env steps rl-zoo trains for; `None` for an env it does not tune.
    /// gSDE (`use_sde`, MountainCarContinuous) is not implemented: plain Gaussian exploration.
    pub fn zoo(env_id: &str) -> Option<(Self, u64)> {
        let sb3 = Self { learning_starts: 100, policy_lr: 3e-4, q_lr: 3e-4, ..Self::default() };
        match env_id.split('-').next().unwrap_or(env_id) {
            "Pendulum" => Some((Self { policy_lr: 1e-3, q_lr: 1e-3, ..sb3 }, 20_000)),
            "MountainCarContinuous" => Some((
                Self {
                    buffer_size: 50_000,
                    batch_size: 512,
                    autotune: false,
                    alpha: 0.1,
                    gamma: 0.9999,
                    tau: 0.01,
                    learning_starts: 0,
                    hidden: vec![64, 64],
                    ..sb3
                },
                50_000,
            )),
            _ => None,
        }
    }
}

/// What one logging interval of [`train_sac`] did. Losses and `α` are means over the interval's
/// gradient updates (0 when it had none).
#[derive(Debug, Clone, PartialEq)]
pub struct SacStats {
    /// Environment steps taken so far (all sub-envs, reset steps included), as CleanRL counts.
    pub global_step: u64,
    /// Gradient updates taken so far.
    pub updates: u64,
    /// Episodes that finished during the interval.
    pub episodes: usize,
    /// Mean undiscounted return of those episodes (`None` when none finished).
    pub mean_return: Option<f64>,
    /// Return of each episode that ended in the interval, in order.
    pub episode_returns: Vec<f64>,
    /// Twin critic loss `MSE(Q₁, y) + MSE(Q₂, y)`.
    pub q_loss: f64,
    /// Actor loss `E[α log π(a|s) − min(Q₁, Q₂)(s, a)]`.
    pub actor_loss: f64,
    /// Temperature `α` used by the interval's updates.
    pub alpha: f64,
    /// Temperature loss `E[−α (log π + target_entropy)]` (0 without `autotune`).
    pub alpha_loss: f64,
    /// Gradient updates per second of time spent updating in this interval (wall clock; not
    /// deterministic; 0 without updates).
    pub updates_per_sec: f64,
}

/// Why [`train_sac`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum SacError {
    /// A loss or the temperature became NaN or infinite.
    #[error("non-finite {quantity} at global step {step}")]
    NonFinite {
        /// The global step of the update.
        step: u64,
        /// Which quantity (e.g. `"q_loss"`).
        quantity: &'static str,
    },
    /// The action space is not supported (only a bounded, one-dimensional-shape `Box` is).
    #[error("unsupported action space {0}: SAC here supports bounded 1-D Box action spaces")]
    UnsupportedActionSpace(String),
    /// An inconsistent configuration.
    #[error("invalid SAC configuration: {0}")]
    Config(String),
    /// The environment failed.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// The replay buffer rejected its inputs.
    #[error(transparent)]
    Rl(#[from] RlError),
    /// A checkpoint could not be encoded, or does not fit the run it should resume.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}

/// The squashed-Gaussian policy: `obs → [μ, log σ]` (`2D` outputs), `log σ` squashed into
/// `[LOG_STD_MIN, LOG_STD_MAX]` with `tanh` (CleanRL's actor).
#[derive(Module, Debug)]
pub struct Actor<B: Backend> {
    /// `obs → [μ | raw log σ]`, `[N, 2D]`.
    pub net: Mlp<B>,
}

impl<B: Backend> Actor<B> {
    /// The pre-squash mean and log standard deviation, each `[N, D]`.
    pub fn mean_log_std(&self, obs: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let out = self.net.forward(obs);
        let [_, two_d] = out.dims();
        let d = two_d / 2;
        let mean = out.clone().narrow(1, 0, d);
        let log_std = out
            .narrow(1, d, d)
            .tanh()
            .add_scalar(1.0)
            .mul_scalar(0.5 * (LOG_STD_MAX - LOG_STD_MIN))
            .add_scalar(LOG_STD_MIN);
        (mean, log_std)
    }

    /// The policy at `obs` `[N, obs_dim]`, squashed onto the box `(low, high)`.
    pub fn dist(&self, obs: Tensor<B, 2>, low: &[f64], high: &[f64]) -> TanhGaussian<B> {
        let (mean, log_std) = self.mean_log_std(obs);
        TanhGaussian::new(mean, log_std).with_bounds(low, high)
    }
}

/// Twin Q networks `(obs, action) → Q`.
#[derive(Module, Debug)]
pub struct TwinQ<B: Backend> {
    /// `[obs | action] → Q₁`, `[N, 1]`.
    pub q1: Mlp<B>,
    /// `[obs | action] → Q₂`, `[N, 1]`.
    pub q2: Mlp<B>,
}

impl<B: Backend> TwinQ<B> {
    /// `(Q₁, Q₂)` at `obs` `[N, obs_dim]` and `actions` `[N, D]`, each `[N]`.
    pub fn forward(&self, obs: Tensor<B, 2>, actions: Tensor<B, 2>) -> (Tensor<B, 1>, Tensor<B, 1>) {
        let [n, _] = obs.dims();
        let x = Tensor::cat(vec![obs, actions], 1);
        (self.q1.forward(x.clone()).reshape([n]), self.q2.forward(x).reshape([n]))
    }
}

/// The learned temperature, `log α` (a module so Adam can step it).
#[derive(Module, Debug)]
pub struct Temperature<B: Backend> {
    /// `log α`, `[1]`.
    pub log_alpha: Param<Tensor<B, 1>>,
}

/// A trained SAC agent.
#[derive(Debug, Clone)]
pub struct SacAgent<B: AutodiffBackend> {
    /// The actor.
    pub actor: Actor<B>,
    /// The online twin Q networks.
    pub critics: TwinQ<B>,
    /// The Polyak-averaged target Q networks.
    pub target_critics: TwinQ<B::InnerBackend>,
    /// The final temperature `α`.
    pub alpha: f64,
    inference: Actor<B::InnerBackend>,
    obs_dim: usize,
    low: Vec<f64>,
    high: Vec<f64>,
}

impl<B: AutodiffBackend> SacAgent<B> {
    /// The deterministic action `s ⊙ tanh(μ(obs)) + b` inside the box for one observation (packed,
    /// `obs_dim` values).
    ///
    /// # Panics
    ///
    /// When `obs` does not have `obs_dim` values.
    pub fn act_deterministic(&self, obs: &[f64]) -> Vec<f64> {
        assert_eq!(obs.len(), self.obs_dim, "act_deterministic: observation length");
        let device = self.inference.net.output.weight.val().device();
        let x = tensor_from_f64::<B::InnerBackend, 2>(obs, [1, self.obs_dim], &device);
        let a = tensor_to_f64(self.inference.dist(x, &self.low, &self.high).mode());
        a.iter().zip(&self.low).zip(&self.high).map(|((a, l), h)| a.clamp(*l, *h)).collect()
    }

    /// `(Q₁, Q₂)` of the online critics at one observation and action.
    pub fn q_values(&self, obs: &[f64], action: &[f64]) -> (f64, f64) {
        let critics = self.critics.valid();
        let device = critics.q1.output.weight.val().device();
        let x = tensor_from_f64::<B::InnerBackend, 2>(obs, [1, self.obs_dim], &device);
        let a = tensor_from_f64::<B::InnerBackend, 2>(action, [1, action.len()], &device);
        let (q1, q2) = critics.forward(x, a);
        (q1.into_scalar().elem(), q2.into_scalar().elem())
    }
}

/// Trains SAC on `venv` for `total_steps` environment steps (rounded up to whole vector steps),
/// calling `on_log` every [`SacConfig::log_interval`] steps and once at the end.
///
/// # Errors
///
/// [`SacError::NonFinite`] when a loss or `α` turns NaN/inf; [`SacError::UnsupportedActionSpace`]
/// for anything but a bounded 1-D `Box` action space; [`SacError::Config`] for an inconsistent
/// configuration; environment and buffer errors otherwise.
pub fn train_sac<B: AutodiffBackend>(
    venv: &mut impl VectorEnv,
    cfg: &SacConfig,
    total_steps: u64,
    device: &B::Device,
    mut on_log: impl FnMut(&SacStats),
) -> Result<SacAgent<B>, SacError> {
    train_sac_with(venv, cfg, total_steps, device, None, |s, _| {
        on_log(s);
        ControlFlow::Continue(())
    })
}

/// Counters and random-number streams of a SAC run at a log point.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SacResumeState {
    /// Environment steps taken (all sub-envs).
    pub global_step: u64,
    /// Gradient updates taken.
    pub updates: u64,
    /// The temperature `α` in use.
    pub alpha: f64,
    /// The exploration stream.
    pub action_rng: Pcg64,
    /// The reparameterisation-noise stream.
    pub update_rng: Pcg64,
    /// The replay buffer's sampling stream.
    pub replay_rng: Pcg64,
}

/// A resumable SAC checkpoint: the networks, target networks, temperature and the three Adam
/// states (burn named MessagePack, full precision; with the fused engine the Adam states are
/// [`FusedAdam::to_bytes`], which start with a magic header), [`SacResumeState`], and the log of every
/// packed vector action. Resuming replays the actions from the seeded reset, which restores the
/// environments and refills the replay buffer exactly (see [`crate::ppo::PpoCheckpoint`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SacCheckpoint {
    /// Counters and streams.
    pub state: SacResumeState,
    /// Records, in the order actor, critics, target critics, temperature, actor optimiser,
    /// critic optimiser, temperature optimiser.
    pub records: Vec<Vec<u8>>,
    /// The action log, `global_step · act_dim` values.
    pub actions: Vec<f64>,
}

/// What [`train_sac_with`]'s callback sees at a log point.
pub struct SacProgress<'a, B: AutodiffBackend> {
    /// The actor now.
    pub actor: &'a Actor<B>,
    critics: &'a TwinQ<B>,
    target_critics: &'a TwinQ<B::InnerBackend>,
    temperature: &'a Temperature<B>,
    actor_optim: &'a OptimizerAdaptor<Adam, Actor<B>, B>,
    q_optim: &'a OptimizerAdaptor<Adam, TwinQ<B>, B>,
    alpha_optim: &'a OptimizerAdaptor<Adam, Temperature<B>, B>,
    /// The fused engine (its Adam states replace burn's optimiser records).
    fused: Option<&'a FusedSac>,
    state: SacResumeState,
    actions: &'a [f64],
}

impl<B: AutodiffBackend> SacProgress<'_, B> {
    /// Encodes a resumable checkpoint of the run as it is now.
    ///
    /// # Errors
    ///
    /// [`SacError::Checkpoint`] when burn's recorder fails.
    pub fn checkpoint(&self) -> Result<SacCheckpoint, SacError> {
        let rec = NamedMpkBytesRecorder::<FullPrecisionSettings>::default();
        let e = |e: burn::record::RecorderError| SacError::Checkpoint(e.to_string());
        let mut records = vec![
            rec.record(self.actor.clone().into_record(), ()).map_err(e)?,
            rec.record(self.critics.clone().into_record(), ()).map_err(e)?,
            rec.record(self.target_critics.clone().into_record(), ()).map_err(e)?,
            rec.record(self.temperature.clone().into_record(), ()).map_err(e)?,
        ];
        match self.fused {
            Some(f) => {
                records.extend([f.actor_adam.to_bytes(), f.critic_adam().to_bytes(), f.alpha_adam.to_bytes()])
            }
            None => records.extend([
                rec.record(self.actor_optim.to_record(), ()).map_err(e)?,
                rec.record(self.q_optim.to_record(), ()).map_err(e)?,
                rec.record(self.alpha_optim.to_record(), ()).map_err(e)?,
            ]),
        }
        Ok(SacCheckpoint { state: self.state.clone(), records, actions: self.actions.to_vec() })
    }
}

/// [`train_sac`] with resuming and early stopping: starts from `resume` when given, and stops at
/// any log point for which `on_log` returns [`ControlFlow::Break`].
///
/// # Errors
///
/// As [`train_sac`], plus [`SacError::Checkpoint`] for a checkpoint that does not fit.
pub fn train_sac_with<B: AutodiffBackend>(
    venv: &mut impl VectorEnv,
    cfg: &SacConfig,
    total_steps: u64,
    device: &B::Device,
    resume: Option<&SacCheckpoint>,
    mut on_log: impl FnMut(&SacStats, &SacProgress<'_, B>) -> ControlFlow<()>,
) -> Result<SacAgent<B>, SacError> {
    // ---- setup: spaces, sizes, seeds, networks, optimisers ----
    let n = venv.num_envs();
    let (low, high) = match venv.single_action_space() {
        Space::Box(b)
            if b.shape.len() == 1
                && b.low.iter().zip(&b.high).all(|(l, h)| l.is_finite() && h.is_finite() && h > l) =>
        {
            (b.low.clone(), b.high.clone())
        }
        other => return Err(SacError::UnsupportedActionSpace(format!("{other:?}"))),
    };
    let act_dim = low.len();
    let obs_dim = venv.single_observation_space().packed_len();
    if cfg.batch_size == 0 || cfg.buffer_size == 0 || cfg.policy_frequency == 0 {
        return Err(SacError::Config("batch_size, buffer_size and policy_frequency must be positive".into()));
    }
    if cfg.target_network_frequency == 0 || cfg.log_interval == 0 || n == 0 {
        return Err(SacError::Config("target_network_frequency and log_interval must be positive".into()));
    }
    let target_entropy = cfg.target_entropy.unwrap_or(-(act_dim as f64));

    let mut seeds = Pcg64::seed_from_u64(cfg.seed);
    let mut init_rng = Pcg64::seed_from_u64(seeds.next_u64());
    let mut action_rng = Pcg64::seed_from_u64(seeds.next_u64());
    let mut update_rng = Pcg64::seed_from_u64(seeds.next_u64());
    let replay_seed = seeds.next_u64();

    let net = |d_input, d_output, gain| {
        MlpConfig::new(d_input, cfg.hidden.clone(), d_output)
            .with_activation(cfg.activation)
            .with_output_gain(gain)
    };
    let mut actor =
        Actor::<B> { net: net(obs_dim, 2 * act_dim, POLICY_GAIN).init_with_rng(&mut init_rng, device) };
    let mut critics = TwinQ::<B> {
        q1: net(obs_dim + act_dim, 1, VALUE_GAIN).init_with_rng(&mut init_rng, device),
        q2: net(obs_dim + act_dim, 1, VALUE_GAIN).init_with_rng(&mut init_rng, device),
    };
    let mut target_critics = critics.valid();
    let mut temperature = Temperature::<B> {
        log_alpha: Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![cfg.alpha.ln() as f32], [1]),
            device,
        )),
    };
    let adam = AdamConfig::new().with_epsilon(cfg.adam_epsilon as f32);
    let mut actor_optim = adam.init::<B, Actor<B>>();
    let mut q_optim = adam.init::<B, TwinQ<B>>();
    let mut alpha_optim = adam.init::<B, Temperature<B>>();
    let mut alpha = cfg.alpha;

    // The fused engine starts from the same (seeded) parameters as the burn modules.
    let layout = SacLayout::new(obs_dim, act_dim, &cfg.hidden, cfg.activation);
    let flat = |r: Result<Vec<f32>, RlError>| r.map_err(SacError::from);
    let mut engine = match cfg.engine {
        SacEngine::Fused => {
            let mut e = FusedSac::new(
                layout.clone(),
                flat(read_module(&actor, &layout.actor_shapes()))?,
                flat(read_module(&critics, &layout.critic_shapes()))?,
                flat(read_module(&target_critics, &layout.critic_shapes()))?,
                cfg.alpha.ln() as f32,
                &low,
                &high,
                cfg.adam_epsilon,
                cfg.batch_size.max(n),
            )?;
            e.set_parallel(std::thread::available_parallelism().is_ok_and(|p| p.get() > 1));
            Some(e)
        }
        SacEngine::Burn => None,
    };

    let capacity = cfg.buffer_size.min(usize::try_from(total_steps).unwrap_or(usize::MAX)).max(1);
    let mut buffer = ReplayBuffer::new(capacity, obs_dim, act_dim, replay_seed)?;
    let mut batch = ReplayBatch::new(cfg.batch_size, obs_dim, act_dim);
    let m = cfg.batch_size;

    let mut obs: Vec<f64> = venv.reset(Some(cfg.seed))?.to_vec();
    let mut ep_return = vec![0.0f64; n];
    let mut prev_done = vec![false; n];
    let mut actions = vec![0.0f64; n * act_dim];

    // Interval accumulators: returns, [q_loss, actor_loss, alpha, alpha_loss] sums, counts, time.
    let mut finished: Vec<f64> = Vec::new();
    let mut sums = [0.0f64; 4];
    let mut interval_updates = 0u64;
    let mut actor_steps = 0u64;
    let mut update_secs = 0.0f64;
    let mut last_log = 0u64;
    let mut updates = 0u64;
    let mut global_step = 0u64;
    let mut action_log: Vec<f64> =
        Vec::with_capacity(usize::try_from(total_steps).unwrap_or(0).saturating_mul(act_dim).min(1 << 27));

    if let Some(ck) = resume {
        // ---- resume: replay the actions (refilling the buffer), then load networks and streams ----
        let expected = ck.state.global_step as usize * act_dim;
        if ck.actions.len() != expected || ck.records.len() != 7 {
            return Err(SacError::Checkpoint(format!(
                "the action log holds {} values ({} records); step {} with {act_dim} action value(s) \
                 needs {expected} (7 records)",
                ck.actions.len(),
                ck.records.len(),
                ck.state.global_step
            )));
        }
        for chunk in ck.actions.chunks(n * act_dim) {
            let step = venv.step(chunk)?;
            for i in 0..n {
                if prev_done[i] {
                    ep_return[i] = 0.0;
                    prev_done[i] = false;
                    continue;
                }
                ep_return[i] += step.rewards[i];
                let a = &chunk[i * act_dim..(i + 1) * act_dim];
                buffer.push(
                    &obs[i * obs_dim..(i + 1) * obs_dim],
                    a,
                    step.rewards[i],
                    step.observation(i),
                    step.terminated[i],
                )?;
                prev_done[i] = step.done(i);
            }
            obs.clear();
            obs.extend_from_slice(step.observations);
        }
        let rec = NamedMpkBytesRecorder::<FullPrecisionSettings>::default();
        let bad = |what: &str, e: burn::record::RecorderError| {
            SacError::Checkpoint(format!("the {what} does not fit this configuration: {e}"))
        };
        let r = &ck.records;
        actor = actor.load_record(rec.load(r[0].clone(), device).map_err(|e| bad("actor", e))?);
        critics = critics.load_record(rec.load(r[1].clone(), device).map_err(|e| bad("critics", e))?);
        target_critics =
            target_critics.load_record(rec.load(r[2].clone(), device).map_err(|e| bad("target critics", e))?);
        temperature =
            temperature.load_record(rec.load(r[3].clone(), device).map_err(|e| bad("temperature", e))?);
        match engine.as_mut() {
            Some(e) => {
                let adam = |bytes: &[u8], len: usize| {
                    FusedAdam::from_bytes(bytes, len).map_err(|e| {
                        SacError::Checkpoint(format!(
                            "{e}; this run uses engine = \"fused\", a burn-engine checkpoint resumes \
                             only with engine = \"burn\""
                        ))
                    })
                };
                e.actor = read_module(&actor, &layout.actor_shapes())?;
                e.critics = read_module(&critics, &layout.critic_shapes())?;
                e.targets = read_module(&target_critics, &layout.critic_shapes())?;
                e.log_alpha = read_module(&temperature, &[vec![1]])?;
                e.actor_adam = adam(&r[4], layout.actor_len())?;
                e.set_critic_adam(adam(&r[5], 2 * layout.q_len())?)?;
                e.alpha_adam = adam(&r[6], 1)?;
            }
            None => {
                if r[4..].iter().any(|b| b.starts_with(FUSED_ADAM_MAGIC)) {
                    return Err(SacError::Checkpoint(
                        "the optimiser states were written by the fused engine (engine = \"fused\"); \
                         this run uses engine = \"burn\", which cannot resume them"
                            .into(),
                    ));
                }
                actor_optim = actor_optim
                    .load_record(rec.load(r[4].clone(), device).map_err(|e| bad("actor optimiser", e))?);
                q_optim = q_optim
                    .load_record(rec.load(r[5].clone(), device).map_err(|e| bad("critic optimiser", e))?);
                alpha_optim = alpha_optim.load_record(
                    rec.load(r[6].clone(), device).map_err(|e| bad("temperature optimiser", e))?,
                );
            }
        }
        alpha = ck.state.alpha;
        action_rng = ck.state.action_rng.clone();
        update_rng = ck.state.update_rng.clone();
        buffer.set_rng(ck.state.replay_rng.clone());
        action_log.extend_from_slice(&ck.actions);
        global_step = ck.state.global_step;
        updates = ck.state.updates;
        last_log = global_step;
    }

    while global_step < total_steps {
        // ---- act: uniform before learning_starts, then sampled from the policy ----
        if global_step < cfg.learning_starts {
            for (k, a) in actions.iter_mut().enumerate() {
                let j = k % act_dim;
                *a = action_rng.random_range(low[j]..high[j]);
            }
        } else if let Some(e) = engine.as_mut() {
            e.act(&obs, &mut action_rng, &low, &high, &mut actions)?;
        } else {
            let x = tensor_from_f64::<B::InnerBackend, 2>(&obs, [n, obs_dim], device);
            let a = tensor_to_f64(actor.valid().dist(x, &low, &high).sample(&mut action_rng));
            for (k, (dst, src)) in actions.iter_mut().zip(&a).enumerate() {
                let j = k % act_dim;
                *dst = src.clamp(low[j], high[j]);
            }
        }

        // ---- store: skip reset steps; `terminated` is the done flag ----
        let step = venv.step(&actions)?;
        action_log.extend_from_slice(&actions);
        global_step += n as u64;
        for i in 0..n {
            if prev_done[i] {
                ep_return[i] = 0.0;
                prev_done[i] = false;
                continue;
            }
            let a = &actions[i * act_dim..(i + 1) * act_dim];
            buffer.push(
                &obs[i * obs_dim..(i + 1) * obs_dim],
                a,
                step.rewards[i],
                step.observation(i),
                step.terminated[i],
            )?;
            ep_return[i] += step.rewards[i];
            if step.done(i) {
                finished.push(ep_return[i]);
                prev_done[i] = true;
            }
        }
        obs.clear();
        obs.extend_from_slice(step.observations);

        if global_step >= cfg.learning_starts && !buffer.is_empty() {
            let t0 = Instant::now();
            updates += 1;
            buffer.sample(&mut batch)?;
            let alpha_used = alpha;
            let values: Vec<f64> = if let Some(e) = engine.as_mut() {
                // ---- the same updates on the fused engine ----
                let mut values = Vec::with_capacity(1 + 2 * cfg.policy_frequency as usize);
                values.push(e.critic_step(&batch, alpha, cfg.gamma, cfg.q_lr, &mut update_rng)?);
                if updates.is_multiple_of(cfg.policy_frequency) {
                    for _ in 0..cfg.policy_frequency {
                        values.push(e.actor_step(&batch, alpha, cfg.policy_lr, &mut update_rng)?);
                        actor_steps += 1;
                        if cfg.autotune {
                            let (loss, a) = e.temperature_step(m, target_entropy, cfg.policy_lr);
                            values.push(loss);
                            alpha = a;
                            if !alpha.is_finite() {
                                return Err(SacError::NonFinite { step: global_step, quantity: "alpha" });
                            }
                        }
                    }
                }
                if updates.is_multiple_of(cfg.target_network_frequency) {
                    e.polyak(cfg.tau);
                }
                values
            } else {
                let tensor2 = |v: &[f32], cols: usize| {
                    Tensor::<B, 2>::from_data(TensorData::new(v.to_vec(), [m, cols]), device)
                };
                let s = tensor2(&batch.obs, obs_dim);
                let a = tensor2(&batch.actions, act_dim);

                // ---- critic update: y = r + γ (1 − terminated) (min Q'(s', a') − α log π(a'|s')) ----
                let target = {
                    let inner = |v: &[f32], cols: usize| {
                        Tensor::<B::InnerBackend, 2>::from_data(
                            TensorData::new(v.to_vec(), [m, cols]),
                            device,
                        )
                    };
                    let s2 = inner(&batch.next_obs, obs_dim);
                    let dist = actor.valid().dist(s2.clone(), &low, &high);
                    let (a2, logp2) = dist.rsample_with_log_prob(&mut update_rng);
                    let (q1t, q2t) = target_critics.forward(s2, a2);
                    let soft_v = q1t.min_pair(q2t) - logp2.mul_scalar(alpha);
                    let r = inner(&batch.rewards, 1).reshape([m]);
                    let not_done = inner(&batch.terminated, 1).reshape([m]).neg().add_scalar(1.0);
                    r + not_done * soft_v.mul_scalar(cfg.gamma)
                };
                let y = Tensor::<B, 1>::from_inner(target);
                let (q1, q2) = critics.forward(s.clone(), a);
                let q_loss = (q1 - y.clone()).powi_scalar(2).mean() + (q2 - y).powi_scalar(2).mean();
                let q_loss_value = q_loss.clone().detach();
                let grads = GradientsParams::from_grads(q_loss.backward(), &critics);
                critics = q_optim.step(cfg.q_lr, critics, grads);

                // ---- actor and temperature update (delayed by policy_frequency) ----
                let mut parts = vec![q_loss_value.inner()];
                if updates.is_multiple_of(cfg.policy_frequency) {
                    for _ in 0..cfg.policy_frequency {
                        let dist = actor.dist(s.clone(), &low, &high);
                        let (pi, logp) = dist.rsample_with_log_prob(&mut update_rng);
                        let (q1p, q2p) = critics.forward(s.clone(), pi);
                        let actor_loss = (logp.clone().mul_scalar(alpha) - q1p.min_pair(q2p)).mean();
                        parts.push(actor_loss.clone().detach().inner());
                        let grads = GradientsParams::from_grads(actor_loss.backward(), &actor);
                        actor = actor_optim.step(cfg.policy_lr, actor, grads);
                        actor_steps += 1;

                        if cfg.autotune {
                            let logp = Tensor::<B, 1>::from_inner(logp.detach().inner());
                            let alpha_loss = (temperature.log_alpha.val().exp().neg()
                                * logp.add_scalar(target_entropy))
                            .mean();
                            parts.push(alpha_loss.clone().detach().inner());
                            let grads = GradientsParams::from_grads(alpha_loss.backward(), &temperature);
                            temperature = alpha_optim.step(cfg.policy_lr, temperature, grads);
                            alpha = temperature.log_alpha.val().inner().exp().into_scalar().elem::<f64>();
                            if !alpha.is_finite() {
                                return Err(SacError::NonFinite { step: global_step, quantity: "alpha" });
                            }
                        }
                    }
                }

                // ---- target update ----
                if updates.is_multiple_of(cfg.target_network_frequency) {
                    target_critics = polyak_update(target_critics, &critics.valid(), cfg.tau);
                }

                // ---- diagnostics: one host read, checked ----
                tensor_to_f64(Tensor::cat(parts, 0))
            };
            let stride = if cfg.autotune { 2 } else { 1 };
            let q = values[0];
            if !q.is_finite() {
                return Err(SacError::NonFinite { step: global_step, quantity: "q_loss" });
            }
            sums[0] += q;
            for chunk in values[1..].chunks(stride) {
                if !chunk[0].is_finite() {
                    return Err(SacError::NonFinite { step: global_step, quantity: "actor_loss" });
                }
                sums[1] += chunk[0];
                if let Some(&l) = chunk.get(1) {
                    if !l.is_finite() {
                        return Err(SacError::NonFinite { step: global_step, quantity: "alpha_loss" });
                    }
                    sums[3] += l;
                }
            }
            sums[2] += alpha_used;
            interval_updates += 1;
            update_secs += t0.elapsed().as_secs_f64();
        }

        // ---- report ----
        if global_step - last_log >= cfg.log_interval || global_step >= total_steps {
            let per = |s: f64, k: u64| if k > 0 { s / k as f64 } else { 0.0 };
            let stats = SacStats {
                global_step,
                updates,
                episodes: finished.len(),
                mean_return: (!finished.is_empty())
                    .then(|| finished.iter().sum::<f64>() / finished.len() as f64),
                episode_returns: finished.clone(),
                q_loss: per(sums[0], interval_updates),
                actor_loss: per(sums[1], actor_steps),
                alpha: if interval_updates > 0 { per(sums[2], interval_updates) } else { alpha },
                alpha_loss: per(sums[3], actor_steps),
                updates_per_sec: if update_secs > 0.0 { interval_updates as f64 / update_secs } else { 0.0 },
            };
            finished.clear();
            sums = [0.0; 4];
            interval_updates = 0;
            actor_steps = 0;
            update_secs = 0.0;
            last_log = global_step;
            if let Some(e) = &engine {
                (actor, critics, target_critics, temperature) =
                    write_back(e, actor, critics, target_critics, temperature)?;
            }
            let progress = SacProgress {
                actor: &actor,
                critics: &critics,
                target_critics: &target_critics,
                temperature: &temperature,
                actor_optim: &actor_optim,
                q_optim: &q_optim,
                alpha_optim: &alpha_optim,
                fused: engine.as_ref(),
                state: SacResumeState {
                    global_step,
                    updates,
                    alpha,
                    action_rng: action_rng.clone(),
                    update_rng: update_rng.clone(),
                    replay_rng: buffer.rng().clone(),
                },
                actions: &action_log,
            };
            if on_log(&stats, &progress).is_break() {
                break;
            }
        }
    }

    if let Some(e) = &engine {
        (actor, critics, target_critics, _) = write_back(e, actor, critics, target_critics, temperature)?;
    }
    let inference = actor.valid();
    Ok(SacAgent { actor, critics, target_critics, alpha, inference, obs_dim, low, high })
}

/// The burn modules with the fused engine's parameters written into them (exact copies).
#[allow(clippy::type_complexity)]
fn write_back<B: AutodiffBackend>(
    e: &FusedSac,
    actor: Actor<B>,
    critics: TwinQ<B>,
    target_critics: TwinQ<B::InnerBackend>,
    temperature: Temperature<B>,
) -> Result<(Actor<B>, TwinQ<B>, TwinQ<B::InnerBackend>, Temperature<B>), SacError> {
    let l = e.layout();
    Ok((
        write_module(actor, &l.actor_shapes(), &e.actor)?,
        write_module(critics, &l.critic_shapes(), &e.critics)?,
        write_module(target_critics, &l.critic_shapes(), &e.targets)?,
        write_module(temperature, &[vec![1]], &e.log_alpha)?,
    ))
}
