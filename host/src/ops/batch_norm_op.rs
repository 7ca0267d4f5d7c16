//! Training-mode BatchNorm, with the residual add and ReLU that follow it, as a burn operation:
//! the kernels of [`facegate_cpu_kernels::batch_norm`] on flex, burn's own `batch_norm_train`, add and ReLU
//! elsewhere, one handwritten backward for autodiff; and [`batch_norm_forward`], the
//! `BatchNorm` module's forward with it (same running statistics).

// burn 0.22 marks NdArray deprecated; it stays a selectable backend (backend.rs).
#![allow(deprecated)]

use super::flex_values::{flex_tensor, is_f32, values};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::BatchNormTrainBackward;
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    backend_extension, Backend, Dispatch, ExtensionType, Flex, NdArray, TensorMetadata,
};
use burn::nn::BatchNorm;
use burn::prelude::*;
use facegate_cpu_kernels::batch_norm::{self as kernels, BatchNormShape};

/// The normalised batch and the statistics the running averages need.
#[derive(ExtensionType)]
pub struct BatchNormTrainResult<B: Backend> {
    /// `[batch, channels, …]`.
    pub output: FloatTensor<B>,
    /// `[channels]`.
    pub mean: FloatTensor<B>,
    /// `[channels]`, biased.
    pub variance: FloatTensor<B>,
}

/// `relu(BatchNorm::forward(input) + residual)` (the add when `residual` is given, the ReLU when
/// `relu`) with the local operation in training mode: the batch's statistics normalise it and
/// update the running mean and variance exactly as burn's module does
/// (`running = running · (1 − momentum) + batch · momentum`); in inference mode, or on a device
/// without the local operations, it is burn's module, add and ReLU.
///
/// # Shapes
/// - input, residual and output: `[batch, channels, h, w]`
pub fn batch_norm_forward(
    bn: &BatchNorm,
    input: Tensor<4>,
    residual: Option<Tensor<4>>,
    relu: bool,
) -> Tensor<4> {
    let device = input.device();
    if !(device.is_autodiff() && bn.training.is_enabled() && super::runs_local_ops(&device)) {
        let y = bn.forward(input);
        let y = match residual {
            Some(r) => y + r,
            None => y,
        };
        return if relu {
            burn::tensor::activation::relu(y)
        } else {
            y
        };
    }
    let (x, gamma, beta) = (
        input.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
    );
    let result = match residual {
        None => <Dispatch as BatchNormTrainBackend>::batch_norm_train_local(
            x, gamma, beta, relu, bn.epsilon,
        ),
        Some(r) => <Dispatch as BatchNormTrainBackend>::batch_norm_residual_train_local(
            x,
            gamma,
            beta,
            r.into_dispatch(),
            relu,
            bn.epsilon,
        ),
    };
    let mean = Tensor::<1>::from_dispatch(result.mean).detach();
    let variance = Tensor::<1>::from_dispatch(result.variance).detach();
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    let momentum = bn.momentum;
    bn.running_mean
        .update((running_mean.mul_scalar(1.0 - momentum) + mean.mul_scalar(momentum)).detach());
    bn.running_var
        .update((running_var.mul_scalar(1.0 - momentum) + variance.mul_scalar(momentum)).detach());
    Tensor::from_dispatch(result.output)
}

fn shape_of(x: &impl TensorMetadata) -> BatchNormShape {
    let d = x.shape();
    BatchNormShape {
        batch: d[0],
        channels: d[1],
        plane: d.num_elements() / (d[0] * d[1]).max(1),
    }
}

/// The differentiable operation, without and with the residual add (burn's backend extensions
/// take no optional tensors).
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait BatchNormTrainBackend: Backend {
    /// Normalises with the batch's statistics, applies a ReLU if `relu`, and returns the result
    /// with the statistics.
    fn batch_norm_train_local(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        relu: bool,
        epsilon: f64,
    ) -> BatchNormTrainResult<Self> {
        generic_forward::<Self>(x, gamma, beta, None, relu, epsilon)
    }

    /// [`BatchNormTrainBackend::batch_norm_train_local`] with `residual` added before the ReLU.
    fn batch_norm_residual_train_local(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        relu: bool,
        epsilon: f64,
    ) -> BatchNormTrainResult<Self> {
        generic_forward::<Self>(x, gamma, beta, Some(residual), relu, epsilon)
    }
}

/// The forward with burn's generic `batch_norm_train`, add and ReLU.
fn generic_forward<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    residual: Option<FloatTensor<B>>,
    relu: bool,
    epsilon: f64,
) -> BatchNormTrainResult<B> {
    let r = B::batch_norm_train(x, gamma, beta, epsilon);
    let output = match residual {
        Some(residual) => B::float_add(r.output, residual),
        None => r.output,
    };
    let output = if relu { B::relu(output) } else { output };
    BatchNormTrainResult {
        output,
        mean: r.mean,
        variance: r.variance,
    }
}

/// The backward with burn's generic ReLU backward and `batch_norm_train_backward`.
fn generic_grads<B: Backend>(
    state: BatchNormReluState<B>,
    grad: FloatTensor<B>,
    with_residual: bool,
) -> BatchNormReluGrads<B> {
    let s = state;
    let grad = match s.relu_output {
        Some(output) => B::relu_backward(output, grad),
        None => grad,
    };
    let residual = with_residual.then(|| grad.clone());
    let batch_norm =
        B::batch_norm_train_backward(s.x, s.gamma, s.mean, s.variance, s.epsilon, grad);
    BatchNormReluGrads {
        batch_norm,
        residual,
    }
}

/// The gradients of the operation.
pub struct BatchNormReluGrads<B: Backend> {
    /// Those of the normalisation.
    pub batch_norm: BatchNormTrainBackward<B>,
    /// `dL/dresidual`, when there was a residual.
    pub residual: Option<FloatTensor<B>>,
}

/// The forward's tensors the backward needs.
pub struct BatchNormReluState<B: Backend> {
    pub(super) x: FloatTensor<B>,
    pub(super) gamma: FloatTensor<B>,
    pub(super) mean: FloatTensor<B>,
    pub(super) variance: FloatTensor<B>,
    /// The output, when a ReLU ended the forward.
    pub(super) relu_output: Option<FloatTensor<B>>,
    pub(super) epsilon: f64,
}

/// The backward kernels per backend; the defaults are burn's generic ones.
pub trait BatchNormKernels: Backend {
    /// The gradients of `batch_norm_train_local`.
    fn batch_norm_train_grads(
        state: BatchNormReluState<Self>,
        grad: FloatTensor<Self>,
        with_residual: bool,
    ) -> BatchNormReluGrads<Self> {
        generic_grads::<Self>(state, grad, with_residual)
    }
}

impl BatchNormKernels for NdArray {}
impl BatchNormTrainBackend for NdArray {}

impl BatchNormKernels for Flex {
    fn batch_norm_train_grads(
        state: BatchNormReluState<Self>,
        grad: FlexTensor,
        with_residual: bool,
    ) -> BatchNormReluGrads<Self> {
        let s = &state;
        let mut all = vec![&s.x, &s.gamma, &s.mean, &s.variance, &grad];
        all.extend(s.relu_output.as_ref());
        if !is_f32(&all) {
            return generic_grads::<Self>(state, grad, with_residual);
        }
        let shape = shape_of(&s.x);
        let dims = s.x.shape();
        let relu_output = s.relu_output.as_ref().map(values);
        let saved = kernels::BatchNormSaved {
            x: &values(&s.x),
            gamma: &values(&s.gamma),
            mean: &values(&s.mean),
            variance: &values(&s.variance),
            relu_output: relu_output.as_deref(),
            epsilon: s.epsilon,
        };
        let g = kernels::backward(saved, &values(&grad), with_residual, &shape);
        BatchNormReluGrads {
            batch_norm: BatchNormTrainBackward {
                x_grad: flex_tensor(g.x, dims.clone()),
                gamma_grad: flex_tensor(g.gamma, [shape.channels]),
                beta_grad: flex_tensor(g.beta, [shape.channels]),
            },
            residual: g.residual.map(|r| flex_tensor(r, dims)),
        }
    }
}

impl BatchNormTrainBackend for Flex {
    fn batch_norm_train_local(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        relu: bool,
        epsilon: f64,
    ) -> BatchNormTrainResult<Self> {
        flex_forward(x, gamma, beta, None, relu, epsilon)
    }

    fn batch_norm_residual_train_local(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        residual: FlexTensor,
        relu: bool,
        epsilon: f64,
    ) -> BatchNormTrainResult<Self> {
        flex_forward(x, gamma, beta, Some(residual), relu, epsilon)
    }
}

/// The forward on flex: the slice kernel for f32, burn's generic ops otherwise.
fn flex_forward(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    residual: Option<FlexTensor>,
    relu: bool,
    epsilon: f64,
) -> BatchNormTrainResult<Flex> {
    let mut all = vec![&x, &gamma, &beta];
    all.extend(residual.as_ref());
    if !is_f32(&all) {
        return generic_forward::<Flex>(x, gamma, beta, residual, relu, epsilon);
    }
    let shape = shape_of(&x);
    let residual = residual.as_ref().map(values);
    let epilogue = kernels::Epilogue {
        residual: residual.as_deref(),
        relu,
    };
    let r = kernels::forward(
        &values(&x),
        &values(&gamma),
        &values(&beta),
        epsilon,
        epilogue,
        &shape,
    );
    BatchNormTrainResult {
        output: flex_tensor(r.output, x.shape()),
        mean: flex_tensor(r.mean, [shape.channels]),
        variance: flex_tensor(r.variance, [shape.channels]),
    }
}
