"""The L-MAC decoder network (Paissan, Ravanelli, Subakan, ICML 2024): tapped maps of f → one soft mask per class (or one).
"""

from __future__ import annotations

from collections.abc import Sequence

import librosa
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from l2i_core._errors import ParameterError
from l2i_core._utils import module_device
from l2i_core.config import Preset

__all__ = ["LMACDecoder", "freq_positions", "lmac_masks", "select_masks"]


def freq_positions(preset: Preset) -> np.ndarray:
    """Where every STFT bin lies along the preset's log-mel frequency axis, in [0, 1].

    The convention is that of a map with ``R`` rows pooled uniformly from the mel bands: row ``r`` is
    centred at ``(r + 0.5) / R``, so mel band ``j`` of ``n_mels`` is centred at ``(j + 0.5) / n_mels``.
    A bin at ``f`` Hz sits at fractional band ``(n_mels + 1) · u(f) − 1`` with ``u`` the mel scale of
    librosa's filterbank (Slaney) normalised to [fmin, fmax]; values are clipped to [0, 1].

    Parameters
    ----------
    preset : Preset
        A resolved preset (:func:`~l2i_core.config.get_preset` turns a name into one): only the
        package calls this, from :func:`~l2i_core.train.lmac.train_lmac`, which resolved it.

    Returns
    -------
    np.ndarray [shape=(n_freq,), dtype=float32]
    """
    fmax = preset.fmax if preset.fmax is not None else preset.sr / 2
    lo, hi = librosa.hz_to_mel(preset.fmin), librosa.hz_to_mel(fmax)
    u = (librosa.hz_to_mel(librosa.fft_frequencies(sr=preset.sr, n_fft=preset.n_fft)) - lo) / (hi - lo)
    n_mels = preset.n_mels
    band = (n_mels + 1) * u - 1  # band j's centre is at mel point j + 1 of n_mels + 2
    return np.clip((band + 0.5) / n_mels, 0.0, 1.0).astype(np.float32)
def _resize_matrix(positions: torch.Tensor, rows: int) -> torch.Tensor:
    """``(n_freq, rows)`` linear-interpolation weights reading each bin's position from ``rows`` rows."""
    r = (positions * rows - 0.5).clamp(0, rows - 1)
    lo = r.floor().long()
    hi = (lo + 1).clamp_max(rows - 1)
    w = r - lo
    A = torch.zeros(len(positions), rows, dtype=positions.dtype, device=positions.device)
    A.scatter_add_(1, lo[:, None], (1 - w)[:, None])
    A.scatter_add_(1, hi[:, None], w[:, None])
    return A
def _conv_bn_relu(c_in: int, c_out: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())
class LMACDecoder(nn.Module):
    """The L-MAC decoder: the classifier's tapped maps → ``n_masks`` sigmoid masks ``(B, n_masks, F, T)``.

    Deepest map first: a 1×1 projection to ``width`` channels, a 3×3 convolution + batch norm + ReLU;
    then for each shallower map, bilinear upsampling to its ``(F_i, T_i)``, the sum with its own
    projection (the skip), and a 3×3 convolution + batch norm + ReLU. One more ×2 bilinear upsampling
    with a 3×3 convolution to ``head_width`` channels (+ batch norm + ReLU) and a 3×3 convolution give
    the masks' logits at twice the shallowest map's resolution; they are then resized to
    ``(n_freq, n_frames)`` (time: linear; frequency: each STFT bin read at its ``freq_positions``
    along the maps' frequency axis) and squashed by a sigmoid. Generic over tap shapes, as
    :class:`~l2i_core.models.interpreter.PsiDecoder`.

    Only the logits of the masks asked for are resized to full resolution (``forward(maps, target)``),
    which keeps a many-class decoder as cheap to train as a one-mask decoder.

    Parameters
    ----------
    tap_channels : sequence of int
        Channels C_i of the tapped maps, low to high (the order of :class:`~l2i_core.models.classifier.FeatureTap`).
    n_freq, n_frames : int
        The mask's shape, that of V.
    n_masks : int
        1 (multi-class: the mask explains f's top class) or the number of classes (multi-label).
    width, head_width : int
        Channels of the fusion layers and of the last upsampling stage.
    freq_positions : array [shape=(n_freq,)] or None
        Position in [0, 1] of every bin along the maps' frequency axis (:func:`freq_positions` for
        the log-mel of a preset); None: uniform, ``(k + 0.5) / n_freq``.

    Examples
    --------
    >>> dec = LMACDecoder([64, 128, 256], 513, 216)
    >>> maps = [torch.randn(2, 64, 16, 54), torch.randn(2, 128, 8, 27), torch.randn(2, 256, 4, 13)]
    >>> dec(maps).shape
    torch.Size([2, 1, 513, 216])
    """

    def __init__(self, tap_channels: Sequence[int], n_freq: int, n_frames: int, *, n_masks: int = 1, width: int = 64,
                 head_width: int = 16, freq_positions=None):
        super().__init__()
        if not tap_channels or min(n_freq, n_frames, n_masks, width, head_width) < 1:
            raise ParameterError("LMACDecoder needs tap channels and n_freq, n_frames, n_masks, widths >= 1")
        self.tap_channels = [int(c) for c in tap_channels]
        self.n_freq, self.n_frames, self.n_masks = int(n_freq), int(n_frames), int(n_masks)
        self.width, self.head_width = int(width), int(head_width)
        pos = (torch.arange(self.n_freq, dtype=torch.float32) + 0.5) / self.n_freq if freq_positions is None else \
            torch.as_tensor(np.asarray(freq_positions, dtype=np.float32))
        if pos.shape != (self.n_freq,) or not bool(((pos >= 0) & (pos <= 1)).all()):
            raise ParameterError(f"freq_positions must be {self.n_freq} values in [0, 1], got shape {tuple(pos.shape)}")
        self.register_buffer("freq_positions", pos)
        self.proj = nn.ModuleList(nn.Sequential(nn.Conv2d(c, self.width, 1, bias=False), nn.BatchNorm2d(self.width))
                                  for c in self.tap_channels)
        self.fuse = nn.ModuleList(_conv_bn_relu(self.width, self.width, 3) for _ in self.tap_channels)
        self.up = _conv_bn_relu(self.width, self.head_width, 3)
        self.out = nn.Conv2d(self.head_width, self.n_masks, 3, padding=1)

    def coarse_logits(self, maps: Sequence[torch.Tensor]) -> torch.Tensor:
        """The masks' logits before the resize, ``(B, n_masks, 2 F_0, 2 T_0)`` (F_0, T_0: the shallowest map's)."""
        if len(maps) != len(self.proj):
            raise ParameterError(f"LMACDecoder expects {len(self.proj)} maps, got {len(maps)}")
        h = None
        for i in reversed(range(len(maps))):  # deepest first
            skip = self.proj[i](maps[i])
            if h is not None:
                skip = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False) + skip
            h = self.fuse[i](skip)
        h = F.interpolate(h, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.out(self.up(h))

    def resize(self, logits: torch.Tensor) -> torch.Tensor:
        """Coarse logits ``(B, k, R, T')`` → ``(B, k, n_freq, n_frames)`` (linear in time, ``freq_positions`` in frequency)."""
        h = F.interpolate(logits, size=(logits.shape[-2], self.n_frames), mode="bilinear", align_corners=False)
        A = _resize_matrix(self.freq_positions, h.shape[-2]).to(h.dtype)
        return torch.einsum("fr,bcrt->bcft", A, h)

    def forward(self, maps: Sequence[torch.Tensor], target: torch.Tensor | None = None) -> torch.Tensor:
        """Sigmoid masks in float32: all of them ``(B, n_masks, n_freq, n_frames)``, or with ``target``
        (``(B,)`` class indices; ignored when ``n_masks`` is 1) the target's mask of each clip ``(B, 1, n_freq, n_frames)``."""
        z = self.coarse_logits(maps)
        if target is not None and self.n_masks > 1:
            t = torch.as_tensor(target, dtype=torch.long, device=z.device).reshape(-1, 1, 1, 1)
            z = z.gather(1, t.expand(-1, 1, *z.shape[-2:]))
        return torch.sigmoid(self.resize(z).float())

    def config(self) -> dict:
        """What is needed to rebuild this module (stored beside checkpoints)."""
        return {"tap_channels": self.tap_channels, "n_freq": self.n_freq, "n_frames": self.n_frames,
                "n_masks": self.n_masks, "width": self.width, "head_width": self.head_width}
def select_masks(masks: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The target's channel of ``masks (B, n_masks, F, T)`` (the only one when n_masks = 1) → ``(B, F, T)``."""
    if masks.shape[1] == 1:
        return masks[:, 0]
    return masks[torch.arange(len(target), device=masks.device), target.to(masks.device)]
@torch.no_grad()
def lmac_masks(decoder: LMACDecoder, maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """All masks ``(B, n_masks, F, T)`` of tapped maps, in eval mode (the decoder's mode is restored)."""
    was = decoder.training
    decoder.eval()
    try:
        dev = module_device(decoder)
        return decoder([m.to(dev).float() for m in maps])
    finally:
        decoder.train(was)
