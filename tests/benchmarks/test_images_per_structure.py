"""The held-out sorting bound as the images per structure grow (benchmarks/studies/images_per_structure.py)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "studies"))
import images_per_structure  # noqa: E402

from napari_cryohype.core.simulate import bundled_structures, simulate_mixture  # noqa: E402


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    """A 5-structure mixture at SNR 0.003 as scaling.py leaves it, studied at 8 and 80 images per structure."""
    work = tmp_path_factory.mktemp("work")
    simulate_mixture(work / "mix0005" / "data", bundled_structures(), 20, 32, 6.0, snr=0.01, shift_std=2.0,
                     seed=3, threads=1)
    out = work / "record"
    images_per_structure.main([str(work), "--mixture", "mix0005", "--counts", "8", "80", "--out", str(out)])
    return work, json.loads((out / "images_per_structure.json").read_text())


def test_the_mixture_is_simulated_again_with_its_own_structures_and_settings(record):
    work, _ = record
    first = json.loads((work / "mix0005" / "data" / "simulation.json").read_text())
    again = json.loads((work / "mix0005" / "images-per-structure" / "n0080" / "simulation.json").read_text())
    assert again["images_per_structure"] == 80 and again["n_images"] == 400
    for key in ("D", "apix", "snr", "shift_std_px", "seed", "resolution_A", "ctf"):
        assert again[key] == first[key], key
    assert [s["name"] for s in again["structures"]] == [s["name"] for s in first["structures"]]


def test_more_images_per_structure_sort_single_images_better(record):
    _, results = record
    held = {r["images_per_structure"]: r["rows"]["truth, held out"]["own"] for r in results}
    assert held[80] > held[8] + 0.1
    true_maps = {r["images_per_structure"]: r["rows"]["true maps"]["own"] for r in results}
    assert true_maps[80] > held[80]   # no map made from the images beats the atomic models'
