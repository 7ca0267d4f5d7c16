//! The embedder with BatchNorm folded into its convolutions, as plain `f32` arrays.
//!
//! This is the one form every exporter reads: the ONNX writer emits it as a float graph, and the
//! quantiser turns it into the int8 `.fgm` blob. [`FoldedEmbedder::forward`] is a plain-Rust float
//! reference of the same network (NCHW, no burn), with taps on every activation the int8 engine
//! quantises; calibration records ranges from those taps.
//!
//! Folding: a convolution `W` without bias followed by BatchNorm `(γ, β, μ, σ², ε)` in evaluation
//! mode equals the convolution with `W'[o] = W[o]·γ[o]/√(σ²[o]+ε)` and bias `β[o] − μ[o]·γ[o]/√(σ²[o]+ε)`.

use crate::model::{ConvBn, Embedder, EmbedderConfig};
use crate::tensors::to_f32;

/// A 2-D convolution with its BatchNorm folded in.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedConv {
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Square kernel side.
    pub kernel: usize,
    /// Stride (both axes).
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
    /// Groups: 1 for a full convolution, `c_in` for a depthwise one.
    pub groups: usize,
    /// Weights `[c_out][c_in / groups][kernel][kernel]` (ONNX / burn `OIHW`).
    pub weight: Vec<f32>,
    /// Bias `[c_out]`.
    pub bias: Vec<f32>,
}

impl FoldedConv {
    /// Input channels each output channel reads.
    pub fn c_in_per_group(&self) -> usize {
        self.c_in / self.groups
    }

    /// Output side for an input side.
    pub fn output_side(&self, input_side: usize) -> usize {
        (input_side + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// The float convolution of an NCHW `[c_in][side][side]` image.
    pub fn forward(&self, input: &[f32], side: usize) -> Vec<f32> {
        let out_side = self.output_side(side);
        let per_group_in = self.c_in_per_group();
        let per_group_out = self.c_out / self.groups;
        let k = self.kernel;
        let mut out = vec![0.0f32; self.c_out * out_side * out_side];
        for o in 0..self.c_out {
            let group = o / per_group_out;
            for oy in 0..out_side {
                for ox in 0..out_side {
                    let mut acc = self.bias[o];
                    for ci in 0..per_group_in {
                        let channel = group * per_group_in + ci;
                        for ky in 0..k {
                            let iy = (oy * self.stride + ky) as isize - self.padding as isize;
                            if iy < 0 || iy >= side as isize {
                                continue;
                            }
                            for kx in 0..k {
                                let ix = (ox * self.stride + kx) as isize - self.padding as isize;
                                if ix < 0 || ix >= side as isize {
                                    continue;
                                }
                                let x = input[(channel * side + iy as usize) * side + ix as usize];
                                let w = self.weight[((o * per_group_in + ci) * k + ky) * k + kx];
                                acc += x * w;
                            }
                        }
                    }
                    out[(o * out_side + oy) * out_side + ox] = acc;
                }
            }
        }
        out
    }

    fn fold(layer: &ConvBn) -> Self {
        let conv = &layer.conv;
        let [c_out, per_group_in, kernel, _] = conv.weight.val().dims();
        let weight = to_f32(conv.weight.val());
        let bn = &layer.bn;
        let gamma = to_f32(bn.gamma.val());
        let beta = to_f32(bn.beta.val());
        let mean = to_f32(bn.running_mean.value());
        let var = to_f32(bn.running_var.value());
        let per_out = weight.len() / c_out;
        let mut folded = Vec::with_capacity(weight.len());
        let mut bias = Vec::with_capacity(c_out);
        for o in 0..c_out {
            let scale = (f64::from(gamma[o]) / (f64::from(var[o]) + bn.epsilon).sqrt()) as f32;
            folded.extend(
                weight[o * per_out..(o + 1) * per_out]
                    .iter()
                    .map(|w| w * scale),
            );
            let conv_bias = conv.bias.as_ref().map_or(0.0, |b| to_f32(b.val())[o]);
            bias.push(beta[o] + (conv_bias - mean[o]) * scale);
        }
        Self {
            c_in: per_group_in * conv.groups,
            c_out,
            kernel,
            stride: conv.stride[0],
            padding: kernel / 2,
            groups: conv.groups,
            weight: folded,
            bias,
        }
    }
}

/// A fully connected layer.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedDense {
    /// Input features.
    pub c_in: usize,
    /// Output features.
    pub c_out: usize,
    /// Weights `[c_out][c_in]` (ONNX `Gemm` with `transB = 1`).
    pub weight: Vec<f32>,
    /// Bias `[c_out]`.
    pub bias: Vec<f32>,
}

impl FoldedDense {
    /// `W·x + b`.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        (0..self.c_out)
            .map(|o| {
                let row = &self.weight[o * self.c_in..(o + 1) * self.c_in];
                self.bias[o] + row.iter().zip(x).map(|(w, v)| w * v).sum::<f32>()
            })
            .collect()
    }
}

/// One depthwise-separable block, folded.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedBlock {
    /// Depthwise 3×3 (followed by ReLU).
    pub depthwise: FoldedConv,
    /// Pointwise 1×1 (followed by the residual add if any, then ReLU).
    pub pointwise: FoldedConv,
    /// Whether the block's input is added to the pointwise output.
    pub residual: bool,
}

/// The whole embedder, folded.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedEmbedder {
    /// Side of the square grey input.
    pub input_side: usize,
    /// 3×3 stride-2 stem (followed by ReLU).
    pub stem: FoldedConv,
    /// The blocks in order.
    pub blocks: Vec<FoldedBlock>,
    /// Projection of the globally pooled features.
    pub projection: FoldedDense,
}

/// Every activation of one forward pass, in the order the int8 engine produces them.
#[derive(Debug, Clone, Default)]
pub struct Activations {
    /// Named NCHW activations (`stem`, `block3.depthwise`, `block3.pointwise`, `block3.out`,
    /// `pool`, `projection`), each after its fused ReLU if it has one.
    pub taps: Vec<(String, Vec<f32>)>,
    /// The L2-normalised embedding.
    pub embedding: Vec<f32>,
}

impl FoldedEmbedder {
    /// Folds a trained embedder.
    pub fn fold(model: &Embedder, config: &EmbedderConfig) -> Self {
        let projection = &model.projection;
        let [c_in, c_out] = projection.weight.val().dims();
        let w = to_f32(projection.weight.val()); // [in][out]
        let mut weight = vec![0.0; c_in * c_out];
        for i in 0..c_in {
            for o in 0..c_out {
                weight[o * c_in + i] = w[i * c_out + o];
            }
        }
        let bias = projection
            .bias
            .as_ref()
            .map_or_else(|| vec![0.0; c_out], |b| to_f32(b.val()));
        Self {
            input_side: config.input_side,
            stem: FoldedConv::fold(&model.stem),
            blocks: model
                .blocks
                .iter()
                .map(|b| FoldedBlock {
                    depthwise: FoldedConv::fold(&b.depthwise),
                    pointwise: FoldedConv::fold(&b.pointwise),
                    residual: b.residual,
                })
                .collect(),
            projection: FoldedDense {
                c_in,
                c_out,
                weight,
                bias,
            },
        }
    }

    /// Embedding length.
    pub fn embedding_dim(&self) -> usize {
        self.projection.c_out
    }

    /// Float forward pass of one `[side][side]` image already mapped to model inputs, with taps.
    pub fn forward(&self, input: &[f32]) -> Activations {
        let relu = |v: &mut Vec<f32>| v.iter_mut().for_each(|x| *x = x.max(0.0));
        let mut taps = Vec::new();
        let mut side = self.input_side;
        let mut x = self.stem.forward(input, side);
        side = self.stem.output_side(side);
        relu(&mut x);
        taps.push(("stem".to_string(), x.clone()));
        for (i, block) in self.blocks.iter().enumerate() {
            let mut y = block.depthwise.forward(&x, side);
            let out_side = block.depthwise.output_side(side);
            relu(&mut y);
            taps.push((format!("block{i}.depthwise"), y.clone()));
            let mut z = block.pointwise.forward(&y, out_side);
            if block.residual {
                taps.push((format!("block{i}.pointwise"), z.clone()));
                z.iter_mut().zip(&x).for_each(|(a, b)| *a += b);
            }
            relu(&mut z);
            taps.push((format!("block{i}.out"), z.clone()));
            x = z;
            side = out_side;
        }
        let area = (side * side) as f32;
        let pooled: Vec<f32> = x
            .chunks(side * side)
            .map(|c| c.iter().sum::<f32>() / area)
            .collect();
        taps.push(("pool".to_string(), pooled.clone()));
        let raw = self.projection.forward(&pooled);
        taps.push(("projection".to_string(), raw.clone()));
        let norm = raw.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-6);
        Activations {
            taps,
            embedding: raw.iter().map(|v| v / norm).collect(),
        }
    }
}

/// Gives every BatchNorm random, non-identity parameters and statistics, so that tests of
/// folding, export and quantisation exercise them (a fresh model's are the identity).
pub fn randomize_batchnorm(model: &mut Embedder, device: &burn::prelude::Device) {
    use burn::module::{Param, RunningState};
    use burn::prelude::Tensor;
    use burn::tensor::Distribution;
    let randomize = |bn: &mut burn::nn::BatchNorm| {
        let n = bn.gamma.val().dims()[0];
        let r = |lo, hi| Tensor::<1>::random([n], Distribution::Uniform(lo, hi), device);
        bn.gamma = Param::from_tensor(r(0.5, 1.5));
        bn.beta = Param::from_tensor(r(-0.3, 0.3));
        bn.running_mean = RunningState::new(r(-0.2, 0.2));
        bn.running_var = RunningState::new(r(0.3, 2.0));
    };
    randomize(&mut model.stem.bn);
    for block in &mut model.blocks {
        randomize(&mut block.depthwise.bn);
        randomize(&mut block.pointwise.bn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensors::floats;
    use burn::prelude::*;
    use facegate_shared::preprocess::input_f32;

    #[test]
    fn folded_forward_matches_burn() {
        let device = Device::flex();
        let config = EmbedderConfig::tiny_residual();
        let mut model = config.init(&device);
        randomize_batchnorm(&mut model, &device);
        let folded = FoldedEmbedder::fold(&model, &config);
        let pixels: Vec<u8> = (0..32 * 32).map(|i| ((i * 37) % 256) as u8).collect();
        let input: Vec<f32> = pixels.iter().map(|&p| input_f32(p)).collect();
        let expected = to_f32(model.forward(floats(input.clone(), [1, 1, 32, 32], &device)));
        let got = folded.forward(&input).embedding;
        let worst = expected
            .iter()
            .zip(&got)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "max |Δ| {worst}");
        assert_eq!(got.len(), config.embedding_dim);
    }
}
