"""The L2I interpreter: Ψ decodes the classifier's hidden maps into NMF activations H, Θ predicts
the classifier's output from H alone, and the fixed dictionary W turns H back into a spectrogram.

Notation (paper): maps = three hidden feature maps of f; H = Ψ(maps) ∈ R₊^{K×T}; Θ(H) ≈ f(x);
W H ≈ V = log(1 + |STFT(x)|).

* :class:`PsiDecoder` — per-branch 3×3 convolutions, each branch's frequency axis pooled to a common
  size, time upsampled (interpolated, never cropped) to the finest branch, concatenation, a
  convolution that collapses frequency, interpolation to exactly T frames, and two Conv1d(k=5) +
  ReLU layers, the last of which outputs K non-negative activations per frame. It adapts to any tap
  shapes ``(C_i, F_i, T_i)``: our ``cpu`` and ``paper`` classifiers, or a user's FeatureTap.
* :class:`AttentionTheta` — gated attention pooling over time (hidden 256, tanh ⊙ ReLU gate,
  softmax over time, dropout on the attention input), then a bias-free linear layer K → C.
* :class:`MaxTheta` — max pooling over time, then a bias-free linear layer K → C.
* :class:`NMFDecoder` — holds W as a buffer (never trained): ``W @ H``.
* :class:`L2IInterpreter` — ``forward(maps) -> (theta_logits, H)``; ``reconstruct(H) = W H``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from l2i_core._errors import ParameterError

__all__ = ["PsiDecoder", "AttentionTheta", "MaxTheta", "NMFDecoder", "L2IInterpreter", "make_theta"]


class PsiDecoder(nn.Module):
    """Ψ: three (or more) hidden maps → activations H ≥ 0 of shape ``(batch, K, n_frames)``.

    Parameters
    ----------
    tap_channels : sequence of int
        Channels C_i of each tapped map.
    n_components : int
        K, the number of dictionary atoms.
    n_frames : int
        T, the number of spectrogram frames H must have.
    width : int
        Channels of each branch and of the 1-D layers.
    freq_size : int
        Common frequency size every branch is pooled to before the frequency collapse.
    """

    def __init__(self, tap_channels: Sequence[int], n_components: int, n_frames: int, *, width: int = 256,
                 branch_width: int = 128, freq_size: int = 4):
        super().__init__()
        if not tap_channels or n_components < 1 or n_frames < 1:
            raise ParameterError("PsiDecoder needs tap channels, n_components >= 1 and n_frames >= 1")
        self.n_frames = int(n_frames)
        self.freq_size = int(freq_size)
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, branch_width, 3, padding=1, bias=False), nn.BatchNorm2d(branch_width), nn.ReLU())
            for c in tap_channels
        )
        cat = branch_width * len(tap_channels)
        self.collapse = nn.Sequential(nn.Conv2d(cat, width, (self.freq_size, 1), bias=False), nn.BatchNorm2d(width),
                                      nn.ReLU())
        self.conv1 = nn.Conv1d(width, width, 5, padding=2)
        self.conv2 = nn.Conv1d(width, n_components, 5, padding=2)

    def forward(self, maps: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(maps) != len(self.branches):
            raise ParameterError(f"PsiDecoder expects {len(self.branches)} maps, got {len(maps)}")
        t_common = max(m.shape[-1] for m in maps)
        outs = []
        for m, branch in zip(maps, self.branches):
            y = branch(m)  # (B, w, F_i, T_i)
            y = F.adaptive_avg_pool2d(y, (self.freq_size, y.shape[-1]))  # common frequency size
            if y.shape[-1] != t_common:  # time upsampling by interpolation, not cropping
                y = F.interpolate(y, size=(self.freq_size, t_common), mode="bilinear", align_corners=False)
            outs.append(y)
        y = self.collapse(torch.cat(outs, dim=1)).squeeze(2)  # (B, width, t_common)
        y = F.interpolate(y, size=self.n_frames, mode="linear", align_corners=False)  # exactly T frames
        y = F.relu(self.conv1(y))
        return F.relu(self.conv2(y))


class AttentionTheta(nn.Module):
    """Θ with gated attention pooling: ``a = softmax_t(wᵀ(tanh(V h_t) ⊙ ReLU(U h_t)))``, ``z = Σ a_t h_t``."""

    def __init__(self, n_components: int, n_classes: int, *, hidden: int = 256, dropout: float = 0.4):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.V = nn.Linear(n_components, hidden)
        self.U = nn.Linear(n_components, hidden)
        self.w = nn.Linear(hidden, 1)
        self.fc = nn.Linear(n_components, n_classes, bias=False)

    def pool(self, H: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z, a)``: pooled vector ``(B, K)`` and attention weights ``(B, T)``."""
        h = H.transpose(1, 2)  # (B, T, K)
        g = self.dropout(h)
        e = self.w(torch.tanh(self.V(g)) * F.relu(self.U(g))).squeeze(-1)  # (B, T)
        a = torch.softmax(e, dim=-1)
        return torch.bmm(a.unsqueeze(1), h).squeeze(1), a

    def forward(self, H: torch.Tensor, *, return_z: bool = False):
        z, _ = self.pool(H)
        logits = self.fc(z)
        return (logits, z) if return_z else logits


class MaxTheta(nn.Module):
    """Θ with max pooling over time: ``z = max_t h_t``, then a bias-free linear layer."""

    def __init__(self, n_components: int, n_classes: int):
        super().__init__()
        self.fc = nn.Linear(n_components, n_classes, bias=False)

    def pool(self, H: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z, idx = H.max(dim=-1)
        return z, idx

    def forward(self, H: torch.Tensor, *, return_z: bool = False):
        z, _ = self.pool(H)
        logits = self.fc(z)
        return (logits, z) if return_z else logits


def make_theta(pooling: str, n_components: int, n_classes: int, *, dropout: float = 0.4) -> nn.Module:
    """``'attention'`` → :class:`AttentionTheta`, ``'max'`` → :class:`MaxTheta`."""
    if pooling == "attention":
        return AttentionTheta(n_components, n_classes, dropout=dropout)
    if pooling == "max":
        return MaxTheta(n_components, n_classes)
    raise ParameterError(f"pooling must be 'attention' or 'max', got {pooling!r}")


class NMFDecoder(nn.Module):
    """The fixed NMF decoder: ``H (B, K, T) -> W H (B, F, T)``; W is a buffer, never trained."""

    def __init__(self, W: np.ndarray | torch.Tensor):
        super().__init__()
        W = torch.as_tensor(np.asarray(W, dtype=np.float32))
        if W.ndim != 2 or (W < 0).any():
            raise ParameterError("W must be a non-negative (n_freq, K) matrix")
        self.register_buffer("W", W)

    def forward(self, H: torch.Tensor) -> torch.Tensor:
        return torch.einsum("fk,bkt->bft", self.W, H)


class L2IInterpreter(nn.Module):
    """Ψ + Θ + the fixed dictionary.

    Parameters
    ----------
    W : array [shape=(n_freq, K)]
        The dictionary learned by :func:`~l2i_core.nmf.dictionary.learn_dictionary`.
    tap_channels : sequence of int
        Channels of the classifier's tapped maps.
    n_classes : int
    n_frames : int
        Frames T of the spectrogram the activations must match.
    pooling : {'attention', 'max'}
    dropout : float
        Dropout on the attention input (0.4 for ESC in the official code).

    Examples
    --------
    >>> W = np.abs(np.random.randn(513, 20)).astype(np.float32)
    >>> f_maps = [torch.randn(2, 64, 16, 54), torch.randn(2, 128, 8, 27), torch.randn(2, 256, 4, 13)]
    >>> interp = L2IInterpreter(W, [64, 128, 256], n_classes=10, n_frames=216)
    >>> logits, H = interp(f_maps)
    >>> logits.shape, H.shape, interp.reconstruct(H).shape
    (torch.Size([2, 10]), torch.Size([2, 20, 216]), torch.Size([2, 513, 216]))
    """

    def __init__(self, W, tap_channels: Sequence[int], n_classes: int, n_frames: int, *, pooling: str = "attention",
                 dropout: float = 0.4, width: int = 256):
        super().__init__()
        self.decoder = NMFDecoder(W)
        K = self.decoder.W.shape[1]
        self.psi = PsiDecoder(tap_channels, K, n_frames, width=width)
        self.theta = make_theta(pooling, K, n_classes, dropout=dropout)
        self.pooling = pooling
        self.n_classes = int(n_classes)
        self.tap_channels = [int(c) for c in tap_channels]
        self.n_frames = int(n_frames)

    @property
    def W(self) -> torch.Tensor:
        return self.decoder.W

    @property
    def n_components(self) -> int:
        return self.decoder.W.shape[1]

    def forward(self, maps: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(theta_logits (B, C), H (B, K, T))``."""
        H = self.psi(maps)
        return self.theta(H), H

    def reconstruct(self, H: torch.Tensor) -> torch.Tensor:
        """``W H``: the spectrogram (log1p magnitude) the activations describe."""
        return self.decoder(H)

    def pooled(self, H: torch.Tensor) -> torch.Tensor:
        """z, the pooled activations Θ's linear layer reads (Θ's own pooling), ``(B, K)``."""
        return self.theta.pool(H)[0]

    def config(self) -> dict:
        """What is needed to rebuild this module (stored beside checkpoints)."""
        return {"tap_channels": self.tap_channels, "n_classes": self.n_classes, "n_frames": self.n_frames,
                "pooling": self.pooling, "n_components": self.n_components,
                "dropout": float(getattr(self.theta, "dropout", nn.Dropout(0.0)).p)}
