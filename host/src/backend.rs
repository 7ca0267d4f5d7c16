//! Which burn backend runs the model. The code is backend-agnostic: a device is a value, and a
//! GPU backend is one cargo feature away (`--features wgpu` or `--features cuda`).

use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// The compute device for training and inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ComputeDevice {
    /// burn's pure-Rust CPU backend (flex).
    Flex,
    /// The ndarray CPU backend.
    Ndarray,
    /// The first GPU through wgpu (Vulkan/Metal/DX12); needs `--features wgpu`.
    #[cfg(feature = "wgpu")]
    Wgpu,
    /// The first CUDA GPU; needs `--features cuda`.
    #[cfg(feature = "cuda")]
    Cuda,
}

impl ComputeDevice {
    /// The plain (inference) device.
    // burn 0.22 marks `Device::ndarray` deprecated in favour of flex; the design still names
    // burn-ndarray, so it stays selectable (and measured in BENCHMARKS.md).
    #[allow(deprecated)]
    pub fn inference_device(self) -> Device {
        match self {
            Self::Flex => Device::flex(),
            Self::Ndarray => Device::ndarray(),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Device::wgpu(Default::default()),
            #[cfg(feature = "cuda")]
            Self::Cuda => Device::cuda(0),
        }
    }

    /// The same device with gradients enabled.
    pub fn training_device(self) -> Device {
        self.inference_device().autodiff()
    }
}
