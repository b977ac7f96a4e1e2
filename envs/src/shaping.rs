//! Auxiliary (heuristic) rewards of varying quality for bilevel reward design (BARFI), and
//! potential-based reward shaping (PBRS, Ng et al. 1999) as the baseline.
//!
//! For CartPole, MountainCar and the trap gridworld each heuristic comes as
//!
//! - a **helpful** auxiliary reward (it points towards what the primary reward wants),
//! - a **misaligned** one (it rewards the wrong state or a loop: adding it naively changes the
//!   optimal behaviour for the worse),
//! - a **potential** `Φ(s)` whose PBRS term `F = γ Φ(s') − Φ(s)` (with `Φ(terminal) = 0`) leaves
//!   the optimal policy unchanged.
//!
//! The classic-control heuristics have the signature `f(obs, action, next_obs, step) -> f64` of
//! [`crate::wrappers::AuxiliaryReward`], which reports them in `info["aux_reward"]`:
//!
//! ```
//! use alignrl_envs::classic::CartPole;
//! use alignrl_envs::shaping::{Heuristic, cartpole_aux};
//! use alignrl_envs::wrappers::{AUX_REWARD, AuxiliaryReward};
//! use alignrl_envs::{Env, Info};
//!
//! let mut env = AuxiliaryReward::new(CartPole::default(), cartpole_aux(Heuristic::Misaligned));
//! let (mut obs, mut info) = ([0.0; 4], Info::new());
//! env.reset(Some(0), &mut obs, &mut info)?;
//! env.step(&[1.0], &mut obs, &mut info)?;
//! assert!(info.get(AUX_REWARD).is_some());
//! # Ok::<(), alignrl_envs::EnvError>(())
//! ```
//!
//! The tabular (trap gridworld) heuristics are reward vectors `r_aux[s][a]` (expected over the
//! next state), for exact solvers; [`tabular_aux`] turns one into a wrapper function.

use std::fmt;
use std::str::FromStr;

use crate::env::Step;
use crate::tabular::{TabularMdp, TrapGridworld};

/// The quality of an auxiliary heuristic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Heuristic {
    /// Points towards the primary objective.
    Helpful,
    /// Rewards the wrong state or a loop.
    Misaligned,
}

impl Heuristic {
    /// Both, in a fixed order.
    pub const ALL: [Heuristic; 2] = [Heuristic::Helpful, Heuristic::Misaligned];
    /// `"helpful"` / `"misaligned"`.
    pub fn name(self) -> &'static str {
        match self {
            Heuristic::Helpful => "helpful",
            Heuristic::Misaligned => "misaligned",
        }
    }
}

impl fmt::Display for Heuristic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown heuristic name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown heuristic {0:?} (expected helpful or misaligned)")]
pub struct UnknownHeuristic(pub String);

impl FromStr for Heuristic {
    type Err = UnknownHeuristic;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "helpful" => Ok(Heuristic::Helpful),
            "misaligned" => Ok(Heuristic::Misaligned),
            other => Err(UnknownHeuristic(other.into())),
        }
    }
}

/// The PBRS term `γ Φ(s') − Φ(s)`, with `Φ(s') = 0` when the step terminated.
pub fn pbrs_term(gamma: f64, phi_s: f64, phi_next: f64, step: &Step) -> f64 {
    let next = if step.terminated { 0.0 } else { phi_next };
    gamma * next - phi_s
}

// ---------------------------------------------------------------- CartPole

/// CartPole's termination angle, 12° in radians.
pub const CARTPOLE_THETA_LIMIT: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;

/// CartPole potential `Φ(s) = −|θ| / θ_max` (θ = pole angle from upright, radians, `obs[2]`).
pub fn cartpole_potential(obs: &[f64]) -> f64 {
    -(obs[2].abs() / CARTPOLE_THETA_LIMIT)
}

/// CartPole heuristics, per step (`next[2]` = pole angle after the step, radians):
///
/// - helpful: `0.5 · (1 − |θ'| / θ_max)`, an uprightness bonus (0 on the terminating step);
/// - misaligned: `2 · |θ'| / θ_max`, a *tilt* bonus worth up to twice the primary +1 per step:
///   it rewards the wrong state (a leaning pole, next to failure).
pub fn cartpole_aux(h: Heuristic) -> impl Fn(&[f64], &[f64], &[f64], &Step) -> f64 + Send + Sync + Copy {
    move |_obs: &[f64], _a: &[f64], next: &[f64], step: &Step| {
        let tilt = (next[2].abs() / CARTPOLE_THETA_LIMIT).min(1.0);
        match h {
            Heuristic::Helpful if step.terminated => 0.0,
            Heuristic::Helpful => 0.5 * (1.0 - tilt),
            Heuristic::Misaligned => 2.0 * tilt,
        }
    }
}

/// CartPole PBRS with [`cartpole_potential`] and discount `gamma`.
pub fn cartpole_pbrs(gamma: f64) -> impl Fn(&[f64], &[f64], &[f64], &Step) -> f64 + Send + Sync + Copy {
    move |obs: &[f64], _a: &[f64], next: &[f64], step: &Step| {
        pbrs_term(gamma, cartpole_potential(obs), cartpole_potential(next), step)
    }
}

// ------------------------------------------------------------- MountainCar

/// Mechanical energy of the mountain car per unit mass, in Gymnasium's track units:
/// `E(x, v) = (0.0025 / 3) sin(3x) + v² / 2` (conserved by the passive dynamics
/// `v ← v − 0.0025 cos(3x)`, up to the Euler step), times 1000 so one step changes it by ≈ 0.1.
pub fn mountain_car_energy(obs: &[f64]) -> f64 {
    1000.0 * ((0.0025 / 3.0) * (3.0 * obs[0]).sin() + 0.5 * obs[1] * obs[1])
}

/// MountainCar heuristics (`obs = [position, velocity]`):
///
/// - helpful: the energy gain `E(s') − E(s)` of [`mountain_car_energy`] (rocking builds energy);
/// - misaligned: `+1.5` per step that ends with position `< −0.9` (parked on the left hill: more
///   than cancels the primary −1 per step, so the naive blend never leaves).
pub fn mountain_car_aux(h: Heuristic) -> impl Fn(&[f64], &[f64], &[f64], &Step) -> f64 + Send + Sync + Copy {
    move |obs: &[f64], _a: &[f64], next: &[f64], _step: &Step| match h {
        Heuristic::Helpful => mountain_car_energy(next) - mountain_car_energy(obs),
        Heuristic::Misaligned => {
            if next[0] < -0.9 {
                1.5
            } else {
                0.0
            }
        }
    }
}

/// MountainCar PBRS with potential [`mountain_car_energy`] and discount `gamma`.
pub fn mountain_car_pbrs(gamma: f64) -> impl Fn(&[f64], &[f64], &[f64], &Step) -> f64 + Send + Sync + Copy {
    move |obs: &[f64], _a: &[f64], next: &[f64], step: &Step| {
        pbrs_term(gamma, mountain_car_energy(obs), mountain_car_energy(next), step)
    }
}

// ---------------------------------------------------------- trap gridworld

/// Manhattan distance (cells) from state `s` of the trap world to its goal.
pub fn trap_goal_distance(trap: &TrapGridworld, s: usize) -> f64 {
    let (r, c) = trap.cell(s);
    let (gr, gc) = TrapGridworld::GOAL;
    (r.abs_diff(gr) + c.abs_diff(gc)) as f64
}

/// The trap world's potentials:
/// - helpful: `Φ(s) = −0.1 · dist(s, goal)`;
/// - misaligned: `Φ(s) = 20 · [s = D]`, the discounted value `0.2 / (1 − γ)` the misaligned
///   heuristic puts on the distractor D.
pub fn trap_potential(trap: &TrapGridworld, h: Heuristic) -> Vec<f64> {
    let d = trap.state(TrapGridworld::DISTRACTOR.0, TrapGridworld::DISTRACTOR.1);
    (0..trap.mdp().n_states())
        .map(|s| match h {
            Heuristic::Helpful => -0.1 * trap_goal_distance(trap, s),
            Heuristic::Misaligned => {
                if s == d {
                    TrapGridworld::AUX_REWARD / (1.0 - TrapGridworld::GAMMA)
                } else {
                    0.0
                }
            }
        })
        .collect()
}

/// The trap world's auxiliary rewards `r_aux[s][a]` (0 in the terminal goal):
/// - helpful: progress `0.1 · (dist(s) − E[dist(s')])` towards the goal (sums to 0 around any
///   loop, so it cannot be farmed);
/// - misaligned: `+0.2` per step spent in D (the world's `aux` feature), worth 20 by looping.
pub fn trap_aux(trap: &TrapGridworld, h: Heuristic) -> Vec<f64> {
    match h {
        Heuristic::Misaligned => trap.aux_rewards(),
        Heuristic::Helpful => {
            let mdp = trap.mdp();
            let (ns, na) = (mdp.n_states(), mdp.n_actions());
            let dist: Vec<f64> = (0..ns).map(|s| trap_goal_distance(trap, s)).collect();
            (0..ns * na)
                .map(|i| {
                    let (s, a) = (i / na, i % na);
                    if mdp.is_terminal(s) {
                        return 0.0;
                    }
                    let next: f64 = mdp.successors(s, a).map(|(n, p)| p * dist[n]).sum();
                    0.1 * (dist[s] - next)
                })
                .collect()
        }
    }
}

/// The PBRS rewards `F[s][a] = γ Σ_{s'} P(s'|s, a) Φ(s') − Φ(s)` of a tabular MDP, with
/// `Φ(terminal) = 0` and `F = 0` in terminal states. Panics if `potential.len() != S`.
pub fn tabular_pbrs(mdp: &TabularMdp, potential: &[f64], gamma: f64) -> Vec<f64> {
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    assert_eq!(potential.len(), ns, "one potential per state");
    (0..ns * na)
        .map(|i| {
            let (s, a) = (i / na, i % na);
            if mdp.is_terminal(s) {
                return 0.0;
            }
            let next: f64 = mdp
                .successors(s, a)
                .filter(|(n, _)| !mdp.is_terminal(*n))
                .map(|(n, p)| p * potential[n])
                .sum();
            gamma * next - potential[s]
        })
        .collect()
}

/// A tabular reward vector `r[s][a]` (row-major, `n_actions` per state) as an
/// [`crate::wrappers::AuxiliaryReward`] function of a [`crate::tabular::TabularEnv`]'s packed
/// observation (the state index) and action; out-of-range indices give 0.
pub fn tabular_aux(
    rewards: Vec<f64>,
    n_actions: usize,
) -> impl Fn(&[f64], &[f64], &[f64], &Step) -> f64 + Send + Sync + Clone {
    move |obs: &[f64], action: &[f64], _next: &[f64], _step: &Step| {
        let (s, a) = (obs[0] as usize, action[0] as usize);
        if a >= n_actions { 0.0 } else { rewards.get(s * n_actions + a).copied().unwrap_or(0.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic::{CartPole, MountainCar};
    use crate::env::{Env, Info};
    use crate::tabular::TabularEnv;
    use crate::wrappers::{AUX_REWARD, AuxiliaryReward};

    #[test]
    fn heuristic_names_round_trip() {
        for h in Heuristic::ALL {
            assert_eq!(h.name().parse::<Heuristic>().unwrap(), h);
        }
        assert!("good".parse::<Heuristic>().is_err());
    }

    #[test]
    fn trap_helpful_progress_cancels_around_loops_and_pbrs_telescopes() {
        let trap = TrapGridworld::new();
        let mdp = trap.mdp();
        let aux = trap_aux(&trap, Heuristic::Helpful);
        let s0 = trap.state(0, 0);
        let s1 = trap.state(0, 1);
        // Right then left: +0.1 − 0.1.
        assert!((aux[s0 * 4 + 3] - 0.1).abs() < 1e-12);
        assert!((aux[s1 * 4 + 2] + 0.1).abs() < 1e-12);
        // Bumping into a wall: no progress.
        assert_eq!(aux[s0 * 4], 0.0);
        // PBRS along a deterministic path telescopes: Σ γ^t F_t = γ^T Φ(s_T) − Φ(s_0).
        let phi = trap_potential(&trap, Heuristic::Helpful);
        let f = tabular_pbrs(mdp, &phi, 0.99);
        let total = f[s0 * 4 + 3] + 0.99 * f[s1 * 4 + 1];
        let s2 = trap.state(1, 1);
        assert!((total - (0.99 * 0.99 * phi[s2] - phi[s0])).abs() < 1e-12);
        let mis = trap_aux(&trap, Heuristic::Misaligned);
        assert!((mis[s0 * 4 + 3] - 0.2).abs() < 1e-12);
    }

    #[test]
    fn heuristics_work_with_the_auxiliary_reward_wrapper() {
        let mut env = AuxiliaryReward::new(CartPole::default(), cartpole_aux(Heuristic::Helpful));
        let (mut obs, mut info) = ([0.0; 4], Info::new());
        env.reset(Some(3), &mut obs, &mut info).unwrap();
        let step = env.step(&[0.0], &mut obs, &mut info).unwrap();
        let a = info.get(AUX_REWARD).unwrap();
        assert!(a > 0.4 && a <= 0.5, "{a}");
        assert_eq!(step.reward, 1.0);
        let mis = cartpole_aux(Heuristic::Misaligned);
        assert!(mis(&[0.0; 4], &[0.0], &[0.0, 0.0, 0.1, 0.0], &step) > 0.9);

        let mut env = AuxiliaryReward::new(MountainCar::default(), mountain_car_aux(Heuristic::Misaligned));
        let mut obs = [0.0; 2];
        env.reset(Some(0), &mut obs, &mut info).unwrap();
        env.step(&[1.0], &mut obs, &mut info).unwrap();
        assert_eq!(info.get(AUX_REWARD), Some(0.0));
        let helpful = mountain_car_aux(Heuristic::Helpful);
        // Speeding up at the bottom gains energy.
        assert!(helpful(&[-0.5, 0.0], &[2.0], &[-0.5, 0.01], &step) > 0.0);
        let pbrs = mountain_car_pbrs(0.99);
        let term = Step { reward: 0.0, terminated: true, truncated: false };
        assert!(
            (pbrs(&[-0.5, 0.0], &[0.0], &[0.5, 0.0], &term) + mountain_car_energy(&[-0.5, 0.0])).abs()
                < 1e-12
        );
        let cp = cartpole_pbrs(0.9);
        assert!(
            (cp(&[0.0, 0.0, 0.1, 0.0], &[0.0], &[0.0, 0.0, 0.0, 0.0], &step) - 0.1 / CARTPOLE_THETA_LIMIT)
                .abs()
                < 1e-12
        );

        let trap = TrapGridworld::new();
        let aux = trap_aux(&trap, Heuristic::Misaligned);
        let mdp = trap.mdp().clone();
        let mut env = AuxiliaryReward::new(TabularEnv::new(mdp, "trap"), tabular_aux(aux, 4));
        let mut obs = [0.0];
        env.reset(Some(0), &mut obs, &mut info).unwrap();
        env.step(&[3.0], &mut obs, &mut info).unwrap(); // right, into D
        assert!((info.get(AUX_REWARD).unwrap() - 0.2).abs() < 1e-12);
    }
}
