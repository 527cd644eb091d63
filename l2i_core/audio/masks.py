"""Soft component masks and how a mask becomes sound: the one home of these formulas.

With the dictionary W ``(F, K)`` and the activations H ``(K, T)`` of one clip (DESIGN §1 item 4):

* :func:`component_masks` — the soft mask of each component, ``M_k = w_k h_kᵀ / (W H + ε)``;
  over all K components they sum to ``W H / (W H + ε) ≈ 1``;
* :func:`selection_mask` — the mask of a chosen set of components, ``Σ_{k ∈ S} M_k =
  (W diag(1_S) H) / (W H + ε)``, batched over clips;
* :func:`mask_to_audio` — a mask made audible: magnitude ``expm1(mask ⊙ V)`` with
  ``V = log1p|STFT(x)|``, the input's own phase, inverse STFT (:meth:`~l2i_core.audio.frontend.FrontEnd.synthesize`);
* :func:`component_audio` — the audio of a set of components of one clip, the two steps together.

The oracle ideal ratio mask lives with the other formulas scored on known stems, in
:func:`l2i_core.metrics.ideal_ratio_mask`.
"""

from __future__ import annotations

import numpy as np
import torch

from l2i_core._errors import ParameterError
from l2i_core.audio.frontend import FrontEnd
from l2i_core.config import Preset

__all__ = ["DEFAULT_EPS", "component_masks", "selection_mask", "mask_to_audio", "component_audio"]

#: ε of ``W H + ε``: keeps the masks finite where the reconstruction is 0.
DEFAULT_EPS = 1e-8


def _index(components, K: int, device) -> torch.Tensor:
    idx = torch.as_tensor(np.asarray(list(components), dtype=np.int64).reshape(-1), device=device)
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= K):
        raise ParameterError(f"components must be indices in [0, {K}), got {idx.tolist()}")
    return idx


def component_masks(W, H, components, *, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """Soft masks ``M_k = w_k h_kᵀ / (W H + eps)`` of some components of one clip.

    Parameters
    ----------
    W : torch.Tensor or np.ndarray [shape=(n_freq, K)]
    H : torch.Tensor or np.ndarray [shape=(K, n_frames)]
    components : sequence of int
        Component indices, in the order the masks are returned.
    eps : float
        Added to ``W H``.

    Returns
    -------
    torch.Tensor [shape=(n_components, n_freq, n_frames)]
        Values in [0, 1); over all K components they sum to ``W H / (W H + eps)``.
    """
    W, H = torch.as_tensor(W), torch.as_tensor(H)
    idx = _index(components, W.shape[1], H.device)
    full = W @ H + eps  # (F, T)
    return W[:, idx].T.unsqueeze(-1) * H[idx].unsqueeze(1) / full


def selection_mask(W, H, selected, *, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """The mask of a chosen set of components per clip: ``(W diag(selected) H) / (W H + eps)``.

    Parameters
    ----------
    W : torch.Tensor [shape=(n_freq, K)]
    H : torch.Tensor [shape=(B, K, n_frames)]
    selected : torch.Tensor [shape=(B, K)]
        Boolean (or 0/1) selection of components, one row per clip.
    eps : float

    Returns
    -------
    torch.Tensor [shape=(B, n_freq, n_frames)]
        ``Σ_{k selected} M_k`` for each clip.
    """
    W, H = torch.as_tensor(W), torch.as_tensor(H)
    if H.ndim != 3 or selected.shape != H.shape[:2]:
        raise ParameterError(f"H must be (B, K, T) and selected (B, K); got {tuple(H.shape)} and {tuple(selected.shape)}")
    full = torch.einsum("fk,bkt->bft", W, H) + eps
    part = torch.einsum("fk,bkt->bft", W, H * selected.unsqueeze(-1).to(H))
    return part / full


def mask_to_audio(mask, V, phase, front_end: FrontEnd, *, length: int | None = None) -> torch.Tensor:
    """Audio of ``mask ⊙ V``: magnitude ``expm1(mask ⊙ V)``, the input phase, inverse STFT.

    Parameters
    ----------
    mask : torch.Tensor [shape=(..., n_freq, n_frames)]
        Soft or binary mask.
    V, phase : torch.Tensor [shape=(..., n_freq, n_frames)]
        ``FrontEnd.magnitude_phase`` of the input (broadcast against ``mask``).
    front_end : FrontEnd
    length : int or None
        Samples of the output (the input's length).

    Returns
    -------
    torch.Tensor [shape=(..., n_samples)]
    """
    spec = mask * V
    return front_end.synthesize(spec, phase.expand_as(spec), length=length)


def component_audio(W, H, V, phase, components, preset: str | Preset | FrontEnd = "cpu", *,
                    length: int | None = None, eps: float = DEFAULT_EPS) -> np.ndarray:
    """Audio of some NMF components of one clip, as L2I makes it audible.

    The mask of the set (:func:`selection_mask`) applied to the clip's log-magnitude ``V``, made
    audible with :func:`mask_to_audio`.

    Parameters
    ----------
    W : np.ndarray [shape=(n_freq, K)]
    H : np.ndarray [shape=(K, n_frames)]
    V, phase : torch.Tensor [shape=(n_freq, n_frames)]
        ``FrontEnd.magnitude_phase`` of the clip.
    components : sequence of int
    preset : str, Preset or FrontEnd
    length : int or None

    Returns
    -------
    np.ndarray [shape=(n_samples,)]
    """
    Wt, Ht = torch.as_tensor(W), torch.as_tensor(H)
    sel = torch.zeros(1, Wt.shape[1], dtype=torch.bool)
    sel[0, _index(components, Wt.shape[1], "cpu")] = True
    mask = selection_mask(Wt, Ht[None], sel, eps=eps)[0]
    fe = preset if isinstance(preset, FrontEnd) else FrontEnd(preset)
    return mask_to_audio(mask, torch.as_tensor(V), torch.as_tensor(phase), fe, length=length).numpy()
