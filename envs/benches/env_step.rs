//! Environment step throughput.
//!
//! - `single/<id>`: one registered env (`alignrl_envs::make(id)`, `TimeLimit` included) stepping
//!   with pre-sampled random actions, resetting when an episode ends. An id that `make` rejects is
//!   skipped with a note.
//!   Ids: the classic-control envs and the rapier3d robotics tasks (`Reacher3D-v0`, …,
//!   `WindowClose-v0`; a reset rebuilds the rapier world and is included at its natural rate).
//! - `vec16/<id>`: a 16-env `VecEnv` of each robotics task.
//! - `vec/CartPole-v1/64`: a 64-env `VecEnv` (and a `ThreadedVecEnv` for comparison).
//! - `sync_vs_threaded`: a synthetic env whose step runs `k` dependent multiply-adds
//!   (k in {0, 1e2, 1e3, 1e4, 1e5}), alone (`work/k`) and in `VecEnv` vs `ThreadedVecEnv` with
//!   N in {8, 16, 32, 64}, to find the per-step cost above which the threaded env wins.
//!   Threads: `ALIGNRL_BENCH_WORKERS`, default the number of available CPUs; spin-wait budget:
//!   `ALIGNRL_BENCH_SPIN_US` (microseconds), default `ThreadedVecEnv::DEFAULT_SPIN_WAIT`.
//!
//! Throughput is reported in sub-env steps (elements) per second. Defaults are short (0.5 s
//! warm-up, 2 s measurement); override on the command line, e.g.
//! `cargo bench -p alignrl-envs --bench env_step -- sync_vs_threaded --measurement-time 1`.

use std::hint::black_box;
use std::time::Duration;

use alignrl_envs::vector::{ThreadedVecEnv, VecEnv, VectorEnv};
use alignrl_envs::{DType, Env, EnvError, EnvRng, Info, Space, Step, make};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;

const CLASSIC: [&str; 5] =
    ["CartPole-v1", "Pendulum-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Acrobot-v1"];

/// The rapier3d robotics tasks (control, then manipulation).
const ROBOTICS: [&str; 12] = [
    "Reacher3D-v0",
    "CartpoleSwingup-v0",
    "PointMass-v0",
    "Reach-v0",
    "Push-v0",
    "PickPlace-v0",
    "ButtonPress-v0",
    "DrawerOpen-v0",
    "DrawerClose-v0",
    "DoorOpen-v0",
    "WindowOpen-v0",
    "WindowClose-v0",
];

/// Pre-sampled packed actions (`count` rows) from `space`.
fn sample_actions(space: &Space, count: usize, seed: u64) -> Vec<f64> {
    let n = space.packed_len();
    let mut rng = EnvRng::seed_from_u64(seed);
    let mut out = vec![0.0; n * count];
    for row in out.chunks_mut(n.max(1)) {
        space.sample_packed(&mut rng, row);
    }
    out
}

fn single_env(c: &mut Criterion) {
    let mut group = c.benchmark_group("single");
    group.throughput(Throughput::Elements(1));
    for id in CLASSIC.into_iter().chain(ROBOTICS) {
        let mut env = match make(id) {
            Ok(env) => env,
            Err(e) => {
                eprintln!("note: skipping single/{id}: {e}");
                continue;
            }
        };
        let (obs_len, act_len) = (env.observation_space().packed_len(), env.action_space().packed_len());
        let actions = sample_actions(env.action_space(), 1024, 0);
        let mut obs = vec![0.0; obs_len];
        let mut info = Info::new();
        env.reset(Some(0), &mut obs, &mut info).expect("reset");
        let mut k = 0;
        group.bench_function(id, |b| {
            b.iter(|| {
                let a = &actions[k * act_len..(k + 1) * act_len];
                k = (k + 1) % 1024;
                info.clear();
                let s = env.step(a, &mut obs, &mut info).expect("step");
                if s.done() {
                    info.clear();
                    env.reset(None, &mut obs, &mut info).expect("reset");
                }
                black_box(s.reward)
            })
        });
    }
    group.finish();
}

/// Steps `venv` through a ring of pre-sampled batched actions.
fn bench_vector<V: VectorEnv>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    venv: &mut V,
) {
    let n = venv.num_envs();
    let per_env = venv.single_action_space().packed_len();
    let rows = 64;
    let actions = sample_actions(venv.single_action_space(), rows * n, 1);
    venv.reset(Some(0)).expect("reset");
    let mut k = 0;
    group.bench_function(name, |b| {
        b.iter(|| {
            let a = &actions[k * n * per_env..(k + 1) * n * per_env];
            k = (k + 1) % rows;
            black_box(venv.step(a).expect("step").rewards[0])
        })
    });
}

fn workers() -> usize {
    std::env::var("ALIGNRL_BENCH_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |p| p.get()))
}

/// A threaded vector env with the benchmark's spin-wait setting, and its label.
fn threaded<E: Env + 'static>(n: usize, make: impl FnMut(usize) -> E) -> (ThreadedVecEnv<E>, String) {
    let w = workers();
    let mut venv = ThreadedVecEnv::from_fn(n, w, make).expect("spawn");
    let mut label = format!("threaded-w{w}");
    if let Some(us) = std::env::var("ALIGNRL_BENCH_SPIN_US").ok().and_then(|s| s.parse::<u64>().ok()) {
        venv.set_spin_wait(Duration::from_micros(us));
        label.push_str(&format!("-spin{us}us"));
    }
    (venv, label)
}

/// 16-env synchronous `VecEnv`s of the robotics tasks (next-step autoreset).
fn vec16_robotics(c: &mut Criterion) {
    const N: usize = 16;
    let mut group = c.benchmark_group("vec16");
    group.throughput(Throughput::Elements(N as u64));
    for id in ROBOTICS {
        if let Err(e) = make(id) {
            eprintln!("note: skipping vec16/{id}: {e}");
            continue;
        }
        let mut venv = VecEnv::from_fn(N, |_| make(id).expect("checked above"));
        bench_vector(&mut group, id, &mut venv);
    }
    group.finish();
}

fn vec_cartpole(c: &mut Criterion) {
    let id = "CartPole-v1";
    if let Err(e) = make(id) {
        eprintln!("note: skipping vec/{id}/64: {e}");
        return;
    }
    let mut group = c.benchmark_group("vec");
    group.throughput(Throughput::Elements(64));
    let mut sync = VecEnv::from_fn(64, |_| make(id).expect("checked above"));
    bench_vector(&mut group, &format!("{id}/64/sync"), &mut sync);
    let (mut threaded, label) = threaded(64, |_| make(id).expect("checked above"));
    bench_vector(&mut group, &format!("{id}/64/{label}"), &mut threaded);
    group.finish();
}

/// A synthetic env whose step runs `k` dependent multiply-adds (about 4 cycles each), then
/// reports a 4-slot observation; episodes last 200 steps.
#[derive(Debug, Clone)]
struct Work {
    k: u64,
    t: u32,
    x: f64,
    obs: Space,
    act: Space,
}

impl Work {
    fn new(k: u64) -> Self {
        Work {
            k,
            t: 0,
            x: 1.0,
            obs: Space::uniform_box(f64::NEG_INFINITY, f64::INFINITY, &[4], DType::F64),
            act: Space::discrete(2),
        }
    }
}

impl Env for Work {
    fn observation_space(&self) -> &Space {
        &self.obs
    }
    fn action_space(&self) -> &Space {
        &self.act
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], _: &mut Info) -> Result<(), EnvError> {
        self.t = 0;
        self.x = 1.0 + seed.unwrap_or(0) as f64 * 1e-3;
        obs.fill(self.x);
        Ok(())
    }
    fn step(&mut self, action: &[f64], obs: &mut [f64], _: &mut Info) -> Result<Step, EnvError> {
        let mut x = self.x + action[0] * 1e-9;
        for _ in 0..black_box(self.k) {
            x = x * 0.999_999_9 + 1e-7;
        }
        self.x = x;
        self.t += 1;
        obs.fill(x);
        Ok(Step { reward: x, terminated: self.t >= 200, truncated: false })
    }
    fn name(&self) -> &str {
        "Work"
    }
}

const WORK: [u64; 5] = [0, 100, 1_000, 10_000, 100_000];
const NUM_ENVS: [usize; 4] = [8, 16, 32, 64];

fn sync_vs_threaded(c: &mut Criterion) {
    let mut group = c.benchmark_group("sync_vs_threaded");
    for k in WORK {
        group.throughput(Throughput::Elements(1));
        let mut env = Work::new(k);
        let (mut obs, mut info) = ([0.0; 4], Info::new());
        env.reset(Some(0), &mut obs, &mut info).expect("reset");
        group.bench_function(format!("work/k={k}"), |b| {
            b.iter(|| {
                let s = env.step(&[1.0], &mut obs, &mut info).expect("step");
                if s.done() {
                    env.reset(None, &mut obs, &mut info).expect("reset");
                }
                black_box(s.reward)
            })
        });
        for n in NUM_ENVS {
            group.throughput(Throughput::Elements(n as u64));
            let mut sync = VecEnv::from_fn(n, |_| Work::new(k));
            bench_vector(&mut group, &format!("sync/k={k}/n={n}"), &mut sync);
            let (mut threaded, label) = threaded(n, |_| Work::new(k));
            bench_vector(&mut group, &format!("{label}/k={k}/n={n}"), &mut threaded);
        }
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = single_env, vec16_robotics, vec_cartpole, sync_vs_threaded
}
criterion_main!(benches);
