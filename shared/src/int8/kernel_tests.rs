//! Every kernel against a float reference (tolerance: 1 LSB, from TFLite's double rounding of
//! the requantisation; pooling is exact) and against hand-computed vectors.

use super::add::Add;
use super::conv2d::Conv2d;
use super::dense::Dense;
use super::depthwise::DepthwiseConv2d;
use super::l2norm::l2_normalize;
use super::pointwise::PointwiseConv;
use super::pool::GlobalAveragePool;
use super::*;
use proptest::prelude::*;
use std::vec::Vec;

/// Tolerance of every requantising kernel against the float reference, in LSBs.
const TOLERANCE_LSB: i32 = 1;

/// Quantisation parameters of one random layer.
#[derive(Debug, Clone)]
struct Layer {
    input_scale: f64,
    input_zero_point: i32,
    weight_scales: Vec<f64>,
    output_scale: f64,
    stage: OutputStage,
    biases: Vec<i32>,
}

impl Layer {
    fn channel_bytes(&self) -> Vec<u8> {
        self.weight_scales
            .iter()
            .zip(&self.biases)
            .flat_map(|(&ws, &bias)| {
                let m = self.input_scale * ws / self.output_scale;
                ChannelParam {
                    bias,
                    requantize: QuantizedMultiplier::from_real(m).unwrap(),
                }
                .to_bytes()
            })
            .collect()
    }

    /// The float reference of one output: `Σ w·x` in real units, quantised with exact rounding.
    fn reference(&self, c: usize, taps: impl Iterator<Item = (i8, i8)>) -> i32 {
        let ws = self.weight_scales[c];
        let mut y = self.input_scale * ws * f64::from(self.biases[c]);
        for (w, x) in taps {
            y += ws
                * f64::from(w)
                * self.input_scale
                * f64::from(i32::from(x) - self.input_zero_point);
        }
        let q = (y / self.output_scale).round() as i64 + i64::from(self.stage.zero_point);
        q.clamp(i64::from(self.stage.min), i64::from(self.stage.max)) as i32
    }
}

fn layer(c_out: usize) -> impl Strategy<Value = Layer> {
    (
        1e-3f64..0.1,
        -128i32..=127,
        prop::collection::vec(1e-3f64..0.05, c_out),
        1e-3f64..0.05,
        -128i32..=127,
        any::<bool>(),
        prop::collection::vec(-2000i32..2000, c_out),
    )
        .prop_map(|(si, zi, ws, so, zo, relu, biases)| Layer {
            input_scale: si,
            input_zero_point: zi,
            weight_scales: ws,
            output_scale: so,
            stage: if relu {
                OutputStage::relu(zo)
            } else {
                OutputStage::linear(zo)
            },
            biases,
        })
}

fn bytes(n: usize) -> impl Strategy<Value = Vec<i8>> {
    prop::collection::vec(any::<i8>(), n)
}

fn weights(n: usize) -> impl Strategy<Value = Vec<i8>> {
    prop::collection::vec(-127i8..=127, n)
}

fn assert_close(got: &[i8], expected: &[i32]) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), expected.len());
    for (i, (&g, &e)) in got.iter().zip(expected).enumerate() {
        prop_assert!(
            (i32::from(g) - e).abs() <= TOLERANCE_LSB,
            "element {}: got {} expected {}",
            i,
            g,
            e
        );
    }
    Ok(())
}

/// Random convolution geometry: (input side, c_in, c_out, window).
fn geometry() -> impl Strategy<Value = (u16, usize, usize, Window)> {
    (
        1u16..7,
        1usize..4,
        1usize..5,
        prop_oneof![Just(1u8), Just(3)],
        1u8..3,
        0u8..2,
    )
        .prop_filter_map("window fits", |(side, ci, co, k, s, p)| {
            let w = Window {
                kernel: k,
                stride: s,
                padding: p,
            };
            w.output_side(side).map(|_| (side, ci, co, w))
        })
}

proptest! {
    #[test]
    fn conv2d_matches_the_float_reference(
        (side, ci, co, window) in geometry(),
        l in layer(4),
        seed in bytes(7 * 7 * 3),
        w in weights(4 * 9 * 3),
    ) {
        let out_side = window.output_side(side).unwrap();
        let k = window.kernel as usize;
        let l = Layer { weight_scales: l.weight_scales[..co].to_vec(), biases: l.biases[..co].to_vec(), ..l };
        let input = &seed[..side as usize * side as usize * ci];
        let weights = &w[..co * k * k * ci];
        let channels = l.channel_bytes();
        let conv = Conv2d {
            input: Shape::new(side, side, ci as u16),
            output: Shape::new(out_side, out_side, co as u16),
            window,
            input_zero_point: l.input_zero_point,
            weights,
            channels: ChannelParams::new(&channels).unwrap(),
            stage: l.stage,
        };
        let mut out = vec![0i8; conv.output.len()];
        conv.run(input, &mut out).unwrap();
        let (s, os, pad) = (side as isize, out_side as usize, window.padding as isize);
        let mut expected = Vec::new();
        for oy in 0..os {
            for ox in 0..os {
                for c in 0..co {
                    let mut taps = Vec::new();
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (oy * window.stride as usize + ky) as isize - pad;
                            let ix = (ox * window.stride as usize + kx) as isize - pad;
                            if iy < 0 || ix < 0 || iy >= s || ix >= s { continue; }
                            for i in 0..ci {
                                taps.push((weights[((c * k + ky) * k + kx) * ci + i],
                                           input[(iy as usize * side as usize + ix as usize) * ci + i]));
                            }
                        }
                    }
                    expected.push(l.reference(c, taps.into_iter()));
                }
            }
        }
        assert_close(&out, &expected)?;
    }

    #[test]
    fn depthwise_matches_the_float_reference(
        (side, c, _, window) in geometry(),
        l in layer(3),
        seed in bytes(7 * 7 * 3),
        w in weights(9 * 3),
    ) {
        let out_side = window.output_side(side).unwrap();
        let k = window.kernel as usize;
        let l = Layer { weight_scales: l.weight_scales[..c].to_vec(), biases: l.biases[..c].to_vec(), ..l };
        let input = &seed[..side as usize * side as usize * c];
        let weights = &w[..k * k * c];
        let channels = l.channel_bytes();
        let dw = DepthwiseConv2d {
            input: Shape::new(side, side, c as u16),
            output: Shape::new(out_side, out_side, c as u16),
            window,
            input_zero_point: l.input_zero_point,
            weights,
            channels: ChannelParams::new(&channels).unwrap(),
            stage: l.stage,
        };
        let mut out = vec![0i8; dw.output.len()];
        dw.run(input, &mut out).unwrap();
        let (s, pad) = (side as isize, window.padding as isize);
        let mut expected = Vec::new();
        for oy in 0..out_side as usize {
            for ox in 0..out_side as usize {
                for ch in 0..c {
                    let mut taps = Vec::new();
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (oy * window.stride as usize + ky) as isize - pad;
                            let ix = (ox * window.stride as usize + kx) as isize - pad;
                            if iy < 0 || ix < 0 || iy >= s || ix >= s { continue; }
                            taps.push((weights[(ky * k + kx) * c + ch],
                                       input[(iy as usize * side as usize + ix as usize) * c + ch]));
                        }
                    }
                    expected.push(l.reference(ch, taps.into_iter()));
                }
            }
        }
        assert_close(&out, &expected)?;
    }

    #[test]
    fn pointwise_and_dense_match_the_float_reference_and_in_place_is_identical(
        pixels in 1usize..10,
        ci in 1usize..9,
        co_less in 0usize..4,
        l in layer(8),
        input in bytes(10 * 8),
        w in weights(8 * 8),
    ) {
        let co = ci.saturating_sub(co_less).max(1);
        let l = Layer { weight_scales: l.weight_scales[..co].to_vec(), biases: l.biases[..co].to_vec(), ..l };
        let input = &input[..pixels * ci];
        let weights = &w[..co * ci];
        let channels = l.channel_bytes();
        let pw = PointwiseConv {
            pixels, c_in: ci, c_out: co,
            input_zero_point: l.input_zero_point,
            weights,
            channels: ChannelParams::new(&channels).unwrap(),
            stage: l.stage,
        };
        let mut out = vec![0i8; pixels * co];
        pw.run(input, &mut out).unwrap();
        let mut expected = Vec::new();
        for p in 0..pixels {
            for c in 0..co {
                let taps = weights[c * ci..(c + 1) * ci].iter().copied().zip(input[p * ci..(p + 1) * ci].iter().copied());
                expected.push(l.reference(c, taps));
            }
        }
        assert_close(&out, &expected)?;
        let mut buffer = input.to_vec();
        let mut scratch = vec![0i8; ci];
        pw.run_in_place(&mut buffer, &mut scratch).unwrap();
        prop_assert_eq!(&buffer[..pixels * co], &out[..]);
        let dense = Dense { c_in: ci, c_out: co, input_zero_point: l.input_zero_point, weights, channels: pw.channels, stage: l.stage };
        let mut one = vec![0i8; co];
        dense.run(&input[..ci], &mut one).unwrap();
        prop_assert_eq!(&one[..], &out[..co]);
    }

    #[test]
    fn global_average_pool_is_the_rounded_mean(h in 1u16..6, w in 1u16..6, c in 1u16..4, data in bytes(5 * 5 * 3)) {
        let shape = Shape::new(h, w, c);
        let input = &data[..shape.len()];
        let pool = GlobalAveragePool { input: shape, stage: OutputStage::linear(0) };
        let mut out = vec![0i8; c as usize];
        pool.run(input, &mut out).unwrap();
        for (ch, &got) in out.iter().enumerate() {
            let values: Vec<f64> = input.iter().skip(ch).step_by(c as usize).map(|&x| f64::from(x)).collect();
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            // f64::round rounds half away from zero, as TFLite's (acc ± n/2) / n.
            prop_assert_eq!(i32::from(got), mean.round() as i32);
        }
    }

    #[test]
    fn add_matches_the_float_reference(
        a in bytes(16), b in bytes(16),
        s1 in 1e-3f64..0.1, s2 in 1e-3f64..0.1, so in 1e-3f64..0.2,
        z1 in -128i32..=127, z2 in -128i32..=127, zo in -128i32..=127,
    ) {
        let add = Add::from_scales(s1, z1, s2, z2, so, OutputStage::linear(zo)).unwrap();
        let mut out = vec![0i8; 16];
        add.run(&a, &b, &mut out).unwrap();
        let expected: Vec<i32> = a.iter().zip(&b).map(|(&x, &y)| {
            let real = s1 * f64::from(i32::from(x) - z1) + s2 * f64::from(i32::from(y) - z2);
            ((real / so).round() as i64 + i64::from(zo)).clamp(-128, 127) as i32
        }).collect();
        assert_close(&out, &expected)?;
        let mut in_place = b.clone();
        add.run_in_place(&a, &mut in_place).unwrap();
        prop_assert_eq!(in_place, out);
    }

    #[test]
    fn l2_normalize_matches_the_float_reference(v in bytes(64), zp in -20i32..20) {
        let mut out = vec![0i8; v.len()];
        l2_normalize(&v, zp, &mut out).unwrap();
        let d: Vec<f64> = v.iter().map(|&x| f64::from(i32::from(x) - zp)).collect();
        let norm = d.iter().map(|x| x * x).sum::<f64>().sqrt();
        prop_assume!(norm > 1.0);
        let expected: Vec<i32> = d.iter().map(|x| ((x / norm) * 128.0).round().clamp(-128.0, 127.0) as i32).collect();
        assert_close(&out, &expected)?;
    }
}
