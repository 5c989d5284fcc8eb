#!/usr/bin/env bash
# Seeds every fuzz target's corpus with small valid inputs (fuzz/corpus/<target>/).
# Needs a release build (target/release/negstudy), python3, and Debian's
# wordnet-base for the hierarchy seeds. Run from the repository root.
set -euo pipefail
bin=target/release/negstudy
c=fuzz/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
split=$(printf '\0NEGSTUDY-SPLIT\0' | od -An -tx1 | tr -d ' \n')
join() { # join FILE... > OUT with the split marker between files
  local first=1
  for f in "$@"; do
    if [ $first = 0 ]; then printf '%s' "$split" | xxd -r -p; fi
    cat "$f"; first=0
  done
}
for t in dump_safetensors dump_npz dump_npy dump_parquet idx cifar image_entry image_preprocess hierarchy_xml wndb pairs toml_config filter_expr checkpoint torch_checkpoint safetensors_weights; do
  mkdir -p "$c/$t"
done

# Dumps: synthetic dumps in each format, plus the numpy/pyarrow fixtures.
for ext in safetensors npz parquet; do
  "$bin" dump synthetic --rows 12 --dim 4 --out "$work/s.$ext" 2>/dev/null
  cp "$work/s.$ext" "$c/dump_${ext/safetensors/safetensors}/synthetic.$ext"
done
mv "$c/dump_safetensors/synthetic.safetensors" "$c/dump_safetensors/synthetic"
mv "$c/dump_npz/synthetic.npz" "$c/dump_npz/synthetic"
mv "$c/dump_parquet/synthetic.parquet" "$c/dump_parquet/synthetic"
cp tests/data/numpy_savez_compressed.npz "$c/dump_npz/numpy"
cp tests/data/pyarrow_list.parquet "$c/dump_parquet/pyarrow"
join tests/data/npy_folder/z.npy tests/data/npy_folder/label.npy > "$c/dump_npy/numpy"

python3 - "$c" <<'PY'
import struct, sys, zlib, gzip
c = sys.argv[1]
SPLIT = b"\0NEGSTUDY-SPLIT\0"
# IDX: 3 images of 2x2 and their labels, raw and gzip.
img = struct.pack(">IIII", 0x803, 3, 2, 2) + bytes(range(12))
lab = struct.pack(">II", 0x801, 3) + bytes([0, 1, 2])
open(f"{c}/idx/raw", "wb").write(img + SPLIT + lab)
open(f"{c}/idx/gzip", "wb").write(gzip.compress(img) + SPLIT + gzip.compress(lab))
# CIFAR: one CIFAR-10 record and one CIFAR-100 record.
open(f"{c}/cifar/c10", "wb").write(b"\0" + bytes([3]) + bytes(i % 256 for i in range(3072)))
open(f"{c}/cifar/c100", "wb").write(b"\1" + bytes([1, 7]) + bytes(i % 251 for i in range(3072)))
# PNG: 2x2 RGB and 3x1 grey.
def png(w, h, ctype, rows):
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    raw = b"".join(b"\0" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
open(f"{c}/image_entry/rgb.png", "wb").write(png(2, 2, 2, [bytes(6), bytes(range(6))]))
open(f"{c}/image_entry/grey.png", "wb").write(png(3, 1, 0, [bytes([0, 128, 255])]))
for name in ("rgb.png", "grey.png"):
    open(f"{c}/image_preprocess/{name}", "wb").write(open(f"{c}/image_entry/{name}", "rb").read())
# data.noun: three synsets with offsets equal to their byte positions.
lines, pos = [], 0
def add(body):
    global pos
    line = f"{pos:08d} {body}\n"
    lines.append(line); pos += len(line.encode())
    return pos - len(line.encode())
e = add("03 n 01 entity 0 000 | that which exists")
o = add(f"03 n 01 object 0 001 @ {e:08d} n 0000 | a thing")
add(f"06 n 02 dog 0 domestic_dog 0 002 @ {o:08d} n 0000 @i {e:08d} n 0000 | a dog")
open(f"{c}/wndb/mini", "w").write("".join(lines))
# Filters: the paper's and some edge cases.
for i, f in enumerate(["band(95,100)", "band(99.9,100) & same_class", "band(99.9,100) & !same_class",
                       "band(0,99.9) & same_class", "!(band(0,5) | same_class) & all", "band(0.000001,100)"]):
    open(f"{c}/filter_expr/{i}", "w").write(f)
# Pairs.
open(f"{c}/pairs/fmnist", "w").write("# comment\nn03595614 n04489008\n\nn02869837 n02869837\n")
PY

# Hierarchy XML from WordNet (needs wordnet-base).
printf 'n03595614\nn04489008\n' > "$work/w.txt"
"$bin" hierarchy build --wordnet /usr/share/wordnet --wnids "$work/w.txt" --out "$work/h.xml" 2>/dev/null
cp "$work/h.xml" "$c/hierarchy_xml/fmnist2"

# TOML: every recipe in analyses/.
for f in analyses/*.toml; do cp "$f" "$c/toml_config/$(basename "$f" .toml)"; done

# Checkpoint: config.toml, state.json, queue.safetensors of a tiny real run.
"$bin" train --runs "$work/runs" --name ck --train-limit 64 --batch-size 32 --queue-size 64 \
  --epochs 1 --shuffle-bn-splits 2 --quiet 2>/dev/null
ck="$work/runs/ck/checkpoint-0001"
join "$ck/config.toml" "$ck/state.json" "$ck/queue.safetensors" > "$c/checkpoint/tiny"
echo "seeded $(find "$c" -type f | wc -l) files in $c"

# PyTorch checkpoints: the small state dict the torch fixtures script made.
cp tests/data/torch/tiny_state.pth "$c/torch_checkpoint/tiny_state"
cp tests/data/torch/images/n07920052/coffee_4.png "$c/image_preprocess/coffee"
# More PyTorch files: the hostile views refused since issue 21; and small
# safetensors weights in torchvision's names (one f32, one f16, one i64
# tensor and a negstudy-style metadata block).
for f in hostile_stride0.pth int8_conv1.pth; do
  cp "tests/data/torch/$f" "$c/torch_checkpoint/${f%%.*}"
done
mkdir -p "$c/safetensors_weights"
python3 - "$c/safetensors_weights/tiny" <<'PY'
import json, struct, sys
tensors = [("conv1.weight", "F32", [2, 1, 3, 3], struct.pack("<18f", *range(18))),
           ("bn1.weight", "F16", [2], struct.pack("<2e", 1.0, 0.5)),
           ("bn1.num_batches_tracked", "I64", [], struct.pack("<q", 7))]
header, data = {"__metadata__": {"format": "pt", "arch": "resnet-narrow"}}, b""
for name, dtype, shape, raw in tensors:
    header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
h = json.dumps(header).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + data)
PY
