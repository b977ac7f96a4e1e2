//! Parameter-wise module operations: Polyak (soft) target updates and global gradient-norm
//! clipping.
//!
//! burn 0.21 ships per-tensor gradient clipping only (`burn::grad_clipping::GradientClipping`,
//! set on an optimiser with `with_grad_clipping`): `Norm(c)` rescales *each parameter's* gradient
//! to norm ≤ c on its own. PPO (CleanRL's `nn.utils.clip_grad_norm_`) clips the norm of *all*
//! gradients taken together, which keeps the update's direction; [`clip_grad_norm`] does that.

use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Shape, Tensor};

/// Soft target update `θ_target ← τ θ_source + (1 − τ) θ_target` on every float parameter.
///
/// Parameters are paired by traversal order (the order [`Module::visit`] and [`Module::map`]
/// walk them), so `source` and `target` must be the same architecture; their parameter ids may
/// differ (a clone or an independently initialised copy both work). `τ = 1` copies the source,
/// `τ = 0` keeps the target. The result is detached from any autodiff graph and keeps each target
/// parameter's `require_grad` flag and device. Integer and boolean parameters are left as they
/// are.
///
/// To update an inner-backend target from an autodiff network, pass `&online.valid()`.
///
/// # Panics
///
/// When the two modules have different numbers of float parameters or a pair's shapes differ.
pub fn polyak_update<B: Backend, M: Module<B>>(target: M, source: &M, tau: f64) -> M {
    // ---- collect the source parameters, flattened, in traversal order ----
    let mut collect = Collect::<B> { params: Vec::new() };
    source.visit(&mut collect);
    let expected = collect.params.len();

    // ---- blend them into the target's parameters, in the same order ----
    let mut blend = Blend::<B> { params: collect.params.into_iter(), tau, count: 0 };
    let target = target.map(&mut blend);
    assert!(
        blend.count == expected,
        "polyak_update: source has {expected} float parameters, target has {}",
        blend.count
    );
    target
}

/// Gathers every float parameter of a module as `(shape, flattened values)`.
struct Collect<B: Backend> {
    params: Vec<(Shape, Tensor<B, 1>)>,
}

impl<B: Backend> ModuleVisitor<B> for Collect<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let t = param.val().detach();
        let shape = t.shape();
        let n = shape.num_elements();
        self.params.push((shape, t.reshape([n])));
    }
}

/// Replaces each float parameter `p` with `τ s + (1 − τ) p`, `s` the next collected source one.
struct Blend<B: Backend> {
    params: std::vec::IntoIter<(Shape, Tensor<B, 1>)>,
    tau: f64,
    count: usize,
}

impl<B: Backend> ModuleMapper<B> for Blend<B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        self.count += 1;
        let (id, tensor, mapper) = param.consume();
        let Some((shape, src)) = self.params.next() else {
            // Counted above; the assert in `polyak_update` reports the mismatch.
            return Param::from_mapped_value(id, tensor, mapper);
        };
        assert!(
            shape == tensor.shape(),
            "polyak_update: parameter {} has shape {:?} in the source but {:?} in the target",
            self.count - 1,
            shape,
            tensor.shape()
        );
        let require_grad = tensor.is_require_grad();
        let src: Tensor<B, D> = src.reshape(shape).to_device(&tensor.device());
        // Blend, then cut the result from the graph: only a leaf can be made to require grad.
        let mixed = (tensor.detach() * (1.0 - self.tau) + src * self.tau).detach();
        Param::from_mapped_value(id, mixed.set_require_grad(require_grad), mapper)
    }
}

/// Clips the gradients of `module`'s parameters so that their global L2 norm
/// `‖g‖ = sqrt(Σ_p Σ g_p²)` is at most `max_norm` (PyTorch's `clip_grad_norm_`): when
/// `‖g‖ > max_norm`, every gradient is multiplied by `max_norm / (‖g‖ + 1e-6)`. Parameters
/// without a gradient in `grads` are skipped. Returns `‖g‖` before clipping.
pub fn clip_grad_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> f64 {
    // ---- global norm: one reduction per parameter, one sync at the end ----
    let mut norm = SquaredNorm::<B> { grads, sum: None };
    module.visit(&mut norm);
    let total = match norm.sum {
        Some(s) => s.into_scalar().elem::<f64>().sqrt(),
        None => return 0.0,
    };

    // ---- rescale when above the threshold ----
    if total > max_norm {
        let mut scale = Scale { grads, coef: max_norm / (total + 1e-6) };
        module.visit(&mut scale);
    }
    total
}

/// Sums the squared gradient entries of every float parameter.
struct SquaredNorm<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredNorm<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let s = g.square().sum();
            self.sum = Some(match self.sum.take() {
                Some(acc) => acc + s,
                None => s,
            });
        }
    }
}

/// Multiplies every float parameter's gradient by `coef`.
struct Scale<'a> {
    grads: &'a mut GradientsParams,
    coef: f64,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            self.grads.register(param.id, g * self.coef);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Cpu, CpuAutodiff};
    use burn::nn::{Linear, LinearConfig};

    fn weights<B: Backend>(m: &Linear<B>) -> Vec<f32> {
        let mut v = m.weight.val().into_data().to_vec::<f32>().unwrap();
        v.extend(m.bias.as_ref().unwrap().val().into_data().to_vec::<f32>().unwrap());
        v
    }

    #[test]
    fn clip_grad_norm_scales_all_gradients_together() {
        let device = Default::default();
        let lin: Linear<CpuAutodiff> = LinearConfig::new(2, 1).init(&device);
        // loss = sum(W x + b) with x = [3, 4]: dW = [3, 4], db = [1], global norm sqrt(26).
        let x = Tensor::<CpuAutodiff, 2>::from_floats([[3.0, 4.0]], &device);
        let loss = lin.forward(x).sum();
        let mut grads = GradientsParams::from_grads(loss.backward(), &lin);
        let total = clip_grad_norm(&lin, &mut grads, 1.0);
        assert!((total - 26f64.sqrt()).abs() < 1e-5);
        let gw = grads.get::<Cpu, 2>(lin.weight.id).unwrap().into_data().to_vec::<f32>().unwrap();
        let gb =
            grads.get::<Cpu, 1>(lin.bias.as_ref().unwrap().id).unwrap().into_data().to_vec::<f32>().unwrap();
        let s = 26f32.sqrt();
        for (g, want) in gw.iter().chain(&gb).zip([3.0 / s, 4.0 / s, 1.0 / s]) {
            assert!((g - want).abs() < 1e-5, "{g} vs {want}");
        }
        // Below the threshold: unchanged.
        let total2 = clip_grad_norm(&lin, &mut grads, 10.0);
        assert!((total2 - 1.0).abs() < 1e-5);
        let gb2 =
            grads.get::<Cpu, 1>(lin.bias.as_ref().unwrap().id).unwrap().into_data().to_vec::<f32>().unwrap();
        assert_eq!(gb, gb2);
    }

    #[test]
    fn polyak_keeps_require_grad_and_ids() {
        let device = Default::default();
        let a: Linear<CpuAutodiff> = LinearConfig::new(3, 2).init(&device);
        let b: Linear<CpuAutodiff> = LinearConfig::new(3, 2).init(&device);
        let id = b.weight.id;
        let out = polyak_update(b, &a, 1.0);
        assert_eq!(out.weight.id, id);
        assert!(out.weight.val().is_require_grad());
        assert_eq!(weights(&out), weights(&a));
        // Still a trainable leaf: a backward pass reaches its weight.
        let x = Tensor::<CpuAutodiff, 2>::from_floats([[1.0, 2.0, 3.0]], &device);
        let grads = out.forward(x).sum().backward();
        assert!(out.weight.grad(&grads).is_some());
    }
}
