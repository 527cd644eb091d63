"""Numerically stable numpy sigmoid and softmax, and the float64 conversion of numeric input, in a
torch-free leaf so that :mod:`l2i_core.metrics`, :mod:`l2i_core.evaluate.stats` and :mod:`l2i_core._utils`
share one copy."""

from __future__ import annotations

import numpy as np

from l2i_core._errors import ParameterError

__all__ = ["sigmoid", "softmax", "as_float64"]


def as_float64(x, name: str, expected: str = "a numpy array or a torch tensor") -> np.ndarray:
    """A float64 numpy array of ``x`` (a numpy array, a torch tensor or a nested sequence); anything
    else raises :class:`ParameterError` naming ``name`` and what was ``expected``."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ParameterError(f"{name} must be numeric ({expected}), got {type(x).__name__}") from err


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
