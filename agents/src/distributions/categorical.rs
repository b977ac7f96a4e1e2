//! [`Categorical`]: a batch of distributions over `K` discrete actions, from logits.

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use rand_pcg::Pcg64;

use super::{open_unit, sum_rows, tensor_from_f64};

/// `N` categorical distributions over actions `0..K`, parameterised by unnormalised logits
/// `z[N, K]`: `π(k) = exp(z_k) / Σ_j exp(z_j)`.
///
/// The normalised log-probabilities `log π = log_softmax(z)` are computed once at construction.
/// Logits must be finite (a masked action needs a large negative logit, not `−∞`, or
/// [`Categorical::entropy`] gives `0 · (−∞) = NaN`).
#[derive(Debug, Clone)]
pub struct Categorical<B: Backend> {
    log_probs: Tensor<B, 2>,
}

impl<B: Backend> Categorical<B> {
    /// From logits `[N, K]`.
    pub fn new(logits: Tensor<B, 2>) -> Self {
        Self { log_probs: log_softmax(logits, 1) }
    }

    /// The batch size `N` and the number of actions `K`.
    pub fn dims(&self) -> [usize; 2] {
        self.log_probs.dims()
    }

    /// The normalised log-probabilities `log π(k)`, `[N, K]`.
    pub fn log_probs(&self) -> Tensor<B, 2> {
        self.log_probs.clone()
    }

    /// The probabilities `π(k)`, `[N, K]`, rows summing to 1.
    pub fn probs(&self) -> Tensor<B, 2> {
        self.log_probs.clone().exp()
    }

    /// `log π(a_i)` of one action per row: `actions` `[N]` of indices in `0..K`; returns `[N]`.
    pub fn log_prob(&self, actions: Tensor<B, 1, Int>) -> Tensor<B, 1> {
        let [n, _] = self.dims();
        self.log_probs.clone().gather(1, actions.reshape([n, 1])).reshape([n])
    }

    /// The entropy `H = −Σ_k π(k) log π(k)` of each row, `[N]`, in nats (`ln K` at most).
    pub fn entropy(&self) -> Tensor<B, 1> {
        sum_rows(self.probs() * self.log_probs.clone()).neg()
    }

    /// One action per row, `[N]`, by the Gumbel-max trick: `argmax_k (log π(k) + g_k)` with
    /// `g_k = −ln(−ln u_k)`, `u_k ~ U(0, 1)` drawn from `rng` (row-major, `N·K` draws).
    pub fn sample(&self, rng: &mut Pcg64) -> Tensor<B, 1, Int> {
        let [n, k] = self.dims();
        let gumbel: Vec<f64> = (0..n * k).map(|_| -(-open_unit(rng).ln()).ln()).collect();
        let g = tensor_from_f64::<B, 2>(&gumbel, [n, k], &self.log_probs.device());
        (self.log_probs.clone().detach() + g).argmax(1).reshape([n])
    }

    /// The most probable action of each row, `argmax_k π(k)`, `[N]`.
    pub fn mode(&self) -> Tensor<B, 1, Int> {
        let [n, _] = self.dims();
        self.log_probs.clone().argmax(1).reshape([n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Cpu, CpuAutodiff};
    use rand::SeedableRng;

    const LOGITS: [[f64; 4]; 3] = [[0.0, 0.0, 0.0, 0.0], [1.0, -0.5, 2.0, 0.3], [-3.0, 4.0, 0.0, -1.0]];

    fn host_log_softmax(z: &[f64]) -> Vec<f64> {
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        z.iter().map(|v| v - lse).collect()
    }

    fn dist<B: Backend>() -> Categorical<B> {
        let flat: Vec<f64> = LOGITS.iter().flatten().copied().collect();
        Categorical::new(tensor_from_f64(&flat, [3, 4], &Default::default()))
    }

    fn ints<B: Backend>(t: Tensor<B, 1, Int>) -> Vec<i64> {
        t.into_data().convert::<i64>().to_vec::<i64>().unwrap()
    }

    #[test]
    fn entropy_and_log_prob_match_closed_forms() {
        let d = dist::<Cpu>();
        let h = d.entropy().into_data().to_vec::<f32>().unwrap();
        // Uniform over 4 actions: H = ln 4.
        assert!((h[0] as f64 - 4f64.ln()).abs() < 1e-6);
        for (row, z) in LOGITS.iter().enumerate() {
            let lp = host_log_softmax(z);
            let want: f64 = -lp.iter().map(|l| l.exp() * l).sum::<f64>();
            assert!((h[row] as f64 - want).abs() < 1e-5, "row {row}: {} vs {want}", h[row]);
        }
        for a in 0..4 {
            let actions =
                Tensor::<Cpu, 1, Int>::from_ints([a, (a + 1) % 4, (a + 2) % 4], &Default::default());
            let got = d.log_prob(actions).into_data().to_vec::<f32>().unwrap();
            for (row, z) in LOGITS.iter().enumerate() {
                let want = host_log_softmax(z)[(a as usize + row) % 4];
                assert!((got[row] as f64 - want).abs() < 1e-5, "row {row}, action {a}");
            }
        }
        let p = d.probs().into_data().to_vec::<f32>().unwrap();
        for row in p.chunks(4) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn mode_is_argmax_and_samples_follow_probs() {
        let d = dist::<Cpu>();
        assert_eq!(ints(d.mode())[1..], [2, 1]);

        // One batch holding each row 20 000 times (row r of the batch is row r mod 3).
        let draws = 20_000;
        let big = Categorical::new(d.log_probs().repeat_dim(0, draws));
        let mut counts = [[0usize; 4]; 3];
        for (r, a) in ints(big.sample(&mut Pcg64::seed_from_u64(3))).into_iter().enumerate() {
            counts[r % 3][a as usize] += 1;
        }
        for (row, z) in LOGITS.iter().enumerate() {
            for (k, lp) in host_log_softmax(z).into_iter().enumerate() {
                let p = lp.exp();
                let freq = counts[row][k] as f64 / draws as f64;
                // 5 binomial standard errors.
                let tol = 5.0 * (p * (1.0 - p) / draws as f64).sqrt() + 1e-4;
                assert!((freq - p).abs() < tol, "row {row} action {k}: {freq} vs {p}");
            }
        }
        // Same seed, same actions.
        let a = ints(d.sample(&mut Pcg64::seed_from_u64(9)));
        let b = ints(d.sample(&mut Pcg64::seed_from_u64(9)));
        assert_eq!(a, b);
    }

    #[test]
    fn log_prob_gradient_is_onehot_minus_probs() {
        // d log π(a) / d z_k = 1[k = a] − π(k).
        let z = [0.5, -1.0, 2.0];
        let logits = Tensor::<CpuAutodiff, 2>::from_floats([z], &Default::default()).require_grad();
        let d = Categorical::new(logits.clone());
        let lp = d.log_prob(Tensor::from_ints([1], &Default::default()));
        let g = logits.grad(&lp.sum().backward()).unwrap().into_data().to_vec::<f32>().unwrap();
        let p: Vec<f64> = host_log_softmax(&z).into_iter().map(f64::exp).collect();
        for k in 0..3 {
            let want = if k == 1 { 1.0 } else { 0.0 } - p[k];
            assert!((g[k] as f64 - want).abs() < 1e-5, "k {k}: {} vs {want}", g[k]);
        }
    }
}
