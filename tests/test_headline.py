"""l2i_core.report.headline: a published number stands in a column of ours only for the same quantity on the
same data with the same protocol; otherwise it goes to a labelled "closest published setting" table that says
what differs. The paper's FF (a probability drop) is set beside our probability drop, never the logit drop;
SpeechBrain's numbers stand beside none of ours. Notebooks 04 and 05 show the paper the same way."""

from __future__ import annotations

import dataclasses
import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

from l2i_core.paper import PAPER, PAPER_SPREADS, SPEECHBRAIN_ESC50, setting_of
from l2i_core.report.headline import (
    PAPER_VALUES,
    HeadlineRow,
    closest_published,
    closest_published_table,
    headline_rows,
    readme_markdown,
    speechbrain_markdown,
    what_differs,
)
from l2i_core.report.plots import PAPER_FF_LABEL, plot_faithfulness
from l2i_core.report.results import fidelity_table, paper_fidelity_table

matplotlib.use("Agg")

TAUS = (0.9, 0.7, 0.5, 0.3, 0.1)
KEY = "fidelity_esc50/L2I attention/top1"


def _ff(logit: float, prob: float) -> dict:
    return {"median_logit_drop": logit, "median_prob_drop": prob, "random": 0.0, "components_median": 3.0}


def _record(dataset: str, protocol: str = "p", **extra) -> dict:
    heads = {"attention": {"top1": 60.0, "top3": 80.0, "top5": 90.0}}
    return {"dataset": dataset, "preset": "cpu", **extra, "results": {
        "fidelity": {"heads": heads, "split": "test", "protocol": protocol},
        "faithfulness_attention": {"head": "attention", "protocol": protocol,
                                   "ff": {str(t): _ff(10 * t, t / 10) for t in TAUS}},
        "faithfulness_max": {"head": "max", "protocol": protocol, "ff": {str(t): _ff(t, t / 100) for t in TAUS}}}}


# -- the same column: same quantity, same data, same protocol ---------------------------------------------
@pytest.mark.parametrize("dataset", ["esc10", "esc50-fold4", "urbanmix", "esc50"])
def test_a_row_refuses_a_paper_value_in_its_column_for_other_data_or_protocol(dataset):
    with pytest.raises(ValueError, match="not the same data and protocol"):
        HeadlineRow(dataset, "fidelity", "top1_fidelity", "attention Θ top-1 fidelity", 60.0, "", head="attention",
                    percent=True, protocol="esc50: test fold 1, validation fold 2, train folds 3, 4, 5",
                    paper_key=KEY)


def test_a_run_on_the_papers_data_and_protocol_would_get_the_column():
    p = PAPER_VALUES[KEY]
    row = HeadlineRow("esc50", "fidelity", "top1_fidelity", "x", 60.0, "", head="attention", percent=True,
                      protocol=p.protocol, paper_key=KEY)
    assert row.paper_text == "65.7 % (spread not recorded here)"
    # headline_rows gives the column to the paper's protocol only; our one-split esc50 gets the closest table
    same = {r.metric: r for r in headline_rows(_record("esc50", protocol=p.protocol))}
    assert same["top1_fidelity"].paper_key == KEY and same["top1_fidelity"].closest_key is None
    ours = {r.metric: r for r in headline_rows(_record("esc50", protocol="esc50: test fold 1"))}
    assert ours["top1_fidelity"].paper_key is None and ours["top1_fidelity"].closest_key == KEY
    with pytest.raises(ValueError, match="needs no closest"):
        HeadlineRow("esc50", "fidelity", "top1_fidelity", "x", 60.0, "", head="attention", percent=True,
                    protocol=p.protocol, paper_key=KEY, closest_key=KEY)


def test_other_data_get_no_paper_value_at_all():
    rows = headline_rows(_record("fsdd"))  # spoken digits: nothing of the paper is close
    assert not any(r.paper_key or r.closest_key for r in rows)


# -- FF: the probability drop, never the logit drop ----------------------------------------------------
def test_the_papers_ff_pairs_with_the_probability_drop_not_the_logit_drop():
    rows = headline_rows(_record("esc10"))
    prob = {r.tau: r for r in rows if r.metric == "ff_median_prob_drop" and r.head == "attention"}
    logit = [r for r in rows if r.metric == "ff_median_logit_drop"]
    assert {t: r.closest_key for t, r in prob.items()} == {t: f"faithfulness_esc50/{t}" for t in TAUS}
    assert {t: (r.value, r.closest.value) for t, r in prob.items()} == {
        t: (pytest.approx(t / 10), PAPER["faithfulness_esc50"][t]) for t in TAUS}
    assert logit and not any(r.closest_key or r.paper_key for r in logit)  # ours only, labelled as a logit drop
    assert all("logit drop" in r.label for r in logit)
    assert not any(r.closest_key for r in rows if r.metric == "ff_median_prob_drop" and r.head == "max")
    # only the attention head's probability drop at the README's τ goes to the README's closest table
    assert {(r.head, r.tau) for r in rows if r.readme_closest and r.metric.startswith("ff")} == {
        ("attention", 0.5), ("attention", 0.3), ("attention", 0.1)}
    # a multi-label run's probability drop is a sigmoid's: not the paper's (softmax) FF
    ml = headline_rows(_record("urbanmix", multilabel=True))
    assert not any(r.closest_key for r in ml if r.metric.startswith("ff"))


# -- the closest published table says what differs ------------------------------------------------------
def test_closest_table_lists_the_papers_value_spread_setting_and_what_differs():
    table = closest_published_table(headline_rows(_record("esc10")))
    assert list(table.columns) == ["data (ours)", "metric (ours)", "ours", "paper (± spread)", "paper's setting",
                                   "what differs"]
    assert len(table) == 3 + 5  # top-1/3/5 of the attention head, FF at 5 τ
    top1 = table[table["metric (ours)"].str.contains("top-1")].iloc[0]
    assert top1["ours"] == "60.0 %" and top1["paper (± spread)"] == "65.7 % (spread not recorded here)"
    assert top1["paper's setting"] == "ESC-50, 50 classes, 5-fold cross-validation, mean over 5 folds"
    differs = top1["what differs"]
    for part in ("ESC-10, 10 classes (paper: ESC-50, 50 classes)", "one split (test fold 1), one training seed",
                 "(paper: 5-fold cross-validation, mean over 5 folds)", "our CNN, trained from scratch",
                 "Θ kept on our validation split (paper: the epoch of best fidelity on the test fold"):
        assert part in differs, part
    assert "max-pooled H" not in differs  # relevance is FF's, not fidelity's
    ff = table[table["metric (ours)"] == "attention Θ FF median probability drop, τ = 0.1"].iloc[0]
    assert ff["paper (± spread)"] == "0.113 (spread not recorded here)"
    assert "relevance from Θ's own attention pooling (paper: max-pooled H" in ff["what differs"]
    assert "mean of the 5 folds' medians" in ff["paper's setting"]


def test_what_differs_names_each_dataset_and_classifier():
    rows = {r.dataset: r for d, preset in (("esc50-fold4", "efficientat"), ("urbanmix", "efficientat"))
            for r in headline_rows({**_record(d, multilabel=d == "urbanmix"), "preset": preset}) if r.closest_key}
    fold4 = what_differs(rows["esc50-fold4"])
    assert "414 ESC-50 clips (fold 4 + 14), 50 classes" in fold4 and "one grouped 60/20/20 split" in fold4
    assert "EfficientAT mn04 (AudioSet), fine-tuned here" in fold4
    assert what_differs(HeadlineRow("esc10", "x", "ff_components_median", "x", 1.0, "")) == ""


def test_a_recorded_spread_is_printed_beside_the_value():
    p = dataclasses.replace(PAPER_VALUES[KEY], spread=1.2)
    assert p.text == "65.7 ± 1.2 %"
    q = dataclasses.replace(PAPER_VALUES["faithfulness_esc50/0.3"], spread=0.01)
    assert q.text == "0.04 ± 0.01"


def test_paper_py_records_a_setting_for_every_value_and_no_invented_spread():
    for p in PAPER_VALUES.values():
        s = setting_of(p.setting)
        assert s["data"] and s["classes"] and s["protocol"] and s["classifier"], p.key
    assert "test fold" in setting_of("fidelity_esc50")["checkpoint"]
    assert "max-pooled" in setting_of("faithfulness_esc50")["relevance"]
    assert setting_of("fidelity_sonyc")["repeats"] == "mean over 3 runs"

    def leaves(d):
        return [x for v in d.values() for x in (leaves(v) if isinstance(v, dict) else [v])]

    assert len(leaves(PAPER_SPREADS)) == len(leaves(PAPER)) and set(leaves(PAPER_SPREADS)) == {None}


# -- README and index: SpeechBrain apart --------------------------------------------------------------------
def test_speechbrain_numbers_stand_beside_none_of_ours(tmp_path):
    record = _record("esc10")
    record["results"]["comparison"] = {"split": "test", "conditions": {"clean": {
        "L-MAC": {"rows": 80, "AI": {"mean": 36.25, "low": 26.25, "high": 47.5}}}}}
    rows = headline_rows(record)
    ai = next(r for r in rows if r.metric == "compare_clean_AI")
    assert ai.baseline == "95 % CI [26.25, 47.50]" and "SpeechBrain" not in ai.baseline
    (tmp_path / "esc10").mkdir()
    (tmp_path / "esc10" / "results.json").write_text(json.dumps(record))
    text = readme_markdown(tmp_path)
    main, rest = text.split("**Closest published setting.**")
    assert "61.62" not in main and "SpeechBrain" not in main
    sb = speechbrain_markdown()
    assert rest.rstrip().endswith(sb)
    assert "validation fold" in sb and "class 0" in sb and "never loaded" in sb
    assert f"| L-MAC | {SPEECHBRAIN_ESC50['L-MAC']['AI']:g} |" in sb


def test_a_row_label_names_its_condition_once():
    record = _record("urbanmix")
    stat = {"mean": -4.0, "low": -6.0, "high": -2.0}
    record["results"]["comparison"] = {"split": "test", "conditions": {
        "scenes": {"L2I (attention)": {"rows": 60, "si_sdri": stat}},
        "mixture": {"L2I (attention)": {"rows": 80, "si_sdri": stat}},
        "clean": {"L2I (attention)": {"rows": 80, "AI": {"mean": 45.0, "low": 33.75, "high": 56.25}}}}}
    labels = {r.metric: r.label for r in headline_rows(record)}
    assert labels["compare_scenes_si_sdri"] == "L2I (attention): SI-SDRi vs the scene (dB), scenes"
    assert labels["compare_mixture_si_sdri"] == "L2I (attention): SI-SDRi vs the input (dB), 0.8/0.2 mixtures"
    assert labels["compare_clean_AI"] == "L2I (attention): AI (%), clean"


# -- notebooks 04 and 05 -----------------------------------------------------------------------------------
def test_notebook_tables_keep_the_paper_out_of_our_columns():
    ours = fidelity_table({"attention": {"top1": 60.0, "top3": 80.0, "top5": 90.0}}, multilabel=False)
    assert list(ours.index) == ["L2I attention (ours)"]
    paper = paper_fidelity_table(multilabel=False)
    assert list(paper.index) == ["L2I attention (paper)", "L2I max-pool (paper)", "FLINT (paper)", "VIBI (paper)"]
    assert paper.loc["VIBI (paper)", "top1"] == 27.7 and set(paper["± spread"]) == {"spread not recorded here"}
    assert set(paper["setting"]) == {"ESC-50, 50 classes, 5-fold cross-validation, mean over 5 folds"}


def test_notebook_05_closest_table_is_the_attention_probability_drop_only():
    ff = {str(t): _ff(10 * t, t / 10) for t in TAUS}
    att = closest_published("esc10", {"faithfulness_attention": {"head": "attention", "ff": ff}}, preset="cpu",
                            multilabel=False)
    assert list(att["paper (± spread)"]) == [f"{PAPER['faithfulness_esc50'][t]:.3g} (spread not recorded here)"
                                             for t in TAUS]
    assert all("probability drop" in m for m in att["metric (ours)"])
    assert closest_published("esc10", {"faithfulness_max": {"head": "max", "ff": ff}}, multilabel=False).empty
    assert closest_published("urbanmix", {"faithfulness_attention": {"head": "attention", "ff": ff}},
                             multilabel=True).empty


def test_plot_faithfulness_sets_the_paper_beside_the_probability_drop():
    summary = pd.DataFrame({"FF logit (median)": [0.5, 1.0], "random (median)": [0.0, 0.1],
                            "random active (median)": [0.01, 0.2], "FF prob (median)": [0.05, 0.2],
                            "random prob (median)": [0.0, 0.01]}, index=[0.9, 0.1])
    fig = plot_faithfulness(summary, paper=PAPER["faithfulness_esc50"])
    ax_p, ax_l = fig.axes
    by_label = {ln.get_label(): ln for ln in ax_p.get_lines()}
    np.testing.assert_allclose(by_label["L2I (ours)"].get_ydata(), [0.05, 0.2])  # the probability drop
    paper = by_label[PAPER_FF_LABEL]
    np.testing.assert_allclose(paper.get_xdata(), sorted(TAUS))
    np.testing.assert_allclose(paper.get_ydata(), [PAPER["faithfulness_esc50"][t] for t in sorted(TAUS)])
    assert "another setting" in PAPER_FF_LABEL and "max-pooled" in PAPER_FF_LABEL
    logit = {ln.get_label(): ln for ln in ax_l.get_lines()}
    np.testing.assert_allclose(logit["L2I (ours)"].get_ydata(), [0.5, 1.0])
    assert PAPER_FF_LABEL not in logit  # no paper value beside the logit drop
    assert "probability" in ax_p.get_ylabel() and "logit" in ax_l.get_ylabel()
    matplotlib.pyplot.close(fig)


def test_sanity_verdicts_and_model_truth_reach_the_readme_rows_with_their_references():
    """Notebook 08's sanity check and ground truth about f become rows whose values and texts are the record's."""
    sanity = {"table": [{"method": "L-MAC", "randomised": "none (control)", "rho": 0.86, "low": 0.8, "high": 0.9, "n": 16},
                        {"method": "L-MAC", "randomised": "all layers", "rho": 0.12, "low": 0.05, "high": 0.2, "n": 16},
                        {"method": "random", "randomised": "all layers", "rho": 1.0, "low": None, "high": None, "n": 16}],
              "verdicts": [{"method": "L-MAC", "verdict": "passes", "reason": "separated"},
                           {"method": "random", "verdict": "fails", "reason": "not separated"}],
              "budgets": {"L-MAC": 40}}
    truth = {"band": {"table": [{"method": "L2I (attention)", "mass inside": 0.21, "low": 0.18, "high": 0.25,
                                 "clips": 80, "chance": 0.42, "rank accuracy": 0.3, "interval": "percentile bootstrap"}],
                      "classifier": {"test_accuracy": 0.75}, "explainer_epochs": {"l2i": 35}},
             "planted": {"table": [{"method": "L-MAC", "mass inside": 0.006, "low": 0.004, "high": 0.009, "clips": 80,
                                    "chance": 0.001, "rank accuracy": 0.05}],
                         "shortcut": {"accuracy_with": 0.9, "accuracy_without": 0.9, "chance": 0.1, "n": 80,
                                      "relies_on_marker": False}}}
    comparison = {"sanity": sanity, "split": "test", "protocol": "test fold 1"}
    record = {"dataset": "esc10", "preset": "cpu", "results": {"comparison": comparison, "model_truth": truth}}
    rows = {r.metric: r for r in headline_rows(record)}
    lmac = rows["sanity_L-MAC"]
    assert lmac.value == 0.12 and lmac.readme and "passes: separated" in lmac.baseline
    assert "own control ρ 0.86 (retrained, 40 epochs)" in lmac.baseline and "n = 16" in lmac.baseline
    rnd = rows["sanity_random"]  # no bounds recorded: no interval printed, and no control row: no control value
    assert rnd.value == 1.0 and "fails" in rnd.label and "no interval" in rnd.baseline and rnd.readme
    band = rows["truth_band_L2I (attention)"]
    assert band.value == 0.21 and band.readme and "chance 0.42" in band.baseline and "[0.18, 0.25]" in band.baseline
    assert "f's test accuracy 75" in band.baseline and "n = 80 units" in band.baseline
    assert "one seed: L2I heads 35 epochs" in band.baseline  # its budget and seeds
    assert band.where == "esc10; test split; test fold 1"  # the comparison's split and protocol: the same test clips
    shortcut = rows["truth_planted_shortcut"]
    assert shortcut.value == pytest.approx(90.0) and "without it 90" in shortcut.baseline and "n = 80 clips" in shortcut.baseline
    # an f that does not rely on its marker: said on the check's row and on every explainer's row
    assert "f does not rely on the marker" in shortcut.baseline
    assert rows["truth_planted_L-MAC"].label.endswith("(f does not rely on it)")


@pytest.mark.parametrize("multilabel", [False, True])
def test_classifier_table_keeps_published_values_out_of_our_column(multilabel):
    """Notebook 02: our score in `ours`, the paper's (other data) only in the published column, with what differs."""
    from l2i_core.report.results import PUBLISHED_COLUMN, classifier_table

    scores = {"macro_auprc": 0.9071, "accuracy": 0.855}
    t = classifier_table("esc10" if not multilabel else "urbanmix", scores, "one split", multilabel=multilabel)
    ours = t["ours"].dropna().tolist()
    assert ours == [0.907 if multilabel else 85.5]  # one value of ours, ours alone in its column
    published = t[t[PUBLISHED_COLUMN].notna()]
    assert len(published) == len(t) - 1 and published["ours"].isna().all()
    assert (PAPER["classifier"]["sonyc_macro_auprc"] if multilabel
            else round(100 * PAPER["classifier"]["esc50_accuracy"], 1)) in published[PUBLISHED_COLUMN].tolist()
    assert published["what differs"].str.len().gt(10).all()
