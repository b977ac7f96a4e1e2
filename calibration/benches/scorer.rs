//! Throughput of the batched L2Calib scorers on the CPU backend (burn `Flex`): candidates × poses
//! (or IMU samples) evaluated per second.
//!
//! `cargo bench -p alignrl-calibration --bench scorer`

use std::hint::black_box;

use alignrl_calibration::l2calib::rig::{RigConfig, random_rotation, simulate_rig};
use alignrl_calibration::l2calib::{
    OdomImuScorer, OdomImuScorerConfig, PoseScorer, PoseScorerConfig, Scorer,
};
use alignrl_envs::EnvRng;
use alignrl_envs::sensors::{BodyMotionConfig, BodyTrajectory, ImuConfig, simulate_imu};
use burn::backend::Flex;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nalgebra::{Isometry3, Translation3, Vector3};
use rand::{Rng, SeedableRng};

fn candidates(k: usize) -> Vec<Isometry3<f64>> {
    let mut rng = EnvRng::seed_from_u64(5);
    (0..k)
        .map(|_| {
            Isometry3::from_parts(
                Translation3::from(Vector3::from_fn(|_, _| rng.random::<f64>() - 0.5)),
                random_rotation(&mut rng),
            )
        })
        .collect()
}

fn pose_scorer(c: &mut Criterion) {
    let mut g = c.benchmark_group("pose_scorer");
    g.sample_size(10);
    let rig = simulate_rig(&RigConfig::default(), 0).unwrap();
    for (n, k) in [(600usize, 32usize), (600, 1024), (6000, 256)] {
        let stride = rig.reference.len() / n;
        let a: Vec<_> = rig.reference.iter().step_by(stride).take(n).copied().collect();
        let b: Vec<_> = rig.sensor.iter().step_by(stride).take(n).copied().collect();
        let mut scorer =
            PoseScorer::<Flex>::new(&a, &b, PoseScorerConfig::default(), &Default::default()).unwrap();
        let cands = candidates(k);
        let mut out = vec![0.0; k];
        g.throughput(Throughput::Elements((n * k) as u64));
        g.bench_function(format!("K={k}/N={n}"), |bch| {
            bch.iter(|| {
                scorer.errors(black_box(&cands), &mut out);
                black_box(out[0])
            })
        });
    }
    g.finish();
}

fn imu_scorer(c: &mut Criterion) {
    let mut g = c.benchmark_group("odom_imu_scorer");
    g.sample_size(10);
    let mut rng = EnvRng::seed_from_u64(2);
    let body = BodyTrajectory::generate(&BodyMotionConfig { duration: 30.0, ..Default::default() }, &mut rng)
        .unwrap();
    let imu = simulate_imu(&body, &ImuConfig::euroc_like(), &mut rng).unwrap();
    let mut scorer = OdomImuScorer::<Flex>::new(
        &body.sample(),
        &imu.samples,
        OdomImuScorerConfig::default(),
        &Default::default(),
    )
    .unwrap();
    let k = 256;
    let cands = candidates(k);
    let mut out = vec![0.0; k];
    g.throughput(Throughput::Elements((scorer.len() * k) as u64));
    g.bench_function(format!("K={k}/N={}", scorer.len()), |bch| {
        bch.iter(|| {
            scorer.errors(black_box(&cands), &mut out);
            black_box(out[0])
        })
    });
    g.finish();
}

criterion_group!(benches, pose_scorer, imu_scorer);
criterion_main!(benches);
