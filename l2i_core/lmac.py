"""L-MAC, Listenable Maps for Audio Classifiers (Paissan, Ravanelli, Subakan, ICML 2024), for any tapped classifier.

The method as SpeechBrain's ``recipes/ESC50/interpret/train_lmac.py``, ``hparams/lmac_cnn14.yaml``
and ``speechbrain/lobes/models/L2I.py`` (``CNN14PSI_stft``) define it; the code here is our own.

* A decoder (:class:`LMACDecoder`) reads the frozen classifier's tapped maps, deepest first, and
  upsamples them with a skip sum wherever a shallower map joins; it outputs a sigmoid mask
  M ∈ (0, 1)^{F×T} on ``V = log1p|STFT(x)|`` (``n_masks`` of them for multi-label data).
* Mask-in features are the classifier's own front end applied to ``expm1(M ⊙ V)``, mask-out the same
  with ``1 − M`` (:func:`masked_logits`): in the graph, without an iSTFT round trip, as L2IExplainer's
  ``predict_spectrogram`` computes f's log-mel of a magnitude.
* The loss (:func:`lmac_loss`), with ŷ = f's own prediction:
  ``λ_in · CE(f(mask-in), ŷ) − λ_out · CE(f(mask-out), ŷ) + λ_l1 · mean|M| + λ_tv · TV(M)``,
  defaults 4, 0.2, 0.4, 0 (:class:`LMACWeights`, SpeechBrain's); Adam, lr 2e-4, weight decay 2e-6;
  f frozen; the checkpoint of the lowest validation loss is kept (SpeechBrain's ``min_key="loss"``).
* Multi-label data (no published L-MAC handles it; this extension is ours): one mask per class; the
  explained class of a clip is drawn among f's thresholded decisions, and the class's logit is
  scored by binary cross-entropy against 1 (f's decision) for mask-in, subtracted for mask-out.

Two choices of ours, where SpeechBrain's code has none to copy:

* Our classifier's frequency axis is mel, V's is linear. The decoder's last upsampling puts every
  STFT bin at its position along the classifier's frequency axis (:func:`freq_positions`: the mel
  scale of the preset's filterbank), so a mask row lands on the frequencies its map row saw;
  ``CNN14PSI_stft`` stretches the mel axis uniformly with transposed convolutions.
* SpeechBrain's L1 term is ``(|M|.mean() * λ_l1 * ones(B)).sum()``, i.e. ``B · λ_l1 · mean|M|``: its
  effective weight grows with the batch size (6.4 at its batch of 16). :class:`LMACWeights` follows
  that code by default (``l1_batch_sum=True``, with SpeechBrain's batch of 16, validation batched
  the same way); ``l1_batch_sum=False`` is ``λ_l1 · mean|M|`` as the formula reads. Measured on esc10
  (cpu preset, 40 epochs, seed 0): the code's weighting gives masks of mean 0.14 and Fid-In 0.94 on
  the test fold (0.86-0.94 on validation over the epochs); the formula's gives masks of mean 0.45
  and Fid-In 0.93-0.98 on validation, its masks keeping almost half of the time-frequency plane.

Training runs through :class:`~l2i_core.engine.Engine` (resumable ``lmac_last.pt``, tqdm, CPU or
CUDA, bfloat16 autocast where native) on an :class:`~l2i_core.cache.ActivationCache`; only the two
masked passes through f run per step. :func:`save_lmac` / :func:`load_lmac` keep the decoder as
``lmac.pt`` + ``lmac.json``; :func:`lmac_attribute` explains waveforms.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import librosa
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._errors import ParameterError
from ._utils import INFERENCE_BATCH_SIZE, batch_starts, check_class_target, module_device, resolve_device
from ._version import __version__
from .audio import FrontEnd, as_waveform_batch
from .checkpoints import _read, _write
from .classifier import FeatureTap
from .config import Preset, get_preset
from .distributed import barrier, rank_seed
from .engine import Engine, autocast_context, seeded_generator
from .metrics import classifier_decisions

__all__ = ["LMACDecoder", "LMACWeights", "LMACConfig", "LMACResult", "SELECTION_METRIC", "freq_positions",
           "total_variation", "lmac_loss", "masked_logits", "lmac_targets", "train_lmac", "lmac_masks",
           "lmac_attribute", "save_lmac", "load_lmac"]

#: What :func:`train_lmac` selects the checkpoint by, on the validation cache (recorded in the sidecar).
SELECTION_METRIC = "minus the validation L-MAC loss"


def freq_positions(preset: str | Preset) -> np.ndarray:
    """Where every STFT bin lies along the preset's log-mel frequency axis, in [0, 1].

    The convention is that of a map with ``R`` rows pooled uniformly from the mel bands: row ``r`` is
    centred at ``(r + 0.5) / R``, so mel band ``j`` of ``n_mels`` is centred at ``(j + 0.5) / n_mels``.
    A bin at ``f`` Hz sits at fractional band ``(n_mels + 1) · u(f) − 1`` with ``u`` the mel scale of
    librosa's filterbank (Slaney) normalised to [fmin, fmax]; values are clipped to [0, 1].

    Returns
    -------
    np.ndarray [shape=(n_freq,), dtype=float32]
    """
    p = get_preset(preset)
    fmax = p.fmax if p.fmax is not None else p.sr / 2
    lo, hi = librosa.hz_to_mel(p.fmin), librosa.hz_to_mel(fmax)
    u = (librosa.hz_to_mel(librosa.fft_frequencies(sr=p.sr, n_fft=p.n_fft)) - lo) / (hi - lo)
    band = (p.n_mels + 1) * u - 1  # band j's centre is at mel point j + 1 of n_mels + 2
    return np.clip((band + 0.5) / p.n_mels, 0.0, 1.0).astype(np.float32)


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
    :class:`~l2i_core.interpreter.PsiDecoder`.

    Only the logits of the masks asked for are resized to full resolution (``forward(maps, target)``),
    which keeps a many-class decoder as cheap to train as a one-mask decoder.

    Parameters
    ----------
    tap_channels : sequence of int
        Channels C_i of the tapped maps, low to high (the order of :class:`~l2i_core.classifier.FeatureTap`).
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


# -- the loss ---------------------------------------------------------------------------------------
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


def masked_logits(classifier: nn.Module, front_end: FrontEnd, V: torch.Tensor, M: torch.Tensor, *,
                  phase: torch.Tensor | None = None, length: int | None = None, amp: bool = False,
                  batch_size: int | None = None) -> torch.Tensor:
    """f's logits of the log-mel of ``expm1(M ⊙ V)``: differentiable in ``M``, no iSTFT where f reads V's STFT.

    The features are those of :meth:`L2IExplainer.predict_spectrogram <l2i_core.explain.L2IExplainer.predict_spectrogram>`
    without phase: ``power_to_db(mel_power_from_magnitude(expm1(M ⊙ V)))``, in float32; f runs under
    :func:`~l2i_core.engine.autocast_context` when ``amp``. Where f has its own STFT (the ``aisfx``
    preset) the masked magnitude is made audio with the input ``phase`` inside the graph and
    re-analysed (:meth:`FrontEnd.features_from_magnitude <l2i_core.audio.FrontEnd.features_from_magnitude>`).

    Parameters
    ----------
    classifier : nn.Module
        f, on log-mel input ``(B, n_mels, T)``.
    front_end : FrontEnd
    V : torch.Tensor [shape=(B, F, T)]
        ``log1p|STFT(x)|``.
    M : torch.Tensor [shape=(B, F, T)]
        The mask (``1 − M`` for mask-out).
    batch_size : int or None
        Rows per pass through the front end and ``classifier`` (None: all at once). With f in eval
        mode each row's logits, and the gradient that flows back through them, are its own, so this
        changes the time (small passes stay in cache), not the result.

    Returns
    -------
    torch.Tensor [shape=(B, C)], float32
    """
    if M.shape != V.shape:
        raise ParameterError(f"mask {tuple(M.shape)} and V {tuple(V.shape)} must have the same shape (B, F, T)")
    b = len(V) if batch_size is None else max(1, int(batch_size))
    out = []
    # split, not slices: its backward is one concatenation, where each slice's would write a full-size zero gradient
    for i, (m, v) in enumerate(zip(M.split(b), V.split(b))):
        ph = None if phase is None else phase[i * b : (i + 1) * b]
        feats = front_end.features_from_magnitude(torch.expm1(m.float() * v).clamp_min(0), ph, length=length)
        with autocast_context(V.device, amp):
            out.append(classifier(feats).float())
    return torch.cat(out)


def lmac_targets(f_logits: torch.Tensor, *, multilabel: bool, f_thresholds=None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """The class each clip's mask explains: f's top class (multi-class), or one class drawn uniformly
    with ``generator`` among f's decisions (multi-label, :func:`~l2i_core.metrics.classifier_decisions`;
    f's top class for a clip with none). Returns a CPU long tensor ``(B,)``."""
    logits = f_logits.detach().float().cpu()
    top = logits.argmax(1)
    if not multilabel:
        return top
    w = torch.from_numpy(classifier_decisions(logits.numpy(), f_thresholds)).float()
    none = w.sum(1) == 0
    w[none] = F.one_hot(top[none], w.shape[1]).float()
    return torch.multinomial(w, 1, generator=generator).squeeze(1)


def _select(masks: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The target's channel of ``masks (B, n_masks, F, T)`` (the only one when n_masks = 1) → ``(B, F, T)``."""
    if masks.shape[1] == 1:
        return masks[:, 0]
    return masks[torch.arange(len(target), device=masks.device), target.to(masks.device)]


@contextlib.contextmanager
def _frozen(module: nn.Module):
    """``module`` in eval mode without gradients for its parameters; both restored on exit."""
    was_training = module.training
    flags = [q.requires_grad for q in module.parameters()]
    module.eval()
    module.requires_grad_(False)
    try:
        yield module
    finally:
        for q, f in zip(module.parameters(), flags):
            q.requires_grad_(f)
        module.train(was_training)


# -- training ---------------------------------------------------------------------------------------
@dataclass
class LMACConfig:
    """Hyper-parameters of :func:`train_lmac` (SpeechBrain's optimiser, batch and loss weights).

    ``epochs=40``: about 5 minutes on esc10 with the cpu preset on an idle 2-core CPU (7-8 s per
    epoch over 240 training clips, validation included, bfloat16 autocast); the validation loss
    still falls slowly at epoch 40, Fid-In on validation has levelled off by epoch 5.
    """

    epochs: int = 40
    lr: float = 2e-4
    weight_decay: float = 2e-6
    batch_size: int = 16
    width: int = 64
    head_width: int = 16
    weights: LMACWeights = field(default_factory=LMACWeights)
    seed: int = 0
    device: str | None = None
    amp: bool = True  # bfloat16 autocast of the decoder and f where native (the log-mel stays float32)
    progress: bool = True

    def __post_init__(self):
        if isinstance(self.weights, dict):  # as read back from a sidecar's "config"
            self.weights = LMACWeights(**self.weights)
        if self.epochs < 1 or self.batch_size < 2 or self.lr <= 0 or self.weight_decay < 0:
            raise ParameterError("LMACConfig: epochs >= 1, batch_size >= 2, lr > 0 and weight_decay >= 0 are needed")


@dataclass
class LMACResult:
    """What :func:`train_lmac` returns; ``decoder`` holds the selected weights, in eval mode."""

    decoder: LMACDecoder
    history: list[dict]
    best_epoch: int
    best_score: float
    selection_metric: str  # SELECTION_METRIC
    seconds: float
    meta: dict = field(default_factory=dict)  # the sidecar written beside the checkpoint


def _masked_pair(classifier, fe, V, M, amp: bool, phase=None, length=None) -> tuple[torch.Tensor, torch.Tensor]:
    """f's logits of mask-in and mask-out: the two batches stacked, f run on them
    :data:`~l2i_core._utils.INFERENCE_BATCH_SIZE` rows at a time (f is frozen, in eval mode)."""
    ph = None if phase is None else torch.cat([phase, phase])
    logits = masked_logits(classifier, fe, torch.cat([V, V]), torch.cat([M, 1 - M]), phase=ph, length=length, amp=amp,
                           batch_size=INFERENCE_BATCH_SIZE)
    return logits[: len(V)], logits[len(V):]


def _kept(logits: torch.Tensor, target: torch.Tensor, multilabel: bool, th) -> np.ndarray:
    """Per clip: does f, on the masked input, still give the explained class (top class / decision)?"""
    if multilabel:
        d = classifier_decisions(logits.float().cpu().numpy(), th)
        return d[np.arange(len(target)), target.cpu().numpy()].astype(bool)
    return (logits.argmax(1).cpu() == target.cpu()).numpy()


@torch.no_grad()
def _validate(decoder, classifier, fe, cache, targets, *, multilabel, f_thresholds, weights, amp, dev,
              batch_size: int, gather=None) -> tuple[float, dict]:
    was = decoder.training
    decoder.eval()
    names: list[str] = []

    def rows(idx: torch.Tensor) -> torch.Tensor:
        """Per clip: its batch's loss terms, and whether f keeps the class on mask-in / mask-out."""
        maps, _, V = cache.batch(idx, device=dev)
        ph = cache.phase_batch(idx, device=dev)
        with autocast_context(dev, amp):
            M = decoder(maps, targets[idx])[:, 0]
        l_in, l_out = _masked_pair(classifier, fe, V, M, amp, ph, cache.length)
        loss, logs = lmac_loss(l_in, l_out, M, targets[idx].to(dev), multilabel=multilabel, weights=weights)
        terms = {"loss": loss.item(), **logs}
        names[:] = list(terms)
        per = torch.tensor([list(terms.values())], dtype=torch.float64).expand(len(idx), -1)
        kept = torch.from_numpy(np.stack([_kept(l_in, targets[idx], multilabel, f_thresholds),
                                          _kept(l_out, targets[idx], multilabel, f_thresholds)], 1)).double()
        return torch.cat([per, kept], 1)

    if gather is not None:  # under DDP: each rank its shard, every rank all rows
        out = gather(rows, len(cache), batch_size)
    else:
        out = torch.cat([rows(torch.arange(s, min(s + batch_size, len(cache))))
                         for s in batch_starts(len(cache), batch_size)])
    decoder.train(was)
    if not names:  # this rank had no clip: the names are the loss's, in order
        names[:] = ["loss", "in", "out", "l1", "tv"]
    cols = {f"val_{k}": float(out[:, i].mean()) for i, k in enumerate(names)}
    cols["val_mask_mean"] = cols.pop("val_l1")
    cols["val_fid_in"] = float(out[:, -2].mean())
    cols["val_out_keeps"] = float(out[:, -1].mean())
    return -cols["val_loss"], cols


def train_lmac(train_cache, val_cache, classifier: nn.Module, preset: str | Preset, *, multilabel: bool,
               f_thresholds=None, config: LMACConfig | None = None, out_dir: str | Path | None = None,
               resume: bool = False, meta: dict | None = None) -> LMACResult:
    """Train an L-MAC decoder for the frozen ``classifier`` on cached activations; select on validation.

    Each step reads ``(maps, f_logits, V)`` of a batch from ``train_cache``, decodes the masks, picks
    the explained class (:func:`lmac_targets`; the engine's generator draws the multi-label class),
    runs f on mask-in and mask-out (:func:`masked_logits`) and minimises :func:`lmac_loss`. f is put
    in eval mode with ``requires_grad=False`` for the run, and restored afterwards.

    Selection (:data:`SELECTION_METRIC`): the epoch of the lowest loss on ``val_cache``, as
    SpeechBrain's ``min_key="loss"``; the validation classes are drawn once (seed ``config.seed``).
    History columns: ``train_loss``, ``train_in``, ``train_out``, ``train_l1``, ``train_tv``,
    ``val_loss``, ``val_in``, ``val_out``, ``val_tv``, ``val_mask_mean`` (mean of M),
    ``val_fid_in`` (share of clips where f(mask-in) keeps the explained class: f's top class, or its
    decision for a multi-label class), ``val_out_keeps`` (the same for mask-out; lower is better).

    Parameters
    ----------
    train_cache, val_cache : ActivationCache
        Of ``classifier`` with the preset's front end (:func:`~l2i_core.cache.build_cache`).
    classifier : nn.Module
        f, on the preset's log-mel.
    preset : str or Preset
    multilabel : bool
        One mask per class and the binary loss; else one mask for f's top class.
    f_thresholds : sequence of float or None
        f's decision thresholds (multi-label); default 0.5.
    config : LMACConfig or None
    out_dir : path or None
        Receives ``lmac.pt`` + ``lmac.json`` (:func:`save_lmac`) and the resume state ``lmac_last.pt``.
    resume : bool
        Continue from ``out_dir/lmac_last.pt`` when it exists.
    meta : dict or None
        Extra sidecar entries (dataset, classes).

    Returns
    -------
    LMACResult
    """
    cfg = config or LMACConfig()
    p = get_preset(preset)
    dev = resolve_device(cfg.device)
    if len(train_cache) < 2 or len(val_cache) == 0:
        raise ParameterError("train_lmac needs at least 2 training clips and 1 validation clip")
    g = seeded_generator(rank_seed(cfg.seed))  # the run seed on rank 0 (and in one process)
    n_freq, n_frames = int(train_cache.V.shape[1]), int(train_cache.V.shape[2])
    n_masks = int(train_cache.logits.shape[1]) if multilabel else 1
    decoder = LMACDecoder(train_cache.tap_channels, n_freq, n_frames, n_masks=n_masks, width=cfg.width,
                          head_width=cfg.head_width, freq_positions=freq_positions(p)).to(dev)
    fe = FrontEnd(p).to(dev)
    opt = torch.optim.Adam(decoder.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    out_dir = Path(out_dir) if out_dir is not None else None
    engine = Engine(decoder, opt, g, epochs=cfg.epochs, batch_size=cfg.batch_size, device=dev,
                    last_path=out_dir / "lmac_last.pt" if out_dir else None, resume=resume, progress=cfg.progress,
                    desc="L-MAC", score_name="val_minus_loss", seed=cfg.seed)
    val_targets = lmac_targets(val_cache.logits, multilabel=multilabel, f_thresholds=f_thresholds,
                               generator=torch.Generator().manual_seed(cfg.seed))

    def train_step(idx: torch.Tensor, epoch: int):
        maps, f_logits, V = train_cache.batch(idx, device=dev)
        target = lmac_targets(f_logits, multilabel=multilabel, f_thresholds=f_thresholds, generator=g)
        with autocast_context(dev, cfg.amp):
            M = engine.train_module(maps, target)[:, 0]  # DDP under torchrun (f is frozen, never wrapped)
        l_in, l_out = _masked_pair(classifier, fe, V, M, cfg.amp, train_cache.phase_batch(idx, device=dev),
                                   train_cache.length)
        return lmac_loss(l_in, l_out, M, target.to(dev), multilabel=multilabel, weights=cfg.weights)

    def validate(module: nn.Module):
        return _validate(module, classifier, fe, val_cache, val_targets, multilabel=multilabel,
                         f_thresholds=f_thresholds, weights=cfg.weights, amp=cfg.amp, dev=dev,
                         batch_size=cfg.batch_size, gather=engine.gather)  # batched as in training: L1 may scale with it

    t0 = time.perf_counter()
    with _frozen(classifier.to(dev)):
        loop = engine.fit(len(train_cache), train_step, validate)
    side = {**(meta or {}), "method": "L-MAC", "preset": p.name, "multilabel": bool(multilabel),
            "config": dataclasses.asdict(cfg), "best_epoch": loop.best_epoch, "selection_metric": SELECTION_METRIC,
            "best_score": loop.best_score, "history": loop.history, "train_seconds": time.perf_counter() - t0,
            "f_thresholds": list(map(float, f_thresholds)) if f_thresholds is not None else None,
            "l2i_version": __version__, "world_size": loop.world_size, "global_batch_size": loop.global_batch_size,
            **decoder.config()}
    if out_dir is not None and engine.is_main:
        save_lmac(decoder, out_dir, meta=side)
    barrier()
    return LMACResult(decoder=decoder, history=loop.history, best_epoch=loop.best_epoch, best_score=loop.best_score,
                      selection_metric=SELECTION_METRIC, seconds=side["train_seconds"], meta=side)


# -- checkpoints ------------------------------------------------------------------------------------
def save_lmac(decoder: LMACDecoder, out_dir: str | Path, *, meta: dict) -> Path:
    """Write ``lmac.pt`` (state dict) and ``lmac.json`` (``meta`` + :meth:`LMACDecoder.config`) in ``out_dir``."""
    return _write(decoder, Path(out_dir) / "lmac.pt", {**meta, **decoder.config()})


def load_lmac(path: str | Path, *, device: str | torch.device | None = "cpu") -> tuple[LMACDecoder, dict]:
    """Rebuild a decoder saved by :func:`save_lmac` (``weights_only=True``), in eval mode.

    Parameters
    ----------
    path : path
        ``lmac.pt`` or the folder holding it.

    Returns
    -------
    decoder : LMACDecoder
    meta : dict
    """
    path = Path(path)
    if path.is_dir():
        path = path / "lmac.pt"
    state, meta = _read(path, "L-MAC", "08")
    dec = LMACDecoder(meta["tap_channels"], meta["n_freq"], meta["n_frames"], n_masks=meta["n_masks"],
                      width=meta["width"], head_width=meta["head_width"])
    dec.load_state_dict(state)
    return dec.to(device or "cpu").eval(), meta


# -- explaining -------------------------------------------------------------------------------------
def _explained(f_logits: torch.Tensor, target, n_masks: int) -> torch.Tensor:
    """The class each clip's mask is taken for (see :func:`lmac_attribute`)."""
    top = f_logits.argmax(1).cpu()
    if target is None:
        return top
    t = torch.as_tensor(np.asarray(target, dtype=np.int64).reshape(-1))
    t = t.expand(len(top)).clone() if t.numel() == 1 else t
    if t.numel() != len(top):
        raise ParameterError(f"{t.numel()} targets for {len(top)} clips; give one class per clip, one for all, or None")
    for c in t.tolist():
        check_class_target(c, f_logits.shape[1])
    if n_masks == 1 and not bool((t == top).all()):
        raise ParameterError("a single-mask L-MAC explains f's top class only: pass target=None "
                             "(or the top class), or train one mask per class")
    return t


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


@torch.no_grad()
def lmac_attribute(decoder: LMACDecoder, classifier: nn.Module, x, preset: str | Preset, *, target=None,
                   batch_size: int = INFERENCE_BATCH_SIZE, device=None, layer_names: Sequence[str] | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """L-MAC masks of waveforms: f's maps (:class:`~l2i_core.classifier.FeatureTap`) → the decoder.

    Parameters
    ----------
    decoder : LMACDecoder
    classifier : nn.Module
        The f the decoder was trained on (left in eval mode).
    x : array or tensor [shape=(B, n_samples) or (n_samples,)]
        Waveforms at the preset's rate, of the training length.
    preset : str or Preset
    target : None, int or sequence of int
        None: f's top class. With one mask (multi-class) only f's top class can be explained (another
        target raises); with one mask per class, an int applies to all clips, a sequence gives one
        class per clip.
    batch_size : int
        Clips per forward pass (default :data:`~l2i_core._utils.INFERENCE_BATCH_SIZE`); f is in eval
        mode, so it changes the time, not the results.
    device : str or None
        Default: the decoder's.
    layer_names : sequence of str or None
        Default ``classifier.tap_layers``.

    Returns
    -------
    mask : torch.Tensor [shape=(B, F, T)]
        The mask of the explained class, on the linear STFT magnitude's grid (CPU).
    f_logits : torch.Tensor [shape=(B, C)]
        f's logits of ``x`` (CPU).
    """
    p = get_preset(preset)
    dev = module_device(decoder, device)
    names = list(layer_names) if layer_names is not None else list(getattr(classifier, "tap_layers", []))
    if not names:
        raise ParameterError("give layer_names: the classifier has no tap_layers attribute")
    x = as_waveform_batch(x)
    decoder.to(dev)
    tap = FeatureTap(classifier.to(dev).eval(), names)
    fe = FrontEnd(p).to(dev)
    frames = 1 + x.shape[-1] // p.hop_length  # centred STFT frames
    if frames != decoder.n_frames:
        raise ParameterError(f"clips give {frames} frames but the decoder was trained on {decoder.n_frames}; "
                             "pad or crop them with l2i_core.audio.fix_duration")
    masks, logits = [], []
    for s in batch_starts(len(x), batch_size):
        f_logits, maps = tap(fe.logmel(x[s : s + batch_size].to(dev)))
        masks.append(lmac_masks(decoder, maps).cpu())
        logits.append(f_logits.float().cpu())
    all_masks, f_logits = torch.cat(masks), torch.cat(logits)
    return _select(all_masks, _explained(f_logits, target, decoder.n_masks)), f_logits
