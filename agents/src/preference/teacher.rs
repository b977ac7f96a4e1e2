//! Teachers: who labels a pair of segments.
//!
//! - [`ScriptedTeacher`]: a synthetic labeller that knows the true reward of a tabular MDP and
//!   prefers through a preference model ([`LabelModel::PartialReturn`] or
//!   [`LabelModel::Regret`]), with the B-Pref noise modes of Lee et al. 2021 ([`TeacherConfig`]).
//! - [`FileTeacher`]: answers from labels recorded in a preference file (e.g. human labels).

use std::collections::HashMap;

use alignrl_envs::tabular::TabularMdp;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::data::{PreferenceDataset, PreferenceError, PreferencePair, Segment, dot, invalid};
use super::regret::solve_optimal;

/// Labels pairs of segments.
pub trait Teacher {
    /// `P(left ≻ right) ∈ [0, 1]` as the teacher reports it (a hard 0/1 or a soft label), or
    /// `None` when the teacher skips the query.
    fn label(&mut self, left: &Segment, right: &Segment) -> Result<Option<f64>, PreferenceError>;

    /// Labels every pair, dropping skipped ones.
    fn label_pairs(
        &mut self,
        pairs: Vec<(Segment, Segment)>,
    ) -> Result<Vec<PreferencePair>, PreferenceError> {
        let mut out = Vec::with_capacity(pairs.len());
        for (l, r) in pairs {
            if let Some(y) = self.label(&l, &r)? {
                out.push(PreferencePair::new(l, r, y)?);
            }
        }
        Ok(out)
    }
}

/// The logistic function `1 / (1 + e^{−x})`, computed without overflow.
pub fn logistic(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The preference model a scripted teacher uses to score a segment `σ = (s_0, a_0, …, s_T)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelModel {
    /// Score = partial return `Σ_t r(s_t, a_t)` (undiscounted).
    PartialReturn,
    /// Score = negated deterministic regret `Σ_t r_t + V*(s_T) − V*(s_0)` (Knox et al.), with
    /// `V*` the optimal (γ-discounted) value of the true reward and `V*(terminal) = 0`.
    Regret,
}

/// What a teacher does with a tie (`|score(left) − score(right)| ≤ equal_threshold`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TieMode {
    /// Label 0.5 (B-Pref "equal").
    Half,
    /// Skip the query (Knox et al. drop ties by default).
    Skip,
}

/// A scripted teacher's preference model and B-Pref noise (Lee et al. 2021, "B-Pref").
///
/// The teacher's score of a segment is `Σ_t γ^{T−1−t} x_t` where `x_t = r(s_t, a_t)` (partial
/// return) or the advantage-like step `r_t + V*(s_{t+1}) − V*(s_t)` (regret, whose undiscounted sum
/// is `−regret(σ)`), and `γ` is the myopic discount (1 = not myopic; < 1 weighs the *later* steps
/// more, as B-Pref's myopic teacher). Then, in this order:
/// 1. skip: if `skip_threshold` is set and both scores are below it, the query is skipped;
/// 2. equal: if `|Δ| ≤ equal_threshold` the pair is a tie ([`TieMode`]);
/// 3. stochastic: `p = logistic(β Δ)` with `Δ = score(left) − score(right)`; `β = ∞` is the
///    rational teacher (`p ∈ {0, 1}`). With `sample` the label is a Bernoulli(p) draw (0 or 1),
///    otherwise `p` itself (a soft label);
/// 4. mistake: with probability `mistake` the label `y` becomes `1 − y`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TeacherConfig {
    /// The preference model.
    pub model: LabelModel,
    /// Inverse temperature `β ≥ 0` (`f64::INFINITY`: rational).
    pub beta: f64,
    /// Draw a hard 0/1 label from `p` (true) or report `p` (false).
    pub sample: bool,
    /// Probability `ε ∈ [0, 1]` of flipping the label.
    pub mistake: f64,
    /// Skip when both scores are below this.
    pub skip_threshold: Option<f64>,
    /// Scores within this are a tie (≥ 0; the default `1e-9` catches round-off only).
    pub equal_threshold: f64,
    /// What a tie becomes.
    pub ties: TieMode,
    /// Myopic discount `γ ∈ (0, 1]` over the segment's steps.
    pub gamma: f64,
}

impl TeacherConfig {
    /// Knox et al.'s synthetic labeller ("sigmoid" mode): `β = 1`, sampled labels, no mistakes,
    /// no skipping, ties (within 1e-9) dropped, not myopic.
    pub fn knox(model: LabelModel) -> Self {
        TeacherConfig {
            model,
            beta: 1.0,
            sample: true,
            mistake: 0.0,
            skip_threshold: None,
            equal_threshold: 1e-9,
            ties: TieMode::Skip,
            gamma: 1.0,
        }
    }

    /// The noiseless teacher: rational (`β = ∞`), ties labelled 0.5.
    pub fn rational(model: LabelModel) -> Self {
        TeacherConfig { beta: f64::INFINITY, sample: false, ties: TieMode::Half, ..Self::knox(model) }
    }

    fn validate(&self) -> Result<(), PreferenceError> {
        if self.beta.is_nan() || self.beta < 0.0 {
            return Err(invalid("teacher", format!("β = {} must be ≥ 0", self.beta)));
        }
        if !(0.0..=1.0).contains(&self.mistake) {
            return Err(invalid("teacher", format!("mistake ε = {} is not in [0, 1]", self.mistake)));
        }
        if !(self.equal_threshold >= 0.0 && self.equal_threshold.is_finite()) {
            return Err(invalid("teacher", format!("equal threshold {} must be ≥ 0", self.equal_threshold)));
        }
        if !(self.gamma > 0.0 && self.gamma <= 1.0) {
            return Err(invalid("teacher", format!("myopic γ = {} is not in (0, 1]", self.gamma)));
        }
        if self.skip_threshold.is_some_and(|t| t.is_nan()) {
            return Err(invalid("teacher", "skip threshold is NaN"));
        }
        Ok(())
    }
}

/// A synthetic teacher that knows the true reward weights of a tabular MDP (see
/// [`TeacherConfig`] for the labelling rule). Reproducible: it owns a `Pcg64` seeded at
/// construction.
#[derive(Debug, Clone)]
pub struct ScriptedTeacher {
    config: TeacherConfig,
    weights: Vec<f64>,
    v_star: Vec<f64>,
    rng: Pcg64,
}

impl ScriptedTeacher {
    /// A teacher for `mdp` under its current weights (the true reward). For the regret model,
    /// `V*` is computed exactly by policy iteration.
    pub fn new(mdp: &TabularMdp, config: TeacherConfig, seed: u64) -> Result<Self, PreferenceError> {
        config.validate()?;
        let v_star = match config.model {
            LabelModel::PartialReturn => Vec::new(),
            LabelModel::Regret => solve_optimal(mdp, None)?.v,
        };
        Ok(ScriptedTeacher {
            config,
            weights: mdp.weights().to_vec(),
            v_star,
            rng: Pcg64::seed_from_u64(seed),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TeacherConfig {
        &self.config
    }

    /// `V*` of the true reward (empty for the partial-return model).
    pub fn v_star(&self) -> &[f64] {
        &self.v_star
    }

    /// The teacher's score of a segment (see [`TeacherConfig`]); errors if the segment does not
    /// fit the MDP.
    pub fn score(&self, seg: &Segment) -> Result<f64, PreferenceError> {
        if seg.n_features() != self.weights.len() {
            return Err(invalid(
                "segment",
                format!("{} features, the teacher's reward has {}", seg.n_features(), self.weights.len()),
            ));
        }
        let t_len = seg.len();
        let mut score = 0.0;
        for t in 0..t_len {
            let mut x = dot(seg.step_features(t), &self.weights);
            if self.config.model == LabelModel::Regret {
                let v = |s: usize| {
                    self.v_star.get(s).copied().ok_or_else(|| {
                        invalid(
                            "segment",
                            format!("state {s} is outside the MDP ({} states)", self.v_star.len()),
                        )
                    })
                };
                x += v(seg.states()[t + 1])? - v(seg.states()[t])?;
            }
            score += self.config.gamma.powi((t_len - 1 - t) as i32) * x;
        }
        Ok(score)
    }

    /// `P(left ≻ right)` before sampling and mistakes, or `None` for a skipped query.
    pub fn probability(&self, left: &Segment, right: &Segment) -> Result<Option<f64>, PreferenceError> {
        let (a, b) = (self.score(left)?, self.score(right)?);
        let c = &self.config;
        if c.skip_threshold.is_some_and(|th| a < th && b < th) {
            return Ok(None);
        }
        let delta = a - b;
        if delta.abs() <= c.equal_threshold {
            return Ok(match c.ties {
                TieMode::Half => Some(0.5),
                TieMode::Skip => None,
            });
        }
        Ok(Some(if c.beta.is_infinite() {
            if delta > 0.0 { 1.0 } else { 0.0 }
        } else {
            logistic(c.beta * delta)
        }))
    }
}

impl Teacher for ScriptedTeacher {
    fn label(&mut self, left: &Segment, right: &Segment) -> Result<Option<f64>, PreferenceError> {
        let Some(p) = self.probability(left, right)? else { return Ok(None) };
        let mut y = if self.config.sample && p != 0.5 {
            if self.rng.random::<f64>() < p { 1.0 } else { 0.0 }
        } else {
            p
        };
        if self.config.mistake > 0.0 && self.rng.random::<f64>() < self.config.mistake {
            y = 1.0 - y;
        }
        Ok(Some(y))
    }
}

type PairKey = (Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>);

fn key(l: &Segment, r: &Segment) -> PairKey {
    (l.states().to_vec(), l.actions().to_vec(), r.states().to_vec(), r.actions().to_vec())
}

/// A teacher that answers from recorded labels (e.g. human labels in a preference file). A pair
/// is matched by the states and actions of its segments, in either order (a swapped pair gets
/// `1 − y`); several records of the same pair are averaged. An unknown pair is
/// [`PreferenceError::Unlabelled`].
#[derive(Debug, Clone, Default)]
pub struct FileTeacher {
    labels: HashMap<PairKey, (f64, usize)>,
}

impl FileTeacher {
    /// A teacher from a dataset's labels.
    pub fn from_dataset(data: &PreferenceDataset) -> Self {
        let mut labels: HashMap<PairKey, (f64, usize)> = HashMap::new();
        for p in data.pairs() {
            let e = labels.entry(key(p.left(), p.right())).or_insert((0.0, 0));
            e.0 += p.label();
            e.1 += 1;
        }
        FileTeacher { labels }
    }

    /// A teacher from a preference file ([`PreferenceDataset::load_jsonl`]).
    pub fn from_file(path: &std::path::Path) -> Result<Self, PreferenceError> {
        Ok(Self::from_dataset(&PreferenceDataset::load_jsonl(path)?))
    }

    /// Number of distinct labelled pairs.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether no pair is labelled.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

impl Teacher for FileTeacher {
    fn label(&mut self, left: &Segment, right: &Segment) -> Result<Option<f64>, PreferenceError> {
        if let Some((sum, n)) = self.labels.get(&key(left, right)) {
            return Ok(Some(sum / *n as f64));
        }
        if let Some((sum, n)) = self.labels.get(&key(right, left)) {
            return Ok(Some(1.0 - sum / *n as f64));
        }
        Err(PreferenceError::Unlabelled(format!(
            "left starts at state {} with actions {:?}, right starts at state {} with actions {:?}",
            left.start(),
            left.actions(),
            right.start(),
            right.actions()
        )))
    }
}
