"""Training speed of CryoHype against cryoDRGN, side by side in one run, on this machine's CPU.

For each box size (D=32 and D=64 by default): one mixture of the structures shipped in the package is
simulated, then ``cryohype train`` (``--preset``, default ``many``) and cryoDRGN 4.3.1 ``train_vae``
(``--zdim 8``, encoder and decoder 3x256, its default batch of 16) train on the same files for the same
epochs with the same number of torch threads, one after the other and in alternating order over
``--repeats`` rounds, so that both see the same load on the machine. With ``--threads own`` each runs as a
new user gets it: ours on its ``auto`` threads (one core left free), cryoDRGN on torch's default (every core).
Reported per run: images/s of the training loop (cryoDRGN's epoch times from its run.log; our trainer's
elapsed time, which includes reading the batches, as cryoDRGN's epoch times do) and of the whole process
(start, data loading and the final save included), and the ratio ours / cryoDRGN of the medians.

    python benchmarks/speed.py --out benchmarks/results/speed-vs-cryodrgn
    python benchmarks/speed.py --boxes 32 --images 600 --epochs 1 --repeats 1 --out /tmp/speed   # a quick look
    python benchmarks/speed.py --boxes 32 --threads own --out benchmarks/results/speed-vs-cryodrgn-own-threads

Needs ``bash benchmarks/harness/peers/setup_cryodrgn.sh``. Resumable: a finished (box, method, round) is skipped.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "harness"))

import report  # noqa: E402
from compare import cryohype, write_json  # noqa: E402
from measure import machine_info, run_measured  # noqa: E402
from peers import cryodrgn  # noqa: E402

REPO = report.REPO
#: pixel size per box so that the shipped models (up to 122 Å across) fit: D x apix >= 192 Å
APIX = {32: 6.0, 64: 3.0, 128: 1.5}


def simulate(work: Path, D: int, images: int, seed: int, env: dict) -> Path:
    """A mixture of the shipped structures at box ``D`` (``images`` per structure); returns its folder."""
    data = work / f"data-d{D}"
    if not (data / "simulation.json").is_file():
        cmd = [*cryohype(), "simulate", str(data), "--images-per-structure", str(images), "--box", str(D),
               "--apix", str(APIX[D]), "--snr", "0.1", "--shift-std", "2", "--seed", str(seed), "--force"]
        m = run_measured(cmd, work / "logs" / f"simulate-d{D}.log", label=f"simulate D={D}", env=env)
        if m.returncode:
            raise SystemExit(f"simulation failed; see {work / 'logs' / f'simulate-d{D}.log'}")
    return data


def train_command(method: str, data: Path, out: Path, args: argparse.Namespace) -> list[str]:
    """argv of one training run (ours or cryoDRGN's) on ``data``, writing into ``out``."""
    files = (data / "particles.mrcs", data / "poses.pkl", data / "ctf.pkl")
    if method == "cryodrgn":
        return cryodrgn.train_vae_command(*files, out, epochs=args.epochs, seed=args.seed)
    return [*cryohype(), "train", str(out), "--particles", str(files[0]), "--poses", str(files[1]),
            "--ctf", str(files[2]), "--preset", args.preset, "--epochs", str(args.epochs), "--seed", str(args.seed),
            "--threads", "auto" if args.threads == "own" else str(args.threads), *args.train_args]


def measure(method: str, data: Path, run_dir: Path, args: argparse.Namespace, env: dict) -> dict:
    """Train once (from scratch) and return its wall time, loop and whole-process images/s."""
    if run_dir.exists():
        import shutil
        shutil.rmtree(run_dir)
    log = run_dir.with_suffix(".log")
    m = run_measured(train_command(method, data, run_dir, args), log, label=f"{method} {run_dir.name}", env=env)
    if m.returncode:
        raise SystemExit(f"{method} training failed; see {log}")
    n = json.loads((data / "simulation.json").read_text())["n_images"]
    loop = report.loop_images_per_s("cryodrgn_vae" if method == "cryodrgn" else method, run_dir, n)
    return {"wall_s": round(m.wall_s, 2), "peak_rss_mb": round(m.peak_rss_mb, 1), "n_images": n,
            "epochs": args.epochs, "loop_images_per_s": loop, "images_per_s": n * args.epochs / m.wall_s}


def summary(records: dict, boxes: list[int]) -> str:
    """Markdown table: medians over the rounds and the ratio ours / cryoDRGN."""
    lines = ["| D | method | runs | images/s (loop), median | images/s (whole process), median | peak MB |",
             "|---|---|---|---|---|---|"]
    ratios = []
    for D in boxes:
        med = {}
        for method in ("ours", "cryodrgn"):
            runs = [r for k, r in records.items() if k.startswith(f"d{D}/{method}/")]
            if not runs:
                continue
            loop = statistics.median(r["loop_images_per_s"] for r in runs)
            whole = statistics.median(r["images_per_s"] for r in runs)
            med[method] = (loop, whole)
            lines.append(f"| {D} | {method} | {len(runs)} | {loop:.1f} | {whole:.1f} | "
                         f"{max(r['peak_rss_mb'] for r in runs):.0f} |")
        if len(med) == 2:
            ratios.append(f"D={D}: ours / cryoDRGN = **{med['ours'][0] / med['cryodrgn'][0]:.2f}×** (loop), "
                          f"{med['ours'][1] / med['cryodrgn'][1]:.2f}× (whole process)")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {r}" for r in ratios) + "\n"


def _threads(value: str) -> int | str:
    """``--threads``: a count of at least 1, or "own"."""
    if value == "own":
        return value
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"a count of at least 1 or 'own', got {value!r}")
    return int(value)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--workdir", type=Path, help="default benchmarks/work/<name of --out>")
    p.add_argument("--boxes", type=int, nargs="+", default=[32, 64], choices=sorted(APIX))
    p.add_argument("--images", type=int, default=600, help="images per structure (5 structures)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2, help="rounds, alternating which method goes first")
    p.add_argument("--threads", type=_threads, default=1,
                   help="torch threads of both, or 'own': each tool's default (ours auto, cryoDRGN every core)")
    p.add_argument("--preset", default="many")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-args", nargs=argparse.REMAINDER, default=[], help="more `cryohype train` arguments")
    args = p.parse_args(argv)
    work = args.workdir or REPO / "benchmarks" / "work" / args.out.name
    env = {"CUDA_VISIBLE_DEVICES": ""}
    if args.threads != "own":
        env |= {"OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    path = args.out / "speed.json"
    record = json.loads(path.read_text()) if path.is_file() else {"runs": {}}
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    for D in args.boxes:
        data = simulate(work, D, args.images, args.seed, env)
        for r in range(args.repeats):
            order = ("ours", "cryodrgn") if r % 2 == 0 else ("cryodrgn", "ours")
            for method in order:
                key = f"d{D}/{method}/{r}"
                if key in record["runs"]:
                    continue
                print(f"D={D} round {r + 1}/{args.repeats}: {method}", flush=True)
                record["runs"][key] = measure(method, data, work / f"d{D}-{method}-{r}", args, env)
                write_json(path, report.portable(record, sys.executable))
    record["settings"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    record["machine"], record["cryodrgn"] = machine_info(REPO), cryodrgn.version()
    record["started_utc"], record["wall_s"] = started, round(time.perf_counter() - t0, 1)
    write_json(path, report.portable(record, sys.executable))
    table = summary(record["runs"], args.boxes)
    (args.out / "speed.md").write_text(
        "# Training speed: CryoHype against cryoDRGN, side by side\n\n"
        f"Made by `python benchmarks/speed.py` ({json.dumps(record['settings'])}); machine: "
        f"{record['machine']['cpu']}, {record['machine']['cpu_count']} cores; {record['cryodrgn']}.\n\n" + table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
