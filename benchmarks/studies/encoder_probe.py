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
same MLP. ``template_trained`` reads the ``ctf`` encoder input's two lifted channels (the transform times
the CTF, the CTF squared) through 3D classification's
least-squares score against one 3D template T_j per structure, ``<lift(c y), T_j> - <lift(c^2), T_j^2> / 2``,
as its logits: a 3D classification whose maps are learned from the labels by gradient. ``template_mean``
sets the same layer's templates without training: each structure's lifted c y summed over its training
images over its lifted c^2 plus 1 (the backprojection, as ``core/backproject.py`` makes a map), so that the
same score is asked of maps averaged from the images and of maps fitted to name them. ``template_l2_*`` fits
the templates with an L2 penalty of that weight on them (for a large weight the fitted templates turn towards
the class sums); ``template_noise`` with fresh Gaussian noise (std 1) added to c y each time an image is read.

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
from napari_cryohype.core.classify import scores  # noqa: E402
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


class TemplateProbe(nn.Module):
    """3D classification's score against one learned template per structure: encoder images (B, 2, D, D)
    (the ``ctf`` input: c y, c^2) at rotations (B, 3, 3) -> logits (B, n_classes), the scores times a
    learned scale plus a bias."""

    def __init__(self, D: int, n_classes: int, lift: float):
        super().__init__()
        self.lift = SliceLift(D, lift)
        self.templates = nn.Parameter(torch.randn(n_classes, self.lift.n_voxels) * 0.01)
        self.scale = nn.Parameter(torch.ones(()))
        self.bias = nn.Parameter(torch.zeros(n_classes))

    def forward(self, x: Tensor, rot: Tensor) -> Tensor:
        a, b = self.lift(x[:, 0], rot), self.lift(x[:, 1], rot)
        return self.scale * scores(a, b, self.templates) + self.bias


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
            "lift8": dict(hidden=1024, mid_layers=2, pose=False, lift=8, image=False),
            "template_trained": dict(lift=8, input="ctf", kind="template"),
            "template_mean": dict(lift=8, input="ctf", kind="template", mean=True),
            "template_l2_1e-4": dict(lift=8, input="ctf", kind="template", l2=1e-4),
            "template_l2_1e-3": dict(lift=8, input="ctf", kind="template", l2=1e-3),
            "template_l2_1e-2": dict(lift=8, input="ctf", kind="template", l2=1e-2),
            "template_l2_1e-1": dict(lift=8, input="ctf", kind="template", l2=1e-1),
            "template_noise": dict(lift=8, input="ctf", kind="template", input_noise=1.0)}


def make_probe(spec: dict, D: int, n_classes: int) -> nn.Module:
    """The probe a variant names."""
    training = ("augment", "conv", "input", "kind", "mean", "l2", "input_noise")   # not the probe's shape
    shape = {k: v for k, v in spec.items() if k not in training}
    if spec.get("kind") == "template":
        return TemplateProbe(D, n_classes, **shape)
    return (ConvProbe if spec.get("conv") else Probe)(D, n_classes, **shape)


def encoder_inputs(run_dir: Path, kind: str | None = None) -> tuple[Tensor, Tensor]:
    """(encoder images (N, D, D) or (N, C, D, D), rotations (N, 3, 3)) of every image of a trained run's
    dataset; ``kind``: an encoder input other than the run's (``SliceGeometry.encoder_input``)."""
    run = Run.open(run_dir)
    model = run.load_model("cpu")
    if kind:
        model.cfg = {**model.cfg, "encoder_input": kind}
    xs, rots = [], []
    with torch.no_grad():
        for batch in DataLoader(run.dataset(), batch_size=256, shuffle=False):
            xs.append(batch_inputs(model, batch, "cpu"))
            rots.append(batch["rot"])
    return torch.cat(xs), torch.cat(rots)


@torch.no_grad()
def accuracy(probe: nn.Module, x: Tensor, rot: Tensor, labels: Tensor, idx: Tensor) -> float:
    """The share of the images ``idx`` whose structure the probe names."""
    pred = torch.cat([probe(x[i], rot[i]).argmax(1) for i in idx.split(1024)])
    return float((pred == labels[idx]).float().mean())


@torch.no_grad()
def mean_templates(probe: TemplateProbe, x: Tensor, rot: Tensor, labels: Tensor, train: Tensor,
                   held: Tensor) -> dict:
    """Set ``probe``'s templates to each structure's backprojection from its training images (lifted c y
    summed over lifted c^2 + 1) and score it (the scale and bias are left at 1 and 0)."""
    start = time.perf_counter()
    n = int(labels.max()) + 1
    num = torch.zeros(n, probe.lift.n_voxels)
    den = torch.zeros(n, probe.lift.n_voxels)
    for idx in train.split(1024):
        num.index_add_(0, labels[idx], probe.lift(x[idx, 0], rot[idx]))
        den.index_add_(0, labels[idx], probe.lift(x[idx, 1], rot[idx]))
    probe.templates.copy_(num / (den + 1.0))
    return {"train_accuracy": accuracy(probe, x, rot, labels, train),
            "held_out_accuracy": accuracy(probe, x, rot, labels, held),
            "seconds": time.perf_counter() - start}


def first_layer(probe: nn.Module) -> Tensor:
    """The weights that read the input: a template probe's templates, else the first linear layer's."""
    if isinstance(probe, TemplateProbe):
        return probe.templates
    return (probe.lifted if probe.lifted is not None else probe.inp).weight


def train_probe(x: Tensor, rot: Tensor, labels: Tensor, train: Tensor, held: Tensor, spec: dict,
                epochs: int, seed: int) -> dict:
    """Train one probe with Adam (1e-3, cosine) and return its accuracies and time."""
    torch.manual_seed(seed)
    augment = bool(spec.get("augment"))
    l2, noise = float(spec.get("l2", 0.0)), float(spec.get("input_noise", 0.0))
    probe = make_probe(spec, x.shape[-1], int(labels.max()) + 1)
    if spec.get("mean"):
        return {**spec, **mean_templates(probe, x, rot, labels, train, held)}
    opt = torch.optim.Adam(probe.parameters(), lr=1e-3)
    batch = 64
    steps = epochs * math.ceil(len(train) / batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    start = time.perf_counter()
    for _ in range(epochs):
        for idx in train[torch.randperm(len(train))].split(batch):
            images = rotate_in_plane(x[idx], random_angles(len(idx), "cpu")) if augment else x[idx]
            if noise:   # fresh noise on the c y channel each time an image is read
                images = torch.cat([images[:, :1] + noise * torch.randn_like(images[:, :1]), images[:, 1:]], 1)
            loss = nn.functional.cross_entropy(probe(images, rot[idx]), labels[idx])
            if l2:
                loss = loss + l2 * first_layer(probe).square().sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return {**spec, "epochs": epochs, "train_accuracy": accuracy(probe, x, rot, labels, train),
            "held_out_accuracy": accuracy(probe, x, rot, labels, held),
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
    inputs = {}
    labels = torch.as_tensor(np.load(a.mixture / "data" / "labels.npy"))
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(a.seed))
    held, train = order[:len(order) // 10], order[len(order) // 10:]
    record.update(n_images=len(labels), n_structures=int(labels.max()) + 1, held_out=len(held))
    for name in a.variants:
        if name not in record["variants"]:
            kind = VARIANTS[name].get("input")
            if kind not in inputs:
                inputs[kind] = encoder_inputs(a.mixture / a.run, kind)
            x, rot = inputs[kind]
            record["variants"][name] = {**train_probe(x, rot, labels, train, held, VARIANTS[name], a.epochs, a.seed),
                                        "command": ["python", "benchmarks/studies/encoder_probe.py", *sys.argv[1:]]}
            print(name, record["variants"][name], flush=True)
            write_json(a.out, record)


if __name__ == "__main__":
    main()
