//! Embedding dumps: round trips through every format, third-party files
//! (numpy, pyarrow), and one test per class of bad input.

use negstudy::store::{Dump, DumpMeta, LoadOptions, Matrix};
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The 12 rows the fixtures hold (see tests/data/make_fixtures.py):
/// z[i] = normalise([i+1, -(i%3), 2, (i*7)%5]), label[i] = i % 3.
fn fixture_z() -> Vec<f32> {
    (0..12)
        .flat_map(|i: i64| {
            let r = [(i + 1) as f64, -(i % 3) as f64, 2.0, ((i * 7) % 5) as f64];
            let n = r.iter().map(|v| v * v).sum::<f64>().sqrt();
            r.map(|v| (v / n) as f32)
        })
        .collect()
}

fn sample_dump(n: usize, d: usize, with_optional: bool) -> Dump {
    let mut z = Vec::new();
    for i in 0..n {
        let row: Vec<f32> = (0..d)
            .map(|j| ((i * 31 + j * 17) % 13) as f32 - 6.0 + 0.5)
            .collect();
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        z.extend(row.iter().map(|v| v / norm));
    }
    let classes = vec![
        "T-shirt/top".to_string(),
        "Trouser".into(),
        "Ankle boot".into(),
    ];
    Dump {
        z: Matrix::new(n, d, z).unwrap(),
        h: with_optional
            .then(|| Matrix::new(n, 2, (0..2 * n).map(|v| v as f32 * 0.25).collect()).unwrap()),
        label: (0..n as i64).map(|i| i % 3).collect(),
        index: with_optional.then(|| (0..n as i64).map(|i| 1000 + i).collect()),
        meta: DumpMeta {
            classes,
            wnids: Some(vec![
                "n03595614".into(),
                "n04489008".into(),
                "n02872752".into(),
            ]),
            encoder: Some("query".into()),
            source: Some("test".into()),
            epoch: Some("7".into()),
            dataset: Some("bundled:fashion-mnist-test".into()),
            negstudy_version: Some(negstudy::VERSION.into()),
        },
    }
}

fn load(p: &Path) -> anyhow::Result<Dump> {
    Dump::load(p, LoadOptions::default())
}

fn err(p: &Path) -> String {
    format!(
        "{:#}",
        load(p).expect_err("expected the dump to be rejected")
    )
}

#[test]
fn round_trip_all_formats() {
    let dir = tempfile::tempdir().unwrap();
    for with_optional in [true, false] {
        let d = sample_dump(37, 5, with_optional);
        for ext in ["safetensors", "npz", "parquet"] {
            let p = dir.path().join(format!("dump_{with_optional}.{ext}"));
            d.save(&p).unwrap();
            let back = load(&p).unwrap();
            assert_eq!(back, d, "{ext} with_optional={with_optional}");
        }
    }
}

#[test]
fn reads_numpy_savez_compressed() {
    let d = load(&data("numpy_savez_compressed.npz")).unwrap();
    assert_eq!((d.len(), d.dim()), (12, 4));
    assert_eq!(d.z.data(), fixture_z());
    assert_eq!(d.label, (0..12).map(|i| i % 3).collect::<Vec<i64>>());
    assert_eq!(d.meta.classes, vec!["a", "b", "c"]);
    assert_eq!(d.index, Some((0..12).map(|i| i * 10).collect()));
}

#[test]
fn reads_npy_folder_fortran_float64() {
    let d = load(&data("npy_folder/z.npy")).unwrap();
    assert_eq!(
        d.z.data(),
        fixture_z(),
        "float64 Fortran-order z, converted to f32 row-major"
    );
    assert_eq!(d.label, (0..12).map(|i| i % 3).collect::<Vec<i64>>());
    assert_eq!(
        d.meta.classes,
        vec!["0", "1", "2"],
        "no class list: classes named by index"
    );
}

#[test]
fn reads_pyarrow_list_parquet() {
    let d = load(&data("pyarrow_list.parquet")).unwrap();
    assert_eq!(d.z.data(), fixture_z());
    assert_eq!(d.label, (0..12).map(|i| i % 3).collect::<Vec<i64>>());
}

#[test]
fn rejects_non_finite_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = sample_dump(10, 4, false);
    d.z.data_mut()[4 * 6 + 2] = f32::NAN;
    let p = dir.path().join("nan.safetensors");
    d.save(&p).unwrap();
    let e = err(&p);
    assert!(
        e.contains("non-finite") && e.contains("row 6") && e.contains("column 2"),
        "{e}"
    );
    assert!(e.contains("nan.safetensors"), "error names the file: {e}");
}

#[test]
fn rejects_rows_not_unit_norm_unless_normalize() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = sample_dump(10, 4, false);
    for v in &mut d.z.data_mut()[8..12] {
        *v *= 3.0;
    }
    let p = dir.path().join("scaled.npz");
    d.save(&p).unwrap();
    let e = err(&p);
    assert!(e.contains("row 2") && e.contains("--normalize"), "{e}");
    let fixed = Dump::load(&p, LoadOptions { normalize: true }).unwrap();
    let norm: f32 = fixed.z.row(2).iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-6);
}

#[test]
fn rejects_label_outside_class_list() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = sample_dump(10, 4, false);
    d.label[7] = 3; // three classes: 0..2
    let p = dir.path().join("label.parquet");
    d.save(&p).unwrap();
    let e = err(&p);
    assert!(
        e.contains("label 3 at row 7") && e.contains("3 classes"),
        "{e}"
    );
    d.label[7] = -1;
    d.save(&p).unwrap();
    assert!(err(&p).contains("negative"));
}

#[test]
fn rejects_length_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = sample_dump(10, 4, true);
    d.label.pop();
    let p = dir.path().join("short.safetensors");
    d.save(&p).unwrap();
    let e = err(&p);
    assert!(e.contains("z has 10 rows but label has 9"), "{e}");
    let mut d = sample_dump(10, 4, true);
    d.h = Some(Matrix::new(8, 2, vec![0.0; 16]).unwrap());
    d.save(&p).unwrap();
    assert!(err(&p).contains("h has 8"));
}

#[test]
fn rejects_missing_tensor() {
    let dir = tempfile::tempdir().unwrap();
    // A safetensors file with only `label`.
    let label: Vec<u8> = [0i64, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![2], &label).unwrap();
    let p = dir.path().join("noz.safetensors");
    safetensors::serialize_to_file(vec![("label", view)], None, &p).unwrap();
    assert!(err(&p).contains("missing tensor 'z'"));
    // An .npy z without label.npy beside it.
    let sub = dir.path().join("npy");
    std::fs::create_dir(&sub).unwrap();
    std::fs::copy(data("npy_folder/z.npy"), sub.join("z.npy")).unwrap();
    let e = err(&sub.join("z.npy"));
    assert!(
        e.contains("missing tensor 'label'") && e.contains("label.npy"),
        "{e}"
    );
}

#[test]
fn rejects_truncated_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = sample_dump(50, 8, true);
    for ext in ["safetensors", "npz", "parquet"] {
        let p = dir.path().join(format!("full.{ext}"));
        d.save(&p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let t = dir.path().join(format!("cut.{ext}"));
        std::fs::write(&t, &bytes[..bytes.len() * 2 / 3]).unwrap();
        let e = err(&t);
        assert!(
            e.contains(&format!("cut.{ext}")),
            "{ext}: error names the file: {e}"
        );
        assert!(
            e.contains("truncated") || e.contains("corrupt"),
            "{ext}: {e}"
        );
    }
    // A truncated .npy array body.
    let bytes = std::fs::read(data("npy_folder/z.npy")).unwrap();
    let sub = dir.path().join("npycut");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("z.npy"), &bytes[..bytes.len() - 40]).unwrap();
    std::fs::copy(data("npy_folder/label.npy"), sub.join("label.npy")).unwrap();
    assert!(err(&sub.join("z.npy")).contains("truncated data"));
}

#[test]
fn rejects_corrupt_files_and_unknown_formats() {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["safetensors", "npz", "parquet", "npy"] {
        let p = dir.path().join(format!("junk.{ext}"));
        std::fs::write(&p, b"this is not a dump at all, just some text bytes").unwrap();
        let e = err(&p);
        assert!(e.contains(&format!("junk.{ext}")), "{e}");
    }
    let p = dir.path().join("emb.csv");
    std::fs::write(&p, "x").unwrap();
    assert!(err(&p).contains("unknown dump format"));
}

#[test]
fn rejects_empty_dump() {
    let dir = tempfile::tempdir().unwrap();
    let d = Dump {
        z: Matrix::new(0, 4, vec![]).unwrap(),
        h: None,
        label: vec![],
        index: None,
        meta: DumpMeta::default(),
    };
    let p = dir.path().join("empty.safetensors");
    d.save(&p).unwrap();
    assert!(err(&p).contains("empty"));
}

#[test]
fn rejects_wnid_count_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = sample_dump(10, 4, false);
    d.meta.wnids = Some(vec!["n03595614".into()]);
    let p = dir.path().join("wnids.safetensors");
    d.save(&p).unwrap();
    assert!(err(&p).contains("1 wnids for 3 classes"));
}

#[test]
fn failed_save_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let d = sample_dump(10, 4, false);
    let p = dir.path().join("out.npy"); // writing .npy folders is refused
    assert!(d.save(&p).is_err());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no temp file left"
    );
}

/// Dumps get the permissions of any file this process creates (the user's
/// umask), not the 0600 of a private temporary file.
#[test]
fn dumps_are_written_with_the_users_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let probe = dir.path().join("probe");
    std::fs::File::create(&probe).unwrap();
    let expected = std::fs::metadata(&probe).unwrap().permissions().mode() & 0o777;
    for ext in ["safetensors", "npz", "parquet"] {
        let p = dir.path().join(format!("d.{ext}"));
        sample_dump(5, 3, true).save(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, expected, "{ext}: {mode:o} vs {expected:o}");
    }
}

/// The same dump written twice is the same file: the safetensors header
/// (metadata map included) is written with its keys sorted. Before, its
/// metadata came out in `HashMap` order, so a dump's sha256 (recorded in
/// every manifest) changed from one write to the next.
#[test]
fn the_same_dump_is_written_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let dump = sample_dump(6, 3, true);
    let first = dir.path().join("a.safetensors");
    dump.save(&first).unwrap();
    let bytes = std::fs::read(&first).unwrap();
    for i in 0..8 {
        let p = dir.path().join(format!("b{i}.safetensors"));
        dump.save(&p).unwrap();
        assert!(std::fs::read(&p).unwrap() == bytes, "write {i} differs");
    }
    // Metadata keys in sorted order, and the file still loads.
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(bytes[8..8 + n].to_vec()).unwrap();
    let pos = |k: &str| header.find(&format!("\"{k}\"")).unwrap();
    assert!(pos("classes") < pos("encoder") && pos("encoder") < pos("negstudy_version"));
    assert_eq!(load(&first).unwrap().label, dump.label);
}
