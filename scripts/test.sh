#!/usr/bin/env bash
# Set up a virtual environment with the tested versions and run the test suite (GUI tests under Xvfb,
# started by pytest-xvfb). Extra arguments go to pytest, e.g. `bash scripts/test.sh -m slow`.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[testing]"
# a crash in a process the tests start (the explorer's helper processes, scripts) prints its Python stack too
export PYTHONFAULTHANDLER=1
exec "$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
