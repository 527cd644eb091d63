"""Save and load every trained model: state dicts beside a JSON sidecar, read with ``weights_only=True``.

* A model checkpoint is two files: ``<name>.pt``, a plain state dict written with ``torch.save``, and
  ``<name>.json``, everything needed to rebuild the module (preset, classes, architecture, ...) and
  what its training recorded (history, selected epoch, thresholds).
* Every ``torch.load`` here passes ``weights_only=True``: a checkpoint can hold tensors, numbers,
  strings, lists and dicts, never pickled code.
* A state dict may also be kept in shards (:func:`save_state_dict` with ``max_shard_bytes``; the shipped explainers
  of :mod:`l2i_core.pipeline.shipped` are, to keep every committed file under 2 MB): ``<name>.pt`` then holds an
  index, ``{"l2i_shards": [{"file", "sha256", "keys"}, ...]}``, and the tensors are in ``<name>-<i>-of-<n>.pt``
  beside it. :func:`load_state_dict` reads either kind, checking each shard's sha256.
* :func:`save_training_state` / :func:`load_training_state` hold the resumable state of a run
  (``<name>_last.pt``: model, optimiser, EMA, best state, random generators) for
  :mod:`l2i_core.train.engine`.

================  =====================================  ==========================================
model             files                                  written by
================  =====================================  ==========================================
classifier f      ``classifier.pt`` + ``.json``          :func:`l2i_core.train.recipes.train_classifier`
interpreter Ψ, Θ  ``interpreter_<pooling>.pt`` + ``.json``  :func:`l2i_core.train.recipes.train_interpreter`
================  =====================================  ==========================================
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import torch
from torch import nn

from l2i_core._errors import ParameterError
from l2i_core.models.classifier import ArchConfig, AudioCNN
from l2i_core.models.efficientat import EfficientATClassifier
from l2i_core.models.interpreter import L2IInterpreter
from l2i_core.models.lmac import LMACDecoder
from l2i_core.models.pretrained import AiSFXClassifier

__all__ = ["save_classifier", "load_classifier", "save_interpreter", "load_interpreter", "save_training_state",
           "load_training_state", "claim_resume_state", "cpu_state", "save_lmac", "load_lmac", "save_state_dict",
           "load_state_dict", "SHARD_INDEX_KEY"]

#: The key of a sharded state dict's index (what ``<name>.pt`` holds when its tensors are in shards).
SHARD_INDEX_KEY = "l2i_shards"


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of ``module``'s state dict."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _write(model: nn.Module, pt: Path, sidecar: dict) -> Path:
    pt.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, pt)
    pt.with_suffix(".json").write_text(json.dumps(sidecar, indent=2, default=float) + "\n")
    return pt


def _nbytes(v) -> int:
    return v.numel() * v.element_size() if torch.is_tensor(v) else 64


def save_state_dict(state: dict, pt: str | Path, *, max_shard_bytes: int | None = None) -> list[Path]:
    """Write ``state`` to ``pt``, in one file or, with ``max_shard_bytes``, in shards of about that size.

    Sharded, ``pt`` holds the index (each shard's file name, sha256 and keys) and the tensors go, in key order,
    into ``<stem>-<i>-of-<n>.pt`` beside it; a shard is closed before it would pass ``max_shard_bytes`` of
    tensor data, so a file passes it only by ``torch.save``'s few kB of framing, or when one tensor alone is
    larger (it then gets a shard of its own); a state that fits one shard is written whole. Shards of an
    earlier save of the same ``pt`` are removed.

    Returns
    -------
    list of Path
        Every file written, the index (or the single file) first.
    """
    if max_shard_bytes is not None and max_shard_bytes <= 0:
        raise ParameterError(f"max_shard_bytes={max_shard_bytes}: give a positive size in bytes")
    pt = Path(pt)
    pt.parent.mkdir(parents=True, exist_ok=True)
    for old in pt.parent.glob(f"{pt.stem}-*-of-*.pt"):
        old.unlink()
    groups, size = [[]], 0
    for k, v in state.items():
        if max_shard_bytes is not None and groups[-1] and size + _nbytes(v) > max_shard_bytes:
            groups.append([])
            size = 0
        groups[-1].append(k)
        size += _nbytes(v)
    if len(groups) == 1:
        torch.save(state, pt)
        return [pt]
    index = []
    for i, keys in enumerate(groups, 1):
        f = pt.with_name(f"{pt.stem}-{i}-of-{len(groups)}.pt")
        buf = io.BytesIO()
        torch.save({k: state[k] for k in keys}, buf)
        f.write_bytes(buf.getvalue())
        index.append({"file": f.name, "sha256": hashlib.sha256(buf.getvalue()).hexdigest(), "keys": keys})
    torch.save({SHARD_INDEX_KEY: index}, pt)
    return [pt, *(pt.with_name(e["file"]) for e in index)]


def load_state_dict(pt: str | Path, *, map_location="cpu") -> dict:
    """Read a state dict written by :func:`save_state_dict` (one file or sharded), ``weights_only=True``.

    Raises
    ------
    ParameterError
        A shard is missing, or its sha256 differs from the index's (one line: what to do).
    """
    pt = Path(pt)
    state = torch.load(pt, map_location=map_location, weights_only=True)
    if not (isinstance(state, dict) and SHARD_INDEX_KEY in state):
        return state
    out = {}
    for entry in state[SHARD_INDEX_KEY]:
        f = pt.with_name(entry["file"])
        if not f.is_file():
            raise ParameterError(f"{f}: shard of {pt.name} missing; restore the folder (git checkout, or copy every "
                                 f"{pt.stem}-*-of-*.pt with {pt.name})")
        data = f.read_bytes()  # read once: checked, then loaded
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise ParameterError(f"{f}: sha256 differs from {pt.name}'s index (corrupt, or from another save); "
                                 f"restore the folder (git checkout) or save the state again")
        part = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
        if list(part) != list(entry["keys"]):
            raise ParameterError(f"{f}: holds other keys than {pt.name}'s index names; save the state again")
        out.update(part)
    return out


def _read(pt: Path, what: str, notebook: str) -> tuple[dict, dict]:
    side = pt.with_suffix(".json")
    if not pt.is_file() or not side.is_file():
        raise ParameterError(f"{pt}: no {what} checkpoint (.pt + .json); train one with notebook {notebook}")
    state = load_state_dict(pt)
    # a state saved in half precision (the shipped explainers, l2i_core.pipeline.shipped) is read back as float32
    state = {k: v.float() if torch.is_tensor(v) and v.dtype == torch.float16 else v for k, v in state.items()}
    return state, json.loads(side.read_text())


def save_classifier(model: AudioCNN, out_dir: str | Path, *, meta: dict) -> Path:
    """Write ``classifier.pt`` (state dict) and ``classifier.json`` (``meta``) in ``out_dir``.

    Parameters
    ----------
    model : AudioCNN
    out_dir : path
    meta : dict
        The sidecar; :func:`load_classifier` needs ``classes``, ``preset``, ``multilabel`` and ``arch``
        (``dataclasses.asdict`` of the :class:`~l2i_core.models.classifier.ArchConfig`).

    Returns
    -------
    Path
        The ``.pt`` file.
    """
    missing = {"classes", "preset", "multilabel", "arch"} - set(meta)
    if missing:
        raise ParameterError(f"classifier sidecar lacks {sorted(missing)}; load_classifier needs them")
    return _write(model, Path(out_dir) / "classifier.pt", meta)


def load_classifier(path: str | Path, *, device: str | torch.device | None = "cpu") -> tuple[AudioCNN, dict]:
    """Rebuild a classifier saved by :func:`save_classifier` (``weights_only=True``), in eval mode.

    Parameters
    ----------
    path : path
        ``classifier.pt`` or the folder holding it.
    device : str or None

    Returns
    -------
    model : AudioCNN
    meta : dict
        Preset, classes, thresholds, history, ...
    """
    path = Path(path)
    if path.is_dir():
        path = path / "classifier.pt"
    state, meta = _read(path, "classifier", "02")
    kind = meta["arch"].get("kind")
    if kind in ("aisfx", "efficientat"):
        a = meta["arch"]
        cls = AiSFXClassifier if kind == "aisfx" else EfficientATClassifier
        model = cls(len(meta["classes"]), meta["preset"], multilabel=meta["multilabel"], hidden=a["hidden"],
                                dropout=a["dropout"], trainable=a["trainable"], pretrained=False)
        model.load_state_dict(state)
        return model.to(device or "cpu").eval(), meta
    arch = ArchConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["arch"].items()})
    model = AudioCNN(len(meta["classes"]), meta["preset"], multilabel=meta["multilabel"], arch=arch)
    model.load_state_dict(state)
    return model.to(device or "cpu").eval(), meta


def save_interpreter(model: L2IInterpreter, out_dir: str | Path, *, meta: dict) -> Path:
    """Write ``interpreter_<pooling>.pt`` (state dict, W included) and its ``.json`` sidecar.

    The sidecar is ``meta`` plus :meth:`~l2i_core.models.interpreter.L2IInterpreter.config` (tap channels,
    classes, frames, pooling, K, dropout), which :func:`load_interpreter` rebuilds the module from.
    """
    return _write(model, Path(out_dir) / f"interpreter_{model.pooling}.pt", {**meta, **model.config()})


def load_interpreter(path: str | Path, *, device: str | torch.device | None = "cpu") -> tuple[L2IInterpreter, dict]:
    """Rebuild an interpreter saved by :func:`save_interpreter` (``weights_only=True``), in eval mode.

    Returns
    -------
    interpreter : L2IInterpreter
    meta : dict
    """
    state, meta = _read(Path(path).with_suffix(".pt"), "interpreter", "03")
    model = L2IInterpreter(state["decoder.W"].numpy(), meta["tap_channels"], meta["n_classes"], meta["n_frames"],
                           pooling=meta["pooling"], dropout=meta.get("dropout", 0.4))
    model.load_state_dict(state)
    return model.to(device or "cpu").eval(), meta


def save_training_state(state: dict, path: str | Path) -> Path:
    """Write the resumable state of a run (tensors, numbers, lists and dicts only) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def claim_resume_state(state_path: str | Path, request: dict) -> Path:
    """Make ``state_path`` (a resume state, ``*_last.pt``) safe to resume for ``request``.

    ``request`` (JSON-able: what the training is for) is written beside the state as
    ``<name>.request.json``; a state left there by another request, or by none recorded, is removed
    first, so a training resumes only its own interrupted run. Returns the request file.
    """
    state_path = Path(state_path)
    req = state_path.with_name(state_path.name.removesuffix("_last.pt") + ".request.json")
    want = json.loads(json.dumps(request))
    try:
        before = json.loads(req.read_text())
    except (OSError, ValueError):
        before = None
    if before != want:
        state_path.unlink(missing_ok=True)
        req.parent.mkdir(parents=True, exist_ok=True)
        req.write_text(json.dumps(want, indent=1) + "\n")
    return req


def load_training_state(path: str | Path, *, device: str | torch.device = "cpu") -> dict:
    """Read a state written by :func:`save_training_state` (``weights_only=True``)."""
    return torch.load(Path(path), map_location=device, weights_only=True)
def save_lmac(decoder: LMACDecoder, out_dir: str | Path, *, meta: dict) -> Path:
    """Write ``lmac.pt`` (state dict) and ``lmac.json`` (``meta`` + :meth:`LMACDecoder.config`) in ``out_dir``."""
    return _write(decoder, Path(out_dir) / "lmac.pt", {**meta, **decoder.config()})
def load_lmac(path: str | Path, *, device: str | torch.device | None = "cpu") -> tuple[LMACDecoder, dict]:
    """Rebuild a decoder saved by :func:`save_lmac` (``weights_only=True``), in eval mode.

    Parameters
    ----------
    path : path
        ``lmac.pt`` or the folder holding it.

    Returns
    -------
    decoder : LMACDecoder
    meta : dict
    """
    path = Path(path)
    if path.is_dir():
        path = path / "lmac.pt"
    state, meta = _read(path, "L-MAC", "08")
    dec = LMACDecoder(meta["tap_channels"], meta["n_freq"], meta["n_frames"], n_masks=meta["n_masks"],
                      width=meta["width"], head_width=meta["head_width"])
    dec.load_state_dict(state)
    return dec.to(device or "cpu").eval(), meta
