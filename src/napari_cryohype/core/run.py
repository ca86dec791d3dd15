"""The run folder: one contract between the CLI, the trainer and the GUI (see docs/architecture.md).

```
RUN/config.json          every setting: data paths, D, apix, preset, model sizes, optimiser, seed
RUN/checkpoints/last.pt  model, optimiser, scheduler, step, epoch, position, the epoch's step losses so far,
                         RNG states, config (atomic; a resume from it is bit-exact: core/train.py)
RUN/checkpoints/epoch_NNN.pt   the checkpoint at the end of epoch NNN (train.checkpoint_every_epoch)
RUN/log.jsonl            one JSON progress event per line
RUN/analysis/            latents.npy, loss.npy, pca.npy, umap.npy, kmeans.npy, plots, cluster maps, index.md
RUN/analysis/epoch_NNN/  the same for epoch NNN's checkpoint (``Run.at_epoch``)
```
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # NumPy < 2
    from numpy.core.multiarray import _reconstruct

from napari_cryohype.core.boxes import check_model_box
from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.atomic import atomic_path
from napari_cryohype.core.io.dataset import ParticleDataset
from napari_cryohype.core.models import CryoHypeModel
from napari_cryohype.core.models.presets import check_model, check_train

CONFIG = "config.json"
#: what NumPy arrays in older checkpoints need from the unpickler: building arrays, never running code
_NUMPY_ARRAYS = [np.ndarray, np.dtype, type(np.dtype(np.uint32)), _reconstruct]
_OWNED = (CONFIG, "checkpoints", "log.jsonl", "analysis")  # what --force may remove from an old run


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


class Run:
    """A run folder. Use :meth:`create` for a new one and :meth:`open` for an existing one."""

    def __init__(self, path: Path, config: dict, epoch: int | None = None):
        self.path = Path(path)
        self.config = config
        self.epoch = epoch   # None: the last checkpoint; else the one kept at the end of that epoch

    @classmethod
    def create(cls, outdir: str | os.PathLike, config: dict, *, force: bool = False) -> "Run":
        """Make a run folder for ``config`` (see :func:`napari_cryohype.core.train.train_config`).

        The data files, and that the model can take their box, are checked before anything is written;
        D and apix (after ``data.box``), the stack's own box ``source_D``, the image count and the contrast
        decision (``invert_data``: None in ``config`` means decide from the data, and ``contrast`` says
        why) are recorded in ``config["data"]``.
        A non-empty ``outdir`` is refused unless ``force`` (then the earlier run's files are removed)."""
        path = Path(outdir)
        try:
            if "train" in config:
                check_train(config["train"])
            if "model" in config:
                check_model(config["model"])
        except ValueError as err:
            raise InputError(str(err)) from None
        if path.exists() and not path.is_dir():
            raise InputError("output folder is a file", path)
        replace = path.exists() and any(path.iterdir())
        if replace and not force:
            raise InputError("output folder is not empty (use --force to replace the run in it)", path)
        config = json.loads(json.dumps(config))  # a plain copy
        data = config.setdefault("data", {})
        for key in ("particles", "poses"):
            if not data.get(key):
                raise InputError(f"the run needs a {key} file")
        for key in ("particles", "poses", "ctf", "datadir"):
            if data.get(key):
                data[key] = str(Path(data[key]).expanduser().resolve())
        ds = ParticleDataset(data["particles"], data["poses"], data.get("ctf"), datadir=data.get("datadir"),
                             ctf_defaults=data.get("ctf_defaults"), box=data.get("box"),
                             invert_data=data.get("invert_data"))
        if "model" in config:
            check_model_box(config["model"], ds.D, ds.particles.path)
        data.update(D=ds.D, apix=ds.apix, n=len(ds), has_ctf=ds.has_ctf, ctf_notes=ds.ctf_notes,
                    source_D=ds.particles.source_D, invert_data=ds.invert_data, contrast=ds.contrast_note)
        if replace:  # only now that the new run is known to be good
            for name in _OWNED:
                p = path / name
                if p.is_dir():
                    shutil.rmtree(p)
                elif p.exists():
                    p.unlink()
        path.mkdir(parents=True, exist_ok=True)
        (path / "checkpoints").mkdir(exist_ok=True)
        run = cls(path, config)
        run.save_config()
        return run

    @classmethod
    def open(cls, outdir: str | os.PathLike) -> "Run":
        """Open an existing run folder; InputError if it is not one."""
        path = Path(outdir)
        cfg = path / CONFIG
        if not cfg.is_file():
            raise InputError(f"not a CryoHype run folder (no {CONFIG})", path)
        try:
            config = json.loads(cfg.read_text())
        except json.JSONDecodeError as e:
            raise InputError(f"unreadable run configuration ({e})", cfg) from None
        if not isinstance(config, dict) or not {"data", "model", "train"} <= set(config):
            raise InputError("run configuration lacks its data, model or train section", cfg)
        return cls(path, config)

    def at_epoch(self, epoch: int) -> "Run":
        """This run as it was at the end of ``epoch`` (1-based): its checkpoint ``checkpoints/epoch_NNN.pt``
        (kept by ``cryohype train --checkpoint-every-epoch``), its analysis in ``analysis/epoch_NNN/``.
        InputError naming the kept epochs when there is no such checkpoint."""
        run = Run(self.path, self.config, epoch)
        if not run.has_checkpoint:
            kept = sorted(int(p.stem[6:]) for p in (self.path / "checkpoints").glob("epoch_[0-9]*.pt"))
            have = f"kept epochs: {', '.join(map(str, kept))}" if kept else \
                "no epoch was kept (train with --checkpoint-every-epoch)"
            raise InputError(f"no checkpoint of epoch {epoch} ({have})", run.checkpoint_path)
        return run

    def save_config(self) -> None:
        write_json(self.path / CONFIG, self.config)

    # -- places ---------------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        """``checkpoints/last.pt``, or the chosen epoch's (:meth:`at_epoch`)."""
        return self.path / "checkpoints" / "last.pt" if self.epoch is None else self.epoch_checkpoint_path(self.epoch)

    def epoch_checkpoint_path(self, epoch: int) -> Path:
        """Where the checkpoint of the end of ``epoch`` (1-based) is kept: ``checkpoints/epoch_NNN.pt``."""
        return self.path / "checkpoints" / f"epoch_{epoch:03d}.pt"

    @property
    def log_path(self) -> Path:
        return self.path / "log.jsonl"

    @property
    def analysis_dir(self) -> Path:
        """``analysis/``, or ``analysis/epoch_NNN/`` for a chosen epoch."""
        return self.path / "analysis" if self.epoch is None else self.path / "analysis" / f"epoch_{self.epoch:03d}"

    @property
    def D(self) -> int:
        return int(self.config["data"]["D"])

    @property
    def apix(self) -> float:
        return float(self.config["data"]["apix"])

    @property
    def has_checkpoint(self) -> bool:
        return self.checkpoint_path.is_file()

    # -- contents -------------------------------------------------------------------------------------
    def dataset(self) -> ParticleDataset:
        """The training data, from the paths in the config, resized and inverted as recorded (runs made
        before ``invert_data`` was recorded were trained on the images as stored)."""
        d = self.config["data"]
        return ParticleDataset(d["particles"], d["poses"], d.get("ctf"), datadir=d.get("datadir"),
                               ctf_defaults=d.get("ctf_defaults"), box=d.get("box"),
                               invert_data=bool(d.get("invert_data", False)))

    def build_model(self) -> CryoHypeModel:
        """A freshly initialised model of this run's configuration."""
        return CryoHypeModel(self.config["model"], self.D)

    def load_checkpoint(self, map_location="cpu") -> dict:
        """The checkpoint, read with ``torch.load(weights_only=True)``: tensors and plain values only, so that
        opening a run folder (napari opens any folder dropped on it) never runs code from it. InputError for
        a missing, truncated or foreign file."""
        path = self.checkpoint_path
        if not self.has_checkpoint:
            raise InputError("the run has no checkpoint yet (train it first)", path)
        try:
            with torch.serialization.safe_globals(_NUMPY_ARRAYS):  # older checkpoints hold a NumPy RNG array
                ckpt = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as e:  # torch raises assorted types for a cut-short or foreign file
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise InputError(f"unreadable checkpoint: truncated, or not a CryoHype checkpoint ({type(e).__name__}: "
                             f"{first})", path) from None
        if not isinstance(ckpt, dict) or not {"model", "config"} <= set(ckpt):
            raise InputError("not a CryoHype checkpoint (no model weights and configuration in it)", path)
        return ckpt

    def load_model(self, device: str | torch.device = "cpu") -> CryoHypeModel:
        """The trained model from :attr:`checkpoint_path`, in eval mode on ``device``."""
        ckpt = self.load_checkpoint()
        model = CryoHypeModel(ckpt["config"]["model"], self.D)
        model.load_state_dict(ckpt["model"])
        return model.to(device).eval()
