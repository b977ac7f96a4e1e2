//! Tabular MDP models: validation, the gridworld builder, the delivery world (Knox's reward
//! table reproduced exactly) and the trap gridworld.

use alignrl_envs::tabular::{
    DeliveryWorld, Entity, GridLayout, Gridworld, GridworldConfig, KNOX_REWARDS_JSON, MdpError, MdpParts,
    Move, TabularMdp, TrapGridworld,
};

/// A 3-state chain: 0 -> 1 -> 2 (terminal), one feature, γ = 0.9.
fn chain_parts() -> MdpParts {
    let (ns, na) = (3, 2);
    let mut transitions = vec![0.0; ns * na * ns];
    // action 0: forward, action 1: stay
    for s in 0..ns {
        transitions[(s * na) * ns + (s + 1).min(2)] = 1.0;
        transitions[(s * na + 1) * ns + s] = 1.0;
    }
    MdpParts {
        n_states: ns,
        n_actions: na,
        transitions,
        n_features: 1,
        features: vec![1.0, 0.5, 2.0, 0.5, 7.0, 7.0],
        weights: vec![2.0],
        feature_names: vec![],
        gamma: 0.9,
        start: vec![1.0, 0.0, 0.0],
        terminal: vec![false, false, true],
    }
}

#[test]
fn valid_mdp_has_expected_accessors_and_terminal_convention() {
    let mdp = TabularMdp::new(chain_parts()).unwrap();
    assert_eq!((mdp.n_states(), mdp.n_actions(), mdp.n_features()), (3, 2, 1));
    assert_eq!(mdp.feature_names(), ["f0"]);
    assert_eq!(mdp.reward(0, 0), 2.0);
    assert_eq!(mdp.reward(1, 1), 1.0);
    // The terminal state's features (7.0) were replaced by zeros and its rows by self-loops.
    assert_eq!(mdp.feature(2, 0), [0.0]);
    assert_eq!(mdp.reward(2, 1), 0.0);
    assert_eq!(mdp.transition_row(2, 0), [0.0, 0.0, 1.0]);
    assert_eq!(mdp.successors(0, 0).collect::<Vec<_>>(), vec![(1, 1.0)]);
    assert_eq!(mdp.rewards_for(&[1.0]).unwrap(), vec![1.0, 0.5, 2.0, 0.5, 0.0, 0.0]);
    let mdp2 = mdp.clone().with_weights(&[-1.0]).unwrap();
    assert_eq!(mdp2.rewards(), [-1.0, -0.5, -2.0, -0.5, 0.0, 0.0]);
    assert!(mdp.to_string().contains("3 states"));
}

#[test]
fn validation_errors_are_specific() {
    let mut p = chain_parts();
    p.transitions[1] = 0.9; // row (0, 0) = [0, 0.9, 0]
    assert!(matches!(TabularMdp::new(p), Err(MdpError::RowSum { state: 0, action: 0, .. })));

    let mut p = chain_parts();
    p.transitions[1] = 1.5;
    p.transitions[0] = -0.5;
    assert!(matches!(TabularMdp::new(p), Err(MdpError::BadProbability { state: 0, action: 0, next: 0, .. })));

    let mut p = chain_parts();
    p.gamma = 1.01;
    assert_eq!(TabularMdp::new(p), Err(MdpError::Gamma(1.01)));
    let mut p = chain_parts();
    p.gamma = f64::NAN;
    assert!(matches!(TabularMdp::new(p), Err(MdpError::Gamma(_))));

    let mut p = chain_parts();
    p.transitions.pop();
    assert!(matches!(TabularMdp::new(p), Err(MdpError::Size { what: "transitions", .. })));

    let mut p = chain_parts();
    p.weights = vec![1.0, 2.0];
    assert!(matches!(TabularMdp::new(p), Err(MdpError::Size { what: "weights", .. })));

    let mut p = chain_parts();
    p.features[3] = f64::INFINITY;
    assert!(matches!(TabularMdp::new(p), Err(MdpError::NonFinite { what: "features", index: 3 })));

    let mut p = chain_parts();
    p.start = vec![0.5, 0.0, 0.5];
    let e = TabularMdp::new(p).unwrap_err();
    assert!(e.to_string().contains("terminal state 2"), "{e}");

    let mut p = chain_parts();
    p.start = vec![0.5, 0.4, 0.0];
    assert!(matches!(TabularMdp::new(p), Err(MdpError::Start(_))));

    let mut p = chain_parts();
    p.n_states = 0;
    assert!(matches!(TabularMdp::new(p), Err(MdpError::Empty { .. })));

    let mut mdp = TabularMdp::new(chain_parts()).unwrap();
    assert!(mdp.set_gamma(-0.1).is_err());
    assert!(mdp.set_gamma(1.0).is_ok());
    assert!(mdp.set_weights(&[f64::NAN]).is_err());
    assert!(mdp.set_weights(&[1.0, 1.0]).is_err());
}

#[test]
fn row_sum_tolerance_is_1e_9() {
    let mut p = chain_parts();
    p.transitions[1] = 1.0 + 5e-10;
    assert!(TabularMdp::new(p).is_ok());
    let mut p = chain_parts();
    p.transitions[1] = 1.0 + 5e-9;
    assert!(TabularMdp::new(p).is_err());
}

#[test]
fn delivery_reward_table_is_reproduced_exactly() {
    let world = DeliveryWorld::knox();
    let table: Vec<Vec<Vec<f64>>> = serde_json::from_str(KNOX_REWARDS_JSON).unwrap();
    assert_eq!((table.len(), table[0].len(), table[0][0].len()), (10, 10, 4));
    let mdp = world.mdp();
    let mut mismatches = Vec::new();
    for (r, row) in table.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            for (a, &expected) in cell.iter().enumerate() {
                let got = mdp.reward(world.state(r, c), a);
                if got != expected {
                    mismatches
                        .push(format!("({r},{c}) {}: got {got}, table {expected}", Move::ALL[a].name()));
                }
            }
        }
    }
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
}

#[test]
fn delivery_world_structure() {
    let world = DeliveryWorld::knox();
    let mdp = world.mdp();
    assert_eq!((world.rows(), world.cols()), (10, 10));
    assert_eq!((mdp.n_states(), mdp.n_actions(), mdp.n_features()), (100, 4, 6));
    assert_eq!(mdp.gamma(), 0.999);
    assert_eq!(mdp.weights(), DeliveryWorld::TRUE_WEIGHTS);
    assert_eq!(mdp.feature_names(), DeliveryWorld::FEATURE_NAMES);
    assert_eq!(world.true_weights(), [-1.0, 50.0, -50.0, 1.0, -1.0, -2.0]);
    assert_eq!(world.start_states().len(), 92);
    assert!(world.start_states().iter().all(|&s| (mdp.start()[s] - 1.0 / 92.0).abs() < 1e-15));
    // 1 goal (mud+goal at (8,9)) and 4 sheep are terminal; 3 houses.
    assert_eq!(mdp.terminal().iter().filter(|t| **t).count(), 5);
    assert_eq!(world.entity(8, 9), Entity::MudGoal);
    assert!(mdp.is_terminal(world.state(8, 9)) && mdp.is_terminal(world.state(2, 2)));
    assert_eq!(world.entity(7, 7), Entity::MudCoin);
    let houses: Vec<usize> = (0..100).filter(|&s| world.board()[s / 10][s % 10].is_blocking()).collect();
    assert_eq!(houses, vec![34, 61, 65]);
    // Transitions are deterministic and never enter a house.
    for s in 0..100 {
        for a in 0..4 {
            let succ: Vec<(usize, f64)> = mdp.successors(s, a).collect();
            assert_eq!(succ.len(), 1);
            assert!(!houses.contains(&succ[0].0) || succ[0].0 == s);
            assert!(mdp.feature(s, a).iter().all(|&x| x == 0.0 || x == 1.0));
        }
    }
    // Action order: from (0,4), down enters the coin at (1,4); right from (0,1) enters the road block.
    assert_eq!(mdp.successors(world.state(0, 4), Move::Down.index()).next().unwrap().0, world.state(1, 4));
    assert_eq!(mdp.feature(world.state(0, 4), 1), [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
    assert_eq!(mdp.feature(world.state(0, 1), 3), [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    // Bumps: into the house from mud (6,0) -> gas; into the edge from mud (6,0) -> mud.
    assert_eq!(mdp.feature(world.state(6, 0), Move::Right.index()), [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(mdp.feature(world.state(6, 0), Move::Left.index()), [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    // Entering mud+coin: mud + coin.
    assert_eq!(mdp.feature(world.state(7, 6), Move::Right.index()), [0.0, 0.0, 0.0, 1.0, 0.0, 1.0]);
    let text = world.render(Some(0));
    assert_eq!(text.lines().count(), 10);
    assert!(text.starts_with("@.r"), "{text}");
}

#[test]
fn delivery_board_json_errors() {
    assert!(DeliveryWorld::from_board_json("[[0, 1], [0]]").is_err());
    assert!(DeliveryWorld::from_board_json("[[0, 12]]").is_err());
    assert!(DeliveryWorld::from_board_json("[[0, 1.5]]").is_err());
    assert!(DeliveryWorld::from_board_json("[[1, 3]]").is_err()); // no start cell
    assert!(DeliveryWorld::from_board_json("{}").is_err());
    let w = DeliveryWorld::from_board_json("[[0, 1.0], [2, 4]]").unwrap();
    assert_eq!(w.start_states(), vec![0, 3]);
}

#[test]
fn gridworld_parses_map_and_builds_deterministic_dynamics() {
    let g = Gridworld::from_ascii("S.#\n.aG\n X.", GridworldConfig::default());
    assert!(g.is_err(), "a space inside a row is an unknown character");
    let g = Gridworld::from_ascii("  S.# / .aG / .X. ", GridworldConfig::default()).unwrap();
    let mdp = g.mdp();
    let l = g.layout();
    assert_eq!((l.rows(), l.cols(), mdp.n_states()), (3, 3, 8));
    assert_eq!(mdp.feature_names(), ["goal", "pit", "step", "a"]);
    assert_eq!(mdp.weights(), [1.0, -1.0, 0.0, 0.0]);
    assert_eq!(g.state(0, 2), None);
    assert_eq!(g.state(1, 2), Some(4));
    for s in 0..mdp.n_states() {
        let (r, c) = g.cell(s);
        assert_eq!(g.state(r, c), Some(s));
    }
    let (s0, goal, pit, a_cell) = (g.state(0, 0).unwrap(), 4, g.state(2, 1).unwrap(), g.state(1, 1).unwrap());
    assert_eq!(mdp.start()[s0], 1.0);
    assert!(mdp.is_terminal(goal) && mdp.is_terminal(pit));
    // Up from the start bumps the border; right from (0,1) bumps the wall.
    assert_eq!(mdp.p(s0, Move::Up.index(), s0), 1.0);
    let s01 = g.state(0, 1).unwrap();
    assert_eq!(mdp.p(s01, Move::Right.index(), s01), 1.0);
    // Right from the feature cell enters the goal.
    assert_eq!(mdp.feature(a_cell, Move::Right.index()), [1.0, 0.0, 1.0, 0.0]);
    assert_eq!(mdp.reward(a_cell, Move::Right.index()), 1.0);
    // Down from (0,1) enters the feature cell a; down from a enters the pit.
    assert_eq!(mdp.feature(s01, Move::Down.index()), [0.0, 0.0, 1.0, 1.0]);
    assert_eq!(mdp.feature(a_cell, Move::Down.index()), [0.0, 1.0, 1.0, 0.0]);
    assert_eq!(g.render(Some(s0)), "@.#\n.aG\n.X.\n");
    assert_eq!(g.render(None), "S.#\n.aG\n.X.\n");
}

#[test]
fn gridworld_slip_splits_probability_to_perpendicular_moves() {
    let cfg = GridworldConfig { slip: 0.2, step_reward: -0.1, ..Default::default() };
    let g = Gridworld::from_ascii("...\n...\n..G", cfg).unwrap();
    let mdp = g.mdp();
    let centre = g.state(1, 1).unwrap();
    let row = mdp.transition_row(centre, Move::Right.index());
    assert!((row[g.state(1, 2).unwrap()] - 0.8).abs() < 1e-15);
    assert!((row[g.state(0, 1).unwrap()] - 0.1).abs() < 1e-15);
    assert!((row[g.state(2, 1).unwrap()] - 0.1).abs() < 1e-15);
    // From (1,2) going down: goal with 0.8; slipping right bumps the border (stays), left goes to centre.
    let s12 = g.state(1, 2).unwrap();
    let goal = g.state(2, 2).unwrap();
    assert!((mdp.p(s12, Move::Down.index(), goal) - 0.8).abs() < 1e-15);
    assert!((mdp.p(s12, Move::Down.index(), s12) - 0.1).abs() < 1e-15);
    assert!((mdp.feature(s12, Move::Down.index())[0] - 0.8).abs() < 1e-15);
    assert!((mdp.reward(s12, Move::Down.index()) - (0.8 - 0.1)).abs() < 1e-15);
    // No S: every non-terminal cell starts, uniformly.
    assert!(mdp.start().iter().enumerate().all(|(s, &p)| if s == goal { p == 0.0 } else { p == 1.0 / 8.0 }));
}

#[test]
fn gridworld_errors_name_the_problem() {
    let cfg = GridworldConfig::default();
    let e = Gridworld::from_ascii("S.?/..G", cfg).unwrap_err();
    assert!(e.to_string().contains("'?'") && e.to_string().contains("row 0"), "{e}");
    let e = Gridworld::from_ascii("S../..", cfg).unwrap_err();
    assert!(e.to_string().contains("same length"), "{e}");
    assert!(Gridworld::from_ascii("", cfg).is_err());
    assert!(Gridworld::from_ascii("##/##", cfg).is_err());
    assert!(Gridworld::from_ascii("GX", cfg).is_err());
    assert!(Gridworld::from_ascii("S.G", GridworldConfig { slip: 1.5, ..cfg }).is_err());
    assert!(Gridworld::from_ascii("S.G", GridworldConfig { gamma: 2.0, ..cfg }).is_err());
}

#[test]
fn grid_layout_validates_states() {
    assert!(GridLayout::new(1, 2, vec!['.', '.'], vec![Some(0), Some(0)]).is_err());
    assert!(GridLayout::new(1, 2, vec!['.', '.'], vec![Some(0), Some(2)]).is_err());
    assert!(GridLayout::new(1, 2, vec!['.'], vec![Some(0), Some(1)]).is_err());
    let l = GridLayout::new(1, 2, vec!['#', '.'], vec![None, Some(0)]).unwrap();
    assert_eq!((l.cell(0), l.state(0, 0), l.state(5, 5)), ((0, 1), None, None));
}

#[test]
fn move_helpers() {
    assert_eq!(Move::ALL.map(Move::index), [0, 1, 2, 3]);
    assert_eq!(Move::from_index(2), Some(Move::Left));
    assert_eq!(Move::from_index(4), None);
    assert_eq!(Move::Up.apply(0, 0, 3, 3), None);
    assert_eq!(Move::Right.apply(0, 2, 3, 3), None);
    assert_eq!(Move::Down.apply(0, 2, 3, 3), Some((1, 2)));
}

#[test]
fn trap_world_features_and_rewards() {
    let trap = TrapGridworld::new();
    let mdp = trap.mdp();
    assert_eq!((mdp.n_states(), mdp.n_actions(), mdp.gamma()), (25, 4, 0.99));
    assert_eq!(mdp.feature_names(), ["primary", "aux"]);
    assert_eq!(mdp.weights(), [1.0, 0.0]);
    let (s0, d, g) = (trap.state(0, 0), trap.state(0, 1), trap.state(4, 4));
    assert_eq!(mdp.start()[s0], 1.0);
    assert!(mdp.is_terminal(g));
    assert_eq!(mdp.terminal().iter().filter(|t| **t).count(), 1);
    // Entering D from the start, staying in D by bumping the top border: aux 0.2 each.
    assert_eq!(mdp.feature(s0, Move::Right.index()), [0.0, 0.2]);
    assert_eq!(mdp.feature(d, Move::Up.index()), [0.0, 0.2]);
    assert_eq!(mdp.feature(d, Move::Down.index()), [0.0, 0.0]);
    // Entering the goal: primary 1.
    let above = trap.state(3, 4);
    assert_eq!(mdp.feature(above, Move::Down.index()), [1.0, 0.0]);
    assert_eq!(mdp.reward(above, Move::Down.index()), 1.0);
    assert_eq!(mdp.reward(d, Move::Up.index()), 0.0);
    let naive = TrapGridworld::with_weights([1.0, 1.0]).unwrap();
    assert!((naive.mdp().reward(d, Move::Up.index()) - 0.2).abs() < 1e-15);
    assert_eq!(trap.aux_rewards(), naive.mdp().rewards_for(&[0.0, 1.0]).unwrap());
    let primary_total: f64 = trap.primary_rewards().iter().sum();
    assert_eq!(primary_total, 2.0); // from (3,4) down and from (4,3) right
    assert_eq!(trap.render(Some(s0)).lines().next(), Some("@d..."));
}

/// The embedded copy of Knox's data (`envs/data/knox/`) equals the project's shared copy, where
/// that exists beside the checkout (it does in CI).
#[test]
fn embedded_knox_data_matches_shared_copy() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/knox");
    if !shared.exists() {
        eprintln!("skipped: {} not present", shared.display());
        return;
    }
    for (name, embedded) in [
        ("delivery_board.json", alignrl_envs::tabular::KNOX_BOARD_JSON),
        ("delivery_rewards_function.json", alignrl_envs::tabular::KNOX_REWARDS_JSON),
    ] {
        let on_disk = std::fs::read_to_string(shared.join(name)).unwrap();
        assert_eq!(on_disk, embedded, "{name} differs from the shared copy");
    }
}
