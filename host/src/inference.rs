//! Inference: embeddings of preprocessed images, and distances of face pairs.
//!
//! The model runs on the plain (non-autodiff) device in evaluation mode. Pixels become model
//! inputs exactly as in training ([`facegate_shared::preprocess::input_f32`]); distances are the
//! squared Euclidean distances of `facegate-shared`, which the device uses too.

use crate::eval::ScoredPair;
use crate::model::Embedder;
use crate::tensors::{floats, to_f32};
use burn::prelude::*;
use facegate_shared::distance::squared_l2;
use facegate_shared::preprocess::input_f32;

/// Images per forward pass.
pub const BATCH: usize = 128;

/// Embeddings, one row of `dim` values per image.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// Row-major values.
    pub values: Vec<f32>,
    /// Row length.
    pub dim: usize,
}

impl Embeddings {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.values.len() / self.dim.max(1)
    }
    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// The image mirrored left–right (`side × side` grey pixels).
pub fn mirror(image: &[u8], side: usize) -> Vec<u8> {
    image
        .chunks(side)
        .flat_map(|row| row.iter().rev().copied())
        .collect()
}

/// Flip averaging of plain rows: each row of `values` (`dim` long) becomes the L2-normalised sum
/// of itself and the matching row of `mirrored`, with the norm floored at 1e-6 as in
/// [`crate::model::l2_normalize_rows`].
pub fn add_mirrored_and_normalize(values: &mut [f32], mirrored: &[f32], dim: usize) {
    for (row, other) in values.chunks_mut(dim).zip(mirrored.chunks(dim)) {
        row.iter_mut().zip(other).for_each(|(a, b)| *a += b);
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-6);
        row.iter_mut().for_each(|v| *v /= norm);
    }
}

/// Embeds `images` (`side × side` grey pixels each). With `flip_average`, each embedding is the
/// L2-normalised mean of the image's and its mirror image's embeddings.
pub fn embed(
    model: &Embedder,
    images: &[&[u8]],
    side: usize,
    flip_average: bool,
    device: &Device,
    mut progress: impl FnMut(usize),
) -> Embeddings {
    let mut values = Vec::new();
    let mut dim = 0;
    for chunk in images.chunks(BATCH) {
        let mut inputs = Vec::with_capacity(chunk.len() * side * side * 2);
        for image in chunk {
            inputs.extend(image.iter().map(|&p| input_f32(p)));
        }
        if flip_average {
            for image in chunk {
                inputs.extend(mirror(image, side).into_iter().map(input_f32));
            }
        }
        let n = if flip_average {
            chunk.len() * 2
        } else {
            chunk.len()
        };
        let x = floats(inputs, [n, 1, side, side], device);
        let mut out = model.forward(x);
        if flip_average {
            let halves =
                out.clone().narrow(0, 0, chunk.len()) + out.narrow(0, chunk.len(), chunk.len());
            out = crate::model::l2_normalize_rows(halves);
        }
        dim = out.dims()[1];
        values.extend(to_f32(out));
        progress(chunk.len());
    }
    Embeddings { values, dim }
}

/// Squared L2 distances of `pairs` (row indices into `embeddings`), as [`ScoredPair`]s.
pub fn score_pairs(
    embeddings: &Embeddings,
    pairs: &[(usize, usize)],
    same: impl Fn(usize) -> bool,
    fold: impl Fn(usize) -> usize,
) -> Vec<ScoredPair> {
    pairs
        .iter()
        .enumerate()
        .map(|(i, &(a, b))| {
            let d = squared_l2(embeddings.row(a), embeddings.row(b))
                .expect("embedding rows have the same length");
            ScoredPair::new(d, same(i), fold(i))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EmbedderConfig;

    #[test]
    fn flip_average_is_invariant_to_mirroring_and_unit_norm() {
        let device = Device::flex();
        let model = EmbedderConfig::tiny().init(&device);
        let side = 32;
        let a: Vec<u8> = (0..side * side).map(|i| (i * 7 % 251) as u8).collect();
        let b = mirror(&a, side);
        let e = embed(&model, &[&a, &b], side, true, &device, |_| {});
        assert_eq!(e.len(), 2);
        for (x, y) in e.row(0).iter().zip(e.row(1)) {
            assert!((x - y).abs() < 1e-5);
        }
        let norm: f32 = e.row(0).iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        let plain = embed(&model, &[&a, &b], side, false, &device, |_| {});
        let d = squared_l2(plain.row(0), plain.row(1)).unwrap();
        assert!(
            d > 0.0,
            "a mirrored image embeds differently without flip averaging"
        );
    }

    #[test]
    fn batching_does_not_change_embeddings() {
        let device = Device::flex();
        let model = EmbedderConfig::tiny().init(&device);
        let side = 32;
        let imgs: Vec<Vec<u8>> = (0..BATCH + 3)
            .map(|k| {
                (0..side * side)
                    .map(|i| ((i + 13 * k) % 256) as u8)
                    .collect()
            })
            .collect();
        let refs: Vec<&[u8]> = imgs.iter().map(|v| v.as_slice()).collect();
        let all = embed(&model, &refs, side, false, &device, |_| {});
        let last = embed(&model, &refs[BATCH..], side, false, &device, |_| {});
        for (x, y) in all.row(BATCH + 1).iter().zip(last.row(1)) {
            assert!((x - y).abs() < 1e-5);
        }
    }
}
