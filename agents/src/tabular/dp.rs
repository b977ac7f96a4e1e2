//! Dynamic programming for the optimal policy: value iteration, policy iteration, and soft
//! (entropy-regularised) value iteration.
//!
//! Terminal states have `V = 0` and `Q = 0` throughout; their policy rows are arbitrary (action 0,
//! or uniform for the softmax policy).

use alignrl_envs::tabular::TabularMdp;

use super::exact::{check_gamma, evaluate_policy, q_from_v};
use super::policy::{Policy, SolveError, greedy_actions};

/// Settings of the iterative solvers ([`value_iteration`], [`soft_value_iteration`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViOptions {
    /// Stop when the sup-norm change of `V` in one sweep is at most `tol`. For `γ < 1` the result
    /// is then within `tol · γ / (1 − γ)` of the fixed point.
    pub tol: f64,
    /// Iteration cap; reaching it is [`SolveError::NotConverged`].
    pub max_iters: usize,
}

impl Default for ViOptions {
    /// `tol = 1e-10`, `max_iters = 1_000_000`.
    fn default() -> Self {
        ViOptions { tol: 1e-10, max_iters: 1_000_000 }
    }
}

/// Settings of [`policy_iteration`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PiOptions {
    /// Iteration cap (0 means 10 000); reaching it is [`SolveError::NotConverged`].
    pub max_iters: usize,
    /// The initial deterministic policy (one action per state); `None` is action 0 everywhere.
    /// With `γ = 1` it must reach a terminal state from every state.
    pub initial: Option<Vec<usize>>,
}

/// An optimal value function with its greedy policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// `V*(s)`.
    pub v: Vec<f64>,
    /// `Q*(s, a)`, row-major, consistent with `v` (`Q = r + γ P V`).
    pub q: Vec<f64>,
    /// The greedy action of every state (ties go to the lowest index; action 0 in terminal states).
    pub actions: Vec<usize>,
    /// Sweeps (value iteration) or policy evaluations (policy iteration) performed.
    pub iterations: usize,
    /// Last sup-norm change of `V` (0 for policy iteration).
    pub residual: f64,
}

impl Solution {
    /// The greedy policy as a (deterministic) [`Policy`].
    pub fn policy(&self) -> Policy {
        let na = self.q.len() / self.v.len().max(1);
        Policy::deterministic(&self.actions, na).expect("greedy actions are in range")
    }
}

fn check_options(opts: &ViOptions) -> Result<(), SolveError> {
    if opts.tol.is_finite() && opts.tol > 0.0 {
        Ok(())
    } else {
        Err(SolveError::Invalid(format!("tolerance {} must be positive and finite", opts.tol)))
    }
}

/// The transitions into non-terminal states, as sparse rows (terminal next states count as
/// `V = 0`, terminal source states get `Q = 0`), for fast repeated Bellman backups.
struct Backup {
    offsets: Vec<usize>,
    next: Vec<usize>,
    prob: Vec<f64>,
}

impl Backup {
    fn new(mdp: &TabularMdp) -> Self {
        let (ns, na) = (mdp.n_states(), mdp.n_actions());
        let mut b = Backup { offsets: Vec::with_capacity(ns * na + 1), next: Vec::new(), prob: Vec::new() };
        b.offsets.push(0);
        for s in 0..ns {
            for a in 0..na {
                if !mdp.is_terminal(s) {
                    for (n, p) in mdp.successors(s, a).filter(|(n, _)| !mdp.is_terminal(*n)) {
                        b.next.push(n);
                        b.prob.push(p);
                    }
                }
                b.offsets.push(b.next.len());
            }
        }
        b
    }

    /// `q[s][a] = r[s][a] + γ Σ P V` (0 for terminal `s`).
    fn q(&self, mdp: &TabularMdp, v: &[f64], q: &mut [f64]) {
        let gamma = mdp.gamma();
        let r = mdp.rewards();
        let na = mdp.n_actions();
        for (i, qi) in q.iter_mut().enumerate() {
            if mdp.is_terminal(i / na) {
                *qi = 0.0;
                continue;
            }
            let (lo, hi) = (self.offsets[i], self.offsets[i + 1]);
            let future: f64 = self.next[lo..hi].iter().zip(&self.prob[lo..hi]).map(|(&n, p)| p * v[n]).sum();
            *qi = r[i] + gamma * future;
        }
    }
}

fn sup_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// Value iteration from `V = 0`: `V ← max_a [r + γ P V]` until the sup-norm change is at most
/// `opts.tol`. Returns `V`, `Q = r + γ P V` and the greedy policy of that `Q`.
pub fn value_iteration(mdp: &TabularMdp, opts: &ViOptions) -> Result<Solution, SolveError> {
    check_options(opts)?;
    check_gamma(mdp.gamma())?;
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    let backup = Backup::new(mdp);
    let mut v = vec![0.0; ns];
    let mut next = vec![0.0; ns];
    let mut q = vec![0.0; ns * na];
    let mut residual = f64::INFINITY;
    for it in 1..=opts.max_iters {
        backup.q(mdp, &v, &mut q);
        for (s, x) in next.iter_mut().enumerate() {
            *x = if mdp.is_terminal(s) {
                0.0
            } else {
                q[s * na..(s + 1) * na].iter().copied().fold(f64::NEG_INFINITY, f64::max)
            };
        }
        residual = sup_diff(&next, &v);
        std::mem::swap(&mut v, &mut next);
        if residual <= opts.tol {
            let q = q_from_v(mdp, &v);
            let actions = greedy_actions(&q, na);
            return Ok(Solution { v, q, actions, iterations: it, residual });
        }
    }
    Err(SolveError::NotConverged { iterations: opts.max_iters, residual })
}

/// Howard's policy iteration: exact evaluation (linear solve), then greedy improvement, until the
/// policy is stable. An action changes only when it beats the current one by more than
/// `1e-12 · (1 + |Q|)` (no cycling on round-off ties). The result is exact up to round-off.
pub fn policy_iteration(mdp: &TabularMdp, opts: &PiOptions) -> Result<Solution, SolveError> {
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    let mut actions = match &opts.initial {
        Some(a) => {
            if a.len() != ns {
                return Err(SolveError::Shape { what: "initial policy", expected: ns, got: a.len() });
            }
            a.clone()
        }
        None => vec![0; ns],
    };
    let max_iters = if opts.max_iters == 0 { 10_000 } else { opts.max_iters };
    for it in 1..=max_iters {
        let pi = Policy::deterministic(&actions, na)?;
        let v = evaluate_policy(mdp, &pi)?;
        let q = q_from_v(mdp, &v);
        let mut changed = false;
        for s in (0..ns).filter(|&s| !mdp.is_terminal(s)) {
            let row = &q[s * na..(s + 1) * na];
            let current = row[actions[s]];
            let best = greedy_actions(row, na)[0];
            if row[best] > current + 1e-12 * (1.0 + current.abs()) {
                actions[s] = best;
                changed = true;
            }
        }
        if !changed {
            for s in (0..ns).filter(|&s| mdp.is_terminal(s)) {
                actions[s] = 0;
            }
            return Ok(Solution { v, q, actions, iterations: it, residual: 0.0 });
        }
    }
    Err(SolveError::NotConverged { iterations: max_iters, residual: f64::NAN })
}

/// The result of [`soft_value_iteration`].
#[derive(Debug, Clone, PartialEq)]
pub struct SoftSolution {
    /// Soft optimal values `V_τ(s) = τ log Σ_a exp(Q_τ(s, a) / τ)`.
    pub v: Vec<f64>,
    /// Soft Q-values `Q_τ = r + γ P V_τ`, row-major.
    pub q: Vec<f64>,
    /// The softmax policy `π_τ(a|s) ∝ exp(Q_τ(s, a) / τ)` (uniform in terminal states).
    pub policy: Policy,
    /// Sweeps performed.
    pub iterations: usize,
    /// Last sup-norm change of `V`.
    pub residual: f64,
}

/// Soft (entropy-regularised) value iteration at temperature `τ > 0`:
/// `V(s) ← τ log Σ_a exp([r(s, a) + γ Σ_{s'} P(s'|s, a) V(s')] / τ)`.
///
/// `V_τ` is the optimal value of the entropy-regularised objective
/// `E[Σ_t γ^t (r(s_t, a_t) + τ H(π(·|s_t)))]` and `π_τ` its optimal policy. As `τ → 0`,
/// `0 ≤ V_τ − V* ≤ τ log(A) / (1 − γ)` (for `γ < 1`).
pub fn soft_value_iteration(
    mdp: &TabularMdp,
    tau: f64,
    opts: &ViOptions,
) -> Result<SoftSolution, SolveError> {
    if !(tau.is_finite() && tau > 0.0) {
        return Err(SolveError::Invalid(format!("temperature τ = {tau} must be positive and finite")));
    }
    check_options(opts)?;
    check_gamma(mdp.gamma())?;
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    let soft_max = |row: &[f64]| {
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        m + tau * row.iter().map(|x| ((x - m) / tau).exp()).sum::<f64>().ln()
    };
    let backup = Backup::new(mdp);
    let mut v = vec![0.0; ns];
    let mut next = vec![0.0; ns];
    let mut q = vec![0.0; ns * na];
    let mut residual = f64::INFINITY;
    for it in 1..=opts.max_iters {
        backup.q(mdp, &v, &mut q);
        for (s, x) in next.iter_mut().enumerate() {
            *x = if mdp.is_terminal(s) { 0.0 } else { soft_max(&q[s * na..(s + 1) * na]) };
        }
        residual = sup_diff(&next, &v);
        std::mem::swap(&mut v, &mut next);
        if residual <= opts.tol {
            let q = q_from_v(mdp, &v);
            let policy = Policy::softmax(&q, na, tau);
            return Ok(SoftSolution { v, q, policy, iterations: it, residual });
        }
    }
    Err(SolveError::NotConverged { iterations: opts.max_iters, residual })
}
