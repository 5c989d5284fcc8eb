//! IDX files (the MNIST / Fashion-MNIST format): a big-endian header — magic
//! `0x00000803` for u8 images [n, rows, cols], `0x00000801` for u8 labels
//! [n] — then the values. Files may be gzip-compressed.

use anyhow::{bail, Context, Result};
use std::io::Read;

/// Grey-scale images with labels.
#[derive(Clone, Debug)]
pub struct Images {
    pub n: usize,
    pub rows: usize,
    pub cols: usize,
    /// Row-major u8 pixels, image after image.
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Images {
    pub fn image(&self, i: usize) -> &[u8] {
        let sz = self.rows * self.cols;
        &self.pixels[i * sz..(i + 1) * sz]
    }
}

fn gunzip_if_needed(bytes: &[u8], name: &str) -> Result<Vec<u8>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        // At most what gzip can expand this input to (deflate's ratio is ≤ 1 032).
        let limit = (bytes.len() as u64).saturating_mul(1032);
        flate2::read::GzDecoder::new(bytes)
            .take(limit)
            .read_to_end(&mut out)
            .with_context(|| format!("{name}: corrupt or truncated gzip data"))?;
        Ok(out)
    } else {
        Ok(bytes.to_vec())
    }
}

fn header(bytes: &[u8], name: &str, magic: u32, dims: usize) -> Result<Vec<usize>> {
    let need = 4 + 4 * dims;
    if bytes.len() < need {
        bail!("{name}: truncated IDX header ({} bytes)", bytes.len());
    }
    let word = |i: usize| {
        u32::from_be_bytes([
            bytes[4 * i],
            bytes[4 * i + 1],
            bytes[4 * i + 2],
            bytes[4 * i + 3],
        ])
    };
    if word(0) != magic {
        bail!(
            "{name}: IDX magic {:#010x}, expected {magic:#010x}",
            word(0)
        );
    }
    Ok((1..=dims).map(|i| word(i) as usize).collect())
}

/// Parses an images file and a labels file (raw or gzip bytes).
pub fn parse(images: &[u8], labels: &[u8], images_name: &str, labels_name: &str) -> Result<Images> {
    let img = gunzip_if_needed(images, images_name)?;
    let lab = gunzip_if_needed(labels, labels_name)?;
    let d = header(&img, images_name, 0x0000_0803, 3)?;
    let l = header(&lab, labels_name, 0x0000_0801, 1)?;
    let (n, rows, cols) = (d[0], d[1], d[2]);
    if l[0] != n {
        bail!(
            "{labels_name} holds {} labels but {images_name} holds {n} images",
            l[0]
        );
    }
    let pixels = img[16..].to_vec();
    if n.checked_mul(rows).and_then(|v| v.checked_mul(cols)) != Some(pixels.len()) {
        bail!(
            "{images_name}: {} pixel bytes for {n}×{rows}×{cols} (truncated?)",
            pixels.len()
        );
    }
    let labels = lab[8..].to_vec();
    if labels.len() != n {
        bail!(
            "{labels_name}: {} label bytes for {n} labels (truncated?)",
            labels.len()
        );
    }
    Ok(Images {
        n,
        rows,
        cols,
        pixels,
        labels,
    })
}

/// The Fashion-MNIST test split bundled in `assets/data/fashion-mnist/` (MIT, Zalando SE).
pub fn bundled_fashion_mnist_test() -> Result<Images> {
    parse(
        include_bytes!("../../assets/data/fashion-mnist/t10k-images-idx3-ubyte.gz"),
        include_bytes!("../../assets/data/fashion-mnist/t10k-labels-idx1-ubyte.gz"),
        "bundled t10k-images-idx3-ubyte.gz",
        "bundled t10k-labels-idx1-ubyte.gz",
    )
}
