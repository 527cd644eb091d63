"""Where notebook 08's time goes at the full protocol: one run's parts, read from what the run recorded.

Notebook 08 records, in ``<artifacts>/results.json``: each trained explainer's training seconds per seed
(``comparison.budgets``, from the sidecars: seeds reused from an earlier run keep their first training's
seconds), the scoring seconds per condition and explainer (``comparison.seconds``), the sanity check's
retraining seconds per row and its wall clock (``comparison.sanity``) and each ground-truth-about-f
study's seconds (``model_truth.<kind>.seconds``); ``l2i reproduce`` records the notebook's wall clock in
the reports' ``results.json`` (``steps``). This script sums them per part, so the cost of the protocol
(3 seeds, the sanity check at full recipes, ground truth about f) can be read beside the notebook's time,
and keeps what the run found (sanity verdicts, ground-truth tables, :func:`findings`)::

    l2i reproduce --dataset esc10 --reports-dir R --artifacts-dir A --only 08 --force
    python benchmarks/notebook08_costs.py A/results.json R/esc10/results.json esc10_full_protocol

writes ``benchmarks/results/notebook08_costs_<name>.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parts(results: dict, seed: int = 0) -> dict:
    """Seconds per part of notebook 08 from an artifacts ``results.json`` (see the module docstring)."""
    cmp = results.get("comparison") or {}
    training = {}
    for method, b in (cmp.get("budgets") or {}).items():
        for s, sec in zip(b.get("seeds", []), b.get("seconds", [])):
            if int(s) != seed:  # the run's own seed is notebook 03's (L2I) or 08's first L-MAC
                training[f"{method}, seed {s}"] = float(sec)
    own_lmac = (cmp.get("budgets") or {}).get("L-MAC", {})
    scoring = {k: float(v) for k, v in (cmp.get("seconds") or {}).items()}
    sanity = cmp.get("sanity") or {}
    san_rows = {}
    for r in sanity.get("table") or []:
        if r.get("randomised") != "none (control)" and isinstance(r.get("seconds"), (int, float)):
            san_rows[f"{r['method']}, {r['randomised']}"] = float(r["seconds"])
    truth = {k: float((v.get("seconds") or {}).get("total", 0.0)) for k, v in (results.get("model_truth") or {}).items()}
    out = {
        "other_seeds_training_s": round(sum(training.values()), 1), "other_seeds_training": training,
        "lmac_seed0_training_s": round(float(dict(zip(own_lmac.get("seeds", []), own_lmac.get("seconds", []))).get(seed, 0.0)), 1),
        "scoring_s": round(sum(scoring.values()), 1),
        "sanity_wall_s": round(float(sanity.get("seconds") or 0.0), 1),
        "sanity_retraining_s": round(sum(san_rows.values()), 1), "sanity_retraining": san_rows,
        "model_truth_s": {k: round(v, 1) for k, v in truth.items()},
    }
    return out


def findings(results: dict) -> dict:
    """What the run found, beside its costs: each method's sanity verdict with its ρ, and each ground-truth
    study's table (mass inside with its interval, chance, rank accuracy) and shortcut check."""
    sanity = (results.get("comparison") or {}).get("sanity") or {}
    rho = {}
    for r in sanity.get("table") or []:
        rho.setdefault(r["method"], {})[r["randomised"]] = {k: r.get(k) for k in ("rho", "low", "high", "n", "p_holm")}
    verdicts = {v["method"]: {"verdict": v["verdict"], "reason": v["reason"], "rho": rho.get(v["method"], {})}
                for v in sanity.get("verdicts") or []}
    truth = {}
    for kind, rec in (results.get("model_truth") or {}).items():
        truth[kind] = {"f": {k: (rec.get("classifier") or {}).get(k) for k in ("validation", "test_accuracy", "test_clips")},
                       "shortcut": rec.get("shortcut"),
                       "table": [{k: t.get(k) for k in ("method", "clips", "mass inside", "low", "high", "chance",
                                                        "rank accuracy", "p above chance")} for t in rec.get("table") or []]}
    return {"sanity": verdicts, "model_truth": truth}


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__)
        return 2
    art, rep, name = Path(argv[0]), Path(argv[1]), argv[2]
    for p in (art, rep):
        if not p.is_file():
            raise SystemExit(f"{p}: no such results.json; run notebook 08 first (see the docstring)")
    report = json.loads(rep.read_text())
    step = next((s for s in report.get("steps", []) if str(s.get("notebook", "")).startswith("08")), {})
    out = {"dataset": report.get("dataset"), "preset": report.get("preset"), "machine": report.get("machine"),
           "notebook_08_s": step.get("seconds")}
    results = json.loads(art.read_text())
    out.update(parts(results, int(report.get("seed", 0) or 0)))
    out["findings"] = findings(results)
    dest = ROOT / "benchmarks" / "results" / f"notebook08_costs_{name}.json"
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
