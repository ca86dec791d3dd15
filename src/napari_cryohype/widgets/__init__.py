"""The napari plugin's widgets: Train, Latent Explorer (with its scatter canvas) and Export.

They orchestrate :mod:`napari_cryohype.core` (run in napari workers, off the UI thread) and do no math
of their own; the only numpy here draws and picks scatter points (:mod:`.raster`, :mod:`.selection`).
"""
