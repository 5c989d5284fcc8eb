"""Fixtures for tests/torch_weights.rs: negstudy's encoders against PyTorch.

Run once, with PyTorch, torchvision and safetensors installed in a venv
outside the repository (`pip install torch torchvision safetensors`; this
session used torch 2.15.0, torchvision 0.29.2; never in CI), from the
repository root:

    python tests/data/make_torch_fixtures.py

It needs `tests/data/torch/negstudy_export.safetensors`, written by

    negstudy train --name fixture --arch resnet-narrow --epochs 1 --batch-size 64 \
        --queue-size 256 --train-limit 512 --runs fixture-runs --quiet
    negstudy export --checkpoint fixture-runs/fixture \
        --out tests/data/torch/negstudy_export.safetensors

and writes, with eval-mode outputs h (pooled backbone features) and
z (L2-normalised head output) on the same fixed inputs x:

* `negstudy_export_torch.safetensors` — x, h, z of torchvision's ResNet
  (narrowed as below) holding negstudy's exported weights (strict load):
  negstudy → PyTorch.
* `torch_narrow.safetensors` — a state dict made in PyTorch (random
  weights; BatchNorm statistics warmed on random batches, so they are not
  0 and 1) in torchvision naming, with its `num_batches_tracked`:
  PyTorch → negstudy.
* `torch_narrow_outputs.safetensors` — x, h, z of that model.
* `torch_narrow.pth` — the same state dict as `torch.save` writes it
  (torchvision layout: no prefix).
* `tiny_state.pth` — a three-tensor state dict (f32, f16, i64), the fuzz
  seed of `fuzz/fuzz_targets/torch_checkpoint.rs`.
* `moco_narrow.pth.tar` — the official MoCo v2 checkpoint layout:
  `epoch`, `arch`, `state_dict` with `module.encoder_q.*` (that model),
  `module.encoder_k.*` (a perturbed copy), `module.queue`,
  `module.queue_ptr`, and `optimizer` (SGD state with momentum buffers);
  `moco_narrow_key_outputs.safetensors` — x, h, z of the key encoder.

* `torch_bottleneck.safetensors` — a ResNet of a shape negstudy does not
  train: ImageNet stem (7x7 stride-2 conv1, 3x3 max-pool) of width 8,
  bottleneck blocks [1, 2, 1, 1] with 2 groups in the 3x3 convolutions
  (ResNeXt-style; widths 8-64, outputs 32-256), 3 input channels, and a
  classifier head (a single `fc`, 10 classes); `torch_bottleneck_outputs.safetensors`
  holds x (2x3x64x64), h, `z` = normalize(h) (the head left out, negstudy's
  default) and `z_fc` = normalize(fc(h)) (`--head fc`).
* `solo_narrow.ckpt` — solo-learn's Lightning layout: `epoch`,
  `state_dict` with `backbone.*` (a headless narrow ResNet on 3 channels:
  fc = Identity) and `projector.*`; `solo_narrow_outputs.safetensors`
  holds x, h and z = normalize(h).
* `images/` — real photographs (scikit-image's `astronaut`, `coffee`,
  `chelsea`, `rocket`: public domain or CC0), reduced, as PNG (RGB, a grey
  one and an RGBA one), in class folders named by wnids, and
  `images_torchvision.safetensors`: for each image (sorted order, as
  `ImageFolder` lists them, which loads it as PIL RGB), the u8 pixels after
  torchvision's standard evaluation transform's `Resize(256)` and
  `CenterCrop(224)` as `pixels` [N, 224, 224, 3], after `Resize(40)`,
  `CenterCrop(32)` (a downscale by up to 10x, where antialiasing matters)
  as `pixels_small`, `label`, and `x0`: the first image all the way through
  `ToTensor()` and `Normalize(ImageNet)` [1, 3, 224, 224].

The way back (import, then export again) is checked in Rust: the re-exported
tensors must equal `torch_narrow.safetensors` bit for bit, so PyTorch would
load exactly the weights it made.
"""

import os

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from safetensors.torch import load_file, save_file

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch")


def narrow_resnet(in_channels=1, widths=(16, 32, 64, 128), blocks=(1, 1, 1, 1), head=128):
    """negstudy's `resnet-narrow` in torchvision's classes and names: the
    CIFAR stem (3x3 stride-1 conv1, no max-pool), basic blocks, and MoCo v2's
    MLP head as `fc` (fc.0, ReLU, fc.2). The same recipe with widths
    (64, 128, 256, 512) and blocks (2, 2, 2, 2) is negstudy's `resnet18`."""
    block = torchvision.models.resnet.BasicBlock
    m = torchvision.models.resnet.ResNet(block, list(blocks))
    m.inplanes = widths[0]
    m.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
    m.bn1 = nn.BatchNorm2d(widths[0])
    m.maxpool = nn.Identity()
    m.layer1 = m._make_layer(block, widths[0], blocks[0])
    m.layer2 = m._make_layer(block, widths[1], blocks[1], stride=2)
    m.layer3 = m._make_layer(block, widths[2], blocks[2], stride=2)
    m.layer4 = m._make_layer(block, widths[3], blocks[3], stride=2)
    d = widths[3] * block.expansion
    m.fc = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, head))
    return m


@torch.no_grad()
def outputs(m, x):
    """Eval-mode h (global average pool of layer4) and z = normalize(fc(h))."""
    m.eval()
    y = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    y = m.layer4(m.layer3(m.layer2(m.layer1(y))))
    h = torch.flatten(m.avgpool(y), 1)
    z = F.normalize(m.fc(h), dim=1)
    return {"x": x.contiguous(), "h": h.contiguous(), "z": z.contiguous()}


def main():
    torch.manual_seed(0)
    x = torch.randn(4, 1, 28, 28)

    exported = os.path.join(HERE, "negstudy_export.safetensors")
    m = narrow_resnet()
    m.load_state_dict(load_file(exported), strict=True)
    save_file(outputs(m, x), os.path.join(HERE, "negstudy_export_torch.safetensors"))

    made = narrow_resnet()
    made.train()
    with torch.no_grad():
        for _ in range(20):
            made(torch.randn(32, 1, 28, 28) * 2.0 + 0.5)
    state = {k: v.contiguous() for k, v in made.state_dict().items()}
    save_file(state, os.path.join(HERE, "torch_narrow.safetensors"))
    save_file(outputs(made, x), os.path.join(HERE, "torch_narrow_outputs.safetensors"))
    torch.save(made.state_dict(), os.path.join(HERE, "torch_narrow.pth"))

    torch.save(
        {"w": torch.randn(2, 3), "h": torch.randn(4).half(), "n": torch.tensor(7)},
        os.path.join(HERE, "tiny_state.pth"),
    )

    key = narrow_resnet()
    key.load_state_dict(made.state_dict())
    with torch.no_grad():
        for p in key.parameters():
            p.add_(0.01 * torch.randn_like(p))
    # The optimizer state a trained checkpoint carries (momentum buffers),
    # without changing the weights saved above.
    opt = torch.optim.SGD(made.parameters(), lr=0.03, momentum=0.9, weight_decay=1e-4)
    for p in made.parameters():
        opt.state[p]["momentum_buffer"] = torch.ones_like(p)
    state_dict = {f"module.encoder_q.{k}": v for k, v in state.items()}
    state_dict.update({f"module.encoder_k.{k}": v.contiguous() for k, v in key.state_dict().items()})
    state_dict["module.queue"] = F.normalize(torch.randn(128, 256), dim=0)
    state_dict["module.queue_ptr"] = torch.zeros(1, dtype=torch.long)
    torch.save(
        {"epoch": 200, "arch": "resnet-narrow", "state_dict": state_dict, "optimizer": opt.state_dict()},
        os.path.join(HERE, "moco_narrow.pth.tar"),
    )
    save_file(outputs(key, x), os.path.join(HERE, "moco_narrow_key_outputs.safetensors"))


def bottleneck_resnet():
    """A small ResNeXt-style model in torchvision's classes: ImageNet stem
    of width 8, bottleneck [1, 2, 1, 1], 2 groups, a 10-way classifier fc."""
    block = torchvision.models.resnet.Bottleneck
    m = torchvision.models.resnet.ResNet(block, [1, 2, 1, 1], num_classes=10, groups=2, width_per_group=32)
    m.inplanes = 8
    m.conv1 = nn.Conv2d(3, 8, 7, 2, 3, bias=False)
    m.bn1 = nn.BatchNorm2d(8)
    m.layer1 = m._make_layer(block, 8, 1)
    m.layer2 = m._make_layer(block, 16, 2, stride=2)
    m.layer3 = m._make_layer(block, 32, 1, stride=2)
    m.layer4 = m._make_layer(block, 64, 1, stride=2)
    m.fc = nn.Linear(64 * block.expansion, 10)
    return m


def warm(m, shape, steps=20):
    """Random weights and BatchNorm statistics warmed on random batches
    (so they are not 0 and 1), then eval mode."""
    m.train()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
        for _ in range(steps):
            m(torch.randn(*shape) * 2.0 + 0.5)
    m.eval()
    return m


def more_shapes():
    torch.manual_seed(1)
    m = warm(bottleneck_resnet(), (16, 3, 64, 64))
    x = torch.randn(2, 3, 64, 64)
    out = outputs_with(m, x, head=m.fc)
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, os.path.join(HERE, "torch_bottleneck.safetensors"))
    save_file(out, os.path.join(HERE, "torch_bottleneck_outputs.safetensors"))


def solo_learn():
    """solo-learn's checkpoint layout as its CIFAR runs write it
    (`solo/methods/base.py`): the backbone's fc is Identity, its stem is
    replaced by `Conv2d(3, width, kernel_size=3, stride=1, padding=2,
    bias=False)` and its max-pool by Identity; a momentum method also saves
    `momentum_backbone.*` (and projectors, and the online classifier). Here
    with negstudy's narrow widths so the file stays small."""
    torch.manual_seed(2)

    def solo_backbone():
        m = narrow_resnet(in_channels=3)
        m.fc = nn.Identity()
        m.conv1 = nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=2, bias=False)
        return m

    backbone = warm(solo_backbone(), (16, 3, 32, 32))
    momentum = solo_backbone()
    momentum.load_state_dict(backbone.state_dict())
    with torch.no_grad():
        for p in momentum.parameters():
            p.add_(0.02 * torch.randn_like(p))
    momentum.eval()
    projector = nn.Sequential(nn.Linear(128, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 64))
    classifier = nn.Linear(128, 10)
    x = torch.randn(3, 3, 32, 32)
    state = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}
    state.update({f"projector.{k}": v for k, v in projector.state_dict().items()})
    state.update({f"momentum_backbone.{k}": v for k, v in momentum.state_dict().items()})
    state.update({f"momentum_projector.{k}": v for k, v in projector.state_dict().items()})
    state.update({f"classifier.{k}": v for k, v in classifier.state_dict().items()})
    torch.save({"epoch": 100, "global_step": 1000, "state_dict": state}, os.path.join(HERE, "solo_narrow.ckpt"))
    save_file(outputs_with(backbone, x, head=None), os.path.join(HERE, "solo_narrow_outputs.safetensors"))
    save_file(outputs_with(momentum, x, head=None), os.path.join(HERE, "solo_narrow_momentum_outputs.safetensors"))


def hostile():
    """Two small files that are valid PyTorch but must be refused with a
    clear error: `hostile_stride0.pth`, whose conv1.weight is a view that
    repeats one stored value (stride 0) over 2^22 x 1 x 3 x 3 elements
    (151 MB declared in about a kilobyte), and `int8_conv1.pth`, a state dict
    whose conv1.weight is stored as int8."""
    state = {"conv1.weight": torch.zeros(1).expand(1 << 22, 1, 3, 3)}
    torch.save(state, os.path.join(HERE, "hostile_stride0.pth"))
    state = {"conv1.weight": torch.ones(16, 1, 3, 3, dtype=torch.int8), "bn1.weight": torch.ones(16)}
    torch.save(state, os.path.join(HERE, "int8_conv1.pth"))


# Crops of the astronaut photograph (above) in four aspect ratios, (left,
# top, right, bottom): Pillow resizes a tall image's height first and
# everything else width first, and rounds to u8 between the two passes.
ASPECTS = [
    ("tall", (100, 0, 190, 300)),
    ("wide", (0, 100, 300, 190)),
    ("square", (70, 70, 230, 230)),
    ("tallish", (100, 50, 200, 180)),
]


def aspect_photos():
    """`aspect/<name>.png` and `aspect_torchvision.safetensors`: for each,
    torchvision's `Resize(64)` as u8 (`pixels_<name>`), and the bottleneck
    model above (ImageNet stem) on `Resize(64)`, `CenterCrop(56)`,
    `ToTensor()`, `Normalize(ImageNet)`: its input `x_<name>` and `h_<name>`."""
    import numpy as np
    from PIL import Image
    from torchvision import transforms

    src = Image.open(os.path.join(HERE, "images", "n09835506", "astronaut_0.png")).convert("RGB")
    root = os.path.join(HERE, "aspect")
    os.makedirs(root, exist_ok=True)
    m = bottleneck_resnet()
    m.load_state_dict(load_file(os.path.join(HERE, "torch_bottleneck.safetensors")))
    m.eval()
    resize = transforms.Resize(64)
    to_input = transforms.Compose([
        transforms.CenterCrop(56),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    out = {}
    for name, box in ASPECTS:
        img = src.crop(box)
        img.save(os.path.join(root, f"{name}.png"))
        img = Image.open(os.path.join(root, f"{name}.png")).convert("RGB")
        small = resize(img)
        out[f"pixels_{name}"] = torch.from_numpy(np.asarray(small).copy())
        x = to_input(small).unsqueeze(0)
        out[f"x_{name}"] = x.contiguous()
        out[f"h_{name}"] = outputs_with(m, x, head=None)["h"]
    save_file(out, os.path.join(HERE, "aspect_torchvision.safetensors"))


@torch.no_grad()
def outputs_with(m, x, head):
    """Eval-mode h, z = normalize(h), and z_fc = normalize(head(h))."""
    m.eval()
    y = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    y = m.layer4(m.layer3(m.layer2(m.layer1(y))))
    h = torch.flatten(m.avgpool(y), 1)
    out = {"x": x.contiguous(), "h": h.contiguous(), "z": F.normalize(h, dim=1).contiguous()}
    if head is not None:
        out["z_fc"] = F.normalize(head(h), dim=1).contiguous()
    return out


# Real photographs from scikit-image's data folder (public domain / CC0),
# with the wnid folder each goes in and how it is stored.
PHOTOS = [
    ("astronaut", "n09835506", "RGB", (300, 300)),
    ("coffee", "n07920052", "RGB", (400, 267)),
    ("chelsea", "n02123045", "L", (451, 300)),
    ("rocket", "n04099969", "RGBA", (214, 320)),
    ("coffee", "n07920052", "RGB", (180, 120)),
]


def images():
    import numpy as np
    import skimage.data
    from PIL import Image
    from torchvision import transforms

    root = os.path.join(HERE, "images")
    for i, (name, wnid, mode, size) in enumerate(PHOTOS):
        img = Image.fromarray(getattr(skimage.data, name)()).convert(mode)
        img = img.resize(size, Image.LANCZOS)
        os.makedirs(os.path.join(root, wnid), exist_ok=True)
        img.save(os.path.join(root, wnid, f"{name}_{i}.png"))
    ds = torchvision.datasets.ImageFolder(root)
    norm = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    big = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])
    small = transforms.Compose([transforms.Resize(40), transforms.CenterCrop(32)])
    u8 = lambda img: torch.from_numpy(np.asarray(img).copy())
    save_file(
        {
            "pixels": torch.stack([u8(big(img)) for img, _ in ds]).contiguous(),
            "pixels_small": torch.stack([u8(small(img)) for img, _ in ds]).contiguous(),
            "x0": norm(transforms.ToTensor()(big(ds[0][0]))).unsqueeze(0).contiguous(),
            "label": torch.tensor([y for _, y in ds.samples]),
        },
        os.path.join(HERE, "images_torchvision.safetensors"),
    )


if __name__ == "__main__":
    import sys

    # `more`: only the fixtures added after the first set; `trust2`: only
    # solo-learn's layout and the aspect-ratio photographs (leaves the
    # others, and their random draws, as they were committed).
    mode = sys.argv[1:]
    if mode == ["trust2"]:
        solo_learn()
        aspect_photos()
        hostile()
    else:
        if mode != ["more"]:
            main()
        more_shapes()
        images()
        solo_learn()
        aspect_photos()
        hostile()
