#!/usr/bin/env bash
# Set up a virtual environment and run the main job on the embedded default dataset: simulate a small
# mixture from the structures shipped in the package, train CryoHype on it, analyse the latents and score
# the decoded volumes. Output goes to ${1:-demo-run}.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[napari]"
exec "$VENV/bin/cryohype" demo "${1:-demo-run}"
