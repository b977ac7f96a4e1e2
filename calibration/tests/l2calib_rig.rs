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

/// The simulated must-show (full excitation, 60 s at 100 Hz, 0.5° / 1 cm noise, random
/// extrinsic, no initial guess): RL followed by Levenberg–Marquardt refinement, against the
/// hand-eye baselines, per seed.
///
/// "Never worse than the best hand-eye baseline on the same seed" compares whole answers: each
/// answer's error is measured in units of the bar, `e = rot/0.1° + trans/0.5 cm`, the best
/// baseline of a seed is the Tsai–Lenz, Park–Martin or Daniilidis answer with the smallest `e`, and
/// ours must not have a larger `e`. Also printed, not asserted: the seeds on which the per-quantity
/// minimum over the three baselines (rotation from one method, translation possibly from another,
/// an answer no method gave) beats ours in rotation or in translation; for an efficient estimator
/// that happens on some seeds by chance (`refine_error_matches_its_std_and_hand_eye_luck`).
///
/// Measured with 20 seeds (release, 2026-11-28, errors-in-variables weights): medians 0.0299° /
/// 0.133 cm (bar met); the oracle-chosen best baseline has a smaller `e` on seeds 8 and 16 (0.471
/// vs 0.512, 0.698 vs 0.765), so this test **fails** there; the per-quantity minimum beats us on 7
/// of 20 seeds. See `refine_error_matches_its_std_and_hand_eye_luck` for why. Slow:
/// run with
/// `L2CALIB_SEEDS=20 cargo test --release -p alignrl-calibration --test l2calib_rig -- --ignored --nocapture`.
#[test]
#[ignore = "minutes; the simulated must-show of issue 6"]
fn rl_plus_refine_vs_hand_eye_on_full_excitation() {
    use alignrl_calibration::handeye::{self, HandEyeMethod, MotionPairs, PairSelection};
    use alignrl_calibration::refine::{RefineConfig, refine};
    let seeds: u64 = std::env::var("L2CALIB_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let dev = Default::default();
    let (mut rot, mut tr) = (Vec::new(), Vec::new());
    let mut worse = Vec::new();
    let mut worse_per_quantity = Vec::new();
    let combined = |(r, t): (f64, f64)| r / 0.1 + t / 0.5;
    for seed in 0..seeds {
        let start = std::time::Instant::now();
        let rig = simulate_rig(&RigConfig::default(), 100 + seed).unwrap();
        let a: Vec<_> = rig.reference.iter().step_by(10).copied().collect();
        let b: Vec<_> = rig.sensor.iter().step_by(10).copied().collect();
        let mut scorer = PoseScorer::<Flex>::new(&a, &b, PoseScorerConfig::default(), &dev).unwrap();
        let cfg = TrainerConfig {
            translation_min: [-0.6; 3],
            translation_max: [0.6; 3],
            episodes: 300,
            seed,
            ..Default::default()
        };
        let out = train::<Autodiff<Flex>, _>(&mut scorer, &cfg, None, &dev).unwrap();
        let (rl_r, rl_t) = extrinsic_errors(&out.best_mode, &rig.truth);
        let refined =
            refine(&rig.reference, &rig.sensor, &rig.stamps, &out.best_mode, &RefineConfig::default())
                .unwrap();
        let (r, t) = extrinsic_errors(&refined.x, &rig.truth);
        let pairs =
            MotionPairs::from_poses(&rig.stamps, &rig.reference, &rig.sensor, &PairSelection::default())
                .unwrap();
        let baselines: Vec<(f64, f64)> = HandEyeMethod::ALL
            .iter()
            .filter_map(|m| handeye::solve(&pairs, *m).ok())
            .map(|s| extrinsic_errors(&s.x, &rig.truth))
            .collect();
        assert!(!baselines.is_empty(), "seed {seed}: no hand-eye baseline solved");
        let best = baselines.iter().copied().min_by(|a, b| combined(*a).total_cmp(&combined(*b))).unwrap();
        let best_r = baselines.iter().map(|e| e.0).fold(f64::INFINITY, f64::min);
        let best_t = baselines.iter().map(|e| e.1).fold(f64::INFINITY, f64::min);
        eprintln!(
            "seed {seed}: rl {rl_r:.3}° {rl_t:.2} cm; rl+refine {r:.4}° {t:.3} cm (e = {:.3}); best hand-eye \
             {:.4}° {:.3} cm (e = {:.3}); per-quantity minimum {best_r:.4}° {best_t:.3} cm ({:.1} s)",
            combined((r, t)),
            best.0,
            best.1,
            combined(best),
            start.elapsed().as_secs_f64()
        );
        if combined((r, t)) > combined(best) {
            worse.push(seed);
        }
        if r > best_r || t > best_t {
            worse_per_quantity.push(seed);
        }
        rot.push(r);
        tr.push(t);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) }
    };
    let (mr, mt) = (median(&mut rot), median(&mut tr));
    eprintln!(
        "median rl+refine: {mr:.4}° {mt:.3} cm; seeds worse than the best hand-eye: {worse:?}; seeds where \
         the per-quantity minimum of the baselines beats rotation or translation: {worse_per_quantity:?}"
    );
    assert!(mr < 0.1 && mt < 0.5, "median {mr}° {mt} cm");
    assert!(worse.is_empty(), "worse than the best hand-eye on seeds {worse:?}");
}

/// Why "never worse than the best hand-eye baseline on every seed" can fail for a statistically
/// efficient refinement: over many seeds of the must-show rig, the refinement's error matches its
/// own predicted standard deviations (mean of (error/std)² ≈ 1 per component, so the deviations
/// are honest and the estimate is as good as the model allows), while the best of the closed-form
/// baselines (chosen per seed and per quantity with the truth) still beats it on a few seeds by
/// luck. The refinement starts at the truth here: on the must-show seeds RL + refinement lands on
/// the same optimum. Run with
/// `cargo test --release -p alignrl-calibration --test l2calib_rig refine_error -- --ignored --nocapture`.
#[test]
#[ignore = "about a minute in debug; statistics behind the must-show"]
fn refine_error_matches_its_std_and_hand_eye_luck() {
    use alignrl_calibration::handeye::{self, HandEyeMethod, MotionPairs, PairSelection};
    use alignrl_calibration::refine::{RefineConfig, refine};
    let seeds: u64 = std::env::var("L2CALIB_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(50);
    let (mut z2_t, mut z2_r, mut n) = (0.0, 0.0, 0.0);
    let (mut beaten_r, mut beaten_t) = (0, 0);
    let (mut rot, mut tr, mut he_r, mut he_t) = (vec![], vec![], vec![], vec![]);
    let combined = |(r, t): (f64, f64)| r / 0.1 + t / 0.5;
    let mut beaten_combined = Vec::new();
    let mut per_method: Vec<(Vec<f64>, Vec<u64>)> = vec![(vec![], vec![]); HandEyeMethod::ALL.len()];
    for seed in 0..seeds {
        let rig = simulate_rig(&RigConfig::default(), 100 + seed).unwrap();
        let r =
            refine(&rig.reference, &rig.sensor, &rig.stamps, &rig.truth, &RefineConfig::default()).unwrap();
        let dt = r.x.translation.vector - rig.truth.translation.vector;
        // Rotation error as a small rotation about the reference axes: Exp(δθ) R_true = R_est.
        let dth = (r.x.rotation * rig.truth.rotation.inverse()).scaled_axis();
        for k in 0..3 {
            z2_t += (dt[k] / r.std[k]).powi(2);
            z2_r += (dth[k] / r.std[3 + k]).powi(2);
        }
        n += 3.0;
        let (er, et) = extrinsic_errors(&r.x, &rig.truth);
        let pairs =
            MotionPairs::from_poses(&rig.stamps, &rig.reference, &rig.sensor, &PairSelection::default())
                .unwrap();
        let base: Vec<(f64, f64)> = HandEyeMethod::ALL
            .iter()
            .filter_map(|m| handeye::solve(&pairs, *m).ok())
            .map(|s| extrinsic_errors(&s.x, &rig.truth))
            .collect();
        if base.iter().any(|b| combined(*b) < combined((er, et))) {
            beaten_combined.push(seed);
            let z: Vec<String> = (0..6)
                .map(|k| format!("{:.2}", if k < 3 { dt[k] / r.std[k] } else { dth[k - 3] / r.std[k] }))
                .collect();
            eprintln!("seed {seed}: ours {er:.4}° {et:.3} cm, z = {z:?}; baselines {base:?}");
        }
        for (k, m) in HandEyeMethod::ALL.iter().enumerate() {
            if let Ok(sol) = handeye::solve(&pairs, *m) {
                let e = extrinsic_errors(&sol.x, &rig.truth);
                per_method[k].0.push(combined(e));
                if combined(e) < combined((er, et)) {
                    per_method[k].1.push(seed);
                }
            }
        }
        let br = base.iter().map(|e| e.0).fold(f64::INFINITY, f64::min);
        let bt = base.iter().map(|e| e.1).fold(f64::INFINITY, f64::min);
        beaten_r += usize::from(br < er);
        beaten_t += usize::from(bt < et);
        rot.push(er);
        tr.push(et);
        he_r.push(br);
        he_t.push(bt);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mt, mr) = (z2_t / n, z2_r / n);
    for (m, (mut e, beat)) in HandEyeMethod::ALL.iter().zip(per_method) {
        eprintln!("{m:?}: median e {:.3}; smaller e than ours on seeds {beat:?}", median(&mut e));
    }
    eprintln!("ours: median e {:.3}", {
        let mut e: Vec<f64> = rot.iter().zip(&tr).map(|(r, t)| combined((*r, *t))).collect();
        median(&mut e)
    });
    eprintln!(
        "{seeds} seeds: mean (error/std)² translation {mt:.2}, rotation {mr:.2}; median refine {:.4}° {:.3} cm, \
         median best hand-eye {:.4}° {:.3} cm; best hand-eye better on rotation in {beaten_r}, on translation \
         in {beaten_t} seeds; a whole baseline answer has a smaller e = rot/0.1° + trans/0.5 cm on seeds \
         {beaten_combined:?}",
        median(&mut rot),
        median(&mut tr),
        median(&mut he_r),
        median(&mut he_t)
    );
    // Honest deviations give 1 (the standard error of this mean over 150 components is about
    // 0.12). Measured over 50 seeds (release, 2026-11-28): translation 1.12, rotation 1.17 with the
    // errors-in-variables weights (`reference_noise_share` 0.5, both sensors equally noisy as here);
    // the classical model that takes the reference as noise-free (`reference_noise_share` 0) gave
    // translation 1.38, i.e. 17 % optimistic deviations, and fails this bound.
    assert!((0.75..1.35).contains(&mt) && (0.75..1.35).contains(&mr), "{mt} {mr}");
}
