"""benchmarks/gpu_scaling.sh: the wheels it carries, one compare.py per method in the order of importance with
cryoDRGN at its own size, the time limit, and (slow) the whole run at a tiny size on the CPU."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu_scaling.sh"
#: the small models shipped in the package (with the index.csv a corpus needs): a user's clone has no shared
#: data folder beside it
SHIPPED_MODELS = REPO / "src" / "napari_cryohype" / "data" / "structures"
sys.path.insert(0, str(REPO / "benchmarks" / "harness"))
from peers import cryodrgn  # noqa: E402

#: what the GPU image lacks: our dependencies, cryoDRGN, and what its command imports at start
MUST_CARRY = {"mrcfile", "starfile", "gemmi", "umap-learn", "pynndescent", "cryodrgn", "igraph", "texttable",
              "nbformat", "fastjsonschema", "jsonschema", "jsonschema-specifications", "referencing", "rpds-py",
              "traitlets", "flask", "itsdangerous", "blinker", "plotly"}


def run_script(*args: str, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env})


def test_the_script_parses():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0


def test_wheels_are_pinned_once_each_and_carry_cryodrgn_with_its_imports():
    out = run_script("wheels", env={})
    assert out.returncode == 0, out.stderr
    pins = [line.split("==") for line in out.stdout.split()]
    assert all(len(p) == 2 and p[1] for p in pins)             # NAME==VERSION, nothing unpinned
    names = [name for name, _ in pins]
    assert len(names) == len(set(names))                        # two versions of one stop the install
    assert set(names) == MUST_CARRY
    assert ["cryodrgn", "4.3.1"] in pins


@pytest.fixture
def fake_python(tmp_path):
    """A stand-in interpreter that records its arguments (one line per call) and succeeds."""
    log = tmp_path / "calls.txt"
    exe = tmp_path / "python"
    exe.write_text(f'#!/bin/bash\necho "$*" >> {log}\n')
    exe.chmod(0o755)
    return exe, log


def compare_calls(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines() if "benchmarks/harness/compare.py" in line]


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_run_calls_compare_once_per_method_in_order_with_cryodrgn_at_3x1024(tmp_path, fake_python):
    exe, log = fake_python
    out = run_script("run", str(tmp_path / "out"), env={"PY": str(exe), "WORK": str(tmp_path / "work")})
    assert out.returncode == 0, out.stderr
    calls = compare_calls(log)
    assert [flag(c, "--methods") for c in calls] == ["backproject", "many_lift_split", "cryodrgn_vae", "hyper",
                                                      "concat"]
    for c in calls:
        assert (flag(c, "--cryodrgn-dim"), flag(c, "--box"), flag(c, "--sizes"), flag(c, "--images-per-structure"),
                flag(c, "--epochs"), flag(c, "--device")) == ("1024", "128", "10", "500", "2", "cuda")
    assert "benchmarks/scaling.py --report-only" in log.read_text()
    log_txt = (tmp_path / "out" / "log.txt").read_text().splitlines()
    assert sum(line.startswith("== ") for line in log_txt) == 5                     # the run's own log


def test_a_spent_time_limit_runs_no_method_but_still_writes_the_report(tmp_path, fake_python):
    exe, log = fake_python
    out = run_script("run", str(tmp_path / "out"), env={"PY": str(exe), "TIME_LIMIT": "5", "CRYODRGN_DIM": "256"})
    assert out.returncode == 0, out.stderr
    assert compare_calls(log) == []
    assert out.stdout.count("not run, the 5 s are spent") == 5
    assert "benchmarks/scaling.py --report-only" in log.read_text()


def test_cryodrgn_command_named_by_the_environment(tmp_path, monkeypatch):
    exe = tmp_path / "bin" / "cryodrgn"
    exe.parent.mkdir()
    exe.write_text("")
    monkeypatch.setenv("CRYODRGN", str(exe))
    assert cryodrgn.executable() == exe
    monkeypatch.setenv("CRYODRGN", str(tmp_path / "missing"))
    with pytest.raises(cryodrgn.CryoDRGNMissing, match="CRYODRGN"):
        cryodrgn.executable()


@pytest.mark.slow
def test_tiny_run_on_the_cpu_gives_every_row_and_names_the_machine(tmp_path):
    if not (cryodrgn.VENV / "bin" / "cryodrgn").is_file():
        pytest.skip("cryoDRGN is not installed (bash benchmarks/harness/peers/setup_cryodrgn.sh)")
    out = tmp_path / "out"
    env = {"SIZES": "3", "BOX": "32", "APIX": "6", "IMAGES": "20", "EPOCHS": "1", "PER": "2", "DEVICE": "cpu",
           "TIME_LIMIT": "3000", "PY": sys.executable, "WORK": str(tmp_path / "work"), "THREADS": "1",
           "CORPUS": str(SHIPPED_MODELS), "CRYODRGN": ""}
    res = run_script("run", str(out), env=env, timeout=3600)
    assert res.returncode == 0, res.stdout[-3000:]
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert {r["method"] for r in rows} == {"backproject", "many_lift_split", "cryodrgn_vae", "hyper", "concat"}
    assert all(r["size"] == 3 and math.isfinite(r["fsc_auc_mean"]) for r in rows)
    runs = json.loads((out / "runs.json").read_text())
    assert len(runs["invocations"]) == 5
    assert all("cuda_gpu" in inv["machine"] and inv["machine"]["cpu"] for inv in runs["invocations"])
    assert runs["cryodrgn"] == "cryoDRGN 4.3.1" and runs["settings"]["cryodrgn_dim"] == 1024
    assert (out / "scaling.md").is_file() and "cryodrgn_vae" in (out / "log.txt").read_text()
