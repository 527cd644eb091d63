"""The L2I training loss: fidelity to the classifier, reconstruction through W, sparsity of H.

    L = w_fid(epoch) · L_fid(Θ(H), f(x)) + α · MSE(W H, V) + β · mean |H|

* L_fid, multi-class: soft-target cross-entropy against softmax(f), computed with ``log_softmax``
  (the official code takes ``.log()`` of a softmax without an epsilon). :func:`soft_cross_entropy`
  is also the classifier's training loss (one-hot or mixup targets), see :func:`target_loss`.
* L_fid, multi-label: binary cross-entropy with logits against sigmoid(f).
* Official weights and schedule (the defaults): α = 5, β = 0.4, w_fid = 0.5 until epoch 20, then 1.
* Optional, not in the paper (``nmf_target`` > 0): γ · MSE(H, H_nmf), pulling Ψ's activations
  towards the NMF activations of the clip (W fixed), an auxiliary target that helps Ψ reconstruct.
f's outputs are always detached: only Ψ and Θ learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._errors import ParameterError
from ._utils import probabilities

__all__ = ["LossWeights", "soft_cross_entropy", "target_loss", "fidelity_loss", "l2i_loss"]


@dataclass(frozen=True)
class LossWeights:
    """Weights of the three terms; ``fidelity`` switches to ``fidelity_late`` at ``switch_epoch``."""

    reconstruction: float = 5.0  # alpha
    sparsity: float = 0.4  # beta
    fidelity: float = 0.5
    fidelity_late: float = 1.0
    switch_epoch: int = 20
    nmf_target: float = 0.0  # gamma, weight of MSE(H, H_nmf); 0 = the official loss

    def __post_init__(self):
        if min(self.reconstruction, self.sparsity, self.fidelity, self.fidelity_late, self.nmf_target) < 0:
            raise ParameterError("loss weights must be >= 0")

    def fidelity_at(self, epoch: int) -> float:
        return self.fidelity_late if epoch >= self.switch_epoch else self.fidelity


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``logits`` against target probabilities, averaged over the batch:
    ``mean_b −Σ_c target_bc · log_softmax(logits)_bc``.

    Parameters
    ----------
    logits : torch.Tensor [shape=(batch, n_classes)]
    target : torch.Tensor [shape=(batch, n_classes)]
        Rows of probabilities (one-hot, mixup or softmax(f)).
    """
    return -(target * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


def target_loss(logits: torch.Tensor, target: torch.Tensor, *, multilabel: bool) -> torch.Tensor:
    """Loss of ``logits`` against soft targets: binary cross-entropy with logits (multi-label) or
    :func:`soft_cross_entropy` (multi-class). The classifier's loss, and L_fid with f's probabilities."""
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, target)
    return soft_cross_entropy(logits, target)


def fidelity_loss(theta_logits: torch.Tensor, f_logits: torch.Tensor, *, multilabel: bool) -> torch.Tensor:
    """L_fid: how far Θ's output is from the classifier's (f detached): :func:`target_loss` of Θ's
    logits against sigmoid(f) (multi-label) or softmax(f) (multi-class)."""
    return target_loss(theta_logits, probabilities(f_logits.detach(), multilabel), multilabel=multilabel)


def l2i_loss(theta_logits: torch.Tensor, f_logits: torch.Tensor, H: torch.Tensor, WH: torch.Tensor, V: torch.Tensor,
             *, multilabel: bool, weights: LossWeights = LossWeights(), epoch: int = 0,
             H_nmf: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """Total loss and its terms (``{"fidelity", "reconstruction", "sparsity"[, "nmf_target"]}``, unweighted)."""
    fid = fidelity_loss(theta_logits, f_logits, multilabel=multilabel)
    rec = F.mse_loss(WH, V)
    spa = H.abs().mean()
    total = weights.fidelity_at(epoch) * fid + weights.reconstruction * rec + weights.sparsity * spa
    parts = {"fidelity": fid.item(), "reconstruction": rec.item(), "sparsity": spa.item()}
    if weights.nmf_target > 0:
        if H_nmf is None:
            raise ParameterError("nmf_target > 0 needs the NMF activations H_nmf of the batch")
        aux = F.mse_loss(H, H_nmf)
        total = total + weights.nmf_target * aux
        parts["nmf_target"] = aux.item()
    return total, parts
