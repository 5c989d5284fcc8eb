//! The state a run carries from step to step and into its checkpoints.

use super::config::TrainConfig;
use super::moco::Queue;
use crate::model::Encoder;
use burn::optim::ModuleOptimizer;

/// Everything a step needs besides the batch.
pub struct State {
    pub config: TrainConfig,
    pub query: Encoder,
    pub key: Encoder,
    pub optim: ModuleOptimizer,
    pub queue: Queue,
    /// Epochs completed.
    pub epoch: usize,
    /// Steps completed.
    pub step: usize,
    /// Wall seconds of training up to the last completed epoch, summed over
    /// sessions (an interrupted epoch is redone, and counted once).
    pub train_seconds: f64,
}
