"""Activation cache: what the frozen classifier says about each clip, computed once.

The interpreter only ever needs, per clip, the three tapped maps of f, f's logits and the
log-magnitude spectrogram V. The official L2I code recomputes all of them on every batch of every
epoch; l2i computes them once, keeps them in memory (or on disk when they are large: ``.npy`` files
written with file writes and read a batch of rows at a time, :class:`~l2i_core._memory.DiskRows`),
and each epoch then costs only Ψ and Θ.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from l2i_core._errors import ParameterError
from l2i_core._memory import DiskRows, NpyRowWriter
from l2i_core._utils import INFERENCE_BATCH_SIZE, batch_starts, resolve_device
from l2i_core.audio.frontend import FrontEnd
from l2i_core.config import Preset, get_preset
from l2i_core.models.classifier import FeatureTap
from l2i_core.train.distributed import barrier, dist_info, shard_range

__all__ = ["ActivationCache", "build_cache", "load_cache", "ShardedArray", "per_clip_bytes", "cache_bytes_per_clip"]


@dataclass
class ActivationCache:
    """Per-clip tapped maps, classifier logits and log-magnitude spectrograms.

    Attributes
    ----------
    maps : list of torch.Tensor [shape=(n_clips, C_i, F_i, T_i)]
    logits : torch.Tensor [shape=(n_clips, n_classes)]
    V : torch.Tensor [shape=(n_clips, n_freq, n_frames)]
        ``log(1 + |STFT|)`` of each clip.
    uids : list of str
    phase : torch.Tensor or None [shape=(n_clips, n_freq, n_frames)]
        The STFT phase, kept only where f has its own STFT (the ``aisfx`` preset): a masked V then
        reaches f through audio.
    """

    maps: list[torch.Tensor]
    logits: torch.Tensor
    V: torch.Tensor
    uids: list[str]
    meta: dict = field(default_factory=dict)
    H_nmf: torch.Tensor | None = None  # (n_clips, K, n_frames), see add_nmf_activations
    phase: torch.Tensor | None = None

    @property
    def length(self) -> int | None:
        """Samples per clip (the iSTFT length where the phase is kept)."""
        n = self.meta.get("n_samples")
        return int(n) if n is not None else None

    def phase_batch(self, idx, device=None) -> torch.Tensor | None:
        """The phase of the clips ``idx`` (None where the cache keeps no phase)."""
        if self.phase is None:
            return None
        out = self.phase[torch.as_tensor(idx, dtype=torch.long)]
        return out.to(device) if device is not None else out

    def __len__(self) -> int:
        return len(self.uids)

    @property
    def tap_channels(self) -> list[int]:
        return [int(m.shape[1]) for m in self.maps]

    @property
    def n_frames(self) -> int:
        return int(self.V.shape[-1])

    def batch(self, idx, device=None) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """``(maps, logits, V)`` of the clips ``idx`` (a 1-D index tensor or list)."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        out = [m[idx] for m in self.maps], self.logits[idx], self.V[idx]
        if device is not None:
            out = [m.to(device, non_blocking=True) for m in out[0]], out[1].to(device), out[2].to(device)
        return out

    def add_nmf_activations(self, dictionary, *, max_iter: int = 100, device: str | None = None) -> None:
        """Solve H_nmf (W fixed) for every cached clip; the optional auxiliary target of the loss."""
        n, F_, T = self.V.shape
        V = self.V.permute(1, 0, 2).reshape(F_, n * T).numpy()  # all frames side by side
        H = dictionary.transform(V, max_iter=max_iter, device=device)
        self.H_nmf = torch.from_numpy(H).reshape(-1, n, T).permute(1, 0, 2).contiguous()

    def nbytes(self) -> int:
        extra = [self.phase] if self.phase is not None else []
        return sum(t.numel() * t.element_size() for t in [*self.maps, self.logits, self.V, *extra])


def _alloc(shape, path: Path | None, name: str):
    """A tensor in memory, or (``path`` given) a ``.npy`` file there filled row block by row block."""
    if path is None:
        return torch.empty(shape, dtype=torch.float32)
    return NpyRowWriter(path / f"{name}.npy", shape)


@torch.no_grad()
def build_cache(model: nn.Module, dataset, preset: str | Preset = "cpu", *, layer_names=None, device: str | None = None,
                batch_size: int = INFERENCE_BATCH_SIZE, memmap_dir: str | Path | None = None, max_memory_gb: float = 4.0,
                input_fn: Callable[[torch.Tensor], torch.Tensor] | None = None, progress: bool = True,
                shard_dir: str | Path | None = None, meta: dict | None = None) -> ActivationCache:
    """Run the frozen classifier once over ``dataset`` and keep what the interpreter needs.

    Parameters
    ----------
    model : nn.Module
        The classifier (put in eval mode here; its weights are not touched).
    dataset : AudioDataset
    preset : str or Preset
    layer_names : sequence of str or None
        Layers to tap; default ``model.tap_layers`` (our :class:`~l2i_core.models.classifier.AudioCNN`).
    device : str or None
        Where f runs; the cache itself lives on the CPU.
    memmap_dir : path or None
        Write the cache as ``.npy`` files there (rows written with file writes) and return it read from
        them: kept in memory when it fits ``max_memory_gb``, else read a batch of rows at a time
        (:func:`load_cache`). Without it, a cache larger than ``max_memory_gb`` is refused: the
        notebooks pass a folder by themselves past their budget
        (:func:`l2i_core.pipeline.steps.split_caches`).
    input_fn : callable or None
        Waveforms ``(B, n_samples)`` → model input; default: the preset's log-mel front end.
    shard_dir : path or None
        Write a *sharded* cache there (required under ``torchrun``): rank r computes its contiguous
        share of the clips (:func:`~l2i_core.train.distributed.shard_range`) into ``shard-<r>/``
        (``.npy`` arrays and ``index.json``); rank 0 then writes ``cache.json`` and every rank returns
        the union (:func:`load_cache`), read from disk by rows when it exceeds ``max_memory_gb``.
    meta : dict or None
        Recorded in the written ``cache.json`` (with ``memmap_dir`` or ``shard_dir``) and in the
        returned cache's ``meta``: what a later run checks before reusing the files (the
        classifier's fingerprint, the clips).
    """
    p = get_preset(preset)
    info = dist_info()
    if info.distributed and shard_dir is None:
        raise ParameterError("under torchrun, build_cache needs shard_dir=<folder>: each rank writes its shard there")
    if shard_dir is not None:
        return _build_sharded(model, dataset, p, Path(shard_dir), layer_names=layer_names, device=device,
                              batch_size=batch_size, input_fn=input_fn, progress=progress and info.is_main,
                              max_memory_gb=max_memory_gb, extra=meta or {})
    n = len(dataset)
    if n == 0:
        raise ParameterError(f"{dataset.name}: no clips to cache")
    path = Path(memmap_dir) if memmap_dir is not None else None
    return _compute(model, dataset, p, range(n), path, layer_names=layer_names, device=device, batch_size=batch_size,
                    input_fn=input_fn, progress=progress, max_memory_gb=max_memory_gb, extra=meta or {})


def _tapped(model, p: Preset, layer_names, device, input_fn):
    """``(device, layer names, FeatureTap, FrontEnd, input_fn)`` of a cache of ``model`` (in eval mode there)."""
    dev = resolve_device(device)
    names = list(layer_names) if layer_names is not None else list(getattr(model, "tap_layers", []))
    if not names:
        raise ParameterError("give layer_names: the model has no tap_layers attribute")
    model = model.to(dev).eval()
    fe = FrontEnd(p).to(dev)
    return dev, names, FeatureTap(model, names), fe, input_fn or fe.logmel


def _compute(model, dataset, p: Preset, clips: range, path: Path | None, *, layer_names, device, batch_size,
             input_fn, progress, max_memory_gb, desc: str = "", extra: dict | None = None) -> ActivationCache:
    """The cache of the clips ``clips`` of ``dataset``, in memory or as ``.npy`` files under ``path``."""
    dev, names, tap, fe, input_fn = _tapped(model, p, layer_names, device, input_fn)
    n = len(clips)
    # one probe batch to learn the shapes (the first clip of the dataset, the same on every rank)
    x0 = torch.from_numpy(dataset.load_batch([0], p)).to(dev)
    logits0, maps0 = tap(input_fn(x0))
    V0 = fe.log_magnitude(x0)
    keep_phase = not p.shared_stft  # f has its own STFT: masked spectrograms reach it through audio
    total = per_clip_bytes([m.shape[1:] for m in maps0], logits0.shape[1], V0.shape[1:], keep_phase) * n
    if path is None and total > max_memory_gb * 2**30:
        raise ParameterError(
            f"the activation cache would take {total / 2**30:.1f} GB (> max_memory_gb={max_memory_gb}); "
            "pass memmap_dir=<folder> to keep it on disk, read by batches of rows"
        )
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
    maps = [_alloc((n, *m.shape[1:]), path, f"map{i}") for i, m in enumerate(maps0)]
    logits = _alloc((n, logits0.shape[1]), path, "logits")
    V = _alloc((n, *V0.shape[1:]), path, "V")
    phase = _alloc((n, *V0.shape[1:]), path, "phase") if keep_phase else None
    for s in batch_starts(n, batch_size, progress=progress, desc=desc or f"caching f on {dataset.name}"):
        idx = clips[s : s + batch_size]
        x = torch.from_numpy(dataset.load_batch(idx, p)).to(dev)
        lg, mp = tap(input_fn(x))
        sl = slice(s, s + len(idx))
        for dst, m in zip(maps, mp):
            dst[sl] = m.float().cpu()
        logits[sl] = lg.float().cpu()
        if phase is None:
            V[sl] = fe.log_magnitude(x).cpu()
        else:
            v, ph = fe.magnitude_phase(x)
            V[sl], phase[sl] = v.cpu(), ph.cpu()
    uids = [dataset.records[i].uid for i in clips]
    meta = {"dataset": dataset.name, "preset": p.name, "layers": names, "n_clips": n, "bytes": total,
            "n_samples": int(x0.shape[-1]), "memmap_dir": str(path) if path else None, **(extra or {})}
    if path is not None:
        for w in [*maps, logits, V, *([phase] if phase is not None else [])]:
            w.close()
        (path / "cache.json").write_text(json.dumps({**meta, "uids": uids}, indent=2))
        return load_cache(path, max_memory_gb=max_memory_gb)
    return ActivationCache(maps=maps, logits=logits, V=V, uids=uids, meta=meta, phase=phase)


@torch.no_grad()
def cache_bytes_per_clip(model: nn.Module, dataset, preset: str | Preset = "cpu", *, layer_names=None,
                         device: str | None = None, input_fn=None) -> int:
    """Bytes one clip of ``dataset`` takes in the cache of ``model`` (one forward pass on its first clip):
    what :func:`build_cache` would hold is this times the number of clips."""
    p = get_preset(preset)
    if len(dataset) == 0:
        return 0
    dev, _, tap, fe, input_fn = _tapped(model, p, layer_names, device, input_fn)
    x0 = torch.from_numpy(dataset.load_batch([0], p)).to(dev)
    logits0, maps0 = tap(input_fn(x0))
    return per_clip_bytes([m.shape[1:] for m in maps0], logits0.shape[1], fe.log_magnitude(x0).shape[1:],
                          not p.shared_stft)


def per_clip_bytes(map_shapes, n_classes: int, v_shape, keep_phase: bool) -> int:
    """Bytes of one clip in the cache (float32): its tapped maps, logits, V (and the phase, when kept)."""
    return 4 * (sum(int(np.prod(s)) for s in map_shapes) + int(n_classes)
                + (2 if keep_phase else 1) * int(np.prod(v_shape)))


def _build_sharded(model, dataset, p: Preset, root: Path, *, layer_names, device, batch_size, input_fn, progress,
                   max_memory_gb, extra: dict) -> ActivationCache:
    info = dist_info()
    n = len(dataset)
    if n == 0:
        raise ParameterError(f"{dataset.name}: no clips to cache")
    mine = shard_range(n, info.rank, info.world_size)
    shard = root / f"shard-{info.rank:03d}"
    if len(mine):
        part = _compute(model, dataset, p, mine, shard, layer_names=layer_names, device=device, batch_size=batch_size,
                        input_fn=input_fn, progress=progress, max_memory_gb=max_memory_gb,
                        desc=f"caching f on {dataset.name} (rank {info.rank}/{info.world_size})")
        (shard / "index.json").write_text(json.dumps({"rank": info.rank, "start": mine.start, "stop": mine.stop,
                                                      "uids": part.uids}, indent=2))
        del part
    barrier()
    if info.is_main:
        shards = [r for r in range(info.world_size) if len(shard_range(n, r, info.world_size))]
        first = json.loads((root / f"shard-{shards[0]:03d}" / "cache.json").read_text())
        meta = {k: first[k] for k in ("dataset", "preset", "layers", "n_samples")}
        (root / "cache.json").write_text(json.dumps({**meta, "n_clips": n, "world_size": info.world_size,
                                                     "shards": [f"shard-{r:03d}" for r in shards], **extra}, indent=2))
    barrier()
    return load_cache(root, max_memory_gb=max_memory_gb)


class ShardedArray(DiskRows):
    """Rows of several ``.npy`` shards read as one array, without loading them.

    ``a[idx]`` (an index tensor, list or slice) reads only those rows, with ``os.pread`` into a fresh
    buffer (:class:`~l2i_core._memory.DiskRows`): an epoch over a cache larger than memory leaves the
    process no larger than one batch. ``parts`` are the shards' paths, or arrays loaded from them
    with ``np.load(..., mmap_mode=...)`` (their files are read).
    """

    def __init__(self, parts):
        super().__init__([Path(q.filename) if isinstance(q, np.memmap) else Path(q) for q in parts])


def load_cache(path: str | Path, *, max_memory_gb: float = 4.0) -> ActivationCache:
    """The cache written under ``path`` (sharded by :func:`build_cache` with ``shard_dir``, or one ``memmap_dir`` folder).

    Logits always come into memory (they are small). Maps, V and the phase come into memory when the
    whole cache fits in ``max_memory_gb``; otherwise they stay on disk (:class:`ShardedArray`, one
    or several shards), and a batch reads only its rows.
    """
    root = Path(path)
    side = root / "cache.json"
    if not side.is_file():
        raise ParameterError(f"{root}: no cache.json; build the cache with l2i build-cache (or build_cache(memmap_dir=...))")
    meta = json.loads(side.read_text())
    dirs = [root / d for d in meta["shards"]] if "shards" in meta else [root]
    names = sorted(q.stem for q in dirs[0].glob("map*.npy"))
    fields = names + ["logits", "V"] + (["phase"] if (dirs[0] / "phase.npy").is_file() else [])
    arrays = {f: ShardedArray([d / f"{f}.npy" for d in dirs]) for f in fields}
    total = sum(a.numel() * a.element_size() for a in arrays.values())
    fits = total <= max_memory_gb * 2**30

    def one(f: str):
        if f == "logits" or fits:
            return arrays[f][slice(None)]
        return arrays[f]

    uids = []
    for d in dirs:
        idx = d / "index.json"
        uids += json.loads(idx.read_text())["uids"] if idx.is_file() else json.loads((d / "cache.json").read_text())["uids"]
    n = len(uids)
    meta = {**meta, "n_clips": n, "bytes": int(total), "memmap_dir": None if fits else str(root)}
    return ActivationCache(maps=[one(f) for f in names], logits=one("logits"), V=one("V"), uids=uids, meta=meta,
                           phase=one("phase") if "phase" in arrays else None)
