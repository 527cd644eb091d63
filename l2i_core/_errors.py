"""Library error types.

Every error l2i raises on bad input is one of these, with a one-line message that names the
object at fault (usually a file) and says what to do about it, in the style of librosa's
``ParameterError``.
"""

from __future__ import annotations

__all__ = ["L2IError", "ParameterError", "AudioError", "DataNotFoundError"]


class L2IError(Exception):
    """Base class of every error raised by l2i."""


class ParameterError(L2IError, ValueError):
    """A parameter has an invalid value or type."""


class AudioError(L2IError, ValueError):
    """An audio file or waveform is unusable (missing, corrupt, empty, NaN/inf, silent, ...)."""


class DataNotFoundError(L2IError, FileNotFoundError):
    """A dataset is not on disk and cannot (or may not) be downloaded."""
