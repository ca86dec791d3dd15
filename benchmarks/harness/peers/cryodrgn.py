"""Running the real cryoDRGN (4.3.1, from ``benchmarks/work/cryodrgn-venv``) on a simulated mixture.

``bash benchmarks/harness/peers/setup_cryodrgn.sh`` creates the virtual environment. Elsewhere (the GPU machine,
where cryoDRGN is installed from carried wheels: ``benchmarks/gpu_scaling.sh``) the environment variable
``CRYODRGN`` names the ``cryodrgn`` command to run instead. Our particles have positive
contrast, so every cryoDRGN command reads them with ``--uninvert-data``. Poses are fixed (known); the
decoder works in cryoDRGN's default Fourier domain with its default Gaussian positional encoding.
"""

from __future__ import annotations

import os
import pickle
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
VENV = REPO / "benchmarks" / "work" / "cryodrgn-venv"
SETUP = "bash benchmarks/harness/peers/setup_cryodrgn.sh"


class CryoDRGNMissing(RuntimeError):
    """cryoDRGN is not installed where the benchmark looks for it."""


def executable() -> Path:
    """The ``cryodrgn`` command: ``$CRYODRGN`` when set, else the one of the benchmark's virtual environment."""
    if os.environ.get("CRYODRGN"):
        exe = Path(os.environ["CRYODRGN"])
        if not exe.is_file():
            raise CryoDRGNMissing(f"cryoDRGN not found at {exe} (the CRYODRGN environment variable)")
        return exe
    exe = VENV / "bin" / "cryodrgn"
    if not exe.is_file():
        raise CryoDRGNMissing(f"cryoDRGN not found at {exe}; create it with `{SETUP}`")
    return exe


def version() -> str:
    """cryoDRGN's version string, e.g. ``cryoDRGN 4.3.1``."""
    out = subprocess.run([str(executable()), "--version"], capture_output=True, text=True)
    return (out.stdout + out.stderr).strip().splitlines()[-1]


def has_command(name: str) -> bool:
    """Whether this cryoDRGN has the subcommand ``name`` (``cryodrgn NAME -h`` succeeds)."""
    return subprocess.run([str(executable()), name, "-h"], capture_output=True).returncode == 0


@dataclass(frozen=True)
class Architecture:
    """Network sizes. ``train_vae`` uses all four; ``train_dec`` (no encoder) the decoder's."""
    zdim: int = 8
    enc_layers: int = 3
    enc_dim: int = 256
    dec_layers: int = 3
    dec_dim: int = 256


def latest_checkpoint(outdir: Path) -> Path | None:
    """The newest ``weights.N.pkl`` an interrupted training left in ``outdir`` (it writes one per epoch),
    or None."""
    epochs = {int(p.name.split(".")[1]): p for p in Path(outdir).glob("weights.*.pkl")
              if p.name.split(".")[1].isdigit()}
    return epochs[max(epochs)] if epochs else None


def train_vae_command(particles: Path, poses: Path, ctf: Path, outdir: Path, *, epochs: int, seed: int,
                      arch: Architecture = Architecture(), batch_size: int | None = None,
                      load: Path | None = None) -> list[str]:
    """argv of ``cryodrgn train_vae`` with fixed poses (its own analysis step switched off); ``load``: a
    ``weights.N.pkl`` to continue from (epoch N+1 on)."""
    cmd = [str(executable()), "train_vae", str(particles), "-o", str(outdir), "--poses", str(poses),
           "--ctf", str(ctf), "--zdim", str(arch.zdim), "--enc-layers", str(arch.enc_layers),
           "--enc-dim", str(arch.enc_dim), "--dec-layers", str(arch.dec_layers), "--dec-dim", str(arch.dec_dim),
           "-n", str(epochs), "--seed", str(seed), "--uninvert-data", "--no-analysis"]
    return cmd + (["-b", str(batch_size)] if batch_size else []) + (["--load", str(load)] if load else [])


def train_dec_command(particles: Path, poses: Path, ctf: Path, outdir: Path, *, epochs: int, seed: int,
                      arch: Architecture = Architecture(), batch_size: int | None = None) -> list[str]:
    """argv of ``cryodrgn train_dec``: the autodecoder (one learned z per image, no encoder), fixed poses."""
    cmd = [str(executable()), "train_dec", str(particles), "-o", str(outdir), "--poses", str(poses),
           "--ctf", str(ctf), "--zdim", str(arch.zdim), "--layers", str(arch.dec_layers),
           "--dim", str(arch.dec_dim), "-n", str(epochs), "--seed", str(seed), "--uninvert-data",
           "--no-analysis"]
    return cmd + (["-b", str(batch_size)] if batch_size else [])


def final_outputs(outdir: Path) -> tuple[Path, Path, Path]:
    """``(weights.pkl, config.yaml, z.pkl)`` of a finished training run; FileNotFoundError if unfinished."""
    paths = tuple(Path(outdir) / f for f in ("weights.pkl", "config.yaml", "z.pkl"))
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"cryoDRGN run {outdir} has no {p.name} (training did not finish)")
    return paths  # type: ignore[return-value]


def load_z(path: Path) -> np.ndarray:
    """(N, zdim) float32 latents of ``z.pkl`` (train_vae stores the means first, then the log-variances)."""
    with open(path, "rb") as f:
        return np.asarray(pickle.load(f), dtype=np.float32)


def eval_vol_command(weights: Path, config: Path, zfile: Path, outdir: Path, apix: float) -> list[str]:
    """argv of ``cryodrgn eval_vol`` writing ``outdir/vol_000.mrc ...``, one volume per row of ``zfile``."""
    return [str(executable()), "eval_vol", str(weights), "-c", str(config), "--zfile", str(zfile),
            "-o", str(outdir), "--Apix", str(apix), "--vol-start-index", "0"]
