"""Tests of l2i_core.metrics: every metric on a constructed case with a known answer, and bad inputs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from l2i_core._errors import ParameterError
from l2i_core.metrics import (
    PAPER_THRESHOLDS,
    classifier_decisions,
    cosine_gap,
    cosine_similarity,
    curve_area,
    energy_in_support,
    ideal_ratio_mask,
    logit_drop,
    mask_in_metrics,
    multilabel_fidelity,
    paper_fidelity,
    probability_drop,
    si_sdr,
    si_sdr_improvement,
    summarize_drops,
    topk_fidelity,
)


# --------------------------------------------------------------------------------------------------
# top-k fidelity
# --------------------------------------------------------------------------------------------------
def test_topk_perfect_theta_has_fidelity_one():
    f = np.random.default_rng(0).normal(size=(20, 6))
    assert topk_fidelity(f * 3.0, f) == {1: 1.0, 3: 1.0, 5: 1.0}


def test_topk_second_ranked_class():
    f = np.array([[0.0, 5.0, 1.0, 0.0, 0.0, 0.0]] * 4)  # f decides class 1
    theta = np.array([[0.9, 0.8, 0.1, 0.0, 0.0, 0.0]] * 4)  # Θ ranks class 1 second
    assert topk_fidelity(theta, f) == {1: 0.0, 3: 1.0, 5: 1.0}


def test_topk_mixed_clips_and_single_k():
    f = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    theta = np.array([[0.0, 1.0, 0.5], [0.1, 0.2, 0.3]])  # clip 0 rank 1, clip 1 rank 3
    assert topk_fidelity(theta, f, k=1) == {1: 0.5}
    assert topk_fidelity(theta, f, k=(2, 3)) == {2: 0.5, 3: 1.0}


def test_topk_ties_count_against_theta():
    f = np.array([[1.0, 0.0, 0.0]])
    theta = np.zeros((1, 3))  # constant Θ: no information
    assert topk_fidelity(theta, f, k=(1, 2, 3)) == {1: 0.0, 2: 0.0, 3: 1.0}


def test_topk_accepts_torch_tensors():
    f = torch.tensor([[0.0, 2.0], [3.0, 1.0]])
    theta = torch.tensor([[0.1, 0.9], [0.8, 0.2]], requires_grad=True)
    assert topk_fidelity(theta, f, k=(1, 2)) == {1: 1.0, 2: 1.0}


@pytest.mark.parametrize("k", [0, 4, (1, 5), (), 1.5, True])
def test_topk_bad_k(k):
    with pytest.raises(ParameterError):
        topk_fidelity(np.ones((2, 3)), np.ones((2, 3)), k=k)


def test_topk_bad_inputs():
    with pytest.raises(ParameterError, match="shape"):
        topk_fidelity(np.ones((2, 3)), np.ones((2, 4)), k=1)
    with pytest.raises(ParameterError, match="NaN"):
        topk_fidelity(np.array([[np.nan, 1.0]]), np.ones((1, 2)), k=1)
    with pytest.raises(ParameterError, match="empty"):
        topk_fidelity(np.ones((0, 3)), np.ones((0, 3)), k=1)
    with pytest.raises(ParameterError, match="2-D"):
        topk_fidelity(np.ones(3), np.ones(3), k=1)


# --------------------------------------------------------------------------------------------------
# multi-label fidelity
# --------------------------------------------------------------------------------------------------
def test_multilabel_perfect_theta():
    dec = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    probs = np.where(dec == 1, 0.97, 0.01)
    out = multilabel_fidelity(probs, dec)
    for key in ("macro_auprc", "micro_auprc", "max_f1", "ap_macro", "ap_micro"):
        assert out[key] == pytest.approx(1.0), key
    assert out["excluded_classes"] == []
    assert set(out["per_class"]) == {0, 1, 2}


def test_multilabel_hand_computed_example_and_excluded_class():
    # Class "engine": decisions [1, 1, 0, 0], Θ probabilities [0.85, 0.35, 0.55, 0.02].
    # Over the 11 thresholds (pred = prob > t):
    #   t = 0.95, 0.9            nothing predicted      -> P = 1 (by definition), R = 0
    #   t = 0.8, 0.7, 0.6        {0.85}: TP 1, FP 0     -> P = 1,   R = 0.5
    #   t = 0.5, 0.4             {0.85, 0.55}: TP1 FP1  -> P = 0.5, R = 0.5
    #   t = 0.3, 0.2, 0.1, 0.05  {0.85, 0.55, 0.35}     -> P = 2/3, R = 1   (0.02 < 0.05)
    # Padded with (R 0, P 1) and (R 1, P 0) and sorted by recall, the curve goes
    #   (0, 1) -> (0.5, 1) -> (0.5, 0.5) -> (1, 2/3) -> (1, 0)
    # Trapezoids: 0.5 * 1 + 0 + 0.5 * (0.5 + 2/3) / 2 + 0 = 1/2 + 7/24 = 19/24.
    # Micro F1 per threshold: 2/3 (t 0.8-0.6), 1/2 (t 0.5-0.4), 0.8 (t <= 0.3): max 0.8 first at t = 0.3.
    # sklearn AP: ranking 0.85(+), 0.55(-), 0.35(+) -> 0.5 * 1 + 0.5 * 2/3 = 5/6.
    # Class "dog" has no positive decision: excluded from macro; micro_over="predicted" uses "engine" only.
    probs = np.array([[0.85, 0.9], [0.35, 0.1], [0.55, 0.1], [0.02, 0.1]])
    dec = np.array([[1, 0], [1, 0], [0, 0], [0, 0]])
    out = multilabel_fidelity(probs, dec, classes=["engine", "dog"], micro_over="predicted")
    assert out["per_class"] == {"engine": pytest.approx(19 / 24)}
    assert out["macro_auprc"] == pytest.approx(19 / 24)
    assert out["micro_auprc"] == pytest.approx(19 / 24)
    assert out["max_f1"] == pytest.approx(0.8)
    assert out["best_threshold"] == pytest.approx(0.3)
    # Official micro (default, summed over both classes): dog's Θ is a false alarm wherever it passes
    # (0.9 > t for t <= 0.8, 0.1 > t for t = 0.05 only). Summed counts:
    #   t 0.95, 0.9: TP 0 FP 0 -> (R 0, P 1);   t 0.8-0.6: TP 1 FP 1 -> (1/2, 1/2)
    #   t 0.5, 0.4:  TP 1 FP 2 -> (1/2, 1/3);   t 0.3-0.1: TP 2 FP 2 -> (1, 1/2);   t 0.05: TP 2 FP 5 -> (1, 2/7)
    # Curve (0,1) -> (1/2,1/2) -> (1/2,1/3) -> (1,1/2) -> (1,2/7) -> (1,0): 3/8 + 5/24 = 7/12.
    # Micro F1: 1/2, 2/5, 2/3, 4/9: max 2/3 first at t = 0.3.
    official = multilabel_fidelity(probs, dec, classes=["engine", "dog"])
    assert official["micro_auprc"] == pytest.approx(7 / 12) and official["max_f1"] == pytest.approx(2 / 3)
    assert official["best_threshold"] == pytest.approx(0.3)
    assert official["micro_auprc_predicted_only"] == pytest.approx(19 / 24)
    assert official["macro_auprc"] == pytest.approx(19 / 24)  # macro still excludes dog
    assert out["ap_macro"] == pytest.approx(5 / 6)
    assert out["ap_micro"] == pytest.approx(5 / 6)
    assert out["excluded_classes"] == ["dog"]
    np.testing.assert_allclose(out["thresholds"], PAPER_THRESHOLDS)
    # micro F1 per threshold (engine only): 0 where nothing is predicted (t 0.95, 0.9), then as listed above
    np.testing.assert_allclose(out["micro_f1"], [0, 0, 2 / 3, 2 / 3, 2 / 3, 1 / 2, 1 / 2, 0.8, 0.8, 0.8, 0.8])
    curve = out["curves"]["engine"]
    assert curve["recall"][0] == 0 and curve["precision"][0] == 1
    assert curve["recall"][-1] == 1 and curve["precision"][-1] == 0
    assert np.all(np.diff(curve["recall"]) >= 0)
    assert set(out["curves"]) == {"engine"}


def test_multilabel_excluded_by_index_without_names():
    probs = np.array([[0.9, 0.2, 0.3], [0.1, 0.8, 0.3]])
    dec = np.array([[1, 0, 0], [0, 1, 0]])
    out = multilabel_fidelity(probs, dec)
    assert out["excluded_classes"] == [2]
    assert set(out["per_class"]) == {0, 1}


def test_multilabel_micro_sums_counts_over_classes():
    # Summing TP/FP/FN over classes is the same as treating every (clip, class) cell as one class.
    rng = np.random.default_rng(1)
    dec = (rng.random((30, 4)) < 0.4).astype(int)
    probs = np.clip(0.6 * dec + 0.5 * rng.random((30, 4)), 0, 1)
    out = multilabel_fidelity(probs, dec)
    flat = multilabel_fidelity(probs.reshape(-1, 1), dec.reshape(-1, 1))
    assert out["micro_auprc"] == pytest.approx(flat["macro_auprc"])
    assert out["max_f1"] == pytest.approx(flat["max_f1"])
    assert out["micro_auprc"] == out["micro_auprc_all"] == out["micro_auprc_predicted_only"]  # no empty class


def test_multilabel_official_micro_counts_false_alarms_on_a_class_f_never_predicts():
    # Class A: f decides [1, 1, 0], Θ gives [0.97, 0.55, 0.01]. Class B: f never predicts it,
    # Θ gives [0.01, 0.01, 0.55] (a false alarm on clip 2).
    # t = 0.95 ... 0.6 (5 thresholds): A predicts clip 0 only: TP 1, FN 1; B predicts nothing.
    # t = 0.5 ... 0.05 (6 thresholds): A predicts clips 0, 1: TP 2; B predicts clip 2: FP 1.
    # Official (summed over all classes): (R 1/2, P 1) and (R 1, P 2/3); padded curve
    #   (0, 1) -> (1/2, 1) -> (1, 2/3) -> (1, 0): area 1/2 + 1/2 * (1 + 2/3) / 2 = 11/12 = 0.917;
    #   micro F1 2/3 (R 1/2, P 1), then 2 * (2/3) / (2/3 + 1) = 0.8 at t = 0.5: max-F1 0.8.
    # Without class B: (R 1/2, P 1) and (R 1, P 1): area 1, max-F1 1 (and macro over A alone: 1).
    probs = np.array([[0.97, 0.01], [0.55, 0.01], [0.01, 0.55]])
    dec = np.array([[1, 0], [1, 0], [0, 0]])
    out = multilabel_fidelity(probs, dec, classes=["A", "B"])
    assert out["micro_over"] == "all" and out["excluded_classes"] == ["B"]
    assert out["micro_auprc"] == pytest.approx(11 / 12) and round(out["micro_auprc"], 3) == 0.917
    assert out["max_f1"] == pytest.approx(0.8) and out["best_threshold"] == pytest.approx(0.5)
    assert out["micro_auprc_all"] == pytest.approx(11 / 12) and out["max_f1_all"] == pytest.approx(0.8)
    assert out["micro_auprc_predicted_only"] == pytest.approx(1.0)
    assert out["max_f1_predicted_only"] == pytest.approx(1.0)
    assert out["macro_auprc"] == pytest.approx(1.0) and set(out["per_class"]) == {"A"}
    np.testing.assert_allclose(out["micro_f1"], [2 / 3] * 5 + [0.8] * 6)
    alt = multilabel_fidelity(probs, dec, classes=["A", "B"], micro_over="predicted")
    assert alt["micro_auprc"] == pytest.approx(1.0) and alt["max_f1"] == pytest.approx(1.0)
    assert alt["micro_auprc_all"] == pytest.approx(11 / 12)  # both variants whichever is chosen
    with pytest.raises(ParameterError, match="micro_over"):
        multilabel_fidelity(probs, dec, micro_over="some")


def test_multilabel_probability_equal_to_the_threshold_counts_negative():
    # Θ gives exactly 0.5 to the one positive: at t = 0.5 it is *not* predicted (official: p > t),
    # at t = 0.4 it is. Thresholds (0.6, 0.5, 0.4): micro F1 0, 0, 1.
    out = multilabel_fidelity(np.array([[0.5], [0.0]]), np.array([[1], [0]]), thresholds=(0.6, 0.5, 0.4))
    np.testing.assert_allclose(out["micro_f1"], [0.0, 0.0, 1.0])
    assert out["best_threshold"] == pytest.approx(0.4)
    # f's decisions: sigmoid(0) = 0.5 exactly is not above the 0.5 threshold either.
    np.testing.assert_array_equal(classifier_decisions(np.array([[0.0, 1e-6, -1e-6]])), [[0, 1, 0]])
    np.testing.assert_array_equal(classifier_decisions(np.array([[0.0, 0.0]]), [0.4, 0.5]), [[1, 0]])


def test_paper_fidelity_from_logits_known_answers():
    # Multi-class: f picks class 1 then class 0; Θ ranks them 1st and 2nd: top-1 50 %, top-3 100 %.
    theta = np.array([[0.0, 3.0, 1.0, -1.0], [0.5, 2.0, 1.0, 0.0]])
    f = np.array([[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    assert paper_fidelity(theta, f, multilabel=False) == {"top1": 50.0, "top3": 100.0}
    # Multi-label: logits 0 -> sigmoid 0.5; with the case above in logit form (logit(0.97) etc.).
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    theta_ml = logit(np.array([[0.97, 0.01], [0.55, 0.01], [0.01, 0.55]]))
    f_ml = np.array([[3.0, -3.0], [3.0, -3.0], [-3.0, -3.0]])
    out = paper_fidelity(theta_ml, f_ml, multilabel=True, classes=["A", "B"])
    assert out["micro_auprc"] == pytest.approx(11 / 12) and out["max_f1_predicted_only"] == pytest.approx(1.0)


def test_multilabel_never_nan_when_nothing_is_predicted():
    probs = np.full((3, 2), 0.01)  # below every threshold
    dec = np.array([[1, 0], [0, 1], [1, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = multilabel_fidelity(probs, dec)
    # every point is (R 0, P 1): the curve is (0,1) -> (1,0), area 0.5
    assert out["macro_auprc"] == pytest.approx(0.5)
    assert out["max_f1"] == 0.0
    assert not any(math.isnan(v) for v in out["per_class"].values())


def test_multilabel_bad_inputs():
    ok_p, ok_d = np.array([[0.5, 0.5]]), np.array([[1, 0]])
    with pytest.raises(ParameterError, match="probabilities"):
        multilabel_fidelity(np.array([[2.0, -1.0]]), ok_d)
    with pytest.raises(ParameterError, match="binary"):
        multilabel_fidelity(ok_p, np.array([[0.5, 0.0]]))
    with pytest.raises(ParameterError, match="names"):
        multilabel_fidelity(ok_p, ok_d, classes=["a"])
    with pytest.raises(ParameterError, match="no positive"):
        multilabel_fidelity(ok_p, np.zeros((1, 2)))
    with pytest.raises(ParameterError, match="thresholds"):
        multilabel_fidelity(ok_p, ok_d, thresholds=(1.5,))
    with pytest.raises(ParameterError, match="empty"):
        multilabel_fidelity(ok_p, ok_d, thresholds=())
    with pytest.raises(ParameterError, match="shape"):
        multilabel_fidelity(ok_p, np.array([[1, 0, 0]]))


# --------------------------------------------------------------------------------------------------
# faithfulness
# --------------------------------------------------------------------------------------------------
def test_logit_drop():
    before = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    after = np.array([[0.5, 1.0, 0.0], [0.0, 3.5, 1.0]])
    np.testing.assert_allclose(logit_drop(before, after, np.array([0, 1])), [1.5, -0.5])
    np.testing.assert_allclose(logit_drop(torch.tensor(before), torch.tensor(after), torch.tensor([0, 2])), [1.5, 0.0])
    np.testing.assert_allclose(logit_drop(before, after, 0), [1.5, 0.0])  # an int applies to every clip


def test_probability_drop_softmax_and_sigmoid():
    # before: logits (ln 3, 0, 0) -> softmax 3/5, sigmoid 3/4; after: zeros -> softmax 1/3, sigmoid 1/2
    before = np.array([[math.log(3.0), 0.0, 0.0]])
    after = np.zeros((1, 3))
    assert probability_drop(before, after, [0])[0] == pytest.approx(3 / 5 - 1 / 3)
    assert probability_drop(before, after, [0], multilabel=True)[0] == pytest.approx(3 / 4 - 1 / 2)
    big = np.array([[1000.0, -1000.0]])  # stable: no overflow warning, no NaN
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert probability_drop(big, -big, [0])[0] == pytest.approx(1.0)
        assert probability_drop(big, -big, [0], multilabel=True)[0] == pytest.approx(1.0)


@pytest.mark.parametrize("target", [[0, 3], [0], [-1, 0], [0.5, 1], []])
def test_drop_bad_target(target):
    with pytest.raises(ParameterError):
        logit_drop(np.zeros((2, 3)), np.zeros((2, 3)), target)


def test_drop_shape_mismatch():
    with pytest.raises(ParameterError, match="shape"):
        probability_drop(np.zeros((2, 3)), np.zeros((2, 4)), [0, 0])


def test_summarize_drops():
    assert summarize_drops([0.0, 1.0, 2.0, 3.0, 4.0]) == {"median": 2.0, "mean": 2.0, "q25": 1.0, "q75": 3.0, "n": 5}
    assert summarize_drops(torch.tensor([0.5]))["median"] == 0.5
    for bad in ([], [np.nan, 1.0], [[1.0, 2.0]]):
        with pytest.raises(ParameterError):
            summarize_drops(bad)


# --------------------------------------------------------------------------------------------------
# mask-in metrics
# --------------------------------------------------------------------------------------------------
def test_mask_in_metrics_hand_computed():
    p = np.array([[0.8, 0.1, 0.1], [0.2, 0.6, 0.2], [0.5, 0.25, 0.25]])
    q = np.array([[0.4, 0.5, 0.1], [0.1, 0.8, 0.1], [0.5, 0.25, 0.25]])
    # clip 0: c=0, p_c .8 > q_c .4 -> AI 0, AD 100*.4/.8 = 50, AG 0, argmax q = 1 -> Fid-In 0
    # clip 1: c=1, q_c .8 > p_c .6 -> AI 100, AD 0, AG 100*.2/.4 = 50, Fid-In 1
    # clip 2: q = p -> AI 0 (strict), AD 0, AG 0, Fid-In 1
    out = mask_in_metrics(p, q)
    np.testing.assert_allclose(out["per_clip"]["AI"], [0, 100, 0])
    np.testing.assert_allclose(out["per_clip"]["AD"], [50, 0, 0])
    np.testing.assert_allclose(out["per_clip"]["AG"], [0, 50, 0])
    np.testing.assert_allclose(out["per_clip"]["fid_in"], [0, 1, 1])
    assert out["AI"] == pytest.approx(100 / 3)
    assert out["AD"] == pytest.approx(50 / 3)
    assert out["AG"] == pytest.approx(50 / 3)
    assert out["fid_in"] == pytest.approx(2 / 3)
    np.testing.assert_array_equal(out["target"], [0, 1, 0])


def test_mask_in_metrics_with_target_and_certain_input():
    # target 1: p_c .2, q_c .6 -> AI 100, AD 0, AG 100 * .4 / .8 = 50, argmax q = 1 = target
    out = mask_in_metrics(np.array([[0.8, 0.2]]), np.array([[0.4, 0.6]]), target=[1])
    assert (out["AI"], out["AD"], out["AG"], out["fid_in"]) == pytest.approx((100, 0, 50, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        certain = mask_in_metrics(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]]))  # 1 - p_c = 0
        zero = mask_in_metrics(np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]]), target=1)  # p_c = 0
    assert (certain["AG"], certain["AD"]) == (0.0, 0.0)
    assert zero["AD"] == 0.0 and zero["AG"] == pytest.approx(50.0)


def test_mask_in_metrics_bad_inputs():
    with pytest.raises(ParameterError, match="probabilities"):
        mask_in_metrics(np.array([[3.0, -1.0]]), np.array([[0.5, 0.5]]))
    with pytest.raises(ParameterError, match="shape"):
        mask_in_metrics(np.ones((2, 2)) / 2, np.ones((2, 3)) / 3)
    with pytest.raises(ParameterError):
        mask_in_metrics(np.ones((1, 2)) / 2, np.ones((1, 2)) / 2, target=[2])


# --------------------------------------------------------------------------------------------------
# deletion / insertion curves
# --------------------------------------------------------------------------------------------------
def test_curve_area():
    assert curve_area(np.ones(7)) == pytest.approx(1.0)
    assert curve_area(np.linspace(1.0, 0.0, 11)) == pytest.approx(0.5)
    both = curve_area(np.stack([np.ones(5), np.linspace(1.0, 0.0, 5)]))
    np.testing.assert_allclose(both, [1.0, 0.5])
    # x = 0, 1, 4 -> 0, .25, 1: .25 * 1 + .75 * (1 + 0) / 2 = .625
    assert curve_area([1.0, 1.0, 0.0], x=[0, 1, 4]) == pytest.approx(0.625)
    assert curve_area(torch.tensor([0.0, 1.0])) == pytest.approx(0.5)


def test_curve_area_bad_inputs():
    for kwargs in ({"values": [1.0]}, {"values": [1.0, 0.0], "x": [0, 1, 2]}, {"values": [1.0, 0.0], "x": [1, 0]},
                   {"values": np.ones((2, 2, 2))}, {"values": [np.nan, 1.0]}):
        with pytest.raises(ParameterError):
            curve_area(**kwargs)


# --------------------------------------------------------------------------------------------------
# ground truth on mixtures
# --------------------------------------------------------------------------------------------------
def _orthogonal_pair(n: int = 2000, snr_db: float = 10.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Zero-mean s and zero-mean noise orthogonal to s with ‖s‖² / ‖noise‖² = 10^(snr/10)."""
    rng = np.random.default_rng(seed)
    s = rng.normal(size=n)
    s -= s.mean()
    noise = rng.normal(size=n)
    noise -= noise.mean()
    noise -= (noise @ s) / (s @ s) * s
    noise *= np.sqrt((s @ s) / 10 ** (snr_db / 10) / (noise @ noise))
    return s, noise


def test_si_sdr_known_values():
    s, noise = _orthogonal_pair(snr_db=10.0)
    assert si_sdr(s + noise, s) == pytest.approx(10.0, abs=1e-6)
    # a perfect estimate leaves no residual: its SI-SDR is 10 log10((‖s_t‖² + eps) / eps), set by eps alone
    eps = 1e-8
    assert si_sdr(s, s, eps=eps) == pytest.approx(10 * np.log10((s @ s + eps) / eps), abs=1e-6)
    assert si_sdr(2.5 * s, s, eps=eps) == pytest.approx(10 * np.log10((6.25 * (s @ s) + eps) / eps), abs=1e-6)
    assert si_sdr(s, s, eps=1e-4) == pytest.approx(si_sdr(s, s, eps=1e-8) - 40.0, abs=1e-4)  # eps sets the ceiling
    assert si_sdr(-3.0 * (s + noise) + 7.0, s) == pytest.approx(10.0, abs=1e-6)  # scale and offset ignored
    assert si_sdr(torch.tensor(s + noise), torch.tensor(s)) == pytest.approx(10.0, abs=1e-6)


def test_si_sdr_batched_and_improvement():
    s, n10 = _orthogonal_pair(snr_db=10.0, seed=1)
    _, n0 = _orthogonal_pair(snr_db=0.0, seed=1)
    batch = si_sdr(np.stack([s + n10, s + n0]), np.stack([s, s]))
    assert batch.shape == (2,)
    np.testing.assert_allclose(batch, [10.0, 0.0], atol=1e-6)
    assert si_sdr_improvement(s + n10, s + n0, s) == pytest.approx(10.0, abs=1e-6)


def test_si_sdr_bad_inputs():
    with pytest.raises(ParameterError, match="same length"):
        si_sdr(np.ones(10), np.ones(11))
    with pytest.raises(ParameterError, match="silent"):
        si_sdr(np.arange(10.0), np.full(10, 3.0))
    with pytest.raises(ParameterError, match="NaN"):
        si_sdr(np.array([np.nan, 1.0]), np.array([1.0, -1.0]))
    with pytest.raises(ParameterError, match="empty"):
        si_sdr(np.array([]), np.array([]))


def _disjoint_stems() -> tuple[np.ndarray, np.ndarray]:
    target = np.zeros((4, 5))
    target[:2] = 1.0  # low frequencies
    interference = np.zeros((4, 5))
    interference[2:] = 2.0  # high frequencies
    return target, interference


def test_energy_in_support():
    target, interference = _disjoint_stems()
    assert energy_in_support(target, target, interference) == pytest.approx(1.0)
    assert energy_in_support(interference, target, interference) == pytest.approx(0.0)
    # energies: target 10 bins * 1² = 10, interference 10 bins * 2² = 40 -> share 10 / 50
    assert energy_in_support(target + interference, target, interference) == pytest.approx(0.2)
    batch = energy_in_support(np.stack([target, interference]), np.stack([target] * 2), np.stack([interference] * 2))
    np.testing.assert_allclose(batch, [1.0, 0.0])


def test_energy_in_support_silent_estimate_is_nan():
    target, interference = _disjoint_stems()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert math.isnan(energy_in_support(np.zeros_like(target), target, interference))
        batch = energy_in_support(np.stack([np.zeros_like(target), target]), np.stack([target] * 2),
                                  np.stack([interference] * 2))
    assert math.isnan(batch[0]) and batch[1] == pytest.approx(1.0)


def test_energy_in_support_bad_inputs():
    target, interference = _disjoint_stems()
    with pytest.raises(ParameterError, match="negative"):
        energy_in_support(-target, target, interference)
    with pytest.raises(ParameterError, match="shape"):
        energy_in_support(target[:3], target, interference)
    with pytest.raises(ParameterError, match="dimensions"):
        energy_in_support(np.ones(4), np.ones(4), np.ones(4))


def test_cosine_similarity_and_gap():
    target, interference = _disjoint_stems()
    assert cosine_similarity(target, target) == pytest.approx(1.0)
    assert cosine_similarity(target, 5.0 * target) == pytest.approx(1.0)
    assert cosine_similarity(target, interference) == pytest.approx(0.0)
    assert cosine_similarity([1.0, 0.0], [1.0, 1.0]) == pytest.approx(1 / math.sqrt(2))
    batch = cosine_similarity(np.stack([target, target]), np.stack([target, interference]))
    np.testing.assert_allclose(batch, [1.0, 0.0], atol=1e-12)
    assert cosine_gap(target, target, interference) == pytest.approx(1.0)
    assert cosine_gap(interference, target, interference) == pytest.approx(-1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert math.isnan(cosine_similarity(np.zeros((2, 2)), np.ones((2, 2))))
    with pytest.raises(ParameterError, match="shape"):
        cosine_similarity(np.ones((2, 2)), np.ones((2, 3)))


def test_ideal_ratio_mask():
    target = np.array([[3.0, 0.0], [1.0, 1.0]])
    interference = np.array([[1.0, 0.0], [1.0, 3.0]])
    np.testing.assert_allclose(ideal_ratio_mask(target, interference), [[0.75, 0.0], [0.5, 0.25]], atol=1e-6)
    t, i = _disjoint_stems()
    # the oracle mask applied to the mixture recovers the target where the stems do not overlap
    np.testing.assert_allclose(ideal_ratio_mask(t, i) * (t + i), t, atol=1e-6)
    with pytest.raises(ParameterError, match="negative"):
        ideal_ratio_mask(-target, interference)
    with pytest.raises(ParameterError):
        ideal_ratio_mask(target, interference, eps=0.0)
