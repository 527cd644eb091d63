"""The ground-truth metrics of the comparison (issue 31): stem-energy precision / recall at matched
sparsity, relevance mass and rank accuracy (Quantus's definitions, Quantus as the oracle), each on cases
whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest
from test_compare_metrics import quantus  # noqa: F401 - the Quantus fixture (oracle only)

from l2i_core._errors import ParameterError
from l2i_core.metrics import relevance_mass_accuracy, relevance_rank_accuracy, stem_energy_precision_recall


def _two_sources():
    """A stem in the low half of the bins and interference in the high half, plus one shared bin."""
    S = np.zeros((8, 5))
    N = np.zeros((8, 5))
    S[:4] = 2.0
    N[4:] = 1.0
    N[0, 0] = 2.0  # a bin where both sound equally
    return S, N


def test_precision_recall_of_known_selections():
    S, N = _two_sources()
    s2, n2 = (S**2).sum(), (N**2).sum()
    # keep everything (doing nothing): recall 1, precision = the stem's share of the energy
    p, r = stem_energy_precision_recall(np.ones_like(S), S, N)
    assert r == 1.0 and p == pytest.approx(s2 / (s2 + n2))
    # keep exactly the stem's bins: every stem bin, and the one shared bin lets 4 of interference in
    p, r = stem_energy_precision_recall(S > 0, S, N)
    assert r == 1.0 and p == pytest.approx(s2 / (s2 + 4.0))
    # keep only the interference's own bins: nothing of the stem
    p, r = stem_energy_precision_recall(N * (S == 0) > 0, S, N)
    assert p == 0.0 and r == 0.0
    # keep half of the stem's rows: half its energy, all of it stem
    keep = np.zeros_like(S)
    keep[2:4] = 1
    p, r = stem_energy_precision_recall(keep, S, N)
    assert (p, r) == (1.0, 0.5)


def test_precision_recall_edge_cases_and_batches():
    S, N = _two_sources()
    p, r = stem_energy_precision_recall(np.zeros_like(S), S, N)  # nothing kept: no precision, recall 0
    assert np.isnan(p) and r == 0.0
    p, r = stem_energy_precision_recall(np.ones_like(S), np.zeros_like(S), N)  # a silent stem: no recall
    assert p == 0.0 and np.isnan(r)
    batch = np.stack([np.ones_like(S), (S > 0).astype(float)])
    p, r = stem_energy_precision_recall(batch, np.stack([S, S]), np.stack([N, N]))
    assert p.shape == (2,) and np.array_equal(r, [1.0, 1.0]) and p[0] < p[1]
    with pytest.raises(ParameterError):
        stem_energy_precision_recall(np.ones((3, 5)), S, N)


def test_relevance_mass_and_rank_accuracy_known_answers():
    region = np.zeros((6, 4))
    region[:2] = 1  # a band: the first 2 of 6 rows, a third of the plane
    inside_only = region * 0.7
    assert relevance_mass_accuracy(inside_only, region) == 1.0
    assert relevance_rank_accuracy(inside_only + 0.0, region) == 1.0
    uniform = np.full((6, 4), 0.5)
    assert relevance_mass_accuracy(uniform, region) == pytest.approx(1 / 3)  # the region's share of the plane
    outside_only = 1 - region
    assert relevance_mass_accuracy(outside_only, region) == 0.0
    assert relevance_rank_accuracy(outside_only, region) == 0.0
    assert np.isnan(relevance_mass_accuracy(np.zeros((6, 4)), region))
    # a random ranking finds the region in proportion to its size, on average
    rng = np.random.default_rng(0)
    scores = relevance_rank_accuracy(rng.random((2000, 6, 4)), region)
    assert scores.shape == (2000,) and scores.mean() == pytest.approx(1 / 3, abs=0.02)
    with pytest.raises(ParameterError, match="region is empty"):
        relevance_rank_accuracy(uniform, np.zeros((6, 4)))


def test_relevance_mass_and_rank_accuracy_equal_quantus(quantus):  # noqa: F811 - the fixture
    rng = np.random.default_rng(3)
    a = rng.random((6, 1, 8, 6))
    s = (rng.random((6, 1, 8, 6)) < 0.3).astype(float)
    kw = {"model": None, "x_batch": np.ones_like(a), "y_batch": np.zeros(6, dtype=int), "a_batch": a, "s_batch": s}
    mass = quantus.RelevanceMassAccuracy(disable_warnings=True, return_aggregate=False)(**kw)
    rank = quantus.RelevanceRankAccuracy(disable_warnings=True, return_aggregate=False)(**kw)
    np.testing.assert_allclose(relevance_mass_accuracy(a[:, 0], s[:, 0]), mass, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(relevance_rank_accuracy(a[:, 0], s[:, 0]), rank, rtol=1e-12, atol=1e-15)
