"""``l2i explain``: interpret one's own sound files from the command line.

``l2i explain PATH... --artifacts-dir DIR --out OUT`` loads f and the interpreter trained in ``DIR``
(:meth:`~l2i_core.explain.L2IExplainer.from_artifacts`), decodes every file with
:func:`~l2i_core.audio.load_audio` (anything libsndfile reads, any sample rate: resampled to the
model's, mixed down to mono), cuts it into consecutive windows of the training clip length (the last
one, or a shorter file, zero-padded; a tail shorter than one STFT hop, such as a decoder's padding,
cropped; each window peak-normalised, as every training clip was), and
writes, for each file, ``OUT/<file stem>/`` (``<stem>-2``, ... when two inputs share a stem)::

    summary.json                          # what f and the interpreter said, and every path written
    window_00_input.wav                   # the window f heard (mono, model rate, normalised)
    window_00_<class>_interpretation.wav  # what f relied on for <class>
    window_00_<class>_residual.wav        # the input minus the interpretation
    window_00_<class>_component_017.wav   # each kept component, most relevant first
    window_00_<class>.png                 # input and interpretation spectrograms, mask, relevance bars

All WAV files are 32-bit float (``FLOAT``: components are not clipped) at the model's sample rate and
hold the window's real samples only (the padding of the last window is cut off again).

The class explained in a window is f's prediction there (multi-class: its top class; multi-label:
every class f decides present with its thresholds, none when it decides none: the one rule of
:func:`~l2i_core.explain.interface.explained_rows`), or ``--class NAME`` in every window. τ defaults to
the paper's (:func:`~l2i_core.explain.default_tau`: 0.2 multi-class, 0.3 multi-label) and top-k to 5,
the official code's cap and the gallery's.

A file that cannot be explained (missing, corrupt, silent, NaN samples, ...) costs one line on stderr
naming it and saying what to do; the other files are still explained. The exit status is 0 when every
file was explained, 1 when any failed, and 2 for a usage error (no such artifacts folder, an unknown
``--class``, a missing interpreter head, a bad τ or top-k).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from l2i_core import metrics
from l2i_core._errors import L2IError, ParameterError
from l2i_core.audio.waveform import fix_duration, load_audio, peak_normalize
from l2i_core.explain.l2i import L2IExplainer, default_tau
from l2i_core.report.plots import plot_interpretation

__all__ = ["add_explain_command", "run_explain", "explain_file", "window_samples", "output_folders",
           "DEFAULT_TOP_K", "WAV_SUBTYPE"]

#: Most components kept per interpretation by default (the official code's cap, :func:`l2i_core.report.widgets.gallery`'s).
DEFAULT_TOP_K = 5
#: soundfile subtype of every WAV written: 32-bit float, so loud components are not clipped.
WAV_SUBTYPE = "FLOAT"
#: Windows of a long file explained together (f, Ψ, Θ and the masks of one batch in memory at a time).
WINDOWS_PER_BATCH = 16


def window_samples(explainer: L2IExplainer) -> int:
    """Samples per window: the training clip length.

    The classifier's sidecar records its clips' ``duration``; for a sidecar without it, the window is what
    the interpreter's number of frames ``T`` implies: the duration
    rounded to 0.1 s when that gives ``T`` frames (5 s → 110 250 samples for ESC at 22 050 Hz), else the
    shortest length that does, ``(T - 1) · hop``.
    """
    p, T = explainer.preset, int(explainer.interpreter.n_frames)
    duration = (getattr(explainer, "meta", None) or {}).get("classifier", {}).get("duration")
    if duration and p.n_frames(float(duration)) == T:
        return p.n_samples(float(duration))
    shortest = (T - 1) * p.hop_length
    rounded = round(shortest / p.sr, 1)
    return p.n_samples(rounded) if rounded > 0 and p.n_frames(rounded) == T else shortest


def output_folders(paths: list[Path], out: Path) -> list[Path]:
    """``out/<stem>`` for each input, ``out/<stem>-2``, ``-3``, ... for later inputs sharing a stem."""
    seen: dict[str, int] = {}
    folders = []
    for path in paths:
        stem = _safe(Path(path).stem) or "audio"
        seen[stem] = seen.get(stem, 0) + 1
        folders.append(out / (stem if seen[stem] == 1 else f"{stem}-{seen[stem]}"))
    return folders


def _safe(name: str) -> str:
    """``name`` with every character other than letters, digits, ``.``, ``_`` and ``-`` made ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._")


def _class_names(explainer: L2IExplainer) -> list[str]:
    return explainer.classes or [f"class {c}" for c in range(int(explainer.interpreter.n_classes))]


def explain_file(explainer: L2IExplainer, path: str | Path, folder: str | Path, *, target: int | None = None,
                 tau: float | None = None, top_k: int | None = DEFAULT_TOP_K) -> dict:
    """Explain one sound file window by window and write its WAV files, figures and ``summary.json``.

    Parameters
    ----------
    explainer : L2IExplainer
    path : path
        Any file libsndfile reads, at any sample rate, mono or not, of any length.
    folder : path
        Where this file's outputs go (created).
    target : int or None
        Class to explain in every window; None: f's prediction per window (see
        :func:`~l2i_core.explain.interface.explained_rows`).
    tau : float or None
        Relevance threshold; default :func:`~l2i_core.explain.l2i.default_tau`.
    top_k : int or None
        At most this many components per interpretation; None keeps every one with ``r > τ``.

    Returns
    -------
    dict
        The content of ``summary.json``.

    Raises
    ------
    AudioError
        The file is missing, corrupt, empty, silent or holds NaN/inf samples (one line naming it).
    """
    path, folder = Path(path), Path(folder)
    tau = default_tau(explainer.multilabel) if tau is None else float(tau)
    sr, n = explainer.sr, window_samples(explainer)
    y = load_audio(path, sr=sr, mono=True, normalize=False)  # raises AudioError naming the file
    info = sf.info(str(path))
    n_windows = max(1, math.ceil(len(y) / n))
    if n_windows > 1 and len(y) - (n_windows - 1) * n < explainer.preset.hop_length:
        n_windows -= 1  # a tail shorter than one STFT hop (a decoder's padding) is cropped, not a window
    starts = [w * n for w in range(n_windows)]
    names = _class_names(explainer)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def wav(name: str, audio: np.ndarray, length: int) -> str:
        target_path = folder / name
        sf.write(str(target_path), np.asarray(audio[:length], dtype=np.float32), sr, subtype=WAV_SUBTYPE)
        written.append(str(target_path))
        return str(target_path)

    windows = []
    chunks = range(0, n_windows, WINDOWS_PER_BATCH)  # a long file in batches of windows: bounded memory
    for c0 in tqdm(chunks, desc=f"{path.name}: windows", unit="batch", disable=None if len(chunks) > 1 else True,
                   leave=False):
        cs = starts[c0 : c0 + WINDOWS_PER_BATCH]
        x = np.stack([peak_normalize(fix_duration(y[s : s + n], n)) for s in cs]).astype(np.float32)
        analysis = explainer.analyse(x)
        exp = explainer.attribute(x, target, tau=tau, top_k=top_k, analysis=analysis, detail=True)
        probs = explainer.model.probabilities(analysis.f_logits).cpu().numpy()
        logits = analysis.f_logits.float().cpu().numpy()
        if explainer.multilabel:
            decided = metrics.classifier_decisions(logits, explainer.f_thresholds)
            predictions = [[names[c] for c in np.flatnonzero(row)] for row in decided]
        else:
            predictions = [names[int(c)] for c in logits.argmax(1)]
        for j, s in enumerate(cs):
            w, length = c0 + j, min(n, len(y) - s)
            windows.append({
                "index": w, "start_s": s / sr, "end_s": (s + length) / sr, "padding_s": (n - length) / sr,
                "prediction": predictions[j],
                "probabilities": {name: float(p) for name, p in zip(names, probs[j])},
                "input": wav(f"window_{w:02d}_input.wav", x[j], length), "interpretations": [],
            })
        extras = exp.extras
        for j in range(len(exp)):  # one row per (window, class) explained
            w, t = c0 + int(exp.clip[j]), int(exp.target[j])
            length = min(n, len(y) - starts[w])
            cname = names[t]
            stem = f"window_{w:02d}_{_safe(cname) or t}"
            rel = extras["relevance"][j]
            comps = [{"index": int(k), "name": f"component {int(k)}", "relevance": float(rel[k]),
                      "audio": wav(f"{stem}_component_{int(k):03d}.wav", audio, length)}
                     for k, audio in zip(extras["components"][j], extras["component_audio"][j])]
            f_p, theta_p = float(extras["f_probability"][j]), float(extras["theta_probability"][j])
            fig = plot_interpretation(exp, explainer.preset, row=j, title=(
                f"{path.name}, window {w} ({windows[w]['start_s']:.2f}-{windows[w]['end_s']:.2f} s): {cname}, "
                f"f p = {f_p:.2f}, Θ p = {theta_p:.2f}"))
            figure = folder / f"{stem}.png"
            fig.savefig(figure, dpi=100)
            plt.close(fig)
            written.append(str(figure))
            windows[w]["interpretations"].append({
                "class": cname, "class_index": t, "f_probability": f_p,
                "theta_probability": theta_p, "mask_mean": float(exp.mask[j].mean()), "components": comps,
                "interpretation": wav(f"{stem}_interpretation.wav", exp.audio[j], length),
                "residual": wav(f"{stem}_residual.wav", extras["residual_audio"][j], length), "figure": str(figure),
            })
    summary_path = folder / "summary.json"
    written.append(str(summary_path))
    meta = getattr(explainer, "meta", {})
    summary = {
        "input": str(path), "format": info.format, "sample_rate": int(info.samplerate), "channels": int(info.channels),
        "duration_s": info.frames / info.samplerate,
        "model": {"artifacts_dir": meta.get("artifacts_dir"), "head": meta.get("head"), "preset": explainer.preset.name,
                  "sample_rate": sr, "classes": names, "multilabel": explainer.multilabel},
        "window_samples": n, "window_s": n / sr, "n_windows": n_windows,
        "cropped_s": max(0, len(y) - n_windows * n) / sr,
        "normalisation": "each window peak-normalised to 1 before f (as every training clip)",
        "class_requested": None if target is None else names[int(target)],
        "tau": tau, "top_k": top_k, "wav_subtype": WAV_SUBTYPE, "windows": windows, "files": written,
    }
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


# -- the command -------------------------------------------------------------------------------------

def _top_k(value: str) -> int | None:
    if value.lower() in ("all", "none"):
        return None
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of components; give an integer >= 1 or 'all'") from None
    if k < 1:
        raise argparse.ArgumentTypeError(f"{k} components; give an integer >= 1 or 'all'")
    return k


def add_explain_command(sub) -> None:
    """Add ``l2i explain`` to an ``argparse`` sub-parser set."""
    p = sub.add_parser("explain", help="explain your own sound files with a trained f and interpreter",
                       description="Write, for each file, OUT/<stem>/: the interpretation, the residual and each "
                                   "kept component as 32-bit float WAV at the model's rate, one figure per window "
                                   "and class, and summary.json. Files longer than the training clips are explained "
                                   "in consecutive windows of that length (window_00_..., window_01_...).")
    p.add_argument("paths", nargs="+", metavar="PATH", help="sound files (WAV, FLAC, OGG, ...: what libsndfile reads)")
    p.add_argument("--artifacts-dir", default=None,
                   help="folder holding classifier.pt/.json and interpreter_<head>.pt/.json (default: the project's "
                        "artifacts/esc10-cpu when trained here, else the shipped trained/esc10-cpu; "
                        "trained/esc50-fold4-efficientat: the AudioSet network on 50 ESC classes)")
    p.add_argument("--head", default="attention", choices=("attention", "max"), help="Θ's pooling (default attention)")
    p.add_argument("--tau", type=float, default=None,
                   help="relevance threshold τ (default the paper's: 0.2 multi-class, 0.3 multi-label)")
    p.add_argument("--top-k", type=_top_k, default=DEFAULT_TOP_K,
                   help=f"keep at most K components (default {DEFAULT_TOP_K}; 'all': every one with r > τ)")
    p.add_argument("--class", dest="class_name", default=None, metavar="NAME",
                   help="explain this class in every window (default: f's prediction in each window)")
    p.add_argument("--out", required=True, help="output folder (one sub-folder per input file)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cpu)")


def _usage_error(message: str) -> int:
    print(f"l2i explain: error: {message}", file=sys.stderr)
    return 2


def _load_explainer(args) -> L2IExplainer:
    """The explainer of ``--artifacts-dir`` and ``--head``; :class:`ParameterError` (one line) when missing.
    Without ``--artifacts-dir``: :func:`~l2i_core.pipeline.shipped.default_explainer_dir` (trained here, else shipped)."""
    from l2i_core.pipeline.shipped import default_explainer_dir

    d = Path(args.artifacts_dir) if args.artifacts_dir else default_explainer_dir(head=args.head)
    if not d.is_dir():
        raise ParameterError(f"{d}: no such folder; pass --artifacts-dir the folder holding classifier.pt and "
                             "interpreter_<head>.pt (written by notebooks 02 and 03 or `l2i train-interpreter`)")
    if not (d / f"interpreter_{args.head}.pt").is_file():
        heads = sorted(p.stem.removeprefix("interpreter_") for p in d.glob("interpreter_*.pt")
                       if not p.stem.endswith("_last"))
        hint = (f"pass --head {' or --head '.join(heads)}" if heads else "train one with notebook 03")
        raise ParameterError(f"{d}: no interpreter_{args.head}.pt (heads here: {', '.join(heads) or 'none'}); {hint}, "
                             f"or train it with `l2i train-interpreter --pooling {args.head}`")
    explainer = L2IExplainer.from_artifacts(d, args.head, device=args.device)
    explainer.meta.update(artifacts_dir=str(d), head=args.head)
    return explainer


def run_explain(args) -> int:
    """Run ``l2i explain`` (parsed ``args``); returns the exit status (0 all explained, 1 some failed, 2 usage)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    try:
        explainer = _load_explainer(args)
        if args.tau is not None and not args.tau < 1:
            raise ParameterError(f"--tau {args.tau}: relevance is normalised to a maximum of 1; give a τ below 1")
    except L2IError as err:
        return _usage_error(str(err))
    names = _class_names(explainer)
    target = None
    if args.class_name is not None:
        if args.class_name not in names:
            return _usage_error(f"--class {args.class_name!r} is not a class of this classifier; "
                                f"choose one of: {', '.join(names)}")
        target = names.index(args.class_name)
    paths = [Path(p) for p in args.paths]
    out = Path(args.out)
    failed = 0
    for path, folder in zip(paths, output_folders(paths, out)):
        try:
            summary = explain_file(explainer, path, folder, target=target, tau=args.tau, top_k=args.top_k)
        except (L2IError, OSError) as err:
            failed += 1
            message = str(err).replace("\n", " ")
            if str(path) not in message:
                message = f"{path}: {message}"
            print(f"l2i explain: {message}", file=sys.stderr, flush=True)
            continue
        explained = sorted({i["class"] for w in summary["windows"] for i in w["interpretations"]})
        print(f"{path}: {summary['n_windows']} window(s) of {summary['window_s']:.2f} s, explained "
              f"{', '.join(explained) or 'nothing (f predicts no class; pass --class)'}: "
              f"{len(summary['files'])} files in {folder}", flush=True)
    done = len(paths) - failed
    print(f"l2i explain: {done} of {len(paths)} file(s) explained into {out}"
          + (f"; {failed} failed (see above)" if failed else ""), flush=True)
    return 1 if failed else 0
