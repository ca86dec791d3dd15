"""npe2 writer: an image layer -> an MRC file whose voxel size is the layer's ``scale`` (last axis, Å)."""

from __future__ import annotations

from typing import Any

import numpy as np


def write_mrc(path: str, data: Any, meta: dict) -> list[str]:
    """Write one image layer (2D, a 2D stack or a 3D map) as float32 MRC with voxel size = ``scale[-1]``.

    Like napari's own writers this replaces an existing file: napari's save dialog asks first.
    """
    from napari_cryohype.core.io.mrc import write_mrc as write

    scale = meta.get("scale")
    apix = float(scale[-1]) if scale is not None and len(scale) else 1.0
    write(path, np.asarray(data, dtype=np.float32), apix, overwrite=True)
    return [path]
