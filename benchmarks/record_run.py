"""Record a whole run of one dataset (``l2i reproduce`` into a scratch reports folder) as a benchmark.

Reads ``REPORTS_DIR/<dataset>/results.json`` of that run and writes
``benchmarks/results/run_<name>.json``: the machine it ran on (CPU, ATen capability, instruction-set
caps, bf16 autocast), the seconds of each notebook, the minutes in all, notebook 08's seconds without
the L-MAC training it did (the time of 08 "with the explainers already trained"), and the committed
run of ``reports/<dataset>/results.json`` beside it: its notebook seconds, and how many of the numbers
both runs recorded agree (to 1e-6 relative), so a reader sees whether a faster or slower machine
changed any result::

    l2i reproduce --dataset esc10 --reports-dir /tmp/run/reports --artifacts-dir /tmp/run/art --force
    python benchmarks/record_run.py /tmp/run/reports esc10 esc10_native_rerun

With ``--rerun-08 DIR`` (the reports folder of ``l2i reproduce ... --only 08 --force`` into a copy,
after the full run, so L-MAC and the interpreters are reused), notebook 08's measured seconds with
the explainers already trained are recorded too. With ``--before-08 DIR`` as well (the same 08-only
rerun, on the same machine and artifacts, with the code before a speed change: e.g. a worktree of the
previous commit first on ``PYTHONPATH``), the file pairs the two: notebook 08's seconds and its scoring
seconds before and after, their ratio, and how many results the two agree on::

    PYTHONPATH=/tmp/old l2i reproduce --dataset esc10 --reports-dir /tmp/old/reports --artifacts-dir /tmp/old/art --only 08 --force
    python benchmarks/record_run.py /tmp/run/reports esc10 esc10_x --rerun-08 /tmp/new/reports --before-08 /tmp/old/reports

``--pair-08 LABEL AFTER BEFORE`` adds another such pair (for example both reruns capped to AVX2 without
bf16), kept under ``notebook_08_before_after_LABEL`` with the machine it ran on. ``--committed DIR``
compares with another reports folder than the repository's ``reports/`` (the run before a regeneration).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _numbers(d, prefix: str = "") -> dict[str, float]:
    """Every number of a results tree by its path, timings left out (they are not results)."""
    out: dict[str, float] = {}
    items = d.items() if isinstance(d, dict) else enumerate(d) if isinstance(d, list) else ()
    for k, v in items:
        path = f"{prefix}/{k}"
        if isinstance(v, bool):
            continue
        if isinstance(v, (int, float)):
            if not any(t in path for t in ("second", "time")):
                out[path] = float(v)
        else:
            out.update(_numbers(v, path))
    return out


def agreement(a: dict, b: dict, *, rtol: float = 1e-6) -> dict:
    """How many numbers recorded in both result trees agree to ``rtol`` (NaN agrees with NaN)."""
    na, nb = _numbers(a), _numbers(b)
    shared = sorted(set(na) & set(nb))

    def same(x: float, y: float) -> bool:
        return (x != x and y != y) or abs(x - y) <= rtol * max(1.0, abs(y))

    differ = [k for k in shared if not same(na[k], nb[k])]
    return {"shared": len(shared), "identical": len(shared) - len(differ), "differ": differ[:20], "rtol": rtol}


def _notebook_08(reports_dir: Path, dataset: str) -> tuple[dict, dict]:
    """The results tree of an 08-only rerun and its times: the notebook's and its scoring's seconds."""
    again = json.loads((reports_dir / dataset / "results.json").read_text())
    step = next(s for s in again["steps"] if s["notebook"] == "08_compare_explainers.ipynb")
    scoring = (again.get("results", {}).get("comparison") or {}).get("seconds") or {}
    return again, {"notebook_seconds": step["seconds"], "scoring_seconds": round(sum(scoring.values()), 1)}


def pair_08(after_dir: Path, before_dir: Path, dataset: str) -> dict:
    """Two 08-only reruns of the same artifacts, after and before a change: times, ratio, agreement."""
    after, t_after = _notebook_08(after_dir, dataset)
    before, t_before = _notebook_08(before_dir, dataset)
    return {"machine": after.get("machine"), "before": t_before, "after": t_after,
            "ratio_before_over_after": {k: round(t_before[k] / t_after[k], 2) for k in t_after if t_after[k]},
            "agreement": agreement(after.get("results", {}), before.get("results", {}))}


def record(reports_dir: Path, dataset: str, committed: Path = ROOT / "reports",
           rerun_08: Path | None = None, before_08: Path | None = None,
           pairs: dict[str, tuple[Path, Path]] | None = None) -> dict:
    run = json.loads((reports_dir / dataset / "results.json").read_text())
    secs = {s["notebook"]: s["seconds"] for s in run["steps"] if s.get("status") == "ran"}
    out = {"data": f"{dataset}, preset {run['preset']}, notebooks at their full-run parameters (l2i reproduce)",
           "machine": run.get("machine"), "package_sha256": run.get("package_sha256"), "notebook_seconds": secs,
           "minutes": round(sum(secs.values()) / 60, 1)}
    lmac = (run.get("results", {}).get("comparison") or {}).get("lmac") or {}
    if "08_compare_explainers.ipynb" in secs and lmac.get("train_seconds"):
        out["notebook_08_without_lmac_training_seconds"] = round(secs["08_compare_explainers.ipynb"]
                                                                 - lmac["train_seconds"], 1)
    if rerun_08 is not None:
        out["notebook_08_with_explainers_trained_seconds"] = _notebook_08(rerun_08, dataset)[1]["notebook_seconds"]
        if before_08 is not None:
            out["notebook_08_before_after"] = pair_08(rerun_08, before_08, dataset)
    for label, (after_dir, before_dir) in (pairs or {}).items():
        out[f"notebook_08_before_after_{label}"] = pair_08(after_dir, before_dir, dataset)
    ref_path = committed / dataset / "results.json"
    if ref_path.is_file():
        ref = json.loads(ref_path.read_text())
        ref_secs = {s["notebook"]: s["seconds"] for s in ref["steps"]}
        out["committed"] = {"machine": ref.get("machine"), "notebook_seconds": ref_secs,
                            "minutes": round(sum(ref_secs.values()) / 60, 1),
                            "agreement": agreement(run.get("results", {}), ref.get("results", {}))}
    return out


def main(argv: list[str]) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="record a whole run of one dataset as a benchmark")
    ap.add_argument("reports_dir", type=Path)
    ap.add_argument("dataset")
    ap.add_argument("name")
    ap.add_argument("--rerun-08", type=Path, default=None, help="reports folder of a rerun of notebook 08 alone")
    ap.add_argument("--before-08", type=Path, default=None,
                    help="the same 08-only rerun with the code before a change (needs --rerun-08)")
    ap.add_argument("--committed", type=Path, default=ROOT / "reports",
                    help="the reports folder of the run to compare with (default: the repository's reports/)")
    ap.add_argument("--pair-08", nargs=3, action="append", default=[], metavar=("LABEL", "AFTER", "BEFORE"),
                    help="another after / before pair of 08-only reruns (e.g. capped to AVX2), kept as "
                         "notebook_08_before_after_LABEL; may be repeated")
    args = ap.parse_args(argv)
    reports_dir, dataset, name = args.reports_dir, args.dataset, args.name
    if not (reports_dir / dataset / "results.json").is_file():
        raise SystemExit(f"{reports_dir / dataset / 'results.json'}: not found; run `l2i reproduce --dataset "
                         f"{dataset} --reports-dir {reports_dir}` first")
    if args.before_08 is not None and args.rerun_08 is None:
        raise SystemExit("--before-08 pairs with --rerun-08: pass the 08-only rerun of the new code too")
    pairs = {label: (Path(after), Path(before)) for label, after, before in args.pair_08}
    out = record(reports_dir, dataset, committed=args.committed, rerun_08=args.rerun_08, before_08=args.before_08,
                 pairs=pairs)
    path = ROOT / "benchmarks" / "results" / f"run_{name}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    agree = (out.get("committed") or {}).get("agreement") or {}
    print(f"{dataset}: {out['minutes']} min of notebooks; {agree.get('identical')}/{agree.get('shared')} numbers "
          f"as committed -> {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
