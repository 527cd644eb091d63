"""Synthetic trees in the SONYC-UST v2 layout, at any size, for scale tests of the ``sonyc`` path.

:func:`write_sonyc_tree` writes ``n_clips`` 10 s scenes mixed from real ESC clips by the ``urbanmix``
mixer (:mod:`l2i_core.data.mixtures`: the same source split, clip cache and scene drawing, and its
ESC → SONYC-UST coarse / fine class maps), with annotation rows shaped like the real file's, so that
:func:`l2i_core.data.sonyc.load_sonyc` (and ``load_dataset("sonyc", data_dir=...)``) reads it as it
reads SONYC-UST v2::

    <out_dir>/annotations.csv      the 78 v2 columns, one row per (clip, annotator)
    <out_dir>/audio/<sensor>_<index>.wav   10 s, mono, 16-bit PCM, ``sr`` Hz (44.1 kHz by default)
    <out_dir>/sonyc_synth.json     parameters and every clip's truth (labels, events, rows); written last

Splits in SONYC-UST v2's proportions (train 13,538 / validate 4,308 / test 664 of 18,510 clips), at
least ``min_per_split`` clips each, written in the real file's order (test, train, validate blocks,
each sorted by file name). Rows per clip, as in the real file (team rows, then the verified row,
then the volunteers, i.e. by ascending ``annotator_id``):

* 3 volunteer rows (``annotator_id > 0``): the truth with label noise drawn from the seed (a present
  class missed with probability ``miss_rate``, an absent one marked with ``false_alarm_rate``);
* a verified row (``annotator_id = 0``) equal to the truth, on every validate and test clip (a
  share ``validate_verified_share`` of validate, to mimic v2's 538 of 4,308) and on a share
  ``train_verified_share`` of the train clips (v2: 178 of 13,538);
* on a share ``team_share`` of the verified clips, 2 SONYC team rows (``annotator_id < 0``) that
  split the 8 coarse groups between them: the truth on their groups, -1 on the others.

``machinery-impact`` and ``music`` have no ESC source: they are never true (volunteers may still
mark them by mistake). Scenes are drawn from a clip's own split of the source clips (split by ESC
``src_file``, as ``urbanmix``), so no recording is heard in two splits. Clip ``i`` depends only on
``seed`` and ``i``; clips are written one by one (memory holds the source clips, not the tree).

Run from a shell: ``python -m l2i_core.data.sonyc_synth OUT N [--seed S] [--source esc10]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

import l2i_core.data.mixtures as mixtures
from l2i_core._errors import ParameterError
from l2i_core._version import __version__
from l2i_core.data.records import SPLITS
from l2i_core.data.sonyc import (
    ANNOTATION_COLUMNS,
    COARSE_CLASSES,
    COARSE_COLUMNS,
    FINE_CLASSES,
    FINE_COLUMNS,
    FINE_PROXIMITY_COLUMNS,
)

__all__ = ["write_sonyc_tree", "SONYC_V2_SPLIT_SIZES", "SYNTH_SIDECAR"]

#: Clips per split in SONYC-UST v2 (l2i split names).
SONYC_V2_SPLIT_SIZES: dict[str, int] = {"train": 13_538, "validation": 4_308, "test": 664}
#: JSON sidecar of a tree; written last, so a tree without it is incomplete.
SYNTH_SIDECAR = "sonyc_synth.json"

_CSV_SPLIT = {"train": "train", "validation": "validate", "test": "test"}
_FILE_ORDER = ("test", "train", "validation")  # block order of the v2 annotations.csv
_INCOMPLETE = ".sonyc_synth_incomplete"
_GROUP_FINE = {g: [f for f in FINE_CLASSES if f.startswith(f"{g}-")] for g in range(1, 9)}
_FINE_INDEX = {f: i for i, f in enumerate(FINE_CLASSES)}


def _split_sizes(n_clips: int, min_per_split: int) -> dict[str, int]:
    """Clips per split in v2's proportions, at least ``min_per_split`` each."""
    total = sum(SONYC_V2_SPLIT_SIZES.values())
    out = {s: max(min_per_split, round(n_clips * SONYC_V2_SPLIT_SIZES[s] / total)) for s in ("validation", "test")}
    out["train"] = n_clips - out["validation"] - out["test"]
    if out["train"] < min_per_split:
        raise ParameterError(
            f"n_clips={n_clips} is too few for {min_per_split} clip(s) per split; give at least {3 * min_per_split}")
    return {s: out[s] for s in SPLITS}


def _check_args(n_clips, seed, min_per_split, sr, duration, rates) -> None:
    for name, v, lo in (("n_clips", n_clips, 3), ("seed", seed, 0), ("min_per_split", min_per_split, 1),
                        ("sr", sr, 1000)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
            raise ParameterError(f"{name} must be an integer >= {lo}, got {v!r}")
    if not (isinstance(duration, (int, float)) and np.isfinite(duration) and duration > 0):
        raise ParameterError(f"duration must be a positive number of seconds, got {duration!r}")
    for name, v in rates.items():
        if not (isinstance(v, (int, float)) and 0 <= v <= 1):
            raise ParameterError(f"{name} must be a probability in [0, 1], got {v!r}")


def _row(meta: dict, annotator_id: int, coarse: np.ndarray, fine: np.ndarray, rng: np.random.Generator) -> list:
    """One CSV row: ``coarse`` (8,) and ``fine`` (29,) hold 1, 0 or -1."""
    proximity = np.where(fine == 1, rng.choice(["near", "far", "notsure"], len(fine)), "-1")
    row = dict(meta, annotator_id=int(annotator_id))
    row.update(zip(FINE_COLUMNS, fine.tolist()))
    row.update(zip(FINE_PROXIMITY_COLUMNS, proximity.tolist()))
    row.update(zip(COARSE_COLUMNS, coarse.tolist()))
    return [row[c] for c in ANNOTATION_COLUMNS]


def _fine_of(coarse: np.ndarray, true_fine: dict[int, set[str]]) -> np.ndarray:
    """Fine presence consistent with ``coarse``: -1 / 0 copied to the group, a 1 on the true fine class(es)
    of the group, or on its last ("X", uncertain) fine class for a class marked by mistake."""
    fine = np.zeros(len(FINE_CLASSES), int)
    for g in range(1, 9):
        idx = [_FINE_INDEX[f] for f in _GROUP_FINE[g]]
        v = int(coarse[g - 1])
        if v == 1:
            for f in true_fine.get(g) or {_GROUP_FINE[g][-1]}:
                fine[_FINE_INDEX[f]] = 1
        else:
            fine[idx] = v
    return fine


def _annotation_rows(rng: np.random.Generator, truth: np.ndarray, true_fine: dict[int, set[str]], meta: dict,
                     *, verified: bool, team: bool, miss_rate: float, false_alarm_rate: float) -> list[list]:
    rows = []
    if team:  # two SONYC team members, each labelling some coarse groups (-1 on the others)
        mine = rng.permutation(8) < int(rng.integers(1, 8))
        for k, groups in enumerate((mine, ~mine)):
            coarse = np.where(groups, truth, -1)
            rows.append(_row(meta, -3 + 2 * k - int(rng.integers(2)), coarse, _fine_of(coarse, true_fine), rng))
    if verified:
        rows.append(_row(meta, 0, truth, _fine_of(truth, true_fine), rng))
    ids = np.sort(rng.choice(np.arange(1, 10_000), size=3, replace=False))
    for vid in ids:
        flip = np.where(truth == 1, rng.random(8) < miss_rate, rng.random(8) < false_alarm_rate)
        coarse = np.where(flip, 1 - truth, truth)
        rows.append(_row(meta, int(vid), coarse, _fine_of(coarse, true_fine), rng))
    return rows


def write_sonyc_tree(
    out_dir: str | os.PathLike,
    n_clips: int,
    *,
    seed: int = 0,
    source: str | Sequence[str] | None = None,
    data_dir: str | os.PathLike | None = None,
    sr: int = 44_100,
    duration: float = 10.0,
    min_per_split: int = 2,
    max_events: int = 3,
    background_db: float | None = -12.0,
    event_gain_db: float = 6.0,
    miss_rate: float = 0.2,
    false_alarm_rate: float = 0.02,
    train_verified_share: float = 178 / 13_538,
    validate_verified_share: float = 1.0,
    team_share: float = 0.9,
    progress: bool = True,
) -> Path:
    """Write a SONYC-UST-layout tree of ``n_clips`` scenes mixed from real ESC clips (see the module notes).

    Parameters
    ----------
    out_dir : path
        Folder to write; created if needed. It must be empty or hold a previous tree (replaced).
    n_clips : int
        Clips in all (at least ``3 * min_per_split``), split in SONYC-UST v2's proportions.
    seed : int
        Seeds everything: the split of the source clips, every scene and every annotation row.
    source : str, list of str or None
        ESC datasets to mix from: ``'esc50-fold4'``, ``'esc10'``, ``'esc50'``, or a list of them.
        ``None``: ``esc50`` when found, else ``esc50-fold4`` and ``esc10`` together (as urbanmix).
    data_dir : path or None
        Where the ESC data is (``$L2I_DATA`` then the user cache by default).
    sr : int
        Sample rate of the written 16-bit WAVs in Hz (l2i resamples on loading, to the preset's rate).
    duration : float
        Clip length in seconds.
    min_per_split : int
        Fewest clips of each split.
    max_events, background_db, event_gain_db
        As :func:`l2i_core.data.mixtures.build_urbanmix`: 1 to ``max_events`` events of different
        classes per scene, a looped background ``background_db`` dB below a 0 dB event (``None``: no
        background), event gains uniform in ``±event_gain_db`` dB.
    miss_rate, false_alarm_rate : float
        Label noise of each volunteer row, per class.
    train_verified_share, validate_verified_share : float
        Share of the train / validate clips that get a verified row (every test clip gets one).
    team_share : float
        Share of the verified clips that also get 2 SONYC team rows holding -1.
    progress : bool
        Print the time taken to stderr.

    Returns
    -------
    out_dir : Path
        Load it with ``load_sonyc(out_dir)`` or ``load_dataset("sonyc", data_dir=out_dir)``.

    Raises
    ------
    DataNotFoundError
        No ESC data found.
    ParameterError
        Bad parameters, an ``out_dir`` holding other files, or too few source clips for a split.

    Examples
    --------
    >>> root = write_sonyc_tree("sonyc_synth", 2000, seed=0, source="esc50-fold4")  # doctest: +SKIP
    >>> load_sonyc(root).split_sizes()  # doctest: +SKIP
    {'train': 1463, 'validation': 465, 'test': 72}
    """
    t0 = time.perf_counter()
    rates = {"miss_rate": miss_rate, "false_alarm_rate": false_alarm_rate, "team_share": team_share,
             "train_verified_share": train_verified_share, "validate_verified_share": validate_verified_share}
    _check_args(n_clips, seed, min_per_split, sr, duration, rates)
    sizes = _split_sizes(int(n_clips), int(min_per_split))
    # the urbanmix mixer: its parameter checks, source clips, source split, clip cache and scene drawing
    params = mixtures._params(n_scenes=sizes, duration=duration, sr=sr, seed=seed, max_events=max_events,
                              background_db=background_db, event_gain_db=event_gain_db, sources=source,
                              audio_format="wav")
    srcs, used = mixtures._collect_sources(source, data_dir)
    split_of = mixtures._assign_splits(srcs, params["seed"])
    pools: dict[str, dict] = {s: {} for s in SPLITS}
    for src in srcs:
        pools[split_of[src.uid]].setdefault(src.role, {}).setdefault(src.target, []).append(src)
    event_classes = [c for c in COARSE_CLASSES if any(c == s.role for s in srcs)]
    for role in event_classes + (["background"] if background_db is not None else []):
        lacking = [s for s in SPLITS if not pools[s].get(role)]
        if lacking:
            raise ParameterError(
                f"sonyc_synth: {role!r} has too few source clips to give the {' and '.join(lacking)} split(s) one; "
                "add ESC data (source='esc50', or esc50-fold4 with esc10)")
    if not event_classes or params["max_events"] > len(event_classes):
        raise ParameterError(
            f"max_events={params['max_events']} but the sources give {len(event_classes)} event classes; lower it")

    out_dir = Path(out_dir).expanduser()
    mixtures._prepare_out_dir(out_dir, sidecar=SYNTH_SIDECAR, incomplete=_INCOMPLETE,
                              files=("annotations.csv", "annotations.csv.partial"), folders=("audio",),
                              what="a sonyc_synth tree")
    cache = mixtures._ClipCache(params["sr"])
    n = int(round(params["duration"] * params["sr"]))
    # clip i: its split (by index), then a name "<sensor>_<index>.wav" drawn from the seed
    index_split = [s for s in SPLITS for _ in range(sizes[s])]
    sensors = np.random.default_rng([params["seed"], 29]).integers(0, 62, len(index_split))
    names = [f"{int(sensors[i]):02d}_{i:06d}.wav" for i in range(len(index_split))]
    order = [i for s in _FILE_ORDER for i in sorted((j for j in range(len(index_split)) if index_split[j] == s),
                                                     key=names.__getitem__)]
    clips = []
    partial = out_dir / "annotations.csv.partial"
    with open(partial, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(ANNOTATION_COLUMNS)
        for i in order:
            split = index_split[i]
            rng = np.random.default_rng([params["seed"], 31, i])
            stems, events, background = mixtures._draw_scene(rng, pools[split], event_classes, cache, n, params)
            mixture = sum(stems.values())
            sf.write(out_dir / "audio" / names[i], mixture, params["sr"], subtype="PCM_16")
            truth = np.array([int(any(e["class"] == c for e in events)) for c in COARSE_CLASSES])
            true_fine: dict[int, set[str]] = {}
            for e in events:
                true_fine.setdefault(COARSE_CLASSES.index(e["class"]) + 1, set()).add(mixtures.ESC_TO_FINE[e["target"]])
            share = {"train": train_verified_share, "validation": validate_verified_share, "test": 1.0}[split]
            verified = bool(rng.random() < share)
            team = verified and bool(rng.random() < team_share)
            meta = {
                "split": _CSV_SPLIT[split], "sensor_id": int(sensors[i]), "audio_filename": names[i],
                "borough": int(rng.choice([1, 3, 4])), "block": int(rng.integers(100, 2000)),
                "latitude": round(40.70 + 0.05 * float(rng.random()), 5),
                "longitude": round(-74.00 + 0.05 * float(rng.random()), 5),
                "year": int(rng.integers(2016, 2020)), "week": int(rng.integers(1, 53)),
                "day": int(rng.integers(0, 7)), "hour": int(rng.integers(0, 24)),
            }
            rows = _annotation_rows(rng, truth, true_fine, meta, verified=verified, team=team,
                                    miss_rate=miss_rate, false_alarm_rate=false_alarm_rate)
            writer.writerows(rows)
            clips.append({"audio_filename": names[i], "split": split,
                          "labels": [c for c, t in zip(COARSE_CLASSES, truth) if t], "verified": verified,
                          "team_rows": 2 if team else 0, "events": events, "background": background})
    partial.replace(out_dir / "annotations.csv")
    licences = sorted({u["licence"] for u in used if u["licence"] and u["clips_used"]})
    sidecar = {
        "name": "sonyc_synth",
        "l2i_version": __version__,
        "params": {**params, **rates, "n_clips": int(n_clips), "min_per_split": int(min_per_split),
                   "split_sizes": sizes},
        "licence": ("sonyc_synth: scenes mixed by l2i from real ESC clips; they inherit the licences of their "
                    f"sources: {' '.join(licences)}"),
        "datasets": used,
        "clips": clips,
    }
    (out_dir / SYNTH_SIDECAR).write_text(json.dumps(sidecar, indent=1))
    (out_dir / _INCOMPLETE).unlink()
    if progress:
        print(f"sonyc_synth: wrote {n_clips} clips in {time.perf_counter() - t0:.1f} s into {out_dir}", file=sys.stderr)
    return out_dir


def _main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m l2i_core.data.sonyc_synth",
        description="Write a synthetic tree in the SONYC-UST v2 layout, mixed from real ESC clips.")
    p.add_argument("out", help="folder to write (empty, new, or a previous tree)")
    p.add_argument("n", type=int, help="number of clips")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--source", action="append", default=None,
                   help="ESC dataset to mix from (esc50-fold4, esc10, esc50); repeat for several; default: auto")
    p.add_argument("--data-dir", default=None, help="where the ESC data is (default $L2I_DATA, then the cache)")
    args = p.parse_args(argv)
    write_sonyc_tree(args.out, args.n, seed=args.seed, source=args.source, data_dir=args.data_dir)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main())
