"""Would two runs side by side, one thread each, finish sooner than one after the other on two threads?

``make reproduce`` runs its three datasets one after another, each with every core (2 here). Where
PyTorch gains little from its second thread, two processes with one thread each do more work per
second. This benchmark measures that on the hot functions of the default run
(:mod:`benchmarks.profile_default_run`'s tasks, on the real ESC-10 clips of ``$L2I_DATA``):

* ``sequential``: the task twice, one process after the other, each with every core's threads;
* ``parallel``: the task twice at the same time, two processes with ``cores / 2`` threads each.

``speedup`` = sequential / parallel seconds: above 1, running two datasets side by side would pay.
``classifier_2_epochs_by_threads``: whether f trained for 2 epochs on every core and on one thread has
the same weights (a digest each); where it does not, running side by side would move every trained number.
Each setting is measured ``--repeats`` times, interleaved, and the fastest kept (noisy machine).
Writes ``benchmarks/results/bench_parallel_runs.json``::

    L2I_DATA=/path/to/data python benchmarks/bench_parallel_runs.py            # about 8 minutes on 2 cores
    L2I_DATA=/path/to/data python benchmarks/bench_parallel_runs.py --tasks classifier_epoch --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "benchmarks" / "profile_default_run.py"
DEFAULT_TASKS = ("classifier_epoch", "interpreter_epoch", "lmac_epoch", "cache", "faithfulness_40")


def _digest_child() -> None:
    """Two epochs of f on esc10 (as profile_default_run's classifier task), then one line: the weights' digest."""
    import hashlib

    import torch

    from l2i_core.data import load_dataset
    from l2i_core.train.recipes import compute_features, default_train_config, train_classifier

    torch.manual_seed(0)
    ds = load_dataset("esc10")
    feats = {s: compute_features(ds.split(s), "cpu", progress=False) for s in ("train", "validation")}
    res = train_classifier(ds, "cpu", default_train_config(False, "cpu", epochs=2, warmup_epochs=0), features=feats)
    h = hashlib.sha256()
    for v in res.model.state_dict().values():
        h.update(v.detach().float().numpy().tobytes())
    print("JSON" + json.dumps({"digest": h.hexdigest()[:16], "train_loss": res.history[-1]["train_loss"]}))


def same_weights(cores: int) -> dict:
    """Does the thread count change what training computes? f trained 2 epochs on ``cores`` threads and on 1."""
    out = {}
    for threads in (cores, 1):
        r = subprocess.run([sys.executable, __file__, "--digest-child"], cwd=ROOT, env=_env(threads),
                           capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"digest child ({threads} threads) failed:\n{r.stderr[-3000:]}")
        out[f"{threads}_threads"] = json.loads(next(s for s in r.stdout.splitlines() if s.startswith("JSON"))[4:])
    out["identical"] = len({v["digest"] for v in out.values()}) == 1
    return out


def _env(threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _launch(task: str, threads: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(PROFILE), "--child", task], cwd=ROOT, env=_env(threads),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(p: subprocess.Popen, what: str) -> float:
    out, err = p.communicate()
    if p.returncode:
        sys.exit(f"{what} failed:\n{err[-3000:]}")
    return float(json.loads(out.strip().splitlines()[-1])["seconds"])


def measure(task: str, cores: int) -> dict:
    """Seconds of the task's timed part: twice in sequence on ``cores`` threads, twice at once on half each."""
    seq = sum(_wait(_launch(task, cores), f"{task} ({cores} threads)") for _ in range(2))
    ps = [_launch(task, max(1, cores // 2)) for _ in range(2)]
    par_each = [_wait(p, f"{task} ({cores // 2} thread)") for p in ps]
    return {"sequential": seq, "parallel": max(par_each), "parallel_each": par_each}


def main() -> None:
    if sys.argv[1:] == ["--digest-child"]:
        _digest_child()
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", nargs="+", default=list(DEFAULT_TASKS))
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    from l2i_core.pipeline.notebooks import machine_info

    cores = os.cpu_count() or 1
    if cores < 2:
        sys.exit("bench_parallel_runs needs at least 2 cores")
    out: dict = {"data": "esc10, cpu preset: 240 train / 80 validation / 80 test clips (profile_default_run tasks)",
                 "machine": machine_info(), "cores": cores, "threads_sequential": cores,
                 "threads_parallel": cores // 2, "repeats": args.repeats, "tasks": {}}
    for task in args.tasks:
        runs = [measure(task, cores) for _ in range(args.repeats)]
        seq = min(r["sequential"] for r in runs)
        par = min(r["parallel"] for r in runs)
        row = {"sequential_seconds": round(seq, 2), "parallel_seconds": round(par, 2),
               "speedup": round(seq / par, 2),
               "side_by_side_over_alone": round(par / (seq / 2), 2)}
        out["tasks"][task] = row
        print(f"{task:18s} 2 x in sequence {seq:7.2f} s   2 x side by side {par:7.2f} s   x{row['speedup']}", flush=True)
    out["classifier_2_epochs_by_threads"] = same_weights(cores)
    print("f after 2 epochs, by thread count:", out["classifier_2_epochs_by_threads"], flush=True)
    path = ROOT / "benchmarks" / "results" / "bench_parallel_runs.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"-> {path}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"{time.perf_counter() - t0:.0f} s")
