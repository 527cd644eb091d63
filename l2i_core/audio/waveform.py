"""Waveforms in and out: load, validate, mono, fix the length, scale PCM, encode.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import torch

from l2i_core._errors import AudioError, ParameterError

__all__ = ["SILENCE_THRESHOLD", "PCM_FULL_SCALE", "validate_waveform", "to_mono", "fix_duration", "as_float_samples", "as_waveform_batch", "peak_normalize", "load_audio", "encode_audio"]

#: Peak amplitude at or below which a clip counts as silent (about -100 dBFS).
SILENCE_THRESHOLD = 1e-5
def validate_waveform(y: np.ndarray, *, name: str = "waveform", allow_silence: bool = False) -> None:
    """Check that a waveform is usable; raise a one-line :class:`AudioError` if not.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,) or (n_channels, n_samples)]
        Waveform.
    name : str
        What to call the waveform in the message (usually its file path).
    allow_silence : bool
        Accept an all-silent waveform (peak <= ``SILENCE_THRESHOLD``).

    Raises
    ------
    AudioError
        On zero length, NaN or inf samples, or (unless allowed) all-silence.
    """
    y = np.asarray(y)
    if y.size == 0 or y.shape[-1] == 0:
        raise AudioError(f"{name}: zero-length audio (no samples); check the file or its export")
    if not np.issubdtype(y.dtype, np.floating) and not np.issubdtype(y.dtype, np.integer):
        raise AudioError(f"{name}: samples have dtype {y.dtype}; expected a float or integer array")
    if not np.all(np.isfinite(y)):
        n_bad = int(np.size(y) - np.count_nonzero(np.isfinite(y)))
        raise AudioError(f"{name}: {n_bad} NaN or inf samples; the file is damaged, re-export it")
    if not allow_silence:
        peak = float(np.max(np.abs(y)))
        if peak <= SILENCE_THRESHOLD:
            raise AudioError(
                f"{name}: all-silent audio (peak amplitude {peak:.2e}); remove the clip or pass allow_silence=True"
            )
def to_mono(y: np.ndarray) -> np.ndarray:
    """Mix ``(n_channels, n_samples)`` down to ``(n_samples,)`` by averaging channels."""
    y = np.asarray(y)
    if y.ndim == 1:
        return y
    if y.ndim != 2:
        raise ParameterError(f"to_mono expects 1-D or 2-D audio, got shape {y.shape}")
    return y.mean(axis=0)
def fix_duration(y: np.ndarray, n_samples: int) -> np.ndarray:
    """Zero-pad at the end, or crop from the start, to exactly ``n_samples`` samples."""
    if n_samples <= 0:
        raise ParameterError(f"n_samples must be > 0, got {n_samples}")
    return librosa.util.fix_length(np.asarray(y), size=int(n_samples), axis=-1)
#: Full scale of the integer PCM sample types, as soundfile scales them when it reads a file as float.
PCM_FULL_SCALE = {"int16": 2.0**15, "int32": 2.0**31}
def as_float_samples(x, *, name: str = "x"):
    """Samples as floats: float arrays unchanged, int16 / int32 PCM scaled to [-1, 1) by their full scale.

    An integer PCM array read from a file (``soundfile.read(..., dtype='int16')``, ``scipy.io.wavfile``)
    holds raw counts; explaining those would be explaining a signal thousands of times too loud, so it
    is scaled exactly as soundfile scales the same file read as float (``x / 2**15``, ``x / 2**31``).
    Any other integer or boolean type is refused with one line.

    Parameters
    ----------
    x : np.ndarray, torch.Tensor or array-like
    name : str
        What to call ``x`` in the error message.

    Returns
    -------
    np.ndarray or torch.Tensor
        Floating point; a tensor stays a tensor, anything else becomes a float32 numpy array.

    Raises
    ------
    ParameterError
        Samples of an integer type other than int16 / int32, or booleans.
    """
    is_tensor = torch.is_tensor(x)
    if not is_tensor:
        x = np.asarray(x)
    dtype = str(x.dtype).removeprefix("torch.")
    if (x.is_floating_point() if is_tensor else np.issubdtype(x.dtype, np.floating)):
        return x if is_tensor else x.astype(np.float32, copy=False)
    if dtype in PCM_FULL_SCALE:
        scale = PCM_FULL_SCALE[dtype]
        return x.to(torch.float64).div(scale).float() if is_tensor else (x.astype(np.float64) / scale).astype(np.float32)
    raise ParameterError(
        f"{name} has {dtype} samples: integers are read as PCM only when they are int16 or int32 (scaled by their full "
        f"scale); convert to float samples in [-1, 1] first (e.g. x / np.iinfo(x.dtype).max)"
    )
def as_waveform_batch(x) -> torch.Tensor:
    """In-memory waveforms ``(n_samples,)`` or ``(B, n_samples)`` (numpy or torch) as a float32
    ``(B, n_samples)`` tensor, with one clear error for a bad shape or NaN/inf samples. Integer PCM
    (int16, int32) is scaled to [-1, 1] as a file would be; other integer types are refused
    (:func:`as_float_samples`)."""
    x = as_float_samples(x)
    if not torch.is_tensor(x):
        x = torch.as_tensor(x)
    if x.ndim == 1:
        x = x.unsqueeze(0)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] < 2:
        raise ParameterError(f"x must be waveforms (batch, n_samples) with n_samples >= 2, got shape {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        x = x.float()
    if not torch.isfinite(x).all():
        raise ParameterError("x contains NaN or inf samples; clean the audio (l2i_core.audio.waveform.load_audio checks files)")
    return x.detach().to(torch.float32)
def peak_normalize(y: np.ndarray, peak: float = 1.0) -> np.ndarray:
    """Scale so that ``max |y| == peak``. A silent input is returned unchanged."""
    y = np.asarray(y)
    m = float(np.max(np.abs(y))) if y.size else 0.0
    return y if m <= 0 else y * (peak / m)
def load_audio(
    path: str | os.PathLike,
    *,
    sr: int | None = 22_050,
    duration: float | None = None,
    mono: bool = True,
    normalize: bool = True,
    allow_silence: bool = False,
) -> np.ndarray:
    """Load an audio file as a float32 waveform.

    The file is decoded with soundfile, checked (:func:`validate_waveform`), mixed down to mono,
    resampled with :func:`librosa.resample`, padded or cropped to ``duration`` and peak-normalised,
    in that order.

    Parameters
    ----------
    path : str or path-like
        Any file libsndfile reads: WAV, FLAC, OGG/Vorbis, ...
    sr : int or None
        Target sample rate in Hz; ``None`` keeps the file's rate.
    duration : float or None
        Pad with zeros at the end, or crop from the start, to this many seconds.
    mono : bool
        Mix down to one channel.
    normalize : bool
        Peak-normalise to 1.0.
    allow_silence : bool
        Accept an all-silent file instead of raising.

    Returns
    -------
    y : np.ndarray [shape=(n_samples,) or (n_channels, n_samples), dtype=float32]

    Raises
    ------
    AudioError
        If the file is missing, unreadable or corrupt, has no samples, contains NaN/inf, or is
        all-silent. The message is one line and names the file.

    Examples
    --------
    >>> y = load_audio("dog.ogg", sr=22050, duration=5.0)  # doctest: +SKIP
    >>> y.shape  # doctest: +SKIP
    (110250,)
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: file not found; check the path or set L2I_DATA")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    try:
        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises LibsndfileError / RuntimeError / TypeError
        reason = str(err).replace("\n", " ").strip()
        raise AudioError(f"{path}: cannot decode audio ({reason}); the file is corrupt or not audio") from None
    y = data.T  # (n_channels, n_samples)
    validate_waveform(y, name=str(path), allow_silence=allow_silence)
    if mono:
        y = to_mono(y)
    if sr is not None:
        if sr <= 0:
            raise ParameterError(f"sr must be a positive sample rate in Hz, got {sr}")
        if file_sr != sr:
            y = librosa.resample(y, orig_sr=file_sr, target_sr=sr, res_type="soxr_hq")
    else:
        sr = file_sr
    if duration is not None:
        y = fix_duration(y, int(round(duration * sr)))
    if normalize:
        y = peak_normalize(y)
    return np.ascontiguousarray(y, dtype=np.float32)
def encode_audio(y: np.ndarray, sr: int, *, format: str = "ogg") -> bytes:
    """Encode a waveform to compressed bytes (OGG/Vorbis by default, or WAV/FLAC).

    OGG/Vorbis is 6-8x smaller than 16-bit WAV, which keeps HTML reports with many players small.
    """
    fmt = format.upper()
    subtype = {"OGG": "VORBIS", "WAV": "PCM_16", "FLAC": "PCM_16"}.get(fmt)
    if subtype is None:
        raise ParameterError(f"unsupported audio format {format!r}; use 'ogg', 'wav' or 'flac'")
    y = np.asarray(y, dtype=np.float32)
    validate_waveform(y, name="encode_audio input", allow_silence=True)
    buf = io.BytesIO()
    sf.write(buf, np.clip(y, -1.0, 1.0), int(sr), format=fmt, subtype=subtype)
    return buf.getvalue()
