//! The face embedder: a small depthwise-separable CNN sized for the device.
//!
//! Budgets (from the design): ≤ 250 k parameters, ≤ 12 M multiply-accumulates per embedding, and an
//! int8 activation arena that fits in 64 KiB of RAM together with everything else. The default
//! ([`EmbedderConfig::default_device`]) has ~120 k parameters, ~6.3 M MACs and a peak of two live
//! int8 activations of 32 KiB (16×16×64 in and out).
//!
//! Layout (MobileFaceNet-style, without expansion): a 3×3 stride-2 stem, then blocks of
//! depthwise 3×3 (stride 1 or 2) + BatchNorm + ReLU → pointwise 1×1 + BatchNorm (+ ReLU), with a
//! residual add where shape allows, global average pooling, a linear projection and L2
//! normalisation. BatchNorm is folded into the convolutions at export.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// One depthwise-separable block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockSpec {
    /// Output channels of the pointwise convolution.
    pub channels: usize,
    /// Stride of the depthwise convolution (1 or 2).
    pub stride: usize,
}

/// Every shape of the embedder.
#[derive(Config, Debug, PartialEq)]
pub struct EmbedderConfig {
    /// Side of the square grey input, in pixels.
    #[config(default = 64)]
    pub input_side: usize,
    /// Output channels of the 3×3 stride-2 stem convolution.
    #[config(default = 16)]
    pub stem_channels: usize,
    /// The depthwise-separable blocks, in order.
    pub blocks: Vec<BlockSpec>,
    /// Length of the L2-normalised embedding.
    #[config(default = 128)]
    pub embedding_dim: usize,
}

impl EmbedderConfig {
    /// The device model: 64×64 grey in, 128-d embedding out.
    pub fn default_device() -> Self {
        let b = |channels, stride| BlockSpec { channels, stride };
        Self::new(vec![
            b(64, 2),
            b(64, 1),
            b(64, 1),
            b(128, 2),
            b(128, 1),
            b(128, 1),
            b(256, 2),
        ])
    }

    /// A tiny model for tests: 32×32 input, a few thousand parameters.
    pub fn tiny() -> Self {
        let b = |channels, stride| BlockSpec { channels, stride };
        Self::new(vec![b(16, 2), b(32, 2)])
            .with_input_side(32)
            .with_stem_channels(8)
            .with_embedding_dim(16)
    }

    /// Like [`Self::tiny`] with a residual block between the two strided ones: the smallest
    /// model that has every operator of the device model (export and quantisation tests).
    pub fn tiny_residual() -> Self {
        let b = |channels, stride| BlockSpec { channels, stride };
        Self {
            blocks: vec![b(16, 2), b(16, 1), b(32, 2)],
            ..Self::tiny()
        }
    }

    /// Builds the embedder with freshly initialised weights.
    pub fn init(&self, device: &Device) -> Embedder {
        let stem = ConvBn::new(1, self.stem_channels, 3, 2, 1, device);
        let mut channels = self.stem_channels;
        let blocks = self
            .blocks
            .iter()
            .map(|spec| {
                let block = SeparableBlock::new(channels, *spec, device);
                channels = spec.channels;
                block
            })
            .collect();
        Embedder {
            stem,
            blocks,
            projection: LinearConfig::new(channels, self.embedding_dim).init(device),
            relu: Relu::new(),
        }
    }

    /// Spatial side after every stride: the stem halves, each stride-2 block halves again.
    pub fn output_sides(&self) -> Vec<usize> {
        let mut side = self.input_side.div_ceil(2);
        let mut sides = vec![side];
        for b in &self.blocks {
            side = side.div_ceil(b.stride);
            sides.push(side);
        }
        sides
    }

    /// Multiply-accumulates for one embedding.
    pub fn macs(&self) -> u64 {
        let sides = self.output_sides();
        let area = |s: usize| (s * s) as u64;
        let mut total = area(sides[0]) * self.stem_channels as u64 * 9;
        let mut c_in = self.stem_channels as u64;
        for (b, side) in self.blocks.iter().zip(&sides[1..]) {
            let c_out = b.channels as u64;
            total += area(*side) * c_in * 9 + area(*side) * c_in * c_out;
            c_in = c_out;
        }
        total + c_in * self.embedding_dim as u64
    }
}

/// A convolution followed by BatchNorm (folded at export).
#[derive(Module, Debug)]
pub struct ConvBn {
    /// The convolution (no bias: BatchNorm's shift replaces it).
    pub conv: Conv2d,
    /// The normalisation.
    pub bn: BatchNorm,
}

impl ConvBn {
    fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        groups: usize,
        device: &Device,
    ) -> Self {
        let pad = kernel / 2;
        let conv = Conv2dConfig::new([c_in, c_out], [kernel, kernel])
            .with_stride([stride, stride])
            .with_groups(groups)
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_bias(false)
            .init(device);
        Self {
            conv,
            bn: BatchNormConfig::new(c_out).init(device),
        }
    }

    /// `relu(bn(conv(x)) + residual)`, the add only when `residual` is given.
    fn forward_relu(&self, x: Tensor<4>, residual: Option<Tensor<4>>) -> Tensor<4> {
        let y = if is_depthwise3x3(&self.conv) && crate::ops::runs_local_ops(&x.device()) {
            // Depthwise layers and the one-channel stem: the local op, whose gradients are
            // one pass each instead of burn's transposed grouped convolution (ops/).
            crate::ops::depthwise3x3_op::depthwise3x3(
                x,
                self.conv.weight.val(),
                self.conv.stride[0],
            )
        } else if is_pointwise(&self.conv) && crate::ops::runs_local_ops(&x.device()) {
            // 1×1: per-image matrix products, whose gradients are matrix products too
            // (burn's conv2d path adds im2col-style layout copies around the same GEMMs).
            crate::ops::pointwise_op::pointwise(x, self.conv.weight.val())
        } else {
            self.conv.forward(x)
        };
        // BatchNorm, the add and the ReLU in one local operation (ops/batch_norm_op.rs).
        crate::ops::batch_norm_op::batch_norm_forward(&self.bn, y, residual, true)
    }
}

/// Whether a convolution is a plain 1×1: stride 1, no padding, one group, no bias.
fn is_pointwise(conv: &Conv2d) -> bool {
    let [_, _, kh, kw] = conv.weight.dims();
    [kh, kw] == [1, 1]
        && conv.bias.is_none()
        && conv.stride == [1, 1]
        && conv.groups == 1
        && conv.padding == PaddingConfig2d::Explicit(0, 0, 0, 0)
}

/// Whether a convolution is what [`crate::ops::depthwise3x3_op::depthwise3x3`] computes: 3×3,
/// padding 1, equal strides of 1 or 2, no dilation, no bias, one input channel per group.
fn is_depthwise3x3(conv: &Conv2d) -> bool {
    let [c_out, c_in_per_group, kh, kw] = conv.weight.dims();
    c_in_per_group == 1
        && [kh, kw] == [3, 3]
        && conv.bias.is_none()
        && conv.stride[0] == conv.stride[1]
        && matches!(conv.stride[0], 1 | 2)
        && conv.dilation == [1, 1]
        && conv.padding == PaddingConfig2d::Explicit(1, 1, 1, 1)
        && c_out % conv.groups == 0
}

/// Depthwise 3×3 + BN + ReLU, pointwise 1×1 + BN + ReLU, plus the input when shapes match.
#[derive(Module, Debug)]
pub struct SeparableBlock {
    /// Depthwise 3×3 convolution (groups = channels).
    pub depthwise: ConvBn,
    /// Pointwise 1×1 convolution.
    pub pointwise: ConvBn,
    /// Whether the block adds its input to its output (stride 1, same channels).
    pub residual: bool,
}

impl SeparableBlock {
    fn new(c_in: usize, spec: BlockSpec, device: &Device) -> Self {
        Self {
            depthwise: ConvBn::new(c_in, c_in, 3, spec.stride, c_in, device),
            pointwise: ConvBn::new(c_in, spec.channels, 1, 1, 1, device),
            residual: spec.stride == 1 && c_in == spec.channels,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.depthwise.forward_relu(x.clone(), None);
        self.pointwise.forward_relu(y, self.residual.then_some(x))
    }
}

/// The embedder.
///
/// # Shapes
/// - input: `[batch, 1, side, side]`, pixels as `(p − 128) / 128`
/// - output: `[batch, embedding_dim]`, unit L2 norm
#[derive(Module, Debug)]
pub struct Embedder {
    /// 3×3 stride-2 stem.
    pub stem: ConvBn,
    /// Depthwise-separable blocks.
    pub blocks: Vec<SeparableBlock>,
    /// Linear projection of the pooled features to the embedding.
    pub projection: Linear,
    /// The activation after every BatchNorm (applied inside [`ConvBn`]'s fused operation; kept
    /// as a field so saved records keep their layout).
    relu: Relu,
}

impl Embedder {
    /// Unnormalised embeddings (the projection's output).
    pub fn forward_raw(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem.forward_relu(images, None);
        for block in &self.blocks {
            x = block.forward(x);
        }
        // Global average pooling: [b, c, h, w] → [b, c].
        let pooled = x.mean_dim(3).mean_dim(2).flatten::<2>(1, 3);
        self.projection.forward(pooled)
    }

    /// L2-normalised embeddings.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        l2_normalize_rows(self.forward_raw(images))
    }
}

/// Divides every row by its L2 norm (with a floor of 1e-6 so a zero row stays finite).
pub fn l2_normalize_rows(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().square().sum_dim(1).sqrt().clamp_min(1e-6);
    x / norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_model_fits_the_device_budgets() {
        let cfg = EmbedderConfig::default_device();
        let model = cfg.init(&Device::flex());
        let params = model.num_params();
        eprintln!("default embedder: {params} parameters, {} MACs", cfg.macs());
        assert!(params <= 250_000, "{params} parameters");
        let macs = cfg.macs();
        assert!(macs <= 12_000_000, "{macs} MACs");
        assert_eq!(cfg.output_sides(), vec![32, 16, 16, 16, 8, 8, 8, 4]);
    }

    #[test]
    fn embeddings_have_unit_norm_and_the_configured_size() {
        let device = Device::flex();
        let cfg = EmbedderConfig::tiny();
        let model = cfg.init(&device);
        let x = Tensor::<4>::random([3, 1, 32, 32], burn::tensor::Distribution::Default, &device);
        let e = model.forward(x);
        assert_eq!(e.dims(), [3, 16]);
        let norms = crate::tensors::to_f32(e.square().sum_dim(1).sqrt());
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5), "{norms:?}");
    }
}
