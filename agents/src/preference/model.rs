//! The [`RewardModel`] trait, the Bradley–Terry loss, Adam training of analytic-gradient models
//! ([`DifferentiableModel`], [`fit_adam`]) and the linear partial-return model
//! ([`LinearBtModel`]).
//!
//! # Loss
//!
//! For a pair with logit `Δ = score(left) − score(right)` and soft label `y = P(left ≻ right)`,
//! `ℓ = −[y log σ(Δ) + (1 − y) log σ(−Δ)] = y · softplus(−Δ) + (1 − y) · softplus(Δ)`, averaged
//! over the pairs; `∂ℓ/∂Δ = σ(Δ) − y`. (Knox et al.'s code clamps probabilities at 1e-35 before
//! the log; the softplus form needs no clamp and agrees wherever the clamp is inactive.)

use alignrl_envs::tabular::TabularMdp;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;

use super::data::{PreferenceError, PreferencePair, Segment, dot, invalid, with_swapped};
use super::teacher::logistic;

/// `ln(1 + eˣ)` without overflow.
pub fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// The Bradley–Terry cross-entropy of one pair with logit `delta` and label `y`, and `∂ℓ/∂Δ`.
pub fn bt_loss(delta: f64, y: f64) -> (f64, f64) {
    (y * softplus(-delta) + (1.0 - y) * softplus(delta), logistic(delta) - y)
}

/// Settings of reward-model training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// Adam learning rate (β₁ = 0.9, β₂ = 0.999, ε = 1e-8, PyTorch's defaults).
    pub lr: f64,
    /// Minibatch size; 0 = full batch (one Adam step per epoch).
    pub batch_size: usize,
    /// Add every pair swapped (Knox et al.'s augmentation; for score-difference models it does
    /// not change the full-batch loss, only minibatch composition).
    pub swap: bool,
    /// Keep the parameters of the lowest full-data loss seen (Knox et al.), not the last ones.
    pub keep_best: bool,
    /// Seed of the minibatch shuffling (and of any random initialisation).
    pub seed: u64,
}

impl Default for TrainConfig {
    /// 1500 full-batch epochs at lr 0.5, swapping, keeping the best (the §3.5 check's settings).
    fn default() -> Self {
        TrainConfig { epochs: 1500, lr: 0.5, batch_size: 0, swap: true, keep_best: true, seed: 0 }
    }
}

/// What training did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainSummary {
    /// Epochs run.
    pub epochs: usize,
    /// The lowest full-data loss seen (that of the returned parameters when `keep_best`).
    pub best_loss: f64,
    /// The epoch of the lowest loss (0 = before the first update).
    pub best_epoch: usize,
    /// The loss of the last parameters.
    pub final_loss: f64,
}

/// A learned reward with a preference model: `P(σ1 ≻ σ2) = σ(score(σ1) − score(σ2))`.
pub trait RewardModel {
    /// Number of reward features `k` the model reads.
    fn n_features(&self) -> usize;

    /// The segment's logit contribution (partial return for Bradley–Terry models, negated regret
    /// for the regret model). Errors if the segment does not fit the model.
    fn score(&self, seg: &Segment) -> Result<f64, PreferenceError>;

    /// The learned per-step reward of taking `action` in `state`, whose reward features are
    /// `features` (models may ignore the state and action).
    fn step_reward(&self, state: usize, action: usize, features: &[f64]) -> f64;

    /// Trains on `pairs`.
    fn fit(
        &mut self,
        pairs: &[PreferencePair],
        config: &TrainConfig,
    ) -> Result<TrainSummary, PreferenceError>;

    /// `P(left ≻ right)`.
    fn prob(&self, left: &Segment, right: &Segment) -> Result<f64, PreferenceError> {
        Ok(logistic(self.score(left)? - self.score(right)?))
    }

    /// The mean Bradley–Terry cross-entropy over `pairs` (0 for no pairs).
    fn loss(&self, pairs: &[PreferencePair]) -> Result<f64, PreferenceError> {
        let mut total = 0.0;
        for p in pairs {
            total += bt_loss(self.score(p.left())? - self.score(p.right())?, p.label()).0;
        }
        Ok(if pairs.is_empty() { 0.0 } else { total / pairs.len() as f64 })
    }

    /// The learned reward table `r̂[s][a]` (row-major, `S·A`) over a tabular MDP's features; 0 in
    /// terminal states (which are absorbing with zero reward).
    fn reward_table(&self, mdp: &TabularMdp) -> Vec<f64> {
        let na = mdp.n_actions();
        (0..mdp.n_states() * na)
            .map(|i| {
                let (s, a) = (i / na, i % na);
                if mdp.is_terminal(s) { 0.0 } else { self.step_reward(s, a, mdp.feature(s, a)) }
            })
            .collect()
    }
}

/// A reward model with a flat `f64` parameter vector and an analytic gradient of its mean loss,
/// trained by [`fit_adam`].
pub trait DifferentiableModel: RewardModel {
    /// The parameters.
    fn params(&self) -> Vec<f64>;
    /// Replaces the parameters (and refreshes any cache); errors on a wrong length or a
    /// non-finite entry.
    fn set_params(&mut self, params: &[f64]) -> Result<(), PreferenceError>;
    /// The mean loss over `pairs` at the current parameters, writing its gradient into `grad`
    /// (length = number of parameters).
    fn loss_and_grad(&self, pairs: &[PreferencePair], grad: &mut [f64]) -> Result<f64, PreferenceError>;
}

pub(crate) fn check_params(params: &[f64], expected: usize) -> Result<(), PreferenceError> {
    if params.len() != expected {
        return Err(invalid("parameters", format!("{} entries, expected {expected}", params.len())));
    }
    if params.iter().any(|x| !x.is_finite()) {
        return Err(invalid("parameters", "an entry is not finite"));
    }
    Ok(())
}

pub(crate) fn check_segments(pairs: &[PreferencePair], k: usize) -> Result<(), PreferenceError> {
    if let Some(p) = pairs.iter().find(|p| p.left().n_features() != k) {
        return Err(invalid(
            "pair",
            format!("segments have {} features, the model {k}", p.left().n_features()),
        ));
    }
    Ok(())
}

/// Adam on the mean Bradley–Terry loss (see [`TrainConfig`]). Returns the summary; the model
/// ends with the best-loss parameters when `keep_best`, else the last ones.
pub fn fit_adam<M: DifferentiableModel + ?Sized>(
    model: &mut M,
    pairs: &[PreferencePair],
    config: &TrainConfig,
) -> Result<TrainSummary, PreferenceError> {
    if pairs.is_empty() {
        return Err(invalid("training data", "no pairs"));
    }
    if !(config.lr.is_finite() && config.lr > 0.0) {
        return Err(invalid("training config", format!("learning rate {} must be positive", config.lr)));
    }
    check_segments(pairs, model.n_features())?;
    let data: Vec<PreferencePair> = if config.swap { with_swapped(pairs) } else { pairs.to_vec() };
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
    let mut theta = model.params();
    let n = theta.len();
    let (mut m, mut v, mut grad) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut rng = Pcg64::seed_from_u64(config.seed);
    let mut order: Vec<usize> = (0..data.len()).collect();
    let batch = if config.batch_size == 0 { data.len() } else { config.batch_size.min(data.len()) };
    let mut scratch: Vec<PreferencePair> = Vec::with_capacity(batch);
    let mut best = (f64::INFINITY, 0, theta.clone());
    let mut step = 0i32;
    let mut last_loss = f64::NAN;
    for epoch in 0..=config.epochs {
        // Full-data loss at the current parameters (the full-batch gradient comes with it).
        let full_loss = model.loss_and_grad(&data, &mut grad)?;
        last_loss = full_loss;
        if full_loss < best.0 {
            best = (full_loss, epoch, theta.clone());
        }
        if epoch == config.epochs {
            break;
        }
        let mut adam = |theta: &mut Vec<f64>, grad: &[f64], model: &mut M| -> Result<(), PreferenceError> {
            step += 1;
            let (c1, c2) = (1.0 - b1.powi(step), 1.0 - b2.powi(step));
            for i in 0..n {
                m[i] = b1 * m[i] + (1.0 - b1) * grad[i];
                v[i] = b2 * v[i] + (1.0 - b2) * grad[i] * grad[i];
                theta[i] -= config.lr * (m[i] / c1) / ((v[i] / c2).sqrt() + eps);
            }
            model.set_params(theta)
        };
        if batch == data.len() {
            adam(&mut theta, &grad, model)?;
        } else {
            order.shuffle(&mut rng);
            for chunk in order.chunks(batch) {
                scratch.clear();
                scratch.extend(chunk.iter().map(|&i| data[i].clone()));
                model.loss_and_grad(&scratch, &mut grad)?;
                adam(&mut theta, &grad, model)?;
            }
        }
    }
    if config.keep_best {
        model.set_params(&best.2)?;
    }
    Ok(TrainSummary { epochs: config.epochs, best_loss: best.0, best_epoch: best.1, final_loss: last_loss })
}

/// The linear Bradley–Terry (partial-return) model: `r̂(s, a) = w · φ(s, a)` (no bias),
/// `score(σ) = w · Σ_t φ(s_t, a_t)`.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearBtModel {
    w: Vec<f64>,
}

impl LinearBtModel {
    /// Zero weights over `n_features` features.
    pub fn new(n_features: usize) -> Self {
        LinearBtModel { w: vec![0.0; n_features] }
    }
    /// Given weights.
    pub fn with_weights(w: Vec<f64>) -> Result<Self, PreferenceError> {
        check_params(&w, w.len())?;
        Ok(LinearBtModel { w })
    }
    /// The weights `w`.
    pub fn weights(&self) -> &[f64] {
        &self.w
    }
}

impl RewardModel for LinearBtModel {
    fn n_features(&self) -> usize {
        self.w.len()
    }
    fn score(&self, seg: &Segment) -> Result<f64, PreferenceError> {
        if seg.n_features() != self.w.len() {
            return Err(invalid(
                "segment",
                format!("{} features, the model {}", seg.n_features(), self.w.len()),
            ));
        }
        Ok(seg.partial_return(&self.w))
    }
    fn step_reward(&self, _state: usize, _action: usize, features: &[f64]) -> f64 {
        dot(features, &self.w)
    }
    fn fit(
        &mut self,
        pairs: &[PreferencePair],
        config: &TrainConfig,
    ) -> Result<TrainSummary, PreferenceError> {
        fit_adam(self, pairs, config)
    }
}

impl DifferentiableModel for LinearBtModel {
    fn params(&self) -> Vec<f64> {
        self.w.clone()
    }
    fn set_params(&mut self, params: &[f64]) -> Result<(), PreferenceError> {
        check_params(params, self.w.len())?;
        self.w.copy_from_slice(params);
        Ok(())
    }
    fn loss_and_grad(&self, pairs: &[PreferencePair], grad: &mut [f64]) -> Result<f64, PreferenceError> {
        check_segments(pairs, self.w.len())?;
        grad.fill(0.0);
        let mut total = 0.0;
        for p in pairs {
            let (l, r) = (p.left().feature_sum(), p.right().feature_sum());
            let (loss, d) = bt_loss(dot(l, &self.w) - dot(r, &self.w), p.label());
            total += loss;
            for ((g, a), b) in grad.iter_mut().zip(l).zip(r) {
                *g += d * (a - b);
            }
        }
        let n = pairs.len().max(1) as f64;
        grad.iter_mut().for_each(|g| *g /= n);
        Ok(total / n)
    }
}

/// Central finite differences of a model's mean loss, `(L(θ + h e_i) − L(θ − h e_i)) / 2h`
/// (for tests of [`DifferentiableModel::loss_and_grad`]). Restores the parameters.
pub fn finite_difference_grad<M: DifferentiableModel + ?Sized>(
    model: &mut M,
    pairs: &[PreferencePair],
    h: f64,
) -> Result<Vec<f64>, PreferenceError> {
    let theta = model.params();
    let mut out = vec![0.0; theta.len()];
    let mut t = theta.clone();
    for i in 0..theta.len() {
        t[i] = theta[i] + h;
        model.set_params(&t)?;
        let up = model.loss(pairs)?;
        t[i] = theta[i] - h;
        model.set_params(&t)?;
        let down = model.loss(pairs)?;
        t[i] = theta[i];
        out[i] = (up - down) / (2.0 * h);
    }
    model.set_params(&theta)?;
    Ok(out)
}
