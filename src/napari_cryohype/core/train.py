"""Training: an iterator of progress events, stoppable within a step and resumable exactly.

``Trainer(run).run()`` yields :class:`ProgressEvent` s. Checkpoints (``RUN/checkpoints/last.pt``, written
atomically by rank 0) hold the model, optimiser, scheduler (and fp16 gradient scaler), epoch, position within
the epoch, global step, the epoch's step losses so far, RNG states and config; a new :class:`Trainer` on the
same run continues from it — mid-epoch too, since the epoch's order is recomputed from ``(seed, epoch)``
(:func:`napari_cryohype.core.distributed.epoch_order`) and the batches already done are skipped — and ends
with the weights, optimiser state and logged losses of an uninterrupted run, bit for bit (single process,
same device and threads). The RNG states of a checkpoint are those of its position: at an epoch's start
(position 0), before that epoch's DataLoader draws its base seed from torch's generator; mid-epoch, after the
step it follows (so a resume undoes its own loader's draw, and a stop inside a step or at an epoch's start
rewinds to them). The learning rate warms up linearly per step, then follows a cosine to
``lr * min_lr_ratio``. Mixed precision (bf16, else fp16) is used on CUDA only.

Stopping: :meth:`Trainer.stop` (from any thread) abandons the step in progress — autograd's saved-tensor
hooks check the request in the forward and the backward pass, so a long step (the paper preset on a CPU)
does not have to finish — and the checkpoint holds the state before that step, which a resume redoes.
Under DistributedDataParallel every rank must finish the step, so there the run ends after it.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader

from napari_cryohype.core import distributed
from napari_cryohype.core.io.atomic import atomic_path
from napari_cryohype.core.models.presets import DEFAULT as DEFAULT_PRESET, preset
from napari_cryohype.core.models.slices import SliceGeometry
from napari_cryohype.core.run import Run
from napari_cryohype.core.threads import AUTO, resolve_threads

_DATA_KEYS = ("particles", "poses", "ctf", "datadir", "ctf_defaults", "box", "invert_data")


def train_config(**overrides) -> dict:
    """A complete run configuration: preset ``preset`` (default "many", ``presets.DEFAULT``) with flat overrides.

    Keys are looked up in the data (particles, poses, ctf, datadir, ctf_defaults, box, invert_data: see
    :class:`~napari_cryohype.core.io.dataset.ParticleDataset`; invert_data None decides from the data), model
    and train sections, e.g.
    ``train_config(particles="p.mrcs", poses="poses.pkl", conditioning="concat", epochs=5)``."""
    name = overrides.pop("preset", DEFAULT_PRESET)
    cfg = {"version": 1, "preset": name, "data": {k: None for k in _DATA_KEYS}, **preset(name)}
    for key, value in overrides.items():
        section = next((s for s in ("data", "model", "train") if key in cfg[s]), None)
        if section is None:
            raise ValueError(f"unknown setting {key!r}")
        cfg[section][key] = value
    return cfg


@dataclass
class ProgressEvent:
    """One report from :meth:`Trainer.run`.

    kind: "step" (after each optimiser step), "epoch" (an epoch finished), "done" (all epochs finished) or
    "stopped" (ended by :meth:`Trainer.stop`). epoch: 1-based epoch the event belongs to (for "done", the
    last one; for "stopped", the one the checkpoint is in); step: 1-based step within it ("stopped": the
    steps of that epoch the checkpoint holds, 0 at its start); global_step: steps done in all; loss: the
    step's loss ("step", "stopped": the last finished one) or the epoch's mean loss ("epoch", "done");
    images_per_s: recent throughput (all ranks); eta_s: estimated seconds to the end; elapsed_s: training
    seconds so far, reading the batches included (resumed runs too).
    """
    kind: str
    epoch: int
    epochs: int
    step: int
    steps_per_epoch: int
    global_step: int
    loss: float
    images_per_s: float
    eta_s: float
    elapsed_s: float


def dataset_std(dataset, geometry: SliceGeometry, n: int = 1000, seed: int = 0, batch: int = 100) -> float:
    """cryoDRGN's normalisation: the std of the particles' centred Hartley transforms (inside the training
    disk), estimated from up to ``n`` images chosen with ``seed``."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(dataset), size=min(n, len(dataset)), replace=False))
    acc = acc2 = count = 0.0
    for start in range(0, len(idx), batch):
        items = [dataset[int(i)] for i in idx[start:start + batch]]
        imgs = torch.stack([it["image"] for it in items])
        trans = torch.stack([it["trans"] for it in items])
        v = geometry.split(geometry.targets(imgs, trans)).double()
        acc, acc2, count = acc + v.sum().item(), acc2 + v.pow(2).sum().item(), count + v.numel()
    mean = acc / count
    return float(math.sqrt(max(acc2 / count - mean**2, 1e-30)))


def autocast_dtype(device: torch.device, amp: bool) -> torch.dtype | None:
    """The mixed-precision dtype of training steps: bf16 on a CUDA GPU that has it, else fp16 (with a
    gradient scaler); None (fp32) on the CPU or without ``amp``."""
    if not amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def make_optimizer(params, lr: float, weight_decay: float, device: torch.device) -> torch.optim.Optimizer:
    """Adam (AdamW with weight decay), fused into one kernel over all parameters (CPU and CUDA)."""
    cls = torch.optim.AdamW if weight_decay > 0 else torch.optim.Adam
    return cls(params, lr=lr, weight_decay=weight_decay, fused=device.type in ("cpu", "cuda"))


def _lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    if step < warmup:
        return (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))


def _numpy_state(saved) -> tuple:
    """NumPy's legacy RNG state from a checkpoint: the dict :meth:`Trainer._rng_state` writes, or the tuple
    of older checkpoints."""
    if isinstance(saved, dict):
        keys = np.asarray(saved["keys"].cpu().numpy(), dtype=np.uint32)
        return saved["kind"], keys, int(saved["pos"]), int(saved["has_gauss"]), float(saved["cached_gaussian"])
    return tuple(saved)


def _python_state(saved) -> tuple:
    """``random.setstate``'s tuple (version, 625 ints, gauss) from a checkpoint (lists become tuples)."""
    version, internal, gauss = saved
    return int(version), tuple(int(v) for v in internal), gauss


def keep_copy(src: Path, dst: Path) -> None:
    """Copy a checkpoint to ``dst`` atomically (a per-epoch one: ``checkpoints/epoch_NNN.pt``)."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def _ignore_sigint(_worker_id: int) -> None:
    """DataLoader workers leave Ctrl-C to the main process, which stops the run and writes the checkpoint."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class EpochBatches:
    """An epoch's batches of dataset indices, from batch ``start`` on, made one at a time as the DataLoader
    asks for them: ``order`` (n,) int indices -> lists of at most ``batch_size`` ints. (A list of every
    batch as Python ints would hold ~40 bytes per image: 40 MB for a million images.)"""

    def __init__(self, order: np.ndarray, batch_size: int, start: int = 0):
        self.order, self.batch_size, self.start = order, int(batch_size), int(start)

    def __len__(self) -> int:
        return max(0, -(-len(self.order) // self.batch_size) - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        for i in range(self.start * self.batch_size, len(self.order), self.batch_size):
            yield self.order[i:i + self.batch_size].tolist()


class _StepAbandoned(Exception):
    """Raised inside a training step when a stop was requested."""


class Trainer:
    """Trains the model of ``run`` (resuming from its checkpoint if there is one)."""

    def __init__(self, run: Run):
        self.run_dir = run
        cfg = run.config
        t = cfg["train"]
        self.cfg = t
        self._stop = threading.Event()
        self.rank, self.world, self.device = distributed.init(t["device"])
        t["threads_used"] = resolve_threads(t.get("threads", AUTO))
        torch.set_num_threads(t["threads_used"])
        self.dataset = run.dataset()
        geometry = SliceGeometry(self.dataset.D)
        if "norm_std" not in cfg["data"]:
            cfg["data"]["norm_std"] = dataset_std(self.dataset, geometry, seed=t["seed"])
        if self.rank == 0:
            run.save_config()
        self._seed_everything(int(t["seed"]))
        self.model = run.build_model().to(self.device)
        self.model.norm_std.fill_(cfg["data"]["norm_std"])
        self.opt = make_optimizer(self.model.parameters(), t["lr"], t["weight_decay"], self.device)
        n_rank = len(distributed.epoch_order(len(self.dataset), 0, 0, self.rank, self.world))
        self.steps_per_epoch = -(-n_rank // int(t["batch_size"]))
        total = self.steps_per_epoch * int(t["epochs"])
        warmup = max(1, round(float(t["warmup_epochs"]) * self.steps_per_epoch))
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: _lr_factor(s, warmup, total, float(t["min_lr_ratio"])))
        self.epoch = self.position = self.global_step = 0
        self.elapsed = 0.0
        self.epoch_losses: list[float] = []   # the losses of the steps of the epoch in progress
        self.amp_dtype = autocast_dtype(self.device, bool(t["amp"]))
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        if run.has_checkpoint:
            self._restore(run.load_checkpoint(self.device))
        self.ddp = None
        if self.world > 1:
            self.ddp = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        n_half = self.model.geometry.n_half
        frac = float(t.get("point_fraction", 1.0))
        self.n_points = None if frac >= 1 else max(1, round(frac * n_half))
        self.rotate_encoder = bool(t.get("encoder_rotation", False))
        self.split = bool(t.get("encoder_split", False))
        self.views = float(t.get("synthetic_views", 0.0))
        self.views_from = float(t.get("synthetic_views_start", 0.0)) * int(t["epochs"])  # epochs (0-based)
        #: set True (from any thread) to have each step keep its batch's latents in :attr:`batch_latents`,
        #: from the encoder pass the loss makes anyway (the Train widget's live map); off, a step pays nothing
        self.keep_latents = False
        #: after a step with :attr:`keep_latents`: (dataset indices (B,) int64, latents (B, d) float32), the
        #: latents of the weights before the step; else None
        self.batch_latents: tuple[np.ndarray, np.ndarray] | None = None

    # -- state ----------------------------------------------------------------------------------------
    @staticmethod
    def _seed_everything(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def _rng_state(self) -> dict:
        """The RNG states as tensors and plain values (what ``torch.load(weights_only=True)`` reads)."""
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        numpy_state = {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}
        state = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    @staticmethod
    def _set_rng_state(rng: dict) -> None:
        """Set every RNG from :meth:`_rng_state`'s dict (or a checkpoint's, older ones included)."""
        torch.set_rng_state(rng["torch"].cpu())
        np.random.set_state(_numpy_state(rng["numpy"]))
        random.setstate(_python_state(rng["python"]))
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([state.cpu() for state in rng["cuda"]])  # loaded onto the GPU

    def _torch_rng(self) -> tuple:
        """The states of the generators a step and a DataLoader draw from: torch's CPU one and this device's
        CUDA one (None on the CPU). Cheap enough to take every step; NumPy's and Python's are not used there."""
        return torch.get_rng_state(), torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None

    def _set_torch_rng(self, state: tuple) -> None:
        cpu, cuda = state
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state(cuda, self.device)

    def _restore(self, ckpt: dict) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.sched.load_state_dict(ckpt["scheduler"])
        if self.scaler is not None and "scaler" in ckpt:
            self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.position = int(ckpt["epoch"]), int(ckpt["position"])
        self.global_step, self.elapsed = int(ckpt["global_step"]), float(ckpt.get("elapsed_s", 0.0))
        # older checkpoints lack the epoch's losses: the resumed epoch's mean is then of the resumed steps
        self.epoch_losses = [float(v) for v in ckpt.get("epoch_losses", torch.zeros(0)).tolist()]
        self._set_rng_state(ckpt["rng"])

    def save_checkpoint(self) -> None:
        """Write ``checkpoints/last.pt`` atomically (rank 0 only)."""
        if self.rank != 0:
            return
        state = {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                 "scheduler": self.sched.state_dict(), "epoch": self.epoch, "position": self.position,
                 "global_step": self.global_step, "elapsed_s": self.elapsed,
                 "epoch_losses": torch.tensor(self.epoch_losses, dtype=torch.float64), "rng": self._rng_state(),
                 "config": self.run_dir.config}
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        path = self.run_dir.checkpoint_path
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    def stop(self) -> None:
        """Ask :meth:`run` to end (thread-safe): the step in progress is abandoned (single process) or
        finished (DDP); a checkpoint is written and a "stopped" event ends the iteration."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was asked."""
        return self._stop.is_set()

    def _check_stop(self, t: torch.Tensor) -> torch.Tensor:
        """Saved-tensor hook, called for every tensor autograd saves or unpacks: raises on a stop request."""
        if self._stop.is_set():
            raise _StepAbandoned
        return t

    # -- loop -----------------------------------------------------------------------------------------
    def _log(self, ev: ProgressEvent) -> None:
        if self.rank == 0:
            with open(self.run_dir.log_path, "a") as f:
                f.write(json.dumps(asdict(ev)) + "\n")

    def _step(self, batch: dict) -> float:
        dev = self.device
        images = batch["image"].to(dev, non_blocking=True)
        rots = batch["rot"].to(dev, non_blocking=True)
        trans = batch["trans"].to(dev, non_blocking=True)
        ctf = batch["ctf"].to(dev, non_blocking=True) if self.dataset.has_ctf else None
        net = self.ddp or self.model
        keep = self.model.keep_latents = self.keep_latents
        self.opt.zero_grad(set_to_none=True)
        abortable = self.world == 1
        with torch.autograd.graph.saved_tensors_hooks(self._check_stop, self._check_stop) if abortable \
                else contextlib.nullcontext():
            with torch.autocast(dev.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                loss = net(images, rots, trans, ctf, self.n_points, self.rotate_encoder, self.split,
                           self.views if self.epoch >= self.views_from else 0.0)
            (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        if abortable and self._stop.is_set():  # asked during the last op: do not apply a half-made step
            raise _StepAbandoned
        clip = float(self.cfg["grad_clip"])
        if self.scaler is not None:
            self.scaler.unscale_(self.opt)
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.opt.step()
        self.sched.step()
        self.batch_latents = None
        if keep:
            self.batch_latents = (batch["index"].numpy().astype(np.int64),
                                  self.model.last_latents.float().cpu().numpy())
            self.model.last_latents = None
        return float(loss.detach())

    def _loader(self, epoch: int) -> DataLoader:
        order = distributed.epoch_order(len(self.dataset), int(self.cfg["seed"]), epoch, self.rank, self.world)
        batches = EpochBatches(order, int(self.cfg["batch_size"]), self.position)
        workers = int(self.cfg["num_workers"])
        return DataLoader(self.dataset, batch_sampler=batches, num_workers=workers,
                          pin_memory=self.device.type == "cuda", persistent_workers=False,
                          prefetch_factor=4 if workers > 0 else None,
                          worker_init_fn=_ignore_sigint if workers > 0 else None)

    def run(self) -> Iterator[ProgressEvent]:
        """Train to the configured number of epochs, yielding progress; resumable at any point."""
        t = self.cfg
        epochs, spe, bs = int(t["epochs"]), self.steps_per_epoch, int(t["batch_size"])
        every, log_every = int(t["checkpoint_every"]), max(1, int(t["log_every"]))
        self.model.train()
        rate, last_loss = 0.0, float("nan")

        def event(kind: str, loss: float) -> ProgressEvent:
            remaining = (epochs * spe - self.global_step) * bs * self.world
            eta = remaining / rate if rate > 0 else float("nan")
            within = kind in ("step", "stopped")   # an event of the epoch in progress
            return ProgressEvent(kind, min(self.epoch + 1, epochs) if within else max(self.epoch, 1),
                                 epochs, self.position if within else spe, spe, self.global_step, loss,
                                 rate, eta if kind in ("step", "epoch") else 0.0, self.elapsed)

        epoch_loss = float("nan")
        while self.epoch < epochs:
            stopped = False
            mark = self._torch_rng()   # the RNG state that goes with (epoch, position): see the module's doc
            batches = iter(self._loader(self.epoch))   # draws the loader's base seed from torch's generator
            if self.position:   # resumed mid-epoch: the checkpoint's state follows this epoch's loader draw
                self._set_torch_rng(mark)
            while True:
                t0 = time.perf_counter()   # a step's time includes reading its batch
                batch = next(batches, None)
                if batch is None:
                    break
                if distributed.any_rank(self._stop.is_set(), self.device):
                    stopped = True
                    break
                try:
                    last_loss = self._step(batch)
                except _StepAbandoned:
                    self.opt.zero_grad(set_to_none=True)
                    stopped = True
                    break
                dt = time.perf_counter() - t0
                self.elapsed += dt
                n = len(batch["index"]) * self.world
                rate = n / dt if rate == 0 else 0.9 * rate + 0.1 * n / dt
                mark = self._torch_rng()
                self.epoch_losses.append(last_loss)
                self.position += 1
                self.global_step += 1
                ev = event("step", last_loss)
                if self.global_step % log_every == 0:
                    self._log(ev)
                yield ev
                if every and self.global_step % every == 0:
                    self.save_checkpoint()
            if stopped:   # before an abandoned step, or before this epoch's loader at its start
                self._set_torch_rng(mark)
                self.save_checkpoint()
                ev = event("stopped", last_loss)
                self._log(ev)
                yield ev
                return
            losses = self.epoch_losses
            epoch_loss = distributed.mean_over_ranks(float(np.mean(losses)) if losses else float("nan"),
                                                     self.device)
            self.epoch += 1
            self.position = 0
            self.epoch_losses = []
            self.save_checkpoint()
            if self.cfg.get("checkpoint_every_epoch") and self.rank == 0:
                keep_copy(self.run_dir.checkpoint_path, self.run_dir.epoch_checkpoint_path(self.epoch))
            ev = event("epoch", epoch_loss)
            self._log(ev)
            yield ev
        ev = event("done", epoch_loss)
        self._log(ev)
        yield ev
