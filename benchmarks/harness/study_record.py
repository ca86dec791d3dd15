"""What the studies on a finished ``scaling.py`` mixture share: their command line, its simulated data, and a
record that keeps one result per study key (``NAME.json``, with its Markdown ``NAME.md``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from compare import write_json
from napari_cryohype.core.io.dataset import ParticleDataset


def study_parser(doc: str, method: bool = True) -> argparse.ArgumentParser:
    """A study's command line: ``WORKDIR --mixture [--method] --out [--threads]`` (``--method`` where the study reads
    a trained method's run); the study adds its own options."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("workdir", type=Path, help="a scaling.py work folder")
    p.add_argument("--mixture", required=True, help="its mixture folder, e.g. mix0100")
    if method:
        p.add_argument("--method", required=True, help="the method whose run is studied")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--out", type=Path, required=True, help="the record's folder")
    return p


def parse_study_args(p: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """The parsed arguments of :func:`study_parser`'s parser, torch's threads set."""
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    return args


def mixture_dataset(data: Path) -> ParticleDataset:
    """The particle dataset of a simulated mixture folder ``data`` (poses, CTF; contrast as simulated)."""
    return ParticleDataset(data / "particles.mrcs", data / "poses.pkl", data / "ctf.pkl", invert_data=None)


def mixture_data(workdir: Path, mixture: str) -> tuple[Path, ParticleDataset, np.ndarray]:
    """The data folder of ``workdir/mixture``, its particle dataset (:func:`mixture_dataset`) and its true labels
    (N,)."""
    data = workdir / mixture / "data"
    return data, mixture_dataset(data), np.load(data / "labels.npy")


def save(out: Path, name: str, result: dict, keys: tuple[str, ...], markdown: Callable[[list[dict]], str]) -> None:
    """Put ``result`` into ``out/NAME.json`` in place of the result with the same ``keys`` values, and write
    ``out/NAME.md`` from all of them."""
    out.mkdir(parents=True, exist_ok=True)
    record = out / f"{name}.json"
    key = tuple(result[k] for k in keys)
    results = [r for r in (json.loads(record.read_text()) if record.is_file() else [])
               if tuple(r[k] for k in keys) != key]
    results.append(result)
    write_json(record, results)
    (out / f"{name}.md").write_text(markdown(results))
