"""benchmarks/harness/paired.py: per-structure FSC_AUC differences between two methods of compare.py's results."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "harness"))
import paired  # noqa: E402

FREQ = [0.0, 0.25, 0.5]


def _results(path: Path, method: str, levels: list[float]) -> Path:
    """A results.json with one row: structure i's FSC is 1 at zero frequency, then flat at levels[i]."""
    curves = [[1.0, level, level] for level in levels]
    path.write_text(json.dumps({"rows": [{"size": len(levels), "method": method, "missing_structures": [],
                                          "fsc_freq_per_px": FREQ, "fsc_curves": curves}]}))
    return path


def test_differences_are_paired_per_structure(tmp_path, capsys):
    a = _results(tmp_path / "a.json", "hyper", [0.5, 0.6, 0.7])
    b = _results(tmp_path / "b.json", "mlp", [0.4, 0.6, 0.5])
    # AUC of [1, x, x] on [0, .25, .5]: (0.25 (1 + x) / 2 + 0.25 x) / 0.5 = 0.25 + 0.75 x
    assert paired.per_structure_auc(a, "hyper") == pytest.approx([0.625, 0.7, 0.775])
    paired.main([str(a), "hyper", str(b), "mlp"])
    out = capsys.readouterr().out
    assert "difference +0.075 ± 0.043" in out and "hyper ahead on 2 of 3" in out


def test_different_mixtures_are_refused(tmp_path):
    a = _results(tmp_path / "a.json", "hyper", [0.5, 0.6, 0.7])
    b = _results(tmp_path / "b.json", "mlp", [0.4, 0.6])
    with pytest.raises(SystemExit, match="not the same mixture"):
        paired.main([str(a), "hyper", str(b), "mlp"])
    with pytest.raises(SystemExit, match="0 rows of method 'unet'"):
        paired.main([str(a), "hyper", str(b), "unet"])
