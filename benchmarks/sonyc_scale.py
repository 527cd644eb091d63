"""Peak resident memory and time of notebooks 01-08 on SONYC-layout trees of growing size.

SONYC-UST's audio cannot be had on this machine, so the trees are synthetic: 10 s scenes mixed from
the real ESC clips (:func:`l2i_core.data.sonyc_synth.write_sonyc_tree`), in SONYC-UST v2's layout,
annotation schema and split proportions. Every notebook runs with papermill, ``-p dataset sonyc``, its
epochs cut to 1 (f, Θ and L-MAC: memory is measured, not accuracy), the dictionary's iterations to 50 and notebook 05's
deletion / insertion curves to 2 steps.

Peak resident memory is the notebook kernel's own ``VmHWM`` (the kernel's high-water mark of resident
set size, read from ``/proc/<pid>/status`` every 0.2 s; the last value read before the kernel exits is
its peak up to 0.2 s). Time is the notebook's wall time, and papermill's per-cell durations are kept so
the README's calculation of a full SONYC-UST run can separate per-epoch costs from one-off costs.

    python benchmarks/sonyc_scale.py                       # 500, 1000, 2000 clips + 2000 at a 2 GB budget
    python benchmarks/sonyc_scale.py --sizes 40 --no-budget-run   # a smoke run
    python benchmarks/sonyc_scale.py --sizes 2000 --only 02_train_classifier --merge   # rerun one notebook
                                                   # (after notebook 01 of that run: it reuses the artifacts)

Writes ``benchmarks/results/sonyc_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _rss import vm_hwm_kb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("01_dictionary", "02_train_classifier", "03_train_interpreter", "04_fidelity", "05_faithfulness",
             "06_corruptions", "07_listening_lab", "08_compare_explainers")
CUTS = {"01_dictionary": {"max_iter": 50}, "02_train_classifier": {"epochs": 1}, "03_train_interpreter": {"epochs": 1},
        "05_faithfulness": {"curve_steps": 2}, "06_corruptions": {"n_listen": 1},
        "08_compare_explainers": {"lmac_epochs": 1, "n_listen": 1, "n_seeds": 1}}


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _run_notebook(nb: str, out_dir: Path, params: dict, env: dict) -> dict:
    """Run one notebook in a papermill subprocess; the kernel's peak RSS (MB), wall time and cell times."""
    out = out_dir / f"{nb}.ipynb"
    cmd = [sys.executable, "-m", "papermill", "-k", "python3", str(ROOT / "notebooks" / f"{nb}.ipynb"), str(out),
           "--log-level", "WARNING", "--no-progress-bar"]
    for k, v in params.items():
        cmd += ["-p", k, str(v)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = {"kb": 0}
    done = threading.Event()

    def poll():
        while not done.is_set():
            stack = [proc.pid]
            while stack:  # the papermill process's descendants: the kernel and anything it starts
                p = stack.pop()
                for c in _children(p):
                    stack.append(c)
                    kb = vm_hwm_kb(c)
                    if kb:
                        peak["kb"] = max(peak["kb"], kb)
            done.wait(0.2)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    log = proc.communicate()[0]
    done.set()
    thread.join()
    seconds = time.perf_counter() - t0
    cells = []
    if out.is_file():
        nbj = json.loads(out.read_text())
        for c in nbj["cells"]:
            if c["cell_type"] == "code":
                pm = c.get("metadata", {}).get("papermill", {})
                cells.append({"first_line": "".join(c["source"]).split("\n")[0][:100],
                              "seconds": round(float(pm.get("duration") or 0.0), 2)})
    return {"notebook": nb, "ok": proc.returncode == 0, "seconds": round(seconds, 1),
            "peak_rss_mb": round(peak["kb"] / 1024, 1), "cells": cells,
            "error_tail": None if proc.returncode == 0 else log[-2000:]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000])
    ap.add_argument("--budget-gb", type=float, default=2.0, help="the budget of the extra run at the largest size")
    ap.add_argument("--no-budget-run", action="store_true", help="skip the extra run at --budget-gb")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--work", default="/var/tmp/l2i-sonyc-scale", help="trees and artifacts (large; removed after)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sonyc_scale.json"))
    ap.add_argument("--keep", action="store_true", help="keep the trees and artifacts")
    ap.add_argument("--only", nargs="+", choices=NOTEBOOKS, help="run only these notebooks (the others' artifacts "
                    "must be in the kept work folder)")
    ap.add_argument("--merge", action="store_true", help="replace these runs' notebooks in --out, keep the rest")
    args = ap.parse_args(argv)

    from l2i_core._memory import DEFAULT_MEMORY_GB
    from l2i_core.data.sonyc_synth import write_sonyc_tree

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    runs = [(n, None) for n in args.sizes]
    if not args.no_budget_run:
        runs.append((max(args.sizes), args.budget_gb))
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(os.cpu_count()))}
    env.pop("L2I_MEMORY_GB", None)
    results = []
    for n, budget in runs:
        tree = work / f"tree-{n}"
        if not (tree / "sonyc_synth.json").is_file():
            t0 = time.perf_counter()
            write_sonyc_tree(tree, n, seed=0, progress=False)
            print(f"tree of {n} clips written in {time.perf_counter() - t0:.0f} s", flush=True)
        art = work / f"artifacts-{n}-{budget or 'default'}"
        if not args.only:
            shutil.rmtree(art, ignore_errors=True)
        nb_dir = work / f"notebooks-{n}-{budget or 'default'}"
        nb_dir.mkdir(exist_ok=True)
        row = {"clips": n, "memory_gb": budget or DEFAULT_MEMORY_GB, "budget_given": budget is not None, "notebooks": []}
        for nb in args.only or NOTEBOOKS:
            params = {"dataset": "sonyc", "data_dir": str(tree), "preset": args.preset, "artifacts_dir": str(art),
                      "memory_gb": budget or 0.0, **CUTS.get(nb, {})}
            r = _run_notebook(nb, nb_dir, params, env)
            print(f"{n} clips, budget {row['memory_gb']} GB, {nb}: {'ok' if r['ok'] else 'FAILED'} {r['seconds']:.0f} s, "
                  f"peak {r['peak_rss_mb']:.0f} MB", flush=True)
            row["notebooks"].append(r)
            if not r["ok"]:
                break
        sidecar = json.loads((tree / "sonyc_synth.json").read_text()) if (tree / "sonyc_synth.json").is_file() else {}
        row["split_sizes"] = (sidecar.get("params") or {}).get("split_sizes")
        side = art / "cache" / "train" / "cache.json"
        row["cache_on_disk"] = side.is_file()
        dic = art / "dictionary.json"
        row["dictionary_mode"] = json.loads(dic.read_text()).get("mode") if dic.is_file() else None
        results.append(row)
        if not args.keep:
            shutil.rmtree(art, ignore_errors=True)
    if args.merge and Path(args.out).is_file():
        old = json.loads(Path(args.out).read_text())["runs"]
        for row in results:
            same = next((r for r in old if (r["clips"], r["memory_gb"]) == (row["clips"], row["memory_gb"])), None)
            if same is None:
                old.append(row)
                continue
            done = {n["notebook"]: n for n in row["notebooks"]}
            had = {n["notebook"] for n in same["notebooks"]}
            same["notebooks"] = [{**done[n["notebook"]], "rerun": True} if n["notebook"] in done else n
                                 for n in same["notebooks"]] + [n for n in row["notebooks"] if n["notebook"] not in had]
            for key in ("split_sizes", "cache_on_disk", "dictionary_mode"):
                same[key] = row[key] if row[key] is not None else same.get(key)
        results = old
    base = {r["clips"]: r for r in results if not r["budget_given"]}
    ratios = {}
    if len(base) >= 2:
        lo, hi = base[min(base)], base[max(base)]
        for a, b in zip(lo["notebooks"], hi["notebooks"]):
            ratios[a["notebook"]] = round(b["peak_rss_mb"] / a["peak_rss_mb"], 3) if a["peak_rss_mb"] else None
    from l2i_core.pipeline.notebooks import machine_info

    payload = {
        "what": "notebooks 01-08 with papermill -p dataset sonyc on synthetic SONYC-layout trees (10 s scenes mixed "
                "from real ESC clips); epochs cut to 1, dictionary max_iter 50, notebook 05's curves 2 steps; "
                "peak RSS = the kernel's VmHWM",
        "preset": args.preset, "machine": machine_info(), "python": platform.python_version(),
        "runs": results, "peak_ratio_largest_vs_smallest": ratios,
        "target": "peak RSS at the largest size <= 1.25 x at the smallest, every notebook; the budget run finishes",
    }
    Path(args.out).write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(ratios), flush=True)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
