"""Classifier accuracy and training time, per fold and over k-fold cross-validation.

For each test fold f (validation fold f % 5 + 1, the other three train), trains the classifier with
the default recipe, selects the epoch on validation and scores the test fold once. Prints each
fold, then mean ± std, and the time per training. Nothing here is a pass/fail test.

Usage::

    L2I_DATA=/path/to/data python benchmarks/bench_classifier.py --dataset esc10 --folds 1 2 3 4 5
    python benchmarks/bench_classifier.py --dataset esc10 --preset paper --device cuda --folds 1
    python benchmarks/bench_classifier.py --dataset urbanmix
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from l2i_core.data import load_dataset
from l2i_core.train.recipes import (
    compute_features,
    default_train_config,
    evaluate_classifier,
    predict_logits,
    train_classifier,
)


def run_one(ds, preset, cfg):
    t = time.perf_counter()
    feats = {s: compute_features(ds.split(s), preset, device=cfg.device, progress=False)
             for s in ("train", "validation", "test")}
    t_feat = time.perf_counter() - t
    res = train_classifier(ds, preset, cfg, features=feats)
    test = ds.split("test")
    labels = test.label_matrix() if ds.multilabel else test.targets()
    scores = evaluate_classifier(predict_logits(res.model, feats["test"]), labels, multilabel=ds.multilabel,
                                 classes=ds.classes, thresholds=res.thresholds)
    key = "macro_auprc" if ds.multilabel else "accuracy"
    return {"protocol": ds.protocol, "test": scores[key], "metric": key, "validation": res.best_metric,
            "best_epoch": res.best_epoch, "train_seconds": res.seconds, "feature_seconds": t_feat,
            "excluded_classes": scores.get("excluded_classes", [])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="esc10")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--device", default=None)
    ap.add_argument("--epochs", type=int, default=0, help="0: the default recipe (40 multi-class, 80 multi-label)")
    ap.add_argument("--folds", type=int, nargs="*", default=[1], help="test folds (ESC datasets)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    runs = []
    fold_based = args.dataset in ("esc10", "esc50")
    for f in args.folds if fold_based else [None]:
        kw = {"test_fold": f, "val_fold": f % 5 + 1} if fold_based else {}
        ds = load_dataset(args.dataset, seed=args.seed, **kw)
        cfg = default_train_config(ds.multilabel, seed=args.seed, device=args.device, progress=False,
                                   **({"epochs": args.epochs} if args.epochs else {}))
        r = run_one(ds, args.preset, cfg)
        runs.append(r)
        print(f"{r['protocol']}: test {r['metric']} {r['test']:.4f} (validation {r['validation']:.4f}, epoch "
              f"{r['best_epoch']}), training {r['train_seconds']:.0f} s + features {r['feature_seconds']:.0f} s"
              + (f"; no positives: {r['excluded_classes']}" if r["excluded_classes"] else ""), flush=True)
    vals = np.array([r["test"] for r in runs])
    summary = {"dataset": args.dataset, "preset": args.preset, "device": args.device or "auto", "epochs": args.epochs,
               "runs": runs, "mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
               "mean_train_seconds": float(np.mean([r["train_seconds"] for r in runs]))}
    print(f"\n{args.dataset} ({args.preset}): test {runs[0]['metric']} {summary['mean']:.4f} ± {summary['std']:.4f} "
          f"over {len(runs)} run(s); mean training time {summary['mean_train_seconds']:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(summary, fh, indent=2)


if __name__ == "__main__":
    main()
