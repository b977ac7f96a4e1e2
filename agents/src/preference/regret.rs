//! Knox et al.'s regret preference model for deterministic transitions.
//!
//! `regret(σ | w) = V*_w(s_0) − (Σ_t r_w(s_t, a_t) + V*_w(s_T))`, `r_w = w · φ`, and
//! `P(σ1 ≻ σ2) = σ(regret(σ2) − regret(σ1))`, so the model's score is
//! `score(σ) = w · Σ_t φ_t + V*_w(s_T) − V*_w(s_0)` (undiscounted segment sum, γ-discounted `V*`,
//! `V*(terminal) = 0`). Two ways to get `V*_w` and `∂V*_w/∂w`:
//!
//! - [`VStar::Library`] (Knox et al.'s code): a fixed [`PolicyLibrary`] of deterministic policies
//!   with successor features `ψ^π(s)`, and the soft maximum
//!   `V(s) = Σ_π p_π u_π`, `u_π = w · ψ^π(s)`, `p = softmax(u / T)`, whose gradient is
//!   `∂V/∂w = Σ_π p_π ψ^π(s) (1 + (u_π − V(s)) / T)`. Knox et al. use `T = 0.001`.
//! - [`VStar::Exact`]: `V*_w` by policy iteration (warm-started from the previous optimal policy)
//!   and, by the envelope theorem, `∂V*_w(s)/∂w = ψ^{π*_w}(s)`, the successor features of the
//!   optimal policy (exact wherever the optimal policy is unique; a subgradient at ties).

use std::sync::Arc;

use alignrl_envs::tabular::TabularMdp;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::data::{PreferenceError, PreferencePair, Segment, dot, invalid};
use super::model::{
    DifferentiableModel, RewardModel, TrainConfig, TrainSummary, bt_loss, check_params, check_segments,
    fit_adam,
};
use crate::tabular::{
    PiOptions, Policy, Solution, SolveError, ViOptions, policy_iteration, successor_features, value_iteration,
};

/// Knox et al.'s component values for library reward vectors in the delivery domain.
pub const KNOX_DELIVERY_VALUES: [f64; 6] = [-1.0, 50.0, -50.0, 1.0, -1.0, -2.0];
/// Knox et al.'s component values for library reward vectors in random MDPs.
pub const KNOX_RANDOM_MDP_VALUES: [f64; 9] = [50.0, -50.0, 1.0, -1.0, -2.0, 0.0, -10.0, 10.0, 5.0];
/// Knox et al.'s soft-maximum temperature.
pub const KNOX_TEMPERATURE: f64 = 0.001;

/// The exact optimal solution of `mdp` (its current weights): policy iteration from `warm`
/// (action 0 everywhere if `None`); if that start policy makes `I − γP` singular (γ = 1 and it
/// never terminates), value iteration first and policy iteration from its greedy policy.
pub fn solve_optimal(mdp: &TabularMdp, warm: Option<Vec<usize>>) -> Result<Solution, PreferenceError> {
    match policy_iteration(mdp, &PiOptions { max_iters: 0, initial: warm }) {
        Err(SolveError::Singular { .. }) => {
            let vi = value_iteration(mdp, &ViOptions::default())?;
            Ok(policy_iteration(mdp, &PiOptions { max_iters: 0, initial: Some(vi.actions) })?)
        }
        other => Ok(other?),
    }
}

/// Errors unless every transition of `mdp` is deterministic.
pub fn require_deterministic(mdp: &TabularMdp) -> Result<(), PreferenceError> {
    for s in 0..mdp.n_states() {
        for a in 0..mdp.n_actions() {
            if mdp.successors(s, a).count() != 1 {
                return Err(invalid(
                    "MDP",
                    format!("the regret model needs deterministic transitions; P[{s}][{a}] is stochastic"),
                ));
            }
        }
    }
    Ok(())
}

/// A fixed set of deterministic policies with their successor features `ψ^π(s) ∈ R^k`.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyLibrary {
    n_states: usize,
    n_features: usize,
    actions: Vec<Vec<usize>>,
    /// `ψ[π][s][i]`, flat.
    psi: Vec<f64>,
}

impl PolicyLibrary {
    /// The library of the given deterministic policies (`actions[π][s]`), duplicates removed
    /// (policies that agree on every non-terminal state are the same).
    pub fn from_actions(mdp: &TabularMdp, policies: &[Vec<usize>]) -> Result<Self, PreferenceError> {
        let (ns, k) = (mdp.n_states(), mdp.n_features());
        let mut lib = PolicyLibrary { n_states: ns, n_features: k, actions: Vec::new(), psi: Vec::new() };
        for acts in policies {
            let canon: Vec<usize> =
                acts.iter().enumerate().map(|(s, &a)| if mdp.is_terminal(s) { 0 } else { a }).collect();
            if lib.actions.contains(&canon) {
                continue;
            }
            let pi = Policy::deterministic(&canon, mdp.n_actions())?;
            lib.psi.extend(successor_features(mdp, &pi)?);
            lib.actions.push(canon);
        }
        if lib.actions.is_empty() {
            return Err(invalid("policy library", "no policies"));
        }
        Ok(lib)
    }

    /// Knox et al.'s library: `n_draws` reward vectors with every component drawn uniformly from
    /// `values`, each solved exactly (policy iteration), duplicates removed.
    pub fn from_random_rewards(
        mdp: &TabularMdp,
        n_draws: usize,
        values: &[f64],
        seed: u64,
    ) -> Result<Self, PreferenceError> {
        if values.is_empty() || n_draws == 0 {
            return Err(invalid("policy library", "needs at least one draw and one value"));
        }
        let mut rng = Pcg64::seed_from_u64(seed);
        let mut work = mdp.clone();
        let mut policies = Vec::with_capacity(n_draws);
        let k = mdp.n_features();
        let mut w = vec![0.0; k];
        for _ in 0..n_draws {
            w.iter_mut().for_each(|x| *x = values[rng.random_range(0..values.len())]);
            work.set_weights(&w)?;
            policies.push(solve_optimal(&work, None)?.actions);
        }
        Self::from_actions(mdp, &policies)
    }

    /// Number of (distinct) policies.
    pub fn len(&self) -> usize {
        self.actions.len()
    }
    /// Whether the library is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
    /// Number of states.
    pub fn n_states(&self) -> usize {
        self.n_states
    }
    /// The actions of policy `i`.
    pub fn policy_actions(&self, i: usize) -> &[usize] {
        &self.actions[i]
    }
    /// `ψ^{π_i}(s)`.
    pub fn psi(&self, i: usize, s: usize) -> &[f64] {
        let k = self.n_features;
        let o = (i * self.n_states + s) * k;
        &self.psi[o..o + k]
    }

    /// The soft maximum `V(s)` at temperature `T > 0` (see the [module docs](self)), writing
    /// `∂V(s)/∂w` into `grad` (length `k`); `u` is scratch of length [`PolicyLibrary::len`].
    pub fn soft_value(&self, w: &[f64], s: usize, temperature: f64, grad: &mut [f64], u: &mut [f64]) -> f64 {
        for (i, ui) in u.iter_mut().enumerate() {
            *ui = dot(self.psi(i, s), w);
        }
        let m = u.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // Policies with (u − m) / T < −CUTOFF have weight < e^−60 relative to the best one, below
        // f64 round-off: skip their exponentials (at T = 0.001 that is almost every policy).
        const CUTOFF: f64 = 60.0;
        let weight = |ui: f64| {
            let x = (ui - m) / temperature;
            if x < -CUTOFF { 0.0 } else { x.exp() }
        };
        let mut z = 0.0;
        let mut v = 0.0;
        for &ui in u.iter() {
            let e = weight(ui);
            z += e;
            v += e * ui;
        }
        v /= z;
        grad.fill(0.0);
        for (i, &ui) in u.iter().enumerate() {
            let p = weight(ui) / z;
            let c = p * (1.0 + (ui - v) / temperature);
            if c != 0.0 {
                for (g, x) in grad.iter_mut().zip(self.psi(i, s)) {
                    *g += c * x;
                }
            }
        }
        v
    }
}

/// How the regret model computes `V*_w` and its gradient.
#[derive(Debug, Clone)]
pub enum VStar {
    /// Soft maximum over a policy library at a temperature (Knox et al.: `T = 0.001`).
    Library {
        /// The library (shared between models of the same MDP).
        library: Arc<PolicyLibrary>,
        /// The temperature `T > 0`.
        temperature: f64,
    },
    /// Exact `V*_w` by policy iteration on this MDP (its weights are overwritten with `w`),
    /// gradient by the envelope theorem.
    Exact {
        /// A copy of the MDP.
        mdp: Box<TabularMdp>,
        /// The last optimal policy (warm start).
        actions: Vec<usize>,
    },
}

/// The linear-reward regret model (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct RegretModel {
    w: Vec<f64>,
    vstar: VStar,
    n_states: usize,
    /// `V*_w(s)`.
    v: Vec<f64>,
    /// `∂V*_w(s)/∂w`, `S × k`.
    g: Vec<f64>,
}

impl RegretModel {
    /// The policy-library variant for `mdp` (deterministic), with zero initial weights.
    pub fn with_library(
        mdp: &TabularMdp,
        library: Arc<PolicyLibrary>,
        temperature: f64,
    ) -> Result<Self, PreferenceError> {
        require_deterministic(mdp)?;
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(invalid("regret model", format!("temperature {temperature} must be positive")));
        }
        if library.n_states != mdp.n_states() || library.n_features != mdp.n_features() {
            return Err(invalid("regret model", "the policy library was built for another MDP"));
        }
        let k = mdp.n_features();
        Self::build(k, mdp.n_states(), VStar::Library { library, temperature })
    }

    /// The exact variant for `mdp` (deterministic), with zero initial weights.
    pub fn exact(mdp: &TabularMdp) -> Result<Self, PreferenceError> {
        require_deterministic(mdp)?;
        let k = mdp.n_features();
        let vstar = VStar::Exact { mdp: Box::new(mdp.clone()), actions: vec![0; mdp.n_states()] };
        Self::build(k, mdp.n_states(), vstar)
    }

    fn build(k: usize, ns: usize, vstar: VStar) -> Result<Self, PreferenceError> {
        let mut m =
            RegretModel { w: vec![0.0; k], vstar, n_states: ns, v: vec![0.0; ns], g: vec![0.0; ns * k] };
        match m.refresh() {
            // With γ = 1 the zero reward has no policy with finite successor features; V*_0 = 0
            // and the gradient starts at 0 until the first update of w.
            Err(PreferenceError::Solve(SolveError::Singular { .. })) => {
                m.v.fill(0.0);
                m.g.fill(0.0);
                Ok(m)
            }
            other => other.map(|()| m),
        }
    }

    /// The weights `w`.
    pub fn weights(&self) -> &[f64] {
        &self.w
    }
    /// `V*_w` at every state (the model's approximation for the library variant).
    pub fn values(&self) -> &[f64] {
        &self.v
    }
    /// `∂V*_w(s)/∂w`.
    pub fn value_grad(&self, s: usize) -> &[f64] {
        let k = self.w.len();
        &self.g[s * k..(s + 1) * k]
    }
    /// The regret `V*_w(s_0) − (Σ r_w + V*_w(s_T))` of a segment (= −score).
    pub fn regret(&self, seg: &Segment) -> Result<f64, PreferenceError> {
        Ok(-self.score(seg)?)
    }

    fn refresh(&mut self) -> Result<(), PreferenceError> {
        let k = self.w.len();
        match &mut self.vstar {
            VStar::Library { library, temperature } => {
                let mut u = vec![0.0; library.len()];
                for s in 0..self.n_states {
                    self.v[s] =
                        library.soft_value(&self.w, s, *temperature, &mut self.g[s * k..(s + 1) * k], &mut u);
                }
            }
            VStar::Exact { mdp, actions } => {
                mdp.set_weights(&self.w)?;
                let sol = solve_optimal(mdp, Some(actions.clone()))?;
                let pi = Policy::deterministic(&sol.actions, mdp.n_actions())?;
                self.g = successor_features(mdp, &pi)?;
                for s in 0..self.n_states {
                    self.v[s] = dot(&self.g[s * k..(s + 1) * k], &self.w);
                }
                *actions = sol.actions;
            }
        }
        Ok(())
    }

    fn check_states(&self, seg: &Segment) -> Result<(), PreferenceError> {
        if seg.n_features() != self.w.len() {
            return Err(invalid(
                "segment",
                format!("{} features, the model {}", seg.n_features(), self.w.len()),
            ));
        }
        if seg.start() >= self.n_states || seg.end() >= self.n_states {
            return Err(invalid("segment", format!("a state is outside the MDP ({} states)", self.n_states)));
        }
        Ok(())
    }
}

impl RewardModel for RegretModel {
    fn n_features(&self) -> usize {
        self.w.len()
    }
    fn score(&self, seg: &Segment) -> Result<f64, PreferenceError> {
        self.check_states(seg)?;
        Ok(seg.partial_return(&self.w) + self.v[seg.end()] - self.v[seg.start()])
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

impl DifferentiableModel for RegretModel {
    fn params(&self) -> Vec<f64> {
        self.w.clone()
    }
    fn set_params(&mut self, params: &[f64]) -> Result<(), PreferenceError> {
        check_params(params, self.w.len())?;
        self.w.copy_from_slice(params);
        self.refresh()
    }
    fn loss_and_grad(&self, pairs: &[PreferencePair], grad: &mut [f64]) -> Result<f64, PreferenceError> {
        check_segments(pairs, self.w.len())?;
        let k = self.w.len();
        grad.fill(0.0);
        // Per-state coefficients of ∂V/∂w, so each state's gradient row is added once.
        let mut coef = vec![0.0; self.n_states];
        let mut total = 0.0;
        for p in pairs {
            let (l, r) = (p.left(), p.right());
            let (loss, d) = bt_loss(self.score(l)? - self.score(r)?, p.label());
            total += loss;
            for ((gi, a), b) in grad.iter_mut().zip(l.feature_sum()).zip(r.feature_sum()) {
                *gi += d * (a - b);
            }
            coef[l.end()] += d;
            coef[l.start()] -= d;
            coef[r.end()] -= d;
            coef[r.start()] += d;
        }
        for (s, &c) in coef.iter().enumerate().filter(|(_, c)| **c != 0.0) {
            for (gi, x) in grad.iter_mut().zip(&self.g[s * k..(s + 1) * k]) {
                *gi += c * x;
            }
        }
        let n = pairs.len().max(1) as f64;
        grad.iter_mut().for_each(|g| *g /= n);
        Ok(total / n)
    }
}
