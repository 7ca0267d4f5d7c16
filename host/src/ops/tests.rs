//! The local operations against burn's own convolution: values and both gradients, on shapes
//! with odd sides, both strides and channel multipliers 1 and > 1.

#![allow(deprecated)] // Device::ndarray: still a selectable backend

use super::depthwise3x3_op::depthwise3x3;
use burn::backend::ops::ConvOptions;
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};

struct Case {
    name: &'static str,
    batch: usize,
    c_in: usize,
    c_out: usize,
    height: usize,
    width: usize,
    stride: usize,
}

const CASES: &[Case] = &[
    Case {
        name: "depthwise stride 1",
        batch: 2,
        c_in: 3,
        c_out: 3,
        height: 5,
        width: 7,
        stride: 1,
    },
    Case {
        name: "depthwise stride 2 odd",
        batch: 2,
        c_in: 4,
        c_out: 4,
        height: 7,
        width: 5,
        stride: 2,
    },
    Case {
        name: "depthwise stride 2 even",
        batch: 3,
        c_in: 2,
        c_out: 2,
        height: 8,
        width: 8,
        stride: 2,
    },
    Case {
        name: "stem: one channel in, 5 out, stride 2",
        batch: 2,
        c_in: 1,
        c_out: 5,
        height: 9,
        width: 6,
        stride: 2,
    },
    Case {
        name: "multiplier 3, stride 1",
        batch: 1,
        c_in: 2,
        c_out: 6,
        height: 4,
        width: 3,
        stride: 1,
    },
    Case {
        name: "1×1 image",
        batch: 2,
        c_in: 2,
        c_out: 2,
        height: 1,
        width: 1,
        stride: 2,
    },
];

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    crate::tensors::to_f32(t)
}

/// Each output and gradient element is a sum of at most `terms` products of values in
/// [-1, 1] (inputs, weights) and of gradients of a random upstream weighting in [-1, 1]. Two
/// summation orders of the same products differ by at most `terms · ε · Σ|products|` ≤
/// `terms² · ε` with ε = 2⁻²⁴ — the bound used here.
fn assert_close(name: &str, what: &str, got: &[f32], want: &[f32], terms: usize) {
    assert_eq!(got.len(), want.len(), "{name}: {what} length");
    let tol = (terms * terms) as f32 * f32::EPSILON / 2.0;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol,
            "{name}: {what}[{i}] = {g}, burn's conv2d gives {w} (tolerance {tol})"
        );
    }
}

#[test]
fn depthwise3x3_matches_burns_conv2d_and_its_gradients() {
    for device in [Device::flex(), Device::ndarray()] {
        let device = device.autodiff();
        for c in CASES {
            device.seed(7);
            let x = Tensor::<4>::random(
                [c.batch, c.c_in, c.height, c.width],
                Distribution::Uniform(-1.0, 1.0),
                &device,
            );
            let w = Tensor::<4>::random(
                [c.c_out, 1, 3, 3],
                Distribution::Uniform(-1.0, 1.0),
                &device,
            );
            let (oh, ow) = ((c.height - 1) / c.stride + 1, (c.width - 1) / c.stride + 1);
            let up = Tensor::<4>::random(
                [c.batch, c.c_out, oh, ow],
                Distribution::Uniform(-1.0, 1.0),
                &device,
            );

            let (xa, wa) = (x.clone().require_grad(), w.clone().require_grad());
            let ya = depthwise3x3(xa.clone(), wa.clone(), c.stride);
            let ga = (ya.clone() * up.clone()).sum().backward();

            let (xb, wb) = (x.require_grad(), w.require_grad());
            let options = ConvOptions::new([c.stride, c.stride], [1, 1], [1, 1], c.c_in);
            let yb = burn::tensor::module::conv2d(xb.clone(), wb.clone(), None, options);
            let gb = (yb.clone() * up).sum().backward();

            let terms = 9 * (c.batch * c.height * c.width).max(c.c_out / c.c_in);
            assert_close(c.name, "y", &values(ya), &values(yb), 9);
            let gx = |x: &Tensor<4>, g| values(x.grad(g).expect("x has a gradient"));
            assert_close(
                c.name,
                "dL/dx",
                &gx(&xa, &ga),
                &gx(&xb, &gb),
                9 * c.c_out / c.c_in,
            );
            assert_close(c.name, "dL/dw", &gx(&wa, &ga), &gx(&wb, &gb), terms);
        }
    }
}

#[test]
fn depthwise3x3_runs_without_autodiff_and_on_a_strided_view() {
    let device = Device::flex();
    let x = Tensor::<4>::from_data(
        TensorData::new(
            (0..2 * 3 * 4 * 5)
                .map(|v| v as f32 * 0.01)
                .collect::<Vec<_>>(),
            [2, 3, 4, 5],
        ),
        &device,
    );
    // A permuted (non-contiguous) input must give what its contiguous copy gives.
    let view = x.clone().permute([0, 1, 3, 2]);
    let copy = Tensor::<4>::from_data(view.clone().into_data(), &device);
    let w = Tensor::<4>::random([3, 1, 3, 3], Distribution::Uniform(-1.0, 1.0), &device);
    let a = values(depthwise3x3(view, w.clone(), 1));
    let b = values(depthwise3x3(copy, w, 1));
    assert_eq!(a, b);
}

/// BatchNorm with its fused epilogue (none, ReLU, residual add + ReLU, residual add alone): the
/// same sums of `batch · plane` terms as burn's generic kernel, in another order (and here in
/// f64); outputs and gradients within `terms · ε` of the magnitudes involved. The input is
/// centred so that the ReLU cuts about half of the elements.
#[test]
fn batch_norm_forward_matches_burns_module_values_gradients_and_running_stats() {
    use super::batch_norm_op::batch_norm_forward;
    use burn::module::Param;
    use burn::nn::BatchNormConfig;
    let epilogues = [(false, false), (false, true), (true, true), (true, false)];
    for device in [Device::flex(), Device::ndarray()] {
        let device = device.autodiff();
        for &(batch, channels, h, w) in
            &[(2usize, 3usize, 4usize, 5usize), (5, 1, 1, 1), (3, 4, 7, 3)]
        {
            for (with_residual, relu) in epilogues {
                let name = format!(
                    "batch norm {batch}×{channels}×{h}×{w}, residual {with_residual}, relu {relu}"
                );
                device.seed(11);
                let mut bn = BatchNormConfig::new(channels).init(&device);
                bn.gamma = Param::from_tensor(Tensor::random(
                    [channels],
                    Distribution::Uniform(0.5, 2.0),
                    &device,
                ));
                bn.beta = Param::from_tensor(Tensor::random(
                    [channels],
                    Distribution::Uniform(-1.0, 1.0),
                    &device,
                ));
                let dims = [batch, channels, h, w];
                let x = Tensor::<4>::random(dims, Distribution::Uniform(-2.0, 3.0), &device);
                let r = Tensor::<4>::random(dims, Distribution::Uniform(-1.0, 1.0), &device);
                let up = Tensor::<4>::random(dims, Distribution::Uniform(-1.0, 1.0), &device);
                // A separate module (a clone would share the running-state cells).
                let mut reference = BatchNormConfig::new(channels).init(&device);
                reference.gamma = Param::from_tensor(bn.gamma.val().detach());
                reference.beta = Param::from_tensor(bn.beta.val().detach());

                let (xa, ra) = (x.clone().require_grad(), r.clone().require_grad());
                let ya =
                    batch_norm_forward(&bn, xa.clone(), with_residual.then(|| ra.clone()), relu);
                let ga = (ya.clone() * up.clone()).sum().backward();
                let (xb, rb) = (x.require_grad(), r.require_grad());
                let yb = reference.forward(xb.clone());
                let yb = if with_residual { yb + rb.clone() } else { yb };
                let yb = if relu {
                    burn::tensor::activation::relu(yb)
                } else {
                    yb
                };
                let gb = (yb.clone() * up).sum().backward();

                let terms = batch * h * w;
                // y is O(gamma · |x̂|) ≤ 2 · √terms; dx is O(gamma / std · |g|).
                assert_close(&name, "y", &values(ya), &values(yb), 4 * terms);
                let g = |t: &Tensor<4>, grads| values(t.grad(grads).expect("x has a gradient"));
                assert_close(&name, "dL/dx", &g(&xa, &ga), &g(&xb, &gb), 4 * terms);
                if with_residual {
                    assert_close(&name, "dL/dresidual", &g(&ra, &ga), &g(&rb, &gb), 4 * terms);
                } else {
                    assert!(
                        ra.grad(&ga).is_none(),
                        "{name}: an unused residual has no gradient"
                    );
                }
                let p = |t: &Param<Tensor<1>>, grads| {
                    values(t.val().grad(grads).expect("a parameter gradient"))
                };
                assert_close(
                    &name,
                    "dL/dgamma",
                    &p(&bn.gamma, &ga),
                    &p(&reference.gamma, &gb),
                    4 * terms,
                );
                assert_close(
                    &name,
                    "dL/dbeta",
                    &p(&bn.beta, &ga),
                    &p(&reference.beta, &gb),
                    4 * terms,
                );
                let (rm, rv) = (&bn.running_mean, &bn.running_var);
                assert_close(
                    &name,
                    "running mean",
                    &values(rm.value()),
                    &values(reference.running_mean.value()),
                    terms,
                );
                assert_close(
                    &name,
                    "running var",
                    &values(rv.value()),
                    &values(reference.running_var.value()),
                    4 * terms,
                );
            }
        }
    }
}

/// The 1×1 op against burn's 1×1 `conv2d`: values, `dL/dx` and `dL/dW`, on odd channel counts,
/// a 1×1 plane, and batches below and above a weight-gradient chunk.
#[test]
fn pointwise_matches_burns_conv2d_and_its_gradients() {
    use super::pointwise_op::pointwise;
    use facegate_cpu_kernels::pointwise::WEIGHT_GRAD_CHUNK;
    let shapes = [
        (2usize, 3usize, 5usize, 4usize, 3usize),
        (WEIGHT_GRAD_CHUNK + 3, 7, 2, 1, 1),
        (1, 1, 1, 2, 5),
        (3, 16, 9, 3, 3),
    ];
    for device in [Device::flex(), Device::ndarray()] {
        let device = device.autodiff();
        for (batch, c_in, c_out, h, w) in shapes {
            let name = format!("pointwise {batch}×{c_in}×{h}×{w} → {c_out}");
            device.seed(5);
            let x = Tensor::<4>::random(
                [batch, c_in, h, w],
                Distribution::Uniform(-1.0, 1.0),
                &device,
            );
            let wt = Tensor::<4>::random(
                [c_out, c_in, 1, 1],
                Distribution::Uniform(-1.0, 1.0),
                &device,
            );
            let up = Tensor::<4>::random(
                [batch, c_out, h, w],
                Distribution::Uniform(-1.0, 1.0),
                &device,
            );

            let (xa, wa) = (x.clone().require_grad(), wt.clone().require_grad());
            let ya = pointwise(xa.clone(), wa.clone());
            let ga = (ya.clone() * up.clone()).sum().backward();
            let (xb, wb) = (x.require_grad(), wt.require_grad());
            let yb = burn::tensor::module::conv2d(
                xb.clone(),
                wb.clone(),
                None,
                ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
            );
            let gb = (yb.clone() * up).sum().backward();

            assert_close(&name, "y", &values(ya), &values(yb), c_in);
            let g = |t: &Tensor<4>, grads| values(t.grad(grads).expect("a gradient"));
            assert_close(&name, "dL/dx", &g(&xa, &ga), &g(&xb, &gb), c_out);
            assert_close(&name, "dL/dW", &g(&wa, &ga), &g(&wb, &gb), batch * h * w);
        }
    }
}
