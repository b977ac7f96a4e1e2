//! Tensor backends: burn's pure-Rust CPU backend `Flex` (the default, what CI tests) and, behind
//! the `cuda` cargo feature, burn's CUDA backend.
//!
//! Tensor code in alignrl is generic over `B: Backend` (`AutodiffBackend` where it trains); the
//! binaries pick a concrete backend with [`DeviceKind`] (`--device cpu|cuda`). burn's CUDA device
//! panics at first use when no GPU or driver is present: [`probe`] runs a tiny computation under
//! `catch_unwind` and turns that panic into [`BackendError::DeviceUnavailable`].

use std::fmt;
use std::str::FromStr;

/// The CPU backend (burn `Flex`, f32).
pub type Cpu = burn::backend::Flex;
/// The CPU backend with reverse-mode autodiff.
pub type CpuAutodiff = burn::backend::Autodiff<Cpu>;
/// The CUDA backend (burn `Cuda`, f32).
#[cfg(feature = "cuda")]
pub type Gpu = burn::backend::Cuda;
/// The CUDA backend with reverse-mode autodiff.
#[cfg(feature = "cuda")]
pub type GpuAutodiff = burn::backend::Autodiff<Gpu>;

/// Which device a run uses (`--device`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// burn `Flex` on the CPU.
    #[default]
    Cpu,
    /// burn `Cuda` on GPU 0.
    Cuda,
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Cuda => "cuda",
        })
    }
}

impl FromStr for DeviceKind {
    type Err = BackendError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(DeviceKind::Cpu),
            "cuda" | "gpu" => Ok(DeviceKind::Cuda),
            other => Err(BackendError::UnknownDevice(other.to_string())),
        }
    }
}

/// Why a backend cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackendError {
    /// Not `cpu` or `cuda`.
    #[error("unknown device {0:?}: expected cpu or cuda")]
    UnknownDevice(String),
    /// The binary was built without the `cuda` feature.
    #[error(
        "this binary was built without CUDA support; rebuild with `--features cuda` \
         (e.g. cargo build --release -p alignrl-experiments --features cuda) or use --device cpu"
    )]
    FeatureMissing,
    /// The CUDA runtime or GPU is missing or failed.
    #[error("the CUDA device could not be used ({0}); check `nvidia-smi`, or use --device cpu")]
    DeviceUnavailable(String),
}

/// Whether `kind` can run here: builds the device and runs one small reduction on it.
pub fn probe(kind: DeviceKind) -> Result<(), BackendError> {
    match kind {
        DeviceKind::Cpu => {
            let s = tiny_sum::<Cpu>(&Default::default());
            if s == 6.0 { Ok(()) } else { Err(BackendError::DeviceUnavailable(format!("CPU sum gave {s}"))) }
        }
        DeviceKind::Cuda => probe_cuda(),
    }
}

#[cfg(feature = "cuda")]
fn probe_cuda() -> Result<(), BackendError> {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(|| tiny_sum::<Gpu>(&Default::default()));
    std::panic::set_hook(prev);
    match r {
        Ok(s) if s == 6.0 => Ok(()),
        Ok(s) => Err(BackendError::DeviceUnavailable(format!("a test sum gave {s} instead of 6"))),
        Err(p) => Err(BackendError::DeviceUnavailable(
            p.downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the CUDA runtime panicked".into()),
        )),
    }
}

#[cfg(not(feature = "cuda"))]
fn probe_cuda() -> Result<(), BackendError> {
    Err(BackendError::FeatureMissing)
}

fn tiny_sum<B: burn::tensor::backend::Backend>(device: &B::Device) -> f32 {
    let t = burn::tensor::Tensor::<B, 1>::from_floats([1.0, 2.0, 3.0], device);
    t.sum().into_scalar().elem::<f32>()
}

use burn::tensor::ElementConversion;

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tensor;

    #[test]
    fn cpu_backend_computes_a_gradient() {
        // f(x) = sum(x^2 * w), df/dx = 2 x w.
        let device = Default::default();
        let x = Tensor::<CpuAutodiff, 1>::from_floats([1.0, -2.0, 0.5], &device).require_grad();
        let w = Tensor::<CpuAutodiff, 1>::from_floats([3.0, 1.0, -4.0], &device);
        let f = (x.clone() * x.clone() * w).sum();
        let grads = f.backward();
        let g = x.grad(&grads).expect("x requires grad").into_data().to_vec::<f32>().unwrap();
        assert_eq!(g, vec![6.0, -4.0, -4.0]);
    }

    #[test]
    fn device_selection_errors_are_clear() {
        assert!(probe(DeviceKind::Cpu).is_ok());
        assert_eq!("CUDA".parse::<DeviceKind>().unwrap(), DeviceKind::Cuda);
        let e = "tpu".parse::<DeviceKind>().unwrap_err();
        assert!(e.to_string().contains("expected cpu or cuda"));
        #[cfg(not(feature = "cuda"))]
        assert_eq!(probe(DeviceKind::Cuda), Err(BackendError::FeatureMissing));
    }
}
