//! Deep PARL / A-PARL (methods.md §2.2–2.3): a PPO lower level on a learned reward, a
//! Bradley–Terry upper level on preference pairs sampled from the *current* policy.
//!
//! **Lower level.** One warm-started PPO run ([`crate::ppo::train_ppo_with`]): the policy, critic
//! and Adam state carry over from one outer step to the next (methods.md §2.2: "K policy-gradient
//! steps on V(ν_t, ·), warm-started"); every `updates_per_round` PPO updates the upper level takes
//! its step and the environments' reward changes for the following rollouts. The learned reward is
//! linear in features of the state, `r_ν(s_t, a_t) = ν · φ(s_t)` ([`RewardFeatures`], e.g.
//! [`RewardFeatures::cartpole`]), applied by the [`LearnedReward`] wrapper, which reads `ν` from a
//! shared cell.
//!
//! **Upper level.** `G(ν, θ) = E_{σ₀, σ₁ ~ π_θ, y}[ℓ_ν] − κ‖ν‖²` with the Bradley–Terry
//! log-likelihood `ℓ_ν = y log σ(Δ) + (1 − y) log σ(−Δ)`, `Δ = R_ν(σ₀) − R_ν(σ₁)`,
//! `R_ν(σ) = Σ_t ν·φ(s_t)` over the segment's steps, and `y = P(σ₀ ≻ σ₁)` from a
//! [`ScriptedTeacher`] scoring segments by their true (environment) return. A segment of length
//! `L` is cut from an episode of the stochastic policy at a start step drawn uniformly from
//! `[0, min(B, T_end − 1)]` (`B` = [`DeepParlConfig::max_start`]) and is shorter when the episode
//! ends inside it ([`sample_segment`]). The hypergradient is
//!
//! ```text
//! ∇_ν G(ν, θ*(ν)) = ∂_ν G − (∂_ν∇_θ V)ᵀ H⁻¹ ∇_θ G,        H = ∇²_θ V(ν, θ*)
//! ```
//!
//! - `∂_ν G`: closed form, `mean_buffer (y − σ(Δ)) (F₀ − F₁) − 2κν` with `F` the feature sums
//!   ([`bt_direct_gradient`]), over every pair queried so far.
//! - `∇_θ G` (the dependence of the sampling distribution on the policy): the score function
//!   `mean_pairs (ℓ_i − b) [∇_θ log p_θ(σ₀ⁱ) + ∇_θ log p_θ(σ₁ⁱ)]` over this round's on-policy pairs,
//!   `b` their mean log-likelihood. `log p_θ(σ)` sums `log π_θ(a|s)` over **every** action the
//!   sampler rolled for the segment, prefix included (the prefix decides the start state, the
//!   episode's end the start index): the segment is a function of that record, so this is the
//!   exact score of the sampling process ([`pair_score_gradient`]).
//! - `∂_ν∇_θ V`: `V` is linear in `ν`, so its row `j` is the REINFORCE gradient of the feature
//!   `φ_j` as a reward, `ĝ_j = Σ_t ∇_θ log π(a_t|s_t) (Ψ_{t,j} − b_j)` with `Ψ_{t,j}` the
//!   discounted feature-to-go at PPO's `γ` ([`feature_policy_gradients`]), from fresh episodes.
//! - `H⁻¹`: the **zeroth-order Neumann** approximation `H⁻¹ ≈ −α I` (the `K = 0` term of
//!   [`super::neumann_inverse_hvp`]), `α` = [`DeepParlConfig::implicit_scale`]. Then the implicit
//!   term is `α [ĝ_j · ∇_θ G]_j`, the first-order-in-`α` part of
//!   `d/dν G(ν, θ + α ∇_θ V(ν, θ)) − ∂_ν G`: the dependence of the data on one inner
//!   policy-gradient step of size `α`. `α` is a tuned weight, not derived from `‖H‖` (the series
//!   would need `α ‖H‖ < 1`; `‖H‖` of the actor is not estimated). Why not more terms:
//!   burn has no double backward, so a Hessian-vector product of the actor would be a finite
//!   difference of gradients ([`super::finite_difference_hvp`]); for a *sampled* REINFORCE
//!   surrogate on fixed episodes that difference is the Hessian of the surrogate, which lacks the
//!   `∇log π ∇log πᵀ` part of `∇²V`, and PPO's clipped objective is not `V` either; with the few
//!   episodes a CPU round affords, its noise would swamp the correction. The `K = 0` term keeps
//!   the sign structure (`−H⁻¹` positive definite near a maximum) and costs first derivatives
//!   only.
//!
//! A-PARL adds the implicit term; the alternating (PEBBLE-style) variant drops it; the oracle
//! trains PPO on the true reward with the same schedule. All three take the PPO seed and the data
//! stream seed from [`DeepParlConfig::seed`], so A-PARL and the alternating variant see
//! bit-identical data until their rewards first differ.
//!
//! **Measured** (`alignrl reproduce parl --deep`, release, CartPole-v1 with
//! [`DeepParlConfig::cartpole`], 5 seeds): median queries until the greedy true return reaches
//! 0.9 × 500 — A-PARL 84 (5/5 solved, final 1.000), alternating 52 (5/5, final 0.938), oracle 28
//! (the queries its schedule would have spent); `‖implicit‖/‖direct‖ ≈ 0.28` at `α = 1e-5`. At
//! `α = 1e-3` (ratio ≈ 18) runs collapsed after reaching 0.9, at `α = 1` (≈ 450) `ν` diverged.
//! The paper's sample-efficiency gain did not show in this setting.

use std::ops::ControlFlow;
use std::sync::{Arc, RwLock};

use alignrl_envs::env::{Env, EnvError, Info, Step};
use alignrl_envs::space::Space;
use alignrl_envs::tabular::{MdpParts, TabularMdp};
use alignrl_envs::vector::VecEnv;
use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::BilevelError;
use super::deep::weighted_score_gradient;
use super::parl::{ParlVariant, bt_loglik};
use crate::distributions::{tensor_from_f64, tensor_to_f64};
use crate::nn::Mlp;
use crate::ppo::{PpoConfig, train_ppo_with};
use crate::preference::data::Segment;
use crate::preference::teacher::{LabelModel, ScriptedTeacher, Teacher, TeacherConfig, TieMode};

/// Features `φ(s)` of the learned reward `r_ν(s, a) = ν · φ(s)`.
#[derive(Debug, Clone, Copy)]
pub struct RewardFeatures {
    /// Number of features `k`.
    pub dim: usize,
    /// Writes `φ(obs)` (`dim` values) into the second argument; must not allocate.
    pub map: fn(&[f64], &mut [f64]),
}

/// CartPole half-ranges used to scale the features: cart position limit 2.4 m, pole angle limit
/// 12° = 0.2095 rad; velocities are scaled by 2 m/s and 2 rad/s.
fn cartpole_map(obs: &[f64], out: &mut [f64]) {
    let (x, v, th, w) = (obs[0] / 2.4, obs[1] / 2.0, obs[2] / 0.2095, obs[3] / 2.0);
    out[0] = 1.0;
    out[1] = x * x;
    out[2] = v * v;
    out[3] = th * th;
    out[4] = w * w;
}

impl RewardFeatures {
    /// CartPole `[x, ẋ, θ, θ̇]` (metres, m/s, radians, rad/s): `φ = [1, (x/2.4)², (ẋ/2)²,
    /// (θ/0.2095)², (θ̇/2)²]`, a bias and scaled quadratic terms (the true reward, +1 per step
    /// while alive, is not a function of the state, so the model is misspecified: it must
    /// explain survival through the bias and the penalties near the failure region).
    pub fn cartpole() -> Self {
        RewardFeatures { dim: 5, map: cartpole_map }
    }
}

/// Replaces the step reward by `ν · φ(s_t)` (`s_t` the observation before the step), with `ν`
/// read from a shared cell at each step, so an outer loop can change it between PPO rollouts.
/// The true reward is reported in `info["true_reward"]`.
pub struct LearnedReward<E> {
    env: E,
    nu: Arc<RwLock<Vec<f64>>>,
    features: RewardFeatures,
    prev: Vec<f64>,
    phi: Vec<f64>,
}

/// Info key of the environment's reward under [`LearnedReward`].
pub const TRUE_REWARD: &str = "true_reward";

impl<E: Env> LearnedReward<E> {
    /// Wraps `env`; errors if `ν` does not have `features.dim` entries.
    pub fn new(env: E, features: RewardFeatures, nu: Arc<RwLock<Vec<f64>>>) -> Result<Self, BilevelError> {
        let len = nu.read().map_err(|_| poisoned())?.len();
        if len != features.dim {
            return Err(BilevelError::Shape { what: "ν", expected: features.dim, got: len });
        }
        let n = env.observation_space().packed_len();
        Ok(LearnedReward { env, nu, features, prev: vec![0.0; n], phi: vec![0.0; features.dim] })
    }
}

fn poisoned() -> BilevelError {
    BilevelError::Invalid("the shared reward parameters were poisoned by a panic".into())
}

impl<E: Env> Env for LearnedReward<E> {
    fn observation_space(&self) -> &Space {
        self.env.observation_space()
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], info: &mut Info) -> Result<(), EnvError> {
        self.env.reset(seed, obs, info)?;
        self.prev.copy_from_slice(obs);
        Ok(())
    }
    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        let mut s = self.env.step(action, obs, info)?;
        (self.features.map)(&self.prev, &mut self.phi);
        // A poisoned lock only happens after a panic elsewhere; the reward then falls back to 0.
        let r = self.nu.read().map(|nu| dot(&nu, &self.phi)).unwrap_or(0.0);
        info.set(TRUE_REWARD, s.reward);
        s.reward = r;
        self.prev.copy_from_slice(obs);
        Ok(s)
    }
    fn name(&self) -> &str {
        self.env.name()
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Which method [`run_deep_parl`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeepParlMethod {
    /// PARL on the learned reward, full (A-PARL) or alternating hypergradient.
    Parl(ParlVariant),
    /// PPO on the true reward, same schedule (no queries).
    Oracle,
}

impl DeepParlMethod {
    /// `"a-parl"`, `"alternating"` or `"oracle"`.
    pub fn name(self) -> &'static str {
        match self {
            DeepParlMethod::Parl(v) => v.name(),
            DeepParlMethod::Oracle => "oracle",
        }
    }
}

/// Settings of [`run_deep_parl`].
#[derive(Debug, Clone)]
pub struct DeepParlConfig {
    /// PPO settings (its `seed` is replaced by [`Self::seed`]).
    pub ppo: PpoConfig,
    /// Environment steps of the whole (warm-started) PPO run.
    pub total_steps: u64,
    /// PPO updates between two upper-level steps (`K`).
    pub updates_per_round: usize,
    /// Preference-query budget; once spent, PPO continues on the last learned reward.
    pub max_queries: usize,
    /// Preference queries per round.
    pub pairs_per_round: usize,
    /// Segment length `L` (steps).
    pub segment_len: usize,
    /// Latest segment start `B` within an episode (steps).
    pub max_start: usize,
    /// Adam steps on `ν` per round.
    pub reward_updates: usize,
    /// Adam learning rate on `ν`.
    pub lr: f64,
    /// L2 coefficient `κ` on `ν`.
    pub l2: f64,
    /// The teacher's inverse temperature `β` on true segment returns (labels are sampled).
    pub teacher_beta: f64,
    /// Neumann step `α` of `H⁻¹ ≈ −α I` (A-PARL only).
    pub implicit_scale: f64,
    /// Episodes per round for the rows `ĝ_j` of `∂_ν∇_θ V` (A-PARL only).
    pub pg_episodes: usize,
    /// Greedy evaluation episodes after every round.
    pub eval_episodes: usize,
    /// Greedy evaluation episodes at the end.
    pub final_eval_episodes: usize,
    /// The maximum true return, used to normalise (`500` for CartPole-v1).
    pub max_return: f64,
    /// Normalised return counted as solved.
    pub threshold: f64,
    /// Seed of PPO and of the data stream (segments, teacher).
    pub seed: u64,
}

impl DeepParlConfig {
    /// CartPole-v1 defaults: rl-zoo PPO (8 envs × 32 steps), 51 200 steps, a round every 4
    /// updates (1 024 steps), 4 queries per round up to 100, `L = 25`, `B = 200`, 20 Adam steps of
    /// lr 0.05 per round, `κ = 1e-2`, teacher `β = 1`, `α = 1e-5`, 4 PG episodes, 3 evaluation
    /// episodes per round and 10 at the end, threshold 0.9 of 500.
    pub fn cartpole(seed: u64) -> Self {
        let (ppo, _) = PpoConfig::zoo("CartPole-v1").unwrap_or_default();
        DeepParlConfig {
            ppo,
            total_steps: 51_200,
            updates_per_round: 4,
            max_queries: 100,
            pairs_per_round: 4,
            segment_len: 25,
            max_start: 200,
            reward_updates: 20,
            lr: 0.05,
            l2: 1e-2,
            teacher_beta: 1.0,
            // Measured ‖implicit‖/‖direct‖: ≈ 450 at α = 1 (ν diverges), 18 at 1e-3, 0.28 at 1e-5.
            implicit_scale: 1e-5,
            pg_episodes: 4,
            eval_episodes: 3,
            final_eval_episodes: 10,
            max_return: 500.0,
            threshold: 0.9,
            seed,
        }
    }

    fn validate(&self) -> Result<(), BilevelError> {
        let bad = |m: &str| Err(BilevelError::Invalid(m.into()));
        if self.updates_per_round == 0 || self.pairs_per_round == 0 || self.segment_len == 0 {
            return bad("updates per round, pairs per round and segment length must be ≥ 1");
        }
        if self.reward_updates == 0 || self.eval_episodes == 0 || self.final_eval_episodes == 0 {
            return bad("reward updates and evaluation episodes must be ≥ 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.l2.is_finite() && self.l2 >= 0.0) {
            return bad("the learning rate must be positive and κ ≥ 0");
        }
        if !(self.implicit_scale.is_finite() && self.teacher_beta.is_finite() && self.teacher_beta >= 0.0) {
            return bad("α must be finite and the teacher's β finite and ≥ 0");
        }
        if !(self.max_return.is_finite() && self.max_return > 0.0) {
            return bad("the maximum return must be positive");
        }
        Ok(())
    }
}

/// One evaluation point of a [`DeepParlRun`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeepParlPoint {
    /// Environment steps of PPO so far.
    pub env_steps: u64,
    /// Preference queries so far (for the oracle: the queries the schedule would have spent).
    pub queries: usize,
    /// Normalised greedy true return.
    pub score: f64,
}

/// The result of [`run_deep_parl`].
#[derive(Debug, Clone, PartialEq)]
pub struct DeepParlRun {
    /// Evaluations after every round.
    pub curve: Vec<DeepParlPoint>,
    /// Queries when the normalised return first reached the threshold.
    pub queries_to_threshold: Option<usize>,
    /// Normalised greedy true return at the end (`final_eval_episodes` episodes).
    pub final_score: f64,
    /// Final reward parameters (empty for the oracle).
    pub nu: Vec<f64>,
    /// Mean `‖implicit‖ / ‖direct‖` over the reward updates (0 unless A-PARL).
    pub implicit_ratio: f64,
}

/// A segment of an episode of the stochastic policy with the episode's prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledSegment {
    /// Observations of every step the sampler rolled (from the reset), `n × d`.
    pub obs: Vec<f64>,
    /// Actions (indices) of those steps, `n`: the segment is a function of this record, so the
    /// score `Σ ∇log π` over all of it is the exact score of the sampling process.
    pub actions: Vec<i64>,
    /// Index of the segment's first step.
    pub start: usize,
    /// One past the segment's last step (`start < end ≤ n`).
    pub end: usize,
    /// `Σ_t φ(s_t)` over the segment's steps.
    pub feature_sum: Vec<f64>,
    /// True rewards of the segment's steps.
    pub true_rewards: Vec<f64>,
}

impl SampledSegment {
    /// Steps in the segment.
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    /// Never true (a segment has at least one step).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The segment for a teacher: one feature per step, the true reward (states and actions are
    /// placeholders; the partial-return teacher reads only the features).
    pub fn teacher_segment(&self) -> Result<Segment, BilevelError> {
        let n = self.len();
        Segment::new(vec![0; n + 1], vec![0; n], self.true_rewards.clone(), 1)
            .map_err(|e| BilevelError::Invalid(format!("segment: {e}")))
    }
}

/// Draws an action index from the categorical policy with `logits` (no allocation).
fn sample_index(logits: &[f64], rng: &mut Pcg64) -> usize {
    let m = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = logits.iter().map(|l| (l - m).exp()).sum();
    let u = rng.random::<f64>() * z;
    let mut acc = 0.0;
    for (i, l) in logits.iter().enumerate() {
        acc += (l - m).exp();
        if u < acc {
            return i;
        }
    }
    logits.len() - 1
}

/// The first element of a `Discrete` action space (the env action of index `i` is `start + i`);
/// an error for any other action space.
fn discrete_start<E: Env>(env: &E) -> Result<f64, BilevelError> {
    match env.action_space() {
        Space::Discrete(d) => Ok(d.start as f64),
        other => {
            Err(BilevelError::Invalid(format!("deep PARL needs a Discrete action space, got {other:?}")))
        }
    }
}

fn env_err(e: EnvError) -> BilevelError {
    BilevelError::Invalid(format!("environment error: {e}"))
}

/// Samples one segment of `len` steps from an episode of the stochastic policy `actor`
/// (categorical logits) on `env` reset with `reset_seed`: the start step is uniform in
/// `[0, min(max_start, T_end − 1)]` where `T_end` is where the episode ends (or `max_start` if it
/// lasts), and the segment is cut short if the episode ends inside it. The returned record keeps
/// every rolled step. Discrete actions only.
pub fn sample_segment<B: Backend, E: Env>(
    actor: &Mlp<B>,
    env: &mut E,
    features: &RewardFeatures,
    len: usize,
    max_start: usize,
    reset_seed: u64,
    rng: &mut Pcg64,
) -> Result<SampledSegment, BilevelError> {
    let d = env.observation_space().packed_len();
    let a0 = discrete_start(env)?;
    let device = actor.output.weight.val().device();
    let mut obs = vec![0.0; d];
    let mut info = Info::new();
    env.reset(Some(reset_seed), &mut obs, &mut info).map_err(env_err)?;
    let planned = rng.random_range(0..=max_start);
    let (mut all_obs, mut actions, mut rewards) = (Vec::new(), Vec::new(), Vec::new());
    let mut t_end = None;
    // Roll until the planned end or the episode's end.
    while actions.len() < planned + len {
        let logits = tensor_to_f64(actor.forward(tensor_from_f64::<B, 2>(&obs, [1, d], &device)));
        let a = sample_index(&logits, rng);
        all_obs.extend_from_slice(&obs);
        actions.push(a as i64);
        let s = env.step(&[a0 + a as f64], &mut obs, &mut info).map_err(env_err)?;
        rewards.push(s.reward);
        if s.done() {
            t_end = Some(actions.len());
            break;
        }
    }
    let start = match t_end {
        Some(t) if planned >= t => rng.random_range(0..t),
        _ => planned,
    };
    let end = (start + len).min(actions.len());
    let mut feature_sum = vec![0.0; features.dim];
    let mut phi = vec![0.0; features.dim];
    for row in all_obs[start * d..end * d].chunks_exact(d) {
        (features.map)(row, &mut phi);
        feature_sum.iter_mut().zip(&phi).for_each(|(a, b)| *a += b);
    }
    let true_rewards = rewards[start..end].to_vec();
    Ok(SampledSegment { obs: all_obs, actions, start, end, feature_sum, true_rewards })
}

/// A labelled pair: `y = P(left ≻ right)`.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledPair {
    /// The left segment `σ₀`.
    pub left: SampledSegment,
    /// The right segment `σ₁`.
    pub right: SampledSegment,
    /// The teacher's label.
    pub y: f64,
}

impl LabelledPair {
    /// `Δ = R_ν(σ₀) − R_ν(σ₁)`.
    pub fn delta(&self, nu: &[f64]) -> f64 {
        dot(&self.left.feature_sum, nu) - dot(&self.right.feature_sum, nu)
    }
}

/// `(mean ℓ_ν − κ‖ν‖², ∂_ν of it)` over `pairs` (the direct term of the hypergradient).
pub fn bt_direct_gradient(pairs: &[LabelledPair], nu: &[f64], l2: f64) -> (f64, Vec<f64>) {
    let mut g = vec![0.0; nu.len()];
    let mut total = 0.0;
    let n = pairs.len().max(1) as f64;
    for p in pairs {
        let (l, dl) = bt_loglik(p.delta(nu), p.y);
        total += l / n;
        for ((gi, a), b) in g.iter_mut().zip(&p.left.feature_sum).zip(&p.right.feature_sum) {
            *gi += dl * (a - b) / n;
        }
    }
    g.iter_mut().zip(nu).for_each(|(gi, x)| *gi -= 2.0 * l2 * x);
    (total - l2 * dot(nu, nu), g)
}

/// `∇_θ [log p_θ(σ₀) + log p_θ(σ₁)]` of a pair (over every rolled step, prefixes included), flattened in the order of
/// [`weighted_score_gradient`].
pub fn pair_score_gradient<B: AutodiffBackend>(
    actor: &Mlp<B>,
    pair: &LabelledPair,
    obs_dim: usize,
    device: &B::Device,
) -> Vec<f64> {
    let mut obs = pair.left.obs.clone();
    obs.extend_from_slice(&pair.right.obs);
    let mut actions = pair.left.actions.clone();
    actions.extend_from_slice(&pair.right.actions);
    let w = vec![1.0; actions.len()];
    weighted_score_gradient(actor, &obs, obs_dim, &actions, &w, device)
}

/// The rows `ĝ_j` of `∂_ν∇_θ V` (one per feature): the REINFORCE gradient of the discounted
/// return of feature `φ_j` as a reward, `Σ_t ∇_θ log π(a_t|s_t) (Ψ_{t,j} − b_j) / episodes`,
/// from `episodes` episodes of the stochastic policy (at most `max_len` steps each) reset with
/// seeds `seed, seed + 1, …`; `b_j` is the mean of `Ψ_{·,j}` over all steps.
#[allow(clippy::too_many_arguments)]
pub fn feature_policy_gradients<B: AutodiffBackend, E: Env>(
    actor: &Mlp<B>,
    env: &mut E,
    features: &RewardFeatures,
    gamma: f64,
    episodes: usize,
    max_len: usize,
    seed: u64,
    rng: &mut Pcg64,
    device: &B::Device,
) -> Result<Vec<Vec<f64>>, BilevelError> {
    let d = env.observation_space().packed_len();
    let a0 = discrete_start(env)?;
    let k = features.dim;
    let inner = actor.valid();
    let (mut all_obs, mut actions, mut psi) = (Vec::new(), Vec::new(), Vec::new());
    let mut obs = vec![0.0; d];
    let mut info = Info::new();
    let mut phi = vec![0.0; k];
    for e in 0..episodes {
        env.reset(Some(seed.wrapping_add(e as u64)), &mut obs, &mut info).map_err(env_err)?;
        let mut feats = Vec::new();
        for _ in 0..max_len {
            let logits =
                tensor_to_f64(inner.forward(tensor_from_f64::<B::InnerBackend, 2>(&obs, [1, d], device)));
            let a = sample_index(&logits, rng);
            (features.map)(&obs, &mut phi);
            feats.extend_from_slice(&phi);
            all_obs.extend_from_slice(&obs);
            actions.push(a as i64);
            let s = env.step(&[a0 + a as f64], &mut obs, &mut info).map_err(env_err)?;
            if s.done() {
                break;
            }
        }
        let n = feats.len() / k;
        let mut to_go = vec![0.0; n * k];
        let mut acc = vec![0.0; k];
        for t in (0..n).rev() {
            for j in 0..k {
                acc[j] = feats[t * k + j] + gamma * acc[j];
                to_go[t * k + j] = acc[j];
            }
        }
        psi.extend(to_go);
    }
    let n = actions.len();
    let mut rows = Vec::with_capacity(k);
    for j in 0..k {
        let mean = (0..n).map(|t| psi[t * k + j]).sum::<f64>() / n.max(1) as f64;
        let w: Vec<f64> = (0..n).map(|t| (psi[t * k + j] - mean) / episodes.max(1) as f64).collect();
        rows.push(weighted_score_gradient(actor, &all_obs, d, &actions, &w, device));
    }
    Ok(rows)
}

/// Mean undiscounted true return of the greedy policy of `actor` over `episodes` episodes
/// (seeds `seed, seed + 1, …`, at most `max_len` steps each).
pub fn greedy_return<B: Backend, E: Env>(
    actor: &Mlp<B>,
    env: &mut E,
    episodes: usize,
    max_len: usize,
    seed: u64,
) -> Result<f64, BilevelError> {
    let d = env.observation_space().packed_len();
    let a0 = discrete_start(env)?;
    let device = actor.output.weight.val().device();
    let mut obs = vec![0.0; d];
    let mut info = Info::new();
    let mut total = 0.0;
    for e in 0..episodes {
        env.reset(Some(seed.wrapping_add(e as u64)), &mut obs, &mut info).map_err(env_err)?;
        for _ in 0..max_len {
            let logits = tensor_to_f64(actor.forward(tensor_from_f64::<B, 2>(&obs, [1, d], &device)));
            let a =
                logits.iter().enumerate().fold(0, |best, (i, l)| if *l > logits[best] { i } else { best });
            let s = env.step(&[a0 + a as f64], &mut obs, &mut info).map_err(env_err)?;
            total += s.reward;
            if s.done() {
                break;
            }
        }
    }
    Ok(total / episodes.max(1) as f64)
}

/// A partial-return scripted teacher on per-step true rewards: the segments it labels carry one
/// feature per step, the true reward, with weight 1 (a one-state placeholder MDP holds it).
pub fn reward_teacher(beta: f64, seed: u64) -> Result<ScriptedTeacher, BilevelError> {
    let mdp = TabularMdp::new(MdpParts {
        n_states: 1,
        n_actions: 1,
        transitions: vec![1.0],
        n_features: 1,
        features: vec![1.0],
        weights: vec![1.0],
        feature_names: vec!["true_reward".into()],
        gamma: 0.99,
        start: vec![1.0],
        terminal: vec![false],
    })?;
    let config = TeacherConfig {
        beta,
        sample: true,
        ties: TieMode::Half,
        ..TeacherConfig::knox(LabelModel::PartialReturn)
    };
    ScriptedTeacher::new(&mdp, config, seed).map_err(|e| BilevelError::Invalid(format!("teacher: {e}")))
}

/// State of the upper level between PPO updates.
struct Upper {
    nu: Vec<f64>,
    m: Vec<f64>,
    v: Vec<f64>,
    t_adam: f64,
    buffer: Vec<LabelledPair>,
    teacher: ScriptedTeacher,
    rng: Pcg64,
    queries: usize,
    ratio_sum: f64,
    ratio_n: usize,
}

const MAX_EPISODE: usize = 100_000;

/// Runs deep PARL (or the oracle) on environments from `make`, returning the curve of greedy
/// true returns (normalised by `max_return`) against queries. See the [module docs](self).
pub fn run_deep_parl<B: AutodiffBackend, E: Env>(
    make: impl Fn() -> E,
    features: RewardFeatures,
    method: DeepParlMethod,
    cfg: &DeepParlConfig,
    device: &B::Device,
) -> Result<DeepParlRun, BilevelError> {
    cfg.validate()?;
    discrete_start(&make())?;
    let ppo = PpoConfig { seed: cfg.seed, ..cfg.ppo.clone() };
    let shared = Arc::new(RwLock::new(vec![0.0; features.dim]));
    let mut upper = Upper {
        nu: vec![0.0; features.dim],
        m: vec![0.0; features.dim],
        v: vec![0.0; features.dim],
        t_adam: 0.0,
        buffer: Vec::new(),
        teacher: reward_teacher(cfg.teacher_beta, cfg.seed.wrapping_mul(0x9e37_79b9).wrapping_add(17))?,
        rng: Pcg64::seed_from_u64(cfg.seed.wrapping_mul(0x2545_f491).wrapping_add(3)),
        queries: 0,
        ratio_sum: 0.0,
        ratio_n: 0,
    };
    let mut aux_env = make();
    let d = aux_env.observation_space().packed_len();
    let mut curve = Vec::new();
    let mut queries_to_threshold = None;
    let mut failure: Option<BilevelError> = None;
    let mut round = 0usize;
    let mut scheduled_queries = 0usize;
    let mut on_update = |stats: &crate::ppo::UpdateStats, progress: &crate::ppo::PpoProgress<'_, B>| {
        if !stats.update.is_multiple_of(cfg.updates_per_round) {
            return ControlFlow::Continue(());
        }
        round += 1;
        let mut step = || -> Result<(), BilevelError> {
            let actor = &progress.model.actor;
            let inner = actor.valid();
            let n_new = cfg.pairs_per_round.min(cfg.max_queries - scheduled_queries.min(cfg.max_queries));
            scheduled_queries += n_new;
            if let DeepParlMethod::Parl(variant) = method
                && n_new > 0
            {
                upper_step(
                    &mut upper,
                    actor,
                    &inner,
                    &mut aux_env,
                    &features,
                    variant,
                    n_new,
                    cfg,
                    d,
                    device,
                )?;
                *shared.write().map_err(|_| poisoned())? = upper.nu.clone();
            }
            let queries = match method {
                DeepParlMethod::Parl(_) => upper.queries,
                DeepParlMethod::Oracle => scheduled_queries,
            };
            let score = greedy_return(&inner, &mut aux_env, cfg.eval_episodes, MAX_EPISODE, 1_000_000)?
                / cfg.max_return;
            curve.push(DeepParlPoint { env_steps: stats.global_step, queries, score });
            if queries_to_threshold.is_none() && score >= cfg.threshold {
                queries_to_threshold = Some(queries);
            }
            Ok(())
        };
        match step() {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failure = Some(e);
                ControlFlow::Break(())
            }
        }
    };
    let agent = match method {
        DeepParlMethod::Oracle => {
            let mut venv = VecEnv::from_fn(ppo.num_envs, |_| make());
            train_ppo_with::<B>(&mut venv, &ppo, cfg.total_steps, device, None, &mut on_update)
        }
        DeepParlMethod::Parl(_) => {
            let envs = (0..ppo.num_envs)
                .map(|_| LearnedReward::new(make(), features, shared.clone()))
                .collect::<Result<Vec<_>, _>>()?;
            let mut venv = VecEnv::new(envs).map_err(env_err)?;
            train_ppo_with::<B>(&mut venv, &ppo, cfg.total_steps, device, None, &mut on_update)
        }
    }
    .map_err(|e| BilevelError::NotConverged(format!("PPO lower level: {e}")))?;
    if let Some(e) = failure {
        return Err(e);
    }
    let final_score = greedy_return(
        &agent.model.actor.valid(),
        &mut aux_env,
        cfg.final_eval_episodes,
        MAX_EPISODE,
        2_000_000,
    )? / cfg.max_return;
    let implicit_ratio = if upper.ratio_n > 0 { upper.ratio_sum / upper.ratio_n as f64 } else { 0.0 };
    let nu = if method == DeepParlMethod::Oracle { Vec::new() } else { upper.nu };
    Ok(DeepParlRun { curve, queries_to_threshold, final_score, nu, implicit_ratio })
}

/// One upper-level round: query `n_new` pairs from the current policy, then `reward_updates`
/// Adam steps on the (direct, plus implicit for A-PARL) hypergradient.
#[allow(clippy::too_many_arguments)]
fn upper_step<B: AutodiffBackend, E: Env>(
    up: &mut Upper,
    actor: &Mlp<B>,
    inner: &Mlp<B::InnerBackend>,
    env: &mut E,
    features: &RewardFeatures,
    variant: ParlVariant,
    n_new: usize,
    cfg: &DeepParlConfig,
    d: usize,
    device: &B::Device,
) -> Result<(), BilevelError> {
    let round_start = up.buffer.len();
    for _ in 0..n_new {
        let mut seg = |up: &mut Upper| {
            let seed = up.rng.random::<u64>();
            sample_segment(inner, env, features, cfg.segment_len, cfg.max_start, seed, &mut up.rng)
        };
        let left = seg(up)?;
        let right = seg(up)?;
        up.queries += 1;
        let label = up
            .teacher
            .label(&left.teacher_segment()?, &right.teacher_segment()?)
            .map_err(|e| BilevelError::Invalid(format!("teacher: {e}")))?;
        if let Some(y) = label {
            up.buffer.push(LabelledPair { left, right, y });
        }
    }
    let k = features.dim;
    // A-PARL: S[i][j] = ĝ_j · ∇_θ log p(pair i), fixed within the round (θ does not move).
    let mut s_mat: Vec<Vec<f64>> = Vec::new();
    if variant == ParlVariant::APARL && cfg.implicit_scale != 0.0 && up.buffer.len() > round_start {
        let seed = up.rng.random::<u64>();
        let rows = feature_policy_gradients(
            actor,
            env,
            features,
            cfg.ppo.gamma,
            cfg.pg_episodes,
            MAX_EPISODE,
            seed,
            &mut up.rng,
            device,
        )?;
        for pair in &up.buffer[round_start..] {
            let s = pair_score_gradient(actor, pair, d, device);
            s_mat.push(rows.iter().map(|g| dot(g, &s)).collect());
        }
    }
    for _ in 0..cfg.reward_updates {
        let (_, mut g) = bt_direct_gradient(&up.buffer, &up.nu, cfg.l2);
        if !s_mat.is_empty() {
            let pairs = &up.buffer[round_start..];
            let ll: Vec<f64> = pairs.iter().map(|p| bt_loglik(p.delta(&up.nu), p.y).0).collect();
            let n = ll.len() as f64;
            let baseline = if ll.len() > 1 { ll.iter().sum::<f64>() / n } else { 0.0 };
            let mut imp = vec![0.0; k];
            for (l, row) in ll.iter().zip(&s_mat) {
                for (o, s) in imp.iter_mut().zip(row) {
                    *o += cfg.implicit_scale * (l - baseline) * s / n;
                }
            }
            let (ni, nd) = (dot(&imp, &imp).sqrt(), dot(&g, &g).sqrt());
            if nd > 0.0 {
                up.ratio_sum += ni / nd;
                up.ratio_n += 1;
            }
            g.iter_mut().zip(&imp).for_each(|(a, b)| *a += b);
        }
        up.t_adam += 1.0;
        let (b1, b2, eps) = (0.9, 0.999, 1e-8);
        for (i, &gi) in g.iter().enumerate() {
            up.m[i] = b1 * up.m[i] + (1.0 - b1) * gi;
            up.v[i] = b2 * up.v[i] + (1.0 - b2) * gi * gi;
            let mh = up.m[i] / (1.0 - f64::powf(b1, up.t_adam));
            let vh = up.v[i] / (1.0 - f64::powf(b2, up.t_adam));
            up.nu[i] += cfg.lr * mh / (vh.sqrt() + eps);
        }
    }
    if up.nu.iter().any(|x| !x.is_finite()) {
        return Err(BilevelError::NotConverged("the reward parameters became non-finite".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuAutodiff;
    use crate::nn::MlpConfig;
    use alignrl_envs::make;

    fn seg(obs: Vec<f64>, actions: Vec<i64>, feature_sum: Vec<f64>) -> SampledSegment {
        let n = actions.len();
        SampledSegment { obs, actions, start: 0, end: n, feature_sum, true_rewards: vec![1.0; n] }
    }

    #[test]
    fn bt_direct_gradient_matches_finite_differences() {
        let pairs: Vec<LabelledPair> = (0..5)
            .map(|i| {
                let f = |o: f64| (0..3).map(|j| ((i * 3 + j) as f64 * 0.7 + o).sin() * 2.0).collect();
                LabelledPair {
                    left: seg(vec![0.0], vec![0], f(0.0)),
                    right: seg(vec![0.0], vec![0], f(1.3)),
                    y: [0.0, 1.0, 0.5, 1.0, 0.2][i],
                }
            })
            .collect();
        let nu = [0.3, -0.7, 1.1];
        let l2 = 0.05;
        let (_, g) = bt_direct_gradient(&pairs, &nu, l2);
        let h = 1e-6;
        for i in 0..3 {
            let (mut a, mut b) = (nu, nu);
            a[i] += h;
            b[i] -= h;
            let fd =
                (bt_direct_gradient(&pairs, &a, l2).0 - bt_direct_gradient(&pairs, &b, l2).0) / (2.0 * h);
            assert!((fd - g[i]).abs() < 1e-7 * (1.0 + fd.abs()), "coordinate {i}: {} vs {fd}", g[i]);
        }
    }

    /// A tiny deterministic problem whose segment distribution can be enumerated: two steps,
    /// two actions, observations that depend on the actions taken so far. The score-function
    /// estimator with exact probabilities as weights must equal the gradient of
    /// `G(θ) = Σ_ij p_θ(σ_i) p_θ(σ_j) ℓ_ij` by central differences of the actor's parameters.
    #[test]
    fn pair_score_function_matches_finite_differences_of_the_exact_expectation() {
        let device = Default::default();
        let actor: Mlp<CpuAutodiff> =
            MlpConfig::new(2, vec![], 2).with_seed(7).with_output_gain(1.0).init(&device);
        let w = tensor_to_f64(actor.output.weight.val().inner()); // [2 inputs × 2 actions]
        let b = tensor_to_f64(actor.output.bias.as_ref().unwrap().val().inner());
        let mut theta: Vec<f64> = w.clone();
        theta.extend(&b);
        // Enumerate the four action sequences and their observations.
        let mut segs = Vec::new();
        for a0 in 0..2i64 {
            for a1 in 0..2i64 {
                let o0 = [1.0, 0.2];
                let o1 = [0.7 - 0.5 * a0 as f64, 0.2 + 0.9 * a0 as f64];
                let obs = [o0, o1].concat();
                let fsum = vec![o0[0] + o1[0], (a0 + 2 * a1) as f64 * 0.4];
                segs.push(seg(obs, vec![a0, a1], fsum));
            }
        }
        let nu = [0.8, -0.6];
        let logp = |th: &[f64], s: &SampledSegment| -> f64 {
            let mut lp = 0.0;
            for (t, &a) in s.actions.iter().enumerate() {
                let x = &s.obs[2 * t..2 * t + 2];
                let l: Vec<f64> = (0..2).map(|k| x[0] * th[k] + x[1] * th[2 + k] + th[4 + k]).collect();
                let m = l[0].max(l[1]);
                lp += l[a as usize] - m - ((l[0] - m).exp() + (l[1] - m).exp()).ln();
            }
            lp
        };
        let pair = |i: usize, j: usize| LabelledPair {
            left: segs[i].clone(),
            right: segs[j].clone(),
            y: [0.9, 0.1, 0.6, 0.3][(i + 3 * j) % 4],
        };
        let g_of = |th: &[f64]| -> f64 {
            let mut g = 0.0;
            for i in 0..4 {
                for j in 0..4 {
                    let p = (logp(th, &segs[i]) + logp(th, &segs[j])).exp();
                    let pr = pair(i, j);
                    g += p * bt_loglik(pr.delta(&nu), pr.y).0;
                }
            }
            g
        };
        // Score function with exact weights p_i p_j ℓ_ij.
        let mut est = [0.0; 6];
        for i in 0..4 {
            for j in 0..4 {
                let pr = pair(i, j);
                let c = (logp(&theta, &segs[i]) + logp(&theta, &segs[j])).exp()
                    * bt_loglik(pr.delta(&nu), pr.y).0;
                let s = pair_score_gradient(&actor, &pr, 2, &device);
                est.iter_mut().zip(&s).for_each(|(e, x)| *e += c * x);
            }
        }
        let h = 1e-5;
        for p in 0..6 {
            let (mut a, mut bm) = (theta.clone(), theta.clone());
            a[p] += h;
            bm[p] -= h;
            let fd = (g_of(&a) - g_of(&bm)) / (2.0 * h);
            // f32 network: tolerance of single precision.
            assert!(
                (fd - est[p]).abs() < 2e-4 * (1.0 + fd.abs()),
                "param {p}: estimate {} vs fd {fd}",
                est[p]
            );
        }
        // The dependence is not negligible here.
        assert!(est.iter().map(|x| x.abs()).fold(0.0, f64::max) > 1e-2);
    }

    #[test]
    fn cartpole_segments_are_cut_from_policy_episodes_and_the_teacher_prefers_survival() {
        let device = Default::default();
        let actor: Mlp<CpuAutodiff> = MlpConfig::new(4, vec![8], 2).with_seed(3).init(&device);
        let inner = actor.valid();
        let feats = RewardFeatures::cartpole();
        let mut env = make("CartPole-v1").unwrap();
        let mut rng = Pcg64::seed_from_u64(5);
        let mut teacher = reward_teacher(5.0, 1).unwrap();
        let mut segs = Vec::new();
        for i in 0..12 {
            let s = sample_segment(&inner, &mut env, &feats, 20, 40, i, &mut rng).unwrap();
            assert!(s.start < s.end && s.end <= s.actions.len() && s.len() <= 20);
            assert_eq!(s.obs.len(), 4 * s.actions.len());
            let mut sum = vec![0.0; 5];
            let mut phi = [0.0; 5];
            for t in s.start..s.end {
                (feats.map)(&s.obs[4 * t..4 * t + 4], &mut phi);
                sum.iter_mut().zip(&phi).for_each(|(a, b)| *a += b);
            }
            assert_eq!(sum, s.feature_sum);
            assert_eq!(s.true_rewards, vec![1.0; s.len()]);
            segs.push(s);
        }
        // A random policy fails within ~20–60 steps: some segments are cut short.
        assert!(segs.iter().any(|s| s.len() < 20) && segs.iter().any(|s| s.len() == 20));
        let (short, long) =
            (segs.iter().find(|s| s.len() + 3 < 20).unwrap(), segs.iter().find(|s| s.len() == 20).unwrap());
        let p = teacher.teacher_segment_probability(short, long);
        assert!(p < 0.01, "P(short ≻ long) = {p}");
        let y = teacher.label(&long.teacher_segment().unwrap(), &short.teacher_segment().unwrap()).unwrap();
        assert_eq!(y, Some(1.0));
    }

    trait Prob {
        fn teacher_segment_probability(&self, a: &SampledSegment, b: &SampledSegment) -> f64;
    }
    impl Prob for ScriptedTeacher {
        fn teacher_segment_probability(&self, a: &SampledSegment, b: &SampledSegment) -> f64 {
            self.probability(&a.teacher_segment().unwrap(), &b.teacher_segment().unwrap()).unwrap().unwrap()
        }
    }

    #[test]
    fn continuous_actions_are_rejected() {
        let device = Default::default();
        let env = || make("Pendulum-v1").unwrap();
        let err = run_deep_parl::<CpuAutodiff, _>(
            env,
            RewardFeatures::cartpole(),
            DeepParlMethod::Oracle,
            &DeepParlConfig::cartpole(1),
            &device,
        )
        .unwrap_err();
        assert!(matches!(err, BilevelError::Invalid(m) if m.contains("Discrete")));
    }

    fn tiny(seed: u64) -> DeepParlConfig {
        let mut cfg = DeepParlConfig::cartpole(seed);
        cfg.ppo.update_epochs = 2;
        cfg.total_steps = 3 * 256;
        cfg.updates_per_round = 1;
        cfg.pairs_per_round = 3;
        cfg.max_queries = 5;
        cfg.segment_len = 8;
        cfg.max_start = 10;
        cfg.reward_updates = 3;
        cfg.pg_episodes = 2;
        cfg.eval_episodes = 1;
        cfg.final_eval_episodes = 1;
        cfg
    }

    #[test]
    fn deep_parl_runs_are_reproducible_and_the_variants_share_the_first_round() {
        let device = Default::default();
        let feats = RewardFeatures::cartpole();
        let env = || make("CartPole-v1").unwrap();
        let run = |m| run_deep_parl::<CpuAutodiff, _>(env, feats, m, &tiny(4), &device).unwrap();
        let a = run(DeepParlMethod::Parl(ParlVariant::APARL));
        let a2 = run(DeepParlMethod::Parl(ParlVariant::APARL));
        assert_eq!(a, a2);
        let alt = run(DeepParlMethod::Parl(ParlVariant::Alternating));
        // Same seeds: the same first-round queries, then the implicit term moves ν differently.
        assert_eq!(a.curve.len(), 3);
        assert_eq!(a.curve.iter().map(|p| p.queries).collect::<Vec<_>>(), vec![3, 5, 5]);
        assert_eq!(alt.curve[0].queries, 3);
        assert_eq!(a.curve[0].score, alt.curve[0].score); // evaluated before ν acts on PPO
        assert!(a.implicit_ratio > 0.0 && alt.implicit_ratio == 0.0);
        assert_ne!(a.nu, alt.nu);
        assert!(a.nu.iter().all(|x| x.is_finite()));
        let oracle = run(DeepParlMethod::Oracle);
        assert!(oracle.nu.is_empty() && oracle.curve.len() == 3);
    }
}
