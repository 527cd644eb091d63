"""Metrics of an interpreter: fidelity, faithfulness, mask-in scores, curves, ground truth on mixtures.

Everything here is pure numpy and knows nothing about training: functions take the numbers a
notebook already has (Θ's outputs, the classifier's outputs, spectrogram magnitudes, waveforms)
as numpy arrays or torch tensors, and return floats, arrays or plain dicts.

Fidelity (does Θ agree with the classifier f?)
    :func:`topk_fidelity` (multi-class), :func:`multilabel_fidelity` (macro/micro AUPRC, max-F1,
    average precision, over :data:`PAPER_THRESHOLDS`, ``prob > t`` strictly as the official code);
    :func:`paper_fidelity` picks the one a dataset reports, from logits.
Faithfulness (does removing the interpretation change f's decision?)
    :func:`logit_drop`, :func:`probability_drop`, :func:`summarize_drops`.
Mask-in scores of the later literature (is the interpretation alone enough for f?)
    :func:`mask_in_metrics` (AI, AD, AG, Fid-In); :func:`mask_in_metrics_speechbrain`, the same
    scores as SpeechBrain's ESC-50 recipe computes them (bugs included), for comparison with its
    published rows. L-MAC's FF (mask-out probability drop) is :func:`probability_drop` with
    ``target = argmax`` of the logits on the input.
Mask complexity (L-MAC's SPS and COMP, with Quantus 0.5.3's formulas)
    :func:`sparseness` (Gini index of ``|M|``), :func:`complexity` (entropy of ``|M| / Σ|M|``).
Deletion / insertion curves
    :func:`curve_area`.
Ground truth on mixtures with known stems
    :func:`si_sdr`, :func:`si_sdr_improvement`, :func:`energy_in_support`,
    :func:`cosine_similarity`, :func:`cosine_gap`, :func:`ideal_ratio_mask`.

Orientation is librosa's: scores are ``(n_clips, n_classes)``, magnitudes ``(..., n_freq, n_frames)``,
waveforms ``(..., n_samples)``. Bad input raises :class:`l2i_core.ParameterError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from l2i_core._errors import ParameterError
from l2i_core._numpy import as_float64
from l2i_core._numpy import sigmoid as _sigmoid
from l2i_core._numpy import softmax as _softmax

__all__ = [
    "PAPER_THRESHOLDS",
    "QUANTUS_GINI_EPS",
    "classifier_decisions",
    "paper_fidelity",
    "topk_fidelity",
    "multilabel_fidelity",
    "logit_drop",
    "probability_drop",
    "summarize_drops",
    "mask_in_metrics",
    "mask_in_metrics_speechbrain",
    "sparseness",
    "complexity",
    "curve_area",
    "si_sdr",
    "si_sdr_improvement",
    "energy_in_support",
    "stem_energy_precision_recall",
    "relevance_mass_accuracy",
    "relevance_rank_accuracy",
    "cosine_similarity",
    "cosine_gap",
    "ideal_ratio_mask",
]

#: Thresholds on Θ's sigmoid outputs used by the paper's SONYC-UST evaluation (official code).
PAPER_THRESHOLDS: tuple[float, ...] = (0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05)

_EPS = 1e-12


# --------------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------------
def _to_numpy(x, name: str) -> np.ndarray:
    """A float64 numpy copy of ``x`` (a numpy array, a torch tensor or a nested sequence)."""
    return as_float64(x, name)


def _check(x, name: str, *, ndim: int | tuple[int, ...] | None = None, min_ndim: int = 0,
           nonneg: bool = False, unit: bool = False) -> np.ndarray:
    """Convert and validate: dimensions, non-empty, finite, optionally >= 0 or inside [0, 1]."""
    arr = _to_numpy(x, name)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ParameterError(f"{name} must be {want}, got shape {arr.shape}")
    if arr.ndim < min_ndim:
        raise ParameterError(f"{name} must have at least {min_ndim} dimensions, got shape {arr.shape}")
    if arr.size == 0:
        raise ParameterError(f"{name} is empty (shape {arr.shape}); pass at least one clip / value")
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name} contains NaN or inf; check the model outputs or the audio that produced it")
    if nonneg and np.any(arr < 0):
        raise ParameterError(f"{name} has negative values; pass magnitudes (np.abs of the STFT), not signed values")
    if unit and (np.any(arr < 0) or np.any(arr > 1)):
        raise ParameterError(f"{name} must hold probabilities in [0, 1]; apply softmax / sigmoid to logits first")
    return arr


def _same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ParameterError(f"{name_a} has shape {a.shape} but {name_b} has shape {b.shape}; they must match")


def _check_target(target, n: int, n_classes: int, name: str = "target") -> np.ndarray:
    """``target`` as an int array (n,): an int (same class for every clip) or one class per clip."""
    if hasattr(target, "detach") and hasattr(target, "cpu"):
        target = target.detach().cpu().numpy()
    arr = np.asarray(target)
    if arr.size == 0:
        raise ParameterError(f"{name} is empty; pass one class index per clip")
    if not (np.issubdtype(arr.dtype, np.integer) or (np.issubdtype(arr.dtype, np.floating)
                                                      and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))):
        raise ParameterError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.ndim == 0:
        arr = np.full(n, int(arr), dtype=np.int64)
    if arr.shape != (n,):
        raise ParameterError(f"{name} must have shape ({n},) (one class per clip), got {arr.shape}")
    if np.any(arr < 0) or np.any(arr >= n_classes):
        raise ParameterError(f"{name} has class indices outside [0, {n_classes - 1}]; pass indices of existing classes")
    return arr


def _trapezoid(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Trapezoid rule along the last axis (``np.trapz`` was renamed across numpy versions)."""
    return np.sum((x[..., 1:] - x[..., :-1]) * (y[..., 1:] + y[..., :-1]) / 2.0, axis=-1)


# --------------------------------------------------------------------------------------------------
# fidelity
# --------------------------------------------------------------------------------------------------
def topk_fidelity(theta_scores, f_scores, *, k: int | Iterable[int] = (1, 3, 5)) -> dict[int, float]:
    """Top-k fidelity of Θ to the classifier (multi-class).

    The fraction of clips where the classifier's decision ``argmax f(x)`` is among the ``k``
    largest outputs of Θ. Ties in Θ count against Θ: the class is in the top k only when fewer
    than ``k`` other classes score at least as high, so a constant Θ has fidelity 0 for ``k < C``.

    Parameters
    ----------
    theta_scores : np.ndarray or torch.Tensor [shape=(n_clips, n_classes)]
        Θ's outputs (logits or probabilities: only their order matters).
    f_scores : np.ndarray or torch.Tensor [shape=(n_clips, n_classes)]
        The classifier's outputs (logits or probabilities).
    k : int or iterable of int
        Values of k, each in ``[1, n_classes]``.

    Returns
    -------
    fidelity : dict {int: float}
        ``{k: fraction of clips in [0, 1]}`` for each requested k.

    Raises
    ------
    ParameterError
        If the shapes differ or are not 2-D, the input is empty or not finite, or a k is out of range.

    Examples
    --------
    >>> theta = [[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]]
    >>> f = [[0.0, 2.0, 1.0], [0.0, 2.0, 1.0]]
    >>> topk_fidelity(theta, f, k=(1, 2))
    {1: 0.5, 2: 1.0}
    """
    theta = _check(theta_scores, "theta_scores", ndim=2)
    f = _check(f_scores, "f_scores", ndim=2)
    _same_shape(theta, f, "theta_scores", "f_scores")
    n_classes = theta.shape[1]
    if isinstance(k, int | np.integer):
        ks = [k]
    elif isinstance(k, Iterable):
        ks = list(k)
    else:
        raise ParameterError(f"k must be an int or a list of ints such as (1, 3, 5), got {k!r}")
    if not ks:
        raise ParameterError("k is empty; pass an int or a non-empty list such as (1, 3, 5)")
    for kk in ks:
        if isinstance(kk, bool) or not isinstance(kk, int | np.integer):
            raise ParameterError(f"k must hold integers, got {kk!r}")
        if not 1 <= kk <= n_classes:
            raise ParameterError(f"k={kk} is out of range for {n_classes} classes; use 1 <= k <= {n_classes}")
    decision = np.argmax(f, axis=1)
    chosen = theta[np.arange(theta.shape[0]), decision]
    # rank 0 = best; every other class scoring >= the chosen one pushes it down
    rank = np.sum(theta >= chosen[:, None], axis=1) - 1
    return {int(kk): float(np.mean(rank < kk)) for kk in ks}


def _pr_at_thresholds(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall from counts; precision := 1 where nothing is predicted positive."""
    predicted = tp + fp
    precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 1.0)
    positives = tp + fn
    recall = np.where(positives > 0, tp / np.maximum(positives, 1), 0.0)
    return precision, recall


def _padded_curve(precision: np.ndarray, recall: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Pad with (recall 0, precision 1) and (recall 1, precision 0), sort, integrate by trapezoids.

    Points are sorted by recall, then by decreasing precision, which is the order of decreasing
    thresholds (a lower threshold never lowers recall and, at equal recall, only adds false positives).
    """
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[1.0], precision, [0.0]])
    order = np.lexsort((-p, r))
    r, p = r[order], p[order]
    return p, r, float(_trapezoid(p, r))


def _micro_summary(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, columns: np.ndarray) -> dict:
    """Micro-AUPRC, micro F1 per threshold and its maximum from counts summed over ``columns``."""
    tp_mi, fp_mi, fn_mi = (m[:, columns].sum(axis=1) for m in (tp, fp, fn))
    precision, recall = _pr_at_thresholds(tp_mi, fp_mi, fn_mi)
    p, r, area = _padded_curve(precision, recall)
    denom = precision + recall
    f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1.0), 0.0)
    best = int(np.argmax(f1))
    return {"auprc": area, "f1": f1, "best": best, "curve": {"precision": p, "recall": r}}


_MICRO_OVER = ("all", "predicted")


def multilabel_fidelity(theta_probs, f_decisions, *, classes: Sequence[str] | None = None,
                        thresholds: Sequence[float] = PAPER_THRESHOLDS, micro_over: str = "all") -> dict:
    """Fidelity of Θ to a multi-label classifier: AUPRC and max-F1 against f's decisions.

    The classifier's binary decisions are the ground truth. Θ's sigmoid probabilities are
    thresholded at each threshold ``t``, predicted positive when ``prob > t`` **strictly**, as the
    official code compares (Θ has no bias, so ``prob = 0.5`` exactly happens and counts negative at
    ``t = 0.5``). Per class, the precision / recall points are padded with (recall 0, precision 1)
    and (recall 1, precision 0), sorted by recall and integrated with the trapezoid rule, which
    gives the class's AUPRC. This is the evaluation of the official L2I code, with its
    divide-by-zero fixed:

    * a threshold at which nothing is predicted positive has precision **1** (no false positive was
      made), so no value is ever NaN;
    * a class with no positive decision of the classifier has no recall; it is excluded from the
      macro mean and listed in ``excluded_classes`` (the paper excludes one SONYC-UST class).

    ``macro_auprc`` is the mean of the included classes' AUPRC. ``micro_auprc`` integrates the same
    padded curve built from TP / FP / FN counts summed over classes, and ``max_f1`` is the best micro
    F1 over the thresholds (the first threshold reaching it is ``best_threshold``). By default
    (``micro_over="all"``, the official code) the counts are summed over **all** classes, so Θ's
    false alarms on a class f never predicts lower precision; ``micro_over="predicted"`` sums over
    the included classes only. Both variants are always returned under explicit names.
    scikit-learn's ``average_precision_score`` (macro and micro, included classes only) is given
    beside them, as a threshold-free reference.

    Parameters
    ----------
    theta_probs : np.ndarray or torch.Tensor [shape=(n_clips, n_classes)]
        Θ's sigmoid probabilities, in [0, 1].
    f_decisions : np.ndarray or torch.Tensor [shape=(n_clips, n_classes)]
        The classifier's thresholded decisions, 0/1 or bool.
    classes : sequence of str [length=n_classes], optional
        Class names, used as keys of ``per_class`` and ``curves`` and in ``excluded_classes``;
        class indices are used when omitted.
    thresholds : sequence of float
        Thresholds in [0, 1]; default :data:`PAPER_THRESHOLDS`.
    micro_over : {"all", "predicted"}
        The classes whose counts ``micro_auprc``, ``max_f1``, ``best_threshold``, ``micro_f1`` and
        ``micro_curve`` sum: all of them (official) or only those f predicts at least once.

    Returns
    -------
    result : dict
        ``macro_auprc``, ``micro_auprc``, ``max_f1``, ``best_threshold``, ``ap_macro``, ``ap_micro``
        (floats); ``micro_auprc_all``, ``max_f1_all``, ``micro_auprc_predicted_only``,
        ``max_f1_predicted_only`` (both variants, floats) and ``micro_over``; ``per_class``
        ({class: AUPRC}, included classes only); ``excluded_classes`` (list); ``thresholds``
        (np.ndarray, as given); ``micro_f1`` (np.ndarray, one per threshold); ``curves`` ({class:
        {"precision", "recall"}}, the padded, sorted curves of the included classes) and
        ``micro_curve`` ({"precision", "recall"}), ready for a PR plot.

    Raises
    ------
    ParameterError
        If the shapes differ, probabilities leave [0, 1], decisions are not binary, ``classes`` has
        the wrong length, thresholds are empty or outside [0, 1], no class has a positive decision,
        or ``micro_over`` is unknown.

    Examples
    --------
    >>> probs = [[0.9, 0.2], [0.3, 0.8], [0.6, 0.1]]
    >>> decisions = [[1, 0], [0, 1], [1, 0]]
    >>> out = multilabel_fidelity(probs, decisions, classes=["engine", "dog"])
    >>> out["macro_auprc"], out["max_f1"]
    (1.0, 1.0)
    """
    if micro_over not in _MICRO_OVER:
        raise ParameterError(f"micro_over={micro_over!r}; choose 'all' (the official code) or 'predicted'")
    probs = _check(theta_probs, "theta_probs", ndim=2, unit=True)
    dec = _check(f_decisions, "f_decisions", ndim=2)
    _same_shape(probs, dec, "theta_probs", "f_decisions")
    if not np.all((dec == 0) | (dec == 1)):
        raise ParameterError("f_decisions must be binary (0/1 or bool); threshold the classifier's probabilities first")
    dec = dec.astype(bool)
    n_classes = probs.shape[1]
    if classes is None:
        names: list = list(range(n_classes))
    else:
        names = list(classes)
        if len(names) != n_classes:
            raise ParameterError(f"classes has {len(names)} names but the scores have {n_classes} columns; pass one name per column")
    ts = _check(thresholds, "thresholds", ndim=1)
    if np.any(ts < 0) or np.any(ts > 1):
        raise ParameterError("thresholds must lie in [0, 1]; they are cut-offs on Θ's sigmoid probabilities")

    included = dec.any(axis=0)
    excluded = [names[c] for c in range(n_classes) if not included[c]]
    if not included.any():
        raise ParameterError("f_decisions has no positive decision in any class; AUPRC needs at least one positive")

    pred = probs[None, :, :] > ts[:, None, None]  # (n_thresholds, n_clips, n_classes); strict, as official
    truth = dec[None, :, :]
    tp = np.sum(pred & truth, axis=1).astype(np.float64)  # (n_thresholds, n_classes)
    fp = np.sum(pred & ~truth, axis=1).astype(np.float64)
    fn = np.sum(~pred & truth, axis=1).astype(np.float64)

    per_class: dict = {}
    curves: dict = {}
    for c in np.flatnonzero(included):
        precision, recall = _pr_at_thresholds(tp[:, c], fp[:, c], fn[:, c])
        p, r, area = _padded_curve(precision, recall)
        per_class[names[c]] = area
        curves[names[c]] = {"precision": p, "recall": r}

    every = _micro_summary(tp, fp, fn, np.ones(n_classes, dtype=bool))
    predicted = _micro_summary(tp, fp, fn, included)
    chosen = every if micro_over == "all" else predicted

    from sklearn.metrics import average_precision_score  # scikit-learn is slow to import: only here

    y_true = dec[:, included].astype(int)
    y_score = probs[:, included]
    return {
        "macro_auprc": float(np.mean(list(per_class.values()))),
        "micro_auprc": chosen["auprc"],
        "max_f1": float(chosen["f1"][chosen["best"]]),
        "best_threshold": float(ts[chosen["best"]]),
        "micro_over": micro_over,
        "micro_auprc_all": every["auprc"],
        "max_f1_all": float(every["f1"][every["best"]]),
        "micro_auprc_predicted_only": predicted["auprc"],
        "max_f1_predicted_only": float(predicted["f1"][predicted["best"]]),
        "ap_macro": float(average_precision_score(y_true, y_score, average="macro")),
        "ap_micro": float(average_precision_score(y_true, y_score, average="micro")),
        "per_class": per_class,
        "excluded_classes": excluded,
        "thresholds": ts,
        "micro_f1": chosen["f1"],
        "curves": curves,
        "micro_curve": chosen["curve"],
    }


# --------------------------------------------------------------------------------------------------
# faithfulness
# --------------------------------------------------------------------------------------------------
def classifier_decisions(f_logits, thresholds=None) -> np.ndarray:
    """A multi-label classifier's decisions: ``sigmoid(f_logits) > thresholds``, strictly, as the
    official code compares; ``thresholds`` per class (default 0.5 for every class).

    Returns
    -------
    np.ndarray [shape=(n_clips, n_classes), dtype=int]
    """
    logits = _check(f_logits, "f_logits", ndim=2)
    th = np.full(logits.shape[1], 0.5) if thresholds is None else _check(thresholds, "thresholds", ndim=1)
    if th.shape[0] != logits.shape[1]:
        raise ParameterError(f"thresholds has {th.shape[0]} values for {logits.shape[1]} classes; pass one per class")
    return (_sigmoid(logits) > th[None]).astype(int)


def paper_fidelity(theta_logits, f_logits, *, multilabel: bool, f_thresholds=None,
                   classes: Sequence[str] | None = None) -> dict:
    """The paper's fidelity of Θ to f, from logits: the one implementation every notebook reports.

    Multi-class: ``{"top1", "top3", "top5"}`` in % (:func:`topk_fidelity`, k ≤ number of classes).
    Multi-label: :func:`multilabel_fidelity` of ``sigmoid(Θ)`` against f's decisions
    (:func:`classifier_decisions` with ``f_thresholds``): micro-AUPRC and max-F1 summed over all
    classes (official), with the predicted-classes-only variants beside them.
    """
    theta = _check(theta_logits, "theta_logits", ndim=2)
    f = _check(f_logits, "f_logits", ndim=2)
    if not multilabel:
        fid = topk_fidelity(theta, f, k=[k for k in (1, 3, 5) if k <= f.shape[1]])
        return {f"top{k}": 100 * v for k, v in fid.items()}
    return multilabel_fidelity(_sigmoid(theta), classifier_decisions(f, f_thresholds), classes=classes)


def _before_after(before, after, target, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b = _check(before, f"{what}_before", ndim=2)
    a = _check(after, f"{what}_after", ndim=2)
    _same_shape(b, a, f"{what}_before", f"{what}_after")
    t = _check_target(target, b.shape[0], b.shape[1])
    return b, a, t


def logit_drop(logits_before, logits_after, target) -> np.ndarray:
    """Faithfulness as a logit drop: ``f(x)_c − f(x₂)_c`` for each clip.

    ``x₂`` is the input with the interpretation's components removed; a faithful interpretation
    makes the classifier's logit of the interpreted class ``c`` fall (a positive drop).

    Parameters
    ----------
    logits_before : np.ndarray or torch.Tensor [shape=(n_clips, n_classes)]
        The classifier's logits on the inputs.
    logits_after : np.ndarray or torch.Tensor [shape=(n_clips, n_classes)]
        Its logits once the relevant components are removed.
    target : int or array of int [shape=(n_clips,)]
        The interpreted class of each clip (an int applies to every clip).

    Returns
    -------
    drop : np.ndarray [shape=(n_clips,)]

    Raises
    ------
    ParameterError
        On a shape mismatch, NaN / inf, empty input, or a target outside ``[0, n_classes)``.

    Examples
    --------
    >>> logit_drop([[2.0, 1.0]], [[0.5, 1.0]], target=[0])
    array([1.5])
    """
    b, a, t = _before_after(logits_before, logits_after, target, "logits")
    rows = np.arange(b.shape[0])
    return b[rows, t] - a[rows, t]


def probability_drop(logits_before, logits_after, target, *, multilabel: bool = False) -> np.ndarray:
    """Faithfulness as a probability drop: ``p(x)_c − p(x₂)_c`` for each clip.

    Probabilities are the softmax of the logits (multi-class) or their sigmoid (multi-label).

    Parameters
    ----------
    logits_before, logits_after : np.ndarray or torch.Tensor [shape=(n_clips, n_classes)]
        The classifier's logits before and after removing the interpretation.
    target : int or array of int [shape=(n_clips,)]
        The interpreted class of each clip.
    multilabel : bool
        Sigmoid instead of softmax.

    Returns
    -------
    drop : np.ndarray [shape=(n_clips,)], values in [-1, 1]

    Raises
    ------
    ParameterError
        On a shape mismatch, NaN / inf, empty input, or a target out of range.

    Examples
    --------
    >>> probability_drop([[0.0, 0.0]], [[-10.0, 10.0]], target=0).round(3)
    array([0.5])
    """
    b, a, t = _before_after(logits_before, logits_after, target, "logits")
    squash = _sigmoid if multilabel else _softmax
    rows = np.arange(b.shape[0])
    return squash(b)[rows, t] - squash(a)[rows, t]


def summarize_drops(drops) -> dict[str, float]:
    """Median, mean and quartiles of per-clip drops (the paper reports the median).

    Parameters
    ----------
    drops : np.ndarray or torch.Tensor [shape=(n_clips,)]

    Returns
    -------
    summary : dict
        ``median``, ``mean``, ``q25``, ``q75`` (floats) and ``n`` (int).

    Raises
    ------
    ParameterError
        If ``drops`` is empty, not 1-D, or holds NaN / inf.

    Examples
    --------
    >>> summarize_drops([0.0, 1.0, 2.0, 3.0, 4.0])
    {'median': 2.0, 'mean': 2.0, 'q25': 1.0, 'q75': 3.0, 'n': 5}
    """
    d = _check(drops, "drops", ndim=1)
    q25, median, q75 = np.percentile(d, [25, 50, 75])
    return {"median": float(median), "mean": float(np.mean(d)), "q25": float(q25), "q75": float(q75), "n": int(d.size)}


# --------------------------------------------------------------------------------------------------
# mask-in metrics
# --------------------------------------------------------------------------------------------------
def _mask_in_result(ai, ad, ag, fid, c) -> dict:
    """The dict :func:`mask_in_metrics` and :func:`mask_in_metrics_speechbrain` return."""
    return {"AI": float(ai.mean()), "AD": float(ad.mean()), "AG": float(ag.mean()), "fid_in": float(fid.mean()),
            "per_clip": {"AI": ai, "AD": ad, "AG": ag, "fid_in": fid}, "target": c}


def mask_in_metrics(p, q, *, target=None, eps: float = 1e-12) -> dict:
    """Average Increase, Average Drop, Average Gain and input fidelity of an interpretation.

    With ``p`` the classifier's probabilities on the input, ``q`` those on the interpretation alone
    (the "masked-in" audio) and ``c`` the interpreted class (``argmax p`` unless ``target`` is given),
    per clip:

    * AI = 100 · 1[q_c > p_c]
    * AD = 100 · ReLU(p_c − q_c) / p_c
    * AG = 100 · ReLU(q_c − p_c) / (1 − p_c)
    * Fid-In = 1[argmax q = c]   (= 1[argmax q = argmax p] without ``target``)

    These follow the formulas of the later literature exactly, on probabilities only, for all
    four scores. The denominators are floored at ``eps``: when ``p_c = 1`` the numerator of AG is
    0 (``q_c`` cannot exceed 1), so AG is 0 rather than 0/0; likewise AD when ``p_c = 0``
    (possible only with an explicit ``target``).

    SpeechBrain's recipe (``recipes/ESC50/interpret``: ``train_lmac.py`` and ``interpreter_brain.py``,
    checked at commit 9c826ef, April 2026) uses softmax probabilities for AI and AG but applies a
    second softmax inside ``compute_AD`` to inputs that are already probabilities, so its AD is on
    softmax(softmax(logits)), which pulls both values towards 1/C; its denominators (p_c + 1e-10 and
    1 − p_c + 1e-10) do match the formulas. Here all four scores use the same probabilities, passed once.

    Parameters
    ----------
    p : np.ndarray or torch.Tensor [shape=(n_clips, n_classes)]
        Probabilities (softmax or sigmoid) on the input, in [0, 1].
    q : np.ndarray or torch.Tensor [shape=(n_clips, n_classes)]
        Probabilities on the interpretation alone.
    target : int or array of int [shape=(n_clips,)], optional
        The interpreted class; ``argmax p`` when omitted.
    eps : float > 0
        Floor of the AD and AG denominators.

    Returns
    -------
    result : dict
        ``AI``, ``AD``, ``AG`` (means, in percent), ``fid_in`` (mean, a fraction in [0, 1]),
        ``per_clip`` ({"AI", "AD", "AG", "fid_in"} arrays of shape (n_clips,)) and ``target``.

    Raises
    ------
    ParameterError
        On a shape mismatch, values outside [0, 1], NaN, empty input, a bad target or ``eps <= 0``.

    Examples
    --------
    >>> out = mask_in_metrics([[0.8, 0.2]], [[0.4, 0.6]])
    >>> out["AD"], out["AI"], out["fid_in"]
    (50.0, 0.0, 0.0)
    """
    pp = _check(p, "p", ndim=2, unit=True)
    qq = _check(q, "q", ndim=2, unit=True)
    _same_shape(pp, qq, "p", "q")
    if not eps > 0:
        raise ParameterError(f"eps must be > 0, got {eps}")
    c = np.argmax(pp, axis=1) if target is None else _check_target(target, pp.shape[0], pp.shape[1])
    rows = np.arange(pp.shape[0])
    pc, qc = pp[rows, c], qq[rows, c]
    ai = 100.0 * (qc > pc).astype(np.float64)
    ad = 100.0 * np.maximum(pc - qc, 0.0) / np.maximum(pc, eps)
    ag = 100.0 * np.maximum(qc - pc, 0.0) / np.maximum(1.0 - pc, eps)
    fid = (np.argmax(qq, axis=1) == c).astype(np.float64)
    return _mask_in_result(ai, ad, ag, fid, c)


_SB_EPS = 1e-10  # ``eps`` of SpeechBrain's interpreter_brain.py


def mask_in_metrics_speechbrain(p, q, *, fid_in_class=None) -> dict:
    """AI, AD, AG and Fid-In **as SpeechBrain's ESC-50 recipe computes them**, bugs included.

    Only for setting our numbers beside SpeechBrain's published rows (``recipes/ESC50/interpret``,
    README table); :func:`mask_in_metrics` gives the correct values. Read at commit 9c826ef
    (``interpreter_brain.py``, ``InterpreterBrain.on_stage_start``: ``compute_AI``, ``compute_AD``,
    ``compute_AG``, ``compute_fidelity``; the calls in ``train_lmac.py`` / ``train_l2i.py``,
    ``compute_objectives``), with ``p = softmax(f(x))``, ``q = softmax(f(mask-in))`` as both scripts
    pass them and ``c = argmax p``, per clip:

    * AI = 100 · 1[p_c < q_c]                                   (as the formula)
    * AG = 100 · ReLU(q_c − p_c) / (1 − p_c + 1e-10)             (as the formula)
    * AD = 100 · ReLU(p'_c − q'_c) / (p'_c + 1e-10) with ``p' = softmax(p)``, ``q' = softmax(q)``:
      ``compute_AD`` soft-maxes inputs that are already probabilities, which pulls both towards
      1/C and shrinks AD (with 50 classes ``p'_c`` is at most e / (e + 49) ≈ 0.053);
    * Fid-In = 1[argmax q = argmax p] for L-MAC (``train_lmac.py`` passes ``softmax(f(x))``), but
      ``train_l2i.py`` passes the one-column label tensor ``class_string_encoded`` of shape
      (B, 1), whose argmax over the class axis is always 0: L2I's Fid-In is 1[argmax q = 0].
      Pass ``fid_in_class=0`` to reproduce that row.

    L-MAC's FF (``compute_faithfulness``) is ``p_c − softmax(f(mask-out))_c`` with ``c = argmax p``
    and has no such bug: it is :func:`probability_drop` of the logits with ``target`` their argmax.
    The recipe's mask-in / mask-out inputs differ by method (L-MAC: ``M ⊙ log1p|X|`` and
    ``(1 − M) ⊙ log1p|X|``, each taken back through expm1, the mel filterbank and log1p; L2I:
    the NMF ratio mask times ``log1p|X|`` likewise for mask-in, and mask-out as the log-mel input
    *minus* the log-mel mask-in); that concerns the protocol, not these formulas.

    Parameters
    ----------
    p : np.ndarray or torch.Tensor [shape=(n_clips, n_classes)]
        Probabilities on the input, in [0, 1].
    q : np.ndarray or torch.Tensor [shape=(n_clips, n_classes)]
        Probabilities on the interpretation alone (mask-in).
    fid_in_class : int or array of int [shape=(n_clips,)], optional
        Compare ``argmax q`` with this class instead of ``argmax p`` (``0`` reproduces SpeechBrain's
        L2I Fid-In).

    Returns
    -------
    result : dict
        ``AI``, ``AD``, ``AG`` (means, in percent), ``fid_in`` (mean, a fraction in [0, 1]),
        ``per_clip`` ({"AI", "AD", "AG", "fid_in"} arrays of shape (n_clips,)) and ``target``
        (``argmax p``).

    Raises
    ------
    ParameterError
        On a shape mismatch, values outside [0, 1], NaN, empty input or a bad ``fid_in_class``.

    Examples
    --------
    >>> out = mask_in_metrics_speechbrain([[0.2, 0.8]], [[0.3, 0.7]], fid_in_class=0)
    >>> round(out["AD"], 2), out["fid_in"]  # mask_in_metrics gives AD 12.5 and Fid-In 1.0
    (7.27, 0.0)
    """
    pp = _check(p, "p", ndim=2, unit=True)
    qq = _check(q, "q", ndim=2, unit=True)
    _same_shape(pp, qq, "p", "q")
    n, n_classes = pp.shape
    rows = np.arange(n)
    c = np.argmax(pp, axis=1)
    pc, qc = pp[rows, c], qq[rows, c]
    ai = 100.0 * (pc < qc).astype(np.float64)
    ag = 100.0 * np.maximum(qc - pc, 0.0) / (1.0 - pc + _SB_EPS)
    p2, q2 = _softmax(pp, axis=1), _softmax(qq, axis=1)
    c2 = np.argmax(p2, axis=1)  # softmax keeps the order: c2 == c
    ad = 100.0 * np.maximum(p2[rows, c2] - q2[rows, c2], 0.0) / (p2[rows, c2] + _SB_EPS)
    ref = c if fid_in_class is None else _check_target(fid_in_class, n, n_classes, "fid_in_class")
    fid = (np.argmax(qq, axis=1) == ref).astype(np.float64)
    return _mask_in_result(ai, ad, ag, fid, c)


# --------------------------------------------------------------------------------------------------
# mask complexity: L-MAC's SPS and COMP
# --------------------------------------------------------------------------------------------------
#: Added to every value by Quantus 0.5.3's ``Sparseness.evaluate_instance`` before the Gini index.
QUANTUS_GINI_EPS = 1e-7


def _explanations(mask, name: str = "mask") -> np.ndarray:
    """``|mask|`` as a (n_explanations, n_values) float64 array: one flattened explanation per row."""
    a = _check(mask, name, min_ndim=2)
    return np.abs(a.reshape(a.shape[0], -1))


def sparseness(mask, *, normalise: bool = True) -> np.ndarray:
    """L-MAC's SPS: the Gini index of ``|M|``, per explanation, as Quantus's ``Sparseness`` computes it.

    Each explanation is flattened, made ``|M|``, divided by its maximum (``normalise``), offset by
    :data:`QUANTUS_GINI_EPS` = 1e-7, sorted ascending (``a_1 ≤ … ≤ a_n``), and

        SPS = Σ_i (2i − n − 1) a_i / (n Σ_i a_i),   i = 1 … n,

    which is ``quantus.Sparseness.evaluate_instance`` (Quantus 0.5.3, the version SpeechBrain's
    recipe pins). 0 for a uniform mask, ``(n − 1) / (n (1 + n·1e-7))`` ≈ 1 − 1/n for a one-hot mask,
    so higher is sparser; an all-zero mask scores 0 (the offset makes it uniform).

    The Gini index is scale-invariant except through the offset, so ``normalise`` only sets the
    offset's relative size. Quantus's default ``normalise_by_max`` divides by the maximum over the
    **whole batch** it is given, which lets one explanation's score depend on the others; here each
    explanation is divided by its own maximum, which equals Quantus on a batch of one (and on any
    batch whose explanations share the same maximum). SpeechBrain's ``compute_sparseness``
    (``interpreter_brain.py``) calls ``quantus.Sparseness(return_aggregate=True, abs=True)`` on the
    **mask** (L-MAC: the sigmoid mask; L2I: the NMF ratio mask), not on the masked spectrogram,
    averages over each batch, skips batches whose masks sum to 0, and averages the batch means.

    Parameters
    ----------
    mask : np.ndarray or torch.Tensor [shape=(n_explanations, ...)]
        One explanation per row, any shape after the first axis (e.g. ``(B, n_freq, n_frames)``);
        a single mask needs a leading axis (``mask[None]``). Signed values are made ``|M|``.
    normalise : bool
        Divide each explanation by its maximum first (Quantus's default ``normalise=True``).

    Returns
    -------
    sps : np.ndarray [shape=(n_explanations,)], in [0, 1)

    Raises
    ------
    ParameterError
        If ``mask`` has fewer than 2 dimensions, is empty, or holds NaN / inf.

    Examples
    --------
    >>> sparseness([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0]]).round(4)
    array([0.  , 0.75])
    """
    a = _explanations(mask)
    if normalise:
        peak = a.max(axis=1, keepdims=True)
        a = np.where(peak > 0, a / np.where(peak > 0, peak, 1.0), a)  # Quantus leaves all-zero input as is
    a = np.sort(a + QUANTUS_GINI_EPS, axis=1)
    n = a.shape[1]
    weights = 2 * np.arange(1, n + 1) - n - 1
    return np.sum(weights * a, axis=1) / (n * np.sum(a, axis=1))


def complexity(mask) -> np.ndarray:
    """L-MAC's COMP: the entropy of ``|M| / Σ|M|``, per explanation, as Quantus's ``Complexity``.

    Each explanation is flattened and ``COMP = −Σ_i p_i ln p_i`` with ``p = |M| / Σ|M|``
    (``scipy.stats.entropy``, natural log, ``0 ln 0 = 0``), which is
    ``quantus.Complexity.evaluate_instance`` (Quantus 0.5.3). ``ln n`` for a uniform mask of ``n``
    values, 0 for a one-hot mask, so lower is simpler. The entropy is scale-invariant, so Quantus's
    max-normalisation changes nothing. An all-zero mask has no distribution: **NaN** (Quantus gives
    0/0 = NaN too, and SpeechBrain's recipe drops NaN COMP values before averaging; do the same with
    ``np.nanmean`` and report how many there were). SpeechBrain's ``compute_complexity`` applies it
    to the mask, as for :func:`sparseness`.

    Parameters
    ----------
    mask : np.ndarray or torch.Tensor [shape=(n_explanations, ...)]
        One explanation per row; signed values are made ``|M|``.

    Returns
    -------
    comp : np.ndarray [shape=(n_explanations,)], in [0, ln n] (NaN for an all-zero explanation)

    Raises
    ------
    ParameterError
        If ``mask`` has fewer than 2 dimensions, is empty, or holds NaN / inf.

    Examples
    --------
    >>> complexity([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 2.0]]).round(4)  # ln 4 = 1.3863
    array([1.3863, 0.    ])
    """
    from scipy.stats import entropy  # scipy.stats is slow to import: only here

    a = _explanations(mask)
    total = a.sum(axis=1)
    comp = np.full(a.shape[0], np.nan)
    ok = total > 0
    if ok.any():
        comp[ok] = entropy(a[ok] / total[ok, None], axis=1)
    return comp


# --------------------------------------------------------------------------------------------------
# deletion / insertion curves
# --------------------------------------------------------------------------------------------------
def curve_area(values, *, x=None):
    """Area under a deletion or insertion curve, with the x axis normalised to [0, 1].

    ``values[..., i]`` is the classifier's score after removing (deletion) or adding (insertion)
    the ``i`` most relevant components, i = 0 … n. The x positions default to 0, 1, …, n and are
    rescaled to [0, 1], so a constant curve at 1 has area 1 whatever the number of steps.

    Parameters
    ----------
    values : np.ndarray or torch.Tensor [shape=(n_steps,) or (n_clips, n_steps)]
        The curve(s), at least 2 steps.
    x : np.ndarray [shape=(n_steps,)], optional
        Strictly increasing x positions (e.g. the numbers of components removed), rescaled to [0, 1].

    Returns
    -------
    area : float (1-D input) or np.ndarray [shape=(n_clips,)] (2-D input)

    Raises
    ------
    ParameterError
        If ``values`` is not 1-D / 2-D, has fewer than 2 steps or NaN, or ``x`` does not match.

    Examples
    --------
    >>> curve_area([1.0, 0.5, 0.0])
    0.5
    """
    v = _check(values, "values", ndim=(1, 2))
    n_steps = v.shape[-1]
    if n_steps < 2:
        raise ParameterError(f"values has {n_steps} step(s); a curve needs at least 2 points")
    if x is None:
        xs = np.linspace(0.0, 1.0, n_steps)
    else:
        xs = _check(x, "x", ndim=1)
        if xs.shape[0] != n_steps:
            raise ParameterError(f"x has {xs.shape[0]} points but values has {n_steps} steps; pass one x per step")
        if np.any(np.diff(xs) <= 0):
            raise ParameterError("x must be strictly increasing; sort the curve by the number of components")
        xs = (xs - xs[0]) / (xs[-1] - xs[0])
    area = _trapezoid(v, xs)
    return float(area) if v.ndim == 1 else np.asarray(area)


# --------------------------------------------------------------------------------------------------
# ground truth on mixtures
# --------------------------------------------------------------------------------------------------
def _scalar_or_array(x: np.ndarray):
    return float(x) if np.ndim(x) == 0 else np.asarray(x)


def si_sdr(estimate, reference, *, eps: float = 1e-8):
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al., ICASSP 2019).

    Both signals are made zero-mean, then ``s_t = (<ŝ, s> / ‖s‖²) s`` and
    ``SI-SDR = 10 log10(‖s_t‖² / ‖ŝ − s_t‖²)``, with ``eps`` added to the norms to keep a perfect
    estimate finite (a scaled copy of the reference scores ≈ 10 log10(‖s_t‖² / eps)).

    Parameters
    ----------
    estimate : np.ndarray or torch.Tensor [shape=(..., n_samples)]
        E.g. the interpretation's audio.
    reference : np.ndarray or torch.Tensor [shape=(..., n_samples)]
        The true stem, same shape.
    eps : float > 0

    Returns
    -------
    si_sdr : float (1-D input) or np.ndarray [shape=(...)]

    Raises
    ------
    ParameterError
        On a shape mismatch, NaN / inf, empty input, a silent reference or ``eps <= 0``.

    Examples
    --------
    >>> s = np.array([1.0, -1.0, 1.0, -1.0])
    >>> n = np.array([1.0, 1.0, -1.0, -1.0]) * 0.1  # orthogonal to s, 20 dB below it
    >>> round(si_sdr(s + n, s), 4)
    20.0
    """
    est = _check(estimate, "estimate", min_ndim=1)
    ref = _check(reference, "reference", min_ndim=1)
    if est.shape != ref.shape:
        raise ParameterError(f"estimate has shape {est.shape} but reference has {ref.shape}; trim or pad both to the same length")
    if not eps > 0:
        raise ParameterError(f"eps must be > 0, got {eps}")
    est = est - est.mean(axis=-1, keepdims=True)
    ref = ref - ref.mean(axis=-1, keepdims=True)
    ref_energy = np.sum(ref**2, axis=-1, keepdims=True)
    if np.any(ref_energy == 0):
        raise ParameterError("reference is silent (constant after removing its mean); SI-SDR needs a non-silent stem")
    scale = np.sum(est * ref, axis=-1, keepdims=True) / (ref_energy + eps)
    projection = scale * ref
    noise = est - projection
    ratio = (np.sum(projection**2, axis=-1) + eps) / (np.sum(noise**2, axis=-1) + eps)
    return _scalar_or_array(10.0 * np.log10(ratio))


def si_sdr_improvement(estimate, mixture, reference, *, eps: float = 1e-8):
    """SI-SDR gained over the mixture: ``si_sdr(estimate, reference) − si_sdr(mixture, reference)``.

    Parameters
    ----------
    estimate, mixture, reference : np.ndarray or torch.Tensor [shape=(..., n_samples)]
        Same shapes.
    eps : float > 0

    Returns
    -------
    improvement : float or np.ndarray [shape=(...)], in dB

    Raises
    ------
    ParameterError
        As :func:`si_sdr`.

    Examples
    --------
    >>> s = np.array([1.0, -1.0, 1.0, -1.0])
    >>> n = np.array([1.0, 1.0, -1.0, -1.0])
    >>> round(si_sdr_improvement(s + 0.1 * n, s + n, s), 4)
    20.0
    """
    return si_sdr(estimate, reference, eps=eps) - si_sdr(mixture, reference, eps=eps)


def _check_mags(*pairs: tuple[object, str]) -> list[np.ndarray]:
    arrs = [_check(x, name, min_ndim=2, nonneg=True) for x, name in pairs]
    for arr, (_, name) in zip(arrs[1:], pairs[1:]):
        _same_shape(arrs[0], arr, pairs[0][1], name)
    return arrs


def energy_in_support(estimate_mag, target_mag, interference_mag):
    """Share of the estimate's energy inside the time-frequency support of the target stem.

    The support is the ideal binary mask ``target_mag > interference_mag``; the share is
    ``Σ est² · mask / Σ est²`` over frequency and time, in [0, 1]. 1 means the interpretation
    lies entirely where the interpreted source dominates, 0 entirely where the other one does.
    An estimate with no energy at all has no share: the result is **NaN** for that clip (average
    with ``np.nanmean`` and report how many were silent).

    Parameters
    ----------
    estimate_mag : np.ndarray or torch.Tensor [shape=(..., n_freq, n_frames)]
        Magnitude of the interpretation.
    target_mag : np.ndarray or torch.Tensor [shape=(..., n_freq, n_frames)]
        Magnitude of the true stem of the interpreted class.
    interference_mag : np.ndarray or torch.Tensor [shape=(..., n_freq, n_frames)]
        Magnitude of the other stem(s) in the mixture.

    Returns
    -------
    share : float (2-D input) or np.ndarray [shape=(...)]

    Raises
    ------
    ParameterError
        On shape mismatch, fewer than 2 dimensions, negative values, NaN / inf or empty input.

    Examples
    --------
    >>> est = np.array([[3.0, 1.0], [0.0, 0.0]])
    >>> tgt = np.array([[1.0, 0.0], [0.0, 0.0]])
    >>> itf = np.array([[0.0, 1.0], [0.0, 0.0]])
    >>> energy_in_support(est, tgt, itf)
    0.9
    """
    est, tgt, itf = _check_mags((estimate_mag, "estimate_mag"), (target_mag, "target_mag"),
                                (interference_mag, "interference_mag"))
    energy = est**2
    total = energy.sum(axis=(-2, -1))
    inside = (energy * (tgt > itf)).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, inside / np.where(total > 0, total, 1.0), np.nan)
    return _scalar_or_array(share)


def stem_energy_precision_recall(keep, target_mag, interference_mag):
    """How much of what a binary selection of bins keeps is the target stem, and how much of the stem it keeps.

    With ``B`` the kept bins (1 = kept), ``S`` the target stem's and ``N`` the interference's magnitude,
    energies counted per bin:

    * precision = ``Σ B S² / Σ B (S² + N²)`` — the share of the kept energy that is the stem's;
    * recall = ``Σ B S² / Σ S²`` — the share of the stem's energy that is kept.

    Keeping every bin gives recall 1 and precision = the stem's share of all the energy (what doing
    nothing scores); keeping exactly the bins where only the stem sounds gives 1 and 1. Nothing kept, or
    nothing of either stem in the kept bins: precision NaN; a silent stem: recall NaN.

    Parameters
    ----------
    keep : np.ndarray or torch.Tensor [shape=(..., n_freq, n_frames)]
        The selection, 0 / 1 (any value > 0 counts as kept).
    target_mag, interference_mag : np.ndarray or torch.Tensor [shape=(..., n_freq, n_frames)]

    Returns
    -------
    precision, recall : float (2-D input) or np.ndarray [shape=(...)]

    Examples
    --------
    >>> S = np.array([[1.0, 0.0], [0.0, 0.0]])
    >>> N = np.array([[0.0, 1.0], [0.0, 1.0]])
    >>> stem_energy_precision_recall(np.ones((2, 2)), S, N)
    (0.3333333333333333, 1.0)
    >>> stem_energy_precision_recall(np.array([[1, 0], [0, 0]]), S, N)
    (1.0, 1.0)
    """
    b, tgt, itf = _check_mags((keep, "keep"), (target_mag, "target_mag"), (interference_mag, "interference_mag"))
    b = (b > 0).astype(np.float64)
    s2, n2 = tgt**2, itf**2
    kept_s = (b * s2).sum(axis=(-2, -1))
    kept_all = kept_s + (b * n2).sum(axis=(-2, -1))
    total_s = s2.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(kept_all > 0, kept_s / np.where(kept_all > 0, kept_all, 1.0), np.nan)
        recall = np.where(total_s > 0, kept_s / np.where(total_s > 0, total_s, 1.0), np.nan)
    return _scalar_or_array(precision), _scalar_or_array(recall)


def relevance_mass_accuracy(relevance, region):
    """Share of an explanation's relevance mass that lies inside a region: ``Σ_R a / Σ a`` per explanation.

    Arras et al. (2022, CLEVR-XAI)'s relevance mass accuracy, as Quantus's ``RelevanceMassAccuracy``
    computes it (on the relevance as given, which is non-negative here: masks in [0, 1]). With ``region``
    the part of the time-frequency plane a classifier sees, 1 means no relevance where f is blind. A
    uniform explanation scores the region's share of the plane. No relevance at all: NaN.

    Parameters
    ----------
    relevance : np.ndarray or torch.Tensor [shape=(..., n_freq, n_frames)]
        Non-negative (a mask).
    region : np.ndarray or torch.Tensor [shape=(n_freq, n_frames) or (..., n_freq, n_frames)]
        0 / 1 (broadcast over the leading axes).

    Returns
    -------
    float (2-D input) or np.ndarray [shape=(...)]

    Examples
    --------
    >>> relevance_mass_accuracy(np.array([[3.0, 1.0], [0.0, 0.0]]), np.array([[1, 0], [0, 0]]))
    0.75
    """
    a = _check(relevance, "relevance", min_ndim=2, nonneg=True)
    r = (np.broadcast_to(_check(region, "region", min_ndim=2, nonneg=True), a.shape) > 0)
    total = a.sum(axis=(-2, -1))
    inside = (a * r).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total > 0, inside / np.where(total > 0, total, 1.0), np.nan)
    return _scalar_or_array(out)


def relevance_rank_accuracy(relevance, region):
    """Share of the ``|R|`` highest-ranked bins that lie inside the region ``R`` (``|R|`` its size).

    Arras et al. (2022)'s relevance rank accuracy, as Quantus's ``RelevanceRankAccuracy`` (ties broken
    by a stable sort of the flattened relevance, in descending order). 1: the region's bins are exactly
    the most relevant ones. A random ranking scores the region's share of the plane in expectation.

    Parameters
    ----------
    relevance : np.ndarray or torch.Tensor [shape=(..., n_freq, n_frames)]
    region : np.ndarray or torch.Tensor [shape=(n_freq, n_frames) or (..., n_freq, n_frames)]
        0 / 1, not empty.

    Returns
    -------
    float (2-D input) or np.ndarray [shape=(...)]

    Examples
    --------
    >>> relevance_rank_accuracy(np.array([[3.0, 1.0], [2.0, 0.0]]), np.array([[1, 0], [0, 1]]))
    0.5
    """
    a = _check(relevance, "relevance", min_ndim=2)
    r = (np.broadcast_to(_check(region, "region", min_ndim=2, nonneg=True), a.shape) > 0)
    flat_a = a.reshape(-1, a.shape[-2] * a.shape[-1])
    flat_r = r.reshape(-1, a.shape[-2] * a.shape[-1])
    out = np.empty(len(flat_a))
    for i, (u, m) in enumerate(zip(flat_a, flat_r)):
        k = int(m.sum())
        if k == 0:
            raise ParameterError("relevance_rank_accuracy: the region is empty; give a region of at least one bin")
        top = np.argsort(-u, kind="stable")[:k]
        out[i] = m[top].mean()
    return _scalar_or_array(out.reshape(a.shape[:-2]))


def cosine_similarity(a, b):
    """Cosine similarity of two magnitudes, flattened over their last two axes (frequency, time).

    1-D inputs are treated as one vector. A zero input has no direction: the result is **NaN**.

    Parameters
    ----------
    a, b : np.ndarray or torch.Tensor [shape=(n,) or (..., n_freq, n_frames)]
        Same shapes.

    Returns
    -------
    cosine : float (1-D or 2-D input) or np.ndarray [shape=(...)] (batched input)

    Raises
    ------
    ParameterError
        On shape mismatch, NaN / inf or empty input.

    Examples
    --------
    >>> round(cosine_similarity([[1.0, 0.0]], [[1.0, 1.0]]), 4)
    0.7071
    """
    x = _check(a, "a", min_ndim=1)
    y = _check(b, "b", min_ndim=1)
    _same_shape(x, y, "a", "b")
    if x.ndim >= 2:
        x = x.reshape(*x.shape[:-2], -1)
        y = y.reshape(*y.shape[:-2], -1)
    norm = np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(norm > 0, np.sum(x * y, axis=-1) / np.where(norm > 0, norm, 1.0), np.nan)
    return _scalar_or_array(cos)


def cosine_gap(estimate_mag, mag1, mag2):
    """How much closer the estimate is to ``mag1`` than to ``mag2``: ``cos(est, mag1) − cos(est, mag2)``.

    On a mixture ``x₁ + λx₂`` interpreted for the class of ``x₁``, a positive gap means the
    interpretation resembles the interpreted stem more than the interfering one.

    Parameters
    ----------
    estimate_mag, mag1, mag2 : np.ndarray or torch.Tensor [shape=(..., n_freq, n_frames)]
        Same shapes.

    Returns
    -------
    gap : float or np.ndarray [shape=(...)], in [-2, 2] (NaN where an input is all zero)

    Raises
    ------
    ParameterError
        As :func:`cosine_similarity`.

    Examples
    --------
    >>> cosine_gap([[1.0, 0.0]], [[2.0, 0.0]], [[0.0, 1.0]])
    1.0
    """
    return cosine_similarity(estimate_mag, mag1) - cosine_similarity(estimate_mag, mag2)


def ideal_ratio_mask(target_mag, interference_mag, *, eps: float = 1e-8) -> np.ndarray:
    """The oracle soft mask ``target / (target + interference + eps)``, the ceiling of any mask.

    Parameters
    ----------
    target_mag, interference_mag : np.ndarray or torch.Tensor [shape=(..., n_freq, n_frames)]
        Magnitudes of the two stems, same shape.
    eps : float > 0
        Keeps silent bins at 0 instead of 0/0.

    Returns
    -------
    mask : np.ndarray [shape=(..., n_freq, n_frames)], values in [0, 1)

    Raises
    ------
    ParameterError
        On shape mismatch, negative values, NaN / inf, empty input or ``eps <= 0``.

    Examples
    --------
    >>> ideal_ratio_mask([[3.0, 0.0]], [[1.0, 0.0]]).round(4)
    array([[0.75, 0.  ]])
    """
    if not eps > 0:
        raise ParameterError(f"eps must be > 0, got {eps}")
    tgt, itf = _check_mags((target_mag, "target_mag"), (interference_mag, "interference_mag"))
    return tgt / (tgt + itf + eps)
