"""Compute cost of the three classifiers l2i interprets, per 5 s clip, on one CPU in one run.

=============  ==================================================  ===========================
model          network                                             input per clip (features)
=============  ==================================================  ===========================
l2i_cnn        ``AudioCNN(10, 'cpu')``, l2i's from-scratch CNN     ``FrontEnd('cpu').logmel`` of 5 s at 22.05 kHz
aisfx          ``AiSFXClassifier(50, 'aisfx', pretrained=False,    ``FrontEnd('aisfx').logmel`` of 5 s at 44.1 kHz
               trainable='all')``
efficientat    ``EfficientATMN()`` (mn04_as, 527 AudioSet outputs)  ``EfficientATFrontEnd`` of 5 s at 32 kHz
=============  ==================================================  ===========================

Random weights throughout (weights do not change the cost). The features are computed once from
seeded noise, so only the networks are timed:

* ``forward``: eval mode under ``torch.inference_mode()``, logits of a batch;
* ``forward_backward``: train mode, logits, cross-entropy against fixed targets, ``backward()`` into
  every parameter (aiSFX with ``trainable='all'``, so its four blocks get gradients like the other
  two; ``aisfx_last`` is the fine-tuning setting l2i uses by default, ``trainable='last'``: the first
  three blocks frozen and in eval mode, gradients through block 4 and the head only).

Each setting is timed on a batch of ``--batch`` clips (float32), after ``--warmup`` untimed calls; the
models are interleaved within each repeat (a slow spell of the machine hits all of them), and the
median over ``--repeats`` is divided by the batch size: milliseconds per clip. The front ends
(waveform → features, no gradient) are timed the same way unless ``--no-frontend``. The JSON also holds
each network's parameters and forward FLOPs per clip (``torch.utils.flop_counter``), the ratios of each
model's times to EfficientAT's (> 1: costlier than EfficientAT), every raw time, torch version,
threads, CPU model (``/proc/cpuinfo``) and date.

Usage::

    python benchmarks/model_costs.py --out benchmarks/results/model_costs.json   # about 1 minute on 2 cores
    python benchmarks/model_costs.py --quick --out /tmp/costs.json               # 1 repeat, batch 2: does it run
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from l2i_core.pipeline.notebooks import machine_info

ROOT = Path(__file__).resolve().parents[1]
SECONDS = 5.0
REFERENCE = "efficientat"
SETTINGS = ("forward", "forward_backward", "frontend")


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def build(batch: int, seed: int = 0) -> dict:
    """name -> {net, frontend, wave, x, target}: each network with its front end, a noise batch and its features."""
    from l2i_core.audio.frontend import FrontEnd
    from l2i_core.config import get_preset
    from l2i_core.models.classifier import AudioCNN
    from l2i_core.models.efficientat import EFFICIENTAT_SR, EfficientATFrontEnd, EfficientATMN
    from l2i_core.models.pretrained import AiSFXClassifier

    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)

    def noise(sr: int) -> torch.Tensor:
        return 0.1 * torch.randn(batch, int(SECONDS * sr), generator=g)

    fe_cpu, fe_aisfx, fe_eat = FrontEnd("cpu"), FrontEnd("aisfx"), EfficientATFrontEnd()
    waves = {"cpu": noise(get_preset("cpu").sr), "aisfx": noise(get_preset("aisfx").sr), "eat": noise(EFFICIENTAT_SR)}
    with torch.no_grad():
        feats = {"cpu": fe_cpu.logmel(waves["cpu"]), "aisfx": fe_aisfx.logmel(waves["aisfx"]),
                 "eat": fe_eat(waves["eat"])}
    specs = {
        "l2i_cnn": (AudioCNN(n_classes=10, preset="cpu"), fe_cpu.logmel, "cpu"),
        "aisfx": (AiSFXClassifier(50, "aisfx", pretrained=False, trainable="all"), fe_aisfx.logmel, "aisfx"),
        "aisfx_last": (AiSFXClassifier(50, "aisfx", pretrained=False, trainable="last"), None, "aisfx"),
        "efficientat": (EfficientATMN(), fe_eat, "eat"),
    }
    out = {}
    for name, (net, fe, key) in specs.items():
        net = net.float()
        n_out = net.n_classes
        out[name] = {"net": net, "frontend": fe, "wave": waves[key], "x": feats[key].float().contiguous(),
                     "target": torch.randint(n_out, (batch,), generator=g)}
    return out


def forward(m: dict) -> None:
    m["net"].eval()
    with torch.inference_mode():
        m["net"](m["x"])


def forward_backward(m: dict) -> None:
    net = m["net"]
    net.train()
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(m["x"]), m["target"]).backward()


def frontend(m: dict) -> None:
    with torch.inference_mode():
        m["frontend"](m["wave"])


def flops_per_clip(m: dict) -> float:
    """Forward FLOPs of the network per clip (torch's counter: 2 per multiply-add of convolutions and matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode

    m["net"].eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        m["net"](m["x"][:1])
    return float(counter.get_total_flops())


def measure(batch: int, repeats: int, warmup: int, with_frontend: bool) -> dict:
    models = build(batch)
    tasks = [(name, "forward", forward) for name in models if name != "aisfx_last"]
    tasks += [(name, "forward_backward", forward_backward) for name in models]
    if with_frontend:
        tasks += [(name, "frontend", frontend) for name, m in models.items() if m["frontend"] is not None]
    for _ in range(warmup):
        for name, _what, fn in tasks:
            fn(models[name])
    raw: dict[str, dict[str, list[float]]] = {name: {} for name in models}
    for _ in range(repeats):
        for name, what, fn in tasks:  # interleaved
            t = time.perf_counter()
            fn(models[name])
            raw[name].setdefault(what, []).append(time.perf_counter() - t)
    out = {}
    for name, m in models.items():
        net = m["net"]
        out[name] = {
            "input_per_clip": list(m["x"].shape[1:]),
            "parameters": sum(p.numel() for p in net.parameters()),
            "trainable_parameters": sum(p.numel() for p in net.parameters() if p.requires_grad),
            "gflops_forward_per_clip": round(flops_per_clip(m) / 1e9, 4),
            **{f"{what}_ms_per_clip": round(1000 * statistics.median(ts) / batch, 3) for what, ts in raw[name].items()},
            "fastest_ms_per_clip": {what: round(1000 * min(ts) / batch, 3) for what, ts in raw[name].items()},
            "raw_seconds_per_batch": {what: [round(t, 5) for t in ts] for what, ts in raw[name].items()},
        }
    return out


def ratios(models: dict) -> dict:
    """Each model's ms per clip over EfficientAT's, per setting (> 1: costlier than EfficientAT)."""
    ref = models[REFERENCE]
    return {name: {what: round(m[f"{what}_ms_per_clip"] / ref[f"{what}_ms_per_clip"], 3) for what in SETTINGS
                   if f"{what}_ms_per_clip" in m and ref.get(f"{what}_ms_per_clip")}
            for name, m in models.items()}


def table(result: dict) -> str:
    cols = SETTINGS
    lines = [f"{'model':<12} {'input':>10} {'params':>9} {'GFLOP':>7} " + " ".join(f"{c + ' ms':>19}" for c in cols)
             + "   ratio to efficientat (fwd / fwd+bwd)"]
    for name, m in result["models"].items():
        r = result["ratio_to_efficientat"][name]
        cells = " ".join(f"{m[c + '_ms_per_clip']:>19.2f}" if c + "_ms_per_clip" in m else f"{'-':>19}" for c in cols)
        rs = " / ".join(f"{r[c]:.2f}" if c in r else "-" for c in cols[:2])
        lines.append(f"{name:<12} {'x'.join(map(str, m['input_per_clip'])):>10} {m['parameters']:>9} "
                     f"{m['gflops_forward_per_clip']:>7.3f} {cells}   {rs}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--batch", type=int, default=8, help="clips per timed call (default 8)")
    ap.add_argument("--repeats", type=int, default=7, help="timed calls per setting; the median is kept (default 7)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed calls per setting first (default 2)")
    ap.add_argument("--no-frontend", action="store_true", help="time the networks only")
    ap.add_argument("--quick", action="store_true", help="a check that it runs: 1 repeat, 1 warm-up, batch 2")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "model_costs.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup, args.batch = 1, 1, 2
    torch.set_num_threads(args.threads)
    load_before = _loadavg()
    models = measure(args.batch, args.repeats, args.warmup, not args.no_frontend)
    result = {
        "what": "ms per 5 s clip of each network on precomputed features (float32, CPU), median over repeats; "
                "forward in eval mode without gradients, forward_backward in train mode with cross-entropy "
                "and backward into the trainable parameters; frontend: waveform to features",
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {**machine_info(), "torch_threads": torch.get_num_threads()},
        "load_average_1min": {"before": load_before, "after": _loadavg()},  # other work on the CPU skews the times
        "settings": {"batch": args.batch, "repeats": args.repeats, "warmup": args.warmup, "quick": args.quick,
                     "dtype": "float32", "seconds_per_clip": SECONDS},
        "models": models,
        "ratio_to_efficientat": ratios(models),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"-> {args.out}")
    return result


if __name__ == "__main__":
    main()
