"""``reports/index.html`` and the README's tables, written from one table of headline rows.

:func:`headline_rows` turns one ``reports/<dataset>/results.json`` (its typed sections, see
:mod:`l2i_core.report.results`) into :class:`HeadlineRow` objects; :func:`write_index` renders every row,
:func:`readme_markdown` the rows marked ``readme``.

A published number (:data:`PAPER_VALUES`, built from :mod:`l2i_core.paper`) is placed by two rules, which
:class:`HeadlineRow` enforces when a row is made (a test checks every row of the index and the README):

* **the same column** (``paper_key``) only for the *identical* quantity (same metric, Θ head, τ and
  task) measured on the *same data with the same protocol*. None of our datasets is the paper's
  (esc10 is ESC-10; esc50-fold4 is 414 ESC-50 clips in one 60/20/20 split, not ESC-50's 5-fold
  cross-validation; urbanmix is scenes mixed from ESC clips, not SONYC-UST), so today no row has one;
* otherwise, for the identical quantity only, **the closest published setting** (``closest_key``): a
  separate, labelled table (:func:`closest_published_table`) lists our row, the paper's value with its
  ± spread (:data:`l2i_core.paper.PAPER_SPREADS`; "spread not recorded here" where it is ``None``), the
  paper's setting and what differs (:func:`what_differs`: classes, folds or runs, the classifier, the
  official code's checkpoint chosen on the test fold, its max-pooled FF relevance).

The paper's FF is a drop in *probability* (Eq. 6), so it is set beside our median probability drop of the
attention head at the same τ; the median logit drop is our own row, labelled, with no paper value. The
11-threshold AUPRC never stands beside scikit-learn's average precision. SpeechBrain's published numbers
(CNN14 on ESC-50's validation fold, with known bugs) are not beside any row of ours: they get their own
labelled table (:func:`speechbrain_markdown`).

:func:`benchmarks_markdown` writes the README's "Measured so far" table from
``benchmarks/results/*.json``, each row naming its file; :func:`write_readme` refreshes both blocks.
"""

from __future__ import annotations

import datetime as _dt
import html as _html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from l2i_core.paper import PAPER, PAPER_SPREADS, PAPER_TAUS, SPEECHBRAIN_ESC50, SPEECHBRAIN_SETTING, setting_of
from l2i_core.report.results import (
    ClassifierSection,
    ComparisonSection,
    CorruptionsSection,
    FaithfulnessSection,
    FidelitySection,
    InterpreterSection,
    ModelTruthSection,
    budget_text,
    read_sections,
)

__all__ = [
    "PaperValue", "PAPER_VALUES", "HeadlineRow", "headline_rows", "steps_seconds", "write_index",
    "readme_markdown", "benchmark_rows", "benchmarks_markdown", "write_readme", "README_START", "README_END",
    "BENCHMARKS_START", "BENCHMARKS_END", "what_differs", "closest_published", "closest_published_table",
    "speechbrain_markdown",
    "SPREAD_NOT_RECORDED",
]

# -- the paper's values, each named by what it measures and where ------------------------------------

#: What a closest-published cell says where the paper's ± spread is not recorded in l2i_core.paper.
SPREAD_NOT_RECORDED = "spread not recorded here"

_ESC_DATA = ("esc10", "esc50", "esc50-fold4")  # our datasets whose closest published setting is ESC-50
_SONYC_DATA = ("sonyc", "urbanmix")  # ... and SONYC-UST v2
_MULTILABEL_DATA = ("sonyc", "urbanmix")


@dataclass(frozen=True)
class PaperValue:
    """One published number: what it measures (``metric`` id, Θ ``head``, ``tau``, ``task``), where it
    was measured (``dataset``: l2i's name for the same data; ``protocol``; ``setting``: its table in
    :data:`l2i_core.paper.PAPER_SETTINGS`), its ± ``spread`` (None: not recorded here) and the datasets
    of ours whose closest published setting it is (``closest_for``)."""

    key: str
    metric: str
    head: str | None
    tau: float | None
    value: float
    percent: bool
    where: str
    task: str = "multi-class"
    dataset: str = "esc50"
    protocol: str = ""
    spread: float | None = None
    setting: str = ""
    closest_for: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The value with its ± spread, or with "spread not recorded here"."""
        if self.spread is None:
            return f"{_fmt(self.value, self.percent)} ({SPREAD_NOT_RECORDED})"
        if self.percent:
            return f"{self.value:.1f} ± {self.spread:.1f} %"
        return f"{_fmt(self.value)} ± {_fmt(self.spread)}"

    @property
    def setting_text(self) -> str:
        """The paper's data, classes, protocol and repeats, in one line."""
        s = setting_of(self.setting)
        return ", ".join(x for x in (s.get("data", "?"), f"{s.get('classes', '?')} classes", s.get("protocol", ""),
                                     s.get("repeats", "")) if x)


_HEADS = {"attention": "L2I attention", "max": "L2I max-pool"}  # our head name -> the paper's
_ESC = "ESC-50, 5-fold CV (paper)"
_SONYC = "SONYC-UST v2, official test split (paper)"
_ESC_PROTOCOL = "ESC-50 5-fold cross-validation, mean over the folds (paper)"
_SONYC_PROTOCOL = "SONYC-UST v2 official split, mean over 3 runs (paper)"


def _paper_values() -> dict[str, PaperValue]:
    esc = {"task": "multi-class", "dataset": "esc50", "protocol": _ESC_PROTOCOL, "closest_for": _ESC_DATA}
    sonyc = {"task": "multi-label", "dataset": "sonyc", "protocol": _SONYC_PROTOCOL, "closest_for": _SONYC_DATA}
    out = [PaperValue("classifier/esc50_accuracy", "classifier_accuracy", None, None,
                      100 * PAPER["classifier"]["esc50_accuracy"], True, f"{_ESC}, AudioSet-pretrained CNN",
                      spread=_scaled(PAPER_SPREADS["classifier"]["esc50_accuracy"], 100),
                      setting="classifier/esc50_accuracy", **esc)]
    for head, name in _HEADS.items():
        for k in ("top1", "top3", "top5"):
            out.append(PaperValue(f"fidelity_esc50/{name}/{k}", f"{k}_fidelity", head, None,
                                  PAPER["fidelity_esc50"][name][k], True, f"{_ESC}, {k[:3]}-{k[3:]} fidelity",
                                  spread=PAPER_SPREADS["fidelity_esc50"][name][k], setting="fidelity_esc50", **esc))
        for k in ("macro_auprc", "micro_auprc", "max_f1"):
            out.append(PaperValue(f"fidelity_sonyc/{name}/{k}", f"fidelity_{k}", head, None,
                                  PAPER["fidelity_sonyc"][name][k], False,
                                  f"{_SONYC}, 11-threshold {k.replace('_', '-')}",
                                  spread=PAPER_SPREADS["fidelity_sonyc"][name][k], setting="fidelity_sonyc", **sonyc))
    for tau in PAPER_TAUS:
        out.append(PaperValue(f"faithfulness_esc50/{tau}", "ff_median_prob_drop", "attention", tau,
                              PAPER["faithfulness_esc50"][tau], False,
                              f"ESC-50, attention Θ, FF = median probability drop at τ = {tau} (paper; random < 1e-4)",
                              spread=PAPER_SPREADS["faithfulness_esc50"][tau], setting="faithfulness_esc50", **esc))
    return {p.key: p for p in out}


def _scaled(v, factor):
    return None if v is None else factor * v


#: Every paper number a row may stand beside (or be set against as its closest published setting), by key.
PAPER_VALUES: dict[str, PaperValue] = _paper_values()

# -- headline rows ----------------------------------------------------------------------------------


@dataclass
class HeadlineRow:
    """One number of ours: what it is (``metric`` id, ``head``, ``tau``, ``task``), where it was measured
    (``dataset``, ``protocol``, ``where``), and the key of a paper value: ``paper_key`` for the identical
    quantity on the same data and protocol (the same column), ``closest_key`` for the identical quantity
    measured elsewhere (the closest published setting)."""

    dataset: str
    section: str
    metric: str
    label: str
    value: float | None
    where: str
    head: str | None = None
    tau: float | None = None
    percent: bool = False
    baseline: str = ""
    paper_key: str | None = None
    readme: bool = False
    preset: str = ""
    task: str = "multi-class"
    protocol: str = ""
    closest_key: str | None = None
    readme_closest: bool = False

    @property
    def data(self) -> str:
        """The README's data column: the dataset, and the classifier where it is the pretrained one."""
        pretrained = {"aisfx": "aiSFX, pretrained", "efficientat": "EfficientAT mn04, AudioSet-pretrained"}
        return f"{self.dataset} (f: {pretrained[self.preset]})" if self.preset in pretrained else self.dataset

    def __post_init__(self):
        for kind, key in (("paper value", self.paper_key), ("closest published value", self.closest_key)):
            if key is None:
                continue
            p = PAPER_VALUES[key]
            if (p.metric, p.head, p.tau, p.task) != (self.metric, self.head, self.tau, self.task):
                raise ValueError(f"{kind} {key} ({p.metric}, {p.head}, τ {p.tau}, {p.task}) is not the quantity of row "
                                 f"{self.label!r} ({self.metric}, {self.head}, τ {self.tau}, {self.task})")
        if self.paper_key is not None:
            p = PAPER_VALUES[self.paper_key]
            if (p.dataset, p.protocol) != (self.dataset, self.protocol):
                raise ValueError(f"paper value {self.paper_key} was measured on {p.dataset} ({p.protocol}) and row "
                                 f"{self.label!r} on {self.dataset} ({self.protocol or 'its own protocol'}): not the same "
                                 "data and protocol, so not the same column; give it as closest_key (closest published setting)")
        if self.paper_key is not None and self.closest_key is not None:
            raise ValueError(f"row {self.label!r}: a paper value in the same column needs no closest published setting")

    @property
    def paper(self) -> PaperValue | None:
        return PAPER_VALUES[self.paper_key] if self.paper_key else None

    @property
    def closest(self) -> PaperValue | None:
        return PAPER_VALUES[self.closest_key] if self.closest_key else None

    @property
    def ours(self) -> str:
        return _fmt(self.value, self.percent)

    @property
    def paper_text(self) -> str:
        """The paper's value in the same column (same quantity, data and protocol), or ""."""
        return self.paper.text if self.paper else ""


def _fmt(value, percent: bool = False) -> str:
    if value is None:
        return "–"
    if percent:
        return f"{value:.1f} %"
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1:
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def _paper_key(metric: str, head: str | None, tau: float | None = None, task: str = "multi-class") -> str | None:
    """The key of the paper value that is exactly the quantity (metric, head, τ, task), or None."""
    for p in PAPER_VALUES.values():
        if (p.metric, p.head, p.tau, p.task) == (metric, head, tau, task):
            return p.key
    return None


# -- what differs from the closest published setting ---------------------------------------------------

#: Our datasets, as the closest-published table names their data and their split.
_OUR_DATA = {"esc10": ("ESC-10, 10 classes", "one split (test fold 1)"),
             "esc50": ("ESC-50, 50 classes", "one split (test fold 1)"),
             "esc50-fold4": ("414 ESC-50 clips (fold 4 + 14), 50 classes", "one grouped 60/20/20 split"),
             "urbanmix": ("urbanmix, scenes mixed from ESC clips in the SONYC-UST layout", "its own split"),
             "sonyc": ("SONYC-UST v2, 8 coarse classes", "the official split")}
#: Our classifier f, by preset.
_OUR_F = {"cpu": "our CNN, trained from scratch", "paper": "our Kumar-style CNN, trained from scratch",
          "efficientat": "EfficientAT mn04 (AudioSet), fine-tuned here", "aisfx": "aiSFX, fine-tuned here"}


def what_differs(row: HeadlineRow) -> str:
    """What differs between our row and its closest published setting (``row.closest_key``; or its
    paper value): data and classes, split and runs, the classifier, how Θ's checkpoint was chosen and,
    for FF, how relevance was computed. ``""`` for a row with neither."""
    p = row.closest or row.paper
    if p is None:
        return ""
    s = setting_of(p.setting)
    data, split = _OUR_DATA.get(row.dataset, (row.dataset, "its own split"))
    out = []
    if p.dataset != row.dataset:
        out.append(f"data: {data} (paper: {s.get('data', '?')}, {s.get('classes', '?')} classes)")
    paper_protocol = ", ".join(x for x in (s.get("protocol"), s.get("repeats")) if x)
    out.append(f"protocol: {split}, one training seed (paper: {paper_protocol or '?'})")
    out.append(f"f: {_OUR_F.get(row.preset, 'ours')} (paper: {s.get('classifier', '?')})")
    if row.head is not None and s.get("checkpoint"):
        out.append(f"Θ kept on our validation split (paper: {s['checkpoint']})")
    if s.get("relevance"):
        out.append(f"relevance from Θ's own {row.head} pooling (paper: {s['relevance']})")
    return "; ".join(out)


def closest_published(dataset: str, sections: dict, *, preset: str = "", multilabel: bool | None = None) -> pd.DataFrame:
    """The "closest published setting" table of results a notebook is about to write: ``sections`` as
    ``results.json`` holds them (``{"fidelity": {...}}``, ``{"faithfulness_attention": {...}}``), measured on
    ``dataset`` with the classifier of ``preset``. See :func:`closest_published_table`."""
    record = {"dataset": dataset, "preset": preset, "results": sections,
              **({"multilabel": bool(multilabel)} if multilabel is not None else {})}
    return closest_published_table(headline_rows(record))


def closest_published_table(rows) -> pd.DataFrame:
    """The labelled "closest published setting" table of ``rows`` (:class:`HeadlineRow`, e.g. from
    :func:`headline_rows`): one line per row of ours that has one, with the paper's value and its ±
    spread, the paper's setting and what differs. Empty (with these columns) when no row has one."""
    cols = ["data (ours)", "metric (ours)", "ours", "paper (± spread)", "paper's setting", "what differs"]
    return pd.DataFrame([{"data (ours)": r.data, "metric (ours)": r.label, "ours": r.ours,
                          "paper (± spread)": r.closest.text, "paper's setting": r.closest.setting_text,
                          "what differs": what_differs(r)} for r in rows if r.closest_key], columns=cols)


def _classifier_rows(s: ClassifierSection, add) -> None:
    if s.accuracy is not None:
        label, base = "classifier accuracy", ""
        if s.trainable:  # the pretrained backbone: which candidate, and the others' test accuracy
            name = "EfficientAT mn04" if s.preset == "efficientat" else "aiSFX"
            label = f"classifier accuracy ({name} backbone, fine-tuned: {s.trainable}, kept on validation)"
            base = "; ".join(f"{c['trainable']} {100 * c['test']:.1f} %" for c in s.fine_tuning
                             if isinstance(c.get("test"), (int, float)))
        if len(s.accuracy_ci95) == 2:  # the interval of the number itself, first
            ci = f"95 % interval {100 * s.accuracy_ci95[0]:.1f}-{100 * s.accuracy_ci95[1]:.1f} %"
            base = f"{ci}; {base}" if base else ci
        add("classifier_accuracy", label, 100 * s.accuracy, percent=True, paired=True, readme=True, baseline=base)
    if s.macro_auprc is not None:  # scikit-learn's average precision: the paper's AUPRC is not this
        add("classifier_macro_ap", "classifier macro average precision (scikit-learn)", s.macro_auprc, readme=True)


def _interpreter_rows(s: InterpreterSection, add) -> None:
    for head, h in s.heads.items():
        for k in ("top1", "top3", "top5", "macro_auprc", "micro_auprc", "max_f1"):
            if isinstance(h.fidelity.get(k), (int, float)):
                metric = f"{k}_fidelity" if k.startswith("top") else f"fidelity_{k}"
                add(metric, f"{head} Θ {_label(k)} (notebook 03)", float(h.fidelity[k]), head=head,
                    percent=k.startswith("top"), paired=True)
        add("interpreter_relative_error", f"{head} Θ reconstruction ‖WH − V‖/‖V‖", h.relative_error, head=head,
            baseline=_opt("NMF with W fixed", s.nmf_relative_error))


def _label(k: str) -> str:
    return {"top1": "top-1 fidelity", "top3": "top-3 fidelity", "top5": "top-5 fidelity",
            "macro_auprc": "fidelity macro-AUPRC", "micro_auprc": "fidelity micro-AUPRC (all classes)",
            "max_f1": "fidelity max-F1 (all classes)"}[k]


def _opt(name: str, value, percent: bool = False) -> str:
    return f"{name} {_fmt(value, percent)}" if value is not None else ""


def _fidelity_rows(s: FidelitySection, add) -> None:
    for head, h in s.heads.items():
        for k in ("top1", "top3", "top5"):
            add(f"{k}_fidelity", f"{head} Θ {_label(k)}", getattr(h, k), head=head, percent=True, paired=True,
                readme=True)
        if h.macro_auprc is None:
            continue
        add("fidelity_macro_auprc", f"{head} Θ {_label('macro_auprc')}", h.macro_auprc, head=head, paired=True,
            readme=True, baseline=_excluded(h))
        official = h.micro_over == "all"  # older runs summed over the classes f predicts only
        for k, only in (("micro_auprc", h.micro_auprc_predicted_only), ("max_f1", h.max_f1_predicted_only)):
            if official:
                add(f"fidelity_{k}", f"{head} Θ {_label(k)}", getattr(h, k), head=head, paired=True, readme=True,
                    baseline=_opt("predicted classes only", only))
            else:
                add(f"fidelity_{k}_predicted_only", f"{head} Θ fidelity {k.replace('_', '-')} (predicted classes only)",
                    getattr(h, k), head=head, readme=True)
        add("fidelity_ap_macro", f"{head} Θ macro average precision (scikit-learn)", h.ap_macro, head=head)


def _excluded(h) -> str:
    return f"excluded (f never predicts): {', '.join(map(str, h.excluded_classes))}" if h.excluded_classes else ""


#: The τ of the faithfulness rows the README shows.
_README_TAUS = (0.5, 0.3, 0.1)


def _faithfulness_rows(s: FaithfulnessSection, add) -> None:
    head = s.head or None
    for tau_text, r in s.ff.items():
        tau = float(tau_text)
        base = "; ".join(x for x in (_opt("random comps.", r.random), _opt("random active comps.", r.random_active),
                                     _opt("beats random active", r.beats_random_active_pct, True)) if x)
        shown = tau in _README_TAUS and head == "attention"
        # ours only: the paper reports no logit drop, so no paper value is ever set beside this row
        add("ff_median_logit_drop", f"{head} Θ FF median logit drop, τ = {tau}", r.median_logit_drop, head=head,
            tau=tau, baseline=base, readme=shown)
        # the paper's FF (Eq. 6) is this quantity: its closest published setting when the data differ
        add("ff_median_prob_drop", f"{head} Θ FF median probability drop, τ = {tau}", r.median_prob_drop,
            head=head, tau=tau, paired=True, readme_closest=shown)
        add("ff_components_median", f"{head} Θ components removed (median), τ = {tau}", r.components_median,
            head=head, tau=tau)
    for kind in ("deletion", "insertion"):
        add(f"{kind}_area", f"{head} Θ {kind} curve area", getattr(s, f"{kind}_area"), head=head,
            baseline=_opt("random order", getattr(s, f"random_{kind}_area")))
    for k in ("AI", "AD", "AG", "fid_in"):
        if isinstance(s.mask_in.get(k), (int, float)):
            add(f"mask_in_{k}", f"{head} Θ mask-in {k.replace('_', '-')}", float(s.mask_in[k]), head=head)


def _corruption_rows(s: CorruptionsSection, add) -> None:
    head = s.head or None
    n = s.noise
    if isinstance(n.get("fidelity_noisy"), (int, float)):
        add("noise_fidelity", f"{head} Θ fidelity ({n.get('fidelity_metric', '?')}) at {n.get('snr_db', '?')} dB noise",
            float(n["fidelity_noisy"]), head=head, baseline=_opt("clean", n.get("fidelity_clean")))
    mx = s.mixtures
    if isinstance(mx.get("l2i_beats_random_si_sdr_pct"), (int, float)):
        add("mixtures_beats_random_pct", "mixtures x1 + λx2: L2I closer to x1 than random comps. (SI-SDR, % of pairs)",
            float(mx["l2i_beats_random_si_sdr_pct"]), head=head, percent=True, readme=True,
            baseline=f"{mx.get('pairs', '?')} pairs")
    for part, what in ((mx, "mixtures: SI-SDR vs true stem, median dB"), (s.scenes, "scenes: SI-SDR vs class stem, median dB")):
        bm = part.get("by_method") or {}
        if isinstance((bm.get("L2I") or {}).get("si_sdr_median"), (int, float)):
            others = "; ".join(_opt(m, (bm.get(m) or {}).get("si_sdr_median")) for m in ("random", "oracle IRM"))
            add(f"{'mixtures' if part is mx else 'scenes'}_si_sdr_median", what, float(bm["L2I"]["si_sdr_median"]),
                head=head, readme=True, baseline=others)


#: Notebook 08's rows: (condition, metric, label, percent, README); the methods shown in the README.
#: Notebook 08's README/index rows: (condition, metric, label, percent, in the README); each label names its
#: condition once.
_COMPARISON = (("clean", "AI", "AI (%), clean", False, True), ("clean", "fid_in", "Fid-In, clean", False, True),
               ("clean", "FF", "FF (probability drop), clean", False, False),
               ("clean", "FF_matched", "FF at 10 % of bins (logit), clean", False, False),
               ("mixture", "si_sdri", "SI-SDRi vs the input (dB), 0.8/0.2 mixtures", False, True),
               ("mixture", "si_sdri_matched", "SI-SDRi at matched sparsity (dB, mean 5-40 % of bins), mixtures",
                False, True),
               ("mixture", "precision_matched", "stem-energy precision at matched sparsity, mixtures", False, False),
               ("mixture", "si_sdr", "SI-SDR vs true stem (dB), 0.8/0.2 mixtures", False, False),
               ("scenes", "si_sdri", "SI-SDRi vs the scene (dB), scenes", False, True),
               ("scenes", "si_sdri_matched", "SI-SDRi at matched sparsity (dB, mean 5-40 % of bins), scenes", False,
                True),
               ("scenes", "si_sdr", "SI-SDR vs class stem (dB), scenes", False, False))
_README_METHODS = ("L2I (attention)", "L-MAC", "Integrated Gradients", "oracle IRM")
#: The references printed beside every README row of a metric: chance (a random mask) for AI and Fid-In, doing
#: nothing (the identity) for the ground truth.
_REFERENCE_OF = {"AI": "random", "fid_in": "random", "si_sdri": "identity", "si_sdr": "identity"}


def _cell_text(v: dict) -> str:
    """``"95 % CI [a, b], n = 80 clips × 3 seeds"`` (or why there is no interval)."""
    n, units, seeds = v.get("n"), v.get("n_units"), v.get("n_seeds")
    what = v.get("interval") or ""
    if isinstance(v.get("low"), (int, float)) and isinstance(v.get("high"), (int, float)):
        ci = f"95 % CI [{_fmt(v['low'])}, {_fmt(v['high'])}] ({what})" if what else f"95 % CI [{_fmt(v['low'])}, {_fmt(v['high'])}]"
    else:
        ci = "no interval" + (f" ({what})" if what else "")
    if isinstance(units, int):
        ci += f", n = {units} units" + (f" × {seeds} seeds" if isinstance(seeds, int) and seeds > 1 else "")
        if isinstance(n, int) and n != units * (seeds or 1):
            ci += f" ({n} rows)"
    return ci


def _comparison_rows(s: ComparisonSection, add) -> None:
    """Notebook 08's rows, each with its interval, n and seeds, the trained methods' budgets, and the reference
    (random or identity) beside it; SpeechBrain's published numbers (another classifier, another fold, known
    bugs) are never beside them: see :func:`speechbrain_markdown`."""
    for cond, metric, label, percent, readme in _COMPARISON:
        rows = s.conditions.get(cond) or {}
        ref_name = _REFERENCE_OF.get(metric.replace("_matched", ""))
        ref = (rows.get(ref_name) or {}).get(metric) if ref_name and not metric.endswith("_matched") else None
        for method, scores in rows.items():
            v = scores.get(metric) if isinstance(scores, dict) else None
            if not isinstance(v, dict) or not isinstance(v.get("mean"), (int, float)):
                continue
            parts = [_cell_text(v)]
            if method in s.budgets:
                parts.append("trained: " + budget_text(s.budgets[method]))
            if isinstance(ref, dict) and isinstance(ref.get("mean"), (int, float)) and method != ref_name:
                parts.append(f"{ref_name} mask: {_fmt(ref['mean'])} " + _cell_text(ref).split(", n =")[0]
                             .replace("95 % CI ", ""))
            if method == "L-MAC" and cond == "scenes":
                label_m = f"{label} (l2i's multi-label extension of L-MAC)"
            else:
                label_m = label
            add(f"compare_{cond}_{metric}", f"{method}: {label_m}", float(v["mean"]), percent=percent,
                baseline="; ".join(parts), readme=readme and method in (*_README_METHODS, ref_name or ""))
    _sanity_rows(s, add)


def _sanity_rows(s: ComparisonSection, add) -> None:
    """The randomisation check's verdict per method (the value: mean ρ after randomising every layer of f),
    beside its own control's ρ and why it passes, fails or cannot be judged."""
    table = [r for r in (s.sanity.get("table") or []) if isinstance(r, dict)]
    labels = {"control": "none (control)", "all": "all layers", **(s.sanity.get("labels") or {})}  # older records
    for v in s.sanity.get("verdicts") or []:
        rows = {r.get("randomised"): r for r in table if r.get("method") == v.get("method")}
        rnd, ctl = rows.get(labels["all"]) or {}, rows.get(labels["control"]) or {}
        if not isinstance(rnd.get("rho"), (int, float)):
            continue
        budget = s.sanity.get("budgets", {}).get(v["method"])
        parts = [f"{v['verdict']}: {v.get('reason', '')}",
                 f"own control ρ {_fmt(ctl.get('rho'))}" + (f" (retrained, {budget} epochs)" if budget else ""),
                 _cell_text({"low": rnd.get("low"), "high": rnd.get("high"), "n_units": rnd.get("n"),
                             "interval": rnd.get("interval") or ""})]
        add(f"sanity_{v['method']}", f"{v['method']}: sanity check, ρ with its masks after every layer of f is "
            f"randomised ({v['verdict']})", float(rnd["rho"]), baseline="; ".join(parts),
            readme=v["method"] in (*_README_METHODS, "random"))


_TRUTH_TEXT = {"band": "relevance mass inside the band f sees (a region-blind f)",
               "span": "relevance mass inside the span f sees (a region-blind f)",
               "planted": "relevance mass on the planted marker"}


def _model_truth_rows(s: ModelTruthSection, add) -> None:
    """Every explainer's relevance mass inside what f sees or relies on, with its interval, n, rank accuracy
    and chance (the region's share of the plane); for ``planted``, the shortcut check first."""
    for kind in ("band", "span", "planted"):
        rec = getattr(s, kind) or {}
        if not rec:
            continue
        clf = rec.get("classifier") or {}
        sc = rec.get("shortcut") or {}
        unused = sc.get("relies_on_marker") is False
        if sc.get("accuracy_with") is not None:
            add(f"truth_{kind}_shortcut", f"planted-marker f: test accuracy with the marker (%), {kind}",
                100 * float(sc["accuracy_with"]), percent=False,
                baseline=f"without it {_fmt(100 * float(sc['accuracy_without']))} % (chance "
                         f"{_fmt(100 * float(sc.get('chance', 0)))} %), n = {sc.get('n')} clips"
                         + ("; f does not rely on the marker: the rows below do not score f's evidence" if unused else ""),
                readme=True)
        for r in rec.get("table") or []:
            if not isinstance(r.get("mass inside"), (int, float)):
                continue
            ci = _cell_text({"low": r.get("low"), "high": r.get("high"), "n_units": r.get("clips"),
                             "interval": r.get("interval") or ""})
            parts = [ci, f"chance {_fmt(r.get('chance'))}", f"rank accuracy {_fmt(r.get('rank accuracy'))}"]
            if isinstance(clf.get("test_accuracy"), (int, float)):
                parts.append(f"f's test accuracy {_fmt(100 * float(clf['test_accuracy']))} %")
            epochs = rec.get("explainer_epochs")
            if isinstance(epochs, dict) and epochs:  # {"l2i": 35, "lmac": 40}
                names = {"l2i": "L2I heads", "lmac": "L-MAC"}
                parts.append("trained on this f, one seed: " + ", ".join(f"{names.get(k, k)} {v} epochs"
                                                                          for k, v in epochs.items()))
            elif epochs:
                parts.append(f"explainers trained {epochs} epochs on this f, one seed")
            label = _TRUTH_TEXT[kind] + ((" (f does not rely on it)" if unused else " (f relies on it)")
                                         if kind == "planted" else "")
            add(f"truth_{kind}_{r['method']}", f"{r['method']}: {label}", float(r["mass inside"]),
                baseline="; ".join(parts), readme=r["method"] in (*_README_METHODS, "random"))


_ROWS: dict[type, Callable] = {ClassifierSection: _classifier_rows, InterpreterSection: _interpreter_rows,
                               FidelitySection: _fidelity_rows, FaithfulnessSection: _faithfulness_rows,
                               CorruptionsSection: _corruption_rows, ComparisonSection: _comparison_rows,
                               ModelTruthSection: _model_truth_rows}
_ORDER = ("classifier", "interpreter", "fidelity", "faithfulness", "corruptions", "comparison", "model_truth")


def _task(record: dict, sections: dict) -> str:
    """``'multi-label'`` or ``'multi-class'``: the record's own ``multilabel`` flag, else what its sections
    hold (macro-AUPRC: multi-label), else the dataset's name."""
    if isinstance(record.get("multilabel"), bool):
        return "multi-label" if record["multilabel"] else "multi-class"
    clf, fid = sections.get("classifier"), sections.get("fidelity")
    if (clf is not None and clf.macro_auprc is not None) or (
            fid is not None and any(h.macro_auprc is not None for h in fid.heads.values())):
        return "multi-label"
    return "multi-label" if record.get("dataset") in _MULTILABEL_DATA else "multi-class"


def headline_rows(record: dict) -> list[HeadlineRow]:
    """Every headline row of one ``reports/<dataset>/results.json``, in the order of the notebooks.

    A row of a quantity the paper reports gets that value as ``paper_key`` (the same column) only when
    the paper measured it on the same data with the same protocol, else as ``closest_key`` when the
    dataset is one whose closest published setting it is (ESC data: ESC-50; urbanmix: SONYC-UST v2)."""
    dataset = str(record.get("dataset", "?"))
    sections = read_sections(record.get("results") or {})
    task = _task(record, sections)
    rows: list[HeadlineRow] = []
    for name in sorted(sections, key=lambda n: next((i for i, o in enumerate(_ORDER) if n.startswith(o)), 9)):
        s = sections[name]
        split, protocol = s.split, s.protocol
        if isinstance(s, ModelTruthSection) and not split and "comparison" in sections:
            # ground truth about f scores the test clips of the comparison's split (older records say neither)
            split, protocol = sections["comparison"].split, sections["comparison"].protocol
        where = [dataset] + ([f"{split} split"] if split else []) + ([protocol] if protocol else [])
        if s.quick or record.get("quick"):
            where.append("quick run on tiny data: not a result")
        where_text = "; ".join(where)

        def add(metric, label, value, *, head=None, tau=None, percent=False, paired=False, baseline="",
                readme=False, readme_closest=None, _name=name, _where=where_text, _protocol=protocol or ""):
            if value is None:
                return
            key = _paper_key(metric, head, tau, task) if paired else None
            same = key is not None and (PAPER_VALUES[key].dataset, PAPER_VALUES[key].protocol) == (dataset, _protocol)
            closest = key if key is not None and not same and dataset in PAPER_VALUES[key].closest_for else None
            rows.append(HeadlineRow(dataset, _name, metric, label, float(value), _where, head=head, tau=tau,
                                    percent=percent, baseline=baseline, paper_key=key if same else None,
                                    readme=readme, preset=str(record.get("preset", "")), task=task,
                                    protocol=_protocol, closest_key=closest,
                                    readme_closest=readme if readme_closest is None else readme_closest))

        _ROWS[type(s)](s, add)
    steps = [st for st in record.get("steps", []) if isinstance(st, dict)]
    if steps and all(isinstance(st.get("seconds"), (int, float)) for st in steps):
        rows.append(HeadlineRow(dataset, "run", "notebook_minutes", f"notebooks {len(steps)}: sum of step times (min)",
                                round(steps_seconds(record) / 60, 1), _machine(record), readme=True,
                                preset=str(record.get("preset", "")), task=task))
    return rows


def _machine(record: dict) -> str:
    m = record.get("machine") or {}
    if not m:
        return ""
    what = f"{m.get('gpu') or m.get('cpu', '?')}, {m.get('cores', '?')} cores"
    if not m.get("gpu") and m.get("cpu_capability"):  # the ISA the kernels ran with, and whether bf16 was native
        what += f", {m['cpu_capability']}{', bf16' if m.get('bf16_autocast') else ', no bf16'}"
        if m.get("isa_caps"):
            what += " (capped)"
    return what


def steps_seconds(record: dict) -> float:
    """Notebook time behind a dataset's reports: the sum of its recorded steps' seconds, skipped
    (current) steps included, since their outputs are part of the reports."""
    return float(sum(float(s.get("seconds", 0.0)) for s in record.get("steps", []) if isinstance(s, dict)))


def _minutes(seconds) -> str:
    try:
        return f"{float(seconds) / 60:.1f} min"
    except (TypeError, ValueError):
        return "?"


def _read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


# -- index.html -------------------------------------------------------------------------------------

_INDEX_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 72em;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; width: 100%; font-size: .92em; margin: .6em 0 1.2em; }
th, td { border: 1px solid #ddd; padding: .3em .5em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.muted { color: #666; font-size: .9em; } .failed { color: #b00020; font-weight: 600; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(21em, 1fr)); gap: .8em; margin: 1em 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: .2em .9em .5em; font-size: .86em; }
.card h2 { margin: .3em 0 .1em; border: 0; font-size: 1.25em; } .card dl { margin: .3em 0; }
.card dt { color: #444; margin-top: .35em; } .card dd { margin: 0 0 0 .8em; font-variant-numeric: tabular-nums; }
tr.group th { background: #eef2f7; font-weight: 600; }
"""


#: Section ids as the index's group headers name them.
_SECTION_TITLES = {"classifier": "the classifier f (notebook 02)", "interpreter": "the interpreter Θ (notebook 03)",
                   "fidelity": "fidelity (notebook 04)", "comparison": "the comparison (notebook 08)",
                   "model_truth": "ground truth about f (notebook 08)", "run": "the run"}

_INTERVAL = re.compile(r"\[(-?[\d.]+(?:e-?\d+)?), (-?[\d.]+(?:e-?\d+)?)\]")
_N = re.compile(r"n = [^;()]*")


def _card_value(r: HeadlineRow) -> str:
    """``ours [low, high], n`` of a row, as its baseline text gives them (no interval printed: none)."""
    ci = _INTERVAL.search(r.baseline or "")
    n = _N.search(r.baseline or "")
    return (f"{r.ours}" + (f" [{ci.group(1)}, {ci.group(2)}]" if ci else "")
            + (f" <span class=\"muted\">{_esc(n.group(0).strip())}</span>" if n else ""))


def _summary_card(name: str, record: dict) -> list[str]:
    """One dataset on one card of the index's first screen: what was measured and the headline verdicts with their
    intervals (the classifier, Θ's fidelity, the comparison's first measure for the main methods and the random
    mask, the sanity check's verdicts, the ground truth about f), and links."""
    rows = [r for r in headline_rows(record) if r.readme]
    first = {}
    for r in rows:
        first.setdefault(r.section, r)
    lines = []
    for section in ("classifier", "fidelity"):
        if section in first:
            lines.append((first[section].label, _card_value(first[section])))
    compare = [r for r in rows if r.section == "comparison" and r.metric.startswith("compare_")]
    if compare:
        metric = compare[0].metric
        for r in compare:
            if r.metric == metric and r.label.split(":")[0] in ("L2I (attention)", "L2I (max-pool)", "L-MAC", "random"):
                lines.append((r.label, _card_value(r)))
    verdicts = [r for r in rows if r.metric.startswith("sanity_")]
    if verdicts:
        said = "; ".join(f"{r.label.split(':')[0]} {r.label.rsplit('(', 1)[-1].rstrip(')')}" for r in verdicts)
        lines.append(("sanity check (f randomised), each against its own control", _esc(said)))
    for r in rows:
        if r.section == "model_truth" and r.label.split(":")[0] in ("L2I (attention)", "L-MAC"):
            chance = re.search(r"chance ([\d.]+)", r.baseline or "")
            lines.append((r.label, _card_value(r) + (f" <span class=\"muted\">chance {chance.group(1)}</span>"
                                                     if chance else "")))
    m = (record.get("results") or {}).get("classifier") or {}
    what = (f"{record.get('preset', '?')} preset" + (f", {str(m['backbone']).split(':')[0]}" if m.get("backbone") else "")
            + ("; quick run on tiny data: not a result" if record.get("quick") else ""))
    where = rows[0].where if rows else ""
    out = [f'<section class="card" data-dataset="{_esc(name)}"><h2><a href="#{_esc(name)}">{_esc(name)}</a></h2>',
           f'<p class="muted">{_esc(what)}<br>{_esc(where)}</p>']
    if record.get("failed"):
        out.append(f'<p class="failed">Failed: {_esc(record["failed"].get("error", ""))}</p>')
    if lines:
        out.append("<dl>" + "".join(f"<dt>{_esc(k)}</dt><dd>{v}</dd>" for k, v in lines) + "</dl>")
    else:
        out.append('<p class="muted">No headline numbers yet.</p>')
    links = f'<a href="#{_esc(name)}">its notebooks</a>' + (f' · <a href="#{_esc(name)}-all">every number</a>'
                                                           if headline_rows(record) else "")
    out.append(f"<p>{links}</p></section>")
    return out


def _licences_html(datasets: list[str]) -> list[str]:
    """What may be done with the audio the reports embed, and with the code and models: the index's last section."""
    from l2i_core.data.registry import SOURCES
    from l2i_core.models.efficientat import EFFICIENTAT_LICENCE

    known = [n for n in datasets if n in SOURCES and SOURCES[n].licence]
    items = [f"<li><b>{_esc(n)}</b>: {_esc(SOURCES[n].licence)}</li>" for n in known]
    nc = " (some non-commercial: see below)" if any("NC" in SOURCES[n].licence for n in known) else ""
    return ['<h2 id="licences">Licences</h2>',
            f"<p>The reports embed clips of the data they analyse, to be listened to here; each keeps its licence{nc}:</p>",
            "<ul>", *items,
            f"<li><b>EfficientAT mn04</b> (the pretrained f): {_esc(EFFICIENTAT_LICENCE)}</li>",
            "<li><b>l2i</b> (the code that wrote these pages): MIT; cite it and the paper it reproduces with the "
            "repository's <code>CITATION.cff</code>.</li>", "</ul>"]


def _esc(x) -> str:
    return _html.escape(str(x), quote=True)


def _records(reports_dir: Path) -> list[tuple[str, dict]]:
    out = []
    for p in sorted(reports_dir.glob("*/results.json")):
        data = _read_json(p)
        out.append((p.parent.name, data if isinstance(data, dict) else {}))
    return out


def _index_dataset(reports_dir: Path, name: str, record: dict) -> list[str]:
    """The index's section of one dataset: its runs, its notebooks' reports, its headline rows."""
    quick = " · quick run (tiny data)" if record.get("quick") else ""
    parts = [f'<h2 id="{_esc(name)}">{_esc(name)}</h2>',
             f'<p class="muted">preset {_esc(record.get("preset", "?"))}{quick} · seed '
             f'{_esc(record.get("parameters", {}).get("seed", "?"))} · total '
             f'{_esc(_minutes(steps_seconds(record)))} of notebooks'
             + (f' · finished {_esc(record["finished_at"])}' if record.get("finished_at") else "") + "</p>"]
    if record.get("failed"):
        parts.append(f'<p class="failed">Failed: {_esc(record["failed"].get("error", ""))}</p>')
    backbone = ((record.get("results") or {}).get("classifier") or {}).get("backbone")
    if backbone:  # a pretrained f: name the model, its paper and its licence
        parts.append(f'<p class="muted">Classifier f: {_esc(backbone)}.</p>')
    parts.append("<ul>")
    for step in record.get("steps", []):
        html_name, label = step.get("html"), _esc(Path(step.get("notebook", "?")).stem)
        status = f', {_esc(step["status"])}' if step.get("status") else ""
        if html_name and (reports_dir / name / html_name).is_file():
            parts.append(f'<li><a href="{_esc(f"{name}/{html_name}")}">{label}</a> <span class="muted">'
                         f'({_esc(step.get("seconds", "?"))} s{status})</span></li>')
        else:
            parts.append(f'<li>{label} <span class="muted">(no HTML report)</span></li>')
    parts.append("</ul>")
    rows = headline_rows(record)
    if not rows:
        return parts + ['<p class="muted">No headline numbers yet (the notebooks that measure them have not run).</p>']
    paired = any(r.paper_key for r in rows)  # a paper value on the same data and protocol: its own columns
    width = 3 + (2 if paired else 0)
    parts.append(f'<h3 id="{_esc(name)}-all">Every number of {_esc(name)}</h3>'
                 "<table><thead><tr><th>metric</th><th>ours</th><th>beside it</th>"
                 + ("<th>paper (same data and protocol)</th><th>paper's data / protocol</th>" if paired else "")
                 + "</tr></thead><tbody>")
    group = None
    for r in rows:
        if (r.section, r.where) != group:  # a group's section, data, split and protocol: said once, above its rows
            group = (r.section, r.where)
            parts.append(f'<tr class="group"><th colspan="{width}">{_esc(_SECTION_TITLES.get(r.section, r.section))}'
                         f' <span class="muted">· {_esc(r.where)}</span></th></tr>')
        parts.append(f'<tr data-metric="{_esc(r.metric)}" data-paper-key="{_esc(r.paper_key or "")}" '
                     f'data-closest-key="{_esc(r.closest_key or "")}" data-where="{_esc(r.where)}">'
                     f'<td>{_esc(r.label)}</td><td class="num">{_esc(r.ours)}</td><td>{_esc(r.baseline)}</td>'
                     + (f'<td class="num">{_esc(r.paper_text) or "–"}</td><td>{_esc(r.paper.where if r.paper else "")}</td>'
                        if paired else "") + "</tr>")
    parts.append("</tbody></table>")
    closest = [r for r in rows if r.closest_key]
    if closest:
        table = closest_published_table(closest)
        parts += [f'<h3 id="{_esc(name)}-closest">Closest published setting</h3>', f'<p class="muted">{_esc(_CLOSEST_NOTE)}</p>',
                  "<table><thead><tr>" + "".join(f"<th>{_esc(c)}</th>" for c in table.columns) + "</tr></thead><tbody>"]
        for r, (_, line) in zip(closest, table.iterrows()):
            parts.append(f'<tr data-metric="{_esc(r.metric)}" data-closest-key="{_esc(r.closest_key)}">'
                         + "".join(f'<td{" class=num" if c in ("ours", "paper (± spread)") else ""}>{_esc(line[c])}</td>'
                                   for c in table.columns) + "</tr>")
        parts.append("</tbody></table>")
    return parts


#: The note above every "closest published setting" table (index and README).
_CLOSEST_NOTE = ("The paper (Parekh et al., NeurIPS 2022) measured these quantities on other data with another "
                 "protocol, so none of its numbers stands in a column of ours. Each is listed here beside our identical "
                 "quantity, with what differs: its FF, a drop in probability (Eq. 6), beside our median probability "
                 "drop (our logit drop has no published counterpart). The paper's ± spreads are over its 5 ESC-50 folds "
                 f"or 3 SONYC-UST runs ('{SPREAD_NOT_RECORDED}' where l2i_core.paper does not hold one); ours come from "
                 "one split and one training seed. The paper's SONYC-UST faithfulness is not recorded here.")


def speechbrain_markdown() -> str:
    """SpeechBrain's published L2I / L-MAC numbers as their own labelled table: CNN14 on ESC-50's
    validation fold, with the known bugs of that evaluation. Beside no number of ours."""
    keys = ("AI", "AD", "AG", "FF", "Fid-In", "SPS", "COMP")
    lines = [f"**{_SPEECHBRAIN_TITLE}** {_speechbrain_note()}", "",
             "| method | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    lines += [f"| {m} | " + " | ".join(f"{v[k]:g}" for k in keys) + " |" for m, v in SPEECHBRAIN_ESC50.items()]
    return "\n".join(lines)


_SPEECHBRAIN_TITLE = "SpeechBrain's published numbers (another setting, beside none of ours)."


def _speechbrain_note() -> str:
    s = SPEECHBRAIN_SETTING
    return (f"{s['source']}: {s['classifier']}; {s['data']}. AI, AD, AG in %. Known bugs of that evaluation: "
            f"{s['known_bugs']}; its L2I row is partly their artefact.")


def _speechbrain_html() -> list[str]:
    keys = ("AI", "AD", "AG", "FF", "Fid-In", "SPS", "COMP")
    return (['<h2 id="speechbrain">SpeechBrain\'s published numbers</h2>',
             f'<p class="muted">{_esc(_SPEECHBRAIN_TITLE)} {_esc(_speechbrain_note())}</p>',
             "<table><thead><tr><th>method</th>" + "".join(f"<th>{k}</th>" for k in keys) + "</tr></thead><tbody>"]
            + [f"<tr><td>{_esc(m)}</td>" + "".join(f'<td class="num">{v[k]:g}</td>' for k in keys) + "</tr>"
               for m, v in SPEECHBRAIN_ESC50.items()]
            + ["</tbody></table>"])


def write_index(reports_dir: str | Path = "reports") -> Path:
    """Write ``reports/index.html``: every dataset's reports and headline rows, self-contained."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>l2i reports</title>", f"<style>{_INDEX_CSS}</style>", "</head>", "<body>", "<h1>l2i reports</h1>",
        '<p class="muted">Listen to Interpret (Parekh et al., NeurIPS 2022), reproduced with l2i. Each number '
        "names its data, split and protocol; the paper's number stands in a column beside it only when it is the "
        "same quantity (same metric, Θ head and τ) measured on the same data with the same protocol. Otherwise it "
        "is listed apart, under each dataset's \u201cclosest published setting\u201d, with what differs. "
        f"Written {_esc(_dt.datetime.now().astimezone().isoformat(timespec='seconds'))}.</p>",
    ]
    records = _records(reports_dir)
    if not records:
        parts.append("<p>No reports yet: run <code>l2i reproduce --dataset esc10</code>.</p>")
    full = [(n, r) for n, r in records if r and not r.get("quick")]
    if full:
        where = f" on {_esc(_machine(full[0][1]))}" if _machine(full[0][1]) else ""
        parts.append(f'<p>Computing these reports ({", ".join(_esc(n) for n, _ in full)}) took '
                     f'{_esc(_minutes(sum(steps_seconds(r) for _, r in full)))} of notebook time{where} (the sum of '
                     "the steps below; <code>make reproduce</code> adds the installs).</p>")
    if records:
        parts.append('<div class="cards">')
        for name, record in records:
            parts += _summary_card(name, record)
        parts.append("</div>")
    for name, record in records:
        parts += _index_dataset(reports_dir, name, record)
    if any("comparison" in (r.get("results") or {}) for _, r in records):
        parts += _speechbrain_html()
    parts += _licences_html([n for n, _ in records])
    target = reports_dir / "index.html"
    target.write_text("\n".join([*parts, "</body>", "</html>", ""]), encoding="utf-8")
    return target


# -- the README's tables ----------------------------------------------------------------------------

README_START = "<!-- results:start (generated from reports/*/results.json by l2i_core.report.headline.write_readme) -->"
README_END = "<!-- results:end -->"
BENCHMARKS_START = "<!-- benchmarks:start (generated from benchmarks/results/*.json by l2i_core.report.headline.write_readme) -->"
BENCHMARKS_END = "<!-- benchmarks:end -->"


def _full_run_rows(reports_dir: str | Path) -> list[HeadlineRow]:
    return [r for _, rec in _records(Path(reports_dir)) if rec and not rec.get("quick") for r in headline_rows(rec)]


def readme_rows(reports_dir: str | Path = "reports") -> list[HeadlineRow]:
    """The rows marked ``readme`` of every full (not quick) run under ``reports_dir``."""
    return [r for r in _full_run_rows(reports_dir) if r.readme]


def readme_markdown(reports_dir: str | Path = "reports") -> str:
    """The README's results: our headline numbers (a paper column only where a paper value was measured on
    the same data with the same protocol), then the labelled "closest published setting" table, then
    SpeechBrain's published numbers on their own."""
    rows = _full_run_rows(reports_dir)
    main = [r for r in rows if r.readme]
    paired = any(r.paper_key for r in main)
    lines = ["| data (test split) | metric | ours | beside it |" + (" paper (same data and protocol) | paper's data |"
                                                                    if paired else ""),
             "|---|---|---|---|" + ("---|---|" if paired else "")]
    for r in main:
        paper = f" {r.paper_text or '–'} | {r.paper.where.replace(' (paper)', '') if r.paper else ''} |" if paired else ""
        lines.append(f"| {r.data} | {r.label} | {r.ours} | {r.baseline} |{paper}")
    closest = [r for r in rows if r.closest_key and r.readme_closest]
    if closest:
        table = closest_published_table(closest)
        lines += ["", f"**Closest published setting.** {_CLOSEST_NOTE}", "",
                  "| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
        lines += ["| " + " | ".join(str(v) for v in line) + " |" for line in table.itertuples(index=False)]
    if any(r.section == "comparison" for r in main):
        lines += ["", speechbrain_markdown()]
    return "\n".join(lines)


# -- "Measured so far": benchmarks/results/*.json ---------------------------------------------------

def _num(v, digits: int = 3) -> str:
    return f"{v:.{digits}g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "?"


def _bench_classifier(d: dict) -> list[tuple[str, str, str]]:
    runs = d.get("runs") or [{}]
    metric = runs[0].get("metric", "?")
    scale, unit = (100, " %") if metric == "accuracy" else (1, "")
    spread = f" ± {_num(scale * d.get('std', 0))}{unit}" if len(runs) > 1 else ""
    data = f"{d.get('dataset', '?')}, {len(runs)} folds" if len(runs) > 1 else f"{d.get('dataset', '?')}, test split, 1 run"
    epochs = "the default epochs" if d.get("epochs") == 0 else f"{d.get('epochs', '?')} epochs"  # 0: the recipe's own
    return [(f"classifier, {d.get('preset', '?')} preset, device {d.get('device', '?')}, {epochs}", data,
             f"test {metric} {_num(scale * d.get('mean', float('nan')))}{unit}{spread}; "
             f"{_num(d.get('mean_train_seconds'))} s of training per run")]


def _bench_interpreter(d: dict) -> list[tuple[str, str, str]]:
    return [(f"interpreter epoch on the activation cache vs recomputing f per batch ({d.get('device', '?')}, "
             f"{d.get('threads', '?')} threads)", "ESC-10 train split",
             f"{_num(d.get('cached_epoch_seconds'))} s vs {_num(d.get('recompute_epoch_seconds'))} s: {_num(d.get('ratio'), 2)}×")]


def _bench_nmf(d: dict) -> list[tuple[str, str, str]]:
    """Rows of bench_nmf_*.json: the same-problem comparison (µ = 0), what µ > 0 solves, GPU timings."""
    rows = []
    sp, w = d.get("same_problem"), d.get("what_is_solved")
    if isinstance(sp, dict):
        m = d.get("machine") or {}
        setting = (f"{d.get('n_frames', '?')} × {d.get('n_freq', '?')} ESC-10 train frames, K = {d.get('K', '?')}, "
                   f"{d.get('dtype', '?')}, same init, denormals flushed on both sides: {d.get('denormals_flushed_both_sides', '?')}, "
                   f"{m.get('torch_threads', '?')} threads; target: scikit-learn's float64 objective after "
                   f"{d.get('iterations', '?')} iterations; median [min, max] of {d.get('repeats', '?')} interleaved repeats")
        for key, s in (sp.get("sides") or {}).items():
            if not key.startswith("l2i_inner_iter_") or "per_iteration_time_ratio" not in s:
                continue
            p, q = s["per_iteration_time_ratio"], s["time_to_same_objective_ratio"]
            rows.append((f"SparseNMF (inner_iter={key.rsplit('_', 1)[1]}) vs scikit-learn {m.get('sklearn', '')} NMF(solver='mu'), "
                         "same problem (µ = 0)", setting,
                         f"scikit-learn / SparseNMF time per iteration {_num(p['median'], 3)} [{_num(p['min'], 3)}, {_num(p['max'], 3)}]; "
                         f"to the same objective {_num(q['median'], 3)} [{_num(q['min'], 3)}, {_num(q['max'], 3)}] "
                         f"({s.get('iterations', '?')} iterations; > 1: SparseNMF faster)"))
    if isinstance(w, dict):
        rows.append((f"what µ = {w.get('mu', '?')} solves: SparseNMF (unit-norm atoms) vs scikit-learn alpha_W L1 (atoms free)",
                     f"{d.get('n_frames', '?')} × {d.get('n_freq', '?')} frames, {w.get('iterations', '?')} iterations",
                     f"scikit-learn mean atom norm {_num(w.get('sklearn_mean_atom_norm'))}, relative error "
                     f"{_num(w.get('sklearn_relative_error'))} vs SparseNMF {_num(w.get('l2i_relative_error'))}; "
                     "different problems, no speed comparison"))
    sv = d.get("solvers")
    if isinstance(sv, dict) and "ratio_sklearn_mu_time_over_l2i_hals_time_to_J_star" in sv:
        r_mu, r_cd = sv["ratio_sklearn_mu_time_over_l2i_hals_time_to_J_star"], sv.get("ratio_sklearn_cd_over_l2i_hals_time_to_J_star") or {}
        sides = sv.get("sides") or {}
        its = ", ".join(f"{k} {v.get('iterations_to_J_star', '?')}" for k, v in sides.items())
        rows.append(("SparseNMF(solver='hals') vs scikit-learn NMF 'mu' and 'cd': time to scikit-learn MU's "
                     f"{sv.get('sklearn_mu_iterations', '?')}-iteration objective (µ = 0; targets >= 5 and >= 1)",
                     f"{d.get('n_frames', '?')} × {d.get('n_freq', '?')} ESC-10 train frames, K = {d.get('K', '?')}; "
                     f"iterations to it: {its}; median [min, max] of {d.get('repeats', '?')} interleaved repeats",
                     f"sklearn MU / HALS {_num(r_mu['median'])} [{_num(r_mu['min'])}, {_num(r_mu['max'])}]; "
                     f"sklearn CD / HALS {_num(r_cd.get('median'))} [{_num(r_cd.get('min'))}, {_num(r_cd.get('max'))}]"))
    mb = d.get("minibatch")
    if isinstance(mb, dict) and "l2i" in mb and "sklearn" in mb:
        a, b = mb["l2i"], mb["sklearn"]
        rows.append(("SparseNMF.fit_minibatch vs scikit-learn MiniBatchNMF (partial_fit), frames on disk read by chunks",
                     f"{mb.get('frames_on_disk', '?')} frames ({_num(mb.get('file_mb'))} MB, {_num(mb.get('file_over_budget'))}x a "
                     f"{_num(mb.get('memory_budget_mb'))} MB budget), chunks of {mb.get('chunk_frames', '?')}, "
                     f"{mb.get('epochs', '?')} pass, same chunks and W0",
                     f"l2i {_num(a['seconds'])} s, held-out objective/frame {_num(a['eval_objective_per_frame'])}, peak RSS "
                     f"{_num(a['peak_rss_mb'])} MB; sklearn {_num(b['seconds'])} s, {_num(b['eval_objective_per_frame'])}, "
                     f"{_num(b['peak_rss_mb'])} MB"))
    for name, p in d.items():
        if isinstance(p, dict) and "seconds" in p and "device" in p:  # a timing of SparseNMF alone (GPU)
            rows.append((f"SparseNMF, {name} ({p.get('device', '?')})", f"{p.get('n_frames', '?')} × {p.get('n_freq', '?')} "
                         f"frames, {p.get('iterations', '?')} iterations", f"{_num(p.get('seconds'))} s"))
    return rows


def _bench_explain(d: dict) -> list[tuple[str, str, str]]:
    weights = f", {d['weights']} weights" if d.get("weights") else ""
    return [(f"explain: {k} ({d.get('device', '?')}, {d.get('threads', '?')} threads{weights})",
             f"{d.get('clips', '?')} clips", f"{_num(r.get('clips_per_s'))} clips/s (median)")
            for k, r in (d.get("rows") or {}).items()]


def _bench_interpreter_run(d: dict) -> list[tuple[str, str, str]]:
    rows = []
    for head in ("attention", "max"):
        h = d.get(head) or {}
        if "top1" in h:
            ours = " / ".join(_num(100 * h[k]) for k in ("top1", "top3", "top5") if k in h) + " % top-1/3/5 fidelity"
        else:
            ours = "; ".join(f"{k} {_num(v)}" for k, v in h.items() if isinstance(v, (int, float)))
        rows.append((f"interpreter, {head} Θ, {d.get('preset', 'cpu')} preset, {d.get('device', 'cpu')}",
                     str(d.get("data", "ESC-10 test fold 1")), ours))
    if isinstance((d.get("classifier") or {}).get("test_accuracy"), (int, float)):
        rows.append((f"classifier, {d.get('preset', '?')} preset, {d.get('device', '?')}", "ESC-10 test fold 1",
                     f"test accuracy {_num(100 * d['classifier']['test_accuracy'])} %"))
    return rows


def _bench_sweep(d) -> list[tuple[str, str, str]]:
    runs = d.get("runs", []) if isinstance(d, dict) else d
    out = []
    for r in runs:
        what = r.get("kind") or ", ".join(f"{k} {r[k]}" for k in ("epochs", "lr", "mixup") if k in r)
        val = r.get("val", r.get("val_macro_auprc"))
        test = r.get("test", r.get("test_macro_auprc"))
        out.append((f"sweep: {what}", str(r.get("dataset", "urbanmix")),
                    f"validation {_num(val)}, test {_num(test)}, {_num(r.get('seconds'))} s"))
    return out


def _bench_distributed(d: dict) -> list[tuple[str, str, str]]:
    out = []
    for name, r in (d.get("runs") or {}).items():
        if "build_cache_seconds" in r:
            out.append((f"build-cache, {name}", str(d.get("data", "")), f"{_num(r['build_cache_seconds'])} s"))
        out.append((f"train-interpreter epoch, {name}", str(d.get("data", "")),
                    f"{_num(r.get('interpreter_seconds_per_epoch'))} s"))
    ratio = d.get("ratio_2proc_over_1proc") or {}
    if ratio:
        out.append(("2 processes / 1 process (time ratio)", "build-cache; interpreter epoch",
                    f"{_num(ratio.get('build_cache'))}; {_num(ratio.get('interpreter_epoch'))}"))
    return out


def _bench_cpu_capability(d: dict) -> list[tuple[str, str, str]]:
    """Rows of cpu_capability.json: what the capped process saw, and the capped / native time ratios."""
    st, r = d.get("settings") or {}, d.get("ratios_capped_over_native") or {}
    cap = next((v for k, v in st.items() if k != "native"), {})
    if not cap or not r:
        return []
    return [("as an AVX2 CPU without bf16 (ISA capped) / native: time ratio",
             f"{(d.get('machine') or {}).get('cpu', '?')}; capped process: {cap.get('cpu_capability')}, "
             f"bf16 autocast {cap.get('bf16_autocast')}",
             f"GEMM {_num(r.get('gemm_seconds'))}x; classifier training steps {_num(r.get('classifier_5_steps_seconds'))}x")]


def _bench_profile(d: dict) -> list[tuple[str, str, str]]:
    """Rows of profile_default_run.json: each hot function, native and capped to AVX2 without bf16."""
    return [(f"profile: {task}", str(d.get("data", "")),
             f"{_num(r.get('native'))} s native, {_num(r.get('avx2_no_bf16'))} s as AVX2/no bf16 "
             f"(x{_num(r.get('ratio_avx2_over_native'))})")
            for task, r in (d.get("tasks") or {}).items()]


def _bench_scoring(d: dict) -> list[tuple[str, str, str]]:
    """Rows of bench_scoring.json: the masks of every share from one sort per clip, against one sort per share."""
    if "ratio_per_share_over_once" not in d:
        return []
    rows = [("notebook 08 scoring: binarising at 6 shares, a sort per share / ranks once (time ratio)",
             str(d.get("data", "")),
             f"{_num(d['sort_per_share_seconds'])} s / {_num(d['ranks_once_seconds'])} s = "
             f"{_num(d['ratio_per_share_over_once'])}x (identical masks)")]
    if d.get("score_explanation_clean_random_seconds") is not None:
        rows.append(("notebook 08: score_explanation of one explainer, clean condition with curves",
                     "esc10 test fold (80 clips), cpu preset f", f"{_num(d['score_explanation_clean_random_seconds'])} s"))
    return rows


def _bench_inference_batch(d: dict) -> list[tuple[str, str, str]]:
    """Rows of bench_inference_batch.json: eval-mode passes at 32 clips against 4, one row per setting."""
    by_setting: dict[str, list[str]] = {}
    same: dict[str, bool] = {}
    for key, v in (d.get("speedup_over_reference") or {}).items():
        setting, task = key.split("/", 1)
        by_setting.setdefault(setting, []).append(f"{task} {_num(v['at_4'])}x")
        same[setting] = same.get(setting, True) and bool(v["identical_at_4"])
    return [(f"inference passes, 32 clips / 4 clips per pass (time ratio, {setting.replace('_', ' ')})",
             str(d.get("data", "")),
             ", ".join(parts) + ("; outputs identical" if same[setting] else "; outputs differ"))
            for setting, parts in by_setting.items()]


def _bench_chunked_gradients(d: dict) -> list[tuple[str, str, str]]:
    """Rows of bench_chunked_gradients.json: gradients through a frozen f, whole passes against chunks of 4."""
    rows = []
    for setting, run in (d.get("runs") or {}).items():
        tasks = run.get("tasks") or {}
        parts = [f"{name} {_num(t['seconds']['None'])} / {_num(t['seconds']['4'])} s = {_num(t['speedup'])}x"
                 for name, t in tasks.items()]
        same = all(t.get("max_abs_diff") == 0.0 for t in tasks.values())
        rows.append((f"gradients through frozen f, whole pass / {d.get('chunk', 4)} rows per pass "
                     f"({setting.replace('_', ' ')})", str(d.get("data", "")),
                     ", ".join(parts) + ("; results identical" if same else "; results differ")))
    return rows


def _bench_parallel_runs(d: dict) -> list[tuple[str, str, str]]:
    """Rows of bench_parallel_runs.json: two runs one after the other on every thread, or side by side."""
    tasks = d.get("tasks") or {}
    if not tasks:
        return []
    parts = [f"{name} x{_num(t['speedup'])}" for name, t in tasks.items()]
    return [(f"two runs side by side ({d.get('threads_parallel')} thread each) / one after the other "
             f"({d.get('threads_sequential')} threads): time ratio", str(d.get("data", "")), ", ".join(parts))]


def _bench_run(d: dict) -> list[tuple[str, str, str]]:
    """Rows of run_*.json: a whole run of one dataset (capped to AVX2 without bf16, or native on another
    machine; benchmarks/record_run.py), beside the committed one."""
    if "minutes" not in d:
        return []
    m = d.get("machine") or {}
    kind = (f"{m.get('cpu', 'CPU')}, {m.get('cpu_capability', '?')}, bf16 {'on' if m.get('bf16_autocast') else 'off'}"
            f"{', ISA capped' if m.get('isa_caps') else ''}")
    ref = d.get("committed") or {}
    secs = d.get("notebook_seconds") or {}
    text = (f"{_num(d['minutes'])} min vs {_num(ref.get('minutes'))} min committed (notebook 02: "
            f"{_num(secs.get('02_train_classifier.ipynb'))} s, 08: {_num(secs.get('08_compare_explainers.ipynb'))} s")
    if d.get("notebook_08_without_lmac_training_seconds") is not None:
        text += f", 08 without training L-MAC: {_num(d['notebook_08_without_lmac_training_seconds'])} s"
    if d.get("notebook_08_with_explainers_trained_seconds") is not None:
        text += f", 08 rerun with the explainers trained: {_num(d['notebook_08_with_explainers_trained_seconds'])} s"
    agree = ref.get("agreement")
    if agree:
        text += f"; {agree['identical']} of {agree['shared']} results as committed"
    return [(f"whole run, notebook minutes ({kind})", str(d.get("data", "")), text + ")")]


def _bench_curves(d: dict) -> list[tuple[str, str, str]]:
    """Rows of validation_curves.json: where each trained model's validation curve peaked, and what early
    stopping (the file's longest patience) would have saved and whether it keeps the same checkpoint."""
    rows = []
    patience = max(d.get("patience") or [10])
    for run, models in (d.get("runs") or {}).items():
        for name, s in models.items():
            p = s.get(f"patience_{patience}") or {}
            rows.append((f"validation curve: {run} {name}", f"{run}, validation split ({s.get('score')})",
                         f"best at epoch {s.get('best_epoch')} of {s.get('epochs')} ({_num(s.get('best'))}); "
                         f"patience {patience} stops after {p.get('stops_after_epoch')}, "
                         f"{'same' if p.get('same_checkpoint') else 'another'} checkpoint, "
                         f"{_num(p.get('seconds_saved'))} s of {_num(s.get('seconds'))} s saved"))
    return rows


def _bench_quick_agreement(d: dict) -> list[tuple[str, str, str]]:
    """Rows of quick_run_agreement_*.json: two quick runs (before and after a change), results compared."""
    return [(f"l2i reproduce --quick before / after a change: results identical (rtol {_num(r.get('rtol'))})",
             f"{ds}, cpu preset, quick run (every notebook 00-08 on tiny data)",
             f"{r.get('identical')} of {r.get('shared')} numbers identical")
            for ds, r in (d.get("datasets") or {}).items()]


def _bench_model_costs(d: dict) -> list[tuple[str, str, str]]:
    """Rows of model_costs.json: each network's forward and forward + backward per 5 s clip, and the ratios."""
    m, r = d.get("models") or {}, d.get("ratio_to_efficientat") or {}
    cpu = (d.get("machine") or {}).get("cpu", "CPU")
    out = []
    for name, v in m.items():
        fwd, fb = v.get("forward_ms_per_clip"), v.get("forward_backward_ms_per_clip")
        ratio = r.get(name) or {}
        rtxt = "" if name == "efficientat" or not ratio else (
            " (" + " / ".join(f"{_num(x)}x" for x in (ratio.get("forward"), ratio.get("forward_backward")) if x) +
            " EfficientAT's)")
        ours = " / ".join(f"{_num(x)} ms" for x in (fwd, fb) if x is not None)
        out.append((f"{name}: ms per 5 s clip, forward / forward + backward (median, batch "
                    f"{(d.get('settings') or {}).get('batch', '?')})",
                    f"precomputed features, float32, {cpu}, {(d.get('machine') or {}).get('torch_threads', '?')} threads",
                    ours + rtxt))
    return out


def _bench_sonyc_scale(d: dict) -> list[tuple[str, str, str]]:
    """Rows of sonyc_scale.json: per run (clips, budget) each notebook's peak resident memory and time,
    and the ratio of the largest default-budget run to the smallest."""
    out = []
    for r in d.get("runs") or []:
        nbs = r.get("notebooks") or []
        cells = ", ".join(f"{n['notebook'][:2]} {_num(n.get('peak_rss_mb', 0) / 1024)} GB / {_num(n.get('seconds'))} s"
                          + ("" if n.get("ok") else " FAILED") for n in nbs)
        sizes = r.get("split_sizes") or {}
        span = f"{nbs[0]['notebook'][:2]}-{nbs[-1]['notebook'][:2]}" if nbs else "none"
        out.append((f"SONYC-layout tree, {r.get('clips')} clips, budget {_num(r.get('memory_gb'))} GB: peak RSS / time of "
                    f"notebooks {span} (epochs 1)",
                    f"synthetic scenes from real ESC clips ({'/'.join(str(v) for v in sizes.values())} train/validate/test), "
                    f"{d.get('preset', 'cpu')} preset, {(d.get('machine') or {}).get('cpu', 'CPU')}",
                    cells + (f"; cache on disk: {'yes' if r.get('cache_on_disk') else 'no'}, dictionary {r.get('dictionary_mode')}")))
    ratios = d.get("peak_ratio_largest_vs_smallest") or {}
    if ratios:
        out.append(("SONYC-layout trees: peak RSS of the largest run over the smallest (target <= 1.25)",
                    "the default budget", ", ".join(f"{k[:2]} {_num(v)}" for k, v in ratios.items())))
    return out


def _bench_sonyc_estimate(d: dict) -> list[tuple[str, str, str]]:
    """Rows of sonyc_full_run_estimate.json: the calculated hours of the full SONYC-UST run."""
    full = d.get("full_clips") or {}
    return [("full SONYC-UST v2 run, every notebook (a calculation, not a run)",
             f"{'/'.join(str(v) for v in full.values())} train/validate/test clips, epochs {d.get('epochs')}",
             f"{_num(d.get('cpu_hours'))} h on the 2-core CPU, {_num(d.get('gpu_hours'))} h with one GPU "
             f"(measured GPU speed-ups {d.get('gpu_speedups_measured')}"
             + (f"; {d['explainer_seeds']} explainer seeds" if d.get("explainer_seeds") else "")
             + (f"; {_num(d['lmac_upper_bound']['cpu_hours'])} h on the CPU at L-MAC's SONYC-layout epoch cost"
                if d.get("lmac_upper_bound") else "") + ")")]


def _bench_notebook08_costs(d: dict) -> list[tuple[str, str, str]]:
    """Rows of notebook08_costs_*.json: notebook 08 at the full protocol, its time per part."""
    truth = d.get("model_truth_s") or {}
    return [(f"notebook 08 at the full protocol (3 seeds, sanity check, ground truth about f), {d.get('dataset')}",
             f"{d.get('dataset')}, {d.get('preset')} preset, test split",
             f"{_num(d.get('notebook_08_s'))} s in all: other seeds' training {_num(d.get('other_seeds_training_s'))} s, "
             f"scoring {_num(d.get('scoring_s'))} s, sanity check {_num(d.get('sanity_wall_s'))} s, ground truth "
             + ", ".join(f"{k} {_num(v)} s" for k, v in truth.items()))]


_BENCHMARKS = (("sonyc_scale", _bench_sonyc_scale), ("sonyc_full_run_estimate", _bench_sonyc_estimate), ("notebook08_costs_*", _bench_notebook08_costs),
               ("model_costs", _bench_model_costs), ("quick_run_agreement_*", _bench_quick_agreement), ("cpu_capability", _bench_cpu_capability), ("validation_curves", _bench_curves), ("run_*", _bench_run), ("bench_scoring", _bench_scoring), ("bench_inference_batch", _bench_inference_batch),
               ("bench_chunked_gradients", _bench_chunked_gradients), ("bench_parallel_runs", _bench_parallel_runs), ("profile_*", _bench_profile),
               ("distributed_*", _bench_distributed), ("bench_classifier_*", _bench_classifier), ("bench_interpreter_*", _bench_interpreter),
               ("bench_nmf_*", _bench_nmf), ("bench_explain_*", _bench_explain), ("interpreter_*", _bench_interpreter_run),
               ("paper_preset_*", _bench_interpreter_run), ("*_sweep", _bench_sweep))


def benchmark_rows(results_dir: str | Path = "benchmarks/results") -> list[dict]:
    """One row per measurement of every ``benchmarks/results/*.json``: ``what``, ``data``, ``ours``, ``file``.

    A file no summariser knows (or whose layout its summariser does not read) still gets one row
    that names it.
    """
    rows = []
    for path in sorted(Path(results_dir).glob("*.json")):
        data = _read_json(path)
        fn = next((f for pattern, f in _BENCHMARKS if path.match(pattern + ".json")), None)
        found = (fn(data) if fn and data else []) or [("(no summary: read the file)", "", "")]
        rows += [{"what": w, "data": d, "ours": o, "file": path.name} for w, d, o in found]
    return rows


def benchmarks_markdown(results_dir: str | Path = "benchmarks/results") -> str:
    """The README's "Measured so far" table, every row naming the JSON file it comes from."""
    lines = ["| what | data | measured | file |", "|---|---|---|---|"]
    lines += [f"| {r['what']} | {r['data']} | {r['ours']} | `benchmarks/results/{r['file']}` |"
              for r in benchmark_rows(results_dir)]
    return "\n".join(lines)


def _replace_block(text: str, start: str, end: str, body: str, where: Path) -> str:
    if start not in text or end not in text:
        raise ValueError(f"{where}: no generated-table markers; add {start!r} and {end!r}")
    head, rest = text.split(start, 1)
    return head + start + "\n" + body + "\n" + end + rest.split(end, 1)[1]


def write_readme(readme: str | Path = "README.md", reports_dir: str | Path = "reports",
                 benchmarks_dir: str | Path = "benchmarks/results") -> bool:
    """Regenerate the README's results and "Measured so far" tables; True when the file changed."""
    readme = Path(readme)
    text = readme.read_text()
    new = _replace_block(text, README_START, README_END, readme_markdown(reports_dir), readme)
    new = _replace_block(new, BENCHMARKS_START, BENCHMARKS_END, benchmarks_markdown(benchmarks_dir), readme)
    readme.write_text(new)
    return new != text
