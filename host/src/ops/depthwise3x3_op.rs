//! [`depthwise3x3`] as a burn operation: a backend extension with the kernels of
//! [`facegate_cpu_kernels::depthwise3x3`] on flex and burn's own `conv2d` elsewhere, and a handwritten backward
//! pass for autodiff.

// burn 0.22 marks NdArray deprecated; it stays a selectable backend (backend.rs).
#![allow(deprecated)]

use super::flex_values::{flex_tensor, is_f32, values};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ConvOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    backend_extension, Autodiff, Backend, Dispatch, Flex, NdArray, TensorMetadata,
};
use burn::prelude::*;
use facegate_cpu_kernels::depthwise3x3::{self as kernels, Depthwise3x3Shape};

/// A 3×3, padding 1, one-input-channel-per-output-channel convolution (depthwise, or the
/// one-channel stem).
///
/// # Shapes
/// - `x`: `[batch, c_in, h, w]`
/// - `weight`: `[c_out, 1, 3, 3]`, `c_out` a multiple of `c_in`
/// - output: `[batch, c_out, (h − 1) / stride + 1, (w − 1) / stride + 1]`
pub fn depthwise3x3(x: Tensor<4>, weight: Tensor<4>, stride: usize) -> Tensor<4> {
    let out = <Dispatch as Depthwise3x3Backend>::depthwise3x3(
        x.into_dispatch(),
        weight.into_dispatch(),
        stride,
    );
    Tensor::from_dispatch(out)
}

fn options(stride: usize, groups: usize) -> ConvOptions<2> {
    ConvOptions::new([stride, stride], [1, 1], [1, 1], groups)
}

fn shape_of(x: &impl TensorMetadata, c_out: usize, stride: usize) -> Depthwise3x3Shape {
    let d = x.shape();
    Depthwise3x3Shape {
        batch: d[0],
        c_in: d[1],
        c_out,
        height: d[2],
        width: d[3],
        stride,
    }
}

/// The operation and its two gradients, per backend. The defaults are burn's generic
/// convolution and its generic gradients; flex overrides all three with the slice kernels.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait Depthwise3x3Backend: Backend {
    /// The forward convolution.
    fn depthwise3x3(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
    ) -> FloatTensor<Self> {
        let groups = x.shape()[1];
        Self::conv2d(x, weight, None, options(stride, groups))
    }

    /// `dL/dx`.
    fn depthwise3x3_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        stride: usize,
    ) -> FloatTensor<Self> {
        let groups = x.shape()[1];
        Self::conv2d_x_backward(x, weight, grad, options(stride, groups))
    }

    /// `dL/dweight`.
    fn depthwise3x3_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        stride: usize,
    ) -> FloatTensor<Self> {
        let groups = x.shape()[1];
        Self::conv2d_weight_backward(x, weight, grad, options(stride, groups))
    }
}

impl Depthwise3x3Backend for NdArray {}

impl Depthwise3x3Backend for Flex {
    fn depthwise3x3(x: FlexTensor, weight: FlexTensor, stride: usize) -> FlexTensor {
        if !is_f32(&[&x, &weight]) {
            let groups = x.shape()[1];
            return Self::conv2d(x, weight, None, options(stride, groups));
        }
        let shape = shape_of(&x, weight.shape()[0], stride);
        let y = kernels::forward(&values(&x), &values(&weight), &shape);
        flex_tensor(
            y,
            [
                shape.batch,
                shape.c_out,
                shape.out_height(),
                shape.out_width(),
            ],
        )
    }

    fn depthwise3x3_input_grad(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        stride: usize,
    ) -> FlexTensor {
        if !is_f32(&[&x, &weight, &grad]) {
            let groups = x.shape()[1];
            return Self::conv2d_x_backward(x, weight, grad, options(stride, groups));
        }
        let shape = shape_of(&x, weight.shape()[0], stride);
        let gx = kernels::input_grad(&values(&grad), &values(&weight), &shape);
        flex_tensor(gx, [shape.batch, shape.c_in, shape.height, shape.width])
    }

    fn depthwise3x3_weight_grad(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        stride: usize,
    ) -> FlexTensor {
        if !is_f32(&[&x, &weight, &grad]) {
            let groups = x.shape()[1];
            return Self::conv2d_weight_backward(x, weight, grad, options(stride, groups));
        }
        let shape = shape_of(&x, weight.shape()[0], stride);
        let gw = kernels::weight_grad(&values(&x), &values(&grad), &shape);
        flex_tensor(gw, [shape.c_out, 1, 3, 3])
    }
}

#[derive(Debug)]
struct Depthwise3x3Backward;

impl<B: Backend + Depthwise3x3Backend> Backward<B, 2> for Depthwise3x3Backward {
    type State = (NodeId, NodeId, usize);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, stride) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        let weight = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight_state);
        if let Some(node) = node_x {
            let gx = B::depthwise3x3_input_grad(x.clone(), weight.clone(), grad.clone(), stride);
            grads.register::<B>(node.id, gx);
        }
        if let Some(node) = node_weight {
            let gw = B::depthwise3x3_weight_grad(x, weight, grad, stride);
            grads.register::<B>(node.id, gw);
        }
    }
}

impl<B: Backend + Depthwise3x3Backend, C: CheckpointStrategy> Depthwise3x3Backend
    for Autodiff<B, C>
{
    fn depthwise3x3(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
    ) -> FloatTensor<Self> {
        match Depthwise3x3Backward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let y = B::depthwise3x3(x.into_primitive(), weight.into_primitive(), stride);
                prep.finish((x_state, weight_state, stride), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::depthwise3x3(
                x.into_primitive(),
                weight.into_primitive(),
                stride,
            )),
        }
    }
}
