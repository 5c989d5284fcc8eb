#!/usr/bin/env bash
# negstudy's MoCo v2 training step against PyTorch eager on the CPU, side by
# side in one run: the three rows of issue #14 (narrow ResNet 1x28x28 batch
# 256 K 4096 on 2 threads and on 1; ResNet-18 CIFAR stem 3x32x32 batch 64),
# each side run ROUNDS times alternately, best of each reported with the
# ratio; negstudy twice, with its native CPU kernels and with burn's generic
# ops (NEGSTUDY_KERNELS=generic), so the kernels' gain is measured in the
# same run. The PyTorch peer is bench/torch/torch_moco_cpu.py (same encoder,
# MLP head, K, T, SGD momentum, momentum encoder, shuffle-BN sub-batches).
#
# usage: bash tests/data/train_vs_torch.sh PYTHON [ROUNDS]
# e.g.   bash tests/data/train_vs_torch.sh ~/torchenv/bin/python 2
# (torch from PyPI in a venv outside the repository; never in CI; run after
# cargo build --release, on an otherwise idle machine.)
set -euo pipefail
python=$1; rounds=${2:-2}
peer=${NEGSTUDY_TORCH_PEER:-bench/torch/torch_moco_cpu.py}
bin=${NEGSTUDY_BIN:-target/release/negstudy}  # another build to compare: NEGSTUDY_BIN=path
best() { sort -g | tail -1; }
row() { # name threads negstudy-args -- torch-args
  local name=$1 threads=$2; shift 2
  local args=() targs=() seen=0
  for a in "$@"; do
    if [ "$a" = "--" ]; then seen=1; elif [ $seen = 0 ]; then args+=("$a"); else targs+=("$a"); fi
  done
  local o g t
  o=$(mktemp); g=$(mktemp); t=$(mktemp)
  ours() {
    RAYON_NUM_THREADS=$threads "$bin" bench train --drop '' --no-generic --rounds 1 --steps 8 "${args[@]}" 2>&1 \
      | sed -n 's/.*no filter: *\([0-9.]*\) images\/s.*/\1/p'
  }
  for _ in $(seq "$rounds"); do
    NEGSTUDY_KERNELS=native ours >> "$o"
    NEGSTUDY_KERNELS=generic ours >> "$g"
    THREADS=$threads "$python" "$peer" "${targs[@]}" \
      | sed -n 's/.*"images_per_s": \([0-9.]*\).*/\1/p' >> "$t"
  done
  local a b c
  a=$(best < "$o"); b=$(best < "$g"); c=$(best < "$t")
  printf '| %s | %s | %s | %s | %.2f | %.2f |\n' "$name" "$a" "$b" "$c" \
    "$(echo "$a / $c" | bc -l)" "$(echo "$b / $c" | bc -l)"
  rm -f "$o" "$g" "$t"
}
echo "| MoCo v2 step (best of $rounds) | negstudy, native kernels | negstudy, burn's generic ops | PyTorch eager | ratio native | ratio generic |"
echo "|---|---|---|---|---|---|"
row "narrow ResNet, 1x28x28, batch 256, K 4096, 2 threads" 2 -- narrow 1 28 28 256 4096 8
row "same, 1 thread" 1 -- narrow 1 28 28 256 4096 8
row "ResNet-18 CIFAR stem, 3x32x32, batch 64, 2 threads" 2 --arch resnet18 --batch-size 64 --data random:3x32x32:1024 -- resnet18 3 32 32 64 4096 8
