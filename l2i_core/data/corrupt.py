"""Corruptions used in the paper's robustness experiments: white noise at a given SNR, and mixing.

* :func:`add_white_noise` — white Gaussian noise at ``snr_db`` relative to each clip's energy.
  0 dB is the paper's setting: the noise has exactly the clip's energy ("energy-matched").
* :func:`mix` — ``x1 + lam * x2``, the paper's mixtures of two clips (interpret the class of x1).
* :func:`snr_db` and :func:`gain_for_snr` — the energy ratio of two signals, and the gain that
  sets it.

Every function works on a NumPy array or a torch tensor of shape ``(..., n_samples)``; energies
are computed along the last axis, per clip, in float64. The output has the input's type, dtype
(and device). Noise is drawn with NumPy from ``seed`` so NumPy and torch inputs get the same noise.

Examples
--------
>>> import numpy as np
>>> x = np.sin(np.linspace(0, 200, 22050)).astype(np.float32)
>>> y, noise = add_white_noise(x, 0.0, seed=0, return_noise=True)
>>> abs(snr_db(x, noise)) < 1e-4  # 0 dB: noise energy == clip energy
True
>>> np.allclose(mix(x, noise, 1.0), y, atol=1e-6)
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from l2i_core._errors import AudioError, ParameterError

__all__ = ["add_white_noise", "mix", "snr_db", "gain_for_snr", "signal_energy"]


# -- helpers -------------------------------------------------------------------------------------
def _is_torch(x) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return isinstance(x, torch.Tensor)


def _as_float_array(x, *, name: str) -> np.ndarray:
    """A float64 NumPy view of ``x`` (NumPy array or torch tensor), validated."""
    if _is_torch(x):
        if not x.is_floating_point():
            raise ParameterError(f"{name}: tensor has dtype {x.dtype}; pass floating-point audio (e.g. x.float())")
        arr = x.detach().cpu().double().numpy()
    else:
        arr = np.asarray(x)
        if not np.issubdtype(arr.dtype, np.floating):
            raise ParameterError(
                f"{name}: array has dtype {arr.dtype}; pass floating-point audio in [-1, 1] "
                "(e.g. x.astype(np.float32) / 32768 for 16-bit PCM)"
            )
        arr = arr.astype(np.float64, copy=False)
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise AudioError(f"{name}: expected shape (..., n_samples) with n_samples > 0, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        n_bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise AudioError(f"{name}: {n_bad} NaN or inf samples; clean the waveform first")
    return arr


def _like(arr: np.ndarray, ref):
    """Return ``arr`` with the type, dtype and device of ``ref``."""
    if _is_torch(ref):
        import torch

        return torch.as_tensor(arr).to(device=ref.device, dtype=ref.dtype)
    return arr.astype(np.asarray(ref).dtype, copy=False)


def _per_clip(value, batch_shape: tuple, *, name: str) -> np.ndarray:
    """Broadcast a scalar or per-clip value to ``batch_shape`` as float64."""
    v = value.detach().cpu().double().numpy() if _is_torch(value) else np.asarray(value, dtype=np.float64)
    try:
        return np.broadcast_to(v, batch_shape).astype(np.float64)
    except ValueError:
        raise ParameterError(
            f"{name} has shape {v.shape}; give a scalar or one value per clip, shape {batch_shape}"
        ) from None


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError):
        raise ParameterError(
            f"seed must be an int, a sequence of ints or a numpy Generator, got {seed!r}"
        ) from None


def signal_energy(x) -> np.ndarray:
    """Energy ``sum(x**2)`` of each clip, along the last axis, in float64.

    Parameters
    ----------
    x : np.ndarray or torch.Tensor [shape=(..., n_samples)]

    Returns
    -------
    energy : np.ndarray [shape=(...), dtype=float64]
    """
    arr = _as_float_array(x, name="x")
    return np.einsum("...n,...n->...", arr, arr)


# -- public API ----------------------------------------------------------------------------------
def snr_db(signal, noise):
    """Signal-to-noise ratio ``10 log10(sum(signal**2) / sum(noise**2))`` in dB, per clip.

    Parameters
    ----------
    signal, noise : np.ndarray or torch.Tensor [shape=(..., n_samples)]
        Same number of samples; leading dimensions broadcast.

    Returns
    -------
    snr : float or np.ndarray [shape=(...)]
        A float for 1-D inputs. ``+inf`` where the noise is silent, ``-inf`` where the signal is.

    Raises
    ------
    ParameterError
        If the lengths differ.
    AudioError
        If both are all-zero (the ratio is undefined), or on NaN/inf samples.
    """
    s = _as_float_array(signal, name="signal")
    n = _as_float_array(noise, name="noise")
    if s.shape[-1] != n.shape[-1]:
        raise ParameterError(f"signal has {s.shape[-1]} samples and noise {n.shape[-1]}; pass equal lengths")
    es = np.einsum("...n,...n->...", s, s)
    en = np.einsum("...n,...n->...", n, n)
    es, en = np.broadcast_arrays(es, en)
    if np.any((es == 0) & (en == 0)):
        raise AudioError("snr_db: signal and noise are both all-zero; the SNR is undefined")
    with np.errstate(divide="ignore"):
        out = 10.0 * (np.log10(es) - np.log10(en))
    return float(out) if out.ndim == 0 else out


def gain_for_snr(signal, other, snr_db: float | np.ndarray = 0.0) -> float | np.ndarray:
    """Gain ``g`` such that ``snr_db(signal, g * other)`` equals ``snr_db``, per clip.

    Use it to build a mixture at a chosen level: ``mix(x1, x2, gain_for_snr(x1, x2, 6.0))``.

    Parameters
    ----------
    signal, other : np.ndarray or torch.Tensor [shape=(..., n_samples)]
    snr_db : float or array [shape=(...)]
        Target ratio in dB (0 dB: ``g * other`` has the energy of ``signal``).

    Returns
    -------
    gain : float or np.ndarray [shape=(...)]

    Raises
    ------
    AudioError
        If ``signal`` or ``other`` is all-zero (no gain reaches a finite SNR).
    """
    es, eo = signal_energy(signal), signal_energy(other)
    es, eo = np.broadcast_arrays(es, eo)
    for e, what in ((es, "signal"), (eo, "other")):
        if np.any(e == 0):
            raise AudioError(f"gain_for_snr: {what} is all-zero (silent); the SNR is undefined for a silent clip")
    snr = _per_clip(snr_db, es.shape, name="snr_db")
    if np.any(np.isnan(snr)) or np.any(np.isinf(snr)):
        raise ParameterError(f"snr_db must be finite, got {snr_db!r}")
    g = np.sqrt(es / eo / 10.0 ** (snr / 10.0))
    return float(g) if g.ndim == 0 else g


def add_white_noise(
    x,
    snr_db: float | Sequence[float] | np.ndarray = 0.0,
    *,
    seed: int | Sequence[int] | np.random.Generator | None = 0,
    return_noise: bool = False,
):
    """Add white Gaussian noise at ``snr_db`` dB below each clip's energy.

    The noise realisation is rescaled so that the SNR is met exactly (not only in expectation):
    ``sum(noise**2) == sum(x**2) / 10**(snr_db / 10)``. At 0 dB (the paper's setting) the noise
    energy equals the clip energy.

    Parameters
    ----------
    x : np.ndarray or torch.Tensor [shape=(..., n_samples), dtype=float]
        Clean waveform(s); each row along the leading axes gets its own independent noise.
    snr_db : float or array [shape=(...)]
        SNR in dB, one value or one per clip. ``+inf`` adds nothing.
    seed : int, sequence of int, numpy Generator or None
        Source of the noise. An int (default 0) gives the same noise for the same shape on every
        call: to corrupt clips one by one with *different* noise, pass ``seed=(base_seed, i)`` or one
        shared ``np.random.default_rng(...)``. ``None`` draws fresh OS entropy (not reproducible).
    return_noise : bool
        Also return the added noise (the exact "stem" of the corruption).

    Returns
    -------
    noisy : same type as ``x`` [shape=(..., n_samples), dtype of x]
        ``x + noise`` (not renormalised: it may exceed [-1, 1]).
    noise : same type as ``x`` [shape=(..., n_samples)]
        Only with ``return_noise=True``.

    Raises
    ------
    AudioError
        If a clip is all-zero (the SNR of noise to silence is undefined) or holds NaN/inf samples.
    ParameterError
        On non-float input, a NaN or ``-inf`` SNR, or a bad seed.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(1).standard_normal((4, 8000)).astype(np.float32)
    >>> y = add_white_noise(x, 0.0, seed=0)
    >>> y.shape, y.dtype
    ((4, 8000), dtype('float32'))
    """
    arr = _as_float_array(x, name="x")
    batch = arr.shape[:-1]
    snr = _per_clip(snr_db, batch, name="snr_db")
    if np.any(np.isnan(snr)) or np.any(snr == -np.inf):
        raise ParameterError(f"snr_db must be a number or +inf (no noise), got {snr_db!r}")
    energy = np.einsum("...n,...n->...", arr, arr)
    silent = energy <= 0
    if np.any(silent & np.isfinite(snr)):
        where = "" if arr.ndim == 1 else f" (clip {tuple(int(i) for i in np.argwhere(silent)[0])})"
        raise AudioError(
            f"add_white_noise: all-zero input{where}; the SNR is undefined for a silent clip, drop it first"
        )
    noise = _rng(seed).standard_normal(arr.shape)
    noise_energy = np.einsum("...n,...n->...", noise, noise)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(np.isinf(snr), 0.0, np.sqrt(energy / noise_energy / 10.0 ** (np.where(np.isinf(snr), 0.0, snr) / 10.0)))
    noise *= scale[..., None]
    noisy = arr + noise
    if return_noise:
        return _like(noisy, x), _like(noise, x)
    return _like(noisy, x)


def mix(x1, x2, lam: float | np.ndarray = 1.0, *, fit: bool = False):
    """The paper's mixture ``x1 + lam * x2``.

    Parameters
    ----------
    x1 : np.ndarray or torch.Tensor [shape=(..., n_samples)]
        The clip whose class is interpreted.
    x2 : np.ndarray or torch.Tensor [shape=(..., n_samples2)]
        The interfering clip; leading dimensions broadcast against ``x1``'s.
    lam : float or array [shape=(...)]
        Gain of ``x2``, one value or one per clip (see :func:`gain_for_snr` to set it from an SNR).
    fit : bool
        When the lengths differ, zero-pad or crop ``x2`` at the end to ``x1``'s length instead of
        raising.

    Returns
    -------
    y : same type as ``x1`` [shape=(..., n_samples), dtype of x1]
        Not renormalised: keep ``x1`` and ``lam * x2`` as the exact stems of ``y``.

    Raises
    ------
    ParameterError
        If the lengths differ and ``fit=False``, or ``lam`` is not finite.
    AudioError
        On NaN/inf samples.
    """
    a = _as_float_array(x1, name="x1")
    b = _as_float_array(x2, name="x2")
    n1, n2 = a.shape[-1], b.shape[-1]
    if n1 != n2:
        if not fit:
            raise ParameterError(
                f"mix: x1 has {n1} samples and x2 has {n2}; pass equal lengths or fit=True to pad/crop x2"
            )
        b = b[..., :n1] if n2 > n1 else np.concatenate([b, np.zeros(b.shape[:-1] + (n1 - n2,))], axis=-1)
    try:
        batch = np.broadcast_shapes(a.shape[:-1], b.shape[:-1])
    except ValueError:
        raise ParameterError(f"mix: leading shapes {a.shape[:-1]} and {b.shape[:-1]} do not broadcast") from None
    g = _per_clip(lam, batch, name="lam")
    if not np.all(np.isfinite(g)):
        raise ParameterError(f"mix: lam must be finite, got {lam!r}")
    return _like(a + g[..., None] * b, x1)
