//! The DSP kernels (here on the emulated instructions) against the portable kernels' naive
//! reference loops, byte for byte, on the random shapes and data of `kernel_exact_tests`; and
//! the emulated instructions against their definitions on named edge cases. The firmware's
//! `kernel-check` repeats the kernel comparisons with the real instructions on the device.

use super::emulated::*;
use crate::int8::channel::CHANNEL_BYTES;
use crate::int8::dense::Dense;
use crate::int8::depthwise::DepthwiseConv2d;
use crate::int8::kernel_exact_tests::{channels, data, stage, zero_point};
use crate::int8::pointwise::PointwiseConv;
use crate::int8::{ChannelParams, Shape, Window};
use proptest::prelude::*;
use std::vec;

#[test]
fn instructions_on_named_edge_cases() {
    // SXTB16: bytes 0 and 2 (or 1 and 3) sign-extended.
    assert_eq!(sxtb16(0x80_7f_01_ff), 0x007f_ffff);
    assert_eq!(sxtb16_ror8(0x80_7f_01_ff), 0xff80_0001);
    // SSUB16 wraps each half on its own.
    assert_eq!(ssub16(0x8000_0000, 0x0001_0001), 0x7fff_ffff);
    // SMLAD: both products, the sum modulo 2^32 (the most negative halves squared twice).
    assert_eq!(smlad(0x8000_8000, 0x8000_8000, 0), i32::MIN);
    assert_eq!(smlad(0x0002_fffd, 0x0005_0007, 10), 10 - 21 + 10);
    assert_eq!(smlabb(0x0002_fffd, 0x0005_0007, 0), -21);
    assert_eq!(smlatb(0x0002_fffd, 0x0005_0007, 0), 14);
    assert_eq!(pkhbt(0x1111_2222, 0x3333_4444), 0x4444_2222);
    assert_eq!(pkhtb(0x1111_2222, 0x3333_4444), 0x3333_1111);
}

/// Channel records and an output stage of the released model's kind: every multiplier
/// shifting right by 2 or more, a linear or ReLU clamp.
fn lean_layer(
    raw: &[(i32, i32, i32)],
    relu: bool,
    out_zp: i32,
) -> (std::vec::Vec<u8>, crate::int8::OutputStage) {
    let params = raw
        .iter()
        .flat_map(|&(bias, multiplier, shift)| {
            crate::int8::ChannelParam {
                bias,
                requantize: crate::int8::QuantizedMultiplier { multiplier, shift },
            }
            .to_bytes()
        })
        .collect();
    let stage = if relu {
        crate::int8::OutputStage::relu(out_zp)
    } else {
        crate::int8::OutputStage::linear(out_zp)
    };
    (params, stage)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn dsp_pointwise_is_the_reference_byte_for_byte(
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
        pw.run_dsp(input, &mut out).unwrap();
        prop_assert_eq!(&out, &expected);
        let mut buffer = input.to_vec();
        let mut scratch = vec![0i8; c_in];
        pw.run_in_place_dsp(&mut buffer, &mut scratch).unwrap();
        prop_assert_eq!(&buffer[..pixels * c_out], &expected[..]);
    }

    #[test]
    fn dsp_dense_is_the_reference_byte_for_byte(
        c_in in prop_oneof![1usize..20, 250usize..262],
        c_out in 1usize..20,
        zp in zero_point(),
        stage in stage(),
        input in data(261),
        weights in data(261 * 19),
        params in channels(19),
    ) {
        let dense = Dense {
            c_in,
            c_out,
            input_zero_point: zp,
            weights: &weights[..c_in * c_out],
            channels: ChannelParams::new(&params[..c_out * CHANNEL_BYTES]).unwrap(),
            stage,
        };
        let mut expected = vec![0i8; c_out];
        dense.run_portable(&input[..c_in], &mut expected).unwrap();
        let mut out = vec![0i8; c_out];
        dense.run_dsp(&input[..c_in], &mut out).unwrap();
        prop_assert_eq!(out, expected);
    }

    #[test]
    fn dsp_depthwise_is_the_reference_byte_for_byte(
        h in 1u16..9,
        w in prop_oneof![1u16..9, 60u16..67],
        c in prop_oneof![1u16..6, 15u16..18],
        kernel in prop_oneof![6 => Just(3u8), 1 => Just(1u8)],
        stride in prop_oneof![6 => 1u8..=2, 1 => Just(3u8)],
        padding in prop_oneof![4 => Just(1u8), 1 => Just(0u8), 1 => Just(2u8)],
        zp in zero_point(),
        stage in stage(),
        input in data(8 * 66 * 17),
        weights in data(9 * 17),
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
        let mut expected = vec![0i8; dw.output.len()];
        dw.run_reference(input, &mut expected);
        let mut out = vec![0i8; dw.output.len()];
        dw.run_dsp(input, &mut out).unwrap();
        prop_assert_eq!(out, expected);
    }

    /// Layers whose every multiplier shifts right by 2 or more and whose clamp tops at 127 (the
    /// released model's kind): the lean requantisation path.
    #[test]
    fn dsp_pointwise_lean_path_is_the_reference_byte_for_byte(
        pixels in 1usize..12,
        c_in in prop_oneof![Just(16usize), 1usize..20, 60usize..70, Just(128usize)],
        c_out in 1usize..40,
        zp in -128i32..=127,
        out_zp in -128i32..=127,
        relu in any::<bool>(),
        input in data(11 * 128),
        weights in data(128 * 40),
        raw in prop::collection::vec(
            (prop_oneof![-100_000i32..100_000, any::<i32>()], (1i32 << 30)..=i32::MAX, -31i32..=-2),
            40,
        ),
    ) {
        let (params, stage) = lean_layer(&raw[..c_out], relu, out_zp);
        let pw = PointwiseConv {
            pixels,
            c_in,
            c_out,
            input_zero_point: zp,
            weights: &weights[..c_in * c_out],
            channels: ChannelParams::new(&params).unwrap(),
            stage,
        };
        let input = &input[..pixels * c_in];
        let mut expected = vec![0i8; pixels * c_out];
        pw.run_reference(input, &mut expected);
        let mut out = vec![0i8; pixels * c_out];
        pw.run_dsp(input, &mut out).unwrap();
        prop_assert_eq!(&out, &expected);
    }

    #[test]
    fn dsp_first_conv_is_the_reference_byte_for_byte(
        h in 1u16..12,
        w in prop_oneof![1u16..12, 60u16..66],
        c_out in prop_oneof![1u16..5, 15u16..18, Just(32u16)],
        stride in 1u8..=2,
        padding in 0u8..=2,
        zp in zero_point(),
        stage in stage(),
        lean in any::<bool>(),
        input in data(11 * 65),
        weights in data(9 * 32),
        params in channels(32),
    ) {
        let window = Window { kernel: 3, stride, padding };
        let (Some(oh), Some(ow)) = (window.output_side(h), window.output_side(w)) else {
            return Ok(());
        };
        let mut params = params[..c_out as usize * CHANNEL_BYTES].to_vec();
        let stage = if lean {
            // The released model's kind: right shifts of 2 or more, an int8 clamp.
            for record in params.chunks_exact_mut(CHANNEL_BYTES) {
                let shift = -2 - (record[0] % 20) as i32;
                record[8..12].copy_from_slice(&shift.to_le_bytes());
                record[7] = 0x40 | (record[7] & 0x3f);
            }
            crate::int8::OutputStage::linear(stage.zero_point)
        } else {
            stage
        };
        let conv = crate::int8::conv2d::Conv2d {
            input: Shape::new(h, w, 1),
            output: Shape::new(oh, ow, c_out),
            window,
            input_zero_point: zp,
            weights: &weights[..9 * c_out as usize],
            channels: ChannelParams::new(&params).unwrap(),
            stage,
        };
        let input = &input[..(h * w) as usize];
        let mut expected = vec![0i8; conv.output.len()];
        conv.run_reference(input, &mut expected);
        let mut out = vec![0i8; conv.output.len()];
        conv.run_dsp(input, &mut out).unwrap();
        prop_assert_eq!(out, expected);
    }

    /// The dense layer of the released model's kind (lean requantisation of every output).
    #[test]
    fn dsp_dense_lean_path_is_the_reference_byte_for_byte(
        c_in in prop_oneof![1usize..20, 250usize..258],
        c_out in 1usize..140,
        zp in -128i32..=127,
        out_zp in -128i32..=127,
        relu in any::<bool>(),
        input in data(257),
        weights in data(257 * 139),
        raw in prop::collection::vec(
            (any::<i32>(), (1i32 << 30)..=i32::MAX, -31i32..=-2),
            139,
        ),
    ) {
        let (params, stage) = lean_layer(&raw[..c_out], relu, out_zp);
        let dense = Dense {
            c_in,
            c_out,
            input_zero_point: zp,
            weights: &weights[..c_in * c_out],
            channels: ChannelParams::new(&params).unwrap(),
            stage,
        };
        let mut expected = vec![0i8; c_out];
        dense.run_portable(&input[..c_in], &mut expected).unwrap();
        let mut out = vec![0i8; c_out];
        dense.run_dsp(&input[..c_in], &mut out).unwrap();
        prop_assert_eq!(out, expected);
    }

    /// The residual add on the DSP loop against `Add::element`, lean layers and others.
    #[test]
    fn dsp_add_is_the_elementwise_reference(
        a in data(300),
        b in data(300),
        zp1 in -128i32..=127,
        zp2 in -128i32..=127,
        m in prop::collection::vec(((1i32 << 30)..=i32::MAX, -31i32..=0), 3),
        out_zp in -128i32..=127,
        kind in 0u8..3,
    ) {
        let q = |i: usize| crate::int8::QuantizedMultiplier { multiplier: m[i].0, shift: m[i].1 };
        let stage = match kind {
            0 => crate::int8::OutputStage::linear(out_zp),
            1 => crate::int8::OutputStage::relu(out_zp),
            _ => crate::int8::OutputStage { zero_point: out_zp, min: -20, max: 90 },
        };
        let add = crate::int8::add::Add {
            input1_zero_point: zp1,
            input1: q(0),
            input2_zero_point: zp2,
            input2: q(1),
            output: q(2),
            stage,
        };
        let expected: std::vec::Vec<i8> = a.iter().zip(&b).map(|(&x, &y)| add.element(x, y)).collect();
        let mut in_place = b.clone();
        add.run_in_place_dsp(&a, &mut in_place).unwrap();
        prop_assert_eq!(&in_place, &expected);
    }
}
