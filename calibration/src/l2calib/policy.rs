//! The L2Calib policy (§6.1): 19 free actor parameters and no observation.
//!
//! - translation `t ~ N(μ_t, diag σ_t²)` (metres), `σ_t = exp(log σ_t)`;
//! - rotation `q ~ Bingham(M, Z)` on S³ (w-first quaternions), `M = GramSchmidt(A)` of a free
//!   4×4 matrix `A` (its last column is the mode) and `Z = −exp(ζ)`.
//!
//! `log π(t, q) = log N(t; μ_t, σ_t) + Σ_i z_i (m_iᵀ q)² − log F(Z)` with the exact normaliser
//! ([`crate::bingham`]); the entropy is the Gaussian's plus the Bingham's. [`PolicyParams`] holds
//! the parameters on the host (f64) and samples; [`PolicyTensors`] evaluates log-density and entropy
//! as differentiable burn tensors for PPO.

use std::f64::consts::PI;

use burn::tensor::{Tensor, TensorData, backend::Backend};
use nalgebra::{Isometry3, Matrix4, Vector3, Vector4};
use rand::Rng;

use crate::bingham::{self, Bingham, BinghamError};
use crate::bingham_burn;

/// The policy's parameters (host, f64).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyParams {
    /// Translation mean `μ_t` (metres).
    pub mean: [f64; 3],
    /// Translation log standard deviation `log σ_t` (log metres).
    pub log_std: [f64; 3],
    /// The free 4×4 matrix `A`; `M = GramSchmidt(A)`, mode = last column of `M`.
    pub a: Matrix4<f64>,
    /// `ζ` with `Z = −exp(ζ)`.
    pub zeta: [f64; 3],
}

/// Number of free parameters: 3 + 3 + 16 + 3.
pub const NUM_PARAMS: usize = 25;

impl PolicyParams {
    /// The policy centred on `x` (translation and mode rotation), with std `sigma` (metres, per
    /// axis) and concentrations `z` (all `≤ 0`, e.g. `−20`).
    pub fn centred_on(x: &Isometry3<f64>, sigma: [f64; 3], z: f64) -> Self {
        let q = crate::se3::quat_wxyz(&x.rotation);
        let zeta = (-z).max(1e-12).ln();
        PolicyParams {
            mean: x.translation.vector.into(),
            log_std: sigma.map(|s| s.max(1e-12).ln()),
            a: bingham::basis_with_last_column(&Vector4::from(q)),
            zeta: [zeta; 3],
        }
    }

    /// `M = GramSchmidt(A)`.
    pub fn m(&self) -> Matrix4<f64> {
        bingham::gram_schmidt(&self.a)
    }

    /// `Z = −exp(ζ)`.
    pub fn z(&self) -> [f64; 3] {
        self.zeta.map(|v| -v.exp())
    }

    /// `σ_t` (metres).
    pub fn std(&self) -> [f64; 3] {
        self.log_std.map(f64::exp)
    }

    /// The mode `(μ_t, last column of M)` as `T_ref_sensor`.
    pub fn mode(&self) -> Isometry3<f64> {
        super::isometry_from_parts(self.mean, &self.m().column(3).into_owned())
    }

    /// The rotation part as a [`Bingham`] (for sampling).
    pub fn bingham(&self) -> Result<Bingham, BinghamError> {
        Bingham::new(self.m(), self.z())
    }

    /// The parameters as one flat vector: `μ_t, log σ_t, A (row-major), ζ`.
    pub fn to_flat(&self) -> [f64; NUM_PARAMS] {
        let mut v = [0.0; NUM_PARAMS];
        v[..3].copy_from_slice(&self.mean);
        v[3..6].copy_from_slice(&self.log_std);
        for r in 0..4 {
            for c in 0..4 {
                v[6 + 4 * r + c] = self.a[(r, c)];
            }
        }
        v[22..].copy_from_slice(&self.zeta);
        v
    }

    /// Inverse of [`PolicyParams::to_flat`].
    pub fn from_flat(v: &[f64; NUM_PARAMS]) -> Self {
        PolicyParams {
            mean: [v[0], v[1], v[2]],
            log_std: [v[3], v[4], v[5]],
            a: Matrix4::from_fn(|r, c| v[6 + 4 * r + c]),
            zeta: [v[22], v[23], v[24]],
        }
    }

    /// One draw: translation (metres) and a w-first unit quaternion, from `bingham` (which must be
    /// [`PolicyParams::bingham`] of these parameters; built once per batch).
    pub fn sample<R: Rng + ?Sized>(&self, bingham: &Bingham, rng: &mut R) -> ([f64; 3], Vector4<f64>) {
        let t: [f64; 3] =
            std::array::from_fn(|i| self.mean[i] + self.log_std[i].exp() * standard_normal(rng));
        (t, bingham.sample(rng))
    }

    /// `log π(t, q)` in f64 (reference for the tensor path).
    pub fn log_prob_f64(&self, t: &[f64; 3], q: &Vector4<f64>) -> f64 {
        let gauss: f64 = (0..3)
            .map(|i| {
                let s = self.log_std[i].exp();
                -0.5 * ((t[i] - self.mean[i]) / s).powi(2) - self.log_std[i] - 0.5 * (2.0 * PI).ln()
            })
            .sum();
        let m = self.m();
        let z = self.z();
        let y = m.transpose() * q;
        gauss + (0..3).map(|i| z[i] * y[i] * y[i]).sum::<f64>() - bingham::log_normalizer(z)
    }

    /// Entropy (nats) in f64.
    pub fn entropy_f64(&self) -> f64 {
        self.log_std.iter().sum::<f64>() + 1.5 * (1.0 + (2.0 * PI).ln()) + bingham::entropy(self.z())
    }
}

/// One standard normal draw (Box–Muller, one per call).
pub(crate) fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// The policy's parameters as burn tensors (`mean`, `log_std`, `zeta`: `[3]`; `a`: `[1, 4, 4]`,
/// row-major), differentiable under an autodiff backend.
#[derive(Debug, Clone)]
pub struct PolicyTensors<B: Backend> {
    /// `μ_t` `[3]`.
    pub mean: Tensor<B, 1>,
    /// `log σ_t` `[3]`.
    pub log_std: Tensor<B, 1>,
    /// `A` `[1, 4, 4]`.
    pub a: Tensor<B, 3>,
    /// `ζ` `[3]`.
    pub zeta: Tensor<B, 1>,
}

impl<B: Backend> PolicyTensors<B> {
    /// Uploads `p` (f32 on most backends).
    pub fn new(p: &PolicyParams, device: &B::Device) -> Self {
        let v1 = |x: [f64; 3]| Tensor::<B, 1>::from_data(TensorData::new(x.to_vec(), [3]), device);
        let a: Vec<f64> = (0..16).map(|k| p.a[(k / 4, k % 4)]).collect();
        PolicyTensors {
            mean: v1(p.mean),
            log_std: v1(p.log_std),
            a: Tensor::from_data(TensorData::new(a, [1, 4, 4]), device),
            zeta: v1(p.zeta),
        }
    }

    /// Marks every parameter as requiring a gradient.
    pub fn require_grad(self) -> Self {
        PolicyTensors {
            mean: self.mean.require_grad(),
            log_std: self.log_std.require_grad(),
            a: self.a.require_grad(),
            zeta: self.zeta.require_grad(),
        }
    }

    /// `log π(t, q)` for a batch: `t` `[K, 3]` (metres), `q` `[K, 4]` (w-first unit quaternions).
    /// Returns `[K]`.
    pub fn log_prob(&self, t: Tensor<B, 2>, q: Tensor<B, 2>) -> Tensor<B, 1> {
        let [k, _] = t.dims();
        let mean = self.mean.clone().reshape([1, 3]);
        let log_std = self.log_std.clone().reshape([1, 3]);
        let zs = (t - mean) * log_std.clone().neg().exp();
        let gauss = (zs.square().mul_scalar(-0.5) - log_std)
            .sum_dim(1)
            .reshape([k])
            .sub_scalar(1.5 * (2.0 * PI).ln());
        let m = bingham_burn::gram_schmidt(self.a.clone());
        let z = bingham_burn::z_from_log(self.zeta.clone());
        gauss + bingham_burn::log_density(q, m, z)
    }

    /// Entropy (nats) as a one-element tensor, exact value and gradient.
    pub fn entropy(&self) -> Tensor<B, 1> {
        let z = bingham_burn::z_from_log(self.zeta.clone());
        self.log_std.clone().sum().add_scalar(1.5 * (1.0 + (2.0 * PI).ln())) + bingham_burn::entropy(z)
    }
}

/// A batch of actions as tensors: translations `[K, 3]` and w-first quaternions `[K, 4]`.
pub fn action_tensors<B: Backend>(
    ts: &[[f64; 3]],
    qs: &[Vector4<f64>],
    device: &B::Device,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let k = ts.len();
    let t: Vec<f64> = ts.iter().flat_map(|t| t.iter().copied()).collect();
    let q: Vec<f64> = qs.iter().flat_map(|q| q.iter().copied()).collect();
    (
        Tensor::from_data(TensorData::new(t, [k, 3]), device),
        Tensor::from_data(TensorData::new(q, [k, 4]), device),
    )
}

/// A uniformly random rotation (Shoemake 1992) as a w-first unit quaternion.
pub fn uniform_quaternion<R: Rng + ?Sized>(rng: &mut R) -> Vector4<f64> {
    let (u1, u2, u3): (f64, f64, f64) = (rng.random(), rng.random(), rng.random());
    let (a, b) = ((1.0 - u1).sqrt(), u1.sqrt());
    let (t2, t3) = (2.0 * PI * u2, 2.0 * PI * u3);
    // (x, y, z, w) = (a sin t2, a cos t2, b sin t3, b cos t3).
    Vector4::new(b * t3.cos(), a * t2.sin(), a * t2.cos(), b * t3.sin())
}

/// A translation uniform in the box `[min, max]` (metres).
pub fn uniform_translation<R: Rng + ?Sized>(rng: &mut R, min: &[f64; 3], max: &[f64; 3]) -> Vector3<f64> {
    Vector3::from_fn(|i, _| min[i] + (max[i] - min[i]) * rng.random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    type Ad = Autodiff<Flex>;

    fn f32r(v: f64) -> f64 {
        v as f32 as f64
    }

    fn random_params(rng: &mut Pcg64) -> PolicyParams {
        PolicyParams {
            mean: [0.3, -0.2, 0.5].map(f32r),
            log_std: [-1.0, -0.5, -2.0].map(f32r),
            a: Matrix4::from_fn(|_, _| f32r(rng.random::<f64>() * 2.0 - 1.0)),
            zeta: [3.0, 1.5, 5.0].map(f32r),
        }
    }

    #[test]
    fn log_prob_and_entropy_match_f64() {
        let mut rng = Pcg64::seed_from_u64(1);
        let p = random_params(&mut rng);
        let b = p.bingham().unwrap();
        let draws: Vec<_> = (0..16).map(|_| p.sample(&b, &mut rng)).collect();
        let ts: Vec<[f64; 3]> = draws.iter().map(|d| d.0.map(f32r)).collect();
        let qs: Vec<Vector4<f64>> = draws.iter().map(|d| d.1.map(f32r)).collect();
        let pt = PolicyTensors::<Flex>::new(&p, &Default::default());
        let (t, q) = action_tensors::<Flex>(&ts, &qs, &Default::default());
        let lp: Vec<f64> = pt.log_prob(t, q).into_data().iter::<f64>().collect();
        for k in 0..16 {
            let want = p.log_prob_f64(&ts[k], &qs[k]);
            assert!((lp[k] - want).abs() < 2e-4 * want.abs().max(1.0), "{} vs {want}", lp[k]);
        }
        let h: f64 = pt.entropy().into_data().iter::<f64>().next().unwrap();
        assert!((h - p.entropy_f64()).abs() < 1e-4 * p.entropy_f64().abs().max(1.0));
    }

    #[test]
    fn gradients_match_finite_differences() {
        // Loss = Σ_k w_k log π(t_k, q_k) + c · H: autodiff gradient w.r.t. all 25 parameters vs
        // central differences of the f64 implementation.
        let mut rng = Pcg64::seed_from_u64(2);
        let p = random_params(&mut rng);
        let b = p.bingham().unwrap();
        let n = 8;
        let draws: Vec<_> = (0..n).map(|_| p.sample(&b, &mut rng)).collect();
        let ts: Vec<[f64; 3]> = draws.iter().map(|d| d.0.map(f32r)).collect();
        let qs: Vec<Vector4<f64>> = draws.iter().map(|d| d.1.map(f32r)).collect();
        let w: Vec<f64> = (0..n).map(|_| f32r(rng.random::<f64>() - 0.4)).collect();
        let c = 0.3;
        let f = |pp: &PolicyParams| {
            (0..n).map(|k| w[k] * pp.log_prob_f64(&ts[k], &qs[k])).sum::<f64>() + c * pp.entropy_f64()
        };
        let dev = Default::default();
        let pt = PolicyTensors::<Ad>::new(&p, &dev).require_grad();
        let (t, q) = action_tensors::<Ad>(&ts, &qs, &dev);
        let wt = Tensor::<Ad, 1>::from_data(TensorData::new(w.clone(), [n]), &dev);
        let loss = (pt.log_prob(t, q) * wt).sum() + pt.entropy().mul_scalar(c);
        let grads = loss.backward();
        let g = |t: Option<Tensor<Flex, 1>>| t.unwrap().into_data().iter::<f64>().collect::<Vec<f64>>();
        let mut ad = Vec::new();
        ad.extend(g(pt.mean.grad(&grads)));
        ad.extend(g(pt.log_std.grad(&grads)));
        ad.extend(pt.a.grad(&grads).unwrap().into_data().iter::<f64>());
        ad.extend(g(pt.zeta.grad(&grads)));
        assert_eq!(ad.len(), NUM_PARAMS);
        let flat = p.to_flat();
        let scale = ad.iter().fold(1.0f64, |s, v| s.max(v.abs()));
        for i in 0..NUM_PARAMS {
            let h = 1e-6 * flat[i].abs().max(1.0);
            let (mut fp, mut fm) = (flat, flat);
            fp[i] += h;
            fm[i] -= h;
            let fd = (f(&PolicyParams::from_flat(&fp)) - f(&PolicyParams::from_flat(&fm))) / (2.0 * h);
            assert!((ad[i] - fd).abs() < 2e-4 * scale, "param {i}: autodiff {} vs fd {fd}", ad[i]);
        }
    }

    #[test]
    fn uniform_quaternions_are_unit_and_cover_the_sphere() {
        let mut rng = Pcg64::seed_from_u64(3);
        let mut second = Matrix4::zeros();
        let n = 20000;
        for _ in 0..n {
            let q = uniform_quaternion(&mut rng);
            assert!((q.norm() - 1.0).abs() < 1e-12);
            second += q * q.transpose() / n as f64;
        }
        // E[q qᵀ] = I/4 for the uniform distribution on S³.
        assert!((second - Matrix4::identity() * 0.25).abs().max() < 0.01, "{second}");
    }

    #[test]
    fn centred_policy_has_the_requested_mode() {
        let x = crate::l2calib::isometry_from_parts([0.1, 0.2, 0.3], &Vector4::new(0.5, -0.5, 0.5, 0.5));
        let p = PolicyParams::centred_on(&x, [0.5; 3], -20.0);
        let m = p.mode();
        assert!((m.translation.vector - x.translation.vector).norm() < 1e-12);
        assert!(m.rotation.angle_to(&x.rotation) < 1e-9);
        assert!((p.z()[0] + 20.0).abs() < 1e-9 && (p.std()[1] - 0.5).abs() < 1e-12);
    }
}
