//! Frame → embedding on the device, in two steps around the end of the request's borrow of the
//! receive buffer:
//!
//! 1. [`stage`]: crop and resize the frame (borrowed from the receive buffer) into the start of
//!    the arena, as grey `u8` ([`preprocess_grey_box`]);
//! 2. [`run`]: once the request is dead, convert the staged pixels to int8 ([`input_i8`]) into
//!    the start of the receive buffer and run the model from there with the arena.
//!
//! So the model input needs no buffer of its own: RAM = receive buffer + arena.

use super::Platform;
use crate::blob::Model;
use crate::preprocess::{input_i8, preprocess_grey_box, Rect, INPUT_SCALE, INPUT_ZERO_POINT};
use crate::protocol::{Embedding, ErrorCode, Frame, EMBEDDING_MAX, LAYERS_MAX};

/// The model's input side, if this firmware can feed and run it with these buffers.
pub fn supported(model: &Model<'_>, arena: usize, rx: usize) -> Result<usize, ErrorCode> {
    let h = model.header();
    let ok = h.input_channels == 1
        && h.input_height == h.input_width
        && h.input_scale == INPUT_SCALE
        && h.input_zero_point == i32::from(INPUT_ZERO_POINT)
        && model.embedding_dim() <= EMBEDDING_MAX
        && usize::from(h.layer_count) <= LAYERS_MAX
        && arena >= model.arena_size().max(model.input_len())
        && rx >= model.input_len();
    ok.then_some(usize::from(h.input_width))
        .ok_or(ErrorCode::UnsupportedModel)
}

/// Step 1: validates `frame` and resizes its face box into `arena[..side²]`; returns the
/// preprocessing cost in ticks.
pub fn stage<B: Platform>(
    model: &Model<'_>,
    frame: &Frame<'_>,
    arena: &mut [u8],
    rx_len: usize,
    board: &mut B,
) -> Result<u32, ErrorCode> {
    frame.validate()?;
    let side = supported(model, arena.len(), rx_len)?;
    let start = board.now();
    let f = frame.face;
    let rect = Rect {
        x: f.x,
        y: f.y,
        w: f.w,
        h: f.h,
    };
    let out = arena
        .get_mut(..side * side)
        .ok_or(ErrorCode::UnsupportedModel)?;
    preprocess_grey_box(
        frame.pixels,
        usize::from(frame.width),
        usize::from(frame.height),
        rect,
        side as u16,
        out,
    )
    .map_err(|_| ErrorCode::FaceBox)?;
    Ok(board.now().wrapping_sub(start))
}

/// Step 2: moves the staged pixels into `rx` as int8 and embeds them; returns the embedding and
/// the cost of `Model::run` alone.
pub fn run<B: Platform>(
    model: &Model<'_>,
    rx: &mut [u8],
    arena: &mut [u8],
    board: &mut B,
) -> Result<(Embedding, u32), ErrorCode> {
    let input = place_input(model, rx, arena)?;
    let mut values = [0i8; EMBEDDING_MAX];
    let embedding = values
        .get_mut(..model.embedding_dim())
        .ok_or(ErrorCode::UnsupportedModel)?;
    let start = board.now();
    model
        .run(bytemuck::cast_slice(input), arena, embedding)
        .map_err(|_| ErrorCode::Engine)?;
    let cost = board.now().wrapping_sub(start);
    Ok((
        Embedding::from_slice(embedding).map_err(|_| ErrorCode::UnsupportedModel)?,
        cost,
    ))
}

/// Converts `arena[..n]` (staged grey pixels) into `rx[..n]` as int8; returns `rx[..n]`.
pub fn place_input<'r>(
    model: &Model<'_>,
    rx: &'r mut [u8],
    arena: &[u8],
) -> Result<&'r [u8], ErrorCode> {
    let n = model.input_len();
    let (input, staged) = rx
        .get_mut(..n)
        .zip(arena.get(..n))
        .ok_or(ErrorCode::UnsupportedModel)?;
    for (q, &p) in input.iter_mut().zip(staged) {
        *q = input_i8(p) as u8;
    }
    Ok(input)
}

/// Cost of each layer: the difference between running the first `k` and the first `k − 1`
/// layers (the engine has no per-layer hook; under `-icount` both runs repeat the same
/// instructions, so the difference is the layer's own). The input must already be in
/// `rx[..input_len]` ([`place_input`]).
pub fn profile_layers<B: Platform>(
    model: &Model<'_>,
    rx: &[u8],
    arena: &mut [u8],
    board: &mut B,
) -> Result<heapless::Vec<u32, LAYERS_MAX>, ErrorCode> {
    let input: &[i8] = bytemuck::cast_slice(rx.get(..model.input_len()).ok_or(ErrorCode::Engine)?);
    let mut timed = |layers: u16| -> Result<u32, ErrorCode> {
        let start = board.now();
        model
            .run_layers(input, arena, layers)
            .map_err(|_| ErrorCode::Engine)?;
        Ok(board.now().wrapping_sub(start))
    };
    let mut previous = timed(0)?;
    let mut costs = heapless::Vec::new();
    for k in 1..=model.header().layer_count {
        let total = timed(k)?;
        costs
            .push(total.saturating_sub(previous))
            .map_err(|_| ErrorCode::UnsupportedModel)?;
        previous = total;
    }
    Ok(costs)
}
