//! Per-layer forward+backward time of the default embedder's convolution + BatchNorm + ReLU
//! layers at the training batch (45 × 2 = 90 images), with burn's modules (`Conv2d`,
//! `BatchNorm`, `Relu`) and with the local operations the model uses on the CPU backends
//! (host/src/ops: depthwise 3×3, 1×1 as per-image matrix products, fused BatchNorm + ReLU):
//! which layers a training step spends its time in, and what the local operations buy.
//!
//! `cargo run -p facegate --example layer_timing [-- repeat]` (BENCHMARKS.md, "Where the step goes")

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::Distribution;
use facegate::ops::batch_norm_op::batch_norm_forward;
use facegate::ops::depthwise3x3_op::depthwise3x3;
use facegate::ops::pointwise_op::pointwise;
use std::time::Instant;

/// One layer of the default embedder.
struct Layer {
    name: &'static str,
    c_in: usize,
    c_out: usize,
    kernel: usize,
    stride: usize,
    groups: usize,
    side: usize,
}

const LAYERS: &[Layer] = &[
    Layer {
        name: "stem 3x3/2 1->16 @64",
        c_in: 1,
        c_out: 16,
        kernel: 3,
        stride: 2,
        groups: 1,
        side: 64,
    },
    Layer {
        name: "dw 3x3/2 16 @32",
        c_in: 16,
        c_out: 16,
        kernel: 3,
        stride: 2,
        groups: 16,
        side: 32,
    },
    Layer {
        name: "pw 16->64 @16",
        c_in: 16,
        c_out: 64,
        kernel: 1,
        stride: 1,
        groups: 1,
        side: 16,
    },
    Layer {
        name: "dw 3x3/1 64 @16 (x2)",
        c_in: 64,
        c_out: 64,
        kernel: 3,
        stride: 1,
        groups: 64,
        side: 16,
    },
    Layer {
        name: "pw 64->64 @16 (x2)",
        c_in: 64,
        c_out: 64,
        kernel: 1,
        stride: 1,
        groups: 1,
        side: 16,
    },
    Layer {
        name: "dw 3x3/2 64 @16",
        c_in: 64,
        c_out: 64,
        kernel: 3,
        stride: 2,
        groups: 64,
        side: 16,
    },
    Layer {
        name: "pw 64->128 @8",
        c_in: 64,
        c_out: 128,
        kernel: 1,
        stride: 1,
        groups: 1,
        side: 8,
    },
    Layer {
        name: "dw 3x3/1 128 @8 (x2)",
        c_in: 128,
        c_out: 128,
        kernel: 3,
        stride: 1,
        groups: 128,
        side: 8,
    },
    Layer {
        name: "pw 128->128 @8 (x2)",
        c_in: 128,
        c_out: 128,
        kernel: 1,
        stride: 1,
        groups: 1,
        side: 8,
    },
    Layer {
        name: "dw 3x3/2 128 @8",
        c_in: 128,
        c_out: 128,
        kernel: 3,
        stride: 2,
        groups: 128,
        side: 8,
    },
    Layer {
        name: "pw 128->256 @4",
        c_in: 128,
        c_out: 256,
        kernel: 1,
        stride: 1,
        groups: 1,
        side: 4,
    },
];

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2] * 1e3
}

/// The local convolution, as `ConvBn::forward_relu` in host/src/model.rs runs it.
fn local_conv(layer: &Layer, conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if layer.kernel == 3 {
        depthwise3x3(x, conv.weight.val(), layer.stride)
    } else {
        pointwise(x, conv.weight.val())
    }
}

fn main() {
    let repeat: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let device = Device::flex().autodiff();
    let batch = 90;
    println!("flex, batch {batch}, median of {repeat}; ms of forward + backward");
    println!("| layer | burn conv | burn conv+BN+ReLU | local conv | local conv+BN+ReLU |");
    println!("|---|---:|---:|---:|---:|");
    for layer in LAYERS {
        let p = layer.kernel / 2;
        let conv = Conv2dConfig::new([layer.c_in, layer.c_out], [layer.kernel; 2])
            .with_stride([layer.stride; 2])
            .with_groups(layer.groups)
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .with_bias(false)
            .init(&device);
        let bn = BatchNormConfig::new(layer.c_out).init(&device);
        let dims = [batch, layer.c_in, layer.side, layer.side];
        let x = Tensor::<4>::random(dims, Distribution::Default, &device).require_grad();
        let variants: [&dyn Fn() -> Tensor<4>; 4] = [
            &|| conv.forward(x.clone()),
            &|| burn::tensor::activation::relu(bn.forward(conv.forward(x.clone()))),
            &|| local_conv(layer, &conv, x.clone()),
            &|| batch_norm_forward(&bn, local_conv(layer, &conv, x.clone()), None, true),
        ];
        let mut cells = Vec::new();
        for variant in variants {
            let mut samples = Vec::new();
            for i in 0..repeat + 2 {
                let started = Instant::now();
                let _grads = variant().sum().backward();
                if i >= 2 {
                    samples.push(started.elapsed().as_secs_f64());
                }
            }
            cells.push(format!("{:.1}", median_ms(samples)));
        }
        println!("| {} | {} |", layer.name, cells.join(" | "));
    }
}
