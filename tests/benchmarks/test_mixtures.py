"""Structure selection of the benchmark (benchmarks/harness/mixtures.py), on a tiny fake corpus."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "harness"))
import mixtures  # noqa: E402


def make_corpus(tmp_path, rows):
    lines = ["name,file,homology_group,rot_box_A"]
    for name, group, box in rows:
        (tmp_path / f"{name}.pdb.gz").write_bytes(b"")
        lines.append(f"{name},{name}.pdb.gz,{group},{box}")
    (tmp_path / "index.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_one_model_per_homology_group_and_missing_files_dropped(tmp_path):
    d = make_corpus(tmp_path, [("B", "G1", 50), ("A", "G1", 60), ("C", "G2", 70), ("D", "G3", 80)])
    (d / "D.pdb.gz").unlink()
    corpus = mixtures.load_corpus(d)
    assert [s.name for s in corpus] == ["A", "C"]


def test_mixtures_are_nested_seeded_and_fitting_models_first(tmp_path):
    rows = [(f"M{i:03d}", f"G{i}", 100 + 10 * (i % 7)) for i in range(40)] + [("BIG", "GX", 999)]
    corpus = mixtures.load_corpus(make_corpus(tmp_path, rows))
    small, large = (mixtures.select_mixture(corpus, n, box_A=150, seed=3) for n in (5, 30))
    assert large[:5] == small
    assert mixtures.select_mixture(corpus, 30, box_A=150, seed=3) == large
    assert mixtures.select_mixture(corpus, 30, box_A=150, seed=4) != large
    everything = mixtures.select_mixture(corpus, 41, box_A=150)
    fits = [s.fits(150) for s in everything]
    assert fits == sorted(fits, reverse=True) and everything[-1].name == "BIG"


def test_clear_errors(tmp_path):
    with pytest.raises(mixtures.CorpusError, match="does not exist"):
        mixtures.load_corpus(tmp_path / "nowhere")
    corpus = mixtures.load_corpus(make_corpus(tmp_path, [("A", "G1", 50)]))
    with pytest.raises(mixtures.CorpusError, match="only 1"):
        mixtures.select_mixture(corpus, 2, box_A=100)


def test_a_tiered_corpus_gives_each_group_its_tier_40_model(tmp_path):
    lines = ["name,file,homology_group,rot_box_A,tier", "A,A.pdb.gz,G1,50,95", "B,B.pdb.gz,G1,50,40",
             "C,C.pdb.gz,G2,60,40"]
    for name in "ABC":
        (tmp_path / f"{name}.pdb.gz").write_bytes(b"")
    (tmp_path / "index.csv").write_text("\n".join(lines) + "\n")
    assert [s.name for s in mixtures.load_corpus(tmp_path)] == ["B", "C"]


def test_a_test_mixture_shares_no_model_with_the_development_mixtures(tmp_path):
    rows = [(f"M{i:03d}", f"G{i}", 100) for i in range(40)]
    corpus = mixtures.load_corpus(make_corpus(tmp_path, rows))
    dev = {s.name for s in mixtures.select_mixture(corpus, 25, box_A=150, seed=0)}
    rest = mixtures.held_out(corpus, 150, dev_seed=0, dev_n=25)
    test = mixtures.select_mixture(rest, 15, box_A=150, seed=1)
    assert len(rest) == 15 and not dev & {s.name for s in test}
    assert mixtures.select_mixture(rest, 5, box_A=150, seed=1) == test[:5]   # nested, as the development ones
