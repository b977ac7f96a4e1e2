//! [`DiagGaussian`]: a batch of Gaussians with diagonal covariance.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand_pcg::Pcg64;

use super::{LN_2PI, gaussian_noise, sum_rows};

/// `N` Gaussians over `ℝ^D` with diagonal covariance: `x ~ N(μ, diag(σ²))`, `σ = exp(log σ)`.
///
/// The mean `μ` is `[N, D]`; the log standard deviation is either one state-independent `[D]`
/// parameter shared by all rows (PPO's usual head, [`DiagGaussian::with_shared_log_std`]) or a
/// per-row `[N, D]` output ([`DiagGaussian::new`]). Densities are joint over the `D` dimensions.
#[derive(Debug, Clone)]
pub struct DiagGaussian<B: Backend> {
    mean: Tensor<B, 2>,
    log_std: Tensor<B, 2>,
}

impl<B: Backend> DiagGaussian<B> {
    /// From a mean `[N, D]` and a per-row log standard deviation `[N, D]`.
    ///
    /// # Panics
    /// If the shapes differ.
    pub fn new(mean: Tensor<B, 2>, log_std: Tensor<B, 2>) -> Self {
        assert_eq!(mean.dims(), log_std.dims(), "DiagGaussian: mean and log_std shapes differ");
        Self { mean, log_std }
    }

    /// From a mean `[N, D]` and one log standard deviation `[D]` broadcast over the rows (its
    /// gradient is the sum over the rows).
    ///
    /// # Panics
    /// If `log_std` does not have `D` entries.
    pub fn with_shared_log_std(mean: Tensor<B, 2>, log_std: Tensor<B, 1>) -> Self {
        let [n, d] = mean.dims();
        assert_eq!(log_std.dims(), [d], "DiagGaussian: log_std must have one entry per action dimension");
        let log_std = log_std.unsqueeze_dim::<2>(0).expand([n, d]);
        Self { mean, log_std }
    }

    /// The batch size `N` and the dimension `D`.
    pub fn dims(&self) -> [usize; 2] {
        self.mean.dims()
    }

    /// The mean `μ`, `[N, D]`.
    pub fn mean(&self) -> Tensor<B, 2> {
        self.mean.clone()
    }

    /// The log standard deviation `log σ`, `[N, D]`.
    pub fn log_std(&self) -> Tensor<B, 2> {
        self.log_std.clone()
    }

    /// The standard deviation `σ`, `[N, D]`.
    pub fn std(&self) -> Tensor<B, 2> {
        self.log_std.clone().exp()
    }

    /// The joint log-density of `x` `[N, D]`, `[N]`:
    /// `log p(x) = Σ_d [−½ ((x_d − μ_d) / σ_d)² − log σ_d − ½ ln 2π]`.
    pub fn log_prob(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        let z = (x - self.mean.clone()) * self.log_std.clone().neg().exp();
        sum_rows(z.square().mul_scalar(-0.5) - self.log_std.clone()).sub_scalar(0.5 * LN_2PI * self.d())
    }

    /// The entropy `H = Σ_d (½ + ½ ln 2π + log σ_d)` of each row, `[N]`, in nats.
    pub fn entropy(&self) -> Tensor<B, 1> {
        sum_rows(self.log_std.clone()).add_scalar(0.5 * (1.0 + LN_2PI) * self.d())
    }

    /// The reparameterised sample `μ + σ ⊙ ε` for given noise `ε` `[N, D]`; differentiable in
    /// `μ` and `log σ`.
    pub fn rsample_from_noise(&self, eps: Tensor<B, 2>) -> Tensor<B, 2> {
        self.mean.clone() + self.std() * eps
    }

    /// A reparameterised sample `μ + σ ⊙ ε`, `ε ~ N(0, I)` drawn from `rng`, `[N, D]`.
    pub fn rsample(&self, rng: &mut Pcg64) -> Tensor<B, 2> {
        self.rsample_from_noise(gaussian_noise(self.dims(), rng, &self.mean.device()))
    }

    /// A sample `[N, D]`, detached from the graph.
    pub fn sample(&self, rng: &mut Pcg64) -> Tensor<B, 2> {
        self.rsample(rng).detach()
    }

    /// The mode (= mean) `μ`, `[N, D]`.
    pub fn mode(&self) -> Tensor<B, 2> {
        self.mean.clone()
    }

    fn d(&self) -> f64 {
        self.dims()[1] as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Cpu, CpuAutodiff};
    use crate::distributions::tensor_from_f64;
    use rand::SeedableRng;

    const MEAN: [[f64; 3]; 2] = [[0.0, 1.5, -2.0], [0.3, -0.7, 4.0]];
    const LOG_STD: [[f64; 3]; 2] = [[0.0, -1.0, 0.5], [0.2, 0.3, -2.0]];
    const X: [[f64; 3]; 2] = [[0.1, 1.0, -3.5], [-2.0, -0.6, 4.01]];

    fn t2<B: Backend>(a: [[f64; 3]; 2]) -> Tensor<B, 2> {
        tensor_from_f64(&a.iter().flatten().copied().collect::<Vec<f64>>(), [2, 3], &Default::default())
    }

    fn host_log_prob(x: &[f64], mu: &[f64], log_std: &[f64]) -> f64 {
        (0..x.len())
            .map(|d| {
                let s = log_std[d].exp();
                -0.5 * ((x[d] - mu[d]) / s).powi(2) - log_std[d] - 0.5 * (2.0 * std::f64::consts::PI).ln()
            })
            .sum()
    }

    #[test]
    fn log_prob_and_entropy_match_the_f64_formulas() {
        let g = DiagGaussian::<Cpu>::new(t2(MEAN), t2(LOG_STD));
        let lp = g.log_prob(t2(X)).into_data().to_vec::<f32>().unwrap();
        let h = g.entropy().into_data().to_vec::<f32>().unwrap();
        for i in 0..2 {
            let want = host_log_prob(&X[i], &MEAN[i], &LOG_STD[i]);
            assert!((lp[i] as f64 - want).abs() < 1e-4 * want.abs().max(1.0), "{} vs {want}", lp[i]);
            let want_h: f64 =
                LOG_STD[i].iter().map(|l| 0.5 + 0.5 * (2.0 * std::f64::consts::PI).ln() + l).sum();
            assert!((h[i] as f64 - want_h).abs() < 1e-5, "{} vs {want_h}", h[i]);
        }
        assert_eq!(
            g.mode().into_data().to_vec::<f32>().unwrap(),
            t2::<Cpu>(MEAN).into_data().to_vec::<f32>().unwrap()
        );
    }

    #[test]
    fn shared_log_std_broadcasts_and_sums_its_gradient() {
        let device = Default::default();
        let log_std = Tensor::<CpuAutodiff, 1>::from_floats([0.0, -1.0, 0.5], &device).require_grad();
        let g = DiagGaussian::with_shared_log_std(t2(MEAN), log_std.clone());
        let lp = g.log_prob(t2(X));
        let got = lp.clone().into_data().to_vec::<f32>().unwrap();
        for i in 0..2 {
            let want = host_log_prob(&X[i], &MEAN[i], &LOG_STD[0]);
            assert!((got[i] as f64 - want).abs() < 1e-4 * want.abs().max(1.0));
        }
        // d/d log σ_d Σ_i log p(x_i) = Σ_i [((x_id − μ_id) / σ_d)² − 1].
        let grad = log_std.grad(&lp.sum().backward()).unwrap().into_data().to_vec::<f32>().unwrap();
        for d in 0..3 {
            let s = LOG_STD[0][d].exp();
            let want: f64 = (0..2).map(|i| ((X[i][d] - MEAN[i][d]) / s).powi(2) - 1.0).sum();
            assert!(
                (grad[d] as f64 - want).abs() < 1e-4 * want.abs().max(1.0),
                "d {d}: {} vs {want}",
                grad[d]
            );
        }
    }

    #[test]
    fn samples_have_the_right_moments_and_are_seeded() {
        let n = 40_000;
        let mean = Tensor::<Cpu, 2>::from_floats([[1.0, -2.0]], &Default::default()).repeat_dim(0, n);
        let log_std = Tensor::<Cpu, 1>::from_floats([0.0, (0.5f32).ln()], &Default::default());
        let g = DiagGaussian::with_shared_log_std(mean, log_std);
        let x = g.sample(&mut Pcg64::seed_from_u64(5)).into_data().to_vec::<f32>().unwrap();
        for (d, (mu, sd)) in [(1.0, 1.0), (-2.0, 0.5)].into_iter().enumerate() {
            let col: Vec<f64> = x.iter().skip(d).step_by(2).map(|&v| v as f64).collect();
            let m = col.iter().sum::<f64>() / n as f64;
            let v = col.iter().map(|c| (c - m).powi(2)).sum::<f64>() / n as f64;
            assert!((m - mu).abs() < 5.0 * sd / (n as f64).sqrt(), "dim {d} mean {m}");
            assert!((v.sqrt() - sd).abs() < 0.02 * sd, "dim {d} std {}", v.sqrt());
        }
        let again = g.sample(&mut Pcg64::seed_from_u64(5)).into_data().to_vec::<f32>().unwrap();
        assert_eq!(x, again);
    }
}
