"""Gradients through a frozen f, a few rows at a time: the gradient baselines and L-MAC's training.

Where gradients flow *through* f but f is frozen in eval mode, a row's logits and the gradient that
flows back through them do not depend on the rows beside it. So the passes can be cut into chunks of
:data:`l2i_core._utils.INFERENCE_BATCH_SIZE` rows, as the inference passes already are: the time changes
(small passes stay in cache), the result does not. Two places do so:

====================  ==========================================================================
task                  what (notebook 08; the sanity check repeats them on 16 clips)
====================  ==========================================================================
saliency              captum Saliency on the 80 esc10 test clips (``batch_size`` of
                      :func:`~l2i_core.explain.gradients.gradient_attribution`)
integrated_gradients  captum IntegratedGradients, the harness's 8 steps (its steps per pass unchanged)
smoothgrad            captum NoiseTunnel(Saliency), the harness's 6 samples (its noise unchanged)
lmac_epoch            one epoch of L-MAC on the 240 training clips' cache, validation included:
                      f's mask-in / mask-out pass (``batch_size`` of :func:`~l2i_core.train.lmac.masked_logits`)
====================  ==========================================================================

Each task runs whole (``None``: one pass over every row, the code before) and chunked (4 rows),
interleaved ``--repeats`` times, natively and (in a child process) as an AVX2 CPU without native bf16
(:data:`l2i_core.train.engine.AVX2_NO_BF16_ENV`). ``max_abs_diff`` is the largest difference between the
two (the attributions; for L-MAC every trained weight of the decoder). On the trained models of a
finished esc10 run; writes ``benchmarks/results/bench_chunked_gradients.json``::

    L2I_DATA=/path/to/data python benchmarks/bench_chunked_gradients.py --esc10 artifacts/esc10-cpu   # ~6 min
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = (None, 4)


def _tasks(esc10: Path) -> dict:
    """name -> function(batch_size) returning a tensor, on the finished run's f."""
    import torch

    from l2i_core.explain.gradients import GRADIENT_SETTINGS, gradient_attribution
    from l2i_core.pipeline import explainer_study
    from l2i_core.pipeline.run import run_config
    from l2i_core.train import lmac
    from l2i_core.train.cache import build_cache

    torch.manual_seed(0)
    cfg = run_config(dataset="esc10", preset="cpu", seed=0, artifacts_dir=str(esc10))
    ds = cfg.load_dataset()
    model, _, _ = explainer_study.build_explainers(cfg, ds, "random", progress=False)
    cond = explainer_study.build_conditions(cfg, ds, n_clips=None)[0][0]
    f, x = model.classifier, cond.x
    target = model.logits(x).argmax(1).numpy()
    caches = {s: build_cache(f, ds.split(s), "cpu", progress=False) for s in ("train", "validation")}

    def gradients(method):
        kw = GRADIENT_SETTINGS.get(method, {})
        return lambda b: torch.from_numpy(gradient_attribution(f, x, target, method=method, preset="cpu",
                                                               batch_size=b, **kw))

    def lmac_epoch(b):
        before, lmac.INFERENCE_BATCH_SIZE = lmac.INFERENCE_BATCH_SIZE, b  # what _masked_pair passes to masked_logits
        try:
            r = lmac.train_lmac(caches["train"], caches["validation"], f, "cpu", multilabel=False,
                                config=lmac.LMACConfig(epochs=1, progress=False))
        finally:
            lmac.INFERENCE_BATCH_SIZE = before
        return torch.cat([p.detach().flatten() for p in r.decoder.state_dict().values() if p.is_floating_point()])

    return {**{m: gradients(m) for m in ("saliency", "integrated_gradients", "smoothgrad")}, "lmac_epoch": lmac_epoch}


def measure(esc10: Path, repeats: int) -> dict:
    from l2i_core.pipeline.notebooks import machine_info

    out = {"machine": machine_info(), "tasks": {}}
    for name, fn in _tasks(esc10).items():
        times = {str(b): [] for b in SIZES}
        results = {}
        for _ in range(repeats):
            for b in SIZES:  # interleaved: a slow spell of the machine hits both
                t = time.perf_counter()
                results[str(b)] = fn(b).float()
                times[str(b)].append(time.perf_counter() - t)
        sec = {k: round(statistics.median(v), 3) for k, v in times.items()}
        out["tasks"][name] = {"seconds": sec, "speedup": round(sec["None"] / sec["4"], 2),
                              "max_abs_diff": float((results["4"] - results["None"]).abs().max())}
        print(name, out["tasks"][name], file=sys.stderr, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--esc10", type=Path, default=ROOT / "artifacts" / "esc10-cpu")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not (args.esc10 / "classifier.pt").is_file():
        sys.exit(f"{args.esc10}: no trained esc10 classifier; run `make reproduce` first "
                 "(or pass --esc10 the artifacts folder of a finished esc10 run)")
    if args.child:
        print("JSON" + json.dumps(measure(args.esc10, args.repeats)))
        return
    from _capped import native_and_capped

    from l2i_core.explain.gradients import GRADIENT_SETTINGS

    runs = native_and_capped(__file__, ["--esc10", str(args.esc10), "--repeats", str(args.repeats)])
    for setting in runs:
        for name, t in runs[setting]["tasks"].items():
            print(f"{setting}/{name}: whole {t['seconds']['None']} s, chunks of 4 {t['seconds']['4']} s "
                  f"(x{t['speedup']}), max difference {t['max_abs_diff']}", flush=True)
    result = {"data": "esc10 test split (80 clips, cpu preset; L-MAC: the 240 training clips), the f of a finished run",
              "settings": {"saliency": {}, **GRADIENT_SETTINGS, "lmac_epoch": {"epochs": 1}},
              "chunk": 4, "repeats": args.repeats, "runs": runs}
    path = ROOT / "benchmarks" / "results" / "bench_chunked_gradients.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
