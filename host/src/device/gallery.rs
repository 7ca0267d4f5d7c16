//! People to enrol and probe: real faces from an LFW-layout folder, or people the code
//! generates (so the demo and the tests run on a fresh machine).
//!
//! Generated people are [`crate::data::synthetic`]'s identities (soft blobs and a grating, each
//! image moved, re-lit and noisy) drawn 120×120 and set in a 160×120 camera frame with a
//! background that differs per image: the host's centre 120 crop is then exactly the face.

use super::frames::{FrameBuildError, GreyImage};
use crate::data::scan::scan_dataset;
use crate::data::synthetic::{synthetic_people, SyntheticConfig};
use std::path::Path;

/// One person and their images.
#[derive(Debug, Clone)]
pub struct Person {
    /// Name (the device id is derived from it: [`device_id`]).
    pub name: String,
    /// Their images, greyed.
    pub images: Vec<GreyImage>,
}

/// The id a person gets on the device: the name cut to the protocol's 16 bytes (at a char
/// boundary).
pub fn device_id(name: &str) -> String {
    let mut id = String::new();
    for c in name.chars() {
        if id.len() + c.len_utf8() > facegate_shared::protocol::ID_MAX {
            break;
        }
        id.push(c);
    }
    id
}

/// Why people could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GalleryError {
    /// The folder could not be listed.
    #[error("cannot list {path}: {source}")]
    Scan {
        /// The folder.
        path: String,
        /// The error.
        source: crate::data::scan::ScanError,
    },
    /// An image could not be read.
    #[error(transparent)]
    Image(#[from] FrameBuildError),
    /// Not enough people with enough images.
    #[error("{folder} has {found} people with at least {images} images; {wanted} are needed")]
    TooFew {
        /// The folder.
        folder: String,
        /// People found.
        found: usize,
        /// Images each needs.
        images: usize,
        /// People wanted.
        wanted: usize,
    },
}

/// Side of a generated face.
pub const FACE_SIDE: usize = 120;
/// Generated camera frame: QQVGA.
pub const FRAME_WIDTH: usize = 160;
/// Generated camera frame height.
pub const FRAME_HEIGHT: usize = 120;

/// `people` generated people with `images` images each, deterministic in `seed`.
pub fn generated_people(people: usize, images: usize, seed: u64) -> Vec<Person> {
    let cfg = SyntheticConfig {
        side: FACE_SIDE,
        max_shift: 4.0,
        noise: 10.0,
        max_brightness: 20.0,
    };
    synthetic_people(&cfg, people, images, seed, seed.wrapping_add(1))
        .into_iter()
        .enumerate()
        .map(|(p, (name, faces))| Person {
            name,
            images: faces
                .iter()
                .enumerate()
                .map(|(i, face)| in_camera_frame(face, p * 131 + i * 17))
                .collect(),
        })
        .collect()
}

/// A 120×120 face set in the middle of a 160×120 frame over a gradient background.
fn in_camera_frame(face: &[u8], variant: usize) -> GreyImage {
    let margin = (FRAME_WIDTH - FACE_SIDE) / 2;
    let mut pixels = Vec::with_capacity(FRAME_WIDTH * FRAME_HEIGHT);
    for y in 0..FRAME_HEIGHT {
        for x in 0..FRAME_WIDTH {
            let p = if (margin..margin + FACE_SIDE).contains(&x) {
                face[y * FACE_SIDE + x - margin]
            } else {
                ((x * 3 + y * 2 + variant * 29) % 200 + 28) as u8
            };
            pixels.push(p);
        }
    }
    GreyImage {
        width: FRAME_WIDTH,
        height: FRAME_HEIGHT,
        pixels,
    }
}

/// The first `people` people (in name order) of an LFW-layout folder with at least `images`
/// images each, with their first `images` images.
pub fn lfw_people(root: &Path, people: usize, images: usize) -> Result<Vec<Person>, GalleryError> {
    let scan = scan_dataset(root).map_err(|source| GalleryError::Scan {
        path: root.display().to_string(),
        source,
    })?;
    let mut by_person: Vec<Vec<usize>> = vec![Vec::new(); scan.people.len()];
    for (i, f) in scan.files.iter().enumerate() {
        by_person[f.person].push(i);
    }
    let eligible: Vec<usize> = (0..scan.people.len())
        .filter(|&p| by_person[p].len() >= images)
        .collect();
    if eligible.len() < people {
        return Err(GalleryError::TooFew {
            folder: root.display().to_string(),
            found: eligible.len(),
            images,
            wanted: people,
        });
    }
    eligible
        .into_iter()
        .take(people)
        .map(|p| {
            let images = by_person[p]
                .iter()
                .take(images)
                .map(|&i| GreyImage::load(&scan.path(&scan.files[i])))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Person {
                name: scan.people[p].clone(),
                images,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_people_are_camera_frames_and_deterministic() {
        let a = generated_people(3, 2, 7);
        let b = generated_people(3, 2, 7);
        assert_eq!(a.len(), 3);
        for (p, q) in a.iter().zip(&b) {
            assert_eq!(p.images, q.images);
            assert!(p
                .images
                .iter()
                .all(|i| (i.width, i.height) == (FRAME_WIDTH, FRAME_HEIGHT)));
        }
        assert_ne!(a[0].images[0], a[0].images[1]);
        assert_ne!(a[0].images[0], a[1].images[0]);
    }

    #[test]
    fn ids_are_cut_to_16_bytes_at_a_char_boundary() {
        assert_eq!(device_id("person_001"), "person_001");
        assert_eq!(device_id("Arnold_Schwarzenegger"), "Arnold_Schwarzen");
        assert_eq!(device_id("ééééééééé"), "éééééééé");
    }
}
