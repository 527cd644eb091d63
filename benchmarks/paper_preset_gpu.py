"""The whole L2I chain at the paper's resolution on a GPU: dictionary, classifier, both interpreters.

esc10, ``paper`` preset (44.1 kHz, 128 mel, Kumar-style CNN), K = 100, µ = 0.8, 35 interpreter
epochs. Prints times and test scores (classifier accuracy; interpreter top-1/3/5 fidelity, from
:func:`l2i_core.metrics.topk_fidelity` like everywhere else, and the relative reconstruction error
of W H against V beside NMF's own). Selection uses validation only.

Usage (on a CUDA machine)::

    L2I_DATA=... python benchmarks/paper_preset_gpu.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from l2i_core.data import load_dataset
from l2i_core.metrics import topk_fidelity
from l2i_core.nmf.dictionary import learn_dictionary
from l2i_core.train.cache import build_cache
from l2i_core.train.losses import LossWeights
from l2i_core.train.recipes import (
    InterpreterConfig,
    TrainConfig,
    evaluate_classifier,
    interpreter_outputs,
    train_classifier,
    train_interpreter,
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--epochs", type=int, default=35)
    ap.add_argument("--nmf-target", type=float, nargs="*", default=[0.0],
                    help="gamma values of the optional MSE(H, H_nmf) term to try (0 = the paper's loss)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    out = {"preset": args.preset, "device": torch.cuda.get_device_name() if torch.cuda.is_available() else args.device}
    ds = load_dataset("esc10")
    t = time.perf_counter()
    d = learn_dictionary(ds, args.preset, n_components=100, sparsity=0.8, device=args.device, progress=False)
    out["dictionary_seconds"] = time.perf_counter() - t
    res = train_classifier(ds, args.preset, TrainConfig(epochs=40, device=args.device, progress=False))
    test = ds.split("test")
    caches = {s: build_cache(res.model, ds.split(s), args.preset, device=args.device, progress=False)
              for s in ("train", "validation", "test")}
    # the cached test logits are f's outputs in eval mode
    acc = evaluate_classifier(caches["test"].logits, test.targets(), multilabel=False, classes=ds.classes)["accuracy"]
    out["classifier"] = {"test_accuracy": acc, "train_seconds": res.seconds, "best_epoch": res.best_epoch}
    V = caches["test"].V.numpy()
    H = [d.transform(v, max_iter=100, device=args.device) for v in V]
    out["nmf_relative_error"] = float(np.sqrt(sum(((d.W @ h - v) ** 2).sum() for h, v in zip(H, V)) / (V**2).sum()))
    if any(g > 0 for g in args.nmf_target):
        caches["train"].add_nmf_activations(d, device=args.device)
    for head, gamma in [(h, g) for g in args.nmf_target for h in ("attention", "max")]:
        r = train_interpreter(caches["train"], caches["validation"], d.W, n_classes=len(ds.classes), multilabel=False,
                              config=InterpreterConfig(pooling=head, epochs=args.epochs, device=args.device,
                                                       progress=False, weights=LossWeights(nmf_target=gamma)))
        head = f"{head}" if gamma == 0 else f"{head}_nmf_target_{gamma:g}"
        o = interpreter_outputs(r.interpreter, caches["test"])
        fid = topk_fidelity(o["logits"], caches["test"].logits, k=(1, 3, 5))
        out[head] = {"top1": fid[1], "top3": fid[3], "top5": fid[5], "relative_error": o["relative_error"],
                     "train_seconds": r.seconds, "best_epoch": r.best_epoch,
                     "selection_metric": r.selection_metric, "validation_selection_score": r.best_selection_score}
        print(head, out[head], flush=True)
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
