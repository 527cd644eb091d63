"""Trained explainers that ship with the repository, so that ``l2i explain`` and ``l2i lab`` work right after install.

The committed run's classifier f and its attention interpreter Θ of two datasets are copied, in half precision, into
``<project>/trained/<dataset>-<preset>/`` (:data:`SHIPPED`: the from-scratch CNN on ESC-10 and EfficientAT mn04 on
the 50 ESC classes; its ``classifier.pt`` holds the whole fine-tuned network, so nothing else is fetched, and the
folder's ``LICENSE`` names the licences of what it derives from).
They are replaced only when the committed reports are regenerated (``l2i ship``). A folder of the project's own
``artifacts/`` (what ``make reproduce`` or notebooks 02-03 trained here) is preferred when it holds the same pair.

Half precision halves the files (the two pairs fit :data:`SHIP_BUDGET_MB`), and each state dict is written in
shards of at most :data:`SHARD_MB` (``classifier.pt`` is then the index of ``classifier-<i>-of-<n>.pt``, read by
:func:`~l2i_core.models.checkpoints.load_state_dict`), so no committed file passes 2 MB; they are read back as float32
(:func:`~l2i_core.models.checkpoints.load_classifier`), and a test checks that the shipped explainer gives the
same decisions and masks within 1e-2 of the full-precision one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pooch
import torch

from l2i_core._errors import ParameterError
from l2i_core.models.checkpoints import load_state_dict, save_state_dict
from l2i_core.pipeline.run import project_dir

__all__ = ["SHIPPED", "SHIPPED_FOLDER", "SHIP_BUDGET_MB", "SHARD_MB", "shipped_dir", "default_explainer_dir", "ship"]

#: The folder of the project that holds the shipped explainers.
SHIPPED_FOLDER = "trained"
#: What ships: ``<dataset>-<preset>`` folders of the default run.
SHIPPED = ("esc10-cpu", "esc50-fold4-efficientat")
#: The most the shipped files may weigh together, in MB.
SHIP_BUDGET_MB = 10.0
#: The most tensor data one shipped file holds, in MB (10**6 bytes): every committed file stays under 2 MB.
SHARD_MB = 1.9


def shipped_dir(name: str = SHIPPED[0]) -> Path:
    """``<project>/trained/<name>``."""
    return project_dir() / SHIPPED_FOLDER / name


def _has_pair(d: Path, head: str) -> bool:
    return all((d / f).is_file() for f in ("classifier.pt", "classifier.json", f"interpreter_{head}.pt",
                                            f"interpreter_{head}.json"))


def default_explainer_dir(name: str = SHIPPED[0], head: str = "attention") -> Path:
    """Where ``l2i explain`` and ``l2i lab`` find f and Θ when no ``--artifacts-dir`` is given: the project's
    ``artifacts/<name>`` when it holds them (trained here), else the shipped ``trained/<name>``.

    Raises
    ------
    ParameterError
        Neither holds them (one line: what to run).
    """
    for d in (project_dir() / "artifacts" / name, shipped_dir(name)):
        if _has_pair(d, head):
            return d
    raise ParameterError(f"no trained classifier and {head} interpreter in {project_dir() / 'artifacts' / name} or "
                         f"{shipped_dir(name)}; pass --artifacts-dir, or run `l2i reproduce --dataset "
                         f"{name.split('-')[0]}` first")


def _half(state: dict) -> dict:
    """Floating tensors in float16, except any that float16 cannot hold (beyond ±65504: kept in float32)."""
    out = {}
    for k, v in state.items():
        if torch.is_tensor(v) and v.is_floating_point():
            h = v.half()
            out[k] = h if bool(torch.isfinite(h).all()) or not bool(torch.isfinite(v).all()) else v
        else:
            out[k] = v
    return out


def _licence_text(src: Path) -> str:
    """What a shipped folder derives from, and under which licences."""
    meta = json.loads((src / "classifier.json").read_text())
    dataset, preset = meta.get("dataset", "?"), meta.get("preset", "?")
    lines = [f"Trained by l2i (MIT licence) on {dataset} with the {preset} preset; these are weights, not audio.",
             "The training data keep their licences:"]
    try:
        from l2i_core.data.registry import SOURCES

        if dataset in SOURCES and SOURCES[dataset].licence:
            lines.append(f"  {dataset}: {SOURCES[dataset].licence}")
    except ImportError:  # pragma: no cover
        pass
    if preset == "efficientat":
        from l2i_core.models.efficientat import EFFICIENTAT_CREDIT, EFFICIENTAT_LICENCE

        lines += ["The network is fine-tuned from EfficientAT mn04_as:", f"  {EFFICIENTAT_CREDIT}",
                  f"  Licence: {EFFICIENTAT_LICENCE}; Copyright (c) 2022 Florian Schmid (MIT: the notice and this",
                  "  permission notice shall be included in all copies or substantial portions of the Software)."]
    return "\n".join(lines) + "\n"


def ship(artifacts_dir, out_dir=None, *, heads=("attention",)) -> dict:
    """Copy f and the interpreters ``heads`` of ``artifacts_dir`` into ``out_dir`` (default
    ``<project>/trained/<artifacts folder name>``) in half precision, with their sidecars.

    Each state dict is written in shards of at most :data:`SHARD_MB` (an index in ``<stem>.pt``).
    Each sidecar gains ``shipped``: the source file's sha256, the dtype and what it was copied from; the
    sidecar's training history is kept (the report's numbers come from it).

    Returns
    -------
    dict
        File name → bytes written (the shards included).
    """
    src = Path(artifacts_dir)
    for head in heads:
        if not _has_pair(src, head):
            raise ParameterError(f"{src}: no classifier.pt and interpreter_{head}.pt (with sidecars) to ship")
    out = Path(out_dir) if out_dir is not None else shipped_dir(src.name)
    if out.resolve() == src.resolve():
        raise ParameterError(f"{out}: shipping onto the artifacts themselves")
    out.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for stem in ("classifier", *(f"interpreter_{h}" for h in heads)):
        pt = src / f"{stem}.pt"
        written = save_state_dict(_half(load_state_dict(pt)), out / f"{stem}.pt",
                                  max_shard_bytes=int(SHARD_MB * 1e6))
        meta = json.loads((src / f"{stem}.json").read_text())
        meta["shipped"] = {"from": f"{src.name}/{stem}.pt", "source_sha256": pooch.file_hash(str(pt), alg="sha256"), "dtype": "float16",
                           "shards": len(written) - 1}
        (out / f"{stem}.json").write_text(json.dumps(meta, indent=1) + "\n")
        sizes.update({f.name: f.stat().st_size for f in written})
        sizes[f"{stem}.json"] = (out / f"{stem}.json").stat().st_size
    (out / "LICENSE").write_text(_licence_text(src))
    sizes["LICENSE"] = (out / "LICENSE").stat().st_size
    return sizes
