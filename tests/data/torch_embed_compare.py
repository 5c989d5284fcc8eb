"""negstudy's `embed` of a PyTorch ResNet-50 against PyTorch's own, on the
same ImageNet-size images: agreement per image and images/s, side by side.

Needs PyTorch, torchvision, safetensors and scikit-image in a venv outside
the repository (never in CI); run from the repository root after
`cargo build --release`:

    python tests/data/torch_embed_compare.py --workdir /tmp/embedcmp \\
        --images 96 --layout moco --rounds 3

It makes (unless they exist in --workdir):

* `images/<wnid>/*.jpg` — ImageNet-size JPEGs (shorter side 333-500,
  aspect 3:4 to 4:3, quality 90), random crops and rescalings of
  scikit-image's photographs (public domain / CC0), a few grey and a few
  CMYK, in 8 class folders named by wnids;
* `resnet50_torchvision.pth` — torchvision's `resnet50()` state dict
  (random weights, BatchNorm statistics warmed on random batches so they
  are not 0 and 1), classifier head included; or `resnet50_moco.pth.tar` —
  the official MoCo v2 layout (`state_dict` → `module.encoder_q.*` with the
  MLP head `fc.0`/`fc.2`, `module.encoder_k.*`, `module.queue`,
  `optimizer`, `epoch`, `arch`).

Then, for each round, it runs `negstudy embed` on the folder (wall time of
the whole command: process start, weights, decoding, forward, writing)
and PyTorch's equivalent in a fresh process (`import torch`, build the
model, `load_state_dict(strict=True)`, `ImageFolder` with the standard
evaluation transform, `DataLoader(batch_size=32, num_workers=1)` so that
decoding overlaps the forward pass as negstudy's does, eval-mode forward
under `torch.inference_mode()`, `torch.set_num_threads(N)`), and prints
images/s of each and their ratio. Finally it compares the two embeddings
image by image: h relative to the image's largest |h|, and z.
"""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

WNIDS = ["n01440764", "n02102040", "n02979186", "n03000684", "n03028079", "n03394916", "n03417042", "n03425413"]


def make_images(root, n, seed=0):
    import numpy as np
    import skimage.data
    from PIL import Image

    rng = np.random.default_rng(seed)
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket()]
    for i in range(n):
        src = Image.fromarray(photos[i % len(photos)])
        w, h = src.size
        cw, ch = int(w * rng.uniform(0.5, 1.0)), int(h * rng.uniform(0.5, 1.0))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        short = int(rng.integers(333, 501))
        aspect = rng.uniform(0.75, 1.334)
        size = (int(short * aspect), short) if aspect >= 1 else (short, int(short / aspect))
        img = src.crop((x, y, x + cw, y + ch)).resize(size, Image.BICUBIC)
        if i % 16 == 5:
            img = img.convert("L")
        elif i % 16 == 11:
            img = img.convert("CMYK")
        folder = os.path.join(root, WNIDS[i % len(WNIDS)])
        os.makedirs(folder, exist_ok=True)
        img.save(os.path.join(folder, f"img_{i:05d}.jpg"), quality=90)


def resnet50(mlp):
    import torch.nn as nn
    import torchvision

    m = torchvision.models.resnet50(num_classes=128 if mlp else 1000)
    if mlp:  # MoCo v2: fc becomes Linear(2048, 2048), ReLU, the old fc
        m.fc = nn.Sequential(nn.Linear(2048, 2048), nn.ReLU(), m.fc)
    return m


def warmed_resnet50(mlp):
    import torch

    torch.manual_seed(0)
    m = resnet50(mlp)
    m.train()
    with torch.no_grad():
        for _ in range(3):
            m(torch.randn(8, 3, 224, 224))
    return m.eval()


def make_weights(path, layout):
    import torch

    m = warmed_resnet50(layout == "moco")
    if layout == "torchvision":
        torch.save(m.state_dict(), path)
        return
    q = {f"module.encoder_q.{k}": v for k, v in m.state_dict().items()}
    k = {f"module.encoder_k.{k}": v.clone() for k, v in m.state_dict().items()}
    state = {**q, **k, "module.queue": torch.nn.functional.normalize(torch.randn(128, 4096), dim=0),
             "module.queue_ptr": torch.zeros(1, dtype=torch.long)}
    opt = torch.optim.SGD(m.parameters(), lr=0.03, momentum=0.9)
    torch.save({"epoch": 200, "arch": "resnet50", "state_dict": state, "optimizer": opt.state_dict()}, path)


def make_preprocessed(src, dst):
    """`src`'s images after torchvision's Resize(256) and CenterCrop(224),
    as PNG: both sides then read identical pixels (`--native`)."""
    from PIL import Image
    from torchvision import transforms

    tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])
    for d in sorted(os.listdir(src)):
        os.makedirs(os.path.join(dst, d), exist_ok=True)
        for f in sorted(os.listdir(os.path.join(src, d))):
            img = Image.open(os.path.join(src, d, f)).convert("RGB")
            tf(img).save(os.path.join(dst, d, os.path.splitext(f)[0] + ".png"))


def torch_embed(weights, layout, folder, threads, out, native=False):
    """The PyTorch side, in this (fresh) process; returns seconds."""
    start = time.perf_counter()
    import torch
    import torch.nn.functional as F
    import torchvision
    from safetensors.torch import save_file
    from torchvision import transforms

    torch.set_num_threads(threads)
    m = resnet50(layout == "moco")
    ck = torch.load(weights, map_location="cpu", weights_only=True)
    if layout == "moco":
        prefix = "module.encoder_q."
        ck = {k[len(prefix):]: v for k, v in ck["state_dict"].items() if k.startswith(prefix)}
    m.load_state_dict(ck, strict=True)
    m.eval()
    sizes = [] if native else [transforms.Resize(256), transforms.CenterCrop(224)]
    tf = transforms.Compose(sizes + [transforms.ToTensor(),
                                     transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    loader = torch.utils.data.DataLoader(torchvision.datasets.ImageFolder(folder, tf), batch_size=32,
                                         num_workers=1)
    hs, zs = [], []
    loop_start = time.perf_counter()
    with torch.inference_mode():
        for x, _ in loader:
            y = m.maxpool(m.relu(m.bn1(m.conv1(x))))
            y = m.layer4(m.layer3(m.layer2(m.layer1(y))))
            h = torch.flatten(m.avgpool(y), 1)
            # negstudy's defaults: MoCo's MLP head; a classifier is left out.
            z = F.normalize(m.fc(h) if layout == "moco" else h, dim=1)
            hs.append(h)
            zs.append(z)
    loop = time.perf_counter() - loop_start
    save_file({"h": torch.cat(hs).contiguous(), "z": torch.cat(zs).contiguous()}, out)
    return loop


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--layout", choices=["torchvision", "moco"], default="moco")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--negstudy", default=os.path.join(REPO, "target/release/negstudy"))
    ap.add_argument("--native", action="store_true",
                    help="embed PNGs already resized and cropped by torchvision (identical inputs on both sides)")
    ap.add_argument("--torch-side", nargs=2, metavar=("WEIGHTS", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    folder = os.path.join(a.workdir, "images224" if a.native else "images")
    if a.torch_side:
        print(torch_embed(a.torch_side[0], a.layout, folder, a.threads, a.torch_side[1], a.native))
        return
    os.makedirs(a.workdir, exist_ok=True)
    jpegs = os.path.join(a.workdir, "images")
    if not os.path.isdir(jpegs):
        make_images(jpegs, a.images)
    if a.native and not os.path.isdir(folder):
        make_preprocessed(jpegs, folder)
    weights = os.path.join(a.workdir, "resnet50_moco.pth.tar" if a.layout == "moco" else "resnet50_torchvision.pth")
    if not os.path.exists(weights):
        make_weights(weights, a.layout)
    n = sum(len(fs) for _, _, fs in os.walk(folder))
    tag = a.layout + ("_native" if a.native else "")
    ours_out = os.path.join(a.workdir, f"negstudy_{tag}.safetensors")
    theirs_out = os.path.join(a.workdir, f"torch_{tag}.safetensors")
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
    # images/s of the whole command, and of the embedding loop alone
    # (negstudy prints its own; PyTorch's is timed around its loop).
    ours, theirs, ours_loop, theirs_loop = [], [], [], []
    for r in range(a.rounds):
        t = time.perf_counter()
        done = subprocess.run([a.negstudy, "embed", "--checkpoint", weights, "--data", f"folder:{folder}",
                               "--out", ours_out] + (["--native-size"] if a.native else []),
                              check=True, env=env, capture_output=True, text=True)
        ours.append(n / (time.perf_counter() - t))
        ours_loop.append(float(done.stderr.split("images/s")[0].split("(")[-1]))
        t = time.perf_counter()
        torch_side = subprocess.run([sys.executable, __file__, "--workdir", a.workdir, "--layout", a.layout,
                                     "--threads", str(a.threads), "--torch-side", weights, theirs_out]
                                    + (["--native"] if a.native else []),
                                    check=True, capture_output=True, text=True)
        theirs.append(n / (time.perf_counter() - t))
        theirs_loop.append(n / float(torch_side.stdout.strip().splitlines()[-1]))
        print(f"round {r + 1}: whole command: negstudy {ours[-1]:.2f} images/s, PyTorch {theirs[-1]:.2f}, "
              f"ratio {ours[-1] / theirs[-1]:.2f}; embedding loop: {ours_loop[-1]:.2f} vs {theirs_loop[-1]:.2f}, "
              f"ratio {ours_loop[-1] / theirs_loop[-1]:.2f}")
        print("  negstudy: " + [l for l in done.stderr.splitlines() if l.startswith("embedded")][0])
    med = lambda v: sorted(v)[len(v) // 2]
    print(f"{n} images{' (pre-cropped PNG)' if a.native else ''}, ResNet-50 ({a.layout} layout), {a.threads} threads, "
          f"median of {a.rounds}: whole command negstudy {med(ours):.2f} images/s, PyTorch eager {med(theirs):.2f}: "
          f"ratio {med(ours) / med(theirs):.2f}; embedding loop {med(ours_loop):.2f} vs {med(theirs_loop):.2f}: "
          f"ratio {med(ours_loop) / med(theirs_loop):.2f}")

    import torch
    from safetensors.torch import load_file

    o, p = load_file(ours_out), load_file(theirs_out)
    scale = p["h"].abs().amax(dim=1)
    h_err = ((o["h"] - p["h"]).abs().amax(dim=1) / scale)
    z_err = (o["z"] - p["z"]).abs().amax(dim=1)
    print(f"agreement over {len(scale)} images: h max relative error per image: median {h_err.median():.2e}, "
          f"max {h_err.max():.2e}; z max |difference|: median {z_err.median():.2e}, max {z_err.max():.2e}; "
          f"worst image {int(h_err.argmax())}")


if __name__ == "__main__":
    main()
