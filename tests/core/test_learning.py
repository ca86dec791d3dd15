"""CryoHype learns a mixture: each structure's decoded map matches its own truth, not the other's.

Two blob structures, 256 particles of 32 px shifted by 3.2 px (std) with a CTF, through the whole path
(files on disk, the dataset, the trainer, the decoder). A model that learned one average map, or ignored
its images, or learned the negative of the density, fails; a falling loss alone is not asked for.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_cryohype.core.decode import transforms_to_volume, volume_transforms
from napari_cryohype.core.io.pkl import load_poses_pkl
from napari_cryohype.core.run import Run
from napari_cryohype.core.train import Trainer, train_config
from tests.core.mixture_data import TINY, two_volumes, write_mixture

D = 32


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("learn")
    data = write_mixture(folder / "data", n=256, D=D, shift_px=5.5)  # uniform in +-5.5 px: std 3.2 px
    cfg = train_config(particles=str(data["particles"]), poses=str(data["poses"]), ctf=str(data["ctf"]),
                       **{**TINY, "epochs": 40, "batch_size": 16, "threads": 1})
    threads = torch.get_num_threads()
    try:
        trainer = Trainer(Run.create(folder / "run", cfg))
        list(trainer.run())
    finally:
        torch.set_num_threads(threads)
    return trainer, data


def mean_map(trainer: Trainer, indices: np.ndarray) -> np.ndarray:
    """The mean of the decoded volumes of the given images (D, D, D), each encoded with its shift and CTF."""
    model, ds = trainer.model.eval(), trainer.dataset
    items = [ds[int(i)] for i in indices]
    batch = {k: torch.stack([it[k] for it in items]) for k in ("image", "trans", "ctf")}
    with torch.no_grad():
        x, _, _ = model.encoder_input(batch["image"], batch["trans"], batch["ctf"])
        return transforms_to_volume(model, volume_transforms(model, model.encode(x), D).mean(0), D)


def test_the_particles_are_shifted_like_real_ones(trained):
    _, data = trained
    assert (load_poses_pkl(data["poses"]).trans * D).std() >= 3.0


def test_each_structure_decodes_to_its_own_map(trained):
    """Correlation with the own truth > 0.7 (about 0.9 when right) and at least 0.4 above the other's; the
    truths correlate 0.08 with each other."""
    trainer, data = trained
    truths = [v.numpy().ravel() for v in two_volumes(D)]
    for k in range(2):
        vol = mean_map(trainer, np.flatnonzero(data["labels"] == k)).ravel()
        own, other = (np.corrcoef(vol, truths[j])[0, 1] for j in (k, 1 - k))
        assert own > 0.7 and own - other > 0.4, (k, own, other)
