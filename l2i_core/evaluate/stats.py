"""Confidence intervals and paired tests for comparing explainers, on scipy.

Every number of a comparison table gets a 95 % bootstrap interval (:func:`bootstrap_ci`,
:func:`summarize`, printed with :func:`format_ci`); two explainers measured on the same clips
get a Wilcoxon signed-rank test (:func:`paired_test`).

Missing values follow one rule throughout: a NaN (or ±inf) value is a clip the metric could not
score (a silent estimate, an all-zero mask); it is **dropped**, and the number of values actually
used is reported (``n`` of :func:`paired_test`, the ``"<col> n"`` columns of :func:`summarize`).
Bad input raises :class:`l2i_core.ParameterError`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence

import numpy as np

from l2i_core._errors import ParameterError
from l2i_core._numpy import as_float64

__all__ = ["proportion_ci", "bootstrap_ci", "paired_test", "summarize", "format_ci"]

_METHODS = ("BCa", "percentile", "basic")


def _as_1d(values, name: str) -> np.ndarray:
    """``values`` as a 1-D float64 array (NaN / inf kept)."""
    arr = as_float64(values, name, "a 1-D array of per-clip values")
    if arr.ndim != 1:
        raise ParameterError(f"{name} must be 1-D (one value per clip), got shape {arr.shape}")
    return arr


def bootstrap_ci(values, *, statistic: Callable = np.mean, confidence: float = 0.95, n_resamples: int = 2000,
                 seed: int = 0, method: str = "BCa") -> tuple[float, float, float]:
    """A statistic of per-clip values and its bootstrap confidence interval (``scipy.stats.bootstrap``).

    NaN / inf values are dropped first (count them with ``np.isfinite`` or use :func:`summarize`,
    which reports ``n``). Then:

    * no value left: ``(nan, nan, nan)``;
    * one value ``v``: ``(v, nan, nan)``, since one value has no spread to resample;
    * all values equal to ``v``: ``(statistic, statistic, statistic)``, i.e. ``(v, v, v)`` for the
      mean or the median (every resample is the same sample);
    * otherwise scipy's interval with ``method`` (bias-corrected and accelerated by default). Where
      BCa is undefined (scipy returns NaN on degenerate resamples), the percentile interval is
      returned instead.

    Parameters
    ----------
    values : array_like [shape=(n_clips,)]
        One value per clip.
    statistic : callable
        Accepting an array and an ``axis`` keyword (``np.mean``, ``np.median``, ...); one without
        ``axis`` works too, only slower.
    confidence : float in (0, 1)
    n_resamples : int >= 100
    seed : int
        Seed of the resampling: the same seed gives the same interval.
    method : {"BCa", "percentile", "basic"}

    Returns
    -------
    estimate, low, high : float
        ``statistic(values)`` and the interval's bounds.

    Raises
    ------
    ParameterError
        If ``values`` is not 1-D numeric, or ``confidence``, ``n_resamples`` or ``method`` is invalid.

    Examples
    --------
    >>> bootstrap_ci([2.0, 2.0, 2.0])
    (2.0, 2.0, 2.0)
    >>> est, low, high = bootstrap_ci(np.arange(20.0))
    >>> low < est == 9.5 < high
    True
    """
    if not 0 < confidence < 1:
        raise ParameterError(f"confidence must lie in (0, 1), e.g. 0.95, got {confidence}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer) or n_resamples < 100:
        raise ParameterError(f"n_resamples must be an int >= 100 (2000 is a good default), got {n_resamples!r}")
    if method not in _METHODS:
        raise ParameterError(f"method={method!r}; choose one of {', '.join(_METHODS)}")
    x = _as_1d(values, "values")
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (math.nan, math.nan, math.nan)
    estimate = float(statistic(x))
    if x.size == 1:
        return (estimate, math.nan, math.nan)
    if np.all(x == x[0]):
        return (estimate, estimate, estimate)
    from scipy.stats import bootstrap  # scipy.stats is slow to import: only here

    seeding = "rng" if "rng" in inspect.signature(bootstrap).parameters else "random_state"  # scipy >= 1.15

    def _interval(how: str) -> tuple[float, float]:
        res = bootstrap((x,), statistic, n_resamples=int(n_resamples), confidence_level=confidence, method=how,
                        **{seeding: np.random.default_rng(seed)})
        return float(res.confidence_interval.low), float(res.confidence_interval.high)

    low, high = _interval(method)
    if method == "BCa" and not (np.isfinite(low) and np.isfinite(high)):
        low, high = _interval("percentile")
    return (estimate, low, high)


def paired_test(a, b, *, alternative: str = "two-sided", zero_method: str = "wilcox") -> dict:
    """Wilcoxon signed-rank test of two explainers' scores on the same clips (``scipy.stats.wilcoxon``).

    Pairs where either value is NaN / inf are dropped; ``n`` is the number of pairs kept. With
    ``zero_method="wilcox"`` (scipy's default) pairs with a zero difference are left out of the ranks
    (``n_nonzero`` counts the others); ``"zsplit"`` splits them between the two signs, ``"pratt"``
    ranks them and drops their ranks. Edge cases, without calling scipy:

    * no pair left: statistic and p-value NaN;
    * every difference zero (identical scores): statistic 0 and p-value 1 (no evidence of a
      difference), where scipy would warn and divide 0 by 0.

    Parameters
    ----------
    a, b : array_like [shape=(n_clips,)]
        Paired values, e.g. the SI-SDR of L2I and of L-MAC on the same clips.
    alternative : {"two-sided", "greater", "less"}
        ``"greater"`` tests whether ``a − b`` tends to be positive.
    zero_method : {"wilcox", "pratt", "zsplit"}

    Returns
    -------
    result : dict
        ``statistic`` (float, scipy's), ``p_value`` (float), ``n`` (pairs kept), ``n_nonzero`` (pairs
        with a non-zero difference) and ``median_difference`` (median of ``a − b``, NaN when ``n = 0``).

    Raises
    ------
    ParameterError
        If ``a`` and ``b`` are not 1-D, differ in length, or ``alternative`` / ``zero_method`` is unknown.

    Examples
    --------
    >>> out = paired_test(np.arange(20.0) + 1.0, np.arange(20.0))
    >>> out["n"], out["median_difference"], out["p_value"] < 0.01
    (20, 1.0, True)
    """
    if alternative not in ("two-sided", "greater", "less"):
        raise ParameterError(f"alternative={alternative!r}; choose 'two-sided', 'greater' or 'less'")
    if zero_method not in ("wilcox", "pratt", "zsplit"):
        raise ParameterError(f"zero_method={zero_method!r}; choose 'wilcox', 'pratt' or 'zsplit'")
    x, y = _as_1d(a, "a"), _as_1d(b, "b")
    if x.shape != y.shape:
        raise ParameterError(f"a has {x.size} values but b has {y.size}; pass one value per clip for both, same clips")
    keep = np.isfinite(x) & np.isfinite(y)
    d = x[keep] - y[keep]
    n, n_nonzero = int(d.size), int(np.count_nonzero(d))
    median = float(np.median(d)) if n else math.nan
    if n == 0:
        statistic, p_value = math.nan, math.nan
    elif n_nonzero == 0:
        statistic, p_value = 0.0, 1.0
    else:
        from scipy.stats import wilcoxon  # scipy.stats is slow to import: only here

        res = wilcoxon(d, zero_method=zero_method, alternative=alternative)
        statistic, p_value = float(res.statistic), float(res.pvalue)
    return {"statistic": statistic, "p_value": p_value, "n": n, "n_nonzero": n_nonzero, "median_difference": median}


def summarize(df, by: str | Sequence[str] | None, columns: Sequence[str], *, statistic: Callable = np.mean,
              confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0, method: str = "BCa"):
    """Per group and column: the statistic and its bootstrap interval, ready for a comparison table.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per clip (and explainer, condition, ...), one column per metric.
    by : str or sequence of str or None
        Grouping columns (e.g. ``["dataset", "explainer"]``); ``None`` summarises the whole frame.
    columns : sequence of str
        Metric columns to summarise.
    statistic, confidence, n_resamples, seed, method
        As :func:`bootstrap_ci`; every group and column uses the same ``seed``.

    Returns
    -------
    summary : pandas.DataFrame
        Indexed by the groups (a single row ``"all"`` when ``by`` is None), with columns ``<col>``,
        ``<col> low``, ``<col> high`` and ``<col> n`` (finite values used) for each column, in order.

    Raises
    ------
    ParameterError
        If a column or grouping column is missing, ``columns`` is empty, or as :func:`bootstrap_ci`.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"explainer": ["a", "a", "b", "b"], "AI": [1.0, 1.0, 0.0, float("nan")]})
    >>> summarize(df, "explainer", ["AI"]).loc["a"].tolist()
    [1.0, 1.0, 1.0, 2.0]
    """
    import pandas as pd  # pandas is slow to import: only here

    cols = [columns] if isinstance(columns, str) else list(columns)
    keys = [] if by is None else ([by] if isinstance(by, str) else list(by))
    if not cols:
        raise ParameterError("columns is empty; name the metric columns to summarise")
    missing = [c for c in keys + cols if c not in df.columns]
    if missing:
        raise ParameterError(f"df has no column(s) {missing}; it has {list(df.columns)}")
    groups = [("all", df)] if not keys else list(df.groupby(keys[0] if len(keys) == 1 else keys, sort=True))
    rows, index = [], []
    for key, part in groups:
        row = {}
        for c in cols:
            try:
                values = part[c].to_numpy(dtype=np.float64)
            except (TypeError, ValueError) as err:
                raise ParameterError(f"column {c!r} is not numeric; summarise metric columns only") from err
            est, low, high = bootstrap_ci(values, statistic=statistic, confidence=confidence,
                                          n_resamples=n_resamples, seed=seed, method=method)
            row.update({c: est, f"{c} low": low, f"{c} high": high, f"{c} n": int(np.isfinite(values).sum())})
        rows.append(row)
        index.append(key)
    if len(keys) > 1:
        idx = pd.MultiIndex.from_tuples(index, names=keys)
    else:
        idx = pd.Index(index, name=keys[0] if keys else None)
    return pd.DataFrame(rows, index=idx)


def proportion_ci(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (an accuracy, a share of clips).

    :meth:`scipy.stats.binomtest(...).proportion_ci <scipy.stats._result_classes.BinomTestResult.proportion_ci>`
    with ``method='wilson'``: unlike the normal approximation it stays inside [0, 1] and keeps its
    coverage near 0 and 1 and for small ``n``.

    >>> lo, hi = proportion_ci(71, 83)
    >>> round(lo, 3), round(hi, 3)
    (0.764, 0.915)
    """
    from scipy.stats import binomtest

    k, n = int(k), int(n)
    if n < 1 or not 0 <= k <= n:
        raise ParameterError(f"proportion_ci needs 0 <= k <= n and n >= 1, got k={k}, n={n}")
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def format_ci(estimate: float, low: float, high: float, digits: int = 1) -> str:
    """``"61.6 [58.2, 64.9]"``: an estimate and its interval, for tables and prose.

    A NaN estimate prints ``"n/a"``; an estimate without an interval (NaN bounds, e.g. one clip)
    prints ``"61.6 [n/a]"``.

    Parameters
    ----------
    estimate, low, high : float
        As returned by :func:`bootstrap_ci` (or a row of :func:`summarize`).
    digits : int >= 0
        Decimals of all three numbers.

    Returns
    -------
    text : str

    Raises
    ------
    ParameterError
        If ``digits`` is not an int >= 0.

    Examples
    --------
    >>> format_ci(61.62, 58.21, 64.93)
    '61.6 [58.2, 64.9]'
    >>> format_ci(0.5, float("nan"), float("nan"), digits=2)
    '0.50 [n/a]'
    """
    if isinstance(digits, bool) or not isinstance(digits, int | np.integer) or digits < 0:
        raise ParameterError(f"digits must be an int >= 0, got {digits!r}")
    if not np.isfinite(estimate):
        return "n/a"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{estimate:.{digits}f} [n/a]"
    return f"{estimate:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
