"""Time the Latent Explorer's scatter canvas: draw, pan, zoom, lasso, box and hover at 100k and 1M points.

Run under a virtual display (what CI and a headless 2-core machine have):

    xvfb-run -a python benchmarks/bench_scatter.py [--sizes 100000 1000000] [--repeats 5] [--explorer]

"draw" is ``set_data`` (index + colours + painting the points with numpy) plus one full paint of the
widget into a pixmap (``QWidget.grab``, which runs the same ``paintEvent`` as the screen). "pan" and
"zoom" are what a mouse move costs: moving the old image (one paint) and, once the mouse rests,
re-painting the points of the new view and painting again. "lasso" is the whole pick of a 200-vertex
lasso: the point-in-polygon test, combining with the selection, re-painting with the selection
highlighted, one paint. The matplotlib ``Path.contains_points`` time on the same polygon and the same
points is printed for comparison (its result must be identical). On a shared CPU the numbers are noisy.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _clusters(n: int, seed: int = 0) -> np.ndarray:
    """``n`` 2D points in 20 Gaussian clusters, like a UMAP of a mixture."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-10, 10, size=(20, 2))
    labels = rng.integers(0, 20, size=n)
    return (centres[labels] + rng.normal(scale=0.6, size=(n, 2))).astype(np.float32)


def _lasso_polygon(centre, radius: float, vertices: int = 200) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    r = radius * (1 + 0.25 * np.sin(5 * t))
    return np.c_[centre[0] + r * np.cos(t), centre[1] + r * np.sin(t)]


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench(n: int, repeats: int) -> dict[str, float]:
    from matplotlib.path import Path as MplPath
    from qtpy.QtWidgets import QApplication

    from napari_cryohype.widgets.scatter import ScatterCanvas

    app = QApplication.instance() or QApplication([])
    xy = _clusters(n)
    colors = np.random.default_rng(1).uniform(0, 1, size=(n, 4)).astype(np.float32)
    colors[:, 3] = 1
    w = ScatterCanvas()
    w.resize(600, 600)
    w.show()
    app.processEvents()

    out = {}
    out["draw (set_data + paint)"] = _timed(lambda: (w.set_data(xy, colors), w.grab()))
    out["repaint widget only"] = np.median([_timed(w.grab) for _ in range(repeats)])

    def pan():
        w.pan_by(0.5, 0.3)
        w.grab()            # what the screen shows at once: the old image moved
        w.repaint_points()  # what it shows ~20 ms after the mouse rests: the new view painted
        w.grab()

    def zoom():
        w.zoom_by(0.8)
        w.grab()
        w.repaint_points()
        w.grab()

    out["pan (move + re-paint points + 2 paints)"] = np.median([_timed(pan) for _ in range(repeats)])
    out["zoom (scale + re-paint points + 2 paints)"] = np.median([_timed(zoom) for _ in range(repeats)])
    w.reset_view()

    polygon = _lasso_polygon(xy.mean(axis=0), 6.0)
    lasso_times = []
    for _ in range(repeats):
        w.set_selection(np.empty(0, np.int64), emit=False)
        lasso_times.append(_timed(lambda: (w.lasso(polygon), w.grab())))
    picked = w.selection
    out["lasso, 200 vertices (pick + re-paint + paint)"] = np.median(lasso_times)
    out["  selected points"] = float(len(picked))
    out["  point-in-polygon alone (sorted-y crossing test)"] = np.median(
        [_timed(lambda: w.index.in_polygon(polygon)) for _ in range(repeats)])
    mpl_picked = None

    def mpl():
        nonlocal mpl_picked
        mpl_picked = np.flatnonzero(MplPath(polygon).contains_points(xy))

    out["  matplotlib Path.contains_points, same polygon"] = _timed(mpl)
    assert np.array_equal(mpl_picked, picked), "lasso and matplotlib disagree"
    out["box (pick + re-paint + paint)"] = np.median([_timed(lambda: (w.box((-3, -3), (3, 3)), w.grab()))
                                                      for _ in range(repeats)])
    centre = w.to_canvas(xy[0])
    out["hover (nearest point)"] = np.median([_timed(lambda: w.nearest(centre)) for _ in range(repeats)])
    w.close()
    app.processEvents()
    return out


def bench_explorer(n: int, d: int = 8) -> dict[str, float]:
    """The whole Latent Explorer in a napari viewer: latents (n, d) with 20 labels and one covariate."""
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    _, explorer = viewer.window.add_plugin_dock_widget("napari-cryohype", "Latent Explorer")
    explorer.auto_umap.setChecked(False)
    app = QApplication.instance()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 20, n)
    z = (rng.normal(size=(n, d)) + np.eye(20, d)[labels] * 4).astype(np.float32)
    defocus = rng.uniform(1e4, 2e4, n)
    while explorer.busy or not __import__("sys").modules.get("napari_cryohype.core.analysis"):
        app.processEvents()  # the explorer imports core.analysis in a worker when it opens
    out = {}
    t0 = time.perf_counter()
    explorer.set_latents(z, labels=labels, covariates={"defocus (Å)": defocus})
    out["set_latents: UI blocked for"] = time.perf_counter() - t0
    while explorer.busy:
        app.processEvents()
        time.sleep(0.005)
    out["set_latents: PCA (worker) + points shown"] = time.perf_counter() - t0
    out["colour by covariate"] = _timed(lambda: explorer.color_by.setCurrentText("defocus (Å)"))
    out["change x axis (PC3)"] = _timed(lambda: explorer.x_axis.setCurrentText("PC3"))
    out["invert selection"] = _timed(explorer.invert_selection)
    out["select a covariate range"] = _timed(lambda: explorer.select_range("defocus (Å)", 1e4, 1.5e4))
    viewer.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--explorer", action="store_true",
                        help="also time the whole Latent Explorer (napari viewer) at the largest size")
    args = parser.parse_args()
    if args.explorer:
        n = max(args.sizes)
        print(f"\nLatent Explorer, {n:,} latents of 8 dims, 20 labels")
        for k, v in bench_explorer(n).items():
            print(f"  {k:<52s} {v * 1000:8.1f} ms")
    for n in args.sizes:
        res = bench(n, args.repeats)
        print(f"\n{n:,} points (600 x 600 widget)")
        for k, v in res.items():
            print(f"  {k:<52s} {v:8.0f}" if k.strip() == "selected points" else f"  {k:<52s} {v * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
