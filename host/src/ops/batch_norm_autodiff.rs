//! The autodiff side of [`super::batch_norm_op`]: the backward node and the `Autodiff`
//! implementation of [`BatchNormTrainBackend`].

use super::batch_norm_op::{
    BatchNormKernels, BatchNormReluState, BatchNormTrainBackend, BatchNormTrainResult,
};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend};

/// The autodiff node: `N` = 3 parents (x, gamma, beta) or 4 (and the residual).
#[derive(Debug)]
struct BatchNormTrainLocalBackward<const N: usize>;

type SavedState<B> = (
    NodeId,
    NodeId,
    FloatTensor<B>,
    FloatTensor<B>,
    Option<FloatTensor<B>>,
    f64,
);

impl<B: Backend + BatchNormKernels, const N: usize> Backward<B, N>
    for BatchNormTrainLocalBackward<N>
{
    type State = SavedState<B>;

    fn backward(
        self,
        ops: Ops<Self::State, N>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, gamma_state, mean, variance, relu_output, epsilon) = ops.state;
        let state = BatchNormReluState {
            x: checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state),
            gamma: checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(gamma_state),
            mean,
            variance,
            relu_output,
            epsilon,
        };
        let g = B::batch_norm_train_grads(state, grad, N == 4);
        let bn = g.batch_norm;
        let mut outputs = [
            Some(bn.x_grad),
            Some(bn.gamma_grad),
            Some(bn.beta_grad),
            g.residual,
        ]
        .into_iter();
        for parent in ops.parents {
            if let (Some(node), Some(grad)) = (parent, outputs.next().flatten()) {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: Backend + BatchNormTrainBackend + BatchNormKernels, C: CheckpointStrategy>
    BatchNormTrainBackend for Autodiff<B, C>
{
    fn batch_norm_train_local(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        relu: bool,
        epsilon: f64,
    ) -> BatchNormTrainResult<Self> {
        tracked::<B, C, 3>([x, gamma, beta], relu, epsilon)
    }

    fn batch_norm_residual_train_local(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        relu: bool,
        epsilon: f64,
    ) -> BatchNormTrainResult<Self> {
        tracked::<B, C, 4>([x, gamma, beta, residual], relu, epsilon)
    }
}

/// The autodiff forward with `N` differentiable inputs: x, gamma, beta (and the residual).
fn tracked<
    B: Backend + BatchNormTrainBackend + BatchNormKernels,
    C: CheckpointStrategy,
    const N: usize,
>(
    inputs: [FloatTensor<Autodiff<B, C>>; N],
    relu: bool,
    epsilon: f64,
) -> BatchNormTrainResult<Autodiff<B, C>> {
    let prep = BatchNormTrainLocalBackward::<N>
        .prepare::<C>(inputs.each_ref().map(|t| t.node()))
        .compute_bound()
        .stateful();
    let run = |inputs: [FloatTensor<Autodiff<B, C>>; N]| {
        let mut it = inputs.into_iter().map(|t| t.into_primitive());
        let (x, gamma, beta) = (it.next(), it.next(), it.next());
        let (x, gamma, beta) = (x.expect("x"), gamma.expect("gamma"), beta.expect("beta"));
        match it.next() {
            None => B::batch_norm_train_local(x, gamma, beta, relu, epsilon),
            Some(r) => B::batch_norm_residual_train_local(x, gamma, beta, r, relu, epsilon),
        }
    };
    let (output, mean, variance) = match prep {
        OpsKind::Tracked(mut prep) => {
            let x_state = prep.checkpoint(&inputs[0]);
            let gamma_state = prep.checkpoint(&inputs[1]);
            let r = run(inputs);
            let relu_output = relu.then(|| r.output.clone());
            let state = (
                x_state,
                gamma_state,
                r.mean.clone(),
                r.variance.clone(),
                relu_output,
                epsilon,
            );
            (prep.finish(state, r.output), r.mean, r.variance)
        }
        OpsKind::UnTracked(prep) => {
            let r = run(inputs);
            (prep.finish(r.output), r.mean, r.variance)
        }
    };
    BatchNormTrainResult {
        output,
        mean: FloatTensor::<Autodiff<B, C>>::new(mean),
        variance: FloatTensor::<Autodiff<B, C>>::new(variance),
    }
}
