//! Report bundles (docs/DESIGN.md §6): a folder of tidy CSVs, PNG figures,
//! `summary.json`, `index.md` (and its rendering `index.html`) and `manifest.json`, written to a temporary
//! sibling folder and renamed into place only when complete, so an
//! interrupted run leaves nothing half-written.

pub mod analysis_report;
pub mod html;

use crate::table::{Table, Values};
use anyhow::{Context, Result};
use polars::prelude::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A bundle being written.
pub struct Bundle {
    out: PathBuf,
    tmp: PathBuf,
    finished: bool,
}

impl Bundle {
    /// Starts a bundle that will become `out` (replacing it) on [`Bundle::finish`].
    /// An existing `out` is replaced only if it is a negstudy bundle.
    pub fn create(out: &Path) -> Result<Bundle> {
        let tmp = crate::atomic::prepare(out, crate::atomic::Kind::Bundle)?;
        std::fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        Ok(Bundle {
            out: out.to_path_buf(),
            tmp,
            finished: false,
        })
    }

    /// The folder being written (renamed into place by [`Bundle::finish`]).
    pub fn dir(&self) -> &Path {
        &self.tmp
    }

    /// Path of a file inside the bundle being written.
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.join(name)
    }

    /// Writes `<table.name>.csv`.
    pub fn csv(&self, table: &Table) -> Result<()> {
        let path = self.path(&format!("{}.csv", table.name));
        write_csv(table, &path)
    }

    /// Writes a JSON file ([`json_text`]).
    pub fn json(&self, name: &str, value: &impl serde::Serialize) -> Result<()> {
        std::fs::write(self.path(name), json_text(value)?)
            .with_context(|| format!("writing {name}"))
    }

    pub fn text(&self, name: &str, text: &str) -> Result<()> {
        std::fs::write(self.path(name), text).with_context(|| format!("writing {name}"))
    }

    /// Writes `index.md` and its HTML rendering `index.html` ([`html`]);
    /// call it last, when the figures and `manifest.json` it shows exist.
    pub fn index(&self, markdown: &str) -> Result<()> {
        self.text("index.md", markdown)?;
        let page = html::render(self.dir(), markdown)?;
        self.text(html::FILE, &page)
    }

    /// Renames the finished bundle into place and returns its path.
    pub fn finish(mut self) -> Result<PathBuf> {
        crate::atomic::swap_in(&self.tmp, &self.out)?;
        self.finished = true;
        Ok(self.out.clone())
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        if !self.finished {
            crate::atomic::abandon(&self.tmp, &self.out);
        }
    }
}

/// The text of every JSON file and JSON printout negstudy makes: keys
/// sorted (whatever order a struct declares its fields in), pretty-printed,
/// newline-terminated.
pub fn json_text(value: &impl serde::Serialize) -> Result<String> {
    Ok(serde_json::to_string_pretty(&serde_json::to_value(value)?)? + "\n")
}

/// A tidy table as CSV through polars; NaN floats become empty cells.
pub fn write_csv(table: &Table, path: &Path) -> Result<()> {
    let columns: Vec<Column> = table
        .columns
        .iter()
        .map(|(name, values)| match values {
            Values::Int(v) => Column::new(name.as_str().into(), v),
            Values::Float(v) => {
                let opt: Vec<Option<f64>> = v.iter().map(|x| x.is_finite().then_some(*x)).collect();
                Column::new(name.as_str().into(), opt)
            }
            Values::Text(v) => Column::new(name.as_str().into(), v),
        })
        .collect();
    let mut df = DataFrame::new_infer_height(columns)?;
    let mut file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    CsvWriter::new(&mut file)
        .finish(&mut df)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}

/// SHA-256 of a file, hex, for manifests.
pub fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    /// A ledger's JSON is read back into the same numbers it was written
    /// from: a sweep collected from the ledger alone must equal the one
    /// collected as it trained (serde_json's default float parser is off by
    /// one ulp for some 17-digit inputs: it read a run's wall seconds
    /// 3.8107783570000002 back as 3.810778357).
    fn round_trips(x: f64) -> bool {
        let text = super::json_text(&x).unwrap();
        serde_json::from_str::<f64>(&text).unwrap().to_bits() == x.to_bits()
    }

    #[test]
    fn json_floats_seen_to_drift_round_trip() {
        assert!(round_trips(3.810_778_357_000_000_2));
        assert!(round_trips(3.770_599_832_000_000_3));
    }

    proptest! {
        #[test]
        fn every_finite_json_float_round_trips(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
            prop_assert!(round_trips(x));
        }
    }
}
