//! `alignrl reproduce knox-regret`: Knox et al.'s regret preference model against the
//! partial-return (Bradley–Terry) model (methods.md §3.5).
//!
//! For each domain (the paper's delivery board, and random delivery-like boards, one per seed),
//! seed and label source (`regret` or `partial-return`, Knox's "sigmoid" labeller: β = 1, sampled
//! 0/1 labels, ties dropped), it samples pairs of length-3 segments from uniformly random actions
//! (starts uniform over the start cells), labels them with the true reward, and for every number
//! of labelled pairs `N` (nested: the first `N` labelled pairs) trains both linear models
//! (full-batch Adam, lr 0.5, 1500 epochs, pair swapping, best-loss weights). The regret model
//! gets `V*` from a library of the optimal policies of 300 random reward vectors (Knox's values,
//! soft maximum at T = 0.001) or exactly (`--vstar exact`). Each learned reward gives an optimal
//! policy (value iteration) scored by the scaled return under the true reward.
//!
//! Rows (`--json`): `method` ∈ {`regret`, `partial-return`} (the trained model), `metric` ∈
//! {`scaled_return` (mean over seeds), `near_optimal_fraction` (fraction of seeds with scaled
//! return > 0.9)}, settings `pairs`, `labels` (the labelling model), `domain`. Plot:
//! `knox_scaled_return.png`, mean scaled return against pairs (log x), clipped at −1 for display.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use alignrl_agents::preference::{
    ActionSource, Baselines, KNOX_DELIVERY_VALUES, KNOX_RANDOM_MDP_VALUES, LabelModel, LinearBtModel,
    NEAR_OPTIMAL, PolicyLibrary, PreferencePair, RegretModel, RewardModel, ScriptedTeacher, Teacher,
    TeacherConfig, TrainConfig, cosine, random_delivery_world, sample_segment_pairs_seeded,
    scaled_return_of_model,
};
use alignrl_envs::tabular::{DeliveryWorld, TabularMdp};
use alignrl_viz::plot::{LineChart, Series};
use anyhow::Context;

use super::{Common, Report, Row, emit};
use crate::usage;

/// Which boards to run on.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainArg {
    /// The paper's delivery board.
    Delivery,
    /// Random delivery-like boards (one per seed).
    RandomMdps,
    /// Both.
    Both,
}

/// Which model generates the labels.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelsArg {
    /// Regret-generated labels.
    Regret,
    /// Partial-return-generated labels.
    PartialReturn,
    /// Both.
    Both,
}

/// How the regret model computes `V*`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum VStarArg {
    /// Soft maximum over a policy library (Knox et al.'s code).
    Library,
    /// Exact policy iteration with envelope-theorem gradients (slower).
    Exact,
}

/// Options of `alignrl reproduce knox-regret`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Numbers of labelled pairs to train on (comma separated).
    #[arg(long, value_delimiter = ',', default_values_t = [30, 100, 300, 1000, 3000])]
    pub pairs: Vec<usize>,
    /// Seeds per domain (each random-MDP seed is another board).
    #[arg(long, default_value_t = 5)]
    pub seeds: usize,
    /// Domain(s).
    #[arg(long, value_enum, default_value_t = DomainArg::Both)]
    pub domain: DomainArg,
    /// Label source(s).
    #[arg(long, value_enum, default_value_t = LabelsArg::Both)]
    pub labels: LabelsArg,
    /// Full-batch Adam epochs.
    #[arg(long, default_value_t = 1500)]
    pub epochs: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 0.5)]
    pub lr: f64,
    /// Random reward vectors drawn for the policy library (duplicates are removed).
    #[arg(long, default_value_t = 300)]
    pub library_draws: usize,
    /// Soft-maximum temperature of the library's V*.
    #[arg(long, default_value_t = 0.001)]
    pub temperature: f64,
    /// Transitions per segment.
    #[arg(long, default_value_t = 3)]
    pub segment_len: usize,
    /// V* of the regret model.
    #[arg(long, value_enum, default_value_t = VStarArg::Library)]
    pub vstar: VStarArg,
    /// Base seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    #[command(flatten)]
    pub common: Common,
}

const DOMAINS: [(DomainArg, &str); 2] =
    [(DomainArg::Delivery, "delivery"), (DomainArg::RandomMdps, "random-mdps")];
const LABELS: [(LabelsArg, LabelModel, &str); 2] = [
    (LabelsArg::Regret, LabelModel::Regret, "regret"),
    (LabelsArg::PartialReturn, LabelModel::PartialReturn, "partial-return"),
];
const METHODS: [&str; 2] = ["regret", "partial-return"];

/// One trained model's result on one seed.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    scaled: f64,
    cosine: f64,
}

/// Results of one (domain, seed) job: `[label index][pairs index][method index]`.
type JobResult = Vec<Vec<[Outcome; 2]>>;

fn validate(args: &Args) -> anyhow::Result<()> {
    if args.pairs.is_empty() || args.pairs.contains(&0) {
        return Err(usage("--pairs: give positive numbers of pairs, e.g. 30,100,300"));
    }
    if args.seeds == 0 {
        return Err(usage("--seeds must be at least 1"));
    }
    if args.epochs == 0 {
        return Err(usage("--epochs must be at least 1"));
    }
    if !(args.lr.is_finite() && args.lr > 0.0) {
        return Err(usage(format!("--lr {} must be positive", args.lr)));
    }
    if !(args.temperature.is_finite() && args.temperature > 0.0) {
        return Err(usage(format!("--temperature {} must be positive", args.temperature)));
    }
    if args.segment_len == 0 {
        return Err(usage("--segment-len must be at least 1"));
    }
    if args.library_draws == 0 {
        return Err(usage("--library-draws must be at least 1"));
    }
    Ok(())
}

/// Samples and labels pairs until there are `n` labelled ones (ties are dropped).
fn labelled_pairs(
    mdp: &TabularMdp,
    args: &Args,
    model: LabelModel,
    n: usize,
    seed: u64,
) -> anyhow::Result<Vec<PreferencePair>> {
    let mut teacher = ScriptedTeacher::new(mdp, TeacherConfig::knox(model), seed)?;
    let mut out = Vec::with_capacity(n);
    for round in 0..100u64 {
        let want = (n - out.len()) * 3 / 2 + 16;
        let raw = sample_segment_pairs_seeded(
            mdp,
            want,
            args.segment_len,
            ActionSource::Uniform,
            seed ^ (round << 40),
        )?;
        out.extend(teacher.label_pairs(raw)?);
        if out.len() >= n {
            out.truncate(n);
            return Ok(out);
        }
    }
    anyhow::bail!("could not collect {n} non-tied labelled pairs")
}

fn run_job(
    args: &Args,
    domain: DomainArg,
    seed: u64,
    delivery_lib: Option<&Arc<PolicyLibrary>>,
) -> anyhow::Result<JobResult> {
    let (world, values) = match domain {
        DomainArg::Delivery => (DeliveryWorld::knox(), &KNOX_DELIVERY_VALUES[..]),
        _ => (
            random_delivery_world(args.seed.wrapping_mul(1_000_003).wrapping_add(seed))?,
            &KNOX_RANDOM_MDP_VALUES[..],
        ),
    };
    let mdp = world.mdp();
    let truth = mdp.weights().to_vec();
    let baselines = Baselines::new(mdp)?;
    let library = match (args.vstar, delivery_lib) {
        (VStarArg::Exact, _) => None,
        (VStarArg::Library, Some(lib)) => Some(lib.clone()),
        (VStarArg::Library, None) => Some(Arc::new(PolicyLibrary::from_random_rewards(
            mdp,
            args.library_draws,
            values,
            args.seed ^ seed,
        )?)),
    };
    let max_n = *args.pairs.iter().max().expect("validated non-empty");
    let mut result = Vec::new();
    for (arg, model, _) in LABELS {
        if args.labels != LabelsArg::Both && args.labels != arg {
            continue;
        }
        let data_seed =
            args.seed.wrapping_mul(7919).wrapping_add(seed * 2 + (model == LabelModel::Regret) as u64);
        let pairs = labelled_pairs(mdp, args, model, max_n, data_seed)?;
        let cfg = TrainConfig { epochs: args.epochs, lr: args.lr, seed, ..TrainConfig::default() };
        let mut per_n = Vec::new();
        for &n in &args.pairs {
            let data = &pairs[..n];
            let mut regret = match &library {
                Some(lib) => RegretModel::with_library(mdp, lib.clone(), args.temperature)?,
                None => RegretModel::exact(mdp)?,
            };
            regret.fit(data, &cfg)?;
            let mut pr = LinearBtModel::new(mdp.n_features());
            pr.fit(data, &cfg)?;
            let out = |m: &dyn RewardModel, w: &[f64]| -> anyhow::Result<Outcome> {
                Ok(Outcome {
                    scaled: scaled_return_of_model(mdp, m, &baselines)?.scaled,
                    cosine: cosine(w, &truth),
                })
            };
            per_n.push([out(&regret, regret.weights())?, out(&pr, pr.weights())?]);
        }
        result.push(per_n);
    }
    Ok(result)
}

/// Runs the suite: builds the report, prints it and writes its files.
pub fn run(args: &Args) -> anyhow::Result<()> {
    emit(&build_report(args)?, &args.common)
}

/// Runs the experiments and builds the report (rows, notes, plot).
pub fn build_report(args: &Args) -> anyhow::Result<Report> {
    validate(args)?;
    let started = Instant::now();
    let domains: Vec<(DomainArg, &str)> = DOMAINS
        .iter()
        .copied()
        .filter(|(d, _)| args.domain == DomainArg::Both || args.domain == *d)
        .collect();
    let labels: Vec<&str> = LABELS
        .iter()
        .filter(|(a, _, _)| args.labels == LabelsArg::Both || args.labels == *a)
        .map(|(_, _, name)| *name)
        .collect();
    // The delivery board's library is shared by its seeds.
    let delivery_lib = if args.vstar == VStarArg::Library
        && domains.iter().any(|(d, _)| *d == DomainArg::Delivery)
    {
        let mdp = DeliveryWorld::knox().mdp().clone();
        let lib =
            PolicyLibrary::from_random_rewards(&mdp, args.library_draws, &KNOX_DELIVERY_VALUES, args.seed)?;
        eprintln!(
            "delivery policy library: {} distinct policies from {} draws",
            lib.len(),
            args.library_draws
        );
        Some(Arc::new(lib))
    } else {
        None
    };
    let jobs: Vec<(usize, u64)> =
        (0..domains.len()).flat_map(|d| (0..args.seeds as u64).map(move |s| (d, s))).collect();
    let threads = if args.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        args.threads
    }
    .min(jobs.len());
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<anyhow::Result<JobResult>>> = (0..jobs.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(d, seed)) = jobs.get(i) else { break };
                        let (domain, name) = domains[d];
                        let lib = if domain == DomainArg::Delivery { delivery_lib.as_ref() } else { None };
                        let r =
                            run_job(args, domain, seed, lib).with_context(|| format!("{name} seed {seed}"));
                        eprintln!("  {name} seed {seed} done ({:.1} s)", started.elapsed().as_secs_f64());
                        done.push((i, r));
                    }
                    done
                })
            })
            .collect();
        for h in handles {
            for (i, r) in h.join().expect("worker threads do not panic") {
                results[i] = Some(r);
            }
        }
    });
    let results: Vec<JobResult> =
        results.into_iter().map(|r| r.expect("every job ran")).collect::<anyhow::Result<_>>()?;

    let mut report = Report { suite: "knox-regret".into(), ..Default::default() };
    let mut series = Vec::new();
    for (d, (_, domain)) in domains.iter().enumerate() {
        let per_seed: Vec<&JobResult> = (0..args.seeds).map(|s| &results[d * args.seeds + s]).collect();
        for (l, label) in labels.iter().enumerate() {
            for (m, method) in METHODS.iter().enumerate() {
                let mut points = Vec::new();
                for (p, &n) in args.pairs.iter().enumerate() {
                    let outs: Vec<Outcome> = per_seed.iter().map(|r| r[l][p][m]).collect();
                    let k = outs.len() as f64;
                    let mean = outs.iter().map(|o| o.scaled).sum::<f64>() / k;
                    let near = outs.iter().filter(|o| o.scaled > NEAR_OPTIMAL).count() as f64 / k;
                    for (metric, value) in [("scaled_return", mean), ("near_optimal_fraction", near)] {
                        report.rows.push(
                            Row::new(*method, metric, value, outs.len())
                                .with("pairs", n)
                                .with("labels", *label)
                                .with("domain", *domain),
                        );
                    }
                    let min = outs.iter().map(|o| o.scaled).fold(f64::INFINITY, f64::min);
                    let cos_mean = outs.iter().map(|o| o.cosine).sum::<f64>() / k;
                    let cos_min = outs.iter().map(|o| o.cosine).fold(f64::INFINITY, f64::min);
                    report.notes.push(format!(
                        "{domain:<11} labels={label:<14} model={method:<14} pairs={n:<5} scaled return mean {mean:.3} min {min:.3}, near-optimal {near:.2}, cosine to w* mean {cos_mean:.3} min {cos_min:.3}"
                    ));
                    // Plotted clipped at −1 so that failures (down to ≈ −10) do not flatten the rest.
                    points.push((n as f64, mean.max(-1.0)));
                }
                series.push(Series::new(format!("{method} model, {label} labels, {domain}"), points));
            }
            // The must-show check, when its setting ran.
            if *domain == "delivery"
                && *label == "regret"
                && let Some(p) = args.pairs.iter().position(|&n| n == 1000)
            {
                let reg: Vec<Outcome> = per_seed.iter().map(|r| r[l][p][0]).collect();
                let pr: Vec<Outcome> = per_seed.iter().map(|r| r[l][p][1]).collect();
                let mean = |v: &[Outcome]| v.iter().map(|o| o.scaled).sum::<f64>() / v.len() as f64;
                let all_sr = reg.iter().all(|o| o.scaled >= 0.9);
                let all_cos = reg.iter().all(|o| o.cosine >= 0.95);
                let ok = all_sr && all_cos && mean(&reg) >= mean(&pr);
                report.notes.push(format!(
                        "check (delivery, 1000 regret-labelled pairs, {} seeds): regret scaled return ≥ 0.9 on every seed: {all_sr}; cosine ≥ 0.95 on every seed: {all_cos}; regret mean {:.3} ≥ partial-return mean {:.3}: {} → {}",
                        reg.len(),
                        mean(&reg),
                        mean(&pr),
                        mean(&reg) >= mean(&pr),
                        if ok { "PASS" } else { "FAIL" }
                    ));
            }
        }
    }
    report.notes.push(format!("wall time {:.1} s on {threads} threads", started.elapsed().as_secs_f64()));
    let chart = LineChart {
        title: "Knox et al.: scaled return of the learned reward's optimal policy".into(),
        x_label: "labelled preference pairs".into(),
        y_label: "scaled return (mean over seeds, clipped at -1; 1 = optimal, 0 = uniform)".into(),
        log_x: true,
        series,
        size: (0, 0),
    };
    report.plots.push(("knox_scaled_return.png".into(), chart.to_png()?));
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

    fn args(extra: &[&str]) -> Args {
        Cli::try_parse_from(["knox"].iter().chain(extra)).unwrap().args
    }

    #[test]
    fn tiny_run_gives_the_long_format_rows() {
        let a = args(&["--pairs", "20,40", "--seeds", "1", "--epochs", "30", "--library-draws", "8"]);
        let report = build_report(&a).unwrap();
        // 2 domains × 2 label sources × 2 methods × 2 pair counts × 2 metrics.
        assert_eq!(report.rows.len(), 32);
        for r in &report.rows {
            assert!(["regret", "partial-return"].contains(&r.method.as_str()));
            let keys: Vec<&str> = r.settings.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, ["pairs", "labels", "domain"]);
            if r.metric == "near_optimal_fraction" {
                assert!((0.0..=1.0).contains(&r.value));
            } else {
                assert_eq!(r.metric, "scaled_return");
                assert!(r.value.is_finite() && r.value <= 1.0 + 1e-9, "{r:?}");
            }
        }
        assert_eq!(report.plots.len(), 1);
        assert!(report.plots[0].1.starts_with(b"\x89PNG"));
        // Same seed, same numbers.
        let again = build_report(&a).unwrap();
        assert_eq!(report.rows, again.rows);
    }

    #[test]
    fn bad_settings_are_usage_errors() {
        for bad in [&["--pairs", "0"][..], &["--seeds", "0"], &["--lr=-1"], &["--temperature", "0"]] {
            let err = build_report(&args(bad)).unwrap_err();
            assert_eq!(crate::exit_code(&err), 2, "{bad:?}: {err}");
        }
    }
}
