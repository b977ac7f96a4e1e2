//! `alignrl reproduce calib-sweep`: a simulated pose-sensor rig over excitation profiles, noise
//! levels and initial guesses, for several seeds, calibrated by L2Calib (`rl`), L2Calib followed by
//! Levenberg–Marquardt (`rl+refine`, [`alignrl_calibration::refine`]) and the hand-eye baselines
//! (`tsai-lenz`, `park-martin`, `daniilidis`).
//!
//! # The rig (per seed)
//!
//! A random body trajectory (`--duration` s at 100 Hz, [`BodyTrajectory::generate`]) carries the
//! reference sensor at the body origin and the calibrated sensor at a random `X* = T_ref_sensor`
//! (`|t| ≤ 0.5 m`, rotation uniform on SO(3)), whose poses are expressed in a random world frame.
//! Both are measured with the same per-pose noise (rotation σ per axis, translation σ per axis).
//!
//! # Methods
//!
//! - `rl`: the L2Calib trainer on the pose–pose scorer (every `--rl-stride`-th pose), translation box
//!   ±0.6 m. `init_err_deg = none`: no initial guess, the 8192-candidate random search starts the
//!   policy. `init_err_deg = d`: no search; the policy starts at the guess `(t = 0, R* · Exp(d·u))`
//!   for a random axis `u`. The answer is the mode of the episode with the lowest mean error
//!   (L2Calib's rule).
//! - `rl+refine`: `rl`'s answer refined on all poses by [`refine::refine`].
//! - hand-eye baselines on all-pairs motion pairs ([`MotionPairs`] defaults); they take no guess, so
//!   their rows carry `init_err_deg = none`.
//!
//! Rows: `rot_err_deg_median`, `rot_err_deg_p95`, `trans_err_cm_median`, `trans_err_cm_p95` over
//! the seeds, with settings `motion`, `noise` (`"<deg>deg_<cm>cm"`) and `init_err_deg`. A failed
//! method on a seed (e.g. a degenerate hand-eye system) counts as 180° and 100 cm.

use std::time::Instant;

use alignrl_agents::backend::CpuAutodiff;
use alignrl_calibration::handeye::{self, HandEyeMethod, MotionPairs, PairSelection};
use alignrl_calibration::l2calib::rig::{RigConfig, extrinsic_errors, rotated_guess, simulate_rig};
use alignrl_calibration::l2calib::{PoseScorer, PoseScorerConfig, TrainerConfig, train};
use alignrl_calibration::refine::{self, RefineConfig};
use alignrl_envs::sensors::ExcitationProfile;
use alignrl_viz::plot::{LineChart, Series};

use super::{Common, Report, Row, emit};
use crate::usage;

/// Options of `alignrl reproduce calib-sweep`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Excitation profiles (full, planar, yaw-only, straight-line).
    #[arg(long, value_delimiter = ',', default_value = "full,planar")]
    pub motions: Vec<String>,
    /// Noise levels as `DEG:CM` (rotation σ per axis in degrees, translation σ per axis in cm).
    #[arg(long, value_delimiter = ',', default_value = "0.1:0.2,0.5:1")]
    pub noise: Vec<String>,
    /// Initial rotation errors of the RL guess in degrees; `none` = no guess (random search).
    #[arg(long, value_delimiter = ',', default_value = "none,180")]
    pub init_err_deg: Vec<String>,
    /// Seeds per setting.
    #[arg(long, default_value_t = 2)]
    pub seeds: u64,
    /// Length of the recording (s).
    #[arg(long, default_value_t = 60.0)]
    pub duration: f64,
    /// PPO episodes of the RL runs.
    #[arg(long, default_value_t = 150)]
    pub episodes: usize,
    /// The RL scorer uses every n-th pose.
    #[arg(long, default_value_t = 10)]
    pub rl_stride: usize,
}

/// One method's error on one seed.
#[derive(Debug, Clone, Copy)]
struct Err2 {
    rot_deg: f64,
    trans_cm: f64,
}

fn errors(
    est: &alignrl_calibration::l2calib::Extrinsic,
    truth: &alignrl_calibration::l2calib::Extrinsic,
) -> Err2 {
    let (rot_deg, trans_cm) = extrinsic_errors(est, truth);
    Err2 { rot_deg, trans_cm }
}

const FAILED: Err2 = Err2 { rot_deg: 180.0, trans_cm: 100.0 };

fn quantile(v: &[f64], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return f64::NAN;
    }
    let pos = q * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

/// Runs the suite.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let motions: Vec<ExcitationProfile> = args
        .motions
        .iter()
        .map(|m| m.parse().map_err(|_| usage(format!("--motions: unknown profile `{m}`"))))
        .collect::<anyhow::Result<_>>()?;
    let noises: Vec<(String, f64, f64)> = args
        .noise
        .iter()
        .map(|s| {
            let parse = || -> Option<(f64, f64)> {
                let (d, c) = s.split_once(':')?;
                let (d, c): (f64, f64) = (d.trim().parse().ok()?, c.trim().parse().ok()?);
                (d.is_finite() && c.is_finite() && d >= 0.0 && c >= 0.0).then_some((d, c))
            };
            let (d, c) = parse().ok_or_else(|| usage(format!("--noise: `{s}` is not DEG:CM")))?;
            Ok((format!("{d}deg_{c}cm"), d.to_radians(), c / 100.0))
        })
        .collect::<anyhow::Result<_>>()?;
    let inits: Vec<Option<f64>> = args
        .init_err_deg
        .iter()
        .map(|s| {
            if s == "none" {
                return Ok(None);
            }
            match s.parse::<f64>() {
                Ok(d) if (0.0..=180.0).contains(&d) => Ok(Some(d)),
                _ => Err(usage(format!("--init-err-deg: `{s}` is neither `none` nor a number in [0, 180]"))),
            }
        })
        .collect::<anyhow::Result<_>>()?;
    if args.seeds == 0 || args.episodes == 0 || args.rl_stride == 0 {
        return Err(usage("--seeds, --episodes and --rl-stride must be positive"));
    }
    if !(args.duration.is_finite() && args.duration >= 5.0) {
        return Err(usage("--duration must be at least 5 s"));
    }

    let device = Default::default();
    let mut report = Report { suite: "calib-sweep".into(), ..Default::default() };
    let started = Instant::now();
    // (method, motion, noise, init label) → per-seed errors.
    let mut table: Vec<(String, String, String, String, Vec<Err2>)> = Vec::new();
    let mut push = |method: &str, motion: &str, noise: &str, init: &str, e: Err2| match table
        .iter_mut()
        .find(|r| r.0 == method && r.1 == motion && r.2 == noise && r.3 == init)
    {
        Some(r) => r.4.push(e),
        None => table.push((method.into(), motion.into(), noise.into(), init.into(), vec![e])),
    };

    for &profile in &motions {
        for (noise_name, rot_sigma, trans_sigma) in &noises {
            for seed in 0..args.seeds {
                let rig_config = RigConfig {
                    profile,
                    duration: args.duration,
                    rotation_noise: *rot_sigma,
                    translation_noise: *trans_sigma,
                    ..Default::default()
                };
                let rig = simulate_rig(&rig_config, seed)?;
                let motion = profile.name();
                // Hand-eye baselines.
                let pairs = MotionPairs::from_poses(
                    &rig.stamps,
                    &rig.reference,
                    &rig.sensor,
                    &PairSelection::default(),
                );
                for method in HandEyeMethod::ALL {
                    let e = match &pairs {
                        Ok(p) => {
                            handeye::solve(p, method).map(|s| errors(&s.x, &rig.truth)).unwrap_or(FAILED)
                        }
                        Err(_) => FAILED,
                    };
                    let name = match method {
                        HandEyeMethod::TsaiLenz => "tsai-lenz",
                        HandEyeMethod::ParkMartin => "park-martin",
                        HandEyeMethod::Daniilidis => "daniilidis",
                    };
                    push(name, motion, noise_name, "none", e);
                }
                // RL and RL + refinement.
                let sub_ref: Vec<_> = rig.reference.iter().step_by(args.rl_stride).copied().collect();
                let sub_sen: Vec<_> = rig.sensor.iter().step_by(args.rl_stride).copied().collect();
                let mut scorer = PoseScorer::<alignrl_agents::backend::Cpu>::new(
                    &sub_ref,
                    &sub_sen,
                    PoseScorerConfig::default(),
                    &device,
                )?;
                for (k, init) in inits.iter().enumerate() {
                    let guess = init.map(|d| rotated_guess(&rig.truth, d, 1000 + 31 * seed + k as u64));
                    let cfg = TrainerConfig {
                        translation_min: [-0.6; 3],
                        translation_max: [0.6; 3],
                        episodes: args.episodes,
                        init_candidates: if guess.is_some() { 0 } else { 8192 },
                        seed: 7 + seed,
                        ..Default::default()
                    };
                    let t0 = Instant::now();
                    let out = train::<CpuAutodiff, _>(&mut scorer, &cfg, guess, &device)?;
                    let rl = out.best_mode;
                    let label = init.map_or("none".to_string(), |d| format!("{d}"));
                    push("rl", motion, noise_name, &label, errors(&rl, &rig.truth));
                    let refined = refine::refine(
                        &rig.reference,
                        &rig.sensor,
                        &rig.stamps,
                        &rl,
                        &RefineConfig::default(),
                    )
                    .map(|r| errors(&r.x, &rig.truth))
                    .unwrap_or(FAILED);
                    push("rl+refine", motion, noise_name, &label, refined);
                    eprintln!(
                        "{motion} {noise_name} seed {seed} init {label}: rl {:.3}° {:.2} cm, rl+refine {:.4}° {:.3} cm ({:.1} s)",
                        errors(&rl, &rig.truth).rot_deg,
                        errors(&rl, &rig.truth).trans_cm,
                        refined.rot_deg,
                        refined.trans_cm,
                        t0.elapsed().as_secs_f64()
                    );
                }
            }
        }
    }

    let seeds = args.seeds as usize;
    for (method, motion, noise, init, errs) in &table {
        let rot: Vec<f64> = errs.iter().map(|e| e.rot_deg).collect();
        let tr: Vec<f64> = errs.iter().map(|e| e.trans_cm).collect();
        let init_value: serde_json::Value =
            init.parse::<f64>().map_or_else(|_| init.clone().into(), Into::into);
        for (metric, v) in [
            ("rot_err_deg_median", quantile(&rot, 0.5)),
            ("rot_err_deg_p95", quantile(&rot, 0.95)),
            ("trans_err_cm_median", quantile(&tr, 0.5)),
            ("trans_err_cm_p95", quantile(&tr, 0.95)),
        ] {
            report.rows.push(
                Row::new(method.as_str(), metric, v, seeds)
                    .with("motion", motion.as_str())
                    .with("noise", noise.as_str())
                    .with("init_err_deg", init_value.clone()),
            );
        }
    }

    // Plot: median rotation error (log scale via log10) per method and setting index.
    let mut series: Vec<Series> = Vec::new();
    let settings: Vec<(String, String, String)> = {
        let mut s: Vec<(String, String, String)> = Vec::new();
        for r in &table {
            let key = (r.1.clone(), r.2.clone(), r.3.clone());
            if !s.contains(&key) {
                s.push(key);
            }
        }
        s
    };
    for method in ["rl", "rl+refine", "tsai-lenz", "park-martin", "daniilidis"] {
        let mut pts = Vec::new();
        for (i, key) in settings.iter().enumerate() {
            if let Some(r) =
                table.iter().find(|r| r.0 == method && (r.1.clone(), r.2.clone(), r.3.clone()) == *key)
            {
                let rot: Vec<f64> = r.4.iter().map(|e| e.rot_deg).collect();
                pts.push(((i + 1) as f64, quantile(&rot, 0.5).max(1e-4).log10()));
            }
        }
        series.push(Series::new(method, pts));
    }
    let chart = LineChart {
        title: "calib-sweep: median rotation error per setting".into(),
        x_label: "setting index (see notes)".into(),
        y_label: "log10 median rotation error (deg)".into(),
        series,
        ..Default::default()
    };
    report.plots.push(("calib_sweep.png".into(), chart.to_png()?));
    for (i, (m, n, init)) in settings.iter().enumerate() {
        report.notes.push(format!("setting {}: motion={m} noise={n} init_err_deg={init}", i + 1));
    }
    report.notes.push(format!("total time {:.1} s", started.elapsed().as_secs_f64()));
    emit(&report, &args.common)
}
