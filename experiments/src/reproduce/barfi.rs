//! `alignrl reproduce barfi`: BARFI on the trap gridworld (methods.md §1.5 with an L2 penalty
//! λ‖θ‖² on the softmax logits), exact tabular version.
//!
//! For each heuristic (helpful: progress towards the goal; misaligned: +0.2 per step in the
//! distractor) it reports the normalised primary return `(J − J_rand)/(J* − J_rand)` of the inner
//! optimum for primary-only `φ = (1, 0)`, the naive blend `φ = (1, 1)`, PBRS of the heuristic's
//! potential added to the primary reward, and BARFI after `--outer-steps` outer steps from
//! `φ = (1, 1)`. Everything is exact and deterministic (seeds = 1).

use alignrl_agents::bilevel::barfi::{BarfiConfig, BarfiProblem, BarfiRun, fixed_phi, run_barfi};
use alignrl_envs::shaping::{Heuristic, tabular_pbrs, trap_aux, trap_potential};
use alignrl_envs::tabular::TrapGridworld;
use alignrl_viz::plot::{LineChart, Series};

use super::{Common, Report, Row, emit};
use crate::usage;

/// Options of `alignrl reproduce barfi`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Outer (hypergradient) steps of BARFI.
    #[arg(long, default_value_t = 200)]
    pub outer_steps: usize,
    /// Adam learning rate of the outer ascent on φ.
    #[arg(long, default_value_t = 0.05)]
    pub lr: f64,
    /// L2 coefficient λ of the inner problem (λ‖θ‖² on the softmax logits).
    #[arg(long, default_value_t = 1e-3)]
    pub lambda: f64,
    /// Also learn the discount γ_φ = σ(φ₃).
    #[arg(long)]
    pub learn_discount: bool,
}

const ENV: &str = "trap-gridworld";

fn barfi_with(h: Heuristic, lambda: f64, aux: Vec<f64>) -> anyhow::Result<BarfiProblem> {
    let trap = TrapGridworld::new();
    BarfiProblem::new(trap.mdp(), trap.primary_rewards(), aux, lambda)
        .map_err(|e| anyhow::anyhow!("building the {h} problem: {e}"))
}

/// Runs the suite and writes its outputs.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let report = build_report(args)?;
    emit(&report, &args.common)
}

/// Computes the suite's report (rows, plots, notes) without writing anything.
pub fn build_report(args: &Args) -> anyhow::Result<Report> {
    if args.outer_steps == 0 || args.outer_steps > 100_000 {
        return Err(usage(format!("--outer-steps {} must be in 1..=100000", args.outer_steps)));
    }
    if !(args.lr.is_finite() && args.lr > 0.0) {
        return Err(usage(format!("--lr {} must be positive", args.lr)));
    }
    if !(args.lambda.is_finite() && args.lambda > 0.0) {
        return Err(usage(format!("--lambda {} must be positive", args.lambda)));
    }
    let cfg = BarfiConfig {
        outer_steps: args.outer_steps,
        lr: args.lr,
        learn_discount: args.learn_discount,
        ..Default::default()
    };
    let trap = TrapGridworld::new();
    let mut report = Report { suite: "barfi".into(), ..Default::default() };
    let mut runs: Vec<(Heuristic, BarfiRun)> = Vec::new();
    for h in Heuristic::ALL {
        let problem = barfi_with(h, args.lambda, trap_aux(&trap, h))?;
        let pbrs_problem = barfi_with(
            h,
            args.lambda,
            tabular_pbrs(trap.mdp(), &trap_potential(&trap, h), TrapGridworld::GAMMA),
        )?;
        let (_, j_primary) = fixed_phi(&problem, [1.0, 0.0], &cfg)?;
        let (_, j_naive) = fixed_phi(&problem, [1.0, 1.0], &cfg)?;
        let (_, j_pbrs) = fixed_phi(&pbrs_problem, [1.0, 1.0], &cfg)?;
        let run = run_barfi(&problem, &cfg)?;
        let last = run.last().clone();
        for (method, j) in [
            ("primary-only", j_primary),
            ("naive", j_naive),
            ("pbrs", j_pbrs),
            ("barfi", last.primary_return),
        ] {
            report.rows.push(
                Row::new(method, "normalized_primary_return", problem.normalize(j), 1)
                    .with("env", ENV)
                    .with("heuristic", h.name()),
            );
        }
        report.notes.push(format!(
            "{h}: J_rand = {:.4}, J* = {:.4}; raw primary return: primary-only {j_primary:.4}, naive {j_naive:.2e}, \
             pbrs {j_pbrs:.4}, barfi {:.4}; BARFI first ≥ 0.95 at outer step {}; final φ = ({:.3}, {:.3}), γ_φ = {:.4}",
            problem.j_uniform(),
            problem.j_optimal(),
            last.primary_return,
            run.first_step_at(0.95).map_or("never".to_string(), |s| s.to_string()),
            last.phi[0],
            last.phi[1],
            last.gamma_phi,
        ));
        runs.push((h, run));
    }
    let curve = |f: &dyn Fn(&alignrl_agents::bilevel::barfi::BarfiStep) -> f64,
                 run: &BarfiRun|
     -> Vec<(f64, f64)> { run.history.iter().map(|s| (s.step as f64, f(s))).collect() };
    let ret = LineChart {
        title: "BARFI on the trap gridworld".into(),
        x_label: "outer step".into(),
        y_label: "normalised primary return".into(),
        series: runs
            .iter()
            .map(|(h, r)| Series::new(format!("barfi ({h})"), curve(&|s| s.normalized, r)))
            .collect(),
        ..Default::default()
    };
    let mut phi_series = Vec::new();
    for (h, r) in &runs {
        phi_series.push(Series::new(format!("φ₁ ({h})"), curve(&|s| s.phi[0], r)));
        phi_series.push(Series::new(format!("φ₂ ({h})"), curve(&|s| s.phi[1], r)));
    }
    let phi = LineChart {
        title: "BARFI reward weights".into(),
        x_label: "outer step".into(),
        y_label: "φ (weight of r_p, weight of r_aux)".into(),
        series: phi_series,
        ..Default::default()
    };
    report.plots.push(("barfi_return.png".into(), ret.to_png()?));
    report.plots.push(("barfi_phi.png".into(), phi.to_png()?));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(extra: &[&str]) -> Result<Args, clap::Error> {
        Cli::try_parse_from(["barfi"].iter().chain(extra)).map(|c| c.args)
    }

    #[test]
    fn rows_cover_methods_and_heuristics() {
        let report = build_report(&args(&["--outer-steps", "25"]).unwrap()).unwrap();
        assert_eq!(report.rows.len(), 8);
        let get = |m: &str, h: &str| {
            report
                .rows
                .iter()
                .find(|r| r.method == m && r.settings.iter().any(|(k, v)| k == "heuristic" && v == h))
                .unwrap()
                .value
        };
        for r in &report.rows {
            assert_eq!(r.metric, "normalized_primary_return");
            assert!(r.settings.iter().any(|(k, v)| k == "env" && v == ENV));
        }
        assert!(get("naive", "misaligned") < 0.0);
        assert!(get("barfi", "misaligned") >= 0.95);
        assert!((get("pbrs", "misaligned") - get("primary-only", "misaligned")).abs() < 1e-6);
        assert_eq!(report.plots.len(), 2);
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for bad in [["--lr=-1"], ["--lambda=0"], ["--outer-steps=0"]] {
            let err = build_report(&args(&bad).unwrap()).unwrap_err();
            assert_eq!(crate::exit_code(&err), 2, "{bad:?}");
        }
    }
}
