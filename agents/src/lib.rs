//! alignrl-agents: learning agents and exact solvers.
//!
//! - [`tabular`]: exact solvers for tabular MDPs (value and policy iteration, exact policy
//!   evaluation, soft value iteration, occupancy measures, successor features, scaled return).

pub mod tabular;
