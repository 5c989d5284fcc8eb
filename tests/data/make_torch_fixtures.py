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


if __name__ == "__main__":
    main()
