//! Synthetic "faces" the tests generate themselves: each person is a fixed arrangement of soft
//! blobs and a grating; each image of that person moves, re-lights and adds noise to it. People
//! are told apart only by their arrangement, so a model that separates them has learnt an
//! identity, not an image. Deterministic in the seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How a synthetic set looks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticConfig {
    /// Image side in pixels.
    pub side: usize,
    /// Largest shift of an image, in pixels, in x and in y.
    pub max_shift: f32,
    /// Standard deviation of the per-pixel noise, in grey levels.
    pub noise: f32,
    /// Largest brightness offset, in grey levels.
    pub max_brightness: f32,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            side: 32,
            max_shift: 2.0,
            noise: 12.0,
            max_brightness: 20.0,
        }
    }
}

/// A person's fixed appearance.
#[derive(Debug, Clone)]
struct Identity {
    /// (x, y, radius, amplitude) of each blob, in units of the side.
    blobs: Vec<[f32; 4]>,
    /// Grating angle, frequency (cycles per side) and amplitude.
    grating: [f32; 3],
}

impl Identity {
    fn draw(rng: &mut ChaCha8Rng) -> Self {
        let blobs = (0..4)
            .map(|_| {
                [
                    rng.random_range(0.2..0.8),
                    rng.random_range(0.2..0.8),
                    rng.random_range(0.08..0.2),
                    rng.random_range(-90.0..90.0),
                ]
            })
            .collect();
        let grating = [
            rng.random_range(0.0..std::f32::consts::PI),
            rng.random_range(1.5..4.0),
            rng.random_range(10.0..30.0),
        ];
        Self { blobs, grating }
    }

    fn render(&self, cfg: &SyntheticConfig, rng: &mut ChaCha8Rng) -> Vec<u8> {
        let s = cfg.side as f32;
        let dx = rng.random_range(-cfg.max_shift..=cfg.max_shift);
        let dy = rng.random_range(-cfg.max_shift..=cfg.max_shift);
        let light = rng.random_range(-cfg.max_brightness..=cfg.max_brightness);
        let [angle, freq, amp] = self.grating;
        let (sin, cos) = angle.sin_cos();
        let mut out = Vec::with_capacity(cfg.side * cfg.side);
        for y in 0..cfg.side {
            for x in 0..cfg.side {
                let (u, v) = ((x as f32 - dx) / s, (y as f32 - dy) / s);
                let mut value = 128.0 + light;
                for [bx, by, r, a] in &self.blobs {
                    let d2 = (u - bx).powi(2) + (v - by).powi(2);
                    value += a * (-d2 / (2.0 * r * r)).exp();
                }
                let phase = 2.0 * std::f32::consts::PI * freq * (u * cos + v * sin);
                value += amp * phase.sin();
                // Box–Muller is overkill: a sum of uniforms is close enough to Gaussian.
                let noise: f32 = (0..3).map(|_| rng.random_range(-1.0f32..1.0)).sum();
                value += cfg.noise * noise;
                out.push(value.round().clamp(0.0, 255.0) as u8);
            }
        }
        out
    }
}

/// `people` synthetic people with `images` images each, as `(name, images)` for
/// [`Dataset::in_memory`](super::Dataset::in_memory). The same seed gives the same people; the
/// images of `image_seed` are fresh draws of those people (e.g. a held-out test set).
pub fn synthetic_people(
    cfg: &SyntheticConfig,
    people: usize,
    images: usize,
    seed: u64,
    image_seed: u64,
) -> Vec<(String, Vec<Vec<u8>>)> {
    let mut identity_rng = ChaCha8Rng::seed_from_u64(seed);
    let mut image_rng = ChaCha8Rng::seed_from_u64(image_seed ^ 0x5EED_F1A6);
    (0..people)
        .map(|p| {
            let identity = Identity::draw(&mut identity_rng);
            let imgs = (0..images)
                .map(|_| identity.render(cfg, &mut image_rng))
                .collect();
            (format!("person_{p:03}"), imgs)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_varied() {
        let cfg = SyntheticConfig::default();
        let a = synthetic_people(&cfg, 3, 2, 1, 1);
        assert_eq!(a[0].1, synthetic_people(&cfg, 3, 2, 1, 1)[0].1);
        assert_ne!(a[0].1[0], a[0].1[1], "two images of a person differ");
        assert_ne!(a[0].1[0], a[1].1[0], "two people differ");
        assert!(a
            .iter()
            .all(|(_, imgs)| imgs.iter().all(|i| i.len() == 32 * 32)));
    }
}
