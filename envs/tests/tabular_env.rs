//! `TabularEnv`: the Env contract, sampling frequencies, registry options.

use alignrl_envs::tabular::{DeliveryWorld, Gridworld, GridworldConfig, Move, TabularEnv, TrapGridworld};
use alignrl_envs::{Env, EnvError, EnvExt, Info, MakeError, OptionValue, errors_only, make, make_with};

#[test]
fn registered_envs_pass_check_env() {
    for id in ["DeliveryWorld-v0", "TrapGridworld-v0", "Gridworld-v0"] {
        let mut env = make(id).unwrap();
        let report = alignrl_envs::check_env(env.as_mut());
        let errors = errors_only(&report);
        assert!(errors.is_empty(), "{id}: {errors:?}");
        assert_eq!(env.observation_space().packed_len(), 1);
    }
    let mut env = make_with("Gridworld-v0", &[("slip", OptionValue::Float(0.3))]).unwrap();
    assert!(errors_only(&alignrl_envs::check_env(env.as_mut())).is_empty());
}

#[test]
fn spaces_names_and_render() {
    let mut env = make("DeliveryWorld-v0").unwrap();
    assert_eq!(env.observation_space().to_string(), "Discrete(100)");
    assert_eq!(env.action_space().to_string(), "Discrete(4)");
    assert_eq!(env.name(), "DeliveryWorld");
    let (obs, _) = env.reset_owned(Some(3)).unwrap();
    let frame = env.render().unwrap();
    let s = obs[0] as usize;
    assert_eq!(frame.lines().nth(s / 10).unwrap().chars().nth(s % 10), Some('@'), "{frame}");
    let env = make("TrapGridworld-v0").unwrap();
    assert_eq!(env.name(), "TrapGridworld");
}

#[test]
fn delivery_reset_samples_uniformly_over_start_states() {
    let world = DeliveryWorld::knox();
    let starts = world.start_states();
    let mut env = make("DeliveryWorld-v0").unwrap();
    let mut counts = [0usize; 100];
    let n = 92 * 200;
    env.reset_owned(Some(11)).unwrap();
    for _ in 0..n {
        let (obs, _) = env.reset_owned(None).unwrap();
        counts[obs[0] as usize] += 1;
    }
    for (s, &count) in counts.iter().enumerate() {
        if starts.contains(&s) {
            // Binomial(n, 1/92): mean 200, sd ≈ 14; allow 5 sd.
            assert!((count as f64 - 200.0).abs() < 5.0 * 14.1, "state {s}: {count}");
        } else {
            assert_eq!(count, 0, "state {s} is not a start state");
        }
    }
}

#[test]
fn step_follows_the_model_and_reports_reward_and_termination() {
    let world = DeliveryWorld::knox();
    let (mdp, layout) = world.clone().into_parts();
    let mut env = TabularEnv::new(mdp, "delivery").with_layout(layout);
    let mut obs = [0.0];
    let mut info = Info::new();
    env.reset(Some(0), &mut obs, &mut info).unwrap();
    // Walk from (7,9) down into the goal at (8,9).
    env.set_state(world.state(7, 9), &mut obs).unwrap();
    let step = env.step(&[Move::Down.index() as f64], &mut obs, &mut info).unwrap();
    assert_eq!(obs[0] as usize, world.state(8, 9));
    assert_eq!(step.reward, 50.0);
    assert!(step.terminated && !step.truncated);
    assert!(matches!(env.step(&[0.0], &mut obs, &mut info), Err(EnvError::NeedsReset(_))));
    // Bumping into the house at (6,1) from (6,0) stays, costs 1.
    env.set_state(world.state(6, 0), &mut obs).unwrap();
    let step = env.step(&[Move::Right.index() as f64], &mut obs, &mut info).unwrap();
    assert_eq!((obs[0] as usize, step.reward, step.terminated), (world.state(6, 0), -1.0, false));
}

#[test]
fn invalid_actions_and_buffers_are_errors() {
    let mut env = TabularEnv::new(TrapGridworld::new().mdp().clone(), "trap");
    let mut obs = [0.0];
    let mut info = Info::new();
    assert!(matches!(env.step(&[0.0], &mut obs, &mut info), Err(EnvError::NeedsReset(_))));
    assert!(env.render().is_none());
    env.reset(Some(1), &mut obs, &mut info).unwrap();
    for bad in [[4.0], [-1.0], [0.5], [f64::NAN]] {
        assert!(
            matches!(env.step(&bad, &mut obs, &mut info), Err(EnvError::InvalidAction { .. })),
            "{bad:?}"
        );
    }
    assert!(matches!(env.step(&[0.0, 1.0], &mut obs, &mut info), Err(EnvError::InvalidAction { .. })));
    let mut long = [0.0; 2];
    assert!(matches!(env.reset(None, &mut long, &mut info), Err(EnvError::BufferLength { .. })));
    assert!(env.set_state(25, &mut obs).is_err());
    assert_eq!(env.render().as_deref(), Some("state 0"));
}

#[test]
fn sampled_transitions_match_the_slippery_model() {
    let cfg = GridworldConfig { slip: 0.3, ..Default::default() };
    let g = Gridworld::from_ascii("....\n.#..\n...G", cfg).unwrap();
    let (mdp, layout) = g.clone().into_parts();
    let mut env = TabularEnv::new(mdp.clone(), "grid").with_layout(layout);
    let mut obs = [0.0];
    let mut info = Info::new();
    env.reset(Some(5), &mut obs, &mut info).unwrap();
    let s = g.state(1, 2).unwrap();
    let n = 20_000;
    for a in 0..4 {
        let mut counts = vec![0usize; mdp.n_states()];
        for _ in 0..n {
            env.set_state(s, &mut obs).unwrap();
            env.step(&[a as f64], &mut obs, &mut info).unwrap();
            counts[obs[0] as usize] += 1;
        }
        for (next, &c) in counts.iter().enumerate() {
            let p = mdp.p(s, a, next);
            let sd = (n as f64 * p * (1.0 - p)).sqrt();
            // Within 5 binomial standard deviations (and exactly 0 where p = 0).
            assert!((c as f64 - n as f64 * p).abs() <= 5.0 * sd, "a={a} s'={next}: {c} vs p={p}");
        }
    }
}

#[test]
fn same_seed_same_trajectory() {
    let run = |seed| {
        let mut env = make_with("Gridworld-v0", &[("slip", OptionValue::Float(0.5))]).unwrap();
        let mut obs = [0.0];
        let mut info = Info::new();
        env.reset(Some(seed), &mut obs, &mut info).unwrap();
        let mut traj = vec![obs[0]];
        for t in 0..50 {
            let st = env.step(&[(t % 4) as f64], &mut obs, &mut info).unwrap();
            traj.push(obs[0]);
            if st.done() {
                break;
            }
        }
        traj
    };
    assert_eq!(run(9), run(9));
}

#[test]
fn trap_env_reports_reward_components_in_info() {
    let mut env = make_with("TrapGridworld-v0", &[("aux_weight", OptionValue::Float(1.0))]).unwrap();
    let (obs, _) = env.reset_owned(Some(0)).unwrap();
    assert_eq!(obs, vec![0.0]);
    let t = env.step_owned(&[Move::Right.index() as f64]).unwrap();
    assert_eq!(t.obs, vec![1.0]);
    assert!((t.reward - 0.2).abs() < 1e-15);
    assert_eq!(t.info.get("aux_reward"), Some(0.2));
    assert_eq!(t.info.get("primary_reward"), Some(0.0));
    let t = env.step_owned(&[Move::Down.index() as f64]).unwrap();
    assert_eq!(t.info.get("aux_reward"), Some(0.0));
    // Default weights: primary only.
    let mut env = make("TrapGridworld-v0").unwrap();
    env.reset_owned(Some(0)).unwrap();
    let t = env.step_owned(&[Move::Right.index() as f64]).unwrap();
    assert_eq!((t.reward, t.info.get("aux_reward")), (0.0, Some(0.2)));
}

#[test]
fn time_limits_and_options() {
    let mut env = make("Gridworld-v0").unwrap();
    env.reset_owned(Some(0)).unwrap();
    let mut steps = 0;
    loop {
        let t = env.step_owned(&[Move::Up.index() as f64]).unwrap(); // bumps forever
        steps += 1;
        if t.truncated {
            break;
        }
    }
    assert_eq!(steps, 100);

    let mut env = make_with(
        "Gridworld-v0",
        &[("map", OptionValue::Str("SG".into())), ("step_reward", OptionValue::Float(-0.5))],
    )
    .unwrap();
    env.reset_owned(Some(0)).unwrap();
    let t = env.step_owned(&[Move::Right.index() as f64]).unwrap();
    assert!(t.terminated);
    assert_eq!(t.reward, 0.5);
}

fn bad_option(id: &str, opts: &[(&str, OptionValue)]) -> String {
    match make_with(id, opts) {
        Err(MakeError::BadOption { option, .. }) => option,
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("{opts:?} was accepted"),
    }
}

#[test]
fn construction_errors_name_the_option() {
    assert_eq!(bad_option("Gridworld-v0", &[("map", OptionValue::Str("S.?".into()))]), "map");
    assert_eq!(bad_option("Gridworld-v0", &[("map", OptionValue::Str("S../.G".into()))]), "map");
    assert_eq!(bad_option("Gridworld-v0", &[("slip", OptionValue::Float(1.5))]), "slip");
    assert_eq!(bad_option("Gridworld-v0", &[("gamma", OptionValue::Float(-0.5))]), "gamma");
    assert_eq!(bad_option("Gridworld-v0", &[("slip", OptionValue::Str("x".into()))]), "slip");
    let e = make_with("Gridworld-v0", &[("map", OptionValue::Str("S.?".into()))]).err().unwrap();
    assert!(e.to_string().contains("'?'"), "{e}");
    let reg = alignrl_envs::Registry::builtin();
    let env = reg
        .make_from_strings("Gridworld-v0", &[("map".into(), "S.#/..G".into()), ("slip".into(), "0.1".into())])
        .unwrap();
    assert_eq!(env.observation_space().to_string(), "Discrete(5)");
}
