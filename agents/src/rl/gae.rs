//! Generalised advantage estimation, GAE(λ) (Schulman et al. 2016), on flat `[T, N]` slices.
//!
//! # Conventions
//!
//! Element `(t, i)` (step `t`, sub-env `i`) of every `[T, N]` array sits at `t * N + i`. Row `t`
//! holds what the agent saw and got at step `t`:
//!
//! - `values[t, i] = V(s_t)`, the value of the observation it acted on;
//! - `rewards[t, i]`, `terminated[t, i]`, `truncated[t, i]`: what that step returned;
//! - `reset[t, i]`: row `t` is a Gymnasium next-step *autoreset row* (the step after a `done`,
//!   where the sub-env was reset instead of stepped). It is not a transition: its advantage is 0,
//!   its return is its value, and learners must mask it out;
//! - the value of the observation *returned* by step `t`, `V(s_{t+1})` ([`NextValues`]); after a
//!   `done` this is the episode's final (pre-reset) observation.
//!
//! With `c_t = 1` unless step `t` terminated, `k_t = 1` unless step `t` ended the episode
//! (terminated or truncated) or row `t + 1` is a reset row:
//!
//! ```text
//! δ_t = r_t + γ c_t V(s_{t+1}) − V(s_t)
//! A_t = δ_t + γ λ k_t A_{t+1}            (A_T = 0; A_t = 0 on reset rows)
//! R_t = A_t + V(s_t)                      (the value target)
//! ```
//!
//! So a **terminated** step bootstraps nothing (the final state has value 0 by definition), a
//! **truncated** step bootstraps from the value of its final observation (the episode could have
//! gone on), and in both cases the recursion stops there: nothing from the next episode leaks
//! back. The last row bootstraps from the value of the observation after the rollout.
//!
//! # Example
//!
//! One sub-env (`N = 1`), `γ = 0.5`, `λ = 0.5`, next-step autoreset: the episode terminates at
//! step 1, step 2 is the reset row (its value is that of the final observation, unused because the
//! episode terminated), and the value after the rollout is 4.
//!
//! ```text
//! t   r   V   flags        δ_t                     A_t                  R_t
//! 3   1   1   -            1 + 0.5·4 − 1 = 2       2                    3
//! 2   0   5   reset row    -                       0                    5
//! 1   2   3   terminated   2 − 3 = −1              −1                   2
//! 0   1   2   -            1 + 0.5·3 − 2 = 0.5     0.5 + 0.25·(−1)      2.25
//! ```
//!
//! ```
//! use alignrl_agents::rl::{GaeInput, NextValues, compute_gae};
//!
//! let input = GaeInput {
//!     num_envs: 1,
//!     rewards: &[1.0, 2.0, 0.0, 1.0],
//!     values: &[2.0, 3.0, 5.0, 1.0],
//!     terminated: &[false, true, false, false],
//!     truncated: &[false; 4],
//!     reset: &[false, false, true, false],
//!     next_values: NextValues::Shifted { last: &[4.0] },
//! };
//! let (mut adv, mut ret) = ([0.0f64; 4], [0.0f64; 4]);
//! compute_gae(&input, 0.5, 0.5, &mut adv, &mut ret)?;
//! assert_eq!(adv, [0.25, -1.0, 0.0, 2.0]);
//! assert_eq!(ret, [2.25, 2.0, 5.0, 3.0]);
//! # Ok::<(), alignrl_agents::rl::RlError>(())
//! ```

use std::fmt::Debug;
use std::ops::{Add, Div, Mul, Sub};

use super::{RlError, check_len, check_unit};

/// The float types the slice-based pieces work on (`f32`, `f64`).
pub trait Real:
    Copy
    + Default
    + PartialOrd
    + Debug
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Send
    + Sync
    + 'static
{
    /// `x` rounded to this type.
    fn from_f64(x: f64) -> Self;
    /// This value as an `f64`.
    fn to_f64(self) -> f64;
}

impl Real for f32 {
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Real for f64 {
    fn from_f64(x: f64) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self
    }
}

/// Where `V(s_{t+1})`, the value of the observation returned by step `t`, comes from.
#[derive(Debug, Clone, Copy)]
pub enum NextValues<'a, F> {
    /// Gymnasium next-step autoreset (alignrl's vector envs, CleanRL): the observation returned by
    /// step `t` is the one acted on at step `t + 1`, so `V(s_{t+1}) = values[t + 1]` (after a
    /// `done`, row `t + 1` is the reset row and its value is that of the final observation).
    /// `last[i]` (`N` values) is the value of sub-env `i`'s observation after the rollout.
    Shifted {
        /// `[N]`: values of the observations after the last step.
        last: &'a [F],
    },
    /// `[T, N]`: `V(s_{t+1})` given for every row (for example same-step autoreset, where the
    /// caller evaluates the final observation of a truncated episode separately). Only read
    /// where the step did not terminate and the row is not a reset row.
    Explicit(&'a [F]),
}

/// The inputs of [`compute_gae`]: `[T, N]` slices, time-major (see the [module docs](self)).
#[derive(Debug, Clone, Copy)]
pub struct GaeInput<'a, F> {
    /// `N`, the number of sub-envs (columns).
    pub num_envs: usize,
    /// `[T, N]`: reward returned by step `t` (ignored on reset rows).
    pub rewards: &'a [F],
    /// `[T, N]`: `V(s_t)`, the value of the observation acted on at step `t`.
    pub values: &'a [F],
    /// `[T, N]`: step `t` reached a terminal state (no bootstrap).
    pub terminated: &'a [bool],
    /// `[T, N]`: step `t` was cut short (bootstrap from the final observation's value).
    pub truncated: &'a [bool],
    /// `[T, N]`: row `t` is an autoreset row, not a transition (all `false` without autoreset).
    pub reset: &'a [bool],
    /// `V(s_{t+1})` for every row.
    pub next_values: NextValues<'a, F>,
}

/// GAE(λ): writes the advantages `A_t` and the returns `R_t = A_t + V(s_t)` (both `[T, N]`).
///
/// `λ = 0` gives the one-step TD errors `δ_t`; `λ = 1` gives discounted Monte Carlo returns
/// (bootstrapped at truncations and at the end of the rollout) minus the values.
///
/// # Errors
///
/// [`RlError::Shape`] when an array's length does not match `[T, N]` (or `[N]` for
/// `NextValues::Shifted::last`); [`RlError::Invalid`] when `N = 0` or `γ`, `λ` is outside `[0, 1]`.
pub fn compute_gae<F: Real>(
    input: &GaeInput<'_, F>,
    gamma: f64,
    lambda: f64,
    advantages: &mut [F],
    returns: &mut [F],
) -> Result<(), RlError> {
    // ---- check shapes and parameters ----
    let n = input.num_envs;
    if n == 0 {
        return Err(RlError::Invalid("GAE needs at least one env (num_envs = 0)".into()));
    }
    check_unit("discount γ", gamma)?;
    check_unit("GAE λ", lambda)?;
    let len = input.rewards.len();
    if !len.is_multiple_of(n) {
        return Err(RlError::Invalid(format!("{len} rewards do not fill rows of {n} envs")));
    }
    check_len("values", input.values.len(), len)?;
    check_len("terminated", input.terminated.len(), len)?;
    check_len("truncated", input.truncated.len(), len)?;
    check_len("reset", input.reset.len(), len)?;
    check_len("advantages", advantages.len(), len)?;
    check_len("returns", returns.len(), len)?;
    match input.next_values {
        NextValues::Shifted { last } => check_len("last values", last.len(), n)?,
        NextValues::Explicit(next) => check_len("next values", next.len(), len)?,
    }
    let t_len = len / n;
    let (gamma, gamma_lambda) = (F::from_f64(gamma), F::from_f64(gamma * lambda));
    let zero = F::from_f64(0.0);

    // ---- backward recursion, one column (sub-env) at a time ----
    for i in 0..n {
        // A_{t+1} of the row below; A_T = 0.
        let mut next_adv = zero;
        for t in (0..t_len).rev() {
            let k = t * n + i;
            if input.reset[k] {
                // Not a transition: no advantage, and the row above (the step that ended the
                // episode) must not continue into it.
                advantages[k] = zero;
                returns[k] = input.values[k];
                next_adv = zero;
                continue;
            }
            // Bootstrap from V(s_{t+1}) unless terminated (the value is then not even read).
            let bootstrap = if input.terminated[k] {
                zero
            } else {
                let next_value = match input.next_values {
                    NextValues::Shifted { last } => {
                        if t + 1 < t_len {
                            input.values[k + n]
                        } else {
                            last[i]
                        }
                    }
                    NextValues::Explicit(next) => next[k],
                };
                gamma * next_value
            };
            // Continue the recursion unless the episode ended at this step.
            let ends = input.terminated[k] || input.truncated[k];
            let delta = input.rewards[k] + bootstrap - input.values[k];
            let adv = if ends { delta } else { delta + gamma_lambda * next_adv };
            advantages[k] = adv;
            returns[k] = adv + input.values[k];
            next_adv = adv;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(
        rewards: &'a [f64],
        values: &'a [f64],
        terminated: &'a [bool],
        truncated: &'a [bool],
        reset: &'a [bool],
        last: &'a [f64],
    ) -> GaeInput<'a, f64> {
        GaeInput {
            num_envs: 1,
            rewards,
            values,
            terminated,
            truncated,
            reset,
            next_values: NextValues::Shifted { last },
        }
    }

    #[test]
    fn single_step_terminated_and_truncated() {
        let (mut a, mut r) = ([0.0], [0.0]);
        // Terminated: δ = r − V = 1 − 0.5.
        let inp = input(&[1.0], &[0.5], &[true], &[false], &[false], &[10.0]);
        compute_gae(&inp, 0.9, 0.95, &mut a, &mut r).unwrap();
        assert_eq!((a[0], r[0]), (0.5, 1.0));
        // Truncated: δ = r + γ V(final) − V = 1 + 0.9·10 − 0.5.
        let inp = input(&[1.0], &[0.5], &[false], &[true], &[false], &[10.0]);
        compute_gae(&inp, 0.9, 0.95, &mut a, &mut r).unwrap();
        assert!((a[0] - 9.5).abs() < 1e-12);
    }

    #[test]
    fn f32_matches_f64() {
        let rewards = [1.0, 0.0, 2.0, -1.0];
        let values = [0.5, 0.25, 1.0, 0.0];
        let flags = [false, true, false, false];
        let none = [false; 4];
        let reset = [false, false, true, false];
        let (mut a64, mut r64) = ([0.0f64; 4], [0.0f64; 4]);
        compute_gae(&input(&rewards, &values, &flags, &none, &reset, &[3.0]), 0.9, 0.8, &mut a64, &mut r64)
            .unwrap();
        let to32 = |x: &[f64]| x.iter().map(|v| *v as f32).collect::<Vec<_>>();
        let (rw, vl) = (to32(&rewards), to32(&values));
        let inp = GaeInput {
            num_envs: 1,
            rewards: &rw,
            values: &vl,
            terminated: &flags,
            truncated: &none,
            reset: &reset,
            next_values: NextValues::Shifted { last: &[3.0f32] },
        };
        let (mut a32, mut r32) = ([0.0f32; 4], [0.0f32; 4]);
        compute_gae(&inp, 0.9, 0.8, &mut a32, &mut r32).unwrap();
        for k in 0..4 {
            assert!((a32[k] as f64 - a64[k]).abs() < 1e-6);
            assert!((r32[k] as f64 - r64[k]).abs() < 1e-6);
        }
    }

    #[test]
    fn rejects_bad_shapes_and_parameters() {
        let (mut a, mut r) = ([0.0; 2], [0.0; 2]);
        let inp = input(&[1.0, 1.0], &[0.0], &[false; 2], &[false; 2], &[false; 2], &[0.0]);
        assert!(matches!(
            compute_gae(&inp, 0.9, 0.9, &mut a, &mut r),
            Err(RlError::Shape { what: "values", expected: 2, got: 1 })
        ));
        let inp = input(&[1.0, 1.0], &[0.0; 2], &[false; 2], &[false; 2], &[false; 2], &[0.0]);
        assert!(matches!(compute_gae(&inp, 1.5, 0.9, &mut a, &mut r), Err(RlError::Invalid(_))));
        assert!(matches!(compute_gae(&inp, 0.9, -0.1, &mut a, &mut r), Err(RlError::Invalid(_))));
    }
}
