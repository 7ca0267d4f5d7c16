//! The people commands: enrol, delete, verify (1:1), identify (1:N), and the per-layer profile.

use super::app::{
    active_model, model_tag, Device, Enrolment, MAX_ENROLL_FRAMES, TEMPLATE_CAPACITY,
};
use super::{embed, store, template, Partition, Platform};
use crate::distance::squared_l2_i8;
use crate::protocol::*;

fn storage<T>(result: Result<T, store::StoreError>) -> Result<T, ErrorCode> {
    result.map_err(|_| ErrorCode::Storage)
}

impl<P: Partition, B: Platform> Device<P, B> {
    /// Fails unless `id` is non-empty, not stored, and the store has room.
    fn check_new(&mut self, id: &str) -> Result<(), ErrorCode> {
        if id.is_empty() {
            return Err(ErrorCode::BadId);
        }
        let ids = storage(store::list(&mut self.parts.store))?;
        if ids.iter().any(|stored| stored.as_str() == id) {
            return Err(ErrorCode::DuplicateId);
        }
        if ids.len() >= usize::from(TEMPLATE_CAPACITY) {
            return Err(ErrorCode::StoreFull);
        }
        Ok(())
    }

    pub(super) fn enroll(
        &mut self,
        id: PersonId,
        rx: &mut [u8],
        arena: &mut [u8],
    ) -> Result<Response, ErrorCode> {
        self.check_new(&id)?;
        let (embedding, _) = self.embed_staged(rx, arena)?;
        let tag = model_tag(&active_model(&self.parts, &self.boot)?);
        let same = self
            .enrolment
            .as_ref()
            .is_some_and(|e| e.id == id && e.tag == tag);
        if !same {
            self.enrolment = Some(Enrolment {
                id,
                tag,
                frames: 0,
                sum: [0; EMBEDDING_MAX],
            });
        }
        let enrolment = self.enrolment.as_mut().ok_or(ErrorCode::NoEnrollment)?;
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

    pub(super) fn enroll_commit(&mut self, id: &str) -> Result<Response, ErrorCode> {
        let model = active_model(&self.parts, &self.boot)?;
        let (tag, dim) = (model_tag(&model), model.embedding_dim());
        let pending = self
            .enrolment
            .take_if(|e| e.id.as_str() == id && e.tag == tag)
            .ok_or(ErrorCode::NoEnrollment)?;
        if let Err(e) = self.check_new(id) {
            // Keep the frames: the host may delete the old template and commit again.
            self.enrolment = Some(pending);
            return Err(e);
        }
        let mut values = [0i8; EMBEDDING_MAX];
        let values = values.get_mut(..dim).ok_or(ErrorCode::UnsupportedModel)?;
        template::mean_template(&pending.sum[..dim], values);
        storage(store::insert(&mut self.parts.store, id, &tag, values))?;
        Ok(Response::EnrollCommitted {
            frames: pending.frames,
            templates: storage(store::count(&mut self.parts.store))?,
        })
    }

    pub(super) fn delete(&mut self, id: &str) -> Result<Response, ErrorCode> {
        if storage(store::get(&mut self.parts.store, id))?.is_none() {
            return Err(ErrorCode::UnknownId);
        }
        storage(store::remove(&mut self.parts.store, id))?;
        Ok(Response::Deleted {
            templates: storage(store::count(&mut self.parts.store))?,
        })
    }

    pub(super) fn verify(
        &mut self,
        id: &str,
        preprocess: u32,
        rx: &mut [u8],
        arena: &mut [u8],
    ) -> Result<Response, ErrorCode> {
        let template =
            storage(store::get(&mut self.parts.store, id))?.ok_or(ErrorCode::UnknownId)?;
        let model = active_model(&self.parts, &self.boot)?;
        let threshold = model.header().threshold;
        if template.tag != model_tag(&model) || template.values.len() != model.embedding_dim() {
            return Err(ErrorCode::StaleTemplate);
        }
        let (embedding, embed) = self.embed_staged(rx, arena)?;
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

    pub(super) fn identify(
        &mut self,
        preprocess: u32,
        rx: &mut [u8],
        arena: &mut [u8],
    ) -> Result<Response, ErrorCode> {
        let (embedding, embed) = self.embed_staged(rx, arena)?;
        let model = active_model(&self.parts, &self.boot)?;
        let (tag, threshold) = (model_tag(&model), model.header().threshold);
        let mut best: Option<Candidate> = None;
        let mut compared = 0u16;
        storage(store::for_each(&mut self.parts.store, |id, value| {
            let Some((item_tag, values)) = store::split_value(value) else {
                return;
            };
            if item_tag != tag || values.len() != embedding.len() {
                return;
            }
            let values: &[i8] = bytemuck::cast_slice(values);
            if let Ok(distance) = squared_l2_i8(&embedding, values) {
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

    pub(super) fn profile(
        &mut self,
        preprocess: u32,
        rx: &mut [u8],
        arena: &mut [u8],
    ) -> Result<Response, ErrorCode> {
        let model = active_model(&self.parts, &self.boot)?;
        embed::place_input(&model, rx, arena)?;
        let layers = embed::profile_layers(&model, rx, arena, &mut self.board)?;
        // `profile_layers` left the arena's start overwritten: stage the input again from rx.
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
