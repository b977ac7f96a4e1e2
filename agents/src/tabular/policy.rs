//! [`Policy`]: a stochastic tabular policy `π[s][a]`, and the errors of the tabular solvers.

/// Tolerance on `|Σ_a π(a|s) − 1|`.
pub const POLICY_SUM_TOL: f64 = 1e-9;

/// Errors of the tabular solvers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SolveError {
    /// An input has the wrong size for the MDP.
    #[error("{what} has length {got}, expected {expected}")]
    Shape {
        /// Which input.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// A policy row is not a probability distribution, or an action is out of range.
    #[error("invalid policy: {0}")]
    InvalidPolicy(String),
    /// `I − γ P_π` is singular: with `γ = 1` the policy does not reach a terminal state from
    /// some state.
    #[error(
        "I − γ P_π is singular (γ = {gamma}): with γ = 1 the policy must reach a terminal state from every state"
    )]
    Singular {
        /// The discount used.
        gamma: f64,
    },
    /// An iterative solver hit its iteration cap.
    #[error("no convergence after {iterations} iterations (last sup-norm change {residual:e})")]
    NotConverged {
        /// Iterations run.
        iterations: usize,
        /// Last sup-norm change of the iterate.
        residual: f64,
    },
    /// A setting is out of range (tolerance, temperature, discount).
    #[error("{0}")]
    Invalid(String),
}

/// A stochastic tabular policy: `π(a | s)` stored row-major as `probs[s * n_actions + a]`.
///
/// Every row is a probability distribution. Rows of terminal states are never used by the solvers.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    n_states: usize,
    n_actions: usize,
    probs: Vec<f64>,
}

impl Policy {
    /// A policy from row-major probabilities; errors if the length is not `n_states · n_actions`
    /// or a row is not a distribution (entries ≥ 0, sum 1 within [`POLICY_SUM_TOL`]).
    pub fn from_probs(n_states: usize, n_actions: usize, probs: Vec<f64>) -> Result<Self, SolveError> {
        if n_actions == 0 {
            return Err(SolveError::InvalidPolicy("a policy needs at least one action".into()));
        }
        if probs.len() != n_states * n_actions {
            return Err(SolveError::Shape {
                what: "policy",
                expected: n_states * n_actions,
                got: probs.len(),
            });
        }
        for (s, row) in probs.chunks_exact(n_actions).enumerate() {
            if let Some(a) = row.iter().position(|p| !(p.is_finite() && *p >= 0.0)) {
                return Err(SolveError::InvalidPolicy(format!(
                    "π({a} | {s}) = {} is not a probability",
                    row[a]
                )));
            }
            let sum: f64 = row.iter().sum();
            if (sum - 1.0).abs() > POLICY_SUM_TOL {
                return Err(SolveError::InvalidPolicy(format!("π(· | {s}) sums to {sum}")));
            }
        }
        Ok(Policy { n_states, n_actions, probs })
    }

    /// The uniformly random policy.
    pub fn uniform(n_states: usize, n_actions: usize) -> Self {
        assert!(n_actions > 0, "a policy needs at least one action");
        Policy { n_states, n_actions, probs: vec![1.0 / n_actions as f64; n_states * n_actions] }
    }

    /// The deterministic policy taking `actions[s]` in state `s`.
    pub fn deterministic(actions: &[usize], n_actions: usize) -> Result<Self, SolveError> {
        let mut probs = vec![0.0; actions.len() * n_actions];
        for (s, &a) in actions.iter().enumerate() {
            if a >= n_actions {
                return Err(SolveError::InvalidPolicy(format!("action {a} in state {s} is ≥ {n_actions}")));
            }
            probs[s * n_actions + a] = 1.0;
        }
        Ok(Policy { n_states: actions.len(), n_actions, probs })
    }

    /// The deterministic greedy policy of `q[s][a]` (ties go to the lowest action index).
    pub fn greedy(q: &[f64], n_actions: usize) -> Self {
        let actions = greedy_actions(q, n_actions);
        Policy::deterministic(&actions, n_actions).expect("argmax is in range")
    }

    /// The softmax (Boltzmann) policy `π(a|s) ∝ exp(q[s][a] / τ)`, `τ > 0`.
    ///
    /// # Panics
    /// If `τ` is not positive and finite, or `q.len()` is not a multiple of `n_actions`.
    pub fn softmax(q: &[f64], n_actions: usize, tau: f64) -> Self {
        assert!(tau > 0.0 && tau.is_finite(), "softmax temperature must be positive, got {tau}");
        assert!(
            n_actions > 0 && q.len().is_multiple_of(n_actions),
            "q has {} entries, not a multiple of {n_actions}",
            q.len()
        );
        let mut probs = Vec::with_capacity(q.len());
        for row in q.chunks_exact(n_actions) {
            let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let start = probs.len();
            probs.extend(row.iter().map(|x| ((x - m) / tau).exp()));
            let z: f64 = probs[start..].iter().sum();
            probs[start..].iter_mut().for_each(|p| *p /= z);
        }
        Policy { n_states: q.len() / n_actions, n_actions, probs }
    }

    /// Number of states.
    pub fn n_states(&self) -> usize {
        self.n_states
    }
    /// Number of actions.
    pub fn n_actions(&self) -> usize {
        self.n_actions
    }
    /// `π(a | s)`.
    pub fn prob(&self, s: usize, a: usize) -> f64 {
        self.probs[s * self.n_actions + a]
    }
    /// The distribution `π(· | s)`.
    pub fn row(&self, s: usize) -> &[f64] {
        &self.probs[s * self.n_actions..(s + 1) * self.n_actions]
    }
    /// All probabilities, row-major.
    pub fn probs(&self) -> &[f64] {
        &self.probs
    }
    /// The action of each state if the policy is deterministic, `None` otherwise.
    pub fn as_deterministic(&self) -> Option<Vec<usize>> {
        self.probs.chunks_exact(self.n_actions).map(|row| row.iter().position(|&p| p == 1.0)).collect()
    }
}

/// `argmax_a q[s][a]` for every state (ties go to the lowest action index).
pub fn greedy_actions(q: &[f64], n_actions: usize) -> Vec<usize> {
    q.chunks_exact(n_actions)
        .map(|row| {
            let mut best = 0;
            for (a, &x) in row.iter().enumerate() {
                if x > row[best] {
                    best = a;
                }
            }
            best
        })
        .collect()
}
