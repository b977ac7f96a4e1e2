//! PARL / A-PARL (Chakraborty et al., ICLR 2024), tabular and exact (methods.md §2 with the
//! issue's corrections).
//!
//! **Lower level.** A softmax policy maximises the KL-regularised return of the learned reward
//! `r_ν(s, a) = φ(s, a) · ν`:
//! `V(ν, θ) = E[Σ_t γ^t (r_ν(s_t, a_t) − τ KL(π(·|s_t) ‖ uniform))]` from a uniform start
//! distribution. Its optimum is the soft-optimal policy, found by soft value iteration; the logits
//! `θ* = Q_τ / τ` are centred per state, and the centring penalty
//! [`Penalty::Centering`] makes the optimum isolated and its Hessian nonsingular.
//!
//! **Upper level.** The Bradley–Terry log-likelihood of preference pairs of length-`L` segments
//! sampled from the *current* lower-level policy:
//! `G(ν, θ) = E_{σ₀, σ₁ ~ π_θ, y}[y log σ(ΔR_ν) + (1 − y) log σ(−ΔR_ν)] − κ‖ν‖²`,
//! `ΔR_ν = R_ν(σ₁) − R_ν(σ₀)`, `R_ν(σ) = Σ_{t<L} r_ν(s_t, a_t)` (undiscounted). Its hypergradient
//!
//! ```text
//! ∇_ν G(ν, θ*(ν)) = ∂_ν G  −  (∂_ν∇_θ V)ᵀ H⁻¹ ∇_θ G,      H = ∇²_θ V(ν, θ*)
//! ```
//!
//! has an implicit term because the data distribution depends on `θ*(ν)`:
//! `∇_θ G = E[ℓ · (∇log p_θ(σ₀) + ∇log p_θ(σ₁))]` (score function). A-PARL follows the full
//! hypergradient; the alternating (PEBBLE-style) variant drops the implicit term. Both run on the
//! same seeded data stream ([`run_parl`]).
//!
//! **World.** The issue's fixes of the §2.5 toy: a grid whose goal is an absorbing state paying +1
//! per step, lava cells −1, every other step −0.01, γ = 0.9, uniform start; the score is the
//! greedy policy of the learned soft `Q` evaluated under the true reward, normalised between the
//! uniform policy (0) and the hard optimum (1).
//!
//! **Measured** (`alignrl reproduce parl`, 10 seeds, 300 queries, 2 per round, L = 3): with the
//! exact-sampling hypergradient checked against finite differences (relative error ≈ 8e-9, the
//! implicit term ≈ 0.57 × the direct one in the unit test), A-PARL with the on-policy
//! score-function estimate needs CG damping (δ = 1e-5: 4/10 seeds solved; δ = 0.1: 10/10, median
//! 59 queries vs 29 for the alternating variant). Its estimated implicit term is ≈ 1.1 × the
//! direct term, whereas the exact one along the same runs ([`ImplicitEstimator::ExactTeacher`],
//! L = 2) is ≈ 0.11 ×: the estimate is dominated by noise. With the exact dependence term the two
//! variants tie on the median (60 vs 60) and A-PARL has a 21% lower mean (66 vs 84 queries).

use alignrl_envs::tabular::{MdpParts, TabularMdp};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::BilevelError;
use super::ihvp::{CgOptions, InverseHvp, implicit_hypergradient};
use super::softmax::{Penalty, SoftmaxModel, SoftmaxObjective, SoftmaxPoint};
use crate::tabular::{
    Policy, ViOptions, evaluate_policy, policy_iteration, soft_value_iteration, start_value,
};

/// Reward features of the learned reward model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParlFeatures {
    /// One-hot state features (`k = S`): the true reward is representable.
    OneHotState,
    /// One-hot row plus one-hot column (`k = rows + cols`): a misspecified, additive model that
    /// can be right only on part of the grid.
    RowCol,
}

/// The PARL gridworld with its true reward and the reward model's features.
#[derive(Debug, Clone)]
pub struct ParlWorld {
    /// MDP with the model's features; its weights are the least-squares-free placeholder 0.
    mdp: TabularMdp,
    model: SoftmaxModel,
    true_reward: Vec<f64>,
    rows: usize,
    cols: usize,
    j_uniform: f64,
    j_optimal: f64,
}

/// Uniform start, absorbing goal, `γ`.
impl ParlWorld {
    /// A `rows × cols` open grid, deterministic moves (up, down, left, right; bumping into the
    /// border stays), goal `goal` absorbing with reward +1 per step, `lava` cells −1 per step spent
    /// there, −0.01 elsewhere; uniform start over all cells; discount `gamma`.
    pub fn new(
        rows: usize,
        cols: usize,
        goal: (usize, usize),
        lava: &[(usize, usize)],
        gamma: f64,
        features: ParlFeatures,
    ) -> Result<Self, BilevelError> {
        if rows == 0 || cols == 0 || goal.0 >= rows || goal.1 >= cols {
            return Err(BilevelError::Invalid(format!("goal {goal:?} is off the {rows}×{cols} grid")));
        }
        if lava.iter().any(|&(r, c)| r >= rows || c >= cols || (r, c) == goal) {
            return Err(BilevelError::Invalid("a lava cell is off the grid or on the goal".into()));
        }
        if !(gamma.is_finite() && (0.0..1.0).contains(&gamma)) {
            return Err(BilevelError::Invalid(format!("discount γ = {gamma} must lie in [0, 1)")));
        }
        let ns = rows * cols;
        let na = 4;
        let idx = |r: usize, c: usize| r * cols + c;
        let g = idx(goal.0, goal.1);
        let mut transitions = vec![0.0; ns * na * ns];
        for r in 0..rows {
            for c in 0..cols {
                let s = idx(r, c);
                for (a, (dr, dc)) in [(-1isize, 0isize), (1, 0), (0, -1), (0, 1)].into_iter().enumerate() {
                    let next = if s == g {
                        s
                    } else {
                        match (r.checked_add_signed(dr), c.checked_add_signed(dc)) {
                            (Some(nr), Some(nc)) if nr < rows && nc < cols => idx(nr, nc),
                            _ => s,
                        }
                    };
                    transitions[(s * na + a) * ns + next] = 1.0;
                }
            }
        }
        let mut true_state = vec![-0.01; ns];
        true_state[g] = 1.0;
        for &(r, c) in lava {
            true_state[idx(r, c)] = -1.0;
        }
        let true_reward: Vec<f64> = (0..ns * na).map(|i| true_state[i / na]).collect();
        let k = match features {
            ParlFeatures::OneHotState => ns,
            ParlFeatures::RowCol => rows + cols,
        };
        let mut feat = vec![0.0; ns * na * k];
        for s in 0..ns {
            for a in 0..na {
                let f = &mut feat[(s * na + a) * k..(s * na + a + 1) * k];
                match features {
                    ParlFeatures::OneHotState => f[s] = 1.0,
                    ParlFeatures::RowCol => {
                        f[s / cols] = 1.0;
                        f[rows + s % cols] = 1.0;
                    }
                }
            }
        }
        let parts = MdpParts {
            n_states: ns,
            n_actions: na,
            transitions,
            n_features: k,
            features: feat,
            weights: vec![0.0; k],
            feature_names: Vec::new(),
            gamma,
            start: vec![1.0 / ns as f64; ns],
            terminal: vec![false; ns],
        };
        let mdp = TabularMdp::new(parts.clone())?;
        let true_mdp = TabularMdp::new(MdpParts {
            n_features: 1,
            features: true_reward.clone(),
            weights: vec![1.0],
            feature_names: vec!["true".into()],
            ..parts
        })?;
        let j_uniform = start_value(&true_mdp, &evaluate_policy(&true_mdp, &Policy::uniform(ns, na))?);
        let j_optimal = start_value(&true_mdp, &policy_iteration(&true_mdp, &Default::default())?.v);
        Ok(ParlWorld { model: SoftmaxModel::new(&mdp), mdp, true_reward, rows, cols, j_uniform, j_optimal })
    }

    /// The default world: 6×6, goal (5, 5), lava (2, 2) and (3, 3), γ = 0.9.
    pub fn default_grid(features: ParlFeatures) -> Self {
        Self::new(6, 6, (5, 5), &[(2, 2), (3, 3)], 0.9, features).expect("valid default grid")
    }

    /// The MDP (model features, zero weights).
    pub fn mdp(&self) -> &TabularMdp {
        &self.mdp
    }
    /// Number of reward-model features `k`.
    pub fn n_features(&self) -> usize {
        self.mdp.n_features()
    }
    /// The true reward `r*[s][a]`.
    pub fn true_reward(&self) -> &[f64] {
        &self.true_reward
    }
    /// Grid size `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
    /// The model reward `r_ν[s][a] = φ(s, a) · ν`.
    pub fn reward(&self, nu: &[f64]) -> Result<Vec<f64>, BilevelError> {
        Ok(self.mdp.rewards_for(nu)?)
    }

    /// The soft-optimal policy of `r_ν` at temperature `tau`: centred logits `θ* = Q_τ/τ − mean`,
    /// and the soft `Q_τ`.
    pub fn solve_lower(&self, nu: &[f64], tau: f64) -> Result<(Vec<f64>, Vec<f64>), BilevelError> {
        let mdp = self.mdp.clone().with_weights(nu)?;
        let sol = soft_value_iteration(&mdp, tau, &ViOptions { tol: 1e-13, max_iters: 100_000 })?;
        let na = mdp.n_actions();
        let mut theta: Vec<f64> = sol.q.iter().map(|q| q / tau).collect();
        for row in theta.chunks_exact_mut(na) {
            let m = row.iter().sum::<f64>() / na as f64;
            row.iter_mut().for_each(|x| *x -= m);
        }
        Ok((theta, sol.q))
    }

    /// Normalised true return of the greedy policy of `q`:
    /// `(J − J_unif) / (J* − J_unif)` with the hard optimum `J*`.
    pub fn score_greedy(&self, q: &[f64]) -> Result<f64, BilevelError> {
        let pi = Policy::greedy(q, self.mdp.n_actions());
        let true_mdp = self.mdp.clone();
        let v = crate::tabular::evaluate_policy_with(&true_mdp, &pi, &self.true_reward, self.mdp.gamma())?;
        let j = start_value(&true_mdp, &v);
        Ok((j - self.j_uniform) / (self.j_optimal - self.j_uniform))
    }

    fn lower_objective<'a>(&self, r: &'a [f64], tau: f64, centering: f64) -> SoftmaxObjective<'a> {
        SoftmaxObjective { rewards: r, gamma: self.mdp.gamma(), tau, penalty: Penalty::Centering(centering) }
    }

    /// `Φᵀ x` for a per-state-action vector `x` (the chain rule from `r` to `ν`).
    fn features_t(&self, x: &[f64]) -> Vec<f64> {
        let k = self.n_features();
        let mut out = vec![0.0; k];
        for (i, xi) in x.iter().enumerate() {
            if *xi != 0.0 {
                for (o, f) in out.iter_mut().zip(&self.mdp.features()[i * k..(i + 1) * k]) {
                    *o += xi * f;
                }
            }
        }
        out
    }

    /// The implicit term `−(∂_ν∇_θ V)ᵀ H⁻¹ v` at the lower optimum `theta` of `r_ν`.
    pub fn implicit_term(
        &self,
        nu: &[f64],
        theta: &[f64],
        v: &[f64],
        tau: f64,
        centering: f64,
        method: &InverseHvp,
    ) -> Result<Vec<f64>, BilevelError> {
        let r = self.reward(nu)?;
        let point = SoftmaxPoint::new(&self.model, self.lower_objective(&r, tau, centering), theta)?;
        implicit_hypergradient(|u| point.hvp(u), v, |x| self.features_t(&point.reward_vjp(x)), method)
    }

    /// `‖∇_θ V(ν, θ)‖₂` (0 at the lower optimum).
    pub fn lower_grad_norm(
        &self,
        nu: &[f64],
        theta: &[f64],
        tau: f64,
        centering: f64,
    ) -> Result<f64, BilevelError> {
        let r = self.reward(nu)?;
        let p = SoftmaxPoint::new(&self.model, self.lower_objective(&r, tau, centering), theta)?;
        Ok(p.gradient().iter().map(|x| x * x).sum::<f64>().sqrt())
    }
}

/// A segment `(s_0, a_0, …, s_{L−1}, a_{L−1})` with its feature sum `Σ_t φ(s_t, a_t)`, true return
/// `Σ_t r*(s_t, a_t)`, and the policy-free part `μ(s_0) Π P(s_{t+1}|s_t, a_t)` of its probability.
#[derive(Debug, Clone, PartialEq)]
pub struct TabSegment {
    /// `s_0 … s_{L−1}`.
    pub states: Vec<usize>,
    /// `a_0 … a_{L−1}`.
    pub actions: Vec<usize>,
    /// `Σ_t φ(s_t, a_t)`.
    pub features: Vec<f64>,
    /// True (undiscounted) segment return.
    pub true_return: f64,
    /// `μ(s_0) Π_t P(s_{t+1} | s_t, a_t)`.
    pub base_prob: f64,
}

impl TabSegment {
    fn new(world: &ParlWorld, states: Vec<usize>, actions: Vec<usize>, base_prob: f64) -> Self {
        let (na, k) = (world.mdp.n_actions(), world.n_features());
        let mut features = vec![0.0; k];
        let mut true_return = 0.0;
        for (&s, &a) in states.iter().zip(&actions) {
            for (f, x) in features.iter_mut().zip(world.mdp.feature(s, a)) {
                *f += x;
            }
            true_return += world.true_reward[s * na + a];
        }
        TabSegment { states, actions, features, true_return, base_prob }
    }

    /// `log Π_t π(a_t | s_t)`.
    pub fn log_policy_prob(&self, log_pi: &[f64], na: usize) -> f64 {
        self.states.iter().zip(&self.actions).map(|(&s, &a)| log_pi[s * na + a]).sum()
    }

    /// `out += scale · ∇_θ log Π_t π(a_t|s_t)` (softmax: `e_{s,a} − π(·|s)` per step).
    pub fn add_score(&self, pi: &[f64], na: usize, scale: f64, out: &mut [f64]) {
        for (&s, &a) in self.states.iter().zip(&self.actions) {
            for b in 0..na {
                out[s * na + b] -= scale * pi[s * na + b];
            }
            out[s * na + a] += scale;
        }
    }
}

/// Every segment of `len` steps with positive probability under some policy (all starts, all
/// action sequences, all successors), for the exact upper objective.
pub fn enumerate_segments(world: &ParlWorld, len: usize) -> Vec<TabSegment> {
    let mdp = &world.mdp;
    let mut out = Vec::new();
    let mut stack: Vec<(Vec<usize>, Vec<usize>, f64)> = (0..mdp.n_states())
        .filter(|&s| mdp.start()[s] > 0.0)
        .map(|s| (vec![s], vec![], mdp.start()[s]))
        .collect();
    while let Some((states, actions, p)) = stack.pop() {
        let s = *states.last().expect("non-empty");
        for a in 0..mdp.n_actions() {
            let mut acts = actions.clone();
            acts.push(a);
            if acts.len() == len {
                out.push(TabSegment::new(world, states.clone(), acts, p));
            } else {
                for (n, pn) in mdp.successors(s, a) {
                    let mut st = states.clone();
                    st.push(n);
                    stack.push((st, acts.clone(), p * pn));
                }
            }
        }
    }
    out
}

fn log_sigmoid(x: f64) -> f64 {
    if x >= 0.0 { -(-x).exp().ln_1p() } else { x - x.exp().ln_1p() }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The Bradley–Terry log-likelihood `y log σ(Δ) + (1 − y) log σ(−Δ)` and its derivative in `Δ`,
/// `y − σ(Δ)`.
pub fn bt_loglik(delta: f64, y: f64) -> (f64, f64) {
    (y * log_sigmoid(delta) + (1.0 - y) * log_sigmoid(-delta), y - sigmoid(delta))
}

/// The exact upper objective over enumerated segments, with soft teacher labels
/// `y* = σ(β (R*(σ₁) − R*(σ₀)))`: returns `(G, ∂_ν G, ∇_θ G)` (the L2 term `−κ‖ν‖²` included in
/// `G` and `∂_ν G`).
pub fn exact_upper(
    world: &ParlWorld,
    segments: &[TabSegment],
    nu: &[f64],
    theta: &[f64],
    teacher_beta: f64,
    l2: f64,
) -> (f64, Vec<f64>, Vec<f64>) {
    let na = world.mdp.n_actions();
    let mut pi = vec![0.0; theta.len()];
    super::softmax::softmax_rows(theta, na, &mut pi);
    let log_pi: Vec<f64> = pi.iter().map(|p| p.ln()).collect();
    let p: Vec<f64> = segments.iter().map(|s| s.base_prob * s.log_policy_prob(&log_pi, na).exp()).collect();
    let r: Vec<f64> = segments.iter().map(|s| dot(&s.features, nu)).collect();
    let n = segments.len();
    let mut g = 0.0;
    let mut m = vec![0.0; n]; // m_i = Σ_j p_j ℓ_ij
    let mut c = vec![0.0; n]; // c_j = Σ_i p_i (y_ij − σ(Δ_ij)),  Δ_ij = R_j − R_i
    for i in 0..n {
        if p[i] == 0.0 {
            continue;
        }
        for j in 0..n {
            if p[j] == 0.0 {
                continue;
            }
            let y = sigmoid(teacher_beta * (segments[j].true_return - segments[i].true_return));
            let (l, dl) = bt_loglik(r[j] - r[i], y);
            g += p[i] * p[j] * l;
            m[i] += p[j] * l;
            c[j] += p[i] * dl;
        }
    }
    // ∂_ν Σ p_i p_j ℓ_ij = Σ_ij p_i p_j dl_ij (f_j − f_i) = 2 Σ_j p_j c_j f_j (ℓ symmetric).
    let k = world.n_features();
    let mut gnu = vec![0.0; k];
    for j in 0..n {
        for (o, f) in gnu.iter_mut().zip(&segments[j].features) {
            *o += 2.0 * p[j] * c[j] * f;
        }
    }
    gnu.iter_mut().zip(nu).for_each(|(o, x)| *o -= 2.0 * l2 * x);
    g -= l2 * dot(nu, nu);
    // ∇_θ Σ p_i p_j ℓ_ij = 2 Σ_i p_i m_i ∇log p_i.
    let mut gth = vec![0.0; theta.len()];
    for i in 0..n {
        if p[i] != 0.0 {
            segments[i].add_score(&pi, na, 2.0 * p[i] * m[i], &mut gth);
        }
    }
    (g, gnu, gth)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Which hypergradient the reward update follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParlVariant {
    /// The full hypergradient (direct + implicit term).
    APARL,
    /// PEBBLE-style alternation: the implicit term is dropped.
    Alternating,
}

impl ParlVariant {
    /// `"a-parl"` / `"alternating"`.
    pub fn name(self) -> &'static str {
        match self {
            ParlVariant::APARL => "a-parl",
            ParlVariant::Alternating => "alternating",
        }
    }
}

/// How A-PARL estimates `∇_θ G` from labelled pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImplicitEstimator {
    /// Score function over the pairs queried this round (on-policy), with a mean baseline.
    OnPolicy,
    /// Self-normalised importance-weighted score function over the whole buffer (weights
    /// `p_θ(pair) / q(pair)`, `q` the probability under the policy that collected it).
    ImportanceWeighted,
    /// **Diagnostic, not query-honest:** the exact `∇_θ G` over all enumerated segment pairs
    /// with the teacher's soft labels (it uses the teacher on pairs that were never queried).
    /// Separates the value of the dependence term from the noise of its estimate. Cost
    /// `O((S·A^L)²)` per update: use short segments.
    ExactTeacher,
}

/// Settings of [`run_parl`].
#[derive(Debug, Clone, PartialEq)]
pub struct ParlConfig {
    /// Variant.
    pub variant: ParlVariant,
    /// KL temperature `τ` of the lower level.
    pub tau: f64,
    /// Segment length `L` (steps).
    pub segment_len: usize,
    /// Preference queries per round.
    pub pairs_per_round: usize,
    /// Query budget.
    pub max_queries: usize,
    /// Reward updates (Adam steps, each with a fresh lower-level solve) per round.
    pub reward_updates: usize,
    /// Adam learning rate on `ν`.
    pub lr: f64,
    /// L2 coefficient `κ` on `ν`.
    pub l2: f64,
    /// Teacher's Bradley–Terry inverse temperature `β` on true segment returns.
    pub teacher_beta: f64,
    /// Multiplier of the implicit term (1 = the hypergradient).
    pub implicit_scale: f64,
    /// Estimator of `∇_θ G`.
    pub estimator: ImplicitEstimator,
    /// Centring penalty coefficient of the lower level.
    pub centering: f64,
    /// Inverse-HVP method.
    pub inverse: InverseHvp,
    /// Normalised-return threshold counted as solved.
    pub threshold: f64,
    /// Seed of the data stream (segment sampling and teacher labels).
    pub seed: u64,
}

impl Default for ParlConfig {
    /// A-PARL, τ = 0.1, L = 3, 2 pairs per round, 300 queries, 5 updates, lr 0.1, κ = 1e-2, β = 1,
    /// on-policy estimator, CG with damping 0.1, threshold 0.9, seed 0.
    fn default() -> Self {
        ParlConfig {
            variant: ParlVariant::APARL,
            tau: 0.1,
            segment_len: 3,
            pairs_per_round: 2,
            max_queries: 300,
            reward_updates: 5,
            lr: 0.1,
            l2: 1e-2,
            teacher_beta: 1.0,
            implicit_scale: 1.0,
            estimator: ImplicitEstimator::OnPolicy,
            centering: 1.0,
            // Near-deterministic states make H nearly singular and the undamped implicit term
            // explodes (measured: damping 1e-5 solved 4/10 seeds, 0.1 solved 10/10).
            inverse: InverseHvp::Cg(CgOptions { damping: 0.1, tol: 1e-10, max_iters: 500 }),
            threshold: 0.9,
            seed: 0,
        }
    }
}

/// The result of [`run_parl`].
#[derive(Debug, Clone, PartialEq)]
pub struct ParlRun {
    /// `(queries so far, normalised true return of the greedy policy)` after every round
    /// (first entry: 0 queries, before any update).
    pub curve: Vec<(usize, f64)>,
    /// Queries when the normalised return first reached the threshold.
    pub queries_to_threshold: Option<usize>,
    /// Final learned reward parameters.
    pub nu: Vec<f64>,
    /// Mean ratio `‖implicit‖ / ‖direct‖` over the updates (0 for the alternating variant).
    pub implicit_ratio: f64,
}

impl ParlRun {
    /// The last normalised return.
    pub fn final_score(&self) -> f64 {
        self.curve.last().map_or(f64::NAN, |c| c.1)
    }
}

struct Labelled {
    seg: [TabSegment; 2],
    y: f64,
    /// log q(pair) under the collecting policy (policy part only; the dynamics cancel).
    log_q: f64,
}

fn sample_segment(world: &ParlWorld, pi: &[f64], len: usize, rng: &mut Pcg64) -> TabSegment {
    let mdp = &world.mdp;
    let na = mdp.n_actions();
    let mut s = mdp.sample_start(rng);
    let (mut states, mut actions) = (Vec::with_capacity(len), Vec::with_capacity(len));
    for t in 0..len {
        let a = alignrl_envs::tabular::sample_categorical(&pi[s * na..(s + 1) * na], rng);
        states.push(s);
        actions.push(a);
        if t + 1 < len {
            s = mdp.sample_next(s, a, rng);
        }
    }
    TabSegment::new(world, states, actions, 1.0)
}

/// Runs PARL on `world` until `max_queries` preference queries are spent.
///
/// Each round: solve the lower level for the current `ν`; sample `pairs_per_round` pairs of
/// segments from the current policy (uniform start), label them with the teacher
/// (`y ~ Bernoulli(σ(β ΔR*))`); then `reward_updates` Adam steps on
/// `mean_buffer ∂_ν ℓ − 2κν` (+ the implicit term for A-PARL), re-solving the lower level before
/// each. The data stream depends only on `seed` and the policies visited.
pub fn run_parl(world: &ParlWorld, cfg: &ParlConfig) -> Result<ParlRun, BilevelError> {
    if cfg.pairs_per_round == 0 || cfg.segment_len == 0 {
        return Err(BilevelError::Invalid("pairs per round and segment length must be ≥ 1".into()));
    }
    if !(cfg.tau.is_finite() && cfg.tau > 0.0 && cfg.lr.is_finite() && cfg.lr > 0.0) {
        return Err(BilevelError::Invalid("τ and the learning rate must be positive".into()));
    }
    let na = world.mdp.n_actions();
    let k = world.n_features();
    let mut rng = Pcg64::seed_from_u64(cfg.seed);
    let mut nu = vec![0.0; k];
    let (mut m, mut v) = (vec![0.0; k], vec![0.0; k]);
    let mut t_adam = 0.0;
    let mut buffer: Vec<Labelled> = Vec::new();
    let (_, q0) = world.solve_lower(&nu, cfg.tau)?;
    let mut curve = vec![(0, world.score_greedy(&q0)?)];
    let mut queries_to_threshold = (curve[0].1 >= cfg.threshold).then_some(0);
    let mut pi = vec![0.0; world.model.n_params()];
    let (mut ratio_sum, mut ratio_n) = (0.0, 0usize);
    let mut queries = 0;
    let all_segments = (cfg.variant == ParlVariant::APARL
        && cfg.estimator == ImplicitEstimator::ExactTeacher)
        .then(|| enumerate_segments(world, cfg.segment_len));
    while queries < cfg.max_queries {
        let (theta, _) = world.solve_lower(&nu, cfg.tau)?;
        super::softmax::softmax_rows(&theta, na, &mut pi);
        let log_pi: Vec<f64> = pi.iter().map(|p| p.ln()).collect();
        let round_start = buffer.len();
        let n_new = cfg.pairs_per_round.min(cfg.max_queries - queries);
        for _ in 0..n_new {
            let s0 = sample_segment(world, &pi, cfg.segment_len, &mut rng);
            let s1 = sample_segment(world, &pi, cfg.segment_len, &mut rng);
            let p1 = sigmoid(cfg.teacher_beta * (s1.true_return - s0.true_return));
            let y = if rng.random::<f64>() < p1 { 1.0 } else { 0.0 };
            let log_q = s0.log_policy_prob(&log_pi, na) + s1.log_policy_prob(&log_pi, na);
            buffer.push(Labelled { seg: [s0, s1], y, log_q });
        }
        queries += n_new;
        for update in 0..cfg.reward_updates {
            let theta = if update == 0 { theta.clone() } else { world.solve_lower(&nu, cfg.tau)?.0 };
            // Direct term: mean over the buffer.
            let mut g = vec![0.0; k];
            for b in &buffer {
                let delta = dot(&b.seg[1].features, &nu) - dot(&b.seg[0].features, &nu);
                let (_, dl) = bt_loglik(delta, b.y);
                for (gi, (f1, f0)) in g.iter_mut().zip(b.seg[1].features.iter().zip(&b.seg[0].features)) {
                    *gi += dl * (f1 - f0) / buffer.len() as f64;
                }
            }
            g.iter_mut().zip(&nu).for_each(|(gi, x)| *gi -= 2.0 * cfg.l2 * x);
            if cfg.variant == ParlVariant::APARL && cfg.implicit_scale != 0.0 {
                super::softmax::softmax_rows(&theta, na, &mut pi);
                let log_pi: Vec<f64> = pi.iter().map(|p| p.ln()).collect();
                let pairs: &[Labelled] = match cfg.estimator {
                    ImplicitEstimator::OnPolicy => &buffer[round_start..],
                    ImplicitEstimator::ImportanceWeighted | ImplicitEstimator::ExactTeacher => &buffer,
                };
                let ll: Vec<f64> = pairs
                    .iter()
                    .map(|b| bt_loglik(dot(&b.seg[1].features, &nu) - dot(&b.seg[0].features, &nu), b.y).0)
                    .collect();
                let w: Vec<f64> = match cfg.estimator {
                    ImplicitEstimator::OnPolicy | ImplicitEstimator::ExactTeacher => {
                        vec![1.0 / pairs.len() as f64; pairs.len()]
                    }
                    ImplicitEstimator::ImportanceWeighted => {
                        let lw: Vec<f64> = pairs
                            .iter()
                            .map(|b| {
                                b.seg[0].log_policy_prob(&log_pi, na) + b.seg[1].log_policy_prob(&log_pi, na)
                                    - b.log_q
                            })
                            .collect();
                        let mx = lw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let e: Vec<f64> = lw.iter().map(|x| (x - mx).exp()).collect();
                        let z: f64 = e.iter().sum();
                        e.into_iter().map(|x| x / z).collect()
                    }
                };
                // Baseline: the weighted mean log-likelihood (none for a single pair).
                let baseline = if pairs.len() > 1 { dot(&w, &ll) } else { 0.0 };
                let mut gth = vec![0.0; theta.len()];
                if let Some(segs) = &all_segments {
                    gth = exact_upper(world, segs, &nu, &theta, cfg.teacher_beta, cfg.l2).2;
                } else {
                    for ((b, l), wi) in pairs.iter().zip(&ll).zip(&w) {
                        let c = wi * (l - baseline);
                        b.seg[0].add_score(&pi, na, c, &mut gth);
                        b.seg[1].add_score(&pi, na, c, &mut gth);
                    }
                }
                let imp = world.implicit_term(&nu, &theta, &gth, cfg.tau, cfg.centering, &cfg.inverse)?;
                let (ni, nd) = (dot(&imp, &imp).sqrt(), dot(&g, &g).sqrt());
                if nd > 0.0 {
                    ratio_sum += cfg.implicit_scale * ni / nd;
                    ratio_n += 1;
                }
                g.iter_mut().zip(&imp).for_each(|(gi, x)| *gi += cfg.implicit_scale * x);
            }
            t_adam += 1.0;
            let (b1, b2, eps) = (0.9, 0.999, 1e-8);
            for i in 0..k {
                m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                let mh = m[i] / (1.0 - f64::powf(b1, t_adam));
                let vh = v[i] / (1.0 - f64::powf(b2, t_adam));
                nu[i] += cfg.lr * mh / (vh.sqrt() + eps);
            }
        }
        let (_, q) = world.solve_lower(&nu, cfg.tau)?;
        let score = world.score_greedy(&q)?;
        curve.push((queries, score));
        if queries_to_threshold.is_none() && score >= cfg.threshold {
            queries_to_threshold = Some(queries);
        }
    }
    let implicit_ratio = if ratio_n > 0 { ratio_sum / ratio_n as f64 } else { 0.0 };
    Ok(ParlRun { curve, queries_to_threshold, nu, implicit_ratio })
}

/// The oracle: the soft-optimal policy of the true reward (same `τ`), scored like the others.
pub fn oracle_score(world: &ParlWorld, tau: f64) -> Result<f64, BilevelError> {
    let mdp = world.mdp.clone();
    let mut parts = mdp.into_parts();
    parts.n_features = 1;
    parts.features = world.true_reward.clone();
    parts.weights = vec![1.0];
    parts.feature_names = vec!["true".into()];
    let true_mdp = TabularMdp::new(parts)?;
    let sol = soft_value_iteration(&true_mdp, tau, &ViOptions { tol: 1e-12, max_iters: 100_000 })?;
    world.score_greedy(&sol.q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_world() -> ParlWorld {
        ParlWorld::new(3, 3, (2, 2), &[(1, 1)], 0.9, ParlFeatures::OneHotState).unwrap()
    }

    #[test]
    fn lower_solution_is_a_stationary_point() {
        let w = small_world();
        let nu: Vec<f64> = (0..9).map(|i| (i as f64 * 0.7).sin()).collect();
        let (theta, _) = w.solve_lower(&nu, 0.2).unwrap();
        assert!(w.lower_grad_norm(&nu, &theta, 0.2, 1.0).unwrap() < 1e-10);
    }

    #[test]
    fn full_hypergradient_matches_finite_differences_with_exact_sampling() {
        let w = small_world();
        let segs = enumerate_segments(&w, 2);
        assert_eq!(segs.len(), 9 * 16);
        let total: f64 = segs.iter().map(|s| s.base_prob).sum();
        assert!((total - 16.0).abs() < 1e-12); // Σ over action sequences of μ·P = A^L
        let (tau, l2) = (0.2, 1e-2);
        let nu: Vec<f64> = (0..9).map(|i| 1.5 * (i as f64 * 1.3).cos()).collect();
        let outer = |nu: &[f64]| {
            let (th, _) = w.solve_lower(nu, tau).unwrap();
            exact_upper(&w, &segs, nu, &th, 1.0, l2).0
        };
        let (theta, _) = w.solve_lower(&nu, tau).unwrap();
        let (_, direct, gth) = exact_upper(&w, &segs, &nu, &theta, 1.0, l2);
        let implicit = w.implicit_term(&nu, &theta, &gth, tau, 1.0, &InverseHvp::default()).unwrap();
        let full: Vec<f64> = direct.iter().zip(&implicit).map(|(a, b)| a + b).collect();
        let h = 1e-5;
        let fd: Vec<f64> = (0..9)
            .map(|i| {
                let (mut a, mut b) = (nu.clone(), nu.clone());
                a[i] += h;
                b[i] -= h;
                (outer(&a) - outer(&b)) / (2.0 * h)
            })
            .collect();
        let norm = |x: &[f64]| dot(x, x).sqrt();
        let diff = |x: &[f64]| norm(&x.iter().zip(&fd).map(|(a, b)| a - b).collect::<Vec<_>>()) / norm(&fd);
        let (err_full, err_direct) = (diff(&full), diff(&direct));
        eprintln!(
            "PARL exact: rel. error full {err_full:e}, direct only {err_direct:.3}, ‖implicit‖/‖direct‖ = {:.3}",
            norm(&implicit) / norm(&direct)
        );
        assert!(err_full < 1e-4);
        assert!(err_direct > 0.2, "the implicit term should matter");
    }
}
