//! Shared pieces of deep-RL algorithms (PPO, SAC): advantage estimation, storage, losses and
//! target-network updates. Algorithms call these directly; nothing here owns a training loop.
//!
//! - [`gae`]: GAE(λ) on flat `[T, N]` slices ([`compute_gae`]), with bootstrapping on truncation
//!   but not on termination and a mask for Gymnasium next-step autoreset rows.
//! - [`rollout`]: [`RolloutBuffer`], PPO's preallocated `[T, N, …]` on-policy storage, seeded
//!   minibatch shuffling and per-minibatch advantage normalisation.
//! - [`replay`]: [`ReplayBuffer`], SAC's fixed-capacity ring buffer with seeded uniform sampling.
//! - [`ppo_loss`](mod@ppo_loss): [`ppo_loss()`], the clipped-surrogate PPO loss on burn tensors, with its
//!   diagnostics (approximate KL, clip fraction).
//! - [`polyak`]: [`polyak_update`] for target networks and [`clip_grad_norm`], global gradient-norm
//!   clipping across a whole module.
//! - [`fused`]: [`FusedPpo`], a CPU engine for PPO's small MLPs (hand-written forward/backward,
//!   loss, clipping and Adam on flat `f32` buffers).
//! - [`vec_normalize`]: [`VecNormalize`], SB3's shared observation and return-scale reward
//!   normalisation for a vector of envs, and the frozen [`ObsNormalization`] a policy keeps.
//!
//! # Conventions
//!
//! Rollout arrays are flat and time-major: element `(t, i)` of a `[T, N]` array (step `t`,
//! sub-env `i`) sits at `t * N + i`, and `[T, N, D]` arrays hold `D` values per element. Row `t`
//! stores the observation the agent acted on at step `t`, that action, and the reward and
//! `terminated`/`truncated` flags that step returned. With next-step autoreset
//! ([`alignrl_envs::vector`]) the row after a `done` is a *reset row*: it is not a transition,
//! gets no advantage, and is left out of learning.

pub mod fused;
pub mod fused_sac;
pub mod gae;
pub mod polyak;
pub mod ppo_loss;
pub mod replay;
pub mod rollout;
pub mod vec_normalize;

pub use fused::{FusedAdam, FusedLayout, FusedLoss, FusedPpo};
pub use fused_sac::{FusedSac, SacLayout};
pub use gae::{GaeInput, NextValues, Real, compute_gae};
pub use polyak::{clip_grad_norm, polyak_update};
pub use ppo_loss::{PpoBatch, PpoLoss, PpoLossConfig, ppo_loss};
pub use replay::{ReplayBatch, ReplayBuffer, Transition};
pub use rollout::{Minibatch, RolloutBuffer, RolloutStep};
pub use vec_normalize::{NORMALIZE_EPSILON, ObsNormalization, VecNormalize};

/// Why an RL building block rejected its inputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RlError {
    /// An array has the wrong length.
    #[error("{what} has length {got}, expected {expected}")]
    Shape {
        /// Which array.
        what: &'static str,
        /// The length it should have.
        expected: usize,
        /// The length it has.
        got: usize,
    },
    /// A parameter or a call is invalid (out of range, buffer full or empty, …).
    #[error("{0}")]
    Invalid(String),
}

/// `Ok` when `got == expected`, else [`RlError::Shape`].
pub(crate) fn check_len(what: &'static str, got: usize, expected: usize) -> Result<(), RlError> {
    if got == expected { Ok(()) } else { Err(RlError::Shape { what, expected, got }) }
}

/// `Ok` when `0 ≤ x ≤ 1`, else [`RlError::Invalid`] naming `what`.
pub(crate) fn check_unit(what: &str, x: f64) -> Result<(), RlError> {
    if (0.0..=1.0).contains(&x) {
        Ok(())
    } else {
        Err(RlError::Invalid(format!("{what} = {x} is outside [0, 1]")))
    }
}
