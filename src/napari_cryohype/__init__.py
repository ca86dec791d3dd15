"""napari-cryohype: CryoHype hypernetwork reconstruction of mixed cryo-EM particle stacks, in napari."""

__version__ = "0.1.0"
