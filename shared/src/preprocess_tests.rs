use super::*;
use proptest::prelude::*;

const fn cfg(crop: u16, out_side: u16) -> PreprocessConfig {
    PreprocessConfig { crop, out_side }
}

fn run_grey(src: &[u8], w: usize, h: usize, c: PreprocessConfig) -> Vec<u8> {
    let mut out = vec![0u8; c.output_len()];
    preprocess_grey(src, w, h, &c, &mut out).unwrap();
    out
}

/// (name, R, G, B, grey), by hand: `(77R + 150G + 29B + 128) >> 8`.
const GREY_TABLE: &[(&str, u8, u8, u8, u8)] = &[
    ("black", 0, 0, 0, 0),
    ("white", 255, 255, 255, 255),
    ("pure red: 19763 >> 8", 255, 0, 0, 77),
    ("pure green: 38378 >> 8", 0, 255, 0, 149),
    ("pure blue: 7523 >> 8", 0, 0, 255, 29),
    ("mid grey stays", 128, 128, 128, 128),
    ("one step of red rounds away", 1, 0, 0, 0),
    ("two steps of red: 282 >> 8", 2, 0, 0, 1),
];

#[test]
fn grey_table() {
    for &(name, r, g, b, want) in GREY_TABLE {
        assert_eq!(grey(r, g, b), want, "{name}");
        let mut out = [0u8; 1];
        preprocess_rgb(&[r, g, b], 1, 1, &cfg(1, 1), &mut out).unwrap();
        assert_eq!(out[0], want, "{name} through preprocess_rgb");
    }
}

#[test]
fn grey_of_equal_channels_is_that_level() {
    for v in 0..=255u8 {
        assert_eq!(grey(v, v, v), v);
    }
}

/// One hand-computed resize case (grey input).
struct ResizeCase {
    name: &'static str,
    src: &'static [u8],
    width: usize,
    height: usize,
    cfg: PreprocessConfig,
    want: &'static [u8],
}

/// 2 → 4 samples the source at −¼ (clamped to 0), ¼, ¾ and 1¼ (clamped to 1).
#[rustfmt::skip]
const RESIZE_TABLE: &[ResizeCase] = &[
    ResizeCase {
        name: "2×2 → 4×4 bilinear",
        src: &[0, 64,
               128, 192],
        width: 2, height: 2, cfg: cfg(2, 4),
        want: &[0, 16, 48, 64,
                32, 48, 80, 96,
                96, 112, 144, 160,
                128, 144, 176, 192],
    },
    ResizeCase {
        name: "halves round up: 0.5 → 1, 1.5 → 2",
        src: &[0, 2,
               0, 2],
        width: 2, height: 2, cfg: cfg(2, 4),
        want: &[0, 1, 2, 2,
                0, 1, 2, 2,
                0, 1, 2, 2,
                0, 1, 2, 2],
    },
    ResizeCase {
        name: "4×4 → 2×2 averages 2×2 blocks",
        src: &[0, 10, 100, 110,
               20, 30, 120, 130,
               200, 210, 40, 50,
               220, 230, 60, 70],
        width: 4, height: 4, cfg: cfg(4, 2),
        want: &[15, 115,
                215, 55],
    },
    ResizeCase {
        name: "centre crop without scaling",
        src: &[9, 9, 9, 9,
               9, 1, 2, 9,
               9, 3, 4, 9,
               9, 9, 9, 9],
        width: 4, height: 4, cfg: cfg(2, 2),
        want: &[1, 2, 3, 4],
    },
    ResizeCase {
        name: "odd margin leaves the extra pixel right and bottom",
        src: &[9, 9, 9,
               9, 5, 9,
               9, 9, 9],
        width: 3, height: 3, cfg: cfg(2, 2),
        want: &[9, 9, 9, 5],
    },
    ResizeCase {
        name: "crop larger than the image is clamped to its short side",
        src: &[7, 7,
               1, 2,
               3, 4,
               7, 7],
        width: 2, height: 4, cfg: cfg(200, 2),
        want: &[1, 2, 3, 4],
    },
    ResizeCase {
        name: "1×1 → 3×3 replicates",
        src: &[42],
        width: 1, height: 1, cfg: cfg(1, 3),
        want: &[42; 9],
    },
];

#[test]
fn resize_table() {
    for c in RESIZE_TABLE {
        assert_eq!(
            run_grey(c.src, c.width, c.height, c.cfg),
            c.want,
            "{}",
            c.name
        );
    }
}

#[test]
fn constant_image_stays_constant() {
    for &(w, h, c) in &[
        (250, 250, LFW_DEFAULT),
        (7, 5, cfg(3, 11)),
        (1, 9, cfg(4, 4)),
    ] {
        for v in [0u8, 1, 127, 254, 255] {
            assert!(run_grey(&vec![v; w * h], w, h, c).iter().all(|&o| o == v));
            let mut out = vec![0u8; c.output_len()];
            preprocess_rgb(&vec![v; 3 * w * h], w, h, &c, &mut out).unwrap();
            assert!(out.iter().all(|&o| o == v), "rgb {w}×{h} {c:?} level {v}");
        }
    }
}

#[test]
fn identity_when_crop_is_the_image_and_the_output() {
    let n = 13;
    let src: Vec<u8> = (0..n * n).map(|i| (i * 37 % 256) as u8).collect();
    assert_eq!(run_grey(&src, n, n, cfg(n as u16, n as u16)), src);
    let rgb: Vec<u8> = src.iter().flat_map(|&v| [v, v / 2, 255 - v]).collect();
    let mut out = vec![0u8; n * n];
    preprocess_rgb(&rgb, n, n, &cfg(n as u16, n as u16), &mut out).unwrap();
    let want: Vec<u8> = rgb.chunks(3).map(|p| grey(p[0], p[1], p[2])).collect();
    assert_eq!(out, want);
}

#[test]
fn lfw_default_keeps_a_horizontal_ramp_monotonic() {
    let src: Vec<u8> = (0..250 * 250).map(|i| (i % 250) as u8).collect();
    let out = run_grey(&src, 250, 250, LFW_DEFAULT);
    for row in out.chunks(64) {
        assert!(row.windows(2).all(|p| p[0] < p[1]), "{row:?}");
        // The crop spans columns 65..185 of the ramp.
        assert!(row[0] >= 65 && row[63] <= 184, "{row:?}");
    }
}

/// (name, width, height, source length, config, output length, error).
#[rustfmt::skip]
const ERROR_TABLE: &[(&str, usize, usize, usize, PreprocessConfig, usize, PreprocessError)] = &[
    ("zero crop", 2, 2, 4, cfg(0, 2), 4, PreprocessError::ZeroCrop),
    ("zero output side", 2, 2, 4, cfg(2, 0), 0, PreprocessError::ZeroOutSide),
    ("zero width", 0, 2, 0, cfg(2, 2), 4, PreprocessError::EmptyImage { width: 0, height: 2 }),
    ("zero height", 3, 0, 0, cfg(2, 2), 4, PreprocessError::EmptyImage { width: 3, height: 0 }),
    ("short source", 2, 2, 3, cfg(2, 2), 4, PreprocessError::SourceLength { expected: 4, actual: 3 }),
    ("long source", 2, 2, 5, cfg(2, 2), 4, PreprocessError::SourceLength { expected: 4, actual: 5 }),
    ("short output", 2, 2, 4, cfg(2, 2), 3, PreprocessError::OutputLength { expected: 4, actual: 3 }),
    ("overflowing size", usize::MAX, 2, 4, cfg(2, 2), 4,
        PreprocessError::ImageTooLarge { width: usize::MAX, height: 2 }),
];

#[test]
fn error_table() {
    for &(name, w, h, src_len, c, out_len, want) in ERROR_TABLE {
        let src = vec![0u8; src_len];
        let mut out = vec![0u8; out_len];
        assert_eq!(
            preprocess_grey(&src, w, h, &c, &mut out),
            Err(want),
            "{name}"
        );
        assert!(!format!("{want}").is_empty());
    }
    let mut out = [0u8; 4];
    assert_eq!(
        preprocess_rgb(&[0; 4], 2, 2, &cfg(2, 2), &mut out),
        Err(PreprocessError::SourceLength {
            expected: 12,
            actual: 4
        })
    );
}

#[test]
fn host_and_device_inputs_agree_exactly() {
    for p in 0..=255u8 {
        let q = input_i8(p);
        assert_eq!(i16::from(q), i16::from(p) - 128);
        let dequantised = f32::from(i16::from(q) - i16::from(INPUT_ZERO_POINT)) * INPUT_SCALE;
        assert_eq!(input_f32(p).to_bits(), dequantised.to_bits(), "pixel {p}");
    }
    assert_eq!(
        (input_f32(0), input_f32(128), input_f32(255)),
        (-1.0, 0.0, 127.0 / 128.0)
    );
    let (mut f, mut q) = ([0f32; 3], [0i8; 3]);
    inputs_f32(&[0, 128, 255], &mut f).unwrap();
    inputs_i8(&[0, 128, 255], &mut q).unwrap();
    assert_eq!((f, q), ([-1.0, 0.0, 127.0 / 128.0], [-128, 0, 127]));
    assert!(inputs_f32(&[0; 3], &mut [0f32; 2]).is_err());
    assert!(inputs_i8(&[0; 2], &mut [0i8; 3]).is_err());
}

fn grey_image() -> impl Strategy<Value = (usize, usize, Vec<u8>)> {
    (1usize..24, 1usize..24)
        .prop_flat_map(|(w, h)| (Just(w), Just(h), prop::collection::vec(any::<u8>(), w * h)))
}

proptest! {
    #[test]
    fn output_within_input_range((w, h, src) in grey_image(), crop in 1u16..30, out_side in 1u16..30) {
        let out = run_grey(&src, w, h, cfg(crop, out_side));
        let (lo, hi) = (*src.iter().min().unwrap(), *src.iter().max().unwrap());
        prop_assert!(out.iter().all(|&o| lo <= o && o <= hi));
    }

    #[test]
    fn rgb_equals_grey_of_the_converted_image(
        (w, h, src) in (1usize..12, 1usize..12).prop_flat_map(|(w, h)| {
            (Just(w), Just(h), prop::collection::vec(any::<u8>(), 3 * w * h))
        }),
        crop in 1u16..16,
        out_side in 1u16..16,
    ) {
        let c = cfg(crop, out_side);
        let mut out = vec![0u8; c.output_len()];
        preprocess_rgb(&src, w, h, &c, &mut out).unwrap();
        let grey_src: Vec<u8> = src.chunks(3).map(|p| grey(p[0], p[1], p[2])).collect();
        prop_assert_eq!(out, run_grey(&grey_src, w, h, c));
    }

    #[test]
    fn never_panics_on_arbitrary_sizes(
        w in 0usize..40,
        h in 0usize..40,
        src_len in 0usize..2000,
        crop in 0u16..60,
        out_side in 0u16..20,
        out_len in 0usize..500,
        rgb in any::<bool>(),
    ) {
        let src = vec![7u8; src_len];
        let mut out = vec![0u8; out_len];
        let c = cfg(crop, out_side);
        let result = if rgb {
            preprocess_rgb(&src, w, h, &c, &mut out)
        } else {
            preprocess_grey(&src, w, h, &c, &mut out)
        };
        let consistent = crop > 0 && out_side > 0 && w > 0 && h > 0
            && src_len == w * h * if rgb { 3 } else { 1 }
            && out_len == c.output_len();
        prop_assert_eq!(result.is_ok(), consistent);
    }
}

#[test]
fn box_at_the_centre_crop_equals_preprocess_grey() {
    // The device path (a 160×120 window of a 250×250 LFW image with the face box) gives the very
    // bytes of the host path (centre crop 120 of the whole image).
    let (w, h) = (250usize, 250usize);
    let src: Vec<u8> = (0..w * h).map(|i| ((i * 7919) % 251) as u8).collect();
    let host = run_grey(&src, w, h, LFW_DEFAULT);
    let (wx, wy) = (45usize, 65usize);
    let window: Vec<u8> = (0..120)
        .flat_map(|y| src[(wy + y) * w + wx..(wy + y) * w + wx + 160].to_vec())
        .collect();
    let rect = Rect {
        x: 20,
        y: 0,
        w: 120,
        h: 120,
    };
    assert_eq!(
        Rect::centre_crop(250, 250, 120),
        Rect {
            x: 65,
            y: 65,
            w: 120,
            h: 120
        }
    );
    let mut device = vec![0u8; 64 * 64];
    preprocess_grey_box(&window, 160, 120, rect, 64, &mut device).unwrap();
    assert_eq!(device, host);
}

#[test]
fn box_table() {
    let src: Vec<u8> = (0..12).map(|i| i * 10).collect(); // 4×3
    let cases: &[(&str, Rect, u16, Option<Vec<u8>>)] = &[
        (
            "one pixel to one",
            Rect {
                x: 3,
                y: 2,
                w: 1,
                h: 1,
            },
            1,
            Some(vec![110]),
        ),
        (
            "whole image to itself",
            Rect {
                x: 0,
                y: 0,
                w: 4,
                h: 3,
            },
            2,
            Some(vec![15, 35, 75, 95]),
        ),
        (
            "a column stretched",
            Rect {
                x: 1,
                y: 0,
                w: 1,
                h: 3,
            },
            1,
            Some(vec![50]),
        ),
        (
            "past the right edge",
            Rect {
                x: 3,
                y: 0,
                w: 2,
                h: 1,
            },
            1,
            None,
        ),
        (
            "past the bottom",
            Rect {
                x: 0,
                y: 2,
                w: 1,
                h: 2,
            },
            1,
            None,
        ),
        (
            "empty",
            Rect {
                x: 0,
                y: 0,
                w: 0,
                h: 1,
            },
            1,
            None,
        ),
    ];
    for (name, rect, side, want) in cases {
        let mut out = vec![0u8; usize::from(*side).pow(2)];
        let got = preprocess_grey_box(&src, 4, 3, *rect, *side, &mut out).map(|()| out);
        match want {
            Some(bytes) => assert_eq!(got.as_ref(), Ok(bytes), "{name}"),
            None => assert!(
                matches!(got, Err(PreprocessError::BoxOutside { .. })),
                "{name}: {got:?}"
            ),
        }
    }
}

proptest! {
    #[test]
    fn box_never_panics(
        (w, h, src) in grey_image(), x in 0u16..40, y in 0u16..40, bw in 0u16..40, bh in 0u16..40,
        side in 0u16..20, extra in 0usize..2
    ) {
        let mut out = vec![0u8; usize::from(side).pow(2) + extra];
        let rect = Rect { x, y, w: bw, h: bh };
        if preprocess_grey_box(&src, w, h, rect, side, &mut out).is_ok() {
            let (lo, hi) = (src.iter().min().unwrap(), src.iter().max().unwrap());
            prop_assert!(out.iter().all(|p| p >= lo && p <= hi));
        }
    }
}
