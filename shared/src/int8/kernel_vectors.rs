//! Kernels against hand-computed vectors (named cases) and wrong-length buffers.

use super::add::{Add, AddMultipliers};
use super::conv2d::Conv2d;
use super::l2norm::l2_normalize;
use super::pointwise::PointwiseConv;
use super::pool::GlobalAveragePool;
use super::*;
use std::vec::Vec;

fn unit_channels(n: usize, bias: i32, multiplier: f64) -> Vec<u8> {
    (0..n)
        .flat_map(|_| {
            ChannelParam {
                bias,
                requantize: QuantizedMultiplier::from_real(multiplier).unwrap(),
            }
            .to_bytes()
        })
        .collect()
}

#[test]
fn hand_computed_vectors() {
    // 3×3 all-ones filter over a 2×2 image of 1s with padding 1: every output sees the four
    // input pixels, so acc = 4 (+ bias 2) = 6; × 0.5 = 3; + zp 10 = 13.
    let ch = unit_channels(1, 2, 0.5);
    let conv = Conv2d {
        input: Shape::new(2, 2, 1),
        output: Shape::new(2, 2, 1),
        window: Window {
            kernel: 3,
            stride: 1,
            padding: 1,
        },
        input_zero_point: 0,
        weights: &[1; 9],
        channels: ChannelParams::new(&ch).unwrap(),
        stage: OutputStage::linear(10),
    };
    let mut out = [0i8; 4];
    conv.run(&[1; 4], &mut out).unwrap();
    assert_eq!(out, [13; 4]);
    // Input zero point 1 makes the same image real 0: only the bias is left: 2·0.5 + 10 = 11.
    let conv = Conv2d {
        input_zero_point: 1,
        ..conv
    };
    conv.run(&[1; 4], &mut out).unwrap();
    assert_eq!(out, [11; 4]);
    // A fused ReLU at zero point −5 clamps a negative result to −5.
    let ch = unit_channels(1, -100, 0.5);
    let conv = Conv2d {
        channels: ChannelParams::new(&ch).unwrap(),
        stage: OutputStage::relu(-5),
        ..conv
    };
    conv.run(&[1; 4], &mut out).unwrap();
    assert_eq!(out, [-5; 4]);
    // ReLU6 at scale 6/255, zero point −128: real [0, 6] is the whole int8 range.
    let relu6 = OutputStage::relu6(-128, 6.0 / 255.0);
    assert_eq!((relu6.min, relu6.max), (-128, 127));
    // At scale 0.1, zero point 0: real 6 is 60, so 100 clamps to 60 and −3 to 0.
    let relu6 = OutputStage::relu6(0, 0.1);
    assert_eq!(
        (relu6.finish(100), relu6.finish(-3), relu6.finish(42)),
        (60, 0, 42)
    );
    // Pooling: means 1.5 → 2 and −1.5 → −2 (ties away from zero).
    let pool = GlobalAveragePool {
        input: Shape::new(1, 2, 2),
        stage: OutputStage::linear(0),
    };
    let mut pooled = [0i8; 2];
    pool.run(&[1, -1, 2, -2], &mut pooled).unwrap();
    assert_eq!(pooled, [2, -2]);
    // L2: (3, 4) → (0.6, 0.8)·128 = (76.8, 102.4) → (77, 102).
    let mut unit = [0i8; 2];
    l2_normalize(&[3, 4], 0, &mut unit).unwrap();
    assert_eq!(unit, [77, 102]);
    // A zero vector stays zero (TFLite treats the norm of 0 as 1).
    l2_normalize(&[0, 0], 0, &mut unit).unwrap();
    assert_eq!(unit, [0, 0]);
    // Add with equal scales 0.1 and output scale 0.2: (10 + 20)·0.1 / 0.2 = 15.
    let add = Add::from_scales(0.1, 0, 0.1, 0, 0.2, OutputStage::linear(0)).unwrap();
    assert_eq!(add.element(10, 20), 15);
}

#[test]
fn wrong_lengths_are_typed_errors() {
    let ch = unit_channels(2, 0, 0.5);
    let pw = PointwiseConv {
        pixels: 4,
        c_in: 2,
        c_out: 2,
        input_zero_point: 0,
        weights: &[1; 4],
        channels: ChannelParams::new(&ch).unwrap(),
        stage: OutputStage::linear(0),
    };
    let mut out = [0i8; 8];
    assert!(matches!(
        pw.run(&[0; 7], &mut out),
        Err(KernelError::Length {
            buffer: "input",
            expected: 8,
            actual: 7
        })
    ));
    assert!(matches!(
        pw.run(&[0; 8], &mut out[..6]),
        Err(KernelError::Length {
            buffer: "output",
            ..
        })
    ));
    let wide = PointwiseConv {
        c_out: 3,
        weights: &[1; 6],
        ..pw
    };
    assert!(matches!(
        wide.run_in_place(&mut [0; 8], &mut [0; 2]),
        Err(KernelError::Shape { .. }) | Err(KernelError::Length { .. })
    ));
    let conv = Conv2d {
        input: Shape::new(4, 4, 1),
        output: Shape::new(3, 3, 1),
        window: Window {
            kernel: 3,
            stride: 1,
            padding: 1,
        },
        input_zero_point: 0,
        weights: &[0; 9],
        channels: ChannelParams::new(&ch[..12]).unwrap(),
        stage: OutputStage::linear(0),
    };
    assert!(matches!(
        conv.run(&[0; 16], &mut [0; 9]),
        Err(KernelError::Shape { .. })
    ));
    assert!(ChannelParams::new(&[0; 13]).is_none());
}

/// Why the device's int8 results differ from a runtime that rounds once (ONNX Runtime on the
/// QDQ export): TFLite's double rounding keeps only `−shift` fraction bits after the doubling high
/// product. A stem accumulator of the release model, 18256 × 0.00221843 = 40.49966: rounded once
/// it is 40; TFLite first rounds 18256 · 0.568 = 10367.9 to 10368 = 40.5 · 2^8, then rounds that
/// tie away from zero to 41.
#[test]
fn double_rounding_explains_the_difference() {
    let m = QuantizedMultiplier::from_real(0.002_218_43).unwrap();
    assert_eq!(m.shift, -8);
    let x = 18_256;
    let once = (f64::from(x) * m.to_real()).round() as i32;
    assert_eq!(once, 40);
    assert_eq!(m.apply(x), 41, "TFLite's double rounding");
}

#[test]
fn add_multipliers_encode_as_three_little_endian_pairs() {
    let m = AddMultipliers {
        input1: QuantizedMultiplier {
            multiplier: 0x4000_0000,
            shift: -1,
        },
        input2: QuantizedMultiplier {
            multiplier: 0x7fff_ffff,
            shift: 0,
        },
        output: QuantizedMultiplier {
            multiplier: 0x0102_0304,
            shift: -31,
        },
    };
    let bytes = m.to_bytes();
    assert_eq!(bytes[..8], [0, 0, 0, 0x40, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(bytes[16..20], [4, 3, 2, 1]);
    assert_eq!(AddMultipliers::from_bytes(&bytes), Some(m));
    // Any other length is refused.
    assert_eq!(AddMultipliers::from_bytes(&bytes[..23]), None);
    assert_eq!(AddMultipliers::from_bytes(&[0; 25]), None);
}
