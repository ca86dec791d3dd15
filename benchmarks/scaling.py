"""The scaling curve: CryoHype against cryoDRGN as the mixture grows from 10 to 200 distinct structures.

One size after another, ``compare.py`` simulates a mixture of N distinct models of the large corpus
(``../shared/data/structures-large``, the tier-40 model of each 40%-identity group), D=32 at 6 Å/px, SNR
0.1, CTF, random shifts (std 2 px), 300 images per structure, and trains every method on the same files
for 20 epochs. After each size the curve is written again (``scaling.md``, ``plots/scaling.png``), so a
finished size can be committed while the next one runs. Everything resumes where it stopped
(``compare.py``'s step records, our trainer's checkpoints, cryoDRGN's ``--load``).

    python benchmarks/scaling.py                                        # everything, one size at a time
    python benchmarks/scaling.py --methods cryodrgn_vae,backproject &   # the peer on one core ...
    python benchmarks/scaling.py --methods many_lift_split,many_concat,many,mlp,hyper,concat,backproject  # ours
    python benchmarks/scaling.py --report-only                          # scaling.md, results.md from what has finished

Extra arguments after ``--`` go to ``compare.py`` (e.g. ``-- --train-args --encoder mlp``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent / "harness"))

import compare  # noqa: E402
import report  # noqa: E402
from paired import per_structure_auc  # noqa: E402

REPO = report.REPO
LARGE_CORPUS = REPO.parent / "shared" / "data" / "structures-large"
METHODS = ("many_lift_split", "many_concat", "many", "mlp", "hyper", "concat", "cryodrgn_vae", "backproject")
#: the method drawn in bold: the ``many`` preset as it is now
HEADLINE = "many_lift_split"
#: paired differences reported per size: (A, B) for A - B
PAIRS = (("many_lift_split", "cryodrgn_vae"), ("many_lift_split", "cryodrgn_dec"), ("many_shrunk", "cryodrgn_vae"),
         ("many_lift_split", "many_shrunk"), ("many_lift_split", "many_concat"), ("many_concat", "cryodrgn_vae"),
         ("many_lift_split", "many"), ("many_lift_split", "many_lift"),
         ("many_lift_split", "many_split"), ("many_split", "many"),
         ("many_lift", "cryodrgn_vae"), ("many_lift", "many"), ("many_rot", "cryodrgn_vae"), ("many_rot", "many"),
         ("many_2x", "cryodrgn_vae"), ("many_2x", "many"), ("many", "cryodrgn_vae"), ("mlp", "cryodrgn_vae"),
         ("hyper", "cryodrgn_vae"), ("many", "mlp"), ("hyper", "concat"), ("concat", "cryodrgn_vae"),
         ("many_lift_split", "hyper"), ("many_ctf", "many_lift_split"), ("many_ctf", "cryodrgn_vae"),
         ("many_40ep", "many_lift_split"))
#: training batch sizes, for the optimiser steps column: ours (the preset's) and cryoDRGN train_vae's default
BATCH = {"cryodrgn_vae": 16, "cryodrgn_dec": 8}


def compare_argv(args: argparse.Namespace, size: int) -> list[str]:
    """``compare.py``'s command line for one mixture size."""
    return ["--out", str(args.out), "--workdir", str(args.workdir), "--structures-dir", str(args.structures_dir),
            "--sizes", str(size), "--box", str(args.box), "--apix", str(args.apix), "--snr", str(args.snr),
            "--shift-std", str(args.shift_std), "--images-per-structure", str(args.images_per_structure),
            "--epochs", str(args.epochs), "--per-structure", str(args.per_structure),
            "--methods", ",".join(args.methods), "--umap-methods", ",".join(args.umap_methods),
            "--threads", str(args.threads), "--nice", str(args.nice), "--seed", str(args.seed), *args.compare_args]


def _steps(row: dict, batch: int) -> int | None:
    """Optimiser steps of a trained row: ceil(images / batch) x epochs."""
    return None if not row.get("epochs") else -(-row["n_images"] // batch) * row["epochs"]


def _clusters_cell(row: dict, bound: float | None, prefix: str = "clusters_") -> str:
    """The latent clusters' FSC_AUC (paired with the structures without the labels), its share of the bound and
    the structures found, where the record has them; ``prefix`` "classes_": the refined classes' (and ARI)."""
    auc = row.get(f"{prefix}fsc_auc_mean")
    if auc is None:
        return "–"
    found = row.get("structures_found" if prefix == "clusters_" else f"{prefix}structures_found")
    ari = row.get(f"{prefix}ari")
    return (f"{auc:.3f}" + (f" ({auc / bound:.2f})" if bound else "")
            + (f"; {found} of {row['size']} found" if found is not None else "")
            + (f"; ARI {ari:.3f}" if ari is not None else ""))


def _millions(count: int | None) -> str:
    """A parameter count in millions (– where the record has none)."""
    return "–" if count is None else f"{count / 1e6:.2f} M"


def _masked_cell(row: dict, size_curve: dict) -> str:
    """The FSC_AUC under the true maps' support masks and its share of the masked bound."""
    auc = row.get("fsc_auc_masked")
    if auc is None:
        return "–"
    frac = size_curve["of_masked_bound"].get(row["method"])
    return f"{auc:.3f}" + (f" ({frac:.2f})" if frac is not None else "")


def paired(results: Path, a: str, b: str, size: int) -> dict | None:
    """Per-structure FSC_AUC difference ``a - b`` at one size: mean, standard error, structures ahead."""
    try:
        d = per_structure_auc(results, a, size) - per_structure_auc(results, b, size)
    except SystemExit:   # a method has not finished this size
        return None
    return {"a": a, "b": b, "mean": float(d.mean()), "se": float(d.std(ddof=1) / np.sqrt(len(d))),
            "ahead": int((d > 0).sum()), "n": int(len(d))}


def curve(rows: list[dict], results: Path) -> dict:
    """Per size: each scored method's FSC_AUC as a fraction of the backprojection bound, unmasked and under
    the true maps' support masks, and the pairs."""
    out = {}
    for size in sorted({r["size"] for r in rows}):
        at = {r["method"]: r for r in rows if r["size"] == size and "fsc_auc_mean" in r}
        bound = at.get("backproject", {}).get("fsc_auc_mean")
        masked = at.get("backproject", {}).get("fsc_auc_masked")
        out[size] = {"bound": bound, "bound_masked": masked,
                     "of_bound": {m: r["fsc_auc_mean"] / bound for m, r in at.items() if bound},
                     "of_masked_bound": {m: r["fsc_auc_masked"] / masked for m, r in at.items()
                                         if masked and r.get("fsc_auc_masked") is not None},
                     "pairs": [p for a, b in PAIRS if (p := paired(results, a, b, size))]}
    return out


def plot_curve(rows: list[dict], c: dict, path: Path) -> None:
    """FSC_AUC as a fraction of the bound against the number of structures, one line per method: unmasked
    (left) and under the true maps' support masks (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.5), sharey=True)
    sizes = sorted(c)
    for ax, key, title in ((axes[0], "of_bound", "FSC_AUC, whole box"),
                           (axes[1], "of_masked_bound", "FSC_AUC under the true map's support mask")):
        for m in report.LABELS:
            pts = [(s, v[key][m]) for s, v in c.items() if m in v.get(key, {})]
            if pts and m != "backproject":
                style = {"color": "black", "lw": 2.5} if m == HEADLINE else {}
                ax.plot(*zip(*pts), "o-", label=report.LABELS[m], **style)
        ax.axhline(1.0, color="grey", ls="--", lw=1, label="backprojection with true labels (bound)")
        ax.set(xscale="log", xlabel="distinct structures in the mixture", title=title)
        ax.title.set_fontsize(10)
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
    axes[0].set_ylabel("FSC_AUC / bound")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.2, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_scaling_report(out: Path) -> None:
    """``out/scaling.md`` and ``out/plots/scaling.png`` from ``out/results.json``."""
    results = out / "results.json"
    if not results.is_file():
        print(f"nothing finished yet in {out}", flush=True)
        return
    rows = json.loads(results.read_text())["rows"]
    c = curve(rows, results)
    (out / "plots").mkdir(exist_ok=True)
    plot_curve(rows, c, out / "plots" / "scaling.png")
    lines = ["# Scaling curve\n", "Made by `python benchmarks/scaling.py` (settings and commands: `runs.json`; "
             "per-size tables, FSC curves and UMAPs: `results.md`). FSC_AUC of each structure's map (the mean "
             "of its images' decoded volumes) against its true map, as a fraction of the backprojection with "
             "true labels; \"masked\": the same FSC_AUC under each true map's support mask (its density grown by 2 "
             "voxels, soft edge), which leaves out the solvent, where the backprojection keeps its noise; "
             "\"own − wrong\": the same map against 5 other structures' maps subtracted; \"latent clusters\": "
             "k-means (k = N) of the latents' directions, K images of each cluster decoded and averaged, the maps "
             "paired with the structures one to one (Hungarian, by FSC_AUC): the score without the labels; "
             "\"found\": the structures whose paired cluster map is nearer their true map than any other true map "
             "(recorded since the test mixture); \"3D classification\": the latent clusters refined by 3D "
             "classification with the poses fixed (`core/classify.py` at the record's commit: before c78a352 "
             "each image to the class map nearest its CTF-weighted slice, to convergence; since, soft assignment "
             "in a grid of the low frequencies, 20 passes, each image then to its likeliest class), scored the "
             "same way (recorded since it exists); steps: "
             "optimiser steps (batch 32 ours, 16 cryoDRGN); training loop: images x epochs / the loop's "
             "images/s, every leg of a resumed training included (process start and data loading not).\n",
             "![scaling](plots/scaling.png)\n",
             "| N | method | FSC_AUC mean ± std | of the bound | masked FSC_AUC (of the masked bound) | own − wrong "
             "| latent clusters: FSC_AUC (of the bound); found | 3D classification of the clusters: FSC_AUC (of the "
             "bound); found; ARI "
             "| Chamfer (Å) | vIoU | ARI (directions / plain) | steps | training loop (s) | images/s (loop) "
             "| parameters |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for size, v in c.items():
        for r in (r for r in rows if r["size"] == size and "fsc_auc_mean" in r):
            frac = v["of_bound"].get(r["method"])
            lines.append(
                f"| {size} | {r['label']} | {r['fsc_auc_mean']:.3f} ± {r['fsc_auc_std']:.3f} | "
                f"{report._fmt(frac, '.2f')} | {_masked_cell(r, v)} | "
                f"{r['fsc_auc_mean'] - r['fsc_auc_wrong_map']:.3f} | "
                f"{_clusters_cell(r, v['bound'])} | {_clusters_cell(r, v['bound'], 'classes_')} | "
                f"{r['chamfer_A_mean']:.2f} | {r['viou_mean']:.3f} | "
                f"{report._fmt(r.get('ari'), '.3f')} / {report._fmt(r.get('ari_plain'), '.3f')} | "
                f"{report._fmt(_steps(r, BATCH.get(r['method'], 32)), 'd')} | "
                f"{report.loop_seconds(r):.0f} | {report._fmt(r.get('loop_images_per_s'), '.0f')} | "
                f"{_millions(r.get('parameters'))} |")
    lines += ["\n## Paired per structure (mean ± standard error of the FSC_AUC difference)\n",
              "| N | difference | mean ± s.e. | ahead |", "|---|---|---|---|"]
    for size, v in c.items():
        for p in v["pairs"]:
            lines.append(f"| {size} | {p['a']} − {p['b']} | {p['mean']:+.3f} ± {p['se']:.3f} | "
                         f"{p['ahead']} of {p['n']} |")
    (out / "scaling.md").write_text("\n".join(lines) + "\n")
    (out / "scaling.json").write_text(json.dumps({str(k): v for k, v in c.items()}, indent=1))
    print(f"scaling curve: {out / 'scaling.md'}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "scaling-d32")
    p.add_argument("--workdir", type=Path, help="data and runs (default benchmarks/work/<name of --out>)")
    p.add_argument("--structures-dir", type=Path, default=LARGE_CORPUS)
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 100, 200])
    p.add_argument("--box", type=int, default=32)
    p.add_argument("--apix", type=float, default=6.0)
    p.add_argument("--snr", type=float, default=0.1)
    p.add_argument("--shift-std", type=float, default=2.0, help="pixels")
    p.add_argument("--images-per-structure", type=int, default=300)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--per-structure", type=int, default=10, help="images decoded and averaged per structure")
    p.add_argument("--methods", type=lambda s: s.split(","), default=list(METHODS))
    p.add_argument("--umap-methods", type=lambda s: s.split(","),
                   default=["many_lift_split", "many", "mlp", "hyper", "cryodrgn_vae"])
    p.add_argument("--threads", type=int, default=1, help="torch threads of each child")
    p.add_argument("--nice", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--report-only", action="store_true",
                   help="only rewrite scaling.md and results.md from finished results")
    p.add_argument("compare_args", nargs="*", help="after --: passed to compare.py")
    args = p.parse_args(argv)
    args.workdir = args.workdir or REPO / "benchmarks" / "work" / args.out.name
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.report_only:
        if not args.structures_dir.is_dir():
            print(f"scaling.py: error: the large structure corpus is missing ({args.structures_dir}); "
                  "pass --structures-dir DIR (a folder of models with an index.csv)", file=sys.stderr)
            return 2
        for size in args.sizes:
            rc = compare.main(compare_argv(args, size))
            if rc:
                return rc
            write_scaling_report(args.out)
    else:
        report.rewrite_report(args.out)
    write_scaling_report(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
