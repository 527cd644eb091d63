"""l2i: Listen to Interpret (Parekh et al., NeurIPS 2022) as a reproducible, listenable companion.

Modules
-------
audio       loading, validation, STFT / iSTFT / log-mel front end (torch)
config      presets (``cpu``, ``paper``), a leaf module
paper       the published reference numbers (paper, SpeechBrain tables)
run         notebook parameters (RunConfig) and the sizes of a quick run
data        datasets (ESC-10/50, FSDD, SONYC-UST layout, urbanmix, user folders), corruptions
nmf         SparseNMF: sparse NMF with unit-norm atoms in torch (CPU/GPU), scikit-learn style
dictionary  learning W on a training split (single or per-class), saving/loading, atom audio
classifier  AudioCNN with named taps (cpu / paper presets), FeatureTap for any model
interpreter Psi decoder, Theta heads (attention, max), fixed NMF decoder, L2IInterpreter
losses      the L2I loss (fidelity, reconstruction, sparsity) with the official schedule
cache       the frozen classifier's maps, logits and V, computed once per clip
training    classifier and interpreter training, validation selection, checkpoints
steps       reuse-or-build the dictionary, the classifier and the interpreter from artifacts_dir
explain     relevance, component selection, soft masks, interpretation audio (L2IExplainer, interpret)
metrics     top-k / multi-label fidelity, FF drops, mask-in AI/AD/AG/Fid-In, curve areas, SI-SDR, ...
evaluation  the paper's protocols: faithfulness, mask-in, deletion/insertion, mixtures, noise, scenes
baselines   listenable gradient baselines (captum Saliency, Integrated Gradients, SmoothGrad)
widgets     the ipywidgets listening lab and a static gallery
results     results.json sections and tables beside the paper's numbers
display     plots and compressed audio players for notebooks and HTML reports
pipeline    papermill runner and the ``l2i`` command
"""

from ._errors import AudioError, DataNotFoundError, L2IError, ParameterError
from ._version import __version__
from .config import PRESETS, Preset, get_preset


def __getattr__(name):  # ``l2i_core.PAPER`` without importing l2i_core.paper with every submodule
    if name == "PAPER":
        from .paper import PAPER

        return PAPER
    raise AttributeError(f"module 'l2i_core' has no attribute {name!r}")

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
