//! [`TanhGaussian`]: the squashed diagonal Gaussian of SAC, with optional box bounds.

use std::f64::consts::LN_2;

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand_pcg::Pcg64;

use super::{DiagGaussian, gaussian_noise, softplus, sum_rows, tensor_from_f64};

/// How close to ±1 [`TanhGaussian::log_prob`] lets `tanh(u)` get before inverting it:
/// `y = (a − b) / s` is clamped to `[−TANH_CLAMP, TANH_CLAMP]`, i.e. `|u| ≤ atanh(1 − 10⁻⁶) ≈ 7.25`.
pub const TANH_CLAMP: f64 = 1.0 - 1e-6;

/// `N` squashed Gaussians over a box: `a = s ⊙ tanh(u) + b` with `u ~ N(μ, diag(σ²))` (`[N, D]`),
/// where `s = (high − low) / 2` and `b = (high + low) / 2` map `(−1, 1)^D` onto the box
/// `(low, high)` (`s = 1`, `b = 0` without bounds).
///
/// By the change of variables, with `log|da_d/du_d| = log(1 − tanh²u_d) + log s_d`,
///
/// `log p(a) = log N(u; μ, σ²) − Σ_d [log(1 − tanh²u_d) + log s_d]`,
///
/// and the correction is evaluated stably as `log(1 − tanh²u) = 2 (ln 2 − u − softplus(−2u))`
/// (exact, finite for every `u`). There is no closed-form entropy:
/// [`TanhGaussian::entropy_estimate`] gives the one-sample Monte Carlo estimate SAC uses.
#[derive(Debug, Clone)]
pub struct TanhGaussian<B: Backend> {
    base: DiagGaussian<B>,
    affine: Option<Affine<B>>,
}

/// The map `y ↦ s ⊙ y + b` onto a box, `s` and `b` broadcast to `[N, D]`.
#[derive(Debug, Clone)]
struct Affine<B: Backend> {
    scale: Tensor<B, 2>,
    bias: Tensor<B, 2>,
    /// `Σ_d ln s_d`.
    log_scale_sum: f64,
}

impl<B: Backend> TanhGaussian<B> {
    /// Squashes the Gaussian `base` (the distribution of `u`) through `tanh`.
    pub fn from_gaussian(base: DiagGaussian<B>) -> Self {
        Self { base, affine: None }
    }

    /// From the pre-squash mean `μ` `[N, D]` and per-row log standard deviation `[N, D]`
    /// (SAC's actor head).
    pub fn new(mean: Tensor<B, 2>, log_std: Tensor<B, 2>) -> Self {
        Self::from_gaussian(DiagGaussian::new(mean, log_std))
    }

    /// From the pre-squash mean `[N, D]` and a shared log standard deviation `[D]`.
    pub fn with_shared_log_std(mean: Tensor<B, 2>, log_std: Tensor<B, 1>) -> Self {
        Self::from_gaussian(DiagGaussian::with_shared_log_std(mean, log_std))
    }

    /// Maps the actions onto the box `(low, high)` (per dimension, e.g. a Box action space's
    /// bounds): `a = (high − low)/2 ⊙ tanh(u) + (high + low)/2`.
    ///
    /// # Panics
    /// If `low` or `high` does not have `D` entries, or some bound is not finite or
    /// `high_d ≤ low_d`.
    pub fn with_bounds(mut self, low: &[f64], high: &[f64]) -> Self {
        let [n, d] = self.dims();
        assert!(low.len() == d && high.len() == d, "TanhGaussian: bounds must have {d} entries");
        assert!(
            low.iter().zip(high).all(|(l, h)| l.is_finite() && h.is_finite() && h > l),
            "TanhGaussian: bounds must be finite with high > low"
        );
        let device = self.base.mean().device();
        let scale: Vec<f64> = low.iter().zip(high).map(|(l, h)| 0.5 * (h - l)).collect();
        let bias: Vec<f64> = low.iter().zip(high).map(|(l, h)| 0.5 * (h + l)).collect();
        let log_scale_sum = scale.iter().map(|s| s.ln()).sum();
        self.affine = Some(Affine {
            scale: tensor_from_f64::<B, 2>(&scale, [1, d], &device).expand([n, d]),
            bias: tensor_from_f64::<B, 2>(&bias, [1, d], &device).expand([n, d]),
            log_scale_sum,
        });
        self
    }

    /// The batch size `N` and the action dimension `D`.
    pub fn dims(&self) -> [usize; 2] {
        self.base.dims()
    }

    /// The Gaussian of the pre-squash variable `u`.
    pub fn base(&self) -> &DiagGaussian<B> {
        &self.base
    }

    /// The action of a pre-squash value: `a = s ⊙ tanh(u) + b`, `[N, D]`.
    pub fn squash(&self, u: Tensor<B, 2>) -> Tensor<B, 2> {
        let y = u.tanh();
        match &self.affine {
            Some(aff) => y * aff.scale.clone() + aff.bias.clone(),
            None => y,
        }
    }

    /// The pre-squash value of an action, `u = atanh(clamp((a − b) / s, ±TANH_CLAMP))`, `[N, D]`.
    pub fn unsquash(&self, action: Tensor<B, 2>) -> Tensor<B, 2> {
        let y = match &self.affine {
            Some(aff) => (action - aff.bias.clone()) / aff.scale.clone(),
            None => action,
        };
        let y = y.clamp(-TANH_CLAMP, TANH_CLAMP);
        (y.clone().log1p() - y.neg().log1p()).mul_scalar(0.5)
    }

    /// `log |det ∂a/∂u| = Σ_d [2 (ln 2 − u_d − softplus(−2 u_d)) + ln s_d]`, `[N]`.
    pub fn log_abs_det_jacobian(&self, u: Tensor<B, 2>) -> Tensor<B, 1> {
        let per_dim = (u.clone() + softplus(u.mul_scalar(-2.0))).neg().add_scalar(LN_2).mul_scalar(2.0);
        let log_det = sum_rows(per_dim);
        match &self.affine {
            Some(aff) => log_det.add_scalar(aff.log_scale_sum),
            None => log_det,
        }
    }

    /// The log-density of the action `s ⊙ tanh(u) + b` given its pre-squash value `u` `[N, D]`,
    /// `[N]`: `log N(u; μ, σ²) − log |det ∂a/∂u|`. Exact for every `u` (prefer it to
    /// [`TanhGaussian::log_prob`] whenever `u` is at hand).
    pub fn log_prob_pre_tanh(&self, u: Tensor<B, 2>) -> Tensor<B, 1> {
        self.base.log_prob(u.clone()) - self.log_abs_det_jacobian(u)
    }

    /// The log-density of actions `[N, D]` inside the box, `[N]`, through
    /// [`TanhGaussian::unsquash`] (accurate while `|tanh u| ≤ TANH_CLAMP`; in `f32` the inversion
    /// loses digits as `|tanh u| → 1`).
    pub fn log_prob(&self, action: Tensor<B, 2>) -> Tensor<B, 1> {
        self.log_prob_pre_tanh(self.unsquash(action))
    }

    /// The reparameterised action and its pre-squash value, `(s ⊙ tanh(μ + σ ⊙ ε) + b, μ + σ ⊙ ε)`,
    /// for given noise `ε` `[N, D]`; differentiable in `μ` and `log σ`.
    pub fn rsample_from_noise(&self, eps: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let u = self.base.rsample_from_noise(eps);
        (self.squash(u.clone()), u)
    }

    /// A reparameterised action `[N, D]` with `ε ~ N(0, I)` drawn from `rng`.
    pub fn rsample(&self, rng: &mut Pcg64) -> Tensor<B, 2> {
        self.rsample_with_log_prob(rng).0
    }

    /// A reparameterised action `[N, D]` and its log-density `[N]` (computed from the
    /// pre-squash value, so exact even where `tanh u` rounds to ±1): SAC's actor step.
    pub fn rsample_with_log_prob(&self, rng: &mut Pcg64) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let eps = gaussian_noise(self.dims(), rng, &self.base.mean().device());
        let (action, u) = self.rsample_from_noise(eps);
        (action, self.log_prob_pre_tanh(u))
    }

    /// An action `[N, D]`, detached from the graph.
    pub fn sample(&self, rng: &mut Pcg64) -> Tensor<B, 2> {
        self.rsample(rng).detach()
    }

    /// The deterministic action `s ⊙ tanh(μ) + b` used for evaluation (the squashed mode of `u`,
    /// not the mode of the action density), `[N, D]`.
    pub fn mode(&self) -> Tensor<B, 2> {
        self.squash(self.base.mean())
    }

    /// The one-sample Monte Carlo entropy estimate `−log p(a)`, `a` reparameterised from `rng`,
    /// `[N]` (its expectation is the entropy; differentiable in `μ` and `log σ`).
    pub fn entropy_estimate(&self, rng: &mut Pcg64) -> Tensor<B, 1> {
        self.rsample_with_log_prob(rng).1.neg()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Cpu, CpuAutodiff};
    use rand::SeedableRng;
    use std::f64::consts::PI;

    fn host_normal_log_pdf(u: f64, mu: f64, log_std: f64) -> f64 {
        let s = log_std.exp();
        -0.5 * ((u - mu) / s).powi(2) - log_std - 0.5 * (2.0 * PI).ln()
    }

    /// The change-of-variables log-density of `a = s tanh(u) + b`, from `u`, in f64.
    fn host_log_prob(u: f64, mu: f64, log_std: f64, s: f64) -> f64 {
        host_normal_log_pdf(u, mu, log_std) - (1.0 - u.tanh().powi(2)).ln() - s.ln()
    }

    fn f32s<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
        t.into_data().to_vec::<f32>().unwrap().into_iter().map(f64::from).collect()
    }

    /// Composite Simpson's rule of `exp(log_prob)` over `(low, high)` in one dimension, with
    /// `m` (even) intervals; the density vanishes at both ends.
    fn integrate_density(mu: f64, log_std: f64, bounds: Option<(f64, f64)>, m: usize) -> f64 {
        let (low, high) = bounds.unwrap_or((-1.0, 1.0));
        let h = (high - low) / m as f64;
        let interior: Vec<f64> = (1..m).map(|i| low + i as f64 * h).collect();
        let n = interior.len();
        let device = Default::default();
        let mut dist = TanhGaussian::<Cpu>::new(
            tensor_from_f64(&vec![mu; n], [n, 1], &device),
            tensor_from_f64(&vec![log_std; n], [n, 1], &device),
        );
        if let Some((l, hi)) = bounds {
            dist = dist.with_bounds(&[l], &[hi]);
        }
        let lp = f32s(dist.log_prob(tensor_from_f64(&interior, [n, 1], &device)));
        let sum: f64 = lp.iter().enumerate().map(|(j, l)| if j % 2 == 0 { 4.0 } else { 2.0 } * l.exp()).sum();
        sum * h / 3.0
    }

    #[test]
    fn density_integrates_to_one() {
        for (mu, log_std) in [(0.0, 0.0), (0.5, (0.3f64).ln()), (-1.2, (0.8f64).ln()), (2.0, (0.5f64).ln())] {
            let z = integrate_density(mu, log_std, None, 20_000);
            assert!((z - 1.0).abs() < 1e-3, "μ {mu}, log σ {log_std}: ∫ p = {z}");
        }
        // On the box (−2, 3): the scale's log|s| is part of the density.
        let z = integrate_density(0.4, (0.7f64).ln(), Some((-2.0, 3.0)), 20_000);
        assert!((z - 1.0).abs() < 1e-3, "bounded: ∫ p = {z}");
    }

    #[test]
    fn log_prob_matches_the_change_of_variables_density() {
        // Two action dimensions on the box (−2, 3) × (0, 1); fixed pre-squash noise.
        let mu = [0.3, -0.8];
        let log_std = [-0.4, 0.2];
        let (low, high) = ([-2.0, 0.0], [3.0, 1.0]);
        let eps = [[0.0, 0.0], [1.3, -0.7], [-2.1, 1.9], [0.6, 2.4]];
        let n = eps.len();
        let device = Default::default();
        let dist = TanhGaussian::<Cpu>::with_shared_log_std(
            tensor_from_f64::<Cpu, 2>(&mu, [1, 2], &device).repeat_dim(0, n),
            tensor_from_f64(&log_std, [2], &device),
        )
        .with_bounds(&low, &high);
        let eps_t = tensor_from_f64(&eps.iter().flatten().copied().collect::<Vec<f64>>(), [n, 2], &device);
        let (action, u) = dist.rsample_from_noise(eps_t);
        let lp_u = f32s(dist.log_prob_pre_tanh(u));
        let lp_a = f32s(dist.log_prob(action.clone()));
        let a = f32s(action);
        for (i, e) in eps.iter().enumerate() {
            let mut want = 0.0;
            for d in 0..2 {
                let u = mu[d] + log_std[d].exp() * e[d];
                let s = 0.5 * (high[d] - low[d]);
                let want_a = s * u.tanh() + 0.5 * (high[d] + low[d]);
                assert!((a[2 * i + d] - want_a).abs() < 1e-6, "action {i},{d}");
                want += host_log_prob(u, mu[d], log_std[d], s);
            }
            assert!(
                (lp_u[i] - want).abs() < 1e-4 * want.abs().max(1.0),
                "from u, row {i}: {} vs {want}",
                lp_u[i]
            );
            assert!(
                (lp_a[i] - want).abs() < 2e-3 * want.abs().max(1.0),
                "from a, row {i}: {} vs {want}",
                lp_a[i]
            );
        }
        // The mode is the squashed mean.
        let m = f32s(dist.mode());
        assert!((m[0] - (2.5 * mu[0].tanh() + 0.5)).abs() < 1e-6);
        assert!((m[1] - (0.5 * mu[1].tanh() + 0.5)).abs() < 1e-6);
    }

    #[test]
    fn log_det_correction_is_finite_far_in_the_tails() {
        // 1 − tanh²u underflows in f32 for |u| ≳ 9; the stable form stays exact.
        let us = [-60.0, -12.0, 0.0, 12.0, 60.0];
        let dist = TanhGaussian::<Cpu>::new(
            Tensor::zeros([5, 1], &Default::default()),
            Tensor::zeros([5, 1], &Default::default()),
        );
        let got = f32s(dist.log_abs_det_jacobian(tensor_from_f64(&us, [5, 1], &Default::default())));
        for (u, g) in us.iter().zip(got) {
            // log(1 − tanh²u) = 2 (ln 2 − |u| − ln(1 + e^(−2|u|))).
            let want = 2.0 * (LN_2 - u.abs() - (-2.0 * u.abs()).exp().ln_1p());
            assert!((g - want).abs() < 1e-5 * want.abs().max(1.0), "u {u}: {g} vs {want}");
        }
    }

    #[test]
    fn reparameterised_gradients_match_finite_differences() {
        // J(μ, log σ) = Σ_d mean_i a_id and L(μ, log σ) = mean_i log p(a_i), a_i = s tanh(μ + σ ε_i) + b,
        // with fixed noise ε_i; autodiff against central differences of the f64 formulas.
        let eps = [[0.2, -1.1], [1.5, 0.3], [-0.4, 0.9], [-1.8, -0.2], [0.7, 2.0]];
        let n = eps.len();
        let (mu0, ls0) = ([0.4, -0.9], [-0.3, 0.25]);
        let s = [2.5, 0.5];
        let device = Default::default();
        // Each objective gets its own graph: (μ, log σ) leaves → (action, u).
        let forward = || {
            let mu = tensor_from_f64::<CpuAutodiff, 2>(&mu0, [1, 2], &device).require_grad();
            let log_std = tensor_from_f64::<CpuAutodiff, 1>(&ls0, [2], &device).require_grad();
            let dist = TanhGaussian::with_shared_log_std(mu.clone().expand([n, 2]), log_std.clone())
                .with_bounds(&[-2.0, 0.0], &[3.0, 1.0]);
            let eps_t =
                tensor_from_f64(&eps.iter().flatten().copied().collect::<Vec<f64>>(), [n, 2], &device);
            let (action, u) = dist.rsample_from_noise(eps_t);
            (mu, log_std, dist, action, u)
        };
        let (mu, log_std, _, action, _) = forward();
        let grads = action.sum().div_scalar(n as f64).backward();
        let (dj_dmu, dj_dls) = (f32s(mu.grad(&grads).unwrap()), f32s(log_std.grad(&grads).unwrap()));
        let (mu, log_std, dist, _, u) = forward();
        let grads = dist.log_prob_pre_tanh(u).mean().backward();
        let (dl_dmu, dl_dls) = (f32s(mu.grad(&grads).unwrap()), f32s(log_std.grad(&grads).unwrap()));

        let host_j = |mu: [f64; 2], ls: [f64; 2]| -> f64 {
            let sum: f64 = (0..2)
                .map(|d| eps.iter().map(|e| s[d] * (mu[d] + ls[d].exp() * e[d]).tanh()).sum::<f64>())
                .sum();
            sum / n as f64
        };
        let host_l = |mu: [f64; 2], ls: [f64; 2]| -> f64 {
            let sum: f64 = eps
                .iter()
                .map(|e| {
                    (0..2).map(|d| host_log_prob(mu[d] + ls[d].exp() * e[d], mu[d], ls[d], s[d])).sum::<f64>()
                })
                .sum();
            sum / n as f64
        };
        let h = 1e-6;
        for d in 0..2 {
            let (mut mp, mut mm, mut lp, mut lm) = (mu0, mu0, ls0, ls0);
            mp[d] += h;
            mm[d] -= h;
            lp[d] += h;
            lm[d] -= h;
            let checks = [
                ("dJ/dμ", dj_dmu[d], (host_j(mp, ls0) - host_j(mm, ls0)) / (2.0 * h)),
                ("dJ/dlogσ", dj_dls[d], (host_j(mu0, lp) - host_j(mu0, lm)) / (2.0 * h)),
                ("dL/dμ", dl_dmu[d], (host_l(mp, ls0) - host_l(mm, ls0)) / (2.0 * h)),
                ("dL/dlogσ", dl_dls[d], (host_l(mu0, lp) - host_l(mu0, lm)) / (2.0 * h)),
            ];
            for (name, got, fd) in checks {
                assert!(
                    (got - fd).abs() < 1e-4 * fd.abs().max(1.0),
                    "{name}[{d}]: autodiff {got} vs FD {fd}"
                );
            }
        }
    }

    #[test]
    fn sampling_is_seeded_and_inside_the_box() {
        let n = 1000;
        let device = Default::default();
        let dist = TanhGaussian::<Cpu>::new(
            Tensor::ones([n, 1], &device).mul_scalar(3.0),
            Tensor::ones([n, 1], &device),
        )
        .with_bounds(&[-0.5], &[0.25]);
        let a = f32s(dist.sample(&mut Pcg64::seed_from_u64(1)));
        assert!(a.iter().all(|&x| (-0.5..=0.25).contains(&x)));
        assert_eq!(a, f32s(dist.sample(&mut Pcg64::seed_from_u64(1))));
        let h = f32s(dist.entropy_estimate(&mut Pcg64::seed_from_u64(2)));
        assert!(h.iter().all(|v| v.is_finite()));
    }
}
