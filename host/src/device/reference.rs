//! The host engine's answers, to check a device's against: the same int8 engine
//! ([`Model::run`]) on the host-preprocessed image, the same integer template and the same
//! decisions. Every device embedding must equal [`HostEngine::embed`]'s byte for byte, and every
//! decision the one computed here from the host's own embeddings.

use facegate_shared::blob::{EngineError, Model};
use facegate_shared::device::template::{accumulate, mean_template};
use facegate_shared::distance::squared_l2_i8;
use facegate_shared::preprocess::input_i8;

/// The host's embedder for one blob.
pub struct HostEngine<'m> {
    model: Model<'m>,
    arena: Vec<u8>,
    input: Vec<i8>,
}

/// A host decision: the distance and whether it is within the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Squared L2 distance of the int8 vectors.
    pub distance: i32,
    /// `distance ≤ threshold`.
    pub accepted: bool,
}

/// A host identification: the nearest template (first in order on ties), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    /// Index of the nearest template and its distance.
    pub best: Option<(usize, i32)>,
    /// The nearest is within the threshold.
    pub accepted: bool,
}

impl<'m> HostEngine<'m> {
    /// An engine over a parsed blob.
    pub fn new(model: Model<'m>) -> Self {
        Self {
            arena: vec![0; model.arena_size()],
            input: Vec::with_capacity(model.input_len()),
            model,
        }
    }

    /// The blob.
    pub fn model(&self) -> &Model<'m> {
        &self.model
    }

    /// The model's square input side.
    pub fn input_side(&self) -> u16 {
        self.model.header().input_width
    }

    /// The int8 threshold on squared distances.
    pub fn threshold(&self) -> i32 {
        self.model.header().threshold
    }

    /// Embeds a preprocessed grey input (`side²` pixels).
    pub fn embed(&mut self, pixels: &[u8]) -> Result<Vec<i8>, EngineError> {
        self.input.clear();
        self.input.extend(pixels.iter().map(|&p| input_i8(p)));
        let mut embedding = vec![0i8; self.model.embedding_dim()];
        self.model
            .run(&self.input, &mut self.arena, &mut embedding)?;
        Ok(embedding)
    }

    /// The decision for a probe embedding against a template.
    pub fn decide(&self, probe: &[i8], template: &[i8]) -> Decision {
        // Equal lengths by construction (both from this model); a mismatch decides "reject".
        let distance = squared_l2_i8(probe, template).unwrap_or(i32::MAX);
        Decision {
            distance,
            accepted: distance <= self.threshold(),
        }
    }

    /// 1:N over `templates` in store order.
    pub fn identify(&self, probe: &[i8], templates: &[Vec<i8>]) -> Identification {
        let mut best: Option<(usize, i32)> = None;
        for (i, t) in templates.iter().enumerate() {
            let d = self.decide(probe, t).distance;
            if best.is_none_or(|(_, b)| d < b) {
                best = Some((i, d));
            }
        }
        Identification {
            best,
            accepted: best.is_some_and(|(_, d)| d <= self.threshold()),
        }
    }
}

/// The enrolment template of `embeddings`: the device's integer re-normalised mean.
pub fn template(embeddings: &[Vec<i8>]) -> Vec<i8> {
    let dim = embeddings.first().map_or(0, Vec::len);
    let mut sum = vec![0i32; dim];
    for e in embeddings {
        accumulate(&mut sum, e);
    }
    let mut out = vec![0i8; dim];
    mean_template(&sum, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    static RELEASE: &[u8] = include_bytes!("../../../models/facegate-v1.fgm");

    #[test]
    fn the_engine_reproduces_the_blobs_golden_vectors() {
        let model = Model::parse(RELEASE).unwrap();
        let golden = model.golden(0).unwrap();
        let mut engine = HostEngine::new(model);
        // Golden inputs are int8; undo `p − 128` to hand them over as pixels.
        let pixels: Vec<u8> = golden
            .input
            .iter()
            .map(|&q| (i16::from(q) + 128) as u8)
            .collect();
        assert_eq!(engine.embed(&pixels).unwrap(), golden.embedding);
    }

    #[test]
    fn identify_takes_the_first_of_equal_distances_and_the_threshold_decides() {
        let model = Model::parse(RELEASE).unwrap();
        let engine = HostEngine::new(model);
        let dim = engine.model().embedding_dim();
        let probe = vec![10i8; dim];
        let same = probe.clone();
        let templates = vec![vec![0i8; dim], same.clone(), same];
        let id = engine.identify(&probe, &templates);
        assert_eq!(id.best, Some((1, 0)));
        assert!(id.accepted);
        let far = vec![vec![-100i8; dim]];
        assert!(!engine.identify(&probe, &far).accepted);
        assert_eq!(engine.identify(&probe, &[]).best, None);
    }
}
