//! negstudy: study the negatives of contrastive instance discrimination.
//!
//! The library holds everything; `main.rs` only parses arguments. The data
//! flow and the contracts are in `docs/DESIGN.md`. Modules, from the bottom
//! layer up (a module uses only its own layer or those below):
//! * [`rng`] — every random draw: ChaCha8 streams keyed by seed, purpose, id;
//! * [`gemm`] — the one checked call into sgemm (matrix products in slices);
//! * [`stats`] — t-tests, KS, mean ± std, p-value formatting (match scipy);
//! * [`inference`] — intervals, TOST, Holm, t-test power (match scipy / statsmodels);
//! * [`table`] — tidy tables: named, typed columns;
//! * [`atomic`] — outputs written aside and renamed; only our artifacts replaced;
//! * [`input_file`] — opening inputs (regular files only);
//! * [`provenance`] — what made a result: commit, CPU, SIMD paths, threads;
//! * [`difficulty`] — the one definition of difficulty, ranks, bands,
//!   negative-set expressions and filters, shared by trainer and analyses;
//! * [`store`] — embedding dumps (safetensors, npy/npz, parquet);
//! * [`hierarchy`] — WordNet / ImageNet hierarchies: depth, LCA, paths;
//! * [`data`] — datasets (IDX, CIFAR, image folders, bundled) and augmentations;
//! * [`model`] — ResNet encoders and the MLP head (burn); torchvision names;
//!   weights from PyTorch files;
//! * [`synthetic`] — synthetic dumps with known structure, for tests and demos;
//! * [`train`] — MoCo v2: config, queue and loss, filters, the trainer,
//!   checkpoints, the training log, run locks, probe and kNN;
//! * [`plot`] — the figures (PNG), drawn from plain series;
//! * [`analysis`] — the paper's Section 4 analyses over embeddings, one file
//!   each, listed in `analysis::registry`;
//! * [`report`] — report bundles: CSV, PNG, index.md, manifests;
//! * [`pipeline`] — typed stages: evaluate, embed, analyze;
//! * [`sweep`] — recipes → many runs → the paper's tables and figures;
//! * [`commands`] — one entry function per CLI command.

pub mod analysis;
pub mod atomic;
pub mod claims;
pub mod commands;
pub mod data;
pub mod difficulty;
pub mod gemm;
pub mod hierarchy;
pub mod inference;
pub mod input_file;
pub mod kernels;
pub mod model;
pub mod pipeline;
pub mod plot;
pub mod progress;
pub mod provenance;
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
