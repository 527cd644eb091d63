"""Presets: the signal-processing configurations, and nothing else.

Everything that describes *a configuration* (sample rate, STFT sizes, mel bands, clip length) lives
in one dataclass, :class:`Preset`, with two named instances:

========  ========  =============  =====  ==========================================
preset    sr (Hz)   n_fft / hop    mel    intended for
========  ========  =============  =====  ==========================================
``cpu``   22 050    1024 / 512     64     a 2-core CPU, minutes per experiment
``paper`` 44 100    1024 / 512     128    a GPU, the paper's resolution; mel of |X|
========  ========  =============  =====  ==========================================

The ``cpu`` preset's classifier input is the mel of the power spectrogram |X|²; the ``paper``
preset follows the official code, the mel of the magnitude |X| (``mel_power=1``).

This module is a leaf: it imports nothing of l2i but the error types, so any module may import it.
The paper's reference numbers live in :mod:`l2i_core.paper`; run parameters (notebook parameters,
quick-mode sizes) in :mod:`l2i_core.run`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ._errors import ParameterError

__all__ = ["Preset", "PRESETS", "get_preset"]


@dataclass(frozen=True)
class Preset:
    """Signal-processing configuration shared by the front end, the dictionary and the models.

    Parameters
    ----------
    name : str
        Preset name, for display and for the JSON sidecars of saved artifacts.
    sr : int
        Sample rate in Hz every waveform is resampled to.
    n_fft : int
        FFT size (and Hann window length) in samples.
    hop_length : int
        Hop between frames in samples.
    n_mels : int
        Number of mel bands of the classifier input.
    fmin, fmax : float
        Mel filterbank range in Hz; ``fmax=None`` means ``sr / 2``.
    top_db : float or None
        Dynamic range of the log-mel input, as in :func:`librosa.power_to_db`, applied per clip.
    mel_power : float
        Exponent of ``|X|`` before the mel filterbank: 2 (power, librosa's default, the ``cpu``
        preset) or 1 (magnitude: the official L2I code computes ``melspectrogram(S=|X|)``, so the
        ``paper`` preset follows it; the two differ by about 7 dB on average).
    """

    name: str
    sr: int
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float | None = None
    top_db: float | None = 80.0
    mel_power: float = 2.0

    def __post_init__(self):
        if self.sr <= 0 or self.n_fft <= 0 or self.hop_length <= 0 or self.n_mels <= 0:
            raise ParameterError(f"Preset {self.name!r}: sr, n_fft, hop_length and n_mels must be > 0")
        if self.mel_power not in (1.0, 2.0):
            raise ParameterError(f"Preset {self.name!r}: mel_power must be 1 (magnitude) or 2 (power), got {self.mel_power}")
        if self.hop_length > self.n_fft:
            raise ParameterError(f"Preset {self.name!r}: hop_length={self.hop_length} > n_fft={self.n_fft}")

    @property
    def n_freq(self) -> int:
        """Number of STFT frequency bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    def n_samples(self, duration: float) -> int:
        """Number of samples in ``duration`` seconds."""
        return int(round(duration * self.sr))

    def n_frames(self, duration: float) -> int:
        """Number of STFT frames (centred) for a clip of ``duration`` seconds."""
        return 1 + self.n_samples(duration) // self.hop_length

    def replace(self, **changes) -> Preset:
        """Return a copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain-dict form, for JSON sidecars."""
        return dataclasses.asdict(self)


PRESETS: dict[str, Preset] = {
    "cpu": Preset(name="cpu", sr=22_050, n_fft=1024, hop_length=512, n_mels=64),
    "paper": Preset(name="paper", sr=44_100, n_fft=1024, hop_length=512, n_mels=128, mel_power=1.0),
}


def get_preset(preset: str | Preset) -> Preset:
    """Return a :class:`Preset` from its name (``'cpu'`` or ``'paper'``), or pass one through.

    Raises
    ------
    ParameterError
        If the name is unknown.
    """
    if isinstance(preset, Preset):
        return preset
    try:
        return PRESETS[str(preset)]
    except KeyError:
        raise ParameterError(
            f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}"
        ) from None
