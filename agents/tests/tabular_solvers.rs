//! Exact tabular solvers on small random MDPs and a tiny gridworld: value iteration, policy
//! iteration and brute force agree; exact evaluation, successor features, occupancy and soft
//! value iteration are mutually consistent; exact evaluation matches Monte Carlo through `Env`.

use alignrl_agents::tabular::{
    PiOptions, Policy, SolveError, ViOptions, evaluate_policy, evaluate_policy_with, evaluate_q,
    policy_iteration, q_from_v, scaled_return, soft_value_iteration, start_value, state_action_occupancy,
    state_occupancy, successor_features, successor_features_sa, value_iteration,
};
use alignrl_envs::tabular::{
    Gridworld, GridworldConfig, MdpParts, TabularEnv, TabularMdp, sample_categorical,
};
use alignrl_envs::{Env, Info};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// A random MDP: dense random transitions (some sparse rows), `k` random features and weights,
/// random start distribution; state `ns - 1` is terminal when `with_terminal`.
fn random_mdp(seed: u64, ns: usize, na: usize, k: usize, gamma: f64, with_terminal: bool) -> TabularMdp {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut transitions = Vec::with_capacity(ns * na * ns);
    for _ in 0..ns * na {
        let mut row: Vec<f64> =
            (0..ns).map(|_| if rng.random::<f64>() < 0.3 { 0.0 } else { rng.random() }).collect();
        if row.iter().all(|x| *x == 0.0) {
            row[rng.random_range(0..ns)] = 1.0;
        }
        let z: f64 = row.iter().sum();
        transitions.extend(row.iter().map(|x| x / z));
    }
    let features: Vec<f64> = (0..ns * na * k).map(|_| rng.random_range(-1.0..1.0)).collect();
    let weights: Vec<f64> = (0..k).map(|_| rng.random_range(-2.0..2.0)).collect();
    let terminal: Vec<bool> = (0..ns).map(|s| with_terminal && s == ns - 1).collect();
    let mut start: Vec<f64> =
        (0..ns).map(|s| if terminal[s] { 0.0 } else { rng.random::<f64>() + 0.1 }).collect();
    let z: f64 = start.iter().sum();
    start.iter_mut().for_each(|x| *x /= z);
    TabularMdp::new(MdpParts {
        n_states: ns,
        n_actions: na,
        transitions,
        n_features: k,
        features,
        weights,
        feature_names: vec![],
        gamma,
        start,
        terminal,
    })
    .unwrap()
}

/// The optimal value of each state by enumerating all `A^S` deterministic policies, and a policy
/// attaining the optimum in every state at once (one exists for a finite discounted MDP).
fn brute_force(mdp: &TabularMdp) -> (Vec<f64>, Vec<usize>) {
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    let mut best = vec![f64::NEG_INFINITY; ns];
    let mut all = Vec::new();
    let mut actions = vec![0usize; ns];
    loop {
        let v = evaluate_policy(mdp, &Policy::deterministic(&actions, na).unwrap()).unwrap();
        for s in 0..ns {
            best[s] = best[s].max(v[s]);
        }
        all.push((actions.clone(), v));
        // next action tuple (odometer)
        let mut i = 0;
        while i < ns {
            actions[i] += 1;
            if actions[i] < na {
                break;
            }
            actions[i] = 0;
            i += 1;
        }
        if i == ns {
            break;
        }
    }
    let uniformly_best = all
        .iter()
        .find(|(_, v)| v.iter().zip(&best).all(|(x, b)| (x - b).abs() < 1e-10))
        .map(|(a, _)| a.clone())
        .expect("some deterministic policy is optimal in every state");
    (best, uniformly_best)
}

fn sup(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

fn random_policy(seed: u64, ns: usize, na: usize) -> Policy {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut probs = Vec::with_capacity(ns * na);
    for _ in 0..ns {
        let row: Vec<f64> = (0..na).map(|_| rng.random::<f64>() + 0.05).collect();
        let z: f64 = row.iter().sum();
        probs.extend(row.iter().map(|x| x / z));
    }
    Policy::from_probs(ns, na, probs).unwrap()
}

fn check_vi_pi_brute_force(mdp: &TabularMdp, label: &str) {
    let gamma = mdp.gamma();
    let tol = 1e-12;
    let vi = value_iteration(mdp, &ViOptions { tol, max_iters: 1_000_000 }).unwrap();
    let pi = policy_iteration(mdp, &PiOptions::default()).unwrap();
    let (bf, bf_actions) = brute_force(mdp);
    // VI stops when one sweep changes V by ≤ tol, so it is within tol·γ/(1−γ) of V*.
    let vi_bound = tol * gamma / (1.0 - gamma) + 1e-11;
    assert!(sup(&vi.v, &bf) <= vi_bound, "{label}: VI vs brute force {:e}", sup(&vi.v, &bf));
    assert!(sup(&pi.v, &bf) <= 1e-10, "{label}: PI vs brute force {:e}", sup(&pi.v, &bf));
    // The greedy policies of VI and PI are optimal: their exact values equal V*.
    let v_vi_policy = evaluate_policy(mdp, &vi.policy()).unwrap();
    assert!(sup(&v_vi_policy, &bf) <= 1e-9, "{label}: VI's policy is not optimal");
    let v_bf_policy =
        evaluate_policy(mdp, &Policy::deterministic(&bf_actions, mdp.n_actions()).unwrap()).unwrap();
    assert!(sup(&v_bf_policy, &pi.v) <= 1e-10);
    // Q* is consistent: max_a Q*(s, a) = V*(s), and Q* = r + γ P V*.
    let na = mdp.n_actions();
    for s in (0..mdp.n_states()).filter(|&s| !mdp.is_terminal(s)) {
        let m = pi.q[s * na..(s + 1) * na].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!((m - pi.v[s]).abs() < 1e-10);
    }
    assert!(sup(&q_from_v(mdp, &pi.v), &pi.q) < 1e-12);
}

#[test]
fn vi_pi_and_brute_force_agree_on_random_mdps() {
    for seed in 0..8 {
        for (gamma, term) in [(0.9, false), (0.95, true), (0.5, true)] {
            let mdp = random_mdp(seed, 5, 3, 2, gamma, term);
            check_vi_pi_brute_force(&mdp, &format!("seed {seed}, γ {gamma}, terminal {term}"));
        }
    }
}

#[test]
fn vi_pi_and_brute_force_agree_on_a_tiny_gridworld() {
    for slip in [0.0, 0.2] {
        let cfg = GridworldConfig { slip, gamma: 0.9, step_reward: -0.1, ..Default::default() };
        let g = Gridworld::from_ascii("S.#/.aX/..G", cfg).unwrap();
        let mut mdp = g.mdp().clone();
        assert_eq!(mdp.n_states(), 8); // 4^8 = 65536 deterministic policies
        let a = mdp.feature_index("a").unwrap();
        let mut w = mdp.weights().to_vec();
        w[a] = 0.05;
        mdp.set_weights(&w).unwrap();
        check_vi_pi_brute_force(&mdp, &format!("gridworld slip {slip}"));
    }
}

#[test]
fn undiscounted_stochastic_shortest_path_is_solved() {
    // γ = 1 with a step cost: VI and PI (from a proper initial policy) agree; an improper policy
    // (bumping into the wall forever) makes the linear system singular.
    let cfg = GridworldConfig { gamma: 1.0, step_reward: -1.0, slip: 0.1, ..Default::default() };
    let g = Gridworld::from_ascii("S..\n.#.\n..G", cfg).unwrap();
    let mdp = g.mdp();
    let vi = value_iteration(mdp, &ViOptions { tol: 1e-12, max_iters: 100_000 }).unwrap();
    // A proper policy: down along the left and right columns, right along the top and bottom rows.
    let down_right: Vec<usize> = (0..mdp.n_states())
        .map(|s| match g.cell(s) {
            (_, 2) => 1,
            (2, _) => 3,
            (_, 0) => 1,
            _ => 3,
        })
        .collect();
    let pi = policy_iteration(mdp, &PiOptions { initial: Some(down_right), ..Default::default() }).unwrap();
    assert!(sup(&vi.v, &pi.v) < 1e-9, "{:?} vs {:?}", vi.v, pi.v);
    let start = g.state(0, 0).unwrap();
    // At least 4 steps at −1 each, then +1 for entering the goal.
    assert!(pi.v[start] <= -3.0 && pi.v[start] > -5.0, "{}", pi.v[start]);
    let up = Policy::deterministic(&vec![0; mdp.n_states()], 4).unwrap();
    assert!(matches!(evaluate_policy(mdp, &up), Err(SolveError::Singular { .. })));
    assert!(matches!(policy_iteration(mdp, &PiOptions::default()), Err(SolveError::Singular { .. })));
}

#[test]
fn successor_features_dot_weights_equal_values() {
    for seed in 0..5 {
        let mdp = random_mdp(100 + seed, 6, 3, 4, 0.9, seed % 2 == 0);
        let pi = random_policy(seed, 6, 3);
        let v = evaluate_policy(&mdp, &pi).unwrap();
        let q = evaluate_q(&mdp, &pi).unwrap();
        let k = mdp.n_features();
        let psi = successor_features(&mdp, &pi).unwrap();
        let w = mdp.weights();
        for s in 0..6 {
            let dot: f64 = psi[s * k..(s + 1) * k].iter().zip(w).map(|(a, b)| a * b).sum();
            assert!((dot - v[s]).abs() < 1e-12, "seed {seed} s {s}: ψ·w = {dot}, V = {}", v[s]);
        }
        let psi_sa = successor_features_sa(&mdp, &pi).unwrap();
        for i in 0..6 * 3 {
            let dot: f64 = psi_sa[i * k..(i + 1) * k].iter().zip(w).map(|(a, b)| a * b).sum();
            assert!((dot - q[i]).abs() < 1e-12);
        }
        // Q^π averaged under π is V^π.
        for s in 0..6 {
            let avg: f64 = (0..3).map(|a| pi.prob(s, a) * q[s * 3 + a]).sum();
            assert!((avg - v[s]).abs() < 1e-12);
        }
        // Other weights through the same ψ: V for w' equals ψ · w'.
        let w2: Vec<f64> = (0..k).map(|i| i as f64 - 1.5).collect();
        let v2 = evaluate_policy_with(&mdp, &pi, &mdp.rewards_for(&w2).unwrap(), mdp.gamma()).unwrap();
        for s in 0..6 {
            let dot: f64 = psi[s * k..(s + 1) * k].iter().zip(&w2).map(|(a, b)| a * b).sum();
            assert!((dot - v2[s]).abs() < 1e-12);
        }
    }
}

#[test]
fn occupancy_measures_sum_correctly() {
    for seed in 0..5 {
        let gamma = 0.8;
        // Without terminal states: Σ_s d(s) = 1/(1−γ) and Σ d(s,a) r(s,a) = μ·V.
        let mdp = random_mdp(200 + seed, 5, 3, 2, gamma, false);
        let pi = random_policy(seed, 5, 3);
        let d = state_occupancy(&mdp, &pi).unwrap();
        let total: f64 = d.iter().sum();
        assert!((total - 1.0 / (1.0 - gamma)).abs() < 1e-12, "{total}");
        assert!(d.iter().all(|x| *x >= 0.0));
        let dsa = state_action_occupancy(&mdp, &pi).unwrap();
        assert!((dsa.iter().sum::<f64>() - total).abs() < 1e-12);
        let j: f64 = dsa.iter().zip(mdp.rewards()).map(|(a, b)| a * b).sum();
        let v = evaluate_policy(&mdp, &pi).unwrap();
        assert!((j - start_value(&mdp, &v)).abs() < 1e-12);
        // d satisfies the flow equation d = μ + γ P_πᵀ d.
        for s2 in 0..5 {
            let inflow: f64 =
                (0..5).map(|s| d[s] * (0..3).map(|a| pi.prob(s, a) * mdp.p(s, a, s2)).sum::<f64>()).sum();
            assert!((d[s2] - mdp.start()[s2] - gamma * inflow).abs() < 1e-12);
        }

        // With a terminal state: it gets no occupancy and Σ d = E[Σ_{t<T} γ^t] (the value of a
        // constant reward of 1).
        let mdp = random_mdp(300 + seed, 5, 3, 2, gamma, true);
        let d = state_occupancy(&mdp, &pi).unwrap();
        assert_eq!(d[4], 0.0);
        let ones = vec![1.0; 15];
        let expected = start_value(&mdp, &evaluate_policy_with(&mdp, &pi, &ones, gamma).unwrap());
        assert!((d.iter().sum::<f64>() - expected).abs() < 1e-12);
        assert!(expected < 1.0 / (1.0 - gamma));
        let j: f64 =
            state_action_occupancy(&mdp, &pi).unwrap().iter().zip(mdp.rewards()).map(|(a, b)| a * b).sum();
        assert!((j - start_value(&mdp, &evaluate_policy(&mdp, &pi).unwrap())).abs() < 1e-12);
    }
}

#[test]
fn soft_value_iteration_approaches_hard_value_iteration() {
    for seed in 0..4 {
        let mdp = random_mdp(400 + seed, 5, 3, 2, 0.9, seed % 2 == 1);
        let opts = ViOptions { tol: 1e-13, max_iters: 1_000_000 };
        let hard = policy_iteration(&mdp, &PiOptions::default()).unwrap();
        let mut last_gap = f64::INFINITY;
        for tau in [1.0, 0.3, 0.1, 0.03, 0.01, 0.001, 1e-4] {
            let soft = soft_value_iteration(&mdp, tau, &opts).unwrap();
            // 0 ≤ V_τ − V* ≤ τ log A / (1 − γ)
            let bound = tau * 3f64.ln() / (1.0 - 0.9);
            for s in 0..5 {
                let gap = soft.v[s] - hard.v[s];
                assert!(gap >= -1e-9 && gap <= bound + 1e-9, "τ {tau} s {s}: gap {gap}, bound {bound}");
            }
            let gap = sup(&soft.v, &hard.v);
            assert!(gap <= last_gap + 1e-12, "gap should shrink with τ");
            last_gap = gap;
            // V_τ is the exact entropy-regularised value of π_τ: rewards r − τ log π.
            let reg: Vec<f64> = (0..15)
                .map(|i| mdp.rewards()[i] - tau * soft.policy.probs()[i].max(f64::MIN_POSITIVE).ln())
                .collect();
            let v_reg = evaluate_policy_with(&mdp, &soft.policy, &reg, 0.9).unwrap();
            assert!(sup(&v_reg, &soft.v) < 1e-9, "τ {tau}: {:e}", sup(&v_reg, &soft.v));
        }
        assert!(last_gap < 1e-3);
        // At small τ the softmax policy is (near-)greedy and optimal.
        let soft = soft_value_iteration(&mdp, 1e-4, &opts).unwrap();
        let v_soft_policy = evaluate_policy(&mdp, &soft.policy).unwrap();
        assert!(sup(&v_soft_policy, &hard.v) < 1e-3);
    }
}

/// Monte Carlo returns through the `Env` interface agree with exact policy evaluation.
///
/// Each episode's discounted return is summed until termination or a horizon `H` where the
/// neglected tail is ≤ γ^H · max|r| / (1 − γ) < 1e-9. The mean of `N` episodes must lie within
/// 4 standard errors (sample sd / √N) of the exact start value `Σ_s μ(s) V^π(s)`.
#[test]
fn exact_evaluation_matches_monte_carlo_through_env() {
    let cases: Vec<(TabularMdp, Policy, &str)> = vec![
        {
            let mdp = random_mdp(7, 6, 3, 2, 0.9, true);
            let pi = random_policy(70, 6, 3);
            (mdp, pi, "random MDP with a terminal state")
        },
        {
            let cfg = GridworldConfig { slip: 0.2, gamma: 0.95, step_reward: -0.05, ..Default::default() };
            let g = Gridworld::from_ascii("S..#/.a.X/...G", cfg).unwrap();
            let n = g.mdp().n_states();
            let pi = random_policy(71, n, 4);
            (g.mdp().clone(), pi, "slippery gridworld")
        },
    ];
    for (mdp, pi, label) in cases {
        let gamma = mdp.gamma();
        let r_max = mdp.rewards().iter().fold(0.0f64, |m, r| m.max(r.abs()));
        let horizon = ((1e-9 * (1.0 - gamma) / r_max).ln() / gamma.ln()).ceil() as usize;
        let exact = start_value(&mdp, &evaluate_policy(&mdp, &pi).unwrap());
        let mut env = TabularEnv::new(mdp.clone(), label);
        let mut rng = Pcg64::seed_from_u64(99);
        let (mut obs, mut info) = ([0.0], Info::new());
        let n = 20_000;
        let (mut sum, mut sum_sq) = (0.0, 0.0);
        env.reset(Some(1234), &mut obs, &mut info).unwrap();
        for episode in 0..n {
            if episode > 0 {
                env.reset(None, &mut obs, &mut info).unwrap();
            }
            let (mut g, mut discount) = (0.0, 1.0);
            for _ in 0..horizon {
                let s = obs[0] as usize;
                let a = sample_categorical(pi.row(s), &mut rng);
                info.clear();
                let step = env.step(&[a as f64], &mut obs, &mut info).unwrap();
                g += discount * step.reward;
                discount *= gamma;
                if step.terminated {
                    break;
                }
            }
            sum += g;
            sum_sq += g * g;
        }
        let mean = sum / n as f64;
        let sd = (sum_sq / n as f64 - mean * mean).sqrt();
        let se = sd / (n as f64).sqrt();
        assert!(
            (mean - exact).abs() <= 4.0 * se,
            "{label}: MC {mean} ± {se} (sd {sd}) vs exact {exact}: {:.2} standard errors",
            (mean - exact).abs() / se
        );
    }
}

#[test]
fn scaled_return_is_one_for_optimal_and_zero_for_uniform() {
    let mdp = random_mdp(5, 5, 3, 2, 0.9, true);
    let opt = policy_iteration(&mdp, &PiOptions::default()).unwrap();
    let s = scaled_return(&mdp, &opt.policy()).unwrap();
    assert!((s.scaled - 1.0).abs() < 1e-12, "{s:?}");
    let u = scaled_return(&mdp, &Policy::uniform(5, 3)).unwrap();
    assert!(u.scaled.abs() < 1e-12, "{u:?}");
    assert!(s.optimal > s.uniform);
}

#[test]
fn inputs_are_validated() {
    let mdp = random_mdp(1, 5, 3, 2, 0.9, false);
    assert!(matches!(evaluate_policy(&mdp, &Policy::uniform(4, 3)), Err(SolveError::Shape { .. })));
    assert!(matches!(evaluate_policy(&mdp, &Policy::uniform(5, 2)), Err(SolveError::Shape { .. })));
    assert!(matches!(
        evaluate_policy_with(&mdp, &Policy::uniform(5, 3), &[0.0; 3], 0.9),
        Err(SolveError::Shape { .. })
    ));
    assert!(evaluate_policy_with(&mdp, &Policy::uniform(5, 3), &[0.0; 15], 1.5).is_err());
    assert!(Policy::from_probs(1, 2, vec![0.5, 0.6]).is_err());
    assert!(Policy::from_probs(1, 2, vec![1.5, -0.5]).is_err());
    assert!(Policy::from_probs(1, 2, vec![0.5]).is_err());
    assert!(Policy::deterministic(&[0, 3], 3).is_err());
    assert!(soft_value_iteration(&mdp, 0.0, &ViOptions::default()).is_err());
    assert!(value_iteration(&mdp, &ViOptions { tol: 0.0, max_iters: 10 }).is_err());
    assert!(matches!(
        value_iteration(&mdp, &ViOptions { tol: 1e-12, max_iters: 3 }),
        Err(SolveError::NotConverged { iterations: 3, .. })
    ));
    let p = Policy::greedy(&[1.0, 2.0, 2.0, 0.0, 0.0, -1.0], 3);
    assert_eq!(p.as_deterministic(), Some(vec![1, 0]));
    let sm = Policy::softmax(&[0.0, 1000.0, 0.0, 0.0], 2, 1.0);
    assert!((sm.prob(0, 1) - 1.0).abs() < 1e-12 && (sm.prob(1, 0) - 0.5).abs() < 1e-15);
    assert_eq!(Policy::uniform(2, 2).as_deterministic(), None);
}
