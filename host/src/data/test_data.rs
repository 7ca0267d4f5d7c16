//! Tiny datasets the tests write themselves: three people with PNG, JPEG and PGM files, a
//! corrupt file, a file with another extension, and a person whose only file is corrupt.

use std::fs;
use std::path::Path;

use image::{GrayImage, ImageFormat, Luma, Rgb, RgbImage};

/// The colour of each generated RGB image, `(person folder, file name, colour)`.
pub const RGB_FILES: &[(&str, &str, [u8; 3])] = &[
    ("alice", "alice_0001.png", [200, 40, 10]),
    ("alice", "alice_0002.png", [10, 220, 30]),
    ("alice", "alice_0003.jpg", [128, 128, 128]),
    ("bob", "bob_0001.jpg", [60, 60, 200]),
    ("bob", "bob_0002.PNG", [255, 255, 255]),
];
/// The grey level of carol's only image.
pub const CAROL_GREY: u8 = 90;

/// Writes the dataset under `root`; returns the number of image files that decode.
pub fn write_small_dataset(root: &Path) -> usize {
    for (person, file, [r, g, b]) in RGB_FILES {
        let folder = root.join(person);
        fs::create_dir_all(&folder).unwrap();
        let format = ImageFormat::from_path(file.to_lowercase()).unwrap();
        // A frame of another colour around the centre, which the crop drops.
        let image = RgbImage::from_fn(40, 30, |x, y| {
            if (10..30).contains(&x) && (5..25).contains(&y) {
                Rgb([*r, *g, *b])
            } else {
                Rgb([0, 0, 0])
            }
        });
        image.save_with_format(folder.join(file), format).unwrap();
    }
    fs::create_dir_all(root.join("carol")).unwrap();
    GrayImage::from_pixel(24, 24, Luma([CAROL_GREY]))
        .save_with_format(root.join("carol/carol_0001.pgm"), ImageFormat::Pnm)
        .unwrap();
    fs::write(
        root.join("bob/bob_0003.jpg"),
        b"\xff\xd8\xff\xe0 not really a jpeg",
    )
    .unwrap();
    fs::write(root.join("alice/notes.txt"), b"not an image").unwrap();
    fs::write(root.join("README.txt"), b"a file beside the people").unwrap();
    fs::create_dir_all(root.join("dave")).unwrap();
    fs::write(root.join("dave/dave_0001.png"), b"").unwrap();
    RGB_FILES.len() + 1
}
