//! Exact solvers for tabular MDPs ([`alignrl_envs::tabular::TabularMdp`]).
//!
//! - [`policy`]: [`Policy`], a stochastic tabular policy `π[s][a]`; [`SolveError`].
//! - [`exact`]: exact policy evaluation by the linear solve `(I − γ P_π) V = r_π`
//!   ([`evaluate_policy`], [`evaluate_policy_with`] for other rewards or discounts), Q-values from
//!   V ([`q_from_v`]), discounted occupancy measures ([`state_occupancy`],
//!   [`state_action_occupancy`]), successor features ([`successor_features`],
//!   [`successor_features_sa`]) and Knox et al.'s scaled return ([`scaled_return`]).
//! - [`dp`]: [`value_iteration`], [`policy_iteration`], [`soft_value_iteration`].
//!
//! # Conventions
//!
//! All arrays are flat and row-major: `V[s]`, `Q[s][a]` at `s * A + a`, `π[s][a]` likewise,
//! features `[s][i]` or `[s][a][i]`. Rewards are the MDP's `r(s, a) = φ(s, a) · w` and the
//! discount its `γ` unless a `_with` variant takes others. Terminal states are absorbing with
//! zero reward: every solver pins `V(terminal) = Q(terminal, ·) = 0` and ignores transitions
//! into terminal states in the future-value sums, which keeps `γ = 1` well posed for policies
//! that reach a terminal state from every state (others give [`SolveError::Singular`]).

pub mod dp;
pub mod exact;
pub mod policy;

pub use dp::{
    PiOptions, SoftSolution, Solution, ViOptions, policy_iteration, soft_value_iteration, value_iteration,
};
pub use exact::{
    ScaledReturn, evaluate_policy, evaluate_policy_with, evaluate_q, q_from_v, q_from_v_with, scaled_return,
    scaled_return_from, start_value, state_action_occupancy, state_occupancy, successor_features,
    successor_features_sa,
};
pub use policy::{POLICY_SUM_TOL, Policy, SolveError, greedy_actions};
