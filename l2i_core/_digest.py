"""Digests of what shapes a trained model: the code that trains it and the clips it was trained on (a leaf module,
so that every layer can record them; :mod:`l2i_core.pipeline.provenance` compares them)."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__all__ = ["TRAINING_CODE", "code_digest", "clips_digest"]

#: The parts of ``l2i_core`` whose code shapes a trained model: a change in any retrains what reuse checks.
TRAINING_CODE = ("config.py", "audio", "models", "nmf", "train")

_PACKAGE = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=4)
def code_digest(parts: tuple[str, ...] = TRAINING_CODE) -> str:
    """sha256 over the relative paths and contents of every ``*.py`` file of ``l2i_core/<part>`` (a file, or a folder)."""
    h = hashlib.sha256()
    for part in parts:
        where = _PACKAGE / part
        for f in ([where] if where.is_file() else sorted(where.rglob("*.py"))):
            if "__pycache__" in f.parts:
                continue
            h.update(f.relative_to(_PACKAGE).as_posix().encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def clips_digest(dataset) -> str:
    """sha256 of the dataset's clips: each record's uid, split, labels and file size (when on disk), in order."""
    h = hashlib.sha256()
    for r in dataset:
        path = getattr(r, "path", None)
        size = Path(path).stat().st_size if path is not None and Path(path).is_file() else ""
        h.update(f"{r.uid}\t{r.split}\t{','.join(map(str, r.labels))}\t{size}\n".encode())
    return h.hexdigest()
