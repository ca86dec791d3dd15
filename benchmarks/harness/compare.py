"""CryoHype against its baselines, ablations, the real cryoDRGN and the backprojection upper bound.

For every mixture size: select that many distinct atomic models (``benchmarks/harness/mixtures.py``), simulate them
with ``cryohype simulate``, train every method on the same files for the same number of epochs, decode the
same K images per structure with every method, average them per structure into ``NNN.mrc``, and score
everything with the same ``cryohype eval``. Latents are clustered with k-means (k = number of structures)
and compared with the true labels (adjusted Rand index). See ``benchmarks/README.md``.

Every step writes its outputs under ``--workdir`` and a small ``steps/NAME.json`` record last; a step whose
record exists is skipped, so an interrupted benchmark resumes where it stopped. The tables, plots and the
record of every run (machine, versions, seeds, commands, wall times, peak memory) go to ``--out``.

Example (reduced CPU size, well under an hour on 2 cores):
    python benchmarks/harness/compare.py --sizes 10 --images-per-structure 100 --epochs 5 --box 32 --apix 6 \
        --out benchmarks/results/cpu-small
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import mrcfile
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mixtures  # noqa: E402
import report  # noqa: E402
from measure import machine_info, run_measured  # noqa: E402
from napari_cryohype.core.evaluate import (cluster_indices, load_truth, load_volume_folder,  # noqa: E402
                                           per_structure_indices, score_clusters)
from peers import cryodrgn  # noqa: E402

REPO = report.REPO
DEFAULT_STRUCTURES = REPO.parent / "shared" / "data" / "structures"

class Recipe(NamedTuple):
    """How one of our methods trains: ``cryohype train`` options, ``epochs_scale`` times ``--epochs``, and
    any further ``cryohype train`` arguments."""
    conditioning: str
    encoder: str
    preset: str
    epochs_scale: int = 1
    options: tuple[str, ...] = ()


#: Our methods by name. The ``many`` preset became the lift encoder with the encoder split after these
#: were measured, so the recipes that ran under the old preset pin what it was (MLP encoder, no split).
_OLD_MANY = ("--set", "encoder_split=false")
OURS = {"hyper": Recipe("hyper", "vit", "small"), "concat": Recipe("concat", "vit", "small"),
        "mlp": Recipe("hyper", "mlp", "small"), "unet": Recipe("hyper", "unet", "small"),
        "many": Recipe("hyper", "mlp", "many", options=_OLD_MANY),
        "many_2x": Recipe("hyper", "mlp", "many", epochs_scale=2, options=_OLD_MANY),
        "many_rot": Recipe("hyper", "mlp", "many", options=(*_OLD_MANY, "--set", "encoder_rotation=true")),
        "many_lift": Recipe("hyper", "lift", "many", options=_OLD_MANY),
        "many_lift_split": Recipe("hyper", "lift", "many"),
        "many_split": Recipe("hyper", "mlp", "many"),
        "many_concat": Recipe("concat", "lift", "many"),
        # the preset's architecture with cryoDRGN 3x256's parameter count at D=32 (0.62 M against 0.63 M): the
        # lift encoder's hidden width, which holds 98% of the preset's 9.4 M parameters, cut from 1024 to 64
        "many_shrunk": Recipe("hyper", "lift", "many", options=("--set", "encoder_hidden=64")),
        # the preset with the encoder also trained on synthetic views of each image's map (models/views.py)
        "many_views": Recipe("hyper", "lift", "many", options=("--set", "synthetic_views=0.03")),
        # the preset with the lift encoder reading the transform times the CTF beside the CTF squared
        "many_ctf": Recipe("hyper", "lift", "many", options=("--encoder-input", "ctf")),
        # the preset with each latent scaled to unit RMS and given noise of this std in training (a limit
        # on what one latent can carry: what tells structures apart, not one image's noise)
        "many_noise1": Recipe("hyper", "lift", "many", options=("--set", "latent_noise=1")),
        "many_noise2": Recipe("hyper", "lift", "many", options=("--set", "latent_noise=2")),
        # the preset trained twice as long (40 epochs at the harness's 20)
        "many_40ep": Recipe("hyper", "lift", "many", epochs_scale=2)}
PEERS = ("cryodrgn_vae", "cryodrgn_dec")
ALL_METHODS = (*OURS, *PEERS, "backproject")


def latents_path(method_dir: Path, method: str) -> Path:
    """Where a method's latents (N, d) are kept in its folder of a mixture: our run's analysis, or
    cryoDRGN's final z saved as .npy."""
    return method_dir / ("run/analysis/latents.npy" if method in OURS else "latents.npy")


class StepFailed(RuntimeError):
    """A child command exited with an error; the message names its log."""


def cryohype() -> list[str]:
    """argv prefix that runs our CLI with this interpreter (the package must be installed)."""
    return [sys.executable, "-m", "napari_cryohype.cli"]


def write_json(path: Path, data) -> None:
    """Write ``data`` as JSON atomically (temporary name, then rename). Published records (results.json,
    runs.json) go through :func:`report.portable` first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


class Bench:
    """One benchmark: its settings, folders and the record of its steps."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.out = Path(args.out)
        self.work = Path(args.workdir) if args.workdir else REPO / "benchmarks" / "work" / self.out.name
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.env = {"OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
        if args.device == "cpu":
            self.env["CUDA_VISIBLE_DEVICES"] = ""

    # -- steps -------------------------------------------------------------------------------------------
    def step(self, record: Path, label: str, fn) -> dict:
        """Run ``fn() -> dict`` unless ``record`` exists; store its result (plus the time) in ``record``."""
        if record.is_file():
            print(f"  skip  {label} (done: {record})", flush=True)
            return json.loads(record.read_text())
        print(f"  run   {label}", flush=True)
        t0 = time.perf_counter()
        result = fn() or {}
        result.setdefault("step_wall_s", round(time.perf_counter() - t0, 2))
        result["finished_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json(record, result)
        print(f"  done  {label} in {result['step_wall_s']:.0f} s", flush=True)
        return result

    def command(self, cmd: list[str], log: Path, label: str, *, fresh: Path | None = None) -> dict:
        """Run one child command, measured; ``fresh`` (a folder) is removed first (a half-written output of
        an interrupted earlier attempt). Raises :class:`StepFailed` when it fails."""
        if fresh is not None and fresh.exists():
            shutil.rmtree(fresh)
        m = run_measured(cmd, log, label=label, env=self.env, nice=self.args.nice)
        if m.returncode != 0:
            raise StepFailed(f"{label} failed (exit {m.returncode}); see {log}")
        return {"command": [str(c) for c in cmd], "wall_s": round(m.wall_s, 2),
                "peak_rss_mb": round(m.peak_rss_mb, 1), "log": str(log)}

    # -- data --------------------------------------------------------------------------------------------
    def mixture(self, n: int, corpus: list[mixtures.Structure]) -> dict:
        """Select and simulate the mixture of ``n`` structures; returns its description."""
        a, d = self.args, self.work / f"mix{n:04d}"
        if a.hold_out:
            corpus = mixtures.held_out(corpus, a.box * a.apix, a.dev_seed, a.hold_out)
        chosen = mixtures.select_mixture(corpus, n, a.box * a.apix, seed=a.seed)
        data = d / "data"
        cmd = [*cryohype(), "simulate", str(data), "--structures", *[str(s.path) for s in chosen],
               "--images-per-structure", str(a.images_per_structure), "--box", str(a.box),
               "--apix", str(a.apix), "--snr", str(a.snr), "--shift-std", str(a.shift_std), "--seed", str(a.seed),
               "--skip-oversized"]
        d.mkdir(parents=True, exist_ok=True)
        with open(d / "simulate.lock", "w") as lock:   # two invocations (methods in parallel) simulate once
            fcntl.flock(lock, fcntl.LOCK_EX)
            rec = self.step(d / "steps" / "simulate.json", f"simulate {n} structures",
                            lambda: {**self.command(cmd, d / "logs" / "simulate.log", "simulate", fresh=data),
                                     "structures": [s.as_json() for s in chosen]})
        labels = np.load(data / "labels.npy")
        summary = json.loads((data / "simulation.json").read_text())
        if summary["n_structures"] != n:
            print(f"  warning: {n - summary['n_structures']} model(s) did not fit the box and were left out: "
                  f"the mixture has {summary['n_structures']} structures", flush=True)
        return {"n": summary["n_structures"], "dir": d, "data": data, "labels": labels, "summary": summary, "record": rec,
                "eval_indices": self.eval_indices(d, labels)}

    def eval_indices(self, d: Path, labels: np.ndarray) -> np.ndarray:
        """(n_structures, K) image indices decoded for every method: K images of each label, chosen as
        ``cryohype eval --per-structure K --seed S`` chooses them."""
        path = d / "eval_indices.npy"
        if path.is_file():
            return np.load(path)
        k = min(self.args.per_structure, int(np.bincount(labels).min()))
        chosen = per_structure_indices(labels, k, seed=self.args.seed)
        idx = np.stack([chosen[lab] for lab in sorted(chosen)])
        np.save(path, idx)
        return idx

    # -- methods -----------------------------------------------------------------------------------------
    def run_ours(self, mix: dict, method: str, train_only: bool = False) -> dict:
        """Train, analyse and decode one of our models (only train when ``train_only``)."""
        a, d, data = self.args, mix["dir"] / method, mix["data"]
        run = d / "run"
        recipe = OURS[method]
        train_cmd = [*cryohype(), "train", str(run), "--particles", str(data / "particles.mrcs"),
                     "--poses", str(data / "poses.pkl"), "--ctf", str(data / "ctf.pkl"), "--preset", recipe.preset,
                     "--epochs", str(a.epochs * recipe.epochs_scale), "--conditioning", recipe.conditioning,
                     "--encoder", recipe.encoder, *recipe.options,
                     "--seed", str(a.train_seed), "--device", a.device, "--threads", str(a.threads), *a.train_args]
        if (run / "checkpoints" / "last.pt").is_file():   # interrupted earlier: continue from its checkpoint
            train_cmd, fresh = [*cryohype(), "train", str(run), "--resume", "--device", a.device,
                                "--threads", str(a.threads)], None
        else:
            fresh = run
        train = self.step(d / "steps" / "train.json", f"{method}: train",
                          lambda: self.command(train_cmd, d / "logs" / "train.log", f"{method} train",
                                               fresh=fresh))
        if train_only:
            return {"train": train, "run_dir": run}
        want_umap = method in a.umap_methods
        analyze_cmd = [*cryohype(), "analyze", str(run), "--k", str(mix["n"]), "--seed", str(a.seed),
                       "--device", a.device, "--no-volumes", "--no-classes",   # every method's classes: refine()
                       *([] if want_umap else ["--no-umap"])]
        self.step(d / "steps" / "analyze.json", f"{method}: latents, UMAP, k-means",
                  lambda: self.command(analyze_cmd, d / "logs" / "analyze.log", f"{method} analyze"))
        latents = latents_path(d, method)
        latents_dir = latents.parent
        volumes = d / "volumes"
        k = mix["eval_indices"].shape[1]
        self.step(d / "steps" / "decode.json", f"{method}: decode {k} images per structure",
                  lambda: self.decode_ours(run, mix["eval_indices"], volumes, d, "eval_indices"))
        clusters = d / "volumes_clusters"
        self.step(d / "steps" / "decode_clusters.json", f"{method}: decode {k} images per latent cluster",
                  lambda: self.decode_ours(run, self.cluster_groups(latents, mix), clusters, d, "cluster_indices"))
        classes = self.refine(mix, d, latents)
        class_volumes = d / "volumes_classes"
        self.step(d / "steps" / "decode_classes.json", f"{method}: decode {k} images per refined class",
                  lambda: self.decode_ours(run, self.class_groups(classes, mix), class_volumes, d, "class_indices"))
        return {"train": train, "latents": latents, "umap": latents_dir / "umap.npy" if want_umap else None,
                "volumes": volumes, "cluster_volumes": clusters, "classes": classes, "class_volumes": class_volumes,
                "run_dir": run}

    def cluster_groups(self, latents: Path, mix: dict) -> np.ndarray:
        """(n, K) images to decode per latent cluster: k-means (k = n structures) on the PCA of the latents,
        as for the ARI, then K seeded members of each cluster. The labels are not used."""
        clusters, _ = report.latent_clusters(latents, mix["n"], self.args.seed)
        return cluster_indices(clusters, mix["eval_indices"].shape[1], seed=self.args.seed)

    def refine(self, mix: dict, d: Path, latents: Path) -> Path:
        """The latent clusters refined by 3D classification with the poses fixed (``refine_classes.py``):
        ``d/classes_refined.npy``. The labels are not used."""
        seeds, out = d / "cluster_seeds.npy", d / "classes_refined.npy"

        def run() -> dict:
            np.save(seeds, report.latent_clusters(latents, mix["n"], self.args.seed)[0])
            cmd = [sys.executable, str(Path(__file__).with_name("refine_classes.py")), str(mix["data"]),
                   str(seeds), str(out), "--threads", str(self.args.threads)]
            return self.command(cmd, d / "logs" / "refine_classes.log", "refine classes")
        self.step(d / "steps" / "refine_classes.json", "refine the latent clusters by 3D classification", run)
        return out

    def class_groups(self, classes: Path, mix: dict) -> np.ndarray:
        """(n classes, K) images to decode per refined class: K seeded members of each."""
        return cluster_indices(np.load(classes), mix["eval_indices"].shape[1], seed=self.args.seed)

    def decode_ours(self, run: Path, groups: np.ndarray, volumes: Path, d: Path, name: str) -> dict:
        """One averaged volume per group of images, ``volumes/NNN.mrc`` (``groups`` (n, K), saved as
        ``d/NAME.npy``)."""
        idx_file = d / f"{name}.npy"
        np.save(idx_file, groups)
        cmd = [sys.executable, str(Path(__file__).with_name("decode_groups.py")), str(run), str(idx_file),
               str(volumes), "--device", self.args.device]
        return self.command(cmd, d / "logs" / f"decode_{name}.log", "decode", fresh=volumes)

    def run_cryodrgn(self, mix: dict, method: str, train_only: bool = False) -> dict:
        """Train cryoDRGN (train_vae or train_dec), then decode and average the eval images' volumes (only
        train when ``train_only``)."""
        a, d, data = self.args, mix["dir"] / method, mix["data"]
        out = d / "run"
        arch = cryodrgn.Architecture(zdim=a.zdim, enc_dim=a.cryodrgn_dim, dec_dim=a.cryodrgn_dim)
        args = (data / "particles.mrcs", data / "poses.pkl", data / "ctf.pkl", out)
        load = cryodrgn.latest_checkpoint(out) if method == "cryodrgn_vae" and out.is_dir() else None
        if load is not None:   # interrupted earlier: train_vae continues after its last epoch's checkpoint
            cmd, fresh = cryodrgn.train_vae_command(*args, epochs=a.epochs, seed=a.train_seed, arch=arch, load=load), None
        else:
            make = cryodrgn.train_vae_command if method == "cryodrgn_vae" else cryodrgn.train_dec_command
            cmd, fresh = make(*args, epochs=a.epochs, seed=a.train_seed, arch=arch), out
        train = self.step(d / "steps" / "train.json", f"{method}: train",
                          lambda: self.command(cmd, d / "logs" / "train.log", f"{method} train", fresh=fresh))
        if train_only:
            return {"train": train, "run_dir": out}
        weights, config, zpkl = cryodrgn.final_outputs(out)
        latents = latents_path(d, method)
        if not latents.is_file():
            np.save(latents, cryodrgn.load_z(zpkl))
        volumes, clusters = d / "volumes", d / "volumes_clusters"
        self.step(d / "steps" / "decode.json", f"{method}: eval_vol",
                  lambda: self.decode_cryodrgn(weights, config, np.load(latents), mix["eval_indices"], volumes, d))
        self.step(d / "steps" / "decode_clusters.json", f"{method}: eval_vol per latent cluster",
                  lambda: self.decode_cryodrgn(weights, config, np.load(latents), self.cluster_groups(latents, mix),
                                               clusters, d, "clusters"))
        classes, class_volumes = self.refine(mix, d, latents), d / "volumes_classes"
        self.step(d / "steps" / "decode_classes.json", f"{method}: eval_vol per refined class",
                  lambda: self.decode_cryodrgn(weights, config, np.load(latents), self.class_groups(classes, mix),
                                               class_volumes, d, "classes"))
        return {"train": train, "latents": latents, "umap": None, "volumes": volumes, "cluster_volumes": clusters,
                "classes": classes, "class_volumes": class_volumes, "run_dir": out}

    def decode_cryodrgn(self, weights: Path, config: Path, z: np.ndarray, idx: np.ndarray, volumes: Path,
                        d: Path, name: str = "eval") -> dict:
        """One averaged volume per row of ``idx`` (n, K): cryoDRGN's maps at those images' z."""
        zfile = d / f"{name}_z.txt"
        np.savetxt(zfile, z[idx.ravel()])
        raw = d / f"{name}_vol"
        rec = self.command(cryodrgn.eval_vol_command(weights, config, zfile, raw, self.args.apix),
                           d / "logs" / f"{name}_vol.log", "eval_vol", fresh=raw)
        if volumes.exists():
            shutil.rmtree(volumes)
        volumes.mkdir(parents=True)
        k = idx.shape[1]
        for label in range(idx.shape[0]):
            vols = [mrcfile.read(raw / f"vol_{label * k + j:03d}.mrc") for j in range(k)]
            with mrcfile.new(volumes / f"{label:03d}.mrc") as m:
                m.set_data(np.mean(vols, axis=0).astype(np.float32))
                m.voxel_size = self.args.apix
        shutil.rmtree(raw)
        return rec

    def run_backproject(self, mix: dict) -> dict:
        """Backprojection of all of each structure's images with the true labels (the upper bound)."""
        d, data = mix["dir"] / "backproject", mix["data"]
        volumes = d / "bp" / "backproject"
        cmd = [*cryohype(), "backproject", str(volumes.parent), "--particles", str(data / "particles.mrcs"),
               "--poses", str(data / "poses.pkl"), "--ctf", str(data / "ctf.pkl"),
               "--labels", str(data / "labels.npy"), "--device", self.args.device]
        rec = self.step(d / "steps" / "backproject.json", "backproject with true labels",
                        lambda: self.command(cmd, d / "logs" / "backproject.log", "backproject",
                                             fresh=volumes.parent))
        return {"train": rec, "latents": None, "umap": None, "volumes": volumes}

    def score_clusters(self, mix: dict, method: str, volumes: Path, name: str = "clusters") -> dict:
        """The maps of the latent clusters (``name`` "clusters") or of the refined classes ("classes") paired with
        the true structures (Hungarian, by FSC_AUC) and scored like the label-chosen ones: what the method
        reconstructs without being told which image is which."""
        d = mix["dir"] / method

        def score() -> dict:
            truth, apix = load_truth(mix["data"] / "volumes")
            metrics = score_clusters(load_volume_folder(volumes), truth, apix)
            write_json(d / f"eval_{name}" / "metrics.json", metrics)
            return {"pairs": metrics["pairs"], "summary": metrics["summary"], "missing": metrics["missing"],
                    "structures_found": metrics["structures_found"]}
        what = "latent clusters'" if name == "clusters" else "refined classes'"
        return self.step(d / "steps" / f"eval_{name}.json", f"{method}: score the {what} maps", score)

    def score(self, mix: dict, method: str, volumes: Path) -> dict:
        """``cryohype eval`` of a method's per-structure volumes against the true maps."""
        d = mix["dir"] / method
        metrics = d / "eval" / "metrics.json"
        cmd = [*cryohype(), "eval", str(d), "--method-volumes", str(volumes), "--volumes",
               str(mix["data"] / "volumes"), "--force"]
        self.step(d / "steps" / "eval.json", f"{method}: cryohype eval",
                  lambda: self.command(cmd, d / "logs" / "eval.log", "eval", fresh=metrics.parent))
        return json.loads(metrics.read_text())

    # -- the whole benchmark -----------------------------------------------------------------------------
    def save_row(self, row: dict) -> list[dict]:
        """Put ``row`` into ``out/results.json`` (replacing the same size and method), re-read just before
        writing so that two invocations writing into the same folder keep each other's rows."""
        path = self.out / "results.json"
        rows = json.loads(path.read_text())["rows"] if path.is_file() else []
        rows = [r for r in rows if (r["size"], r["method"]) != (row["size"], row["method"])] + [row]
        rows.sort(key=lambda r: (r["size"], ALL_METHODS.index(r["method"])))
        write_json(path, report.portable({"rows": rows}, sys.executable))
        return rows

    def run(self) -> int:
        a = self.args
        t_start = time.perf_counter()
        corpus = mixtures.load_corpus(Path(a.structures_dir))
        print(f"corpus: {len(corpus)} distinct models in {a.structures_dir}", flush=True)
        methods = list(a.methods)
        if any(m in PEERS for m in methods):
            print(f"peer: {cryodrgn.version()}", flush=True)
            if "cryodrgn_dec" in methods and not cryodrgn.has_command("train_dec"):
                print("cryodrgn train_dec does not exist in this cryoDRGN: dropped", flush=True)
                methods.remove("cryodrgn_dec")
        rows: list[dict] = []
        for n in a.sizes:
            print(f"== mixture of {n} structures ==", flush=True)
            mix = self.mixture(n, corpus)
            for method in methods:
                if method in OURS:
                    res = self.run_ours(mix, method, a.cost_only)
                elif method in PEERS:
                    res = self.run_cryodrgn(mix, method, a.cost_only)
                else:
                    res = self.run_backproject(mix)
                metrics = None if a.cost_only else self.score(mix, method, res["volumes"])
                if metrics is not None and res.get("cluster_volumes"):
                    res["clusters"] = self.score_clusters(mix, method, res["cluster_volumes"])
                if metrics is not None and res.get("class_volumes"):
                    res["refined"] = self.score_clusters(mix, method, res["class_volumes"], "classes")
                rows = self.save_row(report.method_row(n, method, res, metrics, mix, a))
        runs_path = self.out / "runs.json"
        runs = json.loads(runs_path.read_text()) if runs_path.is_file() else {"invocations": []}
        runs["settings"] = {k: (v if not isinstance(v, Path) else str(v)) for k, v in vars(a).items()}
        peer = cryodrgn.version() if any(m in PEERS for m in methods) else None
        runs["invocations"].append({"settings": runs["settings"], "machine": machine_info(REPO), "cryodrgn": peer,
                                    "started_utc": self.started,
                                    "total_wall_s": round(time.perf_counter() - t_start, 1)})
        # a later invocation without the peer (one method per call, as gpu_scaling.sh runs them) keeps its version
        runs["machine"], runs["cryodrgn"] = runs["invocations"][-1]["machine"], peer or runs.get("cryodrgn")
        runs["steps"] = {**runs.get("steps", {}), **report.collect_steps(self.work)}  # old ones kept
        write_json(runs_path, report.portable(runs, sys.executable))
        report.write_report(self.out, rows, runs)
        print(f"results: {self.out / 'results.md'}", flush=True)
        return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", required=True, help="results folder (tables, plots, JSON records)")
    p.add_argument("--workdir", help="data and runs (default benchmarks/work/<name of --out>)")
    p.add_argument("--structures-dir", default=str(DEFAULT_STRUCTURES),
                   help="atomic models with an index.csv")
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 100], help="structures per mixture")
    p.add_argument("--box", type=int, default=64, help="box size D in pixels")
    p.add_argument("--apix", type=float, default=4.0, help="pixel size in Å")
    p.add_argument("--snr", type=float, default=0.1)
    p.add_argument("--shift-std", type=float, default=2.0, metavar="PX",
                   help="std of the particles' random in-plane shifts, pixels (real particles are never centred)")
    p.add_argument("--images-per-structure", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=20, help="training epochs, the same for every method")
    p.add_argument("--methods", type=lambda s: s.split(","), default=list(ALL_METHODS),
                   help=f"comma-separated, from {','.join(ALL_METHODS)}")
    p.add_argument("--umap-methods", type=lambda s: s.split(","), default=list(ALL_METHODS),
                   help="methods whose latents get a UMAP plot (each costs ~40 s of numba compile)")
    p.add_argument("--per-structure", type=int, default=20, help="images decoded and averaged per structure")
    p.add_argument("--device", default="cpu", help="cpu or cuda (ours; cryoDRGN uses CUDA when visible)")
    p.add_argument("--seed", type=int, default=0, help="seed of the selection, simulation and training")
    p.add_argument("--train-seed", type=int, help="seed of the trainings alone (default --seed): the spread over "
                   "training seeds on one mixture")
    p.add_argument("--hold-out", type=int, default=0, metavar="N",
                   help="draw the mixture from the models outside the development mixture of N (a test mixture)")
    p.add_argument("--dev-seed", type=int, default=0, help="seed of the development order --hold-out leaves out")
    p.add_argument("--zdim", type=int, default=8, help="cryoDRGN latent dimension")
    p.add_argument("--cryodrgn-dim", type=int, default=256, help="cryoDRGN encoder and decoder width (3 layers)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads of each child")
    p.add_argument("--nice", type=int, default=0, help="run the children at this nice level")
    p.add_argument("--cost-only", action="store_true",
                   help="only train (and backproject): measure images/s and peak memory, no scores")
    p.add_argument("--train-args", nargs=argparse.REMAINDER, default=[],
                   help="extra arguments passed to `cryohype train` (put last)")
    args = p.parse_args(argv)
    bad = [m for m in [*args.methods, *args.umap_methods] if m not in ALL_METHODS]
    if bad:
        p.error(f"unknown method(s) {', '.join(bad)}; choose from {', '.join(ALL_METHODS)}")
    args.train_seed = args.seed if args.train_seed is None else args.train_seed
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return Bench(args).run()
    except (mixtures.CorpusError, cryodrgn.CryoDRGNMissing, StepFailed) as err:
        print(f"compare.py: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
