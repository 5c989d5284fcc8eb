//! Checks a PyTorch file's container before burn-store's reader parses it,
//! because the reader trusts the sizes a container declares: a zip entry
//! deflated 1000:1, a `data.pkl` of millions of one-byte opcodes (each
//! becomes an object in its unpickler), or a tar member declared far larger
//! than the file would each make it allocate gigabytes from kilobytes. Only
//! declared sizes are read here (the zip central directory, tar headers),
//! never the data.

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::Path;

/// Largest `data.pkl` read: the pickle of a ResNet-50 MoCo checkpoint with
/// its optimizer state is ~100 KB; 4 MiB holds any model's names and
/// shapes, and bounds what the unpickler can build from it.
pub const MAX_PICKLE_BYTES: u64 = 4 << 20;

/// Most a compressed zip entry may expand, relative to its compressed
/// size: `torch.save` stores entries uncompressed, a re-zipped checkpoint
/// deflates float data by ~1.1:1; deflate's own limit is 1032:1.
pub const MAX_EXPANSION: u64 = 64;

/// Fails, naming the file and the entry, if `path`'s container declares
/// more than its bytes can justify; a file that is neither a zip nor a tar
/// (a legacy pickle stream) is left to the reader.
pub fn check(path: &Path) -> Result<()> {
    let shown = crate::input_file::shown(path);
    let mut head = [0u8; 512];
    let mut f = crate::input_file::open(path)?;
    let len = f
        .metadata()
        .with_context(|| format!("reading {shown}"))?
        .len();
    let got = read_up_to(&mut f, &mut head).with_context(|| format!("reading {shown}"))?;
    if head[..got].starts_with(b"PK\x03\x04") {
        check_zip(path, &shown)
    } else if got == 512 && &head[257..262] == b"ustar" {
        check_tar(path, &shown, len)
    } else {
        Ok(())
    }
}

fn read_up_to(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn check_zip(path: &Path, shown: &str) -> Result<()> {
    let file = crate::input_file::open(path)?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| anyhow::anyhow!("{shown}: not a valid zip (a torch.save file is one): {e}"))?;
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| anyhow::anyhow!("{shown}: zip entry {i}: {e}"))?;
        let name = entry
            .name()
            .map_or_else(|_| format!("#{i}"), |n| n.to_string());
        let (size, packed) = (entry.size(), entry.compressed_size());
        if name.ends_with("data.pkl") && size > MAX_PICKLE_BYTES {
            bail!(
                "{shown}: its pickle '{name}' declares {size} bytes; negstudy reads pickles up to {} MiB (a model's names and shapes take far less)",
                MAX_PICKLE_BYTES >> 20
            );
        }
        if entry.compression() != zip::CompressionMethod::Stored
            && size > packed.saturating_mul(MAX_EXPANSION).saturating_add(1 << 20)
        {
            bail!(
                "{shown}: zip entry '{name}' expands {packed} compressed bytes to {size}, more than {MAX_EXPANSION}:1 (torch.save does not compress; a zip bomb would)"
            );
        }
    }
    Ok(())
}

/// A tar's members, by their 512-byte headers: each member's declared size
/// must fit in what is left of the file (a sparse or truncated member
/// declares more), and GNU sparse members are refused.
fn check_tar(path: &Path, shown: &str, len: u64) -> Result<()> {
    let mut f = crate::input_file::open(path)?;
    let mut pos = 0u64;
    let mut header = [0u8; 512];
    use std::io::{Seek, SeekFrom};
    while pos + 512 <= len {
        f.seek(SeekFrom::Start(pos))
            .and_then(|_| f.read_exact(&mut header))
            .with_context(|| format!("reading {shown}"))?;
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let name = String::from_utf8_lossy(&header[..100])
            .trim_end_matches('\0')
            .to_string();
        if header[156] == b'S' {
            bail!(
                "{shown}: tar member '{name}' is sparse; negstudy reads tar members stored whole"
            );
        }
        let size_field = String::from_utf8_lossy(&header[124..136]).to_string();
        let size = u64::from_str_radix(size_field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
            .map_err(|_| anyhow::anyhow!("{shown}: tar member '{name}' has no readable size"))?;
        let left = len - pos - 512;
        if size > left {
            bail!("{shown}: tar member '{name}' declares {size} bytes but only {left} follow in the file");
        }
        pos += 512 + size.div_ceil(512) * 512;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_with(name: &str, bytes: &[u8], method: zip::CompressionMethod) -> tempfile::TempPath {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut z = zip::ZipWriter::new(f.reopen().unwrap());
        let opts = zip::write::SimpleFileOptions::default().compression_method(method);
        z.start_file(name, opts).unwrap();
        z.write_all(bytes).unwrap();
        z.finish().unwrap();
        f.into_temp_path()
    }

    #[test]
    fn a_deflated_bomb_and_a_huge_pickle_are_refused_from_their_declared_sizes() {
        let zeros = vec![0u8; 8 << 20];
        let bomb = zip_with("archive/data/0", &zeros, zip::CompressionMethod::Deflated);
        let err = check(&bomb).unwrap_err().to_string();
        assert!(
            err.contains("archive/data/0") && err.contains("64:1"),
            "{err}"
        );
        let pickle = zip_with("archive/data.pkl", &zeros, zip::CompressionMethod::Stored);
        let err = check(&pickle).unwrap_err().to_string();
        assert!(err.contains("data.pkl") && err.contains("4 MiB"), "{err}");
        let fine = zip_with(
            "archive/data/0",
            &zeros[..4096],
            zip::CompressionMethod::Stored,
        );
        check(&fine).unwrap();
    }

    #[test]
    fn a_tar_member_larger_than_the_file_is_refused() {
        let mut header = [0u8; 512];
        header[..4].copy_from_slice(b"big\0");
        header[124..136].copy_from_slice(b"40000000000\0"); // 4 GiB, octal
        header[156] = b'0';
        header[257..263].copy_from_slice(b"ustar\0");
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&header).unwrap();
        f.write_all(&[0u8; 1024]).unwrap();
        let err = check(f.path()).unwrap_err().to_string();
        assert!(err.contains("'big' declares 4294967296 bytes"), "{err}");
    }
}
