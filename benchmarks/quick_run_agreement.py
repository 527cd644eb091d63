"""Do two quick runs give the same results? (a refactor must move no number)

Runs of ``l2i reproduce --quick`` with the code before and after a change, each into its own reports
folder, are compared number by number (``record_run.agreement``: every number of ``results`` in
``<reports>/<dataset>/results.json``, timings left out, exactly by default (``--rtol``); NaN agrees with NaN)::

    git worktree add /tmp/before <commit before>
    (cd /tmp/before && python -m l2i_core reproduce --dataset esc10 --quick --reports-dir /tmp/before_reports \\
        --artifacts-dir /tmp/before_art/esc10)
    python -m l2i_core reproduce --dataset esc10 --quick --reports-dir /tmp/after_reports --artifacts-dir /tmp/after_art/esc10
    python benchmarks/quick_run_agreement.py /tmp/before_reports /tmp/after_reports esc10 urbanmix --label restructure

writes ``benchmarks/results/quick_run_agreement_<label>.json``: per dataset, how many numbers both runs
recorded, how many agree, the first paths that differ, and the package digests of both runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record_run import ROOT, agreement  # noqa: E402


def compare_runs(before: Path, after: Path, datasets, *, rtol: float = 0.0) -> dict:
    """``{dataset: {"shared", "identical", "differ", "rtol", "package_sha256": {before, after}}}``."""
    out = {}
    for ds in datasets:
        a = json.loads((after / ds / "results.json").read_text())
        b = json.loads((before / ds / "results.json").read_text())
        out[ds] = {**agreement(a.get("results", {}), b.get("results", {}), rtol=rtol),
                   "package_sha256": {"before": b.get("package_sha256"), "after": a.get("package_sha256")},
                   "quick": bool(a.get("quick", True))}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("datasets", nargs="+")
    p.add_argument("--label", default="run")
    p.add_argument("--rtol", type=float, default=0.0, help="relative tolerance (default 0: bit for bit)")
    args = p.parse_args(argv)
    res = compare_runs(args.before, args.after, args.datasets, rtol=args.rtol)
    dest = ROOT / "benchmarks" / "results" / f"quick_run_agreement_{args.label}.json"
    dest.write_text(json.dumps({"what": "l2i reproduce --quick before and after, results compared number by number",
                                "datasets": res}, indent=1) + "\n")
    for ds, r in res.items():
        print(f"{ds}: {r['identical']} of {r['shared']} numbers identical (rtol {r['rtol']})")
    print(dest)
    return 0 if all(r["identical"] == r["shared"] for r in res.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
