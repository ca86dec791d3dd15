"""Can an encoder of a given shape tell the structures apart at all? A supervised probe.

The unsupervised model's latents identify the structure of an image far less often than the images
allow (``oracle_classes.py``). This probe asks whether the encoder's architecture is the limit: encoders
of the shapes the model uses are trained *with the labels* (cross-entropy, the same encoder input as the
model: the shift-centred, CTF phase-flipped transform) to name each image's structure, on 90% of a
mixture's images, and scored on those and on the held-out 10%. Variants: the ``many`` preset's MLP
encoder on the image alone; the same with the pose (rotation matrix) as a second input; the same trained on
randomly rotated copies of its inputs (in-plane rotation: more views of each structure); a wider, deeper
MLP on the image alone; the ``unet`` encoder's convolutional path; the ``lift`` encoder's input (the
image's transform placed in 3D at its pose, radius 8 Fourier pixels: ``core/models/lift.py``) through the
same MLP.

    python benchmarks/studies/encoder_probe.py benchmarks/work/scaling-d32/mix0100 --run many/run \
        --out benchmarks/results/scaling-d32/encoder-probe-100.json

Every variant's result is written as it finishes; finished variants are skipped on a rerun.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
from compare import write_json  # noqa: E402
from napari_cryohype.core.latents import batch_inputs  # noqa: E402
from napari_cryohype.core.models.augment import random_angles, rotate_in_plane  # noqa: E402
from napari_cryohype.core.models.encoders import UNetEncoder  # noqa: E402
from napari_cryohype.core.models.lift import SliceLift  # noqa: E402
from napari_cryohype.core.run import Run  # noqa: E402


class Probe(nn.Module):
    """MLP classifier: encoder image (B, D, D) [+ rotation (B, 3, 3)] -> logits (B, n_classes)."""

    def __init__(self, D: int, n_classes: int, hidden: int, mid_layers: int, pose: bool, lift: float = 0,
                 image: bool = True):
        """``lift``: also read the image's slice placed in 3D (radius in Fourier pixels; 0: no);
        ``image``: read the image itself."""
        super().__init__()
        self.inp = nn.Linear(D * D, hidden) if image else None
        self.lift = SliceLift(D, lift) if lift else None
        self.lifted = nn.Linear(self.lift.n_voxels, hidden) if lift else None
        self.mid = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(mid_layers))
        self.pose = nn.Sequential(nn.Linear(9, 256), nn.ReLU(), nn.Linear(256, hidden)) if pose else None
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x: Tensor, rot: Tensor) -> Tensor:
        pre = 0
        if self.inp is not None:
            pre = self.inp(x.flatten(1))
        if self.lift is not None:
            pre = pre + self.lifted(self.lift(x, rot))
        if self.pose is not None:
            pre = pre + self.pose(rot.flatten(1))
        h = torch.relu(pre)
        for lin in self.mid:
            h = torch.relu(lin(h) + h)
        return self.out(h)


class ConvProbe(nn.Module):
    """The ``unet`` encoder's contracting path (``UNetEncoder``) with a linear classifier on top."""

    def __init__(self, D: int, n_classes: int, hidden: int, **_):
        super().__init__()
        self.features = UNetEncoder(D, 1, width=hidden, encoder_hidden=1024)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x: Tensor, rot: Tensor) -> Tensor:
        return self.out(torch.relu(self.features(x)[:, 0]))


VARIANTS = {"mlp_image": dict(hidden=1024, mid_layers=2, pose=False),
            "mlp_image_pose": dict(hidden=1024, mid_layers=2, pose=True),
            "mlp_image_inplane": dict(hidden=1024, mid_layers=2, pose=False, augment=True),
            "wide_image": dict(hidden=2048, mid_layers=4, pose=False),
            "unet_image": dict(hidden=128, conv=True),
            "lift8": dict(hidden=1024, mid_layers=2, pose=False, lift=8, image=False)}


def encoder_inputs(run_dir: Path) -> tuple[Tensor, Tensor]:
    """(encoder images (N, D, D), rotations (N, 3, 3)) of every image of a trained run's dataset."""
    run = Run.open(run_dir)
    model = run.load_model("cpu")
    xs, rots = [], []
    with torch.no_grad():
        for batch in DataLoader(run.dataset(), batch_size=256, shuffle=False):
            xs.append(batch_inputs(model, batch, "cpu"))
            rots.append(batch["rot"])
    return torch.cat(xs), torch.cat(rots)


def train_probe(x: Tensor, rot: Tensor, labels: Tensor, train: Tensor, held: Tensor, spec: dict,
                epochs: int, seed: int) -> dict:
    """Train one probe with Adam (1e-3, cosine) and return its accuracies and time."""
    torch.manual_seed(seed)
    augment = bool(spec.get("augment"))
    shape = {k: v for k, v in spec.items() if k not in ("augment", "conv")}
    probe = (ConvProbe if spec.get("conv") else Probe)(x.shape[-1], int(labels.max()) + 1, **shape)
    opt = torch.optim.Adam(probe.parameters(), lr=1e-3)
    batch = 64
    steps = epochs * math.ceil(len(train) / batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    start = time.perf_counter()
    for _ in range(epochs):
        for idx in train[torch.randperm(len(train))].split(batch):
            images = rotate_in_plane(x[idx], random_angles(len(idx), "cpu")) if augment else x[idx]
            loss = nn.functional.cross_entropy(probe(images, rot[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()

    @torch.no_grad()
    def accuracy(idx: Tensor) -> float:
        pred = torch.cat([probe(x[i], rot[i]).argmax(1) for i in idx.split(1024)])
        return float((pred == labels[idx]).float().mean())

    return {**spec, "epochs": epochs, "train_accuracy": accuracy(train), "held_out_accuracy": accuracy(held),
            "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("mixture", type=Path, help="a mixture folder (data/labels.npy)")
    p.add_argument("--run", default="many/run", help="a trained run of ours in it (for its data and normalisation)")
    p.add_argument("--out", type=Path, required=True, help="JSON record")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--variants", type=lambda s: s.split(","), default=list(VARIANTS))
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    record = json.loads(a.out.read_text()) if a.out.is_file() else {
        "command": ["python", "benchmarks/studies/encoder_probe.py", *sys.argv[1:]], "variants": {}}
    x, rot = encoder_inputs(a.mixture / a.run)
    labels = torch.as_tensor(np.load(a.mixture / "data" / "labels.npy"))
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(a.seed))
    held, train = order[:len(order) // 10], order[len(order) // 10:]
    record.update(n_images=len(labels), n_structures=int(labels.max()) + 1, held_out=len(held))
    for name in a.variants:
        if name not in record["variants"]:
            record["variants"][name] = {**train_probe(x, rot, labels, train, held, VARIANTS[name], a.epochs, a.seed),
                                        "command": ["python", "benchmarks/studies/encoder_probe.py", *sys.argv[1:]]}
            print(name, record["variants"][name], flush=True)
            write_json(a.out, record)


if __name__ == "__main__":
    main()
