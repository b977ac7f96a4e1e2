//! PPO's on-policy rollout buffer: preallocated `[T, N, …]` storage, GAE, and seeded minibatches.
//!
//! One rollout is `T` calls to [`RolloutBuffer::push`], one per vector-env step, each with the
//! `N` observations the agent acted on, its actions, log-probabilities and values, and the rewards
//! and flags the step returned. The buffer marks Gymnasium next-step autoreset rows itself: row
//! `t` of sub-env `i` is a reset row when step `t − 1` of that sub-env was `done` (terminated or
//! truncated), across rollout boundaries too. Reset rows get no advantage and never appear in a
//! minibatch.
//!
//! ```text
//! buf.clear();
//! for t in 0..T { buf.push(&RolloutStep { obs, actions, log_probs, values, rewards, terminated, truncated })?; }
//! buf.compute_advantages(&last_values, gamma, gae_lambda)?;
//! for epoch in 0..update_epochs {
//!     buf.shuffle(&mut rng);
//!     for mb in 0..buf.num_minibatches(minibatch_size) {
//!         buf.gather(buf.minibatch_indices(mb, minibatch_size), norm_adv, &mut batch);
//!         // ... loss on `batch`, optimiser step
//!     }
//! }
//! ```

use rand::seq::SliceRandom;
use rand_pcg::Pcg64;

use super::gae::{GaeInput, NextValues, Real, compute_gae};
use super::{RlError, check_len};

/// One vector-env step's worth of data for [`RolloutBuffer::push`] (`N` sub-envs).
#[derive(Debug, Clone, Copy)]
pub struct RolloutStep<'a, F: Real> {
    /// `[N, obs_dim]`: the observations the actions were chosen from.
    pub obs: &'a [F],
    /// `[N, act_dim]`: the actions taken (packed: a discrete action is one slot).
    pub actions: &'a [F],
    /// `[N]`: log π_old(a | s) of those actions.
    pub log_probs: &'a [F],
    /// `[N]`: V_old(s) of those observations.
    pub values: &'a [F],
    /// `[N]`: the rewards the step returned.
    pub rewards: &'a [F],
    /// `[N]`: the step reached a terminal state.
    pub terminated: &'a [bool],
    /// `[N]`: the step cut the episode short.
    pub truncated: &'a [bool],
}

/// A gathered minibatch, preallocated with [`Minibatch::new`] and refilled by
/// [`RolloutBuffer::gather`]; `len` rows are valid.
#[derive(Debug, Clone, Default)]
pub struct Minibatch {
    /// Number of valid rows.
    pub len: usize,
    /// `[len, obs_dim]`.
    pub obs: Vec<f32>,
    /// `[len, act_dim]`.
    pub actions: Vec<f32>,
    /// `[len]`: log π_old.
    pub log_probs: Vec<f32>,
    /// `[len]`: V_old.
    pub values: Vec<f32>,
    /// `[len]`: advantages (normalised when asked).
    pub advantages: Vec<f32>,
    /// `[len]`: value targets `A + V_old` (never normalised).
    pub returns: Vec<f32>,
}

impl Minibatch {
    /// Room for `capacity` rows.
    pub fn new(capacity: usize, obs_dim: usize, act_dim: usize) -> Self {
        Self {
            len: 0,
            obs: Vec::with_capacity(capacity * obs_dim),
            actions: Vec::with_capacity(capacity * act_dim),
            log_probs: Vec::with_capacity(capacity),
            values: Vec::with_capacity(capacity),
            advantages: Vec::with_capacity(capacity),
            returns: Vec::with_capacity(capacity),
        }
    }

    fn clear(&mut self) {
        self.len = 0;
        self.obs.clear();
        self.actions.clear();
        self.log_probs.clear();
        self.values.clear();
        self.advantages.clear();
        self.returns.clear();
    }
}

/// On-policy storage for `T` steps of `N` sub-envs, all `f32` (what the networks consume).
///
/// Fields are public for reading; element `(t, i)` of a `[T, N]` array is at `t * N + i`.
#[derive(Debug, Clone)]
pub struct RolloutBuffer {
    num_steps: usize,
    num_envs: usize,
    obs_dim: usize,
    act_dim: usize,
    /// Rows filled so far in this rollout.
    step: usize,
    /// `[N]`: whether each sub-env's last pushed step was `done` (its next row is a reset row).
    prev_done: Vec<bool>,
    /// Valid (non-reset) flat indices, in the order of the last [`shuffle`](Self::shuffle).
    order: Vec<usize>,
    /// `[T, N, obs_dim]`.
    pub obs: Vec<f32>,
    /// `[T, N, act_dim]`.
    pub actions: Vec<f32>,
    /// `[T, N]`: log π_old(a_t | s_t).
    pub log_probs: Vec<f32>,
    /// `[T, N]`: V_old(s_t).
    pub values: Vec<f32>,
    /// `[T, N]`.
    pub rewards: Vec<f32>,
    /// `[T, N]`.
    pub terminated: Vec<bool>,
    /// `[T, N]`.
    pub truncated: Vec<bool>,
    /// `[T, N]`: autoreset rows (not transitions; masked out of learning).
    pub reset: Vec<bool>,
    /// `[T, N]`: GAE advantages, after [`compute_advantages`](Self::compute_advantages).
    pub advantages: Vec<f32>,
    /// `[T, N]`: value targets `A + V_old`.
    pub returns: Vec<f32>,
}

impl RolloutBuffer {
    /// Storage for `num_steps` steps of `num_envs` sub-envs, allocated once.
    pub fn new(num_steps: usize, num_envs: usize, obs_dim: usize, act_dim: usize) -> Self {
        let len = num_steps * num_envs;
        Self {
            num_steps,
            num_envs,
            obs_dim,
            act_dim,
            step: 0,
            prev_done: vec![false; num_envs],
            order: Vec::with_capacity(len),
            obs: vec![0.0; len * obs_dim],
            actions: vec![0.0; len * act_dim],
            log_probs: vec![0.0; len],
            values: vec![0.0; len],
            rewards: vec![0.0; len],
            terminated: vec![false; len],
            truncated: vec![false; len],
            reset: vec![false; len],
            advantages: vec![0.0; len],
            returns: vec![0.0; len],
        }
    }

    /// `T`.
    pub fn num_steps(&self) -> usize {
        self.num_steps
    }
    /// `N`.
    pub fn num_envs(&self) -> usize {
        self.num_envs
    }
    /// Rows filled in the current rollout.
    pub fn len(&self) -> usize {
        self.step
    }
    /// No row filled yet.
    pub fn is_empty(&self) -> bool {
        self.step == 0
    }
    /// All `T` rows filled.
    pub fn is_full(&self) -> bool {
        self.step == self.num_steps
    }

    /// Starts a new rollout. Whether each sub-env's last step was `done` is kept, so the first
    /// row after a rollout that ended with a `done` is still marked as a reset row.
    pub fn clear(&mut self) {
        self.step = 0;
        self.order.clear();
    }

    /// Sets whether each sub-env's last step was `done` (when resuming a run whose environments
    /// were restored by replay). `done.len()` must be the number of sub-envs.
    ///
    /// # Panics
    ///
    /// On a wrong length.
    pub fn set_prev_done(&mut self, done: &[bool]) {
        self.prev_done.copy_from_slice(done);
    }

    /// Forgets the `done` flags too (call after resetting the vector env by hand).
    pub fn reset_episodes(&mut self) {
        self.clear();
        self.prev_done.fill(false);
    }

    /// Stores one step as row `len()`, marking reset rows from the previous step's flags.
    ///
    /// # Errors
    ///
    /// [`RlError::Invalid`] when the buffer is full, [`RlError::Shape`] on a wrong length.
    pub fn push<F: Real>(&mut self, s: &RolloutStep<'_, F>) -> Result<(), RlError> {
        if self.is_full() {
            return Err(RlError::Invalid(format!("rollout buffer is full ({} steps)", self.num_steps)));
        }
        let n = self.num_envs;
        check_len("obs", s.obs.len(), n * self.obs_dim)?;
        check_len("actions", s.actions.len(), n * self.act_dim)?;
        check_len("log_probs", s.log_probs.len(), n)?;
        check_len("values", s.values.len(), n)?;
        check_len("rewards", s.rewards.len(), n)?;
        check_len("terminated", s.terminated.len(), n)?;
        check_len("truncated", s.truncated.len(), n)?;

        let row = self.step * n;
        let f = |x: &F| x.to_f64() as f32;
        let (od, ad) = (self.obs_dim, self.act_dim);
        for (dst, src) in self.obs[row * od..(row + n) * od].iter_mut().zip(s.obs) {
            *dst = f(src);
        }
        for (dst, src) in self.actions[row * ad..(row + n) * ad].iter_mut().zip(s.actions) {
            *dst = f(src);
        }
        for i in 0..n {
            let k = row + i;
            self.log_probs[k] = f(&s.log_probs[i]);
            self.values[k] = f(&s.values[i]);
            self.rewards[k] = f(&s.rewards[i]);
            self.terminated[k] = s.terminated[i];
            self.truncated[k] = s.truncated[i];
            // Next-step autoreset: the step after a `done` is a reset, not a transition.
            self.reset[k] = self.prev_done[i];
            self.prev_done[i] = s.terminated[i] || s.truncated[i];
        }
        self.step += 1;
        Ok(())
    }

    /// GAE(λ) over the full rollout ([`compute_gae`] with [`NextValues::Shifted`]);
    /// `last_values[i]` is V of sub-env `i`'s observation after the last step. Also resets the
    /// minibatch order to the valid rows in storage order.
    ///
    /// # Errors
    ///
    /// [`RlError::Invalid`] when the buffer is not full or `γ`, `λ` is outside `[0, 1]`;
    /// [`RlError::Shape`] when `last_values` does not have `N` entries.
    pub fn compute_advantages(
        &mut self,
        last_values: &[f32],
        gamma: f64,
        lambda: f64,
    ) -> Result<(), RlError> {
        if !self.is_full() {
            return Err(RlError::Invalid(format!(
                "rollout has {} of {} steps; fill it before computing advantages",
                self.step, self.num_steps
            )));
        }
        let input = GaeInput {
            num_envs: self.num_envs,
            rewards: &self.rewards,
            values: &self.values,
            terminated: &self.terminated,
            truncated: &self.truncated,
            reset: &self.reset,
            next_values: NextValues::Shifted { last: last_values },
        };
        compute_gae(&input, gamma, lambda, &mut self.advantages, &mut self.returns)?;
        self.order.clear();
        self.order.extend((0..self.reset.len()).filter(|&k| !self.reset[k]));
        Ok(())
    }

    /// Number of rows that are transitions (not reset rows); valid after
    /// [`compute_advantages`](Self::compute_advantages).
    pub fn num_valid(&self) -> usize {
        self.order.len()
    }

    /// Shuffles the valid rows with `rng` (start of an epoch).
    pub fn shuffle(&mut self, rng: &mut Pcg64) {
        self.order.shuffle(rng);
    }

    /// Number of minibatches of at most `minibatch_size` rows in one epoch (the last may be
    /// smaller, as reset rows are left out). `minibatch_size` must be positive.
    pub fn num_minibatches(&self, minibatch_size: usize) -> usize {
        self.order.len().div_ceil(minibatch_size.max(1))
    }

    /// The flat `[T, N]` indices of minibatch `mb` of the current order.
    pub fn minibatch_indices(&self, mb: usize, minibatch_size: usize) -> &[usize] {
        let size = minibatch_size.max(1);
        let start = (mb * size).min(self.order.len());
        &self.order[start..(start + size).min(self.order.len())]
    }

    /// Copies rows `indices` into `out` (reusing its allocations). With `normalize_advantages`,
    /// the advantages are standardised over this minibatch, CleanRL's
    /// `(A − mean) / (std + 1e-8)` with the unbiased std (0 for a single row).
    pub fn gather(&self, indices: &[usize], normalize_advantages: bool, out: &mut Minibatch) {
        out.clear();
        let (od, ad) = (self.obs_dim, self.act_dim);
        for &k in indices {
            out.obs.extend_from_slice(&self.obs[k * od..(k + 1) * od]);
            out.actions.extend_from_slice(&self.actions[k * ad..(k + 1) * ad]);
            out.log_probs.push(self.log_probs[k]);
            out.values.push(self.values[k]);
            out.advantages.push(self.advantages[k]);
            out.returns.push(self.returns[k]);
        }
        out.len = indices.len();
        if normalize_advantages {
            normalize(&mut out.advantages);
        }
    }
}

/// `(x − mean) / (std + 1e-8)` in place, unbiased std (taken as 0 below two elements).
pub(crate) fn normalize(x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var =
        if x.len() > 1 { x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    let denom = var.sqrt() + 1e-8;
    for v in x.iter_mut() {
        *v = ((*v as f64 - mean) / denom) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_matches_torch_convention() {
        let mut x = [1.0f32, 2.0, 3.0, 4.0];
        normalize(&mut x);
        // mean 2.5, unbiased std sqrt(5/3).
        let s = (5.0f64 / 3.0).sqrt();
        for (v, raw) in x.iter().zip([1.0, 2.0, 3.0, 4.0]) {
            assert!((*v as f64 - (raw - 2.5) / s).abs() < 1e-6);
        }
        let mut one = [7.0f32];
        normalize(&mut one);
        assert_eq!(one, [0.0]);
    }

    #[test]
    fn push_marks_reset_rows_across_rollouts() {
        let mut buf = RolloutBuffer::new(2, 2, 1, 1);
        let z = [0.0f32; 2];
        let step = |term: [bool; 2], trunc: [bool; 2]| (term, trunc);
        for (term, trunc) in [step([true, false], [false, false]), step([false, false], [false, true])] {
            buf.push(&RolloutStep {
                obs: &z,
                actions: &z,
                log_probs: &z,
                values: &z,
                rewards: &z,
                terminated: &term,
                truncated: &trunc,
            })
            .unwrap();
        }
        assert_eq!(buf.reset, [false, false, true, false]);
        assert!(
            buf.push(&RolloutStep {
                obs: &z,
                actions: &z,
                log_probs: &z,
                values: &z,
                rewards: &z,
                terminated: &[false; 2],
                truncated: &[false; 2],
            })
            .is_err()
        );
        buf.clear();
        buf.push(&RolloutStep {
            obs: &z,
            actions: &z,
            log_probs: &z,
            values: &z,
            rewards: &z,
            terminated: &[false; 2],
            truncated: &[false; 2],
        })
        .unwrap();
        // Sub-env 1 truncated at the end of the previous rollout: its first row is a reset row.
        assert_eq!(buf.reset[..2], [false, true]);
    }
}
