"""Relevance, component selection, masks, interpretation audio and the evaluation protocols."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _toys import SR, toy_explainer

from l2i_core import ParameterError
from l2i_core.evaluate.paper_protocols import (
    deletion_insertion,
    faithfulness,
    mask_in,
    mixture_pairs,
    mixture_scores,
    noise_robustness,
    summarize_faithfulness,
    summarize_mixtures,
)
from l2i_core.explain.l2i import interpret, relevance, select_components


def test_relevance_known_values():
    z = torch.tensor([[1.0, 2.0, 0.5, 0.0]])
    theta = torch.tensor([[1.0, 1.0, -2.0, 5.0], [0.0, 0.0, 0.0, 1.0]])
    r = relevance(z, theta, 0)
    # contributions 1, 2, -1, 0; max 2
    torch.testing.assert_close(r, torch.tensor([[0.5, 1.0, -0.5, 0.0]]))
    # class 1: only component 3 could contribute, but z_3 = 0 -> no positive contribution at all
    r1 = relevance(z, theta, 1)
    assert (r1 <= 0).all()
    assert [len(k) for k in select_components(r1, 0.0)] == [0]
    with pytest.raises(ParameterError, match="class index"):
        relevance(z, theta, 2)


def test_select_components_order_threshold_and_cap():
    r = torch.tensor([[0.1, 1.0, 0.6, 0.3], [1.0, 0.0, 0.0, 0.0]])
    kept = select_components(r, 0.2)
    assert kept[0].tolist() == [1, 2, 3] and kept[1].tolist() == [0]
    assert select_components(r, 0.2, top_k=2)[0].tolist() == [1, 2]
    with pytest.raises(ParameterError, match="tau"):
        select_components(r, 1.5)


def _explainer(multilabel=False, seconds=1.0, C=3, K=8, seed=0):
    return toy_explainer(multilabel, seconds, C, K, seed)


def _clips(B, n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    return np.stack([0.3 * np.sin(2 * np.pi * (200 + 150 * i) * t) + 0.05 * rng.standard_normal(n)
                     for i in range(B)]).astype(np.float32)


def test_attribute_shapes_and_exact_decomposition():
    ex, n = _explainer()
    x = _clips(3, n)
    e = ex.attribute(x, tau=0.2)
    assert len(e) == 3 and e.clip.tolist() == [0, 1, 2]
    a = ex.analyse(x)
    assert e.target.tolist() == a.f_logits.argmax(1).tolist()
    for j in range(len(e)):
        K = ex.n_components
        rel, comps, masks = e.extras["relevance"][j], e.extras["components"][j], e.extras["component_masks"][j]
        assert rel.shape == (K,) and rel.max() == pytest.approx(1.0)
        assert (rel[comps] > 0.2).all()
        assert masks.shape == (len(comps), 513, e.V.shape[-1])
        assert e.audio[j].shape == (n,) and e.extras["residual_audio"][j].shape == (n,)
        assert e.extras["component_audio"][j].shape == (len(comps), n)
        assert np.isfinite(e.audio[j]).all()
        np.testing.assert_allclose(e.mask[j], masks.sum(0), atol=1e-5)
        assert 0 <= e.mask[j].min() and e.mask[j].max() <= 1 + 1e-5
        assert e.extras["class_name"][j] == f"c{e.target[j]}"
    # one row of it is the same explanation, and iterating gives the rows in order
    np.testing.assert_array_equal(e[1].mask[0], e.mask[1])
    assert [r.extras["components"][0].tolist() for r in e] == [k.tolist() for k in e.extras["components"]]
    # keeping every component gives back the input (mask = WH / (WH + eps) ~ 1 where WH > 0)
    full = ex.attribute(x[:1], tau=-np.inf)
    assert len(full.extras["components"][0]) == ex.n_components
    rel = np.linalg.norm(full.audio[0] - x[0]) / np.linalg.norm(x[0])
    assert rel < 1e-3
    # top_k caps the selection; explicit targets are honoured
    assert all(len(k) <= 2 for k in ex.attribute(x, tau=-np.inf, top_k=2).extras["components"])
    assert ex.attribute(x, [2, 1, 0]).target.tolist() == [2, 1, 0]
    # the one-call form passes its options through (a comparison with attribute would test one code path twice)
    one = interpret(ex.interpreter, x, [1, 1, 1], tau=-np.inf, top_k=1, classifier=ex.classifier, with_audio=False,
                    classes=["a", "b", "c"])
    assert [(int(r.target[0]), r.extras["class_name"][0], len(r.extras["components"][0]), r.audio) for r in one] == \
        [(1, "b", 1, None)] * 3


def test_attribute_multilabel_one_per_predicted_class():
    ex, n = _explainer(multilabel=True)
    x = _clips(2, n)
    probs = torch.sigmoid(ex.analyse(x).f_logits).numpy()
    ex.model.f_thresholds = np.array([probs[:, 0].min() - 1e-3, 2.0, probs[0, 2] - 1e-6])  # class 0 always, 1 never
    e = ex.attribute(x, with_audio=False)
    expected = [(i, c) for i in range(2) for c in range(3) if probs[i, c] > ex.f_thresholds[c]]  # strict
    assert list(zip(e.clip.tolist(), e.target.tolist())) == expected
    assert e.extras["tau"] == pytest.approx(0.3)


def test_bad_inputs_say_what_to_do():
    ex, n = _explainer()
    with pytest.raises(ParameterError, match="fix_duration"):
        ex.attribute(_clips(1, n // 2))
    x = _clips(1, n)
    x[0, 10] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        ex.attribute(x)
    with pytest.raises(ParameterError, match="targets"):
        ex.attribute(_clips(2, n), [0, 1, 2])


def test_faithfulness_and_curves_shapes_and_invariants():
    ex, n = _explainer()
    x = _clips(3, n)
    df = faithfulness(ex, x, taus=(0.9, 0.1), via_audio=False)
    assert len(df) == 6
    # more components pass a lower threshold
    c9 = df[df.tau == 0.9].n_components.to_numpy()
    c1 = df[df.tau == 0.1].n_components.to_numpy()
    assert (c1 >= c9).all() and (c9 >= 1).all()
    s = summarize_faithfulness(df)
    assert list(s.index) == [0.9, 0.1] and np.isfinite(s["FF logit (median)"]).all()
    # removing everything via the audio path equals classifying silence
    curves = deletion_insertion(ex, x, max_steps=ex.n_components)
    assert curves["deletion"].shape == (3, ex.n_components + 1)
    p0 = ex.model.probabilities(ex.analyse(x).f_logits).numpy()
    c = p0.argmax(1)
    # deletion step 0 removes nothing: f's own probability (direct log-mel ~ audio log-mel)
    np.testing.assert_allclose(curves["deletion"][:, 0], p0[np.arange(3), c], atol=2e-3)
    # the insertion curve ends where the deletion curve starts (all components kept)
    np.testing.assert_allclose(curves["insertion"][:, -1], curves["deletion"][:, 0], atol=2e-3)
    # the random order ends at the same points
    np.testing.assert_allclose(curves["random_deletion"][:, -1], curves["deletion"][:, -1], atol=1e-5)
    mi = mask_in(ex, x, tau=-np.inf)
    # the interpretation with every component is the input itself: q = p
    assert mi["fid_in"] == pytest.approx(1.0) and mi["AD"] == pytest.approx(0.0, abs=0.5)


def test_mixture_scores_oracle_and_pairs():
    ex, n = _explainer()
    x1, x2 = _clips(2, n, seed=1), _clips(2, n, seed=2)[::-1].copy()
    df = mixture_scores(ex, x1, x2, [0, 1], lam=1.0, tau=0.1)
    assert set(df.method) == {"L2I", "random", "oracle IRM"}
    irm = df[df.method == "oracle IRM"]
    # the oracle mask separates two tones better than the mixture itself
    assert (irm.si_sdri > 3).all() and (irm.energy_in_support > 0.5).all()
    summ = summarize_mixtures(df)
    # the oracle mask keeps more of x1's energy than random components, on every pair
    # (the random method against itself is 0 by construction; tests/test_evaluation.py checks known shares)
    assert summ.loc["oracle IRM", "beats random on stem energy (%)"] == 100.0
    rob = noise_robustness(ex, x1, snr_db=60.0)
    # at 60 dB SNR the noise is inaudible: the interpretation hardly changes
    assert (rob.jaccard == 1.0).all() and (rob.interpretation_cosine > 0.999).all()


def test_mixture_pairs_kinds_then_random():
    from l2i_core.data.records import AudioDataset, Record

    recs = [Record(uid=f"u{i}", labels=[lab], split="test", waveform=np.zeros(10, np.float32), sr=SR)
            for i, lab in enumerate(["dog", "dog", "cat", "rooster"])]
    ds = AudioDataset("toy", recs, ["dog", "cat", "rooster"])
    pairs = mixture_pairs(ds, 2, kinds=[("dog", "cat"), ("church_bells", "rooster")], seed=0)
    assert pairs[:2] == [(0, 2), (1, 2)] and len(pairs) == 4
    labels = [r.label for r in ds]
    assert all(labels[i] != labels[j] for i, j in pairs)
