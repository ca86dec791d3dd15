"""The default preset (``many``) as ``cryohype train`` builds it: every part of it does what it says, and
together they learn a mixture.

Data: ``cryohype simulate`` of three bundled structures (1CLV, 2OOB, 2W9E), 64 images each, 32 px at 6 Å,
shifts of 2 px (std) and a CTF, no noise. The parts, each pinned by a fast test here:

- the encoder's image: the particle centred by its shift and phase-flipped by its CTF, i.e. |CTF| times the
  truth's central slice at the pose (``slice(k @ R)``, the project's own slicer);
- the lift encoder places that image at the image's own pose ``R`` (not ``R^T``, not the identity);
- the Trainer splits each image's points: the encoder reads none of the points the step's loss compares;
- the hypernetwork modulates every INR layer per image (conditioning ``hyper``, 32 tokens per layer).

The learning test trains the preset through ``cryohype train`` itself (only the epochs and threads are
given) and decodes each structure's map from its images.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from napari_cryohype.cli import main
from napari_cryohype.core.ctf import ctf_from_table
from napari_cryohype.core.decode import decode_selection
from napari_cryohype.core.fourier import htn_center
from napari_cryohype.core.io.mrc import read_volume
from napari_cryohype.core.lattice import sample_volume, slice_coords
from napari_cryohype.core.models.lift import SliceLift
from napari_cryohype.core.models.model import CryoHypeModel
from napari_cryohype.core.models.presets import DEFAULT, preset
from napari_cryohype.core.run import Run
from napari_cryohype.core.simulate import bundled_structures
from napari_cryohype.core.train import Trainer, train_config

D = 32
STRUCTURES = ("1CLV", "2OOB", "2W9E")
EPOCHS = 10
#: what the learning test asks of each structure's decoded map (margins measured over seeds: see the test)
OWN_MIN, MARGIN_MIN = 0.85, 0.15


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """The simulated stack: {"dir", "labels" (N,), "truths" [(D, D, D) maps], "transforms" [their centred 3D
    Hartley transforms]}."""
    out = tmp_path_factory.mktemp("default_preset") / "data"
    files = [str(p) for p in bundled_structures() if p.name.split(".")[0] in STRUCTURES]
    assert len(files) == len(STRUCTURES)
    assert main(["simulate", str(out), "--structures", *files, "-M", "64", "-D", str(D), "--apix", "6",
                 "--shift-std", "2", "--seed", "0", "--threads", "1"]) == 0
    truths = [read_volume(p)[0] for p in sorted((out / "volumes").glob("*.mrc"))]
    return {"dir": out, "labels": np.load(out / "labels.npy"), "truths": truths,
            "transforms": [htn_center(torch.from_numpy(t).double()) for t in truths]}


def _data_args(data) -> list[str]:
    d = data["dir"]
    return ["--particles", str(d / "particles.mrcs"), "--poses", str(d / "poses.pkl"), "--ctf", str(d / "ctf.pkl")]


def _kept_threads(fn):
    """Run ``fn()`` and put torch's thread count back (the Trainer sets it)."""
    threads = torch.get_num_threads()
    try:
        return fn()
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(simulated, tmp_path_factory):
    """A run trained by ``cryohype train`` with the default preset: only the epochs and threads given."""
    out = tmp_path_factory.mktemp("default_run") / "run"
    argv = ["train", str(out), *_data_args(simulated), "--epochs", str(EPOCHS), "--threads", "1"]
    assert _kept_threads(lambda: main(argv)) == 0
    return Run.open(out)


@pytest.fixture(scope="module")
def steps(simulated, tmp_path_factory):
    """Two training steps of a Trainer on the default configuration (``train_config()``, as the CLI makes
    it), recording what each step's encoder, lift and loss saw."""
    d = simulated["dir"]
    cfg = train_config(particles=str(d / "particles.mrcs"), poses=str(d / "poses.pkl"), ctf=str(d / "ctf.pkl"),
                       threads=1)
    trainer = _kept_threads(lambda: Trainer(Run.create(tmp_path_factory.mktemp("steps") / "run", cfg)))
    model = trainer.model
    seen = {"batch": [], "encoder_in": [], "lift": [], "loss": []}
    step = trainer._step
    trainer._step = lambda batch: seen["batch"].append(batch) or step(batch)
    model.encoder.register_forward_hook(lambda m, args, out: seen["encoder_in"].append(args[0].detach().clone()))
    model.encoder.lift.register_forward_hook(
        lambda m, args, out: seen["lift"].append((args[1].detach().clone(), out.detach().clone())))
    losses = model.image_losses

    def record(cond, rots, target, ctf_half, points=None):
        seen["loss"].append({"cond": cond, "rots": rots.detach().clone(), "points": points})
        return losses(cond, rots, target, ctf_half, points)

    model.image_losses = record

    def two_steps():
        for ev in trainer.run():
            if ev.kind == "step" and ev.global_step == 2:
                trainer.stop()

    _kept_threads(two_steps)
    assert len(seen["batch"]) == 2
    return trainer, seen


# -- the preset as the CLI builds it ---------------------------------------------------------------------

def test_cryohype_train_builds_the_default_preset(trained, simulated):
    """The run the CLI made holds the ``many`` preset unchanged (but for the epochs and threads given), the
    same configuration as ``train_config()``; its model is the lift encoder with the hypernetwork."""
    assert DEFAULT == "many"
    cfg = trained.config
    assert cfg["preset"] == "many"
    want = preset("many")
    want["train"].update(epochs=EPOCHS, threads=1)
    assert cfg["model"] == want["model"]
    assert {k: cfg["train"][k] for k in want["train"]} == want["train"]
    model_cfg, train_cfg = cfg["model"], cfg["train"]
    assert (model_cfg["encoder"], model_cfg["encoder_input"], model_cfg["conditioning"]) == ("lift", "hartley", "hyper")
    assert (model_cfg["lift_radius"], model_cfg["tokens_per_layer"], model_cfg["output_tokens"]) == (8, 32, 1)
    assert train_cfg["encoder_split"] and train_cfg["point_fraction"] == 0.5 and not train_cfg["encoder_rotation"]
    plain = train_config(**{k: cfg["data"][k] for k in ("particles", "poses", "ctf")}, epochs=EPOCHS, threads=1)
    assert (plain["model"], plain["preset"]) == (cfg["model"], cfg["preset"])
    assert {k: cfg["train"][k] for k in plain["train"]} == plain["train"]
    model = trained.load_model()
    assert type(model.encoder).__name__ == "LiftEncoder" and model.needs_pose and model.hyper


def test_the_data_are_shifted_and_have_a_ctf(simulated):
    summary = json.loads((simulated["dir"] / "simulation.json").read_text())
    assert summary["shift_std_px"] == 2 and summary["ctf"]["applied"]
    assert sorted(s["name"] for s in summary["structures"]) == list(STRUCTURES)


# -- each part of it -------------------------------------------------------------------------------------

#: the zero frequency's index on the D x D encoder grid. Not a trained point: the encoder reads it as the image
#: has it, CTF(0) x H(0) (not phase-flipped), so the comparisons below leave it out.
DC = D * D // 2 + D // 2


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


def _slice_coords_2d() -> torch.Tensor:
    """The (kx, ky, 0) frequencies of the D x D encoder grid, (D*D, 3) cycles/pixel, [ky, kx] order."""
    return slice_coords(D).reshape(D + 1, D + 1, 3)[:-1, :-1].reshape(-1, 3).double()


def _expected_inputs(simulated, indices, rots, ctf) -> torch.Tensor:
    """What the encoder should read for these images (B, D*D): |CTF| times the truth's central slice at
    the pose, ``H3(k @ R)`` sampled from the truth's 3D Hartley transform."""
    k = _slice_coords_2d()
    out = []
    for i, R, c in zip(indices, rots.double(), ctf_from_table(ctf.double(), k[:, :2])):
        h = simulated["transforms"][simulated["labels"][int(i)]]
        out.append(sample_volume(h, (k @ R)[None])[0] * c.abs())
    return torch.stack(out)


def test_the_encoder_reads_each_image_centred_and_phase_flipped(simulated, tmp_path):
    """Every image's encoder input correlates > 0.98 with |CTF| x the truth's slice at its pose (0.995 and
    above measured), over the disk but its outer pixel and DC. The transposed pose's slice, the image left
    uncentred or not phase-flipped score far lower (checked here, so that the test can tell them apart)."""
    d = simulated["dir"]
    run = Run.create(tmp_path / "run", train_config(particles=str(d / "particles.mrcs"),
                                                    poses=str(d / "poses.pkl"), ctf=str(d / "ctf.pkl")))
    model, ds = run.build_model(), run.dataset()
    idx = list(range(24))
    b = {k: torch.stack([ds[i][k] for i in idx]) for k in ("image", "rot", "trans", "ctf")}
    with torch.no_grad():
        x, _, _ = model.encoder_input(b["image"], b["trans"], b["ctf"])
    k = _slice_coords_2d()
    inner = model.geometry.disk.bool().flatten() & (k[:, :2].norm(dim=1) * D <= D / 2 - 1)
    inner[DC] = False
    want = _expected_inputs(simulated, idx, b["rot"], b["ctf"])
    got = x.flatten(1).double()
    def scores(inputs, refs):
        return np.array([_corr(g[inner], w[inner]) for g, w in zip(inputs, refs)])

    right = scores(got, want)
    assert right.min() > 0.98, right
    transposed = _expected_inputs(simulated, idx, b["rot"].transpose(1, 2), b["ctf"])
    uncentred = model.encoder_input(b["image"], None, b["ctf"])[0].flatten(1).double()
    for wrong in (scores(got, transposed), scores(uncentred, want)):
        assert (wrong < right - 0.05).mean() > 0.8
    unflipped = model.encoder_input(b["image"], b["trans"], None)[0].flatten(1).double()
    assert scores(unflipped, want).max() < 0


def test_each_training_step_lifts_the_image_to_its_own_pose(steps, simulated):
    """In a Trainer step, the lift encoder places the encoder's image at the batch's poses: its output is
    the lift of what the encoder read at R, and close (cosine > 0.97; 0.993 and above measured) to the lift
    of |CTF| x the truth's slice at R, hidden where the encoder's input is; placed at R^T or the identity,
    that slice is further from it for most images (by 0.3 to 0.9; R^T = R for a half turn)."""
    trainer, seen = steps
    geo, model_lift = trainer.model.geometry, trainer.model.encoder.lift
    lift = SliceLift(D, trainer.run_dir.config["model"]["lift_radius"]).double()
    for batch, x, (rots_used, lifted), loss in zip(seen["batch"], seen["encoder_in"], seen["lift"], seen["loss"]):
        rots = batch["rot"]
        torch.testing.assert_close(rots_used, rots)
        torch.testing.assert_close(lifted, model_lift(x, rots))
        want = _expected_inputs(simulated, batch["index"], rots, batch["ctf"]) / float(trainer.model.norm_std)
        hidden = (x.flatten(1) == 0)
        want = want * (~hidden) * geo.n_half / (geo.n_half - loss["points"].shape[1])
        want[:, DC] = 0
        dc_only = torch.zeros_like(x).flatten(1)
        dc_only[:, DC] = x.flatten(1)[:, DC]
        lifted = lifted - model_lift(dc_only.reshape(-1, D, D), rots)   # k = 0 lands at the centre for any R

        def cosine(r):
            ref = lift(want.reshape(-1, D, D), r.double())
            return torch.nn.functional.cosine_similarity(lifted.double(), ref, dim=1)

        right = cosine(rots)
        assert right.min() > 0.97, right
        for wrong in (rots.transpose(1, 2), torch.eye(3).expand_as(rots)):
            assert (cosine(wrong) < right - 0.05).float().mean() > 0.8


def test_the_trainer_splits_each_images_points_between_encoder_and_loss(steps):
    """The default Trainer's steps: half of each image's half points in the loss, and the encoder's input
    zero at every one of them and their mirrors, nonzero at most of the others inside the disk."""
    trainer, seen = steps
    geo = trainer.model.geometry
    for x, loss in zip(seen["encoder_in"], seen["loss"]):
        points = loss["points"]
        assert points is not None and points.shape[1] == round(0.5 * geo.n_half)
        flat = torch.cat([x.flatten(1), x.new_zeros(len(x), 1)], dim=1)  # the spare slot D*D of grid_pairs
        at_loss = flat.gather(1, geo.grid_pairs[points].flatten(1))
        assert (at_loss == 0).all()
        shown = geo.disk.bool().flatten().clone()
        shown[D * D // 2 + D // 2] = False                                # DC: not a trained point
        others = x.flatten(1)[:, shown]
        assert (others != 0).float().mean() > 0.45                       # the other half (of a full disk)


def test_the_hypernetwork_modulates_every_inr_layer_per_image(steps):
    """Conditioning ``hyper``: each step's loss renders with per-image weights for all five INR layers
    (32 weight tokens per hidden layer, 1 for the output), different from image to image."""
    trainer, seen = steps
    model = trainer.model
    assert isinstance(model, CryoHypeModel) and model.hyper
    assert model.conditioning.groups == [32, 32, 32, 32, 1]
    for loss in seen["loss"]:
        weights = loss["cond"].weights
        assert weights is not None and len(weights) == len(model.inr.shapes) == 5
        for w, (i, o) in zip(weights, model.inr.shapes):
            assert w.shape[1:] == (i, o)
            assert (w[0] - w[1]).abs().max() > 1e-4 * w[0].abs().max()


# -- together: it learns the mixture ---------------------------------------------------------------------

def test_each_structure_decodes_to_its_own_map(trained, simulated):
    """Each structure's map, decoded from 16 of its images, correlates with its own truth > OWN_MIN and at
    least MARGIN_MIN more than with either wrong truth (the truths correlate 0.45 to 0.69 with each other).
    Measured with simulation and training seeds 0 to 5: own 0.90 to 0.98, own minus the best wrong 0.21 to
    0.38. With the lift encoder given R^T (everywhere) the smallest margin fell to 0.12, with the identity to
    0.09 or less; with the modulation off or shared by all images the maps fail too."""
    labels, truths = simulated["labels"], simulated["truths"]
    for k in range(len(truths)):
        vol = decode_selection(trained, np.flatnonzero(labels == k)[:16])
        corr = [np.corrcoef(vol.ravel(), t.ravel())[0, 1] for t in truths]
        own, wrong = corr[k], max(c for j, c in enumerate(corr) if j != k)
        assert own > OWN_MIN and own - wrong > MARGIN_MIN, (k, corr)
