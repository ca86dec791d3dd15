"""Training throughput, peak memory and decoding time of CryoHype models on this machine (CPU or CUDA).

Each measurement runs in its own process (so that peak memory is its own): a training step is the model's
forward (encoder, hypernetwork, half-space rendering, CTF, masked MSE), backward and an Adam step on a
batch of 32 random images with random poses and CTF (data loading excluded). Ratios are printed against

- the reference algorithm (``harness/reference_algorithm.py``: the CryoHype reference implementation's step,
  re-implemented) trained on the same batch in the same process, in alternation with ours;
- the figures quoted for the reference implementation and cryoDRGN on a 2-core CPU (docs/model.md).

Next to the speed ratio against the reference algorithm stands the ratio of the two steps' floating-point
operations per image (torch's FlopCounterMode): where both run near this CPU's matmul rate, the speed
ratio cannot exceed it by much.

    python benchmarks/bench_train.py                  # all
    python benchmarks/bench_train.py --quick          # fewer steps
    python benchmarks/bench_train.py --no-baseline    # ours only (peak memory is then ours alone)
    python benchmarks/bench_train.py --device cuda    # on a GPU: also the paper preset at D=128

On CUDA both models train under the autocast that ``cryohype train`` uses there (``amp``: bf16 where the
GPU has it), the quoted CPU figures are not printed, and peak memory is the GPU's
(``torch.cuda.max_memory_allocated``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "harness"))   # reference_algorithm.py

REFERENCE = {  # images/s (training, batch 32) and seconds (decode one D=64 volume), 2-core CPU
    ("ref-small", 32): 20.0, ("ref-small", 64): 9.0, ("paper", 64): 0.64,
}
REFERENCE_PAPER_PEAK_GB = 9.0
REFERENCE_DECODE_S = 12.7
CRYODRGN_D64 = 3.15

#: the reference's small configuration: ViT 256x4, INR 256x5, patch 4 (129 weight tokens)
REF_SMALL = {"patch": 4, "width": 256, "depth": 4, "heads": 8, "mlp_dim": 1024, "tokens_per_layer": 32,
             "output_tokens": 1, "inr_width": 256, "inr_layers": 5, "n_freqs": 64}


def model_cfg(name: str) -> dict:
    from napari_cryohype.core.models import preset
    if name == "ref-small":
        cfg = preset("small")["model"]
        cfg.update(REF_SMALL)
        return cfg
    return preset(name)["model"]


def batch(B: int, D: int, device: str = "cpu"):
    import numpy as np
    import torch

    from napari_cryohype.core.rotation import random_rotations
    g = np.random.default_rng(0)
    ctf = torch.zeros(B, 9)
    ctf[:, 0], ctf[:, 1], ctf[:, 2], ctf[:, 3] = D, 6.0, 15000.0, 14000.0
    ctf[:, 5], ctf[:, 6], ctf[:, 7] = 300.0, 2.7, 0.1
    return tuple(t.to(device) for t in (torch.randn(B, D, D), torch.from_numpy(random_rotations(B, g)).float(),
                                        torch.randn(B, 2), ctf))


def _sync(device: str) -> None:
    import torch
    if device == "cuda":
        torch.cuda.synchronize()


def _peak_gb(device: str) -> float:
    import torch
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _step_times(model, data, steps: int, device: str = "cpu") -> list[float]:
    import torch

    from napari_cryohype.core.train import autocast_dtype, make_optimizer
    opt = make_optimizer(model.parameters(), 1e-4, 0.0, torch.device(device))
    amp = autocast_dtype(torch.device(device), True)
    times = []
    for i in range(steps + 1):
        _sync(device)
        t0 = time.perf_counter()
        with torch.autocast(device, dtype=amp, enabled=amp is not None):
            loss = model(*data)
        opt.zero_grad()
        loss.backward()
        opt.step()
        _sync(device)
        if i:  # the first step warms up allocators and kernels
            times.append(time.perf_counter() - t0)
    return times


def flops_per_image(model, D: int, B: int, device: str = "cpu") -> float:
    """Floating-point operations of one training forward + backward on a batch of ``B``, per image (torch's
    FlopCounterMode: matmuls, attention and convolutions)."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        model(*batch(B, D, device)).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / B


def measure_train(name: str, D: int, steps: int, baseline: bool, B: int = 32, device: str = "cpu") -> dict:
    """Our step's speed; with ``baseline`` also the reference algorithm's (reference_algorithm.py) on the
    same batch in the same process, the two measured in alternation so that load changes hit both."""
    import torch

    from napari_cryohype.core.models import CryoHypeModel
    torch.manual_seed(0)
    ours = CryoHypeModel(model_cfg(name), D).to(device)
    data = batch(B, D, device)
    out = {"what": "train", "preset": name, "D": D, "batch": B, "steps": steps, "device": device}
    if baseline:
        from reference_algorithm import ReferenceAlgorithm
        ref = ReferenceAlgorithm(model_cfg(name), D).to(device)
        t_ours, t_ref = [], []
        for _ in range(steps):
            t_ours += _step_times(ours, data, 1, device)
            t_ref += _step_times(ref, data, 1, device)
        out["baseline_images_per_s"] = B / min(t_ref)
        out["flop_ratio"] = flops_per_image(ref, D, B, device) / flops_per_image(ours, D, B, device)
    else:
        t_ours = _step_times(ours, data, steps, device)
    out.update(images_per_s=B / min(t_ours), median_images_per_s=B / sorted(t_ours)[len(t_ours) // 2],
               peak_gb=_peak_gb(device))
    return out


def measure_decode(name: str, D: int, repeats: int, device: str = "cpu") -> dict:
    """Seconds to decode one volume (the returned numpy array included)."""
    import torch

    from napari_cryohype.core.decode import decode_images
    from napari_cryohype.core.models import CryoHypeModel
    torch.manual_seed(0)
    model = CryoHypeModel(model_cfg(name), D).to(device).eval()
    img = torch.randn(1, D, D).numpy()
    t0 = time.perf_counter()
    decode_images(model, img, device=device)  # first call also builds the cached lattice encoding
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        decode_images(model, img, device=device)
        times.append(time.perf_counter() - t0)
    return {"what": "decode", "preset": name, "D": D, "seconds": min(times), "first_call_s": first,
            "peak_gb": _peak_gb(device), "device": device}


def child(spec: dict) -> None:
    import torch
    torch.set_num_threads(spec["threads"])
    if spec["what"] == "train":
        out = measure_train(spec["preset"], spec["D"], spec["steps"], spec["baseline"], device=spec["device"])
    else:
        out = measure_decode(spec["preset"], spec["D"], spec["repeats"], spec["device"])
    print("RESULT " + json.dumps(out))


def run_child(spec: dict) -> dict:
    p = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode or not lines:
        raise RuntimeError(f"benchmark {spec} failed:\n{p.stderr[-2000:]}")
    return json.loads(lines[-1][7:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--only", choices=("train", "decode"), help="run one kind of measurement")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the same-process reference-algorithm baseline (its paper-size step is slow)")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(json.loads(args.child))
    s = 2 if args.quick else 5
    cpu = args.device == "cpu"
    specs = []
    if args.only in (None, "train"):
        b = not args.no_baseline
        specs += [{"what": "train", "preset": "ref-small", "D": 32, "steps": s, "baseline": b},
                  {"what": "train", "preset": "ref-small", "D": 64, "steps": s, "baseline": b},
                  {"what": "train", "preset": "small", "D": 32, "steps": s, "baseline": False},
                  {"what": "train", "preset": "small", "D": 64, "steps": s, "baseline": False},
                  {"what": "train", "preset": "paper", "D": 64, "steps": 2 if cpu else s, "baseline": b}]
        if not cpu:
            specs.append({"what": "train", "preset": "paper", "D": 128, "steps": s, "baseline": b})
    if args.only in (None, "decode"):
        specs += [{"what": "decode", "preset": p, "D": D, "repeats": 2 if args.quick else 3}
                  for p, D in [("small", 64), ("paper", 64)] + ([] if cpu else [("paper", 128)])]
    if cpu:
        print("noisy numbers: the CPU may be shared; re-run on a quiet machine for reporting")
    for spec in specs:
        spec["threads"], spec["device"] = args.threads, args.device
        r = run_child(spec)
        if r["what"] == "train":
            ref = REFERENCE.get((r["preset"], r["D"])) if cpu else None
            extra = f"  x{r['images_per_s'] / ref:.2f} vs reference {ref:g} img/s (quoted)" if ref else ""
            if "baseline_images_per_s" in r:
                extra += (f"  x{r['images_per_s'] / r['baseline_images_per_s']:.2f} vs the reference algorithm "
                          f"here ({r['baseline_images_per_s']:.2f} img/s; it needs x{r['flop_ratio']:.2f} our "
                          "FLOPs per image)")
            if r["D"] == 64 and cpu:
                extra += f"  x{r['images_per_s'] / CRYODRGN_D64:.2f} vs cryoDRGN train_vae {CRYODRGN_D64} img/s"
            if r["preset"] == "paper" and cpu:
                extra += f"  (reference peak {REFERENCE_PAPER_PEAK_GB:g} GB)"
            print(f"train  {r['preset']:9s} D={r['D']:3d} batch {r['batch']}: {r['images_per_s']:7.2f} img/s "
                  f"(median {r['median_images_per_s']:.2f}), peak {r['peak_gb']:.2f} GB"
                  f"{' (both models)' if 'baseline_images_per_s' in r else ''}{extra}", flush=True)
        else:
            vs = (f"  x{REFERENCE_DECODE_S / r['seconds']:.1f} faster than the reference's {REFERENCE_DECODE_S} s "
                  "(CPU)" if r["D"] == 64 and cpu else "")
            print(f"decode {r['preset']:9s} D={r['D']:3d}: {r['seconds']:.3f} s per volume "
                  f"(first call {r['first_call_s']:.2f} s, peak {r['peak_gb']:.2f} GB){vs}", flush=True)


if __name__ == "__main__":
    main()
