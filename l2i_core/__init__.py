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
engine      the one training loop: resume, EMA, best-on-validation, checkpoints of the state, autocast
checkpoints save / load of every model (state dicts, ``weights_only=True``, JSON sidecars)
training    the classifier and interpreter recipes over the engine, validation selection
steps       reuse-or-build the dictionary, the classifier and the interpreter from artifacts_dir
masks       soft component masks M_k = w_k h_kᵀ / (WH + ε), the mask of a set, mask → audio
explain     relevance, component selection, interpretation audio (L2IExplainer, interpret)
metrics     top-k / multi-label fidelity, FF drops, mask-in AI/AD/AG/Fid-In, curve areas, SI-SDR, ...
evaluation  the paper's protocols: faithfulness, mask-in, deletion/insertion, mixtures, noise, scenes
baselines   listenable gradient baselines (captum Saliency, Integrated Gradients, SmoothGrad)
lmac        L-MAC (Paissan et al., 2024) for any tapped classifier: decoder, loss, training, masks
explainers  one ``attribute(x, target)`` interface: L2I, L-MAC, gradient methods, random, oracle IRM
stats       bootstrap confidence intervals, paired Wilcoxon tests, "61.6 [58.2, 64.9]" formatting
compare     every explainer on the same clips and conditions, every protocol, the sanity check
benchmark   what notebook 08 and ``l2i benchmark`` run: build, train, compare one dataset
widgets     the ipywidgets listening lab and a static gallery
results     typed results.json sections (dataclasses) written by the notebooks
reports     index.html and the README's tables from one set of headline rows
display     plots and compressed audio players for notebooks and HTML reports
pipeline    papermill runner, fingerprints and the ``l2i`` command

Layers: each module imports only from modules below it (``tests/test_architecture.py`` checks that
there is no cycle, none hidden in a function body); ``config`` and ``paper`` are leaves.
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
