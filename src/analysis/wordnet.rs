//! Figure 4b: WordNet similarity (LCA depth of the query's and the
//! negative's classes) by difficulty.

use super::binned::{Binned, BinnedAnalysis, Kind};
use super::plugin::Unavailable;
use super::ranking::Pair;
use super::AnalysisInput;

/// The kind (see [`Kind`]): the value is the LCA depth (an integer, so its
/// sums are exact in any order).
pub struct WordNetKind;

/// The analysis, for the registry.
pub type WordNetAnalysis = BinnedAnalysis<WordNetKind>;
/// Its result: mean LCA depth per bin, hard vs easy.
pub type WordNet = Binned<WordNetKind>;

impl Kind for WordNetKind {
    const NAME: &'static str = "wordnet";
    const ABOUT: &'static str = "Fig. 4b: WordNet LCA depth, hard vs easy, by difficulty";
    const TABLE: &'static str = "wordnet_by_bin";
    const COLUMN: &'static str = "mean_lca_depth";
    const FIGURE: &'static str = "wordnet.png";
    const TITLE: &'static str = "WordNet similarity";
    const Y_LABEL: &'static str = "LCA depth of query and negative classes";
    const HEADING: &'static str = "WordNet similarity (paper Fig. 4b)";
    const ALT: &'static str = "WordNet LCA depth, hard vs easy and by difficulty";
    const QUESTION: &'static str = "Are hard negatives semantically closer? Similarity = max_depth of the classes' lowest common hypernym (deeper = more similar).";
    const MEASURE: &'static str = "mean LCA depth";

    fn table_line(_bins: usize) -> String {
        "- `wordnet_by_bin.csv` — mean LCA depth per difficulty bin.".into()
    }
    fn value(p: &Pair) -> f64 {
        p.lca
    }
    fn unavailable(input: &AnalysisInput) -> Option<Unavailable> {
        input.lca.is_none().then(|| Unavailable {
            error: "'analyze wordnet' needs one wnid per class: the dump's metadata has none; pass --wnids FILE".into(),
            note: "No wnids for these classes (dump metadata or --wnids): the WordNet analysis and LCA columns are omitted.".into(),
        })
    }
}
