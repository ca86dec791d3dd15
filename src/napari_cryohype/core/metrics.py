"""Map-versus-map metrics: Fourier shell correlation, its area, Chamfer distance, volume IoU, and the
support mask of a true map for a masked FSC.

Volumes are (D, D, D) arrays, axes (z, y, x), on the same grid (no alignment is done: poses are known).
Definitions, formulas and the threshold rule are in ``docs/metrics.md``.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import trapezoid
from scipy.ndimage import binary_dilation, gaussian_filter
from scipy.spatial import cKDTree

#: Default surface level of the reference map, as a fraction of its maximum.
DEFAULT_THRESHOLD = 0.2


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 3 or a.shape != b.shape or len(set(a.shape)) != 1:
        raise ValueError(f"need two cubic volumes of the same shape, got {a.shape} and {b.shape}")
    return a, b


def fsc(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fourier shell correlation of two (D, D, D) volumes.

    Shell ``s`` holds the Fourier voxels whose distance to DC rounds to ``s`` voxels, ``s = 0 .. D//2``.
    ``mask`` (D, D, D), optional, multiplies both volumes in real space first (a soft mask is best).
    Returns ``(freq, curve)``, each (D//2 + 1,): frequency in cycles/pixel (``s / D``, 0 to Nyquist 0.5)
    and the correlation in [-1, 1] (0 where a shell has no power).
    """
    a, b = _check_pair(a, b)
    if mask is not None:
        a, b = a * mask, b * mask
    D = a.shape[0]
    fa = np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(a)))
    fb = np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(b)))
    r = np.arange(D) - D // 2
    z, y, x = np.meshgrid(r, r, r, indexing="ij")
    shell = np.rint(np.sqrt(x**2 + y**2 + z**2)).astype(np.int64).ravel()
    n = D // 2 + 1
    inside = shell < n
    shell = shell[inside]
    fa, fb = fa.ravel()[inside], fb.ravel()[inside]
    cross = np.bincount(shell, (fa * fb.conj()).real, minlength=n)
    pa = np.bincount(shell, np.abs(fa) ** 2, minlength=n)
    pb = np.bincount(shell, np.abs(fb) ** 2, minlength=n)
    denom = np.sqrt(pa * pb)
    curve = np.divide(cross, denom, out=np.zeros(n), where=denom > 0)
    return np.arange(n) / D, curve


def fsc_auc(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Area under the FSC curve over frequency 0 .. Nyquist (trapezoids), divided by 0.5 so that identical
    maps score 1. (The CryoHype scripts report the unnormalised area of cryoDRGN's curve: about half this
    value; see docs/metrics.md.)"""
    freq, curve = fsc(a, b, mask)
    return auc(freq, curve)


def fsc_auc_matrix(maps: list[np.ndarray], references: list[np.ndarray]) -> np.ndarray:
    """:func:`fsc_auc` of every map against every reference: (M, T), each volume transformed once.

    Maps and references are (D, D, D) volumes on one grid. Each shell's cross terms are one matrix product
    over the half-space of the real transform (a point off the kx = 0 and Nyquist planes stands for its
    conjugate too, so it counts twice): the same numbers as M x T calls of :func:`fsc_auc`, in seconds
    instead of minutes for hundreds of maps."""
    vols = [np.asarray(v, dtype=np.float64) for v in (*maps, *references)]
    D = vols[0].shape[0]
    for v in vols:
        _check_pair(vols[0], v)
    k = np.fft.fftfreq(D) * D
    kx = np.fft.rfftfreq(D) * D
    z, y, x = np.meshgrid(k, k, kx, indexing="ij")
    shell = np.rint(np.sqrt(x**2 + y**2 + z**2)).astype(np.int64).ravel()
    weight = np.where((x == 0) | (2 * np.abs(x) == D), 1.0, 2.0).ravel()
    n = D // 2 + 1
    spectra = np.stack([np.fft.rfftn(v).ravel() for v in vols])            # (M + T, points)
    a, b = spectra[:len(maps)], spectra[len(maps):]
    cross, pa, pb = (np.zeros((len(maps), len(references), n)), np.zeros((len(maps), 1, n)),
                     np.zeros((1, len(references), n)))
    for s in range(n):
        idx = np.flatnonzero(shell == s)
        w = weight[idx]
        cross[:, :, s] = ((a[:, idx] * w) @ b[:, idx].conj().T).real
        pa[:, 0, s] = (np.abs(a[:, idx]) ** 2) @ w
        pb[0, :, s] = (np.abs(b[:, idx]) ** 2) @ w
    denom = np.sqrt(pa * pb)
    curves = np.divide(cross, denom, out=np.zeros_like(cross), where=denom > 0)
    return trapezoid(curves, np.arange(n) / D, axis=-1) / 0.5


def auc(freq: np.ndarray, curve: np.ndarray) -> float:
    """Normalised area under an FSC curve sampled at ``freq`` (cycles/pixel, 0 .. 0.5)."""
    return float(trapezoid(curve, freq) / 0.5)


def resolution_at(freq: np.ndarray, curve: np.ndarray, apix: float, level: float = 0.5) -> float:
    """Resolution in Å where the FSC first drops below ``level`` (linear interpolation between shells);
    the Nyquist resolution ``2 * apix`` when it never does."""
    below = np.flatnonzero(curve < level)
    below = below[below > 0]
    if below.size == 0:
        return 2.0 * apix
    i = below[0]
    f0, f1, c0, c1 = freq[i - 1], freq[i], curve[i - 1], curve[i]
    f = f0 + (c0 - level) / (c0 - c1) * (f1 - f0)
    return float(apix / f)


def surface_masks(reference: np.ndarray, other: np.ndarray,
                  threshold: float = DEFAULT_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (D, D, D) masks of the two maps' molecules, on equal footing whatever their scale.

    The reference's mask is ``reference > threshold * max(reference)`` (``n`` voxels); the other map's
    mask is its ``n`` highest voxels (the level enclosing the same volume), so a map that differs only
    by a positive scale or offset gets the identical mask.
    """
    reference, other = _check_pair(reference, other)
    top = reference.max()
    if not top > 0:
        raise ValueError("the reference map has no positive density to threshold")
    ref_mask = reference > threshold * top
    n = int(ref_mask.sum())
    flat = other.ravel()
    other_mask = np.zeros(flat.shape, dtype=bool)
    other_mask[np.argpartition(flat, flat.size - n)[flat.size - n:]] = True
    return ref_mask, other_mask.reshape(other.shape)


def support_mask(reference: np.ndarray, level: float = 0.02, dilate_px: int = 2,
                 soft_px: float = 1.0) -> np.ndarray:
    """Soft (D, D, D) float32 mask in [0, 1] of where a true map has density: voxels above ``level`` x its
    maximum, grown by ``dilate_px`` voxels, edges smoothed by a Gaussian of ``soft_px`` voxels. An FSC
    under it compares the molecules and not the solvent around them, where an unregularised
    reconstruction keeps its noise."""
    reference = np.asarray(reference)
    top = reference.max()
    if not top > 0:
        raise ValueError("the reference map has no positive density to mask")
    inside = reference > level * top
    if dilate_px:
        inside = binary_dilation(inside, iterations=dilate_px)
    mask = inside.astype(np.float32)
    return np.clip(gaussian_filter(mask, soft_px), 0, 1) if soft_px else mask


def _points(mask: np.ndarray, apix: float) -> np.ndarray:
    return np.argwhere(mask).astype(np.float64) * apix


def chamfer_distance(reference: np.ndarray, other: np.ndarray, apix: float,
                     threshold: float = DEFAULT_THRESHOLD) -> float:
    """Symmetric Chamfer distance in Å between the voxels of the two maps' masks (:func:`surface_masks`):
    the mean over both point clouds of each point's distance to the nearest point of the other cloud,
    ``(mean_a min_b |a - b| + mean_b min_a |a - b|) / 2``."""
    ma, mb = surface_masks(reference, other, threshold)
    pa, pb = _points(ma, apix), _points(mb, apix)
    da, _ = cKDTree(pb).query(pa)
    db, _ = cKDTree(pa).query(pb)
    return float((da.mean() + db.mean()) / 2)


def volume_iou(reference: np.ndarray, other: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> float:
    """Intersection over union of the two maps' masks (:func:`surface_masks`), in [0, 1]."""
    ma, mb = surface_masks(reference, other, threshold)
    return float((ma & mb).sum() / (ma | mb).sum())
