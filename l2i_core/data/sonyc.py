"""SONYC-UST v2 layout: ``annotations.csv`` + ``audio/``, 10 s clips, 8 coarse multi-label classes.

Layout (Cartwright et al., SONYC Urban Sound Tagging v2, DCASE 2020 task 5)::

    <root>/annotations.csv      one row per (clip, annotator)
    <root>/audio/<audio_filename>
    <root>/stems/<uid>/<class>.wav   (only for mixtures built by l2i, e.g. ``urbanmix``)

The CSV schema follows the published v2 README:

* ``split`` is ``train``, ``validate`` or ``test`` (mapped to l2i's ``train`` / ``validation`` /
  ``test``).
* ``annotator_id`` > 0 is a citizen-science volunteer, < 0 a SONYC team member, and 0 the
  ground truth agreed by the SONYC team ("verified").
* presence columns hold 1 (present), 0 (absent) or -1 (not labelled in that row: team members
  annotated one coarse group at a time). -1 never counts as present.

Labels (as in the DCASE 2020 baseline's ``get_file_targets``): a training clip is positive for a
class when **any** volunteer marked it (OR over annotators, "minority vote"); validation and test
clips use only the verified (``annotator_id == 0``) row, and clips without one are left out of
those splits and counted in ``dataset.dropped``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from l2i_core._errors import DataNotFoundError, ParameterError
from l2i_core.data._csv import read_csv_checked
from l2i_core.data.records import AudioDataset, Record

__all__ = [
    "load_sonyc",
    "aggregate_labels",
    "read_annotations",
    "COARSE_CLASSES",
    "COARSE_COLUMNS",
    "FINE_CLASSES",
    "FINE_COLUMNS",
    "ANNOTATION_COLUMNS",
    "SONYC_LICENCE",
]

SONYC_LICENCE = (
    "SONYC-UST v2 by M. Cartwright et al. (SONYC Urban Sound Tagging, DCASE 2020), CC BY 4.0."
)

#: The 8 coarse classes, in the CSV's column order.
COARSE_CLASSES = [
    "engine",
    "machinery-impact",
    "non-machinery-impact",
    "powered-saw",
    "alert-signal",
    "music",
    "human-voice",
    "dog",
]
COARSE_COLUMNS = [f"{i}_{c}_presence" for i, c in enumerate(COARSE_CLASSES, start=1)]

#: Fine classes of the SONYC-UST taxonomy (dcase-ust-taxonomy.yaml), ``"<coarse>-<fine>_<name>"``.
FINE_CLASSES = [
    "1-1_small-sounding-engine", "1-2_medium-sounding-engine", "1-3_large-sounding-engine",
    "1-X_engine-of-uncertain-size",
    "2-1_rock-drill", "2-2_jackhammer", "2-3_hoe-ram", "2-4_pile-driver",
    "2-X_other-unknown-impact-machinery",
    "3-1_non-machinery-impact",
    "4-1_chainsaw", "4-2_small-medium-rotating-saw", "4-3_large-rotating-saw",
    "4-X_other-unknown-powered-saw",
    "5-1_car-horn", "5-2_car-alarm", "5-3_siren", "5-4_reverse-beeper",
    "5-X_other-unknown-alert-signal",
    "6-1_stationary-music", "6-2_mobile-music", "6-3_ice-cream-truck",
    "6-X_music-from-uncertain-source",
    "7-1_person-or-small-group-talking", "7-2_person-or-small-group-shouting",
    "7-3_large-crowd", "7-4_amplified-speech", "7-X_other-unknown-human-voice",
    "8-1_dog-barking-whining",
]
FINE_COLUMNS = [f"{c}_presence" for c in FINE_CLASSES]
FINE_PROXIMITY_COLUMNS = [f"{c}_proximity" for c in FINE_CLASSES]
META_COLUMNS = [
    "split", "sensor_id", "audio_filename", "annotator_id", "borough", "block",
    "latitude", "longitude", "year", "week", "day", "hour",
]
#: Full column list of a SONYC-UST v2 ``annotations.csv``.
ANNOTATION_COLUMNS = META_COLUMNS + FINE_COLUMNS + FINE_PROXIMITY_COLUMNS + COARSE_COLUMNS

REQUIRED_COLUMNS = ("split", "audio_filename", "annotator_id")
_SPLIT_MAP = {"train": "train", "validate": "validation", "validation": "validation", "test": "test"}
_COARSE_RX = re.compile(r"^(\d+)_([^_]+)_presence$")


def read_annotations(csv_path: str | Path) -> pd.DataFrame:
    """Read and validate a SONYC-UST-style ``annotations.csv``.

    Raises
    ------
    ParameterError
        If the CSV cannot be parsed, lacks ``split`` / ``audio_filename`` / ``annotator_id`` or any
        coarse ``<n>_<name>_presence`` column, or holds unknown splits or non-numeric labels.
    """
    csv_path = Path(csv_path)
    df = read_csv_checked(csv_path, REQUIRED_COLUMNS, "a SONYC-UST v2 annotations.csv with split, audio_filename, "
                          "annotator_id and <n>_<class>_presence columns")
    if not coarse_columns(df):
        raise ParameterError(f"{csv_path}: no coarse <n>_<class>_presence columns (e.g. 1_engine_presence)")
    bad_split = sorted(set(df["split"].astype(str)) - set(_SPLIT_MAP))
    if bad_split:
        raise ParameterError(f"{csv_path}: unknown split value(s) {bad_split}; expected train, validate, test")
    for c in coarse_columns(df) + ["annotator_id"]:
        if not pd.api.types.is_numeric_dtype(df[c]) or df[c].isna().any():
            raise ParameterError(f"{csv_path}: column {c!r} must hold integers (1, 0 or -1 for labels) in every row")
    clash = df.groupby("audio_filename")["split"].nunique()
    if (clash > 1).any():
        raise ParameterError(f"{csv_path}: clip {clash[clash > 1].index[0]!r} appears in several splits")
    return df


def coarse_columns(df: pd.DataFrame) -> list[str]:
    """The coarse presence columns of ``df``, in CSV order."""
    return [c for c in df.columns if _COARSE_RX.match(str(c))]


def aggregate_labels(annotations: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """One row of 0/1 coarse labels per clip, following the DCASE 2020 baseline.

    Parameters
    ----------
    annotations : pd.DataFrame
        Rows of a SONYC-UST ``annotations.csv`` (``split``, ``audio_filename``, ``annotator_id``
        and coarse presence columns).

    Returns
    -------
    labels : pd.DataFrame
        Indexed by ``audio_filename`` (sorted), with a ``split`` column (l2i names), an
        ``n_annotations`` column (rows used) and one int column per coarse class.
    dropped : list of str
        Validation/test clips left out because they have no verified (``annotator_id == 0``) row.

    Notes
    -----
    Train: OR over volunteer rows (``annotator_id > 0``); a train clip with no volunteer row
    falls back to its verified row. Validation/test: the verified row. A value of -1 (not
    labelled in that row) never counts as present.
    """
    cols = coarse_columns(annotations)
    df = annotations[["audio_filename", "split", "annotator_id"] + cols].copy()
    df["split"] = df["split"].astype(str).map(_SPLIT_MAP)
    ann = df["annotator_id"].to_numpy()
    is_train = (df["split"] == "train").to_numpy()
    has_crowd = df.assign(_c=ann > 0).groupby("audio_filename")["_c"].transform("any").to_numpy()
    use = np.where(is_train & has_crowd, ann > 0, ann == 0)
    used = df[use]
    positive = (used[cols] == 1).astype(int)
    positive["audio_filename"] = used["audio_filename"].to_numpy()
    labels = positive.groupby("audio_filename").max()
    labels.insert(0, "n_annotations", used.groupby("audio_filename").size())
    labels.insert(0, "split", df.groupby("audio_filename")["split"].first().reindex(labels.index))
    all_clips = df.groupby("audio_filename")["split"].first()
    dropped = sorted(set(all_clips.index) - set(labels.index))
    return labels.sort_index(), dropped


def load_sonyc(
    root: str | Path,
    *,
    name: str = "sonyc",
    licence: str = SONYC_LICENCE,
    duration: float = 10.0,
    check_audio: bool = True,
) -> AudioDataset:
    """Load a folder in the SONYC-UST v2 layout as a multi-label :class:`AudioDataset`.

    Parameters
    ----------
    root : path
        Folder with ``annotations.csv`` and ``audio/``.
    name : str
        Dataset name (``'sonyc'``, or ``'urbanmix'`` for l2i's mixtures).
    licence : str
        Licence text for reports.
    duration : float
        Clip length in seconds.
    check_audio : bool
        Fail when an annotated clip has no audio file.

    Returns
    -------
    AudioDataset
        Classes are the coarse class names in CSV order (``engine``, ..., ``dog``); records carry
        the stems found in ``<root>/stems/<uid>/`` (mixtures only). ``dataset.dropped`` lists
        validation/test clips without a verified annotation.
    """
    root = Path(root)
    csv_path = root / "annotations.csv"
    if not csv_path.is_file():
        raise DataNotFoundError(f"{root}: no annotations.csv; this is not a SONYC-UST-layout folder")
    df = read_annotations(csv_path)
    cols = coarse_columns(df)
    classes = [_COARSE_RX.match(c).group(2) for c in cols]
    labels, dropped = aggregate_labels(df)
    audio_dir = root / "audio"
    stems_dir = root / "stems"
    records, missing = [], []
    for fname, row in labels.iterrows():
        path = audio_dir / str(fname)
        if check_audio and not path.is_file():
            missing.append(str(fname))
            continue
        uid = Path(str(fname)).stem
        clip_stems = {}
        if (stems_dir / uid).is_dir():
            clip_stems = {p.stem: p for p in sorted((stems_dir / uid).iterdir()) if p.suffix.lower() in (".wav", ".flac", ".ogg")}
        present = tuple(c for c, col in zip(classes, cols) if row[col] == 1)
        records.append(
            Record(uid=uid, labels=present, split=row["split"], path=path,
                   metadata={"n_annotations": int(row["n_annotations"])}, stems=clip_stems)
        )
    if missing:
        raise DataNotFoundError(
            f"{audio_dir}: {len(missing)} of {len(labels)} annotated clips have no audio file "
            f"(first: {missing[0]}); download the audio archives into {audio_dir}"
        )
    return AudioDataset(
        name, records, classes, multilabel=True, duration=duration, root=root,
        protocol=(
            f"{name}: official train/validate/test split; train labels = OR over volunteer annotations, "
            f"validate/test labels = verified annotations"
            + (f" ({len(dropped)} unverified validate/test clips left out)" if dropped else "")
        ),
        licence=licence,
        dropped=dropped,
    )
