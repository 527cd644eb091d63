"""l2i: Listen to Interpret (Parekh et al., NeurIPS 2022) as a reproducible, listenable companion.

Modules
-------
audio       loading, validation, STFT / iSTFT / log-mel front end (torch)
config      presets (``cpu``, ``paper``) and the paper's reference numbers
data        datasets (ESC-10/50, FSDD, SONYC-UST layout, urbanmix, user folders), corruptions
display     plots and compressed audio players for notebooks and HTML reports
"""

from ._errors import AudioError, DataNotFoundError, L2IError, ParameterError
from .config import PAPER, PRESETS, Preset, get_preset

__version__ = "0.1.0"

__all__ = [
    "AudioError",
    "DataNotFoundError",
    "L2IError",
    "ParameterError",
    "PAPER",
    "PRESETS",
    "Preset",
    "get_preset",
    "__version__",
]
