//! The fast kernels against their naive reference loops, byte for byte, on random shapes
//! (odd channel counts, strides 1 and 2, padding edges, 1×1 images, long channel runs past the
//! packed path's limit), random zero points (and out-of-range ones, which take the naive path)
//! and data biased towards the extremes −128 and 127.

use super::add::Add;
use super::channel::CHANNEL_BYTES;
use super::conv2d::Conv2d;
use super::depthwise::DepthwiseConv2d;
use super::pointwise::PointwiseConv;
use super::*;
use proptest::prelude::*;
use std::vec::Vec;

/// Int8 data where about a third of the values are −128 or 127.
pub(crate) fn data(n: usize) -> impl Strategy<Value = Vec<i8>> {
    prop::collection::vec(prop_oneof![any::<i8>(), Just(i8::MIN), Just(i8::MAX)], n)
}

/// Per-channel constants: biases over the whole `i32` range now and then, multipliers in
/// `[2^30, 2^31)` (or 0), shifts over the whole valid range (mostly right shifts).
pub(crate) fn channels(n: usize) -> impl Strategy<Value = Vec<u8>> {
    let one = (
        prop_oneof![-100_000i32..100_000, any::<i32>()],
        prop_oneof![(1i32 << 30)..=i32::MAX, Just(0), Just(i32::MAX)],
        prop_oneof![-31i32..=0, -12i32..=-4, 0i32..=30],
    );
    prop::collection::vec(one, n).prop_map(|v| {
        v.into_iter()
            .flat_map(|(bias, multiplier, shift)| {
                ChannelParam {
                    bias,
                    requantize: QuantizedMultiplier { multiplier, shift },
                }
                .to_bytes()
            })
            .collect()
    })
}

/// Output zero point and a non-empty clamp range.
pub(crate) fn stage() -> impl Strategy<Value = OutputStage> {
    (-128i32..=127, any::<i8>(), any::<i8>()).prop_map(|(zero_point, a, b)| OutputStage {
        zero_point,
        min: a.min(b),
        max: a.max(b),
    })
}

/// An input zero point: usually int8, sometimes outside (the naive path).
pub(crate) fn zero_point() -> impl Strategy<Value = i32> {
    prop_oneof![8 => -128i32..=127, 1 => Just(-128), 1 => Just(127), 1 => 128i32..300]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn pointwise_is_its_reference_byte_for_byte(
        pixels in 1usize..12,
        c_in in prop_oneof![1usize..20, 60usize..70, 125usize..135],
        c_out_less in 0usize..9,
        zp in zero_point(),
        stage in stage(),
        input in data(11 * 134),
        weights in data(134 * 134),
        params in channels(134),
    ) {
        let c_out = c_in.saturating_sub(c_out_less).max(1);
        let pw = PointwiseConv {
            pixels,
            c_in,
            c_out,
            input_zero_point: zp,
            weights: &weights[..c_in * c_out],
            channels: ChannelParams::new(&params[..c_out * CHANNEL_BYTES]).unwrap(),
            stage,
        };
        let input = &input[..pixels * c_in];
        let mut expected = vec![0i8; pixels * c_out];
        pw.run_reference(input, &mut expected);
        let mut out = vec![0i8; pixels * c_out];
        pw.run(input, &mut out).unwrap();
        prop_assert_eq!(&out, &expected);
        let mut buffer = input.to_vec();
        let mut scratch = vec![0i8; c_in];
        pw.run_in_place(&mut buffer, &mut scratch).unwrap();
        prop_assert_eq!(&buffer[..pixels * c_out], &expected[..]);
    }

    #[test]
    fn depthwise_is_its_reference_byte_for_byte(
        h in 1u16..9,
        w in prop_oneof![1u16..9, 60u16..70],
        c in prop_oneof![1u16..6, 15u16..18],
        kernel in prop_oneof![4 => Just(3u8), 1 => Just(1u8), 1 => Just(5u8)],
        stride in prop_oneof![4 => 1u8..=2, 1 => Just(3u8)],
        padding in 0u8..=2,
        zp in zero_point(),
        stage in stage(),
        input in data(8 * 69 * 17),
        weights in data(25 * 17),
        params in channels(17),
    ) {
        let window = Window { kernel, stride, padding };
        let (Some(oh), Some(ow)) = (window.output_side(h), window.output_side(w)) else {
            return Ok(());
        };
        let shape = Shape::new(h, w, c);
        let k = kernel as usize;
        let dw = DepthwiseConv2d {
            input: shape,
            output: Shape::new(oh, ow, c),
            window,
            input_zero_point: zp,
            weights: &weights[..k * k * c as usize],
            channels: ChannelParams::new(&params[..c as usize * CHANNEL_BYTES]).unwrap(),
            stage,
        };
        let input = &input[..shape.len()];
        let out_len = Shape::new(oh, ow, c).len();
        let mut expected = vec![0i8; out_len];
        dw.run_reference(input, &mut expected);
        let mut out = vec![0i8; out_len];
        dw.run(input, &mut out).unwrap();
        prop_assert_eq!(out, expected);
    }

    #[test]
    fn conv2d_is_its_reference_byte_for_byte(
        h in 1u16..8,
        w in 1u16..8,
        c_in in prop_oneof![1u16..4, 14u16..16],
        c_out in 1u16..8,
        kernel in prop_oneof![4 => Just(3u8), 1 => Just(1u8), 1 => Just(2u8)],
        stride in 1u8..=3,
        padding in 0u8..=2,
        zp in zero_point(),
        stage in stage(),
        input in data(7 * 7 * 15),
        weights in data(7 * 9 * 15),
        params in channels(7),
    ) {
        let window = Window { kernel, stride, padding };
        let (Some(oh), Some(ow)) = (window.output_side(h), window.output_side(w)) else {
            return Ok(());
        };
        let shape = Shape::new(h, w, c_in);
        let k = kernel as usize;
        let conv = Conv2d {
            input: shape,
            output: Shape::new(oh, ow, c_out),
            window,
            input_zero_point: zp,
            weights: &weights[..c_out as usize * k * k * c_in as usize],
            channels: ChannelParams::new(&params[..c_out as usize * CHANNEL_BYTES]).unwrap(),
            stage,
        };
        let input = &input[..shape.len()];
        let out_len = Shape::new(oh, ow, c_out).len();
        let mut expected = vec![0i8; out_len];
        conv.run_reference(input, &mut expected);
        let mut out = vec![0i8; out_len];
        conv.run(input, &mut out).unwrap();
        prop_assert_eq!(out, expected);
    }

    /// `Add::run` / `run_in_place` (per-byte tables) against `Add::element`.
    #[test]
    fn add_is_its_elementwise_reference(
        a in data(300),
        b in data(300),
        zp1 in zero_point(),
        zp2 in zero_point(),
        m in prop::collection::vec((prop_oneof![(1i32 << 30)..=i32::MAX, Just(0)], -31i32..=0), 3),
        stage in stage(),
    ) {
        let q = |i: usize| QuantizedMultiplier { multiplier: m[i].0, shift: m[i].1 };
        let add = Add {
            input1_zero_point: zp1,
            input1: q(0),
            input2_zero_point: zp2,
            input2: q(1),
            output: q(2),
            stage,
        };
        let expected: Vec<i8> = a.iter().zip(&b).map(|(&x, &y)| add.element(x, y)).collect();
        let mut out = vec![0i8; a.len()];
        add.run(&a, &b, &mut out).unwrap();
        prop_assert_eq!(&out, &expected);
        let mut in_place = b.clone();
        add.run_in_place(&a, &mut in_place).unwrap();
        prop_assert_eq!(&in_place, &expected);
    }
}
