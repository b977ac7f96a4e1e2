//! `alignrl rollout`: runs episodes with a random policy (or replays given actions).

use std::path::{Path, PathBuf};

use alignrl_envs::{Env, EnvRng, Info, Space};
use alignrl_viz::record::EpisodeRecorder;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use serde_json::json;

use crate::commands::eval::mean_std;
use crate::commands::make_env;
use crate::io::{atomic_write, print_json};
use crate::usage;

/// Settings of one `rollout` invocation.
#[derive(Debug, Clone)]
pub struct RolloutArgs {
    /// Registered env id.
    pub env: String,
    /// Env options `key=value`.
    pub opts: Vec<String>,
    /// Number of episodes.
    pub episodes: usize,
    /// Seed of the first reset and of the random policy.
    pub seed: u64,
    /// Per-episode CSV output.
    pub out: Option<PathBuf>,
    /// Actions to replay instead of the random policy (`;` between steps, `,` within a step).
    pub actions: Option<String>,
    /// A file of actions to replay, one step per line, components comma-separated.
    pub actions_file: Option<PathBuf>,
    /// Print one JSON object on stdout.
    pub json: bool,
    /// Write a rerun recording of the first episode here (the env must have a 3-D scene).
    pub rrd: Option<PathBuf>,
}

/// Result of one episode.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// Sum of rewards.
    pub ret: f64,
    /// Steps taken.
    pub length: u64,
    /// Ended in a terminal state.
    pub terminated: bool,
    /// Ended by truncation.
    pub truncated: bool,
}

/// Runs the command.
pub fn run(args: &RolloutArgs) -> anyhow::Result<()> {
    let mut env = make_env(&args.env, &args.opts)?;
    let replay = match (&args.actions, &args.actions_file) {
        (Some(_), Some(_)) => return Err(usage("give either --actions or --actions-file, not both")),
        (Some(text), None) => Some(parse_actions(text, env.action_space(), "--actions", ';')?),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(format!("cannot read --actions-file {}: {e}", path.display())))?;
            Some(parse_actions(&text, env.action_space(), &path.display().to_string(), '\n')?)
        }
        (None, None) => None,
    };
    if args.episodes == 0 {
        return Err(usage("--episodes must be at least 1"));
    }
    if args.rrd.is_some() && env.scene().is_none() {
        return Err(usage(format!(
            "--rrd: {} has no 3-D scene to record (the rapier3d robotics envs have one)",
            args.env
        )));
    }
    let episodes = if replay.is_some() { 1 } else { args.episodes };
    let bar = ProgressBar::new(episodes as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} episodes, {per_sec}, eta {eta} {msg}")
            .expect("valid template"),
    );
    let mut results = Vec::with_capacity(episodes);
    let mut policy_rng = EnvRng::seed_from_u64(args.seed ^ 0x5eed_fa11_c0de);
    let mut recording = None;
    for k in 0..episodes {
        let seed = (k == 0).then_some(args.seed);
        let recorder = match (&args.rrd, k) {
            (Some(_), 0) => Some(&mut recording),
            _ => None,
        };
        let ep = run_episode_recorded(env.as_mut(), seed, &mut policy_rng, replay.as_deref(), recorder)?;
        bar.set_message(format!("return {:.2}", ep.ret));
        bar.inc(1);
        results.push(ep);
    }
    bar.finish_and_clear();
    let returns: Vec<f64> = results.iter().map(|e| e.ret).collect();
    let (mean, std) = mean_std(&returns);
    let mean_len = results.iter().map(|e| e.length as f64).sum::<f64>() / results.len() as f64;
    if let Some(path) = &args.out {
        write_csv(path, args.seed, &results)?;
    }
    if let (Some(path), Some(rec)) = (&args.rrd, recording) {
        let frames = rec.frames();
        let bytes = rec.finish(path).with_context(|| format!("writing --rrd {}", path.display()))?;
        eprintln!("wrote {} ({frames} frames, {bytes} bytes)", path.display());
    }
    if args.json {
        print_json(&json!({
            "env": args.env,
            "episodes": results.len(),
            "seed": args.seed,
            "mean_return": mean,
            "std_return": std,
            "mean_length": mean_len,
            "returns": returns,
        }));
    } else {
        eprintln!(
            "{}: {} episode(s), mean return {mean:.3} ± {std:.3}, mean length {mean_len:.1}",
            args.env,
            results.len()
        );
        println!("mean_return {mean}");
    }
    Ok(())
}

/// Runs one episode; with `replay`, takes those actions until they or the episode run out.
pub fn run_episode(
    env: &mut dyn Env,
    seed: Option<u64>,
    policy_rng: &mut EnvRng,
    replay: Option<&[Vec<f64>]>,
) -> anyhow::Result<Episode> {
    run_episode_recorded(env, seed, policy_rng, replay, None)
}

/// [`run_episode`], also recording the scene of every step into `*recording` (started after the
/// reset) when `recording` is given and the env has a scene.
pub fn run_episode_recorded(
    env: &mut dyn Env,
    seed: Option<u64>,
    policy_rng: &mut EnvRng,
    replay: Option<&[Vec<f64>]>,
    mut recording: Option<&mut Option<EpisodeRecorder>>,
) -> anyhow::Result<Episode> {
    let mut obs = vec![0.0; env.observation_space().packed_len()];
    let mut action = vec![0.0; env.action_space().packed_len()];
    let mut info = Info::new();
    env.reset(seed, &mut obs, &mut info).context("reset failed")?;
    if let (Some(slot), Some(scene)) = (recording.as_deref_mut(), env.scene()) {
        let mut rec = EpisodeRecorder::new(env.name(), scene).context("starting the recording")?;
        rec.record(0, scene, None).context("recording step 0")?;
        *slot = Some(rec);
    }
    let mut ep = Episode { ret: 0.0, length: 0, terminated: false, truncated: false };
    loop {
        match replay {
            Some(actions) => match actions.get(ep.length as usize) {
                // Replayed actions must lie in the space, even for envs that clip (as Gymnasium's
                // Pendulum does) rather than reject.
                Some(a) if !env.action_space().contains_packed(a) => {
                    return Err(usage(format!(
                        "step {}: action {a:?} is not in the action space {}",
                        ep.length,
                        env.action_space()
                    )));
                }
                Some(a) => action.copy_from_slice(a),
                None => break,
            },
            None => env.action_space().sample_packed(policy_rng, &mut action),
        }
        info.clear();
        let s = env.step(&action, &mut obs, &mut info).map_err(|e| {
            let msg = format!("step {}: {e}", ep.length);
            if matches!(e, alignrl_envs::EnvError::InvalidAction { .. }) {
                usage(msg)
            } else {
                anyhow::anyhow!(msg)
            }
        })?;
        ep.ret += s.reward;
        ep.length += 1;
        if let (Some(Some(rec)), Some(scene)) = (recording.as_deref_mut(), env.scene()) {
            rec.record(ep.length as i64, scene, Some(s.reward))
                .with_context(|| format!("recording step {}", ep.length))?;
        }
        if s.done() {
            ep.terminated = s.terminated;
            ep.truncated = s.truncated;
            break;
        }
    }
    Ok(ep)
}

/// Parses actions: steps separated by `step_sep` (and newlines), components by `,`. Each step must
/// have the action space's packed length; membership is checked by the env at step time.
pub fn parse_actions(
    text: &str,
    space: &Space,
    source: &str,
    step_sep: char,
) -> anyhow::Result<Vec<Vec<f64>>> {
    let n = space.packed_len();
    let mut out = Vec::new();
    for (i, step) in text.split([step_sep, '\n']).enumerate() {
        let step = step.trim();
        if step.is_empty() || step.starts_with('#') {
            continue;
        }
        let where_ =
            if step_sep == '\n' { format!("{source}:{}", i + 1) } else { format!("{source} step {i}") };
        let a: Vec<f64> = step
            .split(',')
            .map(|c| c.trim().parse::<f64>().map_err(|_| usage(format!("{where_}: {c:?} is not a number"))))
            .collect::<Result<_, _>>()?;
        if a.len() != n {
            return Err(usage(format!(
                "{where_}: action has {} component(s), the action space {space} needs {n}",
                a.len()
            )));
        }
        out.push(a);
    }
    if out.is_empty() {
        return Err(usage(format!("{source}: no actions given")));
    }
    Ok(out)
}

fn write_csv(path: &Path, seed: u64, eps: &[Episode]) -> anyhow::Result<()> {
    let mut s = String::from("episode,seed,length,return,terminated,truncated\n");
    for (k, e) in eps.iter().enumerate() {
        s.push_str(&format!("{k},{seed},{},{},{},{}\n", e.length, e.ret, e.terminated, e.truncated));
    }
    atomic_write(path, s.as_bytes())
}
