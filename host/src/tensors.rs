//! Small conversions between burn tensors and plain vectors, used by the miners, losses and
//! evaluation.

use burn::prelude::*;
use burn::tensor::TensorData;

/// An index tensor from `usize` indices.
pub fn indices(values: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i32> = values.iter().map(|&i| i as i32).collect();
    let n = v.len();
    Tensor::<1, Int>::from_ints(TensorData::new(v, [n]), device)
}

/// A float tensor of the given shape from row-major values.
pub fn floats<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::<D>::from_floats(TensorData::new(values, shape), device)
}

/// The values of a float tensor, row-major.
pub fn to_f32<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("a float tensor converts to f32")
}

/// The values of an index tensor.
pub fn to_usize<const D: usize>(t: Tensor<D, Int>) -> Vec<usize> {
    t.into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .expect("an int tensor converts to i64")
        .into_iter()
        .map(|i| i as usize)
        .collect()
}

/// The values of a boolean tensor.
pub fn to_bool<const D: usize>(t: Tensor<D, Bool>) -> Vec<bool> {
    to_usize(t.int()).into_iter().map(|v| v != 0).collect()
}

/// Squared Euclidean distances between all rows: `D[i][j] = ‖xᵢ − xⱼ‖²`, clamped at 0.
///
/// # Shapes
/// - `x`: `[n, d]`
/// - output: `[n, n]`
pub fn pairwise_squared_distances(x: Tensor<2>) -> Tensor<2> {
    let sq = x.clone().square().sum_dim(1); // [n, 1]
    let gram = x.clone().matmul(x.transpose()); // [n, n]
    (sq.clone() + sq.transpose() - gram * 2.0).clamp_min(0.0)
}

/// `√max(x, ε)`: Euclidean distances from squared ones with a finite gradient at 0.
pub fn safe_sqrt<const D: usize>(squared: Tensor<D>) -> Tensor<D> {
    squared.clamp_min(1e-12).sqrt()
}
