//! Preference learning: the paper's Figure 1 example, gradients against finite differences,
//! malformed preference files, teachers' noise modes, and a reduced learning check on the
//! delivery world (Knox et al., methods.md §3.5).

use std::sync::Arc;

use alignrl_agents::preference::*;
use alignrl_envs::tabular::{DeliveryWorld, Gridworld, GridworldConfig, TabularMdp};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// A 1×5 corridor `....G`, −1 per step, γ = 1: `V*(i) = −(4 − i)`.
fn corridor() -> TabularMdp {
    let cfg = GridworldConfig { slip: 0.0, gamma: 1.0, goal_reward: 0.0, pit_reward: 0.0, step_reward: -1.0 };
    Gridworld::from_ascii("....G", cfg).unwrap().mdp().clone()
}

fn seg_from(mdp: &TabularMdp, start: usize, actions: &[usize]) -> Segment {
    let mut states = vec![start];
    let mut feats = Vec::new();
    let mut s = start;
    for &a in actions {
        feats.extend_from_slice(mdp.feature(s, a));
        s = mdp.successors(s, a).next().unwrap().0;
        states.push(s);
    }
    Segment::new(states, actions.to_vec(), feats, mdp.n_features()).unwrap()
}

const RIGHT: usize = 3;
const LEFT: usize = 2;

#[test]
fn figure1_partial_return_is_half_regret_is_logistic_of_the_gap() {
    let mdp = corridor();
    // From cell 1 (V* = −3): right, right (optimal, ends at V* = −1) versus right, left (back to 1).
    let optimal = seg_from(&mdp, 1, &[RIGHT, RIGHT]);
    let detour = seg_from(&mdp, 1, &[RIGHT, LEFT]);
    let w = mdp.weights().to_vec();
    assert_eq!(optimal.partial_return(&w), -2.0);
    assert_eq!(detour.partial_return(&w), -2.0);

    let soft =
        |model| TeacherConfig { beta: 1.0, sample: false, ties: TieMode::Half, ..TeacherConfig::knox(model) };
    let pr = ScriptedTeacher::new(&mdp, soft(LabelModel::PartialReturn), 0).unwrap();
    assert_eq!(pr.probability(&optimal, &detour).unwrap(), Some(0.5));
    let rg = ScriptedTeacher::new(&mdp, soft(LabelModel::Regret), 0).unwrap();
    assert_eq!(rg.v_star()[1], -3.0);
    assert_eq!(rg.score(&optimal).unwrap(), 0.0); // regret 0
    assert_eq!(rg.score(&detour).unwrap(), -2.0); // regret 2
    let p = rg.probability(&optimal, &detour).unwrap().unwrap();
    assert!((p - logistic(2.0)).abs() < 1e-12 && (p - 0.880_797_077_977_882_3).abs() < 1e-12, "{p}");

    // The reward models at the true weights agree.
    let lin = LinearBtModel::with_weights(w.clone()).unwrap();
    assert_eq!(lin.prob(&optimal, &detour).unwrap(), 0.5);
    let mut exact = RegretModel::exact(&mdp).unwrap();
    exact.set_params(&w).unwrap();
    assert!((exact.regret(&detour).unwrap() - 2.0).abs() < 1e-9);
    assert!((exact.prob(&optimal, &detour).unwrap() - logistic(2.0)).abs() < 1e-9);
    // A library holding the optimal policy gives the same (with γ = 1 in a corridor it is the
    // only deterministic policy with finite successor features).
    let opt_actions = solve_optimal(&mdp, None).unwrap().actions;
    assert!(PolicyLibrary::from_actions(&mdp, &[vec![LEFT; 5]]).is_err());
    let lib = Arc::new(PolicyLibrary::from_actions(&mdp, &[opt_actions]).unwrap());
    let mut soft_model = RegretModel::with_library(&mdp, lib, KNOX_TEMPERATURE).unwrap();
    soft_model.set_params(&w).unwrap();
    assert!((soft_model.prob(&optimal, &detour).unwrap() - logistic(2.0)).abs() < 1e-9);
}

fn delivery_pairs(n: usize, seed: u64) -> (TabularMdp, Vec<PreferencePair>) {
    let mdp = DeliveryWorld::knox().mdp().clone();
    let mut rng = Pcg64::seed_from_u64(seed);
    let raw = sample_segment_pairs(&mdp, n, 3, ActionSource::Uniform, &mut rng).unwrap();
    // Soft labels in (0, 1) exercise both terms of the loss.
    let pairs =
        raw.into_iter().map(|(l, r)| PreferencePair::new(l, r, rng.random::<f64>()).unwrap()).collect();
    (mdp, pairs)
}

fn assert_grad_matches(model: &mut dyn DifferentiableModelDyn, pairs: &[PreferencePair], h: f64, rtol: f64) {
    let (analytic, numeric) = model.grads(pairs, h);
    let scale = numeric.iter().fold(1e-8f64, |m, x| m.max(x.abs()));
    for (i, (a, n)) in analytic.iter().zip(&numeric).enumerate() {
        assert!((a - n).abs() <= rtol * scale, "∂L/∂θ[{i}]: analytic {a}, finite difference {n}");
    }
}

/// Object-safe helper over the generic gradient functions.
trait DifferentiableModelDyn {
    fn grads(&mut self, pairs: &[PreferencePair], h: f64) -> (Vec<f64>, Vec<f64>);
}
impl<M: DifferentiableModel> DifferentiableModelDyn for M {
    fn grads(&mut self, pairs: &[PreferencePair], h: f64) -> (Vec<f64>, Vec<f64>) {
        let mut g = vec![0.0; self.params().len()];
        self.loss_and_grad(pairs, &mut g).unwrap();
        (g, finite_difference_grad(self, pairs, h).unwrap())
    }
}

#[test]
fn partial_return_gradient_matches_finite_differences() {
    let (_, pairs) = delivery_pairs(200, 1);
    let mut m = LinearBtModel::with_weights(vec![-0.7, 3.0, -2.5, 0.4, -0.3, -1.1]).unwrap();
    assert_grad_matches(&mut m, &pairs, 1e-6, 1e-6);
}

#[test]
fn regret_gradients_match_finite_differences() {
    let (mdp, pairs) = delivery_pairs(200, 2);
    let w = [-0.6, 2.0, -1.7, 0.5, -0.4, -0.9];
    let lib = Arc::new(PolicyLibrary::from_random_rewards(&mdp, 40, &KNOX_DELIVERY_VALUES, 7).unwrap());
    assert!(lib.len() > 5, "library has {} policies", lib.len());
    // A smooth temperature (the soft-max term of the gradient matters) and Knox's T = 0.001.
    for (t, h) in [(0.5, 1e-6), (KNOX_TEMPERATURE, 1e-9)] {
        let mut m = RegretModel::with_library(&mdp, lib.clone(), t).unwrap();
        m.set_params(&w).unwrap();
        assert_grad_matches(&mut m, &pairs, h, 1e-5);
    }
    // Exact V*: the envelope theorem (piecewise linear in w; generic w is away from the kinks).
    let mut m = RegretModel::exact(&mdp).unwrap();
    m.set_params(&w).unwrap();
    assert_grad_matches(&mut m, &pairs, 1e-6, 1e-6);
    // Exact V* is the true optimal value.
    let truth = solve_optimal(&mdp.clone().with_weights(&w).unwrap(), None).unwrap();
    for s in 0..mdp.n_states() {
        assert!((m.values()[s] - truth.v[s]).abs() < 1e-6 * (1.0 + truth.v[s].abs()));
    }
}

#[test]
fn malformed_preference_files_name_line_and_field() {
    let seg = r#"{"states":[0,1],"actions":[3],"features":[[1,0]]}"#;
    let header = r#"{"schema":"alignrl-preferences","version":1,"n_features":2}"#;
    let good = format!(r#"{{"left":{seg},"right":{seg},"label":1}}"#);
    let cases = [
        (format!("{header}\n{good}\nnot json\n"), 3, "line"),
        (format!("{header}\n{good}\n\n{{\"left\":{seg},\"right\":{seg},\"label\":1.5}}\n"), 4, "label"),
        (format!("{header}\n{{\"left\":{seg},\"label\":0}}\n"), 2, "right"),
        (format!("{header}\n{}\n", good.replace("[[1,0]]", "[[1,0,2]]")), 2, "left.features[0]"),
        (format!("{header}\n{}\n", good.replace("[[1,0]]", "[[1,\"x\"]]")), 2, "left.features[0][1]"),
        (format!("{header}\n{}\n", good.replace("[0,1]", "[0,-1]")), 2, "left.states[1]"),
        (format!("{header}\n{}\n", good.replace("\"actions\":[3]", "\"actions\":[3,3]")), 2, "left.states"),
        (format!("{header}\n{{\"left\":{seg},\"right\":{seg}}}\n"), 2, "label"),
        (format!("{}\n{good}\n", header.replace("\"version\":1", "\"version\":7")), 1, "version"),
        (format!("{}\n", header.replace("alignrl-preferences", "other")), 1, "schema"),
        (String::new(), 1, "line"),
    ];
    for (text, line, field) in cases {
        match PreferenceDataset::from_jsonl(&text, "prefs.jsonl") {
            Err(PreferenceError::Parse { line: l, field: f, source_name, .. }) => {
                assert_eq!((l, f.as_str(), source_name.as_str()), (line, field, "prefs.jsonl"), "{text}");
            }
            other => panic!("expected a parse error at line {line} for {text:?}, got {other:?}"),
        }
    }
    let ok = PreferenceDataset::from_jsonl(&format!("{header}\n{good}\n\n{good}\n"), "x").unwrap();
    assert_eq!(ok.len(), 2);
    // A missing file is an I/O error naming the path; a saved file loads back.
    let dir = std::env::temp_dir().join(format!("alignrl-pref-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.jsonl");
    assert!(matches!(PreferenceDataset::load_jsonl(&missing), Err(PreferenceError::Io { .. })));
    let path = dir.join("ok.jsonl");
    ok.save_jsonl(&path).unwrap();
    assert_eq!(PreferenceDataset::load_jsonl(&path).unwrap(), ok);
    std::fs::write(&path, format!("{header}\n{good}\n{{\"left\":1}}\n")).unwrap();
    let err = PreferenceDataset::load_jsonl(&path).unwrap_err().to_string();
    assert!(err.contains("ok.jsonl:3") && err.contains("`left`"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn teacher_noise_modes() {
    let mdp = corridor();
    let optimal = seg_from(&mdp, 1, &[RIGHT, RIGHT]); // partial return −2, regret 0
    let detour = seg_from(&mdp, 1, &[RIGHT, LEFT]); // partial return −2, regret 2
    let short = seg_from(&mdp, 3, &[RIGHT, LEFT]); // enters the goal: partial return −1, regret 0
    let rational = TeacherConfig::rational(LabelModel::Regret);
    let mut t = ScriptedTeacher::new(&mdp, rational, 0).unwrap();
    assert_eq!(t.label(&optimal, &detour).unwrap(), Some(1.0));
    assert_eq!(t.label(&detour, &optimal).unwrap(), Some(0.0));
    assert_eq!(t.label(&optimal, &short).unwrap(), Some(0.5)); // equal regret
    // Equal threshold: gap 2 within threshold 2.5 → 0.5; skip mode drops it.
    let mut t = ScriptedTeacher::new(&mdp, TeacherConfig { equal_threshold: 2.5, ..rational }, 0).unwrap();
    assert_eq!(t.label(&optimal, &detour).unwrap(), Some(0.5));
    let cfg = TeacherConfig { equal_threshold: 2.5, ties: TieMode::Skip, ..rational };
    assert_eq!(ScriptedTeacher::new(&mdp, cfg, 0).unwrap().label(&optimal, &detour).unwrap(), None);
    // Skip: both partial returns (−2, −2) below −1.5 → skipped; (−1, −2) not.
    let cfg =
        TeacherConfig { skip_threshold: Some(-1.5), ..TeacherConfig::rational(LabelModel::PartialReturn) };
    let mut t = ScriptedTeacher::new(&mdp, cfg, 0).unwrap();
    assert_eq!(t.label(&optimal, &detour).unwrap(), None);
    assert_eq!(t.label(&short, &detour).unwrap(), Some(1.0));
    // Mistake ε = 1 flips every label.
    let mut t = ScriptedTeacher::new(&mdp, TeacherConfig { mistake: 1.0, ..rational }, 0).unwrap();
    assert_eq!(t.label(&optimal, &detour).unwrap(), Some(0.0));
    // Myopic γ: weights γ^{T−1−t}; the detour's regret steps are (0, −2): −2 · γ⁰ either way,
    // the short segment's partial return (−1, 0) becomes −γ.
    let cfg = TeacherConfig { gamma: 0.5, ..TeacherConfig::rational(LabelModel::PartialReturn) };
    let t = ScriptedTeacher::new(&mdp, cfg, 0).unwrap();
    assert_eq!(t.score(&short).unwrap(), -0.5);
    assert_eq!(t.score(&detour).unwrap(), -1.5);
    // Stochastic β: sampled labels have frequency logistic(β Δ).
    let cfg = TeacherConfig { beta: 0.5, ..TeacherConfig::knox(LabelModel::Regret) };
    let mut t = ScriptedTeacher::new(&mdp, cfg, 11).unwrap();
    let n = 20_000;
    let ones: f64 = (0..n).map(|_| t.label(&optimal, &detour).unwrap().unwrap()).sum();
    let p = logistic(0.5 * 2.0);
    let se = (p * (1.0 - p) / n as f64).sqrt();
    assert!((ones / n as f64 - p).abs() < 4.0 * se, "{} vs {p}", ones / n as f64);
    // Bad settings are errors, not panics.
    assert!(ScriptedTeacher::new(&mdp, TeacherConfig { mistake: 2.0, ..rational }, 0).is_err());
    assert!(ScriptedTeacher::new(&mdp, TeacherConfig { gamma: 0.0, ..rational }, 0).is_err());
    assert!(ScriptedTeacher::new(&mdp, TeacherConfig { beta: -1.0, ..rational }, 0).is_err());
}

#[test]
fn file_teacher_answers_recorded_labels() {
    let mdp = corridor();
    let a = seg_from(&mdp, 1, &[RIGHT, RIGHT]);
    let b = seg_from(&mdp, 1, &[RIGHT, LEFT]);
    let c = seg_from(&mdp, 0, &[LEFT, LEFT]);
    let mut d = PreferenceDataset::new(mdp.n_features(), vec![]).unwrap();
    d.push(PreferencePair::new(a.clone(), b.clone(), 1.0).unwrap()).unwrap();
    d.push(PreferencePair::new(a.clone(), b.clone(), 0.0).unwrap()).unwrap();
    d.push(PreferencePair::new(b.clone(), c.clone(), 0.8).unwrap()).unwrap();
    let text = d.to_jsonl();
    let mut t = FileTeacher::from_dataset(&PreferenceDataset::from_jsonl(&text, "human").unwrap());
    assert_eq!(t.len(), 2);
    assert_eq!(t.label(&a, &b).unwrap(), Some(0.5)); // two disagreeing humans
    assert!((t.label(&c, &b).unwrap().unwrap() - 0.2).abs() < 1e-12); // swapped
    assert!(matches!(t.label(&a, &c), Err(PreferenceError::Unlabelled(_))));
}

/// The §3.5 learning check, reduced for CI (2 seeds instead of 10; 1000 pairs, policy-library
/// model). The full check is `alignrl reproduce knox-regret --pairs 1000 --seeds 10 --domain
/// delivery --labels regret`.
#[test]
fn regret_model_learns_the_delivery_reward_from_regret_labels() {
    let world = DeliveryWorld::knox();
    let mdp = world.mdp();
    let lib = Arc::new(PolicyLibrary::from_random_rewards(mdp, 300, &KNOX_DELIVERY_VALUES, 0).unwrap());
    let base = Baselines::new(mdp).unwrap();
    let truth = DeliveryWorld::TRUE_WEIGHTS;
    let (mut mean_regret, mut mean_pr) = (0.0, 0.0);
    for seed in 0..2u64 {
        let mut rng = Pcg64::seed_from_u64(seed);
        let raw = sample_segment_pairs(mdp, 1000, 3, ActionSource::Uniform, &mut rng).unwrap();
        let mut teacher = ScriptedTeacher::new(mdp, TeacherConfig::knox(LabelModel::Regret), seed).unwrap();
        let pairs = teacher.label_pairs(raw).unwrap();
        let cfg = TrainConfig { seed, ..TrainConfig::default() };
        let mut regret = RegretModel::with_library(mdp, lib.clone(), KNOX_TEMPERATURE).unwrap();
        let summary = regret.fit(&pairs, &cfg).unwrap();
        let sr = scaled_return_of_model(mdp, &regret, &base).unwrap().scaled;
        let cos = cosine(regret.weights(), &truth);
        let mut pr = LinearBtModel::new(6);
        pr.fit(&pairs, &cfg).unwrap();
        let sr_pr = scaled_return_of_model(mdp, &pr, &base).unwrap().scaled;
        eprintln!(
            "seed {seed}: {} pairs, regret sr {sr:.3} cos {cos:.3} loss {:.4}, w {:?}; partial return sr {sr_pr:.3}",
            pairs.len(),
            summary.best_loss,
            regret.weights()
        );
        assert!(sr >= 0.9, "seed {seed}: regret scaled return {sr}");
        assert!(cos >= 0.95, "seed {seed}: cosine {cos}");
        mean_regret += sr / 2.0;
        mean_pr += sr_pr / 2.0;
    }
    assert!(mean_regret >= mean_pr, "regret mean {mean_regret} < partial-return mean {mean_pr}");
}
