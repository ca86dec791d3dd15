"""The viewer while training runs: the longest UI-thread stall, and how long Stop takes.

In a napari viewer (needs a display: run under ``xvfb-run -a``) the Train widget trains on a simulated
mixture of the bundled structures with the Latent Explorer following (latents, PCA and UMAP refreshed
every epoch, in workers), started 5 s after the widgets open (their opening work is done by then).
After training (and 5 s, as a person would take), clicks on points (1 s apart) are timed until their decoded volume
is in the viewer, until the canvas has drawn it, and until all of its layers are (the others follow once
the volume is drawn). A 5 ms QTimer on the UI thread records when it fires: a gap between two ticks longer than the
interval is time the UI thread could not handle events (a stall); gaps while training runs and after it
(the last latents, and the layer the first click will fill, made once the model is loaded) are reported
apart. Then Stop is pressed in
the middle of a long step (a larger model) and the time until the worker has ended is measured.

    xvfb-run -a python benchmarks/bench_ui.py                  # D=64, 5 x 100 images, 2 epochs
    xvfb-run -a python benchmarks/bench_ui.py --images 40 --epochs 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import numpy as np

TICK_MS = 5


def _wait(app, until, timeout: float) -> None:
    t0 = time.perf_counter()
    while not until():
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"not done within {timeout:.0f} s")
        app.processEvents()
        time.sleep(0.001)


def simulate(folder: Path, images: int, D: int) -> Path:
    from napari_cryohype.core.simulate import bundled_structures, simulate_mixture
    simulate_mixture(folder, bundled_structures(), images, D, 64 * 4.0 / D, snr=0.1, seed=0, force=True)
    return folder


def _train_widget(viewer, data: Path, outdir: Path, epochs: int, preset: str):
    _, w = viewer.window.add_plugin_dock_widget("napari-cryohype", "Train")
    for key, name in (("particles", "particles.mrcs"), ("poses", "poses.pkl"), ("ctf", "ctf.pkl")):
        w.fields[key].setText(str(data / name))
    w.fields["outdir"].setText(str(outdir))
    w.preset.setCurrentText(preset)
    w.epochs.setValue(epochs)
    w.batch_size.setValue(32)
    return w


def stalls(viewer, app, data: Path, work: Path, epochs: int, umap: bool) -> dict:
    """Train with the explorer following; UI-thread gaps between timer ticks (ms). The longest few are
    listed with what the explorer was doing just before (``busy``: its worker's task)."""
    from qtpy.QtCore import QTimer

    from napari_cryohype.widgets import helper_process

    w = _train_widget(viewer, data, work / "run-stalls", epochs, "small")
    explorer = w._explorer()
    explorer.follow_every.setValue(1)
    explorer.auto_umap.setChecked(umap)
    w.follow.setChecked(True)
    _wait(app, lambda: helper_process._helper is not None, timeout=60)
    t_open = time.perf_counter()  # the widgets' opening work (imports, helper process) ends: as a user would
    _wait(app, lambda: time.perf_counter() - t_open > 5, timeout=60)
    ticks: list[float] = []
    doing: list[str] = []
    training: list[bool] = []

    def tick():
        ticks.append(time.perf_counter())
        training.append(w.worker is not None)
        doing.append(f"{len(w.events)} events, explorer {explorer.status.text()[:30]!r}")

    samples: list[tuple[float, str]] = []
    sampling = threading.Event()

    def sample_ui_thread():  # what the UI thread is executing, every 10 ms (diagnosis of the stalls)
        me = threading.get_ident()
        while not sampling.is_set():
            stacks = [" < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}"
                                 for f in reversed(traceback.extract_stack(frame)[-3:]))
                      for ident, frame in sys._current_frames().items() if ident != me]
            samples.append((time.perf_counter(), " | ".join(stacks)))
            time.sleep(0.01)

    threading.Thread(target=sample_ui_thread, daemon=True).start()
    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    timer.start()
    t0 = time.perf_counter()
    w.start()
    _wait(app, lambda: w.worker is None and not explorer.busy, timeout=3600)
    t_end = time.perf_counter()  # ticks go on: a gap is measured when the tick after it comes
    _wait(app, lambda: time.perf_counter() - t_end > 1, timeout=60)
    timer.stop()
    sampling.set()
    gaps = np.diff(ticks) * 1e3 - TICK_MS
    during = np.array(training[1:]) & np.array(training[:-1])   # gaps between two ticks while training ran
    after, gaps = gaps[~during], np.where(during, gaps, 0.0)
    worst = np.argsort(gaps)[::-1][:5]
    ev = w.events[-1]
    def inside(i):  # the threads' stacks sampled last before gap i
        names = [st for t, st in samples if t < ticks[i] + 0.01]
        return names[-1] if names else "-"

    return {"training and explorer refreshes (s)": time.perf_counter() - t0, "steps": ev.global_step,
            "last event": ev.kind, "ticks while training": int(during.sum()) + 1,
            "longest stall (ms)": float(gaps.max()),
            "99.9th percentile gap (ms)": float(np.percentile(gaps[during], 99.9)),
            "stalls over 100 ms": int((gaps > 100).sum()), "stalls over 50 ms": int((gaps > 50).sum()),
            "points in the scatter": explorer.scatter.n_points,
            "after training (last latents, model loaded, the clicks' layer prepared): longest stall (ms)":
                float(after.max()) if len(after) else 0.0,
            "longest, at (s): before them": "; ".join(
                f"\n    {gaps[i]:.0f} ms at {ticks[i] - t0:.1f} s ({doing[i]}): threads in {inside(i)}"
                for i in worst)}


def click_to_volume(viewer, app, explorer, repeats: int = 3) -> list[tuple[float, float, float]]:
    """Seconds from a click on a point (the explorer's click handler) to the decoded volume's layer in the
    viewer, to the end of the canvas's first draw with it, and to all its layers (particle image, rendered
    projection, true map), for ``repeats`` points."""
    canvas = viewer.window._qt_viewer.canvas  # private: napari has no public "drawn" event
    drawn: list[float] = []

    def on_draw(event) -> None:
        if any(layer.name == name and layer.visible for layer in viewer.layers):
            drawn.append(time.perf_counter())

    canvas.events.draw.connect(on_draw, position="last")  # after vispy's own drawing
    times = []
    for index in range(1, repeats + 1):
        if index > 1:  # a person's next click comes a second or more later: the last one's drawing is done
            t_last = time.perf_counter()
            _wait(app, lambda: time.perf_counter() - t_last > 1, timeout=60)
        name = f"decoded volume {index}"
        drawn.clear()
        t0 = time.perf_counter()
        explorer._point_clicked(index)
        _wait(app, lambda: name in viewer.layers, timeout=120)
        t_volume = time.perf_counter() - t0
        _wait(app, lambda: bool(drawn), timeout=120)
        t_drawn = drawn[0] - t0
        _wait(app, lambda: not explorer.busy, timeout=120)
        times.append((t_volume, t_drawn, time.perf_counter() - t0))
    canvas.events.draw.disconnect(on_draw)
    return times


def stop_latency(viewer, app, data: Path, work: Path, preset: str, into_step_s: float) -> dict:
    """Press Stop ``into_step_s`` seconds into the second step; seconds until the worker has ended."""
    w = _train_widget(viewer, data, work / f"run-stop-{preset}", 1, preset)
    w.follow.setChecked(False)
    w.start()
    _wait(app, lambda: len(w.events) >= 1, timeout=1800)
    first_step = w.events[0].elapsed_s
    time.sleep(into_step_s)
    t0 = time.perf_counter()
    w.stop()
    _wait(app, lambda: w.worker is None, timeout=1800)
    return {"preset": preset, "one step (s)": first_step, "stop pressed into the step (s)": into_step_s,
            "stop -> worker ended (s)": time.perf_counter() - t0, "last event": w.events[-1].kind,
            "steps done": w.events[-1].global_step}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=100, help="images per bundled structure (5 structures)")
    ap.add_argument("--box", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--no-umap", action="store_true", help="the explorer refreshes latents and PCA only")
    ap.add_argument("--no-stop", action="store_true", help="skip the Stop measurements")
    args = ap.parse_args()
    import napari
    from qtpy.QtWidgets import QApplication

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = simulate(work / "data", args.images, args.box)
        viewer = napari.Viewer(show=True)
        app = QApplication.instance()
        print(f"{5 * args.images} images, D={args.box}; small preset, {args.epochs} epochs, explorer following")
        for k, v in stalls(viewer, app, data, work, args.epochs, not args.no_umap).items():
            print(f"  {k}: {v:.1f}" if isinstance(v, float) else f"  {k}: {v}", flush=True)
        explorer = viewer.window.dock_widgets["Latent Explorer (napari-cryohype)"]
        t_done = time.perf_counter()  # clicks come 5 s after training ended, as a person's would
        _wait(app, lambda: time.perf_counter() - t_done > 5, timeout=60)
        times = click_to_volume(viewer, app, explorer)
        print(f"click -> decoded volume in its layer (D={args.box}, small preset): "
              + ", ".join(f"{t:.2f} s" for t, _, _ in times), flush=True)
        print("click -> the canvas has drawn it: " + ", ".join(f"{t:.2f} s" for _, t, _ in times), flush=True)
        print("click -> all its layers (particle image, projection, true map): "
              + ", ".join(f"{t:.2f} s" for _, _, t in times), flush=True)
        for preset, into in () if args.no_stop else (("small", 0.2), ("paper", 3.0)):
            r = stop_latency(viewer, app, data, work, preset, into)
            print(f"stop, {preset} preset: one step {r['one step (s)']:.1f} s; pressed {into} s into the next; "
                  f"worker ended {r['stop -> worker ended (s)']:.2f} s later ({r['last event']}, "
                  f"{r['steps done']} steps done)", flush=True)
        viewer.close()


if __name__ == "__main__":
    main()
