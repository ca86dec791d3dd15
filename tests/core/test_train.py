"""Training: reproducible, stoppable, exactly resumable, atomic checkpoints, and it learns."""

import json
import tracemalloc

import numpy as np
import pytest
import torch

from napari_cryohype.cli import main
from napari_cryohype.core.run import Run
from napari_cryohype.core import train
from napari_cryohype.core.train import EpochBatches, Trainer, _lr_factor, autocast_dtype, train_config
from tests.core.mixture_data import TINY, write_mixture


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_mixture(tmp_path_factory.mktemp("data"), n=24)


def make_run(path, data, **kw):
    cfg = train_config(particles=str(data["particles"]), poses=str(data["poses"]), ctf=str(data["ctf"]),
                       **{**TINY, **kw})
    return Run.create(path, cfg)


def params(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same(a, b, exact=False):
    assert a.keys() == b.keys()
    for k in a:
        if exact:
            assert torch.equal(a[k], b[k]), k
        else:
            torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)


def test_same_seed_same_weights_and_other_seed_differs(tmp_path, data):
    out = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        tr = Trainer(make_run(tmp_path / name, data, epochs=1, seed=seed))
        list(tr.run())
        out.append(params(tr.model))
    assert_same(out[0], out[1], exact=True)
    assert not torch.equal(out[0]["inr.weights.0"], out[2]["inr.weights.0"])


def test_stop_mid_epoch_then_resume_equals_uninterrupted(tmp_path, data):
    ref = Trainer(make_run(tmp_path / "ref", data, epochs=2))
    list(ref.run())

    run = make_run(tmp_path / "cut", data, epochs=2)
    tr = Trainer(run)
    kinds = []
    for ev in tr.run():
        kinds.append(ev.kind)
        if ev.kind == "step" and ev.epoch == 2 and ev.step == 1:
            tr.stop()
    assert kinds[-1] == "stopped" and kinds.count("step") == 4  # 3 steps per epoch, stopped after 1 of epoch 2
    ckpt = torch.load(run.checkpoint_path, weights_only=True)
    assert (ckpt["epoch"], ckpt["position"], ckpt["global_step"]) == (1, 1, 4)
    stopped = json.loads(run.log_path.read_text().splitlines()[-1])  # names where the checkpoint is
    assert (stopped["kind"], stopped["epoch"], stopped["step"], stopped["global_step"]) == ("stopped", 2, 1, 4)

    resumed = Trainer(Run.open(tmp_path / "cut"))
    events = list(resumed.run())
    assert [e.kind for e in events] == ["step", "step", "epoch", "done"]
    assert events[-1].global_step == ref.global_step == 6
    assert_same(params(resumed.model), params(ref.model), exact=True)
    assert_same(resumed.opt.state_dict()["state"][0], ref.opt.state_dict()["state"][0], exact=True)


@pytest.mark.parametrize("phase", ["forward", "backward"])
def test_stop_during_a_step_abandons_it_and_resume_redoes_it(tmp_path, data, phase):
    """A stop asked while a step computes ends the run before the optimiser moves (no waiting for a long
    step); the checkpoint is the state before that step and a resume ends where an uninterrupted run does."""
    ref = Trainer(make_run(tmp_path / "ref", data, epochs=1))
    list(ref.run())

    run = make_run(tmp_path / "cut", data, epochs=1)
    tr = Trainer(run)
    before = {}

    def ask_stop(*_):
        if tr.global_step == 1 and not tr._stop.is_set():
            before.update(params(tr.model))
            tr.stop()

    if phase == "forward":
        tr.model.inr.register_forward_pre_hook(ask_stop)
    else:  # the INR's first weight gets its gradient near the end of the backward pass
        tr.model.encoder.blocks[-1].fc1.weight.register_hook(lambda g: ask_stop())
    events = list(tr.run())
    assert [e.kind for e in events] == ["step", "stopped"]
    assert_same(params(tr.model), before, exact=True)
    ckpt = torch.load(run.checkpoint_path, weights_only=True)
    assert (ckpt["epoch"], ckpt["position"], ckpt["global_step"]) == (0, 1, 1)

    resumed = Trainer(Run.open(tmp_path / "cut"))
    assert [e.kind for e in resumed.run()] == ["step", "step", "epoch", "done"]
    assert_same(params(resumed.model), params(ref.model), exact=True)


def test_resume_after_a_kill_continues_from_the_last_checkpoint(tmp_path, data):
    """A killed process leaves the last (mid-epoch) checkpoint; resuming loses and repeats nothing."""
    ref = Trainer(make_run(tmp_path / "ref", data, epochs=1))
    list(ref.run())
    run = make_run(tmp_path / "kill", data, epochs=1, checkpoint_every=2)
    gen = Trainer(run).run()
    for ev in gen:
        if ev.global_step == 3:
            break  # the process "dies" after step 3; the checkpoint of step 2 is on disk
    gen.close()
    assert torch.load(run.checkpoint_path, weights_only=True)["global_step"] == 2
    resumed = Trainer(Run.open(tmp_path / "kill"))
    list(resumed.run())
    assert_same(params(resumed.model), params(ref.model), exact=True)


def test_checkpoint_write_is_atomic(tmp_path, data, monkeypatch):
    run = make_run(tmp_path / "run", data, epochs=1)
    tr = Trainer(run)
    list(tr.run())
    before = run.checkpoint_path.read_bytes()

    def broken_save(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        tr.save_checkpoint()
    assert run.checkpoint_path.read_bytes() == before
    assert [p.name for p in run.checkpoint_path.parent.iterdir()] == ["last.pt"]


def test_epoch_batches_are_the_order_cut_into_batches_from_the_resume_position():
    order = np.array([4, 0, 3, 1, 2, 6, 5])
    assert list(EpochBatches(order, 3)) == [[4, 0, 3], [1, 2, 6], [5]] and len(EpochBatches(order, 3)) == 3
    assert list(EpochBatches(order, 3, start=1)) == [[1, 2, 6], [5]] and len(EpochBatches(order, 3, start=1)) == 2
    assert list(EpochBatches(order, 3, start=3)) == [] and len(EpochBatches(order, 3, start=3)) == 0


def test_an_epoch_of_a_million_images_is_not_listed_up_front(tmp_path, data, monkeypatch):
    """The loader of a 1,000,000-image epoch allocates < 2 MB: batches are made as they are read (a list
    of every batch held ~40 MB of Python ints)."""
    trainer = Trainer(make_run(tmp_path / "run", data, epochs=1))
    order = np.arange(1_000_000)
    monkeypatch.setattr(train.distributed, "epoch_order", lambda *args: order)
    tracemalloc.start()
    loader = trainer._loader(0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2e6 and len(loader) == 1_000_000 // trainer.cfg["batch_size"]


def test_learning_rate_warms_up_per_step_then_decays():
    f = [_lr_factor(s, 10, 100, 0.0) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(f[:9], f[1:10]))
    assert all(a >= b for a, b in zip(f[10:], f[11:])) and f[-1] < 0.01


def test_events_and_log(tmp_path, data):
    run = make_run(tmp_path / "run", data, epochs=2)
    events = list(Trainer(run).run())
    steps = [e for e in events if e.kind == "step"]
    assert [e.step for e in steps] == [1, 2, 3, 1, 2, 3] and [e.epoch for e in steps] == [1, 1, 1, 2, 2, 2]
    assert events[-1].kind == "done" and all(e.images_per_s > 0 for e in steps)
    logged = [json.loads(line) for line in run.log_path.read_text().splitlines()]
    assert [e["kind"] for e in logged].count("epoch") == 2 and logged[-1]["kind"] == "done"


@pytest.mark.parametrize("preset", ["small", "many"])
def test_kept_batch_latents_are_the_steps_own_and_change_nothing(tmp_path, data, preset):
    """The live map's latents come from the encoder pass the loss makes: each step hands out its batch's
    indices and latents (all images once per epoch), and the weights end bit for bit as without them."""
    plain = Trainer(make_run(tmp_path / "plain", data, epochs=2, preset=preset))
    list(plain.run())
    assert plain.batch_latents is None
    kept = Trainer(make_run(tmp_path / "kept", data, epochs=2, preset=preset))
    fresh = Trainer(make_run(tmp_path / "fresh", data, epochs=2, preset=preset))   # the initial weights
    kept.keep_latents = True
    batches = []
    for ev in kept.run():
        if ev.kind == "step" and ev.epoch == 1:
            batches.append(kept.batch_latents)
        elif ev.kind == "epoch":
            kept.keep_latents = False
        else:
            assert ev.kind != "step" or kept.batch_latents is None
    assert_same(params(plain.model), params(kept.model), exact=True)
    indices = np.concatenate([i for i, _ in batches])
    assert sorted(indices.tolist()) == list(range(24)) and indices.dtype == np.int64
    dim = batches[0][1].shape[1]
    assert all(z.shape == (len(i), dim) and z.dtype == np.float32 and np.isfinite(z).all() for i, z in batches)
    if preset == "small":   # the encoder reads the whole image: the first batch's latents, recomputed
        first, z = batches[0]
        items = [fresh.dataset[int(i)] for i in first]
        images, trans, rots, ctf = (torch.stack([it[k] for it in items]) for k in ("image", "trans", "rot", "ctf"))
        with torch.no_grad():
            x = fresh.model.encoder_input(images, trans, ctf)[0]
            np.testing.assert_allclose(z, fresh.model.latents(fresh.model.encode(x, rots)).numpy(), atol=1e-5)


def test_two_structure_mixture_loss_drops(tmp_path, data):
    run = make_run(tmp_path / "run", data, epochs=8, lr=3e-3)
    epochs = [e.loss for e in Trainer(run).run() if e.kind == "epoch"]
    assert epochs[-1] < 0.7 * epochs[0]


def test_cli_train_and_resume(tmp_path, data, capsys):
    out = tmp_path / "run"
    argv = ["train", str(out), "--particles", str(data["particles"]), "--poses", str(data["poses"]),
            "--ctf", str(data["ctf"]), "--epochs", "1", "--batch-size", "12", "--seed", "3"]
    assert main(argv) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train"]["batch_size"] == 12 and cfg["train"]["seed"] == 3 and "norm_std" in cfg["data"]
    assert main(argv) == 2  # refuses to overwrite
    assert "not empty" in capsys.readouterr().err
    assert main(["train", str(out), "--resume", "--epochs", "2"]) == 0
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 2
    assert main(["train", str(out), "--resume", "--encoder-input", "real"]) == 2  # a model setting: refused
    assert "--encoder-input differs" in capsys.readouterr().err


def test_cli_encoder_input_real_is_saved_and_trains(tmp_path, data):
    out = tmp_path / "real"
    assert main(["train", str(out), "--particles", str(data["particles"]), "--poses", str(data["poses"]),
                 "--epochs", "1", "--batch-size", "12", "--encoder", "mlp", "--encoder-input", "real"]) == 0
    assert json.loads((out / "config.json").read_text())["model"]["encoder_input"] == "real"


def test_cli_refuses_real_input_for_the_lift_encoder_before_writing_anything(tmp_path, data, capsys):
    """The default preset's lift encoder reads Fourier transforms: --encoder-input real alone is a clear error."""
    out = tmp_path / "real"
    assert main(["train", str(out), "--particles", str(data["particles"]), "--poses", str(data["poses"]),
                 "--epochs", "1", "--encoder-input", "real"]) == 2
    err = capsys.readouterr().err
    assert "--encoder-input real needs an image encoder" in err and "Traceback" not in err
    assert not out.exists()


def test_cli_all_points_with_the_default_preset_says_how(tmp_path, data, capsys):
    """The default preset splits each image's points between encoder and loss: --point-fraction 1 alone is
    refused with the setting that allows it, and with it training runs."""
    base = ["--particles", str(data["particles"]), "--poses", str(data["poses"]), "--epochs", "1", "--batch-size",
            "12", "--point-fraction", "1"]
    assert main(["train", str(tmp_path / "all"), *base]) == 2
    err = capsys.readouterr().err
    assert "--set encoder_split=false" in err and "Traceback" not in err and not (tmp_path / "all").exists()
    assert main(["train", str(tmp_path / "all"), *base, "--set", "encoder_split=false"]) == 0


def test_cli_point_fraction_and_settings_are_saved_and_checked(tmp_path, data, capsys):
    base = ["--particles", str(data["particles"]), "--poses", str(data["poses"]), "--epochs", "1",
            "--batch-size", "12"]
    out = tmp_path / "sampled"
    assert main(["train", str(out), *base, "--point-fraction", "0.5", "--set", "inr_width=64",
                 "--set", "encoder=mlp"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train"]["point_fraction"] == 0.5 and cfg["model"]["inr_width"] == 64
    assert cfg["model"]["encoder"] == "mlp"
    for bad, message in ((["--point-fraction", "0"], "--point-fraction must be in (0, 1]"),
                         (["--set", "nonsense=3"], "unknown setting 'nonsense'"),
                         (["--set", "inr_width"], "--set takes KEY=VALUE")):
        assert main(["train", str(tmp_path / "bad"), *base, *bad]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "bad").exists()


def test_point_fraction_trains_on_that_many_points(tmp_path, data, monkeypatch):
    from napari_cryohype.core.models.model import CryoHypeModel
    seen = []
    original = CryoHypeModel.image_losses
    monkeypatch.setattr(CryoHypeModel, "image_losses",
                        lambda self, *a: seen.append(a[-1]) or original(self, *a))
    run = make_run(tmp_path / "run", data, epochs=1, point_fraction=0.25)
    trainer = Trainer(run)
    list(trainer.run())
    m = trainer.model.geometry.n_half
    assert seen and all(p.shape[1] == round(0.25 * m) for p in seen)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_resume_on_cuda(tmp_path, data):
    """A checkpoint loads onto the GPU, RNG states included (torch's CUDA RNG takes its state from the CPU)."""
    run = make_run(tmp_path / "run", data, epochs=1, device="cuda")
    list(Trainer(run).run())
    run.config["train"]["epochs"] = 2
    run.save_config()
    events = list(Trainer(Run.open(tmp_path / "run")).run())
    assert events[-1].kind == "done" and events[-1].epoch == 2


def test_mixed_precision_only_on_cuda():
    assert autocast_dtype(torch.device("cpu"), True) is None
    if torch.cuda.is_available():
        assert autocast_dtype(torch.device("cuda"), True) in (torch.bfloat16, torch.float16)
        assert autocast_dtype(torch.device("cuda"), False) is None


def test_cli_ctf_values_a_star_lacks_come_from_flags_and_are_said(tmp_path, data, capsys):
    """A RELION 3.0 CTF file without _rlnAmplitudeContrast (like cryoDRGN's PfCRT example) trains with -w."""
    from napari_cryohype.core.io.pkl import load_ctf_pkl
    table = load_ctf_pkl(data["ctf"])
    cols = ["rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle", "rlnVoltage", "rlnSphericalAberration",
            "rlnDetectorPixelSize", "rlnMagnification"]
    rows = [" ".join(f"{v:g}" for v in (*r[2:7], 5.0, 5.0e4 / r[1])) for r in table]
    star = tmp_path / "ctf.star"
    star.write_text("data_\n\nloop_\n" + "".join(f"_{c}\n" for c in cols) + "\n".join(rows) + "\n")
    base = ["--particles", str(data["particles"]), "--poses", str(data["poses"]), "--ctf", str(star),
            "--epochs", "1", "--batch-size", "12"]
    assert main(["train", str(tmp_path / "no"), *base]) == 2
    assert "_rlnAmplitudeContrast (or give -w/--amp-contrast)" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()
    out = tmp_path / "run"
    assert main(["train", str(out), *base, "-w", "0.1", "--kv", "200"]) == 0
    err = capsys.readouterr().err
    assert f"-w/--amp-contrast 0.1 used: {star} has no _rlnAmplitudeContrast" in err
    assert "--kv 200 not used" in err
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data"]["ctf_defaults"] == {"w": 0.1, "kv": 200.0} and len(cfg["data"]["ctf_notes"]) == 2
    ds = Run.open(out).dataset()
    np.testing.assert_allclose(ds.ctf, table, rtol=1e-5)  # the same CTF as the complete .pkl
    assert main(["train", str(out), "--resume", "--epochs", "2"]) == 0
    assert main(["train", str(out), "--resume", "-w", "0.2"]) == 2
    assert "fixed when the run is made" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--batch-size", "0"], "--batch-size must be a whole number of at least 1, got 0"),
    (["--epochs", "0"], "--epochs must be a whole number of at least 1, got 0"),
    (["--lr", "0"], "--lr must be a positive number, got 0.0"),
    (["--lr=-1e-3"], "--lr must be a positive number, got -0.001"),
    (["--num-workers", "-1"], "--num-workers must be a whole number of at least 0, got -1"),
    (["-w", "1.5"], "-w 1.5 is not a valid value"),
    (["--set", "synthetic_views=-1"], "--set synthetic_views must be a number of at least 0, got -1"),
    (["--set", "synthetic_views_start=2"], "--set synthetic_views_start must be a share of the epochs from 0 to 1"),
])
def test_cli_bad_settings_are_refused_before_the_folder_is_made(tmp_path, data, capsys, flags, message):
    out = tmp_path / "run"
    assert main(["train", str(out), "--particles", str(data["particles"]), "--poses", str(data["poses"]),
                 *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_resume_refuses_bad_settings_too(tmp_path, data, capsys):
    out = tmp_path / "run"
    assert main(["train", str(out), "--particles", str(data["particles"]), "--poses", str(data["poses"]),
                 "--epochs", "1", "--batch-size", "12"]) == 0
    assert main(["train", str(out), "--resume", "--epochs", "0"]) == 2
    assert "--epochs must be a whole number of at least 1" in capsys.readouterr().err


def test_ctrl_c_in_a_real_process_keeps_the_last_finished_step_and_resume_continues(tmp_path, data):
    """SIGINT to `cryohype train`: exit 130 with a checkpoint of the last step it finished (every step is
    logged here), and --resume goes on from there to the end."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "napari_cryohype.cli", "train", str(out), "--particles", str(data["particles"]),
           "--poses", str(data["poses"]), "--ctf", str(data["ctf"]), "--epochs", "1000", "--batch-size", "4",
           "--threads", "1", "--set", "log_every=1", "--set", "patch=4", "--set", "width=32", "--set", "depth=1",
           "--set", "inr_width=32", "--set", "n_freqs=16", "--set", "mlp_dim=64", "--set", "heads=2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def steps() -> int:
        log = out / "log.jsonl"
        return sum('"kind": "step"' in line for line in log.read_text().splitlines()) if log.exists() else 0

    deadline = time.monotonic() + 180
    while steps() < 8 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read()
    seen = steps()
    proc.send_signal(signal.SIGINT)
    printed, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "stopping: writing the checkpoint" in err and "interrupted; continue with --resume" in printed
    ckpt = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["global_step"] >= seen >= 8 and ckpt["global_step"] == steps()  # the last finished step
    assert ckpt["global_step"] == 6 * ckpt["epoch"] + ckpt["position"]  # 24 images, 6 steps per epoch
    stopped = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    assert (stopped["kind"], stopped["epoch"], stopped["step"]) == ("stopped", ckpt["epoch"] + 1, ckpt["position"])
    assert main(["train", str(out), "--resume", "--epochs", str(ckpt["epoch"] + 1)]) == 0
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=True)["global_step"] == 6 * (ckpt["epoch"] + 1)


def test_a_truncated_or_foreign_checkpoint_is_a_clear_error(tmp_path, data):
    from napari_cryohype.core.errors import InputError
    run = make_run(tmp_path / "run", data, epochs=1)
    list(Trainer(run).run())
    whole = run.checkpoint_path.read_bytes()
    run.checkpoint_path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match=r"last.pt: unreadable checkpoint: truncated, or not a CryoHype checkpoint"):
        Run.open(run.path).load_model()
    torch.save({"anything": 1}, run.checkpoint_path)
    with pytest.raises(InputError, match="last.pt: not a CryoHype checkpoint"):
        Run.open(run.path).load_checkpoint()


def test_a_checkpoint_cannot_run_code_when_opened(tmp_path, data):
    """weights_only: a pickle that would call a function on loading is refused, and the function is not called."""
    import os
    from napari_cryohype.core.errors import InputError
    run = make_run(tmp_path / "run", data, epochs=1)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return os.mkdir, (str(marker),)

    torch.save({"model": Payload(), "config": {}}, run.checkpoint_path)
    with pytest.raises(InputError, match="unreadable checkpoint"):
        Run.open(run.path).load_checkpoint()
    assert not marker.exists()


def test_an_older_checkpoint_with_numpy_rng_state_still_resumes_exactly(tmp_path, data):
    """Checkpoints written before weights_only held np.random.get_state()'s tuple; they still load."""
    ref = Trainer(make_run(tmp_path / "ref", data, epochs=2))
    list(ref.run())
    run = make_run(tmp_path / "old", data, epochs=2)
    tr = Trainer(run)
    for ev in tr.run():
        if ev.kind == "epoch":
            break
    ckpt = torch.load(run.checkpoint_path, weights_only=True)
    s = ckpt["rng"]["numpy"]
    ckpt["rng"]["numpy"] = (s["kind"], s["keys"].numpy().astype(np.uint32), s["pos"], s["has_gauss"],
                            s["cached_gaussian"])
    torch.save(ckpt, run.checkpoint_path)
    resumed = Trainer(Run.open(tmp_path / "old"))
    list(resumed.run())
    assert_same(params(resumed.model), params(ref.model), exact=True)


def test_atomic_writes_reach_the_disk_before_the_rename(tmp_path, monkeypatch):
    import os
    from napari_cryohype.core.io import atomic
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
                        or real_fsync(fd))
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: calls.append(("replace", str(b))) or real_replace(a, b))
    with atomic.atomic_path(tmp_path / "f.txt") as tmp:
        tmp.write_text("data")
    assert [c[0] for c in calls] == ["fsync", "replace", "fsync"]
    assert ".partial-" in calls[0][1] and calls[1][1] == str(tmp_path / "f.txt") and calls[2][1] == str(tmp_path)
    assert (tmp_path / "f.txt").read_text() == "data"


def test_every_epoch_checkpoint_is_kept_when_asked_and_opened_by_epoch(tmp_path, data):
    from napari_cryohype.core.errors import InputError

    run = make_run(tmp_path / "kept", data, epochs=2, checkpoint_every_epoch=True)
    for _ in Trainer(run).run():
        pass
    kept = sorted(p.name for p in (run.path / "checkpoints").iterdir())
    assert kept == ["epoch_001.pt", "epoch_002.pt", "last.pt"]
    first, last = run.at_epoch(1), run.at_epoch(2)
    assert first.load_checkpoint()["epoch"] == 1 and last.load_checkpoint()["epoch"] == 2
    assert_same(last.load_model().state_dict(), run.load_model().state_dict(), exact=True)
    assert first.analysis_dir == run.path / "analysis" / "epoch_001"
    with pytest.raises(InputError, match="kept epochs: 1, 2"):
        run.at_epoch(3)

    plain = make_run(tmp_path / "plain", data, epochs=1)  # off by default: only last.pt
    for _ in Trainer(plain).run():
        pass
    assert sorted(p.name for p in (plain.path / "checkpoints").iterdir()) == ["last.pt"]
    with pytest.raises(InputError, match="--checkpoint-every-epoch"):
        plain.at_epoch(1)


def test_cli_checkpoint_every_epoch_flag(tmp_path, data):
    out = tmp_path / "run"
    assert main(["train", str(out), "--particles", str(data["particles"]), "--poses", str(data["poses"]),
                 "--epochs", "1", "--batch-size", "24", "--set", "inr_width=16", "--set", "width=16",
                 "--set", "depth=1", "--set", "mlp_dim=16", "--set", "n_freqs=4",
                 "--checkpoint-every-epoch"]) == 0
    assert json.loads((out / "config.json").read_text())["train"]["checkpoint_every_epoch"] is True
    assert (out / "checkpoints" / "epoch_001.pt").is_file()


def test_the_threads_used_are_set_and_recorded_and_resume_may_change_them(tmp_path, data, monkeypatch):
    from napari_cryohype.core import threads

    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "usable_cores", lambda: 3)
    monkeypatch.setattr(threads, "TORCH_DEFAULT", 3)
    try:
        out = tmp_path / "run"
        argv = ["train", str(out), "--particles", str(data["particles"]), "--poses", str(data["poses"]),
                "--epochs", "1", "--batch-size", "12"]
        assert main(argv) == 0
        cfg = json.loads((out / "config.json").read_text())["train"]
        assert cfg["threads"] == "auto" and cfg["threads_used"] == 2 == torch.get_num_threads()
        assert main(["train", str(out), "--resume", "--epochs", "2", "--threads", "1"]) == 0
        cfg = json.loads((out / "config.json").read_text())["train"]
        assert cfg["threads"] == 1 and cfg["threads_used"] == 1 == torch.get_num_threads()
        Trainer(make_run(tmp_path / "default", data, threads=0))   # 0: torch's own default
        assert json.loads((tmp_path / "default" / "config.json").read_text())["train"]["threads_used"] == 3
    finally:
        torch.set_num_threads(before)


def test_cli_threads_must_be_auto_or_a_number(tmp_path, data, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit):
        main(["train", str(out), "--particles", str(data["particles"]), "--poses", str(data["poses"]),
              "--threads", "many"])
    assert "--threads" in capsys.readouterr().err and not out.exists()
