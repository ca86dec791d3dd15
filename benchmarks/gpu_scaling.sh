#!/usr/bin/env bash
# The scaling benchmark at the paper's box size on one GPU, sized for 10 minutes of GPU time: D=128 at 2 Å/px,
# 100 distinct structures of the large corpus x 500 images (SNR 0.1, CTF, 3 px shifts): the hypernetwork with
# the lift encoder and the encoder split (many_lift_split, the winner on the CPU at 100 structures), the same
# with concat conditioning (many_concat), CryoHype as the paper has it (ViT hypernetwork), the concat baseline
# and the backprojection with true labels, 3 epochs each. compare.py
# stops after 9 minutes (TIME_LIMIT) and the rows of the methods that finished are kept (results.json, and the
# curve's table in scaling.md).
# cryoDRGN is not run there: the GPU machine reaches no package index and its environment is too large to carry.
#
#   bash benchmarks/gpu_scaling.sh prepare            # here: wheels the GPU image lacks + the 100 models -> .gpu/
#   bash benchmarks/gpu_scaling.sh run OUT            # there: results -> OUT/
# With the device tool: carry [".gpu"], command
#   bash benchmarks/gpu_scaling.sh run /tmp/res; tar czf $OUT/res.tgz -C /tmp res
# then commit the unpacked folder as benchmarks/results/gpu-d128-100x500-<gpu> (runs.json names the machine).
#
# Settings (environment): SIZES (100) BOX (128) APIX (2) IMAGES (500) EPOCHS (3) PER (5: images decoded per
# structure) METHODS (backproject,many_lift_split,many_concat,hyper,concat) DEVICE (cuda) SHIFT (3 px)
# TIME_LIMIT (540 s). On a CPU at a tiny size, to test it:
#   SIZES=3 BOX=32 APIX=6 IMAGES=20 EPOCHS=1 PER=2 DEVICE=cpu bash benchmarks/gpu_scaling.sh run /tmp/gpu-test
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-100} BOX=${BOX:-128} APIX=${APIX:-2} IMAGES=${IMAGES:-500} EPOCHS=${EPOCHS:-3} PER=${PER:-5}
METHODS=${METHODS:-backproject,many_lift_split,many_concat,hyper,concat}
DEVICE=${DEVICE:-cuda} SHIFT=${SHIFT:-3} TIME_LIMIT=${TIME_LIMIT:-540}
PY=${PY:-python3}

case "${1:?prepare or run}" in
prepare)
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
    rm -rf .gpu && mkdir -p .gpu/wheels .gpu/corpus
    # the GPU image (Python 3.12) has numpy, scipy, pandas, scikit-learn, numba, psutil, tqdm, matplotlib; not these:
    for pkg in mrcfile starfile gemmi umap-learn pynndescent; do
        "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
            --platform manylinux2014_x86_64 -d .gpu/wheels "$pkg"
    done
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
    du -sh .gpu
    ;;
run)
    OUT=${2:?output folder}
    if [ -n "$(ls .gpu/wheels/*.whl 2>/dev/null)" ] && ! "$PY" -c "import mrcfile, starfile, gemmi, umap" 2>/dev/null; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/wheels/*.whl
        export PYTHONPATH=/tmp/site
    fi
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
    CORPUS=${CORPUS:-.gpu/corpus}
    [ -f "$CORPUS/index.csv" ] || CORPUS=../shared/data/structures-large
    "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available() and torch.cuda.get_device_name())"
    # shellcheck disable=SC2086
    timeout "$TIME_LIMIT" "$PY" benchmarks/harness/compare.py --out "$OUT" --workdir "${WORK:-/tmp/gpu-scaling-work}" --structures-dir "$CORPUS" \
        --sizes $SIZES --box "$BOX" --apix "$APIX" --snr 0.1 --shift-std "$SHIFT" --images-per-structure "$IMAGES" \
        --epochs "$EPOCHS" --per-structure "$PER" --methods "$METHODS" --umap-methods hyper --device "$DEVICE" \
        --threads "$(nproc)" || echo "compare.py ended early (exit $?): the rows of the methods that finished are kept"
    "$PY" benchmarks/scaling.py --report-only --out "$OUT"
    ;;
*) echo "usage: $0 prepare | run OUT" >&2; exit 2 ;;
esac
