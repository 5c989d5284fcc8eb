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

mod common;
use burn::prelude::*;
use negstudy::kernels::compare::max_rel_diff;
use negstudy::model::foreign::{HeadChoice, ReadOptions};
use negstudy::model::torchvision::{export, import, metadata, read_safetensors, NamedTensor};
use negstudy::model::{Arch, Encoder, Head, ModelConfig, Stem};
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

fn compare(weights: &str, outputs: &str) -> (f64, f64) {
    let dev = negstudy::train::trainer::device("cpu").unwrap();
    let weights = read_safetensors(&fixture(weights), |_| true).unwrap();
    let enc = import(&narrow().shape(), &weights, &dev).unwrap();
    let out = read_safetensors(&fixture(outputs), |_| true).unwrap();
    let (h, z) = negstudy_outputs(&enc, &tensor(&out, "x"), &dev);
    (
        max_rel_diff(&h, &tensor(&out, "h").values),
        max_rel_diff(&z, &tensor(&out, "z").values),
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
    let enc = import(&narrow().shape(), &weights, &dev).unwrap();
    let again = export(&enc, &narrow().shape()).unwrap();
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
    let err = import(&narrow().shape(), &weights, &dev)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("missing [\"layer2.0.conv1.weight\"]")
            && err.contains("unexpected [\"layer5.0.conv1.weight\"]"),
        "{err}"
    );
}

#[test]
fn export_writes_weights_that_import_and_replaces_only_its_own_files() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| common::negstudy_in(dir.path(), args);
    common::train_two_steps(dir.path(), "t");
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
    import(&narrow().shape(), &weights, &dev).unwrap();
    // The same encoder as torch.save's format, read back by burn-store's
    // PyTorch reader (an independent reader of that format): every tensor
    // equal, bit for bit, plus PyTorch's num_batches_tracked.
    for _ in 0..2 {
        let o = run(&["export", "--checkpoint", "runs/t", "--out", "w.pth"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let pth = dir.path().join("w.pth");
    let file = negstudy::model::foreign::WeightsFile::open(&pth).unwrap();
    let names = file.names().unwrap();
    assert!(
        names.contains("layer1.0.bn1.num_batches_tracked"),
        "{names:?}"
    );
    let from_pth = file.read(|_| true).unwrap();
    assert_eq!(from_pth, weights);
    let loaded = negstudy::model::foreign::load(&pth, &ReadOptions::default(), &dev).unwrap();
    assert_eq!(loaded.shape, narrow().shape());
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
    std::fs::write(dir.path().join("theirs.pth"), "not ours").unwrap();
    for target in ["theirs.safetensors", "emb.safetensors", "theirs.pth"] {
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

/// h and z (or `z_name`) of an encoder loaded by `model::foreign::load`
/// against PyTorch's; also what was loaded.
fn foreign_errors_with(
    file: &str,
    opts: &ReadOptions,
    outputs: &str,
    z_name: &str,
) -> (f64, f64, negstudy::model::foreign::Loaded) {
    let dev = negstudy::train::trainer::device("cpu").unwrap();
    let loaded = negstudy::model::foreign::load(&fixture(file), opts, &dev).unwrap();
    let out = read_safetensors(&fixture(outputs), |_| true).unwrap();
    let (h, z) = negstudy_outputs(&loaded.encoder, &tensor(&out, "x"), &dev);
    (
        max_rel_diff(&h, &tensor(&out, "h").values),
        max_rel_diff(&z, &tensor(&out, z_name).values),
        loaded,
    )
}

fn foreign_errors(file: &str, momentum: bool, outputs: &str) -> (f64, f64, String) {
    let opts = ReadOptions {
        momentum,
        ..ReadOptions::default()
    };
    let (h, z, loaded) = foreign_errors_with(file, &opts, outputs, "z");
    assert_eq!(
        loaded.shape,
        narrow().shape(),
        "{file}: inferred architecture"
    );
    assert_eq!(loaded.name, "resnet-narrow");
    (h, z, loaded.found.prefix)
}

#[test]
fn a_resnet_negstudy_does_not_train_loads_with_its_inferred_shape() {
    // ImageNet stem, bottleneck [1, 2, 1, 1], 2 groups, a 10-way classifier:
    // every part of the shape comes from the tensors.
    let (h, z, loaded) = foreign_errors_with(
        "torch_bottleneck.safetensors",
        &ReadOptions::default(),
        "torch_bottleneck_outputs.safetensors",
        "z",
    );
    eprintln!("bottleneck, head left out: h {h:.2e}, z {z:.2e}");
    assert!(h < 1e-4 && z < 1e-4, "h {h}, z {z}");
    let shape = &loaded.shape;
    assert_eq!(shape.stem, Stem::Imagenet);
    assert_eq!((shape.stem_kernel, shape.stem_width), (7, 8));
    assert!(shape.bottleneck);
    assert_eq!(shape.blocks_per_stage(), [1, 2, 1, 1]);
    let widths: Vec<(usize, usize, usize)> = shape
        .stages
        .iter()
        .map(|s| (s.width, s.out, s.groups))
        .collect();
    assert_eq!(
        widths,
        [(8, 32, 2), (16, 64, 2), (32, 128, 2), (64, 256, 2)]
    );
    // The classifier is left out by default (z = normalised h) and said so.
    assert_eq!(shape.head, Head::None);
    assert_eq!(loaded.unused_head, ["fc.bias", "fc.weight"]);
    assert_eq!(loaded.name, "ResNet-17");
    // --head fc: z = normalise(fc(h)).
    let fc = ReadOptions {
        head: HeadChoice::Fc,
        ..ReadOptions::default()
    };
    let (h, z, loaded) = foreign_errors_with(
        "torch_bottleneck.safetensors",
        &fc,
        "torch_bottleneck_outputs.safetensors",
        "z_fc",
    );
    eprintln!("bottleneck, --head fc: h {h:.2e}, z {z:.2e}");
    assert!(h < 1e-4 && z < 1e-4, "h {h}, z {z}");
    assert_eq!(loaded.shape.head, Head::Linear { out: 10 });
}

#[test]
fn a_solo_learn_checkpoint_loads_its_headless_backbone() {
    // solo-learn's CIFAR stem is Conv2d(3, w, 3, stride=1, padding=2): the
    // layout says so (the weights cannot), and the outputs agree.
    let (h, z, loaded) = foreign_errors_with(
        "solo_narrow.ckpt",
        &ReadOptions::default(),
        "solo_narrow_outputs.safetensors",
        "z",
    );
    eprintln!("solo-learn .ckpt backbone (stem padding 2): h {h:.2e}, z {z:.2e}");
    assert!(h < 1e-4 && z < 1e-4, "h {h}, z {z}");
    assert_eq!(loaded.found.prefix, "state_dict.backbone.");
    assert!(!loaded.found.momentum);
    assert_eq!(
        (loaded.shape.stem, loaded.shape.stem_padding),
        (Stem::Cifar, 2)
    );
    assert_eq!(loaded.shape.head, Head::None);
    assert_eq!(loaded.shape.in_channels, 3);
    assert!(loaded.shape.describe().contains("padding 2"));
    // The fixture tells the paddings apart: read with torchvision's rule
    // (--stem-padding 1) the same weights give a different network — the
    // silently wrong embedding this rule prevents.
    let one = ReadOptions {
        stem_padding: Some(1),
        ..ReadOptions::default()
    };
    let (h1, _, wrong) = foreign_errors_with(
        "solo_narrow.ckpt",
        &one,
        "solo_narrow_outputs.safetensors",
        "z",
    );
    eprintln!("the same read with stem padding 1: h {h1:.2e}");
    assert_eq!(wrong.shape.stem_padding, 1);
    assert!(h1 > 1e-2, "padding 1 should not match PyTorch: {h1}");
    // Its momentum encoder (`momentum_backbone`), found and labelled so.
    let momentum = ReadOptions {
        momentum: true,
        ..ReadOptions::default()
    };
    let (h, z, key) = foreign_errors_with(
        "solo_narrow.ckpt",
        &momentum,
        "solo_narrow_momentum_outputs.safetensors",
        "z",
    );
    eprintln!("solo-learn .ckpt momentum backbone: h {h:.2e}, z {z:.2e}");
    assert!(h < 1e-4 && z < 1e-4, "h {h}, z {z}");
    assert_eq!(key.found.prefix, "state_dict.momentum_backbone.");
    assert!(key.found.momentum);
    assert_eq!(key.shape.stem_padding, 2);
    // --prefix naming the momentum backbone is the momentum encoder, with
    // the layout's stem rule; naming the query prefix while asking for the
    // momentum encoder is a contradiction, said as such.
    let given = ReadOptions {
        prefix: Some("state_dict.momentum_backbone.".into()),
        ..ReadOptions::default()
    };
    let (h, _, by_prefix) = foreign_errors_with(
        "solo_narrow.ckpt",
        &given,
        "solo_narrow_momentum_outputs.safetensors",
        "z",
    );
    assert!(h < 1e-4, "{h}");
    assert!(by_prefix.found.momentum && by_prefix.found.layout.contains("solo-learn"));
    let dev = negstudy::train::trainer::device("cpu").unwrap();
    let contradiction = ReadOptions {
        prefix: Some("state_dict.backbone.".into()),
        momentum: true,
        ..ReadOptions::default()
    };
    let err = negstudy::model::foreign::load(&fixture("solo_narrow.ckpt"), &contradiction, &dev)
        .unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("query encoder's prefix") && err.contains("state_dict.momentum_backbone."),
        "{err}"
    );
    // The stem can be overridden (its max-pool has no weights): same
    // tensors, a different network, torchvision's padding for it.
    let imagenet = ReadOptions {
        stem: Some(Stem::Imagenet),
        ..ReadOptions::default()
    };
    let other =
        negstudy::model::foreign::load(&fixture("solo_narrow.ckpt"), &imagenet, &dev).unwrap();
    assert_eq!(
        (other.shape.stem, other.shape.stem_padding),
        (Stem::Imagenet, 1)
    );
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
    use negstudy::model::foreign::{infer_shape, select_encoder};
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
    assert_eq!(
        infer_shape(&sel.tensors, None, HeadChoice::Auto).unwrap(),
        narrow().shape()
    );
    // Half an MLP head, or --head fc without any head.
    let half: Vec<NamedTensor> = weights
        .iter()
        .filter(|t| !t.name.starts_with("fc.2"))
        .cloned()
        .collect();
    let err = infer_shape(&half, None, HeadChoice::Auto)
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs both fc.0 and fc.2"), "{err}");
    let headless: Vec<NamedTensor> = weights
        .iter()
        .filter(|t| !t.name.starts_with("fc."))
        .cloned()
        .collect();
    let err = infer_shape(&headless, None, HeadChoice::Fc)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--head fc: the weights have no head"), "{err}");
    // Shapes that contradict each other: a width no group count explains,
    // and a BatchNorm that does not fit its convolution (loading fails,
    // naming the tensor).
    let dev = negstudy::train::trainer::device("cpu").unwrap();
    let mut wider = weights.clone();
    for t in &mut wider {
        if t.name == "layer2.0.conv1.weight" {
            t.shape[0] = 48;
        }
    }
    let err = infer_shape(&wider, None, HeadChoice::Auto)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("does not divide 48 channels into groups"),
        "{err}"
    );
    let mut bad_bn = weights.clone();
    for t in &mut bad_bn {
        if t.name == "layer2.0.bn1.weight" {
            t.shape = vec![31];
            t.values.pop();
        }
    }
    let shape = infer_shape(&bad_bn, None, HeadChoice::Auto).unwrap();
    let err = import(&shape, &bad_bn, &dev).err().unwrap().to_string();
    assert!(
        err.contains("loading the weights") && err.contains("bns.0"),
        "{err}"
    );
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
