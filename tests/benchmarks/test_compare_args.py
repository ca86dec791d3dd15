"""benchmarks/harness/compare.py's command line: method names are checked before anything runs."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "harness"))
import compare  # noqa: E402


def test_umap_methods_default_to_all_and_take_a_subset():
    assert compare.parse_args(["--out", "x"]).umap_methods == list(compare.ALL_METHODS)
    args = compare.parse_args(["--out", "x", "--umap-methods", "hyper,cryodrgn_vae"])
    assert args.umap_methods == ["hyper", "cryodrgn_vae"]


def test_an_unknown_method_name_is_refused(capsys):
    with pytest.raises(SystemExit):
        compare.parse_args(["--out", "x", "--umap-methods", "hyper,cryodrgn"])
    assert "unknown method(s) cryodrgn" in capsys.readouterr().err


def test_the_training_seed_follows_the_seed_unless_given():
    assert compare.parse_args(["--out", "x", "--seed", "3"]).train_seed == 3
    assert compare.parse_args(["--out", "x", "--seed", "3", "--train-seed", "5"]).train_seed == 5
