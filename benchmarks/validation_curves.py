"""Where the default run's training budgets could stop: every validation curve of a run, read back.

Issue 19 asks for "fewer epochs where the validation curve is flat, with the curve as evidence".
Every model the pipeline trains through the one engine (the classifier f, the two Θ heads, L-MAC, the
aiSFX fine-tuning candidates) records its per-epoch history in its JSON sidecar: the validation score
that selects the checkpoint and the seconds of each epoch. This reads them from one artifacts folder
per run and prints, for each model:

* ``best``: the epoch whose checkpoint was kept (selection on validation, never on test);
* ``patience P``: where early stopping with patience P would stop (P epochs without a new best),
  and the seconds it saves. Where it stops after the best epoch the selected checkpoint, and so every
  number downstream, is **the same**: this is a cut with no effect on any result;
* ``near best``: the first epoch whose running best is within ``TOLERANCE`` (2 %) of the gain from
  the first epoch to the best, and the seconds after it: what a shorter schedule could save at most,
  *if* a shorter schedule reached the same score (it need not: the learning rate follows the schedule
  of the whole run), with a checkpoint that is no longer the same.

Writes ``benchmarks/results/validation_curves.json``::

    python benchmarks/validation_curves.py artifacts/esc10-cpu [artifacts/urbanmix-cpu ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 0.02
PATIENCE = (5, 10)


def _score_key(side: dict, history: list[dict]) -> str | None:
    """The column the engine selected on: ``val_<metric>`` for f, else ``val_selection_score`` (the Θ heads);
    None where the history has neither (L-MAC, which selects on minus its ``val_loss``)."""
    keys = [k for k in ("val_selection_score",) if k in history[0]]
    if side.get("metric") and f"val_{side['metric']}" in history[0]:
        keys.insert(0, f"val_{side['metric']}")
    return keys[0] if keys else None


def curve_summary(history: list[dict], key: str, *, tolerance: float = TOLERANCE,
                  patience: tuple[int, ...] = PATIENCE) -> dict:
    """Best epoch, early-stopping points and the near-best epoch of one validation curve (higher is better)."""
    scores = [float(h[key]) for h in history]
    secs = [float(h.get("seconds", 0.0)) for h in history]
    n = len(scores)
    best = max(range(n), key=lambda e: (scores[e], -e))  # the first epoch reaching the maximum, as the engine keeps
    out = {"epochs": n, "score": key, "first": scores[0], "best_epoch": best, "best": scores[best],
           "seconds": round(sum(secs), 1)}
    for p in patience:
        run_best, since, stop = -float("inf"), 0, n - 1
        for e, s in enumerate(scores):
            if s > run_best:
                run_best, since = s, 0
            else:
                since += 1
            if since >= p:
                stop = e
                break
        out[f"patience_{p}"] = {"stops_after_epoch": stop, "same_checkpoint": stop >= best,
                                "seconds_saved": round(sum(secs[stop + 1 :]), 1)}
    gain = scores[best] - scores[0]
    run_best = -float("inf")
    near = best
    for e, s in enumerate(scores):
        run_best = max(run_best, s)
        if run_best >= scores[best] - tolerance * abs(gain):
            near = e
            break
    out["near_best"] = {"epoch": near, "score": max(scores[: near + 1]), "tolerance": tolerance,
                        "seconds_after": round(sum(secs[near + 1 :]), 1)}
    return out


def run_curves(artifacts_dir: Path) -> dict:
    """Every sidecar of ``artifacts_dir`` with a history: ``{model: curve_summary}``."""
    out = {}
    for side_path in sorted(artifacts_dir.glob("*.json")):
        side = json.loads(side_path.read_text())
        hists = {side_path.stem: side.get("history")}
        hists.update({f"{side_path.stem}:{k}": v for k, v in (side.get("histories") or {}).items()})
        for name, hist in hists.items():
            if not hist or not isinstance(hist, list) or not isinstance(hist[0], dict):
                continue
            key = _score_key(side, hist)
            if key is None and "val_loss" in hist[0]:  # L-MAC selects on minus its validation loss
                hist, key = [{**h, "val_minus_loss": -float(h["val_loss"])} for h in hist], "val_minus_loss"
            if key is not None:
                out[name] = curve_summary(hist, key)
    return out


def main(argv: list[str]) -> None:
    from l2i_core.pipeline.notebooks import machine_info

    if not argv:
        raise SystemExit("usage: python benchmarks/validation_curves.py ARTIFACTS_DIR [ARTIFACTS_DIR ...] "
                         "(the folders of a full run, e.g. artifacts/esc10-cpu)")
    result = {"machine": machine_info(), "tolerance": TOLERANCE, "patience": list(PATIENCE), "runs": {}}
    for a in map(Path, argv):
        if not a.is_dir():
            raise SystemExit(f"{a}: no such artifacts folder; run `make reproduce` (or the notebooks) first")
        result["runs"][a.name] = run_curves(a)
    path = ROOT / "benchmarks" / "results" / "validation_curves.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    for run, models in result["runs"].items():
        for name, s in models.items():
            p = s[f"patience_{PATIENCE[-1]}"]
            print(f"{run} {name}: best epoch {s['best_epoch']}/{s['epochs']} ({s['score']} {s['best']:.3f}, "
                  f"{s['seconds']:.0f} s); patience {PATIENCE[-1]} stops after {p['stops_after_epoch']} "
                  f"({'same' if p['same_checkpoint'] else 'another'} checkpoint, saves {p['seconds_saved']:.0f} s); "
                  f"within {TOLERANCE:.0%} of the gain at epoch {s['near_best']['epoch']} "
                  f"({s['near_best']['seconds_after']:.0f} s after it)")
    print(f"-> {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
