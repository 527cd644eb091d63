"""Reuse-or-build steps shared by the notebooks: the dictionary (notebook 01) and the classifier
(notebook 02) that later notebooks need, found in ``artifacts_dir`` or built there.

Each function returns the object and one sentence saying whether it was reused or built, which the
notebooks print, so a reader always knows where a number comes from.
"""

from __future__ import annotations

import json
from pathlib import Path

from .dictionary import Dictionary, learn_dictionary, load_dictionary, save_dictionary

__all__ = ["ensure_dictionary", "ensure_classifier", "ensure_interpreter", "train_interpreter_step",
           "default_interpreter_epochs"]


def _artifact_meta(cfg, dataset) -> dict:
    """What a classifier or interpreter sidecar records of its run, and what reuse checks."""
    return {"dataset": dataset.name, "preset": cfg.preset.name, "classes": dataset.classes}


def _trained_for(meta: dict, cfg, dataset) -> bool:
    """Whether a saved classifier or interpreter was trained on this dataset, preset and classes."""
    return all(meta.get(k) == v for k, v in _artifact_meta(cfg, dataset).items())


def ensure_dictionary(cfg, dataset, *, n_components: int = 100, sparsity: float = 0.8, max_iter: int = 200,
                      progress: bool = True) -> tuple[Dictionary, str]:
    """The dictionary of ``cfg.artifacts_dir`` if it matches dataset, preset and size; else learn it."""
    path = Path(cfg.artifacts_dir) / "dictionary.npy"
    per_class = 10 if dataset.multilabel else None
    if path.is_file():
        d = load_dictionary(path)
        m = d.meta
        same = (m.get("dataset") == dataset.name and m.get("preset", {}).get("name") == cfg.preset.name
                and (m.get("mode") == "per_class" if per_class else m.get("n_components") == n_components))
        if same:
            return d, f"reused the dictionary of notebook 01: {path} ({d.n_components} atoms, µ={m.get('sparsity')})"
        why = "it was learned for other data or another size"
    else:
        why = "none was found"
    d = learn_dictionary(dataset, cfg.preset, n_components=n_components, sparsity=sparsity, seed=cfg.seed,
                         max_iter=min(max_iter, 30) if cfg.quick else max_iter, per_class=per_class,
                         max_clips=16 if cfg.quick else None, progress=progress)
    save_dictionary(d, path)
    return d, f"learned a new dictionary ({why} in {path.parent}): {d.n_components} atoms in {d.meta['seconds']:.0f} s"


def ensure_classifier(cfg, dataset, *, epochs: int | None = None, features: dict | None = None):
    """The classifier of ``cfg.artifacts_dir`` if it matches dataset, preset and classes; else train it.

    Returns
    -------
    model : AudioCNN (eval mode)
    meta : dict
    message : str
    """
    from .training import default_train_config, load_classifier, train_classifier

    path = Path(cfg.artifacts_dir) / "classifier.pt"
    if path.is_file():
        model, meta = load_classifier(path)
        if _trained_for(meta, cfg, dataset):
            return model, meta, (f"reused the classifier of notebook 02: {path} (epoch {meta['best_epoch']}, "
                                 f"validation {meta['metric']} {meta['best_validation_metric']:.3f})")
        why = "it was trained on other data or with another preset"
    else:
        why = "none was found"
    train_cfg = default_train_config(dataset.multilabel, cfg.preset, seed=cfg.seed)
    if epochs or cfg.quick:
        train_cfg.epochs = 2 if cfg.quick else int(epochs)
    res = train_classifier(dataset, cfg.preset, train_cfg, out_dir=cfg.artifacts_dir, features=features)
    model, meta = load_classifier(path)
    return model, meta, (f"trained a new classifier ({why} in {path.parent}): validation {res.metric_name} "
                         f"{res.best_metric:.3f} at epoch {res.best_epoch}, {res.seconds:.0f} s")


def ensure_interpreter(cfg, dataset, pooling: str = "attention", *, epochs: int | None = None, progress: bool = True):
    """The interpreter of notebook 03 in ``cfg.artifacts_dir`` (for this dataset, preset and head); else
    learn the dictionary / train the classifier as needed and train the interpreter there.

    Returns
    -------
    explainer : l2i_core.explain.L2IExplainer
        Classifier + interpreter, ready to interpret clips.
    message : str
    """
    from .explain import L2IExplainer

    d = Path(cfg.artifacts_dir)
    side = d / f"interpreter_{pooling}.json"
    why = "none was found"
    if side.is_file() and (d / "classifier.pt").is_file():
        m = json.loads(side.read_text())
        if _trained_for(m, cfg, dataset):
            ex = L2IExplainer.from_artifacts(d, pooling)
            return ex, (f"reused the {pooling} interpreter of notebook 03: {d / f'interpreter_{pooling}.pt'} "
                        f"(epoch {m['best_epoch']}, validation fidelity {m['best_validation_fidelity']:.3f})")
        why = "it was trained on other data or with another preset"
    from .cache import build_cache

    dictionary, _ = ensure_dictionary(cfg, dataset, progress=progress)
    classifier, clf_meta, _ = ensure_classifier(cfg, dataset)
    caches = {s: build_cache(classifier, dataset.split(s), cfg.preset, progress=progress) for s in ("train", "validation")}
    res = train_interpreter_step(cfg, dataset, pooling, dictionary, caches, clf_meta, epochs=epochs, progress=progress)
    ex = L2IExplainer.from_artifacts(d, pooling)
    return ex, (f"trained a new {pooling} interpreter ({why} in {d}): {len(res['history'])} epochs, validation "
                f"fidelity {res['best_fidelity']:.3f} at epoch {res['best_epoch']}")


def train_interpreter_step(cfg, dataset, pooling: str, dictionary, caches: dict, clf_meta: dict, *,
                           epochs: int | None = None, **config) -> dict:
    """Train one Θ head as notebook 03 does, and save it in ``cfg.artifacts_dir`` with the sidecar
    :func:`ensure_interpreter` checks.

    ``epochs``: 2 in quick runs; else ``epochs`` or :func:`default_interpreter_epochs` when it is 0
    or None. ``config`` goes to :class:`~l2i_core.training.InterpreterConfig` (``lr``,
    ``batch_size``, ``reconstruction``, ``sparsity``, ``progress``, ...). Returns
    :func:`~l2i_core.training.train_interpreter`'s dict.
    """
    from .training import InterpreterConfig, train_interpreter

    n_epochs = 2 if cfg.quick else int(epochs or default_interpreter_epochs(dataset.multilabel))
    icfg = InterpreterConfig(pooling=pooling, epochs=n_epochs, seed=cfg.seed, **config)
    return train_interpreter(caches["train"], caches["validation"], dictionary.W, n_classes=len(dataset.classes),
                             multilabel=dataset.multilabel, config=icfg, f_thresholds=clf_meta.get("thresholds"),
                             out_dir=cfg.artifacts_dir, meta=_artifact_meta(cfg, dataset))


def default_interpreter_epochs(multilabel: bool) -> int:
    """Interpreter epochs when none are given: the official 35 for multi-class data; 40 for multi-label.

    The official SONYC-UST recipe runs 21 epochs over ~13 500 clips (~8 900 steps); our urbanmix
    scenes give 8 steps per epoch, and the attention head's validation fidelity was still rising
    at epoch 21 (0.82). In a 60-epoch run on urbanmix the best validation fidelity within the first
    40 epochs was 0.864 (attention) and 0.958 (max-pool), against 0.868 and 0.962 over all 60
    (``benchmarks/results/cpu_budget_sweep.json``); 40 epochs save a third of notebook 03's time.
    """
    return 40 if multilabel else 35
