"""The paper's evaluation protocols, run with an :class:`~l2i_core.explain.L2IExplainer`.

The formulas live in :mod:`l2i_core.metrics` (pure functions, tested on constructed cases); this
module builds the modified inputs they score:

* :func:`faithfulness` — remove the relevant components (r > τ, all of them) from V, classify again,
  the drop of f's logit / probability per τ, beside the same number of *random* components drawn
  from all K or only from the components active in the clip (the fairer baseline);
* :func:`mask_in` — classify the interpretation alone (AI, AD, AG, Fid-In);
* :func:`deletion_insertion` — remove (or add) components in order of relevance, f's probability
  after each step, against a random order;
* :func:`mixture_scores` — on mixtures ``x1 + λ x2`` whose stems are known, score the
  interpretation of x1's class against the true stem (SI-SDR, its improvement over the mixture,
  energy inside the stem's time-frequency support, cosine gap), beside random components, gradient
  baselines (:func:`l2i_core.explain.gradients.gradient_interpretation`) at the same sparsity, and the
  oracle ideal ratio mask;
* :func:`mixture_pairs` and :func:`noise_robustness` — the pairs and the 0 dB white-noise study;
* :func:`noise_study`, :func:`mixture_study`, :func:`scene_study` — notebook 06's three experiments,
  each one call returning a typed result with its tables and its ``results.json`` section;
  :func:`beats_random` — the pairwise share of mixtures where a method beats random components.

Every protocol reads f through the explainer's one :class:`~l2i_core.explain.interface.AudioModel`
(``explainer.model``: logits of spectrograms, probabilities, the rows of a target) and the
interpretations as :class:`~l2i_core.explain.interface.Explanation` rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from l2i_core import metrics
from l2i_core._errors import ParameterError
from l2i_core._utils import batch_starts
from l2i_core.audio.masks import mask_to_audio, selection_mask
from l2i_core.data.corrupt import add_white_noise, gain_for_snr, mix
from l2i_core.explain.gradients import gradient_interpretation
from l2i_core.explain.l2i import Analysis, L2IExplainer, default_tau, select_components
from l2i_core.paper import PAPER_TAUS  # re-exported: the τ values of the paper's faithfulness table

__all__ = ["faithfulness", "summarize_faithfulness", "mask_in", "deletion_insertion", "mixture_pairs", "PAPER_PAIRS", "mixture_scores", "summarize_mixtures", "noise_robustness", "active_components", "fidelity", "split_fidelity", "clip_passes", "analysis_bytes_per_clip", "ANALYSIS_MEMORY_SHARE", "FaithfulnessStudy", "faithfulness_study", "scene_scores", "beats_random", "faithfulness_record", "mask_in_table", "NoiseStudy", "noise_study", "noise_examples", "MixtureStudy", "mixture_study", "mixture_examples", "SceneStudy", "scene_study"]

#: The paper's kinds of mixtures (x1's class first), used where both classes exist.
PAPER_PAIRS = (("crying_baby", "dog"), ("dog", "crying_baby"), ("church_bells", "rooster"), ("dog", "cat"))


def active_components(H: torch.Tensor, rel_threshold: float = 1e-3) -> torch.Tensor:
    """``(B, K)`` boolean: components whose peak activation exceeds ``rel_threshold`` × the clip's peak."""
    peak = H.amax(dim=-1)
    return peak > rel_threshold * peak.amax(dim=-1, keepdim=True).clamp_min(1e-12)


def _random_selection(count: np.ndarray, pool: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """For each row, ``count[i]`` components drawn without replacement from ``pool[i]`` (bool)."""
    out = torch.zeros_like(pool)
    for i, (n, row) in enumerate(zip(count, pool.cpu().numpy())):
        cand = np.flatnonzero(row)
        if len(cand) == 0 or n == 0:
            continue
        out[i, rng.choice(cand, size=min(int(n), len(cand)), replace=False)] = True
    return out


@torch.no_grad()
def faithfulness(explainer: L2IExplainer, x, *, taus: Sequence[float] = PAPER_TAUS, target=None,
                 via_audio: bool = True, seed: int = 0, analysis=None, uids: Sequence[str] | None = None) -> pd.DataFrame:
    """Faithfulness (FF) per clip and τ: f's drop when the relevant components are removed.

    For each τ all components with r > τ are removed: ``V₂ = (1 − Σ_k M_k) ⊙ V``; with
    ``via_audio`` V₂ is resynthesised with the input phase and re-analysed (as the paper), otherwise
    the log-mel is computed from V₂ directly. FF = f(x)_c − f(x₂)_c (logit; the probability drop too).
    Two baselines remove as many random components: drawn from all K (as the paper), and drawn only
    from the components active in the clip (harder: a third of the atoms are silent in a clip).

    Returns
    -------
    pandas.DataFrame
        One row per (clip, class, τ): ``n_components``, ``logit_drop``, ``prob_drop``,
        ``random_logit_drop``, ``random_prob_drop``, ``random_active_logit_drop``,
        ``random_active_prob_drop``, ``f_correct`` (when labels are unknown: NaN).
    """
    a = analysis if analysis is not None else explainer.analyse(x)
    clip, cls, r, active = _faithfulness_inputs(explainer, a, target)
    if not len(clip):
        raise ParameterError("no (clip, class) to interpret: f predicts no class for these clips")
    draws = _draw_selections(r, active, taus, np.random.default_rng(seed))
    return _faithfulness_rows(explainer, a, clip, cls, draws, taus, via_audio=via_audio, uids=uids)


def _faithfulness_inputs(explainer: L2IExplainer, a, target=None):
    """The (clip, class) rows of FF, their relevance ``(rows, K)`` and the components active in their clip."""
    clip, cls = explainer.model.rows(a.f_logits, target)
    clips = torch.as_tensor(clip, device=explainer.device)
    return clip, cls, explainer.relevance(a.z[clips], cls), active_components(a.H[clips])


def _draw_selections(r: torch.Tensor, active: torch.Tensor, taus, rng: np.random.Generator) -> list[dict]:
    """Per τ, the components removed from each row: the relevant ones and as many random ones (from all K,
    from the active ones), drawn τ after τ, row after row, from ``rng``."""
    everything = torch.ones_like(active)
    out = []
    for tau in taus:
        sel = r > float(tau)
        count = sel.sum(1).cpu().numpy()
        out.append({"": sel, "random_": _random_selection(count, everything, rng),
                    "random_active_": _random_selection(count, active, rng), "count": count})
    return out


def _faithfulness_rows(explainer: L2IExplainer, a, clip, cls, draws: list[dict], taus, *, via_audio: bool = True,
                       uids=None, first: int = 0) -> pd.DataFrame:
    """:func:`faithfulness`'s rows for the clips of analysis ``a``, removing the selections ``draws``
    (:func:`_draw_selections`, one entry per τ, its rows those of ``clip``); clips counted from ``first``."""
    m = explainer.model
    clips = torch.as_tensor(clip, device=explainer.device)
    H, V, ph = a.H[clips], a.V[clips], a.phase[clips]
    before = a.f_logits[clips].cpu()
    length = a.x.shape[-1]
    rows = []
    for tau, draw in zip(taus, draws):
        drops = {}
        for name in ("", "random_", "random_active_"):
            V2 = (1 - selection_mask(explainer.W, H, draw[name], eps=explainer.eps)) * V
            after = m.logits_of(V2, ph if via_audio or not m.fe.shared_stft else None, length=length).cpu()
            drops[f"{name}logit_drop"] = metrics.logit_drop(before, after, cls)
            drops[f"{name}prob_drop"] = metrics.probability_drop(before, after, cls, multilabel=m.multilabel)
        for j, (i, c) in enumerate(zip(clip.tolist(), cls.tolist())):
            rows.append({"clip": first + i, "uid": uids[i] if uids is not None else first + i, "class": c,
                         "tau": float(tau), "n_components": int(draw["count"][j]),
                         **{k: float(v[j]) for k, v in drops.items()}})
    return pd.DataFrame(rows)


def summarize_faithfulness(df: pd.DataFrame) -> pd.DataFrame:
    """Median FF per τ with the random baselines, the ratio to them and the share of clips where
    L2I's removal hurts f more than random removal."""
    g = df.groupby("tau", sort=False)
    out = pd.DataFrame({
        "components (median)": g["n_components"].median(),
        "FF logit (median)": g["logit_drop"].median(),
        "random (median)": g["random_logit_drop"].median(),
        "random active (median)": g["random_active_logit_drop"].median(),
        "FF prob (median)": g["prob_drop"].median(),
        "random prob (median)": g["random_prob_drop"].median(),
        "beats random (%)": g.apply(lambda d: 100 * float((d["logit_drop"] > d["random_logit_drop"]).mean()),
                                    include_groups=False),
        "beats random active (%)": g.apply(
            lambda d: 100 * float((d["logit_drop"] > d["random_active_logit_drop"]).mean()), include_groups=False),
    })
    with np.errstate(divide="ignore", invalid="ignore"):
        out["× random"] = out["FF logit (median)"] / out["random (median)"].where(out["random (median)"] > 0)
        out["× random active"] = out["FF logit (median)"] / out["random active (median)"].where(
            out["random active (median)"] > 0)
    return out


def faithfulness_record(summary: pd.DataFrame) -> dict:
    """The ``ff`` part of notebook 05's results section: one dict per τ of :func:`summarize_faithfulness`."""
    cols = {"median_logit_drop": "FF logit (median)", "random": "random (median)",
            "random_active": "random active (median)", "beats_random_pct": "beats random (%)",
            "beats_random_active_pct": "beats random active (%)", "components_median": "components (median)",
            "median_prob_drop": "FF prob (median)"}
    return {str(t): {k: float(r[c]) for k, c in cols.items()} for t, r in summary.iterrows()}


def mask_in_table(mi: dict) -> pd.DataFrame:
    """:func:`mask_in`'s means as a one-row table (AI, AD, AG in %, Fid-In, median components)."""
    return pd.DataFrame({"ours": {"AI (%)": mi["AI"], "AD (%)": mi["AD"], "AG (%)": mi["AG"], "Fid-In": mi["fid_in"],
                                  "components (median)": float(np.median(mi["n_components"]))}}).T


@torch.no_grad()
def mask_in(explainer: L2IExplainer, x, *, tau: float | None = None, top_k: int | None = None,
            analysis=None) -> dict:
    """Classify the interpretation alone (its audio, re-analysed): AI, AD, AG and Fid-In.

    Multi-class only (the definitions use f's top class). Returns
    :func:`l2i_core.metrics.mask_in_metrics`'s dict plus ``n_components`` per clip.
    """
    p, q, n_components = _mask_in_probabilities(explainer, x, tau=tau, top_k=top_k, analysis=analysis)
    out = metrics.mask_in_metrics(p, q)
    out["n_components"] = n_components
    return out


def _mask_in_probabilities(explainer: L2IExplainer, x, *, tau: float | None = None, top_k: int | None = None,
                           analysis=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f's probabilities on the clips and on their interpretations alone, and the components kept per clip."""
    if explainer.multilabel:
        raise ParameterError("mask-in metrics (AI/AD/AG/Fid-In) are defined for multi-class classifiers")
    a = analysis if analysis is not None else explainer.analyse(x)
    tau = default_tau(False) if tau is None else float(tau)
    c = a.f_logits.argmax(1)
    r = explainer.relevance(a.z, c)
    kept = select_components(r, tau, top_k)
    sel = torch.zeros_like(r, dtype=torch.bool)
    for i, k in enumerate(kept):
        sel[i, torch.as_tensor(k, dtype=torch.long)] = True
    V_in = selection_mask(explainer.W, a.H, sel, eps=explainer.eps) * a.V
    m = explainer.model
    q = m.probabilities(m.logits_of(V_in, a.phase, length=a.x.shape[-1])).cpu().numpy()
    p = m.probabilities(a.f_logits).cpu().numpy()
    return p, q, np.array([len(k) for k in kept])


@torch.no_grad()
def deletion_insertion(explainer: L2IExplainer, x, *, target=None, max_steps: int = 20, seed: int = 0,
                       analysis=None) -> dict:
    """Deletion and insertion curves over components ranked by relevance, against a random order.

    Step j removes (deletion) or keeps only (insertion) the first j components of the order, for
    j = 0 … ``max_steps`` (at most K); f's probability of the target class is recorded (log-mel
    computed from the modified magnitude, no round trip). Areas use
    :func:`l2i_core.metrics.curve_area` (x normalised to [0, 1]): low deletion and high insertion
    areas mean the ranking finds what f relies on.

    Returns
    -------
    dict
        ``steps`` (array), ``deletion``, ``insertion``, ``random_deletion``, ``random_insertion``
        (each ``(n_pairs, n_steps)``), and the mean areas ``*_area``.
    """
    a = analysis if analysis is not None else explainer.analyse(x)
    m = explainer.model
    clip, cls = m.rows(a.f_logits, target)
    K = explainer.n_components
    J = min(int(max_steps), K)
    rng = np.random.default_rng(seed)
    curves = {k: [] for k in ("deletion", "insertion", "random_deletion", "random_insertion")}
    steps = torch.arange(J + 1, device=explainer.device)
    for i, c in zip(clip.tolist(), cls.tolist()):
        r = explainer.relevance(a.z[i : i + 1], [c])[0]
        orders = {"": torch.argsort(r, descending=True, stable=True),
                  "random_": torch.as_tensor(rng.permutation(K), device=explainer.device)}
        for prefix, order in orders.items():
            rank = torch.empty(K, dtype=torch.long, device=explainer.device)
            rank[order] = torch.arange(K, device=explainer.device)
            sel = rank.unsqueeze(0) < steps.unsqueeze(1)  # (J+1, K): first j components
            share = selection_mask(explainer.W, a.H[i].expand(J + 1, -1, -1), sel, eps=explainer.eps)
            V = a.V[i].expand(J + 1, -1, -1)
            ph = None if m.fe.shared_stft else a.phase[i].expand(J + 1, -1, -1)  # f's own STFT: via audio
            for kind, spec in (("deletion", (1 - share) * V), ("insertion", share * V)):
                p = m.probabilities(m.logits_of(spec, ph, length=a.x.shape[-1]))[:, c]
                curves[prefix + kind].append(p.cpu().numpy())
    out = {"steps": np.arange(J + 1)}
    for k, v in curves.items():
        out[k] = np.stack(v) if v else np.zeros((0, J + 1))
        out[f"{k}_area"] = float(np.mean(metrics.curve_area(out[k]))) if v else float("nan")
    return out


#: Share of the run's memory budget (:func:`~l2i_core._memory.memory_budget_gb`) that the clips analysed
#: together in notebooks 05 and 06 may take (:func:`clip_passes`).
ANALYSIS_MEMORY_SHARE = 0.25

#: Copies of a clip's analysis that a protocol holds at once (the analysis, the modified spectrograms of
#: every variant and every (clip, class) row, f's input built from them, the interpretation): the factor of
#: :func:`clip_passes`'s estimate. Measured on SONYC-layout trees (10 s, multi-label, ``cpu`` preset,
#: ``benchmarks/sonyc_scale.py``): notebook 05 held 10 to 16 times the analysis per clip above the kernel's
#: baseline, depending on how many classes f predicts per clip; 20 leaves room.
PROTOCOL_COPIES = 20


@torch.no_grad()
def analysis_bytes_per_clip(explainer: L2IExplainer, dataset) -> int:
    """Bytes of one clip's :class:`~l2i_core.explain.l2i.Analysis` (waveform, V, phase, H, logits, z),
    measured on the split's first clip (one forward pass)."""
    if not len(dataset):
        raise ParameterError("the split has no clips")
    a = explainer.analyse(dataset.load_batch([0], explainer.preset))
    return int(sum(t.numel() * t.element_size() for t in (a.x, a.V, a.phase, a.f_logits, a.H, a.theta_logits, a.z)))


def clip_passes(explainer: L2IExplainer, dataset, memory_gb=None, *, per_clip: int | None = None) -> list[range]:
    """The clips of ``dataset`` (a split) analysed together, within the memory budget.

    One pass over every clip when ``PROTOCOL_COPIES × analysis_bytes_per_clip × n_clips`` fits
    :data:`ANALYSIS_MEMORY_SHARE` of ``memory_gb`` (:func:`~l2i_core._memory.memory_budget_gb`: the
    parameter, else ``$L2I_MEMORY_GB``, else 4 GB), as for every dataset of the default run; otherwise
    consecutive ranges of as many clips as fit that share (at least one). SONYC-UST's 664 test clips of
    10 s take about 2.8 MB of analysis each at the ``cpu`` preset, so 4 GB analyse them 19 at a time.

    ``per_clip`` (bytes) skips the measurement (:func:`analysis_bytes_per_clip`).
    """
    from l2i_core._memory import memory_budget_gb

    n = len(dataset)
    per = PROTOCOL_COPIES * int(per_clip if per_clip is not None else analysis_bytes_per_clip(explainer, dataset))
    room = ANALYSIS_MEMORY_SHARE * memory_budget_gb(memory_gb) * 2**30
    step = n if per * n <= room else max(1, int(room // max(per, 1)))
    return [range(s, min(s + step, n)) for s in batch_starts(n, step)] if n else []


@dataclass
class FaithfulnessStudy:
    """Notebook 05's three protocols over a whole split: :func:`faithfulness`'s rows, :func:`mask_in`'s
    scores (None for multi-label data) and :func:`deletion_insertion`'s curves, with the passes used."""

    ff: pd.DataFrame
    mask_in: dict | None
    curves: dict
    passes: list

    @property
    def n_clips(self) -> int:
        return int(sum(len(p) for p in self.passes))


@torch.no_grad()
def faithfulness_study(explainer: L2IExplainer, dataset, *, taus: Sequence[float] = PAPER_TAUS, max_steps: int = 20,
                       seed: int = 0, passes: Sequence[range] | None = None,
                       uids: Sequence[str] | None = None) -> FaithfulnessStudy:
    """:func:`faithfulness`, :func:`mask_in` and :func:`deletion_insertion` on every clip of ``dataset``
    (a split), read and analysed once per pass of :func:`clip_passes` (default: one pass).

    Only rows, relevance, probabilities and curves are kept between passes, so memory follows the pass,
    not the split. The numbers are those of the three functions on all clips at once, whatever the passes:
    the random components of faithfulness's baselines are drawn once the relevance of every clip is known,
    in the order one call draws them, and the clips are analysed a second time to remove them (one pass
    keeps its analysis instead).
    """
    passes = list(passes) if passes is not None else [range(len(dataset))]
    uids = list(uids) if uids is not None else [r.uid for r in dataset]
    rng_curves = np.random.default_rng(seed)
    inputs, pq, curves, kept = [], [], [], None
    for part in passes:  # 1: relevance, mask-in and the curves, pass after pass
        a = explainer.analyse(dataset.load_batch(part, explainer.preset))
        inputs.append(_faithfulness_inputs(explainer, a))
        if not explainer.multilabel:
            pq.append(_mask_in_probabilities(explainer, None, analysis=a))
        curves.append(deletion_insertion(explainer, None, analysis=a, max_steps=max_steps, seed=rng_curves))
        kept = a if len(passes) == 1 else None
    # 2: the random selections of every row, drawn as one call on every clip draws them
    r = torch.cat([v[2] for v in inputs])
    active = torch.cat([v[3] for v in inputs])
    draws = _draw_selections(r, active, taus, np.random.default_rng(seed))
    ff, start = [], 0
    for part, (clip, cls, _, _) in zip(passes, inputs):  # 3: the removals (the analysis again past one pass)
        n = len(clip)
        if n:
            a = kept if kept is not None else explainer.analyse(dataset.load_batch(part, explainer.preset))
            mine = [{k: v[start:start + n] for k, v in d.items()} for d in draws]
            ff.append(_faithfulness_rows(explainer, a, clip, cls, mine, taus, uids=uids[part.start:part.stop],
                                         first=part.start))
        start += n
    if not ff:
        raise ParameterError("no (clip, class) to interpret: f predicts no class for these clips")
    mi = None
    if pq:
        p, q, k = (np.concatenate(v) for v in zip(*pq))
        mi = {**metrics.mask_in_metrics(p, q), "n_components": k}
    out = {"steps": curves[0]["steps"]}
    for k in ("deletion", "insertion", "random_deletion", "random_insertion"):
        out[k] = np.concatenate([c[k] for c in curves])
        out[f"{k}_area"] = float(np.mean(metrics.curve_area(out[k]))) if len(out[k]) else float("nan")
    return FaithfulnessStudy(ff=pd.concat(ff, ignore_index=True), mask_in=mi, curves=out, passes=passes)


def mixture_pairs(dataset, n_pairs: int = 100, *, split: str = "test", kinds: Sequence[tuple[str, str]] = (),
                  per_kind: int | None = 8, seed: int = 0) -> list[tuple[int, int]]:
    """Pairs of clip indices (into ``dataset.split(split)``) of two different classes.

    ``kinds`` first (pairs of clips of those two classes, e.g. :data:`PAPER_PAIRS`, at most
    ``per_kind`` of each drawn at random; none where a class is missing), then ``n_pairs`` more
    random pairs of clips of different classes.
    """
    sub = dataset.split(split)
    labels = [r.label for r in sub]
    rng = np.random.default_rng(seed)
    out: list[tuple[int, int]] = []
    for a_cls, b_cls in kinds:
        ia = [i for i, lab in enumerate(labels) if lab == a_cls]
        ib = [i for i, lab in enumerate(labels) if lab == b_cls]
        cand = [(i, j) for i in ia for j in ib]
        if per_kind is not None and len(cand) > per_kind:
            cand = [cand[k] for k in sorted(rng.choice(len(cand), per_kind, replace=False))]
        out += cand
    seen = set(out)
    n_random, tries = 0, 0
    while n_random < n_pairs and tries < 100 * max(n_pairs, 1):
        tries += 1
        i, j = (int(v) for v in rng.choice(len(sub), 2, replace=False))
        if labels[i] != labels[j] and (i, j) not in seen:
            seen.add((i, j))
            out.append((i, j))
            n_random += 1
    return out


def _scores(est_audio: np.ndarray, est_mag: np.ndarray, s1: np.ndarray, mix: np.ndarray, S1: np.ndarray,
            S2: np.ndarray) -> dict:
    return {"si_sdr": float(metrics.si_sdr(est_audio, s1)),
            "si_sdri": float(metrics.si_sdr_improvement(est_audio, mix, s1)),
            "energy_in_support": float(metrics.energy_in_support(est_mag, S1, S2)),
            "cosine_gap": float(metrics.cosine_gap(est_mag, S1, S2))}


def _reference_estimates(explainer: L2IExplainer, a, exp, S1: np.ndarray, S2: np.ndarray, Y: torch.Tensor,
                         rng: np.random.Generator) -> list[dict]:
    """Per row of the interpretations ``exp`` (one per clip of ``a``), the two references it is scored
    beside: as many random *active* components (the same soft masks, resynthesised the same way) and the
    oracle ideal ratio mask |S1|/(|S1|+|S2|) applied to the mixture's STFT ``Y``. Values are
    ``(audio, magnitude, n_components, mask_mean)``."""
    fe = explainer.fe
    length = a.x.shape[-1]
    sel = _random_selection(np.array([len(k) for k in exp.extras["components"]]), active_components(a.H), rng)
    share = selection_mask(explainer.W, a.H, sel, eps=explainer.eps)
    rand_spec = share * a.V
    rand_audio = mask_to_audio(share, a.V, a.phase, fe, length=length).cpu().numpy()
    irm = metrics.ideal_ratio_mask(S1, S2).astype(np.float32)
    irm_audio = fe.istft(Y * torch.from_numpy(irm).to(Y.device), length=length).cpu().numpy()
    Y_mag = np.abs(Y.cpu().numpy())
    return [{"random": (rand_audio[i], np.expm1(rand_spec[i].cpu().numpy()), int(sel[i].sum()), float(share[i].mean())),
             "oracle IRM": (irm_audio[i], irm[i] * Y_mag[i], 0, float(irm[i].mean()))} for i in range(len(exp))]


@torch.no_grad()
def mixture_scores(explainer: L2IExplainer, x1, x2, target1, *, lam: float = 1.0, tau: float | None = None,
                   top_k: int | None = None, baselines: Sequence[str] = (), seed: int = 0,
                   equal_rms: bool = True, pair_ids: Sequence | None = None) -> pd.DataFrame:
    """Ground-truth scores of interpretations of x1's class on mixtures ``x1 + λ x2``.

    Parameters
    ----------
    x1, x2 : arrays [shape=(B, n_samples)]
        Clips of different classes; x2 is first scaled to x1's RMS when ``equal_rms``.
    target1 : sequence of int
        x1's (true) class per pair: the class interpreted.
    lam : float
        Gain of the (scaled) x2.
    tau, top_k : relevance threshold and cap (defaults: 0.2, no cap)
    baselines : sequence of str
        Gradient baselines of :mod:`l2i_core.explain.gradients` to score at L2I's sparsity
        (``'saliency'``, ``'integrated_gradients'``, ``'smoothgrad'``).
    pair_ids : sequence or None
        Labels of the pairs in the ``pair`` column (default 0 … B−1).

    Returns
    -------
    pandas.DataFrame
        One row per (pair, method) with ``si_sdr``, ``si_sdri``, ``energy_in_support``,
        ``cosine_gap``, ``n_components``, ``mask_mean``, ``f_correct`` (f's top class on the mixture
        is x1's), and the mixture's own ``si_sdr`` as ``mixture_si_sdr``. Methods: ``L2I``,
        ``random`` (as many random active components), the baselines, ``oracle IRM``.
    """
    x1 = np.asarray(x1, dtype=np.float32)
    x2 = np.asarray(x2, dtype=np.float32)
    if x1.ndim == 1:
        x1, x2 = x1[None], x2[None]
    t1 = np.asarray(target1, dtype=np.int64).reshape(-1)
    if len(t1) != len(x1) or x1.shape != x2.shape:
        raise ParameterError(f"x1 {x1.shape}, x2 {x2.shape} and target1 ({len(t1)}) must describe the same pairs")
    g = (gain_for_snr(x1, x2, 0.0) if equal_rms else np.ones(len(x1))) * float(lam)
    s2 = (np.asarray(g, dtype=np.float32).reshape(-1, 1) * x2).astype(np.float32)
    y = mix(x1, s2, 1.0).astype(np.float32)
    a = explainer.analyse(y)
    exp = explainer.attribute(y, t1, tau=tau, top_k=top_k, analysis=a)  # one row per pair
    fe = explainer.fe
    S1 = fe.stft(torch.from_numpy(x1)).abs().cpu().numpy()
    S2 = fe.stft(torch.from_numpy(s2)).abs().cpu().numpy()
    Y = fe.stft(torch.from_numpy(y))
    f_top = a.f_logits.argmax(1).cpu().numpy()
    refs = _reference_estimates(explainer, a, exp, S1, S2, Y, np.random.default_rng(seed))
    sparsity = [float(exp.mask[i].mean()) for i in range(len(exp))]  # each clip's share kept
    grads = {}
    if baselines:
        keep = np.array([max(s, 1e-4) for s in sparsity])
        for m in baselines:
            gi = gradient_interpretation(explainer.classifier, y, t1, method=m, keep_fraction=keep,
                                         preset=explainer.preset, device=str(explainer.device))
            grads[m] = (gi, gi.spectrogram)
    spec, comps = exp.spectrogram, exp.extras["components"]
    rows = []
    for i in range(len(exp)):
        common = {"pair": pair_ids[i] if pair_ids is not None else i, "target": int(t1[i]), "f_correct": bool(f_top[i] == t1[i]),
                  "mixture_si_sdr": float(metrics.si_sdr(y[i], x1[i])), "lam": float(lam)}
        ests = {"L2I": (exp.audio[i], np.expm1(spec[i]), len(comps[i]), sparsity[i]), **refs[i]}
        for m, (gi, gspec) in grads.items():
            ests[m] = (gi.audio[i], np.expm1(gspec[i]), 0, float(gi.mask[i].mean()))
        for m, (audio, mag, n, mm) in ests.items():
            rows.append({**common, "method": m, **_scores(audio, mag, x1[i], y[i], S1[i], S2[i]),
                         "n_components": n, "mask_mean": mm})
    return pd.DataFrame(rows)


def summarize_mixtures(df: pd.DataFrame, *, by: Sequence[str] = ("method",)) -> pd.DataFrame:
    """Median SI-SDR / SI-SDRi, mean energy share and cosine gap, and how often each method beats
    random components on SI-SDR and on the energy share (pairwise, same mixture)."""
    g = df.groupby(list(by), sort=False)
    out = pd.DataFrame({"pairs": g.size(), "SI-SDR (median, dB)": g["si_sdr"].median(),
                        "SI-SDRi (median, dB)": g["si_sdri"].median(),
                        "energy in stem support (mean)": g["energy_in_support"].mean(),
                        "cosine gap (mean)": g["cosine_gap"].mean()})
    keys = _match_keys(df) + [b for b in by if b != "method" and b not in _match_keys(df)]
    rand = df[df["method"] == "random"]
    wins_sdr, wins_sup = {}, {}
    for key, d in g:
        key = key[0] if isinstance(key, tuple) and len(key) == 1 else key
        wins_sdr[key] = _wins(d, rand, "si_sdr", keys)
        wins_sup[key] = _wins(d, rand, "energy_in_support", keys)
    out["beats random on SI-SDR (%)"] = pd.Series(wins_sdr)
    out["beats random on stem energy (%)"] = pd.Series(wins_sup)
    return out


def _match_keys(df: pd.DataFrame) -> list[str]:
    """Columns that identify one mixture (and one interpreted class of it)."""
    return [c for c in ("pair", "lam", "class") if c in df.columns]


def _wins(rows: pd.DataFrame, rand: pd.DataFrame, column: str, keys: list[str]) -> float:
    """Share (%) of ``rows`` whose ``column`` is strictly above that of the random row of the same mixture."""
    mine = rows.set_index(keys)
    return 100 * float((mine[column] > rand.set_index(keys)[column].reindex(mine.index)).mean())


def beats_random(df: pd.DataFrame, *, method: str = "L2I", column: str = "si_sdr") -> float:
    """Share (in %) of ``method``'s mixtures where it scores strictly higher on ``column`` than as many
    random components on the same mixture (matched on ``pair``, ``lam`` and ``class`` where present).

    A mixture with no random row counts as not beaten; the random method never beats itself.
    """
    return _wins(df[df["method"] == method], df[df["method"] == "random"], column, _match_keys(df))


@torch.no_grad()
def noise_robustness(explainer: L2IExplainer, x, *, snr_db: float = 0.0, tau: float | None = None,
                     top_k: int | None = None, seed: int = 0) -> pd.DataFrame:
    """White noise at ``snr_db``: does Θ still agree with f, and how much does the interpretation change?

    Returns one row per clip: f's and Θ's top class on clean and noisy input, the Jaccard overlap
    of the kept components (clean vs noisy, interpreting f's clean class in both), the cosine
    similarity of the relevance vectors and of the interpretation magnitudes.
    """
    x = np.asarray(x, dtype=np.float32)
    noisy = add_white_noise(x, snr_db, seed=seed).astype(np.float32)
    return _robustness_rows(explainer, x, noisy, explainer.analyse(x), explainer.analyse(noisy), tau=tau, top_k=top_k)


def _robustness_rows(explainer: L2IExplainer, x: np.ndarray, noisy: np.ndarray, a_clean, a_noisy, *,
                     tau: float | None = None, top_k: int | None = None, first: int = 0) -> pd.DataFrame:
    """:func:`noise_robustness`'s rows from the analyses of the clean and noisy clips (``clip`` counted from ``first``)."""
    c = a_clean.f_logits.argmax(1).cpu().numpy()
    clean = explainer.attribute(x, c, tau=tau, top_k=top_k, analysis=a_clean, with_audio=False)
    dirty = explainer.attribute(noisy, c, tau=tau, top_k=top_k, analysis=a_noisy, with_audio=False)
    spec_u, spec_v = clean.spectrogram, dirty.spectrogram
    rows = []
    for i in range(len(clean)):
        su, sv = set(clean.extras["components"][i].tolist()), set(dirty.extras["components"][i].tolist())
        ru, rv = clean.extras["relevance"][i], dirty.extras["relevance"][i]
        rows.append({
            "clip": first + i, "class": int(c[i]),
            "f_clean": int(c[i]), "f_noisy": int(a_noisy.f_logits[i].argmax()),
            "theta_clean": int(a_clean.theta_logits[i].argmax()), "theta_noisy": int(a_noisy.theta_logits[i].argmax()),
            "jaccard": len(su & sv) / max(1, len(su | sv)),
            "relevance_cosine": float(metrics.cosine_similarity(ru.clip(0), rv.clip(0))),
            "interpretation_cosine": float(metrics.cosine_similarity(np.expm1(spec_u[i]), np.expm1(spec_v[i]))),
        })
    return pd.DataFrame(rows)


@torch.no_grad()
def fidelity(explainer: L2IExplainer, x, *, analysis=None, classes: Sequence[str] | None = None) -> dict:
    """Θ's agreement with f on clips ``x``: top-1/3/5 fidelity (multi-class, in %) or the paper's
    multi-label scores (macro/micro AUPRC, max-F1 against f's thresholded decisions, sklearn AP)."""
    a = analysis if analysis is not None else explainer.analyse(x)
    return _fidelity_scores(explainer, a.theta_logits.cpu().numpy(), a.f_logits.cpu().numpy(), classes)


def _fidelity_scores(explainer: L2IExplainer, theta_logits: np.ndarray, f_logits: np.ndarray, classes) -> dict:
    """The paper's fidelity of Θ's logits against f's, with the explainer's task and f's thresholds."""
    return metrics.paper_fidelity(theta_logits, f_logits, multilabel=explainer.multilabel,
                                  f_thresholds=explainer.f_thresholds, classes=classes or explainer.classes)


@torch.no_grad()
def split_fidelity(explainer: L2IExplainer, dataset, *, classes: Sequence[str] | None = None,
                   clips_per_pass: int | None = None) -> tuple[dict, np.ndarray, np.ndarray]:
    """:func:`fidelity` over every clip of ``dataset`` (a split), read ``clips_per_pass`` clips at a time.

    Only the logits are kept, so memory does not grow with the split (SONYC-UST's test split is 664
    clips of 10 s). The default pass is 2 of the explainer's batches (8 clips; a 10 s clip costs about
    13 MB of analysis at the ``cpu`` preset), and :meth:`L2IExplainer.analyse
    <l2i_core.explain.l2i.L2IExplainer.analyse>` runs those batches as it would on all clips at once:
    the numbers are those of ``fidelity(explainer, dataset.load_batch(None, ...))``.

    Returns
    -------
    scores : dict
        As :func:`fidelity`.
    theta_logits, f_logits : np.ndarray [shape=(n_clips, n_classes)]
    """
    step = int(clips_per_pass or 2 * explainer.model.batch_size)
    theta, f = [], []
    for s in batch_starts(len(dataset), step):
        a = explainer.analyse(dataset.load_batch(range(s, min(s + step, len(dataset))), explainer.preset))
        theta.append(a.theta_logits.float().cpu().numpy())
        f.append(a.f_logits.float().cpu().numpy())
    theta_logits, f_logits = np.concatenate(theta), np.concatenate(f)
    return _fidelity_scores(explainer, theta_logits, f_logits, classes), theta_logits, f_logits


@torch.no_grad()
def scene_scores(explainer: L2IExplainer, dataset, *, split: str = "test", tau: float | None = None,
                 top_k: int | None = None, seed: int = 0, max_scenes: int | None = None) -> pd.DataFrame:
    """Ground truth on scenes with known stems (urbanmix): for every labelled class of every scene,
    the interpretation of that class scored against its stem (interference: the rest of the scene).

    The scene is rebuilt as the exact sum of its stems and peak-normalised like the classifier's
    input (the stems get the same gain). Rows: one per (scene, class, method) with the columns of
    :func:`mixture_scores` plus ``class`` and ``f_predicts`` (f's thresholded decision).
    """
    sub = dataset.split(split)
    if max_scenes is not None:
        sub = sub.subset(range(min(max_scenes, len(sub))))
    rng = np.random.default_rng(seed)
    fe = explainer.fe
    rows = []
    for n, rec in enumerate(sub):
        if not rec.labels:
            continue
        stems = sub.load_stems(rec, explainer.preset)
        scene = np.sum(list(stems.values()), axis=0)
        g = 1.0 / max(float(np.abs(scene).max()), 1e-8)
        scene = (scene * g).astype(np.float32)
        targets = [dataset.class_index(c) for c in rec.labels]
        a = explainer.analyse(scene)
        decisions = (metrics.classifier_decisions(a.f_logits.float().cpu().numpy(), explainer.f_thresholds)[0]
                     if explainer.multilabel else None)
        a_rep = _repeat(a, len(targets))
        exp = explainer.attribute(None, targets, tau=tau, top_k=top_k, analysis=a_rep)  # one row per class
        s1 = np.stack([stems[c] * g for c in rec.labels]).astype(np.float32)  # one target stem per class
        s2 = scene[None] - s1
        S1 = fe.stft(torch.from_numpy(s1)).abs().cpu().numpy()
        S2 = fe.stft(torch.from_numpy(s2)).abs().cpu().numpy()
        Y = fe.stft(torch.from_numpy(scene)).expand(len(targets), -1, -1)
        refs = _reference_estimates(explainer, a_rep, exp, S1, S2, Y, rng)
        spec, comps = exp.spectrogram, exp.extras["components"]
        for j, (c, t) in enumerate(zip(rec.labels, targets)):
            common = {"scene": rec.uid, "class": c, "target": t,
                      "f_predicts": bool(decisions[t]) if decisions is not None else bool(a.f_logits.argmax() == t),
                      "mixture_si_sdr": float(metrics.si_sdr(scene, s1[j])), "pair": n, "lam": 1.0}
            ests = {"L2I": (exp.audio[j], np.expm1(spec[j]), len(comps[j]), float(exp.mask[j].mean())), **refs[j]}
            for m, (audio, mag, k, mm) in ests.items():
                rows.append({**common, "method": m, **_scores(audio, mag, s1[j], scene, S1[j], S2[j]),
                             "n_components": k, "mask_mean": mm})
    return pd.DataFrame(rows)


def _repeat(a, n: int):
    """An :class:`~l2i_core.explain.l2i.Analysis` of one clip repeated ``n`` times (no recomputation)."""
    return Analysis(*[t.expand(n, *t.shape[1:]) for t in (a.x, a.V, a.phase, a.f_logits, a.H, a.theta_logits, a.z)])


# -- notebook 06's experiments, one call each --------------------------------------------------------
def _as_list(values, cast) -> list:
    """A comma-separated string (a notebook parameter) or a sequence, as a list of ``cast`` values."""
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    return [cast(v.strip() if isinstance(v, str) else v) for v in values]


@dataclass
class NoiseStudy:
    """White noise at ``snr_db``: Θ's fidelity to f on clean and noisy clips and :func:`noise_robustness`'s rows."""

    snr_db: float
    metric: str
    fidelity_clean: float
    fidelity_noisy: float
    rows: pd.DataFrame
    x: np.ndarray  # the first clips only (those :func:`noise_examples` plays)
    noisy: np.ndarray

    def record(self) -> dict:
        """The ``noise`` part of notebook 06's results section."""
        r = self.rows
        return {"fidelity_clean": self.fidelity_clean, "fidelity_noisy": self.fidelity_noisy,
                "fidelity_metric": self.metric, "f_keeps_its_class_pct": 100 * float((r.f_clean == r.f_noisy).mean()),
                "jaccard_of_kept_components_mean": float(r.jaccard.mean()),
                "relevance_cosine_mean": float(r.relevance_cosine.mean()),
                "interpretation_cosine_mean": float(r.interpretation_cosine.mean()), "snr_db": self.snr_db}

    def table(self, name: str = "") -> pd.DataFrame:
        """:meth:`record` as a one-column table."""
        return pd.Series(self.record()).to_frame(name)


@torch.no_grad()
def noise_study(explainer: L2IExplainer, x=None, *, snr_db: float = 0.0, seed: int = 0, dataset=None,
                passes: Sequence[range] | None = None, keep: int = 8) -> NoiseStudy:
    """The paper's white-noise experiment: fidelity (top-1, or macro-AUPRC for multi-label data) on
    clean and noisy clips, and how the interpretation of f's clean class changes (:func:`noise_robustness`).

    Give the clips ``x``, or a split ``dataset`` read in ``passes`` (:func:`clip_passes`; default: one
    pass). Each clip is analysed once, clean and noisy; only the per-clip rows and the logits are kept,
    and the waveforms of the first ``keep`` clips (for :func:`noise_examples`). The noise is drawn from
    one generator seeded with ``seed``, pass after pass, so the passes draw the noise that one call on
    every clip would: the numbers do not depend on the passes.
    """
    if (x is None) == (dataset is None):
        raise ParameterError("noise_study needs the clips x or a dataset split (not both)")
    rng = np.random.default_rng(seed)
    key = "macro_auprc" if explainer.multilabel else "top1"
    n = len(x) if x is not None else len(dataset)
    logits = {"clean": ([], []), "noisy": ([], [])}
    rows, shown, shown_noisy = [], [], []
    for part in passes if passes is not None else [range(n)]:
        xb = (np.asarray(x[part.start:part.stop], dtype=np.float32) if x is not None
              else dataset.load_batch(part, explainer.preset))
        noisy = add_white_noise(xb, float(snr_db), seed=rng).astype(np.float32)
        a_clean, a_noisy = explainer.analyse(xb), explainer.analyse(noisy)
        for name, a in (("clean", a_clean), ("noisy", a_noisy)):
            logits[name][0].append(a.theta_logits.float().cpu().numpy())
            logits[name][1].append(a.f_logits.float().cpu().numpy())
        rows.append(_robustness_rows(explainer, xb, noisy, a_clean, a_noisy, first=part.start))
        room = max(0, int(keep) - sum(len(v) for v in shown))
        shown.append(xb[:room])
        shown_noisy.append(noisy[:room])
    fid = {name: _fidelity_scores(explainer, np.concatenate(t), np.concatenate(f), None)[key]
           for name, (t, f) in logits.items()}
    return NoiseStudy(snr_db=float(snr_db), metric=key, fidelity_clean=fid["clean"], fidelity_noisy=fid["noisy"],
                      rows=pd.concat(rows, ignore_index=True), x=np.concatenate(shown), noisy=np.concatenate(shown_noisy))


def noise_examples(explainer: L2IExplainer, study: NoiseStudy, *, n: int = 2, uids: Sequence[str] | None = None,
                   classes: Sequence[str] | None = None) -> list[dict]:
    """For the first ``n`` clips, ``{title: audio}``: the clean clip, the interpretation of f's clean
    class on it, the noisy clip (peak-limited to 1) and the interpretation of the same class on it."""
    out = []
    for i in range(min(int(n), len(study.x))):
        c = int(study.rows["class"][i])
        both = explainer.attribute(np.stack([study.x[i], study.noisy[i]]), [c, c])  # rows: clean, noisy
        name = classes[c] if classes is not None else f"class {c}"
        out.append({f"{uids[i] if uids is not None else i}: clean": study.x[i],
                    f"interpretation of {name}, clean": both.audio[0],
                    f"noisy ({study.snr_db:g} dB)": study.noisy[i] / max(1.0, float(np.abs(study.noisy[i]).max())),
                    f"interpretation of {name}, noisy": both.audio[1]})
    return out


@dataclass
class MixtureStudy:
    """Notebook 06's mixtures ``x1 + λ x2`` of test clips: every score row and how they were drawn.

    ``scores`` holds :func:`mixture_scores`'s rows for every λ (gradient baselines only at λ = 1, on
    the first ``baseline_pairs`` pairs) with a ``kind`` column (``'a+b'`` for the paper's kinds,
    else ``'random pair'``); ``pairs`` index into ``dataset.split('test')``.
    """

    scores: pd.DataFrame
    pairs: list
    kinds: list
    targets: list
    lambdas: list
    baselines: list
    baseline_pairs: int
    x: np.ndarray  # waveforms by test-clip index (``x[i]``; only the paired clips when the study read them)

    def at(self, lam: float = 1.0) -> pd.DataFrame:
        return self.scores[self.scores.lam == float(lam)]

    def summaries(self) -> dict[str, pd.DataFrame]:
        """The tables notebook 06 shows (λ = 1), by title."""
        at1 = self.at(1.0)
        core = at1[at1.method.isin(["L2I", "random"])]
        return {"All methods on the mixtures where the gradient baselines were computed (λ = 1):":
                summarize_mixtures(at1[at1.pair < self.baseline_pairs]),
                f"L2I, random components and the oracle on all {at1.pair.nunique()} mixtures (λ = 1):":
                summarize_mixtures(at1[at1.method.isin(["L2I", "random", "oracle IRM"])]),
                "Split by whether f itself predicts x1's class on the mixture:":
                summarize_mixtures(core, by=("method", "f_correct")),
                "The paper's kinds of pairs:": summarize_mixtures(core, by=("method", "kind"))}

    def description(self, dataset_name: str = "") -> str:
        n_kind = sum(k != "random pair" for k in self.kinds)
        return (f"{len(self.pairs)} pairs of {dataset_name} test clips ({n_kind} of the paper's kinds), λ ∈ "
                f"{self.lambdas}; gradient baselines on the first {self.baseline_pairs} pairs at λ = 1.")

    def record(self) -> dict:
        """The ``mixtures`` part of notebook 06's results section (keys as before the study moved here)."""
        at1 = self.at(1.0)
        return {
            "pairs": int(at1.pair.nunique()), "lambdas": self.lambdas, "baseline_pairs": self.baseline_pairs,
            "l2i_beats_random_si_sdr_pct": beats_random(at1, column="si_sdr"),
            "l2i_beats_random_stem_energy_pct": beats_random(at1, column="energy_in_support"),
            "by_method": {m: {"si_sdr_median": float(d.si_sdr.median()), "si_sdri_median": float(d.si_sdri.median()),
                              "energy_in_support_mean": float(d.energy_in_support.mean()),
                              "cosine_gap_mean": float(d.cosine_gap.mean()), "pairs": int(len(d))}
                          for m, d in at1.groupby("method")},
            "cosine_gap_by_f_correct": {str(k): float(d.cosine_gap.mean())
                                        for k, d in at1[at1.method == "L2I"].groupby("f_correct")},
        }


class _ClipRows(dict):
    """Waveforms of some clips by their index in the split, indexed like the split's array (``x[i]``, ``x[[i, j]]``)."""

    def __getitem__(self, key):
        if isinstance(key, (list, tuple, np.ndarray)):
            return np.stack([dict.__getitem__(self, int(k)) for k in key])
        return dict.__getitem__(self, int(key))


@torch.no_grad()
def mixture_study(explainer: L2IExplainer, dataset, x=None, *, n_pairs: int = 100, per_kind: int = 8,
                  kinds: Sequence[tuple[str, str]] = PAPER_PAIRS, lambdas=(0.5, 1.0, 2.0), baselines=(),
                  baseline_pairs: int = 24, seed: int = 0) -> MixtureStudy:
    """Mixtures of two test clips of different classes, scored against the true stem (notebook 06).

    Pairs: :func:`mixture_pairs` (the paper's ``kinds`` first, at most ``per_kind`` each, then
    ``n_pairs`` random ones); each λ of ``lambdas`` scored with :func:`mixture_scores`; the gradient
    ``baselines`` at λ = 1 on the first ``baseline_pairs`` pairs. ``lambdas`` and ``baselines`` may be
    comma-separated strings (notebook parameters). ``x``: the test split's waveforms, if loaded;
    otherwise only the clips of the pairs are read.
    """
    if dataset.multilabel:
        raise ParameterError("two-clip mixtures are built from single-label clips; use scene_study for multi-label data")
    test = dataset.split("test")
    lambdas, baselines = _as_list(lambdas, float), _as_list(baselines, str)
    pairs = mixture_pairs(dataset, int(n_pairs), kinds=kinds, per_kind=int(per_kind), seed=seed)
    i1, i2 = [i for i, _ in pairs], [j for _, j in pairs]
    if x is None:  # only the clips the pairs use: memory follows n_pairs, not the split's size
        used = sorted(set(i1) | set(i2))
        x = _ClipRows(dict(zip(used, test.load_batch(used, explainer.preset))))
    else:
        x = np.asarray(x, dtype=np.float32)
    t1 = [dataset.class_index(test[i].label) for i in i1]
    named = set(map(tuple, kinds))
    kind = [f"{test[i].label}+{test[j].label}" if (test[i].label, test[j].label) in named else "random pair"
            for i, j in pairs]
    n_base = min(len(pairs), int(baseline_pairs))
    frames = []
    for lam in lambdas:
        df = mixture_scores(explainer, x[i1], x[i2], t1, lam=lam, seed=seed, pair_ids=range(len(pairs)))
        if lam == 1.0 and baselines:
            base = mixture_scores(explainer, x[i1[:n_base]], x[i2[:n_base]], t1[:n_base], lam=lam, seed=seed,
                                  baselines=baselines, pair_ids=range(n_base))
            frames.append(base[base.method.isin(baselines)])
        frames.append(df)
    scores = pd.concat(frames, ignore_index=True)
    scores["kind"] = [kind[p] for p in scores.pair]
    return MixtureStudy(scores=scores, pairs=pairs, kinds=kind, targets=t1, lambdas=lambdas, baselines=baselines,
                        baseline_pairs=n_base, x=x)


def mixture_examples(explainer: L2IExplainer, study: MixtureStudy, dataset, *, n: int = 2) -> list[dict]:
    """For the first ``n`` pairs at λ = 1, ``{title: audio}``: x1, x2 (at x1's RMS), the mixture
    (peak-limited), L2I's interpretation of x1's class and the first gradient baseline at L2I's sparsity."""
    test = dataset.split("test")
    out = []
    for p, (i, j) in enumerate(study.pairs[: int(n)]):
        x1, x2 = study.x[i], study.x[j]
        g = float(np.sqrt(np.sum(x1**2) / max(np.sum(x2**2), 1e-12)))
        y = (x1 + g * x2).astype(np.float32)
        e = explainer.attribute(y[None], [study.targets[p]])
        ex = {f"x1: {test[i].label}": x1, f"x2: {test[j].label}": g * x2,
              "mixture (λ = 1)": y / max(1.0, float(np.abs(y).max())), f"L2I: {test[i].label}": e.audio[0]}
        if study.baselines:
            gi = gradient_interpretation(explainer.classifier, y[None], [study.targets[p]], method=study.baselines[0],
                                         keep_fraction=max(float(e.mask[0].mean()), 1e-4), preset=explainer.preset)
            ex[f"{study.baselines[0]} at the same sparsity"] = gi.audio[0]
        out.append(ex)
    return out


@dataclass
class SceneStudy:
    """:func:`scene_scores`'s rows for scenes with stems, with the tables and record of notebook 06."""

    scores: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        return summarize_mixtures(self.scores)

    def per_class(self) -> pd.DataFrame:
        return summarize_mixtures(self.scores[self.scores.method.isin(["L2I", "random"])], by=("method", "class"))

    def record(self) -> dict:
        """The ``scenes`` part of notebook 06's results section."""
        s = self.scores
        l2i = s[s.method == "L2I"]
        return {"interpretations": int(len(l2i)),
                "by_method": {m: {"si_sdr_median": float(d.si_sdr.median()),
                                  "energy_in_support_mean": float(d.energy_in_support.mean()),
                                  "cosine_gap_mean": float(d.cosine_gap.mean())} for m, d in s.groupby("method")},
                "per_class_l2i_si_sdr_median": {c: float(d.si_sdr.median()) for c, d in l2i.groupby("class")}}


def scene_study(explainer: L2IExplainer, dataset, *, seed: int = 0, max_scenes: int | None = None) -> SceneStudy | None:
    """Every labelled class of every test scene scored against its own stem (:func:`scene_scores`);
    None when the dataset has no stems (only urbanmix and SONYC-layout folders with ``stems/`` do)."""
    if not any(r.stems for r in dataset.split("test")):
        return None
    return SceneStudy(scene_scores(explainer, dataset, seed=seed, max_scenes=max_scenes))
