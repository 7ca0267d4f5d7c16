//! Weight quantisation and layout: per-output-channel symmetric int8, reordered from the folded
//! model's OIHW into the layout each kernel reads.

use crate::folded::FoldedConv;

/// Symmetric per-channel int8 weights: `scale[c] = max|w_c| / 127`.
pub fn quantize_channels(weights: &[f32], channels: usize) -> (Vec<i8>, Vec<f64>) {
    let per = weights.len() / channels;
    let mut q = Vec::with_capacity(weights.len());
    let mut scales = Vec::with_capacity(channels);
    for c in 0..channels {
        let w = &weights[c * per..(c + 1) * per];
        let max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 {
            f64::from(max) / 127.0
        } else {
            1.0
        };
        q.extend(
            w.iter()
                .map(|&v| (f64::from(v) / scale).round().clamp(-127.0, 127.0) as i8),
        );
        scales.push(scale);
    }
    (q, scales)
}

/// `q` (OIHW, as folded) in the kernel's layout: OHWI for a convolution, HWC for a depthwise
/// one, OI for a pointwise one (OHWI with a 1×1 kernel).
pub fn kernel_layout(q: &[i8], conv: &FoldedConv) -> Vec<i8> {
    let (k, c_in, c_out) = (conv.kernel, conv.c_in, conv.c_out);
    if conv.groups == c_in && c_in > 1 {
        let mut w = vec![0i8; k * k * c_out];
        for c in 0..c_out {
            for tap in 0..k * k {
                w[tap * c_out + c] = q[c * k * k + tap];
            }
        }
        w
    } else {
        let mut w = vec![0i8; q.len()];
        for o in 0..c_out {
            for i in 0..c_in {
                for tap in 0..k * k {
                    w[(o * k * k + tap) * c_in + i] = q[(o * c_in + i) * k * k + tap];
                }
            }
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_scales_map_each_channel_maximum_to_127() {
        let (q, scales) = quantize_channels(&[0.5, -1.0, 0.25, 0.0, 0.0, 0.0], 2);
        assert_eq!(q, vec![64, -127, 32, 0, 0, 0]);
        assert_eq!(scales[0], 1.0 / 127.0);
        assert_eq!(scales[1], 1.0, "an all-zero channel keeps scale 1, not 0");
    }
}
