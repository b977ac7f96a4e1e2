//! Exact policy evaluation by linear solves, and the quantities built on it: Q-values, discounted
//! occupancy measures, successor features, Knox's scaled return.
//!
//! Every solve uses `P̃_π`, the policy's state-transition matrix with the rows of terminal states
//! and the columns into terminal states set to zero: this pins `V(terminal) = 0` (terminal states
//! are absorbing with zero reward) and keeps `γ = 1` well posed for policies that reach a terminal
//! state from every state. The linear systems are solved by LU decomposition (nalgebra).

use alignrl_envs::tabular::TabularMdp;
use nalgebra::{DMatrix, DVector};

use super::dp::policy_iteration;
use super::policy::{Policy, SolveError};

pub(crate) fn check_gamma(gamma: f64) -> Result<(), SolveError> {
    if gamma.is_finite() && (0.0..=1.0).contains(&gamma) {
        Ok(())
    } else {
        Err(SolveError::Invalid(format!("discount γ = {gamma} is outside [0, 1]")))
    }
}

pub(crate) fn check_len(what: &'static str, got: usize, expected: usize) -> Result<(), SolveError> {
    if got == expected { Ok(()) } else { Err(SolveError::Shape { what, expected, got }) }
}

fn check_policy(mdp: &TabularMdp, pi: &Policy) -> Result<(), SolveError> {
    check_len("policy states", pi.n_states(), mdp.n_states())?;
    check_len("policy actions", pi.n_actions(), mdp.n_actions())
}

/// `I − γ P̃_π` (see the [module docs](self)).
fn system_matrix(mdp: &TabularMdp, pi: &Policy, gamma: f64) -> DMatrix<f64> {
    let ns = mdp.n_states();
    let mut m = DMatrix::<f64>::identity(ns, ns);
    for s in (0..ns).filter(|&s| !mdp.is_terminal(s)) {
        for (a, &p_a) in pi.row(s).iter().enumerate() {
            if p_a == 0.0 {
                continue;
            }
            for (next, p) in mdp.successors(s, a) {
                if !mdp.is_terminal(next) {
                    m[(s, next)] -= gamma * p_a * p;
                }
            }
        }
    }
    m
}

/// Solves `(I − γ P̃_π) X = B` (or its transpose) for a right-hand side with `S` rows.
fn solve(
    mdp: &TabularMdp,
    pi: &Policy,
    gamma: f64,
    rhs: DMatrix<f64>,
    transpose: bool,
) -> Result<DMatrix<f64>, SolveError> {
    check_gamma(gamma)?;
    check_policy(mdp, pi)?;
    let mut m = system_matrix(mdp, pi, gamma);
    if transpose {
        m.transpose_mut();
    }
    let x = m.lu().solve(&rhs).ok_or(SolveError::Singular { gamma })?;
    // A numerically singular system shows up as non-finite or astronomically large entries.
    let scale = rhs.amax().max(1.0);
    if x.iter().any(|v| !v.is_finite() || v.abs() > 1e14 * scale) {
        return Err(SolveError::Singular { gamma });
    }
    Ok(x)
}

/// `r_π(s) = Σ_a π(a|s) r(s, a)` (0 in terminal states) for a reward vector `r[s][a]`.
fn policy_rewards(mdp: &TabularMdp, pi: &Policy, rewards: &[f64]) -> DVector<f64> {
    let na = mdp.n_actions();
    DVector::from_fn(mdp.n_states(), |s, _| {
        if mdp.is_terminal(s) {
            0.0
        } else {
            pi.row(s).iter().zip(&rewards[s * na..(s + 1) * na]).map(|(p, r)| p * r).sum()
        }
    })
}

/// `V^π` under the MDP's reward and discount: the solution of `(I − γ P̃_π) V = r_π`.
/// `V(terminal) = 0`.
pub fn evaluate_policy(mdp: &TabularMdp, pi: &Policy) -> Result<Vec<f64>, SolveError> {
    evaluate_policy_with(mdp, pi, mdp.rewards(), mdp.gamma())
}

/// `V^π` for another reward vector `rewards[s][a]` (length `S·A`) and discount `gamma` (e.g. the
/// primary reward of a blended MDP, or a learned discount).
pub fn evaluate_policy_with(
    mdp: &TabularMdp,
    pi: &Policy,
    rewards: &[f64],
    gamma: f64,
) -> Result<Vec<f64>, SolveError> {
    check_len("rewards", rewards.len(), mdp.n_states() * mdp.n_actions())?;
    check_policy(mdp, pi)?;
    let r = policy_rewards(mdp, pi, rewards);
    let ns = mdp.n_states();
    let x = solve(mdp, pi, gamma, DMatrix::from_column_slice(ns, 1, r.as_slice()), false)?;
    Ok(x.column(0).iter().copied().collect())
}

/// `Q(s, a) = r(s, a) + γ Σ_{s'} P(s'|s, a) V(s')` under the MDP's reward and discount, row-major
/// `[s][a]`. Terminal next states count as `V = 0` whatever `v` says, and `Q(terminal, ·) = 0`.
pub fn q_from_v(mdp: &TabularMdp, v: &[f64]) -> Vec<f64> {
    q_from_v_with(mdp, v, mdp.rewards(), mdp.gamma())
}

/// [`q_from_v`] for another reward vector and discount.
///
/// # Panics
/// If `v` or `rewards` has the wrong length.
pub fn q_from_v_with(mdp: &TabularMdp, v: &[f64], rewards: &[f64], gamma: f64) -> Vec<f64> {
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    assert_eq!(v.len(), ns, "V has the wrong length");
    assert_eq!(rewards.len(), ns * na, "rewards have the wrong length");
    let mut q = vec![0.0; ns * na];
    for s in (0..ns).filter(|&s| !mdp.is_terminal(s)) {
        for a in 0..na {
            let future: f64 =
                mdp.successors(s, a).filter(|(n, _)| !mdp.is_terminal(*n)).map(|(n, p)| p * v[n]).sum();
            q[s * na + a] = rewards[s * na + a] + gamma * future;
        }
    }
    q
}

/// `Q^π` (row-major `[s][a]`) under the MDP's reward and discount.
pub fn evaluate_q(mdp: &TabularMdp, pi: &Policy) -> Result<Vec<f64>, SolveError> {
    let v = evaluate_policy(mdp, pi)?;
    Ok(q_from_v(mdp, &v))
}

/// `J = Σ_s μ(s) V(s)`: the expected return from the start distribution.
pub fn start_value(mdp: &TabularMdp, v: &[f64]) -> f64 {
    mdp.start().iter().zip(v).map(|(m, x)| m * x).sum()
}

/// The discounted state occupancy `d^π(s) = Σ_t γ^t Pr(s_t = s, t < T | s_0 ~ μ)`, where `T` is
/// the step at which a terminal state is entered (so terminal states get 0).
///
/// **Normalisation:** unnormalised. `Σ_s d(s) = E[Σ_{t<T} γ^t]`, which is `1 / (1 − γ)` when no
/// terminal state is reachable; multiply by `1 − γ` for a probability distribution in that case.
/// For any reward, `Σ_{s,a} d(s) π(a|s) r(s, a) = Σ_s μ(s) V^π(s)`.
/// Computed as the solution of `(I − γ P̃_π)ᵀ d = μ`.
pub fn state_occupancy(mdp: &TabularMdp, pi: &Policy) -> Result<Vec<f64>, SolveError> {
    let ns = mdp.n_states();
    let x = solve(mdp, pi, mdp.gamma(), DMatrix::from_column_slice(ns, 1, mdp.start()), true)?;
    Ok(x.column(0).iter().copied().collect())
}

/// The discounted state-action occupancy `d^π(s, a) = d^π(s) π(a|s)`, row-major `[s][a]`, with
/// the normalisation of [`state_occupancy`].
pub fn state_action_occupancy(mdp: &TabularMdp, pi: &Policy) -> Result<Vec<f64>, SolveError> {
    let d = state_occupancy(mdp, pi)?;
    let na = mdp.n_actions();
    Ok((0..d.len() * na).map(|i| d[i / na] * pi.prob(i / na, i % na)).collect())
}

/// Successor features `ψ^π(s) = E_π[Σ_{t<T} γ^t φ(s_t, a_t) | s_0 = s]`, row-major `[s][i]`
/// (`S × k`), the solution of `(I − γ P̃_π) Ψ = Φ_π` with `Φ_π(s) = Σ_a π(a|s) φ(s, a)`.
/// `ψ^π(s) · w = V^π(s)` for the reward `φ · w`; `ψ(terminal) = 0`.
pub fn successor_features(mdp: &TabularMdp, pi: &Policy) -> Result<Vec<f64>, SolveError> {
    check_policy(mdp, pi)?;
    let (ns, na, k) = (mdp.n_states(), mdp.n_actions(), mdp.n_features());
    let phi_pi = DMatrix::from_fn(ns, k, |s, i| {
        if mdp.is_terminal(s) { 0.0 } else { (0..na).map(|a| pi.prob(s, a) * mdp.feature(s, a)[i]).sum() }
    });
    let psi = solve(mdp, pi, mdp.gamma(), phi_pi, false)?;
    // nalgebra is column-major: the transpose's storage is Ψ row-major.
    Ok(psi.transpose().as_slice().to_vec())
}

/// State-action successor features `ψ^π(s, a) = φ(s, a) + γ Σ_{s'} P(s'|s, a) ψ^π(s')`,
/// row-major `[s][a][i]` (`S × A × k`); `ψ^π(s, a) · w = Q^π(s, a)`. Zero in terminal states.
pub fn successor_features_sa(mdp: &TabularMdp, pi: &Policy) -> Result<Vec<f64>, SolveError> {
    let psi = successor_features(mdp, pi)?;
    let (ns, na, k) = (mdp.n_states(), mdp.n_actions(), mdp.n_features());
    let gamma = mdp.gamma();
    let mut out = vec![0.0; ns * na * k];
    for s in (0..ns).filter(|&s| !mdp.is_terminal(s)) {
        for a in 0..na {
            let o = &mut out[(s * na + a) * k..(s * na + a + 1) * k];
            o.copy_from_slice(mdp.feature(s, a));
            for (next, p) in mdp.successors(s, a).filter(|(n, _)| !mdp.is_terminal(*n)) {
                for (oi, x) in o.iter_mut().zip(&psi[next * k..(next + 1) * k]) {
                    *oi += gamma * p * x;
                }
            }
        }
    }
    Ok(out)
}

/// Knox et al.'s scaled return of a policy, with its ingredients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaledReturn {
    /// `(J^π − J^unif) / (J* − J^unif)`: 1 = optimal, 0 = uniformly random (> 0.9 counts as
    /// "near-optimal" in the paper).
    pub scaled: f64,
    /// `J^π = Σ_s μ(s) V^π(s)`.
    pub policy: f64,
    /// `J^unif` of the uniformly random policy.
    pub uniform: f64,
    /// `J*` of an optimal policy.
    pub optimal: f64,
}

/// `(J^π − J^unif) / (J* − J^unif)` from the three start-averaged values. NaN when `J* = J^unif`.
pub fn scaled_return_from(policy: f64, uniform: f64, optimal: f64) -> f64 {
    (policy - uniform) / (optimal - uniform)
}

/// Knox's scaled return `(V^π − V^unif) / (V* − V^unif)` under the MDP's reward and discount,
/// each value averaged over the start distribution *before* taking the ratio
/// (`J = Σ_s μ(s) V(s)`). `V*` comes from [`policy_iteration`] (exact).
pub fn scaled_return(mdp: &TabularMdp, pi: &Policy) -> Result<ScaledReturn, SolveError> {
    let j_pi = start_value(mdp, &evaluate_policy(mdp, pi)?);
    let j_unif = start_value(mdp, &evaluate_policy(mdp, &Policy::uniform(mdp.n_states(), mdp.n_actions()))?);
    let j_star = start_value(mdp, &policy_iteration(mdp, &Default::default())?.v);
    Ok(ScaledReturn {
        scaled: scaled_return_from(j_pi, j_unif, j_star),
        policy: j_pi,
        uniform: j_unif,
        optimal: j_star,
    })
}
