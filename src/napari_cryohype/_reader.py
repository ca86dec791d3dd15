"""npe2 reader: MRC maps (3D volumes, voxel size as ``scale``, drawn as iso surfaces at a level from their own
statistics), MRC particle stacks (2D image stacks, drawn in 2D only: :mod:`.widgets.stacks`) and CryoHype run
folders (their latents open in the Latent Explorer)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import mrcfile

from napari_cryohype.core.errors import InputError

MRC_SUFFIXES = (".mrc", ".mrcs", ".map")


def get_reader(path: str | list[str]) -> Callable | None:
    """The reader for ``path`` (npe2 ``get_reader``), or None when it is not ours."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(path)
    if p.is_dir():
        return read_run_folder if (p / "config.json").is_file() else None
    if p.suffix.lower() in MRC_SUFFIXES:
        return read_mrc_paths
    return None


def read_mrc_paths(path: str | list[str]) -> list[tuple]:
    """npe2 reader function: one or more MRC files -> layer data tuples."""
    paths = path if isinstance(path, list) else [path]
    layers = [layer for p in paths for layer in read_mrc(p)]
    follow_stacks(layers)
    return layers


def follow_stacks(layers: list[tuple]) -> None:
    """When ``layers`` hold a particle stack, have the current napari viewer (if any) keep its stacks out
    of the 3D view (:func:`.widgets.stacks.follow`)."""
    from napari_cryohype.widgets.stacks import STACK, follow

    if any(meta.get("metadata", {}).get(STACK) for _, meta, _ in layers):
        import napari

        viewer = napari.current_viewer()
        if viewer is not None:
            follow(viewer)


def is_image_stack(path: str | os.PathLike) -> bool:
    """True for a stack of 2D images (``.mrcs``, an MRC header with space group 0, or one image), False
    for a 3D map."""
    path = Path(path)
    if path.suffix.lower() == ".mrcs":
        return True
    from napari_cryohype.core.io.mrc_warnings import unusual_mrc_said_once

    with unusual_mrc_said_once(path):  # mrcfile's complaints about the header, said once, as the CLI says them
        try:
            with mrcfile.open(path, mode="r", header_only=True, permissive=True) as mrc:
                return int(mrc.header.ispg) == 0 or int(mrc.header.nz) == 1
        except (ValueError, OSError) as err:
            raise InputError(f"not a readable MRC file ({err})", path) from None


def read_mrc(path: str | os.PathLike) -> list[tuple]:
    """One MRC file -> ``[(data, metadata, "image")]``.

    A 3D map is read into memory as (D, D, D) [z, y, x] with ``scale`` = voxel size (Å) on every axis,
    rendered as an iso surface at its level (:mod:`.widgets.volume_display`); a stack is memory-mapped as
    (N, D, D) with ``scale`` (1, apix, apix), marked ``metadata[STACK]``. A voxel size of 0 (unset) becomes 1.
    """
    from napari_cryohype.core.io.mrc import read_volume
    from napari_cryohype.core.io.particles import ParticleStack
    from napari_cryohype.widgets.stacks import STACK
    from napari_cryohype.widgets.volume_display import contrast_limits, iso_threshold

    path = Path(path)
    if is_image_stack(path):
        stack = ParticleStack.from_mrc(path)
        data = stack.memmap(0)
        apix = stack.apix or 1.0
        if data.ndim == 2:
            data = data[None]
        meta = {"name": path.stem, "scale": (1.0, apix, apix), "colormap": "gray",
                "metadata": {"apix": apix, "path": str(path), STACK: True}}
        return [(data, meta, "image")]
    volume, apix = read_volume(path)
    apix = apix if apix > 0 else 1.0
    meta = {"name": path.stem, "scale": (apix, apix, apix), "colormap": "gray", "rendering": "iso",
            "iso_threshold": iso_threshold(volume), "contrast_limits": contrast_limits(volume, "iso"),
            "metadata": {"apix": apix, "path": str(path)}}
    return [(volume, meta, "image")]


def read_run_folder(path: str | list[str]) -> list[tuple]:
    """Open a run folder's latents in the Latent Explorer of the current viewer; adds no layer."""
    import napari

    path = path[0] if isinstance(path, list) else path
    viewer = napari.current_viewer()
    if viewer is None:
        raise InputError("a run folder opens in the Latent Explorer, which needs a napari viewer", path)
    from napari_cryohype.widgets.panel import find_explorer

    find_explorer(viewer).load_run(path)
    return [(None,)]
