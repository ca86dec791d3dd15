#!/usr/bin/env bash
# Create benchmarks/work/cryodrgn-venv with cryoDRGN 4.3.1 on a CPU-only torch 2.13.0.
# torch is installed first and pinned, so cryodrgn's own requirement on torch is already met and pip does not
# pull a CUDA build. Usage (from anywhere): bash benchmarks/harness/peers/setup_cryodrgn.sh
set -euo pipefail
here="$(cd "$(dirname "$0")/../../.." && pwd)"
venv="$here/benchmarks/work/cryodrgn-venv"
python="${PYTHON:-python3}"
if [ -x "$venv/bin/cryodrgn" ]; then
    echo "cryodrgn already installed in $venv"; exit 0
fi
mkdir -p "$(dirname "$venv")"
"$python" -m venv "$venv"
"$venv/bin/pip" install --upgrade pip wheel
"$venv/bin/pip" install "torch==2.13.0"
"$venv/bin/pip" install "cryodrgn==4.3.1" "torch==2.13.0"
"$venv/bin/cryodrgn" --help > /dev/null
"$venv/bin/python" -c "import torch, cryodrgn; print('cryodrgn', cryodrgn.__version__, 'torch', torch.__version__)"
