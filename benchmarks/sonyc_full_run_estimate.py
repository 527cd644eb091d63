"""A calculation (not a run) of the full SONYC-UST v2 run, every notebook, on a 2-core CPU and on one GPU.

Inputs, all measured and committed:

* ``results/sonyc_scale.json`` (``benchmarks/sonyc_scale.py``): notebooks 01-06 on the largest synthetic
  SONYC-layout tree at the default budget, one epoch, with papermill's time per cell: per clip, the
  features, the caches, one epoch of f and of both Θ heads, the test passes (04-06 scaled by test clips);
  Notebooks 05-08 where the scale run has them (08: its scoring cell per test clip, and its one-epoch L-MAC
  cell as an upper bound of L-MAC's cost, ``lmac_upper_bound``);
* ``results/profile_default_run.json``: the committed urbanmix run (10 s scenes, ``cpu`` preset,
  240 / 60 / 60 scenes) for notebooks 05-08 per test clip when the scale run lacks them, and
  L-MAC's cached epoch per clip (ESC-10, 5 s);
* ``results/bench_classifier_cpu_preset_gpu.json`` and ``results/paper_preset_gpu.json``: f's and Θ's
  epochs on a GPU, against the same epochs on this CPU (``profile_default_run.json``'s tasks).

Clips of the full run follow the default label rule (dcase2020): train 13,538, validate 538 (verified
clips only), test 664; epochs are the notebooks' defaults for multi-label data (f 80, each Θ head 40,
L-MAC 40), and notebook 08's :data:`N_SEEDS` training seeds. Audio decoding, resampling and the test protocols are counted at their CPU cost on the GPU
machine too (no GPU measurement of them): the GPU figure is an upper bound for those parts.

    python benchmarks/sonyc_full_run_estimate.py     # writes results/sonyc_full_run_estimate.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
FULL = {"train": 13_538, "validation": 538, "test": 664}
EPOCHS = {"classifier": 80, "interpreter": 40, "lmac": 40}
#: Training seeds of every trained explainer in notebook 08 (its ``n_seeds`` default): seed 0's L2I heads are
#: notebook 03's, the other seeds' heads and every seed's L-MAC are trained in 08.
N_SEEDS = 3


def _cell(nb: dict, starts: str) -> float:
    hits = [c["seconds"] for c in nb["cells"] if c["first_line"].startswith(starts)]
    if not hits:
        raise SystemExit(f"{nb['notebook']}: no cell starting with {starts!r}; rerun benchmarks/sonyc_scale.py")
    return float(hits[0])


def estimate(scale: dict, profile: dict, gpu_clf: dict, gpu_paper: dict) -> dict:
    run = max((r for r in scale["runs"] if not r["budget_given"]), key=lambda r: r["clips"])
    sizes = run["split_sizes"]
    n_clips, n_train, n_test = sum(sizes.values()), sizes["train"], sizes["test"]
    full_clips, k_train, k_test = sum(FULL.values()), FULL["train"] / n_train, FULL["test"] / n_test
    nb = {r["notebook"]: r for r in run["notebooks"]}
    rest = lambda r, used: r["seconds"] - used  # noqa: E731 - kernel start, imports, plots: fixed

    d01 = _cell(nb["01_dictionary"], "dictionary = learn_dictionary_step")
    f02, t02 = _cell(nb["02_train_classifier"], "features = feature_splits"), _cell(nb["02_train_classifier"], "result = train_classifier_step")
    c03, t03 = _cell(nb["03_train_interpreter"], "caches = split_caches"), _cell(nb["03_train_interpreter"], "results = {}")
    cpu = {
        # 01: frames to disk clip by clip and a fit over at most 2 M frames: scaled with the train clips (an upper bound)
        "01_dictionary": d01 * k_train + rest(nb["01_dictionary"], d01),
        "02_features": f02 * full_clips / n_clips,
        "02_training": t02 * k_train * EPOCHS["classifier"],
        "02_rest": rest(nb["02_train_classifier"], f02 + t02),
        "03_caches": c03 * full_clips / n_clips,
        "03_training_two_heads": t03 * k_train * EPOCHS["interpreter"],
        "03_rest": rest(nb["03_train_interpreter"], c03 + t03) * k_test,
        "04_fidelity": nb["04_fidelity"]["seconds"] * k_test,
    }
    urban = profile["committed_runs"]["urbanmix"]["notebook_seconds"]
    k_urban = FULL["test"] / 60  # the committed urbanmix run had 60 test scenes
    for name in ("05_faithfulness", "06_corruptions", "07_listening_lab"):
        # measured on the SONYC-layout tree where the scale run has the notebook, else the committed urbanmix run
        cpu[name] = nb[name]["seconds"] * k_test if name in nb else urban[f"{name}.ipynb"] * k_urban
    upper = {}
    if "08_compare_explainers" in nb:  # the scoring cell per test clip; training is counted below, once
        n08 = nb["08_compare_explainers"]
        c08 = _cell(n08, "compared = ")
        cpu["08_compare_explainers"] = c08 * k_test
        # its first code cell after the parameters loads f and trains one L-MAC epoch on the tree's train split
        upper["lmac_clip_epoch"] = _cell(n08, "import matplotlib.pyplot as plt") / n_train
    else:
        cpu["08_compare_explainers"] = urban["08_compare_explainers.ipynb"] * k_urban
    cpu["08_interpreter_heads_other_seeds"] = cpu["03_training_two_heads"] * (N_SEEDS - 1)
    lmac_clip_epoch = 2 * profile["tasks"]["lmac_epoch"]["native"] / 240  # ESC-10: 240 clips of 5 s, cached
    cpu["08_lmac_training"] = lmac_clip_epoch * FULL["train"] * EPOCHS["lmac"] * N_SEEDS
    if upper:
        upper["08_lmac_training"] = upper["lmac_clip_epoch"] * FULL["train"] * EPOCHS["lmac"] * N_SEEDS

    clf_cpu = profile["tasks"]["classifier_epoch"]["native"]  # one epoch of 240 ESC-10 clips, cpu preset
    clf_gpu = gpu_clf["mean_train_seconds"] / gpu_clf["epochs"]
    int_cpu = profile["tasks"]["interpreter_epoch"]["native"]
    int_gpu = gpu_paper["attention"]["train_seconds"] / 35  # paper preset (heavier), 35 epochs of 240 clips
    speed = {"classifier": clf_cpu / clf_gpu, "interpreter": int_cpu / int_gpu}
    gpu = dict(cpu)
    gpu["02_training"] = cpu["02_training"] / speed["classifier"]
    gpu["03_training_two_heads"] = cpu["03_training_two_heads"] / speed["interpreter"]
    gpu["08_interpreter_heads_other_seeds"] = cpu["08_interpreter_heads_other_seeds"] / speed["interpreter"]
    gpu["08_lmac_training"] = cpu["08_lmac_training"] / speed["interpreter"]  # assumption: as Θ's speed-up
    hours = lambda d: round(sum(d.values()) / 3600, 1)  # noqa: E731
    return {
        "what": "a calculation from measured per-clip costs, not a run: the full SONYC-UST v2, every notebook, cpu preset",
        "full_clips": FULL, "epochs": EPOCHS, "from_scale_run": {"clips": n_clips, "split_sizes": sizes},
        "gpu_speedups_measured": {k: round(v, 1) for k, v in speed.items()},
        "cpu_seconds": {k: round(v) for k, v in cpu.items()}, "gpu_seconds": {k: round(v) for k, v in gpu.items()},
        "cpu_hours": hours(cpu), "gpu_hours": hours(gpu), "explainer_seeds": N_SEEDS,
        **({"lmac_upper_bound": {
            "what": "L-MAC's training from the SONYC-layout scale run's own cell (one epoch on the tree's train "
                    "split, f loaded, validation included, beside other work on the same 2 cores) instead of "
                    "ESC-10's cached epoch: the CPU total if that cost is the real one",
            "seconds_per_clip_epoch": round(upper["lmac_clip_epoch"], 3),
            "cpu_seconds_08_lmac_training": round(upper["08_lmac_training"]),
            "cpu_hours": round((sum(cpu.values()) - cpu["08_lmac_training"] + upper["08_lmac_training"]) / 3600, 1),
        }} if upper else {}),
        "machine_of_scale_run": scale.get("machine"),
    }


def main() -> int:
    load = lambda name: json.loads((RESULTS / name).read_text())  # noqa: E731
    out = estimate(load("sonyc_scale.json"), load("profile_default_run.json"),
                   load("bench_classifier_cpu_preset_gpu.json"), load("paper_preset_gpu.json"))
    (RESULTS / "sonyc_full_run_estimate.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
