"""The FSC plots name their curves: every structure up to 10, the best and worst few above."""

import matplotlib.figure
import numpy as np
import pytest

from napari_cryohype.core import evaluate


def report(n: int, pairs: bool = False) -> dict:
    aucs = np.linspace(0.9, 0.5, n)
    rows = [{"label": i, "name": f"P{i}", "fsc_auc": float(a)} for i, a in enumerate(aucs)]
    out = {"apix": 6.0, "n_structures": n, "structures": rows,
           "summary": {"fsc_auc": {"mean": float(aucs.mean()), "std": float(aucs.std())}},
           "fsc": {"freq_per_px": np.linspace(0, 0.5, 17).tolist(),
                   "curves": {str(i): np.linspace(1, 1 - a, 17).tolist() for i, a in enumerate(aucs)}}}
    if pairs:
        out["pairs"] = {str(10 + i): i for i in range(n)}
    return out


@pytest.fixture
def legend(monkeypatch):
    """The legend texts of the figures plot_fsc saves."""
    texts = []
    save = matplotlib.figure.Figure.savefig

    def capture(fig, *args, **kwargs):
        texts.append([t.get_text() for t in fig.axes[0].get_legend().get_texts()])
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", capture)
    return texts


def test_every_curve_is_named_up_to_ten(tmp_path, legend):
    evaluate.plot_fsc(report(5, pairs=True), tmp_path / "fsc.png", "run by cluster")
    assert legend[0][:5] == [f"cluster {10 + i}: {i:03d} P{i}  (AUC {a:.3f})"
                             for i, a in enumerate(np.linspace(0.9, 0.5, 5))]
    assert legend[0][-1] == "mean" and (tmp_path / "fsc.png").read_bytes()[:4] == b"\x89PNG"


def test_fifty_curves_name_the_best_and_worst(tmp_path, legend):
    evaluate.plot_fsc(report(50), tmp_path / "fsc.png", "run by label")
    names = legend[0]
    assert names[0] == "the other 44" and names[-1] == "mean" and len(names) == 8
    assert [n.split()[0] for n in names[1:7]] == ["000", "001", "002", "047", "048", "049"]
