"""One interface for every listenable explanation: L2I, L-MAC, the gradient methods, random, the oracle.

Every explainer here answers the same call, captum-style::

    explanation = explainer.attribute(x, target=None)

and returns an :class:`Explanation`: for each input clip, one soft time-frequency mask ``M`` in
[0, 1] on the (linear-frequency) STFT grid of f's front end, the convention L2I and L-MAC share
(DESIGN §1 item 4): the explained magnitude is ``expm1(M ⊙ V)`` with ``V = log1p|STFT(x)|``, and
the explanation is heard as ``iSTFT(expm1(M ⊙ V) · e^{i∠X})`` with the input's own phase. Every
metric and protocol of :mod:`l2i_core.compare` takes any of them.

=======================  ===========================================================================
explainer                the mask ``M`` of clip x for class c
=======================  ===========================================================================
:class:`L2IMask`         the sum of the soft masks of the NMF components with relevance > τ (either
                         Θ head; :class:`~l2i_core.explain.L2IExplainer`); extras: components, relevance
:class:`LMACMask`        L-MAC's decoder output (:mod:`l2i_core.lmac`); multi-class: it explains f's
                         own top class whatever the target (as the method is defined)
:class:`GradientMask`    captum Saliency / Integrated Gradients / SmoothGrad of f's logit c on the
                         log-mel input, projected onto the STFT grid, divided by its maximum per clip
:class:`RandomMask`      i.i.d. uniform values (seeded): what a mask that knows nothing scores
:class:`OracleIRM`       the ideal ratio mask ``|S|/(|S|+|N|)`` of the true stem S (mixtures with
                         known stems only), written in the same log1p convention, so that
                         ``expm1(M ⊙ V) = IRM · |X|`` exactly: the ceiling of the ground-truth scores
=======================  ===========================================================================

``target=None`` explains f's top class of each clip (for a multi-label f too: its most probable
class); pass one class per clip to explain others (a multi-label protocol repeats a clip once
per class f predicts). :class:`AudioModel` is the classifier side every explainer and protocol
shares: f, its front end, its decision rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from l2i_core import metrics
from l2i_core._errors import ParameterError
from l2i_core._utils import INFERENCE_BATCH_SIZE, batch_starts, check_class_target, module_device, probabilities
from l2i_core.audio.frontend import FrontEnd
from l2i_core.audio.masks import mask_to_audio
from l2i_core.audio.waveform import as_waveform_batch
from l2i_core.config import Preset, get_preset

__all__ = ["Explanation", "AudioModel", "Explainer"]


@dataclass
class Explanation:
    """Listenable explanations of a batch of clips, one per row (all arrays numpy, float32).

    Attributes
    ----------
    method : str
        The explainer's display name.
    target : np.ndarray [shape=(B,), dtype=int64]
        Class explained in each row.
    mask : np.ndarray [shape=(B, n_freq, n_frames)]
        Soft mask in [0, 1] applied to ``V`` (log1p convention, see the module docstring).
    V, phase : np.ndarray [shape=(B, n_freq, n_frames)]
        ``log1p|STFT(x)|`` and ``∠STFT(x)`` of the inputs.
    f_logits : np.ndarray [shape=(B, n_classes)]
        f on the inputs.
    sr : int
    audio : np.ndarray [shape=(B, n_samples)] or None
        The explanation heard: ``iSTFT(expm1(M ⊙ V) e^{i∠X})``.
    extras : dict
        Method-specific: L2I's ``components`` (list of arrays) and ``relevance`` ``(B, K)``; L-MAC's
        ``explained_class``; the gradient methods' raw ``attribution`` on the mel grid.
    """

    method: str
    target: np.ndarray
    mask: np.ndarray
    V: np.ndarray
    phase: np.ndarray
    f_logits: np.ndarray
    sr: int
    audio: np.ndarray | None = None
    extras: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.target)

    @property
    def spectrogram(self) -> np.ndarray:
        """``M ⊙ V``: the explanation's log1p magnitude."""
        return self.mask * self.V

    @property
    def magnitude(self) -> np.ndarray:
        """``expm1(M ⊙ V)``: the explanation's linear magnitude."""
        return np.expm1(self.spectrogram)

    @property
    def sparsity(self) -> np.ndarray:
        """``(B,)`` mean of each mask: the share of the time-frequency plane kept."""
        return self.mask.mean(axis=(-2, -1))

    def __repr__(self) -> str:
        return (f"Explanation(method={self.method!r}, clips={len(self)}, mask_mean="
                f"{np.round(self.sparsity, 3).tolist()[:6]}{'...' if len(self) > 6 else ''})")


class AudioModel:
    """The classifier f seen by every explainer and protocol: its input, its front end, its decisions.

    Parameters
    ----------
    classifier : nn.Module
        Log-mel ``(B, n_mels, n_frames)`` → logits; kept in eval mode.
    preset : str or Preset
    multilabel : bool or None
        Default ``classifier.multilabel``.
    f_thresholds : sequence of float or None
        Per-class decision thresholds of a multi-label f (default 0.5).
    classes : sequence of str or None
    device : str or None
    batch_size : int
        Clips per forward pass (default :data:`~l2i_core._utils.INFERENCE_BATCH_SIZE`); f is in eval
        mode, so it changes the time, not the results.
    """

    def __init__(self, classifier: nn.Module, preset: str | Preset = "cpu", *, multilabel: bool | None = None,
                 f_thresholds=None, classes: Sequence[str] | None = None, device: str | None = None,
                 batch_size: int = INFERENCE_BATCH_SIZE):
        self.preset = get_preset(preset)
        self.device = module_device(classifier, device)
        self.classifier = classifier.to(self.device).eval()
        self.fe = FrontEnd(self.preset).to(self.device)
        self.multilabel = bool(getattr(classifier, "multilabel", False) if multilabel is None else multilabel)
        self.classes = list(classes) if classes is not None else None
        C = int(getattr(classifier, "n_classes", len(self.classes) if self.classes else 0))
        self.n_classes = C
        th = np.full(C, 0.5) if f_thresholds is None else np.asarray(f_thresholds, dtype=np.float64)
        if th.shape != (C,):
            raise ParameterError(f"f_thresholds must have one value per class ({C}), got shape {th.shape}")
        self.f_thresholds = th
        self.batch_size = int(batch_size)

    @classmethod
    def of(cls, l2i) -> AudioModel:
        """The classifier side of an :class:`~l2i_core.explain.l2i.L2IExplainer`."""
        return cls(l2i.classifier, l2i.preset, multilabel=l2i.multilabel, f_thresholds=l2i.f_thresholds,
                   classes=l2i.classes, device=str(l2i.device), batch_size=l2i.batch_size)

    @property
    def sr(self) -> int:
        return self.preset.sr

    def waveforms(self, x) -> torch.Tensor:
        return as_waveform_batch(x).to(self.device)

    def probabilities(self, logits) -> torch.Tensor:
        return probabilities(torch.as_tensor(logits), self.multilabel)

    @torch.no_grad()
    def logits(self, x) -> torch.Tensor:
        """f's logits of waveforms, in batches (on the model's device)."""
        x = self.waveforms(x)
        return torch.cat([self.classifier(self.fe.logmel(x[s : s + self.batch_size])).float()
                          for s in batch_starts(len(x), self.batch_size)])

    @torch.no_grad()
    def logits_of(self, V, phase=None, *, length: int | None = None) -> torch.Tensor:
        """f's logits of log1p magnitudes ``(B, F, T)``: through audio with ``phase`` (iSTFT, re-analysis),
        else from the magnitude directly (see :func:`l2i_core.explain.interface.spectrogram_logits`)."""
        V = torch.as_tensor(np.asarray(V) if not torch.is_tensor(V) else V)
        ph = None if phase is None else torch.as_tensor(np.asarray(phase) if not torch.is_tensor(phase) else phase)
        return spectrogram_logits(self.classifier, self.fe, V, ph, length=length, batch_size=self.batch_size,
                                  device=self.device)

    def decisions(self, logits) -> np.ndarray:
        """``(B, C)`` booleans: f's top class (multi-class) or its thresholded decisions (multi-label)."""
        lg = torch.as_tensor(logits).float().cpu().numpy()
        if self.multilabel:
            return metrics.classifier_decisions(lg, self.f_thresholds)
        out = np.zeros(lg.shape, dtype=bool)
        out[np.arange(len(lg)), lg.argmax(1)] = True
        return out

    def targets(self, logits, target=None) -> np.ndarray:
        """``(B,)`` classes to explain: f's top class for ``None``; an int for all; one per clip."""
        lg = torch.as_tensor(logits)
        if target is None:
            return lg.argmax(1).cpu().numpy().astype(np.int64)
        t = np.asarray(target.cpu() if torch.is_tensor(target) else target).reshape(-1)
        if t.size == 1:
            t = np.repeat(t, len(lg))
        if t.size != len(lg):
            raise ParameterError(f"{t.size} targets for {len(lg)} clips; give one class per clip, one for all, or None")
        return np.array([check_class_target(int(c), lg.shape[1]) for c in t], dtype=np.int64)


class Explainer:
    """Base class: subclasses implement :meth:`masks`; :meth:`attribute` does the rest.

    Attributes
    ----------
    name : str
        Display name (rows of the comparison tables).
    model : AudioModel
    needs_stems : bool
        Whether :meth:`attribute` needs the true stems (the oracle).
    """

    name = "explainer"
    needs_stems = False

    def __init__(self, model: AudioModel, name: str | None = None):
        self.model = model
        if name is not None:
            self.name = name

    def masks(self, x: torch.Tensor, target: np.ndarray, V: torch.Tensor, f_logits: torch.Tensor, *,
              stems=None) -> tuple[torch.Tensor, dict]:
        """``(B, F, T)`` masks in [0, 1] on ``V``'s grid, and the extras."""
        raise NotImplementedError

    def attribute(self, inputs, target=None, *, with_audio: bool = True, stems=None) -> Explanation:
        """Explanations of waveforms ``inputs`` for ``target`` (see :meth:`AudioModel.targets`).

        Parameters
        ----------
        inputs : array or tensor [shape=(B, n_samples) or (n_samples,)]
            Waveforms at the preset's rate, of f's training length.
        target : None, int or sequence of int
        with_audio : bool
            Also synthesise the explanation (input phase, iSTFT).
        stems : array [shape=(B, n_samples)] or None
            The true stem of the explained class in each input (the oracle needs it).
        """
        m = self.model
        x = m.waveforms(inputs)
        f_logits = m.logits(x)
        t = m.targets(f_logits, target)
        with torch.no_grad():
            V, phase = m.fe.magnitude_phase(x)
        if self.needs_stems and stems is None:
            raise ParameterError(f"{self.name} needs the true stems: pass stems=(B, n_samples) waveforms")
        mask, extras = self.masks(x, t, V, f_logits, stems=stems)
        mask = torch.as_tensor(mask, device=V.device).float()
        if mask.shape != V.shape or not torch.isfinite(mask).all() or mask.min() < 0 or mask.max() > 1:
            raise ParameterError(f"{self.name}: masks must be finite, in [0, 1] and of shape {tuple(V.shape)}")
        audio = None
        if with_audio:
            with torch.no_grad():
                audio = mask_to_audio(mask, V, phase, m.fe, length=x.shape[-1]).cpu().numpy()
        return Explanation(method=self.name, target=t, mask=mask.cpu().numpy(), V=V.cpu().numpy(),
                           phase=phase.cpu().numpy(), f_logits=f_logits.cpu().numpy(), sr=m.sr, audio=audio,
                           extras=extras)

    def __call__(self, inputs, target=None, **kwargs) -> Explanation:
        return self.attribute(inputs, target, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"












@torch.no_grad()
def spectrogram_logits(classifier: nn.Module, fe: FrontEnd, V: torch.Tensor, phase: torch.Tensor | None = None, *,
                       length: int | None = None, batch_size: int = INFERENCE_BATCH_SIZE, device=None, input_fn=None) -> torch.Tensor:
    """f's logits of log1p-magnitude spectrograms ``V`` ``(B, F, T)``, in batches.

    With ``phase`` the spectrogram is first made audio (input phase, iSTFT) and re-analysed by
    ``input_fn`` (default the log-mel), as a listener would hear it; without, the log-mel is computed
    from the magnitude ``expm1(V)`` directly (no round trip: faster, and what curves over many steps use).
    Where f has its own STFT (the ``aisfx`` preset) there is no direct path: pass the phase.
    """
    device = device if device is not None else fe.window.device
    input_fn = input_fn or fe.logmel
    out = []
    for s in batch_starts(len(V), batch_size):
        v = V[s : s + batch_size].to(device)
        if phase is not None:
            inp = input_fn(fe.synthesize(v, phase[s : s + batch_size].to(device), length=length))
        else:
            inp = fe.features_from_magnitude(torch.expm1(v).clamp_min(0))  # raises where f has its own STFT
        out.append(classifier(inp).float())
    return torch.cat(out)
