//! A fused CPU engine for SAC's gradient updates: the twin-critic update, the actor and
//! temperature updates, the Polyak target update and the exploration policy, hand-written on flat
//! `f32` buffers with the pieces of [`super::fused`] (the deterministic FMA matrix kernel, MLP
//! forward/backward passes, [`FusedAdam`]).
//!
//! With rl-zoo's Pendulum-v1 settings (256-256 ReLU networks, batch 256) one update is about
//! 0.55 GFLOP of small matrix products; through burn's autodiff graph it also pays per-operation
//! overhead (graph nodes, allocations, host reads). Here nothing is allocated per update, and the
//! two Q networks (and their targets), which share no parameters, can run on two threads
//! ([`FusedSac::set_parallel`]): each thread owns one network's parameters, gradients, Adam state
//! and buffers, so the result is the same bits whether or not it runs in parallel.
//!
//! The math is [`crate::sac`]'s, in the same order and with the same random-number consumption:
//!
//! - critic ([`FusedSac::critic_step`]): `a' ~ π(·|s')` reparameterised (`m · D` normals from the
//!   update stream), `y = r + γ (1 − terminated) (min(Q'₁, Q'₂)(s', a') − α log π(a'|s'))`, loss
//!   `mean((Q₁ − y)²) + mean((Q₂ − y)²)`, one Adam step on both critics;
//! - actor ([`FusedSac::actor_step`]): `ã = s ⊙ tanh(μ + σ ε) + b` (`m · D` normals), loss
//!   `mean(α log π(ã|s) − min(Q₁, Q₂)(s, ã))` with the updated critics, one Adam step;
//! - temperature ([`FusedSac::temperature_step`]): loss `mean(−exp(log α) (log π + H̄))` with the
//!   actor step's `log π` (detached), one Adam step;
//! - [`FusedSac::polyak`]: `θ' ← τ θ + (1 − τ) θ'` as [`polyak_update`](super::polyak_update).
//!
//! The actor's head is [`crate::sac::Actor`]'s: outputs `[μ | r]`, `log σ = LOG_STD_MIN + ½
//! (LOG_STD_MAX − LOG_STD_MIN)(tanh r + 1)`, and the action `s ⊙ tanh(u) + b` with the box's
//! half-width `s` and centre `b`; `log π` is the change-of-variables density of
//! [`TanhGaussian::log_prob_pre_tanh`](crate::distributions::TanhGaussian::log_prob_pre_tanh)
//! with the stable `log(1 − tanh²u) = 2 (ln 2 − u − softplus(−2u))`.

use std::f32::consts::LN_2;

use rand_pcg::Pcg64;

use super::fused::{NetBuffers, NetLayout, activate, activation_backward, backward, forward, gemm};
use super::{FusedAdam, ReplayBatch, RlError, check_len};
use crate::distributions::{LN_2PI, fill_standard_normal};
use crate::nn::Activation;
use crate::sac::{LOG_STD_MAX, LOG_STD_MIN};

/// The parameter shapes of one MLP in burn's module order (each layer's weight `[d_in, d_out]`,
/// then its bias).
fn net_shapes(net: &NetLayout) -> Vec<Vec<usize>> {
    net.layers.iter().flat_map(|l| [vec![l.d_in, l.d_out], vec![l.d_out]]).collect()
}

fn net_len(net: &NetLayout) -> usize {
    net.range.len()
}

pub use super::fused::{read_module, write_module};

/// The sizes of a SAC problem: an actor `obs_dim → hidden → 2D` and Q networks
/// `obs_dim + D → hidden → 1`, all with `activation` after each hidden layer.
#[derive(Debug, Clone, PartialEq)]
pub struct SacLayout {
    /// The actor (`obs → [μ | raw log σ]`).
    pub actor: NetLayout,
    /// One Q network (`[obs | action] → Q`); the twin critics are two of them, `Q₁` first.
    pub q: NetLayout,
    /// Observation width.
    pub obs_dim: usize,
    /// Action dimension `D`.
    pub act_dim: usize,
}

impl SacLayout {
    /// The layout for these widths.
    pub fn new(obs_dim: usize, act_dim: usize, hidden: &[usize], activation: Activation) -> Self {
        Self {
            actor: NetLayout::new(obs_dim, hidden, 2 * act_dim, activation, 0),
            q: NetLayout::new(obs_dim + act_dim, hidden, 1, activation, 0),
            obs_dim,
            act_dim,
        }
    }

    /// Parameter shapes of the actor module ([`crate::sac::Actor`]), in module order.
    pub fn actor_shapes(&self) -> Vec<Vec<usize>> {
        net_shapes(&self.actor)
    }

    /// Parameter shapes of the twin critics ([`crate::sac::TwinQ`]: `Q₁` then `Q₂`).
    pub fn critic_shapes(&self) -> Vec<Vec<usize>> {
        let one = net_shapes(&self.q);
        one.iter().chain(&one).cloned().collect()
    }

    /// Number of actor parameters.
    pub fn actor_len(&self) -> usize {
        net_len(&self.actor)
    }

    /// Number of parameters of one Q network.
    pub fn q_len(&self) -> usize {
        net_len(&self.q)
    }
}

/// One Q network's side of the engine: buffers for its online and target passes, its gradient
/// and the input gradient of the actor step.
#[derive(Debug, Clone)]
struct QSide {
    online: NetBuffers,
    target: NetBuffers,
    grads: Vec<f32>,
    /// `∂(−Q/m)/∂action`, `[rows, D]`.
    dx: Vec<f32>,
}

/// One Q network's mutable state, handed to a thread.
struct QJob<'a> {
    params: &'a mut [f32],
    target: &'a mut [f32],
    adam: &'a mut FusedAdam,
    side: &'a mut QSide,
}

/// The per-row quantities of one reparameterised actor sample, kept for its backward pass.
#[derive(Debug, Clone)]
struct Sample {
    /// `ε` as drawn (f64, Box–Muller).
    noise: Vec<f64>,
    /// `log σ` `[rows, D]`.
    log_std: Vec<f32>,
    /// `tanh r` of the raw log-std output `[rows, D]`.
    tanh_raw: Vec<f32>,
    /// `u = μ + σ ε` `[rows, D]`.
    u: Vec<f32>,
    /// `tanh u` `[rows, D]`.
    tanh_u: Vec<f32>,
    /// `log π` `[rows]`.
    log_prob: Vec<f32>,
}

/// The fused SAC engine: flat parameters of the actor, the twin critics and their targets, and
/// `log α`, with their Adam states and buffers for batches (and acting) of up to `rows` rows.
/// See the [module docs](self).
#[derive(Debug, Clone)]
pub struct FusedSac {
    layout: SacLayout,
    /// Half-widths `s` of the action box `[D]`.
    scale: Vec<f32>,
    /// Centres `b` of the action box `[D]`.
    bias: Vec<f32>,
    /// `Σ_d ln s_d`.
    log_scale_sum: f32,
    /// Actor parameters (burn module order).
    pub actor: Vec<f32>,
    /// Twin critic parameters, `Q₁` then `Q₂` (burn module order of [`crate::sac::TwinQ`]).
    pub critics: Vec<f32>,
    /// Target critic parameters, as [`Self::critics`].
    pub targets: Vec<f32>,
    /// `[log α]`.
    pub log_alpha: Vec<f32>,
    /// The actor's Adam state.
    pub actor_adam: FusedAdam,
    /// The Adam states of `Q₁` and `Q₂` (one burn Adam over both, split per network).
    pub q_adam: [FusedAdam; 2],
    /// The temperature's Adam state.
    pub alpha_adam: FusedAdam,
    rows: usize,
    actor_buf: NetBuffers,
    actor_grads: Vec<f32>,
    alpha_grad: Vec<f32>,
    q: [QSide; 2],
    sample: Sample,
    /// `[obs | action]` inputs of the critics `[rows, obs_dim + D]`.
    x: Vec<f32>,
    /// The online critics' input `[s | a]` of the critic step `[rows, obs_dim + D]`.
    x_sa: Vec<f32>,
    /// Critic targets `y` `[rows]`.
    y: Vec<f32>,
    /// Observations as `f32` for acting.
    obs32: Vec<f32>,
    parallel: bool,
    /// Layers of at least this many multiply-adds split over two threads when `parallel`.
    split_min_macs: usize,
}

/// Runs `f` on both Q networks' jobs, on two threads when `parallel` (same result either way:
/// each job touches only its own network's state).
fn both<F: Fn(usize, &mut QJob<'_>) + Sync>(parallel: bool, jobs: &mut [QJob<'_>; 2], f: F) {
    let [a, b] = jobs;
    if parallel {
        std::thread::scope(|s| {
            let f = &f;
            let handle = s.spawn(move || f(1, b));
            f(0, a);
            handle.join().expect("a Q-network pass does not panic");
        });
    } else {
        f(0, a);
        f(1, b);
    }
}

/// `softplus(x) = max(x, 0) + ln(1 + e^(−|x|))`.
fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Backpropagates `buf.delta[0][..m · d_out]` (`∂L/∂output` after [`forward`]) to the last
/// `out_cols` input columns, `out` `[m, out_cols]`, without parameter gradients.
fn backward_input(
    net: &NetLayout,
    p: &[f32],
    m: usize,
    buf: &mut NetBuffers,
    out_cols: usize,
    out: &mut [f32],
) {
    let mut cur = 0;
    for (l, layer) in net.layers.iter().enumerate().rev() {
        let (d_in, d_out) = (layer.d_in, layer.d_out);
        let [d0, d1] = &mut buf.delta;
        let (delta, next) = if cur == 0 { (&*d0, d1) } else { (&*d1, d0) };
        let delta = &delta[..m * d_out];
        let w = &p[layer.w..layer.w + d_in * d_out];
        let wt = &mut buf.wt;
        if l > 0 {
            // ∂input = δ Wᵀ, then through the activation.
            let wt = &mut wt[..d_out * d_in];
            transpose_rows(w, d_out, 0, wt);
            let next = &mut next[..m * d_in];
            gemm(m, d_out, d_in, delta, (d_out, 1), wt, next, false);
            activation_backward(net.activation, &buf.hidden[l - 1][..m * d_in], next);
            cur = 1 - cur;
        } else {
            // Only the last `out_cols` rows of W (the action inputs): δ W[first..]ᵀ.
            let first = d_in - out_cols;
            let wt = &mut wt[..d_out * out_cols];
            transpose_rows(w, d_out, first, wt);
            gemm(m, d_out, out_cols, delta, (d_out, 1), wt, &mut out[..m * out_cols], false);
        }
    }
}

/// `wt[o, q] = w[q, o]` for the rows `first..` of `w` `[rows, d_out]`: `wt` is `[d_out, rows − first]`.
/// In 16×16 tiles, so that the strided side stays in cache (a plain loop over a 256×256 weight
/// misses on every write).
fn transpose_rows(w: &[f32], d_out: usize, first: usize, wt: &mut [f32]) {
    const TILE: usize = 16;
    let rows = w.len() / d_out - first;
    for q0 in (0..rows).step_by(TILE) {
        for o0 in (0..d_out).step_by(TILE) {
            for q in q0..(q0 + TILE).min(rows) {
                let src = &w[(first + q) * d_out..(first + q + 1) * d_out];
                for o in o0..(o0 + TILE).min(d_out) {
                    wt[o * rows + q] = src[o];
                }
            }
        }
    }
}

/// Below this many multiply-adds (≈ 25 µs on one core) a layer's two halves run on one thread:
/// starting a thread costs more than it saves. Only the 256×256 layers of a batch of 256 split.
const SPLIT_MIN_MACS: usize = 1 << 20;

/// [`forward`], with the rows of each layer of at least `split` multiply-adds divided over two
/// threads (`None`: one thread): every output is the same chain of fused multiply-adds either
/// way, so the result is the same bits.
fn forward_split(
    net: &NetLayout,
    p: &[f32],
    x: &[f32],
    m: usize,
    buf: &mut NetBuffers,
    split: Option<usize>,
) {
    let Some(min_macs) = split.filter(|_| m >= 2) else {
        return forward(net, p, x, m, buf);
    };
    let h = m / 2;
    let n_hidden = net.layers.len() - 1;
    for (l, layer) in net.layers.iter().enumerate() {
        let (d_in, d_out) = (layer.d_in, layer.d_out);
        let (prev, rest) = buf.hidden.split_at_mut(l.min(n_hidden));
        let input: &[f32] = if l == 0 { &x[..m * d_in] } else { &prev[l - 1][..m * d_in] };
        let out: &mut [f32] =
            if l < n_hidden { &mut rest[0][..m * d_out] } else { &mut buf.out[..m * d_out] };
        let (w, bias) = (&p[layer.w..layer.w + d_in * d_out], &p[layer.b..layer.b + d_out]);
        let job = |input: &[f32], out: &mut [f32]| {
            for row in out.chunks_exact_mut(d_out) {
                row.copy_from_slice(bias);
            }
            gemm(out.len() / d_out, d_in, d_out, input, (d_in, 1), w, out, true);
            if l < n_hidden {
                activate(net.activation, out);
            }
        };
        if m * d_in * d_out < min_macs {
            job(input, out);
            continue;
        }
        let (o1, o2) = out.split_at_mut(h * d_out);
        let (i1, i2) = input.split_at(h * d_in);
        std::thread::scope(|s| {
            let handle = s.spawn(|| job(i2, o2));
            job(i1, o1);
            handle.join().expect("a forward half does not panic");
        });
    }
}

/// [`backward`], with the weight gradient of each layer of at least `split` multiply-adds computed
/// on a second thread while the first backpropagates the layer's input gradient (`None`: one
/// thread; the same operations either way, so the same bits).
fn backward_split(
    net: &NetLayout,
    p: &[f32],
    g: &mut [f32],
    x: &[f32],
    m: usize,
    buf: &mut NetBuffers,
    split: Option<usize>,
) {
    let Some(min_macs) = split else {
        return backward(net, p, g, x, m, buf);
    };
    let mut cur = 0;
    for (l, layer) in net.layers.iter().enumerate().rev() {
        let (d_in, d_out) = (layer.d_in, layer.d_out);
        let input: &[f32] = if l == 0 { &x[..m * d_in] } else { &buf.hidden[l - 1][..m * d_in] };
        let [d0, d1] = &mut buf.delta;
        let (delta, next) = if cur == 0 { (&*d0, d1) } else { (&*d1, d0) };
        let delta = &delta[..m * d_out];
        let (gw, rest) = g[layer.w..].split_at_mut(d_in * d_out);
        let gb = &mut rest[..d_out];
        // ∂W = inputᵀ δ and ∂b = Σ_rows δ, as `backward`.
        let mut grad_job = || {
            gemm(d_in, m, d_out, input, (1, d_in), delta, gw, false);
            gb.fill(0.0);
            for row in delta.chunks_exact(d_out) {
                gb.iter_mut().zip(row).for_each(|(s, v)| *s += v);
            }
        };
        if l == 0 {
            grad_job();
            continue;
        }
        let w = &p[layer.w..layer.w + d_in * d_out];
        let wt = &mut buf.wt[..d_out * d_in];
        let next = &mut next[..m * d_in];
        // ∂input = δ Wᵀ, then through the activation.
        let mut delta_job = || {
            transpose_rows(w, d_out, 0, wt);
            gemm(m, d_out, d_in, delta, (d_out, 1), wt, next, false);
            activation_backward(net.activation, input, next);
        };
        if m * d_in * d_out < min_macs {
            grad_job();
            delta_job();
        } else {
            std::thread::scope(|s| {
                let handle = s.spawn(grad_job);
                delta_job();
                handle.join().expect("a weight-gradient pass does not panic");
            });
        }
        cur = 1 - cur;
    }
}

impl FusedSac {
    /// An engine with the given parameters (actor, twin critics, targets, `log α`), fresh Adam
    /// states with `ε = adam_epsilon`, the action box `(low, high)`, and buffers for up to `rows`
    /// rows.
    ///
    /// # Errors
    ///
    /// [`RlError`] when a parameter vector does not fit `layout`, the box does not have `D`
    /// finite bounds with `high > low`, or `rows = 0`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        layout: SacLayout,
        actor: Vec<f32>,
        critics: Vec<f32>,
        targets: Vec<f32>,
        log_alpha: f32,
        low: &[f64],
        high: &[f64],
        adam_epsilon: f64,
        rows: usize,
    ) -> Result<Self, RlError> {
        let d = layout.act_dim;
        check_len("fused SAC actor", actor.len(), layout.actor_len())?;
        check_len("fused SAC critics", critics.len(), 2 * layout.q_len())?;
        check_len("fused SAC targets", targets.len(), 2 * layout.q_len())?;
        check_len("action low", low.len(), d)?;
        check_len("action high", high.len(), d)?;
        if rows == 0 || d == 0 {
            return Err(RlError::Invalid("fused SAC: needs rows > 0 and an action dimension".into()));
        }
        if !low.iter().zip(high).all(|(l, h)| l.is_finite() && h.is_finite() && h > l) {
            return Err(RlError::Invalid(
                "fused SAC: the action box needs finite bounds with high > low".into(),
            ));
        }
        // As `TanhGaussian::with_bounds`: f64 half-widths and centres, converted to f32.
        let scale64: Vec<f64> = low.iter().zip(high).map(|(l, h)| 0.5 * (h - l)).collect();
        let bias: Vec<f32> = low.iter().zip(high).map(|(l, h)| (0.5 * (h + l)) as f32).collect();
        let log_scale_sum = scale64.iter().map(|s| s.ln()).sum::<f64>() as f32;
        let adam = |len: usize| FusedAdam { epsilon: adam_epsilon as f32, ..FusedAdam::new(len) };
        let q_side = || QSide {
            online: NetBuffers::new(&layout.q, rows),
            target: NetBuffers::new(&layout.q, rows),
            grads: vec![0.0; layout.q_len()],
            dx: vec![0.0; rows * d],
        };
        let per_row = vec![0.0f32; rows * d];
        Ok(Self {
            scale: scale64.iter().map(|&s| s as f32).collect(),
            bias,
            log_scale_sum,
            actor_adam: adam(layout.actor_len()),
            q_adam: [adam(layout.q_len()), adam(layout.q_len())],
            alpha_adam: adam(1),
            rows,
            actor_buf: NetBuffers::new(&layout.actor, rows),
            actor_grads: vec![0.0; layout.actor_len()],
            alpha_grad: vec![0.0],
            q: [q_side(), q_side()],
            sample: Sample {
                noise: vec![0.0; rows * d],
                log_std: per_row.clone(),
                tanh_raw: per_row.clone(),
                u: per_row.clone(),
                tanh_u: per_row,
                log_prob: vec![0.0; rows],
            },
            x: vec![0.0; rows * (layout.obs_dim + d)],
            x_sa: vec![0.0; rows * (layout.obs_dim + d)],
            y: vec![0.0; rows],
            obs32: vec![0.0; rows * layout.obs_dim],
            parallel: false,
            split_min_macs: SPLIT_MIN_MACS,
            actor,
            critics,
            targets,
            log_alpha: vec![log_alpha],
            layout,
        })
    }

    /// The layout.
    pub fn layout(&self) -> &SacLayout {
        &self.layout
    }

    /// Run the two Q networks' passes on two threads (results are identical either way).
    pub fn set_parallel(&mut self, parallel: bool) {
        self.parallel = parallel;
    }

    /// The twin critics' Adam state as one state over [`Self::critics`] (burn's view: one Adam
    /// over the `TwinQ` module).
    pub fn critic_adam(&self) -> FusedAdam {
        let [a, b] = &self.q_adam;
        FusedAdam {
            moment_1: a.moment_1.iter().chain(&b.moment_1).copied().collect(),
            moment_2: a.moment_2.iter().chain(&b.moment_2).copied().collect(),
            ..a.clone()
        }
    }

    /// Sets the twin critics' Adam state from one state over [`Self::critics`].
    ///
    /// # Errors
    ///
    /// [`RlError::Shape`] when `adam` is not for `2 · q_len` parameters.
    pub fn set_critic_adam(&mut self, adam: FusedAdam) -> Result<(), RlError> {
        let n = self.layout.q_len();
        check_len("critic Adam state", adam.moment_1.len(), 2 * n)?;
        check_len("critic Adam state", adam.moment_2.len(), 2 * n)?;
        let part = |r: std::ops::Range<usize>| FusedAdam {
            moment_1: adam.moment_1[r.clone()].to_vec(),
            moment_2: adam.moment_2[r].to_vec(),
            ..adam.clone()
        };
        self.q_adam = [part(0..n), part(n..2 * n)];
        Ok(())
    }

    fn check_rows(&self, m: usize) -> Result<(), RlError> {
        if m == 0 || m > self.rows {
            return Err(RlError::Invalid(format!("fused SAC: {m} rows, buffers hold 1 to {}", self.rows)));
        }
        Ok(())
    }

    fn check_batch(&self, b: &ReplayBatch) -> Result<usize, RlError> {
        let (m, o, d) = (b.len, self.layout.obs_dim, self.layout.act_dim);
        self.check_rows(m)?;
        check_len("batch obs", b.obs.len(), m * o)?;
        check_len("batch next_obs", b.next_obs.len(), m * o)?;
        check_len("batch actions", b.actions.len(), m * d)?;
        check_len("batch rewards", b.rewards.len(), m)?;
        check_len("batch terminated", b.terminated.len(), m)?;
        Ok(m)
    }

    /// Actor forward on `obs` `[m, obs_dim]`, `m · D` normals from `rng`, the reparameterised
    /// actions into the action columns of `self.x` (observations into the others) and the
    /// per-row quantities into `self.sample`.
    fn sample_actions(&mut self, obs: &[f32], m: usize, rng: &mut Pcg64) {
        let (o, d) = (self.layout.obs_dim, self.layout.act_dim);
        let split = self.parallel.then_some(self.split_min_macs);
        forward_split(&self.layout.actor, &self.actor, obs, m, &mut self.actor_buf, split);
        let s = &mut self.sample;
        fill_standard_normal(rng, &mut s.noise[..m * d]);
        let half_range = (0.5 * (LOG_STD_MAX - LOG_STD_MIN)) as f32;
        let (min, gauss_const) = (LOG_STD_MIN as f32, (0.5 * LN_2PI * d as f64) as f32);
        let out = &self.actor_buf.out;
        let w = o + d;
        for i in 0..m {
            self.x[i * w..i * w + o].copy_from_slice(&obs[i * o..(i + 1) * o]);
            let (mut base, mut log_det) = (0.0f32, 0.0f32);
            for j in 0..d {
                let k = i * d + j;
                let (mean, raw) = (out[i * 2 * d + j], out[i * 2 * d + d + j]);
                let th = raw.tanh();
                let ls = (th + 1.0) * half_range + min;
                let u = mean + ls.exp() * s.noise[k] as f32;
                let t = u.tanh();
                self.x[i * w + o + j] = t * self.scale[j] + self.bias[j];
                let z = (u - mean) * (-ls).exp();
                base += z * z * -0.5 - ls;
                log_det += (LN_2 - (u + softplus(-2.0 * u))) * 2.0;
                (s.tanh_raw[k], s.log_std[k], s.u[k], s.tanh_u[k]) = (th, ls, u, t);
            }
            s.log_prob[i] = (base - gauss_const) - (log_det + self.log_scale_sum);
        }
    }

    /// The Q jobs over the current parameters.
    fn jobs(&mut self) -> [QJob<'_>; 2] {
        let n = self.layout.q_len();
        let (p1, p2) = self.critics.split_at_mut(n);
        let (t1, t2) = self.targets.split_at_mut(n);
        let [a1, a2] = &mut self.q_adam;
        let [s1, s2] = &mut self.q;
        [
            QJob { params: p1, target: t1, adam: a1, side: s1 },
            QJob { params: p2, target: t2, adam: a2, side: s2 },
        ]
    }

    /// One critic update on `batch` with temperature `alpha`, discount `gamma` and learning rate
    /// `lr`, drawing the next actions' noise from `rng`. Returns the loss
    /// `mean((Q₁ − y)²) + mean((Q₂ − y)²)`.
    ///
    /// # Errors
    ///
    /// [`RlError`] when the batch has the wrong sizes.
    pub fn critic_step(
        &mut self,
        batch: &ReplayBatch,
        alpha: f64,
        gamma: f64,
        lr: f64,
        rng: &mut Pcg64,
    ) -> Result<f64, RlError> {
        let m = self.check_batch(batch)?;
        let (o, d) = (self.layout.obs_dim, self.layout.act_dim);
        let w = o + d;
        // ---- targets: a' ~ π(·|s'), then min Q'(s', a') on both target networks ----
        self.sample_actions(&batch.next_obs, m, rng);
        let parallel = self.parallel;
        let net = self.layout.q.clone();
        let x_next = std::mem::take(&mut self.x);
        // The online networks' input [s | a].
        let mut x_sa = std::mem::take(&mut self.x_sa);
        for i in 0..m {
            x_sa[i * w..i * w + o].copy_from_slice(&batch.obs[i * o..(i + 1) * o]);
            x_sa[i * w + o..(i + 1) * w].copy_from_slice(&batch.actions[i * d..(i + 1) * d]);
        }
        {
            let mut jobs = self.jobs();
            both(parallel, &mut jobs, |_, j| {
                forward(&net, j.target, &x_next, m, &mut j.side.target);
                forward(&net, j.params, &x_sa, m, &mut j.side.online);
            });
        }
        let (alpha32, gamma32) = (alpha as f32, gamma as f32);
        let [q1, q2] = &mut self.q;
        let mut loss = 0.0f64;
        let inv_m = 1.0 / m as f32;
        for i in 0..m {
            let (t1, t2) = (q1.target.out[i], q2.target.out[i]);
            let min = if t2 < t1 { t2 } else { t1 };
            let soft_v = min - self.sample.log_prob[i] * alpha32;
            let y = batch.rewards[i] + (1.0 - batch.terminated[i]) * (soft_v * gamma32);
            self.y[i] = y;
            let (e1, e2) = (q1.online.out[i] - y, q2.online.out[i] - y);
            loss += f64::from(e1 * e1) + f64::from(e2 * e2);
            q1.online.delta[0][i] = 2.0 * e1 * inv_m;
            q2.online.delta[0][i] = 2.0 * e2 * inv_m;
        }
        // ---- backward and Adam, each network on its own ----
        {
            let mut jobs = self.jobs();
            both(parallel, &mut jobs, |_, j| {
                // One thread per network (the same operations as `backward`).
                backward_split(
                    &net,
                    j.params,
                    &mut j.side.grads,
                    &x_sa,
                    m,
                    &mut j.side.online,
                    Some(usize::MAX),
                );
                j.adam.step(j.params, &j.side.grads, lr);
            });
        }
        self.x = x_next;
        self.x_sa = x_sa;
        Ok(loss / m as f64)
    }

    /// One actor update on the observations of `batch` with temperature `alpha` and learning
    /// rate `lr`, drawing the noise from `rng`; keeps `log π` for [`Self::temperature_step`].
    /// Returns the loss `mean(α log π − min(Q₁, Q₂))`.
    ///
    /// # Errors
    ///
    /// [`RlError`] when the batch has the wrong sizes.
    pub fn actor_step(
        &mut self,
        batch: &ReplayBatch,
        alpha: f64,
        lr: f64,
        rng: &mut Pcg64,
    ) -> Result<f64, RlError> {
        let m = self.check_batch(batch)?;
        let d = self.layout.act_dim;
        self.sample_actions(&batch.obs, m, rng);
        // ---- both critics at (s, ã), and ∂(−Q_k/m)/∂ã for every row ----
        let parallel = self.parallel;
        let net = self.layout.q.clone();
        let x = std::mem::take(&mut self.x);
        let inv_m = 1.0 / m as f32;
        {
            let mut jobs = self.jobs();
            both(parallel, &mut jobs, |_, j| {
                forward(&net, j.params, &x, m, &mut j.side.online);
                j.side.online.delta[0][..m].fill(-inv_m);
                backward_input(&net, j.params, m, &mut j.side.online, d, &mut j.side.dx);
            });
        }
        self.x = x;
        // ---- the loss, and ∂L/∂(μ, raw log σ) per row ----
        let alpha32 = alpha as f32;
        let g_lp = alpha32 * inv_m;
        let half_range = (0.5 * (LOG_STD_MAX - LOG_STD_MIN)) as f32;
        let [q1, q2] = &self.q;
        let s = &self.sample;
        let out = &self.actor_buf.out;
        let mut loss = 0.0f64;
        let delta = &mut self.actor_buf.delta[0];
        for i in 0..m {
            let (v1, v2) = (q1.online.out[i], q2.online.out[i]);
            let (min, dx) = if v2 < v1 { (v2, &q2.dx) } else { (v1, &q1.dx) };
            loss += f64::from(s.log_prob[i] * alpha32 - min);
            for j in 0..d {
                let k = i * d + j;
                let (mean, ls, u, t) = (out[i * 2 * d + j], s.log_std[k], s.u[k], s.tanh_u[k]);
                let inv_std = (-ls).exp();
                let z = (u - mean) * inv_std;
                // log π = Σ (−½ z² − log σ) − c − Σ 2 (ln 2 − u − softplus(−2u)) − Σ ln s, whose
                // last sum has ∂/∂u = −2 tanh u; the action s tanh u + b has ∂/∂u = s (1 − tanh²u).
                let du = dx[k] * self.scale[j] * (1.0 - t * t) + g_lp * (2.0 * t - z * inv_std);
                let d_mean = du + g_lp * z * inv_std;
                let d_log_std = du * ls.exp() * s.noise[k] as f32 + g_lp * (z * z - 1.0);
                let th = s.tanh_raw[k];
                delta[i * 2 * d + j] = d_mean;
                delta[i * 2 * d + d + j] = d_log_std * half_range * (1.0 - th * th);
            }
        }
        backward_split(
            &self.layout.actor,
            &self.actor,
            &mut self.actor_grads,
            &batch.obs,
            m,
            &mut self.actor_buf,
            self.parallel.then_some(self.split_min_macs),
        );
        self.actor_adam.step(&mut self.actor, &self.actor_grads, lr);
        Ok(loss / m as f64)
    }

    /// One temperature update with the last [`Self::actor_step`]'s `log π` over its `m` rows:
    /// loss `mean(−α (log π + target_entropy))`, Adam with learning rate `lr`. Returns the loss
    /// and the new `α = exp(log α)`.
    pub fn temperature_step(&mut self, m: usize, target_entropy: f64, lr: f64) -> (f64, f64) {
        let m = m.clamp(1, self.rows);
        let te = target_entropy as f32;
        let mean = self.sample.log_prob[..m].iter().map(|&l| f64::from(l + te)).sum::<f64>() / m as f64;
        let alpha = self.log_alpha[0].exp();
        let loss = -f64::from(alpha) * mean;
        self.alpha_grad[0] = (-f64::from(alpha) * mean) as f32;
        self.alpha_adam.step(&mut self.log_alpha, &self.alpha_grad, lr);
        (loss, f64::from(self.log_alpha[0].exp()))
    }

    /// Polyak update of both target networks, `θ' ← τ θ + (1 − τ) θ'` in `f32`, with the
    /// arithmetic of [`polyak_update`](super::polyak_update).
    pub fn polyak(&mut self, tau: f64) {
        let (keep, take) = ((1.0 - tau) as f32, tau as f32);
        self.targets.iter_mut().zip(&self.critics).for_each(|(t, &s)| *t = *t * keep + s * take);
    }

    /// Samples one action per row for observations `obs` `[n, obs_dim]` (`f64`, as the envs give
    /// them) as [`TanhGaussian::sample`](crate::distributions::TanhGaussian::sample) would
    /// (`n · D` normals from `rng`), clamped to the box `(low, high)`, into `actions` `[n, D]`.
    ///
    /// # Errors
    ///
    /// [`RlError`] when `n` exceeds the buffers or a slice has the wrong length.
    pub fn act(
        &mut self,
        obs: &[f64],
        rng: &mut Pcg64,
        low: &[f64],
        high: &[f64],
        actions: &mut [f64],
    ) -> Result<(), RlError> {
        let (o, d) = (self.layout.obs_dim, self.layout.act_dim);
        let n = obs.len() / o.max(1);
        self.check_rows(n)?;
        check_len("observations", obs.len(), n * o)?;
        check_len("actions", actions.len(), n * d)?;
        let mut x = std::mem::take(&mut self.obs32);
        x[..n * o].iter_mut().zip(obs).for_each(|(x, &v)| *x = v as f32);
        self.sample_actions(&x[..n * o], n, rng);
        self.obs32 = x;
        let w = o + d;
        for i in 0..n {
            for j in 0..d {
                actions[i * d + j] = f64::from(self.x[i * w + o + j]).clamp(low[j], high[j]);
            }
        }
        Ok(())
    }

    /// Whether every parameter is finite.
    pub fn params_finite(&self) -> bool {
        [&self.actor, &self.critics, &self.targets, &self.log_alpha]
            .iter()
            .all(|v| v.iter().all(|p| p.is_finite()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Cpu, CpuAutodiff};
    use crate::nn::{MlpConfig, POLICY_GAIN, VALUE_GAIN};
    use crate::sac::{Actor, Temperature, TwinQ};
    use burn::module::{AutodiffModule, ModuleVisitor, Param};
    use burn::optim::GradientsParams;
    use burn::tensor::backend::AutodiffBackend;
    use burn::tensor::backend::Backend;
    use burn::tensor::{Tensor, TensorData};
    use rand::{Rng, SeedableRng};

    const OBS: usize = 3;
    const D: usize = 2;
    const HIDDEN: [usize; 2] = [32, 24];
    /// An asymmetric box, so that the scale and centre matter.
    const LOW: [f64; D] = [-2.0, 0.0];
    const HIGH: [f64; D] = [1.0, 0.5];
    const ALL: [Activation; 4] = [Activation::Tanh, Activation::Relu, Activation::Elu, Activation::Identity];

    fn mlp<B: Backend>(
        d_in: usize,
        d_out: usize,
        gain: f64,
        act: Activation,
        rng: &mut Pcg64,
    ) -> crate::nn::Mlp<B> {
        MlpConfig::new(d_in, HIDDEN.to_vec(), d_out)
            .with_activation(act)
            .with_output_gain(gain)
            .init_with_rng(rng, &Default::default())
    }

    /// An actor, twin critics and (independently initialised) target critics.
    fn nets<B: Backend>(act: Activation, seed: u64) -> (Actor<B>, TwinQ<B>, TwinQ<B>) {
        let mut rng = Pcg64::seed_from_u64(seed);
        let actor = Actor { net: mlp(OBS, 2 * D, POLICY_GAIN, act, &mut rng) };
        let mut twin = || TwinQ {
            q1: mlp(OBS + D, 1, VALUE_GAIN, act, &mut rng),
            q2: mlp(OBS + D, 1, VALUE_GAIN, act, &mut rng),
        };
        let critics = twin();
        (actor, critics, twin())
    }

    fn batch(m: usize, seed: u64) -> ReplayBatch {
        let mut rng = Pcg64::seed_from_u64(seed);
        let mut b = ReplayBatch::new(m, OBS, D);
        b.len = m;
        b.obs = (0..m * OBS).map(|_| rng.random_range(-1.5..1.5)).collect();
        b.next_obs = (0..m * OBS).map(|_| rng.random_range(-1.5..1.5)).collect();
        b.actions = (0..m * D).map(|k| rng.random_range(LOW[k % D]..HIGH[k % D]) as f32).collect();
        b.rewards = (0..m).map(|_| rng.random_range(-3.0..0.0)).collect();
        b.terminated = (0..m).map(|i| f32::from(i % 7 == 3)).collect();
        b
    }

    fn engine<B: Backend>(a: &Actor<B>, c: &TwinQ<B>, t: &TwinQ<B>, log_alpha: f32, rows: usize) -> FusedSac {
        let l = SacLayout::new(OBS, D, &HIDDEN, a.net.activation);
        FusedSac::new(
            l.clone(),
            read_module(a, &l.actor_shapes()).unwrap(),
            read_module(c, &l.critic_shapes()).unwrap(),
            read_module(t, &l.critic_shapes()).unwrap(),
            log_alpha,
            &LOW,
            &HIGH,
            1e-8,
            rows,
        )
        .unwrap()
    }

    fn t2<B: Backend>(v: &[f32], cols: usize) -> Tensor<B, 2> {
        Tensor::from_data(TensorData::new(v.to_vec(), [v.len() / cols, cols]), &Default::default())
    }

    fn floats<B: Backend, const K: usize>(t: Tensor<B, K>) -> Vec<f32> {
        t.into_data().convert::<f32>().into_vec::<f32>().unwrap()
    }

    /// The gradients in `grads` of `module`'s parameters, in module order.
    fn flat_grads<B: AutodiffBackend, M: AutodiffModule<B>>(
        module: &M,
        grads: &GradientsParams,
    ) -> Vec<Vec<f32>> {
        struct Collect<'a> {
            grads: &'a GradientsParams,
            out: Vec<Vec<f32>>,
        }
        impl<B: AutodiffBackend> ModuleVisitor<B> for Collect<'_> {
            fn visit_float<const K: usize>(&mut self, param: &Param<Tensor<B, K>>) {
                let g =
                    self.grads.get::<B::InnerBackend, K>(param.id).expect("every parameter has a gradient");
                self.out.push(floats(g));
            }
        }
        let mut c = Collect { grads, out: Vec::new() };
        module.visit(&mut c);
        c.out
    }

    /// `‖a − b‖ ≤ tol ‖b‖` (plus a tiny floor) for each parameter tensor.
    fn assert_close(fused: &[f32], shapes: &[Vec<usize>], burn: &[Vec<f32>], tol: f64, what: &str) {
        assert_eq!(shapes.len(), burn.len(), "{what}: parameter count");
        let mut at = 0;
        for (k, (shape, want)) in shapes.iter().zip(burn).enumerate() {
            let n: usize = shape.iter().product();
            let got = &fused[at..at + n];
            at += n;
            let diff = got.iter().zip(want).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>().sqrt();
            let norm = want.iter().map(|b| f64::from(*b).powi(2)).sum::<f64>().sqrt();
            assert!(
                diff <= tol * norm + 1e-7,
                "{what}: parameter {k} {shape:?}: |Δ| {diff:e} vs |g| {norm:e}"
            );
        }
        assert_eq!(at, fused.len());
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-3)
    }

    #[test]
    fn critic_gradients_match_burn_autodiff() {
        let (alpha, gamma) = (0.37, 0.99);
        for (k, act) in ALL.into_iter().enumerate() {
            let seed = 30 + k as u64;
            let (actor, critics, targets_ad) = nets::<CpuAutodiff>(act, seed);
            let targets = targets_ad.valid();
            let b = batch(64, seed + 100);
            let m = b.len;
            // burn, as `train_sac_with`'s critic update.
            let mut rng_burn = Pcg64::seed_from_u64(seed + 200);
            let y = {
                let s2 = t2::<Cpu>(&b.next_obs, OBS);
                let (a2, logp2) =
                    actor.valid().dist(s2.clone(), &LOW, &HIGH).rsample_with_log_prob(&mut rng_burn);
                let (q1t, q2t) = targets.forward(s2, a2);
                let soft_v = q1t.min_pair(q2t) - logp2.mul_scalar(alpha);
                let r = t2::<Cpu>(&b.rewards, 1).reshape([m]);
                let not_done = t2::<Cpu>(&b.terminated, 1).reshape([m]).neg().add_scalar(1.0);
                r + not_done * soft_v.mul_scalar(gamma)
            };
            let y = Tensor::<CpuAutodiff, 1>::from_inner(y);
            let (q1, q2) = critics.forward(t2(&b.obs, OBS), t2(&b.actions, D));
            let loss = (q1 - y.clone()).powi_scalar(2).mean() + (q2 - y).powi_scalar(2).mean();
            let want_loss = f64::from(floats(loss.clone().detach())[0]);
            let grads = GradientsParams::from_grads(loss.backward(), &critics);
            let want = flat_grads(&critics, &grads);

            let mut e = engine(&actor, &critics, &targets_ad, 0.0, 64);
            let mut rng = Pcg64::seed_from_u64(seed + 200);
            let got_loss = e.critic_step(&b, alpha, gamma, 1e-3, &mut rng).unwrap();
            assert_eq!(rng, rng_burn, "{act:?}: the same noise is drawn");
            assert!(close(got_loss, want_loss, 1e-4), "{act:?}: loss {got_loss} vs {want_loss}");
            let grads: Vec<f32> = e.q[0].grads.iter().chain(&e.q[1].grads).copied().collect();
            assert_close(&grads, &e.layout.critic_shapes(), &want, 1e-4, &format!("{act:?} critic"));
        }
    }

    #[test]
    fn actor_and_temperature_gradients_match_burn_autodiff() {
        let (alpha, target_entropy) = (0.7f64, -(D as f64));
        for (k, act) in ALL.into_iter().enumerate() {
            let seed = 40 + k as u64;
            let (actor, critics, targets) = nets::<CpuAutodiff>(act, seed);
            let b = batch(64, seed + 100);
            let temperature = Temperature::<CpuAutodiff> {
                log_alpha: Param::from_tensor(Tensor::from_data(
                    TensorData::new(vec![alpha.ln() as f32], [1]),
                    &Default::default(),
                )),
            };
            // burn, as `train_sac_with`'s actor and temperature updates.
            let mut rng_burn = Pcg64::seed_from_u64(seed + 200);
            let s = t2::<CpuAutodiff>(&b.obs, OBS);
            let (pi, logp) = actor.dist(s.clone(), &LOW, &HIGH).rsample_with_log_prob(&mut rng_burn);
            let (q1p, q2p) = critics.forward(s, pi);
            let loss = (logp.clone().mul_scalar(alpha) - q1p.min_pair(q2p)).mean();
            let want_loss = f64::from(floats(loss.clone().detach())[0]);
            let want = flat_grads(&actor, &GradientsParams::from_grads(loss.backward(), &actor));
            let logp = Tensor::<CpuAutodiff, 1>::from_inner(logp.detach().inner());
            let alpha_loss =
                (temperature.log_alpha.val().exp().neg() * logp.add_scalar(target_entropy)).mean();
            let want_alpha_loss = f64::from(floats(alpha_loss.clone().detach())[0]);
            let want_alpha_grad =
                flat_grads(&temperature, &GradientsParams::from_grads(alpha_loss.backward(), &temperature));

            let mut e = engine(&actor, &critics, &targets, alpha.ln() as f32, 64);
            let mut rng = Pcg64::seed_from_u64(seed + 200);
            let got_loss = e.actor_step(&b, alpha, 1e-3, &mut rng).unwrap();
            assert_eq!(rng, rng_burn, "{act:?}: the same noise is drawn");
            assert!(close(got_loss, want_loss, 1e-4), "{act:?}: actor loss {got_loss} vs {want_loss}");
            assert_close(&e.actor_grads, &e.layout.actor_shapes(), &want, 1e-4, &format!("{act:?} actor"));
            let (alpha_loss, new_alpha) = e.temperature_step(b.len, target_entropy, 1e-3);
            assert!(close(alpha_loss, want_alpha_loss, 1e-4), "{act:?}: {alpha_loss} vs {want_alpha_loss}");
            assert_close(&e.alpha_grad, &[vec![1]], &want_alpha_grad, 1e-4, &format!("{act:?} log α"));
            // Adam's first step moves log α by lr against the gradient's sign.
            let moved = new_alpha.ln() - alpha.ln();
            assert!((moved + 1e-3 * f64::from(e.alpha_grad[0].signum())).abs() < 1e-5, "{moved}");
        }
    }

    #[test]
    fn acting_matches_burn_sampling_with_the_same_stream() {
        let (actor, critics, targets) = nets::<Cpu>(Activation::Relu, 5);
        let mut e = engine(&actor, &critics, &targets, 0.0, 8);
        let obs: Vec<f64> = (0..8 * OBS).map(|i| (i as f64 * 0.71).sin() * 2.0).collect();
        let mut got = vec![0.0; 8 * D];
        let mut rng = Pcg64::seed_from_u64(6);
        e.act(&obs, &mut rng, &LOW, &HIGH, &mut got).unwrap();
        let mut rng_burn = Pcg64::seed_from_u64(6);
        let x = crate::distributions::tensor_from_f64::<Cpu, 2>(&obs, [8, OBS], &Default::default());
        let want = floats(actor.dist(x, &LOW, &HIGH).sample(&mut rng_burn));
        assert_eq!(rng, rng_burn);
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - f64::from(*w)).abs() < 1e-5, "{g} vs {w}");
            assert!((LOW[k % D]..=HIGH[k % D]).contains(g));
        }
    }

    #[test]
    fn updates_are_bit_identical_serial_or_parallel_and_round_trip_through_burn() {
        let run = |parallel: bool| {
            let (actor, critics, targets) = nets::<Cpu>(Activation::Relu, 7);
            let mut e = engine(&actor, &critics, &targets, 0.0, 48);
            e.set_parallel(parallel);
            // Split every layer of the small test networks too.
            e.split_min_macs = 0;
            let mut rng = Pcg64::seed_from_u64(8);
            let mut losses = Vec::new();
            for step in 0..3 {
                let b = batch(48, 9 + step);
                losses.push(e.critic_step(&b, 0.5, 0.99, 1e-3, &mut rng).unwrap().to_bits());
                losses.push(e.actor_step(&b, 0.5, 1e-3, &mut rng).unwrap().to_bits());
                losses.push(e.temperature_step(48, -2.0, 1e-3).0.to_bits());
                e.polyak(0.005);
            }
            (
                losses,
                e.actor.clone(),
                e.critics.clone(),
                e.targets.clone(),
                e.log_alpha.clone(),
                e.critic_adam(),
                rng,
                e,
            )
        };
        let (l, a, c, t, la, adam, rng, e) = run(false);
        let (l2, a2, c2, t2_, la2, adam2, rng2, _) = run(true);
        assert_eq!((&l, &a, &c, &t, &la, &adam, &rng), (&l2, &a2, &c2, &t2_, &la2, &adam2, &rng2));
        assert_eq!(adam.time, 3);
        // Writing into burn modules and reading back is exact.
        let (actor, critics, _) = nets::<Cpu>(Activation::Relu, 1);
        let l = e.layout();
        let actor = write_module(actor, &l.actor_shapes(), &e.actor).unwrap();
        let critics = write_module(critics, &l.critic_shapes(), &e.critics).unwrap();
        assert_eq!(read_module(&actor, &l.actor_shapes()).unwrap(), a);
        assert_eq!(read_module(&critics, &l.critic_shapes()).unwrap(), c);
        assert!(write_module(critics, &l.actor_shapes(), &e.actor).is_err());
        // The critic Adam state splits and joins exactly.
        let mut e2 = e.clone();
        e2.set_critic_adam(FusedAdam::from_bytes(&adam.to_bytes(), 2 * l.q_len()).unwrap()).unwrap();
        assert_eq!(e2.q_adam, e.q_adam);
    }
}
