"""l2i: Listen to Interpret (Parekh et al., NeurIPS 2022) as a reproducible, listenable companion.

The names a user types are here::

    from l2i_core import load_dataset, learn_dictionary, train_interpreter, L2IExplainer

The package is filed by stage, each folder re-exporting its public names (``__all__``); a folder
imports only from the folders below it (``tests/test_architecture.py`` checks it; the drawing is in
``docs/architecture.md``):

============  ===============================================================================
folder        what it holds
============  ===============================================================================
(leaves)      ``config`` (presets), ``paper`` (published numbers), ``metrics`` (numpy formulas),
              ``_errors``, ``_utils``, ``_numpy``, ``_version``
audio/        waveforms in and out, every front end (STFT / iSTFT, log1p|X|, log-mel), soft masks
data/         datasets (ESC-10/50, FSDD, SONYC-UST layout, urbanmix, folders), corruptions
nmf/          SparseNMF and the dictionary W learned on a training split
models/       the classifier f with taps, pretrained backbones, Ψ and Θ, L-MAC's decoder, checkpoints
train/        the one training loop, distributed helpers, the activation cache, losses, recipes
explain/      one contract (Explainer → Explanation): L2I, L-MAC, gradient methods, references
evaluate/     the paper's protocols, the any-explainer comparison, statistics
report/       results.json sections, index.html / README tables, plots, players, widgets
pipeline/     the ``l2i`` command, papermill runner, run parameters, reuse-or-build steps, lab
============  ===============================================================================

Layers, bottom up: leaves → audio → data → nmf, models → train, explain → evaluate, report → pipeline →
``__main__``; folders on one layer (``nmf``/``models``, ``train``/``explain``, ``evaluate``/``report``) never
import each other.
"""

from l2i_core._errors import AudioError, DataNotFoundError, L2IError, ParameterError
from l2i_core._version import __version__
from l2i_core.config import PRESETS, Preset, get_preset

#: The flagship names, imported on first use so that ``import l2i_core`` stays light.
_LAZY = {
    "PAPER": "l2i_core.paper",
    "load_dataset": "l2i_core.data",
    "load_audio": "l2i_core.audio.waveform",
    "FrontEnd": "l2i_core.audio.frontend",
    "SparseNMF": "l2i_core.nmf.sparse_nmf",
    "learn_dictionary": "l2i_core.nmf.dictionary",
    "load_dictionary": "l2i_core.nmf.dictionary",
    "AudioCNN": "l2i_core.models.classifier",
    "load_classifier": "l2i_core.models.checkpoints",
    "train_classifier": "l2i_core.train.recipes",
    "train_interpreter": "l2i_core.train.recipes",
    "build_cache": "l2i_core.train.cache",
    "Explainer": "l2i_core.explain.interface",
    "Explanation": "l2i_core.explain.interface",
    "AudioModel": "l2i_core.explain.interface",
    "L2IExplainer": "l2i_core.explain.l2i",
    "LMACMask": "l2i_core.explain.lmac",
    "GradientMask": "l2i_core.explain.gradients",
    "RandomMask": "l2i_core.explain.references",
    "IdentityMask": "l2i_core.explain.references",
    "OracleIRM": "l2i_core.explain.references",
    "run_config": "l2i_core.pipeline.run",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'l2i_core' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])


__all__ = ["AudioError", "DataNotFoundError", "L2IError", "ParameterError", "PRESETS", "Preset", "get_preset",
           "__version__", *_LAZY]
