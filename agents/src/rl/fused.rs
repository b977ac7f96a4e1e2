//! A fused CPU engine for PPO's small networks: the forward and backward passes of the actor and
//! critic MLPs, the PPO loss, global gradient-norm clipping and Adam, hand-written on flat `f32`
//! buffers.
//!
//! With 64-64 networks and minibatches of a few hundred rows, a gradient step is about 14 MFLOP;
//! through burn's autodiff graph it is dominated by per-operation overhead (graph nodes, tensor
//! allocations, host reads), ≈ 2 ms a step. Here the same step is a handful of matrix products
//! and element-wise loops over preallocated buffers, ≈ 0.22 ms on one core: nothing is allocated
//! per step, and the result is a deterministic function of the parameters, the optimiser state
//! and the batch. The matrix products are our own small register-blocked kernel (single-threaded,
//! vectorised for AVX-512 or AVX2 at run time), in which every output is one chain of correctly
//! rounded fused multiply-adds in a fixed order, so the products are the same bits on every CPU
//! and vector width; it was ≈ 22% faster per step than `matrixmultiply::sgemm` (whose packing dominates at these
//! sizes, and which allocates its packing buffer on every call).
//!
//! - [`FusedLayout`]: where each parameter of an [`ActorCritic`] sits in one flat vector (burn's
//!   module order: actor layers, critic layers, then the shared `log_std`; each layer's weight
//!   `[d_in, d_out]` row-major, `y = x W + b`, then its bias), and the exact conversions between
//!   a burn model and that vector ([`FusedLayout::read`], [`FusedLayout::write`]).
//! - [`FusedPpo`]: the engine. [`FusedPpo::loss_and_grad`] computes the loss of
//!   [`ppo_loss()`](super::ppo_loss()) (clipped surrogate, optional value clipping, entropy bonus) and its
//!   gradient for a [`Categorical`](crate::distributions::Categorical) policy over logits or a
//!   [`DiagGaussian`](crate::distributions::DiagGaussian) with a state-independent shared
//!   `log_std`, with the same diagnostics; [`FusedPpo::clip_grad_norm`] is
//!   [`clip_grad_norm`](super::clip_grad_norm); [`FusedPpo::adam_step`] is burn 0.21's Adam
//!   (`AdamConfig::new().with_epsilon(1e-5)`); [`FusedPpo::act`] samples actions for a rollout.
//! - [`FusedAdam`]: Adam's state, with a byte encoding for checkpoints.
//!
//! The actor and the critic share no parameters, and PPO's loss is a sum of a policy part (actor
//! only) and a value part (critic only), so the two networks' passes are independent; with
//! [`FusedPpo::set_parallel`] the critic's runs on a second thread (each thread owns its network's
//! buffers, so the result does not depend on the scheduling).

use std::ops::Range;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand_pcg::Pcg64;

use super::{Minibatch, PpoLossConfig, RlError, check_len};
use crate::distributions::{LN_2PI, fill_standard_normal, open_unit};
use crate::nn::Activation;
use crate::ppo::ActorCritic;

/// One linear layer's place in a network's flat parameters (offsets relative to the network's
/// first parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerSpec {
    /// Input width.
    pub d_in: usize,
    /// Output width.
    pub d_out: usize,
    /// Offset of the weight `[d_in, d_out]` (row-major).
    pub w: usize,
    /// Offset of the bias `[d_out]`.
    pub b: usize,
}

/// An MLP's layers in a flat parameter vector: hidden layers input side first, then the output
/// layer, with `activation` after every layer but the last.
#[derive(Debug, Clone, PartialEq)]
pub struct NetLayout {
    /// The layers, the output layer last.
    pub layers: Vec<LayerSpec>,
    /// The nonlinearity after each hidden layer.
    pub activation: Activation,
    /// Where the network's parameters sit in the whole flat vector.
    pub range: Range<usize>,
}

impl NetLayout {
    pub(crate) fn new(
        d_in: usize,
        hidden: &[usize],
        d_out: usize,
        activation: Activation,
        start: usize,
    ) -> Self {
        let mut layers = Vec::with_capacity(hidden.len() + 1);
        let (mut width, mut at) = (d_in, 0);
        for &out in hidden.iter().chain([&d_out]) {
            layers.push(LayerSpec { d_in: width, d_out: out, w: at, b: at + width * out });
            at += width * out + out;
            width = out;
        }
        Self { layers, activation, range: start..start + at }
    }

    /// Input width.
    pub fn d_in(&self) -> usize {
        self.layers[0].d_in
    }

    /// Output width.
    pub fn d_out(&self) -> usize {
        self.layers[self.layers.len() - 1].d_out
    }

    fn max_width(&self) -> usize {
        self.layers.iter().map(|l| l.d_out.max(l.d_in)).max().unwrap_or(0)
    }
}

/// The flat parameter layout of an [`ActorCritic`]: actor, critic, then `log_std` (when the
/// policy is Gaussian), in the order burn's module visitor walks them.
#[derive(Debug, Clone, PartialEq)]
pub struct FusedLayout {
    /// The actor (`obs → logits` or `obs → mean`).
    pub actor: NetLayout,
    /// The critic (`obs → V`).
    pub critic: NetLayout,
    /// Where the shared log standard deviation `[D]` sits (`None`: a categorical policy).
    pub log_std: Option<Range<usize>>,
    /// Number of parameters.
    pub len: usize,
}

impl FusedLayout {
    /// The layout of `ActorCritic` networks `obs_dim → hidden → d_actor` and `obs_dim → hidden → 1`,
    /// with a `log_std` of `d_actor` entries when `gaussian`.
    pub fn new(
        obs_dim: usize,
        hidden: &[usize],
        activation: Activation,
        d_actor: usize,
        gaussian: bool,
    ) -> Self {
        let actor = NetLayout::new(obs_dim, hidden, d_actor, activation, 0);
        let critic = NetLayout::new(obs_dim, hidden, 1, activation, actor.range.end);
        let end = critic.range.end;
        let log_std = gaussian.then_some(end..end + d_actor);
        let len = log_std.as_ref().map_or(end, |r| r.end);
        Self { actor, critic, log_std, len }
    }

    /// The layout of `model`, read from its parameter shapes.
    ///
    /// # Errors
    ///
    /// [`RlError::Invalid`] when a layer has no bias, the critic does not output one value, the
    /// two networks' activations or input widths differ, or `log_std` does not match the actor's
    /// output width.
    pub fn of_model<B: Backend>(model: &ActorCritic<B>) -> Result<Self, RlError> {
        let widths = |mlp: &crate::nn::Mlp<B>| -> Result<(usize, Vec<usize>, usize), RlError> {
            let mut hidden = Vec::new();
            let mut d_in = None;
            for layer in mlp.hidden.iter().chain([&mlp.output]) {
                let [i, o] = layer.weight.val().dims();
                if layer.bias.is_none() {
                    return Err(RlError::Invalid("fused PPO: every linear layer needs a bias".into()));
                }
                d_in.get_or_insert(i);
                hidden.push(o);
            }
            let out = hidden.pop().unwrap_or(0);
            Ok((d_in.unwrap_or(0), hidden, out))
        };
        let (a_in, a_hidden, d_actor) = widths(&model.actor)?;
        let (c_in, c_hidden, d_critic) = widths(&model.critic)?;
        if a_in != c_in || a_hidden != c_hidden || d_critic != 1 {
            return Err(RlError::Invalid(format!(
                "fused PPO: actor {a_in}→{a_hidden:?}→{d_actor} and critic {c_in}→{c_hidden:?}→{d_critic} \
                 must share input and hidden widths, with one critic output"
            )));
        }
        if model.actor.activation != model.critic.activation {
            return Err(RlError::Invalid("fused PPO: actor and critic activations differ".into()));
        }
        let gaussian = match &model.log_std {
            None => false,
            Some(p) if p.val().dims() == [d_actor] => true,
            Some(p) => {
                return Err(RlError::Invalid(format!(
                    "fused PPO: log_std has {} entries, the actor outputs {d_actor}",
                    p.val().dims()[0]
                )));
            }
        };
        Ok(Self::new(a_in, &a_hidden, model.actor.activation, d_actor, gaussian))
    }

    /// The shape of every parameter in module-visit order; the flat vector holds them
    /// back to back in that order.
    fn shapes(&self) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        for net in [&self.actor, &self.critic] {
            for l in &net.layers {
                out.push(vec![l.d_in, l.d_out]);
                out.push(vec![l.d_out]);
            }
        }
        if let Some(r) = &self.log_std {
            out.push(vec![r.len()]);
        }
        out
    }

    /// The parameters of `model` as one flat vector (exact `f32` copies).
    ///
    /// # Errors
    ///
    /// [`RlError::Invalid`] when the model does not have this layout.
    pub fn read<B: Backend>(&self, model: &ActorCritic<B>) -> Result<Vec<f32>, RlError> {
        read_module(model, &self.shapes())
    }

    /// `model` with its parameters replaced by `params` (exact; parameter ids and `require_grad`
    /// flags kept, so a burn optimiser's state still applies).
    ///
    /// # Errors
    ///
    /// [`RlError`] when `params` does not have [`Self::len`] values or the model does not have
    /// this layout.
    pub fn write<B: Backend>(
        &self,
        params: &[f32],
        model: ActorCritic<B>,
    ) -> Result<ActorCritic<B>, RlError> {
        write_module(model, &self.shapes(), params)
    }
}

/// Every float parameter of `module`, flattened in module-visit order, checked against `shapes`
/// (exact `f32` copies).
///
/// # Errors
///
/// [`RlError::Invalid`] when the module's parameters do not have these shapes.
pub fn read_module<B: Backend, M: Module<B>>(module: &M, shapes: &[Vec<usize>]) -> Result<Vec<f32>, RlError> {
    struct Reader<'a> {
        shapes: std::slice::Iter<'a, Vec<usize>>,
        out: Vec<f32>,
        error: Option<RlError>,
    }
    impl<B: Backend> ModuleVisitor<B> for Reader<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let t = param.val();
            let dims = t.dims().to_vec();
            match self.shapes.next() {
                Some(shape) if *shape == dims => match t.into_data().convert::<f32>().into_vec::<f32>() {
                    Ok(v) => self.out.extend_from_slice(&v),
                    Err(e) => {
                        self.error.get_or_insert(RlError::Invalid(format!("fused engine: {e:?}")));
                    }
                },
                other => {
                    self.error.get_or_insert(RlError::Invalid(format!(
                        "fused engine: parameter of shape {dims:?} where the layout has {other:?}"
                    )));
                }
            }
        }
    }
    let mut reader = Reader { shapes: shapes.iter(), out: Vec::new(), error: None };
    module.visit(&mut reader);
    if let Some(e) = reader.error {
        return Err(e);
    }
    if reader.shapes.next().is_some() {
        return Err(RlError::Invalid("fused engine: the module has fewer parameters than the layout".into()));
    }
    Ok(reader.out)
}

/// `module` with its float parameters replaced, in module-visit order, by consecutive slices of
/// `params` of the given `shapes` (exact; parameter ids and `require_grad` flags kept).
///
/// # Errors
///
/// [`RlError`] when the lengths or the module's parameter shapes do not fit.
pub fn write_module<B: Backend, M: Module<B>>(
    module: M,
    shapes: &[Vec<usize>],
    params: &[f32],
) -> Result<M, RlError> {
    check_len("fused parameters", params.len(), shapes.iter().map(|s| s.iter().product::<usize>()).sum())?;
    struct Writer<'a> {
        shapes: std::slice::Iter<'a, Vec<usize>>,
        params: &'a [f32],
        at: usize,
        error: Option<RlError>,
    }
    impl<B: Backend> ModuleMapper<B> for Writer<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let (id, tensor, mapper) = param.consume();
            let dims = tensor.dims().to_vec();
            match self.shapes.next() {
                Some(shape) if *shape == dims => {
                    let n: usize = shape.iter().product();
                    let data = TensorData::new(self.params[self.at..self.at + n].to_vec(), shape.clone());
                    self.at += n;
                    let new = Tensor::<B, D>::from_data(data, &tensor.device())
                        .set_require_grad(tensor.is_require_grad());
                    Param::from_mapped_value(id, new, mapper)
                }
                _ => {
                    self.error.get_or_insert(RlError::Invalid(format!(
                        "fused engine: the module's parameter of shape {dims:?} does not fit the layout"
                    )));
                    Param::from_mapped_value(id, tensor, mapper)
                }
            }
        }
    }
    let mut writer = Writer { shapes: shapes.iter(), params, at: 0, error: None };
    let module = module.map(&mut writer);
    match writer.error {
        Some(e) => Err(e),
        None if writer.shapes.next().is_some() => {
            Err(RlError::Invalid("fused engine: the module has fewer parameters than the layout".into()))
        }
        None => Ok(module),
    }
}

/// Adam's state for a flat parameter vector, exactly as burn 0.21's `Adam` (no weight decay,
/// no AMSGrad) keeps it per parameter: the step count `time` (the first step is `time = 1`),
/// and the first and second moments.
#[derive(Debug, Clone, PartialEq)]
pub struct FusedAdam {
    /// `β₁` (0.9).
    pub beta_1: f32,
    /// `β₂` (0.999).
    pub beta_2: f32,
    /// `ε` (1e-5, PPO's), added to `√v̂`.
    pub epsilon: f32,
    /// Steps taken.
    pub time: usize,
    /// First moments.
    pub moment_1: Vec<f32>,
    /// Second moments.
    pub moment_2: Vec<f32>,
}

/// First bytes of an encoded [`FusedAdam`] (burn's MessagePack records never start with them).
pub const FUSED_ADAM_MAGIC: &[u8] = b"alignrl-fused-adam-v1\0";

impl FusedAdam {
    /// A fresh state for `len` parameters with `β₁ = 0.9`, `β₂ = 0.999`, `ε = 1e-5`.
    pub fn new(len: usize) -> Self {
        Self {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-5,
            time: 0,
            moment_1: vec![0.0; len],
            moment_2: vec![0.0; len],
        }
    }

    /// One Adam step `θ ← θ − lr · m̂ / (√v̂ + ε)` with burn's arithmetic: `m ← β₁ m + (1 − β₁) g`,
    /// `v ← β₂ v + (1 − β₂) g²`, then `θ ← θ − lr · (m · c) / (√v + ε √(1 − β₂ᵗ))` with
    /// `c = √(1 − β₂ᵗ) / (1 − β₁ᵗ)`, all in `f32` in that order.
    ///
    /// # Panics
    ///
    /// When `params`, `grads` and the state have different lengths.
    pub fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) {
        assert!(params.len() == grads.len() && grads.len() == self.moment_1.len(), "FusedAdam: lengths");
        self.time += 1;
        let t = self.time as i32;
        let (b1, b2) = (self.beta_1, self.beta_2);
        let (f1, f2) = (1.0 - b1, 1.0 - b2);
        let bc2 = (1.0 - b2.powi(t)).sqrt();
        let combined = bc2 / (1.0 - b1.powi(t));
        let eps = self.epsilon * bc2;
        let lr = lr as f32;
        for (((p, &g), m), v) in
            params.iter_mut().zip(grads).zip(self.moment_1.iter_mut()).zip(self.moment_2.iter_mut())
        {
            *m = *m * b1 + g * f1;
            *v = *v * b2 + (g * g) * f2;
            let update = (*m * combined) / (v.sqrt() + eps);
            *p -= update * lr;
        }
    }

    /// The state as bytes: [`FUSED_ADAM_MAGIC`], `β₁`, `β₂`, `ε` (f32), `time`, the length (u64),
    /// then both moments, all little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.moment_1.len();
        let mut out = Vec::with_capacity(FUSED_ADAM_MAGIC.len() + 28 + 8 * n);
        out.extend_from_slice(FUSED_ADAM_MAGIC);
        for x in [self.beta_1, self.beta_2, self.epsilon] {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.extend_from_slice(&(self.time as u64).to_le_bytes());
        out.extend_from_slice(&(n as u64).to_le_bytes());
        for x in self.moment_1.iter().chain(&self.moment_2) {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out
    }

    /// Decodes [`Self::to_bytes`], checking that the state is for `len` parameters.
    ///
    /// # Errors
    ///
    /// [`RlError::Invalid`] when the bytes are not a fused Adam state (e.g. a burn optimiser
    /// record), are truncated, or hold a different number of parameters.
    pub fn from_bytes(bytes: &[u8], len: usize) -> Result<Self, RlError> {
        let Some(rest) = bytes.strip_prefix(FUSED_ADAM_MAGIC) else {
            return Err(RlError::Invalid(
                "the optimiser state is not a fused-engine Adam state (it was written by the burn engine?)"
                    .into(),
            ));
        };
        let truncated = || RlError::Invalid("the fused Adam state is truncated".into());
        let f32_at = |i: usize| -> Result<f32, RlError> {
            Ok(f32::from_le_bytes(rest.get(i..i + 4).ok_or_else(truncated)?.try_into().expect("4 bytes")))
        };
        let u64_at = |i: usize| -> Result<u64, RlError> {
            Ok(u64::from_le_bytes(rest.get(i..i + 8).ok_or_else(truncated)?.try_into().expect("8 bytes")))
        };
        let (beta_1, beta_2, epsilon) = (f32_at(0)?, f32_at(4)?, f32_at(8)?);
        let time = u64_at(12)? as usize;
        let n = u64_at(20)? as usize;
        if n != len {
            return Err(RlError::Invalid(format!(
                "the fused Adam state holds {n} parameters, the networks have {len}"
            )));
        }
        if rest.len() != 28 + 8 * n {
            return Err(truncated());
        }
        let floats = |from: usize| -> Vec<f32> {
            rest[from..from + 4 * n]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect()
        };
        Ok(Self { beta_1, beta_2, epsilon, time, moment_1: floats(28), moment_2: floats(28 + 4 * n) })
    }
}

/// The loss and diagnostics of one minibatch, with [`ppo_loss()`](super::ppo_loss())'s definitions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusedLoss {
    /// Clipped surrogate loss `L_π`.
    pub policy_loss: f64,
    /// Value loss `L_V` (with the ½).
    pub value_loss: f64,
    /// Mean entropy `H` (nats).
    pub entropy: f64,
    /// `mean((ρ − 1) − log ρ)`.
    pub approx_kl: f64,
    /// Fraction of rows with `|ρ − 1| > ε`.
    pub clip_frac: f64,
    /// `L_π − c_H H + c_V L_V`.
    pub total: f64,
}

/// Per-network buffers: post-activation outputs of each hidden layer, the output, and two
/// scratch buffers for backpropagated gradients. Sized once for `rows` rows.
#[derive(Debug, Clone)]
pub(crate) struct NetBuffers {
    pub(crate) hidden: Vec<Vec<f32>>,
    pub(crate) out: Vec<f32>,
    pub(crate) delta: [Vec<f32>; 2],
    /// A transposed weight `[d_out, d_in]` (backward pass).
    pub(crate) wt: Vec<f32>,
}

impl NetBuffers {
    pub(crate) fn new(net: &NetLayout, rows: usize) -> Self {
        let n_hidden = net.layers.len() - 1;
        let width = net.max_width();
        Self {
            hidden: net.layers[..n_hidden].iter().map(|l| vec![0.0; rows * l.d_out]).collect(),
            out: vec![0.0; rows * net.d_out()],
            delta: [vec![0.0; rows * width], vec![0.0; rows * width]],
            wt: vec![0.0; net.layers.iter().map(|l| l.d_in * l.d_out).max().unwrap_or(0)],
        }
    }
}

/// Column block of the matrix-product kernel: 16 `f32` lanes (one AVX-512 register, two AVX2).
const LANES: usize = 16;

/// `c[i..i+R, j..j+16] (+)= a[i..i+R, :] · b[:, j..j+16]` with `R` rows of accumulators kept in
/// registers over the whole `k` loop. Each output is one chain of fused multiply-adds in `p` order.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gemm_block<const R: usize>(
    i: usize,
    j: usize,
    k: usize,
    n: usize,
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    let mut acc = [[0.0f32; LANES]; R];
    if accumulate {
        for (r, acc) in acc.iter_mut().enumerate() {
            acc.copy_from_slice(&c[(i + r) * n + j..][..LANES]);
        }
    }
    if k > 0 {
        // The largest indices read below; checked once so that the inner loop has no bounds checks.
        assert!(
            (i + R - 1) * rsa + (k - 1) * csa < a.len() && (k - 1) * n + j + LANES <= b.len(),
            "gemm block"
        );
        for p in 0..k {
            // SAFETY: p < k, r < R and the assert above bound every index.
            let brow: [f32; LANES] = unsafe { *(b.as_ptr().add(p * n + j) as *const [f32; LANES]) };
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: as above.
                let av = unsafe { *a.get_unchecked((i + r) * rsa + p * csa) };
                for (s, &bv) in acc.iter_mut().zip(&brow) {
                    *s = av.mul_add(bv, *s);
                }
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        c[(i + r) * n + j..][..LANES].copy_from_slice(acc);
    }
}

/// `c[m, n] (+)= a[m, k] · b[k, n]`: `a` with strides `(rsa, csa)`, `b` and `c` row-major. Every
/// output element is `fma(a_{i,k−1}, b_{k−1,j}, … fma(a_{i,0}, b_{0,j}, c₀))`, one correctly
/// rounded fused multiply-add per term in a fixed order, so the result is the same bits on every
/// CPU and with every vector width.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gemm_generic(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    strides: (usize, usize),
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    let n_vec = n / LANES * LANES;
    let mut i = 0;
    while i < m {
        // Blocks of 8 rows (8 independent accumulator chains), then 4, then single rows.
        let rows = match m - i {
            8.. => 8,
            4..8 => 4,
            _ => 1,
        };
        for j in (0..n_vec).step_by(LANES) {
            match rows {
                8 => gemm_block::<8>(i, j, k, n, a, strides, b, c, accumulate),
                4 => gemm_block::<4>(i, j, k, n, a, strides, b, c, accumulate),
                _ => gemm_block::<1>(i, j, k, n, a, strides, b, c, accumulate),
            }
        }
        i += rows;
    }
    // Columns past the last full block (narrow output layers: 1 or 2 columns): several rows at
    // once, so that independent multiply-add chains overlap instead of waiting on each other.
    const TAIL_ROWS: usize = 8;
    let mut i = 0;
    while i < m {
        let rows = (m - i).min(TAIL_ROWS);
        for j in n_vec..n {
            if rows == TAIL_ROWS {
                gemm_column::<TAIL_ROWS>(i, j, k, n, a, strides, b, c, accumulate);
            } else {
                for r in i..i + rows {
                    gemm_column::<1>(r, j, k, n, a, strides, b, c, accumulate);
                }
            }
        }
        i += rows;
    }
}

/// `c[i..i+R, j] (+)= a[i..i+R, :] · b[:, j]`, each output one chain of fused multiply-adds in
/// `p` order (the same as in [`gemm_block`]).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gemm_column<const R: usize>(
    i: usize,
    j: usize,
    k: usize,
    n: usize,
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    let mut acc = [0.0f32; R];
    if accumulate {
        for (r, s) in acc.iter_mut().enumerate() {
            *s = c[(i + r) * n + j];
        }
    }
    for p in 0..k {
        let bv = b[p * n + j];
        for (r, s) in acc.iter_mut().enumerate() {
            *s = a[(i + r) * rsa + p * csa].mul_add(bv, *s);
        }
    }
    for (r, s) in acc.iter().enumerate() {
        c[(i + r) * n + j] = *s;
    }
}

/// [`gemm_generic`] compiled for AVX-512 with FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
#[allow(clippy::too_many_arguments)]
fn gemm_avx512(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    s: (usize, usize),
    b: &[f32],
    c: &mut [f32],
    acc: bool,
) {
    gemm_generic(m, k, n, a, s, b, c, acc)
}

/// [`gemm_generic`] compiled for AVX2 with FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
fn gemm_avx2(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    s: (usize, usize),
    b: &[f32],
    c: &mut [f32],
    acc: bool,
) {
    gemm_generic(m, k, n, a, s, b, c, acc)
}

/// `c[m, n] = a[m, k] · b[k, n] (+ c when accumulate)`: `a` with strides `(rsa, csa)`, `b` and
/// `c` row-major; vectorised for AVX-512 or AVX2 when the CPU has them, with the same bits on
/// every path (see [`gemm_generic`]). Allocates nothing.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    strides: (usize, usize),
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    assert!(b.len() >= k * n && c.len() >= m * n, "gemm: operand sizes");
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX-512F and FMA, checked just above.
            return unsafe { gemm_avx512(m, k, n, a, strides, b, c, accumulate) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { gemm_avx2(m, k, n, a, strides, b, c, accumulate) };
        }
    }
    gemm_generic(m, k, n, a, strides, b, c, accumulate)
}

/// `tanh(x)` in `f32` as a rational function, branch-free so that loops over it vectorise: the
/// odd 13/6 minimax approximation of Eigen's `generic_fast_tanh_float` (also XLA's and ONNX
/// Runtime's), with the input clamped to ±7.9053 where `tanh` rounds to ±1 and `x` itself
/// returned for `|x| < 4e-4`. Within a few ulp of the exact value (tested against `f64::tanh`),
/// and about 10× faster than libm's `tanhf`, which dominated a step before.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    const A1: f32 = 4.893_524_6e-3;
    const A3: f32 = 6.372_619_3e-4;
    const A5: f32 = 1.485_722_4e-5;
    const A7: f32 = 5.122_297e-8;
    const A9: f32 = -8.604_672e-11;
    const A11: f32 = 2.000_188e-13;
    const A13: f32 = -2.760_768_5e-16;
    const B0: f32 = 4.893_525e-3;
    const B2: f32 = 2.268_434_6e-3;
    const B4: f32 = 1.185_347e-4;
    const B6: f32 = 1.198_258_4e-6;
    const CLAMP: f32 = 7.905_311;
    let c = x.clamp(-CLAMP, CLAMP);
    let x2 = c * c;
    let p = ((((((A13 * x2 + A11) * x2 + A9) * x2 + A7) * x2 + A5) * x2 + A3) * x2 + A1) * c;
    let q = ((B6 * x2 + B4) * x2 + B2) * x2 + B0;
    let t = p / q;
    if x.abs() < 4e-4 { x } else { t }
}

/// [`tanh_f32`] over a slice.
#[inline(always)]
fn tanh_slice_generic(h: &mut [f32]) {
    h.iter_mut().for_each(|x| *x = tanh_f32(*x));
}

/// [`tanh_slice_generic`] compiled for AVX2 (8 lanes; no FMA contraction, so the same bits as the
/// generic version).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn tanh_slice_avx2(h: &mut [f32]) {
    tanh_slice_generic(h)
}

/// [`tanh_slice_generic`] compiled for AVX-512 (16 lanes; same bits).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn tanh_slice_avx512(h: &mut [f32]) {
    tanh_slice_generic(h)
}

/// `h ← tanh(h)` element-wise with [`tanh_f32`], on AVX-512 or AVX2 when the CPU has them.
pub(crate) fn tanh_slice(h: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F, checked just above.
        unsafe { tanh_slice_avx512(h) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { tanh_slice_avx2(h) };
        return;
    }
    tanh_slice_generic(h)
}

/// Applies the activation in place.
pub(crate) fn activate(act: Activation, h: &mut [f32]) {
    match act {
        Activation::Tanh => tanh_slice(h),
        Activation::Relu => h.iter_mut().for_each(|x| *x = x.max(0.0)),
        // As `Activation::forward`: max(x, 0) + (exp(min(x, 0)) − 1).
        Activation::Elu => h.iter_mut().for_each(|x| *x = x.max(0.0) + (x.min(0.0).exp() - 1.0)),
        Activation::Identity => {}
    }
}

/// Multiplies the gradient `d` by the activation's derivative, given its output `h`.
pub(crate) fn activation_backward(act: Activation, h: &[f32], d: &mut [f32]) {
    match act {
        Activation::Tanh => d.iter_mut().zip(h).for_each(|(d, &h)| *d *= 1.0 - h * h),
        Activation::Relu => d.iter_mut().zip(h).for_each(|(d, &h)| {
            if h <= 0.0 {
                *d = 0.0
            }
        }),
        // h > 0 ⇔ x > 0 (derivative 1); else h = eˣ − 1, derivative eˣ = h + 1.
        Activation::Elu => d.iter_mut().zip(h).for_each(|(d, &h)| {
            if h <= 0.0 {
                *d *= h + 1.0
            }
        }),
        Activation::Identity => {}
    }
}

/// Forward pass of `net` (parameters `p`, the network's own slice) on `x` `[m, d_in]`; leaves
/// the hidden outputs and the output `[m, d_out]` in `buf`.
pub(crate) fn forward(net: &NetLayout, p: &[f32], x: &[f32], m: usize, buf: &mut NetBuffers) {
    let n_hidden = net.layers.len() - 1;
    for (l, layer) in net.layers.iter().enumerate() {
        let (d_in, d_out) = (layer.d_in, layer.d_out);
        let (prev, rest) = buf.hidden.split_at_mut(l.min(n_hidden));
        let input: &[f32] = if l == 0 { x } else { &prev[l - 1] };
        let out: &mut [f32] =
            if l < n_hidden { &mut rest[0][..m * d_out] } else { &mut buf.out[..m * d_out] };
        let bias = &p[layer.b..layer.b + d_out];
        for row in out.chunks_exact_mut(d_out) {
            row.copy_from_slice(bias);
        }
        gemm(m, d_in, d_out, input, (d_in, 1), &p[layer.w..layer.w + d_in * d_out], out, true);
        if l < n_hidden {
            activate(net.activation, out);
        }
    }
}

/// Backward pass of `net` after [`forward`] on `x`: `buf.delta[0][..m · d_out]` holds
/// `∂L/∂output`; writes `∂L/∂θ` into `g` (the network's own slice).
pub(crate) fn backward(net: &NetLayout, p: &[f32], g: &mut [f32], x: &[f32], m: usize, buf: &mut NetBuffers) {
    let mut cur = 0;
    for (l, layer) in net.layers.iter().enumerate().rev() {
        let (d_in, d_out) = (layer.d_in, layer.d_out);
        let input: &[f32] = if l == 0 { x } else { &buf.hidden[l - 1][..m * d_in] };
        let [d0, d1] = &mut buf.delta;
        let wt = &mut buf.wt;
        let (delta, next) = if cur == 0 { (&*d0, d1) } else { (&*d1, d0) };
        let delta = &delta[..m * d_out];
        // ∂W = inputᵀ δ: [d_in, m] · [m, d_out].
        gemm(d_in, m, d_out, input, (1, d_in), delta, &mut g[layer.w..layer.w + d_in * d_out], false);
        let gb = &mut g[layer.b..layer.b + d_out];
        gb.fill(0.0);
        for row in delta.chunks_exact(d_out) {
            gb.iter_mut().zip(row).for_each(|(s, v)| *s += v);
        }
        if l > 0 {
            // ∂input = δ Wᵀ: [m, d_out] · [d_out, d_in], then through the activation.
            let next = &mut next[..m * d_in];
            let w = &p[layer.w..layer.w + d_in * d_out];
            let wt = &mut wt[..d_out * d_in];
            for (q, row) in w.chunks_exact(d_out).enumerate() {
                for (o, &v) in row.iter().enumerate() {
                    wt[o * d_in + q] = v;
                }
            }
            gemm(m, d_out, d_in, delta, (d_out, 1), wt, next, false);
            activation_backward(net.activation, input, next);
            cur = 1 - cur;
        }
    }
}

/// Which policy head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Head {
    /// Logits over `k` actions.
    Categorical(usize),
    /// A mean over `d` dimensions and the shared `log_std`.
    Gaussian(usize),
}

/// The actor's side of a step: its buffers, and the per-row policy quantities.
#[derive(Debug, Clone)]
struct ActorSide {
    buf: NetBuffers,
    /// Log-probabilities of every action (categorical), `[rows, k]`.
    log_probs: Vec<f32>,
    /// Per-dimension log_std gradient (Gaussian).
    log_std_grad: Vec<f64>,
}

/// Sums of the policy side's diagnostics.
#[derive(Debug, Clone, Copy, Default)]
struct PolicySums {
    policy_loss: f64,
    entropy: f64,
    approx_kl: f64,
    clipped: f64,
}

/// The fused PPO engine: flat parameters, gradients, Adam state and preallocated buffers for up to
/// `rows` rows per pass. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct FusedPpo {
    layout: FusedLayout,
    head: Head,
    /// The parameters, in [`FusedLayout`] order.
    pub params: Vec<f32>,
    /// The gradient of the last [`Self::loss_and_grad`] (clipped in place by
    /// [`Self::clip_grad_norm`]).
    pub grads: Vec<f32>,
    /// Adam's state.
    pub adam: FusedAdam,
    rows: usize,
    actor: ActorSide,
    critic: NetBuffers,
    x: Vec<f32>,
    noise: Vec<f64>,
    parallel: bool,
}

impl FusedPpo {
    /// An engine with parameters `params` (laid out as `layout`), a fresh Adam state, and buffers
    /// for passes of up to `rows` rows.
    ///
    /// # Errors
    ///
    /// [`RlError::Shape`] when `params` does not fit `layout`; [`RlError::Invalid`] for a layout
    /// without layers or `rows = 0`.
    pub fn new(layout: FusedLayout, params: Vec<f32>, rows: usize) -> Result<Self, RlError> {
        super::check_len("fused parameters", params.len(), layout.len)?;
        if rows == 0 || layout.actor.d_out() == 0 {
            return Err(RlError::Invalid("fused PPO: needs rows > 0 and an actor output".into()));
        }
        let d = layout.actor.d_out();
        let head = if layout.log_std.is_some() { Head::Gaussian(d) } else { Head::Categorical(d) };
        let actor = ActorSide {
            buf: NetBuffers::new(&layout.actor, rows),
            log_probs: vec![0.0; rows * d],
            log_std_grad: vec![0.0; d],
        };
        Ok(Self {
            head,
            grads: vec![0.0; layout.len],
            adam: FusedAdam::new(layout.len),
            rows,
            critic: NetBuffers::new(&layout.critic, rows),
            actor,
            x: vec![0.0; rows * layout.actor.d_in()],
            noise: vec![0.0; rows * d],
            parallel: false,
            layout,
            params,
        })
    }

    /// The engine for `model`'s current parameters.
    ///
    /// # Errors
    ///
    /// As [`FusedLayout::of_model`] and [`Self::new`].
    pub fn from_model<B: Backend>(model: &ActorCritic<B>, rows: usize) -> Result<Self, RlError> {
        let layout = FusedLayout::of_model(model)?;
        let params = layout.read(model)?;
        Self::new(layout, params, rows)
    }

    /// The parameter layout.
    pub fn layout(&self) -> &FusedLayout {
        &self.layout
    }

    /// Run the critic's passes on a second thread during [`Self::loss_and_grad`] (results are
    /// identical either way).
    pub fn set_parallel(&mut self, parallel: bool) {
        self.parallel = parallel;
    }

    /// `model` with this engine's parameters written into it (see [`FusedLayout::write`]).
    ///
    /// # Errors
    ///
    /// When `model` does not have this engine's layout.
    pub fn write_into<B: Backend>(&self, model: ActorCritic<B>) -> Result<ActorCritic<B>, RlError> {
        self.layout.write(&self.params, model)
    }

    /// Whether every parameter is finite.
    pub fn params_finite(&self) -> bool {
        self.params.iter().all(|p| p.is_finite())
    }

    fn check_rows(&self, m: usize) -> Result<(), RlError> {
        if m == 0 || m > self.rows {
            return Err(RlError::Invalid(format!("fused PPO: {m} rows, buffers hold 1 to {}", self.rows)));
        }
        Ok(())
    }

    /// The PPO loss of `batch` under `cfg` and its gradient (into [`Self::grads`]).
    ///
    /// `batch` holds `len` rows with `obs` `[len, d_in]` and `actions` `[len, act_dim]` (a
    /// categorical action is its index as a float, `act_dim = 1`).
    ///
    /// # Errors
    ///
    /// [`RlError`] when the batch is empty, larger than the buffers, has the wrong lengths, or a
    /// categorical action is not an index below the number of actions.
    pub fn loss_and_grad(&mut self, batch: &Minibatch, cfg: &PpoLossConfig) -> Result<FusedLoss, RlError> {
        let m = batch.len;
        self.check_rows(m)?;
        let d_in = self.layout.actor.d_in();
        let act_dim = match self.head {
            Head::Categorical(_) => 1,
            Head::Gaussian(d) => d,
        };
        super::check_len("minibatch obs", batch.obs.len(), m * d_in)?;
        super::check_len("minibatch actions", batch.actions.len(), m * act_dim)?;
        for (what, v) in [
            ("minibatch log_probs", &batch.log_probs),
            ("minibatch values", &batch.values),
            ("minibatch advantages", &batch.advantages),
            ("minibatch returns", &batch.returns),
        ] {
            super::check_len(what, v.len(), m)?;
        }
        if let Head::Categorical(k) = self.head
            && let Some(a) =
                batch.actions.iter().find(|&&a| !(a >= 0.0 && (a as usize) < k && a.fract() == 0.0))
        {
            return Err(RlError::Invalid(format!("fused PPO: action {a} is not an index below {k}")));
        }

        let layout = &self.layout;
        let (actor_range, critic_range) = (layout.actor.range.clone(), layout.critic.range.clone());
        let (grads_actor, rest) = self.grads.split_at_mut(actor_range.end);
        let (grads_critic, grads_log_std) = rest.split_at_mut(critic_range.len());
        let params = &self.params;
        let log_std = layout.log_std.clone().map(|r| &params[r]);
        let actor_p = &params[actor_range];
        let critic_p = &params[critic_range];
        let (head, actor, critic) = (self.head, &mut self.actor, &mut self.critic);

        let (p, value_sum) = if self.parallel {
            std::thread::scope(|s| {
                let critic_job =
                    s.spawn(|| value_side(&layout.critic, critic_p, grads_critic, critic, batch, cfg));
                let p = policy_side(
                    &layout.actor,
                    head,
                    actor_p,
                    log_std,
                    grads_actor,
                    grads_log_std,
                    actor,
                    batch,
                    cfg,
                );
                (p, critic_job.join().expect("the critic pass does not panic"))
            })
        } else {
            let p = policy_side(
                &layout.actor,
                head,
                actor_p,
                log_std,
                grads_actor,
                grads_log_std,
                actor,
                batch,
                cfg,
            );
            (p, value_side(&layout.critic, critic_p, grads_critic, critic, batch, cfg))
        };

        let mf = m as f64;
        let (policy_loss, value_loss, entropy) = (p.policy_loss / mf, 0.5 * value_sum / mf, p.entropy / mf);
        Ok(FusedLoss {
            policy_loss,
            value_loss,
            entropy,
            approx_kl: p.approx_kl / mf,
            clip_frac: p.clipped / mf,
            total: policy_loss - cfg.ent_coef * entropy + cfg.vf_coef * value_loss,
        })
    }

    /// Global gradient-norm clipping as [`clip_grad_norm`](super::clip_grad_norm): when
    /// `‖g‖ > max_norm` every gradient is multiplied by `max_norm / (‖g‖ + 1e-6)`. Returns `‖g‖`
    /// before clipping.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> f64 {
        let total = self.grads.iter().map(|&g| f64::from(g) * f64::from(g)).sum::<f64>().sqrt();
        if total > max_norm {
            let coef = (max_norm / (total + 1e-6)) as f32;
            self.grads.iter_mut().for_each(|g| *g *= coef);
        }
        total
    }

    /// One Adam step with learning rate `lr` on the current gradients.
    pub fn adam_step(&mut self, lr: f64) {
        self.adam.step(&mut self.params, &self.grads, lr);
    }

    /// Samples one action per row for the observations `obs` `[m, d_in]` (`f64`, as the envs give
    /// them), as [`Categorical::sample`](crate::distributions::Categorical::sample) (Gumbel-max,
    /// `m · k` uniforms from `rng`) or
    /// [`DiagGaussian::sample`](crate::distributions::DiagGaussian::sample) (`μ + σ ε`, `m · d`
    /// Box–Muller normals) would, writing the actions `[m, act_dim]` (an index for a categorical
    /// policy), their log-probabilities `[m]` and the critic's values `[m]`.
    ///
    /// # Errors
    ///
    /// [`RlError`] when `m` exceeds the buffers or a slice has the wrong length.
    pub fn act(
        &mut self,
        obs: &[f64],
        rng: &mut Pcg64,
        actions: &mut [f64],
        log_probs: &mut [f64],
        values: &mut [f64],
    ) -> Result<(), RlError> {
        let m = log_probs.len();
        self.check_rows(m)?;
        let d_in = self.layout.actor.d_in();
        super::check_len("observations", obs.len(), m * d_in)?;
        super::check_len("values", values.len(), m)?;
        self.values_into(obs, values)?;
        let x = &self.x[..m * d_in];
        let actor_p = &self.params[self.layout.actor.range.clone()];
        forward(&self.layout.actor, actor_p, x, m, &mut self.actor.buf);
        let out = &self.actor.buf.out;
        match self.head {
            Head::Categorical(k) => {
                super::check_len("actions", actions.len(), m)?;
                let noise = &mut self.noise[..m * k];
                noise.iter_mut().for_each(|g| *g = -(-open_unit(rng).ln()).ln());
                for i in 0..m {
                    let z = &out[i * k..(i + 1) * k];
                    let lp = &mut self.actor.log_probs[i * k..(i + 1) * k];
                    log_softmax(z, lp);
                    // Gumbel-max in f32, the first maximum on ties (as argmax).
                    let mut best = 0;
                    let mut best_v = f32::NEG_INFINITY;
                    for (j, (&l, &g)) in lp.iter().zip(&noise[i * k..(i + 1) * k]).enumerate() {
                        let v = l + g as f32;
                        if v > best_v {
                            (best, best_v) = (j, v);
                        }
                    }
                    actions[i] = best as f64;
                    log_probs[i] = f64::from(lp[best]);
                }
            }
            Head::Gaussian(d) => {
                super::check_len("actions", actions.len(), m * d)?;
                let log_std = &self.params[self.layout.log_std.clone().expect("Gaussian head has log_std")];
                let noise = &mut self.noise[..m * d];
                fill_standard_normal(rng, noise);
                for i in 0..m {
                    let mut lp = 0.0f32;
                    for j in 0..d {
                        let (mu, s) = (out[i * d + j], log_std[j]);
                        let a = mu + s.exp() * noise[i * d + j] as f32;
                        let z = (a - mu) * (-s).exp();
                        lp += z * z * -0.5 - s;
                        actions[i * d + j] = f64::from(a);
                    }
                    log_probs[i] = f64::from(lp - (0.5 * LN_2PI * d as f64) as f32);
                }
            }
        }
        Ok(())
    }

    /// The critic's values `[m]` of observations `obs` `[m, d_in]`.
    ///
    /// # Errors
    ///
    /// [`RlError`] when `m` exceeds the buffers or `obs` has the wrong length.
    pub fn values_into(&mut self, obs: &[f64], values: &mut [f64]) -> Result<(), RlError> {
        let m = values.len();
        self.check_rows(m)?;
        let d_in = self.layout.critic.d_in();
        super::check_len("observations", obs.len(), m * d_in)?;
        self.x[..m * d_in].iter_mut().zip(obs).for_each(|(x, &o)| *x = o as f32);
        let critic_p = &self.params[self.layout.critic.range.clone()];
        forward(&self.layout.critic, critic_p, &self.x[..m * d_in], m, &mut self.critic);
        values.iter_mut().zip(&self.critic.out).for_each(|(v, &o)| *v = f64::from(o));
        Ok(())
    }
}

/// `out = z − logsumexp(z)`.
fn log_softmax(z: &[f32], out: &mut [f32]) {
    let mx = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = z.iter().map(|&v| (v - mx).exp()).sum();
    let lse = mx + sum.ln();
    out.iter_mut().zip(z).for_each(|(o, &v)| *o = v - lse);
}

/// The actor's forward pass, the policy part of the loss (`L_π − c_H H`), and its backward pass.
#[allow(clippy::too_many_arguments)]
fn policy_side(
    net: &NetLayout,
    head: Head,
    p: &[f32],
    log_std: Option<&[f32]>,
    g: &mut [f32],
    g_log_std: &mut [f32],
    side: &mut ActorSide,
    batch: &Minibatch,
    cfg: &PpoLossConfig,
) -> PolicySums {
    let m = batch.len;
    forward(net, p, &batch.obs, m, &mut side.buf);
    let eps = cfg.clip_coef as f32;
    let (lo, hi) = (1.0 - eps, 1.0 + eps);
    let inv_m = 1.0 / m as f32;
    let ent_w = cfg.ent_coef as f32 * inv_m;
    let mut sums = PolicySums::default();
    side.log_std_grad.iter_mut().for_each(|s| *s = 0.0);
    let d = net.d_out();
    let (out, dout) = (&side.buf.out, &mut side.buf.delta[0]);
    let gauss_const = (0.5 * LN_2PI * d as f64) as f32;
    for i in 0..m {
        let z = &out[i * d..(i + 1) * d];
        let dz = &mut dout[i * d..(i + 1) * d];
        let (new_lp, entropy) = match head {
            Head::Categorical(_) => {
                let lp = &mut side.log_probs[i * d..(i + 1) * d];
                log_softmax(z, lp);
                let h = -lp.iter().map(|&l| l.exp() * l).sum::<f32>();
                (lp[batch.actions[i] as usize], h)
            }
            Head::Gaussian(_) => {
                let s = log_std.expect("Gaussian head has log_std");
                let mut lp = 0.0f32;
                for j in 0..d {
                    let zz = (batch.actions[i * d + j] - z[j]) * (-s[j]).exp();
                    lp += zz * zz * -0.5 - s[j];
                }
                let h = s.iter().sum::<f32>() + (0.5 * (1.0 + LN_2PI) * d as f64) as f32;
                (lp - gauss_const, h)
            }
        };
        let adv = batch.advantages[i];
        let log_ratio = new_lp - batch.log_probs[i];
        let ratio = log_ratio.exp();
        let pg1 = -adv * ratio;
        let pg2 = -adv * ratio.clamp(lo, hi);
        sums.policy_loss += f64::from(pg1.max(pg2));
        sums.entropy += f64::from(entropy);
        sums.approx_kl += f64::from((ratio - 1.0) - log_ratio);
        if (ratio - 1.0).abs() > eps {
            sums.clipped += 1.0;
        }
        // ∂L_π/∂ log π_new: the unclipped branch carries −A ρ; the clipped one is flat in ρ
        // outside [1 − ε, 1 + ε] (inside, the two branches are equal).
        let g_lp = if pg1 >= pg2 { -adv * ratio * inv_m } else { 0.0 };
        match head {
            Head::Categorical(_) => {
                let a = batch.actions[i] as usize;
                let lp = &side.log_probs[i * d..(i + 1) * d];
                for (k, (dz, &l)) in dz.iter_mut().zip(lp).enumerate() {
                    let pk = l.exp();
                    let onehot = if k == a { 1.0 } else { 0.0 };
                    // ∂ log π(a)/∂z_k = 1[k = a] − π_k;  ∂H/∂z_k = −π_k (log π_k + H).
                    *dz = g_lp * (onehot - pk) + ent_w * pk * (l + entropy);
                }
            }
            Head::Gaussian(_) => {
                let s = log_std.expect("Gaussian head has log_std");
                for j in 0..d {
                    let inv_std = (-s[j]).exp();
                    let zz = (batch.actions[i * d + j] - z[j]) * inv_std;
                    // ∂ log p/∂μ = z/σ;  ∂ log p/∂ log σ = z² − 1;  ∂H/∂ log σ = 1.
                    dz[j] = g_lp * zz * inv_std;
                    side.log_std_grad[j] += f64::from(g_lp * (zz * zz - 1.0) - ent_w);
                }
            }
        }
    }
    for (gs, &s) in g_log_std.iter_mut().zip(&side.log_std_grad) {
        *gs = s as f32;
    }
    backward(net, p, g, &batch.obs, m, &mut side.buf);
    sums
}

/// The critic's forward pass, the value part of the loss (`c_V L_V`), and its backward pass;
/// returns `Σ` of the squared errors (the loss is half their mean).
fn value_side(
    net: &NetLayout,
    p: &[f32],
    g: &mut [f32],
    buf: &mut NetBuffers,
    batch: &Minibatch,
    cfg: &PpoLossConfig,
) -> f64 {
    let m = batch.len;
    forward(net, p, &batch.obs, m, buf);
    let w = (cfg.vf_coef / m as f64) as f32;
    let clip = cfg.value_clip.map(|c| c as f32);
    let mut sum = 0.0f64;
    let (out, dout) = (&buf.out, &mut buf.delta[0]);
    for i in 0..m {
        let (v, r) = (out[i], batch.returns[i]);
        let unclipped = (v - r) * (v - r);
        let (loss, grad) = match clip {
            None => (unclipped, v - r),
            Some(c) => {
                let old = batch.values[i];
                let delta = v - old;
                let v_clipped = old + delta.clamp(-c, c);
                let clipped = (v_clipped - r) * (v_clipped - r);
                if unclipped >= clipped {
                    (unclipped, v - r)
                } else {
                    // The clipped branch moves with V only inside [V_old − c, V_old + c].
                    (clipped, if delta.abs() <= c { v_clipped - r } else { 0.0 })
                }
            }
        };
        sum += f64::from(loss);
        // ∂(c_V · ½ mean(loss))/∂V_i = c_V · grad / m.
        dout[i] = w * grad;
    }
    backward(net, p, g, &batch.obs, m, buf);
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Cpu, CpuAutodiff};
    use crate::distributions::{Categorical, DiagGaussian};
    use crate::nn::{MlpConfig, POLICY_GAIN, VALUE_GAIN};
    use crate::rl::{PpoBatch, clip_grad_norm, ppo_loss};
    use burn::module::AutodiffModule;
    use burn::optim::{AdamConfig, GradientsParams, Optimizer};
    use burn::tensor::Int;
    use burn::tensor::backend::AutodiffBackend;
    use rand::{Rng, SeedableRng};

    const OBS: usize = 4;
    const ALL: [Activation; 4] = [Activation::Tanh, Activation::Relu, Activation::Elu, Activation::Identity];

    fn normal(rng: &mut Pcg64) -> f32 {
        let mut z = [0.0];
        fill_standard_normal(rng, &mut z);
        z[0] as f32
    }

    /// An actor-critic with orthogonal init, then every parameter (biases and `log_std`
    /// included) moved by `N(0, 0.3²)` so that nothing is at a special value.
    fn model<B: Backend>(act: Activation, d_actor: usize, gaussian: bool, seed: u64) -> ActorCritic<B> {
        let mut rng = Pcg64::seed_from_u64(seed);
        let device = Default::default();
        let net = |d_out, gain| {
            MlpConfig::new(OBS, vec![32, 24], d_out).with_activation(act).with_output_gain(gain)
        };
        let m = ActorCritic::<B> {
            critic: net(1, VALUE_GAIN).init_with_rng(&mut rng, &device),
            actor: net(d_actor, POLICY_GAIN).init_with_rng(&mut rng, &device),
            log_std: gaussian.then(|| Param::from_tensor(Tensor::zeros([d_actor], &device))),
        };
        let layout = FusedLayout::of_model(&m).unwrap();
        let mut p = layout.read(&m).unwrap();
        p.iter_mut().for_each(|x| *x += 0.3 * normal(&mut rng));
        layout.write(&p, m).unwrap()
    }

    fn floats<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
        t.into_data().convert::<f32>().into_vec::<f32>().unwrap()
    }

    fn t1<B: Backend>(v: &[f32]) -> Tensor<B, 1> {
        Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &Default::default())
    }

    fn t2<B: Backend>(v: &[f32], cols: usize) -> Tensor<B, 2> {
        Tensor::from_data(TensorData::new(v.to_vec(), [v.len() / cols, cols]), &Default::default())
    }

    /// The burn log-probs (of `actions`) and values of `model` on `obs`.
    fn burn_policy<B: Backend>(model: &ActorCritic<B>, obs: &[f32], actions: &[f32]) -> PpoBatch<B> {
        let x = t2::<B>(obs, OBS);
        let m = obs.len() / OBS;
        let out = model.actor.forward(x.clone());
        let (new_log_probs, entropy) = match &model.log_std {
            None => {
                let d = Categorical::new(out);
                let a = Tensor::<B, 1, Int>::from_data(
                    TensorData::new(actions.iter().map(|&a| a as i64).collect::<Vec<_>>(), [m]),
                    &Default::default(),
                );
                (d.log_prob(a), d.entropy())
            }
            Some(s) => {
                let d = DiagGaussian::with_shared_log_std(out, s.val());
                (d.log_prob(t2::<B>(actions, actions.len() / m)), d.entropy())
            }
        };
        let new_values = model.critic.forward(x).reshape([m]);
        PpoBatch {
            old_log_probs: new_log_probs.clone(),
            advantages: new_values.clone(),
            old_values: new_values.clone(),
            returns: new_values.clone(),
            new_log_probs,
            new_values,
            entropy,
        }
    }

    /// A random minibatch for `model`: old log-probs and values scattered around the current
    /// ones, so that some ratios and some values are clipped and some are not.
    fn batch(model: &ActorCritic<Cpu>, d_actor: usize, gaussian: bool, m: usize, seed: u64) -> Minibatch {
        let mut rng = Pcg64::seed_from_u64(seed);
        let act_dim = if gaussian { d_actor } else { 1 };
        let mut b = Minibatch::new(m, OBS, act_dim);
        b.len = m;
        b.obs = (0..m * OBS).map(|_| normal(&mut rng)).collect();
        b.actions = if gaussian {
            (0..m * act_dim).map(|_| 1.5 * normal(&mut rng)).collect()
        } else {
            (0..m).map(|_| rng.random_range(0..d_actor) as f32).collect()
        };
        let current = burn_policy(model, &b.obs, &b.actions);
        let lp = floats(current.new_log_probs);
        let v = floats(current.new_values);
        b.log_probs = lp.iter().map(|l| l + rng.random_range(-0.6..0.6)).collect();
        b.values = v.iter().map(|v| v + rng.random_range(-0.5..0.5)).collect();
        b.advantages = (0..m).map(|_| normal(&mut rng)).collect();
        b.returns = b.values.iter().map(|v| v + normal(&mut rng)).collect();
        b
    }

    /// Per-parameter gradients of burn's `ppo_loss` (module order), and the loss parts.
    fn burn_grads<B: AutodiffBackend>(
        model: &ActorCritic<B>,
        b: &Minibatch,
        cfg: &PpoLossConfig,
    ) -> (GradientsParams, [f64; 6]) {
        let cur = burn_policy(model, &b.obs, &b.actions);
        let loss = ppo_loss(
            PpoBatch {
                old_log_probs: t1(&b.log_probs),
                advantages: t1(&b.advantages),
                old_values: t1(&b.values),
                returns: t1(&b.returns),
                ..cur
            },
            cfg,
        );
        let parts = [
            &loss.policy_loss,
            &loss.value_loss,
            &loss.entropy,
            &loss.approx_kl,
            &loss.clip_fraction,
            &loss.total,
        ]
        .map(|t| f64::from(floats(t.clone().detach())[0]));
        (GradientsParams::from_grads(loss.total.backward(), model), parts)
    }

    /// The gradients in `grads` of `model`'s parameters, flattened in module order.
    fn flat_grads<B: AutodiffBackend>(model: &ActorCritic<B>, grads: &GradientsParams) -> Vec<Vec<f32>> {
        struct Collect<'a> {
            grads: &'a GradientsParams,
            out: Vec<Vec<f32>>,
        }
        impl<B: AutodiffBackend> ModuleVisitor<B> for Collect<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
                let g =
                    self.grads.get::<B::InnerBackend, D>(param.id).expect("every parameter has a gradient");
                self.out.push(floats(g));
            }
        }
        let mut c = Collect { grads, out: Vec::new() };
        model.visit(&mut c);
        c.out
    }

    /// `‖a − b‖ ≤ tol · ‖b‖` (plus a tiny absolute floor) for each parameter's slice.
    fn assert_close_per_param(fused: &[f32], layout: &FusedLayout, burn: &[Vec<f32>], tol: f64, what: &str) {
        let shapes = layout.shapes();
        assert_eq!(shapes.len(), burn.len(), "{what}: parameter count");
        let mut at = 0;
        for (k, (shape, want)) in shapes.iter().zip(burn).enumerate() {
            let got = &fused[at..at + shape.iter().product::<usize>()];
            at += got.len();
            assert_eq!(got.len(), want.len());
            let diff = got.iter().zip(want).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>().sqrt();
            let norm = want.iter().map(|b| f64::from(*b).powi(2)).sum::<f64>().sqrt();
            assert!(
                diff <= tol * norm + 1e-7,
                "{what}: parameter {k} {shape:?}: |Δ| {diff:e} vs |g| {norm:e}"
            );
        }
    }

    #[test]
    fn fast_tanh_is_within_a_few_ulp() {
        let mut worst = 0.0f64;
        let mut xs: Vec<f32> = (-200_000..=200_000).map(|i| i as f32 * 5e-5).collect();
        xs.extend([1e-30, -1e-8, 3.9e-4, 4.1e-4, 20.0, -1e4, f32::MAX, f32::MIN]);
        let mut fast = xs.clone();
        tanh_slice(&mut fast);
        for (&x, &t) in xs.iter().zip(&fast) {
            let exact = f64::from(x).tanh();
            assert_eq!(t, tanh_f32(x), "the slice and scalar versions agree at {x}");
            worst = worst.max((f64::from(t) - exact).abs() / exact.abs().max(1e-30));
        }
        assert!(worst < 6e-7, "relative error {worst:e}");
        assert!(tanh_f32(f32::NAN).is_nan());
        assert_eq!(tanh_f32(f32::INFINITY), 1.0);
    }

    #[test]
    fn matrix_products_match_a_reference_on_every_path() {
        let mut rng = Pcg64::seed_from_u64(21);
        // Shapes with full 16-column blocks, column tails, 8/4/1-row blocks, and k = 0.
        for (m, k, n) in [(13, 7, 37), (256, 64, 64), (4, 256, 64), (64, 256, 2), (9, 3, 1), (5, 0, 17)] {
            let a: Vec<f32> = (0..m * k).map(|_| normal(&mut rng)).collect();
            let b: Vec<f32> = (0..k * n).map(|_| normal(&mut rng)).collect();
            let c0: Vec<f32> = (0..m * n).map(|_| normal(&mut rng)).collect();
            // `a` row-major, and the same matrix stored transposed (read with swapped strides).
            let mut at = vec![0.0; m * k];
            for i in 0..m {
                for p in 0..k {
                    at[p * m + i] = a[i * k + p];
                }
            }
            for accumulate in [false, true] {
                let mut want = vec![0.0f64; m * n];
                for i in 0..m {
                    for j in 0..n {
                        let start = if accumulate { f64::from(c0[i * n + j]) } else { 0.0 };
                        want[i * n + j] = start
                            + (0..k).map(|p| f64::from(a[i * k + p]) * f64::from(b[p * n + j])).sum::<f64>();
                    }
                }
                let mut fast = c0.clone();
                gemm(m, k, n, &a, (k, 1), &b, &mut fast, accumulate);
                let mut transposed = c0.clone();
                gemm(m, k, n, &at, (1, m), &b, &mut transposed, accumulate);
                let mut generic = c0.clone();
                gemm_generic(m, k, n, &a, (k, 1), &b, &mut generic, accumulate);
                // The vectorised and the scalar paths give the same bits.
                assert_eq!(fast, generic, "{m}x{k}x{n}");
                assert_eq!(fast, transposed, "{m}x{k}x{n}");
                for (g, w) in fast.iter().zip(&want) {
                    assert!((f64::from(*g) - w).abs() < 1e-5 * (1.0 + k as f64), "{m}x{k}x{n}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn flat_round_trip_is_exact_and_in_module_order() {
        for gaussian in [false, true] {
            let a = model::<Cpu>(Activation::Tanh, 3, gaussian, 1);
            let b = model::<Cpu>(Activation::Tanh, 3, gaussian, 2);
            let layout = FusedLayout::of_model(&a).unwrap();
            let d = 3;
            let net = |out: usize| OBS * 32 + 32 + 32 * 24 + 24 + 24 * out + out;
            assert_eq!(layout.len, net(d) + net(1) + if gaussian { d } else { 0 });
            let pa = layout.read(&a).unwrap();
            // Writing a's parameters into b gives a's parameters back, bit for bit.
            let b = layout.write(&pa, b).unwrap();
            assert_eq!(layout.read(&b).unwrap(), pa);
            // The first block is the actor's first weight, row-major [d_in, d_out].
            assert_eq!(pa[..OBS * 32], floats(a.actor.hidden[0].weight.val())[..]);
            let critic_bias = floats(a.critic.output.bias.as_ref().unwrap().val());
            let cl = layout.critic.layers[2];
            assert_eq!(pa[layout.critic.range.start + cl.b], critic_bias[0]);
            if let (Some(r), Some(s)) = (&layout.log_std, &a.log_std) {
                assert_eq!(pa[r.clone()], floats(s.val())[..]);
            }
            assert!(layout.write(&pa[1..], b).is_err());
        }
        // A model of another shape is rejected.
        let small = model::<Cpu>(Activation::Tanh, 2, false, 1);
        let layout = FusedLayout::of_model(&model::<Cpu>(Activation::Tanh, 3, false, 1)).unwrap();
        assert!(layout.read(&small).is_err());
    }

    #[test]
    fn loss_and_gradients_match_burn_autodiff() {
        let cfg = PpoLossConfig { clip_coef: 0.2, value_clip: Some(0.2), vf_coef: 0.5, ent_coef: 0.01 };
        let mut cases = Vec::new();
        for (i, act) in ALL.into_iter().enumerate() {
            cases.push((act, 3, false, cfg));
            cases.push((act, 2, true, cfg));
            // No value clipping and another entropy weight for half of the cases.
            if i % 2 == 1 {
                let plain = PpoLossConfig { value_clip: None, ent_coef: 0.05, ..cfg };
                cases.push((act, 3, false, plain));
                cases.push((act, 2, true, plain));
            }
        }
        for (k, (act, d, gaussian, cfg)) in cases.into_iter().enumerate() {
            let what = format!("{act:?} d {d} gaussian {gaussian} clip {:?}", cfg.value_clip);
            let burn_model = model::<CpuAutodiff>(act, d, gaussian, 10 + k as u64);
            let b = batch(&burn_model.valid(), d, gaussian, 96, 20 + k as u64);
            let (grads, want) = burn_grads(&burn_model, &b, &cfg);
            let mut engine = FusedPpo::from_model(&burn_model, 128).unwrap();
            let got = engine.loss_and_grad(&b, &cfg).unwrap();
            let got = [got.policy_loss, got.value_loss, got.entropy, got.approx_kl, got.clip_frac, got.total];
            for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() <= 1e-4 * w.abs() + 1e-6, "{what}: loss part {j}: {g} vs {w}");
            }
            // Both branches of the surrogate (and of the value loss) are exercised.
            assert!(got[4] > 0.1 && got[4] < 0.9, "{what}: clip fraction {}", got[4]);
            assert_close_per_param(
                &engine.grads,
                engine.layout(),
                &flat_grads(&burn_model, &grads),
                1e-4,
                &what,
            );
        }
    }

    #[test]
    fn value_clipping_changes_the_critic_gradient() {
        // The check above could pass if both sides ignored value clipping; make sure it matters.
        let m = model::<Cpu>(Activation::Tanh, 3, false, 3);
        let b = batch(&m, 3, false, 64, 4);
        let clipped = PpoLossConfig::default();
        let mut e = FusedPpo::from_model(&m, 64).unwrap();
        let l1 = e.loss_and_grad(&b, &clipped).unwrap();
        let g1 = e.grads.clone();
        let l2 = e.loss_and_grad(&b, &PpoLossConfig { value_clip: None, ..clipped }).unwrap();
        assert!(l1.value_loss > l2.value_loss, "{} vs {}", l1.value_loss, l2.value_loss);
        let critic = e.layout().critic.range.clone();
        assert_ne!(g1[critic.clone()], e.grads[critic]);
        let actor = e.layout().actor.range.clone();
        assert_eq!(g1[actor.clone()], e.grads[actor]);
    }

    #[test]
    fn adam_and_clipping_steps_match_burn() {
        for (gaussian, max_norm) in [(false, 0.05), (true, 0.05), (false, 100.0)] {
            let d = if gaussian { 2 } else { 3 };
            let mut burn_model = model::<CpuAutodiff>(Activation::Tanh, d, gaussian, 5);
            let b = batch(&burn_model.valid(), d, gaussian, 64, 6);
            let cfg = PpoLossConfig::default();
            let mut optim =
                AdamConfig::new().with_epsilon(1e-5).init::<CpuAutodiff, ActorCritic<CpuAutodiff>>();
            let mut engine = FusedPpo::from_model(&burn_model, 64).unwrap();
            for step in 0..6 {
                let lr = 3e-3 * (1.0 - step as f64 / 10.0);
                let (mut grads, _) = burn_grads(&burn_model, &b, &cfg);
                let norm_burn = clip_grad_norm(&burn_model, &mut grads, max_norm);
                burn_model = optim.step(lr, burn_model, grads);

                engine.loss_and_grad(&b, &cfg).unwrap();
                let norm = engine.clip_grad_norm(max_norm);
                assert!((norm - norm_burn).abs() <= 1e-4 * norm_burn, "step {step}: {norm} vs {norm_burn}");
                // The clipping case clips, the other does not.
                assert_eq!(norm > max_norm, max_norm < 1.0, "step {step}: norm {norm}");
                engine.adam_step(lr);

                let want = FusedLayout::of_model(&burn_model).unwrap().read(&burn_model).unwrap();
                let worst = engine
                    .params
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| f64::from((a - b).abs()) / f64::from(b.abs()).max(1.0))
                    .fold(0.0, f64::max);
                assert!(worst < 1e-4, "gaussian {gaussian} max_norm {max_norm} step {step}: {worst:e}");
            }
            assert_eq!(engine.adam.time, 6);
        }
    }

    #[test]
    fn adam_state_round_trips_and_rejects_other_bytes() {
        let m = model::<Cpu>(Activation::Relu, 2, true, 7);
        let b = batch(&m, 2, true, 32, 8);
        let mut e = FusedPpo::from_model(&m, 32).unwrap();
        for _ in 0..3 {
            e.loss_and_grad(&b, &PpoLossConfig::default()).unwrap();
            e.clip_grad_norm(0.5);
            e.adam_step(1e-3);
        }
        let bytes = e.adam.to_bytes();
        assert_eq!(FusedAdam::from_bytes(&bytes, e.layout().len).unwrap(), e.adam);
        assert!(FusedAdam::from_bytes(&bytes, e.layout().len + 1).is_err());
        assert!(FusedAdam::from_bytes(&bytes[..bytes.len() - 1], e.layout().len).is_err());
        // A burn MessagePack record starts with a map marker, not the magic.
        let err = FusedAdam::from_bytes(&[0x82, 0xa4, b'i'], e.layout().len).unwrap_err();
        assert!(err.to_string().contains("burn engine"), "{err}");
    }

    #[test]
    fn same_inputs_give_bit_identical_runs_serial_or_parallel() {
        let run = |parallel: bool| {
            let m = model::<Cpu>(Activation::Tanh, 2, false, 9);
            let b = batch(&m, 2, false, 128, 10);
            let mut e = FusedPpo::from_model(&m, 128).unwrap();
            e.set_parallel(parallel);
            let mut losses = Vec::new();
            for _ in 0..4 {
                losses.push(e.loss_and_grad(&b, &PpoLossConfig::default()).unwrap().total.to_bits());
                e.clip_grad_norm(0.5);
                e.adam_step(1e-3);
            }
            let mut rng = Pcg64::seed_from_u64(3);
            let obs: Vec<f64> = (0..8 * OBS).map(|i| (i as f64 * 0.37).sin()).collect();
            let (mut a, mut lp, mut v) = (vec![0.0; 8], vec![0.0; 8], vec![0.0; 8]);
            e.act(&obs, &mut rng, &mut a, &mut lp, &mut v).unwrap();
            (losses, e.params, a, lp, v)
        };
        let first = run(false);
        assert_eq!(first, run(false));
        assert_eq!(first, run(true));
    }

    #[test]
    fn acting_matches_burn_sampling_with_the_same_stream() {
        for gaussian in [false, true] {
            let d = if gaussian { 2 } else { 3 };
            let m = model::<Cpu>(Activation::Tanh, d, gaussian, 11);
            let rows = 8;
            let mut rng = Pcg64::seed_from_u64(12);
            let obs: Vec<f64> = (0..rows * OBS).map(|_| f64::from(normal(&mut rng))).collect();
            let act_dim = if gaussian { d } else { 1 };
            let (mut a, mut lp, mut v) = (vec![0.0; rows * act_dim], vec![0.0; rows], vec![0.0; rows]);
            let mut e = FusedPpo::from_model(&m, rows).unwrap();
            let mut rng_fused = Pcg64::seed_from_u64(13);
            e.act(&obs, &mut rng_fused, &mut a, &mut lp, &mut v).unwrap();

            let x: Vec<f32> = obs.iter().map(|&o| o as f32).collect();
            let mut rng_burn = Pcg64::seed_from_u64(13);
            let out = m.actor.forward(t2::<Cpu>(&x, OBS));
            let want_a: Vec<f32> = match &m.log_std {
                None => floats(Categorical::new(out).sample(&mut rng_burn).float()),
                Some(s) => floats(DiagGaussian::with_shared_log_std(out, s.val()).sample(&mut rng_burn)),
            };
            // The same stream is consumed.
            assert_eq!(rng_fused, rng_burn);
            for (g, w) in a.iter().zip(&want_a) {
                assert!((g - f64::from(*w)).abs() < 1e-5, "gaussian {gaussian}: {g} vs {w}");
            }
            let a32: Vec<f32> = a.iter().map(|&v| v as f32).collect();
            let cur = burn_policy(&m, &x, &a32);
            for (g, w) in lp.iter().zip(floats(cur.new_log_probs)).chain(v.iter().zip(floats(cur.new_values)))
            {
                assert!((g - f64::from(w)).abs() < 1e-5 * (1.0 + w.abs() as f64), "{g} vs {w}");
            }
        }
    }
}
