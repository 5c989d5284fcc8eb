"""Writes the dump fixtures the way PyTorch pipelines do (numpy / pyarrow),
so tests read real third-party output. Run once; outputs are committed.
    python3 tests/data/make_fixtures.py   (numpy 2.x, pyarrow)
Every fixture holds the same 12 rows: z[i] = normalise([i+1, -(i%3), 2, (i*7)%5]),
label[i] = i % 3, classes ["a", "b", "c"]."""
import numpy as np, pyarrow as pa, pyarrow.parquet as pq, os
here = os.path.dirname(os.path.abspath(__file__))
n = 12
z = np.array([[i + 1, -(i % 3), 2, (i * 7) % 5] for i in range(n)], dtype=np.float64)
z /= np.linalg.norm(z, axis=1, keepdims=True)
label = np.arange(n) % 3
# np.savez_compressed: deflate-compressed members, '<U' string arrays.
np.savez_compressed(os.path.join(here, "numpy_savez_compressed.npz"),
                    z=z.astype(np.float32), label=label.astype(np.int64),
                    classes=np.array(["a", "b", "c"]), index=np.arange(n) * 10)
# A folder of np.save arrays: float64 z stored Fortran-order, int32 labels.
os.makedirs(os.path.join(here, "npy_folder"), exist_ok=True)
np.save(os.path.join(here, "npy_folder", "z.npy"), np.asfortranarray(z))
np.save(os.path.join(here, "npy_folder", "label.npy"), label.astype(np.int32))
# pyarrow parquet: list<float> column z, int32 label.
t = pa.table({"z": pa.array([list(map(float, r)) for r in z.astype(np.float32)], type=pa.list_(pa.float32())),
              "label": pa.array(label.astype(np.int32))})
pq.write_table(t, os.path.join(here, "pyarrow_list.parquet"))
