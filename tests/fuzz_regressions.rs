//! Every input with which fuzzing (`fuzz/`) made a loader crash, kept as a
//! regression: `tests/data/fuzz/<target>/` holds one file per distinct
//! crash site, and each must now be rejected with an error, not a panic.
//! CI runs these, not the fuzzer.

use negstudy::store::{Dump, LoadOptions};
use std::path::{Path, PathBuf};

fn cases(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no regression inputs", dir.display());
    files
}

/// polars' parquet reader panicked on these (thrift fields out of range,
/// list lengths that disagree with their values, slice and bitmap bounds,
/// `unreachable!`; some only with debug assertions, as the fuzzer builds);
/// the dump loader must turn each into one error that names the file. The
/// `oom-131bfac…` file declares a data page of 2⁶⁴ − 8 values, for which
/// polars requested 2⁶¹ bytes and the process aborted: now refused before
/// polars reads it. The two other `oom-*` files have footers whose list
/// lengths made polars' metadata decoder ask for 67 and 136 GB: their
/// footer is now decoded first in a child process, which dies instead.
#[test]
fn parquet_reader_panics_become_errors() {
    let dir = tempfile::tempdir().unwrap();
    for case in cases("dump_parquet") {
        let path = dir.path().join("dump.parquet");
        std::fs::copy(&case, &path).unwrap();
        let err = Dump::load(&path, LoadOptions { normalize: true })
            .expect_err(&format!("{} loaded", case.display()));
        let msg = format!("{err:#}");
        assert!(
            msg.contains("dump.parquet") && msg.contains("parquet"),
            "{}: {msg}",
            case.display()
        );
    }
}

/// An `.npy` header whose dtype starts with a multi-byte character: the
/// loader split the descriptor at byte 1, inside the character, and panicked.
#[test]
fn npy_dtype_with_a_multibyte_character_is_an_error() {
    for case in cases("dump_npy") {
        let z = case.join("z.npy");
        let err = Dump::load(&z, LoadOptions { normalize: true })
            .expect_err(&format!("{} loaded", case.display()));
        assert!(
            format!("{err:#}").contains("unsupported dtype descriptor"),
            "{}: {err:#}",
            case.display()
        );
    }
}

/// A checkpoint whose queue labels lie outside the backend's integer type
/// (2⁵⁸ + 2, and a large negative value): burn aborted converting them to a
/// device tensor. Each folder holds the fuzzer's `config.toml`, `state.json`
/// and `queue.safetensors`; loading must fail naming the queue file.
#[test]
fn checkpoint_queue_labels_out_of_range_are_an_error() {
    use negstudy::train::{checkpoint::Checkpoint, config::TrainConfig, trainer};
    let device = trainer::device("cpu").unwrap();
    let model = TrainConfig {
        queue_size: 64,
        ..TrainConfig::default()
    }
    .model(1);
    let dir = tempfile::tempdir().unwrap();
    for case in cases("checkpoint") {
        let ck = dir.path().join("checkpoint-0001");
        std::fs::create_dir_all(&ck).unwrap();
        for f in ["config.toml", "state.json", "queue.safetensors"] {
            std::fs::copy(case.join(f), ck.join(f)).unwrap();
        }
        let err = match Checkpoint::load(&ck, &model, &device) {
            Ok(_) => panic!("{} loaded", case.display()),
            Err(e) => format!("{e:#}"),
        };
        assert!(
            err.contains("queue.safetensors") && err.contains("is not a class index"),
            "{}: {err}",
            case.display()
        );
    }
}
