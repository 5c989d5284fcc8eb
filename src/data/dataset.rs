//! Image datasets named by spec strings, each with a train and a test part.
//!
//! | spec | train | test |
//! |---|---|---|
//! | `bundled:fashion-mnist-test` (alias `bundled`) | 8 000 of the bundled 10 000 test images | the other 2 000 |
//! | `fashion-mnist[:DIR]` | the 60 000 training images | the 10 000 test images |
//! | `cifar10:DIR` | `data_batch_1..5.bin` | `test_batch.bin` |
//! | `cifar100:DIR` | `train.bin` (fine labels) | `test.bin` |
//! | `folder:DIR` | `DIR/train/<class>/*` | `DIR/test/<class>/*` |
//!
//! (`folder:DIR` with class folders directly under DIR is an image folder
//! `embed` streams: `data::image_folder`.)
//! | `random:CxHxW[:N]` | N (default 4 096) seeded noise images, 10 classes | N / 4 more |
//!
//! | `val:SPEC` | 5/6 of SPEC's train part, stratified | the other 1/6 of its train part (validation; SPEC's test part is not used) |
//!
//! `fashion-mnist` reads Debian's `dataset-fashion-mnist` files
//! (`/usr/share/datasets/fashion-mnist/`) unless a folder is given.
//!
//! The bundled split is fixed and stratified: within each class, the images'
//! indices are shuffled with SplitMix64 seeded `0x5EED + class` and the first
//! 800 go to train, the last 200 to test. Pretraining and the linear probe's
//! training never see the 2 000 test images. This definition is frozen (a
//! data contract every committed result relies on), which is why it keeps
//! its own few lines of SplitMix64 ([`contract_shuffle`]) while every other
//! random draw comes from [`crate::rng`]. One seeded stream per class, never
//! derived streams, so it did not share the old generator's correlation.
//!
//! `random:` is for speed measurements at a shape no installed dataset has
//! (e.g. `random:3x32x32`, CIFAR's, to compare with PyTorch's MoCo step on
//! random tensors); it has nothing to learn.

use super::classes;
use super::idx;
use crate::rng::{self, Purpose};
use anyhow::{bail, Context, Result};
use rand::Rng as _;
use std::path::{Path, PathBuf};

/// Images (u8, height × width × channels, row-major) with labels.
#[derive(Clone, Debug)]
pub struct ImageSet {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub pixels: Vec<u8>,
    pub labels: Vec<i64>,
    /// Index of each image in its source (for dumps and reproducibility).
    pub source_index: Vec<i64>,
}

impl ImageSet {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn image_size(&self) -> usize {
        self.height * self.width * self.channels
    }

    pub fn image(&self, i: usize) -> &[u8] {
        let s = self.image_size();
        &self.pixels[i * s..(i + 1) * s]
    }

    /// The images at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> ImageSet {
        let mut pixels = Vec::with_capacity(idx.len() * self.image_size());
        for &i in idx {
            pixels.extend_from_slice(self.image(i));
        }
        ImageSet {
            height: self.height,
            width: self.width,
            channels: self.channels,
            pixels,
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            source_index: idx.iter().map(|&i| self.source_index[i]).collect(),
        }
    }
}

/// A dataset with its train and test parts and class metadata.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The spec it was loaded from.
    pub spec: String,
    pub train: ImageSet,
    pub test: ImageSet,
    pub classes: Vec<String>,
    pub wnids: Option<Vec<String>>,
}

impl Dataset {
    /// Per-channel mean and std of the training images in [0, 1] (for normalisation).
    pub fn channel_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let t = &self.train;
        let c = t.channels;
        let mut sum = vec![0f64; c];
        let mut sq = vec![0f64; c];
        for (i, &p) in t.pixels.iter().enumerate() {
            let v = p as f64 / 255.0;
            sum[i % c] += v;
            sq[i % c] += v * v;
        }
        let n = (t.pixels.len() / c).max(1) as f64;
        let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
        let std: Vec<f32> = sq
            .iter()
            .zip(&mean)
            .map(|(s, &m)| ((s / n - (m as f64) * (m as f64)).max(1e-12).sqrt()) as f32)
            .collect();
        (mean, std)
    }
}

const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

fn fashion_mnist_meta() -> (Vec<String>, Option<Vec<String>>) {
    let (names, wnids) = classes::fashion_mnist();
    (names, Some(wnids))
}

fn from_idx(images: idx::Images, offset: i64) -> ImageSet {
    ImageSet {
        height: images.rows,
        width: images.cols,
        channels: 1,
        labels: images.labels.iter().map(|&l| l as i64).collect(),
        source_index: (0..images.n as i64).map(|i| i + offset).collect(),
        pixels: images.pixels,
    }
}

fn read_idx_files(dir: &Path, prefix: &str) -> Result<idx::Images> {
    let find = |kind: &str| -> Result<PathBuf> {
        for ext in [".gz", ""] {
            let p = dir.join(format!("{prefix}-{kind}{ext}"));
            if p.exists() {
                return Ok(p);
            }
        }
        bail!(
            "{}: no {prefix}-{kind}[.gz] (is dataset-fashion-mnist installed?)",
            dir.display()
        )
    };
    let (ip, lp) = (find("images-idx3-ubyte")?, find("labels-idx1-ubyte")?);
    let read = |p: &Path| crate::input_file::read(p);
    idx::parse(
        &read(&ip)?,
        &read(&lp)?,
        &ip.display().to_string(),
        &lp.display().to_string(),
    )
}

/// The bundled split's shuffle, frozen: SplitMix64 from state `seed`,
/// Lemire's multiply-shift with rejection for a uniform index, and a forward
/// Fisher–Yates (position `i` swaps with a uniform `j` in `i..n`). Not a
/// general generator: use [`crate::rng`] for anything else.
fn contract_shuffle(seed: u64, v: &mut [usize]) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let n = v.len();
    for i in 0..n {
        let span = (n - i) as u64;
        let threshold = span.wrapping_neg() % span;
        let j = loop {
            let m = (next() as u128) * (span as u128);
            if (m as u64) >= threshold {
                break (m >> 64) as usize;
            }
        };
        v.swap(i, i + j);
    }
}

/// A fixed stratified split of `all` into two parts: within each class, the
/// class's indices (in file order) are shuffled with [`contract_shuffle`]
/// from state `seed_base + class`, and the first `floor(k·num/den)` of its
/// `k` images go to the first part, the rest to the second. Both parts are
/// returned sorted.
fn stratified_split(
    all: &ImageSet,
    seed_base: u64,
    (num, den): (usize, usize),
) -> (Vec<usize>, Vec<usize>) {
    let classes = all
        .labels
        .iter()
        .copied()
        .max()
        .map_or(0, |m| m as usize + 1);
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for c in 0..classes {
        let mut idx: Vec<usize> = (0..all.len())
            .filter(|&i| all.labels[i] == c as i64)
            .collect();
        let k = idx.len();
        contract_shuffle(seed_base + c as u64, &mut idx);
        let cut = k * num / den;
        first.extend_from_slice(&idx[..cut]);
        second.extend_from_slice(&idx[cut..]);
    }
    first.sort_unstable();
    second.sort_unstable();
    (first, second)
}

/// The fixed stratified 8 000 / 2 000 split of the bundled test split
/// (seed base 0x5EED, 4/5 to train).
pub fn bundled_split(all: &ImageSet) -> (Vec<usize>, Vec<usize>) {
    stratified_split(all, 0x5EED, (4, 5))
}

/// The fixed stratified validation split of a training part (seed base
/// 0x7A11D, 5/6 kept for training, 1/6 held out for validation): Fashion-MNIST's
/// 60 000 training images become 50 000 + 10 000. Recipes are tuned on it,
/// so the test part is never looked at before a study is frozen.
pub fn validation_split(train: &ImageSet) -> (Vec<usize>, Vec<usize>) {
    stratified_split(train, 0x7A11D, (5, 6))
}

/// CIFAR binary records: `label_bytes` label byte(s) (the last is used),
/// then 3072 bytes of 32×32 RGB, channel-planar.
fn read_cifar_files(files: &[PathBuf], label_bytes: usize) -> Result<ImageSet> {
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for f in files {
        let bytes = crate::input_file::read(f)?;
        cifar_records(
            &bytes,
            label_bytes,
            &f.display().to_string(),
            &mut pixels,
            &mut labels,
        )?;
    }
    let n = labels.len() as i64;
    Ok(ImageSet {
        height: 32,
        width: 32,
        channels: 3,
        pixels,
        labels,
        source_index: (0..n).collect(),
    })
}

/// Appends the records of one CIFAR binary file (`name` for errors) as HWC
/// pixels and labels.
pub fn cifar_records(
    bytes: &[u8],
    label_bytes: usize,
    name: &str,
    pixels: &mut Vec<u8>,
    labels: &mut Vec<i64>,
) -> Result<()> {
    if label_bytes == 0 {
        bail!("{name}: CIFAR records need at least one label byte");
    }
    let rec = label_bytes + 3072;
    if bytes.is_empty() || !bytes.len().is_multiple_of(rec) {
        bail!(
            "{name}: {} bytes is not a whole number of {rec}-byte CIFAR records (truncated?)",
            bytes.len()
        );
    }
    for r in bytes.chunks_exact(rec) {
        labels.push(r[label_bytes - 1] as i64);
        let planes = &r[label_bytes..];
        for p in 0..1024 {
            pixels.extend_from_slice(&[planes[p], planes[1024 + p], planes[2048 + p]]);
        }
    }
    Ok(())
}

/// One image file's bytes decoded to (width, height, channels, HWC pixels):
/// grey images keep one channel, everything else becomes RGB.
pub fn decode_image(bytes: &[u8], name: &str) -> Result<(usize, usize, usize, Vec<u8>)> {
    let img = super::image_folder::decode_image(bytes, name)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let gray = matches!(
        img.color(),
        image::ColorType::L8 | image::ColorType::L16 | image::ColorType::La8
    );
    Ok(if gray {
        (w, h, 1, img.to_luma8().into_raw())
    } else {
        (w, h, 3, img.to_rgb8().into_raw())
    })
}

fn cifar_names(dir: &Path, meta_file: &str, fallback: usize) -> Vec<String> {
    std::fs::read_to_string(dir.join(meta_file))
        .map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_else(|_| (0..fallback).map(|c| c.to_string()).collect())
}

/// `DIR/<class>/<image>` for every class folder (sorted), images decoded
/// with the `image` crate and required to share one size.
fn read_folder(dir: &Path, classes: &[String]) -> Result<ImageSet> {
    let mut set: Option<ImageSet> = None;
    let mut index = 0i64;
    for (c, name) in classes.iter().enumerate() {
        let cdir = dir.join(name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&cdir)
            .with_context(|| format!("reading {}", cdir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            let (w, h, channels, bytes) =
                decode_image(&crate::input_file::read(&f)?, &f.display().to_string())?;
            let s = set.get_or_insert_with(|| ImageSet {
                height: h,
                width: w,
                channels,
                pixels: Vec::new(),
                labels: Vec::new(),
                source_index: Vec::new(),
            });
            if (s.height, s.width, s.channels) != (h, w, channels) {
                bail!(
                    "{}: {w}×{h}×{channels} differs from the folder's first image ({}×{}×{}); resize images to one size",
                    f.display(),
                    s.width,
                    s.height,
                    s.channels
                );
            }
            s.pixels.extend_from_slice(&bytes);
            s.labels.push(c as i64);
            s.source_index.push(index);
            index += 1;
        }
    }
    set.with_context(|| format!("{}: no images found", dir.display()))
}

fn class_folders(dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("{}: no class folders", dir.display());
    }
    Ok(names)
}

/// Most bytes of pixels a `random:` dataset may generate.
const MAX_RANDOM_BYTES: usize = 4 << 30;

/// `CxHxW[:N]` of a `random:` spec.
fn parse_random_shape(spec: &str, arg: &str) -> Result<(usize, usize, usize, usize)> {
    let (shape, n) = arg.split_once(':').unwrap_or((arg, "4096"));
    let dims: Vec<usize> = shape
        .split('x')
        .map(|d| d.parse().ok().filter(|&v| v > 0))
        .collect::<Option<_>>()
        .unwrap_or_default();
    let n = n.parse().ok().filter(|&v: &usize| v > 0);
    match (dims.as_slice(), n) {
        (&[c, h, w], Some(n)) if c == 1 || c == 3 => {
            // Train (N) and test (N/4) images are generated in memory.
            let bytes = [c, h, w, n + n / 4]
                .iter()
                .try_fold(1usize, |acc, &v| acc.checked_mul(v))
                .filter(|&b| b <= MAX_RANDOM_BYTES);
            if h > 4096 || w > 4096 || bytes.is_none() {
                bail!(
                    "dataset spec '{spec}': {c}x{h}x{w} images × {n} (+ {} test) would need more than {} GiB; sides are limited to 4096 and the whole set to {} GiB",
                    n / 4,
                    MAX_RANDOM_BYTES >> 30,
                    MAX_RANDOM_BYTES >> 30
                );
            }
            Ok((c, h, w, n))
        }
        _ => bail!("dataset spec '{spec}': expected random:CxHxW[:N] with C 1 or 3 and positive sizes, e.g. random:3x32x32"),
    }
}

/// `n` noise images, labels cycling over 10 classes; `part` seeds train and test apart.
fn random_images(c: usize, h: usize, w: usize, n: usize, part: u64) -> ImageSet {
    let mut rng = rng::stream(0, Purpose::RandomImages, part);
    ImageSet {
        height: h,
        width: w,
        channels: c,
        pixels: (0..n * c * h * w).map(|_| rng.random::<u8>()).collect(),
        labels: (0..n as i64).map(|i| i % 10).collect(),
        source_index: (0..n as i64).collect(),
    }
}

/// Every dataset spec `load` takes (for help texts and errors).
pub const SPECS: &str = "bundled:fashion-mnist-test, fashion-mnist[:DIR], cifar10:DIR, cifar100:DIR, folder:DIR, random:CxHxW[:N] or val:SPEC (a validation split of SPEC's train part)";

/// Loads a dataset from its spec (see the module docs).
pub fn load(spec: &str) -> Result<Dataset> {
    let (kind, arg) = spec.split_once(':').unwrap_or((spec, ""));
    let ds = match (kind, arg) {
        ("bundled", "" | "fashion-mnist-test") => bundled(spec)?,
        ("val", inner) if !inner.is_empty() && !inner.starts_with("val:") => {
            validation(spec, inner)?
        }
        ("fashion-mnist", dir) => fashion_mnist(spec, dir)?,
        ("cifar10", dir) if !dir.is_empty() => cifar10(spec, Path::new(dir))?,
        ("cifar100", dir) if !dir.is_empty() => cifar100(spec, Path::new(dir))?,
        ("folder", dir) if !dir.is_empty() => folder(spec, Path::new(dir))?,
        ("random", shape) => {
            let (c, h, w, n) = parse_random_shape(spec, shape)?;
            Dataset {
                spec: spec.into(),
                train: random_images(c, h, w, n, 0),
                test: random_images(c, h, w, (n / 4).max(1), 1),
                classes: (0..10).map(|i| format!("noise{i}")).collect(),
                wnids: None,
            }
        }
        _ => bail!("unknown dataset spec '{spec}': expected {SPECS}"),
    };
    if ds.train.is_empty() || ds.test.is_empty() {
        bail!("dataset '{spec}': empty train or test part");
    }
    let classes = ds.classes.len() as i64;
    for part in [&ds.train, &ds.test] {
        if let Some(&l) = part.labels.iter().find(|&&l| l >= classes) {
            bail!("dataset '{spec}': label {l} but only {classes} class names");
        }
    }
    Ok(ds)
}

/// `bundled:fashion-mnist-test`: the frozen 8 000 / 2 000 split.
fn bundled(spec: &str) -> Result<Dataset> {
    let all = from_idx(idx::bundled_fashion_mnist_test()?, 0);
    let (tr, te) = bundled_split(&all);
    let (classes, wnids) = fashion_mnist_meta();
    Ok(Dataset {
        spec: spec.into(),
        train: all.subset(&tr),
        test: all.subset(&te),
        classes,
        wnids,
    })
}

/// `val:SPEC`: SPEC's train part split by [`validation_split`]; the held-out
/// sixth is the test part.
fn validation(spec: &str, inner: &str) -> Result<Dataset> {
    let ds = load(inner)?;
    let (tr, va) = validation_split(&ds.train);
    if tr.is_empty() || va.is_empty() {
        bail!(
            "dataset '{spec}': {} training images are too few to hold out a validation sixth",
            ds.train.len()
        );
    }
    Ok(Dataset {
        spec: spec.into(),
        train: ds.train.subset(&tr),
        test: ds.train.subset(&va),
        classes: ds.classes,
        wnids: ds.wnids,
    })
}

/// `fashion-mnist[:DIR]`: the IDX files (default: Debian's package).
fn fashion_mnist(spec: &str, dir: &str) -> Result<Dataset> {
    let dir = Path::new(if dir.is_empty() {
        DEBIAN_FASHION_MNIST
    } else {
        dir
    });
    let train = from_idx(read_idx_files(dir, "train")?, 0);
    let test = from_idx(read_idx_files(dir, "t10k")?, 0);
    let (classes, wnids) = fashion_mnist_meta();
    Ok(Dataset {
        spec: spec.into(),
        train,
        test,
        classes,
        wnids,
    })
}

/// `cifar10:DIR`: the binary version's five train batches and test batch.
fn cifar10(spec: &str, dir: &Path) -> Result<Dataset> {
    let train_files: Vec<PathBuf> = (1..=5)
        .map(|i| dir.join(format!("data_batch_{i}.bin")))
        .collect();
    Ok(Dataset {
        spec: spec.into(),
        train: read_cifar_files(&train_files, 1)?,
        test: read_cifar_files(&[dir.join("test_batch.bin")], 1)?,
        classes: cifar_names(dir, "batches.meta.txt", 10),
        wnids: None,
    })
}

/// `cifar100:DIR`: the binary version, fine labels.
fn cifar100(spec: &str, dir: &Path) -> Result<Dataset> {
    Ok(Dataset {
        spec: spec.into(),
        train: read_cifar_files(&[dir.join("train.bin")], 2)?,
        test: read_cifar_files(&[dir.join("test.bin")], 2)?,
        classes: cifar_names(dir, "fine_label_names.txt", 100),
        wnids: None,
    })
}

/// `folder:DIR`: `DIR/{train,test}/<class>/*`.
fn folder(spec: &str, dir: &Path) -> Result<Dataset> {
    if super::image_folder::is_class_folder_layout(dir) && dir.is_dir() {
        bail!(
            "{}: no train/ and test/ folders; class folders directly under DIR (DIR/<class>/<image>, \
             ImageNet's layout) are read by `negstudy embed` only — training and linear-eval need \
             DIR/train/<class>/ and DIR/test/<class>/",
            dir.display()
        );
    }
    let classes = class_folders(&dir.join("train"))?;
    Ok(Dataset {
        spec: spec.into(),
        train: read_folder(&dir.join("train"), &classes)?,
        test: read_folder(&dir.join("test"), &classes)?,
        classes,
        wnids: None,
    })
}
