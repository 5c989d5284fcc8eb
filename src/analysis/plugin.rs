//! What an analysis is: something that folds every query's ranked
//! negatives into an accumulator (in parallel chunks, merged in a fixed
//! order), and then makes a [`Finding`] of the total — tables, headline
//! numbers, a figure and its section of the bundle's `index.md`.
//!
//! Adding an analysis is one file implementing [`Analysis`] for a unit
//! struct and [`Finding`] for its result, plus one line in
//! `analysis::registry` (docs/DESIGN.md §8).

use super::ranking::RankedQuery;
use super::{AnalysisInput, Params};
use crate::table::Table;
use anyhow::Result;
use serde_json::Value;
use std::any::Any;
use std::fmt::Debug;
use std::path::Path;

/// What an analysis sees before and after the pass.
#[derive(Clone, Copy)]
pub struct Setup<'a> {
    pub input: &'a AnalysisInput,
    pub params: &'a Params,
}

/// Why an analysis cannot run on an input.
#[derive(Clone, Debug)]
pub struct Unavailable {
    /// The error when this analysis alone was asked for.
    pub error: String,
    /// The note in `index.md` when it was skipped as part of `all`.
    pub note: String,
}

/// One of the paper's Section 4 analyses, accumulated over the pass.
pub trait Analysis: Sync + 'static {
    /// Additive totals over a run of queries. `PartialEq` lets the tests
    /// compare the fast pass with the reference exactly.
    type Acc: Send + PartialEq + Debug + 'static;
    /// What it makes of the totals.
    type Output: Finding;

    /// Its name on the command line (`analyze <name>`), kebab-case; its key
    /// in `summary.json` is the same with `_` for `-`.
    fn name(&self) -> &'static str;
    /// One line for `--help`.
    fn about(&self) -> &'static str;
    /// `Some` when the input lacks something this analysis needs.
    fn unavailable(&self, _input: &AnalysisInput) -> Option<Unavailable> {
        None
    }
    /// Totals of no queries.
    fn start(&self, setup: Setup) -> Self::Acc;
    /// Adds one query.
    fn fold(&self, acc: &mut Self::Acc, query: &RankedQuery, setup: Setup);
    /// Adds `later`, which covers queries after those of `acc`.
    fn merge(&self, acc: &mut Self::Acc, later: Self::Acc);
    /// The result (a pure function of the totals).
    fn finish(&self, acc: Self::Acc, setup: Setup) -> Self::Output;
}

/// An analysis's result, as the report bundle needs it.
pub trait Finding: Any + Send + Sync {
    /// Tidy tables, one CSV each (named by the table).
    fn tables(&self) -> Vec<Table>;
    /// Headline numbers for `summary.json`.
    fn summary(&self) -> Result<Value>;
    /// Draws its figure(s) into the bundle folder `dir`.
    fn figure(&self, dir: &Path, params: &Params) -> Result<()>;
    /// Its section of `index.md`; `tables` are those of [`Finding::tables`].
    fn index(&self, params: &Params, tables: &[Table]) -> Result<String>;
    /// For typed access to a result (`Findings::get`).
    fn as_any(&self) -> &dyn Any;
}

/// An accumulator whose type is known only to its analysis.
pub type AnyAcc = Box<dyn Any + Send>;

/// [`Analysis`] with its types erased, so that the registry can list
/// different analyses and the pass can hold their accumulators side by side.
/// Implemented for every `Analysis`; nothing else implements it.
pub trait DynAnalysis: Sync {
    fn name(&self) -> &'static str;
    fn about(&self) -> &'static str;
    fn unavailable(&self, input: &AnalysisInput) -> Option<Unavailable>;
    fn start(&self, setup: Setup) -> AnyAcc;
    fn fold(&self, acc: &mut AnyAcc, query: &RankedQuery, setup: Setup);
    fn merge(&self, acc: &mut AnyAcc, later: AnyAcc);
    fn finish(&self, acc: AnyAcc, setup: Setup) -> Box<dyn Finding>;
    /// Whether two accumulators of this analysis are equal.
    fn same(&self, a: &AnyAcc, b: &AnyAcc) -> bool;
    /// The accumulator's `Debug` text (for test failures).
    fn debug(&self, acc: &AnyAcc) -> String;
}

/// The accumulator of `A`: the pass only ever hands an analysis the
/// accumulators it made, so a mismatch is a defect in the pass.
fn own<A: Analysis>(acc: &AnyAcc) -> &A::Acc {
    acc.downcast_ref()
        .unwrap_or_else(|| unreachable!("an accumulator not made by its analysis"))
}

fn own_mut<A: Analysis>(acc: &mut AnyAcc) -> &mut A::Acc {
    acc.downcast_mut()
        .unwrap_or_else(|| unreachable!("an accumulator not made by its analysis"))
}

fn owned<A: Analysis>(acc: AnyAcc) -> A::Acc {
    *acc.downcast()
        .unwrap_or_else(|_| unreachable!("an accumulator not made by its analysis"))
}

impl<A: Analysis> DynAnalysis for A {
    fn name(&self) -> &'static str {
        Analysis::name(self)
    }
    fn about(&self) -> &'static str {
        Analysis::about(self)
    }
    fn unavailable(&self, input: &AnalysisInput) -> Option<Unavailable> {
        Analysis::unavailable(self, input)
    }
    fn start(&self, setup: Setup) -> AnyAcc {
        Box::new(Analysis::start(self, setup))
    }
    fn fold(&self, acc: &mut AnyAcc, query: &RankedQuery, setup: Setup) {
        Analysis::fold(self, own_mut::<A>(acc), query, setup)
    }
    fn merge(&self, acc: &mut AnyAcc, later: AnyAcc) {
        Analysis::merge(self, own_mut::<A>(acc), owned::<A>(later))
    }
    fn finish(&self, acc: AnyAcc, setup: Setup) -> Box<dyn Finding> {
        Box::new(Analysis::finish(self, owned::<A>(acc), setup))
    }
    fn same(&self, a: &AnyAcc, b: &AnyAcc) -> bool {
        own::<A>(a) == own::<A>(b)
    }
    fn debug(&self, acc: &AnyAcc) -> String {
        format!("{:?}", own::<A>(acc))
    }
}
