"""The listening lab: choose a clip, move τ and top-k, switch components on and off, and listen.

:class:`ListeningLab` is an ipywidgets interface for a **running kernel**. It analyses each clip
once (f, Ψ and Θ, cached per clip) and on every slider or toggle change recomputes only the masks,
the spectrograms and the audio, with the formulas of :mod:`l2i_core.explain`:

* relevance ``r_k = z_k θ_{c,k} / max_l z_l θ_{c,l}`` of the class being interpreted;
* the enabled components: those with ``r_k > τ`` (at most top-k), or exactly the ones switched on;
* soft masks ``M_k = w_k h_kᵀ / (W H + ε)``, interpretation ``Σ_{k on} M_k ⊙ V``, audio
  ``iSTFT(expm1(·) · e^{i∠X})`` with the input's phase; each component and the residual
  ``(1 − Σ M_k) ⊙ V`` the same way.

Widgets show only their saved state in a static HTML page (DESIGN §4), so :func:`gallery` renders a
few precomputed interpretations as plain ``<audio>`` players and small spectrogram images, which
play in any browser without a kernel.

Interpretations are :class:`~l2i_core.explain.interface.Explanation` rows (L2I's detail in their extras);
the lab shows a one-row explanation (:attr:`ListeningLab.current`).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import matplotlib.pyplot as plt
import numpy as np
import torch

from l2i_core import metrics
from l2i_core._errors import ParameterError
from l2i_core._utils import batch_starts, check_class_target, sigmoid, softmax
from l2i_core.audio.waveform import encode_audio
from l2i_core.config import Preset, get_preset
from l2i_core.explain.interface import Explanation
from l2i_core.explain.l2i import L2IExplainer, default_tau, select_components
from l2i_core.report.players import AudioPlayer
from l2i_core.report.plots import plot_interpretation, specshow

__all__ = ["ListeningLab", "Gallery", "gallery", "interpretation_from_components", "clip_correctness",
           "plot_activation_rows"]

#: Value of the class filter meaning "every class".
ALL_CLASSES = -1
#: The choices of the correctness filter.
CORRECTNESS = ("all", "correct", "wrong")
#: CSS class of each widget of :class:`ListeningLab` (attribute -> class); component toggles also get
#: ``l2i-component``, players ``l2i-player`` and ``l2i-player-<name>`` (spaces as dashes).
CSS_CLASSES = {"widget": "l2i-lab", "class_select": "l2i-class", "correct_select": "l2i-correct",
               "clip_select": "l2i-clip", "target_select": "l2i-target", "tau_slider": "l2i-tau",
               "topk_slider": "l2i-topk", "topk_all": "l2i-topk-all", "toggle_box": "l2i-components",
               "info": "l2i-info", "player_box": "l2i-players", "output": "l2i-plots"}


# -- pure helpers (also used by the tests) ---------------------------------------------------------
def clip_correctness(f_logits: np.ndarray, labels: np.ndarray, *, multilabel: bool,
                     thresholds: np.ndarray | None = None) -> np.ndarray:
    """Whether f is right on each clip.

    Parameters
    ----------
    f_logits : np.ndarray [shape=(n_clips, C)]
    labels : np.ndarray [shape=(n_clips, C)]
        Multi-hot ground truth (``AudioDataset.label_matrix()``).
    multilabel : bool
        Multi-class: right when ``argmax f`` is the label. Multi-label: right when f's thresholded
        decisions ``sigmoid(f) > thresholds`` (:func:`l2i_core.metrics.classifier_decisions`) equal the
        labels exactly.
    thresholds : np.ndarray [shape=(C,)] or None
        f's per-class decision thresholds (multi-label only; default 0.5).

    Returns
    -------
    np.ndarray [shape=(n_clips,), dtype=bool]
    """
    f_logits = np.asarray(f_logits, dtype=np.float64)
    labels = np.asarray(labels) > 0.5
    if f_logits.shape != labels.shape:
        raise ParameterError(f"logits {f_logits.shape} and labels {labels.shape} must have the same shape")
    if not multilabel:
        return labels[np.arange(len(labels)), f_logits.argmax(1)] & (labels.sum(1) == 1)
    decisions = metrics.classifier_decisions(f_logits, thresholds) > 0
    return (decisions == labels).all(1)


def predicted_classes(explainer: L2IExplainer, logits: np.ndarray) -> list[int]:
    """Classes f predicts from one clip's logits ``(C,)``: its top class (multi-class), or its
    thresholded decisions (:func:`l2i_core.metrics.classifier_decisions`), most probable first."""
    logits = np.asarray(logits, dtype=np.float64)
    if not explainer.multilabel:
        return [int(np.argmax(logits))]
    p = sigmoid(logits)
    on = np.flatnonzero(metrics.classifier_decisions(logits[None], explainer.f_thresholds)[0])
    return [int(c) for c in on[np.argsort(-p[on], kind="stable")]]


def default_target(explainer: L2IExplainer, logits: np.ndarray) -> int:
    """The class to interpret by default: the most probable class f predicts, else its top class."""
    pred = predicted_classes(explainer, logits)
    return pred[0] if pred else int(np.argmax(logits))


@torch.no_grad()
def interpretation_from_components(explainer: L2IExplainer, analysis, target: int, components: Sequence[int], *,
                                   clip: int = 0, tau: float = float("nan"), with_audio: bool = True,
                                   index: int = 0) -> Explanation:
    """The one-row interpretation of class ``target`` made of exactly ``components`` (any subset of the K atoms).

    :meth:`L2IExplainer.build` after checking the target and the component indices (the lab's
    toggles can name any atom): the same formulas as :meth:`L2IExplainer.attribute`, but the
    components are given instead of being selected by τ and top-k.

    Parameters
    ----------
    explainer : L2IExplainer
    analysis : Analysis
        :meth:`L2IExplainer.analyse` of the clip (a batch; ``index`` picks the clip in it).
    target : int
        Class to interpret.
    components : sequence of int
        Component indices, kept in the given order.
    clip : int
        Stored in ``Explanation.clip`` (e.g. the clip's index in its dataset).
    tau : float
        Stored in ``extras['tau']`` (the threshold the selection came from, if any).
    with_audio : bool
        Also synthesise the interpretation, each component and the residual.
    index : int
        Which clip of ``analysis``.

    Returns
    -------
    Explanation
        One row, with L2I's detail (each component's mask and audio, the residual).
    """
    target = check_class_target(target, len(explainer.f_thresholds))
    comps = np.asarray([int(k) for k in components], dtype=np.int64)
    K = explainer.n_components
    if comps.size and (comps.min() < 0 or comps.max() >= K):
        raise ParameterError(f"components must be atom indices in 0..{K - 1}, got {comps.tolist()}")
    return explainer.build(analysis, index, target, comps, clip=clip, tau=tau, with_audio=with_audio)


def _class_name(explainer: L2IExplainer, dataset, c: int) -> str:
    if explainer.classes:
        return str(explainer.classes[c])
    if dataset is not None and c < len(dataset.classes):
        return str(dataset.classes[c])
    return f"class {c}"


def _check_classes(explainer: L2IExplainer, dataset) -> None:
    C = len(explainer.f_thresholds)
    if len(dataset.classes) != C:
        raise ParameterError(f"the dataset has {len(dataset.classes)} classes but the explainer {C}; "
                             "use the dataset the classifier was trained on")
    if explainer.classes and list(explainer.classes) != list(dataset.classes):
        raise ParameterError("the dataset's classes differ from the explainer's (order matters): "
                             f"{dataset.classes} vs {explainer.classes}")


# -- the live lab -----------------------------------------------------------------------------------
class ListeningLab:
    """Interactive listening lab for one explainer and one dataset split (needs a running kernel).

    Parameters
    ----------
    explainer : L2IExplainer
        The frozen classifier f with its trained interpreter.
    dataset : AudioDataset
        Its records are loaded at the explainer's preset; its classes must be the explainer's.
    split : str
        Which split to offer (``'train'``, ``'validation'`` or ``'test'``).
    preset : str, Preset or None
        Preset for the plot axes; default the explainer's.
    max_clips : int or None
        Offer only the first ``max_clips`` clips of the split (f is run on each of them once, to
        sort them into correct and wrong).
    plots : bool
        Draw the figures into :attr:`output` on every change (off: players and state only, faster).

    Attributes
    ----------
    class_select : ipywidgets.Dropdown
        Clips of one class (value: class index) or of all (value ``-1``).
    correct_select : ipywidgets.ToggleButtons
        ``'all'``, ``'correct'`` or ``'wrong'``: whether f is right on the clip (multi-class:
        ``argmax f`` is the label; multi-label: f's thresholded decisions equal the labels).
    clip_select : ipywidgets.Dropdown
        The clips that pass both filters (value: index in :attr:`clips`).
    target_select : ipywidgets.Dropdown
        The class interpreted (value: class index); default f's prediction (multi-label: the most
        probable class f predicts, else the top class).
    tau_slider : ipywidgets.FloatSlider
        Relevance threshold τ, 0–0.95.
    topk_slider : ipywidgets.IntSlider
        At most this many components (1..K) unless :attr:`topk_all` is checked.
    topk_all : ipywidgets.Checkbox
        Keep every component with ``r > τ``.
    component_toggles : dict of int to ipywidgets.ToggleButton
        One toggle per candidate component (those with positive relevance, most relevant first, at
        most ``max_toggles`` plus any enabled one). Switching one recomputes the interpretation with
        exactly the components switched on.
    current : Explanation or None
        What is shown and played now, one row (None when no clip passes the filters); its ``clip`` is
        the index in :attr:`clips`, its extras also hold ``top_k`` and the clip's ``uid``.
    players : list of str
        Names of the current players: ``'original'``, ``'interpretation'``, ``'component k'`` for
        each enabled component, ``'residual'``.
    player_widgets : dict of str to ipywidgets.Audio
    output : ipywidgets.Output
        Spectrograms, mask, relevance bars and activations H.
    widget : ipywidgets.VBox
        The whole lab; make it the last expression of a cell to show it.
    clips : AudioDataset
        The records offered; ``f_logits`` ``(n_clips, C)`` and ``correct`` ``(n_clips,)`` describe f on them.

    Notes
    -----
    Each widget carries a CSS class (:data:`CSS_CLASSES`), a stable hook for browser tests and page
    styles (``l2i lab`` serves the lab as a web page): ``l2i-tau`` on the τ slider, ``l2i-component``
    on every component toggle, ``l2i-player`` and ``l2i-player-<name>`` (``l2i-player-interpretation``,
    ``l2i-player-component-3``) on the ``<audio>`` players, ``l2i-plots`` on :attr:`output`, ...

    Examples
    --------
    >>> lab = ListeningLab(explainer, ds, split="test")   # doctest: +SKIP
    >>> lab.widget                                         # doctest: +SKIP
    >>> lab.tau_slider.value = 0.5; lab.current.components  # doctest: +SKIP
    """

    #: Most component toggles shown (enabled components are always shown).
    max_toggles: int = 20
    #: Most component players built at once (the first, most relevant, enabled components).
    max_component_players: int = 24

    def __init__(self, explainer: L2IExplainer, dataset, *, split: str = "test", preset: str | Preset | None = None,
                 max_clips: int | None = None, plots: bool = True):
        import ipywidgets as w

        _check_classes(explainer, dataset)
        self.explainer = explainer
        self.preset = get_preset(preset) if preset is not None else explainer.preset
        clips = dataset.split(split)
        if max_clips is not None:
            if int(max_clips) < 1:
                raise ParameterError(f"max_clips must be >= 1 or None, got {max_clips}")
            clips = clips.subset(range(min(int(max_clips), len(clips))))
        if not len(clips):
            raise ParameterError(f"{dataset.name}: the {split!r} split has no clips to listen to")
        self.clips = clips
        self.split = split
        self.multilabel = bool(explainer.multilabel)
        self.plots = bool(plots)
        self.labels = clips.label_matrix()
        self.f_logits = self._predict_all()
        self.correct = clip_correctness(self.f_logits, self.labels, multilabel=self.multilabel,
                                        thresholds=explainer.f_thresholds)
        self._analyses: dict = {}
        self._busy = 0
        self._clip: int | None = None
        self._candidates: list[int] = []
        self.current: Explanation | None = None
        self.players: list[str] = []
        self.player_widgets: dict = {}
        self.component_toggles: dict = {}

        C = self.labels.shape[1]
        counts = self.labels.sum(0).astype(int)
        class_opts = [(f"all classes ({len(clips)})", ALL_CLASSES)]
        class_opts += [(f"{_class_name(explainer, clips, c)} ({counts[c]})", c) for c in range(C) if counts[c] > 0]
        self.class_select = w.Dropdown(options=class_opts, value=ALL_CLASSES, description="class")
        self.correct_select = w.ToggleButtons(options=list(CORRECTNESS), value="all", description="f is",
                                              tooltips=["every clip", "f is right", "f is wrong"])
        self.clip_select = w.Dropdown(options=[], description="clip", layout=w.Layout(width="520px"))
        self.target_select = w.Dropdown(options=[], description="interpret", layout=w.Layout(width="420px"))
        K = explainer.n_components
        self.tau_slider = w.FloatSlider(value=min(default_tau(self.multilabel), 0.95), min=0.0, max=0.95, step=0.05,
                                        description="τ", continuous_update=False, readout_format=".2f")
        self.topk_slider = w.IntSlider(value=min(5, K), min=1, max=K, step=1, description="top-k",
                                       continuous_update=False)
        self.topk_all = w.Checkbox(value=False, description="all with r > τ", indent=False)
        self.toggle_box = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self.info = w.HTML()
        self.player_box = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self.output = w.Output()
        licence = html.escape(dataset.licence) if getattr(dataset, "licence", "") else ""
        self.licence = w.HTML(f'<div style="font-size:80%;color:#555">Audio: {licence}</div>' if licence else "")
        self.widget = w.VBox([
            w.HBox([self.class_select, self.correct_select]),
            w.HBox([self.clip_select, self.target_select]),
            w.HBox([self.tau_slider, self.topk_slider, self.topk_all]),
            w.HTML("<b>components</b> (most relevant first; switch them on and off)"),
            self.toggle_box, self.info, self.player_box, self.licence, self.output,
        ])
        for attr, css in CSS_CLASSES.items():
            getattr(self, attr).add_class(css)

        self.class_select.observe(self._on_filter, names="value")
        self.correct_select.observe(self._on_filter, names="value")
        self.clip_select.observe(self._on_clip, names="value")
        self.target_select.observe(self._on_selection, names="value")
        self.tau_slider.observe(self._on_selection, names="value")
        self.topk_slider.observe(self._on_selection, names="value")
        self.topk_all.observe(self._on_topk_all, names="value")
        self._on_filter()

    # -- state -------------------------------------------------------------------------------
    @contextmanager
    def _hold(self) -> Iterator[None]:
        """Programmatic widget changes inside this block do not fire the lab's callbacks."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1

    def _predict_all(self, chunk: int = 32) -> np.ndarray:
        out = []
        for s in batch_starts(len(self.clips), chunk):
            x = self.clips.load_batch(range(s, min(s + chunk, len(self.clips))), self.explainer.preset)
            out.append(self.explainer.model.logits(x).float().cpu().numpy())
        return np.concatenate(out)

    @property
    def top_k(self) -> int | None:
        """The top-k cap in force (None: every component with ``r > τ``)."""
        return None if self.topk_all.value else int(self.topk_slider.value)

    @property
    def tau(self) -> float:
        return float(self.tau_slider.value)

    @property
    def enabled(self) -> list[int]:
        """Components switched on now, most relevant first."""
        return [k for k in self._candidates if self.component_toggles[k].value]

    def analysis(self, clip: int):
        """f, Ψ and Θ on clip ``clip`` of :attr:`clips`, computed once and cached."""
        if clip not in self._analyses:
            x = self.clips.load(int(clip), self.explainer.preset)
            self._analyses[clip] = self.explainer.analyse(x)
        return self._analyses[clip]

    def filtered_clips(self) -> list[int]:
        """Indices (in :attr:`clips`) of the clips that pass the class and correctness filters."""
        keep = np.ones(len(self.clips), dtype=bool)
        c = self.class_select.value
        if c is not None and c != ALL_CLASSES:
            keep &= self.labels[:, c] > 0.5
        if self.correct_select.value == "correct":
            keep &= self.correct
        elif self.correct_select.value == "wrong":
            keep &= ~self.correct
        return np.flatnonzero(keep).tolist()

    def predicted_classes(self, clip: int) -> list[int]:
        """Classes f predicts for a clip: its top class (multi-class) or its thresholded decisions,
        most probable first (multi-label)."""
        return predicted_classes(self.explainer, self.f_logits[clip])

    def default_target(self, clip: int) -> int:
        """f's top class (multi-class); the most probable class f predicts, else the top class (multi-label)."""
        return default_target(self.explainer, self.f_logits[clip])

    def _probabilities(self, clip: int) -> np.ndarray:
        logits = self.f_logits[clip]
        return sigmoid(logits) if self.multilabel else softmax(logits)

    def _name(self, c: int) -> str:
        return _class_name(self.explainer, self.clips, c)

    def _clip_label(self, i: int) -> str:
        r = self.clips[i]
        labels = "+".join(r.labels) or "no label"
        pred = "+".join(self._name(c) for c in self.predicted_classes(i)) or "nothing"
        mark = "✓" if self.correct[i] else "✗"
        return f"{mark} {r.uid} · {labels} · f: {pred}"

    # -- callbacks ---------------------------------------------------------------------------
    def _on_filter(self, change=None) -> None:
        if self._busy:
            return
        keep = self.filtered_clips()
        with self._hold():
            self.clip_select.options = [(self._clip_label(i), i) for i in keep]
            self.clip_select.value = self._clip if self._clip in keep else (keep[0] if keep else None)
        self._show_clip(self.clip_select.value)

    def _on_clip(self, change) -> None:
        if not self._busy:
            self._show_clip(change["new"])

    def _on_topk_all(self, change) -> None:
        self.topk_slider.disabled = bool(change["new"])
        self._on_selection(change)

    def _on_selection(self, change=None) -> None:
        if not self._busy and self._clip is not None:
            self._reselect()

    def _on_toggle(self, change) -> None:
        if self._busy or self._clip is None:
            return
        self._update(self.enabled)

    # -- recomputation -----------------------------------------------------------------------
    def _show_clip(self, clip: int | None) -> None:
        if clip is None:
            self._clip = None
            self.current = None
            with self._hold():
                self.target_select.options = []
            self._set_toggles([], [])
            self._set_players({})
            self.info.value = "<i>No clip passes these filters.</i>"
            self.output.clear_output()
            return
        changed = clip != self._clip
        self._clip = int(clip)
        if changed or self.target_select.value is None:
            p = self._probabilities(self._clip)
            pred = set(self.predicted_classes(self._clip))
            order = np.argsort(-p, kind="stable")
            opts = [(f"{self._name(c)} · f p = {p[c]:.2f}{' (predicted)' if c in pred else ''}", int(c)) for c in order]
            with self._hold():
                self.target_select.options = opts
                self.target_select.value = self.default_target(self._clip)
        self._reselect()

    def relevance(self) -> np.ndarray:
        """Relevance ``(K,)`` of every component for the current clip and target."""
        a = self.analysis(self._clip)
        return self.explainer.relevance(a.z, [int(self.target_select.value)])[0].cpu().numpy()

    def _reselect(self) -> None:
        """τ, top-k, clip or target changed: select components again and switch the toggles to them."""
        r = self.relevance()
        selected = select_components(torch.from_numpy(r)[None], self.tau, self.top_k)[0].tolist()
        order = [int(k) for k in np.argsort(-r, kind="stable")]
        candidates = [k for k in order if r[k] > 0][: self.max_toggles]
        candidates = [k for k in order if k in set(candidates) | set(selected)]
        self._set_toggles(candidates, selected, r)
        self._update(selected)

    def _set_toggles(self, candidates: list[int], selected: list[int], r: np.ndarray | None = None) -> None:
        import ipywidgets as w

        if candidates != self._candidates:
            for t in self.component_toggles.values():
                t.unobserve(self._on_toggle, names="value")
            self.component_toggles = {
                k: w.ToggleButton(value=False, description=f"{k} · r={r[k]:.2f}",
                                  tooltip=f"component {k}, relevance {r[k]:.3f}",
                                  layout=w.Layout(width="auto")).add_class("l2i-component")
                for k in candidates}
            for t in self.component_toggles.values():
                t.observe(self._on_toggle, names="value")
            self._candidates = list(candidates)
            self.toggle_box.children = tuple(self.component_toggles.values())
        elif r is not None:
            for k, t in self.component_toggles.items():
                t.description = f"{k} · r={r[k]:.2f}"
        on = set(selected)
        with self._hold():
            for k, t in self.component_toggles.items():
                t.value = k in on
                t.button_style = "danger" if k in on else ""

    def _update(self, components: list[int]) -> None:
        """Masks, spectrogram, audio, players and plots of the current clip with ``components`` on."""
        for t in self.component_toggles.values():
            t.button_style = "danger" if t.value else ""
        a = self.analysis(self._clip)
        target = int(self.target_select.value)
        interp = interpretation_from_components(self.explainer, a, target, components, clip=self._clip, tau=self.tau)
        interp.extras.update(top_k=self.top_k, uid=self.clips[self._clip].uid)
        self.current = interp
        sr = interp.sr
        x = interp.extras
        players = {"original": a.x[0].cpu().numpy(), "interpretation": interp.audio[0]}
        for k, y in list(zip(x["components"][0], x["component_audio"][0]))[: self.max_component_players]:
            players[f"component {int(k)}"] = y
        players["residual"] = x["residual_audio"][0]
        self._set_players(players, sr)
        self._set_info(interp)
        if self.plots:
            self._plot(interp)

    def _set_players(self, players: dict, sr: int | None = None) -> None:
        import ipywidgets as w

        boxes, self.player_widgets = [], {}
        for name, y in players.items():
            audio = w.Audio(value=encode_audio(np.asarray(y, dtype=np.float32), sr), format="ogg", autoplay=False,
                            loop=False, controls=True)
            audio.add_class("l2i-player").add_class("l2i-player-" + "-".join(name.split()))
            self.player_widgets[name] = audio
            boxes.append(w.VBox([w.HTML(f'<span style="font-size:90%">{html.escape(name)}</span>'), audio]))
        self.players = list(players)
        self.player_box.children = tuple(boxes)

    def _set_info(self, it: Explanation) -> None:
        r = self.clips[self._clip]
        x = it.extras
        name = x["class_name"][0] if x["class_name"][0] is not None else f"class {int(it.target[0])}"
        comps = x["components"][0]
        pred = ", ".join(self._name(c) for c in self.predicted_classes(self._clip)) or "nothing"
        hidden = len(comps) - min(len(comps), self.max_component_players)
        more = f" ({hidden} more components not shown as players)" if hidden > 0 else ""
        self.info.value = (
            f"<b>{html.escape(r.uid)}</b> — labels: {html.escape(', '.join(r.labels) or 'none')}; "
            f"f predicts: {html.escape(pred)} ({'right' if self.correct[self._clip] else 'wrong'}).<br>"
            f"Interpreting <b>{html.escape(str(name))}</b>: f p = {float(x['f_probability'][0]):.3f}, "
            f"Θ p = {float(x['theta_probability'][0]):.3f}; "
            f"{len(comps)} component(s) on: {comps.tolist()}; mask mean {float(it.mask[0].mean()):.3f}{more}")

    def _plot(self, it: Explanation) -> None:
        from IPython.display import clear_output, display

        x = it.extras
        figs = [plot_interpretation(it, self.preset, title=f"{self.clips[self._clip].uid}: f p = "
                                    f"{float(x['f_probability'][0]):.2f}, Θ p = {float(x['theta_probability'][0]):.2f}"),
                plot_activation_rows(it, self.preset)]
        with self.output:
            clear_output(wait=True)
            for fig in figs:
                display(fig)
        for fig in figs:
            plt.close(fig)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def plot_activation_rows(explanation: Explanation, preset: str | Preset = "cpu", *, row: int = 0, max_lines: int = 8):
    """Activations H of one L2I interpretation: all atoms as an image (enabled ones marked) and the
    enabled components' ``h_k(t)`` as lines.

    Parameters
    ----------
    explanation : Explanation
        An L2I explanation (extras ``H``, ``components``, ``relevance``).
    preset : str or Preset
        For the time axis.
    row : int
        Which row.
    max_lines : int
        Most components drawn as lines.

    Returns
    -------
    matplotlib.figure.Figure
    """
    p = get_preset(preset)
    x = explanation.extras
    H, components, relevance = x["H"][row], x["components"][row], x["relevance"][row]
    dur = H.shape[-1] * p.hop_length / p.sr
    fig, (a, b) = plt.subplots(1, 2, figsize=(15, 2.4), constrained_layout=True, gridspec_kw={"width_ratios": [1, 1]})
    img = a.imshow(H, aspect="auto", origin="lower", cmap="viridis", extent=[0, dur, -0.5, H.shape[0] - 0.5])
    for k in components:
        a.axhline(int(k), color="C3", lw=0.6, alpha=0.8)
    a.set_xlabel("time (s)")
    a.set_ylabel("atom")
    a.set_title("activations H = Ψ(maps) (red: components on)", fontsize="small")
    fig.colorbar(img, ax=a, label="activation")
    t = np.arange(H.shape[-1]) * p.hop_length / p.sr
    for k in components[:max_lines]:
        b.plot(t, H[int(k)], lw=1, label=f"{int(k)} (r = {relevance[int(k)]:.2f})")
    b.set_xlim(0, dur)
    b.set_xlabel("time (s)")
    b.set_ylabel("h_k(t)")
    b.set_title("activations of the components on", fontsize="small")
    if len(components):
        b.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
    b.grid(alpha=0.3)
    return fig


# -- the static gallery ---------------------------------------------------------------------------------
class Gallery:
    """Precomputed interpretations as plain HTML (``<audio>`` players and PNG images): plays without a kernel.

    Attributes
    ----------
    html : str
    explanation : Explanation or None
        The interpretations shown, one row per clip (None when there is no clip).
    uids : list of str
        The clip of each row.
    """

    def __init__(self, html_text: str, explanation: Explanation | None, uids: list[str]):
        self.html = html_text
        self.explanation = explanation
        self.uids = uids

    def _repr_html_(self) -> str:
        return self.html

    def __len__(self) -> int:
        return 0 if self.explanation is None else len(self.explanation)

    def __repr__(self) -> str:
        return f"Gallery({len(self)} interpretations, {len(self.html) / 1e6:.2f} MB of HTML)"


def _png_data_uri(fig, dpi: int = 85) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _thumbnail(V: np.ndarray, spectrogram: np.ndarray, preset: Preset) -> str:
    fig, axes = plt.subplots(1, 2, figsize=(5.2, 1.7), constrained_layout=True, sharey=True)
    vmax = float(V.max()) or 1.0
    for ax, S, title in ((axes[0], V, "input"), (axes[1], spectrogram, "interpretation")):
        img = specshow(S, preset, ax=ax, mel=False, title=title)
        img.set_clim(0, vmax)
        ax.tick_params(labelsize=6)
        ax.xaxis.label.set_size(7)
        ax.yaxis.label.set_size(7)
    axes[1].set_ylabel("")
    return _png_data_uri(fig)


def gallery(explainer: L2IExplainer, dataset, *, per_class: int = 1, split: str = "test", tau: float | None = None,
            top_k: int | None = 5, max_clips: int | None = 12, preset: str | Preset | None = None) -> Gallery:
    """A few interpretations per class as static HTML, for reports (no kernel needed).

    For ``per_class`` clips of each class (first label) of ``split``, the class f predicts (its top
    class; multi-label: the most probable class it predicts, else its top class) is interpreted and
    shown as players of the input, the interpretation and the residual, beside small images of the
    input and interpretation spectrograms (log(1 + |X|), same colour scale).

    Parameters
    ----------
    explainer : L2IExplainer
    dataset : AudioDataset
    per_class : int
        Clips per class.
    split : str
    tau : float or None
        Relevance threshold; default the paper's (0.2 multi-class, 0.3 multi-label).
    top_k : int or None
        At most this many components (the official code: 5); None keeps all with ``r > τ``.
    max_clips : int or None
        At most this many clips in all (the first ones, in dataset order): each row embeds about
        150 kB of OGG audio and image (5 s clips), and a report should stay under 5 MB (ESC-50 has
        50 classes). None: no cap.
    preset : str, Preset or None
        For the image axes; default the explainer's.

    Returns
    -------
    Gallery
        Displays itself through ``_repr_html_``; ``.html`` is the markup.
    """
    _check_classes(explainer, dataset)
    if int(per_class) < 1:
        raise ParameterError(f"per_class must be >= 1, got {per_class}")
    p = get_preset(preset) if preset is not None else explainer.preset
    if max_clips is not None and int(max_clips) < 1:
        raise ParameterError(f"max_clips must be >= 1 or None, got {max_clips}")
    sub = dataset.per_class(int(per_class), split=split)
    n_all = len(sub)
    if max_clips is not None and n_all > int(max_clips):
        sub = sub.subset(range(int(max_clips)))
    tau = default_tau(explainer.multilabel) if tau is None else float(tau)
    if not len(sub):
        return Gallery(f"<p><i>No clips in the {html.escape(split)} split of {html.escape(dataset.name)}.</i></p>", None, [])
    x = sub.load_batch(None, explainer.preset)
    a = explainer.analyse(x)
    targets = [default_target(explainer, row) for row in a.f_logits.float().cpu().numpy()]
    exp = explainer.attribute(x, targets, tau=tau, top_k=top_k, analysis=a, detail=True)  # one row per clip
    ex = exp.extras
    spec = exp.spectrogram
    sr = explainer.sr
    rows = []
    for i, rec in enumerate(sub):
        name = ex["class_name"][i] if ex["class_name"][i] is not None else f"class {int(exp.target[i])}"
        players = [AudioPlayer(x[i], sr, title="input"),
                   AudioPlayer(exp.audio[i], sr, title=f"interpretation ({len(ex['components'][i])} comp.)"),
                   AudioPlayer(ex["residual_audio"][i], sr, title="residual")]
        desc = (f"<b>{html.escape(rec.uid)}</b><br>label: {html.escape(', '.join(rec.labels) or 'none')}<br>"
                f"interpreted: {html.escape(str(name))}<br>f p = {float(ex['f_probability'][i]):.2f}, "
                f"Θ p = {float(ex['theta_probability'][i]):.2f}")
        rows.append(f'<tr><td style="vertical-align:top;text-align:left">{desc}</td>'
                    f'<td style="vertical-align:top">{"".join(pl.to_html() for pl in players)}</td>'
                    f'<td><img src="{_thumbnail(exp.V[i], spec[i], p)}" alt="spectrograms of {html.escape(rec.uid)}"></td></tr>')
    shown = f" (the first {len(sub)} of {n_all} shown; the lab has them all)" if len(sub) < n_all else ""
    cap = (f"{html.escape(dataset.name)}, {html.escape(split)} split: {per_class} clip(s) per class{shown}; the class "
           f"f predicts is interpreted with τ = {tau:g}, top-k = {top_k if top_k is not None else 'all'}.")
    licence = (f'<p style="font-size:80%;color:#555">Audio: {html.escape(dataset.licence)}</p>'
               if getattr(dataset, "licence", "") else "")
    text = (f'<div class="l2i-gallery"><p>{cap}</p><table>'
            '<tr><th>clip</th><th>listen</th><th>spectrograms (log(1 + |X|))</th></tr>'
            f'{"".join(rows)}</table>{licence}</div>')
    return Gallery(text, exp, [r.uid for r in sub])
