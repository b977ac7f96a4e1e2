//! L2Calib's trainer (§6.1, §6.4): a random initial search over thousands of candidates, then
//! bandit PPO on the [`policy`](super::policy).
//!
//! Per episode: draw `batch` actions `(t, q)` from the policy, score them in one call, reward
//! `r = exp(−error/2)`; advantage `r − V` with a scalar baseline `V`, normalised over the batch;
//! `subepochs` full-batch steps of the clipped PPO loss (ratio clip 0.2, clipped value loss with
//! coefficient 0.5, entropy bonus 0.01, halved from episode 300); only the critic learns during the
//! first `critic_warmup` episodes. Adam (lr 1e-3, step decay ×10^(−1/10) every 300 episodes),
//! global gradient-norm clip 1. After each step only the translation is clamped (`μ_t` into the
//! user's box, `σ_t` into `[1e-3, half-width/2]`); L2Calib's release also clamps the 16 entries of
//! `A` (§6.7), which changes the mode: not copied. The episode with the lowest mean batch error is
//! kept, as L2Calib does. Deterministic given `seed`.

use burn::tensor::{Tensor, TensorData, backend::AutodiffBackend};
use nalgebra::{Isometry3, Vector4};
use rand::SeedableRng;
use rand_pcg::Pcg64;

use super::policy::{self, NUM_PARAMS, PolicyParams, PolicyTensors};
use super::{L2CalibError, Scorer, isometry_from_parts, reward};

/// Hyperparameters of [`train`] (defaults: L2Calib's `setup_ppo`, §6.1).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainerConfig {
    /// Lower corner of the translation box (metres).
    pub translation_min: [f64; 3],
    /// Upper corner of the translation box (metres).
    pub translation_max: [f64; 3],
    /// PPO episodes (each one batch).
    pub episodes: usize,
    /// Actions per episode (L2Calib: num_collects = 32).
    pub batch: usize,
    /// Full-batch gradient steps per episode.
    pub subepochs: usize,
    /// PPO ratio clip (also the value clip).
    pub clip: f64,
    /// Value-loss coefficient.
    pub vf_coef: f64,
    /// Entropy coefficient up to `entropy_switch_episode`.
    pub ent_coef: f64,
    /// Entropy coefficient after `entropy_switch_episode`.
    pub ent_coef_late: f64,
    /// Last episode (1-based) with `ent_coef`; `ent_coef_late` applies after it.
    pub entropy_switch_episode: usize,
    /// Episodes (from 1) in which only the critic is trained.
    pub critic_warmup: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Multiply the learning rate by `lr_gamma` every `lr_step` episodes.
    pub lr_step: usize,
    /// Step-decay factor.
    pub lr_gamma: f64,
    /// Global gradient-norm clip.
    pub max_grad_norm: f64,
    /// Initial concentrations `z` of the Bingham (all three).
    pub init_z: f64,
    /// Random candidates of the initial search (0: no search, start from the guess or the box
    /// centre).
    pub init_candidates: usize,
    /// Stop the search at the first candidate whose reward exceeds this (L2Calib: 1e-3). `None`:
    /// evaluate all candidates and keep the best.
    pub init_stop_reward: Option<f64>,
    /// Seed of every random draw.
    pub seed: u64,
}

impl Default for TrainerConfig {
    /// The box ±1 m, 500 episodes, L2Calib's PPO settings, a full 8192-candidate search, seed 0.
    fn default() -> Self {
        TrainerConfig {
            translation_min: [-1.0; 3],
            translation_max: [1.0; 3],
            episodes: 500,
            batch: 32,
            subepochs: 8,
            clip: 0.2,
            vf_coef: 0.5,
            ent_coef: 0.01,
            ent_coef_late: 0.005,
            entropy_switch_episode: 300,
            critic_warmup: 50,
            lr: 1e-3,
            lr_step: 300,
            lr_gamma: 10f64.powf(-0.1),
            max_grad_norm: 1.0,
            init_z: -20.0,
            init_candidates: 8192,
            init_stop_reward: None,
            seed: 0,
        }
    }
}

impl TrainerConfig {
    fn validate(&self) -> Result<(), L2CalibError> {
        let bad = |field: &'static str, reason: String| Err(L2CalibError::InvalidConfig { field, reason });
        for i in 0..3 {
            let (lo, hi) = (self.translation_min[i], self.translation_max[i]);
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return bad("translation_min/max", format!("axis {i}: need min < max, got [{lo}, {hi}]"));
            }
        }
        if self.batch < 2 {
            return bad("batch", format!("need at least 2 actions per episode, got {}", self.batch));
        }
        for (field, v) in [
            ("clip", self.clip),
            ("lr", self.lr),
            ("lr_gamma", self.lr_gamma),
            ("max_grad_norm", self.max_grad_norm),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(field, format!("must be positive and finite, got {v}"));
            }
        }
        if !(self.init_z.is_finite() && self.init_z < 0.0) {
            return bad("init_z", format!("must be negative, got {}", self.init_z));
        }
        if self.lr_step == 0 {
            return bad("lr_step", "must be positive".into());
        }
        Ok(())
    }

    /// Upper clamp of `σ_t` per axis: a quarter of the box width (L2Calib: max/2 for a box ±max).
    fn sigma_max(&self) -> [f64; 3] {
        [0, 1, 2].map(|i| (self.translation_max[i] - self.translation_min[i]) / 4.0)
    }
}

/// What one episode did.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeLog {
    /// 1-based episode number.
    pub episode: usize,
    /// The policy's mode `(μ_t, last column of M)` after the episode's update, `T_ref_sensor`.
    pub mode: Isometry3<f64>,
    /// Mean reward of the episode's batch.
    pub mean_reward: f64,
    /// Mean error of the episode's batch.
    pub mean_error: f64,
    /// The concentrations `z` after the update.
    pub z: [f64; 3],
    /// `σ_t` after the update (metres).
    pub sigma: [f64; 3],
}

/// The result of [`train`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOutcome {
    /// Best candidate of the initial search (or the guess when there was no search).
    pub init_best: Isometry3<f64>,
    /// Its error.
    pub init_error: f64,
    /// One entry per episode.
    pub history: Vec<EpisodeLog>,
    /// The final policy.
    pub params: PolicyParams,
    /// The mode of the episode with the lowest mean batch error (L2Calib's answer).
    pub best_mode: Isometry3<f64>,
    /// That episode (1-based; 0 when no episode ran).
    pub best_episode: usize,
}

impl TrainOutcome {
    /// The final mode (`T_ref_sensor`).
    pub fn final_mode(&self) -> Isometry3<f64> {
        self.params.mode()
    }
}

/// Adam on a slice of host parameters (torch defaults β = (0.9, 0.999), ε = 1e-8).
#[derive(Debug, Clone)]
struct Adam<const N: usize> {
    m: [f64; N],
    v: [f64; N],
    step: i32,
}

impl<const N: usize> Adam<N> {
    fn new() -> Self {
        Adam { m: [0.0; N], v: [0.0; N], step: 0 }
    }

    fn update(&mut self, params: &mut [f64; N], grads: &[f64; N], lr: f64) {
        const B1: f64 = 0.9;
        const B2: f64 = 0.999;
        self.step += 1;
        let (c1, c2) = (1.0 - B1.powi(self.step), 1.0 - B2.powi(self.step));
        for i in 0..N {
            self.m[i] = B1 * self.m[i] + (1.0 - B1) * grads[i];
            self.v[i] = B2 * self.v[i] + (1.0 - B2) * grads[i] * grads[i];
            params[i] -= lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + 1e-8);
        }
    }
}

fn host<B: burn::tensor::backend::Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

/// Random initial search: `n` candidates with translation uniform in the box and rotation uniform
/// on SO(3), scored in batches of 1024. Returns the best and its error.
fn initial_search<S: Scorer>(scorer: &mut S, cfg: &TrainerConfig, rng: &mut Pcg64) -> (Isometry3<f64>, f64) {
    const CHUNK: usize = 1024;
    let mut best = (Isometry3::identity(), f64::INFINITY);
    let mut cands = Vec::with_capacity(CHUNK);
    let mut errs = vec![0.0; CHUNK];
    let mut left = cfg.init_candidates;
    while left > 0 {
        let k = left.min(CHUNK);
        left -= k;
        cands.clear();
        for _ in 0..k {
            let t = policy::uniform_translation(rng, &cfg.translation_min, &cfg.translation_max);
            let q = policy::uniform_quaternion(rng);
            cands.push(isometry_from_parts(t.into(), &q));
        }
        scorer.errors(&cands, &mut errs[..k]);
        for (c, &e) in cands.iter().zip(&errs[..k]) {
            let e = if e.is_nan() { f64::INFINITY } else { e };
            if e < best.1 {
                best = (*c, e);
            }
            if cfg.init_stop_reward.is_some_and(|thr| reward(e) > thr) {
                return best;
            }
        }
    }
    best
}

/// Runs the initial search (unless `cfg.init_candidates == 0`, then the policy starts at
/// `initial_guess` or the box centre with identity rotation) and `cfg.episodes` episodes of bandit
/// PPO against `scorer`. With `initial_guess` and a search, the guess competes with the search's
/// candidates. Returns the history and the final policy; see the [module docs](self).
pub fn train<B: AutodiffBackend, S: Scorer>(
    scorer: &mut S,
    cfg: &TrainerConfig,
    initial_guess: Option<Isometry3<f64>>,
    device: &B::Device,
) -> Result<TrainOutcome, L2CalibError> {
    cfg.validate()?;
    let mut rng = Pcg64::seed_from_u64(cfg.seed);

    // ---- initial search ----
    let centre = [0, 1, 2].map(|i| 0.5 * (cfg.translation_min[i] + cfg.translation_max[i]));
    let (mut start, mut start_err) = match initial_guess {
        Some(g) => {
            let mut e = [0.0];
            scorer.errors(&[g], &mut e);
            (g, e[0])
        }
        None => (isometry_from_parts(centre, &Vector4::new(1.0, 0.0, 0.0, 0.0)), f64::INFINITY),
    };
    if cfg.init_candidates > 0 {
        let (b, e) = initial_search(scorer, cfg, &mut rng);
        if e < start_err || initial_guess.is_none() {
            (start, start_err) = (b, e);
        }
    } else if initial_guess.is_none() {
        let mut e = [0.0];
        scorer.errors(&[start], &mut e);
        start_err = e[0];
    }

    // ---- policy and critic ----
    let mut params = PolicyParams::centred_on(&start, cfg.sigma_max(), cfg.init_z);
    clamp_translation(&mut params, cfg);
    let mut value = 0.0f64;
    let mut adam_actor = Adam::<NUM_PARAMS>::new();
    let mut adam_critic = Adam::<1>::new();
    let mut history = Vec::with_capacity(cfg.episodes);
    let (mut best_mode, mut best_episode, mut best_err) = (params.mode(), 0, f64::INFINITY);

    let k = cfg.batch;
    let mut ts = vec![[0.0; 3]; k];
    let mut qs = vec![Vector4::zeros(); k];
    let mut cands = vec![Isometry3::identity(); k];
    let mut errs = vec![0.0; k];
    let mut rewards = vec![0.0; k];

    for episode in 1..=cfg.episodes {
        let lr = cfg.lr * cfg.lr_gamma.powi(((episode - 1) / cfg.lr_step) as i32);
        let ent_coef = if episode > cfg.entropy_switch_episode { cfg.ent_coef_late } else { cfg.ent_coef };
        let warmup = episode <= cfg.critic_warmup;

        // ---- collect ----
        let bingham = params
            .bingham()
            .map_err(|_| L2CalibError::NonFiniteTraining { episode, quantity: "policy parameters" })?;
        for j in 0..k {
            let (t, q) = params.sample(&bingham, &mut rng);
            ts[j] = t;
            qs[j] = q;
            cands[j] = isometry_from_parts(t, &q);
        }
        scorer.errors(&cands, &mut errs);
        for j in 0..k {
            rewards[j] = reward(errs[j]);
        }
        let mean_reward = rewards.iter().sum::<f64>() / k as f64;
        let mean_error = errs.iter().map(|e| e.clamp(0.0, 300.0)).sum::<f64>() / k as f64;
        if !mean_error.is_finite() {
            return Err(L2CalibError::NonFiniteTraining { episode, quantity: "error" });
        }

        // ---- advantages: r − V, normalised over the batch ----
        let adv: Vec<f64> = rewards.iter().map(|r| r - value).collect();
        let am = adv.iter().sum::<f64>() / k as f64;
        let asd = (adv.iter().map(|a| (a - am).powi(2)).sum::<f64>() / (k - 1) as f64).sqrt();
        let adv: Vec<f64> = adv.iter().map(|a| (a - am) / (asd + 1e-8)).collect();
        let value_old = value;

        let (t_batch, q_batch) = policy::action_tensors::<B>(&ts, &qs, device);
        let adv_t = Tensor::<B, 1>::from_data(TensorData::new(adv, [k]), device);
        let ret_t = Tensor::<B, 1>::from_data(TensorData::new(rewards.clone(), [k]), device);
        let logp_old =
            PolicyTensors::<B>::new(&params, device).log_prob(t_batch.clone(), q_batch.clone()).detach();

        // ---- PPO sub-epochs (one full-batch minibatch each) ----
        for _ in 0..cfg.subepochs {
            let pt = PolicyTensors::<B>::new(&params, device).require_grad();
            let v = Tensor::<B, 1>::from_data(TensorData::new(vec![value], [1]), device).require_grad();
            // Clipped value loss.
            let v_clipped = v.clone().sub_scalar(value_old).clamp(-cfg.clip, cfg.clip).add_scalar(value_old);
            let l1 = (ret_t.clone() - v.clone()).square();
            let l2 = (ret_t.clone() - v_clipped).square();
            let v_loss = l1.max_pair(l2).mean().mul_scalar(0.5);
            let loss = if warmup {
                v_loss.mul_scalar(cfg.vf_coef)
            } else {
                let logp = pt.log_prob(t_batch.clone(), q_batch.clone());
                let ratio = (logp - logp_old.clone()).exp();
                let s1 = ratio.clone() * adv_t.clone();
                let s2 = ratio.clamp(1.0 - cfg.clip, 1.0 + cfg.clip) * adv_t.clone();
                let pg = s1.min_pair(s2).mean().neg();
                pg + v_loss.mul_scalar(cfg.vf_coef) - pt.entropy().mul_scalar(ent_coef)
            };
            let grads = loss.backward();
            let gv = v.grad(&grads).map(host).map(|g| g[0]).unwrap_or(0.0);
            let mut ga = [0.0; NUM_PARAMS];
            if !warmup {
                for (off, g) in [
                    (0, pt.mean.grad(&grads).map(host)),
                    (3, pt.log_std.grad(&grads).map(host)),
                    (6, pt.a.grad(&grads).map(host)),
                    (22, pt.zeta.grad(&grads).map(host)),
                ] {
                    if let Some(g) = g {
                        ga[off..off + g.len()].copy_from_slice(&g);
                    }
                }
            }
            // Global gradient-norm clip over every parameter that has a gradient.
            let norm = (ga.iter().map(|g| g * g).sum::<f64>() + gv * gv).sqrt();
            if !norm.is_finite() {
                return Err(L2CalibError::NonFiniteTraining { episode, quantity: "gradient" });
            }
            let scale = if norm > cfg.max_grad_norm { cfg.max_grad_norm / (norm + 1e-6) } else { 1.0 };
            let mut vp = [value];
            adam_critic.update(&mut vp, &[gv * scale], lr);
            value = vp[0];
            if !warmup {
                let mut flat = params.to_flat();
                adam_actor.update(&mut flat, &ga.map(|g| g * scale), lr);
                params = PolicyParams::from_flat(&flat);
                clamp_translation(&mut params, cfg);
            }
        }

        let mode = params.mode();
        if mean_error < best_err {
            (best_err, best_mode, best_episode) = (mean_error, mode, episode);
        }
        history.push(EpisodeLog {
            episode,
            mode,
            mean_reward,
            mean_error,
            z: params.z(),
            sigma: params.std(),
        });
    }

    Ok(TrainOutcome { init_best: start, init_error: start_err, history, params, best_mode, best_episode })
}

/// L2Calib's post-step clamp, applied to the translation only (§6.7): `μ_t` into the box,
/// `σ_t` into `[1e-3, width/4]`.
fn clamp_translation(p: &mut PolicyParams, cfg: &TrainerConfig) {
    let smax = cfg.sigma_max();
    for (i, s) in smax.iter().enumerate() {
        p.mean[i] = p.mean[i].clamp(cfg.translation_min[i], cfg.translation_max[i]);
        p.log_std[i] = p.log_std[i].clamp(1e-3f64.ln(), s.max(1e-3).ln());
    }
}
