"""The reference explainers: random masks (what knowing nothing scores), the identity (what keeping
everything scores) and the oracle ideal ratio mask (the ceiling of the ground truth).
"""

from __future__ import annotations

import numpy as np
import torch

from l2i_core import metrics
from l2i_core._errors import ParameterError
from l2i_core.explain.interface import AudioModel, Explainer

__all__ = ["RandomMask", "IdentityMask", "OracleIRM", "log1p_mask", "UNTRAINED", "untrained_explainer"]


class RandomMask(Explainer):
    """I.i.d. uniform masks in [0, 1], from a generator seeded once (so a run is reproducible).

    Parameters
    ----------
    model : AudioModel
    seed : int
        Seed of the generator; each :meth:`attribute` call draws the next masks from it.
    name : str or None
        Default ``'random'``.
    """

    name = "random"

    def __init__(self, model: AudioModel, *, seed: int = 0, name: str | None = None):
        super().__init__(model, name)
        self.rng = np.random.default_rng(seed)

    def masks(self, x, target, V, f_logits, *, stems=None):
        """Uniform values, one draw of ``V``'s shape."""
        return torch.from_numpy(self.rng.random(tuple(V.shape), dtype=np.float32)), {}


class IdentityMask(Explainer):
    """The mask of ones: the explanation is the input itself (up to the STFT round trip), whatever the class.

    Parameters
    ----------
    model : AudioModel
    name : str or None
        Default ``'identity'``.
    """

    name = "identity"

    def masks(self, x, target, V, f_logits, *, stems=None):
        """Ones of ``V``'s shape."""
        return torch.ones_like(V), {}


def log1p_mask(linear_mask, V) -> torch.Tensor:
    """The mask ``M`` with ``expm1(M ⊙ V) = linear_mask · expm1(V)``: ``log1p(linear_mask · |X|) / V``
    (0 where ``V = 0``). A linear mask in [0, 1] gives ``M`` in [0, 1].

    Parameters
    ----------
    linear_mask : array or tensor [shape=(..., F, T)]
        A mask of the linear magnitude ``|X|``.
    V : array or tensor [shape=(..., F, T)]
        ``log1p|X|``.

    Returns
    -------
    torch.Tensor [shape=(..., F, T)]
    """
    V = torch.as_tensor(V)
    L = torch.as_tensor(linear_mask, dtype=V.dtype, device=V.device)
    M = torch.log1p(L * torch.expm1(V)) / V.clamp_min(1e-12)
    return torch.where(V > 0, M, torch.zeros_like(M)).clamp(0, 1)


class OracleIRM(Explainer):
    """The ideal ratio mask of the true stem: ``|S| / (|S| + |X − S|)`` on the linear magnitude, in the
    log1p convention (:func:`log1p_mask`). Needs ``stems`` in :meth:`attribute` (the stem of each clip);
    it explains the stem, whatever the target.

    Parameters
    ----------
    model : AudioModel
    name : str or None
        Default ``'oracle IRM'``.
    """

    name = "oracle IRM"
    needs_stems = True

    def masks(self, x, target, V, f_logits, *, stems=None):
        """The IRM of each row's stem against the rest of its input."""
        s = self.model.waveforms(stems)
        if s.shape != x.shape:
            raise ParameterError(f"stems {tuple(s.shape)} must have the inputs' shape {tuple(x.shape)}")
        with torch.no_grad():
            S = self.model.fe.stft(s).abs()
            N = self.model.fe.stft(x - s).abs()
        irm = torch.from_numpy(metrics.ideal_ratio_mask(S.cpu().numpy(), N.cpu().numpy())).to(V.device)
        return log1p_mask(irm, V), {}


#: The methods that need no training, by the short names the comparison's ``methods`` use.
UNTRAINED = ("saliency", "integrated_gradients", "smoothgrad", "random", "identity", "oracle")


def untrained_explainer(model: AudioModel, name: str, *, seed: int = 0) -> Explainer:
    """The explainer of short name ``name`` (:data:`UNTRAINED`) on ``model``, as every comparison builds it.

    The gradient methods take :data:`~l2i_core.explain.gradients.GRADIENT_SETTINGS`' budgets; SmoothGrad and
    the random mask draw from ``seed``.

    Examples
    --------
    >>> untrained_explainer(model, "smoothgrad", seed=0).name  # doctest: +SKIP
    'SmoothGrad'
    """
    from l2i_core.explain.gradients import GRADIENT_SETTINGS, GradientMask

    if name in ("saliency", "integrated_gradients", "smoothgrad"):
        return GradientMask(model, name, **GRADIENT_SETTINGS.get(name, {}),
                            **({"seed": int(seed)} if name == "smoothgrad" else {}))
    if name == "random":
        return RandomMask(model, seed=int(seed))
    if name == "identity":
        return IdentityMask(model)
    if name == "oracle":
        return OracleIRM(model)
    raise ParameterError(f"unknown explainer {name!r} needing no training; choose among {list(UNTRAINED)}")
