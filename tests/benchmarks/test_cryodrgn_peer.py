"""benchmarks/harness/peers/cryodrgn.py: an interrupted train_vae continues from its newest epoch checkpoint."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "harness"))
from peers import cryodrgn  # noqa: E402


def test_latest_checkpoint_is_the_highest_epoch_not_the_final_weights(tmp_path):
    assert cryodrgn.latest_checkpoint(tmp_path) is None
    for name in ("weights.2.pkl", "weights.10.pkl", "weights.9.pkl", "weights.pkl"):
        (tmp_path / name).write_bytes(b"")
    assert cryodrgn.latest_checkpoint(tmp_path) == tmp_path / "weights.10.pkl"


def test_train_vae_loads_the_checkpoint_when_given(monkeypatch, tmp_path):
    monkeypatch.setattr(cryodrgn, "executable", lambda: Path("cryodrgn"))
    args = (tmp_path / "p.mrcs", tmp_path / "poses.pkl", tmp_path / "ctf.pkl", tmp_path / "out")
    fresh = cryodrgn.train_vae_command(*args, epochs=20, seed=0)
    resumed = cryodrgn.train_vae_command(*args, epochs=20, seed=0, load=tmp_path / "out" / "weights.7.pkl")
    assert "--load" not in fresh
    assert resumed[:len(fresh)] == fresh and resumed[len(fresh):] == ["--load", str(tmp_path / "out/weights.7.pkl")]
