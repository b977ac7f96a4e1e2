//! Step throughput of the rapier3d robotics tasks.
//!
//! - `single/<id>`: one registered env (`make(id)`, `TimeLimit` included) stepping with
//!   pre-sampled random actions, resetting when an episode ends (the reset, which rebuilds the
//!   rapier world, is included at its natural frequency).
//! - `vec16/<id>`: a 16-env synchronous `VecEnv` of the same env (next-step autoreset).
//!
//! Ids: the control tasks (`Reacher3D-v0`, `CartpoleSwingup-v0`, `PointMass-v0`) and the
//! manipulation tasks (`Reach-v0`, …, `WindowClose-v0`); an id `make` rejects is skipped with a
//! note. Throughput is in sub-env steps per second. Short defaults (0.5 s warm-up, 2 s
//! measurement); e.g. `cargo bench -p alignrl-envs --bench robotics -- single/Reacher3D`.

use std::hint::black_box;
use std::time::Duration;

use alignrl_envs::vector::VecEnv;
use alignrl_envs::{Env, EnvRng, Info, Space, make};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;

const IDS: [&str; 12] = [
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
    for id in IDS {
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

fn vec16(c: &mut Criterion) {
    const N: usize = 16;
    let mut group = c.benchmark_group("vec16");
    group.throughput(Throughput::Elements(N as u64));
    for id in IDS {
        if let Err(e) = make(id) {
            eprintln!("note: skipping vec16/{id}: {e}");
            continue;
        }
        let mut venv = VecEnv::from_fn(N, |_| make(id).expect("checked above"));
        let per_env = venv.single_action_space().packed_len();
        let rows = 64;
        let actions = sample_actions(venv.single_action_space(), rows * N, 1);
        venv.reset(Some(0)).expect("reset");
        let mut k = 0;
        group.bench_function(id, |b| {
            b.iter(|| {
                let a = &actions[k * N * per_env..(k + 1) * N * per_env];
                k = (k + 1) % rows;
                black_box(venv.step(a).expect("step").rewards[0])
            })
        });
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
    targets = single_env, vec16
}
criterion_main!(benches);
