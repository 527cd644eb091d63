"""The one record type every dataset returns, and the dataset container.

A :class:`Record` is one clip: where its audio is (a path, or a waveform in memory), its label(s),
its split, free-form metadata, and the per-class stems when the clip is a mixture whose sources are
known. An :class:`AudioDataset` is an ordered list of records with the class list, the protocol
description and the licence of the data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from l2i_core._errors import AudioError, ParameterError
from l2i_core.audio.waveform import fix_duration, load_audio, peak_normalize, validate_waveform
from l2i_core.config import Preset, get_preset

__all__ = ["Record", "AudioDataset", "SPLITS"]

#: Split names used throughout l2i (SONYC's ``validate`` is mapped to ``validation``).
SPLITS = ("train", "validation", "test")


@dataclass
class Record:
    """One clip.

    Parameters
    ----------
    uid : str
        Identifier, unique within its dataset (usually the file stem).
    labels : tuple of str
        Class names present in the clip: one for multi-class data, zero or more for multi-label.
    split : str
        ``'train'``, ``'validation'`` or ``'test'``.
    path : Path or None
        Audio file, when the clip lives on disk.
    waveform : np.ndarray or None [shape=(n_samples,)]
        Audio in memory, when there is no file (then ``sr`` is required).
    sr : int or None
        Sample rate of ``waveform``.
    metadata : dict
        Anything else the source knows (fold, source file, take, annotator counts, ...).
    stems : dict of str to Path
        Per-class source signals of a mixture, keyed by class name (``{}`` when unknown).
    """

    uid: str
    labels: tuple[str, ...]
    split: str
    path: Path | None = None
    waveform: np.ndarray | None = None
    sr: int | None = None
    metadata: dict = field(default_factory=dict)
    stems: dict[str, Path] = field(default_factory=dict)

    def __post_init__(self):
        self.labels = tuple(self.labels)
        if self.split not in SPLITS:
            raise ParameterError(f"record {self.uid!r}: split {self.split!r} is not one of {SPLITS}")
        if self.path is None and self.waveform is None:
            raise ParameterError(f"record {self.uid!r}: give a path or a waveform")
        if self.waveform is not None and self.sr is None:
            raise ParameterError(f"record {self.uid!r}: a waveform needs its sample rate sr")
        if self.path is not None:
            self.path = Path(self.path)
        self.stems = {k: Path(v) for k, v in self.stems.items()}

    @property
    def label(self) -> str:
        """The single label of a multi-class record."""
        if len(self.labels) != 1:
            raise ParameterError(f"record {self.uid!r} has {len(self.labels)} labels; use .labels")
        return self.labels[0]


class AudioDataset:
    """An ordered collection of :class:`Record` with its classes and protocol.

    Parameters
    ----------
    name : str
        Registry name (``'esc10'``, ``'sonyc'``, ...).
    records : sequence of Record
    classes : sequence of str
        Class names in output order (the classifier's logit order).
    multilabel : bool
        Whether clips may carry several labels (sigmoid outputs) or exactly one (softmax).
    duration : float
        Clip length in seconds that :meth:`load` pads or crops to.
    root : Path or None
        Folder the data was read from.
    protocol : str
        One sentence on the split, printed under every table.
    licence : str
        Licence and attribution of the audio, printed in every report that plays it.
    dropped : sequence of str
        Clips of the source left out by the loader (e.g. unverified SONYC validation clips).
    """

    def __init__(
        self,
        name: str,
        records: Sequence[Record],
        classes: Sequence[str],
        *,
        multilabel: bool = False,
        duration: float = 5.0,
        root: Path | None = None,
        protocol: str = "",
        licence: str = "",
        dropped: Sequence[str] = (),
    ):
        self.name = name
        self.records = list(records)
        self.classes = list(classes)
        self.multilabel = bool(multilabel)
        self.duration = float(duration)
        self.root = Path(root) if root is not None else None
        self.protocol = protocol
        self.licence = licence
        self.dropped = list(dropped)
        self._class_index = {c: i for i, c in enumerate(self.classes)}
        if len(self._class_index) != len(self.classes):
            raise ParameterError(f"{name}: duplicate class names in {self.classes}")
        for r in self.records:
            unknown = [lab for lab in r.labels if lab not in self._class_index]
            if unknown:
                raise ParameterError(f"{name}: record {r.uid!r} has unknown label(s) {unknown}")
            if not self.multilabel and len(r.labels) != 1:
                raise ParameterError(f"{name}: record {r.uid!r} has {len(r.labels)} labels in a multi-class dataset")

    # -- container protocol ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> Record:
        return self.records[i]

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __repr__(self) -> str:
        counts = ", ".join(f"{s}={n}" for s, n in self.split_sizes().items())
        kind = "multi-label" if self.multilabel else "multi-class"
        return f"AudioDataset({self.name!r}, {len(self)} clips, {len(self.classes)} classes, {kind}, {counts})"

    # -- views -------------------------------------------------------------------------------
    def subset(self, indices: Sequence[int]) -> AudioDataset:
        """A dataset with the same classes holding only ``records[i]`` for ``i`` in ``indices``."""
        return self.replace_records([self.records[i] for i in indices])

    def split(self, name: str) -> AudioDataset:
        """The records of one split (``'train'``, ``'validation'`` or ``'test'``)."""
        if name not in SPLITS:
            raise ParameterError(f"unknown split {name!r}; choose one of {SPLITS}")
        return self.subset([i for i, r in enumerate(self.records) if r.split == name])

    def split_sizes(self) -> dict[str, int]:
        """Number of clips per split, in ``SPLITS`` order."""
        return {s: sum(r.split == s for r in self.records) for s in SPLITS}

    def head(self, n: int) -> AudioDataset:
        """The first ``n`` records of every split (for quick runs), keeping split proportions simple."""
        keep: list[int] = []
        for s in SPLITS:
            keep += [i for i, r in enumerate(self.records) if r.split == s][:n]
        return self.subset(sorted(keep))

    def per_class(self, n: int, *, split: str | None = None) -> AudioDataset:
        """At most ``n`` clips of each class (first label), optionally from one split."""
        seen: dict[str, int] = {}
        keep = []
        for i, r in enumerate(self.records):
            if split is not None and r.split != split:
                continue
            key = r.labels[0] if r.labels else ""
            if seen.get(key, 0) < n:
                seen[key] = seen.get(key, 0) + 1
                keep.append(i)
        return self.subset(keep)

    # -- labels ------------------------------------------------------------------------------
    def class_index(self, name: str) -> int:
        """Index of a class name."""
        try:
            return self._class_index[name]
        except KeyError:
            raise ParameterError(f"{self.name}: unknown class {name!r}; classes are {self.classes}") from None

    def label_matrix(self) -> np.ndarray:
        """Multi-hot labels, ``(n_clips, n_classes)`` float32."""
        Y = np.zeros((len(self.records), len(self.classes)), dtype=np.float32)
        for i, r in enumerate(self.records):
            for lab in r.labels:
                Y[i, self._class_index[lab]] = 1.0
        return Y

    def targets(self) -> np.ndarray:
        """Integer class index per clip, ``(n_clips,)`` (multi-class datasets only)."""
        if self.multilabel:
            raise ParameterError(f"{self.name} is multi-label; use label_matrix()")
        return np.array([self._class_index[r.label] for r in self.records], dtype=np.int64)

    def class_counts(self) -> pd.DataFrame:
        """Clips per class (rows, in class order) and split (columns), with a total column."""
        Y = self.label_matrix()
        splits = np.array([r.split for r in self.records])
        table = {s: Y[splits == s].sum(axis=0).astype(int) for s in SPLITS}
        df = pd.DataFrame(table, index=pd.Index(self.classes, name="class"))
        df["total"] = df.sum(axis=1)
        return df

    def to_frame(self) -> pd.DataFrame:
        """One row per record: uid, split, labels, path and metadata columns."""
        rows = []
        for r in self.records:
            row = {"uid": r.uid, "split": r.split, "labels": ";".join(r.labels), "path": r.path}
            row.update(r.metadata)
            rows.append(row)
        return pd.DataFrame(rows)

    # -- audio -------------------------------------------------------------------------------
    def load(self, item: int | Record, preset: str | Preset = "cpu", *, normalize: bool = True) -> np.ndarray:
        """Waveform of a record at the preset's sample rate, padded/cropped to ``duration``.

        Returns
        -------
        y : np.ndarray [shape=(preset.n_samples(duration),), dtype=float32]
        """
        return self._read(self._record(item), get_preset(preset), normalize)

    def _record(self, item: int | Record) -> Record:
        return self.records[item] if isinstance(item, (int, np.integer)) else item

    def _read(self, r: Record, p: Preset, normalize: bool = True) -> np.ndarray:
        """One record's waveform at the resolved preset ``p`` (:meth:`load`; :meth:`load_batch` per clip)."""
        if r.path is not None:
            return load_audio(r.path, sr=p.sr, duration=self.duration, normalize=normalize)
        import librosa  # local: only needed for in-memory records

        y = np.asarray(r.waveform, dtype=np.float32)
        validate_waveform(y, name=f"{self.name}:{r.uid}")
        if y.ndim > 1:
            y = y.mean(axis=0)
        if r.sr != p.sr:
            y = librosa.resample(y, orig_sr=r.sr, target_sr=p.sr, res_type="soxr_hq")
        y = fix_duration(y, p.n_samples(self.duration))
        return (peak_normalize(y) if normalize else y).astype(np.float32)

    def load_batch(self, items: Sequence[int | Record] | None = None, preset: str | Preset = "cpu", *,
                   progress: bool = False) -> np.ndarray:
        """Waveforms of several records stacked, ``(n_items, n_samples)`` float32 (all by default), each as
        :meth:`load` reads it (the preset resolved once for the batch)."""
        p = get_preset(preset)
        items = range(len(self)) if items is None else items
        if progress:
            from tqdm.auto import tqdm

            items = tqdm(items, desc=f"loading {self.name}", unit="clip")
        return np.stack([self._read(self._record(i), p) for i in items]) if len(self) else np.zeros((0, 0), np.float32)

    def load_stems(self, item: int | Record, preset: str | Preset = "cpu") -> dict[str, np.ndarray]:
        """Per-class stems of a mixture at the preset's rate, *not* normalised (they sum to the mix)."""
        r = self._record(item)
        if not r.stems:
            raise AudioError(f"{self.name}:{r.uid}: no stems are known for this clip")
        p = get_preset(preset)
        return {
            c: load_audio(path, sr=p.sr, duration=self.duration, normalize=False, allow_silence=True)
            for c, path in r.stems.items()
        }

    def replace_records(self, records: Sequence[Record], **changes) -> AudioDataset:
        """A copy with other records (and optionally other constructor arguments)."""
        kw = dict(
            name=self.name,
            classes=self.classes,
            multilabel=self.multilabel,
            duration=self.duration,
            root=self.root,
            protocol=self.protocol,
            licence=self.licence,
            dropped=self.dropped,
        )
        unknown = set(changes) - set(kw)
        if unknown:
            raise ParameterError(f"replace_records: unknown argument(s) {sorted(unknown)}")
        kw.update(changes)
        return AudioDataset(kw.pop("name"), records, kw.pop("classes"), **kw)
