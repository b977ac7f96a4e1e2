//! Stable-Baselines3's `VecNormalize` for a vector of environments with Gymnasium next-step
//! autoreset: running observation statistics shared by all sub-envs, and rewards scaled by the
//! running standard deviation of the discounted return.
//!
//! Observations: each batch of `N` observations (from `reset` and every `step`) is first merged
//! into the running mean and variance ([`RunningMeanStd::update`], row by row: the same result as
//! SB3's batch merge in exact arithmetic), then
//! every value becomes `clip((x − mean) / sqrt(var + ε), ±clip_obs)`. Rewards: per sub-env the
//! discounted return `G ← γ G + r` is accumulated, the returns of the batch update a scalar running
//! variance, and the reward becomes `clip(r / sqrt(var_G + ε), ±clip_reward)`; `G` restarts at 0
//! after a `done`. Reset rows (the step after a `done`, whose reward carries nothing) are left out
//! of the return statistics and keep reward 0. SB3's defaults: `clip_obs = clip_reward = 10`,
//! `ε = 1e-8`, `γ` = the algorithm's discount.
//!
//! Unlike Gymnasium's per-env wrappers ([`alignrl_envs::wrappers::NormalizeObservation`]), one set
//! of statistics serves all sub-envs, so the policy sees one input scale. The statistics are a
//! deterministic function of the observation and reward stream, so replaying a run's actions
//! (PPO's resume) rebuilds them bit for bit. Allocation-free after construction.

use alignrl_envs::wrappers::RunningMeanStd;
use serde::{Deserialize, Serialize};

/// SB3's `VecNormalize` epsilon.
pub const NORMALIZE_EPSILON: f64 = 1e-8;

/// Frozen observation statistics, as a trained policy needs them at evaluation time (saved next
/// to a checkpoint as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObsNormalization {
    /// Running per-dimension mean and variance of the raw (packed) observations.
    pub rms: RunningMeanStd,
    /// Normalised values are clipped to `[-clip, clip]`.
    pub clip: f64,
    /// Added to the variance before the square root.
    pub epsilon: f64,
}

impl ObsNormalization {
    /// Writes `clip((obs − mean) / sqrt(var + ε), ±clip)` into `out`.
    ///
    /// # Panics
    /// If `obs` or `out` does not have the statistics' dimension.
    pub fn apply(&self, obs: &[f64], out: &mut [f64]) {
        let d = self.rms.dim();
        assert!(obs.len() == d && out.len() == d, "ObsNormalization::apply: wrong dimension");
        for (((o, &x), &m), &v) in out.iter_mut().zip(obs).zip(&self.rms.mean).zip(&self.rms.var) {
            *o = ((x - m) / (v + self.epsilon).sqrt()).clamp(-self.clip, self.clip);
        }
    }

    /// Applies [`Self::apply`] to each row of a `[N, dim]` batch.
    pub fn apply_batch(&self, obs: &[f64], out: &mut [f64]) {
        let d = self.rms.dim().max(1);
        for (x, o) in obs.chunks(d).zip(out.chunks_mut(d)) {
            self.apply(x, o);
        }
    }

    /// Checks that the statistics are usable for observations of `dim` values.
    pub fn validate(&self, dim: usize) -> Result<(), String> {
        let ok = self.rms.mean.len() == dim
            && self.rms.var.len() == dim
            && self.rms.count > 0.0
            && self.rms.mean.iter().chain(&self.rms.var).all(|v| v.is_finite())
            && self.rms.var.iter().all(|&v| v >= 0.0)
            && self.clip > 0.0
            && self.epsilon > 0.0;
        if ok {
            Ok(())
        } else {
            Err(format!(
                "observation statistics do not fit {dim} observation values (mean {}, var {}, count {}, \
                 clip {}, epsilon {})",
                self.rms.mean.len(),
                self.rms.var.len(),
                self.rms.count,
                self.clip,
                self.epsilon
            ))
        }
    }
}

/// Observation and reward normalisation for `N` sub-envs (see the module docs).
#[derive(Debug, Clone)]
pub struct VecNormalize {
    n: usize,
    dim: usize,
    obs: Option<ObsNormalization>,
    ret: Option<RunningMeanStd>,
    clip_reward: f64,
    gamma: f64,
    returns: Vec<f64>,
    obs_out: Vec<f64>,
    rew_out: Vec<f64>,
}

impl VecNormalize {
    /// Normalisation for `n` sub-envs with `dim` observation values each; either part can be off
    /// (then values pass through unchanged).
    pub fn new(
        n: usize,
        dim: usize,
        norm_obs: bool,
        norm_reward: bool,
        clip_obs: f64,
        clip_reward: f64,
        gamma: f64,
    ) -> Self {
        VecNormalize {
            n,
            dim,
            obs: norm_obs.then(|| ObsNormalization {
                rms: RunningMeanStd::new(dim),
                clip: clip_obs,
                epsilon: NORMALIZE_EPSILON,
            }),
            ret: norm_reward.then(|| RunningMeanStd::new(1)),
            clip_reward,
            gamma,
            returns: vec![0.0; n],
            obs_out: vec![0.0; n * dim],
            rew_out: vec![0.0; n],
        }
    }

    /// The observation statistics, when observations are normalised.
    pub fn obs_normalization(&self) -> Option<&ObsNormalization> {
        self.obs.as_ref()
    }

    /// The running variance of the discounted return, when rewards are normalised.
    pub fn return_stats(&self) -> Option<&RunningMeanStd> {
        self.ret.as_ref()
    }

    /// Merges a `[N, dim]` batch of raw observations into the statistics and returns it
    /// normalised (or unchanged when observation normalisation is off).
    ///
    /// # Panics
    /// If `raw` does not hold `N · dim` values.
    pub fn observations(&mut self, raw: &[f64]) -> &[f64] {
        assert_eq!(raw.len(), self.n * self.dim, "VecNormalize::observations: wrong length");
        match &mut self.obs {
            None => self.obs_out.copy_from_slice(raw),
            Some(norm) => {
                for row in raw.chunks(self.dim.max(1)) {
                    norm.rms.update(row);
                }
                norm.apply_batch(raw, &mut self.obs_out);
            }
        }
        &self.obs_out
    }

    /// Scales a step's rewards. `reset_rows[i]`: sub-env `i`'s step was an autoreset step (its
    /// reward carries nothing); `dones[i]`: its episode ended at this step.
    ///
    /// # Panics
    /// If a slice does not have `N` values.
    pub fn rewards(&mut self, rewards: &[f64], reset_rows: &[bool], dones: &[bool]) -> &[f64] {
        assert!(
            rewards.len() == self.n && reset_rows.len() == self.n && dones.len() == self.n,
            "VecNormalize::rewards: wrong length"
        );
        let Some(ret) = &mut self.ret else {
            self.rew_out.copy_from_slice(rewards);
            return &self.rew_out;
        };
        for i in 0..self.n {
            if reset_rows[i] {
                self.returns[i] = 0.0;
            } else {
                self.returns[i] = self.returns[i] * self.gamma + rewards[i];
                ret.update(&self.returns[i..=i]);
            }
        }
        let scale = (ret.var[0] + NORMALIZE_EPSILON).sqrt();
        for i in 0..self.n {
            self.rew_out[i] = if reset_rows[i] {
                0.0
            } else {
                (rewards[i] / scale).clamp(-self.clip_reward, self.clip_reward)
            };
            if dones[i] {
                self.returns[i] = 0.0;
            }
        }
        &self.rew_out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_pass(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        (m, xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n)
    }

    #[test]
    fn observation_statistics_match_a_two_pass_computation() {
        // Two sub-envs, two dimensions, three batches; the running statistics start from
        // Gymnasium's prior (mean 0, var 1, count 1e-4), which barely moves the result.
        let batches = [[1.0, 10.0, 3.0, -2.0], [2.0, 4.0, 0.5, 6.0], [-1.0, 0.0, 7.0, 1.0]];
        let mut vn = VecNormalize::new(2, 2, true, false, 10.0, 10.0, 0.99);
        let mut last = vec![];
        for b in &batches {
            last = vn.observations(b).to_vec();
        }
        let stats = vn.obs_normalization().unwrap();
        for d in 0..2 {
            let xs: Vec<f64> = batches.iter().flat_map(|b| [b[d], b[2 + d]]).collect();
            let (m, v) = two_pass(&xs);
            let c = RunningMeanStd::INITIAL_COUNT;
            // Exact merge with the prior: mean' = n m / (n + c), var' = (c + n v + c n m²/(n + c)) / (n + c).
            let nn = xs.len() as f64;
            let m_exp = nn * m / (nn + c);
            let v_exp = (c + nn * v + c * nn * m * m / (nn + c)) / (nn + c);
            assert!((stats.rms.mean[d] - m_exp).abs() < 1e-12, "mean {d}");
            assert!((stats.rms.var[d] - v_exp).abs() < 1e-12, "var {d}");
            for (row, x) in [(0, batches[2][d]), (1, batches[2][2 + d])] {
                let want = (x - m_exp) / (v_exp + NORMALIZE_EPSILON).sqrt();
                assert!((last[row * 2 + d] - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn observations_are_clipped_and_pass_through_when_off() {
        let mut vn = VecNormalize::new(1, 1, true, false, 0.5, 10.0, 0.99);
        vn.observations(&[0.0]);
        assert_eq!(vn.observations(&[1e6])[0], 0.5);
        let mut off = VecNormalize::new(2, 1, false, false, 10.0, 10.0, 0.99);
        assert_eq!(off.observations(&[3.0, -4.0]), &[3.0, -4.0]);
        assert_eq!(off.rewards(&[2.0, 5.0], &[false; 2], &[false; 2]), &[2.0, 5.0]);
    }

    #[test]
    fn rewards_are_scaled_by_the_return_deviation_and_returns_restart_after_done() {
        let gamma = 0.5;
        let mut vn = VecNormalize::new(2, 1, false, true, 10.0, 100.0, gamma);
        // Step 1: returns [1, 3]. Step 2: env 0 done with reward 2 → G = 2.5; env 1 G = 1.5 + 1.
        // Step 3: env 0 is a reset row (left out, reward 0); env 1 G = 1.25 + 4.
        let steps: [([f64; 2], [bool; 2], [bool; 2]); 3] = [
            ([1.0, 3.0], [false, false], [false, false]),
            ([2.0, 1.0], [false, false], [true, false]),
            ([9.0, 4.0], [true, false], [false, false]),
        ];
        let mut rms = RunningMeanStd::new(1);
        let expected_g: [&[f64]; 3] = [&[1.0, 3.0], &[2.5, 2.5], &[5.25]];
        for ((r, reset, done), gs) in steps.iter().zip(expected_g) {
            let (m, v) = two_pass(gs);
            rms.update_from_moments(&[m], &[v], gs.len() as f64);
            let out = vn.rewards(r, reset, done).to_vec();
            let scale = (rms.var[0] + NORMALIZE_EPSILON).sqrt();
            for i in 0..2 {
                let want = if reset[i] { 0.0 } else { r[i] / scale };
                assert!((out[i] - want).abs() < 1e-12, "{out:?} vs {want}");
            }
        }
        assert!((vn.return_stats().unwrap().var[0] - rms.var[0]).abs() < 1e-15);
        // After env 0's reset row, its return restarts from this reward.
        vn.rewards(&[1.0, 0.0], &[false, false], &[false, false]);
        assert_eq!(vn.returns[0], 1.0);
    }

    #[test]
    fn frozen_statistics_reject_a_wrong_dimension() {
        let s = ObsNormalization { rms: RunningMeanStd::new(3), clip: 10.0, epsilon: 1e-8 };
        assert!(s.validate(3).is_ok());
        assert!(s.validate(2).unwrap_err().contains("do not fit 2"));
    }
}
