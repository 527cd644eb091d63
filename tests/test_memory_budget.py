"""The memory budget: arrays on disk read by rows, and every step that switches to them past its share.

Each case has its answer by construction: rows written are the rows read back, a cache or a feature
split on disk holds the same numbers as in memory, a streamed dictionary respects its frame quota.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import l2i_core.nmf.dictionary as dictionary_module
import l2i_core.pipeline.steps as steps
from l2i_core._errors import ParameterError
from l2i_core._memory import DEFAULT_MEMORY_GB, DiskRows, NpyRowWriter, memory_budget_gb
from l2i_core.data import AudioDataset, Record
from l2i_core.models.classifier import AudioCNN
from l2i_core.pipeline.run import run_config
from l2i_core.train.cache import build_cache, cache_bytes_per_clip, load_cache


def test_budget_from_value_environment_and_default(monkeypatch):
    monkeypatch.delenv("L2I_MEMORY_GB", raising=False)
    assert memory_budget_gb() == DEFAULT_MEMORY_GB == 4.0
    assert memory_budget_gb(0) == 4.0 and memory_budget_gb("") == 4.0
    monkeypatch.setenv("L2I_MEMORY_GB", "2.5")
    assert memory_budget_gb() == 2.5 and memory_budget_gb(8) == 8.0  # an explicit value wins
    monkeypatch.setenv("L2I_MEMORY_GB", "lots")
    with pytest.raises(ParameterError, match=r"\$L2I_MEMORY_GB='lots' must be a number"):
        memory_budget_gb()
    for bad in (-1, "nan", 0.1):
        with pytest.raises(ParameterError, match="memory_gb"):
            memory_budget_gb(bad)
    with pytest.raises(ParameterError, match="memory_gb"):
        run_config(dataset="esc10", memory_gb="two")
    assert run_config(dataset="esc10", memory_gb=3).memory_gb == 3.0


def test_rows_written_by_blocks_read_back_in_any_order(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((23, 4, 5)).astype(np.float32)
    b = rng.standard_normal((9, 4, 5)).astype(np.float32)
    for name, arr in (("a", a), ("b", b)):
        with NpyRowWriter(tmp_path / f"{name}.npy", arr.shape) as w:
            for s in range(0, len(arr), 7):
                w[s : s + 7] = arr[s : s + 7]
        np.testing.assert_array_equal(np.load(tmp_path / f"{name}.npy"), arr)  # a valid .npy file
    rows = DiskRows([tmp_path / "a.npy", tmp_path / "b.npy"])
    whole = np.concatenate([a, b])
    assert len(rows) == 32 and tuple(rows.shape) == (32, 4, 5) and rows.numel() == whole.size
    idx = [31, 0, 22, 23, 5, 5, -1]  # across both files, out of order, repeated, negative
    np.testing.assert_array_equal(rows[idx].numpy(), whole[idx])
    np.testing.assert_array_equal(rows[torch.tensor([3, 24])].numpy(), whole[[3, 24]])
    np.testing.assert_array_equal(rows[20:26].numpy(), whole[20:26])
    np.testing.assert_array_equal(rows.numpy(), whole)
    with pytest.raises(IndexError):
        rows[[32]]
    with pytest.raises(ParameterError, match="shape"):
        NpyRowWriter(tmp_path / "c.npy", (4, 3))[0:2] = np.zeros((2, 4))


def _scenes(n=10, seconds=1.0, sr=22050):
    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * sr)) / sr
    recs = []
    for i in range(n):
        y = 0.2 * rng.standard_normal(len(t)) + 0.5 * np.sin(2 * np.pi * (300 + 150 * (i % 3)) * t)
        split = "train" if i < 6 else ("validation" if i < 8 else "test")
        recs.append(Record(uid=f"s{i}", labels=(f"k{i % 2}",) if i % 3 else ("k0", "k1"), split=split,
                           waveform=y.astype(np.float32), sr=sr))
    return AudioDataset("toyscenes", recs, ["k0", "k1"], duration=seconds, multilabel=True)


def test_split_caches_on_disk_equal_the_memory_ones_and_are_reused_only_for_the_same_f(tmp_path):
    ds = _scenes()
    torch.manual_seed(0)
    f = AudioCNN(2, "cpu", multilabel=True).eval()
    cfg = run_config(dataset="esc10", artifacts_dir=tmp_path / "art")
    memory = steps.split_caches(cfg, ds, f, progress=False, on_disk=False)
    disk = steps.split_caches(cfg, ds, f, progress=False, on_disk=True)
    for s in ("train", "validation", "test"):
        assert disk[s].meta["memmap_dir"] == str(tmp_path / "art" / "cache" / s)
        assert not torch.is_tensor(disk[s].V)  # read by rows, not loaded
        idx = torch.tensor([len(memory[s]) - 1, 0])
        for a, b in zip([*memory[s].batch(idx)[0], *memory[s].batch(idx)[1:]], [*disk[s].batch(idx)[0], *disk[s].batch(idx)[1:]]):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    stamp = (tmp_path / "art" / "cache" / "train" / "cache.json").stat().st_mtime_ns
    steps.split_caches(cfg, ds, f, progress=False, on_disk=True)  # the same f on the same clips: reused
    assert (tmp_path / "art" / "cache" / "train" / "cache.json").stat().st_mtime_ns == stamp
    with torch.no_grad():
        next(f.parameters()).add_(1.0)  # another f: the files are rebuilt from it
    again = steps.split_caches(cfg, ds, f, progress=False, on_disk=True)["train"]
    meta = json.loads((tmp_path / "art" / "cache" / "train" / "cache.json").read_text())
    assert meta["classifier_fingerprint"] == steps.model_fingerprint(f)
    assert not torch.equal(again.logits, disk["train"].logits)


def test_split_caches_go_to_disk_past_their_share_of_the_budget(tmp_path, monkeypatch):
    ds = _scenes()
    f = AudioCNN(2, "cpu", multilabel=True).eval()
    per_clip = cache_bytes_per_clip(f, ds, "cpu")
    assert per_clip == build_cache(f, ds, "cpu", progress=False).nbytes() // len(ds)
    # the share of a 1 GB budget that these 10 clips just exceed, and one they just fit
    monkeypatch.setattr(steps, "CACHE_MEMORY_SHARE", per_clip * len(ds) / 2**30 * 0.99)
    caches = steps.split_caches(run_config(dataset="esc10", artifacts_dir=tmp_path / "a", memory_gb=1), ds, f,
                                progress=False)
    assert (tmp_path / "a" / "cache" / "train" / "cache.json").is_file() and caches["train"].meta["memmap_dir"]
    monkeypatch.setattr(steps, "CACHE_MEMORY_SHARE", per_clip * len(ds) / 2**30 * 1.01)
    fits = steps.split_caches(run_config(dataset="esc10", artifacts_dir=tmp_path / "b", memory_gb=1), ds, f,
                              progress=False)
    assert torch.is_tensor(fits["train"].V) and not (tmp_path / "b" / "cache").exists()


def test_feature_splits_on_disk_hold_the_memory_numbers(tmp_path, monkeypatch):
    ds = _scenes()
    cfg = run_config(dataset="esc10", artifacts_dir=tmp_path / "art")
    memory = steps.feature_splits(cfg, ds, progress=False)
    monkeypatch.setattr(steps, "FEATURE_MEMORY_SHARE", 1e-9)
    disk = steps.feature_splits(cfg, ds, progress=False)
    for s, x in memory.items():
        assert isinstance(disk[s], DiskRows) and (tmp_path / "art" / "features" / f"{s}.npy").is_file()
        assert tuple(disk[s].shape) == tuple(x.shape)
        torch.testing.assert_close(disk[s][torch.arange(len(x))], x, rtol=0, atol=0)
        torch.testing.assert_close(disk[s][0 : len(x)], x, rtol=0, atol=0)


def test_dictionary_streams_from_disk_past_the_frame_limit_and_keeps_its_quota(tmp_path, monkeypatch):
    ds = _scenes(n=10, seconds=1.0)
    train = ds.split("train")
    frames_per_clip = 44  # 1 s at the cpu preset
    in_memory = dictionary_module.learn_dictionary(ds, "cpu", n_components=6, max_iter=20, progress=False)
    assert in_memory.meta["mode"] == "single"  # below the limit: the batch solver, as before
    monkeypatch.setattr(dictionary_module, "MEMORY_FRAMES", frames_per_clip * len(train) - 1)
    monkeypatch.setattr(dictionary_module, "MAX_STREAM_FRAMES", 20 * len(train))
    d = dictionary_module.learn_dictionary(ds, "cpu", n_components=6, max_iter=20, progress=False,
                                           scratch_dir=tmp_path, silence_db=None)
    m = d.meta
    assert m["mode"] == "single-streamed" and m["frames_per_clip_max"] == 20 and m["n_frames"] == 20 * len(train)
    assert d.W.shape == (513, 6) and (d.W >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(d.W, axis=0), 1.0, atol=1e-5)
    assert list(tmp_path.iterdir()) == []  # the frames on disk are removed afterwards
    pc = dictionary_module.learn_dictionary(ds, "cpu", per_class=3, max_iter=20, progress=False,
                                            scratch_dir=tmp_path, silence_db=None)
    assert pc.meta["mode"] == "per_class-streamed" and pc.W.shape == (513, 6)
    assert pc.meta["atom_classes"] == ["k0"] * 3 + ["k1"] * 3
    counts = {c: 20 * sum(c in r.labels for r in train) for c in ds.classes}
    assert {c: v["n_frames"] for c, v in pc.meta["per_class_fits"].items()} == counts


def test_frames_in_memory_follows_the_budget():
    assert dictionary_module.frames_in_memory(513, 64) == dictionary_module.MEMORY_FRAMES
    assert dictionary_module.frames_in_memory(513, 0.5) == int(0.5 * 2**30 / (dictionary_module.FIT_COPIES * 4 * 513))
    assert dictionary_module.frames_in_memory(513, 4) == dictionary_module.MEMORY_FRAMES  # the default run's size


def test_load_cache_reads_rows_without_a_memory_map(tmp_path):
    ds = _scenes()
    f = AudioCNN(2, "cpu", multilabel=True).eval()
    build_cache(f, ds, "cpu", progress=False, memmap_dir=tmp_path / "c")
    lazy = load_cache(tmp_path / "c", max_memory_gb=0.0)
    full = load_cache(tmp_path / "c")
    assert isinstance(lazy.V, DiskRows) and torch.is_tensor(full.V)
    torch.testing.assert_close(lazy.V[[2, 7]], full.V[[2, 7]], rtol=0, atol=0)
    assert steps.nmf_relative_error(dictionary_module.Dictionary(np.abs(np.random.default_rng(0).random((513, 4))).astype(np.float32)), lazy, max_iter=5) == pytest.approx(
        steps.nmf_relative_error(dictionary_module.Dictionary(np.abs(np.random.default_rng(0).random((513, 4))).astype(np.float32)), full, max_iter=5))


@pytest.mark.parametrize("multilabel", [False, True])
def test_split_fidelity_by_passes_equals_fidelity_on_all_clips(multilabel):
    from _toys import toy_explainer

    from l2i_core.evaluate.paper_protocols import fidelity, split_fidelity

    ex, n = toy_explainer(multilabel=multilabel, seconds=0.5)
    rng = np.random.default_rng(3)
    recs = [Record(uid=f"t{i}", labels=(f"c{i % 3}",), split="test",
                   waveform=(0.3 * rng.standard_normal(n)).astype(np.float32), sr=22050) for i in range(11)]
    test = AudioDataset("toy", recs, [f"c{i}" for i in range(3)], duration=0.5, multilabel=multilabel)
    ex.model.batch_size = 2
    whole = fidelity(ex, test.load_batch(None, "cpu"))
    scores, theta, f = split_fidelity(ex, test, clips_per_pass=4)  # passes of 4, 4, 3 clips
    assert theta.shape == f.shape == (11, 3)
    assert json.dumps(scores, sort_keys=True, default=str) == json.dumps(whole, sort_keys=True, default=str)
