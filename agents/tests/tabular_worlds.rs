//! Exact solvers on the named worlds: Knox's delivery world and BARFI's trap gridworld
//! (methods.md §1.5 and §3.2).

use alignrl_agents::tabular::{
    PiOptions, Policy, ViOptions, evaluate_policy, evaluate_policy_with, policy_iteration, scaled_return,
    start_value, value_iteration,
};
use alignrl_envs::tabular::{DeliveryWorld, Move, TabularEnv, TrapGridworld, sample_categorical};
use alignrl_envs::{Env, EnvExt, Info, OptionValue, make_with};
use rand::SeedableRng;
use rand_pcg::Pcg64;

fn sup(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn delivery_value_iteration_matches_policy_iteration() {
    let world = DeliveryWorld::knox();
    let mdp = world.mdp();
    let vi = value_iteration(mdp, &ViOptions { tol: 1e-10, max_iters: 1_000_000 }).unwrap();
    let pi = policy_iteration(mdp, &PiOptions::default()).unwrap();
    assert!(sup(&vi.v, &pi.v) < 1e-6, "VI vs PI values differ by {:e}", sup(&vi.v, &pi.v));
    // Both greedy policies achieve the same (optimal) values.
    let v_vi_policy = evaluate_policy(mdp, &vi.policy()).unwrap();
    assert!(sup(&v_vi_policy, &pi.v) < 1e-6, "{:e}", sup(&v_vi_policy, &pi.v));
    let v_pi_policy = evaluate_policy(mdp, &pi.policy()).unwrap();
    assert!(sup(&v_pi_policy, &pi.v) < 1e-9);
    // Terminal states have value 0; the goal's neighbours are worth the +50 of entering it.
    let goal = world.state(8, 9);
    assert_eq!(pi.v[goal], 0.0);
    assert_eq!(pi.v[world.state(7, 9)], 50.0);
    assert_eq!(vi.actions[world.state(7, 9)], Move::Down.index());
    // No optimal action steps onto a sheep or into a house.
    for s in world.start_states() {
        let a = pi.actions[s];
        let next = mdp.successors(s, a).next().unwrap().0;
        let (r, c) = world.cell(next);
        assert!(!world.entity(r, c).is_blocking());
        assert!(mdp.feature(s, a)[2] == 0.0, "optimal action from {:?} hits a sheep", world.cell(s));
    }
    let s = scaled_return(mdp, &vi.policy()).unwrap();
    assert!((s.scaled - 1.0).abs() < 1e-9, "{s:?}");
    let u = scaled_return(mdp, &Policy::uniform(100, 4)).unwrap();
    assert!(u.scaled.abs() < 1e-12);
    eprintln!(
        "delivery: J* = {:.6}, J_unif = {:.6} (start-averaged over 92 states), VI sweeps {}, PI evaluations {}",
        s.optimal, s.uniform, vi.iterations, pi.iterations
    );
    assert!(s.optimal > 30.0 && s.optimal < 50.0, "{}", s.optimal);
    assert!(s.uniform < s.optimal);
}

#[test]
fn delivery_true_reward_ranks_policies_correctly_for_other_weights() {
    // A policy optimal for other weights scores below 1 under w* (a sanity check for Knox's metric).
    let world = DeliveryWorld::knox();
    let mut other = world.mdp().clone();
    other.set_weights(&[0.0, 50.0, 0.0, 0.0, 0.0, 0.0]).unwrap(); // ignores sheep, gas and mud
    let pi_other = policy_iteration(&other, &PiOptions::default()).unwrap().policy();
    let s = scaled_return(world.mdp(), &pi_other).unwrap();
    assert!(s.scaled < 1.0 - 1e-6, "{s:?}");
}

#[test]
fn trap_naive_blend_loops_in_the_distractor() {
    let naive = TrapGridworld::with_weights([1.0, 1.0]).unwrap();
    let mdp = naive.mdp();
    let gamma = TrapGridworld::GAMMA;
    let sol = policy_iteration(mdp, &PiOptions::default()).unwrap();
    let vi = value_iteration(mdp, &ViOptions { tol: 1e-12, max_iters: 1_000_000 }).unwrap();
    assert!(sup(&sol.v, &vi.v) < 1e-6);
    let (start, d) = (naive.state(0, 0), naive.state(0, 1));
    assert_eq!(sol.actions[start], Move::Right.index());
    assert_eq!(sol.actions[d], Move::Up.index()); // bump the top border: stay in D
    // Looping from the start: 0.2 on entering D and on every step after: 0.2 / (1 − γ) = 20.
    assert!((sol.v[start] - 0.2 / (1.0 - gamma)).abs() < 1e-9, "{}", sol.v[start]);
    // Its primary return is exactly 0.
    let primary = naive.primary_rewards();
    let j_primary = start_value(mdp, &evaluate_policy_with(mdp, &sol.policy(), &primary, gamma).unwrap());
    assert_eq!(j_primary, 0.0);
    // Through the env: 500 steps, never terminates, sits in D after the first step.
    let mut env = TabularEnv::new(mdp.clone(), "trap");
    let mut obs = [0.0];
    let mut info = Info::new();
    env.reset(Some(0), &mut obs, &mut info).unwrap();
    for t in 0..500 {
        let step = env.step(&[sol.actions[obs[0] as usize] as f64], &mut obs, &mut info).unwrap();
        assert!(!step.terminated && obs[0] as usize == d, "t {t}");
    }
}

#[test]
fn trap_primary_reward_reaches_the_goal_in_eight_moves() {
    let trap = TrapGridworld::new();
    let mdp = trap.mdp();
    let gamma = TrapGridworld::GAMMA;
    let sol = policy_iteration(mdp, &PiOptions::default()).unwrap();
    let j_star = start_value(mdp, &sol.v);
    assert!((j_star - gamma.powi(7)).abs() < 1e-12, "J* = {j_star}");
    let vi = value_iteration(mdp, &ViOptions { tol: 1e-12, max_iters: 1_000_000 }).unwrap();
    assert!(sup(&vi.v, &sol.v) < 1e-9);
    // Roll the greedy policy out through the registered env.
    let mut env = make_with("TrapGridworld-v0", &[("max_episode_steps", OptionValue::Int(0))]).unwrap();
    let (mut obs, _) = env.reset_owned(Some(0)).unwrap();
    let mut moves = 0;
    let mut ret = 0.0;
    loop {
        let t = env.step_owned(&[sol.actions[obs[0] as usize] as f64]).unwrap();
        ret += gamma.powi(moves) * t.reward;
        moves += 1;
        obs = t.obs;
        if t.terminated {
            break;
        }
        assert!(moves < 100);
    }
    assert_eq!(moves, 8);
    assert!((ret - gamma.powi(7)).abs() < 1e-12);

    // The uniformly random policy, exactly and by Monte Carlo through the env (no time limit).
    let uniform = Policy::uniform(25, 4);
    let j_rand = start_value(mdp, &evaluate_policy(mdp, &uniform).unwrap());
    let normalised_naive = (0.0 - j_rand) / (j_star - j_rand);
    eprintln!(
        "trap: J* = γ^7 = {j_star:.6}, J_rand = {j_rand:.6}, normalised score of the naive loop = {normalised_naive:.4}"
    );
    // methods.md §1.5 reports J_rand = 0.452 and a normalised naive score of −0.94.
    assert!((j_rand - 0.452).abs() < 0.0005, "J_rand = {j_rand}");
    assert!((normalised_naive + 0.94).abs() < 0.005, "{normalised_naive}");
    let mut rng = Pcg64::seed_from_u64(5);
    let n = 4000;
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    env.reset_owned(Some(77)).unwrap();
    for _ in 0..n {
        let (mut obs, _) = env.reset_owned(None).unwrap();
        let (mut g, mut discount) = (0.0, 1.0);
        // γ^5000 · 1 < 1e-21: the truncated tail is negligible.
        for _ in 0..5000 {
            let a = sample_categorical(uniform.row(obs[0] as usize), &mut rng);
            let t = env.step_owned(&[a as f64]).unwrap();
            g += discount * t.reward;
            discount *= gamma;
            obs = t.obs;
            if t.terminated {
                break;
            }
        }
        sum += g;
        sum_sq += g * g;
    }
    let mean = sum / n as f64;
    let se = ((sum_sq / n as f64 - mean * mean) / n as f64).sqrt();
    assert!((mean - j_rand).abs() <= 4.0 * se, "MC {mean} ± {se} vs exact {j_rand}");
}
