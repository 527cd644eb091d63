"""Numerically stable numpy sigmoid and softmax, in a torch-free leaf so that :mod:`l2i_core.metrics`
(pure numpy) and :mod:`l2i_core._utils` share one copy."""

from __future__ import annotations

import numpy as np

__all__ = ["sigmoid", "softmax"]


def sigmoid(z) -> np.ndarray:
    """Logistic function of a numpy array, without overflow warnings for large ``|z|``."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def softmax(z, axis: int = -1) -> np.ndarray:
    """Softmax of a numpy array along ``axis`` (shifted by the max for stability)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
