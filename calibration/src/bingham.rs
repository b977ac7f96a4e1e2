//! The Bingham distribution on S³ (unit quaternions up to sign), f64 reference implementation:
//! exact normalising constant with its gradient and Hessian, density, entropy and an exact
//! rejection sampler.
//!
//! # Definition
//!
//! `Bingham(M, Z)` has the density, with respect to the surface measure of S³ (total area 2π²),
//!
//! ```text
//! p(x) = exp(xᵀ M diag(z1, z2, z3, 0) Mᵀ x) / F(Z),   z_i ≤ 0,  M ∈ O(4),
//! ```
//!
//! so `log p(x) = Σ_i z_i (m_iᵀ x)² − log F(Z)` with `m_i` the columns of `M`. The padded 0 makes the
//! **last column of `M` the mode**; `p(x) = p(−x)`, so `x` and `−x` are the same rotation.
//!
//! Quaternions are 4-vectors in **w-first order `[w, x, y, z]`** (convert with
//! [`crate::se3::quat_wxyz`] / [`crate::se3::from_quat_wxyz`]).
//!
//! # Normalising constant
//!
//! In Hopf coordinates `x = (cos θ cos φ1, cos θ sin φ1, sin θ cos φ2, sin θ sin φ2)` (in the
//! eigenbasis of `M`) the two angles integrate to Bessel functions and, with `t = cos²θ`,
//!
//! ```text
//! F(Z) = 2π² ∫₀¹ exp((z1+z2) t/2 + z3 (1−t)/2) I₀((z1−z2) t/2) I₀(z3 (1−t)/2) dt.
//! ```
//!
//! [`log_normalizer`] evaluates this exactly (to ~1e-12 relative) for any finite `z`: the
//! integrand is rewritten with the exponentially scaled Bessel functions [`i0e`] / [`i1e`] so it is
//! bounded by 1, and integrated by adaptive Gauss–Legendre quadrature on a partition that is
//! geometrically refined towards `t = 0` and `t = 1`, where the mass concentrates for large `|z|`.
//! Derivatives are taken under the integral (`I₀' = I₁`, `I₁'(a) = I₀(a) − I₁(a)/a`):
//! `∂ log F/∂z_i = E[(m_iᵀx)²]` ([`grad_log_normalizer`]) and the covariances of the `(m_iᵀx)²`
//! ([`log_normalizer_hessian`]), which give the exact entropy and its gradient.
//!
//! # Sampler
//!
//! Exact rejection sampling with the angular central Gaussian envelope of Kent, Ganeiber and
//! Mardia (2013), see [`Bingham::sample`]; there is no cap on the number of proposals.

use std::f64::consts::PI;
use std::sync::OnceLock;

use nalgebra::{Matrix4, UnitQuaternion, Vector4};
use rand::Rng;

/// Surface area of the unit 3-sphere, 2π² (= F(0)).
pub const SPHERE_AREA: f64 = 2.0 * PI * PI;

/// Columns shorter than this are not rescaled by [`gram_schmidt`] (avoids dividing by zero).
pub const GRAM_SCHMIDT_EPS: f64 = 1e-12;

/// Above this argument the Bessel functions use their large-argument expansion; below, the power
/// series. At 25 the asymptotic remainder is below e^{−50} and the series has ~70 positive terms.
const BESSEL_SWITCH: f64 = 25.0;

/// Relative accuracy the adaptive quadrature aims for (its error estimate is pessimistic).
const QUAD_REL_TOL: f64 = 1e-13;

/// At most this many subintervals in the adaptive quadrature.
const QUAD_MAX_PIECES: usize = 4000;

/// Gauss–Legendre order of each quadrature panel.
const GL_ORDER: usize = 20;

/// Why a Bingham distribution could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BinghamError {
    /// `M` or `Z` contains NaN or an infinity.
    #[error("non-finite parameter")]
    NonFinite,
    /// A concentration `z_i` is positive (the mode would not be the last column of `M`).
    #[error("concentration z[{index}] = {value} is positive; all z_i must be <= 0")]
    PositiveConcentration {
        /// Which `z_i`.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// `M` is not orthogonal: `‖MᵀM − I‖_max` exceeds 1e-9.
    #[error("M is not orthogonal (max |MᵀM − I| = {0:e})")]
    NotOrthogonal(f64),
}

// ---------------------------------------------------------------------------------------------
// Bessel functions
// ---------------------------------------------------------------------------------------------

/// `(e^{−x} I₀(x), e^{−x} I₁(x), e^{−x} I₁(x)/x)` for `x ≥ 0`; the last is 1/2 at 0.
///
/// Power series `I₀ = Σ T_k`, `I₁/x = ½ Σ T_k/(k+1)`, `T_k = (x²/4)^k/(k!)²` below
/// [`BESSEL_SWITCH`] (all terms positive: no cancellation); above it the Hankel expansion
/// `I_ν(x) ≈ e^x/√(2πx) Σ_k (−1)^k a_k(ν)/x^k`, `a_k(ν) = Π_{j≤k} (4ν² − (2j−1)²) / (k! 8^k)`,
/// summed until the terms stop decreasing or fall below 1e-17.
fn scaled_bessel(x: f64) -> (f64, f64, f64) {
    debug_assert!(x >= 0.0);
    if x <= BESSEL_SWITCH {
        let q = 0.25 * x * x;
        let (mut term, mut s0, mut s1) = (1.0, 1.0, 0.5);
        let mut k = 0.0;
        loop {
            k += 1.0;
            term *= q / (k * k);
            s0 += term;
            let t1 = term / (k + 1.0);
            s1 += 0.5 * t1;
            if term < 1e-17 * s0 {
                break;
            }
        }
        let e = (-x).exp();
        (e * s0, e * s1 * x, e * s1)
    } else {
        let (mut t0, mut t1) = (1.0, 1.0);
        let (mut s0, mut s1) = (1.0, 1.0);
        let mut k = 0.0;
        loop {
            k += 1.0;
            let odd = (2.0 * k - 1.0) * (2.0 * k - 1.0);
            let n0 = t0 * odd / (8.0 * k * x);
            let n1 = t1 * (odd - 4.0) / (8.0 * k * x);
            // The I₀ terms are all positive and shrink until k ≈ 2x; stop at the smallest.
            if n0 >= t0 || n0 < 1e-17 * s0 {
                break;
            }
            (t0, t1) = (n0, n1);
            s0 += t0;
            s1 += t1;
        }
        let c = 1.0 / (2.0 * PI * x).sqrt();
        (c * s0, c * s1, c * s1 / x)
    }
}

/// Exponentially scaled modified Bessel function of the first kind, order 0:
/// `i0e(x) = e^{−|x|} I₀(x)` (even, `i0e(0) = 1`, ~1/√(2π|x|) for large `|x|`). Relative error
/// ~1e-15.
pub fn i0e(x: f64) -> f64 {
    scaled_bessel(x.abs()).0
}

/// Exponentially scaled modified Bessel function of the first kind, order 1:
/// `i1e(x) = e^{−|x|} I₁(x)` (odd). Relative error ~1e-15.
pub fn i1e(x: f64) -> f64 {
    let v = scaled_bessel(x.abs()).1;
    if x < 0.0 { -v } else { v }
}

// ---------------------------------------------------------------------------------------------
// Quadrature
// ---------------------------------------------------------------------------------------------

/// Gauss–Legendre nodes and weights on [−1, 1], from Newton's method on the Legendre recurrence.
fn gauss_legendre() -> &'static ([f64; GL_ORDER], [f64; GL_ORDER]) {
    static RULE: OnceLock<([f64; GL_ORDER], [f64; GL_ORDER])> = OnceLock::new();
    RULE.get_or_init(|| {
        let n = GL_ORDER;
        let mut nodes = [0.0; GL_ORDER];
        let mut weights = [0.0; GL_ORDER];
        for i in 0..n {
            // Tricomi's initial guess for the i-th largest root.
            let mut x = (PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
            let mut dp = 1.0;
            for _ in 0..100 {
                // P_n(x) and P_{n-1}(x) by (k+1) P_{k+1} = (2k+1) x P_k − k P_{k−1}.
                let (mut p0, mut p1) = (1.0, x);
                for k in 1..n {
                    let k = k as f64;
                    (p0, p1) = (p1, ((2.0 * k + 1.0) * x * p1 - k * p0) / (k + 1.0));
                }
                dp = n as f64 * (x * p1 - p0) / (x * x - 1.0);
                let dx = p1 / dp;
                x -= dx;
                if dx.abs() < 1e-16 {
                    break;
                }
            }
            nodes[i] = x;
            weights[i] = 2.0 / ((1.0 - x * x) * dp * dp);
        }
        (nodes, weights)
    })
}

/// Gauss–Legendre rule of [`GL_ORDER`] points on [a, b] for a vector-valued integrand.
fn gl_panel<const K: usize>(f: &impl Fn(f64) -> [f64; K], a: f64, b: f64) -> [f64; K] {
    let (nodes, weights) = gauss_legendre();
    let (c, h) = (0.5 * (a + b), 0.5 * (b - a));
    let mut acc = [0.0; K];
    for (x, w) in nodes.iter().zip(weights) {
        let v = f(c + h * x);
        for (s, vi) in acc.iter_mut().zip(v) {
            *s += w * vi;
        }
    }
    acc.map(|s| s * h)
}

/// One subinterval of the adaptive quadrature: the rule on each half, and the difference between
/// the rule on the whole and the sum of the halves as the error estimate.
struct Piece<const K: usize> {
    a: f64,
    b: f64,
    left: [f64; K],
    right: [f64; K],
    err: [f64; K],
}

impl<const K: usize> Piece<K> {
    fn new(f: &impl Fn(f64) -> [f64; K], a: f64, b: f64, whole: [f64; K]) -> Self {
        let m = 0.5 * (a + b);
        let (left, right) = (gl_panel(f, a, m), gl_panel(f, m, b));
        let err = std::array::from_fn(|k| (whole[k] - left[k] - right[k]).abs());
        Piece { a, b, left, right, err }
    }
}

/// Globally adaptive quadrature of a vector integrand with **non-negative** components over the
/// sorted `breakpoints`: bisects the piece with the largest relative error until every component's
/// summed error estimate is below `QUAD_REL_TOL` of its value.
fn integrate<const K: usize>(f: impl Fn(f64) -> [f64; K], breakpoints: &[f64]) -> [f64; K] {
    let mut pieces: Vec<Piece<K>> = breakpoints
        .windows(2)
        .map(|w| {
            let whole = gl_panel(&f, w[0], w[1]);
            Piece::new(&f, w[0], w[1], whole)
        })
        .collect();
    loop {
        let mut total = [0.0; K];
        let mut err = [0.0; K];
        for p in &pieces {
            for k in 0..K {
                total[k] += p.left[k] + p.right[k];
                err[k] += p.err[k];
            }
        }
        let scale: [f64; K] = std::array::from_fn(|k| total[k].abs().max(f64::MIN_POSITIVE));
        if (0..K).all(|k| err[k] <= QUAD_REL_TOL * scale[k]) || pieces.len() >= QUAD_MAX_PIECES {
            return total;
        }
        let worst = |p: &Piece<K>| (0..K).map(|k| p.err[k] / scale[k]).fold(0.0, f64::max);
        let (i, _) = pieces
            .iter()
            .enumerate()
            .map(|(i, p)| (i, worst(p)))
            .fold((0, -1.0), |best, cur| if cur.1 > best.1 { cur } else { best });
        let p = pieces.swap_remove(i);
        let m = 0.5 * (p.a + p.b);
        pieces.push(Piece::new(&f, p.a, m, p.left));
        pieces.push(Piece::new(&f, m, p.b, p.right));
    }
}

// ---------------------------------------------------------------------------------------------
// Normalising constant
// ---------------------------------------------------------------------------------------------

/// The Hopf integrand of F(Z), scaled so that it is bounded: with `p = max(z1, z2)`,
/// `q = max(z3, 0)` and `shift = max(z1, z2, z3, 0)`,
/// `F(Z) = 2π² e^{shift} ∫₀¹ g(t) dt`,
/// `g(t) = e^{p t + q (1−t) − shift} i0e((z1−z2) t/2) i0e(z3 (1−t)/2)`
/// (because `(z1+z2)/2 + |z1−z2|/2 = max(z1, z2)`).
struct Hopf {
    p: f64,
    q: f64,
    shift: f64,
    /// |z1 − z2|/2 and the sign of z1 − z2.
    d12: f64,
    s12: f64,
    /// |z3|/2 and the sign of z3.
    d3: f64,
    s3: f64,
}

/// Integrand values divided by `g(t)` that the derivatives need.
struct HopfPoint {
    g: f64,
    /// `I₁(a)/I₀(a)` at `a = (z1−z2) t/2` (signed) and `(I₁(a)/a)/I₀(a)`.
    ra: f64,
    sa: f64,
    /// The same at `c = z3 (1−t)/2`.
    rc: f64,
    sc: f64,
}

impl Hopf {
    fn new(z: [f64; 3]) -> Self {
        let [z1, z2, z3] = z;
        let p = z1.max(z2);
        let q = z3.max(0.0);
        Hopf {
            p,
            q,
            shift: p.max(q),
            d12: 0.5 * (z1 - z2).abs(),
            s12: if z1 < z2 { -1.0 } else { 1.0 },
            d3: 0.5 * z3.abs(),
            s3: if z3 < 0.0 { -1.0 } else { 1.0 },
        }
    }

    fn at(&self, t: f64) -> HopfPoint {
        let u = 1.0 - t;
        let (a0, a1, a1x) = scaled_bessel(self.d12 * t);
        let (c0, c1, c1x) = scaled_bessel(self.d3 * u);
        let g = ((self.p - self.shift) * t + (self.q - self.shift) * u).exp() * a0 * c0;
        HopfPoint { g, ra: self.s12 * a1 / a0, sa: a1x / a0, rc: self.s3 * c1 / c0, sc: c1x / c0 }
    }

    /// Breakpoints: geometric towards both ends, starting at a quarter of the smallest feature
    /// scale `1/max(|p − q|, d12, d3, 1)` of the integrand.
    fn breakpoints(&self) -> Vec<f64> {
        let rate = (self.p - self.q).abs().max(self.d12).max(self.d3).max(1.0);
        let mut pts = vec![0.0, 0.5, 1.0];
        let mut h = 0.25 / rate;
        while h < 0.5 {
            pts.push(h);
            pts.push(1.0 - h);
            h *= 2.0;
        }
        pts.sort_by(f64::total_cmp);
        pts.dedup();
        pts
    }
}

fn check_z(z: [f64; 3]) {
    assert!(z.iter().all(|v| v.is_finite()), "Bingham concentrations must be finite, got {z:?}");
}

/// `log F(Z)` for `Z = diag(z1, z2, z3, 0)`, the log of the normalising constant of the Bingham
/// density with respect to the surface measure (F(0) = 2π²). Exact to ~1e-12 relative in F for any
/// finite `z` (positive entries are allowed: the identity holds for any real Z). `F` is symmetric
/// in `z1, z2, z3`. Panics on non-finite `z`.
pub fn log_normalizer(z: [f64; 3]) -> f64 {
    check_z(z);
    let h = Hopf::new(z);
    let [i] = integrate(|t| [h.at(t).g], &h.breakpoints());
    SPHERE_AREA.ln() + h.shift + i.ln()
}

/// `log F(Z)` and its gradient `∂ log F/∂z_i = E[(m_iᵀ x)²]` (each in [0, 1], summing to at most 1).
pub fn log_normalizer_and_grad(z: [f64; 3]) -> (f64, [f64; 3]) {
    check_z(z);
    let h = Hopf::new(z);
    // ∂F/∂z1 ∝ (t/2)(I₀(a) + I₁(a)) I₀(c), ∂F/∂z2 ∝ (t/2)(I₀(a) − I₁(a)) I₀(c),
    // ∂F/∂z3 ∝ ((1−t)/2) I₀(a) (I₀(c) + I₁(c)).
    let [i, i1, i2, i3] = integrate(
        |t| {
            let p = h.at(t);
            let (ht, hu) = (0.5 * t, 0.5 * (1.0 - t));
            [p.g, p.g * ht * (1.0 + p.ra), p.g * ht * (1.0 - p.ra), p.g * hu * (1.0 + p.rc)]
        },
        &h.breakpoints(),
    );
    (SPHERE_AREA.ln() + h.shift + i.ln(), [i1 / i, i2 / i, i3 / i])
}

/// The gradient `∂ log F/∂z_i = E[(m_iᵀ x)²]` (the second moments along the first three axes).
pub fn grad_log_normalizer(z: [f64; 3]) -> [f64; 3] {
    log_normalizer_and_grad(z).1
}

/// `log F(Z)` with its gradient and Hessian.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormalizerDerivatives {
    /// `log F(Z)`.
    pub log_f: f64,
    /// `∂ log F/∂z_i = E[y_i²]`, `y = Mᵀx`.
    pub grad: [f64; 3],
    /// `∂² log F/∂z_i∂z_j = Cov(y_i², y_j²)`.
    pub hessian: [[f64; 3]; 3],
}

/// `log F(Z)`, its gradient and its Hessian from one quadrature. Second derivatives under the
/// integral use `I₁'(a) = I₀(a) − I₁(a)/a`, e.g. `∂²F/∂z1² ∝ (t/2)² (2I₀ + 2I₁ − I₁/a)(a) I₀(c)`.
pub fn log_normalizer_hessian(z: [f64; 3]) -> NormalizerDerivatives {
    check_z(z);
    let h = Hopf::new(z);
    let v = integrate(
        |t| {
            let p = h.at(t);
            let (ht, hu) = (0.5 * t, 0.5 * (1.0 - t));
            let (a_plus, a_minus, c_plus) = (1.0 + p.ra, 1.0 - p.ra, 1.0 + p.rc);
            [
                p.g,
                p.g * ht * a_plus,
                p.g * ht * a_minus,
                p.g * hu * c_plus,
                p.g * ht * ht * (2.0 + 2.0 * p.ra - p.sa),
                p.g * ht * ht * (2.0 - 2.0 * p.ra - p.sa),
                p.g * hu * hu * (2.0 + 2.0 * p.rc - p.sc),
                p.g * ht * ht * p.sa,
                p.g * ht * hu * a_plus * c_plus,
                p.g * ht * hu * a_minus * c_plus,
            ]
        },
        &h.breakpoints(),
    );
    let i = v[0];
    let grad = [v[1] / i, v[2] / i, v[3] / i];
    let second = [[v[4], v[7], v[8]], [v[7], v[5], v[9]], [v[8], v[9], v[6]]];
    let hessian = std::array::from_fn(|a| std::array::from_fn(|b| second[a][b] / i - grad[a] * grad[b]));
    NormalizerDerivatives { log_f: SPHERE_AREA.ln() + h.shift + i.ln(), grad, hessian }
}

/// Differential entropy (nats, w.r.t. the surface measure) `H = log F − Σ z_i ∂_i log F`; it depends
/// on `Z` only and equals `log 2π²` (uniform) at `Z = 0`.
pub fn entropy(z: [f64; 3]) -> f64 {
    let (log_f, g) = log_normalizer_and_grad(z);
    log_f - (0..3).map(|i| z[i] * g[i]).sum::<f64>()
}

/// The entropy and its gradient `∂H/∂z_j = −Σ_i z_i ∂²log F/∂z_i∂z_j`.
pub fn entropy_and_grad(z: [f64; 3]) -> (f64, [f64; 3]) {
    let d = log_normalizer_hessian(z);
    let h = d.log_f - (0..3).map(|i| z[i] * d.grad[i]).sum::<f64>();
    let g = std::array::from_fn(|j| -(0..3).map(|i| z[i] * d.hessian[i][j]).sum::<f64>());
    (h, g)
}

// ---------------------------------------------------------------------------------------------
// ACG envelope
// ---------------------------------------------------------------------------------------------

/// The Kent–Ganeiber–Mardia envelope parameter `b ∈ [1, 4]`: the root of
/// `Σ_{i=1}^{4} 1/(b + 2λ_i) = 1` with `λ = (−z1, −z2, −z3, 0)` the eigenvalues of
/// `A = −M diag(z, 0) Mᵀ`, by bisection (the left side decreases in `b`, is ≥ 1 at `b = 1` and
/// ≤ 1 at `b = 4`). `b = 4` at `Z = 0`, `b → 1` as `|z| → ∞`. Requires `z_i ≤ 0`.
pub fn acg_b(z: [f64; 3]) -> f64 {
    let lambda = [-z[0], -z[1], -z[2], 0.0];
    let f = |b: f64| lambda.iter().map(|l| 1.0 / (b + 2.0 * l)).sum::<f64>() - 1.0;
    let (mut lo, mut hi) = (1.0, 4.0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if f(mid) > 0.0 { lo = mid } else { hi = mid }
    }
    0.5 * (lo + hi)
}

/// The ACG proposal in the eigenbasis of `M`: `Ω = I + 2A/b = diag(ω)`, proposals
/// `y ~ N(0, Ω⁻¹)`, `u = y/|y|`, and `M* = e^{−(4−b)/2} (4/b)²` bounds
/// `exp(−uᵀΛu) ≤ M* (uᵀΩu)^{−2}` for every unit `u`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct AcgEnvelope {
    b: f64,
    lambda: [f64; 4],
    omega: [f64; 4],
    /// Standard deviations `ω_i^{−1/2}` of the Gaussian proposal.
    sigma: [f64; 4],
    log_m_star: f64,
}

impl AcgEnvelope {
    fn new(z: [f64; 3]) -> Self {
        let b = acg_b(z);
        let lambda = [-z[0], -z[1], -z[2], 0.0];
        let omega = lambda.map(|l| 1.0 + 2.0 * l / b);
        AcgEnvelope {
            b,
            lambda,
            omega,
            sigma: omega.map(|w| 1.0 / w.sqrt()),
            log_m_star: -(4.0 - b) / 2.0 + 2.0 * (4.0 / b).ln(),
        }
    }
}

/// A standard normal pair by Box–Muller.
fn normal_pair<R: Rng + ?Sized>(rng: &mut R) -> (f64, f64) {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random();
    let r = (-2.0 * u1.ln()).sqrt();
    let (s, c) = (2.0 * PI * u2).sin_cos();
    (r * c, r * s)
}

// ---------------------------------------------------------------------------------------------
// The distribution
// ---------------------------------------------------------------------------------------------

/// A Bingham distribution on S³ with orthogonal `M` (columns `m_1..m_4`, the mode `m_4`) and
/// concentrations `z_i ≤ 0` along `m_1, m_2, m_3`. Quaternions are w-first 4-vectors. Holds the
/// normaliser, its gradient and the sampler envelope, computed once in [`Bingham::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct Bingham {
    m: Matrix4<f64>,
    z: [f64; 3],
    log_f: f64,
    grad: [f64; 3],
    envelope: AcgEnvelope,
}

impl Bingham {
    /// Builds `Bingham(M, Z)`. `M` must be orthogonal to 1e-9 and every `z_i ≤ 0` and finite.
    pub fn new(m: Matrix4<f64>, z: [f64; 3]) -> Result<Self, BinghamError> {
        if !m.iter().chain(&z).all(|v| v.is_finite()) {
            return Err(BinghamError::NonFinite);
        }
        if let Some(index) = z.iter().position(|v| *v > 0.0) {
            return Err(BinghamError::PositiveConcentration { index, value: z[index] });
        }
        let dev = (m.transpose() * m - Matrix4::identity()).abs().max();
        if dev > 1e-9 {
            return Err(BinghamError::NotOrthogonal(dev));
        }
        let (log_f, grad) = log_normalizer_and_grad(z);
        Ok(Bingham { m, z, log_f, grad, envelope: AcgEnvelope::new(z) })
    }

    /// `Bingham` with the given mode (w-first, normalised here; its sign is kept) and an
    /// orthonormal completion of the other columns (a Householder reflection), see
    /// [`basis_with_last_column`].
    pub fn from_mode(mode: &Vector4<f64>, z: [f64; 3]) -> Result<Self, BinghamError> {
        if !mode.iter().all(|v| v.is_finite()) || mode.norm() == 0.0 {
            return Err(BinghamError::NonFinite);
        }
        Bingham::new(basis_with_last_column(mode), z)
    }

    /// The orthogonal matrix `M`.
    pub fn m(&self) -> &Matrix4<f64> {
        &self.m
    }

    /// The concentrations `(z1, z2, z3)`.
    pub fn z(&self) -> [f64; 3] {
        self.z
    }

    /// The mode, the last column of `M` (w-first; `−mode` is equally a mode).
    pub fn mode(&self) -> Vector4<f64> {
        self.m.column(3).into_owned()
    }

    /// The mode as a rotation.
    pub fn mode_rotation(&self) -> UnitQuaternion<f64> {
        let c = self.mode();
        crate::se3::from_quat_wxyz([c[0], c[1], c[2], c[3]]).expect("columns of an orthogonal M are unit")
    }

    /// `log F(Z)`.
    pub fn log_normalizer(&self) -> f64 {
        self.log_f
    }

    /// `∂ log F/∂z_i = E[(m_iᵀ x)²]`.
    pub fn grad_log_normalizer(&self) -> [f64; 3] {
        self.grad
    }

    /// `log p(x) = Σ z_i (m_iᵀ x)² − log F(Z)` for a unit quaternion `x` (w-first; not normalised
    /// here). `log p(x) = log p(−x)`.
    pub fn log_density(&self, x: &Vector4<f64>) -> f64 {
        let y = self.m.transpose() * x;
        (0..3).map(|i| self.z[i] * y[i] * y[i]).sum::<f64>() - self.log_f
    }

    /// `p(x)` w.r.t. the surface measure of S³.
    pub fn density(&self, x: &Vector4<f64>) -> f64 {
        self.log_density(x).exp()
    }

    /// Differential entropy (nats), `log F − Σ z_i ∂_i log F`.
    pub fn entropy(&self) -> f64 {
        self.log_f - (0..3).map(|i| self.z[i] * self.grad[i]).sum::<f64>()
    }

    /// The KGM envelope parameter `b` used by the sampler ([`acg_b`]).
    pub fn acg_b(&self) -> f64 {
        self.envelope.b
    }

    /// The exact acceptance probability of [`Bingham::sample`]'s rejection step:
    /// `(F(Z)/2π²) |Ω|^{1/2} / M*` (the Bingham mass over the envelope's mass). 1 at `Z = 0` and
    /// about 0.45 for large `|z|`.
    pub fn acceptance_probability(&self) -> f64 {
        let e = &self.envelope;
        let half_log_det: f64 = e.omega.iter().map(|w| 0.5 * w.ln()).sum();
        (self.log_f - SPHERE_AREA.ln() + half_log_det - e.log_m_star).exp()
    }

    /// One exact draw (w-first unit quaternion) and the number of ACG proposals it took (≥ 1).
    ///
    /// Kent–Ganeiber–Mardia rejection sampling: propose `y ~ N(0, Ω⁻¹)`, `x = y/|y|` (an angular
    /// central Gaussian draw), accept when `u < exp(−xᵀAx) / (M* (xᵀΩx)^{−2})`, `u ~ U(0, 1)`;
    /// repeat until accepted. Works in the eigenbasis of `M` and rotates the result.
    pub fn sample_counted<R: Rng + ?Sized>(&self, rng: &mut R) -> (Vector4<f64>, u64) {
        let e = &self.envelope;
        let mut proposals = 0u64;
        loop {
            proposals += 1;
            let (n0, n1) = normal_pair(rng);
            let (n2, n3) = normal_pair(rng);
            let y = [n0 * e.sigma[0], n1 * e.sigma[1], n2 * e.sigma[2], n3 * e.sigma[3]];
            let r2: f64 = y.iter().map(|v| v * v).sum();
            if r2 == 0.0 {
                continue;
            }
            let u = y.map(|v| v / r2.sqrt());
            let quad_a: f64 = (0..4).map(|i| e.lambda[i] * u[i] * u[i]).sum();
            let quad_omega: f64 = (0..4).map(|i| e.omega[i] * u[i] * u[i]).sum();
            let log_ratio = -quad_a - e.log_m_star + 2.0 * quad_omega.ln();
            let v: f64 = rng.random();
            if v.ln() < log_ratio {
                return (self.m * Vector4::from(u), proposals);
            }
        }
    }

    /// One exact draw, a w-first unit quaternion (see [`Bingham::sample_counted`]).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Vector4<f64> {
        self.sample_counted(rng).0
    }

    /// `n` draws and the total number of proposals (`n / proposals` is the acceptance rate).
    pub fn sample_n<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> (Vec<Vector4<f64>>, u64) {
        let mut total = 0;
        let xs = (0..n)
            .map(|_| {
                let (x, k) = self.sample_counted(rng);
                total += k;
                x
            })
            .collect();
        (xs, total)
    }
}

/// Modified Gram–Schmidt on the columns of `a`, in order 1, 2, 3, 4: each column minus its
/// projections on the previous orthonormal ones (subtracted one at a time), divided by `max(norm, GRAM_SCHMIDT_EPS)`. For a
/// full-rank `a` the result is orthogonal and its last column (the Bingham mode) is the unit
/// vector orthogonal to the first three columns of `a`, with the sign of `a`'s last column
/// component along it. Same map as [`crate::bingham_burn::gram_schmidt`].
pub fn gram_schmidt(a: &Matrix4<f64>) -> Matrix4<f64> {
    let mut q = Matrix4::<f64>::zeros();
    for j in 0..4 {
        let mut v = a.column(j).into_owned();
        for k in 0..j {
            let qk = q.column(k).into_owned();
            v -= qk * qk.dot(&v);
        }
        let n = v.norm().max(GRAM_SCHMIDT_EPS);
        q.set_column(j, &(v / n));
    }
    q
}

/// An orthogonal matrix whose last column is `mode / |mode|` (sign kept): the first three columns
/// come from the Householder reflection that maps `±e4` onto the mode. A fixed point of
/// [`gram_schmidt`] (up to rounding), so it can initialise the policy's parameter matrix.
pub fn basis_with_last_column(mode: &Vector4<f64>) -> Matrix4<f64> {
    let m = mode.normalize();
    // Reflect with v = e4 + s m, s = sign(m4), so |v| ≥ 1 (no cancellation): H e4 = −s m.
    let s = if m[3] < 0.0 { -1.0 } else { 1.0 };
    let v = Vector4::new(s * m[0], s * m[1], s * m[2], s * m[3] + 1.0);
    let mut h = Matrix4::identity() - v * v.transpose() * (2.0 / v.norm_squared());
    h.set_column(3, &m);
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs()
    }

    /// Power series of I₀(x) and I₁(x) (unscaled), independent of `scaled_bessel`'s code path.
    fn bessel_series(x: f64) -> (f64, f64) {
        let (mut i0, mut i1) = (0.0, 0.0);
        let (mut t0, mut t1) = (1.0, 0.5 * x);
        for k in 0..400 {
            i0 += t0;
            i1 += t1;
            let k = k as f64;
            t0 *= 0.25 * x * x / ((k + 1.0) * (k + 1.0));
            t1 *= 0.25 * x * x / ((k + 1.0) * (k + 2.0));
        }
        (i0, i1)
    }

    #[test]
    fn bessel_functions_match_high_precision_values() {
        // e^{−x} I₀(x), e^{−x} I₁(x) from mpmath at 40 digits.
        let table = [
            (0.0, 1.0, 0.0),
            (1e-3, 0.9990007495835156, 0.0004995003123542213),
            (0.5, 0.6450352704491501, 0.1564208031848717),
            (1.0, 0.46575960759364043, 0.20791041534970844),
            (2.5, 0.27004644161220276, 0.20658464953126657),
            (5.0, 0.18354081260932836, 0.16397226694454237),
            (12.0, 0.11642622121344044, 0.11146429929018098),
            (24.9, 0.0803593326115322, 0.07872879488210313),
            (25.1, 0.08003519725429624, 0.07842431517836841),
            (40.0, 0.06327827987523534, 0.062482229074442064),
            (100.0, 0.03994437929909668, 0.03974415302513025),
            (500.0, 0.017845706500153168, 0.017827851852898056),
            (1000.0, 0.012617240455891257, 0.012610930256928629),
            (1e5, 0.0012615678379767768, 0.0012615615301218171),
        ];
        for (x, e0, e1) in table {
            assert!((i0e(x) - e0).abs() <= 2e-15 * e0, "i0e({x}) = {} vs {e0}", i0e(x));
            assert!((i1e(x) - e1).abs() <= 2e-15 * e1, "i1e({x}) = {} vs {e1}", i1e(x));
            assert_eq!(i0e(-x), i0e(x));
            assert_eq!(i1e(-x), -i1e(x));
        }
        // Dense comparison with the plain power series (exact in f64 to ~1e-15 up to x ≈ 60) on
        // both sides of the series/asymptotic switch.
        let mut worst: f64 = 0.0;
        for k in 0..=600 {
            let x = k as f64 * 0.1;
            let (i0, i1) = bessel_series(x);
            let e = (-x).exp();
            worst = worst.max(rel(i0e(x), e * i0)).max(if x > 0.0 { rel(i1e(x), e * i1) } else { 0.0 });
            if x > 0.0 {
                assert!(rel(scaled_bessel(x).2 * x, e * i1) < 3e-15);
            }
        }
        assert!(worst < 3e-15, "worst relative error {worst:e}");
        assert_eq!(scaled_bessel(0.0), (1.0, 0.0, 0.5));
    }

    #[test]
    fn gauss_legendre_rule_is_exact_for_polynomials() {
        let (nodes, weights) = gauss_legendre();
        assert!((weights.iter().sum::<f64>() - 2.0).abs() < 1e-14);
        // ∫_{-1}^{1} x^{2k} dx = 2/(2k+1), exact up to degree 2n−1.
        for k in 0..GL_ORDER {
            let q: f64 = nodes.iter().zip(weights).map(|(x, w)| w * x.powi(2 * k as i32)).sum();
            assert!((q - 2.0 / (2 * k + 1) as f64).abs() < 1e-14, "degree {}", 2 * k);
        }
    }

    /// Independent reference for F(Z): the 2-D integral over the Hopf angles φ1, φ2 with the
    /// t-integral done in closed form, no Bessel functions:
    /// `F = ½ ∫∫ E(A(φ1), C(φ2)) dφ1 dφ2`, `A = z1 cos²φ1 + z2 sin²φ1`, `C = z3 cos²φ2`,
    /// `E(A, C) = ∫₀¹ e^{tA + (1−t)C} dt = e^{max} (1 − e^{−|A−C|})/|A−C|`.
    /// The integrand is smooth and π-periodic in both angles, so the n×n trapezoid rule converges
    /// geometrically; F/2π² is the grid mean.
    fn reference_normalizer(z: [f64; 3], n: usize) -> f64 {
        let a: Vec<f64> = (0..n)
            .map(|j| {
                let (s, c) = (PI * j as f64 / n as f64).sin_cos();
                z[0] * c * c + z[1] * s * s
            })
            .collect();
        let c: Vec<f64> = (0..n)
            .map(|k| {
                let c = (PI * k as f64 / n as f64).cos();
                z[2] * c * c
            })
            .collect();
        let mut sum = 0.0;
        for &ai in &a {
            for &ck in &c {
                let d = (ai - ck).abs();
                let e = if d < 1e-12 { 1.0 - 0.5 * d } else { -(-d).exp_m1() / d };
                sum += ai.max(ck).exp() * e;
            }
        }
        SPHERE_AREA * sum / (n * n) as f64
    }

    /// Nodes enough for the reference at the given concentration (the π-periodic Fourier
    /// coefficients of exp(−|z| cos²φ) decay like exp(−k²/|z|)).
    fn reference_nodes(z: [f64; 3]) -> usize {
        let zmax = z.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        (100.0 * zmax).sqrt() as usize + 24
    }

    /// The concentration grid of the accuracy tests: every sorted triple of these values.
    const GRID: [f64; 7] = [0.0, -0.5, -3.0, -20.0, -100.0, -400.0, -1000.0];

    #[test]
    fn normalizer_matches_independent_2d_quadrature_on_grid() {
        let mut worst: f64 = 0.0;
        let mut worst_at = [0.0; 3];
        for (i, &z1) in GRID.iter().enumerate() {
            for (j, &z2) in GRID.iter().enumerate().skip(i) {
                for &z3 in GRID.iter().skip(j) {
                    let z = [z1, z2, z3];
                    let n = reference_nodes(z);
                    let r1 = reference_normalizer(z, n);
                    let r2 = reference_normalizer(z, n + n / 4);
                    // The reference is converged (two resolutions agree) ...
                    assert!(rel(r1, r2) < 1e-11, "reference not converged at {z:?}: {r1} vs {r2}");
                    // ... and so is F in every pairing of the Hopf formula (F is symmetric).
                    for perm in [[z1, z2, z3], [z3, z1, z2], [z2, z3, z1]] {
                        let e = rel(log_normalizer(perm).exp(), r2);
                        if e > worst {
                            (worst, worst_at) = (e, perm);
                        }
                    }
                }
            }
        }
        eprintln!("max relative error of F vs the 2-D reference: {worst:e} at {worst_at:?}");
        assert!(worst < 1e-10, "max relative error {worst:e} at {worst_at:?}");
    }

    #[test]
    fn normalizer_matches_high_precision_and_closed_forms() {
        // log F from mpmath (30 digits): the same Hopf integral with mpmath's Bessel functions and
        // tanh-sinh quadrature.
        let table = [
            ([0.0, 0.0, 0.0], 2.9826069522587457),
            ([-1.0, -1.0, -1.0], 2.2664254412899694),
            ([-5.0, -5.0, -5.0], 0.2252896985686404),
            ([-20.0, -20.0, -20.0], -2.0425346850568182),
            ([-100.0, -100.0, -100.0], -4.489897447216574),
            ([-500.0, -500.0, -500.0], -6.910165612592376),
            ([-1000.0, -1000.0, -1000.0], -7.950639780938798),
            ([-10.0, -1.0, -0.1], 1.6111655381024155),
            ([-200.0, -20.0, -2.0], -1.912693726607538),
            ([-1000.0, -1.0, -0.01], -0.6462619521647697),
            ([-0.5, -1000.0, -30.0], -2.402519043935974),
            ([-1000.0, -1000.0, 0.0], -3.9251483267233915),
            ([0.0, 0.0, -1000.0], -0.35073857474320874),
            ([-1000.0, 0.0, 0.0], -0.35073857474320874),
            ([-700.0, -3.0, -1000.0], -4.747286758033911),
            ([-50.0, -400.0, -999.0], -5.988888146599395),
            ([-0.001, -0.002, -0.003], 2.9811071605920745),
            ([-1000.0, -999.0, -998.0], -7.94913777591951),
        ];
        let mut worst: f64 = 0.0;
        for (z, want) in table {
            // |Δ log F| is the relative error of F.
            worst = worst.max((log_normalizer(z) - want).abs());
        }
        eprintln!("max relative error of F vs mpmath: {worst:e}");
        assert!(worst < 1e-12, "{worst:e}");

        // Table of methods.md §6.2 (4-5 significant digits).
        for (z, f) in [
            ([0.0, 0.0, 0.0], 19.739),
            ([-1.0, -1.0, -1.0], 9.645),
            ([-5.0, -5.0, -5.0], 1.2527),
            ([-20.0, -20.0, -20.0], 0.12970),
            ([-100.0, -100.0, -100.0], 0.011222),
            ([-500.0, -500.0, -500.0], 0.000998),
            ([-10.0, -1.0, -0.1], 5.009),
            ([-200.0, -20.0, -2.0], 0.1477),
        ] {
            assert!(rel(log_normalizer(z).exp(), f) < 5e-4, "{z:?}: {} vs {f}", log_normalizer(z).exp());
        }

        // F(0) = 2π² exactly.
        assert!((log_normalizer([0.0; 3]) - SPHERE_AREA.ln()).abs() < 1e-15);
        for a in [-1e-6f64, -0.3, -7.0, -80.0, -1000.0, -1e5] {
            // z = (a, a, 0): the integrand is e^{at}, F = 2π² (e^a − 1)/a.
            let want = SPHERE_AREA * (a.exp_m1() / a);
            assert!(rel(log_normalizer([a, a, 0.0]).exp(), want) < 1e-13, "a = {a}");
            // Gradient: ∂1 = ∂2 = ½ d/da log((e^a − 1)/a) = ½ (e^a/(e^a − 1) − 1/a), which cancels
            // for small |a|; there its series ½ (1/2 + a/12 − a³/720) is used.
            let g = grad_log_normalizer([a, a, 0.0]);
            let want_g = if a.abs() < 1e-3 {
                0.5 * (0.5 + a / 12.0 - a.powi(3) / 720.0)
            } else {
                0.5 * (1.0 / (-(-a).exp_m1()) - 1.0 / a)
            };
            assert!(rel(g[0], want_g) < 1e-10 && rel(g[1], want_g) < 1e-10, "{g:?} vs {want_g}");
        }
        // Isotropic z = (c, c, c): F = 4π e^c ∫_{−1}^{1} √(1−s²) e^{−c s²} ds
        //                             = 2π² e^{c/2} (I₀(|c|/2) − I₁(|c|/2)) for c ≤ 0,
        // evaluated with the unscaled power series.
        for c in [-0.01, -1.0, -5.0, -20.0, -100.0, -300.0, -700.0, -1000.0] {
            let (i0, i1) = bessel_series(-c / 2.0);
            let want = SPHERE_AREA * (c / 2.0).exp() * (i0 - i1);
            assert!(rel(log_normalizer([c; 3]).exp(), want) < 1e-11, "c = {c}");
        }
    }

    #[test]
    fn gradient_and_hessian_match_finite_differences() {
        let zs = [
            [0.0, 0.0, 0.0],
            [-1.0, -1.0, -1.0],
            [-10.0, -1.0, -0.1],
            [-200.0, -20.0, -2.0],
            [-1000.0, -0.5, -300.0],
            [-999.0, -1000.0, -998.0],
            [-0.01, -700.0, -1000.0],
        ];
        for z in zs {
            let d = log_normalizer_hessian(z);
            let (lf, g) = log_normalizer_and_grad(z);
            assert!((d.log_f - lf).abs() < 1e-13 && (d.log_f - log_normalizer(z)).abs() < 1e-13);
            // Second moments of a unit vector: each in (0, 1), their sum (plus the mode's) is 1.
            assert!(g.iter().all(|v| *v > 0.0 && *v < 1.0) && g.iter().sum::<f64>() < 1.0, "{g:?}");
            for i in 0..3 {
                assert!((d.grad[i] - g[i]).abs() < 1e-13);
                let h = 1e-4 * z[i].abs().max(1.0);
                let (mut zp, mut zm) = (z, z);
                zp[i] += h;
                zm[i] -= h;
                // Central differences may step to z_i > 0; the formula holds there too.
                let fd = (log_normalizer(zp) - log_normalizer(zm)) / (2.0 * h);
                assert!((fd - g[i]).abs() < 1e-7 * g[i].max(1e-3), "z {z:?} i {i}: fd {fd} vs {}", g[i]);
                let gp = grad_log_normalizer(zp);
                let gm = grad_log_normalizer(zm);
                for j in 0..3 {
                    let fdh = (gp[j] - gm[j]) / (2.0 * h);
                    let scale = d.hessian[j][j].abs().max(d.hessian[i][i].abs());
                    assert!(
                        (fdh - d.hessian[i][j]).abs() < 1e-6 * scale,
                        "z {z:?} H[{i}][{j}]: fd {fdh} vs {}",
                        d.hessian[i][j]
                    );
                }
            }
            // Entropy gradient.
            let (h0, hg) = entropy_and_grad(z);
            assert!((h0 - entropy(z)).abs() < 1e-12);
            for i in 0..3 {
                let h = 1e-4 * z[i].abs().max(1.0);
                let (mut zp, mut zm) = (z, z);
                zp[i] += h;
                zm[i] -= h;
                let fd = (entropy(zp) - entropy(zm)) / (2.0 * h);
                assert!((fd - hg[i]).abs() < 1e-6 * hg[i].abs() + 2e-9, "z {z:?}: {fd} vs {}", hg[i]);
            }
        }
        // Uniform at Z = 0: E[y_i²] = 1/4, Var(y²) = 1/8 − 1/16, Cov = 1/24 − 1/16, H = log 2π².
        let d = log_normalizer_hessian([0.0; 3]);
        for i in 0..3 {
            assert!((d.grad[i] - 0.25).abs() < 1e-14);
            for j in 0..3 {
                let want = if i == j { 1.0 / 16.0 } else { -1.0 / 48.0 };
                assert!((d.hessian[i][j] - want).abs() < 1e-14);
            }
        }
        assert!((entropy([0.0; 3]) - SPHERE_AREA.ln()).abs() < 1e-14);
    }

    /// A standard normal 4-vector normalised: uniform on S³.
    fn uniform_s3(rng: &mut Pcg64) -> Vector4<f64> {
        let (a, b) = normal_pair(rng);
        let (c, d) = normal_pair(rng);
        Vector4::new(a, b, c, d).normalize()
    }

    fn random_orthogonal(rng: &mut Pcg64) -> Matrix4<f64> {
        let mut a = Matrix4::zeros();
        for j in 0..4 {
            a.set_column(j, &uniform_s3(rng));
        }
        gram_schmidt(&a)
    }

    #[test]
    fn density_integrates_to_one_and_is_antipodal() {
        // Monte Carlo over uniform S³: ∫ p dσ = 2π² E_unif[p(x)]. Tolerance: 5 standard errors of
        // the estimate (and the standard error itself must be below 1%, so the check has teeth).
        let mut rng = Pcg64::seed_from_u64(11);
        for z in [
            [0.0, 0.0, 0.0],
            [-1.0, -2.0, -3.0],
            [-10.0, -1.0, -0.1],
            [-5.0, -5.0, -5.0],
            [-20.0, -4.0, -1.0],
        ] {
            let b = Bingham::new(random_orthogonal(&mut rng), z).unwrap();
            let n = 200_000;
            let (mut s, mut s2) = (0.0, 0.0);
            for _ in 0..n {
                let x = uniform_s3(&mut rng);
                let v = SPHERE_AREA * b.density(&x);
                assert_eq!(b.log_density(&x), b.log_density(&-x));
                s += v;
                s2 += v * v;
            }
            let mean = s / n as f64;
            let se = ((s2 / n as f64 - mean * mean) / n as f64).sqrt();
            eprintln!("∫p = {mean:.5} ± {se:.5} at z = {z:?}");
            assert!(se < 0.01);
            assert!((mean - 1.0).abs() < 5.0 * se + 1e-12, "z {z:?}: {mean} ± {se}");
        }
    }

    #[test]
    fn b_matches_the_table_and_solves_its_equation() {
        for (z, want) in [
            ([0.0, 0.0, 0.0], 4.0),
            ([-1.0, -1.0, -1.0], 1.0 + 3f64.sqrt()),
            ([-5.0, -5.0, -5.0], 1.359),
            ([-20.0, -20.0, -20.0], 1.0788),
            // methods.md lists 1.0165 here, but the defining equation's root is
            // (−196 + √(196² + 800))/2 = 1.015150 (isotropic: b² + (2c − 4) b − 2c = 0).
            ([-100.0, -100.0, -100.0], (-196.0 + (196.0f64 * 196.0 + 800.0).sqrt()) / 2.0),
            ([-500.0, -500.0, -500.0], 1.0030),
            ([-10.0, -1.0, -0.1], 2.611),
        ] {
            let b = acg_b(z);
            assert!((b - want).abs() < 6e-4, "{z:?}: {b} vs {want}");
            let s: f64 = [-z[0], -z[1], -z[2], 0.0].iter().map(|l| 1.0 / (b + 2.0 * l)).sum();
            assert!((s - 1.0).abs() < 1e-14);
        }
    }

    #[test]
    fn envelope_bounds_the_density() {
        // exp(−uᵀΛu) ≤ M* (uᵀΩu)^{−2} for all unit u, with equality-ish near the worst case.
        let mut rng = Pcg64::seed_from_u64(5);
        for z in [[0.0; 3], [-1.0, -5.0, -0.2], [-20.0; 3], [-1000.0, -3.0, -50.0]] {
            let e = AcgEnvelope::new(z);
            for _ in 0..20_000 {
                let u = uniform_s3(&mut rng);
                let qa: f64 = (0..4).map(|i| e.lambda[i] * u[i] * u[i]).sum();
                let qo: f64 = (0..4).map(|i| e.omega[i] * u[i] * u[i]).sum();
                assert!(-qa - e.log_m_star + 2.0 * qo.ln() <= 1e-12);
            }
        }
    }

    #[test]
    fn sampler_is_deterministic_given_a_seed() {
        let b = Bingham::from_mode(&Vector4::new(0.653, -0.271, 0.271, 0.653), [-20.0, -5.0, -1.0]).unwrap();
        let (a, na) = b.sample_n(500, &mut Pcg64::seed_from_u64(42));
        let (c, nc) = b.sample_n(500, &mut Pcg64::seed_from_u64(42));
        let (d, _) = b.sample_n(500, &mut Pcg64::seed_from_u64(43));
        assert_eq!(a, c);
        assert_eq!(na, nc);
        assert_ne!(a, d);
        assert!(a.iter().all(|x| (x.norm() - 1.0).abs() < 1e-14));
    }

    #[test]
    fn sampler_moments_match_the_normalizer_gradient() {
        // E[(m_iᵀx)²] = ∂ log F/∂z_i and E[log p(x)] = −H. Tolerance: 5 standard errors, with the
        // standard error estimated from the draws.
        let mut rng = Pcg64::seed_from_u64(2024);
        for z in [
            [0.0, 0.0, 0.0],
            [-1.0, -1.0, -1.0],
            [-10.0, -1.0, -0.1],
            [-20.0, -20.0, -20.0],
            [-200.0, -20.0, -2.0],
            [-1000.0, -500.0, -1000.0],
        ] {
            let b = Bingham::new(random_orthogonal(&mut rng), z).unwrap();
            let n = 40_000;
            let (xs, _) = b.sample_n(n, &mut rng);
            let g = b.grad_log_normalizer();
            let mut stats = [[0.0f64; 2]; 4];
            for x in &xs {
                let y = b.m().transpose() * x;
                for i in 0..3 {
                    let v = y[i] * y[i];
                    stats[i][0] += v;
                    stats[i][1] += v * v;
                }
                let lp = b.log_density(x);
                stats[3][0] += lp;
                stats[3][1] += lp * lp;
            }
            let want = [g[0], g[1], g[2], -b.entropy()];
            for (i, [s, s2]) in stats.iter().enumerate() {
                let mean = s / n as f64;
                let se = ((s2 / n as f64 - mean * mean) / n as f64).sqrt();
                assert!(
                    (mean - want[i]).abs() < 5.0 * se,
                    "z {z:?} moment {i}: {mean} ± {se} vs {}",
                    want[i]
                );
            }
        }
    }

    #[test]
    fn acceptance_rates_at_isotropic_concentrations() {
        // Empirical rate vs the exact acceptance probability, and ≥ 0.4 everywhere.
        let mut rng = Pcg64::seed_from_u64(9);
        let mut report = String::new();
        for c in [0.0, -1.0, -5.0, -20.0, -50.0, -500.0, -1000.0] {
            let b = Bingham::new(random_orthogonal(&mut rng), [c; 3]).unwrap();
            let n = 20_000;
            let (_, proposals) = b.sample_n(n, &mut rng);
            let rate = n as f64 / proposals as f64;
            let p = b.acceptance_probability();
            // The number of proposals is a sum of geometric variables: sd of the rate ≈
            // p·sqrt((1−p)/n).
            let se = p * ((1.0 - p) / n as f64).sqrt();
            report += &format!("|z|={}: rate {rate:.4} exact {p:.4}; ", c.abs());
            assert!((rate - p).abs() <= 5.0 * se + 1e-12, "z = {c}: rate {rate} vs {p}");
            assert!(rate >= 0.4 && p >= 0.4);
        }
        eprintln!("{report}");
    }

    #[test]
    fn exact_acceptance_probability_is_at_least_0_44_on_a_grid() {
        // Every sorted triple of 13 log-spaced values in [−1000, 0] (acceptance only depends on Z).
        let values =
            [0.0, -0.1, -0.5, -1.0, -2.0, -5.0, -10.0, -20.0, -50.0, -100.0, -200.0, -500.0, -1000.0];
        let (mut worst, mut worst_at) = (f64::INFINITY, [0.0; 3]);
        let t0 = std::time::Instant::now();
        let mut calls = 0;
        for i in 0..values.len() {
            for j in i..values.len() {
                for k in j..values.len() {
                    let z = [values[i], values[j], values[k]];
                    let p = Bingham::new(Matrix4::identity(), z).unwrap().acceptance_probability();
                    calls += 1;
                    if p < worst {
                        (worst, worst_at) = (p, z);
                    }
                }
            }
        }
        eprintln!(
            "min exact acceptance {worst:.4} at {worst_at:?}; {:.1} µs per Bingham::new",
            t0.elapsed().as_secs_f64() * 1e6 / calls as f64
        );
        assert!(worst >= 0.44, "{worst} at {worst_at:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn acceptance_rate_is_at_least_0_4(
            z in prop::array::uniform3(-500.0..=0.0f64),
            a in prop::array::uniform16(-1.0..1.0f64),
            seed in any::<u64>(),
        ) {
            let m = gram_schmidt(&Matrix4::from_column_slice(&a));
            prop_assume!((m.transpose() * m - Matrix4::identity()).abs().max() < 1e-9);
            let b = Bingham::new(m, z).unwrap();
            let p = b.acceptance_probability();
            prop_assert!(p >= 0.4, "exact acceptance {p} at {z:?}");
            let n = 3000;
            let (_, proposals) = b.sample_n(n, &mut Pcg64::seed_from_u64(seed));
            let rate = n as f64 / proposals as f64;
            // ≥ 0.44 − 0.04; the rate's sd here is ≤ 0.01.
            prop_assert!(rate >= 0.4, "rate {rate} (exact {p}) at {z:?}");
        }

        #[test]
        fn density_is_antipodally_symmetric(
            z in prop::array::uniform3(-1000.0..=0.0f64),
            a in prop::array::uniform16(-1.0..1.0f64),
            x in prop::array::uniform4(-1.0..1.0f64),
        ) {
            let m = gram_schmidt(&Matrix4::from_column_slice(&a));
            prop_assume!((m.transpose() * m - Matrix4::identity()).abs().max() < 1e-9);
            let x = Vector4::from(x);
            prop_assume!(x.norm() > 1e-3);
            let x = x.normalize();
            let b = Bingham::new(m, z).unwrap();
            prop_assert_eq!(b.log_density(&x), b.log_density(&-x));
            // The mode is the maximum.
            prop_assert!(b.log_density(&x) <= b.log_density(&b.mode()) + 1e-9);
        }
    }

    #[test]
    fn gram_schmidt_and_mode_basis() {
        let mut rng = Pcg64::seed_from_u64(3);
        for _ in 0..50 {
            let m = random_orthogonal(&mut rng);
            assert!((m.transpose() * m - Matrix4::identity()).abs().max() < 1e-13);
            // Orthogonal input is a fixed point.
            assert!((gram_schmidt(&m) - m).abs().max() < 1e-13);
            let q = uniform_s3(&mut rng);
            let basis = basis_with_last_column(&q);
            assert!((basis.transpose() * basis - Matrix4::identity()).abs().max() < 1e-14);
            assert_eq!(basis.column(3).into_owned(), q.normalize());
            assert!((gram_schmidt(&basis) - basis).abs().max() < 1e-13);
            let b = Bingham::from_mode(&(q * 3.0), [-1.0, -2.0, -3.0]).unwrap();
            assert!((b.mode() - q).norm() < 1e-15);
            let r = b.mode_rotation();
            assert!((crate::se3::quat_wxyz(&r)[0] - q[0]).abs() < 1e-15);
        }
        // e4 and −e4 themselves.
        for s in [1.0, -1.0] {
            let basis = basis_with_last_column(&Vector4::new(0.0, 0.0, 0.0, s));
            assert!((basis.transpose() * basis - Matrix4::identity()).abs().max() < 1e-15);
            assert_eq!(basis[(3, 3)], s);
        }
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        let m = Matrix4::identity();
        assert!(matches!(
            Bingham::new(m, [-1.0, 0.5, -1.0]),
            Err(BinghamError::PositiveConcentration { index: 1, .. })
        ));
        assert_eq!(Bingham::new(m, [f64::NAN, 0.0, 0.0]), Err(BinghamError::NonFinite));
        assert!(matches!(Bingham::new(m * 2.0, [-1.0; 3]), Err(BinghamError::NotOrthogonal(_))));
        assert!(Bingham::from_mode(&Vector4::zeros(), [-1.0; 3]).is_err());
    }
}
