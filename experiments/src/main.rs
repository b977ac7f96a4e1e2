//! `alignrl`: the experiment runner.

use std::path::PathBuf;
use std::process::ExitCode;

use alignrl_experiments::commands::{bench, check, envs, eval, rollout, train};
use alignrl_experiments::exit_code;
use alignrl_experiments::reproduce;
use clap::{Parser, Subcommand};

/// alignrl: reinforcement learning for robotics and control, with Gymnasium-style environments.
///
/// Exit codes: 0 success, 1 the run failed, 2 bad input (usage, unknown env id, bad option,
/// invalid action, malformed file). With --json, a subcommand prints exactly one JSON object on
/// stdout; human-readable text always goes to stderr.
#[derive(Parser, Debug)]
#[command(name = "alignrl", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the registered environments with their spaces and options.
    ///
    /// --json prints {"envs": [{"id", "description", "observation_space", "action_space",
    /// "max_episode_steps", "reward_threshold", "options": [{"name", "type", "default", "doc"}]}]}.
    Envs {
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Run Gymnasium's environment checks (spaces, seeding, determinism, NaN) on registered envs.
    ///
    /// --json prints {"passed": bool, "envs": [{"id", "passed", "findings": [{"check",
    /// "severity", "message"}]}]}. Exits 1 when any env has an error.
    Check {
        /// Env id to check (default: every registered env).
        #[arg(long)]
        env: Option<String>,
        /// Env option as key=value (repeatable), e.g. --opt g=9.81.
        #[arg(long = "opt", value_name = "KEY=VALUE")]
        opts: Vec<String>,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Run episodes with a uniformly random policy (or replay given actions) and report returns.
    ///
    /// --json prints {"env", "episodes", "seed", "mean_return", "std_return", "mean_length",
    /// "returns": [..]}. --out writes one CSV row per episode: episode,seed,length,return,
    /// terminated,truncated.
    Rollout {
        /// Env id, e.g. CartPole-v1 (see `alignrl envs`).
        #[arg(long, default_value = "CartPole-v1")]
        env: String,
        /// Env option as key=value (repeatable).
        #[arg(long = "opt", value_name = "KEY=VALUE")]
        opts: Vec<String>,
        /// Number of episodes.
        #[arg(long, default_value_t = 10)]
        episodes: usize,
        /// Seed of the first reset and of the random policy (runs are reproducible).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Write per-episode results to this CSV file (atomically).
        #[arg(long, value_name = "FILE.csv")]
        out: Option<PathBuf>,
        /// Replay these actions in one episode instead of acting randomly: steps separated by ';',
        /// components by ',' (e.g. "0;1;1" for CartPole, "0.5;-1.2" for Pendulum).
        #[arg(long, value_name = "ACTIONS")]
        actions: Option<String>,
        /// Replay actions from a file: one step per line, components separated by ','.
        #[arg(long, value_name = "FILE")]
        actions_file: Option<PathBuf>,
        /// Write a rerun recording (.rrd) of the first episode: every shape's pose per step, the
        /// goal and the reward. The env must have a 3-D scene (the rapier3d robotics envs).
        #[arg(long, value_name = "FILE.rrd")]
        rrd: Option<PathBuf>,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Train an agent (PPO or SAC) and write a run directory.
    ///
    /// Defaults come from rl-baselines3-zoo's tuned hyperparameters for the env (CartPole,
    /// MountainCar, Acrobot, Pendulum, MountainCarContinuous; CleanRL's elsewhere), then --config,
    /// then flags. The run directory (default runs/<env>__<algo>__<seed>__<unix time>) gets
    /// config.toml (the resolved configuration, re-usable with --config), metrics.csv (one row per
    /// PPO update or SAC log interval), episodes.csv (episode,step,wall_time_s,return,length),
    /// summary.json, checkpoints/final.mpk, checkpoints/latest.mpk and checkpoints/resume/ every
    /// checkpoint_every updates, and plots/learning_curve.png.
    ///
    /// --json prints summary.json's object: {"status" ("completed", "stopped" or "failed"), "env",
    /// "algo", "seed", "device", "steps", "updates" (PPO) or "logs" (SAC), "episodes",
    /// "wall_time_s", "final_mean_return", "reward_threshold", "threshold_reached" ({"step",
    /// "wall_time_s", "window": 20} when the mean of 20 consecutive training episodes first
    /// reached the env's reward threshold, else null), "final_eval" ({"episodes", "seed",
    /// "mean_return", "std_return", "returns", "success_rate"}), "checkpoint", "run_dir"}.
    /// success_rate: fraction of episodes with info["success"] = 1 at some step (robotics
    /// tasks), else null. Exits 1 when training diverges (NaN/inf; the message names the step
    /// and quantity), 2 for bad input. With ppo.norm_obs the observation statistics are saved
    /// to checkpoints/obs_norm.json next to final.mpk (eval needs both).
    Train {
        /// Env id, e.g. CartPole-v1 (required unless --config sets `env`).
        #[arg(long)]
        env: Option<String>,
        /// Env option as key=value (repeatable); replaces the config's env_options.
        #[arg(long = "opt", value_name = "KEY=VALUE")]
        opts: Vec<String>,
        /// Algorithm: ppo or sac [default: ppo]. SAC needs a bounded Box action space.
        #[arg(long)]
        algo: Option<String>,
        /// Start from this config.toml (e.g. a previous run's); unknown keys are errors.
        #[arg(long, value_name = "FILE.toml")]
        config: Option<PathBuf>,
        /// Seed of initialisation, sampling and env resets (ppo.seed or sac.seed) [default: 1].
        #[arg(long)]
        seed: Option<u64>,
        /// Environment steps over all sub-envs [default: rl-zoo's for the env, else 500000].
        #[arg(long)]
        total_steps: Option<u64>,
        /// Run directory to create (must not exist or be empty).
        #[arg(long, value_name = "DIR")]
        run_dir: Option<PathBuf>,
        /// cpu or cuda [default: cpu]; cuda needs a binary built with --features cuda. On cpu,
        /// PPO and SAC train with the fused CPU engines (config keys ppo.engine / sac.engine =
        /// "fused"; "burn" runs burn's generic backend instead); cuda selects the burn engines. A
        /// checkpoint resumes only with the engine that wrote it.
        #[arg(long)]
        device: Option<String>,
        /// Continue the run in DIR from its latest resumable checkpoint (bit-identical to a run
        /// that never stopped); only --total-steps, --device and --stop-after may be added.
        #[arg(long, value_name = "DIR")]
        resume: Option<PathBuf>,
        /// End this invocation after K updates (PPO) or log intervals (SAC) with a resumable
        /// checkpoint (summary status "stopped").
        #[arg(long, value_name = "K")]
        stop_after: Option<usize>,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate a trained run's checkpoint with greedy (mode) actions.
    ///
    /// Episode i is reset with seed S+i. --json prints {"mean_return", "std_return", "episodes",
    /// "seed", "env", "returns": [..], "success_rate"}; success_rate is the fraction of episodes
    /// in which the env's info["success"] was 1 at some step (robotics tasks), else null.
    Eval {
        /// The run directory written by `alignrl train`.
        #[arg(long, value_name = "DIR")]
        run_dir: PathBuf,
        /// Number of episodes.
        #[arg(long, default_value_t = 10)]
        episodes: usize,
        /// Seed of the first episode's reset.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// Run a method's reproduction suite and print its table.
    ///
    /// --json prints {"suite", "rows": [{"method", "metric", "value", "seeds", ...settings}]}: one
    /// row per method × setting × metric. rows.json, rows.csv and PNG plots go to --out (default
    /// results/<suite>/).
    Reproduce {
        #[command(subcommand)]
        suite: ReproduceSuite,
    },
}

#[derive(Subcommand, Debug)]
enum ReproduceSuite {
    /// Knox et al.: regret vs partial-return preference models on the delivery world and random MDPs.
    KnoxRegret(reproduce::knox::Args),
    /// BARFI: learned blending of primary and heuristic rewards (and discount).
    Barfi(reproduce::barfi::Args),
    /// PARL / A-PARL vs alternating preference-based reward learning.
    Parl(reproduce::parl::Args),
    /// L2Calib's toy target: Bingham-policy bandit PPO on a known rotation/translation.
    #[command(name = "l2calib-toy")]
    L2calibToy(reproduce::l2calib_toy::Args),
    /// Calibration sweep: RL, RL+refinement and hand-eye baselines over noise, motion and initial error.
    CalibSweep(reproduce::calib_sweep::Args),
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// One PPO update on a seeded synthetic CartPole-shaped minibatch, then timed updates.
    ///
    /// For checking a backend against another (same seed ⇒ same weights and batch everywhere) and
    /// timing large batches. --json prints {"device", "batch_size", "losses": [policy, value,
    /// entropy, total], "grad_norms": [per parameter], "iters", "secs_per_update",
    /// "samples_per_sec"}.
    PpoUpdate {
        /// Rows in the minibatch.
        #[arg(long, default_value_t = 65_536)]
        batch: usize,
        /// Timed updates after one warm-up update.
        #[arg(long, default_value_t = 10)]
        iters: usize,
        /// cpu or cuda; cuda needs a binary built with --features cuda.
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Seed of the weights and the batch.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Environment steps per second with random actions (single env or vector env).
    ///
    /// --json prints {"env", "num_envs", "threads", "steps", "seconds", "steps_per_sec"}.
    Env {
        /// Env id.
        #[arg(long, default_value = "CartPole-v1")]
        env: String,
        /// Env option as key=value (repeatable).
        #[arg(long = "opt", value_name = "KEY=VALUE")]
        opts: Vec<String>,
        /// Total sub-env steps to take.
        #[arg(long, default_value_t = 1_000_000)]
        steps: u64,
        /// Number of env copies; more than 1 uses a vector env with next-step autoreset.
        #[arg(long, default_value_t = 1)]
        num_envs: usize,
        /// Worker threads for the vector env (1 = synchronous `VecEnv`).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Envs { json } => envs::run(json),
        Command::Check { env, opts, json } => check::run(env.as_deref(), &opts, json),
        Command::Rollout { env, opts, episodes, seed, out, actions, actions_file, rrd, json } => {
            rollout::run(&rollout::RolloutArgs {
                env,
                opts,
                episodes,
                seed,
                out,
                actions,
                actions_file,
                json,
                rrd,
            })
        }
        Command::Train {
            env,
            opts,
            algo,
            config,
            seed,
            total_steps,
            run_dir,
            device,
            resume,
            stop_after,
            json,
        } => train::run(&train::TrainArgs {
            env,
            opts,
            algo,
            config,
            seed,
            total_steps,
            run_dir,
            device,
            resume,
            stop_after,
            json,
        }),
        Command::Eval { run_dir, episodes, seed, json } => {
            eval::run(&eval::EvalArgs { run_dir, episodes, seed, json })
        }
        Command::Bench { what: BenchCommand::Env { env, opts, steps, num_envs, threads, json } } => {
            bench::env(&env, &opts, steps, num_envs, threads, json)
        }
        Command::Bench { what: BenchCommand::PpoUpdate { batch, iters, device, seed, json } } => {
            bench::ppo_update(batch, iters, &device, seed, json)
        }
        Command::Reproduce { suite } => match suite {
            ReproduceSuite::KnoxRegret(a) => reproduce::knox::run(&a),
            ReproduceSuite::Barfi(a) => reproduce::barfi::run(&a),
            ReproduceSuite::Parl(a) => reproduce::parl::run(&a),
            ReproduceSuite::L2calibToy(a) => reproduce::l2calib_toy::run(&a),
            ReproduceSuite::CalibSweep(a) => reproduce::calib_sweep::run(&a),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit_code(&e) as u8)
        }
    }
}
