"""Ground truth that doing nothing cannot win: every mask scored at the same sparsity.

A soft mask scored as given rewards its size: in a 0.8 / 0.2 mixture the unprocessed input already has
about 12 dB SI-SDR against the true stem, so a mask near one wins. Here every method keeps the **same
share of time-frequency bins**, the ones its own mask ranks highest, and is scored there:

* SI-SDRi: SI-SDR of ``iSTFT(B ⊙ X)`` against the true stem minus the input's (0 for the identity);
* stem-energy precision and recall of the kept bins (:func:`l2i_core.metrics.stem_energy_precision_recall`):
  how much of what is kept is the stem's, and how much of the stem is kept.

At each share of :data:`MATCHED_SHARES` (5, 10, 20 and 40 % of the bins), and one summary per score: its
mean over the shares. A method that ranks bins at random scores the stem's energy share as precision and
the share itself as recall, in expectation; the oracle ratio mask is the ceiling. A constant mask (the
identity) ranks nothing: NaN at every share (its "as given" scores are the reference instead).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from l2i_core import metrics
from l2i_core._errors import ParameterError
from l2i_core.explain.gradients import bin_ranks, top_fraction_mask_from_ranks

__all__ = ["MATCHED_SHARES", "matched_columns", "matched_sparsity_scores"]

#: Shares of the time-frequency bins every method keeps, ranked by its own mask.
MATCHED_SHARES = (0.05, 0.1, 0.2, 0.4)


def _pct(q: float) -> str:
    return f"{100 * q:g}"


def matched_columns(shares: Sequence[float] = MATCHED_SHARES) -> dict[str, str]:
    """The columns :func:`matched_sparsity_scores` returns, with their display names, in table order:
    per share ``si_sdri@<p>``, ``precision@<p>``, ``recall@<p>`` (``p`` in percent), then the summaries
    ``si_sdri_matched``, ``precision_matched``, ``recall_matched`` (means over the shares)."""
    out = {}
    for q in shares:
        p = _pct(q)
        out.update({f"si_sdri@{p}": f"SI-SDRi at {p} % (dB)", f"precision@{p}": f"stem precision at {p} %",
                    f"recall@{p}": f"stem recall at {p} %"})
    lo, hi = _pct(min(shares)), _pct(max(shares))
    out.update({"si_sdri_matched": f"SI-SDRi, mean over {lo}-{hi} % (dB)",
                "precision_matched": f"stem precision, mean over {lo}-{hi} %",
                "recall_matched": f"stem recall, mean over {lo}-{hi} %"})
    return out


@torch.no_grad()
def matched_sparsity_scores(mask, V, phase, inputs, stem, fe, *, shares: Sequence[float] = MATCHED_SHARES,
                            ranks: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Each row's mask cut to the same shares of bins and scored against the true stem.

    Parameters
    ----------
    mask, V, phase : np.ndarray [shape=(R, n_freq, n_frames)]
        The explanations' masks (any scores: only their ranking is used), ``log1p|X|`` and ``∠X`` of
        each row's input (an :class:`~l2i_core.explain.interface.Explanation`'s arrays).
    inputs, stem : np.ndarray [shape=(R, n_samples)]
        Each row's input waveform and the true stem of the explained sound in it.
    fe : l2i_core.audio.frontend.FrontEnd
        The front end of V's grid (its STFT and inverse).
    shares : sequence of float in (0, 1]
        Shares of the bins kept.
    ranks : np.ndarray or None
        :func:`~l2i_core.explain.gradients.bin_ranks` of ``mask``, when already computed.

    Returns
    -------
    dict
        ``{column: (R,) array}`` for every column of :func:`matched_columns` (NaN for a constant mask).
    """
    mask = np.asarray(mask)
    x, s = np.asarray(inputs, np.float32), np.asarray(stem, np.float32)
    if x.shape != s.shape or x.ndim != 2 or len(x) != len(mask):
        raise ParameterError(f"inputs {x.shape} and stem {s.shape} must be (rows, n_samples), one per mask row "
                             f"({len(mask)})")
    if not shares or not all(0 < float(q) <= 1 for q in shares):
        raise ParameterError(f"shares={tuple(shares)} must be fractions in (0, 1], e.g. {MATCHED_SHARES}")
    ranked = mask.reshape(len(mask), -1).std(axis=1) > 0  # a constant mask has no ranking
    ranks = bin_ranks(mask) if ranks is None else ranks
    S = fe.stft(torch.from_numpy(s)).abs().cpu().numpy()
    N = fe.stft(torch.from_numpy(x - s)).abs().cpu().numpy()
    base = metrics.si_sdr(x, s)
    Vt, ph = torch.as_tensor(V), torch.as_tensor(phase)
    out: dict[str, np.ndarray] = {}
    for q in shares:
        keep = top_fraction_mask_from_ranks(ranks, float(q))
        est = fe.synthesize(torch.from_numpy(keep) * Vt, ph, length=x.shape[-1]).cpu().numpy()
        p = _pct(q)
        out[f"si_sdri@{p}"] = np.asarray(metrics.si_sdr(est, s)) - base
        out[f"precision@{p}"], out[f"recall@{p}"] = (np.atleast_1d(v) for v in
                                                    metrics.stem_energy_precision_recall(keep, S, N))
    for k in ("si_sdri", "precision", "recall"):
        out[f"{k}_matched"] = np.mean([out[f"{k}@{_pct(q)}"] for q in shares], axis=0)
    for k, v in out.items():
        out[k] = np.where(ranked, np.asarray(v, dtype=np.float64), np.nan)
    return {k: out[k] for k in matched_columns(shares)}
