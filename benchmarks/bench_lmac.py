"""L-MAC beside L2I: seconds per training epoch on the activation cache, and explanation throughput.

On esc10 (cpu preset: 240 training clips, 80 validation and 80 test clips of 5 s) when ``$L2I_DATA``
holds it, else on seeded white-noise clips of the same shape (said in the output and the JSON). f and
the L2I interpreter are the trained artifacts of notebooks 02-03 when ``--artifacts`` holds them
(``classifier.pt``, ``interpreter_<pooling>.pt``), else random weights (said too); the L-MAC decoder is
``lmac.pt`` there when present, else the one trained by the timed epochs (the throughput of a
decoder does not depend on its weights; L2I's does, through the number of kept components).

Measured in one run, both methods on the same caches and clips:

* epochs: ``--rounds`` rounds, each one epoch of :func:`l2i_core.train.recipes.train_interpreter` and one of
  :func:`l2i_core.train.lmac.train_lmac` (order alternating between rounds), each through the one engine with
  its recipe's defaults, validation included; the first round is a warm-up and not counted;
* explanations of the test clips, from waveforms: L2I ``attribute`` (audio of the interpretation,
  the residual and every kept component) and ``attribute`` without audio; L-MAC
  :func:`~l2i_core.explain.lmac.lmac_attribute` (the mask) and the mask made audio with the input phase
  (:func:`~l2i_core.audio.masks.mask_to_audio`, one iSTFT per clip). One untimed warm-up, then
  ``--repeats`` interleaved rounds with the order rotating; medians and min/max.

Usage::

    L2I_DATA=/path/to/data python benchmarks/bench_lmac.py [--artifacts artifacts/esc10-cpu] [--quick]

``--quick`` (a check that it runs: 32/16/16 clips, 2 rounds, 1 repeat) writes JSON only with ``--json``;
a full run writes ``benchmarks/results/lmac.json`` unless ``--json`` says otherwise.
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

from l2i_core.audio.frontend import FrontEnd
from l2i_core.audio.masks import mask_to_audio
from l2i_core.explain.l2i import L2IExplainer
from l2i_core.explain.lmac import lmac_attribute
from l2i_core.models.checkpoints import load_lmac
from l2i_core.train.cache import build_cache
from l2i_core.train.lmac import LMACConfig, train_lmac
from l2i_core.train.recipes import InterpreterConfig, train_interpreter

RESULTS = Path(__file__).resolve().parent / "results" / "lmac.json"


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


class NoiseClips:
    """Seeded white-noise 5 s clips with the interface build_cache needs (when esc10 is absent)."""

    def __init__(self, n: int, seed: int, name: str):
        self.x = (0.1 * np.random.default_rng(seed).standard_normal((n, 5 * 22050))).astype(np.float32)
        self.name = name
        self.uids = [f"{name}-{i}" for i in range(n)]

    def __len__(self):
        return len(self.x)

    def __iter__(self):
        return iter(type("R", (), {"uid": u})() for u in self.uids)

    def load_batch(self, items=None, preset="cpu"):
        return self.x[list(items) if items is not None else slice(None)]


def splits(quick: bool):
    """``({split: dataset-like}, description)``."""
    sizes = {"train": 32, "validation": 16, "test": 16} if quick else None
    if os.environ.get("L2I_DATA"):
        from l2i_core.data import load_dataset

        ds = load_dataset("esc10")
        out = {s: ds.split(s) for s in ("train", "validation", "test")}
        if sizes:
            out = {s: d.head(sizes[s]).split(s) for s, d in out.items()}
        return out, "esc10 (cpu preset, 5 s clips)"
    n = sizes or {"train": 240, "validation": 80, "test": 80}
    return ({s: NoiseClips(n[s], i, s) for i, s in enumerate(n)},
            "white-noise clips of esc10's shape ($L2I_DATA is not set)")


def models(art: Path, pooling: str, device: str):
    """``(L2IExplainer, description)``: the trained artifacts when present, else random weights."""
    if (art / "classifier.pt").is_file() and (art / f"interpreter_{pooling}.pt").is_file():
        return L2IExplainer.from_artifacts(art, pooling, device=device), f"trained ({art})"
    from l2i_core.models.classifier import AudioCNN
    from l2i_core.models.interpreter import L2IInterpreter

    torch.manual_seed(0)
    f = AudioCNN(10, "cpu")
    W = np.abs(np.random.default_rng(0).standard_normal((513, 100))).astype(np.float32)
    W /= np.linalg.norm(W, axis=0)
    chans = [f.arch.channels[t - 1] for t in f.arch.taps]
    interp = L2IInterpreter(W, chans, 10, 216, pooling=pooling)
    return L2IExplainer(f, interp, "cpu", device=device), "random AudioCNN and interpreter (no artifacts found)"


def epoch_rounds(ex, caches, rounds: int, device: str, pooling: str):
    """Seconds of one epoch of each method per round (train + validation), and the last L-MAC decoder."""
    times = {"L2I interpreter": [], "L-MAC": []}
    decoder = None
    C = int(ex.interpreter.n_classes)
    for r in range(rounds):
        def l2i():
            res = train_interpreter(caches["train"], caches["validation"], ex.W.cpu().numpy(), n_classes=C,
                                    multilabel=False, config=InterpreterConfig(pooling=pooling, epochs=1,
                                                                               device=device, progress=False))
            return res.history[0]["seconds"], None

        def lmac():
            res = train_lmac(caches["train"], caches["validation"], ex.classifier, "cpu", multilabel=False,
                             config=LMACConfig(epochs=1, device=device, progress=False))
            return res.history[0]["seconds"], res.decoder

        for name, fn in ((("L2I interpreter", l2i), ("L-MAC", lmac)) if r % 2 == 0
                         else (("L-MAC", lmac), ("L2I interpreter", l2i))):
            seconds, dec = fn()
            times[name].append(seconds)
            decoder = dec if dec is not None else decoder
    return times, decoder


def throughput(ex, decoder, x, repeats: int, dev):
    fe = FrontEnd("cpu").to(dev)

    def lmac_audio():
        mask, _ = lmac_attribute(decoder, ex.classifier, x, "cpu", device=dev)
        V, phase = fe.magnitude_phase(x.to(dev))
        return mask_to_audio(mask.to(dev), V, phase, fe, length=x.shape[-1])

    runs = {"L2I attribute (audio)": lambda: ex.attribute(x, tau=0.2),
            "L2I attribute without audio": lambda: ex.attribute(x, tau=0.2, with_audio=False),
            "L-MAC mask (lmac_attribute)": lambda: lmac_attribute(decoder, ex.classifier, x, "cpu", device=dev),
            "L-MAC mask + audio": lmac_audio}
    names = list(runs)
    seconds = {n: [] for n in names}
    with torch.no_grad():
        for n in names:  # warm-up, untimed
            runs[n]()
        for r in range(repeats):
            for n in names[r % len(names):] + names[: r % len(names)]:
                sync(dev)
                t = time.perf_counter()
                runs[n]()
                sync(dev)
                seconds[n].append(time.perf_counter() - t)
    return seconds


def _row(ts: list[float], n_items: int) -> dict:
    med = float(np.median(ts))
    return {"seconds_median": med, "seconds_min": min(ts), "seconds_max": max(ts), "seconds": ts,
            "per_s": n_items / med}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--artifacts", default="artifacts/esc10-cpu")
    ap.add_argument("--pooling", default="attention")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=4, help="epoch rounds, the first one a warm-up")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.repeats = 2, 1
    dev = torch.device(args.device)
    data, data_desc = splits(args.quick)
    ex, weights = models(Path(args.artifacts), args.pooling, args.device)
    load0 = os.getloadavg()
    caches = {s: build_cache(ex.classifier, d, "cpu", device=args.device, progress=False) for s, d in data.items()}
    times, decoder = epoch_rounds(ex, caches, args.rounds, args.device, args.pooling)
    lmac_weights = "trained in the timed epochs (1 epoch)"
    if (Path(args.artifacts) / "lmac.pt").is_file():
        decoder, _ = load_lmac(Path(args.artifacts) / "lmac.pt", device=args.device)
        lmac_weights = f"trained ({Path(args.artifacts) / 'lmac.pt'})"
    x = torch.from_numpy(data["test"].load_batch(range(len(data["test"])), "cpu"))
    seconds = throughput(ex, decoder, x, args.repeats, dev)
    n_train = len(caches["train"])
    epochs = {n: _row(ts[1:], n_train) for n, ts in times.items()}  # round 0: warm-up
    explain = {n: _row(ts, len(x)) for n, ts in seconds.items()}
    print(f"{data_desc}; f and L2I: {weights}; L-MAC decoder: {lmac_weights}; device {dev}, "
          f"{torch.get_num_threads()} threads")
    for n, r in epochs.items():
        print(f"  epoch {n:28s} {r['seconds_median']:6.2f} s [{r['seconds_min']:.2f}, {r['seconds_max']:.2f}] "
              f"over {n_train} training clips + {len(caches['validation'])} validation clips")
    for n, r in explain.items():
        print(f"  explain {n:30s} {r['seconds_median']:6.2f} s [{r['seconds_min']:.2f}, {r['seconds_max']:.2f}] "
              f"{r['per_s']:6.1f} clips/s")
    ratio = epochs["L-MAC"]["seconds_median"] / epochs["L2I interpreter"]["seconds_median"]
    print(f"L-MAC epoch / L2I epoch: {ratio:.2f}x; L-MAC (mask + audio) / L2I (audio) clips/s: "
          f"{explain['L-MAC mask + audio']['per_s'] / explain['L2I attribute (audio)']['per_s']:.2f}x")
    out = Path(args.json) if args.json else (None if args.quick else RESULTS)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({
            "data": data_desc, "weights": weights, "lmac_weights": lmac_weights, "quick": args.quick,
            "clips": {s: len(c) for s, c in caches.items()}, "preset": "cpu", "pooling": args.pooling,
            "device": str(dev), "threads": torch.get_num_threads(), "rounds": args.rounds, "repeats": args.repeats,
            "protocol": "epochs: one epoch of each recipe per round (train + validation, engine defaults), order "
                        "alternating, round 0 dropped; explanations: one untimed warm-up, interleaved rounds "
                        "with rotating order; medians and min/max; per_s = clips / median seconds",
            "epoch_seconds": epochs, "explain": explain, "lmac_over_l2i_epoch": ratio,
            "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch": torch.__version__},
            "load_average_start": load0, "load_average_end": os.getloadavg(),
        }, indent=2) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
