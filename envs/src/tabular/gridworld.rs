//! ASCII gridworlds: [`Gridworld::from_ascii`] builds a [`TabularMdp`] from a text map.
//!
//! # Map characters
//!
//! | char | cell |
//! |---|---|
//! | `.` | free cell |
//! | `#` | wall: not a state; moving into it leaves the agent in place |
//! | `S` | start cell (free). With no `S`, every free non-terminal cell is a start cell |
//! | `G` | goal: terminal; entering it earns the `goal` feature |
//! | `X` | pit: terminal; entering it earns the `pit` feature |
//! | `a`…`z` | free cell carrying its own feature `"a"`…`"z"`, earned by every step that *ends* on it |
//!
//! Rows are separated by newlines or `/` (so a map fits in one command-line option, e.g.
//! `S..#/...G`); spaces around rows are trimmed and empty rows skipped; all rows must have the same
//! length. The border of the map acts as a wall.
//!
//! # States, actions, dynamics
//!
//! - States are the non-wall cells numbered row-major ([`GridLayout::state`] / [`GridLayout::cell`]).
//! - Four actions, in Knox et al.'s order: 0 = up (row − 1), 1 = down (row + 1), 2 = left
//!   (col − 1), 3 = right (col + 1) ([`Move`]).
//! - With probability `1 − slip` the intended move happens; with probability `slip / 2` each, one
//!   of the two perpendicular moves happens instead. A move into a wall or off the map leaves the
//!   agent where it is.
//!
//! # Features and reward
//!
//! Features, in this order: `goal`, `pit`, `step`, then one per letter present in the map
//! (alphabetical). For a non-terminal state `s` and action `a`: `goal`/`pit`/letter features are
//! the probability that the step ends on such a cell (staying on a letter cell counts), and `step`
//! is 1. Default weights are `[goal_reward, pit_reward, step_reward, 0, …]` from
//! [`GridworldConfig`]; change them with [`TabularMdp::set_weights`].

use super::mdp::{MdpError, MdpParts, TabularMdp};

/// The four grid moves, in action-index order (Knox et al.'s order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Move {
    /// Action 0: row − 1.
    Up,
    /// Action 1: row + 1.
    Down,
    /// Action 2: col − 1.
    Left,
    /// Action 3: col + 1.
    Right,
}

impl Move {
    /// All moves in action-index order.
    pub const ALL: [Move; 4] = [Move::Up, Move::Down, Move::Left, Move::Right];

    /// The action index.
    pub fn index(self) -> usize {
        self as usize
    }
    /// The move with action index `a`, if `a < 4`.
    pub fn from_index(a: usize) -> Option<Move> {
        Move::ALL.get(a).copied()
    }
    /// `(Δrow, Δcol)`.
    pub fn delta(self) -> (isize, isize) {
        match self {
            Move::Up => (-1, 0),
            Move::Down => (1, 0),
            Move::Left => (0, -1),
            Move::Right => (0, 1),
        }
    }
    /// The two perpendicular moves.
    pub fn perpendicular(self) -> [Move; 2] {
        match self {
            Move::Up | Move::Down => [Move::Left, Move::Right],
            Move::Left | Move::Right => [Move::Up, Move::Down],
        }
    }
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        ["up", "down", "left", "right"][self as usize]
    }
    /// The cell reached from `(row, col)` if it lies on a `rows × cols` map, ignoring walls.
    pub fn apply(self, row: usize, col: usize, rows: usize, cols: usize) -> Option<(usize, usize)> {
        let (dr, dc) = self.delta();
        let r = row.checked_add_signed(dr).filter(|&r| r < rows)?;
        let c = col.checked_add_signed(dc).filter(|&c| c < cols)?;
        Some((r, c))
    }
}

/// Where the states of a grid MDP lie, for coordinates and text rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridLayout {
    rows: usize,
    cols: usize,
    chars: Vec<char>,
    state_of_cell: Vec<Option<usize>>,
    cell_of_state: Vec<(usize, usize)>,
}

impl GridLayout {
    /// A layout from display characters (row-major, `rows × cols`) and the state of each cell
    /// (`None` for cells that are not states). States must be `0..n` without gaps.
    pub fn new(
        rows: usize,
        cols: usize,
        chars: Vec<char>,
        state_of_cell: Vec<Option<usize>>,
    ) -> Result<Self, MdpError> {
        if chars.len() != rows * cols || state_of_cell.len() != rows * cols {
            return Err(MdpError::Build(format!(
                "layout of {rows}×{cols} needs {} cells, got {} chars and {} states",
                rows * cols,
                chars.len(),
                state_of_cell.len()
            )));
        }
        let n = state_of_cell.iter().flatten().count();
        let mut cell_of_state = vec![None; n];
        for (i, s) in state_of_cell.iter().enumerate() {
            if let Some(s) = *s {
                match cell_of_state.get_mut(s) {
                    Some(slot @ None) => *slot = Some((i / cols, i % cols)),
                    _ => {
                        return Err(MdpError::Build(format!(
                            "layout: state {s} is repeated or out of range"
                        )));
                    }
                }
            }
        }
        let cell_of_state = cell_of_state.into_iter().map(|c| c.expect("every state seen once")).collect();
        Ok(GridLayout { rows, cols, chars, state_of_cell, cell_of_state })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Number of states.
    pub fn n_states(&self) -> usize {
        self.cell_of_state.len()
    }
    /// The state at `(row, col)`, or `None` for a wall or a cell off the map.
    pub fn state(&self, row: usize, col: usize) -> Option<usize> {
        if row < self.rows && col < self.cols { self.state_of_cell[row * self.cols + col] } else { None }
    }
    /// The `(row, col)` of state `s`.
    ///
    /// # Panics
    /// If `s` is not a state of the layout.
    pub fn cell(&self, s: usize) -> (usize, usize) {
        self.cell_of_state[s]
    }
    /// The display character of `(row, col)`.
    pub fn char_at(&self, row: usize, col: usize) -> char {
        self.chars[row * self.cols + col]
    }
    /// The map as text, one line per row, with `@` on the agent's state if given.
    pub fn render(&self, agent: Option<usize>) -> String {
        let agent = agent.and_then(|s| self.cell_of_state.get(s).copied());
        let mut out = String::with_capacity(self.rows * (self.cols + 1));
        for r in 0..self.rows {
            for c in 0..self.cols {
                out.push(if agent == Some((r, c)) { '@' } else { self.char_at(r, c) });
            }
            out.push('\n');
        }
        out
    }
}

/// Settings of [`Gridworld::from_ascii`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridworldConfig {
    /// Probability that a move goes sideways instead (half to each perpendicular side), in `[0, 1]`.
    pub slip: f64,
    /// Discount `γ ∈ [0, 1]`.
    pub gamma: f64,
    /// Weight of the `goal` feature.
    pub goal_reward: f64,
    /// Weight of the `pit` feature.
    pub pit_reward: f64,
    /// Weight of the `step` feature (reward of every step from a non-terminal state).
    pub step_reward: f64,
}

impl Default for GridworldConfig {
    /// `slip = 0`, `γ = 0.99`, goal +1, pit −1, step 0.
    fn default() -> Self {
        GridworldConfig { slip: 0.0, gamma: 0.99, goal_reward: 1.0, pit_reward: -1.0, step_reward: 0.0 }
    }
}

/// A gridworld built from an ASCII map: the MDP and where its states lie.
#[derive(Debug, Clone, PartialEq)]
pub struct Gridworld {
    mdp: TabularMdp,
    layout: GridLayout,
}

/// Index of the `goal` feature of a [`Gridworld`].
pub const GOAL_FEATURE: usize = 0;
/// Index of the `pit` feature of a [`Gridworld`].
pub const PIT_FEATURE: usize = 1;
/// Index of the `step` feature of a [`Gridworld`].
pub const STEP_FEATURE: usize = 2;

impl Gridworld {
    /// Parses `map` (see the [module docs](self) for the characters and the dynamics).
    pub fn from_ascii(map: &str, config: GridworldConfig) -> Result<Self, MdpError> {
        if !(config.slip.is_finite() && (0.0..=1.0).contains(&config.slip)) {
            return Err(MdpError::Build(format!("slip = {} is outside [0, 1]", config.slip)));
        }
        let lines: Vec<Vec<char>> = map
            .split(['\n', '/'])
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| l.chars().collect())
            .collect();
        if lines.is_empty() {
            return Err(MdpError::Build("the map is empty".into()));
        }
        let (rows, cols) = (lines.len(), lines[0].len());
        if let Some((r, l)) = lines.iter().enumerate().find(|(_, l)| l.len() != cols) {
            return Err(MdpError::Build(format!(
                "map row {r} has {} cells but row 0 has {cols}: all rows must have the same length",
                l.len()
            )));
        }
        let mut letters: Vec<char> = Vec::new();
        let mut state_of_cell = vec![None; rows * cols];
        let mut n = 0;
        for (r, line) in lines.iter().enumerate() {
            for (c, &ch) in line.iter().enumerate() {
                match ch {
                    '#' => {}
                    '.' | 'S' | 'G' | 'X' | 'a'..='z' => {
                        if ch.is_ascii_lowercase() && !letters.contains(&ch) {
                            letters.push(ch);
                        }
                        state_of_cell[r * cols + c] = Some(n);
                        n += 1;
                    }
                    other => {
                        return Err(MdpError::Build(format!(
                            "unknown map character {other:?} at row {r}, column {c} \
                             (use . # S G X or a lower-case letter)"
                        )));
                    }
                }
            }
        }
        letters.sort_unstable();
        let chars: Vec<char> = lines.concat();
        let layout = GridLayout::new(rows, cols, chars, state_of_cell)?;
        let ns = layout.n_states();
        if ns == 0 {
            return Err(MdpError::Build("the map has no free cell".into()));
        }
        let cell_char = |s: usize| {
            let (r, c) = layout.cell(s);
            layout.char_at(r, c)
        };
        let terminal: Vec<bool> = (0..ns).map(|s| matches!(cell_char(s), 'G' | 'X')).collect();
        let mut start: Vec<f64> = (0..ns).map(|s| f64::from(u8::from(cell_char(s) == 'S'))).collect();
        if start.iter().all(|x| *x == 0.0) {
            start = terminal.iter().map(|t| f64::from(u8::from(!t))).collect();
        }
        let total: f64 = start.iter().sum();
        if total == 0.0 {
            return Err(MdpError::Build("the map has no non-terminal cell to start from".into()));
        }
        start.iter_mut().for_each(|x| *x /= total);

        let k = 3 + letters.len();
        let na = 4;
        let mut transitions = vec![0.0; ns * na * ns];
        let mut features = vec![0.0; ns * na * k];
        // The feature index earned by ending a step on state s, if any.
        let arrival_feature = |s: usize| match cell_char(s) {
            'G' => Some(GOAL_FEATURE),
            'X' => Some(PIT_FEATURE),
            ch @ 'a'..='z' => letters.iter().position(|&l| l == ch).map(|i| 3 + i),
            _ => None,
        };
        let target = |s: usize, m: Move| {
            let (r, c) = layout.cell(s);
            m.apply(r, c, rows, cols).and_then(|(r2, c2)| layout.state(r2, c2)).unwrap_or(s)
        };
        for s in 0..ns {
            for m in Move::ALL {
                let a = m.index();
                let [p1, p2] = m.perpendicular();
                let outcomes = [(m, 1.0 - config.slip), (p1, config.slip / 2.0), (p2, config.slip / 2.0)];
                let row = (s * na + a) * ns;
                let phi = (s * na + a) * k;
                for (mv, p) in outcomes {
                    if p == 0.0 {
                        continue;
                    }
                    let next = target(s, mv);
                    transitions[row + next] += p;
                    if let Some(i) = arrival_feature(next) {
                        features[phi + i] += p;
                    }
                }
                features[phi + STEP_FEATURE] = 1.0;
            }
        }
        let mut feature_names: Vec<String> = ["goal", "pit", "step"].iter().map(|s| s.to_string()).collect();
        feature_names.extend(letters.iter().map(|c| c.to_string()));
        let mut weights = vec![0.0; k];
        weights[GOAL_FEATURE] = config.goal_reward;
        weights[PIT_FEATURE] = config.pit_reward;
        weights[STEP_FEATURE] = config.step_reward;
        let mdp = TabularMdp::new(MdpParts {
            n_states: ns,
            n_actions: na,
            transitions,
            n_features: k,
            features,
            weights,
            feature_names,
            gamma: config.gamma,
            start,
            terminal,
        })?;
        Ok(Gridworld { mdp, layout })
    }

    /// The MDP.
    pub fn mdp(&self) -> &TabularMdp {
        &self.mdp
    }
    /// The MDP, mutably (e.g. to change weights or γ).
    pub fn mdp_mut(&mut self) -> &mut TabularMdp {
        &mut self.mdp
    }
    /// The layout (state ↔ cell map, rendering).
    pub fn layout(&self) -> &GridLayout {
        &self.layout
    }
    /// Splits into the MDP and the layout.
    pub fn into_parts(self) -> (TabularMdp, GridLayout) {
        (self.mdp, self.layout)
    }
    /// The state at `(row, col)`, or `None` for a wall.
    pub fn state(&self, row: usize, col: usize) -> Option<usize> {
        self.layout.state(row, col)
    }
    /// The `(row, col)` of state `s`.
    pub fn cell(&self, s: usize) -> (usize, usize) {
        self.layout.cell(s)
    }
    /// The map as text with `@` on `agent`.
    pub fn render(&self, agent: Option<usize>) -> String {
        self.layout.render(agent)
    }
}
