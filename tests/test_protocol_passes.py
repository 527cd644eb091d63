"""Notebooks 05 and 06 read a test split of any size in passes (issue 30 item 1): the passes cover every
clip once, fit the budget, and give the numbers of one call on every clip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _toys import SR, toy_explainer

from l2i_core.data.records import AudioDataset, Record
from l2i_core.evaluate import paper_protocols

N_CLIPS = 11  # odd: the last pass is shorter


@pytest.fixture(scope="module")
def toy():
    """A random CNN + interpreter (3 classes) and 11 test clips of 0.5 s (tones in noise, one per class)."""
    ex, n = toy_explainer(seconds=0.5, C=3, K=8)
    rng = np.random.default_rng(0)
    t = np.arange(n) / SR
    recs = []
    for i in range(N_CLIPS):
        c = i % 3
        y = 0.3 * np.sin(2 * np.pi * (500 + 1500 * c) * t) + 0.05 * rng.standard_normal(n)
        recs.append(Record(uid=f"clip{i:02d}", labels=(f"c{c}",), split="test", waveform=y.astype(np.float32), sr=SR))
    ds = AudioDataset("toy", recs, ["c0", "c1", "c2"], duration=0.5)
    return ex, ds.split("test")


def test_clip_passes_cover_every_clip_once_within_the_share(monkeypatch):
    monkeypatch.delenv("L2I_MEMORY_GB", raising=False)
    ds = list(range(25))
    per = 10 * 2**20  # 10 MB of analysis a clip -> 200 MB with the protocol's 20 copies
    one = paper_protocols.clip_passes(None, ds, 4.0, per_clip=per)  # 25 × 200 MB > 1 GB: several passes
    room = paper_protocols.ANALYSIS_MEMORY_SHARE * 4.0 * 2**30
    assert [i for p in one for i in p] == list(range(25))
    assert all(len(p) * paper_protocols.PROTOCOL_COPIES * per <= room for p in one)
    assert paper_protocols.PROTOCOL_COPIES == 20
    assert len(one[0]) == int(room // (20 * per)) == 5 and len(one) == 5
    # everything fits 20 GB's share: one pass over all clips
    assert paper_protocols.clip_passes(None, ds, 20.0, per_clip=per) == [range(0, 25)]
    # a clip larger than the share still gets a pass of its own
    assert paper_protocols.clip_passes(None, ds, 0.5, per_clip=2**30) == [range(i, i + 1) for i in range(25)]
    assert paper_protocols.clip_passes(None, [], 4.0, per_clip=per) == []


def test_analysis_bytes_per_clip_is_the_analysis_size(toy):
    ex, test = toy
    a = ex.analyse(test.load_batch([0], ex.preset))
    expected = 4 * (a.x.numel() + 2 * a.V.numel() + a.H.numel() + 2 * a.f_logits.numel() + a.z.numel())
    assert paper_protocols.analysis_bytes_per_clip(ex, test) == expected


def test_faithfulness_study_in_one_pass_is_the_three_protocols_on_all_clips(toy):
    ex, test = toy
    x = test.load_batch(None, ex.preset)
    uids = [r.uid for r in test]
    study = paper_protocols.faithfulness_study(ex, test, taus=(0.5, 0.2), max_steps=4, seed=3)
    ff = paper_protocols.faithfulness(ex, x, taus=(0.5, 0.2), seed=3, uids=uids)
    pd.testing.assert_frame_equal(study.ff, ff)
    mi = paper_protocols.mask_in(ex, x)
    for k in ("AI", "AD", "AG", "fid_in"):
        assert study.mask_in[k] == mi[k]
    np.testing.assert_array_equal(study.mask_in["n_components"], mi["n_components"])
    curves = paper_protocols.deletion_insertion(ex, x, max_steps=4, seed=3)
    for k, v in curves.items():
        np.testing.assert_array_equal(study.curves[k], v)
    assert study.n_clips == N_CLIPS


def test_faithfulness_study_in_passes_gives_the_numbers_of_one_pass(toy):
    ex, test = toy
    one = paper_protocols.faithfulness_study(ex, test, taus=(0.5, 0.2), max_steps=4, seed=3)
    passes = [range(0, 4), range(4, 8), range(8, N_CLIPS)]
    many = paper_protocols.faithfulness_study(ex, test, taus=(0.5, 0.2), max_steps=4, seed=3, passes=passes)
    # the random baselines included: their components are drawn once every clip's relevance is known
    a = one.ff.sort_values(["tau", "clip"]).reset_index(drop=True)
    b = many.ff.sort_values(["tau", "clip"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, atol=1e-5, rtol=1e-5)  # f's batches differ: float noise only
    assert sorted(many.ff["clip"].unique()) == list(range(N_CLIPS))
    for k in ("AI", "AD", "AG", "fid_in"):
        assert many.mask_in[k] == pytest.approx(one.mask_in[k], abs=1e-6)
    for k in ("deletion", "insertion", "random_deletion", "random_insertion"):  # one generator, drawn in clip order
        np.testing.assert_allclose(many.curves[k], one.curves[k], atol=1e-5)


def test_noise_study_in_passes_is_the_study_on_all_clips(toy):
    ex, test = toy
    x = test.load_batch(None, ex.preset)
    whole = paper_protocols.noise_study(ex, x, snr_db=0.0, seed=5)
    # the study as it was before passes: fidelity and robustness on the clips at once, one noise draw
    old_rows = paper_protocols.noise_robustness(ex, x, snr_db=0.0, seed=5)
    pd.testing.assert_frame_equal(whole.rows, old_rows)
    noisy = paper_protocols.add_white_noise(x, 0.0, seed=5).astype(np.float32)
    assert whole.fidelity_noisy == paper_protocols.fidelity(ex, noisy)["top1"]
    assert whole.fidelity_clean == paper_protocols.fidelity(ex, x)["top1"]
    parts = paper_protocols.noise_study(ex, dataset=test, passes=[range(0, 5), range(5, N_CLIPS)], snr_db=0.0,
                                        seed=5, keep=2)
    pd.testing.assert_frame_equal(parts.rows, whole.rows, atol=1e-5, rtol=1e-5)
    assert parts.fidelity_clean == whole.fidelity_clean and parts.fidelity_noisy == whole.fidelity_noisy
    np.testing.assert_allclose(parts.noisy, noisy[:2], atol=1e-6)  # the same noise, pass after pass
    assert parts.x.shape == (2, x.shape[1])
    with pytest.raises(paper_protocols.ParameterError, match="x or a dataset"):
        paper_protocols.noise_study(ex, x, dataset=test)


def test_mixture_study_reads_only_the_paired_clips_and_scores_as_with_every_clip(toy, monkeypatch):
    ex, test = toy
    ds = AudioDataset("toy", list(test), ["c0", "c1", "c2"], duration=0.5)
    full = paper_protocols.mixture_study(ex, ds, ds.split("test").load_batch(None, ex.preset), n_pairs=3, per_kind=0,
                                         lambdas="1.0", seed=2)
    loaded = []
    original = AudioDataset.load_batch

    def spy(self, items=None, *args, **kwargs):
        loaded.append(None if items is None else list(items))
        return original(self, items, *args, **kwargs)

    monkeypatch.setattr(AudioDataset, "load_batch", spy)
    lazy = paper_protocols.mixture_study(ex, ds, n_pairs=3, per_kind=0, lambdas="1.0", seed=2)
    used = sorted({i for p in lazy.pairs for i in p})
    assert loaded == [used] and len(used) < N_CLIPS
    pd.testing.assert_frame_equal(lazy.scores, full.scores)
    i, j = lazy.pairs[0]
    np.testing.assert_array_equal(lazy.x[[i, j]], full.x[[i, j]])
