//! Deep BARFI: a PPO inner loop on classic control (methods.md §1.2–1.3).
//!
//! The inner problem trains PPO ([`crate::ppo::train_ppo`]) on the blended reward
//! `r_φ = φ₁ r_p + φ₂ r_aux` ([`BlendedReward`]), from scratch and with the same PPO seed for every
//! `φ` (common random numbers across outer steps). The outer step follows the implicit
//! hypergradient `−(∂_φ∇_θ J_φ)ᵀ H⁻¹ ∇_θ J` with the **zeroth-order Neumann approximation**
//! `H⁻¹ ≈ −α I` (the `K = 0` term of [`super::neumann_inverse_hvp`]):
//!
//! ```text
//! g_φ ∝ (∂_φ∇_θ J_φ)ᵀ ∇_θ J = [ ĝ_pᵀ ĝ_p ,  ĝ_auxᵀ ĝ_p ]
//! ```
//!
//! where `ĝ_c = Σ_t ∇_θ log π(a_t|s_t) (G^c_t − b^c)` is the REINFORCE gradient of the actor for
//! the reward component `c` (reward-to-go at the true `γ`, batch-mean baseline `b^c`), estimated
//! from episodes of the trained stochastic policy. Because `r_φ` is linear in `φ`, the mixed
//! derivative's rows are exactly these per-component policy gradients, so only first derivatives
//! of the network are needed. Higher Neumann terms would need Hessian-vector products, which for
//! burn networks are finite differences of gradients ([`super::finite_difference_hvp`]); they are
//! not used here (a documented simplification: the step direction is the gradient-alignment of the
//! auxiliary and primary policy gradients).
//!
//! **Outer update.** PPO standardises advantages, so the inner solution depends (up to the value
//! loss and gradient clipping) only on the direction of `φ`, not its length. The default
//! [`OuterUpdate::Angle`] therefore ascends the angle `ψ` of `φ = ‖φ‖ (cos ψ, sin ψ)` along the
//! tangential component `g · (−φ₂, φ₁)` of the hypergradient. The first version,
//! [`OuterUpdate::Adam`] (Adam on `φ₁`, `φ₂` separately), normalised each coordinate: both
//! components of `g` are positive here, so both weights rose by ≈ `lr` per step and the ratio
//! `φ₂/φ₁` never moved, although on all 5 measured seeds the estimate at `φ = (1, 1)` had
//! `ĝ_auxᵀĝ_p < ĝ_pᵀĝ_p`, i.e. a tangential component that lowers `φ₂/φ₁`.
//!
//! **Measured** (`alignrl reproduce barfi --deep`, release, CartPole-v1, tilt-bonus misaligned
//! heuristic, 5 PPO seeds, 30 720 steps per solve, 4 outer steps, angle update lr 0.3 rad):
//! greedy primary return / 500 was primary-only 0.908, naive 0.590, PBRS 0.969, BARFI 0.901
//! (per seed 1.000, 0.885, 1.000, 0.935, 0.685; `φ` from (1, 1) to e.g. (1.41, −0.16)): at least
//! the naive blend and within 10% of primary-only (≥ 0.817). The earlier measurement with the
//! Adam update (`--deep-outer adam`, otherwise the same): BARFI 0.715.

use std::marker::PhantomData;

use alignrl_envs::env::{Env, EnvError, Info, Step};
use alignrl_envs::space::Space;
use alignrl_envs::vector::VecEnv;
use alignrl_envs::wrappers::AUX_REWARD;
use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::BilevelError;
use crate::distributions::{Categorical, tensor_from_f64, tensor_to_f64};
use crate::nn::Mlp;
use crate::ppo::{PpoAgent, PpoConfig, train_ppo};

/// Info key of the primary (unblended) reward reported by [`BlendedReward`].
pub const PRIMARY_REWARD: &str = "primary_reward";

/// Replaces the step reward by `φ₁ r + φ₂ f(obs, action, next_obs, step)`, reporting the primary
/// reward `r` in `info["primary_reward"]` and the auxiliary one in `info["aux_reward"]`.
#[derive(Clone)]
pub struct BlendedReward<E, F> {
    env: E,
    f: F,
    phi: [f64; 2],
    prev: Vec<f64>,
}

impl<E: Env, F: Fn(&[f64], &[f64], &[f64], &Step) -> f64 + Send> BlendedReward<E, F> {
    /// Wraps `env` with weights `phi = [φ₁, φ₂]` and auxiliary reward `f`.
    pub fn new(env: E, f: F, phi: [f64; 2]) -> Self {
        let n = env.observation_space().packed_len();
        BlendedReward { env, f, phi, prev: vec![0.0; n] }
    }
}

impl<E: Env, F: Fn(&[f64], &[f64], &[f64], &Step) -> f64 + Send> Env for BlendedReward<E, F> {
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
        let aux = (self.f)(&self.prev, action, obs, &s);
        info.set(PRIMARY_REWARD, s.reward);
        info.set(AUX_REWARD, aux);
        s.reward = self.phi[0] * s.reward + self.phi[1] * aux;
        self.prev.copy_from_slice(obs);
        Ok(s)
    }
    fn name(&self) -> &str {
        self.env.name()
    }
}

/// How the outer step of [`deep_barfi`] moves `φ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OuterUpdate {
    /// Adam on `φ₁` and `φ₂` separately. Adam normalises each coordinate, so whenever both
    /// components of the hypergradient are positive both weights rise by about `lr` and the
    /// ratio `φ₂/φ₁`, the only thing the inner solution depends on (below), barely moves:
    /// measured, φ went (1, 1) → (2, 2).
    Adam,
    /// Ascent on the angle `ψ` of `φ = ‖φ‖ (cos ψ, sin ψ)` with `‖φ‖` fixed: PPO standardises the
    /// advantages, so the inner solution is (up to the value loss and the gradient clipping)
    /// invariant to a positive rescaling of `r_φ`, `J(θ*(φ))` is constant along rays, and only
    /// the tangential part `∂J/∂ψ = g · (−φ₂, φ₁)` of the hypergradient `g` carries
    /// information. Adam on the scalar `ψ` (learning rate in radians).
    Angle,
}

/// Settings of [`deep_barfi`].
#[derive(Debug, Clone)]
pub struct DeepBarfiConfig {
    /// PPO settings of the inner loop (its `seed` is the inner seed).
    pub ppo: PpoConfig,
    /// PPO environment steps per inner solve.
    pub inner_steps: u64,
    /// Outer steps (each retrains PPO).
    pub outer_steps: usize,
    /// How `φ` moves.
    pub outer: OuterUpdate,
    /// Adam learning rate on `φ` ([`OuterUpdate::Adam`]) or on `ψ` in radians
    /// ([`OuterUpdate::Angle`]).
    pub lr: f64,
    /// Episodes of the stochastic policy per hypergradient estimate.
    pub pg_episodes: usize,
    /// Greedy evaluation episodes for the primary return.
    pub eval_episodes: usize,
    /// Discount of the primary objective's policy gradient.
    pub gamma: f64,
}

impl Default for DeepBarfiConfig {
    /// PPO defaults, 30 720 steps, 4 outer steps, angle update with lr 0.3 rad, 8 PG episodes,
    /// 10 evaluation episodes, γ = 0.99.
    fn default() -> Self {
        DeepBarfiConfig {
            ppo: PpoConfig::default(),
            inner_steps: 30_720,
            outer_steps: 4,
            outer: OuterUpdate::Angle,
            lr: 0.3,
            pg_episodes: 8,
            eval_episodes: 10,
            gamma: 0.99,
        }
    }
}

/// One outer step of [`deep_barfi`].
#[derive(Debug, Clone, PartialEq)]
pub struct DeepBarfiStep {
    /// `[φ₁, φ₂]` the inner loop was trained with.
    pub phi: [f64; 2],
    /// Mean undiscounted primary return of the greedy PPO policy.
    pub primary_return: f64,
    /// The hypergradient estimate `[ĝ_pᵀĝ_p, ĝ_auxᵀĝ_p]` (NaN on the last step).
    pub grad: [f64; 2],
}

/// Trains PPO on `make(i)` environments with blended reward `φ` and returns the agent.
pub fn train_blended<B: AutodiffBackend, E: Env, F>(
    make: &impl Fn() -> E,
    aux: F,
    phi: [f64; 2],
    cfg: &DeepBarfiConfig,
    device: &B::Device,
) -> Result<PpoAgent<B>, BilevelError>
where
    F: Fn(&[f64], &[f64], &[f64], &Step) -> f64 + Send + Clone,
{
    let mut venv = VecEnv::from_fn(cfg.ppo.num_envs, |_| BlendedReward::new(make(), aux.clone(), phi));
    train_ppo::<B>(&mut venv, &cfg.ppo, cfg.inner_steps, device, |_, _| {})
        .map_err(|e| BilevelError::NotConverged(format!("PPO inner loop: {e}")))
}

/// Mean undiscounted primary return of the greedy policy over `episodes` episodes (seeds
/// `seed, seed + 1, …`).
pub fn greedy_primary_return<B: AutodiffBackend, E: Env>(
    agent: &PpoAgent<B>,
    make: &impl Fn() -> E,
    episodes: usize,
    seed: u64,
) -> Result<f64, BilevelError> {
    let mut env = make();
    let mut obs = vec![0.0; env.observation_space().packed_len()];
    let mut info = Info::new();
    let mut total = 0.0;
    for e in 0..episodes {
        env.reset(Some(seed + e as u64), &mut obs, &mut info).map_err(env_err)?;
        loop {
            let a = agent.act_greedy(&obs);
            let s = env.step(&a, &mut obs, &mut info).map_err(env_err)?;
            total += s.reward;
            if s.done() {
                break;
            }
        }
    }
    Ok(total / episodes.max(1) as f64)
}

fn env_err(e: EnvError) -> BilevelError {
    BilevelError::Invalid(format!("environment error: {e}"))
}

/// Flattens the gradients of a module's float parameters (zeros where a parameter has none).
struct Flatten<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    out: Vec<f64>,
    _b: PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Flatten<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        match self.grads.get::<B::InnerBackend, D>(param.id) {
            Some(g) => self.out.extend(tensor_to_f64(g)),
            None => self.out.extend(std::iter::repeat_n(0.0, param.val().shape().num_elements())),
        }
    }
}

/// `∇_θ Σ_i w_i log π_θ(a_i | o_i)` of a categorical actor, flattened.
pub fn weighted_score_gradient<B: AutodiffBackend>(
    actor: &Mlp<B>,
    obs: &[f64],
    obs_dim: usize,
    actions: &[i64],
    weights: &[f64],
    device: &B::Device,
) -> Vec<f64> {
    let n = actions.len();
    let x = tensor_from_f64::<B, 2>(obs, [n, obs_dim], device);
    let lp = Categorical::new(actor.forward(x))
        .log_prob(Tensor::<B, 1, Int>::from_data(TensorData::new(actions.to_vec(), [n]), device));
    let w = tensor_from_f64::<B, 1>(weights, [n], device);
    let loss = (lp * w).sum();
    let grads = GradientsParams::from_grads(loss.backward(), actor);
    let mut flat = Flatten::<B> { grads: &grads, out: Vec::new(), _b: PhantomData };
    actor.visit(&mut flat);
    flat.out
}

/// The hypergradient estimate `[ĝ_pᵀĝ_p, ĝ_auxᵀĝ_p]` from `episodes` episodes of the stochastic
/// policy (see the [module docs](self)). Discrete actions only.
pub fn hypergradient_estimate<B: AutodiffBackend, E: Env, F>(
    agent: &PpoAgent<B>,
    make: &impl Fn() -> E,
    aux: &F,
    cfg: &DeepBarfiConfig,
    seed: u64,
    device: &B::Device,
) -> Result<[f64; 2], BilevelError>
where
    F: Fn(&[f64], &[f64], &[f64], &Step) -> f64,
{
    let mut env = make();
    let d = env.observation_space().packed_len();
    let mut rng = Pcg64::seed_from_u64(seed);
    let actor = agent.model.actor.valid();
    let (mut all_obs, mut all_act, mut gp, mut ga) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut obs = vec![0.0; d];
    let mut prev = vec![0.0; d];
    let mut info = Info::new();
    for e in 0..cfg.pg_episodes {
        env.reset(Some(seed.wrapping_add(1000 + e as u64)), &mut obs, &mut info).map_err(env_err)?;
        let (mut rp, mut ra) = (Vec::new(), Vec::new());
        loop {
            let x = tensor_from_f64::<B::InnerBackend, 2>(&obs, [1, d], device);
            let logits = tensor_to_f64(actor.forward(x));
            let m = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let p: Vec<f64> = logits.iter().map(|l| (l - m).exp()).collect();
            let z: f64 = p.iter().sum();
            let u: f64 = rng.random::<f64>() * z;
            let mut a = p.len() - 1;
            let mut acc = 0.0;
            for (i, pi) in p.iter().enumerate() {
                acc += pi;
                if u < acc {
                    a = i;
                    break;
                }
            }
            all_obs.extend_from_slice(&obs);
            all_act.push(a as i64);
            prev.copy_from_slice(&obs);
            let action = [a as f64];
            let s = env.step(&action, &mut obs, &mut info).map_err(env_err)?;
            rp.push(s.reward);
            ra.push(aux(&prev, &action, &obs, &s));
            if s.done() {
                break;
            }
        }
        for (r, out) in [(&rp, &mut gp), (&ra, &mut ga)] {
            let mut g = vec![0.0; r.len()];
            let mut acc = 0.0;
            for t in (0..r.len()).rev() {
                acc = r[t] + cfg.gamma * acc;
                g[t] = acc;
            }
            out.extend(g);
        }
    }
    let center = |v: &mut Vec<f64>| {
        let m = v.iter().sum::<f64>() / v.len().max(1) as f64;
        let n = cfg.pg_episodes.max(1) as f64;
        v.iter_mut().for_each(|x| *x = (*x - m) / n);
    };
    center(&mut gp);
    center(&mut ga);
    let g_p = weighted_score_gradient(&agent.model.actor, &all_obs, d, &all_act, &gp, device);
    let g_a = weighted_score_gradient(&agent.model.actor, &all_obs, d, &all_act, &ga, device);
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    Ok([dot(&g_p, &g_p), dot(&g_a, &g_p)])
}

/// `∂J/∂ψ` for `φ = ‖φ‖ (cos ψ, sin ψ)` from the hypergradient `g = ∂J/∂φ`: `g · (−φ₂, φ₁)`.
pub fn angle_gradient(phi: [f64; 2], g: [f64; 2]) -> f64 {
    -phi[1] * g[0] + phi[0] * g[1]
}

/// Deep BARFI from `φ = (1, 1)`: `outer_steps` Adam steps on the hypergradient estimate, each
/// after a fresh PPO solve, moving `φ` as [`DeepBarfiConfig::outer`] says; returns every step
/// (the last one is evaluated, not updated).
pub fn deep_barfi<B: AutodiffBackend, E: Env, F>(
    make: impl Fn() -> E,
    aux: F,
    cfg: &DeepBarfiConfig,
    device: &B::Device,
) -> Result<Vec<DeepBarfiStep>, BilevelError>
where
    F: Fn(&[f64], &[f64], &[f64], &Step) -> f64 + Send + Clone,
{
    let mut phi = [1.0, 1.0];
    let (mut m, mut v) = ([0.0; 2], [0.0; 2]);
    let mut out = Vec::with_capacity(cfg.outer_steps + 1);
    for step in 0..=cfg.outer_steps {
        let agent = train_blended::<B, E, F>(&make, aux.clone(), phi, cfg, device)?;
        let j = greedy_primary_return(&agent, &make, cfg.eval_episodes, 10_000)?;
        if step == cfg.outer_steps {
            out.push(DeepBarfiStep { phi, primary_return: j, grad: [f64::NAN; 2] });
            break;
        }
        let g = hypergradient_estimate(&agent, &make, &aux, cfg, cfg.ppo.seed * 7919 + step as u64, device)?;
        out.push(DeepBarfiStep { phi, primary_return: j, grad: g });
        let t = (step + 1) as f64;
        match cfg.outer {
            OuterUpdate::Adam => {
                for i in 0..2 {
                    m[i] = 0.9 * m[i] + 0.1 * g[i];
                    v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
                    let mh = m[i] / (1.0 - 0.9f64.powf(t));
                    let vh = v[i] / (1.0 - 0.999f64.powf(t));
                    phi[i] += cfg.lr * mh / (vh.sqrt() + 1e-12);
                }
            }
            OuterUpdate::Angle => {
                let radius = phi[0].hypot(phi[1]);
                let mut psi = phi[1].atan2(phi[0]);
                let gpsi = angle_gradient(phi, g);
                m[0] = 0.9 * m[0] + 0.1 * gpsi;
                v[0] = 0.999 * v[0] + 0.001 * gpsi * gpsi;
                let mh = m[0] / (1.0 - 0.9f64.powf(t));
                let vh = v[0] / (1.0 - 0.999f64.powf(t));
                psi += cfg.lr * mh / (vh.sqrt() + 1e-12);
                phi = [radius * psi.cos(), radius * psi.sin()];
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuAutodiff;
    use alignrl_envs::make;
    use alignrl_envs::shaping::{Heuristic, cartpole_aux};

    #[test]
    fn angle_gradient_is_the_derivative_along_the_circle() {
        // J(φ) = a·φ₁ + b·φ₂ + c·φ₁φ₂: compare g·(−φ₂, φ₁) with d/dψ J(r cos ψ, r sin ψ).
        let (a, b, c) = (0.7, -1.3, 0.4);
        let j = |p: [f64; 2]| a * p[0] + b * p[1] + c * p[0] * p[1];
        let (r, psi) = (1.7f64, 0.6f64);
        let phi = [r * psi.cos(), r * psi.sin()];
        let g = [a + c * phi[1], b + c * phi[0]];
        let h = 1e-6;
        let at = |p: f64| j([r * p.cos(), r * p.sin()]);
        let fd = (at(psi + h) - at(psi - h)) / (2.0 * h);
        assert!((angle_gradient(phi, g) - fd).abs() < 1e-8);
    }

    #[test]
    fn blended_reward_mixes_primary_and_aux() {
        let mut env = BlendedReward::new(
            make("CartPole-v1").unwrap(),
            cartpole_aux(Heuristic::Misaligned),
            [2.0, -1.0],
        );
        let (mut obs, mut info) = (vec![0.0; 4], Info::new());
        env.reset(Some(0), &mut obs, &mut info).unwrap();
        let s = env.step(&[1.0], &mut obs, &mut info).unwrap();
        let aux = info.get(AUX_REWARD).unwrap();
        assert_eq!(info.get(PRIMARY_REWARD), Some(1.0));
        assert!((s.reward - (2.0 - aux)).abs() < 1e-12);
    }

    #[test]
    fn score_gradient_matches_the_closed_form_of_a_linear_softmax_actor() {
        // Linear actor: logits = x W + b, so ∂/∂W[j][k] Σ_i w_i log π(a_i|x_i) =
        // Σ_i w_i x_ij (1[a_i = k] − π_ik) and ∂/∂b_k = Σ_i w_i (1[a_i = k] − π_ik).
        use crate::nn::MlpConfig;
        let device = Default::default();
        let actor: Mlp<CpuAutodiff> = MlpConfig::new(3, vec![], 2).with_seed(4).init(&device);
        let obs = [0.1, -0.3, 0.5, 0.7, 0.2, -0.1];
        let actions = [0i64, 1];
        let w = [1.5, -0.5];
        let g = weighted_score_gradient(&actor, &obs, 3, &actions, &w, &device);
        assert_eq!(g.len(), 3 * 2 + 2);
        let logits = tensor_to_f64(actor.forward(tensor_from_f64::<CpuAutodiff, 2>(&obs, [2, 3], &device)));
        let mut expected = vec![0.0; 8];
        for i in 0..2 {
            let (l0, l1) = (logits[2 * i], logits[2 * i + 1]);
            let p1 = 1.0 / (1.0 + (l0 - l1).exp());
            let pi = [1.0 - p1, p1];
            for k in 0..2 {
                let e = if actions[i] as usize == k { 1.0 } else { 0.0 };
                let c = w[i] * (e - pi[k]);
                for j in 0..3 {
                    expected[j * 2 + k] += c * obs[3 * i + j];
                }
                expected[6 + k] += c;
            }
        }
        for (a, b) in g.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-5, "{g:?} vs {expected:?}");
        }
    }
}
