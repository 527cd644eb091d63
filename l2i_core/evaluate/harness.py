"""The comparison harness: every explainer on the same clips, scored by the same protocols.

Any :class:`~l2i_core.explain.interface.Explainer` (L2I with either head, L-MAC, Saliency, Integrated
Gradients, SmoothGrad, random, identity, the oracle IRM) is run on each :class:`Condition` and every
explanation row is scored by :func:`score_explanation`:

* L-MAC's protocol (Paissan et al., 2024), on f's probabilities of the explained class c with the
  explanation heard (mask-in audio ``iSTFT(expm1(M ⊙ V) e^{i∠X})``, re-analysed by f's front end; on a
  preset with ``masks_on_grid``, ``efficientat``, the masked magnitude itself on f's own STFT grid, as
  SpeechBrain's evaluation masks CNN14's STFT, with no round trip):
  AI, AD, AG, Fid-In (:func:`l2i_core.metrics.mask_in_metrics`), FF = the probability drop when the
  explanation is removed (mask-out ``(1 − M) ⊙ V``), SPS (Gini index of M) and COMP (entropy of the
  normalised M) (:func:`l2i_core.metrics.sparseness`, :func:`~l2i_core.metrics.complexity`); beside
  them AD and Fid-In *as SpeechBrain's recipe computes them*
  (:func:`l2i_core.metrics.mask_in_metrics_speechbrain`), so that a reader sees how much of its
  published L2I row comes from those bugs;
* L2I's protocol at matched sparsity: every mask binarised to its top ``ff_fraction`` of bins
  (the same share for every method), those bins removed, resynthesised, re-analysed: f's logit drop;
  deletion / insertion curves over the share of bins removed / kept, ranked by each mask;
* ground truth, where the stem of the explained class is known (mixtures, noise, speech, scenes):
  SI-SDR of the explanation against the true stem, its improvement over the input, and the share of
  the explanation's energy inside the stem's time-frequency support.

The conditions follow SpeechBrain's ``eval.py`` (:func:`make_conditions`): clean; a mixture with a
clip of another class; white noise; speech contamination (FSDD's spoken digits here, where SpeechBrain
uses LJSpeech). Every summary carries a 95 % bootstrap confidence interval (:mod:`l2i_core.stats`)
and :func:`paired_comparison` gives the Wilcoxon signed-rank test of two methods on the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

import l2i_core.evaluate.stats as stats
from l2i_core import metrics
from l2i_core._errors import ParameterError
from l2i_core.evaluate.ground_truth import MATCHED_SHARES, matched_columns, matched_sparsity_scores
from l2i_core.evaluate.tables import REFERENCES, ReviewerTable, reviewer_table
from l2i_core.explain.gradients import bin_ranks, top_fraction_mask_from_ranks
from l2i_core.explain.interface import AudioModel, Explainer, Explanation
from l2i_core.paper import SPEECHBRAIN_ESC50

__all__ = ["Condition", "make_conditions", "mixture_partners", "scene_condition", "speech_background", "score_explanation",
           "compare", "summary_table", "paired_comparison", "CURVE_FRACTIONS", "METRIC_COLUMNS",
           "GROUND_TRUTH_COLUMNS", "randomize_classifier", "mask_rank_correlation", "ComparisonStudy",
           "leaders", "HIGHER_IS_BETTER", "speechbrain_table"]

#: Shares of the time-frequency plane removed (deletion) or kept (insertion) along the curves.
CURVE_FRACTIONS = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)

#: Scored columns, in table order, with their display names.
METRIC_COLUMNS = {"AI": "AI (%)", "AD": "AD (%)", "AG": "AG (%)", "fid_in": "Fid-In", "FF": "FF (prob)",
                  "SPS": "SPS", "COMP": "COMP", "FF_matched": "FF matched (logit)",
                  "deletion_area": "deletion AUC", "insertion_area": "insertion AUC", "mask_mean": "mask mean",
                  "AD_speechbrain": "AD as SpeechBrain (%)", "fid_in_speechbrain": "Fid-In as SpeechBrain"}
GROUND_TRUTH_COLUMNS = {"si_sdr": "SI-SDR (dB)", "si_sdri": "SI-SDRi (dB)",
                        "energy_in_support": "energy in stem support",
                        **{k: v for k, v in matched_columns().items() if k.endswith("_matched")}}
#: The matched-sparsity scores at each share of bins (:mod:`l2i_core.evaluate.ground_truth`): the curves.
MATCHED_CURVE_COLUMNS = {k: v for k, v in matched_columns().items() if "@" in k}


@dataclass
class Condition:
    """One set of inputs every explainer is run on.

    Attributes
    ----------
    name : str
    x : np.ndarray [shape=(B, n_samples)]
        The inputs (what f hears).
    label : np.ndarray [shape=(B,)]
        The true class of each input's stem (clean: its label).
    stem : np.ndarray [shape=(B, n_samples)] or None
        The part of ``x`` that is the labelled sound, when it is known.
    target : np.ndarray [shape=(B,)] or None
        Class explained in each row; ``None`` explains f's own prediction (as SpeechBrain's eval).
    uid : list of str
    note : str
        How the inputs were made (printed under the tables).
    """

    name: str
    x: np.ndarray
    label: np.ndarray
    stem: np.ndarray | None = None
    target: np.ndarray | None = None
    uid: list = field(default_factory=list)
    note: str = ""


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _peak(x: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Scale ``x`` (and ``others`` by the same gain) to a peak of 1, as f's inputs are."""
    g = 1.0 / np.maximum(np.abs(x).max(axis=-1, keepdims=True), 1e-8)
    return tuple((a * g).astype(np.float32) for a in (x, *others))


def speech_background(fsdd, preset, n_clips: int, n_samples: int, *, split: str = "test",
                      seed: int | Sequence[int] | np.random.Generator = 0) -> np.ndarray:
    """``(n_clips, n_samples)`` of continuous speech: FSDD spoken digits of ``split`` drawn at random
    (seeded: an int, a sequence of ints or a generator, as :func:`numpy.random.default_rng` takes) and
    concatenated until each clip is full. The digits are drawn clip after clip, so a generator handed to
    successive calls draws for their clips what one call on all of them would."""
    sub = fsdd.split(split)
    rng = np.random.default_rng(seed)
    out = np.zeros((n_clips, n_samples), np.float32)
    for i in range(n_clips):
        pos = 0
        while pos < n_samples:
            rec = sub[int(rng.integers(len(sub)))]
            y = sub.load(rec, preset)
            nz = np.flatnonzero(np.abs(y) > 1e-4)
            y = y[nz[0] : nz[-1] + 1] if len(nz) else y
            take = min(len(y), n_samples - pos)
            out[i, pos : pos + take] = y[:take]
            pos += take
    return out


def mixture_partners(labels, seed: int | Sequence[int] | np.random.Generator = 0) -> np.ndarray:
    """The mixture partner of each clip of classes ``labels``: the index of a clip of **another** class,
    drawn at random (seeded as :func:`numpy.random.default_rng` takes; the next clip when every clip is of
    one class). :func:`make_conditions` draws them first, then the noise, from the same generator."""
    y = np.asarray(labels, np.int64).reshape(-1)
    rng = np.random.default_rng(seed)
    return np.array([rng.choice(np.flatnonzero(y != c)) if (y != c).any() else (i + 1) % len(y)
                     for i, c in enumerate(y)], np.int64)


#: The conditions of :func:`make_conditions`, in order.
_CONDITION_NAMES = ("clean", "mixture", "white noise", "speech")


def make_conditions(x, labels, *, speech=None, seed: int | Sequence[int] | np.random.Generator = 0,
                    uids: Sequence[str] | None = None, mixture_gains: tuple[float, float] = (0.8, 0.2),
                    noise_gain: float = 0.5, speech_gains: tuple[float, float] = (0.8, 0.2),
                    partners=None, noise=None, names: Sequence[str] | None = None) -> list[Condition]:
    """SpeechBrain ``eval.py``'s conditions on clips ``x`` of classes ``labels`` (peak-normalised after).

    * ``clean``: the clips;
    * ``mixture``: ``0.8 s/‖s‖ + 0.2 n/‖n‖`` with ``n`` a clip of **another** class of the same set
      (drawn at random, seeded: :func:`mixture_partners`); the stem is the first term. SpeechBrain draws
      ``n`` from another fold without checking its class, so its "mixtures" are sometimes of one class;
    * ``white noise``: ``s/‖s‖ + 0.5 n/‖n‖`` with Gaussian ``n`` (seeded here, unseeded there);
    * ``speech``: ``0.8 s/‖s‖ + 0.2 n/‖n‖`` (its mixture formula) with ``n`` = ``speech``
      (:func:`speech_background`; SpeechBrain uses LJSpeech); left out when ``speech`` is None.

    Each contaminated input is scaled to a peak |value| of 1 (with its stem), like every input of f
    (SpeechBrain divides by the maximum value). ``seed``: an int, a sequence of ints or a generator
    (:func:`numpy.random.default_rng`); the partners are drawn from it first, then the noise.

    ``partners`` (``(B, n_samples)``: each clip's partner, e.g. drawn by :func:`mixture_partners` among a
    larger set) and ``noise`` (``(B, n_samples)``, the Gaussian draw) replace those draws; ``names`` keeps
    only these conditions (of clean, mixture, white noise, speech). Together they build one condition of
    part of a larger set with the draws of the whole (:func:`~l2i_core.pipeline.explainer_study.comparison_study`
    in several passes).
    """
    x = np.asarray(x, np.float32)
    y = np.asarray(labels, np.int64).reshape(-1)
    want = list(_CONDITION_NAMES) if names is None else list(names)
    unknown = [n for n in want if n not in _CONDITION_NAMES]
    if unknown:
        raise ParameterError(f"unknown conditions {unknown}; choose among {list(_CONDITION_NAMES)}")
    draw_partners = partners is None and ("mixture" in want or ("white noise" in want and noise is None))
    if x.ndim != 2 or len(x) != len(y) or len(x) < (2 if draw_partners else 1):
        need = "B >= 2" if draw_partners else "B >= 1"
        raise ParameterError(f"x must be ({need}, n_samples) with one label per clip; got {x.shape} and {y.shape}")
    rng = np.random.default_rng(seed)
    uid = list(uids) if uids is not None else [str(i) for i in range(len(x))]
    if draw_partners:
        partners = x[mixture_partners(y, rng)]
    out = []
    if "clean" in want:
        out.append(Condition("clean", x, y, stem=None, uid=uid, note="the test clips as they are"))
    if "mixture" in want:
        a, b = mixture_gains
        other = np.asarray(partners, np.float32)
        if other.shape != x.shape:
            raise ParameterError(f"partners must have the clips' shape {x.shape}, got {other.shape}")
        mix, stem = _peak(a * _unit(x) + b * _unit(other), a * _unit(x))
        out.append(Condition("mixture", mix, y, stem=stem, uid=uid,
                             note=f"{a}·s/‖s‖ + {b}·n/‖n‖, n a test clip of another class (seed {seed})"))
    if "white noise" in want:
        noise = rng.standard_normal(x.shape).astype(np.float32) if noise is None else np.asarray(noise, np.float32)
        if noise.shape != x.shape:
            raise ParameterError(f"noise must have the clips' shape {x.shape}, got {noise.shape}")
        noisy, stem = _peak(_unit(x) + noise_gain * _unit(noise), _unit(x))
        out.append(Condition("white noise", noisy, y, stem=stem, uid=uid,
                             note=f"s/‖s‖ + {noise_gain}·n/‖n‖, n Gaussian"))
    if speech is not None and "speech" in want:
        sp = np.asarray(speech, np.float32)
        if sp.shape != x.shape:
            raise ParameterError(f"speech must have the clips' shape {x.shape}, got {sp.shape}")
        a, b = speech_gains
        talk, stem = _peak(a * _unit(x) + b * _unit(sp), a * _unit(x))
        out.append(Condition("speech", talk, y, stem=stem, uid=uid,
                             note=f"{a}·s/‖s‖ + {b}·n/‖n‖, n FSDD spoken digits concatenated (SpeechBrain: LJSpeech)"))
    return out


def scene_condition(dataset, preset, *, split: str = "test", max_scenes: int | None = None,
                    scenes: range | None = None) -> Condition:
    """Scenes with known stems (urbanmix): one row per labelled class of each scene, explaining that
    class, its stem known; the scene is the exact sum of its stems, peak-normalised (stems alike).
    Multi-label data without stems (SONYC-UST): one row per labelled class of each clip, the clip as it
    is, ``stem=None`` (every score but the ground truth).

    ``max_scenes`` keeps the split's first scenes; ``scenes`` (indices into the split, within those
    first ``max_scenes``) only these, e.g. one pass of
    :func:`~l2i_core.pipeline.explainer_study.comparison_passes`."""
    sub = dataset.split(split)
    if max_scenes is not None:
        sub = sub.subset(range(min(max_scenes, len(sub))))
    if scenes is not None:
        sub = sub.subset([i for i in scenes if 0 <= i < len(sub)])
    with_stems = any(r.stems for r in sub)
    xs, stems, labels, uids = [], [], [], []
    for rec in sub:
        if not rec.labels:
            continue
        if not with_stems:  # SONYC-UST and other multi-label data without stems: the clip, no ground truth
            clip = sub.load(rec, preset)
            for c in rec.labels:
                xs.append(clip)
                labels.append(dataset.class_index(c))
                uids.append(f"{rec.uid}:{c}")
            continue
        parts = sub.load_stems(rec, preset)
        scene = np.sum(list(parts.values()), axis=0)
        for c in rec.labels:
            s, st = _peak(scene, parts[c])
            xs.append(s)
            stems.append(st)
            labels.append(dataset.class_index(c))
            uids.append(f"{rec.uid}:{c}")
    if not xs:
        raise ParameterError(f"{dataset.name}: no labelled {'scenes with stems' if with_stems else 'clips'} in split {split!r}")
    lab = np.array(labels)
    if not with_stems:
        return Condition("scenes", np.stack(xs), lab, stem=None, target=lab, uid=uids,
                         note="each labelled class of each test clip (no stems: no ground truth)")
    return Condition("scenes", np.stack(xs), lab, stem=np.stack(stems), target=lab, uid=uids,
                     note="each labelled class of each test scene, explained against its own stem")


def _top(ranks: np.ndarray, q: float) -> torch.Tensor:
    """``top_fraction_mask(mask, q)`` from the mask's :func:`~l2i_core.explain.gradients.bin_ranks`, without sorting again."""
    return torch.from_numpy(top_fraction_mask_from_ranks(ranks, q))


def _curves(model: AudioModel, exp: Explanation, fractions: Sequence[float],
            ranks: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Deletion and insertion areas: f's probability of the target with the top share of bins (ranked
    by the mask) removed / alone, for each share (magnitude path, no round trip)."""
    V = torch.from_numpy(exp.V)
    ph = None if model.fe.shared_stft else torch.from_numpy(exp.phase)  # f with its own STFT: through audio
    rows = np.arange(len(exp))
    ranks = bin_ranks(exp.mask) if ranks is None else ranks  # one sort per clip for every share
    dele, ins = [], []
    for q in fractions:
        keep = _top(ranks, max(q, 1e-9)) if q > 0 else torch.zeros_like(V)
        for out, spec in ((dele, (1 - keep) * V), (ins, keep * V)):
            lg = model.logits_of(spec, ph, length=None if ph is None else exp.audio.shape[-1])
            out.append(model.probabilities(lg).cpu().numpy()[rows, exp.target])
    return {"deletion_area": metrics.curve_area(np.stack(dele, 1), x=np.asarray(fractions)),
            "insertion_area": metrics.curve_area(np.stack(ins, 1), x=np.asarray(fractions))}


@torch.no_grad()
def score_explanation(exp: Explanation, model: AudioModel, *, inputs=None, stem=None, ff_fraction: float = 0.1,
                      curves: bool = False, fractions: Sequence[float] = CURVE_FRACTIONS,
                      speechbrain_fid_class: int | None = None) -> pd.DataFrame:
    """Every protocol's score for each row of ``exp`` (see the module docstring).

    Parameters
    ----------
    exp : Explanation
        With its audio (``with_audio=True``).
    model : AudioModel
        The f that was explained.
    inputs : np.ndarray [shape=(B, n_samples)] or None
        The explained waveforms, one per clip (needed with ``stem``); row j's is ``inputs[exp.clip[j]]``.
    stem : np.ndarray [shape=(B, n_samples)] or None
        The true stem of the explained sound in each input: adds the ground-truth columns.
    ff_fraction : float
        The share of bins every mask is binarised to for ``FF_matched``.
    curves : bool
        Also the deletion / insertion areas over ``fractions``.
    speechbrain_fid_class : int or None
        The class SpeechBrain's buggy Fid-In compares with (0 for its L2I row); None: f's class.

    Returns
    -------
    pandas.DataFrame
        One row per explanation row: ``row`` (its index in ``exp``), ``method``, ``target`` and the
        columns of :data:`METRIC_COLUMNS` (and :data:`GROUND_TRUTH_COLUMNS` with ``stem``).
    """
    if exp.audio is None:
        raise ParameterError("score_explanation needs the explanations' audio: attribute(..., with_audio=True)")
    n = exp.audio.shape[-1]
    t, rows = exp.target, np.arange(len(exp))
    M, V, ph = (torch.from_numpy(a) for a in (exp.mask, exp.V, exp.phase))
    if model.on_grid:  # the preset scores masks on f's own STFT (efficientat): no iSTFT -> STFT round trip
        ph = None
    before = torch.from_numpy(exp.f_logits)
    in_logits = model.logits_of(M * V, ph, length=n).cpu()
    out_logits = model.logits_of((1 - M) * V, ph, length=n).cpu()
    p, q = (model.probabilities(lg).cpu().numpy() for lg in (before, in_logits))
    mi = metrics.mask_in_metrics(p, q, target=t)["per_clip"]
    if model.multilabel:  # Fid-In: f still decides the explained class on the explanation alone
        mi["fid_in"] = (q[rows, t] > model.f_thresholds[t]).astype(np.float64)
    ranks = bin_ranks(exp.mask)  # sorted once: FF_matched and every share of the curves
    binary = _top(ranks, ff_fraction)
    matched = model.logits_of((1 - binary) * V, ph, length=n).cpu()
    df = pd.DataFrame({
        "row": rows, "method": exp.method, "target": t, **{k: mi[k] for k in ("AI", "AD", "AG", "fid_in")},
        "FF": metrics.probability_drop(before, out_logits, t, multilabel=model.multilabel),
        "FF_logit": metrics.logit_drop(before, out_logits, t),
        "FF_matched": metrics.logit_drop(before, matched, t),
        "SPS": metrics.sparseness(exp.mask), "COMP": metrics.complexity(exp.mask), "mask_mean": exp.sparsity})
    if not model.multilabel:
        sb = metrics.mask_in_metrics_speechbrain(p, q, fid_in_class=speechbrain_fid_class)["per_clip"]
        df["AD_speechbrain"], df["fid_in_speechbrain"] = sb["AD"], sb["fid_in"]
    if curves:
        for k, v in _curves(model, exp, fractions, ranks).items():
            df[k] = v
    if stem is not None:
        if inputs is None:
            raise ParameterError("ground-truth scores need the inputs beside the stems: pass inputs=")
        s, x = np.asarray(stem, np.float32), np.asarray(inputs, np.float32)
        if not np.array_equal(exp.clip, np.arange(len(x))):  # not one row per clip, in order
            s, x = s[exp.clip], x[exp.clip]
        S = model.fe.stft(torch.from_numpy(s)).abs().cpu().numpy()
        N = model.fe.stft(torch.from_numpy(x - s)).abs().cpu().numpy()
        df["si_sdr"] = metrics.si_sdr(exp.audio, s)
        df["si_sdri"] = metrics.si_sdr_improvement(exp.audio, x, s)
        df["energy_in_support"] = metrics.energy_in_support(exp.magnitude, S, N)
        matched = matched_sparsity_scores(exp.mask, exp.V, exp.phase, x, s, model.fe, ranks=ranks)
        for k, v in matched.items():
            df[k] = v
    return df


def compare(explainers: Sequence[Explainer], model: AudioModel, conditions: Sequence[Condition], *,
            ff_fraction: float = 0.1, curves: Sequence[str] = ("clean",), progress: bool = True) -> pd.DataFrame:
    """Run every explainer on every condition and score it (:func:`score_explanation`).

    The oracle (``needs_stems``) runs only where the stems are known. Each row records the
    condition, its clip's ``uid`` and true ``label`` (through :attr:`Explanation.clip`),
    ``explains_label`` (the explained class is the stem's: where the ground truth applies), ``seed`` (the
    explainer's ``training_seed``: several explainers of one name and different seeds are rows of one
    method) and ``unit`` (the independent unit: the clip, or the scene of a ``"<scene>:<class>"`` uid).
    Seconds per condition and explainer (and seed) are in ``df.attrs['seconds']``.
    """
    import time

    from tqdm.auto import tqdm

    jobs = [(c, e) for c in conditions for e in explainers if c.stem is not None or not e.needs_stems]
    frames, seconds = [], {}
    for cond, ex in tqdm(jobs, desc="explainers × conditions", disable=not progress):
        t0 = time.perf_counter()
        exp = ex.attribute(cond.x, cond.target, stems=cond.stem)
        sb_class = 0 if ex.name.startswith("L2I") else None
        df = score_explanation(exp, model, inputs=cond.x, stem=cond.stem, ff_fraction=ff_fraction, curves=cond.name in curves,
                               speechbrain_fid_class=sb_class)
        df.insert(0, "condition", cond.name)
        clip = exp.clip[df["row"].to_numpy()]
        df["uid"] = [cond.uid[i] for i in clip] if cond.uid else df["row"]
        df["label"] = cond.label[clip]
        df["explains_label"] = df["target"].to_numpy() == df["label"].to_numpy()
        df["seed"] = int(getattr(ex, "training_seed", 0) or 0)
        df["unit"] = [str(u).split(":")[0] for u in df["uid"]]  # a scene's rows ("<scene>:<class>") are one unit
        frames.append(df)
        key = f"{cond.name} / {ex.name}" + (f" / seed {df['seed'].iat[0]}" if hasattr(ex, "training_seed") else "")
        seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - t0
    out = pd.concat(frames, ignore_index=True)
    out.attrs["seconds"] = seconds
    return out


def review(df: pd.DataFrame, condition: str, *, columns: Sequence[str] | None = None, ground_truth_only: bool = False,
           references: Sequence[str] = REFERENCES, seed: int = 0) -> ReviewerTable:
    """:func:`~l2i_core.evaluate.tables.reviewer_table` of one condition of :func:`compare`'s rows: every
    cell with its n, units and seeds and an interval of the right kind (none below n = 10), the contestants'
    paired tests Holm-corrected over the table, a leader only where the corrected test rejects. Units are
    clips, or scenes (``unit``); the references (identity, random, oracle) are rows, never contestants.
    ``columns`` default: every metric of :data:`METRIC_COLUMNS` (or :data:`GROUND_TRUTH_COLUMNS` with
    ``ground_truth_only``, which keeps the rows whose explained class is the stem's)."""
    names = {**METRIC_COLUMNS, **GROUND_TRUTH_COLUMNS, **MATCHED_CURVE_COLUMNS}
    cols = list(columns or (GROUND_TRUTH_COLUMNS if ground_truth_only else METRIC_COLUMNS))
    unit = "unit" if "unit" in df.columns else "uid"
    return reviewer_table(df, condition, cols, higher_is_better=HIGHER_IS_BETTER, names=names,
                          ground_truth_only=ground_truth_only, unit=unit, references=references, seed=seed)


def summary_table(df: pd.DataFrame, condition: str, *, columns: Sequence[str] | None = None,
                  ground_truth_only: bool = False, digits: int = 2, seed: int = 0) -> pd.DataFrame:
    """One row per method, one column per metric: the estimate and its 95 % interval (``"61.6 [58.2, 64.9]"``,
    no interval below n = 10 units) and the rows, units and seeds behind it (:func:`review`)."""
    names = {**METRIC_COLUMNS, **GROUND_TRUTH_COLUMNS}
    cols = [c for c in (columns or names) if c in df.columns]
    return review(df, condition, columns=cols, ground_truth_only=ground_truth_only, seed=seed).frame(digits)


def paired_comparison(df: pd.DataFrame, a: str, b: str, *, condition: str, column: str,
                      ground_truth_only: bool = True) -> dict:
    """Wilcoxon signed-rank test of methods ``a`` and ``b`` on ``column``, paired on the same rows of
    ``condition`` (:func:`l2i_core.evaluate.stats.paired_test`), with the median of ``a − b``. No common rows
    (f never predicts the stem's class, say): ``n = 0`` and a NaN p-value."""
    d = df[df["condition"] == condition]
    if ground_truth_only:
        d = d[d["explains_label"]]
    wide = d.pivot_table(index="row", columns="method", values=column)
    pair = (wide[[a, b]].to_numpy().T if a in wide and b in wide else np.zeros((2, 0)))
    return {"a": a, "b": b, "condition": condition, "column": column, **stats.paired_test(*pair)}


# -- the randomisation sanity check (Adebayo et al., 2018) ------------------------------------------
def randomize_classifier(classifier: torch.nn.Module, part: str = "output", *, seed: int = 0) -> torch.nn.Module:
    """A copy of ``classifier`` with re-initialised weights: the output layer only (``'output'``: the
    last ``nn.Linear``) or every layer with parameters (``'all'``), each by its own ``reset_parameters``
    under ``torch.manual_seed(seed)`` (the global generator is restored afterwards)."""
    import copy

    if part not in ("output", "all"):
        raise ParameterError(f"part must be 'output' or 'all', got {part!r}")
    net = copy.deepcopy(classifier)
    layers = [m for m in net.modules() if hasattr(m, "reset_parameters") and any(True for _ in m.parameters(False))]
    if part == "output":
        layers = [m for m in layers if isinstance(m, torch.nn.Linear)][-1:]
        if not layers:
            raise ParameterError("the classifier has no nn.Linear output layer to randomise")
    with torch.random.fork_rng():
        torch.manual_seed(int(seed))
        for m in layers:
            m.reset_parameters()
    for m in net.modules():  # batch norm statistics of a randomised net: start afresh too
        if part == "all" and isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
    return net.eval()


def mask_rank_correlation(a, b) -> np.ndarray:
    """``(B,)`` Spearman rank correlation of two masks per row (flattened; ``scipy.stats.spearmanr``).
    A constant mask has no ranking: NaN."""
    from scipy.stats import spearmanr

    A, Bm = np.asarray(a), np.asarray(b)
    if A.shape != Bm.shape:
        raise ParameterError(f"masks of shapes {A.shape} and {Bm.shape} cannot be compared")
    out = np.full(len(A), np.nan)
    for i, (u, v) in enumerate(zip(A.reshape(len(A), -1), Bm.reshape(len(Bm), -1))):
        if u.std() > 0 and v.std() > 0:
            out[i] = spearmanr(u, v).statistic
    return out


@dataclass
class ComparisonStudy:
    """Notebook 08's result for one dataset: the scored rows, the paired tests, the sanity check."""

    dataset: str
    scores: pd.DataFrame
    tests: list[dict] = field(default_factory=list)
    notes: dict = field(default_factory=dict)
    #: Inputs of each condition, over every pass.
    inputs: dict = field(default_factory=dict)
    #: Inputs of each condition in the study's first pass (:func:`~l2i_core.pipeline.explainer_study.comparison_study`
    #: with several ``passes``): its rows are numbered first, so rows below this count index that pass's
    #: conditions, the ones a notebook holds. Empty: one pass, every row.
    first_pass_rows: dict = field(default_factory=dict)

    def table(self, condition: str, **kwargs) -> pd.DataFrame:
        """:func:`summary_table` of ``condition``."""
        return summary_table(self.scores, condition, **kwargs)

    def review(self, condition: str, *, ground_truth: bool = False, seed: int = 0) -> ReviewerTable:
        """:func:`review` of ``condition``: its metrics, or with ``ground_truth`` its ground-truth scores on the
        rows whose explained class is the stem's."""
        return review(self.scores, condition, ground_truth_only=ground_truth, seed=seed)

    def matched_curves(self, condition: str) -> pd.DataFrame:
        """Each method's mean SI-SDRi and stem precision / recall at every share of bins kept (the rows whose
        explained class is the stem's): one row per (method, share)."""
        d = self.scores[(self.scores["condition"] == condition) & self.scores["explains_label"]]
        rows = []
        for method, g in d.groupby("method", sort=False):
            for q in MATCHED_SHARES:
                p = f"{100 * q:g}"
                vals = {k: g[f"{k}@{p}"].mean() for k in ("si_sdri", "precision", "recall") if f"{k}@{p}" in g}
                if vals and any(np.isfinite(v) for v in vals.values()):
                    rows.append({"method": method, "share": q, **vals, "rows": int(g[f"si_sdri@{p}"].notna().sum())})
        return pd.DataFrame(rows)

    def example_rows(self, condition: str, n: int = 3) -> list[int]:
        """``n`` rows of ``condition`` to listen to: those whose explained class is the stem's first
        (every method then explains the same sound), then the others. In a study of several passes, rows
        of the first pass only (:attr:`first_pass_rows`): they index that pass's conditions."""
        d = self.scores[self.scores["condition"] == condition]
        if condition in self.first_pass_rows:
            d = d[d["row"] < self.first_pass_rows[condition]]
        good = sorted(set(d.loc[d["explains_label"], "row"]))
        rest = sorted(set(d["row"]) - set(good))
        return [int(r) for r in (good + rest)[: max(0, int(n))]]

    def tests_table(self, seed: int = 0) -> pd.DataFrame:
        """The paired tests of every ground-truth table (each contestant pair on each ground-truth metric,
        Wilcoxon signed-rank paired by clip or scene, Holm-corrected within its table), one row each."""
        frames = []
        for cond in dict.fromkeys(self.scores["condition"]):
            d = self.scores[self.scores["condition"] == cond]
            if "explains_label" in d and any(c in d and d[c].notna().any() for c in GROUND_TRUTH_COLUMNS):
                t = self.review(cond, ground_truth=True, seed=seed).tests
                if len(t):
                    frames.append(t.assign(condition=cond))
        if not frames:
            return pd.DataFrame({"note": ["no condition with a ground truth and two contestants"]})
        return pd.concat(frames, ignore_index=True).round(4)

    def record(self, seed: int = 0) -> dict:
        """The ``comparison`` section of ``results.json``: per condition and method, each metric's estimate,
        interval, n, units and seeds (:func:`review`; ground-truth columns on the rows whose explained class is
        the stem's), each table's verdicts and Holm-corrected tests, the matched-sparsity curves."""
        out: dict = {"conditions": {}, "verdicts": {}, "tests": [], "matched_curves": {}, "notes": self.notes,
                     "seconds": self.scores.attrs.get("seconds", {}),
                     "seeds": sorted(int(v) for v in self.scores["seed"].unique()) if "seed" in self.scores else []}
        for cond in dict.fromkeys(self.scores["condition"]):
            d = self.scores[self.scores["condition"] == cond]
            per: dict = {m: {"rows": int(len(g))} for m, g in d.groupby("method", sort=False)}
            gt = "explains_label" in d and any(c in d and d[c].notna().any() for c in GROUND_TRUTH_COLUMNS)
            for truth in ((False, True) if gt else (False,)):
                t = self.review(cond, ground_truth=truth, seed=seed)
                for m, cols in t.record()["cells"].items():
                    per.setdefault(m, {"rows": 0}).update(cols)
                key = f"{cond} (ground truth)" if truth else cond
                out["verdicts"][key] = t.verdicts.to_dict(orient="records")
                if len(t.tests):
                    out["tests"] += [{"condition": cond, **r} for r in t.tests.to_dict(orient="records")]
            out["conditions"][cond] = per
            if gt:
                out["matched_curves"][cond] = self.matched_curves(cond).to_dict(orient="records")
        return out


#: Whether a larger value is better, per scored column (the direction the leader is read in).
HIGHER_IS_BETTER = {"AI": True, "AD": False, "AG": True, "fid_in": True, "FF": True, "SPS": True, "COMP": False,
                    "FF_matched": True, "deletion_area": False, "insertion_area": True, "si_sdr": True,
                    "si_sdri": True, "energy_in_support": True, "si_sdri_matched": True, "precision_matched": True,
                    "recall_matched": True}


def leaders(df: pd.DataFrame, condition: str, *, exclude: Sequence[str] = REFERENCES,
            seed: int = 0) -> list[str]:
    """One sentence per metric of ``condition``: the method that leads, named only where the Holm-corrected
    paired test of the best against the runner-up rejects, or why none is named (:func:`review`). The
    references (identity, random, oracle) are not contestants. Ground-truth metrics use the rows where the
    explained class is the stem's."""
    d = df[df["condition"] == condition]
    out = review(df, condition, references=exclude, seed=seed).sentences()
    if "explains_label" in d.columns and any(c in d.columns and d[c].notna().any() for c in GROUND_TRUTH_COLUMNS):
        out += review(df, condition, ground_truth_only=True, references=exclude, seed=seed).sentences()
    return out


#: Our columns beside SpeechBrain's published ones (its names first).
_SPEECHBRAIN_COLUMNS = {"AI": "AI", "AD": "AD", "AG": "AG", "FF": "FF", "Fid-In": "fid_in", "SPS": "SPS",
                        "COMP": "COMP", "AD as SpeechBrain": "AD_speechbrain",
                        "Fid-In as SpeechBrain": "fid_in_speechbrain"}


def speechbrain_table(df: pd.DataFrame, condition: str = "clean") -> pd.DataFrame:
    """Our means on ``condition`` beside SpeechBrain's published L-MAC and L2I rows (CNN14 on ESC-50,
    its validation fold: another setting, shown for reference; :data:`l2i_core.paper.SPEECHBRAIN_ESC50`)."""
    d = df[df["condition"] == condition]
    rows = {f"SpeechBrain README: {m} (CNN14, ESC-50)": {k: v.get(k, np.nan) for k in _SPEECHBRAIN_COLUMNS}
            for m, v in SPEECHBRAIN_ESC50.items()}
    for method, g in d.groupby("method", sort=False):
        rows[f"ours: {method}"] = {k: float(g[c].mean()) if c in g else np.nan for k, c in _SPEECHBRAIN_COLUMNS.items()}
    return pd.DataFrame(rows).T.round(3)
