"""Explanation throughput: clips per second of ``L2IExplainer.attribute`` (audio included).

On the esc10 test split (80 clips of 5 s, cpu preset), with the trained artifacts of notebooks
01-03 when ``--artifacts`` holds them (the number of kept components, hence the iSTFT count,
depends on the trained weights), else with random weights (said in the output and the JSON).

Variants, all on the same 80 clips:

* ``analysis only``: :meth:`L2IExplainer.analyse` (STFT, log-mel, f, Ψ, Θ);
* ``attribute, tau=0.2, all components``: analysis + relevance, masks and one iSTFT for the
  interpretation, the residual and each kept component (the headline);
* ``attribute, tau=0.2, top_k=5``: the same, keeping at most 5 components;
* ``attribute without audio``: analysis + relevance and masks, no iSTFT;
* ``attribute given the analysis``: ``attribute(..., analysis=a)`` with ``a`` computed beforehand,
  i.e. the interpretation proper alone.

Measurement: one untimed warm-up round of every variant on all clips (so at the full batch size
and the last, smaller batch), then ``--repeats`` rounds in which every variant runs once, the
order rotating each round (interleaved, so machine load hits all variants alike). Medians and
spread (min, max) over the rounds are reported, and, paired by round, each variant's extra time
over the analysis alone; the raw times are kept in the JSON, with the checks that every variant
containing the analysis takes at least as long as the analysis alone and that top_k=5 takes no
longer than keeping all components (median paired differences).
Target: >= 20 clips/s on the 2-core CPU.

Usage::

    L2I_DATA=/path/to/data python benchmarks/bench_explain.py [--artifacts artifacts/esc10-cpu] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from l2i_core.data import load_dataset
from l2i_core.explain.l2i import L2IExplainer

TARGET = 20.0


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def explainer(args):
    art = Path(args.artifacts)
    if (art / f"interpreter_{args.pooling}.pt").is_file():
        ex = L2IExplainer.from_artifacts(art, args.pooling, device=args.device, batch_size=args.batch_size)
        return ex, f"trained ({art})"
    from l2i_core.models.classifier import AudioCNN
    from l2i_core.models.interpreter import L2IInterpreter

    torch.manual_seed(0)
    f = AudioCNN(10, "cpu")
    W = np.abs(np.random.default_rng(0).standard_normal((513, 100))).astype(np.float32)
    chans = [f.arch.channels[t - 1] for t in f.arch.taps]
    ex = L2IExplainer(f, L2IInterpreter(W, chans, 10, 216, pooling=args.pooling), "cpu", device=args.device,
                      batch_size=args.batch_size)
    return ex, "random (no artifacts found)"


def variants(ex, x, analysis):
    return {
        "analysis only": lambda: ex.analyse(x),
        "attribute, tau=0.2, all components": lambda: ex.attribute(x, tau=0.2),
        "attribute, tau=0.2, top_k=5": lambda: ex.attribute(x, tau=0.2, top_k=5),
        "attribute without audio": lambda: ex.attribute(x, tau=0.2, with_audio=False),
        "attribute given the analysis": lambda: ex.attribute(x, tau=0.2, analysis=analysis),
    }


def measure(runs, repeats, dev):
    """Interleaved rounds, rotating order; returns {name: [seconds per round]} and kept components."""
    names = list(runs)
    seconds = {n: [] for n in names}
    kept = {}
    for n in names:  # warm-up round, untimed
        out = runs[n]()
        if hasattr(out, "extras"):  # an Explanation: the components kept per row
            kept[n] = float(np.mean([len(k) for k in out.extras["components"]]))
    for r in range(repeats):
        for n in names[r % len(names):] + names[: r % len(names)]:
            sync(dev)
            t = time.perf_counter()
            runs[n]()
            sync(dev)
            seconds[n].append(time.perf_counter() - t)
    return seconds, kept


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--artifacts", default="artifacts/esc10-cpu")
    ap.add_argument("--pooling", default="attention")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    dev = torch.device(args.device)
    test = load_dataset("esc10").split("test")
    x = torch.from_numpy(test.load_batch(None, "cpu"))
    ex, weights = explainer(args)
    load0 = os.getloadavg()
    with torch.no_grad():
        a = ex.analyse(x)
        seconds, kept = measure(variants(ex, x, a), args.repeats, dev)
    rows = {}
    for n, ts in seconds.items():
        med = float(np.median(ts))
        rows[n] = {"seconds_median": med, "seconds_min": min(ts), "seconds_max": max(ts), "seconds": ts,
                   "clips_per_s": len(x) / med, "mean_kept_components": kept.get(n)}
    # paired by round (adjacent in time): extra seconds over the analysis alone, and top_k=5 vs all
    base = seconds["analysis only"]
    for n in rows:
        if n != "analysis only":
            d = [b - a for a, b in zip(base, seconds[n])]
            rows[n]["minus_analysis_seconds"] = {"median": float(np.median(d)), "min": min(d), "max": max(d)}
    d5 = [b - a for a, b in zip(seconds["attribute, tau=0.2, all components"], seconds["attribute, tau=0.2, top_k=5"])]
    # a variant that runs the analysis cannot be faster than it in every round (noise can make the median < 0)
    checks = {f"{n}: paired extra time over analysis only >= 0 in some round": rows[n]["minus_analysis_seconds"]["max"] >= 0
              for n in rows if n not in ("analysis only", "attribute given the analysis")}
    checks["top_k=5: median paired time minus all components <= 0"] = float(np.median(d5)) <= 0
    for n, row in rows.items():
        extra = row.get("minus_analysis_seconds")
        print(f"{n:38s} {row['seconds_median']:6.2f} s [{row['seconds_min']:.2f}, {row['seconds_max']:.2f}]  "
              f"{row['clips_per_s']:6.1f} clips/s"
              + (f"  ({row['mean_kept_components']:.1f} components kept on average)" if n in kept else "")
              + (f"  extra over analysis {extra['median']:+.2f} s [{extra['min']:+.2f}, {extra['max']:+.2f}]"
                 if extra else ""))
    main_rate = rows["attribute, tau=0.2, all components"]["clips_per_s"]
    print(f"\n{len(x)} esc10 test clips (5 s, cpu preset), {weights} weights, device {dev}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats} interleaved rounds: {main_rate:.1f} clips/s "
          f"(target >= {TARGET:g}); ratio to the target: {main_rate / TARGET:.2f}; consistency checks: {checks}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "clips": len(x), "clip_seconds": 5.0, "preset": "cpu", "pooling": args.pooling, "tau": 0.2,
            "weights": weights, "device": str(dev), "threads": torch.get_num_threads(),
            "batch_size": args.batch_size, "repeats": args.repeats,
            "protocol": "one untimed warm-up round of every variant on all clips, then interleaved rounds "
                        "(order rotating); median and min/max over rounds; clips_per_s = clips / median seconds",
            "rows": rows, "consistency_checks": checks, "target_clips_per_s": TARGET,
            "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch": torch.__version__},
            "load_average_start": load0, "load_average_end": os.getloadavg(),
        }, indent=2) + "\n")


if __name__ == "__main__":
    main()
