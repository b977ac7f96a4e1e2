//! Preference data: [`Segment`]s, labelled [`PreferencePair`]s, the [`PreferenceDataset`] with its
//! JSON Lines format, and segment samplers for tabular MDPs.
//!
//! # JSON Lines format (schema version 1)
//!
//! The first line is a header, every further non-empty line one labelled pair:
//!
//! ```text
//! {"schema": "alignrl-preferences", "version": 1, "n_features": 6, "feature_names": ["gas", ...]}
//! {"left": SEG, "right": SEG, "label": 0.73}
//! ```
//!
//! where `SEG = {"states": [s_0, …, s_T], "actions": [a_0, …, a_{T−1}], "features": [[φ_0], …,
//! [φ_{T−1}]], "rewards": [r_0, …] (optional), "observations": [[o_0], …, [o_T]] (optional)}` and
//! `label = P(left ≻ right) ∈ [0, 1]` (1: left preferred, 0.5: indifferent). `feature_names` is
//! optional. A malformed line is a [`PreferenceError::Parse`] naming the file, the 1-based line
//! number and the field (e.g. `left.features[2]`).

use std::path::Path;

use alignrl_envs::tabular::{MdpError, TabularMdp};
use rand::Rng;
use serde_json::{Map, Value, json};

use crate::tabular::{Policy, SolveError};

/// The `schema` field of the header line.
pub const SCHEMA_NAME: &str = "alignrl-preferences";
/// The schema version written by [`PreferenceDataset::to_jsonl`] (and the only one read).
pub const SCHEMA_VERSION: u64 = 1;

/// Errors of the preference toolkit (data, teachers, reward models).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PreferenceError {
    /// A line of a preference file is malformed.
    #[error("{source_name}:{line}: field `{field}`: {msg}")]
    Parse {
        /// File name (or `<string>`).
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// The offending field, as a path (`left.features[2]`), or `line` for the whole line.
        field: String,
        /// What is wrong.
        msg: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {msg}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        msg: String,
    },
    /// A segment, pair, dataset or setting is inconsistent (sizes, ranges, non-finite values).
    #[error("invalid {what}: {msg}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// Why.
        msg: String,
    },
    /// A teacher was asked about a pair it has no label for.
    #[error("no label for this pair: {0}")]
    Unlabelled(String),
    /// A tabular solver failed.
    #[error(transparent)]
    Solve(#[from] SolveError),
    /// An MDP could not be built or changed.
    #[error(transparent)]
    Mdp(#[from] MdpError),
}

pub(crate) fn invalid(what: &'static str, msg: impl Into<String>) -> PreferenceError {
    PreferenceError::Invalid { what, msg: msg.into() }
}

/// A trajectory segment `σ = (s_0, a_0, s_1, …, a_{T−1}, s_T)` of `T ≥ 1` transitions with the
/// per-step reward features `φ(s_t, a_t) ∈ R^k`; optionally the per-step rewards (of whatever
/// reward produced the segment) and per-state observation vectors.
///
/// Built by [`Segment::new`], which validates the sizes, so every accessor is consistent.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    states: Vec<usize>,
    actions: Vec<usize>,
    n_features: usize,
    features: Vec<f64>,
    feature_sum: Vec<f64>,
    rewards: Vec<f64>,
    obs_dim: usize,
    observations: Vec<f64>,
}

impl Segment {
    /// A segment from its `T + 1` states, `T` actions and `T × k` features (row-major).
    /// Errors if `T = 0`, the sizes disagree, or a feature is not finite.
    pub fn new(
        states: Vec<usize>,
        actions: Vec<usize>,
        features: Vec<f64>,
        n_features: usize,
    ) -> Result<Self, PreferenceError> {
        let t = actions.len();
        if t == 0 {
            return Err(invalid("segment", "a segment needs at least one transition"));
        }
        if states.len() != t + 1 {
            return Err(invalid(
                "segment",
                format!("{} states for {t} actions (expected {})", states.len(), t + 1),
            ));
        }
        if features.len() != t * n_features {
            return Err(invalid(
                "segment",
                format!("{} feature entries, expected {t} steps × {n_features}", features.len()),
            ));
        }
        if let Some(i) = features.iter().position(|x| !x.is_finite()) {
            return Err(invalid("segment", format!("feature entry {i} is not finite")));
        }
        let mut feature_sum = vec![0.0; n_features];
        for row in features.chunks_exact(n_features.max(1)).take(t) {
            for (acc, x) in feature_sum.iter_mut().zip(row) {
                *acc += x;
            }
        }
        Ok(Segment {
            states,
            actions,
            n_features,
            features,
            feature_sum,
            rewards: Vec::new(),
            obs_dim: 0,
            observations: Vec::new(),
        })
    }

    /// Attaches the per-step rewards `r_0 … r_{T−1}` (e.g. the true rewards while sampling).
    pub fn with_rewards(mut self, rewards: Vec<f64>) -> Result<Self, PreferenceError> {
        if rewards.len() != self.len() {
            return Err(invalid("segment", format!("{} rewards for {} steps", rewards.len(), self.len())));
        }
        if rewards.iter().any(|r| !r.is_finite()) {
            return Err(invalid("segment", "a reward is not finite"));
        }
        self.rewards = rewards;
        Ok(self)
    }

    /// Attaches per-state observations `o_0 … o_T`, `(T + 1) × obs_dim` row-major.
    pub fn with_observations(
        mut self,
        observations: Vec<f64>,
        obs_dim: usize,
    ) -> Result<Self, PreferenceError> {
        if obs_dim == 0 || observations.len() != (self.len() + 1) * obs_dim {
            return Err(invalid(
                "segment",
                format!(
                    "{} observation entries for {} states × {obs_dim}",
                    observations.len(),
                    self.len() + 1
                ),
            ));
        }
        if observations.iter().any(|x| !x.is_finite()) {
            return Err(invalid("segment", "an observation entry is not finite"));
        }
        self.obs_dim = obs_dim;
        self.observations = observations;
        Ok(self)
    }

    /// The sub-segment of `len` transitions starting at step `t0` (states `t0 ..= t0 + len`),
    /// with the matching features, rewards and observations; e.g. to cut fixed-length segments
    /// out of a long rollout. Errors if it does not fit.
    pub fn window(&self, t0: usize, len: usize) -> Result<Segment, PreferenceError> {
        if len == 0 || t0 + len > self.len() {
            return Err(invalid(
                "segment window",
                format!("steps {t0}..{} of a {}-step segment", t0 + len, self.len()),
            ));
        }
        let k = self.n_features;
        let mut out = Segment::new(
            self.states[t0..=t0 + len].to_vec(),
            self.actions[t0..t0 + len].to_vec(),
            self.features[t0 * k..(t0 + len) * k].to_vec(),
            k,
        )?;
        if !self.rewards.is_empty() {
            out = out.with_rewards(self.rewards[t0..t0 + len].to_vec())?;
        }
        if self.obs_dim > 0 {
            let d = self.obs_dim;
            out = out.with_observations(self.observations[t0 * d..(t0 + len + 1) * d].to_vec(), d)?;
        }
        Ok(out)
    }

    /// Number of transitions `T`.
    pub fn len(&self) -> usize {
        self.actions.len()
    }
    /// Always false (a segment has at least one transition).
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
    /// `s_0 … s_T`.
    pub fn states(&self) -> &[usize] {
        &self.states
    }
    /// `a_0 … a_{T−1}`.
    pub fn actions(&self) -> &[usize] {
        &self.actions
    }
    /// The start state `s_0`.
    pub fn start(&self) -> usize {
        self.states[0]
    }
    /// The end state `s_T`.
    pub fn end(&self) -> usize {
        self.states[self.len()]
    }
    /// Number of reward features `k`.
    pub fn n_features(&self) -> usize {
        self.n_features
    }
    /// All features, `T × k` row-major.
    pub fn features(&self) -> &[f64] {
        &self.features
    }
    /// `φ(s_t, a_t)`.
    pub fn step_features(&self, t: usize) -> &[f64] {
        &self.features[t * self.n_features..(t + 1) * self.n_features]
    }
    /// `Σ_t φ(s_t, a_t)` (undiscounted), length `k`.
    pub fn feature_sum(&self) -> &[f64] {
        &self.feature_sum
    }
    /// The partial return `Σ_t φ(s_t, a_t) · w` (undiscounted) under linear weights `w`.
    pub fn partial_return(&self, w: &[f64]) -> f64 {
        dot(&self.feature_sum, w)
    }
    /// The attached rewards (empty if none).
    pub fn rewards(&self) -> &[f64] {
        &self.rewards
    }
    /// Observation size (0 if none attached).
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }
    /// The attached observations, `(T + 1) × obs_dim` row-major (empty if none).
    pub fn observations(&self) -> &[f64] {
        &self.observations
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("states".into(), json!(self.states));
        m.insert("actions".into(), json!(self.actions));
        let k = self.n_features;
        let rows: Vec<Value> = (0..self.len()).map(|t| json!(&self.features[t * k..(t + 1) * k])).collect();
        m.insert("features".into(), Value::Array(rows));
        if !self.rewards.is_empty() {
            m.insert("rewards".into(), json!(self.rewards));
        }
        if self.obs_dim > 0 {
            let d = self.obs_dim;
            let rows: Vec<Value> =
                (0..=self.len()).map(|t| json!(&self.observations[t * d..(t + 1) * d])).collect();
            m.insert("observations".into(), Value::Array(rows));
        }
        Value::Object(m)
    }
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A labelled pair of segments: `label = P(left ≻ right) ∈ [0, 1]` (a soft label; 1 means left
/// is preferred, 0.5 indifference).
#[derive(Debug, Clone, PartialEq)]
pub struct PreferencePair {
    left: Segment,
    right: Segment,
    label: f64,
}

impl PreferencePair {
    /// Errors if the label is outside `[0, 1]` or the segments have different feature sizes.
    pub fn new(left: Segment, right: Segment, label: f64) -> Result<Self, PreferenceError> {
        if !(label.is_finite() && (0.0..=1.0).contains(&label)) {
            return Err(invalid("pair", format!("label {label} is not a probability in [0, 1]")));
        }
        if left.n_features != right.n_features {
            return Err(invalid(
                "pair",
                format!("left has {} features, right {}", left.n_features, right.n_features),
            ));
        }
        Ok(PreferencePair { left, right, label })
    }
    /// The first segment.
    pub fn left(&self) -> &Segment {
        &self.left
    }
    /// The second segment.
    pub fn right(&self) -> &Segment {
        &self.right
    }
    /// `P(left ≻ right)`.
    pub fn label(&self) -> f64 {
        self.label
    }
    /// The same preference with the segments swapped (label `1 − y`).
    pub fn swapped(&self) -> PreferencePair {
        PreferencePair { left: self.right.clone(), right: self.left.clone(), label: 1.0 - self.label }
    }
}

/// The pairs plus each pair swapped (Knox et al.'s data augmentation).
pub fn with_swapped(pairs: &[PreferencePair]) -> Vec<PreferencePair> {
    pairs.iter().flat_map(|p| [p.clone(), p.swapped()]).collect()
}

/// A set of labelled pairs over segments with `n_features` reward features.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PreferenceDataset {
    n_features: usize,
    feature_names: Vec<String>,
    pairs: Vec<PreferencePair>,
}

impl PreferenceDataset {
    /// An empty dataset for segments with `n_features` features (names optional: empty or `k`).
    pub fn new(n_features: usize, feature_names: Vec<String>) -> Result<Self, PreferenceError> {
        if !feature_names.is_empty() && feature_names.len() != n_features {
            return Err(invalid(
                "dataset",
                format!("{} feature names for {n_features} features", feature_names.len()),
            ));
        }
        Ok(PreferenceDataset { n_features, feature_names, pairs: Vec::new() })
    }
    /// Adds a pair; errors if its segments have another feature size.
    pub fn push(&mut self, pair: PreferencePair) -> Result<(), PreferenceError> {
        if pair.left.n_features != self.n_features {
            return Err(invalid(
                "pair",
                format!("segments have {} features, the dataset {}", pair.left.n_features, self.n_features),
            ));
        }
        self.pairs.push(pair);
        Ok(())
    }
    /// Number of reward features.
    pub fn n_features(&self) -> usize {
        self.n_features
    }
    /// Feature names (possibly empty).
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }
    /// The pairs.
    pub fn pairs(&self) -> &[PreferencePair] {
        &self.pairs
    }
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }
    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The JSON Lines text (header line, then one line per pair; see the [module docs](self)).
    pub fn to_jsonl(&self) -> String {
        let mut header =
            json!({"schema": SCHEMA_NAME, "version": SCHEMA_VERSION, "n_features": self.n_features});
        if !self.feature_names.is_empty() {
            header["feature_names"] = json!(self.feature_names);
        }
        let mut out = header.to_string();
        out.push('\n');
        for p in &self.pairs {
            let line = json!({"left": p.left.to_json(), "right": p.right.to_json(), "label": p.label});
            out.push_str(&line.to_string());
            out.push('\n');
        }
        out
    }

    /// Writes [`PreferenceDataset::to_jsonl`] to `path` atomically.
    pub fn save_jsonl(&self, path: &Path) -> Result<(), PreferenceError> {
        alignrl_envs::fsio::atomic_write(path, self.to_jsonl().as_bytes())
            .map_err(|e| PreferenceError::Io { path: path.display().to_string(), msg: e.to_string() })
    }

    /// Reads a dataset written by [`PreferenceDataset::save_jsonl`].
    pub fn load_jsonl(path: &Path) -> Result<Self, PreferenceError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PreferenceError::Io { path: path.display().to_string(), msg: e.to_string() })?;
        Self::from_jsonl(&text, &path.display().to_string())
    }

    /// Parses JSON Lines text; `source_name` names the source in errors. Blank lines are skipped
    /// (but counted). Every error names the line and the field.
    pub fn from_jsonl(text: &str, source_name: &str) -> Result<Self, PreferenceError> {
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        let err = |line: usize, field: &str, msg: String| PreferenceError::Parse {
            source_name: source_name.to_string(),
            line,
            field: field.to_string(),
            msg,
        };
        let (i, first) = lines.next().ok_or_else(|| err(1, "line", "empty file: no header line".into()))?;
        let header: Value =
            serde_json::from_str(first).map_err(|e| err(i + 1, "line", format!("not JSON: {e}")))?;
        let header =
            header.as_object().ok_or_else(|| err(i + 1, "line", "the header is not an object".into()))?;
        match header.get("schema").and_then(Value::as_str) {
            Some(SCHEMA_NAME) => {}
            other => {
                return Err(err(i + 1, "schema", format!("expected \"{SCHEMA_NAME}\", got {other:?}")));
            }
        }
        match header.get("version").and_then(Value::as_u64) {
            Some(SCHEMA_VERSION) => {}
            other => {
                return Err(err(
                    i + 1,
                    "version",
                    format!("unsupported version {other:?} (expected {SCHEMA_VERSION})"),
                ));
            }
        }
        let k = header
            .get("n_features")
            .and_then(Value::as_u64)
            .ok_or_else(|| err(i + 1, "n_features", "expected a non-negative integer".into()))?
            as usize;
        let names = match header.get("feature_names") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => {
                let names: Option<Vec<String>> = a.iter().map(|v| v.as_str().map(str::to_string)).collect();
                let names = names.ok_or_else(|| err(i + 1, "feature_names", "expected strings".into()))?;
                if names.len() != k {
                    return Err(err(
                        i + 1,
                        "feature_names",
                        format!("{} names for {k} features", names.len()),
                    ));
                }
                names
            }
            Some(_) => return Err(err(i + 1, "feature_names", "expected an array of strings".into())),
        };
        let mut data = PreferenceDataset { n_features: k, feature_names: names, pairs: Vec::new() };
        for (i, line) in lines {
            let ln = i + 1;
            let v: Value =
                serde_json::from_str(line).map_err(|e| err(ln, "line", format!("not JSON: {e}")))?;
            let obj = v.as_object().ok_or_else(|| err(ln, "line", "expected a JSON object".into()))?;
            let left = parse_segment(obj.get("left"), "left", k).map_err(|(f, m)| err(ln, &f, m))?;
            let right = parse_segment(obj.get("right"), "right", k).map_err(|(f, m)| err(ln, &f, m))?;
            let label = obj
                .get("label")
                .and_then(Value::as_f64)
                .ok_or_else(|| err(ln, "label", "expected a number".into()))?;
            let pair =
                PreferencePair::new(left, right, label).map_err(|e| err(ln, "label", e.to_string()))?;
            data.pairs.push(pair);
        }
        Ok(data)
    }
}

type FieldError = (String, String);

fn parse_index_array(v: Option<&Value>, field: String) -> Result<Vec<usize>, FieldError> {
    let a =
        v.and_then(Value::as_array).ok_or_else(|| (field.clone(), "expected an array of integers".into()))?;
    a.iter()
        .enumerate()
        .map(|(j, x)| {
            x.as_u64()
                .map(|u| u as usize)
                .ok_or_else(|| (format!("{field}[{j}]"), format!("{x} is not a non-negative integer")))
        })
        .collect()
}

fn parse_number_row(v: &Value, field: String, expected: Option<usize>) -> Result<Vec<f64>, FieldError> {
    let a = v.as_array().ok_or_else(|| (field.clone(), "expected an array of numbers".into()))?;
    if let Some(n) = expected
        && a.len() != n
    {
        return Err((field, format!("has {} entries, expected {n}", a.len())));
    }
    a.iter()
        .enumerate()
        .map(|(j, x)| {
            x.as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| (format!("{field}[{j}]"), format!("{x} is not a finite number")))
        })
        .collect()
}

fn parse_matrix(
    v: Option<&Value>,
    field: &str,
    rows: usize,
    cols: Option<usize>,
) -> Result<(Vec<f64>, usize), FieldError> {
    let a =
        v.and_then(Value::as_array).ok_or_else(|| (field.to_string(), "expected an array of rows".into()))?;
    if a.len() != rows {
        return Err((field.to_string(), format!("has {} rows, expected {rows}", a.len())));
    }
    let mut out = Vec::new();
    let mut width = cols;
    for (t, row) in a.iter().enumerate() {
        let r = parse_number_row(row, format!("{field}[{t}]"), width)?;
        width = Some(r.len());
        out.extend(r);
    }
    Ok((out, width.unwrap_or(0)))
}

fn parse_segment(v: Option<&Value>, name: &str, k: usize) -> Result<Segment, FieldError> {
    let obj =
        v.and_then(Value::as_object).ok_or_else(|| (name.to_string(), "expected a segment object".into()))?;
    let states = parse_index_array(obj.get("states"), format!("{name}.states"))?;
    let actions = parse_index_array(obj.get("actions"), format!("{name}.actions"))?;
    if actions.is_empty() {
        return Err((format!("{name}.actions"), "a segment needs at least one action".into()));
    }
    if states.len() != actions.len() + 1 {
        return Err((
            format!("{name}.states"),
            format!(
                "has {} entries for {} actions (expected {})",
                states.len(),
                actions.len(),
                actions.len() + 1
            ),
        ));
    }
    let t = actions.len();
    let (features, _) = parse_matrix(obj.get("features"), &format!("{name}.features"), t, Some(k))?;
    let mut seg =
        Segment::new(states, actions, features, k).map_err(|e| (name.to_string(), e.to_string()))?;
    if let Some(r) = obj.get("rewards").filter(|r| !r.is_null()) {
        let rewards = parse_number_row(r, format!("{name}.rewards"), Some(t))?;
        seg = seg.with_rewards(rewards).map_err(|e| (format!("{name}.rewards"), e.to_string()))?;
    }
    if let Some(o) = obj.get("observations").filter(|o| !o.is_null()) {
        let (obs, d) = parse_matrix(Some(o), &format!("{name}.observations"), t + 1, None)?;
        seg = seg.with_observations(obs, d).map_err(|e| (format!("{name}.observations"), e.to_string()))?;
    }
    Ok(seg)
}

/// How a segment sampler picks actions.
#[derive(Debug, Clone, Copy)]
pub enum ActionSource<'a> {
    /// Uniformly random actions.
    Uniform,
    /// Actions drawn from a tabular policy.
    Policy(&'a Policy),
}

/// Rolls out `len` steps in `mdp` from `start`, choosing actions by `source`, and returns the
/// segment with the MDP's features and (current-weight) rewards attached. Terminal states are
/// absorbing with zero features, so a segment that enters one stays there for its remaining
/// steps.
pub fn rollout_segment<R: Rng + ?Sized>(
    mdp: &TabularMdp,
    start: usize,
    len: usize,
    source: ActionSource<'_>,
    rng: &mut R,
) -> Result<Segment, PreferenceError> {
    if len == 0 {
        return Err(invalid("sampler", "segment length must be at least 1"));
    }
    if start >= mdp.n_states() {
        return Err(invalid("sampler", format!("start state {start} ≥ {} states", mdp.n_states())));
    }
    if let ActionSource::Policy(pi) = source
        && (pi.n_states() != mdp.n_states() || pi.n_actions() != mdp.n_actions())
    {
        return Err(invalid("sampler", "the policy's shape does not match the MDP"));
    }
    let (na, k) = (mdp.n_actions(), mdp.n_features());
    let mut states = Vec::with_capacity(len + 1);
    let mut actions = Vec::with_capacity(len);
    let mut features = Vec::with_capacity(len * k);
    let mut rewards = Vec::with_capacity(len);
    let mut s = start;
    states.push(s);
    for _ in 0..len {
        let a = match source {
            ActionSource::Uniform => rng.random_range(0..na),
            ActionSource::Policy(pi) => alignrl_envs::tabular::sample_categorical(pi.row(s), rng),
        };
        features.extend_from_slice(mdp.feature(s, a));
        rewards.push(mdp.reward(s, a));
        actions.push(a);
        s = mdp.sample_next(s, a, rng);
        states.push(s);
    }
    Segment::new(states, actions, features, k)?.with_rewards(rewards)
}

/// Samples a segment of `len` steps starting from `s_0 ~ μ` (the MDP's start distribution).
pub fn sample_segment<R: Rng + ?Sized>(
    mdp: &TabularMdp,
    len: usize,
    source: ActionSource<'_>,
    rng: &mut R,
) -> Result<Segment, PreferenceError> {
    let start = mdp.sample_start(rng);
    rollout_segment(mdp, start, len, source, rng)
}

/// Rolls out `rollout_len` steps from `s_0 ~ μ` and cuts it into consecutive, non-overlapping
/// segments of `len` steps (`rollout_len / len` of them; a shorter tail is dropped).
pub fn segments_from_rollout<R: Rng + ?Sized>(
    mdp: &TabularMdp,
    rollout_len: usize,
    len: usize,
    source: ActionSource<'_>,
    rng: &mut R,
) -> Result<Vec<Segment>, PreferenceError> {
    if len == 0 || rollout_len < len {
        return Err(invalid("sampler", format!("cannot cut {len}-step segments from {rollout_len} steps")));
    }
    let rollout = sample_segment(mdp, rollout_len, source, rng)?;
    (0..rollout_len / len).map(|i| rollout.window(i * len, len)).collect()
}

/// Samples `n` unlabelled pairs of independent segments of `len` steps (each from `s_0 ~ μ`).
pub fn sample_segment_pairs<R: Rng + ?Sized>(
    mdp: &TabularMdp,
    n: usize,
    len: usize,
    source: ActionSource<'_>,
    rng: &mut R,
) -> Result<Vec<(Segment, Segment)>, PreferenceError> {
    (0..n)
        .map(|_| Ok((sample_segment(mdp, len, source, rng)?, sample_segment(mdp, len, source, rng)?)))
        .collect()
}

/// [`sample_segment_pairs`] with its own `Pcg64` seeded with `seed` (bit-reproducible).
pub fn sample_segment_pairs_seeded(
    mdp: &TabularMdp,
    n: usize,
    len: usize,
    source: ActionSource<'_>,
    seed: u64,
) -> Result<Vec<(Segment, Segment)>, PreferenceError> {
    let mut rng = <rand_pcg::Pcg64 as rand::SeedableRng>::seed_from_u64(seed);
    sample_segment_pairs(mdp, n, len, source, &mut rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alignrl_envs::tabular::DeliveryWorld;
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    fn seg(states: &[usize], feats: &[f64]) -> Segment {
        Segment::new(states.to_vec(), vec![0; states.len() - 1], feats.to_vec(), 2).unwrap()
    }

    #[test]
    fn segment_validates_sizes() {
        assert!(Segment::new(vec![0], vec![], vec![], 2).is_err());
        assert!(Segment::new(vec![0, 1], vec![0], vec![1.0], 2).is_err());
        assert!(Segment::new(vec![0, 1, 2], vec![0], vec![1.0, 2.0], 2).is_err());
        assert!(Segment::new(vec![0, 1], vec![0], vec![1.0, f64::NAN], 2).is_err());
        let s = seg(&[0, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(s.feature_sum(), &[4.0, 6.0]);
        assert_eq!((s.start(), s.end(), s.len()), (0, 2, 2));
        assert_eq!(s.partial_return(&[1.0, -1.0]), -2.0);
        assert!(PreferencePair::new(s.clone(), s.clone(), 1.5).is_err());
    }

    #[test]
    fn jsonl_round_trip() {
        let mut d = PreferenceDataset::new(2, vec!["a".into(), "b".into()]).unwrap();
        let a = seg(&[0, 1], &[1.0, 0.5]).with_rewards(vec![0.25]).unwrap();
        let b = seg(&[3, 2, 2], &[0.0, 1.0, -1.0, 2.0]).with_observations(vec![0.0, 1.0, 2.0], 1).unwrap();
        d.push(PreferencePair::new(a, b, 0.75).unwrap()).unwrap();
        let text = d.to_jsonl();
        let back = PreferenceDataset::from_jsonl(&text, "mem").unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn samplers_follow_the_mdp() {
        let world = DeliveryWorld::knox();
        let mdp = world.mdp();
        let mut rng = Pcg64::seed_from_u64(3);
        for (l, r) in sample_segment_pairs(mdp, 50, 3, ActionSource::Uniform, &mut rng).unwrap() {
            for s in [&l, &r] {
                assert_eq!(s.len(), 3);
                assert!(mdp.start()[s.start()] > 0.0);
                for t in 0..3 {
                    let (st, a) = (s.states()[t], s.actions()[t]);
                    assert_eq!(mdp.p(st, a, s.states()[t + 1]), 1.0);
                    assert_eq!(s.step_features(t), mdp.feature(st, a));
                    assert_eq!(s.rewards()[t], mdp.reward(st, a));
                }
            }
        }
        // Windows of a long rollout chain up and keep their features and rewards.
        let segs = segments_from_rollout(mdp, 10, 3, ActionSource::Uniform, &mut rng).unwrap();
        assert_eq!(segs.len(), 3);
        for w in segs.windows(2) {
            assert_eq!(w[0].end(), w[1].start());
        }
        for s in &segs {
            assert_eq!(s.rewards()[1], mdp.reward(s.states()[1], s.actions()[1]));
        }
        assert!(segs[0].window(2, 2).is_err());
        // A deterministic policy gives its own actions.
        let pi = Policy::deterministic(&vec![3; mdp.n_states()], 4).unwrap();
        let s = sample_segment(mdp, 4, ActionSource::Policy(&pi), &mut rng).unwrap();
        assert!(s.actions().iter().all(|&a| a == 3));
    }
}
