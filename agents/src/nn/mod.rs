//! Neural-network building blocks for deep-RL agents (burn modules, generic over `B: Backend`).
//!
//! - [`mlp`]: [`Mlp`], a multilayer perceptron with a chosen hidden [`Activation`], built from an
//!   [`MlpConfig`] (burn's Module/Config pairing).
//! - [`init`]: seeded orthogonal initialisation ([`orthogonal_matrix`], [`orthogonal_linear`])
//!   and the CleanRL/SB3 gains [`HIDDEN_GAIN`] `= √2`, [`POLICY_GAIN`] `= 0.01`,
//!   [`VALUE_GAIN`] `= 1`.

pub mod init;
pub mod mlp;

pub use init::{HIDDEN_GAIN, POLICY_GAIN, VALUE_GAIN, orthogonal_linear, orthogonal_matrix};
pub use mlp::{Activation, Mlp, MlpConfig};
