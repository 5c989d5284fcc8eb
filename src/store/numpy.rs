//! NumPy `.npy` arrays and `.npz` archives, as `np.save` / `np.savez` write
//! them from PyTorch pipelines (`np.savez("emb.npz", z=z, label=y)`).

use super::{floats_from_le, ints_from_le, Dump, DumpMeta, Elem, Matrix, RawDump};
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Element kinds an array may hold.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Num(Elem),
    /// Fixed-width UTF-32 strings of this many characters.
    Unicode(usize),
}

/// A parsed `.npy` array: its kind, shape and little-endian data bytes.
struct Array {
    kind: Kind,
    shape: Vec<usize>,
    data: Vec<u8>,
}

fn parse_descr(descr: &str) -> Result<Kind> {
    // The byte-order mark is one ASCII character; anything else (including a
    // multi-byte character, which a byte split would cut) is unsupported.
    let order = descr.chars().next().filter(|c| "<>|=".contains(*c));
    let Some(order) = order else {
        bail!("unsupported dtype descriptor '{descr}'");
    };
    let rest = &descr[1..];
    let big_endian = order == '>';
    let kind = match rest {
        "f2" => Kind::Num(Elem::F16),
        "f4" => Kind::Num(Elem::F32),
        "f8" => Kind::Num(Elem::F64),
        "i1" => Kind::Num(Elem::I8),
        "u1" | "b1" => Kind::Num(Elem::U8),
        "i2" => Kind::Num(Elem::I16),
        "u2" => Kind::Num(Elem::U16),
        "i4" => Kind::Num(Elem::I32),
        "u4" => Kind::Num(Elem::U32),
        "i8" => Kind::Num(Elem::I64),
        "u8" => Kind::Num(Elem::U64),
        s if s.starts_with('U') => Kind::Unicode(
            s[1..]
                .parse()
                .with_context(|| format!("bad dtype '{descr}'"))?,
        ),
        "O" => bail!(
            "object arrays (dtype '|O', pickled) are not supported; save plain numeric arrays"
        ),
        _ => bail!("unsupported dtype '{descr}'"),
    };
    if big_endian && matches!(kind, Kind::Unicode(_)) {
        bail!("big-endian string arrays are not supported");
    }
    Ok(kind)
}

/// Extracts the value text after `'key':` in the header dict.
fn header_value<'a>(header: &'a str, key: &str) -> Result<&'a str> {
    let pat = format!("'{key}':");
    let at = header
        .find(&pat)
        .with_context(|| format!("npy header lacks '{key}': {header}"))?;
    Ok(header[at + pat.len()..].trim_start())
}

fn parse(bytes: &[u8], name: &str) -> Result<Array> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        bail!("{name}: not an .npy array (bad magic bytes)");
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                bail!("{name}: truncated .npy header");
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => bail!("{name}: unsupported .npy version {v}"),
    };
    let header = bytes
        .get(start..start + header_len)
        .with_context(|| format!("{name}: truncated .npy header"))?;
    let header =
        std::str::from_utf8(header).with_context(|| format!("{name}: .npy header is not text"))?;
    let descr_text = header_value(header, "descr")?;
    let descr = descr_text
        .strip_prefix('\'')
        .and_then(|s| s.split('\'').next())
        .with_context(|| format!("{name}: bad descr in header {header}"))?;
    let kind = parse_descr(descr).with_context(|| name.to_string())?;
    let big_endian = descr.starts_with('>');
    let fortran = header_value(header, "fortran_order")?.starts_with("True");
    let shape_text = header_value(header, "shape")?;
    let shape_text = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .with_context(|| format!("{name}: bad shape in header {header}"))?;
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .with_context(|| format!("{name}: bad shape '{shape_text}'"))?;
    let elem_size = match kind {
        Kind::Num(e) => Some(e.size()),
        Kind::Unicode(n) => n.checked_mul(4),
    };
    let body = &bytes[start + header_len..];
    // Checked: a hostile shape must not wrap around to a small size.
    let need = shape
        .iter()
        .try_fold(elem_size.unwrap_or(usize::MAX), |acc, &d| {
            acc.checked_mul(d)
        });
    let elem_size = elem_size.unwrap_or(usize::MAX);
    let Some(need) = need.filter(|&n| n <= body.len()) else {
        bail!(
            "{name}: truncated data: shape {shape:?} needs {} bytes, file has {}",
            need.map_or("more than 2^64".to_string(), |n| n.to_string()),
            body.len()
        );
    };
    let mut data = body[..need].to_vec();
    if big_endian && elem_size > 1 {
        data.chunks_exact_mut(elem_size).for_each(|c| c.reverse());
    }
    if fortran && shape.len() == 2 {
        // Column-major on disk: transpose to row-major.
        let (r, c) = (shape[0], shape[1]);
        let mut t = vec![0u8; data.len()];
        for i in 0..r {
            for j in 0..c {
                let src = (j * r + i) * elem_size;
                let dst = (i * c + j) * elem_size;
                t[dst..dst + elem_size].copy_from_slice(&data[src..src + elem_size]);
            }
        }
        data = t;
    }
    Ok(Array { kind, shape, data })
}

fn to_matrix(a: &Array, name: &str) -> Result<Matrix> {
    let Kind::Num(e) = a.kind else {
        bail!("'{name}' is a string array; expected numbers")
    };
    if a.shape.len() != 2 {
        bail!(
            "'{name}' has shape {:?}; expected 2 dimensions [N, d]",
            a.shape
        );
    }
    Matrix::new(a.shape[0], a.shape[1], floats_from_le(&a.data, e, name)?)
}

fn to_ints(a: &Array, name: &str) -> Result<Vec<i64>> {
    let Kind::Num(e) = a.kind else {
        bail!("'{name}' is a string array; expected integers")
    };
    if a.shape.len() != 1 {
        bail!("'{name}' has shape {:?}; expected 1 dimension [N]", a.shape);
    }
    ints_from_le(&a.data, e, name)
}

fn to_strings(a: &Array, name: &str) -> Result<Vec<String>> {
    let Kind::Unicode(width) = a.kind else {
        bail!("'{name}' should be a string array (dtype '<U…')")
    };
    if a.shape.len() > 1 {
        bail!(
            "'{name}' has shape {:?}; expected a list of strings",
            a.shape
        );
    }
    a.data
        .chunks_exact(4 * width.max(1))
        .map(|cell| {
            cell.chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .take_while(|&u| u != 0)
                .map(|u| char::from_u32(u).with_context(|| format!("'{name}': invalid character")))
                .collect::<Result<String>>()
        })
        .collect()
}

fn raw_from(mut get: impl FnMut(&str) -> Result<Option<Array>>) -> Result<RawDump> {
    let z = get("z")?.map(|a| to_matrix(&a, "z")).transpose()?;
    let h = get("h")?.map(|a| to_matrix(&a, "h")).transpose()?;
    let label = get("label")?.map(|a| to_ints(&a, "label")).transpose()?;
    let index = get("index")?.map(|a| to_ints(&a, "index")).transpose()?;
    let mut meta = DumpMeta {
        classes: get("classes")?
            .map(|a| to_strings(&a, "classes"))
            .transpose()?
            .unwrap_or_default(),
        wnids: get("wnids")?.map(|a| to_strings(&a, "wnids")).transpose()?,
        ..DumpMeta::default()
    };
    for (key, slot) in meta.text_fields_mut() {
        *slot = get(key)?
            .map(|a| to_strings(&a, key))
            .transpose()?
            .and_then(|v| v.into_iter().next());
    }
    Ok(RawDump {
        z,
        h,
        label,
        index,
        meta,
    })
}

pub(super) fn read_npz(path: &Path) -> Result<RawDump> {
    let file = crate::input_file::open(path)?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| {
        anyhow::anyhow!("not a valid .npz (zip) archive (truncated or corrupt?): {e}")
    })?;
    raw_from(|name| {
        let entry = format!("{name}.npy");
        let mut f = match zip.by_name(&entry) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(anyhow::anyhow!("reading '{entry}' from the archive: {e}")),
        };
        // Bounded by what the archive justifies: its declared size, which
        // deflate cannot exceed 1 032 times the compressed size.
        let declared = f.size();
        if declared
            > f.compressed_size()
                .saturating_mul(1032)
                .saturating_add(1 << 16)
        {
            bail!(
                "'{entry}' claims {declared} bytes from {} compressed (corrupt archive?)",
                f.compressed_size()
            );
        }
        let mut bytes = Vec::new();
        (&mut f)
            .take(declared)
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading '{entry}' (truncated archive?)"))?;
        parse(&bytes, &entry).map(Some)
    })
}

/// A `.npy` path names `z`; `label.npy`, `h.npy`, `index.npy`, `classes.npy`
/// and `wnids.npy` are read from the same folder when present.
pub(super) fn read_npy_folder(path: &Path) -> Result<RawDump> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let z_path = path.to_path_buf();
    raw_from(|name| {
        let p = if name == "z" {
            z_path.clone()
        } else {
            dir.join(format!("{name}.npy"))
        };
        if !p.exists() {
            return Ok(None);
        }
        let file = crate::input_file::open(&p)?;
        // SAFETY: read-only map, copied out of before it is dropped.
        let map = unsafe { memmap2::Mmap::map(&file) }
            .with_context(|| format!("memory-mapping {}", p.display()))?;
        parse(&map, &p.display().to_string()).map(Some)
    })
    .and_then(|raw| {
        if raw.label.is_none() {
            bail!(
                "missing tensor 'label': expected {} beside {}",
                dir.join("label.npy").display(),
                path.display()
            );
        }
        Ok(raw)
    })
}

/// Encodes one array as `.npy` (version 1.0) bytes.
fn encode(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let shape_text = match shape {
        [n] => format!("({n},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Pad so that the data starts on a 64-byte boundary, ending with '\n'.
    let unpadded = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn encode_strings(values: &[String], scalar: bool) -> Vec<u8> {
    let width = values
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut data = Vec::with_capacity(values.len() * width * 4);
    for s in values {
        let mut n = 0;
        for c in s.chars() {
            data.extend_from_slice(&(c as u32).to_le_bytes());
            n += 1;
        }
        data.extend(std::iter::repeat_n(0u8, 4 * (width - n)));
    }
    let shape: &[usize] = if scalar { &[] } else { &[values.len()] };
    encode(&format!("<U{width}"), shape, &data)
}

pub(super) fn write_npz(d: &Dump, path: &Path) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    let mut put = |name: &str, bytes: Vec<u8>| -> Result<()> {
        zip.start_file(format!("{name}.npy"), opts)?;
        zip.write_all(&bytes)?;
        Ok(())
    };
    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let i64s = |v: &[i64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    put("z", encode("<f4", &[d.z.rows, d.z.cols], &f32s(&d.z.data)))?;
    put("label", encode("<i8", &[d.label.len()], &i64s(&d.label)))?;
    if let Some(h) = &d.h {
        put("h", encode("<f4", &[h.rows, h.cols], &f32s(&h.data)))?;
    }
    if let Some(i) = &d.index {
        put("index", encode("<i8", &[i.len()], &i64s(i)))?;
    }
    put("classes", encode_strings(&d.meta.classes, false))?;
    if let Some(w) = &d.meta.wnids {
        put("wnids", encode_strings(w, false))?;
    }
    let meta = d.meta.for_writing();
    for (k, v) in meta.text_fields() {
        if let Some(v) = v {
            put(k, encode_strings(std::slice::from_ref(v), true))?;
        }
    }
    zip.finish().context("finishing the .npz archive")?;
    Ok(())
}
