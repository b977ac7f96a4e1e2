//! One SAC gradient update (critic, actor, temperature, Polyak target update) on a Pendulum-shaped
//! batch of 256 transitions (3 observation values, 1 action in [−2, 2], 256-256 ReLU actor and
//! twin critics, rl-zoo's Pendulum settings), with the two engines of `alignrl_agents::sac`:
//!
//! - `sac_update/fused`: [`FusedSac`] on one thread;
//! - `sac_update/fused_parallel`: [`FusedSac`] with `Q₁` and `Q₂` on two threads (the default);
//! - `sac_update/burn`: burn's autodiff (`CpuAutodiff`) and `Adam`, as `train_sac_with` runs it
//!   with `engine = "burn"`.
//!
//! `cargo bench -p alignrl-agents --bench sac_fused` (release profile).

use std::hint::black_box;
use std::time::Duration;

use alignrl_agents::backend::{Cpu, CpuAutodiff};
use alignrl_agents::distributions::tensor_to_f64;
use alignrl_agents::nn::{Activation, MlpConfig, POLICY_GAIN, VALUE_GAIN};
use alignrl_agents::rl::fused_sac::read_module;
use alignrl_agents::rl::{FusedSac, ReplayBatch, SacLayout, polyak_update};
use alignrl_agents::sac::{Actor, Temperature, TwinQ};
use burn::module::{AutodiffModule, Param};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::{ElementConversion, Tensor, TensorData};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

const OBS: usize = 3;
const D: usize = 1;
const ROWS: usize = 256;
const HIDDEN: [usize; 2] = [256, 256];
const LOW: [f64; 1] = [-2.0];
const HIGH: [f64; 1] = [2.0];
const LR: f64 = 1e-3;
const GAMMA: f64 = 0.99;
const TAU: f64 = 0.005;
const TARGET_ENTROPY: f64 = -1.0;

fn nets() -> (Actor<CpuAutodiff>, TwinQ<CpuAutodiff>) {
    let mut rng = Pcg64::seed_from_u64(1);
    let device = Default::default();
    let mut net = |d_in, d_out, gain| {
        MlpConfig::new(d_in, HIDDEN.to_vec(), d_out)
            .with_activation(Activation::Relu)
            .with_output_gain(gain)
            .init_with_rng(&mut rng, &device)
    };
    let actor = Actor { net: net(OBS, 2 * D, POLICY_GAIN) };
    let critics = TwinQ { q1: net(OBS + D, 1, VALUE_GAIN), q2: net(OBS + D, 1, VALUE_GAIN) };
    (actor, critics)
}

fn batch() -> ReplayBatch {
    let mut rng = Pcg64::seed_from_u64(2);
    let mut b = ReplayBatch::new(ROWS, OBS, D);
    b.len = ROWS;
    b.obs = (0..ROWS * OBS).map(|_| rng.random_range(-1.0..1.0)).collect();
    b.next_obs = (0..ROWS * OBS).map(|_| rng.random_range(-1.0..1.0)).collect();
    b.actions = (0..ROWS * D).map(|_| rng.random_range(-2.0..2.0)).collect();
    b.rewards = (0..ROWS).map(|_| rng.random_range(-16.0..0.0)).collect();
    b.terminated = vec![0.0; ROWS];
    b
}

fn bench(c: &mut Criterion) {
    let batch = batch();
    let mut group = c.benchmark_group("sac_update");
    for parallel in [false, true] {
        let (actor, critics) = nets();
        let layout = SacLayout::new(OBS, D, &HIDDEN, Activation::Relu);
        let critic_params = read_module(&critics, &layout.critic_shapes()).expect("fits");
        let mut engine = FusedSac::new(
            layout.clone(),
            read_module(&actor, &layout.actor_shapes()).expect("fits"),
            critic_params.clone(),
            critic_params,
            0.0,
            &LOW,
            &HIGH,
            1e-8,
            ROWS,
        )
        .expect("fits");
        engine.set_parallel(parallel);
        let mut rng = Pcg64::seed_from_u64(3);
        let mut alpha = 1.0;
        group.bench_function(if parallel { "fused_parallel" } else { "fused" }, |b| {
            b.iter(|| {
                let q = engine.critic_step(black_box(&batch), alpha, GAMMA, LR, &mut rng).expect("valid");
                let a = engine.actor_step(&batch, alpha, LR, &mut rng).expect("valid");
                let (l, new_alpha) = engine.temperature_step(ROWS, TARGET_ENTROPY, LR);
                alpha = new_alpha;
                engine.polyak(TAU);
                q + a + l
            })
        });
    }

    let device = Default::default();
    let (actor, critics) = nets();
    let mut state = Some((actor, critics.clone(), critics.valid()));
    let mut temperature = Some(Temperature::<CpuAutodiff> {
        log_alpha: Param::from_tensor(Tensor::from_data(TensorData::new(vec![0.0f32], [1]), &device)),
    });
    let adam = AdamConfig::new().with_epsilon(1e-8);
    let mut actor_optim = adam.init::<CpuAutodiff, Actor<CpuAutodiff>>();
    let mut q_optim = adam.init::<CpuAutodiff, TwinQ<CpuAutodiff>>();
    let mut alpha_optim = adam.init::<CpuAutodiff, Temperature<CpuAutodiff>>();
    let mut rng = Pcg64::seed_from_u64(3);
    let mut alpha = 1.0;
    let m = ROWS;
    group.bench_function("burn", |b| {
        b.iter(|| {
            // As `train_sac_with` with engine = "burn".
            let (mut actor, mut critics, targets) = state.take().expect("state");
            let mut temp = temperature.take().expect("temperature");
            let t2 = |v: &[f32], cols: usize| {
                Tensor::<CpuAutodiff, 2>::from_data(TensorData::new(v.to_vec(), [m, cols]), &device)
            };
            let inner = |v: &[f32], cols: usize| {
                Tensor::<Cpu, 2>::from_data(TensorData::new(v.to_vec(), [m, cols]), &device)
            };
            let (s, a) = (t2(black_box(&batch.obs), OBS), t2(&batch.actions, D));
            let y = {
                let s2 = inner(&batch.next_obs, OBS);
                let (a2, logp2) = actor.valid().dist(s2.clone(), &LOW, &HIGH).rsample_with_log_prob(&mut rng);
                let (q1t, q2t) = targets.forward(s2, a2);
                let soft_v = q1t.min_pair(q2t) - logp2.mul_scalar(alpha);
                let r = inner(&batch.rewards, 1).reshape([m]);
                let not_done = inner(&batch.terminated, 1).reshape([m]).neg().add_scalar(1.0);
                Tensor::<CpuAutodiff, 1>::from_inner(r + not_done * soft_v.mul_scalar(GAMMA))
            };
            let (q1, q2) = critics.forward(s.clone(), a);
            let q_loss = (q1 - y.clone()).powi_scalar(2).mean() + (q2 - y).powi_scalar(2).mean();
            let mut parts = vec![q_loss.clone().detach().inner()];
            let grads = GradientsParams::from_grads(q_loss.backward(), &critics);
            critics = q_optim.step(LR, critics, grads);

            let (pi, logp) = actor.dist(s.clone(), &LOW, &HIGH).rsample_with_log_prob(&mut rng);
            let (q1p, q2p) = critics.forward(s, pi);
            let actor_loss = (logp.clone().mul_scalar(alpha) - q1p.min_pair(q2p)).mean();
            parts.push(actor_loss.clone().detach().inner());
            let grads = GradientsParams::from_grads(actor_loss.backward(), &actor);
            actor = actor_optim.step(LR, actor, grads);
            let logp = Tensor::<CpuAutodiff, 1>::from_inner(logp.detach().inner());
            let alpha_loss = (temp.log_alpha.val().exp().neg() * logp.add_scalar(TARGET_ENTROPY)).mean();
            parts.push(alpha_loss.clone().detach().inner());
            let grads = GradientsParams::from_grads(alpha_loss.backward(), &temp);
            temp = alpha_optim.step(LR, temp, grads);
            alpha = temp.log_alpha.val().inner().exp().into_scalar().elem::<f64>();
            let targets = polyak_update(targets, &critics.valid(), TAU);
            let values = tensor_to_f64(Tensor::cat(parts, 0));
            state = Some((actor, critics, targets));
            temperature = Some(temp);
            values[0]
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(5))
}

criterion_group! { name = benches; config = config(); targets = bench }
criterion_main!(benches);
