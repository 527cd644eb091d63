"""Confidence intervals and paired tests for comparing explainers, on scipy.

Every number of a comparison table gets a 95 % bootstrap interval (:func:`bootstrap_ci`,
:func:`summarize`, printed with :func:`format_ci`); two explainers measured on the same clips
get a Wilcoxon signed-rank test (:func:`paired_test`).

Missing values follow one rule throughout: a NaN (or ±inf) value is a clip the metric could not
score (a silent estimate, an all-zero mask); it is **dropped**, and the number of values actually
used is reported (``n`` of :func:`paired_test`, the ``"<col> n"`` columns of :func:`summarize`).
Bad input raises :class:`l2i_core.ParameterError`.

The reviewer's protocol for a comparison table builds on these:

* every cell states its rows (``n``), its independent units (``n_clusters``: clips, or scenes) and
  its training seeds (``n_seeds``), and no interval is given below :data:`MIN_ROWS` units;
* proportions (AI, Fid-In, accuracy) of one seed on distinct clips get the exact Clopper–Pearson
  interval (:func:`exact_proportion_ci`, :func:`proportion_cell`);
* rows that are not independent (the rows of one scene; one clip explained by explainers trained
  with several seeds) are resampled together by :func:`cluster_bootstrap_ci` (a two-level percentile
  bootstrap: seeds, then clusters), behind :func:`proportion_cell` and :func:`mean_cell`;
  :func:`per_seed_means` gives the per-seed values shown beside them;
* methods are compared by :func:`paired_tests` (Wilcoxon on unit-level paired differences),
  Holm-corrected over the whole table by :func:`holm_table` (:func:`holm`), and :func:`leader` names
  a leader only where the corrected test rejects.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence

import numpy as np

from l2i_core._errors import ParameterError
from l2i_core._numpy import as_float64

__all__ = ["proportion_ci", "bootstrap_ci", "paired_test", "summarize", "format_ci", "MIN_ROWS", "exact_proportion_ci",
           "cluster_bootstrap_ci", "proportion_cell", "mean_cell", "per_seed_means", "holm", "paired_tests",
           "holm_table", "leader"]

_METHODS = ("BCa", "percentile", "basic")

#: The fewest independent units (clips, or scenes) a cell needs for an interval, and every method
#: of a comparison for a leader: below it a cell shows its estimate and ``n`` only.
MIN_ROWS = 10


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


# --------------------------------------------------------------------------------------------------
# The reviewer's protocol: exact intervals, clusters and seeds, Holm-corrected leaders
# --------------------------------------------------------------------------------------------------
def _check_confidence(confidence: float) -> None:
    if isinstance(confidence, bool) or not isinstance(confidence, int | float | np.number) or not 0 < confidence < 1:
        raise ParameterError(f"confidence must lie in (0, 1), e.g. 0.95, got {confidence!r}")


def exact_proportion_ci(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval of a proportion ``k / n`` (AI, Fid-In, an accuracy).

    :meth:`scipy.stats.binomtest(k, n).proportion_ci <scipy.stats._result_classes.BinomTestResult.proportion_ci>`
    with ``method='exact'``: the interval inverts two one-sided binomial tests, so its coverage is at
    least ``confidence`` for every true proportion and every ``n`` (conservative, never below).
    ``k = 0`` gives ``(0, 1 - (α/2)^(1/n))`` and ``k = n`` gives ``((α/2)^(1/n), 1)``, with
    ``α = 1 - confidence``. :func:`proportion_ci` is the (narrower, approximate) Wilson interval.

    Parameters
    ----------
    k : int
        Successes, ``0 <= k <= n``.
    n : int >= 1
        Trials (rows).
    confidence : float in (0, 1)

    Returns
    -------
    low, high : float
        Bounds of the interval, as fractions in [0, 1].

    Raises
    ------
    ParameterError
        If ``k`` or ``n`` is not a whole number, ``n < 1``, ``k`` lies outside ``[0, n]``, or
        ``confidence`` lies outside (0, 1).

    Examples
    --------
    >>> low, high = exact_proportion_ci(0, 10)
    >>> low, round(high, 4)
    (0.0, 0.3085)
    >>> [round(b, 4) for b in exact_proportion_ci(5, 10)]
    [0.1871, 0.8129]
    """
    from scipy.stats import binomtest  # scipy.stats is slow to import: only here

    _check_confidence(confidence)
    if any(isinstance(v, bool) or not isinstance(v, int | np.integer | float | np.floating) or v != int(v)
           for v in (k, n)):
        raise ParameterError(f"exact_proportion_ci needs whole numbers k and n, got k={k!r}, n={n!r}")
    k, n = int(k), int(n)
    if n < 1 or not 0 <= k <= n:
        raise ParameterError(f"exact_proportion_ci needs 0 <= k <= n and n >= 1, got k={k}, n={n}")
    ci = binomtest(k, n).proportion_ci(confidence_level=float(confidence), method="exact")
    return float(ci.low), float(ci.high)


def _codes(labels, n: int, name: str) -> np.ndarray | None:
    """Integer codes ``0..m-1`` of the 1-D ``labels`` (in sorted label order), or None for None."""
    if labels is None:
        return None
    if hasattr(labels, "to_numpy"):
        labels = labels.to_numpy()
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.size != n:
        raise ParameterError(f"{name} must be 1-D with one label per value ({n}), got shape {arr.shape}")
    try:
        return np.unique(arr, return_inverse=True)[1].reshape(-1)
    except TypeError as err:
        raise ParameterError(f"{name} mixes label types that cannot be sorted; pass labels of one type "
                             "(all str or all int)") from err


class _Rows:
    """The finite rows of ``values`` with their cluster and seed codes (renumbered over those rows)."""

    def __init__(self, values, clusters, seeds):
        x = _as_1d(values, "values")
        cc, sc = _codes(clusters, x.size, "clusters"), _codes(seeds, x.size, "seeds")
        keep = np.isfinite(x)
        self.x = x[keep]
        self.n = int(self.x.size)
        sc = np.zeros(self.n, dtype=np.intp) if sc is None else np.unique(sc[keep], return_inverse=True)[1]
        self.sc = sc.reshape(-1)
        self.k = int(self.sc.max()) + 1 if self.n else 0
        if clusters is None:
            if self.k > 1:
                raise ParameterError("several seeds need clusters= (the clip uid of each row), so that the same "
                                     "clips are drawn for every seed")
            self.cc = np.arange(self.n, dtype=np.intp)
        else:
            self.cc = np.unique(cc[keep], return_inverse=True)[1].reshape(-1)
        self.m = int(self.cc.max()) + 1 if self.n else 0
        #: Several rows share a (seed, cluster) cell: clusters are scenes (or repeats), not single clips.
        self.grouped = bool(self.n) and np.unique(self.sc * max(self.m, 1) + self.cc).size < self.n

    def method(self, single: str) -> str:
        """The name of the interval these rows get (``single``: one seed, one row per cluster)."""
        if self.k > 1:
            return "two-level bootstrap (seeds × scenes)" if self.grouped else "two-level bootstrap (seeds × clips)"
        return "cluster bootstrap (scenes)" if self.grouped else single


def _cluster_interval(rows: _Rows, statistic: Callable, confidence: float, n_resamples: int,
                      seed: int) -> tuple[float, float]:
    """Percentile interval of the two-level bootstrap of ``rows`` (at least two distinct values)."""
    rng = np.random.default_rng(seed)
    m, k, b = rows.m, rows.k, int(n_resamples)
    # clusters first, then seeds: with one seed (or identical seeds) the draws match the clip-only bootstrap
    v = rng.multinomial(m, np.full(m, 1.0 / m), size=b).astype(np.float64)  # (B, m): draws of each cluster
    w = rng.multinomial(k, np.full(k, 1.0 / k), size=b).astype(np.float64) if k > 1 else np.ones((b, 1))
    if statistic is np.mean:  # a ratio of weighted sums: no resample is materialised
        sums, counts = np.zeros((k, m)), np.zeros((k, m))
        np.add.at(sums, (rows.sc, rows.cc), rows.x)
        np.add.at(counts, (rows.sc, rows.cc), 1.0)
        num, den = ((w @ sums) * v).sum(axis=1), ((w @ counts) * v).sum(axis=1)
        boot = np.divide(num, den, out=np.full(b, np.nan), where=den > 0)
    else:
        boot = np.full(b, np.nan)
        for i in range(b):
            sample = np.repeat(rows.x, (w[i, rows.sc] * v[i, rows.cc]).astype(np.intp))
            if sample.size:
                boot[i] = float(statistic(sample))
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        return (math.nan, math.nan)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    return float(low), float(high)


def _check_resamples(n_resamples) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer) or n_resamples < 100:
        raise ParameterError(f"n_resamples must be an int >= 100 (2000 is a good default), got {n_resamples!r}")


def cluster_bootstrap_ci(values, clusters=None, seeds=None, *, statistic: Callable = np.mean,
                         confidence: float = 0.95, n_resamples: int = 2000,
                         seed: int = 0) -> tuple[float, float, float]:
    """A statistic of per-row values and its two-level (seeds × clusters) percentile bootstrap interval.

    Rows that are not independent are resampled together: the rows of one cluster (a clip, or a
    scene and all its rows) and, for a trained explainer, the training seeds. Each resample draws the
    seeds with replacement (when there are several), then the clusters with replacement, the same
    cluster draw for every seed (the clips are the same for every seed), and computes ``statistic``
    of the pooled rows so selected (a row counted as often as its seed and its cluster were drawn).
    The interval is the ``(1 ± confidence) / 2`` quantiles of those statistics, so it covers the
    variation between seeds as well as between clips. With one seed and one row per cluster it is
    the ordinary percentile bootstrap over rows. (scipy's :func:`scipy.stats.bootstrap` resamples
    independent rows only, hence this small resampler.)

    NaN / inf rows are dropped first. Then:

    * fewer than :data:`MIN_ROWS` units (distinct clusters when ``clusters`` is given, else rows):
      ``(estimate, nan, nan)``, no interval;
    * all values equal to ``v``: ``(statistic, statistic, statistic)``, i.e. ``(v, v, v)`` for the
      mean or the median.

    Parameters
    ----------
    values : array_like [shape=(n_rows,)]
        One value per row.
    clusters : array_like [shape=(n_rows,)], optional
        The unit each row belongs to: the clip uid, or the scene id for scenes. None: every row is
        its own unit (allowed with one seed only).
    seeds : array_like [shape=(n_rows,)], optional
        The training seed of each row's explainer. None: one seed.
    statistic : callable
        Of a 1-D array. ``np.mean`` (the default) is computed from weighted sums, fast; any other
        callable is applied to each materialised resample (slower).
    confidence : float in (0, 1)
    n_resamples : int >= 100
    seed : int
        Seed of ``numpy.random.default_rng``: the same seed gives the same interval.

    Returns
    -------
    estimate, low, high : float
        ``statistic`` of all finite rows and the interval's bounds.

    Raises
    ------
    ParameterError
        If ``values`` is not 1-D numeric, ``clusters`` or ``seeds`` differ from it in length, several
        seeds come without ``clusters``, or ``confidence`` / ``n_resamples`` is invalid.

    Examples
    --------
    >>> cluster_bootstrap_ci(np.arange(9.0))  # 9 rows < MIN_ROWS: no interval
    (4.0, nan, nan)
    >>> scenes = np.repeat(np.arange(12), 5)  # 12 scenes of 5 rows each
    >>> est, low, high = cluster_bootstrap_ci(np.repeat(np.arange(12.0), 5), scenes)
    >>> low < est == 5.5 < high
    True
    """
    _check_confidence(confidence)
    _check_resamples(n_resamples)
    rows = _Rows(values, clusters, seeds)
    if rows.n == 0:
        return (math.nan, math.nan, math.nan)
    estimate = float(statistic(rows.x))
    if rows.m < MIN_ROWS:
        return (estimate, math.nan, math.nan)
    if np.all(rows.x == rows.x[0]):
        return (estimate, estimate, estimate)
    low, high = _cluster_interval(rows, statistic, float(confidence), int(n_resamples), seed)
    return (estimate, low, high)


def _cell(rows: _Rows, estimate: float, low: float, high: float, method: str) -> dict:
    if rows.m < MIN_ROWS:
        low, high, method = math.nan, math.nan, f"n < {MIN_ROWS}: no interval"
    return {"estimate": estimate, "low": low, "high": high, "n": rows.n, "n_clusters": rows.m, "n_seeds": rows.k,
            "method": method}


def proportion_cell(values, clusters=None, seeds=None, *, confidence: float = 0.95, seed: int = 0,
                    percent: bool | None = None) -> dict:
    """A table cell of a 0/1 metric (AI, Fid-In, accuracy): its proportion, interval and counts.

    * One seed and one row per cluster (or no clusters): the exact Clopper–Pearson interval
      (:func:`exact_proportion_ci`) of ``k`` successes in ``n`` rows.
    * Several rows per cluster (scenes) or several seeds: the rows are not independent trials, so
      :func:`cluster_bootstrap_ci` of the mean (a percentile interval).

    Below :data:`MIN_ROWS` units (distinct clusters, or rows without ``clusters``) the cell has no
    interval. NaN / inf rows are dropped first and not counted.

    Parameters
    ----------
    values : array_like [shape=(n_rows,)]
        0/1 per row, or 0/100 (a percent, e.g. AI): the cell is in the values' unit.
    clusters, seeds : array_like [shape=(n_rows,)], optional
        As :func:`cluster_bootstrap_ci`.
    confidence : float in (0, 1)
    seed : int
        Seed of the bootstrap (unused by Clopper–Pearson).
    percent : bool, optional
        Whether the values are 0/100. None: percent when some value is 100, else 0/1 (pass True for
        a percent column that may hold zeros only).

    Returns
    -------
    cell : dict
        ``estimate``, ``low``, ``high`` (NaN bounds below :data:`MIN_ROWS`), ``n`` (finite rows),
        ``n_clusters`` (units), ``n_seeds``, and ``method``: ``"Clopper-Pearson"``,
        ``"cluster bootstrap (scenes)"``, ``"two-level bootstrap (seeds × clips)"`` (or ``× scenes``)
        or ``"n < 10: no interval"``.

    Raises
    ------
    ParameterError
        If a finite value is not 0/1 (or 0/100), or as :func:`cluster_bootstrap_ci`.

    Examples
    --------
    >>> cell = proportion_cell([100.0] * 8 + [0.0] * 2)
    >>> cell["estimate"], cell["n"], cell["method"], round(cell["low"], 1), round(cell["high"], 1)
    (80.0, 10, 'Clopper-Pearson', 44.4, 97.5)
    >>> proportion_cell([1, 0, 1])["method"]
    'n < 10: no interval'
    """
    _check_confidence(confidence)
    rows = _Rows(values, clusters, seeds)
    if percent is None:
        percent = bool(np.any(rows.x == 100.0))
    scale = 100.0 if percent else 1.0
    if not np.all((rows.x == 0.0) | (rows.x == scale)):
        bad = rows.x[(rows.x != 0.0) & (rows.x != scale)][0]
        raise ParameterError(f"proportion_cell needs 0/{scale:g} values, got {bad:g}; use mean_cell for a "
                             "continuous metric")
    if rows.n == 0:
        return _cell(rows, math.nan, math.nan, math.nan, "")
    successes = int(np.count_nonzero(rows.x))
    if rows.k == 1 and not rows.grouped:
        estimate = scale * successes / rows.n
        low, high = exact_proportion_ci(successes, rows.n, confidence) if rows.m >= MIN_ROWS else (math.nan,) * 2
        return _cell(rows, estimate, scale * low, scale * high, "Clopper-Pearson")
    estimate, low, high = cluster_bootstrap_ci(rows.x, rows.cc, rows.sc, confidence=confidence, seed=seed)
    return _cell(rows, estimate, low, high, rows.method(""))


def mean_cell(values, clusters=None, seeds=None, *, confidence: float = 0.95, seed: int = 0) -> dict:
    """A table cell of a continuous metric: its mean, :func:`cluster_bootstrap_ci` interval and counts.

    One seed and one row per cluster reduce to the ordinary percentile bootstrap over rows;
    scenes (several rows per cluster) and several seeds are resampled as units. Below
    :data:`MIN_ROWS` units the cell has no interval. NaN / inf rows are dropped and not counted.

    Parameters
    ----------
    values : array_like [shape=(n_rows,)]
    clusters, seeds : array_like [shape=(n_rows,)], optional
        As :func:`cluster_bootstrap_ci`.
    confidence : float in (0, 1)
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    cell : dict
        As :func:`proportion_cell`, ``method`` being ``"percentile bootstrap (clips)"``,
        ``"cluster bootstrap (scenes)"``, ``"two-level bootstrap (seeds × clips)"`` (or ``× scenes``)
        or ``"n < 10: no interval"``.

    Raises
    ------
    ParameterError
        As :func:`cluster_bootstrap_ci`.

    Examples
    --------
    >>> cell = mean_cell(np.arange(20.0))
    >>> cell["estimate"], cell["n"], cell["method"], cell["low"] < 9.5 < cell["high"]
    (9.5, 20, 'percentile bootstrap (clips)', True)
    """
    _check_confidence(confidence)
    rows = _Rows(values, clusters, seeds)
    if rows.n == 0:
        return _cell(rows, math.nan, math.nan, math.nan, "")
    estimate, low, high = cluster_bootstrap_ci(rows.x, rows.cc, rows.sc, confidence=confidence, seed=seed)
    return _cell(rows, estimate, low, high, rows.method("percentile bootstrap (clips)"))


def per_seed_means(values, seeds) -> dict:
    """The mean of the finite values of each training seed, to show beside a cell's interval.

    Parameters
    ----------
    values : array_like [shape=(n_rows,)]
    seeds : array_like [shape=(n_rows,)]
        The training seed of each row.

    Returns
    -------
    means : dict
        Seed label (sorted) → mean of its finite values (NaN when it has none).

    Raises
    ------
    ParameterError
        If ``values`` is not 1-D numeric or ``seeds`` differs from it in length.

    Examples
    --------
    >>> per_seed_means([1.0, 3.0, 10.0, float("nan")], [0, 0, 1, 1])
    {0: 2.0, 1: 10.0}
    """
    x = _as_1d(values, "values")
    if seeds is None:
        raise ParameterError("per_seed_means needs seeds= (the training seed of each row)")
    if hasattr(seeds, "to_numpy"):
        seeds = seeds.to_numpy()
    labels = np.asarray(seeds)
    codes = _codes(labels, x.size, "seeds")
    keys = np.unique(labels)
    out = {}
    for i, key in enumerate(keys):
        v = x[(codes == i) & np.isfinite(x)]
        out[key.item() if isinstance(key, np.generic) else key] = float(v.mean()) if v.size else math.nan
    return out


def holm(p_values) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values of one family of tests (step-down, monotone, capped at 1).

    With the ``m`` non-NaN p-values sorted ascending, ``p_(i)`` is adjusted to
    ``max_{j <= i} min(1, (m - j + 1) p_(j))``; rejecting where the adjusted value is below ``α``
    controls the family-wise error rate at ``α``. NaN p-values (tests not run) stay NaN and do not
    count in ``m``.

    Parameters
    ----------
    p_values : array_like [shape=(n_tests,)]
        In [0, 1] or NaN.

    Returns
    -------
    adjusted : numpy.ndarray [shape=(n_tests,)]
        In the order of ``p_values``.

    Raises
    ------
    ParameterError
        If ``p_values`` is not 1-D numeric or a value lies outside [0, 1].

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03, 0.005]).round(4).tolist()
    [0.03, 0.06, 0.06, 0.02]
    """
    p = as_float64(p_values, "p_values", "a 1-D array of p-values")
    if p.ndim != 1:
        raise ParameterError(f"p_values must be 1-D (one p-value per test), got shape {p.shape}")
    ok = ~np.isnan(p)
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise ParameterError("p_values must lie in [0, 1] (or be NaN for a test not run)")
    out = np.full(p.shape, np.nan)
    q = p[ok]
    m = q.size
    if m:
        order = np.argsort(q, kind="stable")
        adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * q[order]))
        res = np.empty(m)
        res[order] = adj
        out[ok] = res
    return out


def _check_alpha(alpha: float) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float | np.number) or not 0 < alpha < 1:
        raise ParameterError(f"alpha must lie in (0, 1), e.g. 0.05, got {alpha!r}")


def holm_table(tests, alpha: float = 0.05):
    """Holm-correct the paired tests of one table: every row of ``tests`` is one family.

    Parameters
    ----------
    tests : pandas.DataFrame
        With a ``p_value`` column, e.g. the frames of :func:`paired_tests` for every metric column
        of a table, concatenated (``pandas.concat(..., ignore_index=True)``).
    alpha : float in (0, 1)
        Family-wise error rate.

    Returns
    -------
    tests : pandas.DataFrame
        A copy with ``p_holm`` (:func:`holm` over all rows), ``rejects`` (``p_holm < alpha``; False
        for a test not run) and ``family`` (the number of tests corrected for) set or replaced.

    Raises
    ------
    ParameterError
        If ``tests`` has no ``p_value`` column or ``alpha`` lies outside (0, 1).

    Examples
    --------
    >>> import pandas as pd
    >>> out = holm_table(pd.DataFrame({"p_value": [0.01, 0.04, 0.03, 0.005]}))
    >>> out["p_holm"].round(4).tolist(), out["rejects"].tolist(), int(out["family"].iloc[0])
    ([0.03, 0.06, 0.06, 0.02], [True, False, False, True], 4)
    """
    _check_alpha(alpha)
    if "p_value" not in getattr(tests, "columns", ()):
        raise ParameterError("tests needs a p_value column; pass the frame paired_tests returns")
    out = tests.copy()
    adjusted = holm(out["p_value"].to_numpy(dtype=np.float64))
    out["p_holm"] = adjusted
    out["rejects"] = np.nan_to_num(adjusted, nan=1.0) < alpha
    out["family"] = int(np.count_nonzero(~np.isnan(adjusted)))
    return out


def _unit_means(d, column: str, unit: str, seed_col: str | None):
    """Mean of ``column`` per ``unit``: first per (unit, seed), then over seeds (finite rows only)."""
    keys = [unit] + ([seed_col] if seed_col else [])
    per = d.groupby(keys, sort=True)[column].mean()
    return per.groupby(level=0).mean() if seed_col else per


def paired_tests(df, *, methods: Sequence[str], column: str, unit: str = "uid", seed_col: str | None = "seed",
                 alpha: float = 0.05, method_col: str = "method"):
    """Wilcoxon signed-rank tests of every pair of ``methods`` on one metric, paired by unit.

    For each method its ``column`` is averaged per ``unit`` (the clip uid, or the scene id for
    scenes, so that the rows of one scene are averaged too): first within each training seed, then
    over the seeds. A pair keeps the units where both methods have a finite mean, and
    :func:`paired_test` tests their differences. Below :data:`MIN_ROWS` units no test is run (NaN
    p-value, with a ``note``).

    The returned frame is Holm-corrected over its own rows (:func:`holm_table`): for a table of
    several metrics, concatenate the frames of all its columns and pass them through
    :func:`holm_table` again, which recomputes ``p_holm``, ``rejects`` and ``family`` over the table.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per (method, unit row, seed), with ``method_col``, ``unit`` and ``column``.
    methods : sequence of str
        The contestants (at least two; references such as an oracle mask left out).
    column : str
        The metric.
    unit : str
        The column naming the independent unit of each row.
    seed_col : str or None
        The training-seed column; None, or absent from ``df``, means one seed.
    alpha : float in (0, 1)
        Of the within-frame correction.
    method_col : str
        The column naming each row's method.

    Returns
    -------
    tests : pandas.DataFrame
        One row per pair: ``a``, ``b``, ``column``, ``n`` (units), ``median_difference`` (of
        ``a − b``), ``p_value``, ``note``, ``p_holm``, ``rejects``, ``family``.

    Raises
    ------
    ParameterError
        If a column is missing, fewer than two methods are named, a method has no row, or
        ``column`` is not numeric.

    Examples
    --------
    >>> import pandas as pd
    >>> b = np.arange(30.0)
    >>> df = pd.DataFrame({"method": ["A"] * 30 + ["B"] * 30, "uid": list(range(30)) * 2,
    ...                    "SI-SDR": np.r_[b + 1.0, b]})
    >>> row = paired_tests(df, methods=["A", "B"], column="SI-SDR").iloc[0]
    >>> int(row["n"]), float(row["median_difference"]), bool(row["rejects"])
    (30, 1.0, True)
    """
    import pandas as pd  # pandas is slow to import: only here

    _check_alpha(alpha)
    methods = [methods] if isinstance(methods, str) else list(methods)
    if len(methods) < 2:
        raise ParameterError(f"paired_tests needs at least two methods, got {methods}")
    if seed_col is not None and seed_col not in df.columns:
        seed_col = None
    missing = [c for c in (method_col, unit, column) if c not in df.columns]
    if missing:
        raise ParameterError(f"df has no column(s) {missing}; it has {list(df.columns)}")
    try:
        values = df[column].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ParameterError(f"column {column!r} is not numeric; test metric columns only") from err
    d = df.assign(**{column: np.where(np.isfinite(values), values, np.nan)})
    means = {}
    for m in methods:
        part = d[d[method_col] == m]
        if part.empty:
            raise ParameterError(f"method {m!r} has no row in df; its methods are {sorted(d[method_col].unique())}")
        means[m] = _unit_means(part, column, unit, seed_col)
    rows = []
    for i, a in enumerate(methods):
        for b in methods[i + 1:]:
            both = pd.concat([means[a], means[b]], axis=1, join="inner").dropna()
            x, y = both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy()
            n = int(x.size)
            if n < MIN_ROWS:
                median = float(np.median(x - y)) if n else math.nan
                p, note = math.nan, f"n = {n} < {MIN_ROWS} units: not tested"
            else:
                res = paired_test(x, y)
                median, p, note = res["median_difference"], res["p_value"], ""
            rows.append({"a": a, "b": b, "column": column, "n": n, "median_difference": median, "p_value": p,
                         "note": note})
    return holm_table(pd.DataFrame(rows), alpha)


def leader(estimates: dict, tests, *, higher_is_better: bool, n_rows: dict,
           column: str | None = None) -> tuple[str | None, str]:
    """The method that leads one metric, named only when a Holm-corrected test separates it.

    The best method by estimate is the leader when every method has at least :data:`MIN_ROWS`
    rows, and the corrected paired test of the best against the runner-up rejects (``rejects`` of
    :func:`holm_table`) with its median difference pointing the same way as the estimates.
    Otherwise there is no leader, and the reason says why.

    Parameters
    ----------
    estimates : dict
        Method → its estimate in the table (e.g. a cell's ``estimate``).
    tests : pandas.DataFrame
        Paired tests with ``a``, ``b``, ``n``, ``median_difference``, ``p_holm`` and ``rejects``,
        i.e. :func:`paired_tests` passed through :func:`holm_table` over the whole table.
    higher_is_better : bool
    n_rows : dict
        Method → the rows of its cell (``n``).
    column : str, optional
        The metric, to select its rows when ``tests`` holds several metrics.

    Returns
    -------
    leader : str or None
    reason : str
        E.g. ``"Holm-corrected p = 0.0012 against B (n = 30 units)"``, ``"not separated:
        Holm-corrected p = 0.21 against B"`` or ``"n = 8 < 10 rows for B"``.

    Raises
    ------
    ParameterError
        If fewer than two methods are given, a method lacks ``n_rows`` or a finite estimate,
        ``tests`` lacks a column or the row of the best against the runner-up (or has several), or
        holds several metrics and ``column`` is None.

    Examples
    --------
    >>> import pandas as pd
    >>> tests = holm_table(pd.DataFrame({"a": ["A"], "b": ["B"], "n": [30], "median_difference": [1.0],
    ...                                  "p_value": [0.001]}))
    >>> leader({"A": 2.0, "B": 1.0}, tests, higher_is_better=True, n_rows={"A": 30, "B": 30})
    ('A', 'Holm-corrected p = 0.001 against B (n = 30 units)')
    >>> leader({"A": 2.0, "B": 1.0}, tests, higher_is_better=True, n_rows={"A": 30, "B": 8})
    (None, 'n = 8 < 10 rows for B')
    """
    if len(estimates) < 2:
        raise ParameterError(f"leader needs the estimates of at least two methods, got {list(estimates)}")
    for m, est in estimates.items():
        if m not in n_rows:
            raise ParameterError(f"n_rows has no count for {m!r}; pass the n of every method's cell")
        if not np.isfinite(est):
            raise ParameterError(f"the estimate of {m!r} is {est}; leave methods without an estimate out")
    small = [m for m in estimates if n_rows[m] < MIN_ROWS]
    if small:
        m = min(small, key=lambda k: n_rows[k])
        return None, f"n = {n_rows[m]} < {MIN_ROWS} rows for {m}"
    need = ["a", "b", "n", "median_difference", "p_holm", "rejects"]
    missing = [c for c in need if c not in getattr(tests, "columns", ())]
    if missing:
        raise ParameterError(f"tests has no column(s) {missing}; pass paired_tests' frame through holm_table")
    if column is not None:
        tests = tests[tests["column"] == column] if "column" in tests.columns else tests
    elif "column" in tests.columns and tests["column"].nunique() > 1:
        raise ParameterError(f"tests holds several metrics {sorted(tests['column'].unique())}; pass column=")
    order = sorted(estimates, key=lambda m: estimates[m], reverse=bool(higher_is_better))
    best, second = order[0], order[1]
    pair = tests[((tests["a"] == best) & (tests["b"] == second)) | ((tests["a"] == second) & (tests["b"] == best))]
    if len(pair) != 1:
        raise ParameterError(f"tests has {len(pair)} rows of {best} against {second}; it needs exactly one "
                             "(run paired_tests with both methods)")
    row = pair.iloc[0]
    p, n = float(row["p_holm"]), int(row["n"])
    if not np.isfinite(p):
        return None, f"not separated: n = {n} < {MIN_ROWS} units against {second}"
    diff = float(row["median_difference"]) * (1.0 if row["a"] == best else -1.0)
    if not bool(row["rejects"]):
        return None, f"not separated: Holm-corrected p = {p:.2g} against {second}"
    if not (diff > 0 if higher_is_better else diff < 0):
        return None, (f"not separated: the median paired difference against {second} points the other way "
                      f"(Holm-corrected p = {p:.2g})")
    return best, f"Holm-corrected p = {p:.2g} against {second} (n = {n} units)"
