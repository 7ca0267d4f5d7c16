//! The model commands: self-test, enrol, verify (1:1), identify (1:N) and the per-layer
//! profile, run in a [`Session`] that parsed the serving model once for the request.

use super::app::{model_tag, Enrolment, MAX_ENROLL_FRAMES, TEMPLATE_CAPACITY};
use super::{embed, store, template, Partition, Platform};
use crate::blob::Model;
use crate::distance::squared_l2_i8;
use crate::protocol::*;

fn storage<T>(result: Result<T, store::StoreError>) -> Result<T, ErrorCode> {
    result.map_err(|_| ErrorCode::Storage)
}

/// Fails unless `id` is non-empty, not stored, and the store has room.
pub(super) fn check_new<P: Partition>(store: &mut P, id: &str) -> Result<(), ErrorCode> {
    if id.is_empty() {
        return Err(ErrorCode::BadId);
    }
    if storage(store::get(store, id))?.is_some() {
        return Err(ErrorCode::DuplicateId);
    }
    if storage(store::count(store))? >= TEMPLATE_CAPACITY {
        return Err(ErrorCode::StoreFull);
    }
    Ok(())
}

/// The serving model and the parts of the device a model command uses.
pub(super) struct Session<'d, P, B> {
    pub model: Model<'d>,
    pub store: &'d mut P,
    pub board: &'d mut B,
    pub enrolment: &'d mut Option<Enrolment>,
}

impl<P: Partition, B: Platform> Session<'_, P, B> {
    /// Preprocesses `frame` into the arena ([`embed::stage`]); returns the cost.
    pub fn stage(
        &mut self,
        frame: &Frame<'_>,
        arena: &mut [u8],
        rx_len: usize,
    ) -> Result<u32, ErrorCode> {
        embed::stage(&self.model, frame, arena, rx_len, self.board)
    }

    /// Embeds the staged frame ([`embed::run`]).
    fn embed(&mut self, rx: &mut [u8], arena: &mut [u8]) -> Result<(Embedding, u32), ErrorCode> {
        embed::run(&self.model, rx, arena, self.board)
    }

    pub fn self_test(&mut self, arena: &mut [u8]) -> Result<Response, ErrorCode> {
        let mut embedding = [0i8; EMBEDDING_MAX];
        let embedding = embedding
            .get_mut(..self.model.embedding_dim())
            .ok_or(ErrorCode::UnsupportedModel)?;
        let start = self.board.now();
        let result = self.model.check_golden(arena, embedding);
        let cost = self.board.now().wrapping_sub(start);
        let mismatch = match result {
            Ok(_) => None,
            Err(crate::blob::EngineError::GoldenMismatch {
                vector, element, ..
            }) => Some(GoldenMismatch { vector, element }),
            Err(_) => return Err(ErrorCode::UnsupportedModel),
        };
        Ok(Response::SelfTest(SelfTestReport {
            passed: mismatch.is_none(),
            vectors: self.model.header().golden_count,
            mismatch,
            cost,
        }))
    }

    pub fn enroll(
        &mut self,
        id: PersonId,
        rx: &mut [u8],
        arena: &mut [u8],
    ) -> Result<Response, ErrorCode> {
        check_new(self.store, &id)?;
        let (embedding, _) = self.embed(rx, arena)?;
        let tag = model_tag(&self.model);
        let pending = self.enrolment.take_if(|e| e.id == id && e.tag == tag);
        let enrolment = self.enrolment.insert(pending.unwrap_or(Enrolment {
            id,
            tag,
            frames: 0,
            sum: [0; EMBEDDING_MAX],
        }));
        if enrolment.frames >= MAX_ENROLL_FRAMES {
            return Err(ErrorCode::TooManyFrames);
        }
        template::accumulate(&mut enrolment.sum, &embedding);
        enrolment.frames += 1;
        Ok(Response::Enrolled {
            frames: enrolment.frames,
            embedding,
        })
    }

    pub fn enroll_commit(&mut self, id: &str) -> Result<Response, ErrorCode> {
        let (tag, dim) = (model_tag(&self.model), self.model.embedding_dim());
        let pending = self
            .enrolment
            .take_if(|e| e.id.as_str() == id && e.tag == tag)
            .ok_or(ErrorCode::NoEnrollment)?;
        if let Err(e) = check_new(self.store, id) {
            // Keep the frames: the host may delete the old template and commit again.
            *self.enrolment = Some(pending);
            return Err(e);
        }
        let mut values = [0i8; EMBEDDING_MAX];
        let values = values.get_mut(..dim).ok_or(ErrorCode::UnsupportedModel)?;
        template::mean_template(
            pending.sum.get(..dim).ok_or(ErrorCode::UnsupportedModel)?,
            values,
        );
        storage(store::insert(self.store, id, &tag, values))?;
        Ok(Response::EnrollCommitted {
            frames: pending.frames,
            templates: storage(store::count(self.store))?,
        })
    }

    pub fn verify(
        &mut self,
        id: &str,
        preprocess: u32,
        rx: &mut [u8],
        arena: &mut [u8],
    ) -> Result<Response, ErrorCode> {
        let template = storage(store::get(self.store, id))?.ok_or(ErrorCode::UnknownId)?;
        if template.tag != model_tag(&self.model)
            || template.values.len() != self.model.embedding_dim()
        {
            return Err(ErrorCode::StaleTemplate);
        }
        let (embedding, embed) = self.embed(rx, arena)?;
        let threshold = self.model.header().threshold;
        let distance =
            squared_l2_i8(&embedding, &template.values).map_err(|_| ErrorCode::Engine)?;
        Ok(Response::Verify(VerifyReport {
            accepted: distance <= threshold,
            distance,
            threshold,
            cost: Cost { preprocess, embed },
            embedding,
        }))
    }

    pub fn identify(
        &mut self,
        preprocess: u32,
        rx: &mut [u8],
        arena: &mut [u8],
    ) -> Result<Response, ErrorCode> {
        let (embedding, embed) = self.embed(rx, arena)?;
        let (tag, threshold) = (model_tag(&self.model), self.model.header().threshold);
        let mut best: Option<Candidate> = None;
        let mut compared = 0u16;
        storage(store::for_each(self.store, |id, value| {
            let Some((item_tag, values)) = store::split_value(value) else {
                return;
            };
            if item_tag != tag || values.len() != embedding.len() {
                return;
            }
            if let Ok(distance) = squared_l2_i8(&embedding, bytemuck::cast_slice(values)) {
                compared = compared.saturating_add(1);
                if best.as_ref().is_none_or(|b| distance < b.distance) {
                    best = Some(Candidate {
                        id: id.clone(),
                        distance,
                    });
                }
            }
        }))?;
        Ok(Response::Identify(IdentifyReport {
            accepted: best.as_ref().is_some_and(|b| b.distance <= threshold),
            best,
            threshold,
            compared,
            cost: Cost { preprocess, embed },
            embedding,
        }))
    }

    pub fn profile(
        &mut self,
        preprocess: u32,
        rx: &mut [u8],
        arena: &mut [u8],
    ) -> Result<Response, ErrorCode> {
        let model = self.model;
        embed::place_input(&model, rx, arena)?;
        let layers = embed::profile_layers(&model, rx, arena, self.board)?;
        let input: &[i8] =
            bytemuck::cast_slice(rx.get(..model.input_len()).ok_or(ErrorCode::Engine)?);
        let mut values = [0i8; EMBEDDING_MAX];
        let out = values
            .get_mut(..model.embedding_dim())
            .ok_or(ErrorCode::UnsupportedModel)?;
        let start = self.board.now();
        model
            .run(input, arena, out)
            .map_err(|_| ErrorCode::Engine)?;
        let embed = self.board.now().wrapping_sub(start);
        Ok(Response::Profile(ProfileReport {
            layers,
            cost: Cost { preprocess, embed },
            embedding: Embedding::from_slice(out).map_err(|_| ErrorCode::Engine)?,
        }))
    }
}
