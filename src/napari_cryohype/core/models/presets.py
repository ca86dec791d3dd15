"""Named model and optimiser sizes. Every value ends up in the run's ``config.json``.

``small`` trains on a 2-core CPU in minutes at D = 32..64 (the paper's ViT encoder, scaled down); ``many``,
the default, is ``small`` sized for mixtures of up to hundreds of structures (the lift encoder, 32 weight
tokens per INR layer, half of each slice's Fourier points per step in the loss and the other half in the
encoder): it scored best and trained fastest at every mixture size measured, 5 to 200 structures
(``docs/benchmarks.md``); ``paper`` is the CryoHype paper's
configuration (ViT 768x6, 12 heads, MLP 3072, patch 16, 129 weight tokens, INR 5x1024, 192 Gaussian
frequencies, Adam 1e-4, batch 64, 50 epochs).
"""

from __future__ import annotations

import copy
import math

from napari_cryohype.core.threads import AUTO, check_threads

from .encoders import ENCODERS

#: model settings shared by every preset (overridden per preset below)
_MODEL_BASE = {
    "conditioning": "hyper",      # "hyper" (modulate every INR layer) | "concat" (z joins the INR input)
    "encoder": "vit",             # "vit" | "mlp" | "lift" | "unet"
    "encoder_input": "hartley",   # "hartley" (phase-flipped, centred transform) | "real" (masked image) |
                                  # "ctf" (transform times CTF, and CTF squared: lift encoder only)
    "patch": 8,                   # ViT patch size, pixels
    "width": 128,                 # encoder token width
    "depth": 4,                   # Transformer blocks
    "heads": 4,                   # attention heads
    "mlp_dim": 256,               # Transformer MLP hidden size
    "pos_embed": True,            # learned positional embedding of the image patches
    "tokens_per_layer": 8,        # weight tokens per hidden INR layer: min(this, layer width)
    "output_tokens": 1,           # weight tokens of the INR output layer
    "zdim": 8,                    # latent size of the concat baseline
    "encoder_hidden": 1024,       # hidden width of the mlp encoder / channels base of the unet encoder
    "lift_radius": 8,             # lift encoder: the disk placed in 3D, Fourier pixels (resolution: box / radius)
    "inr_width": 128,             # INR hidden width
    "inr_layers": 5,              # INR linear layers in all (first, residual middle ones, output)
    "n_freqs": 64,                # Gaussian Fourier features (sin and cos of each: 2 x n_freqs inputs)
    "pe_sigma": 0.5,              # std of the Gaussian frequencies, in units of 1 / (D/2 Fourier pixels)
    "latent_noise": 0.0,          # > 0: each image's latent is scaled to unit RMS and, in training, this std of
                                  # Gaussian noise is added to it (a limit on what one latent can carry; 0: off)
}

_TRAIN_BASE = {
    "epochs": 20,
    "batch_size": 32,
    "lr": 1e-3,
    "min_lr_ratio": 0.02,         # cosine decays to lr * min_lr_ratio
    "weight_decay": 0.0,
    "warmup_epochs": 1.0,         # linear warm-up length (in epochs, applied per step)
    "grad_clip": 1.0,             # max gradient norm (0: off)
    "point_fraction": 1.0,        # share of the slice's Fourier points in each image's loss (random each step)
    "encoder_rotation": False,    # the encoder reads each image turned by a random in-plane angle
    "encoder_split": False,       # the encoder reads only the points the step's loss does not use
                                  # (needs point_fraction < 1)
    "synthetic_views": 0.0,       # weight of the encoder's loss on synthetic views of each image's map
                                  # (models/views.py; 0: off)
    "synthetic_views_start": 0.3,  # share of the epochs trained before the synthetic views start
    "seed": 0,
    "num_workers": 0,
    "threads": "auto",            # torch CPU threads: "auto" (one core left free: core.threads), 0 (torch's
                                  # default) or N; the Trainer records the number it used as threads_used
    "device": "cpu",
    "amp": True,                  # bf16/fp16 autocast on CUDA only
    "log_every": 10,              # steps between step events written to log.jsonl
    "checkpoint_every": 0,        # steps between mid-epoch checkpoints (0: only at epoch ends and stop)
    "checkpoint_every_epoch": False,  # also keep each epoch's checkpoint, checkpoints/epoch_NNN.pt
}

#: the preset of ``cryohype train``, the Train widget and :func:`~napari_cryohype.core.train.train_config`
DEFAULT = "many"
#: what each preset is for, as ``cryohype train --help`` and the Train widget's tooltip say it
ABOUT = {"many": "mixtures of a few to hundreds of structures (the lift encoder; the best measured from 5 to 200)",
         "small": "the paper's ViT encoder, scaled down for a CPU",
         "paper": "the paper's sizes, for a GPU"}

PRESETS: dict[str, dict[str, dict]] = {
    "small": {"model": {}, "train": {}},
    "many": {
        "model": {"encoder": "lift", "tokens_per_layer": 32},
        "train": {"point_fraction": 0.5, "encoder_split": True},
    },
    "paper": {
        "model": {"patch": 16, "width": 768, "depth": 6, "heads": 12, "mlp_dim": 3072, "pos_embed": False,
                  "tokens_per_layer": 32, "output_tokens": 1, "inr_width": 1024, "inr_layers": 5,
                  "n_freqs": 192, "pe_sigma": 1.0},
        "train": {"lr": 1e-4, "batch_size": 64, "epochs": 50, "warmup_epochs": 5.0, "grad_clip": 0.0},
    },
}


def preset(name: str) -> dict[str, dict]:
    """{"model": {...}, "train": {...}} of a named preset (a fresh copy)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    out = {"model": copy.deepcopy(_MODEL_BASE), "train": copy.deepcopy(_TRAIN_BASE)}
    for section, values in PRESETS[name].items():
        out[section].update(copy.deepcopy(values))
    return out


def _finite(value) -> bool:
    """Whether ``value`` is a finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_train(train: dict) -> None:
    """Raise ValueError naming the setting (as its ``cryohype train`` flag) when a training setting cannot
    work: epochs and batch size below 1, a learning rate that is not positive, negative data workers, a
    threads setting other than "auto" or a whole number."""
    def bad(key: str, value, rule: str) -> ValueError:
        return ValueError(f"--{key.replace('_', '-')} must be {rule}, got {value!r}")

    for key in ("epochs", "batch_size"):
        value = train.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise bad(key, value, "a whole number of at least 1")
    lr = train.get("lr")
    if not _finite(lr) or not lr > 0:
        raise bad("lr", lr, "a positive number")
    workers = train.get("num_workers", 0)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        raise bad("num_workers", workers, "a whole number of at least 0")
    check_threads(train.get("threads", AUTO))
    views, start = train.get("synthetic_views", 0.0), train.get("synthetic_views_start", 0.0)
    if not _finite(views) or views < 0:
        raise ValueError(f"--set synthetic_views must be a number of at least 0, got {views!r}")
    if not _finite(start) or not 0 <= start <= 1:
        raise ValueError(f"--set synthetic_views_start must be a share of the epochs from 0 to 1, got {start!r}")
    if train.get("encoder_split") and not train.get("point_fraction", 1.0) < 1:
        raise ValueError("the encoder split (encoder_split, on in the many preset) needs --point-fraction below 1 "
                         "(the loss's share of the points; the encoder reads the rest), got "
                         f"{train.get('point_fraction', 1.0)!r}; add --set encoder_split=false to put every point "
                         "in the loss")


def check_model(model: dict) -> None:
    """Raise ValueError naming the ``cryohype train`` flag when model settings cannot go together: an unknown
    conditioning, encoder or encoder input, the lift encoder asked to read real-space images, or another encoder
    the two-channel ``ctf`` input."""
    for key, choices in (("conditioning", ("hyper", "concat")), ("encoder", tuple(ENCODERS)),
                         ("encoder_input", ("hartley", "real", "ctf"))):
        if model.get(key) not in choices:
            raise ValueError(f"--{key.replace('_', '-')} must be one of {', '.join(choices)}, got {model.get(key)!r}")
    if model["encoder_input"] == "ctf" and model["encoder"] != "lift":
        raise ValueError("--encoder-input ctf (the transform times the CTF, and the CTF squared) is read by the lift "
                         "encoder only (--encoder lift)")
    noise = model.get("latent_noise", 0.0)
    if not _finite(noise) or noise < 0:
        raise ValueError(f"--set latent_noise must be a number of at least 0, got {noise!r}")
    if model["encoder"] == "lift" and model["encoder_input"] == "real":
        raise ValueError("--encoder-input real needs an image encoder (--encoder vit, mlp or unet): the lift encoder "
                         "(the many preset's) reads each image's Fourier transform placed in 3D (--encoder-input "
                         "hartley)")
