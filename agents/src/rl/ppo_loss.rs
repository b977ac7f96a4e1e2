//! The PPO loss (Schulman et al. 2017) in CleanRL's form, on burn tensors of one minibatch.
//!
//! With `ρ = exp(log π_new − log π_old)`, advantages `A`, clip coefficient `ε`:
//!
//! ```text
//! policy  L_π = mean( max(−A ρ, −A clip(ρ, 1 − ε, 1 + ε)) )
//! value   L_V = ½ mean( (V_new − R)² )                                   (no value clipping)
//!         L_V = ½ mean( max((V_new − R)², (V_old + clip(V_new − V_old, −ε_v, ε_v) − R)²) )
//! entropy H   = mean(entropy)
//! total   L   = L_π − c_H H + c_V L_V
//! ```
//!
//! Diagnostics, computed on detached tensors: approximate KL `mean((ρ − 1) − log ρ)` (the
//! low-variance "k3" estimator of KL(π_old ‖ π_new)) and the clip fraction `mean(|ρ − 1| > ε)`.
//! Advantage normalisation is the rollout buffer's job ([`super::RolloutBuffer::gather`]).

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// PPO loss coefficients (CleanRL's defaults).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PpoLossConfig {
    /// Surrogate clipping coefficient `ε`.
    pub clip_coef: f64,
    /// Value clipping range `ε_v` around the old values; `None` for the plain squared error.
    pub value_clip: Option<f64>,
    /// Value loss coefficient `c_V`.
    pub vf_coef: f64,
    /// Entropy bonus coefficient `c_H`.
    pub ent_coef: f64,
}

impl Default for PpoLossConfig {
    fn default() -> Self {
        Self { clip_coef: 0.2, value_clip: Some(0.2), vf_coef: 0.5, ent_coef: 0.01 }
    }
}

/// One minibatch, all `[B]` tensors.
#[derive(Debug, Clone)]
pub struct PpoBatch<B: Backend> {
    /// log π_new(a | s), from the current network (carries gradients).
    pub new_log_probs: Tensor<B, 1>,
    /// log π_old(a | s), stored at collection time.
    pub old_log_probs: Tensor<B, 1>,
    /// Advantages (already normalised if wanted).
    pub advantages: Tensor<B, 1>,
    /// V_new(s), from the current network (carries gradients).
    pub new_values: Tensor<B, 1>,
    /// V_old(s), stored at collection time.
    pub old_values: Tensor<B, 1>,
    /// Value targets `R = A + V_old` (unnormalised advantages).
    pub returns: Tensor<B, 1>,
    /// Entropy of π_new(· | s) per row (carries gradients).
    pub entropy: Tensor<B, 1>,
}

/// The PPO loss and its parts; each is a `[1]` tensor.
#[derive(Debug, Clone)]
pub struct PpoLoss<B: Backend> {
    /// `L_π − c_H H + c_V L_V`, what to differentiate.
    pub total: Tensor<B, 1>,
    /// Clipped surrogate loss `L_π`.
    pub policy_loss: Tensor<B, 1>,
    /// Value loss `L_V` (with the ½).
    pub value_loss: Tensor<B, 1>,
    /// Mean entropy `H`.
    pub entropy: Tensor<B, 1>,
    /// `mean((ρ − 1) − log ρ)`, detached.
    pub approx_kl: Tensor<B, 1>,
    /// Fraction of rows with `|ρ − 1| > ε`, detached.
    pub clip_fraction: Tensor<B, 1>,
}

/// The PPO loss of `batch` (see the [module docs](self) for the formulas).
pub fn ppo_loss<B: Backend>(batch: PpoBatch<B>, cfg: &PpoLossConfig) -> PpoLoss<B> {
    let eps = cfg.clip_coef;

    // ---- clipped surrogate ----
    let log_ratio = batch.new_log_probs - batch.old_log_probs;
    let ratio = log_ratio.clone().exp();
    let pg_loss1 = -batch.advantages.clone() * ratio.clone();
    let pg_loss2 = -batch.advantages * ratio.clone().clamp(1.0 - eps, 1.0 + eps);
    let policy_loss = pg_loss1.max_pair(pg_loss2).mean();

    // ---- diagnostics (no gradients) ----
    let ratio_d = ratio.detach();
    let approx_kl = ((ratio_d.clone() - 1.0) - log_ratio.detach()).mean();
    let clip_fraction = (ratio_d - 1.0).abs().greater_elem(eps).float().mean();

    // ---- value loss ----
    let v_unclipped = (batch.new_values.clone() - batch.returns.clone()).square();
    let value_loss = match cfg.value_clip {
        None => v_unclipped.mean() * 0.5,
        Some(c) => {
            let v_clipped = batch.old_values.clone() + (batch.new_values - batch.old_values).clamp(-c, c);
            let v_loss_clipped = (v_clipped - batch.returns).square();
            v_unclipped.max_pair(v_loss_clipped).mean() * 0.5
        }
    };

    // ---- entropy bonus and total ----
    let entropy = batch.entropy.mean();
    let total = policy_loss.clone() - entropy.clone() * cfg.ent_coef + value_loss.clone() * cfg.vf_coef;
    PpoLoss { total, policy_loss, value_loss, entropy, approx_kl, clip_fraction }
}
