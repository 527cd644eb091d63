"""Interpretation throughput: clips per second of ``L2IExplainer.attribute`` (audio included).

On the esc10 test split (80 clips of 5 s, cpu preset), with the trained artifacts of notebooks
01-03 when ``--artifacts`` holds them (the number of kept components, hence the iSTFT count,
depends on the trained weights), else with random weights (said in the output). The time is split
into the analysis (STFT, log-mel, f, Ψ, Θ) and the interpretation proper (relevance, masks, one
iSTFT for the interpretation, the residual and each kept component). Target: >= 20 clips/s on the
2-core CPU.

Usage::

    L2I_DATA=../shared/data python benchmarks/bench_explain.py [--artifacts artifacts/esc10-cpu] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from l2i_core.data import load_dataset
from l2i_core.explain import L2IExplainer


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--artifacts", default="artifacts/esc10-cpu")
    ap.add_argument("--pooling", default="attention")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    dev = torch.device(args.device)
    ds = load_dataset("esc10")
    test = ds.split("test")
    x = torch.from_numpy(test.load_batch(None, "cpu"))
    art = Path(args.artifacts)
    if (art / f"interpreter_{args.pooling}.pt").is_file():
        ex = L2IExplainer.from_artifacts(art, args.pooling, device=args.device, batch_size=args.batch_size)
        weights = f"trained ({art})"
    else:
        from l2i_core.classifier import AudioCNN
        from l2i_core.interpreter import L2IInterpreter

        torch.manual_seed(0)
        f = AudioCNN(10, "cpu")
        W = np.abs(np.random.default_rng(0).standard_normal((513, 100))).astype(np.float32)
        chans = [f.arch.channels[t - 1] for t in f.arch.taps]
        ex = L2IExplainer(f, L2IInterpreter(W, chans, 10, 216, pooling=args.pooling), "cpu", device=args.device,
                          batch_size=args.batch_size)
        weights = "random (no artifacts found)"
    ex.attribute(x[:4])  # warm-up
    rows = {}
    for name, kw in (("analysis only", None), ("attribute, tau=0.2, all components", {}),
                     ("attribute, tau=0.2, top_k=5", {"top_k": 5}), ("attribute without audio", {"with_audio": False})):
        best = np.inf
        kept = None
        for _ in range(args.repeats):
            sync(dev)
            t = time.perf_counter()
            if kw is None:
                ex.analyse(x)
            else:
                its = ex.attribute(x, **kw)
                kept = float(np.mean([len(i.components) for i in its]))
            sync(dev)
            best = min(best, time.perf_counter() - t)
        rows[name] = {"seconds": best, "clips_per_s": len(x) / best, "mean_kept_components": kept}
        print(f"{name:40s} {best:6.2f} s  {len(x) / best:6.1f} clips/s"
              + (f"  ({kept:.1f} components kept on average)" if kept is not None else ""))
    main_rate = rows["attribute, tau=0.2, all components"]["clips_per_s"]
    print(f"\n{len(x)} esc10 test clips (5 s, cpu preset), {weights} weights, device {dev}, "
          f"{torch.get_num_threads()} threads, best of {args.repeats}: {main_rate:.1f} clips/s "
          f"(target >= 20); ratio to the target: {main_rate / 20:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"clips": len(x), "weights": weights, "device": str(dev),
                                               "threads": torch.get_num_threads(), "rows": rows,
                                               "target_clips_per_s": 20}, indent=2) + "\n")


if __name__ == "__main__":
    main()
