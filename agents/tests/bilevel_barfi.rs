//! BARFI on the trap gridworld (methods.md §1.5 with the L2 penalty λ = 1e-3).

use alignrl_agents::bilevel::barfi::{BarfiConfig, BarfiProblem, fixed_phi, run_barfi};
use alignrl_envs::shaping::{Heuristic, tabular_pbrs, trap_aux, trap_potential};
use alignrl_envs::tabular::TrapGridworld;

fn problem(h: Heuristic) -> BarfiProblem {
    let trap = TrapGridworld::new();
    BarfiProblem::new(trap.mdp(), trap.primary_rewards(), trap_aux(&trap, h), 1e-3).unwrap()
}

#[test]
fn barfi_escapes_the_misaligned_trap() {
    let p = problem(Heuristic::Misaligned);
    let cfg = BarfiConfig::default();
    let (_, naive) = fixed_phi(&p, [1.0, 1.0], &cfg).unwrap();
    assert!(naive < 0.01, "naive raw primary return {naive}");
    let run = run_barfi(&p, &cfg).unwrap();
    let first = run.first_step_at(0.95);
    let last = run.last();
    eprintln!(
        "naive J = {naive:.2e} (normalised {:.3}); BARFI first ≥ 0.95 at step {first:?}; final φ = {:?}, normalised {:.4}",
        p.normalize(naive),
        last.phi,
        last.normalized
    );
    assert!(first.is_some_and(|s| s <= 200), "BARFI never reached 0.95");
    assert!(last.normalized >= 0.95);
    // The outer loop turns the misaligned heuristic off (or negative).
    assert!(last.phi[1] < 0.1, "φ₂ = {}", last.phi[1]);
}

#[test]
fn barfi_keeps_the_helpful_heuristic() {
    let p = problem(Heuristic::Helpful);
    let run = run_barfi(&p, &BarfiConfig { outer_steps: 50, ..Default::default() }).unwrap();
    let last = run.last();
    eprintln!("helpful: final φ = {:?}, normalised {:.4}", last.phi, last.normalized);
    assert!(last.phi[1] > 0.0, "φ₂ = {}", last.phi[1]);
    assert!(last.normalized >= 0.95);
}

#[test]
fn pbrs_equals_primary_only_for_an_exact_learner() {
    // PBRS shifts every policy's start value by the same −Φ(s₀) (telescoping), so even the
    // L2-regularised inner optimum is unchanged: in the exact tabular setting PBRS = primary-only.
    let trap = TrapGridworld::new();
    let f = tabular_pbrs(trap.mdp(), &trap_potential(&trap, Heuristic::Misaligned), TrapGridworld::GAMMA);
    let p = BarfiProblem::new(trap.mdp(), trap.primary_rewards(), f, 1e-3).unwrap();
    let cfg = BarfiConfig::default();
    let (_, j) = fixed_phi(&p, [1.0, 1.0], &cfg).unwrap();
    let (_, j0) = fixed_phi(&p, [1.0, 0.0], &cfg).unwrap();
    eprintln!("PBRS (misaligned potential): J = {j:.6}, primary-only {j0:.6}");
    assert!((j - j0).abs() < 1e-6);
}
