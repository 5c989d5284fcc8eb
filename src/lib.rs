//! negstudy: study the negatives of contrastive instance discrimination.
//!
//! The library holds everything; `main.rs` only parses arguments. Modules:
//! * [`difficulty`] — the one definition of difficulty, ranks, bands and
//!   negative-set expressions, shared by trainer and analyses;
//! * [`store`] — embedding dumps (safetensors, npy/npz, parquet);
//! * [`hierarchy`] — WordNet / ImageNet hierarchies: depth, LCA, paths;
//! * [`stats`] — t-tests, KS, summaries matching scipy;
//! * [`analysis`] — the paper's Section 4 analyses over embeddings;
//! * [`report`] — report bundles: CSV, PNG, index.md, manifests;
//! * [`commands`] — one entry function per CLI command.

pub mod analysis;
pub mod atomic;
pub mod commands;
pub mod data;
pub mod difficulty;
pub mod hierarchy;
pub mod input_file;
pub mod model;
pub mod report;
pub mod rng;
pub mod stats;
pub mod store;
pub mod sweep;
pub mod synthetic;
pub mod table;
pub mod train;

/// The crate version, recorded in every dump and report.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
