"""Inference batch size: how many clips f (and Θ) see per forward pass when nothing is trained.

Every scoring pass of notebooks 04-08 (mask-in / mask-out, FF, the deletion / insertion curves, the
gradient baselines) and every validation pass of the training loops runs f in eval mode, where a clip's
output does not depend on the clips beside it. So the batch these passes use is a free choice: it changes
the time, not the numbers. On a 2-core CPU a small batch is faster, since its activations stay in cache.

This times, interleaved, on the trained models of a finished run and real test clips of ``$L2I_DATA``:

================  =========================================================================
task              what
================  =========================================================================
f_magnitude       f's logits of 80 masked esc10 spectrograms (cpu preset; the curves' path)
f_audio           the same through audio (iSTFT → log-mel → f: mask-in, mask-out, FF)
l2i_analyse       f with its taps, Ψ and Θ on the 80 waveforms (L2I's explanations, notebooks 04-08)
cache             f's tapped maps, logits and V of the 80 test clips (notebook 03, L-MAC in 08)
aisfx_audio       the pretrained aiSFX f on 32 esc50-fold4 test clips through audio
================  =========================================================================

for each batch size in :data:`SIZES`, natively and (in a child process) as an AVX2 CPU without native
bf16 (:data:`l2i_core.train.engine.AVX2_NO_BF16_ENV`), and checks that every size gives the outputs of
batch 32 bit for bit (``max_abs_diff``). Writes ``benchmarks/results/bench_inference_batch.json``.

    L2I_DATA=/path/to/data python benchmarks/bench_inference_batch.py \\
        --esc10 artifacts/esc10-cpu --aisfx artifacts/esc50-fold4-aisfx      # about 4 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = (2, 4, 8, 16, 32)
REFERENCE = 32
REPEATS = 3


def _tasks(esc10: Path, aisfx: Path | None) -> dict:
    """name -> function(batch_size) returning a tensor, built on the finished run's models."""
    import torch

    from l2i_core.explain.interface import spectrogram_logits
    from l2i_core.pipeline import explainer_study
    from l2i_core.pipeline.run import run_config
    from l2i_core.train.cache import build_cache

    torch.manual_seed(0)
    cfg = run_config(dataset="esc10", preset="cpu", seed=0, artifacts_dir=str(esc10))
    ds = cfg.load_dataset()
    model, (l2i, rnd), _ = explainer_study.build_explainers(cfg, ds, "l2i-attention, random", progress=False)
    cond = explainer_study.build_conditions(cfg, ds, n_clips=None)[0][0]
    exp = rnd.attribute(cond.x, cond.target)
    V, ph, n = torch.from_numpy(exp.V), torch.from_numpy(exp.phase), exp.audio.shape[-1]
    clf, fe = model.classifier, model.fe
    expl = l2i  # the L2IExplainer: f with its taps, Ψ and Θ

    def analyse(b):
        expl.model.batch_size = b
        return expl.analyse(cond.x).theta_logits

    test = ds.split("test")
    tasks = {
        "f_magnitude": lambda b: spectrogram_logits(clf, fe, V, batch_size=b),
        "f_audio": lambda b: spectrogram_logits(clf, fe, V, ph, length=n, batch_size=b),
        "l2i_analyse": analyse,
        "cache": lambda b: build_cache(clf, test, "cpu", batch_size=b, progress=False).logits,
    }
    if aisfx is not None:
        cfg_a = run_config(dataset="esc50-fold4", preset="aisfx", seed=0, artifacts_dir=str(aisfx))
        ds_a = cfg_a.load_dataset()
        model_a, (rnd_a,), _ = explainer_study.build_explainers(cfg_a, ds_a, "random", progress=False)
        cond_a = explainer_study.build_conditions(cfg_a, ds_a, n_clips=32)[0][0]
        exp_a = rnd_a.attribute(cond_a.x, cond_a.target)
        Va, pha, na = torch.from_numpy(exp_a.V), torch.from_numpy(exp_a.phase), exp_a.audio.shape[-1]
        tasks["aisfx_audio"] = lambda b: spectrogram_logits(model_a.classifier, model_a.fe, Va, pha, length=na,
                                                            batch_size=b)
    return tasks


def measure(esc10: Path, aisfx: Path | None) -> dict:
    """Seconds (median of :data:`REPEATS`) and the largest difference from batch 32, per task and size."""
    import statistics

    from l2i_core.pipeline.notebooks import machine_info

    out = {"machine": machine_info(), "tasks": {}}
    for name, fn in _tasks(esc10, aisfx).items():
        ref = fn(REFERENCE).float()
        times = {b: [] for b in SIZES}
        diff = dict.fromkeys(SIZES, 0.0)
        for _ in range(REPEATS):
            for b in SIZES:  # interleaved: a slow spell of the machine hits every size
                t = time.perf_counter()
                r = fn(b)
                times[b].append(time.perf_counter() - t)
                diff[b] = max(diff[b], float((r.float() - ref).abs().max()))
        out["tasks"][name] = {"seconds": {str(b): round(statistics.median(v), 3) for b, v in times.items()},
                              "max_abs_diff": {str(b): d for b, d in diff.items()}}
        print(name, out["tasks"][name], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--esc10", type=Path, default=ROOT / "artifacts" / "esc10-cpu")
    ap.add_argument("--aisfx", type=Path, default=ROOT / "artifacts" / "esc50-fold4-aisfx")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not (args.esc10 / "classifier.pt").is_file() or not (args.esc10 / "interpreter_attention.pt").is_file():
        sys.exit(f"{args.esc10}: no trained esc10 classifier and interpreter; run `make reproduce` first "
                 "(or pass --esc10 the artifacts folder of a finished esc10 run)")
    aisfx = args.aisfx if (args.aisfx / "classifier.pt").is_file() else None
    if args.child:
        print("JSON" + json.dumps(measure(args.esc10, aisfx)))
        return
    from _capped import native_and_capped

    runs = native_and_capped(__file__, ["--esc10", str(args.esc10), "--aisfx", str(args.aisfx)])
    result = {"data": "esc10 test split (80 clips, cpu preset) and 32 esc50-fold4 test clips (aisfx), "
                      "random masks, the models of a finished run", "sizes": list(SIZES), "reference": REFERENCE,
              "repeats": REPEATS, "runs": runs, "speedup_over_reference": {}}
    for setting, run in runs.items():
        for name, t in run["tasks"].items():
            s = t["seconds"]
            best = min(SIZES, key=lambda b: s[str(b)])
            result["speedup_over_reference"][f"{setting}/{name}"] = {
                "best_size": best, "at_4": round(s[str(REFERENCE)] / s["4"], 2),
                "identical_at_4": t["max_abs_diff"]["4"] == 0.0}
    path = ROOT / "benchmarks" / "results" / "bench_inference_batch.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    for k, v in result["speedup_over_reference"].items():
        print(f"{k}: batch 32 / batch 4 = {v['at_4']}x, identical: {v['identical_at_4']}, fastest size {v['best_size']}")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
