"""Workers of tests/test_distributed.py, started by torch.multiprocessing.spawn (gloo, file rendezvous)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from l2i_core.train.distributed import rank_seed
from l2i_core.train.engine import Engine, seeded_generator

N, D, C = 24, 8, 3


def toy_data():
    g = torch.Generator().manual_seed(123)
    X = torch.randn(N, D, generator=g)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0.5).long()
    return X, y


def toy_model() -> nn.Module:
    return nn.Sequential(nn.Linear(D, 16), nn.ReLU(), nn.Linear(16, C))  # no batch norm: per-rank statistics differ


def train_toy(out: Path, *, batch_size: int, epochs: int, resume: bool = False, n: int = N, ema: float | None = 0.9):
    """Train the toy model through the Engine (DistributedSampler order), write what the tests compare."""
    X, y = toy_data()
    X, y = X[:n], y[:n]
    g = seeded_generator(rank_seed(0))
    model = toy_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    engine = Engine(model, opt, g, epochs=epochs, batch_size=batch_size, ema_decay=ema, device="cpu",
                    last_path=out / "toy_last.pt", resume=resume, progress=False, seed=0, sampler_order=True)

    def train_step(idx, epoch):
        return F.cross_entropy(engine.train_module(X[idx]), y[idx]), {}

    def validate(module):
        with torch.no_grad():
            logits = engine.gather(lambda idx: module(X[idx]), n, batch_size=5)  # shards of unequal size
        return float((logits.argmax(1) == y).float().mean()), {"val_logits_sum": float(logits.sum())}

    loop = engine.fit(n, train_step, validate)
    rank = engine.rank
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, out / f"params_rank{rank}.pt")
    with torch.no_grad():  # a collective: every rank takes part, rank 0 writes
        gathered = engine.gather(lambda idx: model(X[idx]), n, batch_size=4)
    if engine.is_main:
        (out / "history.json").write_text(json.dumps(loop.history))
        torch.save(gathered, out / "gathered_logits.pt")
    return loop


def toy_dataset():
    from l2i_core.data import AudioDataset, Record

    rng = np.random.default_rng(0)
    recs = [Record(uid=f"c{i}", labels=(f"k{i % 2}",), split="test",
                   waveform=(0.3 * rng.standard_normal(11025)).astype(np.float32), sr=22050) for i in range(7)]
    return AudioDataset("toy", recs, ["k0", "k1"], duration=0.5)


def toy_classifier():
    from l2i_core.models.classifier import AudioCNN

    torch.manual_seed(0)
    return AudioCNN(2, "cpu").eval()


def worker(rank: int, world: int, rdzv: str, out: str, scenario: str, kwargs: dict):
    """One rank of a scenario; on success it leaves with ``os._exit(0)`` once the group is destroyed.

    Skipping the interpreter's teardown is deliberate: about one gloo process in a hundred aborted
    there ("terminate called without an active exception", SIGABRT) after every result had been
    written, a race in the C++ destructors that failed CI at random. A failure still raises, so
    torch.multiprocessing reports it with its traceback. Each rank marks ``<rdzv>.finished-<rank>`` once
    every rank has written its results, before the teardown.
    """
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rdzv}", rank=rank, world_size=world)
    try:
        out_dir = Path(out)
        if scenario == "train":
            train_toy(out_dir, **kwargs)
        elif scenario == "cache":
            from l2i_core.train.cache import build_cache

            build_cache(toy_classifier(), toy_dataset(), "cpu", shard_dir=out_dir / "shards", progress=False,
                        batch_size=2, **kwargs)
        elif scenario == "abort_before" and rank == 0:
            os.abort()  # dies before every rank has finished: a failure
        dist.barrier()  # every rank's results are written
        Path(f"{rdzv}.finished-{rank}").touch()  # what _spawn checks if the teardown below aborts
        if scenario == "abort_after" and rank == 0:
            os.abort()  # as gloo's teardown sometimes does, once every rank has finished
    finally:
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
