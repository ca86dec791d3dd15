#!/bin/bash
# The command line end to end on a CUDA GPU: the CUDA resume test; the paper preset trained 1 epoch then
# resumed to 10 (bf16 autocast), a decoded volume and its evaluation; the small preset 20 epochs, analyze,
# a selection's volume, evaluation; backprojection with the true labels and its evaluation; bench_train.
#
#   bash benchmarks/gpu_check.sh DATA WORK     # DATA: particles.mrcs, poses.pkl, ctf.pkl, labels.npy, volumes/
#
# DATA as benchmarks/bench_ui.py simulates it (5 bundled structures x 100 images, D=64). Needs the package
# importable (pip install -e . or PYTHONPATH=src) and, for the test, the repository root on PYTHONPATH.
set -o pipefail
D=${1:?data folder}; W=${2:?work folder (created; must not exist)}
mkdir "$W" || exit 1
CLI="python3 -m napari_cryohype.cli"
python3 -m pytest -q -p no:cacheprovider tests/core/test_train.py -k cuda -rs 2>&1 | tail -n 1
DATA="--particles $D/particles.mrcs --poses $D/poses.pkl --ctf $D/ctf.pkl"
$CLI train "$W/paper" $DATA --preset paper --epochs 1 --device cuda --num-workers 4 --seed 0 &&
$CLI train "$W/paper" $DATA --preset paper --epochs 10 --device cuda --num-workers 4 --resume &&
$CLI decode "$W/paper" --index 3 -o "$W/paper/vol3.mrc" --device cuda &&
$CLI eval "$W/paper" --volumes "$D/volumes" --labels "$D/labels.npy" --per-structure 4 --device cuda &&
$CLI train "$W/small" $DATA --preset small --epochs 20 --device cuda --num-workers 4 &&
$CLI analyze "$W/small" --labels "$D/labels.npy" --no-umap --device cuda &&
python3 -c "import numpy as np; np.save('$W/sel.npy', np.arange(100))" &&
$CLI decode "$W/small" --indices "$W/sel.npy" -o "$W/small/sel.mrc" --device cuda &&
$CLI eval "$W/small" --volumes "$D/volumes" --labels "$D/labels.npy" --per-structure 8 --device cuda &&
$CLI backproject "$W/bp" $DATA --labels "$D/labels.npy" --device cuda &&
$CLI eval "$W/bp" --volumes "$D/volumes" --labels "$D/labels.npy" --method-volumes "$W/bp/backproject" &&
python3 benchmarks/bench_train.py --device cuda
