//! Exact first and second derivatives of the return of a tabular softmax policy.
//!
//! The policy is `π_θ(a|s) = exp θ[s][a] / Σ_b exp θ[s][b]` with one logit per state-action pair
//! (row-major, `θ[s * A + a]`). The objective is the (optionally KL-regularised) start-state value
//! minus a quadratic penalty on the logits:
//!
//! ```text
//! J(θ; r, γ) = Σ_s μ(s) V(s) − pen(θ),
//! V = (I − γ P̃_π)⁻¹ r̃_π,   r̃(s, a) = r(s, a) − τ (log π(a|s) + log A)
//! ```
//!
//! where `τ ≥ 0` is the temperature of the regulariser `−τ KL(π(·|s) ‖ uniform)` (τ = 0: plain
//! return) and `P̃_π` the policy's transition matrix with terminal rows and columns zeroed (the
//! convention of [`crate::tabular`]: terminal states are worth 0).
//!
//! With `d = (I − γ P̃_π)⁻ᵀ μ` the unnormalised discounted state occupancy,
//! `Q(s, a) = r(s, a) − τ log A + γ Σ P̃ V` and the soft advantage
//! `Â(s, a) = Q(s, a) − τ log π(a|s) − V(s)`, the gradient is (policy-gradient theorem)
//!
//! ```text
//! ∂J/∂θ[s][a] = d(s) π(a|s) Â(s, a) − ∂pen/∂θ[s][a].
//! ```
//!
//! Second derivatives are computed by **forward-mode differentiation** of that formula
//! ([`SoftmaxPoint::tangent`]): given a tangent `(u, ṙ, γ̇)` of `(θ, r, γ)` it returns the exact
//! directional derivative of the gradient, which is the Hessian-vector product `H u` for
//! `(u, 0, 0)` and a column of the mixed derivative `∂_ξ ∇_θ J` for a reward or discount tangent.
//! Each call costs two linear solves with the LU factors cached at the point (`O(S²)` each).
//!
//! The mixed derivative with respect to the reward vector is a vector-Jacobian product in closed
//! form ([`SoftmaxPoint::reward_vjp`]): since `J = ⟨ρ_θ, r⟩ + (terms free of r)` with
//! `ρ_θ(s, a) = d(s) π(a|s)` the state-action occupancy, `∂/∂r (xᵀ ∇_θ J) = Dρ_θ[x]`, the
//! directional derivative of the occupancy along `x`: one transposed solve.

use alignrl_envs::tabular::TabularMdp;
use nalgebra::{DMatrix, DVector, Dyn, LU};

use super::BilevelError;

/// A quadratic penalty on the logits, subtracted from the objective.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Penalty {
    /// No penalty. A softmax policy then has no finite maximiser of the plain return, and the
    /// Hessian is singular along per-state shifts of the logits.
    None,
    /// `λ ‖θ‖²` (BARFI: finite optimum, nonsingular Hessian).
    L2(f64),
    /// `(c / 2) Σ_s (Σ_a θ[s][a])²`: leaves the policy unchanged (softmax is invariant to a
    /// per-state shift) but pins the shift, so that an entropy-regularised optimum is isolated
    /// and its Hessian nonsingular (PARL).
    Centering(f64),
}

impl Penalty {
    fn check(&self) -> Result<(), BilevelError> {
        let c = match *self {
            Penalty::None => 0.0,
            Penalty::L2(c) | Penalty::Centering(c) => c,
        };
        if c.is_finite() && c >= 0.0 {
            Ok(())
        } else {
            Err(BilevelError::Invalid(format!("penalty coefficient {c} must be finite and ≥ 0")))
        }
    }

    /// `pen(θ)`.
    pub fn value(&self, theta: &[f64], na: usize) -> f64 {
        match *self {
            Penalty::None => 0.0,
            Penalty::L2(l) => l * theta.iter().map(|x| x * x).sum::<f64>(),
            Penalty::Centering(c) => {
                0.5 * c * theta.chunks_exact(na).map(|row| row.iter().sum::<f64>().powi(2)).sum::<f64>()
            }
        }
    }

    /// `out −= ∇pen(θ)` (or `out −= H_pen u` when given a tangent: the penalty is quadratic, so
    /// both are the same linear map).
    fn sub_linear(&self, x: &[f64], na: usize, out: &mut [f64]) {
        match *self {
            Penalty::None => {}
            Penalty::L2(l) => out.iter_mut().zip(x).for_each(|(o, t)| *o -= 2.0 * l * t),
            Penalty::Centering(c) => {
                for (orow, xrow) in out.chunks_exact_mut(na).zip(x.chunks_exact(na)) {
                    let s: f64 = xrow.iter().sum();
                    orow.iter_mut().for_each(|o| *o -= c * s);
                }
            }
        }
    }
}

/// The MDP pieces the derivatives need: dense `P̃[s][a][s']` (terminal rows and columns zeroed),
/// start distribution and terminal mask. Build once per MDP and reuse.
#[derive(Debug, Clone)]
pub struct SoftmaxModel {
    ns: usize,
    na: usize,
    p: Vec<f64>,
    start: Vec<f64>,
    terminal: Vec<bool>,
}

impl SoftmaxModel {
    /// The model of `mdp`.
    pub fn new(mdp: &TabularMdp) -> Self {
        let (ns, na) = (mdp.n_states(), mdp.n_actions());
        let mut p = vec![0.0; ns * na * ns];
        for s in (0..ns).filter(|&s| !mdp.is_terminal(s)) {
            for a in 0..na {
                for (n, pr) in mdp.successors(s, a).filter(|(n, _)| !mdp.is_terminal(*n)) {
                    p[(s * na + a) * ns + n] = pr;
                }
            }
        }
        SoftmaxModel { ns, na, p, start: mdp.start().to_vec(), terminal: mdp.terminal().to_vec() }
    }
    /// Number of states.
    pub fn n_states(&self) -> usize {
        self.ns
    }
    /// Number of actions.
    pub fn n_actions(&self) -> usize {
        self.na
    }
    /// Number of logits `S · A`.
    pub fn n_params(&self) -> usize {
        self.ns * self.na
    }
    /// Whether `s` is terminal.
    pub fn is_terminal(&self, s: usize) -> bool {
        self.terminal[s]
    }
    /// Start distribution `μ`.
    pub fn start(&self) -> &[f64] {
        &self.start
    }
    fn prow(&self, s: usize, a: usize) -> &[f64] {
        let i = (s * self.na + a) * self.ns;
        &self.p[i..i + self.ns]
    }
}

/// Objective settings: reward vector `r[s][a]`, discount, KL temperature and penalty.
#[derive(Debug, Clone, Copy)]
pub struct SoftmaxObjective<'a> {
    /// Reward `r[s][a]`, length `S · A` (ignored in terminal states).
    pub rewards: &'a [f64],
    /// Discount `γ ∈ [0, 1)`.
    pub gamma: f64,
    /// Temperature `τ ≥ 0` of the `−τ KL(π ‖ uniform)` regulariser.
    pub tau: f64,
    /// Penalty on the logits.
    pub penalty: Penalty,
}

/// The softmax policy of logits `θ` (row-major), written into `pi`.
pub fn softmax_rows(theta: &[f64], na: usize, pi: &mut [f64]) {
    for (prow, trow) in pi.chunks_exact_mut(na).zip(theta.chunks_exact(na)) {
        let m = trow.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut z = 0.0;
        for (p, t) in prow.iter_mut().zip(trow) {
            *p = (t - m).exp();
            z += *p;
        }
        prow.iter_mut().for_each(|p| *p /= z);
    }
}

/// Everything the derivatives need at one `θ`, with `I − γ P̃_π` factorised once.
#[derive(Debug, Clone)]
pub struct SoftmaxPoint<'m> {
    model: &'m SoftmaxModel,
    rewards: Vec<f64>,
    gamma: f64,
    tau: f64,
    penalty: Penalty,
    theta: Vec<f64>,
    pi: Vec<f64>,
    log_pi: Vec<f64>,
    lu: LU<f64, Dyn, Dyn>,
    lu_t: LU<f64, Dyn, Dyn>,
    v: Vec<f64>,
    /// `Σ_{s'} P̃[s][a][s'] V(s')`.
    pv: Vec<f64>,
    d: Vec<f64>,
    adv: Vec<f64>,
    value: f64,
}

impl<'m> SoftmaxPoint<'m> {
    /// Evaluates the objective at `theta`: policy, values, occupancy, advantages.
    pub fn new(
        model: &'m SoftmaxModel,
        obj: SoftmaxObjective<'_>,
        theta: &[f64],
    ) -> Result<Self, BilevelError> {
        let (ns, na) = (model.ns, model.na);
        let n = ns * na;
        if theta.len() != n {
            return Err(BilevelError::Shape { what: "logits", expected: n, got: theta.len() });
        }
        if obj.rewards.len() != n {
            return Err(BilevelError::Shape { what: "rewards", expected: n, got: obj.rewards.len() });
        }
        if !(obj.gamma.is_finite() && (0.0..1.0).contains(&obj.gamma)) {
            return Err(BilevelError::Invalid(format!("discount γ = {} must lie in [0, 1)", obj.gamma)));
        }
        if !(obj.tau.is_finite() && obj.tau >= 0.0) {
            return Err(BilevelError::Invalid(format!("temperature τ = {} must be ≥ 0", obj.tau)));
        }
        obj.penalty.check()?;
        if let Some(i) = theta.iter().chain(obj.rewards).position(|x| !x.is_finite()) {
            return Err(BilevelError::Invalid(format!("non-finite logit or reward at index {i}")));
        }
        let mut pi = vec![0.0; n];
        softmax_rows(theta, na, &mut pi);
        let mut log_pi = vec![0.0; n];
        for (lrow, trow) in log_pi.chunks_exact_mut(na).zip(theta.chunks_exact(na)) {
            let m = trow.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lz = m + trow.iter().map(|t| (t - m).exp()).sum::<f64>().ln();
            lrow.iter_mut().zip(trow).for_each(|(l, t)| *l = t - lz);
        }
        let gamma = obj.gamma;
        let log_a = (na as f64).ln();
        let mut m = DMatrix::<f64>::identity(ns, ns);
        let mut r_pi = DVector::<f64>::zeros(ns);
        for s in (0..ns).filter(|&s| !model.terminal[s]) {
            for a in 0..na {
                let p_a = pi[s * na + a];
                r_pi[s] += p_a * (obj.rewards[s * na + a] - obj.tau * (log_pi[s * na + a] + log_a));
                for (nx, &p) in model.prow(s, a).iter().enumerate() {
                    if p != 0.0 {
                        m[(s, nx)] -= gamma * p_a * p;
                    }
                }
            }
        }
        let lu_t = m.transpose().lu();
        let lu = m.lu();
        let v = lu.solve(&r_pi).ok_or(BilevelError::Singular)?;
        let d = lu_t.solve(&DVector::from_column_slice(&model.start)).ok_or(BilevelError::Singular)?;
        let v: Vec<f64> = v.iter().copied().collect();
        let d: Vec<f64> = d.iter().copied().collect();
        let mut pv = vec![0.0; n];
        let mut adv = vec![0.0; n];
        for s in (0..ns).filter(|&s| !model.terminal[s]) {
            for a in 0..na {
                let i = s * na + a;
                pv[i] = model.prow(s, a).iter().zip(&v).map(|(p, x)| p * x).sum();
                let q = obj.rewards[i] - obj.tau * log_a + gamma * pv[i];
                adv[i] = q - obj.tau * log_pi[i] - v[s];
            }
        }
        let value =
            model.start.iter().zip(&v).map(|(m, x)| m * x).sum::<f64>() - obj.penalty.value(theta, na);
        if !value.is_finite() {
            return Err(BilevelError::Singular);
        }
        Ok(SoftmaxPoint {
            model,
            rewards: obj.rewards.to_vec(),
            gamma,
            tau: obj.tau,
            penalty: obj.penalty,
            theta: theta.to_vec(),
            pi,
            log_pi,
            lu,
            lu_t,
            v,
            pv,
            d,
            adv,
            value,
        })
    }

    /// `J(θ)` (penalty included).
    pub fn value(&self) -> f64 {
        self.value
    }
    /// `V(s)` (regularised, without the penalty).
    pub fn values(&self) -> &[f64] {
        &self.v
    }
    /// The policy `π(a|s)`, row-major.
    pub fn policy(&self) -> &[f64] {
        &self.pi
    }
    /// The logits.
    pub fn theta(&self) -> &[f64] {
        &self.theta
    }
    /// Unnormalised discounted state occupancy `d(s)`.
    pub fn occupancy(&self) -> &[f64] {
        &self.d
    }
    /// Soft advantage `Â(s, a)`.
    pub fn advantages(&self) -> &[f64] {
        &self.adv
    }

    /// `∇_θ J`.
    pub fn gradient(&self) -> Vec<f64> {
        let na = self.model.na;
        let mut g: Vec<f64> = (0..self.pi.len()).map(|i| self.d[i / na] * self.pi[i] * self.adv[i]).collect();
        self.penalty.sub_linear(&self.theta, na, &mut g);
        g
    }

    /// Forward-mode derivative of `∇_θ J` along the tangent `(u, ṙ, γ̇)` of `(θ, r, γ)`; `u` and
    /// `r_dot` may be `None` for zero. `(Some(u), None, 0)` is the Hessian-vector product `H u`.
    pub fn tangent(&self, u: Option<&[f64]>, r_dot: Option<&[f64]>, gamma_dot: f64) -> Vec<f64> {
        let (ns, na) = (self.model.ns, self.model.na);
        let n = ns * na;
        let (gamma, tau) = (self.gamma, self.tau);
        let log_a = (na as f64).ln();
        // π̇ and (log π)˙ = u − Σ π u.
        let mut pidot = vec![0.0; n];
        let mut lpdot = vec![0.0; n];
        if let Some(u) = u {
            for s in (0..ns).filter(|&s| !self.model.terminal[s]) {
                let row = s * na..(s + 1) * na;
                let mean: f64 = self.pi[row.clone()].iter().zip(&u[row.clone()]).map(|(p, x)| p * x).sum();
                for i in row {
                    lpdot[i] = u[i] - mean;
                    pidot[i] = self.pi[i] * lpdot[i];
                }
            }
        }
        let rd = |i: usize| r_dot.map_or(0.0, |r| r[i]);
        // V̇ = M⁻¹ (r̃̇_π + γ̇ P̃_π V + γ P̃_π̇ V).
        let mut rhs = DVector::<f64>::zeros(ns);
        let mut rhs_d = DVector::<f64>::zeros(ns);
        for s in (0..ns).filter(|&s| !self.model.terminal[s]) {
            let mut acc = 0.0;
            for a in 0..na {
                let i = s * na + a;
                let rt = self.rewards[i] - tau * (self.log_pi[i] + log_a);
                acc += pidot[i] * rt + self.pi[i] * (rd(i) - tau * lpdot[i]);
                acc += (gamma_dot * self.pi[i] + gamma * pidot[i]) * self.pv[i];
                let w = self.d[s] * (gamma_dot * self.pi[i] + gamma * pidot[i]);
                if w != 0.0 {
                    for (nx, &p) in self.model.prow(s, a).iter().enumerate() {
                        rhs_d[nx] += w * p;
                    }
                }
            }
            rhs[s] = acc;
        }
        let vdot = self.lu.solve(&rhs).expect("factorised at construction");
        let ddot = self.lu_t.solve(&rhs_d).expect("factorised at construction");
        let mut out = vec![0.0; n];
        for s in (0..ns).filter(|&s| !self.model.terminal[s]) {
            for a in 0..na {
                let i = s * na + a;
                let pvdot: f64 = self.model.prow(s, a).iter().zip(vdot.iter()).map(|(p, x)| p * x).sum();
                let qdot = rd(i) + gamma_dot * self.pv[i] + gamma * pvdot;
                let adot = qdot - tau * lpdot[i] - vdot[s];
                out[i] = ddot[s] * self.pi[i] * self.adv[i]
                    + self.d[s] * pidot[i] * self.adv[i]
                    + self.d[s] * self.pi[i] * adot;
            }
        }
        if let Some(u) = u {
            self.penalty.sub_linear(u, na, &mut out);
        }
        out
    }

    /// The exact Hessian-vector product `∇²_θ J · u`.
    pub fn hvp(&self, u: &[f64]) -> Vec<f64> {
        self.tangent(Some(u), None, 0.0)
    }

    /// The dense Hessian `∇²_θ J` (`n × n`, from `n` Hessian-vector products), symmetrised.
    pub fn hessian(&self) -> DMatrix<f64> {
        let n = self.pi.len();
        let mut h = DMatrix::<f64>::zeros(n, n);
        let mut e = vec![0.0; n];
        for j in 0..n {
            e[j] = 1.0;
            let col = self.hvp(&e);
            e[j] = 0.0;
            h.set_column(j, &DVector::from_vec(col));
        }
        (&h + h.transpose()) * 0.5
    }

    /// The vector-Jacobian product of the mixed derivative with respect to the reward vector:
    /// `∂/∂r (xᵀ ∇_θ J) = Dρ_θ[x]`, the derivative of the state-action occupancy
    /// `ρ(s, a) = d(s) π(a|s)` along `x` (length `S · A`).
    pub fn reward_vjp(&self, x: &[f64]) -> Vec<f64> {
        let (ns, na) = (self.model.ns, self.model.na);
        let mut pidot = vec![0.0; ns * na];
        let mut rhs_d = DVector::<f64>::zeros(ns);
        for s in (0..ns).filter(|&s| !self.model.terminal[s]) {
            let row = s * na..(s + 1) * na;
            let mean: f64 = self.pi[row.clone()].iter().zip(&x[row.clone()]).map(|(p, u)| p * u).sum();
            for a in 0..na {
                let i = s * na + a;
                pidot[i] = self.pi[i] * (x[i] - mean);
                let w = self.d[s] * self.gamma * pidot[i];
                if w != 0.0 {
                    for (nx, &p) in self.model.prow(s, a).iter().enumerate() {
                        rhs_d[nx] += w * p;
                    }
                }
            }
        }
        let ddot = self.lu_t.solve(&rhs_d).expect("factorised at construction");
        (0..ns * na)
            .map(|i| {
                if self.model.terminal[i / na] {
                    0.0
                } else {
                    ddot[i / na] * self.pi[i] + self.d[i / na] * pidot[i]
                }
            })
            .collect()
    }

    /// `xᵀ ∂_γ ∇_θ J`: the mixed derivative with respect to the discount, contracted with `x`.
    pub fn gamma_vjp(&self, x: &[f64]) -> f64 {
        self.tangent(None, None, 1.0).iter().zip(x).map(|(a, b)| a * b).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alignrl_envs::tabular::{Gridworld, GridworldConfig};
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    fn grid() -> TabularMdp {
        let cfg = GridworldConfig { slip: 0.2, gamma: 0.9, ..Default::default() };
        Gridworld::from_ascii("S..#/.#.X/...G", cfg).unwrap().into_parts().0
    }

    fn rand_vec(n: usize, rng: &mut Pcg64, scale: f64) -> Vec<f64> {
        (0..n).map(|_| scale * (rng.random::<f64>() * 2.0 - 1.0)).collect()
    }

    fn rel(a: &[f64], b: &[f64]) -> f64 {
        let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt();
        let den: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt().max(1e-300);
        num / den
    }

    fn objective_value(
        model: &SoftmaxModel,
        r: &[f64],
        gamma: f64,
        tau: f64,
        pen: Penalty,
        th: &[f64],
    ) -> f64 {
        SoftmaxPoint::new(model, SoftmaxObjective { rewards: r, gamma, tau, penalty: pen }, th)
            .unwrap()
            .value()
    }

    #[test]
    fn value_matches_tabular_policy_evaluation() {
        let mdp = grid();
        let model = SoftmaxModel::new(&mdp);
        let mut rng = Pcg64::seed_from_u64(1);
        let th = rand_vec(model.n_params(), &mut rng, 1.0);
        let p = SoftmaxPoint::new(
            &model,
            SoftmaxObjective { rewards: mdp.rewards(), gamma: 0.9, tau: 0.0, penalty: Penalty::None },
            &th,
        )
        .unwrap();
        let pol = crate::tabular::Policy::from_probs(mdp.n_states(), 4, p.policy().to_vec()).unwrap();
        let v = crate::tabular::evaluate_policy(&mdp, &pol).unwrap();
        let j = crate::tabular::start_value(&mdp, &v);
        assert!((j - p.value()).abs() < 1e-12, "{j} vs {}", p.value());
    }

    #[test]
    fn gradient_hvp_and_mixed_derivatives_match_finite_differences() {
        let mdp = grid();
        let model = SoftmaxModel::new(&mdp);
        let n = model.n_params();
        let mut rng = Pcg64::seed_from_u64(7);
        for (tau, pen) in [(0.0, Penalty::L2(1e-2)), (0.3, Penalty::Centering(0.5)), (0.1, Penalty::None)] {
            let th = rand_vec(n, &mut rng, 1.5);
            let r = rand_vec(n, &mut rng, 1.0);
            let gamma = 0.85;
            let obj = SoftmaxObjective { rewards: &r, gamma, tau, penalty: pen };
            let p = SoftmaxPoint::new(&model, obj, &th).unwrap();
            let h = 1e-5;
            // Gradient by central differences of J.
            let fd: Vec<f64> = (0..n)
                .map(|i| {
                    let (mut a, mut b) = (th.clone(), th.clone());
                    a[i] += h;
                    b[i] -= h;
                    (objective_value(&model, &r, gamma, tau, pen, &a)
                        - objective_value(&model, &r, gamma, tau, pen, &b))
                        / (2.0 * h)
                })
                .collect();
            assert!(rel(&p.gradient(), &fd) < 1e-7, "gradient rel err {}", rel(&p.gradient(), &fd));
            // HVP by central differences of the gradient.
            let u = rand_vec(n, &mut rng, 1.0);
            let grad_at = |t: &[f64], r: &[f64], g: f64| {
                SoftmaxPoint::new(&model, SoftmaxObjective { rewards: r, gamma: g, tau, penalty: pen }, t)
                    .unwrap()
                    .gradient()
            };
            let plus: Vec<f64> = th.iter().zip(&u).map(|(t, x)| t + h * x).collect();
            let minus: Vec<f64> = th.iter().zip(&u).map(|(t, x)| t - h * x).collect();
            let fd_hvp: Vec<f64> = grad_at(&plus, &r, gamma)
                .iter()
                .zip(grad_at(&minus, &r, gamma))
                .map(|(a, b)| (a - b) / (2.0 * h))
                .collect();
            assert!(rel(&p.hvp(&u), &fd_hvp) < 1e-7, "hvp rel err {}", rel(&p.hvp(&u), &fd_hvp));
            // Mixed derivative w.r.t. the reward: vJP vs forward mode vs finite differences.
            let x = rand_vec(n, &mut rng, 1.0);
            let vjp = p.reward_vjp(&x);
            let rdot = rand_vec(n, &mut rng, 1.0);
            let fwd: f64 = p.tangent(None, Some(&rdot), 0.0).iter().zip(&x).map(|(a, b)| a * b).sum();
            let via_vjp: f64 = vjp.iter().zip(&rdot).map(|(a, b)| a * b).sum();
            assert!((fwd - via_vjp).abs() < 1e-10 * (1.0 + fwd.abs()), "{fwd} vs {via_vjp}");
            let rp: Vec<f64> = r.iter().zip(&rdot).map(|(a, b)| a + h * b).collect();
            let rm: Vec<f64> = r.iter().zip(&rdot).map(|(a, b)| a - h * b).collect();
            let fd_mixed: f64 = grad_at(&th, &rp, gamma)
                .iter()
                .zip(grad_at(&th, &rm, gamma))
                .zip(&x)
                .map(|((a, b), xi)| (a - b) / (2.0 * h) * xi)
                .sum();
            assert!((fd_mixed - via_vjp).abs() < 1e-7 * (1.0 + fd_mixed.abs()), "{fd_mixed} vs {via_vjp}");
            // Mixed derivative w.r.t. the discount.
            let fd_gamma: f64 = grad_at(&th, &r, gamma + h)
                .iter()
                .zip(grad_at(&th, &r, gamma - h))
                .zip(&x)
                .map(|((a, b), xi)| (a - b) / (2.0 * h) * xi)
                .sum();
            let g_vjp = p.gamma_vjp(&x);
            assert!((fd_gamma - g_vjp).abs() < 1e-7 * (1.0 + g_vjp.abs()), "{fd_gamma} vs {g_vjp}");
        }
    }

    #[test]
    fn hessian_is_symmetric_and_bad_input_is_an_error() {
        let mdp = grid();
        let model = SoftmaxModel::new(&mdp);
        let mut rng = Pcg64::seed_from_u64(3);
        let th = rand_vec(model.n_params(), &mut rng, 1.0);
        let obj = SoftmaxObjective { rewards: mdp.rewards(), gamma: 0.9, tau: 0.2, penalty: Penalty::None };
        let p = SoftmaxPoint::new(&model, obj, &th).unwrap();
        let n = model.n_params();
        let mut raw = DMatrix::<f64>::zeros(n, n);
        let mut e = vec![0.0; n];
        for j in 0..n {
            e[j] = 1.0;
            raw.set_column(j, &DVector::from_vec(p.hvp(&e)));
            e[j] = 0.0;
        }
        let asym = (&raw - raw.transpose()).amax();
        assert!(asym < 1e-10 * (1.0 + raw.amax()), "asymmetry {asym}");
        assert!(SoftmaxPoint::new(&model, obj, &th[1..]).is_err());
        assert!(SoftmaxPoint::new(&model, SoftmaxObjective { gamma: 1.0, ..obj }, &th).is_err());
        assert!(SoftmaxPoint::new(&model, SoftmaxObjective { tau: -1.0, ..obj }, &th).is_err());
        assert!(
            SoftmaxPoint::new(&model, SoftmaxObjective { penalty: Penalty::L2(f64::NAN), ..obj }, &th)
                .is_err()
        );
    }
}
