//! The bad-input table: every case runs the real binary on a hostile or
//! broken input and must end with exit status 1 (2 for a flag clap rejects) and one clear error (never
//! a panic, an abort, a hang, or a success), and the error must be exactly
//! the one `docs/BAD_INPUTS.md` shows for it. The document is generated from
//! these cases: after changing a message on purpose, regenerate it with
//! `NEGSTUDY_BLESS=1 cargo test --release --test bad_input` and review the diff.

use negstudy::store::{Dump, DumpMeta, Matrix};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Case {
    /// What is wrong, in words.
    what: &'static str,
    /// Creates the case's input files in the (empty) working folder.
    setup: fn(&Path),
    /// Arguments to `negstudy`, run in that folder.
    args: &'static [&'static str],
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(p, bytes).unwrap();
}

/// A valid 4-row dump with two classes, optionally altered.
fn dump(alter: impl FnOnce(&mut Dump)) -> Dump {
    let mut d = Dump {
        z: Matrix::new(4, 2, vec![1., 0., 0., 1., -1., 0., 0., -1.]).unwrap(),
        h: None,
        label: vec![0, 1, 0, 1],
        index: None,
        meta: DumpMeta {
            classes: vec!["a".into(), "b".into()],
            ..DumpMeta::default()
        },
    };
    alter(&mut d);
    d
}

fn save(dir: &Path, name: &str, d: Dump) {
    d.save(&dir.join(name)).unwrap();
}

fn valid_dump(dir: &Path) {
    save(dir, "emb.safetensors", dump(|_| {}));
}

fn recipe(dir: &Path, name: &str, body: &str) {
    write(dir, name, body);
}

const RECIPE_HEAD: &str = "[sweep]\nname = \"t\"\nseeds = [0]\n[train]\nepochs = 1\n";

fn mkfifo(dir: &Path, name: &str) {
    let ok = Command::new("mkfifo")
        .arg(dir.join(name))
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo");
}

fn nested(depth: usize) -> String {
    format!("{}all{}", "(".repeat(depth), ")".repeat(depth))
}

const CASES: &[Case] = &[
    // ---- embedding dumps ----
    Case {
        what: "dump file does not exist",
        setup: |_| {},
        args: &["dump", "info", "missing.safetensors"],
    },
    Case {
        what: "unknown dump extension",
        setup: |d| write(d, "emb.txt", "1 2 3"),
        args: &["dump", "info", "emb.txt"],
    },
    Case {
        what: "truncated safetensors file",
        setup: |d| {
            valid_dump(d);
            let b = std::fs::read(d.join("emb.safetensors")).unwrap();
            write(d, "cut.safetensors", &b[..b.len() / 2]);
        },
        args: &["dump", "info", "cut.safetensors"],
    },
    Case {
        what: "safetensors file that is not safetensors",
        setup: |d| write(d, "x.safetensors", "hello world, not a header"),
        args: &["dump", "info", "x.safetensors"],
    },
    Case {
        what: "NaN in z",
        setup: |d| save(d, "nan.safetensors", dump(|x| x.z.data_mut()[3] = f32::NAN)),
        args: &["dump", "info", "nan.safetensors"],
    },
    Case {
        what: "row of z not unit-norm",
        setup: |d| save(d, "norm.safetensors", dump(|x| x.z.data_mut()[0] = 2.0)),
        args: &["dump", "info", "norm.safetensors"],
    },
    Case {
        what: "label outside the class list",
        setup: |d| save(d, "lab.safetensors", dump(|x| x.label[2] = 5)),
        args: &["dump", "info", "lab.safetensors"],
    },
    Case {
        what: "negative label",
        setup: |d| save(d, "neg.safetensors", dump(|x| x.label[1] = -3)),
        args: &["dump", "info", "neg.safetensors"],
    },
    Case {
        what: "label and z lengths differ",
        setup: |d| {
            save(
                d,
                "len.safetensors",
                dump(|x| {
                    x.label.pop();
                }),
            )
        },
        args: &["dump", "info", "len.safetensors"],
    },
    Case {
        what: "label near 2^40 and no class list (would allocate terabytes)",
        setup: |d| {
            save(
                d,
                "huge.safetensors",
                dump(|x| {
                    x.meta.classes.clear();
                    x.label[0] = 1 << 40;
                }),
            )
        },
        args: &["dump", "info", "huge.safetensors"],
    },
    Case {
        what: "wnid count differs from class count",
        setup: |d| {
            save(
                d,
                "wn.safetensors",
                dump(|x| x.meta.wnids = Some(vec!["n03595614".into()])),
            )
        },
        args: &["dump", "info", "wn.safetensors"],
    },
    Case {
        what: ".npz that is not a zip archive",
        setup: |d| write(d, "bad.npz", "PK not really"),
        args: &["dump", "info", "bad.npz"],
    },
    Case {
        what: ".npy without label.npy beside it",
        setup: |d| {
            save(d, "v.npz", dump(|_| {}));
            let f = std::fs::File::open(d.join("v.npz")).unwrap();
            let mut zip = zip::ZipArchive::new(f).unwrap();
            let mut z = Vec::new();
            std::io::copy(&mut zip.by_name("z.npy").unwrap(), &mut z).unwrap();
            write(d, "npy/z.npy", z);
        },
        args: &["dump", "info", "npy/z.npy"],
    },
    Case {
        what: ".parquet that is not parquet",
        setup: |d| write(d, "bad.parquet", "PAR1 nope PAR1"),
        args: &["dump", "info", "bad.parquet"],
    },
    Case {
        what: "parquet data page claiming 2^64 values (polars would abort allocating them)",
        setup: |d| {
            let src = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/fuzz/dump_parquet/oom-131bfac389ad3df43163a75a1272df8102c8d5e2");
            std::fs::copy(src, d.join("oom.parquet")).unwrap();
        },
        args: &["dump", "info", "oom.parquet"],
    },
    Case {
        what: "parquet label ≥ 2^63 stored as u64",
        setup: |d| {
            use polars::prelude::*;
            let z = Series::new("z".into(), [1.0f32, 0.0, 0.0, 1.0])
                .reshape_array(&[ReshapeDimension::Infer, ReshapeDimension::new_dimension(2)])
                .unwrap();
            let mut df = DataFrame::new_infer_height(vec![
                z.into(),
                Column::new("label".into(), [1u64 << 63, 0]),
            ])
            .unwrap();
            let f = std::fs::File::create(d.join("u64.parquet")).unwrap();
            ParquetWriter::new(f).finish(&mut df).unwrap();
        },
        args: &["dump", "info", "u64.parquet"],
    },
    Case {
        what: "a FIFO instead of a file (would hang)",
        setup: |d| mkfifo(d, "pipe.safetensors"),
        args: &["dump", "info", "pipe.safetensors"],
    },
    Case {
        what: "a FIFO as --checkpoint (a run folder was expected)",
        setup: |d| mkfifo(d, "run"),
        args: &["linear-eval", "--checkpoint", "run"],
    },
    Case {
        what: "a device as --checkpoint",
        setup: |_| {},
        args: &[
            "embed",
            "--checkpoint",
            "/dev/zero",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "a symbolic link loop as --checkpoint",
        setup: |d| std::os::unix::fs::symlink("run", d.join("run")).unwrap(),
        args: &["linear-eval", "--checkpoint", "run"],
    },
    Case {
        what: "a folder instead of a file",
        setup: |d| std::fs::create_dir(d.join("dir.safetensors")).unwrap(),
        args: &["dump", "info", "dir.safetensors"],
    },
    Case {
        what: "analyze: more queries than rows",
        setup: valid_dump,
        args: &[
            "analyze",
            "all",
            "--embeddings",
            "emb.safetensors",
            "--n-queries",
            "3",
            "--n-negatives",
            "3",
            "--out",
            "r",
        ],
    },
    Case {
        what: "analyze wordnet on a dump without wnids",
        setup: valid_dump,
        args: &[
            "analyze",
            "wordnet",
            "--embeddings",
            "emb.safetensors",
            "--out",
            "r",
        ],
    },
    Case {
        what: "analyze: --hard-percent 100",
        setup: valid_dump,
        args: &[
            "analyze",
            "all",
            "--embeddings",
            "emb.safetensors",
            "--hard-percent",
            "100",
            "--out",
            "r",
        ],
    },
    Case {
        what: "synthetic dump of 10¹¹ rows (would allocate terabytes)",
        setup: |_| {},
        args: &[
            "dump",
            "synthetic",
            "--rows",
            "100000000000",
            "--out",
            "s.safetensors",
        ],
    },
    Case {
        what: "linear probe with 0 epochs",
        setup: |_| {},
        args: &["linear-eval", "--checkpoint", "ck", "--probe-epochs", "0"],
    },
    // ---- hierarchy ----
    Case {
        what: "malformed hierarchy XML",
        setup: |d| {
            write(
                d,
                "h.xml",
                "<ImageNetStructure><synset wnid=\"n00001740\"></ImageNetStructure>",
            )
        },
        args: &["hierarchy", "info", "--hierarchy", "h.xml"],
    },
    Case {
        what: "unknown wnid",
        setup: |_| {},
        args: &["hierarchy", "info", "n99999999"],
    },
    Case {
        what: "WordNet folder without data.noun",
        setup: |d| std::fs::create_dir(d.join("wn")).unwrap(),
        args: &["hierarchy", "info", "--wordnet", "wn"],
    },
    Case {
        what: "truncated WordNet data.noun (offsets do not match)",
        setup: |d| {
            write(d, "wn/data.noun", "00001740 03 n 01 entity 0 000 | that which exists\n00001930 03 n 01 thing 0 001 @ 00001740 n 0000 | x\n")
        },
        args: &["hierarchy", "info", "--wordnet", "wn"],
    },
    Case {
        what: "pairs file with an unknown wnid",
        setup: |d| write(d, "pairs.txt", "n03595614 n99999999\n"),
        args: &["hierarchy", "lca", "--pairs", "pairs.txt"],
    },
    Case {
        what: "pairs file line with one wnid",
        setup: |d| write(d, "pairs.txt", "n03595614\n"),
        args: &["hierarchy", "lca", "--pairs", "pairs.txt"],
    },
    Case {
        what: "hierarchy build --out onto an existing folder",
        setup: |d| {
            write(d, "h.xml/keep.txt", "mine");
            write(d, "w.txt", "n03595614\n");
        },
        args: &[
            "hierarchy",
            "build",
            "--wordnet",
            "/usr/share/wordnet",
            "--wnids",
            "w.txt",
            "--out",
            "h.xml",
        ],
    },
    // ---- training configuration and recipes ----
    Case {
        what: "config file is not TOML",
        setup: |d| write(d, "c.toml", "[train\nepochs = "),
        args: &["train", "--config", "c.toml"],
    },
    Case {
        what: "unknown training field",
        setup: |d| write(d, "c.toml", "[train]\nepoch = 3\n"),
        args: &["train", "--config", "c.toml"],
    },
    Case {
        what: "log_every = 0 (was a division by zero)",
        setup: |_| {},
        args: &["train", "--log-every", "0"],
    },
    Case {
        what: "queue smaller than a batch (was a burn panic)",
        setup: |_| {},
        args: &["train", "--queue-size", "64", "--batch-size", "128"],
    },
    Case {
        what: "embed_dim = 0 (was an index panic in burn)",
        setup: |d| write(d, "c.toml", "[train]\nembed_dim = 0\n"),
        args: &["train", "--config", "c.toml"],
    },
    Case {
        what: "temperature = 0",
        setup: |_| {},
        args: &["train", "--temperature", "0"],
    },
    Case {
        what: "negative learning rate",
        setup: |_| {},
        args: &["train", "--lr=-0.1"],
    },
    Case {
        what: "NaN learning rate in a config",
        setup: |d| write(d, "c.toml", "[train]\nlr = nan\n"),
        args: &["train", "--config", "c.toml"],
    },
    Case {
        what: "warm-up as long as training",
        setup: |_| {},
        args: &["train", "--epochs", "2", "--warmup-epochs", "2"],
    },
    Case {
        what: "keep '!all' leaves no negatives",
        setup: |_| {},
        args: &["train", "--keep", "!all"],
    },
    Case {
        what: "drop 'all' leaves no negatives",
        setup: |_| {},
        args: &["train", "--drop", "band(0,100)"],
    },
    Case {
        what: "misspelt filter name",
        setup: |_| {},
        args: &["train", "--drop", "band(95,100) & !same_clas"],
    },
    Case {
        what: "filter nested 10 000 deep (was a stack overflow)",
        setup: |d| {
            write(
                d,
                "c.toml",
                format!("[train]\nkeep = \"{}\"\n", nested(10_000)),
            )
        },
        args: &["train", "--config", "c.toml"],
    },
    Case {
        what: "filter with 20 000 '!' (was a stack overflow)",
        setup: |d| {
            write(
                d,
                "c.toml",
                format!("[train]\nkeep = \"{}all\"\n", "!".repeat(20_000)),
            )
        },
        args: &["train", "--config", "c.toml"],
    },
    Case {
        what: "random dataset of 40 TB",
        setup: |_| {},
        args: &["train", "--data", "random:1x100000x100000"],
    },
    Case {
        what: "unknown dataset spec",
        setup: |_| {},
        args: &["train", "--data", "imagenet:/nowhere"],
    },
    Case {
        what: "sweep recipe named '..'",
        setup: |d| {
            recipe(
                d,
                "r.toml",
                "[sweep]\nname = \"..\"\n[[condition]]\nlabel = \"a\"\n",
            )
        },
        args: &["sweep", "r.toml", "--list"],
    },
    Case {
        what: "sweep labels that slug to the same run id",
        setup: |d| {
            recipe(d, "r.toml", &format!("{RECIPE_HEAD}[[condition]]\nlabel = \"drop 5%\"\n[[condition]]\nlabel = \"drop 5 %\"\n"))
        },
        args: &["sweep", "r.toml", "--list"],
    },
    Case {
        what: "sweep with a duplicate condition label",
        setup: |d| {
            recipe(
                d,
                "r.toml",
                &format!(
                    "{RECIPE_HEAD}[[condition]]\nlabel = \"a\"\n[[condition]]\nlabel = \"a\"\n"
                ),
            )
        },
        args: &["sweep", "r.toml", "--list"],
    },
    Case {
        what: "sweep with a duplicate seed (fake replicates)",
        setup: |d| {
            recipe(
                d,
                "r.toml",
                "[sweep]\nname = \"t\"\nseeds = [0, 1, 0]\n[[condition]]\nlabel = \"a\"\n",
            )
        },
        args: &["sweep", "r.toml", "--list"],
    },
    Case {
        what: "sweep axis listing one value twice",
        setup: |d| {
            recipe(d, "r.toml", &format!("{RECIPE_HEAD}[axes]\ntemperature = [0.1, 0.10]\n[[condition]]\nlabel = \"a\"\n"))
        },
        args: &["sweep", "r.toml", "--list"],
    },
    Case {
        what: "sweep --report-name with a path",
        setup: |d| {
            recipe(
                d,
                "r.toml",
                &format!("{RECIPE_HEAD}[[condition]]\nlabel = \"a\"\n"),
            )
        },
        args: &["sweep", "r.toml", "--report-name", "../x"],
    },
    // ---- output paths ----
    Case {
        what: "analyze --out . (would delete the working folder)",
        setup: valid_dump,
        args: &[
            "analyze",
            "all",
            "--embeddings",
            "emb.safetensors",
            "--out",
            ".",
        ],
    },
    Case {
        what: "analyze --out onto an unrelated folder",
        setup: |d| {
            valid_dump(d);
            write(d, "notes/a.txt", "mine");
        },
        args: &[
            "analyze",
            "all",
            "--embeddings",
            "emb.safetensors",
            "--out",
            "notes",
        ],
    },
    Case {
        what: "a dump named '..safetensors' (default output reports/.)",
        setup: |d| save(d, "..safetensors", dump(|_| {})),
        args: &["analyze", "all", "--embeddings", "..safetensors"],
    },
    Case {
        what: "dump convert onto an existing folder",
        setup: |d| {
            valid_dump(d);
            write(d, "out.npz/keep.txt", "mine");
        },
        args: &["dump", "convert", "emb.safetensors", "out.npz"],
    },
    Case {
        what: "dump convert onto a file negstudy did not write",
        setup: |d| {
            valid_dump(d);
            write(d, "theirs.npz", "someone else's file");
        },
        args: &["dump", "convert", "emb.safetensors", "theirs.npz"],
    },
    Case {
        what: "train --name escaping runs/",
        setup: |_| {},
        args: &["train", "--name", "../../x"],
    },
    Case {
        what: "train --name absolute path",
        setup: |_| {},
        args: &["train", "--name", "/tmp/x"],
    },
    Case {
        what: "train --name empty",
        setup: |_| {},
        args: &["train", "--name", ""],
    },
    Case {
        what: "train into a folder negstudy did not make",
        setup: |d| write(d, "runs/mine/notes.txt", "keep"),
        args: &["train", "--name", "mine", "--epochs", "1"],
    },
    Case {
        what: "linear-eval on a folder that is not a checkpoint",
        setup: |d| write(d, "ck/notes.txt", "mine"),
        args: &["linear-eval", "--checkpoint", "ck"],
    },
    Case {
        what: "embed a PyTorch checkpoint without --data",
        setup: |d| copy_torch_fixture(d, "moco_narrow.pth.tar"),
        args: &[
            "embed",
            "--checkpoint",
            "moco_narrow.pth.tar",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "embed a PyTorch checkpoint on images with other channels",
        setup: |d| copy_torch_fixture(d, "moco_narrow.pth.tar"),
        args: &[
            "embed",
            "--checkpoint",
            "moco_narrow.pth.tar",
            "--data",
            "random:3x28x28:8",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "embed a PyTorch checkpoint's momentum encoder where it has none",
        setup: |d| copy_torch_fixture(d, "torch_narrow.pth"),
        args: &[
            "embed",
            "--checkpoint",
            "torch_narrow.pth",
            "--encoder",
            "momentum",
            "--data",
            "random:1x28x28:8",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "embed a file that is not a PyTorch checkpoint",
        setup: |d| write(d, "w.pth", "not a pickle"),
        args: &[
            "embed",
            "--checkpoint",
            "w.pth",
            "--data",
            "random:1x28x28:8",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "embed with --mean of the wrong length",
        setup: |d| copy_torch_fixture(d, "torch_narrow.pth"),
        args: &[
            "embed",
            "--checkpoint",
            "torch_narrow.pth",
            "--data",
            "random:1x28x28:8",
            "--mean",
            "0.5,0.5",
            "--std",
            "0.2,0.2",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "export from a folder that is not a checkpoint",
        setup: |d| write(d, "ck/notes.txt", "mine"),
        args: &["export", "--checkpoint", "ck", "--out", "w.safetensors"],
    },
    Case {
        what: "train on an image folder laid out DIR/<class>/<image>",
        setup: |d| png(d, "imgs/n01440764/a.png", 8, 8),
        args: &[
            "train",
            "--name",
            "t",
            "--data",
            "folder:imgs",
            "--epochs",
            "1",
        ],
    },
    Case {
        what: "embed an image folder holding a corrupt PNG",
        setup: |d| {
            copy_torch_fixture(d, "torch_bottleneck.safetensors");
            png(d, "imgs/n01440764/a.png", 300, 200);
            write(d, "imgs/n01440764/b.png", b"\x89PNG\r\n\x1a\nbroken");
        },
        args: &[
            "embed",
            "--checkpoint",
            "torch_bottleneck.safetensors",
            "--data",
            "folder:imgs",
            "--quiet",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "embed an image folder of mixed sizes at native size",
        setup: |d| {
            copy_torch_fixture(d, "solo_narrow.ckpt");
            png(d, "imgs/cat/a.png", 32, 32);
            png(d, "imgs/dog/b.png", 40, 32);
        },
        args: &[
            "embed",
            "--checkpoint",
            "solo_narrow.ckpt",
            "--data",
            "folder:imgs",
            "--quiet",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "embed an image folder with an extreme aspect ratio",
        setup: |d| {
            copy_torch_fixture(d, "torch_bottleneck.safetensors");
            png(d, "imgs/n01440764/a.png", 60000, 1);
        },
        args: &[
            "embed",
            "--checkpoint",
            "torch_bottleneck.safetensors",
            "--data",
            "folder:imgs",
            "--quiet",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "embed an image folder without images",
        setup: |d| {
            copy_torch_fixture(d, "torch_bottleneck.safetensors");
            write(d, "imgs/n01440764/notes.txt", "no images");
        },
        args: &[
            "embed",
            "--checkpoint",
            "torch_bottleneck.safetensors",
            "--data",
            "folder:imgs",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "embed with --crop 0",
        setup: |d| {
            copy_torch_fixture(d, "torch_bottleneck.safetensors");
            png(d, "imgs/n01440764/a.png", 8, 8);
        },
        args: &[
            "embed",
            "--checkpoint",
            "torch_bottleneck.safetensors",
            "--data",
            "folder:imgs",
            "--crop",
            "0",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "embed an image folder with a grey model and no --mean/--std",
        setup: |d| {
            copy_torch_fixture(d, "torch_narrow.pth");
            png(d, "imgs/a/a.png", 28, 28);
        },
        args: &[
            "embed",
            "--checkpoint",
            "torch_narrow.pth",
            "--data",
            "folder:imgs",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "embed --head fc with a file that has no head",
        setup: |d| copy_torch_fixture(d, "solo_narrow.ckpt"),
        args: &[
            "embed",
            "--checkpoint",
            "solo_narrow.ckpt",
            "--head",
            "fc",
            "--data",
            "random:3x32x32:8",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "export to an unknown format",
        setup: |d| write(d, "ck/notes.txt", "mine"),
        args: &["export", "--checkpoint", "ck", "--out", "w.bin"],
    },
    // ---- PyTorch files that declare more than they hold (trust, round 2) ----
    Case {
        what: "embed a .pth whose weight is a stride-0 view declaring 151 MB in a kilobyte",
        setup: |d| copy_torch_fixture(d, "hostile_stride0.pth"),
        args: &[
            "embed",
            "--checkpoint",
            "hostile_stride0.pth",
            "--data",
            "random:1x28x28:8",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "embed a .pth whose conv1.weight is stored as int8",
        setup: |d| copy_torch_fixture(d, "int8_conv1.pth"),
        args: &[
            "embed",
            "--checkpoint",
            "int8_conv1.pth",
            "--data",
            "random:1x28x28:8",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "embed a .pth zip whose storage entry is a deflate bomb",
        setup: |d| zip_file(d, "w.pth", "archive/data/0", &vec![0u8; 8 << 20], true),
        args: &[
            "embed",
            "--checkpoint",
            "w.pth",
            "--data",
            "random:1x28x28:8",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "embed a .pth zip whose pickle declares 5 MiB",
        setup: |d| zip_file(d, "w.pth", "archive/data.pkl", &vec![b'N'; 5 << 20], true),
        args: &[
            "embed",
            "--checkpoint",
            "w.pth",
            "--data",
            "random:1x28x28:8",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "embed a legacy tar checkpoint whose member declares 4 GiB",
        setup: |d| {
            let mut header = [0u8; 512];
            header[..8].copy_from_slice(b"storages");
            header[124..136].copy_from_slice(b"40000000000\0");
            header[156] = b'0';
            header[257..263].copy_from_slice(b"ustar\0");
            let mut bytes = header.to_vec();
            bytes.extend_from_slice(&[0u8; 9 * 1024]);
            write(d, "w.pth", bytes);
        },
        args: &[
            "embed",
            "--checkpoint",
            "w.pth",
            "--data",
            "random:1x28x28:8",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "embed with a --prefix that is the query encoder and --encoder momentum",
        setup: |d| copy_torch_fixture(d, "solo_narrow.ckpt"),
        args: &[
            "embed",
            "--checkpoint",
            "solo_narrow.ckpt",
            "--prefix",
            "state_dict.backbone.",
            "--encoder",
            "momentum",
            "--data",
            "random:3x32x32:8",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "embed with --stem-padding beyond any kernel",
        setup: |d| copy_torch_fixture(d, "solo_narrow.ckpt"),
        args: &[
            "embed",
            "--checkpoint",
            "solo_narrow.ckpt",
            "--stem-padding",
            "99",
            "--data",
            "random:3x32x32:8",
            "--out",
            "e.safetensors",
        ],
    },
    // ---- images that would take more memory than they justify ----
    Case {
        what: "embed a 600×600 image at native size with a CIFAR-stem model",
        setup: |d| {
            copy_torch_fixture(d, "solo_narrow.ckpt");
            png(d, "imgs/cat/a.png", 600, 600);
        },
        args: &[
            "embed",
            "--checkpoint",
            "solo_narrow.ckpt",
            "--data",
            "folder:imgs",
            "--quiet",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "embed an image folder holding a truncated JPEG",
        setup: |d| {
            copy_torch_fixture(d, "torch_bottleneck.safetensors");
            let mut jpeg = Vec::new();
            image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8 * 4, y as u8 * 4, 99]))
                .write_to(
                    &mut std::io::Cursor::new(&mut jpeg),
                    image::ImageFormat::Jpeg,
                )
                .unwrap();
            jpeg.truncate(jpeg.len() * 2 / 3);
            write(d, "imgs/n01440764/a.jpg", jpeg);
        },
        args: &[
            "embed",
            "--checkpoint",
            "torch_bottleneck.safetensors",
            "--data",
            "folder:imgs",
            "--quiet",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "embed an image folder with --split",
        setup: |d| {
            copy_torch_fixture(d, "torch_bottleneck.safetensors");
            png(d, "imgs/n01440764/a.png", 8, 8);
        },
        args: &[
            "embed",
            "--checkpoint",
            "torch_bottleneck.safetensors",
            "--data",
            "folder:imgs",
            "--split",
            "train",
            "--out",
            "e.safetensors",
        ],
    },
    Case {
        what: "embed with --limit-per-class 0",
        setup: |d| copy_torch_fixture(d, "torch_bottleneck.safetensors"),
        args: &[
            "embed",
            "--checkpoint",
            "torch_bottleneck.safetensors",
            "--data",
            "folder:imgs",
            "--limit-per-class",
            "0",
            "--out",
            "e.safetensors",
        ],
    },
];

/// Writes a zip holding one entry (deflated or stored).
fn zip_file(d: &Path, name: &str, entry: &str, bytes: &[u8], deflate: bool) {
    use std::io::Write;
    let f = std::fs::File::create(d.join(name)).unwrap();
    let mut z = zip::ZipWriter::new(f);
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    z.start_file(entry, opts).unwrap();
    z.write_all(bytes).unwrap();
    z.finish().unwrap();
}

/// Writes a grey-gradient RGB PNG of `w` × `h`.
fn png(d: &Path, name: &str, w: u32, h: u32) {
    let p = d.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 99])
    })
    .save(p)
    .unwrap();
}

/// Copies a PyTorch fixture (`tests/data/torch/`) into a case's folder.
fn copy_torch_fixture(d: &Path, name: &str) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/torch")
        .join(name);
    std::fs::copy(from, d.join(name)).unwrap();
}

/// The address space every case runs in (`ulimit -v`, KiB): 2 GiB, far
/// below what the hostile files of issue 21 made negstudy allocate (4–32 GiB)
/// and far above what any case needs to say its error.
const ADDRESS_SPACE_KIB: u64 = 2 << 20;

/// Runs one case; returns (exit code, stderr) or a description of what went wrong.
fn run_case(case: &Case) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    (case.setup)(dir.path());
    // Under an address-space limit: a file that declares gigabytes must be
    // refused from what it declares, not by running out of memory.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {ADDRESS_SPACE_KIB}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_negstudy"))
        .args(case.args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            return Err("hung (killed after 120 s)".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    let err = err.trim_end().to_string();
    // 1: negstudy's own errors; 2: clap's usage errors (a flag's value out of range).
    let usage = status.code() == Some(2) && err.ends_with("For more information, try '--help'.");
    if status.code() != Some(1) && !usage {
        return Err(format!("exit status {status:?} (expected 1): {err}"));
    }
    if err.contains("panicked") || !err.starts_with("error: ") {
        return Err(format!("not one clear error: {err}"));
    }
    Ok(err)
}

fn section(i: usize, case: &Case, err: &str) -> String {
    let cmd: Vec<String> = case
        .args
        .iter()
        .map(|a| {
            let a = if a.len() > 60 {
                format!("{}…", &a[..40])
            } else {
                a.to_string()
            };
            if a.is_empty() || a.contains([' ', '!', '&', '(', '*']) {
                format!("'{a}'")
            } else {
                a
            }
        })
        .collect();
    format!(
        "### {}. {}\n\n`negstudy {}`\n\n```\n{}\n```\n",
        i + 1,
        case.what,
        cmd.join(" "),
        err
    )
}

#[test]
fn every_bad_input_gets_its_documented_error() {
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/BAD_INPUTS.md");
    let mut failures = Vec::new();
    let mut sections = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        match run_case(case) {
            Ok(err) => sections.push(section(i, case, &err)),
            Err(e) => failures.push(format!("case {} ({}): {e}", i + 1, case.what)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let doc = format!(
        "# Bad inputs and the errors negstudy prints\n\n\
         Generated by `tests/bad_input.rs`, which runs every case below on the \
         real binary (in an empty folder holding only the case's files) and \
         fails unless negstudy exits with status 1 (2 where the argument parser \
         rejects a flag's value) and prints exactly this error: no panic, \
         abort, hang or partial output — within a 2 GiB address space \
         (`ulimit -v`), so an input that declares more than it holds is \
         refused from its declared sizes. {} cases.\n\n{}",
        CASES.len(),
        sections.join("\n")
    );
    if std::env::var_os("NEGSTUDY_BLESS").is_some() {
        std::fs::create_dir_all(doc_path.parent().unwrap()).unwrap();
        std::fs::write(&doc_path, &doc).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&doc_path).unwrap_or_default();
    let differing: Vec<&String> = sections
        .iter()
        .filter(|s| !committed.contains(s.as_str()))
        .collect();
    assert!(
        differing.is_empty() && committed == doc,
        "docs/BAD_INPUTS.md does not match what negstudy prints for:\n{}\n(regenerate with NEGSTUDY_BLESS=1 after checking the messages)",
        differing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
    );
}
