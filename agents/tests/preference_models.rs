//! The MLP Bradley–Terry model (burn) and the ensemble with disagreement-based query selection.

use alignrl_agents::backend::CpuAutodiff;
use alignrl_agents::preference::*;
use alignrl_envs::tabular::{DeliveryWorld, TabularMdp};

fn labelled(mdp: &TabularMdp, n: usize, seed: u64, config: TeacherConfig) -> Vec<PreferencePair> {
    let raw = sample_segment_pairs_seeded(mdp, n, 3, ActionSource::Uniform, seed).unwrap();
    ScriptedTeacher::new(mdp, config, seed).unwrap().label_pairs(raw).unwrap()
}

/// Fraction of pairs with a strict true preference that the model orders the same way.
fn accuracy(model: &dyn RewardModel, pairs: &[PreferencePair]) -> f64 {
    let strict: Vec<_> = pairs.iter().filter(|p| p.label() != 0.5).collect();
    let right = strict
        .iter()
        .filter(|p| (model.prob(p.left(), p.right()).unwrap() > 0.5) == (p.label() > 0.5))
        .count();
    right as f64 / strict.len() as f64
}

#[test]
fn mlp_bradley_terry_model_learns_partial_return_preferences() {
    let world = DeliveryWorld::knox();
    let mdp = world.mdp();
    // Soft labels σ(ΔR) from the true partial return; rational labels for testing.
    let soft = TeacherConfig {
        beta: 1.0,
        sample: false,
        ties: TieMode::Half,
        ..TeacherConfig::knox(LabelModel::PartialReturn)
    };
    let train = labelled(mdp, 200, 1, soft);
    let test = labelled(mdp, 300, 2, TeacherConfig::rational(LabelModel::PartialReturn));
    let device = Default::default();
    let mut model = MlpBtModel::<CpuAutodiff>::new(6, &[16], 3, &device).unwrap();
    let before = model.loss(&train).unwrap();
    let acc_before = accuracy(&model, &test);
    let cfg = TrainConfig { epochs: 100, lr: 0.03, batch_size: 0, ..TrainConfig::default() };
    let summary = model.fit(&train, &cfg).unwrap();
    let after = model.loss(&train).unwrap();
    let acc = accuracy(&model, &test);
    eprintln!(
        "MLP loss {before:.4} → {after:.4} (best {:.4}), held-out accuracy {acc_before:.3} → {acc:.3}",
        summary.best_loss
    );
    assert!((after - summary.best_loss).abs() < 1e-4, "keeps the best-loss network");
    assert!(after < before - 0.1, "loss {before} → {after}");
    assert!(acc >= 0.9, "held-out accuracy {acc}");
    // Minibatch training runs too, and the reward table is batched consistently.
    let mut mb = MlpBtModel::<CpuAutodiff>::new(6, &[8], 4, &device).unwrap();
    mb.fit(&train[..100], &TrainConfig { epochs: 3, lr: 0.01, batch_size: 32, ..TrainConfig::default() })
        .unwrap();
    let table = mb.reward_table(mdp);
    let s = world.start_states()[5];
    assert!((table[s * 4 + 2] - mb.step_reward(s, 2, mdp.feature(s, 2))).abs() < 1e-5);
    // Bad inputs are errors.
    assert!(MlpBtModel::<CpuAutodiff>::new(0, &[8], 0, &device).is_err());
    assert!(mb.fit(&[], &TrainConfig::default()).is_err());
}

#[test]
fn ensemble_disagreement_selects_queries() {
    let world = DeliveryWorld::knox();
    let mdp = world.mdp();
    let train = labelled(mdp, 60, 5, TeacherConfig::knox(LabelModel::PartialReturn));
    let cfg = TrainConfig { epochs: 200, lr: 0.1, ..TrainConfig::default() };
    let mut ens = Ensemble::new(vec![LinearBtModel::new(6); 4]).unwrap();
    ens.fit(&train, &cfg).unwrap();
    let candidates = sample_segment_pairs_seeded(mdp, 50, 3, ActionSource::Uniform, 9).unwrap();
    let d: Vec<f64> = candidates.iter().map(|(l, r)| ens.disagreement(l, r).unwrap()).collect();
    assert!(d.iter().any(|&x| x > 1e-3), "bootstrap members disagree somewhere");
    let picked = ens.select_queries(&candidates, 5).unwrap();
    let mut order: Vec<usize> = (0..d.len()).collect();
    order.sort_by(|&a, &b| d[b].total_cmp(&d[a]).then(a.cmp(&b)));
    assert_eq!(picked, order[..5]);
    // The ensemble's probability is that of its mean score.
    let (l, r) = &candidates[0];
    let mean_w: Vec<f64> =
        (0..6).map(|i| ens.members().iter().map(|m| m.weights()[i]).sum::<f64>() / 4.0).collect();
    let p = LinearBtModel::with_weights(mean_w).unwrap().prob(l, r).unwrap();
    assert!((ens.prob(l, r).unwrap() - p).abs() < 1e-12);
    // Identical members trained on the same data agree exactly.
    let mut same = Ensemble::new(vec![LinearBtModel::new(6); 3]).unwrap().without_bootstrap();
    same.fit(&train, &TrainConfig { seed: 0, ..cfg }).unwrap();
    assert!(candidates.iter().all(|(l, r)| same.disagreement(l, r).unwrap() < 1e-12));
    assert!(Ensemble::<LinearBtModel>::new(vec![]).is_err());
}
