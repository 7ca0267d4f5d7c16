//! Time of each kernel alone on the default embedder's layer shapes at the training batch (90):
//! `cargo run -p facegate-cpu-kernels --example kernel_timing [-- repeat]`.

use facegate_cpu_kernels::batch_norm::{self, BatchNormSaved, BatchNormShape, Epilogue};
use facegate_cpu_kernels::depthwise3x3::{self, Depthwise3x3Shape};
use facegate_cpu_kernels::pointwise::{self, PointwiseShape};
use std::time::Instant;

fn median_ms(repeat: usize, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..repeat + 1)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .skip(1)
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn data(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0)
        .collect()
}

fn main() {
    let repeat: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let b = 90;
    println!("batch {b}, median of {repeat}, ms: forward | dL/dx | dL/dw");
    // (c_in, c_out, side, stride)
    for (ci, co, side, stride) in [
        (1, 16, 64, 2),
        (16, 16, 32, 2),
        (64, 64, 16, 1),
        (64, 64, 16, 2),
        (128, 128, 8, 1),
        (128, 128, 8, 2),
    ] {
        let s = Depthwise3x3Shape {
            batch: b,
            c_in: ci,
            c_out: co,
            height: side,
            width: side,
            stride,
        };
        let (xl, yl, wl) = s.lens();
        let (x, g, w) = (data(xl), data(yl), data(wl));
        let f = median_ms(repeat, || drop(depthwise3x3::forward(&x, &w, &s)));
        let dx = median_ms(repeat, || drop(depthwise3x3::input_grad(&g, &w, &s)));
        let dw = median_ms(repeat, || drop(depthwise3x3::weight_grad(&x, &g, &s)));
        println!("depthwise {ci}->{co} @{side} /{stride}: {f:.2} | {dx:.2} | {dw:.2}");
    }
    for (ci, co, side) in [
        (16, 64, 16),
        (64, 64, 16),
        (64, 128, 8),
        (128, 128, 8),
        (128, 256, 4),
    ] {
        let s = PointwiseShape {
            batch: b,
            c_in: ci,
            c_out: co,
            plane: side * side,
        };
        let (x, g, w) = (
            data(b * ci * side * side),
            data(b * co * side * side),
            data(ci * co),
        );
        let f = median_ms(repeat, || drop(pointwise::forward(&x, &w, &s)));
        let dx = median_ms(repeat, || drop(pointwise::input_grad(&g, &w, &s)));
        let dw = median_ms(repeat, || drop(pointwise::weight_grad(&x, &g, &s)));
        let gmac = |ms: f64| (b * ci * co * side * side) as f64 / ms / 1e6;
        println!("pointwise {ci}->{co} @{side}: {f:.2} | {dx:.2} | {dw:.2}  ({:.1} | {:.1} | {:.1} GMAC/s)", gmac(f), gmac(dx), gmac(dw));
    }
    for (c, side) in [(16, 32), (64, 16), (128, 8)] {
        let s = BatchNormShape {
            batch: b,
            channels: c,
            plane: side * side,
        };
        let x = data(b * c * side * side);
        let gamma = vec![1.0f32; c];
        let e = Epilogue {
            residual: Some(&x),
            relu: true,
        };
        let f = median_ms(repeat, || {
            drop(batch_norm::forward(&x, &gamma, &gamma, 1e-5, e, &s))
        });
        let out = batch_norm::forward(&x, &gamma, &gamma, 1e-5, e, &s);
        let saved = BatchNormSaved {
            x: &x,
            gamma: &gamma,
            mean: &out.mean,
            variance: &out.variance,
            relu_output: Some(&out.output),
            epsilon: 1e-5,
        };
        let bw = median_ms(repeat, || drop(batch_norm::backward(saved, &x, true, &s)));
        println!("batch norm + residual + relu {c} @{side}: {f:.2} | {bw:.2}");
    }
}
