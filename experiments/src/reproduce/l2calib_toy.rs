//! `alignrl reproduce l2calib-toy`: the toy target of L2Calib's repository (methods.md §6.6) with
//! the exact Bingham policy, a full 8192-candidate initial search and 500 PPO episodes, per seed.
//!
//! Rows (method `l2calib`, setting `seed`): `final_error` = median mode error over the last 50
//! episodes, `episodes_to_0.02` = first episode whose mode error is below 0.02 (NaN if never).
//! The per-episode mode errors are printed on stderr and plotted (`l2calib_toy.png`).

use std::time::Instant;

use alignrl_agents::backend::CpuAutodiff;
use alignrl_calibration::l2calib::toy::{run_toy, toy_config};
use alignrl_viz::plot::{LineChart, Series};

use super::{Common, Report, Row, emit};
use crate::usage;

/// Options of `alignrl reproduce l2calib-toy`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Seeds to run (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    pub seeds: Vec<u64>,
    /// PPO episodes per seed.
    #[arg(long, default_value_t = 500)]
    pub episodes: usize,
    /// Candidates of the random initial search.
    #[arg(long, default_value_t = 8192)]
    pub candidates: usize,
    /// Episodes at the end over which `final_error` is the median.
    #[arg(long, default_value_t = 50)]
    pub tail: usize,
}

/// Runs the suite.
pub fn run(args: &Args) -> anyhow::Result<()> {
    if args.seeds.is_empty() {
        return Err(usage("--seeds: give at least one seed"));
    }
    if args.episodes == 0 || args.tail == 0 || args.tail > args.episodes {
        return Err(usage(format!(
            "--episodes {} / --tail {}: need 0 < tail ≤ episodes",
            args.episodes, args.tail
        )));
    }
    let device = Default::default();
    let mut report = Report { suite: "l2calib-toy".into(), ..Default::default() };
    let mut curves = Vec::new();
    let mut all_pass = true;
    for &seed in &args.seeds {
        let mut cfg = toy_config(seed, args.episodes);
        cfg.init_candidates = args.candidates;
        let start = Instant::now();
        let run = run_toy::<CpuAutodiff>(&cfg, &device)?;
        let secs = start.elapsed().as_secs_f64();
        let final_error = run.final_error(args.tail);
        let first = run.first_below(0.02);
        eprintln!(
            "seed {seed}: search winner error {:.4}; median mode error over the last {} episodes {:.4}; \
             first below 0.02 at episode {}; {secs:.1} s",
            run.init_error,
            args.tail,
            final_error,
            first.map_or("never".to_string(), |e| e.to_string())
        );
        let pass = final_error < 0.025 && first.is_some_and(|e| e <= 400);
        all_pass &= pass;
        report.rows.push(Row::new("l2calib", "final_error", final_error, 1).with("seed", seed));
        report.rows.push(
            Row::new("l2calib", "episodes_to_0.02", first.map_or(f64::NAN, |e| e as f64), 1)
                .with("seed", seed),
        );
        curves.push((seed, run.mode_errors));
    }
    eprintln!("episode {}", args.seeds.iter().map(|s| format!("seed{s:<8}")).collect::<Vec<_>>().join(" "));
    for ep in 0..args.episodes {
        let cols: Vec<String> = curves.iter().map(|(_, c)| format!("{:<12.5}", c[ep])).collect();
        eprintln!("{:<7} {}", ep + 1, cols.join(" "));
    }
    let chart = LineChart {
        title: "L2Calib toy target: mode error per episode".into(),
        x_label: "episode".into(),
        y_label: "mode error (toy units)".into(),
        series: curves
            .iter()
            .map(|(s, c)| {
                Series::new(
                    format!("seed {s}"),
                    c.iter().enumerate().map(|(i, e)| ((i + 1) as f64, *e)).collect(),
                )
            })
            .collect(),
        ..Default::default()
    };
    report.plots.push(("l2calib_toy.png".into(), chart.to_png()?));
    report.notes.push(format!(
        "must-show (every seed: median over the last 50 < 0.025 and first crossing below 0.02 by episode 400): {}",
        if all_pass { "PASS" } else { "FAIL" }
    ));
    emit(&report, &args.common)
}
