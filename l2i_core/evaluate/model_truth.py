"""Ground truth about the model: classifiers whose evidence is known by construction, and every explainer scored on it.

No peer benchmark knows what *f* used; here it is built in, two ways:

``band`` / ``span`` — a region-blind f (:class:`~l2i_core.models.blind.RegionBlind`)
    f trained on real audio while it sees only part of the time-frequency plane (a band of mel filters,
    or a span of frames): outside, its input is silence whatever the clip, so relevance there is wrong
    by construction. Every explainer's relevance mass inside the region f sees
    (:func:`~l2i_core.metrics.relevance_mass_accuracy`) and its rank accuracy
    (:func:`~l2i_core.metrics.relevance_rank_accuracy`, ties broken at random) are reported, beside the
    region's own share of the plane: what a mask that knows nothing scores.
``planted`` (alias ``marker``) — a planted shortcut (:mod:`l2i_core.data.planted`)
    a class-specific marker tone mixed into every clip; whether f trained on them relies on it is
    measured, not assumed: :func:`shortcut_check` removes the marker from the test clips (f's accuracy
    with and without it, and the drop of the true class's probability). The region is then each test
    clip's marker support (:func:`~l2i_core.data.planted.marker_support`), and every explainer, asked
    about the clip's true class (whose marker it carries), is scored on finding it the same way.

Training goes through the one training code (:func:`~l2i_core.train.recipes.train_classifier`,
:func:`~l2i_core.train.finetune.finetune_pretrained`, :func:`~l2i_core.train.recipes.train_interpreter`,
:func:`~l2i_core.train.lmac.train_lmac`) in a folder of its own, ``<artifacts>/model_truth/<kind>/``
(never over the run's artifacts), and is reused when ``model_truth.json`` there records the same request
(the data, epochs, seed, recipe overrides and the sha256 of the code that trains it, :func:`l2i_core._digest.code_digest`).
A blind f is trained on its own view: the log-mel features are computed once, passed through the
wrapper's blinding, and given to the recipe as its features, so the network trained is the one wrapped.
Both networks go through the same code: the from-scratch CNN (presets ``cpu`` / ``paper``) and the
AudioSet EfficientAT network (preset ``efficientat``, fine-tuned from the weights found through
``$L2I_MODELS``).

:func:`model_truth_study` runs one kind end to end and returns a :class:`ModelTruthStudy`
(``scores``: the tidy per-clip table; ``table()``: per method, the mean with its interval;
``sentences()``, ``plot()``, ``record()`` for ``results.json``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

import l2i_core.evaluate.stats as _stats
import l2i_core.evaluate.tables as _tables
from l2i_core import metrics
from l2i_core._digest import code_digest
from l2i_core._errors import ParameterError
from l2i_core._version import __version__
from l2i_core.data.planted import MARKER_SNR_DB, SUPPORT_FLOOR_DB, PlantedDataset, marker_support, planted_dataset
from l2i_core.explain.interface import AudioModel, Explanation
from l2i_core.explain.l2i import L2IExplainer
from l2i_core.explain.lmac import LMACMask
from l2i_core.explain.references import untrained_explainer
from l2i_core.models.blind import (
    BlindRegion,
    RegionBlind,
    band_region,
    load_blind,
    save_blind,
    span_region,
    visible_region_on_grid,
)
from l2i_core.models.checkpoints import claim_resume_state, load_classifier, load_interpreter, load_lmac
from l2i_core.nmf.dictionary import learn_dictionary, load_dictionary, save_dictionary
from l2i_core.train.cache import build_cache, cache_bytes_per_clip
from l2i_core.train.finetune import BACKBONES, FinetuneConfig, finetune_pretrained
from l2i_core.train.lmac import LMACConfig, train_lmac
from l2i_core.train.recipes import (
    InterpreterConfig,
    compute_features,
    default_train_config,
    train_classifier,
    train_interpreter,
)

__all__ = ["KINDS", "MODEL_TRUTH_METHODS", "DEFAULT_BAND_HZ", "DEFAULT_SPAN",
           "SCORE_COLUMNS", "TABLE_COLUMNS", "default_region", "train_blind_classifier", "train_planted_classifier",
           "model_truth_explainers", "region_scores", "shortcut_check", "relies_on_marker", "RELIANCE_MIN_CHANGED", "ModelTruthStudy", "model_truth_study"]

#: The kinds of ground truth about f (``marker`` is accepted for ``planted``).
KINDS = ("band", "span", "planted")
_KIND_ALIASES = {"marker": "planted"}

#: Every explainer of the study, by short name (``oracle``: the marker's ideal ratio mask, ``planted`` only).
MODEL_TRUTH_METHODS = ("l2i-attention", "l2i-max", "lmac", "saliency", "integrated_gradients", "smoothgrad",
                       "random", "identity")
_KNOWN = (*MODEL_TRUTH_METHODS, "oracle")

#: ``band``: f sees the mel filters wholly inside 0-2 kHz (blind to everything above 2 kHz).
DEFAULT_BAND_HZ = (0.0, 2000.0)
#: ``span``: f sees the first half of each clip (start and stop as shares of the clip).
DEFAULT_SPAN = (0.0, 0.5)

#: :func:`relies_on_marker`: the share of f's test decisions that must change when the marker is removed.
RELIANCE_MIN_CHANGED = 0.05

#: Per-row columns of :func:`region_scores`.
SCORE_COLUMNS = ("mass_inside", "mass_outside", "rank_accuracy", "rank_accuracy_stable", "region_share")

_SIDECAR = "model_truth.json"


# -- small helpers ---------------------------------------------------------------------------------------
def _size(cfg, name: str, full):
    """``cfg.size(name, full)`` (a quick run's size) where the run config has sizes, else ``full``."""
    size = getattr(cfg, "size", None)
    return size(name, full) if callable(size) else full


def _memory_gb(cfg) -> float:
    return float(getattr(cfg, "memory_gb", 4.0))


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _uids_sha256(dataset) -> str:
    return hashlib.sha256("\n".join(f"{r.split}:{r.uid}" for r in dataset).encode()).hexdigest()


def _jsonable(obj):
    """``obj`` with numpy scalars as Python numbers and NaN / inf as None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj


def _reusable(out: Path, request: dict, weights: str) -> dict | None:
    """The sidecar of ``out`` when it records ``request`` and ``weights`` exists there, else None."""
    side = out / _SIDECAR
    if not (side.is_file() and (out / weights).is_file()):
        return None
    m = json.loads(side.read_text())
    return m if m.get("request") == _jsonable(request) else None


def _train_f(cfg, dataset, out: Path, *, epochs: int | None, features: dict | None, progress: bool, overrides: dict):
    """f trained by the preset's recipe into ``out`` (from scratch, or a pretrained backbone fine-tuned)."""
    p = cfg.preset
    if p.classifier in BACKBONES:
        known = {f.name for f in dataclasses.fields(FinetuneConfig)}
        ft = FinetuneConfig(seed=cfg.seed, progress=progress, **{k: v for k, v in overrides.items() if k in known})
        last = _size(cfg, "classifier_epochs", int(epochs or ft.epochs_last))
        head = _size(cfg, "classifier_epochs", int(3 * epochs) if epochs else ft.epochs_head)
        ft = dataclasses.replace(ft, epochs_last=last, epochs_head=head)
        return finetune_pretrained(dataset, p, ft, out_dir=out, features=features), {"epochs_last": last,
                                                                                     "epochs_head": head}
    tc = default_train_config(dataset.multilabel, p, seed=cfg.seed, progress=progress, **overrides)
    tc = dataclasses.replace(tc, epochs=_size(cfg, "classifier_epochs", int(epochs or tc.epochs)))
    return train_classifier(dataset, p, tc, out_dir=out, features=features), {"epochs": tc.epochs}


def _canonical_kind(kind: str) -> str:
    k = _KIND_ALIASES.get(str(kind), str(kind))
    if k not in KINDS:
        raise ParameterError(f"unknown kind {kind!r}; choose one of {KINDS} ('marker' is 'planted')")
    return k


def _method_names(methods) -> list[str]:
    names = [m.strip() for m in (methods.split(",") if isinstance(methods, str) else methods) if str(m).strip()]
    unknown = sorted(set(names) - set(_KNOWN))
    if unknown or not names:
        raise ParameterError(f"{'unknown explainers ' + str(unknown) if unknown else 'no explainer given'}; "
                             f"choose among {list(_KNOWN)}")
    return names


def _epochs_request(cfg, epochs):
    return {"epochs": None if epochs is None else int(epochs), "quick": bool(getattr(cfg, "quick", False))}


# -- (a) training f ----------------------------------------------------------------------------------------
def default_region(kind: str, preset, duration: float) -> BlindRegion:
    """The region f sees by default: ``band`` 0-2 kHz (:data:`DEFAULT_BAND_HZ`), ``span`` the first half.

    Parameters
    ----------
    kind : {'band', 'span'}
    preset : str or Preset
        f's front end (its mel filters and frames).
    duration : float
        The clips' length in seconds (``span`` only).

    Returns
    -------
    BlindRegion
    """
    if kind == "band":
        return band_region(preset, *DEFAULT_BAND_HZ)
    if kind == "span":
        return span_region(preset, DEFAULT_SPAN[0] * duration, DEFAULT_SPAN[1] * duration, duration)
    raise ParameterError(f"kind {kind!r} has no region; choose 'band' or 'span'")


def train_blind_classifier(cfg, dataset, region: BlindRegion, *, epochs: int | None = None, progress: bool = True,
                           out_dir=None, **overrides) -> tuple[RegionBlind, dict, str]:
    """A region-blind f for ``dataset``: trained on its own view of the train split, selected on validation.

    The features of the train and validation clips are computed once (in memory), blinded by
    :meth:`RegionBlind.blind <l2i_core.models.blind.RegionBlind.blind>` and handed to the preset's recipe
    (:func:`~l2i_core.train.recipes.train_classifier` at :func:`~l2i_core.train.recipes.default_train_config`,
    or :func:`~l2i_core.train.finetune.finetune_pretrained` for ``efficientat`` / ``aisfx``), so the
    network trained is the one then wrapped. The recipe's augmentation (gain, SpecAugment, mixup) acts on
    the blinded features, and the wrapper blinds f's input again at every use; the recipe's circular time
    shift is switched off for a region that is not the same in every frame (a span), where it would
    move the visible frames (pass ``time_shift=True`` to keep it).

    Parameters
    ----------
    cfg : RunConfig
        ``artifacts_dir``, ``preset``, ``seed`` (and a quick run's sizes).
    dataset : AudioDataset
    region : BlindRegion
        What f sees (:func:`~l2i_core.models.blind.band_region`, :func:`~l2i_core.models.blind.span_region`).
    epochs : int or None
        The recipe's (None: its default; a quick run: ``classifier_epochs``).
    out_dir : path or None
        Default ``<artifacts>/model_truth/<region.kind>``.
    **overrides
        Recipe fields (``lr``, ``batch_size``, ...).

    Returns
    -------
    blind : RegionBlind (eval mode)
        Also saved as ``blind.pt`` / ``blind.json`` (:func:`~l2i_core.models.blind.load_blind`); the
        ``classifier.pt`` beside it is the network *without* its wrapper (what the recipe wrote), never
        to be used alone.
    meta : dict
        The sidecar ``model_truth.json`` (the request and what training gave).
    message : str
        Reused or trained, with the validation score.
    """
    p = cfg.preset
    if not isinstance(region, BlindRegion):
        raise ParameterError(f"region must be a BlindRegion (band_region, span_region), got {type(region).__name__}")
    if not len(dataset.split("train")) or not len(dataset.split("validation")):
        raise ParameterError(f"{dataset.name}: training f needs train and validation clips")
    if region.visible.shape[1] > 1 and not region.visible.all(axis=0).all():
        overrides.setdefault("time_shift", False)
    out = Path(out_dir) if out_dir is not None else Path(cfg.artifacts_dir) / "model_truth" / region.kind
    request = {"what": "region-blind classifier", "dataset": dataset.name, "preset": p.name,
               "classes": dataset.classes, "region": region.to_dict(), "seed": int(cfg.seed),
               "uids_sha256": _uids_sha256(dataset), "overrides": overrides, **_epochs_request(cfg, epochs),
               "code_sha256": code_digest()}
    found = _reusable(out, request, "blind.pt")
    if found is not None:
        blind, _ = load_blind(out)
        r = found["result"]
        return blind, found, (f"reused the {region.kind}-blind classifier: {out / 'blind.pt'} (validation "
                              f"{r['metric']} {r['validation']:.3f})")
    t0 = time.perf_counter()
    blinder = RegionBlind(nn.Identity(), region, preset=p)
    with torch.no_grad():
        feats = {s: blinder.blind(compute_features(dataset.split(s), p, progress=progress))
                 for s in ("train", "validation")}
    res, epochs_used = _train_f(cfg, dataset, out, epochs=epochs, features=feats, progress=progress,
                                overrides=overrides)
    inner, _ = load_classifier(out / "classifier.pt")
    blind = RegionBlind(inner, region, preset=p).eval()
    save_blind(blind, out, meta={"dataset": dataset.name, "classes": dataset.classes, "l2i_version": __version__})
    result = {"metric": res.metric_name, "validation": float(res.best_metric), "best_epoch": int(res.best_epoch),
              "train_seconds": float(res.seconds), "seconds": time.perf_counter() - t0, **epochs_used,
              "trainable": res.meta.get("trainable")}
    meta = {"request": _jsonable(request), "result": result, "l2i_version": __version__}
    (out / _SIDECAR).write_text(json.dumps(meta, indent=2) + "\n")
    return blind, meta, (f"trained a {region.kind}-blind classifier in {out}: validation {res.metric_name} "
                         f"{res.best_metric:.3f} at epoch {res.best_epoch}, {result['seconds']:.0f} s")


def train_planted_classifier(cfg, dataset, *, epochs: int | None = None, snr_db: float = MARKER_SNR_DB,
                             seed: int | None = None, progress: bool = True, out_dir=None,
                             **overrides) -> tuple[PlantedDataset, nn.Module, dict, str]:
    """f trained on ``dataset`` with a class-specific marker planted in every clip (:func:`~l2i_core.data.planted.planted_dataset`).

    Trained by the preset's recipe as :func:`train_blind_classifier` (no blinding) into
    ``<artifacts>/model_truth/planted`` (or ``out_dir``), reused when its sidecar records the same request.
    Every split carries the marker, so f is selected on planted validation clips; whether f relies on
    the marker is then measured by :func:`shortcut_check`, never assumed.

    Parameters
    ----------
    cfg : RunConfig
        ``artifacts_dir``, ``preset``, ``seed`` (and a quick run's sizes).
    dataset : AudioDataset
        Multi-class, with train, validation and test clips.
    epochs : int or None
        The recipe's (None: its default; a quick run: ``classifier_epochs``).
    snr_db : float
        The clip's energy over the marker's, in dB (:data:`~l2i_core.data.planted.MARKER_SNR_DB`).
    seed : int or None
        Seed of the markers' positions (default ``cfg.seed``).
    progress : bool
    out_dir : path or None
        Default ``<artifacts>/model_truth/planted``.
    **overrides
        Recipe fields (``lr``, ``batch_size``, ...).

    Returns
    -------
    planted : PlantedDataset
        The planted data, and the test clips with their markers and without them.
    f : nn.Module (eval mode)
    meta : dict
    message : str
    """
    p = cfg.preset
    if dataset.multilabel:
        raise ParameterError(f"{dataset.name}: a class-specific marker needs multi-class data, not multi-label")
    if not len(dataset.split("train")) or not len(dataset.split("validation")):
        raise ParameterError(f"{dataset.name}: training f needs train and validation clips")
    out = Path(out_dir) if out_dir is not None else Path(cfg.artifacts_dir) / "model_truth" / "planted"
    seed = int(cfg.seed if seed is None else seed)
    planted = planted_dataset(dataset, p, snr_db=snr_db, seed=seed)
    request = {"what": "planted-marker classifier", "dataset": dataset.name, "preset": p.name,
               "classes": dataset.classes, "marker": planted.meta, "seed": int(cfg.seed),
               "uids_sha256": _uids_sha256(dataset), "overrides": overrides, **_epochs_request(cfg, epochs),
               "code_sha256": code_digest()}
    found = _reusable(out, request, "classifier.pt")
    if found is not None:
        f, _ = load_classifier(out / "classifier.pt")
        r = found["result"]
        return planted, f, found, (f"reused the planted-marker classifier: {out / 'classifier.pt'} (validation "
                                   f"{r['metric']} {r['validation']:.3f})")
    t0 = time.perf_counter()
    res, epochs_used = _train_f(cfg, planted.dataset, out, epochs=epochs, features=None, progress=progress,
                                overrides=overrides)
    f, _ = load_classifier(out / "classifier.pt")
    result = {"metric": res.metric_name, "validation": float(res.best_metric), "best_epoch": int(res.best_epoch),
              "train_seconds": float(res.seconds), "seconds": time.perf_counter() - t0, **epochs_used,
              "trainable": res.meta.get("trainable")}
    meta = {"request": _jsonable(request), "result": result, "l2i_version": __version__}
    (out / _SIDECAR).write_text(json.dumps(meta, indent=2) + "\n")
    return planted, f, meta, (f"trained a planted-marker classifier in {out}: validation {res.metric_name} "
                              f"{res.best_metric:.3f} (with the marker) at epoch {res.best_epoch}, "
                              f"{result['seconds']:.0f} s")


# -- (b) the explainers of such an f -------------------------------------------------------------------------
def _dictionary(cfg, dataset, out: Path, *, progress: bool):
    """W for ``dataset``: the run's ``dictionary.npy`` when it was learned on these data and preset, else one
    learned (or found) in ``out`` (as notebook 01 learns it: K = 100, µ = 0.8, the train split)."""
    p = cfg.preset

    def matches(path: Path):
        try:
            d = load_dictionary(path, preset=p)
        except ParameterError:
            return None
        m = d.meta
        same = (m.get("dataset") == dataset.name and (m.get("preset") or {}).get("name") == p.name
                and m.get("n_components") == 100 and m.get("seed") == cfg.seed)
        return d if same else None

    for where, what in ((Path(cfg.artifacts_dir) / "dictionary.npy", "the run's"), (out / "dictionary.npy", "")):
        if where.is_file():
            d = matches(where)
            if d is not None:
                return d, f"reused {what or 'the'} dictionary {where}"
    t0 = time.perf_counter()
    d = learn_dictionary(dataset, p, n_components=100, sparsity=0.8, seed=cfg.seed,
                         max_iter=_size(cfg, "dictionary_max_iter", 200),
                         max_clips=_size(cfg, "dictionary_max_clips", None), progress=progress,
                         memory_gb=_memory_gb(cfg), scratch_dir=out)
    save_dictionary(d, out / "dictionary.npy", preset=p)
    return d, f"learned a dictionary on {dataset.name} in {time.perf_counter() - t0:.0f} s ({out / 'dictionary.npy'})"


def _caches(cfg, dataset, f: nn.Module, out: Path, *, progress: bool) -> dict:
    """f's activation caches of the train and validation splits, in memory within half the run's budget,
    else on disk under ``out/cache/<split>``."""
    p = cfg.preset
    subsets = {s: dataset.split(s) for s in ("train", "validation")}
    per = cache_bytes_per_clip(f, dataset, p)
    on_disk = per * sum(len(s) for s in subsets.values()) > 0.5 * _memory_gb(cfg) * 2**30
    return {s: build_cache(f, sub, p, progress=progress, max_memory_gb=_memory_gb(cfg),
                           memmap_dir=out / "cache" / s if on_disk else None) for s, sub in subsets.items()}


def _default_explainer_epochs(cfg, dataset, epochs: int | None) -> tuple[int, int]:
    """(interpreter epochs, L-MAC epochs): ``epochs`` for both, else the recipes' (35 or 40; L-MAC 40)."""
    head = int(epochs) if epochs else (40 if dataset.multilabel else 35)
    lmac = int(epochs) if epochs else LMACConfig().epochs
    return _size(cfg, "interpreter_epochs", head), _size(cfg, "interpreter_epochs", lmac)


def model_truth_explainers(cfg, dataset, model: AudioModel, methods=MODEL_TRUTH_METHODS, *, out_dir,
                           epochs: int | None = None, progress: bool = True) -> tuple[list, list[str]]:
    """The explainers ``methods`` of ``model``'s f, the trained ones trained on that f in ``out_dir``.

    As :func:`l2i_core.pipeline.sanity.sanity_study` does for a randomised f: the L2I heads (on the
    dictionary of these data, :func:`_dictionary`) and L-MAC are trained on f's activation caches of the
    train and validation splits of ``dataset`` for ``epochs`` epochs (None: the recipes' 35 / 40; a quick
    run: ``interpreter_epochs``), written in ``out_dir`` and reused there when their sidecar names this
    very f (the sha256 of ``out_dir/classifier.pt`` or ``blind.pt``), the data and the epochs. The
    gradient methods (:data:`~l2i_core.explain.gradients.GRADIENT_SETTINGS`), random, identity and the oracle IRM need
    no training.

    Returns
    -------
    explainers : list of Explainer
        In the order of ``methods``.
    messages : list of str
    """
    methods = _method_names(methods)
    out = Path(out_dir)
    p = cfg.preset
    weights = out / ("blind.pt" if isinstance(model.classifier, RegionBlind) else "classifier.pt")
    fingerprint = _file_sha256(weights) if weights.is_file() else None
    n_head, n_lmac = _default_explainer_epochs(cfg, dataset, epochs)
    base = {"dataset": dataset.name, "preset": p.name, "classes": dataset.classes, "classifier_sha256": fingerprint,
            "code_sha256": code_digest()}  # the code that trains them: a change retrains
    f = model.classifier
    state: dict = {}
    messages: list[str] = []

    def caches():
        if "caches" not in state:
            state["caches"] = _caches(cfg, dataset, f, out, progress=progress)
        return state["caches"]

    def reusable(side: Path, want: dict, score_key: str):
        if fingerprint is None or not side.is_file():
            return False
        m = json.loads(side.read_text())
        return all(m.get(k) == v for k, v in want.items()) and score_key in m

    explainers = []
    for name in methods:
        if name.startswith("l2i-"):
            head = name[4:]
            want = {**base, "model_truth_epochs": n_head}
            side = out / f"interpreter_{head}.json"
            if reusable(side, want, "best_selection_score"):
                interp, m = load_interpreter(side.with_suffix(".pt"), device=str(model.device))
                messages.append(f"reused the {head} interpreter of this f: {side.with_suffix('.pt')}")
            else:
                if "dictionary" not in state:
                    state["dictionary"], msg = _dictionary(cfg, dataset, out, progress=progress)
                    messages.append(msg)
                c = caches()
                icfg = InterpreterConfig(pooling=head, epochs=n_head, seed=cfg.seed, progress=progress)
                claim_resume_state(out / f"interpreter_{head}_last.pt", want)  # an interrupted run resumes
                res = train_interpreter(c["train"], c["validation"], state["dictionary"].W,
                                        n_classes=len(dataset.classes), multilabel=dataset.multilabel, config=icfg,
                                        f_thresholds=list(model.f_thresholds) if model.multilabel else None,
                                        out_dir=out, meta=want, resume=True)
                interp = res.interpreter.eval()
                messages.append(f"trained the {head} interpreter on this f: {n_head} epochs, validation "
                                f"{res.selection_metric} {res.best_selection_score:.3f} at epoch {res.best_epoch}, "
                                f"{res.seconds:.0f} s")
            explainers.append(L2IExplainer(model, interp, detail=False))
        elif name == "lmac":
            want = {**base, "model_truth_epochs": n_lmac}
            side = out / "lmac.json"
            if reusable(side, want, "best_score"):
                decoder, _ = load_lmac(out / "lmac.pt", device=str(model.device))
                messages.append(f"reused L-MAC of this f: {out / 'lmac.pt'}")
            else:
                c = caches()
                lcfg = LMACConfig(seed=cfg.seed, progress=progress, epochs=n_lmac)
                claim_resume_state(out / "lmac_last.pt", want)  # an interrupted run resumes
                res = train_lmac(c["train"], c["validation"], f, p, multilabel=model.multilabel,
                                 f_thresholds=list(model.f_thresholds) if model.multilabel else None, config=lcfg,
                                 out_dir=out, meta=want, resume=True)
                decoder = res.decoder.eval()
                messages.append(f"trained L-MAC on this f: {n_lmac} epochs in {res.seconds:.0f} s, best validation "
                                f"score {res.best_score:.3f} at epoch {res.best_epoch}")
            explainers.append(LMACMask(decoder, model))
        else:
            explainers.append(untrained_explainer(model, name, seed=cfg.seed))
    state.clear()
    return explainers, messages


# -- (c) scores ----------------------------------------------------------------------------------------------
def _tie_broken(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Distinct values in the order of ``a`` (descending), ties in a random order: the ranks, highest = most relevant."""
    flat = a.reshape(-1)
    order = np.lexsort((rng.random(flat.size), -flat))
    ranks = np.empty(flat.size, np.float64)
    ranks[order] = np.arange(flat.size, 0, -1, dtype=np.float64)
    return ranks.reshape(a.shape)


def region_scores(explanation: Explanation, region, *, relevance: str = "mask", seed: int = 0) -> pd.DataFrame:
    """How much of each row's relevance lies where it can be right: one row per explanation row.

    Parameters
    ----------
    explanation : Explanation
    region : array [shape=(n_freq, n_frames) or (R, n_freq, n_frames)], 0 / 1
        The bins where relevance is right (f's visible region, or the marker's support), for every row
        or one per row.
    relevance : {'mask', 'spectrogram'}
        The relevance scored: the mask ``M`` (the explanation as the method gives it), or ``M ⊙ V``.
    seed : int
        Seed of the tie-breaking of the rank accuracy.

    Returns
    -------
    pd.DataFrame
        ``row``, ``clip``, ``target`` and :data:`SCORE_COLUMNS`: ``mass_inside``
        (:func:`~l2i_core.metrics.relevance_mass_accuracy`), ``mass_outside`` = 1 − it, ``rank_accuracy``
        (:func:`~l2i_core.metrics.relevance_rank_accuracy` with ties broken at random: a mask that is
        constant over many bins, e.g. identity, or a gradient mask that is 0 wherever f is blind, scores
        what a random order of its tied bins gives, not the order in which the bins are stored),
        ``rank_accuracy_stable`` (the same with Quantus's stable tie order, for reference) and
        ``region_share`` (what a uniform mask scores in mass). A row whose mask is 0 everywhere (a gradient
        method where the explained logit does not depend on the input) has no mass to place: its
        ``mass_inside`` is NaN, and its rank accuracy that of a random order.
    """
    if relevance not in ("mask", "spectrogram"):
        raise ParameterError(f"relevance must be 'mask' or 'spectrogram', got {relevance!r}")
    rel = np.asarray(explanation.mask if relevance == "mask" else explanation.spectrogram, np.float64)
    R = len(rel)
    reg = np.asarray(region)
    if reg.ndim == 2:
        reg = np.broadcast_to(reg, rel.shape)
    if reg.shape != rel.shape:
        raise ParameterError(f"region {reg.shape} must be (n_freq, n_frames) or one per row, {rel.shape}")
    reg = reg > 0
    if R and not reg.reshape(R, -1).any(axis=1).all():
        raise ParameterError("region_scores: a row's region is empty")
    rng = np.random.default_rng(seed)
    mass = np.asarray(metrics.relevance_mass_accuracy(rel, reg), np.float64).reshape(R)
    ranked = np.stack([_tie_broken(a, rng) for a in rel]) if R else rel
    rank = np.asarray(metrics.relevance_rank_accuracy(ranked, reg), np.float64).reshape(R) if R else np.zeros(0)
    stable = np.asarray(metrics.relevance_rank_accuracy(rel, reg), np.float64).reshape(R) if R else np.zeros(0)
    return pd.DataFrame({"row": np.arange(R), "clip": explanation.clip, "target": explanation.target,
                         "mass_inside": mass, "mass_outside": 1.0 - mass, "rank_accuracy": rank,
                         "rank_accuracy_stable": stable, "region_share": reg.reshape(R, -1).mean(axis=1)})


def relies_on_marker(check: dict) -> bool:
    """Whether :func:`shortcut_check` shows f relying on the marker: at least :data:`RELIANCE_MIN_CHANGED` of its
    test decisions change when the marker is removed, and its accuracy drops.

    >>> relies_on_marker({"prediction_changed": 0.0, "accuracy_drop": 0.0})
    False
    >>> relies_on_marker({"prediction_changed": 0.4, "accuracy_drop": 0.35})
    True
    """
    return float(check["prediction_changed"]) >= RELIANCE_MIN_CHANGED and float(check["accuracy_drop"]) > 0.0


def shortcut_check(model, with_marker, without_marker, labels, *, preset=None, batch_size: int = 32) -> dict:
    """Whether f relies on the marker: f's accuracy and true-class probability with and without it, same clips.

    Parameters
    ----------
    model : AudioModel, or nn.Module (then ``preset``, default ``model.preset``)
        A multi-class f.
    with_marker, without_marker : array [shape=(B, n_samples)]
        The clips as f hears them, and the same clips with the marker removed
        (:attr:`PlantedDataset.mixtures <l2i_core.data.planted.PlantedDataset>` and ``.clean``).
    labels : array [shape=(B,)]
        The true classes.
    preset : str, Preset or None
        f's front end when ``model`` is a bare network.
    batch_size : int
        Clips given to f at once.

    Returns
    -------
    dict
        ``n``, ``chance`` (1 / classes); ``accuracy_with`` and ``accuracy_without`` with their exact
        (Clopper-Pearson) 95 % intervals ``..._ci95`` and ``accuracy_drop``; ``probability_with`` /
        ``probability_without`` (mean probability of the true class); ``true_class_probability_drop``
        (mean over clips of the true class's probability with the marker minus without) with its 95 %
        percentile-bootstrap interval ``..._ci95`` and its median ``..._median``; ``wilcoxon_p`` (one-sided
        Wilcoxon signed-rank test that the probability drops); ``prediction_changed`` (share of clips whose
        top class changes) and ``interval`` (how the intervals were made). No interval below
        :data:`~l2i_core.evaluate.stats.MIN_ROWS` clips (NaN bounds).

    Raises
    ------
    ParameterError
        Shapes that do not match, no clip, a label out of range, or a multi-label f.
    """
    if not isinstance(model, AudioModel):
        if preset is None and getattr(model, "preset", None) is None:
            raise ParameterError("shortcut_check: give preset= (the model has no .preset)")
        model = AudioModel(model, preset if preset is not None else model.preset)
    if model.multilabel:
        raise ParameterError("shortcut_check needs a multi-class f (one true class per clip)")
    if int(batch_size) < 1:
        raise ParameterError(f"batch_size must be >= 1, got {batch_size}")
    y = np.asarray(labels).reshape(-1)
    a, b = np.asarray(with_marker, np.float32), np.asarray(without_marker, np.float32)
    if a.ndim != 2 or a.shape != b.shape or len(a) != len(y):
        raise ParameterError(f"with_marker {a.shape} and without_marker {b.shape} must both be (B, n_samples), with "
                             f"one label per clip ({len(y)} labels)")
    if not len(y):
        raise ParameterError("shortcut_check: no clip")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= model.n_classes:
        raise ParameterError(f"labels must be class indices in [0, {model.n_classes}), got {y[:5]}...")

    def logits(x):
        return torch.cat([model.logits(x[s : s + int(batch_size)]).cpu() for s in range(0, len(x), int(batch_size))])

    lw, lo = logits(a), logits(b)
    pw, po = model.probabilities(lw).numpy(), model.probabilities(lo).numpy()
    rows = np.arange(len(y))
    hit_w, hit_o = (lw.argmax(1).numpy() == y).astype(np.float64), (lo.argmax(1).numpy() == y).astype(np.float64)
    drop = pw[rows, y] - po[rows, y]
    acc_w, acc_o = _stats.proportion_cell(hit_w), _stats.proportion_cell(hit_o)
    d = _stats.mean_cell(drop)
    return {"n": int(len(y)), "chance": 1.0 / model.n_classes,
            "accuracy_with": acc_w["estimate"], "accuracy_with_ci95": [acc_w["low"], acc_w["high"]],
            "accuracy_without": acc_o["estimate"], "accuracy_without_ci95": [acc_o["low"], acc_o["high"]],
            "accuracy_drop": acc_w["estimate"] - acc_o["estimate"],
            "probability_with": float(pw[rows, y].mean()), "probability_without": float(po[rows, y].mean()),
            "true_class_probability_drop": d["estimate"], "true_class_probability_drop_ci95": [d["low"], d["high"]],
            "true_class_probability_drop_median": float(np.median(drop)),
            "wilcoxon_p": _stats.paired_test(pw[rows, y], po[rows, y], alternative="greater")["p_value"],
            "prediction_changed": float((lw.argmax(1) != lo.argmax(1)).float().mean()),
            "interval": {"accuracy": acc_w["method"], "probability_drop": d["method"]}}


# -- (d) the study ------------------------------------------------------------------------------------------
#: Columns of :meth:`ModelTruthStudy.table`.
TABLE_COLUMNS = ("method", "rows", "clips", "mass inside", "low", "high", "rank accuracy", "rank low", "rank high",
                 "mass outside", "chance", "p above chance", "interval")


@dataclass
class ModelTruthStudy:
    """One kind of ground truth about f, every explainer scored on it (:func:`model_truth_study`).

    Attributes
    ----------
    kind : str
        ``'band'``, ``'span'`` or ``'planted'``.
    dataset, preset : str
    region : dict
        What f sees (band / span), or how the marker was made (planted).
    scores : pd.DataFrame
        The tidy per-clip table: one row per (method, explained row): ``method``, ``uid``, ``row``,
        ``clip``, ``target``, ``label`` and :data:`SCORE_COLUMNS`.
    classifier : dict
        f: how it was trained (validation score, epochs, seconds, reused or not) and its test accuracy
        on the scored clips (with the marker, for ``planted``).
    shortcut : dict or None
        :func:`shortcut_check` (``planted`` only).
    methods : list of str
        The explainers' names, in table order.
    messages : list of str
        Where f and each trained explainer came from.
    seconds : dict
        Wall time of f, of the explainers' training and of each method's scoring.
    explainer_epochs : dict
        The epochs of the trained explainers.
    """

    kind: str
    dataset: str
    preset: str
    region: dict
    scores: pd.DataFrame
    classifier: dict
    shortcut: dict | None = None
    methods: list = field(default_factory=list)
    messages: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    explainer_epochs: dict = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """The summary: one row per explainer, in :attr:`methods` order (:data:`TABLE_COLUMNS`).

        ``mass inside`` and ``rank accuracy`` are means over the scored rows with their 95 % interval
        (:func:`~l2i_core.evaluate.stats.mean_cell`: a percentile bootstrap over clips, the rows of one
        clip resampled together; NaN bounds below :data:`~l2i_core.evaluate.stats.MIN_ROWS` clips).
        ``chance`` is the region's mean share of the plane (what a uniform mask scores in mass), and
        ``p above chance`` the one-sided Wilcoxon signed-rank test of mass inside minus that share,
        Holm-corrected over the methods of the table. ``rows`` counts every scored row, ``clips`` the
        clips whose mass could be scored (an all-zero mask has none: NaN rows are dropped, as everywhere in
        :mod:`~l2i_core.evaluate.stats`).
        """
        rows, pvals = [], []
        for m in self.methods:
            g = self.scores[self.scores["method"] == m]
            clusters = g["uid"].to_numpy() if "uid" in g else None
            mass = _stats.mean_cell(g["mass_inside"].to_numpy(), clusters)
            rank = _stats.mean_cell(g["rank_accuracy"].to_numpy(), clusters)
            pvals.append(_stats.paired_test(g["mass_inside"].to_numpy(), g["region_share"].to_numpy(),
                                            alternative="greater")["p_value"] if len(g) else np.nan)
            rows.append({"method": m, "rows": int(len(g)), "clips": int(mass["n_clusters"]),
                         "mass inside": mass["estimate"], "low": mass["low"], "high": mass["high"],
                         "rank accuracy": rank["estimate"], "rank low": rank["low"], "rank high": rank["high"],
                         "mass outside": float(g["mass_outside"].mean()) if len(g) else np.nan,
                         "chance": float(g["region_share"].mean()) if len(g) else np.nan,
                         "interval": mass["method"]})
        adjusted = _stats.holm(np.asarray(pvals, np.float64)) if pvals else []
        for r, q in zip(rows, adjusted):
            r["p above chance"] = float(q)
        return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))

    def reviewer(self, *, alpha: float = 0.05, seed: int = 0):
        """The explainers compared as a reviewer reads a table (:func:`~l2i_core.evaluate.tables.reviewer_table`).

        Mass inside and rank accuracy per method with n and intervals, paired Wilcoxon tests between the
        explainers (clips paired by ``uid``; identity, random and the oracle are references, never
        contestants) Holm-corrected over the table, and a leader per metric only where the corrected
        test of the best against the runner-up rejects.

        Parameters
        ----------
        alpha : float
            Of the Holm correction.
        seed : int
            Of the bootstraps.

        Returns
        -------
        ReviewerTable
        """
        if "uid" not in self.scores:
            raise ParameterError("the scores have no 'uid' column: the paired tests need each row's clip")
        return _tables.reviewer_table(self.scores.assign(condition=self.kind), self.kind,
                                      ["mass_inside", "rank_accuracy"],
                                      higher_is_better={"mass_inside": True, "rank_accuracy": True},
                                      names={"mass_inside": "mass inside", "rank_accuracy": "rank accuracy"},
                                      alpha=alpha, seed=seed)

    def sentences(self) -> list[str]:
        """The table read out: one sentence per explainer (and the shortcut check, for ``planted``), then the
        reviewer's verdicts (:meth:`reviewer`) where the scores name their clips."""
        where = "the marker's support" if self.kind == "planted" else "the region f sees"
        out = []
        if self.shortcut:
            s = self.shortcut
            drop = _stats.format_ci(s["true_class_probability_drop"], *s["true_class_probability_drop_ci95"], digits=2)
            out.append(f"Removing the marker from {s['n']} test clips takes f's accuracy from "
                       f"{100 * s['accuracy_with']:.1f} % to {100 * s['accuracy_without']:.1f} % (chance "
                       f"{100 * s['chance']:.1f} %); the true class's probability drops by {drop} on average "
                       f"(one-sided Wilcoxon p = {s['wilcoxon_p']:.2g}); {100 * s['prediction_changed']:.1f} % of its "
                       "decisions change.")
            if not relies_on_marker(s):
                out.append(f"So f does not rely on the marker (fewer than {100 * RELIANCE_MIN_CHANGED:.0f} % of its "
                           "decisions change without it): the marker is not f's evidence, and the table below does "
                           "not score the explainers on what f relies on. A louder or longer marker (snr_db) is "
                           "needed before it can.")
        for _, r in self.table().iterrows():
            ci = _stats.format_ci(100 * r["mass inside"], 100 * r["low"], 100 * r["high"], digits=1)
            out.append(f"{r['method']}: {ci} % of its relevance lies in {where} (chance {100 * r['chance']:.1f} %); "
                       f"rank accuracy {r['rank accuracy']:.2f} ({int(r['rows'])} rows).")
        if "uid" in self.scores:
            out.extend(self.reviewer().sentences())
        return out

    def plot(self, ax=None, *, metric: str = "mass inside"):
        """Each explainer's ``metric`` (``'mass inside'`` or ``'rank accuracy'``) with its interval, beside chance.

        Parameters
        ----------
        ax : matplotlib Axes or None
            Drawn there, else on a new figure.
        metric : {'mass inside', 'rank accuracy'}

        Returns
        -------
        matplotlib.figure.Figure
        """
        if metric not in ("mass inside", "rank accuracy"):
            raise ParameterError(f"metric must be 'mass inside' or 'rank accuracy', got {metric!r}")
        import matplotlib.pyplot as plt

        t = self.table()
        lo, hi = ("low", "high") if metric == "mass inside" else ("rank low", "rank high")
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.45 * len(t) + 1.2))
        yy = np.arange(len(t))[::-1]
        est = t[metric].to_numpy(np.float64)
        err = np.abs(np.stack([est - t[lo].to_numpy(np.float64), t[hi].to_numpy(np.float64) - est]))
        ax.errorbar(est, yy, xerr=np.nan_to_num(err), fmt="o", color="C0", capsize=3, label=metric)
        ax.scatter(t["chance"], yy, marker="|", s=200, color="0.4", label="chance (the region's share)")
        ax.set_yticks(yy, t["method"])
        ax.set_xlim(-0.02, 1.02)
        where = "the marker's support" if self.kind == "planted" else "the region f sees"
        ax.set_xlabel(f"{metric} ({where})")
        ax.set_title(f"{self.dataset}, {self.preset}: {self.kind}", fontsize=10)
        ax.legend(loc="lower right", fontsize=8)
        ax.figure.tight_layout()
        return ax.figure

    def record(self) -> dict:
        """The study for ``results.json``: strict JSON (NaN as null)."""
        return _jsonable({"kind": self.kind, "dataset": self.dataset, "preset": self.preset, "region": self.region,
                          "classifier": self.classifier,
                          "shortcut": ({**self.shortcut, "relies_on_marker": relies_on_marker(self.shortcut)}
                                       if self.shortcut else self.shortcut),
                          "table": self.table().to_dict(orient="records"),
                          "reviewer": self.reviewer().record() if "uid" in self.scores else None,
                          "messages": list(self.messages),
                          "seconds": self.seconds, "explainer_epochs": self.explainer_epochs,
                          "scoring": {"relevance": "mask", "rank_ties": "broken at random (seeded)",
                                      "chance": "the region's share of the plane (a uniform mask's mass)",
                                      "explained": ("the true class" if self.kind == "planted"
                                                    else "f's top class")}})


def model_truth_study(cfg, dataset, kind: str = "band", *, region: BlindRegion | None = None,
                      methods=MODEL_TRUTH_METHODS, epochs: int | None = None, explainer_epochs: int | None = None,
                      n_clips: int | None = None, snr_db: float = MARKER_SNR_DB, batch_size: int = 16,
                      train_overrides: dict | None = None, progress: bool = True) -> ModelTruthStudy:
    """One kind of ground truth about f, end to end: f trained (or reused), its explainers trained on it, every
    explainer scored on the test clips.

    ``band`` / ``span``: f (:func:`train_blind_classifier`) is explained for its top class, and each row is
    scored against the bins f sees (:func:`~l2i_core.models.blind.visible_region_on_grid`). ``planted``:
    f (:func:`train_planted_classifier`) is checked by :func:`shortcut_check`, explained for each clip's
    true class (the class whose marker the clip carries), and each row is scored against that clip's
    marker support.

    Parameters
    ----------
    cfg : RunConfig
        ``artifacts_dir`` (f and its explainers go to ``<artifacts>/model_truth/<kind>/``), ``preset``, ``seed``.
    dataset : AudioDataset
        Multi-class for ``planted``.
    kind : {'band', 'span', 'planted'}
        ``'marker'`` is accepted for ``'planted'``.
    region : BlindRegion or None
        ``band`` / ``span``: what f sees (default :func:`default_region`).
    methods : sequence of str or comma-separated str
        Among :data:`MODEL_TRUTH_METHODS` and ``'oracle'`` (``planted`` only: the marker's ideal ratio mask).
    epochs : int or None
        f's training epochs (None: the recipe's).
    explainer_epochs : int or None
        The trained explainers' epochs (None: the recipes' 35 for L2I, 40 for L-MAC).
    n_clips : int or None
        Score the first ``n_clips`` test clips (None: all; a quick run: ``compare_clips``).
    snr_db : float
        ``planted``: the clip's energy over the marker's.
    batch_size : int
        Clips explained at once.
    train_overrides : dict or None
        f's recipe fields (``lr``, ``batch_size``, ``time_shift``, ...), as ``**overrides`` of
        :func:`train_blind_classifier` / :func:`train_planted_classifier`.
    progress : bool

    Returns
    -------
    ModelTruthStudy

    Raises
    ------
    ParameterError
        An unknown kind or explainer, a region or the oracle where the kind has none, a front end whose
        f has its own STFT (``aisfx``) for ``band`` / ``span``, or no test clip.
    """
    kind = _canonical_kind(kind)
    names = _method_names(methods)
    if "oracle" in names and kind != "planted":
        raise ParameterError("the oracle needs a known stem: only kind='planted' has one")
    if region is not None and kind == "planted":
        raise ParameterError("kind='planted' takes no region: the marker's support is the region")
    if n_clips is not None and int(n_clips) < 1:
        raise ParameterError(f"n_clips must be >= 1 or None, got {n_clips}")
    if int(batch_size) < 1:
        raise ParameterError(f"batch_size must be >= 1, got {batch_size}")
    p = cfg.preset  # a RunConfig holds the resolved Preset
    if kind != "planted" and not p.shared_stft:
        raise ParameterError(f"preset {p.name!r}: f has its own STFT, so the bins it sees are not V's; "
                             "band / span need a preset where f reads V's STFT")
    if not len(dataset.split("test")):
        raise ParameterError(f"{dataset.name}: no test clip to score")
    seconds: dict = {}
    t0 = time.perf_counter()
    out = Path(cfg.artifacts_dir) / "model_truth" / kind
    limit = n_clips if n_clips else _size(cfg, "compare_clips", None)
    stems = clean = None
    shortcut = None
    if kind == "planted":
        planted, f, meta, msg = train_planted_classifier(cfg, dataset, epochs=epochs, snr_db=snr_db, progress=progress,
                                                         out_dir=out, **(train_overrides or {}))
        data = planted.dataset
        keep = slice(0, min(int(limit), len(planted.labels)) if limit else len(planted.labels))
        x, y = planted.mixtures[keep], planted.labels[keep]
        stems, clean = planted.markers[keep], planted.clean[keep]
        uids = [r.uid for r in data.split("test")][keep]
        region_desc = planted.meta
    else:
        region = region if region is not None else default_region(kind, p, dataset.duration)
        f, meta, msg = train_blind_classifier(cfg, dataset, region, epochs=epochs, progress=progress, out_dir=out,
                                              **(train_overrides or {}))
        data = dataset
        test = dataset.split("test")
        idx = list(range(min(int(limit), len(test)) if limit else len(test)))
        x = test.load_batch(idx, p) if idx else np.zeros((0, p.n_samples(dataset.duration)), np.float32)
        y = test.targets()[idx] if not dataset.multilabel and idx else None
        uids = [test[i].uid for i in idx]
        region_desc = region.to_dict()
    seconds["classifier"] = time.perf_counter() - t0
    model = AudioModel(f, p, classes=dataset.classes, multilabel=dataset.multilabel)
    t1 = time.perf_counter()
    explainers, messages = model_truth_explainers(cfg, data, model, names, out_dir=out, epochs=explainer_epochs,
                                                  progress=progress)
    seconds["explainers"] = time.perf_counter() - t1
    if kind == "planted":
        regions = marker_support(stems, clean, p, floor_db=SUPPORT_FLOOR_DB)
        shortcut = shortcut_check(model, x, clean, y)
    else:
        regions = visible_region_on_grid(f, p, p.n_frames(dataset.duration))
    logits = torch.cat([model.logits(x[s : s + batch_size]).cpu() for s in range(0, len(x), batch_size)])
    clf = {**meta.get("result", {}), "reused": msg.startswith("reused"), "test_clips": int(len(x)),
           "chance": 1.0 / len(dataset.classes)}
    if y is not None:
        acc = _stats.proportion_cell((logits.argmax(1).numpy() == y).astype(np.float64))
        clf.update({"test_accuracy": acc["estimate"], "test_accuracy_ci95": [acc["low"], acc["high"]]})
    frames = []
    for ex in explainers:
        t2 = time.perf_counter()
        for s in range(0, len(x), batch_size):
            xb = x[s : s + batch_size]
            target = y[s : s + batch_size] if kind == "planted" else None
            e = ex.attribute(xb, target, with_audio=False,
                             stems=stems[s : s + batch_size] if ex.needs_stems else None)
            reg = regions if regions.ndim == 2 else regions[s : s + batch_size][e.clip]
            df = region_scores(e, reg, seed=cfg.seed)
            df.insert(0, "method", ex.name)
            df["clip"] += s
            df["uid"] = [uids[c] for c in df["clip"]]
            df["label"] = [int(y[c]) for c in df["clip"]] if y is not None else -1
            frames.append(df)
        seconds[ex.name] = time.perf_counter() - t2
    scores = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    seconds["total"] = time.perf_counter() - t0
    n_head, n_lmac = _default_explainer_epochs(cfg, data, explainer_epochs)
    return ModelTruthStudy(kind=kind, dataset=dataset.name, preset=p.name, region=region_desc, scores=scores,
                           classifier=clf, shortcut=shortcut, methods=[e.name for e in explainers],
                           messages=[msg, *messages], seconds=seconds,
                           explainer_epochs={"l2i": n_head, "lmac": n_lmac})
