"""Activation cache: what the frozen classifier says about each clip, computed once.

The interpreter only ever needs, per clip, the three tapped maps of f, f's logits and the
log-magnitude spectrogram V. The official L2I code recomputes all of them on every batch of every
epoch; l2i computes them once, keeps them in memory (or in memory-mapped files when they are
large), and each epoch then costs only Ψ and Θ.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ._errors import ParameterError
from ._utils import batch_starts, resolve_device
from .audio import FrontEnd
from .classifier import FeatureTap
from .config import Preset, get_preset

__all__ = ["ActivationCache", "build_cache"]


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


def _alloc(shape, path: Path | None, name: str) -> torch.Tensor:
    if path is None:
        return torch.empty(shape, dtype=torch.float32)
    arr = np.lib.format.open_memmap(path / f"{name}.npy", mode="w+", dtype=np.float32, shape=tuple(shape))
    return torch.from_numpy(arr)


@torch.no_grad()
def build_cache(model: nn.Module, dataset, preset: str | Preset = "cpu", *, layer_names=None, device: str | None = None,
                batch_size: int = 16, memmap_dir: str | Path | None = None, max_memory_gb: float = 4.0,
                input_fn: Callable[[torch.Tensor], torch.Tensor] | None = None, progress: bool = True) -> ActivationCache:
    """Run the frozen classifier once over ``dataset`` and keep what the interpreter needs.

    Parameters
    ----------
    model : nn.Module
        The classifier (put in eval mode here; its weights are not touched).
    dataset : AudioDataset
    preset : str or Preset
    layer_names : sequence of str or None
        Layers to tap; default ``model.tap_layers`` (our :class:`~l2i_core.classifier.AudioCNN`).
    device : str or None
        Where f runs; the cache itself lives on the CPU.
    memmap_dir : path or None
        Write the cache as memory-mapped ``.npy`` files there. Used automatically (in a folder the
        caller must give) when the cache would exceed ``max_memory_gb``.
    input_fn : callable or None
        Waveforms ``(B, n_samples)`` → model input; default: the preset's log-mel front end.
    """
    p = get_preset(preset)
    dev = resolve_device(device)
    names = list(layer_names) if layer_names is not None else list(getattr(model, "tap_layers", []))
    if not names:
        raise ParameterError("give layer_names: the model has no tap_layers attribute")
    model = model.to(dev).eval()
    tap = FeatureTap(model, names)
    fe = FrontEnd(p).to(dev)
    input_fn = input_fn or fe.logmel
    n = len(dataset)
    if n == 0:
        raise ParameterError(f"{dataset.name}: no clips to cache")
    # one probe batch to learn the shapes
    x0 = torch.from_numpy(dataset.load_batch([0], p)).to(dev)
    logits0, maps0 = tap(input_fn(x0))
    V0 = fe.log_magnitude(x0)
    shapes = [(n, *m.shape[1:]) for m in maps0]
    keep_phase = not p.shared_stft  # f has its own STFT: masked spectrograms reach it through audio
    total = 4 * (sum(int(np.prod(s)) for s in shapes) + n * logits0.shape[1]
                 + (2 if keep_phase else 1) * n * int(np.prod(V0.shape[1:])))
    path = Path(memmap_dir) if memmap_dir is not None else None
    if path is None and total > max_memory_gb * 2**30:
        raise ParameterError(
            f"the activation cache would take {total / 2**30:.1f} GB (> max_memory_gb={max_memory_gb}); "
            "pass memmap_dir=<folder> to keep it in memory-mapped files"
        )
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
    maps = [_alloc(s, path, f"map{i}") for i, s in enumerate(shapes)]
    logits = _alloc((n, logits0.shape[1]), path, "logits")
    V = _alloc((n, *V0.shape[1:]), path, "V")
    phase = _alloc((n, *V0.shape[1:]), path, "phase") if keep_phase else None
    for s in batch_starts(n, batch_size, progress=progress, desc=f"caching f on {dataset.name}"):
        idx = range(s, min(s + batch_size, n))
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
    meta = {"dataset": dataset.name, "preset": p.name, "layers": names, "n_clips": n, "bytes": total,
            "n_samples": int(x0.shape[-1]),
            "memmap_dir": str(path) if path else None}
    if path is not None:
        (path / "cache.json").write_text(json.dumps({**meta, "uids": [r.uid for r in dataset]}, indent=2))
    return ActivationCache(maps=maps, logits=logits, V=V, uids=[r.uid for r in dataset], meta=meta, phase=phase)
