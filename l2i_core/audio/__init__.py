"""Sound in and out: waveforms (load, validate, encode), every front end (STFT / iSTFT, log1p|X|, log-mel), soft masks and their audio.

Modules
-------
waveform            Waveforms in and out: load, validate, mono, fix the length, scale PCM, encode.
frontend            Audio input/output and the time-frequency front end.
masks               Soft component masks and how a mask becomes sound: the one home of these formulas.
"""

from l2i_core.audio.frontend import FrontEnd, kaldi_mel_filterbank, preemphasis_gain
from l2i_core.audio.masks import DEFAULT_EPS, component_audio, component_masks, mask_to_audio, selection_mask
from l2i_core.audio.waveform import (
    PCM_FULL_SCALE,
    SILENCE_THRESHOLD,
    as_float_samples,
    as_waveform_batch,
    encode_audio,
    fix_duration,
    load_audio,
    peak_normalize,
    to_mono,
    validate_waveform,
)

__all__ = [
    "kaldi_mel_filterbank",
    "preemphasis_gain",
    "FrontEnd",
    "DEFAULT_EPS",
    "component_masks",
    "selection_mask",
    "mask_to_audio",
    "component_audio",
    "SILENCE_THRESHOLD",
    "PCM_FULL_SCALE",
    "validate_waveform",
    "to_mono",
    "fix_duration",
    "as_float_samples",
    "as_waveform_batch",
    "peak_normalize",
    "load_audio",
    "encode_audio",
]
