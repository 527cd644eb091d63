"""Presets: the signal-processing configurations, and nothing else.

Everything that describes *a configuration* (sample rate, STFT sizes, mel bands, clip length) lives
in one dataclass, :class:`Preset`, with two named instances:

========  ========  =============  =====  ==========================================
preset    sr (Hz)   n_fft / hop    mel    intended for
========  ========  =============  =====  ==========================================
``cpu``   22 050    1024 / 512     64     a 2-core CPU, minutes per experiment
``paper`` 44 100    1024 / 512     128    a GPU, the paper's resolution; mel of |X|
``aisfx`` 44 100    1024 / 512     96     the pretrained aiSFX backbone, fine-tuned (its
                    (f: 2048/1024)        own front end; V on the paper's STFT); optional
``efficientat``     1024 / 320     128    EfficientAT mn04 (AudioSet), fine-tuned: V, W,
          32 000    (window 800)          Ψ and f on f's own STFT grid (the default run's
                                          pretrained network)
========  ========  =============  =====  ==========================================

The ``cpu`` preset's classifier input is the mel of the power spectrogram |X|²; the ``paper``
preset follows the official code, the mel of the magnitude |X| (``mel_power=1``). The ``aisfx``
preset keeps V (the dictionary's and the interpreter's spectrogram) on the ``paper`` preset's STFT,
while the classifier f sees the front end the aiSFX network was trained on (Ma and Lerch, ISMIR
2022): its own STFT (n_fft 2048, hop 1024), 96 HTK mel bands with area normalisation, the power
spectrogram, ``log10(10⁴·S + 1)`` divided by aiSFX's fixed maximum 9.4578 (its ``'original'``
normalisation). Audio is peak-normalised on loading for every preset, as aiSFX does.

The ``efficientat`` preset is the front end of EfficientAT's ``mn04_as`` (Schmid, Koutini and Widmer,
ICASSP 2023), and V lives on that same grid: 32 kHz, n_fft 1024 with a symmetric Hann window of 800
samples, hop 320, centred with reflect padding (513 bins × 501 frames for 5 s); f reads
``mel_kaldi @ (|G|·|X|)²`` with 128 Kaldi-scale mel bands from 0 to 15 kHz, then
``(log(· + 1e-5) + 4.5) / 5``. The publisher's pre-emphasis ``y[n] = x[n] − 0.97·x[n−1]`` is applied
as what it is on the STFT grid, the fixed per-bin gain ``|G_k| = |1 − 0.97·e^{−2πik/n_fft}|`` (up to
window effects, measured in ``tests/test_efficientat_preset.py``), so that a mask on V reaches f as the
same mask on f's own STFT magnitude, with no iSTFT → STFT round trip, and ``M = 1`` gives f(x) exactly.

Where a preset is resolved
--------------------------
A preset *name* is turned into a :class:`Preset` once, where it enters the package, and the object
travels inward from there:

* **The edges** accept ``str | Preset`` and call :func:`get_preset` once, at their top: the run
  parameters (:func:`~l2i_core.pipeline.run.run_config`, so :class:`~l2i_core.pipeline.run.RunConfig`
  holds a ``Preset`` and the ``l2i`` command and the notebooks pass ``cfg.preset`` on); the
  constructors a user (or a checkpoint's sidecar, which records a name) calls with a name
  (``FrontEnd``, ``AudioCNN``, ``AiSFXClassifier``, the explainers); a dataset's ``load``,
  ``load_batch`` and ``load_stems``; and the public functions a user calls with a name
  (``learn_dictionary``, ``train_classifier``, ``build_cache``, ``train_lmac``, the plots, ...).
* **Everything below them** takes ``preset: Preset`` (annotated so) and never calls
  :func:`get_preset`: private helpers, and functions only the package calls with a resolved preset
  (e.g. :func:`~l2i_core.models.lmac.freq_positions`).
* When an edge calls another edge inside the package (``train_classifier`` builds a ``FrontEnd``),
  it passes the resolved ``Preset``, which :func:`get_preset` hands back as it is: a name is looked up
  once per call from outside, never once per layer, batch or clip.

``tests/test_presets.py`` holds the list of edges, fails on a call of :func:`get_preset` anywhere
else, and counts the calls of a run of the ``l2i`` step commands.

This module is a leaf: it imports nothing of l2i but the error types, so any module may import it.
The paper's reference numbers live in :mod:`l2i_core.paper`; run parameters (notebook parameters,
quick-mode sizes) in :mod:`l2i_core.pipeline.run`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from l2i_core._errors import ParameterError

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
    features : str
        How f's input is made from the mel spectrogram: ``'db'`` (``power_to_db`` with ``top_db``,
        our CNNs) or ``'aisfx'`` (``log10(10⁴·S + 1) / 9.4578``, the aiSFX network's).
    feature_n_fft, feature_hop_length : int or None
        f's own STFT when it differs from V's (``None``: f reads V's STFT). Then every path from a
        masked spectrogram to f goes through audio (input phase, iSTFT), because a magnitude on one
        STFT grid is not a magnitude on another.
    mel_htk : bool
        HTK mel scale instead of Slaney's (librosa's ``htk``).
    mel_norm : 'slaney', float or None
        librosa's mel filter normalisation: ``'slaney'`` (area to 2/width) or ``1`` (unit sum, aiSFX).
    classifier : str
        Which f the pipeline trains: ``'cnn'`` (an :class:`~l2i_core.models.classifier.AudioCNN` from
        scratch), ``'aisfx'`` (the pretrained backbone of :mod:`l2i_core.models.pretrained`, fine-tuned)
        or ``'efficientat'`` (EfficientAT mn04, :mod:`l2i_core.models.efficientat`, fine-tuned).
    win_length : int or None
        Length of the Hann window (zero-padded to ``n_fft`` by ``torch.stft``); ``None``: ``n_fft``.
    window_periodic : bool
        Periodic Hann window (librosa's, ``True``) or symmetric (EfficientAT's, ``False``).
    pad_mode : str
        Padding of the centred STFT: ``'constant'`` (librosa >= 0.10) or ``'reflect'`` (``torch.stft``'s
        default, which EfficientAT was trained with).
    preemphasis : float
        Coefficient ``a`` of a pre-emphasis ``x[n] − a·x[n−1]`` in f's front end, applied as the per-bin
        gain ``|1 − a·e^{−2πik/n_fft}|`` on the STFT magnitude (0: none).
    mel_kaldi : bool
        Kaldi's mel filters (``1127·ln(1 + f/700)``, peak 1, zero Nyquist column) instead of librosa's.
    masks_on_grid : bool
        Whether the comparison harness (:func:`~l2i_core.evaluate.harness.score_explanation`, notebook
        08) scores a masked spectrogram on f's own grid (``mel @ (M ⊙ |X|)``, no audio in between;
        SpeechBrain's L-MAC evaluation does the same on CNN14's STFT) rather than through its audio
        (iSTFT with the input phase, then f's front end). Needs f to read V's STFT. ``efficientat``:
        True; the older presets keep their audio path. The paper's own protocols (notebook 05's
        faithfulness and mask-in) resynthesise as the paper did, whatever the preset.
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
    features: str = "db"
    feature_n_fft: int | None = None
    feature_hop_length: int | None = None
    mel_htk: bool = False
    mel_norm: str | float | None = "slaney"
    classifier: str = "cnn"
    win_length: int | None = None
    window_periodic: bool = True
    pad_mode: str = "constant"
    preemphasis: float = 0.0
    mel_kaldi: bool = False
    masks_on_grid: bool = False

    def __post_init__(self):
        if self.features not in ("db", "aisfx", "efficientat"):
            raise ParameterError(f"Preset {self.name!r}: features must be 'db', 'aisfx' or 'efficientat', "
                                 f"got {self.features!r}")
        if self.classifier not in ("cnn", "aisfx", "efficientat"):
            raise ParameterError(f"Preset {self.name!r}: classifier must be 'cnn', 'aisfx' or 'efficientat', "
                                 f"got {self.classifier!r}")
        if self.win_length is not None and not 0 < self.win_length <= self.n_fft:
            raise ParameterError(f"Preset {self.name!r}: win_length={self.win_length} must be in 1..n_fft={self.n_fft}")
        if self.pad_mode not in ("constant", "reflect"):
            raise ParameterError(f"Preset {self.name!r}: pad_mode must be 'constant' or 'reflect', got {self.pad_mode!r}")
        if self.masks_on_grid and not self.shared_stft:
            raise ParameterError(f"Preset {self.name!r}: masks_on_grid needs f to read V's STFT (shared_stft)")
        if not 0.0 <= self.preemphasis < 1.0:
            raise ParameterError(f"Preset {self.name!r}: preemphasis must be in [0, 1), got {self.preemphasis}")
        if self.sr <= 0 or self.n_fft <= 0 or self.hop_length <= 0 or self.n_mels <= 0:
            raise ParameterError(f"Preset {self.name!r}: sr, n_fft, hop_length and n_mels must be > 0")
        if self.mel_power not in (1.0, 2.0):
            raise ParameterError(f"Preset {self.name!r}: mel_power must be 1 (magnitude) or 2 (power), got {self.mel_power}")
        if self.hop_length > self.n_fft:
            raise ParameterError(f"Preset {self.name!r}: hop_length={self.hop_length} > n_fft={self.n_fft}")

    @property
    def f_n_fft(self) -> int:
        """FFT size of f's front end (``feature_n_fft``, else V's ``n_fft``)."""
        return int(self.feature_n_fft or self.n_fft)

    @property
    def f_hop_length(self) -> int:
        """Hop of f's front end (``feature_hop_length``, else V's ``hop_length``)."""
        return int(self.feature_hop_length or self.hop_length)

    @property
    def shared_stft(self) -> bool:
        """Whether f reads V's own STFT (then a masked magnitude maps to f's input without audio)."""
        return self.f_n_fft == self.n_fft and self.f_hop_length == self.hop_length

    @property
    def window_length(self) -> int:
        """Length of the STFT's Hann window (``win_length``, else ``n_fft``)."""
        return int(self.win_length or self.n_fft)

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
    "aisfx": Preset(name="aisfx", sr=44_100, n_fft=1024, hop_length=512, n_mels=96, top_db=None, mel_power=2.0,
                    features="aisfx", feature_n_fft=2048, feature_hop_length=1024, mel_htk=True, mel_norm=1.0,
                    classifier="aisfx"),
    "efficientat": Preset(name="efficientat", sr=32_000, n_fft=1024, hop_length=320, n_mels=128, fmin=0.0,
                          fmax=15_000.0, top_db=None, mel_power=2.0, features="efficientat", classifier="efficientat",
                          win_length=800, window_periodic=False, pad_mode="reflect", preemphasis=0.97,
                          mel_kaldi=True, masks_on_grid=True),
}


def get_preset(preset: str | Preset) -> Preset:
    """Return a :class:`Preset` from its name (``'cpu'``, ``'paper'``, ``'aisfx'``, ``'efficientat'``), or pass one through.

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
