"""The test mixture: every method once per preset version on structures no preset was tuned on.

Presets are tuned on the development mixtures of ``scaling.py`` (the first 10, 50, 100, 200 models of the
large corpus's seed-0 order). The test mixture draws its 200 structures, with its own seed, from the tier-40
models outside the development mixture of 200, and is simulated and trained with the same settings as
``scaling-d32`` (D=32, 6 Å/px, SNR 0.1, CTF, 2 px shifts, 300 images per structure, 20 epochs); its first
100 are the 100-structure subset. The ``many`` preset is frozen before the first run: ``preset.json`` in the
version's folder holds its settings, and a later run with a changed preset stops, unless ``--new-version``
starts the next version's folder. Never tune on these numbers.

    python benchmarks/test_mixture.py --sizes 100 --methods many_lift_split,backproject
    python benchmarks/test_mixture.py --sizes 100 --methods cryodrgn_vae -- --train-args ...
    python benchmarks/test_mixture.py --sizes 200 --methods cryodrgn_vae --epochs 10   # equal wall time at 200
    python benchmarks/test_mixture.py --report-only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scaling  # noqa: E402
from napari_cryohype.core import classify  # noqa: E402
from napari_cryohype.core.models.presets import DEFAULT, preset  # noqa: E402

RESULTS = scaling.REPO / "benchmarks" / "results" / "test-mixture-d32"
#: the development mixture the test mixture shares no model with (scaling.py's largest, seed 0)
DEV_SIZE, DEV_SEED = 200, 0
#: the test mixture's own seed (selection, simulation, training)
TEST_SEED = 1
#: training settings that change how a run is carried out, not what it learns
_OPERATIONAL = ("seed", "num_workers", "threads", "device", "amp", "log_every", "checkpoint_every",
                "checkpoint_every_epoch")

#: settings added after a version was frozen, at the value that trains and analyses as before: a frozen preset
#: without them is read as having them (the synthetic views are off at 0, and then their start is unused; no
#: latent noise; v1's 3D classification: slices of full-size maps, hard assignment, at most 10 iterations)
_ADDED_OFF = {"train": {"synthetic_views": 0.0, "synthetic_views_start": 0.3}, "model": {"latent_noise": 0.0},
              "analysis": {"classes": "slices", "soft": None, "iterations": 10, "radius": 0.5}}


def preset_settings() -> dict:
    """The default preset's model and training settings, without the operational ones, and the analysis's
    3D classification (``core/classify.py``: its rule, named here, and its defaults)."""
    p = preset(DEFAULT)
    return {"name": DEFAULT, "model": p["model"],
            "train": {k: v for k, v in p["train"].items() if k not in _OPERATIONAL},
            "analysis": {"classes": "lift grid", "soft": classify.DEFAULT_SOFT,
                         "iterations": classify.DEFAULT_ITERATIONS, "radius": classify.DEFAULT_RADIUS}}


def version_dirs(root: Path) -> list[Path]:
    """The version folders ``root/vN`` in order."""
    return sorted((d for d in root.glob("v*") if d.name[1:].isdigit()), key=lambda d: int(d.name[1:]))


def frozen_version(root: Path, new_version: bool) -> Path:
    """The version folder to write into: the latest, if its frozen preset is today's; a new one (preset
    frozen there now) if there is none or ``new_version``. Raises SystemExit when the preset changed."""
    versions, now = version_dirs(root), preset_settings()
    if versions and not new_version:
        frozen = json.loads((versions[-1] / "preset.json").read_text())["settings"]
        frozen = {**frozen, **{part: {**added, **frozen.get(part, {})} for part, added in _ADDED_OFF.items()}}
        if frozen != now:
            raise SystemExit(f"test_mixture.py: the {DEFAULT} preset differs from the one frozen in "
                             f"{versions[-1] / 'preset.json'}; every version is reported once: pass --new-version "
                             "to start the next one (the old record stays)")
        return versions[-1]
    target = root / f"v{len(versions) + 1}"
    target.mkdir(parents=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=scaling.REPO, capture_output=True, text=True)
    (target / "preset.json").write_text(json.dumps(
        {"settings": now, "commit": commit.stdout.strip(), "frozen_utc": datetime.now(timezone.utc).isoformat()},
        indent=1) + "\n")
    return target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, default=RESULTS, help="the test mixture's record (one folder a version)")
    p.add_argument("--new-version", action="store_true", help="freeze today's preset in a new version folder")
    args, rest = p.parse_known_args(argv)
    if "--report-only" in rest:   # rewrite the latest version's tables; freeze nothing
        versions = version_dirs(args.root)
        if not versions:
            raise SystemExit(f"test_mixture.py: nothing to report: {args.root} has no version yet")
        return scaling.main(["--out", str(versions[-1]), "--report-only"])
    out = frozen_version(args.root, args.new_version)
    passthrough = rest[rest.index("--") + 1:] if "--" in rest else []
    own = rest[:rest.index("--")] if "--" in rest else rest
    work = scaling.REPO / "benchmarks" / "work" / f"{args.root.name}-{out.name}"
    return scaling.main(["--out", str(out), "--workdir", str(work),
                         "--seed", str(TEST_SEED), "--sizes", "100", "200", *own,
                         "--", "--hold-out", str(DEV_SIZE), "--dev-seed", str(DEV_SEED), *passthrough])


if __name__ == "__main__":
    sys.exit(main())
