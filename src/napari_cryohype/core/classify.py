"""3D classification with the poses fixed, seeded by clusters: expectation–maximisation over the images.

The comparison is made where the classes differ most and the maps are cheapest: a small 3D grid of the low
frequencies (within ``radius``, a fraction of Nyquist), one voxel a Fourier pixel, as the lift encoder's
(:class:`~napari_cryohype.core.models.lift.SliceLift`). Each image's centred Hartley transform ``y`` (the
real-space window applied, its shift undone) times its CTF ``c``, and ``c^2``, are placed there at the image's
pose with trilinear weights. Class ``k``'s map is the backprojection of its images,
``T_k = sum_i w_ik lift(c y)_i / (sum_i w_ik lift(c^2)_i + reg)``, and image ``i``'s score against it is

    s_ik = <lift(c y)_i, T_k> - <lift(c^2)_i, T_k^2> / 2,

so that ``|y - c t_k|^2 ~ |y|^2 - 2 s_ik`` with ``t_k`` the map at the image's points. The cross term is the
slice's exactly (placing is the transpose of trilinear sampling); the second is the CTF-weighted slice of the
squared map, which exceeds the square of the slice by the map's variance over each point's 8 neighbouring
voxels: its roughness, large where noise from few images made it. On the development mixture of 100 that
form classifies better than the squared slice (adjusted Rand index 0.69 against 0.63 from the same seeds,
``docs/benchmarks.md``). Over ``sigma^2``, the noise variance per value estimated from the images' residuals
against their best class, the score is the log-likelihood up to a constant.

By default (``soft``) each image adds to every class's next map in proportion to its posterior there, its
likelihood raised to the power ``soft`` (below 1: a flatter posterior than the white-noise model's); with
``soft=None``, to its best class only (hard assignment). Both steps are done in one pass over the images per
iteration (each batch is scored against the maps of the previous iteration and added to the next ones), until
no more than ``tol`` of the images change their likeliest class. A class that loses all its images stays empty.

This is what a single image cannot learn alone and a map knows: at 100 structures, a trained encoder names an
image's structure less often than the least-squares rule against the true maps does
(``benchmarks/results/scaling-d32/oracle.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from napari_cryohype.core.backproject import DEFAULT_REG, dataset_batches
from napari_cryohype.core.ctf import ctf_from_table
from napari_cryohype.core.models.lift import SliceLift
from napari_cryohype.core.models.slices import SliceGeometry

#: Fourier radius of the comparison, as a fraction of Nyquist (D/2 pixels)
DEFAULT_RADIUS = 0.5
#: most iterations after the seeds' maps
DEFAULT_ITERATIONS = 20
#: the power of each image's likelihood in its class posterior (None: hard assignment)
DEFAULT_SOFT: float | None = 0.5


@dataclass
class Classification:
    """labels (N,): each image's class (the seeds' ids); changed: how many images changed class at each
    iteration; margin (N,) float32: the log-likelihood ratio, in nats, of each image's class over its
    second-best (None when nothing was classified): the score difference over ``sigma^2``, the mean squared
    residual per value of the images against their best class (white noise assumed). 3 nats: the image is
    e^3 = 20 times likelier in its class than in the next. Each image is part of its own class's map, which
    raises its margin where a class holds only tens of images."""
    labels: np.ndarray
    changed: list[int] = field(default_factory=list)
    margin: np.ndarray | None = None


class ClassGrid:
    """Images placed in the comparison grid: ``D`` the box (pixels), ``radius_px`` the compared disk (Fourier
    pixels). Keeps only the voxels the disk's points can reach (``n_voxels``)."""

    def __init__(self, D: int, radius_px: float, device: torch.device):
        self.geometry = SliceGeometry(D).to(device)
        self.lift = SliceLift(D, radius_px).to(device)
        s, c = self.lift.size, self.lift.half + 1
        v = torch.stack(torch.meshgrid(*[torch.arange(s, device=device) - c] * 3, indexing="ij"), -1)
        self.voxels = torch.nonzero(v.pow(2).sum(-1).flatten() <= (radius_px + math.sqrt(3)) ** 2 + 1e-6).squeeze(1)
        self.device = device

    @property
    def n_voxels(self) -> int:
        return int(self.voxels.numel())

    def place(self, images: np.ndarray, rots: np.ndarray, trans_px: np.ndarray, ctf: np.ndarray | None
              ) -> tuple[Tensor, Tensor, Tensor]:
        """A batch's lift(c y) (B, V) and lift(c^2) (B, V), and its energy |y|^2 (B,) over the compared points:
        images (B, D, D), rots (B, 3, 3), trans_px (B, 2) pixels, ctf (B, 9) table rows or None (no CTF)."""
        geo, dev, lift = self.geometry, self.device, self.lift
        img = torch.as_tensor(np.asarray(images), dtype=torch.float32, device=dev)
        rots = torch.as_tensor(np.asarray(rots), dtype=torch.float32, device=dev)
        full = geo.targets(img, torch.as_tensor(np.asarray(trans_px), dtype=torch.float32, device=dev))
        D = geo.D
        y = full.reshape(-1, D + 1, D + 1)[:, :-1, :-1].flatten(1)[:, lift.pixels]
        c = (torch.ones_like(y) if ctf is None else
             ctf_from_table(torch.as_tensor(np.asarray(ctf), dtype=torch.float32, device=dev), lift.coords[:, :2] / D))
        return (lift.place(c * y, rots)[:, self.voxels], lift.place(c * c, rots)[:, self.voxels],
                y.pow(2).sum(-1))


def scores(a: Tensor, b: Tensor, maps: Tensor) -> Tensor:
    """Least-squares scores (B, K) of lifted c y ``a`` (B, V) and lifted c^2 ``b`` (B, V) against class maps
    (K, V): ``<a, T_k> - <b, T_k^2> / 2``; larger is nearer."""
    return a @ maps.T - 0.5 * (b @ (maps * maps).T)


def classify(dataset, seeds: np.ndarray, *, iterations: int = DEFAULT_ITERATIONS, radius: float = DEFAULT_RADIUS,
             reg: float = DEFAULT_REG, tol: float = 0.001, soft: float | None = DEFAULT_SOFT,
             batch_size: int = 256, device: torch.device | str = "cpu",
             progress: Callable[[int, int, int], None] | None = None) -> Classification:
    """Refine ``seeds`` (N,) int class ids, one per image of ``dataset`` (a
    :class:`~napari_cryohype.core.io.dataset.ParticleDataset`, with its poses and CTF), by 3D classification
    with the poses fixed; ``radius``: the compared frequencies, a fraction of Nyquist. ``soft``: each image
    adds to every class's map in proportion to its posterior probability there, its likelihood raised to the
    power ``soft`` (1: the white-noise model's posterior; below 1, flatter); None: to its best class only (hard
    assignment). ``progress(iteration, images done, images)`` after each batch. Returns the refined classes
    (same ids: each image's likeliest) and their margins."""
    seeds = np.asarray(seeds)
    if seeds.shape != (len(dataset),):
        raise ValueError(f"need one class per image ({len(dataset)}), got shape {seeds.shape}")
    if not 0 < radius <= 1:
        raise ValueError(f"radius must be a fraction of Nyquist in (0, 1], got {radius}")
    if soft is not None and not soft > 0:
        raise ValueError(f"soft must be a power above 0 (or None: hard assignment), got {soft}")
    ids, labels = np.unique(seeds, return_inverse=True)
    if len(ids) < 2:
        return Classification(seeds.copy())
    n, K, device = len(dataset), len(ids), torch.device(device)
    grid = ClassGrid(dataset.D, radius * dataset.D / 2, device)
    maps, empty, result = None, None, Classification(ids[labels])
    for it in range(iterations + 1):
        num = torch.zeros(K, grid.n_voxels, dtype=torch.float64, device=device)
        den, mass = torch.zeros_like(num), torch.zeros(K, dtype=torch.float64, device=device)
        new, margin = labels.copy(), np.zeros(n, np.float32)
        residual = 0.0   # the images' squared distances from their best class, summed
        for idx, images, rots, trans, ctf in dataset_batches(dataset, np.arange(n), batch_size):
            a, b, energy = grid.place(images, rots, trans, ctf)
            if maps is None:
                weights = torch.nn.functional.one_hot(torch.as_tensor(labels[idx], device=device), K).float()
            else:
                s = scores(a, b, maps).masked_fill(empty, float("-inf"))
                top = s.topk(2, dim=1)
                distance = energy - 2 * top.values[:, 0]
                residual += float(distance.double().sum())
                new[idx] = top.indices[:, 0].cpu().numpy()
                margin[idx] = (top.values[:, 0] - top.values[:, 1]).cpu().numpy()
                if soft is None:
                    weights = torch.nn.functional.one_hot(top.indices[:, 0], K).float()
                else:
                    # this batch's noise variance per compared value; log-likelihood = score / sigma^2
                    noise_var = distance.mean().clamp_min(torch.finfo(distance.dtype).tiny) / len(grid.lift.pixels)
                    weights = torch.softmax(s * (soft / noise_var), dim=1)
            num += (weights.T @ a).double()
            den += (weights.T @ b).double()
            mass += weights.sum(0).double()
            if progress is not None:
                progress(it, idx[-1] + 1, n)
        if maps is not None:
            result.changed.append(int((new != labels).sum()))
            noise_var = max(residual / (n * len(grid.lift.pixels)), np.finfo(np.float32).tiny)
            labels, result.labels, result.margin = new, ids[new], margin / np.float32(noise_var)
            if result.changed[-1] <= tol * n:
                break
        maps, empty = (num / (den + reg)).float(), mass == 0
    return result
