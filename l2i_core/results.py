"""Results files that notebooks write and later notebooks and reports read.

Each run keeps one ``results.json`` in its ``artifacts_dir``; every notebook updates its own section
(``"classifier"``, ``"fidelity"``, ...), so the file always holds the latest number of each step,
next to the data, split and protocol it was measured on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .paper import PAPER

__all__ = ["update_results", "read_results", "classifier_table", "readme_rows", "readme_markdown", "write_readme_table"]


def read_results(path: str | Path) -> dict:
    """The results JSON as a dict (``{}`` when it does not exist yet)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else {}


def update_results(path: str | Path, section: str, values: dict) -> dict:
    """Replace one section of the results JSON at ``path`` and return the whole content."""
    path = Path(path)
    data = read_results(path)
    data[section] = values
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=float) + "\n")
    return data


def classifier_table(dataset: str, scores: dict, protocol: str, *, multilabel: bool) -> pd.DataFrame:
    """Our test score beside the paper's and the literature's, each with its data and protocol."""
    if multilabel:
        rows = [
            {"model": "l2i classifier (ours, from scratch)", "data": dataset, "protocol": protocol + "; test split",
             "metric": "macro-AUPRC", "value": round(scores["macro_auprc"], 3)},
            {"model": "L2I paper: Kumar et al. CNN, AudioSet-pretrained", "data": "SONYC-UST v2",
             "protocol": "official test split", "metric": "macro-AUPRC",
             "value": PAPER["classifier"]["sonyc_macro_auprc"]},
        ]
    else:
        rows = [
            {"model": "l2i classifier (ours, from scratch)", "data": dataset, "protocol": protocol + "; test split",
             "metric": "accuracy (%)", "value": round(100 * scores["accuracy"], 1)},
            {"model": "L2I paper: Kumar et al. CNN, AudioSet-pretrained", "data": "ESC-50",
             "protocol": "5-fold cross-validation", "metric": "accuracy (%)",
             "value": round(100 * PAPER["classifier"]["esc50_accuracy"], 1)},
            {"model": "Piczak (2015) CNN, from scratch", "data": "ESC-10", "protocol": "5-fold cross-validation",
             "metric": "accuracy (%)", "value": round(100 * PAPER["classifier"]["esc10_piczak2015_accuracy"], 1)},
        ]
    return pd.DataFrame(rows)


# -- the README's table, generated from reports/*/results.json ---------------------------------------
README_START = "<!-- results:start (generated from reports/*/results.json by l2i_core.results.write_readme_table) -->"
README_END = "<!-- results:end -->"


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}".rstrip("0").rstrip(".") if abs(v) < 1e4 else f"{v:.3g}"
    return str(v)


def readme_rows(results: dict) -> list[dict]:
    """The README's chosen headline rows (metric, ours, paper, data) of one ``reports/<dataset>/results.json``."""
    ds = results.get("dataset", "?")
    sec = results.get("results", {}) or {}
    rows: list[dict] = []
    clf = sec.get("classifier") or {}
    if "accuracy" in clf:
        rows.append({"metric": "classifier accuracy (%)", "ours": 100 * clf["accuracy"],
                     "paper": 100 * PAPER["classifier"]["esc50_accuracy"], "paper data": "ESC-50, 5-fold CV"})
    elif "macro_auprc" in clf:
        rows.append({"metric": "classifier macro-AUPRC", "ours": clf["macro_auprc"],
                     "paper": PAPER["classifier"]["sonyc_macro_auprc"], "paper data": "SONYC-UST test"})
    fid = (sec.get("fidelity") or {}).get("heads", {})
    for head, paper_head in (("attention", "L2I attention"), ("max", "L2I max-pool")):
        s = fid.get(head) or {}
        if "top1" in s:
            for k in ("top1", "top3", "top5"):
                if k in s:
                    rows.append({"metric": f"{head} Θ {k} fidelity (%)", "ours": s[k],
                                 "paper": PAPER["fidelity_esc50"][paper_head][k], "paper data": "ESC-50, 5-fold CV"})
        elif "macro_auprc" in s:
            for k in ("macro_auprc", "micro_auprc", "max_f1"):
                rows.append({"metric": f"{head} Θ fidelity {k.replace('_', '-')}", "ours": s[k],
                             "paper": PAPER["fidelity_sonyc"][paper_head][k], "paper data": "SONYC-UST test"})
    ff = (sec.get("faithfulness_attention") or {}).get("ff", {})
    for tau in ("0.5", "0.3", "0.1"):
        if tau in ff:
            r = ff[tau]
            rows.append({"metric": f"attention FF median logit drop, τ = {tau} (random active comps.)",
                         "ours": f"{_fmt(r['median_logit_drop'])} ({_fmt(r['random_active'], 4)})",
                         "paper": PAPER["faithfulness_esc50"].get(float(tau)), "paper data": "ESC-50 (random < 1e-4)"})
    cor = sec.get("corruptions_attention") or {}
    mx = cor.get("mixtures") or {}
    if mx:
        bm = mx.get("by_method", {})
        rows.append({"metric": "mixtures x1 + x2: L2I closer to x1 than random comps. (SI-SDR, % of pairs)",
                     "ours": mx.get("l2i_beats_random_si_sdr_pct"), "paper": None, "paper data": "not in the paper"})
        if "L2I" in bm:
            rows.append({"metric": "mixtures: SI-SDR vs true stem, median dB (random / oracle IRM)",
                         "ours": f"{_fmt(bm['L2I']['si_sdr_median'], 1)} ({_fmt(bm.get('random', {}).get('si_sdr_median'), 1)}"
                                 f" / {_fmt(bm.get('oracle IRM', {}).get('si_sdr_median'), 1)})",
                         "paper": None, "paper data": "not in the paper"})
    sc = (cor.get("scenes") or {}).get("by_method", {})
    if "L2I" in sc:
        rows.append({"metric": "scenes: SI-SDR vs class stem, median dB (random / oracle IRM)",
                     "ours": f"{_fmt(sc['L2I']['si_sdr_median'], 1)} ({_fmt(sc.get('random', {}).get('si_sdr_median'), 1)}"
                             f" / {_fmt(sc.get('oracle IRM', {}).get('si_sdr_median'), 1)})",
                     "paper": None, "paper data": "not in the paper"})
    steps = [st for st in results.get("steps", []) if isinstance(st, dict)]
    if steps and all(isinstance(st.get("seconds"), (int, float)) for st in steps):
        from .pipeline import steps_seconds

        rows.append({"metric": f"notebooks {len(steps)}: sum of step times (min, 2-core CPU)",
                     "ours": steps_seconds(results) / 60, "paper": None, "paper data": ""})
    for r in rows:
        r["dataset"] = ds
        r["protocol"] = (sec.get("classifier") or {}).get("protocol", "")
    return rows


def readme_markdown(reports_dir: str | Path = "reports") -> str:
    """The README's results table: our headline numbers beside the paper's, per dataset."""
    lines = ["| data (test split) | metric | ours | paper | paper's data |", "|---|---|---|---|---|"]
    for path in sorted(Path(reports_dir).glob("*/results.json")):
        res = json.loads(path.read_text())
        if res.get("quick"):
            continue
        for r in readme_rows(res):
            lines.append(f"| {r['dataset']} | {r['metric']} | {_fmt(r['ours'])} | {_fmt(r['paper'])} | {r['paper data']} |")
    return "\n".join(lines)


def write_readme_table(readme: str | Path = "README.md", reports_dir: str | Path = "reports") -> bool:
    """Replace the block between the results markers of ``readme``; True when it changed."""
    readme = Path(readme)
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise ValueError(f"{readme}: no results markers; add {README_START!r} and {README_END!r}")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    new = head + README_START + "\n" + readme_markdown(reports_dir) + "\n" + README_END + tail
    readme.write_text(new)
    return new != text
