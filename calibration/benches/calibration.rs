//! Calibration hot paths: the exact Bingham normaliser and sampler, Umeyama alignment and the
//! L2Calib reward error (ATE-RMSE after association and SE(3) alignment).
//!
//! `cargo bench -p alignrl-calibration --bench calibration`

use std::hint::black_box;

use alignrl_calibration::align::umeyama;
use alignrl_calibration::bingham::{Bingham, log_normalizer};
use alignrl_calibration::metrics::ate_rmse;
use alignrl_envs::EnvRng;
use alignrl_envs::sensors::{BodyMotionConfig, BodyTrajectory};
use criterion::{Criterion, criterion_group, criterion_main};
use nalgebra::{Isometry3, Point3, Vector3, Vector4};
use rand::SeedableRng;

fn bingham(c: &mut Criterion) {
    let mut g = c.benchmark_group("bingham");
    for z in [[-1.0, -1.0, -1.0], [-20.0, -20.0, -20.0], [-1000.0, -200.0, -5.0]] {
        g.bench_function(format!("log_normalizer/{z:?}"), |b| b.iter(|| log_normalizer(black_box(z))));
    }
    let dist =
        Bingham::from_mode(&Vector4::new(0.9, 0.1, -0.3, 0.2).normalize(), [-20.0, -20.0, -20.0]).unwrap();
    let mut rng = EnvRng::seed_from_u64(0);
    g.bench_function("sample/z=-20", |b| b.iter(|| dist.sample(&mut rng)));
    g.finish();
}

fn alignment(c: &mut Criterion) {
    let mut rng = EnvRng::seed_from_u64(1);
    let body = BodyTrajectory::generate(
        &BodyMotionConfig { duration: 60.0, ..BodyMotionConfig::default() },
        &mut rng,
    )
    .unwrap()
    .sample();
    let t = Isometry3::new(Vector3::new(1.0, -2.0, 0.5), Vector3::new(0.3, -0.2, 1.0));
    let moved = body.map_poses(|p| t * p);
    let src: Vec<Point3<f64>> = body.positions().collect();
    let dst: Vec<Point3<f64>> = moved.positions().collect();
    let mut g = c.benchmark_group("alignment");
    g.bench_function(format!("umeyama/{}", src.len()), |b| b.iter(|| umeyama(&src, &dst, false).unwrap()));
    g.bench_function(format!("ate_rmse/{}", src.len()), |b| b.iter(|| ate_rmse(&body, &moved).unwrap()));
    g.finish();
}

criterion_group!(benches, bingham, alignment);
criterion_main!(benches);
