"""npe2 sample data: a tiny mixture of the structures shipped in the package, simulated once and cached.

The first use simulates 40 images of each bundled structure (box 32 px, 4 Å/px, CTF, SNR 1) with
:func:`napari_cryohype.core.simulate.simulate_mixture` — a few seconds — into the user cache directory
(``NAPARI_CRYOHYPE_CACHE`` overrides it); later uses read the cache.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

SAMPLE_NAME = "sample-mixture-D32-v1"
SAMPLE_SETTINGS = dict(images_per_structure=40, D=32, apix=4.0, snr=1.0, seed=0)


def cache_dir() -> Path:
    """Where the plugin caches data: ``$NAPARI_CRYOHYPE_CACHE`` or the user cache dir of napari-cryohype."""
    env = os.environ.get("NAPARI_CRYOHYPE_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("napari-cryohype"))


def sample_dataset() -> Path:
    """The sample mixture's folder (particles.mrcs, poses.pkl, ctf.pkl, labels.npy, volumes/), simulated on
    first use. Simulated into a temporary folder and renamed, so an interrupted run leaves no half cache."""
    from napari_cryohype.core.simulate import bundled_structures, simulate_mixture

    folder = cache_dir() / SAMPLE_NAME
    if (folder / "simulation.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{SAMPLE_NAME}-", dir=folder.parent))
    try:
        simulate_mixture(tmp, bundled_structures(), force=True, **SAMPLE_SETTINGS)
        if (folder / "simulation.json").is_file():  # another process finished first
            return folder
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return folder


def sample_mixture() -> list[tuple]:
    """Layers of the sample: the particle stack (drawn in 2D only) and each structure's true map (3D, voxel
    size as scale, hidden)."""
    from napari_cryohype._reader import follow_stacks, read_mrc

    folder = sample_dataset()
    layers = read_mrc(folder / "particles.mrcs")
    for path in sorted((folder / "volumes").glob("*.mrc")):
        data, meta, kind = read_mrc(path)[0]
        meta["visible"] = False
        layers.append((data, meta, kind))
    follow_stacks(layers)
    return layers
