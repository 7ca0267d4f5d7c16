//! Fuzz body: the model blob parser and the engine.
//!
//! The input is a blob. It is parsed as given, then — so that the fuzzer gets past the CRC and
//! the length check into the validation of the tables — once more with `total_len` set to the
//! input's length and the CRC recomputed. For a blob that parses the body checks:
//!
//! - every accessor stays in the blob (`tensor`, `layer`, `golden`, `signature`,
//!   `signed_bytes`, `weights_slice`) and the blob is `total_len` bytes;
//! - if it is small enough to run in a fuzzer ([`ARENA_CAP`] bytes of arena, [`WORK_CAP`]
//!   multiply-accumulates and element operations per embedding, counted from its own layer
//!   records, not from the header's claim): [`Model::run`] succeeds ("cannot fail on a blob
//!   that parsed"), writes nothing past the declared arena, and gives the same embedding twice
//!   from the same arena contents; [`Model::check_golden`] fails only with a golden mismatch;
//! - with an arena one byte short, the engine refuses with [`EngineError::ArenaTooSmall`].
//!
//! Inputs longer than [`MAX_INPUT`] are truncated to it; bigger models are parsed but not run.

use super::display;
use crate::blob::crc32::crc32;
use crate::blob::{EngineError, Model, Operator, CRC_LEN, HEADER_LEN, SIGNATURE_LEN};

/// Longest blob the body looks at.
pub const MAX_INPUT: usize = 8192;
/// Largest arena the body runs a model in.
pub const ARENA_CAP: usize = 16 * 1024;
/// Most work (MACs and element operations, see [`work`]) of a model the body runs.
pub const WORK_CAP: u64 = 256 * 1024;
/// Bytes after the arena that the engine must leave alone.
const GUARD: usize = 64;
const GUARD_BYTE: u8 = 0xA5;

/// Runs one input through the parser and, when it parses and is small, the engine.
pub fn blob(data: &[u8]) {
    let data = data.get(..MAX_INPUT).unwrap_or(data);
    check(data);
    let mut fixed = [0u8; MAX_INPUT];
    let fixed = &mut fixed[..data.len()];
    fixed.copy_from_slice(data);
    if fix_length_and_crc(fixed) {
        check(fixed);
    }
}

/// Sets `total_len` to the buffer's length and recomputes the CRC; false if too short.
fn fix_length_and_crc(bytes: &mut [u8]) -> bool {
    let len = bytes.len();
    if len < HEADER_LEN + SIGNATURE_LEN + CRC_LEN {
        return false;
    }
    bytes[8..12].copy_from_slice(&(len as u32).to_le_bytes());
    let crc = crc32(&bytes[..len - CRC_LEN]).to_le_bytes();
    bytes[len - CRC_LEN..].copy_from_slice(&crc);
    true
}

fn check(bytes: &[u8]) {
    let model = match Model::parse(bytes) {
        Ok(model) => model,
        Err(e) => return display(&e),
    };
    let h = *model.header();
    assert_eq!(model.bytes().len(), h.total_len as usize);
    assert!(model.bytes().len() <= bytes.len());
    assert!(model.signed_bytes().len() < model.bytes().len());
    assert!(
        model.signature().is_some(),
        "the signature block is in the blob"
    );
    assert!(model.tensor(h.tensor_count).is_none());
    assert!(model.layer(h.layer_count).is_none());
    assert!(model.golden(h.golden_count).is_none());
    for id in 0..h.tensor_count {
        let t = model.tensor(id).expect("a validated tensor");
        assert!(t.range().end <= model.arena_size());
    }
    for index in 0..h.golden_count {
        let golden = model.golden(index).expect("a validated golden vector");
        assert_eq!(golden.input.len(), model.input_len());
        assert_eq!(golden.embedding.len(), model.embedding_dim());
    }
    let _ = model.threshold();
    if model.arena_size() <= ARENA_CAP && work(&model).is_some_and(|w| w <= WORK_CAP) {
        run(&model);
    }
}

/// An upper bound of the multiply-accumulates and element operations of one embedding,
/// counted from the layer records (the header's `macs` is only a claim); `None` if a record is
/// missing (cannot happen for a blob that parsed).
pub fn work(model: &Model<'_>) -> Option<u64> {
    let mut total = 0u64;
    for index in 0..model.header().layer_count {
        let layer = model.layer(index)?;
        let input = model.tensor(layer.input)?.shape;
        let output = model.tensor(layer.output)?.shape;
        let (i_len, o_len) = (input.len() as u64, output.len() as u64);
        let k2 = u64::from(layer.kernel) * u64::from(layer.kernel);
        let per_output = match Operator::from_code(layer.op)? {
            Operator::Conv2d => k2 * u64::from(input.channels),
            Operator::DepthwiseConv2d => k2,
            Operator::PointwiseConv | Operator::Dense => u64::from(input.channels),
            _ => 1,
        };
        total = total
            .checked_add(o_len.checked_mul(per_output)?)?
            .checked_add(i_len)?;
    }
    Some(total)
}

fn run(model: &Model<'_>) {
    let arena_len = model.arena_size();
    let mut input = [0i8; ARENA_CAP];
    let input = &mut input[..model.input_len()];
    match model.golden(0) {
        Some(golden) => input.copy_from_slice(golden.input),
        None => {
            // Deterministic bytes of the blob as the input.
            for (x, &b) in input.iter_mut().zip(model.bytes().iter().cycle()) {
                *x = b as i8;
            }
        }
    }
    let mut arena = [GUARD_BYTE; ARENA_CAP + GUARD];
    // The embedding is the output tensor, inside the arena: at most ARENA_CAP long.
    let dim = model.embedding_dim();
    let mut first = [0i8; ARENA_CAP];
    arena[..arena_len].fill(0);
    let result = model.run(input, &mut arena[..arena_len + GUARD], &mut first[..dim]);
    assert_eq!(result, Ok(()), "a parsed model must run");
    assert!(
        arena[arena_len..arena_len + GUARD]
            .iter()
            .all(|&b| b == GUARD_BYTE),
        "the engine wrote past the declared arena"
    );
    let mut second = [0i8; ARENA_CAP];
    arena[..arena_len].fill(0);
    model
        .run(input, &mut arena[..arena_len], &mut second[..dim])
        .expect("a parsed model must run");
    assert_eq!(
        first[..dim],
        second[..dim],
        "the same input twice, two embeddings"
    );
    if let Some(short) = arena_len.checked_sub(1) {
        assert!(matches!(
            model.run(input, &mut arena[..short], &mut second[..dim]),
            Err(EngineError::ArenaTooSmall { .. })
        ));
    }
    let golden_work = work(model).unwrap_or(u64::MAX) * u64::from(model.header().golden_count);
    if golden_work <= WORK_CAP * 4 {
        match model.check_golden(&mut arena[..arena_len], &mut second[..dim]) {
            Ok(count) => assert_eq!(count, model.header().golden_count),
            Err(EngineError::GoldenMismatch { .. }) => {}
            Err(e) => panic!("golden vectors of a parsed model: {e:?}"),
        }
    }
}
