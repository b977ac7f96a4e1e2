//! Batched Bingham log-density for the calibration policy, generic over burn backends
//! (`B: Backend`; differentiable under `Autodiff<_>`).
//!
//! Conventions as in [`crate::bingham`]: quaternions are w-first 4-vectors, `M` has orthonormal
//! columns with the mode last, `z = (z1, z2, z3) ≤ 0`, and
//! `log p(x) = Σ_i z_i (m_iᵀ x)² − log F(z)`.
//!
//! # How `log F` gets exact gradients
//!
//! `log F(z)` has no closed form; it is evaluated in f64 by [`crate::bingham`] outside the graph.
//! To make autodiff see it, [`log_normalizer`] returns
//!
//! ```text
//! log F(z₀) + Σ_i g_i · (z_i − stop_grad(z_i)),    g = ∇ log F(z₀) (f64, as a constant),
//! ```
//!
//! whose value is exactly `log F(z₀)` (the bracket is zero) and whose gradient w.r.t. `z` is exactly
//! `g`. The same construction gives [`entropy`] with the gradient `−Hess(log F) z`. Only first
//! derivatives are exact (the constant `g` has no gradient itself), which is all a first-order
//! optimiser needs. Every call reads `z` back to the host once (a device sync; `z` has 3 entries).

use burn::tensor::{Tensor, TensorData, backend::Backend};

use crate::bingham::{self, GRAM_SCHMIDT_EPS};

/// Reads a small float tensor back as f64.
fn to_f64<B: Backend, const D: usize>(t: &Tensor<B, D>) -> Vec<f64> {
    t.to_data().iter::<f64>().collect()
}

/// `z` as a host array, checked to be 3 finite values.
fn z_host<B: Backend>(z: &Tensor<B, 1>) -> [f64; 3] {
    let v = to_f64(z);
    assert_eq!(v.len(), 3, "z must have 3 entries, got {}", v.len());
    [v[0], v[1], v[2]]
}

/// `value + Σ g_i (z_i − stop_grad(z_i))` as a one-element tensor: value `value`, gradient `g`.
fn with_gradient<B: Backend>(z: Tensor<B, 1>, value: f64, g: [f64; 3]) -> Tensor<B, 1> {
    let device = z.device();
    let g = Tensor::<B, 1>::from_data(TensorData::new(g.to_vec(), [3]), &device);
    let delta = z.clone() - z.detach();
    (delta * g).sum().add_scalar(value)
}

/// The concentrations from the policy's free parameters, `z = −exp(ζ)` (L2Calib's
/// parameterisation; keeps `z < 0`).
pub fn z_from_log<B: Backend>(zeta: Tensor<B, 1>) -> Tensor<B, 1> {
    zeta.exp().neg()
}

/// `log F(z)` as a one-element tensor, exact value and exact gradient w.r.t. `z` (see the module
/// docs). `z` has shape `[3]`.
pub fn log_normalizer<B: Backend>(z: Tensor<B, 1>) -> Tensor<B, 1> {
    let (log_f, g) = bingham::log_normalizer_and_grad(z_host(&z));
    with_gradient(z, log_f, g)
}

/// The entropy `H = log F − Σ z_i ∂_i log F` (nats) as a one-element tensor, with the exact
/// gradient `∂H/∂z = −Hess(log F) z`.
pub fn entropy<B: Backend>(z: Tensor<B, 1>) -> Tensor<B, 1> {
    let (h, g) = bingham::entropy_and_grad(z_host(&z));
    with_gradient(z, h, g)
}

/// Gram–Schmidt on the columns of a batch of 4×4 matrices `[N, 4, 4]` (modified Gram–Schmidt,
/// columns in order 1..4, norms clamped below at [`GRAM_SCHMIDT_EPS`]): the orthonormal `M` whose
/// last column is the Bingham mode. Plain tensor ops, so it runs and differentiates on any
/// backend; same map as [`crate::bingham::gram_schmidt`].
pub fn gram_schmidt<B: Backend>(a: Tensor<B, 3>) -> Tensor<B, 3> {
    let [n, r, c] = a.dims();
    assert_eq!([r, c], [4, 4], "gram_schmidt expects [N, 4, 4], got [{n}, {r}, {c}]");
    let mut cols: Vec<Tensor<B, 3>> = Vec::with_capacity(4);
    for j in 0..4 {
        let mut v = a.clone().slice([0..n, 0..4, j..j + 1]);
        for q in &cols {
            let proj = (q.clone() * v.clone()).sum_dim(1);
            v = v - q.clone() * proj;
        }
        let norm = v.clone().square().sum_dim(1).sqrt().clamp_min(GRAM_SCHMIDT_EPS);
        cols.push(v / norm);
    }
    Tensor::cat(cols, 2)
}

/// The modes (last columns of `m`, `[N, 4, 4]`) as `[N, 4]` w-first quaternions.
pub fn modes<B: Backend>(m: Tensor<B, 3>) -> Tensor<B, 2> {
    let [n, _, _] = m.dims();
    m.slice([0..n, 0..4, 3..4]).reshape([n, 4])
}

/// The quadratic forms `Σ_i z_i (m_iᵀ x)²` for a batch of quaternions `x` (`[N, 4]`, w-first, unit)
/// with `m` either shared (`[1, 4, 4]`) or one per quaternion (`[N, 4, 4]`) and `z` of shape `[3]`.
/// Returns `[N]`.
pub fn quadratic_form<B: Backend>(x: Tensor<B, 2>, m: Tensor<B, 3>, z: Tensor<B, 1>) -> Tensor<B, 1> {
    let [n, four] = x.dims();
    assert_eq!(four, 4, "x must be [N, 4], got [{n}, {four}]");
    let [nm, r, c] = m.dims();
    assert!(
        [r, c] == [4, 4] && (nm == 1 || nm == n),
        "m must be [1, 4, 4] or [{n}, 4, 4], got [{nm}, {r}, {c}]"
    );
    // y_j = Σ_k M[k, j] x_k, i.e. y = Mᵀ x per row.
    let y = (m * x.unsqueeze_dim::<3>(2)).sum_dim(1).reshape([n, 4]);
    let y3 = y.slice([0..n, 0..3]);
    (y3.square() * z.reshape([1, 3])).sum_dim(1).reshape([n])
}

/// Bingham log-density `log p(x) = Σ_i z_i (m_iᵀ x)² − log F(z)` of a batch `x: [N, 4]` (w-first unit
/// quaternions) under `M` (`[1, 4, 4]` shared or `[N, 4, 4]`, orthonormal columns, e.g. from
/// [`gram_schmidt`]) and `z: [3]` (≤ 0). Returns `[N]`; differentiable in `x`, `m` and `z` with the
/// exact gradient of `log F` (module docs).
pub fn log_density<B: Backend>(x: Tensor<B, 2>, m: Tensor<B, 3>, z: Tensor<B, 1>) -> Tensor<B, 1> {
    let quad = quadratic_form(x, m, z.clone());
    quad - log_normalizer(z)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use nalgebra::{Matrix4, Vector4};
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    type Ad = Autodiff<Flex>;

    fn rounded(v: f64) -> f64 {
        v as f32 as f64
    }

    fn unit_quats(rng: &mut Pcg64, n: usize) -> Vec<Vector4<f64>> {
        (0..n)
            .map(|_| {
                let v = Vector4::from_fn(|_, _| rng.random::<f64>() * 2.0 - 1.0).normalize();
                v.map(rounded)
            })
            .collect()
    }

    fn random_matrix(rng: &mut Pcg64) -> Matrix4<f64> {
        Matrix4::from_fn(|_, _| rounded(rng.random::<f64>() * 2.0 - 1.0))
    }

    fn tensor2(xs: &[Vector4<f64>]) -> Tensor<Ad, 2> {
        let flat: Vec<f64> = xs.iter().flat_map(|x| x.iter().copied()).collect();
        Tensor::from_data(TensorData::new(flat, [xs.len(), 4]), &Default::default())
    }

    /// `[N, 4, 4]` tensor of matrices in row-major order (`t[n, r, c] = m[(r, c)]`).
    fn tensor3(ms: &[Matrix4<f64>]) -> Tensor<Ad, 3> {
        let flat: Vec<f64> =
            ms.iter().flat_map(|m| m.transpose().iter().copied().collect::<Vec<_>>()).collect();
        Tensor::from_data(TensorData::new(flat, [ms.len(), 4, 4]), &Default::default())
    }

    fn tensor1(z: [f64; 3]) -> Tensor<Ad, 1> {
        Tensor::from_data(TensorData::new(z.to_vec(), [3]), &Default::default())
    }

    fn host<const D: usize>(t: Tensor<Ad, D>) -> Vec<f64> {
        t.into_data().iter::<f64>().collect()
    }

    /// f64 reference of Σ_n w_n log p(x_n) with M_n = GS(A_n).
    fn weighted_log_density(xs: &[Vector4<f64>], a: &[Matrix4<f64>], z: [f64; 3], w: &[f64]) -> f64 {
        let log_f = bingham::log_normalizer(z);
        xs.iter()
            .enumerate()
            .map(|(n, x)| {
                let m = bingham::gram_schmidt(&a[if a.len() == 1 { 0 } else { n }]);
                let y = m.transpose() * x;
                w[n] * ((0..3).map(|i| z[i] * y[i] * y[i]).sum::<f64>() - log_f)
            })
            .sum()
    }

    #[test]
    fn batch_log_density_matches_f64() {
        // M is passed directly: f64 orthogonal matrices rounded to f32, the same entries on both
        // sides, so this measures the f32 arithmetic of the batch path (Gram–Schmidt is checked
        // separately). Tolerance 1e-5 relative to max(1, |log p|).
        let mut rng = Pcg64::seed_from_u64(1);
        let mut worst: f64 = 0.0;
        for z in [[0.0, 0.0, 0.0], [-20.0, -20.0, -20.0], [-10.0, -1.0, -0.1], [-1000.0, -300.0, -5.0]] {
            let n = 64;
            let z = z.map(rounded);
            let xs = unit_quats(&mut rng, n);
            let ms: Vec<Matrix4<f64>> =
                (0..n).map(|_| bingham::gram_schmidt(&random_matrix(&mut rng)).map(rounded)).collect();
            let log_f = bingham::log_normalizer(z);
            let reference = |m: &Matrix4<f64>, x: &Vector4<f64>| {
                let y = m.transpose() * x;
                (0..3).map(|i| z[i] * y[i] * y[i]).sum::<f64>() - log_f
            };
            let err = |got: f64, want: f64| (got - want).abs() / want.abs().max(1.0);
            // One M per quaternion.
            let got = host(log_density(tensor2(&xs), tensor3(&ms), tensor1(z)));
            for (k, x) in xs.iter().enumerate() {
                worst = worst.max(err(got[k], reference(&ms[k], x)));
            }
            // A shared M ([1, 4, 4]) broadcasts over the batch.
            let got = host(log_density(tensor2(&xs), tensor3(&ms[..1]), tensor1(z)));
            for (k, x) in xs.iter().enumerate() {
                worst = worst.max(err(got[k], reference(&ms[0], x)));
            }
            // The f64 Bingham agrees with the reference formula for its exactly orthogonal M.
            let b = bingham::Bingham::new(bingham::gram_schmidt(&ms[0]), z).unwrap();
            assert!((b.log_density(&xs[0]) - reference(b.m(), &xs[0])).abs() < 1e-12 * log_f.abs().max(1.0));
        }
        eprintln!("batch log-density vs f64: worst relative error {worst:e}");
        assert!(worst < 1e-5, "worst relative error {worst:e}");
    }

    #[test]
    fn gram_schmidt_matches_f64_and_is_orthonormal() {
        let mut rng = Pcg64::seed_from_u64(4);
        let a: Vec<Matrix4<f64>> = (0..64).map(|_| random_matrix(&mut rng)).collect();
        let mh = host(gram_schmidt(tensor3(&a)));
        for (k, ak) in a.iter().enumerate() {
            let mf = bingham::gram_schmidt(ak);
            let got = Matrix4::from_fn(|r, c| mh[16 * k + 4 * r + c]);
            // f32 rounding amplified by the conditioning of the input matrix.
            let sv = ak.singular_values();
            let tol = 2e-7 * sv.max() / sv.min();
            assert!((got - mf).abs().max() < tol, "matrix {k}: {:e} vs tol {tol:e}", (got - mf).abs().max());
            assert!((got.transpose() * got - Matrix4::identity()).abs().max() < tol);
        }
        // Orthonormal input is a fixed point (up to f32 rounding).
        let q: Vec<Matrix4<f64>> = a.iter().map(|ak| bingham::gram_schmidt(ak).map(rounded)).collect();
        let mh = host(gram_schmidt(tensor3(&q)));
        for (k, qk) in q.iter().enumerate() {
            assert!((Matrix4::from_fn(|r, c| mh[16 * k + 4 * r + c]) - qk).abs().max() < 1e-6);
        }
    }

    #[test]
    fn gradients_match_finite_differences_of_f64() {
        let mut rng = Pcg64::seed_from_u64(2);
        let n = 8;
        for (z, shared) in
            [([-20.0, -5.0, -1.0], true), ([-3.0, -200.0, -0.5], false), ([-900.0, -1000.0, -2.0], true)]
        {
            let z = z.map(rounded);
            let xs = unit_quats(&mut rng, n);
            let a: Vec<Matrix4<f64>> =
                (0..if shared { 1 } else { n }).map(|_| random_matrix(&mut rng)).collect();
            let w: Vec<f64> = (0..n).map(|_| rounded(rng.random::<f64>() - 0.3)).collect();

            let a_t = tensor3(&a).require_grad();
            let z_t = tensor1(z).require_grad();
            let w_t = Tensor::<Ad, 1>::from_data(TensorData::new(w.clone(), [n]), &Default::default());
            let loss = (log_density(tensor2(&xs), gram_schmidt(a_t.clone()), z_t.clone()) * w_t).sum();
            let value = host(loss.clone())[0];
            let want = weighted_log_density(&xs, &a, z, &w);
            assert!((value - want).abs() < 1e-5 * want.abs().max(1.0));
            let grads = loss.backward();
            let gz: Vec<f64> = z_t.grad(&grads).unwrap().into_data().iter::<f64>().collect();
            let ga: Vec<f64> = a_t.grad(&grads).unwrap().into_data().iter::<f64>().collect();

            // d/dz by central differences of the f64 function.
            for i in 0..3 {
                let h = 1e-4 * z[i].abs().max(1.0);
                let (mut zp, mut zm) = (z, z);
                zp[i] += h;
                zm[i] -= h;
                let fd = (weighted_log_density(&xs, &a, zp, &w) - weighted_log_density(&xs, &a, zm, &w))
                    / (2.0 * h);
                assert!((gz[i] - fd).abs() < 1e-4 * fd.abs().max(1.0), "z {z:?} dz{i}: {} vs {fd}", gz[i]);
            }
            // d/dA entry by entry.
            let scale = ga.iter().fold(1.0f64, |s, g| s.max(g.abs()));
            for (k, ak) in a.iter().enumerate() {
                for r in 0..4 {
                    for c in 0..4 {
                        let h = 1e-6;
                        let (mut ap, mut am) = (a.clone(), a.clone());
                        ap[k][(r, c)] = ak[(r, c)] + h;
                        am[k][(r, c)] = ak[(r, c)] - h;
                        let fd = (weighted_log_density(&xs, &ap, z, &w)
                            - weighted_log_density(&xs, &am, z, &w))
                            / (2.0 * h);
                        let ad = ga[16 * k + 4 * r + c];
                        assert!((ad - fd).abs() < 1e-4 * scale, "z {z:?} dA[{k}][{r},{c}]: {ad} vs {fd}");
                    }
                }
            }
        }
    }

    #[test]
    fn normalizer_and_entropy_tensors_have_exact_values_and_gradients() {
        for z in [[0.0, 0.0, 0.0], [-20.0, -20.0, -20.0], [-10.0, -1.0, -0.1], [-1000.0, -400.0, -3.0]] {
            let z = z.map(rounded);
            let z_t = tensor1(z).require_grad();
            let lf = log_normalizer(z_t.clone());
            let (log_f, g) = bingham::log_normalizer_and_grad(z);
            assert!((host(lf.clone())[0] - log_f).abs() < 1e-6 * log_f.abs().max(1.0));
            let gz: Vec<f64> = z_t.grad(&lf.backward()).unwrap().into_data().iter::<f64>().collect();
            for i in 0..3 {
                assert!((gz[i] - g[i]).abs() < 1e-6 * g[i].abs().max(1e-3));
            }

            let z_t = tensor1(z).require_grad();
            let h = entropy(z_t.clone());
            let want = bingham::entropy(z);
            assert!((host(h.clone())[0] - want).abs() < 1e-6 * want.abs().max(1.0));
            let gh: Vec<f64> = z_t.grad(&h.backward()).unwrap().into_data().iter::<f64>().collect();
            for i in 0..3 {
                let step = 1e-4 * z[i].abs().max(1.0);
                let (mut zp, mut zm) = (z, z);
                zp[i] += step;
                zm[i] -= step;
                let fd = (bingham::entropy(zp) - bingham::entropy(zm)) / (2.0 * step);
                assert!((gh[i] - fd).abs() < 1e-5 * fd.abs().max(1e-2), "z {z:?}: {} vs {fd}", gh[i]);
            }
        }
        // z = −exp(ζ).
        let zeta = tensor1([0.0, 1.0, (20.0f64).ln()]);
        let z = host(z_from_log(zeta));
        assert!(
            (z[0] + 1.0).abs() < 1e-6 && (z[1] + 1.0f64.exp()).abs() < 1e-5 && (z[2] + 20.0).abs() < 1e-4
        );
    }

    #[test]
    fn modes_are_last_columns() {
        let mut rng = Pcg64::seed_from_u64(3);
        let a: Vec<Matrix4<f64>> = (0..3).map(|_| random_matrix(&mut rng)).collect();
        let m = host(modes(gram_schmidt(tensor3(&a))));
        for (k, ak) in a.iter().enumerate() {
            let mode = bingham::gram_schmidt(ak).column(3).into_owned();
            for r in 0..4 {
                assert!((m[4 * k + r] - mode[r]).abs() < 2e-6);
            }
        }
    }
}
