//! alignrl-agents: learning agents and exact solvers.
//!
//! - [`backend`]: the CPU backend (burn `Flex`) and, behind the `cuda` feature, CUDA, with
//!   device probing that turns a missing GPU into a clear error.
//! - [`tabular`]: exact solvers for tabular MDPs (value and policy iteration, exact policy
//!   evaluation, soft value iteration, occupancy measures, successor features, scaled return).

pub mod backend;
pub mod tabular;
