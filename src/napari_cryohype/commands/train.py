"""``cryohype train``: train a CryoHype model on a particle stack with known poses (and CTF)."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading

from tqdm import tqdm

from napari_cryohype.commands._ctf import add_ctf_arguments, ctf_overrides
from napari_cryohype.commands._images import add_image_arguments, image_notes
from napari_cryohype.core.errors import InputError
from napari_cryohype.core.models import PRESETS
from napari_cryohype.core.models.presets import ABOUT as PRESET_ABOUT, DEFAULT as DEFAULT_PRESET, check_train
from napari_cryohype.core.threads import threads_setting

DESCRIPTION = """\
Train CryoHype on a particle stack with known poses (and CTF): a ViT hypernetwork reads each image and
modulates every layer of an implicit neural representation of that image's structure.

Writes into OUTDIR: config.json (every setting), checkpoints/last.pt (after every epoch and when
interrupted; with --checkpoint-every-epoch also checkpoints/epoch_NNN.pt of each), log.jsonl (progress). --resume continues an interrupted run exactly where it stopped, mid-epoch
included. Works under torchrun (data parallel; gloo on CPU, nccl on CUDA)."""

EPILOG = """\
examples:
  cryohype train run1 --particles demo/particles.mrcs --poses demo/poses.pkl --ctf demo/ctf.pkl --epochs 20
  cryohype train run1 --resume
  torchrun --nproc_per_node 2 -m napari_cryohype.cli train run2 --particles p.star --poses p.star --ctf p.star"""


def add_parser(subparsers) -> None:
    """Register ``cryohype train``."""
    p = subparsers.add_parser("train", help="train a CryoHype model", description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("outdir", metavar="OUTDIR", help="run folder (new or empty, unless --force or --resume)")
    p.add_argument("--particles", metavar="STACK", help="particle images: .mrcs, .star, .cs or .txt")
    p.add_argument("--poses", metavar="POSES", help="poses: cryoDRGN .pkl, .star or .cs")
    p.add_argument("--ctf", metavar="CTF", help="CTF parameters: cryoDRGN .pkl, .star or .cs (default: none)")
    p.add_argument("--datadir", metavar="DIR", help="folder of the stacks a .star/.cs/.txt refers to")
    add_ctf_arguments(p)
    add_image_arguments(p)
    p.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET,
                   help=f"model and training sizes, default {DEFAULT_PRESET}. "
                        + "; ".join(f"{name}: {about}" for name, about in PRESET_ABOUT.items()))
    p.add_argument("--conditioning", choices=("hyper", "concat"),
                   help="hyper: modulate every INR layer (CryoHype); concat: cryoDRGN-style baseline")
    p.add_argument("--encoder", choices=("vit", "mlp", "lift", "unet"),
                   help="image encoder (default: the preset's, lift in many, vit in small and paper; lift: the "
                        "mlp encoder reading each image's transform placed in 3D at its pose)")
    p.add_argument("--encoder-input", choices=("hartley", "real", "ctf"),
                   help="what the encoder sees: the centred, CTF phase-flipped Hartley transform (default), "
                        "its inverse, a CTF-corrected real-space image, or (lift encoder only) the transform times "
                        "the CTF beside the CTF squared")
    p.add_argument("--epochs", type=int, metavar="E", help="epochs (preset default)")
    p.add_argument("--batch-size", type=int, metavar="B", help="images per step (per process)")
    p.add_argument("--lr", type=float, metavar="LR", help="peak learning rate")
    p.add_argument("--device", help="cpu or cuda (default cpu)")
    p.add_argument("--seed", type=int, metavar="N", help="random seed (default 0)")
    p.add_argument("--num-workers", type=int, metavar="W", help="data-loading processes (default 0)")
    p.add_argument("--threads", type=threads_setting, metavar="T",
                   help="torch CPU threads per process: auto (default: one core left free, at least 1), 0 "
                        "(torch's default, one per core) or a number; config.json records the number used")
    p.add_argument("--point-fraction", type=float, metavar="F",
                   help="share of each slice's Fourier points in the loss, drawn at random every step "
                        "(0 < F <= 1; default: the preset's)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                   help="any other model or training setting of config.json, e.g. --set inr_width=256 "
                        "(repeatable; VALUE is read as JSON, else as text)")
    p.add_argument("--checkpoint-every-epoch", action="store_const", const=True,
                   help="also keep each epoch's checkpoint, checkpoints/epoch_NNN.pt (for cryohype analyze --epoch)")
    p.add_argument("--resume", action="store_true", help="continue the run in OUTDIR from its checkpoint")
    p.add_argument("--force", action="store_true", help="replace an earlier run in OUTDIR")
    p.set_defaults(func=run)


_OVERRIDES = ("conditioning", "encoder", "encoder_input", "epochs", "batch_size", "lr", "device", "seed",
              "num_workers", "threads", "point_fraction", "checkpoint_every_epoch")


def _settings(pairs: list[str]) -> dict:
    """``--set KEY=VALUE`` pairs -> {key: value}, VALUE parsed as JSON where it is JSON (numbers, true)."""
    out = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--set takes KEY=VALUE, got {pair!r}")
        try:
            out[key.replace("-", "_")] = json.loads(text)
        except json.JSONDecodeError:
            out[key.replace("-", "_")] = text
    return out


def _make_run(args):
    from napari_cryohype.core.run import Run
    from napari_cryohype.core.train import train_config

    overrides = {**_settings(args.settings),
                 **{k: getattr(args, k) for k in _OVERRIDES if getattr(args, k) is not None}}
    if args.point_fraction is not None and not 0 < args.point_fraction <= 1:
        raise InputError(f"--point-fraction must be in (0, 1], got {args.point_fraction}")
    ctf_defaults = ctf_overrides(args)
    if args.resume:
        if args.force:
            raise InputError("--resume and --force contradict each other")
        if ctf_defaults:
            raise InputError("--kv, --cs, -w, --ps and --Apix are fixed when the run is made; not on --resume",
                             args.outdir)
        if args.box is not None or args.invert_data is not None:
            raise InputError("--box, --invert-data and --uninvert-data are fixed when the run is made; not on "
                             "--resume", args.outdir)
        run = Run.open(args.outdir)
        for key, value in overrides.items():  # only the schedule-neutral ones may change on resume
            if key in ("epochs", "device", "num_workers", "threads", "checkpoint_every_epoch"):
                run.config["train"][key] = value
            elif run.config["model"].get(key, run.config["train"].get(key)) != value:
                raise InputError(f"--{key.replace('_', '-')} differs from the run being resumed", args.outdir)
        try:
            check_train(run.config["train"])
        except ValueError as err:
            raise InputError(str(err)) from None
        return run
    if not args.particles or not args.poses:
        raise InputError("--particles and --poses are required (or --resume an existing run)")
    try:
        cfg = train_config(preset=args.preset, particles=args.particles, poses=args.poses, ctf=args.ctf,
                           datadir=args.datadir, ctf_defaults=ctf_defaults or None, box=args.box,
                           invert_data=args.invert_data, **overrides)
    except ValueError as err:   # an unknown --set key
        raise InputError(str(err)) from None
    run = Run.create(args.outdir, cfg, force=args.force)
    data = run.config["data"]
    for note in image_notes(data["contrast"], data["source_D"], data["D"], data["apix"]) + data["ctf_notes"]:
        print(f"cryohype train: {note}", file=sys.stderr)
    return run


def _stop_on_ctrl_c(trainer):
    """Make the first Ctrl-C (SIGINT) stop ``trainer`` cleanly: the step in progress is abandoned and the
    checkpoint of the last finished step is written; a second one raises KeyboardInterrupt. Returns the
    previous handler (None outside the main thread, where signals cannot be handled)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        if trainer.stopping:
            raise KeyboardInterrupt
        trainer.stop()
        os.write(2, b"\nstopping: writing the checkpoint of the last finished step (Ctrl-C again to quit now)\n")

    return signal.signal(signal.SIGINT, handler)


def run(args: argparse.Namespace) -> int:
    """Train with a progress bar (loss, images/s, ETA); return 0 when done, 130 when interrupted."""
    from napari_cryohype.core.train import Trainer

    import torch.distributed as dist

    from napari_cryohype.core import distributed
    from napari_cryohype.core.run import Run

    rank, world, _ = distributed.init(args.device or "cpu")
    if rank == 0:  # under torchrun, rank 0 makes (or checks) the run folder, the others then open it
        run_ = _make_run(args)
    if world > 1:
        dist.barrier()
    if rank != 0:
        run_ = Run.open(args.outdir)
    trainer = Trainer(run_)
    if args.resume and trainer.rank == 0:
        run_.save_config()
    show = trainer.rank == 0
    total = trainer.steps_per_epoch * int(run_.config["train"]["epochs"])
    bar = tqdm(total=total, initial=trainer.global_step, unit="step", disable=not show or None, dynamic_ncols=True)
    status = 0
    events = trainer.run()
    previous = _stop_on_ctrl_c(trainer)
    try:
        for ev in events:
            if ev.kind == "stopped":
                status = 130
            if ev.kind == "step":
                bar.update(ev.global_step - bar.n)
                eta = "?" if math.isnan(ev.eta_s) else f"{ev.eta_s / 60:.1f}min"
                bar.set_postfix_str(f"epoch {ev.epoch}/{ev.epochs} loss {ev.loss:.4f} "
                                    f"{ev.images_per_s:.1f} img/s ETA {eta}", refresh=False)
            elif ev.kind == "epoch" and show:
                bar.write(f"epoch {ev.epoch}/{ev.epochs}: mean loss {ev.loss:.5f}")
    except KeyboardInterrupt:  # a second Ctrl-C: quit at once, the last checkpoint written stays
        status = 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        bar.close()
    if show:
        msg = "interrupted; continue with --resume" if status else "done"
        print(f"{msg}: {run_.path} (checkpoint {run_.checkpoint_path.name})")
    return status
