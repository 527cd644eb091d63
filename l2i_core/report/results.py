"""Results files that notebooks write and later notebooks and reports read, as typed sections.

Each run keeps one ``results.json`` in its ``artifacts_dir``; every notebook updates its own section
with :func:`update_results`, so the file always holds the latest number of each step, next to the
data, split and protocol it was measured on. Notebooks pass plain dicts; each known section is
checked against its dataclass here (a number where a number belongs) before it is written, and
:func:`read_sections` turns a file back into those dataclasses, so that reports read fields, not
string keys guessed with regular expressions.

========================  =================================  ===============
section                   written by                          dataclass
========================  =================================  ===============
``classifier``            notebook 02                         :class:`ClassifierSection`
``interpreter``           notebook 03                         :class:`InterpreterSection`
``fidelity``              notebook 04                         :class:`FidelitySection`
``faithfulness_<head>``   notebook 05                         :class:`FaithfulnessSection`
``corruptions_<head>``    notebook 06                         :class:`CorruptionsSection`
``comparison``            notebook 08                         :class:`ComparisonSection`
``model_truth``           notebook 08, part 5                 :class:`ModelTruthSection`
========================  =================================  ===============

Keys a dataclass does not know are kept (in ``extra``) and written unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from l2i_core._errors import ParameterError
from l2i_core.paper import PAPER, PAPER_SPREADS, setting_of

__all__ = [
    "update_results", "read_results", "read_sections", "parse_section", "classifier_table", "PUBLISHED_COLUMN", "finetune_table",
    "fidelity_table", "paper_fidelity_table",
    "fidelity_summary", "FIDELITY_PAPER_DATA",
    "Section", "ClassifierSection", "InterpreterHead", "InterpreterSection", "FidelityHead", "FidelitySection",
    "FaithfulnessAtTau", "FaithfulnessSection", "CorruptionsSection", "ComparisonSection", "ModelTruthSection", "budget_text",
]


def _number(name: str, v):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ParameterError(f"results field {name}={v!r} must be a number")
    return float(v) if math.isfinite(v) else None


def _convert(cls, name: str, ftype: str, v):
    """One field's value as its annotated type (numbers, str, bool, dicts of dataclasses)."""
    if ftype in ("float | None", "float"):
        return _number(name, v)
    if ftype in ("int | None", "int"):
        n = _number(name, v)
        return None if n is None else int(n)
    if ftype == "str":
        return "" if v is None else str(v)
    if ftype == "bool":
        return bool(v)
    if ftype == "list":
        return list(v or [])
    if ftype == "dict":
        if not isinstance(v, dict):
            raise ParameterError(f"results field {name} must be a dict, got {type(v).__name__}")
        return dict(v)
    sub = _NESTED.get(ftype)
    if sub is not None:
        if not isinstance(v, dict):
            raise ParameterError(f"results field {name} must be a dict of {ftype[len('dict[str, '):-1]}")
        return {str(k): sub.from_dict(x, name=f"{name}.{k}") for k, x in v.items()}
    raise TypeError(f"{cls.__name__}.{name}: unsupported field type {ftype}")  # pragma: no cover


@dataclass
class _Typed:
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict, *, name: str = ""):
        """Known keys as typed fields (a wrong type raises :class:`ParameterError`), the rest in ``extra``."""
        if not isinstance(values, dict):
            raise ParameterError(f"results section {name or cls.__name__} must be a dict, got {type(values).__name__}")
        known = {f.name: f.type for f in dataclasses.fields(cls) if f.name != "extra"}
        kwargs = {k: _convert(cls, k, known[k], v) for k, v in values.items() if k in known}
        return cls(**kwargs, extra={k: v for k, v in values.items() if k not in known})


@dataclass
class Section(_Typed):
    """Fields every section may carry: where the numbers were measured."""

    split: str = ""
    protocol: str = ""
    quick: bool = False
    n_clips: int | None = None


@dataclass
class ClassifierSection(Section):
    """Notebook 02: the classifier f on the test split. ``accuracy`` (multi-class, a fraction) or
    ``macro_auprc`` / ``micro_auprc`` (multi-label: scikit-learn's average precision against the labels)."""

    accuracy: float | None = None
    accuracy_ci95: list = field(default_factory=list)  # Wilson 95 % interval over the test clips
    macro_auprc: float | None = None
    micro_auprc: float | None = None
    micro_f1: float | None = None
    best_epoch: int | None = None
    train_seconds: float | None = None
    preset: str = ""
    trainable: str = ""  # the pretrained backbone: the fine-tuning candidate kept on validation
    backbone: str = ""  # its credit line (model, paper, licence)
    fine_tuning: list = field(default_factory=list)  # every candidate: validation, test, seconds


@dataclass
class InterpreterHead(_Typed):
    """One Θ head of notebook 03: the paper's fidelity on test and what selected its checkpoint."""

    fidelity: dict = field(default_factory=dict)
    selection_metric: str = ""
    validation_selection_score: float | None = None
    relative_error: float | None = None
    best_epoch: int | None = None
    train_seconds: float | None = None
    seconds_per_epoch: float | None = None


@dataclass
class InterpreterSection(Section):
    """Notebook 03: both heads, and the reconstruction error of NMF with W fixed."""

    heads: dict[str, InterpreterHead] = field(default_factory=dict)
    nmf_relative_error: float | None = None


@dataclass
class FidelityHead(_Typed):
    """One Θ head of notebook 04 (:func:`l2i_core.metrics.paper_fidelity`): top-k in % or the
    11-threshold multi-label scores. ``micro_over`` says which classes ``micro_auprc`` / ``max_f1``
    sum over ("all": the official code); runs that do not record it summed over predicted classes."""

    top1: float | None = None
    top3: float | None = None
    top5: float | None = None
    macro_auprc: float | None = None
    micro_auprc: float | None = None
    max_f1: float | None = None
    micro_over: str = ""
    micro_auprc_predicted_only: float | None = None
    max_f1_predicted_only: float | None = None
    ap_macro: float | None = None
    ap_micro: float | None = None
    excluded_classes: list = field(default_factory=list)


@dataclass
class FidelitySection(Section):
    heads: dict[str, FidelityHead] = field(default_factory=dict)


@dataclass
class FaithfulnessAtTau(_Typed):
    """Notebook 05 at one τ: medians over the test clips (logit drops unless named otherwise)."""

    median_logit_drop: float | None = None
    median_prob_drop: float | None = None
    random: float | None = None
    random_active: float | None = None
    beats_random_pct: float | None = None
    beats_random_active_pct: float | None = None
    components_median: float | None = None


@dataclass
class FaithfulnessSection(Section):
    head: str = ""
    ff: dict[str, FaithfulnessAtTau] = field(default_factory=dict)
    deletion_area: float | None = None
    insertion_area: float | None = None
    random_deletion_area: float | None = None
    random_insertion_area: float | None = None
    mask_in: dict = field(default_factory=dict)


@dataclass
class CorruptionsSection(Section):
    """Notebook 06: 0 dB noise, two-clip mixtures and (urbanmix) scenes, each a dict of summaries."""

    head: str = ""
    noise: dict = field(default_factory=dict)
    mixtures: dict = field(default_factory=dict)
    scenes: dict = field(default_factory=dict)


@dataclass
class ComparisonSection(Section):
    """Notebook 08: every explainer on the same clips. ``conditions``: per condition and method, each
    metric's ``{"mean", "low", "high", "n", "n_units", "n_seeds", "interval"}`` (95 % interval of the kind
    ``interval`` names; none below n = 10 units); ``verdicts``: per table and metric the leader (or None)
    and why; ``tests``: the Holm-corrected paired Wilcoxon tests of the ground-truth tables;
    ``matched_curves``: per condition with stems, each method's scores at each share of bins kept;
    ``seeds``: the explainers' training seeds; ``budgets``: what each trained explainer cost per seed
    (epochs, optimiser steps, best epochs, seconds); ``sanity``: the randomisation check
    (:meth:`l2i_core.pipeline.sanity.SanityStudy.record`: table, verdicts, budgets, settings);
    ``lmac``: how the run's own L-MAC was trained."""

    conditions: dict = field(default_factory=dict)
    verdicts: dict = field(default_factory=dict)
    matched_curves: dict = field(default_factory=dict)
    seeds: list = field(default_factory=list)
    budgets: dict = field(default_factory=dict)
    tests: list = field(default_factory=list)
    sanity: dict = field(default_factory=dict)
    lmac: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


@dataclass
class ModelTruthSection(Section):
    """Notebook 08, part 5: ground truth about f (:meth:`l2i_core.evaluate.model_truth.ModelTruthStudy.record`),
    one entry per kind run: ``band`` / ``span`` (a region-blind f), ``planted`` (a planted marker, with its
    ``shortcut`` check); each with its ``table`` (per explainer: mass inside and rank accuracy with intervals,
    chance), ``classifier``, ``region`` and the reviewer's verdicts."""

    band: dict = field(default_factory=dict)
    span: dict = field(default_factory=dict)
    planted: dict = field(default_factory=dict)


_NESTED = {
    "dict[str, InterpreterHead]": InterpreterHead,
    "dict[str, FidelityHead]": FidelityHead,
    "dict[str, FaithfulnessAtTau]": FaithfulnessAtTau,
}


def _section_type(name: str):
    fixed = {"classifier": ClassifierSection, "interpreter": InterpreterSection, "fidelity": FidelitySection,
             "comparison": ComparisonSection, "model_truth": ModelTruthSection}
    if name in fixed:
        return fixed[name]
    if name.startswith("faithfulness_"):
        return FaithfulnessSection
    if name.startswith("corruptions_"):
        return CorruptionsSection
    return None


def parse_section(name: str, values: dict) -> Section | None:
    """The dataclass of section ``name`` (None for a section l2i does not know)."""
    cls = _section_type(name)
    return cls.from_dict(values, name=name) if cls else None


def read_sections(results: dict) -> dict[str, Section]:
    """Every known section of a results dict (an artifacts ``results.json`` or a report's ``"results"``)."""
    out = {}
    for name, values in (results or {}).items():
        if isinstance(values, dict) and _section_type(name):
            out[name] = parse_section(name, values)
    return out


def read_results(path: str | Path) -> dict:
    """The results JSON as a dict (``{}`` when it does not exist yet)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else {}


def update_results(path: str | Path, section: str, values: dict) -> dict:
    """Check ``values`` against the section's dataclass, replace that section of the results JSON at
    ``path`` and return the whole content.

    Raises
    ------
    ParameterError
        If a known field has the wrong type (a string where a number belongs, ...).
    """
    parse_section(section, values)
    path = Path(path)
    data = read_results(path)
    data[section] = values
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=float) + "\n")
    return data


def finetune_table(scores: dict) -> pd.DataFrame:
    """The pretrained backbone's fine-tuning candidates: validation (which selects) and test (scored once)."""
    rows = [{"candidate": {"probe": "linear probe (logistic regression, C on validation)",
                           "head": "head only (MLP, backbone frozen)",
                           "last": "last blocks + linear head, from the probe (LP-FT)"}[c["trainable"]],
             "validation": round(c["validation"], 3), "test": round(c["test"], 3) if "test" in c else None,
             "epochs": c.get("epochs", 0), "seconds": round(c["seconds"], 1),
             "selected": "yes" if c["trainable"] == scores.get("trainable") else ""} for c in scores["fine_tuning"]]
    return pd.DataFrame(rows)


def _our_model(scores: dict) -> str:
    if scores.get("trainable"):
        name = "EfficientAT mn04 (AudioSet)" if scores.get("preset") == "efficientat" else "aiSFX"
        return f"l2i: {name} backbone, fine-tuned ({scores['trainable']}; ours)"
    return "l2i classifier (ours, from scratch)"


#: The column of published values in :func:`classifier_table`: never the column of ours.
PUBLISHED_COLUMN = "published (another dataset or protocol)"


def classifier_table(dataset: str, scores: dict, protocol: str, *, multilabel: bool) -> pd.DataFrame:
    """Our test score, and the paper's and the literature's in a column of their own, each row with its data,
    protocol and what differs from ours: no published value measured on other data stands in our column.

    Returns
    -------
    pandas.DataFrame
        Columns ``model``, ``data``, ``protocol``, ``metric``, ``ours`` (our row only),
        :data:`PUBLISHED_COLUMN` (the published rows only) and ``what differs``.
    """
    if multilabel:
        ours = {"model": _our_model(scores), "data": dataset, "protocol": protocol + "; test split",
                "metric": "macro average precision (scikit-learn)", "ours": round(scores["macro_auprc"], 3)}
        published = [{"model": "L2I paper: Kumar et al. CNN, AudioSet-pretrained", "data": "SONYC-UST v2",
                      "protocol": "official test split", "metric": "macro-AUPRC (the paper's evaluation)",
                      PUBLISHED_COLUMN: PAPER["classifier"]["sonyc_macro_auprc"],
                      "what differs": "the dataset (SONYC-UST v2, 8 coarse classes), the network and its "
                                      "pretraining, the evaluation code"}]
    else:
        ours = {"model": _our_model(scores), "data": dataset, "protocol": protocol + "; test split",
                "metric": "accuracy (%)", "ours": round(100 * scores["accuracy"], 1)}
        published = [{"model": "L2I paper: Kumar et al. CNN, AudioSet-pretrained", "data": "ESC-50",
                      "protocol": "5-fold cross-validation", "metric": "accuracy (%)",
                      PUBLISHED_COLUMN: round(100 * PAPER["classifier"]["esc50_accuracy"], 1),
                      "what differs": "50 classes and 5 folds (mean over folds), the network and its pretraining"},
                     {"model": "Piczak (2015) CNN, from scratch", "data": "ESC-10", "protocol": "5-fold cross-validation",
                      "metric": "accuracy (%)",
                      PUBLISHED_COLUMN: round(100 * PAPER["classifier"]["esc10_piczak2015_accuracy"], 1),
                      "what differs": "5 folds (mean over folds) instead of one split, another network"}]
    cols = ["model", "data", "protocol", "metric", "ours", PUBLISHED_COLUMN, "what differs"]
    return pd.DataFrame([ours, *published]).reindex(columns=cols)


#: The data and protocol of the paper's fidelity tables, by ``multilabel``.
FIDELITY_PAPER_DATA = {False: "ESC-50, 5-fold cross-validation (50 classes)",
                       True: "SONYC-UST v2 test split (8 coarse classes)"}
_FIDELITY_KEYS = [f.name for f in dataclasses.fields(FidelityHead) if f.name != "extra"]


def fidelity_summary(scores: dict) -> dict:
    """The ``heads`` of the ``fidelity`` section: per head, the fields of :class:`FidelityHead` found in
    :func:`l2i_core.metrics.paper_fidelity`'s result (curves and per-threshold arrays left out)."""
    return {head: {k: s[k] for k in _FIDELITY_KEYS if k in s} for head, s in scores.items()}


def fidelity_table(scores: dict, *, multilabel: bool) -> pd.DataFrame:
    """Ours only, one row per head. The paper's numbers were measured on other data with another
    protocol: they go in their own table (:func:`paper_fidelity_table`, and the closest published
    setting of :func:`l2i_core.report.headline.closest_published`), never in these columns."""
    cols = (["macro_auprc", "micro_auprc", "max_f1", "micro_auprc_predicted_only", "max_f1_predicted_only", "ap_macro"]
            if multilabel else ["top1", "top3", "top5"])
    return pd.DataFrame({f"L2I {h} (ours)": {c: s.get(c) for c in cols} for h, s in scores.items()}).T


def paper_fidelity_table(*, multilabel: bool) -> pd.DataFrame:
    """The paper's fidelity table as published (its L2I heads, FLINT and VIBI), labelled with its setting and
    each row's ± spread ("spread not recorded here" where :data:`l2i_core.paper.PAPER_SPREADS` has none).
    Another setting than ours: shown apart, never as columns beside our numbers."""
    table = "fidelity_sonyc" if multilabel else "fidelity_esc50"
    setting = setting_of(table)
    where = ", ".join(x for x in (setting["data"], f"{setting['classes']} classes", setting["protocol"],
                                  setting["repeats"]) if x)
    rows = {}
    for method, values in PAPER[table].items():
        spreads = PAPER_SPREADS[table][method]
        given = {k: v for k, v in spreads.items() if v is not None}
        rows[f"{method} (paper)"] = {**values, "± spread": ", ".join(f"{k} ± {v:g}" for k, v in given.items())
                                     or "spread not recorded here", "setting": where}
    return pd.DataFrame(rows).T


def budget_text(budget: dict) -> str:
    """One line of an entry of :func:`l2i_core.pipeline.steps.training_budgets` (``ComparisonSection.budgets``):
    ``"40 epochs (best 37, 23, 31), 600 optimiser steps, 283 s per seed, 3 seeds"``."""
    if not budget:
        return "no trained explainer"
    ep = sorted(set(budget["epochs"]))
    epochs = f"{ep[0]}" if len(ep) == 1 else f"{ep[0]}–{ep[-1]}"
    st = sorted(set(budget["steps"]))
    steps = f"{st[0]:,}" if len(st) == 1 else f"{st[0]:,}–{st[-1]:,}"
    best = ", ".join(str(b) for b in budget["best_epoch"])
    sec = sum(budget["seconds"]) / len(budget["seconds"]) if budget["seconds"] else float("nan")
    k = len(budget["seeds"])
    return (f"{epochs} epochs (best {best}), {steps} optimiser steps, {sec:.0f} s per seed, "
            f"{k} seed{'s' * (k != 1)}")
