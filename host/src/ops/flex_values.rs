//! Moving f32 values in and out of flex tensors for the local kernels.

use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Shape, TensorData};
use std::borrow::Cow;

/// Contiguous f32 values of a flex tensor (a copy only when it is a strided view).
pub fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .expect("a contiguous f32 tensor has an f32 slice")
                .to_vec(),
        ),
    }
}

/// A contiguous flex tensor owning `values`.
pub fn flex_tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// Whether every tensor holds f32 (what the kernels take; other dtypes use burn's ops).
pub fn is_f32(tensors: &[&FlexTensor]) -> bool {
    tensors.iter().all(|t| t.dtype() == DType::F32)
}
