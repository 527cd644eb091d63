"""``urbanmix``: multi-label urban scenes mixed from real ESC clips, with their true stems.

Each scene is ``duration`` seconds (10 s, as SONYC-UST) of one looped background clip (rain, wind or
sea waves) plus 1 to ``max_events`` events of different SONYC-UST coarse classes, each a real
ESC-50 / ESC-10 clip placed at a random onset with a random gain. Because the scenes are built, the
per-class stems are known exactly, so an interpretation can be scored against the true source.

Layout (the SONYC-UST v2 layout, read by :func:`l2i_core.data.sonyc.load_sonyc`)::

    <out_dir>/annotations.csv                 one row per scene, SONYC-UST v2 columns
    <out_dir>/audio/<uid>.wav                 the mixture (32-bit float WAV)
    <out_dir>/stems/<uid>/<coarse class>.wav  one stem per class present (e.g. ``dog.wav``)
    <out_dir>/stems/<uid>/background.wav      the background
    <out_dir>/urbanmix.json                   build parameters, source clips and their split,
                                              every scene's events, the l2i version; written last

The stems of a scene sum *exactly* to its mixture: every stem is rounded to the 24-bit grid
(multiples of 2**-23) and the mixture is their sum, which float32 WAV (and 24-bit FLAC, with
``audio_format='flac'``) store without error. Mixture and stems are scaled by one common factor so
that no file peaks above 0.9.

Labels. In ``annotations.csv`` a scene's coarse presence columns are 1 exactly for the classes of its
events, and the fine column of each event's ESC class (e.g. ``5-3_siren_presence``) is 1. Train
scenes carry one volunteer row (``annotator_id=1``), validation and test scenes one verified row
(``annotator_id=0``, split ``validate`` / ``test``), so :func:`load_sonyc` gives the same labels for
every split. ``machinery-impact`` and ``music`` have no ESC source and are always 0.

Split. Source clips are assigned to train / validation / test before any scene is drawn, per ESC
class, grouped by ``src_file`` (the takes of one recording stay together), about 60/20/20, from
``seed``; a scene only uses clips of its own split.

Mapping ESC-50 target → SONYC-UST coarse class: engine ← engine (44), helicopter (40), train (45),
airplane (47); non-machinery-impact ← door_wood_knock (30), glass_breaking (39); powered-saw ←
chainsaw (41); alert-signal ← siren (42), car_horn (43), church_bells (46), clock_alarm (37);
human-voice ← crying_baby (20), sneezing (21), coughing (24), laughing (26); dog ← dog (0).
Backgrounds: rain (10), sea_waves (11), wind (16).

Where builds live (:func:`load_urbanmix`): with ``data_dir`` the build is that folder (rebuilt in
place, with a warning, when its ``urbanmix.json`` holds other parameters). Without it, a build with
the requested parameters is looked for in ``$L2I_DATA/urbanmix``, ``$L2I_DATA/urbanmix/<key>``,
``<cache>/urbanmix`` and ``<cache>/urbanmix/<key>``, and a new one is written to
``<cache>/urbanmix/<key>``, where ``<key>`` (e.g. ``seed0-n360-1a2b3c4d``) is derived from the
parameters: builds with other parameters sit side by side and are never overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm.auto import tqdm

from l2i_core._errors import AudioError, DataNotFoundError, ParameterError
from l2i_core._version import __version__
from l2i_core.audio.waveform import load_audio
from l2i_core.data.esc50 import ESC_NAMES, load_esc_dataset
from l2i_core.data.records import SPLITS, AudioDataset
from l2i_core.data.registry import cache_dir
from l2i_core.data.sonyc import ANNOTATION_COLUMNS, COARSE_CLASSES, COARSE_COLUMNS, FINE_COLUMNS, load_sonyc

__all__ = [
    "build_urbanmix",
    "load_urbanmix",
    "ESC_TO_COARSE",
    "ESC_TO_FINE",
    "BACKGROUND_TARGETS",
    "DEFAULT_N_SCENES",
    "SIDECAR",
]

#: ESC-50 target id → SONYC-UST coarse class.
ESC_TO_COARSE: dict[int, str] = {
    44: "engine", 40: "engine", 45: "engine", 47: "engine",
    30: "non-machinery-impact", 39: "non-machinery-impact",
    41: "powered-saw",
    42: "alert-signal", 43: "alert-signal", 46: "alert-signal", 37: "alert-signal",
    20: "human-voice", 21: "human-voice", 24: "human-voice", 26: "human-voice",
    0: "dog",
}
#: ESC-50 target id → SONYC-UST fine class (column ``<fine>_presence``).
ESC_TO_FINE: dict[int, str] = {
    44: "1-X_engine-of-uncertain-size", 40: "1-X_engine-of-uncertain-size",
    45: "1-X_engine-of-uncertain-size", 47: "1-X_engine-of-uncertain-size",
    30: "3-1_non-machinery-impact", 39: "3-1_non-machinery-impact",
    41: "4-1_chainsaw",
    42: "5-3_siren", 43: "5-1_car-horn",
    46: "5-X_other-unknown-alert-signal", 37: "5-X_other-unknown-alert-signal",
    20: "7-X_other-unknown-human-voice", 21: "7-X_other-unknown-human-voice",
    24: "7-X_other-unknown-human-voice", 26: "7-X_other-unknown-human-voice",
    0: "8-1_dog-barking-whining",
}
#: ESC-50 target ids used as backgrounds: rain, sea_waves, wind.
BACKGROUND_TARGETS: dict[int, str] = {10: "rain", 11: "sea_waves", 16: "wind"}

#: Scenes per split when ``n_scenes`` is not given (an int total is split in the same 4:1:1 ratio).
DEFAULT_N_SCENES: dict[str, int] = {"train": 240, "validation": 60, "test": 60}
#: Name of the JSON sidecar; a folder holding it is a complete build.
SIDECAR = "urbanmix.json"
#: Bump when a change of this module changes the audio or labels of a build with the same parameters.
BUILD_FORMAT = 1

_CSV_SPLIT = {"train": "train", "validation": "validate", "test": "test"}
_INCOMPLETE = ".urbanmix_incomplete"
_PEAK = 0.9  # common peak of the written files
_Q = float(2**23)  # 24-bit grid: stems are multiples of 1/_Q, so they sum exactly
_REF_RMS = 0.05  # level of a 0 dB event before the final scaling (arbitrary: everything is rescaled)
_FORMATS = {"wav": ("WAV", "FLOAT"), "flac": ("FLAC", "PCM_24")}
_SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile command (sndfile.h)
_AUTO_ORDER = ("esc50-fold4", "esc10")  # on duplicates the first wins (FLAC of ESC-50 over ESC-10's OGG)


# -- sources -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Source:
    uid: str
    path: Path
    target: int
    category: str
    src_file: str
    role: str  # a coarse class, or "background"
    dataset: str


def _collect_sources(sources, data_dir) -> tuple[list[_Source], list[dict]]:
    """Load the ESC datasets and keep the clips of the mapped classes, deduplicated by file stem."""
    wanted = set(ESC_TO_COARSE) | set(BACKGROUND_TARGETS)
    datasets: list[AudioDataset] = []
    if sources is None:
        try:
            datasets = [load_esc_dataset("esc50", data_dir=data_dir)]
        except DataNotFoundError as err:
            for name in _AUTO_ORDER:
                try:
                    datasets.append(load_esc_dataset(name, data_dir=data_dir))
                except DataNotFoundError:
                    pass
            if not datasets:
                raise DataNotFoundError(
                    f"urbanmix needs real ESC clips (esc50, or esc10 and/or esc50-fold4) to mix scenes from "
                    f"and found none: {err}"
                ) from None
    else:
        for s in [sources] if isinstance(sources, (str, AudioDataset)) else list(sources):
            if isinstance(s, AudioDataset):
                datasets.append(s)
            elif isinstance(s, str) and s in ESC_NAMES:
                try:
                    datasets.append(load_esc_dataset(s, data_dir=data_dir))
                except DataNotFoundError as err:
                    raise DataNotFoundError(f"urbanmix needs real ESC clips: {err}") from None
            else:
                raise ParameterError(
                    f"urbanmix sources must be 'esc50', 'esc10', 'esc50-fold4' or ESC-layout AudioDatasets, got {s!r}"
                )
    out: dict[str, _Source] = {}
    used = []
    for ds in datasets:
        n_before = len(out)
        for r in ds:
            if r.path is None or "target" not in r.metadata or "src_file" not in r.metadata:
                raise ParameterError(
                    f"urbanmix source {ds.name!r}: record {r.uid!r} lacks a file or ESC metadata (target, src_file); "
                    "pass datasets loaded in the ESC-50 layout"
                )
            t = int(r.metadata["target"])
            if t not in wanted or r.uid in out:
                continue
            role = ESC_TO_COARSE.get(t, "background")
            out[r.uid] = _Source(r.uid, Path(r.path), t, r.labels[0], str(r.metadata["src_file"]), role, ds.name)
        used.append({"name": ds.name, "root": str(ds.root) if ds.root else None, "licence": ds.licence,
                     "clips_used": len(out) - n_before})
    if not out:
        names = ", ".join(d.name for d in datasets)
        raise DataNotFoundError(
            f"urbanmix: {names} hold no clip of the urban classes (ESC-50 targets {sorted(wanted)}); "
            "urbanmix needs ESC-50 or ESC-10 clips"
        )
    return sorted(out.values(), key=lambda s: s.uid), used


def _assign_splits(srcs: Sequence[_Source], seed: int) -> dict[str, str]:
    """Source uid → split: per ESC class, whole ``src_file`` groups dealt about 60/20/20 from ``seed``."""
    rng = np.random.default_rng([seed, 7])
    group_split: dict[str, str] = {}
    for target in sorted({s.target for s in srcs}):
        groups = sorted({s.src_file for s in srcs if s.target == target} - set(group_split))
        groups = [groups[i] for i in rng.permutation(len(groups))]
        n = len(groups)
        n_hold = max(1, round(0.2 * n)) if n >= 3 else 0
        for i, g in enumerate(groups):
            group_split[g] = "test" if i < n_hold else "validation" if i < 2 * n_hold else "train"
    return {s.uid: group_split[s.src_file] for s in srcs}


# -- signal helpers ----------------------------------------------------------------------------
def _frame_rms(y: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """RMS of the full frames of ``y`` (no padding), ``(n_frames,)``; one value if ``y`` is shorter."""
    if len(y) <= frame:
        return np.array([np.sqrt(np.mean(y**2))])
    frames = np.lib.stride_tricks.sliding_window_view(y, frame)[::hop]
    return np.sqrt(np.mean(frames**2, axis=-1))


def _trim(y: np.ndarray, *, top_db: float = 60.0, frame: int = 512, hop: int = 128) -> np.ndarray:
    """Drop leading and trailing frames more than ``top_db`` below the loudest (as librosa.effects.trim)."""
    rms = _frame_rms(y, frame, hop)
    loud = np.flatnonzero(rms > rms.max() * 10 ** (-top_db / 20))
    if len(loud) == 0 or len(y) <= frame:
        return y
    end = len(y) if loud[-1] == len(rms) - 1 else loud[-1] * hop + frame
    return y[loud[0] * hop:end]


def _loud_rms(y: np.ndarray, sr: int) -> float:
    """Level of the loud part of a clip: the 90th percentile of its 50 ms frame RMS values."""
    frame = max(16, int(0.05 * sr))
    return float(np.percentile(_frame_rms(y, frame, frame // 2), 90))


def _loop(y: np.ndarray, n: int, offset: int, sr: int) -> np.ndarray:
    """``n`` samples of ``y`` repeated with 50 ms equal-power crossfades, starting at ``offset``."""
    need = n + offset
    if len(y) >= need:
        return y[offset:need]
    xf = min(int(0.05 * sr), len(y) // 4)
    t = np.linspace(0.0, np.pi / 2, xf, endpoint=False) if xf else np.zeros(0)
    fade_in, fade_out = np.sin(t), np.cos(t)
    parts, total = [y], len(y)
    while total < need:
        prev = parts[-1]
        if xf:
            parts[-1] = prev[:-xf]
            parts.append(prev[-xf:] * fade_out + y[:xf] * fade_in)
            parts.append(y[xf:])
            total += len(y) - xf
        else:
            parts.append(y)
            total += len(y)
    return np.concatenate(parts)[offset:need]


class _ClipCache:
    """Each source clip loaded once: resampled, peak-normalised, silence-trimmed, with its level."""

    def __init__(self, sr: int):
        self.sr = sr
        self._clips: dict[str, tuple[np.ndarray, float]] = {}

    def get(self, src: _Source) -> tuple[np.ndarray, float]:
        if src.uid not in self._clips:
            y = load_audio(src.path, sr=self.sr, normalize=True).astype(np.float64)
            # ESC clips are padded with digital silence: keep the sounding part (60 dB below the peak)
            y = _trim(y, top_db=60.0)
            level = _loud_rms(y, self.sr) if src.role != "background" else float(np.sqrt(np.mean(y**2)))
            if level <= 0:
                raise AudioError(f"{src.path}: silent after trimming; remove it from the ESC metadata")
            self._clips[src.uid] = (y.astype(np.float32), level)  # float32 halves the cache; mixing is float64
        return self._clips[src.uid]


# -- parameters --------------------------------------------------------------------------------
def _normalise_n_scenes(n_scenes) -> dict[str, int]:
    if n_scenes is None:
        return dict(DEFAULT_N_SCENES)
    if isinstance(n_scenes, (int, np.integer)) and not isinstance(n_scenes, bool):
        n = int(n_scenes)
        if n < 3:
            raise ParameterError(f"n_scenes={n}: give at least 3 scenes (one per split) or a dict per split")
        hold = max(1, round(n / 6))
        return {"train": n - 2 * hold, "validation": hold, "test": hold}
    if isinstance(n_scenes, Mapping):
        alias = {"validate": "validation"}
        out = {s: 0 for s in SPLITS}
        for k, v in n_scenes.items():
            k = alias.get(k, k)
            if k not in out:
                raise ParameterError(f"n_scenes has unknown split {k!r}; use {SPLITS}")
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ParameterError(f"n_scenes[{k!r}]={v!r}; give a non-negative integer")
            out[k] = int(v)
        if sum(out.values()) == 0:
            raise ParameterError("n_scenes asks for no scene at all; give at least one")
        return out
    raise ParameterError(f"n_scenes must be an int (total) or a dict split -> count, got {n_scenes!r}")


def _describe_sources(sources) -> object:
    if sources is None:
        return "auto"
    items = [sources] if isinstance(sources, (str, AudioDataset)) else list(sources)
    return [s if isinstance(s, str) else f"{s.name}:{s.root}:{len(s)}" for s in items]


def _params(*, n_scenes, duration, sr, seed, max_events, background_db, event_gain_db, sources,
            audio_format) -> dict:
    """Validated build parameters, in the JSON form stored in (and compared with) the sidecar."""
    n = _normalise_n_scenes(n_scenes)
    if not (isinstance(duration, (int, float)) and np.isfinite(duration) and duration > 0):
        raise ParameterError(f"duration must be a positive number of seconds, got {duration!r}")
    if not isinstance(sr, (int, np.integer)) or isinstance(sr, bool) or sr < 1000:
        raise ParameterError(f"sr must be an integer sample rate >= 1000 Hz, got {sr!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ParameterError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(max_events, (int, np.integer)) or isinstance(max_events, bool) or max_events < 1:
        raise ParameterError(f"max_events must be an integer >= 1, got {max_events!r}")
    if background_db is not None and not (isinstance(background_db, (int, float)) and np.isfinite(background_db)):
        raise ParameterError(f"background_db must be a finite level in dB, or None for no background, got {background_db!r}")
    if not (isinstance(event_gain_db, (int, float)) and 0 <= event_gain_db < 60):
        raise ParameterError(f"event_gain_db must be in [0, 60) dB, got {event_gain_db!r}")
    if audio_format not in _FORMATS:
        raise ParameterError(f"audio_format must be one of {sorted(_FORMATS)}, got {audio_format!r}")
    return {
        "build_format": BUILD_FORMAT,
        "n_scenes": n,
        "duration": float(duration),
        "sr": int(sr),
        "seed": int(seed),
        "max_events": int(max_events),
        "background_db": None if background_db is None else float(background_db),
        "event_gain_db": float(event_gain_db),
        "sources": _describe_sources(sources),
        "audio_format": audio_format,
    }


def _key(params: dict) -> str:
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return f"seed{params['seed']}-n{sum(params['n_scenes'].values())}-{digest}"


def _read_sidecar(folder: Path) -> dict | None:
    p = Path(folder) / SIDECAR
    if not p.is_file() or (Path(folder) / _INCOMPLETE).exists():
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def _param_diff(old: dict, new: dict) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


# -- builder -----------------------------------------------------------------------------------
def _prepare_out_dir(out_dir: Path, *, sidecar: str = SIDECAR, incomplete: str = _INCOMPLETE,
                     files: Sequence[str] = ("annotations.csv",), folders: Sequence[str] = ("audio", "stems"),
                     what: str = "an urbanmix build") -> None:
    """Make ``out_dir`` empty of any previous build; refuse to touch a folder holding other things.

    A previous build is a folder with ``sidecar`` (finished) or ``incomplete`` (interrupted) and
    nothing but ``files`` and ``folders`` beside them. ``incomplete`` is marked until the build
    finishes; ``folders`` come back empty. Shared by urbanmix and :mod:`l2i_core.data.sonyc_synth`.
    """
    ours = {*files, *folders, sidecar, incomplete}
    if out_dir.exists():
        if not out_dir.is_dir():
            raise ParameterError(f"out_dir={out_dir} is a file; give a folder for {what}")
        present = {p.name for p in out_dir.iterdir()}
        is_build = (out_dir / sidecar).exists() or (out_dir / incomplete).exists()
        if present and (not is_build or present - ours):
            raise ParameterError(
                f"out_dir={out_dir} is not empty and does not hold {what} "
                f"(found {sorted(present)[:3]}); give an empty or new folder"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / incomplete).touch()
    for name in (sidecar, *files):
        (out_dir / name).unlink(missing_ok=True)
    for sub in folders:
        if (out_dir / sub).exists():
            shutil.rmtree(out_dir / sub)
        (out_dir / sub).mkdir()


def _write(path: Path, y_grid: np.ndarray, sr: int, audio_format: str) -> None:
    """Write a signal that lies on the 24-bit grid without any rounding."""
    fmt, subtype = _FORMATS[audio_format]
    if subtype == "PCM_24":
        data = np.round(y_grid * _Q).astype(np.int32) << 8  # libsndfile keeps the top 24 bits
    else:
        data = y_grid.astype(np.float32)
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=1, format=fmt, subtype=subtype) as f:
        try:  # float WAV gets a PEAK chunk with a time stamp: leave it out so a rebuild is byte-identical
            sf._snd.sf_command(f._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
        except AttributeError:  # pragma: no cover - soundfile internals moved; only the header differs
            pass
        f.write(data)


def _annotation_row(uid_file: str, split: str, targets: Sequence[int], classes: Sequence[str]) -> dict:
    row: dict = dict.fromkeys(ANNOTATION_COLUMNS, -1)  # proximity columns stay -1 (not annotated)
    row.update(
        split=_CSV_SPLIT[split], sensor_id=0, audio_filename=uid_file,
        annotator_id=1 if split == "train" else 0,  # train: one volunteer row; else the verified row
        borough=0, block=0, latitude=0.0, longitude=0.0, year=2026, week=0, day=0, hour=0,
    )
    row.update(dict.fromkeys(FINE_COLUMNS, 0))
    row.update(dict.fromkeys(COARSE_COLUMNS, 0))
    for t in targets:
        row[f"{ESC_TO_FINE[t]}_presence"] = 1
    for c, col in zip(COARSE_CLASSES, COARSE_COLUMNS):
        if c in classes:
            row[col] = 1
    return row


def _draw_scene(rng: np.random.Generator, pool: dict, event_classes: Sequence[str], cache: _ClipCache, n: int,
                params: dict) -> tuple[dict[str, np.ndarray], list[dict], dict | None]:
    """Draw one scene from one split's ``pool``: its stems on the 24-bit grid, its events, its background."""
    sr = params["sr"]
    k = int(rng.integers(1, params["max_events"] + 1))
    stems: dict[str, np.ndarray] = {}
    events = []
    for ci in sorted(rng.choice(len(event_classes), size=k, replace=False).tolist()):
        c = event_classes[ci]
        by_target = pool[c]  # an ESC class of this coarse class, then one of its clips
        target = sorted(by_target)[int(rng.integers(len(by_target)))]
        src = by_target[target][int(rng.integers(len(by_target[target])))]
        y, level = cache.get(src)
        gain_db = float(rng.uniform(-params["event_gain_db"], params["event_gain_db"]))
        start = int(rng.integers(0, len(y) - n + 1)) if len(y) > n else 0
        seg = y[start:start + n]
        onset = int(rng.integers(0, n - len(seg) + 1))
        stems[c] = np.zeros(n)
        stems[c][onset:onset + len(seg)] = seg * (_REF_RMS * 10 ** (gain_db / 20) / level)
        events.append({"class": c, "clip": src.uid, "target": src.target, "category": src.category,
                       "src_file": src.src_file, "onset_s": onset / sr, "offset_s": (onset + len(seg)) / sr,
                       "gain_db": round(gain_db, 6)})
    background = None
    if params["background_db"] is not None:
        by_target = pool["background"]
        target = sorted(by_target)[int(rng.integers(len(by_target)))]
        src = by_target[target][int(rng.integers(len(by_target[target])))]
        y, level = cache.get(src)
        bg = _loop(y, n, int(rng.integers(len(y))), sr)
        stems["background"] = bg.astype(np.float64) * (_REF_RMS * 10 ** (params["background_db"] / 20) / level)
        background = {"clip": src.uid, "category": src.category, "src_file": src.src_file}
    # one common scale for all stems (so they still sum to the mix, and nothing peaks above _PEAK),
    # then the 24-bit grid, on which the sum of the stems is exact
    peak = max(np.abs(sum(stems.values())).max(), max(np.abs(s).max() for s in stems.values()))
    scale = _PEAK / peak
    return {name: np.round(s * scale * _Q) / _Q for name, s in stems.items()}, events, background


def build_urbanmix(
    out_dir: str | os.PathLike,
    *,
    n_scenes: int | Mapping[str, int] | None = None,
    duration: float = 10.0,
    sr: int = 22_050,
    seed: int = 0,
    max_events: int = 3,
    background_db: float | None = -12.0,
    event_gain_db: float = 6.0,
    sources: str | AudioDataset | Sequence[str | AudioDataset] | None = None,
    data_dir: str | os.PathLike | None = None,
    audio_format: str = "wav",
    progress: bool = True,
) -> Path:
    """Build the ``urbanmix`` scenes in the SONYC-UST v2 layout, with stems (see the module notes).

    Parameters
    ----------
    out_dir : path
        Folder to write; created if needed. It must be empty or hold a previous urbanmix build
        (which is replaced).
    n_scenes : int, dict or None
        Scenes per split, ``{"train": 240, "validation": 60, "test": 60}`` by default; an int is a
        total split 4:1:1.
    duration : float
        Scene length in seconds.
    sr : int
        Sample rate of the written files in Hz.
    seed : int
        Seeds everything: the split of the source clips and every scene (scene ``i`` of a split
        depends only on ``seed``, the split and ``i``, so more scenes extend a build).
    max_events : int
        Each scene gets between 1 and ``max_events`` events, of as many different classes.
    background_db : float or None
        Background level in dB relative to a 0 dB event (events are levelled by the RMS of their
        loud part, the background by its RMS). ``None``: no background.
    event_gain_db : float
        Events get a gain drawn uniformly in ``[-event_gain_db, +event_gain_db]`` dB.
    sources : None, str, AudioDataset or list of them
        ESC-layout datasets to draw clips from. ``None``: ``esc50`` when found, else the union of
        ``esc50-fold4`` and ``esc10`` (same file stem = same recording, taken once).
    data_dir : path or None
        Where to look for the ESC data (as ``load_dataset``'s ``data_dir``); default
        ``$L2I_DATA`` then the user cache.
    audio_format : {'wav', 'flac'}
        ``'wav'``: 32-bit float WAV (the SONYC convention of ``.wav`` files). ``'flac'``: 24-bit
        FLAC, about 3x smaller on disk. Both hold the stems and mixture exactly.
    progress : bool
        Show a tqdm bar and print the build time.

    Returns
    -------
    out_dir : Path

    Raises
    ------
    DataNotFoundError
        No ESC data was found (urbanmix is mixed from real ESC clips).
    ParameterError
        Bad parameters, an ``out_dir`` holding other files, or too few source clips to give every
        class and the background a clip in every split that has scenes.

    Examples
    --------
    >>> root = build_urbanmix("urbanmix_small", n_scenes=12, seed=0)  # doctest: +SKIP
    >>> from l2i_core.data.sonyc import load_sonyc
    >>> load_sonyc(root, name="urbanmix").split_sizes()  # doctest: +SKIP
    {'train': 8, 'validation': 2, 'test': 2}
    """
    t0 = time.perf_counter()
    params = _params(n_scenes=n_scenes, duration=duration, sr=sr, seed=seed, max_events=max_events,
                     background_db=background_db, event_gain_db=event_gain_db, sources=sources,
                     audio_format=audio_format)
    out_dir = Path(out_dir).expanduser()
    srcs, used = _collect_sources(sources, data_dir)
    split_of = _assign_splits(srcs, params["seed"])

    # pools[split][role][target] -> sources
    pools: dict[str, dict[str, dict[int, list[_Source]]]] = {s: {} for s in SPLITS}
    for src in srcs:
        pools[split_of[src.uid]].setdefault(src.role, {}).setdefault(src.target, []).append(src)
    event_classes = [c for c in COARSE_CLASSES if any(c == s.role for s in srcs)]
    active = [s for s in SPLITS if params["n_scenes"][s] > 0]
    for role in event_classes + (["background"] if background_db is not None else []):
        lacking = [s for s in active if not pools[s].get(role)]
        if lacking:
            n_groups = len({s.src_file for s in srcs if s.role == role})
            raise ParameterError(
                f"urbanmix: {role!r} has too few source clips ({n_groups} src_file group(s)) to give the "
                f"{' and '.join(lacking)} split(s) one; add ESC data (e.g. the full esc50) or drop those splits from n_scenes"
            )
    if not event_classes:
        raise ParameterError("urbanmix: the sources hold no event class, only backgrounds; add ESC-50 or ESC-10 data")
    if params["max_events"] > len(event_classes):
        raise ParameterError(
            f"max_events={params['max_events']} but the sources give only {len(event_classes)} event classes "
            f"({', '.join(event_classes)}); lower max_events"
        )

    _prepare_out_dir(out_dir)
    n = int(round(params["duration"] * params["sr"]))
    cache = _ClipCache(params["sr"])
    ext = "." + audio_format
    rows, scenes = [], []
    total = sum(params["n_scenes"].values())
    bar = tqdm(total=total, desc="urbanmix", unit="scene", disable=not progress)
    for split_idx, split in enumerate(SPLITS):
        for i in range(params["n_scenes"][split]):
            rng = np.random.default_rng([params["seed"], 11, split_idx, i])
            uid = f"urbanmix_{_CSV_SPLIT[split]}_{i:05d}"
            stems, events, background = _draw_scene(rng, pools[split], event_classes, cache, n, params)
            mixture = sum(stems.values())
            _write(out_dir / "audio" / (uid + ext), mixture, params["sr"], audio_format)
            (out_dir / "stems" / uid).mkdir()
            for name, s in stems.items():
                _write(out_dir / "stems" / uid / (name + ext), s, params["sr"], audio_format)
            rows.append(_annotation_row(uid + ext, split, [e["target"] for e in events], [e["class"] for e in events]))
            scenes.append({"uid": uid, "split": split, "labels": [e["class"] for e in events],
                           "events": events, "background": background})
            bar.update()
    bar.close()
    pd.DataFrame(rows, columns=ANNOTATION_COLUMNS).to_csv(out_dir / "annotations.csv", index=False)
    licences = sorted({u["licence"] for u in used if u["licence"] and u["clips_used"]})
    sidecar = {
        "name": "urbanmix",
        "l2i_version": __version__,
        "params": params,
        "key": _key(params),
        "licence": (
            f"urbanmix: scenes mixed by l2i (build_urbanmix, seed {params['seed']}) from real ESC clips; "
            f"the mixtures inherit the licences of their sources: {' '.join(licences)}"
        ),
        "datasets": used,
        "sources": [
            {"uid": s.uid, "dataset": s.dataset, "target": s.target, "category": s.category,
             "src_file": s.src_file, "role": s.role, "split": split_of[s.uid]}
            for s in srcs
        ],
        "scenes": scenes,
    }
    (out_dir / SIDECAR).write_text(json.dumps(sidecar, indent=1))
    (out_dir / _INCOMPLETE).unlink()
    if progress:
        print(f"urbanmix: built {total} scenes in {time.perf_counter() - t0:.1f} s into {out_dir}", file=sys.stderr)
    return out_dir


# -- loader ------------------------------------------------------------------------------------
def load_urbanmix(
    data_dir: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    build: bool = True,
    n_scenes: int | Mapping[str, int] | None = None,
    duration: float = 10.0,
    sr: int = 22_050,
    esc_dir: str | os.PathLike | None = None,
    progress: bool = True,
    **build_kwargs,
) -> AudioDataset:
    """Load (building it first when needed) the ``urbanmix`` dataset: multi-label, with stems.

    Parameters
    ----------
    data_dir : path or None
        The build folder. When given, the build lives exactly there and is (re)built there if it
        is missing or was built with other parameters. When ``None``: ``$L2I_DATA/urbanmix`` and
        the user cache are searched, and a new build goes to ``<cache>/urbanmix/<key>``.
    seed, n_scenes, duration, sr : see :func:`build_urbanmix`
        Parameters of the build; a build is reused only when all of them match its sidecar.
    build : bool
        Build when no matching build is found (about 15 s for the default 360 scenes on a 2-core
        CPU, 1.2 GB as float WAV); ``False`` raises instead.
    esc_dir : path or None
        Where the ESC clips are (``build_urbanmix``'s ``data_dir``); default ``$L2I_DATA``.
    progress : bool
        Progress bar and timing while building.
    **build_kwargs
        Other :func:`build_urbanmix` parameters (``max_events``, ``background_db``,
        ``event_gain_db``, ``sources``, ``audio_format``).

    Returns
    -------
    AudioDataset
        Multi-label over the 8 SONYC-UST coarse classes; each record carries its ``stems`` (the
        classes present and ``background``) and, in ``metadata``, its ``events`` (class, clip,
        onset and offset in seconds, gain) and ``background`` clip.

    Raises
    ------
    DataNotFoundError
        No matching build and ``build=False``, or no ESC data to build from.
    ParameterError
        Bad parameters, or ``data_dir`` holds something other than an urbanmix build.
    """
    unknown = set(build_kwargs) - {"max_events", "background_db", "event_gain_db", "sources", "audio_format"}
    if unknown:
        raise ParameterError(f"load_urbanmix: unknown argument(s) {sorted(unknown)}")
    kw = {"max_events": 3, "background_db": -12.0, "event_gain_db": 6.0, "sources": None, "audio_format": "wav"}
    kw.update(build_kwargs)
    params = _params(n_scenes=n_scenes, duration=duration, sr=sr, seed=seed, **kw)
    key = _key(params)

    root: Path | None = None
    if data_dir is not None:
        target = Path(data_dir).expanduser()
        side = _read_sidecar(target)
        if side is not None and side.get("params") == params:
            root = target
        elif side is not None:
            if not build:
                raise ParameterError(
                    f"{target} holds an urbanmix build with other parameters "
                    f"({'; '.join(_param_diff(side.get('params', {}), params))}); pass build=True to rebuild it"
                )
            warnings.warn(
                f"{target}: rebuilding urbanmix, its build has other parameters "
                f"({'; '.join(_param_diff(side.get('params', {}), params))})",
                stacklevel=2,
            )
        candidates = []
    else:
        target = cache_dir() / "urbanmix" / key
        bases = []
        if os.environ.get("L2I_DATA"):
            bases.append(Path(os.environ["L2I_DATA"]).expanduser() / "urbanmix")
        bases.append(cache_dir() / "urbanmix")
        candidates = [p for b in bases for p in (b, b / key)]
    for cand in candidates:
        side = _read_sidecar(cand)
        if side is not None and side.get("params") == params:
            root = cand
            break
    if root is None:
        if not build:
            where = str(target) if data_dir is not None else ", ".join(map(str, candidates))
            raise DataNotFoundError(
                f"urbanmix: no build with these parameters in {where}; pass build=True or call "
                "l2i_core.data.mixtures.build_urbanmix(out_dir) and load it with data_dir=out_dir"
            )
        root = build_urbanmix(target, **_build_kwargs(params, kw), data_dir=esc_dir, progress=progress)

    side = _read_sidecar(root) or {}
    ds = load_sonyc(root, name="urbanmix", licence=side.get("licence", ""), duration=params["duration"])
    scenes = {s["uid"]: s for s in side.get("scenes", [])}
    for r in ds:
        s = scenes.get(r.uid)
        if s is not None:
            r.metadata.update(events=s["events"], background=s["background"])
    n = params["n_scenes"]
    protocol = (
        f"urbanmix (seed {params['seed']}): {n['train']}/{n['validation']}/{n['test']} train/validation/test "
        f"scenes of {params['duration']:g} s mixed from real ESC clips, the clips split by src_file "
        "(about 60/20/20 per ESC class) so that no recording is heard in two splits; labels and stems are exact"
    )
    return ds.replace_records(ds.records, protocol=protocol)


def _build_kwargs(params: dict, kw: dict) -> dict:
    """The :func:`build_urbanmix` keyword arguments that reproduce ``params``."""
    return {
        "n_scenes": dict(params["n_scenes"]),
        "duration": params["duration"],
        "sr": params["sr"],
        "seed": params["seed"],
        "max_events": params["max_events"],
        "background_db": params["background_db"],
        "event_gain_db": params["event_gain_db"],
        "sources": kw["sources"],
        "audio_format": params["audio_format"],
    }
