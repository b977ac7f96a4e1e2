//! SAC's replay buffer: a fixed-capacity ring of transitions with seeded uniform sampling.
//!
//! All storage is allocated in [`ReplayBuffer::new`]; [`push`](ReplayBuffer::push) copies into
//! it and [`sample`](ReplayBuffer::sample) fills a preallocated [`ReplayBatch`], so neither
//! allocates. Once full, each push overwrites the oldest transition.
//!
//! Only `terminated` is stored: the critic target is `r + γ (1 − terminated) V(s')`, and a
//! truncated transition still bootstraps from its `next_obs` (the final observation). With
//! Gymnasium next-step autoreset, the step after a `done` is not a transition and must not be
//! pushed; for a `done` step, `next_obs` is the observation the step returned (the final one).

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::gae::Real;
use super::{RlError, check_len};

/// A sampled batch of transitions, `len` rows, refilled in place by [`ReplayBuffer::sample`].
#[derive(Debug, Clone, Default)]
pub struct ReplayBatch {
    /// Number of rows.
    pub len: usize,
    /// `[len, obs_dim]`.
    pub obs: Vec<f32>,
    /// `[len, act_dim]`.
    pub actions: Vec<f32>,
    /// `[len]`.
    pub rewards: Vec<f32>,
    /// `[len, obs_dim]`.
    pub next_obs: Vec<f32>,
    /// `[len]`: 1.0 where the transition terminated, else 0.0 (ready to use as a mask).
    pub terminated: Vec<f32>,
    /// `[len]`: the buffer slots sampled (for debugging and tests).
    pub indices: Vec<usize>,
}

impl ReplayBatch {
    /// A batch of `batch_size` rows, all zero.
    pub fn new(batch_size: usize, obs_dim: usize, act_dim: usize) -> Self {
        Self {
            len: batch_size,
            obs: vec![0.0; batch_size * obs_dim],
            actions: vec![0.0; batch_size * act_dim],
            rewards: vec![0.0; batch_size],
            next_obs: vec![0.0; batch_size * obs_dim],
            terminated: vec![0.0; batch_size],
            indices: vec![0; batch_size],
        }
    }
}

/// Ring buffer of `capacity` transitions `(s, a, r, s', terminated)`, stored as `f32`.
#[derive(Debug, Clone)]
pub struct ReplayBuffer {
    capacity: usize,
    obs_dim: usize,
    act_dim: usize,
    /// Next slot to write.
    pos: usize,
    /// Number of stored transitions (≤ capacity).
    len: usize,
    rng: Pcg64,
    obs: Vec<f32>,
    actions: Vec<f32>,
    rewards: Vec<f32>,
    next_obs: Vec<f32>,
    terminated: Vec<bool>,
}

impl ReplayBuffer {
    /// An empty buffer of `capacity` transitions whose sampler is seeded with `seed`.
    ///
    /// # Errors
    ///
    /// [`RlError::Invalid`] when `capacity` is 0.
    pub fn new(capacity: usize, obs_dim: usize, act_dim: usize, seed: u64) -> Result<Self, RlError> {
        if capacity == 0 {
            return Err(RlError::Invalid("replay buffer capacity must be positive".into()));
        }
        Ok(Self {
            capacity,
            obs_dim,
            act_dim,
            pos: 0,
            len: 0,
            rng: Pcg64::seed_from_u64(seed),
            obs: vec![0.0; capacity * obs_dim],
            actions: vec![0.0; capacity * act_dim],
            rewards: vec![0.0; capacity],
            next_obs: vec![0.0; capacity * obs_dim],
            terminated: vec![false; capacity],
        })
    }

    /// Maximum number of transitions.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// Number of stored transitions.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Nothing stored yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The slot the next push writes (the oldest transition once full).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Stores one transition, overwriting the oldest once full. Allocates nothing.
    ///
    /// # Errors
    ///
    /// [`RlError::Shape`] when `obs`, `next_obs` or `action` has the wrong length.
    pub fn push<F: Real>(
        &mut self,
        obs: &[F],
        action: &[F],
        reward: F,
        next_obs: &[F],
        terminated: bool,
    ) -> Result<(), RlError> {
        let (od, ad, p) = (self.obs_dim, self.act_dim, self.pos);
        check_len("obs", obs.len(), od)?;
        check_len("next_obs", next_obs.len(), od)?;
        check_len("action", action.len(), ad)?;
        copy_into(&mut self.obs[p * od..(p + 1) * od], obs);
        copy_into(&mut self.next_obs[p * od..(p + 1) * od], next_obs);
        copy_into(&mut self.actions[p * ad..(p + 1) * ad], action);
        self.rewards[p] = reward.to_f64() as f32;
        self.terminated[p] = terminated;
        self.pos = (p + 1) % self.capacity;
        self.len = (self.len + 1).min(self.capacity);
        Ok(())
    }

    /// The sampling stream's state (for checkpoints).
    pub fn rng(&self) -> &Pcg64 {
        &self.rng
    }

    /// Replaces the sampling stream's state (when resuming from a checkpoint).
    pub fn set_rng(&mut self, rng: Pcg64) {
        self.rng = rng;
    }

    /// Fills `batch` with `batch.len` transitions drawn uniformly with replacement from the stored
    /// ones (the buffer's own seeded generator, so the same seed and pushes give the same batches).
    ///
    /// # Errors
    ///
    /// [`RlError::Invalid`] when the buffer is empty; [`RlError::Shape`] when `batch` was made for
    /// other dimensions.
    pub fn sample(&mut self, batch: &mut ReplayBatch) -> Result<(), RlError> {
        if self.len == 0 {
            return Err(RlError::Invalid("cannot sample from an empty replay buffer".into()));
        }
        let (od, ad, b) = (self.obs_dim, self.act_dim, batch.len);
        check_len("batch obs", batch.obs.len(), b * od)?;
        check_len("batch next_obs", batch.next_obs.len(), b * od)?;
        check_len("batch actions", batch.actions.len(), b * ad)?;
        check_len("batch rewards", batch.rewards.len(), b)?;
        check_len("batch terminated", batch.terminated.len(), b)?;
        check_len("batch indices", batch.indices.len(), b)?;
        for j in 0..b {
            let k = self.rng.random_range(0..self.len);
            batch.indices[j] = k;
            batch.obs[j * od..(j + 1) * od].copy_from_slice(&self.obs[k * od..(k + 1) * od]);
            batch.next_obs[j * od..(j + 1) * od].copy_from_slice(&self.next_obs[k * od..(k + 1) * od]);
            batch.actions[j * ad..(j + 1) * ad].copy_from_slice(&self.actions[k * ad..(k + 1) * ad]);
            batch.rewards[j] = self.rewards[k];
            batch.terminated[j] = if self.terminated[k] { 1.0 } else { 0.0 };
        }
        Ok(())
    }

    /// The transition stored in slot `k` (`None` past [`len`](Self::len)).
    pub fn get(&self, k: usize) -> Option<Transition<'_>> {
        if k >= self.len {
            return None;
        }
        let (od, ad) = (self.obs_dim, self.act_dim);
        Some(Transition {
            obs: &self.obs[k * od..(k + 1) * od],
            action: &self.actions[k * ad..(k + 1) * ad],
            reward: self.rewards[k],
            next_obs: &self.next_obs[k * od..(k + 1) * od],
            terminated: self.terminated[k],
        })
    }
}

/// One stored transition, borrowed from a [`ReplayBuffer`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition<'a> {
    /// `[obs_dim]`: s.
    pub obs: &'a [f32],
    /// `[act_dim]`: a.
    pub action: &'a [f32],
    /// r.
    pub reward: f32,
    /// `[obs_dim]`: s' (the final observation when the episode ended here).
    pub next_obs: &'a [f32],
    /// Whether s' is terminal.
    pub terminated: bool,
}

fn copy_into<F: Real>(dst: &mut [f32], src: &[F]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = s.to_f64() as f32;
    }
}
