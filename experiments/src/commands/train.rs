//! `alignrl train`: trains an agent (PPO) and writes a run directory (see [`crate::run_dir`]).
//!
//! Order of work: resolve the configuration (defaults, then `--config`, then command-line
//! flags), validate it (env id, algo, device, sizes) before anything is written, create the run
//! directory, write `config.toml`, train while appending `metrics.csv` and drawing a progress bar
//! on stderr (hidden when stderr is not a terminal), then write the checkpoint, evaluate the
//! in-memory agent greedily (10 episodes, seeds 0..9, recorded in `summary.json` as `final_eval`,
//! which `alignrl eval` on the checkpoint reproduces), and write `summary.json` and the plot.
//!
//! A NaN/inf during training ends the run with exit code 1 and a message naming the global step
//! and the quantity; `metrics.csv`, the plot and a `summary.json` with `"status": "failed"` are
//! still written. Every `checkpoint_every` updates (config key, default 20) the networks are written to
//! `checkpoints/latest.mpk`; after a NaN that file is the last good checkpoint.

use std::path::PathBuf;
use std::time::Instant;

use alignrl_agents::backend::{CpuAutodiff, DeviceKind, probe};
use alignrl_agents::ppo::{ActorCritic, PpoAgent, PpoError, UpdateStats, train_ppo};
use alignrl_envs::Registry;
use alignrl_envs::vector::VecEnv;
use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::commands::eval::{episode_returns, mean_std};
use crate::commands::{make_env, parse_options};
use crate::io::{atomic_write, print_json};
use crate::plot::learning_curve_png;
use crate::run_dir::{MetricsWriter, RunConfig, RunDir};
use crate::usage;

/// Episodes of the end-of-training greedy evaluation (seeds `0..FINAL_EVAL_EPISODES`).
pub const FINAL_EVAL_EPISODES: usize = 10;

/// Settings of one `train` invocation; `None` keeps the `--config` file's value (or the default).
#[derive(Debug, Clone, Default)]
pub struct TrainArgs {
    /// Env id.
    pub env: Option<String>,
    /// Env options `key=value` (replace the file's `env_options` when given).
    pub opts: Vec<String>,
    /// Algorithm name.
    pub algo: Option<String>,
    /// A `config.toml` to start from.
    pub config: Option<PathBuf>,
    /// Seed (`ppo.seed`).
    pub seed: Option<u64>,
    /// Total environment steps.
    pub total_steps: Option<u64>,
    /// Run directory (default `runs/<env>__<algo>__<seed>__<unix time>`).
    pub run_dir: Option<PathBuf>,
    /// `cpu` or `cuda`.
    pub device: Option<String>,
    /// Print one JSON object on stdout.
    pub json: bool,
}

/// Resolves the configuration: defaults, then the `--config` file, then the flags.
pub fn resolve(args: &TrainArgs) -> anyhow::Result<RunConfig> {
    let mut cfg = match &args.config {
        Some(path) => RunConfig::load(path)?,
        None => RunConfig::default(),
    };
    if let Some(env) = &args.env {
        cfg.env = env.clone();
    }
    if !args.opts.is_empty() {
        cfg.env_options = args.opts.clone();
    }
    if let Some(algo) = &args.algo {
        cfg.algo = algo.clone();
    }
    if let Some(seed) = args.seed {
        cfg.ppo.seed = seed;
    }
    if let Some(n) = args.total_steps {
        cfg.total_steps = n;
    }
    if let Some(d) = &args.device {
        cfg.device = d.parse::<DeviceKind>().map_err(|e| usage(e.to_string()))?;
    }
    if cfg.env.is_empty() {
        return Err(usage("no environment: give --env ID (see `alignrl envs`) or `env` in --config"));
    }
    match cfg.algo.as_str() {
        "ppo" => {}
        "sac" => {
            return Err(usage(
                "--algo sac is not available yet (SAC is still being implemented); use --algo ppo",
            ));
        }
        other => return Err(usage(format!("unknown --algo {other:?}: expected ppo"))),
    }
    let p = &cfg.ppo;
    if p.num_envs == 0 || p.num_steps == 0 || p.num_minibatches == 0 || p.update_epochs == 0 {
        return Err(usage("ppo.num_envs, num_steps, num_minibatches and update_epochs must be at least 1"));
    }
    if p.batch_size() % p.num_minibatches != 0 {
        return Err(usage(format!(
            "ppo.num_envs * num_steps = {} is not divisible by num_minibatches = {}",
            p.batch_size(),
            p.num_minibatches
        )));
    }
    if cfg.total_steps < p.batch_size() as u64 {
        return Err(usage(format!(
            "--total-steps {} is less than one rollout (num_envs * num_steps = {})",
            cfg.total_steps,
            p.batch_size()
        )));
    }
    Ok(cfg)
}

/// Runs the command.
pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    let cfg = resolve(args)?;
    probe(cfg.device).map_err(|e| usage(e.to_string()))?;
    // Validate the env (id, options, action space) before creating anything.
    let env = make_env(&cfg.env, &cfg.env_options)?;
    let space = env.action_space().clone();
    let supported = match &space {
        alignrl_envs::Space::Discrete(_) => true,
        alignrl_envs::Space::Box(b) => b.shape.len() == 1,
        _ => false,
    };
    if !supported {
        return Err(usage(format!(
            "{}: PPO supports Discrete and one-dimensional Box action spaces, not {space:?}",
            cfg.env
        )));
    }
    drop(env);

    let dir = RunDir::new(
        args.run_dir.clone().unwrap_or_else(|| RunDir::default_path(&cfg.env, &cfg.algo, cfg.ppo.seed)),
    );
    dir.create()?;
    atomic_write(&dir.config(), cfg.to_toml().as_bytes())?;
    match cfg.device {
        DeviceKind::Cpu => train_on::<CpuAutodiff>(&cfg, &dir, args.json),
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => train_on::<alignrl_agents::backend::GpuAutodiff>(&cfg, &dir, args.json),
        #[cfg(not(feature = "cuda"))]
        DeviceKind::Cuda => Err(usage(alignrl_agents::backend::BackendError::FeatureMissing.to_string())),
    }
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps [{elapsed_precise}<{eta_precise}] {msg}")
            .expect("valid template"),
    );
    bar
}

fn train_on<B: AutodiffBackend>(cfg: &RunConfig, dir: &RunDir, json: bool) -> anyhow::Result<()> {
    let options = parse_options(&cfg.env_options)?;
    let reg = Registry::builtin();
    let mut venv =
        VecEnv::from_fn(cfg.ppo.num_envs, |_| reg.make_from_strings(&cfg.env, &options).expect("validated"));
    let mut metrics = MetricsWriter::create(&dir.metrics())?;
    let bar = progress_bar(cfg.total_steps);
    let start = Instant::now();
    let mut curve: Vec<(f64, f64)> = Vec::new();
    let mut last: Option<UpdateStats> = None;
    let mut recent_return: Option<f64> = None;
    let mut write_err: Option<anyhow::Error> = None;
    let device = B::Device::default();
    let mut last_good: Option<usize> = None;
    let result = train_ppo::<B>(&mut venv, &cfg.ppo, cfg.total_steps, &device, |s, model| {
        let wall = start.elapsed().as_secs_f64();
        // Periodic checkpoint of the networks after this (finite) update: the last good one is
        // what a NaN later in the run leaves behind.
        if write_err.is_none() && s.update % cfg.checkpoint_every.max(1) == 0 {
            match write_model(model, &dir.latest_checkpoint()) {
                Ok(()) => last_good = Some(s.update),
                Err(e) => write_err = Some(e),
            }
        }
        if write_err.is_none()
            && let Err(e) = metrics.append(s, wall)
        {
            write_err = Some(e);
        }
        if let Some(r) = s.mean_return {
            curve.push((s.global_step as f64, r));
            recent_return = Some(r);
        }
        bar.set_position(s.global_step);
        bar.set_message(format!(
            "{:.0} sps, return {}",
            s.sps,
            recent_return.map(|r| format!("{r:.1}")).unwrap_or_else(|| "-".into())
        ));
        last = Some(s.clone());
    });
    bar.finish_and_clear();
    let wall = start.elapsed().as_secs_f64();
    if let Some(e) = write_err {
        return Err(e);
    }
    atomic_write(&dir.plot(), &learning_curve_png(&curve))?;
    let steps = last.as_ref().map(|s| s.global_step).unwrap_or(0);
    let updates = last.as_ref().map(|s| s.update).unwrap_or(0);
    let final_mean_return = recent_return;

    let agent = match result {
        Ok(agent) => agent,
        Err(e) => {
            let is_usage = matches!(e, PpoError::Config(_) | PpoError::UnsupportedActionSpace(_));
            let summary = json!({
                "status": "failed",
                "error": e.to_string(),
                "env": cfg.env,
                "algo": cfg.algo,
                "seed": cfg.ppo.seed,
                "steps": steps,
                "updates": updates,
                "wall_time_s": wall,
                "final_mean_return": final_mean_return,
                "checkpoint": last_good.map(|_| crate::run_dir::LATEST_CHECKPOINT_FILE),
                "checkpoint_update": last_good,
            });
            atomic_write(&dir.summary(), format!("{summary:#}\n").as_bytes())?;
            let kept = match last_good {
                Some(u) => format!(
                    "the last good checkpoint, after update {u}, is {}",
                    dir.latest_checkpoint().display()
                ),
                None => format!("no checkpoint was written yet (one every {} updates)", cfg.checkpoint_every),
            };
            let msg = format!(
                "training stopped: {e} (run dir {}; metrics.csv holds the {updates} finished update(s); {kept})",
                dir.root.display()
            );
            return Err(if is_usage { usage(msg) } else { anyhow::anyhow!(msg) });
        }
    };

    save_checkpoint(&agent, dir)?;
    let mut env = make_env(&cfg.env, &cfg.env_options)?;
    let returns = episode_returns(env.as_mut(), FINAL_EVAL_EPISODES, 0, &mut |o| agent.act_greedy(o))?;
    let (eval_mean, eval_std) = mean_std(&returns);
    let summary = json!({
        "status": "completed",
        "env": cfg.env,
        "algo": cfg.algo,
        "seed": cfg.ppo.seed,
        "device": cfg.device.to_string(),
        "steps": steps,
        "updates": updates,
        "wall_time_s": wall,
        "final_mean_return": final_mean_return,
        "final_eval": {
            "episodes": FINAL_EVAL_EPISODES,
            "seed": 0,
            "mean_return": eval_mean,
            "std_return": eval_std,
            "returns": returns,
        },
        "checkpoint": crate::run_dir::CHECKPOINT_FILE,
        "run_dir": dir.root.display().to_string(),
    });
    atomic_write(&dir.summary(), format!("{summary:#}\n").as_bytes())?;
    if json {
        print_json(&summary);
    } else {
        eprintln!(
            "trained {} for {steps} steps ({updates} updates) in {wall:.1} s; last training return {}; \
             greedy eval {eval_mean:.1} ± {eval_std:.1}",
            cfg.env,
            final_mean_return.map(|r| format!("{r:.1}")).unwrap_or_else(|| "-".into()),
        );
        println!("{}", dir.root.display());
    }
    Ok(())
}

/// Writes the agent's networks to `checkpoints/final.mpk` (burn named MessagePack, full
/// precision), atomically.
fn save_checkpoint<B: AutodiffBackend>(agent: &PpoAgent<B>, dir: &RunDir) -> anyhow::Result<()> {
    write_model(&agent.model, &dir.checkpoint())
}

/// Encodes `model` (burn named MessagePack, full precision) and writes it to `path` atomically.
fn write_model<B: AutodiffBackend>(model: &ActorCritic<B>, path: &std::path::Path) -> anyhow::Result<()> {
    let bytes = NamedMpkBytesRecorder::<FullPrecisionSettings>::default()
        .record(model.clone().into_record(), ())
        .map_err(|e| anyhow::anyhow!("cannot encode the checkpoint: {e}"))?;
    atomic_write(path, &bytes)
}
