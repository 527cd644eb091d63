"""Explaining: one contract for every method (Explainer.attribute(x, target) -> Explanation), L2I, L-MAC, the gradient methods, the references (random, identity, oracle IRM).

Modules
-------
interface           One interface for every listenable explanation: L2I, L-MAC, the gradient methods, random, identity, the oracle.
gradients           Listenable gradient baselines: captum attributions turned into masks that can be heard.
l2i                 Listenable interpretations: what the classifier relied on, as sound.
lmac                L-MAC masks of waveforms (:func:`lmac_attribute`) and L-MAC through the one explainer contract (:class:`LMACMask`).
references          The reference explainers: random masks, the identity and the oracle ideal ratio mask.
"""

from l2i_core.explain.gradients import (
    GRADIENT_SETTINGS,
    METHODS,
    GradientMask,
    bin_ranks,
    gradient_attribution,
    gradient_interpretation,
    mel_to_linear,
    top_fraction_mask,
    top_fraction_mask_from_ranks,
)
from l2i_core.explain.interface import (
    AudioModel,
    Explainer,
    Explanation,
    clip_targets,
    explained_rows,
    spectrogram_logits,
)
from l2i_core.explain.l2i import (
    Analysis,
    L2IExplainer,
    default_tau,
    interpret,
    relevance,
    select_components,
)
from l2i_core.explain.lmac import LMACMask, lmac_attribute
from l2i_core.explain.references import UNTRAINED, IdentityMask, OracleIRM, RandomMask, log1p_mask, untrained_explainer

__all__ = [
    "Explanation",
    "AudioModel",
    "Explainer",
    "explained_rows",
    "clip_targets",
    "spectrogram_logits",
    "METHODS",
    "GRADIENT_SETTINGS",
    "UNTRAINED",
    "untrained_explainer",
    "GradientMask",
    "gradient_attribution",
    "mel_to_linear",
    "top_fraction_mask",
    "bin_ranks",
    "top_fraction_mask_from_ranks",
    "gradient_interpretation",
    "Analysis",
    "L2IExplainer",
    "interpret",
    "relevance",
    "select_components",
    "default_tau",
    "LMACMask",
    "lmac_attribute",
    "RandomMask",
    "IdentityMask",
    "OracleIRM",
    "log1p_mask",
]
