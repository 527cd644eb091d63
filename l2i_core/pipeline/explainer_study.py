"""The explainer study of one dataset: what notebook 08 and ``l2i benchmark`` run.

1. :func:`ensure_lmac` — L-MAC trained on the frozen classifier of ``artifacts_dir`` (or reused);
2. :func:`build_explainers` — f seen as an :class:`~l2i_core.explain.interface.AudioModel` and every
   explainer of the comparison: L2I (both heads), L-MAC, the three gradient methods, random, the
   oracle IRM, each an :class:`~l2i_core.explain.interface.Explainer`;
3. :func:`build_conditions` — the test clips under SpeechBrain's conditions (multi-class data) or
   the scenes with their stems (urbanmix);
4. :func:`comparison_study` — everything scored (:func:`l2i_core.evaluate.harness.compare`), the paired tests of
   L2I against L-MAC on the ground truth, and the randomisation sanity check
   (:func:`randomization_study`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from l2i_core._errors import DataNotFoundError, ParameterError
from l2i_core.evaluate.harness import (  # by name: the package binds `compare` to the function
    ComparisonStudy,
    compare,
    make_conditions,
    mask_rank_correlation,
    paired_comparison,
    randomize_classifier,
    scene_condition,
    speech_background,
)
from l2i_core.explain.gradients import GradientMask
from l2i_core.explain.interface import AudioModel
from l2i_core.explain.l2i import L2IExplainer
from l2i_core.explain.lmac import LMACMask
from l2i_core.explain.references import OracleIRM, RandomMask
from l2i_core.pipeline.steps import (
    ensure_classifier,
    ensure_interpreter,
    ensure_lmac,
    train_interpreter_step,
)
from l2i_core.train.cache import build_cache
from l2i_core.train.lmac import LMACConfig, train_lmac

__all__ = ["build_explainers", "build_conditions", "comparison_study", "randomization_study", "DEFAULT_METHODS", "PAIRED", "lmac_summary", "GRADIENT_SETTINGS", "sanity_sentences"]

#: Every explainer of the comparison, by short name (the notebook's ``methods`` parameter).
DEFAULT_METHODS = ("l2i-attention", "l2i-max", "lmac", "saliency", "integrated_gradients", "smoothgrad", "random",
                   "oracle")

#: The gradient methods' budgets in the comparison: 8 Gauss-Legendre points for Integrated Gradients,
#: 6 noisy copies for SmoothGrad. With 16 and 8 they took 190 s and 120 s of notebook 08's 590 s of
#: scoring on esc10 (80 clips × 4 conditions, 2-core CPU), more than every other explainer together.
GRADIENT_SETTINGS = {"integrated_gradients": {"n_steps": 8}, "smoothgrad": {"nt_samples": 6}}

#: The two methods whose ground-truth scores get a paired test.
PAIRED = ("L2I (attention)", "L-MAC")






def build_explainers(cfg, dataset, methods=DEFAULT_METHODS, *, progress: bool = True, lmac_epochs: int | None = None):
    """f as an :class:`~l2i_core.explain.interface.AudioModel` and the explainers named in ``methods``.

    The model is the first L2I head's own (:attr:`L2IExplainer.model`), else f loaded here; every other
    explainer is built on it. The L2I heads compute no component or residual audio here (``detail``
    off): the comparison hears only the interpretation.

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
    l2i = {}
    messages = []
    for head in ("attention", "max"):
        if f"l2i-{head}" in methods:
            l2i[head], msg = ensure_interpreter(cfg, dataset, head, progress=progress)
            messages.append(msg)
    if l2i:
        model = next(iter(l2i.values())).model
    else:
        clf, meta, msg = ensure_classifier(cfg, dataset)
        model = AudioModel(clf, cfg.preset, multilabel=dataset.multilabel, f_thresholds=meta.get("thresholds"),
                           classes=dataset.classes)
        messages.append(msg)
    out = []
    for m in methods:
        if m.startswith("l2i-"):
            l2i[m[4:]].detail = False  # the comparison hears the interpretation only
            out.append(l2i[m[4:]])
        elif m == "lmac":
            decoder, _, msg = ensure_lmac(cfg, dataset, epochs=lmac_epochs, progress=progress)
            out.append(LMACMask(decoder, model))
            messages.append(msg)
        elif m in ("saliency", "integrated_gradients", "smoothgrad"):
            out.append(GradientMask(model, m, **GRADIENT_SETTINGS.get(m, {}), **({"seed": cfg.seed} if m == "smoothgrad" else {})))
        elif m == "random":
            out.append(RandomMask(model, seed=cfg.seed))
        else:
            out.append(OracleIRM(model))
    return model, out, messages


def _speech(cfg, n_clips: int, n_samples: int):
    """FSDD digits as speech contamination, or None (with the reason) when FSDD is not available."""
    from l2i_core.data import load_dataset

    try:
        fsdd = load_dataset("fsdd")
    except (DataNotFoundError, FileNotFoundError) as e:
        return None, f"speech condition left out: {e}"
    return speech_background(fsdd, cfg.preset, n_clips, n_samples, seed=cfg.seed), ""


def build_conditions(cfg, dataset, *, n_clips: int | None = None) -> tuple[list, str]:
    """The inputs of the comparison: for single-label data the test split (its first ``n_clips``)
    under :func:`l2i_core.evaluate.harness.make_conditions`; for scenes with stems
    :func:`~l2i_core.evaluate.harness.scene_condition`. Returns the conditions and a note."""
    test = dataset.split("test")
    if dataset.multilabel:
        if not any(r.stems for r in test):
            raise ParameterError(f"{dataset.name}: multi-label data without stems has no ground truth to compare on")
        return [scene_condition(dataset, cfg.preset, max_scenes=n_clips)], "urbanmix test scenes"
    if n_clips:
        test = test.subset(range(min(int(n_clips), len(test))))
    x = test.load_batch(None, cfg.preset)
    speech, note = _speech(cfg, len(x), x.shape[-1])
    conds = make_conditions(x, test.targets(), speech=speech, seed=cfg.seed, uids=[r.uid for r in test])
    return conds, note or f"{len(x)} test clips of {dataset.name}"


def randomization_study(cfg, dataset, model: AudioModel, explainers, *, x, epochs: int = 3, n_clips: int = 16,
                        progress: bool = True) -> pd.DataFrame:
    """Adebayo et al. (2018)'s sanity check: randomise f (its output layer, then every layer), retrain the
    trained explainers on the randomised f with the same recipe for ``epochs`` epochs, and measure how
    much each explanation of ``x[:n_clips]`` changes (Spearman rank correlation of the masks, per clip).

    As a control, the trained explainers are also retrained for ``epochs`` on the *original* f (seed + 1):
    that correlation is what a reduced-budget retraining alone changes. Gradient methods need no
    retraining. Returns one row per (randomisation, method) with the mean correlation and its 95 %
    interval.
    """
    from l2i_core.evaluate import stats
    from l2i_core.models.checkpoints import load_classifier

    x = np.asarray(x[:n_clips], np.float32)
    explainers = [e for e in explainers if not (e.needs_stems or isinstance(e, RandomMask))]
    top = model.logits(x).argmax(1).cpu().numpy()  # f's top class, also for a multi-label f
    base = {e.name: e.attribute(x, top, with_audio=False) for e in explainers}
    rows = []
    clf, _ = load_classifier(Path(cfg.artifacts_dir) / "classifier.pt")
    for part in ("control", "output", "all"):
        f = clf if part == "control" else randomize_classifier(clf, part, seed=cfg.seed + 1)
        m2 = AudioModel(f, model.preset, multilabel=model.multilabel, f_thresholds=model.f_thresholds,
                        classes=model.classes)
        retrained = _retrain(cfg, dataset, m2, explainers, epochs=epochs, seed=cfg.seed + 1, progress=progress,
                             control=part == "control")
        for name, ex in retrained.items():
            new = ex.attribute(x, base[name].target, with_audio=False)
            r = mask_rank_correlation(base[name].mask, new.mask)
            est, lo, hi = stats.bootstrap_ci(r)
            rows.append({"randomised": {"control": "none (retrained, same f)", "output": "output layer",
                                        "all": "all layers"}[part], "method": name, "rank correlation": est,
                         "low": lo, "high": hi, "clips": int(np.isfinite(r).sum()), "retrain epochs": epochs})
    return pd.DataFrame(rows)


def _retrain(cfg, dataset, model: AudioModel, explainers, *, epochs: int, seed: int, progress: bool,
             control: bool) -> dict:
    """The explainers of ``explainers`` rebuilt on ``model``'s f: L2I heads and L-MAC retrained for
    ``epochs`` (in a scratch folder, never over the real artifacts); gradient methods and random as they are."""
    import copy
    import dataclasses
    import shutil
    import tempfile

    from l2i_core.nmf.dictionary import load_dictionary

    out = {}
    f = model.classifier
    caches = None
    scratch = Path(tempfile.mkdtemp(prefix="l2i-sanity-"))
    cfg2 = dataclasses.replace(cfg, artifacts_dir=scratch, seed=seed)
    for ex in explainers:
        if ex.needs_stems:
            continue
        if isinstance(ex, (L2IExplainer, LMACMask)) and caches is None:
            caches = {s: build_cache(f, dataset.split(s), cfg.preset, progress=False) for s in ("train", "validation")}
        if isinstance(ex, L2IExplainer):
            head = ex.interpreter.pooling
            dictionary = load_dictionary(Path(cfg.artifacts_dir) / "dictionary.npy", preset=cfg.preset)
            res = train_interpreter_step(cfg2, dataset, head, dictionary, caches,
                                         {"thresholds": list(model.f_thresholds)}, epochs=epochs, progress=False)
            out[ex.name] = L2IExplainer(model, res.interpreter, layer_names=ex.tap.layer_names, eps=ex.eps,
                                        tau=ex.tau, top_k=ex.top_k, detail=ex.detail, name=ex.name)
        elif isinstance(ex, LMACMask):
            config = LMACConfig(seed=seed, progress=False, epochs=epochs)
            res = train_lmac(caches["train"], caches["validation"], f, cfg.preset, multilabel=model.multilabel,
                             f_thresholds=model.f_thresholds, config=config, out_dir=None)
            out[ex.name] = LMACMask(res.decoder, model, name=ex.name)
        elif not control:  # a gradient method needs no training: the same method on the new f
            out[ex.name] = copy.copy(ex)
            out[ex.name].model = model
    shutil.rmtree(scratch, ignore_errors=True)
    return out


def comparison_study(cfg, dataset, model: AudioModel, explainers, conditions, *, ff_fraction: float = 0.1,
                     progress: bool = True) -> ComparisonStudy:
    """Every explainer on every condition (:func:`l2i_core.evaluate.harness.compare`) and the paired Wilcoxon tests
    of :data:`PAIRED` on SI-SDR and on the energy inside the stem's support, per condition with stems."""
    df = compare(explainers, model, conditions, ff_fraction=ff_fraction, progress=progress)
    tests = []
    names = {e.name for e in explainers}
    if set(PAIRED) <= names:
        for cond in conditions:
            if cond.stem is None:
                continue
            for col in ("si_sdr", "energy_in_support"):
                tests.append(paired_comparison(df, *PAIRED, condition=cond.name, column=col))
    return ComparisonStudy(dataset=dataset.name, scores=df, tests=tests,
                                   notes={c.name: c.note for c in conditions})


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


def sanity_sentences(table: pd.DataFrame) -> list[str]:
    """What :func:`randomization_study`'s table says, one sentence per method, read from the intervals:
    a control whose interval stays below 0.3 means the reduced-budget retraining alone changes the masks
    (the check cannot judge that method at this budget); masks that still correlate above 0.5 with every
    layer of f randomised do not depend much on f."""
    from l2i_core.evaluate import stats

    out = []
    for method, g in table.groupby("method", sort=False):
        r = {row["randomised"]: row for _, row in g.iterrows()}
        ctrl = r.get("none (retrained, same f)")
        full = r.get("all layers")
        if full is None:
            continue
        ci = stats.format_ci(full["rank correlation"], full["low"], full["high"], digits=2)
        if ctrl is not None and ctrl["high"] < 0.3:
            ctext = stats.format_ci(ctrl["rank correlation"], ctrl["low"], ctrl["high"], digits=2)
            out.append(f"{method}: retraining it on the *same* f with {int(ctrl['retrain epochs'])} epochs already gives "
                       f"unrelated masks (ρ = {ctext}), so this budget cannot tell whether it depends on f "
                       f"(all layers randomised: ρ = {ci}).")
        elif full["low"] > 0.5:
            out.append(f"{method}: its masks barely change when every layer of f is randomised (ρ = {ci}): "
                       "they depend little on what f computes.")
        else:
            out.append(f"{method}: its masks change when every layer of f is randomised (ρ = {ci}).")
    return out
