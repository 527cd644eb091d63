"""Tests of the reviewer's statistics in l2i_core.evaluate.stats: exact intervals for proportions, no interval
or leader below MIN_ROWS, cluster (scene) and two-level (seeds × clips) bootstraps, Holm-corrected paired tests
and the leader rule. Every answer is known by construction (closed forms, textbook values, symmetric designs)."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from l2i_core._errors import ParameterError
from l2i_core.evaluate import stats
from l2i_core.evaluate.stats import (
    MIN_ROWS,
    cluster_bootstrap_ci,
    exact_proportion_ci,
    holm,
    holm_table,
    leader,
    mean_cell,
    paired_tests,
    per_seed_means,
    proportion_cell,
    proportion_ci,
)


# --------------------------------------------------------------------------------------------------
# Clopper–Pearson
# --------------------------------------------------------------------------------------------------
def test_clopper_pearson_closed_forms_at_the_edges():
    low, high = exact_proportion_ci(0, 10)
    assert low == 0.0
    assert high == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-12)
    for n in (1, 7, 30):
        low, high = exact_proportion_ci(n, n)
        assert low == pytest.approx(0.025 ** (1 / n), abs=1e-12)
        assert high == 1.0
    low, high = exact_proportion_ci(0, 20, confidence=0.9)
    assert high == pytest.approx(1 - 0.05 ** (1 / 20), abs=1e-12)


def test_clopper_pearson_matches_the_table_value():
    # 5 of 10: the exact 95 % interval is [0.1871, 0.8129] (e.g. Clopper & Pearson's charts, any table)
    low, high = exact_proportion_ci(5, 10)
    assert (low, high) == (pytest.approx(0.187086, abs=1e-6), pytest.approx(0.812914, abs=1e-6))
    assert low + high == pytest.approx(1.0)  # symmetric at k = n / 2


@pytest.mark.parametrize("k, n", [(3, 20), (0, 15), (71, 83), (40, 40)])
def test_clopper_pearson_contains_the_wilson_centre_and_is_wider(k, n):
    z = 1.959963984540054
    centre = (k + z * z / 2) / (n + z * z)
    low, high = exact_proportion_ci(k, n)
    assert low < centre < high
    w_low, w_high = proportion_ci(k, n)  # the existing Wilson interval, untouched
    assert high - low > w_high - w_low


def test_exact_proportion_ci_rejects_bad_input():
    for k, n in [(-1, 10), (11, 10), (0, 0), (2.5, 10)]:
        with pytest.raises(ParameterError):
            exact_proportion_ci(k, n)
    with pytest.raises(ParameterError, match="confidence"):
        exact_proportion_ci(1, 10, confidence=95)


def test_proportion_cell_in_percent_and_in_fractions():
    pct = proportion_cell([100.0] * 8 + [0.0] * 12)
    low, high = exact_proportion_ci(8, 20)
    assert pct["method"] == "Clopper-Pearson"
    assert (pct["estimate"], pct["low"], pct["high"]) == (40.0, pytest.approx(100 * low), pytest.approx(100 * high))
    frac = proportion_cell([1] * 8 + [0] * 12 + [float("nan")])
    assert (frac["estimate"], frac["low"], frac["high"]) == (0.4, pytest.approx(low), pytest.approx(high))
    assert (frac["n"], frac["n_clusters"], frac["n_seeds"]) == (20, 20, 1)
    zeros = proportion_cell([0.0] * 12, percent=True)
    assert zeros["high"] == pytest.approx(100 * (1 - 0.025 ** (1 / 12)))
    with pytest.raises(ParameterError, match="mean_cell"):
        proportion_cell([0.0, 0.5, 1.0] * 5)


# --------------------------------------------------------------------------------------------------
# MIN_ROWS
# --------------------------------------------------------------------------------------------------
def test_no_interval_below_min_rows():
    assert MIN_ROWS == 10
    nine, ten = [1, 0, 1, 1, 0, 1, 0, 1, 1], [1, 0, 1, 1, 0, 1, 0, 1, 1, 0]
    cell = proportion_cell(nine)
    assert math.isnan(cell["low"]) and math.isnan(cell["high"])
    assert cell["method"] == "n < 10: no interval" and cell["n"] == 9 and cell["estimate"] == pytest.approx(6 / 9)
    cell = proportion_cell(ten)
    assert cell["method"] == "Clopper-Pearson" and 0 < cell["low"] < 0.6 < cell["high"] < 1
    cell = mean_cell(np.arange(9.0))
    assert math.isnan(cell["low"]) and cell["method"] == "n < 10: no interval" and cell["estimate"] == 4.0
    cell = mean_cell(np.arange(10.0))
    assert cell["method"] == "percentile bootstrap (clips)" and cell["low"] < 4.5 < cell["high"]
    # the threshold counts units: 40 rows of 9 scenes have no interval
    est, low, high = cluster_bootstrap_ci(np.arange(36.0), np.repeat(np.arange(9), 4))
    assert est == 17.5 and math.isnan(low) and math.isnan(high)


# --------------------------------------------------------------------------------------------------
# cluster and two-level bootstrap
# --------------------------------------------------------------------------------------------------
def test_identical_copies_in_a_cluster_give_the_de_duplicated_interval_and_row_resampling_is_too_narrow():
    clip = np.random.default_rng(3).normal(size=40)
    rows, scene = np.repeat(clip, 5), np.repeat(np.arange(40), 5)  # each clip 5 times: 5 rows of one scene
    cluster = cluster_bootstrap_ci(rows, scene, seed=7)
    deduped = cluster_bootstrap_ci(clip, seed=7)  # same cluster draws: the same interval up to rounding
    assert cluster == pytest.approx(deduped, rel=1e-12, abs=1e-12)
    naive = cluster_bootstrap_ci(rows, seed=7)  # rows as if independent: pseudo-replication
    assert naive[2] - naive[1] < 0.6 * (cluster[2] - cluster[1])  # about 1 / sqrt(5) of the width
    cell = mean_cell(rows, scene)
    assert cell["method"] == "cluster bootstrap (scenes)" and (cell["n"], cell["n_clusters"]) == (200, 40)


def test_one_seed_without_clusters_agrees_with_scipys_percentile_bootstrap():
    from scipy.stats import bootstrap

    x = np.random.default_rng(11).normal(size=100)
    _, low, high = cluster_bootstrap_ci(x, n_resamples=5000)
    ref = bootstrap((x,), np.mean, n_resamples=5000, method="percentile", random_state=np.random.default_rng(0))
    # Monte Carlo error of each bound ≈ 0.004 here (SE of the mean 0.1, 5000 resamples)
    assert low == pytest.approx(ref.confidence_interval.low, abs=0.02)
    assert high == pytest.approx(ref.confidence_interval.high, abs=0.02)


def test_seeds_widen_the_interval_with_their_spread():
    clip = np.random.default_rng(5).normal(size=60)
    uid = np.tile(np.arange(60), 3)
    seed = np.repeat([0, 1, 2], 60)
    clip_only = cluster_bootstrap_ci(clip, seed=2)
    widths = []
    for d in (0.0, 0.2, 0.5, 1.0):
        values = np.r_[clip - d, clip, clip + d]
        est, low, high = cluster_bootstrap_ci(values, uid, seed, seed=2)
        assert est == pytest.approx(clip.mean()) and low < est < high
        if d == 0.0:  # identical seeds: the clip draws are the clip-only bootstrap's
            assert (est, low, high) == pytest.approx(clip_only, rel=1e-12, abs=1e-12)
        widths.append(high - low)
    assert widths == sorted(widths) and widths[-1] > 2 * widths[0]
    cell = mean_cell(np.r_[clip - 0.5, clip, clip + 0.5], uid, seed)
    assert cell["method"] == "two-level bootstrap (seeds × clips)"
    assert (cell["n"], cell["n_clusters"], cell["n_seeds"]) == (180, 60, 3)
    assert per_seed_means(np.r_[clip - 0.5, clip, clip + 0.5], seed) == pytest.approx(
        {0: clip.mean() - 0.5, 1: clip.mean(), 2: clip.mean() + 0.5})


def test_proportion_cell_with_seeds_or_scenes_uses_the_bootstrap():
    hit = (np.arange(30) % 3 == 0).astype(float) * 100  # 10 of 30 clips
    cell = proportion_cell(np.r_[hit, hit, hit], np.tile(np.arange(30), 3), np.repeat([1, 2, 3], 30))
    assert cell["method"] == "two-level bootstrap (seeds × clips)" and cell["estimate"] == pytest.approx(100 / 3)
    assert 0 < cell["low"] < 100 / 3 < cell["high"] < 100
    cell = proportion_cell(np.repeat(hit, 2), np.repeat(np.arange(30), 2))
    assert cell["method"] == "cluster bootstrap (scenes)" and cell["n_clusters"] == 30 and cell["n"] == 60


def test_bootstrap_coverage_of_a_known_mean():
    rng = np.random.default_rng(2024)
    covered = 0
    for rep in range(200):
        x = rng.normal(loc=3.0, scale=2.0, size=50)
        _, low, high = cluster_bootstrap_ci(x, n_resamples=1000, seed=rep)
        covered += low <= 3.0 <= high
    assert 0.90 <= covered / 200 <= 0.99


def test_all_equal_values_and_nan_rows():
    assert cluster_bootstrap_ci([2.0] * 12) == (2.0, 2.0, 2.0)
    x = np.r_[np.arange(12.0), np.nan, np.inf]
    assert cluster_bootstrap_ci(x, seed=1) == cluster_bootstrap_ci(np.arange(12.0), seed=1)
    assert per_seed_means([1.0, 3.0, np.nan, np.nan], ["a", "a", "b", "b"]) == pytest.approx({"a": 2.0, "b": math.nan},
                                                                                              nan_ok=True)


def test_other_statistics_and_speed():
    uid, seed = np.tile(np.arange(400), 3), np.repeat([0, 1, 2], 400)
    clip = np.random.default_rng(9).normal(size=400)
    values = np.r_[clip - 0.1, clip, clip + 0.1]
    start = time.perf_counter()
    est, low, high = cluster_bootstrap_ci(values, uid, seed, n_resamples=2000)
    assert time.perf_counter() - start < 1.0
    assert low < est < high
    est, low, high = cluster_bootstrap_ci(values, uid, seed, statistic=np.median, n_resamples=200)
    assert est == pytest.approx(np.median(values)) and low < est < high


def test_cluster_bootstrap_rejects_bad_input():
    with pytest.raises(ParameterError, match="clusters="):
        cluster_bootstrap_ci(np.arange(20.0), seeds=[0, 1] * 10)
    with pytest.raises(ParameterError, match="one label per value"):
        cluster_bootstrap_ci(np.arange(20.0), clusters=np.arange(19))
    with pytest.raises(ParameterError, match="n_resamples"):
        cluster_bootstrap_ci(np.arange(20.0), n_resamples=10)
    with pytest.raises(ParameterError, match="confidence"):
        mean_cell(np.arange(20.0), confidence=1.5)


# --------------------------------------------------------------------------------------------------
# Holm
# --------------------------------------------------------------------------------------------------
def test_holm_textbook_example():
    # sorted 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_nan_and_cap():
    out = holm([0.01, float("nan"), 0.04])  # family of 2: 0.02, 0.04
    assert math.isnan(out[1]) and out[[0, 2]] == pytest.approx([0.02, 0.04])
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])
    assert holm([]).size == 0
    with pytest.raises(ParameterError, match=r"\[0, 1\]"):
        holm([0.5, 1.5])


def test_holm_against_its_definition():
    # Holm (1979): p_(i) adjusted to max over j <= i of min(1, (m − j + 1) p_(j)), written as a plain loop
    p = np.random.default_rng(8).uniform(0, 0.3, size=13)
    ranked = sorted(p)
    m = len(p)
    expected = [max(min(1.0, (m - j) * ranked[j]) for j in range(ranked.index(v) + 1)) for v in p]
    assert holm(p) == pytest.approx(expected)


def test_holm_against_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.random.default_rng(1).uniform(0, 0.2, size=17)
    assert holm(p) == pytest.approx(multitest.multipletests(p, method="holm")[1])


def test_holm_table_corrects_over_every_row():
    tests = pd.DataFrame({"column": ["AI", "AI", "AD", "AD"], "p_value": [0.01, 0.04, 0.03, 0.005]})
    out = holm_table(tests)
    assert out["p_holm"].tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert out["rejects"].tolist() == [True, False, False, True] and (out["family"] == 4).all()
    assert "p_holm" not in tests  # a copy


# --------------------------------------------------------------------------------------------------
# paired tests and the leader
# --------------------------------------------------------------------------------------------------
def _frame(a_values, b_values, units, seeds=None):
    n = len(units)
    return pd.DataFrame({"method": ["A"] * n + ["B"] * n, "uid": list(units) * 2,
                         "seed": list(seeds if seeds is not None else [0] * n) * 2,
                         "score": np.r_[a_values, b_values]})


def test_a_clear_lead_is_named():
    rng = np.random.default_rng(0)
    b = rng.normal(size=30)
    a = b + 1.0 + rng.normal(scale=0.05, size=30)
    tests = paired_tests(_frame(a, b, range(30)), methods=["A", "B"], column="score")
    row = tests.iloc[0]
    assert (row["a"], row["b"], row["n"]) == ("A", "B", 30) and bool(row["rejects"])
    assert row["median_difference"] == pytest.approx(1.0, abs=0.1)
    best, reason = leader({"A": a.mean(), "B": b.mean()}, tests, higher_is_better=True, n_rows={"A": 30, "B": 30})
    assert best == "A" and reason.startswith("Holm-corrected p = ") and "against B (n = 30 units)" in reason
    # lower is better: B has the better estimate, but the differences say A − B > 0: B leads too
    best, _ = leader({"A": a.mean(), "B": b.mean()}, tests, higher_is_better=False, n_rows={"A": 30, "B": 30})
    assert best == "B"


def test_no_leader_when_the_test_does_not_reject():
    b = np.linspace(0.0, 3.0, 32)
    # differences ±0.01 … ±0.32, no ties; the pairs (j, 33 − j) for j = 1..8 positive, j = 9..16 negative:
    # the positive ranks sum to 8 · 33 = 264 = half of 1 + … + 32, so W+ = W− and the exact p-value is 1
    sign = np.where(np.minimum(np.arange(1, 33), 33 - np.arange(1, 33)) <= 8, 1.0, -1.0)
    a = b + 0.01 * np.arange(1, 33) * sign
    assert a.mean() == pytest.approx(b.mean())  # mean difference 0
    tests = paired_tests(_frame(a, b, range(32)), methods=["A", "B"], column="score")
    assert tests["p_value"].iloc[0] == pytest.approx(1.0) and not tests["rejects"].iloc[0]
    best, reason = leader({"A": a.mean() + 0.001, "B": b.mean()}, tests, higher_is_better=True,
                          n_rows={"A": 32, "B": 32})
    assert best is None and reason == "not separated: Holm-corrected p = 1 against B"


def test_no_leader_below_min_rows():
    b = np.arange(8.0)
    tests = paired_tests(_frame(b + 1.0, b, range(8)), methods=["A", "B"], column="score")
    assert tests["n"].iloc[0] == 8 and math.isnan(tests["p_value"].iloc[0]) and "8 < 10 units" in tests["note"].iloc[0]
    assert leader({"A": 4.5, "B": 3.5}, tests, higher_is_better=True, n_rows={"A": 8, "B": 8}) == (
        None, "n = 8 < 10 rows for A")
    # enough rows but too few units (40 rows of 8 scenes): not tested, no leader
    assert leader({"A": 4.5, "B": 3.5}, tests, higher_is_better=True, n_rows={"A": 40, "B": 40}) == (
        None, "not separated: n = 8 < 10 units against B")


def test_scene_rows_are_averaged_before_the_test():
    scenes = np.repeat(np.arange(12), 4)
    b = np.repeat(np.linspace(0, 1, 12), 4)
    within = np.tile([-0.9, 0.3, 0.3, 0.3], 12)  # sums to 0 in each scene: scene differences are exactly 1
    tests = paired_tests(_frame(b + 1.0 + within, b, scenes), methods=["A", "B"], column="score")
    row = tests.iloc[0]
    assert row["n"] == 12  # scenes, not the 48 rows
    assert row["median_difference"] == pytest.approx(1.0)  # the row-level median would be 1.3


def test_seeds_are_averaged_per_unit_and_the_family_is_the_table():
    rng = np.random.default_rng(4)
    base = rng.normal(size=20)
    units = np.tile(np.arange(20), 3)
    seeds = np.repeat([0, 1, 2], 20)
    a = np.r_[base + 0.5, base + 1.0, base + 1.5]  # seed means average to base + 1 on every clip
    c = np.r_[base, base, base] + rng.normal(scale=0.05, size=60)
    df = pd.concat([_frame(a, np.r_[base, base, base], units, seeds),
                    pd.DataFrame({"method": "C", "uid": units, "seed": seeds, "score": c})], ignore_index=True)
    tests = paired_tests(df, methods=["A", "B", "C"], column="score")
    assert list(zip(tests["a"], tests["b"], strict=True)) == [("A", "B"), ("A", "C"), ("B", "C")]
    ab = tests.iloc[0]
    assert ab["n"] == 20 and ab["median_difference"] == pytest.approx(1.0)
    assert (tests["family"] == 3).all()
    other = tests.assign(column="other")
    table = holm_table(pd.concat([tests, other], ignore_index=True))
    assert (table["family"] == 6).all()
    # the smallest p-value of a family of 6 is multiplied by 6, the largest taken as is (or the running max)
    assert table["p_holm"].min() == pytest.approx(6 * tests["p_value"].min())
    assert (table["p_holm"] >= np.r_[tests["p_holm"], tests["p_holm"]]).all()
    with pytest.raises(ParameterError, match="column="):
        leader({"A": 1.0, "B": 0.0, "C": 0.0}, table, higher_is_better=True, n_rows={"A": 60, "B": 60, "C": 60})
    best, _ = leader({"A": 1.0, "B": 0.0, "C": 0.01}, table, higher_is_better=True,
                     n_rows={"A": 60, "B": 60, "C": 60}, column="score")
    assert best == "A"


def test_paired_tests_and_leader_reject_bad_input():
    df = _frame(np.arange(12.0), np.arange(12.0), range(12))
    with pytest.raises(ParameterError, match="at least two"):
        paired_tests(df, methods=["A"], column="score")
    with pytest.raises(ParameterError, match="no row"):
        paired_tests(df, methods=["A", "Z"], column="score")
    with pytest.raises(ParameterError, match="no column"):
        paired_tests(df, methods=["A", "B"], column="missing")
    raw = pd.DataFrame({"a": ["A"], "b": ["B"], "n": [12], "median_difference": [1.0], "p_value": [0.01]})
    with pytest.raises(ParameterError, match="holm_table"):
        leader({"A": 1.0, "B": 0.0}, raw, higher_is_better=True, n_rows={"A": 12, "B": 12})
    with pytest.raises(ParameterError, match="n_rows"):
        leader({"A": 1.0, "B": 0.0}, holm_table(raw), higher_is_better=True, n_rows={"A": 12})


def test_new_names_are_exported():
    import l2i_core.evaluate as evaluate

    for name in ("MIN_ROWS", "exact_proportion_ci", "cluster_bootstrap_ci", "proportion_cell", "mean_cell",
                 "per_seed_means", "holm", "paired_tests", "holm_table", "leader"):
        assert name in stats.__all__ and name in evaluate.__all__
        assert getattr(evaluate, name) is getattr(stats, name)
