//! L2Calib on a simulated pose-sensor rig: the random search plus a short bandit-PPO run on the
//! batched pose–pose scorer lands near the true extrinsic.

use alignrl_calibration::l2calib::rig::{RigConfig, extrinsic_errors, simulate_rig};
use alignrl_calibration::l2calib::{PoseScorer, PoseScorerConfig, TrainerConfig, train};
use burn::backend::{Autodiff, Flex};

#[test]
fn rl_finds_the_extrinsic_of_a_full_excitation_rig() {
    let rig = simulate_rig(&RigConfig { duration: 20.0, ..Default::default() }, 3).unwrap();
    let a: Vec<_> = rig.reference.iter().step_by(20).copied().collect();
    let b: Vec<_> = rig.sensor.iter().step_by(20).copied().collect();
    let dev = Default::default();
    let mut scorer = PoseScorer::<Flex>::new(&a, &b, PoseScorerConfig::default(), &dev).unwrap();
    let cfg = TrainerConfig {
        translation_min: [-0.6; 3],
        translation_max: [0.6; 3],
        episodes: 100,
        init_candidates: 2048,
        seed: 1,
        ..Default::default()
    };
    let out = train::<Autodiff<Flex>, _>(&mut scorer, &cfg, None, &dev).unwrap();
    let (init_rot, init_tr) = extrinsic_errors(&out.init_best, &rig.truth);
    let (rot, tr) = extrinsic_errors(&out.best_mode, &rig.truth);
    eprintln!("search winner {init_rot:.2}° {init_tr:.2} cm → RL {rot:.2}° {tr:.2} cm");
    // 50 PPO episodes after the 50-episode critic warm-up: the rotation is close, the translation
    // (lr 1e-3 on μ_t) is still moving.
    assert!(rot < 3.0 && tr < 0.7 * init_tr, "RL answer {rot:.2}° {tr:.2} cm");
    assert!(rot < 0.5 * init_rot, "PPO must improve on the search winner");
}
