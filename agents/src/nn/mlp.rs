//! [`Mlp`], the multilayer perceptron of actor-critic agents, and its [`MlpConfig`].

use burn::config::Config;
use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::SeedableRng;
use rand_pcg::Pcg64;

use super::init::orthogonal_linear;

/// The nonlinearity after each hidden layer of an [`Mlp`].
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `tanh(x)` (CleanRL's PPO default).
    Tanh,
    /// `max(x, 0)`.
    Relu,
    /// `x` for `x > 0`, `eˣ − 1` otherwise (ELU with `α = 1`).
    Elu,
    /// `x` (a deep linear network).
    Identity,
}

impl Activation {
    /// Applies the nonlinearity element-wise.
    pub fn forward<B: Backend, const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Activation::Tanh => x.tanh(),
            Activation::Relu => burn::tensor::activation::relu(x),
            // min(x, 0) keeps exp finite on the unused branch, so the gradient has no inf · 0.
            Activation::Elu => x.clone().clamp_min(0.0) + x.clamp_max(0.0).exp().sub_scalar(1.0),
            Activation::Identity => x,
        }
    }
}

/// Configuration of an [`Mlp`]: `d_input → hidden[0] → … → hidden[L−1] → d_output`, built with
/// [`MlpConfig::init`].
///
/// Every layer is initialised orthogonally ([`orthogonal_linear`]) with zero bias: hidden layers
/// with `hidden_gain` (`√2` by default), the output layer with `output_gain` (use
/// [`POLICY_GAIN`](super::init::POLICY_GAIN) `= 0.01` for a policy head,
/// [`VALUE_GAIN`](super::init::VALUE_GAIN) `= 1` for a value head). The matrices are drawn layer
/// by layer, input first, from a [`Pcg64`] seeded with `seed`.
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// The input size (observation or feature dimension).
    pub d_input: usize,
    /// The widths of the hidden layers, input side first (empty: a single linear layer).
    pub hidden: Vec<usize>,
    /// The output size (logits, action dimension, or 1 for a value).
    pub d_output: usize,
    /// The nonlinearity after each hidden layer (none after the output layer).
    #[config(default = "Activation::Tanh")]
    pub activation: Activation,
    /// The orthogonal-init gain of the hidden layers.
    #[config(default = "core::f64::consts::SQRT_2")]
    pub hidden_gain: f64,
    /// The orthogonal-init gain of the output layer.
    #[config(default = 1.0)]
    pub output_gain: f64,
    /// The seed of the initialisation.
    #[config(default = 0)]
    pub seed: u64,
}

impl MlpConfig {
    /// Builds the network on `device`, seeded with `self.seed`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Mlp<B> {
        self.init_with_rng(&mut Pcg64::seed_from_u64(self.seed), device)
    }

    /// Builds the network drawing the initial weights from `rng` (ignores `self.seed`), e.g. to
    /// initialise several networks of one agent from one stream.
    pub fn init_with_rng<B: Backend>(&self, rng: &mut Pcg64, device: &B::Device) -> Mlp<B> {
        let mut d_in = self.d_input;
        let mut hidden = Vec::with_capacity(self.hidden.len());
        for &width in &self.hidden {
            hidden.push(orthogonal_linear(d_in, width, self.hidden_gain, rng, device));
            d_in = width;
        }
        let output = orthogonal_linear(d_in, self.d_output, self.output_gain, rng, device);
        Mlp { hidden, output, activation: self.activation }
    }
}

/// A multilayer perceptron `y = W_L h_L + b_L`, `h_{l+1} = f(W_l h_l + b_l)`, `h_0 = x`, with the
/// nonlinearity `f` after every hidden layer and none after the output layer. Built by
/// [`MlpConfig::init`].
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// The hidden layers, input side first.
    pub hidden: Vec<Linear<B>>,
    /// The output layer.
    pub output: Linear<B>,
    /// The nonlinearity after each hidden layer (not a parameter: not saved in records).
    #[module(skip)]
    pub activation: Activation,
}

impl<B: Backend> Mlp<B> {
    /// Maps inputs `[N, d_input]` to outputs `[N, d_output]`.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let h = self.hidden.iter().fold(x, |h, layer| self.activation.forward(layer.forward(h)));
        self.output.forward(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Cpu, CpuAutodiff};
    use crate::distributions::tensor_from_f64;
    use crate::nn::init::{POLICY_GAIN, orthogonal_matrix};
    use nalgebra::DMatrix;

    fn floats<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
        t.into_data().to_vec::<f32>().unwrap()
    }

    fn params(mlp: &Mlp<Cpu>) -> Vec<Vec<f32>> {
        mlp.hidden
            .iter()
            .chain([&mlp.output])
            .flat_map(|l| [floats(l.weight.val()), floats(l.bias.as_ref().unwrap().val())])
            .collect()
    }

    #[test]
    fn same_seed_gives_bit_identical_weights() {
        let cfg = MlpConfig::new(6, vec![32, 32], 3).with_output_gain(POLICY_GAIN).with_seed(42);
        let device = Default::default();
        let (a, b) = (cfg.init::<Cpu>(&device), cfg.init::<Cpu>(&device));
        let pa = params(&a);
        assert_eq!(pa, params(&b));
        assert_ne!(pa, params(&cfg.clone().with_seed(43).init::<Cpu>(&device)));
        assert_eq!(a.num_params(), 6 * 32 + 32 + 32 * 32 + 32 + 32 * 3 + 3);
    }

    #[test]
    fn layers_are_orthogonal_with_their_gains() {
        let cfg = MlpConfig::new(5, vec![16, 16], 2).with_output_gain(POLICY_GAIN).with_seed(7);
        let mlp = cfg.init::<Cpu>(&Default::default());
        // The layers are drawn in order from one Pcg64 seeded with `seed`.
        let mut rng = Pcg64::seed_from_u64(7);
        let shapes = [(5, 16, cfg.hidden_gain), (16, 16, cfg.hidden_gain), (16, 2, POLICY_GAIN)];
        for (layer, (d_in, d_out, gain)) in mlp.hidden.iter().chain([&mlp.output]).zip(shapes) {
            let w: Vec<f64> = floats(layer.weight.val()).into_iter().map(f64::from).collect();
            let w = DMatrix::from_row_slice(d_in, d_out, &w);
            let want = orthogonal_matrix(d_in, d_out, gain, &mut rng);
            assert!((&w - want).abs().max() < 1e-6);
            let gram = if d_out <= d_in { w.transpose() * &w } else { &w * w.transpose() };
            let k = gram.nrows();
            let err = (gram - DMatrix::identity(k, k) * gain * gain).abs().max();
            assert!(err < 1e-5, "{d_in}→{d_out}: |WᵀW − g²I| = {err}");
        }
    }

    #[test]
    fn forward_matches_a_host_computation() {
        let x = [[0.5, -1.0, 2.0], [0.0, 0.3, -0.2]];
        let device = Default::default();
        for act in [Activation::Tanh, Activation::Relu, Activation::Elu, Activation::Identity] {
            let mlp = MlpConfig::new(3, vec![4], 2).with_activation(act).with_seed(1).init::<Cpu>(&device);
            let y = floats(mlp.forward(Tensor::from_floats(x, &device)));
            let w1 = floats(mlp.hidden[0].weight.val());
            let w2 = floats(mlp.output.weight.val());
            for (i, xi) in x.iter().enumerate() {
                let h: Vec<f64> = (0..4)
                    .map(|j| {
                        let z: f64 = (0..3).map(|k| xi[k] * w1[k * 4 + j] as f64).sum();
                        match act {
                            Activation::Tanh => z.tanh(),
                            Activation::Relu => z.max(0.0),
                            Activation::Elu => {
                                if z > 0.0 {
                                    z
                                } else {
                                    z.exp_m1()
                                }
                            }
                            Activation::Identity => z,
                        }
                    })
                    .collect();
                for o in 0..2 {
                    let want: f64 = (0..4).map(|j| h[j] * w2[j * 2 + o] as f64).sum();
                    assert!((y[i * 2 + o] as f64 - want).abs() < 1e-5, "{act:?} row {i} out {o}");
                }
            }
        }
    }

    #[test]
    fn gradients_reach_every_layer() {
        let device = Default::default();
        let mlp =
            MlpConfig::new(3, vec![8, 8], 1).with_activation(Activation::Elu).init::<CpuAutodiff>(&device);
        let x = tensor_from_f64::<CpuAutodiff, 2>(&[0.1, -0.4, 0.9, 1.2, 0.0, -2.0], [2, 3], &device);
        let grads = mlp.forward(x).square().sum().backward();
        for layer in mlp.hidden.iter().chain([&mlp.output]) {
            let g = layer.weight.grad(&grads).expect("weight has a gradient");
            let g = floats(g);
            assert!(g.iter().all(|v| v.is_finite()) && g.iter().any(|&v| v != 0.0));
        }
    }
}
