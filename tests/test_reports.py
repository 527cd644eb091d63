"""l2i_core.report.headline and the typed sections of l2i_core.report.results: the paper's value only beside the
identical quantity, the index and the README tables from one set of rows, benchmarks with their files."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from l2i_core._errors import ParameterError
from l2i_core.paper import PAPER
from l2i_core.report.headline import (
    BENCHMARKS_END,
    BENCHMARKS_START,
    PAPER_VALUES,
    README_END,
    README_START,
    HeadlineRow,
    benchmark_rows,
    benchmarks_markdown,
    headline_rows,
    readme_markdown,
    readme_rows,
    write_index,
    write_readme,
)
from l2i_core.report.results import FidelitySection, parse_section, read_sections, update_results

ROOT = Path(__file__).resolve().parents[1]

FF = {"median_logit_drop": 0.4, "median_prob_drop": 0.05, "random": 0.0, "random_active": 0.001,
      "beats_random_pct": 80.0, "beats_random_active_pct": 75.0, "components_median": 14.0}
MULTI = {"macro_auprc": 0.8, "micro_auprc": 0.75, "max_f1": 0.7, "micro_over": "all",
         "micro_auprc_predicted_only": 0.9, "max_f1_predicted_only": 0.85, "ap_macro": 0.81, "ap_micro": 0.8,
         "excluded_classes": ["music"]}


def _record(dataset: str, multilabel: bool) -> dict:
    heads = {h: (dict(MULTI) if multilabel else {"top1": 86.25, "top3": 97.5, "top5": 100.0}) for h in ("attention", "max")}
    clf = {"macro_auprc": 0.87} if multilabel else {"accuracy": 0.8625}
    results = {
        "classifier": {**clf, "split": "test", "protocol": "p", "n_clips": 80},
        "interpreter": {"heads": {h: {"fidelity": heads[h], "selection_metric": "s", "relative_error": 0.5}
                                  for h in heads}, "nmf_relative_error": 0.35},
        "fidelity": {"heads": heads, "split": "test"},
        "corruptions_attention": {"head": "attention", "noise": {"fidelity_clean": 86.0, "fidelity_noisy": 80.0},
                                  "mixtures": {"pairs": 6, "l2i_beats_random_si_sdr_pct": 66.7,
                                               "by_method": {"L2I": {"si_sdr_median": -1.0}}}},
    }
    for h in ("attention", "max"):
        results[f"faithfulness_{h}"] = {"head": h, "ff": {str(t): dict(FF) for t in (0.9, 0.7, 0.5, 0.3, 0.1)},
                                        "deletion_area": 0.6, "random_deletion_area": 0.8, "mask_in": {"AI": 45.0}}
    return {"dataset": dataset, "quick": False, "results": results,
            "steps": [{"notebook": "00_data.ipynb", "html": "00_data.html", "seconds": 60.0}]}


#: The quantities (metric, head, τ) of ours that the paper also reports, by task: the rows that get the
#: paper's value as their closest published setting (the paper's FF is the attention head's probability drop).
ESC_CLOSEST = ({("classifier_accuracy", None, None)}
               | {(f"top{k}_fidelity", h, None) for k in (1, 3, 5) for h in ("attention", "max")}
               | {("ff_median_prob_drop", "attention", t) for t in (0.9, 0.7, 0.5, 0.3, 0.1)})
SONYC_CLOSEST = {(f"fidelity_{k}", h, None) for k in ("macro_auprc", "micro_auprc", "max_f1") for h in ("attention", "max")}


def test_paper_values_come_from_paper_py():
    assert PAPER_VALUES["fidelity_esc50/L2I max-pool/top1"].value == PAPER["fidelity_esc50"]["L2I max-pool"]["top1"]
    assert PAPER_VALUES["faithfulness_esc50/0.1"].value == PAPER["faithfulness_esc50"][0.1]
    # the paper's FF is a probability drop of the attention head: no paper value is a logit drop
    assert {(p.metric, p.head) for p in PAPER_VALUES.values() if p.key.startswith("faithfulness")} == {
        ("ff_median_prob_drop", "attention")}
    assert not any(p.metric == "ff_median_logit_drop" for p in PAPER_VALUES.values())
    assert PAPER_VALUES["classifier/esc50_accuracy"].value == pytest.approx(82.5)
    # no spread is recorded in paper.py today, and every value says so
    assert {p.spread for p in PAPER_VALUES.values()} == {None}
    assert PAPER_VALUES["faithfulness_esc50/0.9"].text == "0.002 (spread not recorded here)"
    assert PAPER_VALUES["fidelity_esc50/L2I attention/top1"].text == "65.7 % (spread not recorded here)"
    assert {p.dataset for p in PAPER_VALUES.values()} == {"esc50", "sonyc"}


def test_a_row_refuses_a_paper_value_of_another_quantity():
    with pytest.raises(ValueError, match="is not the quantity"):
        HeadlineRow("esc10", "faithfulness_max", "ff_median_prob_drop", "x", 0.1, "", head="max", tau=0.9,
                    closest_key="faithfulness_esc50/0.9")
    with pytest.raises(ValueError, match="is not the quantity"):
        HeadlineRow("esc10", "faithfulness_attention", "ff_components_median", "x", 14.0, "", head="attention",
                    tau=0.1, closest_key="faithfulness_esc50/0.1")
    with pytest.raises(ValueError, match="is not the quantity"):  # the paper's FF is no logit drop
        HeadlineRow("esc10", "faithfulness_attention", "ff_median_logit_drop", "x", 1.1, "", head="attention",
                    tau=0.5, closest_key="faithfulness_esc50/0.5")
    with pytest.raises(ValueError, match="is not the quantity"):  # a multi-label probability drop is a sigmoid's
        HeadlineRow("urbanmix", "faithfulness_attention", "ff_median_prob_drop", "x", 0.1, "", head="attention",
                    tau=0.5, task="multi-label", closest_key="faithfulness_esc50/0.5")


@pytest.mark.parametrize("dataset,multilabel,expected", [("esc10", False, ESC_CLOSEST),
                                                         ("esc50-fold4", False, ESC_CLOSEST),
                                                         ("urbanmix", True, SONYC_CLOSEST)])
def test_exactly_the_paper_quantities_get_a_closest_value_and_none_a_column(dataset, multilabel, expected):
    rows = headline_rows(_record(dataset, multilabel))
    assert not any(r.paper_key for r in rows)  # none of our datasets is the paper's data and protocol
    assert {(r.metric, r.head, r.tau) for r in rows if r.closest_key} == expected
    by = {(r.metric, r.head, r.tau): r.closest for r in rows if r.closest_key}
    if multilabel:
        assert by[("fidelity_macro_auprc", "attention", None)].value == 0.909
        assert by[("fidelity_max_f1", "max", None)].value == 0.84
        only = [r for r in rows if r.metric == "fidelity_micro_auprc"]
        assert only[-1].baseline == "predicted classes only 0.9"  # both variants are shown
    else:
        assert by[("top1_fidelity", "attention", None)].value == 65.7
        assert by[("top5_fidelity", "max", None)].value == 92.7
        assert by[("ff_median_prob_drop", "attention", 0.3)].value == 0.040
        assert by[("classifier_accuracy", None, None)].value == pytest.approx(82.5)


def test_older_runs_without_micro_over_get_no_paper_micro_value():
    old = _record("urbanmix", True)
    for h in old["results"]["fidelity"]["heads"].values():
        del h["micro_over"]
    rows = [r for r in headline_rows(old) if r.section == "fidelity"]
    assert not any(r.paper_key or r.closest_key for r in rows if "micro" in r.metric or "max_f1" in r.metric)
    assert any(r.metric == "fidelity_micro_auprc_predicted_only" for r in rows)


def test_index_rows_carry_their_keys_and_the_closest_table(tmp_path):
    for name, ml in (("esc10", False), ("urbanmix", True)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(_record(name, ml)))
    index = write_index(tmp_path).read_text()
    found = re.findall(r'<tr data-metric="([^"]*)" data-paper-key="([^"]*)" data-closest-key="([^"]*)" '
                       r'data-where="[^"]*"><td>([^<]*)</td>', index)
    assert len(found) == sum(len(headline_rows(_record(n, m))) for n, m in (("esc10", False), ("urbanmix", True)))
    assert {key for _, key, _, _ in found} == {""}  # no paper value in a column of ours
    assert "paper (same data and protocol)" not in index
    closest = {(html.unescape(label), key) for _, _, key, label in found if key}
    assert ("attention Θ FF median probability drop, τ = 0.5", "faithfulness_esc50/0.5") in closest
    assert not any("logit" in label for label, _ in closest)
    # esc10: accuracy, top-k of notebooks 03 and 04 (2 heads x 3 x 2), FF at 5 τ; urbanmix: 2 x 3 x 2 AUPRC / max-F1
    assert len(closest) == (1 + 12 + 5) + 12
    # each dataset's closest-published table: one line per such row, the paper's value, what differs
    assert index.count("Closest published setting</h3>") == 2
    lines = re.findall(r'<tr data-metric="[^"]*" data-closest-key="([^"]*)">(.*?)</tr>', index)
    assert len(lines) == len(closest)
    ff = next(cells for key, cells in lines if key == "faithfulness_esc50/0.5")
    assert "0.012 (spread not recorded here)" in ff and "max-pooled H" in html.unescape(ff)
    assert "SpeechBrain" not in index  # no comparison section in these records: no SpeechBrain table


def test_readme_tables_have_no_paper_column_and_a_labelled_closest_table(tmp_path):
    (tmp_path / "esc10").mkdir()
    (tmp_path / "esc10" / "results.json").write_text(json.dumps(_record("esc10", False)))
    text = readme_markdown(tmp_path)
    main, rest = text.split("**Closest published setting.**")
    rows = readme_rows(tmp_path)
    table = main.strip().splitlines()[2:]
    assert main.startswith("| data (test split) | metric | ours | beside it |\n")  # no paper column
    assert len(table) == len(rows) > 5
    for line, r in zip(table, rows):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[:3] == [r.data, r.label, r.ours] and len(cells) == 4
    closest = [line for line in rest.splitlines() if line.startswith("| esc10")]
    # classifier + 6 top-k + the FF probability drop at the README's 3 τ; FF prob drop here is 0.05
    assert len(closest) == 10
    ff = [c.strip() for c in next(line for line in closest if "τ = 0.1" in line).strip("|").split("|")]
    assert ff[1:4] == ["attention Θ FF median probability drop, τ = 0.1", "0.05", "0.113 (spread not recorded here)"]
    assert "ESC-50, 50 classes, 5-fold cross-validation" in ff[4] and "ESC-10, 10 classes" in ff[5]


def test_committed_reports_set_the_paper_apart_and_ff_beside_the_probability_drop():
    """The committed runs (esc10, esc50-fold4, urbanmix) are none of them the paper's data and protocol:
    no paper value in a column; the paper's FF beside each run's own median probability drop."""
    for path in sorted((ROOT / "reports").glob("*/results.json")):
        record = json.loads(path.read_text())
        rows = headline_rows(record)
        assert not any(r.paper_key for r in rows), path
        ff = record["results"].get("faithfulness_attention", {}).get("ff", {})
        for r in rows:
            if r.closest_key and r.metric.startswith("ff"):
                assert r.metric == "ff_median_prob_drop" and r.value == ff[str(r.tau)]["median_prob_drop"]
        expected = ESC_CLOSEST if record["dataset"].startswith("esc") else SONYC_CLOSEST
        assert {(r.metric, r.head, r.tau) for r in rows if r.closest_key} <= expected, path


def test_typed_sections_read_fields_and_refuse_wrong_types(tmp_path):
    s = parse_section("fidelity", {"heads": {"max": dict(MULTI)}, "split": "test", "new_key": 1})
    assert isinstance(s, FidelitySection) and s.heads["max"].micro_auprc == 0.75 and s.extra == {"new_key": 1}
    assert read_sections({"fidelity": {"heads": {}}, "unknown": {"a": 1}}).keys() == {"fidelity"}
    with pytest.raises(ParameterError, match="must be a number"):
        update_results(tmp_path / "r.json", "classifier", {"accuracy": "high"})
    assert not (tmp_path / "r.json").exists()
    update_results(tmp_path / "r.json", "faithfulness_max", {"head": "max", "ff": {"0.5": FF}})
    assert json.loads((tmp_path / "r.json").read_text())["faithfulness_max"]["ff"]["0.5"] == FF


def test_benchmark_rows_name_their_file_and_cover_every_file(tmp_path):
    (tmp_path / "bench_interpreter_cpu.json").write_text(json.dumps(
        {"cached_epoch_seconds": 2.0, "recompute_epoch_seconds": 6.0, "ratio": 3.0, "device": "cpu", "threads": 2}))
    ratio = {"median": 0.96, "min": 0.9, "max": 1.0}
    (tmp_path / "bench_nmf_cpu.json").write_text(json.dumps({"n_frames": 10, "n_freq": 5, "K": 2, "iterations": 3,
        "same_problem": {"sides": {"sklearn": {}, "l2i_inner_iter_1": {
            "per_iteration_time_ratio": ratio, "time_to_same_objective_ratio": ratio, "iterations": 3}}},
        "what_is_solved": {"mu": 0.8, "sklearn_mean_atom_norm": 30.4, "sklearn_relative_error": 0.242,
                           "l2i_relative_error": 0.321}}))
    (tmp_path / "bench_nmf_gpu.json").write_text(json.dumps({"layout": "a summariser does not read this"}))
    (tmp_path / "something_new.json").write_text("{}")
    rows = benchmark_rows(tmp_path)
    assert {r["file"] for r in rows} == {"bench_interpreter_cpu.json", "bench_nmf_cpu.json", "bench_nmf_gpu.json",
                                         "something_new.json"}
    assert rows[0]["ours"] == "2 s vs 6 s: 3×"
    assert "per iteration 0.96 [0.9, 1]" in rows[1]["ours"] and "same problem (µ = 0)" in rows[1]["what"]
    assert "atom norm 30.4" in rows[2]["ours"] and "no speed comparison" in rows[2]["ours"]
    assert rows[3]["file"] == "bench_nmf_gpu.json" and rows[3]["what"] == "(no summary: read the file)"
    assert "`benchmarks/results/something_new.json`" in benchmarks_markdown(tmp_path)


def test_readme_tables_match_the_reports_and_the_benchmarks(tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = readme.split(README_START, 1)[1].split(README_END, 1)[0].strip()
    assert block == readme_markdown(ROOT / "reports").strip(), "run `l2i readme` (l2i_core.report.headline.write_readme)"
    bench = readme.split(BENCHMARKS_START, 1)[1].split(BENCHMARKS_END, 1)[0].strip()
    assert bench == benchmarks_markdown(ROOT / "benchmarks" / "results").strip(), "run `l2i readme`"
    copy = tmp_path / "README.md"
    copy.write_text(readme)
    assert write_readme(copy, ROOT / "reports", ROOT / "benchmarks" / "results") is False


def test_readme_drops_figures_no_recorded_run_backs():
    readme = (ROOT / "README.md").read_text()
    for figure in ("0.867 in 26 min", "0.878 / 0.857", "0.949 / 0.928", "87.5 % in 5.7 min", "0.85–1×"):
        assert figure not in readme, figure
