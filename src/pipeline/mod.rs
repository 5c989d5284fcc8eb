//! The library's data flow, one typed function per stage:
//!
//! ```text
//! TrainConfig ──train::trainer::train──► run folder (checkpoints, train_log.csv)
//!   run folder ──evaluate::evaluate────► EvalReport (linear probe, kNN) → eval.json
//!   run folder or weights file ──embed::embed──► store::Dump → .safetensors
//!   dump(s)    ──analyze::analyze──────► report bundle + AnalysisSummary
//!   run folder ──export::export────────► encoder weights, torchvision names
//! ```
//!
//! Commands (`crate::commands`) map arguments to these requests and print
//! the results; `sweep` and `demo` chain them. Nothing here parses a
//! command line or reads a result back through untyped JSON.

pub mod analyze;
pub mod dynamics;
pub mod embed;
pub mod embed_folder;
pub mod evaluate;
pub mod export;
