//! `.parquet` dumps through polars: list or fixed-size-array column `z`,
//! integer column `label`, optional `h` and `index`. Metadata travels as the
//! file's key-value metadata under the same keys as in safetensors.

use super::{Dump, DumpMeta, Matrix, RawDump};
use anyhow::{bail, Context, Result};
use polars::io::parquet::write::KeyValueMetadata;
use polars::prelude::*;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

/// Flattens a list/array column of equal-length float rows into a matrix.
fn matrix(df: &DataFrame, name: &str) -> Result<Option<Matrix>> {
    let Ok(col) = df.column(name) else {
        return Ok(None);
    };
    let series = col.as_materialized_series();
    let rows = series.len();
    if series.null_count() > 0 {
        bail!("column '{name}' has null rows");
    }
    let inner = match series.dtype() {
        DataType::List(_) => {
            let ca = series.list()?;
            let lengths: Vec<usize> = ca
                .amortized_iter()
                .map(|s| s.map_or(0, |s| s.as_ref().len()))
                .collect();
            if let Some((row, &len)) = lengths.iter().enumerate().find(|(_, &l)| l != lengths[0]) {
                bail!(
                    "column '{name}' row {row} has {len} values but row 0 has {}",
                    lengths[0]
                );
            }
            ca.get_inner()
        }
        DataType::Array(_, _) => series.array()?.get_inner(),
        other => bail!("column '{name}' has type {other}; expected a list or array of floats"),
    };
    if !inner.dtype().is_float() {
        bail!("column '{name}' holds {}; expected floats", inner.dtype());
    }
    let values = inner.cast(&DataType::Float32)?;
    if values.null_count() > 0 {
        bail!("column '{name}' has null values inside its rows");
    }
    let data: Vec<f32> = values.f32()?.into_no_null_iter().collect();
    let cols = data.len().checked_div(rows).unwrap_or(0);
    Matrix::new(rows, cols, data).map(Some)
}

fn ints(df: &DataFrame, name: &str) -> Result<Option<Vec<i64>>> {
    let Ok(col) = df.column(name) else {
        return Ok(None);
    };
    if !col.dtype().is_integer() {
        bail!(
            "column '{name}' has type {}; expected integers",
            col.dtype()
        );
    }
    if col.null_count() > 0 {
        bail!("column '{name}' has null values");
    }
    // Strict: a value that does not fit (u64 ≥ 2⁶³) is an error, not a null.
    let v = col.strict_cast(&DataType::Int64).map_err(|_| {
        anyhow::anyhow!("column '{name}' has values that do not fit in a signed 64-bit integer")
    })?;
    Ok(Some(v.i64()?.into_no_null_iter().collect()))
}

/// Panics of the parquet reader are silenced while this is above zero.
static QUIET_PANICS: AtomicUsize = AtomicUsize::new(0);

/// Runs `read` and turns a panic into an error. polars' parquet reader
/// panics on some malformed files instead of returning an error (fuzzing
/// found thrift fields out of range, list lengths that disagree with their
/// values, bitmap offsets past the end; `fuzz/`), and a negstudy user must
/// get one clear error, not a panic. While the reader runs, panics are not
/// printed by the default hook (its message becomes part of the error); a
/// panic anywhere else in that window still unwinds as usual.
fn without_panics<T>(read: impl FnOnce() -> Result<T>) -> Result<T> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET_PANICS.load(Ordering::SeqCst) == 0 {
                previous(info);
            }
        }));
    });
    QUIET_PANICS.fetch_add(1, Ordering::SeqCst);
    let result = std::panic::catch_unwind(AssertUnwindSafe(read));
    QUIET_PANICS.fetch_sub(1, Ordering::SeqCst);
    result.unwrap_or_else(|payload| {
        let why = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        bail!("not a valid parquet file (truncated or corrupt?): the parquet reader failed: {why}")
    })
}

pub(super) fn read(path: &Path) -> Result<RawDump> {
    let bytes = crate::input_file::read(path)?;
    without_panics(|| check_declared_sizes(&bytes))?;
    without_panics(|| read_file(std::io::Cursor::new(bytes)))
}

/// Counts and sizes a file may declare: 64 per byte of file (real embeddings
/// barely compress, so a legitimate dump is far below this).
fn declared_limit(file_bytes: usize) -> usize {
    file_bytes.saturating_mul(64).saturating_add(4096)
}

/// polars' Thrift decoder reserves memory for every list of the footer
/// (file metadata) from the length the file declares, times the size of the
/// decoded element, and reads each field by its id whatever type the file
/// says it has — so no size check made outside polars can follow it, and a
/// corrupt length (fuzzing found footers asking for 67 and 136 GB) aborts
/// the process, which cannot be caught. The footer is therefore decoded
/// first in a forked child process: if the child dies, the file is rejected
/// with an error; if it exits normally, the parent decodes it for real.
/// (fork is copy-on-write; the child only decodes and calls `_exit`.)
fn footer_decodes_in_a_child(bytes: &[u8]) -> Result<()> {
    use polars_parquet::parquet::read::read_metadata;
    // SAFETY: the child runs only the decoder (which allocates through the
    // fork-safe system allocator and takes no locks another thread may
    // hold) and leaves with `_exit`, running no destructors or atexit hooks.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: changes to the child only. An abort must kill the child,
        // not run a handler inherited from the parent (such as a fuzzer's
        // crash reporter).
        // The allocator's last words would reach the user's terminal as
        // noise: the parent reports the failure.
        unsafe {
            libc::signal(libc::SIGABRT, libc::SIG_DFL);
            libc::close(2);
        }
        let buffer = polars_buffer::Buffer::from(bytes.to_vec());
        let decoded = std::panic::catch_unwind(AssertUnwindSafe(|| {
            read_metadata(&mut std::io::Cursor::new(buffer)).is_ok()
        }));
        // SAFETY: terminating the child without unwinding or destructors.
        unsafe { libc::_exit(if matches!(decoded, Ok(true)) { 0 } else { 1 }) };
    }
    if pid < 0 {
        // No process to spare: decode in this one, as before.
        return Ok(());
    }
    let mut status = 0;
    // SAFETY: waiting for the child forked above; `status` is a valid out-pointer.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    if waited == pid && libc::WIFSIGNALED(status) {
        bail!(
            "not a valid parquet file (truncated or corrupt?): its footer declares sizes the parquet reader cannot allocate (the reader was killed by signal {})",
            libc::WTERMSIG(status)
        );
    }
    Ok(())
}

/// polars' reader trusts the counts and sizes in a file's headers and
/// reserves memory for them before decoding; a corrupt header (fuzzing found
/// data pages claiming 2⁵⁸ values) makes it request exabytes, and a failed
/// allocation aborts the process — it cannot be caught like a panic. So the
/// row counts, column chunk sizes and every data page header are checked
/// first against what the file's size can justify ([`declared_limit`]).
fn check_declared_sizes(bytes: &[u8]) -> Result<()> {
    use polars_parquet::parquet::page::CompressedPage;
    use polars_parquet::parquet::read::{get_page_iterator, read_metadata};
    let limit = declared_limit(bytes.len());
    let buffer = polars_buffer::Buffer::from(bytes.to_vec());
    let bad = |what: &str, n: i128| -> Result<()> {
        if n < 0 || n > limit as i128 {
            bail!("not a valid parquet file (truncated or corrupt?): {what} {n} is more than a {}-byte file can hold", bytes.len());
        }
        Ok(())
    };
    footer_decodes_in_a_child(bytes)?;
    let meta = read_metadata(&mut std::io::Cursor::new(buffer.clone()))
        .map_err(|e| anyhow::anyhow!("not a valid parquet file (truncated or corrupt?): {e}"))?;
    bad("the file declares rows:", meta.num_rows as i128)?;
    for rg in &meta.row_groups {
        bad("a row group declares rows:", rg.num_rows() as i128)?;
        for chunk in rg.parquet_columns() {
            bad(
                "a column chunk declares values:",
                chunk.num_values() as i128,
            )?;
            bad(
                "a column chunk declares bytes:",
                chunk.uncompressed_size() as i128,
            )?;
            let pages = get_page_iterator(
                chunk,
                std::io::Cursor::new(buffer.clone()),
                Vec::new(),
                bytes.len(),
            )
            .map_err(|e| {
                anyhow::anyhow!("not a valid parquet file (truncated or corrupt?): {e}")
            })?;
            for page in pages {
                let page = page.map_err(|e| {
                    anyhow::anyhow!("not a valid parquet file (truncated or corrupt?): {e}")
                })?;
                if let CompressedPage::Data(p) = page {
                    bad("a data page declares values:", p.num_values() as i128)?;
                    bad("a data page declares bytes:", p.uncompressed_size() as i128)?;
                    bad(
                        "a data page declares rows:",
                        p.num_rows().unwrap_or(0) as i128,
                    )?;
                }
            }
        }
    }
    Ok(())
}

fn read_file(file: std::io::Cursor<Vec<u8>>) -> Result<RawDump> {
    let mut reader = ParquetReader::new(file);
    let kv: Vec<(String, String)> = reader
        .get_metadata()
        .map_err(|e| anyhow::anyhow!("not a valid parquet file (truncated or corrupt?): {e}"))?
        .key_value_metadata()
        .iter()
        .flatten()
        .filter_map(|k| k.value.clone().map(|v| (k.key.clone(), v)))
        .collect();
    let df = reader
        .finish()
        .map_err(|e| anyhow::anyhow!("reading parquet data: {e}"))?;
    let meta =
        DumpMeta::from_string_map(|k| kv.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()))?;
    Ok(RawDump {
        z: matrix(&df, "z")?,
        h: matrix(&df, "h")?,
        label: ints(&df, "label")?,
        index: ints(&df, "index")?,
        meta,
    })
}

fn array_column(name: &str, m: &Matrix) -> Result<Column> {
    let flat = Series::new(name.into(), &m.data);
    let arr = flat.reshape_array(&[
        ReshapeDimension::new_dimension(m.rows as u64),
        ReshapeDimension::new_dimension(m.cols as u64),
    ])?;
    Ok(arr.into_column())
}

pub(super) fn write(d: &Dump, path: &Path) -> Result<()> {
    let mut cols = vec![
        array_column("z", &d.z)?,
        Column::new("label".into(), &d.label),
    ];
    if let Some(h) = &d.h {
        cols.push(array_column("h", h)?);
    }
    if let Some(i) = &d.index {
        cols.push(Column::new("index".into(), i));
    }
    let mut df = DataFrame::new_infer_height(cols)?;
    let kv = d.meta.for_writing().to_string_map()?;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    ParquetWriter::new(file)
        .with_key_value_metadata(Some(KeyValueMetadata::from_static(kv)))
        .finish(&mut df)?;
    Ok(())
}
