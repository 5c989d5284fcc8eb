//! Assembling an [`AnalysisInput`] from dumps, as the `analyze` flags describe:
//! either one dump split into disjoint random query and negative subsets
//! (the paper's setting: 2000 + 2000), or separate query and negative dumps
//! (e.g. query encoder vs momentum encoder).

use super::{AnalysisInput, Side};
use crate::hierarchy::{read_wnid_list, ClassLcaTable, Hierarchy};
use crate::rng::{self, Purpose, Rng};
use crate::store::{Dump, LoadOptions};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Queries and negatives sampled from one dump by default (paper, footnote 3).
pub const PAPER_SAMPLE: usize = 2000;

/// Where queries and negatives come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// One dump; `n_queries` and `n_negatives` disjoint random rows (default
    /// 2000 each — the paper's setting — or half the rows each for dumps of
    /// fewer than 4000 rows).
    Split {
        embeddings: PathBuf,
        n_queries: Option<usize>,
        n_negatives: Option<usize>,
    },
    /// Two dumps (possibly the same file); all rows unless a count is given.
    Pair {
        queries: PathBuf,
        negatives: PathBuf,
        n_queries: Option<usize>,
        n_negatives: Option<usize>,
    },
}

impl Source {
    /// The files read, for the manifest.
    pub fn files(&self) -> Vec<PathBuf> {
        match self {
            Source::Split { embeddings, .. } => vec![embeddings.clone()],
            Source::Pair {
                queries, negatives, ..
            } if queries == negatives => vec![queries.clone()],
            Source::Pair {
                queries, negatives, ..
            } => vec![queries.clone(), negatives.clone()],
        }
    }
}

fn side(d: &Dump, rows: Vec<usize>) -> Side {
    Side {
        z: d.z.select_rows(&rows),
        label: rows.iter().map(|&r| d.label[r]).collect(),
        rows,
    }
}

/// `k` distinct rows of `0..n` in random order (all of them in order when `k` is None).
fn pick(n: usize, k: Option<usize>, rng: &mut Rng, what: &str, file: &Path) -> Result<Vec<usize>> {
    let Some(k) = k else {
        return Ok((0..n).collect());
    };
    if k > n {
        bail!(
            "{}: {k} {what} requested but the dump has {n} rows",
            file.display()
        );
    }
    Ok(rng::subset(rng, n, k))
}

/// Queries and negatives sampled from the dump(s), and the dump whose
/// metadata (classes, wnids) the analysis uses.
struct Sampled {
    queries: Side,
    negatives: Side,
    self_negative: Vec<Option<u32>>,
    reference: Dump,
}

/// `--embeddings`: disjoint random queries and negatives from one dump.
fn sample_split(
    embeddings: &Path,
    n_queries: Option<usize>,
    n_negatives: Option<usize>,
    opts: LoadOptions,
    seed: u64,
) -> Result<Sampled> {
    let d = Dump::load(embeddings, opts)?;
    let default = PAPER_SAMPLE.min(d.len() / 2);
    let (n_queries, n_negatives) = (n_queries.unwrap_or(default), n_negatives.unwrap_or(default));
    if n_queries + n_negatives > d.len() {
        bail!(
            "{}: {n_queries} queries + {n_negatives} negatives requested but the dump has {} rows",
            embeddings.display(),
            d.len()
        );
    }
    let mut rng = rng::stream(seed, Purpose::AnalysisSample, 0);
    let rows = pick(
        d.len(),
        Some(n_queries + n_negatives),
        &mut rng,
        "rows",
        embeddings,
    )?;
    let queries = side(&d, rows[..n_queries].to_vec());
    let negatives = side(&d, rows[n_queries..].to_vec());
    Ok(Sampled {
        self_negative: vec![None; queries.rows.len()],
        queries,
        negatives,
        reference: d,
    })
}

/// `--queries`/`--negatives`: rows from each (all unless counts are
/// given); when both name one file, a query's own row is not its negative.
fn sample_pair(
    queries: &Path,
    negatives: &Path,
    n_queries: Option<usize>,
    n_negatives: Option<usize>,
    opts: LoadOptions,
    seed: u64,
) -> Result<Sampled> {
    let same_file = same_path(queries, negatives);
    let dq = Dump::load(queries, opts)?;
    let dn = if same_file {
        dq.clone()
    } else {
        Dump::load(negatives, opts)?
    };
    if dq.meta.classes != dn.meta.classes {
        bail!(
            "{} and {} list different classes; queries and negatives must share one class list",
            queries.display(),
            negatives.display()
        );
    }
    let mut rng = rng::stream(seed, Purpose::AnalysisSample, 0);
    let q = side(
        &dq,
        pick(dq.len(), n_queries, &mut rng, "queries", queries)?,
    );
    let n = side(
        &dn,
        pick(dn.len(), n_negatives, &mut rng, "negatives", negatives)?,
    );
    let self_negative = if same_file {
        let mut pos = vec![None; dn.len()];
        for (j, &r) in n.rows.iter().enumerate() {
            pos[r] = Some(j as u32);
        }
        q.rows.iter().map(|&r| pos[r]).collect()
    } else {
        vec![None; q.rows.len()]
    };
    Ok(Sampled {
        queries: q,
        negatives: n,
        self_negative,
        reference: dq,
    })
}

/// One wnid per class: from `--wnids` (checked against the class count)
/// or the dump's metadata.
fn wnids_for(wnids_file: Option<&Path>, reference: &Dump) -> Result<Option<Vec<String>>> {
    let Some(f) = wnids_file else {
        return Ok(reference.meta.wnids.clone());
    };
    let w = read_wnid_list(f)?;
    let classes = reference.meta.classes.len();
    if w.len() != classes {
        bail!(
            "{}: {} wnids for {classes} classes (one wnid per class index)",
            f.display(),
            w.len()
        );
    }
    Ok(Some(w))
}

/// Class names as people read them: a class named by its bare wnid (an
/// ImageNet folder's `n01440764`) gets its synset's first word from the
/// hierarchy (`n01440764 tench`); other names, and wnids the hierarchy
/// does not hold, stay as they are.
pub fn readable_class_names(classes: &[String], hierarchy: &Hierarchy) -> Vec<String> {
    classes
        .iter()
        .map(|c| {
            let word = crate::hierarchy::is_wnid(c)
                .then(|| hierarchy.id(c))
                .flatten()
                .and_then(|id| hierarchy.synset(id).words.split(", ").next())
                .filter(|w| !w.is_empty());
            // The hierarchy's words already read as text (its WordNet
            // reader turns `great_white_shark` into `great white shark`).
            word.map_or_else(|| c.clone(), |w| format!("{c} {w}"))
        })
        .collect()
}

/// Loads the dumps, samples rows and builds the class-level LCA table when
/// wnids are known (from `--wnids` or the dump's metadata).
pub fn load(
    source: &Source,
    normalize: bool,
    seed: u64,
    wnids_file: Option<&Path>,
    hierarchy: &Hierarchy,
) -> Result<(AnalysisInput, Dump)> {
    let opts = LoadOptions { normalize };
    let sampled = match source {
        Source::Split {
            embeddings,
            n_queries,
            n_negatives,
        } => sample_split(embeddings, *n_queries, *n_negatives, opts, seed)?,
        Source::Pair {
            queries,
            negatives,
            n_queries,
            n_negatives,
        } => sample_pair(queries, negatives, *n_queries, *n_negatives, opts, seed)?,
    };
    let lca = wnids_for(wnids_file, &sampled.reference)?
        .map(|w| ClassLcaTable::new(hierarchy, &w).context("building the class LCA table"))
        .transpose()?;
    let classes = readable_class_names(&sampled.reference.meta.classes, hierarchy);
    Ok((
        AnalysisInput {
            queries: sampled.queries,
            negatives: sampled.negatives,
            self_negative: sampled.self_negative,
            classes,
            lca,
        },
        sampled.reference,
    ))
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
