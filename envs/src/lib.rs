//! Environments for alignrl with Gymnasium's semantics.
//!
//! - [`space`]: `Box`, `Discrete`, `MultiDiscrete`, `MultiBinary`, `Tuple`, `Dict`.
//! - [`env`]: the [`Env`] trait (caller-owned buffers, no allocation per step) and its owned layer.
//! - [`wrappers`]: `TimeLimit`, `RecordEpisodeStatistics`, normalisation, action transforms,
//!   `FrameStack`, `AuxiliaryReward`.
//! - [`vector`]: synchronous and threaded vector envs with next-step autoreset.
//! - [`fsio`]: atomic file writes (temp file + rename), used by every writer.
//! - [`registry`]: `make("CartPole-v1")`, versioned ids, typed options.
//! - [`checker`]: `check_env`, Gymnasium's environment checker.
//! - [`classic`]: CartPole, Pendulum, MountainCar, MountainCarContinuous, Acrobot (Gymnasium 1.x).
//! - [`shaping`]: auxiliary heuristics (helpful, misaligned) and PBRS for CartPole, MountainCar
//!   and the trap gridworld, for bilevel reward design.
//! - [`sensors`]: pose trajectories from files and logs, simulated sensor rigs.
//! - [`tabular`]: tabular MDPs with exact models: ASCII gridworlds, the delivery world, the trap
//!   gridworld.

pub mod checker;
pub mod classic;
pub mod env;
pub mod fsio;
pub mod registry;
pub mod robotics;
pub mod scene;
pub mod sensors;
pub mod shaping;
pub mod space;
pub mod tabular;
pub mod vector;
pub mod wrappers;

pub use checker::{CheckFailure, CheckOptions, Severity, check_env, check_env_with, errors_only};
pub use env::{Env, EnvError, EnvExt, EnvRandom, EnvRng, Info, Step, Transition};
pub use registry::{EnvSpec, MakeError, OptionSpec, OptionValue, Options, Registry, make, make_with};
pub use space::{DType, Space, SpaceError, Value};
