"""The classifier to be interpreted, with named taps on three hidden layers, and FeatureTap.

L2I interprets a *frozen* classifier f through three of its hidden feature maps. No pretrained
weights of the paper's backbone (Kumar et al., 2018, trained on AudioSet) can be obtained here, so
l2i trains its own VGG-style CNN on log-mel input (:mod:`l2i_core.train.recipes`), in two sizes:

========  ===============================  ==============================  =============
preset    blocks (channels)                taps low / mid / high           parameters
========  ===============================  ==============================  =============
``cpu``   32, 64, 128, 256                 blocks 2, 3, 4 (64/128/256 ch)  about 1.2 M
``paper`` 16, 32, 64, 128, 256, 512 + 1024 blocks 4, 5, 6 (128/256/512 ch)  about 5.3 M
========  ===============================  ==============================  =============

The ``paper`` layout follows Kumar et al.'s network (pairs of 3×3 convolutions, batch norm, ReLU,
2×2 pooling, widths doubling from 16 to 512, then a 1024-channel layer), whose 128-, 256- and
512-channel blocks are the paper's taps.

Any ``nn.Module`` can be interpreted instead: :class:`FeatureTap` takes the named layers of a
user's model through forward hooks and returns ``(logits, [maps])`` exactly like ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from l2i_core._errors import ParameterError
from l2i_core._utils import probabilities
from l2i_core.config import Preset, get_preset

__all__ = ["ArchConfig", "ARCHITECTURES", "AudioCNN", "FeatureTap", "count_parameters"]


@dataclass(frozen=True)
class ArchConfig:
    """Layout of :class:`AudioCNN`: block widths, which blocks are tapped, an optional wide layer."""

    channels: tuple[int, ...]
    taps: tuple[int, int, int]  # 1-based block indices for low, mid, high
    wide: int | None = None  # a 1x1 convolution of this width after the last block (Kumar's F1)
    dropout: float = 0.3


ARCHITECTURES: dict[str, ArchConfig] = {
    "cpu": ArchConfig(channels=(32, 64, 128, 256), taps=(2, 3, 4)),
    # Half the widths (a quarter of the operations): the cpu recipe for 10 s multi-label scenes,
    # which need twice the epochs of 5 s clips; see training.default_train_config.
    "cpu-small": ArchConfig(channels=(16, 32, 64, 128), taps=(2, 3, 4)),
    "paper": ArchConfig(channels=(16, 32, 64, 128, 256, 512), taps=(4, 5, 6), wide=1024),
}


class ConvBlock(nn.Module):
    """Two 3×3 convolutions with batch norm and ReLU, then 2×2 pooling (pool=False: none).

    ``pool_type``: ``'avg'`` (our CNNs) or ``'max'`` (the aiSFX backbone, :mod:`l2i_core.models.pretrained`).
    """

    def __init__(self, c_in: int, c_out: int, *, pool: bool = True, pool_type: str = "avg"):
        super().__init__()
        if pool_type not in ("avg", "max"):
            raise ParameterError(f"pool_type must be 'avg' or 'max', got {pool_type!r}")
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.pool = pool
        self.pool_fn = F.avg_pool2d if pool_type == "avg" else F.max_pool2d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        if self.pool and x.shape[-1] >= 2 and x.shape[-2] >= 2:
            x = self.pool_fn(x, 2)
        return x


class AudioCNN(nn.Module):
    """VGG-style CNN on log-mel spectrograms with three named taps.

    Parameters
    ----------
    n_classes : int
    preset : str or Preset
        Sets the number of mel bands and the default architecture (``ARCHITECTURES[preset.name]``).
    multilabel : bool
        Sigmoid outputs (multi-label) instead of softmax; the model returns logits either way.
    arch : ArchConfig or None
        Override the architecture.

    Notes
    -----
    Input: log-mel in dB, ``(batch, n_mels, n_frames)`` (or with a channel axis of 1). A batch norm
    over mel bands normalises it. Output: logits ``(batch, n_classes)``. The head averages over
    frequency, then adds mean and max over time (as in PANNs), dropout, and a linear layer.

    Attributes
    ----------
    tap_layers : tuple of str
        Names of the tapped submodules, low to high: pass them to :class:`FeatureTap`.
    """

    tap_names = ("low", "mid", "high")

    def __init__(self, n_classes: int, preset: str | Preset = "cpu", *, multilabel: bool = False,
                 arch: ArchConfig | None = None):
        super().__init__()
        if n_classes < 1:
            raise ParameterError(f"n_classes must be >= 1, got {n_classes}")
        p = get_preset(preset)
        self.preset = p
        self.arch = arch or ARCHITECTURES.get(p.name) or ARCHITECTURES["cpu"]
        self.n_classes = int(n_classes)
        self.multilabel = bool(multilabel)
        if len(set(self.arch.taps)) != 3 or not all(1 <= t <= len(self.arch.channels) for t in self.arch.taps):
            raise ParameterError(f"taps {self.arch.taps} must be 3 distinct block indices in 1..{len(self.arch.channels)}")
        self.bn0 = nn.BatchNorm2d(p.n_mels)
        blocks, c_in = [], 1
        for c in self.arch.channels:
            blocks.append(ConvBlock(c_in, c))
            c_in = c
        self.blocks = nn.ModuleList(blocks)
        if self.arch.wide:
            self.wide = nn.Sequential(nn.Conv2d(c_in, self.arch.wide, 1, bias=False), nn.BatchNorm2d(self.arch.wide),
                                      nn.ReLU())
            c_in = self.arch.wide
        else:
            self.wide = nn.Identity()
        self.dropout = nn.Dropout(self.arch.dropout)
        self.fc = nn.Linear(c_in, self.n_classes)
        self.tap_layers = tuple(f"blocks.{t - 1}" for t in self.arch.taps)
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, n_classes)`` of log-mel input ``(batch, n_mels, n_frames)``."""
        return self.forward_features(x)[0]

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(logits, [low, mid, high])``: logits and the three tapped maps ``(B, C_i, F_i, T_i)``."""
        if x.ndim == 3:
            x = x.unsqueeze(1)
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != self.preset.n_mels:
            raise ParameterError(
                f"expected log-mel input (batch, {self.preset.n_mels}, n_frames), got {tuple(x.shape)}"
            )
        x = self.bn0(x.transpose(1, 2)).transpose(1, 2)
        x = x.contiguous(memory_format=torch.channels_last)  # faster convolutions on CPU (oneDNN)
        taps, tap_idx = [], {t - 1 for t in self.arch.taps}
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in tap_idx:
                taps.append(x)
        x = self.wide(x)
        x = x.mean(dim=2)  # over frequency -> (B, C, T)
        x = x.mean(dim=2) + x.amax(dim=2)
        return self.fc(self.dropout(x)), taps

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Sigmoid (multi-label) or softmax (multi-class) of the logits."""
        return probabilities(logits, self.multilabel)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class FeatureTap(nn.Module):
    """Take named hidden layers of *any* model: ``FeatureTap(model, names)(x) -> (logits, [maps])``.

    Forward hooks are registered for one forward pass and removed in a ``finally:`` block (the
    captum pattern), so the wrapped model is left untouched even when the pass raises.

    Parameters
    ----------
    model : nn.Module
        Any classifier returning logits (a tensor, or a tuple/dict whose first item is the logits).
    layer_names : sequence of str
        Names as in ``model.named_modules()`` (e.g. ``"features.3"``), in the order wanted.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    >>> logits, maps = FeatureTap(net, ["0", "1"])(torch.randn(2, 1, 8, 8))
    >>> logits.shape, [m.shape for m in maps]
    (torch.Size([2, 2]), [torch.Size([2, 4, 6, 6]), torch.Size([2, 4, 6, 6])])
    """

    def __init__(self, model: nn.Module, layer_names: Sequence[str]):
        super().__init__()
        self.model = model
        self.layer_names = list(layer_names)
        modules = dict(model.named_modules())
        missing = [n for n in self.layer_names if n not in modules]
        if missing:
            some = [n for n in modules if n][:12]
            raise ParameterError(f"model has no layer(s) {missing}; some of its layers: {some}")
        if not self.layer_names:
            raise ParameterError("give at least one layer name to tap")

    def forward(self, x, *args, **kwargs) -> tuple[torch.Tensor, list[torch.Tensor]]:
        store: dict[str, torch.Tensor] = {}
        modules = dict(self.model.named_modules())
        handles = []

        def hook_for(name):
            def hook(_module, _inp, out):
                store[name] = out[0] if isinstance(out, (tuple, list)) else out

            return hook

        try:
            for n in self.layer_names:
                handles.append(modules[n].register_forward_hook(hook_for(n)))
            out = self.model(x, *args, **kwargs)
        finally:
            for h in handles:
                h.remove()
        if isinstance(out, dict):
            out = next(iter(out.values()))
        if isinstance(out, (tuple, list)):
            out = out[0]
        not_run = [n for n in self.layer_names if n not in store]
        if not_run:
            raise ParameterError(f"layer(s) {not_run} did not run in the forward pass")
        return out, [store[n] for n in self.layer_names]
