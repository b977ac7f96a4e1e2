//! Implicit-function-theorem hypergradients and inverse-Hessian-vector products.
//!
//! For an inner problem `θ*(φ) = argmax_θ J_φ(θ)` with `∇_θ J_φ(θ*) = 0` and a nonsingular
//! Hessian `H = ∇²_θ J_φ(θ*)` (negative definite at a strict local maximum), the implicit
//! function theorem gives `dθ*/dφ = −H⁻¹ ∂_φ∇_θ J_φ`, hence for an outer objective `F(φ, θ)`
//!
//! ```text
//! ∇_φ F(φ, θ*(φ)) = ∂_φ F − (∂_φ∇_θ J_φ)ᵀ H⁻¹ ∇_θ F.
//! ```
//!
//! The inverse-Hessian-vector product `x = H⁻¹ v` is never formed densely by the bilevel
//! algorithms; it is approximated with Hessian-vector products only:
//!
//! - [`conjugate_gradient`] on `(−H + δ I) y = v`, `x = −y`, with damping `δ ≥ 0` (biases `x`
//!   towards 0 along badly conditioned directions; exact for `δ = 0` in at most `n` steps);
//! - [`neumann_inverse_hvp`]: `x = −α Σ_{k=0..K} (I + α H)^k v`, which converges to `H⁻¹ v` for
//!   `0 < α < 2 / ‖H‖` when `H` is negative definite, with error `‖(I + αH)^{K+1}‖`-geometric.
//!
//! The mixed term enters as a vector-Jacobian product `x ↦ (∂_φ∇_θ J_φ)ᵀ x`, one call per
//! hypergradient whatever the dimension of `φ`.
//!
//! # Neural policies: Hessian-vector products by finite differences of gradients
//!
//! burn (0.21) has reverse-mode autodiff only and **no double backward**: the gradient it returns
//! is not itself differentiable, so `H u = ∇_θ(uᵀ∇_θ J)` cannot be taken by a second backward
//! pass. For neural policies the Hessian-vector product is therefore the central difference of
//! two burn gradients, [`finite_difference_hvp`]:
//!
//! ```text
//! H u ≈ [∇J(θ + h u) − ∇J(θ − h u)] / (2h),   error = (h²/6) ∇³J[u, u, u] + O(h⁴) + O(ε ‖∇J‖ / h)
//! ```
//!
//! The truncation error is `O(h²)`; the round-off term `ε‖∇J‖/h` (ε the float epsilon of the
//! backend) grows as `h` shrinks, so the best step is `h ≈ (3 ε ‖∇J‖ / ‖∇³J‖)^{1/3}`: with
//! `u` normalised to unit length this is `h ≈ ε^{1/3}` ≈ 5e-3 for f32 gradients and ≈ 6e-6 for
//! f64 ([`default_fd_step`]). Stochastic gradients must use the **same** minibatch and random
//! numbers at `θ ± h u` (common random numbers), or the difference is dominated by sampling noise.
//! Mixed derivatives `(∂_φ∇_θ J)ᵀ x` are likewise a central difference in `φ` of `xᵀ∇_θ J`, or,
//! when `φ` only enters the reward, the policy gradient of the reward's `φ`-Jacobian contracted
//! with `x`, which needs first derivatives only.

use super::BilevelError;

/// Settings of [`conjugate_gradient`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CgOptions {
    /// Damping `δ ≥ 0` added to the diagonal.
    pub damping: f64,
    /// Stop when `‖residual‖ ≤ tol · ‖b‖`.
    pub tol: f64,
    /// Iteration cap (reaching it is not an error: the result reports its residual).
    pub max_iters: usize,
}

impl Default for CgOptions {
    /// `δ = 0`, `tol = 1e-12`, 1000 iterations.
    fn default() -> Self {
        CgOptions { damping: 0.0, tol: 1e-12, max_iters: 1000 }
    }
}

/// The result of [`conjugate_gradient`].
#[derive(Debug, Clone, PartialEq)]
pub struct CgResult {
    /// The approximate solution.
    pub x: Vec<f64>,
    /// Iterations run.
    pub iterations: usize,
    /// Final relative residual `‖b − (A + δI) x‖ / ‖b‖`.
    pub residual: f64,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Solves `(A + δ I) x = b` for a symmetric positive (semi-)definite `A` given by its
/// matrix-vector product `matvec(u) = A u`, by conjugate gradients from `x = 0`.
///
/// Errors on a non-finite input, a negative damping, or a direction of non-positive curvature
/// (`pᵀ (A + δI) p ≤ 0`: `A + δI` is not positive definite).
pub fn conjugate_gradient(
    mut matvec: impl FnMut(&[f64]) -> Vec<f64>,
    b: &[f64],
    opts: &CgOptions,
) -> Result<CgResult, BilevelError> {
    if !(opts.damping.is_finite() && opts.damping >= 0.0) {
        return Err(BilevelError::Invalid(format!("CG damping {} must be finite and ≥ 0", opts.damping)));
    }
    if b.iter().any(|x| !x.is_finite()) {
        return Err(BilevelError::Invalid("CG right-hand side is not finite".into()));
    }
    let n = b.len();
    let bnorm = dot(b, b).sqrt();
    let mut x = vec![0.0; n];
    if bnorm == 0.0 {
        return Ok(CgResult { x, iterations: 0, residual: 0.0 });
    }
    let mut r = b.to_vec();
    let mut p = r.clone();
    let mut rr = dot(&r, &r);
    for it in 1..=opts.max_iters {
        let mut ap = matvec(&p);
        if ap.len() != n {
            return Err(BilevelError::Shape { what: "matrix-vector product", expected: n, got: ap.len() });
        }
        ap.iter_mut().zip(&p).for_each(|(a, q)| *a += opts.damping * q);
        let pap = dot(&p, &ap);
        if pap.is_nan() || pap <= 0.0 {
            return Err(BilevelError::NotPositiveDefinite { curvature: pap });
        }
        let alpha = rr / pap;
        x.iter_mut().zip(&p).for_each(|(xi, pi)| *xi += alpha * pi);
        r.iter_mut().zip(&ap).for_each(|(ri, a)| *ri -= alpha * a);
        let rr_new = dot(&r, &r);
        if rr_new.sqrt() <= opts.tol * bnorm {
            return Ok(CgResult { x, iterations: it, residual: rr_new.sqrt() / bnorm });
        }
        let beta = rr_new / rr;
        p.iter_mut().zip(&r).for_each(|(pi, ri)| *pi = ri + beta * *pi);
        rr = rr_new;
    }
    Ok(CgResult { x, iterations: opts.max_iters, residual: rr.sqrt() / bnorm })
}

/// `x ≈ H⁻¹ v` for a negative definite `H` by the truncated Neumann series
/// `x = −α Σ_{k=0..terms} (I + α H)^k v` (`terms + 1` Hessian-vector products).
///
/// Converges when `0 < α < 2 / ‖H‖`; the error after `K` terms is `(I + αH)^{K+1} H⁻¹ v`.
pub fn neumann_inverse_hvp(
    mut hvp: impl FnMut(&[f64]) -> Vec<f64>,
    v: &[f64],
    alpha: f64,
    terms: usize,
) -> Result<Vec<f64>, BilevelError> {
    if !(alpha.is_finite() && alpha > 0.0) {
        return Err(BilevelError::Invalid(format!("Neumann step α = {alpha} must be positive")));
    }
    let mut term = v.to_vec();
    let mut sum = v.to_vec();
    for _ in 0..terms {
        let h = hvp(&term);
        if h.len() != v.len() {
            return Err(BilevelError::Shape {
                what: "Hessian-vector product",
                expected: v.len(),
                got: h.len(),
            });
        }
        term.iter_mut().zip(&h).for_each(|(t, hi)| *t += alpha * hi);
        sum.iter_mut().zip(&term).for_each(|(s, t)| *s += t);
    }
    if sum.iter().any(|x| !x.is_finite()) {
        return Err(BilevelError::Invalid("Neumann series diverged (is α < 2/‖H‖?)".into()));
    }
    Ok(sum.into_iter().map(|s| -alpha * s).collect())
}

/// `‖H‖₂` (largest absolute eigenvalue of a symmetric `H`) by `iters` power iterations from a
/// fixed start vector (deterministic). Useful to pick the Neumann step `α = c / ‖H‖`.
pub fn spectral_norm(mut hvp: impl FnMut(&[f64]) -> Vec<f64>, n: usize, iters: usize) -> f64 {
    // A fixed, non-degenerate start vector.
    let mut u: Vec<f64> = (0..n).map(|i| 1.0 + 0.37 * ((i * 7919) % 13) as f64).collect();
    let norm = dot(&u, &u).sqrt();
    u.iter_mut().for_each(|x| *x /= norm);
    let mut lambda = 0.0;
    for _ in 0..iters {
        let w = hvp(&u);
        lambda = dot(&w, &w).sqrt();
        if lambda == 0.0 || !lambda.is_finite() {
            return lambda;
        }
        u = w.into_iter().map(|x| x / lambda).collect();
    }
    lambda
}

/// The finite-difference step `ε^{1/3}` for a unit-length direction and gradients in a float type
/// with machine epsilon `eps` (f32: ≈ 4.9e-3, f64: ≈ 6.1e-6). See the [module docs](self).
pub fn default_fd_step(eps: f64) -> f64 {
    eps.cbrt()
}

/// `H u ≈ [g(θ + h û) − g(θ − h û)] / (2h) · ‖u‖` with `û = u / ‖u‖`, the central difference of
/// a gradient oracle `g` (e.g. burn's backward pass of a neural policy, which has no double
/// backward). The truncation error is `O(h²)`; see the [module docs](self) for the choice of `h`.
pub fn finite_difference_hvp(
    mut grad: impl FnMut(&[f64]) -> Vec<f64>,
    theta: &[f64],
    u: &[f64],
    h: f64,
) -> Result<Vec<f64>, BilevelError> {
    if u.len() != theta.len() {
        return Err(BilevelError::Shape { what: "direction", expected: theta.len(), got: u.len() });
    }
    if !(h.is_finite() && h > 0.0) {
        return Err(BilevelError::Invalid(format!("finite-difference step {h} must be positive")));
    }
    let norm = dot(u, u).sqrt();
    if norm == 0.0 {
        return Ok(vec![0.0; u.len()]);
    }
    let shifted =
        |sign: f64| -> Vec<f64> { theta.iter().zip(u).map(|(t, x)| t + sign * h * x / norm).collect() };
    let gp = grad(&shifted(1.0));
    let gm = grad(&shifted(-1.0));
    if gp.len() != theta.len() || gm.len() != theta.len() {
        return Err(BilevelError::Shape {
            what: "gradient",
            expected: theta.len(),
            got: gp.len().min(gm.len()),
        });
    }
    Ok(gp.iter().zip(&gm).map(|(a, b)| (a - b) / (2.0 * h) * norm).collect())
}

/// How to compute the inverse-Hessian-vector product of a hypergradient.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InverseHvp {
    /// [`conjugate_gradient`] on `−H` with these options.
    Cg(CgOptions),
    /// [`neumann_inverse_hvp`] with step `α` (`scale / ‖H‖` when `relative`, with `‖H‖` from 30
    /// power iterations) and `terms` terms.
    Neumann {
        /// The step, or its multiple of `1 / ‖H‖` when `relative`.
        alpha: f64,
        /// Whether `alpha` is relative to `1 / ‖H‖`.
        relative: bool,
        /// Number of terms `K`.
        terms: usize,
    },
}

impl Default for InverseHvp {
    fn default() -> Self {
        InverseHvp::Cg(CgOptions::default())
    }
}

/// `x ≈ H⁻¹ v` for a negative definite `H` by the chosen method.
pub fn inverse_hvp(
    mut hvp: impl FnMut(&[f64]) -> Vec<f64>,
    v: &[f64],
    method: &InverseHvp,
) -> Result<Vec<f64>, BilevelError> {
    match *method {
        InverseHvp::Cg(opts) => {
            let res = conjugate_gradient(|u| hvp(u).into_iter().map(|x| -x).collect(), v, &opts)?;
            Ok(res.x.into_iter().map(|x| -x).collect())
        }
        InverseHvp::Neumann { alpha, relative, terms } => {
            let alpha = if relative {
                let norm = spectral_norm(&mut hvp, v.len(), 30);
                if !(norm > 0.0 && norm.is_finite()) {
                    return Err(BilevelError::Invalid(format!("Hessian norm {norm} is not positive")));
                }
                alpha / norm
            } else {
                alpha
            };
            neumann_inverse_hvp(hvp, v, alpha, terms)
        }
    }
}

/// The implicit part of a hypergradient, `−(∂_φ∇_θ J)ᵀ H⁻¹ v`, from a Hessian-vector product of
/// the inner objective (`H` negative definite), the outer gradient `v = ∇_θ F` and the mixed
/// vector-Jacobian product `mixed_vjp(x) = (∂_φ∇_θ J)ᵀ x`. Add `∂_φ F` for the total.
pub fn implicit_hypergradient(
    hvp: impl FnMut(&[f64]) -> Vec<f64>,
    v: &[f64],
    mixed_vjp: impl FnOnce(&[f64]) -> Vec<f64>,
    method: &InverseHvp,
) -> Result<Vec<f64>, BilevelError> {
    let x = inverse_hvp(hvp, v, method)?;
    Ok(mixed_vjp(&x).into_iter().map(|g| -g).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{DMatrix, DVector};
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    /// A random negative definite matrix with eigenvalues in [−5, −0.5].
    fn neg_def(n: usize, seed: u64) -> DMatrix<f64> {
        let mut rng = Pcg64::seed_from_u64(seed);
        let a = DMatrix::from_fn(n, n, |_, _| rng.random::<f64>() - 0.5);
        let q = a.qr().q();
        let diag =
            DMatrix::from_diagonal(&DVector::from_fn(n, |i, _| -0.5 - 4.5 * i as f64 / (n - 1) as f64));
        &q * diag * q.transpose()
    }

    #[test]
    fn cg_and_neumann_match_the_dense_inverse() {
        let n = 12;
        let h = neg_def(n, 1);
        let v: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin()).collect();
        let exact = h.clone().lu().solve(&DVector::from_column_slice(&v)).unwrap();
        let hvp = |u: &[f64]| (&h * DVector::from_column_slice(u)).iter().copied().collect::<Vec<_>>();
        let err = |x: &[f64]| (DVector::from_column_slice(x) - &exact).norm() / exact.norm();
        let cg = inverse_hvp(hvp, &v, &InverseHvp::Cg(CgOptions::default())).unwrap();
        assert!(err(&cg) < 1e-10, "CG error {}", err(&cg));
        let norm = spectral_norm(hvp, n, 200);
        assert!((norm - 5.0).abs() < 1e-3, "‖H‖ = {norm}");
        let ne =
            inverse_hvp(hvp, &v, &InverseHvp::Neumann { alpha: 1.0, relative: true, terms: 400 }).unwrap();
        assert!(err(&ne) < 1e-8, "Neumann error {}", err(&ne));
        // Few terms: a visible, geometric truncation error (contraction 1 − 0.5/5 = 0.9 per term).
        let short =
            inverse_hvp(hvp, &v, &InverseHvp::Neumann { alpha: 1.0, relative: true, terms: 10 }).unwrap();
        assert!(err(&short) > 1e-2);
        // Damping biases CG towards zero.
        let damped =
            inverse_hvp(hvp, &v, &InverseHvp::Cg(CgOptions { damping: 1.0, ..Default::default() })).unwrap();
        assert!(err(&damped) > 1e-2);
    }

    #[test]
    fn cg_rejects_indefinite_systems_and_bad_input() {
        let h = -neg_def(6, 2); // positive definite: −H is negative definite
        let hvp = |u: &[f64]| (&h * DVector::from_column_slice(u)).iter().copied().collect::<Vec<_>>();
        let v = vec![1.0; 6];
        assert!(matches!(
            inverse_hvp(hvp, &v, &InverseHvp::Cg(CgOptions::default())),
            Err(BilevelError::NotPositiveDefinite { .. })
        ));
        assert!(conjugate_gradient(hvp, &[f64::NAN; 6], &CgOptions::default()).is_err());
        assert!(neumann_inverse_hvp(hvp, &v, -1.0, 3).is_err());
        assert!(finite_difference_hvp(|t: &[f64]| t.to_vec(), &v, &v[1..], 1e-3).is_err());
    }

    #[test]
    fn finite_difference_hvp_error_is_second_order() {
        // J(θ) = Σ sin(θ_i) θ_{i+1}: the third derivative is non-zero.
        let grad = |t: &[f64]| -> Vec<f64> {
            let n = t.len();
            (0..n)
                .map(|i| {
                    let mut g = 0.0;
                    if i + 1 < n {
                        g += t[i].cos() * t[i + 1];
                    }
                    if i > 0 {
                        g += t[i - 1].sin();
                    }
                    g
                })
                .collect()
        };
        let hess_u = |t: &[f64], u: &[f64]| -> Vec<f64> {
            let n = t.len();
            (0..n)
                .map(|i| {
                    let mut g = 0.0;
                    if i + 1 < n {
                        g += -t[i].sin() * t[i + 1] * u[i] + t[i].cos() * u[i + 1];
                    }
                    if i > 0 {
                        g += t[i - 1].cos() * u[i - 1];
                    }
                    g
                })
                .collect()
        };
        let theta = vec![0.3, -1.2, 0.8, 2.0];
        let u = vec![0.5, 0.1, -0.7, 0.4];
        let exact = hess_u(&theta, &u);
        let e = |h: f64| {
            let fd = finite_difference_hvp(grad, &theta, &u, h).unwrap();
            fd.iter().zip(&exact).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt()
        };
        let (e1, e2) = (e(1e-2), e(5e-3));
        assert!(e1 < 1e-4, "error {e1}");
        // Halving h divides the error by ≈ 4.
        assert!((e1 / e2 - 4.0).abs() < 0.2, "ratio {}", e1 / e2);
        assert!(e(default_fd_step(f64::EPSILON)) < 1e-9);
    }
}
