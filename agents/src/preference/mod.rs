//! Preference-based reward learning (Knox et al., "Models of human preference for learning
//! reward functions", arXiv 2206.02231; B-Pref teachers of Lee et al. 2021).
//!
//! - [`data`]: [`Segment`] (states, actions, per-step reward features, optional rewards and
//!   observations), [`PreferencePair`] (soft label `P(left ≻ right) ∈ [0, 1]`),
//!   [`PreferenceDataset`] (JSON Lines with a schema version; malformed lines are
//!   [`PreferenceError::Parse`] with the line number and field), segment samplers for tabular MDPs.
//! - [`teacher`]: the [`Teacher`] trait; [`ScriptedTeacher`] (partial return or regret, B-Pref
//!   noise: stochastic β, mistake ε, skip, equal, myopic γ); [`FileTeacher`] (recorded labels).
//! - [`model`]: the [`RewardModel`] trait, the Bradley–Terry loss, Adam training
//!   ([`fit_adam`]), the linear partial-return model [`LinearBtModel`].
//! - [`mlp`]: [`MlpBtModel`], an MLP Bradley–Terry reward model trained with burn.
//! - [`ensemble`]: [`Ensemble`] of reward models with disagreement-based query selection.
//! - [`regret`]: Knox et al.'s regret model [`RegretModel`] for deterministic transitions, with
//!   `V*` from a [`PolicyLibrary`] soft maximum or exactly (envelope-theorem gradient).
//! - [`domains`]: random delivery-like worlds.
//! - [`eval`]: learned reward → optimal policy → scaled return under the true reward.
//!
//! Conventions: `P(σ1 ≻ σ2) = σ(score(σ1) − score(σ2))` with the logistic `σ`; partial returns are
//! undiscounted sums over the segment; `V*` is the MDP's γ-discounted optimal value with
//! `V*(terminal) = 0`.

pub mod data;
pub mod domains;
pub mod ensemble;
pub mod eval;
pub mod mlp;
pub mod model;
pub mod regret;
pub mod teacher;

pub use data::{
    ActionSource, PreferenceDataset, PreferenceError, PreferencePair, SCHEMA_NAME, SCHEMA_VERSION, Segment,
    rollout_segment, sample_segment, sample_segment_pairs, sample_segment_pairs_seeded,
    segments_from_rollout, with_swapped,
};
pub use domains::{random_delivery_board, random_delivery_world};
pub use ensemble::Ensemble;
pub use eval::{
    Baselines, NEAR_OPTIMAL, cosine, optimal_policy_for, scaled_return_of_model, scaled_return_of_rewards,
};
pub use mlp::MlpBtModel;
pub use model::{
    DifferentiableModel, LinearBtModel, RewardModel, TrainConfig, TrainSummary, bt_loss,
    finite_difference_grad, fit_adam, softplus,
};
pub use regret::{
    KNOX_DELIVERY_VALUES, KNOX_RANDOM_MDP_VALUES, KNOX_TEMPERATURE, PolicyLibrary, RegretModel, VStar,
    require_deterministic, solve_optimal,
};
pub use teacher::{FileTeacher, LabelModel, ScriptedTeacher, Teacher, TeacherConfig, TieMode, logistic};
