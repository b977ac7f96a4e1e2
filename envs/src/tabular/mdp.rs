//! [`TabularMdp`]: a finite MDP with an exact, dense model and a linear reward.
//!
//! # Conventions
//!
//! - States are `0..n_states`, actions `0..n_actions`; every action is available in every state.
//! - Transitions are a dense row-major tensor `P[s][a][s']`, stored flat at index
//!   `(s * n_actions + a) * n_states + s'`. Every row `P[s][a][·]` is a probability distribution
//!   (entries ≥ 0, sum 1 within [`ROW_SUM_TOL`]).
//! - Rewards are linear in reward features: `r(s, a) = φ(s, a) · w`, with `φ(s, a) ∈ R^k` stored
//!   flat at `(s * n_actions + a) * k + i`. The reward of a transition depends on `(s, a)` only; for
//!   stochastic dynamics `φ(s, a)` is the *expected* feature vector of the step (e.g. the
//!   probability of entering the goal).
//! - Returns are discounted: `G = Σ_t γ^t r(s_t, a_t)`, with `γ ∈ [0, 1]`; the first reward is
//!   undiscounted.
//! - **Terminal states** are absorbing with zero reward and value 0. Entering one ends the episode.
//!   The constructor *replaces* whatever the parts say for a terminal state by a self-loop with
//!   zero features for every action, so `P` and `φ` always satisfy this convention. Solvers should
//!   still pin `V(terminal) = 0` explicitly (this keeps `γ = 1` well posed for proper policies).
//! - The start distribution `μ` is a probability vector over states that puts no mass on terminal
//!   states.

use std::fmt;

use rand::Rng;

/// Tolerance on `|Σ_{s'} P[s][a][s'] − 1|` (and on the start distribution's sum).
pub const ROW_SUM_TOL: f64 = 1e-9;

/// Errors of MDP construction and of the builders in this module tree.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MdpError {
    /// A buffer has the wrong length.
    #[error("{what} has length {got}, expected {expected}")]
    Size {
        /// Which buffer.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// There are no states or no actions.
    #[error("an MDP needs at least one state and one action (got {n_states} states, {n_actions} actions)")]
    Empty {
        /// Number of states.
        n_states: usize,
        /// Number of actions.
        n_actions: usize,
    },
    /// A transition probability is negative or not finite.
    #[error("P[{state}][{action}][{next}] = {value} is not a probability")]
    BadProbability {
        /// State.
        state: usize,
        /// Action.
        action: usize,
        /// Next state.
        next: usize,
        /// The offending value.
        value: f64,
    },
    /// A transition row does not sum to 1.
    #[error("P[{state}][{action}][·] sums to {sum}, expected 1 (tolerance 1e-9)")]
    RowSum {
        /// State.
        state: usize,
        /// Action.
        action: usize,
        /// The row's sum.
        sum: f64,
    },
    /// The discount is outside `[0, 1]` or not finite.
    #[error("discount γ = {0} is outside [0, 1]")]
    Gamma(f64),
    /// A feature or weight is not finite.
    #[error("{what} has a non-finite entry at index {index}")]
    NonFinite {
        /// Which buffer.
        what: &'static str,
        /// Flat index of the entry.
        index: usize,
    },
    /// The start distribution is not a probability vector over non-terminal states.
    #[error("invalid start distribution: {0}")]
    Start(String),
    /// A map, board or option of a builder is malformed.
    #[error("{0}")]
    Build(String),
}

/// The raw parts of a [`TabularMdp`]; see the [module docs](self) for the layouts.
#[derive(Debug, Clone, PartialEq)]
pub struct MdpParts {
    /// Number of states `S`.
    pub n_states: usize,
    /// Number of actions `A`.
    pub n_actions: usize,
    /// `P[s][a][s']`, length `S·A·S`.
    pub transitions: Vec<f64>,
    /// Number of reward features `k` (may be 0, giving zero reward).
    pub n_features: usize,
    /// `φ[s][a][i]`, length `S·A·k`.
    pub features: Vec<f64>,
    /// Reward weights `w`, length `k`.
    pub weights: Vec<f64>,
    /// Names of the features, length `k`, or empty for `f0, f1, …`.
    pub feature_names: Vec<String>,
    /// Discount `γ ∈ [0, 1]`.
    pub gamma: f64,
    /// Start distribution `μ`, length `S`.
    pub start: Vec<f64>,
    /// Terminal mask, length `S`.
    pub terminal: Vec<bool>,
}

/// A validated finite MDP with dense transitions and linear rewards `r = φ · w`.
///
/// See the [module docs](self) for every convention (layouts, terminal states, discounting).
#[derive(Debug, Clone, PartialEq)]
pub struct TabularMdp {
    n_states: usize,
    n_actions: usize,
    transitions: Vec<f64>,
    n_features: usize,
    features: Vec<f64>,
    weights: Vec<f64>,
    feature_names: Vec<String>,
    rewards: Vec<f64>,
    gamma: f64,
    start: Vec<f64>,
    terminal: Vec<bool>,
}

fn check_size(what: &'static str, got: usize, expected: usize) -> Result<(), MdpError> {
    if got == expected { Ok(()) } else { Err(MdpError::Size { what, expected, got }) }
}

fn check_finite(what: &'static str, v: &[f64]) -> Result<(), MdpError> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(MdpError::NonFinite { what, index }),
        None => Ok(()),
    }
}

fn check_gamma(gamma: f64) -> Result<(), MdpError> {
    if gamma.is_finite() && (0.0..=1.0).contains(&gamma) { Ok(()) } else { Err(MdpError::Gamma(gamma)) }
}

impl TabularMdp {
    /// Validates `parts` and builds the MDP.
    ///
    /// Errors on wrong sizes, negative or non-finite probabilities, rows not summing to 1 within
    /// [`ROW_SUM_TOL`], non-finite features or weights, `γ ∉ [0, 1]`, and a start distribution that
    /// is not a probability vector or puts mass on a terminal state. Rows and features of
    /// terminal states are then overwritten by an absorbing self-loop with zero features.
    pub fn new(parts: MdpParts) -> Result<Self, MdpError> {
        let MdpParts {
            n_states: ns,
            n_actions: na,
            mut transitions,
            n_features: k,
            mut features,
            weights,
            mut feature_names,
            gamma,
            start,
            terminal,
        } = parts;
        if ns == 0 || na == 0 {
            return Err(MdpError::Empty { n_states: ns, n_actions: na });
        }
        check_size("transitions", transitions.len(), ns * na * ns)?;
        check_size("features", features.len(), ns * na * k)?;
        check_size("weights", weights.len(), k)?;
        check_size("start", start.len(), ns)?;
        check_size("terminal", terminal.len(), ns)?;
        if feature_names.is_empty() {
            feature_names = (0..k).map(|i| format!("f{i}")).collect();
        }
        check_size("feature_names", feature_names.len(), k)?;
        check_gamma(gamma)?;
        check_finite("features", &features)?;
        check_finite("weights", &weights)?;
        for s in 0..ns {
            for a in 0..na {
                let row = &transitions[(s * na + a) * ns..(s * na + a + 1) * ns];
                if let Some((next, &value)) =
                    row.iter().enumerate().find(|(_, p)| !(p.is_finite() && **p >= 0.0))
                {
                    return Err(MdpError::BadProbability { state: s, action: a, next, value });
                }
                let sum: f64 = row.iter().sum();
                if (sum - 1.0).abs() > ROW_SUM_TOL {
                    return Err(MdpError::RowSum { state: s, action: a, sum });
                }
            }
        }
        if let Some((i, &x)) = start.iter().enumerate().find(|(_, p)| !(p.is_finite() && **p >= 0.0)) {
            return Err(MdpError::Start(format!("μ[{i}] = {x} is not a probability")));
        }
        let total: f64 = start.iter().sum();
        if (total - 1.0).abs() > ROW_SUM_TOL {
            return Err(MdpError::Start(format!("sums to {total}, expected 1")));
        }
        if let Some(s) = (0..ns).find(|&s| terminal[s] && start[s] > 0.0) {
            return Err(MdpError::Start(format!("puts mass {} on terminal state {s}", start[s])));
        }
        for s in (0..ns).filter(|&s| terminal[s]) {
            for a in 0..na {
                let row = &mut transitions[(s * na + a) * ns..(s * na + a + 1) * ns];
                row.fill(0.0);
                row[s] = 1.0;
                features[(s * na + a) * k..(s * na + a + 1) * k].fill(0.0);
            }
        }
        let mut mdp = TabularMdp {
            n_states: ns,
            n_actions: na,
            transitions,
            n_features: k,
            features,
            weights,
            feature_names,
            rewards: vec![0.0; ns * na],
            gamma,
            start,
            terminal,
        };
        mdp.rewards = mdp.rewards_for(&mdp.weights).expect("weights checked above");
        Ok(mdp)
    }

    /// Number of states `S`.
    pub fn n_states(&self) -> usize {
        self.n_states
    }
    /// Number of actions `A`.
    pub fn n_actions(&self) -> usize {
        self.n_actions
    }
    /// Number of reward features `k`.
    pub fn n_features(&self) -> usize {
        self.n_features
    }
    /// Discount `γ`.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }
    /// Changes the discount; errors if `γ ∉ [0, 1]`.
    pub fn set_gamma(&mut self, gamma: f64) -> Result<(), MdpError> {
        check_gamma(gamma)?;
        self.gamma = gamma;
        Ok(())
    }

    /// The whole transition tensor `P[s][a][s']`, row-major.
    pub fn transitions(&self) -> &[f64] {
        &self.transitions
    }
    /// The distribution `P[s][a][·]` over next states.
    pub fn transition_row(&self, s: usize, a: usize) -> &[f64] {
        let ns = self.n_states;
        let i = (s * self.n_actions + a) * ns;
        &self.transitions[i..i + ns]
    }
    /// `P(s' | s, a)`.
    pub fn p(&self, s: usize, a: usize, next: usize) -> f64 {
        self.transitions[(s * self.n_actions + a) * self.n_states + next]
    }
    /// Next states with non-zero probability, as `(s', P(s' | s, a))`.
    pub fn successors(&self, s: usize, a: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        self.transition_row(s, a).iter().copied().enumerate().filter(|(_, p)| *p > 0.0)
    }

    /// The whole feature tensor `φ[s][a][i]`, row-major.
    pub fn features(&self) -> &[f64] {
        &self.features
    }
    /// The feature vector `φ(s, a)`.
    pub fn feature(&self, s: usize, a: usize) -> &[f64] {
        let k = self.n_features;
        let i = (s * self.n_actions + a) * k;
        &self.features[i..i + k]
    }
    /// Feature names, length `k`.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }
    /// Index of the feature called `name`.
    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.feature_names.iter().position(|n| n == name)
    }

    /// Reward weights `w`.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }
    /// Replaces the reward weights (and the cached rewards); errors on a wrong length or a
    /// non-finite entry.
    pub fn set_weights(&mut self, weights: &[f64]) -> Result<(), MdpError> {
        self.rewards = self.rewards_for(weights)?;
        self.weights = weights.to_vec();
        Ok(())
    }
    /// [`TabularMdp::set_weights`] by value.
    pub fn with_weights(mut self, weights: &[f64]) -> Result<Self, MdpError> {
        self.set_weights(weights)?;
        Ok(self)
    }

    /// The reward `r(s, a) = φ(s, a) · w` (0 in terminal states).
    pub fn reward(&self, s: usize, a: usize) -> f64 {
        self.rewards[s * self.n_actions + a]
    }
    /// The reward vector `r[s][a]`, row-major (length `S·A`), for the current weights.
    pub fn rewards(&self) -> &[f64] {
        &self.rewards
    }
    /// The reward vector `r_w[s][a] = φ(s, a) · w` for other weights `w` (the MDP is unchanged).
    pub fn rewards_for(&self, weights: &[f64]) -> Result<Vec<f64>, MdpError> {
        check_size("weights", weights.len(), self.n_features)?;
        check_finite("weights", weights)?;
        let k = self.n_features;
        Ok((0..self.n_states * self.n_actions)
            .map(|i| dot(&self.features[i * k..(i + 1) * k], weights))
            .collect())
    }

    /// Start distribution `μ`.
    pub fn start(&self) -> &[f64] {
        &self.start
    }
    /// Terminal mask.
    pub fn terminal(&self) -> &[bool] {
        &self.terminal
    }
    /// Whether `s` is terminal.
    pub fn is_terminal(&self, s: usize) -> bool {
        self.terminal[s]
    }

    /// The parts this MDP was built from (after validation: terminal rows are self-loops with zero
    /// features, and feature names are filled in).
    pub fn into_parts(self) -> MdpParts {
        MdpParts {
            n_states: self.n_states,
            n_actions: self.n_actions,
            transitions: self.transitions,
            n_features: self.n_features,
            features: self.features,
            weights: self.weights,
            feature_names: self.feature_names,
            gamma: self.gamma,
            start: self.start,
            terminal: self.terminal,
        }
    }

    /// Samples `s' ~ P(· | s, a)` with one uniform draw (no allocation).
    pub fn sample_next<R: Rng + ?Sized>(&self, s: usize, a: usize, rng: &mut R) -> usize {
        sample_categorical(self.transition_row(s, a), rng)
    }
    /// Samples `s_0 ~ μ` with one uniform draw.
    pub fn sample_start<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        sample_categorical(&self.start, rng)
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Samples an index from the probability vector `p` (non-negative, summing to ≈ 1) by inversion
/// with one uniform draw. Rounding slack at the top goes to the last index with positive mass.
pub fn sample_categorical<R: Rng + ?Sized>(p: &[f64], rng: &mut R) -> usize {
    let u: f64 = rng.random();
    let mut acc = 0.0;
    let mut last = 0;
    for (i, &pi) in p.iter().enumerate() {
        if pi > 0.0 {
            acc += pi;
            last = i;
            if u < acc {
                return i;
            }
        }
    }
    last
}

impl fmt::Display for TabularMdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TabularMdp({} states, {} actions, {} features [{}], γ = {}, {} terminal)",
            self.n_states,
            self.n_actions,
            self.n_features,
            self.feature_names.join(", "),
            self.gamma,
            self.terminal.iter().filter(|t| **t).count()
        )
    }
}
