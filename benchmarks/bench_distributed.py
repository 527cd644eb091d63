"""One process with 2 threads against 2 processes (torchrun, gloo) with 1 thread, on this CPU.

Measures, on ESC-10 with the cpu preset, the two steps issue 17 names: building the activation
cache of the train split (``l2i build-cache``), and training the attention interpreter for a few
epochs (``l2i train-interpreter``, per-process batch 32 on one process, 16 on two: the same global
batch). The f and W it needs are made first with tiny budgets (their quality does not change the
cost of an epoch). Where a CUDA GPU is present the same interpreter command also runs with one
process on it. Writes ``benchmarks/results/distributed_cpu.json``.

    python benchmarks/bench_distributed.py            # about 5 minutes on a 2-core CPU
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ART = ROOT / "artifacts" / "bench-distributed-esc10"
EPOCHS = 3


def l2i(args, *, nproc: int, threads: int, device: str = "cpu") -> tuple[dict, float]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    launch = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
              if nproc > 1 else [sys.executable])
    t0 = time.perf_counter()
    r = subprocess.run([*launch, "-m", "l2i_core.pipeline.cli", *args, "--device", device], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        sys.exit(r.stderr[-3000:])
    return json.loads(r.stdout[r.stdout.index("{"):r.stdout.rindex("}") + 1]), wall


def main() -> None:
    import torch

    from l2i_core.pipeline.notebooks import machine_info

    common = ["--dataset", "esc10", "--artifacts-dir", str(ART)]
    if not (ART / "classifier.pt").is_file():
        l2i(["learn-dictionary", *common, "--max-iter", "20"], nproc=1, threads=2)
        l2i(["train-classifier", *common, "--epochs", "2"], nproc=1, threads=2)
    out = {"data": "esc10 (train split 240 clips, validation 80), preset cpu", "epochs": EPOCHS,
           "machine": machine_info(), "runs": {}}
    for name, nproc, threads in (("1 process x 2 threads", 1, 2), ("2 processes x 1 thread", 2, 1)):
        shutil.rmtree(ART / "cache", ignore_errors=True)
        cache, cache_wall = l2i(["build-cache", *common, "--splits", "train", "validation"], nproc=nproc, threads=threads)
        interp, interp_wall = l2i(["train-interpreter", *common, "--pooling", "attention", "--epochs", str(EPOCHS),
                                   "--batch-size", str(32 // nproc)], nproc=nproc, threads=threads)
        head = interp["heads"]["attention"]
        out["runs"][name] = {"build_cache_seconds": cache["seconds"], "build_cache_wall_seconds": round(cache_wall, 1),
                             "cache_bytes_per_clip": cache["caches"]["train"]["bytes_per_clip"],
                             "interpreter_train_seconds": round(head["seconds"], 1),
                             "interpreter_seconds_per_epoch": round(head["seconds"] / EPOCHS, 2),
                             "interpreter_wall_seconds": round(interp_wall, 1),
                             "global_batch_size": head["global_batch_size"]}
    a, b = out["runs"]["1 process x 2 threads"], out["runs"]["2 processes x 1 thread"]
    out["ratio_2proc_over_1proc"] = {"build_cache": round(b["build_cache_seconds"] / a["build_cache_seconds"], 2),
                                     "interpreter_epoch": round(b["interpreter_seconds_per_epoch"]
                                                                / a["interpreter_seconds_per_epoch"], 2)}
    if torch.cuda.is_available():
        interp, wall = l2i(["train-interpreter", *common, "--pooling", "attention", "--epochs", str(EPOCHS)],
                           nproc=1, threads=4, device="cuda")
        out["runs"]["1 process on the GPU"] = {"interpreter_seconds_per_epoch": round(
            interp["heads"]["attention"]["seconds"] / EPOCHS, 2), "interpreter_wall_seconds": round(wall, 1)}
    dest = ROOT / "benchmarks" / "results" / "distributed_cpu.json"
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
