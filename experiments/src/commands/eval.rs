//! `alignrl eval`: loads a run's `config.toml` and checkpoint and runs greedy episodes.
//!
//! Episode `i` (from 0) is reset with seed `seed + i`, and the policy's mode is taken at every
//! step, so the result is a function of the checkpoint and the seed alone. Evaluation always runs
//! on the CPU backend (a checkpoint trained on CUDA loads there too).

use std::path::{Path, PathBuf};

use alignrl_agents::backend::Cpu;
use alignrl_agents::distributions::Categorical;
use alignrl_agents::distributions::tensor_to_f64;
use alignrl_agents::nn::MlpConfig;
use alignrl_agents::ppo::ActorCritic;
use alignrl_agents::rl::ObsNormalization;
use alignrl_agents::sac::Actor;
use alignrl_envs::{Env, Info, Space};
use burn::module::{Module, Param};
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::{Tensor, TensorData};
use serde_json::json;

use crate::commands::make_env;
use crate::io::print_json;
use crate::run_dir::{RunConfig, RunDir};
use crate::usage;

/// An episode is cut off after this many steps if the env itself never ends it.
pub const MAX_EPISODE_STEPS: u64 = 1_000_000;

/// The info key robotics tasks use for their sparse success flag (1.0 solved, 0.0 not).
pub const SUCCESS_KEY: &str = "success";

/// Settings of one `eval` invocation.
#[derive(Debug, Clone)]
pub struct EvalArgs {
    /// The run directory (holds `config.toml` and `checkpoints/final.mpk`).
    pub run_dir: PathBuf,
    /// Number of episodes.
    pub episodes: usize,
    /// Seed of the first episode's reset.
    pub seed: u64,
    /// Print one JSON object on stdout.
    pub json: bool,
}

/// What greedy evaluation episodes gave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EpisodeOutcomes {
    /// Undiscounted return of each episode.
    pub returns: Vec<f64>,
    /// Per episode, whether `info["success"]` was 1 at some step (Meta-World's convention), or
    /// `None` for every episode when the env never reports `success`.
    pub successes: Option<Vec<bool>>,
}

impl EpisodeOutcomes {
    /// Fraction of successful episodes, when the env reports success.
    pub fn success_rate(&self) -> Option<f64> {
        self.successes.as_ref().map(|s| s.iter().filter(|&&x| x).count() as f64 / s.len().max(1) as f64)
    }
}

/// Runs `episodes` episodes of `policy` (episode `i` reset with `seed + i`), recording each
/// episode's undiscounted return and, for envs that report `info["success"]` (the robotics
/// tasks), whether the task was solved at any step of the episode.
pub fn episode_outcomes(
    env: &mut dyn Env,
    episodes: usize,
    seed: u64,
    policy: &mut dyn FnMut(&[f64]) -> Vec<f64>,
) -> anyhow::Result<EpisodeOutcomes> {
    let mut obs = vec![0.0; env.observation_space().packed_len()];
    let mut info = Info::new();
    let mut returns = Vec::with_capacity(episodes);
    let mut successes = Vec::with_capacity(episodes);
    let mut reports_success = false;
    for i in 0..episodes {
        info.clear();
        env.reset(Some(seed.wrapping_add(i as u64)), &mut obs, &mut info)?;
        let mut ret = 0.0;
        let mut solved = false;
        for _ in 0..MAX_EPISODE_STEPS {
            let action = policy(&obs);
            info.clear();
            let s = env.step(&action, &mut obs, &mut info)?;
            ret += s.reward;
            if let Some(v) = info.get(SUCCESS_KEY) {
                reports_success = true;
                solved |= v >= 0.5;
            }
            if s.done() {
                break;
            }
        }
        returns.push(ret);
        successes.push(solved);
    }
    Ok(EpisodeOutcomes { returns, successes: reports_success.then_some(successes) })
}

/// Undiscounted returns of `episodes` episodes of `policy` (episode `i` reset with `seed + i`).
pub fn episode_returns(
    env: &mut dyn Env,
    episodes: usize,
    seed: u64,
    policy: &mut dyn FnMut(&[f64]) -> Vec<f64>,
) -> anyhow::Result<Vec<f64>> {
    Ok(episode_outcomes(env, episodes, seed, policy)?.returns)
}

/// Mean and population standard deviation.
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len().max(1) as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// A PPO actor-critic loaded from a checkpoint, acting greedily as [`alignrl_agents::ppo::PpoAgent::act_greedy`].
pub struct LoadedPpo {
    model: ActorCritic<Cpu>,
    action_space: Space,
    obs_dim: usize,
    obs_norm: Option<ObsNormalization>,
}

impl LoadedPpo {
    /// Loads `checkpoint` for a network shaped by `cfg` and the env's spaces; a run with
    /// `ppo.norm_obs` also needs its observation statistics, `obs_norm` (`checkpoints/obs_norm.json`).
    pub fn load(cfg: &RunConfig, env: &dyn Env, checkpoint: &Path, obs_norm: &Path) -> anyhow::Result<Self> {
        let device = Default::default();
        let obs_dim = env.observation_space().packed_len();
        let action_space = env.action_space().clone();
        let obs_norm = if cfg.ppo.norm_obs {
            let text = std::fs::read_to_string(obs_norm).map_err(|e| {
                usage(format!(
                    "cannot read {} (the run normalises observations, so its policy needs them): {e}",
                    obs_norm.display()
                ))
            })?;
            let norm: ObsNormalization = serde_json::from_str(&text)
                .map_err(|e| usage(format!("{}:{}: field error: {e}", obs_norm.display(), e.line())))?;
            norm.validate(obs_dim).map_err(|e| usage(format!("{}: {e}", obs_norm.display())))?;
            Some(norm)
        } else {
            None
        };
        let (d_actor, log_std) = match &action_space {
            Space::Discrete(d) => (d.n as usize, None),
            Space::Box(b) if b.shape.len() == 1 => {
                (b.low.len(), Some(Param::from_tensor(Tensor::<Cpu, 1>::zeros([b.low.len()], &device))))
            }
            other => return Err(usage(format!("unsupported action space {other:?} for a PPO checkpoint"))),
        };
        let net = |d_out| {
            MlpConfig::new(obs_dim, cfg.ppo.hidden.clone(), d_out).with_activation(cfg.ppo.activation)
        };
        let skeleton =
            ActorCritic::<Cpu> { actor: net(d_actor).init(&device), critic: net(1).init(&device), log_std };
        let bytes = std::fs::read(checkpoint)
            .map_err(|e| usage(format!("cannot read checkpoint {}: {e}", checkpoint.display())))?;
        let record = NamedMpkBytesRecorder::<FullPrecisionSettings>::default()
            .load(bytes, &device)
            .map_err(|e| usage(format!("cannot load checkpoint {}: {e}", checkpoint.display())))?;
        Ok(Self { model: skeleton.load_record(record), action_space, obs_dim, obs_norm })
    }

    /// The policy's mode for one observation, as the env's packed action.
    pub fn act_greedy(&self, obs: &[f64]) -> Vec<f64> {
        let device = Default::default();
        let mut normalized = obs.to_vec();
        if let Some(norm) = &self.obs_norm {
            norm.apply(obs, &mut normalized);
        }
        let x: Vec<f32> = normalized.iter().map(|&v| v as f32).collect();
        let x = Tensor::<Cpu, 2>::from_data(TensorData::new(x, [1, self.obs_dim]), &device);
        let out = self.model.actor.forward(x);
        match &self.action_space {
            Space::Discrete(d) => {
                let k =
                    Categorical::new(out).mode().into_data().convert::<i64>().to_vec::<i64>().expect("ints");
                vec![(k[0] + d.start) as f64]
            }
            Space::Box(b) => {
                let mean = out.into_data().convert::<f64>().to_vec::<f64>().expect("floats");
                mean.iter().enumerate().map(|(j, m)| m.clamp(b.low[j], b.high[j])).collect()
            }
            _ => unreachable!("checked in load"),
        }
    }
}

/// A SAC actor loaded from a checkpoint, acting deterministically as
/// [`alignrl_agents::sac::SacAgent::act_deterministic`].
pub struct LoadedSac {
    actor: Actor<Cpu>,
    low: Vec<f64>,
    high: Vec<f64>,
    obs_dim: usize,
}

impl LoadedSac {
    /// Loads `checkpoint` for an actor shaped by `cfg` and the env's spaces.
    pub fn load(cfg: &RunConfig, env: &dyn Env, checkpoint: &Path) -> anyhow::Result<Self> {
        let device = Default::default();
        let obs_dim = env.observation_space().packed_len();
        let (low, high) = match env.action_space() {
            Space::Box(b) if b.shape.len() == 1 => (b.low.clone(), b.high.clone()),
            other => return Err(usage(format!("unsupported action space {other:?} for a SAC checkpoint"))),
        };
        let skeleton = Actor::<Cpu> {
            net: MlpConfig::new(obs_dim, cfg.sac.hidden.clone(), 2 * low.len())
                .with_activation(cfg.sac.activation)
                .init(&device),
        };
        let bytes = std::fs::read(checkpoint)
            .map_err(|e| usage(format!("cannot read checkpoint {}: {e}", checkpoint.display())))?;
        let record = NamedMpkBytesRecorder::<FullPrecisionSettings>::default()
            .load(bytes, &device)
            .map_err(|e| usage(format!("cannot load checkpoint {}: {e}", checkpoint.display())))?;
        Ok(Self { actor: skeleton.load_record(record), low, high, obs_dim })
    }

    /// The squashed mean action for one observation.
    pub fn act(&self, obs: &[f64]) -> Vec<f64> {
        let device = Default::default();
        let x = alignrl_agents::distributions::tensor_from_f64::<Cpu, 2>(obs, [1, self.obs_dim], &device);
        let a = tensor_to_f64(self.actor.dist(x, &self.low, &self.high).mode());
        a.iter().zip(&self.low).zip(&self.high).map(|((a, l), h)| a.clamp(*l, *h)).collect()
    }
}

/// Runs the command.
pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    if args.episodes == 0 {
        return Err(usage("--episodes must be at least 1"));
    }
    let dir = RunDir::new(&args.run_dir);
    if !dir.config().is_file() {
        return Err(usage(format!("{} is not a run directory (no config.toml)", args.run_dir.display())));
    }
    let cfg = RunConfig::load(&dir.config())?;
    if cfg.algo != "ppo" && cfg.algo != "sac" {
        return Err(usage(format!("eval supports ppo and sac runs; this run's algo is {:?}", cfg.algo)));
    }
    let mut env = make_env(&cfg.env, &cfg.env_options)?;
    if !dir.checkpoint().is_file() {
        return Err(usage(format!(
            "no checkpoint at {} (did the training finish?)",
            dir.checkpoint().display()
        )));
    }
    type Policy = Box<dyn FnMut(&[f64]) -> Vec<f64>>;
    let mut policy: Policy = if cfg.algo == "sac" {
        let agent = LoadedSac::load(&cfg, env.as_ref(), &dir.checkpoint())?;
        Box::new(move |o| agent.act(o))
    } else {
        let agent = LoadedPpo::load(&cfg, env.as_ref(), &dir.checkpoint(), &dir.obs_norm())?;
        Box::new(move |o| agent.act_greedy(o))
    };
    let outcomes = episode_outcomes(env.as_mut(), args.episodes, args.seed, &mut *policy)?;
    let (mean, std) = mean_std(&outcomes.returns);
    let success_rate = outcomes.success_rate();
    if args.json {
        print_json(&json!({
            "mean_return": mean,
            "std_return": std,
            "episodes": args.episodes,
            "seed": args.seed,
            "env": cfg.env,
            "returns": outcomes.returns,
            "success_rate": success_rate,
        }));
    } else {
        eprintln!("{}: {} greedy episodes from seed {}", cfg.env, args.episodes, args.seed);
        println!("mean_return {mean:.3} ± {std:.3}");
        if let Some(rate) = success_rate {
            println!("success_rate {rate:.3}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alignrl_envs::robotics::manip::{Task, scripted_action};

    fn make(id: &str) -> Box<dyn Env> {
        make_env(id, &[]).expect("registered")
    }

    #[test]
    fn scripted_reach_succeeds_and_idle_hand_does_not() {
        let mut env = make("Reach-v0");
        let solved =
            episode_outcomes(env.as_mut(), 3, 7, &mut |o| scripted_action(Task::Reach, o).to_vec()).unwrap();
        assert_eq!(solved.successes.as_deref(), Some(&[true, true, true][..]));
        assert_eq!(solved.success_rate(), Some(1.0));
        // A hand that never moves stays outside the 5 cm success ball of every goal.
        let idle = episode_outcomes(env.as_mut(), 3, 7, &mut |_| vec![0.0; 4]).unwrap();
        assert_eq!(idle.success_rate(), Some(0.0));
        assert!(solved.returns.iter().zip(&idle.returns).all(|(s, i)| s > i));
    }

    #[test]
    fn envs_without_success_report_none() {
        let mut env = make("CartPole-v1");
        let out = episode_outcomes(env.as_mut(), 2, 0, &mut |_| vec![0.0]).unwrap();
        assert_eq!(out.successes, None);
        assert_eq!(out.success_rate(), None);
        assert_eq!(out.returns.len(), 2);
        assert_eq!(episode_returns(env.as_mut(), 2, 0, &mut |_| vec![0.0]).unwrap(), out.returns);
    }
}
