"""Plots and compressed audio players for notebooks and static HTML reports.

Players are plain HTML ``<audio>`` elements with the sound embedded as an OGG/Vorbis data URI
(6-8x smaller than the 16-bit WAV that ``IPython.display.Audio`` embeds for arrays), so reports
stay small and play in any browser without a kernel.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from l2i_core._errors import ParameterError
from l2i_core.config import Preset, get_preset

__all__ = ["plot_objective", "plot_dictionary_objective", "plot_atoms", "plot_learning_curves", "plot_confusion_matrix", "plot_pr_curves", "plot_interpreter_history", "plot_activations", "plot_class_counts", "specshow", "plot_spectrogram_grid", "plot_interpretation", "plot_explanation_masks", "plot_faithfulness", "PAPER_FF_LABEL", "plot_deletion_insertion", "plot_mixture_scores", "plot_fidelity_pr", "plot_agreement", "plot_matched_sparsity"]
















def plot_class_counts(counts, *, title: str = "Clips per class and split", ax=None):
    """Horizontal stacked bar chart of a ``class_counts()`` table (classes × splits)."""
    splits = [c for c in counts.columns if c != "total"]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.25 * len(counts) + 1.2))
    left = np.zeros(len(counts))
    for s in splits:
        ax.barh(counts.index.astype(str), counts[s].to_numpy(), left=left, label=s)
        left += counts[s].to_numpy()
    ax.invert_yaxis()
    ax.set_xlabel("number of clips")
    ax.set_ylabel("class")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", title="split")
    return ax


def specshow(S: np.ndarray, preset: str | Preset = "cpu", *, ax=None, mel: bool = True, title: str | None = None,
             colorbar: bool = False, unit: str = "dB"):
    """Show a log-mel (``mel=True``) or linear-frequency spectrogram with labelled axes.

    Parameters
    ----------
    S : np.ndarray [shape=(n_bins, n_frames)]
    preset : str or Preset
        Gives the sample rate and hop, for time and frequency axes.
    """
    import librosa.display

    p = get_preset(preset)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    img = librosa.display.specshow(
        np.asarray(S), sr=p.sr, hop_length=p.hop_length, x_axis="time",
        y_axis="mel" if mel else "linear", fmin=p.fmin, fmax=p.fmax or p.sr / 2, ax=ax, cmap="magma",
    )
    ax.xaxis.set_major_locator(plt.MaxNLocator(5))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    if title:
        ax.set_title(title, fontsize="small")
    if colorbar:
        plt.colorbar(img, ax=ax, label=unit)
    return img


def plot_spectrogram_grid(specs: Sequence[np.ndarray], titles: Sequence[str], preset: str | Preset = "cpu", *,
                          columns: int = 4, mel: bool = True, suptitle: str | None = None):
    """Grid of spectrograms (log-mel dB by default) with a shared colour bar."""
    n = len(specs)
    rows = int(np.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.4 * rows), squeeze=False,
                             constrained_layout=True)
    img = None
    for ax, S, t in zip(axes.flat, specs, titles):
        img = specshow(S, preset, ax=ax, mel=mel, title=t)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if img is not None:
        fig.colorbar(img, ax=axes, label="dB" if mel else "log(1 + |X|)", shrink=0.8)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_objective(history, *, seconds=None, title: str = "Sparse NMF objective", ax=None):
    """Objective D(V|WH) + µ‖H‖₁ against iteration (log scale)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    h = np.asarray(history)
    ax.plot(np.arange(len(h)), h)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("objective (log scale)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return ax


def plot_dictionary_objective(dictionary, *, title: str = "Sparse NMF objective"):
    """The objective of a :class:`~l2i_core.nmf.dictionary.Dictionary`'s fit (one curve per class for a
    per-class dictionary); returns one sentence on the fit (error, iterations, convergence)."""
    m = dictionary.meta
    if str(m.get("mode", "")).endswith("-streamed"):  # learned by mini-batches from frames on disk
        fits = m.get("per_class_fits") or {"all": {"batch_objective_history": m["batch_objective_history"]}}
        _, ax = plt.subplots(figsize=(5, 3))
        for fit in fits.values():
            plot_objective(fit["batch_objective_history"], ax=ax, title=f"{title} (mini-batches)")
        ax.set_xlabel("chunk of frames")
        if len(fits) > 1:
            ax.legend(list(fits), fontsize="x-small")
        return (f"learned by mini-batches (HALS) from {m['n_frames']} frames on disk (at most {m['frames_per_clip_max']} "
                f"per clip), {m['stream_epochs']} passes: the training split exceeds the in-memory frame limit")
    if m.get("mode") != "per_class":
        plot_objective(m["objective_history"], title=title)
        return (f"relative reconstruction error ||V - WH|| / ||V|| = {m['relative_error']:.3f}; {m['n_iter']} iterations, "
                f"{'converged (tol reached)' if m['converged'] else 'stopped at max_iter'}")
    _, ax = plt.subplots(figsize=(5, 3))
    for fit in m["per_class_fits"].values():
        plot_objective(fit["objective_history"], ax=ax, title=f"{title} (one per class)")
    ax.legend(list(m["per_class_fits"]), fontsize="x-small")
    return f"{len(m['per_class_fits'])} per-class fits of {m['per_class']} atoms, {m['max_iter']} iterations each"


def plot_atoms(W: np.ndarray, preset: str | Preset = "cpu", *, order: np.ndarray | None = None,
               title: str = "Dictionary atoms sorted by spectral centroid", ax=None):
    """Image of the atoms (columns of W), sorted by spectral centroid unless ``order`` is given."""
    p = get_preset(preset)
    freqs = np.linspace(0, p.sr / 2, W.shape[0])
    if order is None:
        order = np.argsort((freqs[:, None] * W).sum(0) / W.sum(0).clip(1e-12))
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    shown = W[:, order] / W[:, order].max(axis=0, keepdims=True).clip(1e-12)
    img = ax.imshow(np.sqrt(shown), aspect="auto", origin="lower", cmap="magma",
                    extent=[-0.5, W.shape[1] - 0.5, 0, p.sr / 2000])
    ax.set_xlabel("atom (sorted by spectral centroid)")
    ax.set_ylabel("frequency (kHz)")
    ax.set_title(title)
    plt.colorbar(img, ax=ax, label="sqrt(weight / atom maximum)")
    return ax


def plot_learning_curves(history, *, title: str = "Classifier training"):
    """Training and validation loss, and the validation metric, per epoch (EMA weights validated).

    ``history``: one run's list of per-epoch dicts, or ``{label: history}`` for several runs (the
    fine-tuning candidates of the pretrained backbone) drawn on the same axes; empty runs are skipped.
    """
    runs = {k: v for k, v in history.items() if v} if isinstance(history, dict) else {"": history}
    if not runs or not all(runs.values()):
        raise ParameterError("no training history to plot (a linear probe has no epochs)")
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3), constrained_layout=True)
    for i, (label, hist) in enumerate(runs.items()):
        epochs = [h["epoch"] for h in hist]
        metric = next(k for k in hist[0] if k.startswith("val_") and k != "val_loss")
        tag = f"{label}: " if label else ""
        a.plot(epochs, [h["train_loss"] for h in hist], color=f"C{2 * i}", label=f"{tag}train (augmented)")
        a.plot(epochs, [h["val_loss"] for h in hist], color=f"C{2 * i + 1}", label=f"{tag}validation")
        b.plot(epochs, [h[metric] for h in hist], color=f"C{2 * i}", label=label or None)
        best = int(np.argmax([h[metric] for h in hist]))
        b.scatter([epochs[best]], [hist[best][metric]], color="C3", zorder=3,
                  label=f"{tag}selected (epoch {epochs[best]})")
    a.set_xlabel("epoch")
    a.set_ylabel("loss")
    a.set_title(f"{title}: loss")
    a.legend(fontsize="small")
    b.set_xlabel("epoch")
    b.set_ylabel(metric.replace("_", " "))
    b.set_title(f"{title}: {metric.replace('_', ' ')}")
    b.legend(fontsize="small")
    for ax in (a, b):
        ax.grid(alpha=0.3)
    return fig


def plot_confusion_matrix(cm, classes, *, title: str = "Confusion matrix (test split)", ax=None):
    """Confusion matrix with counts; rows are true classes, columns predictions."""
    import seaborn as sns

    cm = np.asarray(cm)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * len(classes) + 2.5, 0.4 * len(classes) + 2))
    sns.heatmap(cm, annot=len(classes) <= 20, fmt="d", cmap="Blues", cbar_kws={"label": "clips"},
                xticklabels=classes, yticklabels=classes, ax=ax)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    return ax


def plot_pr_curves(probs: np.ndarray, labels: np.ndarray, classes, *, title: str = "Precision-recall (test split)",
                   ax=None):
    """Per-class precision-recall curves, for the classes that have positives."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4))
    for i, c in enumerate(classes):
        if labels[:, i].sum() == 0:
            continue
        prec, rec, _ = precision_recall_curve(labels[:, i], probs[:, i])
        ax.plot(rec, prec, label=f"{c} (AP {average_precision_score(labels[:, i], probs[:, i]):.2f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(fontsize="x-small", loc="lower left")
    ax.grid(alpha=0.3)
    return ax


def plot_interpreter_history(history: list[dict], *, title: str = "Interpreter training",
                             selection_metric: str = "selection score"):
    """Loss terms (unweighted) and the validation score that selects the checkpoint, per epoch.

    ``selection_metric`` names that score (top-1 agreement with f, or macro average precision vs
    f's decisions); it is not the paper's fidelity, which notebooks 03 and 04 report on test."""
    ep = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 4, figsize=(14, 2.8), constrained_layout=True)
    for ax, key, label in zip(axes[:3], ("train_fidelity", "train_reconstruction", "train_sparsity"),
                              ("fidelity loss L_fid", "reconstruction MSE(WH, V)", "sparsity mean|H|")):
        ax.plot(ep, [h[key] for h in history])
        ax.set_title(label, fontsize="small")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss term (unweighted)")
        ax.grid(alpha=0.3)
    fid = [h["val_selection_score"] for h in history]
    axes[3].plot(ep, fid, color="C2")
    best = int(np.nanargmax(fid))
    axes[3].scatter([ep[best]], [fid[best]], color="C3", zorder=3, label=f"selected (epoch {ep[best]})")
    axes[3].set_title(f"validation {selection_metric}", fontsize="small")
    axes[3].set_xlabel("epoch")
    axes[3].set_ylabel("selection score")
    axes[3].legend(fontsize="x-small")
    axes[3].grid(alpha=0.3)
    fig.suptitle(title)
    return fig


def plot_activations(V: np.ndarray, H: np.ndarray, preset: str | Preset = "cpu", *, title: str = "",
                     order: np.ndarray | None = None):
    """A clip's spectrogram V (log1p magnitude) above its activations H (atoms × frames)."""
    p = get_preset(preset)
    fig, (a, b) = plt.subplots(2, 1, figsize=(6, 4.2), sharex=True, constrained_layout=True)
    specshow(V, p, ax=a, mel=False, title=f"{title}: V = log(1 + |X|)")
    Hs = H if order is None else H[order]
    dur = V.shape[-1] * p.hop_length / p.sr
    img = b.imshow(Hs, aspect="auto", origin="lower", cmap="viridis", extent=[0, dur, -0.5, Hs.shape[0] - 0.5])
    b.set_xlabel("time (s)")
    b.set_ylabel("atom (by centroid)" if order is not None else "atom")
    b.set_title("activations H = Psi(maps)", fontsize="small")
    fig.colorbar(img, ax=b, label="activation")
    return fig


# -- interpretations and their evaluation ----------------------------------------------------------


def get_preset_for_sr(sr: int) -> Preset:
    """The built-in preset with sample rate ``sr`` (cpu: 22 050 Hz, paper: 44 100 Hz)."""
    from l2i_core.config import PRESETS

    for p in PRESETS.values():
        if p.sr == int(sr):
            return p
    raise ValueError(f"no preset with sample rate {sr}")


def plot_interpretation(explanation, preset: str | Preset | None = None, *, row: int = 0, title: str | None = None,
                        max_bars: int = 20):
    """One row of an :class:`~l2i_core.explain.interface.Explanation`: input spectrogram, the
    explanation's spectrogram, its mask and, for an L2I row, the relevance bars of its components.

    Parameters
    ----------
    explanation : Explanation
        Any explainer's; an L2I row (extras ``relevance`` and ``components``) adds the relevance panel.
    preset : str, Preset or None
        For the axes; default the built-in preset of the explanation's sample rate.
    row : int
        Which row of ``explanation``.
    title : str or None
        Default: the clip, f's and Θ's probabilities (L2I) or the method.
    max_bars : int
        Most relevance bars (the most relevant components).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import librosa.display

    p = get_preset(preset) if preset is not None else get_preset_for_sr(explanation.sr)
    e = explanation[int(row)]
    x = e.extras
    l2i = "relevance" in x and "components" in x
    target = int(e.target[0])
    name = (x.get("class_name") or [None])[0]
    name = name if name is not None else f"class {target}"
    tau = float(x.get("tau", float("nan")))
    fig, axes = plt.subplots(1, 4 if l2i else 3, figsize=(15 if l2i else 11.5, 3), constrained_layout=True,
                             gridspec_kw={"width_ratios": [1, 1, 1, 0.8] if l2i else [1, 1, 1]})
    specshow(e.V[0], p, ax=axes[0], mel=False, title="input V = log(1 + |X|)")
    label = f"interpretation of {name} (τ = {tau:g})" if l2i else f"{e.method}: explanation of {name}"
    img = specshow(e.spectrogram[0], p, ax=axes[1], mel=False, title=label)
    fig.colorbar(img, ax=axes[1], label="log(1 + |X|)")
    m = librosa.display.specshow(e.mask[0], sr=p.sr, hop_length=p.hop_length, x_axis="time", y_axis="linear",
                                 ax=axes[2], cmap="Greys", vmin=0, vmax=1)
    axes[2].set_title("soft mask Σ M_k of kept components" if l2i else "mask M", fontsize="small")
    axes[2].set_xlabel("time (s)")
    axes[2].set_ylabel("frequency (Hz)")
    fig.colorbar(m, ax=axes[2], label="mask")
    if l2i:
        relevance, components = x["relevance"][0], x["components"][0]
        order = np.argsort(-relevance)[:max_bars]
        kept = set(components.tolist())
        axes[3].bar(range(len(order)), relevance[order], color=["C3" if k in kept else "C7" for k in order])
        axes[3].axhline(tau, color="k", lw=0.8, ls="--", label=f"τ = {tau:g}")
        axes[3].set_xticks(range(len(order)), [str(k) for k in order], rotation=90, fontsize="x-small")
        axes[3].set_xlabel("component (most relevant first)")
        axes[3].set_ylabel("relevance r_k")
        axes[3].set_title("relevance (red: kept)", fontsize="small")
        axes[3].legend(fontsize="x-small")
        default = (f"clip {int(e.clip[0])}: f p = {float(x['f_probability'][0]):.2f}, "
                   f"Θ p = {float(x['theta_probability'][0]):.2f}")
    else:
        default = f"clip {int(e.clip[0])}: {e.method}"
    fig.suptitle(title or default)
    return fig


#: The legend of the paper's FF in :func:`plot_faithfulness`: its setting, which is not ours.
PAPER_FF_LABEL = ("paper's FF, another setting: ESC-50 5-fold CV, its AudioSet CNN,\n"
                  "Θ kept on the test fold, relevance from max-pooled H")


def plot_faithfulness(summary, *, paper: dict | None = None, paper_label: str = PAPER_FF_LABEL,
                      title: str = "Faithfulness (median drops)"):
    """Median FF per τ for L2I and the random baselines (a table from
    :func:`l2i_core.evaluate.paper_protocols.summarize_faithfulness`), in two panels: the drop of f's
    **probability** of its class (the paper's FF, Eq. 6: ``paper``, ``{τ: value}``, is drawn here, labelled
    with its setting) and the drop of f's **logit** (ours only: the paper reports no logit drop)."""
    fig, (ax_p, ax_l) = plt.subplots(1, 2, figsize=(11, 3.6), constrained_layout=True)
    taus = np.asarray(summary.index, dtype=float)
    ax_p.plot(taus, summary["FF prob (median)"], "o-", label="L2I (ours)")
    ax_p.plot(taus, summary["random prob (median)"], "s--", label="random components (all K)")
    if paper:
        pt = sorted(paper)
        ax_p.plot(pt, [paper[t] for t in pt], "x:", color="k", label=paper_label)
    ax_p.set_ylabel("median drop of f's probability")
    ax_p.set_title("probability drop (the paper's FF)", fontsize="small")
    ax_l.plot(taus, summary["FF logit (median)"], "o-", label="L2I (ours)")
    ax_l.plot(taus, summary["random (median)"], "s--", label="random components (all K)")
    ax_l.plot(taus, summary["random active (median)"], "^--", label="random active components")
    ax_l.set_ylabel("median drop of f's logit")
    ax_l.set_title("logit drop (ours only: no published value)", fontsize="small")
    for ax in (ax_p, ax_l):
        ax.invert_xaxis()
        ax.set_xlabel("relevance threshold τ")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small")
    fig.suptitle(title)
    return fig


def plot_matched_sparsity(curves, *, title: str = "Ground truth at matched sparsity"):
    """Each method's mean SI-SDRi and stem-energy precision / recall against the share of bins every mask keeps
    (a frame of :meth:`l2i_core.evaluate.harness.ComparisonStudy.matched_curves`: ``method``, ``share``,
    ``si_sdri``, ``precision``, ``recall``), three panels; the identity mask keeps every bin and ranks none, so it
    is not drawn (its SI-SDRi is 0 dB by definition, the dotted line)."""
    if curves is None or len(curves) == 0:
        raise ParameterError("no matched-sparsity rows to plot: the condition has no stems")
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), constrained_layout=True)
    panels = (("si_sdri", "SI-SDRi vs the input (dB)"), ("precision", "stem-energy precision"),
              ("recall", "stem-energy recall"))
    for method, g in curves.groupby("method", sort=False):
        g = g.sort_values("share")
        style = "--" if method in ("random", "oracle IRM") else "-"
        for ax, (col, _) in zip(axes, panels):
            if col in g:
                ax.plot(100 * g["share"], g[col], style, marker="o", label=method)
    for ax, (_, label) in zip(axes, panels):
        ax.set_xlabel("bins kept, ranked by the method's own mask (%)")
        ax.set_ylabel(label)
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
    axes[0].axhline(0.0, color="k", lw=0.8, ls=":")
    axes[-1].legend(fontsize="x-small")
    fig.suptitle(title)
    return fig


def plot_deletion_insertion(curves: dict, *, title: str = "Deletion and insertion curves"):
    """Mean curves from :func:`l2i_core.evaluate.paper_protocols.deletion_insertion` with their areas."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), constrained_layout=True)
    x = curves["steps"]
    for ax, kind in zip(axes, ("deletion", "insertion")):
        for key, style, lab in ((kind, "-", "by relevance"), (f"random_{kind}", "--", "random order")):
            ax.plot(x, curves[key].mean(0), style, label=f"{lab} (area {curves[key + '_area']:.3f})")
        ax.set_xlabel(f"components {'removed' if kind == 'deletion' else 'kept'}")
        ax.set_ylabel("f's probability of the class")
        ax.set_title(kind, fontsize="small")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(title)
    return fig


def plot_mixture_scores(df, *, x: str = "lam", title: str = "Ground truth on mixtures"):
    """Median SI-SDR and mean stem-support energy against ``x`` (λ) per method."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), constrained_layout=True)
    for m, d in df.groupby("method", sort=False):
        g = d.groupby(x)
        axes[0].plot(g["si_sdr"].median(), "o-", label=m)
        axes[1].plot(g["energy_in_support"].mean(), "o-", label=m)
    axes[0].set_ylabel("SI-SDR vs true stem (median, dB)")
    axes[1].set_ylabel("energy inside stem support (mean)")
    for ax in axes:
        ax.set_xlabel("λ (gain of the interfering clip, equal RMS = 1)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle(title)
    return fig


def plot_fidelity_pr(result: dict, *, title: str = "Θ against f's decisions (test split)", ax=None):
    """The paper's padded per-class PR curves (11 thresholds) from
    :func:`l2i_core.metrics.multilabel_fidelity`, with the micro curve."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    for c, cur in result["curves"].items():
        ax.plot(cur["recall"], cur["precision"], lw=1, label=f"{c} ({result['per_class'][c]:.2f})")
    mc = result["micro_curve"]
    ax.plot(mc["recall"], mc["precision"], "k--", lw=2, label=f"micro ({result['micro_auprc']:.2f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize="small")
    ax.legend(fontsize="x-small", loc="lower left")
    ax.grid(alpha=0.3)
    return ax


def plot_agreement(theta_logits: np.ndarray, f_logits: np.ndarray, classes, *, title: str = "Θ's top-1 against f's",
                   ax=None):
    """Confusion matrix of Θ's top class (columns) against f's top class (rows), in counts."""
    from sklearn.metrics import confusion_matrix

    C = len(classes)
    cm = confusion_matrix(np.asarray(f_logits).argmax(1), np.asarray(theta_logits).argmax(1), labels=range(C))
    ax = plot_confusion_matrix(cm, classes, title=title, ax=ax)
    ax.set_xlabel("Θ's top class (interpreter)")
    ax.set_ylabel("f's top class (classifier)")
    return ax


def plot_explanation_masks(explanations: dict, row: int, preset: str | Preset = "cpu", *, title: str = "",
                           extra: dict | None = None):
    """The masks of one row of several :class:`~l2i_core.explain.interface.Explanation` objects side by side
    (linear-frequency STFT grid, values in [0, 1]), after the input's log-magnitude.

    Parameters
    ----------
    explanations : dict of str to Explanation
        By display name; row ``row`` of each is shown (the same clip in each, as with one target per clip).
    row : int
    preset : str or Preset
        For the axes.
    title : str
    extra : dict or None
        More ``{title: (F, T) array}`` panels, e.g. the oracle's mask.

    Returns
    -------
    matplotlib.figure.Figure
    """
    p = get_preset(preset)
    first = next(iter(explanations.values()))
    panels = {"input V = log1p|X|": first.V[row], **(extra or {}),
              **{name: e.mask[row] for name, e in explanations.items()}}
    n = len(panels)
    cols = min(4, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    seconds = (first.V.shape[-1] - 1) * p.hop_length / p.sr
    for ax, (name, img) in zip(axes.flat, panels.items()):
        im = ax.imshow(img, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, p.sr / 2000),
                       vmin=0, vmax=None if name.startswith("input") else 1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("s")
        ax.set_ylabel("kHz")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.colorbar(im, ax=axes, shrink=0.6, label="mask")
    if title:
        fig.suptitle(title)
    return fig


