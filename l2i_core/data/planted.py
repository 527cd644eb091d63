"""A planted shortcut: a class-specific marker sound mixed into a dataset's clips, with its stem.

A classifier trained on these clips can tell the class from the marker alone, and does (checked by
removing the marker from the test clips: :func:`l2i_core.evaluate.model_truth.shortcut_check`); an
explainer of that f should then point at the marker, whose time-frequency support is known exactly.

The marker (deterministic, documented in every record's ``metadata``):

* a **tone burst** of :data:`MARKER_SECONDS` (0.5 s) with 25 ms raised-cosine ramps, unit amplitude,
  starting at phase 0;
* its **frequency is the class's**: class ``c`` of ``C`` gets the centre frequency of one of the preset's
  own mel bands (:func:`marker_frequencies`), the bands between :data:`MARKER_LOW_HZ` (500 Hz) and 3/4 of
  the filterbank's top (cpu: 8.3 kHz; efficientat: 11.25 kHz) taken at equal steps, so two classes never
  share a band (a tone at a band's centre is where its triangular filter peaks);
* its **position** is drawn per clip, uniformly over the clip, from ``[seed, crc32(uid)]`` (the same
  clip gets the same position in every run and in every split order);
* its **level**: the clip's own energy over the whole clip is ``snr_db`` dB above the marker's
  (:func:`~l2i_core.data.corrupt.gain_for_snr`; default −10 dB: the marker has 10 × the clip's energy,
  packed into 0.5 s and one mel band), then the mixture is peak-normalised as every loaded clip is.

Why −10 dB (:data:`MARKER_SNR_DB`): f must rely on the marker for the test to score anything, and a
network pretrained on AudioSet relies on it less than one trained from scratch. Measured with seed 0,
removing the marker from the test clips (f trained by its preset's recipe on the planted clips):

======================================  ===========  ==================  ===================
f (data, test clips)                    10 dB below  as loud (0 dB)      10 dB above (−10)
======================================  ===========  ==================  ===================
cpu CNN (esc10, 80)                     0 % changed  25 % (93.8→68.8 %)  35 % (95.0→60.0 %)
EfficientAT mn04 (esc50-fold4, 83)      —            10 % (88.0→86.7 %)  19 % (84.3→77.1 %)
======================================  ===========  ==================  ===================

(decisions changed, accuracy with → without the marker; at 0 dB EfficientAT's drop in true-class
probability was not significant, Wilcoxon p = 0.10; at −10 dB p < 0.001). The run measures this again
every time (:func:`~l2i_core.evaluate.model_truth.shortcut_check`) and says when f does not rely on the marker.

:func:`planted_dataset` returns a :class:`PlantedDataset`: the new :class:`~l2i_core.data.records.AudioDataset`
(records in memory at the preset's rate) and, for every test clip, the mixture as loaded, the marker
in the same scale (its stem) and the clip without it (``clean = mixture − marker``, exactly what f
hears minus the marker). :func:`marker_support` is where the marker is: the STFT bins (V's grid) where
its magnitude exceeds the rest of the clip's.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import librosa
import numpy as np
import torch

from l2i_core._errors import AudioError, ParameterError
from l2i_core.audio.frontend import FrontEnd, kaldi_mel_filterbank
from l2i_core.config import Preset
from l2i_core.data.corrupt import gain_for_snr
from l2i_core.data.records import SPLITS, AudioDataset, Record

__all__ = ["MARKER_SECONDS", "MARKER_RAMP_S", "MARKER_LOW_HZ", "MARKER_SNR_DB", "SUPPORT_FLOOR_DB",
           "mel_band_centres", "marker_frequencies", "marker_waveform", "marker_support", "PlantedDataset",
           "planted_dataset"]

#: Length of the marker tone burst in seconds.
MARKER_SECONDS = 0.5
#: Raised-cosine ramps at both ends of the burst, in seconds.
MARKER_RAMP_S = 0.025
#: The lowest marker frequency (the bands below carry most of ESC's energy).
MARKER_LOW_HZ = 500.0
#: Default level: the clip's energy over the marker's, in dB (−10: the marker 10 dB louder; see the module docstring).
MARKER_SNR_DB = -10.0
#: :func:`marker_support` ignores bins more than this many dB below the marker's own peak.
SUPPORT_FLOOR_DB = 40.0


def mel_band_centres(preset: str | Preset) -> np.ndarray:
    """Centre frequency in Hz of each of the preset's mel bands (its own scale: Kaldi's, HTK or Slaney).

    Parameters
    ----------
    preset : str or Preset

    Returns
    -------
    np.ndarray [shape=(n_mels,)]
        Ascending.
    """
    p = FrontEnd(preset).preset  # resolves a preset name, once
    fmax = p.fmax if p.fmax is not None else p.sr / 2
    if p.mel_kaldi:
        return kaldi_mel_filterbank(p.n_mels, p.f_n_fft, p.sr, p.fmin, fmax)[1]
    return librosa.mel_frequencies(p.n_mels + 2, fmin=p.fmin, fmax=fmax, htk=p.mel_htk)[1:-1]


def marker_frequencies(n_classes: int, preset: str | Preset, *, low_hz: float = MARKER_LOW_HZ,
                       high_hz: float | None = None) -> np.ndarray:
    """The marker frequency of each class, ``(n_classes,)`` Hz: distinct mel-band centres at equal steps.

    The bands with centres in ``[low_hz, high_hz]`` (default 3/4 of the filterbank's top frequency) are
    taken at ``n_classes`` equally spaced indices, lowest first.

    Parameters
    ----------
    n_classes : int >= 1
    preset : str or Preset
        Whose mel bands.
    low_hz, high_hz : float
        The range of the centres (``high_hz`` None: 3/4 of the filterbank's top).

    Returns
    -------
    np.ndarray [shape=(n_classes,)]
        Hz, ascending, distinct.

    Raises
    ------
    ParameterError
        ``n_classes < 1``, or fewer bands in the range than classes.
    """
    p = FrontEnd(preset).preset  # resolves a preset name, once
    if n_classes < 1:
        raise ParameterError(f"n_classes must be >= 1, got {n_classes}")
    centres = mel_band_centres(p)
    top = 0.75 * (p.fmax if p.fmax is not None else p.sr / 2) if high_hz is None else float(high_hz)
    idx = np.nonzero((centres >= low_hz) & (centres <= top))[0]
    if len(idx) < n_classes:
        raise ParameterError(f"preset {p.name!r} has {len(idx)} mel bands in [{low_hz}, {top}] Hz for {n_classes} "
                             "classes; widen the range")
    pick = idx[np.round(np.linspace(0, len(idx) - 1, n_classes)).astype(int)]
    return centres[pick].astype(np.float64)


def marker_waveform(frequency_hz: float, sr: int, n_samples: int, *, start_s: float = 0.0,
                    seconds: float = MARKER_SECONDS, ramp_s: float = MARKER_RAMP_S) -> np.ndarray:
    """The marker: ``sin(2π f (t − start))`` on ``[start, start + seconds)`` with raised-cosine ramps, 0 elsewhere.

    Parameters
    ----------
    frequency_hz : float
        Below Nyquist.
    sr : int
    n_samples : int
        The clip's length in samples.
    start_s, seconds, ramp_s : float
        Where the burst starts, its length and its ramps' (``seconds > 2·ramp_s``).

    Returns
    -------
    np.ndarray [shape=(n_samples,), dtype=float32]
        Peak 1 (a burst cut by the clip's end is cut, not moved).

    Raises
    ------
    ParameterError
        A frequency at or above Nyquist, or a burst too short for its ramps.
    """
    if not 0 < frequency_hz < sr / 2:
        raise ParameterError(f"frequency {frequency_hz} Hz is not below Nyquist ({sr / 2} Hz)")
    if seconds <= 2 * ramp_s:
        raise ParameterError(f"a burst of {seconds} s cannot hold two ramps of {ramp_s} s")
    t = np.arange(n_samples) / sr - start_s
    inside = (t >= 0) & (t < seconds)
    r = max(ramp_s, 1.0 / sr)
    env = np.clip(np.minimum(t, seconds - t) / r, 0.0, 1.0)
    env = 0.5 - 0.5 * np.cos(np.pi * env)  # raised cosine from 0 to 1 over the ramp
    return np.where(inside, env * np.sin(2 * np.pi * frequency_hz * t), 0.0).astype(np.float32)


def marker_support(marker, rest, preset: str | Preset, *, floor_db: float = SUPPORT_FLOOR_DB) -> np.ndarray:
    """Where the marker is: STFT bins (V's grid) where its magnitude exceeds the rest of the clip's.

    Bins more than ``floor_db`` below the marker's own peak (per clip) are left out, so the burst's
    spectral leakage over digital silence does not count as the marker.

    Parameters
    ----------
    marker, rest : array [shape=(..., n_samples)]
        The marker as mixed (its stem) and the clip without it.
    preset : str or Preset

    Returns
    -------
    np.ndarray [shape=(..., n_freq, n_frames), dtype=bool]
    """
    fe = FrontEnd(preset)
    with torch.no_grad():
        M = fe.stft(torch.as_tensor(np.asarray(marker, np.float32))).abs().numpy()
        N = fe.stft(torch.as_tensor(np.asarray(rest, np.float32))).abs().numpy()
    peak = M.max(axis=(-2, -1), keepdims=True)
    return (M > N) & (M > 0) & (M >= peak * 10 ** (-floor_db / 20))


@dataclass
class PlantedDataset:
    """What :func:`planted_dataset` returns.

    Attributes
    ----------
    dataset : AudioDataset
        Every clip, the planted splits' with their marker (in memory at ``preset``'s rate), named
        ``<name>-planted``.
    mixtures, markers, clean : np.ndarray [shape=(n_test, n_samples), float32]
        Each test clip as ``dataset`` loads it, its marker in the same scale (zeros when the test split
        is not planted) and the clip without it (``mixtures − markers``).
    labels : np.ndarray [shape=(n_test,)]
        The test clips' classes.
    frequencies_hz : dict
        Class name → its marker's frequency.
    meta : dict
        How the markers were made (for sidecars and results).
    """

    dataset: AudioDataset
    mixtures: np.ndarray
    markers: np.ndarray
    clean: np.ndarray
    labels: np.ndarray
    frequencies_hz: dict
    meta: dict = field(default_factory=dict)

    def support(self, *, floor_db: float = SUPPORT_FLOOR_DB) -> np.ndarray:
        """:func:`marker_support` of every test clip, ``(n_test, n_freq, n_frames)`` bool."""
        return marker_support(self.markers, self.clean, self.meta["preset"], floor_db=floor_db)


def _level(snr_db: float) -> str:
    """The marker's level in words: ``'10 dB below the clip'``, ``'as loud as the clip'``, ``'6 dB above the clip'``."""
    if snr_db == 0:
        return "as loud as the clip"
    return f"{abs(snr_db):g} dB {'below' if snr_db > 0 else 'above'} the clip"


def planted_dataset(dataset: AudioDataset, preset: str | Preset = "cpu", *, splits=SPLITS,
                    snr_db: float = MARKER_SNR_DB, seed: int = 0, seconds: float = MARKER_SECONDS,
                    low_hz: float = MARKER_LOW_HZ, high_hz: float | None = None) -> PlantedDataset:
    """``dataset`` with each clip of ``splits`` carrying its class's marker (see the module docstring).

    Parameters
    ----------
    dataset : AudioDataset
        Multi-class.
    preset : str or Preset
        The rate the clips are mixed and kept at, and the mel scale of the marker frequencies.
    splits : sequence of str
        The splits that get markers; the others keep their records as they are.
    snr_db : float
        The clip's energy over the marker's (whole clip), in dB.
    seed : int
        Seed of the markers' positions.
    seconds, low_hz, high_hz
        The burst's length and the range of the marker frequencies (:func:`marker_frequencies`).

    Returns
    -------
    PlantedDataset
    """
    p = FrontEnd(preset).preset  # resolves a preset name, once
    if dataset.multilabel:
        raise ParameterError(f"{dataset.name}: a class-specific marker needs single-label (multi-class) data")
    bad = [s for s in splits if s not in SPLITS]
    if bad:
        raise ParameterError(f"unknown split(s) {bad}; choose among {SPLITS}")
    if seconds > dataset.duration:
        raise ParameterError(f"a marker of {seconds} s does not fit clips of {dataset.duration} s")
    freqs = marker_frequencies(len(dataset.classes), p, low_hz=low_hz, high_hz=high_hz)
    n = p.n_samples(dataset.duration)
    records = []
    for r in dataset:
        if r.split not in splits:
            records.append(r)
            continue
        c = dataset.class_index(r.label)
        y = dataset.load(r, p).astype(np.float64)
        rng = np.random.default_rng([int(seed), zlib.crc32(r.uid.encode())])
        start = float(rng.uniform(0.0, dataset.duration - seconds))
        m = marker_waveform(freqs[c], p.sr, n, start_s=start, seconds=seconds).astype(np.float64)
        try:
            g = float(gain_for_snr(y, m, snr_db))
        except AudioError as e:
            raise AudioError(f"{dataset.name}:{r.uid}: {e}") from None
        mix = y + g * m
        s = 1.0 / float(np.abs(mix).max())
        meta = {**r.metadata, "planted": True, "marker_hz": float(freqs[c]), "marker_start_s": start,
                "marker_seconds": float(seconds), "marker_snr_db": float(snr_db), "marker_gain": g * s}
        records.append(Record(uid=r.uid, labels=r.labels, split=r.split, waveform=(mix * s).astype(np.float32),
                              sr=p.sr, metadata=meta))
    planted = dataset.replace_records(
        records, name=f"{dataset.name}-planted",
        protocol=(f"{dataset.protocol}; a class-specific marker tone ({seconds} s, {_level(snr_db)}, "
                  f"seed {seed}) planted in the {', '.join(s for s in SPLITS if s in splits)} clips"))
    test = planted.split("test")
    mixtures = test.load_batch(None, p) if len(test) else np.zeros((0, n), np.float32)
    markers = np.zeros_like(mixtures)
    for i, r in enumerate(test):
        if r.metadata.get("planted"):
            m = marker_waveform(r.metadata["marker_hz"], p.sr, n, start_s=r.metadata["marker_start_s"],
                                seconds=seconds)
            raw = np.asarray(r.waveform, np.float64)
            # the loaded clip is the stored one peak-normalised again: scale the marker the same way
            markers[i] = (r.metadata["marker_gain"] / float(np.abs(raw).max()) * m).astype(np.float32)
    clean = (mixtures - markers).astype(np.float32)
    meta = {"preset": p.name, "snr_db": float(snr_db), "seed": int(seed), "seconds": float(seconds),
            "ramp_s": MARKER_RAMP_S, "low_hz": float(low_hz), "high_hz": None if high_hz is None else float(high_hz),
            "splits": [s for s in SPLITS if s in splits], "source": dataset.name,
            "frequencies_hz": {c: float(f) for c, f in zip(dataset.classes, freqs)}}
    labels = test.targets() if len(test) else np.zeros(0, np.int64)
    return PlantedDataset(dataset=planted, mixtures=mixtures, markers=markers, clean=clean, labels=labels,
                          frequencies_hz=dict(meta["frequencies_hz"]), meta=meta)
