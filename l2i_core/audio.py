"""Audio input/output and the time-frequency front end.

Loading is done with :mod:`soundfile` (WAV, FLAC, OGG and anything else libsndfile reads) and
:func:`librosa.resample`; the STFT, its inverse and the log-mel features are computed with
``torch.stft`` / ``torch.istft`` so that they run batched on any device. There is deliberately no
torchaudio dependency (see the README).

Orientation, stated once: spectrograms are ``(..., n_freq, n_frames)``; waveforms are
``(..., n_samples)``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import torch
from torch import nn

from ._errors import AudioError, ParameterError
from .config import Preset, get_preset

__all__ = [
    "load_audio",
    "validate_waveform",
    "to_mono",
    "fix_duration",
    "peak_normalize",
    "as_waveform_batch",
    "as_float_samples",
    "PCM_FULL_SCALE",
    "encode_audio",
    "FrontEnd",
]

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
        raise ParameterError("x contains NaN or inf samples; clean the audio (l2i_core.audio.load_audio checks files)")
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


AISFX_LOG_MAX = 9.457798957824707
"""aiSFX's fixed spectrogram maximum (its ``spectrogram_normalize(spec_norm='original')``)."""


class FrontEnd(nn.Module):
    """Batched STFT / iSTFT / log-magnitude / log-mel front end on any device.

    Parameters
    ----------
    preset : str or Preset
        ``'cpu'``, ``'paper'`` or a :class:`~l2i_core.config.Preset`.

    Notes
    -----
    * STFT: Hann window of ``n_fft`` samples, centred frames, zero padding (as librosa >= 0.10).
    * The magnitude that NMF and the interpreter see is ``log1p(|X|)`` (paper's V).
    * The classifier input is ``power_to_db(mel @ |X|**p, ref=1.0, amin=1e-10, top_db)`` with a
      Slaney-normalised librosa mel filterbank held as a buffer; ``top_db`` is applied per clip;
      ``p = preset.mel_power`` is 2 for the ``cpu`` preset and 1 for ``paper`` (official code).

    Examples
    --------
    >>> fe = FrontEnd("cpu")
    >>> x = torch.randn(2, 22050 * 5)
    >>> fe.log_magnitude(x).shape
    torch.Size([2, 513, 216])
    >>> fe.logmel(x).shape
    torch.Size([2, 64, 216])
    """

    def __init__(self, preset: str | Preset = "cpu"):
        super().__init__()
        self.preset = get_preset(preset)
        p = self.preset
        self.register_buffer("window", torch.hann_window(p.n_fft, periodic=True), persistent=False)
        # f's own STFT window (the same as V's unless the preset gives f another STFT)
        self.register_buffer("f_window", torch.hann_window(p.f_n_fft, periodic=True), persistent=False)
        mel = librosa.filters.mel(sr=p.sr, n_fft=p.f_n_fft, n_mels=p.n_mels, fmin=p.fmin, fmax=p.fmax,
                                  htk=p.mel_htk, norm=p.mel_norm)
        self.register_buffer("mel_basis", torch.from_numpy(mel.astype(np.float32)), persistent=False)

    @property
    def shared_stft(self) -> bool:
        """Whether f reads V's STFT (see :attr:`~l2i_core.config.Preset.shared_stft`)."""
        return self.preset.shared_stft

    def v_mel_basis(self) -> np.ndarray:
        """The mel filterbank of f's front end laid on V's frequency grid, ``(n_mels, n_freq)``."""
        p = self.preset
        return librosa.filters.mel(sr=p.sr, n_fft=p.n_fft, n_mels=p.n_mels, fmin=p.fmin, fmax=p.fmax,
                                   htk=p.mel_htk, norm=p.mel_norm).astype(np.float32)

    # -- helpers -----------------------------------------------------------------------------
    def _as_tensor(self, x) -> torch.Tensor:
        x = as_float_samples(x, name="waveform")  # int16 / int32 PCM scaled, other integers refused
        if not torch.is_tensor(x):
            x = torch.as_tensor(x)
        if x.ndim == 0 or x.shape[-1] < 2:
            raise ParameterError(f"waveform must have shape (..., n_samples) with n_samples >= 2, got {tuple(x.shape)}")
        return x.to(device=self.window.device, dtype=self.window.dtype)

    # -- transforms --------------------------------------------------------------------------
    def stft(self, x) -> torch.Tensor:
        """Complex STFT (V's grid). ``x``: ``(..., n_samples)`` → ``(..., n_freq, n_frames)``."""
        return self._stft(x, self.preset.n_fft, self.preset.hop_length, self.window)

    def f_stft(self, x) -> torch.Tensor:
        """Complex STFT on f's own grid (``preset.f_n_fft`` / ``f_hop_length``; V's when shared)."""
        if self.shared_stft:
            return self.stft(x)
        return self._stft(x, self.preset.f_n_fft, self.preset.f_hop_length, self.f_window)

    def _stft(self, x, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
        x = self._as_tensor(x)
        lead = x.shape[:-1]
        X = torch.stft(
            x.reshape(-1, x.shape[-1]),
            n_fft=n_fft,
            hop_length=hop,
            window=window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        return X.reshape(*lead, *X.shape[-2:])

    def istft(self, X: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Inverse STFT. ``X``: ``(..., n_freq, n_frames)`` complex → ``(..., n_samples)``."""
        if not torch.is_complex(X):
            raise ParameterError("istft expects a complex spectrogram; combine magnitude and phase first")
        lead = X.shape[:-2]
        y = torch.istft(
            X.reshape(-1, *X.shape[-2:]).to(self.window.device),
            n_fft=self.preset.n_fft,
            hop_length=self.preset.hop_length,
            window=self.window,
            center=True,
            length=length,
        )
        return y.reshape(*lead, y.shape[-1])

    def magnitude_phase(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(log1p(|X|), angle(X))``, each ``(..., n_freq, n_frames)``."""
        X = self.stft(x)
        return torch.log1p(X.abs()), torch.angle(X)

    def log_magnitude(self, x) -> torch.Tensor:
        """Return V = ``log1p(|STFT(x)|)``, ``(..., n_freq, n_frames)``."""
        return torch.log1p(self.stft(x).abs())

    def synthesize(self, log_magnitude: torch.Tensor, phase: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Waveform from a log1p magnitude and a phase: ``istft(expm1(V) * exp(i * phase))``."""
        mag = torch.expm1(log_magnitude).clamp_min(0)
        return self.istft(torch.polar(mag, phase.to(mag.dtype)), length=length)

    def mel_power(self, x) -> torch.Tensor:
        """Mel spectrogram ``mel_basis @ |X_f|**p`` on f's STFT (``p = preset.mel_power``), ``(..., n_mels, n_frames_f)``."""
        return torch.matmul(self.mel_basis, self._power(self.f_stft(x).abs()))

    def _power(self, magnitude: torch.Tensor) -> torch.Tensor:
        return magnitude.pow(2) if self.preset.mel_power == 2 else magnitude

    def mel_power_from_magnitude(self, magnitude: torch.Tensor) -> torch.Tensor:
        """``mel_basis @ magnitude**p`` for a linear STFT magnitude ``(..., n_freq, n_frames)``.

        ``p = preset.mel_power``: 2 (power, the ``cpu`` preset) or 1 (magnitude, as the official
        L2I code's ``melspectrogram(S=|X|)``, the ``paper`` preset). Only where f reads V's STFT
        (:attr:`shared_stft`); otherwise use :meth:`features_from_magnitude` with the phase.
        """
        if not self.shared_stft:
            raise ParameterError(f"preset {self.preset.name!r}: f has its own STFT, so a magnitude on V's grid "
                                 "reaches f only through audio; pass the phase (features_from_magnitude)")
        return torch.matmul(self.mel_basis, self._power(magnitude))

    def power_to_db(self, S: torch.Tensor, amin: float = 1e-10) -> torch.Tensor:
        """``10 log10(max(S, amin))`` clipped to ``top_db`` below each clip's maximum."""
        db = 10.0 * torch.log10(S.clamp_min(amin))
        if self.preset.top_db is not None:
            peak = db.amax(dim=(-2, -1), keepdim=True)
            db = torch.maximum(db, peak - self.preset.top_db)
        return db

    def features_from_mel(self, S: torch.Tensor) -> torch.Tensor:
        """f's input from a mel spectrogram: dB (``features='db'``) or aiSFX's scaled ``log10(10⁴·S + 1)``."""
        if self.preset.features == "aisfx":
            return torch.log10(S * 1e4 + 1.0) / AISFX_LOG_MAX
        return self.power_to_db(S)

    def features_from_magnitude(self, magnitude: torch.Tensor, phase: torch.Tensor | None = None, *,
                                length: int | None = None) -> torch.Tensor:
        """f's input from a *linear* magnitude on V's grid ``(..., n_freq, n_frames)``, differentiably.

        Where f reads V's STFT the mel is taken from the magnitude directly (no round trip). Where f
        has its own STFT (the ``aisfx`` preset) the magnitude is made audio with ``phase``
        (iSTFT, length ``length``) and re-analysed by f's front end; without a phase that raises.
        """
        if self.shared_stft:
            return self.features_from_mel(self.mel_power_from_magnitude(magnitude))
        if phase is None:
            raise ParameterError(f"preset {self.preset.name!r}: f has its own STFT, so a masked spectrogram reaches "
                                 "f only through audio; pass the input phase")
        y = self.istft(torch.polar(magnitude.clamp_min(0), phase.to(magnitude.dtype)), length=length)
        return self.logmel(y)

    def logmel(self, x) -> torch.Tensor:
        """f's input from waveforms, ``(..., n_mels, n_frames_f)``: the log-mel in dB, or aiSFX's features."""
        return self.features_from_mel(self.mel_power(x))

    def forward(self, x) -> torch.Tensor:
        """Same as :meth:`logmel`."""
        return self.logmel(x)

    def extra_repr(self) -> str:
        p = self.preset
        own = "" if p.shared_stft else f", f_n_fft={p.f_n_fft}, f_hop_length={p.f_hop_length}"
        return f"preset={p.name!r}, sr={p.sr}, n_fft={p.n_fft}, hop_length={p.hop_length}, n_mels={p.n_mels}{own}"
