//! `alignrl bench env`: environment steps per second; `alignrl bench ppo-update`: one PPO update on
//! a synthetic batch (for backend cross-checks) and its time.

use std::time::Instant;

use alignrl_envs::vector::{ThreadedVecEnv, VecEnv, VectorEnv};
use alignrl_envs::{Env, EnvRng, Info, Registry};
use rand::SeedableRng;
use serde_json::json;

use crate::commands::{make_env, parse_options};
use crate::io::print_json;
use crate::usage;

/// Measures env steps per second with uniformly random actions (sampled inside the timed loop,
/// as `env.action_space.sample()` is in Gymnasium's loop). With `num_envs > 1` a vector env steps
/// all copies per call (`threads > 1`: the threaded vector env); steps are counted per sub-env.
pub fn env(
    id: &str,
    opts: &[String],
    steps: u64,
    num_envs: usize,
    threads: usize,
    json: bool,
) -> anyhow::Result<()> {
    if steps == 0 || num_envs == 0 || threads == 0 {
        return Err(usage("--steps, --num-envs and --threads must be at least 1"));
    }
    let mut rng = EnvRng::seed_from_u64(0);
    let (elapsed, done_steps) = if num_envs == 1 {
        let mut env = make_env(id, opts)?;
        let mut obs = vec![0.0; env.observation_space().packed_len()];
        let mut act = vec![0.0; env.action_space().packed_len()];
        let mut info = Info::new();
        env.reset(Some(0), &mut obs, &mut info)?;
        let space = env.action_space().clone();
        let t0 = Instant::now();
        for _ in 0..steps {
            space.sample_packed(&mut rng, &mut act);
            info.clear();
            let s = env.step(&act, &mut obs, &mut info)?;
            if s.done() {
                info.clear();
                env.reset(None, &mut obs, &mut info)?;
            }
        }
        (t0.elapsed().as_secs_f64(), steps)
    } else {
        let options = parse_options(opts)?;
        let reg = Registry::builtin();
        reg.make_from_strings(id, &options).map_err(|e| usage(e.to_string()))?; // validate once
        let make = |_| reg.make_from_strings(id, &options).expect("validated above");
        let iters = steps.div_ceil(num_envs as u64);
        if threads == 1 {
            time_vec(&mut VecEnv::from_fn(num_envs, make), &mut rng, iters)?
        } else {
            time_vec(&mut ThreadedVecEnv::from_fn(num_envs, threads, make)?, &mut rng, iters)?
        }
    };
    let sps = done_steps as f64 / elapsed;
    if json {
        print_json(&json!({
            "env": id,
            "num_envs": num_envs,
            "threads": threads,
            "steps": done_steps,
            "seconds": elapsed,
            "steps_per_sec": sps,
        }));
    } else {
        eprintln!("{id}: {done_steps} steps over {num_envs} env(s), {threads} thread(s) in {elapsed:.3} s");
        println!("steps_per_sec {sps:.0}");
    }
    Ok(())
}

/// Steps `venv` `iters` times with fresh random actions; returns (seconds, sub-env steps).
fn time_vec(venv: &mut impl VectorEnv, rng: &mut EnvRng, iters: u64) -> anyhow::Result<(f64, u64)> {
    let space = venv.single_action_space().clone();
    let n = space.packed_len();
    let mut actions = vec![0.0; n * venv.num_envs()];
    venv.reset(Some(0))?;
    let t0 = Instant::now();
    for _ in 0..iters {
        for a in actions.chunks_mut(n) {
            space.sample_packed(rng, a);
        }
        venv.step(&actions)?;
    }
    Ok((t0.elapsed().as_secs_f64(), iters * venv.num_envs() as u64))
}

/// `alignrl bench ppo-update`: runs [`alignrl_agents::ppo::probe_update`] on the chosen device.
pub fn ppo_update(batch: usize, iters: usize, device: &str, seed: u64, json: bool) -> anyhow::Result<()> {
    use alignrl_agents::backend::{CpuAutodiff, DeviceKind, probe};
    use alignrl_agents::ppo::{PpoConfig, probe_update};
    if batch == 0 {
        return Err(usage("--batch must be at least 1"));
    }
    let kind = device.parse::<DeviceKind>().map_err(|e| usage(e.to_string()))?;
    probe(kind).map_err(|e| usage(e.to_string()))?;
    let cfg = PpoConfig { seed, ..PpoConfig::default() };
    let p = match kind {
        DeviceKind::Cpu => probe_update::<CpuAutodiff>(&cfg, batch, iters, &Default::default())?,
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => {
            probe_update::<alignrl_agents::backend::GpuAutodiff>(&cfg, batch, iters, &Default::default())?
        }
        #[cfg(not(feature = "cuda"))]
        DeviceKind::Cuda => {
            return Err(usage(alignrl_agents::backend::BackendError::FeatureMissing.to_string()));
        }
    };
    let samples_per_sec = p.batch_size as f64 / p.secs_per_update;
    if json {
        print_json(&json!({
            "device": kind.to_string(),
            "batch_size": p.batch_size,
            "losses": p.losses,
            "grad_norms": p.grad_norms,
            "iters": p.iters,
            "secs_per_update": p.secs_per_update,
            "samples_per_sec": samples_per_sec,
        }));
    } else {
        eprintln!(
            "{kind}: batch {} losses {:?}; {:.4} s per update ({samples_per_sec:.0} samples/s)",
            p.batch_size, p.losses, p.secs_per_update
        );
    }
    Ok(())
}
