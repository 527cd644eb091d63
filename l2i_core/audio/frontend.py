"""The time-frequency front end of every preset: STFT / iSTFT, ``log1p|X|``, log-mel.

(Loading, validating and encoding waveforms is :mod:`l2i_core.audio.waveform`.) The STFT, its inverse and the log-mel features are computed with
``torch.stft`` / ``torch.istft`` so that they run batched on any device. There is deliberately no
torchaudio dependency (see the README).

Orientation, stated once: spectrograms are ``(..., n_freq, n_frames)``; waveforms are
``(..., n_samples)``.
"""

from __future__ import annotations

import librosa
import numpy as np
import torch
from torch import nn

from l2i_core._errors import ParameterError
from l2i_core.audio.waveform import as_float_samples
from l2i_core.config import Preset, get_preset

__all__ = ["FrontEnd", "kaldi_mel_filterbank", "preemphasis_gain"]


def _kaldi_mel(f):
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def kaldi_mel_filterbank(n_mels: int = 128, n_fft: int = 1024, sr: int = 32_000, fmin: float = 0.0,
                         fmax: float = 15_000.0) -> tuple[np.ndarray, np.ndarray]:
    """Kaldi's triangular mel filters, ``(n_mels, n_fft // 2 + 1)``, with a zero column for the Nyquist bin.

    On the Kaldi mel scale ``m(f) = 1127·ln(1 + f/700)``, ``n_mels + 2`` equally spaced points from
    ``m(fmin)`` to ``m(fmax)`` give filter ``i`` its left, centre and right edges ``m_i, m_{i+1}, m_{i+2}``;
    its weight at FFT bin ``k`` (frequency ``k·sr/n_fft``, ``k < n_fft/2``) is
    ``max(0, min((m − m_i)/(m_{i+1} − m_i), (m_{i+2} − m)/(m_{i+2} − m_{i+1})))`` with ``m = m(k·sr/n_fft)``
    (peak 1, no area normalisation), as Kaldi's ``MelBanks`` without VTLN warping. The last
    column (bin ``n_fft/2``) is zero.

    Returns
    -------
    fb : np.ndarray [shape=(n_mels, n_fft // 2 + 1), float32]
    centres_hz : np.ndarray [shape=(n_mels,), float64]
        The filters' centre frequencies.
    """
    if not 0 <= fmin < fmax <= sr / 2:
        raise ParameterError(f"need 0 <= fmin < fmax <= sr/2; got fmin={fmin}, fmax={fmax}, sr={sr}")
    edges = np.linspace(_kaldi_mel(fmin), _kaldi_mel(fmax), n_mels + 2)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    m = _kaldi_mel(np.arange(n_fft // 2) * sr / n_fft)[None, :]
    fb = np.maximum(0.0, np.minimum((m - left) / (centre - left), (right - m) / (right - centre)))
    fb = np.concatenate([fb, np.zeros((n_mels, 1))], axis=1)
    centres_hz = 700.0 * np.expm1(edges[1:-1] / 1127.0)
    return fb.astype(np.float32), centres_hz


def preemphasis_gain(coefficient: float, n_fft: int) -> np.ndarray:
    """``|1 − a·e^{−2πik/n_fft}|`` for ``k = 0..n_fft/2``: pre-emphasis ``x[n] − a·x[n−1]`` as a gain per STFT bin.

    On an STFT whose window is long beside the two-tap filter, pre-emphasising the audio multiplies
    each bin's magnitude by this gain, up to window effects (the filter's response varies across a
    bin's main lobe; largest at low frequencies, where the gain is smallest).
    """
    k = np.arange(n_fft // 2 + 1)
    return np.abs(1.0 - coefficient * np.exp(-2j * np.pi * k / n_fft))


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
    * STFT: Hann window of ``win_length`` (default ``n_fft``) samples, centred frames, the preset's
      padding (zero, as librosa >= 0.10; reflect for ``efficientat``).
    * A preset with pre-emphasis (``efficientat``) applies it to f's input as a fixed gain per STFT bin
      (:func:`preemphasis_gain`), on the audio path and the masked-magnitude path alike.
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
        self.register_buffer("window", torch.hann_window(p.window_length, periodic=p.window_periodic),
                             persistent=False)
        # f's own STFT window (the same as V's unless the preset gives f another STFT)
        self.register_buffer("f_window", self.window if p.shared_stft else torch.hann_window(p.f_n_fft, periodic=True),
                             persistent=False)
        mel = self._mel(p.f_n_fft)
        self.register_buffer("mel_basis", torch.from_numpy(mel.astype(np.float32)), persistent=False)
        # pre-emphasis as a gain per bin of f's STFT, (n_freq_f, 1); None when the preset has none
        gain = (torch.from_numpy(preemphasis_gain(p.preemphasis, p.f_n_fft).astype(np.float32))[:, None]
                if p.preemphasis else None)
        self.register_buffer("f_gain", gain, persistent=False)

    def _mel(self, n_fft: int) -> np.ndarray:
        p = self.preset
        if p.mel_kaldi:
            return kaldi_mel_filterbank(p.n_mels, n_fft, p.sr, p.fmin, p.fmax if p.fmax is not None else p.sr / 2)[0]
        return librosa.filters.mel(sr=p.sr, n_fft=n_fft, n_mels=p.n_mels, fmin=p.fmin, fmax=p.fmax,
                                   htk=p.mel_htk, norm=p.mel_norm)

    @property
    def shared_stft(self) -> bool:
        """Whether f reads V's STFT (see :attr:`~l2i_core.config.Preset.shared_stft`)."""
        return self.preset.shared_stft

    def v_mel_basis(self) -> np.ndarray:
        """The mel filterbank of f's front end laid on V's frequency grid, ``(n_mels, n_freq)``."""
        return self._mel(self.preset.n_fft).astype(np.float32)

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
            win_length=window.shape[-1],
            window=window,
            center=True,
            pad_mode=self.preset.pad_mode,
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
            win_length=self.window.shape[-1],
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
        if self.f_gain is not None:  # pre-emphasis, as the fixed gain per bin it is on the STFT grid
            magnitude = magnitude * self.f_gain
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
        """f's input from a mel spectrogram: dB (``features='db'``), aiSFX's scaled ``log10(10⁴·S + 1)`` or
        EfficientAT's ``(log(S + 1e-5) + 4.5) / 5``."""
        if self.preset.features == "aisfx":
            return torch.log10(S * 1e4 + 1.0) / AISFX_LOG_MAX
        if self.preset.features == "efficientat":
            return (torch.log(S + 1e-5) + 4.5) / 5.0
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
