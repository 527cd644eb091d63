"""L-MAC masks of waveforms (:func:`lmac_attribute`) and L-MAC through the one explainer contract (:class:`LMACMask`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from l2i_core._errors import ParameterError
from l2i_core._utils import (
    INFERENCE_BATCH_SIZE,
    batch_starts,
    check_class_target,
    module_device,
)
from l2i_core.audio.frontend import FrontEnd
from l2i_core.audio.waveform import as_waveform_batch
from l2i_core.config import Preset, get_preset
from l2i_core.explain.interface import AudioModel, Explainer
from l2i_core.models.checkpoints import load_lmac
from l2i_core.models.classifier import FeatureTap
from l2i_core.models.lmac import LMACDecoder, lmac_masks, select_masks

__all__ = ["LMACMask", "lmac_attribute"]


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
def lmac_attribute(decoder: LMACDecoder, classifier: nn.Module, x, preset: str | Preset, *, target=None,
                   batch_size: int = INFERENCE_BATCH_SIZE, device=None, layer_names: Sequence[str] | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
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
                             "pad or crop them with l2i_core.audio.waveform.fix_duration")
    masks, logits = [], []
    for s in batch_starts(len(x), batch_size):
        f_logits, maps = tap(fe.logmel(x[s : s + batch_size].to(dev)))
        masks.append(lmac_masks(decoder, maps).cpu())
        logits.append(f_logits.float().cpu())
    all_masks, f_logits = torch.cat(masks), torch.cat(logits)
    return select_masks(all_masks, _explained(f_logits, target, decoder.n_masks)), f_logits
class LMACMask(Explainer):
    """L-MAC (Paissan et al., 2024) through the common interface.

    Parameters
    ----------
    decoder : l2i_core.models.lmac.LMACDecoder
        Trained on this classifier (:func:`l2i_core.train.lmac.train_lmac`).
    model : AudioModel
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
        single = int(getattr(self.decoder, "n_masks", 1)) == 1  # multi-class: it explains f's top class only
        mask, _ = lmac_attribute(self.decoder, self.model.classifier, x, self.model.preset,
                                 target=None if single else target, batch_size=self.model.batch_size,
                                 device=str(self.model.device))
        explained = target if self.model.multilabel else f_logits.argmax(1).cpu().numpy()
        return mask, {"explained_class": np.asarray(explained)}
