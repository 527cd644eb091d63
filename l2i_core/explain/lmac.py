"""L-MAC masks of waveforms (:func:`lmac_attribute`) and L-MAC through the one explainer contract (:class:`LMACMask`).

The rows explained follow the one rule of :func:`~l2i_core.explain.interface.explained_rows`. L-MAC adds
one restriction on top: a decoder with a single mask (multi-class) explains f's top class only.
:func:`lmac_attribute` refuses another target; :class:`LMACMask` returns that one mask whatever the
row's class (as the method is defined) and records the class it explains in ``extras['explained_class']``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from l2i_core._errors import ParameterError
from l2i_core._utils import INFERENCE_BATCH_SIZE, batch_starts, module_device
from l2i_core.audio.frontend import FrontEnd
from l2i_core.audio.waveform import as_waveform_batch
from l2i_core.config import Preset, get_preset
from l2i_core.explain.interface import AudioModel, Explainer, explained_rows
from l2i_core.models.checkpoints import load_lmac
from l2i_core.models.classifier import FeatureTap
from l2i_core.models.lmac import LMACDecoder, lmac_masks, select_masks

__all__ = ["LMACMask", "lmac_attribute"]


@torch.no_grad()
def _decoder_masks(decoder: LMACDecoder, classifier: nn.Module, x, preset: Preset, *, batch_size: int, device,
                   layer_names: Sequence[str] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Every mask ``(B, n_masks, F, T)`` of waveforms ``x`` and f's logits ``(B, C)`` (both on the CPU)."""
    dev = module_device(decoder, device)
    names = list(layer_names) if layer_names is not None else list(getattr(classifier, "tap_layers", []))
    if not names:
        raise ParameterError("give layer_names: the classifier has no tap_layers attribute")
    x = as_waveform_batch(x)
    decoder.to(dev)
    tap = FeatureTap(classifier.to(dev).eval(), names)
    fe = FrontEnd(preset).to(dev)
    frames = 1 + x.shape[-1] // preset.hop_length  # centred STFT frames
    if frames != decoder.n_frames:
        raise ParameterError(f"clips give {frames} frames but the decoder was trained on {decoder.n_frames}; "
                             "pad or crop them with l2i_core.audio.waveform.fix_duration")
    masks, logits = [], []
    for s in batch_starts(len(x), batch_size):
        f_logits, maps = tap(fe.logmel(x[s : s + batch_size].to(dev)))
        masks.append(lmac_masks(decoder, maps).cpu())
        logits.append(f_logits.float().cpu())
    return torch.cat(masks), torch.cat(logits)


@torch.no_grad()
def lmac_attribute(decoder: LMACDecoder, classifier: nn.Module, x, preset: str | Preset, *, target=None,
                   multilabel: bool | None = None, f_thresholds=None, batch_size: int = INFERENCE_BATCH_SIZE,
                   device=None, layer_names: Sequence[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """L-MAC masks of waveforms: f's maps (:class:`~l2i_core.models.classifier.FeatureTap`) → the decoder.

    Parameters
    ----------
    decoder : LMACDecoder
    classifier : nn.Module
        The f the decoder was trained on (left in eval mode).
    x : array or tensor [shape=(B, n_samples) or (n_samples,)]
        Waveforms at the preset's rate, of the training length.
    preset : str or Preset
    target : None, int or sequence of int
        The rows explained: :func:`~l2i_core.explain.interface.explained_rows` (None: f's top class, or
        every class a multi-label f predicts). With one mask (multi-class) only f's top class can be
        explained: another target raises.
    multilabel : bool or None
        Whether f is multi-label (its decisions pick the rows of ``target=None``); default
        ``classifier.multilabel``.
    f_thresholds : sequence of float or None
        A multi-label f's per-class decision thresholds (default 0.5).
    batch_size : int
        Clips per forward pass (default :data:`~l2i_core._utils.INFERENCE_BATCH_SIZE`); f is in eval
        mode, so it changes the time, not the results.
    device : str or None
        Default: the decoder's.
    layer_names : sequence of str or None
        Default ``classifier.tap_layers``.

    Returns
    -------
    mask : torch.Tensor [shape=(R, F, T)]
        The mask of each row's class, on the linear STFT magnitude's grid (CPU); one row per clip
        unless a multi-label f explains its predicted classes (the rows of ``explained_rows(f_logits,
        target, ...)``).
    f_logits : torch.Tensor [shape=(B, C)]
        f's logits of ``x`` (CPU).
    """
    p = get_preset(preset)
    every, f_logits = _decoder_masks(decoder, classifier, x, p, batch_size=batch_size, device=device,
                                     layer_names=layer_names)
    ml = bool(getattr(classifier, "multilabel", False)) if multilabel is None else bool(multilabel)
    clip, cls = explained_rows(f_logits, target, multilabel=ml, thresholds=f_thresholds)
    t = torch.as_tensor(cls)
    if decoder.n_masks == 1 and not bool((t == f_logits.argmax(1)[clip]).all()):
        raise ParameterError("a single-mask L-MAC explains f's top class only: pass target=None "
                             "(or the top class), or train one mask per class")
    one_per_clip = len(clip) == len(every) and np.array_equal(clip, np.arange(len(every)))
    return select_masks(every if one_per_clip else every[torch.as_tensor(clip)], t), f_logits


class LMACMask(Explainer):
    """L-MAC (Paissan et al., 2024) through the common interface.

    The rows are the common ones (:func:`~l2i_core.explain.interface.explained_rows`). A decoder with one
    mask per class gives each row its class's mask; a decoder with a single mask (multi-class) gives f's
    top class's mask whatever the row's class (as the method is defined): ``extras['explained_class']``
    says which class each mask explains.

    Parameters
    ----------
    decoder : l2i_core.models.lmac.LMACDecoder
        Trained on this classifier (:func:`l2i_core.train.lmac.train_lmac`).
    model : AudioModel
    name : str or None
        Default ``'L-MAC'``.
    """

    name = "L-MAC"

    def __init__(self, decoder: nn.Module, model: AudioModel, *, name: str | None = None):
        super().__init__(model, name)
        self.decoder = decoder.to(model.device).eval()

    @classmethod
    def from_artifacts(cls, artifacts_dir: str | Path, model: AudioModel) -> LMACMask:
        """The decoder saved as ``lmac.pt`` in ``artifacts_dir`` (see :func:`l2i_core.models.checkpoints.load_lmac`)."""
        decoder, meta = load_lmac(Path(artifacts_dir) / "lmac.pt", device=str(model.device))
        ex = cls(decoder, model)
        ex.meta = meta
        return ex

    def masks(self, x, target, V, f_logits, *, stems=None):
        """Each row's L-MAC mask (see the class docstring) and ``extras['explained_class']``."""
        every, _ = _decoder_masks(self.decoder, self.model.classifier, x, self.model.preset,
                                  batch_size=self.model.batch_size, device=str(self.model.device), layer_names=None)
        single = int(getattr(self.decoder, "n_masks", 1)) == 1  # multi-class: it explains f's top class only
        mask = every[:, 0] if single else select_masks(every, torch.as_tensor(np.asarray(target, dtype=np.int64)))
        explained = target if self.model.multilabel else f_logits.argmax(1).cpu().numpy()
        return mask, {"explained_class": np.asarray(explained)}
