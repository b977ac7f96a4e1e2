//! `alignrl train`: trains an agent (PPO or SAC) and writes a run directory (see [`crate::run_dir`]).
//!
//! Order of work: resolve the configuration (the env's rl-baselines3-zoo defaults, then
//! `--config`, then command-line flags), validate it (env id, algo, device, sizes) before anything
//! is written, create the run directory, write `config.toml`, train while appending `metrics.csv`
//! and `episodes.csv` and drawing a progress bar on stderr (hidden when stderr is not a terminal),
//! then write the checkpoint, evaluate the in-memory agent greedily (10 episodes, seeds 0..9,
//! recorded in `summary.json` as `final_eval`, which `alignrl eval` on the checkpoint reproduces),
//! and write `summary.json` and the plot.
//!
//! Checkpoints: every `checkpoint_every` updates (PPO) or log intervals (SAC) the networks go to
//! `checkpoints/latest.mpk`, and a resumable checkpoint (networks, optimiser state, RNG streams,
//! action log) to `checkpoints/resume/update_<k>/`, named by `checkpoints/resume/LATEST`.
//! `alignrl train --resume DIR` continues from it, bit-identically to a run that never stopped
//! (the action log is replayed through freshly seeded envs to restore them). `--stop-after K`
//! ends this invocation after K updates (PPO) or log intervals (SAC) with a resumable checkpoint,
//! for clusters with job time limits.
//!
//! A NaN/inf during training ends the run with exit code 1 and a message naming the global step
//! and the quantity; `metrics.csv`, the plot and a `summary.json` with `"status": "failed"` are
//! still written, and `checkpoints/latest.mpk` is the last good checkpoint.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use alignrl_agents::backend::{CpuAutodiff, DeviceKind, probe};
use alignrl_agents::ppo::{PpoCheckpoint, PpoError, PpoResumeState, train_ppo_with};
use alignrl_agents::sac::{SacCheckpoint, SacError, SacResumeState, train_sac_with};
use alignrl_envs::vector::VecEnv;
use alignrl_envs::{Registry, Space};
use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::commands::eval::{episode_outcomes, mean_std};
use crate::commands::{make_env_in, parse_options};
use crate::io::{atomic_write, print_json};
use crate::run_dir::{EPISODES_HEADER, MetricsWriter, RunConfig, RunDir, SAC_METRICS_HEADER};
use crate::usage;

/// Episodes of the end-of-training greedy evaluation (seeds `0..FINAL_EVAL_EPISODES`).
pub const FINAL_EVAL_EPISODES: usize = 10;
/// Training episodes in the rolling mean compared with the env's reward threshold.
pub const THRESHOLD_WINDOW: usize = 20;

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
    /// Seed (`ppo.seed` or `sac.seed`).
    pub seed: Option<u64>,
    /// Total environment steps.
    pub total_steps: Option<u64>,
    /// Run directory (default `runs/<env>__<algo>__<seed>__<unix time>`).
    pub run_dir: Option<PathBuf>,
    /// `cpu` or `cuda`.
    pub device: Option<String>,
    /// Continue the run in this directory from its latest resumable checkpoint.
    pub resume: Option<PathBuf>,
    /// End this invocation after this many updates (PPO) or log intervals (SAC), resumably.
    pub stop_after: Option<usize>,
    /// Print one JSON object on stdout.
    pub json: bool,
}

/// Resolves the configuration: the env's defaults ([`RunConfig::for_env`]), then the `--config`
/// file, then the flags. With `--resume`, the run's own `config.toml` (only `--total-steps` and
/// `--device` may change).
pub fn resolve(args: &TrainArgs) -> anyhow::Result<RunConfig> {
    let mut cfg = if let Some(dir) = &args.resume {
        let fixed = [
            ("--env", args.env.is_some()),
            ("--opt", !args.opts.is_empty()),
            ("--algo", args.algo.is_some()),
            ("--config", args.config.is_some()),
            ("--seed", args.seed.is_some()),
            ("--run-dir", args.run_dir.is_some()),
        ];
        if let Some((flag, _)) = fixed.iter().find(|(_, given)| *given) {
            return Err(usage(format!(
                "{flag} cannot be combined with --resume: a resumed run keeps its config.toml \
                 (only --total-steps, --device and --stop-after may be given)"
            )));
        }
        let path = RunDir::new(dir).config();
        if !path.is_file() {
            return Err(usage(format!("{} is not a run directory (no config.toml)", dir.display())));
        }
        RunConfig::load(&path)?
    } else {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| usage(format!("cannot read config {}: {e}", path.display())))?;
                let origin = path.display().to_string();
                let parsed = RunConfig::parse(&text, &origin)?;
                Some((text, origin, parsed))
            }
            None => None,
        };
        let env = args.env.clone().or_else(|| file.as_ref().map(|f| f.2.env.clone())).unwrap_or_default();
        let algo =
            args.algo.clone().or_else(|| file.as_ref().map(|f| f.2.algo.clone())).unwrap_or("ppo".into());
        let base = RunConfig::for_env(&env, &algo);
        let mut cfg = match &file {
            Some((text, origin, _)) => RunConfig::parse_over(text, origin, &base)?,
            None => base,
        };
        cfg.env = env;
        cfg.algo = algo;
        if !args.opts.is_empty() {
            cfg.env_options = args.opts.clone();
        }
        if let Some(seed) = args.seed {
            cfg.set_seed(seed);
        }
        cfg
    };
    if let Some(n) = args.total_steps {
        cfg.total_steps = n;
    }
    if let Some(d) = &args.device {
        cfg.device = d.parse::<DeviceKind>().map_err(|e| usage(e.to_string()))?;
    }
    if cfg.device == DeviceKind::Cuda {
        // The fused PPO and SAC engines compute on the CPU; on a GPU, both run on burn's backend.
        cfg.ppo.engine = alignrl_agents::ppo::PpoEngine::Burn;
        cfg.sac.engine = alignrl_agents::sac::SacEngine::Burn;
    }
    if args.stop_after == Some(0) {
        return Err(usage("--stop-after must be at least 1"));
    }
    if cfg.env.is_empty() {
        return Err(usage("no environment: give --env ID (see `alignrl envs`) or `env` in --config"));
    }
    match cfg.algo.as_str() {
        "ppo" => {
            let p = &cfg.ppo;
            if p.num_envs == 0 || p.num_steps == 0 || p.num_minibatches == 0 || p.update_epochs == 0 {
                return Err(usage(
                    "ppo.num_envs, num_steps, num_minibatches and update_epochs must be at least 1",
                ));
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
        }
        "sac" => {
            let s = &cfg.sac;
            if s.batch_size == 0 || s.buffer_size == 0 || s.log_interval == 0 {
                return Err(usage("sac.batch_size, buffer_size and log_interval must be at least 1"));
            }
            if s.policy_frequency == 0 || s.target_network_frequency == 0 {
                return Err(usage("sac.policy_frequency and target_network_frequency must be at least 1"));
            }
            if !(s.tau > 0.0 && s.tau <= 1.0 && (0.0..=1.0).contains(&s.gamma)) {
                return Err(usage(format!(
                    "sac.tau {} must be in (0, 1] and sac.gamma {} in [0, 1]",
                    s.tau, s.gamma
                )));
            }
        }
        other => return Err(usage(format!("unknown --algo {other:?}: expected ppo or sac"))),
    }
    if cfg.total_steps == 0 {
        return Err(usage("--total-steps must be at least 1"));
    }
    Ok(cfg)
}

/// Runs the command.
pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    run_with_registry(args, Registry::builtin())
}

/// [`run`] with the envs of `registry` (tests use registries with extra envs).
pub fn run_with_registry(args: &TrainArgs, registry: &Registry) -> anyhow::Result<()> {
    let cfg = resolve(args)?;
    probe(cfg.device).map_err(|e| usage(e.to_string()))?;
    // Validate the env (id, options, action space) before creating anything.
    let env = make_env_in(registry, &cfg.env, &cfg.env_options)?;
    let space = env.action_space().clone();
    let supported = match (&space, cfg.algo.as_str()) {
        (Space::Discrete(_), "ppo") => true,
        (Space::Box(b), "ppo") => b.shape.len() == 1,
        (Space::Box(b), "sac") => {
            b.shape.len() == 1
                && b.low.iter().zip(&b.high).all(|(l, h)| l.is_finite() && h.is_finite() && h > l)
        }
        _ => false,
    };
    if !supported {
        return Err(usage(format!(
            "{}: {} supports {}, not {space}",
            cfg.env,
            cfg.algo.to_uppercase(),
            if cfg.algo == "sac" {
                "bounded one-dimensional Box action spaces"
            } else {
                "Discrete and one-dimensional Box action spaces"
            }
        )));
    }
    drop(env);

    let dir = match &args.resume {
        Some(d) => {
            let dir = RunDir::new(d);
            if !dir.resume_dir().join("LATEST").is_file() {
                return Err(usage(format!(
                    "{} has no resumable checkpoint ({}/LATEST); it is written every checkpoint_every = {} \
                     updates",
                    d.display(),
                    dir.resume_dir().display(),
                    cfg.checkpoint_every
                )));
            }
            dir
        }
        None => {
            let dir = RunDir::new(
                args.run_dir.clone().unwrap_or_else(|| RunDir::default_path(&cfg.env, &cfg.algo, cfg.seed())),
            );
            dir.create()?;
            dir
        }
    };
    atomic_write(&dir.config(), cfg.to_toml().as_bytes())?;
    match cfg.device {
        DeviceKind::Cpu => train_on::<CpuAutodiff>(&cfg, &dir, args, registry),
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => train_on::<alignrl_agents::backend::GpuAutodiff>(&cfg, &dir, args, registry),
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

/// The resumable-checkpoint bookkeeping that is ours rather than the trainer's.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct RunProgress {
    /// Wall time of the run at the checkpoint (seconds, all invocations).
    wall_time_s: f64,
    /// Training episodes finished.
    episodes: u64,
    /// SAC log intervals done (0 for PPO).
    logs: usize,
}

/// Everything a run appends to while training, shared by PPO and SAC.
struct RunLog {
    metrics: MetricsWriter,
    episodes: MetricsWriter,
    episode_count: u64,
    window: VecDeque<f64>,
    threshold: Option<f64>,
    reached: Option<(u64, f64)>,
    curve: Vec<(f64, f64)>,
    wall_offset: f64,
    start: Instant,
    last_good: Option<String>,
    error: Option<anyhow::Error>,
    recent_return: Option<f64>,
}

impl RunLog {
    fn wall(&self) -> f64 {
        self.wall_offset + self.start.elapsed().as_secs_f64()
    }

    fn episodes_done(&mut self, step: u64, wall: f64, returns: &[f64], lengths: Option<&[u64]>) {
        for (k, r) in returns.iter().enumerate() {
            self.episode_count += 1;
            let len = lengths.and_then(|l| l.get(k)).map(|l| l.to_string()).unwrap_or_default();
            let line = format!("{},{step},{wall},{r},{len}", self.episode_count);
            if self.error.is_none()
                && let Err(e) = self.episodes.line(&line)
            {
                self.error = Some(e);
            }
            self.push_return(step, wall, *r);
        }
    }

    fn push_return(&mut self, step: u64, wall: f64, r: f64) {
        self.window.push_back(r);
        if self.window.len() > THRESHOLD_WINDOW {
            self.window.pop_front();
        }
        if let Some(t) = self.threshold
            && self.reached.is_none()
            && self.window.len() == THRESHOLD_WINDOW
            && self.window.iter().sum::<f64>() / THRESHOLD_WINDOW as f64 >= t
        {
            self.reached = Some((step, wall));
        }
    }
}

fn train_on<B: AutodiffBackend>(
    cfg: &RunConfig,
    dir: &RunDir,
    args: &TrainArgs,
    registry: &Registry,
) -> anyhow::Result<()> {
    let options = parse_options(&cfg.env_options)?;
    let num_envs = if cfg.algo == "sac" { 1 } else { cfg.ppo.num_envs };
    let mut venv =
        VecEnv::from_fn(num_envs, |_| registry.make_from_strings(&cfg.env, &options).expect("validated"));
    let threshold = registry.spec(&cfg.env).ok().and_then(|s| s.reward_threshold);

    // ---- resume point: trainer checkpoint, our progress, and the files cut back to it ----
    let resume_from = match &args.resume {
        Some(_) => Some(read_resume_point(dir)?),
        None => None,
    };
    let (metrics, episodes, progress) = match &resume_from {
        Some(point) => {
            let (step, unit) = (point.global_step, point.unit);
            let first_num = |l: &str| l.split(',').next().and_then(|v| v.parse::<u64>().ok());
            let step_of = |l: &str| l.split(',').nth(1).and_then(|v| v.parse::<u64>().ok());
            let metrics = MetricsWriter::reopen(&dir.metrics(), |l| first_num(l).is_some_and(|u| u <= unit))?;
            let episodes = MetricsWriter::reopen(&dir.episodes(), |l| step_of(l).is_some_and(|s| s <= step))?;
            (metrics, episodes, point.progress.clone())
        }
        None => {
            let header = if cfg.algo == "sac" { SAC_METRICS_HEADER } else { crate::run_dir::METRICS_HEADER };
            let metrics = MetricsWriter::create_with(&dir.metrics(), header)?;
            let episodes = MetricsWriter::create_with(&dir.episodes(), EPISODES_HEADER)?;
            (metrics, episodes, RunProgress { wall_time_s: 0.0, episodes: 0, logs: 0 })
        }
    };
    let mut rec = RunLog {
        metrics,
        episodes,
        episode_count: 0,
        window: VecDeque::new(),
        threshold,
        reached: None,
        curve: Vec::new(),
        wall_offset: progress.wall_time_s,
        start: Instant::now(),
        last_good: None,
        error: None,
        recent_return: None,
    };
    if resume_from.is_some() {
        // Rebuild the curve and the rolling window from the kept rows.
        let return_col = if cfg.algo == "sac" { 5 } else { 4 };
        for line in std::fs::read_to_string(dir.metrics())?.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if let (Some(Ok(step)), Some(Ok(r))) =
                (f.get(1).map(|v| v.parse::<f64>()), f.get(return_col).map(|v| v.parse::<f64>()))
            {
                rec.curve.push((step, r));
                rec.recent_return = Some(r);
            }
        }
        for line in std::fs::read_to_string(dir.episodes())?.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if let (Some(Ok(step)), Some(Ok(wall)), Some(Ok(r))) =
                (f.get(1).map(|v| v.parse()), f.get(2).map(|v| v.parse()), f.get(3).map(|v| v.parse()))
            {
                rec.episode_count += 1;
                rec.push_return(step, wall, r);
            }
        }
    }

    let bar = progress_bar(cfg.total_steps);
    let device = B::Device::default();
    let mut invocation_units = 0usize;
    let mut stopped_early = false;
    let mut logs = progress.logs;
    let mut last_step = 0u64;
    let mut last_unit = 0usize;

    // ---- train ----
    type Agent = Box<dyn Fn(&[f64]) -> Vec<f64>>;
    // (greedy policy, final.mpk bytes, obs_norm.json text for PPO with norm_obs)
    let result: Result<(Agent, Vec<u8>, Option<String>), String> = if cfg.algo == "sac" {
        let resume = match &resume_from {
            Some(p) => Some(p.to_sac()?),
            None => None,
        };
        let out =
            train_sac_with::<B>(&mut venv, &cfg.sac, cfg.total_steps, &device, resume.as_ref(), |s, p| {
                logs += 1;
                let wall = rec.wall();
                if rec.error.is_none()
                    && let Err(e) = rec.metrics.append_sac(logs, s, wall)
                {
                    rec.error = Some(e);
                }
                rec.episodes_done(s.global_step, wall, &s.episode_returns, None);
                if let Some(r) = s.mean_return {
                    rec.curve.push((s.global_step as f64, r));
                    rec.recent_return = Some(r);
                }
                invocation_units += 1;
                let stop = args.stop_after == Some(invocation_units);
                if rec.error.is_none() && (logs % cfg.checkpoint_every.max(1) == 0 || stop) {
                    let progress = RunProgress { wall_time_s: wall, episodes: rec.episode_count, logs };
                    let written = p.checkpoint().map_err(|e| anyhow::anyhow!("{e}")).and_then(|ck| {
                        atomic_write(&dir.latest_checkpoint(), &ck.records[0])?;
                        write_resume_point(dir, logs, &ResumePoint::from_sac(ck, progress))
                    });
                    match written {
                        Ok(name) => rec.last_good = Some(name),
                        Err(e) => rec.error = Some(e),
                    }
                }
                bar.set_position(s.global_step);
                bar.set_message(format!(
                    "{:.0} updates/s, return {}",
                    s.updates_per_sec,
                    rec.recent_return.map(|r| format!("{r:.1}")).unwrap_or_else(|| "-".into())
                ));
                last_step = s.global_step;
                last_unit = logs;
                if stop || rec.error.is_some() {
                    stopped_early = s.global_step < cfg.total_steps;
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
        out.map_err(|e: SacError| e.to_string()).and_then(|agent| {
            let bytes = NamedMpkBytesRecorder::<FullPrecisionSettings>::default()
                .record(agent.actor.clone().into_record(), ())
                .map_err(|e| format!("cannot encode the checkpoint: {e}"))?;
            Ok((Box::new(move |o: &[f64]| agent.act_deterministic(o)) as Agent, bytes, None))
        })
    } else {
        let resume = match &resume_from {
            Some(p) => Some(p.to_ppo()?),
            None => None,
        };
        let out =
            train_ppo_with::<B>(&mut venv, &cfg.ppo, cfg.total_steps, &device, resume.as_ref(), |s, p| {
                let wall = rec.wall();
                if rec.error.is_none()
                    && let Err(e) = rec.metrics.append(s, wall)
                {
                    rec.error = Some(e);
                }
                rec.episodes_done(s.global_step, wall, &s.episode_returns, Some(&s.episode_lengths));
                if let Some(r) = s.mean_return {
                    rec.curve.push((s.global_step as f64, r));
                    rec.recent_return = Some(r);
                }
                invocation_units += 1;
                let stop = args.stop_after == Some(invocation_units);
                if rec.error.is_none() && (s.update % cfg.checkpoint_every.max(1) == 0 || stop) {
                    let progress = RunProgress { wall_time_s: wall, episodes: rec.episode_count, logs: 0 };
                    let written = p.checkpoint().map_err(|e| anyhow::anyhow!("{e}")).and_then(|ck| {
                        if let Some(norm) = p.obs_normalization {
                            atomic_write(&dir.latest_obs_norm(), obs_norm_json(norm).as_bytes())?;
                        }
                        atomic_write(&dir.latest_checkpoint(), &ck.model)?;
                        write_resume_point(dir, s.update, &ResumePoint::from_ppo(ck, progress))
                    });
                    match written {
                        Ok(name) => rec.last_good = Some(name),
                        Err(e) => rec.error = Some(e),
                    }
                }
                bar.set_position(s.global_step);
                bar.set_message(format!(
                    "{:.0} sps, return {}",
                    s.sps,
                    rec.recent_return.map(|r| format!("{r:.1}")).unwrap_or_else(|| "-".into())
                ));
                last_step = s.global_step;
                last_unit = s.update;
                if stop || rec.error.is_some() {
                    stopped_early = s.global_step + cfg.ppo.batch_size() as u64 <= cfg.total_steps;
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
        out.map_err(|e: PpoError| e.to_string()).and_then(|agent| {
            let bytes = NamedMpkBytesRecorder::<FullPrecisionSettings>::default()
                .record(agent.model.clone().into_record(), ())
                .map_err(|e| format!("cannot encode the checkpoint: {e}"))?;
            let norm = agent.obs_normalization().map(obs_norm_json);
            Ok((Box::new(move |o: &[f64]| agent.act_greedy(o)) as Agent, bytes, norm))
        })
    };
    bar.finish_and_clear();
    let wall = rec.wall();
    if let Some(e) = rec.error.take() {
        return Err(e);
    }
    let chart = alignrl_viz::plot::learning_curve(
        &rec.curve,
        format!("{} {} seed {}", cfg.env, cfg.algo.to_uppercase(), cfg.seed()),
    );
    atomic_write(&dir.plot(), &chart.to_png().map_err(|e| anyhow::anyhow!("{e}"))?)?;
    let unit_name = if cfg.algo == "sac" { "logs" } else { "updates" };
    let reached = rec.reached.map(|(step, wall)| {
        json!({"reward_threshold": rec.threshold, "window": THRESHOLD_WINDOW, "step": step, "wall_time_s": wall})
    });
    let base = |status: &str| {
        json!({
            "status": status,
            "env": cfg.env,
            "algo": cfg.algo,
            "seed": cfg.seed(),
            "device": cfg.device.to_string(),
            "steps": last_step,
            unit_name: last_unit,
            "episodes": rec.episode_count,
            "wall_time_s": wall,
            "final_mean_return": rec.recent_return,
            "reward_threshold": rec.threshold,
            "threshold_reached": reached.clone().unwrap_or(Value::Null),
            "run_dir": dir.root.display().to_string(),
        })
    };

    let (agent, bytes, obs_norm) = match result {
        Ok(pair) => pair,
        Err(e) => {
            let mut summary = base("failed");
            summary["error"] = json!(e);
            summary["checkpoint"] =
                json!(rec.last_good.as_ref().map(|_| crate::run_dir::LATEST_CHECKPOINT_FILE));
            atomic_write(&dir.summary(), format!("{summary:#}\n").as_bytes())?;
            let kept = match &rec.last_good {
                Some(name) => format!(
                    "the last good checkpoint ({name}) is {} (resumable from {})",
                    dir.latest_checkpoint().display(),
                    dir.resume_dir().display()
                ),
                None => {
                    format!("no checkpoint was written yet (one every {} {unit_name})", cfg.checkpoint_every)
                }
            };
            let msg = format!(
                "training stopped: {e} (run dir {}; metrics.csv holds the finished {unit_name}; {kept})",
                dir.root.display()
            );
            return Err(if e.contains("configuration") { usage(msg) } else { anyhow::anyhow!(msg) });
        }
    };

    if stopped_early {
        let mut summary = base("stopped");
        summary["resume"] = json!(format!("alignrl train --resume {}", dir.root.display()));
        atomic_write(&dir.summary(), format!("{summary:#}\n").as_bytes())?;
        if args.json {
            print_json(&summary);
        } else {
            eprintln!(
                "stopped after {last_step} steps ({unit_name} {last_unit}) as asked; continue with \
                 `alignrl train --resume {}`",
                dir.root.display()
            );
            println!("{}", dir.root.display());
        }
        return Ok(());
    }

    if let Some(text) = &obs_norm {
        atomic_write(&dir.obs_norm(), text.as_bytes())?;
    }
    atomic_write(&dir.checkpoint(), &bytes)?;
    let mut env = make_env_in(registry, &cfg.env, &cfg.env_options)?;
    let outcomes = episode_outcomes(env.as_mut(), FINAL_EVAL_EPISODES, 0, &mut |o| agent(o))?;
    let (eval_mean, eval_std) = mean_std(&outcomes.returns);
    let success_rate = outcomes.success_rate();
    let mut summary = base("completed");
    summary["final_eval"] = json!({
        "episodes": FINAL_EVAL_EPISODES,
        "seed": 0,
        "mean_return": eval_mean,
        "std_return": eval_std,
        "returns": outcomes.returns,
        "success_rate": success_rate,
    });
    summary["checkpoint"] = json!(crate::run_dir::CHECKPOINT_FILE);
    atomic_write(&dir.summary(), format!("{summary:#}\n").as_bytes())?;
    if args.json {
        print_json(&summary);
    } else {
        eprintln!(
            "trained {} with {} for {last_step} steps in {wall:.1} s; last training return {}; greedy eval \
             {eval_mean:.1} ± {eval_std:.1}{}",
            cfg.env,
            cfg.algo.to_uppercase(),
            rec.recent_return.map(|r| format!("{r:.1}")).unwrap_or_else(|| "-".into()),
            success_rate.map(|r| format!(", success rate {r:.2}")).unwrap_or_default(),
        );
        println!("{}", dir.root.display());
    }
    Ok(())
}

/// A resumable checkpoint as stored in `checkpoints/resume/update_<k>/`.
struct ResumePoint {
    /// `ppo` or `sac`.
    algo: String,
    /// `trainer.json`: the trainer's state ([`PpoResumeState`] or [`SacResumeState`]) as JSON
    /// text (its 128-bit RNG states do not fit a `serde_json::Value`).
    trainer: String,
    /// Environment steps at the checkpoint.
    global_step: u64,
    /// The metrics-row number of the checkpoint (PPO update or SAC log).
    unit: u64,
    /// `record_<i>.mpk` files.
    records: Vec<Vec<u8>>,
    /// `actions.bin`, little-endian f64.
    actions: Vec<f64>,
    progress: RunProgress,
}

/// `state.json` of a resume folder.
#[derive(serde::Deserialize)]
struct StateHeader {
    algo: String,
    run: RunProgress,
    records: usize,
    actions: usize,
    global_step: u64,
    unit: u64,
}

impl ResumePoint {
    fn from_ppo(ck: PpoCheckpoint, progress: RunProgress) -> Self {
        Self {
            algo: "ppo".into(),
            trainer: serde_json::to_string(&ck.state).expect("state serialises"),
            global_step: ck.state.global_step,
            unit: ck.state.update as u64,
            records: vec![ck.model, ck.optimizer],
            actions: ck.actions,
            progress,
        }
    }

    fn from_sac(ck: SacCheckpoint, progress: RunProgress) -> Self {
        Self {
            algo: "sac".into(),
            trainer: serde_json::to_string(&ck.state).expect("state serialises"),
            global_step: ck.state.global_step,
            unit: progress.logs as u64,
            records: ck.records,
            actions: ck.actions,
            progress,
        }
    }

    fn trainer<T: serde::de::DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_str(self.trainer.trim())
            .map_err(|e| usage(format!("resumable checkpoint trainer.json: {e}")))
    }

    fn to_ppo(&self) -> anyhow::Result<PpoCheckpoint> {
        if self.algo != "ppo" || self.records.len() != 2 {
            return Err(usage(format!("the resumable checkpoint is a {} checkpoint, not ppo", self.algo)));
        }
        Ok(PpoCheckpoint {
            state: self.trainer::<PpoResumeState>()?,
            model: self.records[0].clone(),
            optimizer: self.records[1].clone(),
            actions: self.actions.clone(),
        })
    }

    fn to_sac(&self) -> anyhow::Result<SacCheckpoint> {
        if self.algo != "sac" {
            return Err(usage(format!("the resumable checkpoint is a {} checkpoint, not sac", self.algo)));
        }
        Ok(SacCheckpoint {
            state: self.trainer::<SacResumeState>()?,
            records: self.records.clone(),
            actions: self.actions.clone(),
        })
    }
}

/// Writes `point` into `checkpoints/resume/update_<unit>/` (every file atomically), then points
/// `checkpoints/resume/LATEST` at it (atomically) and removes older folders. Returns the name.
fn write_resume_point(dir: &RunDir, unit: usize, point: &ResumePoint) -> anyhow::Result<String> {
    let root = dir.resume_dir();
    let name = format!("update_{unit:07}");
    let folder = root.join(&name);
    std::fs::create_dir_all(&folder)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", folder.display()))?;
    for (i, bytes) in point.records.iter().enumerate() {
        atomic_write(&folder.join(format!("record_{i}.mpk")), bytes)?;
    }
    let mut raw = Vec::with_capacity(point.actions.len() * 8);
    for a in &point.actions {
        raw.extend_from_slice(&a.to_le_bytes());
    }
    atomic_write(&folder.join("actions.bin"), &raw)?;
    let header = json!({
        "algo": point.algo,
        "run": point.progress,
        "records": point.records.len(),
        "actions": point.actions.len(),
        "global_step": point.global_step,
        "unit": point.unit,
    });
    atomic_write(&folder.join("trainer.json"), format!("{}\n", point.trainer).as_bytes())?;
    atomic_write(&folder.join("state.json"), format!("{header:#}\n").as_bytes())?;
    atomic_write(&root.join("LATEST"), format!("{name}\n").as_bytes())?;
    if let Ok(entries) = std::fs::read_dir(&root) {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if n.starts_with("update_") && n != name {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(name)
}

/// Reads the resumable checkpoint that `checkpoints/resume/LATEST` names.
fn read_resume_point(dir: &RunDir) -> anyhow::Result<ResumePoint> {
    let root = dir.resume_dir();
    let latest = root.join("LATEST");
    let name = std::fs::read_to_string(&latest)
        .map_err(|e| usage(format!("cannot read {}: {e}", latest.display())))?
        .trim()
        .to_string();
    let folder = root.join(&name);
    let state_path = folder.join("state.json");
    let text = std::fs::read_to_string(&state_path)
        .map_err(|e| usage(format!("cannot read {}: {e}", state_path.display())))?;
    let bad = |e: serde_json::Error| usage(format!("{}:{}: {e}", state_path.display(), e.line()));
    let header: StateHeader = serde_json::from_str(&text).map_err(bad)?;
    let trainer_path = folder.join("trainer.json");
    let trainer_text = std::fs::read_to_string(&trainer_path)
        .map_err(|e| usage(format!("cannot read {}: {e}", trainer_path.display())))?;
    let (algo, progress, n_records, n_actions) = (header.algo, header.run, header.records, header.actions);
    let mut records = Vec::with_capacity(n_records);
    for i in 0..n_records {
        let p = folder.join(format!("record_{i}.mpk"));
        records.push(std::fs::read(&p).map_err(|e| usage(format!("cannot read {}: {e}", p.display())))?);
    }
    let p = folder.join("actions.bin");
    let raw = std::fs::read(&p).map_err(|e| usage(format!("cannot read {}: {e}", p.display())))?;
    if raw.len() != n_actions * 8 {
        return Err(usage(format!(
            "{}: {} bytes, but state.json says {n_actions} actions ({} bytes)",
            p.display(),
            raw.len(),
            n_actions * 8
        )));
    }
    let actions = raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
    Ok(ResumePoint {
        algo,
        trainer: trainer_text,
        global_step: header.global_step,
        unit: header.unit,
        records,
        actions,
        progress,
    })
}

/// `obs_norm.json`'s text for observation statistics.
fn obs_norm_json(norm: &alignrl_agents::rl::ObsNormalization) -> String {
    format!("{:#}\n", serde_json::to_value(norm).expect("plain numbers serialise"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoo_defaults_then_file_then_flags() {
        let args = TrainArgs { env: Some("CartPole-v1".into()), ..Default::default() };
        let cfg = resolve(&args).unwrap();
        assert_eq!((cfg.ppo.num_envs, cfg.ppo.num_steps, cfg.total_steps), (8, 32, 100_000));
        assert!(cfg.ppo.anneal_clip);
        let sac = resolve(&TrainArgs {
            env: Some("Pendulum-v1".into()),
            algo: Some("sac".into()),
            seed: Some(9),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (sac.sac.policy_lr, sac.sac.learning_starts, sac.total_steps, sac.sac.seed),
            (1e-3, 100, 20_000, 9)
        );
        let dir = std::env::temp_dir().join(format!("alignrl-resolve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "env = \"CartPole-v1\"\n[ppo]\nupdate_epochs = 3\n").unwrap();
        let cfg =
            resolve(&TrainArgs { config: Some(file.clone()), total_steps: Some(512), ..Default::default() })
                .unwrap();
        // The file's key wins, the other zoo values stay, the flag wins over both.
        assert_eq!((cfg.ppo.update_epochs, cfg.ppo.num_envs, cfg.total_steps), (3, 8, 512));
        let e = resolve(&TrainArgs { resume: Some(dir.clone()), seed: Some(1), ..Default::default() })
            .unwrap_err()
            .to_string();
        assert!(e.contains("--seed cannot be combined with --resume"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// CartPole whose rewards turn NaN after `NAN_AFTER` steps of each copy.
    struct NanCartPole {
        inner: Box<dyn alignrl_envs::Env>,
        steps: u64,
    }

    const NAN_AFTER: u64 = 400;

    impl alignrl_envs::Env for NanCartPole {
        fn observation_space(&self) -> &Space {
            self.inner.observation_space()
        }
        fn action_space(&self) -> &Space {
            self.inner.action_space()
        }
        fn reset(
            &mut self,
            seed: Option<u64>,
            obs: &mut [f64],
            info: &mut alignrl_envs::Info,
        ) -> Result<(), alignrl_envs::EnvError> {
            self.inner.reset(seed, obs, info)
        }
        fn step(
            &mut self,
            action: &[f64],
            obs: &mut [f64],
            info: &mut alignrl_envs::Info,
        ) -> Result<alignrl_envs::Step, alignrl_envs::EnvError> {
            self.steps += 1;
            let mut s = self.inner.step(action, obs, info)?;
            if self.steps > NAN_AFTER {
                s.reward = f64::NAN;
            }
            Ok(s)
        }
        fn name(&self) -> &str {
            "NanCartPole"
        }
    }

    #[test]
    fn nan_later_in_training_keeps_the_last_good_checkpoint() {
        let mut reg = Registry::new();
        reg.register(alignrl_envs::EnvSpec {
            id: "NanCartPole-v0",
            description: "CartPole whose rewards turn NaN after 400 steps per copy",
            max_episode_steps: Some(500),
            reward_threshold: None,
            options: Vec::new(),
            entry_point: |_| {
                Ok(Box::new(NanCartPole { inner: alignrl_envs::make("CartPole-v1")?, steps: 0 })
                    as Box<dyn alignrl_envs::Env>)
            },
        })
        .unwrap();
        let dir = std::env::temp_dir().join(format!("alignrl-nan-later-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cfg = dir.with_extension("toml");
        // 8 copies × 32 steps per update: the NaN arrives in update 13 (copy step 401).
        std::fs::write(
            &cfg,
            "checkpoint_every = 5\ntotal_steps = 8192\n[ppo]\nnum_envs = 8\nnum_steps = 32\n",
        )
        .unwrap();
        let args = TrainArgs {
            env: Some("NanCartPole-v0".into()),
            config: Some(cfg.clone()),
            run_dir: Some(dir.clone()),
            ..Default::default()
        };
        let err = run_with_registry(&args, &reg).unwrap_err();
        assert_eq!(crate::exit_code(&err), 1);
        let msg = format!("{err:#}");
        assert!(msg.contains("non-finite") && msg.contains("global step 3328"), "{msg}");
        assert!(msg.contains("update_0000010"), "{msg}");
        let run = RunDir::new(&dir);
        assert!(run.latest_checkpoint().is_file());
        assert!(run.resume_dir().join("update_0000010/state.json").is_file());
        let summary: Value = serde_json::from_str(&std::fs::read_to_string(run.summary()).unwrap()).unwrap();
        assert_eq!(summary["status"], "failed");
        assert_eq!(summary["checkpoint"], crate::run_dir::LATEST_CHECKPOINT_FILE);
        assert_eq!(std::fs::read_to_string(run.metrics()).unwrap().lines().count(), 1 + 12);
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_file(&cfg).unwrap();
    }
}
