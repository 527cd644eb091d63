"""Notebook 08's scoring of one explainer on one condition: one sort per clip instead of one per share.

``score_explanation`` binarises each mask at FF's matched share (10 %) and, on the clean condition, at
every share of the deletion / insertion curves (5, 10, 20, 50, 100 %). It used to sort each clip's
bins once per share (:func:`l2i_core.explain.gradients.top_fraction_mask`); now it ranks them once
(:func:`l2i_core.explain.gradients.bin_ranks`) and thresholds the ranks, which gives the same masks bit for bit
(a test checks it). This times both ways on masks of the clean condition's shape (80 ESC-10 test clips
× 513 × 216 bins), interleaved, and the whole ``score_explanation`` of the random explainer with the
esc10 classifier when ``artifacts/esc10-cpu`` has one. Writes ``benchmarks/results/bench_scoring.json``.

    python benchmarks/bench_scoring.py        # about a minute on a 2-core CPU
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARES = (0.1, 0.05, 0.1, 0.2, 0.5, 1.0)  # FF_matched, then the curves' non-zero shares
REPEATS = 3


def main() -> None:
    from l2i_core.evaluate.harness import _top
    from l2i_core.explain.gradients import bin_ranks, top_fraction_mask
    from l2i_core.pipeline.notebooks import machine_info

    mask = np.random.default_rng(0).random((80, 513, 216), dtype=np.float32)
    per_share, ranked = [], []
    for _ in range(REPEATS):
        t = time.perf_counter()
        for q in SHARES:
            top_fraction_mask(mask, q)
        per_share.append(time.perf_counter() - t)
        t = time.perf_counter()
        r = bin_ranks(mask)
        for q in SHARES:
            _top(r, q)
        ranked.append(time.perf_counter() - t)
    out = {"data": "random masks of shape 80 x 513 x 216 (the esc10 clean condition), 6 shares",
           "machine": machine_info(), "repeats": REPEATS,
           "sort_per_share_seconds": round(statistics.median(per_share), 2),
           "ranks_once_seconds": round(statistics.median(ranked), 2)}
    out["ratio_per_share_over_once"] = round(out["sort_per_share_seconds"] / out["ranks_once_seconds"], 2)
    art = ROOT / "artifacts" / "esc10-cpu" / "classifier.pt"
    if art.is_file():
        from l2i_core.data import load_dataset
        from l2i_core.evaluate.harness import score_explanation
        from l2i_core.explain.interface import AudioModel
        from l2i_core.explain.references import RandomMask
        from l2i_core.models.checkpoints import load_classifier

        clf, meta = load_classifier(art)
        x = load_dataset("esc10").split("test").load_batch(None, "cpu")
        model = AudioModel(clf, "cpu", classes=meta["classes"])
        exp = RandomMask(model, seed=0).attribute(x, None)
        t = time.perf_counter()
        score_explanation(exp, model, inputs=x, curves=True)
        out["score_explanation_clean_random_seconds"] = round(time.perf_counter() - t, 1)
    path = ROOT / "benchmarks" / "results" / "bench_scoring.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"6 shares: sort per share {out['sort_per_share_seconds']} s, ranks once {out['ranks_once_seconds']} s "
          f"({out['ratio_per_share_over_once']}x); whole scoring: {out.get('score_explanation_clean_random_seconds')} s"
          f" -> {path}")


if __name__ == "__main__":
    main()
