"""A user's own labelled audio: ``<root>/<class_name>/*.{wav,flac,ogg}``.

Classes are the sub-folder names in sorted order. The split is class-stratified (5 folds drawn
from ``seed``: 1/5 test, 1/5 validation, 3/5 train); files whose names share a ``group_pattern``
match stay in one split.
"""

from __future__ import annotations

import re
from pathlib import Path

from l2i_core._errors import DataNotFoundError, ParameterError
from l2i_core.data.records import AudioDataset, Record
from l2i_core.data.splits import grouped_stratified_split

__all__ = ["load_folder"]

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")


def load_folder(
    root: str | Path,
    *,
    duration: float = 5.0,
    seed: int = 0,
    group_pattern: str | None = None,
    licence: str = "user data (licence not stated)",
) -> AudioDataset:
    """Load a ``class_name/*.wav`` tree as a multi-class dataset.

    Parameters
    ----------
    root : path
    duration : float
        Clip length in seconds.
    seed : int
        Seed of the stratified split.
    group_pattern : str or None
        Regular expression; files whose names give the same first match (or group 1) are kept in
        one split, e.g. ``r"^[^-]+"`` for recordings named ``<source>-<take>.wav``. By default each
        file is its own group.
    licence : str
        Licence text shown in reports.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(f"{root}: folder not found; pass data_dir=<folder with one sub-folder per class>")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    items = []
    for d in class_dirs:
        for f in sorted(d.iterdir()):
            if f.suffix.lower() in AUDIO_EXTENSIONS:
                items.append((d.name, f))
    if not items:
        raise DataNotFoundError(f"{root}: no audio in <class_name>/*.wav|flac|ogg sub-folders")
    classes = sorted({c for c, _ in items})
    if len(classes) < 2:
        raise ParameterError(f"{root}: found only class {classes}; a classifier needs at least two class folders")
    counts = {c: sum(1 for k, _ in items if k == c) for c in classes}
    small = {c: n for c, n in counts.items() if n < 5}
    if small:
        raise ParameterError(f"{root}: classes {small} have fewer than 5 files; a stratified 5-fold split needs 5 each")
    if group_pattern:
        rx = re.compile(group_pattern)

        def group_of(f: Path) -> str:
            m = rx.search(f.stem)
            return f"{f.parent.name}/{(m.group(1) if m.groups() else m.group(0)) if m else f.stem}"
    else:
        def group_of(f: Path) -> str:
            return f"{f.parent.name}/{f.stem}"

    groups = [group_of(f) for _, f in items]
    splits = grouped_stratified_split([c for c, _ in items], groups, n_folds=5, seed=seed)
    records = [
        Record(uid=f"{c}/{f.stem}", labels=(c,), split=s, path=f, metadata={"group": g})
        for (c, f), s, g in zip(items, splits, groups)
    ]
    return AudioDataset(
        "folder", records, classes, duration=duration, root=root,
        protocol=f"folder {root.name}: class-stratified split 60/20/20 into train/validation/test (seed {seed})",
        licence=licence,
    )
