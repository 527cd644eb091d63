"""Results files that notebooks write and later notebooks and reports read.

Each run keeps one ``results.json`` in its ``artifacts_dir``; every notebook updates its own section
(``"classifier"``, ``"fidelity"``, ...), so the file always holds the latest number of each step,
next to the data, split and protocol it was measured on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .config import PAPER

__all__ = ["update_results", "read_results", "classifier_table"]


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
