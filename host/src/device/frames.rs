//! Image files → device frames: a grey image of at most 160×120 (what a small camera module
//! gives) and the face box in it.
//!
//! The host's pipeline greys an image, takes its centre `crop × crop` square and resizes that to
//! the model input ([`facegate_shared::preprocess::preprocess_grey`]). A device frame carries a
//! window of the grey image around that square, with the square as the face box; the device
//! crops and resizes the box with [`preprocess_grey_box`], the same taps per axis, so the model
//! input is bit-identical. For LFW's 250×250 images and the 120 crop that is the 160×120 window
//! at (45, 65) with the face box (20, 0, 120, 120).

use facegate_shared::preprocess::{
    grey, preprocess_grey, preprocess_grey_box, PreprocessConfig, PreprocessError, Rect,
};
use facegate_shared::protocol::{FaceBox, Frame, FRAME_MAX_HEIGHT, FRAME_MAX_WIDTH};
use image::{DynamicImage, ImageReader};
use std::path::{Path, PathBuf};

/// Why an image could not become a frame.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameBuildError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not an image `image` decodes.
    #[error("{path}: cannot decode: {source}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// The error.
        source: image::ImageError,
    },
    /// The image is empty or its sides do not fit the protocol's u16.
    #[error("image of {width}×{height} pixels cannot be framed")]
    ImageSize {
        /// Width.
        width: usize,
        /// Height.
        height: usize,
    },
    /// The face square is larger than a frame.
    #[error(
        "a {side}-pixel face square does not fit a {FRAME_MAX_WIDTH}×{FRAME_MAX_HEIGHT} frame"
    )]
    FaceTooLarge {
        /// The square's side.
        side: u16,
    },
    /// An explicit face box on an image larger than a frame, or a box outside the image.
    #[error("face box {face:?} on a {width}×{height} image: {why}")]
    FaceBox {
        /// The box.
        face: FaceBox,
        /// Image width.
        width: usize,
        /// Image height.
        height: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// Preprocessing refused the image.
    #[error("cannot preprocess: {0}")]
    Preprocess(PreprocessError),
}

/// A decoded image, greyed as the host's data pipeline greys it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreyImage {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width × height` grey levels, row-major.
    pub pixels: Vec<u8>,
}

impl GreyImage {
    /// Greys a decoded image exactly as [`crate::data::decode::preprocess_image`] does: `L8` as
    /// it is, `L16` / `LA8` through `image`'s luma, anything else as RGB8 with the device's
    /// BT.601 weights ([`grey`]).
    pub fn from_image(image: &DynamicImage) -> Self {
        let (width, height) = (image.width() as usize, image.height() as usize);
        let pixels = match image {
            DynamicImage::ImageLuma8(g) => g.as_raw().clone(),
            DynamicImage::ImageLuma16(_) | DynamicImage::ImageLumaA8(_) => {
                image.to_luma8().into_raw()
            }
            DynamicImage::ImageRgb8(rgb) => rgb
                .as_raw()
                .chunks_exact(3)
                .map(|p| grey(p[0], p[1], p[2]))
                .collect(),
            other => other
                .to_rgb8()
                .as_raw()
                .chunks_exact(3)
                .map(|p| grey(p[0], p[1], p[2]))
                .collect(),
        };
        Self {
            width,
            height,
            pixels,
        }
    }

    /// Reads and decodes an image file (format sniffed from its bytes).
    pub fn load(path: &Path) -> Result<Self, FrameBuildError> {
        let image = ImageReader::open(path)
            .map_err(|source| FrameBuildError::Io {
                path: path.into(),
                source,
            })?
            .with_guessed_format()
            .map_err(|source| FrameBuildError::Io {
                path: path.into(),
                source,
            })?
            .decode()
            .map_err(|source| FrameBuildError::Decode {
                path: path.into(),
                source,
            })?;
        Ok(Self::from_image(&image))
    }

    /// The host's model input: centre crop and resize with `cfg` (what the host engine embeds).
    pub fn host_input(&self, cfg: &PreprocessConfig) -> Result<Vec<u8>, FrameBuildError> {
        let mut out = vec![0u8; cfg.output_len()];
        preprocess_grey(&self.pixels, self.width, self.height, cfg, &mut out)
            .map_err(FrameBuildError::Preprocess)?;
        Ok(out)
    }
}

/// A frame as the device receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFrame {
    /// Columns (≤ 160).
    pub width: u16,
    /// Rows (≤ 120).
    pub height: u16,
    /// The face.
    pub face: FaceBox,
    /// `width × height` grey levels.
    pub pixels: Vec<u8>,
}

fn side_u16(width: usize, height: usize) -> Result<(u16, u16), FrameBuildError> {
    match (u16::try_from(width), u16::try_from(height)) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 => Ok((w, h)),
        _ => Err(FrameBuildError::ImageSize { width, height }),
    }
}

impl DeviceFrame {
    /// The frame whose face box is the host's centre `crop` square of `image` (see the module
    /// docs): the device's input is then bit-identical to [`GreyImage::host_input`].
    pub fn centre_crop(image: &GreyImage, crop: u16) -> Result<Self, FrameBuildError> {
        let (w, h) = side_u16(image.width, image.height)?;
        if crop == 0 {
            return Err(FrameBuildError::Preprocess(PreprocessError::ZeroCrop));
        }
        let square = Rect::centre_crop(w, h, crop);
        if square.w > FRAME_MAX_WIDTH || square.h > FRAME_MAX_HEIGHT {
            return Err(FrameBuildError::FaceTooLarge { side: square.w });
        }
        let (fw, fh) = (w.min(FRAME_MAX_WIDTH), h.min(FRAME_MAX_HEIGHT));
        // Centre the window on the square, then keep it inside the image.
        let place = |start: u16, len: u16, window: u16, limit: u16| {
            start.saturating_sub((window - len) / 2).min(limit - window)
        };
        let x = place(square.x, square.w, fw, w);
        let y = place(square.y, square.h, fh, h);
        let mut pixels = Vec::with_capacity(usize::from(fw) * usize::from(fh));
        for row in usize::from(y)..usize::from(y + fh) {
            let start = row * image.width + usize::from(x);
            pixels.extend_from_slice(&image.pixels[start..start + usize::from(fw)]);
        }
        Ok(Self {
            width: fw,
            height: fh,
            face: FaceBox {
                x: square.x - x,
                y: square.y - y,
                w: square.w,
                h: square.h,
            },
            pixels,
        })
    }

    /// The whole image (at most 160×120) with an explicit face box.
    pub fn with_face(image: &GreyImage, face: FaceBox) -> Result<Self, FrameBuildError> {
        let (w, h) = side_u16(image.width, image.height)?;
        let refuse = |why| FrameBuildError::FaceBox {
            face,
            width: image.width,
            height: image.height,
            why,
        };
        if w > FRAME_MAX_WIDTH || h > FRAME_MAX_HEIGHT {
            return Err(refuse("the image is larger than a 160×120 frame"));
        }
        let frame = Self {
            width: w,
            height: h,
            face,
            pixels: image.pixels.clone(),
        };
        frame
            .as_frame()
            .validate()
            .map_err(|_| refuse("the box is empty or leaves the image"))?;
        Ok(frame)
    }

    /// The protocol's view (borrows the pixels).
    pub fn as_frame(&self) -> Frame<'_> {
        Frame {
            width: self.width,
            height: self.height,
            face: self.face,
            pixels: &self.pixels,
        }
    }

    /// The model input the device computes from this frame (`side × side` grey levels).
    pub fn device_input(&self, side: u16) -> Result<Vec<u8>, FrameBuildError> {
        let mut out = vec![0u8; usize::from(side) * usize::from(side)];
        let f = self.face;
        let rect = Rect {
            x: f.x,
            y: f.y,
            w: f.w,
            h: f.h,
        };
        preprocess_grey_box(
            &self.pixels,
            usize::from(self.width),
            usize::from(self.height),
            rect,
            side,
            &mut out,
        )
        .map_err(FrameBuildError::Preprocess)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(width: usize, height: usize, seed: usize) -> GreyImage {
        GreyImage {
            width,
            height,
            pixels: (0..width * height)
                .map(|i| ((i * 37 + seed * 101 + i / width * 13) % 256) as u8)
                .collect(),
        }
    }

    #[test]
    fn lfw_images_map_to_the_documented_window() {
        let frame = DeviceFrame::centre_crop(&image(250, 250, 1), 120).unwrap();
        assert_eq!((frame.width, frame.height), (160, 120));
        assert_eq!(
            frame.face,
            FaceBox {
                x: 20,
                y: 0,
                w: 120,
                h: 120
            }
        );
        let src = image(250, 250, 1);
        assert_eq!(frame.pixels[0], src.pixels[65 * 250 + 45]);
    }

    #[test]
    fn device_input_equals_the_host_input_bit_for_bit() {
        struct Case {
            name: &'static str,
            width: usize,
            height: usize,
            crop: u16,
            side: u16,
        }
        let cases = [
            Case {
                name: "LFW 250×250, 120 → 64",
                width: 250,
                height: 250,
                crop: 120,
                side: 64,
            },
            Case {
                name: "QQVGA camera frame",
                width: 160,
                height: 120,
                crop: 120,
                side: 64,
            },
            Case {
                name: "smaller than the crop",
                width: 90,
                height: 70,
                crop: 120,
                side: 64,
            },
            Case {
                name: "odd sides",
                width: 251,
                height: 199,
                crop: 111,
                side: 63,
            },
            Case {
                name: "upscale",
                width: 40,
                height: 40,
                crop: 32,
                side: 64,
            },
            Case {
                name: "tall",
                width: 100,
                height: 400,
                crop: 100,
                side: 48,
            },
            Case {
                name: "one pixel",
                width: 1,
                height: 1,
                crop: 1,
                side: 8,
            },
        ];
        for case in cases {
            let img = image(case.width, case.height, case.width);
            let cfg = PreprocessConfig {
                crop: case.crop,
                out_side: case.side,
            };
            let frame = DeviceFrame::centre_crop(&img, case.crop).unwrap();
            frame.as_frame().validate().unwrap();
            assert_eq!(
                frame.device_input(case.side).unwrap(),
                img.host_input(&cfg).unwrap(),
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn too_large_a_face_and_bad_boxes_are_refused() {
        let img = image(300, 300, 2);
        assert!(matches!(
            DeviceFrame::centre_crop(&img, 150),
            Err(FrameBuildError::FaceTooLarge { side: 150 })
        ));
        let small = image(160, 120, 3);
        let inside = FaceBox {
            x: 10,
            y: 10,
            w: 50,
            h: 50,
        };
        assert!(DeviceFrame::with_face(&small, inside).is_ok());
        for face in [
            FaceBox {
                x: 150,
                y: 0,
                w: 20,
                h: 20,
            },
            FaceBox {
                x: 0,
                y: 0,
                w: 0,
                h: 10,
            },
        ] {
            assert!(matches!(
                DeviceFrame::with_face(&small, face),
                Err(FrameBuildError::FaceBox { .. })
            ));
        }
        assert!(matches!(
            DeviceFrame::with_face(&img, inside),
            Err(FrameBuildError::FaceBox { .. })
        ));
    }

    #[test]
    fn rgb_is_greyed_with_the_device_weights() {
        let rgb =
            image::RgbImage::from_fn(3, 2, |x, y| image::Rgb([x as u8 * 80, y as u8 * 100, 7]));
        let grey_img = GreyImage::from_image(&DynamicImage::ImageRgb8(rgb.clone()));
        let expect: Vec<u8> = rgb.pixels().map(|p| grey(p[0], p[1], p[2])).collect();
        assert_eq!(grey_img.pixels, expect);
    }
}
