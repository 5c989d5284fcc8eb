"""Reference values for tests/health.rs, computed with numpy alone (no
negstudy code): uniformity and alignment as in Wang & Isola's
`align_uniform` (torch.pdist → scipy.spatial.distance.pdist here), RankMe
as in Garrido et al. (numpy.linalg.svd of the matrix itself, not its Gram),
and the leave-one-out weighted kNN of InstDisc (k 200, T 0.1).

The input is built from integers by the same expression as the Rust test:
x[i][j] = ((i*37 + j*11 + (i*j) % 7) % 101) / 101 - 0.5, label i % 3.
Run: python3 tests/data/health_reference.py
"""
import numpy as np
from scipy.spatial.distance import pdist

n, d = 300, 8
x = np.array([[((i * 37 + j * 11 + (i * j) % 7) % 101) / 101 - 0.5 for j in range(d)]
              for i in range(n)], dtype=np.float64)
x = x.astype(np.float32).astype(np.float64)  # the Rust side holds f32
y = np.arange(n) % 3
u = x / np.linalg.norm(x, axis=1, keepdims=True)
sq = pdist(u, "sqeuclidean")
uniformity = np.log(np.mean(np.exp(-2 * sq)))
iu = np.triu_indices(n, 1)
same = y[iu[0]] == y[iu[1]]
alignment = np.mean(sq[same])
s = np.linalg.svd(x, compute_uv=False)
p = s / s.sum() + 1e-7
rankme = np.exp(-(p * np.log(p)).sum())
sims = u @ u.T
correct = 0
for i in range(n):
    others = np.delete(np.arange(n), i)
    top = others[np.argsort(-sims[i, others], kind="stable")[:200]]
    votes = np.zeros(3)
    np.add.at(votes, y[top], np.exp(sims[i, top] / 0.1))
    correct += int(np.argmax(votes) == y[i])
print(f"uniformity {uniformity!r}\nalignment {alignment!r}\nrankme {rankme!r}\nknn_top1 {correct / n!r}")
print("singular values", [float(v) for v in s])
