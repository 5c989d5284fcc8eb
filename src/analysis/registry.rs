//! Every analysis `negstudy analyze` knows, in the order their sections
//! appear in a bundle. Adding an analysis: its file, and one line here.

use super::anticorrelated::AnticorrelatedAnalysis;
use super::class_pairs::ClassPairsAnalysis;
use super::consistency::ConsistencyAnalysis;
use super::health::HealthAnalysis;
use super::plugin::DynAnalysis;
use super::same_class::SameClassAnalysis;
use super::wordnet::WordNetAnalysis;

/// The registry.
pub const ANALYSES: &[&dyn DynAnalysis] = &[
    &SameClassAnalysis::new(),
    &WordNetAnalysis::new(),
    &AnticorrelatedAnalysis,
    &ClassPairsAnalysis,
    &ConsistencyAnalysis,
    &HealthAnalysis,
];

/// The analysis called `name` on the command line.
pub fn find(name: &str) -> Option<&'static dyn DynAnalysis> {
    ANALYSES.iter().copied().find(|a| a.name() == name)
}
