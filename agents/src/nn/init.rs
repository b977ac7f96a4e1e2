//! Seeded orthogonal initialisation of linear layers (Saxe et al. 2014), as CleanRL and SB3 use
//! for actor-critic networks.

use std::f64::consts::SQRT_2;

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use nalgebra::DMatrix;
use rand_pcg::Pcg64;

use crate::distributions::{fill_standard_normal, tensor_from_f64};

/// The gain of hidden layers, `√2` (CleanRL's `layer_init` default).
pub const HIDDEN_GAIN: f64 = SQRT_2;
/// The gain of a policy head, `0.01`: near-uniform initial action probabilities / near-zero means.
pub const POLICY_GAIN: f64 = 0.01;
/// The gain of a value head, `1`.
pub const VALUE_GAIN: f64 = 1.0;

/// A `rows × cols` matrix `gain · Q` with `Q` a random semi-orthogonal matrix: `QᵀQ = I` if
/// `rows ≥ cols`, `QQᵀ = I` otherwise.
///
/// As `torch.nn.init.orthogonal_`: draw `G` with i.i.d. `N(0, 1)` entries (row-major from `rng`,
/// [`fill_standard_normal`]), take the QR decomposition of `G` (of `Gᵀ` when `rows < cols`, so
/// that the factored matrix is tall), and flip the sign of each column of `Q` to make `diag(R)`
/// non-negative, which makes `Q` Haar-distributed. Computed in `f64`; the same `rng` state gives
/// the same matrix bit for bit.
///
/// # Panics
/// If `rows` or `cols` is 0.
pub fn orthogonal_matrix(rows: usize, cols: usize, gain: f64, rng: &mut Pcg64) -> DMatrix<f64> {
    assert!(rows > 0 && cols > 0, "orthogonal_matrix: empty shape {rows}×{cols}");
    let mut g = vec![0.0; rows * cols];
    fill_standard_normal(rng, &mut g);
    let g = DMatrix::from_row_slice(rows, cols, &g);
    let tall = if rows < cols { g.transpose() } else { g };
    let qr = tall.qr();
    let (mut q, r) = (qr.q(), qr.r());
    for (j, mut col) in q.column_iter_mut().enumerate() {
        if r[(j, j)] < 0.0 {
            col.neg_mut();
        }
    }
    q *= gain;
    if rows < cols { q.transpose() } else { q }
}

/// A linear layer `y = x W + b` (burn's [`Linear`], weight stored `[d_input, d_output]`) with
/// `W = gain · Q` from [`orthogonal_matrix`]`(d_input, d_output)` and `b = 0`.
///
/// The columns of `W` (one per output unit) are orthogonal with norm `gain` when
/// `d_output ≤ d_input` (`WᵀW = gain² I`), and its rows are when `d_output > d_input`.
pub fn orthogonal_linear<B: Backend>(
    d_input: usize,
    d_output: usize,
    gain: f64,
    rng: &mut Pcg64,
    device: &B::Device,
) -> Linear<B> {
    let w = orthogonal_matrix(d_input, d_output, gain, rng);
    // nalgebra is column-major: the row-major data of W is that of Wᵀ.
    let row_major: Vec<f64> = w.transpose().as_slice().to_vec();
    let weight = tensor_from_f64::<B, 2>(&row_major, [d_input, d_output], device);
    Linear {
        weight: Param::from_tensor(weight),
        bias: Some(Param::from_tensor(Tensor::zeros([d_output], device))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;
    use rand::SeedableRng;

    /// `max |MᵀM − gain² I|` over the smaller Gram matrix of `M`.
    fn gram_error(m: &DMatrix<f64>, gain: f64) -> f64 {
        let gram = if m.nrows() >= m.ncols() { m.transpose() * m } else { m * m.transpose() };
        let k = gram.nrows();
        (gram - DMatrix::identity(k, k) * gain * gain).abs().max()
    }

    #[test]
    fn matrices_are_semi_orthogonal_and_seeded() {
        for (rows, cols) in [(1, 1), (8, 8), (64, 3), (3, 64), (17, 40)] {
            let mut rng = Pcg64::seed_from_u64(rows as u64 * 100 + cols as u64);
            let m = orthogonal_matrix(rows, cols, 0.7, &mut rng);
            assert_eq!(m.shape(), (rows, cols));
            assert!(gram_error(&m, 0.7) < 1e-12, "{rows}×{cols}: {}", gram_error(&m, 0.7));
        }
        let a = orthogonal_matrix(5, 4, 1.0, &mut Pcg64::seed_from_u64(1));
        let b = orthogonal_matrix(5, 4, 1.0, &mut Pcg64::seed_from_u64(1));
        let c = orthogonal_matrix(5, 4, 1.0, &mut Pcg64::seed_from_u64(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn linear_weight_is_orthogonal_in_burn_layout() {
        let device = Default::default();
        for (d_in, d_out, gain) in
            [(10, 64, HIDDEN_GAIN), (64, 64, HIDDEN_GAIN), (64, 4, POLICY_GAIN), (64, 1, VALUE_GAIN)]
        {
            let lin = orthogonal_linear::<Cpu>(d_in, d_out, gain, &mut Pcg64::seed_from_u64(3), &device);
            assert_eq!(lin.weight.dims(), [d_in, d_out]);
            let w: Vec<f64> =
                lin.weight.val().into_data().to_vec::<f32>().unwrap().into_iter().map(f64::from).collect();
            let w = DMatrix::from_row_slice(d_in, d_out, &w);
            // The tensor holds the f64 matrix rounded to f32.
            let exact = orthogonal_matrix(d_in, d_out, gain, &mut Pcg64::seed_from_u64(3));
            assert!((&w - &exact).abs().max() < 1e-6 * gain);
            let err = gram_error(&w, gain);
            assert!(err < 1e-5 * gain.max(1.0).powi(2), "{d_in}→{d_out}: |WᵀW − g²I| = {err}");
            let b = lin.bias.as_ref().unwrap().val().into_data().to_vec::<f32>().unwrap();
            assert!(b.iter().all(|&v| v == 0.0));
        }
    }
}
