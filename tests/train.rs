//! The trainer: MoCo loss against a hand computation, zero gradient for
//! dropped negatives, device selection against `difficulty.rs`, refill,
//! exact resume on CPU, and the train → linear-eval → embed → analyze path.

use burn::prelude::*;
use burn::tensor::TensorData;
use negstudy::difficulty::NegativeSet;
use negstudy::rng::{seeded, Rng};
use negstudy::train::loss::{self, Objective};
use negstudy::train::moco::{self, Filter, Queue};
use negstudy::train::select;
use rand::Rng as _;
use std::path::Path;
use std::process::Command;

mod common;
use common::{log_column, negstudy, train_tiny, TINY_TRAIN};

fn t2(v: Vec<f32>, shape: [usize; 2], d: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v, shape), d)
}

fn vec2(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

fn bools(t: Tensor<2, Bool>) -> Vec<bool> {
    t.into_data().try_into_vec::<bool>().unwrap()
}

fn labels(v: Vec<i64>, d: &Device) -> Tensor<1, Int> {
    let n = v.len();
    Tensor::from_data(TensorData::new(v, [n]), d)
}

#[test]
fn loss_matches_a_hand_computation() {
    // q = (1,0), k⁺ = (0.6,0.8), queue = (1,0), (0,1), (−1,0); T = 0.5.
    // logits = [0.6, 1, 0, −1] / 0.5 = [1.2, 2, 0, −2];
    // loss = −log(e^1.2 / (e^1.2 + e^2 + e^0 + e^−2)).
    let d = Device::flex();
    let queue = Queue::from_parts(
        vec![1., 0., 0., 1., -1., 0.],
        vec![0, 1, 2],
        vec![-1; 3],
        3,
        0,
        2,
        &d,
    );
    let q = t2(vec![1.0, 0.0], [1, 2], &d);
    let k = t2(vec![0.6, 0.8], [1, 2], &d);
    let l = moco::logits(q, k, &queue, &Filter::None, &labels(vec![0], &d), 0.5).unwrap();
    let got = vec2(l.logits.clone());
    for (g, w) in got.iter().zip([1.2f32, 2.0, 0.0, -2.0]) {
        assert!((g - w).abs() < 1e-6, "{got:?}");
    }
    let want = -(1.2f64.exp() / (1.2f64.exp() + 2f64.exp() + 1.0 + (-2f64).exp())).ln();
    let loss = loss::loss(Objective::InfoNce, l.logits, l.used, 0.5).into_scalar::<f32>() as f64;
    assert!((loss - want).abs() < 1e-6, "{loss} vs {want}");
    // Dropping the hardest negative (1,0) for this query removes e^2 from the sum.
    let drop = Filter::Drop(NegativeSet::parse("band(66.67,100)").unwrap());
    let q = t2(vec![1.0, 0.0], [1, 2], &d);
    let k = t2(vec![0.6, 0.8], [1, 2], &d);
    let l = moco::logits(q, k, &queue, &drop, &labels(vec![0], &d), 0.5).unwrap();
    let want = -(1.2f64.exp() / (1.2f64.exp() + 1.0 + (-2f64).exp())).ln();
    let loss = loss::loss(Objective::InfoNce, l.logits, l.used, 0.5).into_scalar::<f32>() as f64;
    assert!((loss - want).abs() < 1e-6, "{loss} vs {want}");
}

/// Under every loss: a dropped negative's gradient is exactly zero, a used
/// one's is not.
#[test]
fn dropped_negatives_get_exactly_zero_gradient() {
    for objective in [
        Objective::InfoNce,
        Objective::Dcl { tau_plus: 0.1 },
        Objective::Hcl {
            tau_plus: 0.1,
            beta: 1.0,
        },
    ] {
        dropped_negatives_get_zero_gradient_under(objective);
    }
}

fn dropped_negatives_get_zero_gradient_under(objective: Objective) {
    let d = Device::flex().autodiff();
    let mut rng = seeded(3);
    let (n, k) = (6, 40);
    let s: Vec<f32> = (0..n * k)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    let scores = t2(s, [n, k], &d).require_grad();
    let pos = t2(vec![0.5; n], [n, 1], &d);
    let queue = Queue::new(k, 0, 4, 0, &d);
    let filter = Filter::Drop(NegativeSet::parse("band(90,100) | band(0,10)").unwrap());
    let used = moco::used_mask(
        &scores.clone().detach(),
        &queue,
        &filter,
        &labels(vec![0; n], &d),
    )
    .unwrap();
    let loss = loss::loss(
        objective,
        moco::masked_logits(pos, scores.clone(), used.clone(), 0.2),
        used.clone(),
        0.2,
    );
    let grads = loss.backward();
    let g: Vec<f32> = scores
        .grad(&grads)
        .unwrap()
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap();
    let used = bools(used.inner());
    assert_eq!(
        used.iter().filter(|&&u| !u).count(),
        n * 8,
        "4 + 4 of 40 dropped per query"
    );
    for (i, (&gi, &u)) in g.iter().zip(&used).enumerate() {
        if u {
            assert!(gi != 0.0, "{objective:?}: used entry {i} has zero gradient");
        } else {
            assert_eq!(
                gi.to_bits(),
                0f32.to_bits(),
                "{objective:?}: dropped entry {i} has gradient {gi}"
            );
        }
    }
}

/// Scores on a coarse grid (many ties) with labels.
fn random_scores(rng: &mut Rng, n: usize, m: usize) -> (Vec<f32>, Vec<i64>, Vec<i64>) {
    let s = (0..n * m)
        .map(|_| (rng.random_range(0..33) as f32 - 16.0) / 16.0)
        .collect();
    let neg = (0..m).map(|_| rng.random_range(0..5) as i64).collect();
    let q = (0..n).map(|_| rng.random_range(0..5) as i64).collect();
    (s, neg, q)
}

/// `difficulty::Selector` row by row, sequentially: the definition the
/// trainer's two selection paths must reproduce.
fn reference_selection(
    expr: &NegativeSet,
    s: &[f32],
    m: usize,
    neg: &[i64],
    q: &[i64],
) -> Vec<bool> {
    let selector = negstudy::difficulty::Selector::new(expr.clone());
    s.chunks(m)
        .zip(q)
        .flat_map(|(row, &query)| {
            selector
                .select(row, Some(neg), Some(query), &mut Vec::new())
                .unwrap()
        })
        .collect()
}

#[test]
fn device_selection_equals_difficulty_rs() {
    let d = Device::flex();
    let mut rng = seeded(11);
    let exprs = [
        "band(95,100)",
        "band(0,95)",
        "band(99.9,100)",
        "band(85,90) | band(95,100)",
        "same_class",
        "band(99.9,100) & same_class",
        "band(99.9,100) & !same_class",
        "band(0,99.9) & same_class",
        "!(band(10,20) | same_class) & band(5,50)",
    ];
    for (n, m) in [(7, 200), (3, 1000), (16, 64), (2, 3)] {
        let (s, neg, q) = random_scores(&mut rng, n, m);
        let scores = t2(s.clone(), [n, m], &d);
        let (query_labels, negative_labels) = (labels(q.clone(), &d), labels(neg.clone(), &d));
        let same = Some((&query_labels, &negative_labels));
        for e in exprs {
            let expr = NegativeSet::parse(e).unwrap();
            let host_sel = reference_selection(&expr, &s, m, &neg, &q);
            let bisection = bools(select::select_bisection(&expr, &scores, same).unwrap());
            assert_eq!(bisection, host_sel, "bisection: {e} on {n}×{m}");
            let rows = bools(select::select_rows(&expr, &scores, same).unwrap());
            assert_eq!(rows, host_sel, "row-wise: {e} on {n}×{m}");
            let chosen = bools(select::select(&expr, &scores, same).unwrap());
            assert_eq!(
                chosen, host_sel,
                "select (CPU picks row-wise): {e} on {n}×{m}"
            );
        }
        // The value at a rank (telemetry percentiles): both paths, against a sort.
        for k in [0, m / 2, m - 1] {
            let by_rows = vec2(select::value_at_rank(&scores, k).unwrap());
            let by_bisection = vec2(select::value_at_rank_bisection(&scores, k).unwrap());
            let sorted: Vec<f32> = s
                .chunks(m)
                .map(|row| {
                    let mut r = row.to_vec();
                    r.sort_by(f32::total_cmp);
                    r[k]
                })
                .collect();
            assert_eq!(by_rows, sorted, "rank {k} on {n}×{m}");
            assert_eq!(by_bisection, sorted, "rank {k} on {n}×{m}");
        }
    }
    assert!(select::on_host(&d), "Flex tensors live in host memory");
}

#[test]
fn refill_keeps_exactly_k_negatives_per_query() {
    let d = Device::flex();
    let mut rng = seeded(5);
    let (n, k) = (9, 20);
    for extra in [20usize, 5] {
        let queue = Queue::new(k, extra, 4, 1, &d);
        let s: Vec<f32> = (0..n * (k + extra)).map(|_| rng.random::<f32>()).collect();
        let scores = t2(s, [n, k + extra], &d);
        for (expr, dropped) in [
            ("band(50,100)", 10usize),
            ("band(0,100)", 20),
            ("band(97,100)", 1),
        ] {
            let f = Filter::Drop(NegativeSet::parse(expr).unwrap());
            let used =
                bools(moco::used_mask(&scores, &queue, &f, &labels(vec![0; n], &d)).unwrap());
            for row in used.chunks(k + extra) {
                let in_k = row[..k].iter().filter(|&&u| u).count();
                let refilled = row[k..].iter().filter(|&&u| u).count();
                assert_eq!(in_k, k - dropped, "{expr}");
                assert_eq!(refilled, dropped.min(extra), "{expr}, E = {extra}");
                assert!(
                    row[k..k + refilled].iter().all(|&u| u),
                    "the newest extra keys are used first"
                );
                if extra >= dropped {
                    assert_eq!(in_k + refilled, k, "{expr}: exactly K negatives");
                }
            }
        }
    }
}

/// The (epoch, step, loss) columns of a train log.
fn losses(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("train_log.csv"))
        .unwrap()
        .lines()
        .map(|l| l.split(',').take(3).collect::<Vec<_>>().join(","))
        .collect()
}

/// Bands with shared edges partition the negatives, so keeping `band(0,95)`
/// selects exactly the negatives that dropping `band(95,100)` leaves: the
/// two runs must train identically (same seed, CPU, deterministic), while
/// the unfiltered run differs (the filter is not ignored). This is why the
/// Figure 2 recipe's "all except 95-100" and "only 0-95" are one training.
#[test]
fn keeping_a_band_trains_like_dropping_its_complement() {
    let dir = tempfile::tempdir().unwrap();
    let train = |name: &str, filter: &[&str]| losses(&train_tiny(dir.path(), name, filter));
    let keep = train("keep", &["--keep", "band(0,95)"]);
    let drop = train("drop", &["--drop", "band(95,100)"]);
    let all = train("all", &[]);
    assert_eq!(keep.len(), 1 + 3 * 8);
    assert_eq!(keep, drop, "keep band(0,95) = drop band(95,100)");
    assert_ne!(keep, all, "dropping 4 of 64 negatives changes the losses");
}

/// A schedule whose end is its start trains bit-identically to the static
/// band; a moving one (Ring-like: keep the hardest 80 %, then only the
/// 80–90 % band) changes how many negatives each query uses, epoch by
/// epoch, as the edges say: 64 · 0.8 = 51.2 → 52 − 0 ranks … 64 · 0.1.
#[test]
fn a_constant_schedule_is_the_static_band_and_a_moving_one_moves() {
    let dir = tempfile::tempdir().unwrap();
    let train = |name: &str, extra: &[&str]| train_tiny(dir.path(), name, extra);
    let fixed = train("fixed", &["--keep", "band(20,100)"]);
    let constant = train(
        "constant",
        &[
            "--keep",
            "band(20,100)",
            "--schedule-to",
            "band(20,100)",
            "--schedule-shape",
            "cosine",
        ],
    );
    assert_eq!(losses(&fixed), losses(&constant), "a constant schedule");
    let ring = train(
        "ring",
        &["--keep", "band(20,100)", "--schedule-to", "band(80,90)"],
    );
    let used = log_column(&ring, "used_per_query");
    assert_eq!(used.len(), 3 * 8);
    // Epoch 0: band(20,100) of 64 → ranks 12..64 (52); epoch 1 (halfway):
    // band(50,95) → 32..60 (28); epoch 2: band(80,90) → 51..57 (6).
    for (epoch, want) in [52.0, 28.0, 6.0].into_iter().enumerate() {
        for &u in &used[epoch * 8..(epoch + 1) * 8] {
            assert_eq!(u, want, "epoch {epoch}: {used:?}");
        }
    }
    let config = std::fs::read_to_string(ring.join("config.toml")).unwrap();
    assert!(config.contains("schedule_to = \"band(80,90)\""), "{config}");
}

/// Own-image hits and key ages on a constructed queue: slots hold images
/// 5, 7, 5 and an initial key, enqueued at steps 9, 9, 8 and never.
#[test]
fn hygiene_counts_own_images_and_key_ages() {
    let d = Device::flex();
    let mut queue = Queue::new(4, 1, 2, 0, &d);
    queue.host_images = vec![5, 7, 5, -1, 3];
    queue.enqueued_at = vec![9, 9, 8, -1, 7];
    let (hits, mean, max) = moco::hygiene(
        &queue,
        moco::StepImages {
            images: &[5, 3, -1],
            step: 10,
        },
    );
    // Image 5 twice among the K = 4 newest, 3 only in the refill slot,
    // the unknown −1 never: 2 hits over 3 queries; ages 1, 1, 2.
    assert_eq!(hits, 2.0 / 3.0);
    assert_eq!((mean, max), (4.0 / 3.0, 2.0));
}

/// The queue's telemetry in a real run against a simulation of the queue
/// from the epochs' image orders (`epoch_order`, the trainer's own): per
/// step, how many earlier keys of each query's image the K newest hold,
/// and their ages. A queue of 512 ≥ 2 × the 256 images holds every image's
/// key from the epoch before: exactly one hit per query all through epoch 1
/// and none in epoch 0; a queue of 64 only sometimes.
#[test]
fn queue_hygiene_matches_a_simulated_queue() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().to_str().unwrap();
    for k in [64usize, 512] {
        let name = format!("k{k}");
        let ks = k.to_string();
        let mut tiny = TINY_TRAIN.to_vec();
        let at = tiny.iter().position(|a| *a == "--queue-size").unwrap();
        tiny[at + 1] = &ks;
        negstudy(&[&["train", "--runs", runs, "--name", &name], &tiny[..]].concat());
        let run = dir.path().join(&name);
        let (hits, mean, max) = (
            log_column(&run, "own_image_hits"),
            log_column(&run, "key_age_mean"),
            log_column(&run, "key_age_max"),
        );
        let (batch, steps) = (32usize, 8usize);
        let mut slots: Vec<(i64, i64)> = vec![(-1, -1); k]; // (image, step enqueued)
        let mut row = 0;
        for epoch in 0..3 {
            let order = negstudy::data::augment::epoch_order(256, 0, epoch);
            for s in 0..steps {
                let step = (epoch * steps + s) as i64;
                let images = &order[s * batch..(s + 1) * batch];
                let want_hits = images
                    .iter()
                    .map(|&i| slots.iter().filter(|&&(im, _)| im == i as i64).count())
                    .sum::<usize>() as f64
                    / batch as f64;
                let ages: Vec<f64> = slots
                    .iter()
                    .filter(|&&(_, at)| at >= 0)
                    .map(|&(_, at)| (step - at) as f64)
                    .collect();
                assert_eq!(hits[row], want_hits, "K {k}, step {step}");
                if ages.is_empty() {
                    assert!(
                        mean[row].is_nan() && max[row].is_nan(),
                        "K {k}, step {step}"
                    );
                } else {
                    let want_mean = ages.iter().sum::<f64>() / ages.len() as f64;
                    assert_eq!(mean[row], want_mean, "K {k}, step {step}");
                    assert_eq!(max[row], ages.iter().cloned().fold(0.0, f64::max));
                }
                if k == 512 {
                    let known = if epoch == 0 {
                        0.0
                    } else if epoch == 1 {
                        1.0
                    } else {
                        hits[row]
                    };
                    assert_eq!(hits[row], known, "K 512, step {step}");
                }
                let mut next: Vec<(i64, i64)> = images.iter().map(|&i| (i as i64, step)).collect();
                next.extend_from_slice(&slots[..k - batch]);
                slots = next;
                row += 1;
            }
        }
        if k == 64 {
            assert!(hits.contains(&0.0), "a small queue mostly misses");
        }
    }
}

/// A consistency-aware queue evicts, of the oldest B + retain slots, the
/// B least often hard (ties: the older), and keeps the rest in order with
/// everything they carry; with equal frequencies it is FIFO.
#[test]
fn consistency_aware_queue_keeps_the_consistently_hard() {
    let d = Device::flex();
    // K = 6 slots of 1-d keys 0..6 (newest first), B = 2, window 2 + 2.
    let make = |retain: usize| {
        let mut q = Queue::from_parts(
            (0..6).map(|v| v as f32).collect(),
            (10..16).collect(),
            (0..6).map(|s| 100 - s).collect(),
            6,
            0,
            1,
            &d,
        );
        q.host_images = (20..26).collect();
        q.retain = retain;
        q
    };
    let keys = |q: &Queue| vec2(q.keys.clone());
    let new = || t2(vec![-1.0, -2.0], [2, 1], &d);
    // Hard frequencies of slots 2..6 (the window): 0.5, 0.0, 0.9, 0.1.
    let mut q = make(2);
    q.seen_count = vec![10; 6];
    q.hard_count = vec![3, 3, 5, 0, 9, 1];
    q.enqueue(new(), &[7, 8], &[30, 31], 101);
    assert_eq!(keys(&q), vec![-1.0, -2.0, 0.0, 1.0, 2.0, 4.0]);
    assert_eq!(q.host_labels, vec![7, 8, 10, 11, 12, 14]);
    assert_eq!(q.host_images, vec![30, 31, 20, 21, 22, 24]);
    assert_eq!(q.enqueued_at, vec![101, 101, 100, 99, 98, 96]);
    assert_eq!(q.hard_count, vec![0, 0, 3, 3, 5, 9]);
    assert_eq!(q.seen_count, vec![0, 0, 10, 10, 10, 10]);
    assert_eq!(
        vec2(q.labels.clone().float().reshape([1, 6])),
        vec![7.0, 8.0, 10.0, 11.0, 12.0, 14.0]
    );
    // Equal frequencies, and retain 0: both FIFO.
    let mut fifo = make(0);
    fifo.enqueue(new(), &[7, 8], &[30, 31], 101);
    let mut equal = make(2);
    equal.enqueue(new(), &[7, 8], &[30, 31], 101);
    for q in [&fifo, &equal] {
        assert_eq!(keys(q), vec![-1.0, -2.0, 0.0, 1.0, 2.0, 3.0]);
        assert_eq!(q.host_images, vec![30, 31, 20, 21, 22, 23]);
    }
}

/// The online hard frequency counts, per key, the queries that rank it in
/// their hardest 5 %: of 40 keys, each query's 2 highest scores.
#[test]
fn record_hardness_counts_each_querys_hardest_five_percent() {
    let d = Device::flex();
    let mut q = Queue::new(40, 0, 4, 0, &d);
    // Query 0 ranks keys 39 and 38 hardest, query 1 keys 38 and 0.
    let mut s = vec![0.0f32; 80];
    for j in 0..40 {
        s[j] = j as f32 / 100.0;
        s[40 + j] = -(j as f32) / 100.0;
    }
    s[40 + 38] = 0.9;
    q.record_hardness(&t2(s, [2, 40], &d)).unwrap();
    let mut want = vec![0u64; 40];
    want[39] = 1;
    want[38] = 2;
    want[0] = 1;
    assert_eq!(q.hard_count, want);
    assert_eq!(q.seen_count, vec![2; 40]);
    assert_eq!(q.hard_frequency(38), 1.0);
}

/// Off by default, and then exactly MoCo's FIFO: a run without the option
/// and one with `--queue-retain 0` log the same; retaining keeps keys
/// longer (an older oldest key) and changes training.
#[test]
fn the_consistency_aware_queue_is_off_by_default_and_changes_training_when_on() {
    let dir = tempfile::tempdir().unwrap();
    let train = |name: &str, extra: &[&str]| train_tiny(dir.path(), name, extra);
    let default = train("default", &[]);
    let zero = train("zero", &["--queue-retain", "0"]);
    let on = train("on", &["--queue-retain", "32"]);
    assert_eq!(losses(&default), losses(&zero));
    assert_ne!(losses(&default), losses(&on));
    let oldest = |run: &Path| {
        log_column(run, "key_age_max")
            .into_iter()
            .fold(0.0, f64::max)
    };
    // FIFO with K = 64, B = 32: every key is 1 or 2 steps old.
    assert_eq!(oldest(&default), 2.0);
    assert!(oldest(&on) > 2.0, "{}", oldest(&on));
    let config = std::fs::read_to_string(on.join("config.toml")).unwrap();
    assert!(config.contains("queue_retain = 32"), "{config}");
}

/// A run with a consistency-aware queue and a moving schedule, stopped
/// after its first epoch and resumed, logs what the uninterrupted run logs
/// (every column but the throughput): the keys' hard counts travel in the
/// checkpoint, the schedule's edges follow the epoch.
#[test]
fn a_resumed_run_keeps_its_queues_hard_counts_and_its_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--queue-retain",
        "32",
        "--keep",
        "band(20,100)",
        "--schedule-to",
        "band(80,90)",
    ];
    let whole = train_tiny(dir.path(), "whole", &flags);
    train_tiny(
        dir.path(),
        "part",
        &[&flags[..], &["--stop-after", "1"]].concat(),
    );
    let part = train_tiny(dir.path(), "part", &[&flags[..], &["--resume"]].concat());
    let log = |run: &Path| -> Vec<String> {
        std::fs::read_to_string(run.join("train_log.csv"))
            .unwrap()
            .lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect()
    };
    assert_eq!(log(&whole).len(), 1 + 3 * 8);
    assert_eq!(log(&whole), log(&part));
}

/// What is bit-identical on one machine and build: the same run twice, and
/// the same run on one thread and on two (the thread pool splits work, not
/// the order of any sum). docs/reproducibility.md says what is not.
#[test]
fn a_run_is_bit_identical_when_repeated_and_across_thread_counts() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().to_str().unwrap();
    let train = |name: &str, threads: &str| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_negstudy"))
            .args([&["train", "--runs", runs, "--name", name], &TINY_TRAIN[..]].concat())
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let log = std::fs::read_to_string(dir.path().join(name).join("train_log.csv")).unwrap();
        // Every column but the throughput.
        log.lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect::<Vec<_>>()
    };
    let one = train("one", "1");
    assert_eq!(one.len(), 1 + 3 * 8);
    assert_eq!(one, train("again", "1"), "the same run twice");
    assert_eq!(one, train("two", "2"), "one thread and two");
}

#[test]
fn resumed_run_reproduces_uninterrupted_losses_then_evaluates_and_embeds() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().to_str().unwrap();
    let filter = "band(99,100) & same_class";
    let mut base: Vec<&str> = vec!["train", "--runs", runs];
    base.extend_from_slice(&TINY_TRAIN);
    base.extend(["--drop", filter]);
    let mut whole = base.clone();
    whole.extend(["--name", "whole"]);
    negstudy(&whole);
    let mut part = base.clone();
    part.extend(["--name", "part"]);
    negstudy(&[&part[..], &["--stop-after", "2"]].concat());
    assert_eq!(
        losses(&dir.path().join("part")).len(),
        1 + 2 * 8,
        "header + 8 steps of epochs 1 and 2"
    );
    let trained_seconds = |epoch: &str| -> f64 {
        let p = dir
            .path()
            .join(format!("part/checkpoint-{epoch}/state.json"));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        v["train_seconds"].as_f64().unwrap()
    };
    let after_two = trained_seconds("0002");
    assert!(after_two > 0.0);
    part.push("--resume");
    negstudy(&part);
    // The resumed session adds its time to the first session's (a session
    // that trains one epoch alone would record less than the first's two).
    assert!(trained_seconds("0003") > after_two);
    let (a, b) = (
        losses(&dir.path().join("whole")),
        losses(&dir.path().join("part")),
    );
    assert_eq!(a.len(), 1 + 3 * 8);
    assert_eq!(
        a, b,
        "losses of the resumed run equal the uninterrupted run's"
    );
    // A learning signal: the last epoch's mean loss is below the first
    // epoch's once the queue holds real keys (K = 64 = 2 steps of 32; the very
    // first steps are easy because the initial queue is random).
    let epoch_mean = |e: &str, skip: usize| -> f64 {
        let v: Vec<f64> = a[1..]
            .iter()
            .filter(|r| r.starts_with(e))
            .skip(skip)
            .map(|r| r.split(',').nth(2).unwrap().parse().unwrap())
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let (first, last) = (epoch_mean("0,", 2), epoch_mean("2,", 0));
    assert!(last < first, "mean loss {first} → {last}");
    // Resuming a finished run again changes nothing; a different config is refused.
    negstudy(&part);
    let o = Command::new(env!("CARGO_BIN_EXE_negstudy"))
        .args([&part[..], &["--temperature", "0.5"]].concat())
        .output()
        .unwrap();
    assert!(
        !o.status.success()
            && String::from_utf8_lossy(&o.stderr).contains("different configuration")
    );

    // linear-eval with baselines writes eval.json next to the checkpoints.
    let run = dir.path().join("whole");
    let out = negstudy(&[
        "linear-eval",
        "--checkpoint",
        run.to_str().unwrap(),
        "--baselines",
        "--probe-epochs",
        "5",
    ]);
    let e: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in ["top1", "top5", "knn_top1"] {
        let v = e[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
        assert!(e["baselines"]["raw_pixels"][key].as_f64().is_some());
        assert!(e["baselines"]["random_init"][key].as_f64().is_some());
    }
    assert!(e["top5"].as_f64() >= e["top1"].as_f64());
    assert_eq!(e["test_images"], 2000);
    assert!(run.join("eval.json").exists());

    // embed → a dump the analyses read, with Fashion-MNIST wnids.
    let dump = dir.path().join("emb.safetensors");
    negstudy(&[
        "embed",
        "--checkpoint",
        run.to_str().unwrap(),
        "--encoder",
        "momentum",
        "--out",
        dump.to_str().unwrap(),
    ]);
    let info = negstudy(&["dump", "info", dump.to_str().unwrap()]);
    assert!(
        info.contains("rows (N)    2000")
            && info.contains("z dim (d)   128")
            && info.contains("h dim (D)   128"),
        "{info}"
    );
    assert!(
        info.contains("encoder     momentum") && info.contains("wnids       present"),
        "{info}"
    );
    let report = dir.path().join("report");
    negstudy(&[
        "analyze",
        "all",
        "--embeddings",
        dump.to_str().unwrap(),
        "--n-queries",
        "500",
        "--n-negatives",
        "500",
        "--out",
        report.to_str().unwrap(),
    ]);
    assert!(report.join("index.md").exists());
}

/// A checkpoint whose files disagree — a hand-edited `state.json`, a queue
/// of another size — is rejected on `--resume` with the reason, not trained
/// from silently.
#[test]
fn inconsistent_checkpoints_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().to_str().unwrap();
    let mut args: Vec<&str> = vec!["train", "--runs", runs, "--name", "r"];
    args.extend_from_slice(&TINY_TRAIN);
    negstudy(&[&args[..], &["--stop-after", "1"]].concat());
    let ck = dir.path().join("r/checkpoint-0001");
    let resume = || {
        let o = Command::new(env!("CARGO_BIN_EXE_negstudy"))
            .args([&args[..], &["--resume"]].concat())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1));
        String::from_utf8(o.stderr).unwrap()
    };
    let state = std::fs::read_to_string(ck.join("state.json")).unwrap();
    std::fs::write(
        ck.join("state.json"),
        state.replace("\"epoch\": 1", "\"epoch\": 7"),
    )
    .unwrap();
    let err = resume();
    assert!(
        err.contains("inconsistent checkpoint") && err.contains("epoch 7 of 3"),
        "{err}"
    );
    std::fs::write(ck.join("state.json"), &state).unwrap();
    // The queue of another run (K = 32 instead of 64).
    let other = dir.path().join("other");
    let mut small: Vec<&str> = vec!["train", "--runs", runs, "--name", "other"];
    small.extend(TINY_TRAIN.iter().map(|&a| if a == "64" { "32" } else { a }));
    small.extend(["--stop-after", "1"]);
    negstudy(&small);
    std::fs::copy(
        other.join("checkpoint-0001/queue.safetensors"),
        ck.join("queue.safetensors"),
    )
    .unwrap();
    let err = resume();
    assert!(
        err.contains("the queue holds 32 negatives but config.toml says queue_size = 64"),
        "{err}"
    );
}

/// Each telemetry band's same-class share and softmax mass against an f64
/// computation from a sort: the share pools the band's negatives over the
/// queries, the mass is each query's Σ_band e^{s/T} / Σ_K e^{s/T}, averaged.
/// Scores reach ±1/0.07 in the exponent, where an unshifted f32 exp overflows.
#[test]
fn telemetry_bands_match_a_sorted_reference() {
    let d = Device::flex();
    let mut rng = seeded(11);
    let (n, k, temperature) = (5, 2000, 0.07);
    let mut queue = Queue::new(k, 0, 4, 1, &d);
    let queue_labels: Vec<i64> = (0..k).map(|_| rng.random_range(0..10)).collect();
    queue.labels = labels(queue_labels.clone(), &d);
    queue.host_labels = queue_labels.clone();
    let query_labels: Vec<i64> = (0..n).map(|_| rng.random_range(0..10)).collect();
    let s: Vec<f32> = (0..n * k)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    let l = moco::Logits {
        logits: t2(vec![0.0; n * (k + 1)], [n, k + 1], &d),
        negatives: t2(s.clone(), [n, k], &d),
        used: t2(vec![1.0; n * k], [n, k], &d).equal_elem(1.0),
    };
    let images = vec![-1i64; n];
    let at = moco::StepImages {
        images: &images,
        step: 0,
    };
    let t = moco::telemetry(
        &l,
        &queue,
        &labels(query_labels.clone(), &d),
        at,
        temperature,
    )
    .unwrap();
    for (got, &(lo, hi)) in t.bands.iter().zip(&moco::TELEMETRY_BANDS) {
        let (first, last) = (
            (lo / 100.0 * k as f64).floor() as usize,
            (hi / 100.0 * k as f64).floor() as usize,
        );
        let (mut same, mut total, mut mass) = (0usize, 0usize, 0.0f64);
        for (i, row) in s.chunks(k).enumerate() {
            let mut order: Vec<usize> = (0..k).collect();
            order.sort_by(|&a, &b| row[a].total_cmp(&row[b]));
            let weight = |j: usize| (row[j] as f64 / temperature).exp();
            let all: f64 = (0..k).map(weight).sum();
            let band = &order[first..last];
            same += band
                .iter()
                .filter(|&&j| queue_labels[j] == query_labels[i])
                .count();
            total += band.len();
            mass += band.iter().map(|&j| weight(j)).sum::<f64>() / all / n as f64;
        }
        let want_same = same as f64 / total as f64;
        assert!(
            (got.same_class - want_same).abs() < 1e-12,
            "{lo}-{hi}: same-class {} vs {want_same}",
            got.same_class
        );
        assert!(
            (got.softmax_mass - mass).abs() < 1e-5,
            "{lo}-{hi}: mass {} vs {mass}",
            got.softmax_mass
        );
    }
    // The disjoint bands' masses add up to the whole.
    let whole: f64 = t.bands[..4].iter().map(|b| b.softmax_mass).sum();
    assert!((whole - 1.0).abs() < 1e-5, "masses sum to {whole}");
    assert_eq!(t.bands[3].same_class, t.hard_same_class);
}
