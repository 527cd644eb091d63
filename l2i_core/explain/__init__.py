"""Explaining: one contract for every method (Explainer.attribute(x, target) -> Explanation), L2I, L-MAC, the gradient methods, the references (random, oracle IRM).

Modules
-------
interface           One interface for every listenable explanation: L2I, L-MAC, the gradient methods, random, the oracle.
gradients           Listenable gradient baselines: captum attributions turned into masks that can be heard.
l2i                 Listenable interpretations: what the classifier relied on, as sound.
lmac                L-MAC masks of waveforms (:func:`lmac_attribute`) and L-MAC through the one explainer contract (:class:`LMACMask`).
references          The reference explainers: random masks (what knowing nothing scores) and the oracle ideal ratio mask (the ceiling of the ground truth).
"""

from l2i_core.explain.gradients import (
    METHODS,
    GradientInterpretation,
    bin_ranks,
    gradient_attribution,
    gradient_interpretation,
    mel_to_linear,
    top_fraction_mask,
    top_fraction_mask_from_ranks,
)
from l2i_core.explain.interface import AudioModel, Explainer, Explanation
from l2i_core.explain.l2i import (
    Analysis,
    Interpretation,
    L2IExplainer,
    default_tau,
    interpret,
    relevance,
    select_components,
)
from l2i_core.explain.lmac import LMACMask, lmac_attribute
from l2i_core.explain.references import OracleIRM, RandomMask, log1p_mask

__all__ = [
    "Explanation",
    "AudioModel",
    "Explainer",
    "METHODS",
    "GradientInterpretation",
    "gradient_attribution",
    "mel_to_linear",
    "top_fraction_mask",
    "bin_ranks",
    "top_fraction_mask_from_ranks",
    "gradient_interpretation",
    "Analysis",
    "Interpretation",
    "L2IExplainer",
    "interpret",
    "relevance",
    "select_components",
    "default_tau",
    "LMACMask",
    "lmac_attribute",
    "RandomMask",
    "OracleIRM",
    "log1p_mask",
]
