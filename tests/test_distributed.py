"""DDP on CPU, as SpeechBrain tests it: gloo, two processes, a file rendezvous, bounded and self-stopping."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from _ddp_workers import toy_classifier, toy_data, toy_dataset, toy_model, train_toy, worker

from l2i_core.train.cache import ShardedArray, build_cache, load_cache
from l2i_core.train.distributed import gather_rows, rank_seed, shard_range


def _spawn(tmp_path, scenario: str, world: int = 2, **kwargs):
    rdzv = tmp_path / f"rdzv-{scenario}-{len(list(tmp_path.iterdir()))}"
    ctx = mp.start_processes(worker, args=(world, str(rdzv), str(tmp_path), scenario, kwargs), nprocs=world,
                             join=False, start_method="spawn")
    deadline = 120.0  # bounded: a hung rendezvous fails the test instead of hanging the suite
    t0 = time.monotonic()
    while True:
        try:
            if ctx.join(timeout=5):
                return
        except mp.ProcessExitedException as e:
            # gloo's teardown (destroy_process_group, C++ destructors) aborts now and then, after every
            # rank marked its results complete: that abort is not what these tests test. Anything else fails.
            finished = all(Path(f"{rdzv}.finished-{r}").is_file() for r in range(world))
            if e.signal_name == "SIGABRT" and finished:
                return
            raise
        if time.monotonic() - t0 > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"{scenario}: the {world} processes did not finish within {deadline:.0f} s")


def test_an_abort_after_every_rank_finished_passes_and_one_before_fails(tmp_path):
    _spawn(tmp_path, "abort_after")  # the teardown flake of gloo: the results are complete
    with pytest.raises(mp.ProcessExitedException, match="SIGABRT"):
        _spawn(tmp_path, "abort_before")


def test_helpers_are_the_identity_in_one_process():
    t = torch.arange(6.0).reshape(3, 2)
    assert gather_rows(t) is t and rank_seed(7) == 7 and rank_seed(7, 1) != 7
    assert [list(shard_range(10, r, 3)) for r in range(3)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert sum(len(shard_range(5, r, 8)) for r in range(8)) == 5  # more ranks than items: empty shards


def test_two_ranks_hold_identical_parameters_after_one_step(tmp_path):
    _spawn(tmp_path, "train", batch_size=4, epochs=1, n=8)  # 8 clips, 4 per rank: one optimiser step
    p0, p1 = (torch.load(tmp_path / f"params_rank{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(p0[k], p1[k]) for k in p0)
    fresh = torch.nn.utils.parameters_to_vector(
        [v for v in torch.load(tmp_path / "params_rank0.pt", weights_only=True).values()])
    assert torch.isfinite(fresh).all()


def test_two_processes_with_half_batch_match_one_process_with_the_batch(tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    two.mkdir()
    one.mkdir()
    _spawn(two, "train", batch_size=4, epochs=3)  # 2 x 4 = global batch 8
    train_toy(one, batch_size=8, epochs=3)  # one process, the same DistributedSampler order
    p2 = torch.load(two / "params_rank0.pt", weights_only=True)
    p1 = torch.load(one / "params_rank0.pt", weights_only=True)
    for k in p1:  # the same gradients up to float32 summation order
        torch.testing.assert_close(p2[k], p1[k], atol=1e-6, rtol=1e-5)
    h2, h1 = (json.loads((d / "history.json").read_text()) for d in (two, one))
    assert [h["val_logits_sum"] for h in h2] == pytest.approx([h["val_logits_sum"] for h in h1], abs=1e-4)


def test_gathered_predictions_give_the_one_process_metrics(tmp_path):
    from sklearn.metrics import average_precision_score

    _spawn(tmp_path, "train", batch_size=4, epochs=2, n=23)  # 23 clips: shards of 12 and 11
    X, y = toy_data()
    model = toy_model()
    model.load_state_dict(torch.load(tmp_path / "params_rank0.pt", weights_only=True))
    with torch.no_grad():
        single = model(X[:23])
    gathered = torch.load(tmp_path / "gathered_logits.pt", weights_only=True)
    assert gathered.shape == single.shape
    torch.testing.assert_close(gathered, single, atol=1e-6, rtol=1e-6)
    onehot = torch.nn.functional.one_hot(y[:23], 3).numpy()
    assert average_precision_score(onehot, gathered.softmax(1).numpy()) == pytest.approx(
        average_precision_score(onehot, single.softmax(1).numpy()), abs=1e-7)
    assert (gathered.argmax(1) == single.argmax(1)).all()


def test_a_checkpoint_of_two_processes_resumes_in_one(tmp_path):
    _spawn(tmp_path, "train", batch_size=4, epochs=2)
    first = json.loads((tmp_path / "history.json").read_text())
    loop = train_toy(tmp_path, batch_size=8, epochs=4, resume=True)  # one process goes on from epoch 2
    assert [h["epoch"] for h in loop.history] == [0, 1, 2, 3]
    assert loop.history[:2] == first and loop.world_size == 1


def test_sharded_cache_equals_the_one_process_cache(tmp_path):
    _spawn(tmp_path, "cache")
    sharded = load_cache(tmp_path / "shards", max_memory_gb=0.0)  # kept on disk, read by rows
    single = build_cache(toy_classifier(), toy_dataset(), "cpu", progress=False, batch_size=3)
    assert isinstance(sharded.V, ShardedArray) and sharded.uids == single.uids
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == ["cache.json", "shard-000", "shard-001"]
    idx = torch.tensor([6, 0, 3, 4])  # rows from both shards, out of order
    for a, b in zip(sharded.batch(idx)[0] + list(sharded.batch(idx)[1:]), single.batch(idx)[0] + list(single.batch(idx)[1:])):
        torch.testing.assert_close(a, b)
    loaded = load_cache(tmp_path / "shards")  # fits in memory: plain tensors
    torch.testing.assert_close(loaded.V, single.V)
    torch.testing.assert_close(loaded.logits, single.logits)
