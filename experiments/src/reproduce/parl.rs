//! `alignrl reproduce parl`: PARL / A-PARL on a tabular gridworld (methods.md §2.5 with the
//! issue's corrections: KL-to-uniform regularisation, absorbing +1 goal, uniform start, γ = 0.9,
//! greedy policy of the learned Q scored against the hard optimum).
//!
//! A-PARL (full hypergradient) and the alternating PEBBLE-style variant (implicit term dropped)
//! run on the same seeded data streams; the oracle is the soft-optimal policy of the true reward.
//! Rows per env: `median_queries_to_0.9` (median over seeds, unsolved seeds counted as +∞; NaN
//! when more than half are unsolved), `solved_fraction` and `final_normalized_return` (mean).

use alignrl_agents::bilevel::parl::{
    ImplicitEstimator, ParlConfig, ParlFeatures, ParlRun, ParlVariant, ParlWorld, oracle_score, run_parl,
};
use alignrl_agents::bilevel::{CgOptions, InverseHvp};
use alignrl_viz::plot::{LineChart, Series};

use super::{Common, Report, Row, emit};
use crate::usage;

/// Options of `alignrl reproduce parl`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Seeds per variant (data streams 0..seeds).
    #[arg(long, default_value_t = 10)]
    pub seeds: u64,
    /// Preference-query budget per run.
    #[arg(long, default_value_t = 300)]
    pub budget: usize,
    /// Queries per round.
    #[arg(long, default_value_t = 2)]
    pub pairs_per_round: usize,
    /// Segment length (steps).
    #[arg(long, default_value_t = 3)]
    pub segment_len: usize,
    /// Multiplier of A-PARL's implicit term.
    #[arg(long, default_value_t = 1.0)]
    pub implicit_scale: f64,
    /// Estimator of ∇_θ G: `on-policy` (this round's pairs) or `importance` (whole buffer,
    /// self-normalised importance weights) or `exact-teacher` (diagnostic: exact ∇_θ G over all
    /// segment pairs with the teacher's probabilities, which spends no queries on them; use
    /// `--segment-len 2`).
    #[arg(long, default_value = "on-policy")]
    pub estimator: String,
    /// Damping δ of the conjugate-gradient inverse-Hessian-vector product (CG on −H + δI).
    #[arg(long, default_value_t = 0.1)]
    pub cg_damping: f64,
    /// Reward features: `onehot` (one-hot state, realisable), `rowcol` (one-hot row + column,
    /// misspecified) or `both`.
    #[arg(long, default_value = "both")]
    pub features: String,
    /// Also run deep PARL on CartPole-v1 (warm-started PPO lower level, learned reward linear in
    /// quadratic state features, scripted teacher on the true return): A-PARL, alternating and
    /// the oracle (PPO on the true reward, same schedule) over `--deep-seeds` seeds.
    #[arg(long)]
    pub deep: bool,
    /// Seeds of the deep run (PPO and data stream 1..=N).
    #[arg(long, default_value_t = 5)]
    pub deep_seeds: u64,
    /// Preference-query budget of the deep run.
    #[arg(long, default_value_t = 100)]
    pub deep_budget: usize,
    /// Queries per round (one round every 4 PPO updates of 256 steps) in the deep run.
    #[arg(long, default_value_t = 4)]
    pub deep_pairs_per_round: usize,
    /// Segment length (steps) in the deep run.
    #[arg(long, default_value_t = 25)]
    pub deep_segment_len: usize,
    /// PPO environment steps of each deep run.
    #[arg(long, default_value_t = 51_200)]
    pub deep_steps: u64,
    /// Neumann step α of A-PARL's implicit term in the deep run (H⁻¹ ≈ −α I).
    #[arg(long, default_value_t = 1e-5)]
    pub deep_implicit_scale: f64,
    /// L2 coefficient κ on the deep reward parameters ν.
    #[arg(long, default_value_t = 1e-2)]
    pub deep_l2: f64,
}

/// Median of `xs` with `None` as +∞; NaN when more than half are `None`.
fn median_queries(xs: &[Option<usize>]) -> f64 {
    let mut v: Vec<f64> = xs.iter().map(|x| x.map_or(f64::INFINITY, |q| q as f64)).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let m = if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) };
    if m.is_finite() { m } else { f64::NAN }
}

/// Runs the suite and writes its outputs.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let report = build_report(args)?;
    emit(&report, &args.common)
}

/// Computes the suite's report (rows, plots, notes) without writing anything.
pub fn build_report(args: &Args) -> anyhow::Result<Report> {
    if args.seeds == 0 || args.seeds > 1000 {
        return Err(usage(format!("--seeds {} must be in 1..=1000", args.seeds)));
    }
    if args.budget == 0 || args.pairs_per_round == 0 || args.segment_len == 0 || args.segment_len > 50 {
        return Err(usage("--budget, --pairs-per-round must be ≥ 1 and --segment-len in 1..=50"));
    }
    if !(args.cg_damping.is_finite() && args.cg_damping >= 0.0) {
        return Err(usage(format!("--cg-damping {} must be finite and ≥ 0", args.cg_damping)));
    }
    if !args.implicit_scale.is_finite() {
        return Err(usage(format!("--implicit-scale {} must be finite", args.implicit_scale)));
    }
    let estimator = match args.estimator.as_str() {
        "on-policy" => ImplicitEstimator::OnPolicy,
        "importance" => ImplicitEstimator::ImportanceWeighted,
        "exact-teacher" => ImplicitEstimator::ExactTeacher,
        other => {
            return Err(usage(format!(
                "--estimator {other:?}: expected on-policy, importance or exact-teacher"
            )));
        }
    };
    let features: Vec<(&str, ParlFeatures)> = match args.features.as_str() {
        "onehot" => vec![("grid6x6", ParlFeatures::OneHotState)],
        "rowcol" => vec![("grid6x6-rowcol", ParlFeatures::RowCol)],
        "both" => vec![("grid6x6", ParlFeatures::OneHotState), ("grid6x6-rowcol", ParlFeatures::RowCol)],
        other => return Err(usage(format!("--features {other:?}: expected onehot, rowcol or both"))),
    };
    let mut report = Report { suite: "parl".into(), ..Default::default() };
    let base = ParlConfig {
        max_queries: args.budget,
        pairs_per_round: args.pairs_per_round,
        segment_len: args.segment_len,
        implicit_scale: args.implicit_scale,
        estimator,
        inverse: InverseHvp::Cg(CgOptions { damping: args.cg_damping, tol: 1e-10, max_iters: 500 }),
        ..Default::default()
    };
    let seeds = args.seeds as usize;
    for (env, feats) in features {
        let world = ParlWorld::default_grid(feats);
        let mut series = Vec::new();
        let mut medians = Vec::new();
        for variant in [ParlVariant::APARL, ParlVariant::Alternating] {
            let runs: Vec<ParlRun> = (0..args.seeds)
                .map(|seed| run_parl(&world, &ParlConfig { variant, seed, ..base.clone() }))
                .collect::<Result<_, _>>()?;
            let q: Vec<Option<usize>> = runs.iter().map(|r| r.queries_to_threshold).collect();
            let med = median_queries(&q);
            let solved = q.iter().filter(|x| x.is_some()).count() as f64 / seeds as f64;
            let fin = runs.iter().map(ParlRun::final_score).sum::<f64>() / seeds as f64;
            let name = variant.name();
            report.rows.push(Row::new(name, "median_queries_to_0.9", med, seeds).with("env", env));
            report.rows.push(Row::new(name, "solved_fraction", solved, seeds).with("env", env));
            report.rows.push(Row::new(name, "final_normalized_return", fin, seeds).with("env", env));
            let ratio = runs.iter().map(|r| r.implicit_ratio).sum::<f64>() / seeds as f64;
            report.notes.push(format!(
                "{env} {name}: queries to 0.9 per seed {:?}; mean ‖implicit‖/‖direct‖ = {ratio:.3}",
                q.iter().map(|x| x.map_or(-1, |v| v as i64)).collect::<Vec<_>>()
            ));
            medians.push(med);
            // Mean curve over seeds (all runs share the query grid).
            let len = runs.iter().map(|r| r.curve.len()).min().unwrap_or(0);
            let mut mean = Vec::with_capacity(len);
            let mut band = Vec::with_capacity(len);
            for i in 0..len {
                let xs: Vec<f64> = runs.iter().map(|r| r.curve[i].1).collect();
                let m = xs.iter().sum::<f64>() / xs.len() as f64;
                let sd = (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
                let x = runs[0].curve[i].0 as f64;
                mean.push((x, m));
                band.push((x, m - sd, m + sd));
            }
            series.push(Series { label: name.into(), points: mean, band: Some(band) });
        }
        let oracle = oracle_score(&world, base.tau)?;
        report.rows.push(Row::new("oracle", "median_queries_to_0.9", 0.0, 1).with("env", env));
        report.rows.push(
            Row::new("oracle", "solved_fraction", if oracle >= 0.9 { 1.0 } else { 0.0 }, 1).with("env", env),
        );
        report.rows.push(Row::new("oracle", "final_normalized_return", oracle, 1).with("env", env));
        report.notes.push(format!(
            "{env}: median queries A-PARL / alternating = {:.3} (A-PARL {} vs alternating {}); measured, not the paper's claim",
            medians[0] / medians[1],
            medians[0],
            medians[1]
        ));
        series.push(Series::new("oracle", vec![(0.0, oracle), (args.budget as f64, oracle)]));
        let chart = LineChart {
            title: format!("PARL on {env}: greedy policy of the learned reward"),
            x_label: "preference queries".into(),
            y_label: "normalised true return (mean ± sd over seeds)".into(),
            series,
            ..Default::default()
        };
        report.plots.push((format!("parl_{env}.png"), chart.to_png()?));
    }
    if args.deep {
        deep_cartpole(args, &mut report)?;
    }
    Ok(report)
}

/// Deep PARL on CartPole-v1: A-PARL, alternating and oracle rows with setting `env`.
fn deep_cartpole(args: &Args, report: &mut Report) -> anyhow::Result<()> {
    use alignrl_agents::backend::CpuAutodiff;
    use alignrl_agents::bilevel::deep_parl::{
        DeepParlConfig, DeepParlMethod, DeepParlRun, RewardFeatures, run_deep_parl,
    };
    const ENV: &str = "CartPole-v1";
    if args.deep_seeds == 0 || args.deep_seeds > 100 {
        return Err(usage(format!("--deep-seeds {} must be in 1..=100", args.deep_seeds)));
    }
    if args.deep_budget == 0 || args.deep_pairs_per_round == 0 {
        return Err(usage("--deep-budget and --deep-pairs-per-round must be ≥ 1"));
    }
    if args.deep_segment_len == 0 || args.deep_segment_len > 500 {
        return Err(usage(format!("--deep-segment-len {} must be in 1..=500", args.deep_segment_len)));
    }
    if args.deep_steps < 1024 || args.deep_steps > 10_000_000 {
        return Err(usage(format!("--deep-steps {} must be in 1024..=10000000", args.deep_steps)));
    }
    if !(args.deep_l2.is_finite() && args.deep_l2 >= 0.0) {
        return Err(usage(format!("--deep-l2 {} must be finite and ≥ 0", args.deep_l2)));
    }
    if !args.deep_implicit_scale.is_finite() {
        return Err(usage(format!("--deep-implicit-scale {} must be finite", args.deep_implicit_scale)));
    }
    let device = Default::default();
    let n = args.deep_seeds as usize;
    let mut series = Vec::new();
    let mut medians = Vec::new();
    for method in [
        DeepParlMethod::Parl(ParlVariant::APARL),
        DeepParlMethod::Parl(ParlVariant::Alternating),
        DeepParlMethod::Oracle,
    ] {
        let mut runs: Vec<DeepParlRun> = Vec::with_capacity(n);
        for seed in 1..=args.deep_seeds {
            let cfg = DeepParlConfig {
                total_steps: args.deep_steps,
                max_queries: args.deep_budget,
                pairs_per_round: args.deep_pairs_per_round,
                segment_len: args.deep_segment_len,
                implicit_scale: args.deep_implicit_scale,
                l2: args.deep_l2,
                ..DeepParlConfig::cartpole(seed)
            };
            let env = || -> Box<dyn alignrl_envs::Env> {
                alignrl_envs::make(ENV).expect("CartPole-v1 is registered")
            };
            let run = run_deep_parl::<CpuAutodiff, _>(env, RewardFeatures::cartpole(), method, &cfg, &device)
                .map_err(|e| anyhow::anyhow!("deep PARL ({}, seed {seed}): {e}", method.name()))?;
            eprintln!(
                "deep PARL {} seed {seed}: queries to 0.9 {:?}, final {:.3}, ν = {:.3?}",
                method.name(),
                run.queries_to_threshold,
                run.final_score,
                run.nu
            );
            runs.push(run);
        }
        let q: Vec<Option<usize>> = runs.iter().map(|r| r.queries_to_threshold).collect();
        let med = median_queries(&q);
        let solved = q.iter().filter(|x| x.is_some()).count() as f64 / n as f64;
        let fin = runs.iter().map(|r| r.final_score).sum::<f64>() / n as f64;
        let name = method.name();
        report.rows.push(Row::new(name, "median_queries_to_0.9", med, n).with("env", ENV));
        report.rows.push(Row::new(name, "solved_fraction", solved, n).with("env", ENV));
        report.rows.push(Row::new(name, "final_normalized_return", fin, n).with("env", ENV));
        let ratio = runs.iter().map(|r| r.implicit_ratio).sum::<f64>() / n as f64;
        report.notes.push(format!(
            "{ENV} {name}: queries to 0.9 per seed {:?} (oracle: queries the same schedule would have \
             spent); final normalised returns {:?}; mean ‖implicit‖/‖direct‖ = {ratio:.3}",
            q.iter().map(|x| x.map_or(-1, |v| v as i64)).collect::<Vec<_>>(),
            runs.iter().map(|r| (r.final_score * 1000.0).round() / 1000.0).collect::<Vec<_>>()
        ));
        medians.push(med);
        let len = runs.iter().map(|r| r.curve.len()).min().unwrap_or(0);
        let mut mean = Vec::with_capacity(len);
        for i in 0..len {
            let m = runs.iter().map(|r| r.curve[i].score).sum::<f64>() / n as f64;
            mean.push((runs[0].curve[i].env_steps as f64 / 1000.0, m));
        }
        series.push(Series::new(name, mean));
    }
    report.notes.push(format!(
        "{ENV}: median queries A-PARL / alternating = {:.3} (A-PARL {} vs alternating {}); measured, not the paper's claim",
        medians[0] / medians[1],
        medians[0],
        medians[1]
    ));
    let chart = LineChart {
        title: format!("deep PARL on {ENV} ({} queries, then PPO on the last reward)", args.deep_budget),
        x_label: "PPO environment steps (thousands)".into(),
        y_label: "greedy true return / 500 (mean over seeds)".into(),
        series,
        ..Default::default()
    };
    report.plots.push((format!("parl_{ENV}.png"), chart.to_png()?));
    Ok(())
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

    fn args(extra: &[&str]) -> Args {
        Cli::try_parse_from(["parl"].iter().chain(extra)).unwrap().args
    }

    #[test]
    fn rows_have_the_issue_names() {
        let report = build_report(&args(&["--seeds", "1", "--budget", "4", "--features", "onehot"])).unwrap();
        let methods = ["a-parl", "alternating", "oracle"];
        let metrics = ["median_queries_to_0.9", "solved_fraction", "final_normalized_return"];
        assert_eq!(report.rows.len(), 9);
        for r in &report.rows {
            assert!(methods.contains(&r.method.as_str()) && metrics.contains(&r.metric.as_str()));
            assert!(r.settings.iter().any(|(k, v)| k == "env" && v == "grid6x6"));
        }
        assert_eq!(median_queries(&[Some(3), None, Some(1)]), 3.0);
        assert!(median_queries(&[None, None, Some(1)]).is_nan());
    }

    #[test]
    fn deep_rows_have_the_issue_names() {
        let report = build_report(&args(&[
            "--seeds",
            "1",
            "--budget",
            "2",
            "--features",
            "onehot",
            "--deep",
            "--deep-seeds",
            "1",
            "--deep-steps",
            "1024",
            "--deep-budget",
            "4",
            "--deep-segment-len",
            "5",
        ]))
        .unwrap();
        let deep: Vec<_> = report
            .rows
            .iter()
            .filter(|r| r.settings.iter().any(|(k, v)| k == "env" && v == "CartPole-v1"))
            .collect();
        assert_eq!(deep.len(), 9);
        for m in ["a-parl", "alternating", "oracle"] {
            for metric in ["median_queries_to_0.9", "solved_fraction", "final_normalized_return"] {
                assert!(deep.iter().any(|r| r.method == m && r.metric == metric), "{m} {metric}");
            }
        }
        assert!(report.plots.iter().any(|(name, _)| name == "parl_CartPole-v1.png"));
        let err = build_report(&args(&[
            "--seeds",
            "1",
            "--budget",
            "2",
            "--features",
            "onehot",
            "--deep",
            "--deep-l2=-1",
        ]))
        .unwrap_err();
        assert_eq!(crate::exit_code(&err), 2);
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for bad in [
            &["--seeds", "0"][..],
            &["--estimator", "magic"],
            &["--features", "pixels"],
            &["--cg-damping=-1"],
        ] {
            let err = build_report(&args(bad)).unwrap_err();
            assert_eq!(crate::exit_code(&err), 2, "{bad:?}");
        }
    }
}
