"""What a new user meets first: the README's setup commands, the packaging metadata, .gitignore, the user
guide's content."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_readme_apt_command_installs_exactly_the_ci_packages():
    wanted = (ROOT / ".ci" / "apt-packages.txt").read_text().split()
    lines = [line for line in (ROOT / "README.md").read_text().splitlines() if "apt-get install" in line]
    assert len(lines) == 1
    assert [w for w in lines[0].split() if not w.startswith("-")][3:] == wanted


def test_readme_says_how_to_reach_the_commands_in_the_venv():
    readme = (ROOT / "README.md").read_text()
    assert "source .venv/bin/activate" in readme and ".venv/bin/napari" in readme
    assert ".venv/bin/cryohype" in readme


def test_license_is_an_spdx_string():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "BSD-3-Clause"  # a table is deprecated by setuptools
    (setuptools,) = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    assert tuple(int(x) for x in re.findall(r"\d+", setuptools)[:1]) >= (77,)  # the first to read it


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_the_demo_output_folder_is_ignored():
    done = subprocess.run(["git", "check-ignore", "-q", "demo-run/run/config.json"], cwd=ROOT)
    assert done.returncode == 0


def test_the_user_guide_has_no_measurements_they_are_in_the_benchmarks():
    guide = (ROOT / "docs" / "user-guide.md").read_text()
    assert not re.search(r"\d ms\b", guide) and "bench_ui" not in guide and "bench_scatter" not in guide
    benchmarks = (ROOT / "docs" / "benchmarks.md").read_text()
    assert "## The napari plugin" in benchmarks and "bench_ui.py" in benchmarks and "bench_scatter.py" in benchmarks
