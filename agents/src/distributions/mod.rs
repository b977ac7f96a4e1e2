//! Batched action distributions for policy-gradient and actor-critic agents.
//!
//! - [`categorical`]: [`Categorical`] over `K` discrete actions from logits `[N, K]`.
//! - [`normal`]: [`DiagGaussian`], a diagonal Gaussian over `ℝ^D` from a mean `[N, D]` and a
//!   log standard deviation (a shared `[D]` parameter or a per-row `[N, D]` head).
//! - [`tanh_normal`]: [`TanhGaussian`], the squashed Gaussian of SAC, `a = s ⊙ tanh(u) + b` with
//!   `u ~ N(μ, σ²)`, optionally affinely mapped onto a box's bounds.
//!
//! # Conventions
//!
//! Every distribution is generic over `B: Backend` and batched along dimension 0: `log_prob`
//! and `entropy` return one value per row (`[N]`, summed over the action dimensions), in nats.
//! Randomness never comes from the backend's own generator: the noise (standard normals, Gumbel
//! variates) is drawn on the host with the caller's seeded [`Pcg64`] in `f64`, row-major, and
//! uploaded, so a seed gives the same draws on every backend ([`fill_standard_normal`],
//! [`gaussian_noise`]). `sample` returns detached values; `rsample` keeps the reparameterised
//! graph, so gradients flow to the parameters through the sample.

pub mod categorical;
pub mod normal;
pub mod tanh_normal;

pub use categorical::Categorical;
pub use normal::DiagGaussian;
pub use tanh_normal::{TANH_CLAMP, TanhGaussian};

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::RngCore;
use rand_pcg::Pcg64;

/// `ln(2π)`, the constant of the Gaussian log-density.
pub const LN_2PI: f64 = 1.837_877_066_409_345_3;

/// A uniform draw in the open interval `(0, 1)`: `(k + ½) / 2⁵³` for a random 53-bit `k`, so
/// neither 0 nor 1 can occur (safe under `ln`).
pub fn open_unit(rng: &mut Pcg64) -> f64 {
    ((rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}

/// Fills `out` with independent standard normals by the Box–Muller transform, two per pair of
/// uniforms: `z₀ = r cos θ`, `z₁ = r sin θ` with `r = √(−2 ln u₁)`, `θ = 2π u₂`.
///
/// Deterministic given the state of `rng`; an odd length discards the last `z₁`.
pub fn fill_standard_normal(rng: &mut Pcg64, out: &mut [f64]) {
    for pair in out.chunks_mut(2) {
        let r = (-2.0 * open_unit(rng).ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * open_unit(rng)).sin_cos();
        pair[0] = r * c;
        if let Some(z1) = pair.get_mut(1) {
            *z1 = r * s;
        }
    }
}

/// A tensor of standard normal noise `ε ~ N(0, I)` of the given shape, drawn on the host with
/// [`fill_standard_normal`] (row-major order) and uploaded to `device`.
pub fn gaussian_noise<B: Backend, const D: usize>(
    shape: [usize; D],
    rng: &mut Pcg64,
    device: &B::Device,
) -> Tensor<B, D> {
    let mut z = vec![0.0; shape.iter().product()];
    fill_standard_normal(rng, &mut z);
    tensor_from_f64(&z, shape, device)
}

/// Uploads row-major `f64` values as a float tensor of the given shape (converted to the
/// backend's float type).
pub fn tensor_from_f64<B: Backend, const D: usize>(
    values: &[f64],
    shape: [usize; D],
    device: &B::Device,
) -> Tensor<B, D> {
    let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Downloads a float tensor as row-major `f64` values.
pub fn tensor_to_f64<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data().convert::<f64>().to_vec::<f64>().expect("a float tensor converts to f64")
}

/// `softplus(x) = ln(1 + eˣ)`, computed without overflow as `max(x, 0) + ln(1 + e^(−|x|))`.
///
/// (burn's `softplus` evaluates `ln(1 + eˣ)` directly, which overflows to `inf` for `x ≳ 88` in
/// `f32`.)
pub fn softplus<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    x.clone().clamp_min(0.0) + x.abs().neg().exp().log1p()
}

/// Sums a `[N, D]` tensor over its last dimension into `[N]`.
pub(crate) fn sum_rows<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 1> {
    x.sum_dim(1).squeeze_dim::<1>(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;
    use rand::SeedableRng;

    #[test]
    fn standard_normal_moments_and_determinism() {
        let mut rng = Pcg64::seed_from_u64(7);
        let mut z = vec![0.0; 200_001];
        fill_standard_normal(&mut rng, &mut z);
        let n = z.len() as f64;
        let mean = z.iter().sum::<f64>() / n;
        let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let kurt = z.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / n / (var * var);
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "var {var}");
        assert!((kurt - 3.0).abs() < 0.05, "kurtosis {kurt}");

        let a = gaussian_noise::<Cpu, 2>([3, 5], &mut Pcg64::seed_from_u64(11), &Default::default());
        let b = gaussian_noise::<Cpu, 2>([3, 5], &mut Pcg64::seed_from_u64(11), &Default::default());
        assert_eq!(a.into_data().to_vec::<f32>().unwrap(), b.into_data().to_vec::<f32>().unwrap());
    }

    #[test]
    fn softplus_is_stable_and_exact() {
        let xs: [f64; 7] = [-200.0, -30.0, -1.0, 0.0, 0.5, 30.0, 200.0];
        let t = Tensor::<Cpu, 1>::from_floats(xs, &Default::default());
        let got = softplus(t).into_data().to_vec::<f32>().unwrap();
        for (x, g) in xs.iter().zip(got) {
            let want = x.max(0.0) + (-x.abs()).exp().ln_1p();
            assert!(g.is_finite());
            assert!((g as f64 - want).abs() <= 1e-6 * want.abs().max(1.0), "softplus({x}) = {g}");
        }
    }
}
