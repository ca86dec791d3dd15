#!/usr/bin/env bash
# The scaling benchmark at the paper's box size on one GPU, in under 10 minutes of GPU time: D=128 at 2 Å/px,
# SNR 0.1, CTF, 3 px shifts, distinct structures of the large corpus. Methods, in order of importance (each
# its own compare.py call, so a time-out leaves the rows, and the runs.json naming the GPU, of those before):
#   backproject       the bound: all of each structure's images backprojected with the true labels
#   many_lift_split   the preset (lift encoder, encoder split)
#   cryodrgn_vae      cryoDRGN 4.3.1 train_vae at its own default size, encoder and decoder 3x1024, zdim 8
#   hyper             CryoHype as the paper has it: the ViT hypernetwork (small preset)
#   concat            the concat baseline (ViT)
# All for the same epochs on the same files; compare.py then decodes PER images per structure and per latent
# cluster, scores them and writes the tables (results.md, scaling.md).
#
# What fits, and why (estimates for one H100; the run's record gives the measured times):
#   10 structures x 500 images (5,000 images), 2 epochs, 3 images decoded per structure and per latent
#   cluster: ~540 s in all. Training is the small part. The H100 record benchmarks/results/gpu-d128-10x200-h100
#   (D=128): the ViT hypernetwork 1,644 images/s in its loop, concat 1,572, backprojection of 2,000 images
#   6.5 s, their simulation 10 s, analyze ~10 s, decode ~8 s (process start, mostly); the preset is planned
#   at ~1,500 images/s. cryoDRGN train_vae 3x1024 at D=128: ~140 images/s on one V100
#   (../shared/method-notes.md), planned at ~300 on an H100. An epoch of 5,000 images: ~3.5 s for each of
#   ours, ~17 s for cryoDRGN. cryoDRGN's command imports every subcommand's module at each start (~10 s,
#   five starts: --version twice, train_vae, eval_vol twice); eval_vol makes each 128^3 map at ~0.3 s.
#   Scoring is CPU work that grows with the box cubed and the structures squared: one FSC of two 128^3 maps
#   takes ~0.25 s on one core. Per method: cryohype eval (~15 s with its start), each map against 5 wrong
#   structures (50 FSCs), the masked score, and the latent clusters' maps paired with the structures by an
#   N x N FSC matrix (100 FSCs at N=10): ~60 s.
#     simulation 20 s; backprojection and its scores 35 s; preset, ViT hypernetwork, concat ~100 s each
#     (train ~15, analyze and two decodes ~25, scores ~60); cryoDRGN ~165 s (starts ~50, train ~40,
#     eval_vol of 2 x 30 maps ~20, scores ~60); five compare.py starts and reports ~25 s.
#   The most uncertain number is cryoDRGN's speed (+-60 s); an overrun costs concat first.
#   100 structures x 1,000 images (the paper's count) do not fit: one epoch of 100,000 images is ~330 s of
#   cryoDRGN alone, and each method's per-map scores are ~600 FSCs (~150 s). (The N x N pairing is one pass
#   since metrics.fsc_auc_matrix: an estimated ~20 s at N=100, not the 10,000 single FSCs of before.)
#   1,000 images per structure fit only at 1
#   epoch, where our schedule's epoch of warm-up leaves no decay; 500 x 2 epochs are as many steps. The
#   paper preset does not fit: its 5 warm-up epochs alone outlast the 2 epochs.
#
#   bash benchmarks/gpu_scaling.sh wheels             # the wheels carried to the GPU machine, NAME==VERSION
#   bash benchmarks/gpu_scaling.sh prepare            # here: those wheels + the models -> .gpu/ (~40 MB)
#   bash benchmarks/gpu_scaling.sh run OUT            # there: results -> OUT/ (log.txt, runs.json, ...)
# With the device tool: carry [".gpu"], command
#   bash benchmarks/gpu_scaling.sh run /tmp/res; tar czf $OUT/res.tgz -C /tmp res
# then commit the unpacked folder as benchmarks/results/gpu-d128-10x500-<gpu> (runs.json names the GPU).
# The GPU image (Python 3.12, torch, numpy, scipy, pandas, scikit-learn, matplotlib, seaborn, numba, pyyaml,
# attrs, flask's werkzeug, jinja2 and click) lacks our mrcfile, starfile, gemmi, umap-learn, pynndescent,
# and cryoDRGN with what its `cryodrgn` command imports at start (every subcommand's module is imported, the
# dashboard's and analyze's too): igraph and texttable; nbformat, fastjsonschema, jsonschema,
# jsonschema-specifications, referencing, rpds-py, traitlets; flask, itsdangerous, blinker; plotly. They
# are installed there with --no-deps into SITE, cryoDRGN runs with the image's torch (CRYODRGN names it).
#
# Settings (environment): SIZES (10) IMAGES (500: per structure) EPOCHS (2) PER (3: images decoded per
# structure) BOX (128) APIX (2) SHIFT (3 px) METHODS (backproject,many_lift_split,cryodrgn_vae,hyper,concat)
# CRYODRGN_DIM (1024: cryoDRGN's encoder and decoder width) UMAP_METHODS (backproject, i.e. none: each UMAP
# costs ~40 s of numba compile) DEVICE (cuda) THREADS (8 or the cores) WORKERS (our DataLoader
# workers: 8 on a GPU, 0 on a CPU)
# TIME_LIMIT (540 s, all methods) PY (python3) PYVER (3.12: the Python the wheels are for) SITE
# (/tmp/gpu-scaling-site) WORK (/tmp/gpu-scaling-work). On a CPU at a tiny size, to test it:
#   SIZES=3 BOX=32 APIX=6 IMAGES=20 EPOCHS=1 PER=2 DEVICE=cpu bash benchmarks/gpu_scaling.sh run /tmp/gpu-test
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-10} BOX=${BOX:-128} APIX=${APIX:-2} IMAGES=${IMAGES:-500} EPOCHS=${EPOCHS:-2} PER=${PER:-3}
METHODS=${METHODS:-backproject,many_lift_split,cryodrgn_vae,hyper,concat} UMAP_METHODS=${UMAP_METHODS:-backproject}
CRYODRGN_DIM=${CRYODRGN_DIM:-1024} DEVICE=${DEVICE:-cuda} SHIFT=${SHIFT:-3} TIME_LIMIT=${TIME_LIMIT:-540}
THREADS=${THREADS:-$(( $(nproc) < 8 ? $(nproc) : 8 ))} PY=${PY:-python3} PYVER=${PYVER:-3.12}
if [ "$DEVICE" = cpu ]; then WORKERS=${WORKERS:-0}; else WORKERS=${WORKERS:-8}; fi
SITE=${SITE:-/tmp/gpu-scaling-site} WORK=${WORK:-/tmp/gpu-scaling-work}

# ours, then cryoDRGN and what its command imports that the GPU image lacks (pinned: the versions tested)
WHEELS=(mrcfile==1.5.4 starfile==0.5.13 gemmi==0.7.5 umap-learn==0.5.12 pynndescent==0.7.0
        cryodrgn==4.3.1 igraph==1.0.0 texttable==1.7.2 nbformat==5.11.1 fastjsonschema==2.22.3 jsonschema==4.26.0
        jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1 traitlets==5.16.1
        flask==3.1.3 itsdangerous==2.2.0 blinker==1.9.0 plotly==6.9.0)

# compare.py once per method, in METHODS' order, within TIME_LIMIT; then the scaling report of what finished
run_methods() {
    local out=$1 left method
    # on the GPU image (no mrcfile): install the carried wheels, cryoDRGN with them
    if [ -n "$(ls .gpu/wheels/*.whl 2>/dev/null)" ] && ! "$PY" -c "import mrcfile" 2>/dev/null; then
        rm -rf "$SITE"
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .gpu/wheels/*.whl
        export PYTHONPATH=$SITE
        if [ -x "$SITE/bin/cryodrgn" ]; then export CRYODRGN=${CRYODRGN:-$SITE/bin/cryodrgn}; fi
    fi
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
    local corpus=${CORPUS:-.gpu/corpus}
    [ -f "$corpus/index.csv" ] || corpus=../shared/data/structures-large
    "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available() and torch.cuda.get_device_name())"
    local deadline=$((SECONDS + TIME_LIMIT)) order
    IFS=, read -ra order <<< "$METHODS"
    for method in "${order[@]}"; do
        left=$((deadline - SECONDS))
        if [ "$left" -lt 10 ]; then echo "$method: not run, the $TIME_LIMIT s are spent"; continue; fi
        echo "== $method ($left s left) =="
        # shellcheck disable=SC2086
        timeout "$left" "$PY" benchmarks/harness/compare.py --out "$out" --workdir "$WORK" --structures-dir "$corpus" \
            --sizes $SIZES --box "$BOX" --apix "$APIX" --snr 0.1 --shift-std "$SHIFT" --images-per-structure "$IMAGES" \
            --epochs "$EPOCHS" --per-structure "$PER" --methods "$method" --umap-methods "$UMAP_METHODS" \
            --cryodrgn-dim "$CRYODRGN_DIM" --device "$DEVICE" --threads "$THREADS" --train-args --num-workers "$WORKERS" \
            || echo "$method: compare.py ended early (exit $?): the rows of the methods that finished are kept"
    done
    "$PY" benchmarks/scaling.py --report-only --out "$out"
}

case "${1:?wheels, prepare or run}" in
wheels)
    printf '%s\n' "${WHEELS[@]}"
    ;;
prepare)
    exclude=$(git rev-parse --git-path info/exclude)
    mkdir -p "$(dirname "$exclude")"
    grep -qx '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >> "$exclude"
    rm -rf .gpu && mkdir -p .gpu/wheels .gpu/corpus
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .gpu/wheels "${WHEELS[@]}"
    # the models of the largest mixture, as benchmarks/harness/mixtures.py chooses them for this box, and their index rows
    "$PY" - "$BOX" "$APIX" "${SIZES##* }" <<'EOF'
import csv, shutil, sys
from pathlib import Path
sys.path.insert(0, "benchmarks/harness")
import mixtures
box, apix, n = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
src = Path("../shared/data/structures-large")
chosen = {s.name for s in mixtures.select_mixture(mixtures.load_corpus(src), n, box * apix)}
with open(src / "index.csv", newline="") as f:
    rows = [r for r in csv.DictReader(f) if r["name"] in chosen]
with open(".gpu/corpus/index.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
for r in rows:
    shutil.copy(src / r["file"], Path(".gpu/corpus") / r["file"])
print(f"{len(rows)} models in .gpu/corpus")
EOF
    du -sh .gpu/wheels .gpu/corpus && du -sh .gpu
    ;;
run)
    OUT=${2:?output folder}
    mkdir -p "$OUT"
    run_methods "$OUT" 2>&1 | tee -a "$OUT/log.txt"
    ;;
*) echo "usage: $0 wheels | prepare | run OUT" >&2; exit 2 ;;
esac
