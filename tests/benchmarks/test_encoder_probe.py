"""The supervised probe's template layer (benchmarks/studies/encoder_probe.py): 3D classification's score."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "studies"))
import encoder_probe  # noqa: E402
from napari_cryohype.core.models.views import random_rotations  # noqa: E402


def _images(probe, maps, labels, rots, ctf):
    """Noise-free ``ctf`` encoder inputs (B, 2, D, D): each image's slice of its structure's lifted map (the
    lift's adjoint), times its CTF, beside the CTF squared."""
    x = torch.zeros(len(labels), ctf.shape[1], ctf.shape[2], requires_grad=True)
    (probe.lift(x, rots) * maps[labels]).sum().backward()
    return torch.stack([ctf * x.grad, ctf * ctf], dim=1)


def test_maps_averaged_from_labelled_images_name_new_images():
    torch.manual_seed(0)
    D, n = 16, 4
    probe = encoder_probe.make_probe(encoder_probe.VARIANTS["template_mean"], D, n)
    # alike structures of different power, so that the score's energy term decides
    base = torch.randn(probe.lift.n_voxels)
    maps = torch.tensor([1.0, 1.5, 2.0, 3.0])[:, None] * base + 0.3 * torch.randn(n, probe.lift.n_voxels)
    labels = torch.arange(1000) % n
    rots = random_rotations(1000, "cpu")
    ctf = 0.3 + torch.rand(1000, D, D)
    x = _images(probe, maps, labels, rots, ctf).detach()
    train, held = torch.arange(800), torch.arange(800, 1000)
    result = encoder_probe.mean_templates(probe, x, rots, labels, train, held)
    assert result["held_out_accuracy"] > 0.95
    # the correlation alone (no energy term) prefers the most powerful map
    a = probe.lift(x[held, 0], rots[held])
    assert (a @ probe.templates.T).argmax(1).eq(labels[held]).float().mean() < 0.5
