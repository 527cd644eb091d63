"""The comparison's tables (l2i_core.evaluate.tables) on rows whose answers are known by construction."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from l2i_core._errors import ParameterError
from l2i_core.evaluate.tables import ReviewerTable, per_seed_table, reviewer_table

HIGHER = {"AI": True, "score": True}


def _frame(n=30, *, shift=1.0, seeds=(0,), methods=("A", "B", "random")):
    rng = np.random.default_rng(0)
    rows = []
    for s in seeds:
        for m in methods:
            base = {"A": shift, "B": 0.0, "random": -5.0}.get(m, 0.0)
            for u in range(n):
                rows.append({"condition": "clean", "method": m, "seed": s, "uid": f"c{u}",
                             "score": base + rng.normal(0, 0.1), "AI": 100.0 * (u % 4 == 0),
                             "explains_label": u % 2 == 0})
    return pd.DataFrame(rows)


def test_a_clear_difference_names_the_leader_and_the_reference_is_never_a_contestant():
    t = reviewer_table(_frame(), "clean", ["score"], higher_is_better=HIGHER)
    v = t.verdicts.set_index("column")
    assert v.loc["score", "leader"] == "A" and "Holm-corrected" in v.loc["score", "reason"]
    # the random reference has the lowest score by construction and is not in any test
    assert set(t.tests["a"]) | set(t.tests["b"]) == {"A", "B"}
    assert ("random", "score") in t.cells


def test_identical_methods_have_no_leader():
    t = reviewer_table(_frame(shift=0.0), "clean", ["score"], higher_is_better=HIGHER)
    assert t.verdicts.loc[0, "leader"] is None and "not separated" in t.verdicts.loc[0, "reason"]


def test_below_ten_units_no_interval_and_no_leader_even_with_a_large_difference():
    t = reviewer_table(_frame(n=8, shift=5.0), "clean", ["score"], higher_is_better=HIGHER)
    cell = t.cells[("A", "score")]
    assert cell["n"] == 8 and np.isnan(cell["low"]) and np.isnan(cell["high"])
    assert t.verdicts.loc[0, "leader"] is None and "8 < 10" in t.verdicts.loc[0, "reason"]
    assert "no interval" in t.frame().loc["A", "score"]


def test_a_proportion_of_independent_clips_gets_the_clopper_pearson_interval():
    t = reviewer_table(_frame(n=40), "clean", ["AI"], higher_is_better=HIGHER)
    cell = t.cells[("A", "AI")]
    k = 10  # every fourth of 40 clips
    ci = binomtest(k, 40).proportion_ci(confidence_level=0.95, method="exact")
    assert cell["method"] == "Clopper-Pearson" and cell["estimate"] == pytest.approx(25.0)
    assert cell["low"] == pytest.approx(100 * ci.low) and cell["high"] == pytest.approx(100 * ci.high)


def test_several_seeds_resample_seeds_and_clips_and_count_them():
    t = reviewer_table(_frame(seeds=(0, 1, 2)), "clean", ["score", "AI"], higher_is_better=HIGHER)
    cell = t.cells[("A", "score")]
    assert (cell["n"], cell["n_clusters"], cell["n_seeds"]) == (90, 30, 3)
    assert cell["method"].startswith("two-level bootstrap")
    assert t.cells[("A", "AI")]["method"].startswith("two-level bootstrap")  # no longer independent trials
    assert "3 seeds" in t.frame().loc["A", "n"]
    ps = per_seed_table(_frame(seeds=(0, 1, 2)), "clean", ["score"])
    assert len(ps) == 9 and ps.loc[("random", 1), "score"] < -4


def test_scenes_are_resampled_as_units():
    df = _frame(n=30)
    df["uid"] = df["uid"].str[1:].astype(int) // 3  # 10 scenes of 3 rows each
    t = reviewer_table(df, "clean", ["score"], higher_is_better=HIGHER)
    cell = t.cells[("A", "score")]
    assert (cell["n"], cell["n_clusters"]) == (30, 10) and cell["method"] == "cluster bootstrap (scenes)"


def test_ground_truth_only_keeps_the_rows_of_the_stems_class():
    t = reviewer_table(_frame(), "clean", ["score"], higher_is_better=HIGHER, ground_truth_only=True)
    assert t.cells[("A", "score")]["n"] == 15


def test_the_holm_correction_covers_every_metric_of_the_table():
    t = reviewer_table(_frame(seeds=(0,)), "clean", ["score", "AI"], higher_is_better=HIGHER)
    assert len(t.tests) == 2 and set(t.tests["family"]) == {2}
    assert isinstance(t, ReviewerTable) and set(t.record()["cells"]) == {"A", "B", "random"}


def test_bad_input_says_what_to_do():
    with pytest.raises(ParameterError, match="no rows of condition"):
        reviewer_table(_frame(), "noisy", ["score"], higher_is_better=HIGHER)
    with pytest.raises(ParameterError, match="'scene'"):
        reviewer_table(_frame(), "clean", ["score"], higher_is_better=HIGHER, unit="scene")
