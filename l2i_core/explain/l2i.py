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
4. soft mask per component ``M_k = w_k h_kᵀ / (W H + ε)``; the interpretation's mask ``M = Σ_{k kept} M_k``
   (in [0, 1]: a float rounding above 1 is clipped), its spectrogram ``M ⊙ V`` with
   ``V = log1p|STFT(x)|``, its audio ``iSTFT(expm1(M ⊙ V) · e^{i∠X})`` with the input's own phase.
   Each kept component and the residual ``(1 − M) ⊙ V`` are audible the same way.

:class:`L2IExplainer` is an :class:`~l2i_core.explain.interface.Explainer`: it holds f as an
:class:`~l2i_core.explain.interface.AudioModel`, the interpreter (Ψ and Θ) and works in batches on CPU
or CUDA; ``attribute(x, target)`` returns an :class:`~l2i_core.explain.interface.Explanation` with one
row per explained (clip, class) pair (the rows of :func:`~l2i_core.explain.interface.explained_rows`)
and L2I's own data in its extras. :func:`interpret` is the one-call form.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from l2i_core._errors import ParameterError
from l2i_core._utils import INFERENCE_BATCH_SIZE, batch_starts, module_device
from l2i_core.audio.masks import component_masks, mask_to_audio
from l2i_core.config import Preset
from l2i_core.explain.interface import AudioModel, Explainer, Explanation, clip_targets
from l2i_core.models.checkpoints import load_classifier, load_interpreter
from l2i_core.models.classifier import FeatureTap

__all__ = ["Analysis", "L2IExplainer", "interpret", "relevance", "select_components", "default_tau"]


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
        One class for every clip or one per clip (:func:`~l2i_core.explain.interface.clip_targets`).

    Returns
    -------
    torch.Tensor [shape=(B, K)]
        ``z_k θ_{c,k} / max_l z_l θ_{c,l}``. A row whose largest contribution is ≤ 0 is divided by
        its largest magnitude instead, so all its values are in [-1, 0] and none is selected.
    """
    z = torch.as_tensor(z)
    if z.ndim != 2:
        raise ParameterError(f"z must have shape (batch, K), got {tuple(z.shape)}")
    t = torch.as_tensor(clip_targets(target, z.shape[0], theta_weight.shape[0]), device=z.device)
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


class L2IExplainer(Explainer):
    """Interpret a frozen classifier with a trained L2I interpreter: an :class:`Explainer` like every other.

    Parameters
    ----------
    classifier : nn.Module or AudioModel
        f; its weights are not touched (eval mode, no gradients). An :class:`AudioModel` is used as it
        is (then give none of ``preset``, ``input_fn``, ``multilabel``, ``f_thresholds``, ``classes``,
        ``device``, ``batch_size``: they are the model's); a module is wrapped in one, built here once.
    interpreter : L2IInterpreter
        Ψ and Θ trained on f's maps.
    preset : str, Preset or None
        Front end of f's input and of V (must be the one the interpreter was trained with); default
        ``'cpu'`` (or the AudioModel's).
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
        Default: the interpreter's.
    batch_size : int
        Clips per forward pass (default :data:`~l2i_core._utils.INFERENCE_BATCH_SIZE`); f is in eval
        mode, so it changes the time, not the results.
    eps : float
        The ε of ``W H + ε`` in the soft masks.
    tau : float or None
        Default relevance threshold of :meth:`attribute`; None: the paper's (:func:`default_tau`: 0.2
        multi-class, 0.3 multi-label).
    top_k : int or None
        Default cap on the kept components; None keeps every one with ``r > τ``.
    detail : bool
        Default of :meth:`attribute`'s ``detail``: also keep each kept component's mask and, with the
        audio, each component's and the residual's audio.
    name : str or None
        Display name; default ``'L2I (attention)'`` or ``'L2I (max-pool)'`` after Θ's head.

    Attributes
    ----------
    model : AudioModel
        The classifier side, shared with the other explainers of a comparison.
    interpreter : nn.Module
    tap : FeatureTap
        f with hooks on its tapped layers.
    tau, top_k, detail
        The defaults above (per-call overrides in :meth:`attribute`).

    Examples
    --------
    >>> explainer = L2IExplainer.from_artifacts("artifacts/esc10-cpu")       # doctest: +SKIP
    >>> e = explainer.attribute(x)                                           # doctest: +SKIP
    >>> Audio(e.audio[0], rate=explainer.sr), e.extras["components"][0]      # doctest: +SKIP
    """

    def __init__(self, classifier: nn.Module | AudioModel, interpreter: nn.Module, preset: str | Preset | None = None,
                 *, layer_names: Sequence[str] | None = None, input_fn=None, multilabel: bool | None = None,
                 f_thresholds=None, classes: Sequence[str] | None = None, device: str | None = None,
                 batch_size: int = INFERENCE_BATCH_SIZE, eps: float = 1e-8, tau: float | None = None,
                 top_k: int | None = None, detail: bool = True, name: str | None = None):
        C = int(interpreter.n_classes)
        if isinstance(classifier, AudioModel):
            given = {"preset": preset, "input_fn": input_fn, "multilabel": multilabel, "f_thresholds": f_thresholds,
                     "classes": classes, "device": device}
            given = sorted(k for k, v in given.items() if v is not None)
            if batch_size != INFERENCE_BATCH_SIZE:
                given.append("batch_size")
            if given:
                raise ParameterError(f"{', '.join(given)}: these belong to the AudioModel given; set them there")
            model = classifier
            if model.n_classes != C:
                raise ParameterError(f"the classifier has {model.n_classes} classes but the interpreter {C}")
        else:
            dev = module_device(interpreter, device)
            if classes is not None and len(classes) != C:
                raise ParameterError(f"{len(classes)} class names for an interpreter of {C} classes")
            model = AudioModel(classifier, "cpu" if preset is None else preset, multilabel=multilabel,
                               f_thresholds=f_thresholds, classes=classes, device=str(dev), batch_size=batch_size,
                               input_fn=input_fn, n_classes=C)
        head = getattr(interpreter, "pooling", "attention")
        super().__init__(model, name or f"L2I ({'max-pool' if head == 'max' else head})")
        names = list(layer_names) if layer_names is not None else list(getattr(model.classifier, "tap_layers", []))
        if not names:
            raise ParameterError("give layer_names: the classifier has no tap_layers attribute")
        self.interpreter = interpreter.to(model.device).eval()
        self.tap = FeatureTap(model.classifier, names)
        self.eps = float(eps)
        self.tau = None if tau is None else float(tau)
        self.top_k = top_k
        self.detail = bool(detail)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_artifacts(cls, artifacts_dir: str | Path, pooling: str = "attention", *, device: str | None = None,
                       interpreter_dir: str | Path | None = None, **kwargs) -> L2IExplainer:
        """The classifier (notebook 02) and interpreter (notebook 03) saved in ``artifacts_dir``.

        Parameters
        ----------
        artifacts_dir : str or Path
            Holds ``classifier.pt`` and ``interpreter_<pooling>.pt`` with their sidecars.
        pooling : {'attention', 'max'}
            Θ's head.
        device : str or None
        interpreter_dir : str or Path or None
            Where ``interpreter_<pooling>.pt`` is, when not beside the classifier (another training seed:
            :func:`l2i_core.pipeline.steps.explainer_dir`).
        **kwargs
            More constructor options (``tau``, ``top_k``, ``batch_size``, ...); the sidecar's
            ``thresholds``, ``classes`` and ``multilabel`` unless given.
        """
        d = Path(artifacts_dir)
        e = Path(interpreter_dir) if interpreter_dir is not None else d
        if not (e / f"interpreter_{pooling}.pt").is_file():
            raise ParameterError(f"{e}: no interpreter_{pooling}.pt; run notebook 03 with pooling={pooling!r} first")
        clf, meta = load_classifier(d / "classifier.pt", device=device)
        interp, imeta = load_interpreter(e / f"interpreter_{pooling}.pt", device=device)
        kwargs.setdefault("f_thresholds", meta.get("thresholds"))
        kwargs.setdefault("classes", meta.get("classes"))
        kwargs.setdefault("multilabel", meta.get("multilabel"))
        ex = cls(clf, interp, meta["preset"], device=device, **kwargs)
        ex.meta = {"classifier": meta, "interpreter": imeta}
        return ex

    @property
    def W(self) -> torch.Tensor:
        """The NMF dictionary ``(F, K)`` the interpreter decodes into."""
        return self.interpreter.W

    @property
    def n_components(self) -> int:
        """K, the number of NMF components."""
        return int(self.W.shape[1])

    # -- f, Ψ and Θ ----------------------------------------------------------------------------
    @torch.no_grad()
    def analyse(self, x) -> Analysis:
        """Run f, Ψ and Θ on waveforms ``(B, n_samples)`` (or one waveform), in batches.

        Parameters
        ----------
        x : array or tensor [shape=(B, n_samples) or (n_samples,)]
            At the preset's rate, of the interpreter's training length.

        Returns
        -------
        Analysis
        """
        m = self.model
        x = m.waveforms(x)
        parts = []
        for s in batch_starts(len(x), m.batch_size):
            xb = x[s : s + m.batch_size]
            f_logits, maps = self.tap(m.input_fn(xb))
            V, phase = m.fe.magnitude_phase(xb)
            if V.shape[-1] != self.interpreter.n_frames:
                seconds = (self.interpreter.n_frames - 1) * m.preset.hop_length / m.sr
                raise ParameterError(
                    f"clips give {V.shape[-1]} frames but the interpreter was trained on {self.interpreter.n_frames} "
                    f"(about {seconds:.2f} s at {m.sr} Hz); pad or crop with l2i_core.audio.waveform.fix_duration")
            theta_logits, H = self.interpreter([t.float() for t in maps])
            z = self.interpreter.pooled(H)
            parts.append((xb, V, phase, f_logits.float(), H, theta_logits, z))
        cat = [torch.cat(p) for p in zip(*parts)]
        return Analysis(*cat)

    def relevance(self, z: torch.Tensor, target) -> torch.Tensor:
        """``(B, K)`` relevance of each component for ``target`` (see :func:`relevance`)."""
        return relevance(z, self.interpreter.theta.fc.weight.detach(), target)

    # -- interpretations ---------------------------------------------------------------------
    @torch.no_grad()
    def attribute(self, inputs=None, target=None, *, with_audio: bool = True, stems=None, tau: float | None = None,
                  top_k: int | None = None, analysis: Analysis | None = None, detail: bool | None = None) -> Explanation:
        """Interpretations of waveforms ``inputs``, one row per explained (clip, class) pair.

        Parameters
        ----------
        inputs : array or tensor [shape=(B, n_samples) or (n_samples,)] or None
            Float samples in [-1, 1] at the preset's rate; int16 / int32 PCM is scaled to [-1, 1] as a
            file would be, other integer types are refused (:func:`l2i_core.audio.waveform.as_float_samples`).
            May be None when ``analysis`` is given.
        target : None, int or sequence of int
            Which rows (:func:`~l2i_core.explain.interface.explained_rows`): None explains f's top class
            (multi-class) or every class f predicts with its thresholds (multi-label: several rows per
            clip, or none); an int that class in every clip; a sequence one class per clip.
        with_audio : bool
            Also synthesise the interpretation (and, with ``detail``, each kept component and the residual).
        stems : ignored
            The common signature's (only the oracle uses the stems).
        tau : float or None
            Relevance threshold; None: the explainer's :attr:`tau` (default the paper's, 0.2
            multi-class or 0.3 multi-label).
        top_k : int or None
            Keep at most this many components (the official code: 5); None: the explainer's
            :attr:`top_k` (default: every component with r > τ).
        analysis : Analysis or None
            Reuse a previous :meth:`analyse` of the same clips (its V and phase too). Without it, V and
            the phase are one STFT of all the inputs, as every explainer's; an analysis computes them
            in batches of ``model.batch_size``, which can differ in the sign of a zero imaginary part
            (the phase ±π of a real bin), so the audio can differ in its last bits.
        detail : bool or None
            Also keep each component's mask and audio and the residual's audio; None: :attr:`detail`.

        Returns
        -------
        Explanation
            In clip order. Extras: ``components``, ``relevance``, ``H``, ``f_probability``,
            ``theta_probability``, ``class_name``, ``tau``, ``top_k`` and with ``detail``
            ``component_masks``, ``residual_audio``, ``component_audio``.
        """
        tau = self._tau(tau)
        top_k = self.top_k if top_k is None else top_k
        detail = self.detail if detail is None else bool(detail)
        if analysis is None and inputs is None:
            raise ParameterError("give the waveforms to explain, or their analysis (analysis=explainer.analyse(x))")
        if analysis is not None:
            a = analysis
        else:  # V and phase: one STFT of all the inputs, as every explainer's (the analysis runs in batches)
            a = self.analyse(inputs)
            V, phase = self.fe.magnitude_phase(a.x)
            a = dataclasses.replace(a, V=V, phase=phase)
        clip, cls = self.model.rows(a.f_logits, target)
        if not len(clip):
            return self._explain(a, clip, cls, [], relevance=np.zeros((0, self.n_components), np.float32),
                                 f_probability=np.zeros(0), theta_probability=np.zeros(0), tau=tau, top_k=top_k,
                                 with_audio=with_audio, detail=detail)
        idx = torch.as_tensor(clip, device=self.device)
        r = self.relevance(a.z[idx], cls)
        kept = select_components(r, tau, top_k)
        f_p = self.model.probabilities(a.f_logits[idx])
        t_p = self.model.probabilities(a.theta_logits[idx])
        return self._explain(a, clip, cls, kept, relevance=r,
                             f_probability=np.array([float(f_p[j, c]) for j, c in enumerate(cls.tolist())]),
                             theta_probability=np.array([float(t_p[j, c]) for j, c in enumerate(cls.tolist())]),
                             tau=tau, top_k=top_k, with_audio=with_audio, detail=detail)

    @torch.no_grad()
    def build(self, analysis: Analysis, index: int, target: int, components, *, clip: int | None = None,
              tau: float = float("nan"), relevance: torch.Tensor | None = None, f_probability: float | None = None,
              theta_probability: float | None = None, with_audio: bool = True) -> Explanation:
        """The one-row interpretation of class ``target`` for clip ``index`` of ``analysis``, made of
        exactly ``components`` (kept in the given order), with its detail (each component's mask and,
        with ``with_audio``, the audio of the interpretation, the residual and each component).

        :meth:`attribute` selects the components by τ and top-k; the listening lab calls this with the
        components switched on. ``relevance`` and the probabilities are computed when not given;
        ``clip`` (default ``index``, recorded in :attr:`Explanation.clip`) and ``tau`` are only recorded.

        Returns
        -------
        Explanation
            One row.
        """
        a, i, c = analysis, int(index), int(target)
        comps = np.asarray(components, dtype=np.int64)
        if relevance is None:
            relevance = self.relevance(a.z[i : i + 1], [c])[0]
        if f_probability is None:
            f_probability = float(self.model.probabilities(a.f_logits[i : i + 1])[0, c])
        if theta_probability is None:
            theta_probability = float(self.model.probabilities(a.theta_logits[i : i + 1])[0, c])
        r = relevance.cpu().numpy() if torch.is_tensor(relevance) else np.asarray(relevance)
        return self._explain(a, np.array([i]), np.array([c]), [comps], relevance=r[None],
                             f_probability=np.array([float(f_probability)]),
                             theta_probability=np.array([float(theta_probability)]), tau=float(tau), top_k=None,
                             with_audio=with_audio, detail=True, clip=np.array([i if clip is None else int(clip)]))

    def _tau(self, tau: float | None) -> float:
        if tau is not None:
            return float(tau)
        return self.tau if self.tau is not None else default_tau(self.multilabel)

    def _row(self, a: Analysis, i: int, comps: np.ndarray, *, with_audio: bool, detail: bool) -> dict:
        """Clip ``i``'s mask made of ``comps`` and, with ``detail``, each component's mask and the audio
        of the interpretation, the residual and each component (one iSTFT call)."""
        H, V, ph = a.H[i], a.V[i], a.phase[i]
        masks = component_masks(self.W, H, comps, eps=self.eps)
        mask = (masks.sum(0) if len(comps) else torch.zeros_like(V)).clamp(0, 1)
        out = {"mask": mask}
        if detail:
            out["component_masks"] = masks.cpu().numpy()
            if with_audio:
                parts = torch.cat([mask[None], (1 - mask)[None], masks])  # interpretation, residual, components
                audio = mask_to_audio(parts, V, ph, self.fe, length=a.x.shape[-1]).cpu().numpy()
                out.update(audio=audio[0], residual_audio=audio[1], component_audio=audio[2:])
        return out

    def _explain(self, a: Analysis, index: np.ndarray, cls: np.ndarray, kept: list, *, relevance, f_probability,
                 theta_probability, tau: float, top_k: int | None, with_audio: bool, detail: bool,
                 clip: np.ndarray | None = None) -> Explanation:
        """The :class:`Explanation` of rows (clip ``index[j]`` of ``a``, class ``cls[j]``, components ``kept[j]``)."""
        idx = torch.as_tensor(index, dtype=torch.long, device=self.device)
        rows = [self._row(a, int(i), np.asarray(k, dtype=np.int64), with_audio=with_audio, detail=detail)
                for i, k in zip(index.tolist(), kept)]
        V, phase = a.V[idx], a.phase[idx]
        mask = torch.stack([row["mask"] for row in rows]) if rows else torch.zeros_like(V)
        n = a.x.shape[-1]
        audio = None
        if with_audio:
            if not rows:
                audio = np.zeros((0, n), np.float32)
            elif detail:
                audio = np.stack([row["audio"] for row in rows])
            else:  # the interpretations only: one iSTFT call for every row
                audio = mask_to_audio(mask, V, phase, self.fe, length=n).cpu().numpy()
        r = relevance.cpu().numpy() if torch.is_tensor(relevance) else np.asarray(relevance)
        extras = {"components": [np.asarray(k, dtype=np.int64) for k in kept], "relevance": r,
                  "H": a.H[idx].cpu().numpy(), "f_probability": np.asarray(f_probability, dtype=np.float64),
                  "theta_probability": np.asarray(theta_probability, dtype=np.float64),
                  "class_name": [self.model.class_name(c) for c in cls.tolist()], "tau": float(tau), "top_k": top_k}
        if detail:
            extras["component_masks"] = [row["component_masks"] for row in rows]
            if with_audio:
                extras["residual_audio"] = (np.stack([row["residual_audio"] for row in rows]) if rows
                                          else np.zeros((0, n), np.float32))
                extras["component_audio"] = [row["component_audio"] for row in rows]
        return Explanation(method=self.name, target=cls, mask=mask.cpu().numpy(), V=V.cpu().numpy(),
                           phase=phase.cpu().numpy(), f_logits=a.f_logits[idx].cpu().numpy(), sr=self.sr, audio=audio,
                           extras=extras, clip=index if clip is None else clip)

    def __repr__(self) -> str:
        return (f"L2IExplainer(name={self.name!r}, preset={self.preset.name!r}, K={self.n_components}, "
                f"classes={self.model.n_classes}, multilabel={self.multilabel})")


def interpret(interpreter: nn.Module, x, target=None, tau: float | None = None, top_k: int | None = None, *,
              classifier: nn.Module, preset: str | Preset = "cpu", **kwargs) -> Explanation:
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
        More :class:`L2IExplainer` options (``f_thresholds``, ``classes``, ``device``, ...) and
        ``with_audio`` / ``detail`` of :meth:`L2IExplainer.attribute`.

    Returns
    -------
    Explanation
    """
    with_audio = kwargs.pop("with_audio", True)
    detail = kwargs.pop("detail", None)
    ex = L2IExplainer(classifier, interpreter, preset, **kwargs)
    return ex.attribute(x, target, tau=tau, top_k=top_k, with_audio=with_audio, detail=detail)
