//! Running a parsed model in a caller-provided activation arena: no allocation, no panics.

use super::error::EngineError;
use super::model::{steps, Model};
use super::plan::{Kernel, Step};
use crate::int8::l2norm::l2_normalize;
use core::ops::Range;

/// Two disjoint mutable ranges of the arena.
fn two_mut(arena: &mut [i8], a: Range<usize>, b: Range<usize>) -> Option<(&mut [i8], &mut [i8])> {
    if a.end <= b.start {
        let (lo, hi) = arena.split_at_mut(b.start);
        Some((lo.get_mut(a)?, hi.get_mut(..b.len())?))
    } else if b.end <= a.start {
        let (lo, hi) = arena.split_at_mut(a.start);
        Some((hi.get_mut(..a.len())?, lo.get_mut(b)?))
    } else {
        None
    }
}

fn run_step(step: &Step<'_>, arena: &mut [i8], layer: u16) -> Result<(), EngineError> {
    let broken = EngineError::Blob(super::BlobError::Layer {
        layer,
        problem: "arena ranges",
    });
    let kernel_error = |error| EngineError::Kernel { layer, error };
    match step.kernel {
        Kernel::Pointwise(pw) if step.scratch.is_some() => {
            let scratch = step.scratch.clone().ok_or(broken)?;
            let (buffer, scratch) = two_mut(arena, step.input.clone(), scratch).ok_or(broken)?;
            pw.run_in_place(buffer, scratch).map_err(kernel_error)
        }
        Kernel::Add(add) => {
            let second = step.input2.clone().ok_or(broken)?;
            let (a, b) = two_mut(arena, step.input.clone(), second).ok_or(broken)?;
            add.run_in_place(a, b).map_err(kernel_error)
        }
        kernel => {
            let (input, output) =
                two_mut(arena, step.input.clone(), step.output.clone()).ok_or(broken)?;
            let input: &[i8] = input;
            match kernel {
                Kernel::Conv(k) => k.run(input, output),
                Kernel::Depthwise(k) => k.run(input, output),
                Kernel::Pointwise(k) => k.run(input, output),
                Kernel::Pool(k) => k.run(input, output),
                Kernel::Dense(k) => k.run(input, output),
                Kernel::L2 { input_zero_point } => l2_normalize(input, input_zero_point, output),
                Kernel::Add(_) => Ok(()),
            }
            .map_err(kernel_error)
        }
    }
}

impl Model<'_> {
    /// Embeds one int8 input (`H·W·C` bytes, quantised with the header's input scale and zero
    /// point) into `embedding`, using `arena` (at least [`Model::arena_size`] bytes) for every
    /// activation.
    pub fn run(
        &self,
        input: &[i8],
        arena: &mut [u8],
        embedding: &mut [i8],
    ) -> Result<(), EngineError> {
        if embedding.len() != self.embedding_dim() {
            return Err(EngineError::EmbeddingLength {
                expected: self.embedding_dim(),
                actual: embedding.len(),
            });
        }
        self.run_layers(input, arena, self.header().layer_count)?;
        let output = self
            .tensor(self.header().output_tensor)
            .ok_or(EngineError::Blob(super::BlobError::Section(
                "output tensor",
            )))?;
        let values =
            arena
                .get(output.range())
                .ok_or(EngineError::Blob(super::BlobError::Section(
                    "output tensor",
                )))?;
        embedding.copy_from_slice(bytemuck::cast_slice(values));
        Ok(())
    }

    /// Runs only the first `layers` layers, leaving their activations in `arena` at the offsets
    /// of the tensor table: for inspecting intermediate tensors on the host.
    pub fn run_layers(
        &self,
        input: &[i8],
        arena: &mut [u8],
        layers: u16,
    ) -> Result<(), EngineError> {
        if arena.len() < self.arena_size() {
            return Err(EngineError::ArenaTooSmall {
                needed: self.arena_size(),
                actual: arena.len(),
            });
        }
        if input.len() != self.input_len() {
            return Err(EngineError::InputLength {
                expected: self.input_len(),
                actual: input.len(),
            });
        }
        let arena: &mut [i8] = bytemuck::cast_slice_mut(&mut arena[..self.arena_size()]);
        let input_tensor = self
            .tensor(self.header().input_tensor)
            .ok_or(EngineError::Blob(super::BlobError::Section("input tensor")))?;
        arena
            .get_mut(input_tensor.range())
            .ok_or(EngineError::Blob(super::BlobError::Section("input tensor")))?
            .copy_from_slice(input);
        for (layer, step) in steps(self).take(usize::from(layers)) {
            run_step(&step?, arena, layer)?;
        }
        Ok(())
    }

    /// Runs every golden vector and compares with the stored embeddings: the device's check that
    /// this engine reproduces the quantiser's arithmetic exactly.
    pub fn check_golden(&self, arena: &mut [u8], embedding: &mut [i8]) -> Result<u16, EngineError> {
        let count = self.header().golden_count;
        for vector in 0..count {
            let golden =
                self.golden(vector)
                    .ok_or(EngineError::Blob(super::BlobError::Section(
                        "golden vectors",
                    )))?;
            self.run(golden.input, arena, embedding)?;
            if let Some((element, (&e, &a))) = golden
                .embedding
                .iter()
                .zip(embedding.iter())
                .enumerate()
                .find(|(_, (e, a))| e != a)
            {
                return Err(EngineError::GoldenMismatch {
                    vector,
                    element: element as u16,
                    expected: e,
                    actual: a,
                });
            }
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The released model's golden vectors on the host build of the kernels (the firmware
    /// checks the same vectors on the device).
    #[test]
    fn release_model_reproduces_its_golden_vectors() {
        let bytes = include_bytes!("../../../models/facegate-v1.fgm");
        let model = Model::parse(bytes).unwrap();
        let mut arena = std::vec![0u8; model.arena_size()];
        let mut embedding = std::vec![0i8; model.embedding_dim()];
        let count = model.check_golden(&mut arena, &mut embedding).unwrap();
        assert!(count > 0);
    }
}
