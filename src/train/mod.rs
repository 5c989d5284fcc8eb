//! MoCo v2 pretraining with per-query negative filters (burn), checkpoints,
//! and evaluation (docs/DESIGN.md §2, §7).

pub mod checkpoint;
pub mod config;
pub mod eval;
pub mod key_thread;
pub mod log;
pub mod loss;
pub mod moco;
pub mod options;
pub mod run_lock;
pub mod select;
pub mod state;
pub mod trainer;
