"""Split the classes that hold two structures and merge the classes that share one, the number of classes kept:
does it find more structures than the harness's 3D classification?

On one trained method of a finished ``scaling.py`` mixture (its latents, its data, its refined classes
``classes_refined.npy``), rounds of split-and-merge (Ueda et al., *SMEM algorithm for mixture models*, 2000)
judged by held-out likelihood:

- every image is scored against maps made from the other half of the images (even against odd index), so
  that no image helps the map it is scored against (an image inside its own class's map flatters small
  classes: ``core.classify``'s margins);
- a split of class k: 2-means of its images' latent directions, refined by hard EM between the two halves'
  maps; its gain is the held-out score of each image against its half's map, less that against the class's
  map, summed over the class;
- a merge of classes a and b (b among a's ``--neighbours`` nearest by Ward's cost): its loss is the held-out
  score against each image's own class's map, less that against the merged map;
- a split and a merge of three different classes are made together where the split gains more than the
  merge loses, best first; then 3D classification (``core.classify``) seeded by the new classes.

Scores are least squares in the images' units (``core.classify``: larger is nearer); gains and losses are
compared with each other only, so the noise level does not enter. No label is used before the scoring: each
round's classes are scored like ``overclassify.py``'s (ARI; the backprojection of each class's images paired
with the true maps: FSC_AUC and structures found), with the classes' make-up against the labels (how many
hold two structures or more, how many repeat a structure another class holds) to say what changed.

    python benchmarks/studies/split_merge.py benchmarks/work/split-d32 --mixture mix0100 \\
        --method many_lift_split --out benchmarks/results/split-merge-d32

Each round's classes are kept in ``WORKDIR/MIXTURE/METHOD/split_merge/`` and skipped on a rerun;
``split_merge.json`` and ``split_merge.md`` in ``--out`` hold every method and mixture studied so far.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import report  # noqa: E402
from compare import latents_path, write_json  # noqa: E402
from overclassify import cached, class_maps, ward_cost  # noqa: E402
from study_record import mixture_data, parse_study_args, save, study_parser  # noqa: E402

from napari_cryohype.core import lattice  # noqa: E402
from napari_cryohype.core.analysis import adjusted_rand_index, kmeans  # noqa: E402
from napari_cryohype.core.backproject import DEFAULT_REG, Backprojector, dataset_batches  # noqa: E402
from napari_cryohype.core.classify import DEFAULT_RADIUS, classify  # noqa: E402
from napari_cryohype.core.evaluate import load_truth, score_clusters  # noqa: E402


class Observed:
    """Every image's centred, shift-corrected Hartley transform ``y`` (N, M) and CTF ``c`` (N, M) at the M points
    of the central section within ``radius`` (a fraction of Nyquist), with the poses ``rots`` (N, 3, 3): what
    classification compares, held in memory (N x M x 8 bytes: 48 MB at 30,000 images, D=32)."""

    def __init__(self, dataset, radius: float = DEFAULT_RADIUS, batch_size: int = 512):
        D = self.D = dataset.D
        bp = Backprojector(D)
        disk = bp.coords[bp.mask]
        radius_px = min(radius * D / 2, D / 2 - 1)
        keep = disk[:, :2].pow(2).sum(-1) * D * D <= radius_px**2 + 1e-6
        self.coords = disk[keep]
        ys, cs, rots = [], [], []
        for _, images, r, trans, ctf in dataset_batches(dataset, np.arange(len(dataset)), batch_size):
            y, c = bp.observe(images, trans, ctf)
            ys.append(y[:, keep])
            cs.append(torch.ones_like(ys[-1]) if c is None else c[:, keep])
            rots.append(torch.as_tensor(np.asarray(r), dtype=torch.float32))
        self.y, self.c, self.rots = torch.cat(ys), torch.cat(cs), torch.cat(rots)

    def maps(self, idx: np.ndarray, groups: np.ndarray, n_groups: int, folds: int = 2, held_out: bool = True,
             reg: float = DEFAULT_REG) -> Tensor:
        """(folds, n_groups, D, D, D) float32 transforms: entry f holds the map of each group of the images ``idx``
        (B,) outside fold f (image index mod ``folds``), or without ``held_out`` of all of them (the same maps in
        every entry); ``groups`` (B,) in [0, n_groups)."""
        idx, D = torch.as_tensor(idx), self.D
        bp = Backprojector(D, n_maps=folds * n_groups)
        y, c = self.y[idx], self.c[idx]
        bp.add_observed(self.coords @ self.rots[idx], c * y, c * c, torch.as_tensor(groups) + n_groups * (idx % folds))
        num, den = (a.reshape(folds, n_groups, D, D, D) for a in bp.sums())
        total_num, total_den = num.sum(0), den.sum(0)
        if not held_out:
            return (total_num / (total_den + reg)).float().expand(folds, -1, -1, -1, -1)
        return ((total_num - num) / (total_den - den + reg)).float()

    def scores(self, idx: np.ndarray, maps: Tensor, batch: int = 1500) -> Tensor:
        """(B, G) scores ``2 <y, c s> - |c s|^2`` (larger: nearer) of the images ``idx`` (B,), each against the G maps
        of its fold in ``maps`` (folds, G, D, D, D) from :meth:`maps` (one fold: the same maps for every image)."""
        idx = torch.as_tensor(idx)
        folds, G = maps.shape[:2]
        out = torch.empty(len(idx), G)
        for f in range(folds):
            members = torch.nonzero(idx % folds == f).flatten()
            for start in range(0, len(members), batch):
                rows = members[start:start + batch]
                i = idx[rows]
                s = lattice.sample_volumes(maps[f], (self.coords @ self.rots[i]).reshape(-1, 3)).reshape(G, len(i), -1)
                pred = s * self.c[i]
                out[rows] = (2 * torch.einsum("gbm,bm->bg", pred, self.y[i]) - pred.pow(2).sum(-1).T).float()
        return out

    def held_out(self, idx: np.ndarray, groups: np.ndarray, n_groups: int) -> Tensor:
        """(B, n_groups) scores of the images ``idx`` (B,) against the maps of the ``groups`` (B,) of those images
        made from the other half of them (even against odd index)."""
        return self.scores(idx, self.maps(idx, groups, n_groups))


def propose_split(obs: Observed, members: np.ndarray, x: np.ndarray, seed: int, iterations: int = 5
                  ) -> tuple[np.ndarray, float]:
    """Two halves (B,) in {0, 1} of one class's images ``members`` (B,) and the held-out gain of splitting it:
    2-means of their latent directions ``x`` (N, d), refined by hard EM between the halves' held-out maps."""
    single = obs.held_out(members, np.zeros(len(members), np.int64), 1)[:, 0]
    halves = kmeans(x[members], 2, seed=seed, directions=True)
    for it in range(iterations + 1):
        if min(np.bincount(halves, minlength=2)) < 2:
            return halves, float("-inf")
        scores = obs.held_out(members, halves, 2)
        new = scores.argmax(1).numpy()
        if it == iterations or np.array_equal(new, halves):
            break
        halves = new
    return halves, float((scores.max(1).values - single).sum())


def merge_loss(obs: Observed, labels: np.ndarray, a: int, b: int) -> float:
    """Held-out score lost by merging classes ``a`` and ``b`` of ``labels`` (N,): each of their images against
    its own class's map, less against the merged map (negative: the merged map predicts them better)."""
    members = np.flatnonzero((labels == a) | (labels == b))
    in_b = (labels[members] == b).astype(np.int64)
    own = obs.held_out(members, in_b, 2).gather(1, torch.as_tensor(in_b)[:, None])[:, 0]
    merged = obs.held_out(members, np.zeros(len(members), np.int64), 1)[:, 0]
    return float((own - merged).sum())


def ward_neighbours(obs: Observed, labels: np.ndarray, ids: np.ndarray, k: int, reg: float = DEFAULT_REG
                    ) -> dict[int, list[int]]:
    """{class: its ``k`` nearest other classes by Ward's cost in Fourier space} (``overclassify.merge_classes``),
    the classes' maps from all their images."""
    K, D = len(ids), obs.D
    index = {int(c): i for i, c in enumerate(ids)}
    bp = Backprojector(D, n_maps=K)
    which = torch.as_tensor([index[int(c)] for c in labels])
    bp.add_observed(obs.coords @ obs.rots, obs.c * obs.y, obs.c * obs.c, which)
    num, den = (a.reshape(K, -1) for a in bp.sums())
    inside = den.sum(0) > 0
    num, w = num[:, inside], den[:, inside] + reg
    out = {}
    for i in range(K):
        cost = ward_cost(num, w, i)
        cost[i] = float("inf")
        out[int(ids[i])] = [int(ids[j]) for j in torch.argsort(cost)[:k]]
    return out


def split_merge_round(obs: Observed, labels: np.ndarray, x: np.ndarray, seed: int, neighbours: int
                      ) -> tuple[np.ndarray, list[dict]]:
    """One round: every class's split and its neighbours' merges proposed, the pairs that gain made best first
    (each class in one move at most). Returns the new labels (N,) (not yet classified) and the moves made."""
    ids = np.unique(labels)
    splits = {}
    for k in ids:
        members = np.flatnonzero(labels == k)
        if len(members) >= 8:
            halves, gain = propose_split(obs, members, x, seed)
            splits[int(k)] = (members, halves, gain)
    near = ward_neighbours(obs, labels, ids, neighbours)
    merges = {}
    for a, partners in near.items():
        for b in partners:
            pair = (min(a, b), max(a, b))
            if pair not in merges:
                merges[pair] = merge_loss(obs, labels, *pair)
    split_order = sorted(splits, key=lambda k: -splits[k][2])
    merge_order = sorted(merges, key=merges.get)
    used: set[int] = set()
    new, moves = labels.copy(), []
    for k in split_order:
        if k in used:
            continue
        pair = next((p for p in merge_order if not used & set(p) and k not in p), None)
        if pair is None or splits[k][2] - merges[pair] <= 0:
            break
        members, halves, gain = splits[k]
        keep, freed = pair
        new[new == freed] = keep
        new[members[halves == 1]] = freed
        used |= {k, keep, freed}
        moves.append({"split": k, "gain": gain, "merge": [keep, freed], "loss": merges[pair]})
    return new, moves


def make_up(classes: np.ndarray, truth: np.ndarray) -> dict:
    """How the classes (N,) hold the true structures (N,): classes whose largest structure holds under 80% of
    their images (``mixed``), classes whose largest structure is another class's largest too (``repeats``), and
    structures that are no class's largest (``without_class``)."""
    top, mixed = {}, 0
    for k in np.unique(classes):
        counts = np.bincount(truth[classes == k])
        top[int(k)] = int(counts.argmax())
        mixed += counts.max() < 0.8 * counts.sum()
    tops = np.array(list(top.values()))
    return {"mixed": int(mixed), "repeats": int(len(tops) - len(np.unique(tops))),
            "without_class": int(len(np.unique(truth)) - len(np.unique(tops)))}


def study(workdir: Path, mixture: str, method: str, rounds: int, neighbours: int, seed: int) -> dict:
    data, dataset, truth_labels = mixture_data(workdir, mixture)
    d = workdir / mixture / method
    n = int(mixture[3:])
    work = d / "split_merge"
    work.mkdir(exist_ok=True)
    x = report.latent_clusters(latents_path(d, method), n, seed)[1]
    t = time.perf_counter()
    obs = Observed(dataset)
    print(f"  observed: {time.perf_counter() - t:.0f} s", flush=True)
    classes = np.load(d / "classes_refined.npy")
    steps, all_moves = [("classes", classes)], []
    for r in range(1, rounds + 1):
        moves_file = work / f"moves_{r}.json"

        def one_round(current=classes, moves_file=moves_file):
            proposed, moves = split_merge_round(obs, current, x, seed, neighbours)
            write_json(moves_file, moves)
            return classify(dataset, proposed).labels if moves else current

        classes = cached(work / f"round_{r}.npy", one_round)
        moves = json.loads(moves_file.read_text())
        all_moves.append(moves)
        steps.append((f"round {r}", classes))
        print(f"  round {r}: {len(moves)} split-merge moves", flush=True)
        if not moves:
            break
    truth, apix = load_truth(data / "volumes")
    rows = {}
    for name, labels in steps:
        scored = score_clusters(class_maps(dataset, labels), truth, apix)
        rows[name] = {"classes": int(len(np.unique(labels))), "ari": adjusted_rand_index(labels, truth_labels),
                      "structures_found": int(scored["structures_found"]),
                      "fsc_auc_mean": float(scored["summary"]["fsc_auc"]["mean"]),
                      **make_up(labels, truth_labels)}
        print(f"  {name}: {rows[name]}", flush=True)
    return {"mixture": mixture, "method": method, "n": n, "neighbours": neighbours, "rows": rows,
            "moves": [len(m) for m in all_moves]}


def markdown(results: list[dict]) -> str:
    lines = ["# Split and merge the 3D classes under held-out likelihood", "",
             "`benchmarks/studies/split_merge.py`. Backprojections of each class's images, paired with the true "
             "maps (Hungarian by FSC_AUC); the classes' make-up from the labels: *mixed* (largest structure under "
             "80% of the class), *repeats* (a class whose largest structure another class's is too), structures "
             "*without a class* of their own.", "",
             "| mixture | method | classes | moves | ARI | structures found | FSC_AUC (backprojection) | mixed | "
             "repeats | without a class |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        moves = [None, *r["moves"]]
        for (name, row), m in zip(r["rows"].items(), moves):
            moved = "–" if m is None else m
            lines.append(f"| {r['mixture']} | {r['method']} | {name} | {moved} | {row['ari']:.3f} | "
                         f"{row['structures_found']} of {r['n']} | {row['fsc_auc_mean']:.3f} | {row['mixed']} | "
                         f"{row['repeats']} | {row['without_class']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = study_parser(__doc__)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--neighbours", type=int, default=3, help="merge partners tried per class (Ward's nearest)")
    p.add_argument("--seed", type=int, default=0)
    args = parse_study_args(p, argv)
    result = study(args.workdir, args.mixture, args.method, args.rounds, args.neighbours, args.seed)
    save(args.out, "split_merge", result, ("mixture", "method"), markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
