"""3D classification with the poses fixed, seeded by clusters: expectation–maximisation over the images.

Each class's map is the Wiener-filtered backprojection of its images (:mod:`.backproject`). Each image is
compared with every class's central slice at the image's pose, times the image's CTF, within ``radius``
Fourier pixels, in least squares (white noise of the same level in every class): class ``k`` scores
``2 <y, c s_k> - |c s_k|^2``, with ``y`` the image's centred transform, ``c`` its CTF and ``s_k`` the slice
of map ``k``; over ``2 sigma^2`` that is the log-likelihood up to a constant, ``sigma^2`` the noise
variance, estimated from the images' residuals. By default each image goes to its best class only (hard
assignment); with ``soft`` a power, an image adds to its few likeliest classes' next maps in proportion to
its posterior there, the likelihood raised to that power (below 1: a flatter posterior than the white-noise
model's). Soft assignment recovers far more from poor seeds (tests), but from the trained preset's latent
clusters on the development mixture of 100 it gained little (adjusted Rand index 0.629 against 0.616) and
found fewer structures (76 against 81), so it is not the default (``docs/benchmarks.md``). Both steps are done
in one pass over the images per iteration (each batch is scored against the maps of the previous
iteration and added to the next ones), until no more than ``tol`` of the images change their likeliest
class. A class that loses all its images stays empty.

This is what a single image cannot learn alone and a map knows: at 100 structures, a trained encoder names an
image's structure less often than the least-squares rule against the true maps does
(``benchmarks/results/scaling-d32/oracle.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from napari_cryohype.core import lattice
from napari_cryohype.core.backproject import DEFAULT_REG, Backprojector, dataset_batches

#: Fourier radius of the comparison, as a fraction of Nyquist (D/2 pixels)
DEFAULT_RADIUS = 0.5
#: most iterations after the seeds' maps
DEFAULT_ITERATIONS = 10
#: soft assignment: the power of each image's likelihood in its class posterior (None: hard assignment)
DEFAULT_SOFT: float | None = None
#: soft assignment: how many of its likeliest classes an image adds to
DEFAULT_SPREAD = 3


@dataclass
class Classification:
    """labels (N,): each image's class (the seeds' ids); changed: how many images changed class at each
    iteration; margin (N,) float32: the log-likelihood ratio, in nats, of each image's class over its
    second-best (None when nothing was classified). For Gaussian noise of variance ``sigma^2`` per Hartley
    value it is the score difference over ``2 sigma^2``; ``sigma^2`` is estimated as the mean squared residual
    of the images against their own class's map (white noise assumed). 3 nats: the image is e^3 = 20 times
    likelier in its class than in the next. Each image is part of its own class's map, which raises its
    margin where a class holds only tens of images."""
    labels: np.ndarray
    changed: list[int] = field(default_factory=list)
    margin: np.ndarray | None = None


class _Pass:
    """One iteration's pass: scores batches against ``transforms`` (K, D, D, D) (None: keep the seeds) and
    accumulates the next maps."""

    def __init__(self, D: int, n_classes: int, transforms: Tensor | None, radius_px: float,
                 device: torch.device):
        self.bp = Backprojector(D, n_maps=n_classes, device=device)
        disk = self.bp.coords[self.bp.mask]
        self.keep = disk[:, :2].pow(2).sum(-1) * D * D <= radius_px**2 + 1e-6
        self.coords = disk[self.keep]
        self.transforms = transforms
        if transforms is not None:
            self.empty = transforms.flatten(1).abs().amax(1) == 0

    def observe(self, images: np.ndarray, trans_px: np.ndarray | None, ctf: np.ndarray | None
                ) -> tuple[Tensor, Tensor]:
        """The batch's centred transforms (B, M) on the disk and their CTF (B, M) (ones without a CTF)."""
        y, c = self.bp.observe(images, trans_px, ctf)
        return y, torch.ones_like(y) if c is None else c

    def scores(self, y: Tensor, c: Tensor, rots: Tensor) -> tuple[Tensor, Tensor]:
        """(B, K) least-squares scores (larger: nearer) of observed transforms ``y`` with CTF ``c`` (B, M) at
        ``rots`` against the maps, empty classes -inf, and the images' energy |y|^2 (B,) over the compared
        points: |y - c s_k|^2 = energy - score_k."""
        y, c = y[:, self.keep], c[:, self.keep]
        K, B = len(self.transforms), len(y)
        s = lattice.sample_volumes(self.transforms, (self.coords @ rots).reshape(-1, 3)).reshape(K, B, -1)
        pred = s * c
        out = 2 * torch.einsum("kbm,bm->bk", pred, y) - pred.pow(2).sum(-1).T
        return out.masked_fill(self.empty, float("-inf")), y.pow(2).sum(-1)

    def add(self, y: Tensor, c: Tensor, rots: Tensor, maps: Tensor, weights: Tensor | None = None) -> None:
        """Add the observed batch to the classes ``maps``: (B,) one class per image, or (B, S) several, each
        with its share in ``weights`` (the same shape; None: all of it)."""
        freqs, num, den = self.bp.coords[self.bp.mask] @ rots, c * y, c * c
        maps = maps.reshape(len(y), -1)
        shares = None if weights is None else weights.reshape(len(y), -1)
        for j in range(maps.shape[1]):
            self.bp.add_observed(freqs, num, den, maps[:, j], None if shares is None else shares[:, j])


def _posterior_top(scores: Tensor, sharpness: Tensor, spread: int) -> tuple[Tensor, Tensor]:
    """Each image's ``spread`` likeliest classes (B, spread) and their posterior weights (B, spread), summing
    to 1: a softmax of ``scores`` (B, K) times ``sharpness`` (a number or (B, 1)), cut to its top classes."""
    top = scores.topk(min(spread, scores.shape[1]), dim=1)
    return top.indices, torch.softmax(top.values * sharpness, dim=1)


def classify(dataset, seeds: np.ndarray, *, iterations: int = DEFAULT_ITERATIONS, radius: float = DEFAULT_RADIUS,
             reg: float = DEFAULT_REG, tol: float = 0.001, soft: float | None = DEFAULT_SOFT,
             spread: int = DEFAULT_SPREAD, batch_size: int = 256, device: torch.device | str = "cpu",
             progress: Callable[[int, int, int], None] | None = None) -> Classification:
    """Refine ``seeds`` (N,) int class ids, one per image of ``dataset`` (a
    :class:`~napari_cryohype.core.io.dataset.ParticleDataset`, with its poses and CTF), by 3D classification
    with the poses fixed; ``radius``: the compared frequencies, a fraction of Nyquist. ``soft``: each image
    adds to its ``spread`` likeliest classes' maps in proportion to their posterior probability, its
    likelihood raised to the power ``soft`` (1: the white-noise model's posterior; below 1, flatter);
    None: to its best class only (hard assignment). ``progress(iteration, images done, images)`` after each
    batch. Returns the refined classes (same ids: each image's likeliest) and their margins."""
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
    D, n, device = dataset.D, len(dataset), torch.device(device)
    radius_px = min(radius * D / 2, D / 2 - 1)   # the grid's last plane (+1/2) is not held: stay inside
    transforms, result = None, Classification(ids[labels])
    for it in range(iterations + 1):
        step = _Pass(D, len(ids), transforms, radius_px, device)
        new, margin = labels.copy(), np.zeros(n, np.float32)
        residual = 0.0   # the images' squared distances from their best class's slice, summed
        for idx, images, rots, trans, ctf in dataset_batches(dataset, np.arange(n), batch_size):
            rots = torch.as_tensor(np.asarray(rots), dtype=torch.float32, device=device)
            y, c = step.observe(images, trans, ctf)
            if transforms is None:
                step.add(y, c, rots, torch.as_tensor(new[idx], device=device))
            else:
                scores, energy = step.scores(y, c, rots)
                top = scores.topk(2, dim=1)
                distance = energy - top.values[:, 0]
                residual += float(distance.double().sum())
                new[idx] = top.indices[:, 0].cpu().numpy()
                margin[idx] = (top.values[:, 0] - top.values[:, 1]).cpu().numpy()
                if soft is None:
                    step.add(y, c, rots, top.indices[:, 0])
                else:
                    # this batch's noise variance per compared value; log-likelihood = score / (2 sigma^2)
                    noise_var = distance.mean().clamp_min(torch.finfo(distance.dtype).tiny) / len(step.coords)
                    step.add(y, c, rots, *_posterior_top(scores, soft / (2 * noise_var), spread))
            if progress is not None:
                progress(it, idx[-1] + 1, n)
        if transforms is not None:
            result.changed.append(int((new != labels).sum()))
            noise_var = max(residual / (n * len(step.coords)), np.finfo(np.float32).tiny)
            labels, result.labels, result.margin = new, ids[new], margin / np.float32(2 * noise_var)
            if result.changed[-1] <= tol * n:
                break
        transforms = step.bp.transforms(reg).float()
    return result
