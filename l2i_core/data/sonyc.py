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
  annotated one coarse group at a time).

In the v2 file (18,510 clips, 62,022 rows) every clip has 3 volunteer rows; 1,380 clips also have a
verified row (all 664 test clips, 538 of the 4,308 validate clips, 178 of the 13,538 train clips),
and 1,331 of those have team rows too (the only rows holding -1).

Labels: ``label_rule`` picks one of three published rules, and the dataset's ``protocol`` (printed
under every table) names it.

``"dcase2020"`` (default): SONYC-UST v2's own baseline, ``sonyc-project/dcase2020task5-uststc-baseline``,
    ``src/classify.py`` (``get_file_targets``, ``get_subset_split``). Train: a class is positive
    when **any** volunteer (``annotator_id > 0``) marked it ("minority vote"); team and verified
    rows are ignored. Validate and test: only the clips with a verified row (``annotator_id == 0``),
    labelled by that row; the other clips are left out of those splits, counted in the protocol and
    listed in ``dataset.dropped`` (in v2: 3,770 validate clips, no test clip). l2i's default because
    it is how the dataset's authors train and score on v2, and because the paper's SONYC numbers
    are scored on verified labels.
``"l2i"``: the official L2I code, ``jayneelparekh/L2I-code``, ``dataloader.py`` (``SONYC_UST``:
    ``build_info`` and ``__getitem__``). Train: the sum of **every** row of the clip (volunteer,
    team rows with their -1 values, and the verified row) > 0.5, so a team row's -1 can cancel a
    volunteer's 1 and a team or verified 1 makes a positive; validate/test as ``"dcase2020"``. On
    v2 it differs from the default only on train clips with a verified row (59 of the 178).
``"dcase2019"``: the SONYC-UST v1 baseline, ``sonyc-project/urban-sound-tagging-baseline``,
    ``urban-sound-tagging-baseline/classify.py`` (``get_file_targets``). Every split: the verified
    row where the clip has one, else the sum of all its rows > 0; no clip is left out.

Under every rule a value of -1 alone never makes a positive (it is "not labelled", or counts
against under the summing rules). A train clip that has no volunteer row (not the case in v2, but
in l2i's ``urbanmix``-style files) is labelled by its verified row under ``"dcase2020"``.
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
    "coarse_columns",
    "LABEL_RULES",
    "COARSE_CLASSES",
    "COARSE_COLUMNS",
    "FINE_CLASSES",
    "FINE_COLUMNS",
    "FINE_PROXIMITY_COLUMNS",
    "META_COLUMNS",
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
#: Label rules of :func:`aggregate_labels` / :func:`load_sonyc`; the first is the default.
LABEL_RULES = ("dcase2020", "l2i", "dcase2019")
_RULE_TEXT = {
    "dcase2020": ("labels as SONYC-UST v2's DCASE 2020 baseline (label_rule='dcase2020'): train = OR over the "
                  "volunteer annotations, validate/test = the verified annotation"),
    "l2i": ("labels as the official L2I code (label_rule='l2i'): train = sum of all annotation rows (volunteer, "
            "SONYC team, verified) > 0.5, validate/test = the verified annotation"),
    "dcase2019": ("labels as the SONYC-UST v1 (DCASE 2019) baseline (label_rule='dcase2019'): every split = the "
                  "verified annotation where present, else the sum of all annotation rows > 0"),
}
_SPLIT_MAP = {"train": "train", "validate": "validation", "validation": "validation", "test": "test"}
_COARSE_RX = re.compile(r"^(\d+)_([^_]+)_presence$")
_SCHEMA = ("a SONYC-UST v2 annotations.csv (split, audio_filename, annotator_id and <n>_<class>_presence "
           "columns); use the file of the v2 release, Zenodo record 3966543, or l2i_core.data.download('sonyc')")


def _check_rule(label_rule: str) -> str:
    if label_rule not in LABEL_RULES:
        raise ParameterError(f"unknown label_rule {label_rule!r}; choose one of {', '.join(LABEL_RULES)}")
    return label_rule


def read_annotations(csv_path: str | Path) -> pd.DataFrame:
    """Read and validate a SONYC-UST-style ``annotations.csv``.

    Raises
    ------
    ParameterError
        One line naming the file, what is wrong and what to do: the CSV cannot be parsed, lacks
        ``split`` / ``audio_filename`` / ``annotator_id`` or any coarse ``<n>_<name>_presence``
        column, holds unknown splits, empty file names, a non-integer ``annotator_id``, or a coarse
        presence value other than 1, 0 or -1, or puts one clip in several splits.
    """
    csv_path = Path(csv_path)
    df = read_csv_checked(csv_path, REQUIRED_COLUMNS, _SCHEMA)
    cols = coarse_columns(df)
    if not cols:
        raise ParameterError(
            f"{csv_path}: no coarse <n>_<class>_presence column (e.g. 1_engine_presence); expected {_SCHEMA}")
    if df.empty:
        raise ParameterError(f"{csv_path}: no annotation rows; expected {_SCHEMA}")
    bad_split = sorted(set(df["split"].astype(str)) - set(_SPLIT_MAP))
    if bad_split:
        raise ParameterError(
            f"{csv_path}: unknown split value(s) {bad_split[:5]}; the split column must hold train, validate or test")
    if df["audio_filename"].isna().any():
        row = int(np.flatnonzero(df["audio_filename"].isna().to_numpy())[0]) + 2
        raise ParameterError(f"{csv_path}: empty audio_filename on line {row}; every row must name its clip")
    for c in ["annotator_id"] + cols:
        v = pd.to_numeric(df[c], errors="coerce")
        allowed = v.notna() & (v == v.round()) & (v.isin([-1, 0, 1]) if c != "annotator_id" else True)
        if not allowed.all():
            i = int(np.flatnonzero(~allowed.to_numpy())[0])
            bad = df[c].iloc[i]
            bad = bad.item() if isinstance(bad, np.generic) else bad
            what = "integers" if c == "annotator_id" else "integers 1, 0 or -1 (present, absent, not labelled)"
            raise ParameterError(
                f"{csv_path}: column {c!r} must hold {what} in every row; line {i + 2} holds {bad!r} "
                "(restore the original SONYC-UST file)")
        df[c] = v.astype(int)
    clash = df.groupby("audio_filename")["split"].nunique()
    if (clash > 1).any():
        raise ParameterError(
            f"{csv_path}: clip {clash[clash > 1].index[0]!r} appears in several splits; a clip belongs to one split")
    return df


def coarse_columns(df: pd.DataFrame) -> list[str]:
    """The coarse presence columns of ``df``, in CSV order."""
    return [c for c in df.columns if _COARSE_RX.match(str(c))]


def aggregate_labels(annotations: pd.DataFrame, *, label_rule: str = "dcase2020") -> tuple[pd.DataFrame, list[str]]:
    """One row of 0/1 coarse labels per clip, by one of the published rules (see the module notes).

    Parameters
    ----------
    annotations : pd.DataFrame
        Rows of a SONYC-UST ``annotations.csv`` (``split``, ``audio_filename``, ``annotator_id``
        and coarse presence columns).
    label_rule : {'dcase2020', 'l2i', 'dcase2019'}
        ``'dcase2020'`` (default, SONYC-UST v2's baseline): train = OR over volunteer rows,
        validate/test = the verified row, clips without one left out. ``'l2i'`` (the official L2I
        code): train = sum of every row > 0.5, validate/test as ``'dcase2020'``. ``'dcase2019'``
        (the v1 baseline): every split = the verified row if any, else sum of every row > 0.

    Returns
    -------
    labels : pd.DataFrame
        Indexed by ``audio_filename`` (sorted), with a ``split`` column (l2i names), an
        ``n_annotations`` column (rows used), a ``verified`` column (the clip has an
        ``annotator_id == 0`` row) and one 0/1 int column per coarse class.
    dropped : list of str
        Clips left out (sorted): validation/test clips without a verified row (``'dcase2020'``,
        ``'l2i'``), and train clips with neither a volunteer nor a verified row (``'dcase2020'``).

    Notes
    -----
    "Any row marks it" counts only values of 1; the summing rules add the values as they are, so a
    -1 counts against. Under every rule a -1 alone never makes a positive.
    """
    rule = _check_rule(label_rule)
    cols = coarse_columns(annotations)
    df = annotations[["audio_filename", "split", "annotator_id"] + cols].copy()
    df["split"] = df["split"].astype(str).map(_SPLIT_MAP)
    ann = df["annotator_id"].to_numpy()
    clip = df["audio_filename"]
    is_train = (df["split"] == "train").to_numpy()
    is_ver = ann == 0
    has_ver = pd.Series(is_ver, index=df.index).groupby(clip).transform("any").to_numpy()
    has_crowd = pd.Series(ann > 0, index=df.index).groupby(clip).transform("any").to_numpy()
    if rule == "dcase2020":
        use = np.where(is_train & has_crowd, ann > 0, is_ver)
        summed = np.zeros(len(df), bool)
    elif rule == "l2i":
        use = np.where(is_train, True, is_ver)
        summed = is_train
    else:  # dcase2019
        use = np.where(has_ver, is_ver, True)
        summed = ~has_ver
    values = df[cols].to_numpy()
    contrib = np.where(summed[:, None], values, values == 1).astype(int)
    used = pd.DataFrame(contrib[use], columns=cols, index=clip[use].to_numpy())
    grouped = used.groupby(level=0)
    labels = (grouped.sum() > 0).astype(int)
    labels.index.name = "audio_filename"
    first = df.groupby("audio_filename")
    labels.insert(0, "verified", pd.Series(has_ver, index=clip.to_numpy()).groupby(level=0).first()
                  .reindex(labels.index).astype(bool))
    labels.insert(0, "n_annotations", grouped.size())
    labels.insert(0, "split", first["split"].first().reindex(labels.index))
    dropped = sorted(set(first.groups) - set(labels.index))
    return labels.sort_index(), dropped


def load_sonyc(
    root: str | Path,
    *,
    name: str = "sonyc",
    licence: str = SONYC_LICENCE,
    duration: float = 10.0,
    check_audio: bool = True,
    label_rule: str = "dcase2020",
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
    label_rule : {'dcase2020', 'l2i', 'dcase2019'}
        How the annotation rows become labels (see :func:`aggregate_labels` and the module notes);
        the protocol string names it.

    Returns
    -------
    AudioDataset
        Classes are the coarse class names in CSV order (``engine``, ..., ``dog``); records carry
        the stems found in ``<root>/stems/<uid>/`` (mixtures only) and, in ``metadata``,
        ``n_annotations`` (rows used) and ``verified``. ``dataset.dropped`` lists the clips the
        rule leaves out (validation/test clips without a verified annotation, by default), and the
        protocol says how many per split.
    """
    rule = _check_rule(label_rule)
    root = Path(root)
    csv_path = root / "annotations.csv"
    if not csv_path.is_file():
        raise DataNotFoundError(f"{root}: no annotations.csv; this is not a SONYC-UST-layout folder")
    df = read_annotations(csv_path)
    cols = coarse_columns(df)
    classes = [_COARSE_RX.match(c).group(2) for c in cols]
    labels, dropped = aggregate_labels(df, label_rule=rule)
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
                   metadata={"n_annotations": int(row["n_annotations"]), "verified": bool(row["verified"])},
                   stems=clip_stems)
        )
    if missing:
        raise DataNotFoundError(
            f"{audio_dir}: {len(missing)} of {len(labels)} annotated clips have no audio file "
            f"(first: {missing[0]}); download the audio archives into {audio_dir}"
        )
    split_of = df.groupby("audio_filename")["split"].first().map(_SPLIT_MAP)
    per_split = split_of.reindex(dropped).value_counts()
    held = [f"{int(per_split[s]):,} {s}" for s in ("validation", "test") if per_split.get(s, 0)]
    left_out = [f"{' and '.join(held)} clip(s) without a verified annotation"] if held else []
    if per_split.get("train", 0):
        left_out.append(f"{int(per_split['train']):,} train clip(s) without a volunteer or verified annotation")
    return AudioDataset(
        name, records, classes, multilabel=True, duration=duration, root=root,
        protocol=(
            f"{name}: official train/validate/test split; {_RULE_TEXT[rule]}"
            + (f"; left out: {'; '.join(left_out)}" if left_out else "")
        ),
        licence=licence,
        dropped=dropped,
    )
