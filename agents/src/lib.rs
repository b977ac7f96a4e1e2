//! alignrl-agents: learning agents and exact solvers.
//!
//! - [`bilevel`]: bilevel reward design (BARFI, PARL / A-PARL): exact tabular hypergradients,
//!   CG / Neumann inverse-Hessian-vector products.
//! - [`backend`]: the CPU backend (burn `Flex`) and, behind the `cuda` feature, CUDA, with
//!   device probing that turns a missing GPU into a clear error.
//! - [`tabular`]: exact solvers for tabular MDPs (value and policy iteration, exact policy
//!   evaluation, soft value iteration, occupancy measures, successor features, scaled return).
//! - [`nn`]: burn modules for deep RL: [`nn::Mlp`] / [`nn::MlpConfig`] with seeded orthogonal
//!   initialisation (gains √2 hidden, 0.01 policy head, 1 value head).
//! - [`distributions`]: batched action distributions generic over `B: Backend`:
//!   [`distributions::Categorical`], [`distributions::DiagGaussian`], [`distributions::TanhGaussian`]
//!   (SAC's squashed Gaussian), with noise drawn from a seeded `Pcg64`.
//! - [`rl`]: shared deep-RL pieces: GAE(λ) with truncation bootstrapping and autoreset masks,
//!   PPO rollout and SAC replay buffers, the PPO loss, Polyak target updates, global grad-norm
//!   clipping.
//! - [`ppo`]: PPO (CleanRL's algorithm, discrete and continuous actions) over a vector env.
//! - [`sac`]: SAC (CleanRL's algorithm: twin Q, tanh-Gaussian actor, tuned temperature) for Box actions.

pub mod backend;
pub mod bilevel;
pub mod distributions;
pub mod nn;
pub mod ppo;
pub mod preference;
pub mod rl;
pub mod sac;
pub mod tabular;
