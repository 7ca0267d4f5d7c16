use super::*;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SIDE: usize = 8;

fn image() -> Vec<u8> {
    (0..SIDE * SIDE).map(|i| (i * 53 % 251) as u8).collect()
}

fn run(cfg: &AugmentConfig, seed: u64, src: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; src.len()];
    augment(
        src,
        SIDE,
        cfg,
        &mut ChaCha8Rng::seed_from_u64(seed),
        &mut out,
    )
    .unwrap();
    out
}

fn applied(params: AugmentParams, src: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; src.len()];
    apply(src, SIDE, &params, &mut out).unwrap();
    out
}

#[test]
fn identity_config_copies_the_image() {
    assert!(AugmentConfig::IDENTITY.is_identity());
    assert!(!AugmentConfig::default().is_identity());
    for seed in 0..50 {
        assert_eq!(run(&AugmentConfig::IDENTITY, seed, &image()), image());
    }
    assert_eq!(applied(AugmentParams::IDENTITY, &image()), image());
}

#[test]
fn flip_mirrors_each_row() {
    let flipped = applied(
        AugmentParams {
            flip: true,
            ..AugmentParams::IDENTITY
        },
        &image(),
    );
    for (row, src) in flipped.chunks(SIDE).zip(image().chunks(SIDE)) {
        assert!(row.iter().eq(src.iter().rev()));
    }
}

#[test]
fn whole_pixel_shift_moves_and_clamps_the_edge() {
    let shifted = applied(
        AugmentParams {
            shift_x: 2.0,
            shift_y: -1.0,
            ..AugmentParams::IDENTITY
        },
        &image(),
    );
    let src = image();
    for y in 0..SIDE {
        for x in 0..SIDE {
            let (sx, sy) = (x.saturating_sub(2), (y + 1).min(SIDE - 1));
            assert_eq!(shifted[y * SIDE + x], src[sy * SIDE + sx], "({x}, {y})");
        }
    }
}

#[test]
fn brightness_and_contrast() {
    let flat = vec![100u8; SIDE * SIDE];
    let brighter = AugmentParams {
        brightness: 30.4,
        ..AugmentParams::IDENTITY
    };
    assert!(applied(brighter, &flat).iter().all(|&p| p == 130));
    let saturated = AugmentParams {
        brightness: 200.0,
        ..AugmentParams::IDENTITY
    };
    assert!(applied(saturated, &flat).iter().all(|&p| p == 255));
    let two_levels: Vec<u8> = (0..SIDE * SIDE)
        .map(|i| if i % 2 == 0 { 90 } else { 110 })
        .collect();
    let stronger = AugmentParams {
        contrast: 1.5,
        ..AugmentParams::IDENTITY
    };
    let out = applied(stronger, &two_levels);
    assert!(out.iter().all(|&p| p == 85 || p == 115), "{out:?}");
}

#[test]
fn zoom_keeps_the_centre() {
    // A centred 2×2 bright square grows under zoom; the corners stay dark.
    let mut src = vec![0u8; SIDE * SIDE];
    for (x, y) in [(3, 3), (4, 3), (3, 4), (4, 4)] {
        src[y * SIDE + x] = 200;
    }
    let zoomed = applied(
        AugmentParams {
            scale: 1.4,
            ..AugmentParams::IDENTITY
        },
        &src,
    );
    let total = |img: &[u8]| img.iter().map(|&p| u32::from(p)).sum::<u32>();
    assert!(total(&zoomed) > total(&src), "{zoomed:?}");
    assert_eq!((zoomed[0], zoomed[SIDE * SIDE - 1]), (0, 0));
}

#[test]
fn same_seed_same_output() {
    let cfg = AugmentConfig::default();
    assert_eq!(run(&cfg, 9, &image()), run(&cfg, 9, &image()));
    let outputs: std::collections::BTreeSet<_> = (0..20).map(|s| run(&cfg, s, &image())).collect();
    assert!(outputs.len() > 10, "augmentation varies with the seed");
}

#[test]
fn draws_use_the_rng_the_same_way_for_every_config() {
    let mut a = ChaCha8Rng::seed_from_u64(4);
    let mut b = a.clone();
    AugmentParams::draw(&AugmentConfig::IDENTITY, SIDE, &mut a);
    AugmentParams::draw(&AugmentConfig::default(), SIDE, &mut b);
    assert_eq!(a.random::<u64>(), b.random::<u64>());
}

#[test]
fn invalid_configs_and_buffers_are_refused() {
    let bad = [
        AugmentConfig {
            flip_probability: 1.5,
            ..AugmentConfig::IDENTITY
        },
        AugmentConfig {
            max_shift: -0.1,
            ..AugmentConfig::IDENTITY
        },
        AugmentConfig {
            max_scale: f32::NAN,
            ..AugmentConfig::IDENTITY
        },
        AugmentConfig {
            max_brightness: f32::INFINITY,
            ..AugmentConfig::IDENTITY
        },
        AugmentConfig {
            max_contrast: 2.0,
            ..AugmentConfig::IDENTITY
        },
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut out = vec![0u8; SIDE * SIDE];
    for cfg in bad {
        let err = augment(&image(), SIDE, &cfg, &mut rng, &mut out).unwrap_err();
        assert!(matches!(err, AugmentError::InvalidConfig { .. }), "{cfg:?}");
    }
    let cfg = AugmentConfig::default();
    assert_eq!(
        augment(&[], 0, &cfg, &mut rng, &mut []),
        Err(AugmentError::ZeroSide)
    );
    let err = augment(&image(), SIDE, &cfg, &mut rng, &mut [0u8; 3]).unwrap_err();
    assert_eq!(
        err,
        AugmentError::BufferLength {
            buffer: "output",
            expected: 64,
            actual: 3
        }
    );
    assert!(err.to_string().contains("output"));
}

#[test]
fn config_round_trips_through_json() {
    let cfg = AugmentConfig::default();
    let json = serde_json::to_string(&cfg).unwrap();
    assert_eq!(serde_json::from_str::<AugmentConfig>(&json).unwrap(), cfg);
    assert!(serde_json::from_str::<AugmentConfig>(r#"{"flip_probability":0.5}"#).is_err());
}

proptest! {
    #[test]
    fn geometry_stays_within_the_input_range(
        seed in any::<u64>(),
        src in prop::collection::vec(any::<u8>(), SIDE * SIDE),
    ) {
        let cfg = AugmentConfig { max_brightness: 0.0, max_contrast: 0.0, ..AugmentConfig::default() };
        let out = run(&cfg, seed, &src);
        let (lo, hi) = (*src.iter().min().unwrap(), *src.iter().max().unwrap());
        prop_assert!(out.iter().all(|&p| lo <= p && p <= hi));
    }

    #[test]
    fn never_panics(
        side in 0usize..12,
        len in 0usize..150,
        shift in -1.0f32..1.0,
        scale in -1.0f32..1.0,
        seed in any::<u64>(),
    ) {
        let cfg = AugmentConfig { max_shift: shift, max_scale: scale, ..AugmentConfig::default() };
        let src = vec![5u8; len];
        let mut out = vec![0u8; len];
        let result = augment(&src, side, &cfg, &mut ChaCha8Rng::seed_from_u64(seed), &mut out);
        prop_assert_eq!(result.is_ok(), side > 0 && len == side * side && cfg.validate().is_ok());
    }
}
