//! Evaluation of a learned reward: optimal policy of the learned reward (value iteration, then
//! confirmed exactly by policy iteration), scored by Knox et al.'s scaled return
//! `(J^π − J^unif) / (J* − J^unif)` under the true reward (`J = Σ_s μ(s) V(s)`; > 0.9 is
//! "near-optimal").

use alignrl_envs::tabular::{MdpParts, TabularMdp};

use super::data::{PreferenceError, invalid};
use super::model::RewardModel;
use crate::tabular::{
    PiOptions, Policy, ScaledReturn, ViOptions, evaluate_policy, policy_iteration, scaled_return_from,
    start_value, value_iteration,
};

/// The paper's near-optimality threshold on the scaled return.
pub const NEAR_OPTIMAL: f64 = 0.9;

/// The optimal (greedy, deterministic) policy of a reward table `r̂[s][a]` (row-major) on the
/// dynamics, discount, start distribution and terminal states of `mdp`: value iteration to a
/// tolerance of `1e-12 · max|r̂| / (1 − γ)`, then policy iteration warm-started from its greedy
/// policy (so the result is exactly optimal for `r̂`).
pub fn optimal_policy_for(mdp: &TabularMdp, rewards: &[f64]) -> Result<Policy, PreferenceError> {
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    if rewards.len() != ns * na {
        return Err(invalid("reward table", format!("{} entries, expected {}", rewards.len(), ns * na)));
    }
    let parts = MdpParts {
        n_states: ns,
        n_actions: na,
        transitions: mdp.transitions().to_vec(),
        n_features: 1,
        features: rewards.to_vec(),
        weights: vec![1.0],
        feature_names: vec!["learned_reward".into()],
        gamma: mdp.gamma(),
        start: mdp.start().to_vec(),
        terminal: mdp.terminal().to_vec(),
    };
    let learned = TabularMdp::new(parts)?;
    let scale = rewards.iter().fold(0.0f64, |m, r| m.max(r.abs())).max(1e-12);
    let horizon = if mdp.gamma() < 1.0 { 1.0 / (1.0 - mdp.gamma()) } else { ns as f64 };
    let vi = value_iteration(&learned, &ViOptions { tol: 1e-12 * scale * horizon, max_iters: 1_000_000 })?;
    let pi = policy_iteration(&learned, &PiOptions { max_iters: 0, initial: Some(vi.actions) })?;
    Ok(pi.policy())
}

/// The true-reward baselines of an MDP: `J^unif` and `J*` (exact), reusable across evaluations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baselines {
    /// `J` of the uniformly random policy.
    pub uniform: f64,
    /// `J*` of an optimal policy.
    pub optimal: f64,
}

impl Baselines {
    /// Computes both for `mdp` under its current (true) weights.
    pub fn new(mdp: &TabularMdp) -> Result<Self, PreferenceError> {
        let unif = Policy::uniform(mdp.n_states(), mdp.n_actions());
        Ok(Baselines {
            uniform: start_value(mdp, &evaluate_policy(mdp, &unif)?),
            optimal: start_value(mdp, &super::regret::solve_optimal(mdp, None)?.v),
        })
    }
}

/// The scaled return under `mdp`'s true reward of the optimal policy of the reward table.
pub fn scaled_return_of_rewards(
    mdp: &TabularMdp,
    rewards: &[f64],
    baselines: &Baselines,
) -> Result<ScaledReturn, PreferenceError> {
    let pi = optimal_policy_for(mdp, rewards)?;
    let j = start_value(mdp, &evaluate_policy(mdp, &pi)?);
    Ok(ScaledReturn {
        scaled: scaled_return_from(j, baselines.uniform, baselines.optimal),
        policy: j,
        uniform: baselines.uniform,
        optimal: baselines.optimal,
    })
}

/// The scaled return under `mdp`'s true reward of the optimal policy of a model's learned
/// reward ([`RewardModel::reward_table`]).
pub fn scaled_return_of_model(
    mdp: &TabularMdp,
    model: &dyn RewardModel,
    baselines: &Baselines,
) -> Result<ScaledReturn, PreferenceError> {
    scaled_return_of_rewards(mdp, &model.reward_table(mdp), baselines)
}

/// Cosine similarity `a · b / (|a| |b|)` (0 if either is zero).
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na * nb) }
}
