"""Where the default run's time goes: its hot functions, natively and as an AVX2 CPU without native bf16.

Each hot function of the esc10 run (cpu preset) is timed in a fresh process, once natively and once
with :data:`l2i_core.train.engine.AVX2_NO_BF16_ENV` (interleaved, so a slow spell of the machine hits both),
on the real ESC-10 clips of ``$L2I_DATA`` and with the run's own code paths; models start from random
weights (an epoch costs the same):

=====================  ========================================================================
task                   what (the notebook it belongs to)
=====================  ========================================================================
front_end              decode + resample + log-mel of the 240 training clips (02, 03, 08)
nmf_20_iter            20 sparse-NMF iterations on the training frames, K = 100 (01; the run does 200)
classifier_epoch       one epoch of f on the 240 training clips, mixup, autocast where native (02; 40)
cache                  the frozen f's tapped maps, logits and V of the 240 training clips (03, 08)
interpreter_epoch      one epoch of Ψ + Θ (attention) on the cache (03; 35 per head, 2 heads)
lmac_epoch             one epoch of the L-MAC decoder on the cache (08; 40)
faithfulness_40        FF at the paper's 3 thresholds on 40 test clips: resynthesis + re-analysis (05)
html_render            nbconvert of an executed notebook (4 figures, 1 player) to self-contained HTML (every notebook)
kernel_start           papermill on a one-cell notebook: kernel start-up and shutdown (every notebook)
=====================  ========================================================================

The per-notebook times of the committed reports are copied beside them (``reports/*/results.json``),
so one file says both where the run spends its time and how much slower each piece is as AVX2.
Writes ``benchmarks/results/profile_default_run.json``.

    L2I_DATA=/path/to/data python benchmarks/profile_default_run.py      # about 6 minutes on 2 cores
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("front_end", "nmf_20_iter", "classifier_epoch", "cache", "interpreter_epoch", "lmac_epoch",
         "faithfulness_40", "html_render", "kernel_start")


def _task(name: str) -> float:
    """Run one task in this process; returns its seconds (set-up excluded)."""
    import numpy as np
    import torch

    from l2i_core.data import load_dataset

    torch.manual_seed(0)
    if name in ("html_render", "kernel_start"):
        import nbformat
        import papermill as pm

        from l2i_core.pipeline.notebooks import _kernel_transport, render_html

        cells = ["x = 1"] if name == "kernel_start" else [
            "import matplotlib.pyplot as plt, numpy as np\n"
            "from l2i_core.report.plots import AudioPlayer\n"
            "for i in range(4):\n    plt.figure(figsize=(8, 3)); plt.imshow(np.random.rand(64, 216)); plt.show()",
            "AudioPlayer(np.random.rand(22050 * 5).astype('float32') - 0.5, 22050)"]
        with tempfile.TemporaryDirectory() as d:
            nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                   "language": "python"}})
            nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
            nbformat.write(nb, Path(d) / "t.ipynb")
            t = time.perf_counter()
            pm.execute_notebook(str(Path(d) / "t.ipynb"), str(Path(d) / "o.ipynb"), progress_bar=False,
                                **_kernel_transport())
            if name == "kernel_start":
                return time.perf_counter() - t
            t = time.perf_counter()
            render_html(Path(d) / "o.ipynb")
            return time.perf_counter() - t
    from l2i_core.train.recipes import compute_features

    ds = load_dataset("esc10")
    train, val, test = ds.split("train"), ds.split("validation"), ds.split("test")
    if name == "front_end":
        t = time.perf_counter()
        compute_features(train, "cpu", progress=False)
        return time.perf_counter() - t
    if name == "nmf_20_iter":
        from l2i_core.nmf.dictionary import learn_dictionary

        t = time.perf_counter()
        learn_dictionary(train, "cpu", n_components=100, max_iter=20, progress=False)
        return time.perf_counter() - t
    from l2i_core.train.recipes import default_train_config, train_classifier

    feats = {"train": compute_features(train, "cpu", progress=False), "validation": compute_features(val, "cpu", progress=False)}
    if name == "classifier_epoch":
        cfg = default_train_config(False, "cpu", epochs=1, warmup_epochs=0)
        t = time.perf_counter()
        train_classifier(ds, "cpu", cfg, features=feats)
        return time.perf_counter() - t
    from l2i_core.models.classifier import AudioCNN
    from l2i_core.train.cache import build_cache

    f = AudioCNN(len(ds.classes), "cpu").eval()
    t = time.perf_counter()
    caches = {"train": build_cache(f, train, "cpu", progress=False)}
    if name == "cache":
        return time.perf_counter() - t
    caches["validation"] = build_cache(f, val, "cpu", progress=False)
    if name == "interpreter_epoch":
        from l2i_core.train.recipes import InterpreterConfig, train_interpreter

        W = np.abs(np.random.default_rng(0).standard_normal((513, 100))).astype(np.float32)
        t = time.perf_counter()
        train_interpreter(caches["train"], caches["validation"], W, n_classes=len(ds.classes), multilabel=False,
                          config=InterpreterConfig(epochs=1))
        return time.perf_counter() - t
    if name == "lmac_epoch":
        from l2i_core.train.lmac import LMACConfig, train_lmac

        t = time.perf_counter()
        train_lmac(caches["train"], caches["validation"], f, "cpu", multilabel=False, config=LMACConfig(epochs=1))
        return time.perf_counter() - t
    if name == "faithfulness_40":
        from l2i_core.evaluate.paper_protocols import faithfulness
        from l2i_core.explain.l2i import L2IExplainer
        from l2i_core.models.interpreter import L2IInterpreter

        W = np.abs(np.random.default_rng(0).standard_normal((513, 100))).astype(np.float32) / 10
        chans = [f.arch.channels[i - 1] for i in f.arch.taps]
        interp = L2IInterpreter(W, chans, len(ds.classes), caches["train"].n_frames).eval()
        ex = L2IExplainer(f, interp, "cpu", classes=ds.classes)
        x = test.head(40).load_batch(None, "cpu")
        t = time.perf_counter()
        faithfulness(ex, x)
        return time.perf_counter() - t
    raise SystemExit(f"unknown task {name!r}; tasks are {TASKS}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps({"seconds": _task(sys.argv[2])}))
        return
    from l2i_core.pipeline.notebooks import machine_info
    from l2i_core.train.engine import AVX2_NO_BF16_ENV

    base = {k: v for k, v in os.environ.items() if k not in AVX2_NO_BF16_ENV}
    base["PYTHONPATH"] = os.pathsep.join([str(ROOT), base.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    settings = {"native": base, "avx2_no_bf16": {**base, **AVX2_NO_BF16_ENV}}
    out: dict = {"data": "esc10, cpu preset: 240 train / 80 validation / 80 test clips", "machine": machine_info(),
                 "cap_env": AVX2_NO_BF16_ENV, "tasks": {}}
    for task in TASKS:
        row = {}
        for name, env in settings.items():
            r = subprocess.run([sys.executable, __file__, "--child", task], cwd=ROOT, env=env, capture_output=True,
                               text=True)
            if r.returncode:
                sys.exit(f"{task} ({name}) failed:\n{r.stderr[-3000:]}")
            row[name] = round(json.loads(r.stdout.strip().splitlines()[-1])["seconds"], 2)
        row["ratio_avx2_over_native"] = round(row["avx2_no_bf16"] / row["native"], 2)
        out["tasks"][task] = row
        print(f"{task:18s} native {row['native']:7.2f} s   avx2/no-bf16 {row['avx2_no_bf16']:7.2f} s   "
              f"x{row['ratio_avx2_over_native']}", flush=True)
    committed = {}
    for d in sorted((ROOT / "reports").glob("*/results.json")):
        rec = json.loads(d.read_text())
        committed[rec["dataset"]] = {"preset": rec.get("preset"), "machine": rec.get("machine"),
                                     "notebook_seconds": {s["notebook"]: s["seconds"] for s in rec.get("steps", [])},
                                     "minutes": round(rec.get("steps_seconds", 0) / 60, 1)}
    out["committed_runs"] = committed
    path = ROOT / "benchmarks" / "results" / "profile_default_run.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
