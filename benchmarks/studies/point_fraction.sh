#!/usr/bin/env bash
# Does sampling a share of each slice's Fourier points per step (cryohype train --point-fraction) cost quality?
# The 20-structure set (Issue A's settings, with 2 px shifts), the hypernetwork with the MLP encoder, 20 epochs,
# at fractions 1, 0.5 and 0.25: each in its own folder, the same simulated files (same seed). Resumable.
# Usage: bash benchmarks/studies/point_fraction.sh [fractions...]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
fractions=("$@")
[ ${#fractions[@]} -gt 0 ] || fractions=(1 0.5 0.25)
for f in "${fractions[@]}"; do
    $PY benchmarks/harness/compare.py --out "benchmarks/results/point-fraction-d32-20x300/f$f" \
        --workdir "benchmarks/work/point-fraction/f$f" --structures-dir ../shared/data/structures \
        --sizes 20 --box 32 --apix 6 --snr 0.1 --shift-std 2 --images-per-structure 300 --epochs 20 \
        --per-structure 10 --methods mlp,backproject --umap-methods mlp --threads 1 \
        --train-args --point-fraction "$f"
done
