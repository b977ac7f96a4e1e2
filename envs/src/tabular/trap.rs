//! The "trap" gridworld of the BARFI reproduction check (methods.md §1.5).
//!
//! A 5×5 open grid, deterministic moves (the [`super::gridworld`] dynamics and action order:
//! up, down, left, right; bumping into the border leaves the agent in place), γ = 0.99:
//!
//! ```text
//! Sd...      S = start (0,0)
//! .....      d = distractor D (0,1)
//! .....      G = goal (4,4), terminal
//! .....
//! ....G
//! ```
//!
//! Two reward features, `[primary, aux]`:
//! - `primary`: +1 on entering the goal (the designer's true objective r_p);
//! - `aux`: +0.2 for every step that ends in D, i.e. every time step spent in D, including
//!   bumping into the top border from D (the misaligned heuristic r_aux). Looping in D is worth
//!   0.2 / (1 − γ) = 20 from D.
//!
//! The MDP's reward is `r = w_p · primary + w_aux · aux`. The default weights `[1, 0]` give the
//! primary reward only (optimal return from the start: γ⁷ ≈ 0.932, eight moves); the naive blend
//! `[1, 1]` makes looping in D optimal.

use super::gridworld::{GridLayout, Gridworld, GridworldConfig};
use super::mdp::{MdpError, MdpParts, TabularMdp};

/// The trap gridworld: MDP with features `[primary, aux]` and its layout.
#[derive(Debug, Clone, PartialEq)]
pub struct TrapGridworld {
    mdp: TabularMdp,
    layout: GridLayout,
}

impl TrapGridworld {
    /// The map (rows separated by `/`).
    pub const MAP: &'static str = "Sd.../...../...../...../....G";
    /// Discount.
    pub const GAMMA: f64 = 0.99;
    /// Auxiliary reward per step spent in D.
    pub const AUX_REWARD: f64 = 0.2;
    /// Start cell.
    pub const START: (usize, usize) = (0, 0);
    /// Distractor cell D.
    pub const DISTRACTOR: (usize, usize) = (0, 1);
    /// Goal cell.
    pub const GOAL: (usize, usize) = (4, 4);
    /// Feature names.
    pub const FEATURE_NAMES: [&'static str; 2] = ["primary", "aux"];
    /// Index of the primary feature.
    pub const PRIMARY: usize = 0;
    /// Index of the auxiliary feature.
    pub const AUX: usize = 1;

    /// The trap world with weights `[1, 0]` (primary reward only).
    pub fn new() -> Self {
        Self::with_weights([1.0, 0.0]).expect("finite weights")
    }

    /// The trap world with reward `weights[0] · primary + weights[1] · aux`.
    pub fn with_weights(weights: [f64; 2]) -> Result<Self, MdpError> {
        let grid =
            Gridworld::from_ascii(Self::MAP, GridworldConfig { gamma: Self::GAMMA, ..Default::default() })?;
        let (mdp, layout) = grid.into_parts();
        let goal = mdp.feature_index("goal").expect("gridworld feature");
        let d = mdp.feature_index("d").expect("map has a d cell");
        let parts = mdp.into_parts();
        let rows = parts.n_states * parts.n_actions;
        let features: Vec<f64> = (0..rows)
            .flat_map(|i| {
                let phi = &parts.features[i * parts.n_features..(i + 1) * parts.n_features];
                [phi[goal], Self::AUX_REWARD * phi[d]]
            })
            .collect();
        let mdp = TabularMdp::new(MdpParts {
            n_features: 2,
            features,
            weights: weights.to_vec(),
            feature_names: Self::FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            ..parts
        })?;
        Ok(TrapGridworld { mdp, layout })
    }

    /// The MDP.
    pub fn mdp(&self) -> &TabularMdp {
        &self.mdp
    }
    /// The MDP, mutably (e.g. to blend the features with other weights).
    pub fn mdp_mut(&mut self) -> &mut TabularMdp {
        &mut self.mdp
    }
    /// The layout.
    pub fn layout(&self) -> &GridLayout {
        &self.layout
    }
    /// Splits into the MDP and the layout.
    pub fn into_parts(self) -> (TabularMdp, GridLayout) {
        (self.mdp, self.layout)
    }
    /// The state at `(row, col)` (every cell is a state).
    pub fn state(&self, row: usize, col: usize) -> usize {
        self.layout.state(row, col).expect("the trap map has no walls")
    }
    /// The `(row, col)` of state `s`.
    pub fn cell(&self, s: usize) -> (usize, usize) {
        self.layout.cell(s)
    }
    /// The primary reward vector `r_p[s][a]` (weights `[1, 0]`).
    pub fn primary_rewards(&self) -> Vec<f64> {
        self.mdp.rewards_for(&[1.0, 0.0]).expect("two features")
    }
    /// The auxiliary reward vector `r_aux[s][a]` (weights `[0, 1]`).
    pub fn aux_rewards(&self) -> Vec<f64> {
        self.mdp.rewards_for(&[0.0, 1.0]).expect("two features")
    }
    /// The grid as text with `@` on `agent`.
    pub fn render(&self, agent: Option<usize>) -> String {
        self.layout.render(agent)
    }
}

impl Default for TrapGridworld {
    fn default() -> Self {
        Self::new()
    }
}
