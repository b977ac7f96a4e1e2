//! Tabular MDPs with exact models.
//!
//! - [`mdp`]: [`TabularMdp`], a validated finite MDP with dense transitions `P[s][a][s']`, reward
//!   features `φ(s, a)` and weights `w` (`r = φ · w`), discount, start distribution and terminal
//!   states (absorbing, zero reward, value 0). Its docs state every convention.
//! - [`gridworld`]: [`Gridworld::from_ascii`] builds one from an ASCII map (`.` `#` `S` `G` `X`
//!   and feature letters), four moves in the order up, down, left, right, optional slip.
//! - [`delivery`]: Knox et al.'s delivery world ([`DeliveryWorld`]), with features
//!   `[gas, goal, sheep, coin, road block, mud]` and true weights `[−1, 50, −50, 1, −1, −2]`.
//! - [`trap`]: the BARFI trap gridworld ([`TrapGridworld`]) with features `[primary, aux]`.
//! - [`env`](mod@env): [`TabularEnv`], any of them as an [`crate::Env`].
//!
//! Registered ids: `DeliveryWorld-v0`, `TrapGridworld-v0`, `Gridworld-v0` (see [`register`]).
//! Exact solvers (value/policy iteration, policy evaluation, occupancy, successor features) live
//! in `alignrl_agents::tabular`.

pub mod delivery;
pub mod env;
pub mod gridworld;
pub mod mdp;
pub mod trap;

pub use delivery::{DeliveryWorld, Entity, KNOX_BOARD_JSON, KNOX_REWARDS_JSON};
pub use env::TabularEnv;
pub use gridworld::{GridLayout, Gridworld, GridworldConfig, Move};
pub use mdp::{MdpError, MdpParts, ROW_SUM_TOL, TabularMdp, sample_categorical};
pub use trap::TrapGridworld;

use crate::env::Env;
use crate::registry::{EnvSpec, MakeError, OptionSpec, OptionValue, Options, Registry};

/// The default map of `Gridworld-v0` (rows separated by `/`).
pub const DEFAULT_GRIDWORLD_MAP: &str = "S..#/.#../...#/#..G";

/// Registers the tabular environments:
///
/// - `DeliveryWorld-v0`: Knox et al.'s delivery world under the true reward; 1000 steps.
/// - `TrapGridworld-v0`: the BARFI trap world; options `primary_weight` (1.0), `aux_weight` (0.0);
///   `info["primary_reward"]` and `info["aux_reward"]` report the two reward components; 200 steps.
/// - `Gridworld-v0`: an ASCII gridworld; options `map` (rows separated by `/`), `slip`, `gamma`,
///   `goal_reward`, `pit_reward`, `step_reward`; 100 steps.
///
/// Construction errors become [`MakeError::BadOption`] naming the option.
pub fn register(registry: &mut Registry) {
    let specs = [
        EnvSpec {
            id: "DeliveryWorld-v0",
            description: "Knox et al.'s 10x10 delivery world (features gas, goal, sheep, coin, road block, mud)",
            max_episode_steps: Some(1000),
            reward_threshold: None,
            options: vec![],
            entry_point: make_delivery,
        },
        EnvSpec {
            id: "TrapGridworld-v0",
            description: "BARFI's 5x5 trap gridworld: goal reward plus a misaligned distractor bonus",
            max_episode_steps: Some(200),
            reward_threshold: None,
            options: vec![
                OptionSpec {
                    name: "primary_weight",
                    default: OptionValue::Float(1.0),
                    doc: "weight of the primary reward (+1 on entering the goal)",
                },
                OptionSpec {
                    name: "aux_weight",
                    default: OptionValue::Float(0.0),
                    doc: "weight of the auxiliary reward (+0.2 per step spent in the distractor)",
                },
            ],
            entry_point: make_trap,
        },
        EnvSpec {
            id: "Gridworld-v0",
            description: "ASCII gridworld (. free, # wall, S start, G goal, X pit, a-z feature cells)",
            max_episode_steps: Some(100),
            reward_threshold: None,
            options: vec![
                OptionSpec {
                    name: "map",
                    default: OptionValue::Str(DEFAULT_GRIDWORLD_MAP.into()),
                    doc: "map rows separated by '/': . free, # wall, S start, G goal, X pit, a-z features",
                },
                OptionSpec {
                    name: "slip",
                    default: OptionValue::Float(0.0),
                    doc: "probability of moving sideways instead (half to each side), in [0, 1]",
                },
                OptionSpec {
                    name: "gamma",
                    default: OptionValue::Float(0.99),
                    doc: "discount of the MDP (used by exact solvers), in [0, 1]",
                },
                OptionSpec {
                    name: "goal_reward",
                    default: OptionValue::Float(1.0),
                    doc: "reward for entering a goal cell G",
                },
                OptionSpec {
                    name: "pit_reward",
                    default: OptionValue::Float(-1.0),
                    doc: "reward for entering a pit X",
                },
                OptionSpec {
                    name: "step_reward",
                    default: OptionValue::Float(0.0),
                    doc: "reward of every step from a non-terminal cell",
                },
            ],
            entry_point: make_gridworld,
        },
    ];
    for spec in specs {
        registry.register(spec).expect("tabular ids are well formed and registered once");
    }
}

fn bad_option(env: &str, option: &str, value: &OptionValue, expected: impl Into<String>) -> MakeError {
    MakeError::BadOption {
        env: env.into(),
        option: option.into(),
        value: value.to_string(),
        expected: expected.into(),
    }
}

fn finite_option(env: &str, opts: &Options, name: &str) -> Result<f64, MakeError> {
    let x = opts.float(name);
    if x.is_finite() { Ok(x) } else { Err(bad_option(env, name, opts.get(name), "a finite float")) }
}

fn make_delivery(_opts: &Options) -> Result<Box<dyn Env>, MakeError> {
    let (mdp, layout) = DeliveryWorld::knox().into_parts();
    Ok(Box::new(TabularEnv::new(mdp, "DeliveryWorld").with_layout(layout)))
}

fn make_trap(opts: &Options) -> Result<Box<dyn Env>, MakeError> {
    const ID: &str = "TrapGridworld-v0";
    let w = [finite_option(ID, opts, "primary_weight")?, finite_option(ID, opts, "aux_weight")?];
    let trap = TrapGridworld::with_weights(w)
        .map_err(|e| bad_option(ID, "aux_weight", opts.get("aux_weight"), e.to_string()))?;
    let (mdp, layout) = trap.into_parts();
    Ok(Box::new(
        TabularEnv::new(mdp, "TrapGridworld")
            .with_layout(layout)
            .with_info_feature("primary_reward", TrapGridworld::PRIMARY)
            .with_info_feature("aux_reward", TrapGridworld::AUX),
    ))
}

fn make_gridworld(opts: &Options) -> Result<Box<dyn Env>, MakeError> {
    const ID: &str = "Gridworld-v0";
    let slip = opts.float("slip");
    if !(slip.is_finite() && (0.0..=1.0).contains(&slip)) {
        return Err(bad_option(ID, "slip", opts.get("slip"), "a probability in [0, 1]"));
    }
    let gamma = opts.float("gamma");
    if !(gamma.is_finite() && (0.0..=1.0).contains(&gamma)) {
        return Err(bad_option(ID, "gamma", opts.get("gamma"), "a discount in [0, 1]"));
    }
    let config = GridworldConfig {
        slip,
        gamma,
        goal_reward: finite_option(ID, opts, "goal_reward")?,
        pit_reward: finite_option(ID, opts, "pit_reward")?,
        step_reward: finite_option(ID, opts, "step_reward")?,
    };
    let grid = Gridworld::from_ascii(opts.str("map"), config)
        .map_err(|e| bad_option(ID, "map", opts.get("map"), format!("a valid map ({e})")))?;
    let (mdp, layout) = grid.into_parts();
    Ok(Box::new(TabularEnv::new(mdp, "Gridworld").with_layout(layout)))
}
