//! [`MlpBtModel`]: a Bradley–Terry (partial-return) reward model whose per-step reward is an MLP
//! of the step's reward features, `r̂(s, a) = f_θ(φ(s, a))`, trained with burn (autodiff, Adam).
//!
//! `score(σ) = Σ_t f_θ(φ_t)`. A minibatch of pairs is scored at once: every step of every
//! segment goes through the network as one `[steps, k]` batch, and the logits
//! `Δ = score(left) − score(right)` are `M r` with a `[pairs, steps]` matrix `M` of ±1 entries.

use alignrl_envs::tabular::TabularMdp;
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;

use super::data::{PreferenceError, PreferencePair, Segment, invalid, with_swapped};
use super::model::{RewardModel, TrainConfig, TrainSummary, check_segments};
use crate::distributions::{softplus, tensor_from_f64, tensor_to_f64};
use crate::nn::{Activation, Mlp, MlpConfig};

/// An MLP Bradley–Terry reward model on the autodiff backend `B` (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct MlpBtModel<B: AutodiffBackend> {
    net: Mlp<B>,
    n_features: usize,
    device: B::Device,
}

impl<B: AutodiffBackend> MlpBtModel<B> {
    /// A network `k → hidden… → 1` with ReLU hidden layers, orthogonal init (output gain 1),
    /// seeded with `seed`.
    pub fn new(
        n_features: usize,
        hidden: &[usize],
        seed: u64,
        device: &B::Device,
    ) -> Result<Self, PreferenceError> {
        if n_features == 0 || hidden.contains(&0) {
            return Err(invalid(
                "MLP reward model",
                "needs at least one feature and non-empty hidden layers",
            ));
        }
        let net = MlpConfig::new(n_features, hidden.to_vec(), 1)
            .with_activation(Activation::Relu)
            .with_seed(seed)
            .init::<B>(device);
        Ok(MlpBtModel { net, n_features, device: device.clone() })
    }

    /// The network.
    pub fn net(&self) -> &Mlp<B> {
        &self.net
    }

    /// Per-step rewards of feature rows `[n, k]` (row-major) on the inner backend.
    fn rewards_of(&self, features: &[f64], n: usize) -> Vec<f64> {
        if n == 0 {
            return Vec::new();
        }
        let net = self.net.valid();
        let x = tensor_from_f64::<B::InnerBackend, 2>(features, [n, self.n_features], &self.device);
        tensor_to_f64(net.forward(x))
    }

    /// `(steps [n, k], M [pairs, n], labels)` of a batch.
    fn batch(&self, pairs: &[&PreferencePair]) -> (Tensor<B, 2>, Tensor<B, 2>, Tensor<B, 1>) {
        let k = self.n_features;
        let n_steps: usize = pairs.iter().map(|p| p.left().len() + p.right().len()).sum();
        let mut feats = Vec::with_capacity(n_steps * k);
        let mut m = vec![0.0; pairs.len() * n_steps];
        let mut col = 0;
        for (i, p) in pairs.iter().enumerate() {
            for (seg, sign) in [(p.left(), 1.0), (p.right(), -1.0)] {
                feats.extend_from_slice(seg.features());
                for _ in 0..seg.len() {
                    m[i * n_steps + col] = sign;
                    col += 1;
                }
            }
        }
        let labels: Vec<f64> = pairs.iter().map(|p| p.label()).collect();
        (
            tensor_from_f64(&feats, [n_steps, k], &self.device),
            tensor_from_f64(&m, [pairs.len(), n_steps], &self.device),
            tensor_from_f64(&labels, [pairs.len()], &self.device),
        )
    }

    fn batch_loss(net: &Mlp<B>, x: Tensor<B, 2>, m: Tensor<B, 2>, y: Tensor<B, 1>) -> Tensor<B, 1> {
        bt_loss_tensor(m.matmul(net.forward(x)).squeeze_dim::<1>(1), y)
    }

    /// The loss without building an autodiff graph.
    fn eval_loss(net: &Mlp<B>, x: &Tensor<B, 2>, m: &Tensor<B, 2>, y: &Tensor<B, 1>) -> f64 {
        let inner = net.valid();
        let delta = m.clone().inner().matmul(inner.forward(x.clone().inner())).squeeze_dim::<1>(1);
        tensor_to_f64(bt_loss_tensor(delta, y.clone().inner()))[0]
    }
}

impl<B: AutodiffBackend> RewardModel for MlpBtModel<B> {
    fn n_features(&self) -> usize {
        self.n_features
    }
    fn score(&self, seg: &Segment) -> Result<f64, PreferenceError> {
        if seg.n_features() != self.n_features {
            return Err(invalid(
                "segment",
                format!("{} features, the model {}", seg.n_features(), self.n_features),
            ));
        }
        Ok(self.rewards_of(seg.features(), seg.len()).iter().sum())
    }
    fn step_reward(&self, _state: usize, _action: usize, features: &[f64]) -> f64 {
        self.rewards_of(features, 1)[0]
    }
    /// One batched forward pass over every state-action pair.
    fn reward_table(&self, mdp: &TabularMdp) -> Vec<f64> {
        let n = mdp.n_states() * mdp.n_actions();
        let mut r = self.rewards_of(mdp.features(), n);
        for (i, x) in r.iter_mut().enumerate() {
            if mdp.is_terminal(i / mdp.n_actions()) {
                *x = 0.0;
            }
        }
        r
    }
    /// Adam (burn's, ε = 1e-8) on minibatches (`batch_size`, 0 = full batch) shuffled by a
    /// `Pcg64` seeded with `config.seed`; keeps the network of the lowest full-data loss when
    /// `keep_best`.
    fn fit(
        &mut self,
        pairs: &[PreferencePair],
        config: &TrainConfig,
    ) -> Result<TrainSummary, PreferenceError> {
        if pairs.is_empty() {
            return Err(invalid("training data", "no pairs"));
        }
        if !(config.lr.is_finite() && config.lr > 0.0) {
            return Err(invalid("training config", format!("learning rate {} must be positive", config.lr)));
        }
        check_segments(pairs, self.n_features)?;
        let data = if config.swap { with_swapped(pairs) } else { pairs.to_vec() };
        let all: Vec<&PreferencePair> = data.iter().collect();
        let (fx, fm, fy) = self.batch(&all);
        let full_loss = |net: &Mlp<B>| Self::eval_loss(net, &fx, &fm, &fy);
        let batch = if config.batch_size == 0 { data.len() } else { config.batch_size.min(data.len()) };
        let mut optim = AdamConfig::new().with_epsilon(1e-8).init::<B, Mlp<B>>();
        let mut rng = Pcg64::seed_from_u64(config.seed);
        let mut order: Vec<usize> = (0..data.len()).collect();
        let mut net = self.net.clone();
        let mut best = (full_loss(&net), 0, net.clone());
        let mut last = best.0;
        for epoch in 1..=config.epochs {
            if batch == data.len() {
                let loss = Self::batch_loss(&net, fx.clone(), fm.clone(), fy.clone());
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                net = optim.step(config.lr, net, grads);
            } else {
                order.shuffle(&mut rng);
                for chunk in order.chunks(batch) {
                    let refs: Vec<&PreferencePair> = chunk.iter().map(|&i| &data[i]).collect();
                    let (x, m, y) = self.batch(&refs);
                    let loss = Self::batch_loss(&net, x, m, y);
                    let grads = GradientsParams::from_grads(loss.backward(), &net);
                    net = optim.step(config.lr, net, grads);
                }
            }
            last = full_loss(&net);
            if !last.is_finite() {
                return Err(invalid("training", format!("the loss became {last} at epoch {epoch}")));
            }
            if last < best.0 {
                best = (last, epoch, net.clone());
            }
        }
        self.net = if config.keep_best { best.2 } else { net };
        Ok(TrainSummary { epochs: config.epochs, best_loss: best.0, best_epoch: best.1, final_loss: last })
    }
}

/// The mean Bradley–Terry loss of logits `delta` with soft labels `y`, on any backend.
fn bt_loss_tensor<Bk: Backend>(delta: Tensor<Bk, 1>, y: Tensor<Bk, 1>) -> Tensor<Bk, 1> {
    let ones = y.ones_like();
    (y.clone() * softplus(delta.clone().neg()) + (ones - y) * softplus(delta)).mean()
}
