//! Per-output-channel constants of a requantising kernel, read in place from the model blob.
//!
//! Each channel is 12 little-endian bytes: `bias: i32`, `multiplier: i32`, `shift: i32`,
//! precomputed by the quantiser (bias at `input_scale · weight_scale[c]`; multiplier and shift
//! from `input_scale · weight_scale[c] / output_scale`).

use super::{OutputStage, QuantizedMultiplier};

/// Bytes per channel.
pub const CHANNEL_BYTES: usize = 12;

/// The constants of one output channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelParam {
    /// `i32` bias, already at the accumulator's scale.
    pub bias: i32,
    /// Requantisation from the accumulator's scale to the output's.
    pub requantize: QuantizedMultiplier,
}

impl ChannelParam {
    /// The 12-byte little-endian encoding.
    pub fn to_bytes(&self) -> [u8; CHANNEL_BYTES] {
        let mut out = [0u8; CHANNEL_BYTES];
        out[0..4].copy_from_slice(&self.bias.to_le_bytes());
        out[4..8].copy_from_slice(&self.requantize.multiplier.to_le_bytes());
        out[8..12].copy_from_slice(&self.requantize.shift.to_le_bytes());
        out
    }

    /// The output value of an accumulator `Σ w·(x − zp)`: add the bias (wrapping, as TFLite's
    /// `int32` arithmetic), requantise, add the output zero point and clamp.
    #[inline(always)]
    pub fn output(&self, acc: i32, stage: OutputStage) -> i8 {
        stage.finish(self.requantize.apply(acc.wrapping_add(self.bias)))
    }
}

/// A view of `n` channels' constants: `12·n` bytes, any alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelParams<'a> {
    bytes: &'a [u8],
}

fn le_i32(bytes: &[u8]) -> i32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(bytes);
    i32::from_le_bytes(word)
}

/// Decodes one 12-byte channel record.
fn decode(b: &[u8]) -> ChannelParam {
    ChannelParam {
        bias: le_i32(&b[0..4]),
        requantize: QuantizedMultiplier {
            multiplier: le_i32(&b[4..8]),
            shift: le_i32(&b[8..12]),
        },
    }
}

impl<'a> ChannelParams<'a> {
    /// Wraps bytes; `None` unless the length is a multiple of 12.
    pub const fn new(bytes: &'a [u8]) -> Option<Self> {
        if bytes.len() % CHANNEL_BYTES == 0 {
            Some(Self { bytes })
        } else {
            None
        }
    }

    /// The raw records (12 bytes per channel).
    pub const fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Number of channels.
    pub const fn len(&self) -> usize {
        self.bytes.len() / CHANNEL_BYTES
    }

    /// Whether there are none.
    pub const fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Channel `c`, or `None` past the end.
    #[inline]
    pub fn get(&self, c: usize) -> Option<ChannelParam> {
        self.bytes
            .get(c * CHANNEL_BYTES..(c + 1) * CHANNEL_BYTES)
            .map(decode)
    }

    /// Every channel, in order.
    pub fn iter(&self) -> impl Iterator<Item = ChannelParam> + 'a {
        self.bytes.chunks_exact(CHANNEL_BYTES).map(decode)
    }
}
