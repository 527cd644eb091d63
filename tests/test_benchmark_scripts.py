"""benchmarks/validation_curves.py on curves whose early-stopping points are known by construction, and
benchmarks/record_run.py's agreement count on result trees built to differ in known places."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


vc = _script("validation_curves")


def _hist(scores, key="val_selection_score"):
    return [{"epoch": e, key: s, "seconds": 1.0} for e, s in enumerate(scores)]


def test_patience_stops_after_the_best_and_keeps_its_checkpoint():
    scores = [0.0, 0.5, 0.99, 0.995, 0.9, 1.0] + [0.8] * 14  # best at epoch 5, then 14 worse epochs
    s = vc.curve_summary(_hist(scores), "val_selection_score")
    assert (s["epochs"], s["best_epoch"], s["best"]) == (20, 5, 1.0)
    assert s["patience_5"] == {"stops_after_epoch": 10, "same_checkpoint": True, "seconds_saved": 9.0}
    assert s["patience_10"] == {"stops_after_epoch": 15, "same_checkpoint": True, "seconds_saved": 4.0}
    assert s["near_best"]["epoch"] == 2  # 0.99 is within 2 % of the gain 1.0
    assert s["near_best"]["seconds_after"] == 17.0


def test_a_late_best_is_another_checkpoint_under_patience():
    scores = [0.1, 0.6] + [0.5] * 6 + [0.9]  # a plateau of 6 epochs, then the best at the last epoch
    s = vc.curve_summary(_hist(scores), "val_selection_score", patience=(5,))
    assert s["best_epoch"] == 8
    assert s["patience_5"]["stops_after_epoch"] == 6 and not s["patience_5"]["same_checkpoint"]
    assert s["near_best"]["epoch"] == 8 and s["near_best"]["seconds_after"] == 0.0


def test_run_curves_reads_every_sidecar_with_a_history(tmp_path):
    (tmp_path / "classifier.json").write_text(json.dumps({
        "metric": "accuracy", "history": _hist([0.2, 0.4, 0.3], "val_accuracy"),
        "histories": {"head": _hist([0.1, 0.2], "val_accuracy")}}))
    (tmp_path / "lmac.json").write_text(json.dumps({"history": _hist([3.0, 2.0, 2.5], "val_loss")}))
    (tmp_path / "dictionary.json").write_text(json.dumps({"n_components": 100}))
    out = vc.run_curves(tmp_path)
    assert set(out) == {"classifier", "classifier:head", "lmac"}
    assert out["classifier"]["score"] == "val_accuracy" and out["classifier"]["best_epoch"] == 1
    assert out["lmac"]["score"] == "val_minus_loss" and out["lmac"]["best"] == -2.0 and out["lmac"]["best_epoch"] == 1


def test_record_run_counts_agreeing_results_and_ignores_timings():
    rr = _script("record_run")
    a = {"classifier": {"accuracy": 0.8625, "train_seconds": 100.0, "best_epoch": 27},
         "fidelity": {"top1": [86.25, 97.5], "nan": float("nan")}, "comparison": {"seconds": {"clean / L-MAC": 3.0}},
         "flag": True}
    b = {"classifier": {"accuracy": 0.8625 + 1e-9, "train_seconds": 200.0, "best_epoch": 26},
         "fidelity": {"top1": [86.25, 97.0], "nan": float("nan")}, "comparison": {"seconds": {"clean / L-MAC": 9.0}},
         "only_here": 1.0}
    got = rr.agreement(a, b)
    assert got["shared"] == 5  # accuracy, best_epoch, top1/0, top1/1, nan: no timings, no booleans
    assert got["identical"] == 3
    assert sorted(got["differ"]) == ["/classifier/best_epoch", "/fidelity/top1/1"]


def test_record_run_pairs_two_reruns_of_notebook_08(tmp_path):
    """--before-08: seconds before / after and the agreement of the two result trees, from files built here."""
    rr = _script("record_run")

    def run(where, seconds, scoring, accuracy):
        d = where / "esc10"
        d.mkdir(parents=True)
        d.joinpath("results.json").write_text(json.dumps({
            "preset": "cpu", "machine": {"cpu": "test"}, "package_sha256": "x",
            "steps": [{"notebook": "08_compare_explainers.ipynb", "seconds": seconds, "status": "ran"}],
            "results": {"comparison": {"seconds": scoring, "lmac": {"train_seconds": 1.0}},
                        "classifier": {"accuracy": accuracy}}}))
        return where

    full = run(tmp_path / "full", 10.0, {"a": 4.0}, 0.5)
    new = run(tmp_path / "new", 6.0, {"a": 1.0, "b": 2.0}, 0.5)
    old = run(tmp_path / "old", 9.0, {"a": 4.0, "b": 5.0}, 0.5)
    out = rr.record(full, "esc10", committed=tmp_path / "none", rerun_08=new, before_08=old,
                    pairs={"capped": (new, old)})
    pair = out["notebook_08_before_after"]
    assert out["notebook_08_before_after_capped"] == pair and pair["machine"] == {"cpu": "test"}
    assert out["notebook_08_with_explainers_trained_seconds"] == 6.0
    assert pair["before"] == {"notebook_seconds": 9.0, "scoring_seconds": 9.0}
    assert pair["after"] == {"notebook_seconds": 6.0, "scoring_seconds": 3.0}
    assert pair["ratio_before_over_after"] == {"notebook_seconds": 1.5, "scoring_seconds": 3.0}
    assert pair["agreement"]["shared"] == 1 and pair["agreement"]["identical"] == 1
    assert "committed" not in out  # no committed run in that folder


def test_quick_run_agreement_counts_the_numbers_that_moved(tmp_path):
    qa = _script("quick_run_agreement")
    results = {"fidelity": {"top1": 0.9, "top3": 1.0}, "faithfulness": [0.5, float("nan")], "seconds": 12.0}
    moved = {"fidelity": {"top1": 0.9, "top3": 0.8}, "faithfulness": [0.5, float("nan")], "seconds": 99.0}
    for where, res in (("before", results), ("after", moved)):
        (tmp_path / where / "esc10").mkdir(parents=True)
        (tmp_path / where / "esc10" / "results.json").write_text(json.dumps({"results": res, "package_sha256": where}))
    out = qa.compare_runs(tmp_path / "before", tmp_path / "after", ["esc10"])["esc10"]
    # 4 numbers (the timing is left out), NaN agrees with NaN, one number moved
    assert (out["shared"], out["identical"]) == (4, 3)
    assert out["differ"] == ["/fidelity/top3"]
    assert out["package_sha256"] == {"before": "before", "after": "after"}


def test_model_costs_quick_times_the_three_networks(tmp_path):
    """benchmarks/model_costs.py --quick (batch 2, 1 repeat): positive times per clip for the three models."""
    import torch

    mc = _script("model_costs")
    threads = torch.get_num_threads()
    try:
        mc.main(["--quick", "--out", str(tmp_path / "costs.json")])
    finally:
        torch.set_num_threads(threads)  # the script sets 2
    got = json.loads((tmp_path / "costs.json").read_text())
    assert got["settings"]["quick"] and got["settings"]["batch"] == 2 and got["machine"]["torch_threads"] == 2
    for name in ("l2i_cnn", "aisfx", "efficientat"):
        m = got["models"][name]
        for what in ("forward", "forward_backward", "frontend"):
            assert m[f"{what}_ms_per_clip"] > 0, (name, what)
        assert m["parameters"] > 0 and m["gflops_forward_per_clip"] > 0
        assert got["ratio_to_efficientat"][name]["forward"] > 0
    assert got["models"]["efficientat"]["parameters"] == 983_599
    assert got["ratio_to_efficientat"]["efficientat"] == {"forward": 1.0, "forward_backward": 1.0, "frontend": 1.0}


def test_sonyc_full_run_estimate_scales_each_part_by_what_it_depends_on():
    """benchmarks/sonyc_full_run_estimate.py on made-up measurements whose scaled values are known."""
    est = _script("sonyc_full_run_estimate")

    def nb(name, total, **cells):
        return {"notebook": name, "seconds": total, "cells": [{"first_line": k, "seconds": v} for k, v in cells.items()]}

    scale = {"runs": [{"clips": 100, "budget_given": False, "split_sizes": {"train": 50, "validation": 30, "test": 20},
                       "notebooks": [
                           nb("01_dictionary", 12, **{"dictionary = learn_dictionary_step(cfg, ds)": 10}),
                           nb("02_train_classifier", 7, **{"features = feature_splits(cfg, ds)": 4, "result = train_classifier_step(": 2}),
                           nb("03_train_interpreter", 10, **{"caches = split_caches(cfg)": 5, "results = {}": 3}),
                           nb("04_fidelity", 2)]},
                      {"clips": 100, "budget_given": True, "split_sizes": {}, "notebooks": []}]}
    profile = {"committed_runs": {"urbanmix": {"notebook_seconds": {f"{n}.ipynb": 60.0 for n in (
                   "05_faithfulness", "06_corruptions", "07_listening_lab", "08_compare_explainers")}}},
               "tasks": {"lmac_epoch": {"native": 24.0}, "classifier_epoch": {"native": 10.0},
                         "interpreter_epoch": {"native": 5.0}}}
    out = est.estimate(scale, profile, {"mean_train_seconds": 2.0, "epochs": 40}, {"attention": {"train_seconds": 3.5}})
    k_train, k_test = 13_538 / 50, 664 / 20
    cpu, gpu = out["cpu_seconds"], out["gpu_seconds"]
    assert cpu["01_dictionary"] == round(10 * k_train + 2)
    assert cpu["02_features"] == round(4 * 14_740 / 100) and cpu["02_training"] == round(2 * k_train * 80)
    assert cpu["03_caches"] == round(5 * 14_740 / 100) and cpu["03_training_two_heads"] == round(3 * k_train * 40)
    assert cpu["04_fidelity"] == round(2 * k_test) and cpu["05_faithfulness"] == 664
    seeds = est.N_SEEDS  # notebook 08 trains every explainer once per seed: L-MAC n times, the heads n - 1 more
    assert cpu["08_lmac_training"] == round(2 * 24 / 240 * 13_538 * 40 * seeds)
    assert cpu["08_interpreter_heads_other_seeds"] == round(3 * k_train * 40 * (seeds - 1))
    assert cpu["08_compare_explainers"] == 664 and "lmac_upper_bound" not in out  # no 08 in the scale run
    # with 08 in the scale run: its scoring cell per test clip, its L-MAC cell (found by its first line) as the bound
    cells = {"import matplotlib.pyplot as plt": 20, "compared = x": 10}
    scale["runs"][0]["notebooks"].append(nb("08_compare_explainers", 40, a=0, b=0, **cells))
    out8 = est.estimate(scale, profile, {"mean_train_seconds": 2.0, "epochs": 40}, {"attention": {"train_seconds": 3.5}})
    assert out8["cpu_seconds"]["08_compare_explainers"] == round(10 * k_test)
    assert out8["lmac_upper_bound"]["cpu_seconds_08_lmac_training"] == round(20 / 50 * 13_538 * 40 * seeds)
    assert out["gpu_speedups_measured"] == {"classifier": 200.0, "interpreter": 50.0}
    assert gpu["02_training"] == round(2 * k_train * 80 / 200) and gpu["03_caches"] == cpu["03_caches"]


def test_notebook08_costs_sums_each_part_of_the_protocol():
    """benchmarks/notebook08_costs.py on a made-up results.json whose sums are known."""
    parts = _script("notebook08_costs").parts
    results = {"comparison": {
        "budgets": {"L-MAC": {"seeds": [0, 1, 2], "seconds": [280.0, 290.0, 300.0]},
                    "L2I (attention)": {"seeds": [0, 1, 2], "seconds": [60.0, 61.0, 62.0]}},
        "seconds": {"clean/L-MAC": 10.0, "mixture/L-MAC": 5.5},
        "sanity": {"seconds": 900.0, "table": [
            {"method": "L-MAC", "randomised": "none (control)", "seconds": 0.0},
            {"method": "L-MAC", "randomised": "output layer", "seconds": 250.0},
            {"method": "Saliency", "randomised": "all layers", "seconds": 0.0}]}},
        "model_truth": {"band": {"seconds": {"total": 600.0}}, "planted": {"seconds": {"total": 700.0}}}}
    out = parts(results, seed=0)
    assert out["other_seeds_training_s"] == 290.0 + 300.0 + 61.0 + 62.0  # seed 0's are notebook 03's / the run's
    assert out["lmac_seed0_training_s"] == 280.0 and out["scoring_s"] == 15.5
    assert out["sanity_wall_s"] == 900.0 and out["sanity_retraining_s"] == 250.0  # the control row is not counted
    assert out["model_truth_s"] == {"band": 600.0, "planted": 700.0}
    results["comparison"]["sanity"]["verdicts"] = [{"method": "L-MAC", "verdict": "passes", "reason": "r"}]
    results["comparison"]["sanity"]["table"][1].update(rho=0.5, n=16)
    results["model_truth"]["band"]["table"] = [{"method": "L-MAC", "mass inside": 0.9, "chance": 0.17}]
    found = _script("notebook08_costs").findings(results)
    assert found["sanity"]["L-MAC"]["verdict"] == "passes" and found["sanity"]["L-MAC"]["rho"]["output layer"]["rho"] == 0.5
    assert found["model_truth"]["band"]["table"][0]["mass inside"] == 0.9 and found["model_truth"]["planted"]["table"] == []
