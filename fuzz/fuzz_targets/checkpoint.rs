//! A checkpoint folder: `config.toml`, `state.json` and `queue.safetensors`
//! from the input (three parts), beside valid encoder files from a real
//! one-epoch run made once per process. Loading either succeeds with a
//! consistent checkpoint or fails with an error.
#![no_main]
mod common;
use libfuzzer_sys::fuzz_target;
use negstudy::train::{checkpoint, config::TrainConfig, trainer};
use std::path::PathBuf;
use std::sync::OnceLock;

fn tiny() -> TrainConfig {
    TrainConfig {
        name: "fuzz".into(),
        train_limit: Some(64),
        batch_size: 32,
        queue_size: 64,
        epochs: 1,
        shuffle_bn_splits: 2,
        ..TrainConfig::default()
    }
}

/// A real checkpoint folder to take the encoders from.
fn reference() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let runs = std::env::temp_dir().join(format!("negstudy-fuzz-ref-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&runs);
        trainer::train(tiny(), &runs.join("fuzz"), false, true, None).unwrap();
        checkpoint::latest(&runs.join("fuzz")).unwrap().unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let reference = reference();
    let p = common::parts(data, 3);
    let dir = common::scratch().join("checkpoint-0001");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["encoder_q.bpk", "encoder_k.bpk", "optimizer.bpk"] {
        std::fs::copy(reference.join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("config.toml"), p[0]).unwrap();
    std::fs::write(dir.join("state.json"), p[1]).unwrap();
    std::fs::write(dir.join("queue.safetensors"), p[2]).unwrap();
    let device = trainer::device("cpu").unwrap();
    let model = tiny().model(1);
    if let Ok(ck) = checkpoint::Checkpoint::load(&dir, &model, &device) {
        assert_eq!(ck.queue.size, ck.config.queue_size);
    }
});
