"""One interpreter epoch on the activation cache vs an epoch that recomputes everything per batch.

The official L2I code, at every batch of every epoch, decodes and resamples the audio, computes the
STFT and log-mel, and runs the classifier f to get its hidden maps. l2i does that once per clip
(the cache) and each epoch then costs only Ψ and Θ. Both are timed here in one run on the esc10
training split (cpu preset, K = 100), with the cached epoch split into Ψ forward, Ψ backward and Θ.

Usage::

    L2I_DATA=/path/to/data python benchmarks/bench_interpreter.py [--pooling attention] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from l2i_core.audio.frontend import FrontEnd
from l2i_core.data import load_dataset
from l2i_core.models.classifier import AudioCNN, FeatureTap
from l2i_core.models.interpreter import L2IInterpreter
from l2i_core.train.cache import build_cache
from l2i_core.train.losses import l2i_loss


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pooling", default="attention")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    dev = torch.device(args.device)
    torch.manual_seed(0)
    ds = load_dataset("esc10").split("train")
    f = AudioCNN(len(ds.classes) if ds.classes else 10, "cpu").to(dev).eval()  # timing does not depend on weights
    W = np.abs(np.random.default_rng(0).standard_normal((513, 100))).astype(np.float32)
    W /= np.linalg.norm(W, axis=0)

    t = time.perf_counter()
    cache = build_cache(f, ds, "cpu", device=args.device, progress=False)
    t_cache = time.perf_counter() - t

    def make():
        torch.manual_seed(0)
        m = L2IInterpreter(W, cache.tap_channels, 10, cache.n_frames, pooling=args.pooling).to(dev)
        return m, torch.optim.Adam(m.parameters(), lr=2e-4)

    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))
    batches = [order[s : s + args.batch_size] for s in range(0, len(order), args.batch_size)]

    # -- cached epoch, split into Psi forward, Psi backward and Theta --------------------------
    model, opt = make()
    model.train()
    parts = {"load_cache": 0.0, "psi_forward": 0.0, "theta": 0.0, "psi_backward": 0.0, "optimizer": 0.0}
    t_epoch = time.perf_counter()
    for idx in batches:
        t = time.perf_counter()
        maps, f_logits, V = cache.batch(idx, device=dev)
        sync(dev)
        parts["load_cache"] += time.perf_counter() - t
        t = time.perf_counter()
        H = model.psi(maps)
        sync(dev)
        parts["psi_forward"] += time.perf_counter() - t
        t = time.perf_counter()
        Hd = H.detach().requires_grad_(True)  # Theta and the loss, forward and backward, on a leaf
        logits = model.theta(Hd)
        loss, _ = l2i_loss(logits, f_logits, Hd, model.reconstruct(Hd), V, multilabel=False)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        sync(dev)
        parts["theta"] += time.perf_counter() - t
        t = time.perf_counter()
        H.backward(Hd.grad)  # the rest of the backward pass: through Psi
        sync(dev)
        parts["psi_backward"] += time.perf_counter() - t
        t = time.perf_counter()
        opt.step()
        sync(dev)
        parts["optimizer"] += time.perf_counter() - t
    t_cached = time.perf_counter() - t_epoch

    # -- the official way: recompute audio, STFT, log-mel and f for every batch -----------------
    model, opt = make()
    model.train()
    fe = FrontEnd("cpu").to(dev)
    tap = FeatureTap(f, f.tap_layers)
    t_epoch = time.perf_counter()
    for idx in batches:
        x = torch.from_numpy(ds.load_batch([int(i) for i in idx], "cpu")).to(dev)  # decode + resample
        with torch.no_grad():
            f_logits, maps = tap(fe.logmel(x))
            V = fe.log_magnitude(x)
        logits, H = model(maps)
        loss, _ = l2i_loss(logits, f_logits, H, model.reconstruct(H), V, multilabel=False)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(dev)
    t_recompute = time.perf_counter() - t_epoch

    ratio = t_recompute / t_cached
    print(f"esc10 train split, {len(ds)} clips, batch {args.batch_size}, cpu preset, K=100, {args.pooling} head, "
          f"on {dev} ({torch.get_num_threads()} threads)")
    print(f"  building the cache once: {t_cache:.1f} s ({cache.nbytes() / 2**20:.0f} MB)")
    print(f"  epoch on the cache:      {t_cached:.1f} s  = " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
    print(f"  epoch recomputing f:     {t_recompute:.1f} s (audio decode + resample, STFT, log-mel, f, then Psi/Theta)")
    print(f"RATIO recompute / cached epoch: {ratio:.2f}x (the cache pays for itself after "
          f"{t_cache / max(t_recompute - t_cached, 1e-9):.1f} epochs)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"cache_seconds": t_cache, "cached_epoch_seconds": t_cached, "parts": parts,
                       "recompute_epoch_seconds": t_recompute, "ratio": ratio, "pooling": args.pooling,
                       "device": str(dev), "threads": torch.get_num_threads()}, fh, indent=2)


if __name__ == "__main__":
    main()
