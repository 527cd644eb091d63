"""Every training loss: L2I's (fidelity to the classifier, reconstruction through W, sparsity of H)
and L-MAC's (mask-in, mask-out, L1, total variation; :func:`lmac_loss`).

L2I:

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

from l2i_core._errors import ParameterError
from l2i_core._utils import probabilities

__all__ = ["LossWeights", "soft_cross_entropy", "target_loss", "fidelity_loss", "l2i_loss", "LMACWeights",
           "total_variation", "lmac_loss"]


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
@dataclass(frozen=True)
class LMACWeights:
    """λ_in, λ_out, λ_l1, λ_tv of :func:`lmac_loss` (SpeechBrain's ``lmac_cnn14.yaml``: 4, 0.2, 0.4, 0).

    ``l1_batch_sum=True`` (the default) multiplies the L1 term by the batch size, as SpeechBrain's
    ``train_lmac.py`` does (it sums the batch's mean over the clips of the batch); False is the
    formula as written, ``λ_l1 · mean|M|``.
    """

    in_: float = 4.0
    out: float = 0.2
    l1: float = 0.4
    tv: float = 0.0
    l1_batch_sum: bool = True

    def __post_init__(self):
        if min(self.in_, self.out, self.l1, self.tv) < 0:
            raise ParameterError("L-MAC loss weights must be >= 0")
def total_variation(mask: torch.Tensor) -> torch.Tensor:
    """SpeechBrain's ``tv_loss`` (power 2): ``(Σ ΔF² + Σ ΔT²) / (2 B)`` over masks ``(B, ..., F, T)``."""
    dF = mask[..., 1:, :] - mask[..., :-1, :]
    dT = mask[..., :, 1:] - mask[..., :, :-1]
    return (dF.pow(2).sum() + dT.pow(2).sum()) / (2 * mask.shape[0])
def _class_term(logits: torch.Tensor, target: torch.Tensor, multilabel: bool) -> torch.Tensor:
    if multilabel:  # the target class's logit against f's decision (1)
        z = logits.gather(1, target[:, None]).squeeze(1)
        return F.binary_cross_entropy_with_logits(z, torch.ones_like(z))
    return F.cross_entropy(logits, target)
def lmac_loss(in_logits: torch.Tensor, out_logits: torch.Tensor, mask: torch.Tensor, target: torch.Tensor, *,
              multilabel: bool, weights: LMACWeights = LMACWeights()) -> tuple[torch.Tensor, dict]:
    """The L-MAC loss and its terms (unweighted floats).

    Multi-class: ``λ_in · CE(in_logits, ŷ) − λ_out · CE(out_logits, ŷ) + λ_l1 · mean|M| + λ_tv · TV(M)``,
    with ``λ_l1`` times the batch size when ``weights.l1_batch_sum`` (SpeechBrain's code).
    Multi-label: the cross-entropies become binary cross-entropy with logits of the target class's
    logit against 1 (f decided the class); no published L-MAC handles multi-label data.

    Parameters
    ----------
    in_logits, out_logits : torch.Tensor [shape=(B, C)]
        f's logits of the mask-in and mask-out inputs (:func:`masked_logits`).
    mask : torch.Tensor [shape=(B, F, T)]
        The mask of the explained class.
    target : torch.Tensor [shape=(B,), dtype=long]
        The explained class of each clip (ŷ, f's own prediction or decision).
    multilabel : bool
    weights : LMACWeights

    Returns
    -------
    loss : torch.Tensor (scalar)
    logs : dict
        ``{"in", "out", "l1", "tv"}``: the cross-entropies, mean|M| and TV(M).
    """
    target = torch.as_tensor(target, dtype=torch.long, device=in_logits.device)
    if in_logits.shape != out_logits.shape or target.shape != in_logits.shape[:1] or mask.shape[0] != len(target):
        raise ParameterError(f"lmac_loss: logits {tuple(in_logits.shape)}/{tuple(out_logits.shape)}, mask "
                             f"{tuple(mask.shape)} and target {tuple(target.shape)} must agree on the batch")
    l_in, l_out = _class_term(in_logits, target, multilabel), _class_term(out_logits, target, multilabel)
    l1 = mask.abs().mean()
    tv = total_variation(mask) if weights.tv > 0 else mask.new_zeros(())
    l1_w = weights.l1 * (len(target) if weights.l1_batch_sum else 1)
    loss = weights.in_ * l_in - weights.out * l_out + l1_w * l1 + weights.tv * tv
    return loss, {"in": l_in.item(), "out": l_out.item(), "l1": l1.item(), "tv": float(tv)}
