"""Reuse-or-build steps shared by the notebooks: the dictionary (notebook 01) and the classifier
(notebook 02) that later notebooks need, found in ``artifacts_dir`` or built there.

Each function returns the object and one sentence saying whether it was reused or built, which the
notebooks print, so a reader always knows where a number comes from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pooch
import torch

from l2i_core._errors import ParameterError
from l2i_core.data import SPLITS
from l2i_core.evaluate.stats import proportion_ci
from l2i_core.explain.l2i import L2IExplainer
from l2i_core.metrics import paper_fidelity
from l2i_core.models.checkpoints import load_classifier, load_lmac
from l2i_core.nmf.dictionary import Dictionary, learn_dictionary, load_dictionary, save_dictionary
from l2i_core.pipeline.provenance import recipe, recipe_mismatch, stamp_recipe
from l2i_core.train.cache import build_cache, cache_bytes_per_clip, load_cache
from l2i_core.train.distributed import barrier, dist_info, gather_map, is_main
from l2i_core.train.finetune import BACKBONES, FinetuneConfig, finetune_pretrained
from l2i_core.train.lmac import LMACConfig, train_lmac
from l2i_core.train.losses import LossWeights
from l2i_core.train.recipes import (
    InterpreterConfig,
    InterpreterResult,
    TrainResult,
    compute_features,
    default_train_config,
    evaluate_classifier,
    interpreter_outputs,
    predict_logits,
    train_classifier,
    train_interpreter,
)

__all__ = ["trained_for", "interpreter_reusable", "ensure_dictionary", "learn_dictionary_step", "ensure_classifier", "train_classifier_step",
           "score_classifier_step", "finetune_step", "training_summary", "learning_history", "ensure_interpreter", "train_interpreter_step", "nmf_relative_error",
           "interpreter_test_summary",
           "default_interpreter_epochs", "ensure_lmac", "explainer_dir", "explainer_seeds", "SPEECH_CLASSES", "speech_sense_check", "split_caches",
           "CACHE_MEMORY_SHARE", "model_fingerprint", "feature_splits", "FEATURE_MEMORY_SHARE"]

#: The share of the run's memory budget (:attr:`RunConfig.memory_gb <l2i_core.pipeline.run.RunConfig.memory_gb>`)
#: that the activation caches of one step may take in memory; past it they are written to
#: ``<artifacts>/cache/<split>/`` (the sharded layout of ``l2i build-cache``) and read a batch at a time.
CACHE_MEMORY_SHARE = 0.5

#: The AudioSet classes under "Speech" in its ontology (indices 0-7 of the 527 outputs).
SPEECH_CLASSES = ("Speech", "Male speech, man speaking", "Female speech, woman speaking", "Child speech, kid speaking",
                  "Conversation", "Narration, monologue", "Babbling", "Speech synthesizer")


def _artifact_meta(cfg, dataset) -> dict:
    """What a classifier or interpreter sidecar records of its run, and what reuse checks."""
    return {"dataset": dataset.name, "preset": cfg.preset.name, "classes": dataset.classes}


def _trained_for(meta: dict, cfg, dataset) -> bool:
    """Whether a saved classifier or interpreter was trained on this dataset, preset and classes."""
    return trained_for(meta, **_artifact_meta(cfg, dataset))


def trained_for(meta: dict, *, dataset: str, preset: str, classes) -> bool:
    """Whether a sidecar ``meta`` records this dataset name, preset name and class list (what reuse checks)."""
    return (meta.get("dataset"), meta.get("preset"), meta.get("classes")) == (dataset, preset, classes)


def interpreter_reusable(meta: dict, **run) -> bool:
    """Whether :func:`ensure_interpreter` reuses the interpreter of sidecar ``meta`` for ``run``
    (``dataset, preset, classes`` as :func:`trained_for`) rather than training it again."""
    return trained_for(meta, **run) and "best_selection_score" in meta


def ensure_dictionary(cfg, dataset, *, n_components: int = 100, sparsity: float | None = None,
                      max_iter: int | None = None, progress: bool = True, path=None,
                      sr: int | None = None) -> tuple[Dictionary, str]:
    """The dictionary of ``cfg.artifacts_dir`` if it matches dataset, preset, size and its recipe (seed, clips, the
    code; ``sparsity`` and ``max_iter`` only when given); else learn it there (defaults µ = 0.8, 200 iterations).

    ``path`` (with ``sr`` when it has no sidecar): a dictionary brought by the user, checked against
    ``cfg.preset`` and used as it is. A ``dictionary.npy`` in ``cfg.artifacts_dir`` that
    :func:`learn_dictionary_step` did not write (no sidecar, or one without the learning record) is
    never overwritten: a clear error says to move it or pass it as ``path``.
    """
    if path is not None:
        d = load_dictionary(path, preset=cfg.preset, sr=sr)
        return d, f"using the dictionary given: {path} ({d.n_components} atoms, {d.meta['sr']} Hz)"
    target = Path(cfg.artifacts_dir) / "dictionary.npy"
    per_class = 10 if dataset.multilabel else None
    if target.is_file():
        _refuse_foreign_dictionary(target)
        try:
            d = load_dictionary(target, preset=cfg.preset)
        except ParameterError:  # learned here for another sample rate or grid: relearn below
            d = None
        m = d.meta if d is not None else {}
        same = d is not None and (m.get("dataset") == dataset.name and m.get("preset", {}).get("name") == cfg.preset.name
                and (str(m.get("mode", "")).startswith("per_class") if per_class
                     else m.get("n_components") == n_components))
        side = json.loads(target.with_suffix(".json").read_text()) if same else {}
        differs = recipe_mismatch(side, _dictionary_recipe(cfg, dataset, n_components, sparsity, max_iter),
                                  compare_epochs=False) if same else ""
        if same and not differs:
            return d, f"reused the dictionary of notebook 01: {target} ({d.n_components} atoms, µ={m.get('sparsity')})"
        why = differs or "it was learned for other data or another size"
    else:
        why = "none was found"
    d = learn_dictionary_step(cfg, dataset, n_components=n_components, progress=progress,
                              sparsity=0.8 if sparsity is None else sparsity, max_iter=200 if max_iter is None else max_iter)
    return d, f"learned a new dictionary ({why} in {target.parent}): {d.n_components} atoms in {d.meta['seconds']:.0f} s"


def _refuse_foreign_dictionary(path: Path) -> None:
    """Raise unless ``path`` was written by :func:`learn_dictionary_step` (its sidecar records the learning)."""
    side = path.with_suffix(".json")
    meta = json.loads(side.read_text()) if side.is_file() else {}
    if not ("mode" in meta and "l2i_version" in meta):
        raise ParameterError(f"{path} was not learned here ({'no sidecar' if not side.is_file() else 'foreign sidecar'}); "
                             "it is never overwritten: move it away, or pass it explicitly "
                             "(ensure_dictionary(cfg, dataset, path=..., sr=...))")


def learn_dictionary_step(cfg, dataset, *, n_components: int = 100, sparsity: float = 0.8, max_iter: int = 200,
                          progress: bool = True) -> Dictionary:
    """Learn the dictionary as notebook 01 does and save it as ``cfg.artifacts_dir / 'dictionary.npy'``.

    Multi-label data follows the paper's SONYC-UST recipe (10 atoms per class); a quick run caps the
    iterations and clips (``dictionary_max_iter``, ``dictionary_max_clips`` of
    :data:`~l2i_core.pipeline.run.QUICK_SIZES`). A file there that this step did not write is never overwritten.
    """
    target = Path(cfg.artifacts_dir) / "dictionary.npy"
    if target.is_file():
        _refuse_foreign_dictionary(target)
    target.parent.mkdir(parents=True, exist_ok=True)  # also the scratch folder of streamed frames
    d = learn_dictionary(dataset, cfg.preset, n_components=int(n_components), sparsity=float(sparsity),
                         seed=cfg.seed, max_iter=min(int(max_iter), cfg.size("dictionary_max_iter", int(max_iter))),
                         per_class=10 if dataset.multilabel else None,
                         max_clips=cfg.size("dictionary_max_clips", None), progress=progress,
                         memory_gb=cfg.memory_gb, scratch_dir=cfg.artifacts_dir)
    save_dictionary(d, target, preset=cfg.preset)
    stamp_recipe(target.with_suffix(".json"), _dictionary_recipe(cfg, dataset, n_components, sparsity, max_iter))
    return d


def _dictionary_recipe(cfg, dataset, n_components, sparsity, max_iter) -> dict:
    """What shapes notebook 01's dictionary (:mod:`~l2i_core.pipeline.provenance`): its size, sparsity and iterations
    (None: not asked for, so not compared)."""
    return recipe(cfg, dataset, kind="dictionary",
                  n_components=None if dataset.multilabel else int(n_components),
                  sparsity=None if sparsity is None else float(sparsity),
                  max_iter=None if max_iter is None else min(int(max_iter), cfg.size("dictionary_max_iter", int(max_iter))))


def ensure_classifier(cfg, dataset, *, epochs: int | None = None, features: dict | None = None):
    """The classifier of ``cfg.artifacts_dir`` if it matches dataset, preset and classes; else train it
    with :func:`train_classifier_step`.

    Returns
    -------
    model : AudioCNN (eval mode)
    meta : dict
    message : str
    """
    path = Path(cfg.artifacts_dir) / "classifier.pt"
    if path.is_file():
        model, meta = load_classifier(path)
        differs = recipe_mismatch(meta, _classifier_recipe(cfg, dataset, epochs), compare_epochs=epochs is not None)
        if _trained_for(meta, cfg, dataset) and not differs:
            return model, meta, (f"reused the classifier of notebook 02: {path} (epoch {meta['best_epoch']}, "
                                 f"validation {meta['metric']} {meta['best_validation_metric']:.3f})")
        why = differs if _trained_for(meta, cfg, dataset) else "it was trained on other data or with another preset"
    else:
        why = "none was found"
    res = train_classifier_step(cfg, dataset, epochs=epochs, features=features)
    model, meta = load_classifier(path)
    return model, meta, (f"trained a new classifier ({why} in {path.parent}): validation {res.metric_name} "
                         f"{res.best_metric:.3f} at epoch {res.best_epoch}, {res.seconds:.0f} s")


def train_classifier_step(cfg, dataset, *, epochs: int | None = None, features: dict | None = None,
                          **overrides) -> TrainResult:
    """Train the classifier as notebook 02 does and save it in ``cfg.artifacts_dir``.

    The recipe is :func:`~l2i_core.train.recipes.default_train_config` for the data and preset, with
    ``cfg.seed`` and ``overrides`` (``lr``, ``batch_size``, ...); ``epochs`` (0 or None: the
    recipe's) becomes ``classifier_epochs`` of :data:`~l2i_core.pipeline.run.QUICK_SIZES` in a quick run.
    """
    if cfg.preset.classifier in BACKBONES:
        res = finetune_step(cfg, dataset, epochs=epochs, features=features, **overrides)
    else:
        train_cfg = default_train_config(dataset.multilabel, cfg.preset, seed=cfg.seed, **overrides)
        train_cfg = dataclasses.replace(train_cfg, epochs=_classifier_epochs(cfg, dataset, epochs))
        res = train_classifier(dataset, cfg.preset, train_cfg, out_dir=cfg.artifacts_dir, features=features)
    if is_main():  # rank 0 wrote the sidecar; the others wait until its recipe is in it
        stamp_recipe(Path(cfg.artifacts_dir) / "classifier.json", _classifier_recipe(cfg, dataset, epochs))
    barrier()
    return res


def _classifier_epochs(cfg, dataset, epochs: int | None) -> int:
    """The epochs notebook 02 trains f for (its last-blocks candidate's, for a pretrained backbone)."""
    if cfg.preset.classifier in BACKBONES:
        return cfg.size("classifier_epochs", int(epochs or FinetuneConfig().epochs_last))
    return cfg.size("classifier_epochs", int(epochs or default_train_config(dataset.multilabel, cfg.preset).epochs))


def _classifier_recipe(cfg, dataset, epochs: int | None) -> dict:
    """What shapes notebook 02's f (:mod:`~l2i_core.pipeline.provenance`)."""
    return recipe(cfg, dataset, epochs=_classifier_epochs(cfg, dataset, epochs), kind="classifier")


def finetune_step(cfg, dataset, *, epochs: int | None = None, features: dict | None = None, **overrides) -> TrainResult:
    """Notebook 02 with a pretrained backbone (presets ``efficientat``, ``aisfx``): :func:`~l2i_core.train.finetune.finetune_pretrained`.

    ``epochs`` (0 or None: the recipe's) sets the head + last-blocks candidate's epochs (the head-only
    one trains three times as many); ``lr`` and ``batch_size`` pass through; a quick run caps both
    with ``classifier_epochs`` of :data:`~l2i_core.pipeline.run.QUICK_SIZES`.
    """
    known = {f.name for f in dataclasses.fields(FinetuneConfig)}
    extra = {k: v for k, v in overrides.items() if k in known}
    ft = FinetuneConfig(seed=cfg.seed, **extra)
    last = cfg.size("classifier_epochs", int(epochs or ft.epochs_last))
    head = cfg.size("classifier_epochs", int(3 * epochs) if epochs else ft.epochs_head)
    ft = dataclasses.replace(ft, epochs_last=last, epochs_head=head)
    return finetune_pretrained(dataset, cfg.preset, ft, out_dir=cfg.artifacts_dir, features=features)


def training_summary(result: TrainResult, artifacts_dir) -> str:
    """Notebook 02's one-paragraph account of a training run (from scratch, or fine-tuning a pretrained backbone)."""
    c, m = result.meta["config"], result.meta
    if "candidates" in m:
        rows = "; ".join(f"{r['trainable']} validation {r['validation']:.3f} ({r['seconds']:.0f} s)"
                         for r in m["candidates"])
        name = "EfficientAT mn04 (AudioSet)" if m.get("preset") == "efficientat" else "aiSFX"
        return (f"pretrained {name} backbone, candidates: {rows}; frozen blocks computed once in {m['prep_seconds']:.0f} s; "
                f"kept '{m['trainable']}' (best validation {result.metric_name} {result.best_metric:.3f}); "
                f"{sum(q.numel() for q in result.model.parameters()):,} parameters; {result.seconds:.0f} s in all on "
                f"{m['device']}; saved to {artifacts_dir}")
    return (f"{c['epochs']} epochs, mixup alpha {c['mixup_alpha']}, lr {c['lr']}, batch {c['batch_size']}; "
            f"{sum(q.numel() for q in result.model.parameters() if q.requires_grad):,} parameters; trained in "
            f"{result.seconds:.0f} s on {m['device']}; selected epoch {result.best_epoch} (validation "
            f"{result.metric_name} {result.best_metric:.3f}); saved to {artifacts_dir}")


def learning_history(result: TrainResult):
    """What notebook 02 plots: the run's epochs, or every fine-tuning candidate's that has epochs."""
    hist = result.meta.get("histories")
    return {k: v for k, v in hist.items() if v} if hist else result.history


def score_classifier_step(cfg, dataset, result: TrainResult, test_features) -> dict:
    """Notebook 02's test scores: :func:`~l2i_core.train.recipes.evaluate_classifier` on the test split,
    with the protocol, the selection on validation and the run beside them (``results.json``'s
    ``classifier`` section). ``scores["logits"]`` holds the test logits for plots (pop it before saving)."""
    test = dataset.split("test")
    labels = test.label_matrix() if dataset.multilabel else test.targets()
    logits = predict_logits(result.model, test_features)
    scores = evaluate_classifier(logits, labels, multilabel=dataset.multilabel, classes=dataset.classes,
                                 thresholds=result.thresholds)
    for name, model in getattr(result, "candidates", {}).items():  # fine-tuning candidates, selected on validation
        row = next(c for c in result.meta["candidates"] if c["trainable"] == name)
        s = evaluate_classifier(predict_logits(model, test_features), labels, multilabel=dataset.multilabel,
                                classes=dataset.classes)
        row["test"] = s["macro_auprc" if dataset.multilabel else "accuracy"]
    if "candidates" in result.meta:
        scores.update(fine_tuning=result.meta["candidates"], trainable=result.meta["trainable"],
                      backbone=result.meta["backbone"])
    if not dataset.multilabel:  # the accuracy's Wilson 95 % interval over the test clips
        scores["accuracy_ci95"] = list(proportion_ci(round(scores["accuracy"] * scores["n_clips"]), scores["n_clips"]))
    scores.update(protocol=dataset.protocol, split="test", best_epoch=result.best_epoch,
                  validation_metric={result.metric_name: result.best_metric}, train_seconds=result.seconds,
                  preset=cfg.preset.name, quick=cfg.quick)
    return {**scores, "logits": logits}


def explainer_dir(cfg, seed: int | None = None) -> Path:
    """Where the trained explainers of training seed ``seed`` live: ``cfg.artifacts_dir`` for the run's own
    seed (``None`` or ``cfg.seed``: notebook 03's interpreters and notebook 08's L-MAC), else
    ``<artifacts>/seeds/seed-<seed>/`` (the other seeds of the comparison, trained on the same f)."""
    if seed is None or int(seed) == int(cfg.seed):
        return Path(cfg.artifacts_dir)
    return Path(cfg.artifacts_dir) / "seeds" / f"seed-{int(seed)}"


def explainer_seeds(cfg, n_seeds: int = 3) -> list[int]:
    """The training seeds of the trained explainers: the run's seed, then the next ``n_seeds − 1`` integers."""
    if int(n_seeds) < 1:
        raise ParameterError(f"n_seeds={n_seeds!r}: give at least 1 training seed (the comparison uses 3)")
    return [int(cfg.seed) + k for k in range(int(n_seeds))]


#: The trained explainers' sidecars, by the comparison's method name.
_BUDGET_SIDECARS = {"L2I (attention)": "interpreter_attention.json", "L2I (max-pool)": "interpreter_max.json",
                    "L-MAC": "lmac.json"}


def training_budgets(cfg, dataset, seeds: Sequence[int] | None = None) -> dict:
    """What each trained explainer of the comparison cost, per training seed, read from its sidecar.

    Parameters
    ----------
    cfg : RunConfig
    dataset : AudioDataset
        Its train split sizes the optimiser steps (epochs × batches of the global batch size).
    seeds : sequence of int, optional
        Training seeds (:func:`explainer_seeds`); default: the run's own.

    Returns
    -------
    dict
        Method → ``{"seeds": [...], "epochs": [...], "best_epoch": [...], "steps": [...],
        "seconds": [...], "selection_metric": str}``, one entry per seed that has a sidecar (methods
        without any sidecar are left out).
    """
    import math

    n_train = len(dataset.split("train"))
    out: dict = {}
    for method, name in _BUDGET_SIDECARS.items():
        for s in (list(seeds) if seeds is not None else [int(cfg.seed)]):
            side = explainer_dir(cfg, s) / name
            if not side.is_file():
                continue
            m = json.loads(side.read_text())
            hist = m.get("history", [])
            batch = int(m.get("global_batch_size") or 1)
            b = out.setdefault(method, {"seeds": [], "epochs": [], "best_epoch": [], "steps": [], "seconds": [],
                                        "selection_metric": m.get("selection_metric", "")})
            b["seeds"].append(int(s))
            b["epochs"].append(len(hist))
            b["best_epoch"].append(m.get("best_epoch"))
            b["steps"].append(len(hist) * math.ceil(n_train / batch))
            b["seconds"].append(round(float(m.get("train_seconds") or sum(h.get("seconds", 0.0) for h in hist)), 1))
    return out


def _classifier_sha(cfg) -> str:
    return pooch.file_hash(str(Path(cfg.artifacts_dir) / "classifier.pt"), alg="sha256")


def ensure_interpreter(cfg, dataset, pooling: str = "attention", *, epochs: int | None = None, progress: bool = True,
                       seed: int | None = None, caches: dict | None = None):
    """The interpreter of notebook 03 in ``cfg.artifacts_dir`` (for this dataset, preset and head); else
    learn the dictionary / train the classifier as needed and train the interpreter there.

    ``seed`` (default: the run's) is the interpreter's training seed; another seed than the run's is
    trained on the same f and dictionary into :func:`explainer_dir` and reused only when it was trained
    for this very classifier (the sha256 of ``classifier.pt``). ``caches``: the activation caches of
    the train and validation splits, when already built.

    Returns
    -------
    explainer : l2i_core.explain.l2i.L2IExplainer
        Classifier + interpreter, ready to interpret clips.
    message : str
    """
    d = Path(cfg.artifacts_dir)
    e = explainer_dir(cfg, seed)
    own = e == d
    side = e / f"interpreter_{pooling}.json"
    why = "none was found"
    if side.is_file() and (d / "classifier.pt").is_file():
        m = json.loads(side.read_text())
        same_f = own or m.get("classifier_sha256") == _classifier_sha(cfg)
        differs = recipe_mismatch(m, _interpreter_recipe(cfg, dataset, pooling, seed, epochs),
                                  compare_epochs=epochs is not None)
        if interpreter_reusable(m, **_artifact_meta(cfg, dataset)) and same_f and not differs:
            ex = L2IExplainer.from_artifacts(d, pooling, interpreter_dir=e)
            return ex, (f"reused the {pooling} interpreter {'of notebook 03' if own else f'of seed {seed}'}: "
                        f"{e / f'interpreter_{pooling}.pt'} "
                        f"(epoch {m['best_epoch']}, validation {m['selection_metric']} {m['best_selection_score']:.3f})")
        why = ("it was trained for another classifier" if not same_f else
               "it was trained on other data or with another preset" if not _trained_for(m, cfg, dataset)
               else differs or "it was written by an older l2i")
    dictionary, _ = ensure_dictionary(cfg, dataset, progress=progress)
    classifier, clf_meta, _ = ensure_classifier(cfg, dataset)
    caches = caches or split_caches(cfg, dataset, classifier, ("train", "validation"), progress=progress)
    run = cfg if own else dataclasses.replace(cfg, seed=int(seed))
    res = train_interpreter_step(run, dataset, pooling, dictionary, caches, clf_meta, epochs=epochs, progress=progress,
                                 out_dir=e, extra_meta=None if own else {"classifier_sha256": _classifier_sha(cfg)})
    ex = L2IExplainer.from_artifacts(d, pooling, interpreter_dir=e)
    return ex, (f"trained a new {pooling} interpreter{'' if own else f' of seed {seed}'} ({why} in {e}): "
                f"{len(res.history)} epochs, validation "
                f"{res.selection_metric} {res.best_selection_score:.3f} at epoch {res.best_epoch}")


def _interpreter_recipe(cfg, dataset, pooling: str, seed: int | None, epochs: int | None) -> dict:
    """What shapes a Θ head (:mod:`~l2i_core.pipeline.provenance`): its head, the f and the atoms it reads."""
    n = cfg.size("interpreter_epochs", int(epochs or default_interpreter_epochs(dataset.multilabel)))
    d = Path(cfg.artifacts_dir)
    return recipe(cfg, dataset, seed=seed, epochs=n, kind="interpreter", pooling=pooling,
                  classifier_sha256=_classifier_sha(cfg) if (d / "classifier.pt").is_file() else None,
                  dictionary_sha256=pooch.file_hash(str(d / "dictionary.npy"), alg="sha256")
                  if (d / "dictionary.npy").is_file() else None)


def train_interpreter_step(cfg, dataset, pooling: str, dictionary, caches: dict, clf_meta: dict, *,
                           epochs: int | None = None, out_dir=None, extra_meta: dict | None = None,
                           resume: bool = False, record_recipe: bool = True, **config) -> InterpreterResult:
    """Train one Θ head as notebook 03 does, and save it in ``cfg.artifacts_dir`` with the sidecar
    :func:`ensure_interpreter` checks.

    ``epochs`` (0 or None: :func:`default_interpreter_epochs`) becomes ``interpreter_epochs`` of
    :data:`~l2i_core.pipeline.run.QUICK_SIZES` in a quick run. ``config`` goes to
    :class:`~l2i_core.train.recipes.InterpreterConfig` (``lr``, ``batch_size``, ``progress``, ...); the
    names of :class:`~l2i_core.train.losses.LossWeights` among them (``reconstruction``, ``sparsity``, ...)
    go to its ``weights``. ``out_dir`` (default ``cfg.artifacts_dir``) receives the interpreter;
    ``extra_meta`` is added to its sidecar; ``resume`` continues from ``interpreter_<pooling>_last.pt``
    there when it exists. ``record_recipe``: the sidecar records its recipe (:mod:`~l2i_core.pipeline.provenance`:
    the run's f and dictionary on disk; off for a head trained on another f, such as the sanity check's).
    """
    weight_names = {f.name for f in dataclasses.fields(LossWeights)}
    weights = config.pop("weights", None) or LossWeights(**{k: config.pop(k) for k in list(config)
                                                            if k in weight_names})
    n_epochs = cfg.size("interpreter_epochs", int(epochs or default_interpreter_epochs(dataset.multilabel)))
    icfg = InterpreterConfig(pooling=pooling, epochs=n_epochs, seed=cfg.seed, weights=weights, **config)
    return train_interpreter(caches["train"], caches["validation"], dictionary.W, n_classes=len(dataset.classes),
                             multilabel=dataset.multilabel, config=icfg, f_thresholds=clf_meta.get("thresholds"),
                             out_dir=out_dir if out_dir is not None else cfg.artifacts_dir, resume=resume,
                             meta={**_artifact_meta(cfg, dataset), "seed": int(cfg.seed), **(extra_meta or {}),
                                   **({"recipe": _interpreter_recipe(cfg, dataset, pooling, cfg.seed, epochs)}
                                      if record_recipe else {})})


#: The share of the run's budget that f's log-mel features (notebook 02) may take in memory, all splits
#: together (128 MB of the default 4 GB); past it they are written to ``<artifacts>/features/<split>.npy``
#: and read a batch at a time. Small: reading a batch of rows costs little beside f's step, and features
#: kept in memory cost twice their size while they are gathered (measured at 2,000 SONYC-layout clips:
#: 1.5 GB at the peak of notebook 02 with them in memory).
FEATURE_MEMORY_SHARE = 1 / 32


def feature_splits(cfg, dataset, splits=SPLITS, *, progress: bool = True) -> dict:
    """f's log-mel features of every clip of ``splits`` (:func:`~l2i_core.train.recipes.compute_features`):
    in memory when they fit :data:`FEATURE_MEMORY_SHARE` of ``cfg.memory_gb``, else written to
    ``<artifacts>/features/`` (``rank-<r>/`` under torchrun) and read a batch of rows at a time (the same
    numbers either way)."""
    p = cfg.preset
    subsets = {s: dataset.split(s) for s in splits}
    per_clip = 4 * p.n_mels * p.n_frames(dataset.duration)
    on_disk = per_clip * sum(len(sub) for sub in subsets.values()) > FEATURE_MEMORY_SHARE * cfg.memory_gb * 2**30
    info = dist_info()
    where = Path(cfg.artifacts_dir) / "features" / (f"rank-{info.rank:03d}" if info.distributed else "")
    return {s: compute_features(sub, p, progress=progress, path=where / f"{s}.npy" if on_disk and len(sub) else None)
            for s, sub in subsets.items()}


def model_fingerprint(model) -> str:
    """sha256 of a model's state dict (names, shapes, dtypes and values): what a reused cache was built by."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _uids_digest(dataset) -> str:
    return hashlib.sha256("\n".join(r.uid for r in dataset).encode()).hexdigest()


def split_caches(cfg, dataset, classifier, splits=("train", "validation", "test"), *, progress: bool = True,
                 on_disk: bool | None = None, batch_size: int | None = None) -> dict:
    """The activation caches of ``splits`` (:func:`~l2i_core.train.cache.build_cache`), within the run's budget.

    In memory when all of them together fit :data:`CACHE_MEMORY_SHARE` of ``cfg.memory_gb``; otherwise
    (or with ``on_disk=True``, or under ``torchrun``) in ``<artifacts>/cache/<split>/``, the sharded
    layout ``l2i build-cache`` writes, read a batch of rows at a time. A cache found there is reused
    when it was built by this very classifier (:func:`model_fingerprint`) on these clips, in this
    preset; otherwise it is rebuilt.

    Returns
    -------
    dict
        ``{split: ActivationCache}``.
    """
    subsets = {s: dataset.split(s) for s in splits}
    kw = {} if batch_size is None else {"batch_size": int(batch_size)}
    if on_disk is None:
        per_clip = cache_bytes_per_clip(classifier, dataset, cfg.preset)
        total = per_clip * sum(len(sub) for sub in subsets.values())
        on_disk = dist_info().distributed or total > CACHE_MEMORY_SHARE * cfg.memory_gb * 2**30
    if not on_disk:
        return {s: build_cache(classifier, sub, cfg.preset, progress=progress, max_memory_gb=cfg.memory_gb, **kw)
                for s, sub in subsets.items()}
    fingerprint = model_fingerprint(classifier)  # what a cache on disk must have been built by
    out = {}
    for s, sub in subsets.items():
        where = Path(cfg.artifacts_dir) / "cache" / s
        want = {"classifier_fingerprint": fingerprint, "uids_sha256": _uids_digest(sub)}
        side = where / "cache.json"
        if side.is_file():
            m = json.loads(side.read_text())
            if all(m.get(k) == v for k, v in want.items()) and m.get("preset") == cfg.preset.name:
                out[s] = load_cache(where, max_memory_gb=0.0)
                continue
            if dist_info().is_main:
                shutil.rmtree(where)
        out[s] = build_cache(classifier, sub, cfg.preset, shard_dir=where, progress=progress,
                             max_memory_gb=0.0, meta=want, **kw)
    return out


def nmf_relative_error(dictionary, cache, *, max_iter: int = 100) -> float:
    """‖W H − V‖ / ‖V‖ over a cache with H solved by NMF, W fixed: the best Ψ can reconstruct."""
    num = den = 0.0
    for i in range(len(cache)):  # one clip at a time: the cache may live on disk
        v = cache.V[[i]][0].numpy()
        num += float(((dictionary.W @ dictionary.transform(v, max_iter=max_iter) - v) ** 2).sum())
        den += float((v**2).sum())
    return float(np.sqrt(num / den))


def interpreter_test_summary(dataset, result: InterpreterResult, test_cache, clf_meta: dict) -> dict:
    """One head's test row of notebook 03: the paper's fidelity (:func:`~l2i_core.metrics.paper_fidelity`,
    its scalar scores) beside the selection score on validation, reconstruction error and timings.
    Under torchrun each rank computes its shard of the test outputs and the scores use them all."""
    out = interpreter_outputs(result.interpreter, test_cache, gather=gather_map)
    fid = paper_fidelity(out["logits"], test_cache.logits, multilabel=dataset.multilabel,
                         f_thresholds=clf_meta.get("thresholds"), classes=dataset.classes)
    keys = ("macro_auprc", "micro_auprc", "max_f1") if dataset.multilabel else ("top1", "top3", "top5")
    return {"fidelity": {k: float(fid[k]) for k in keys if k in fid}, "selection_metric": result.selection_metric,
            "validation_selection_score": result.best_selection_score, "relative_error": out["relative_error"],
            "best_epoch": result.best_epoch, "train_seconds": result.seconds,
            "seconds_per_epoch": result.seconds / max(1, len(result.history))}


def default_interpreter_epochs(multilabel: bool) -> int:
    """Interpreter epochs when none are given: the official 35 for multi-class data; 40 for multi-label.

    The official SONYC-UST recipe runs 21 epochs over ~13 500 clips (~8 900 steps); our urbanmix
    scenes give 8 steps per epoch, and the attention head's validation fidelity was still rising
    at epoch 21 (0.82). In a 60-epoch run on urbanmix the best validation fidelity within the first
    40 epochs was 0.864 (attention) and 0.958 (max-pool), against 0.868 and 0.962 over all 60
    (``benchmarks/results/cpu_budget_sweep.json``); 40 epochs save a third of notebook 03's time.
    """
    return 40 if multilabel else 35
def ensure_lmac(cfg, dataset, *, epochs: int | None = None, progress: bool = True, caches: dict | None = None,
                seed: int | None = None):
    """L-MAC for the classifier of ``cfg.artifacts_dir``: reused when ``lmac.pt`` was trained for this
    dataset, preset and this very classifier (the sha256 of ``classifier.pt``, so a retrained f is never
    explained by a decoder of the old one); else trained there (:func:`l2i_core.train.lmac.train_lmac`).
    ``seed`` (default: the run's): the decoder's training seed; another seed lives in :func:`explainer_dir`.

    Returns
    -------
    decoder : LMACDecoder (eval mode)
    meta : dict
        Its sidecar (history, best epoch, seconds, ...).
    message : str
    """
    d = Path(cfg.artifacts_dir)
    e = explainer_dir(cfg, seed)
    of_seed = "" if e == d else f" of seed {seed}"
    side = e / "lmac.json"
    classifier, clf_meta, _ = ensure_classifier(cfg, dataset)
    why = "none was found"
    config = LMACConfig(seed=int(cfg.seed if seed is None else seed), progress=progress)
    config.epochs = cfg.size("interpreter_epochs", int(epochs or config.epochs))
    want = recipe(cfg, dataset, seed=config.seed, epochs=config.epochs, kind="lmac",
                  classifier_sha256=_classifier_sha(cfg))
    if side.is_file():
        m = json.loads(side.read_text())
        differs = recipe_mismatch(m, want, compare_epochs=epochs is not None)
        if _trained_for(m, cfg, dataset) and m.get("classifier_sha256") == _classifier_sha(cfg) and not differs:
            decoder, meta = load_lmac(e / "lmac.pt")
            return decoder, meta, (f"reused L-MAC{of_seed}: {e / 'lmac.pt'} (epoch {meta['best_epoch']}, "
                                   f"validation {meta.get('selection_metric', 'score')} {meta['best_score']:.3f})")
        why = (differs if _trained_for(m, cfg, dataset) and m.get("classifier_sha256") == _classifier_sha(cfg)
               else "it was trained for another classifier, data or preset")
    caches = caches or split_caches(cfg, dataset, classifier, ("train", "validation"), progress=progress)
    res = train_lmac(caches["train"], caches["validation"], classifier, cfg.preset, multilabel=dataset.multilabel,
                     f_thresholds=clf_meta.get("thresholds"), config=config, out_dir=e,
                     meta={**_artifact_meta(cfg, dataset), "classifier_sha256": _classifier_sha(cfg),
                           "seed": config.seed, "recipe": want})
    decoder, meta = load_lmac(e / "lmac.pt")
    return decoder, meta, (f"trained L-MAC{of_seed} ({why} in {e}): {len(res.history)} epochs in {res.seconds:.0f} s, "
                           f"best validation score {res.best_score:.3f} at epoch {res.best_epoch}")


def speech_sense_check(cfg, *, n_clips: int | None = None, top: int = 3) -> dict:
    """A sense check of the AudioSet network beyond ESC: FSDD's spoken digits tagged by mn04_as's own head.

    The share of FSDD test clips (George, Jackson, ... reading digits; 8 kHz, about 0.5 s) with one of
    :data:`SPEECH_CLASSES` among the ``top`` AudioSet classes, with the publisher's front end
    (:meth:`~l2i_core.models.efficientat.EfficientATMN.tag`). ``n_clips``: the first clips of the test
    split (default all 300; 12 in a quick run). Returns the shares (top 1 and top ``top``), n, a Wilson 95 %
    interval, and the most frequent top-1 classes.
    """
    from collections import Counter

    from l2i_core.audio.waveform import load_audio
    from l2i_core.data import load_dataset
    from l2i_core.models.efficientat import load_efficientat

    net = load_efficientat()
    test = load_dataset("fsdd", seed=cfg.seed).split("test")
    n = int(cfg.size("clips", n_clips or len(test)))  # RunConfig.size: the quick size in a quick run
    recs = list(test)[:n]
    hits, first, tops = 0, 0, Counter()
    for r in recs:  # one clip at a time: the clips have different lengths
        y = load_audio(r.path, sr=32_000, duration=None)
        tags = net.tag(y, top=top)[0]
        names = [name for name, _ in tags]
        hits += any(c in SPEECH_CLASSES for c in names)
        first += names[0] in SPEECH_CLASSES
        tops[names[0]] += 1
    lo, hi = proportion_ci(hits, len(recs))
    return {"dataset": "fsdd", "split": "test", "n_clips": len(recs), "top": top, "share_top": hits / len(recs),
            "share_top1": first / len(recs), "ci95": [lo, hi], "most_common_top1": tops.most_common(5),
            "speech_classes": list(SPEECH_CLASSES)}
