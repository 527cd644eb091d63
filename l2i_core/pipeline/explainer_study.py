"""The explainer study of one dataset: what notebook 08 and ``l2i benchmark`` run.

1. :func:`ensure_lmac` — L-MAC trained on the frozen classifier of ``artifacts_dir`` (or reused);
2. :func:`build_explainers` — f seen as an :class:`~l2i_core.explain.interface.AudioModel` and every
   explainer of the comparison: L2I (both heads), L-MAC, the three gradient methods, random, the
   oracle IRM, each an :class:`~l2i_core.explain.interface.Explainer`;
3. :func:`build_conditions` — the test clips under SpeechBrain's conditions (multi-class data) or
   the scenes with their stems (urbanmix); :func:`comparison_passes` — those clips in passes whose
   conditions and explanations fit :data:`COMPARISON_MEMORY_SHARE` of the memory budget;
4. :func:`comparison_study` — everything scored (:func:`l2i_core.evaluate.harness.compare`), a condition and a
   pass at a time with every random draw fixed before the passes; its tables
   (:meth:`~l2i_core.evaluate.harness.ComparisonStudy.review`) carry the Holm-corrected paired tests. The randomisation sanity check is
   :func:`l2i_core.pipeline.sanity.sanity_study`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from l2i_core._errors import DataNotFoundError, ParameterError
from l2i_core.evaluate.harness import (  # by name: the package binds `compare` to the function
    ComparisonStudy,
    compare,
    make_conditions,
    mixture_partners,
    scene_condition,
    speech_background,
)
from l2i_core.explain.interface import AudioModel
from l2i_core.explain.lmac import LMACMask
from l2i_core.explain.references import untrained_explainer
from l2i_core.pipeline.steps import (
    ensure_classifier,
    ensure_interpreter,
    ensure_lmac,
)

__all__ = ["build_explainers", "build_conditions", "comparison_study", "DEFAULT_METHODS", "lmac_summary", "COMPARISON_MEMORY_SHARE", "comparison_bytes_per_clip", "comparison_passes"]

#: Every explainer of the comparison, by short name (the notebook's ``methods`` parameter).
DEFAULT_METHODS = ("l2i-attention", "l2i-max", "lmac", "saliency", "integrated_gradients", "smoothgrad", "identity",
                   "random", "oracle")

#: Share of the run's memory budget (``cfg.memory_gb``, GB) that one pass of the comparison may take: the
#: conditions of its clips and the explanations computed on them (:func:`comparison_passes`).
COMPARISON_MEMORY_SHARE = 0.25

#: Waveforms (float32, one clip long) a test clip costs in a pass's conditions, multi-class data: the first
#: pass's four conditions, which notebook 08 holds (the clip, input and stem of the mixture, white-noise and
#: speech conditions: 7), and the one condition :func:`comparison_study` builds and explains at a time (its
#: input and stem, the clip, the partner, speech or noise drawn, temporaries of ``make_conditions``). Counted high.
_CONDITION_WAVEFORMS = 12
#: The same for one row (labelled class) of a scene: input and stem, twice (the lists, then their stack).
_SCENE_ROW_WAVEFORMS = 4
#: (F, T) float32 arrays one explained row holds while an explainer explains a condition and the row is
#: scored (``compare`` keeps one explanation at a time, and only its scores): the explanation (mask, V,
#: phase; the previous one lives until the new one is assigned) and what making and scoring it computes at
#: once (the complex STFT, masked and unmasked magnitudes, bin ranks as int64, the binarised mask, the
#: stem's and the rest's magnitudes, the deletion / insertion spectrograms). Counted high.
_EXPLANATION_SPECTROGRAMS = 24
#: Waveforms per explained row: the explanation's audio (this one's and the previous one's), the
#: resynthesised inputs of f's scoring passes, and the stem and input the ground truth reads.
_EXPLANATION_WAVEFORMS = 6


def build_explainers(cfg, dataset, methods=DEFAULT_METHODS, *, progress: bool = True, lmac_epochs: int | None = None,
                     seeds: Sequence[int] | None = None):
    """f as an :class:`~l2i_core.explain.interface.AudioModel` and the explainers named in ``methods``.

    The model is the first L2I head's own (:attr:`L2IExplainer.model`), else f loaded here; every other
    explainer is built on it. The L2I heads compute no component or residual audio here (``detail``
    off): the comparison hears only the interpretation.

    ``seeds`` (default: the run's own, ``[cfg.seed]``; :func:`~l2i_core.pipeline.steps.explainer_seeds` for the
    comparison's 3): every trained explainer (the L2I heads, L-MAC) once per training seed, on the same f,
    each with its ``training_seed`` (the rows of one method and several seeds are one method's, resampled
    by seed and clip in the tables). Seeds other than the run's are trained (or reused) in
    :func:`~l2i_core.pipeline.steps.explainer_dir`. The other explainers appear once.

    Returns
    -------
    model : AudioModel
    explainers : list of Explainer
    messages : list of str
        Where each trained explainer came from (reused or trained now).
    """
    methods = [m.strip() for m in (methods.split(",") if isinstance(methods, str) else methods) if m.strip()]
    unknown = sorted(set(methods) - set(DEFAULT_METHODS))
    if unknown:
        raise ParameterError(f"unknown explainers {unknown}; choose among {list(DEFAULT_METHODS)}")
    seeds = [int(cfg.seed)] if seeds is None else [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ParameterError(f"seeds={seeds}: give one or more distinct training seeds, e.g. explainer_seeds(cfg, 3)")
    l2i: dict = {}
    messages = []
    for head in ("attention", "max"):
        if f"l2i-{head}" in methods:
            for s in seeds:
                ex, msg = ensure_interpreter(cfg, dataset, head, progress=progress, seed=s)
                ex.training_seed = s
                l2i.setdefault(head, []).append(ex)
                messages.append(msg)
    if l2i:
        model = next(iter(l2i.values()))[0].model
    else:
        clf, meta, msg = ensure_classifier(cfg, dataset)
        model = AudioModel(clf, cfg.preset, multilabel=dataset.multilabel, f_thresholds=meta.get("thresholds"),
                           classes=dataset.classes)
        messages.append(msg)
    out = []
    for m in methods:
        if m.startswith("l2i-"):
            for ex in l2i[m[4:]]:
                ex.detail = False  # the comparison hears the interpretation only
                out.append(ex)
        elif m == "lmac":
            for s in seeds:
                decoder, _, msg = ensure_lmac(cfg, dataset, epochs=lmac_epochs, progress=progress, seed=s)
                lm = LMACMask(decoder, model)
                lm.training_seed = s
                out.append(lm)
                messages.append(msg + (" (l2i's multi-label extension of L-MAC: SpeechBrain's recipe is single-label)"
                                       if dataset.multilabel else ""))
        else:
            out.append(untrained_explainer(model, m, seed=cfg.seed))
    return model, out, messages


def _fsdd():
    """FSDD (the speech contamination's digits), or None with the reason when it is not available."""
    from l2i_core.data import load_dataset

    try:
        return load_dataset("fsdd"), ""
    except (DataNotFoundError, FileNotFoundError) as e:
        return None, f"speech condition left out: {e}"


def _compared(dataset, n_clips: int | None):
    """The test split, its first ``n_clips`` when given (> 0)."""
    test = dataset.split("test")
    if n_clips:
        test = test.subset(range(min(int(n_clips), len(test))))
    return test


class _Conditions:
    """The comparison's inputs of the test split's first ``n_clips`` (scenes), built one condition and one
    range of clips at a time, with the random draws of every clip fixed before any range is built.

    Multi-class data: the mixture partners are drawn once among every compared clip
    (:func:`~l2i_core.evaluate.harness.mixture_partners`, seeded ``cfg.seed``), the white noise from the same
    generator after them and the speech from its own (seeded ``cfg.seed``), clip after clip, as
    :func:`~l2i_core.evaluate.harness.make_conditions` and
    :func:`~l2i_core.evaluate.harness.speech_background` draw them on every clip at once: each clip's
    inputs are the same whatever the ranges, and a range of every clip gives exactly ``make_conditions``'s
    conditions. Ranges are cheapest in order (a generator moves on from where the last range left it;
    going back restarts it from the seed).
    """

    def __init__(self, cfg, dataset, n_clips: int | None = None):
        self.cfg, self.dataset, self.n_clips = cfg, dataset, n_clips
        self.test = _compared(dataset, n_clips)
        if dataset.multilabel:
            stems = any(r.stems for r in self.test)
            self.names = ["scenes"]
            self.note = f"{dataset.name} test {'scenes' if stems else 'clips, each labelled class (no stems: no ground truth)'}"
            return
        if len(self.test) < 2:
            raise ParameterError(f"{dataset.name}: the comparison needs at least 2 test clips (a mixture's partner is "
                                 f"another clip), got {len(self.test)}")
        self.y = np.asarray(self.test.targets(), np.int64)
        self.uids = [r.uid for r in self.test]
        self.fsdd, self.note = _fsdd()
        self.names = ["clean", "mixture", "white noise"] + ([] if self.fsdd is None else ["speech"])
        self.partners = mixture_partners(self.y, self._fresh("mixture"))
        self._rng = {k: self._fresh(k) for k in ("white noise", "speech")}
        self._at = {"white noise": 0, "speech": 0}  # the clip each generator draws for next

    def __len__(self) -> int:
        return len(self.test)

    def _fresh(self, name: str) -> np.random.Generator:
        rng = np.random.default_rng(self.cfg.seed)
        if name == "white noise":  # make_conditions draws the noise after the partners
            mixture_partners(self.y, rng)
        return rng

    def _take(self, name: str, k: int, n_samples: int) -> np.ndarray:
        rng = self._rng[name]
        self._at[name] += k
        if name == "white noise":
            return rng.standard_normal((k, n_samples)).astype(np.float32)
        return speech_background(self.fsdd, self.cfg.preset, k, n_samples, seed=rng)

    def _draw(self, name: str, clips: range, n_samples: int) -> np.ndarray:
        """The noise or speech of ``clips``: the generator moved to their first clip, then drawn."""
        if self._at[name] > clips.start:
            self._rng[name], self._at[name] = self._fresh(name), 0
        while self._at[name] < clips.start:  # the clips before, a range's length at a time, dropped
            self._take(name, min(clips.start - self._at[name], max(len(clips), 1)), n_samples)
        return self._take(name, len(clips), n_samples)

    def range(self, clips: range | None) -> range:
        """``clips`` within the compared clips (every one when None)."""
        n = len(self.test)
        if clips is None:
            return range(0, n)
        if clips.step != 1:
            raise ParameterError(f"clips must be a range of consecutive clips, got {clips}")
        return range(min(max(clips.start, 0), n), min(max(clips.stop, 0), n))

    def build(self, name: str, clips: range):
        """The condition ``name`` of the clips (scenes) ``clips`` (:meth:`range`)."""
        preset = self.cfg.preset
        if self.dataset.multilabel:
            return scene_condition(self.dataset, preset, max_scenes=self.n_clips or None, scenes=clips)
        part = slice(clips.start, clips.stop)
        x = self.test.subset(clips).load_batch(None, preset)
        kw = {}
        if name == "mixture":
            kw["partners"] = self.test.load_batch(self.partners[part], preset)
        elif name == "white noise":
            kw["noise"] = self._draw(name, clips, x.shape[-1])
        elif name == "speech":
            kw["speech"] = self._draw(name, clips, x.shape[-1])
        (cond,) = make_conditions(x, self.y[part], seed=self.cfg.seed, uids=self.uids[part], names=[name], **kw)
        return cond


def build_conditions(cfg, dataset, *, n_clips: int | None = None, clips: range | None = None) -> tuple[list, str]:
    """The inputs of the comparison: for single-label data the test split (its first ``n_clips``)
    under :func:`l2i_core.evaluate.harness.make_conditions`; for scenes with stems
    :func:`~l2i_core.evaluate.harness.scene_condition`. Returns the conditions and a note.

    ``clips`` (a range of indices into those clips, or scenes: one pass of :func:`comparison_passes`, with
    the same ``n_clips``): the conditions of these clips only, each clip's inputs exactly what they are
    among every compared clip (mixture partners drawn among every compared clip, noise and speech drawn
    for every clip before it; see :func:`comparison_study`).
    """
    src = _Conditions(cfg, dataset, n_clips)
    part = src.range(clips)
    conds = [src.build(name, part) for name in src.names]
    if dataset.multilabel:
        return conds, src.note + ("" if clips is None else f" {part.start}-{part.stop - 1}")
    where = "" if clips is None else f" (clips {part.start}-{part.stop - 1} of {len(src)})"
    return conds, src.note or f"{len(part)} test clips of {dataset.name}{where}"


def _backward_bytes(model: AudioModel, x0: np.ndarray) -> int:
    """Bytes f saves for its backward pass on the clip ``x0`` (its activations; its weights not counted):
    what the gradient methods hold per row, since they differentiate every row of a condition at once."""
    import torch

    weights = {t.untyped_storage().data_ptr() for t in (*model.classifier.parameters(), *model.classifier.buffers())}
    saved: dict[int, int] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in weights:
            saved[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.no_grad():
        z = model.input_fn(model.waveforms(x0[None]))
    z.requires_grad_(True)
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.classifier(z)
    return int(sum(saved.values()) + 2 * z.numel() * z.element_size())  # with the input and its gradient


def comparison_bytes_per_clip(cfg, dataset, *, n_clips: int | None = None, model: AudioModel | None = None) -> np.ndarray:
    """Estimated bytes each compared test clip (scene, for multi-label data) takes in a pass of
    :func:`comparison_study`: ``(n,)`` int64, one per clip of the test split's first ``n_clips``.

    With ``n`` the samples of the split's first clip (loaded) and ``F × T`` the preset's STFT of it (V's
    grid, what every explanation holds), in float32 (4 bytes)::

        row          = 4 · (24 · F·T + 6 · n) + g
        clip         = 4 · 12 · n + row          (multi-class: one explained row per condition, f's class)
        scene        = r · (4 · 4 · n + row)     (r labelled classes: one row each; with stems, of scenes with stems)

    12 waveforms hold a multi-class clip's conditions (the first pass's four, which the notebook holds, and
    the one condition being built and explained: its input and stem, the clip, what was drawn,
    temporaries), 4 a scene row's (input and stem, listed then stacked). :func:`comparison_study` builds,
    explains and drops one condition of one pass at a time, and
    :func:`~l2i_core.evaluate.harness.compare` explains and scores one (condition, method) at a time,
    keeping only the scores: 24 (F, T) arrays and 6 waveforms per row cover the explanation, the previous
    one and the temporaries of scoring it. ``g``: with ``model``, the bytes f saves for backward on one
    clip (measured, :func:`_backward_bytes`), which Saliency, Integrated Gradients and SmoothGrad hold for
    every row of a condition at once; 0 without it. On the ``cpu`` preset with a small CNN the peak
    resident memory grew by 3.0 MB per 1-s clip with the random and oracle masks (estimate 3.7) and by
    5.7 MB with Saliency (estimate 11). What does not grow with the clips (the models, torch's
    workspace, captum's batches of at least 64 inputs) is left to the rest of the budget.
    """
    import torch

    from l2i_core.audio.frontend import FrontEnd

    test = _compared(dataset, n_clips)
    if not len(test):
        return np.zeros(0, np.int64)
    x0 = test.load(0, cfg.preset)
    n = int(x0.shape[-1])
    ft = int(np.prod(FrontEnd(cfg.preset).stft(torch.zeros(1, n)).shape[1:]))
    row = 4 * (_EXPLANATION_SPECTROGRAMS * ft + _EXPLANATION_WAVEFORMS * n)
    if model is not None:
        row += _backward_bytes(model, x0)
    if dataset.multilabel:
        stems = any(r.stems for r in test)  # without stems (SONYC-UST) every labelled clip is explained
        rows = np.array([len(r.labels) if (r.stems or not stems) else 0 for r in test], np.int64)
        return rows * (4 * _SCENE_ROW_WAVEFORMS * n + row)
    return np.full(len(test), 4 * _CONDITION_WAVEFORMS * n + row, np.int64)


def comparison_passes(cfg, dataset, *, n_clips: int | None = None, model: AudioModel | None = None) -> list[range]:
    """The test clips (scenes, for multi-label data) of the comparison, in passes scored together.

    Ranges of indices into ``dataset.split("test")`` (its first ``n_clips``): one pass ``[range(0, n)]``
    when the estimate of :func:`comparison_bytes_per_clip` (with f's backward when ``model`` is given:
    pass it when gradient methods are compared) summed over every clip fits
    :data:`COMPARISON_MEMORY_SHARE` of ``cfg.memory_gb`` GB (the run's budget: the notebooks'
    ``memory_gb``, else ``$L2I_MEMORY_GB``, else 4); otherwise consecutive ranges, each as long as fits
    that share. A pass holds at least one clip (a pass of scenes at least one labelled scene, the only
    ones that are explained), even where one is more than the share: a pass grows until it does, and
    trailing scenes with no label join the pass before. The passes change how much is held at once, not
    the numbers (:func:`comparison_study`).
    """
    per = comparison_bytes_per_clip(cfg, dataset, n_clips=n_clips, model=model)
    n = len(per)
    if not n:
        return []
    room = COMPARISON_MEMORY_SHARE * float(cfg.memory_gb) * 2**30
    if per.sum() <= room:
        return [range(0, n)]
    passes: list[range] = []
    start = 0
    while start < n:
        stop, total = start, 0
        while stop < n and (total == 0 or total + per[stop] <= room):  # total 0: nothing explained yet
            total += int(per[stop])
            stop += 1
        if total == 0 and passes:  # only scenes with no label left: they join the pass before
            passes[-1] = range(passes[-1].start, stop)
        else:
            passes.append(range(start, stop))
        start = stop
    return passes


def comparison_study(cfg, dataset, model: AudioModel, explainers, conditions=None, *, passes=None,
                     ff_fraction: float = 0.1, progress: bool = True) -> ComparisonStudy:
    """Every explainer on every condition (:func:`l2i_core.evaluate.harness.compare`) and the paired Wilcoxon tests
    read as a reviewer reads them (:meth:`~l2i_core.evaluate.harness.ComparisonStudy.review`).

    ``conditions`` (built by the caller), or ``passes`` (:func:`comparison_passes`: consecutive ranges from
    clip 0 over the compared clips, the test split's first ``passes[-1].stop``): then each condition is
    built one pass at a time (:func:`build_conditions` with ``clips=``), explained, scored and dropped,
    condition after condition, so memory follows the pass and not the split. With both, ``conditions``
    are the first pass's (``build_conditions(cfg, dataset, n_clips=..., clips=passes[0])``, which a
    notebook shows), scored as they are instead of built again.

    The passes do not change the inputs or the random draws: every clip's mixture partner, noise and speech
    are drawn as for every clip at once (:func:`build_conditions`), and the conditions are explained in the
    order one pass explains them (each condition's passes in turn), so an explainer drawing from its own
    generator (the random mask) draws for each row what one pass draws. One pass gives exactly the
    scores of ``conditions=build_conditions(...)``; several give the same rows, in the same order
    (condition, method, row), with ``row`` numbered on across the passes, up to what an explainer computes
    from the whole batch it is given: the last bits of float32 sums over f's batches of other sizes (SmoothGrad's
    noise is each clip's own, :func:`~l2i_core.explain.gradients.gradient_attribution`). The tables,
    tests and record are computed once, over every row. ``attrs['seconds']`` sums the passes;
    :attr:`ComparisonStudy.first_pass_rows` says which rows index the first pass's conditions.
    """
    if passes is None:
        if conditions is None:
            raise ParameterError("comparison_study: give the conditions, or the passes (comparison_passes)")
        df = compare(explainers, model, conditions, ff_fraction=ff_fraction, progress=progress)
        return _study(dataset, explainers, df, [c.name for c in conditions if c.stem is not None],
                      notes={c.name: c.note for c in conditions}, inputs={c.name: len(c.x) for c in conditions})
    passes = [range(p.start, p.stop) for p in passes]
    if not passes:
        raise ParameterError("comparison_study: no pass, so no clip to compare")
    if (passes[0].start != 0 or any(len(p) == 0 for p in passes)
            or any(p.start != q.stop for q, p in zip(passes, passes[1:]))):
        raise ParameterError(f"comparison_study: passes must be consecutive ranges from clip 0 (comparison_passes), "
                             f"got {passes}")
    src = _Conditions(cfg, dataset, passes[-1].stop)
    if passes[-1].stop > len(src):
        raise ParameterError(f"comparison_study: the passes reach clip {passes[-1].stop - 1}, the test split has "
                             f"{len(src)}")
    given = {c.name: c for c in conditions} if conditions is not None else {}
    unknown = sorted(set(given) - set(src.names))
    if unknown:
        raise ParameterError(f"comparison_study: conditions {unknown} are not among this comparison's {src.names}")
    if not dataset.multilabel:
        want = src.uids[passes[0].start:passes[0].stop]
        if any(list(c.uid) != want for c in given.values()):
            raise ParameterError("comparison_study: the conditions given are not the first pass's: build them with "
                                 "build_conditions(cfg, dataset, n_clips=..., clips=passes[0])")
    names = src.names
    from tqdm.auto import tqdm

    several = len(passes) > 1
    jobs = [(name, k, clips) for name in names for k, clips in enumerate(passes)]
    frames: dict[str, list] = {name: [] for name in names}
    seconds: dict[str, float] = {}
    offset: dict[str, int] = dict.fromkeys(names, 0)
    first: dict[str, tuple] = {}  # the first pass's conditions: name -> (note, inputs, with a stem)
    for name, k, clips in tqdm(jobs, desc="conditions × passes", disable=not (progress and several)):
        cond = given[name] if k == 0 and name in given else src.build(name, clips)
        df = compare(explainers, model, [cond], ff_fraction=ff_fraction, progress=progress and not several)
        for key, sec in df.attrs.get("seconds", {}).items():
            seconds[key] = seconds.get(key, 0.0) + sec
        start = offset[name]
        if start:
            df["row"] += start
            if not cond.uid:  # compare's uid is then the row
                df["uid"] = df["row"]
        rows = int(df["row"].max()) + 1 - start if len(df) else 0
        offset[name] = start + max(len(cond.x), rows)
        if k == 0:
            first[name] = (cond.note, max(len(cond.x), rows), cond.stem is not None)
        frames[name].append(df)
        del cond, df
    order: dict = {}
    for e in explainers:  # (method, seed) in the explainers' order: a method's seeds one after the other
        order.setdefault((e.name, int(getattr(e, "training_seed", 0) or 0)), len(order))
    parts = []
    for name in names:  # one condition's rows: method after method, row after row, as one pass gives them
        d = pd.concat(frames.pop(name), ignore_index=True)
        if several:
            key = [order[(m, int(s))] for m, s in zip(d["method"], d["seed"])]
            d = d.iloc[np.argsort(np.asarray(key), kind="stable")]
        parts.append(d)
    out = pd.concat(parts, ignore_index=True)
    out.attrs["seconds"] = seconds
    return _study(dataset, explainers, out, [c for c, v in first.items() if v[2]],
                  notes={c: v[0] for c, v in first.items()}, inputs=offset,
                  first_pass_rows={c: v[1] for c, v in first.items()} if several else None)


def _study(dataset, explainers, df: pd.DataFrame, with_stem: list, *, notes: dict, inputs: dict,
           first_pass_rows: dict | None = None) -> ComparisonStudy:
    """The :class:`ComparisonStudy` of the scores ``df`` (its tables and tests are computed from the rows when
    asked: :meth:`ComparisonStudy.review`, :meth:`ComparisonStudy.tests_table`)."""
    return ComparisonStudy(dataset=dataset.name, scores=df, notes=notes, inputs=dict(inputs),
                           first_pass_rows=dict(first_pass_rows or {}))


def lmac_summary(cfg) -> dict:
    """How the L-MAC of ``cfg.artifacts_dir`` was trained (for ``results.json``): epochs, the epoch
    selected on validation, its score, seconds, learning rate and loss weights."""
    side = Path(cfg.artifacts_dir) / "lmac.json"
    if not side.is_file():
        return {}
    m = json.loads(side.read_text())
    hist = m.get("history", [])
    return {"epochs": len(hist), "best_epoch": m.get("best_epoch"), "best_score": m.get("best_score"),
            "selection_metric": m.get("selection_metric", ""), "train_seconds": float(sum(h.get("seconds", 0) for h in hist)),
            "config": m.get("config", {})}
