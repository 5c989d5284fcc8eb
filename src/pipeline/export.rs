//! A negstudy encoder out to PyTorch: its weights under torchvision's names
//! (`model::torchvision`) in a safetensors file or a `torch.save` file
//! (`model::pth`), by the output's extension.

use super::evaluate::Opened;
use crate::model::torchvision;
use crate::model::ModelConfig;
use crate::train::checkpoint::EncoderRole;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// What to export and where.
#[derive(Clone, Debug)]
pub struct ExportRequest {
    /// A run folder (its last checkpoint) or a checkpoint folder.
    pub checkpoint: PathBuf,
    pub encoder: EncoderRole,
    /// `.safetensors`, or `.pth` / `.pt` / `.pth.tar` (`torch.save`'s format).
    pub out: PathBuf,
}

/// What was written.
#[derive(Clone, Debug)]
pub struct Exported {
    pub path: PathBuf,
    pub model: ModelConfig,
    pub tensors: usize,
    pub values: usize,
}

/// Writes the encoder's weights (atomically; an existing file is replaced
/// only if `negstudy export` wrote it).
pub fn export(req: &ExportRequest) -> Result<Exported> {
    let pth = match req.out.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => false,
        Some("pth" | "pt") => true,
        Some("tar") if req.out.to_string_lossy().ends_with(".pth.tar") => true,
        _ => bail!(
            "{}: the export format follows the extension; use .safetensors, .pth, .pt or .pth.tar",
            req.out.display()
        ),
    };
    let run = Opened::open(&req.checkpoint, None)?;
    let enc = run.encoder(req.encoder)?;
    let model = run.model();
    let tensors = torchvision::export(&enc, &model.shape())?;
    let meta = [
        ("negstudy_version", crate::VERSION.to_string()),
        (
            torchvision::EXPORT_MARK.0,
            torchvision::EXPORT_MARK.1.to_string(),
        ),
        ("arch", model.arch.name().to_string()),
        ("in_channels", model.in_channels.to_string()),
        ("embed_dim", model.embed_dim.to_string()),
        (
            "stem",
            if model.imagenet_stem() {
                "imagenet"
            } else {
                "cifar"
            }
            .to_string(),
        ),
        ("encoder", req.encoder.name().to_string()),
        ("checkpoint", req.checkpoint.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    crate::atomic::write_with(
        &req.out,
        crate::atomic::Kind::Weights(exported_by_negstudy),
        |tmp: &Path| {
            if pth {
                crate::model::pth::save_pth(&tensors, meta, tmp)
            } else {
                torchvision::save_safetensors(&tensors, meta, tmp)
            }
        },
    )?;
    Ok(Exported {
        path: req.out.clone(),
        model,
        tensors: tensors.len(),
        values: tensors.iter().map(|t| t.values.len()).sum(),
    })
}

/// Whether `path` is a weights file `negstudy export` wrote: a safetensors
/// file with its mark, or a `.pth` with its record.
fn exported_by_negstudy(path: &Path) -> bool {
    torchvision::exported_by_negstudy(path) || crate::model::pth::exported_by_negstudy(path)
}
