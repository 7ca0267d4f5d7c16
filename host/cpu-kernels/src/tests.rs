//! Properties of the kernels on their own; their values and gradients are checked against
//! burn's convolution and BatchNorm in the host's `ops` tests.

use crate::batch_norm::{self, BatchNormSaved, BatchNormShape, Epilogue};
use crate::depthwise3x3::{self, Depthwise3x3Shape};
use crate::pointwise::{self, PointwiseShape};

/// The kernels sum in a fixed order: 1 thread and 3 threads give the same bits.
#[test]
fn kernels_do_not_depend_on_the_thread_count() {
    let pw = PointwiseShape {
        batch: 19,
        c_in: 6,
        c_out: 5,
        plane: 12,
    };
    let bn = BatchNormShape {
        batch: 19,
        channels: 6,
        plane: 12,
    };
    let n = pw.batch * pw.c_in * pw.plane;
    let x: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let g: Vec<f32> = (0..pw.batch * pw.c_out * pw.plane)
        .map(|i| ((i * 104_729) % 997) as f32 / 498.5 - 1.0)
        .collect();
    let w: Vec<f32> = (0..pw.c_out * pw.c_in)
        .map(|i| i as f32 / 15.0 - 1.0)
        .collect();
    let gamma = vec![1.5f32; bn.channels];
    let run = || {
        let fwd = batch_norm::forward(
            &x,
            &gamma,
            &gamma,
            1e-5,
            Epilogue {
                residual: Some(&x),
                relu: true,
            },
            &bn,
        );
        let saved = BatchNormSaved {
            x: &x,
            gamma: &gamma,
            mean: &fwd.mean,
            variance: &fwd.variance,
            relu_output: Some(&fwd.output),
            epsilon: 1e-5,
        };
        let back = batch_norm::backward(saved, &x, true, &bn);
        let pointwise = (
            pointwise::forward(&x, &w, &pw),
            pointwise::input_grad(&g, &w, &pw),
            pointwise::weight_grad(&x, &g, &pw),
        );
        // Both strides, odd sides: [19, 6, 3, 4] is x's size.
        let depthwise: Vec<_> = [1, 2]
            .into_iter()
            .map(|stride| {
                let dw = Depthwise3x3Shape {
                    batch: 19,
                    c_in: 6,
                    c_out: 6,
                    height: 3,
                    width: 4,
                    stride,
                };
                let (_, y_len, _) = dw.lens();
                let w9: Vec<f32> = (0..dw.c_out * 9).map(|i| i as f32 / 27.0 - 1.0).collect();
                (
                    depthwise3x3::forward(&x, &w9, &dw),
                    depthwise3x3::input_grad(&x[..y_len], &w9, &dw),
                    depthwise3x3::weight_grad(&x, &x[..y_len], &dw),
                )
            })
            .collect();
        (pointwise, depthwise, fwd, back)
    };
    let pool = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool")
    };
    assert_eq!(pool(1).install(run), pool(3).install(run));
}
