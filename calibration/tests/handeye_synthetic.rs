//! Hand-eye baselines on simulated rigs (`alignrl_envs::sensors::sim`).
//!
//! Rig: a body trajectory `T_world_body(t)`; sensor a mounted at `T_body_a`, sensor b at
//! `T_body_b`, each reporting in its own world frame. Ground truth `X = T_a_b = T_body_a⁻¹ T_body_b`
//! and `Y = T_wa_wb = T_wa_world · T_wb_world⁻¹`.
//!
//! The noisy test (`full_excitation_noisy_20_seeds`): 60 s at 100 Hz, `full` profile, both
//! sensors with per-pose noise 0.5° per axis (rotation) and 1 cm per axis (translation), default
//! pair selection (all pairs i < j among the 6000 poses' 3000 evenly spaced ones with both rotation
//! angles in [10°, 170°], subsampled evenly to 2000 pairs to keep the test fast). Bound: the
//! best method's median error over 20 seeds ≤ 0.5° and ≤ 2 cm, and the observability check
//! trusts (nearly) every estimate. Measured (printed with `--nocapture`): median rotation /
//! translation error Tsai–Lenz 0.140° / 0.23 cm, Park–Martin 0.097° / 0.25 cm, Daniilidis
//! 0.062° / 0.24 cm; 0 of 60 estimates untrusted.

use alignrl_calibration::handeye::{
    self, HandEyeError, HandEyeMethod, MotionPairs, PairSelection, PairStrategy, solve_ax_yb,
};
use alignrl_calibration::observability::{Quantity, Stage};
use alignrl_calibration::se3::rotation_angle;
use alignrl_envs::EnvRng;
use alignrl_envs::sensors::{
    BodyMotionConfig, BodyTrajectory, ExcitationProfile, RigidSensorConfig, Trajectory, simulate_sensor,
};
use nalgebra::{Isometry3, Vector3};
use rand::SeedableRng;

fn iso(t: [f64; 3], r: [f64; 3]) -> Isometry3<f64> {
    Isometry3::new(Vector3::from(t), Vector3::from(r))
}

/// A camera-like sensor b: rotated ~100° with a 10-20 cm lever arm.
fn t_body_b() -> Isometry3<f64> {
    iso([0.12, -0.05, 0.2], [1.2, -0.9, 0.7])
}

struct Rig {
    a: Trajectory,
    b: Trajectory,
    x: Isometry3<f64>,
    y: Isometry3<f64>,
}

fn rig(
    seed: u64,
    profile: ExcitationProfile,
    duration: f64,
    rate: f64,
    t_body_a: Isometry3<f64>,
    rot_noise: f64,
    trans_noise: f64,
) -> Rig {
    let mut rng = EnvRng::seed_from_u64(seed);
    let body = BodyTrajectory::generate(
        &BodyMotionConfig { profile, duration, rate, ..BodyMotionConfig::default() },
        &mut rng,
    )
    .unwrap();
    let wa_world = iso([1.0, 2.0, -0.5], [0.1, 0.2, 0.3]);
    let wb_world = iso([-3.0, 0.5, 1.5], [-0.4, 0.1, 2.0]);
    let sensor = |t_body_sensor, t_sensorworld_world, rng: &mut EnvRng| {
        simulate_sensor(
            &body,
            &RigidSensorConfig {
                t_body_sensor,
                t_sensorworld_world,
                rate,
                rotation_noise: rot_noise,
                translation_noise: trans_noise,
                ..RigidSensorConfig::default()
            },
            rng,
        )
        .unwrap()
        .measured
    };
    let a = sensor(t_body_a, wa_world, &mut rng);
    let b = sensor(t_body_b(), wb_world, &mut rng);
    Rig { a, b, x: t_body_a.inverse() * t_body_b(), y: wa_world * wb_world.inverse() }
}

fn errors(est: &Isometry3<f64>, truth: &Isometry3<f64>) -> (f64, f64) {
    let e = est.inverse() * truth;
    (rotation_angle(&e.rotation), (est.translation.vector - truth.translation.vector).norm())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) }
}

fn t_body_a_default() -> Isometry3<f64> {
    iso([0.3, 0.1, -0.05], [0.0, 0.0, 0.4])
}

#[test]
fn noise_free_ax_xb_all_methods_recover_x() {
    let r = rig(1, ExcitationProfile::Full, 20.0, 50.0, t_body_a_default(), 0.0, 0.0);
    let pairs = MotionPairs::from_trajectories(&r.a, &r.b, &PairSelection::default()).unwrap();
    assert!(pairs.len() >= 100, "{} pairs", pairs.len());
    for method in HandEyeMethod::ALL {
        let s = handeye::solve(&pairs, method).unwrap();
        let (er, et) = errors(&s.x, &r.x);
        println!("noise-free {method}: {er:.2e} rad, {et:.2e} m");
        assert!(er < 1e-9 && et < 1e-9, "{method}: rotation error {er:e} rad, translation error {et:e} m");
        assert!(s.residuals.rotation_max_rad < 1e-9 && s.residuals.translation_max_m < 1e-9);
        assert!(s.is_trusted(), "{method}: {}", s.observability);
    }
}

#[test]
fn noise_free_ax_yb_recovers_x_and_y() {
    let r = rig(2, ExcitationProfile::Full, 20.0, 20.0, t_body_a_default(), 0.0, 0.0);
    let s = solve_ax_yb(r.a.poses(), r.b.poses()).unwrap();
    let (xr, xt) = errors(&s.x, &r.x);
    let (yr, yt) = errors(&s.y, &r.y);
    println!("noise-free AX=YB: X {xr:.2e} rad {xt:.2e} m, Y {yr:.2e} rad {yt:.2e} m");
    assert!(xr < 1e-9 && xt < 1e-9, "X error {xr:e} rad {xt:e} m");
    assert!(yr < 1e-9 && yt < 1e-9, "Y error {yr:e} rad {yt:e} m");
    assert!(s.is_trusted(), "{:?}", s.warnings);
    assert!((s.rotation_singular_values[0] - r.a.len() as f64).abs() < 1e-6 * r.a.len() as f64);
}

#[test]
fn noisy_ax_yb_is_close() {
    let r = rig(3, ExcitationProfile::Full, 60.0, 100.0, t_body_a_default(), 0.5f64.to_radians(), 0.01);
    let s = solve_ax_yb(r.a.poses(), r.b.poses()).unwrap();
    let (xr, xt) = errors(&s.x, &r.x);
    let (yr, yt) = errors(&s.y, &r.y);
    println!("AX=YB noisy: X {:.3}° {:.4} m, Y {:.3}° {:.4} m", xr.to_degrees(), xt, yr.to_degrees(), yt);
    assert!(xr.to_degrees() < 0.5 && xt < 0.02 && yr.to_degrees() < 0.5 && yt < 0.02);
}

#[test]
fn pair_selection_window_cap_and_strategies() {
    let r = rig(4, ExcitationProfile::Full, 20.0, 50.0, t_body_a_default(), 0.0, 0.0);
    let sel = PairSelection {
        strategy: PairStrategy::AllPairs { max_poses: 100, max_gap_s: Some(5.0) },
        min_angle_rad: 20f64.to_radians(),
        max_angle_rad: 120f64.to_radians(),
        max_pairs: Some(300),
    };
    let p = MotionPairs::from_trajectories(&r.a, &r.b, &sel).unwrap();
    assert!(p.candidates > 0 && p.candidates < 100 * 99 / 2, "{}", p.candidates);
    assert!(p.in_angle_window > 300, "{}", p.in_angle_window);
    assert_eq!(p.len(), 300);
    for q in &p.pairs {
        let (aa, ab) = (rotation_angle(&q.a.rotation), rotation_angle(&q.b.rotation));
        assert!(aa.min(ab) >= sel.min_angle_rad && aa.max(ab) <= sel.max_angle_rad);
        assert!(r.a.stamps()[q.j] - r.a.stamps()[q.i] <= 5.0 + 1e-9);
        assert!(q.i < q.j);
    }
    let c = PairSelection {
        strategy: PairStrategy::Consecutive { stride: 25 },
        max_pairs: None,
        ..PairSelection::default()
    };
    let p = MotionPairs::from_trajectories(&r.a, &r.b, &c).unwrap();
    assert_eq!(p.candidates, r.a.len() - 25);
    assert!(p.pairs.iter().all(|q| q.j == q.i + 25));
    assert_eq!(p.len(), p.in_angle_window);
    assert!(!p.is_empty());
    // Unassociated input is refused.
    let short = Trajectory::new(r.b.stamps()[1..].to_vec(), r.b.poses()[1..].to_vec()).unwrap();
    assert!(matches!(
        MotionPairs::from_trajectories(&r.a, &short, &c),
        Err(HandEyeError::LengthMismatch { .. })
    ));
}

#[test]
fn full_excitation_noisy_20_seeds() {
    let mut errs: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); 3];
    let mut untrusted = 0;
    let mut kept = Vec::new();
    for seed in 0..20 {
        let r = rig(
            100 + seed,
            ExcitationProfile::Full,
            60.0,
            100.0,
            t_body_a_default(),
            0.5f64.to_radians(),
            0.01,
        );
        let pairs = MotionPairs::from_trajectories(&r.a, &r.b, &PairSelection::default()).unwrap();
        kept.push(pairs.len());
        for (m, method) in HandEyeMethod::ALL.into_iter().enumerate() {
            let s = handeye::solve(&pairs, method).unwrap();
            let (er, et) = errors(&s.x, &r.x);
            errs[m].0.push(er.to_degrees());
            errs[m].1.push(et);
            if !s.is_trusted() {
                untrusted += 1;
                println!("seed {seed} {method}: {}", s.observability);
            }
        }
    }
    println!("pairs kept per seed: {kept:?}");
    let mut best = (f64::INFINITY, f64::INFINITY);
    for (m, method) in HandEyeMethod::ALL.into_iter().enumerate() {
        let (mr, mt) = (median(errs[m].0.clone()), median(errs[m].1.clone()));
        println!("{method}: median rotation error {mr:.4}°, median translation error {:.2} cm", mt * 100.0);
        if mr + 25.0 * mt < best.0 + 25.0 * best.1 {
            best = (mr, mt);
        }
    }
    assert!(best.0 <= 0.5 && best.1 <= 0.02, "best method median errors {best:?}");
    println!("untrusted verdicts: {untrusted} of 60");
    // Good excitation must not raise false alarms.
    assert!(untrusted <= 3, "{untrusted} of 60 estimates flagged on fully excited motion");
}

/// Planar motion: sensor a upright on the body (its z is the plane normal).
#[test]
fn planar_motion_flags_z_translation_and_yaw() {
    for (noise_r, noise_t) in [(0.0, 0.0), (0.5f64.to_radians(), 0.01)] {
        let r = rig(7, ExcitationProfile::Planar, 60.0, 100.0, t_body_a_default(), noise_r, noise_t);
        let pairs = MotionPairs::from_trajectories(&r.a, &r.b, &PairSelection::default()).unwrap();
        assert!(pairs.len() > 100);
        for method in HandEyeMethod::ALL {
            let s = handeye::solve(&pairs, method).unwrap();
            let rep = &s.observability;
            println!("noise {noise_r:.4} {method}:\n{rep}");
            assert!(!s.is_trusted(), "{method}: planar motion must not be trusted");
            let z = Vector3::z();
            // The translation along z is flagged, in the translation stage and jointly.
            for stage in [Stage::TranslationGivenRotation, Stage::Joint] {
                let f = rep
                    .findings
                    .iter()
                    .find(|f| f.stage == stage && f.quantity == Quantity::Translation)
                    .unwrap_or_else(|| panic!("{method}: no translation finding in {stage:?}"));
                assert!(f.axis.unwrap().dot(&z).abs() > 0.99, "{:?}", f.axis);
                assert!(f.unobservable);
                assert!(f.message.contains("translation along z"), "{}", f.message);
            }
            // The rotation about z cannot be had from the rotations alone.
            let f = rep
                .findings
                .iter()
                .find(|f| f.stage == Stage::RotationOnly)
                .unwrap_or_else(|| panic!("{method}: no rotation-only finding"));
            assert_eq!(f.quantity, Quantity::Rotation);
            assert!(f.axis.unwrap().dot(&z).abs() > 0.99 && f.unobservable);
            assert!(f.message.contains("rotation about z") && f.message.contains("planar"), "{}", f.message);
            // Through the translations a joint estimate resolves the yaw ...
            assert!(rep.findings_about(Quantity::Rotation).all(|f| f.stage == Stage::RotationOnly));
            // ... but the two-stage methods filled it in arbitrarily, which the translation
            // residuals expose.
            if method.is_two_stage() {
                assert!(
                    rep.findings.iter().any(|f| f.stage == Stage::Fit && f.quantity == Quantity::Translation),
                    "{method}: the wrong yaw must show in the fit"
                );
            }
            if method == HandEyeMethod::Daniilidis && noise_r == 0.0 {
                // Every direction but the z translation is right.
                let e = s.x.inverse() * r.x;
                assert!(rotation_angle(&e.rotation) < 1e-6, "{}", rotation_angle(&e.rotation));
                let dt = s.x.translation.vector - r.x.translation.vector;
                assert!(dt.xy().norm() < 1e-6, "{dt}");
            }
        }
    }
}

/// With sensor a tilted on the body, the unobservable translation is the plane normal in a's frame.
#[test]
fn planar_motion_names_the_plane_normal_in_sensor_a() {
    let t_body_a = iso([0.0, 0.2, 0.1], [0.5, -0.3, 0.2]);
    let r = rig(8, ExcitationProfile::Planar, 30.0, 50.0, t_body_a, 0.0, 0.0);
    let pairs = MotionPairs::from_trajectories(&r.a, &r.b, &PairSelection::default()).unwrap();
    let s = handeye::solve(&pairs, HandEyeMethod::ParkMartin).unwrap();
    let normal_in_a = t_body_a.rotation.inverse() * Vector3::z();
    let f = s.observability.findings_about(Quantity::Translation).next().expect("translation finding");
    assert!(f.axis.unwrap().dot(&normal_in_a).abs() > 0.99, "{:?} vs {normal_in_a:?}", f.axis);
    assert!(!s.is_trusted());
}

#[test]
fn straight_line_motion_leaves_no_pairs() {
    let r = rig(9, ExcitationProfile::StraightLine, 20.0, 50.0, t_body_a_default(), 0.0, 0.0);
    let pairs = MotionPairs::from_trajectories(&r.a, &r.b, &PairSelection::default()).unwrap();
    assert!(pairs.is_empty() && pairs.candidates > 0);
    for method in HandEyeMethod::ALL {
        assert!(matches!(handeye::solve(&pairs, method), Err(HandEyeError::TooFewPairs { kept: 0, .. })));
    }
}

#[test]
fn yaw_only_motion_is_flagged() {
    let r = rig(10, ExcitationProfile::YawOnly, 30.0, 50.0, t_body_a_default(), 0.0, 0.0);
    let pairs = MotionPairs::from_trajectories(&r.a, &r.b, &PairSelection::default()).unwrap();
    for method in HandEyeMethod::ALL {
        let s = handeye::solve(&pairs, method).unwrap();
        assert!(!s.is_trusted(), "{method}");
        assert!(
            s.observability
                .findings_about(Quantity::Translation)
                .any(|f| f.axis.is_some_and(|a| a.z.abs() > 0.99))
        );
    }
}

#[test]
fn rotation_of_x_near_identity_and_large_angles() {
    // Tsai-Lenz's Rodrigues parameterisation is fine up to well below 180°.
    for rot in [[0.0, 0.0, 0.0], [0.0, 2.8, 0.0]] {
        let mut rng = EnvRng::seed_from_u64(11);
        let body = BodyTrajectory::generate(
            &BodyMotionConfig { duration: 20.0, rate: 20.0, ..BodyMotionConfig::default() },
            &mut rng,
        )
        .unwrap();
        let x = iso([0.1, 0.0, 0.0], rot);
        let a = body.sample();
        let b = a.map_poses(|p| p * x);
        let pairs = MotionPairs::from_trajectories(&a, &b, &PairSelection::default()).unwrap();
        for method in HandEyeMethod::ALL {
            let s = handeye::solve(&pairs, method).unwrap();
            let (er, et) = errors(&s.x, &x);
            assert!(er < 1e-9 && et < 1e-9, "{method} {rot:?}: {er:e} {et:e}");
        }
    }
}
