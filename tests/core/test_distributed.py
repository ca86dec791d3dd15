"""Data-parallel training: the epoch order shared by all ranks, and two gloo processes training together."""

import os
import socket

import numpy as np
import torch
import torch.multiprocessing as mp

from napari_cryohype.core.distributed import epoch_order


def test_epoch_order_is_seeded_and_split_like_distributed_sampler():
    a, b = epoch_order(10, seed=1, epoch=0), epoch_order(10, seed=1, epoch=0)
    np.testing.assert_array_equal(a, b)
    assert sorted(a) == list(range(10))
    assert not np.array_equal(a, epoch_order(10, seed=1, epoch=1))
    shards = [epoch_order(10, 1, 0, rank=r, world=3) for r in range(3)]
    assert all(len(s) == 4 for s in shards)
    assert set(np.concatenate(shards)) == set(range(10))
    full = np.concatenate([a, a[:2]])
    np.testing.assert_array_equal(shards[1], full[1::3])


def _worker(rank, world, port, run_dir, out):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    import torch.distributed as dist

    from napari_cryohype.core.run import Run
    from napari_cryohype.core.train import Trainer
    tr = Trainer(Run.open(run_dir))
    events = list(tr.run())
    torch.save({"state": tr.model.state_dict(), "steps": events[-1].global_step, "spe": tr.steps_per_epoch},
               f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def test_two_gloo_ranks_train_in_sync(tmp_path):
    from napari_cryohype.core.run import Run
    from napari_cryohype.core.train import train_config
    from tests.core.mixture_data import TINY, write_mixture
    data = write_mixture(tmp_path / "data", n=16)
    cfg = train_config(particles=str(data["particles"]), poses=str(data["poses"]), ctf=str(data["ctf"]),
                       **{**TINY, "epochs": 2, "batch_size": 4})
    run = Run.create(tmp_path / "run", cfg)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(_worker, args=(2, port, str(run.path), str(tmp_path)), nprocs=2, start_method="spawn")
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["spe"] == r1["spe"] == 2  # 16 images / 2 ranks / batch 4
    assert r0["steps"] == 4
    for k in r0["state"]:
        torch.testing.assert_close(r0["state"][k], r1["state"][k])
    ckpt = torch.load(run.checkpoint_path, weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["global_step"] == 4
    assert len(run.log_path.read_text().splitlines()) == 7  # rank 0 alone logs: 4 steps, 2 epochs, done
