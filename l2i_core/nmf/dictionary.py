"""Learning, saving and loading the L2I dictionary W from a dataset's training split.

The official L2I code ships only the learned ``.npy`` dictionaries; this module is the learning code:

* :func:`gather_frames` — log1p-magnitude frames of the **training split only** (never validation
  or test), optionally without near-silent frames;
* :func:`learn_dictionary` — one dictionary of K atoms (ESC recipe, K = 100, µ = 0.8), or the
  per-class recipe of the paper's SONYC-UST experiments: for each class, ``per_class`` atoms learned
  on the frames of clips of that class next to as many frozen "noise" atoms, which are dropped
  afterwards (K = 8 × 10 = 80 for SONYC-UST);
* bounded memory: when the training frames could exceed :func:`frames_in_memory` (300,000 frames, about
  0.6 GB, or fewer where four copies of them would not fit the memory budget), the frames are written to disk, at most
  :data:`MAX_STREAM_FRAMES` of them (an even, seeded subsample of every clip's frames beyond that), and
  W is learned by :meth:`~l2i_core.nmf.sparse_nmf.SparseNMF.fit_minibatch`, which reads them a chunk
  at a time. Below that size nothing changes: the frames stay in memory and the batch solver runs. The
  official SONYC-UST dictionaries are named ``..._NS1000``; their code learns them elsewhere, and the
  name suggests a subsample (1,000 samples, of clips or of frames, per class), which we cannot verify:
  l2i subsamples frames evenly over clips, and says how many in ``meta['n_frames']``;
* :func:`save_dictionary` / :func:`load_dictionary` — ``W.npy`` plus a JSON sidecar that records the
  sample rate and ``n_fft`` W was learned with; loading for a preset refuses a dictionary of another
  sample rate or frequency grid (a 513-row W learned at 44.1 kHz is not a 22.05 kHz dictionary,
  although it has the same shape), and a bare ``.npy`` is accepted only with its ``sr`` stated.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from l2i_core._errors import ParameterError
from l2i_core._memory import DiskRows, NpyRowWriter, memory_budget_gb
from l2i_core._utils import batch_starts, resolve_device
from l2i_core._version import __version__
from l2i_core.audio.frontend import FrontEnd
from l2i_core.audio.masks import component_audio
from l2i_core.config import Preset, get_preset
from l2i_core.nmf.sparse_nmf import SparseNMF

__all__ = [
    "Dictionary",
    "gather_frames",
    "learn_dictionary",
    "save_dictionary",
    "load_dictionary",
    "listen_to_atoms",
    "frames_in_memory",
    "MEMORY_FRAMES",
    "MAX_STREAM_FRAMES",
    "FIT_COPIES",
]

#: Frames (of any preset's 513 bins: 2 kB each) dictionary learning keeps in memory at most; past it the
#: frames go to disk and W is learned by mini-batches. Every dataset of the default run is below it
#: (urbanmix: 240,240 frames at most), so their dictionaries are learned as before.
MEMORY_FRAMES = 300_000
#: Frames written to disk at most for streamed learning (4 GB at 513 bins); beyond it every clip gives an
#: even, seeded share of its frames.
MAX_STREAM_FRAMES = 2_000_000


#: Copies of the frames the in-memory fit may hold at its peak (the frames of every clip, those of one fit,
#: the solver's own temporaries), with a margin: the budget is read from resident memory.
FIT_COPIES = 4


def frames_in_memory(n_freq: int, memory_gb=None) -> int:
    """Frames dictionary learning may hold in memory: :data:`MEMORY_FRAMES`, or fewer where
    :data:`FIT_COPIES` copies of them would not fit the memory budget
    (:func:`~l2i_core._memory.memory_budget_gb`)."""
    return int(min(MEMORY_FRAMES, memory_budget_gb(memory_gb) * 2**30 / (FIT_COPIES * 4 * n_freq)))


@dataclass
class Dictionary:
    """A learned dictionary and where it comes from.

    Attributes
    ----------
    W : np.ndarray [shape=(n_freq, K), dtype=float32]
        Unit-L2, non-negative atoms.
    meta : dict
        Preset, dataset, K, µ, seed, objective history, timings, per-class layout, ...
    """

    W: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def n_components(self) -> int:
        return self.W.shape[1]

    def atom_classes(self) -> list[str] | None:
        """For per-class dictionaries, the class each atom belongs to."""
        return self.meta.get("atom_classes")

    def estimator(self, *, max_iter: int = 200, device: str | None = "cpu") -> SparseNMF:
        """A fitted :class:`SparseNMF` holding this W (same µ), ready for ``transform``."""
        nmf = SparseNMF(self.n_components, sparsity=float(self.meta.get("sparsity", 0.8)),
                        beta_loss=self.meta.get("beta_loss", 2), max_iter=max_iter, tol=0, progress=False,
                        device=device)
        nmf.components_ = self.W
        nmf.n_components_ = self.n_components
        return nmf

    def transform(self, V, *, max_iter: int = 200, device: str | None = "cpu") -> np.ndarray:
        """Activations H ``(K, n_frames)`` of log-magnitude frames ``V`` ``(n_freq, n_frames)`` for fixed W."""
        return self.estimator(max_iter=max_iter, device=device).transform(V)

    def reconstruct(self, x, preset: str | Preset = "cpu", *, max_iter: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A clip through the dictionary: H solved with W fixed, ``W H`` and its audio.

        Returns ``(V, W H, audio)``: the clip's log1p magnitude ``(n_freq, n_frames)``, its
        reconstruction, and the reconstruction made audible with the clip's own phase
        (:func:`l2i_core.audio.masks.component_audio` of every atom), as long as ``x``.
        """
        fe = FrontEnd(preset)
        x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        V, phase = fe.magnitude_phase(x)
        H = self.transform(V.numpy(), max_iter=max_iter)
        y = component_audio(self.W, H, V, phase, range(self.n_components), fe, length=x.shape[-1])
        return V.numpy(), self.W @ H, y

    def spectral_centroids(self, preset: str | Preset = "cpu") -> np.ndarray:
        """Spectral centroid of every atom in Hz, ``(K,)``."""
        p = get_preset(preset)
        freqs = np.linspace(0, p.sr / 2, self.W.shape[0])
        return (freqs[:, None] * self.W).sum(axis=0) / self.W.sum(axis=0).clip(1e-12)


def listen_to_atoms(dictionary: Dictionary, dataset, atoms, preset: str | Preset = "cpu", *, split: str = "train",
                    max_clips: int = 24, window: float = 2.0, max_iter: int = 100):
    """For each atom, the clip where it is most active and its audio there.

    The atom's soft-masked part of that clip is resynthesised with the clip's phase and cropped to
    ``window`` seconds around the frame of peak activation.

    Returns
    -------
    list of dict
        ``{"atom", "uid", "label", "start_s", "audio"}`` per atom.
    """
    p = get_preset(preset)
    fe = FrontEnd(p)
    sub = dataset.split(split)
    sub = sub.subset(range(min(max_clips, len(sub))))
    x = torch.from_numpy(sub.load_batch(preset=p))
    V, phase = fe.magnitude_phase(x)
    Hs = [dictionary.transform(V[i].numpy(), max_iter=max_iter) for i in range(len(sub))]
    out = []
    half = int(window * p.sr / 2)
    for k in atoms:
        # the clip where atom k carries the largest *share* of the activation (not merely the
        # loudest clip, which would pick the same broadband clip for most atoms)
        best = int(np.argmax([H[k].sum() / max(float(H.sum()), 1e-12) for H in Hs]))
        y = component_audio(dictionary.W, Hs[best], V[best], phase[best], [k], fe, length=x.shape[-1])
        centre = int(np.argmax(Hs[best][k])) * p.hop_length
        start = max(0, min(centre - half, len(y) - 2 * half))
        r = sub[best]
        out.append({"atom": int(k), "uid": r.uid, "label": "+".join(r.labels), "start_s": start / p.sr,
                    "audio": y[start : start + 2 * half]})
    return out


def gather_frames(dataset, preset: str | Preset = "cpu", *, split: str = "train", silence_db: float | None = 60.0,
                  max_clips: int | None = None, batch_size: int = 16, progress: bool = True,
                  label: str | None = None) -> np.ndarray:
    """Stack the log1p-magnitude frames ``V = log(1 + |STFT|)`` of one split.

    Parameters
    ----------
    dataset : AudioDataset
    preset : str or Preset
    split : str
        ``'train'`` by default: the dictionary must never see validation or test audio.
    silence_db : float or None
        Drop frames whose energy is more than ``silence_db`` dB below the loudest frame of their
        clip (ESC clips are padded with digital silence). ``None`` keeps every frame.
    max_clips : int or None
        Use at most this many clips (in dataset order), for quick runs.
    batch_size : int
        Clips per STFT batch.
    label : str or None
        Only clips carrying this label (per-class dictionaries).

    Returns
    -------
    V : np.ndarray [shape=(n_freq, n_frames), dtype=float32]
    """
    p = get_preset(preset)
    sub = _select_clips(dataset, split, label=label, max_clips=max_clips)
    return _frames(sub, p, silence_db=silence_db, batch_size=batch_size, progress=progress)


def _frames(sub, p: Preset, **kwargs) -> np.ndarray:
    """The kept frames of every clip of ``sub`` side by side, ``(n_freq, n_frames)`` (:func:`_clip_frames`)."""
    return torch.cat(_clip_frames(sub, p, **kwargs), dim=1).numpy()


def _select_clips(dataset, split: str = "train", *, label: str | None = None, max_clips: int | None = None):
    """The clips :func:`gather_frames` uses: one split, optionally one label, at most ``max_clips``."""
    sub = dataset.split(split)
    if label is not None:
        sub = sub.subset([i for i, r in enumerate(sub) if label in r.labels])
    if max_clips is not None:
        sub = sub.subset(range(min(max_clips, len(sub))))
    if len(sub) == 0:
        raise ParameterError(f"{dataset.name}: no {split} clips{f' of class {label!r}' if label else ''} to learn from")
    return sub


def _clip_frames(sub, p: Preset, *, silence_db: float | None, batch_size: int = 16,
                 progress: bool = True) -> list[torch.Tensor]:
    """Kept log1p-magnitude frames of every clip of ``sub``, one ``(n_freq, n_kept)`` tensor per clip."""
    fe = FrontEnd(p)
    chunks = []
    with torch.no_grad():
        for s in batch_starts(len(sub), batch_size, progress=progress, desc=f"frames of {sub.name}"):
            x = torch.from_numpy(sub.load_batch(range(s, min(s + batch_size, len(sub))), p))
            V = fe.log_magnitude(x)  # (B, F, T)
            if silence_db is not None:
                energy = torch.expm1(V).pow(2).sum(dim=1)  # (B, T)
                ref = energy.amax(dim=1, keepdim=True)
                keep = 10 * torch.log10(energy.clamp_min(1e-20) / ref.clamp_min(1e-20)) > -silence_db
            else:
                keep = torch.ones(V.shape[0], V.shape[2], dtype=torch.bool)
            chunks += [V[b][:, keep[b]] for b in range(V.shape[0])]
    return chunks


def learn_dictionary(
    dataset,
    preset: str | Preset = "cpu",
    *,
    n_components: int = 100,
    sparsity: float = 0.8,
    per_class: int | None = None,
    beta_loss: float | str = 2,
    max_iter: int = 200,
    tol: float = 1e-4,
    seed: int = 0,
    silence_db: float | None = 60.0,
    max_clips: int | None = None,
    device: str | None = None,
    progress: bool = True,
    memory_gb: float | None = None,
    stream_epochs: int = 5,
    scratch_dir: str | Path | None = None,
) -> Dictionary:
    """Learn the L2I dictionary on the training split of ``dataset``.

    Parameters
    ----------
    dataset : AudioDataset
    preset : str or Preset
    n_components : int
        K for the single-dictionary mode (ESC: 100).
    sparsity : float
        µ, the L1 weight on the activations (0.8 in the official dictionaries).
    per_class : int or None
        Per-class mode: atoms per class (SONYC-UST: 10). Each class's atoms are learned on the
        frames of its training clips next to ``per_class`` frozen noise atoms (learned first on
        frames of all training clips), which are dropped afterwards. Classes with no training clip
        get no atoms (and are listed in ``meta['classes_without_atoms']``).
    beta_loss, max_iter, tol, seed, device, progress
        Passed to :class:`~l2i_core.nmf.sparse_nmf.SparseNMF`.
    silence_db, max_clips
        As in :func:`gather_frames` (the frames are gathered the same way).
    memory_gb : float or None
        The memory budget (:func:`~l2i_core._memory.memory_budget_gb`). When the training split could
        give more frames than :func:`frames_in_memory`, they are written to ``scratch_dir`` (a temporary
        folder by default, removed afterwards), at most :data:`MAX_STREAM_FRAMES`, and W is learned
        by :meth:`~l2i_core.nmf.sparse_nmf.SparseNMF.fit_minibatch` over ``stream_epochs`` passes
        (``meta['mode']`` ends in ``"-streamed"``).

    Returns
    -------
    Dictionary
    """
    p = get_preset(preset)
    t0 = time.perf_counter()
    common = dict(sparsity=sparsity, beta_loss=beta_loss, max_iter=max_iter, tol=tol, random_state=seed,
                  device=device, progress=progress)
    meta = {
        "dataset": dataset.name, "preset": p.to_dict(), "sr": p.sr, "n_fft": p.n_fft, "split": "train",
        "sparsity": sparsity,
        "beta_loss": beta_loss, "max_iter": max_iter, "tol": tol, "seed": seed, "silence_db": silence_db,
        "max_clips": max_clips, "l2i_version": __version__,
    }
    n_freq = p.n_fft // 2 + 1
    duration = getattr(dataset, "duration", None)
    selected = _select_clips(dataset, max_clips=max_clips)
    if duration and len(selected) * p.n_frames(duration) > frames_in_memory(n_freq, memory_gb):
        W, streamed = _learn_streamed(dataset, selected, p, n_components=n_components, per_class=per_class,
                                      common=common, silence_db=silence_db, seed=seed, epochs=int(stream_epochs),
                                      scratch_dir=scratch_dir, progress=progress)
        meta.update(streamed, memory_gb=memory_budget_gb(memory_gb))
    elif per_class is None:
        V = _frames(selected, p, silence_db=silence_db, progress=progress)
        nmf = SparseNMF(n_components, **common)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            nmf.fit(V)
        W = nmf.components_
        meta.update(
            mode="single", n_components=int(W.shape[1]), n_frames=int(V.shape[1]),
            objective=nmf.objective_, reconstruction_err=nmf.reconstruction_err_, n_iter=nmf.n_iter_,
            objective_history=nmf.objective_history_,
            converged=not any("max_iter" in str(w.message) for w in caught),
            relative_error=float(np.sqrt(2 * nmf.reconstruction_err_) / np.linalg.norm(V)) if beta_loss in (2, "frobenius") else None,
        )
    else:
        # Each clip is decoded and analysed once, however many of the fits (noise, its classes) use it.
        selections = {None: selected}
        empty = []
        for c in dataset.classes:
            try:
                selections[c] = _select_clips(dataset, label=c, max_clips=max_clips)
            except ParameterError:
                empty.append(c)
        needed = {r.uid: r for sel in selections.values() for r in sel}
        union = dataset.replace_records(list(needed.values()))
        by_uid = dict(zip(needed, _clip_frames(union, p, silence_db=silence_db, progress=progress)))

        def frames_of(sel) -> np.ndarray:
            return torch.cat([by_uid[r.uid] for r in sel], dim=1).numpy()

        V_all = frames_of(selections[None])
        common["tol"] = 0  # per-class fits run their max_iter iterations each
        noise = SparseNMF(per_class, **common).fit(V_all)
        n_all = int(V_all.shape[1])
        del V_all  # the class fits read by_uid: one copy of the frames, not two
        atoms, atom_classes, per_class_meta = [], [], {}
        for c in dataset.classes:
            if c in empty:
                continue
            Vc = frames_of(selections[c])
            nmf = SparseNMF(per_class, fixed_components=noise.components_, **common)
            nmf.fit(Vc)
            atoms.append(nmf.components_[:, per_class:])  # drop the frozen noise atoms
            atom_classes += [c] * per_class
            per_class_meta[c] = {"n_frames": int(Vc.shape[1]), "objective": nmf.objective_,
                                 "n_iter": nmf.n_iter_, "objective_history": nmf.objective_history_}
        if not atoms:
            raise ParameterError(f"{dataset.name}: no class has training clips; cannot learn per-class atoms")
        W = np.concatenate(atoms, axis=1)
        meta.update(
            mode="per_class", per_class=per_class, n_components=int(W.shape[1]), atom_classes=atom_classes,
            classes_without_atoms=empty, per_class_fits=per_class_meta, noise_objective=noise.objective_,
            n_frames=n_all,
        )
    meta["seconds"] = round(time.perf_counter() - t0, 2)
    meta["device"] = str(resolve_device(device))
    return Dictionary(W=W.astype(np.float32), meta=meta)


def _learn_streamed(dataset, selected, p: Preset, *, n_components, per_class, common, silence_db, seed, epochs,
                    scratch_dir, progress) -> tuple[np.ndarray, dict]:
    """W learned by mini-batches from frames written to disk (see :func:`learn_dictionary`); ``(W, meta)``."""
    n_freq = p.n_fft // 2 + 1
    quota = max(1, math.ceil(MAX_STREAM_FRAMES / len(selected)))
    rng = np.random.default_rng([seed, 1000])  # the subsample of frames, apart from the NMF initialisation
    fit_kw = {k: v for k, v in common.items() if k not in ("max_iter", "tol")}
    fit_kw["solver"] = "hals"
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="l2i-frames-", dir=scratch_dir) as tmp:
        path = Path(tmp) / "frames.npy"
        ranges, n_written = [], 0
        upper = len(selected) * min(quota, p.n_frames(dataset.duration))
        with NpyRowWriter(path, (upper, n_freq)) as writer:
            for start in batch_starts(len(selected), 16, progress=progress, desc=f"frames of {selected.name} to disk"):
                sub = selected.subset(range(start, min(start + 16, len(selected))))
                for r, V in zip(sub, _clip_frames(sub, p, silence_db=silence_db, batch_size=16, progress=False)):
                    V = V.T  # frames as rows
                    if len(V) > quota:
                        V = V[np.sort(rng.choice(len(V), quota, replace=False))]
                    writer[n_written : n_written + len(V)] = V
                    ranges.append((n_written, n_written + len(V), r.labels))
                    n_written += len(V)
        frames = DiskRows(path, n_rows=n_written)  # the file was sized for the most frames a clip may give

        def rows_of(clips):
            """A callable giving, per pass, chunks of about 4096 frames of ``clips`` (seeded clip order)."""
            passes = iter(range(1 << 30))

            def chunks():
                order = np.random.default_rng([seed, 2000, next(passes)]).permutation(len(clips))
                buf, size = [], 0
                for i in order:
                    a, b = clips[i]
                    buf.append(frames[range(a, b)].numpy())
                    size += b - a
                    if size >= 4096:
                        yield np.concatenate(buf)
                        buf, size = [], 0
                if buf:
                    yield np.concatenate(buf)
            return chunks

        everything = [(a, b) for a, b, _ in ranges]
        meta = {"n_frames": int(n_written), "frames_per_clip_max": int(quota), "stream_epochs": epochs,
                "solver": "hals mini-batch"}
        if per_class is None:
            nmf = SparseNMF(n_components, **fit_kw).fit_minibatch(frames, batch_frames=4096, n_epochs=epochs)
            W = nmf.components_
            meta.update(mode="single-streamed", n_components=int(W.shape[1]),
                        batch_objective_history=[float(v) for v in nmf.batch_objective_history_])
        else:
            noise = SparseNMF(per_class, **fit_kw).fit_minibatch(rows_of(everything), n_epochs=epochs,
                                                                n_frames=n_written)
            atoms, atom_classes, per_class_meta, empty = [], [], {}, []
            for c in dataset.classes:
                mine = [(a, b) for a, b, labels in ranges if c in labels]
                if not mine:
                    empty.append(c)
                    continue
                n_c = sum(b - a for a, b in mine)
                nmf = SparseNMF(per_class, fixed_components=noise.components_, **fit_kw)
                nmf.fit_minibatch(rows_of(mine), n_epochs=epochs, n_frames=n_c)
                atoms.append(nmf.components_[:, per_class:])
                atom_classes += [c] * per_class
                per_class_meta[c] = {"n_frames": int(n_c), "n_iter": nmf.n_iter_,
                                     "batch_objective_history": [float(v) for v in nmf.batch_objective_history_]}
            if not atoms:
                raise ParameterError(f"{dataset.name}: no class has training clips; cannot learn per-class atoms")
            W = np.concatenate(atoms, axis=1)
            meta.update(mode="per_class-streamed", per_class=per_class, n_components=int(W.shape[1]),
                        atom_classes=atom_classes, classes_without_atoms=empty, per_class_fits=per_class_meta)
    meta["stream_seconds"] = round(time.perf_counter() - t0, 2)
    return W, meta


def save_dictionary(dictionary: Dictionary, path: str | Path, *, preset: str | Preset | None = None) -> Path:
    """Write ``<path>.npy`` (W) and ``<path>.json`` (metadata); returns the ``.npy`` path.

    The sidecar records ``sr`` and ``n_fft``: from ``preset`` when given (W must then have
    ``preset.n_freq`` rows), else from the dictionary's own metadata (``learn_dictionary`` records
    them). A dictionary whose sample rate is unknown is written with ``sr: null``, and
    :func:`load_dictionary` then needs ``sr=`` to use it with a preset.
    """
    meta = dict(dictionary.meta)
    if preset is not None:
        p = get_preset(preset)
        _check_grid(dictionary.W, {**meta, "sr": meta.get("sr", p.sr), "n_fft": meta.get("n_fft", p.n_fft)},
                    p, Path(path).name)
        meta.update(sr=p.sr, n_fft=p.n_fft)
    else:
        meta.update(sr=_recorded(meta, "sr"), n_fft=_recorded(meta, "n_fft"))
    path = Path(path).with_suffix(".npy")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, dictionary.W)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2, default=float) + "\n")
    return path


def _recorded(meta: dict, key: str):
    """``sr`` or ``n_fft`` as a sidecar records it (top level, or inside the ``preset`` it was learned with)."""
    value = meta.get(key)
    if value is None and isinstance(meta.get("preset"), dict):
        value = meta["preset"].get(key)
    return None if value is None else int(value)


def _check_grid(W: np.ndarray, meta: dict, p: Preset, name: str) -> None:
    """Refuse, in one line, a dictionary whose sample rate, n_fft or row count is not ``p``'s."""
    sr, n_fft = _recorded(meta, "sr"), _recorded(meta, "n_fft")
    if W.shape[0] != p.n_freq:
        raise ParameterError(f"{name} has {W.shape[0]} frequency rows but preset {p.name!r} has {p.n_freq} bins "
                             f"(n_fft {p.n_fft}); learn a dictionary for this preset (notebook 01)")
    if sr is not None and sr != p.sr:
        raise ParameterError(f"{name} was learned at {sr} Hz but preset {p.name!r} runs at {p.sr} Hz; use a preset "
                             f"at {sr} Hz or learn a dictionary for this one (notebook 01)")
    if n_fft is not None and n_fft != p.n_fft:
        raise ParameterError(f"{name} was learned with n_fft {n_fft} but preset {p.name!r} uses n_fft {p.n_fft}; "
                             "learn a dictionary for this preset (notebook 01)")


def load_dictionary(path: str | Path, *, preset: str | Preset | None = None, sr: int | None = None) -> Dictionary:
    """Read a dictionary written by :func:`save_dictionary`, checked against the preset in use.

    Parameters
    ----------
    path : path
        ``W.npy`` (the ``.json`` sidecar beside it is read when present).
    preset : str, Preset or None
        The preset the dictionary will be used with: its sample rate, ``n_fft`` and number of
        frequency bins must be the dictionary's. None checks nothing against a preset.
    sr : int or None
        The sample rate W was learned at, for a file whose sidecar does not record it (a bare
        ``.npy``, e.g. the official ``initW_*.npy`` dictionaries: 44 100 Hz, n_fft 1024).

    Raises
    ------
    ParameterError
        A missing or invalid file; a bare ``.npy`` without ``sr`` (or a sidecar that records no rate,
        loaded for a preset); ``sr`` contradicting the sidecar; a sample rate, ``n_fft`` or row count
        that is not the preset's.
    """
    path = Path(path).with_suffix(".npy")
    if not path.is_file():
        raise ParameterError(f"{path}: no dictionary file; learn one with learn_dictionary() or notebook 01")
    W = np.load(path, allow_pickle=False)
    if W.ndim != 2 or (W < 0).any() or not np.isfinite(W).all():
        raise ParameterError(f"{path}: not a valid dictionary (must be a finite, non-negative 2-D array)")
    side = path.with_suffix(".json")
    meta = json.loads(side.read_text()) if side.is_file() else {}
    recorded = _recorded(meta, "sr")
    if sr is not None:
        if recorded is not None and recorded != int(sr):
            raise ParameterError(f"{path}: sr={sr} was given but its sidecar records {recorded} Hz")
        meta.setdefault("n_fft", 2 * (W.shape[0] - 1))
        meta["sr"] = int(sr)
    elif recorded is None and (preset is not None or not side.is_file()):
        what = "has no sidecar (.json)" if not side.is_file() else "has a sidecar that records no sample rate"
        raise ParameterError(f"{path} {what}: state the rate it was learned at, e.g. load_dictionary(path, "
                             "preset=..., sr=44100), or save it with save_dictionary(d, path, preset=...)")
    if preset is not None:
        _check_grid(W, meta, get_preset(preset), path.name)
    return Dictionary(W=W.astype(np.float32), meta=meta)
