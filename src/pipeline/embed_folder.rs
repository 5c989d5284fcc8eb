//! Embedding an image folder (`DIR/<class>/<image>`, `data::image_folder`)
//! without holding its pixels: batches are decoded and preprocessed in
//! parallel on a producer thread, one batch ahead of the encoder's forward
//! pass, with a progress bar.

use crate::data::augment::{plain, Normalize};
use crate::data::image_folder::{self, ImageFolder, Preprocess};
use crate::model::Encoder;
use crate::train::eval::{Encoded, Features};
use anyhow::{bail, Result};
use burn::prelude::Device;
use rayon::prelude::*;
use std::path::PathBuf;

/// Images per forward pass.
const BATCH: usize = 32;

/// One batch ready for the encoder: normalised CHW values of `n` images of
/// `height × width`.
struct Prepared {
    data: Vec<f32>,
    n: usize,
    /// Of these, 16-bit grey images (read saturated, as Pillow reads them).
    grey16: usize,
    height: usize,
    width: usize,
}

/// Most bytes the images of a batch may take while they are decoded at
/// once (`Preprocess::peak_bytes` each): decoding runs in parallel within
/// groups that fit, so memory does not grow with the thread count.
const DECODE_BUDGET: usize = 1 << 30;

/// `files` decoded and preprocessed, in order: each file read and its size
/// taken from its header, then decoded in parallel groups whose encoded
/// bytes and peak decoding memory together stay within [`DECODE_BUDGET`]
/// (an image alone may exceed it, up to `image_folder::MAX_FILE_BYTES` plus
/// `MAX_DECODED_BYTES` and its resized copy).
fn decode_within_budget(
    files: &[(PathBuf, i64)],
    pre: Preprocess,
    grey16: &mut usize,
) -> Result<Vec<(usize, usize, Vec<u8>)>> {
    let decode_group = |group: &mut Vec<(String, Vec<u8>)>| {
        let decoded: Result<Vec<_>> = group
            .par_iter()
            .map(|(name, bytes)| pre.apply(bytes, name))
            .collect();
        group.clear();
        decoded
    };
    let mut out = Vec::with_capacity(files.len());
    let (mut group, mut used) = (Vec::new(), 0usize);
    for (path, _) in files {
        let name = crate::input_file::shown(path);
        let bytes = image_folder::read_image_file(path, &name)?;
        let header = image_folder::header(&bytes, &name)?;
        pre.check_size(header.height, header.width, &name)?;
        *grey16 += usize::from(header.grey16);
        let cost = bytes
            .len()
            .saturating_add(pre.peak_bytes(header.height, header.width));
        if !group.is_empty() && used.saturating_add(cost) > DECODE_BUDGET {
            out.extend(decode_group(&mut group)?);
            used = 0;
        }
        used = used.saturating_add(cost);
        group.push((name, bytes));
    }
    out.extend(decode_group(&mut group)?);
    Ok(out)
}

/// Decodes and preprocesses `files` in parallel; every image must come out
/// at the size of the folder's first (`first`, set by the first batch).
fn prepare(
    files: &[(PathBuf, i64)],
    pre: Preprocess,
    norm: &Normalize,
    first: &mut Option<(usize, usize, PathBuf)>,
) -> Result<Prepared> {
    let mut grey16 = 0;
    let images = decode_within_budget(files, pre, &mut grey16)?;
    let (h0, w0, _) = first.get_or_insert_with(|| (images[0].0, images[0].1, files[0].0.clone()));
    let (height, width) = (*h0, *w0);
    for ((h, w, _), (path, _)) in images.iter().zip(files) {
        if (*h, *w) != (height, width) {
            bail!(
                "{}: {w}×{h} after preprocessing, but {} is {width}×{height}; give --resize and \
                 --crop to bring the images to one size",
                path.display(),
                first
                    .as_ref()
                    .map_or(String::new(), |f| f.2.display().to_string()),
            );
        }
    }
    let size = pre.channels * height * width;
    let mut data = vec![0f32; images.len() * size];
    data.par_chunks_mut(size)
        .zip(&images)
        .for_each(|(out, (h, w, px))| plain(px, *h, *w, pre.channels, norm, out));
    Ok(Prepared {
        data,
        n: images.len(),
        grey16,
        height,
        width,
    })
}

/// Where an image folder's embedding spent its time.
#[derive(Clone, Copy, Debug)]
pub struct Timings {
    pub images: usize,
    /// The whole embedding, wall time.
    pub wall_seconds: f64,
    /// Decoding and preprocessing, wall time on the producer thread
    /// (overlapped with the encoder's).
    pub prepare_seconds: f64,
    /// The encoder's forward passes, wall time.
    pub forward_seconds: f64,
    /// How many of the images were 16-bit grey, read saturated as Pillow
    /// reads them (worth a warning: most of such an image turns white).
    pub grey16: usize,
}

impl std::fmt::Display for Timings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} images in {:.1} s ({:.2} images/s); decoding and preprocessing {:.1} s \
             (its own thread, overlapped), encoder forward {:.1} s",
            self.images,
            self.wall_seconds,
            self.images as f64 / self.wall_seconds.max(1e-9),
            self.prepare_seconds,
            self.forward_seconds
        )
    }
}

/// `h` and `z` of every image of `folder`, in its order (labels are the
/// class positions), and where the time went.
pub fn encode_folder(
    enc: &Encoder,
    folder: &ImageFolder,
    pre: Preprocess,
    norm: &Normalize,
    device: &Device,
    quiet: bool,
) -> Result<((Features, Features), Timings)> {
    let start = std::time::Instant::now();
    let template = "embedding [{bar:40}] {pos}/{len} images ({per_sec}, eta {eta})";
    let bar = crate::progress::bar(folder.files.len() as u64, template, quiet);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Prepared>>(1);
    let (out, prepare_seconds, (forward_seconds, grey16)) = std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let mut first = None;
            let mut busy = 0.0;
            for chunk in folder.files.chunks(BATCH) {
                let t = std::time::Instant::now();
                let batch = prepare(chunk, pre, norm, &mut first);
                busy += t.elapsed().as_secs_f64();
                let failed = batch.is_err();
                // A closed channel: the encoder side stopped (an error).
                if tx.send(batch).is_err() || failed {
                    break;
                }
            }
            busy
        });
        let mut encoded = Encoded::default();
        let (mut forward, mut grey16) = (0.0, 0);
        for batch in rx {
            let b = batch?;
            grey16 += b.grey16;
            let t = std::time::Instant::now();
            encoded.push(enc, b.data, b.n, (pre.channels, b.height, b.width), device);
            forward += t.elapsed().as_secs_f64();
            bar.inc(b.n as u64);
        }
        let prepare = producer.join().unwrap_or(f64::NAN);
        Ok::<_, anyhow::Error>((encoded, prepare, (forward, grey16)))
    })?;
    bar.finish_and_clear();
    let timings = Timings {
        images: folder.files.len(),
        wall_seconds: start.elapsed().as_secs_f64(),
        prepare_seconds,
        forward_seconds,
        grey16,
    };
    let labels = folder.files.iter().map(|(_, label)| *label).collect();
    Ok((out.finish(labels), timings))
}
