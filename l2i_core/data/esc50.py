"""ESC-50, ESC-10 and the ESC-50 fold-4 subset, all in the ESC-50 layout.

Layout (as distributed by K. J. Piczak, and as in ``$L2I_DATA/esc10`` / ``esc50_fold4``)::

    <root>/meta/esc50.csv   (or esc10.csv)   filename,fold,target,category,esc10,src_file,take
    <root>/audio/<fold>-<src_file>-<take>-<target>.{wav,ogg,flac}

Protocol: with several folds, fold ``test_fold`` (default 1) is the test split, ``val_fold``
(default 2) the validation split and the others train. ESC-50 already keeps the takes of one
``src_file`` in one fold. With a single fold (``esc50-fold4``) a grouped (by ``src_file``),
class-stratified 5-fold split is drawn from ``seed`` instead (``split_by='group'``): 1/5 test, 1/5 validation, 3/5 train.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from l2i_core._errors import DataNotFoundError, ParameterError
from l2i_core.data._csv import read_csv_checked
from l2i_core.data.records import AudioDataset, Record
from l2i_core.data.registry import find_dataset_dir
from l2i_core.data.splits import check_groups_within_splits, grouped_stratified_split

__all__ = ["load_esc", "read_esc_meta", "ESC_COLUMNS", "ESC10_LICENCE", "ESC50_LICENCE"]

ESC_COLUMNS = ("filename", "fold", "target", "category", "src_file", "take")
AUDIO_EXTENSIONS = (".wav", ".ogg", ".flac")

ESC10_LICENCE = (
    "ESC-10 by Karol J. Piczak (ESC: Dataset for Environmental Sound Classification, ACM MM 2015), "
    "CC BY 3.0; clips from freesound.org under their own licences (see the dataset's LICENSE)."
)
ESC50_LICENCE = (
    "ESC-50 by Karol J. Piczak (ESC: Dataset for Environmental Sound Classification, ACM MM 2015), "
    "CC BY-NC 3.0 (non-commercial); clips from freesound.org (see the dataset's LICENSE)."
)


def read_esc_meta(csv_path: Path) -> pd.DataFrame:
    """Read and validate an ESC-50-style metadata CSV.

    Raises
    ------
    ParameterError
        If the CSV cannot be parsed or lacks one of the ESC-50 columns.
    """
    csv_path = Path(csv_path)
    df = read_csv_checked(csv_path, ESC_COLUMNS, "the ESC-50 columns filename,fold,target,category,esc10,src_file,take")
    if df.empty:
        raise ParameterError(f"{csv_path}: no rows")
    try:
        df["fold"] = df["fold"].astype(int)
        df["target"] = df["target"].astype(int)
    except (TypeError, ValueError):
        raise ParameterError(f"{csv_path}: 'fold' and 'target' must be integers") from None
    if df[list(ESC_COLUMNS)].isna().any().any():
        raise ParameterError(f"{csv_path}: empty cells in the ESC-50 columns")
    if "esc10" in df.columns:
        df["esc10"] = df["esc10"].astype(str).str.lower().isin(["true", "1"])
    clash = df.groupby("target")["category"].nunique()
    if (clash > 1).any():
        raise ParameterError(f"{csv_path}: target id(s) {list(clash[clash > 1].index)} map to several categories")
    return df


def _find_csv(root: Path, esc10: bool) -> tuple[Path, bool]:
    """Locate the metadata CSV; returns (path, needs_esc10_filter)."""
    meta = root / "meta"
    if esc10 and (meta / "esc10.csv").exists():
        return meta / "esc10.csv", False
    if (meta / "esc50.csv").exists():
        return meta / "esc50.csv", esc10
    csvs = sorted(meta.glob("*.csv"))
    if len(csvs) == 1:
        return csvs[0], esc10
    raise DataNotFoundError(f"{meta}: no esc50.csv or esc10.csv; this is not an ESC-50-layout folder")


def _resolve_audio(audio_dir: Path, filenames: pd.Series) -> list[Path]:
    """Map CSV filenames to existing files, accepting .wav/.ogg/.flac for the same stem."""
    if not audio_dir.is_dir():
        raise DataNotFoundError(f"{audio_dir}: audio folder not found; the ESC-50 layout needs <root>/audio/")
    present: dict[str, Path] = {}
    for p in audio_dir.iterdir():
        if p.suffix.lower() in AUDIO_EXTENSIONS:
            present.setdefault(p.name, p)
            present.setdefault(p.stem, p)
    paths, missing = [], []
    for name in filenames:
        p = present.get(name) or present.get(Path(name).stem)
        if p is None:
            missing.append(name)
        paths.append(p)
    if missing:
        raise DataNotFoundError(
            f"{audio_dir}: {len(missing)} of {len(filenames)} clips listed in the CSV are missing "
            f"(first: {missing[0]}); re-download the dataset or fix its CSV"
        )
    return paths


def load_esc(
    root: str | Path,
    *,
    name: str = "esc50",
    esc10: bool = False,
    test_fold: int = 1,
    val_fold: int = 2,
    split_by: str = "fold",
    seed: int = 0,
) -> AudioDataset:
    """Load a dataset in the ESC-50 layout.

    Parameters
    ----------
    root : path
        Folder with ``meta/`` and ``audio/``.
    name : str
        Name given to the dataset (``'esc50'``, ``'esc10'``, ``'esc50-fold4'``).
    esc10 : bool
        Keep only the ESC-10 clips (``esc10`` column), when ``root`` holds full ESC-50.
    test_fold, val_fold : int
        Folds used as test and validation splits when ``split_by='fold'``.
    split_by : {'fold', 'group'}
        ``'fold'``: the official folds. ``'group'``: a class-stratified split grouped by
        ``src_file`` (for data that holds one fold only, such as ``esc50-fold4``).
    seed : int
        Seed of the ``'group'`` split.

    Returns
    -------
    AudioDataset
        Multi-class; classes are the categories in ``target`` order.
    """
    root = Path(root)
    csv_path, filter_esc10 = _find_csv(root, esc10)
    df = read_esc_meta(csv_path)
    if filter_esc10:
        if "esc10" not in df.columns:
            raise ParameterError(f"{csv_path}: no 'esc10' column to select the ESC-10 clips from")
        df = df[df["esc10"]].reset_index(drop=True)
    df = df.sort_values("filename").reset_index(drop=True)
    paths = _resolve_audio(root / "audio", df["filename"])

    cats = df.drop_duplicates("target").sort_values("target")
    classes = cats["category"].tolist()
    folds = sorted(df["fold"].unique())
    groups = df["src_file"].astype(str).to_numpy()

    if split_by not in ("fold", "group"):
        raise ParameterError(f"split_by must be 'fold' or 'group', got {split_by!r}")
    if split_by == "fold":
        for f, what in ((test_fold, "test_fold"), (val_fold, "val_fold")):
            if f not in folds:
                raise ParameterError(f"{what}={f} is not a fold of {name}; folds are {folds}")
        if test_fold == val_fold:
            raise ParameterError(f"test_fold and val_fold must differ, both are {test_fold}")
        splits = ["test" if f == test_fold else "validation" if f == val_fold else "train" for f in df["fold"]]
        check_groups_within_splits(splits, groups, what="src_file")
        train_folds = [f for f in folds if f not in (test_fold, val_fold)]
        protocol = (
            f"{name}: test fold {test_fold}, validation fold {val_fold}, "
            f"train folds {', '.join(map(str, train_folds))}"
        )
    else:
        splits = list(grouped_stratified_split(df["target"].to_numpy(), groups, n_folds=5, seed=seed))
        protocol = (
            f"{name}: clips of fold(s) {', '.join(map(str, folds))}, split 60/20/20 into train/validation/test "
            f"by a class-stratified split grouped by src_file (seed {seed})"
        )

    records = [
        Record(
            uid=Path(row.filename).stem,
            labels=(row.category,),
            split=split,
            path=path,
            metadata={
                "fold": int(row.fold),
                "target": int(row.target),
                "src_file": str(row.src_file),
                "take": str(row.take),
            },
        )
        for row, split, path in zip(df.itertuples(index=False), splits, paths)
    ]
    licence = ESC10_LICENCE if (esc10 or name == "esc10") else ESC50_LICENCE
    return AudioDataset(name, records, classes, duration=5.0, root=root, protocol=protocol, licence=licence)


#: The dataset names served by :func:`load_esc_dataset`.
ESC_NAMES = ("esc10", "esc50", "esc50-fold4")


def load_esc_dataset(name: str, *, data_dir=None, download: bool = False, seed: int = 0, **kwargs) -> AudioDataset:
    """Find and load one of :data:`ESC_NAMES` (the ``load_dataset`` branch for ESC data).

    ``esc50-fold4`` is split by source file (grouped, stratified, from ``seed``); the others by fold.
    """
    if name not in ESC_NAMES:
        raise ParameterError(f"{name!r} is not an ESC dataset; choose one of {ESC_NAMES}")
    root = find_dataset_dir(name, data_dir, download=download)
    kwargs.setdefault("split_by", "group" if name == "esc50-fold4" else "fold")
    return load_esc(root, name=name, esc10=(name == "esc10"), seed=seed, **kwargs)
