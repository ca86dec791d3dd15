"""The training-seed spread (benchmarks/studies/seeds.py) from fake result records."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "studies"))
import seeds  # noqa: E402


def _results(path: Path, rows: dict[str, list[float]]) -> None:
    """A results.json whose rows' FSC curves are flat at the given per-structure levels (FSC_AUC = level)."""
    freq = np.linspace(0, 0.5, 11).tolist()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"rows": [{"method": m, "size": 3, "fsc_freq_per_px": freq,
                                          "fsc_curves": [[lv] * 11 for lv in levels]}
                                         for m, levels in rows.items()]}))


def test_spread_over_seeds_and_the_paired_lead(tmp_path, monkeypatch):
    monkeypatch.setattr(seeds, "SCALING", tmp_path / "scaling" / "results.json")
    _results(seeds.SCALING, {"many_lift_split": [0.6, 0.7, 0.8], "cryodrgn_vae": [0.5, 0.5, 0.5]})
    _results(tmp_path / "out" / "n0003" / "seed1" / "results.json",
             {"many_lift_split": [0.5, 0.6, 0.7], "cryodrgn_vae": [0.6, 0.6, 0.6]})
    _results(tmp_path / "out" / "n0003" / "seed2" / "results.json", {"cryodrgn_vae": [0.4, 0.4, 0.4]})
    r = seeds.spread(tmp_path / "out", 3, seeds.LEAD)
    ours, peer = r["methods"]["many_lift_split"], r["methods"]["cryodrgn_vae"]
    assert ours["per_seed"] == pytest.approx({0: 0.7, 1: 0.6}) and ours["std"] == pytest.approx(np.std([0.7, 0.6], ddof=1))
    assert peer["per_seed"] == pytest.approx({0: 0.5, 1: 0.6, 2: 0.4}) and peer["mean"] == pytest.approx(0.5)
    assert r["lead"]["per_seed"] == pytest.approx({0: 0.2, 1: 0.0}) and r["lead"]["mean"] == pytest.approx(0.1)
    md = seeds.write_report(tmp_path / "out", 3, seeds.LEAD).read_text()
    assert "| many_lift_split − cryodrgn_vae (paired) | +0.200 | +0.000 | – | +0.100 ± 0.141 |" in md
