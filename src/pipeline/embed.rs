//! An embedding dump (`z`, `h`, labels) of images by an encoder: a
//! negstudy run's, or one read from a PyTorch or safetensors file
//! (`model::foreign`); of a dataset part, or of an image folder
//! (`DIR/<class>/<image>`, streamed by `pipeline::embed_folder`).

use super::evaluate::Opened;
use crate::data::augment::Normalize;
use crate::data::dataset::{Dataset, ImageSet};
use crate::data::image_folder::{self, ImageFolder, Preprocess};
use crate::model::foreign::{self, ReadOptions};
use crate::model::{ResnetShape, Stem};
use crate::store::{Dump, DumpMeta, Matrix};
use crate::train::checkpoint::{self, EncoderRole};
use crate::train::eval::{self, Features};
use crate::train::trainer::{self, device};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Which part of a dataset to embed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    Train,
    Test,
    All,
}

/// How image-folder images become the encoder's input (`--resize`,
/// `--crop`, `--native-size`, `--limit-per-class`).
#[derive(Clone, Copy, Debug, Default)]
pub struct FolderOptions {
    /// Shorter side after resizing (default: 256 for an ImageNet-stem model).
    pub resize: Option<usize>,
    /// Centre crop (default: 224 for an ImageNet-stem model).
    pub crop: Option<usize>,
    /// Neither resize nor crop, whatever the stem.
    pub native_size: bool,
    /// The first N images of each class.
    pub limit_per_class: Option<usize>,
}

/// Largest resize or crop side accepted (a 32-image batch at 2048² × 3 is
/// 1.6 GB of f32 input).
const MAX_SIDE: usize = 2048;

impl FolderOptions {
    /// The preprocessing for a model of `shape`: the options' sizes, else
    /// torchvision's evaluation transform for an ImageNet stem, else the
    /// images' native size.
    pub fn preprocess(&self, shape: &ResnetShape) -> Result<Preprocess> {
        self.validate()?;
        let default = match (self.native_size, shape.stem) {
            (false, Stem::Imagenet) => Preprocess::imagenet(shape.in_channels),
            _ => Preprocess {
                channels: shape.in_channels,
                resize: None,
                crop: None,
            },
        };
        Ok(Preprocess {
            resize: self.resize.or(default.resize),
            crop: self.crop.or(default.crop),
            ..default
        })
    }
}

impl FolderOptions {
    /// Sizes within 1 to [`MAX_SIDE`].
    pub fn validate(&self) -> Result<()> {
        for (flag, v) in [("--resize", self.resize), ("--crop", self.crop)] {
            if let Some(v) = v.filter(|&v| v == 0 || v > MAX_SIDE) {
                bail!("{flag} {v}: expected 1 to {MAX_SIDE} pixels");
            }
        }
        Ok(())
    }
}

/// What to embed.
#[derive(Clone, Debug)]
pub struct EmbedRequest {
    /// A run folder (its last checkpoint), a checkpoint folder, or a PyTorch
    /// or safetensors weights file (`model::foreign`).
    pub checkpoint: PathBuf,
    /// Dataset spec; `None`: the one the run trained on (required for a
    /// file). `folder:DIR` with class folders directly under DIR is an
    /// image folder: all of it is embedded (`split` does not apply).
    pub data: Option<String>,
    pub split: Split,
    pub encoder: EncoderRole,
    /// How a weights file is read (prefix, stem, head; the role is `encoder`).
    pub weights: ReadOptions,
    /// Per-channel mean and std the images are normalised with; `None`: the
    /// dataset's (what negstudy trains with), or ImageNet's for an image
    /// folder and a 3-channel model of a weights file.
    pub normalize: Option<Normalize>,
    pub folder: FolderOptions,
    /// No progress bar.
    pub quiet: bool,
}

impl EmbedRequest {
    /// The paper's dump: the query encoder on the held-out test part.
    pub fn of(checkpoint: PathBuf) -> EmbedRequest {
        EmbedRequest {
            checkpoint,
            data: None,
            split: Split::Test,
            encoder: EncoderRole::Query,
            weights: ReadOptions::default(),
            normalize: None,
            folder: FolderOptions::default(),
            quiet: true,
        }
    }

    /// The image folder's directory, when `data` names one.
    fn image_folder(&self) -> Option<&Path> {
        let dir = Path::new(self.data.as_deref()?.strip_prefix("folder:")?);
        image_folder::is_class_folder_layout(dir).then_some(dir)
    }
}

/// torchvision's ImageNet normalisation (`transforms.Normalize`).
pub fn imagenet_normalization() -> Normalize {
    Normalize {
        mean: vec![0.485, 0.456, 0.406],
        std: vec![0.229, 0.224, 0.225],
    }
}

/// The images of one part of a dataset (`All`: train then test).
fn part(ds: &Dataset, split: Split) -> ImageSet {
    match split {
        Split::Train => ds.train.clone(),
        Split::Test => ds.test.clone(),
        Split::All => {
            let mut s = ds.train.clone();
            s.pixels.extend_from_slice(&ds.test.pixels);
            s.labels.extend_from_slice(&ds.test.labels);
            s.source_index.extend_from_slice(&ds.test.source_index);
            s
        }
    }
}

/// The normalisation to use: the request's, checked against the channels,
/// else `default`, else ImageNet's for 3 channels.
fn normalization(
    req: &EmbedRequest,
    default: Option<&Normalize>,
    channels: usize,
) -> Result<Normalize> {
    let Some(n) = &req.normalize else {
        return match default {
            Some(d) => Ok(d.clone()),
            None if channels == 3 => Ok(imagenet_normalization()),
            None => bail!(
                "a {channels}-channel model: give --mean and --std (ImageNet's are the default only for RGB)"
            ),
        };
    };
    if n.mean.len() != channels || n.std.len() != channels {
        bail!(
            "--mean/--std give {} and {} values; the images have {channels} channels",
            n.mean.len(),
            n.std.len()
        );
    }
    if let Some(s) = n.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        bail!("--std {s}: a standard deviation must be positive");
    }
    Ok(n.clone())
}

/// The dump of one encoder's embeddings (`z` and `h`).
pub fn embed(req: &EmbedRequest) -> Result<Dump> {
    req.folder.validate()?;
    // An image folder is listed before any weights are read, so that a
    // folder without images fails at once.
    let folder = req
        .image_folder()
        .map(|dir| ImageFolder::scan(dir, req.folder.limit_per_class))
        .transpose()?;
    if req.checkpoint.is_file() {
        return embed_file(req, folder);
    }
    crate::input_file::check_folder(
        &req.checkpoint,
        "a run folder, a checkpoint-N folder or a weights file (.pth, .pth.tar, .ckpt, .safetensors)",
    )?;
    // An image folder is not a training dataset: the run's own dataset
    // gives the channels and the default normalisation.
    let run = Opened::open(
        &req.checkpoint,
        req.data.as_deref().filter(|_| folder.is_none()),
    )?;
    let enc = run.encoder(req.encoder)?;
    let meta = DumpMeta {
        encoder: Some(req.encoder.name().into()),
        source: Some(run.ck.display().to_string()),
        epoch: Some(checkpoint::read_counters(&run.ck)?.epoch.to_string()),
        ..DumpMeta::default()
    };
    let shape = run.model().shape();
    if let Some(folder) = folder {
        let norm = normalization(req, Some(&run.norm), shape.in_channels)?;
        return embed_image_folder(req, &folder, (&enc, &shape), &norm, &run.dev, meta);
    }
    let set = part(&run.ds, req.split);
    let norm = normalization(req, Some(&run.norm), set.channels)?;
    let encoded = eval::encode(&enc, &set, &norm, &run.dev, 256);
    let meta = DumpMeta {
        dataset: Some(format!("{} ({:?} part)", run.data_spec, req.split).to_lowercase()),
        ..meta
    };
    let rows = (set.labels, set.source_index);
    dump(encoded, rows, (&run.ds.classes, &run.ds.wnids), meta)
}

/// The dump of embeddings `(h, z)` with their labels and source indices;
/// `meta` says where they came from, `classes` and `wnids` name the labels.
fn dump(
    (h, z): (Features, Features),
    (label, index): (Vec<i64>, Vec<i64>),
    (classes, wnids): (&[String], &Option<Vec<String>>),
    meta: DumpMeta,
) -> Result<Dump> {
    Ok(Dump {
        z: Matrix::new(z.n(), z.d(), z.into_x())?,
        h: Some(Matrix::new(h.n(), h.d(), h.into_x())?),
        label,
        index: Some(index),
        meta: DumpMeta {
            classes: classes.to_vec(),
            wnids: wnids.clone(),
            negstudy_version: Some(crate::VERSION.into()),
            ..meta
        },
    })
}

/// An image folder's dump: every image (or the first N per class), in
/// torchvision `ImageFolder` order; `index` is the position in that order.
fn embed_image_folder(
    req: &EmbedRequest,
    folder: &ImageFolder,
    (enc, shape): (&crate::model::Encoder, &ResnetShape),
    norm: &Normalize,
    dev: &burn::prelude::Device,
    meta: DumpMeta,
) -> Result<Dump> {
    let dir = &folder.root;
    let pre = req.folder.preprocess(shape)?;
    if let Some(warning) = folder.unreadable_warning() {
        eprintln!("{warning}");
    }
    if !req.quiet && folder.skipped > 0 {
        eprintln!(
            "{}: {} files are not JPEG or PNG and are left out",
            dir.display(),
            folder.skipped
        );
    }
    let ((h, z), timings) =
        crate::pipeline::embed_folder::encode_folder(enc, folder, pre, norm, dev, req.quiet)?;
    if !req.quiet {
        eprintln!("embedded {timings}");
    }
    if timings.grey16 > 0 {
        eprintln!(
            "warning: {}: {} images are 16-bit grey PNGs; read as Pillow (and so torchvision) \
             reads them, every value above 255 saturated to 255 (convert them to 8 bits first \
             if that is not what you want)",
            crate::input_file::shown(dir),
            timings.grey16
        );
    }
    let n = folder.files.len();
    let rows = (
        folder.files.iter().map(|(_, l)| *l).collect(),
        (0..n as i64).collect(),
    );
    let size = |v: Option<usize>| v.map_or("native".to_string(), |v| v.to_string());
    let meta = DumpMeta {
        dataset: Some(format!(
            "folder:{} ({n} images in {} class folders; resize {}, crop {}, mean {:?}, std {:?})",
            dir.display(),
            folder.classes.len(),
            size(pre.resize),
            size(pre.crop),
            norm.mean,
            norm.std
        )),
        ..meta
    };
    dump((h, z), rows, (&folder.classes, &folder.wnids), meta)
}

/// `embed` of a weights file negstudy did not train (PyTorch or
/// safetensors), on the CPU, with the architecture read from the weights.
fn embed_file(req: &EmbedRequest, folder: Option<ImageFolder>) -> Result<Dump> {
    let spec = req.data.as_deref().with_context(|| {
        format!(
            "{}: embedding a weights file needs --data (which images to embed)",
            req.checkpoint.display()
        )
    })?;
    let dev = device("cpu")?;
    let opts = ReadOptions {
        momentum: req.encoder == EncoderRole::Momentum,
        ..req.weights.clone()
    };
    let loaded = foreign::load(&req.checkpoint, &opts, &dev)?;
    // The encoder the tensors are, as the file's layout says (a --prefix
    // naming a momentum encoder is one, whatever --encoder said).
    let role = if loaded.found.momentum {
        EncoderRole::Momentum
    } else {
        EncoderRole::Query
    };
    let meta = DumpMeta {
        encoder: Some(role.name().into()),
        source: Some(format!(
            "{} ({}, encoder under '{}', {}: {})",
            req.checkpoint.display(),
            loaded.found.layout,
            loaded.found.prefix,
            loaded.name,
            loaded.shape.describe()
        )),
        ..DumpMeta::default()
    };

    let dump = match folder {
        Some(folder) => {
            let norm = normalization(req, None, loaded.shape.in_channels)
                .with_context(|| req.checkpoint.display().to_string())?;
            let model = (&loaded.encoder, &loaded.shape);
            embed_image_folder(req, &folder, model, &norm, &dev, meta)?
        }
        None => embed_dataset(req, spec, &loaded, &dev, meta)?,
    };
    if !req.quiet
        && req.weights.stem_padding.is_none()
        && loaded.found.cifar_stem_padding.is_none()
        && loaded.shape.stem == Stem::Cifar
        && loaded.shape.stem_kernel == 3
    {
        eprintln!(
            "{}: its 3×3 stem was read with padding 1 (torchvision's rule); solo-learn's CIFAR stem uses 2 — if the file comes from a pipeline like it, give --stem-padding",
            crate::input_file::shown(&req.checkpoint)
        );
    }
    if !req.quiet && !loaded.unused_head.is_empty() {
        eprintln!(
            "{}: the head {:?} is left out, z = normalised h (--head fc uses it)",
            req.checkpoint.display(),
            loaded.unused_head
        );
    }
    Ok(dump)
}

/// A dataset part's dump by a weights file's encoder.
fn embed_dataset(
    req: &EmbedRequest,
    spec: &str,
    loaded: &foreign::Loaded,
    dev: &burn::prelude::Device,
    meta: DumpMeta,
) -> Result<Dump> {
    let channels = loaded.shape.in_channels;
    let (ds, stats) = trainer::data(spec)?;
    let set = part(&ds, req.split);
    if channels != set.channels {
        bail!(
            "{}: the encoder takes {channels} input channels but '{spec}' has {}",
            req.checkpoint.display(),
            set.channels
        );
    }
    let norm = normalization(req, Some(&stats), set.channels)?;
    let encoded = eval::encode(&loaded.encoder, &set, &norm, dev, 256);
    let meta = DumpMeta {
        dataset: Some(format!("{spec} ({:?} part)", req.split).to_lowercase()),
        ..meta
    };
    let rows = (set.labels, set.source_index);
    dump(encoded, rows, (&ds.classes, &ds.wnids), meta)
}
