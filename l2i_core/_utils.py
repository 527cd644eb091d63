"""Small helpers that several modules need, written once.

* :func:`resolve_device`: ``None`` means CUDA when available, else the CPU.
* :func:`sigmoid`, :func:`softmax`: numerically stable numpy versions.
* :func:`probabilities`: sigmoid (multi-label) or softmax (multi-class) of torch logits.
* :func:`check_class_target`: one check of a class index against the number of classes.
* :func:`batch_starts`: the start index of every batch over ``n`` items, with an optional tqdm bar.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from l2i_core._errors import ParameterError
from l2i_core._numpy import sigmoid, softmax  # re-exported: the numpy forms live in a torch-free leaf

__all__ = ["resolve_device", "module_device", "sigmoid", "softmax", "probabilities", "check_class_target", "batch_starts"]


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``torch.device(device)``; ``None`` or ``""`` means ``"cuda"`` when it is available, else ``"cpu"``."""
    if device is None or device == "":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def module_device(module: torch.nn.Module, device: str | torch.device | None = None) -> torch.device:
    """``device`` when given, else the device of ``module``'s first parameter or buffer (the CPU if it has none)."""
    if device is not None and device != "":
        return torch.device(device)
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def probabilities(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Sigmoid of ``logits`` (multi-label) or softmax over the last axis (multi-class)."""
    return torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=-1)


def check_class_target(target, n_classes: int, *, name: str = "target") -> int:
    """Return ``target`` as an ``int`` in ``[0, n_classes)`` or raise one clear :class:`ParameterError`."""
    try:
        value = int(target)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={target!r} must be a class index (an integer)") from None
    if value != target or not 0 <= value < n_classes:
        raise ParameterError(f"{name}={target!r} is not a class index in [0, {n_classes})")
    return value


#: Clips per forward pass where f (with its taps, Ψ and Θ) only infers: mask-in / mask-out, FF, the
#: deletion / insertion curves, the explanations themselves, the activation caches and the validation
#: passes of the training loops. In eval mode a clip's output does not depend on the clips beside it, so
#: this changes the time, not the numbers (``benchmarks/bench_inference_batch.py`` checks both: every
#: output bit for bit the same as with 32 clips, and 1.2-1.9x faster on a 2-core CPU, natively and as an
#: AVX2 CPU, since a small batch's activations stay in cache). Training batches are a protocol setting
#: and are not this.
INFERENCE_BATCH_SIZE = 4


def batch_starts(n: int, batch_size: int, *, progress: bool = False, desc: str | None = None,
                 unit: str = "batch") -> Iterable[int]:
    """``range(0, n, batch_size)``, wrapped in a transient tqdm bar when ``progress`` is true."""
    if batch_size < 1:
        raise ParameterError(f"batch_size must be >= 1, got {batch_size}")
    starts = range(0, int(n), int(batch_size))
    if not progress:
        return starts
    from tqdm.auto import tqdm

    return tqdm(starts, desc=desc, unit=unit, leave=False)
