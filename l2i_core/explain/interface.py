"""One interface for every listenable explanation: L2I, L-MAC, the gradient methods, random, identity, the oracle.

Every explainer here answers the same call, captum-style::

    explanation = explainer.attribute(x, target=None)

and returns an :class:`Explanation`: for each explained (clip, class) row, one soft time-frequency
mask ``M`` in [0, 1] on the (linear-frequency) STFT grid of f's front end, the convention L2I and
L-MAC share (DESIGN §1 item 4): the explained magnitude is ``expm1(M ⊙ V)`` with
``V = log1p|STFT(x)|``, and the explanation is heard as ``iSTFT(expm1(M ⊙ V) · e^{i∠X})`` with the
input's own phase. Every metric and protocol of :mod:`l2i_core.evaluate` takes any of them.

==================================================  =========================================================
explainer                                           the mask ``M`` of clip x for class c
==================================================  =========================================================
:class:`~l2i_core.explain.l2i.L2IExplainer`         the sum of the soft masks of the NMF components with
                                                    relevance > τ (either Θ head); extras: the kept
                                                    components, their relevance, H, each component's mask
                                                    and audio, the residual, f's and Θ's probabilities
:class:`~l2i_core.explain.lmac.LMACMask`            L-MAC's decoder output; with one mask (multi-class) it
                                                    is the mask of f's own top class whatever the target
                                                    (as the method is defined; ``extras['explained_class']``)
:class:`~l2i_core.explain.gradients.GradientMask`   captum Saliency / Integrated Gradients / SmoothGrad of
                                                    f's logit c on the log-mel input, projected onto the
                                                    STFT grid, divided by its maximum per row
:class:`~l2i_core.explain.references.RandomMask`    i.i.d. uniform values (seeded): what a mask that knows
                                                    nothing scores
:class:`~l2i_core.explain.references.IdentityMask`  ones: the input itself (what keeping everything scores)
:class:`~l2i_core.explain.references.OracleIRM`     the ideal ratio mask ``|S|/(|S|+|N|)`` of the true stem
                                                    S (mixtures with known stems only), written in the same
                                                    log1p convention, so that ``expm1(M ⊙ V) = IRM · |X|``
                                                    exactly: the ceiling of the ground-truth scores
==================================================  =========================================================

Which (clip, class) rows an explanation has: one rule for every explainer
-------------------------------------------------------------------------
:func:`explained_rows` (through :meth:`AudioModel.rows`; :func:`clip_targets` is its half for a
given target) turns ``target`` into rows, and every explainer uses it:

* ``target=None`` explains the classes f predicts. A **multi-class** f: its top class, one row per
  clip. A **multi-label** f: every class f decides present with its per-class thresholds
  (``sigmoid(f) > thresholds``, strictly, as the official code compares), one row per predicted class
  in class order, so a clip may give several rows, or none when f predicts nothing;
* an int explains that class in every clip (one row per clip);
* a sequence, array or tensor of B ints gives one class per clip (one row per clip).

Rows come in clip order; :attr:`Explanation.clip` maps each row to its input clip. To explain f's
top class of a multi-label f, pass it explicitly (``target=model.logits(x).argmax(1)``).

:class:`AudioModel` is the classifier side every explainer and protocol shares: f, its front end, its
decision rule, its logits of waveforms and of spectrograms.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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

__all__ = ["Explanation", "AudioModel", "Explainer", "explained_rows", "clip_targets", "spectrogram_logits"]


# -- the rows of an explanation ----------------------------------------------------------------------
def _class_array(target) -> np.ndarray:
    """``target`` (int, sequence, array or tensor of ints) as a flat int64 array; other dtypes refused."""
    t = np.asarray(target.detach().cpu() if torch.is_tensor(target) else target)
    if t.dtype == bool or not (np.issubdtype(t.dtype, np.integer) or t.dtype == object):
        raise ParameterError(f"target must be an int or a sequence of ints, got dtype {t.dtype}")
    return t.reshape(-1)


def explained_rows(f_logits, target=None, *, multilabel: bool = False, thresholds=None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The (clip, class) rows to explain: the one rule of every explainer (see the module docstring).

    Parameters
    ----------
    f_logits : np.ndarray or torch.Tensor [shape=(B, C)]
        f's logits of the B clips.
    target : None, int, or sequence / array / tensor of B ints
        None: f's top class (multi-class) or every class f predicts (multi-label); an int: that class
        in every clip; one int per clip: that class in that clip.
    multilabel : bool
        Whether f is multi-label (sigmoid outputs, one decision per class).
    thresholds : array-like [shape=(C,)] or None
        A multi-label f's per-class decision thresholds (default 0.5 each); the decision is
        ``sigmoid(f) > thresholds``, strictly.

    Returns
    -------
    clip : np.ndarray [shape=(R,), dtype=int64]
        The input clip of each row, in clip order.
    target : np.ndarray [shape=(R,), dtype=int64]
        The class explained in each row.

    Raises
    ------
    ParameterError
        A class out of range, a number of targets that is neither 1 nor B, or targets that are not ints.

    Examples
    --------
    >>> logits = np.array([[2.0, -1.0, 0.5], [-3.0, -2.0, -4.0]])
    >>> explained_rows(logits)
    (array([0, 1]), array([0, 1]))
    >>> explained_rows(logits, multilabel=True)   # clip 0: classes 0 and 2 (p > 0.5); clip 1: none
    (array([0, 0]), array([0, 2]))
    >>> explained_rows(logits, [2, 0])
    (array([0, 1]), array([2, 0]))
    """
    lg = f_logits.detach() if torch.is_tensor(f_logits) else torch.as_tensor(np.asarray(f_logits))
    if lg.ndim != 2:
        raise ParameterError(f"f_logits must have shape (clips, classes), got {tuple(lg.shape)}")
    B, C = lg.shape
    if target is None:
        if not multilabel:
            return np.arange(B, dtype=np.int64), lg.argmax(1).cpu().numpy().astype(np.int64)
        decided = metrics.classifier_decisions(lg.float().cpu().numpy(), thresholds)
        clip, cls = np.nonzero(decided)
        return clip.astype(np.int64), cls.astype(np.int64)
    return np.arange(B, dtype=np.int64), clip_targets(target, B, C)


def clip_targets(target, n_clips: int, n_classes: int) -> np.ndarray:
    """One class per clip from a given ``target`` (the explicit half of :func:`explained_rows`).

    Parameters
    ----------
    target : int, or sequence / array / tensor of ``n_clips`` ints
        One class for every clip, or one per clip.
    n_clips, n_classes : int

    Returns
    -------
    np.ndarray [shape=(n_clips,), dtype=int64]

    Raises
    ------
    ParameterError
        Not ints, a class out of range, or a number of targets that is neither 1 nor ``n_clips``.
    """
    t = _class_array(target)
    if t.size == 1:
        t = np.repeat(t, n_clips)
    if t.size != n_clips:
        raise ParameterError(f"{t.size} targets for {n_clips} clips; give one class per clip, one for all, or None")
    return np.array([check_class_target(c, n_classes) for c in t.tolist()], dtype=np.int64)


# -- the result --------------------------------------------------------------------------------------
@dataclass
class Explanation:
    """Listenable explanations, one per (clip, class) row (all arrays numpy, float32).

    Attributes
    ----------
    method : str
        The explainer's display name.
    target : np.ndarray [shape=(R,), dtype=int64]
        Class explained in each row.
    mask : np.ndarray [shape=(R, n_freq, n_frames)]
        Soft mask in [0, 1] applied to ``V`` (log1p convention, see the module docstring).
    V, phase : np.ndarray [shape=(R, n_freq, n_frames)]
        ``log1p|STFT(x)|`` and ``∠STFT(x)`` of each row's input clip.
    f_logits : np.ndarray [shape=(R, n_classes)]
        f on each row's input clip.
    sr : int
    audio : np.ndarray [shape=(R, n_samples)] or None
        The explanation heard: ``iSTFT(expm1(M ⊙ V) e^{i∠X})``.
    extras : dict
        Method-specific data. A value that is a list or a numpy array holds one entry per row (along
        its first axis); any other value (a number, a string, a tuple, a dict) is shared by every row.
        L2I (:class:`~l2i_core.explain.l2i.L2IExplainer`): ``components`` (list of int arrays, most
        relevant first), ``relevance`` ``(R, K)``, ``H`` ``(R, K, T)``, ``f_probability`` and
        ``theta_probability`` ``(R,)``, ``class_name`` (list), ``tau`` and ``top_k`` (shared), and
        with its detail ``component_masks`` (list of ``(n_kept, F, T)``), ``residual_audio``
        ``(R, n_samples)`` and ``component_audio`` (list of ``(n_kept, n_samples)``); L-MAC's
        ``explained_class``; the gradient methods' raw ``attribution`` on the mel grid.
    clip : np.ndarray [shape=(R,), dtype=int64]
        The input clip of each row (default: row j is clip j). A multi-label ``target=None`` gives a
        clip one row per class f predicts, or none.

    Notes
    -----
    ``explanation[j]`` is the one-row explanation of row j (arrays keep their first axis, of length
    1); a slice or an index array selects several rows; iterating gives the one-row explanations in
    order. Consumers that handle one clip at a time read ``e = explanation[j]`` and ``e.mask[0]``,
    ``e.audio[0]``, ``e.extras['components'][0]``, ...
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
    clip: np.ndarray | None = None

    def __post_init__(self):
        self.target = np.asarray(self.target, dtype=np.int64).reshape(-1)
        n = len(self.target)
        self.clip = (np.arange(n, dtype=np.int64) if self.clip is None
                     else np.asarray(self.clip, dtype=np.int64).reshape(-1))
        if len(self.clip) != n:
            raise ParameterError(f"{len(self.clip)} clips for {n} rows: give one clip index per row")

    def __len__(self) -> int:
        return len(self.target)

    def __getitem__(self, index) -> Explanation:
        """The rows ``index`` (an int, a slice, an index or boolean array) as an :class:`Explanation`."""
        n = len(self)
        rows = np.atleast_1d(np.arange(n)[index])

        def take(name, value):
            if isinstance(value, (np.ndarray, list)):
                if len(value) != n:
                    raise ParameterError(f"extras[{name!r}] has {len(value)} entries for {n} rows; a list or an "
                                         "array holds one entry per row (share a value as a number or a tuple)")
                return value[rows] if isinstance(value, np.ndarray) else [value[i] for i in rows]
            return value

        return Explanation(method=self.method, target=self.target[rows], mask=self.mask[rows], V=self.V[rows],
                           phase=self.phase[rows], f_logits=self.f_logits[rows], sr=self.sr,
                           audio=None if self.audio is None else self.audio[rows],
                           extras={k: take(k, v) for k, v in self.extras.items()}, clip=self.clip[rows])

    def __iter__(self) -> Iterator[Explanation]:
        """The one-row explanations, in row order."""
        return (self[j] for j in range(len(self)))

    @property
    def spectrogram(self) -> np.ndarray:
        """``M ⊙ V``: the explanation's log1p magnitude, ``(R, n_freq, n_frames)``."""
        return self.mask * self.V

    @property
    def magnitude(self) -> np.ndarray:
        """``expm1(M ⊙ V)``: the explanation's linear magnitude."""
        return np.expm1(self.spectrogram)

    @property
    def sparsity(self) -> np.ndarray:
        """``(R,)`` mean of each mask: the share of the time-frequency plane kept."""
        return self.mask.mean(axis=(-2, -1))

    def __repr__(self) -> str:
        return (f"Explanation(method={self.method!r}, rows={len(self)}, clips={len(np.unique(self.clip))}, "
                f"target={self.target.tolist()[:6]}{'...' if len(self) > 6 else ''}, mask_mean="
                f"{np.round(self.sparsity, 3).tolist()[:6]}{'...' if len(self) > 6 else ''})")


# -- the classifier side ------------------------------------------------------------------------------
class AudioModel:
    """The classifier f seen by every explainer and protocol: its input, its front end, its decisions.

    The one home of f's logits (of waveforms, :meth:`logits`; of spectrograms, :meth:`logits_of`),
    probabilities, decisions and of the rows an explanation has (:meth:`rows`).

    Parameters
    ----------
    classifier : nn.Module
        Log-mel ``(B, n_mels, n_frames)`` → logits; kept in eval mode.
    preset : str or Preset
        f's front end (resolved once, here).
    multilabel : bool or None
        Default ``classifier.multilabel``.
    f_thresholds : sequence of float or None
        Per-class decision thresholds of a multi-label f (default 0.5).
    classes : sequence of str or None
        Class names, one per class.
    device : str or None
        Default: the classifier's.
    batch_size : int
        Clips per forward pass (default :data:`~l2i_core._utils.INFERENCE_BATCH_SIZE`); f is in eval
        mode, so it changes the time, not the results.
    input_fn : callable or None
        Waveforms → f's input; default the preset's log-mel (:meth:`FrontEnd.logmel`).
    n_classes : int or None
        Default ``classifier.n_classes``, else the number of ``classes``.
    """

    def __init__(self, classifier: nn.Module, preset: str | Preset = "cpu", *, multilabel: bool | None = None,
                 f_thresholds=None, classes: Sequence[str] | None = None, device: str | None = None,
                 batch_size: int = INFERENCE_BATCH_SIZE, input_fn=None, n_classes: int | None = None):
        self.preset = get_preset(preset)
        self.device = module_device(classifier, device)
        self.classifier = classifier.to(self.device).eval()
        self.fe = FrontEnd(self.preset).to(self.device)
        self.input_fn = input_fn or self.fe.logmel
        self.multilabel = bool(getattr(classifier, "multilabel", False) if multilabel is None else multilabel)
        C = n_classes if n_classes is not None else getattr(classifier, "n_classes", len(classes) if classes else 0)
        self.n_classes = C = int(C)
        if classes is not None and len(classes) != C:
            raise ParameterError(f"{len(classes)} class names for a classifier of {C} classes")
        self.classes = list(classes) if classes is not None else None
        th = np.full(C, 0.5) if f_thresholds is None else np.asarray(f_thresholds, dtype=np.float64)
        if th.shape != (C,):
            raise ParameterError(f"f_thresholds must have one value per class ({C}), got shape {th.shape}")
        self.f_thresholds = th
        self.batch_size = int(batch_size)

    @property
    def sr(self) -> int:
        """The preset's sample rate."""
        return self.preset.sr

    def class_name(self, c: int) -> str | None:
        """The name of class ``c``, or None when the classes are unnamed."""
        return self.classes[int(c)] if self.classes else None

    def waveforms(self, x) -> torch.Tensor:
        """``x`` as a float ``(B, n_samples)`` batch on the model's device (see :func:`as_waveform_batch`)."""
        return as_waveform_batch(x).to(self.device)

    def probabilities(self, logits) -> torch.Tensor:
        """Sigmoid (multi-label) or softmax (multi-class) of ``logits``."""
        return probabilities(torch.as_tensor(logits), self.multilabel)

    @torch.no_grad()
    def logits(self, x) -> torch.Tensor:
        """f's logits of waveforms, in batches (on the model's device)."""
        x = self.waveforms(x)
        return torch.cat([self.classifier(self.input_fn(x[s : s + self.batch_size])).float()
                          for s in batch_starts(len(x), self.batch_size)])

    @property
    def on_grid(self) -> bool:
        """Whether masked spectrograms are scored on f's own STFT grid (the preset's ``masks_on_grid``,
        with f's own front end): then a mask reaches f as a mask on its STFT magnitude, no audio."""
        p = self.fe.preset
        return bool(p.masks_on_grid and p.shared_stft and self.input_fn == self.fe.logmel)

    @torch.no_grad()
    def logits_of(self, V, phase=None, *, length: int | None = None) -> torch.Tensor:
        """f's logits of log1p magnitudes ``(B, F, T)``: through audio with ``phase`` (iSTFT, re-analysis),
        else from the magnitude directly (see :func:`spectrogram_logits`)."""
        if phase is None and self.input_fn != self.fe.logmel:
            raise ParameterError("a custom input_fn needs audio: pass the phase")
        V = torch.as_tensor(np.asarray(V) if not torch.is_tensor(V) else V)
        ph = None if phase is None else torch.as_tensor(np.asarray(phase) if not torch.is_tensor(phase) else phase)
        return spectrogram_logits(self.classifier, self.fe, V, ph, length=length, batch_size=self.batch_size,
                                  device=self.device, input_fn=self.input_fn)

    def decisions(self, logits) -> np.ndarray:
        """``(B, C)`` booleans: f's top class (multi-class) or its thresholded decisions (multi-label)."""
        lg = torch.as_tensor(logits).float().cpu().numpy()
        if self.multilabel:
            return metrics.classifier_decisions(lg, self.f_thresholds) > 0
        out = np.zeros(lg.shape, dtype=bool)
        out[np.arange(len(lg)), lg.argmax(1)] = True
        return out

    def rows(self, logits, target=None) -> tuple[np.ndarray, np.ndarray]:
        """``(clip, class)`` of every row to explain (:func:`explained_rows` with f's decision rule)."""
        return explained_rows(logits, target, multilabel=self.multilabel, thresholds=self.f_thresholds)

    def __repr__(self) -> str:
        return (f"AudioModel({type(self.classifier).__name__}, preset={self.preset.name!r}, classes={self.n_classes}, "
                f"multilabel={self.multilabel}, device={str(self.device)!r})")


# -- the explainers' base ------------------------------------------------------------------------------
class Explainer:
    """Base class: subclasses implement :meth:`masks` (or override :meth:`attribute`, as L2I does).

    Parameters
    ----------
    model : AudioModel
        The classifier side (shared by every explainer of a comparison).
    name : str or None
        Display name; default the class's.

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
        if not isinstance(model, AudioModel):
            raise ParameterError(f"{type(self).__name__} needs an AudioModel (f with its front end), "
                                 f"got {type(model).__name__}")
        self.model = model
        if name is not None:
            self.name = name

    # -- the classifier side, read from the one AudioModel ---------------------------------------
    @property
    def preset(self) -> Preset:
        """f's preset (:attr:`AudioModel.preset`)."""
        return self.model.preset

    @property
    def sr(self) -> int:
        """The sample rate of f's input and of every explanation's audio."""
        return self.model.sr

    @property
    def fe(self) -> FrontEnd:
        """f's front end (:attr:`AudioModel.fe`)."""
        return self.model.fe

    @property
    def classifier(self) -> nn.Module:
        """f (:attr:`AudioModel.classifier`)."""
        return self.model.classifier

    @property
    def multilabel(self) -> bool:
        """Whether f is multi-label (:attr:`AudioModel.multilabel`)."""
        return self.model.multilabel

    @property
    def f_thresholds(self) -> np.ndarray:
        """f's per-class decision thresholds (:attr:`AudioModel.f_thresholds`)."""
        return self.model.f_thresholds

    @property
    def classes(self) -> list[str] | None:
        """f's class names (:attr:`AudioModel.classes`)."""
        return self.model.classes

    @property
    def device(self) -> torch.device:
        """Where f runs (:attr:`AudioModel.device`)."""
        return self.model.device

    # -- the contract ------------------------------------------------------------------------------
    def masks(self, x: torch.Tensor, target: np.ndarray, V: torch.Tensor, f_logits: torch.Tensor, *,
              stems=None) -> tuple[torch.Tensor, dict]:
        """The masks of the rows.

        Parameters
        ----------
        x : torch.Tensor [shape=(R, n_samples)]
            Each row's input clip.
        target : np.ndarray [shape=(R,)]
            Each row's class (:func:`explained_rows`).
        V : torch.Tensor [shape=(R, F, T)]
            ``log1p|STFT(x)|``.
        f_logits : torch.Tensor [shape=(R, C)]
        stems : array [shape=(R, n_samples)] or None

        Returns
        -------
        mask : torch.Tensor [shape=(R, F, T)]
            In [0, 1], on ``V``'s grid.
        extras : dict
            See :attr:`Explanation.extras`.
        """
        raise NotImplementedError

    def attribute(self, inputs, target=None, *, with_audio: bool = True, stems=None) -> Explanation:
        """Explanations of waveforms ``inputs`` for ``target``, one per (clip, class) row.

        Parameters
        ----------
        inputs : array or tensor [shape=(B, n_samples) or (n_samples,)]
            Waveforms at the preset's rate, of f's training length.
        target : None, int or sequence of int
            Which rows: :func:`explained_rows` (None: f's top class, or every class a multi-label f
            predicts).
        with_audio : bool
            Also synthesise the explanation (input phase, iSTFT).
        stems : array [shape=(B, n_samples)] or None
            The true stem of the explained class in each input (the oracle needs it).

        Returns
        -------
        Explanation
        """
        m = self.model
        x = m.waveforms(inputs)
        f_logits = m.logits(x)
        clip, t = m.rows(f_logits, target)
        with torch.no_grad():
            V, phase = m.fe.magnitude_phase(x)
        if self.needs_stems and stems is None:
            raise ParameterError(f"{self.name} needs the true stems: pass stems=(B, n_samples) waveforms")
        if not (len(clip) == len(x) and np.array_equal(clip, np.arange(len(x)))):  # not one row per clip, in order
            idx = torch.as_tensor(clip, dtype=torch.long, device=x.device)
            x, V, phase, f_logits = x[idx], V[idx], phase[idx], f_logits[idx]
            stems = None if stems is None else np.asarray(stems.detach().cpu() if torch.is_tensor(stems) else stems)[clip]
        if len(clip):
            mask, extras = self.masks(x, t, V, f_logits, stems=stems)
        else:  # a multi-label f that predicts nothing: no row
            mask, extras = torch.zeros_like(V), {}
        mask = torch.as_tensor(mask, device=V.device).float()
        if mask.shape != V.shape or (len(clip) and (not torch.isfinite(mask).all() or mask.min() < 0 or mask.max() > 1)):
            raise ParameterError(f"{self.name}: masks must be finite, in [0, 1] and of shape {tuple(V.shape)}")
        audio = None
        if with_audio:
            if len(clip):
                with torch.no_grad():
                    audio = mask_to_audio(mask, V, phase, m.fe, length=x.shape[-1]).cpu().numpy()
            else:
                audio = np.zeros((0, x.shape[-1]), np.float32)
        return Explanation(method=self.name, target=t, mask=mask.cpu().numpy(), V=V.cpu().numpy(),
                           phase=phase.cpu().numpy(), f_logits=f_logits.cpu().numpy(), sr=m.sr, audio=audio,
                           extras=extras, clip=clip)

    def __call__(self, inputs, target=None, **kwargs) -> Explanation:
        """:meth:`attribute`."""
        return self.attribute(inputs, target, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


@torch.no_grad()
def spectrogram_logits(classifier: nn.Module, fe: FrontEnd, V: torch.Tensor, phase: torch.Tensor | None = None, *,
                       length: int | None = None, batch_size: int = INFERENCE_BATCH_SIZE, device=None,
                       input_fn=None) -> torch.Tensor:
    """f's logits of log1p-magnitude spectrograms ``V`` ``(B, F, T)``, in batches.

    With ``phase`` the spectrogram is first made audio (input phase, iSTFT) and re-analysed by
    ``input_fn`` (default the log-mel), as a listener would hear it; without, the log-mel is computed
    from the magnitude ``expm1(V)`` directly (no round trip: faster, and what curves over many steps use).
    Where f has its own STFT (the ``aisfx`` preset) there is no direct path: pass the phase.

    Parameters
    ----------
    classifier : nn.Module
    fe : FrontEnd
    V : torch.Tensor [shape=(B, F, T)]
    phase : torch.Tensor [shape=(B, F, T)] or None
    length : int or None
        Samples of the resynthesised audio (the input's length).
    batch_size : int
    device : torch.device or None
        Default: the front end's.
    input_fn : callable or None
        Waveforms → f's input (default ``fe.logmel``).

    Returns
    -------
    torch.Tensor [shape=(B, C)]
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
