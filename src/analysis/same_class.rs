//! Figure 4a: how often a query's negatives share its class, by difficulty.

use super::binned::{Binned, BinnedAnalysis, Kind};
use super::ranking::Pair;

/// The kind (see [`Kind`]): the value is 1 for a negative of the query's class.
pub struct SameClassKind;

/// The analysis, for the registry.
pub type SameClassAnalysis = BinnedAnalysis<SameClassKind>;
/// Its result: same-class rate per bin, hard vs easy.
pub type SameClass = Binned<SameClassKind>;

impl Kind for SameClassKind {
    const NAME: &'static str = "same-class";
    const ABOUT: &'static str = "Fig. 4a: same-class rate, hard vs easy, by difficulty";
    const TABLE: &'static str = "same_class_by_bin";
    const COLUMN: &'static str = "same_class_rate";
    const FIGURE: &'static str = "same_class.png";
    const TITLE: &'static str = "Same-class rate";
    const Y_LABEL: &'static str = "fraction of negatives in the query's class";
    const HEADING: &'static str = "Same class (paper Fig. 4a)";
    const ALT: &'static str = "same-class rate, hard vs easy and by difficulty";
    const QUESTION: &'static str = "Are hard negatives more often of the query's class?";
    const MEASURE: &'static str = "same-class rate";

    fn table_line(bins: usize) -> String {
        format!("- `same_class_by_bin.csv` — same-class rate per {bins}-quantile difficulty bin, over all pairs.")
    }
    fn value(p: &Pair) -> f64 {
        f64::from(u8::from(p.same_class))
    }
}
