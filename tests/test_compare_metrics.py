"""Tests of the comparison metrics (SPS, COMP, SpeechBrain-compatible AD / Fid-In) and l2i_core.evaluate.stats.

SPS and COMP are checked against Quantus 0.5.3 itself (the dev extra installs it; it is a test
oracle, never imported by l2i). Everything else is checked on cases whose answer is known by
construction.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import sys
import types

import numpy as np
import pandas as pd
import pytest
import torch

from l2i_core._errors import ParameterError
from l2i_core.evaluate.stats import bootstrap_ci, format_ci, paired_test, summarize
from l2i_core.metrics import QUANTUS_GINI_EPS, complexity, mask_in_metrics, mask_in_metrics_speechbrain, sparseness


# --------------------------------------------------------------------------------------------------
# Quantus as the oracle
# --------------------------------------------------------------------------------------------------
def _stand_ins() -> dict[str, types.ModuleType]:
    """Empty cv2 / skimage modules for those that cannot be imported (a ``--no-deps`` install, no libGL)."""
    out: dict[str, types.ModuleType] = {}
    for name in ("cv2", "skimage"):
        try:
            importlib.import_module(name)
        except ImportError:
            out[name] = types.ModuleType(name)
    if "skimage" in out:
        seg = types.ModuleType("skimage.segmentation")
        seg.slic = seg.felzenszwalb = None
        out["skimage"].segmentation = seg
        out["skimage.segmentation"] = seg
    return out


@pytest.fixture(scope="module")
def quantus():
    """Quantus, imported the lightest way that works.

    quantus imports cv2 and skimage at its top level for perturbation and similarity functions;
    Sparseness and Complexity use only numpy and scipy. Where those two packages are missing or
    broken, empty stand-ins let the import through and are removed again afterwards. Skips when
    quantus is not installed, except under CI (``CI=true``), where the dev extra must have it.
    """
    if importlib.util.find_spec("quantus") is None:
        msg = 'quantus is not installed; `pip install -e ".[dev]"` brings it (a test oracle only)'
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {msg}")
        pytest.skip(msg)
    stand_ins = _stand_ins()
    with pytest.MonkeyPatch.context() as mp:
        for name, module in stand_ins.items():
            mp.setitem(sys.modules, name, module)
        return importlib.import_module("quantus")


def _quantus_scores(quantus, metric: str, masks: np.ndarray, *, normalise: bool) -> np.ndarray:
    """Quantus's per-explanation scores, called as SpeechBrain calls it (model=None, a_batch given)."""
    a = masks[:, None]  # (B, 1, F, T): one channel, as SpeechBrain passes its masks
    cls = getattr(quantus, metric)
    scorer = cls(abs=True, normalise=normalise, return_aggregate=False, disable_warnings=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = scorer(model=None, x_batch=np.ones_like(a), a_batch=a, y_batch=np.zeros(len(a), dtype=int))
    return np.asarray(out, dtype=np.float64)


@pytest.fixture(scope="module")
def masks() -> np.ndarray:
    """Six fixed 8 x 6 explanations: soft masks, a signed map, a sparse one, a constant and an all-zero one."""
    rng = np.random.default_rng(15)
    soft = 1.0 / (1.0 + np.exp(-3.0 * rng.normal(size=(2, 8, 6))))
    signed = rng.normal(size=(1, 8, 6))
    sparse = np.where(rng.random((1, 8, 6)) < 0.1, rng.random((1, 8, 6)), 0.0)
    return np.concatenate([soft, signed, sparse, np.full((1, 8, 6), 0.3), np.zeros((1, 8, 6))])


def test_sparseness_equals_quantus(quantus, masks):
    # without normalisation Quantus's batch call is exactly per explanation
    np.testing.assert_allclose(sparseness(masks, normalise=False),
                               _quantus_scores(quantus, "Sparseness", masks, normalise=False), rtol=1e-12, atol=1e-15)
    # with it (Quantus's default, max over the batch given), one explanation at a time; Quantus
    # refuses a batch of one constant explanation, so the constant and all-zero masks stay out
    varied = masks[:4]
    theirs = np.concatenate([_quantus_scores(quantus, "Sparseness", m[None], normalise=True) for m in varied])
    np.testing.assert_allclose(sparseness(varied), theirs, rtol=1e-12, atol=1e-15)
    # and on a whole batch whose explanations share their maximum (1), as sigmoid masks nearly do
    shared = np.abs(varied) / np.abs(varied).max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(sparseness(shared), _quantus_scores(quantus, "Sparseness", shared, normalise=True),
                               rtol=1e-12, atol=1e-15)


def test_complexity_equals_quantus(quantus, masks):
    for normalise in (False, True):
        theirs = _quantus_scores(quantus, "Complexity", masks, normalise=normalise)
        assert np.isnan(theirs[-1])  # Quantus's 0/0 on the all-zero mask
        np.testing.assert_allclose(complexity(masks), theirs, rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------------------------------
# SPS and COMP by construction
# --------------------------------------------------------------------------------------------------
def test_sparseness_of_one_hot_and_uniform_masks():
    n = 48
    one_hot = np.zeros((1, 6, 8))
    one_hot[0, 2, 5] = 0.7
    assert sparseness(one_hot)[0] == pytest.approx((n - 1) / (n * (1 + n * QUANTUS_GINI_EPS)), rel=1e-12)
    uniform = np.full((2, 6, 8), 0.4)
    np.testing.assert_allclose(sparseness(uniform), 0.0, atol=1e-12)
    assert sparseness(np.zeros((1, 6, 8)))[0] == pytest.approx(0.0, abs=1e-12)
    # a sparser mask scores higher; the scale does not matter once normalised; signs are dropped
    half = np.concatenate([np.ones((1, 24)), np.zeros((1, 24))], axis=1)
    assert 0 < sparseness(half)[0] < sparseness(one_hot.reshape(1, -1))[0]
    assert sparseness(half)[0] == pytest.approx(0.5, abs=1e-5)
    np.testing.assert_allclose(sparseness(5.0 * half), sparseness(half), rtol=1e-12)
    np.testing.assert_allclose(sparseness(-half), sparseness(half), rtol=1e-12)


def test_complexity_of_one_hot_and_uniform_masks():
    one_hot = np.zeros((1, 6, 8))
    one_hot[0, 1, 1] = 3.0
    uniform = np.full((1, 6, 8), 0.2)
    half = np.concatenate([np.ones((1, 24)), np.zeros((1, 24))], axis=1)
    assert complexity(one_hot)[0] == 0.0
    assert complexity(uniform)[0] == pytest.approx(math.log(48), rel=1e-12)
    assert complexity(half)[0] == pytest.approx(math.log(24), rel=1e-12)
    assert np.isnan(complexity(np.zeros((2, 3, 3)))).all()


def test_sps_and_comp_take_tensors_and_reject_bad_masks():
    m = torch.rand(3, 5, 7, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(sparseness(m), sparseness(m.numpy()), rtol=1e-12)
    flat = torch.full((3, 5, 7), 0.3)  # a uniform mask: entropy of 35 equal shares, for each of the 3
    np.testing.assert_allclose(complexity(flat), [math.log(35)] * 3, rtol=1e-12)
    with pytest.raises(ParameterError, match="at least 2 dimensions"):
        sparseness(np.ones(5))
    with pytest.raises(ParameterError, match="NaN"):
        complexity(np.array([[1.0, np.nan]]))


# --------------------------------------------------------------------------------------------------
# mask-in scores as SpeechBrain computes them
# --------------------------------------------------------------------------------------------------
def _softmax_by_hand(row: list[float]) -> list[float]:
    e = [math.exp(v) for v in row]
    return [v / sum(e) for v in e]


def test_speechbrain_ad_is_the_double_softmax_value():
    p = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]
    q = [[0.3, 0.5, 0.2], [0.2, 0.1, 0.7]]
    sb = mask_in_metrics_speechbrain(p, q)
    p2, q2 = _softmax_by_hand(p[0]), _softmax_by_hand(q[0])
    ad0 = 100 * max(p2[0] - q2[0], 0.0) / (p2[0] + 1e-10)
    assert sb["per_clip"]["AD"][0] == pytest.approx(ad0, rel=1e-12)
    assert sb["per_clip"]["AD"][1] == 0.0  # q_c > p_c: nothing dropped
    correct = mask_in_metrics(p, q)
    assert correct["per_clip"]["AD"][0] == pytest.approx(100 * 0.4 / 0.7)
    assert sb["AD"] == pytest.approx(ad0 / 2) and ad0 < 0.6 * 100 * 0.4 / 0.7  # the second softmax shrinks AD
    # AI and AG are computed on the probabilities once, as the formulas say
    assert sb["AI"] == correct["AI"] == 50.0
    assert sb["per_clip"]["AG"][1] == pytest.approx(100 * 0.1 / (0.4 + 1e-10), rel=1e-12)
    assert sb["AG"] == pytest.approx(correct["AG"], rel=1e-9)


def test_speechbrain_fid_in_against_class_zero():
    p = [[0.1, 0.1, 0.8], [0.2, 0.1, 0.7], [0.3, 0.1, 0.6]]
    q = [[0.1, 0.2, 0.7], [0.1, 0.2, 0.7], [0.8, 0.1, 0.1]]  # argmax 2, 2, 0; f says 2 every time
    assert mask_in_metrics(p, q)["fid_in"] == pytest.approx(2 / 3)
    assert mask_in_metrics_speechbrain(p, q)["fid_in"] == pytest.approx(2 / 3)  # L-MAC's row: argmax p
    l2i_row = mask_in_metrics_speechbrain(p, q, fid_in_class=0)  # L2I's row: argmax of a (B, 1) label
    np.testing.assert_array_equal(l2i_row["per_clip"]["fid_in"], [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(l2i_row["target"], [2, 2, 2])
    per_clip = mask_in_metrics_speechbrain(p, q, fid_in_class=np.array([2, 0, 0]))
    np.testing.assert_array_equal(per_clip["per_clip"]["fid_in"], [1.0, 0.0, 1.0])
    with pytest.raises(ParameterError, match="fid_in_class"):
        mask_in_metrics_speechbrain(p, q, fid_in_class=3)
    with pytest.raises(ParameterError, match=r"\[0, 1\]"):
        mask_in_metrics_speechbrain([[2.0, -1.0]], [[0.5, 0.5]])


# --------------------------------------------------------------------------------------------------
# bootstrap intervals
# --------------------------------------------------------------------------------------------------
def test_bootstrap_ci_of_constant_and_tiny_samples():
    assert bootstrap_ci([0.82] * 10) == (0.82, 0.82, 0.82)
    est, low, high = bootstrap_ci([3.0])  # n = 1: no interval
    assert est == 3.0 and math.isnan(low) and math.isnan(high)
    assert bootstrap_ci([2.0, 2.0]) == (2.0, 2.0, 2.0)  # n = 2, identical: every resample is the sample
    # n = 2, distinct: the resampled means are a, (a + b) / 2, b with probabilities 1/4, 1/2, 1/4, so the
    # 2.5 % and 97.5 % points are the two values themselves (an "interval" that is just min and max)
    assert bootstrap_ci([3.0, 5.0], method="percentile") == (4.0, 3.0, 5.0)
    assert bootstrap_ci([0.0, 1.0]) == (0.5, 0.0, 1.0)
    assert all(math.isnan(v) for v in bootstrap_ci([np.nan, np.inf]))
    assert all(math.isnan(v) for v in bootstrap_ci([]))


def test_bootstrap_ci_of_a_known_sample_is_seeded_and_drops_nans():
    x = np.random.default_rng(0).normal(10.0, 2.0, size=200)
    est, low, high = bootstrap_ci(x)
    assert est == pytest.approx(x.mean())
    assert low < est < high and low < 10.0 < high
    half_width = 1.96 * x.std(ddof=1) / math.sqrt(x.size)  # the normal-theory interval, for comparison
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.15)
    assert bootstrap_ci(x, seed=0) == (est, low, high)
    assert bootstrap_ci(x, seed=1) != (est, low, high)
    assert bootstrap_ci(np.concatenate([x, [np.nan, np.nan]])) == (est, low, high)
    med, m_low, m_high = bootstrap_ci(x, statistic=np.median, method="percentile")
    assert med == pytest.approx(np.median(x)) and m_low < med < m_high
    with pytest.raises(ParameterError, match="confidence"):
        bootstrap_ci(x, confidence=95)
    with pytest.raises(ParameterError, match="1-D"):
        bootstrap_ci(x.reshape(20, 10))


def test_bootstrap_ci_on_a_nearly_degenerate_sample_stays_finite():
    est, low, high = bootstrap_ci([0.0] * 9 + [1.0])
    assert est == 0.1 and 0.0 <= low <= est <= high <= 1.0


# --------------------------------------------------------------------------------------------------
# paired test
# --------------------------------------------------------------------------------------------------
def test_paired_test_sees_a_clear_shift():
    rng = np.random.default_rng(1)
    a = rng.normal(size=30)
    b = a - 1.0 + 0.1 * rng.normal(size=30)
    out = paired_test(a, b)
    assert out["p_value"] < 0.01 and out["n"] == out["n_nonzero"] == 30
    assert out["median_difference"] == pytest.approx(1.0, abs=0.1)
    assert paired_test(a, b, alternative="greater")["p_value"] < 0.01
    assert paired_test(a, b, alternative="less")["p_value"] > 0.99


def test_paired_test_on_identical_scores_zeros_and_nans():
    a = np.linspace(0.0, 1.0, 12)
    same = paired_test(a, a.copy())
    assert same == {"statistic": 0.0, "p_value": 1.0, "n": 12, "n_nonzero": 0, "median_difference": 0.0}
    b = a.copy()
    b[:3] += 0.5
    b[3] = np.nan
    out = paired_test(a, b, zero_method="zsplit")
    assert out["n"] == 11 and out["n_nonzero"] == 3 and 0 < out["p_value"] <= 1
    empty = paired_test([np.nan, 1.0], [2.0, np.nan])
    assert empty["n"] == 0 and math.isnan(empty["p_value"]) and math.isnan(empty["median_difference"])
    with pytest.raises(ParameterError, match="same clips"):
        paired_test(a, a[:5])


# --------------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------------
def test_summarize_groups_columns_and_counts():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({
        "dataset": ["esc10"] * 40 + ["urbanmix"] * 40,
        "explainer": (["l2i"] * 20 + ["lmac"] * 20) * 2,
        "AI": rng.random(80) * 100,
        "SPS": np.full(80, 0.5),
    })
    df.loc[0, "AI"] = np.nan
    out = summarize(df, ["dataset", "explainer"], ["AI", "SPS"])
    assert list(out.columns) == ["AI", "AI low", "AI high", "AI n", "SPS", "SPS low", "SPS high", "SPS n"]
    assert out.index.names == ["dataset", "explainer"] and len(out) == 4
    row = out.loc[("esc10", "l2i")]
    assert row["AI n"] == 19 and row["SPS n"] == 20
    ai = df["AI"].to_numpy()[1:20]  # the group's 19 finite values (row 0 is NaN)
    assert row["AI"] == pytest.approx(ai.mean())  # the mean of the finite values, by construction
    assert ai.min() < row["AI low"] < row["AI"] < row["AI high"] < ai.max()  # a mean's interval inside the data
    assert (row["SPS"], row["SPS low"], row["SPS high"]) == (0.5, 0.5, 0.5)
    shifted = summarize(df.assign(AI=df["AI"] + 10.0), ["dataset", "explainer"], ["AI"]).loc[("esc10", "l2i")]
    assert (shifted["AI"], shifted["AI low"], shifted["AI high"]) == pytest.approx(  # shift-equivariant
        (row["AI"] + 10, row["AI low"] + 10, row["AI high"] + 10), abs=1e-9)
    whole = summarize(df, None, ["SPS"])
    assert whole.index.tolist() == ["all"] and whole.loc["all", "SPS n"] == 80
    with pytest.raises(ParameterError, match="no column"):
        summarize(df, "method", ["AI"])


def test_format_ci():
    assert format_ci(61.62, 58.21, 64.93) == "61.6 [58.2, 64.9]"
    assert format_ci(0.8234, 0.8011, 0.8467, digits=2) == "0.82 [0.80, 0.85]"
    assert format_ci(3.0, math.nan, math.nan) == "3.0 [n/a]"
    assert format_ci(math.nan, math.nan, math.nan) == "n/a"
