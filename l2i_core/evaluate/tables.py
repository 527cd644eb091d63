"""The comparison's tables as a reviewer reads them: every cell with its n, an interval of the right kind,
Holm-corrected paired tests within the table, and a leader only where a corrected test rejects.

The rows are those of :func:`l2i_core.evaluate.harness.compare` (one row per explained input, method and,
when explainers were trained with several seeds, ``seed``). For each (method, metric) cell:

* a 0/1 metric (AI, Fid-In: :data:`PROPORTION_COLUMNS`) gets the exact Clopper–Pearson interval when its
  rows are independent clips of one seed, a cluster / two-level bootstrap otherwise
  (:func:`l2i_core.evaluate.stats.proportion_cell`);
* any other metric the percentile bootstrap over clips, over scenes when several rows share a scene
  (the rows' ``uid``), and over seeds × clips with several seeds (:func:`~l2i_core.evaluate.stats.mean_cell`);
* below :data:`~l2i_core.evaluate.stats.MIN_ROWS` units no interval at all.

The contestants (every method but the references :data:`REFERENCES`) are compared pairwise on every
metric of the table (Wilcoxon signed-rank, paired by clip or scene, seeds averaged first); the p-values of
the whole table are Holm-corrected together, and a metric's leader is named only when the corrected test of
the best against the runner-up rejects (:func:`~l2i_core.evaluate.stats.leader`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import l2i_core.evaluate.stats as stats
from l2i_core._errors import ParameterError

__all__ = ["PROPORTION_COLUMNS", "REFERENCES", "ReviewerTable", "per_seed_table", "reviewer_table"]

#: 0 / 1 (or 0 / 100) per row: exact intervals for proportions.
PROPORTION_COLUMNS = ("AI", "fid_in", "fid_in_speechbrain")

#: Reference rows, never contestants: doing nothing (the identity mask), chance (a random mask) and the
#: ceiling where the stem is known (the oracle ideal ratio mask).
REFERENCES = ("identity", "random", "oracle IRM")


@dataclass
class ReviewerTable:
    """One condition's table: ``cells`` (method × metric → :func:`stats.mean_cell` / ``proportion_cell``
    dicts), the Holm-corrected ``tests`` of the whole table and one ``verdicts`` row per metric."""

    condition: str
    cells: dict
    tests: pd.DataFrame
    verdicts: pd.DataFrame
    names: dict = field(default_factory=dict)

    def frame(self, digits: int = 2) -> pd.DataFrame:
        """The table to display: ``"61.6 [58.2, 64.9]"`` per cell (``"61.6 (no interval)"`` below n = 10),
        and per method the rows, units and seeds behind its cells."""
        out: dict = {}
        for (method, col), cell in self.cells.items():
            row = out.setdefault(method, {})
            row[self.names.get(col, col)] = _format(cell, digits)
            counts = f"{cell['n']} rows, {cell['n_clusters']} units, {cell['n_seeds']} seed{'s' * (cell['n_seeds'] != 1)}"
            row.setdefault("n", counts)
        return pd.DataFrame(out).T

    def sentences(self) -> list[str]:
        """One sentence per metric: the leader and its corrected test, or why there is none."""
        out = []
        for _, v in self.verdicts.iterrows():
            name = self.names.get(v["column"], v["column"])
            way = "higher" if v["higher_is_better"] else "lower"
            if isinstance(v["leader"], str):
                out.append(f"{name} ({way} is better): {v['leader']} leads ({v['reason']}).")
            else:
                out.append(f"{name} ({way} is better): no leader ({v['reason']}).")
        return out

    def record(self) -> dict:
        """JSON-ready: per method and metric ``mean``, ``low``, ``high``, ``n``, ``n_units``, ``n_seeds``,
        ``interval``; the verdicts."""
        per: dict = {}
        for (method, col), c in self.cells.items():
            per.setdefault(method, {})[col] = {"mean": _finite(c["estimate"]), "low": _finite(c["low"]),
                                               "high": _finite(c["high"]), "n": int(c["n"]),
                                               "n_units": int(c["n_clusters"]), "n_seeds": int(c["n_seeds"]),
                                               "interval": c["method"]}
        return {"cells": per, "verdicts": self.verdicts.to_dict(orient="records")}


def _finite(v) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


def _format(cell: dict, digits: int) -> str:
    est, lo, hi = cell["estimate"], cell["low"], cell["high"]
    if not np.isfinite(est):
        return "–"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{est:.{digits}f} (n = {cell['n_clusters']}: no interval)"
    return stats.format_ci(est, lo, hi, digits=digits)


def _rows(df: pd.DataFrame, condition: str, ground_truth_only: bool) -> pd.DataFrame:
    if "condition" not in df.columns:
        raise ParameterError("the scores have no 'condition' column: pass the frame of harness.compare")
    d = df[df["condition"] == condition]
    if d.empty:
        raise ParameterError(f"no rows of condition {condition!r}; the conditions are {sorted(df['condition'].unique())}")
    if ground_truth_only:
        d = d[d["explains_label"]]
    return d


def reviewer_table(df: pd.DataFrame, condition: str, columns: Sequence[str], *, higher_is_better: dict,
                   names: dict | None = None, ground_truth_only: bool = False, unit: str = "uid",
                   seed_col: str = "seed", references: Sequence[str] = REFERENCES, alpha: float = 0.05,
                   seed: int = 0) -> ReviewerTable:
    """Cells, corrected tests and verdicts of one condition (see the module docstring).

    Parameters
    ----------
    df : pandas.DataFrame
        Scored rows with ``condition``, ``method``, ``unit`` and the ``columns`` (``seed`` optional).
    condition : str
    columns : sequence of str
        The metrics of the table (those absent or all-NaN are skipped).
    higher_is_better : dict
        Column → whether a larger value is better (a column missing here gets cells but no verdict).
    names : dict, optional
        Column → display name.
    ground_truth_only : bool
        Keep the rows whose explained class is the stem's (``explains_label``).
    unit : str
        The independent unit of each row: the clip's uid, or the scene's for scenes.
    seed_col : str
        The explainers' training-seed column (absent: one seed).
    references : sequence of str
        Methods shown but never contestants.
    alpha : float
        Of the Holm correction over the whole table.
    seed : int
        Of the bootstraps.

    Returns
    -------
    ReviewerTable

    Raises
    ------
    ParameterError
        If the frame lacks the condition, the unit column or a ``condition`` column.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"condition": "clean", "method": ["A"] * 30 + ["B"] * 30, "uid": list(range(30)) * 2,
    ...                    "score": np.r_[rng.normal(1, 0.1, 30), rng.normal(0, 0.1, 30)]})
    >>> t = reviewer_table(df, "clean", ["score"], higher_is_better={"score": True})
    >>> t.verdicts.loc[0, "leader"], t.cells[("A", "score")]["n"]
    ('A', 30)
    """
    d = _rows(df, condition, ground_truth_only)
    if unit not in d.columns:
        raise ParameterError(f"the scores have no {unit!r} column naming each row's clip or scene")
    cols = [c for c in columns if c in d.columns and d[c].notna().any()]
    cells: dict = {}
    for method, g in d.groupby("method", sort=False):
        s = g[seed_col].to_numpy() if seed_col in g.columns else None
        for c in cols:
            v = g[c].to_numpy(dtype=np.float64)
            if c in PROPORTION_COLUMNS:
                cells[(method, c)] = stats.proportion_cell(v, g[unit].to_numpy(), s, seed=seed,
                                                           percent=True if c == "AI" else None)
            else:
                cells[(method, c)] = stats.mean_cell(v, g[unit].to_numpy(), s, seed=seed)
    contestants = [m for m in d["method"].unique() if m not in set(references)]
    frames = []
    if len(contestants) >= 2:
        for c in cols:
            if c not in higher_is_better:
                continue
            t = stats.paired_tests(d[d["method"].isin(contestants)], methods=contestants, column=c, unit=unit,
                                   seed_col=seed_col if seed_col in d.columns else None, alpha=alpha)
            frames.append(t)
    tests = stats.holm_table(pd.concat(frames, ignore_index=True), alpha=alpha) if frames else pd.DataFrame()
    verdicts = []
    for c in cols:
        if c not in higher_is_better:
            continue
        est = {m: cells[(m, c)]["estimate"] for m in contestants if np.isfinite(cells[(m, c)]["estimate"])}
        n = {m: cells[(m, c)]["n_clusters"] for m in est}
        if len(est) < 2:
            who, why = None, "fewer than two methods with a value"
        else:
            who, why = stats.leader(est, tests, higher_is_better=bool(higher_is_better[c]), n_rows=n, column=c)
        verdicts.append({"column": c, "higher_is_better": bool(higher_is_better[c]), "leader": who, "reason": why})
    return ReviewerTable(condition=condition, cells=cells, tests=tests, names=dict(names or {}),
                         verdicts=pd.DataFrame(verdicts, columns=["column", "higher_is_better", "leader", "reason"]))


def per_seed_table(df: pd.DataFrame, condition: str, columns: Sequence[str], *, names: dict | None = None,
                   ground_truth_only: bool = False, seed_col: str = "seed", digits: int = 3) -> pd.DataFrame:
    """Each method's mean per training seed (one row per method and seed), so that a reader sees how far
    the seeds move a number. Methods without a seed column appear once, as seed 0."""
    d = _rows(df, condition, ground_truth_only)
    cols = [c for c in columns if c in d.columns and d[c].notna().any()]
    if seed_col not in d.columns:
        d = d.assign(**{seed_col: 0})
    out = d.groupby(["method", seed_col], sort=False)[cols].mean().round(digits)
    return out.rename(columns=dict(names or {}))
