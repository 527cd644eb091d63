"""Listenable interpretations: what the classifier relied on, as sound.

For clip x and class c (paper, §3.3; DESIGN §1 item 4):

1. the frozen classifier f gives its logits and its hidden maps; Ψ turns the maps into the NMF
   activations H (K × T) and Θ pools them into z (K,) — with Θ's *own* pooling (attention or max),
   not always max pooling as the official FF code did;
2. relevance ``r_k = z_k θ_{c,k} / max_l (z_l θ_{c,l})`` (normalised by the signed maximum, so the
   most relevant component has r = 1; when no component contributes positively all r are ≤ 0 and
   nothing is selected);
3. the components with ``r_k > τ`` are kept (at most ``top_k`` of them when given; the official code
   keeps at most 5);
4. soft mask per component ``M_k = w_k h_kᵀ / (W H + ε)``; interpretation spectrogram
   ``Σ_{k kept} M_k ⊙ V`` with ``V = log1p|STFT(x)|``; audio ``iSTFT(expm1(·) · e^{i∠X})`` with the
   input's own phase. Each kept component and the residual ``(1 − Σ M_k) ⊙ V`` are audible the same way.

:class:`L2IExplainer` holds f, the interpreter and the front end and works in batches on CPU or CUDA
(captum-style ``attribute(inputs, target=...)``); :func:`interpret` is the one-call form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from l2i_core import metrics
from l2i_core._errors import ParameterError
from l2i_core._utils import INFERENCE_BATCH_SIZE, batch_starts, check_class_target, module_device, probabilities
from l2i_core.audio.frontend import FrontEnd
from l2i_core.audio.masks import component_masks, mask_to_audio
from l2i_core.audio.waveform import as_waveform_batch
from l2i_core.config import Preset, get_preset
from l2i_core.explain.interface import AudioModel, Explainer, spectrogram_logits
from l2i_core.models.checkpoints import load_classifier, load_interpreter
from l2i_core.models.classifier import FeatureTap

__all__ = ["Analysis", "Interpretation", "L2IExplainer", "interpret", "relevance", "select_components", "default_tau"]


def default_tau(multilabel: bool) -> float:
    """The paper's relevance threshold: 0.2 for multi-class (ESC) data, 0.3 for multi-label (SONYC-UST)."""
    return 0.3 if multilabel else 0.2


def relevance(z: torch.Tensor, theta_weight: torch.Tensor, target) -> torch.Tensor:
    """Relevance of every component for class ``target`` of each clip.

    Parameters
    ----------
    z : torch.Tensor [shape=(B, K)]
        Θ's pooled activations.
    theta_weight : torch.Tensor [shape=(C, K)]
        Θ's bias-free linear layer.
    target : int or sequence of int (length B)

    Returns
    -------
    torch.Tensor [shape=(B, K)]
        ``z_k θ_{c,k} / max_l z_l θ_{c,l}``. A row whose largest contribution is ≤ 0 is divided by
        its largest magnitude instead, so all its values are in [-1, 0] and none is selected.
    """
    z = torch.as_tensor(z)
    if z.ndim != 2:
        raise ParameterError(f"z must have shape (batch, K), got {tuple(z.shape)}")
    t = torch.as_tensor(target, dtype=torch.long, device=z.device).reshape(-1)
    if t.numel() == 1 and z.shape[0] > 1:
        t = t.expand(z.shape[0])
    if t.numel() != z.shape[0]:
        raise ParameterError(f"{t.numel()} targets for {z.shape[0]} clips")
    for v in t.tolist():
        check_class_target(v, theta_weight.shape[0])
    contrib = z * theta_weight.to(z)[t]  # (B, K)
    top = contrib.amax(dim=1, keepdim=True)
    # no positive contribution (all contributions <= 0): scale by the largest magnitude instead, so
    # every r is in [-1, 0] and nothing passes a threshold tau >= 0
    scale = torch.where(top > 0, top, contrib.abs().amax(dim=1, keepdim=True) + 1e-12)
    return contrib / scale


def select_components(r: torch.Tensor, tau: float, top_k: int | None = None) -> list[np.ndarray]:
    """Indices with ``r > tau`` per clip, most relevant first, at most ``top_k`` of them.

    ``tau=-inf`` keeps every component (negative relevance is unbounded below)."""
    if np.isnan(float(tau)) or float(tau) >= 1.0:
        raise ParameterError(f"tau must be below 1 (relevance is normalised to a maximum of 1), got {tau}")
    if top_k is not None and int(top_k) < 1:
        raise ParameterError(f"top_k must be >= 1 or None, got {top_k}")
    out = []
    for row in r.detach().cpu():
        order = torch.argsort(row, descending=True, stable=True)
        keep = order[row[order] > tau]
        if top_k is not None:
            keep = keep[: int(top_k)]
        out.append(keep.numpy())
    return out


@dataclass
class Analysis:
    """Everything f, Ψ and Θ say about a batch of clips (all tensors on the explainer's device).

    Attributes
    ----------
    x : (B, n_samples) waveforms; V, phase : (B, F, T) log1p magnitude and phase;
    f_logits, theta_logits : (B, C); H : (B, K, T); z : (B, K) Θ's pooled activations.
    """

    x: torch.Tensor
    V: torch.Tensor
    phase: torch.Tensor
    f_logits: torch.Tensor
    H: torch.Tensor
    theta_logits: torch.Tensor
    z: torch.Tensor


@dataclass
class Interpretation:
    """The interpretation of one class for one clip.

    Attributes
    ----------
    clip : int
        Index of the clip in the batch given to :meth:`L2IExplainer.attribute`.
    target : int
        Class interpreted; ``class_name`` its name when the explainer knows the classes.
    relevance : np.ndarray [shape=(K,)]
    components : np.ndarray
        Kept component indices, most relevant first.
    H : np.ndarray [shape=(K, T)]
    V, phase : np.ndarray [shape=(F, T)]
    masks : np.ndarray [shape=(n_kept, F, T)]
        Soft mask of each kept component.
    mask : np.ndarray [shape=(F, T)]
        Their sum (in [0, 1]): the time-frequency share of the interpretation.
    spectrogram : np.ndarray [shape=(F, T)]
        ``mask ⊙ V`` (log1p magnitude).
    audio, residual_audio : np.ndarray [shape=(n_samples,)] or None
    component_audio : np.ndarray [shape=(n_kept, n_samples)] or None
    f_probability, theta_probability : float
        f's and Θ's probability of the target class.
    """

    clip: int
    target: int
    class_name: str | None
    tau: float
    relevance: np.ndarray
    components: np.ndarray
    H: np.ndarray
    V: np.ndarray
    phase: np.ndarray
    masks: np.ndarray
    mask: np.ndarray
    spectrogram: np.ndarray
    sr: int
    f_probability: float
    theta_probability: float
    audio: np.ndarray | None = None
    residual_audio: np.ndarray | None = None
    component_audio: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @property
    def sparsity(self) -> float:
        """Mean of the soft mask: the share of the time-frequency plane the interpretation keeps."""
        return float(self.mask.mean())

    def __repr__(self) -> str:
        name = self.class_name if self.class_name is not None else self.target
        return (f"Interpretation(clip={self.clip}, class={name!r}, tau={self.tau}, components={self.components.tolist()}, "
                f"f_p={self.f_probability:.3f}, theta_p={self.theta_probability:.3f}, mask_mean={self.sparsity:.3f})")


class L2IExplainer:
    """Interpret a frozen classifier with a trained L2I interpreter.

    Parameters
    ----------
    classifier : nn.Module
        f; its weights are not touched (eval mode, no gradients).
    interpreter : L2IInterpreter
    preset : str or Preset
        Front end of f's input and of V (must be the one the interpreter was trained with).
    layer_names : sequence of str or None
        f's tapped layers; default ``classifier.tap_layers``.
    input_fn : callable or None
        Waveforms → f's input; default the preset's log-mel.
    multilabel : bool or None
        Default ``classifier.multilabel``.
    f_thresholds : sequence of float or None
        Per-class decision thresholds of a multi-label f (which classes it predicts); default 0.5.
    classes : sequence of str or None
    device : str or None
    batch_size : int
        Clips per forward pass (default :data:`~l2i_core._utils.INFERENCE_BATCH_SIZE`); f is in eval
        mode, so it changes the time, not the results.

    Examples
    --------
    >>> explainer = L2IExplainer.from_artifacts("artifacts/esc10-cpu")       # doctest: +SKIP
    >>> interp = explainer.attribute(x)[0]                                   # doctest: +SKIP
    >>> Audio(interp.audio, rate=explainer.sr)                               # doctest: +SKIP
    """

    def __init__(self, classifier: nn.Module, interpreter: nn.Module, preset: str | Preset = "cpu", *,
                 layer_names: Sequence[str] | None = None, input_fn=None, multilabel: bool | None = None,
                 f_thresholds=None, classes: Sequence[str] | None = None, device: str | None = None,
                 batch_size: int = INFERENCE_BATCH_SIZE, eps: float = 1e-8):
        self.preset = get_preset(preset)
        self.device = module_device(interpreter, device)
        names = list(layer_names) if layer_names is not None else list(getattr(classifier, "tap_layers", []))
        if not names:
            raise ParameterError("give layer_names: the classifier has no tap_layers attribute")
        self.classifier = classifier.to(self.device).eval()
        self.interpreter = interpreter.to(self.device).eval()
        self.tap = FeatureTap(self.classifier, names)
        self.fe = FrontEnd(self.preset).to(self.device)
        self.input_fn = input_fn or self.fe.logmel
        self.multilabel = bool(getattr(classifier, "multilabel", False) if multilabel is None else multilabel)
        C = int(interpreter.n_classes)
        th = np.full(C, 0.5) if f_thresholds is None else np.asarray(f_thresholds, dtype=np.float64)
        if th.shape != (C,):
            raise ParameterError(f"f_thresholds must have one value per class ({C}), got shape {th.shape}")
        self.f_thresholds = th
        if classes is not None and len(classes) != C:
            raise ParameterError(f"{len(classes)} class names for an interpreter of {C} classes")
        self.classes = list(classes) if classes is not None else None
        self.batch_size = int(batch_size)
        self.eps = float(eps)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_artifacts(cls, artifacts_dir: str | Path, pooling: str = "attention", *, device: str | None = None,
                       **kwargs) -> L2IExplainer:
        """The classifier (notebook 02) and interpreter (notebook 03) saved in ``artifacts_dir``."""
        d = Path(artifacts_dir)
        if not (d / f"interpreter_{pooling}.pt").is_file():
            raise ParameterError(f"{d}: no interpreter_{pooling}.pt; run notebook 03 with pooling={pooling!r} first")
        clf, meta = load_classifier(d / "classifier.pt", device=device)
        interp, imeta = load_interpreter(d / f"interpreter_{pooling}.pt", device=device)
        kwargs.setdefault("f_thresholds", meta.get("thresholds"))
        kwargs.setdefault("classes", meta.get("classes"))
        kwargs.setdefault("multilabel", meta.get("multilabel"))
        ex = cls(clf, interp, meta["preset"], device=device, **kwargs)
        ex.meta = {"classifier": meta, "interpreter": imeta}
        return ex

    @property
    def sr(self) -> int:
        return self.preset.sr

    @property
    def W(self) -> torch.Tensor:
        return self.interpreter.W

    @property
    def n_components(self) -> int:
        return int(self.W.shape[1])

    # -- f and Θ -----------------------------------------------------------------------------
    def _waveforms(self, x) -> torch.Tensor:
        return as_waveform_batch(x).to(self.device)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Sigmoid (multi-label) or softmax (multi-class)."""
        return probabilities(logits, self.multilabel)

    @torch.no_grad()
    def predict(self, x) -> torch.Tensor:
        """f's logits of waveforms, in batches."""
        x = self._waveforms(x)
        return torch.cat([self.classifier(self.input_fn(x[s : s + self.batch_size]))
                          for s in batch_starts(len(x), self.batch_size)])

    @torch.no_grad()
    def predict_spectrogram(self, V: torch.Tensor, phase: torch.Tensor | None = None, *,
                            length: int | None = None) -> torch.Tensor:
        """f's logits of log-magnitude spectrograms ``(B, F, T)`` (see :func:`spectrogram_logits`)."""
        if phase is None and self.input_fn != self.fe.logmel:
            raise ParameterError("a custom input_fn needs audio: pass the phase")
        return spectrogram_logits(self.classifier, self.fe, V, phase, length=length, batch_size=self.batch_size,
                                  device=self.device, input_fn=self.input_fn)

    @torch.no_grad()
    def analyse(self, x) -> Analysis:
        """Run f, Ψ and Θ on waveforms ``(B, n_samples)`` (or one waveform)."""
        x = self._waveforms(x)
        parts = []
        for s in batch_starts(len(x), self.batch_size):
            xb = x[s : s + self.batch_size]
            f_logits, maps = self.tap(self.input_fn(xb))
            V, phase = self.fe.magnitude_phase(xb)
            if V.shape[-1] != self.interpreter.n_frames:
                seconds = (self.interpreter.n_frames - 1) * self.preset.hop_length / self.sr
                raise ParameterError(
                    f"clips give {V.shape[-1]} frames but the interpreter was trained on {self.interpreter.n_frames} "
                    f"(about {seconds:.2f} s at {self.sr} Hz); pad or crop with l2i_core.audio.waveform.fix_duration")
            theta_logits, H = self.interpreter([m.float() for m in maps])
            z = self.interpreter.pooled(H)
            parts.append((xb, V, phase, f_logits.float(), H, theta_logits, z))
        cat = [torch.cat(p) for p in zip(*parts)]
        return Analysis(*cat)

    def relevance(self, z: torch.Tensor, target) -> torch.Tensor:
        """``(B, K)`` relevance of each component for ``target`` (see :func:`relevance`)."""
        return relevance(z, self.interpreter.theta.fc.weight.detach(), target)

    def targets(self, analysis: Analysis, target=None) -> list[tuple[int, int]]:
        """``(clip, class)`` pairs to interpret.

        ``target=None``: f's top class (multi-class) or every class f predicts with its thresholds
        (multi-label, ``sigmoid(f) > thresholds`` strictly as the official code; a clip where f predicts
        nothing gets no interpretation). An int applies to all
        clips; a sequence gives one class per clip.
        """
        B = len(analysis.x)
        if target is None:
            if not self.multilabel:
                return [(i, int(c)) for i, c in enumerate(analysis.f_logits.argmax(1).tolist())]
            decisions = metrics.classifier_decisions(analysis.f_logits.float().cpu().numpy(), self.f_thresholds)
            return [(i, int(c)) for i in range(B) for c in np.flatnonzero(decisions[i])]
        t = np.asarray(target).reshape(-1)
        if t.size == 1:
            t = np.repeat(t, B)
        if t.size != B:
            raise ParameterError(f"{t.size} targets for {B} clips; give one class per clip, one for all, or None")
        return [(i, check_class_target(c, self.interpreter.n_classes)) for i, c in enumerate(t.tolist())]

    # -- interpretations ---------------------------------------------------------------------
    @torch.no_grad()
    def attribute(self, x, target=None, *, tau: float | None = None, top_k: int | None = None,
                  with_audio: bool = True, analysis: Analysis | None = None) -> list[Interpretation]:
        """Interpretations of waveforms ``x`` for ``target`` (see :meth:`targets`).

        Parameters
        ----------
        x : array or tensor [shape=(B, n_samples) or (n_samples,)]
            Float samples in [-1, 1] at the preset's rate; int16 / int32 PCM is scaled to [-1, 1] as a
            file would be, other integer types are refused (:func:`l2i_core.audio.waveform.as_float_samples`).
        target : None, int or sequence of int
        tau : float or None
            Relevance threshold; default 0.2 (multi-class) or 0.3 (multi-label), the paper's.
        top_k : int or None
            Keep at most this many components (the official code: 5). None keeps all with r > τ.
        with_audio : bool
            Also synthesise the interpretation, each kept component and the residual.
        analysis : Analysis or None
            Reuse a previous :meth:`analyse` of the same ``x``.

        Returns
        -------
        list of Interpretation
            In clip order (multi-label: possibly several per clip, or none).
        """
        tau = default_tau(self.multilabel) if tau is None else float(tau)
        a = analysis if analysis is not None else self.analyse(x)
        pairs = self.targets(a, target)
        if not pairs:
            return []
        clips = torch.as_tensor([i for i, _ in pairs], device=self.device)
        classes = [c for _, c in pairs]
        r = self.relevance(a.z[clips], classes)
        kept = select_components(r, tau, top_k)
        f_p = self.probabilities(a.f_logits[clips])
        t_p = self.probabilities(a.theta_logits[clips])
        return [self.build(a, i, c, comps, relevance=r[j], tau=tau, f_probability=float(f_p[j, c]),
                           theta_probability=float(t_p[j, c]), with_audio=with_audio)
                for j, ((i, c), comps) in enumerate(zip(pairs, kept))]

    @torch.no_grad()
    def build(self, analysis: Analysis, index: int, target: int, components, *, clip: int | None = None,
              tau: float = float("nan"), relevance: torch.Tensor | None = None, f_probability: float | None = None,
              theta_probability: float | None = None, with_audio: bool = True) -> Interpretation:
        """The interpretation of class ``target`` for clip ``index`` of ``analysis``, made of exactly
        ``components`` (kept in the given order): masks, spectrogram and, with ``with_audio``, the
        audio of the interpretation, the residual and each component.

        :meth:`attribute` calls it with the components it selected; the listening lab calls it with
        the components switched on. ``relevance`` and the probabilities are computed when not given;
        ``clip`` (default ``index``) and ``tau`` are only recorded.
        """
        a, i, c = analysis, int(index), int(target)
        comps = np.asarray(components, dtype=np.int64)
        if relevance is None:
            relevance = self.relevance(a.z[i : i + 1], [c])[0]
        if f_probability is None:
            f_probability = float(self.probabilities(a.f_logits[i : i + 1])[0, c])
        if theta_probability is None:
            theta_probability = float(self.probabilities(a.theta_logits[i : i + 1])[0, c])
        H, V, ph = a.H[i], a.V[i], a.phase[i]
        masks = component_masks(self.W, H, comps, eps=self.eps)
        mask = masks.sum(0) if len(comps) else torch.zeros_like(V)
        spec = mask * V
        interp = Interpretation(
            clip=i if clip is None else int(clip), target=c, class_name=self.classes[c] if self.classes else None,
            tau=float(tau), relevance=relevance.cpu().numpy(), components=comps, H=H.cpu().numpy(),
            V=V.cpu().numpy(), phase=ph.cpu().numpy(), masks=masks.cpu().numpy(), mask=mask.cpu().numpy(),
            spectrogram=spec.cpu().numpy(), sr=self.sr, f_probability=float(f_probability),
            theta_probability=float(theta_probability))
        if with_audio:
            parts = torch.cat([mask[None], (1 - mask)[None], masks])  # interpretation, residual, components
            audio = mask_to_audio(parts, V, ph, self.fe, length=a.x.shape[-1]).cpu().numpy()
            interp.audio, interp.residual_audio, interp.component_audio = audio[0], audio[1], audio[2:]
        return interp

    def __call__(self, x, target=None, **kwargs) -> list[Interpretation]:
        return self.attribute(x, target, **kwargs)




def interpret(interpreter: nn.Module, x, target=None, tau: float | None = None, top_k: int | None = None, *,
              classifier: nn.Module, preset: str | Preset = "cpu", **kwargs) -> list[Interpretation]:
    """One-call interpretation: ``L2IExplainer(classifier, interpreter, preset, **kwargs).attribute(...)``.

    Parameters
    ----------
    interpreter : L2IInterpreter
    x : waveforms [shape=(B, n_samples) or (n_samples,)] at the preset's rate, of the training length
        (float in [-1, 1], or int16 / int32 PCM, scaled as a file would be)
    target : None, int or sequence of int
        None: f's prediction (multi-class) or every class f predicts (multi-label).
    tau, top_k : see :meth:`L2IExplainer.attribute`
    classifier : nn.Module
        The frozen classifier f that ``interpreter`` was trained on.
    preset : str or Preset
    **kwargs
        More :class:`L2IExplainer` options (``f_thresholds``, ``classes``, ``device``, ...).
    """
    with_audio = kwargs.pop("with_audio", True)
    ex = L2IExplainer(classifier, interpreter, preset, **kwargs)
    return ex.attribute(x, target, tau=tau, top_k=top_k, with_audio=with_audio)
class L2IMask(Explainer):
    """L2I (either Θ head) through the common interface: the mask of the components with r > τ.

    Parameters
    ----------
    l2i : L2IExplainer
    tau : float or None
        Relevance threshold (default the paper's: 0.2 multi-class, 0.3 multi-label).
    top_k : int or None
        Keep at most this many components.
    name : str or None
        Default ``"L2I (<head>)"``.
    """

    def __init__(self, l2i: L2IExplainer, *, tau: float | None = None, top_k: int | None = None,
                 name: str | None = None, model: AudioModel | None = None):
        head = getattr(l2i.interpreter, "pooling", "attention")
        super().__init__(model or AudioModel.of(l2i), name or f"L2I ({'max-pool' if head == 'max' else head})")
        self.l2i = l2i
        self.tau = default_tau(l2i.multilabel) if tau is None else float(tau)
        self.top_k = top_k

    def masks(self, x, target, V, f_logits, *, stems=None):
        its = self.l2i.attribute(x, target.tolist(), tau=self.tau, top_k=self.top_k, with_audio=False)
        mask = torch.from_numpy(np.stack([it.mask for it in its])).clamp(0, 1)
        extras = {"components": [it.components for it in its], "relevance": np.stack([it.relevance for it in its]),
                  "theta_probability": np.array([it.theta_probability for it in its]), "tau": self.tau}
        return mask, extras
