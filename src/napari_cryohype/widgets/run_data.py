"""What the Latent Explorer reads from a run folder besides the model: the arrays ``cryohype analyze`` wrote,
the true labels and maps of a simulation beside the particle stack, per-image covariates, the source .star."""

from __future__ import annotations

from pathlib import Path

import numpy as np

LOSS = "loss (per image)"      # the covariate name of each image's loss under the model
MARGIN = "class margin"        # ... and of each image's log-likelihood ratio (nats) of its class over the next
#: covariates an analysis folder holds: the array's name and the covariate's
ANALYSIS_COVARIATES = (("loss", LOSS), ("class_margin", MARGIN))
_ARRAYS = ("latents", "pca", "umap", "kmeans", "classes", *(array for array, _ in ANALYSIS_COVARIATES))


def data_folder(run) -> Path | None:
    """The folder of the run's particle stack (where a simulation keeps labels.npy and volumes/)."""
    particles = run.config.get("data", {}).get("particles")
    return Path(particles).parent if particles else None


def labels_beside(folder: Path | None, n: int) -> np.ndarray | None:
    """``folder/labels.npy`` (N,) when it is there and has ``n`` labels, else None."""
    from napari_cryohype.core.analysis import load_labels

    if folder is None or not (folder / "labels.npy").is_file():
        return None
    labels = load_labels(folder / "labels.npy")
    return labels if len(labels) == n else None


def true_map_path(folder: Path | None, label: int | None) -> Path | None:
    """The true map ``folder/volumes/NNN_*.mrc`` of structure ``label``, or None."""
    if folder is None or label is None:
        return None
    found = sorted((folder / "volumes").glob(f"{int(label):03d}_*.mrc"))
    return found[0] if found else None


def covariates(dataset) -> dict[str, np.ndarray]:
    """Per-image covariates of a dataset: defocus (Å, the mean of U and V) and pose angles (RELION
    rot/tilt/psi, °)."""
    from napari_cryohype.core.io.star import rotation_to_relion

    cov: dict[str, np.ndarray] = {}
    if dataset.ctf is not None:
        cov["defocus (Å)"] = dataset.ctf[:, 2:4].mean(axis=1)
    angles = rotation_to_relion(dataset.poses.rots)
    for j, name in enumerate(("rot", "tilt", "psi")):
        cov[f"pose {name} (°)"] = angles[:, j]
    return cov


def latest_analysis(run) -> Path | None:
    """The run's latest analysis with latents: ``analysis/`` or the last of ``analysis-2/``, ``analysis-3/``, ...
    (``cryohype analyze`` never overwrites one), or None."""
    from napari_cryohype.core.analysis_outputs import analysis_folders

    with_latents = [f for f in analysis_folders(Path(run.analysis_dir)) if (f / "latents.npy").is_file()]
    return with_latents[-1] if with_latents else None


def analysis_arrays(run) -> dict[str, np.ndarray | None] | None:
    """The ``*.npy`` of the run's latest analysis (:func:`latest_analysis`: latents, pca, umap, kmeans, classes,
    class_margin, loss): None without one; an array that is missing or of another length than the latents is None."""
    folder = latest_analysis(run)
    if folder is None:
        return None
    loaded = {name: np.load(folder / f"{name}.npy") if (folder / f"{name}.npy").is_file() else None
              for name in _ARRAYS}
    n = len(loaded["latents"])
    return {name: a if a is not None and len(a) == n else None for name, a in loaded.items()}


def source_star(run) -> Path | None:
    """The run's particle .star file, or None when its particles are another format."""
    particles = run.config.get("data", {}).get("particles") if run is not None else None
    return Path(particles) if particles and str(particles).endswith(".star") else None
