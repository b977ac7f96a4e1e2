//! Bilevel reward design: BARFI and PARL / A-PARL (methods.md §0–§2).
//!
//! - [`ihvp`]: implicit-function-theorem hypergradients; inverse-Hessian-vector products by
//!   conjugate gradient (with damping) or Neumann series; finite-difference Hessian-vector
//!   products for neural policies (burn has no double backward; the module docs state the step
//!   and its `O(h²)` error).
//! - [`softmax`]: exact value, gradient, Hessian-vector products (forward mode) and mixed
//!   second derivatives (vector-Jacobian products) of the return of a tabular softmax policy,
//!   optionally KL-regularised towards the uniform policy, with a quadratic logit penalty.
//! - [`barfi`]: tabular exact BARFI (learned reward mix and discount, Newton inner solve, Adam
//!   outer ascent on the implicit hypergradient).
//! - [`deep`]: deep BARFI on classic control with a PPO inner loop (zeroth-order Neumann
//!   hypergradient from per-component REINFORCE gradients of the burn actor).
//! - [`deep_parl`]: deep PARL / A-PARL with a warm-started PPO lower level on a learned linear
//!   reward, Bradley–Terry upper level on segments from the current policy (zeroth-order Neumann
//!   implicit term with a score-function estimate of the data dependence).
//! - [`parl`]: tabular exact PARL / A-PARL (soft-optimal lower level, Bradley–Terry upper level
//!   on segments from the current policy, full or alternating hypergradient).

pub mod barfi;
pub mod deep;
pub mod deep_parl;
pub mod ihvp;
pub mod parl;
pub mod softmax;

pub use ihvp::{
    CgOptions, CgResult, InverseHvp, conjugate_gradient, default_fd_step, finite_difference_hvp,
    implicit_hypergradient, inverse_hvp, neumann_inverse_hvp, spectral_norm,
};
pub use softmax::{Penalty, SoftmaxModel, SoftmaxObjective, SoftmaxPoint, softmax_rows};

/// Errors of the bilevel machinery.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BilevelError {
    /// An input has the wrong length.
    #[error("{what} has length {got}, expected {expected}")]
    Shape {
        /// Which input.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// A setting or value is out of range.
    #[error("{0}")]
    Invalid(String),
    /// `I − γ P_π` could not be factorised or gave non-finite values.
    #[error("the policy-evaluation system I − γ P_π is singular")]
    Singular,
    /// Conjugate gradient met a direction of non-positive curvature.
    #[error("the system is not positive definite (curvature pᵀAp = {curvature:e})")]
    NotPositiveDefinite {
        /// The offending curvature.
        curvature: f64,
    },
    /// An inner solver did not converge.
    #[error("inner solver did not converge: {0}")]
    NotConverged(String),
    /// A tabular solver failed.
    #[error(transparent)]
    Solve(#[from] crate::tabular::SolveError),
    /// An MDP could not be built.
    #[error(transparent)]
    Mdp(#[from] alignrl_envs::tabular::MdpError),
}
