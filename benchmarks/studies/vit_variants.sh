#!/usr/bin/env bash
# Why does the ViT encoder lose to the MLP encoder at D=32? The hypernetwork with the ViT, trained as in the
# scaling curve's N=10 mixture (benchmarks/scaling.py: same settings and seed, so the same files), with one
# change at a time: 64 image tokens (patch 4, as the paper's 64 at D=128), the real-space image as input, a
# lower learning rate. Each in its own folder; resumable. Usage: bash benchmarks/studies/vit_variants.sh [names...]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
declare -A ARGS=([patch4]="--set patch=4" [real]="--encoder-input real" [lr3e-4]="--lr 3e-4")
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(patch4 real lr3e-4)
for name in "${names[@]}"; do
    # shellcheck disable=SC2086
    $PY benchmarks/harness/compare.py --out "benchmarks/results/vit-variants-d32-10x300/$name" \
        --workdir "benchmarks/work/vit-variants/$name" --structures-dir ../shared/data/structures-large \
        --sizes 10 --box 32 --apix 6 --snr 0.1 --shift-std 2 --images-per-structure 300 --epochs 20 \
        --per-structure 10 --methods hyper --umap-methods hyper --threads 1 --train-args ${ARGS[$name]}
done
