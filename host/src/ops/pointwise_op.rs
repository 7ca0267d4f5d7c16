//! [`pointwise`] (a 1×1 convolution) as a burn operation: a backend extension with the
//! kernels of [`facegate_cpu_kernels::pointwise`] on flex and burn's own matmul elsewhere, and a handwritten
//! backward pass for autodiff.

// burn 0.22 marks NdArray deprecated; it stays a selectable backend (backend.rs).
#![allow(deprecated)]

use super::flex_values::{flex_tensor, is_f32, values};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    backend_extension, Autodiff, Backend, Dispatch, Flex, NdArray, TensorMetadata,
};
use burn::prelude::*;
use burn::tensor::Shape;
use facegate_cpu_kernels::pointwise::{self as kernels, PointwiseShape};

/// A 1×1 convolution with stride 1, no padding and no bias.
///
/// # Shapes
/// - `x`: `[batch, c_in, h, w]`
/// - `weight`: `[c_out, c_in, 1, 1]`
/// - output: `[batch, c_out, h, w]`
pub fn pointwise(x: Tensor<4>, weight: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as PointwiseBackend>::pointwise(
        x.into_dispatch(),
        weight.into_dispatch(),
    ))
}

fn shape_of(x: &impl TensorMetadata, weight: &impl TensorMetadata) -> PointwiseShape {
    let (d, w) = (x.shape(), weight.shape());
    PointwiseShape {
        batch: d[0],
        c_in: d[1],
        c_out: w[0],
        plane: d[2] * d[3],
    }
}

/// `[batch, c, h, w]` for the shape of `x` with `c` channels.
fn with_channels(x: &impl TensorMetadata, c: usize) -> Shape {
    let d = x.shape();
    Shape::from([d[0], c, d[2], d[3]])
}

/// The operation and its two gradients, per backend: by default batched matrix products of the
/// backend; flex overrides all three with the slice kernels.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait PointwiseBackend: Backend {
    /// The forward convolution: `y[b] = W · x[b]`.
    fn pointwise(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        matmul_forward::<Self>(x, weight)
    }

    /// `dL/dx[b] = Wᵀ · g[b]`.
    fn pointwise_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        matmul_input_grad::<Self>(x, weight, grad)
    }

    /// `dL/dW = Σ_b g[b] · x[b]ᵀ`.
    fn pointwise_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        matmul_weight_grad::<Self>(x, weight, grad)
    }
}

/// The forward as the backend's batched matmul: `[1, c_out, c_in] · [batch, c_in, plane]`.
fn matmul_forward<B: Backend>(x: FloatTensor<B>, weight: FloatTensor<B>) -> FloatTensor<B> {
    let s = shape_of(&x, &weight);
    let out = with_channels(&x, s.c_out);
    let w = B::float_reshape(weight, Shape::from([1, s.c_out, s.c_in]));
    let x = B::float_reshape(x, Shape::from([s.batch, s.c_in, s.plane]));
    B::float_reshape(B::float_matmul(w, x), out)
}

/// `dL/dx` as the backend's batched matmul.
fn matmul_input_grad<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let s = shape_of(&x, &weight);
    let w = B::float_reshape(weight, Shape::from([1, s.c_out, s.c_in]));
    let g = B::float_reshape(grad, Shape::from([s.batch, s.c_out, s.plane]));
    B::float_reshape(B::float_matmul(B::float_swap_dims(w, 1, 2), g), x.shape())
}

/// `dL/dW` as the backend's batched matmul and a sum over the batch.
fn matmul_weight_grad<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let s = shape_of(&x, &weight);
    let x = B::float_reshape(x, Shape::from([s.batch, s.c_in, s.plane]));
    let g = B::float_reshape(grad, Shape::from([s.batch, s.c_out, s.plane]));
    let per_image = B::float_matmul(g, B::float_swap_dims(x, 1, 2));
    B::float_reshape(B::float_sum_dim(per_image, 0), weight.shape())
}

impl PointwiseBackend for NdArray {}

impl PointwiseBackend for Flex {
    fn pointwise(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
        if !is_f32(&[&x, &weight]) {
            return matmul_forward::<Self>(x, weight);
        }
        let s = shape_of(&x, &weight);
        flex_tensor(
            kernels::forward(&values(&x), &values(&weight), &s),
            with_channels(&x, s.c_out),
        )
    }

    fn pointwise_input_grad(x: FlexTensor, weight: FlexTensor, grad: FlexTensor) -> FlexTensor {
        if !is_f32(&[&x, &weight, &grad]) {
            return matmul_input_grad::<Self>(x, weight, grad);
        }
        let s = shape_of(&x, &weight);
        flex_tensor(
            kernels::input_grad(&values(&grad), &values(&weight), &s),
            x.shape(),
        )
    }

    fn pointwise_weight_grad(x: FlexTensor, weight: FlexTensor, grad: FlexTensor) -> FlexTensor {
        if !is_f32(&[&x, &weight, &grad]) {
            return matmul_weight_grad::<Self>(x, weight, grad);
        }
        let s = shape_of(&x, &weight);
        flex_tensor(
            kernels::weight_grad(&values(&x), &values(&grad), &s),
            weight.shape(),
        )
    }
}

#[derive(Debug)]
struct PointwiseBackward;

impl<B: Backend + PointwiseBackend> Backward<B, 2> for PointwiseBackward {
    type State = (NodeId, NodeId);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        let weight = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight_state);
        if let Some(node) = node_x {
            let gx = B::pointwise_input_grad(x.clone(), weight.clone(), grad.clone());
            grads.register::<B>(node.id, gx);
        }
        if let Some(node) = node_weight {
            grads.register::<B>(node.id, B::pointwise_weight_grad(x, weight, grad));
        }
    }
}

impl<B: Backend + PointwiseBackend, C: CheckpointStrategy> PointwiseBackend for Autodiff<B, C> {
    fn pointwise(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        match PointwiseBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let y = B::pointwise(x.into_primitive(), weight.into_primitive());
                prep.finish((x_state, weight_state), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::pointwise(x.into_primitive(), weight.into_primitive()))
            }
        }
    }
}
