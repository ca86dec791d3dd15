"""Draw scatter points into an RGBA image on the CPU (numpy, no Qt): the scatter canvas shows that image.

Why not a vispy ``Markers`` visual: under software OpenGL (Xvfb/llvmpipe, 2 cores) one redraw of 1,000,000
markers takes ~2.5 s and 100,000 take ~0.3 s, because every marker runs the vertex and fragment shaders on
the CPU. Binning the points into the pixels of the current view with numpy takes tens of milliseconds
for 1,000,000 points and the GPU (or llvmpipe) then draws one textured quad (see
``benchmarks/bench_scatter.py``). Points are painted in a fixed order; a later point covers an earlier one.
"""

from __future__ import annotations

import numpy as np


def disc_offsets(radius: int) -> np.ndarray:
    """Pixel offsets (K, 2) as (dx, dy) of a filled disc of ``radius`` pixels; radius 0 is one pixel."""
    r = np.arange(-radius, radius + 1)
    dx, dy = np.meshgrid(r, r, indexing="xy")
    keep = dx**2 + dy**2 <= radius**2 + radius  # a slightly round-ish disc for small radii
    return np.stack([dx[keep], dy[keep]], axis=1)


def pack_rgba(colors: np.ndarray) -> np.ndarray:
    """RGBA colours (N, 4), floats in [0, 1] or uint8, -> (N,) uint32 (one pixel each, native byte order)."""
    colors = np.asarray(colors)
    if colors.dtype != np.uint8:
        colors = np.clip(np.round(colors * 255), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(colors).view(np.uint32).reshape(-1)


BLACK = pack_rgba(np.array([[0, 0, 0, 255]], np.uint8))[0]


def paint_points(image: np.ndarray, xy: np.ndarray, packed: np.ndarray | int, rect, radius: int) -> None:
    """Paint points into ``image`` (H, W) uint32 in place.

    ``xy`` (N, 2) data coordinates; ``packed`` (N,) uint32 colours from :func:`pack_rgba` (or one colour);
    ``rect`` = (x0, y0, width, height) is the data area the image covers, row 0 at y0 (bottom);
    ``radius`` the disc radius in pixels.
    """
    H, W = image.shape
    x0, y0, w, h = (float(v) for v in rect)
    if len(xy) == 0 or w <= 0 or h <= 0:
        return
    px = np.floor((xy[:, 0] - np.float32(x0)) * np.float32(W / w)).astype(np.int32)
    py = np.floor((xy[:, 1] - np.float32(y0)) * np.float32(H / h)).astype(np.int32)
    near = (px >= -radius) & (px < W + radius) & (py >= -radius) & (py < H + radius)
    if not near.all():
        px, py = px[near], py[near]
        if not np.isscalar(packed):
            packed = packed[near]
    flat_image = image.reshape(-1)
    for dx, dy in disc_offsets(radius):
        qx, qy = px + dx, py + dy
        inside = (qx >= 0) & (qx < W) & (qy >= 0) & (qy < H)
        colors = packed if np.isscalar(packed) else packed[inside]
        flat_image[qy[inside] * W + qx[inside]] = colors


def rasterize(xy: np.ndarray, packed: np.ndarray, rect, shape: tuple[int, int], radius: int, *,
              selected_xy: np.ndarray | None = None, selected_packed: np.ndarray | None = None,
              outline: np.uint32 | None = None) -> np.ndarray:
    """An (H, W, 4) uint8 RGBA image of the points ``xy`` (N, 2) in colours ``packed`` (N,) uint32;
    transparent where there are none.

    ``selected_xy`` (k, 2) with colours ``selected_packed`` are painted again on top, each inside an
    ``outline`` ring (packed colour, default :data:`BLACK`) one pixel wider, so a selection stands out
    without recolouring every point.
    """
    image = np.zeros(shape, dtype=np.uint32)
    paint_points(image, xy, packed, rect, radius)
    if selected_xy is not None and len(selected_xy):
        paint_points(image, selected_xy, BLACK if outline is None else outline, rect, radius + 1)
        paint_points(image, selected_xy, selected_packed, rect, radius)
    return image.view(np.uint8).reshape(shape[0], shape[1], 4)
