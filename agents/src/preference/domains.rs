//! Random delivery-like worlds for the synthetic experiments (Knox et al. use many random
//! delivery MDPs besides the paper's board).
//!
//! [`random_delivery_board`] draws a 10×10 board of [`Entity`](alignrl_envs::tabular::Entity)
//! codes: 8–15 houses, 1–2 goals, 1–3 sheep, 0–4 coins, 0–6 road blocks on distinct random
//! cells, then every non-house cell turns to its mud variant with probability 0.15. The true
//! reward is Knox's `w* = [−1, 50, −50, 1, −1, −2]` (the delivery world's). A board whose optimal
//! and uniformly random policies have the same value (so the scaled return is undefined) is
//! redrawn.

use alignrl_envs::tabular::DeliveryWorld;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::data::PreferenceError;
use super::eval::Baselines;

/// Board side.
pub const RANDOM_BOARD_SIZE: usize = 10;

/// A random delivery-like board (see the [module docs](self)); codes as in
/// [`DeliveryWorld::from_codes`].
pub fn random_delivery_board<R: Rng + ?Sized>(rng: &mut R) -> Vec<Vec<u8>> {
    let n = RANDOM_BOARD_SIZE;
    let mut cells: Vec<usize> = (0..n * n).collect();
    cells.shuffle(rng);
    let mut board = vec![vec![0u8; n]; n];
    let counts = [
        (2u8, rng.random_range(8..=15)), // house
        (1, rng.random_range(1..=2)),    // goal
        (3, rng.random_range(1..=3)),    // sheep
        (4, rng.random_range(0..=4)),    // coin
        (5, rng.random_range(0..=6)),    // road block
    ];
    let mut next = cells.into_iter();
    for (code, count) in counts {
        for c in next.by_ref().take(count) {
            board[c / n][c % n] = code;
        }
    }
    for row in board.iter_mut() {
        for x in row.iter_mut() {
            if *x != 2 && rng.random::<f64>() < 0.15 {
                // blank → mud, goal → mud+goal, sheep → mud+sheep, coin → mud+coin, road block → mud+road block.
                *x = match *x {
                    0 => 6,
                    1 => 7,
                    3 => 9,
                    4 => 10,
                    5 => 11,
                    other => other,
                };
            }
        }
    }
    board
}

/// A random delivery-like world from `seed` (redrawn until its scaled return is defined).
pub fn random_delivery_world(seed: u64) -> Result<DeliveryWorld, PreferenceError> {
    let mut rng = Pcg64::seed_from_u64(seed);
    for _ in 0..100 {
        let world = DeliveryWorld::from_codes(&random_delivery_board(&mut rng))?;
        let b = Baselines::new(world.mdp())?;
        if b.optimal - b.uniform > 1e-6 * (1.0 + b.optimal.abs()) {
            return Ok(world);
        }
    }
    Err(super::data::invalid("random board", "no usable board in 100 draws"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_worlds_are_reproducible_and_valid() {
        let a = random_delivery_world(5).unwrap();
        assert_eq!(a, random_delivery_world(5).unwrap());
        assert_ne!(a.board(), random_delivery_world(6).unwrap().board());
        assert!(a.start_states().len() > 50);
        assert_eq!(a.mdp().weights(), DeliveryWorld::TRUE_WEIGHTS);
    }
}
