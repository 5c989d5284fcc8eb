//! The native CPU kernels (src/kernels/) against burn's generic ops: each
//! op on random shapes, the autodiff glue (outputs and every gradient), the
//! BatchNorm layer's running statistics, and a tiny training run.
//!
//! Tolerances: both sides compute the same products in f32 and add them in
//! a different order (per-image GEMMs, blocked sums, f64 channel sums), so
//! results differ by float rounding: a few ulps of the largest magnitude
//! per sum of a few hundred to a few thousand terms. 1e-5 of the largest
//! magnitude leaves ~10× headroom over the worst difference measured
//! (`negstudy bench kernels` prints them: ≤ 1e-6).

mod common;

use burn::nn::BatchNormConfig;
use burn::prelude::*;
use burn::tensor::activation::relu;
use negstudy::kernels::{self, compare, After};
use std::path::Path;
use std::process::Command;

const TOLERANCE: f64 = 1e-5;

/// Convolutions covering batch 1, stride 2, padding, 1×1, odd sizes, one
/// input channel, outputs above and below 128 pixels (the weight
/// gradient's one image or 8 images a GEMM).
fn shapes() -> Vec<compare::ConvLayer> {
    let l = |batch, i, o, size, k, s, p| compare::ConvLayer::new(batch, i, o, size, [k, s, p]);
    vec![
        l(1, 3, 4, 11, 3, 1, 1),
        l(3, 5, 7, 13, 3, 2, 1),
        l(2, 4, 6, 12, 1, 2, 0),
        l(5, 6, 3, 9, 1, 1, 0),
        l(2, 1, 8, 15, 3, 1, 1),
        l(9, 2, 3, 17, 7, 2, 3),
        l(4, 8, 8, 5, 3, 1, 1),
        l(2, 3, 2, 10, 3, 1, 0),
    ]
}

#[test]
fn each_convolution_op_matches_burns() {
    for (i, layer) in shapes().iter().enumerate() {
        for c in compare::compare_conv(layer, 1, i as u64) {
            assert!(
                c.max_rel_diff <= TOLERANCE,
                "{} {}: max relative difference {:e}",
                c.op,
                c.shape,
                c.max_rel_diff
            );
        }
    }
}

#[test]
fn batch_norm_forward_and_backward_match_burns() {
    for (i, shape) in [[1, 3, 5, 5], [7, 2, 3, 1], [4, 5, 9, 9], [2, 16, 28, 28]]
        .into_iter()
        .enumerate()
    {
        for fused in [false, true] {
            let c = compare::compare_batch_norm(shape, fused, 1, i as u64);
            assert!(
                c.max_rel_diff <= TOLERANCE,
                "{} {}: {:e}",
                c.op,
                c.shape,
                c.max_rel_diff
            );
        }
    }
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

fn random<const D: usize>(shape: [usize; D], seed: usize, dev: &Device) -> Tensor<D> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| (((i + seed * 7) * 7919 + seed) % 211) as f32 / 105.0 - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(v, shape), dev)
}

fn assert_close(a: &[f32], b: &[f32], what: &str) {
    let d = compare::max_rel_diff(a, b);
    assert!(d <= TOLERANCE, "{what}: max relative difference {d:e}");
}

/// `kernels::conv2d` inside an autodiff graph: output, input gradient and
/// weight gradient equal burn's `conv2d` under the same loss.
#[test]
fn the_convolution_differentiates_like_burns() {
    let dev = Device::flex().autodiff();
    for (i, c) in shapes().iter().enumerate() {
        let x0 = random([c.batch, c.in_channels, c.size, c.size], i, &dev);
        let w0 = random(
            [c.out_channels, c.in_channels, c.kernel, c.kernel],
            i + 50,
            &dev,
        );
        let run = |native: bool| {
            let (x, w) = (x0.clone().require_grad(), w0.clone().require_grad());
            let y = if native {
                kernels::conv2d(x.clone(), w.clone(), c.stride, c.padding)
            } else {
                let o =
                    burn::tensor::ops::ConvOptions::new([c.stride; 2], [c.padding; 2], [1, 1], 1);
                burn::tensor::module::conv2d(x.clone(), w.clone(), None, o)
            };
            let r = random(y.dims(), i + 99, &dev);
            let grads = (y.clone() * r).sum().backward();
            (
                values(y),
                values(x.grad(&grads).unwrap()),
                values(w.grad(&grads).unwrap()),
            )
        };
        let (ours, theirs) = (run(true), run(false));
        let what = format!("{c:?}");
        assert_close(&ours.0, &theirs.0, &format!("{what} output"));
        assert_close(&ours.1, &theirs.1, &format!("{what} input gradient"));
        assert_close(&ours.2, &theirs.2, &format!("{what} weight gradient"));
    }
}

/// `kernels::batch_norm_layer` in training mode, alone and with the ReLU
/// and residual sum it fuses: output, the gradients of x, γ, β (and the
/// residual), and the running statistics equal those of
/// `BatchNorm::forward` followed by burn's add and ReLU.
#[test]
fn the_batch_norm_layer_trains_like_burns() {
    for after in ["nothing", "relu", "add-relu"] {
        batch_norm_layer_trains_like_burns(after);
    }
}

fn batch_norm_layer_trains_like_burns(after: &str) {
    let dev = Device::flex().autodiff();
    for (i, shape) in [[3, 4, 6, 5], [1, 2, 3, 1], [8, 3, 7, 7]]
        .into_iter()
        .enumerate()
    {
        let make = || {
            let mut bn = BatchNormConfig::new(shape[1]).init(&dev);
            bn.gamma =
                burn::module::Param::from_tensor(random([shape[1]], i + 3, &dev).add_scalar(1.5));
            bn.beta = burn::module::Param::from_tensor(random([shape[1]], i + 4, &dev));
            bn
        };
        let run = |native: bool| {
            let bn = make();
            let x = random(shape, i, &dev)
                .mul_scalar(3.0)
                .add_scalar(2.0)
                .require_grad();
            let skip = random(shape, i + 7, &dev).require_grad();
            // Two steps, so the second blends into updated statistics.
            let mut last = None;
            for _ in 0..2 {
                let y = match (native, after) {
                    (true, "nothing") => kernels::batch_norm_layer(&bn, x.clone(), After::Nothing),
                    (true, "relu") => kernels::batch_norm_layer(&bn, x.clone(), After::Relu),
                    (true, _) => {
                        kernels::batch_norm_layer(&bn, x.clone(), After::AddRelu(skip.clone()))
                    }
                    (false, "nothing") => bn.forward(x.clone()),
                    (false, "relu") => relu(bn.forward(x.clone())),
                    (false, _) => relu(bn.forward(x.clone()) + skip.clone()),
                };
                let r = random(shape, i + 9, &dev);
                let grads = (y.clone() * r).sum().backward();
                let skip_grad = skip.grad(&grads).map(values);
                assert_eq!(skip_grad.is_some(), after == "add-relu");
                last = Some((
                    values(y),
                    values(x.grad(&grads).unwrap()),
                    values(bn.gamma.val().grad(&grads).unwrap()),
                    values(bn.beta.val().grad(&grads).unwrap()),
                    skip_grad.unwrap_or_default(),
                ));
            }
            let (y, dx, dg, db, ds) = last.unwrap();
            let stats = [
                values(bn.running_mean.value()),
                values(bn.running_var.value()),
            ];
            (y, dx, dg, db, ds, stats)
        };
        let (a, b) = (run(true), run(false));
        if after != "nothing" {
            // The ReLU zeroed part of the output and of the gradients.
            assert!(
                a.0.contains(&0.0) && a.0.iter().any(|&v| v > 0.0),
                "{after}"
            );
        }
        assert_close(&a.0, &b.0, &format!("{after} output"));
        assert_close(&a.1, &b.1, &format!("{after} input gradient"));
        assert_close(&a.2, &b.2, &format!("{after} gamma gradient"));
        assert_close(&a.3, &b.3, &format!("{after} beta gradient"));
        assert_close(&a.4, &b.4, &format!("{after} residual gradient"));
        assert_close(&a.5[0], &b.5[0], &format!("{after} running mean"));
        assert_close(&a.5[1], &b.5[1], &format!("{after} running variance"));
    }
}

fn losses(run: &Path) -> Vec<f64> {
    std::fs::read_to_string(run.join("train_log.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect()
}

/// A tiny run trains the same with the native kernels as with burn's ops
/// (`NEGSTUDY_KERNELS=generic`), to float tolerance: rounding differences
/// grow through SGD; measured on the narrow ResNet (batch 64, K = 256):
/// ≤ 6.6e-4 relative over 16 steps, ≤ 2.9e-4 over the first 8. The resume
/// tests (tests/train.rs) run the native kernels and
/// stay bit-identical.
#[test]
fn a_tiny_run_trains_like_the_generic_ops() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().to_str().unwrap();
    let train = |name: &str, kernels: &str| {
        let mut args = vec!["train", "--runs", runs, "--name", name];
        // TINY_TRAIN with one epoch instead of three.
        let tiny = common::TINY_TRAIN;
        let at = tiny.iter().position(|a| *a == "--epochs").unwrap();
        args.extend_from_slice(&tiny[..at]);
        args.extend(["--epochs", "1"]);
        args.extend_from_slice(&tiny[at + 2..]);
        let o = Command::new(env!("CARGO_BIN_EXE_negstudy"))
            .args(&args)
            .env("NEGSTUDY_KERNELS", kernels)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        losses(&dir.path().join(name))
    };
    let (native, generic) = (train("native", "native"), train("generic", "generic"));
    assert_eq!(native.len(), 8);
    assert_eq!(native.len(), generic.len());
    // Sums in another order round differently: the switch took effect.
    assert_ne!(native, generic, "NEGSTUDY_KERNELS=generic changed nothing");
    for (step, (a, b)) in native.iter().zip(&generic).enumerate() {
        assert!((a - b).abs() <= 1e-3 * b.abs(), "step {step}: {a} vs {b}");
    }
}

#[test]
fn an_unknown_kernels_setting_is_an_error_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.safetensors");
    let o = Command::new(env!("CARGO_BIN_EXE_negstudy"))
        .args([
            "dump",
            "synthetic",
            "--rows",
            "10",
            "--out",
            out.to_str().unwrap(),
        ])
        .env("NEGSTUDY_KERNELS", "fast")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("NEGSTUDY_KERNELS=\"fast\""), "{err}");
    assert!(!out.exists(), "nothing runs under an unknown setting");
}
