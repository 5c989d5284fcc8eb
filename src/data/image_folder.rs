//! Image folders as ImageNet ships them: `DIR/<class>/<image>` (ImageNet's
//! `val/` once sorted into class folders), read the way torchvision's
//! `ImageFolder` reads them, and preprocessed the way its standard
//! evaluation transform does — streamed, because 50 000 ImageNet images at
//! 224 × 224 × 3 are 7.5 GB of pixels.
//!
//! * Classes are the sub-folders in sorted order (byte order of their UTF-8
//!   names = Python's `sorted`), label = position; images are the JPEG and
//!   PNG files directly in a class folder (extension, any case), sorted by
//!   name. Other files are counted and reported, not read. (torchvision
//!   also descends into sub-folders and reads BMP, TIFF, WebP, …)
//! * When every class folder is a WordNet id (`n` + 8 digits), those are
//!   the classes' wnids, so `analyze wordnet` needs no `--wnids`.
//! * Preprocessing ([`Preprocess`]): decode; grey, grey+alpha, RGBA and
//!   CMYK to RGB for a 3-channel model (to luma for a 1-channel one);
//!   resize so the shorter side is `resize` (bilinear with antialiasing,
//!   Pillow's convolution: `fast_image_resize` implements Pillow's
//!   algorithm); centre-crop `crop` × `crop`, the offset rounded as
//!   torchvision's `center_crop` does; the result stays u8, as PIL's does,
//!   and becomes `(x / 255 − mean) / std` in the encoder's input.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// The files of an image folder and their classes.
#[derive(Clone, Debug)]
pub struct ImageFolder {
    pub root: PathBuf,
    pub classes: Vec<String>,
    /// The class names, when every one is a wnid.
    pub wnids: Option<Vec<String>>,
    /// (file, label) in torchvision's order.
    pub files: Vec<(PathBuf, i64)>,
    /// Files in class folders that are not JPEG or PNG (left out).
    pub skipped: usize,
    /// Entries named like images that are not regular files (dangling or
    /// looping symbolic links, pipes, devices), with what each is: left
    /// out, and named in a warning (torchvision would fail or hang on them).
    pub unreadable: Vec<(PathBuf, &'static str)>,
}

/// Whether `name` is a WordNet noun id (`n` and eight digits).
pub fn is_wnid(name: &str) -> bool {
    name.len() == 9 && name.starts_with('n') && name[1..].bytes().all(|b| b.is_ascii_digit())
}

fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
}

/// Whether `dir` is laid out `DIR/<class>/<image>` (rather than
/// `DIR/{train,test}/<class>/<image>`).
pub fn is_class_folder_layout(dir: &Path) -> bool {
    !(dir.join("train").is_dir() && dir.join("test").is_dir())
}

impl ImageFolder {
    /// The warning for entries named like images that cannot be read
    /// (`None` when there are none): how many, and the first few by name.
    pub fn unreadable_warning(&self) -> Option<String> {
        const SHOWN: usize = 5;
        if self.unreadable.is_empty() {
            return None;
        }
        let names: Vec<String> = self
            .unreadable
            .iter()
            .take(SHOWN)
            .map(|(p, what)| format!("{} ({what})", crate::input_file::shown(p)))
            .collect();
        let more = self.unreadable.len().saturating_sub(SHOWN);
        Some(format!(
            "warning: {}: {} entries named like images are not regular files and are left out: {}{}",
            crate::input_file::shown(&self.root),
            self.unreadable.len(),
            names.join(", "),
            if more > 0 { format!(", and {more} more") } else { String::new() }
        ))
    }

    /// Lists `dir`'s classes and images; `limit_per_class` keeps the first
    /// N images of each class (in sorted order).
    pub fn scan(dir: &Path, limit_per_class: Option<usize>) -> Result<ImageFolder> {
        let read = |d: &Path| -> Result<Vec<std::fs::DirEntry>> {
            std::fs::read_dir(d)
                .with_context(|| format!("reading {}", d.display()))?
                .collect::<std::io::Result<Vec<_>>>()
                .with_context(|| format!("reading {}", d.display()))
        };
        let mut classes: Vec<String> = Vec::new();
        for e in read(dir)? {
            if e.path().is_dir() {
                let name = e.file_name().into_string().map_err(|n| {
                    anyhow::anyhow!("{}: folder name {n:?} is not UTF-8", dir.display())
                })?;
                classes.push(name);
            }
        }
        classes.sort();
        if classes.is_empty() {
            bail!(
                "{}: no class folders (expected DIR/<class>/<image>)",
                dir.display()
            );
        }
        let mut files = Vec::new();
        let mut skipped = 0;
        let mut unreadable = Vec::new();
        for (label, class) in classes.iter().enumerate() {
            let mut images: Vec<PathBuf> = Vec::new();
            for e in read(&dir.join(class))? {
                let path = e.path();
                use crate::input_file::Kind;
                match (crate::input_file::kind(&path), is_image_file(&path)) {
                    (Kind::File, true) => images.push(path),
                    (Kind::File, false) => skipped += 1,
                    (Kind::Folder, _) | (_, false) => {}
                    (other, true) => unreadable.push((path, other.words())),
                }
            }
            images.sort();
            images.truncate(limit_per_class.unwrap_or(usize::MAX));
            files.extend(images.into_iter().map(|p| (p, label as i64)));
        }
        unreadable.sort();
        if files.is_empty() {
            bail!(
                "{}: no JPEG or PNG images in its class folders",
                dir.display()
            );
        }
        let wnids = classes.iter().all(|c| is_wnid(c)).then(|| classes.clone());
        Ok(ImageFolder {
            root: dir.to_path_buf(),
            classes,
            wnids,
            files,
            skipped,
            unreadable,
        })
    }
}

/// Most pixels a resized image may have (before cropping): bounds what a
/// 1 × 60 000 image could make a shorter side of 256 allocate.
const MAX_RESIZED_PIXELS: usize = 1 << 26;

/// How an image becomes the encoder's input (before normalisation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preprocess {
    /// 1 (luma) or 3 (RGB).
    pub channels: usize,
    /// The shorter side after resizing; `None`: native size.
    pub resize: Option<usize>,
    /// The side of the centre crop; `None`: no crop.
    pub crop: Option<usize>,
}

impl Preprocess {
    /// torchvision's standard ImageNet evaluation transform: `Resize(256)`,
    /// `CenterCrop(224)`.
    pub fn imagenet(channels: usize) -> Preprocess {
        Preprocess {
            channels,
            resize: Some(256),
            crop: Some(224),
        }
    }

    /// The output size (height, width) of an image of `h` × `w`.
    pub fn output_size(&self, h: usize, w: usize) -> (usize, usize) {
        let (h, w) = match self.resize {
            Some(r) => resized_size(h, w, r),
            None => (h, w),
        };
        match self.crop {
            Some(c) => (c, c),
            None => (h, w),
        }
    }

    /// One file's pixels (height × width × channels, u8).
    pub fn load(&self, path: &Path) -> Result<(usize, usize, Vec<u8>)> {
        let name = crate::input_file::shown(path);
        let bytes = read_image_file(path, &name)?;
        self.apply(&bytes, &name)
    }

    /// The most memory preprocessing one image of `h` × `w` (its header's
    /// size) takes at its peak: the decoded pixels (RGBA or 16-bit at most
    /// 8 bytes a pixel) and the resized copy. What a batch decodes at once
    /// is bounded by the sum of these, not by the thread count.
    pub fn peak_bytes(&self, h: usize, w: usize) -> usize {
        let decoded = h.saturating_mul(w).saturating_mul(8);
        let (oh, ow) = match self.resize {
            Some(r) => resized_size(h, w, r),
            None => (h, w),
        };
        decoded.saturating_add(oh.saturating_mul(ow).saturating_mul(self.channels))
    }

    /// Checks an image's size from its header before anything is decoded:
    /// its decoded pixels within [`MAX_DECODED_BYTES`], and at native size
    /// (no `resize`, no `crop`) at most [`MAX_NATIVE_SIDE`] a side, since
    /// the encoder's activations grow with it.
    pub fn check_size(&self, h: usize, w: usize, name: &str) -> Result<()> {
        if h.saturating_mul(w).saturating_mul(8) > MAX_DECODED_BYTES {
            bail!(
                "{name}: {w}×{h} pixels would take more than {} MiB to decode; negstudy reads images up to {} megapixels",
                MAX_DECODED_BYTES >> 20,
                MAX_DECODED_BYTES / 8 / 1_000_000
            );
        }
        if self.resize.is_none() && self.crop.is_none() && h.max(w) > MAX_NATIVE_SIDE {
            bail!(
                "{name}: {w}×{h} is larger than {MAX_NATIVE_SIDE} pixels a side at native size (the \
                 network's activations grow with the image); give --resize and --crop"
            );
        }
        Ok(())
    }

    /// Decoded and preprocessed pixels of one encoded image; `name` is for
    /// errors.
    pub fn apply(&self, bytes: &[u8], name: &str) -> Result<(usize, usize, Vec<u8>)> {
        let Header {
            width: w,
            height: h,
            ..
        } = header(bytes, name)?;
        self.check_size(h, w, name)?;
        let (w, h, c, pixels) = decode(bytes, name, self.channels)?;
        let (mut h, mut w, mut pixels) = (h, w, pixels);
        if let Some(r) = self.resize {
            let (nh, nw) = resized_size(h, w, r);
            if nh.saturating_mul(nw) > MAX_RESIZED_PIXELS {
                bail!(
                    "{name}: {w}×{h} resized to a shorter side of {r} would be {nw}×{nh} \
                     (an aspect ratio too extreme to resize)"
                );
            }
            pixels = resize_bilinear(&pixels, h, w, c, nh, nw)
                .with_context(|| format!("{name}: resizing {w}×{h} to {nw}×{nh}"))?;
            (h, w) = (nh, nw);
        }
        if let Some(s) = self.crop {
            pixels = center_crop(&pixels, h, w, c, s);
            (h, w) = (s, s);
        }
        Ok((h, w, pixels))
    }
}

/// torchvision's `Resize(size)` with one int: the shorter side becomes
/// `size`, the longer `int(size * long / short)` (truncated).
pub fn resized_size(h: usize, w: usize, size: usize) -> (usize, usize) {
    if h <= w {
        (size, size * w / h.max(1))
    } else {
        (size * h / w.max(1), size)
    }
}

/// Most bytes an image's decoded pixels may take (8 bytes a pixel for
/// 16-bit RGBA): 64 megapixels.
pub const MAX_DECODED_BYTES: usize = 512 << 20;

/// Largest side an image may have when it is fed to the encoder at its
/// native size.
pub const MAX_NATIVE_SIDE: usize = 512;

/// Largest image file read (a compressed image this size is already far
/// beyond [`MAX_DECODED_BYTES`] of pixels at any sensible ratio).
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// An image file's bytes, after checking that it is a regular file of at
/// most [`MAX_FILE_BYTES`] (a sparse or huge file is not read).
pub fn read_image_file(path: &Path, name: &str) -> Result<Vec<u8>> {
    crate::input_file::check_regular(path)?;
    let len = std::fs::metadata(path)
        .with_context(|| format!("reading {name}"))?
        .len();
    if len > MAX_FILE_BYTES {
        bail!(
            "{name}: {len} bytes is larger than the {} MiB an image file may have",
            MAX_FILE_BYTES >> 20
        );
    }
    std::fs::read(path).with_context(|| format!("reading {name}"))
}

fn reader<'a>(
    bytes: &'a [u8],
    name: &str,
) -> Result<image::ImageReader<std::io::Cursor<&'a [u8]>>> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .with_context(|| format!("decoding {name}"))?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODED_BYTES as u64);
    reader.limits(limits);
    Ok(reader)
}

/// What an encoded image's header says, read without decoding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub width: usize,
    pub height: usize,
    /// 16-bit grey, which Pillow — and so negstudy, to match torchvision —
    /// reads saturated ([`saturate_grey16`]).
    pub grey16: bool,
}

/// An encoded image's size and colour type, from its header alone.
pub fn header(bytes: &[u8], name: &str) -> Result<Header> {
    use image::ImageDecoder;
    let decoder = reader(bytes, name)?
        .into_decoder()
        .with_context(|| format!("decoding {name}"))?;
    let (w, h) = decoder.dimensions();
    Ok(Header {
        width: w as usize,
        height: h as usize,
        grey16: decoder.color_type() == image::ColorType::L16,
    })
}

/// An encoded image (PNG, JPEG) decoded, in at most [`MAX_DECODED_BYTES`]
/// (the `image` crate's allocation limit, checked against the header);
/// CMYK JPEGs come out as RGB (zune-jpeg converts them).
pub fn decode_image(bytes: &[u8], name: &str) -> Result<image::DynamicImage> {
    let reader = reader(bytes, name)?;
    if reader.format() == Some(image::ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        bail!("{name}: truncated JPEG (no end-of-image marker after its last scan); Pillow refuses it as truncated too");
    }
    reader.decode().with_context(|| format!("decoding {name}"))
}

/// Whether a JPEG stream ends its last scan with an end-of-image marker
/// (`FF D9`). Inside a scan a data byte `FF` is written `FF 00`, so the
/// first `FF D9` after the last start-of-scan (`FF DA`) is the real end; an
/// EXIF thumbnail's own markers come before the main image's scans. The
/// `image` crate decodes a cut-off file into a partly grey image without a
/// word; Pillow (and so torchvision) raises "image file is truncated".
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    last_scan.is_some_and(|s| bytes[s..].windows(2).any(|w| w == [0xFF, 0xD9]))
}

/// Decodes to `channels` (1: luma, 3: RGB) and returns (width, height,
/// channels, pixels).
fn decode(bytes: &[u8], name: &str, channels: usize) -> Result<(usize, usize, usize, Vec<u8>)> {
    let img = saturate_grey16(decode_image(bytes, name)?);
    let (w, h) = (img.width() as usize, img.height() as usize);
    Ok(match channels {
        1 => (w, h, 1, img.to_luma8().into_raw()),
        3 => (w, h, 3, img.to_rgb8().into_raw()),
        c => bail!("{name}: cannot make {c}-channel input (models take 1 or 3 channels)"),
    })
}

/// A 16-bit grey image brought to 8 bits as Pillow brings it: Pillow opens
/// it in mode `I;16`, and its conversion to `L` or `RGB` clips every value
/// above 255 to 255 (a typical 16-bit image comes out nearly white) where
/// the `image` crate would scale by 1/257. Matching torchvision wins; the
/// caller warns ([`Header::grey16`]). Other 16-bit PNGs Pillow reads by their
/// high byte, which the `image` crate's scaling matches within one level.
fn saturate_grey16(img: image::DynamicImage) -> image::DynamicImage {
    match img {
        image::DynamicImage::ImageLuma16(buf) => image::DynamicImage::ImageLuma8(
            image::ImageBuffer::from_fn(buf.width(), buf.height(), |x, y| {
                image::Luma([buf.get_pixel(x, y)[0].min(255) as u8])
            }),
        ),
        other => other,
    }
}

/// Pillow's antialiased bilinear resize (`Image.resize(…, BILINEAR)`), as
/// torchvision's `Resize` on PIL images does it: `fast_image_resize`'s
/// convolution is Pillow's (same kernel, fixed-point coefficients,
/// rounding), but for u8 it always runs the vertical pass first, while
/// Pillow rounds to u8 between two passes in an order it chooses by the
/// sizes ([`pillow_vertical_first`]). So the passes run here one at a time
/// in Pillow's order (the other order puts 15–25 % of values one level off).
fn resize_bilinear(
    pixels: &[u8],
    h: usize,
    w: usize,
    c: usize,
    nh: usize,
    nw: usize,
) -> Result<Vec<u8>> {
    let horizontal = |p: Vec<u8>, rows: usize| {
        if nw != w {
            resize_pass(p, (rows, w), (rows, nw), c)
        } else {
            Ok(p)
        }
    };
    let vertical = |p: Vec<u8>, cols: usize| {
        if nh != h {
            resize_pass(p, (h, cols), (nh, cols), c)
        } else {
            Ok(p)
        }
    };
    if pillow_vertical_first(h, w, nh, nw) {
        horizontal(vertical(pixels.to_vec(), w)?, nh)
    } else {
        vertical(horizontal(pixels.to_vec(), h)?, nw)
    }
}

/// Pillow's pass order (`ImagingResampleInner` in `libImaging/Resample.c`,
/// Pillow 13.0.0): "if height is being scaled down more than twice the
/// amount the width is, run the vertical pass first" —
/// `(H − h) > 0 && (H − h) > (W − w) · 2`, in pixels; otherwise the
/// horizontal pass first. (Checked against Pillow's output on 397 random
/// size pairs by a Python transcription of its fixed-point passes.)
pub fn pillow_vertical_first(h: usize, w: usize, nh: usize, nw: usize) -> bool {
    let shrink_h = h as i64 - nh as i64;
    let shrink_w = w as i64 - nw as i64;
    shrink_h > 0 && shrink_h > shrink_w * 2
}

/// One `fast_image_resize` convolution from (height, width) `from` to `to`.
fn resize_pass(
    pixels: Vec<u8>,
    from: (usize, usize),
    to: (usize, usize),
    c: usize,
) -> Result<Vec<u8>> {
    use fast_image_resize::{images::Image, FilterType, PixelType, ResizeAlg, ResizeOptions};
    let kind = if c == 1 {
        PixelType::U8
    } else {
        PixelType::U8x3
    };
    let dim = |v: usize| u32::try_from(v).context("image side beyond 2³²");
    let src = Image::from_vec_u8(dim(from.1)?, dim(from.0)?, pixels, kind)?;
    let mut dst = Image::new(dim(to.1)?, dim(to.0)?, kind);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    fast_image_resize::Resizer::new().resize(&src, &mut dst, &options)?;
    Ok(dst.into_vec())
}

/// The centre `size` × `size` of an image (torchvision's `center_crop`:
/// top = round((h − size) / 2), left likewise; an image smaller than the
/// crop is padded with zeros around, as torchvision pads).
pub fn center_crop(pixels: &[u8], h: usize, w: usize, c: usize, size: usize) -> Vec<u8> {
    // Offsets of the crop in the image; negative: padding, (size − side) // 2
    // before the image.
    let offset = |side: usize| {
        if side >= size {
            ((side - size) as f64 / 2.0).round_ties_even() as i64
        } else {
            -(((size - side) / 2) as i64)
        }
    };
    let (top, left) = (offset(h), offset(w));
    let mut out = vec![0u8; size * size * c];
    for y in 0..size {
        let sy = y as i64 + top;
        if sy < 0 || sy >= h as i64 {
            continue;
        }
        for x in 0..size {
            let sx = x as i64 + left;
            if sx < 0 || sx >= w as i64 {
                continue;
            }
            let src = (sy as usize * w + sx as usize) * c;
            out[(y * size + x) * c..][..c].copy_from_slice(&pixels[src..src + c]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resized_size_truncates_the_longer_side_as_torchvision_does() {
        // torchvision: Resize(256) of 500×375 (w×h) → 341×256: int(256·500/375)
        // = int(341.33) = 341.
        assert_eq!(resized_size(375, 500, 256), (256, 341));
        assert_eq!(resized_size(500, 375, 256), (341, 256));
        assert_eq!(resized_size(256, 256, 256), (256, 256));
    }

    #[test]
    fn center_crop_rounds_its_offset_like_torchvision() {
        // torchvision: crop_top = int(round((h - size) / 2.0)); for h = 5,
        // size = 2: round(1.5) = 2 (Python rounds half to even).
        let img: Vec<u8> = (0..25).collect(); // 5×5, one channel
        assert_eq!(center_crop(&img, 5, 5, 1, 2), vec![12, 13, 17, 18]);
        // 4×4 → 2×2: offset round(1.0) = 1.
        let img: Vec<u8> = (0..16).collect();
        assert_eq!(center_crop(&img, 4, 4, 1, 2), vec![5, 6, 9, 10]);
        // A crop larger than the image pads with zeros around it
        // (torchvision pads (size − side) // 2 before, the rest after).
        let img = vec![7u8; 4];
        let out = center_crop(&img, 2, 2, 1, 4);
        assert_eq!(out, vec![0, 0, 0, 0, 0, 7, 7, 0, 0, 7, 7, 0, 0, 0, 0, 0]);
        // One pixel into 4: (4 − 1) // 2 = 1 before, 2 after.
        assert_eq!(center_crop(&[9], 1, 1, 1, 4)[5], 9);
    }

    #[test]
    fn a_jpeg_without_its_end_marker_is_incomplete() {
        let mut jpeg = Vec::new();
        image::DynamicImage::new_rgb8(16, 16)
            .write_to(
                &mut std::io::Cursor::new(&mut jpeg),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        assert!(jpeg_is_complete(&jpeg));
        assert!(decode_image(&jpeg, "whole.jpg").is_ok());
        let cut = &jpeg[..jpeg.len() - 40];
        assert!(!jpeg_is_complete(cut));
        let err = decode_image(cut, "cut.jpg").unwrap_err().to_string();
        assert!(err.contains("cut.jpg: truncated JPEG"), "{err}");
        // Junk after the end marker is accepted, as Pillow accepts it.
        let mut trailing = jpeg.clone();
        trailing.extend_from_slice(b"junk");
        assert!(jpeg_is_complete(&trailing));
    }

    #[test]
    fn pass_order_is_pillows() {
        // 333×1000 (w×h) → Resize(256) = 256×768: the height shrinks by 232,
        // the width by 77; 232 > 2·77, so vertical first (the tall
        // photographs). The same image lying down shrinks its width more.
        assert!(pillow_vertical_first(1000, 333, 768, 256));
        assert!(!pillow_vertical_first(333, 1000, 256, 768));
        // Square: equal shrinkage, horizontal first; the boundary is strict.
        assert!(!pillow_vertical_first(300, 300, 256, 256));
        assert!(!pillow_vertical_first(200, 100, 100, 50)); // 100 = 2·50
        assert!(pillow_vertical_first(201, 100, 100, 50));
        // A growing height never goes first, whatever the width does.
        assert!(!pillow_vertical_first(30, 10, 60, 20));
        assert!(!pillow_vertical_first(120, 50, 240, 20));
    }

    #[test]
    fn wnids_are_n_and_eight_digits() {
        assert!(is_wnid("n01440764"));
        assert!(!is_wnid("n0144076"));
        assert!(!is_wnid("cat"));
        assert!(!is_wnid("n0144076x"));
    }
}
