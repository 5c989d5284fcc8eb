//! negstudy's encoders against PyTorch, without PyTorch: fixtures written
//! by `tests/data/make_torch_fixtures.py` (torchvision's ResNet classes,
//! narrowed to negstudy's `resnet-narrow`) hold weights and PyTorch's
//! eval-mode outputs on fixed inputs.
//!
//! Tolerance: negstudy's and PyTorch's convolutions sum in different orders
//! in f32, so outputs agree to rounding, not bit for bit; every element must
//! lie within 1e-4 of PyTorch's, relative to the largest magnitude of that
//! output (h or z). Names and values moved between the two formats must agree
//! exactly.

use burn::prelude::*;
use negstudy::model::torchvision::{export, import, metadata, read_safetensors, NamedTensor};
use negstudy::model::{Arch, Encoder, ModelConfig};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/torch")
        .join(name)
}

fn narrow() -> ModelConfig {
    ModelConfig {
        arch: Arch::ResnetNarrow,
        in_channels: 1,
        embed_dim: 128,
    }
}

fn tensor(ts: &[NamedTensor], name: &str) -> NamedTensor {
    ts.iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("fixture has no '{name}'"))
        .clone()
}

/// negstudy's h and z for the fixture's inputs x, in eval mode (BatchNorm
/// running statistics), as the `embed` command computes them.
fn negstudy_outputs(enc: &Encoder, x: &NamedTensor, dev: &Device) -> (Vec<f32>, Vec<f32>) {
    let s = &x.shape;
    let input = negstudy::train::trainer::images(x.values.clone(), s[0], s[1], s[2], s[3], dev);
    let h = enc.features(input);
    let z = negstudy::model::l2_normalize(enc.head(h.clone()));
    let v = |t: Tensor<2>| {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    };
    (v(h), v(z))
}

/// Largest |ours − theirs| relative to the largest |theirs|.
fn rel_error(ours: &[f32], theirs: &[f32]) -> f64 {
    assert_eq!(ours.len(), theirs.len());
    let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
    let err = ours
        .iter()
        .zip(theirs)
        .fold(0f64, |m, (a, b)| m.max((a - b).abs() as f64));
    err / scale
}

fn compare(weights: &str, outputs: &str) -> (f64, f64) {
    let dev = negstudy::train::trainer::device("cpu").unwrap();
    let weights = read_safetensors(&fixture(weights), |_| true).unwrap();
    let enc = import(&narrow(), &weights, &dev).unwrap();
    let out = read_safetensors(&fixture(outputs), |_| true).unwrap();
    let (h, z) = negstudy_outputs(&enc, &tensor(&out, "x"), &dev);
    (
        rel_error(&h, &tensor(&out, "h").values),
        rel_error(&z, &tensor(&out, "z").values),
    )
}

#[test]
fn an_exported_encoder_computes_in_pytorch_what_it_computes_here() {
    // negstudy_export.safetensors came from `negstudy export`; PyTorch loaded
    // it with strict=True (every name and shape matched) and ran it.
    let (h, z) = compare(
        "negstudy_export.safetensors",
        "negstudy_export_torch.safetensors",
    );
    eprintln!("negstudy → PyTorch: max relative error h {h:.2e}, z {z:.2e}");
    assert!(h < 1e-4 && z < 1e-4, "h {h}, z {z}");
}

#[test]
fn weights_made_in_pytorch_compute_here_what_they_compute_there() {
    let (h, z) = compare(
        "torch_narrow.safetensors",
        "torch_narrow_outputs.safetensors",
    );
    eprintln!("PyTorch → negstudy: max relative error h {h:.2e}, z {z:.2e}");
    assert!(h < 1e-4 && z < 1e-4, "h {h}, z {z}");
}

#[test]
fn importing_then_exporting_gives_back_the_same_tensors() {
    let dev = negstudy::train::trainer::device("cpu").unwrap();
    let weights = read_safetensors(&fixture("torch_narrow.safetensors"), |_| true).unwrap();
    let enc = import(&narrow(), &weights, &dev).unwrap();
    let again = export(&enc, &narrow()).unwrap();
    // The file also holds PyTorch's num_batches_tracked (integers, which
    // read_safetensors skips); every float tensor must come back unchanged.
    assert_eq!(again.len(), weights.len());
    for (a, b) in again.iter().zip(&weights) {
        assert_eq!(a.name, b.name);
        assert_eq!(a.shape, b.shape, "{}", a.name);
        assert!(
            a.values
                .iter()
                .zip(&b.values)
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "{} changed",
            a.name
        );
    }
}

#[test]
fn weights_of_another_shape_are_refused_with_what_did_not_fit() {
    let dev = negstudy::train::trainer::device("cpu").unwrap();
    let mut weights = read_safetensors(&fixture("torch_narrow.safetensors"), |_| true).unwrap();
    weights.retain(|t| t.name != "layer2.0.conv1.weight");
    weights.push(NamedTensor {
        name: "layer5.0.conv1.weight".into(),
        shape: vec![1],
        values: vec![0.0],
    });
    let err = import(&narrow(), &weights, &dev).err().unwrap().to_string();
    assert!(
        err.contains("missing [\"layer2.0.conv1.weight\"]")
            && err.contains("unexpected [\"layer5.0.conv1.weight\"]"),
        "{err}"
    );
}

#[test]
fn export_writes_weights_that_import_and_replaces_only_its_own_files() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_negstudy"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let o = run(&[
        "train",
        "--name",
        "t",
        "--arch",
        "resnet-narrow",
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--queue-size",
        "128",
        "--train-limit",
        "128",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for _ in 0..2 {
        // The second run replaces the first's file: negstudy made it.
        let o = run(&["export", "--checkpoint", "runs/t", "--out", "w.safetensors"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let weights = read_safetensors(&dir.path().join("w.safetensors"), |_| true).unwrap();
    let meta = metadata(&dir.path().join("w.safetensors")).unwrap();
    assert_eq!(meta["arch"], "resnet-narrow");
    assert_eq!(meta["stem"], "cifar");
    let dev = negstudy::train::trainer::device("cpu").unwrap();
    import(&narrow(), &weights, &dev).unwrap();
    // A file negstudy did not write, and a dump negstudy did write, are
    // both left alone.
    std::fs::write(dir.path().join("theirs.safetensors"), "not ours").unwrap();
    let o = run(&[
        "embed",
        "--checkpoint",
        "runs/t",
        "--out",
        "emb.safetensors",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for target in ["theirs.safetensors", "emb.safetensors"] {
        let before = std::fs::read(dir.path().join(target)).unwrap();
        let o = run(&["export", "--checkpoint", "runs/t", "--out", target]);
        assert!(!o.status.success(), "{target} was replaced");
        assert!(
            String::from_utf8_lossy(&o.stderr)
                .contains("is not encoder weights written by negstudy export"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(std::fs::read(dir.path().join(target)).unwrap(), before);
    }
}

/// h and z of an encoder loaded by `model::foreign::load` against PyTorch's.
fn foreign_errors(file: &str, momentum: bool, outputs: &str) -> (f64, f64, String) {
    let dev = negstudy::train::trainer::device("cpu").unwrap();
    let loaded = negstudy::model::foreign::load(&fixture(file), None, momentum, &dev).unwrap();
    assert_eq!(loaded.model, narrow(), "{file}: inferred architecture");
    let out = read_safetensors(&fixture(outputs), |_| true).unwrap();
    let (h, z) = negstudy_outputs(&loaded.encoder, &tensor(&out, "x"), &dev);
    (
        rel_error(&h, &tensor(&out, "h").values),
        rel_error(&z, &tensor(&out, "z").values),
        loaded.prefix,
    )
}

#[test]
fn pytorch_checkpoints_in_their_usual_layouts_load_and_agree() {
    // torch.save(model.state_dict()): torchvision's layout, no prefix.
    let (h, z, prefix) = foreign_errors(
        "torch_narrow.pth",
        false,
        "torch_narrow_outputs.safetensors",
    );
    eprintln!("torchvision .pth: h {h:.2e}, z {z:.2e}");
    assert!(
        h < 1e-4 && z < 1e-4 && prefix.is_empty(),
        "h {h}, z {z}, '{prefix}'"
    );
    // The official MoCo v2 layout: the query encoder by default, the key
    // encoder with `momentum`; the queue, the optimizer state and the other
    // encoder are not part of it.
    let (h, z, prefix) = foreign_errors(
        "moco_narrow.pth.tar",
        false,
        "torch_narrow_outputs.safetensors",
    );
    eprintln!("MoCo .pth.tar, query encoder: h {h:.2e}, z {z:.2e}");
    assert!(h < 1e-4 && z < 1e-4, "h {h}, z {z}");
    assert_eq!(prefix, "state_dict.module.encoder_q.");
    let (h, z, prefix) = foreign_errors(
        "moco_narrow.pth.tar",
        true,
        "moco_narrow_key_outputs.safetensors",
    );
    eprintln!("MoCo .pth.tar, key encoder: h {h:.2e}, z {z:.2e}");
    assert!(h < 1e-4 && z < 1e-4, "h {h}, z {z}");
    assert_eq!(prefix, "state_dict.module.encoder_k.");
}

#[test]
fn foreign_files_that_do_not_fit_say_why() {
    use negstudy::model::foreign::{infer_model, select_encoder};
    let weights = read_safetensors(&fixture("torch_narrow.safetensors"), |_| true).unwrap();
    // No encoder under any known prefix: the error shows the keys it saw.
    let renamed: Vec<NamedTensor> = weights
        .iter()
        .map(|t| NamedTensor {
            name: format!("net.{}", t.name),
            ..t.clone()
        })
        .collect();
    let err = select_encoder(renamed.clone(), None, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no ResNet encoder found") && err.contains("net.bn1.bias"),
        "{err}"
    );
    // ... and --prefix finds it.
    let sel = select_encoder(renamed, Some("net."), false).unwrap();
    assert_eq!(infer_model(&sel.tensors).unwrap(), narrow());
    // A headless backbone (solo-learn keeps its projector apart).
    let headless: Vec<NamedTensor> = weights
        .iter()
        .filter(|t| !t.name.starts_with("fc."))
        .cloned()
        .collect();
    let err = infer_model(&headless).unwrap_err().to_string();
    assert!(err.contains("no MoCo v2 MLP head"), "{err}");
    // A ResNet of a shape negstudy does not build: the error describes it.
    let mut wider = weights.clone();
    for t in &mut wider {
        if t.name == "layer2.0.conv1.weight" {
            t.shape[0] = 48;
        }
    }
    let err = infer_model(&wider).unwrap_err().to_string();
    assert!(err.contains("widths [16, 48, 64, 128]"), "{err}");
    // The momentum encoder of a file that has none.
    let err = select_encoder(weights, None, true).unwrap_err().to_string();
    assert!(err.contains("no momentum encoder"), "{err}");
}

#[test]
fn embed_reads_a_moco_checkpoint_file_and_records_where_the_encoder_was() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("k.safetensors");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_negstudy"))
        .args(["embed", "--checkpoint"])
        .arg(fixture("moco_narrow.pth.tar"))
        .args([
            "--encoder",
            "momentum",
            "--data",
            "bundled:fashion-mnist-test",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d = negstudy::store::Dump::load(&out, Default::default()).unwrap();
    assert_eq!(d.len(), 2000);
    assert_eq!(d.meta.encoder.as_deref(), Some("momentum"));
    let source = d.meta.source.unwrap();
    assert!(
        source.contains("MoCo v1/v2 official")
            && source.contains("'state_dict.module.encoder_k.'")
            && source.contains("resnet-narrow"),
        "{source}"
    );
    // The bundled split's wnids travel with the dump, so `analyze wordnet` works.
    assert!(d.meta.wnids.is_some());
}
