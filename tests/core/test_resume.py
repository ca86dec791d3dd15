"""Ctrl-C then resume ends bit for bit where an uninterrupted run does: the default preset ("many": random
points split between encoder and loss every step), shifted images with CTF, stopped inside a step, between
steps, at an epoch's first step and at an epoch boundary."""

import json
import signal

import pytest
import torch

from napari_cryohype.commands.train import _stop_on_ctrl_c
from napari_cryohype.core.models.presets import DEFAULT
from napari_cryohype.core.run import Run
from napari_cryohype.core.train import Trainer, train_config
from tests.core.mixture_data import TINY, write_mixture

#: TINY's sizes under the default preset; 24 images in batches of 8: 3 steps per epoch
SIZES = {**{k: v for k, v in TINY.items() if k != "preset"}, "epochs": 2}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_mixture(tmp_path_factory.mktemp("data"), n=24)


def make_run(path, data):
    cfg = train_config(particles=str(data["particles"]), poses=str(data["poses"]), ctf=str(data["ctf"]), **SIZES)
    assert cfg["preset"] == DEFAULT == "many" and cfg["train"]["encoder_split"]
    return Run.create(path, cfg)


def logged(run, kind):
    return [e for e in map(json.loads, run.log_path.read_text().splitlines()) if e["kind"] == kind]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data):
    trainer = Trainer(make_run(tmp_path_factory.mktemp("ref") / "run", data))
    return trainer, list(trainer.run())


def assert_bitwise_equal(a: Trainer, b: Trainer) -> None:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa), \
        max((sa[k] - sb[k]).abs().max().item() for k in sa)
    oa, ob = a.opt.state_dict(), b.opt.state_dict()
    assert oa["state"].keys() == ob["state"].keys()
    for i, state in oa["state"].items():
        assert all(torch.equal(state[k], ob["state"][i][k]) for k in state), i
    assert [g["lr"] for g in oa["param_groups"]] == [g["lr"] for g in ob["param_groups"]]
    assert a.sched.state_dict()["last_epoch"] == b.sched.state_dict()["last_epoch"]


@pytest.mark.parametrize("where, at, checkpoint", [
    ("inside a step", 2, (0, 1)),            # Ctrl-C during epoch 1's 2nd step: it is abandoned
    ("inside a step", 4, (1, 0)),            # during epoch 2's 1st step, after its loader drew its seed
    ("between steps", 5, (1, 2)),            # on the event of epoch 2's 2nd step
    ("at the epoch boundary", 3, (1, 0)),    # on the event "epoch 1 done"
])
def test_ctrl_c_then_resume_is_bit_exact(tmp_path, data, uninterrupted, where, at, checkpoint):
    ref, ref_events = uninterrupted
    run = make_run(tmp_path / "cut", data)
    trainer = Trainer(run)
    if where == "inside a step":  # the INR runs after the step drew its random points
        trainer.model.inr.register_forward_pre_hook(
            lambda *_: signal.raise_signal(signal.SIGINT) if trainer.global_step == at - 1 and not trainer.stopping
            else None)
    previous = _stop_on_ctrl_c(trainer)   # the handler `cryohype train` installs
    try:
        for ev in trainer.run():
            if (where == "between steps" and ev.kind == "step" and ev.global_step == at) or \
                    (where == "at the epoch boundary" and ev.kind == "epoch"):
                signal.raise_signal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert ev.kind == "stopped"
    ckpt = torch.load(run.checkpoint_path, weights_only=True)
    assert (ckpt["epoch"], ckpt["position"]) == checkpoint
    stopped = logged(run, "stopped")[-1]   # names the epoch and step the checkpoint holds
    assert (stopped["epoch"], stopped["step"], stopped["global_step"]) == \
        (checkpoint[0] + 1, checkpoint[1], 3 * checkpoint[0] + checkpoint[1])

    resumed = Trainer(Run.open(run.path))
    events = list(resumed.run())
    assert events[-1].kind == "done" and resumed.global_step == ref.global_step == 6
    assert_bitwise_equal(resumed, ref)
    assert [e["loss"] for e in logged(run, "epoch")] == [e.loss for e in ref_events if e.kind == "epoch"]
    assert [e["loss"] for e in logged(run, "step")] == [e.loss for e in ref_events if e.kind == "step"]
    assert events[-1].loss == ref_events[-1].loss
