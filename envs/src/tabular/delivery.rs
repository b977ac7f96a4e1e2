//! The delivery world of Knox et al. ("Models of human preference for learning reward
//! functions", arXiv 2206.02231), built from the board of their public code.
//!
//! # Board
//!
//! `board[row][col]` holds an entity code ([`Entity`]): 0 blank, 1 goal, 2 house, 3 sheep, 4 coin,
//! 5 road block, 6 mud, 7 mud+goal, 8 mud+house, 9 mud+sheep, 10 mud+coin, 11 mud+road block.
//! The embedded board ([`KNOX_BOARD_JSON`], 10×10) is `data/knox/delivery_board.json` of the
//! shared folder.
//!
//! # MDP
//!
//! - One state per cell, `s = row · cols + col` (house cells included, so the reward table is
//!   defined everywhere, but they are never start states and cannot be entered).
//! - Four deterministic actions: 0 = up (row − 1), 1 = down (row + 1), 2 = left (col − 1),
//!   3 = right (col + 1), inferred from `delivery_rewards_function.json` and the reference code.
//! - Moving off the board or into a house leaves the agent in place.
//! - Goal and sheep cells (with or without mud) are terminal; γ = 0.999 ([`DeliveryWorld::GAMMA`]).
//! - Start distribution: uniform over the non-house, non-terminal cells (92 on Knox's board).
//!
//! # Features `[gas, goal, sheep, coin, road block, mud]`, true weights `[−1, 50, −50, 1, −1, −2]`
//!
//! The features of a step depend on the cell entered:
//!
//! | entered cell | features |
//! |---|---|
//! | blank | gas |
//! | goal, mud+goal | goal |
//! | sheep, mud+sheep | sheep |
//! | coin | gas + coin |
//! | road block | gas + road block |
//! | mud | mud |
//! | mud+coin | mud + coin (the reference code gives zero features here; the table's −1 needs mud + coin) |
//! | mud+road block | mud + road block |
//!
//! A step that does not move (a bump) has gas only, except a bump into the **board's edge** from a
//! mud cell (mud, mud+coin, mud+road block, mud+house), which has mud only. In particular a bump
//! into a *house* from a mud cell is gas only. This is what the reference reward table says (the
//! mud cells at (1,9), (2,9), (7,9), (4,0), (5,0), (6,0) give −2 against the edge, while (6,0)
//! gives −1 against the house at (6,1)); the reference code's `set_custom_reward_function` would
//! give −2 for the latter.

use serde_json::Value as Json;

use super::gridworld::{GridLayout, Move};
use super::mdp::{MdpError, MdpParts, TabularMdp};

/// Knox et al.'s delivery board (`delivery_board.json`), embedded at compile time from
/// `envs/data/knox/` (a copy of the project's `shared/data/knox/`, checked equal by a test).
pub const KNOX_BOARD_JSON: &str = include_str!("../../data/knox/delivery_board.json");

/// Knox et al.'s true reward table `[row][col][action]` under the true weights
/// (`delivery_rewards_function.json`), embedded at compile time.
pub const KNOX_REWARDS_JSON: &str = include_str!("../../data/knox/delivery_rewards_function.json");

/// Entity codes of the delivery board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Entity {
    /// 0: empty road.
    Blank = 0,
    /// 1: delivery destination (terminal, +50).
    Goal = 1,
    /// 2: house (cannot be entered).
    House = 2,
    /// 3: sheep (terminal, −50).
    Sheep = 3,
    /// 4: coin (+1 on top of the gas cost).
    Coin = 4,
    /// 5: road block (−1 on top of the gas cost).
    RoadBlock = 5,
    /// 6: mud (−2 instead of the gas cost).
    Mud = 6,
    /// 7: goal in mud.
    MudGoal = 7,
    /// 8: house in mud.
    MudHouse = 8,
    /// 9: sheep in mud.
    MudSheep = 9,
    /// 10: coin in mud.
    MudCoin = 10,
    /// 11: road block in mud.
    MudRoadBlock = 11,
}

impl Entity {
    /// The entity with code `code`, if `code ≤ 11`.
    pub fn from_code(code: u8) -> Option<Entity> {
        use Entity::*;
        [Blank, Goal, House, Sheep, Coin, RoadBlock, Mud, MudGoal, MudHouse, MudSheep, MudCoin, MudRoadBlock]
            .get(code as usize)
            .copied()
    }
    /// Houses cannot be entered.
    pub fn is_blocking(self) -> bool {
        matches!(self, Entity::House | Entity::MudHouse)
    }
    /// Goal and sheep cells end the episode.
    pub fn is_terminal(self) -> bool {
        matches!(self, Entity::Goal | Entity::MudGoal | Entity::Sheep | Entity::MudSheep)
    }
    /// Whether the cell is in mud.
    pub fn is_mud(self) -> bool {
        self as u8 >= 6
    }
    /// Display character: `.` blank, `G` goal, `#` house, `X` sheep, `c` coin, `r` road block,
    /// `~` mud, `g` mud+goal, `%` mud+house, `x` mud+sheep, `C` mud+coin, `R` mud+road block.
    pub fn symbol(self) -> char {
        ['.', 'G', '#', 'X', 'c', 'r', '~', 'g', '%', 'x', 'C', 'R'][self as usize]
    }
    /// The features `[gas, goal, sheep, coin, road block, mud]` of a step that enters this cell.
    fn entry_features(self) -> [f64; 6] {
        use Entity::*;
        match self {
            Blank => [1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            Goal | MudGoal => [0.0, 1.0, 0.0, 0.0, 0.0, 0.0],
            Sheep | MudSheep => [0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
            Coin => [1.0, 0.0, 0.0, 1.0, 0.0, 0.0],
            RoadBlock => [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            Mud => [0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
            MudCoin => [0.0, 0.0, 0.0, 1.0, 0.0, 1.0],
            MudRoadBlock => [0.0, 0.0, 0.0, 0.0, 1.0, 1.0],
            House | MudHouse => unreachable!("houses cannot be entered"),
        }
    }
}

const GAS: [f64; 6] = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
const MUD: [f64; 6] = [0.0, 0.0, 0.0, 0.0, 0.0, 1.0];

/// The delivery world: board, MDP (features and true weights), layout.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryWorld {
    board: Vec<Vec<Entity>>,
    mdp: TabularMdp,
    layout: GridLayout,
}

impl DeliveryWorld {
    /// Feature names, in order.
    pub const FEATURE_NAMES: [&'static str; 6] = ["gas", "goal", "sheep", "coin", "road_block", "mud"];
    /// Knox et al.'s true weights `w*` over [`DeliveryWorld::FEATURE_NAMES`].
    pub const TRUE_WEIGHTS: [f64; 6] = [-1.0, 50.0, -50.0, 1.0, -1.0, -2.0];
    /// Discount.
    pub const GAMMA: f64 = 0.999;

    /// Knox et al.'s 10×10 board with the true weights.
    pub fn knox() -> Self {
        Self::from_board_json(KNOX_BOARD_JSON).expect("the embedded board is valid")
    }

    /// A board from JSON: an array of equally long rows of entity codes (integers, possibly
    /// written as floats like `4.0`).
    pub fn from_board_json(json: &str) -> Result<Self, MdpError> {
        let v: Json = serde_json::from_str(json).map_err(|e| MdpError::Build(format!("board JSON: {e}")))?;
        let rows =
            v.as_array().ok_or_else(|| MdpError::Build("board JSON: expected an array of rows".into()))?;
        let mut board = Vec::with_capacity(rows.len());
        for (r, row) in rows.iter().enumerate() {
            let cells = row
                .as_array()
                .ok_or_else(|| MdpError::Build(format!("board JSON: row {r} is not an array")))?;
            let mut out = Vec::with_capacity(cells.len());
            for (c, x) in cells.iter().enumerate() {
                let code =
                    x.as_f64().filter(|x| x.fract() == 0.0 && (0.0..=11.0).contains(x)).ok_or_else(|| {
                        MdpError::Build(format!("board JSON: cell ({r}, {c}) = {x} is not a code 0..=11"))
                    })?;
                out.push(code as u8);
            }
            board.push(out);
        }
        Self::from_codes(&board)
    }

    /// A board from entity codes `board[row][col]`, with the true weights and γ = 0.999.
    pub fn from_codes(board: &[Vec<u8>]) -> Result<Self, MdpError> {
        let rows = board.len();
        let cols = board.first().map_or(0, Vec::len);
        if rows == 0 || cols == 0 {
            return Err(MdpError::Build("the board is empty".into()));
        }
        let mut grid = Vec::with_capacity(rows);
        for (r, row) in board.iter().enumerate() {
            if row.len() != cols {
                return Err(MdpError::Build(format!(
                    "board row {r} has {} cells, row 0 has {cols}",
                    row.len()
                )));
            }
            let ents = row
                .iter()
                .enumerate()
                .map(|(c, &code)| {
                    Entity::from_code(code).ok_or_else(|| {
                        MdpError::Build(format!("board cell ({r}, {c}) has unknown code {code}"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            grid.push(ents);
        }
        let ns = rows * cols;
        let na = 4;
        let k = 6;
        let mut transitions = vec![0.0; ns * na * ns];
        let mut features = vec![0.0; ns * na * k];
        let mut terminal = vec![false; ns];
        let mut start = vec![0.0; ns];
        for r in 0..rows {
            for c in 0..cols {
                let s = r * cols + c;
                let here = grid[r][c];
                terminal[s] = here.is_terminal();
                if !here.is_terminal() && !here.is_blocking() {
                    start[s] = 1.0;
                }
                for m in Move::ALL {
                    let a = m.index();
                    let (next, phi) = match m.apply(r, c, rows, cols) {
                        None => (s, if here.is_mud() { MUD } else { GAS }),
                        Some((r2, c2)) if grid[r2][c2].is_blocking() => (s, GAS),
                        Some((r2, c2)) => (r2 * cols + c2, grid[r2][c2].entry_features()),
                    };
                    transitions[(s * na + a) * ns + next] = 1.0;
                    features[(s * na + a) * k..(s * na + a + 1) * k].copy_from_slice(&phi);
                }
            }
        }
        let n_start: f64 = start.iter().sum();
        if n_start == 0.0 {
            return Err(MdpError::Build(
                "the board has no start cell (every cell is a house or terminal)".into(),
            ));
        }
        start.iter_mut().for_each(|x| *x /= n_start);
        let mdp = TabularMdp::new(MdpParts {
            n_states: ns,
            n_actions: na,
            transitions,
            n_features: k,
            features,
            weights: Self::TRUE_WEIGHTS.to_vec(),
            feature_names: Self::FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            gamma: Self::GAMMA,
            start,
            terminal,
        })?;
        let chars = grid.iter().flatten().map(|e| e.symbol()).collect();
        let layout = GridLayout::new(rows, cols, chars, (0..ns).map(Some).collect())?;
        Ok(DeliveryWorld { board: grid, mdp, layout })
    }

    /// The board, `board[row][col]`.
    pub fn board(&self) -> &[Vec<Entity>] {
        &self.board
    }
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.board.len()
    }
    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.board[0].len()
    }
    /// The entity at `(row, col)`.
    pub fn entity(&self, row: usize, col: usize) -> Entity {
        self.board[row][col]
    }
    /// The state of `(row, col)`: `row · cols + col`.
    pub fn state(&self, row: usize, col: usize) -> usize {
        row * self.cols() + col
    }
    /// The `(row, col)` of state `s`.
    pub fn cell(&self, s: usize) -> (usize, usize) {
        (s / self.cols(), s % self.cols())
    }
    /// The MDP (true weights unless changed through [`DeliveryWorld::mdp_mut`]).
    pub fn mdp(&self) -> &TabularMdp {
        &self.mdp
    }
    /// The MDP, mutably.
    pub fn mdp_mut(&mut self) -> &mut TabularMdp {
        &mut self.mdp
    }
    /// The layout (rendering; every cell is a state).
    pub fn layout(&self) -> &GridLayout {
        &self.layout
    }
    /// Splits into the MDP and the layout.
    pub fn into_parts(self) -> (TabularMdp, GridLayout) {
        (self.mdp, self.layout)
    }
    /// The feature matrix `φ[s][a][i]`, row-major, `S·4·6` entries.
    pub fn feature_matrix(&self) -> &[f64] {
        self.mdp.features()
    }
    /// The true weights `w*`.
    pub fn true_weights(&self) -> [f64; 6] {
        Self::TRUE_WEIGHTS
    }
    /// The start states (non-house, non-terminal cells), ascending.
    pub fn start_states(&self) -> Vec<usize> {
        (0..self.mdp.n_states()).filter(|&s| self.mdp.start()[s] > 0.0).collect()
    }
    /// The board as text with `@` on `agent` (legend at [`Entity::symbol`]).
    pub fn render(&self, agent: Option<usize>) -> String {
        self.layout.render(agent)
    }
}
