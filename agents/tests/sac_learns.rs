//! SAC end to end on Pendulum-v1: seeded determinism, the Polyak target wiring and a learning smoke
//! test.

use alignrl_agents::backend::{Cpu, CpuAutodiff};
use std::ops::ControlFlow;

use alignrl_agents::sac::{
    SacAgent, SacCheckpoint, SacConfig, SacEngine, SacError, SacStats, TwinQ, train_sac, train_sac_with,
};
use alignrl_envs::vector::VecEnv;
use alignrl_envs::{Env, make};
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;

fn vec_env(n: usize) -> VecEnv<Box<dyn Env>> {
    VecEnv::from_fn(n, |_| make("Pendulum-v1").expect("env is registered"))
}

fn run(cfg: &SacConfig, total_steps: u64) -> (SacAgent<CpuAutodiff>, Vec<SacStats>) {
    let mut venv = vec_env(1);
    let mut stats = Vec::new();
    let agent =
        train_sac::<CpuAutodiff>(&mut venv, cfg, total_steps, &Default::default(), |s| stats.push(s.clone()))
            .expect("training runs");
    (agent, stats)
}

/// A small, fast configuration.
fn small() -> SacConfig {
    SacConfig {
        learning_starts: 50,
        batch_size: 32,
        hidden: vec![32, 32],
        log_interval: 50,
        seed: 3,
        ..SacConfig::default()
    }
}

/// The deterministic parts of a log entry (everything but the wall-clock rate), as bit patterns.
fn fingerprint(s: &SacStats) -> (u64, u64, usize, Vec<u64>) {
    let floats = [s.mean_return.unwrap_or(-1.0), s.q_loss, s.actor_loss, s.alpha, s.alpha_loss];
    (s.global_step, s.updates, s.episodes, floats.iter().map(|v| v.to_bits()).collect())
}

#[test]
fn same_seed_gives_bit_identical_stats() {
    let cfg = small();
    let (agent_a, a) = run(&cfg, 450);
    let (agent_b, b) = run(&cfg, 450);
    assert_eq!(a.len(), 9);
    assert_eq!(a.iter().map(fingerprint).collect::<Vec<_>>(), b.iter().map(fingerprint).collect::<Vec<_>>());
    let obs = [0.3, -0.9, 1.5];
    assert_eq!(agent_a.act_deterministic(&obs), agent_b.act_deterministic(&obs));
    let last = a.last().unwrap();
    assert_eq!(last.updates, 450 - 50 + 1);
    assert!(a.iter().skip(1).all(|s| s.q_loss.is_finite() && s.q_loss > 0.0 && s.alpha > 0.0), "{a:?}");
    // Episodes of 200 steps finish at steps 200 and 400.
    assert_eq!(a.iter().map(|s| s.episodes).sum::<usize>(), 2);
    // The temperature moved from 1 (tuned towards the target entropy).
    assert_ne!(agent_a.alpha, 1.0);
    // A different seed gives a different run.
    let (_, c) = run(&SacConfig { seed: 4, ..cfg }, 450);
    assert_ne!(fingerprint(&a[8]).3, fingerprint(&c[8]).3);
}

/// Every float parameter of a module, flattened, in traversal order.
fn params<M: Module<Cpu>>(m: &M) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl ModuleVisitor<Cpu> for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Cpu, D>>) {
            self.0.extend(param.val().into_data().to_vec::<f32>().unwrap());
        }
    }
    let mut c = Collect(Vec::new());
    m.visit(&mut c);
    c.0
}

#[test]
fn one_update_moves_the_targets_by_tau() {
    use burn::module::AutodiffModule;
    let cfg = SacConfig { learning_starts: 20, log_interval: 1000, ..small() };
    // 19 steps: no update, the targets are a copy of the (seeded) initial critics.
    let (before, stats) = run(&cfg, 19);
    assert_eq!(stats.last().unwrap().updates, 0);
    let init: Vec<f32> = params::<TwinQ<Cpu>>(&before.critics.valid());
    assert_eq!(params(&before.target_critics), init);
    // 20 steps: exactly one update, then θ' = τ θ + (1 − τ) θ'_init.
    let (after, stats) = run(&cfg, 20);
    assert_eq!(stats.last().unwrap().updates, 1);
    let online = params::<TwinQ<Cpu>>(&after.critics.valid());
    let target = params(&after.target_critics);
    assert_ne!(online, init, "the critic update changed the online networks");
    let tau = cfg.tau as f32;
    let mut moved = 0;
    for ((t, o), i) in target.iter().zip(&online).zip(&init) {
        let expected = tau * o + (1.0 - tau) * i;
        assert!((t - expected).abs() <= 1e-6 * (1.0 + expected.abs()), "{t} vs {expected}");
        moved += usize::from(o != i);
    }
    assert!(moved > target.len() / 2, "most parameters moved: {moved} of {}", target.len());
}

#[test]
#[ignore = "slow in debug (the default fused engine's kernels are not vectorised at opt-level 1: over 15 min); \
            25 s with `cargo test --release -p alignrl-agents --test sac_learns -- --ignored`"]
fn learns_pendulum() {
    // A uniformly random policy scores about −1200 per 200-step Pendulum episode (seed 1 measured
    // −1383/−1368/−1395 over the first 3000 steps). Seed 1 then gave, with the fused engine (the
    // default), −697 (steps 3–4k), −159 (4–5k) and −100 (5–6k), and −466 for the deterministic
    // policy (the burn engine: −721, −158, −99 and −166); the bar is −600, 600 above random.
    let cfg = SacConfig { seed: 1, ..SacConfig::default() };
    let start = std::time::Instant::now();
    let (agent, stats) = run(&cfg, TOTAL_STEPS);
    for s in &stats {
        eprintln!(
            "step {:5} return {:8.1} q_loss {:8.3} actor_loss {:8.3} alpha {:.4} updates/s {:.1}",
            s.global_step,
            s.mean_return.unwrap_or(f64::NAN),
            s.q_loss,
            s.actor_loss,
            s.alpha,
            s.updates_per_sec
        );
    }
    eprintln!("learns_pendulum: {:.1} s", start.elapsed().as_secs_f64());
    let last = stats.last().unwrap().mean_return.unwrap();
    assert!(last > LAST_RETURN_MIN, "mean return of the last episodes {last}");
    // The deterministic policy from a fixed start.
    let mut env = make("Pendulum-v1").unwrap();
    let mut info = Default::default();
    let mut obs = vec![0.0; 3];
    let mut total = 0.0;
    for ep in 0..3 {
        env.reset(Some(100 + ep), &mut obs, &mut info).unwrap();
        loop {
            let action = agent.act_deterministic(&obs);
            let step = env.step(&action, &mut obs, &mut info).unwrap();
            total += step.reward;
            if step.terminated || step.truncated {
                break;
            }
        }
    }
    eprintln!("deterministic mean return {:.1}", total / 3.0);
}

const TOTAL_STEPS: u64 = 6000;
const LAST_RETURN_MIN: f64 = -600.0;

fn run_with(
    cfg: &SacConfig,
    total_steps: u64,
    resume: Option<&SacCheckpoint>,
    stop_after_logs: Option<usize>,
) -> (Vec<SacStats>, Option<SacCheckpoint>, Vec<f64>) {
    let mut venv = vec_env(2);
    let mut stats = Vec::new();
    let mut ck = None;
    let agent =
        train_sac_with::<CpuAutodiff>(&mut venv, cfg, total_steps, &Default::default(), resume, |s, p| {
            stats.push(s.clone());
            if stop_after_logs == Some(stats.len()) {
                ck = Some(p.checkpoint().expect("encodes"));
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .expect("training runs");
    let probe = agent.act_deterministic(&[0.3, -0.2, 0.5]);
    (stats, ck, probe)
}

#[test]
fn resume_continues_bit_identically() {
    for engine in [SacEngine::Fused, SacEngine::Burn] {
        resume_bit_identically(&SacConfig { log_interval: 100, engine, ..small() });
    }
}

fn resume_bit_identically(cfg: &SacConfig) {
    let cfg = cfg.clone();
    let (straight, _, probe) = run_with(&cfg, 400, None, None);
    assert_eq!(straight.len(), 4);
    let (first, ck, _) = run_with(&cfg, 400, None, Some(2));
    let ck = ck.expect("checkpoint at the second log");
    assert_eq!(ck.state.global_step, 200);
    assert_eq!(ck.actions.len(), 200);
    let (rest, _, probe_resumed) = run_with(&cfg, 400, Some(&ck), None);
    let all: Vec<_> = first.iter().chain(&rest).map(fingerprint).collect();
    assert_eq!(all, straight.iter().map(fingerprint).collect::<Vec<_>>());
    assert_eq!(
        probe.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        probe_resumed.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn engines_do_not_mix_on_resume() {
    let fused = SacConfig { log_interval: 100, ..small() };
    let burn = SacConfig { engine: SacEngine::Burn, ..fused.clone() };
    let (_, ck_fused, _) = run_with(&fused, 400, None, Some(1));
    let (_, ck_burn, _) = run_with(&burn, 400, None, Some(1));
    for (cfg, ck, says) in [
        (&burn, ck_fused.unwrap(), "written by the fused engine"),
        (&fused, ck_burn.unwrap(), "burn-engine checkpoint"),
    ] {
        let mut venv = vec_env(2);
        let err =
            train_sac_with::<CpuAutodiff>(&mut venv, cfg, 400, &Default::default(), Some(&ck), |_, _| {
                ControlFlow::Continue(())
            })
            .unwrap_err();
        assert!(matches!(err, SacError::Checkpoint(_)), "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
}

#[test]
fn fused_and_burn_engines_agree_over_the_first_updates() {
    // Same seeds, same random actions before learning_starts, then 41 updates on each engine:
    // the fused engine's float rounding differs from burn's, so the runs drift apart only slowly.
    let fused = SacConfig { log_interval: 10, ..small() };
    let burn = SacConfig { engine: SacEngine::Burn, ..fused.clone() };
    let (agent_f, f) = run(&fused, 90);
    let (agent_b, b) = run(&burn, 90);
    assert_eq!(f.len(), b.len());
    let mut worst = 0.0f64;
    for (x, y) in f.iter().zip(&b) {
        assert_eq!((x.global_step, x.updates), (y.global_step, y.updates));
        for (g, w) in [
            (x.q_loss, y.q_loss),
            (x.actor_loss, y.actor_loss),
            (x.alpha, y.alpha),
            (x.alpha_loss, y.alpha_loss),
        ] {
            worst = worst.max((g - w).abs() / w.abs().max(1e-2));
        }
    }
    assert!(worst < 1e-4, "largest relative difference of the logged losses {worst:e}: {f:?} vs {b:?}");
    assert!(
        (agent_f.alpha - agent_b.alpha).abs() < 1e-5 * agent_b.alpha,
        "{} vs {}",
        agent_f.alpha,
        agent_b.alpha
    );
    for obs in [[0.3, -0.9, 1.5], [-1.0, 0.1, -4.0]] {
        for (g, w) in agent_f.act_deterministic(&obs).iter().zip(agent_b.act_deterministic(&obs)) {
            assert!((g - w).abs() < 1e-4 * (1.0 + w.abs()), "action {g} vs {w}");
        }
        let (q1f, q2f) = agent_f.q_values(&obs, &[0.5]);
        let (q1b, q2b) = agent_b.q_values(&obs, &[0.5]);
        assert!((q1f - q1b).abs() < 1e-4 * (1.0 + q1b.abs()) && (q2f - q2b).abs() < 1e-4 * (1.0 + q2b.abs()));
    }
    eprintln!("largest relative difference of the logged losses: {worst:e}");
}
