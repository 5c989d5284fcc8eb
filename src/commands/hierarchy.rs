//! `negstudy hierarchy build|lca|info`.

use crate::atomic;
use crate::hierarchy::{read_wnid_list, write_structure_xml, Hierarchy};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use rayon::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where a hierarchy comes from; the bundled one when neither flag is given.
#[derive(Debug, Args)]
pub struct HierarchySource {
    /// ImageNet structure XML (`structure_released.xml` format).
    #[arg(long, value_name = "FILE", conflicts_with = "wordnet")]
    pub hierarchy: Option<PathBuf>,
    /// WordNet database directory holding data.noun (e.g. /usr/share/wordnet).
    #[arg(long, value_name = "DIR")]
    pub wordnet: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum HierarchyCommand {
    /// Write ImageNet-structure XML with full WordNet paths from `entity` to the given wnids.
    Build {
        /// WordNet database directory (data.noun).
        #[arg(long, value_name = "DIR")]
        wordnet: PathBuf,
        /// Files listing wnids (one per line, or the first wnid-shaped field of each TSV line).
        #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
        wnids: Vec<PathBuf>,
        /// Output XML file.
        #[arg(long, value_name = "FILE.xml")]
        out: PathBuf,
    },
    /// Print LCA, LCA depth, both depths and shortest path for pairs `wnid_a wnid_b`, as TSV.
    Lca {
        #[command(flatten)]
        source: HierarchySource,
        /// File of lines `wnid_a wnid_b` (blank lines and `#` comments skipped).
        #[arg(long, value_name = "FILE")]
        pairs: PathBuf,
    },
    /// Print a hierarchy's size and roots, and depths of the given wnids.
    Info {
        #[command(flatten)]
        source: HierarchySource,
        /// wnids to describe.
        wnids: Vec<String>,
    },
}

pub fn run(cmd: HierarchyCommand) -> Result<()> {
    match cmd {
        HierarchyCommand::Build {
            wordnet,
            wnids,
            out,
        } => build(&wordnet, &wnids, &out),
        HierarchyCommand::Lca { source, pairs } => {
            let h = Hierarchy::load(source.hierarchy.as_deref(), source.wordnet.as_deref())?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            lca_table(&h, &pairs, &mut out)?;
            out.flush()?;
            Ok(())
        }
        HierarchyCommand::Info { source, wnids } => {
            let h = Hierarchy::load(source.hierarchy.as_deref(), source.wordnet.as_deref())?;
            println!("source    {}", h.source());
            println!("synsets   {}", h.len());
            let roots: Vec<&str> = h.roots().iter().map(|&r| h.wnid(r)).collect();
            println!("roots     {}", roots.join(" "));
            for w in &wnids {
                let id = h.require(w)?;
                let s = h.synset(id);
                println!(
                    "{w}\t{}\tmax_depth {}\tmin_depth {}",
                    s.words,
                    h.max_depth(id),
                    h.min_depth(id)
                );
            }
            Ok(())
        }
    }
}

/// `hierarchy build`: WordNet → ImageNet-structure XML for the listed wnids.
fn build(wordnet: &Path, lists: &[PathBuf], out: &Path) -> Result<()> {
    let h = Hierarchy::from_wordnet_dir(wordnet)?;
    let mut wnids = Vec::new();
    for l in lists {
        for w in read_wnid_list(l)? {
            h.require(&w)
                .with_context(|| format!("listed in {}", l.display()))?;
            if !wnids.contains(&w) {
                wnids.push(w);
            }
        }
    }
    let note = format!(
        "negstudy {} hierarchy build from WordNet 3.0 data.noun; {} target synsets",
        crate::VERSION,
        wnids.len()
    );
    let mut buf = Vec::new();
    write_structure_xml(&h, &wnids, &note, &mut buf)?;
    atomic::write_bytes(out, atomic::Kind::HierarchyXml, &buf)?;
    eprintln!("wrote {} ({} target synsets)", out.display(), wnids.len());
    Ok(())
}

/// The TSV header of `hierarchy lca`.
pub const LCA_HEADER: &str = "a\tb\tlca\tlca_depth\ta_depth\tb_depth\tshortest_path";

/// Writes the LCA table for every pair in `pairs` to `out`.
pub fn lca_table(h: &Hierarchy, pairs: &Path, out: &mut impl Write) -> Result<()> {
    let text = crate::input_file::read_to_string(pairs)?;
    lca_table_of(h, &text, &pairs.display().to_string(), out)
}

/// [`lca_table`] over the text of a pairs file; `name` prefixes error locations.
pub fn lca_table_of(h: &Hierarchy, text: &str, name: &str, out: &mut impl Write) -> Result<()> {
    let mut ids: Vec<(u32, u32)> = Vec::new();
    let mut names: Vec<(&str, &str)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut f = line.split_whitespace();
        let (Some(a), Some(b), None) = (f.next(), f.next(), f.next()) else {
            bail!(
                "{name}:{}: expected two wnids 'wnid_a wnid_b', got '{line}'",
                i + 1
            );
        };
        let id = |w: &str| h.require(w).with_context(|| format!("{name}:{}", i + 1));
        ids.push((id(a)?, id(b)?));
        names.push((a, b));
    }
    // Each synset's hypernym list once, then pairs in parallel chunks.
    let mut ancestors: std::collections::HashMap<u32, Vec<(u32, u32)>> = Default::default();
    for &(a, b) in &ids {
        for s in [a, b] {
            ancestors.entry(s).or_insert_with(|| h.ancestors(s));
        }
    }
    writeln!(out, "{LCA_HEADER}")?;
    let chunks: Vec<String> = ids
        .par_chunks(4096)
        .zip(names.par_chunks(4096))
        .map(|(idc, namec)| {
            let mut s = String::with_capacity(idc.len() * 64);
            for (&(a, b), &(na, nb)) in idc.iter().zip(namec) {
                let l = h.lca_of_ancestors(&ancestors[&a], &ancestors[&b]);
                let lca: Vec<&str> = l.synsets.iter().map(|&x| h.wnid(x)).collect();
                let fmt = |v: Option<u32>| v.map_or("NA".to_string(), |d| d.to_string());
                s.push_str(&format!(
                    "{na}\t{nb}\t{}\t{}\t{}\t{}\t{}\n",
                    lca.join(","),
                    fmt(l.depth),
                    h.max_depth(a),
                    h.max_depth(b),
                    fmt(l.shortest_path)
                ));
            }
            s
        })
        .collect();
    for c in chunks {
        out.write_all(c.as_bytes())?;
    }
    Ok(())
}
