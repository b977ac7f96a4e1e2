//! One PPO minibatch gradient step (loss, backward, global grad-norm clipping, Adam) on a
//! CartPole-shaped minibatch of 256 rows (4 observation values, 2 actions, 64-64 tanh actor and
//! critic, rl-zoo's CartPole settings), with the two engines of `alignrl_agents::ppo`:
//!
//! - `ppo_step/fused`: [`FusedPpo`] on one thread;
//! - `ppo_step/fused_parallel`: [`FusedPpo`] with the critic's passes on a second thread;
//! - `ppo_step/burn`: burn's autodiff (`CpuAutodiff`, the `Flex` backend) and `Adam`, as
//!   `train_ppo_with` runs it with `engine = "burn"`;
//! - `act/fused` and `act/burn`: one rollout step's policy inference (8 rows: sample actions,
//!   log-probs and values).
//!
//! `cargo bench -p alignrl-agents --bench ppo_fused` (release profile).

use std::hint::black_box;
use std::time::Duration;

use alignrl_agents::backend::CpuAutodiff;
use alignrl_agents::distributions::{Categorical, tensor_from_f64, tensor_to_f64};
use alignrl_agents::nn::{MlpConfig, POLICY_GAIN, VALUE_GAIN};
use alignrl_agents::ppo::ActorCritic;
use alignrl_agents::rl::{FusedPpo, Minibatch, PpoBatch, PpoLossConfig, clip_grad_norm, ppo_loss};
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::{Int, Tensor, TensorData};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

const OBS: usize = 4;
const ROWS: usize = 256;

fn model() -> ActorCritic<CpuAutodiff> {
    let mut rng = Pcg64::seed_from_u64(1);
    let net = |d_out, gain| MlpConfig::new(OBS, vec![64, 64], d_out).with_output_gain(gain);
    let device = Default::default();
    ActorCritic {
        critic: net(1, VALUE_GAIN).init_with_rng(&mut rng, &device),
        actor: net(2, POLICY_GAIN).init_with_rng(&mut rng, &device),
        log_std: None,
    }
}

fn minibatch() -> Minibatch {
    let mut rng = Pcg64::seed_from_u64(2);
    let mut b = Minibatch::new(ROWS, OBS, 1);
    b.len = ROWS;
    b.obs = (0..ROWS * OBS).map(|_| rng.random_range(-1.0..1.0)).collect();
    b.actions = (0..ROWS).map(|_| f32::from(rng.random::<bool>())).collect();
    b.log_probs = (0..ROWS).map(|_| 0.5f32.ln() + rng.random_range(-0.1..0.1)).collect();
    b.values = (0..ROWS).map(|_| rng.random_range(-1.0..1.0)).collect();
    b.advantages = (0..ROWS).map(|_| rng.random_range(-1.0..1.0)).collect();
    b.returns = (0..ROWS).map(|_| rng.random_range(-1.0..1.0)).collect();
    b
}

fn bench(c: &mut Criterion) {
    let cfg = PpoLossConfig { value_clip: None, ent_coef: 0.0, ..PpoLossConfig::default() };
    let batch = minibatch();
    let mut group = c.benchmark_group("ppo_step");
    for parallel in [false, true] {
        let mut engine = FusedPpo::from_model(&model(), ROWS).expect("fits");
        engine.set_parallel(parallel);
        group.bench_function(if parallel { "fused_parallel" } else { "fused" }, |b| {
            b.iter(|| {
                let loss = engine.loss_and_grad(black_box(&batch), &cfg).expect("valid batch");
                engine.clip_grad_norm(0.5);
                engine.adam_step(1e-5);
                loss.total
            })
        });
    }

    let device = Default::default();
    let mut net = Some(model());
    let mut optim = AdamConfig::new().with_epsilon(1e-5).init::<CpuAutodiff, ActorCritic<CpuAutodiff>>();
    let vec1 = |v: &[f32]| Tensor::<CpuAutodiff, 1>::from_data(TensorData::new(v.to_vec(), [ROWS]), &device);
    group.bench_function("burn", |b| {
        b.iter(|| {
            let m = net.take().expect("model");
            let x =
                Tensor::<CpuAutodiff, 2>::from_data(TensorData::new(batch.obs.clone(), [ROWS, OBS]), &device);
            let a = Tensor::<CpuAutodiff, 1, Int>::from_data(
                TensorData::new(batch.actions.iter().map(|&a| a as i64).collect::<Vec<_>>(), [ROWS]),
                &device,
            );
            let dist = Categorical::new(m.actor.forward(x.clone()));
            let loss = ppo_loss(
                PpoBatch {
                    new_log_probs: dist.log_prob(a),
                    old_log_probs: vec1(&batch.log_probs),
                    advantages: vec1(&batch.advantages),
                    new_values: m.critic.forward(x).reshape([ROWS]),
                    old_values: vec1(&batch.values),
                    returns: vec1(&batch.returns),
                    entropy: dist.entropy(),
                },
                &cfg,
            );
            // The trainer reads the diagnostics back once per step.
            let parts = tensor_to_f64(Tensor::cat(
                vec![loss.policy_loss.clone().detach(), loss.value_loss.clone().detach(), loss.approx_kl],
                0,
            ));
            let mut grads = GradientsParams::from_grads(loss.total.backward(), &m);
            clip_grad_norm(&m, &mut grads, 0.5);
            net = Some(optim.step(1e-5, m, grads));
            parts[0]
        })
    });
    group.finish();

    // One rollout step of 8 envs.
    let mut group = c.benchmark_group("act");
    let obs: Vec<f64> = (0..8 * OBS).map(|i| (i as f64 * 0.37).sin() * 0.1).collect();
    let mut engine = FusedPpo::from_model(&model(), ROWS).expect("fits");
    let mut rng = Pcg64::seed_from_u64(3);
    let (mut a, mut lp, mut v) = (vec![0.0; 8], vec![0.0; 8], vec![0.0; 8]);
    group.bench_function("fused", |b| {
        b.iter(|| {
            engine.act(black_box(&obs), &mut rng, &mut a, &mut lp, &mut v).expect("fits");
            a[0]
        })
    });
    let inference = model().valid();
    group.bench_function("burn", |b| {
        b.iter(|| {
            let x = tensor_from_f64::<_, 2>(black_box(&obs), [8, OBS], &Default::default());
            let dist = Categorical::new(inference.actor.forward(x.clone()));
            let action = dist.sample(&mut rng);
            let lp = tensor_to_f64(dist.log_prob(action.clone()));
            let v = tensor_to_f64(inference.critic.forward(x).reshape([8]));
            let a = tensor_to_f64(action.float());
            a[0] + lp[0] + v[0]
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = config(); targets = bench }
criterion_main!(benches);
